"""ViT / ViViT baselines: spatial-only ViT-B per frame (Table 3.3) and ViViT-B/16×2 (Table 4.3)."""

import pytest
import torch

from actrec.models import create_model, model_config, tiny_overrides
from actrec.models.complexity import count_parameters
from actrec.models.vit import ViTSpatial, ViTSpatialConfig, ViViT, ViViTConfig

D = 768
LAYER = 12 * D * D + 13 * D  # ViT-B encoder layer


def _paper(name: str, **overrides) -> torch.nn.Module:
    with torch.device("meta"):
        return create_model(name, **overrides)


def _tiny(name: str, **overrides) -> torch.nn.Module:
    return create_model(name, **{**tiny_overrides(name), "num_classes": 5, **overrides})


def test_vit_spatial_is_vit_b_16():
    # ViT-B/16 at 224² with the ImageNet-1k head has 86,567,656 parameters (Dosovitskiy et al.; timm).
    assert count_parameters(_paper("vit_spatial", num_classes=1000)) == 86_567_656
    model = _paper("vit_spatial")
    assert (len(model.blocks), model.blocks[0].attn.heads, model.positions.positions.shape) == (12, 12, (1, 197, D))


def test_vivit_b_parameters_and_positional_switch():
    params = count_parameters(_paper("vivit_b"))
    tubelet = 3 * 2 * 16 * 16 * D + D
    positions = (1 + 4 * 14 * 14) * D  # class token + 8/2 × 14 × 14 tubelets
    assert params == 12 * LAYER + tubelet + positions + D + 2 * D + (D * 48 + 48)
    assert params - count_parameters(_paper("vivit_b", positional_embedding=False)) == positions
    assert _paper("vivit_b", positional_embedding=False).positions is None


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("vit_spatial", {}),
        ("vit_spatial", {"positional_embedding": False}),
        ("vit_spatial", {"position_kind": "sinusoidal"}),
        ("vivit_b", {}),
        ("vivit_b", {"positional_embedding": False}),
        ("vivit_b", {"position_kind": "sinusoidal"}),
        ("vivit_b", {"tubelet_size": (1, 8, 8)}),
    ],
)
def test_tiny_models_run_on_the_profile_inputs(name, overrides):
    torch.manual_seed(0)
    model = _tiny(name, **overrides)
    for shape in ((2, 3, 8, 32, 32), (2, 3, 4, 32, 32), (1, 3, 8, 64, 64)):
        logits = model(torch.randn(shape))
        assert logits.shape == (shape[0], 5) and torch.isfinite(logits).all()
    logits.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert count_parameters(model) < 1_000_000


def test_vit_spatial_averages_independent_frames():
    torch.manual_seed(0)
    model = _tiny("vit_spatial").eval()
    x = torch.randn(1, 3, 4, 32, 32)
    assert torch.allclose(model(x), model(x[:, :, [2, 0, 3, 1]]), atol=1e-5)  # order-free
    per_frame = torch.stack([model(x[:, :, [t]]) for t in range(4)])
    assert torch.allclose(model(x), per_frame.mean(0), atol=1e-5)  # = the mean of per-frame logits (linear head)


def test_vivit_attends_across_time():
    torch.manual_seed(0)
    model = _tiny("vivit_b").eval()
    x = torch.randn(1, 3, 4, 32, 32)
    changed = x.clone()
    changed[:, :, 2:] = torch.randn(1, 3, 2, 32, 32)
    assert not torch.allclose(model(x), model(changed), atol=1e-5)
    assert model.tubelet_embed.grid(4, 32, 32) == (2, 4, 4)


def test_inputs_that_do_not_tile_are_named():
    with pytest.raises(ValueError, match="T = 5"):
        _tiny("vivit_b")(torch.randn(1, 3, 5, 32, 32))
    with pytest.raises(ValueError, match="W = 36"):
        _tiny("vit_spatial")(torch.randn(1, 3, 4, 32, 36))


@pytest.mark.parametrize(
    ("cls", "overrides", "field"),
    [
        (ViTSpatialConfig, {"heads": 7}, "model.heads"),
        (ViTSpatialConfig, {"image_size": 100}, "model.image_size"),
        (ViTSpatialConfig, {"position_kind": "rotary"}, "model.position_kind"),
        (ViTSpatialConfig, {"positional_embedding": "yes"}, "model.positional_embedding"),
        (ViViTConfig, {"tubelet_size": (2, 16)}, "model.tubelet_size"),
        (ViViTConfig, {"tubelet_size": (3, 16, 16)}, "model.tubelet_size"),
        (ViViTConfig, {"depth": 0}, "model.depth"),
        (ViViTConfig, {"dropout": -0.1}, "model.dropout"),
    ],
)
def test_config_validation_names_the_field(cls, overrides, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        cls(**overrides)


def test_defaults_are_the_thesis_baselines():
    vivit = model_config("vivit_b")
    assert (vivit.dim, vivit.depth, vivit.heads, vivit.tubelet_size, vivit.num_frames) == (D, 12, 12, (2, 16, 16), 8)
    assert vivit.token_grid == (4, 14, 14) and vivit.positional_embedding
    assert ViViTConfig(tubelet_size=[2, 8, 8]).tubelet_size == (2, 8, 8)
    vit = model_config("vit_spatial")
    assert (vit.dim, vit.depth, vit.heads, vit.patch_size) == (D, 12, 12, 16)
    assert type(create_model("vit_spatial", **tiny_overrides("vit_spatial"))) is ViTSpatial
    assert type(create_model("vivit_b", **tiny_overrides("vivit_b"))) is ViViT
