"""Tables 6-7's backbones (EPAM-Net §4.3): TSM-R50, SlowOnly-R50 RGB, PoseC3D's C3D and pose SlowOnly — their
architectures, parameters and GFLOPs at the paper's inputs against the printed figures, the FLOPs ratios §4.3 states,
a training step of each at tiny size (alone and as EPAM-Net's stream), config validation."""

import dataclasses

import pytest
import torch

from actrec.models.complexity import count_gflops, count_parameters
from actrec.models.epam_backbones import (
    EPAMC3D,
    PAPER_GFLOPS,
    PAPER_PARAMETERS,
    STREAM_CONFIGS,
    EPAMC3DConfig,
    EPAMResNet,
    EPAMResNetConfig,
)
from actrec.models.epam_net import TINY, EPAMNet, EPAMNetConfig
from actrec.models.registry import create_model, model_config, tiny_overrides
from tests.sweep_tools import train_a_step

NAMES = ("epam_rgb_tsm_r50", "epam_rgb_slowonly_r50", "epam_pose_c3d", "epam_pose_slowonly_r50")
RGB = (1, 3, 224, 224)  # batch, channels, side: Table 6's clips are T × 224² (TSM, PoseC3D's RGB SlowOnly, X3D-M)
POSE = (1, 17, 56, 56)  # Table 7's heatmaps: 17 joints at 56², the side of PoseC3D's training crop and of Pose-X3D
# (variant, frames): measured parameters at 60 classes (NTU RGB+D 60) and fvcore GFLOPs of one clip, exactly.
MEASURED = {
    ("epam_rgb_tsm_r50", 8): (23_630_972, 32.875),
    ("epam_rgb_tsm_r50", 16): (23_630_972, 65.750),
    ("epam_rgb_slowonly_r50", 8): (31_757_436, 41.918),
    ("epam_pose_c3d", 48): (3_404_892, 16.799),
    ("epam_pose_slowonly_r50", 48): (2_024_860, 15.776),
}
X3D_GFLOPS = {"epam_rgb_x3d": 4.898, "epam_pose_x3d": 3.977}  # actrec.models.epam (tests/test_models_epam.py)


def _input(name: str, frames: int) -> tuple[int, ...]:
    batch, channels, *side = RGB if "_rgb_" in name else POSE
    return (batch, channels, frames, *side)


@pytest.fixture(scope="module")
def paper_gflops() -> dict[tuple[str, int], float]:
    """fvcore GFLOPs of every Table 6-7 row at the paper's input (models built once on CPU, 60 classes)."""
    torch.manual_seed(0)
    models = {name: create_model(name, num_classes=60) for name in (*NAMES, *X3D_GFLOPS)}
    rows = [*MEASURED, ("epam_rgb_x3d", 16), ("epam_pose_x3d", 48)]
    return {(name, frames): count_gflops(models[name], _input(name, frames)) for name, frames in rows}


# Tolerance for GFLOPs against the printed figures: 2%. The paper prints three significant figures (rounding: at
# most 0.2%) and names no counter; fvcore counts a fused multiply-add as one FLOP, as the paper's abstract defines
# its FLOPs, and leaves out activations, pooling and residual additions, which other counters include: on these
# networks that is ~1-2% (RGB-X3D: 4.898 here vs the paper's 4.97, -1.4%). Every row here is within 0.8%; the exact
# values are pinned as well, so a changed network fails even inside the tolerance.
GFLOPS_TOLERANCE = 0.02


@pytest.mark.parametrize(("name", "frames"), list(MEASURED))
def test_gflops_at_the_paper_inputs_match_tables_6_and_7(paper_gflops, name, frames):
    gflops = paper_gflops[name, frames]
    assert gflops == pytest.approx(MEASURED[name, frames][1], abs=0.001)
    assert abs(gflops / PAPER_GFLOPS[name, frames] - 1) < GFLOPS_TOLERANCE, (gflops, PAPER_GFLOPS[name, frames])


