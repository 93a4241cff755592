"""Decoupled temporal feature learning network DTN of De+Recouple (Zhou et al., CVPR 2022), §3.1.2, Eq. (7)-(10).

``Ô (B, T, dim) → K branches × [Eq. (7) sample T_n frames → TMS (time-centric Inception + max-pool, Eq. (8))
→ prepend class token → N k-NN Transformer blocks (Eq. (9)) → class token O_k^CLS → MLP_k(O_k^CLS) / τ]``, and the
DTN output is the sum of the branch logits, Eq. (10). ``dim`` is the paper's d/2 (the RCM-enhanced spatial width).

Pieces: ``segment_bounds`` / ``segment_sample_indices`` (Eq. (7)), ``TemporalMultiScale`` (TMS, Eq. (8), built on
the time-centric Inception C_{T-Inc} of ``actrec.layers.inception``), ``DTNBranch`` (one sub-branch k),
``DecoupledTemporalNetwork`` (Eq. (10)), ``sharpness_temperature`` (the cosine τ schedule of §3.1.2 / §5.1) and
``dtn_multi_loss`` (the "multi-loss" of Table 5: a constraint loss on every sub-branch).

Every Table 5 component is switchable: ``knn_k=None`` is full attention (k-NN attention off), ``sharpness=False``
divides by 1 instead of τ, and ``dtn_multi_loss(..., multi_loss=False)`` drops the per-branch terms. ``tms=False``
skips the TMS layer (not a paper ablation; useful for probing).

Details the paper leaves open, and the choice made here:

* **Eq. (7) segments**: read literally, ``τ ∈ R[⌈T/T_n⌉·t - 1, ⌈T/T_n⌉·t]`` overruns the sequence whenever T_n does
  not divide T (the official configuration samples 48 of 64 frames: ⌈64/48⌉·48 = 96) and reaches index 0 of a
  1-indexed sequence at T_n = T. The intent — one randomly chosen frame from each of T_n consecutive segments — is
  kept with segments that partition the sequence exactly: segment t (0-indexed) is
  ``[⌊T·t/T_n⌋, ⌊T·(t+1)/T_n⌋)``, so every frame belongs to exactly one segment and every segment gives exactly one
  sample. When T_n > T a segment would be empty; it is widened to its start frame (frames repeat, nearest lower).
* **Random vs. deterministic**: in training mode each segment's frame is drawn uniformly (torch's global RNG, so
  ``torch.manual_seed`` reproduces it); in eval mode the segment's middle frame ``start + (len - 1) // 2`` is taken,
  so evaluation is deterministic. The same indices are used for every clip of a batch.
* **Branch lengths T_n**: K = 3 (§4.1) but T_n is not given; the default ``branch_frames = (16, 32, 48)`` is the
  official configuration for T = 64 input frames. Any positive lengths work, also lengths larger than T.
* **Time-centric Inception** (footnote 2: spatial kernel 1×1): on a feature sequence with 1×1 spatial extent a
  ``k×1×1`` Conv3d is exactly a Conv1d of kernel k over time, so it is implemented with Conv1d on (B, C, T). Layout
  mirrors ``SpaceCentricInception3d`` with temporal kernels: one branch per ``k`` in ``tms_kernel_sizes`` (default
  (1, 3, 5); k = 1 a 1-conv, k > 1 a 1-conv reduction then a k-conv) and a pooling branch (temporal max-pool 3,
  stride 1, then a 1-conv), BatchNorm + ReLU after every conv, same channel split rule; width stays ``dim``.
* **TMS max-pool** (Eq. (8)): temporal max-pool, kernel 3, stride 1, padding 1 (as in the official code), so the
  branch keeps its T_n tokens for the Transformer.
* **Class token and positions**: one learned class token per branch (zero-initialised, then trained), prepended after
  the TMS (the TMS convolves frames only, as in the official code). Fixed sinusoidal positions 1..T_n
  (``sinusoidal_positions``) are added to the frame tokens before the Transformer; the class token gets none. The
  paper does not mention positions; sinusoidal ones add no parameters and work for any T_n.
* **Transformer blocks** (Eq. (9)): the shared pre-norm ``Transformer`` (``x + MSA_knn(LN x)``, ``x + MLP(LN x)``,
  final LayerNorm), the residual pre-norm form of the ViT/KVT blocks Eq. (9) abbreviates. ``depth`` = N = 6 blocks
  per branch (§4.1), ``heads`` = 8, ``mlp_ratio`` = 1.5 and ``knn_k`` = 0.7 (the fraction of keys kept) as in the
  official code; branches do not share weights.
* **MLP of Eq. (10)**: a Linear(dim, num_classes) per branch on the (already layer-normalised) class token.
* **Sharpness τ**: ``sharpness_temperature`` is a half-cosine ramp from 0.04 at epoch 0 to 0.07 at the last epoch,
  ``τ = end - (end - start)·(1 + cos(π·e/E))/2``; the official code ramps linearly over 30 epochs instead, the paper
  says cosine, which is followed. τ lives in the module (``set_temperature`` / ``update_temperature``) and is also
  applied at evaluation (it rescales all logits alike, so the arg-max is unchanged).
* **Multi-loss**: ``dtn_multi_loss`` is CE on the Eq. (10) sum plus ``branch_weight`` (default 0.5, the official
  ``loss_lamdb``) times the CE of every branch; without multi-loss only the sum is supervised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

from actrec.layers.inception import TimeCentricInception
from actrec.layers.transformer import Transformer, sinusoidal_positions

SHARPNESS_START = 0.04  # τ at the first epoch, §3.1.2
SHARPNESS_END = 0.07  # τ at the last epoch, §3.1.2


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def segment_bounds(num_frames: int, num_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Start (inclusive) and end (exclusive) frame of each of the ``num_samples`` segments of Eq. (7).

    Segment t is ``[⌊T·t/T_n⌋, ⌊T·(t+1)/T_n⌋)``; for T_n ≤ T the segments partition ``0..T-1``. Empty segments
    (T_n > T) are widened to one frame. Returns two int64 tensors of shape ``(num_samples,)``.
    """
    _check_positive_int("num_frames", num_frames)
    _check_positive_int("num_samples", num_samples)
    t = torch.arange(num_samples + 1, dtype=torch.int64)
    edges = torch.div(t * num_frames, num_samples, rounding_mode="floor")  # (T_n + 1,)
    starts = edges[:-1]
    ends = torch.maximum(edges[1:], starts + 1)
    return starts, ends


