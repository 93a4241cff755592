"""ViT / ViViT building blocks (thesis §3.3.1 Eq. (3.1)-(3.4) and §4.3.1; Dosovitskiy et al. 2021, Arnab et al. 2021).

* ``PatchEmbedding2d``: ViT's linear patch projection E of Eq. (3.1), a 2D convolution with kernel = stride = patch,
  applied to every frame of a clip: ``(B, C, T, H, W) -> (B, T, n_H·n_W, D)``.
* ``TubeletEmbedding``: ViViT's tubelet embedding (§4.3.1 1)), a 3D convolution with kernel = stride = (t, h, w):
  ``(B, C, T, H, W) -> (B, n_T·n_H·n_W, D)``.
* ``ClassToken``: the learned Z_cls prepended to a token sequence (Eq. (3.1)).
* ``LearnedPositions`` / ``SinusoidalPositions``: the absolute-position embedding P of Eq. (3.1), learned (ViT,
  ViViT) or fixed sine/cosine (the form Eq. (3.1)'s text describes, Vaswani et al.).
* ``MultiheadSelfAttention``: scaled dot-product multi-head self-attention, Eq. (3.2)-(3.4) and Eq. (4.3).
* ``EncoderBlock``: a Transformer encoder layer whose attention module is pluggable (the relative-position attention
  of ``actrec.layers.relative_position`` slots in), pre-norm by default.

Choices the thesis leaves open, and the choice made here:

* **Norm placement**: Eq. (4.1)-(4.2) write the post-norm layer ``LN(x + MHSA(x))``; ViT and ViViT, whose weights
  both chapters start from, are pre-norm (``x + MHSA(LN(x))``). ``EncoderBlock`` is pre-norm by default and
  post-norm with ``norm_first=False``.
* **Input sizes that do not tile**: the patch/tubelet embeddings raise ValueError naming the size and the patch
  (ViT would silently drop the remainder); learned positions are interpolated (linear / bilinear / trilinear, as
  when ViT and ViViT are fine-tuned at another resolution) when the token grid differs from the one they were built
  for, the class-token position kept as is.
* **Sinusoidal positions on a grid**: one sinusoid per flattened token index (class token first), as the 1D
  sequence of Eq. (3.1), so any grid works without interpolation.
* **Initialisation**: truncated normal (std 0.02) for class tokens and learned positions, as ViT.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

from actrec.layers.transformer import FeedForward, sinusoidal_positions


def _as_sizes(value: int | Sequence[int], count: int, name: str) -> tuple[int, ...]:
    sizes = (value,) * count if isinstance(value, int) and not isinstance(value, bool) else tuple(value)
    if len(sizes) != count or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise ValueError(f"{name} must be an int >= 1 or {count} ints >= 1, got {value!r}")
    return sizes


def _check_tiles(sizes: Sequence[int], patch: Sequence[int], axes: str, what: str) -> None:
    for size, step, axis in zip(sizes, patch, axes, strict=True):
        if size % step != 0:
            raise ValueError(
                f"{what}: input {axis} = {size} is not a multiple of the {what} size {step} along {axis} "
                f"(input {'x'.join(map(str, sizes))}, {what} {'x'.join(map(str, patch))})"
            )


class PatchEmbedding2d(nn.Module):
    """ViT patch embedding E of Eq. (3.1), applied to each frame: non-overlapping ``patch × patch`` patches, each
    linearly projected to ``dim`` (a Conv2d with kernel = stride = patch).

    ``forward(x)``: ``(B, C, T, H, W) -> (B, T, n_H·n_W, dim)``, patches in row-major (h, w) order; ``grid(H, W)``
    gives ``(n_H, n_W)``. H and W must be multiples of the patch size.
    """

    def __init__(self, in_channels: int, dim: int, patch_size: int) -> None:
        super().__init__()
        (self.patch_size,) = _as_sizes(patch_size, 1, "patch_size")
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=self.patch_size, stride=self.patch_size)

    def grid(self, height: int, width: int) -> tuple[int, int]:
        _check_tiles((height, width), (self.patch_size, self.patch_size), "HW", "patch")
        return height // self.patch_size, width // self.patch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise ValueError(f"PatchEmbedding2d expects (B, C, T, H, W), got {tuple(x.shape)}")
        batch, _, _, height, width = x.shape
        self.grid(int(height), int(width))
        frames = rearrange(x, "b c t h w -> (b t) c h w")
        tokens = self.proj(frames)  # (B·T, D, n_H, n_W)
        return rearrange(tokens, "(b t) d nh nw -> b t (nh nw) d", b=batch)


class TubeletEmbedding(nn.Module):
    """ViViT tubelet embedding (thesis §4.3.1 1)): non-overlapping ``t × h × w`` tubelets linearly projected to
    ``dim`` (a Conv3d with kernel = stride = tubelet).

    ``forward(x)``: ``(B, C, T, H, W) -> (B, n_T·n_H·n_W, dim)``, tokens in (t, h, w) row-major order;
    ``grid(T, H, W)`` gives ``(n_T, n_H, n_W)``. T, H, W must be multiples of the tubelet size.
    """

    def __init__(self, in_channels: int, dim: int, tubelet_size: int | Sequence[int]) -> None:
        super().__init__()
        self.tubelet_size = _as_sizes(tubelet_size, 3, "tubelet_size")
        self.proj = nn.Conv3d(in_channels, dim, kernel_size=self.tubelet_size, stride=self.tubelet_size)

    def grid(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        _check_tiles((frames, height, width), self.tubelet_size, "THW", "tubelet")
        return tuple(size // step for size, step in zip((frames, height, width), self.tubelet_size, strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise ValueError(f"TubeletEmbedding expects (B, C, T, H, W), got {tuple(x.shape)}")
        self.grid(*(int(s) for s in x.shape[2:]))
        tokens = self.proj(x)  # (B, D, n_T, n_H, n_W)
        return rearrange(tokens, "b d nt nh nw -> b (nt nh nw) d")


class ClassToken(nn.Module):
    """Learned class token Z_cls of Eq. (3.1), prepended to every sequence: ``(B, N, D) -> (B, N + 1, D)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.token, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cls = repeat(self.token, "1 1 d -> b 1 d", b=x.shape[0]).to(x.dtype)
        return torch.cat([cls, x], dim=1)


