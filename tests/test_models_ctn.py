"""CTN (thesis chapter 4): paper-size parameters, ablation switches, verb + noun heads on joint action labels."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from actrec.layers.conv_projection import ConvProjection, LinearProjection
from actrec.models import list_models
from actrec.models.complexity import count_parameters
from actrec.models.ctn import (
    CTN,
    PAPER_PARAMETERS,
    CTNConfig,
    CTNVerbNoun,
    CTNVerbNounConfig,
    action_label,
    split_action,
    verb_noun_top1,
)
from actrec.models.registry import create_model, model_config, tiny_overrides

D = 768
# Encoder: two LNs, Q/K/V = depth-wise 3×3 (no bias) + BN + pointwise (bias), output projection, MLP 3072.
LAYER = 2 * 2 * D + 3 * (9 * D + 2 * D + D * D + D) + (D * D + D) + (D * 4 * D + 4 * D + 4 * D * D + D)
STEM = 3 * 32 * 7**3 + 2 * 32  # Conv3d 7×7×7 without bias (BN follows) + BN3d
PATCH = 32 * 2 * 4 * 4 * D + D  # Conv3d 32 -> 768, kernel = stride = 2×4×4
BACKBONE = 12 * LAYER + STEM + PATCH + D + 2 * D  # + class token + final LN


def _paper(name: str = "ctn", **overrides):
    with torch.device("meta"):  # parameter shapes only
        return create_model(name, **overrides)


def _tiny(name: str = "ctn", **overrides):
    extra = {"num_classes": 5} if name == "ctn" else {"num_verbs": 3, "num_nouns": 4}
    return create_model(name, **{**tiny_overrides(name), **extra, **overrides})


def test_registered_names():
    assert {"ctn", "ctn_epic"} <= set(list_models())
    assert type(model_config("ctn")) is CTNConfig and type(model_config("ctn_epic")) is CTNVerbNounConfig


@pytest.mark.parametrize(("name", "head"), [("ctn", D * 48 + 48), ("ctn_epic", D * (97 + 300) + 97 + 300)])
def test_paper_size_parameter_count_is_within_ten_percent_of_88_6m(name, head):
    params = count_parameters(_paper(name))
    assert params == BACKBONE + head  # 86,218,000 (Diving 48) and 86,486,381 (EPIC-KITCHENS-100)
    assert abs(params / PAPER_PARAMETERS - 1) < 0.10
    assert -0.03 < params / PAPER_PARAMETERS - 1 < -0.02  # the documented gap (module docstring)


def test_paper_architecture_table_4_1():
    model = _paper()
    config = model.config
    assert (config.num_frames, config.image_size, config.token_grid) == (8, 224, (1, 14, 14))
    stem = model.backbone.embed.stem
    assert stem.conv.kernel_size == (7, 7, 7) and stem.conv.stride == (2, 2, 2) and stem.conv.out_channels == 32
    assert stem.norm is not None and stem.pool.kernel_size == (3, 3, 3) and stem.pool.stride == (2, 2, 2)
    assert len(model.backbone.blocks) == 12 and model.backbone.positions is None
    attention = model.backbone.blocks[0].attn
    assert attention.heads == 12 and isinstance(attention.to_q, ConvProjection)
    assert attention.to_q.depthwise.kernel_size == (3, 3) and attention.to_q.norm is not None
    assert model.backbone.blocks[0].mlp.net[0].out_features == 3072


def test_ablation_switches_change_parameters_as_expected():
    base = count_parameters(_paper())
    linear = _paper(mapping="linear")  # Table 4.5 CTN-a
    assert isinstance(linear.backbone.blocks[0].attn.to_k, LinearProjection)
    assert base - count_parameters(linear) == 12 * 3 * (9 * D + 2 * D)
    assert count_parameters(_paper(mapping_kernel=5)) - base == 12 * 3 * 16 * D  # Table 4.6
    assert base - count_parameters(_paper(mapping_batch_norm=False)) == 12 * 3 * (2 * D - D)  # BN → conv bias
    assert count_parameters(_paper(positional_embedding=True)) - base == (1 + 196) * D  # Table 4.3 "Default"
    tube = _paper(embedding="tubelet", positional_embedding=True)  # Table 4.3 "CTN, Tube. embedding"
    assert tube.config.token_grid == (4, 14, 14)
    assert count_parameters(tube) - base == (3 * 2 * 16 * 16 * D + D) + (1 + 784) * D - STEM - PATCH
    # Table 4.4 first row: Conv3d 7×7×7 stride 4, 64 channels, no BN, no max-pool: same 1 × 14 × 14 grid.
    row = _paper(v2t_stride=4, v2t_channels=64, v2t_batch_norm=False, v2t_max_pool=False)
    assert row.config.v2t_stride == (4, 4, 4) and row.config.token_grid == (1, 14, 14)
    assert row.backbone.embed.stem.pool is None and row.backbone.embed.stem.norm is None


@pytest.mark.parametrize(
    ("name", "overrides"),
    [("ctn", {}), ("ctn_epic", {}), ("ctn", {"positional_embedding": True}), ("ctn", {"embedding": "tubelet"})],
)
def test_tiny_models_run_on_the_profile_clips(name, overrides):
    torch.manual_seed(0)
    model = _tiny(name, **overrides)
    assert count_parameters(model) < 1_000_000
    for shape in [(2, 3, 8, 32, 32), (2, 3, 4, 32, 32), (2, 3, 8, 64, 64)]:
        output = model(torch.randn(shape))
        if name == "ctn":
            assert output.shape == (2, 5)
        else:
            assert output["verb_logits"].shape == (2, 3) and output["noun_logits"].shape == (2, 4)


def test_learned_positions_follow_the_token_grid():
    model = _tiny(positional_embedding=True)
    positions = model.backbone.positions
    assert positions.positions.shape == (1, 1 + 2 * 4 * 4, 32)  # built for 8 × 32²
    table = positions.table((2, 8, 8))  # 8 × 64²: interpolated, class-token position kept
    assert table.shape == (1, 1 + 128, 32) and torch.equal(table[:, 0], positions.positions[:, 0])
    with torch.no_grad():
        positions.positions[:, 1:] = 3.0
    assert torch.allclose(positions.table((1, 4, 4))[:, 1:], torch.full((1, 16, 32), 3.0))


def test_single_head_model_has_no_loop_protocol_and_verb_noun_model_has_it():
    single, joint = _tiny("ctn"), _tiny("ctn_epic")
    assert not hasattr(single, "training_loss") and not hasattr(single, "class_scores")
    assert callable(joint.training_loss) and callable(joint.class_scores)
    with pytest.raises(TypeError, match="CTNVerbNoun"):
        CTN(joint.config)
    with pytest.raises(TypeError, match="CTNVerbNounConfig"):
        CTNVerbNoun(single.config)


def test_joint_action_labels_and_class_scores():
    labels = action_label(torch.tensor([0, 2, 1]), torch.tensor([3, 0, 2]), 4)
    assert labels.tolist() == [3, 8, 6]
    verb, noun = split_action(labels, 4)
    assert verb.tolist() == [0, 2, 1] and noun.tolist() == [3, 0, 2]
    model = _tiny("ctn_epic")
    torch.manual_seed(0)
    output = {"verb_logits": torch.randn(64, 3), "noun_logits": torch.randn(64, 4)}
    scores = model.class_scores(output)
    assert scores.shape == (64, 12) and torch.allclose(scores.sum(-1), torch.ones(64))
    expected = output["verb_logits"].softmax(-1)[:, 1] * output["noun_logits"].softmax(-1)[:, 2]
    assert torch.allclose(scores[:, action_label(1, 2, 4)], expected)
    predicted = action_label(output["verb_logits"].argmax(-1), output["noun_logits"].argmax(-1), 4)
    assert torch.equal(scores.argmax(-1), predicted)
    # The loop's top-1 on class_scores against joint labels is the action accuracy (verb and noun both right).
    labels = torch.randint(0, 12, (64,))
    labels[:20] = predicted[:20]
    accuracy = verb_noun_top1(output, labels, 4)
    assert accuracy["action_top1"] == pytest.approx(100.0 * float((scores.argmax(-1) == labels).float().mean()))
    verb, noun = split_action(labels, 4)
    assert accuracy["verb_top1"] == pytest.approx(
        100.0 * float((output["verb_logits"].argmax(-1) == verb).float().mean())
    )
    assert accuracy["noun_top1"] == pytest.approx(
        100.0 * float((output["noun_logits"].argmax(-1) == noun).float().mean())
    )
    assert accuracy["action_top1"] <= min(accuracy["verb_top1"], accuracy["noun_top1"])


def test_training_loss_marginalises_the_joint_target():
    torch.manual_seed(0)
    model = _tiny("ctn_epic")
    output = model(torch.randn(2, 3, 8, 32, 32))
    labels = torch.tensor([action_label(2, 1, 4), action_label(0, 3, 4)])
    loss, terms = model.training_loss(output, F.one_hot(labels, 12).float())
    verb, noun = split_action(labels, 4)
    assert set(terms) == {"ce_verb", "ce_noun"}
    assert torch.allclose(terms["ce_verb"], F.cross_entropy(output["verb_logits"], verb))
    assert torch.allclose(terms["ce_noun"], F.cross_entropy(output["noun_logits"], noun))
    assert torch.allclose(loss, terms["ce_verb"] + terms["ce_noun"])
    assert torch.allclose(model.training_loss(output, labels)[0], loss)  # integer joint labels
    # MixUp of two joint actions (verb 2 noun 1) and (verb 2 noun 3): the verb target stays one-hot.
    mixed = 0.7 * F.one_hot(torch.tensor([9, 9]), 12).float() + 0.3 * F.one_hot(torch.tensor([11, 11]), 12).float()
    _, terms = model.training_loss(output, mixed)
    assert torch.allclose(terms["ce_verb"], F.cross_entropy(output["verb_logits"], torch.tensor([2, 2])))
    noun_target = torch.tensor([[0.0, 0.7, 0.0, 0.3]] * 2)
    assert torch.allclose(terms["ce_noun"], F.cross_entropy(output["noun_logits"], noun_target))
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
    with pytest.raises(ValueError, match=r"\(B, 12\)"):
        model.training_loss(output, torch.ones(2, 5))


def test_single_head_forward_backward():
    torch.manual_seed(0)
    model = _tiny("ctn")
    model(torch.randn(2, 3, 8, 32, 32)).logsumexp(-1).mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match=r"model\.num_classes = 10 must equal model\.num_verbs"):
        model_config("ctn_epic", num_classes=10, num_verbs=3, num_nouns=4)
    assert model_config("ctn_epic", num_verbs=3, num_nouns=4).num_classes == 12  # derived when not given
    assert model_config("ctn_epic").num_classes == 97 * 300
    cases = [
        ({"mapping": "dense"}, r"model\.mapping must be one of"),
        ({"mapping_kernel": 4}, r"model\.mapping_kernel must be an odd int"),
        ({"heads": 5}, r"model\.heads must be an int >= 1 dividing model\.dim"),
        ({"embedding": "patch"}, r"model\.embedding must be one of"),
        ({"patch_size": (2, 4)}, r"model\.patch_size must be"),
        ({"v2t_batch_norm": 1}, r"model\.v2t_batch_norm must be a bool"),
        ({"dropout": 1.0}, r"model\.dropout must be in \[0, 1\)"),
        ({"image_size": 200}, r"model\.image_size = 200 .* H = 50 is not a multiple of the patch size 4"),
    ]
    for overrides, match in cases:
        with pytest.raises(ValueError, match=match):
            model_config("ctn", **overrides)
    config = model_config("ctn", patch_size=[2, 4, 4], v2t_kernel=5)
    assert config.patch_size == (2, 4, 4) and config.v2t_kernel == (5, 5, 5)
    assert dataclasses.replace(config, v2t_kernel=7) == model_config("ctn")


def test_clips_that_do_not_tile_are_rejected():
    model = _tiny()
    with pytest.raises(ValueError, match="H = 9"):
        model(torch.randn(1, 3, 8, 36, 36))  # 36 → 18 → 9, not a multiple of the patch 2
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        model(torch.randn(1, 1, 8, 32, 32))
