"""EPAM-Net streams: Tables 1-2 architectures, RGB-X3D-wide (§4.2), tiny forward/backward, config validation,
Table 4 counts."""

import dataclasses

import pytest
import torch

from actrec.models.complexity import count_gflops, count_parameters
from actrec.models.epam import EPAMX3D, PAPER_GFLOPS, PAPER_PARAMETERS, EPAMX3DConfig
from actrec.models.registry import create_model, list_models, model_config, tiny_overrides

NAMES = ("epam_rgb_x3d", "epam_pose_x3d")
PAPER_CLASSES = {"epam_rgb_x3d": 120, "epam_pose_x3d": 60}  # Table 4 (NTU 120) RGB row; Table 7 (NTU 60) pose row
PAPER_INPUT = {"epam_rgb_x3d": (1, 3, 16, 224, 224), "epam_pose_x3d": (1, 17, 48, 56, 56)}


@pytest.fixture(scope="module")
def paper_models() -> dict[str, EPAMX3D]:
    """The two streams at paper size, built once on CPU."""
    torch.manual_seed(0)
    return {name: create_model(name, num_classes=PAPER_CLASSES[name]) for name in NAMES}


def _tiny(name: str, **overrides) -> EPAMX3D:
    return create_model(name, **{**tiny_overrides(name), "num_classes": 5, **overrides})


def test_registered_variants_share_one_config_class():
    assert set(NAMES) <= set(list_models())
    rgb, pose = model_config("epam_rgb_x3d"), model_config("epam_pose_x3d")
    assert type(rgb) is type(pose) is EPAMX3DConfig
    assert (rgb.in_channels, rgb.num_frames, rgb.image_size) == (3, 16, 224)
    assert (pose.in_channels, pose.num_frames, pose.image_size) == (17, 48, 56)
    assert rgb == EPAMX3DConfig()  # RGB-X3D is X3D-M unchanged
    assert model_config("epam_pose_x3d", num_classes=120).se_ratio == 0.0  # overrides keep the other pose fields


def test_rgb_x3d_is_x3d_m_table_1(paper_models):
    model = paper_models["epam_rgb_x3d"]
    backbone = model.backbone
    assert backbone.stem.conv_xy.stride == (1, 2, 2) and backbone.stem.conv_xy.out_channels == 24
    assert [len(stage) for stage in backbone.stages] == [3, 5, 11, 7]
    assert [stage.inner_channels for stage in backbone.stages] == [54, 108, 216, 432]
    assert [stage[-1].conv_c.out_channels for stage in backbone.stages] == [24, 48, 96, 192]
    for stage in backbone.stages:  # SE on every other block only
        assert [block.se is not None for block in stage] == [i % 2 == 0 for i in range(len(stage))]
    assert backbone.out_channels == 432 and model.head.fc1[0].out_features == 2048
    assert model.config.feature_shape == (16, 7, 7)
    with torch.no_grad():  # the paper's 224² with 2 frames: the 7 × 7 grid of Table 1
        assert model.eval().features(torch.zeros(1, 3, 2, 224, 224)).shape == (1, 432, 2, 7, 7)


def test_pose_x3d_is_table_2(paper_models):
    model = paper_models["epam_pose_x3d"]
    backbone = model.backbone
    assert backbone.stem.conv_xy.stride == (1, 1, 1) and backbone.stem.conv_xy.in_channels == 17
    assert backbone.stem.conv_t.kernel_size == (5, 1, 1)
    assert [len(stage) for stage in backbone.stages] == [5, 11, 7]
    assert [stage.inner_channels for stage in backbone.stages] == [54, 108, 216]
    assert [stage[-1].conv_c.out_channels for stage in backbone.stages] == [24, 48, 96]
    assert all(block.se is None for stage in backbone.stages for block in stage)
    assert backbone.out_channels == 216
    assert isinstance(model.head.fc1, torch.nn.Identity) and model.head.fc2.in_features == 216
    sizes = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: sizes.append(tuple(out.shape[1:])))
        for m in (backbone.stem, *backbone.stages)
    ]
    with torch.no_grad():
        features = model.eval().features(torch.zeros(1, 17, 2, 56, 56))
    for hook in hooks:
        hook.remove()
    assert sizes == [(24, 2, 56, 56), (24, 2, 28, 28), (48, 2, 14, 14), (96, 2, 7, 7)]  # Table 2 output sizes
    assert features.shape == (1, 216, 2, 7, 7) and model.config.feature_shape == (48, 7, 7)