class LearnedPositions(nn.Module):
    """Learned absolute-position embedding P of Eq. (3.1) for ``prefix_tokens`` leading tokens (class token) and a
    token grid of shape ``grid`` (1D frames, 2D patches or 3D tubelets), added to the tokens.

    ``forward(x, grid)``: ``(B, prefix + prod(grid), D) -> same``. When ``grid`` differs from the built grid, the
    grid part of the table is interpolated (linear / bilinear / trilinear, ``align_corners=False``); the prefix
    positions are used as they are.
    """

    def __init__(self, grid: Sequence[int], dim: int, prefix_tokens: int = 1) -> None:
        super().__init__()
        grid = tuple(grid)
        if not 1 <= len(grid) <= 3:
            raise ValueError(f"grid must have 1 to 3 axes, got {grid!r}")
        self.grid = _as_sizes(grid, len(grid), "grid")
        if prefix_tokens < 0:
            raise ValueError(f"prefix_tokens must be >= 0, got {prefix_tokens!r}")
        self.prefix_tokens = prefix_tokens
        self.positions = nn.Parameter(torch.zeros(1, prefix_tokens + math.prod(self.grid), dim))
        nn.init.trunc_normal_(self.positions, std=0.02)

    def table(self, grid: Sequence[int]) -> torch.Tensor:
        """The ``(1, prefix + prod(grid), D)`` embedding for ``grid`` (interpolated when it is not the built grid)."""
        grid = tuple(int(g) for g in grid)
        if len(grid) != len(self.grid):
            raise ValueError(f"LearnedPositions built for a {len(self.grid)}D grid {self.grid}, got grid {grid}")
        if grid == self.grid:
            return self.positions
        prefix, body = self.positions[:, : self.prefix_tokens], self.positions[:, self.prefix_tokens :]
        axes = " ".join(f"g{i}" for i in range(len(grid)))
        named = {f"g{i}": size for i, size in enumerate(self.grid)}
        body = rearrange(body, f"1 ({axes}) d -> 1 d {axes}", **named)  # (1, D, *grid)
        mode = ("linear", "bilinear", "trilinear")[len(grid) - 1]
        body = F.interpolate(body, size=grid, mode=mode, align_corners=False)
        body = rearrange(body, f"1 d {axes} -> 1 ({axes}) d")
        return torch.cat([prefix, body], dim=1)

    def forward(self, x: torch.Tensor, grid: Sequence[int]) -> torch.Tensor:
        table = self.table(grid)
        if x.shape[1] != table.shape[1]:
            raise ValueError(
                f"LearnedPositions: {x.shape[1]} tokens, but grid {tuple(grid)} + prefix has {table.shape[1]}"
            )
        return x + table.to(x.dtype)


