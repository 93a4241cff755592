"""Clip transforms: crop, depth -> 3 channels, normalisation, layout (3, T, S, S).

Standard video-classification augmentation (random crop for training, centre crop for evaluation; e.g. TSN,
Wang et al., ECCV 2016, Sec. 3.3). Deliberately NO horizontal flip: mirroring turns "move right" into "move left"
(and clockwise into counter-clockwise), i.e. it would silently relabel those classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from einops import rearrange, repeat


def random_crop(frames: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """The same random ``size`` x ``size`` window from every frame of (t, H, W, C)."""
    height, width = _check_crop(frames, size)
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    return frames[:, top : top + size, left : left + size]


def centre_crop(frames: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` x ``size`` window of every frame of (t, H, W, C)."""
    height, width = _check_crop(frames, size)
    top, left = (height - size) // 2, (width - size) // 2
    return frames[:, top : top + size, left : left + size]


def _check_crop(frames: np.ndarray, size: int) -> tuple[int, int]:
    if frames.ndim != 4:
        raise ValueError(f"frames must be (t, H, W, C), got shape {frames.shape}")
    height, width = frames.shape[1:3]
    if not 1 <= size <= min(height, width):
        raise ValueError(f"crop size must be in [1, {min(height, width)}], got {size}")
    return height, width


def depth_to_three_channels(frames: np.ndarray) -> np.ndarray:
    """Grey depth decoded as RGB (t, H, W, C): keep channel 0 and replicate it to 3 channels."""
    return repeat(frames[..., 0], "t h w -> t h w c", c=3)


def normalise(frames: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """uint8 (t, H, W, 3) -> float32 (3, t, H, W): ``(pixel / 255 - mean[c]) / std[c]``."""
    clip = rearrange(frames, "t h w c -> c t h w").astype(np.float32) / 255.0
    mean_ = rearrange(np.asarray(mean, dtype=np.float32), "c -> c 1 1 1")
    std_ = rearrange(np.asarray(std, dtype=np.float32), "c -> c 1 1 1")
    return (clip - mean_) / std_


def clip_transform(
    frames: np.ndarray,
    *,
    modality: str,
    crop_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    training: bool,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Decoded uint8 (T, H, W, 3) -> model input float32 (3, T, crop_size, crop_size).

    Training: random crop (needs ``rng``); evaluation: centre crop. Depth is replicated from its first channel.
    """
    if training:
        if rng is None:
            raise ValueError("training transform needs an rng")
        frames = random_crop(frames, crop_size, rng)
    else:
        frames = centre_crop(frames, crop_size)
    if modality == "depth":
        frames = depth_to_three_channels(frames)
    elif modality != "rgb":
        raise ValueError(f"modality must be 'rgb' or 'depth', got {modality!r}")
    return np.ascontiguousarray(normalise(frames, mean, std))
