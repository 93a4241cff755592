"""X3D building blocks (Feichtenhofer, "X3D: Expanding Architectures for Efficient Video Recognition", CVPR 2020,
§3 and Table 1), as EPAM-Net (§3.1-§3.2, Tables 1-2) uses them.

``clip (B, C, T, H, W) → stem: 1×3² conv (spatial stride 2) then depth-wise 5×1² conv, BN, ReLU → res2 … res5:
residual bottlenecks [1×1² to γ_b·w → BN → ReLU → depth-wise 3×3² (the stage's spatial stride on its first block)
→ BN → SE (every other block) → Swish → 1×1² to w → BN] + shortcut, ReLU → conv5: 1×1² to γ_b·w_last, BN, ReLU →
(head) global average pool → fc 2048 → ReLU → dropout → fc classes``.

X3D is X2D (widths 12 · 2^i, depths 1, 2, 5, 3) expanded: width factor γ_w = 2 (stem 24, stages 24, 48, 96, 192),
depth factor γ_d = 2.2 (depths ⌈2.2, 4.4, 11, 6.6⌉ = 3, 5, 11, 7), bottleneck factor γ_b = 2.25 (inner widths 54, 108,
216, 432; conv5 432). X3D-S and X3D-M share this network and differ only in their input: 13 × 160² (X3D-S) and
16 × 224² (X3D-M) (``X3D_S``, ``X3D_M``; X3D Table 3). Temporal stride is 1 everywhere, so the output keeps T.

Details X3D's text leaves to its code, and the choice made here (those of the public X3D implementations):

* **Widths**: ``round_width(w, γ) = max(8, ⌊γ·w + 4⌋₈)`` (+8 when that falls below 0.9·γ·w); res2 keeps the stem
  width, each later stage is ``round_width(previous, 2)``; inner widths are ``int(γ_b · w)``.
* **Squeeze-Excitation** on blocks 0, 2, 4, … of every stage ("every other block", X3D §3), on the output of the
  depth-wise conv's BN, before the Swish; its reduced width is ``round_width(inner, 1/16)`` (so 8, 8, 16, 32 for the
  inner widths 54, 108, 216, 432); both SE 1×1² convs have a bias, ReLU between them, sigmoid gate.
* **Shortcut**: identity, or 1×1² conv (the stage's spatial stride) + BN on a block whose width or resolution
  changes (the first block of a stage).
* **Head**: global average pool, then the 2048-wide fc without bias and without BN (X3D's "fc1 1×1², 2048"),
  ReLU, dropout (0.5 in X3D), fc to the classes with bias. ``hidden_channels=None`` gives GAP → dropout → fc only.
* **Convolutions** have no bias (a BN follows each); BN with PyTorch defaults (eps 1e-5, momentum 0.1).
* **Initialisation** (``init_x3d_weights``): convolutions Kaiming normal (fan-out, ReLU gain) with zero bias, BN
  weight 1 and bias 0 except the last BN of every bottleneck (weight 0, so each block starts as its shortcut), fc
  layers normal(0, 0.01) with zero bias.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch
from einops import reduce
from torch import nn

BOTTLENECK_FACTOR = 2.25  # γ_b (X3D §3, "bottleneck width")
SE_RATIO = 1 / 16  # SE reduced width / inner width (X3D §3)
HEAD_CHANNELS = 2048  # X3D's fc1 width
INNER_ACTIVATIONS = ("swish", "relu", "none")  # after the depth-wise conv (and SE) of a bottleneck; X3D: swish


def _check_int(name: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def round_width(width: float, multiplier: float, *, min_width: int = 8, divisor: int = 8) -> int:
    """X3D's channel rounding: ``width · multiplier`` to the nearest multiple of ``divisor`` (at least ``min_width``),
    one ``divisor`` more when rounding lost over 10% (``round_width(12, 2) = 24``, ``round_width(54, 1/16) = 8``)."""
    scaled = width * multiplier
    rounded = max(min_width, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, multiplier: float) -> int:
    """X3D's depth rounding: ``⌈multiplier · repeats⌉`` (``2.2 · (1, 2, 5, 3) → (3, 5, 11, 7)``)."""
    return int(math.ceil(multiplier * repeats))