@pytest.mark.parametrize("name", NAMES)
def test_parameters_match_the_printed_figure_within_its_rounding(name):
    """Parameters of the paper-size stream with NTU RGB+D 60's 60 classes, within half a unit of the printed figure's
    last digit (23.6M: ±0.05M) — exact counts pinned. SlowOnly-R50 RGB cannot meet Table 6's 31.9M with 60 classes:
    it has 31,757,436 (31.8M); Table 6's figure is its 120-class count, Table 4's 31.88M (NTU RGB+D 120)."""
    with torch.device("meta"):  # shapes only
        model = create_model(name, num_classes=60)
        ntu120 = create_model(name, num_classes=120)
    frames = {"epam_pose_c3d": 48, "epam_pose_slowonly_r50": 48}.get(name, 8)
    params = count_parameters(model)
    assert params == MEASURED[name, frames][0]
    if name == "epam_rgb_slowonly_r50":
        assert abs(params / 1e6 - 31.9) > 0.05  # 31.757M: no reading with 60 classes prints 31.9M …
        assert count_parameters(ntu120) == 31_880_376  # … the 120-class head gives Table 4's 31.88M → 31.9M
        assert abs(count_parameters(ntu120) / 1e6 - PAPER_PARAMETERS[name] / 1e6) <= 0.05
        return
    assert abs(params - PAPER_PARAMETERS[name]) <= 0.05e6, (params, PAPER_PARAMETERS[name])


def test_tsm_at_8_and_16_frames_is_one_network():
    config = model_config("epam_rgb_tsm_r50")
    assert model_config("epam_rgb_tsm_r50", num_frames=16) == dataclasses.replace(config, num_frames=16)
    torch.manual_seed(0)
    model = create_model("epam_rgb_tsm_r50", **tiny_overrides("epam_rgb_tsm_r50"), num_classes=5).eval()
    with torch.no_grad():
        for frames in (8, 16):  # any clip length through the same weights; time is kept
            assert model.features(torch.randn(1, 3, frames, 32, 32)).shape[2] == frames


def test_section_4_3_flops_ratios(paper_gflops):
    """§4.3's FLOPs statements, checked on the measured counts (they are about model sizes, which the accuracy claims
    of the sweeps cannot check): X3D's '8.5-13.3x reduction in FLOPs' against SlowOnly and TSM-16 (the paper's 42.0
    and 65.9 over Table 4's 4.97: 8.45 and 13.26), Pose-X3D's '4.2% less FLOPs' than C3D, which the printed 16.8 / 4.03
    = 4.17 shows to be 4.2x (4.2% less would be 16.1 GFLOPs), and its '3.9x less' than pose SlowOnly (15.9 / 4.03 =
    3.95). Each measured ratio within 4% of the stated one: twice the GFLOPs tolerance, both counts carrying it."""
    rgb_x3d, pose_x3d = paper_gflops["epam_rgb_x3d", 16], paper_gflops["epam_pose_x3d", 48]
    ratios = {
        8.5: paper_gflops["epam_rgb_slowonly_r50", 8] / rgb_x3d,  # 8.56
        13.3: paper_gflops["epam_rgb_tsm_r50", 16] / rgb_x3d,  # 13.42
        4.2: paper_gflops["epam_pose_c3d", 48] / pose_x3d,  # 4.22
        3.9: paper_gflops["epam_pose_slowonly_r50", 48] / pose_x3d,  # 3.97
    }
    for stated, measured in ratios.items():
        assert abs(measured / stated - 1) < 0.04, (stated, measured)
    assert 1 - pose_x3d / paper_gflops["epam_pose_c3d", 48] > 0.7  # "4.2% less" read literally is far off


