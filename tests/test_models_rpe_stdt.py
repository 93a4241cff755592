"""RPE-STDT (thesis chapter 3): paper-size parameter counts, the ablation switches, subsampling, config validation."""

import pytest
import torch

from actrec.layers.relative_position import RelativePositionAttention
from actrec.layers.vit import MultiheadSelfAttention
from actrec.models import create_model, model_config, tiny_overrides
from actrec.models.complexity import count_parameters
from actrec.models.rpe_stdt import RPESTDT, RPESTDTConfig

D = 768
LAYER = 12 * D * D + 13 * D  # ViT-B encoder layer: qkv + proj (4D² + 4D), MLP (8D² + 5D), two LayerNorms (4D)
# 8 + 4 layers, patch embedding, two class tokens, two final LayerNorms, head (101 classes).
BACKBONE = 12 * LAYER + (3 * 16 * 16 * D + D) + 2 * D + 2 * 2 * D + (D * 101 + 101)


def _paper(**overrides) -> RPESTDT:
    with torch.device("meta"):  # parameter shapes only, no memory or initialisation cost
        return create_model("rpe_stdt", num_classes=101, **overrides)


def _tiny(**overrides) -> RPESTDT:
    return create_model("rpe_stdt", **{**tiny_overrides("rpe_stdt"), "num_classes": 5, **overrides})


@pytest.mark.parametrize(
    ("position_embedding", "extra", "thesis_millions"),
    [
        # Shared RPE: one (50, 64) table per spatial layer, one (2·3 + 2 = 8, 96) per temporal layer.
        ("shared_rpe", 8 * 50 * 64 + 4 * 8 * 96, 97.06),
        ("unshared_rpe", 8 * 12 * 50 * 64 + 4 * 8 * 8 * 96, 97.26),
        # Absolute (learned): 197 spatial positions shared by the frames, 1 + 16 temporal positions.
        ("absolute", 197 * D + 17 * D, 100.7),
    ],
)
def test_paper_size_parameter_counts_against_table_3_1(position_embedding, extra, thesis_millions):
    params = count_parameters(_paper(position_embedding=position_embedding))
    assert params == BACKBONE + extra
    # 8 spatial + 4 temporal ViT-B layers hold 85.0M whatever the positions, so the thesis' 97-100.7M (which no
    # reading of §3.4.2 reaches; see the model docstring) is missed by 11.5-14.7%; this bounds the gap.
    assert 0.85 < params / (thesis_millions * 1e6) < 0.90


def test_table_3_5_top_k_adds_no_parameters_and_conv_does():
    baseline = count_parameters(_paper(position_embedding="absolute", subsampling="none"))
    assert count_parameters(_paper(position_embedding="absolute", subsampling="topk")) == baseline
    conv = count_parameters(_paper(position_embedding="absolute", subsampling="conv"))
    assert conv - baseline == 2 * (D * D * 2 + D)  # two Conv1d(768, 768, 2) subsampling layers


def test_paper_size_tables_have_fifty_clusters_per_frame():
    model = _paper()
    spatial = model.spatial_blocks[0].attn
    temporal = model.temporal_blocks[0].attn
    assert isinstance(spatial, RelativePositionAttention) and spatial.relative_table.shape == (1, 50, 64)
    assert temporal.relative_table.shape == (1, 8, 96)
    assert len(model.spatial_blocks) == 8 and spatial.heads == 12
    assert len(model.temporal_blocks) == 4 and temporal.heads == 8
    assert _paper(position_embedding="unshared_rpe").spatial_blocks[0].attn.relative_table.shape == (12, 50, 64)
    assert _paper(rpe_y=5).spatial_blocks[0].attn.relative_table.shape == (1, 11 * 11 + 1, 64)
    assert isinstance(_paper(position_embedding="absolute").spatial_blocks[0].attn, MultiheadSelfAttention)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"position_embedding": "unshared_rpe"},
        {"position_embedding": "absolute"},
        {"position_embedding": "absolute", "absolute_kind": "sinusoidal"},
        {"rpe_mapping": "clip"},
        {"rpe_distance": "euclidean"},
        {"subsampling": "max_pool"},
        {"subsampling": "avg_pool"},
        {"subsampling": "conv"},
        {"subsampling": "none"},
        {"subsample_layers": (0, 2)},
        {"attention_scheme": "spatial"},
    ],
)
def test_every_switch_runs_on_the_profile_inputs(overrides):
    torch.manual_seed(0)
    model = _tiny(**overrides)
    for shape in ((2, 3, 8, 32, 32), (2, 3, 4, 32, 32), (1, 3, 8, 64, 64)):
        logits = model(torch.randn(shape))
        assert logits.shape == (shape[0], 5) and torch.isfinite(logits).all()
    logits.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def _temporal_lengths(model: RPESTDT, frames: int) -> list[int]:
    """Tokens entering each temporal layer's MLP (after its Top-K, before its uniform subsampling)."""
    lengths = []
    hooks = [
        block.mlp.register_forward_hook(lambda _m, args, _out: lengths.append(args[0].shape[1]))
        for block in model.temporal_blocks
    ]
    model(torch.randn(1, 3, frames, 32, 32))
    for hook in hooks:
        hook.remove()
    return lengths


