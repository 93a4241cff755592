"""Pre-norm Transformer blocks with k-NN attention and sinusoidal positions (MFST §III-D, Eq. (8)-(10))."""

from __future__ import annotations

import math

import torch
from torch import nn

from actrec.layers.attention import KNNMultiheadAttention


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """Fixed sine/cosine positional encodings, MFST §III-D2 Eq. (9)-(10) (Vaswani et al.).

    ``PE[pos, 2i] = sin(pos / 10000^(2i/dim))`` and ``PE[pos, 2i+1] = cos(pos / 10000^(2i/dim))``.
    Returns float32 ``(length, dim)``; for odd ``dim`` the last column is the sine of the last frequency.
    """
    if not isinstance(length, int) or length < 0:
        raise ValueError(f"length must be an int >= 0, got {length!r}")
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be an int >= 1, got {dim!r}")
    position = torch.arange(length, dtype=torch.float64)[:, None]  # (length, 1)
    two_i = torch.arange(0, dim, 2, dtype=torch.float64)  # 2i for i = 0 .. ceil(dim/2)-1
    angle = position / torch.pow(10000.0, two_i / dim)  # (length, ceil(dim/2))
    encoding = torch.zeros(length, dim, dtype=torch.float64)
    encoding[:, 0::2] = torch.sin(angle)
    encoding[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return encoding.to(torch.float32)


class FeedForward(nn.Module):
    """Position-wise MLP of a Transformer layer (the MLP of MFST Eq. (8)): Linear → GELU → Linear.

    ``(..., dim) -> (..., dim)`` with hidden width ``hidden_dim``.
    """

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TransformerBlock(nn.Module):
    """Pre-norm Transformer layer with k-NN multi-head self-attention, MFST §III-D1 Eq. (8).

    ``x = x + MSA_knn(LN(x)); x = x + MLP(LN(x))``. Eq. (8) writes the layer as ``MLP(LN(MSA_knn(F)))``; the
    residual, pre-norm arrangement is the standard ViT/KVT one the paper builds on.

    Args:
        dim: token width.
        heads: attention heads N_H.
        mlp_ratio: MLP hidden width as a multiple of ``dim``.
        dropout: dropout in attention and MLP.
        knn_k: keys kept per query (int count or float fraction, see ``KNNMultiheadAttention``);
            ``None`` means full attention (``k=1.0``).
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        knn_k: int | float | None = None,
    ) -> None:
        super().__init__()
        if mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio must be > 0, got {mlp_ratio!r}")
        self.norm1 = nn.LayerNorm(dim)
        self.attn = KNNMultiheadAttention(dim, heads, k=1.0 if knn_k is None else knn_k, dropout=dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, max(1, math.floor(dim * mlp_ratio)), dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, N, D) -> (B, N, D)
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    """Stack of ``depth`` pre-norm ``TransformerBlock``s followed by a final LayerNorm (MFST §III-D).

    ``(B, N, dim) -> (B, N, dim)``; arguments as ``TransformerBlock``.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        knn_k: int | float | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be an int >= 1, got {depth!r}")
        self.layers = nn.ModuleList(
            TransformerBlock(dim, heads, mlp_ratio=mlp_ratio, dropout=dropout, knn_k=knn_k) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)
