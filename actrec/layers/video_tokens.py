"""CTN's video-to-tokens module and a plain tubelet embedding (thesis §4.3.1 1), §4.3.3 Eq. (4.5), §4.3.5 Eq. (4.7)-
(4.8), §4.4.1, Tables 4.3-4.4).

* ``VideoStem``: the lightweight convolutional stem of Eq. (4.5), ``Z' = 3D-MaxPool(BN(3D-Conv(z)))``:
  ``(B, C, T, H, W) -> (B, C', T', H', W')``. The conv kernel / stride / channels C', the BatchNorm3d and the
  MaxPool3d (kernel, stride) are all switchable, as in the rows of Table 4.4 (paper: Conv3d 7×7×7 stride 2, 32
  channels, BN, MaxPool3d 3×3×3 stride 2, i.e. the overall stride s = 4 of §4.3.3).
* ``PatchTokens``: the patching of the stem output ("the final operation is equivalent to utilizing a convolution to
  split the tubelets. The kernel size and stride are the same", Eq. (4.8)): a Conv3d with kernel = stride = patch
  (paper: 4×4×2, i.e. ``(t, h, w) = (2, 4, 4)``) mapping each patch of the feature map to a token of width ``dim``:
  ``(B, C', T', H', W') -> (B, n_T·n_H·n_W, dim)``.
* ``VideoToTokens``: ``VideoStem`` then ``PatchTokens`` (Fig. 4.2 (a)).
The "Tube. embedding" rows of Table 4.3 (ViViT's tubelets, §4.3.1) use ``actrec.layers.vit.TubeletEmbedding``.

All of them expose ``grid(T, H, W) -> (n_T, n_H, n_W)``, the token grid of a ``T × H × W`` clip computed from the
layer arithmetic; tokens are flattened in (t, h, w) row-major order. Sizes are ``(t, h, w)``, the order of PyTorch's
``(B, C, T, H, W)`` layout (the thesis writes them h × w × t: "4 × 4 × 2", "16 × 16 × 2").

Choices the thesis leaves open, and the choice made here:

* **Padding**: not given. The stem convolution and the max-pool are padded by ``kernel // 2`` on every axis (the
  usual "same"-style padding of ResNet/I3D stems), so each halves a size n to ``ceil(n / 2)`` at stride 2 and the
  paper stem maps 8 × 224² to 2 × 56² — the ``T/s × H/s × W/s`` of §4.3.3 with s = 4.
* **Strides apply to time too**: §4.3.3 writes the stem output as ``T/s × H/s × W/s`` with s = 4, so the paper stem
  strides time as well; with the 4×4×2 patches an 8-frame clip gives a 1 × 14 × 14 token grid. A ``(t, h, w)``
  stride such as ``(1, 2, 2)`` keeps the frames.
* **No activation in the stem**: Eq. (4.5) has none between the BN and the max-pool (the max-pool is the only
  non-linearity); none is added.
* **Biases**: the stem conv has a bias only without BN (BN's shift makes it redundant); patch and tubelet
  projections have biases (as ViT/ViViT's).
* **Sizes that do not tile**: when the stem output (or the clip, for tubelets) is not a multiple of the patch size
  along an axis, ``grid`` and ``forward`` raise ValueError naming the axis and both sizes; nothing is cropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from einops import rearrange
from torch import nn

AXES = ("T", "H", "W")


def as_triple(value: int | Sequence[int], name: str) -> tuple[int, int, int]:
    """``value`` as ``(t, h, w)``: an int >= 1 for all three axes, or three ints >= 1; ValueError naming ``name``."""
    if isinstance(value, int) and not isinstance(value, bool):
        sizes: tuple[int, ...] = (value, value, value)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        sizes = tuple(value)
    else:
        raise ValueError(f"{name} must be an int >= 1 or 3 ints (t, h, w) >= 1, got {value!r}")
    if len(sizes) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise ValueError(f"{name} must be an int >= 1 or 3 ints (t, h, w) >= 1, got {value!r}")
    return sizes  # type: ignore[return-value]


def _sliding_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution / pooling window along one axis (PyTorch's floor formula)."""
    return (size + 2 * padding - kernel) // stride + 1