@pytest.mark.parametrize("name", NAMES)
def test_tiny_variant_forward_backward_through_every_stage(name):
    torch.manual_seed(0)
    model = _tiny(name)
    config = model.config
    assert len(model.backbone.stages) == (4 if name == "epam_rgb_x3d" else 3)
    x = torch.randn(2, config.in_channels, 8, 32, 32)
    features = model.features(x)
    assert features.shape == (2, config.feature_channels, *config.feature_shape)
    logits = model(x)
    assert logits.shape == (2, 5)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3])).backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), param_name


def test_features_reject_wrong_channels():
    with pytest.raises(ValueError, match=r"\(B, 17, T, H, W\)"):
        _tiny("epam_pose_x3d").features(torch.randn(1, 3, 8, 32, 32))


def test_list_fields_become_tuples():
    config = model_config("epam_pose_x3d", stage_widths=[8, 16, 24], stage_depths=[1, 1, 1])
    assert config.stage_widths == (8, 16, 24) and config.stage_depths == (1, 1, 1)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_classes", 0),
        ("in_channels", 1.5),
        ("num_frames", 0),
        ("image_size", True),
        ("stem_width", 0),
        ("width_factor", 0),
        ("width_factor", 1.5),
        ("stem_spatial_stride", 0),
        ("stem_temporal_kernel", 4),
        ("stage_widths", ()),
        ("stage_widths", (24, 0, 96, 192)),
        ("stage_depths", (3, 5, 11, 7, 1)),
        ("bottleneck_factor", 0.0),
        ("se_ratio", -0.1),
        ("inner_activation", "gelu"),
        ("head_channels", -1),
        ("dropout", 1.0),
    ],
)
def test_invalid_config_raises_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"model\.{field}"):
        model_config("epam_rgb_x3d", **{field: value})
    with pytest.raises(ValueError, match=rf"model\.{field}"):
        dataclasses.replace(model_config("epam_pose_x3d"), **{field: value})


def test_model_rejects_another_config_type():
    with pytest.raises(TypeError, match="EPAMX3DConfig"):
        EPAMX3D(object())


@pytest.mark.parametrize(("name", "expected"), [("epam_rgb_x3d", 3_220_602), ("epam_pose_x3d", 543_762)])
def test_paper_parameter_counts_table_4(paper_models, name, expected):
    params = count_parameters(paper_models[name])
    assert params == expected
    assert abs(params / PAPER_PARAMETERS[name] - 1) < 0.005


def test_parameter_counts_tables_6_and_7():
    with torch.device("meta"):  # parameter shapes only
        rgb_ntu60 = create_model("epam_rgb_x3d", num_classes=60)
        pose_ntu120 = create_model("epam_pose_x3d", num_classes=120)
    assert count_parameters(rgb_ntu60) == 3_097_662  # Table 6: 3.1M on NTU 60
    assert count_parameters(pose_ntu120) == 543_762 + 216 * 60 + 60  # Table 4 repeats 543.76k for NTU 120
    with torch.device("meta"):
        pose_with_se = create_model("epam_pose_x3d", num_classes=60, se_ratio=1 / 16)
    assert count_parameters(pose_with_se) == 586_180  # X3D-S's SE would miss 543.76k by 7.8%


