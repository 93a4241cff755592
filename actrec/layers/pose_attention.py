"""Pose-driven spatial-temporal attention of EPAM-Net (Abdelkawy, Ali & Farag, "EPAM-Net: An Efficient Pose-driven
Attention-guided Multimodal Network for Video Action Recognition", 2024): the nesting block of §3.3, Eqs. (2)-(4)
(adapted from Li, Wei & Zheng, "Nesting spatiotemporal attention networks", 2021), and the CBAM-style block of §4.3,
Eqs. (6)-(7), compared with it in the ablation ("nesting STA vs CBAM-style STA": 96.0/98.7 vs 95.9/98.6 on NTU 60).

Both blocks compute an attention map from the Pose-X3D features ``f_s`` and re-weight the RGB-X3D features ``f_r``
with it. ``forward(f_r, f_s) -> f'_r``:

1. **Temporal alignment** (§3.3): pose features ``(B, C_p, T_N, H, W)`` (Pose-X3D: 216 × 48 × 7²) meet RGB features
   ``(B, C_r, T_M, H, W)`` (RGB-X3D: 432 × 16 × 7²); "T_N is aligned with T_M through time-strided sampling":
   ``f_s[:, :, ::s]`` with ``s = T_N / T_M`` (``time_strided_sampling``).
2. **Spatial attention** ``A_S`` (B, 1, T_M, H, W) from the aligned ``f_s``: Eq. (2) (nesting) or Eq. (6) (CBAM).
3. **Nested temporal attention** ``A_T`` (B, 1, T_M, 1, 1) from ``A_S`` (not from the features — "nested"):
   Eqs. (3)-(4) (SE-style, two FC layers over time) or Eq. (7) (ECA-style 1D conv over time).
4. ``A_ST = A_S ⊗ A_T`` and ``f'_r = f_r ⊗ A_ST`` (§3.3, broadcast over channels and space / time).

The channel mismatch (C_p = 216 vs C_r = 432) never arises: both blocks compress the pose channels to a single map
(a conv to one channel in Eq. (2), channel mean and max in Eq. (6)), which is broadcast over the C_r RGB channels.

Details the paper leaves open, and the choice made here:

* **Sampling offset**: frames ``0, s, 2s, …`` — the RGB clip is "one frame out of every N/M" of the pose frames
  (Fig. 2), taken here as the first of each group (as the authors' released code,
  github.com/ahmed-nady/Multimodal-Action-Recognition, does with ``range(0, 48, 3)``). Sampling happens before the
  attention: Eqs. (2) and (6) are per-frame (1×k×k kernels, channel pooling), so sampling their output instead gives
  the same ``A_S``; Eqs. (3)-(4) / (7) then see the T_M aligned frames.
* **Eq. (2) convolutions** ``g^{1×3×3}`` (C_p → 1) and ``g^{1×7×7}`` (1 → 1): "same" zero padding, with a bias and no
  normalisation (none is written; the released code's nesting block has the same).
* **Eq. (4) widths**: ``W_1``: T → T / r, ``W_2``: T / r → T, without bias (Eq. (4) writes none); ``r = 1`` by default
  (the released code: 16 → 16). SE's usual r = 16 would leave one hidden unit for T = 16.
* **Eq. (6) convolution** ``g^{1×7×7}`` (2 → 1) on ``[GAP; GMP]`` (mean then max over channels, in Eq. (6)'s order):
  "same" padding, with a bias, no BN — Eq. (6) as written (the released code adds a BN and drops the bias).
* **Eq. (7) Conv1D**: kernel ``k = 7`` by default (the released code's; ECA's adaptive rule |log2(T)/2 + 1/2|_odd
  gives 3 for T = 16), zero padding k // 2, no bias (as ECA).
* **Residual** (``residual``): off — ``f'_r = f_r ⊗ A_ST`` as §3.3 writes it. The released code feeds
  ``f_r + f_r ⊗ A_ST`` to the head instead; ``residual=True`` gives that.
* **Initialisation** (``init_pose_attention_weights``): X3D's, as the two streams — convolutions Kaiming normal
  (fan-out, ReLU gain) with zero bias, FC layers normal(0, 0.01) (so ``A_T`` starts near σ(0) = 0.5).
* **Gradients**: the attention map is not detached; the RGB loss reaches the pose backbone through it (the network is
  "trained in end-to-end manner", §3.4).

Parameters at paper size (C_p = 216, T_M = 16): nesting 216·9 + 1 + 49 + 1 + 2·16·16 = 2,507 (r = 1); CBAM-style
2·49 + 1 + 7 = 106 (k = 7).
"""

from __future__ import annotations

import torch
from einops import rearrange, reduce
from torch import nn


