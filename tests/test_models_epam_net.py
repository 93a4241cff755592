"""EPAM-Net full network: pose-driven attention (§3.3 Eqs. (2)-(4), §4.3 Eqs. (6)-(7)), two streams, Eq. (5) loss,
score fusion, config validation, Table 4 parameter count."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from actrec.layers.pose_attention import (
    CBAMSpatialTemporalAttention,
    NestingSpatialTemporalAttention,
    time_strided_sampling,
)
from actrec.models.complexity import count_parameters
from actrec.models.epam_net import ATTENTIONS, PAPER_PARAMETERS, STREAMS, TINY, EPAMNet, EPAMNetConfig

K = 5
RGB_SHAPE = (2, 3, 4, 96, 96)  # TINY: 4 frames, 96² → 3 × 3 features
POSE_SHAPE = (2, 17, 12, 24, 24)  # TINY: 12 = 3 · 4 frames, 24² → 3 × 3 features


def _tiny(attention: str = "nesting", **overrides) -> EPAMNet:
    return EPAMNet(EPAMNetConfig(num_classes=K, attention=attention, **{**TINY, **overrides}))


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(RGB_SHAPE, generator=generator), torch.randn(POSE_SHAPE, generator=generator)


def test_time_strided_sampling_keeps_one_frame_in_every_s():
    frames = torch.arange(48.0).view(1, 1, 48, 1, 1).expand(2, 3, 48, 7, 7)
    sampled = time_strided_sampling(frames, 16)
    assert sampled.shape == (2, 3, 16, 7, 7)
    assert sampled[0, 0, :, 0, 0].tolist() == list(range(0, 48, 3))  # frames 0, 3, …, 45
    with pytest.raises(ValueError, match="multiple"):
        time_strided_sampling(frames, 10)


def test_nesting_attention_follows_eqs_2_to_4_at_paper_size():
    torch.manual_seed(0)
    block = NestingSpatialTemporalAttention(216, 16)
    assert count_parameters(block) == 216 * 9 + 1 + 49 + 1 + 2 * 16 * 16
    f_r, f_s = torch.randn(2, 432, 16, 7, 7), torch.randn(2, 216, 48, 7, 7)
    aligned = f_s[:, :, ::3]
    sa, ta = block.spatial_attention, block.temporal_attention
    a_s = torch.sigmoid(  # Eq. (2)
        F.conv3d(
            F.relu(F.conv3d(aligned, sa.compress.weight, sa.compress.bias, padding=(0, 1, 1))),
            sa.spatial.weight,
            sa.spatial.bias,
            padding=(0, 3, 3),
        )
    )
    z_t = a_s.mean(dim=(3, 4)).flatten(1)  # Eq. (3), (B, T)
    a_t = torch.sigmoid(F.relu(z_t @ ta.fc1.weight.T) @ ta.fc2.weight.T)  # Eq. (4)
    a_st = a_s * a_t.view(2, 1, 16, 1, 1)
    assert a_s.shape == (2, 1, 16, 7, 7)
    torch.testing.assert_close(block.attention_map(f_s, 16), a_st)
    torch.testing.assert_close(block(f_r, f_s), f_r * a_st)  # f'_r = f_r ⊗ A_ST, one map for all 432 channels
    residual = NestingSpatialTemporalAttention(216, 16, residual=True)
    residual.load_state_dict(block.state_dict())
    torch.testing.assert_close(residual(f_r, f_s), f_r + f_r * a_st)
    with pytest.raises(ValueError, match="16 frames"):  # Eq. (4)'s FC layers fix T
        block(f_r[:, :, :8], f_s[:, :, :24])
    with pytest.raises(ValueError, match="spatial grid"):
        block(f_r, f_s[..., :6, :6])


def test_cbam_attention_follows_eqs_6_and_7():
    torch.manual_seed(0)
    block = CBAMSpatialTemporalAttention(temporal_kernel=3)
    assert count_parameters(block) == 2 * 49 + 1 + 3
    assert count_parameters(CBAMSpatialTemporalAttention()) == 2 * 49 + 1 + 7  # default k = 7
    f_r, f_s = torch.randn(2, 432, 8, 7, 7), torch.randn(2, 216, 24, 7, 7)  # any T
    aligned = f_s[:, :, ::3]
    conv = block.spatial_attention.spatial
    pooled = torch.cat([aligned.mean(1, keepdim=True), aligned.amax(1, keepdim=True)], dim=1)  # [GAP; GMP]
    a_s = torch.sigmoid(F.conv3d(pooled, conv.weight, conv.bias, padding=(0, 3, 3)))  # Eq. (6)
    conv1d = block.temporal_attention.conv
    a_t = torch.sigmoid(F.conv1d(a_s.mean(dim=(3, 4)), conv1d.weight, padding=1))  # Eq. (7), (B, 1, T)
    a_st = a_s * a_t.view(2, 1, 8, 1, 1)
    torch.testing.assert_close(block.attention_map(f_s, 8), a_st)
    torch.testing.assert_close(block(f_r, f_s), f_r * a_st)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_tiny_forward_shapes(attention):
    torch.manual_seed(0)
    model = _tiny(attention).eval()
    assert (model.attention is None) == (attention == "none")
    rgb, pose = _inputs()
    with torch.no_grad():
        assert model.rgb.features(rgb).shape == (2, 54, 4, 3, 3)  # conv5: 2.25 · 24 channels, 3 × 3 grid
        assert model.pose.features(pose).shape == (2, 54, 12, 3, 3)
    with torch.no_grad():
        logits = model(rgb, pose)
    assert logits.shape == (2, len(STREAMS), K)
    assert model.class_scores(logits).shape == (2, K)


@pytest.mark.parametrize("attention", ["nesting", "cbam"])
def test_forward_backward_reaches_both_streams_and_the_attention(attention):
    torch.manual_seed(0)
    model = _tiny(attention).train()
    rgb, pose = _inputs()
    loss, terms = model.training_loss(model(rgb, pose), torch.tensor([0, 3]))
    assert set(terms) == {"ce_rgb", "ce_pose"}
    loss.backward()
    for name, param in model.attention.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    for stream in (model.rgb, model.pose):
        stem = stream.backbone.stem.conv_xy.weight
        assert stem.grad is not None and stem.grad.abs().sum() > 0
        assert stream.head.fc2.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_rgb_loss_reaches_the_pose_backbone_only_through_the_attention(attention):
    torch.manual_seed(0)
    model = _tiny(attention).train()
    rgb, pose = _inputs()
    F.cross_entropy(model(rgb, pose)[:, 0], torch.tensor([0, 3])).backward()  # CE_rgb alone
    grad = model.pose.backbone.stem.conv_xy.weight.grad
    reached = grad is not None and bool(grad.abs().sum() > 0)
    assert reached == (attention != "none")


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_pose_input_drives_the_rgb_logits_only_with_attention(attention):
    # Training mode without dropout: deterministic, and BN normalises with batch statistics (at initialisation the
    # eval-mode running statistics shrink the features ~10×); the RGB stream's BN never sees the pose clip.
    torch.manual_seed(0)
    model = _tiny(
        attention,
        rgb_overrides={**TINY["rgb_overrides"], "dropout": 0.0},
        pose_overrides={**TINY["pose_overrides"], "dropout": 0.0},
    ).train()
    rgb, pose = _inputs(0)
    _, other_pose = _inputs(1)
    with torch.no_grad():
        before, after = model(rgb, pose), model(rgb, other_pose)
    rgb_change = (before[:, 0] - after[:, 0]).abs().max()
    assert (before[:, 1] - after[:, 1]).abs().max() > 0  # the pose logits always follow the pose
    if attention == "none":
        assert rgb_change == 0
    else:
        assert rgb_change > 1e-3 * before[:, 0].abs().max()


def test_training_loss_is_the_sum_of_the_two_cross_entropies():
    model = _tiny()
    logits = torch.randn(4, 2, K)
    labels = torch.tensor([0, 1, 4, 2])
    loss, terms = model.training_loss(logits, labels)
    ce_rgb, ce_pose = F.cross_entropy(logits[:, 0], labels), F.cross_entropy(logits[:, 1], labels)
    torch.testing.assert_close(loss, ce_rgb + ce_pose)  # Eq. (5)
    torch.testing.assert_close(terms["ce_rgb"], ce_rgb)
    torch.testing.assert_close(terms["ce_pose"], ce_pose)
    soft = 0.7 * F.one_hot(labels, K).float() + 0.3 * F.one_hot(labels.flip(0), K).float()  # MixUp targets
    expected = sum(-(soft * F.log_softmax(logits[:, i], -1)).sum(-1).mean() for i in range(2))
    torch.testing.assert_close(model.training_loss(logits, soft)[0], expected)


def test_class_scores_are_the_documented_score_fusion():
    logits = torch.randn(3, 2, K)
    scores = _tiny().class_scores(logits)  # default: softmax of the equal-weight mean of the logits
    torch.testing.assert_close(scores, F.softmax(logits.mean(1), -1))
    assert torch.equal(scores.argmax(-1), logits.sum(1).argmax(-1))  # the released code's z_rgb + z_pose ranking
    torch.testing.assert_close(_tiny(rgb_weight=1.0).class_scores(logits), F.softmax(logits[:, 0], -1))
    weighted = _tiny(fusion="softmax", rgb_weight=0.25).class_scores(logits)
    probs = F.softmax(logits, -1)
    torch.testing.assert_close(weighted, 0.25 * probs[:, 0] + 0.75 * probs[:, 1])
    torch.testing.assert_close(weighted.sum(-1), torch.ones(3))


def test_config_resolves_streams_from_variants_and_overrides():
    config = EPAMNetConfig(num_classes=120)
    rgb, pose = config.stream_config("rgb"), config.stream_config("pose")
    assert (rgb.num_classes, pose.num_classes) == (120, 120)
    assert (rgb.feature_channels, rgb.feature_shape, pose.feature_channels, pose.feature_shape) == (
        432,
        (16, 7, 7),
        216,
        (48, 7, 7),
    )
    tiny = EPAMNetConfig(**TINY)
    assert isinstance(tiny.rgb_overrides, tuple) and hash(tiny) == hash(EPAMNetConfig(**TINY))
    assert tiny.stream_config("pose").stage_widths == (8, 16, 24)
    listed = EPAMNetConfig(pose_overrides={**TINY["pose_overrides"], "stage_widths": [8, 16, 24]}, attention="none")
    assert listed.stream_config("pose").stage_widths == (8, 16, 24)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"num_classes": 0}, "model.num_classes"),
        ({"rgb_variant": "mfst_base"}, "model.rgb_variant"),
        ({"pose_variant": "nope"}, "model.pose_variant"),
        ({"rgb_overrides": {"num_classes": 10}}, "model.rgb_overrides"),
        ({"rgb_overrides": {"widths": (1,)}}, "model.rgb_overrides"),
        ({"pose_overrides": {"dropout": 2.0}}, "model.pose_overrides"),
        ({"pose_overrides": "image_size=56"}, "model.pose_overrides"),
        ({"pose_overrides": {"image_size": 112}}, "model.pose_overrides"),  # 14² pose grid vs 7² RGB grid
        ({"pose_overrides": {"num_frames": 40}}, "model.pose_overrides"),  # 40 is no multiple of 16
        ({"attention": "self"}, "model.attention"),
        ({"temporal_reduction": 0}, "model.temporal_reduction"),
        ({"temporal_reduction": 32}, "model.temporal_reduction"),
        ({"temporal_kernel": 4}, "model.temporal_kernel"),
        ({"attention_residual": 1}, "model.attention_residual"),
        ({"fusion": "max"}, "model.fusion"),
        ({"rgb_weight": 1.5}, "model.rgb_weight"),
        ({"rgb_weight": True}, "model.rgb_weight"),
        ({"pose_channels": 0}, "model.pose_channels"),
        ({"pose_overrides": {"in_channels": 25}}, "model.pose_overrides"),  # model.pose_channels sets it
    ],
)
def test_invalid_config_raises_naming_the_field(overrides, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        EPAMNetConfig(**overrides)
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        dataclasses.replace(EPAMNetConfig(), **overrides)


def test_pose_channels_set_the_pose_stream_input_and_nesting_fixes_the_rgb_frames():
    ntu = EPAMNetConfig(pose_channels=25, **TINY)
    assert ntu.stream_config("pose").in_channels == 25 and ntu.stream_config("rgb").in_channels == 3
    model = EPAMNet(dataclasses.replace(ntu, num_classes=K))
    assert model(torch.randn(RGB_SHAPE), torch.randn(2, 25, *POSE_SHAPE[2:])).shape == (2, 2, K)
    assert (ntu.rgb_frames, EPAMNetConfig().rgb_frames) == (4, 16)  # the nesting block's FC layers span T_M
    assert EPAMNetConfig(attention="cbam", **TINY).rgb_frames is None


def test_mismatched_grids_are_allowed_without_attention():
    config = EPAMNetConfig(attention="none", pose_overrides={"image_size": 112, "num_frames": 40})
    assert config.stream_config("pose").feature_shape == (40, 14, 14)


def test_model_rejects_another_config_type():
    with pytest.raises(TypeError, match="EPAMNetConfig"):
        EPAMNet(object())


def test_paper_size_parameters_table_4():
    torch.manual_seed(0)
    model = EPAMNet(EPAMNetConfig(num_classes=120)).eval()  # NTU RGB+D 120, nesting attention
    streams = count_parameters(model.rgb) + count_parameters(model.pose)
    assert (count_parameters(model.rgb), count_parameters(model.pose)) == (3_220_602, 556_782)
    assert count_parameters(model.attention) == 2_507
    total = count_parameters(model)
    assert total == streams + 2_507 == 3_779_891
    # Table 4's 3.76M = 3.22M + 543.76k (a 60-class pose head); the 120-class head (+13,020) and the attention
    # (+2,507) stay within 1%.
    assert abs(total / PAPER_PARAMETERS - 1) < 0.01
    assert 3_220_602 + 543_762 == pytest.approx(PAPER_PARAMETERS, abs=5e3)
    cbam = EPAMNet(EPAMNetConfig(num_classes=120, attention="cbam"))
    none = EPAMNet(EPAMNetConfig(num_classes=120, attention="none"))
    assert (count_parameters(cbam), count_parameters(none)) == (streams + 106, streams)
    with torch.no_grad():  # one paper clip pair: 16 × 224² RGB, 48 × 56² pose, both 7 × 7 features
        logits = model(torch.randn(1, 3, 16, 224, 224), torch.randn(1, 17, 48, 56, 56))
    assert logits.shape == (1, 2, 120) and torch.isfinite(logits).all()
