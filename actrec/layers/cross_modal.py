"""Cross-modal interactive learning of De+Recouple (Zhou et al., CVPR 2022), §3.3, Eq. (17)-(18) and Fig. 5.

Two unimodal branches (RGB, depth) meet twice:

* **CmSI** (cross-modal spatial interaction, Eq. (17)): ``Ö_R^S = LN(MLP([Ô_R^S || Ô_D^S])) + O_R^S`` and the same
  joint term added to the depth stream, on the (B, T, w) spatial feature sequences between DSN/RCM and DTN.
* **CmTI** (cross-modal temporal interaction, "similar to the interactive way of spatial features"): the joint
  temporal representation ``Ö^T = LN(MLP([O_R^T || O_D^T]))`` (B, w) is added to each modality's (B, w) temporal
  feature.
* **CAPF** (cross-modal adaptive posterior fusion, Fig. 5): Encoder ``E`` maps the two (interacted) temporal
  features to ``Ö^E`` (B, d/4), classified by ``f³``; Decoder ``D`` maps ``Ö^E`` back to ``Ö^D`` (B, d/2), which
  supervises the encoder. Losses: CE (L_C), BCE (L_B), MSE (L_M). Final score Eq. (18):
  ``C = argmax(f¹(O_R^CLS) + f²(O_D^CLS) + f³(Ö^E))``.
* **Score fusion** (Tables 1-4, rows "Multiplication" / "Addition", "score-level fusion similar to [21]"): the
  softmax scores of the two unimodal classifiers are multiplied / added; no CAPF.

Widths: ``w = dim`` is one modality's feature width, the paper's d/2 (A_XY ∈ R^{T×d/2}, Eq. (15)), so the two
modalities concatenated are d wide, ``Ö^E`` is d/4 = w/2 and ``Ö^D`` is d/2 = w.

Details the paper leaves open, and the choice made here:

* **Interaction MLP** (Eq. (17), and CmTI): "the MLP layer" is Linear(2w, w) → GELU → Dropout → Linear(w, w),
  followed by the LayerNorm Eq. (17) writes. The same layout, with its own weights, serves CmTI.
* **Residual of Eq. (17)**: the equation adds the *raw* spatial feature O_R^S (no hat), the text says "integrated
  with raw spatial features". ``CrossModalSpatialInteraction`` takes the residual as its own argument
  (``residual_rgb`` / ``residual_depth``) so the caller passes O^S as written; when it is omitted the enhanced
  features Ô^S are used (the arrangement where RCM's enhancement also reaches the DTN directly). With CmSI off
  the caller feeds Ô^S to the DTN as Eq. (16) says.
* **CmTI and the joint temporal representation**: the paper gives Ö^T ∈ R^{1×d/2} but not how it meets the two
  streams; it is added to each modality's temporal feature, mirroring Eq. (17), and both interacted features,
  concatenated (B, d), are the encoder's input. With CmTI off the encoder takes the concatenation of the raw
  temporal features, so CAPF works alone.
* **Eq. (18) uses O^CLS without dots**: f¹ and f² classify the temporal features *before* CmTI; CmTI therefore
  acts only through CAPF, and asking for CmTI with a score fusion (where it could change nothing) is rejected.
* **Encoder / Decoder** ("MLP blocks with multiple hidden layers"): Encoder d → d → d/2 → d/4
  (Linear → LayerNorm → GELU between layers, two hidden layers), Decoder d/4 → d/4 → d/2 (one hidden layer).
  LayerNorm rather than BatchNorm so the block is independent of the batch size (tiny batches in tests and
  local runs).
* **MSE (L_M)**: between the decoded Ö^D and each of the two temporal features the encoder saw (RGB and depth),
  summed; nothing is detached, so the reconstruction trains encoder and decoder together ("used to supervise
  the Encoder").
* **BCE (L_B)**: Fig. 5 pairs it with a ground truth but not with a score; here it is a modality discriminator,
  one Linear(w, 1) shared by both streams on the encoder's inputs, target 1 for RGB and 0 for depth
  (binary cross-entropy on logits), which keeps the two fused streams modality-specific.
* **CE (L_C)**: CE(f¹(O_R), y) + CE(f²(O_D), y) (``unimodal_ce``, on in every fusion mode) + CE(f³(Ö^E), y)
  (``capf_ce``). Label smoothing is ``label_smoothing`` (default 0, the paper gives none).
* **Total loss**: ``ce_weight · (sum of CE terms) + bce_weight · L_B + mse_weight · L_M``, all weights 1 by default
  (the paper gives no weights for its "multi-loss collaborative optimization").
* **Scores** returned for argmax: CAPF, the sum of logits of Eq. (18); multiplication, softmax(f¹)·softmax(f²);
  addition, softmax(f¹) + softmax(f²). ``log_scores`` gives the log-softmax of the Eq. (18) sum (CAPF) or the
  log of the normalized fused probabilities (score fusion) for a caller that wants one loss-ready tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

FUSIONS = ("capf", "multiplication", "addition")  # Tables 1-4 RGB+Depth rows
LOSS_TERMS = ("ce_rgb", "ce_depth", "ce_fused", "bce_modality", "mse_reconstruction")


def _check(ok: bool, name: str, rule: str, value: object) -> None:
    if not ok:
        raise ValueError(f"{name} {rule}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class CrossModalConfig:
    """Switches and sizes of the cross-modal interaction (§3.3); each paper component can be turned off."""

    dim: int  # w: one modality's feature width (the paper's d/2); even, so Ö^E = w/2 (d/4)
    num_classes: int  # classes of f¹, f², f³
    fusion: str = "capf"  # "capf" (Eq. (18)), "multiplication" or "addition" (score fusion, Tables 1-4)
    spatial_interaction: bool = True  # CmSI, Eq. (17) (Table 6)
    temporal_interaction: bool = True  # CmTI (Table 6); needs fusion == "capf"
    unimodal_ce: bool = True  # CE on f¹(O_R) and f²(O_D)
    capf_ce: bool = True  # CAPF: CE on f³(Ö^E) (Fig. 5, L_C)
    capf_bce: bool = True  # CAPF: modality BCE (Fig. 5, L_B)
    capf_mse: bool = True  # CAPF: decoder reconstruction MSE (Fig. 5, L_M)
    ce_weight: float = 1.0  # weight of the summed CE terms
    bce_weight: float = 1.0  # weight of L_B
    mse_weight: float = 1.0  # weight of L_M
    label_smoothing: float = 0.0  # of every CE term
    dropout: float = 0.0  # inside the interaction MLPs

    def __post_init__(self) -> None:
        _check(isinstance(self.dim, int) and self.dim >= 2 and self.dim % 2 == 0, "dim", "must be an even int >= 2",
               self.dim)  # fmt: skip
        _check(isinstance(self.num_classes, int) and self.num_classes >= 2, "num_classes", "must be an int >= 2",
               self.num_classes)  # fmt: skip
        _check(self.fusion in FUSIONS, "fusion", f"must be one of {FUSIONS}", self.fusion)
        _check(
            not (self.temporal_interaction and self.fusion != "capf"),
            "temporal_interaction",
            "needs fusion='capf' (Eq. (18) scores f¹, f² before CmTI, so a score fusion would ignore it)",
            (self.temporal_interaction, self.fusion),
        )
        for name in ("ce_weight", "bce_weight", "mse_weight"):
            _check(getattr(self, name) >= 0, name, "must be >= 0", getattr(self, name))
        _check(0 <= self.label_smoothing < 1, "label_smoothing", "must be in [0, 1)", self.label_smoothing)
        _check(0 <= self.dropout < 1, "dropout", "must be in [0, 1)", self.dropout)


class JointInteraction(nn.Module):
    """Joint representation of two modalities, the ``LN(MLP([a || b]))`` term of Eq. (17) (§3.3).

    ``(..., w), (..., w) -> (..., w)``; used over the (B, T, w) spatial sequences (CmSI) and the (B, w) temporal
    features (CmTI).
    """

    def __init__(self, dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        _check(isinstance(dim, int) and dim >= 1, "dim", "must be an int >= 1", dim)
        self.dim = dim
        self.mlp = nn.Sequential(
            nn.Linear(2 * dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim)
        )  # fmt: skip
        self.norm = nn.LayerNorm(dim)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        _check(rgb.shape == depth.shape, "depth", f"must have the shape of rgb {tuple(rgb.shape)}", tuple(depth.shape))
        _check(rgb.shape[-1] == self.dim, "rgb", f"must end in width {self.dim}", tuple(rgb.shape))
        both = torch.cat([rgb, depth], dim=-1)  # (..., 2w): the concatenation [a || b]
        return self.norm(self.mlp(both))  # (..., w)


class CrossModalSpatialInteraction(nn.Module):
    """CmSI, §3.3 Eq. (17): ``Ö_R^S = LN(MLP([Ô_R^S || Ô_D^S])) + O_R^S`` and likewise for depth.

    Inputs ``enhanced_rgb``, ``enhanced_depth``: Ô^S, the RCM-enhanced spatial sequences (B, T, w) (Eq. (16));
    ``residual_rgb``, ``residual_depth``: O^S (B, T, w), the raw ones Eq. (17) adds (default: the enhanced ones).
    Returns the two interacted sequences (B, T, w), the input of each modality's DTN.
    """

    def __init__(self, dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.joint = JointInteraction(dim, dropout)

    def forward(
        self,
        enhanced_rgb: torch.Tensor,
        enhanced_depth: torch.Tensor,
        residual_rgb: torch.Tensor | None = None,
        residual_depth: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        _check(enhanced_rgb.dim() == 3, "enhanced_rgb", "must be (B, T, w)", tuple(enhanced_rgb.shape))
        residual_rgb = enhanced_rgb if residual_rgb is None else residual_rgb
        residual_depth = enhanced_depth if residual_depth is None else residual_depth
        expected = tuple(enhanced_rgb.shape)
        for name, tensor in (("residual_rgb", residual_rgb), ("residual_depth", residual_depth)):
            _check(tuple(tensor.shape) == expected, name, f"must be {expected}", tuple(tensor.shape))
        joint = self.joint(enhanced_rgb, enhanced_depth)  # (B, T, w)
        return joint + residual_rgb, joint + residual_depth


class CAPFEncoder(nn.Module):
    """CAPF Encoder E (Fig. 5): ``[Ö_R^T || Ö_D^T]`` (B, d=2w) → Ö^E (B, d/4 = w/2); two hidden layers."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2 * dim, 2 * dim), nn.LayerNorm(2 * dim), nn.GELU(),
            nn.Linear(2 * dim, dim), nn.LayerNorm(dim), nn.GELU(),
            nn.Linear(dim, dim // 2),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CAPFDecoder(nn.Module):
    """CAPF Decoder D (Fig. 5): Ö^E (B, d/4 = w/2) → Ö^D (B, d/2 = w); one hidden layer."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim // 2, dim // 2), nn.LayerNorm(dim // 2), nn.GELU(), nn.Linear(dim // 2, dim)
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclass
class CrossModalOutput:
    """What ``CrossModalFusion`` returns; shapes for batch B and K classes."""

    scores: torch.Tensor  # (B, K): argmax gives the prediction (Eq. (18) logit sum, or fused probabilities)
    log_scores: torch.Tensor  # (B, K): log-probabilities of the fused prediction, for a loss or calibration
    logits_rgb: torch.Tensor  # (B, K): f¹(O_R^CLS)
    logits_depth: torch.Tensor  # (B, K): f²(O_D^CLS)
    logits_fused: torch.Tensor | None = None  # (B, K): f³(Ö^E), CAPF only
    encoded: torch.Tensor | None = None  # (B, w/2): Ö^E, CAPF only
    decoded: torch.Tensor | None = None  # (B, w): Ö^D, CAPF only
    stream_rgb: torch.Tensor | None = None  # (B, w): the encoder's RGB input (after CmTI when on), CAPF only
    stream_depth: torch.Tensor | None = None  # (B, w): the encoder's depth input (after CmTI when on), CAPF only
    losses: dict[str, torch.Tensor] = field(default_factory=dict)  # named terms, only those switched on
    loss: torch.Tensor | None = None  # weighted total, when a target was given


class CrossModalFusion(nn.Module):
    """Temporal interaction (CmTI), CAPF and the final score of Eq. (18), or score fusion (§3.3, Fig. 5, Tab. 1-4).

    ``forward(rgb, depth, target=None)``: ``rgb``, ``depth`` are each modality's temporal class feature O^CLS
    (B, w); ``target`` (B,) int64 class indices or (B, K) class probabilities (soft targets). Returns a
    ``CrossModalOutput``; ``losses`` and ``loss`` are filled only when ``target`` is given (``losses(out, target)``
    computes them for an earlier output). CmSI, which acts earlier (between RCM and DTN), is ``self.spatial``
    (a ``CrossModalSpatialInteraction``, or ``None`` when ``config.spatial_interaction`` is off).
    """

    def __init__(self, config: CrossModalConfig) -> None:
        super().__init__()
        self.config = config
        w, k = config.dim, config.num_classes
        self.spatial = CrossModalSpatialInteraction(w, config.dropout) if config.spatial_interaction else None
        self.classifier_rgb = nn.Linear(w, k)  # f¹
        self.classifier_depth = nn.Linear(w, k)  # f²
        capf = config.fusion == "capf"
        self.temporal = JointInteraction(w, config.dropout) if config.temporal_interaction else None
        self.encoder = CAPFEncoder(w) if capf else None
        self.decoder = CAPFDecoder(w) if capf and config.capf_mse else None
        self.classifier_fused = nn.Linear(w // 2, k) if capf else None  # f³
        self.modality_discriminator = nn.Linear(w, 1) if capf and config.capf_bce else None

    def interact_spatial(
        self,
        enhanced_rgb: torch.Tensor,
        enhanced_depth: torch.Tensor,
        residual_rgb: torch.Tensor | None = None,
        residual_depth: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """CmSI (Eq. (17)) when switched on, else the enhanced sequences unchanged (Eq. (16)); (B, T, w) each."""
        if self.spatial is None:
            return enhanced_rgb, enhanced_depth
        return self.spatial(enhanced_rgb, enhanced_depth, residual_rgb, residual_depth)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor, target: torch.Tensor | None = None) -> CrossModalOutput:
        cfg = self.config
        _check(rgb.dim() == 2 and rgb.shape[1] == cfg.dim, "rgb", f"must be (B, {cfg.dim})", tuple(rgb.shape))
        _check(depth.shape == rgb.shape, "depth", f"must be {tuple(rgb.shape)}", tuple(depth.shape))
        if target is not None:
            _check(target.shape in (rgb.shape[:1], (rgb.shape[0], cfg.num_classes)), "target",
                   f"must be ({rgb.shape[0]},) class indices or ({rgb.shape[0]}, {cfg.num_classes}) probabilities",
                   tuple(target.shape))  # fmt: skip
        logits_rgb = self.classifier_rgb(rgb)  # (B, K) f¹(O_R^CLS)
        logits_depth = self.classifier_depth(depth)  # (B, K) f²(O_D^CLS)
        out = CrossModalOutput(scores=logits_rgb, log_scores=logits_rgb, logits_rgb=logits_rgb,
                               logits_depth=logits_depth)  # fmt: skip

        if cfg.fusion == "capf":
            if self.temporal is not None:
                joint = self.temporal(rgb, depth)  # (B, w) Ö^T
                rgb, depth = rgb + joint, depth + joint
            encoded = self.encoder(torch.cat([rgb, depth], dim=-1))  # (B, 2w) -> (B, w/2) Ö^E
            out.encoded, out.stream_rgb, out.stream_depth = encoded, rgb, depth
            out.logits_fused = self.classifier_fused(encoded)  # (B, K) f³(Ö^E)
            out.scores = logits_rgb + logits_depth + out.logits_fused  # Eq. (18)
            out.log_scores = F.log_softmax(out.scores, dim=-1)
            if self.decoder is not None:
                out.decoded = self.decoder(encoded)  # (B, w/2) -> (B, w) Ö^D
        else:
            log_rgb, log_depth = F.log_softmax(logits_rgb, dim=-1), F.log_softmax(logits_depth, dim=-1)
            if cfg.fusion == "multiplication":
                out.scores = log_rgb.exp() * log_depth.exp()  # softmax(f¹) · softmax(f²)
                out.log_scores = F.log_softmax(log_rgb + log_depth, dim=-1)  # the product, renormalized
            else:
                out.scores = log_rgb.exp() + log_depth.exp()  # softmax(f¹) + softmax(f²)
                out.log_scores = torch.logaddexp(log_rgb, log_depth) - math.log(2.0)  # log of their mean

        if target is not None:
            out.losses = self.losses(out, target)
            out.loss = self._total(out.losses, logits_rgb)
        return out

    def losses(self, out: CrossModalOutput, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """The loss terms switched on (``LOSS_TERMS`` names) of a forward output against ``target``: (B,) class
        indices or (B, K) class probabilities (soft targets)."""
        cfg = self.config
        rgb, depth = out.stream_rgb, out.stream_depth
        ce = lambda logits: F.cross_entropy(logits, target, label_smoothing=cfg.label_smoothing)  # noqa: E731
        losses: dict[str, torch.Tensor] = {}
        if cfg.unimodal_ce:
            losses["ce_rgb"], losses["ce_depth"] = ce(out.logits_rgb), ce(out.logits_depth)
        if cfg.fusion != "capf":
            return losses
        if cfg.capf_ce:
            losses["ce_fused"] = ce(out.logits_fused)
        if self.modality_discriminator is not None:
            streams = rearrange(torch.stack([rgb, depth]), "m b w -> (m b) w")  # (2B, w): RGB rows, then depth
            is_rgb = repeat(torch.tensor([1.0, 0.0], device=rgb.device), "m -> (m b)", b=rgb.shape[0])  # (2B,)
            logit = rearrange(self.modality_discriminator(streams), "n 1 -> n")  # (2B,)
            losses["bce_modality"] = F.binary_cross_entropy_with_logits(logit, is_rgb.to(logit.dtype))
        if out.decoded is not None:
            losses["mse_reconstruction"] = F.mse_loss(out.decoded, rgb) + F.mse_loss(out.decoded, depth)
        return losses

    def _total(self, losses: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        weight = {"bce_modality": cfg.bce_weight, "mse_reconstruction": cfg.mse_weight}
        total = like.new_zeros(())
        for name, value in losses.items():
            total = total + weight.get(name, cfg.ce_weight) * value
        return total
