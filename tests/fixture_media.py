"""Tiny real media files for adapter fixture trees: encoded videos (PyAV), 16-bit PNGs, broken files.

Imported by the adapter tests (``from fixture_media import write_video``); pytest puts ``tests/`` on sys.path.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image

# Container extension -> encoder. MPEG-4 Part 2 in AVI is what NTU/IsoGD/HMDB/UCF ship; H.264 in MP4 elsewhere.
_CODECS = {".avi": "mpeg4", ".mp4": "libx264", ".MP4": "libx264", ".mkv": "libx264"}


def pattern_frames(frames: int, height: int, width: int, *, seed: int = 0) -> np.ndarray:
    """uint8 (frames, height, width, 3): a bright square moving left to right over a seeded colour background."""
    rng = np.random.default_rng(seed)
    clip = np.empty((frames, height, width, 3), dtype=np.uint8)
    clip[:] = rng.integers(30, 120, size=3, dtype=np.uint8)
    side = max(2, min(height, width) // 4)
    for t in range(frames):
        left = int(t * (width - side) / max(1, frames - 1))
        top = (height - side) // 2
        clip[t, top : top + side, left : left + side] = (230, 230, 40)
    return clip


def write_video(path: Path, frames: np.ndarray, *, fps: int = 10) -> Path:
    """Encode uint8 (T, H, W, 3) RGB or (T, H, W) grey frames into ``path`` (codec from the extension)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    codec = _CODECS[path.suffix]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "18", "preset": "veryfast", "x264-params": "threads=1"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_pattern_video(path: Path, *, frames: int = 12, height: int = 48, width: int = 64, seed: int = 0) -> Path:
    """A short moving-square video at ``path``."""
    return write_video(path, pattern_frames(frames, height, width, seed=seed))


def write_png16(path: Path, depth_mm: np.ndarray) -> Path:
    """Write uint16 (H, W) depth in millimetres as a 16-bit greyscale PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if depth_mm.dtype != np.uint16 or depth_mm.ndim != 2:
        raise ValueError(f"depth must be uint16 (H, W), got {depth_mm.dtype} {depth_mm.shape}")
    Image.fromarray(depth_mm).save(path)  # uint16 2-D -> mode "I;16", saved as a 16-bit PNG
    return path


def depth_frames_mm(frames: int, height: int, width: int, *, seed: int = 0) -> np.ndarray:
    """uint16 (frames, H, W): a body-sized blob at 1-4 m over zeros (masked background), values above 255."""
    rng = np.random.default_rng(seed)
    depth = np.zeros((frames, height, width), dtype=np.uint16)
    for t in range(frames):
        top, left = height // 4, int(t * width / (2 * max(1, frames)))
        depth[t, top : top + height // 2, left : left + width // 3] = 1000 + int(rng.integers(0, 3000))
    return depth


def write_corrupt_video(path: Path, *, size: int = 2048, seed: int = 0) -> Path:
    """Random bytes under a video name: present, but no decoder can open it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size=size, dtype=np.uint8).tobytes())
    return path


def write_empty_file(path: Path) -> Path:
    """A zero-length file under a video name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path