def test_tsm_r50_is_resnet50_with_residual_shift_on_every_block():
    with torch.device("meta"):
        model = create_model("epam_rgb_tsm_r50")
    blocks = [block for stage in model.backbone.stages for block in stage]
    assert len(blocks) == 16 and all(block.shift_div == 8 for block in blocks)  # 1/8 each way (TSM §3.3)
    assert all(block.conv1.kernel_size == (1, 1, 1) and block.conv2.kernel_size == (1, 3, 3) for block in blocks)
    assert model.backbone.stem.conv.kernel_size == (1, 7, 7) and model.backbone.stem.conv.stride == (1, 2, 2)
    assert model.head.fc2.in_features == 2048 and isinstance(model.head.fc1, torch.nn.Identity)
    assert model.config.feature_shape == (8, 7, 7) and model.config.feature_channels == 2048


def test_slowonly_r50_inflates_res4_and_res5_only():
    with torch.device("meta"):
        model = create_model("epam_rgb_slowonly_r50")
    kernels = [{block.conv1.kernel_size for block in stage} for stage in model.backbone.stages]
    assert kernels == [{(1, 1, 1)}, {(1, 1, 1)}, {(3, 1, 1)}, {(3, 1, 1)}]  # SlowFast Table 1's Slow pathway
    assert all(block.shift_div == 0 for stage in model.backbone.stages for block in stage)
    assert [len(stage) for stage in model.backbone.stages] == [3, 4, 6, 3]
    assert model.config.feature_shape == (8, 7, 7)


def test_pose_slowonly_is_posec3d_s_variant():
    model = create_model("epam_pose_slowonly_r50").eval()
    backbone = model.backbone
    assert backbone.stem.conv.in_channels == 17 and backbone.stem.conv.out_channels == 32
    assert backbone.stem.conv.stride == (1, 1, 1) and backbone.stem.pool.stride == (1, 1, 1)
    assert [len(stage) for stage in backbone.stages] == [4, 6, 3]  # ResNet-50's res3-res5 depths, no res2
    assert [stage.out_channels for stage in backbone.stages] == [128, 256, 512]  # half of ResNet-50's
    kernels = [{block.conv1.kernel_size[0] for block in stage} for stage in backbone.stages]
    assert kernels == [{1}, {3}, {3}]
    assert [stage[0].conv2.stride for stage in backbone.stages] == [(1, 2, 2), (1, 2, 2), (2, 2, 2)]
    with torch.no_grad():  # 48 heatmaps of 56² (Table 7) → 24 frames of 7² after the last stage's temporal stride
        assert model.features(torch.zeros(1, 17, 48, 56, 56)).shape == (1, 512, 24, 7, 7)
    assert model.config.feature_shape == (24, 7, 7)


def test_pose_c3d_is_posec3d_s_c3d():
    model = create_model("epam_pose_c3d").eval()
    convs = [m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv3d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 128, 256, 256]
    assert all(c.kernel_size == (3, 3, 3) for c in convs) and convs[0].in_channels == 17
    with torch.no_grad():
        assert model.features(torch.zeros(1, 17, 48, 56, 56)).shape == (1, 256, 48, 7, 7)
    assert model.config.feature_shape == (48, 7, 7) and model.head.fc2.in_features == 256


@pytest.mark.parametrize("name", NAMES)
def test_tiny_model_takes_a_training_step(name):
    """One SGD step at tiny size changes the weights and lowers the loss on the batch it saw."""
    torch.manual_seed(0)
    model = create_model(name, **tiny_overrides(name), num_classes=4, dropout=0.0)
    config = model.config
    x = torch.randn(4, config.in_channels, config.num_frames, config.image_size, config.image_size)
    target = torch.tensor([0, 1, 2, 3])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss = torch.nn.functional.cross_entropy(model(x), target)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    optimizer.step()
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    with torch.no_grad():
        assert torch.nn.functional.cross_entropy(model(x), target) < loss


