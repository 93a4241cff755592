"""Temporal sampling of frame indices: TSN segment sampling (Wang et al., ECCV 2016, Sec. 3.2).

The video is cut into T equal segments; training draws one random frame per segment (a different snippet every
epoch), evaluation takes each segment's centre (deterministic). Videos shorter than T repeat frames.
"""

from __future__ import annotations

import numpy as np


def segment_indices(
    num_video_frames: int, T: int, *, training: bool, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Sorted int64 (T,) frame indices, one inside each of T equal segments of ``[0, num_video_frames)``.

    Segment i covers ``[i * n / T, (i + 1) * n / T)``; training picks a uniform position in it (needs ``rng``),
    evaluation its centre. When n < T the segments are shorter than a frame and indices repeat.
    """
    if num_video_frames < 1:
        raise ValueError(f"num_video_frames must be >= 1, got {num_video_frames}")
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    if training:
        if rng is None:
            raise ValueError("training sampling needs an rng")
        offsets = rng.random(T)
    else:
        offsets = np.full(T, 0.5)
    # Position of the chosen frame in units of frames: (segment index + offset in [0, 1)) * segment length.
    positions = (np.arange(T) + offsets) * (num_video_frames / T)
    return np.minimum(np.floor(positions).astype(np.int64), num_video_frames - 1)
