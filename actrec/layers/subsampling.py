"""Temporal token subsampling inside the temporal encoder, thesis §3.3.5, Eq. (3.12)-(3.14) (RPE-STDT).

The frame tokens of the temporal Transformer encoder are reduced, at chosen layers, by one of the strategies the
thesis compares (Table 3.4):

* ``"max_pool"`` — temporal max-pooling, kernel 2 (stride 2);
* ``"avg_pool"`` — temporal average-pooling;
* ``"conv"`` — 1D temporal convolution with stride 2;
* ``"topk"`` — the proposed Top-K pooling: keep the frames whose row of the layer's temporal attention matrix has
  the largest standard deviation (Eq. (3.12)), σ and μ of each row as Eq. (3.13)-(3.14).

``TemporalSubsampling.forward(tokens, positions, attention)`` maps the layer's tokens ``(B, P + T, D)`` (``P`` class
tokens first, never subsampled) and the frames' temporal positions ``(B, T)`` to ``(B, P + T', D)`` and ``(B, T')``.

Choices the thesis leaves open, and the choice made here:

* **Output length**: "the temporal dimension is reduced by half" (§3.4.3): stride 2 for the uniform strategies and
  ``keep = 0.5`` of the frames for Top-K (``floor(keep · T)``, at least 1; an int ``keep`` is a frame count).
* **Kernels**: max-pool kernel 2 (stated); the same kernel for average pooling and the 1D convolution (not
  stated), padding ``(kernel - 1) // 2`` so that every kernel halves an even T. Average pooling ignores padding.
  The convolution is a full (dense) ``Conv1d(D, D)`` with bias.
* **Which attention matrix**: Eq. (3.12) ranks the rows of ``Attn_t`` "obtained by performing matrix
  multiplication between q_t and k_t"; the text then speaks of rows that are "highly activated" vs "equally
  distributed", i.e. the softmax-normalised rows — those are used, σ computed per head (Eq. (3.13) literally,
  ``σ = (1/T) sqrt(Σ_j (A_ij - μ_i)²)`` with T the row length; the 1/T factor does not change the ranking) and
  averaged over heads. The rows of the class token(s) are never ranked nor dropped.
* **Order**: kept frames stay in temporal order (indices sorted), and carry their original frame positions, which
  the temporal relative-position clusters use. Pooled / convolved frames get the mean position of their window.
* **Ties** in σ: broken by ``torch.topk``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange, reduce, repeat
from torch import nn

SUBSAMPLING_METHODS = ("topk", "max_pool", "avg_pool", "conv")
STRIDE = 2  # "the temporal dimension is reduced by half"


def resolve_keep(keep: int | float, frames: int) -> int:
    """Frames Top-K keeps out of ``frames``: an int is a count (at most ``frames``), a float in (0, 1] a fraction,
    ``max(1, floor(keep · frames))``."""
    if isinstance(keep, bool) or not isinstance(keep, int | float):
        raise ValueError(f"keep must be an int >= 1 or a float in (0, 1], got {keep!r}")
    if isinstance(keep, int):
        if keep < 1:
            raise ValueError(f"keep must be an int >= 1 or a float in (0, 1], got {keep!r}")
        return min(keep, frames)
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must be an int >= 1 or a float in (0, 1], got {keep!r}")
    return min(frames, max(1, math.floor(keep * frames)))


def attention_row_std(attention: torch.Tensor) -> torch.Tensor:
    """σ of every attention row, Eq. (3.13)-(3.14), averaged over heads: ``(B, H, N, N) -> (B, N)``.

    ``μ_i = (1/T) Σ_j A_ij`` and ``σ_i = (1/T) sqrt(Σ_j (A_ij - μ_i)²)`` with ``T = N`` the row length.
    """
    length = attention.shape[-1]
    mean = reduce(attention, "b h i j -> b h i 1", "mean")  # μ, Eq. (3.14)
    sigma = (attention - mean).square().sum(dim=-1).sqrt() / length  # σ, Eq. (3.13): (B, H, N)
    return reduce(sigma, "b h i -> b i", "mean")


def topk_rows_by_std(attention: torch.Tensor, keep: int, prefix_tokens: int = 1) -> torch.Tensor:
    """Indices (into the frame tokens, 0-based after the prefix) of the ``keep`` frame rows of largest σ, Eq. (3.12),
    in increasing order: ``(B, H, P + T, P + T) -> (B, keep)`` int64."""
    sigma = attention_row_std(attention)[:, prefix_tokens:]  # (B, T), class-token rows excluded
    if not 1 <= keep <= sigma.shape[1]:
        raise ValueError(f"keep must be in [1, {sigma.shape[1]}] frames, got {keep}")
    return sigma.topk(keep, dim=-1).indices.sort(dim=-1).values


class TemporalSubsampling(nn.Module):
    """One temporal subsampling layer (§3.3.5): ``method`` in ``SUBSAMPLING_METHODS``.

    Args:
        method: ``"topk"``, ``"max_pool"``, ``"avg_pool"`` or ``"conv"``.
        dim: token width (for the convolution).
        keep: Top-K frames kept, int count or float fraction (``resolve_keep``).
        kernel_size: window of the pooling / convolution (stride 2).
        prefix_tokens: leading class tokens passed through untouched.

    ``forward(tokens, positions, attention=None)``: tokens ``(B, P + T, D)``, frame positions ``(B, T)``, and for
    Top-K the layer's softmax attention ``(B, H, P + T, P + T)``; returns ``(B, P + T', D)`` and ``(B, T')``.
    """

    def __init__(
        self, method: str, dim: int, *, keep: int | float = 0.5, kernel_size: int = 2, prefix_tokens: int = 1
    ) -> None:
        super().__init__()
        if method not in SUBSAMPLING_METHODS:
            raise ValueError(f"method must be one of {SUBSAMPLING_METHODS}, got {method!r}")
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
            raise ValueError(f"kernel_size must be an int >= 1, got {kernel_size!r}")
        resolve_keep(keep, 1)  # validates
        self.method = method
        self.keep = keep
        self.kernel_size = kernel_size
        self.padding = (kernel_size - 1) // 2
        self.prefix_tokens = prefix_tokens
        self.conv = nn.Conv1d(dim, dim, kernel_size, stride=STRIDE, padding=self.padding) if method == "conv" else None

    @property
    def needs_attention(self) -> bool:
        """Whether ``forward`` needs the layer's attention matrix (Top-K)."""
        return self.method == "topk"

    def output_frames(self, frames: int) -> int:
        """Frames left after subsampling ``frames`` frames."""
        if self.method == "topk":
            return resolve_keep(self.keep, frames)
        return (frames + 2 * self.padding - self.kernel_size) // STRIDE + 1

    def forward(
        self, tokens: torch.Tensor, positions: torch.Tensor, attention: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        prefix, frames = tokens[:, : self.prefix_tokens], tokens[:, self.prefix_tokens :]  # (B, P, D), (B, T, D)
        count = frames.shape[1]
        if positions.shape != frames.shape[:2]:
            raise ValueError(f"positions must be (B, T) = {tuple(frames.shape[:2])}, got {tuple(positions.shape)}")
        if self.method == "topk":
            if attention is None:
                raise ValueError("Top-K subsampling needs the layer's attention matrix")
            index = topk_rows_by_std(attention, resolve_keep(self.keep, count), self.prefix_tokens)  # (B, k)
            frames = frames.gather(1, repeat(index, "b k -> b k d", d=frames.shape[-1]))
            positions = positions.gather(1, index)
            return torch.cat([prefix, frames], dim=1), positions
        if self.output_frames(count) < 1:
            raise ValueError(
                f"temporal {self.method} (kernel {self.kernel_size}, stride {STRIDE}) needs at least "
                f"{self.kernel_size - 2 * self.padding} frames, got {count}"
            )
        channels = rearrange(frames, "b t d -> b d t")
        if self.method == "max_pool":
            channels = F.max_pool1d(channels, self.kernel_size, STRIDE, self.padding)
        elif self.method == "avg_pool":
            channels = F.avg_pool1d(channels, self.kernel_size, STRIDE, self.padding, count_include_pad=False)
        else:
            channels = self.conv(channels)
        window_positions = F.avg_pool1d(
            rearrange(positions.to(frames.dtype), "b t -> b 1 t"),
            self.kernel_size,
            STRIDE,
            self.padding,
            count_include_pad=False,
        )
        frames = rearrange(channels, "b d t -> b t d")
        return torch.cat([prefix, frames], dim=1), rearrange(window_positions, "b 1 t -> b t")
