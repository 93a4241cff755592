"""X3D building blocks: rounding rules, shapes through stem / blocks / stages / backbone, SE on alternate blocks."""

import pytest
import torch
from torch import nn

from actrec.layers.x3d import (
    X3D_M,
    X3D_S,
    SqueezeExcitation,
    X3DBackbone,
    X3DBottleneck,
    X3DHead,
    X3DStage,
    X3DStem,
    init_x3d_weights,
    round_repeats,
    round_width,
    x3d_depths,
    x3d_m,
    x3d_s,
    x3d_widths,
)
from actrec.models.complexity import count_parameters


def test_expansion_rounding_gives_x3d_widths_and_depths():
    assert x3d_widths(2.0) == (24, (24, 48, 96, 192))  # γ_w = 2 on X2D's 12
    assert x3d_depths(2.2) == (3, 5, 11, 7)  # ⌈2.2 · (1, 2, 5, 3)⌉
    assert [round_repeats(d, 2.2) for d in (1, 2, 5, 3)] == [3, 5, 11, 7]
    assert [round_width(inner, 1 / 16) for inner in (54, 108, 216, 432)] == [8, 8, 16, 32]  # SE widths
    assert round_width(12, 2) == 24 and round_width(27, 1) == 32  # 24 < 0.9 · 27 → one divisor more
    for spec in (X3D_S, X3D_M):
        assert (spec.stem_width, spec.stage_widths, spec.stage_depths) == (24, (24, 48, 96, 192), (3, 5, 11, 7))
    assert (X3D_S.num_frames, X3D_S.image_size, X3D_M.num_frames, X3D_M.image_size) == (13, 160, 16, 224)


def test_stem_is_spatial_then_depthwise_temporal_conv():
    stem = X3DStem(3, 24)
    assert stem.conv_xy.kernel_size == (1, 3, 3) and stem.conv_xy.stride == (1, 2, 2)
    assert stem.conv_t.kernel_size == (5, 1, 1) and stem.conv_t.groups == 24
    assert stem(torch.randn(2, 3, 4, 32, 32)).shape == (2, 24, 4, 16, 16)
    assert X3DStem(17, 8, spatial_stride=1)(torch.randn(1, 17, 3, 20, 20)).shape == (1, 8, 3, 20, 20)


def test_squeeze_excitation_gates_each_channel_by_a_factor_in_0_1():
    se = SqueezeExcitation(54)
    assert se.reduced_channels == 8 and se.fc1.bias is not None and se.fc2.bias is not None
    x = torch.rand(2, 54, 3, 5, 5) + 0.1
    ratio = se(x) / x
    assert ((ratio > 0) & (ratio < 1)).all()
    assert torch.allclose(ratio, ratio[:, :, :1, :1, :1].expand_as(ratio))  # one factor per (sample, channel)


def test_bottleneck_shapes_depthwise_conv_and_shortcut():
    block = X3DBottleneck(24, 108, 48, spatial_stride=2, se_ratio=1 / 16)
    assert block.conv_b.groups == 108 and block.conv_b.kernel_size == (3, 3, 3) and block.conv_b.stride == (1, 2, 2)
    assert isinstance(block.shortcut, nn.Sequential) and isinstance(block.act_b, nn.SiLU)
    assert block(torch.randn(2, 24, 4, 16, 16)).shape == (2, 48, 4, 8, 8)
    same = X3DBottleneck(48, 108, 48)
    assert isinstance(same.shortcut, nn.Identity) and same.se is None
    assert same(torch.randn(1, 48, 2, 8, 8)).shape == (1, 48, 2, 8, 8)
    assert isinstance(X3DBottleneck(8, 18, 8, activation="relu").act_b, nn.ReLU)
    assert isinstance(X3DBottleneck(8, 18, 8, activation="none").act_b, nn.Identity)


def test_stage_has_se_on_alternate_blocks_only():
    stage = X3DStage(24, 48, 5)
    assert len(stage) == 5 and stage.inner_channels == 108
    assert [block.se is not None for block in stage] == [True, False, True, False, True]
    assert [block.conv_b.stride for block in stage] == [(1, 2, 2)] + [(1, 1, 1)] * 4
    assert stage(torch.randn(1, 24, 2, 8, 8)).shape == (1, 48, 2, 4, 4)
    assert all(block.se is None for block in X3DStage(24, 48, 3, se_ratio=None))


def test_x3d_m_backbone_shapes_and_head():
    backbone = X3DBackbone(3)
    assert [len(stage) for stage in backbone.stages] == [3, 5, 11, 7]
    assert [stage.inner_channels for stage in backbone.stages] == [54, 108, 216, 432]
    assert backbone.out_channels == 432 and backbone.spatial_stride == 32
    assert backbone(torch.randn(1, 3, 2, 64, 64)).shape == (1, 432, 2, 2, 2)
    head = X3DHead(432, 10)
    assert head.fc1[0].out_features == 2048 and head.fc1[0].bias is None
    assert head(torch.randn(3, 432, 2, 2, 2)).shape == (3, 10)
    plain = X3DHead(216, 60, hidden_channels=None)
    assert isinstance(plain.fc1, nn.Identity) and plain.fc2.in_features == 216
    assert count_parameters(plain) == 216 * 60 + 60


def test_x3d_builders_have_the_published_parameter_count():
    model = x3d_m(400)  # Kinetics-400: X3D paper, 3.8M
    assert count_parameters(model) == 3_794_322
    assert count_parameters(x3d_s(400)) == 3_794_322  # X3D-S is the same network on smaller clips
    assert model(torch.randn(1, 3, 2, 32, 32)).shape == (1, 400)


def test_init_zeroes_the_last_bn_so_blocks_start_as_their_shortcut():
    block = X3DBottleneck(8, 18, 8)
    init_x3d_weights(block)
    block.eval()
    x = torch.randn(1, 8, 2, 4, 4)
    assert torch.equal(block(x), torch.relu(x))


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: X3DStem(3, 0), "out_channels"),
        (lambda: X3DStem(3, 8, temporal_kernel=4), "temporal_kernel"),
        (lambda: SqueezeExcitation(8, 0.0), "SE ratio"),
        (lambda: X3DBottleneck(8, 18, 8, activation="gelu"), "activation"),
        (lambda: X3DStage(8, 8, 0), "depth"),
        (lambda: X3DBackbone(3, stage_widths=(8, 16), stage_depths=(1,)), "stage_depths"),
        (lambda: X3DHead(8, 0), "num_classes"),
    ],
)
def test_invalid_arguments_raise(build, match):
    with pytest.raises(ValueError, match=match):
        build()
