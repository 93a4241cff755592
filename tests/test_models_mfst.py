"""MFST (Ma et al. 2023): paper-size parameter counts, config validation, and the ablation switches."""

import itertools

import pytest
import torch

from actrec.config import from_flat
from actrec.layers.cdc import TEMPORAL_READINGS, CDCConv3d
from actrec.models import create_model, model_config, tiny_overrides
from actrec.models.mfst import MFST, CDCStem, MFSTConfig, TwoStreamMFST, WeightSharedMultiScaleTransformer


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _tiny(name: str = "mfst_base", **overrides) -> MFST:
    return create_model(name, **{**tiny_overrides(name), "num_classes": 5, **overrides})


@pytest.mark.parametrize(("name", "paper_millions"), [("mfst_base", 32.6), ("mfst_large", 49.7)])
def test_paper_size_parameter_counts_match_table_iii(name, paper_millions):
    params = _count(create_model(name, num_classes=60))
    assert abs(params / 1e6 - paper_millions) / paper_millions < 0.15


@pytest.mark.parametrize("stages", [1, 2, 3, 4, 5])
def test_every_stage_count_of_the_stage_sweep_builds(stages):
    # The stage sweep (Table III, --stages-grid) tries 1-5 stages at paper and at tiny size.
    assert len(model_config("mfst_base", stages=stages).stage_dims) == stages
    model = _tiny(stages=stages)
    assert len(model.stages) == stages
    assert model(torch.randn(1, 3, 4, 32, 32)).shape == (1, 5)
    with pytest.raises(ValueError, match=r"model\.dims"):
        model_config("mfst_base", stages=6)
    with pytest.raises(ValueError, match=r"model\.dims"):
        model_config("mfst_base", **{**tiny_overrides("mfst_base"), "stages": 6})