def x3d_widths(width_factor: float = 2.0, *, base_width: int = 12, num_stages: int = 4) -> tuple[int, tuple[int, ...]]:
    """``(stem width, stage widths)`` of X3D with global width factor γ_w (γ_w = 2: 24 and (24, 48, 96, 192))."""
    stem = round_width(base_width, width_factor)
    widths = [stem]
    for _ in range(num_stages - 1):
        widths.append(round_width(widths[-1], 2.0))
    return stem, tuple(widths)


def x3d_depths(depth_factor: float = 2.2, base_depths: Sequence[int] = (1, 2, 5, 3)) -> tuple[int, ...]:
    """Stage depths of X3D with depth factor γ_d (γ_d = 2.2: (3, 5, 11, 7))."""
    return tuple(round_repeats(depth, depth_factor) for depth in base_depths)


@dataclasses.dataclass(frozen=True, kw_only=True)
class X3DSpec:
    """An X3D instance (X3D Table 3): its expansion factors and the input clip it is sized for."""

    num_frames: int  # γ_t: frames of the input clip
    image_size: int  # γ_s: crop size of the input clip
    width_factor: float = 2.0  # γ_w
    depth_factor: float = 2.2  # γ_d
    bottleneck_factor: float = BOTTLENECK_FACTOR  # γ_b

    @property
    def stem_width(self) -> int:
        return x3d_widths(self.width_factor)[0]

    @property
    def stage_widths(self) -> tuple[int, ...]:
        return x3d_widths(self.width_factor)[1]

    @property
    def stage_depths(self) -> tuple[int, ...]:
        return x3d_depths(self.depth_factor)


X3D_S = X3DSpec(num_frames=13, image_size=160)  # X3D-S: 13 × 160²
X3D_M = X3DSpec(num_frames=16, image_size=224)  # X3D-M: 16 × 224² (EPAM's RGB-X3D, Table 1)


def _inner_activation(name: str) -> nn.Module:
    if name == "swish":
        return nn.SiLU()  # Swish(x) = x · sigmoid(x)
    return nn.ReLU(inplace=True) if name == "relu" else nn.Identity()


def _conv_bn(in_channels: int, out_channels: int, *, stride: int = 1) -> nn.Sequential:
    # 1×1² conv (spatial stride) without bias + BN.
    return nn.Sequential(
        nn.Conv3d(in_channels, out_channels, kernel_size=1, stride=(1, stride, stride), bias=False),
        nn.BatchNorm3d(out_channels),
    )


class X3DStem(nn.Module):
    """X3D stem ("conv1", X3D Table 1): 1×3² conv (``spatial_stride``) to ``out_channels``, then a depth-wise
    ``temporal_kernel``×1² conv, BN, ReLU. ``(B, C, T, H, W) -> (B, out_channels, T, H / s, W / s)``."""

    def __init__(
        self, in_channels: int, out_channels: int, *, spatial_stride: int = 2, temporal_kernel: int = 5
    ) -> None:
        super().__init__()
        _check_int("in_channels", in_channels)
        _check_int("out_channels", out_channels)
        _check_int("spatial_stride", spatial_stride)
        _check_int("temporal_kernel", temporal_kernel)
        if temporal_kernel % 2 == 0:
            raise ValueError(f"temporal_kernel must be odd ('same' temporal padding), got {temporal_kernel}")
        self.conv_xy = nn.Conv3d(
            in_channels,
            out_channels,
            kernel_size=(1, 3, 3),
            stride=(1, spatial_stride, spatial_stride),
            padding=(0, 1, 1),
            bias=False,
        )
        self.conv_t = nn.Conv3d(
            out_channels,
            out_channels,
            kernel_size=(temporal_kernel, 1, 1),
            padding=(temporal_kernel // 2, 0, 0),
            groups=out_channels,
            bias=False,
        )
        self.norm = nn.BatchNorm3d(out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv_t(self.conv_xy(x))))