def segment_sample_indices(
    num_frames: int, num_samples: int, *, random: bool, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Frame indices of one Eq. (7) sub-sequence: one frame per segment, ``(num_samples,)`` int64, ascending.

    ``random=True`` draws each segment's frame uniformly (R[a, b] of Eq. (7)); ``random=False`` takes the middle
    frame ``start + (len - 1) // 2``.
    """
    starts, ends = segment_bounds(num_frames, num_samples)
    lengths = ends - starts  # (T_n,)
    if not random:
        return starts + torch.div(lengths - 1, 2, rounding_mode="floor")
    offsets = torch.floor(torch.rand(num_samples, generator=generator, dtype=torch.float64) * lengths).long()
    return starts + torch.minimum(offsets, lengths - 1)


def sharpness_temperature(
    epoch: float, total_epochs: int, start: float = SHARPNESS_START, end: float = SHARPNESS_END
) -> float:
    """Sharpness temperature τ of Eq. (10) at (fractional) ``epoch`` of ``total_epochs``: cosine ``start → end``.

    ``τ = end - (end - start)·(1 + cos(π·e/E))/2`` with e clipped to [0, E]: τ(0) = start, τ(E) = end, monotone in
    between (paper: 0.04 → 0.07, §3.1.2).
    """
    _check_positive_int("total_epochs", total_epochs)
    if isinstance(epoch, bool) or not isinstance(epoch, int | float) or epoch < 0:
        raise ValueError(f"epoch must be a number >= 0, got {epoch!r}")
    if not (start > 0 and end > 0):
        raise ValueError(f"start and end must be > 0, got start={start!r}, end={end!r}")
    progress = min(float(epoch) / total_epochs, 1.0)
    return end - (end - start) * (1.0 + math.cos(math.pi * progress)) / 2.0


class TemporalMultiScale(nn.Module):
    """TMS layer of De+Recouple Eq. (8): ``Maxpool(C_{T-Inc}(Ô_k))`` on a token sequence.

    Max-pool: temporal, kernel 3, stride 1, padding 1 (length kept). Shapes: ``(B, T_n, dim) -> (B, T_n, dim)``.
    """

    def __init__(self, dim: int, kernel_sizes: tuple[int, ...] = (1, 3, 5)) -> None:
        super().__init__()
        self.inception = TimeCentricInception(dim, dim, kernel_sizes)
        self.pool = nn.MaxPool1d(kernel_size=3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = rearrange(x, "b t c -> b c t")  # (B, dim, T_n)
        x = self.pool(self.inception(x))  # (B, dim, T_n)
        return rearrange(x, "b c t -> b t c")  # (B, T_n, dim)


class DTNBranch(nn.Module):
    """One DTN sub-branch k of De+Recouple §3.1.2: Eq. (7) sampling → TMS (Eq. (8)) → Transformer (Eq. (9)).

    Args:
        dim: token width (the paper's d/2).
        num_frames: T_n, the frames this branch samples by Eq. (7).
        depth: Transformer blocks N.
        heads: attention heads.
        mlp_ratio: Transformer MLP hidden width as a multiple of ``dim``.
        dropout: dropout in attention and MLP.
        knn_k: keys kept per query in the k-NN attention (int count or float fraction); ``None`` = full attention.
        tms: apply the TMS layer (Eq. (8)).
        tms_kernel_sizes: temporal kernels of the time-centric Inception.

    ``forward(x)`` maps ``(B, T, dim)`` to the class token ``O_k^CLS`` ``(B, dim)``; sampling is random in training
    mode and the segment middles in eval mode, unless ``indices`` ``(T_n,)`` are given.
    """

    def __init__(
        self,
        dim: int,
        num_frames: int,
        depth: int,
        heads: int,
        mlp_ratio: float = 1.5,
        dropout: float = 0.0,
        knn_k: int | float | None = 0.7,
        tms: bool = True,
        tms_kernel_sizes: tuple[int, ...] = (1, 3, 5),
    ) -> None:
        super().__init__()
        self.dim = _check_positive_int("dim", dim)
        self.num_frames = _check_positive_int("num_frames", num_frames)
        self.tms = TemporalMultiScale(dim, tms_kernel_sizes) if tms else None
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("positions", sinusoidal_positions(num_frames + 1, dim)[1:], persistent=False)
        self.transformer = Transformer(dim, depth, heads, mlp_ratio=mlp_ratio, dropout=dropout, knn_k=knn_k)

    def sample(self, x: torch.Tensor, indices: torch.Tensor | None = None) -> torch.Tensor:
        """Eq. (7): ``(B, T, dim) -> (B, T_n, dim)``."""
        if indices is None:
            indices = segment_sample_indices(int(x.shape[1]), self.num_frames, random=self.training)
        if indices.shape != (self.num_frames,):
            raise ValueError(f"indices must have shape ({self.num_frames},), got {tuple(indices.shape)}")
        return x.index_select(1, indices.to(x.device))

    def forward(self, x: torch.Tensor, indices: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"x must have shape (B, T, {self.dim}), got {tuple(x.shape)}")
        tokens = self.sample(x, indices)  # (B, T_n, dim)
        if self.tms is not None:
            tokens = self.tms(tokens)  # (B, T_n, dim), Eq. (8)
        tokens = tokens + self.positions.to(tokens.dtype)
        cls = repeat(self.cls_token, "1 1 d -> b 1 d", b=tokens.shape[0])
        tokens = self.transformer(torch.cat((cls, tokens), dim=1))  # (B, 1 + T_n, dim), Eq. (9)
        return tokens[:, 0]  # O_k^CLS (B, dim)


@dataclass(frozen=True)
class DTNOutput:
    """What ``DecoupledTemporalNetwork`` returns.

    logits: Eq. (10), ``Σ_k MLP_k(O_k^CLS) / τ``, ``(B, num_classes)``; ``None`` without heads (``classify=False``).
    branch_logits: per-branch ``MLP_k(O_k^CLS) / τ`` for the multi-loss, ``(B, K, num_classes)``; ``None`` without
        heads.
    class_tokens: the ``O_k^CLS``, ``(B, K, dim)`` (their sum is the CLS of the recoupling loss, Eq. (14)).
    temperature: the τ applied (1.0 with sharpness off).
    """

    logits: torch.Tensor | None
    branch_logits: torch.Tensor | None
    class_tokens: torch.Tensor
    temperature: float


class DecoupledTemporalNetwork(nn.Module):
    """DTN of De+Recouple §3.1.2, Eq. (7)-(10): K branches, each a ``DTNBranch`` with its own MLP head.

    Args:
        dim: input token width (d/2).
        num_classes: classes of the per-branch classifiers (``classifiers``, the MLP of Eq. (10)).
        branch_frames: T_n of each branch; K = ``len(branch_frames)`` (paper: K = 3).
        depth: Transformer blocks per branch N (paper: 6).
        heads, mlp_ratio, dropout, knn_k, tms, tms_kernel_sizes: as ``DTNBranch``.
        sharpness: divide the logits by the temperature τ (Eq. (10)); off → τ = 1.
        sharpness_start, sharpness_end: the τ schedule's endpoints (paper: 0.04 → 0.07).
        classify: build the per-branch heads of Eq. (10); ``False`` gives the class tokens only (the RGB-D network
            of §3.3 classifies the streams' class features with its own f¹, f², f³, Eq. (18)).

    ``forward(x)`` maps ``(B, T, dim)`` to a ``DTNOutput``. The trainer sets τ for the current epoch with
    ``update_temperature(epoch, total_epochs)``; it starts at ``sharpness_start``.
    """

    def __init__(
        self,
        dim: int,
        num_classes: int,
        branch_frames: tuple[int, ...] = (16, 32, 48),
        depth: int = 6,
        heads: int = 8,
        mlp_ratio: float = 1.5,
        dropout: float = 0.1,
        knn_k: int | float | None = 0.7,
        tms: bool = True,
        tms_kernel_sizes: tuple[int, ...] = (1, 3, 5),
        sharpness: bool = True,
        sharpness_start: float = SHARPNESS_START,
        sharpness_end: float = SHARPNESS_END,
        classify: bool = True,
    ) -> None:
        super().__init__()
        _check_positive_int("num_classes", num_classes)
        branch_frames = tuple(branch_frames)
        if not branch_frames:
            raise ValueError("branch_frames must name at least one branch length, got ()")
        for frames in branch_frames:
            _check_positive_int("branch_frames entries", frames)
        if not (sharpness_start > 0 and sharpness_end > 0):
            raise ValueError(
                f"sharpness_start and sharpness_end must be > 0, got {sharpness_start!r}, {sharpness_end!r}"
            )
        self.branch_frames = branch_frames
        self.sharpness = sharpness
        self.sharpness_start = float(sharpness_start)
        self.sharpness_end = float(sharpness_end)
        self.temperature = self.sharpness_start
        self.branches = nn.ModuleList(
            DTNBranch(
                dim,
                frames,
                depth,
                heads,
                mlp_ratio=mlp_ratio,
                dropout=dropout,
                knn_k=knn_k,
                tms=tms,
                tms_kernel_sizes=tms_kernel_sizes,
            )
            for frames in branch_frames
        )
        self.classifiers = nn.ModuleList(nn.Linear(dim, num_classes) for _ in branch_frames) if classify else None

    def set_temperature(self, temperature: float) -> None:
        """Set τ directly (e.g. from a checkpoint or a test)."""
        if isinstance(temperature, bool) or not isinstance(temperature, int | float) or temperature <= 0:
            raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
        self.temperature = float(temperature)

    def update_temperature(self, epoch: float, total_epochs: int) -> float:
        """Set τ from the cosine schedule (``sharpness_temperature``) and return it."""
        self.temperature = sharpness_temperature(epoch, total_epochs, self.sharpness_start, self.sharpness_end)
        return self.temperature

    def forward(self, x: torch.Tensor) -> DTNOutput:
        # x: (B, T, dim)
        class_tokens = torch.stack([branch(x) for branch in self.branches], dim=1)  # (B, K, dim)
        temperature = self.temperature if self.sharpness else 1.0
        if self.classifiers is None:
            return DTNOutput(logits=None, branch_logits=None, class_tokens=class_tokens, temperature=temperature)
        # MLP_k(O_k^CLS) of Eq. (10): (B, K, num_classes)
        raw = torch.stack([head(class_tokens[:, k]) for k, head in enumerate(self.classifiers)], dim=1)
        branch_logits = raw / temperature
        return DTNOutput(
            logits=branch_logits.sum(dim=1),  # Eq. (10)
            branch_logits=branch_logits,
            class_tokens=class_tokens,
            temperature=temperature,
        )

    def extra_repr(self) -> str:
        return f"branch_frames={self.branch_frames}, sharpness={self.sharpness}"


def dtn_loss_terms(
    logits: torch.Tensor,
    branch_logits: torch.Tensor,
    target: torch.Tensor,
    *,
    multi_loss: bool = True,
    branch_weight: float = 0.5,
    label_smoothing: float = 0.0,
) -> dict[str, torch.Tensor]:
    """The DTN's classification loss terms: ``ce`` = CE of the Eq. (10) sum ``logits`` (B, classes) and, with
    ``multi_loss`` (Table 5 "Multi-loss"), ``ce_branches`` = ``branch_weight · Σ_k CE(branch_logits[:, k])`` for
    ``branch_logits`` (B, K, classes).

    ``target`` is ``(B,)`` class indices or ``(B, classes)`` class probabilities (MixUp / CutMix soft targets).
    """
    if branch_weight < 0:
        raise ValueError(f"branch_weight must be >= 0, got {branch_weight!r}")
    terms = {"ce": F.cross_entropy(logits, target, label_smoothing=label_smoothing)}
    if multi_loss:
        num_branches = branch_logits.shape[1]
        flat = rearrange(branch_logits, "b k c -> (b k) c")
        pattern = "b -> (b k)" if target.ndim == 1 else "b c -> (b k) c"
        per_branch = F.cross_entropy(
            flat, repeat(target, pattern, k=num_branches), label_smoothing=label_smoothing
        )  # mean over (B·K) = mean over B of each branch, averaged over K
        terms["ce_branches"] = branch_weight * num_branches * per_branch
    return terms


def dtn_multi_loss(
    output: DTNOutput,
    target: torch.Tensor,
    multi_loss: bool = True,
    branch_weight: float = 0.5,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """DTN classification loss: the sum of ``dtn_loss_terms``, i.e. ``CE(logits) + branch_weight · Σ_k
    CE(branch_logits[:, k])`` with multi-loss, ``CE(logits)`` without; returns a scalar."""
    terms = dtn_loss_terms(
        output.logits,
        output.branch_logits,
        target,
        multi_loss=multi_loss,
        branch_weight=branch_weight,
        label_smoothing=label_smoothing,
    )
    return torch.stack(list(terms.values())).sum()
