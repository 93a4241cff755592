"""ResNet blocks on clips: TSM's temporal shift, the per-frame 2D reading of 1×k² kernels, residual shift, strides,
ResNet-50's widths and parameter count."""

import pytest
import torch
import torch.nn.functional as F

from actrec.layers.resnet3d import (
    ResNetBackbone,
    ResNetBottleneck,
    ResNetStage,
    ResNetStem,
    init_resnet_weights,
    temporal_shift,
)
from actrec.models.complexity import count_parameters


def test_temporal_shift_moves_one_eighth_of_the_channels_each_way_with_zeros_at_the_ends():
    # Channel c, frame t holds 100·c + t + 1 (no zeros of its own), 16 channels → fold 2.
    x = (100 * torch.arange(16.0).view(1, 16, 1, 1, 1) + torch.arange(1.0, 5.0).view(1, 1, 4, 1, 1)).expand(
        2, 16, 4, 3, 3
    )
    shifted = temporal_shift(x, 8)
    assert shifted.shape == x.shape
    frames = shifted[0, :, :, 0, 0]
    assert frames[0].tolist() == [2.0, 3.0, 4.0, 0.0]  # channels [0, 2): frame t takes frame t + 1
    assert frames[1].tolist() == [102.0, 103.0, 104.0, 0.0]
    assert frames[2].tolist() == [0.0, 201.0, 202.0, 203.0]  # channels [2, 4): frame t takes frame t - 1
    assert frames[3].tolist() == [0.0, 301.0, 302.0, 303.0]
    assert torch.equal(shifted[:, 4:], x[:, 4:])  # the other 3/4 stay
    with pytest.raises(ValueError, match="shift_div"):
        temporal_shift(x, 1)


def test_temporal_shift_passes_gradients_to_the_shifted_frames():
    x = torch.randn(1, 8, 3, 2, 2, requires_grad=True)
    temporal_shift(x, 8)[:, 0, 0].sum().backward()  # channel 0 of frame 0 is channel 0 of frame 1 of the input
    assert x.grad[0, 0, 1].abs().sum() > 0 and x.grad[0, 0, 0].abs().sum() == 0 and x.grad[0, 1:].abs().sum() == 0


def test_a_block_with_temporal_kernel_1_is_the_2d_block_on_every_frame():
    """The reading TSM needs: 1×k² Conv3d on (B, C, T, H, W) computes each frame's k×k Conv2d."""
    torch.manual_seed(0)
    block = ResNetBottleneck(16, 8, spatial_stride=2).eval()
    for param in block.parameters():
        param.data.normal_(0, 0.2)
    x = torch.randn(2, 16, 3, 10, 10)
    frames = x.permute(0, 2, 1, 3, 4).reshape(6, 16, 10, 10)  # (B·T, C, H, W)

    def bn(y, norm):
        return F.batch_norm(y, norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.0, norm.eps)

    out = F.relu(bn(F.conv2d(frames, block.conv1.weight[:, :, 0]), block.norm1))
    out = F.relu(bn(F.conv2d(out, block.conv2.weight[:, :, 0], stride=2, padding=1), block.norm2))
    out = bn(F.conv2d(out, block.conv3.weight[:, :, 0]), block.norm3)
    conv, norm = block.shortcut
    expected = F.relu(out + bn(F.conv2d(frames, conv.weight[:, :, 0], stride=2), norm))
    with torch.no_grad():
        got = block(x)
    torch.testing.assert_close(got, expected.reshape(2, 3, 32, 5, 5).permute(0, 2, 1, 3, 4))


def test_residual_shift_leaves_the_shortcut_unshifted():
    """TSM §3.3's residual shift: with the residual branch at zero (the initial zeroed last BN), a block with the
    shift is the ReLU of its unshifted input."""
    block = ResNetBottleneck(32, 8, shift_div=8)
    init_resnet_weights(block)
    x = torch.randn(2, 32, 4, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(block.eval()(x), F.relu(x))
    assert isinstance(block.shortcut, torch.nn.Identity)


def test_temporal_kernel_and_strides():
    block = ResNetBottleneck(16, 8, spatial_stride=2, temporal_stride=2, temporal_kernel=3)
    assert block.conv1.kernel_size == (3, 1, 1) and block.conv2.stride == (2, 2, 2)
    assert block(torch.randn(1, 16, 6, 8, 8)).shape == (1, 32, 3, 4, 4)
    stage = ResNetStage(16, 8, 3, spatial_stride=2, temporal_stride=1)
    assert [b.conv2.stride for b in stage] == [(1, 2, 2), (1, 1, 1), (1, 1, 1)]
    assert isinstance(stage[0].shortcut, torch.nn.Sequential) and isinstance(stage[1].shortcut, torch.nn.Identity)
    with pytest.raises(ValueError, match="temporal_kernel"):
        ResNetBottleneck(16, 8, temporal_kernel=2)
    with pytest.raises(ValueError, match="shift_div"):
        ResNetBottleneck(16, 8, shift_div=1)


def test_stem_strides_and_pool():
    stem = ResNetStem(3)
    assert stem(torch.randn(1, 3, 2, 224, 224)).shape == (1, 64, 2, 56, 56)
    same = ResNetStem(17, 32, spatial_stride=1, pool_stride=1)  # PoseC3D's pose SlowOnly keeps 56²
    assert same(torch.randn(1, 17, 2, 56, 56)).shape == (1, 32, 2, 56, 56)


def test_resnet50_backbone_widths_and_parameter_count():
    with torch.device("meta"):
        backbone = ResNetBackbone(3)
    # torchvision's ResNet-50 has 25,557,032 parameters, 2,049,000 of them its 1000-class fc.
    assert count_parameters(backbone) == 25_557_032 - 2_049_000
    assert [len(stage) for stage in backbone.stages] == [3, 4, 6, 3]
    assert [stage.out_channels for stage in backbone.stages] == [256, 512, 1024, 2048]
    assert backbone.out_channels == 2048 and backbone.spatial_stride == 32
    torch.manual_seed(0)
    small = ResNetBackbone(3, stem_width=8, stage_widths=(4, 4, 8, 8), stage_depths=(1, 1, 1, 1))
    sizes = []
    hooks = [s.register_forward_hook(lambda _m, _i, out: sizes.append(tuple(out.shape[1:]))) for s in small.stages]
    small(torch.randn(1, 3, 2, 64, 64))
    for hook in hooks:
        hook.remove()
    assert sizes == [(16, 2, 16, 16), (16, 2, 8, 8), (32, 2, 4, 4), (32, 2, 2, 2)]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"stage_widths": (64, 128), "stage_depths": (3,)}, "equal length"),
        ({"spatial_strides": (1, 2)}, "spatial_strides"),
        ({"temporal_kernels": (1, 1, 2, 3)}, "temporal_kernels"),
        ({"temporal_strides": (1, 1, 0, 1)}, "temporal_strides"),
    ],
)
def test_backbone_rejects_bad_per_stage_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNetBackbone(3, **kwargs)


def test_init_zeroes_the_last_bn_of_every_bottleneck():
    backbone = ResNetBackbone(3, stem_width=8, stage_widths=(4, 4, 8, 8), stage_depths=(2, 1, 1, 1))
    init_resnet_weights(backbone)
    blocks = [block for stage in backbone.stages for block in stage]
    assert all(block.norm3.weight.abs().sum() == 0 for block in blocks)
    assert all(block.norm1.weight.eq(1).all() and block.norm2.weight.eq(1).all() for block in blocks)