def test_subsampling_halves_the_frames_after_the_chosen_layers():
    # 1 class token + 8 frames; Top-K at layers 1 and 3 keeps 4 then 2 frames.
    assert _temporal_lengths(_tiny(), 8) == [9, 5, 5, 3]
    assert _temporal_lengths(_tiny(subsample_layers=(0, 2)), 8) == [5, 5, 3, 3]
    assert _temporal_lengths(_tiny(subsampling="none"), 8) == [9, 9, 9, 9]
    # Pooling acts on the layer output, so it shows one layer later in the MLP inputs.
    assert _temporal_lengths(_tiny(subsampling="max_pool"), 8) == [9, 9, 5, 5]
    assert _temporal_lengths(_tiny(topk_keep=3), 8) == [9, 4, 4, 4]


def _first_temporal_attention(model: RPESTDT, frames: torch.Tensor) -> torch.Tensor:
    outputs = []
    hook = model.temporal_blocks[0].attn.register_forward_hook(lambda _m, _args, out: outputs.append(out[0]))
    model.encode_time(frames)
    hook.remove()
    return outputs[0]  # (B, 1 + T, D)


def _order_free(model: RPESTDT, frames: torch.Tensor) -> bool:
    """Whether the first temporal attention is permutation-equivariant over frames (reversal of the clip)."""
    out, reversed_out = _first_temporal_attention(model, frames), _first_temporal_attention(model, frames.flip(1))
    return torch.allclose(reversed_out[:, 1:], out[:, 1:].flip(1), atol=1e-5)


@torch.no_grad()
def test_temporal_positions_make_the_temporal_encoder_order_aware():
    torch.manual_seed(0)
    frames = torch.randn(2, 8, 32)
    model = _tiny(subsampling="none").eval()
    for block in model.temporal_blocks:
        block.attn.relative_table.zero_()  # p_ij = 0: Eq. (3.7) reduces to plain attention
    assert _order_free(model, frames)
    for block in model.temporal_blocks:
        block.attn.relative_table.normal_()
    assert not _order_free(model, frames)
    absolute = _tiny(subsampling="none", position_embedding="absolute").eval()
    assert not _order_free(absolute, frames)
    absolute.temporal_positions.positions.zero_()
    assert _order_free(absolute, frames)


def test_spatial_only_scheme_is_order_free():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 8, 32, 32)
    spatial = _tiny(attention_scheme="spatial").eval()
    assert torch.allclose(spatial(x), spatial(x.flip(2)), atol=1e-5)


def test_spatial_scheme_averages_frame_features():
    torch.manual_seed(0)
    model = _tiny(attention_scheme="spatial").eval()
    assert not hasattr(model, "temporal_blocks")
    x = torch.randn(2, 3, 4, 32, 32)
    assert torch.allclose(model(x), model.head(model.encode_frames(x).mean(1)), atol=1e-6)


def test_relative_positions_follow_the_patch_grid():
    model = _tiny()
    assert model.spatial_index(4, 4, torch.device("cpu")).shape == (17, 17)
    assert model.spatial_index(8, 8, torch.device("cpu")).shape == (65, 65)
    with pytest.raises(ValueError, match="H = 36"):
        model(torch.randn(1, 3, 4, 36, 32))
    with pytest.raises(ValueError, match="expects"):
        model(torch.randn(1, 1, 4, 32, 32))