def _check_int(name: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def time_strided_sampling(pose_features: torch.Tensor, num_frames: int) -> torch.Tensor:
    """§3.3 temporal alignment: keep frames ``0, s, 2s, …`` (``s = T_N / num_frames``) of the pose features.

    ``(B, C_p, T_N, H, W) -> (B, C_p, num_frames, H, W)``; ``T_N`` must be a multiple of ``num_frames``.
    """
    num_frames, total = int(num_frames), int(pose_features.shape[2])  # ints also when traced (fvcore)
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if total % num_frames:
        raise ValueError(
            f"time-strided sampling needs the pose frames ({total}) to be a multiple of the RGB frames ({num_frames})"
        )
    return pose_features[:, :, :: total // num_frames]


def init_pose_attention_weights(module: nn.Module) -> None:
    """X3D's initialisation for the attention layers: Kaiming normal convs (fan-out, ReLU) with zero bias, FC
    normal(0, 0.01) with zero bias."""
    for sub in module.modules():
        if isinstance(sub, nn.Conv3d | nn.Conv1d):
            nn.init.kaiming_normal_(sub.weight, mode="fan_out", nonlinearity="relu")
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)
        elif isinstance(sub, nn.Linear):
            nn.init.normal_(sub.weight, std=0.01)
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)


