"""k-NN multi-head self-attention (KVT, Wang et al. ECCV 2022; cited as [29] in MFST §III-D1, Eq. (8)).

For every query only the ``k`` keys with the largest scaled dot-product scores take part in the softmax; the other
scores are set to ``-inf`` so their attention weight is exactly zero. With ``k >= N`` this is standard multi-head
self-attention.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn


def _validate_k(k: int | float) -> int | float:
    if isinstance(k, bool) or not isinstance(k, int | float):
        raise ValueError(f"k must be an int >= 1 or a float in (0, 1], got {k!r}")
    if isinstance(k, int) and k < 1:
        raise ValueError(f"k must be an int >= 1 or a float in (0, 1], got {k!r}")
    if isinstance(k, float) and not 0.0 < k <= 1.0:
        raise ValueError(f"k must be an int >= 1 or a float in (0, 1], got {k!r}")
    return k


def resolve_knn_k(k: int | float, num_tokens: int) -> int:
    """Number of keys kept per query for a sequence of ``num_tokens``.

    An int is a count clipped to ``num_tokens``; a float in (0, 1] is a fraction, ``max(1, round(k·N))``
    (Python's round-half-to-even).
    """
    _validate_k(k)
    if isinstance(k, int):
        return min(k, num_tokens)
    return min(num_tokens, max(1, round(k * num_tokens)))


class KNNMultiheadAttention(nn.Module):
    """k-NN multi-head self-attention (KVT [29]), the MSA_knn of MFST §III-D1 Eq. (8).

    Args:
        dim: token width D (divisible by ``heads``).
        heads: number of heads N_H.
        k: keys kept per query; int (count, clipped to N) or float in (0, 1] (fraction of N, ``max(1, round(k·N))``).
        dropout: dropout on the attention weights and on the output projection.
        qkv_bias: bias in the fused query/key/value projection.

    ``forward(x)`` maps ``(B, N, D) -> (B, N, D)``; with ``return_attention=True`` it also returns the attention
    weights ``(B, heads, N, N)`` (before dropout), which have exactly ``min(k, N)`` nonzero entries per query.
    """

    def __init__(self, dim: int, heads: int, k: int | float, dropout: float = 0.0, qkv_bias: bool = True) -> None:
        super().__init__()
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be an int >= 1, got {dim!r}")
        if not isinstance(heads, int) or heads < 1:
            raise ValueError(f"heads must be an int >= 1, got {heads!r}")
        if dim % heads != 0:
            raise ValueError(f"dim must be divisible by heads, got dim={dim}, heads={heads}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.k = _validate_k(k)
        self.dim = dim
        self.heads = heads
        self.scale = 1.0 / math.sqrt(dim // heads)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(dropout)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        num_tokens = int(x.shape[1])  # a Python int also under jit tracing (FLOP counting)
        q, k, v = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.heads)
        scores = torch.einsum("bhid,bhjd->bhij", q, k) * self.scale  # (B, heads, N, N)
        keep = resolve_knn_k(self.k, num_tokens)
        if keep < num_tokens:
            # Keep exactly `keep` keys per query (ties broken by topk), the rest get -inf -> weight 0.
            top_scores, top_index = scores.topk(keep, dim=-1)
            scores = torch.full_like(scores, float("-inf")).scatter(-1, top_index, top_scores)
        attn = scores.softmax(dim=-1)
        out = torch.einsum("bhij,bhjd->bhid", self.attn_drop(attn), v)
        out = self.proj_drop(self.proj(rearrange(out, "b h n d -> b n (h d)")))
        if return_attention:
            return out, attn
        return out

    def extra_repr(self) -> str:
        return f"dim={self.dim}, heads={self.heads}, k={self.k}"