@pytest.mark.parametrize(
    ("stream", "variant"),
    [
        ("rgb", "epam_rgb_tsm_r50"),
        ("rgb", "epam_rgb_slowonly_r50"),
        ("pose", "epam_pose_c3d"),
        ("pose", "epam_pose_slowonly_r50"),
    ],
)
def test_each_backbone_trains_as_epam_net_s_single_stream(stream, variant):
    """As the sweeps run them: ``epam_net`` with ``model.streams`` and the variant, tiny (EPAM-Net's own stream
    overrides apply to every backbone), one training step through the training loop's protocol."""
    config = {
        "model.name": "epam_net",
        "model.size": "tiny",
        "model.streams": stream,
        "model.attention": "none",
        f"model.{stream}_variant": variant,
        "data.modality": "rgb_pose",
        "data.num_frames": 4,
        "data.crop_size": 96,
        "data.resize": 96,
    }
    terms = train_a_step(config)
    assert set(terms) == {f"ce_{stream}"}


def test_backbones_are_epam_net_streams_with_attention():
    """The streams plug into the joint network: TSM / SlowOnly RGB and C3D pose give 3 × 3 grids at the tiny sizes;
    the pose SlowOnly's halved frames are refused for time-strided sampling, naming the field."""
    torch.manual_seed(0)
    for rgb in ("epam_rgb_tsm_r50", "epam_rgb_slowonly_r50"):
        model = EPAMNet(EPAMNetConfig(num_classes=5, rgb_variant=rgb, pose_variant="epam_pose_c3d", **TINY))
        assert isinstance(model.rgb, EPAMResNet) and isinstance(model.pose, EPAMC3D)
        output = model(torch.randn(2, 3, 4, 96, 96), torch.randn(2, 17, 12, 24, 24))
        assert output.shape == (2, 2, 5)
    with pytest.raises(ValueError, match=r"model\.pose_overrides: the pose features' frames \(6\)"):
        EPAMNetConfig(pose_variant="epam_pose_slowonly_r50", **TINY)
    EPAMNetConfig(pose_variant="epam_pose_slowonly_r50", attention="none", **TINY)
    with pytest.raises(ValueError, match="model.rgb_variant must be an EPAM-Net stream variant"):
        EPAMNetConfig(rgb_variant="mfst_base")
    assert {type(model_config(name)) for name in NAMES} <= set(STREAM_CONFIGS)


def test_every_stream_config_takes_epam_net_s_tiny_overrides():
    for name in (*NAMES, "epam_rgb_x3d", "epam_pose_x3d"):
        stream = "rgb" if "_rgb_" in name else "pose"
        model_config(name, **TINY[f"{stream}_overrides"])  # no unknown field


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_classes", 0),
        ("in_channels", 1.5),
        ("num_frames", 0),
        ("image_size", True),
        ("stem_width", 0),
        ("stage_widths", ()),
        ("stage_depths", (1, 2, 3, 4, 5)),
        ("head_channels", -1),
        ("dropout", 1.0),
    ],
)
def test_invalid_config_raises_naming_the_field(field, value):
    for name in NAMES:
        with pytest.raises(ValueError, match=rf"model\.{field}"):
            model_config(name, **{field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("spatial_strides", (2, 2)),
        ("temporal_strides", (1, 1, 0, 1)),
        ("temporal_kernels", (1, 1, 2, 2)),
        ("shift_div", 1),
        ("stem_spatial_stride", 0),
        ("stem_pool_stride", 0),
    ],
)
def test_invalid_resnet_config_raises_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"model\.{field}"):
        model_config("epam_rgb_slowonly_r50", **{field: value})


def test_invalid_c3d_config_and_wrong_config_types():
    with pytest.raises(ValueError, match=r"model\.temporal_downsample"):
        model_config("epam_pose_c3d", temporal_downsample=1)
    with pytest.raises(TypeError, match="EPAMResNetConfig"):
        EPAMResNet(EPAMC3DConfig())
    with pytest.raises(TypeError, match="EPAMC3DConfig"):
        EPAMC3D(EPAMResNetConfig())
    with pytest.raises(ValueError, match=r"\(B, 17, T, H, W\)"):
        create_model("epam_pose_c3d", **tiny_overrides("epam_pose_c3d")).features(torch.randn(1, 3, 4, 16, 16))
    assert model_config("epam_pose_c3d", stage_widths=[8, 16, 24]).stage_widths == (8, 16, 24)  # lists → tuples