def test_too_many_pooling_layers_for_the_clip_is_an_error():
    with pytest.raises(ValueError, match=r"model\.subsample_layers"):
        model_config("rpe_stdt", num_frames=2, subsampling="max_pool")
    model = _tiny(subsampling="avg_pool")
    with pytest.raises(ValueError, match="at least 2 frames"):
        model(torch.randn(1, 3, 2, 32, 32))
    assert _tiny()(torch.randn(1, 3, 2, 32, 32)).shape == (1, 5)  # Top-K keeps at least one frame


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"position_embedding": "rope"}, "model.position_embedding"),
        ({"rpe_mapping": "log"}, "model.rpe_mapping"),
        ({"rpe_distance": "manhattan"}, "model.rpe_distance"),
        ({"rpe_y": 0}, "model.rpe_y"),
        ({"rpe_ratio": (3.0, 2.0, 8.0)}, "model.rpe_ratio"),
        ({"rpe_ratio": (1.0, 2.0)}, "model.rpe_ratio"),
        ({"subsampling": "median"}, "model.subsampling"),
        ({"subsample_layers": (4,)}, "model.subsample_layers"),
        ({"subsample_layers": (1, 1)}, "model.subsample_layers"),
        ({"topk_keep": 0}, "model.topk_keep"),
        ({"topk_keep": 1.5}, "model.topk_keep"),
        ({"attention_scheme": "joint"}, "model.attention_scheme"),
        ({"absolute_kind": "rotary"}, "model.absolute_kind"),
        ({"temporal_heads": 5}, "model.temporal_heads"),
        ({"image_size": 230}, "model.image_size"),
        ({"spatial_depth": 0}, "model.spatial_depth"),
        ({"dropout": 1.0}, "model.dropout"),
    ],
)
def test_config_validation_names_the_field(overrides, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        RPESTDTConfig(**overrides)


def test_config_defaults_are_the_thesis_recipe_and_lists_become_tuples():
    config = model_config("rpe_stdt")
    assert (config.spatial_depth, config.spatial_heads, config.temporal_depth, config.temporal_heads) == (8, 12, 4, 8)
    assert (config.num_frames, config.image_size // config.patch_size) == (16, 14)
    assert (config.position_embedding, config.rpe_mapping, config.rpe_y, config.rpe_ratio) == (
        "shared_rpe",
        "sectioned",
        3,
        (1.0, 2.0, 8.0),
    )
    assert (config.subsampling, config.subsample_layers) == ("topk", (1, 3))
    listed = RPESTDTConfig(subsample_layers=[0, 2], rpe_ratio=[1, 2, 8])
    assert listed.subsample_layers == (0, 2) and listed.rpe_ratio == (1, 2, 8)
    with pytest.raises(AttributeError):
        config.rpe_y = 4  # type: ignore[misc]


def test_tiny_model_is_tiny():
    assert count_parameters(_tiny()) < 1_000_000


@pytest.mark.parametrize(
    ("position_embedding", "expected", "thesis_millions"),
    [("shared_rpe", 98_744_421, 97.06), ("unshared_rpe", 99_181_157, 97.26), ("absolute", 98_863_973, 100.7)],
)
def test_twelve_layer_spatial_reading_is_within_ten_percent_of_table_3_1(position_embedding, expected, thesis_millions):
    # The full ViT-B (12 layers) as spatial encoder and a 512-wide temporal encoder (8 heads of 64): the reading of
    # §3.4.2 that matches the thesis' reported totals (see the model docstring); the defaults keep L_(S) = 8.
    model = _paper(position_embedding=position_embedding, spatial_depth=12, temporal_dim=512)
    params = count_parameters(model)
    assert params == expected
    assert abs(params / (thesis_millions * 1e6) - 1) < 0.10
    tables = {"shared_rpe": 4 * 8 * 64, "unshared_rpe": 4 * 8 * 8 * 64, "absolute": 0}[position_embedding]
    temporal = 4 * (12 * 512 * 512 + 13 * 512) + tables  # four pre-norm layers at width 512, (8, 64) cluster tables
    assert sum(p.numel() for p in model.temporal_blocks.parameters()) == temporal
    assert model.temporal_proj.weight.shape == (512, D) and model.head.in_features == 512


def test_temporal_dim_narrows_the_temporal_encoder_and_trains():
    model = _tiny(temporal_dim=16, temporal_heads=2)
    assert model.temporal_norm.normalized_shape == (16,) and model.spatial_norm.normalized_shape == (32,)
    x = torch.randn(2, 3, 8, 32, 32)
    logits = model(x)
    assert logits.shape == (2, 5)
    logits.sum().backward()
    assert model.temporal_proj.weight.grad is not None and model.patch_embed.proj.weight.grad is not None
    assert isinstance(_tiny().temporal_proj, torch.nn.Identity)  # 0: the spatial width, no projection
    with pytest.raises(ValueError, match="model.temporal_dim = 16 must be divisible by model.temporal_heads = 3"):
        RPESTDTConfig(temporal_dim=16, temporal_heads=3)
    with pytest.raises(ValueError, match="model.temporal_dim must be an int >= 0"):
        RPESTDTConfig(temporal_dim=-1)
