"""3D Central Difference Convolution (3D-CDC), MFST paper §III-C, Eq. (3)-(6); originally Yu et al. [28].

Two variants are provided through ``CDCConv3d(mode=...)``:

* ``"ST"`` (3D-CDC-ST, Eq. (5)): ``θ·y_CDC-ST + (1-θ)·y_3D``. Expanding Eq. (4),
  ``y_CDC-ST(p0) = y_3D(p0) - x(p0)·Σ_{p_n∈Z} w(p_n)``, so Eq. (5) is ``y_3D(p0) - θ·x(p0)·Σ_{p_n∈Z} w(p_n)``.
* ``"T"`` (3D-CDC-T, Eq. (6)): ``y_3D(p0) - θ·x(p0)·Σ_{p_n∈T''} w(p_n)`` where ``T''`` is the part of the kernel in
  "the adjacent time steps" (§III-C). Which temporal slices of a ``k_t``-frame kernel that is, is ``temporal_reading``:

  - ``"non_centre"`` (default): every slice except the centre one, i.e. ``Z`` minus ``T'`` (the current time step).
    §III-C splits the cube into exactly two regions, ``T'`` and ``T''``, so ``T''`` is everything that is not ``T'``.
  - ``"neighbours"``: only the centre's two neighbours, slices ``k_t//2 ± 1`` (frames t±1, "adjacent" read narrowly).
  - ``"released"``: slices 0 and 2, literally, whatever ``k_t`` is, as the released 3D-CDC-T code does (it was
    written for 3-frame kernels; for ``k_t = 7`` these are frames t-3 and t-1, for ``k_t = 5`` frame t-2 and the
    centre frame itself). Only the choice of slices is taken from it; ``x(p0)`` is the centre tap's input as for the
    other readings.

  For ``k_t = 3`` all three are slices {0, 2} and give the same layer; for ``k_t = 1`` ``T''`` is empty under all
  three (vanilla Conv3d). They differ only for kernels longer than 3 frames, e.g. MFST's 7×7×7 stem conv.

``x(p0)`` is the input value under the centre tap of the kernel: for output index ``o`` along a dimension with kernel
``k``, stride ``s`` and padding ``p`` it is input index ``o·s - p + k//2`` (zero where that falls in the padding).
Because that is exactly the sample the kernel's centre tap reads, the central-difference term is folded into the
centre tap: ``w_eff = w`` with ``w_eff[:, :, ct, ch, cw] -= θ·Σ w(p_n)``, and the layer is one ``conv3d`` with
``w_eff``. This equals ``conv3d(x, w) - θ·conv1x1x1(x(p0), Σw)`` for every stride and padding, at the cost of a single
convolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import reduce
from torch import nn

CDC_MODES = ("ST", "T")
# Which temporal slices of the kernel form T'' of Eq. (6) in mode "T"; the first is the default (module docstring).
TEMPORAL_READINGS = ("non_centre", "neighbours", "released")


def _triple(value: int | tuple[int, int, int], name: str) -> tuple[int, int, int]:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an int or a 3-tuple of ints, got {value!r}")
    if isinstance(value, int):
        return (value, value, value)
    if isinstance(value, tuple | list) and len(value) == 3 and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]), int(value[2]))
    raise ValueError(f"{name} must be an int or a 3-tuple of ints, got {value!r}")


class CDCConv3d(nn.Module):
    """3D Central Difference Convolution, MFST §III-C Eq. (4)-(6).

    Args:
        in_channels: input channels C_in.
        out_channels: output channels C_out.
        kernel_size: odd kernel size, int or (k_t, k_h, k_w).
        stride: int or 3-tuple.
        padding: zero padding, int or 3-tuple (any value ≥ 0; need not be ``k//2``).
        bias: add a learnable bias (as ``nn.Conv3d``).
        theta: θ ∈ [0, 1], trade-off between intensity-level (θ=0, vanilla Conv3d) and gradient-level information.
        mode: ``"ST"`` (Eq. (5), spatio-temporal central difference) or ``"T"`` (Eq. (6), temporal only).
        temporal_reading: which temporal slices of the kernel form ``T''`` of Eq. (6) in mode ``"T"``:
            ``"non_centre"`` (default: every slice but the centre, the paper's split of ``Z`` into ``T'`` and
            ``T''``), ``"neighbours"`` (slices ``k_t//2 ± 1``) or ``"released"`` (slices 0 and 2, as the released
            3-frame CDC-T code). Identical for ``k_t <= 3``. Mode ``"ST"`` sums all of ``Z`` and has no ``T''``, so
            any other value than the default is refused there with a ValueError.

    Input ``(B, C_in, T, H, W)``; output ``(B, C_out, T', H', W')`` with the same sizes as ``nn.Conv3d``.
    ``self.weight`` has ``nn.Conv3d``'s shape ``(C_out, C_in, k_t, k_h, k_w)`` and initialisation.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int, int],
        stride: int | tuple[int, int, int] = 1,
        padding: int | tuple[int, int, int] = 0,
        bias: bool = False,
        theta: float = 0.6,
        mode: str = "ST",
        temporal_reading: str = "non_centre",
    ) -> None:
        super().__init__()
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be an int >= 1, got {in_channels!r}")
        if not isinstance(out_channels, int) or out_channels < 1:
            raise ValueError(f"out_channels must be an int >= 1, got {out_channels!r}")
        self.kernel_size = _triple(kernel_size, "kernel_size")
        self.stride = _triple(stride, "stride")
        self.padding = _triple(padding, "padding")
        if any(k < 1 or k % 2 == 0 for k in self.kernel_size):
            raise ValueError(
                f"kernel_size must be odd and >= 1 (the centre x(p0) is undefined otherwise), got {kernel_size!r}"
            )
        if any(s < 1 for s in self.stride):
            raise ValueError(f"stride must be >= 1, got {stride!r}")
        if any(p < 0 for p in self.padding):
            raise ValueError(f"padding must be >= 0, got {padding!r}")
        if isinstance(theta, bool) or not isinstance(theta, int | float) or not 0.0 <= float(theta) <= 1.0:
            raise ValueError(f"theta must be in [0, 1], got {theta!r}")
        if mode not in CDC_MODES:
            raise ValueError(f"mode must be one of {CDC_MODES}, got {mode!r}")
        if temporal_reading not in TEMPORAL_READINGS:
            raise ValueError(f"temporal_reading must be one of {TEMPORAL_READINGS}, got {temporal_reading!r}")
        if mode != "T" and temporal_reading != TEMPORAL_READINGS[0]:
            raise ValueError(
                f"temporal_reading={temporal_reading!r} only applies to mode 'T' (Eq. (6)); mode {mode!r} has no T''"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.theta = float(theta)
        self.mode = mode
        self.temporal_reading = temporal_reading
        # Reuse nn.Conv3d's parameter shapes and default (Kaiming-uniform) initialisation.
        reference = nn.Conv3d(in_channels, out_channels, self.kernel_size, bias=bias)
        self.weight = nn.Parameter(reference.weight.detach().clone())
        self.bias = nn.Parameter(reference.bias.detach().clone()) if bias else None

    def temporal_slices(self) -> tuple[int, ...]:
        """Indices along the kernel's temporal axis that form T'' of Eq. (6) under ``temporal_reading``."""
        k_t = self.kernel_size[0]
        centre_t = k_t // 2
        if k_t == 1:
            return ()  # a single frame: no adjacent time steps under any reading
        if self.temporal_reading == "neighbours":
            return (centre_t - 1, centre_t + 1)
        if self.temporal_reading == "released":
            return (0, 2)
        return tuple(t for t in range(k_t) if t != centre_t)

    def central_difference_kernel(self) -> torch.Tensor:
        """Σ w(p_n) over Z ("ST") or over T'' ("T", slices ``temporal_slices()``), shape (C_out, C_in)."""
        if self.mode == "ST":
            return reduce(self.weight, "o i t h w -> o i", "sum")
        if self.temporal_reading == "non_centre":
            # The slices before and after the centre, summed as two blocks (bit-identical to the layer before
            # temporal_reading existed); both empty when k_t == 1.
            centre_t = self.kernel_size[0] // 2
            before = reduce(self.weight[:, :, :centre_t], "o i t h w -> o i", "sum")
            after = reduce(self.weight[:, :, centre_t + 1 :], "o i t h w -> o i", "sum")
            return before + after
        # (C_out, C_in, |T''|, k_h, k_w) -> (C_out, C_in); all zeros when T'' is empty (k_t == 1).
        return reduce(self.weight[:, :, list(self.temporal_slices())], "o i t h w -> o i", "sum")

    def effective_weight(self) -> torch.Tensor:
        """Kernel with the central-difference term folded into the centre tap, shape like ``self.weight``."""
        if self.theta == 0.0:
            return self.weight
        ct, ch, cw = (k // 2 for k in self.kernel_size)
        weight = self.weight.clone()
        weight[:, :, ct, ch, cw] = weight[:, :, ct, ch, cw] - self.theta * self.central_difference_kernel()
        return weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C_in, T, H, W) -> (B, C_out, T', H', W'); Eq. (5) for "ST", Eq. (6) for "T".
        return F.conv3d(x, self.effective_weight(), self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, bias={self.bias is not None}, theta={self.theta}, mode={self.mode!r}"
            + (f", temporal_reading={self.temporal_reading!r}" if self.mode == "T" else "")
        )
