"""Video decoding with decord (in-memory mp4 bytes -> uint8 frames), resizing while decoding.

Part of the clip sampler / decoder / transform split of PyTorchVideo (Fan et al., ACM MM 2021, Sec. 3).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import decord
import numpy as np
from einops import rearrange


class CorruptVideoError(ValueError):
    """The bytes could not be decoded as a video, or the video has no frames."""


def decord_mangles_width(width: int) -> bool:
    """Whether decord 0.6 returns broken frames at this output width (dmlc/decord#336).

    decord infers the channel count as ``linesize // width`` where FFmpeg's rgb24 linesize is
    ``3 * align(width, 32)``; when that division is exact but not 3 (widths 2, 3, 4, 6, 8, 12, 16, 24, 48, 72)
    frames come back with 4+ "channels" and ``get_batch`` fails. Any width that is a multiple of 32 is safe.
    """
    padded = -(-width // 32) * 32
    return padded != width and (3 * padded) % width == 0


def read_clip(
    video_bytes: bytes, choose_indices: Callable[[int], Sequence[int] | np.ndarray], *, width: int, height: int
) -> np.ndarray:
    """Open the video once, pick frames with ``choose_indices(num_frames)``, decode them at ``width`` x ``height``.

    Returns uint8 (t, height, width, 3) RGB. decord resizes while decoding; for the few widths decord mangles
    (see ``decord_mangles_width``) it decodes at the next multiple of 32 and downsamples with antialiasing.
    Raises CorruptVideoError on any decoding failure or an empty video.
    """
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be >= 1, got {width} x {height}")
    if not video_bytes:
        raise CorruptVideoError("empty video bytes")
    decode_width, decode_height = width, height
    if decord_mangles_width(width):
        decode_width = -(-width // 32) * 32
        decode_height = max(1, round(height * decode_width / width))
    try:
        # One decoder thread: Ray Data runs several decode tasks on fractional CPUs side by side.
        reader = decord.VideoReader(
            io.BytesIO(video_bytes), ctx=decord.cpu(0), width=decode_width, height=decode_height, num_threads=1
        )
        total = len(reader)
        if total < 1:
            raise CorruptVideoError("video has 0 frames")
        indices = [int(i) for i in choose_indices(total)]
        if not indices or min(indices) < 0 or max(indices) >= total:
            raise ValueError(f"frame indices must be non-empty and in [0, {total}), got {indices}")
        frames = reader.get_batch(indices).asnumpy()
    except (decord.DECORDError, RuntimeError) as error:
        raise CorruptVideoError(f"cannot decode video ({len(video_bytes)} bytes): {error}"[:500]) from error
    if frames.dtype != np.uint8 or frames.shape != (len(indices), decode_height, decode_width, 3):
        raise CorruptVideoError(f"decoder returned {frames.dtype} {frames.shape} for {len(indices)} frames")
    if (decode_width, decode_height) != (width, height):
        frames = _resize(frames, width=width, height=height)
    return frames


def _resize(frames: np.ndarray, *, width: int, height: int) -> np.ndarray:
    """uint8 (t, H, W, 3) -> uint8 (t, height, width, 3), bilinear with antialiasing."""
    import torch  # imported here: Ray Data decode workers start ~1 s faster without torch

    clip = rearrange(torch.from_numpy(frames), "t h w c -> t c h w").float()
    clip = torch.nn.functional.interpolate(clip, size=(height, width), mode="bilinear", antialias=True)
    return rearrange(clip.round().clamp(0, 255).to(torch.uint8), "t c h w -> t h w c").numpy()


def decode_frames(video_bytes: bytes, indices: Sequence[int] | np.ndarray, *, width: int, height: int) -> np.ndarray:
    """Frames ``indices`` of the video as uint8 (t, height, width, 3); CorruptVideoError if undecodable."""
    return read_clip(video_bytes, lambda _: indices, width=width, height=height)


def num_frames(video_bytes: bytes) -> int:
    """Number of frames in the video; CorruptVideoError if it cannot be opened or is empty."""
    if not video_bytes:
        raise CorruptVideoError("empty video bytes")
    try:
        total = len(decord.VideoReader(io.BytesIO(video_bytes), ctx=decord.cpu(0), num_threads=1))
    except (decord.DECORDError, RuntimeError) as error:
        raise CorruptVideoError(f"cannot open video ({len(video_bytes)} bytes): {error}"[:500]) from error
    if total < 1:
        raise CorruptVideoError("video has 0 frames")
    return total
