"""EPAM-Net's single-stream backbones (Abdelkawy, Ali & Farag, "EPAM-Net: An Efficient Pose-driven Attention-guided
Multimodal Network for Video Action Recognition", 2024), §3.1-§3.2, Tables 1, 2, 4, 6 and 7.

Every stream is an X3D network (``actrec.layers.x3d``) and they share one config class, ``EPAMX3DConfig``:

* ``epam_rgb_x3d`` — RGB-X3D (§3.1, Table 1): "the architecture of the adapted RGB-X3D remains unchanged from the
  original X3D-M". ``(B, 3, 16, 224, 224)`` → stem (B, 24, 16, 112, 112) → res2-res5 (24, 48, 96, 192 channels ×
  3, 5, 11, 7 blocks; 56², 28², 14², 7²) → conv5 (B, 432, 16, 7, 7) = ``features(x)`` → GAP → fc 2048 → ReLU →
  dropout → fc → logits (B, num_classes).
* ``epam_rgb_x3d_wide`` — RGB-X3D-wide (§4.2, Table 3's last row): RGB-X3D "wider (double the number of filters per
  layer)", ``width_factor=2``. Doubled: the stem (24 → 48), every stage's output width (24, 48, 96, 192 → 48, 96, 192,
  384) and with them the bottlenecks' inner widths (γ_b · w: 54 … 432 → 108 … 864), conv5 (432 → 864) and the
  shortcuts' projections. Not doubled (not conv filters of a stage, and the paper names no other change): the head's
  2048-wide fc1 (its input doubles, 864 → 2048), the classifier, the SE widths (``round_width(inner, 1/16)`` follows
  the inner widths: 8, 16, 32, 56 instead of 8, 8, 16, 32), the depths, kernels and the input. ``(B, 3, 16, 224, 224)``
  → features (B, 864, 16, 7, 7).
* ``epam_pose_x3d`` — Pose-X3D (§3.2, Table 2): X3D-S on K = 17 joint pseudo-heatmaps (Eq. (1)) with "1) remove the
  first stage, 2) change the spatial stride of the first convolution layer of stem layer from 2 to 1".
  ``(B, 17, 48, 56, 56)`` → stem (B, 24, 48, 56, 56) → res2-res4 (24, 48, 96 channels × 5, 11, 7 blocks; 28², 14²,
  7²) → conv5 (B, 216, 48, 7, 7) = ``features(x)`` → GAP → dropout → fc → logits (B, num_classes).

Both feature maps end at 7 × 7 so that the pose features can drive a spatial-temporal attention on the RGB ones
(§3.3, a later step; the 48 pose frames are aligned with the 16 RGB ones by time-strided sampling). ``features(x)``
returns the map after conv5 (the X3D backbone's output, listed as a stage with its "output size" in Tables 1-2);
``head`` is the pooled classifier.

Details the paper leaves open, and the choice made here (the X3D blocks' own choices — widths rounding, SE width
``round_width(inner, 1/16)``, SE on blocks 0, 2, 4, …, shortcut, initialisation — are listed in
``actrec.layers.x3d``):

* **Pose-X3D "first stage removed"**: Table 2 keeps X3D-S's depths of res3-res5 (5, 11, 7) but the widths of
  res2-res4 (24, 48, 96; inner 54, 108, 216; conv5 216 = 2.25 · 96): the first stage's blocks go and the rest start
  from the stem width. Table 2 is followed exactly (``stage_widths``, ``stage_depths``). Other readings miss the
  count: widths 48, 96, 192 (conv5 432) give 1,942,728 parameters and 12.1 GFLOPs; X3D-S's first three stages
  (depths 3, 5, 11 with SE) 695,950 and 3.33 GFLOPs.
* **Pose-X3D has no Squeeze-Excitation** (``se_ratio=0``): Table 2 lists none, and 543.76k (Tables 4 and 7) is met
  exactly only without it — 543,762 parameters (60 classes); SE on every other block, as in X3D-S, gives 586,180
  (+7.8%). The authors' released code (github.com/ahmed-nady/Multimodal-Action-Recognition, linked in the
  abstract) builds its SE-free pose X3D without the Swish too, so ``inner_activation="none"``: nothing between the
  depth-wise conv's BN and the 1×1² projection. Counts cannot tell this apart (activations have no parameters and
  fvcore counts no FLOPs for them); ``"swish"`` restores X3D's.
* **Pose-X3D head**: Table 2 has "GAP, FC" with no 2048-wide fc1 (``head_channels=0``): GAP → dropout → fc. With
  the fc1 of Table 1 the count would exceed 543.76k by itself (216 · 2048 = 442k).
* **Pose stem**: keeps X3D's depth-wise temporal conv (Table 2 "conv1 1×3², 3×1, 24"); only the spatial stride
  changes (1), so the stem keeps 56².
* **Stem temporal kernel** (``stem_temporal_kernel``): 5 as X3D's implementation; Tables 1-2 print "3×1", which
  ``stem_temporal_kernel=3`` gives (48 fewer parameters; 4.888 and 3.970 GFLOPs).
* **RGB-X3D head**: X3D's fc1 of 2048 without bias and without BN, ReLU, dropout 0.5, fc2 with bias; conv5 is
  followed by BN and ReLU. A bias on fc1 would add 2,048 parameters (both readings round to 3.22M).
* **Dropout** 0.5 before the last fc in both streams (X3D's and PoseConv3D's head); the paper gives none.
* **num_classes** defaults to 60 (NTU RGB+D 60, Tables 3 and 5-7); NTU RGB+D 120 is ``num_classes=120``.
* **Input sizes**: any T and H, W (every conv pads "same"; odd sizes round up at each stride 2); ``num_frames`` and
  ``image_size`` describe the paper clip (``feature_shape``, complexity counts) and are not enforced.
* **Initialisation**: X3D's (``actrec.layers.x3d.init_x3d_weights``), trained from scratch (the paper pre-trains
  each stream on the dataset itself, §3.4).

Complexity at paper size (``count_parameters``; ``count_gflops`` = fvcore multiply-adds, one clip):

* ``epam_rgb_x3d``, 120 classes (Table 4): 3,220,602 parameters vs 3.22M (0.02%); 4.898 GFLOPs at 1×3×16×224² vs
  4.97 (-1.4%). With 60 classes (Table 6, NTU 60): 3,097,662 vs 3.1M, 4.898 GFLOPs vs 5.0.
* ``epam_pose_x3d``, 60 classes (Table 7, NTU 60; Table 4 repeats 543.76k for NTU 120, where the 120-class head
  gives 556,782): 543,762 parameters vs 543.76k (0.0004%); 3.977 GFLOPs at 1×17×48×56² vs 4.03 (-1.3%).

Of the measured GFLOPs the convolutions are 4.731 (the 4.73 X3D reports for X3D-M at 16 × 224²) and 3.822, BN (one per
element in eval) 0.166 and 0.154; fvcore leaves out activations, residual additions, pooling and the SE gating,
which a counter that includes them (the paper does not name its counter) would add — the size of the remaining
~1.4%. Both are well within 10% of Table 4.

RGB-X3D-wide, for which the paper gives no count (measured here, same counters): 9,792,144 parameters with 60 classes
(NTU 60, Table 3), 9,915,084 with 120 — 3.16× RGB-X3D's (1×1² convolutions grow 4×, the stem, depth-wise convs and
fc1's input 2×); 17.614 GFLOPs at 1×3×16×224² (3.60×). EPAM-Net with it (``rgb_variant="epam_rgb_x3d_wide"``, nesting
attention, 60 classes): 10,338,413 parameters and 21.592 GFLOPs on one paper clip pair.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn

from actrec.layers.x3d import INNER_ACTIVATIONS, X3D_M, X3DBackbone, X3DHead, init_x3d_weights
from actrec.models.registry import register_model

PAPER_PARAMETERS = {"epam_rgb_x3d": 3.22e6, "epam_pose_x3d": 543.76e3}  # Table 4 (RGB: 120 classes; pose: 60)
PAPER_GFLOPS = {"epam_rgb_x3d": 4.97, "epam_pose_x3d": 4.03}  # Table 4 (none for RGB-X3D-wide)
_TUPLE_FIELDS = ("stage_widths", "stage_depths")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True, kw_only=True)
class EPAMX3DConfig:
    """Configuration of ``EPAMX3D``, one EPAM-Net stream (RGB-X3D §3.1 / Pose-X3D §3.2); keys ``model.<field>``.

    Defaults are RGB-X3D (X3D-M, Table 1); ``epam_pose_x3d`` overrides them with Table 2.
    """

    num_classes: int = 60  # output classes (NTU RGB+D 60: 60, NTU RGB+D 120: 120)
    in_channels: int = 3  # input channels: 3 (RGB) or K = 17 joint heatmaps (pose, §3.2)
    num_frames: int = 16  # frames of the paper clip (RGB 16, pose 48); not enforced
    image_size: int = 224  # crop size of the paper clip (RGB 224, pose 56); not enforced
    stem_width: int = X3D_M.stem_width  # conv1 channels (Tables 1-2: 24)
    width_factor: int = 1  # multiplies stem_width and stage_widths (RGB-X3D-wide: 2, §4.2 "double the filters")
    stem_spatial_stride: int = 2  # conv1 spatial stride (X3D 2; Pose-X3D 1, §3.2)
    stem_temporal_kernel: int = 5  # depth-wise temporal kernel of conv1 (X3D's 5; Tables 1-2 print 3); odd
    stage_widths: tuple[int, ...] = X3D_M.stage_widths  # res2… widths (Table 1: 24, 48, 96, 192; Table 2: 24, 48, 96)
    stage_depths: tuple[int, ...] = X3D_M.stage_depths  # blocks per stage (Table 1: 3, 5, 11, 7; Table 2: 5, 11, 7)
    bottleneck_factor: float = X3D_M.bottleneck_factor  # γ_b: inner / stage width, also conv5 / last width (2.25)
    se_ratio: float = 1 / 16  # SE reduced width / inner width on every other block (X3D); 0 = no SE (Pose-X3D)
    inner_activation: str = "swish"  # after each depth-wise conv: "swish" (X3D), "relu" or "none" (Pose-X3D)
    head_channels: int = 2048  # width of the head's fc1 (X3D: 2048); 0 = GAP → fc only (Pose-X3D, Table 2)
    dropout: float = 0.5  # dropout before the last fc

    def __post_init__(self) -> None:
        for name in _TUPLE_FIELDS:  # lists (JSON / YAML) become tuples
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in (
            "num_classes",
            "in_channels",
            "num_frames",
            "image_size",
            "stem_width",
            "width_factor",
            "stem_spatial_stride",
        ):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"model.{name} must be an int >= 1, got {value!r}")
        kernel = self.stem_temporal_kernel
        if not _is_int(kernel) or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"model.stem_temporal_kernel must be an odd int >= 1 (X3D: 5), got {kernel!r}")
        for name in _TUPLE_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, tuple) or not value or not all(_is_int(v) and v >= 1 for v in value):
                raise ValueError(f"model.{name} must be a non-empty tuple of ints >= 1, got {value!r}")
        if len(self.stage_depths) != len(self.stage_widths):
            raise ValueError(
                f"model.stage_depths must have one depth per stage of model.stage_widths "
                f"({len(self.stage_widths)}), got {self.stage_depths!r}"
            )
        if not _is_real(self.bottleneck_factor) or int(self.bottleneck_factor * min(self.stage_widths)) < 1:
            raise ValueError(
                f"model.bottleneck_factor must be a number > 0 giving inner widths >= 1, got {self.bottleneck_factor!r}"
            )
        if not _is_real(self.se_ratio) or not 0 <= self.se_ratio <= 1:
            raise ValueError(f"model.se_ratio must be in [0, 1] (0: no SE; X3D: 1/16), got {self.se_ratio!r}")
        if self.inner_activation not in INNER_ACTIVATIONS:
            raise ValueError(
                f"model.inner_activation must be one of {INNER_ACTIVATIONS}, got {self.inner_activation!r}"
            )
        if not _is_int(self.head_channels) or self.head_channels < 0:
            raise ValueError(f"model.head_channels must be an int >= 0 (0: no fc1), got {self.head_channels!r}")
        if not _is_real(self.dropout) or not 0 <= self.dropout < 1:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout!r}")

    @property
    def stem_channels(self) -> int:
        """conv1's output channels: ``width_factor · stem_width`` (RGB-X3D 24, RGB-X3D-wide 48)."""
        return self.width_factor * self.stem_width

    @property
    def stage_channels(self) -> tuple[int, ...]:
        """res2…'s output channels: ``width_factor · stage_widths`` (RGB-X3D 24 … 192, RGB-X3D-wide 48 … 384)."""
        return tuple(self.width_factor * width for width in self.stage_widths)

    @property
    def feature_channels(self) -> int:
        """Channels of ``features(x)``: conv5's ``int(γ_b · last width)`` (RGB-X3D 432, -wide 864, Pose-X3D 216)."""
        return int(self.bottleneck_factor * self.stage_channels[-1])

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """``(T, H, W)`` of ``features(x)`` on the paper clip (RGB-X3D and Pose-X3D: (16, 7, 7) and (48, 7, 7))."""
        size = math.ceil(self.image_size / self.stem_spatial_stride)
        for _ in self.stage_widths:
            size = math.ceil(size / 2)
        return self.num_frames, size, size


