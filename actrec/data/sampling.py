"""Temporal sampling of frame indices: TSN segments, uniform spread, dense fixed-stride clips.

- ``segment_indices``: TSN segment sampling (Wang et al., ECCV 2016, Sec. 3.2). The video is cut into T equal
  segments; training draws one random frame per segment (a different snippet every epoch), evaluation takes a fixed
  offset in each segment (the centre for a single view). Videos shorter than T repeat frames.
- ``uniform_indices``: T frames evenly spread from the first to the last frame (deterministic).
- ``dense_indices``: T consecutive frames ``interval`` apart, as the clips of I3D (Carreira & Zisserman, CVPR 2017,
  Sec. 3) and SlowFast (Feichtenhofer et al., ICCV 2019, Sec. 5: "T x tau" sampling); training starts anywhere,
  evaluation takes ``num_clips`` starts evenly spread over the video (SlowFast's multi-view testing).

Every function returns int64 indices in ``[0, n)``; ``sample_indices`` dispatches on a method name.
"""

from __future__ import annotations

import numpy as np

SAMPLING_METHODS = ("segment", "uniform", "dense")


def segment_indices(
    num_video_frames: int,
    T: int,
    *,
    training: bool,
    rng: np.random.Generator | None = None,
    clip: int = 0,
    num_clips: int = 1,
) -> np.ndarray:
    """Sorted int64 (T,) frame indices, one inside each of T equal segments of ``[0, num_video_frames)``.

    Segment i covers ``[i * n / T, (i + 1) * n / T)``; training picks a uniform position in it (needs ``rng``;
    ``clip`` / ``num_clips`` are ignored), evaluation view ``clip`` of ``num_clips`` takes the relative offset
    ``(clip + 0.5) / num_clips`` in every segment (the centre for one view). When n < T the segments are shorter
    than a frame and indices repeat.
    """
    _check_counts(num_video_frames, T)
    _check_clip(clip, num_clips)
    if training:
        offsets = _need_rng(rng).random(T)
    else:
        offsets = np.full(T, (clip + 0.5) / num_clips)
    # Position of the chosen frame in units of frames: (segment index + offset in [0, 1)) * segment length.
    positions = (np.arange(T) + offsets) * (num_video_frames / T)
    return np.minimum(np.floor(positions).astype(np.int64), num_video_frames - 1)


def uniform_indices(num_video_frames: int, T: int) -> np.ndarray:
    """Sorted int64 (T,) indices evenly spaced from frame 0 to frame n - 1 (both included), rounded to the nearest.

    T = 1 takes the middle frame. Deterministic: the same for training and evaluation.
    """
    _check_counts(num_video_frames, T)
    last = num_video_frames - 1
    positions = np.full(1, last / 2) if T == 1 else np.linspace(0.0, last, T)
    return np.floor(positions + 0.5).astype(np.int64)


def dense_indices(
    num_video_frames: int,
    T: int,
    interval: int,
    *,
    training: bool,
    rng: np.random.Generator | None = None,
    clip: int = 0,
    num_clips: int = 1,
) -> np.ndarray:
    """int64 (T,) indices ``start + k * interval`` (k = 0..T-1): one dense clip spanning ``(T - 1) * interval + 1``.

    Valid starts are ``[0, n - span]``. Training draws the start uniformly (needs ``rng``); evaluation view ``clip``
    of ``num_clips`` starts at ``round(clip / (num_clips - 1) * (n - span))``, i.e. views evenly spread from the
    first to the last valid start (the centre when ``num_clips == 1``), as SlowFast's multi-view testing. When the
    span exceeds the video the clip starts at frame 0 and indices wrap around (modulo n), so they are sorted only
    when no wrap happens.
    """
    _check_counts(num_video_frames, T)
    if interval < 1:
        raise ValueError(f"interval must be >= 1, got {interval}")
    _check_clip(clip, num_clips)
    span = (T - 1) * interval + 1
    max_start = max(num_video_frames - span, 0)
    if training:
        start = int(_need_rng(rng).integers(0, max_start + 1))
    elif num_clips == 1:
        start = max_start // 2
    else:
        start = int(np.floor(max_start * clip / (num_clips - 1) + 0.5))
    return (start + interval * np.arange(T, dtype=np.int64)) % num_video_frames


def sample_indices(
    method: str,
    num_video_frames: int,
    T: int,
    *,
    interval: int = 1,
    training: bool,
    rng: np.random.Generator | None = None,
    clip: int = 0,
    num_clips: int = 1,
) -> np.ndarray:
    """Dispatch to ``segment_indices`` / ``uniform_indices`` / ``dense_indices`` by ``method`` name.

    ``interval`` is used only by "dense"; "uniform" ignores ``training``, ``rng`` and the view arguments.
    """
    if method == "segment":
        return segment_indices(num_video_frames, T, training=training, rng=rng, clip=clip, num_clips=num_clips)
    if method == "uniform":
        return uniform_indices(num_video_frames, T)
    if method == "dense":
        return dense_indices(num_video_frames, T, interval, training=training, rng=rng, clip=clip, num_clips=num_clips)
    raise ValueError(f"sampling method must be one of {SAMPLING_METHODS}, got {method!r}")


def _check_counts(num_video_frames: int, T: int) -> None:
    if num_video_frames < 1:
        raise ValueError(f"num_video_frames must be >= 1, got {num_video_frames}")
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")


def _check_clip(clip: int, num_clips: int) -> None:
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    if not 0 <= clip < num_clips:
        raise ValueError(f"clip must be in [0, {num_clips - 1}], got {clip}")


def _need_rng(rng: np.random.Generator | None) -> np.random.Generator:
    if rng is None:
        raise ValueError("training sampling needs an rng")
    return rng