class SqueezeExcitation(nn.Module):
    """Squeeze-Excitation (Hu et al.) as X3D uses it: global average pool → 1×1² conv to ``round_width(channels,
    ratio)`` → ReLU → 1×1² conv back → sigmoid gate per channel. ``(B, C, T, H, W) -> (B, C, T, H, W)``."""

    def __init__(self, channels: int, ratio: float = SE_RATIO) -> None:
        super().__init__()
        _check_int("channels", channels)
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio <= 1:
            raise ValueError(f"SE ratio must be in (0, 1], got {ratio!r}")
        self.reduced_channels = round_width(channels, ratio)
        self.fc1 = nn.Conv3d(channels, self.reduced_channels, kernel_size=1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv3d(self.reduced_channels, channels, kernel_size=1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = reduce(x, "b c t h w -> b c 1 1 1", "mean")
        return x * self.gate(self.fc2(self.act(self.fc1(squeezed))))


class X3DBottleneck(nn.Module):
    """X3D residual bottleneck (X3D Table 1, "res" stages):
    ``1×1² → BN → ReLU → depth-wise 3×3² (stride 1, s, s) → BN → [SE] → Swish → 1×1² → BN``, plus the shortcut
    (identity, or 1×1² conv with stride s + BN when width or resolution changes), then ReLU.

    ``(B, in_channels, T, H, W) -> (B, out_channels, T, H / s, W / s)``. ``activation`` (``INNER_ACTIVATIONS``)
    replaces the Swish by a ReLU (``"relu"``) or by nothing (``"none"``).
    """

    def __init__(
        self,
        in_channels: int,
        inner_channels: int,
        out_channels: int,
        *,
        spatial_stride: int = 1,
        se_ratio: float | None = None,
        activation: str = "swish",
    ) -> None:
        super().__init__()
        if activation not in INNER_ACTIVATIONS:
            raise ValueError(f"activation must be one of {INNER_ACTIVATIONS}, got {activation!r}")
        for name, value in (
            ("in_channels", in_channels),
            ("inner_channels", inner_channels),
            ("out_channels", out_channels),
            ("spatial_stride", spatial_stride),
        ):
            _check_int(name, value)
        self.conv_a = nn.Conv3d(in_channels, inner_channels, kernel_size=1, bias=False)
        self.norm_a = nn.BatchNorm3d(inner_channels)
        self.act_a = nn.ReLU(inplace=True)
        self.conv_b = nn.Conv3d(
            inner_channels,
            inner_channels,
            kernel_size=3,
            stride=(1, spatial_stride, spatial_stride),
            padding=1,
            groups=inner_channels,
            bias=False,
        )
        self.norm_b = nn.BatchNorm3d(inner_channels)
        self.se = SqueezeExcitation(inner_channels, se_ratio) if se_ratio is not None else None
        self.act_b = _inner_activation(activation)
        self.conv_c = nn.Conv3d(inner_channels, out_channels, kernel_size=1, bias=False)
        self.norm_c = nn.BatchNorm3d(out_channels)
        if in_channels != out_channels or spatial_stride != 1:
            self.shortcut: nn.Module = _conv_bn(in_channels, out_channels, stride=spatial_stride)
        else:
            self.shortcut = nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act_a(self.norm_a(self.conv_a(x)))
        out = self.norm_b(self.conv_b(out))
        if self.se is not None:
            out = self.se(out)
        out = self.norm_c(self.conv_c(self.act_b(out)))
        return self.act(out + self.shortcut(x))


class X3DStage(nn.Sequential):
    """One X3D stage: ``depth`` bottlenecks of width ``out_channels`` and inner width ``int(bottleneck_factor ·
    out_channels)``; the first has the spatial stride, SE on blocks 0, 2, 4, … (``se_ratio=None``: none), and
    ``activation`` after each depth-wise conv (``X3DBottleneck``).
    ``(B, in_channels, T, H, W) -> (B, out_channels, T, H / s, W / s)``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        depth: int,
        *,
        bottleneck_factor: float = BOTTLENECK_FACTOR,
        spatial_stride: int = 2,
        se_ratio: float | None = SE_RATIO,
        activation: str = "swish",
    ) -> None:
        _check_int("depth", depth)
        _check_int("out_channels", out_channels)
        if isinstance(bottleneck_factor, bool) or not isinstance(bottleneck_factor, int | float):
            raise ValueError(f"bottleneck_factor must be a number, got {bottleneck_factor!r}")
        inner = int(bottleneck_factor * out_channels)
        if inner < 1:
            raise ValueError(f"bottleneck_factor · out_channels must be >= 1, got {bottleneck_factor} · {out_channels}")
        super().__init__(
            *(
                X3DBottleneck(
                    in_channels if index == 0 else out_channels,
                    inner,
                    out_channels,
                    spatial_stride=spatial_stride if index == 0 else 1,
                    se_ratio=se_ratio if index % 2 == 0 else None,
                    activation=activation,
                )
                for index in range(depth)
            )
        )
        self.inner_channels = inner


class X3DBackbone(nn.Module):
    """X3D without its head: stem → stages → conv5 (1×1² to ``int(bottleneck_factor · last width)``, BN, ReLU).

    ``forward(x)``: ``(B, in_channels, T, H, W) -> (B, out_channels, T, H / S, W / S)`` with ``S`` the stem stride
    times ``2^len(stage_widths)`` (X3D-M at 16 × 224²: (B, 432, 16, 7, 7)).
    """

    def __init__(
        self,
        in_channels: int,
        *,
        stem_width: int = 24,
        stage_widths: Sequence[int] = (24, 48, 96, 192),
        stage_depths: Sequence[int] = (3, 5, 11, 7),
        stem_spatial_stride: int = 2,
        stem_temporal_kernel: int = 5,
        stage_spatial_stride: int = 2,
        bottleneck_factor: float = BOTTLENECK_FACTOR,
        se_ratio: float | None = SE_RATIO,
        activation: str = "swish",
    ) -> None:
        super().__init__()
        stage_widths, stage_depths = tuple(stage_widths), tuple(stage_depths)
        if not stage_widths or len(stage_widths) != len(stage_depths):
            raise ValueError(
                f"stage_widths and stage_depths must be non-empty and of equal length, got {stage_widths!r} and "
                f"{stage_depths!r}"
            )
        self.stem = X3DStem(
            in_channels, stem_width, spatial_stride=stem_spatial_stride, temporal_kernel=stem_temporal_kernel
        )
        stages = []
        width = stem_width
        for out_width, depth in zip(stage_widths, stage_depths, strict=True):
            stages.append(
                X3DStage(
                    width,
                    out_width,
                    depth,
                    bottleneck_factor=bottleneck_factor,
                    spatial_stride=stage_spatial_stride,
                    se_ratio=se_ratio,
                    activation=activation,
                )
            )
            width = out_width
        self.stages = nn.ModuleList(stages)
        self.out_channels = int(bottleneck_factor * width)
        self.conv5 = nn.Sequential(
            nn.Conv3d(width, self.out_channels, kernel_size=1, bias=False),
            nn.BatchNorm3d(self.out_channels),
            nn.ReLU(inplace=True),
        )
        self.spatial_stride = stem_spatial_stride * stage_spatial_stride ** len(stage_widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.conv5(x)


class X3DHead(nn.Module):
    """X3D head (X3D Table 1 "pool5, fc1, fc2"): global average pool → fc ``hidden_channels`` without bias → ReLU →
    dropout → fc ``num_classes``. ``hidden_channels=None``: pool → dropout → fc (the Pose-X3D head, EPAM Table 2).
    ``(B, C, T, H, W) -> (B, num_classes)``."""

    def __init__(
        self, in_channels: int, num_classes: int, *, hidden_channels: int | None = HEAD_CHANNELS, dropout: float = 0.5
    ) -> None:
        super().__init__()
        _check_int("in_channels", in_channels)
        _check_int("num_classes", num_classes)
        if hidden_channels is not None:
            _check_int("hidden_channels", hidden_channels)
            self.fc1: nn.Module = nn.Sequential(
                nn.Linear(in_channels, hidden_channels, bias=False), nn.ReLU(inplace=True)
            )
        else:
            self.fc1 = nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_channels or in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = reduce(x, "b c t h w -> b c", "mean")
        return self.fc2(self.dropout(self.fc1(pooled)))


def init_conv_bn_linear(module: nn.Module) -> None:
    """The video CNNs' common initialisation (X3D, ResNet-3D / TSM, C3D) of every submodule of ``module``: Kaiming
    normal (fan-out, ReLU gain) convolutions with zero bias, BN weight 1 / bias 0, fc normal(0, 0.01) with zero bias."""
    for sub in module.modules():
        if isinstance(sub, nn.Conv3d):
            nn.init.kaiming_normal_(sub.weight, mode="fan_out", nonlinearity="relu")
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)
        elif isinstance(sub, nn.BatchNorm3d):
            nn.init.ones_(sub.weight)
            nn.init.zeros_(sub.bias)
        elif isinstance(sub, nn.Linear):
            nn.init.normal_(sub.weight, std=0.01)
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)


def init_x3d_weights(module: nn.Module) -> None:
    """X3D initialisation of every submodule of ``module`` (module docstring): :func:`init_conv_bn_linear`, then the
    last BN of each bottleneck zeroed."""
    init_conv_bn_linear(module)
    for sub in module.modules():
        if isinstance(sub, X3DBottleneck):
            nn.init.zeros_(sub.norm_c.weight)


class X3D(nn.Module):
    """X3D network: ``X3DBackbone`` + ``X3DHead``. ``(B, in_channels, T, H, W) -> (B, num_classes)``."""

    def __init__(self, backbone: X3DBackbone, head: X3DHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def build_x3d(spec: X3DSpec, num_classes: int, *, in_channels: int = 3, dropout: float = 0.5) -> X3D:
    """X3D network of ``spec`` (``X3D_S`` or ``X3D_M``; X3D Tables 1 and 3), initialised as X3D."""
    backbone = X3DBackbone(
        in_channels,
        stem_width=spec.stem_width,
        stage_widths=spec.stage_widths,
        stage_depths=spec.stage_depths,
        bottleneck_factor=spec.bottleneck_factor,
    )
    model = X3D(backbone, X3DHead(backbone.out_channels, num_classes, dropout=dropout))
    init_x3d_weights(model)
    return model


def x3d_s(num_classes: int, *, in_channels: int = 3, dropout: float = 0.5) -> X3D:
    """X3D-S (input 13 × 160², ``X3D_S``): stem 24, stages 24, 48, 96, 192 × depths 3, 5, 11, 7, conv5 432."""
    return build_x3d(X3D_S, num_classes, in_channels=in_channels, dropout=dropout)


def x3d_m(num_classes: int, *, in_channels: int = 3, dropout: float = 0.5) -> X3D:
    """X3D-M (input 16 × 224², ``X3D_M``): the X3D-S network on larger clips."""
    return build_x3d(X3D_M, num_classes, in_channels=in_channels, dropout=dropout)
