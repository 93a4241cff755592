"""MFST: Multi-stage Factorized Spatio-Temporal representation (Ma, Zhou, Wang, Wang, 2023), §III.

``V (B, 3, T, H, W) → CDC-Stem (§III-C) → stages × [MSC-Trans (§III-D1) → WMS-Trans (§III-D2)] (+ residual)
→ MLP head → logits (B, num_classes)``, Eq. (1).

Shapes at the paper's input (32 frames, 224×224) with ``mfst_large``: stem (B, 192, 16, 28, 28); each stage
halves H and W in its MSC max-pool: stage 1 (B, d1, 16, 14, 14), stage 2 (B, d2, 16, 7, 7), stage 3
(B, d3, 16, 4, 4), stage 4 (B, d4, 16, 2, 2). The temporal length T/2 is kept through the stages.

Details the paper leaves open, and the choice made here:

* **Stem** (§III-C): the first five layers of I3D — Conv 7×7×7 stride 2 → MaxPool 1×3×3 stride (1,2,2) →
  Conv 1×1×1 → Conv 3×3×3 → MaxPool 1×3×3 stride (1,2,2) — with BatchNorm + ReLU after each conv (I3D's Unit3D)
  and I3D's "SAME"-style padding (conv 7 pad 3, conv 3 pad 1, pools pad (0,1,1)), so the output is
  (B, stem_channels[1], ceil(T/2), ceil(H/8), ceil(W/8)) for any size ≥ 1. Widths are I3D's (64, 64, 192) by
  default (``stem_channels = (c1, c2)`` gives c1, c1, c2). CDC replaces the 7×7×7 and 3×3×3 convs; the 1×1×1 conv
  stays a plain Conv3d because CDC is degenerate there: for "ST" it only rescales the output by (1-θ) (all zeros at
  θ=1) and for "T" the adjacent-frame region T'' is empty.
* **Which CDC**: the paper uses CDC-ST for RGB and CDC-T for depth (Table IV); ``stem`` selects it per run, the
  variants default to "CDC-ST" (θ=0.6, Table IV).
* **CDC-T's T''** (§III-C, Eq. (6)): the central difference is taken over "the regions in the adjacent time steps"
  T'', the cube Z being split into T' (the current time step) and T''. For a 3-frame kernel that is slices 0 and 2
  under any reading, but the stem's first conv has 7 frames. ``cdc_t_reading`` (``CDCConv3d(temporal_reading=...)``)
  picks: "non_centre" (default; every slice but the centre, Z minus T' as the paper's two-region split says),
  "neighbours" (frames t±1 only) or "released" (slices 0 and 2 literally, as the released 3-frame CDC-T code,
  i.e. frames t-3 and t-1 of a 7-frame kernel). Only the 7×7×7 conv is affected (the 3×3×3 one has 3 frames), and
  only when the stem is "CDC-T"; the value is ignored for "vanilla" and "CDC-ST" stems, like θ for "vanilla".
* **MSC-Trans** (Eq. (7)-(8)): ``SpaceCentricInception3d`` (layout documented there) from the stage input width to
  the stage width, then MaxPool 1×3×3 stride (1,2,2) padding (0,1,1) (ceil(H/2), never below 1), then
  ``spatial_layers`` pre-norm k-NN Transformer layers over the H·W tokens of each frame. No explicit spatial position
  embedding is added (the paper specifies positional encodings only for WMS-Trans; the zero-padded convolutions carry
  position locally), which also keeps the model input-size agnostic.
* **k-NN attention**: the paper attaches KVT [29] to the spatial Transformer (§III-D1) and to the temporal one
  (§I); both use ``knn_k``. Neither paper fixes k for this model; the default 0.5 keeps, for each query, the
  top half of the keys (fraction, so it adapts to every token count): e.g. 98 of 196 spatial tokens in stage 1
  at 224², and 8 / 4 / 2 of the 16 / 8 / 4 frames of the three temporal scales.
* **WMS-Trans** (§III-D2): tokens are the T frames at each spatial location. Scale s ∈ {0..temporal_scales-1}
  average-pools non-overlapping windows of 2^s frames (last window partial when T is not divisible, length
  ceil(T/2^s)), adds the sinusoidal positions of Eq. (9)-(10) for positions 0..ceil(T/2^s)-1, runs the ONE
  Transformer shared by all scales (``layers`` = L layers, ``heads`` = N_H), is upsampled back to T by giving
  every frame its window's output (nearest), and the scales are averaged. "V-Trans" (Table VI, the De+Recouple
  style multi-branch) uses the same scheme with a separate Transformer per scale.
* **Residual** (§III-B, Table V): around every stage, the stem output being the first stage's input:
  ``stage(x) + shortcut(x)``, shortcut = spatial average pooling to the MSC max-pool's output size (2×2 windows
  for even sizes, adaptive for odd or tiny ones) and a 1×1×1 conv (with bias) when the widths differ.
* **Head**: mean over (T, H, W) → LayerNorm → Linear(d, d) → GELU → Dropout → Linear(d, num_classes).
* **Widths**: the paper gives only the parameter counts (Table III: 32.6M base, 49.7M large at 60 classes), L=4,
  N_H=8 and four MSC-Trans layers. ``dims = (264, 320, 384, 416, 448)`` (all divisible by 8 heads) gives
  mfst_base 32,554,628 (-0.1%) and mfst_large 49,929,444 (+0.5%) parameters at 60 classes, mfst_large being
  mfst_base plus a fourth stage. (mfst_bm, with three unshared temporal Transformers per stage, has 96,950,108.)
  The paper builds at most four stages; the fifth width (448, the same +32 step as from the third width to the
  fourth) only serves stage-count sweeps beyond Table III (``model.stages`` 1..5) and leaves the 3- and 4-stage
  counts above unchanged.
* **MFST-BM** (§IV-A): "does not incorporate CDC, residual connections, and weight-shared Transformers" →
  vanilla stem, residual off, V-Trans, four stages like MFST-Large.
* **RGB+DEP** (Tables I and II, rows "Ours(MFST-Large) RGB+DEP"): the paper reports RGB-D results but does not
  describe how the modalities are combined; its conclusion leaves end-to-end multi-modal fusion to future work and
  §I/§III-C give each modality its own stem (CDC-ST for RGB, CDC-T for depth). ``TwoStreamMFST`` therefore assumes
  score-level late fusion of two separately trained single-modality MFSTs: an RGB stream and a depth stream (each a
  full MFST, in_channels 3) whose softmax scores are averaged with weights ``rgb_weight`` / ``1 - rgb_weight``. The
  streams are loaded from single-modality checkpoints (``rgb_checkpoint`` / ``depth_checkpoint``) or trained
  jointly, in which case the loss is the sum of the two streams' losses (the streams do not interact).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange, reduce, repeat
from torch import nn

from actrec.layers.cdc import TEMPORAL_READINGS, CDCConv3d
from actrec.layers.inception import SpaceCentricInception3d
from actrec.layers.transformer import Transformer, sinusoidal_positions
from actrec.models.checkpoints import read_checkpoint
from actrec.models.registry import register_model
from actrec.models.two_stream import fuse_stream_scores, stream_weights, summed_stream_loss

STEMS = ("vanilla", "CDC-ST", "CDC-T")
TEMPORAL_BLOCKS = ("WMS-Trans", "V-Trans")
RGBD_STREAMS = ("rgb", "depth")  # order of the two-stream input channels (3 + 3) and of its (B, 2, K) logits


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, kw_only=True)
class MFSTConfig:
    """Configuration of ``MFST`` (paper §III, §IV-A); field names are the dotted keys ``model.<field>``."""

    num_classes: int = 60  # output classes (60 for NTU RGB-D, 249 for IsoGD)
    in_channels: int = 3  # input channels C of the (B, C, T, H, W) clip (depth is replicated to 3)
    stem: str = "CDC-ST"  # CDC-Stem conv type: "vanilla" (Conv3d), "CDC-ST" (Eq. 5, RGB) or "CDC-T" (Eq. 6, depth)
    theta: float = 0.6  # θ of Eq. (5)/(6) in [0, 1]; ignored when stem == "vanilla" (Table IV best: 0.6)
    cdc_t_reading: str = "non_centre"  # T'' of Eq. (6): "non_centre", "neighbours" or "released"; CDC-T stems only
    stem_channels: tuple[int, ...] = (64, 192)  # (c1, c2): I3D stem widths conv7 → c1, conv1 → c1, conv3 → c2
    stages: int = 4  # number of factorized spatio-temporal stages (3 = MFST-Base, 4 = MFST-Large)
    dims: tuple[int, ...] = (264, 320, 384, 416, 448)  # per-stage widths; the first `stages` (1-5) are used
    inception_kernels: tuple[int, ...] = (1, 3, 5)  # spatial kernels k of the 1×k×k Inception branches, Eq. (7)
    spatial_layers: int = 4  # k-NN Transformer layers in each MSC-Trans block (§III-D1: four)
    layers: int = 4  # Transformer layers L in each WMS-Trans block (§IV-A: L = 4)
    heads: int = 8  # attention heads N_H of both Transformers (§IV-A: N_H = 8)
    knn_k: int | float = 0.5  # k-NN attention keys per query: int count or fraction of tokens in (0, 1]
    residual: bool = True  # residual connection around each stage (Table V)
    temporal_block: str = "WMS-Trans"  # "WMS-Trans" (one weight-shared Transformer) or "V-Trans" (one per scale)
    temporal_scales: int = 3  # temporal scales t, t/2, t/4, ... of WMS-Trans (§III-D2: three)
    mlp_ratio: float = 4.0  # Transformer MLP hidden width / token width
    dropout: float = 0.0  # dropout in the Transformers and the head

    def __post_init__(self) -> None:
        # Accept lists (e.g. from a CLI or Ray param_space) but store tuples so the config stays hashable.
        for name in ("stem_channels", "dims", "inception_kernels"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        self._validate()

    def _validate(self) -> None:
        for name in ("num_classes", "in_channels", "stages", "spatial_layers", "layers", "heads", "temporal_scales"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"model.{name} must be an int >= 1, got {value!r}")
        if self.stem not in STEMS:
            raise ValueError(f"model.stem must be one of {STEMS}, got {self.stem!r}")
        if not _is_real(self.theta) or not 0.0 <= self.theta <= 1.0:
            raise ValueError(f"model.theta must be in [0, 1], got {self.theta!r}")
        if self.cdc_t_reading not in TEMPORAL_READINGS:
            raise ValueError(f"model.cdc_t_reading must be one of {TEMPORAL_READINGS}, got {self.cdc_t_reading!r}")
        if (
            not isinstance(self.stem_channels, tuple)
            or len(self.stem_channels) != 2
            or not all(_is_int(c) and c >= 1 for c in self.stem_channels)
        ):
            raise ValueError(f"model.stem_channels must be a tuple of 2 ints >= 1, got {self.stem_channels!r}")
        if not isinstance(self.dims, tuple) or not all(_is_int(d) and d >= 1 for d in self.dims):
            raise ValueError(f"model.dims must be a tuple of ints >= 1, got {self.dims!r}")
        if len(self.dims) < self.stages:
            raise ValueError(
                f"model.dims must have at least model.stages = {self.stages} entries, "
                f"got {len(self.dims)}: {self.dims!r}"
            )
        for dim in self.dims[: self.stages]:
            if dim % self.heads != 0:
                raise ValueError(f"model.dims must be divisible by model.heads = {self.heads}, got {self.dims!r}")
            if dim < len(self.inception_kernels) + 1:
                raise ValueError(
                    f"model.dims must be >= the number of Inception branches ({len(self.inception_kernels) + 1}), "
                    f"got {self.dims!r}"
                )
        if (
            not isinstance(self.inception_kernels, tuple)
            or not self.inception_kernels
            or not all(_is_int(k) and k >= 1 and k % 2 == 1 for k in self.inception_kernels)
        ):
            raise ValueError(
                f"model.inception_kernels must be a non-empty tuple of odd ints >= 1, got {self.inception_kernels!r}"
            )
        knn_ok = (_is_int(self.knn_k) and self.knn_k >= 1) or (
            isinstance(self.knn_k, float) and 0.0 < self.knn_k <= 1.0
        )
        if not knn_ok:
            raise ValueError(f"model.knn_k must be an int >= 1 or a float in (0, 1], got {self.knn_k!r}")
        if not isinstance(self.residual, bool):
            raise ValueError(f"model.residual must be a bool, got {self.residual!r}")
        if self.temporal_block not in TEMPORAL_BLOCKS:
            raise ValueError(f"model.temporal_block must be one of {TEMPORAL_BLOCKS}, got {self.temporal_block!r}")
        if not _is_real(self.mlp_ratio) or self.mlp_ratio <= 0:
            raise ValueError(f"model.mlp_ratio must be > 0, got {self.mlp_ratio!r}")
        if not _is_real(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout!r}")

    @property
    def stage_dims(self) -> tuple[int, ...]:
        """The widths actually used, ``dims[:stages]``."""
        return self.dims[: self.stages]


def _spatial_halving_pool() -> nn.MaxPool3d:
    # 1×3×3, stride (1,2,2), padding (0,1,1): (T, H, W) -> (T, ceil(H/2), ceil(W/2)), valid for any H, W >= 1.
    return nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))


class SpatialHalvingAvgPool(nn.Module):
    """Average pooling ``(B, C, T, H, W) -> (B, C, T, ceil(H/2), ceil(W/2))`` for any H, W >= 1.

    Adaptive pooling (2×2 windows when H, W are even) instead of ``nn.AvgPool3d``, which rejects inputs smaller than
    its kernel even when padding would cover them.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, h, w = x.shape[-3:]
        return F.adaptive_avg_pool3d(x, (t, (h + 1) // 2, (w + 1) // 2))


class CDCStem(nn.Module):
    """CDC-Stem, MFST §III-C Eq. (2)-(6): the first five I3D layers with CDC convolutions.

    ``(B, C, T, H, W) -> (B, stem_channels[1], ceil(T/2), ceil(H/8), ceil(W/8))``. ``stem`` is "vanilla"
    (Conv3d, θ ignored), "CDC-ST" (Eq. (5)) or "CDC-T" (Eq. (6)). ``cdc_t_reading`` is the T'' of Eq. (6) for the
    7×7×7 conv of a "CDC-T" stem: "non_centre" (default, every frame but the centre one), "neighbours" (t±1) or
    "released" (kernel slices 0 and 2, as the released 3-frame code); the three agree on the 3×3×3 conv, and the value
    is ignored by "vanilla" and "CDC-ST" stems.
    """

    def __init__(
        self,
        in_channels: int,
        stem_channels: tuple[int, int],
        stem: str,
        theta: float,
        cdc_t_reading: str = TEMPORAL_READINGS[0],
    ) -> None:
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {stem!r}")
        if cdc_t_reading not in TEMPORAL_READINGS:
            raise ValueError(f"cdc_t_reading must be one of {TEMPORAL_READINGS}, got {cdc_t_reading!r}")
        self.cdc_t_reading = cdc_t_reading
        c1, c2 = stem_channels
        self.layers = nn.Sequential(
            self._conv(in_channels, c1, 7, 2, 3, stem, theta),  # Conv 7×7×7 stride 2
            nn.BatchNorm3d(c1),
            nn.ReLU(inplace=True),
            _spatial_halving_pool(),  # MaxPool 1×3×3 stride (1,2,2)
            nn.Conv3d(c1, c1, kernel_size=1, bias=False),  # Conv 1×1×1 (CDC is degenerate at 1×1×1)
            nn.BatchNorm3d(c1),
            nn.ReLU(inplace=True),
            self._conv(c1, c2, 3, 1, 1, stem, theta),  # Conv 3×3×3
            nn.BatchNorm3d(c2),
            nn.ReLU(inplace=True),
            _spatial_halving_pool(),  # MaxPool 1×3×3 stride (1,2,2)
        )

    def _conv(
        self, in_channels: int, out_channels: int, kernel: int, stride: int, padding: int, stem: str, theta: float
    ) -> nn.Module:
        if stem == "vanilla":
            return nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=padding, bias=False)
        mode = "ST" if stem == "CDC-ST" else "T"
        reading = self.cdc_t_reading if mode == "T" else TEMPORAL_READINGS[0]  # CDC-ST sums all of Z: no T''
        return CDCConv3d(
            in_channels,
            out_channels,
            kernel,
            stride=stride,
            padding=padding,
            theta=theta,
            mode=mode,
            temporal_reading=reading,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class MultiScaleConvTransformer(nn.Module):
    """MSC-Trans hybrid spatial block, MFST §III-D1 Eq. (7)-(8).

    ``F_MSC = MaxPool(InC_{1×k×k}(X))`` then ``spatial_layers`` k-NN Transformer layers over the H'·W' tokens of
    every frame. ``(B, C_in, T, H, W) -> (B, dim, T, ceil(H/2), ceil(W/2))``.
    """

    def __init__(
        self,
        in_channels: int,
        dim: int,
        *,
        inception_kernels: tuple[int, ...],
        depth: int,
        heads: int,
        knn_k: int | float,
        mlp_ratio: float,
        dropout: float,
    ) -> None:
        super().__init__()
        self.inception = SpaceCentricInception3d(in_channels, dim, inception_kernels)
        self.pool = _spatial_halving_pool()
        self.transformer = Transformer(dim, depth, heads, mlp_ratio=mlp_ratio, dropout=dropout, knn_k=knn_k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.inception(x))  # Eq. (7): (B, dim, T, H', W')
        b, _, t, h, w = x.shape
        tokens = rearrange(x, "b c t h w -> (b t) (h w) c")  # spatial tokens of each frame
        tokens = self.transformer(tokens)  # Eq. (8)
        return rearrange(tokens, "(b t) (h w) c -> b c t h w", b=b, t=t, h=h, w=w)


class WeightSharedMultiScaleTransformer(nn.Module):
    """WMS-Trans temporal block, MFST §III-D2 Eq. (9)-(10), and its unshared V-Trans ablation (Table VI).

    The T frames at every spatial location form a sequence; scale s averages windows of 2^s frames (length
    ceil(T/2^s)), adds sinusoidal positions, passes the Transformer (one shared by all scales when
    ``shared=True``, one per scale otherwise), is repeated back to T frames and the scales are averaged.
    ``(B, dim, T, H, W) -> (B, dim, T, H, W)``.
    """

    def __init__(
        self,
        dim: int,
        *,
        depth: int,
        heads: int,
        scales: int,
        shared: bool,
        knn_k: int | float,
        mlp_ratio: float,
        dropout: float,
    ) -> None:
        super().__init__()
        if not _is_int(scales) or scales < 1:
            raise ValueError(f"scales must be an int >= 1, got {scales!r}")
        self.scales = scales
        self.shared = shared
        self.transformers = nn.ModuleList(
            Transformer(dim, depth, heads, mlp_ratio=mlp_ratio, dropout=dropout, knn_k=knn_k)
            for _ in range(1 if shared else scales)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        tokens = rearrange(x, "b c t h w -> (b h w) t c")  # temporal sequence at each spatial location
        total = torch.zeros_like(tokens)
        for scale in range(self.scales):
            window = 2**scale
            if window == 1:
                sequence = tokens
            else:  # (N, t, c) -> (N, ceil(t / window), c), the last window partial when t % window != 0
                pooled = F.avg_pool1d(rearrange(tokens, "n t c -> n c t"), window, window, ceil_mode=True)
                sequence = rearrange(pooled, "n c l -> n l c")
            # Eq. (9)-(10); int() keeps the shapes Python ints under jit tracing (FLOP counting).
            positions = sinusoidal_positions(int(sequence.shape[1]), int(c)).to(device=x.device, dtype=x.dtype)
            encoded = self.transformers[0 if self.shared else scale](sequence + positions)
            # Every frame takes the output of the window it was pooled into: (N, l, c) -> (N, t, c).
            total = total + repeat(encoded, "n l c -> n (l r) c", r=window)[:, :t]
        out = total / self.scales
        return rearrange(out, "(b h w) t c -> b c t h w", b=b, h=h, w=w)


class FactorizedSpatioTemporalStage(nn.Module):
    """One MFST stage, §III-B/D: MSC-Trans (spatial) then WMS-Trans (temporal), with the inter-stage residual.

    ``(B, C_in, T, H, W) -> (B, dim, T, ceil(H/2), ceil(W/2))``.
    """

    def __init__(self, in_channels: int, dim: int, config: MFSTConfig) -> None:
        super().__init__()
        self.spatial = MultiScaleConvTransformer(
            in_channels,
            dim,
            inception_kernels=config.inception_kernels,
            depth=config.spatial_layers,
            heads=config.heads,
            knn_k=config.knn_k,
            mlp_ratio=config.mlp_ratio,
            dropout=config.dropout,
        )
        self.temporal = WeightSharedMultiScaleTransformer(
            dim,
            depth=config.layers,
            heads=config.heads,
            scales=config.temporal_scales,
            shared=config.temporal_block == "WMS-Trans",
            knn_k=config.knn_k,
            mlp_ratio=config.mlp_ratio,
            dropout=config.dropout,
        )
        self.shortcut: nn.Module | None = None
        if config.residual:
            projection = nn.Conv3d(in_channels, dim, kernel_size=1) if in_channels != dim else nn.Identity()
            self.shortcut = nn.Sequential(SpatialHalvingAvgPool(), projection)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.temporal(self.spatial(x))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return out


class MFST(nn.Module):
    """Multi-stage Factorized Spatio-Temporal network, MFST §III (Fig. 2, Eq. (1)).

    ``forward(x)``: ``(B, in_channels, T, H, W)`` float clip -> logits ``(B, num_classes)``; any T, H, W >= 1.
    """

    def __init__(self, config: MFSTConfig) -> None:
        super().__init__()
        if not isinstance(config, MFSTConfig):
            raise TypeError(f"MFST expects an MFSTConfig, got {type(config).__name__}")
        self.config = config
        self.stem = CDCStem(config.in_channels, config.stem_channels, config.stem, config.theta, config.cdc_t_reading)
        widths = (config.stem_channels[-1],) + config.stage_dims
        self.stages = nn.ModuleList(
            FactorizedSpatioTemporalStage(widths[i], widths[i + 1], config) for i in range(config.stages)
        )
        final = widths[-1]
        self.head = nn.Sequential(
            nn.LayerNorm(final),
            nn.Linear(final, final),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(final, config.num_classes),
        )
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"MFST expects (B, {self.config.in_channels}, T, H, W), got {tuple(x.shape)}")
        x = self.stem(x)  # (B, c2, T/2, H/8, W/8)
        for stage in self.stages:
            x = stage(x)  # (B, d_i, T/2, H/2^(3+i), W/2^(3+i))
        pooled = reduce(x, "b c t h w -> b c", "mean")
        return self.head(pooled)


@dataclass(frozen=True, kw_only=True)
class TwoStreamMFSTConfig(MFSTConfig):
    """Configuration of ``TwoStreamMFST`` (Tables I/II, RGB+DEP rows); fields are the dotted keys ``model.<field>``.

    Every ``MFSTConfig`` field, shared by both streams except ``stem`` / ``theta``, which are the RGB stream's; the
    depth stream has its own ``depth_stem`` / ``depth_theta`` (Table IV: CDC-ST for RGB, CDC-T for depth, θ=0.6).
    ``cdc_t_reading`` (T'' of Eq. (6), §III-C) is shared: it is a reading of the equation, not a per-modality choice,
    and applies to whichever stream has a "CDC-T" stem (the depth stream by default). One key also means that
    ``model.cdc_t_reading`` set for a whole sweep reaches the single-modality depth trials and the fused trial's
    depth stream alike, so a fused trial reads its depth checkpoint with the reading it was trained with.
    """

    in_channels: int = 6  # RGB (3) then depth (3) channels of data.modality "rgbd"; each stream takes 3
    depth_stem: str = "CDC-T"  # depth stream's CDC-Stem conv type (§III-C, Table IV: CDC-T for depth)
    depth_theta: float = 0.6  # depth stream's θ of Eq. (6) in [0, 1] (Table IV best: 0.6)
    rgb_weight: float = 0.5  # late fusion: weight of the RGB stream's softmax scores; depth gets 1 - rgb_weight
    rgb_checkpoint: str = ""  # "" or a single-modality MFST checkpoint: a dir with best.pt / state.pt, or a .pt file
    depth_checkpoint: str = ""  # the same for the depth stream

    def _validate(self) -> None:
        super()._validate()
        if self.in_channels != 6:
            raise ValueError(
                "model.in_channels must be 6 for a two-stream RGB-D model (3 RGB + 3 depth channels, "
                f"data.modality='rgbd'), got {self.in_channels!r}"
            )
        if self.depth_stem not in STEMS:
            raise ValueError(f"model.depth_stem must be one of {STEMS}, got {self.depth_stem!r}")
        if not _is_real(self.depth_theta) or not 0.0 <= self.depth_theta <= 1.0:
            raise ValueError(f"model.depth_theta must be in [0, 1], got {self.depth_theta!r}")
        if not _is_real(self.rgb_weight) or not 0.0 <= self.rgb_weight <= 1.0:
            raise ValueError(f"model.rgb_weight must be in [0, 1], got {self.rgb_weight!r}")
        for name in ("rgb_checkpoint", "depth_checkpoint"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"model.{name} must be a path string ('' for none), got {getattr(self, name)!r}")

    def stream_config(self, stream: str) -> MFSTConfig:
        """The single-modality ``MFSTConfig`` of stream ``"rgb"`` or ``"depth"`` (3 input channels)."""
        if stream not in RGBD_STREAMS:
            raise ValueError(f"stream must be one of {RGBD_STREAMS}, got {stream!r}")
        shared = {field.name: getattr(self, field.name) for field in dataclasses.fields(MFSTConfig)}
        shared["in_channels"] = 3
        if stream == "depth":
            shared.update(stem=self.depth_stem, theta=self.depth_theta)
        return MFSTConfig(**shared)


def load_stream_checkpoint(stream: MFST, path: str, *, field: str) -> Path:
    """Load the ``"model"`` entry (a single-modality MFST state_dict) of checkpoint ``path`` into ``stream``.

    Returns the file read. Raises ValueError naming ``field`` and the file when it is missing, unreadable, has no
    ``"model"`` entry, or does not fit the stream (other widths, stages, classes or switches).
    """
    file, state = read_checkpoint(path, field=field)
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise ValueError(f"{field}: checkpoint {file} has no 'model' state_dict entry")
    try:
        stream.load_state_dict(state["model"])
    except RuntimeError as error:
        raise ValueError(
            f"{field}: checkpoint {file} does not fit the stream's config (a single-modality MFST with the same "
            f"widths, stages, classes and switches is expected): {error}"[:1200]
        ) from error
    return file


class TwoStreamMFST(nn.Module):
    """Two-stream RGB-D MFST for the RGB+DEP rows of Tables I and II (score-level late fusion, assumed; see above).

    ``rgb`` (stem / theta) and ``depth`` (depth_stem / depth_theta) are full single-modality MFSTs with 3 input
    channels, optionally loaded from single-modality checkpoints at construction. ``forward(x)``:
    ``(B, 6, T, H, W)`` (RGB channels then depth channels) -> stream logits ``(B, 2, K)`` in ``RGBD_STREAMS`` order;
    ``fuse_scores`` (the loop's ``class_scores``) turns them into the fused class probabilities ``(B, K)``; joint
    training (``training_loss``) sums the per-stream losses, so the streams learn exactly as they would separately.
    """

    def __init__(self, config: TwoStreamMFSTConfig) -> None:
        super().__init__()
        if not isinstance(config, TwoStreamMFSTConfig):
            raise TypeError(f"TwoStreamMFST expects a TwoStreamMFSTConfig, got {type(config).__name__}")
        self.config = config
        self.rgb = MFST(config.stream_config("rgb"))
        self.depth = MFST(config.stream_config("depth"))
        if config.rgb_checkpoint:
            load_stream_checkpoint(self.rgb, config.rgb_checkpoint, field="model.rgb_checkpoint")
        if config.depth_checkpoint:
            load_stream_checkpoint(self.depth, config.depth_checkpoint, field="model.depth_checkpoint")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"TwoStreamMFST expects (B, {self.config.in_channels}, T, H, W), got {tuple(x.shape)}")
        rgb, depth = rearrange(x, "b (s c) t h w -> s b c t h w", s=len(RGBD_STREAMS))
        return torch.stack([self.rgb(rgb), self.depth(depth)], dim=1)  # (B, 2, K)

    def stream_weights(self, *, device: torch.device | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Late-fusion weights ``(rgb_weight, 1 - rgb_weight)`` of the streams, shape (2,)."""
        return stream_weights(self.config.rgb_weight, device=device, dtype=dtype)

    def fuse_scores(self, stream_logits: torch.Tensor) -> torch.Tensor:
        """Late score fusion: stream logits ``(B, 2, K)`` -> weighted mean of the streams' softmaxes ``(B, K)``."""
        return fuse_stream_scores(stream_logits, self.config.rgb_weight, "softmax")

    def class_scores(self, stream_logits: torch.Tensor) -> torch.Tensor:
        """Training-loop protocol: the class probabilities are the late-fused scores (``fuse_scores``)."""
        return self.fuse_scores(stream_logits)

    def training_loss(
        self, stream_logits: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Training-loop protocol, joint training: the sum of each stream's cross-entropy against ``target`` (class
        indices or (B, K) soft targets), so the streams learn as they would apart; terms ``ce_rgb``, ``ce_depth``."""
        return summed_stream_loss(stream_logits, target, RGBD_STREAMS)


_TINY = {"stem_channels": (8, 16), "dims": (16, 24, 32, 32, 40), "spatial_layers": 1, "layers": 1, "heads": 2}


@register_model(MFST, tiny=_TINY)
def mfst_base(**overrides: Any) -> MFSTConfig:
    """MFST-Base (Table III): 3 stages, CDC-ST stem θ=0.6, residual, WMS-Trans; 32.6M parameters in the paper."""
    return dataclasses.replace(MFSTConfig(stages=3), **overrides)


@register_model(MFST, tiny=_TINY)
def mfst_large(**overrides: Any) -> MFSTConfig:
    """MFST-Large (Table III): mfst_base plus a fourth stage; 49.7M parameters in the paper."""
    return dataclasses.replace(MFSTConfig(stages=4), **overrides)


@register_model(MFST, tiny=_TINY)
def mfst_bm(**overrides: Any) -> MFSTConfig:
    """MFST-BM baseline (§IV-A, Fig. 6): vanilla 3D stem (θ=0), no residual, unshared V-Trans, 4 stages."""
    defaults = MFSTConfig(stem="vanilla", theta=0.0, residual=False, temporal_block="V-Trans", stages=4)
    return dataclasses.replace(defaults, **overrides)


@register_model(TwoStreamMFST, tiny=_TINY)
def mfst_base_rgbd(**overrides: Any) -> TwoStreamMFSTConfig:
    """Two-stream MFST-Base (RGB CDC-ST + depth CDC-T streams, 3 stages each), late score fusion (Tables I/II)."""
    return dataclasses.replace(TwoStreamMFSTConfig(stages=3), **overrides)


@register_model(TwoStreamMFST, tiny=_TINY)
def mfst_large_rgbd(**overrides: Any) -> TwoStreamMFSTConfig:
    """Two-stream MFST-Large (4 stages per stream): the "Ours(MFST-Large) RGB+DEP" rows of Tables I and II."""
    return dataclasses.replace(TwoStreamMFSTConfig(stages=4), **overrides)