def test_large_is_base_plus_one_stage():
    base, large = create_model("mfst_base", **tiny_overrides("mfst_base")), _tiny("mfst_large")
    assert len(base.stages) == 3 and len(large.stages) == 4
    assert _count(large) > _count(base)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"theta": 1.5}, "model.theta"),
        ({"stem": "foo"}, "model.stem"),
        ({"stages": 0}, "model.stages"),
        ({"stages": 4, "dims": (16, 24)}, "model.dims"),
        ({"temporal_block": "X-Trans"}, "model.temporal_block"),
        ({"knn_k": 0}, "model.knn_k"),
        ({"knn_k": 1.5}, "model.knn_k"),
        ({"dims": (15, 24, 32)}, "model.dims"),
        ({"heads": 0}, "model.heads"),
        ({"stem_channels": (8,)}, "model.stem_channels"),
        ({"inception_kernels": (1, 2)}, "model.inception_kernels"),
        ({"temporal_scales": 0}, "model.temporal_scales"),
        ({"dropout": 1.0}, "model.dropout"),
        ({"residual": "yes"}, "model.residual"),
        ({"cdc_t_reading": "all"}, "model.cdc_t_reading"),
    ],
)
def test_config_validation_names_the_field(overrides, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        MFSTConfig(**{"stages": 3, "dims": (16, 24, 32), "heads": 2, **overrides})


def test_config_is_frozen_and_lists_become_tuples():
    config = MFSTConfig(dims=[16, 24, 32, 32], stem_channels=[8, 16], heads=2)
    assert config.dims == (16, 24, 32, 32) and config.stem_channels == (8, 16)
    with pytest.raises(AttributeError):
        config.theta = 0.1  # type: ignore[misc]


@pytest.mark.parametrize("cdc", ["CDC-ST", "CDC-T"])
def test_theta_zero_cdc_stem_equals_vanilla_stem(cdc):
    torch.manual_seed(0)
    vanilla = CDCStem(3, (8, 16), "vanilla", theta=0.6).eval()
    cdc_stem = CDCStem(3, (8, 16), cdc, theta=0.0).eval()
    cdc_stem.load_state_dict(vanilla.state_dict())
    x = torch.randn(2, 3, 8, 32, 32)
    out = vanilla(x)
    assert out.shape == (2, 16, 4, 4, 4)
    torch.testing.assert_close(cdc_stem(x), out, atol=1e-6, rtol=0)
    with_theta = CDCStem(3, (8, 16), cdc, theta=0.6).eval()
    with_theta.load_state_dict(vanilla.state_dict())
    assert not torch.allclose(with_theta(x), out, atol=1e-4)


def test_stem_choice_and_theta_reach_the_cdc_convs():
    model = _tiny(stem="CDC-T", theta=0.8)
    convs = [m for m in model.stem.modules() if hasattr(m, "mode")]
    assert [(c.mode, c.theta) for c in convs] == [("T", 0.8), ("T", 0.8)]
    assert not any(hasattr(m, "mode") for m in _tiny(stem="vanilla").stem.modules())


def test_wms_trans_shares_weights_across_scales():
    torch.manual_seed(1)
    wms, vtrans = _tiny(temporal_block="WMS-Trans"), _tiny(temporal_block="V-Trans")
    assert _count(wms) < _count(vtrans)
    for stage in wms.stages:
        assert len(stage.temporal.transformers) == 1
    for stage in vtrans.stages:
        assert len(stage.temporal.transformers) == 3


def test_wms_trans_scales_are_averaged_through_one_transformer():
    torch.manual_seed(2)
    block = WeightSharedMultiScaleTransformer(
        8, depth=1, heads=2, scales=1, shared=True, knn_k=1.0, mlp_ratio=2.0, dropout=0.0
    )
    x = torch.randn(1, 8, 5, 2, 2)
    single = block(x)
    assert single.shape == x.shape
    multi = WeightSharedMultiScaleTransformer(
        8, depth=1, heads=2, scales=3, shared=True, knn_k=1.0, mlp_ratio=2.0, dropout=0.0
    )
    multi.load_state_dict(block.state_dict())
    assert multi(x).shape == x.shape
    assert not torch.allclose(multi(x), single)


def test_residual_switch_changes_modules_and_output():
    torch.manual_seed(3)
    with_res, without = _tiny(residual=True), _tiny(residual=False)
    assert all(stage.shortcut is not None for stage in with_res.stages)
    assert all(stage.shortcut is None for stage in without.stages)
    assert set(without.state_dict()) < set(with_res.state_dict())
    without.load_state_dict(with_res.state_dict(), strict=False)
    x = torch.randn(2, 3, 8, 32, 32)
    assert not torch.allclose(with_res.eval()(x), without.eval()(x))


@pytest.mark.parametrize(("frames", "size"), [(1, 32), (3, 32), (5, 24), (6, 17), (4, 8)])
def test_any_clip_length_and_small_frames(frames, size):
    model = _tiny("mfst_large")
    logits = model(torch.randn(2, 3, frames, size, size))
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()


def test_bad_input_shape_is_rejected():
    with pytest.raises(ValueError, match="expects"):
        _tiny()(torch.randn(2, 1, 8, 32, 32))


def test_paper_defaults():
    config = model_config("mfst_large")
    assert (config.layers, config.heads, config.spatial_layers, config.temporal_scales) == (4, 8, 4, 3)
    assert (config.stem, config.theta, config.inception_kernels, config.num_classes) == ("CDC-ST", 0.6, (1, 3, 5), 60)


def test_cdc_t_reading_refuses_an_unknown_value_naming_the_field_and_the_values():
    with pytest.raises(ValueError, match=r"model\.cdc_t_reading.*non_centre.*neighbours.*released.*'slices'"):
        model_config("mfst_large", stem="CDC-T", cdc_t_reading="slices")
    with pytest.raises(ValueError, match=r"model\.cdc_t_reading"):
        from_flat({"model.name": "mfst_large", "model.cdc_t_reading": "slices"})


def test_cdc_t_reading_defaults_to_non_centre_and_reaches_the_cdc_t_convs_from_the_dotted_key():
    assert model_config("mfst_large").cdc_t_reading == "non_centre"
    tiny = {f"model.{k}": v for k, v in tiny_overrides("mfst_large").items()}
    cfg = from_flat({"model.name": "mfst_large", "model.stem": "CDC-T", "model.cdc_t_reading": "released", **tiny})
    assert cfg.model.cdc_t_reading == "released"
    convs = [m for m in MFST(cfg.model).stem.modules() if isinstance(m, CDCConv3d)]
    assert [(c.mode, c.kernel_size[0], c.temporal_reading) for c in convs] == [
        ("T", 7, "released"),
        ("T", 3, "released"),
    ]
    # CDC-ST has no T'': the value is ignored there (like θ for a vanilla stem), so one sweep-wide value fits all stems.
    st_convs = [m for m in _tiny(stem="CDC-ST", cdc_t_reading="released").stem.modules() if isinstance(m, CDCConv3d)]
    assert [(c.mode, c.temporal_reading) for c in st_convs] == [("ST", "non_centre")] * 2
    assert not any(isinstance(m, CDCConv3d) for m in _tiny(stem="vanilla", cdc_t_reading="neighbours").modules())


def test_rgbd_model_shares_cdc_t_reading_with_its_depth_stream():
    config = model_config("mfst_large_rgbd", **tiny_overrides("mfst_large_rgbd"), cdc_t_reading="neighbours")
    assert config.stream_config("depth").cdc_t_reading == "neighbours"
    model = TwoStreamMFST(config)
    depth = [(c.mode, c.temporal_reading) for c in model.depth.stem.modules() if isinstance(c, CDCConv3d)]
    rgb = [(c.mode, c.temporal_reading) for c in model.rgb.stem.modules() if isinstance(c, CDCConv3d)]
    assert depth == [("T", "neighbours")] * 2 and rgb == [("ST", "non_centre")] * 2


def test_mfst_large_cdc_t_stem_output_differs_between_readings():
    # Paper-size MFST-Large stem (64, 192 channels), θ = 0.6: only its 7×7×7 conv depends on the reading.
    config = model_config("mfst_large", stem="CDC-T")
    torch.manual_seed(10)
    stems = [CDCStem(3, config.stem_channels, "CDC-T", config.theta, cdc_t_reading=r).eval() for r in TEMPORAL_READINGS]
    for stem in stems[1:]:
        stem.load_state_dict(stems[0].state_dict())
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        outputs = [stem(x) for stem in stems]
    for i, j in itertools.combinations(range(len(outputs)), 2):
        assert not torch.allclose(outputs[i], outputs[j], rtol=1e-3, atol=1e-4)
