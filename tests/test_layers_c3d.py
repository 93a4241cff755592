"""C3D blocks as PoseC3D builds them: 3×3×3 conv + BN + ReLU layers, average pools, stage shapes, temporal pooling."""

import pytest
import torch
from torch import nn

from actrec.layers.c3d import C3DBackbone, C3DConv, C3DStage, init_c3d_weights
from actrec.models.complexity import count_parameters


def test_c3d_conv_is_3x3x3_same_padding_without_bias_then_bn_relu():
    layer = C3DConv(17, 32)
    conv, norm, act = layer
    assert conv.kernel_size == (3, 3, 3) and conv.padding == (1, 1, 1) and conv.bias is None
    assert isinstance(norm, nn.BatchNorm3d) and isinstance(act, nn.ReLU)
    assert layer(torch.randn(1, 17, 5, 9, 9)).shape == (1, 32, 5, 9, 9)


def test_stage_pools_then_convolves():
    stage = C3DStage(8, 16, 2)
    assert isinstance(stage[0], nn.AvgPool3d) and stage[0].kernel_size == (1, 2, 2)
    assert stage(torch.randn(1, 8, 4, 8, 8)).shape == (1, 16, 4, 4, 4)
    assert C3DStage(8, 16, 1, temporal_stride=2)(torch.randn(1, 8, 4, 8, 8)).shape == (1, 16, 2, 4, 4)
    with pytest.raises(ValueError, match="temporal_stride"):
        C3DStage(8, 16, 1, temporal_stride=3)


def test_posec3d_c3d_layout_and_shapes():
    """PoseC3D's C3D on heatmaps: conv1a 32 · pool1 · conv2a 64 · pool2 · conv3a-b 128 · pool3 · conv4a-b 256, no
    temporal pooling."""
    with torch.device("meta"):
        backbone = C3DBackbone(17)
    convs = [m for m in backbone.modules() if isinstance(m, nn.Conv3d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 128, 256, 256]
    pools = [m for m in backbone.modules() if isinstance(m, nn.AvgPool3d)]
    assert [p.kernel_size for p in pools] == [(1, 2, 2)] * 3
    assert count_parameters(backbone) == sum(c.weight.numel() for c in convs) + 2 * (32 + 64 + 2 * 128 + 2 * 256)
    assert backbone.out_channels == 256 and backbone.spatial_stride == 8
    small = C3DBackbone(17, stem_width=4, stage_widths=(4, 8, 8), stage_depths=(1, 1, 1))
    assert small(torch.randn(1, 17, 6, 56, 56)).shape == (1, 8, 6, 7, 7)
    down = C3DBackbone(17, stem_width=4, stage_widths=(4, 8, 8), stage_depths=(1, 1, 1), temporal_downsample=True)
    assert down(torch.randn(1, 17, 8, 56, 56)).shape == (1, 8, 2, 7, 7)  # pool1 spatial only, pool2-3 halve time


def test_backbone_rejects_mismatched_stages():
    with pytest.raises(ValueError, match="equal length"):
        C3DBackbone(17, stage_widths=(64, 128), stage_depths=(1,))
    with pytest.raises(ValueError, match="temporal_downsample"):
        C3DBackbone(17, temporal_downsample=1)


def test_init():
    backbone = C3DBackbone(3, stem_width=4, stage_widths=(4, 8), stage_depths=(1, 1))
    for module in backbone.modules():
        if isinstance(module, nn.BatchNorm3d):
            module.weight.data.fill_(3.0)
    init_c3d_weights(backbone)
    assert all(m.weight.eq(1).all() for m in backbone.modules() if isinstance(m, nn.BatchNorm3d))
