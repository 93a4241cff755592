"""Relative-position embeddings on the query, thesis §3.3.3, Eq. (3.7)-(3.11) (RPE-STDT, Ma & Wang 2024).

Self-attention with relative positions interacting with the query, Eq. (3.7)::

    e_ij = ((x_i W^Q)(x_j W^K)^T + (x_i W^Q) p_ij^T) / sqrt(d_z),      p_ij = B[D(i, j)]

where ``B`` is a trainable table of clusters (one row of width d_z per cluster) and ``D(i, j)`` maps the relative
position of tokens i and j to a cluster index by a many-to-one mapping function:

* ``clip_bucket`` — the clip function of Shaw et al. quoted in §3.3.3, ``clip(x, k) = max(-k, min(k, x))`` on the
  rounded distance, here with ``k = y`` so both functions give the same cluster count (Table 3.2 compares them at
  the same 50 clusters).
* ``sectioned_bucket`` — the sectioned function, Eq. (3.8)-(3.9): ``s(x) = [x]`` for ``|x| <= b``, otherwise
  ``sign(x) · min(y, [b + ln(|x|/b) / ln(a/b) · (y - b)])``; ``[·]`` rounds, ``b`` is the partition point, ``a``
  the curvature, ``y`` the output range ``[-y, y]``. The thesis sets ``b : y : a = 1 : 2 : 8`` (§3.4.2).

Cluster indices for tokens on a frame's patch grid (``spatial_bucket_index``, Eq. (3.10)-(3.11)) or on the time
axis (``temporal_bucket_index``), with one extra cluster for every pair that involves the class token ("an extra
block is utilized to hold the relative-position embeddings of the extra class token", §3.4.2).
``RelativePositionAttention`` is the multi-head attention of Eq. (3.7) with the table shared across heads (one
``(clusters, d_z)`` table, Table 3.1 "shared RPE") or one table per head ("unshared RPE").

Choices the thesis leaves open (or states inconsistently), and the choice made here:

* **Distance → clusters** (Eq. (3.10) vs Eq. (3.11)): Eq. (3.10) maps the Euclidean distance
  ``sqrt(Δx² + Δy²)`` through ``s``, which gives one non-negative index (``y + 1`` clusters), while Eq. (3.11)
  indexes the table by two indices ``D^x̃(i, j), D^ỹ(i, j)`` and the text fixes the count at ``(2y + 1)²`` (with
  the class-token cluster, ``(2·3 + 1)² + 1 = 50`` — the "50 clusters per frame" of Tables 3.1-3.2 at ``y = 3``).
  The default ``distance="axis"`` follows Eq. (3.11) and the stated count: ``D^x̃ = s(x̃_i - x̃_j)`` and
  ``D^ỹ = s(ỹ_i - ỹ_j)``, Eq. (3.10) evaluated along each axis (the signed one-dimensional Euclidean distance),
  cluster ``(D^ỹ + y)(2y + 1) + (D^x̃ + y)``. ``distance="euclidean"`` is Eq. (3.10) literally: cluster
  ``s(sqrt(Δx² + Δy²))`` in ``0..y`` (``y + 1`` clusters, plus the class-token one). Patch coordinates are the
  integer grid indices (units of one patch).
* **Rounding** ``[·]``: half away from zero (``[2.5] = 3``, ``[-2.5] = -3``), computed in float64; ``min(y, ·)``
  is applied after rounding, as Eq. (3.9) writes. ``b``, ``a`` are real (``b = y/2``, ``a = 4y`` at 1:2:8), ``y``
  an int (it sets the integer cluster count).
* **Time axis**: "the relative-position embedding is adopted into all self-attention layers" (§3.4.2), so the
  temporal encoder uses the 1D form, ``D(i, j) = s(t_i - t_j)`` over frame indices (``2y + 1`` clusters, or
  ``y + 1`` with ``distance="euclidean"``, plus the class-token cluster). Frame positions are carried through the
  temporal subsampling (kept frames keep their index; pooled frames get the mean index of their window).
* **Class-token cluster**: every pair with the class token as query or key (including class-to-class) uses the one
  extra cluster, the last index.
* **Table initialisation**: truncated normal, std 0.02 (as ViT's other learned embeddings).
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn

MAPPINGS = ("sectioned", "clip")
DISTANCES = ("axis", "euclidean")
SECTIONED_RATIO = (1.0, 2.0, 8.0)  # b : y : a of the sectioned function, §3.4.2


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def clip_bucket(x: torch.Tensor, y: int) -> torch.Tensor:
    """Clip mapping of Shaw et al. (§3.3.3): ``max(-y, min(y, [x]))`` as int64, elementwise."""
    if not isinstance(y, int) or isinstance(y, bool) or y < 0:
        raise ValueError(f"y must be an int >= 0, got {y!r}")
    return _round_half_away(x.to(torch.float64)).clamp(-y, y).to(torch.int64)


def sectioned_bucket(x: torch.Tensor, *, b: float, y: int, a: float) -> torch.Tensor:
    """Sectioned mapping s(x), Eq. (3.8)-(3.9), as int64, elementwise.

    ``[x]`` for ``|x| <= b``; ``sign(x) · min(y, [b + ln(|x|/b) / ln(a/b) · (y - b)])`` for ``|x| > b``. Requires
    ``0 < b <= y`` and ``a > b``; the output lies in ``[-y, y]`` and ``s(-x) = -s(x)``.
    """
    if not isinstance(y, int) or isinstance(y, bool) or y < 1:
        raise ValueError(f"y must be an int >= 1, got {y!r}")
    if not 0 < b <= y:
        raise ValueError(f"b must be in (0, y = {y}], got {b!r}")
    if not a > b:
        raise ValueError(f"a must be > b = {b}, got {a!r}")
    x = x.to(torch.float64)
    magnitude = x.abs()
    outer = b + torch.log(magnitude.clamp(min=b) / b) / math.log(a / b) * (y - b)  # Eq. (3.9) inside [·]
    outer = torch.sign(x) * _round_half_away(outer).clamp(max=y)
    inner = _round_half_away(x)  # Eq. (3.8)
    return torch.where(magnitude <= b, inner, outer).to(torch.int64)


def sectioned_parameters(y: int, ratio: tuple[float, float, float] = SECTIONED_RATIO) -> tuple[float, float]:
    """``(b, a)`` of the sectioned function for output range ``y`` and ratio ``b : y : a`` (default 1 : 2 : 8)."""
    rb, ry, ra = ratio
    return y * rb / ry, y * ra / ry


def map_distance(
    x: torch.Tensor, *, mapping: str, y: int, ratio: tuple[float, float, float] = SECTIONED_RATIO
) -> torch.Tensor:
    """Apply mapping ``"sectioned"`` (Eq. (3.8)-(3.9), ``b, a`` from ``ratio`` and ``y``) or ``"clip"`` to ``x``."""
    if mapping == "sectioned":
        b, a = sectioned_parameters(y, ratio)
        return sectioned_bucket(x, b=b, y=y, a=a)
    if mapping == "clip":
        return clip_bucket(x, y)
    raise ValueError(f"mapping must be one of {MAPPINGS}, got {mapping!r}")


def num_clusters(y: int, *, axes: int, distance: str = "axis", class_token: bool = True) -> int:
    """Size of the relative-position table: ``(2y + 1)^axes`` clusters (``distance="axis"``) or ``y + 1``
    (``"euclidean"``), plus one for the class token. 2D with ``y = 3``: 49 + 1 = 50."""
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    per_axis = 2 * y + 1
    clusters = per_axis**axes if distance == "axis" else y + 1
    return clusters + int(class_token)


def _with_class_token(index: torch.Tensor, cls_cluster: int, prefix_tokens: int) -> torch.Tensor:
    # index (..., N, N) -> (..., P + N, P + N) with every pair involving a prefix (class) token in `cls_cluster`.
    if prefix_tokens == 0:
        return index
    *lead, n, _ = index.shape
    full = torch.full(
        (*lead, prefix_tokens + n, prefix_tokens + n), cls_cluster, dtype=index.dtype, device=index.device
    )
    full[..., prefix_tokens:, prefix_tokens:] = index
    return full


def spatial_bucket_index(
    grid_h: int,
    grid_w: int,
    *,
    mapping: str = "sectioned",
    y: int = 3,
    ratio: tuple[float, float, float] = SECTIONED_RATIO,
    distance: str = "axis",
    prefix_tokens: int = 1,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Cluster index D(i, j) of Eq. (3.10)-(3.11) for the patches of a ``grid_h × grid_w`` frame (row-major order),
    the ``prefix_tokens`` class tokens first: int64 ``(P + N, P + N)`` with values in ``[0, num_clusters)``."""
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    rows = torch.arange(grid_h, device=device, dtype=torch.float64)
    cols = torch.arange(grid_w, device=device, dtype=torch.float64)
    coords = torch.stack(torch.meshgrid(rows, cols, indexing="ij"), dim=-1)  # (gh, gw, 2) as (ỹ, x̃)
    coords = rearrange(coords, "gh gw two -> (gh gw) two")
    delta = rearrange(coords, "i two -> i 1 two") - rearrange(coords, "j two -> 1 j two")  # (N, N, 2): p_i - p_j
    if distance == "axis":
        per_axis = map_distance(delta, mapping=mapping, y=y, ratio=ratio) + y  # (N, N, 2) in [0, 2y]
        index = per_axis[..., 0] * (2 * y + 1) + per_axis[..., 1]
    else:
        index = map_distance(delta.square().sum(-1).sqrt(), mapping=mapping, y=y, ratio=ratio)  # in [0, y]
    cls_cluster = num_clusters(y, axes=2, distance=distance, class_token=False)
    return _with_class_token(index, cls_cluster, prefix_tokens)


