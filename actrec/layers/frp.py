"""Fast regional positioning (FRP) and its fusion into the SMS features, De+Recouple §3.1.1 Eq. (2)-(6).

``frames (B, C, T, H, W) → FastRegionalPositioning → guidance (B, T, H, W)``, computed once per clip from the raw
input (Eq. (2)-(5) before the Max Pooling), then for every SMS layer l
``GuidedFeatureFusion(f^l (B, C_l, T_l, H_l, W_l), guidance) → O^l (B, C_l, T_l, H_l, W_l)`` (the Max Pooling of
Eq. (5) and the fusion of Eq. (6)). Switching FRP off (Table 5) means not building either module: ``O^l = f^l``.

Pipeline per frame m (1-based as in the paper):

* Eq. (2): dynamic image DI over the sliding window of the last ``window`` frames ending at m, by approximate rank
  pooling: ``DI = Σ_i (2i - N - 1) · I_{s+i-1}`` for the window's frames ``i = 1..N``. Its sliding recurrence is
  exactly Eq. (2) (with the sum running over the window, ``l = n..m-1``; the printed lower bound ``l = 1`` is a
  typo, the recurrence only holds for ``l = n``); the tests check the recurrence literally.
* Eq. (3): ``D_m = GELU(DI) · λ`` (λ = 2 in all the paper's experiments).
* Eq. (4): ``D̂_m`` keeps the values ``>= mean(D_m)`` (mean over the frame's H×W) and zeroes the rest;
  ``S_m = dilate(erode(D̂_m, k×k), k×k)`` in binary morphology.
* Eq. (5): ``G_m = Maxpool((D_m + S_m) × S_m)``, the Max Pooling resizing G to each feature map.
* Eq. (6): ``O_m^l = (f_m^l ⊙ G_m^l) ⊗ f_m^l + f_m^l``.

Details the paper leaves open, and the choice made here:

* **Window length**: not given in the paper; ``window = 4`` by default (the authors' released NvGesture config
  uses a 4-frame window). Frames with fewer than ``window`` predecessors use the truncated window ``1..m`` (same
  formula with N = m), so frame 1 (N = 1, weight 0) gets an all-zero map: there is no motion to locate yet.
* **Colour channels**: Eq. (2)-(3) are applied to each input channel and ``D_m`` is then averaged over the
  channels, giving one guidance map per frame that works for RGB and depth (1 or 3 channels) alike.
* **Binary morphology**: the binary image is ``D̂_m > 0`` (a frame without motion has ``D̂_m = 0`` everywhere and
  hence an empty mask); erosion and dilation use a k×k square structuring element, stride 1, with the image
  border neither eroding nor dilating (OpenCV's default). ``S_m`` is therefore a {0, 1} mask and
  ``G_m = (D_m + 1) · S_m`` on it. k is not given; ``kernel_size = 3`` by default.
* **Normalisation** (the paper defers it to its supplementary material): each guidance map is divided by its
  largest absolute value, so G lies in [0, 1] (an all-zero map stays zero). Max-pooling keeps a map's maximum,
  so normalising before the resize is the same as after it.
* **Alignment** (also deferred to the supplementary): Eq. (5)'s Max Pooling is an adaptive max-pool over
  (T, H, W) to the feature map's (T_l, H_l, W_l); with the space-centric SMS layers T_l = T and this is a plain
  spatial max-pool. A feature map larger than the guidance would repeat guidance cells (nearest).
* **The 1D convolution of Eq. (6)**: a kernel-1 ``Conv1d(2 → 1)`` without bias over the stacked pair
  ``(f ⊙ G, f)`` at every position (one weight pair shared by all channels and positions), initialised to
  ``(1, 0)`` so that at the start of training ``O = f ⊙ (1 + G)``: the guidance acts from the first step and the
  learned weights can strengthen or weaken it.
* **Switches** beyond FRP on/off: ``use_static_map=False`` drops S (Eq. (5) becomes ``G = Maxpool(D)``),
  ``normalize=False`` keeps the raw magnitudes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import einsum, rearrange, reduce
from torch import nn


def dynamic_image_weights(num_frames: int, window: int) -> torch.Tensor:
    """Approximate rank-pooling weights of the sliding-window dynamic images, Eq. (2).

    Returns ``A`` of shape (T, T) with ``DI_m = Σ_l A[m, l] · I_l``: row m holds ``2i - N - 1`` for the i-th frame
    (i = 1..N) of the window of ``N = min(window, m + 1)`` frames ending at frame m (0-based), zeros elsewhere.
    Every row sums to zero, so a static pixel has a zero dynamic image.
    """
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames must be an int >= 1, got {num_frames!r}")
    if isinstance(window, bool) or not isinstance(window, int) or window < 2:
        raise ValueError(f"window must be an int >= 2, got {window!r}")
    weights = torch.zeros(num_frames, num_frames)
    for m in range(num_frames):
        start = max(0, m - window + 1)
        length = m - start + 1
        for i in range(1, length + 1):
            weights[m, start + i - 1] = 2 * i - length - 1
    return weights


def dynamic_images(frames: torch.Tensor, window: int) -> torch.Tensor:
    """Sliding-window dynamic images DI(n, m), Eq. (2): (B, C, T, H, W) → (B, C, T, H, W), one per end frame m."""
    if frames.dim() != 5:
        raise ValueError(f"frames must have shape (B, C, T, H, W), got {tuple(frames.shape)}")
    weights = dynamic_image_weights(int(frames.shape[2]), window).to(device=frames.device, dtype=frames.dtype)
    return einsum(weights, frames, "m l, b c l h w -> b c m h w")


def mean_threshold(maps: torch.Tensor) -> torch.Tensor:
    """``D̂`` of Eq. (4): keep each value ``>=`` its map's mean over (H, W), zero the rest. (..., H, W) → same."""
    if maps.dim() < 2:
        raise ValueError(f"maps must have at least 2 dims (..., H, W), got {tuple(maps.shape)}")
    mean = reduce(maps, "... h w -> ... 1 1", "mean")
    return torch.where(maps >= mean, maps, torch.zeros_like(maps))


