"""Space-centric 3D Inception module, the ``InC_{1×k×k}`` of MFST §III-D1 Eq. (7)."""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn_relu(in_channels: int, out_channels: int, spatial_kernel: int) -> nn.Sequential:
    # 1×k×k convolution (temporal kernel 1: space-centric), "same" spatial padding, BN + ReLU.
    return nn.Sequential(
        nn.Conv3d(
            in_channels,
            out_channels,
            kernel_size=(1, spatial_kernel, spatial_kernel),
            padding=(0, spatial_kernel // 2, spatial_kernel // 2),
            bias=False,
        ),
        nn.BatchNorm3d(out_channels),
        nn.ReLU(inplace=True),
    )


class SpaceCentricInception3d(nn.Module):
    """Inception module with purely spatial ``1×k×k`` branches, MFST §III-D1 Eq. (7) (``InC_{1×k×k}``).

    Branches (GoogLeNet / I3D Inception layout, with every kernel restricted to one frame so the block is
    space-centric and leaves temporal modelling to WMS-Trans):

    * one branch per ``k`` in ``kernel_sizes``: ``k == 1`` is a ``1×1×1`` conv; ``k > 1`` is a ``1×1×1`` reduction
      conv followed by a ``1×k×k`` conv (both to the branch width);
    * a pooling branch: ``1×3×3`` max-pool (stride 1) followed by a ``1×1×1`` projection.

    Every conv is followed by BatchNorm + ReLU. Channel split: with ``n = len(kernel_sizes) + 1`` branches each
    gets ``out_channels // n`` channels and the first branch also takes the remainder, so the concatenation has
    exactly ``out_channels`` channels. Shapes: ``(B, C_in, T, H, W) -> (B, out_channels, T, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_sizes: tuple[int, ...] = (1, 3, 5)) -> None:
        super().__init__()
        kernel_sizes = tuple(kernel_sizes)
        if not kernel_sizes or any(isinstance(k, bool) or not isinstance(k, int) for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be a non-empty tuple of odd ints >= 1, got {kernel_sizes!r}")
        if any(k < 1 or k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be a non-empty tuple of odd ints >= 1, got {kernel_sizes!r}")
        num_branches = len(kernel_sizes) + 1
        if out_channels < num_branches:
            raise ValueError(f"out_channels must be >= the number of branches ({num_branches}), got {out_channels!r}")
        width = out_channels // num_branches
        self.branch_channels = (out_channels - width * (num_branches - 1),) + (width,) * (num_branches - 1)
        self.kernel_sizes = kernel_sizes
        self.conv_branches = nn.ModuleList()
        for k, channels in zip(kernel_sizes, self.branch_channels[:-1], strict=True):
            if k == 1:
                self.conv_branches.append(_conv_bn_relu(in_channels, channels, 1))
            else:
                self.conv_branches.append(
                    nn.Sequential(_conv_bn_relu(in_channels, channels, 1), _conv_bn_relu(channels, channels, k))
                )
        self.pool_branch = nn.Sequential(
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=1, padding=(0, 1, 1)),
            _conv_bn_relu(in_channels, self.branch_channels[-1], 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C_in, T, H, W) -> concat over branches -> (B, out_channels, T, H, W)
        outputs = [branch(x) for branch in self.conv_branches]
        outputs.append(self.pool_branch(x))
        return torch.cat(outputs, dim=1)
