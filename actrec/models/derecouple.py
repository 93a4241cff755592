"""De+Recouple: decoupling and recoupling spatiotemporal representation (Zhou et al., CVPR 2022), §3 and §4.1.

Single modality (``in_channels`` 1 or 3):
``V (B, C, T, H, W) → DSN [space-centric stem → M × SMS (Inception 1×k×k + Max Pooling, Eq. (1)), each fused with
the FRP guidance map (Eq. (2)-(6))] → spatial GAP → O (B, T, d) → LayerNorm + Linear → Ō (B, T, d/2) → RCM
(Eq. (11)-(16)) → Ô (B, T, d/2) → DTN (K branches, Eq. (7)-(10)) → logits (B, num_classes)``.

RGB-D (``in_channels`` 6: RGB channels 0-2, depth channels 3-5): two such streams; CmSI (Eq. (17)) between each
stream's RCM and DTN, then CmTI + CAPF (or a score fusion) on the two DTN class features, final score Eq. (18).

Shapes at the paper's input (64 frames, 224×224, default widths; SMS outputs as (C, T, H, W)): stem (192, 64, 28, 28);
SMS 1 (256, 64, 28, 28), SMS 2 (480, 64, 14, 14), SMS 3 (512, 64, 14, 14), SMS 4 (512, 64, 7, 7), SMS 5
(832, 64, 7, 7), SMS 6 (1024, 64, 7, 7); O (B, 64, 1024); Ō, Ô (B, 64, 512); DTN branches of 16 / 32 / 48 tokens
(+ class token) of width 512.

Training-loop protocol (``actrec.train.loop``): ``forward`` returns a dict of tensors, ``training_loss(output,
target)`` the total loss and its named terms against soft targets (B, K), ``class_scores(output)`` class
probabilities (B, K), ``set_progress(epoch, total_epochs)`` the DTN sharpness τ (cosine 0.04 → 0.07).

Loss terms (each present exactly when its switch is on; soft cross-entropy ``CE = -(y · log_softmax(z)).sum(-1)``
averaged over the batch):

* ``ce``: CE of the DTN output, Eq. (10) (always).
* ``ce_branches``: ``branch_weight · Σ_k CE(branch k)``, the multi-loss of Table 5 (``multi_loss``).
* ``distill``: the self-distillation loss C_d of Eq. (14) at temperature ``distill_temperature`` (``recoupling``).
* RGB-D: each stream's ``distill`` (prefixed ``rgb_`` / ``depth_``; with ``stream_ce`` also its ``ce`` and
  ``ce_branches``), plus ``ce_rgb``, ``ce_depth`` (f¹, f² of Eq. (18), always), and with CAPF ``ce_fused`` (f³),
  ``bce_modality`` and ``mse_reconstruction`` (Fig. 5).

Details the paper leaves open, and the choice made here:

* **Stem**: §3.1.1 feeds the frames straight into the SMS stack; at 224² six Inception modules at full resolution
  would be far too costly, and the authors' released network puts I3D's stem (with temporal kernels 1) before its
  six Inception modules. So does this model: Conv 1×7×7 stride (1, 2, 2) → MaxPool 1×3×3 stride (1, 2, 2) →
  Conv 1×1×1 → Conv 1×3×3 → MaxPool 1×3×3 stride (1, 2, 2), BatchNorm + ReLU after each conv, widths
  ``stem_channels`` (I3D's 64, 192). Space-centric throughout, so frames never mix in the DSN.
* **SMS** (Eq. (1)): ``SpaceCentricInception3d`` (layout documented there: branches 1, 3, 5 and a pooling branch,
  equal channel split) then a 1×3×3 Max Pooling with padding 1 and spatial stride ``sms_strides[l]``. Every SMS
  has its Max Pooling as Eq. (1) writes; strides (1, 2, 1, 2, 1, 1) halve the maps after SMS 2 and 4, where the
  released network (I3D Mixed_3b…5c) pools, so the DSN ends at 7×7 for 224² inputs. Widths: I3D's Mixed widths
  (256, 480, 512, 512, 832) for SMS 1..M-1 (``sms_dims``, the first M-1 used) and ``d`` = 1024 for SMS M.
* **FRP** (Eq. (6) fuses a guidance map into every SMS output, "∀ l = 1..M"): one ``GuidedFeatureFusion`` per SMS,
  applied after the SMS's Max Pooling (f^l of Eq. (1) includes it); the guidance is computed once per clip from
  the stream's own raw input channels (``FastRegionalPositioning``, window, λ, k from the config). The released
  code fuses after three of the six modules only; the paper's "every layer" is followed.
* **Sequence**: global average pooling over (H, W) gives O (B, T, d); the "linear mapping into a low-dimensional
  space" (§3.2) is LayerNorm(d) + Linear(d, d/2), the LayerNorm as in the released network.
* **Any clip length T ≥ 1**: the RCM's W_Q, W_K are T×T, so the RCM is built for ``rcm_frames`` (paper: 64 = the
  input length). When recoupling is on and T differs, Ō is resampled to ``rcm_frames`` before the RCM by taking the
  middle frame of each of ``rcm_frames`` equal segments (``segment_sample_indices``, deterministic; frames repeat
  when T is shorter); at T = rcm_frames nothing changes. The DTN then samples its branches from that sequence by
  Eq. (7), also when a branch wants more frames than there are (frames repeat). Without recoupling the DTN samples
  from the T frames directly.
* **RCM**: ``RecouplingModule`` with ``rcm_heads`` heads (1 = the paper's equations), Y-direction MLP hidden width
  4·T (the released 256 at T = 64), F of Eq. (14) mapping to the class-token width d/2. Eq. (16) multiplies the
  mapped Ō (see ``actrec.layers.recouple``).
* **Distillation teacher**: CLS = Σ_k O_k^CLS of the DTN branches (Eq. (14)), detached, so C_d trains the RCM's
  Y direction and F only. Weight 1 in the total loss (the paper gives none).
* **DTN**: ``DecoupledTemporalNetwork`` of width d/2, ``temporal_blocks`` = N Transformer blocks per branch,
  ``heads`` 8, MLP ratio 1.5, dropout 0.1, k-NN attention keeping 0.7 of the keys (the released configuration);
  ``knn_k=None`` is full attention (Table 5's k-NN switch). TMS kernels = ``inception_kernels``.
* **Multi-loss weight**: ``branch_weight`` 0.5 per branch (the released ``loss_lamdb``), see ``dtn_loss_terms``;
  here with soft targets.
* **Sharpness**: τ follows ``sharpness_temperature`` (half-cosine ``sharpness_start`` → ``sharpness_end`` over the
  run, set by ``set_progress``) and is applied at evaluation too (it rescales all logits alike). Off: τ = 1.
* **RGB-D streams**: two complete streams (DSN, map, RCM, DTN) with separate weights. The RGB-D network is
  trained end to end with the objective §3.3 / Fig. 5 gives it (L_C on f¹, f² and, with CAPF, f³; L_B; L_M) plus
  each stream's recoupling loss C_d. The streams' own Eq. (10) heads are not part of Eq. (18) and are not built
  (``stream_ce=False``, the default), so sharpness and multi-loss, which act on those heads, are single-stream
  components (Table 5). ``stream_ce=True`` adds them with their ``ce`` / ``ce_branches`` terms, but then the
  heads' logits divided by τ ≈ 0.04 give those terms gradients ~25× the cross-modal ones: measured on the
  synthetic set (tiny model, 12 epochs, gradient norm clipped at 5), the streams' heads reached 86% / 91% while
  CAPF's Eq. (18) score stayed at 40%; without them CAPF reached 87%. The released code instead pre-trains each
  modality with its unimodal objective and trains the fusion network from those checkpoints, with the fusion
  losses and C_d only (actrec trains the RGB-D rows from scratch). The depth stream sees depth as 3 channels
  (replicated), like the RGB stream.
* **CmSI placement** (Eq. (17)): between each stream's RCM and DTN, on the enhanced Ô of both streams, with the
  stream's *raw* mapped features Ō as the residual, as Eq. (17) writes (O^S without a hat). With recoupling off
  Ô = Ō. (The released code interacts before the RCM.)
* **Temporal class feature** (the O^CLS of Eq. (18) and CmTI's input): the mean of the K branch class tokens
  (B, d/2), i.e. Eq. (14)'s CLS divided by K, which keeps the scale of one LayerNorm-ed token. The released code
  max-pools over the branches.
* **CmTI / CAPF / score fusion**: the modules of ``actrec.layers.cross_modal`` (its docstring lists their own
  choices: MLP layouts, the BCE modality discriminator, MSE against both streams, loss weights 1). The model calls
  ``CrossModalFusion`` on the streams' class features, carries its outputs as ``cm_<field>`` tensors and computes
  the cross-modal terms with ``CrossModalFusion.losses`` against the loop's soft (B, K) targets; the DTN terms come
  from ``dtn_loss_terms``. Scores (``class_scores``, the fusion's ``log_scores``): CAPF, softmax of the Eq. (18)
  logit sum; multiplication, softmax(f¹)·softmax(f²) renormalised; addition, (softmax(f¹) + softmax(f²)) / 2.
* **Initialisation**: PyTorch defaults in every block (as the released network), the class tokens zero, FRP's
  1D convolution (1, 0).
* **Parameters** at paper size (``derecouple``, 60 classes): 42,610,976, +12.1% over the 38.0M the MFST paper's
  Table III gives for De-Recouple at 64 frames. The three DTN branches (6 blocks of width 512, MLP ratio 1.5, plus
  TMS and heads: 34.4M) are fixed by §4.1 and the released configuration, leaving the paper ≈3.6M for everything
  else; the DSN here has 7.5M (I3D's widths with the shared Inception layout, whose 3×3 / 5×5 branches are not
  bottlenecked like I3D's), which is why the count lands above the paper's. ``derecouple_rgbd`` (two streams +
  CmSI, CmTI, CAPF, without the streams' Eq. (10) heads) has 88,598,413 (88,783,093 with ``stream_ce``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange, reduce
from torch import nn

from actrec.layers.cross_modal import FUSIONS, CrossModalConfig, CrossModalFusion, CrossModalOutput
from actrec.layers.dtn import (
    SHARPNESS_END,
    SHARPNESS_START,
    DecoupledTemporalNetwork,
    DTNOutput,
    dtn_loss_terms,
    segment_sample_indices,
)
from actrec.layers.frp import FastRegionalPositioning, GuidedFeatureFusion
from actrec.layers.inception import SpaceCentricInception3d, spatial_conv_bn_relu
from actrec.layers.recouple import DISTILLATION_TEMPERATURE_ACTION, RecouplingModule, self_distillation_loss
from actrec.models.registry import register_model

RGBD_STREAMS = ("rgb", "depth")  # order of the RGB-D input channels (3 + 3)
RGBD_CHANNELS = 6  # in_channels that selects the two-stream RGB-D model


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# CrossModalOutput fields the forward output carries (as ``cm_<field>``) for class_scores and training_loss.
CM_OUTPUTS = (
    "scores",
    "log_scores",
    "logits_rgb",
    "logits_depth",
    "logits_fused",
    "encoded",
    "decoded",
    "stream_rgb",
    "stream_depth",
)


@dataclass(frozen=True, kw_only=True)
class DeRecoupleConfig:
    """Configuration of ``DeRecouple`` (paper §3, §4.1); field names are the dotted keys ``model.<field>``."""

    num_classes: int = 60  # output classes (25 NvGesture, 40 THU-READ, 249 IsoGD, 60 NTU RGB-D)
    in_channels: int = 3  # 1 or 3: one modality; 6: RGB-D, RGB channels then depth channels (two streams)
    stem_channels: tuple[int, ...] = (64, 192)  # (c1, c2) of the stem: 1×7×7 → c1, 1×1 → c1, 1×3×3 → c2
    spatial_blocks: int = 6  # M, SMS modules in the DSN (§4.1: M = 6)
    sms_dims: tuple[int, ...] = (256, 480, 512, 512, 832)  # widths of SMS 1..M-1 (first M-1 used); SMS M outputs d
    d: int = 1024  # DSN output width d of O ∈ R^{T×d}; the RCM / DTN / cross-modal width is d/2
    sms_strides: tuple[int, ...] = (1, 2, 1, 2, 1, 1)  # spatial stride of each SMS's 1×3×3 Max Pooling (first M used)
    inception_kernels: tuple[int, ...] = (1, 3, 5)  # kernels of the SMS (1×k×k) and TMS (k×1×1) Inception branches
    frp: bool = True  # FRP visual guidance fused into every SMS output, Eq. (2)-(6) (Table 5)
    frp_window: int = 4  # frames of the dynamic-image sliding window, Eq. (2)
    frp_lambda: float = 2.0  # λ of Eq. (3) (paper: 2)
    frp_kernel_size: int = 3  # k of the erosion / dilation, Eq. (4)
    recoupling: bool = True  # RCM (Eq. (11)-(16)) and the self-distillation loss (Eq. (14)) (Fig. 6 (a))
    rcm_frames: int = 64  # T of the RCM's T×T maps; the DSN sequence is resampled to it when T differs
    rcm_heads: int = 1  # X-direction attention heads of the RCM (1 = Eq. (11))
    distill_temperature: float = DISTILLATION_TEMPERATURE_ACTION  # 𝒯 of Eq. (14): 0.4 gestures, 0.5 actions
    branch_frames: tuple[int, ...] = (16, 32, 48)  # T_n of the K DTN branches, Eq. (7) (released: 16/32/48 of 64)
    temporal_blocks: int = 6  # N, Transformer blocks per DTN branch (§4.1: N = 6)
    heads: int = 8  # attention heads of the DTN Transformers
    mlp_ratio: float = 1.5  # DTN Transformer MLP hidden width / d/2
    knn_k: int | float | None = 0.7  # k-NN attention keys per query (count or fraction); None = full (Table 5)
    multi_loss: bool = True  # a CE on every DTN branch (Table 5)
    branch_weight: float = 0.5  # weight of each branch's CE under multi_loss
    sharpness: bool = True  # divide the DTN logits by τ, Eq. (10) (Table 5)
    sharpness_start: float = SHARPNESS_START  # τ at the start of training (0.04)
    sharpness_end: float = SHARPNESS_END  # τ at the end of training (0.07)
    dropout: float = 0.1  # dropout in the DTN Transformers and the cross-modal MLPs
    fusion: str = "capf"  # RGB-D: "capf" (Eq. (18)), "multiplication" or "addition" (score fusion, Tables 1-4)
    spatial_interaction: bool = True  # RGB-D: CmSI, Eq. (17) (Table 6)
    temporal_interaction: bool = True  # RGB-D: CmTI (Table 6); needs fusion "capf"
    stream_ce: bool = False  # RGB-D: also train each stream's own Eq. (10) DTN heads (ce / ce_branches terms)

    def __post_init__(self) -> None:
        # Accept lists (CLI, Ray param_space) but store tuples so the config stays hashable.
        for name in ("stem_channels", "sms_dims", "sms_strides", "inception_kernels", "branch_frames"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        self._validate()

    def _validate(self) -> None:
        positive = ("num_classes", "spatial_blocks", "rcm_frames", "rcm_heads", "temporal_blocks", "heads")
        for name in (*positive, "frp_window", "frp_kernel_size"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"model.{name} must be an int >= 1, got {value!r}")
        if self.num_classes < 2:
            raise ValueError(f"model.num_classes must be an int >= 2, got {self.num_classes!r}")
        if self.in_channels not in (1, 3, RGBD_CHANNELS) or not _is_int(self.in_channels):
            raise ValueError(f"model.in_channels must be 1 or 3 (one modality) or 6 (RGB-D), got {self.in_channels!r}")
        self._check_int_tuple("stem_channels", 1, length=2)
        self._check_int_tuple("inception_kernels", 1, odd=True)
        branches = len(self.inception_kernels) + 1
        self._check_int_tuple("sms_dims", branches)
        if len(self.sms_dims) < self.spatial_blocks - 1:
            raise ValueError(
                f"model.sms_dims must have at least model.spatial_blocks - 1 = {self.spatial_blocks - 1} entries "
                f"(SMS 1..M-1; SMS M outputs model.d), got {self.sms_dims!r}"
            )
        self._check_int_tuple("sms_strides", 1)
        if len(self.sms_strides) < self.spatial_blocks:
            raise ValueError(
                f"model.sms_strides must have at least model.spatial_blocks = {self.spatial_blocks} entries, "
                f"got {self.sms_strides!r}"
            )
        if any(s > 2 for s in self.sms_strides):
            raise ValueError(f"model.sms_strides entries must be 1 or 2, got {self.sms_strides!r}")
        need = 4 if self.rgbd else 2
        if not _is_int(self.d) or self.d < max(branches, 2) or self.d % need != 0:
            raise ValueError(
                f"model.d must be an int divisible by {need} (d/2 is the DTN width"
                f"{', and even for the cross-modal d/4' if self.rgbd else ''}) and >= {max(branches, 2)}, "
                f"got {self.d!r}"
            )
        if (self.d // 2) % self.heads != 0 or self.d // 2 < branches:
            raise ValueError(
                f"model.d / 2 = {self.d // 2} must be divisible by model.heads = {self.heads} and >= the "
                f"{branches} TMS Inception branches (model.d)"
            )
        if self.frp_kernel_size % 2 == 0:
            raise ValueError(f"model.frp_kernel_size must be odd, got {self.frp_kernel_size!r}")
        if self.frp_window < 2:
            raise ValueError(f"model.frp_window must be an int >= 2, got {self.frp_window!r}")
        switches = ("frp", "recoupling", "multi_loss", "sharpness", "spatial_interaction", "temporal_interaction")
        for name in (*switches, "stream_ce"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"model.{name} must be a bool, got {getattr(self, name)!r}")
        for name in ("frp_lambda", "distill_temperature", "mlp_ratio", "sharpness_start", "sharpness_end"):
            value = getattr(self, name)
            if not _is_real(value) or not 0 < value < math.inf:
                raise ValueError(f"model.{name} must be a finite number > 0, got {value!r}")
        if not _is_real(self.branch_weight) or self.branch_weight < 0:
            raise ValueError(f"model.branch_weight must be >= 0, got {self.branch_weight!r}")
        self._check_int_tuple("branch_frames", 1)
        knn_ok = self.knn_k is None or (_is_int(self.knn_k) and self.knn_k >= 1)
        knn_ok = knn_ok or (isinstance(self.knn_k, float) and 0.0 < self.knn_k <= 1.0)
        if not knn_ok:
            raise ValueError(f"model.knn_k must be None, an int >= 1 or a float in (0, 1], got {self.knn_k!r}")
        if not _is_real(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout!r}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"model.fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.stream_ce and not self.rgbd:
            raise ValueError(
                "model.stream_ce applies to the RGB-D model only (model.in_channels=6); a single stream always trains "
                f"its DTN heads; got in_channels={self.in_channels!r}"
            )
        if self.rgbd and self.temporal_interaction and self.fusion != "capf":
            raise ValueError(
                "model.temporal_interaction needs model.fusion='capf' (Eq. (18) scores f¹, f² before CmTI, so a "
                f"score fusion would ignore it); got fusion={self.fusion!r}: set model.temporal_interaction=False"
            )

    def _check_int_tuple(self, name: str, minimum: int, *, length: int | None = None, odd: bool = False) -> None:
        value = getattr(self, name)
        ok = isinstance(value, tuple) and len(value) >= 1 and all(_is_int(v) and v >= minimum for v in value)
        ok = ok and (length is None or len(value) == length) and (not odd or all(v % 2 == 1 for v in value))
        if not ok:
            count = f"{length} " if length is not None else "a non-empty tuple of "
            kind = "odd ints" if odd else "ints"
            raise ValueError(f"model.{name} must be {count}{kind} >= {minimum}, got {value!r}")

    @property
    def rgbd(self) -> bool:
        """Two streams (RGB channels 0-2, depth channels 3-5) with cross-modal interaction."""
        return self.in_channels == RGBD_CHANNELS

    @property
    def stream_channels(self) -> int:
        """Input channels of one stream."""
        return 3 if self.rgbd else self.in_channels

    @property
    def dsn_dims(self) -> tuple[int, ...]:
        """Output widths of the M SMS modules: ``sms_dims[:M-1] + (d,)``."""
        return self.sms_dims[: self.spatial_blocks - 1] + (self.d,)


def _spatial_max_pool(stride: int) -> nn.MaxPool3d:
    # 1×3×3 with padding 1: (T, H, W) -> (T, ceil(H/stride), ceil(W/stride)) for any H, W >= 1.
    return nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1))


class SpaceCentricStem(nn.Module):
    """I3D's stem with temporal kernels 1 (the released DSN's low-level layers; see the module docstring).

    ``(B, C, T, H, W) -> (B, c2, T, ceil(H/8), ceil(W/8))``.
    """

    def __init__(self, in_channels: int, stem_channels: tuple[int, ...]) -> None:
        super().__init__()
        c1, c2 = stem_channels
        self.layers = nn.Sequential(
            spatial_conv_bn_relu(in_channels, c1, 7, stride=2),  # Conv 1×7×7 stride (1, 2, 2)
            _spatial_max_pool(2),
            spatial_conv_bn_relu(c1, c1, 1),  # Conv 1×1×1
            spatial_conv_bn_relu(c1, c2, 3),  # Conv 1×3×3
            _spatial_max_pool(2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class SpatialMultiScale(nn.Module):
    """SMS module, De+Recouple §3.1.1 Eq. (1): ``Maxpool(C_{S-Inc}(f^{l-1}))``.

    ``(B, C_in, T, H, W) -> (B, dim, T, ceil(H/stride), ceil(W/stride))``.
    """

    def __init__(self, in_channels: int, dim: int, stride: int, kernel_sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.inception = SpaceCentricInception3d(in_channels, dim, kernel_sizes)
        self.pool = _spatial_max_pool(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.inception(x))


class DecoupledSpatialNetwork(nn.Module):
    """DSN, De+Recouple §3.1.1 (Fig. 2): stem, M SMS modules each fused with the FRP guidance (Eq. (1)-(6)).

    ``forward(x)``: ``(B, C, T, H, W)`` → O ``(B, T, d)`` (spatial global average pooling of the last SMS).
    """

    def __init__(self, config: DeRecoupleConfig, in_channels: int) -> None:
        super().__init__()
        self.stem = SpaceCentricStem(in_channels, config.stem_channels)
        widths = (config.stem_channels[-1],) + config.dsn_dims
        self.sms = nn.ModuleList(
            SpatialMultiScale(widths[i], widths[i + 1], config.sms_strides[i], config.inception_kernels)
            for i in range(config.spatial_blocks)
        )
        self.frp: FastRegionalPositioning | None = None
        self.fusions: nn.ModuleList | None = None
        if config.frp:
            self.frp = FastRegionalPositioning(
                window=config.frp_window,
                amplification=config.frp_lambda,
                kernel_size=config.frp_kernel_size,
            )
            self.fusions = nn.ModuleList(GuidedFeatureFusion() for _ in range(config.spatial_blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        guidance = self.frp(x) if self.frp is not None else None  # (B, T, H, W), Eq. (2)-(5)
        features = self.stem(x)  # (B, c2, T, H/8, W/8)
        for layer, sms in enumerate(self.sms):
            features = sms(features)  # f^l, Eq. (1): (B, C_l, T, H_l, W_l)
            if guidance is not None:
                features = self.fusions[layer](features, guidance)  # O^l, Eq. (5)-(6)
        return reduce(features, "b c t h w -> b t c", "mean")  # O: (B, T, d)


class DeRecoupleStream(nn.Module):
    """One modality of De+Recouple: DSN → linear map to d/2 → RCM (optional) → DTN (§3.1-§3.2).

    Split in two so the RGB-D model can interact between them (CmSI, Eq. (17)): ``spatial(x)`` gives
    ``(Ō, Ô, F(W_embed) or None)`` with Ō, Ô ``(B, T', d/2)``; ``temporal(Ô)`` gives the ``DTNOutput``.
    """

    def __init__(self, config: DeRecoupleConfig, in_channels: int, *, classify: bool = True) -> None:
        super().__init__()
        self.config = config
        self.classify = classify  # the DTN's own Eq. (10) heads and their loss terms
        width = config.d // 2
        self.dsn = DecoupledSpatialNetwork(config, in_channels)
        self.linear_map = nn.Sequential(nn.LayerNorm(config.d), nn.Linear(config.d, width))  # O → Ō (§3.2)
        self.rcm = (
            RecouplingModule(width, config.rcm_frames, heads=config.rcm_heads, distill_dim=width)
            if config.recoupling
            else None
        )
        self.dtn = DecoupledTemporalNetwork(
            width,
            config.num_classes,
            branch_frames=config.branch_frames,
            depth=config.temporal_blocks,
            heads=config.heads,
            mlp_ratio=config.mlp_ratio,
            dropout=config.dropout,
            knn_k=config.knn_k,
            tms_kernel_sizes=config.inception_kernels,
            sharpness=config.sharpness,
            sharpness_start=config.sharpness_start,
            sharpness_end=config.sharpness_end,
            classify=classify,
        )

    def spatial(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        mapped = self.linear_map(self.dsn(x))  # Ō: (B, T, d/2)
        if self.rcm is None:
            return mapped, mapped, None
        frames = int(mapped.shape[1])  # a Python int also under jit tracing (FLOP counting)
        if frames != self.rcm.frames:  # resample to the RCM's T (see the module docstring)
            indices = segment_sample_indices(frames, self.rcm.frames, random=False).to(mapped.device)
            mapped = mapped.index_select(1, indices)  # (B, rcm_frames, d/2)
        recoupled = self.rcm(mapped)  # Eq. (11)-(16)
        return mapped, recoupled.features, recoupled.distill_logits

    def temporal(self, enhanced: torch.Tensor) -> DTNOutput:
        return self.dtn(enhanced)  # Eq. (7)-(10)

    def loss_terms(
        self, output: dict[str, torch.Tensor], target: torch.Tensor, prefix: str = ""
    ) -> dict[str, torch.Tensor]:
        """This stream's unimodal loss terms (``ce``, ``ce_branches`` with its heads, ``distill``, as switched on)."""
        config = self.config
        terms: dict[str, torch.Tensor] = {}
        if self.classify:  # "ce" of the Eq. (10) output and, with multi_loss, "ce_branches"
            raw = dtn_loss_terms(
                output[f"{prefix}logits"],
                output[f"{prefix}branch_logits"],
                target,
                multi_loss=config.multi_loss,
                branch_weight=config.branch_weight,
            )
            terms.update({f"{prefix}{name}": value for name, value in raw.items()})
        if config.recoupling:
            class_tokens = output[f"{prefix}class_tokens"]  # (B, K, d/2)
            teacher = reduce(class_tokens, "b k c -> b c", "sum")  # CLS = Σ_k O_k^CLS, Eq. (14)
            terms[f"{prefix}distill"] = self_distillation_loss(
                teacher, output[f"{prefix}distill_logits"], config.distill_temperature
            )
        return terms


def _stream_output(dtn: DTNOutput, student: torch.Tensor | None, prefix: str = "") -> dict[str, torch.Tensor]:
    out = {f"{prefix}class_tokens": dtn.class_tokens}  # (B, K, d/2)
    if dtn.logits is not None:  # the DTN's own heads
        out[f"{prefix}logits"] = dtn.logits  # (B, classes), Eq. (10)
        out[f"{prefix}branch_logits"] = dtn.branch_logits  # (B, K, classes)
    if student is not None:
        out[f"{prefix}distill_logits"] = student  # F(W_embed), Eq. (14): (B, d/2)
    return out


class DeRecouple(nn.Module):
    """De+Recouple network, Zhou et al. CVPR 2022 §3 (Fig. 1-5): one stream, or two RGB-D streams with CmSI,
    CmTI and CAPF / score fusion.

    ``forward(x)``: ``(B, in_channels, T, H, W)`` with any T, H, W >= 1 → dict of tensors (keys in the module
    docstring); ``class_scores(output)`` → (B, num_classes) probabilities; ``training_loss(output, target)`` →
    ``(loss, terms)``; ``set_progress(epoch, total_epochs)`` sets the sharpness τ.
    """

    def __init__(self, config: DeRecoupleConfig) -> None:
        super().__init__()
        if not isinstance(config, DeRecoupleConfig):
            raise TypeError(f"DeRecouple expects a DeRecoupleConfig, got {type(config).__name__}")
        self.config = config
        names = RGBD_STREAMS if config.rgbd else ("video",)
        classify = not config.rgbd or config.stream_ce
        self.streams = nn.ModuleDict(
            {name: DeRecoupleStream(config, config.stream_channels, classify=classify) for name in names}
        )
        self.cross_modal: CrossModalFusion | None = None
        if config.rgbd:
            self.cross_modal = CrossModalFusion(
                CrossModalConfig(
                    dim=config.d // 2,
                    num_classes=config.num_classes,
                    fusion=config.fusion,
                    spatial_interaction=config.spatial_interaction,
                    temporal_interaction=config.temporal_interaction,
                    dropout=config.dropout,
                )
            )

    @property
    def temperature(self) -> float:
        """The sharpness τ the DTNs divide by (1.0 with sharpness off)."""
        dtn = next(iter(self.streams.values())).dtn
        return dtn.temperature if dtn.sharpness else 1.0

    def set_progress(self, epoch: float, total_epochs: int) -> None:
        """Set every DTN's sharpness τ for the (fractional) ``epoch`` of ``total_epochs`` (cosine 0.04 → 0.07)."""
        for stream in self.streams.values():
            stream.dtn.update_temperature(epoch, total_epochs)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        config = self.config
        if x.ndim != 5 or x.shape[1] != config.in_channels:
            raise ValueError(f"DeRecouple expects (B, {config.in_channels}, T, H, W), got {tuple(x.shape)}")
        if not config.rgbd:
            stream = self.streams["video"]
            _, enhanced, student = stream.spatial(x)
            return _stream_output(stream.temporal(enhanced), student)
        rgb_clip, depth_clip = rearrange(x, "b (s c) t h w -> s b c t h w", s=len(RGBD_STREAMS))
        (mapped_rgb, enhanced_rgb, student_rgb) = self.streams["rgb"].spatial(rgb_clip)
        (mapped_depth, enhanced_depth, student_depth) = self.streams["depth"].spatial(depth_clip)
        # CmSI, Eq. (17): joint term of the enhanced streams plus each stream's raw mapped features (B, T', d/2).
        seq_rgb, seq_depth = self.cross_modal.interact_spatial(enhanced_rgb, enhanced_depth, mapped_rgb, mapped_depth)
        dtn_rgb, dtn_depth = self.streams["rgb"].temporal(seq_rgb), self.streams["depth"].temporal(seq_depth)
        out = {**_stream_output(dtn_rgb, student_rgb, "rgb_"), **_stream_output(dtn_depth, student_depth, "depth_")}
        out.update(self._cross_modal(dtn_rgb.class_tokens, dtn_depth.class_tokens))
        return out

    def _cross_modal(self, tokens_rgb: torch.Tensor, tokens_depth: torch.Tensor) -> dict[str, torch.Tensor]:
        """CmTI, CAPF and the Eq. (18) classifiers (``CrossModalFusion``) on the DTN class tokens (B, K, d/2) of both
        streams; its tensors under ``cm_`` keys."""
        rgb = reduce(tokens_rgb, "b k c -> b c", "mean")  # O_R^CLS: (B, d/2)
        depth = reduce(tokens_depth, "b k c -> b c", "mean")  # O_D^CLS: (B, d/2)
        fused = self.cross_modal(rgb, depth)
        return {f"cm_{name}": getattr(fused, name) for name in CM_OUTPUTS if getattr(fused, name) is not None}

    def class_scores(self, output: dict[str, torch.Tensor]) -> torch.Tensor:
        """Class probabilities (B, num_classes): softmax of Eq. (10), or for RGB-D the Eq. (18) / score fusion."""
        if not self.config.rgbd:
            return F.softmax(output["logits"], dim=-1)
        return output["cm_log_scores"].exp()  # Eq. (18) with CAPF, else the multiplication / addition fusion

    def training_loss(
        self, output: dict[str, torch.Tensor], target: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and its named terms (module docstring) against soft targets ``target`` (B, num_classes)."""
        config = self.config
        logits = output["cm_logits_rgb" if config.rgbd else "logits"]
        if target.shape != logits.shape or not target.is_floating_point():
            raise ValueError(f"target must be float soft targets of shape {tuple(logits.shape)}, got "
                             f"{tuple(target.shape)} {target.dtype}")  # fmt: skip
        if not config.rgbd:
            terms = self.streams["video"].loss_terms(output, target)
        else:
            terms = {}
            for name in RGBD_STREAMS:
                terms.update(self.streams[name].loss_terms(output, target, prefix=f"{name}_"))
            terms.update(self._cross_modal_terms(output, target))
        loss = torch.stack(list(terms.values())).sum()
        return loss, {name: value.detach() for name, value in terms.items()}

    def _cross_modal_terms(self, output: dict[str, torch.Tensor], target: torch.Tensor) -> dict[str, torch.Tensor]:
        """CE of f¹, f² and, with CAPF, the CE of f³, the modality BCE and the reconstruction MSE (Fig. 5)."""
        fused = CrossModalOutput(
            scores=output["cm_scores"],
            **{name: output.get(f"cm_{name}") for name in CM_OUTPUTS if name != "scores"},
        )
        return self.cross_modal.losses(fused, target)


_TINY: dict[str, Any] = {
    "stem_channels": (8, 8),
    "spatial_blocks": 2,
    "sms_dims": (16,),
    "d": 32,
    "rcm_frames": 8,
    "branch_frames": (2, 4, 6),
    "temporal_blocks": 1,
    "heads": 2,
}


@register_model(DeRecouple, tiny=_TINY)
def derecouple(**overrides: Any) -> DeRecoupleConfig:
    """De+Recouple, one modality (§3.1-§3.2; Table 5, Fig. 6, the RGB / Depth rows of Tables 1-4): 64 frames,
    M = N = 6, K = 3 branches, FRP, RCM, multi-loss, sharpness, k-NN attention."""
    return dataclasses.replace(DeRecoupleConfig(), **overrides)


@register_model(DeRecouple, tiny=_TINY)
def derecouple_rgbd(**overrides: Any) -> DeRecoupleConfig:
    """De+Recouple RGB-D (§3.3): two streams, CmSI + CmTI, CAPF fusion (the "Ours(CAPF)" rows of Tables 1-4)."""
    defaults = DeRecoupleConfig(in_channels=RGBD_CHANNELS, fusion="capf", spatial_interaction=True,
                                temporal_interaction=True)  # fmt: skip
    return dataclasses.replace(defaults, **overrides)
