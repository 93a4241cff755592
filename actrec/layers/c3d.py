"""C3D building blocks (Tran et al., "Learning Spatiotemporal Features with 3D Convolutional Networks", ICCV 2015,
§3.1-§3.3) as PoseC3D uses them on pose heatmaps (Duan et al., "Revisiting Skeleton-based Action Recognition", CVPR
2022, §3.3: its "C3D" backbone; EPAM-Net Table 7 compares Pose-X3D with it).

``clip (B, C, T, H, W) → conv1a: 3×3×3 conv to the stem width, BN, ReLU → stages, each: 1×2² average pool (2×2²
with ``temporal_downsample`` after the first) then ``depth`` × [3×3×3 conv, BN, ReLU]``.

C3D's conv layers are all 3×3×3 with stride 1 and "same" padding (Tran et al. §3.2-§3.3); its network (§3.3) is
conv1a 64, pool1 (1×2²), conv2a 128, pool2 (2×2²), conv3a-b 256, pool3, conv4a-b 512, pool4, conv5a-b 512, pool5,
fc6-fc7 4096, with max pooling and no BN. PoseC3D's variant (its released ``C3D`` backbone, which EPAM-Net's "C3D [12]"
row cites) keeps the 3×3×3 convs and the stage layout and changes what this module changes: a BN after every conv
(convs without bias), average instead of max pooling, no fc6-fc7 (a pooled classifier instead), and the widths, number
of stages and temporal pooling as arguments (``C3DBackbone``; PoseC3D's "C3D-light" on heatmaps: stem 32, stages 64,
128, 256 of 1, 2, 2 convs, no temporal pooling). Initialisation (``init_c3d_weights``): Kaiming normal (fan-out, ReLU
gain) convolutions, BN weight 1 and bias 0, fc layers normal(0, 0.01) with zero bias (PoseC3D's).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from actrec.layers.x3d import init_conv_bn_linear


def _check_int(name: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


class C3DConv(nn.Sequential):
    """One C3D layer as PoseC3D builds it: 3×3×3 conv (stride 1, "same" padding, no bias), BN, ReLU.
    ``(B, in_channels, T, H, W) -> (B, out_channels, T, H, W)``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        _check_int("in_channels", in_channels)
        _check_int("out_channels", out_channels)
        super().__init__(
            nn.Conv3d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
        )


class C3DStage(nn.Sequential):
    """A pooling layer and the C3D convs after it: 1×2² average pool (``temporal_stride`` 2: 2×2²), then ``depth``
    ``C3DConv`` layers to ``out_channels``. ``(B, in_channels, T, H, W) -> (B, out_channels, T / t, H / 2, W / 2)``."""

    def __init__(self, in_channels: int, out_channels: int, depth: int, *, temporal_stride: int = 1) -> None:
        _check_int("depth", depth)
        if temporal_stride not in (1, 2):
            raise ValueError(f"temporal_stride must be 1 or 2, got {temporal_stride!r}")
        pool = (temporal_stride, 2, 2)
        super().__init__(
            nn.AvgPool3d(kernel_size=pool, stride=pool),
            *(C3DConv(in_channels if index == 0 else out_channels, out_channels) for index in range(depth)),
        )


class C3DBackbone(nn.Module):
    """C3D without its classifier: conv1a (``stem_width``) → ``C3DStage`` per ``stage_widths`` / ``stage_depths``.

    The first pool is spatial only (C3D's pool1); the later ones also halve time with ``temporal_downsample``.
    ``forward(x)``: ``(B, in_channels, T, H, W) -> (B, out_channels, T', H / 2^S, W / 2^S)``, ``S`` stages,
    ``out_channels = stage_widths[-1]``. PoseC3D's C3D-light on 17 heatmaps of 48 × 56²: (B, 256, 48, 7, 7).
    """

    def __init__(
        self,
        in_channels: int,
        *,
        stem_width: int = 32,
        stage_widths: Sequence[int] = (64, 128, 256),
        stage_depths: Sequence[int] = (1, 2, 2),
        temporal_downsample: bool = False,
    ) -> None:
        super().__init__()
        stage_widths, stage_depths = tuple(stage_widths), tuple(stage_depths)
        if not stage_widths or len(stage_widths) != len(stage_depths):
            raise ValueError(
                f"stage_widths and stage_depths must be non-empty and of equal length, got {stage_widths!r} and "
                f"{stage_depths!r}"
            )
        if not isinstance(temporal_downsample, bool):
            raise ValueError(f"temporal_downsample must be a bool, got {temporal_downsample!r}")
        self.stem = C3DConv(in_channels, stem_width)
        width, stages = stem_width, []
        for index, (out_width, depth) in enumerate(zip(stage_widths, stage_depths, strict=True)):
            temporal_stride = 2 if temporal_downsample and index > 0 else 1
            stages.append(C3DStage(width, out_width, depth, temporal_stride=temporal_stride))
            width = out_width
        self.stages = nn.ModuleList(stages)
        self.out_channels = width
        self.spatial_stride = 2 ** len(stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x


def init_c3d_weights(module: nn.Module) -> None:
    """PoseC3D's C3D initialisation of every submodule of ``module``: the video CNNs' common one
    (:func:`actrec.layers.x3d.init_conv_bn_linear`: Kaiming convolutions, BN 1/0, fc normal(0, 0.01))."""
    init_conv_bn_linear(module)
