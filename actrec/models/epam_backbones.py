"""The backbones EPAM-Net weighs its streams against (Abdelkawy, Ali & Farag, "EPAM-Net: An Efficient Pose-driven
Attention-guided Multimodal Network for Video Action Recognition", 2024, §4.3 "Choosing the appearance and pose network
architectures", Tables 6-7), as the works it cites define them, each usable as EPAM-Net's RGB or pose stream.

Every one is a registered variant whose config type is in ``STREAM_CONFIGS``, so ``epam_net`` selects it by name
(``model.rgb_variant`` / ``model.pose_variant``, with ``model.streams="rgb"`` / ``"pose"`` for a stream alone, §3.4's
phase 1), exactly as it selects RGB-X3D and Pose-X3D (``actrec.models.epam``). Layers: ``actrec.layers.resnet3d``
(ResNet bottlenecks on clips, TSM's temporal shift) and ``actrec.layers.c3d``; the head is X3D's pooled classifier
without fc1 (``X3DHead``: GAP → dropout 0.5 → fc).

* ``epam_rgb_tsm_r50`` — TSM-R50 (Lin, Gan & Han, "TSM: Temporal Shift Module for Efficient Video Understanding",
  ICCV 2019, §3.3 and §4; Table 6 "TSM [20]"): ResNet-50 applied to every frame (1×k² kernels) with the residual
  temporal shift (1/8 of the channels one frame back, 1/8 one frame forward, zeros at the ends) before the first conv
  of every bottleneck. ``(B, 3, T, 224, 224)`` → stem (B, 64, T, 56, 56) → res2-res5 (256, 512, 1024, 2048 channels ×
  3, 4, 6, 3 blocks; 56², 28², 14², 7²) → features (B, 2048, T, 7, 7) → GAP → dropout → fc. Table 6's 8- and 16-frame
  rows are this one network on clips of 8 and 16 frames (``data.num_frames``; ``num_frames`` only describes the clip).
* ``epam_rgb_slowonly_r50`` — SlowOnly-R50 (the Slow pathway of SlowFast, Feichtenhofer et al., ICCV 2019, §3.1 and
  Table 1, as PoseC3D trains it on RGB: Duan et al., "Revisiting Skeleton-based Action Recognition", CVPR 2022, its
  RGB-only network; Table 6 "SlowOnly [12]"): ResNet-50 with 3×1² first convs in res4-res5 (temporal stride 1, no
  shift), 8 frames at 224² → features (B, 2048, 8, 7, 7).
* ``epam_pose_c3d`` — PoseC3D's C3D (PoseC3D §3.3; Table 7 "C3D [12]"): conv1a 32 → [1×2² avg pool, conv2a 64] →
  [pool, conv3a-b 128] → [pool, conv4a-b 256], every conv 3×3×3 + BN + ReLU (``actrec.layers.c3d``), on 17 heatmaps
  of 48 × 56² → features (B, 256, 48, 7, 7).
* ``epam_pose_slowonly_r50`` — PoseC3D's pose SlowOnly (PoseC3D §3.3; Table 7 "SlowOnly [12]"): SlowOnly-R50 with
  ResNet-50's res2 removed and half the width (stem 32; stages of inner width 32, 64, 128 × 4, 6, 3 blocks, outputs
  128, 256, 512), stem conv and max pool at stride 1, spatial stride 2 on each stage, temporal stride 2 on the last,
  3×1² first convs in the last two stages. ``(B, 17, 48, 56, 56)`` → stem (B, 32, 48, 56, 56) → stages (28², 14², 7²)
  → features (B, 512, 24, 7, 7).

What the papers leave open, and the reading taken here:

* **FLOPs** are multiply-adds: EPAM-Net's abstract defines its FLOPs as "floating-point operation, in number of
  multiply-adds", as fvcore counts them (``actrec.models.complexity``), of one clip, one view, batch 1.
* **Input size for FLOPs**: RGB clips at 224² (Table 6's X3D is X3D-M at 16 × 224², Table 1; TSM's 33G and PoseC3D's
  RGB SlowOnly are at 224²); heatmaps at 56², the side of Pose-X3D's input (Table 2) and of PoseC3D's training crops.
  PoseC3D tests at 64², where these networks count 21.94 (C3D) and 20.61 (SlowOnly) GFLOPs: not Table 7's figures.
* **"48 frames"** (Table 7's T_pose) is the heatmap volume's time axis: 48 frames sampled from the video (PoseC3D's
  ``clip_len=48``), each a stack of K = 17 joint heatmaps (every person in the frame drawn into the same maps), so one
  clip is ``(1, 17, 48, 56, 56)``. T_RGB (Table 6) is the RGB clip's frames.
* **Classes**: 60 (NTU RGB+D 60, the tables' dataset). Table 6's 31.9M for SlowOnly is not its 60-class count
  (31,757,436 = 31.8M) but its 120-class one (31,880,376: Table 4's 31.88M for "RGB video [12] SlowOnly" on NTU-120),
  the figure apparently carried over; the tests pin both.
* **The networks are the cited works' own, not re-designed**: the pose variants follow PoseC3D's released configs
  (``configs/posec3d/c3d_light_ntu60_xsub/joint.py``, ``slowonly_r50_ntu60_xsub/joint.py`` in its code release,
  github.com/kennymckormick/pyskl), which give the printed counts; e.g. PoseC3D's pose SlowOnly keeps its stem's max
  pool at stride 1 (a 3×3 max filter) and strides time only in the last stage (without that stride: 17.150 GFLOPs).
* **Heads**: GAP → dropout 0.5 → fc for all four (PoseC3D's ``I3DHead``). TSM averages per-frame fc outputs (its
  "average consensus"); the fc being linear, that equals one fc on the clip's average except for per-frame dropout
  masks in training. ``head_channels`` > 0 (an X3D-style fc1) exists only so that EPAM-Net's CPU-tiny stream
  overrides apply to every stream.
* **Training from scratch**, each stream initialised as its network is (``init_resnet_weights``: Kaiming, the last BN
  of each bottleneck zeroed; ``init_c3d_weights``). TSM's paper starts from ImageNet weights and the paper does not say
  how its Table 6-7 rows were trained or whether they were copied from the cited works (Table 6's 94.4 is also the
  1-clip top-1 PoseC3D's release reports for its RGB-only SlowOnly on NTU-60 XSub); the sweeps train every row with
  §3.4's recipe of its stream.
* **Shift at the clip's ends**: zeros (TSM's offline, bi-directional shift); the temporal kernels of 3 pad with zeros.

Complexity at the paper's size (``count_parameters``, 60 classes; ``count_gflops`` = fvcore multiply-adds, one clip)
vs the printed figures:

* TSM-R50: 23,630,972 parameters vs 23.6M (+0.13%); 32.875 GFLOPs at 1×3×8×224² vs 33.0 (-0.4%), 65.750 at 16 frames
  vs 65.9 (-0.2%).
* SlowOnly-R50 RGB: 31,757,436 vs 31.9M (-0.45%; 31,880,376 with 120 classes, see above); 41.918 GFLOPs at
  1×3×8×224² vs 42.0 (-0.2%).
* C3D: 3,404,892 vs 3.4M (+0.14%); 16.799 GFLOPs at 1×17×48×56² vs 16.8 (-0.01%).
* Pose SlowOnly: 2,024,860 vs 2.0M (+1.2%, inside the printed figure's rounding); 15.776 GFLOPs vs 15.9 (-0.8%).

Of those GFLOPs the convolutions are 32.697, 41.740, 16.777 and 15.631, fvcore's BN (one per element in eval) the rest;
activations, pooling and residual additions, which the paper's unnamed counter may include, are not counted. The
X3D rows of Tables 6-7 are ``epam_rgb_x3d`` (3,097,662; 4.898 vs Table 6's 5.0, which is Table 4's 4.97 rounded) and
``epam_pose_x3d`` (543,762; 3.977 vs 4.03).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn

from actrec.layers.c3d import C3DBackbone, init_c3d_weights
from actrec.layers.resnet3d import (
    EXPANSION,
    RESNET50_DEPTHS,
    RESNET50_WIDTHS,
    TSM_SHIFT_DIV,
    ResNetBackbone,
    init_resnet_weights,
)
from actrec.layers.x3d import X3DHead
from actrec.models.epam import EPAMX3DConfig
from actrec.models.registry import register_model

# Tables 6 (RGB, NTU RGB+D 60) and 7 (pose, 48 heatmap frames) as printed: parameters and GFLOPs per variant and
# clip length. Table 6 prints 23.6M for TSM at 8 and at 16 frames (the same network).
PAPER_PARAMETERS = {
    "epam_rgb_tsm_r50": 23.6e6,
    "epam_rgb_slowonly_r50": 31.9e6,
    "epam_pose_c3d": 3.4e6,
    "epam_pose_slowonly_r50": 2.0e6,
}
PAPER_GFLOPS = {
    ("epam_rgb_tsm_r50", 8): 33.0,
    ("epam_rgb_tsm_r50", 16): 65.9,
    ("epam_rgb_slowonly_r50", 8): 42.0,
    ("epam_pose_c3d", 48): 16.8,
    ("epam_pose_slowonly_r50", 48): 15.9,
}
_TUPLE_FIELDS = ("stage_widths", "stage_depths", "spatial_strides", "temporal_strides", "temporal_kernels")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_stream_fields(config: Any, tuple_fields: tuple[str, ...]) -> None:
    """The checks every EPAM-Net stream config shares: lists become tuples, counts are ints >= 1, the per-stage tuples
    have one value per stage, ``head_channels`` >= 0 and ``dropout`` in [0, 1); messages name ``model.<field>``."""
    for name in tuple_fields:  # lists (JSON / YAML) become tuples
        if isinstance(getattr(config, name), list):
            object.__setattr__(config, name, tuple(getattr(config, name)))
    for name in ("num_classes", "in_channels", "num_frames", "image_size", "stem_width"):
        value = getattr(config, name)
        if not _is_int(value) or value < 1:
            raise ValueError(f"model.{name} must be an int >= 1, got {value!r}")
    stages = config.stage_widths
    for name in tuple_fields:
        value = getattr(config, name)
        if not isinstance(value, tuple) or not value or not all(_is_int(v) and v >= 1 for v in value):
            raise ValueError(f"model.{name} must be a non-empty tuple of ints >= 1, got {value!r}")
        if len(value) != len(stages):
            raise ValueError(
                f"model.{name} must have one value per stage of model.stage_widths ({len(stages)}), got {value!r}"
            )
    if not _is_int(config.head_channels) or config.head_channels < 0:
        raise ValueError(f"model.head_channels must be an int >= 0 (0: GAP → fc), got {config.head_channels!r}")
    if not _is_real(config.dropout) or not 0 <= config.dropout < 1:
        raise ValueError(f"model.dropout must be in [0, 1), got {config.dropout!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class EPAMResNetConfig:
    """Configuration of ``EPAMResNet``: a ResNet-50 video network (TSM-R50, SlowOnly-R50 RGB, PoseC3D's pose
    SlowOnly); keys ``model.<field>``. Defaults are TSM-R50 on 8 RGB frames (Table 6's first row)."""

    num_classes: int = 60  # output classes (NTU RGB+D 60: 60, NTU RGB+D 120: 120)
    in_channels: int = 3  # input channels: 3 (RGB) or K = 17 joint heatmaps (pose)
    num_frames: int = 8  # frames of the paper clip (TSM 8 or 16, SlowOnly RGB 8, pose 48); not enforced
    image_size: int = 224  # crop size of the paper clip (RGB 224, pose 56); not enforced
    stem_width: int = 64  # conv1 channels (ResNet-50: 64; PoseC3D's pose SlowOnly: 32)
    stem_spatial_stride: int = 2  # conv1 spatial stride (ResNet: 2; pose SlowOnly: 1)
    stem_pool_stride: int = 2  # spatial stride of the 1×3² max pool after conv1 (ResNet: 2; pose SlowOnly: 1)
    stage_widths: tuple[int, ...] = RESNET50_WIDTHS  # inner widths per stage; outputs 4× (ResNet-50: 64 … 512)
    stage_depths: tuple[int, ...] = RESNET50_DEPTHS  # blocks per stage (ResNet-50: 3, 4, 6, 3; pose SlowOnly: 4, 6, 3)
    spatial_strides: tuple[int, ...] = (1, 2, 2, 2)  # per stage, on its first block (pose SlowOnly: 2, 2, 2)
    temporal_strides: tuple[int, ...] = (1, 1, 1, 1)  # per stage, on its first block (pose SlowOnly: 1, 1, 2)
    temporal_kernels: tuple[int, ...] = (1, 1, 1, 1)  # first conv of each block: 1 (2D) or 3 (SlowOnly res4-res5)
    shift_div: int = TSM_SHIFT_DIV  # TSM's residual shift of 1/shift_div channels each way; 0 = none (SlowOnly)
    head_channels: int = 0  # 0: GAP → dropout → fc (TSM, PoseC3D); > 0: an fc1 of this width first (CPU-tiny only)
    dropout: float = 0.5  # dropout before the fc (TSM, PoseC3D: 0.5)

    def __post_init__(self) -> None:
        _check_stream_fields(self, _TUPLE_FIELDS)
        if any(kernel % 2 == 0 for kernel in self.temporal_kernels):
            raise ValueError(f"model.temporal_kernels must be odd ('same' padding), got {self.temporal_kernels!r}")
        for name in ("stem_spatial_stride", "stem_pool_stride"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"model.{name} must be an int >= 1, got {value!r}")
        if not _is_int(self.shift_div) or self.shift_div == 1 or self.shift_div < 0:
            raise ValueError(f"model.shift_div must be 0 (no shift) or an int >= 2 (TSM: 8), got {self.shift_div!r}")

    @property
    def feature_channels(self) -> int:
        """Channels of ``features(x)``: ``4 · stage_widths[-1]`` (ResNet-50: 2048; pose SlowOnly: 512)."""
        return EXPANSION * self.stage_widths[-1]

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """``(T, H, W)`` of ``features(x)`` on the paper clip (TSM / SlowOnly RGB: (T, 7, 7); pose SlowOnly:
        (24, 7, 7)). Every stride rounds up (padded convs and max pool)."""
        frames, size = self.num_frames, self.image_size
        for stride in (self.stem_spatial_stride, self.stem_pool_stride, *self.spatial_strides):
            size = math.ceil(size / stride)
        for stride in self.temporal_strides:
            frames = math.ceil(frames / stride)
        return frames, size, size


class EPAMResNet(nn.Module):
    """A ResNet-50 video stream (``ResNetBackbone``) and its pooled classifier ``head`` (GAP → dropout → fc).

    ``features(x)``: ``(B, in_channels, T, H, W) -> (B, feature_channels, T', H / S, W / S)`` (S = 32 for TSM and
    SlowOnly RGB, 8 for the pose SlowOnly); ``forward(x)``: ``-> (B, num_classes)`` logits.
    """

    def __init__(self, config: EPAMResNetConfig) -> None:
        super().__init__()
        if not isinstance(config, EPAMResNetConfig):
            raise TypeError(f"EPAMResNet expects an EPAMResNetConfig, got {type(config).__name__}")
        self.config = config
        self.backbone = ResNetBackbone(
            config.in_channels,
            stem_width=config.stem_width,
            stem_spatial_stride=config.stem_spatial_stride,
            stem_pool_stride=config.stem_pool_stride,
            stage_widths=config.stage_widths,
            stage_depths=config.stage_depths,
            spatial_strides=config.spatial_strides,
            temporal_strides=config.temporal_strides,
            temporal_kernels=config.temporal_kernels,
            shift_div=config.shift_div,
        )
        self.head = X3DHead(
            self.backbone.out_channels,
            config.num_classes,
            hidden_channels=config.head_channels or None,
            dropout=config.dropout,
        )
        init_resnet_weights(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map before the head, ``(B, feature_channels, T', H', W')``."""
        if x.ndim != 5 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"EPAMResNet expects (B, {self.config.in_channels}, T, H, W) clips, got {tuple(x.shape)}")
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@dataclasses.dataclass(frozen=True, kw_only=True)
class EPAMC3DConfig:
    """Configuration of ``EPAMC3D``: PoseC3D's C3D on pose heatmaps (Table 7's "C3D [12]" row); keys
    ``model.<field>``. Defaults are that network on 17 heatmaps of 48 × 56²."""

    num_classes: int = 60  # output classes (NTU RGB+D 60: 60, NTU RGB+D 120: 120)
    in_channels: int = 17  # input channels: K = 17 joint heatmaps (pose) or 3 (RGB)
    num_frames: int = 48  # heatmap frames of the paper clip (Table 7: 48); not enforced
    image_size: int = 56  # heatmap side of the paper clip (56, as Pose-X3D); not enforced
    stem_width: int = 32  # conv1a channels (PoseC3D's C3D: 32, half of C3D's 64)
    stage_widths: tuple[int, ...] = (64, 128, 256)  # conv2a, conv3a-b, conv4a-b channels
    stage_depths: tuple[int, ...] = (1, 2, 2)  # convs per stage (conv2a; conv3a-b; conv4a-b)
    temporal_downsample: bool = False  # 2×2² instead of 1×2² pools after the first (C3D: True; PoseC3D: False)
    head_channels: int = 0  # 0: GAP → dropout → fc (PoseC3D); > 0: an fc1 of this width first (CPU-tiny only)
    dropout: float = 0.5  # dropout before the fc (PoseC3D: 0.5)

    def __post_init__(self) -> None:
        _check_stream_fields(self, ("stage_widths", "stage_depths"))
        if not isinstance(self.temporal_downsample, bool):
            raise ValueError(f"model.temporal_downsample must be a bool, got {self.temporal_downsample!r}")

    @property
    def feature_channels(self) -> int:
        """Channels of ``features(x)``: the last stage's width (256)."""
        return self.stage_widths[-1]

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """``(T, H, W)`` of ``features(x)`` on the paper clip ((48, 7, 7)). Every pool rounds down (unpadded)."""
        frames, size = self.num_frames, self.image_size
        for index in range(len(self.stage_widths)):
            size //= 2
            if self.temporal_downsample and index > 0:
                frames //= 2
        return frames, size, size


class EPAMC3D(nn.Module):
    """PoseC3D's C3D stream (``C3DBackbone``) and its pooled classifier ``head`` (GAP → dropout → fc).

    ``features(x)``: ``(B, in_channels, T, H, W) -> (B, feature_channels, T, H / 8, W / 8)``; ``forward(x)``:
    ``-> (B, num_classes)`` logits.
    """

    def __init__(self, config: EPAMC3DConfig) -> None:
        super().__init__()
        if not isinstance(config, EPAMC3DConfig):
            raise TypeError(f"EPAMC3D expects an EPAMC3DConfig, got {type(config).__name__}")
        self.config = config
        self.backbone = C3DBackbone(
            config.in_channels,
            stem_width=config.stem_width,
            stage_widths=config.stage_widths,
            stage_depths=config.stage_depths,
            temporal_downsample=config.temporal_downsample,
        )
        self.head = X3DHead(
            self.backbone.out_channels,
            config.num_classes,
            hidden_channels=config.head_channels or None,
            dropout=config.dropout,
        )
        init_c3d_weights(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map before the head, ``(B, feature_channels, T', H', W')``."""
        if x.ndim != 5 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"EPAMC3D expects (B, {self.config.in_channels}, T, H, W) clips, got {tuple(x.shape)}")
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# The config types an EPAM-Net stream may have (``actrec.models.epam_net``): X3D (the paper's own) and the backbones
# of Tables 6-7. Each has the fields EPAM-Net's CPU-tiny stream overrides set (frames, size, stem and stage widths,
# stage depths, head width) and ``feature_channels`` / ``feature_shape``; each model has ``features(x)`` and ``head``.
STREAM_CONFIGS = (EPAMX3DConfig, EPAMResNetConfig, EPAMC3DConfig)

# CPU-tiny overrides for the registry's tests (RGB: 4 frames at 32², pose: 8 heatmaps of 16²); inside EPAM-Net the
# tiny epam_net's own stream overrides (epam_net.TINY) apply instead.
_RGB_TINY: dict[str, Any] = {
    "num_frames": 4,
    "image_size": 32,
    "stem_width": 8,
    "stage_widths": (4, 8, 8, 8),
    "stage_depths": (1, 1, 1, 1),
}
_POSE_TINY: dict[str, Any] = {
    "num_frames": 8,
    "image_size": 16,
    "stem_width": 8,
    "stage_widths": (4, 8, 8),
    "stage_depths": (1, 1, 1),
}

# PoseC3D's pose SlowOnly: the released config ``slowonly_r50_ntu60_xsub/joint.py`` (module docstring).
_POSE_SLOWONLY: dict[str, Any] = {
    "in_channels": 17,
    "num_frames": 48,
    "image_size": 56,
    "stem_width": 32,
    "stem_spatial_stride": 1,
    "stem_pool_stride": 1,
    "stage_widths": (32, 64, 128),
    "stage_depths": (4, 6, 3),
    "spatial_strides": (2, 2, 2),
    "temporal_strides": (1, 1, 2),
    "temporal_kernels": (1, 3, 3),
    "shift_div": 0,
}


@register_model(EPAMResNet, tiny=_RGB_TINY)
def epam_rgb_tsm_r50(**overrides: Any) -> EPAMResNetConfig:
    """TSM-R50 (TSM §3.3 and §4; EPAM-Net Table 6 "TSM [20]"): ResNet-50 on every frame with the residual temporal
    shift of 1/8 of the channels each way; 8 or 16 frames at 224² (the same network); features (B, 2048, T, 7, 7)."""
    return EPAMResNetConfig(**overrides)


@register_model(EPAMResNet, tiny=_RGB_TINY)
def epam_rgb_slowonly_r50(**overrides: Any) -> EPAMResNetConfig:
    """SlowOnly-R50 on RGB (SlowFast §3.1, Table 1's Slow pathway; PoseC3D's RGB-only network; EPAM-Net Table 6
    "SlowOnly [12]"): ResNet-50 with 3×1² first convs in res4-res5, no shift; 8 frames at 224²; features
    (B, 2048, 8, 7, 7)."""
    return EPAMResNetConfig(**{"shift_div": 0, "temporal_kernels": (1, 1, 3, 3), **overrides})


@register_model(EPAMResNet, tiny=_POSE_TINY)
def epam_pose_slowonly_r50(**overrides: Any) -> EPAMResNetConfig:
    """PoseC3D's pose SlowOnly (PoseC3D §3.3; EPAM-Net Table 7 "SlowOnly [12]"): SlowOnly-R50 without res2, half
    width (stem 32), stem and pool stride 1, temporal stride 2 in the last stage, on 17 heatmaps of 48 × 56²; features
    (B, 512, 24, 7, 7)."""
    return EPAMResNetConfig(**{**_POSE_SLOWONLY, **overrides})


@register_model(EPAMC3D, tiny=_POSE_TINY)
def epam_pose_c3d(**overrides: Any) -> EPAMC3DConfig:
    """PoseC3D's C3D (PoseC3D §3.3; EPAM-Net Table 7 "C3D [12]"): conv1a 32, then 64, 128 × 2, 256 × 2 3×3×3 convs
    after 1×2² average pools, BN, on 17 heatmaps of 48 × 56²; features (B, 256, 48, 7, 7)."""
    return EPAMC3DConfig(**overrides)
