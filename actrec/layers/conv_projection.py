"""CTN's depth-wise convolutional mapping for multi-head self-attention (thesis §4.3.4 Eq. (4.6), §4.3.1 Eq. (4.3)-
(4.4), §4.3.5 2), Tables 4.5-4.6).

* ``ConvProjection``: one of the Q / K / V mappings of Eq. (4.6), ``z^{q,k,v} = Flatten(Conv2d(Reshaped2d(z), s))``
  with Conv2d the depth-wise separable convolution "Depthwise Conv → BatchNorm → Pointwise Conv": the tokens are
  reshaped into their token map, each channel is filtered by its own ``s × s`` kernel (stride 1, padding s // 2, so
  the token count and order are kept), optionally batch-normalised, flattened back, and mixed across channels by the
  pointwise 1×1 convolution (``dim -> dim``).
* ``LinearProjection``: the position-wise linear mapping of ViViT (Fig. 4.3; Table 4.5 "CTN-a"), same interface.
* ``ConvMultiheadAttention``: multi-head self-attention, Eq. (4.3) per head, whose Q, K and V come from three
  separate mappings ("to generate query (Q), key (K), and value (V) embeddings, respectively", §4.3.2), followed by
  the linear output transformation.
* ``ConvTransformerBlock``: the depth-wise convolutional Transformer encoder of Fig. 4.2 (b): the attention above and
  the GELU feed-forward network of Eq. (4.4), each a residual sub-layer.

Every module takes the token ``grid`` ``(n_T, n_H, n_W)`` of the body tokens and the number of ``prefix_tokens``
(class token) that precede them: ``(B, prefix + n_T·n_H·n_W, dim)``, body tokens in (t, h, w) row-major order.

Choices the thesis leaves open, and the choice made here:

* **Class token**: it has no place on the token map. It skips the depth-wise ``s × s`` filter and its BN and goes
  through the pointwise 1×1 convolution only (a 1×1 convolution is the same linear map on every token), as CvT
  (Wu et al. 2021) handles its class token in the convolutional projection.
* **Time**: Eq. (4.6) reshapes the tokens into a 2D map (``Reshaped2d``, a ``Conv2d``): the depth-wise filter runs
  over the ``n_H × n_W`` map of each temporal index separately (the frames of the token grid are folded into the
  batch); it does not mix tokens across time (attention does). At the paper size the token grid has n_T = 1.
* **Kernel**: odd sizes only, so that padding s // 2 keeps every token (the thesis uses 3 and 5, Table 4.6).
* **Biases**: the depth-wise convolution has a bias only without BN (BN's shift makes it redundant); the pointwise
  convolution has a bias, as ViViT's qkv mapping it replaces (the weights of §4.4.1 come from a ViViT model).
* **BatchNorm statistics** are taken over the batch and all token-map positions (``BatchNorm2d`` on the map).
* **Attention scale**: ``1/sqrt(d_head)`` per head (ViT/ViViT; Eq. (4.3) writes ``sqrt(C)`` for one head).
* **Norm placement**: pre-norm, ``x + MHSA(LN(x))`` then ``x + FFN(LN(x))`` as ViT/ViViT whose weights CTN starts
  from; Eq. (4.1)-(4.2) write the post-norm form of the original Transformer.
* **Output transformation**: a linear map after the heads are concatenated ("a linear transformation is committed
  to the weighted values", §4.3.1 3)); the thesis replaces only the Q/K/V mapping.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from einops import rearrange
from torch import nn

from actrec.layers.transformer import FeedForward

MAPPINGS = ("conv", "linear")


def _check_tokens(x: torch.Tensor, grid: Sequence[int], prefix_tokens: int, what: str) -> tuple[int, int, int]:
    if x.ndim != 3:
        raise ValueError(f"{what} expects tokens (B, N, D), got {tuple(x.shape)}")
    grid = tuple(int(g) for g in grid)
    if len(grid) != 3 or any(g < 1 for g in grid):
        raise ValueError(f"{what}: grid must be 3 ints (n_T, n_H, n_W) >= 1, got {grid!r}")
    if prefix_tokens < 0 or x.shape[1] != prefix_tokens + math.prod(grid):
        raise ValueError(
            f"{what}: {x.shape[1]} tokens, but {prefix_tokens} prefix tokens + grid {grid} "
            f"= {prefix_tokens + math.prod(grid)}"
        )
    return grid  # type: ignore[return-value]


class ConvProjection(nn.Module):
    """Depth-wise separable convolutional mapping of Eq. (4.6): depth-wise ``s × s`` → BN (optional) → pointwise.

    ``forward(x, grid, prefix_tokens=1)``: ``(B, prefix + n_T·n_H·n_W, dim) -> same shape``; the token count and
    order are kept, the prefix (class) tokens skip the depth-wise filter (module docstring).
    """

    def __init__(self, dim: int, kernel_size: int = 3, *, batch_norm: bool = True, bias: bool = True) -> None:
        super().__init__()
        if not isinstance(kernel_size, int) or isinstance(kernel_size, bool) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f"kernel_size must be an odd int >= 1 (padding s // 2 keeps the tokens), got {kernel_size!r}"
            )
        self.kernel_size = kernel_size
        self.depthwise = nn.Conv2d(
            dim, dim, kernel_size, padding=kernel_size // 2, groups=dim, bias=not batch_norm
        )  # one s × s filter per channel
        self.norm = nn.BatchNorm2d(dim) if batch_norm else None
        self.pointwise = nn.Linear(dim, dim, bias=bias)  # the 1×1 convolution, applied token by token

    def forward(self, x: torch.Tensor, grid: Sequence[int], prefix_tokens: int = 1) -> torch.Tensor:
        n_t, n_h, n_w = _check_tokens(x, grid, prefix_tokens, "ConvProjection")
        prefix, body = x[:, :prefix_tokens], x[:, prefix_tokens:]
        token_map = rearrange(body, "b (t h w) d -> (b t) d h w", t=n_t, h=n_h, w=n_w)  # Reshaped2d: per frame
        token_map = self.depthwise(token_map)  # (B·n_T, D, n_H, n_W)
        if self.norm is not None:
            token_map = self.norm(token_map)
        body = rearrange(token_map, "(b t) d h w -> b (t h w) d", t=n_t)  # Flatten
        return self.pointwise(torch.cat([prefix, body], dim=1))  # (B, prefix + N, D)


class LinearProjection(nn.Module):
    """Position-wise linear mapping (ViViT, Fig. 4.3; Table 4.5 "Linear Mapping"), the interface of
    ``ConvProjection``: ``forward(x, grid, prefix_tokens=1)``: ``(B, N, dim) -> (B, N, dim)``."""

    def __init__(self, dim: int, *, bias: bool = True) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim, bias=bias)

    def forward(self, x: torch.Tensor, grid: Sequence[int], prefix_tokens: int = 1) -> torch.Tensor:
        _check_tokens(x, grid, prefix_tokens, "LinearProjection")
        return self.linear(x)


def qkv_mapping(dim: int, mapping: str, kernel_size: int = 3, *, batch_norm: bool = True) -> nn.Module:
    """One Q/K/V mapping: ``"conv"`` (``ConvProjection``, Eq. (4.6)) or ``"linear"`` (``LinearProjection``)."""
    if mapping == "conv":
        return ConvProjection(dim, kernel_size, batch_norm=batch_norm)
    if mapping == "linear":
        return LinearProjection(dim)
    raise ValueError(f"mapping must be one of {MAPPINGS}, got {mapping!r}")


class ConvMultiheadAttention(nn.Module):
    """Multi-head self-attention with convolutional (or linear) Q/K/V mappings, Eq. (4.3) and (4.6).

    ``forward(x, grid, prefix_tokens=1)``: ``(B, prefix + n_T·n_H·n_W, dim) -> same shape``. ``mapping`` is
    ``"conv"`` (depth-wise separable, ``kernel_size``, ``batch_norm``) or ``"linear"``.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        *,
        mapping: str = "conv",
        kernel_size: int = 3,
        batch_norm: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(heads, int) or heads < 1 or dim % heads != 0:
            raise ValueError(f"heads must be an int >= 1 dividing dim, got dim={dim}, heads={heads!r}")
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.to_q = qkv_mapping(dim, mapping, kernel_size, batch_norm=batch_norm)
        self.to_k = qkv_mapping(dim, mapping, kernel_size, batch_norm=batch_norm)
        self.to_v = qkv_mapping(dim, mapping, kernel_size, batch_norm=batch_norm)
        self.attn_drop = nn.Dropout(dropout)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, grid: Sequence[int], prefix_tokens: int = 1) -> torch.Tensor:
        q, k, v = (
            rearrange(mapping(x, grid, prefix_tokens), "b n (h d) -> b h n d", h=self.heads)
            for mapping in (self.to_q, self.to_k, self.to_v)
        )
        scores = torch.einsum("bhid,bhjd->bhij", q, k) * self.scale  # QKᵀ/√d, Eq. (4.3): (B, heads, N, N)
        attention = self.attn_drop(scores.softmax(dim=-1))
        out = torch.einsum("bhij,bhjd->bhid", attention, v)  # (B, heads, N, d)
        return self.proj_drop(self.proj(rearrange(out, "b h n d -> b n (h d)")))


class ConvTransformerBlock(nn.Module):
    """Depth-wise convolutional Transformer encoder (Fig. 4.2 (b)), pre-norm:
    ``x = x + MHSA_conv(LN(x))``; ``x = x + FFN(LN(x))`` with FFN = Linear → GELU → Linear (Eq. (4.4)).

    ``forward(x, grid, prefix_tokens=1)``: ``(B, prefix + n_T·n_H·n_W, dim) -> same shape``; attention arguments
    as ``ConvMultiheadAttention``, FFN hidden width ``floor(dim · mlp_ratio)``.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        *,
        mlp_ratio: float = 4.0,
        mapping: str = "conv",
        kernel_size: int = 3,
        batch_norm: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio must be > 0, got {mlp_ratio!r}")
        self.norm1 = nn.LayerNorm(dim)
        self.attn = ConvMultiheadAttention(
            dim, heads, mapping=mapping, kernel_size=kernel_size, batch_norm=batch_norm, dropout=dropout
        )
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, max(1, math.floor(dim * mlp_ratio)), dropout=dropout)

    def forward(self, x: torch.Tensor, grid: Sequence[int], prefix_tokens: int = 1) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), grid, prefix_tokens)  # (B, N, D)
        return x + self.mlp(self.norm2(x))
