"""ResNet bottleneck blocks on video clips, in the one 3D form that covers the three ResNet-50 video networks EPAM-Net
compares its streams with (EPAM-Net Tables 6-7): TSM (Lin, Gan & Han, "TSM: Temporal Shift Module for Efficient Video
Understanding", ICCV 2019), and the SlowOnly network (the Slow pathway of SlowFast, Feichtenhofer et al., ICCV 2019,
§3.1 and Table 1) on RGB and on pose heatmaps as PoseC3D uses it (Duan et al., "Revisiting Skeleton-based Action
Recognition", CVPR 2022, §3.3).

``clip (B, C, T, H, W) → stem: kt×7² conv (spatial stride s), BN, ReLU, 1×3² max pool (spatial stride p) → stages of
bottlenecks [(temporal shift) → kt×1² conv to w → BN → ReLU → 1×3² conv (strides t, s, s) → BN → ReLU → 1×1² conv to
4w → BN] + shortcut, ReLU``. ResNet-50 is stem 64 and stages of inner widths 64, 128, 256, 512 (outputs 256 … 2048) ×
3, 4, 6, 3 blocks (``RESNET50_WIDTHS``, ``RESNET50_DEPTHS``).

* A 2D ResNet applied to every frame (TSM's backbone) is this network with every temporal kernel 1: a 1×k² Conv3d on
  (B, C, T, H, W) computes exactly the k×k Conv2d of each frame (same weights, same multiply-adds), so TSM needs no
  (B·T)-batched 2D copy of the blocks.
* **Temporal shift** (TSM §3.3, "residual shift"): on the residual branch of every bottleneck, before its first conv
  (the shortcut keeps the unshifted input), 1/``shift_div`` of the channels move one frame back in time and another
  1/``shift_div`` one frame forward, the rest stay (TSM: ``shift_div=8``, a quarter of the channels shifted); the
  frames shifted in at the clip's ends are zeros (TSM's offline, bi-directional shift).
* **Inflation** (SlowFast Table 1, PoseC3D's pose SlowOnly): a stage with ``temporal_kernel=3`` has a 3×1² first conv
  in each block ("non-degenerate temporal convolutions" of res4-res5 in SlowOnly).

Details the papers leave to their code, and the choice made here (torchvision's ResNet-50, on which TSM builds, and
PoseC3D's released ResNet3d, the two agree on all of them):

* the spatial stride of a stage is on its first block's 3×3 conv (ResNet "v1.5"), as is a temporal stride; the
  shortcut is a 1×1² conv with the same strides + BN on a block whose width or resolution changes, else identity;
* convolutions have no bias (a BN follows each); BN with PyTorch defaults;
* initialisation (``init_resnet_weights``): Kaiming normal (fan-out, ReLU gain) convolutions, BN weight 1 and bias 0
  except the last BN of every bottleneck, zeroed so each block starts as its shortcut (PoseC3D's
  ``zero_init_residual``), fc layers normal(0, 0.01) with zero bias.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from actrec.layers.x3d import init_conv_bn_linear

EXPANSION = 4  # bottleneck output / inner width (ResNet-50)
RESNET50_WIDTHS = (64, 128, 256, 512)  # inner widths of res2-res5 (outputs 256, 512, 1024, 2048)
RESNET50_DEPTHS = (3, 4, 6, 3)  # blocks of res2-res5
TSM_SHIFT_DIV = 8  # TSM §3.3: 1/8 of the channels shifted each way


def _check_int(name: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def temporal_shift(x: torch.Tensor, shift_div: int = TSM_SHIFT_DIV) -> torch.Tensor:
    """TSM's bi-directional temporal shift (TSM §3.3) of ``(B, C, T, H, W)``: channels ``[0, C/d)`` take the next
    frame's values (shifted back in time), channels ``[C/d, 2C/d)`` the previous frame's (shifted forward), the rest
    are kept; zeros enter at the clip's ends. Returns a new tensor of the same shape."""
    _check_int("shift_div", shift_div, 2)
    fold = x.shape[1] // shift_div
    back, forward, kept = x[:, :fold], x[:, fold : 2 * fold], x[:, 2 * fold :]
    back = F.pad(back[:, :, 1:], (0, 0, 0, 0, 0, 1))  # frame t ← frame t + 1, last frame zero
    forward = F.pad(forward[:, :, :-1], (0, 0, 0, 0, 1, 0))  # frame t ← frame t - 1, first frame zero
    return torch.cat([back, forward, kept], dim=1)