def temporal_bucket_index(
    positions: torch.Tensor,
    *,
    mapping: str = "sectioned",
    y: int = 3,
    ratio: tuple[float, float, float] = SECTIONED_RATIO,
    distance: str = "axis",
    prefix_tokens: int = 1,
) -> torch.Tensor:
    """1D cluster index ``s(t_i - t_j)`` for frames at (possibly fractional) indices ``positions`` ``(B, T)``,
    class tokens first: int64 ``(B, P + T, P + T)`` with values in ``[0, num_clusters(y, axes=1))``."""
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    positions = positions.to(torch.float64)
    delta = rearrange(positions, "b i -> b i 1") - rearrange(positions, "b j -> b 1 j")  # (B, T, T)
    if distance == "axis":
        index = map_distance(delta, mapping=mapping, y=y, ratio=ratio) + y  # [0, 2y]
    else:
        index = map_distance(delta.abs(), mapping=mapping, y=y, ratio=ratio)  # [0, y]
    cls_cluster = num_clusters(y, axes=1, distance=distance, class_token=False)
    return _with_class_token(index, cls_cluster, prefix_tokens)


def relative_position_logits(q: torch.Tensor, table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """The query-position term ``(x_i W^Q) p_ij^T`` of Eq. (3.7), unscaled.

    ``q`` ``(B, H, N, d)``; ``table`` ``(H or 1, clusters, d)`` (1: shared across heads); ``index`` ``(N, N)`` or
    ``(B, N, N)`` cluster ids. Computes ``q · B[c]`` once per cluster then gathers: ``(B, H, N, N)``.
    """
    if table.shape[0] == 1:
        per_cluster = torch.einsum("bhnd,kd->bhnk", q, table[0])  # (B, H, N, clusters)
    else:
        per_cluster = torch.einsum("bhnd,hkd->bhnk", q, table)
    batch, heads, n, _ = q.shape
    if index.ndim == 2:
        index = rearrange(index, "i j -> 1 1 i j")
    else:
        index = rearrange(index, "b i j -> b 1 i j")
    return per_cluster.gather(-1, index.expand(batch, heads, n, n))  # broadcast view, no copy


class RelativePositionAttention(nn.Module):
    """Multi-head self-attention with relative-position embeddings on the query, Eq. (3.7).

    Args:
        dim: token width (divisible by ``heads``); d_z = dim / heads is the head width.
        heads: attention heads.
        clusters: rows of the relative-position table B (``num_clusters(...)``).
        shared_heads: one table for all heads (shared RPE) or one per head (unshared RPE), Table 3.1.
        qkv_bias: bias in the query/key/value projection.
        dropout: dropout on the attention weights and the output projection.

    ``forward(x, *, relative_index, return_attention=False)``: ``(B, N, D) -> (B, N, D)`` and the softmax attention
    ``(B, heads, N, N)`` when asked (else ``None``); ``relative_index`` ``(N, N)`` or ``(B, N, N)`` int64 clusters.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        clusters: int,
        *,
        shared_heads: bool = True,
        qkv_bias: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % heads != 0:
            raise ValueError(f"dim must be divisible by heads, got dim={dim}, heads={heads}")
        if clusters < 1:
            raise ValueError(f"clusters must be >= 1, got {clusters!r}")
        self.heads = heads
        self.clusters = clusters
        self.shared_heads = shared_heads
        head_dim = dim // heads
        self.scale = head_dim**-0.5  # 1/sqrt(d_z) of Eq. (3.7)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.relative_table = nn.Parameter(torch.zeros(1 if shared_heads else heads, clusters, head_dim))  # B
        nn.init.trunc_normal_(self.relative_table, std=0.02)
        self.attn_drop = nn.Dropout(dropout)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, *, relative_index: torch.Tensor, return_attention: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        n = x.shape[1]
        if relative_index.shape[-2:] != (n, n):
            raise ValueError(
                f"relative_index must be (N, N) or (B, N, N) for N = {n}, got {tuple(relative_index.shape)}"
            )
        q, k, v = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.heads)
        content = torch.einsum("bhid,bhjd->bhij", q, k)  # (x_i W^Q)(x_j W^K)^T: (B, heads, N, N)
        position = relative_position_logits(q, self.relative_table, relative_index)  # (x_i W^Q) p_ij^T
        attention = ((content + position) * self.scale).softmax(dim=-1)  # Eq. (3.7), then Eq. (3.3)
        out = torch.einsum("bhij,bhjd->bhid", self.attn_drop(attention), v)  # Eq. (3.2)
        out = self.proj_drop(self.proj(rearrange(out, "b h n d -> b n (h d)")))
        return out, (attention if return_attention else None)