def binary_opening(mask: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """``dilate(erode(mask, k×k), k×k)`` of Eq. (4) on a {0, 1} mask (B, T, H, W) → (B, T, H, W).

    Square structuring element, stride 1; outside the image counts as neither foreground for the dilation nor
    background for the erosion (max-pooling pads with -inf).
    """
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be an odd int >= 1, got {kernel_size!r}")
    if mask.dim() != 4:
        raise ValueError(f"mask must have shape (B, T, H, W), got {tuple(mask.shape)}")
    pad = kernel_size // 2
    eroded = -F.max_pool2d(-mask, kernel_size, stride=1, padding=pad)  # min over the k×k neighbourhood
    return F.max_pool2d(eroded, kernel_size, stride=1, padding=pad)  # max over the k×k neighbourhood


class FastRegionalPositioning(nn.Module):
    """FRP, De+Recouple §3.1.1 Eq. (2)-(5) (before the Max Pooling): frames (B, C, T, H, W) → G (B, T, H, W).

    Parameter-free. ``window`` is the sliding-window length of Eq. (2), ``amplification`` the λ of Eq. (3)
    (2 in the paper), ``kernel_size`` the k of Eq. (4). ``use_static_map`` switches S of Eq. (4)-(5) (off:
    ``G = D``) and ``normalize`` the per-map normalisation (see the module docstring).
    """

    def __init__(
        self,
        *,
        window: int = 4,
        amplification: float = 2.0,
        kernel_size: int = 3,
        use_static_map: bool = True,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(window, bool) or not isinstance(window, int) or window < 2:
            raise ValueError(f"window must be an int >= 2, got {window!r}")
        if isinstance(amplification, bool) or not isinstance(amplification, int | float) or amplification <= 0:
            raise ValueError(f"amplification must be a number > 0, got {amplification!r}")
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd int >= 1, got {kernel_size!r}")
        if not isinstance(use_static_map, bool):
            raise ValueError(f"use_static_map must be a bool, got {use_static_map!r}")
        if not isinstance(normalize, bool):
            raise ValueError(f"normalize must be a bool, got {normalize!r}")
        self.window = window
        self.amplification = float(amplification)
        self.kernel_size = kernel_size
        self.use_static_map = use_static_map
        self.normalize = normalize

    def dynamic_map(self, frames: torch.Tensor) -> torch.Tensor:
        """``D_m = GELU(DI(n, m)) · λ``, Eq. (3), averaged over channels: (B, C, T, H, W) → (B, T, H, W)."""
        per_channel = F.gelu(dynamic_images(frames, self.window)) * self.amplification  # (B, C, T, H, W)
        return reduce(per_channel, "b c t h w -> b t h w", "mean")

    def static_map(self, dynamic: torch.Tensor) -> torch.Tensor:
        """``S_m = dilate(erode(D̂_m))``, Eq. (4), as a {0, 1} mask: (B, T, H, W) → (B, T, H, W)."""
        binary = (mean_threshold(dynamic) > 0).to(dynamic.dtype)  # binary image of D̂_m
        return binary_opening(binary, self.kernel_size)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.dim() != 5:
            raise ValueError(f"frames must have shape (B, C, T, H, W), got {tuple(frames.shape)}")
        dynamic = self.dynamic_map(frames)  # D: (B, T, H, W)
        if self.use_static_map:
            static = self.static_map(dynamic)  # S: (B, T, H, W)
            guidance = (dynamic + static) * static  # Eq. (5) before the Max Pooling
        else:
            guidance = dynamic
        if self.normalize:
            peak = reduce(guidance.abs(), "b t h w -> b t 1 1", "max")
            guidance = guidance / peak.clamp_min(torch.finfo(guidance.dtype).tiny)
        return guidance  # (B, T, H, W)


def resize_guidance(guidance: torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
    """The Max Pooling of Eq. (5): (B, T, H, W) → (B, T_l, H_l, W_l) by adaptive max-pooling (alignment)."""
    if guidance.dim() != 4:
        raise ValueError(f"guidance must have shape (B, T, H, W), got {tuple(guidance.shape)}")
    return F.adaptive_max_pool3d(guidance, size)


class GuidedFeatureFusion(nn.Module):
    """Fusion of a visual guidance map into one SMS output, De+Recouple §3.1.1 Eq. (5)-(6).

    ``forward(features (B, C, T_l, H_l, W_l), guidance (B, T, H, W)) → O (B, C, T_l, H_l, W_l)`` with
    ``O = Conv1d_{k=1}([f ⊙ G, f]) + f`` and ``G = Maxpool(guidance)`` resized to the feature map. One instance
    per SMS layer (each has its own pair of 1D-convolution weights).
    """

    def __init__(self) -> None:
        super().__init__()
        self.combine = nn.Conv1d(2, 1, kernel_size=1, bias=False)  # the ⊗ of Eq. (6)
        with torch.no_grad():
            self.combine.weight.copy_(torch.tensor([1.0, 0.0]).view(1, 2, 1))

    def forward(self, features: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        if features.dim() != 5:
            raise ValueError(f"features must have shape (B, C, T, H, W), got {tuple(features.shape)}")
        if guidance.dim() != 4:
            raise ValueError(f"guidance must have shape (B, T, H, W), got {tuple(guidance.shape)}")
        if guidance.shape[0] != features.shape[0]:
            raise ValueError(
                f"guidance batch size {guidance.shape[0]} does not match features batch size {features.shape[0]}"
            )
        channels, time, height, width = features.shape[1:]
        g = resize_guidance(guidance.to(features.dtype), (time, height, width))  # (B, T_l, H_l, W_l)
        guided = features * rearrange(g, "b t h w -> b 1 t h w")  # f ⊙ G: (B, C, T_l, H_l, W_l)
        pair = rearrange([guided, features], "pair b c t h w -> b pair (c t h w)")  # (B, 2, C·T_l·H_l·W_l)
        combined = rearrange(
            self.combine(pair), "b 1 (c t h w) -> b c t h w", c=channels, t=time, h=height, w=width
        )  # (B, C, T_l, H_l, W_l)
        return combined + features
