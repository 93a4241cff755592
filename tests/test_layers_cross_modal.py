"""Cross-modal interaction of De+Recouple (§3.3, Eq. (17)-(18), Fig. 5): CmSI, CmTI, CAPF and score fusion."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from actrec.layers.cross_modal import (
    CrossModalConfig,
    CrossModalFusion,
    CrossModalSpatialInteraction,
    JointInteraction,
)

B, T, W, K = 3, 5, 8, 4


def _features(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, W, generator=g), torch.randn(B, W, generator=g), torch.randint(0, K, (B,), generator=g)


def _fusion(**overrides) -> CrossModalFusion:
    torch.manual_seed(0)
    return CrossModalFusion(CrossModalConfig(dim=W, num_classes=K, **overrides))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"dim": 7}, "dim"),
        ({"dim": 0}, "dim"),
        ({"num_classes": 1}, "num_classes"),
        ({"fusion": "concat"}, "fusion"),
        ({"fusion": "addition"}, "temporal_interaction"),
        ({"fusion": "multiplication"}, "temporal_interaction"),
        ({"bce_weight": -1.0}, "bce_weight"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
    ],
)
def test_config_errors_name_the_field(overrides, field):
    kwargs = {"dim": W, "num_classes": K, **overrides}
    with pytest.raises(ValueError, match=field):
        CrossModalConfig(**kwargs)


def test_score_fusion_without_temporal_interaction_is_valid():
    for fusion in ("addition", "multiplication"):
        CrossModalConfig(dim=W, num_classes=K, fusion=fusion, temporal_interaction=False)


def test_spatial_interaction_is_eq17():
    torch.manual_seed(0)
    layer = CrossModalSpatialInteraction(W)
    enh_r, enh_d, raw_r, raw_d = torch.randn(4, B, T, W)
    out_r, out_d = layer(enh_r, enh_d, raw_r, raw_d)
    assert out_r.shape == out_d.shape == (B, T, W)
    mlp, norm = layer.joint.mlp, layer.joint.norm
    joint = norm(mlp(torch.cat([enh_r, enh_d], dim=-1)))  # LN(MLP([Ô_R || Ô_D]))
    torch.testing.assert_close(out_r, joint + raw_r)
    torch.testing.assert_close(out_d, joint + raw_d)
    # the joint term is LayerNorm'd over the width: zero mean, unit variance per token
    torch.testing.assert_close((out_r - raw_r).mean(-1), torch.zeros(B, T), atol=1e-5, rtol=0)
    # residual defaults to the enhanced features
    default_r, _ = layer(enh_r, enh_d)
    torch.testing.assert_close(default_r, joint + enh_r)
    # the joint term really depends on the other modality
    swapped_r, _ = layer(enh_r, torch.randn(B, T, W), raw_r, raw_d)
    assert not torch.allclose(swapped_r, out_r)


def test_joint_interaction_with_zeroed_mlp_is_the_layernorm_bias():
    layer = JointInteraction(W)
    torch.nn.init.zeros_(layer.mlp[-1].weight)
    torch.nn.init.zeros_(layer.mlp[-1].bias)
    with torch.no_grad():
        layer.norm.bias.fill_(0.25)
    out = layer(torch.randn(B, W), torch.randn(B, W))
    torch.testing.assert_close(out, torch.full((B, W), 0.25))


def test_spatial_shape_errors_name_the_argument():
    layer = CrossModalSpatialInteraction(W)
    x = torch.randn(B, T, W)
    with pytest.raises(ValueError, match="residual_depth"):
        layer(x, x, x, torch.randn(B, T + 1, W))
    with pytest.raises(ValueError, match="depth"):
        layer(x, torch.randn(B, T, W + 2))
    with pytest.raises(ValueError, match="enhanced_rgb"):
        layer(torch.randn(B, W), torch.randn(B, W))


def test_interact_spatial_switch():
    x_r, x_d, raw_r, raw_d = torch.randn(4, B, T, W)
    off = _fusion(spatial_interaction=False)
    assert off.spatial is None
    out_r, out_d = off.interact_spatial(x_r, x_d, raw_r, raw_d)
    assert out_r is x_r and out_d is x_d  # Eq. (16): Ô goes to the DTN as it is
    on = _fusion()
    on_r, on_d = on.interact_spatial(x_r, x_d, raw_r, raw_d)
    torch.testing.assert_close(on_r, on.spatial(x_r, x_d, raw_r, raw_d)[0])
    assert not torch.allclose(on_r, x_r)


def test_capf_shapes_and_eq18():
    rgb, depth, target = _features()
    model = _fusion()
    out = model(rgb, depth, target)
    assert out.scores.shape == out.logits_rgb.shape == out.logits_depth.shape == out.logits_fused.shape == (B, K)
    assert out.encoded.shape == (B, W // 2)  # Ö^E: d/4
    assert out.decoded.shape == (B, W)  # Ö^D: d/2
    # f¹, f² see O^CLS before the temporal interaction (Eq. (18) has no dots on them)
    torch.testing.assert_close(out.logits_rgb, model.classifier_rgb(rgb))
    torch.testing.assert_close(out.logits_depth, model.classifier_depth(depth))
    torch.testing.assert_close(out.logits_fused, model.classifier_fused(out.encoded))
    torch.testing.assert_close(out.scores, out.logits_rgb + out.logits_depth + out.logits_fused)
    torch.testing.assert_close(out.log_scores, F.log_softmax(out.scores, dim=-1))


def test_temporal_interaction_feeds_the_encoder():
    rgb, depth, _ = _features()
    model = _fusion()
    seen = []
    model.encoder.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0]))
    model(rgb, depth)
    joint = model.temporal(rgb, depth)  # Ö^T
    assert joint.shape == (B, W)
    torch.testing.assert_close(seen[0], torch.cat([rgb + joint, depth + joint], dim=-1))

    off = _fusion(temporal_interaction=False)
    assert off.temporal is None
    seen.clear()
    off.encoder.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0]))
    off(rgb, depth)
    torch.testing.assert_close(seen[0], torch.cat([rgb, depth], dim=-1))


CAPF_SWITCHES = ("unimodal_ce", "capf_ce", "capf_bce", "capf_mse")
TERMS = {
    "unimodal_ce": {"ce_rgb", "ce_depth"},
    "capf_ce": {"ce_fused"},
    "capf_bce": {"bce_modality"},
    "capf_mse": {"mse_reconstruction"},
}


@pytest.mark.parametrize("switches", list(itertools.product([False, True], repeat=4)))
def test_capf_loss_terms_present_exactly_when_switched_on(switches):
    flags = dict(zip(CAPF_SWITCHES, switches, strict=True))
    rgb, depth, target = _features()
    model = _fusion(bce_weight=0.5, mse_weight=2.0, ce_weight=1.5, **flags)
    out = model(rgb, depth, target)
    expected = set().union(*(TERMS[name] for name, on in flags.items() if on))
    assert set(out.losses) == expected
    weights = {"bce_modality": 0.5, "mse_reconstruction": 2.0}
    total = sum((weights.get(name, 1.5) * value for name, value in out.losses.items()), torch.tensor(0.0))
    torch.testing.assert_close(out.loss, total)
    assert (model.decoder is not None) == flags["capf_mse"]
    assert (model.modality_discriminator is not None) == flags["capf_bce"]
    if expected:
        out.loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        through_encoder = bool(expected & {"ce_fused", "mse_reconstruction"})
        assert (model.encoder.net[0].weight.grad is not None) == through_encoder


@pytest.mark.parametrize(("spatial", "temporal"), list(itertools.product([False, True], repeat=2)))
def test_every_interaction_switch_forward_backward(spatial, temporal):
    model = _fusion(spatial_interaction=spatial, temporal_interaction=temporal)
    x = torch.randn(2, B, T, W, requires_grad=True)
    s_r, s_d = model.interact_spatial(x[0], x[1])
    rgb, depth = s_r.mean(1), s_d.mean(1)  # stand-in for the DTNs: (B, T, w) -> (B, w)
    out = model(rgb, depth, torch.randint(0, K, (B,)))
    out.loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    if spatial:
        assert model.spatial.joint.mlp[0].weight.grad is not None
    if temporal:
        assert model.temporal.mlp[0].weight.grad is not None


def test_unimodal_ce_value_and_label_smoothing():
    rgb, depth, target = _features()
    plain = _fusion()(rgb, depth, target)
    torch.testing.assert_close(plain.losses["ce_rgb"], F.cross_entropy(plain.logits_rgb, target))
    smooth = _fusion(label_smoothing=0.2)(rgb, depth, target)
    torch.testing.assert_close(
        smooth.losses["ce_depth"], F.cross_entropy(smooth.logits_depth, target, label_smoothing=0.2)
    )
    assert not torch.allclose(smooth.losses["ce_depth"], plain.losses["ce_depth"])


def test_bce_and_mse_hand_values():
    rgb, depth, target = _features()
    model = _fusion(temporal_interaction=False)
    for layer in (model.modality_discriminator, model.decoder.net[-1]):
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    out = model(rgb, depth, target)
    # a zero discriminator says 0.5 to both modalities: BCE = log 2 whatever the targets
    torch.testing.assert_close(out.losses["bce_modality"], torch.tensor(math.log(2.0)))
    # a zero decoder reconstructs 0: MSE = mean(rgb²) + mean(depth²)
    torch.testing.assert_close(out.losses["mse_reconstruction"], rgb.pow(2).mean() + depth.pow(2).mean())
    # the discriminator's targets are RGB = 1, depth = 0: one that reads feature 0, high for RGB and low for
    # depth, is right on both and pays softplus(-2) per sample
    with torch.no_grad():
        model.modality_discriminator.weight.copy_(F.one_hot(torch.tensor([0]), W).float())
        rgb[:, 0], depth[:, 0] = 2.0, -2.0
    right = model(rgb, depth, target).losses["bce_modality"]
    torch.testing.assert_close(right, F.softplus(torch.tensor(-2.0)))
    wrong = model(depth, rgb, target).losses["bce_modality"]
    torch.testing.assert_close(wrong, F.softplus(torch.tensor(2.0)))


def _score_fusion(fusion: str, p_rgb: list[float], p_depth: list[float]):
    model = CrossModalFusion(CrossModalConfig(dim=W, num_classes=len(p_rgb), fusion=fusion, temporal_interaction=False))
    with torch.no_grad():
        for layer, probs in ((model.classifier_rgb, p_rgb), (model.classifier_depth, p_depth)):
            layer.weight.zero_()
            layer.bias.copy_(torch.tensor(probs).log())  # softmax(log p) = p
    rgb, depth, _ = _features()
    return model, model(rgb, depth, torch.tensor([0, 1, 2]))


def test_multiplication_and_addition_score_fusion():
    p_rgb, p_depth = [0.6, 0.3, 0.1], [0.1, 0.2, 0.7]
    model, mult = _score_fusion("multiplication", p_rgb, p_depth)
    assert model.encoder is None and model.classifier_fused is None and model.temporal is None
    torch.testing.assert_close(mult.scores, torch.tensor([[0.06, 0.06, 0.07]]).expand(B, 3))
    torch.testing.assert_close(mult.log_scores.exp(), torch.tensor([[6.0, 6.0, 7.0]]).expand(B, 3) / 19.0)
    assert mult.logits_fused is None and mult.encoded is None and mult.decoded is None
    assert set(mult.losses) == {"ce_rgb", "ce_depth"}  # CAPF switches are on but there is no CAPF
    _, add = _score_fusion("addition", p_rgb, p_depth)
    torch.testing.assert_close(add.scores, torch.tensor([[0.7, 0.5, 0.8]]).expand(B, 3))
    torch.testing.assert_close(add.log_scores.exp(), torch.tensor([[0.35, 0.25, 0.4]]).expand(B, 3))
    # the two fusions can disagree: the sum follows one confident modality, the product favours agreement
    p_rgb, p_depth = [0.9, 0.08, 0.02], [0.02, 0.4, 0.58]
    _, mult2 = _score_fusion("multiplication", p_rgb, p_depth)
    _, add2 = _score_fusion("addition", p_rgb, p_depth)
    assert add2.scores.argmax(-1).tolist() == [0] * B  # 0.92 > 0.60 > 0.48
    assert mult2.scores.argmax(-1).tolist() == [1] * B  # 0.032 > 0.018 > 0.0116


def test_forward_without_target_has_no_losses():
    rgb, depth, _ = _features()
    out = _fusion()(rgb, depth)
    assert out.losses == {} and out.loss is None


def test_losses_take_soft_targets_and_can_be_computed_after_forward():
    model = _fusion()
    rgb, depth, target = _features()
    with_target = model(rgb, depth, target)
    assert set(with_target.losses) == {"ce_rgb", "ce_depth", "ce_fused", "bce_modality", "mse_reconstruction"}
    later = model.losses(model(rgb, depth), target)
    one_hot = model(rgb, depth, torch.nn.functional.one_hot(target, K).float())
    for name, value in with_target.losses.items():
        torch.testing.assert_close(later[name], value)
        torch.testing.assert_close(one_hot.losses[name], value)


def test_forward_shape_errors_name_the_argument():
    model = _fusion()
    rgb, depth, target = _features()
    with pytest.raises(ValueError, match="rgb"):
        model(torch.randn(B, W + 2), torch.randn(B, W + 2))
    with pytest.raises(ValueError, match="depth"):
        model(rgb, depth[:2])
    with pytest.raises(ValueError, match="target"):
        model(rgb, depth, target[:2])