class PoseSpatialAttention(nn.Module):
    """Nesting spatial attention, Eq. (2): ``A_S = σ(g^{1×7×7}(δ(g^{1×3×3}(f_s))))``, the 1×3² conv compressing the
    pose channels to one. ``(B, C_p, T, H, W) -> (B, 1, T, H, W)`` in (0, 1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        _check_int("channels", channels)
        self.compress = nn.Conv3d(channels, 1, kernel_size=(1, 3, 3), padding=(0, 1, 1))  # g^{1×3×3}
        self.act = nn.ReLU()  # δ
        self.spatial = nn.Conv3d(1, 1, kernel_size=(1, 7, 7), padding=(0, 3, 3))  # g^{1×7×7}

    def forward(self, pose_features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.spatial(self.act(self.compress(pose_features))))


class NestedTemporalAttention(nn.Module):
    """Nested SE-style temporal attention, Eqs. (3)-(4): ``Z_t`` = spatial mean of ``A_S`` (Eq. (3)), then
    ``A_T = σ(W_2 δ(W_1 Z_t))`` (Eq. (4)) over the ``num_frames`` frames. ``(B, 1, T, H, W) -> (B, 1, T, 1, 1)``."""

    def __init__(self, num_frames: int, reduction: int = 1) -> None:
        super().__init__()
        _check_int("num_frames", num_frames)
        _check_int("reduction", reduction)
        if num_frames // reduction < 1:
            raise ValueError(f"reduction ({reduction}) must leave >= 1 hidden unit of num_frames ({num_frames})")
        self.num_frames = num_frames
        self.fc1 = nn.Linear(num_frames, num_frames // reduction, bias=False)  # W_1
        self.act = nn.ReLU()  # δ
        self.fc2 = nn.Linear(num_frames // reduction, num_frames, bias=False)  # W_2

    def forward(self, spatial_attention: torch.Tensor) -> torch.Tensor:
        if spatial_attention.shape[2] != self.num_frames:
            raise ValueError(
                f"the nesting temporal attention is built for {self.num_frames} frames (its FC layers span time), "
                f"got {spatial_attention.shape[2]}"
            )
        squeezed = reduce(spatial_attention, "b 1 t h w -> b t", "mean")  # Z_t, Eq. (3)
        excited = torch.sigmoid(self.fc2(self.act(self.fc1(squeezed))))  # A_T, Eq. (4)
        return rearrange(excited, "b t -> b 1 t 1 1")


class CBAMSpatialAttention(nn.Module):
    """CBAM-style spatial attention, Eq. (6): ``A_S = σ(g^{1×7×7}([GAP(f_s); GMP(f_s)]))``, average and max over the
    pose channels. ``(B, C_p, T, H, W) -> (B, 1, T, H, W)`` in (0, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.spatial = nn.Conv3d(2, 1, kernel_size=(1, 7, 7), padding=(0, 3, 3))  # g^{1×7×7}

    def forward(self, pose_features: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat(
            [
                reduce(pose_features, "b c t h w -> b 1 t h w", "mean"),  # GAP over channels
                reduce(pose_features, "b c t h w -> b 1 t h w", "max"),  # GMP over channels
            ],
            dim=1,
        )  # (B, 2, T, H, W)
        return torch.sigmoid(self.spatial(pooled))


class ECATemporalAttention(nn.Module):
    """ECA-style nested temporal attention, Eq. (7): ``A_T = σ(Conv1D(GAP(A_S)))``, a 1D conv of ``kernel_size``
    over time on the spatial mean of ``A_S``. ``(B, 1, T, H, W) -> (B, 1, T, 1, 1)``; any T."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        _check_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (T is kept), got {kernel_size!r}")
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, spatial_attention: torch.Tensor) -> torch.Tensor:
        squeezed = reduce(spatial_attention, "b 1 t h w -> b 1 t", "mean")  # GAP(A_S)
        return rearrange(torch.sigmoid(self.conv(squeezed)), "b 1 t -> b 1 t 1 1")


class _PoseDrivenAttention(nn.Module):
    """Shared §3.3 flow: align pose frames, ``A_ST = A_S ⊗ A_T`` from the pose features, ``f'_r = f_r ⊗ A_ST``."""

    spatial_attention: nn.Module
    temporal_attention: nn.Module

    def __init__(self, *, residual: bool) -> None:
        super().__init__()
        if not isinstance(residual, bool):
            raise ValueError(f"residual must be a bool, got {residual!r}")
        self.residual = residual

    def attention_map(self, pose_features: torch.Tensor, num_frames: int) -> torch.Tensor:
        """``A_ST``: ``(B, C_p, T_N, H, W) -> (B, 1, num_frames, H, W)`` in (0, 1)."""
        aligned = time_strided_sampling(pose_features, num_frames)  # (B, C_p, T_M, H, W)
        spatial = self.spatial_attention(aligned)  # A_S (B, 1, T_M, H, W)
        return spatial * self.temporal_attention(spatial)  # A_S ⊗ A_T, A_T (B, 1, T_M, 1, 1)

    def forward(self, rgb_features: torch.Tensor, pose_features: torch.Tensor) -> torch.Tensor:
        """``f'_r``: RGB ``(B, C_r, T_M, H, W)``, pose ``(B, C_p, T_N, H, W)`` features -> ``(B, C_r, T_M, H, W)``."""
        if rgb_features.ndim != 5 or pose_features.ndim != 5:
            raise ValueError(
                f"expected (B, C, T, H, W) features, got RGB {tuple(rgb_features.shape)} and pose "
                f"{tuple(pose_features.shape)}"
            )
        b, _, t, h, w = rgb_features.shape
        if pose_features.shape[0] != b or pose_features.shape[3:] != (h, w):
            raise ValueError(
                f"pose features {tuple(pose_features.shape)} must share the batch and the spatial grid of the RGB "
                f"features {tuple(rgb_features.shape)} (§3.3 spatial alignment)"
            )
        attended = rgb_features * self.attention_map(pose_features, t)  # f_r ⊗ A_ST, broadcast over C_r
        return rgb_features + attended if self.residual else attended


class NestingSpatialTemporalAttention(_PoseDrivenAttention):
    """EPAM-Net's nesting spatial-temporal attention (§3.3): Eq. (2) spatial attention on the time-strided pose
    features, nested Eqs. (3)-(4) temporal attention on it, ``f'_r = f_r ⊗ (A_S ⊗ A_T)``.

    ``forward(f_r, f_s)``: RGB ``(B, C_r, num_frames, H, W)`` and pose ``(B, channels, s · num_frames, H, W)`` ->
    ``(B, C_r, num_frames, H, W)``. ``channels`` = C_p (Pose-X3D: 216); ``num_frames`` = T_M (RGB-X3D: 16), fixed
    by the FC layers of Eq. (4); ``reduction`` = r of ``W_1``: T → T / r; ``residual``: ``f_r + f_r ⊗ A_ST``.
    """

    def __init__(self, channels: int, num_frames: int, *, reduction: int = 1, residual: bool = False) -> None:
        super().__init__(residual=residual)
        self.spatial_attention = PoseSpatialAttention(channels)
        self.temporal_attention = NestedTemporalAttention(num_frames, reduction)
        init_pose_attention_weights(self)


class CBAMSpatialTemporalAttention(_PoseDrivenAttention):
    """The CBAM-style spatial-temporal attention of the §4.3 ablation: Eq. (6) spatial attention (channel mean and
    max, 1×7² conv) on the time-strided pose features, nested Eq. (7) ECA-style temporal attention on it,
    ``f'_r = f_r ⊗ (A_S ⊗ A_T)``.

    ``forward(f_r, f_s)``: RGB ``(B, C_r, T_M, H, W)`` and pose ``(B, C_p, s · T_M, H, W)`` -> ``(B, C_r, T_M, H, W)``;
    any channels and frames. ``temporal_kernel`` = k of Eq. (7)'s Conv1D; ``residual``: ``f_r + f_r ⊗ A_ST``.
    """

    def __init__(self, *, temporal_kernel: int = 7, residual: bool = False) -> None:
        super().__init__(residual=residual)
        self.spatial_attention = CBAMSpatialAttention()
        self.temporal_attention = ECATemporalAttention(temporal_kernel)
        init_pose_attention_weights(self)