class SinusoidalPositions(nn.Module):
    """Fixed sine/cosine absolute positions (the P of Eq. (3.1) as its text describes), one per flattened token
    index, the prefix (class) tokens first: ``forward(x, grid)``: ``(B, N, D) -> same`` for any ``N``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor, grid: Sequence[int] | None = None) -> torch.Tensor:
        table = sinusoidal_positions(int(x.shape[1]), self.dim).to(device=x.device, dtype=x.dtype)
        return x + rearrange(table, "n d -> 1 n d")


class MultiheadSelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention, Eq. (3.2)-(3.4) / Eq. (4.3).

    ``forward(x, return_attention=False)``: ``(B, N, D) -> (B, N, D)`` and the softmax attention
    ``(B, heads, N, N)`` (before dropout) when asked, else ``None``.
    """

    def __init__(self, dim: int, heads: int, *, qkv_bias: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads != 0:
            raise ValueError(f"dim must be divisible by heads, got dim={dim}, heads={heads}")
        self.heads = heads
        self.scale = (dim // heads) ** -0.5  # 1/sqrt(d_z) of Eq. (3.4), d_z the head width
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(dropout)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, *, return_attention: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        q, k, v = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.heads)
        scores = torch.einsum("bhid,bhjd->bhij", q, k) * self.scale  # e_ij, Eq. (3.4): (B, heads, N, N)
        attention = scores.softmax(dim=-1)  # a_ij, Eq. (3.3)
        out = torch.einsum("bhij,bhjd->bhid", self.attn_drop(attention), v)  # z_i, Eq. (3.2)
        out = self.proj_drop(self.proj(rearrange(out, "b h n d -> b n (h d)")))
        return out, (attention if return_attention else None)


class EncoderBlock(nn.Module):
    """Transformer encoder layer with a pluggable self-attention module (thesis §3.2.2, §4.3.1 2)-4)).

    ``attention`` is any module with ``forward(x, *, return_attention, **kwargs) -> (out, attention | None)``
    (``MultiheadSelfAttention``, ``RelativePositionAttention``); extra keyword arguments of ``forward`` go to it.
    Pre-norm (``norm_first=True``, ViT/ViViT): ``x + Attn(LN(x))`` then ``x + FFN(LN(x))``; post-norm (Eq. (4.1)-
    (4.2)): ``LN(x + Attn(x))`` then ``LN(x + FFN(x))``. FFN = Linear → GELU → Linear, Eq. (4.4).

    The two sub-layers are exposed (``attention_sublayer``, ``mlp_sublayer``) so that token subsampling driven by the
    attention matrix (Top-K, Eq. (3.12)) can act between them; the MLP sub-layer is token-wise, so subsampling
    before it equals subsampling the block's output.
    """

    def __init__(
        self,
        dim: int,
        attention: nn.Module,
        *,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        norm_first: bool = True,
    ) -> None:
        super().__init__()
        if mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio must be > 0, got {mlp_ratio!r}")
        self.norm_first = norm_first
        self.norm1 = nn.LayerNorm(dim)
        self.attn = attention
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, max(1, math.floor(dim * mlp_ratio)), dropout=dropout)

    def attention_sublayer(
        self, x: torch.Tensor, *, return_attention: bool = False, **attention_kwargs: object
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(B, N, D) -> (B, N, D)`` after the attention sub-layer (with its residual), and the attention map."""
        if self.norm_first:
            out, attention = self.attn(self.norm1(x), return_attention=return_attention, **attention_kwargs)
            return x + out, attention
        out, attention = self.attn(x, return_attention=return_attention, **attention_kwargs)
        return self.norm1(x + out), attention

    def mlp_sublayer(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N, D) -> (B, N, D)`` through the feed-forward sub-layer (with its residual), token-wise."""
        if self.norm_first:
            return x + self.mlp(self.norm2(x))
        return self.norm2(x + self.mlp(x))

    def forward(self, x: torch.Tensor, **attention_kwargs: object) -> torch.Tensor:
        x, _ = self.attention_sublayer(x, **attention_kwargs)
        return self.mlp_sublayer(x)


def init_vit_weights(module: nn.Module) -> None:
    """ViT initialisation for ``module.apply``: Linear weights truncated normal (std 0.02) with zero bias,
    LayerNorm weight 1 and bias 0; convolutions keep PyTorch's default (ViT's patch projection is LeCun-like)."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