class EPAMX3D(nn.Module):
    """One EPAM-Net stream: an X3D backbone (stem, stages, conv5) and its ``head``.

    ``features(x)``: ``(B, in_channels, T, H, W) -> (B, feature_channels, T, H / S, W / S)`` (S = 32 for RGB-X3D,
    8 for Pose-X3D); ``forward(x)``: ``-> (B, num_classes)`` logits.
    """

    def __init__(self, config: EPAMX3DConfig) -> None:
        super().__init__()
        if not isinstance(config, EPAMX3DConfig):
            raise TypeError(f"EPAMX3D expects an EPAMX3DConfig, got {type(config).__name__}")
        self.config = config
        self.backbone = X3DBackbone(
            config.in_channels,
            stem_width=config.stem_channels,
            stage_widths=config.stage_channels,
            stage_depths=config.stage_depths,
            stem_spatial_stride=config.stem_spatial_stride,
            stem_temporal_kernel=config.stem_temporal_kernel,
            bottleneck_factor=config.bottleneck_factor,
            se_ratio=config.se_ratio or None,
            activation=config.inner_activation,
        )
        self.head = X3DHead(
            self.backbone.out_channels,
            config.num_classes,
            hidden_channels=config.head_channels or None,
            dropout=config.dropout,
        )
        init_x3d_weights(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map before the head (after conv5), ``(B, feature_channels, T, H', W')``."""
        if x.ndim != 5 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"EPAMX3D expects (B, {self.config.in_channels}, T, H, W) clips, got {tuple(x.shape)}")
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


_POSE: dict[str, Any] = {
    "in_channels": 17,
    "num_frames": 48,
    "image_size": 56,
    "stem_spatial_stride": 1,
    "stage_widths": (24, 48, 96),
    "stage_depths": (5, 11, 7),
    "se_ratio": 0.0,
    "inner_activation": "none",
    "head_channels": 0,
}


# RGB-X3D's CPU-tiny overrides; RGB-X3D-wide takes the same ones, which its width_factor then doubles.
_RGB_TINY: dict[str, Any] = {
    "num_frames": 8,
    "image_size": 32,
    "stem_width": 8,
    "stage_widths": (8, 16, 16, 24),
    "stage_depths": (1, 2, 1, 2),
    "head_channels": 32,
}


@register_model(EPAMX3D, tiny=_RGB_TINY)
def epam_rgb_x3d(**overrides: Any) -> EPAMX3DConfig:
    """RGB-X3D (§3.1, Table 1): X3D-M unchanged on 16 × 224² RGB clips; features (B, 432, 16, 7, 7)."""
    return dataclasses.replace(EPAMX3DConfig(), **overrides)


@register_model(EPAMX3D, tiny=_RGB_TINY)
def epam_rgb_x3d_wide(**overrides: Any) -> EPAMX3DConfig:
    """RGB-X3D-wide (§4.2, Table 3's last row): RGB-X3D with "double the number of filters per layer"
    (``width_factor=2``); features (B, 864, 16, 7, 7)."""
    return EPAMX3DConfig(**{"width_factor": 2, **overrides})


@register_model(
    EPAMX3D,
    tiny={"num_frames": 8, "image_size": 32, "stem_width": 8, "stage_widths": (8, 16, 24), "stage_depths": (2, 1, 2)},
)
def epam_pose_x3d(**overrides: Any) -> EPAMX3DConfig:
    """Pose-X3D (§3.2, Table 2): X3D-S without its first stage, stem stride 1, no SE, on 48 × 56² pseudo-heatmaps
    of 17 joints; features (B, 216, 48, 7, 7)."""
    return EPAMX3DConfig(**{**_POSE, **overrides})
