"""Spatiotemporal recoupling: the RCM module and the self-distillation loss (De+Recouple, CVPR 2022, §3.2).

``Ō (B, T, C) → RCM → Ô (B, T, C)``, where ``Ō`` is the DSN feature stream O (B, T, d) after the linear mapping to
the low-dimensional space (C = d/2) and ``Ô`` feeds the DTN (§3.1.2). The module also returns the distillation
student ``F(W_embed)``, which ``self_distillation_loss`` compares with the DTN class tokens (Eq. (14)).

* X direction (intra-frame, Eq. (11)): ``Q = Ō^T W_Q``, ``K = Ō^T W_K`` with learned T×T matrices,
  ``A_X = σ(GAP(Q K^T / √d))`` — one weight per feature channel, (B, C).
* Y direction (inter-frame, Eq. (12)-(13)): ``W_embed = MLP(GAP(Ō^T))`` (GAP over channels gives one value per
  frame), ``A_Y = σ(W_embed)`` — one weight per frame, (B, T).
* Combination (Eq. (15)): ``A_XY[t, c] = A_Y[t] · A_X[c]``, (B, T, C), every entry in (0, 1).
* Application (Eq. (16)): ``Ô = Ō ⊙ A_XY``.
* Self-distillation (Eq. (14)): ``C_d = 1/N_B Σ_i KL(softmax(CLS_i / 𝒯) ‖ softmax(F(W_embed)_i / 𝒯))`` with
  ``CLS = Σ_k O_k^CLS`` the sum of the K DTN branches' class tokens; 𝒯 = 0.4 for gestures, 0.5 for actions (§5.2).

Details the paper leaves open, and the choice made here:

* **What Eq. (16) multiplies**: it writes ``Ô = O ⊙ A_XY`` with O ∈ R^{T×d}, but A_XY and Ô are T×d/2 (Eq. (15),
  §3.1.2), so the map is applied to the linearly mapped stream Ō (T×d/2), the input of this module. The linear
  mapping d → d/2 itself belongs to the caller (the DSN output head), so this module is width-agnostic.
* **Layout**: the input is ``(B, T, C)`` (frames first, as the DTN consumes it); the transpose Ō^T of §3.2 is an
  einops pattern inside the module.
* **Eq. (11) matrices**: W_Q, W_K ∈ R^{T×T} are bias-free ``nn.Linear(T, T)`` layers (one per head), so the module
  is built for a fixed number of frames ``frames`` and checks it at run time.
* **GAP in Eq. (11)**: Q K^T is C×C; the adaptive global average pool runs over the query axis, so A_X[c] is the mean
  scaled score that channel c receives as a key, giving the stated 1×d/2.
* **Scale in Eq. (11)**: the paper writes 1/√d with d the DSN width (= 2·C); that is the default
  (``attention_scale_dim=None``). Pass ``attention_scale_dim=frames`` for the usual 1/√(key width) of self-attention.
* **Heads**: the paper's equations are single-head and it notes that with several heads the maps "will be
  concatenated and mapped to a fixed dimension". ``heads`` defaults to 1; for ``heads > 1`` each head has its own
  W_Q, W_K, the per-head GAP scores (B, heads·C) are concatenated and mapped by a bias-free Linear(heads·C, C) before
  the sigmoid.
* **Y-direction MLP** ("two hidden layers"): Linear(T, h) → GELU → Linear(h, h) → GELU → Linear(h, T), with
  ``mlp_hidden`` h = 4·T by default (the reference code uses 256 hidden units at T = 64). GELU as in the
  Transformer MLPs of the same network.
* **F in Eq. (14)**: a Linear(T, ``distill_dim``) with bias on W_embed (the pre-sigmoid embedding, as Eq. (14)
  writes), ``distill_dim`` being the class-token width; ``distill_dim=None`` builds no F and returns no student.
* **KL direction and gradient** (Eq. (14) writes ``KL(x/𝒯 − y/𝒯)`` with x = CLS, y = F(W_embed)): the DTN class
  tokens are the teacher, ``KL(p_teacher ‖ p_student)`` with both sides softmax-normalised at temperature 𝒯 over the
  token width, summed over that axis and averaged over the batch (the 1/N_B of Eq. (14)); no 𝒯² factor. The
  teacher is detached by default so the loss trains only the Y-direction MLP and F ("introduce additional
  supervision for the MLP block", "distill ... from temporal domain into W_embed"); ``detach_teacher=False`` lets
  the gradient reach the DTN too.
* **Switches** (Fig. 6 (a) turns recoupling off as a whole; the caller then skips the module and the loss):
  ``x_direction=False`` / ``y_direction=False`` replace A_X / A_Y by ones, so A_XY is the other direction alone
  (both off: Ô = Ō). A student needs the Y direction, so ``distill_dim`` with ``y_direction=False`` is an error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

DISTILLATION_TEMPERATURE_GESTURE = 0.4  # §5.2 / Fig. 6 (b): best 𝒯 on gesture data (NvGesture, IsoGD)
DISTILLATION_TEMPERATURE_ACTION = 0.5  # §5.2 / Fig. 6 (b): best 𝒯 on action data (THU-READ, NTU)


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


class RecouplingOutput(NamedTuple):
    """What ``RecouplingModule`` returns (De+Recouple §3.2)."""

    features: torch.Tensor  # Ô, Eq. (16): (B, T, C)
    attention: torch.Tensor  # A_XY, Eq. (15): (B, T, C), in (0, 1)
    x_attention: torch.Tensor  # A_X, Eq. (11): (B, C), in (0, 1); ones when the X direction is off
    y_attention: torch.Tensor  # A_Y, Eq. (13): (B, T), in (0, 1); ones when the Y direction is off
    distill_logits: torch.Tensor | None  # F(W_embed), Eq. (14): (B, distill_dim); None without F


class RecouplingModule(nn.Module):
    """Recoupling module RCM, De+Recouple §3.2 Eq. (11)-(13), (15)-(16), Fig. 4.

    Args:
        channels: feature width C of the mapped stream Ō (the paper's d/2).
        frames: sequence length T (W_Q, W_K ∈ R^{T×T} and the Y-direction MLP are sized by it).
        heads: X-direction attention heads (1 = the paper's equations).
        mlp_hidden: width of both hidden layers of the Y-direction MLP (Eq. (12)); default 4·T.
        distill_dim: width of the DTN class tokens; builds F of Eq. (14). ``None``: no F, no student.
        x_direction: use A_X (Eq. (11)); off → ones.
        y_direction: use A_Y (Eq. (12)-(13)); off → ones.
        attention_scale_dim: the d of 1/√d in Eq. (11); ``None`` → the paper's d = 2·C.

    ``forward(x)`` maps Ō ``(B, T, C)`` to a ``RecouplingOutput`` whose ``features`` Ô is ``(B, T, C)``.
    """

    def __init__(
        self,
        channels: int,
        frames: int,
        *,
        heads: int = 1,
        mlp_hidden: int | None = None,
        distill_dim: int | None = None,
        x_direction: bool = True,
        y_direction: bool = True,
        attention_scale_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.channels = _positive_int(channels, "channels")
        self.frames = _positive_int(frames, "frames")
        self.heads = _positive_int(heads, "heads")
        self.mlp_hidden = 4 * self.frames if mlp_hidden is None else _positive_int(mlp_hidden, "mlp_hidden")
        self.distill_dim = None if distill_dim is None else _positive_int(distill_dim, "distill_dim")
        self.x_direction = bool(x_direction)
        self.y_direction = bool(y_direction)
        scale_dim = 2 * self.channels if attention_scale_dim is None else attention_scale_dim
        self.attention_scale_dim = _positive_int(scale_dim, "attention_scale_dim")
        if self.distill_dim is not None and not self.y_direction:
            raise ValueError("distill_dim needs y_direction=True: the student F(W_embed) of Eq. (14) is built on it")

        if self.x_direction:
            # W_Q, W_K ∈ R^{T×T} per head, Eq. (11); heads stacked on the output axis.
            self.query = nn.Linear(self.frames, self.heads * self.frames, bias=False)
            self.key = nn.Linear(self.frames, self.heads * self.frames, bias=False)
            self.merge_heads = (
                nn.Linear(self.heads * self.channels, self.channels, bias=False) if self.heads > 1 else None
            )
        if self.y_direction:
            self.frame_mlp = nn.Sequential(  # Eq. (12): MLP with two hidden layers, T -> T
                nn.Linear(self.frames, self.mlp_hidden),
                nn.GELU(),
                nn.Linear(self.mlp_hidden, self.mlp_hidden),
                nn.GELU(),
                nn.Linear(self.mlp_hidden, self.frames),
            )
        self.distill_map = nn.Linear(self.frames, self.distill_dim) if self.distill_dim is not None else None  # F

    def x_attention(self, x: torch.Tensor) -> torch.Tensor:
        """A_X of Eq. (11): ``(B, T, C) -> (B, C)``, in (0, 1)."""
        x_t = rearrange(x, "b t c -> b c t")  # Ō^T
        q = rearrange(self.query(x_t), "b c (h t) -> b h c t", h=self.heads)  # Ō^T W_Q per head
        k = rearrange(self.key(x_t), "b c (h t) -> b h c t", h=self.heads)  # Ō^T W_K per head
        scores = torch.einsum("bhit,bhjt->bhij", q, k) / math.sqrt(self.attention_scale_dim)  # (B, h, C, C)
        pooled = scores.mean(dim=2)  # GAP over the query axis: (B, h, C)
        if self.merge_heads is not None:
            pooled = self.merge_heads(rearrange(pooled, "b h c -> b (h c)"))  # (B, C)
        else:
            pooled = rearrange(pooled, "b 1 c -> b c")
        return torch.sigmoid(pooled)

    def weight_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """W_embed of Eq. (12): ``(B, T, C) -> (B, T)`` (GAP over channels, then the MLP)."""
        return self.frame_mlp(x.mean(dim=2))  # (B, T)

    def forward(self, x: torch.Tensor) -> RecouplingOutput:
        if x.dim() != 3 or x.shape[1] != self.frames or x.shape[2] != self.channels:
            raise ValueError(f"x must be (B, frames={self.frames}, channels={self.channels}), got {tuple(x.shape)}")
        batch = x.shape[0]
        if self.x_direction:
            a_x = self.x_attention(x)  # (B, C)
        else:
            a_x = x.new_ones(batch, self.channels)
        student = None
        if self.y_direction:
            w_embed = self.weight_embedding(x)  # (B, T)
            a_y = torch.sigmoid(w_embed)  # Eq. (13): (B, T)
            if self.distill_map is not None:
                student = self.distill_map(w_embed)  # F(W_embed), Eq. (14): (B, distill_dim)
        else:
            a_y = x.new_ones(batch, self.frames)
        a_xy = torch.einsum("bt,bc->btc", a_y, a_x)  # Eq. (15): (B, T, C)
        return RecouplingOutput(x * a_xy, a_xy, a_x, a_y, student)  # Eq. (16)

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, frames={self.frames}, heads={self.heads}, mlp_hidden={self.mlp_hidden}, "
            f"distill_dim={self.distill_dim}, x_direction={self.x_direction}, y_direction={self.y_direction}"
        )


def self_distillation_loss(
    teacher: torch.Tensor | Sequence[torch.Tensor],
    student: torch.Tensor,
    temperature: float,
    *,
    detach_teacher: bool = True,
) -> torch.Tensor:
    """Self-distillation loss C_d of De+Recouple §3.2 Eq. (14).

    ``C_d = 1/N_B Σ_i KL(softmax(CLS_i / 𝒯) ‖ softmax(F(W_embed)_i / 𝒯))``.

    Args:
        teacher: CLS ``(B, D)``, or the K per-branch class tokens O_k^CLS (each ``(B, D)``), which are summed
            (``CLS = Σ_k O_k^CLS``).
        student: F(W_embed) ``(B, D)`` from ``RecouplingModule``.
        temperature: distillation temperature 𝒯 > 0 (paper: 0.4 gestures, 0.5 actions).
        detach_teacher: stop the gradient into the teacher (the DTN).

    Returns a scalar: 0 exactly when the two softmax distributions agree, positive otherwise.
    """
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 < temperature < math.inf:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    if not isinstance(teacher, torch.Tensor):
        tokens = list(teacher)
        if not tokens:
            raise ValueError("teacher must be a tensor or a non-empty sequence of class tokens")
        if any(t.shape != tokens[0].shape for t in tokens):
            raise ValueError(f"teacher class tokens must share one shape, got {[tuple(t.shape) for t in tokens]}")
        teacher = torch.stack(tokens).sum(dim=0)  # CLS = Σ_k O_k^CLS: (B, D)
    if teacher.dim() != 2:
        raise ValueError(f"teacher must be (B, D), got {tuple(teacher.shape)}")
    if student.shape != teacher.shape:
        raise ValueError(f"student must match teacher's shape {tuple(teacher.shape)}, got {tuple(student.shape)}")
    if detach_teacher:
        teacher = teacher.detach()
    log_p_teacher = F.log_softmax(teacher / temperature, dim=-1)  # (B, D)
    log_p_student = F.log_softmax(student / temperature, dim=-1)  # (B, D)
    # batchmean: Σ over D, mean over the N_B samples, Eq. (14).
    return F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