def _check_tiles(sizes: Sequence[int], patch: Sequence[int], what: str) -> tuple[int, int, int]:
    for size, step, axis in zip(sizes, patch, AXES, strict=True):
        if size % step != 0:
            raise ValueError(
                f"{what}: {axis} = {size} is not a multiple of the {what} size {step} along {axis} "
                f"(sizes {'x'.join(map(str, sizes))}, {what} {'x'.join(map(str, patch))})"
            )
    return tuple(size // step for size, step in zip(sizes, patch, strict=True))  # type: ignore[return-value]


def stem_output_size(
    sizes: Sequence[int],
    *,
    kernel_size: int | Sequence[int] = 7,
    stride: int | Sequence[int] = 2,
    max_pool: bool = True,
    pool_kernel_size: int | Sequence[int] = 3,
    pool_stride: int | Sequence[int] = 2,
) -> tuple[int, int, int]:
    """``(T', H', W')`` of the ``VideoStem`` output for a clip of ``sizes = (T, H, W)`` (padding ``kernel // 2``);
    ValueError naming the axis when a size collapses to 0."""
    kernel, step = as_triple(kernel_size, "kernel_size"), as_triple(stride, "stride")
    pool_kernel, pool_step = as_triple(pool_kernel_size, "pool_kernel_size"), as_triple(pool_stride, "pool_stride")
    out = []
    for axis, size, k, s, pk, ps in zip(AXES, sizes, kernel, step, pool_kernel, pool_step, strict=True):
        n = _sliding_size(int(size), k, s, k // 2)
        if max_pool and n >= 1:
            n = _sliding_size(n, pk, ps, pk // 2)
        if n < 1:
            raise ValueError(f"video-to-tokens stem: input {axis} = {size} is too small for the stem")
        out.append(n)
    return tuple(out)  # type: ignore[return-value]


def token_grid(sizes: Sequence[int], patch_size: int | Sequence[int], what: str = "patch") -> tuple[int, int, int]:
    """``(n_T, n_H, n_W)`` of non-overlapping ``patch_size`` patches of a ``(T, H, W)`` map; ValueError naming the
    axis when a size is not a multiple of the patch."""
    return _check_tiles(tuple(int(s) for s in sizes), as_triple(patch_size, f"{what}_size"), what)


class VideoStem(nn.Module):
    """Video-to-tokens feature extractor, thesis §4.3.3 Eq. (4.5): ``MaxPool3d(BN(Conv3d(z)))``.

    ``forward(x)``: ``(B, in_channels, T, H, W) -> (B, channels, T', H', W')``; ``output_size(T, H, W)`` gives
    ``(T', H', W')``. ``batch_norm`` / ``max_pool`` switch the BatchNorm3d and MaxPool3d off (Table 4.4).
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        *,
        kernel_size: int | Sequence[int] = 7,
        stride: int | Sequence[int] = 2,
        batch_norm: bool = True,
        max_pool: bool = True,
        pool_kernel_size: int | Sequence[int] = 3,
        pool_stride: int | Sequence[int] = 2,
    ) -> None:
        super().__init__()
        self.kernel_size = as_triple(kernel_size, "kernel_size")
        self.stride = as_triple(stride, "stride")
        self.pool_kernel_size = as_triple(pool_kernel_size, "pool_kernel_size")
        self.pool_stride = as_triple(pool_stride, "pool_stride")
        self.padding = tuple(k // 2 for k in self.kernel_size)
        self.pool_padding = tuple(k // 2 for k in self.pool_kernel_size)
        self.conv = nn.Conv3d(
            in_channels, channels, self.kernel_size, stride=self.stride, padding=self.padding, bias=not batch_norm
        )
        self.norm = nn.BatchNorm3d(channels) if batch_norm else None
        self.pool = (
            nn.MaxPool3d(self.pool_kernel_size, stride=self.pool_stride, padding=self.pool_padding)
            if max_pool
            else None
        )

    def output_size(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """``(T', H', W')`` of the stem output for a ``T × H × W`` clip (``stem_output_size``)."""
        return stem_output_size(
            (frames, height, width),
            kernel_size=self.kernel_size,
            stride=self.stride,
            max_pool=self.pool is not None,
            pool_kernel_size=self.pool_kernel_size,
            pool_stride=self.pool_stride,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise ValueError(f"VideoStem expects (B, C, T, H, W), got {tuple(x.shape)}")
        self.output_size(*(int(s) for s in x.shape[2:]))
        x = self.conv(x)  # (B, C', T/s_c, H/s_c, W/s_c)
        if self.norm is not None:
            x = self.norm(x)
        if self.pool is not None:
            x = self.pool(x)  # (B, C', T', H', W')
        return x


class PatchTokens(nn.Module):
    """Patching of a feature map into tokens (Eq. (4.8)): a Conv3d with kernel = stride = ``patch_size``.

    ``forward(x)``: ``(B, in_channels, T', H', W') -> (B, n_T·n_H·n_W, dim)``; ``grid(T', H', W')`` gives
    ``(n_T, n_H, n_W)`` (ValueError when a size is not a multiple of the patch).
    """

    def __init__(self, in_channels: int, dim: int, patch_size: int | Sequence[int], *, what: str = "patch") -> None:
        super().__init__()
        self.patch_size = as_triple(patch_size, f"{what}_size")
        self.what = what
        self.proj = nn.Conv3d(in_channels, dim, kernel_size=self.patch_size, stride=self.patch_size)

    def grid(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        return token_grid((frames, height, width), self.patch_size, self.what)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise ValueError(f"PatchTokens expects (B, C, T, H, W), got {tuple(x.shape)}")
        self.grid(*(int(s) for s in x.shape[2:]))
        tokens = self.proj(x)  # (B, dim, n_T, n_H, n_W)
        return rearrange(tokens, "b d nt nh nw -> b (nt nh nw) d")


class VideoToTokens(nn.Module):
    """CTN's video-to-tokens module (§4.3.3, Fig. 4.2 (a)): ``VideoStem`` (Eq. (4.5)) then ``PatchTokens``.

    ``forward(x)``: ``(B, in_channels, T, H, W) -> (B, n_T·n_H·n_W, dim)``; ``grid(T, H, W)`` gives the token grid
    ``(n_T, n_H, n_W)`` of a clip (paper: 8 × 224² → stem 2 × 56² → 1 × 14 × 14 tokens). Stem arguments as
    ``VideoStem``; ``channels`` is C', the "enriched channels" (32).
    """

    def __init__(
        self,
        in_channels: int,
        dim: int,
        *,
        channels: int = 32,
        kernel_size: int | Sequence[int] = 7,
        stride: int | Sequence[int] = 2,
        batch_norm: bool = True,
        max_pool: bool = True,
        pool_kernel_size: int | Sequence[int] = 3,
        pool_stride: int | Sequence[int] = 2,
        patch_size: int | Sequence[int] = (2, 4, 4),
    ) -> None:
        super().__init__()
        self.stem = VideoStem(
            in_channels,
            channels,
            kernel_size=kernel_size,
            stride=stride,
            batch_norm=batch_norm,
            max_pool=max_pool,
            pool_kernel_size=pool_kernel_size,
            pool_stride=pool_stride,
        )
        self.patch = PatchTokens(channels, dim, patch_size, what="patch")

    def grid(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        try:
            return self.patch.grid(*self.stem.output_size(frames, height, width))
        except ValueError as error:
            raise ValueError(f"video-to-tokens on a {frames}x{height}x{width} clip: {error}") from None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise ValueError(f"VideoToTokens expects (B, C, T, H, W), got {tuple(x.shape)}")
        self.grid(*(int(s) for s in x.shape[2:]))
        return self.patch(self.stem(x))  # (B, N, dim)
