"""EPAM-Net, the full two-stream network (Abdelkawy, Ali & Farag, "EPAM-Net: An Efficient Pose-driven
Attention-guided Multimodal Network for Video Action Recognition", 2024), §3 (Fig. 2), §3.3, §3.4, Tables 4 and 5
(and Tables 6-7's other backbones as single streams).

``forward(rgb, pose)``: RGB clip ``(B, 3, 16, 224, 224)`` → RGB-X3D ``features`` f_r (B, 432, 16, 7, 7); pose
pseudo-heatmaps ``(B, 17, 48, 56, 56)`` → Pose-X3D ``features`` f_s (B, 216, 48, 7, 7) (both streams:
``actrec.models.epam``) → pose-driven spatial-temporal attention ``f'_r = f_r ⊗ A_ST(f_s)`` (§3.3,
``actrec.layers.pose_attention``: the nesting block, Eqs. (2)-(4), or the CBAM-style block of §4.3, Eqs. (6)-(7)) →
RGB head on f'_r and pose head on f_s (the "two classification heads" of Fig. 2) → stream logits ``(B, 2, K)`` in
``STREAMS`` order (rgb, pose). ``attention="none"`` skips the attention: two independent streams, the "Score fusion
(#1, #2)" row of Table 5.

Training-loop protocol (``actrec.train.loop``), as ``TwoStreamMFST``: ``training_loss(output, target)`` is Eq. (5),
``CE_pose + CE_rgb`` (each the batch mean, against class indices or (B, K) soft / mixed targets), with terms
``ce_rgb`` and ``ce_pose``; ``class_scores(output)`` is the score fusion (§3, step 3), (B, K) probabilities.

Details the paper leaves open, and the choice made here (the attention's own are listed in
``actrec.layers.pose_attention``; the streams' in ``actrec.models.epam``):

* **Score fusion** (``fusion``, ``rgb_weight``): the paper "fuses the class scores of two streams" without saying
  how. Default ``"logits"``: ``softmax(w · z_rgb + (1 - w) · z_pose)`` with w = 0.5 — the released code
  (github.com/ahmed-nady/Multimodal-Action-Recognition, ``inference/test_multimodal.py``) ranks classes by
  ``z_rgb + z_pose``, which w = 0.5 ranks identically; the softmax makes the loop's probabilities.
  ``"softmax"``: ``w · softmax(z_rgb) + (1 - w) · softmax(z_pose)`` (``TwoStreamMFST``'s late fusion).
* **Eq. (5) reduction**: each cross-entropy is the batch mean (Eq. (5) is per sample), summed with weight 1 each.
* **Pose head input**: the full 48-frame f_s (the pose stream exactly as trained alone, and as the released code
  does); only the attention sees the time-strided 16 frames.
* **RGB head input**: f'_r (§3.3 "re-weight visual features accordingly"); ``attention_residual=True`` gives the
  released code's ``f_r + f'_r`` instead.
* **Streams** are the registered variants ``rgb_variant`` / ``pose_variant`` (``epam_rgb_x3d``, ``epam_pose_x3d``;
  ``rgb_variant="epam_rgb_x3d_wide"`` is Table 3's "RGB-X3D-wide" row, §4.2) with ``rgb_overrides`` /
  ``pose_overrides``; both take ``num_classes`` from this config. The backbones Tables 6-7 weigh them against
  (``actrec.models.epam_backbones``: ``epam_rgb_tsm_r50``, ``epam_rgb_slowonly_r50``, ``epam_pose_c3d``,
  ``epam_pose_slowonly_r50``) are streams too: any variant whose config type is in ``STREAM_CONFIGS``, built through
  the registry. Every such config has the fields ``TINY``'s overrides set, so ``model.size=tiny`` makes whichever
  stream a trial selects tiny. ``TINY``'s RGB overrides keep the wide variant twice as wide (its ``width_factor``
  doubles whichever widths it is given). Each stream is initialised as its own network (X3D's, ResNet's, C3D's); the
  paper fine-tunes from single-stream pre-training (§3.4), which is the training recipe's job, not this class's.
* **Training recipe** (§3.4: "each stream is first trained separately ... then the whole network is fine-tuned"):
  ``streams="rgb"`` / ``"pose"`` builds one stream alone (``attention="none"``; forward ``(B, 1, K)``, loss
  ``CE_<stream>``, scores its softmax), the "Pose only" / "RGB only" rows of Table 5 and phase 1; phase 2 is
  ``streams="both"`` with ``rgb_checkpoint`` / ``pose_checkpoint`` pointing at the phase-1 trials' checkpoints
  (``load_stream_weights``; the ``sweeps/epam_*.py`` tables wire them through ``actrec.papers.epam.epam_sweep``).
  The attention starts fresh.
* **Input check**: the two feature maps must share H × W (§3.3 spatial alignment: 7 × 7 at paper size) and the pose
  features' frames must be a multiple of the RGB features' (48 = 3 · 16; a stream with a temporal stride, such as
  PoseC3D's pose SlowOnly, has fewer than its input); the nesting block's FC layers fix T_M to the RGB features'
  frames (the RGB stream's ``num_frames``: no RGB stream here strides in time).
* **Registered** as ``epam_net`` (``TINY``: the overrides a tiny version needs, matching 3 × 3 feature grids at 96²
  RGB and 24² pose, 4 RGB and 12 pose frames). ``forward`` takes two tensors: the training loop passes the rows'
  ``video`` and ``pose`` columns of ``data.modality="rgb_pose"`` (``actrec.data.rgb_pose``), which
  ``actrec.config.ExperimentConfig`` requires for this model; ``pose_channels`` (the pose stream's ``in_channels``:
  17 COCO joints, 25 NTU RGB+D joints, or limbs) is derived from the dataset like other models' ``in_channels``.

Parameters at paper size (``count_parameters``), NTU RGB+D 120 (120 classes), vs Table 4's "both 3.76M":

* ``attention="nesting"``: 3,779,891 = RGB-X3D 3,220,602 + Pose-X3D 556,782 + attention 2,507 (+0.53%);
* ``attention="cbam"``: 3,777,490 (attention 106; +0.47%); ``attention="none"``: 3,777,384 (+0.46%).

Table 4's 3.76M is the sum of its two stream rows, 3.22M + 543.76k, and 543.76k is Pose-X3D with a 60-class head
(3,220,602 + 543,762 = 3,764,364); the 120-class pose head adds 216 · 60 + 60 = 13,020 of the +0.53%, the attention
2,507 (0.07%). fvcore GFLOPs (multiply-adds) of one paper clip pair (1 × 3 × 16 × 224², 1 × 17 × 48 × 56²): 8.877
nesting, 8.875 CBAM-style, 8.875 none, vs Table 4's "9G" (-1.4%; the streams' 4.898 + 3.977 of ``actrec.models.epam``,
the attention adds 1.6 MFLOPs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from actrec.layers.pose_attention import CBAMSpatialTemporalAttention, NestingSpatialTemporalAttention
from actrec.models.checkpoints import read_checkpoint
from actrec.models.epam_backbones import STREAM_CONFIGS
from actrec.models.registry import build_model, list_models, model_config, register_model
from actrec.models.two_stream import FUSIONS, fuse_stream_scores, stream_weights, summed_stream_loss

ATTENTIONS = ("nesting", "cbam", "none")  # §3.3 nesting STA, §4.3 CBAM-style STA, Table 5 plain score fusion
STREAMS = ("rgb", "pose")  # order of the stream axis of the output (B, 2, K)
STREAM_CHOICES = ("both", *STREAMS)  # model.streams
Overrides = Mapping[str, Any] | tuple[tuple[str, Any], ...]
PAPER_PARAMETERS = 3.76e6  # Table 4, "RGB-X3D + Pose-X3D", NTU RGB+D 120
TINY: dict[str, Any] = {
    "rgb_overrides": {
        "num_frames": 4,
        "image_size": 96,  # 96 / 32 → 3 × 3 features
        "stem_width": 8,
        "stage_widths": (8, 16, 16, 24),
        "stage_depths": (1, 2, 1, 2),
        "head_channels": 32,
    },
    "pose_overrides": {
        "num_frames": 12,  # 3 × the RGB frames, as 48 = 3 × 16
        "image_size": 24,  # 24 / 8 → 3 × 3 features
        "stem_width": 8,
        "stage_widths": (8, 16, 24),
        "stage_depths": (2, 1, 2),
    },
}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_pairs(value: object, name: str) -> tuple[tuple[str, Any], ...]:
    """Overrides as sorted ``(field, value)`` pairs (hashable, so the frozen config stays hashable); lists become
    tuples."""
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, tuple | list) and all(isinstance(p, tuple | list) and len(p) == 2 for p in value):
        items = [tuple(p) for p in value]
    else:
        raise ValueError(f"model.{name} must be a mapping of stream config fields to values, got {value!r}")
    if not all(isinstance(key, str) for key, _ in items) or len({key for key, _ in items}) != len(items):
        raise ValueError(f"model.{name} must map distinct field names to values, got {value!r}")
    return tuple(sorted((key, tuple(v) if isinstance(v, list) else v) for key, v in items))


@dataclasses.dataclass(frozen=True, kw_only=True)
class EPAMNetConfig:
    """Configuration of ``EPAMNet`` (§3, Fig. 2; Tables 4-5 and the §4.3 attention ablation); keys ``model.<field>``."""

    num_classes: int = 60  # output classes of both heads (NTU RGB+D 60: 60, NTU RGB+D 120: 120)
    rgb_variant: str = "epam_rgb_x3d"  # registered variant of the RGB stream (§3.1, Table 1; §4.2: "_wide")
    pose_variant: str = "epam_pose_x3d"  # registered variant of the pose stream (§3.2, Table 2)
    rgb_overrides: Overrides = ()  # stream config fields over rgb_variant's (a dict; kept as sorted pairs)
    pose_overrides: Overrides = ()  # stream config fields over pose_variant's (a dict; kept as sorted pairs)
    attention: str = "nesting"  # "nesting" (§3.3), "cbam" (§4.3 ablation) or "none" (Table 5 score fusion row)
    temporal_reduction: int = 1  # r of the nesting block's Eq. (4): W_1 maps T → T / r (released code: 16 → 16)
    temporal_kernel: int = 7  # odd kernel of the CBAM-style block's Eq. (7) Conv1D over time (released code: 7)
    attention_residual: bool = False  # False: f'_r = f_r ⊗ A_ST (§3.3); True: f_r + f_r ⊗ A_ST (released code)
    fusion: str = "logits"  # score fusion: "logits" (softmax of weighted logits) or "softmax" (weighted probs)
    rgb_weight: float = 0.5  # fusion weight of the RGB stream; the pose stream gets 1 - rgb_weight
    pose_channels: int = 17  # heatmap channels = the pose stream's in_channels (K = 17 COCO joints, §3.2; NTU 25)
    streams: str = "both"  # "both" (EPAM-Net), or "rgb" / "pose": one stream alone (§3.4 phase 1; Table 5 rows 1-2)
    rgb_checkpoint: str = ""  # "" or a checkpoint to start the RGB stream from (§3.4 phase 2; see load_stream_weights)
    pose_checkpoint: str = ""  # "" or a checkpoint to start the pose stream from

    def __post_init__(self) -> None:
        for name in ("rgb_overrides", "pose_overrides"):  # dicts (JSON / YAML, TINY) become sorted pairs
            object.__setattr__(self, name, _as_pairs(getattr(self, name), name))
        if not _is_int(self.num_classes) or self.num_classes < 1:
            raise ValueError(f"model.num_classes must be an int >= 1, got {self.num_classes!r}")
        if not _is_int(self.pose_channels) or self.pose_channels < 1:
            raise ValueError(f"model.pose_channels must be an int >= 1, got {self.pose_channels!r}")
        if "in_channels" in dict(self.pose_overrides):
            raise ValueError("model.pose_overrides must not set in_channels (model.pose_channels sets it)")
        for stream in STREAMS:
            variant = getattr(self, f"{stream}_variant")
            if variant not in list_models() or not isinstance(model_config(variant), STREAM_CONFIGS):
                known = [name for name in list_models() if isinstance(model_config(name), STREAM_CONFIGS)]
                raise ValueError(f"model.{stream}_variant must be an EPAM-Net stream variant {known}, got {variant!r}")
            if "num_classes" in dict(getattr(self, f"{stream}_overrides")):
                raise ValueError(f"model.{stream}_overrides must not set num_classes (model.num_classes sets both)")
            self.stream_config(stream)  # validates the overrides
        if self.attention not in ATTENTIONS:
            raise ValueError(f"model.attention must be one of {ATTENTIONS}, got {self.attention!r}")
        if self.streams not in STREAM_CHOICES:
            raise ValueError(f"model.streams must be one of {STREAM_CHOICES}, got {self.streams!r}")
        if self.streams != "both" and self.attention != "none":
            raise ValueError(
                f"model.streams={self.streams!r} trains one stream alone, which has no pose-driven attention: set "
                f"model.attention='none' (got {self.attention!r})"
            )
        for stream in STREAMS:
            path = getattr(self, f"{stream}_checkpoint")
            if not isinstance(path, str):
                raise ValueError(f"model.{stream}_checkpoint must be a path or '', got {path!r}")
            if path and stream not in self.active_streams:
                raise ValueError(f"model.{stream}_checkpoint is set but model.streams={self.streams!r} has no {stream}")
        rgb, pose = self.stream_config("rgb"), self.stream_config("pose")
        if self.attention != "none":
            if rgb.feature_shape[1:] != pose.feature_shape[1:]:
                raise ValueError(
                    f"model.pose_overrides: the pose features' grid {pose.feature_shape[1:]} must match the RGB "
                    f"features' {rgb.feature_shape[1:]} for the attention (§3.3 spatial alignment; image_size / "
                    "stem_spatial_stride / stage_widths decide it)"
                )
            if pose.feature_shape[0] % rgb.feature_shape[0]:
                raise ValueError(
                    f"model.pose_overrides: the pose features' frames ({pose.feature_shape[0]}) must be a multiple of "
                    f"the RGB features' ({rgb.feature_shape[0]}) for time-strided sampling (§3.3; paper 48 = 3 · 16; "
                    "num_frames and the streams' temporal strides decide them)"
                )
        reduction, frames = self.temporal_reduction, rgb.feature_shape[0]
        if not _is_int(reduction) or reduction < 1 or frames // reduction < 1:
            raise ValueError(
                f"model.temporal_reduction must be an int in [1, RGB feature frames = {frames}], got {reduction!r}"
            )
        kernel = self.temporal_kernel
        if not _is_int(kernel) or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"model.temporal_kernel must be an odd int >= 1, got {kernel!r}")
        if not isinstance(self.attention_residual, bool):
            raise ValueError(f"model.attention_residual must be a bool, got {self.attention_residual!r}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"model.fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if not _is_real(self.rgb_weight) or not 0.0 <= self.rgb_weight <= 1.0:
            raise ValueError(f"model.rgb_weight must be in [0, 1], got {self.rgb_weight!r}")

    @property
    def active_streams(self) -> tuple[str, ...]:
        """The streams the model has, in ``STREAMS`` order: both, or the one of ``streams``."""
        return STREAMS if self.streams == "both" else (self.streams,)

    @property
    def rgb_frames(self) -> int | None:
        """RGB frames T_M the model is built for: the RGB stream's ``num_frames`` with the nesting attention (its FC
        layers span time, Eq. (4)); None when any T_M works (``"cbam"``, ``"none"``)."""
        return self.stream_config("rgb").num_frames if self.attention == "nesting" else None

    def stream_config(self, stream: str) -> Any:
        """The config (one of ``STREAM_CONFIGS``) of stream ``"rgb"`` or ``"pose"``: its variant, its overrides,
        ``num_classes`` (and ``pose_channels`` as the pose stream's ``in_channels``)."""
        if stream not in STREAMS:
            raise ValueError(f"stream must be one of {STREAMS}, got {stream!r}")
        overrides = dict(getattr(self, f"{stream}_overrides"))
        if stream == "pose":
            overrides["in_channels"] = self.pose_channels
        try:
            return model_config(getattr(self, f"{stream}_variant"), **overrides, num_classes=self.num_classes)
        except (TypeError, ValueError) as error:
            raise ValueError(f"model.{stream}_overrides: {error}") from error


class EPAMNet(nn.Module):
    """EPAM-Net (§3, Fig. 2): RGB-X3D and Pose-X3D streams, pose-driven spatial-temporal attention on the RGB
    features (§3.3 / §4.3, or none), two heads, score fusion.

    ``forward(rgb, pose)``: ``(B, 3, T_M, H, W)`` and ``(B, 17, T_N, H', W')`` clips (paper: 16 × 224², 48 × 56²) ->
    stream logits ``(B, 2, K)`` in ``STREAMS`` order, the RGB logits computed from the attended features.
    """

    def __init__(self, config: EPAMNetConfig) -> None:
        super().__init__()
        if not isinstance(config, EPAMNetConfig):
            raise TypeError(f"EPAMNet expects an EPAMNetConfig, got {type(config).__name__}")
        self.config = config
        self.streams = config.active_streams
        self.rgb = build_model(config.stream_config("rgb")) if "rgb" in self.streams else None
        self.pose = build_model(config.stream_config("pose")) if "pose" in self.streams else None
        for stream in self.streams:
            path = getattr(config, f"{stream}_checkpoint")
            if path:
                load_stream_weights(getattr(self, stream), path, name=stream)
        self.attention: nn.Module | None
        if config.attention == "nesting":
            self.attention = NestingSpatialTemporalAttention(
                self.pose.config.feature_channels,
                self.rgb.config.feature_shape[0],
                reduction=config.temporal_reduction,
                residual=config.attention_residual,
            )
        elif config.attention == "cbam":
            self.attention = CBAMSpatialTemporalAttention(
                temporal_kernel=config.temporal_kernel, residual=config.attention_residual
            )
        else:
            self.attention = None

    def forward(self, rgb: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        if rgb.shape[0] != pose.shape[0]:
            raise ValueError(
                f"EPAMNet expects RGB and pose clips of one batch, got {tuple(rgb.shape)}, {tuple(pose.shape)}"
            )
        if self.rgb is None or self.pose is None:  # one stream alone (model.streams): (B, 1, K)
            stream, clip = (self.rgb, rgb) if self.pose is None else (self.pose, pose)
            return stream.head(stream.features(clip))[:, None]
        rgb_features = self.rgb.features(rgb)  # f_r (B, 432, T_M, 7, 7)
        pose_features = self.pose.features(pose)  # f_s (B, 216, T_N, 7, 7)
        if self.attention is not None:
            rgb_features = self.attention(rgb_features, pose_features)  # f'_r = f_r ⊗ A_ST
        return torch.stack([self.rgb.head(rgb_features), self.pose.head(pose_features)], dim=1)  # (B, 2, K)

    def stream_weights(self, *, device: torch.device | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Score-fusion weights ``(rgb_weight, 1 - rgb_weight)`` of the streams, shape (2,)."""
        return stream_weights(self.config.rgb_weight, device=device, dtype=dtype)

    def fuse_scores(self, stream_logits: torch.Tensor) -> torch.Tensor:
        """Score fusion (§3 step 3): stream logits ``(B, 2, K)`` -> class probabilities ``(B, K)``; ``"logits"``:
        softmax of the weighted sum of the logits, ``"softmax"``: weighted sum of the streams' softmaxes."""
        return fuse_stream_scores(stream_logits, self.config.rgb_weight, self.config.fusion)

    def example_inputs(self, batch_size: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
        """Model protocol (:mod:`actrec.models.protocol`): RGB clips (B, 3, T_M, S, S) and pose heatmaps
        (B, K, 3·T_M, S/4, S/4) in the paper's ratios (16 × 224² and 48 × 56²), at the RGB stream's size."""
        rgb = self.config.stream_config("rgb")
        frames, size = rgb.num_frames, rgb.image_size
        return (
            torch.randn(batch_size, 3, frames, size, size),
            torch.randn(batch_size, self.config.pose_channels, 3 * frames, size // 4, size // 4),
        )

    def class_scores(self, stream_logits: torch.Tensor) -> torch.Tensor:
        """Training-loop protocol: the class probabilities are the fused scores (``fuse_scores``), or the one
        stream's softmax."""
        if len(self.streams) == 1:
            return F.softmax(stream_logits[:, 0], dim=-1)
        return self.fuse_scores(stream_logits)

    def training_loss(
        self, stream_logits: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Training-loop protocol, Eq. (5): ``CE_rgb + CE_pose`` against ``target`` (class indices or (B, K) soft
        targets), each the batch mean; terms ``ce_rgb``, ``ce_pose``."""
        return summed_stream_loss(stream_logits, target, self.streams)


def load_stream_weights(stream: nn.Module, path: str, *, name: str) -> Path:
    """Start EPAM-Net stream ``name`` ("rgb" / "pose") from checkpoint ``path`` (a trial's checkpoint directory or a
    ``.pt`` file, as ``actrec.models.checkpoints`` reads them). Its ``"model"`` entry is an ``epam_net`` state dict
    holding that stream (``<name>.*``: a phase-1 trial with ``model.streams=<name>``, or a full EPAM-Net) or the
    single-stream state dict of its variant (e.g. ``epam_rgb_x3d``, ``epam_pose_x3d``). Every tensor of the stream,
    its head included, is loaded; errors name ``model.<name>_checkpoint`` and the file. Returns the file read."""
    field = f"model.{name}_checkpoint"
    file, saved = read_checkpoint(path, field=field)
    state = saved.get("model") if isinstance(saved, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{field}: checkpoint {file} has no 'model' state_dict entry")
    prefix = f"{name}."
    if any(key.startswith(prefix) for key in state):
        state = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
    try:
        stream.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(
            f"{field}: checkpoint {file} does not fit the {name} stream (the same variant, overrides and classes are "
            f"expected): {error}"[:1200]
        ) from error
    return file


@register_model(EPAMNet, tiny={name: _as_pairs(value, name) for name, value in TINY.items()})
def epam_net(**overrides: Any) -> EPAMNetConfig:
    """EPAM-Net (§3, Fig. 2; Table 4 "RGB-X3D + Pose-X3D"): RGB-X3D and Pose-X3D with the nesting pose-driven
    attention (§3.3) and score fusion; inputs 16 × 224² RGB and 48 × 56² heatmaps of 17 joints."""
    return EPAMNetConfig(**overrides)