@pytest.mark.parametrize("name", NAMES)
def test_paper_gflops_table_4(paper_models, name):
    gflops = count_gflops(paper_models[name], PAPER_INPUT[name])
    assert abs(gflops / PAPER_GFLOPS[name] - 1) < 0.10
    assert gflops == pytest.approx({"epam_rgb_x3d": 4.898, "epam_pose_x3d": 3.977}[name], abs=0.001)


def _conv_widths(model: EPAMX3D) -> dict[str, list[int]]:
    """Output channels of every convolution of the backbone and both head widths, by kind."""
    backbone = model.backbone
    return {
        "stem": [backbone.stem.conv_xy.out_channels, backbone.stem.conv_t.out_channels],
        "inner": [stage.inner_channels for stage in backbone.stages],
        "stage": [block.conv_c.out_channels for stage in backbone.stages for block in stage],
        "conv5": [backbone.out_channels],
        "se": [block.se.reduced_channels for stage in backbone.stages for block in stage if block.se is not None],
        "head": [model.head.fc1[0].out_features, model.head.fc2.out_features],
    }


@pytest.mark.parametrize("size", ["paper", "tiny"])
def test_rgb_x3d_wide_doubles_every_stage_width(size):
    overrides = {"num_classes": 60, **(tiny_overrides("epam_rgb_x3d") if size == "tiny" else {})}
    with torch.device("meta"):  # shapes only
        rgb = create_model("epam_rgb_x3d", **overrides)
        wide = create_model("epam_rgb_x3d_wide", **overrides)
    assert tiny_overrides("epam_rgb_x3d_wide") == tiny_overrides("epam_rgb_x3d")  # so tiny-wide is 2 × tiny
    narrow, doubled = _conv_widths(rgb), _conv_widths(wide)
    for kind in ("stem", "inner", "stage", "conv5"):  # "double the number of filters per layer" (§4.2)
        assert doubled[kind] == [2 * width for width in narrow[kind]], kind
    assert doubled["head"] == narrow["head"]  # fc1 (2048 at paper size) and the classifier keep their widths
    assert [len(stage) for stage in wide.backbone.stages] == [len(stage) for stage in rgb.backbone.stages]
    assert wide.config.feature_channels == 2 * rgb.config.feature_channels
    assert wide.config.feature_shape == rgb.config.feature_shape
    if size == "paper":
        assert doubled["stem"][0] == 48 and doubled["inner"] == [108, 216, 432, 864] and doubled["conv5"] == [864]
        assert sorted(set(doubled["se"])) == [8, 16, 32, 56]  # round_width(inner, 1/16) of the doubled widths
        assert (count_parameters(rgb), count_parameters(wide)) == (3_097_662, 9_792_144)


def test_rgb_x3d_wide_is_rgb_x3d_with_width_factor_2():
    wide = model_config("epam_rgb_x3d_wide")
    assert wide == dataclasses.replace(model_config("epam_rgb_x3d"), width_factor=2)
    assert wide.stage_widths == (24, 48, 96, 192) and wide.stage_channels == (48, 96, 192, 384)
    assert model_config("epam_rgb_x3d_wide", width_factor=1) == model_config("epam_rgb_x3d")


def test_tiny_rgb_x3d_wide_forward_backward():
    torch.manual_seed(0)
    model = _tiny("epam_rgb_x3d_wide")
    x = torch.randn(2, 3, 8, 32, 32)
    features = model.features(x)
    assert features.shape == (2, 2 * int(2.25 * 24), 8, 1, 1)  # tiny widths (8, 16, 16, 24) doubled
    torch.nn.functional.cross_entropy(model.head(features), torch.tensor([0, 3])).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_rgb_x3d_wide_gflops_at_the_paper_input():
    torch.manual_seed(0)
    wide = create_model("epam_rgb_x3d_wide", num_classes=60)
    assert count_gflops(wide, PAPER_INPUT["epam_rgb_x3d"]) == pytest.approx(17.614, abs=0.001)  # the docstring's