class ResNetStem(nn.Module):
    """ResNet stem ("conv1" and "pool1"): ``temporal_kernel``×7² conv to ``out_channels`` (``spatial_stride``), BN,
    ReLU, then a 1×3² max pool (``pool_stride``; stride 1 keeps the size, as PoseC3D's pose SlowOnly does).
    ``(B, C, T, H, W) -> (B, out_channels, T, H / (s·p), W / (s·p))``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 64,
        *,
        temporal_kernel: int = 1,
        spatial_stride: int = 2,
        pool_stride: int = 2,
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("temporal_kernel", temporal_kernel),
            ("spatial_stride", spatial_stride),
            ("pool_stride", pool_stride),
        ):
            _check_int(name, value)
        if temporal_kernel % 2 == 0:
            raise ValueError(f"temporal_kernel must be odd ('same' temporal padding), got {temporal_kernel}")
        self.conv = nn.Conv3d(
            in_channels,
            out_channels,
            kernel_size=(temporal_kernel, 7, 7),
            stride=(1, spatial_stride, spatial_stride),
            padding=(temporal_kernel // 2, 3, 3),
            bias=False,
        )
        self.norm = nn.BatchNorm3d(out_channels)
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, pool_stride, pool_stride), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.norm(self.conv(x))))


class ResNetBottleneck(nn.Module):
    """ResNet bottleneck on clips: ``[temporal shift] → kt×1² conv to inner → BN → ReLU → 1×3² conv (strides t, s, s)
    → BN → ReLU → 1×1² conv to 4·inner → BN``, plus the shortcut (identity, or 1×1² conv with strides (t, s, s) + BN
    when width or resolution changes), then ReLU.

    ``(B, in_channels, T, H, W) -> (B, 4·inner_channels, T / t, H / s, W / s)``. ``shift_div`` > 0 shifts 2 /
    ``shift_div`` of the residual branch's input channels in time first (TSM's residual shift, ``temporal_shift``).
    """

    def __init__(
        self,
        in_channels: int,
        inner_channels: int,
        *,
        spatial_stride: int = 1,
        temporal_stride: int = 1,
        temporal_kernel: int = 1,
        shift_div: int = 0,
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("inner_channels", inner_channels),
            ("spatial_stride", spatial_stride),
            ("temporal_stride", temporal_stride),
            ("temporal_kernel", temporal_kernel),
        ):
            _check_int(name, value)
        if temporal_kernel % 2 == 0:
            raise ValueError(f"temporal_kernel must be odd ('same' temporal padding), got {temporal_kernel}")
        if shift_div:
            _check_int("shift_div", shift_div, 2)
        self.shift_div = shift_div
        out_channels = EXPANSION * inner_channels
        self.conv1 = nn.Conv3d(
            in_channels,
            inner_channels,
            kernel_size=(temporal_kernel, 1, 1),
            padding=(temporal_kernel // 2, 0, 0),
            bias=False,
        )
        self.norm1 = nn.BatchNorm3d(inner_channels)
        self.conv2 = nn.Conv3d(
            inner_channels,
            inner_channels,
            kernel_size=(1, 3, 3),
            stride=(temporal_stride, spatial_stride, spatial_stride),
            padding=(0, 1, 1),
            bias=False,
        )
        self.norm2 = nn.BatchNorm3d(inner_channels)
        self.conv3 = nn.Conv3d(inner_channels, out_channels, kernel_size=1, bias=False)
        self.norm3 = nn.BatchNorm3d(out_channels)
        self.act = nn.ReLU(inplace=True)
        if in_channels != out_channels or spatial_stride != 1 or temporal_stride != 1:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv3d(
                    in_channels,
                    out_channels,
                    kernel_size=1,
                    stride=(temporal_stride, spatial_stride, spatial_stride),
                    bias=False,
                ),
                nn.BatchNorm3d(out_channels),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = temporal_shift(x, self.shift_div) if self.shift_div else x
        out = self.act(self.norm1(self.conv1(out)))
        out = self.act(self.norm2(self.conv2(out)))
        out = self.norm3(self.conv3(out))
        return self.act(out + self.shortcut(x))


class ResNetStage(nn.Sequential):
    """One ResNet stage: ``depth`` bottlenecks of inner width ``inner_channels`` (output ``4 · inner_channels``); the
    first carries the stage's spatial and temporal strides and the shortcut projection; every block has the stage's
    ``temporal_kernel`` and ``shift_div``. ``(B, in_channels, T, H, W) -> (B, 4·inner, T / t, H / s, W / s)``."""

    def __init__(
        self,
        in_channels: int,
        inner_channels: int,
        depth: int,
        *,
        spatial_stride: int = 2,
        temporal_stride: int = 1,
        temporal_kernel: int = 1,
        shift_div: int = 0,
    ) -> None:
        _check_int("depth", depth)
        _check_int("inner_channels", inner_channels)
        super().__init__(
            *(
                ResNetBottleneck(
                    in_channels if index == 0 else EXPANSION * inner_channels,
                    inner_channels,
                    spatial_stride=spatial_stride if index == 0 else 1,
                    temporal_stride=temporal_stride if index == 0 else 1,
                    temporal_kernel=temporal_kernel,
                    shift_div=shift_div,
                )
                for index in range(depth)
            )
        )
        self.out_channels = EXPANSION * inner_channels


def _per_stage(name: str, values: Sequence[int], stages: int, *, odd: bool = False) -> tuple[int, ...]:
    values = tuple(values)
    if len(values) != stages:
        raise ValueError(f"{name} must give one value per stage ({stages}), got {values!r}")
    for value in values:
        _check_int(name, value)
        if odd and value % 2 == 0:
            raise ValueError(f"{name} must be odd ('same' temporal padding), got {values!r}")
    return values


class ResNetBackbone(nn.Module):
    """A ResNet on clips without its head: stem → stages (``stage_widths`` inner widths × ``stage_depths`` blocks).

    Per stage: ``spatial_strides`` (ResNet: 1, 2, 2, 2), ``temporal_strides`` (1 everywhere unless given),
    ``temporal_kernels`` of the blocks' first conv (2D ResNet / TSM: 1; SlowOnly: 1, 1, 3, 3). ``shift_div`` > 0
    puts TSM's residual shift in every block. ``forward(x)``: ``(B, in_channels, T, H, W) -> (B, out_channels, T',
    H / S, W / S)``, ``out_channels = 4 · stage_widths[-1]``, ``S`` = stem stride × pool stride × the spatial strides.
    """

    def __init__(
        self,
        in_channels: int,
        *,
        stem_width: int = 64,
        stem_temporal_kernel: int = 1,
        stem_spatial_stride: int = 2,
        stem_pool_stride: int = 2,
        stage_widths: Sequence[int] = RESNET50_WIDTHS,
        stage_depths: Sequence[int] = RESNET50_DEPTHS,
        spatial_strides: Sequence[int] = (1, 2, 2, 2),
        temporal_strides: Sequence[int] | None = None,
        temporal_kernels: Sequence[int] | None = None,
        shift_div: int = 0,
    ) -> None:
        super().__init__()
        stage_widths, stage_depths = tuple(stage_widths), tuple(stage_depths)
        if not stage_widths or len(stage_widths) != len(stage_depths):
            raise ValueError(
                f"stage_widths and stage_depths must be non-empty and of equal length, got {stage_widths!r} and "
                f"{stage_depths!r}"
            )
        stages = len(stage_widths)
        spatial = _per_stage("spatial_strides", spatial_strides, stages)
        temporal = _per_stage("temporal_strides", temporal_strides or (1,) * stages, stages)
        kernels = _per_stage("temporal_kernels", temporal_kernels or (1,) * stages, stages, odd=True)
        self.stem = ResNetStem(
            in_channels,
            stem_width,
            temporal_kernel=stem_temporal_kernel,
            spatial_stride=stem_spatial_stride,
            pool_stride=stem_pool_stride,
        )
        width = stem_width
        blocks = []
        for index, (inner, depth) in enumerate(zip(stage_widths, stage_depths, strict=True)):
            stage = ResNetStage(
                width,
                inner,
                depth,
                spatial_stride=spatial[index],
                temporal_stride=temporal[index],
                temporal_kernel=kernels[index],
                shift_div=shift_div,
            )
            blocks.append(stage)
            width = stage.out_channels
        self.stages = nn.ModuleList(blocks)
        self.out_channels = width
        stride = stem_spatial_stride * stem_pool_stride
        for value in spatial:
            stride *= value
        self.spatial_stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x


def init_resnet_weights(module: nn.Module) -> None:
    """ResNet initialisation of every submodule of ``module`` (module docstring): the video CNNs' common one
    (:func:`actrec.layers.x3d.init_conv_bn_linear`), then the last BN of each bottleneck zeroed."""
    init_conv_bn_linear(module)
    for sub in module.modules():
        if isinstance(sub, ResNetBottleneck):
            nn.init.zeros_(sub.norm3.weight)
