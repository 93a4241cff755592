"""Inception modules whose every kernel acts along one axis only: space-centric (MFST §III-D1 Eq. (7),
``InC_{1×k×k}``) and time-centric (De+Recouple §3.1.2 Eq. (8), ``C_{T-Inc}``).

Both share the GoogLeNet / I3D Inception layout (``_Inception``): one branch per ``k`` in ``kernel_sizes``
(``k == 1``: a 1-conv; ``k > 1``: a 1-conv reduction then a k-conv, both to the branch width) plus a pooling branch
(max-pool 3, stride 1, then a 1-conv projection); BatchNorm + ReLU after every conv. With ``n = len(kernel_sizes) + 1``
branches each gets ``out_channels // n`` channels and the first also takes the remainder, so the concatenation has
exactly ``out_channels`` channels.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def spatial_conv_bn_relu(in_channels: int, out_channels: int, spatial_kernel: int, stride: int = 1) -> nn.Sequential:
    """1×k×k convolution (temporal kernel 1: space-centric), "same" spatial padding, spatial stride, BN + ReLU."""
    return nn.Sequential(
        nn.Conv3d(
            in_channels,
            out_channels,
            kernel_size=(1, spatial_kernel, spatial_kernel),
            stride=(1, stride, stride),
            padding=(0, spatial_kernel // 2, spatial_kernel // 2),
            bias=False,
        ),
        nn.BatchNorm3d(out_channels),
        nn.ReLU(inplace=True),
    )


def _temporal_conv_bn_relu(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    # Temporal k-conv ("same" padding), i.e. a k×1×1 Conv3d on 1×1 maps, computed as a Conv1d; BN + ReLU.
    return nn.Sequential(
        nn.Conv1d(in_channels, out_channels, kernel_size=kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm1d(out_channels),
        nn.ReLU(inplace=True),
    )


class _Inception(nn.Module):
    """The shared Inception layout (module docstring); ``conv_bn_relu(c_in, c_out, k)`` and ``pool`` fix the axis."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_sizes: tuple[int, ...],
        *,
        conv_bn_relu: Callable[[int, int, int], nn.Module],
        pool: nn.Module,
    ) -> None:
        super().__init__()
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be an int >= 1, got {in_channels!r}")
        kernel_sizes = tuple(kernel_sizes)
        if not kernel_sizes or any(
            isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0 for k in kernel_sizes
        ):
            raise ValueError(f"kernel_sizes must be a non-empty tuple of odd ints >= 1, got {kernel_sizes!r}")
        num_branches = len(kernel_sizes) + 1
        if isinstance(out_channels, bool) or not isinstance(out_channels, int) or out_channels < num_branches:
            raise ValueError(
                f"out_channels must be an int >= the number of branches ({num_branches}), got {out_channels!r}"
            )
        width = out_channels // num_branches
        self.branch_channels = (out_channels - width * (num_branches - 1),) + (width,) * (num_branches - 1)
        self.kernel_sizes = kernel_sizes
        self.conv_branches = nn.ModuleList()
        for k, channels in zip(kernel_sizes, self.branch_channels[:-1], strict=True):
            if k == 1:
                self.conv_branches.append(conv_bn_relu(in_channels, channels, 1))
            else:
                self.conv_branches.append(
                    nn.Sequential(conv_bn_relu(in_channels, channels, 1), conv_bn_relu(channels, channels, k))
                )
        self.pool_branch = nn.Sequential(pool, conv_bn_relu(in_channels, self.branch_channels[-1], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C_in, ...) -> concat over branches on channels -> (B, out_channels, ...)
        outputs = [branch(x) for branch in self.conv_branches]
        outputs.append(self.pool_branch(x))
        return torch.cat(outputs, dim=1)


class SpaceCentricInception3d(_Inception):
    """Inception module with purely spatial ``1×k×k`` branches, MFST §III-D1 Eq. (7) (``InC_{1×k×k}``).

    Every kernel is restricted to one frame, so the block is space-centric and leaves temporal modelling to
    WMS-Trans; the pooling branch max-pools ``1×3×3``. Shapes: ``(B, C_in, T, H, W) -> (B, out_channels, T, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_sizes: tuple[int, ...] = (1, 3, 5)) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_sizes,
            conv_bn_relu=spatial_conv_bn_relu,
            pool=nn.MaxPool3d(kernel_size=(1, 3, 3), stride=1, padding=(0, 1, 1)),
        )


class TimeCentricInception(_Inception):
    """Time-centric Inception module C_{T-Inc} of De+Recouple §3.1.2 Eq. (8) (footnote 2: spatial kernel 1×1).

    With a 1×1 spatial kernel on a feature sequence, every ``k×1×1`` 3D conv is a temporal Conv1d, which is how it is
    computed; the pooling branch max-pools 3 frames. Shapes: ``(B, C_in, T) -> (B, out_channels, T)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_sizes: tuple[int, ...] = (1, 3, 5)) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_sizes,
            conv_bn_relu=_temporal_conv_bn_relu,
            pool=nn.MaxPool1d(kernel_size=3, stride=1, padding=1),
        )
