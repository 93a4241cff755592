"""``actrec data prepare``: a dataset in its published layout -> index.json + tar shards (``actrec.data.shards``).

The adapter (``actrec.data.adapters``) lists the samples; this module checks them, re-encodes every clip into
the members the Ray Data pipeline reads and writes the shards, in parallel, resumably:

- ``rgb.mp4``: H.264 (yuv420p, CRF ``crf``, a keyframe every 16 frames, no B-frames, so decord's seeks for sparse
  TSN sampling stay cheap), trimmed to the adapter's frame range, optionally cropped (NTU body box) and scaled so
  its short side is at most ``short_side``.
- ``depth.mp4`` (8-bit depth videos: IsoGD, NvGesture, THU-READ): H.264 with QP 0 on full-range luma, which
  decord returns bit-exactly (grey value in, the same grey value out).
- ``depth16.tar`` (16-bit depth frames: NTU's masked depth PNGs): an uncompressed tar of ``000000.png``, ... 16-bit
  greyscale PNGs, copied byte for byte when no resize is asked for, otherwise resized with nearest neighbour (no
  blended depths at object borders) and re-encoded. PNG keeps the full 16-bit range losslessly at the size of the
  published PNGs (a lossless 16-bit video codec such as FFV1 would compress better but decord cannot decode 16
  bits); the member's size: ``docs/datasets.md``, "What prepare writes".
- ``pose.npy``: float32 (T, M, J, 3), x and y in pixels of the stored ``rgb.mp4`` (the crop and scale applied to
  the RGB are applied to the joints), confidence in [0, 1].
- ``json``: metadata (label, class name, split fields, per-modality frame count and (height, width), source).

Bad input: entries the adapter could not parse, duplicate keys, labels out of range, missing split fields,
missing files and videos that cannot be decoded or have no frames are skipped and recorded (``index["skipped"]``,
each with the origin ``file:line`` and the reason) -- or, with ``strict=True``, refused with a PrepareError that
names every one of them before anything is written.

Resume: entries are cut into shards in list order, shard ``i`` holding entries ``[i*n, (i+1)*n)``. A shard is
done when ``shard-NNNNNN.json`` (written after the tar) exists; a re-run with the same settings keeps finished
shards as they are and only writes the missing ones. ``prepare.json`` records the settings; an output directory
holding a run with different settings is refused rather than mixed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from actrec.data.adapters.base import BadEntry, DatasetAdapter, FrameFolderRef, SampleEntry, VideoRef
from actrec.data.config import DATASETS
from actrec.data.shards import ShardWriter, shard_name, write_index

logger = logging.getLogger(__name__)

PREPARE_FORMAT_VERSION = 1
STATE_NAME = "prepare.json"
MEMBER_EXTS = {"rgb": "rgb.mp4", "depth_video": "depth.mp4", "depth_frames": "depth16.tar", "pose": "pose.npy"}
_KEY_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
# Keyframe every 16 frames and no B-frames: sparse sampling seeks at most 15 frames forward.
_X264_RGB = {"preset": "veryfast", "x264-params": "keyint=16:min-keyint=16:scenecut=0:bframes=0:threads=1"}


class PrepareError(ValueError):
    """A prepare run refused its input (strict mode) or its output directory."""


@dataclass
class PrepareSummary:
    """What a prepare run did."""

    out: Path  # the dataset root written (index.json + shards)
    num_samples: int  # samples in the index
    skipped: list[dict[str, Any]] = field(default_factory=list)  # {"origin", "key", "reason"} per skipped entry
    shards_written: int = 0  # shards written by this run
    shards_reused: int = 0  # finished shards of an earlier, interrupted run kept as they were
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class EncodeSettings:
    """How clips are re-encoded (part of the settings a resumed run must share)."""

    short_side: int = 0  # scale so the short side is at most this many pixels (never upscales); 0 keeps the size
    crf: int = 18  # H.264 constant rate factor of the RGB stream (lower = better quality, larger files)

    def __post_init__(self) -> None:
        if not isinstance(self.short_side, int) or self.short_side < 0 or self.short_side == 1:
            raise ValueError(f"short_side must be 0 (keep) or an integer >= 2, got {self.short_side!r}")
        if not isinstance(self.crf, int) or not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be an integer in [0, 51], got {self.crf!r}")


class SampleError(ValueError):
    """One sample could not be converted (undecodable, empty, frame range outside the video, bad pose file)."""


# ----------------------------------------------------------------------------------------------------------------
# Entry checks (before anything is written)


def collect_entries(
    adapter: DatasetAdapter, num_classes: int, protocol_fields: Sequence[str]
) -> tuple[list[SampleEntry], list[dict[str, Any]]]:
    """The adapter's entries that pass every cheap check, and a skip record for each one that does not."""
    good: list[SampleEntry] = []
    bad: list[dict[str, Any]] = []
    first_origin: dict[str, str] = {}
    for entry in adapter.entries():
        if isinstance(entry, BadEntry):
            bad.append({"origin": entry.origin, "key": None, "reason": entry.reason})
            continue
        reason = _check_entry(entry, adapter, num_classes, protocol_fields, first_origin)
        if reason is None:
            first_origin[entry.key] = entry.origin
            good.append(entry)
        else:
            bad.append({"origin": entry.origin, "key": entry.key, "reason": reason})
    return good, bad


def _check_entry(
    entry: SampleEntry,
    adapter: DatasetAdapter,
    num_classes: int,
    protocol_fields: Sequence[str],
    first_origin: Mapping[str, str],
) -> str | None:
    if not entry.key or not set(entry.key) <= _KEY_CHARS:
        return f"sample key {entry.key!r} must be non-empty and use only letters, digits, '_' and '-'"
    if entry.key in first_origin:
        return f"duplicate sample name {entry.key!r} (first seen at {first_origin[entry.key]})"
    if isinstance(entry.label, bool) or not isinstance(entry.label, int) or not 0 <= entry.label < num_classes:
        return f"label {entry.label!r} out of range [0, {num_classes})"
    missing = [f for f in protocol_fields if not isinstance(entry.fields.get(f), int)]
    if missing:
        return f"missing integer split field(s) {missing}"
    for modality in adapter.modalities:
        ref = {"rgb": entry.rgb, "depth": entry.depth, "pose": entry.pose}[modality]
        if ref is None:
            return f"no {modality} file given"
        for path in _paths_of(ref):
            if not Path(path).is_file():
                return f"missing {modality} file {path}"
            if Path(path).stat().st_size == 0:
                return f"empty {modality} file (0 bytes) {path}"
        if isinstance(ref, FrameFolderRef) and not ref.paths:
            return f"no {modality} frames (empty or missing frame folder)"
        if isinstance(ref, VideoRef) and (
            ref.start_frame < 0 or (ref.end_frame is not None and ref.end_frame <= ref.start_frame)
        ):
            return f"invalid {modality} frame range [{ref.start_frame}, {ref.end_frame})"
    return None


def _paths_of(ref: VideoRef | FrameFolderRef | Path) -> Sequence[Path]:
    if isinstance(ref, VideoRef):
        return [ref.path]
    if isinstance(ref, FrameFolderRef):
        return ref.paths
    return [ref]


# ----------------------------------------------------------------------------------------------------------------
# Encoding one sample


def read_video_frames(
    ref: VideoRef, *, grey: bool, crop_box: tuple[int, int, int, int] | None = None
) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Decode frames ``[start_frame, end_frame)`` of ``ref`` -> (uint8 (t, H, W[, 3]), fps, source (H, W)).

    ``end_frame`` past the end of the video is clamped to its length; a start beyond the last frame, an
    undecodable file or a video with no frames raises SampleError naming the file.
    """
    frames: list[np.ndarray] = []
    source_size = (0, 0)
    fps = 0.0
    total = 0
    try:
        with av.open(str(ref.path)) as container:
            if not container.streams.video:
                raise SampleError(f"{ref.path}: no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
            for index, frame in enumerate(container.decode(stream)):
                total = index + 1
                if index < ref.start_frame:
                    continue
                if ref.end_frame is not None and index >= ref.end_frame:
                    break
                array = frame.to_ndarray(format="gray" if grey else "rgb24")
                source_size = array.shape[:2]
                if crop_box is not None:
                    left, top, right, bottom = _clamp_box(crop_box, source_size)
                    array = array[top:bottom, left:right]
                frames.append(array)
    except SampleError:
        raise
    except (av.FFmpegError, OSError, ValueError, EOFError) as error:
        if not frames:
            raise SampleError(f"{ref.path}: cannot decode video: {error}"[:400]) from error
        # Truncated file: keep what decoded (the index records the real frame count).
        logger.warning("%s: decoding stopped after %d frames: %s", ref.path, total, error)
    if not frames:
        if total == 0:
            raise SampleError(f"{ref.path}: video has no frames")
        raise SampleError(f"{ref.path}: frame range [{ref.start_frame}, {ref.end_frame}) is outside its {total} frames")
    return np.stack(frames), fps, source_size


def _clamp_box(box: Sequence[float], size: Sequence[int]) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) clamped to an (H, W) frame, with even width and height (yuv420p)."""
    height, width = int(size[0]), int(size[1])
    left = int(min(max(np.floor(box[0]), 0), width - 2))
    top = int(min(max(np.floor(box[1]), 0), height - 2))
    right = int(min(max(np.ceil(box[2]), left + 2), width))
    bottom = int(min(max(np.ceil(box[3]), top + 2), height))
    right -= (right - left) % 2
    bottom -= (bottom - top) % 2
    return left, top, right, bottom


def scaled_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) scaled so the short side is ``short_side``, both even; unchanged when already small enough."""
    if short_side == 0 or min(height, width) <= short_side:
        new_h, new_w = height, width
    elif height <= width:
        new_h, new_w = short_side, round(width * short_side / height)
    else:
        new_h, new_w = round(height * short_side / width), short_side
    return max(2, new_h - new_h % 2), max(2, new_w - new_w % 2)


def encode_h264(frames: np.ndarray, *, fps: float, size: tuple[int, int], lossless_grey: bool, crf: int) -> bytes:
    """uint8 (t, H, W, 3) RGB or (t, H, W) grey -> mp4 bytes at ``size`` = (height, width).

    RGB: yuv420p at ``crf``. Grey (8-bit depth): full-range yuvj420p with QP 0 -- lossless for the luma plane,
    which is what decord hands back as R = G = B.
    """
    height, width = size
    buffer = io.BytesIO()
    rate = max(1, round(fps))
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = width, height
        if lossless_grey:
            stream.pix_fmt = "yuvj420p"
            stream.options = {**_X264_RGB, "qp": "0"}
            source_format = "gray"
        else:
            stream.pix_fmt = "yuv420p"
            stream.options = {**_X264_RGB, "crf": str(crf)}
            source_format = "rgb24"
        for array in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format=source_format)
            frame = frame.reformat(width=width, height=height, format=stream.pix_fmt, interpolation="AREA")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def encode_depth_frames(ref: FrameFolderRef, short_side: int) -> tuple[bytes, int, tuple[int, int]]:
    """16-bit PNG frames -> (nested uncompressed tar of ``%06d.png``, frame count, stored (H, W)).

    PNGs are copied byte for byte unless they must shrink to ``short_side`` (nearest neighbour, re-encoded as
    16-bit PNG). Every frame is decoded once to check it; an unreadable frame raises SampleError naming it.
    """
    buffer = io.BytesIO()
    size: tuple[int, int] | None = None
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for index, path in enumerate(ref.paths):
            raw = Path(path).read_bytes()
            try:
                with Image.open(io.BytesIO(raw)) as image:
                    image.load()
                    depth = _as_uint16(image, path)
            except (OSError, SyntaxError, ValueError) as error:
                raise SampleError(f"{path}: cannot decode depth frame: {error}"[:400]) from error
            if size is None:
                size = scaled_size(*depth.shape, short_side)
            if depth.shape != size:
                rows = (np.arange(size[0]) * depth.shape[0] / size[0]).astype(np.int64)
                cols = (np.arange(size[1]) * depth.shape[1] / size[1]).astype(np.int64)
                out = io.BytesIO()
                Image.fromarray(np.ascontiguousarray(depth[rows][:, cols])).save(out, format="PNG")
                raw = out.getvalue()
            info = tarfile.TarInfo(f"{index:06d}.png")
            info.size, info.mtime, info.mode = len(raw), 0, 0o644
            tar.addfile(info, io.BytesIO(raw))
    if size is None:
        raise SampleError("no depth frames")
    return buffer.getvalue(), len(ref.paths), size


def _as_uint16(image: Image.Image, path: Path) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image)
        if array.dtype != np.uint16:
            if array.min() < 0 or array.max() > 65535:
                raise ValueError(f"depth values outside 16 bits in {path}")
            array = array.astype(np.uint16)
        return array
    if image.mode == "L":
        return np.asarray(image).astype(np.uint16)
    raise ValueError(f"expected a greyscale depth PNG, got mode {image.mode}")


def encode_sample(
    adapter: DatasetAdapter, entry: SampleEntry, settings: EncodeSettings
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """One entry -> (shard members {ext: bytes}, metadata for its ``.json`` member). SampleError when unusable."""
    members: dict[str, bytes] = {}
    meta: dict[str, Any] = {"label": entry.label, **dict(entry.fields), **dict(entry.meta), "origin": entry.origin}
    pose = None
    if "pose" in adapter.modalities and entry.pose is not None:
        try:
            pose = np.asarray(adapter.read_pose(Path(entry.pose)), dtype=np.float32)
        except (OSError, ValueError) as error:
            raise SampleError(f"{entry.pose}: {error}"[:400]) from error
        if pose.ndim != 4 or pose.shape[-1] != 3:
            raise SampleError(f"{entry.pose}: read_pose returned shape {pose.shape}, expected (T, M, J, 3)")
    if "rgb" in adapter.modalities and isinstance(entry.rgb, VideoRef):
        box = adapter.rgb_crop_box(entry, pose)
        frames, fps, source_size = read_video_frames(entry.rgb, grey=False, crop_box=box)
        size = scaled_size(frames.shape[1], frames.shape[2], settings.short_side)
        members[MEMBER_EXTS["rgb"]] = encode_h264(frames, fps=fps, size=size, lossless_grey=False, crf=settings.crf)
        meta.update(rgb_frames=len(frames), rgb_size=list(size), fps=round(fps, 3))
        if pose is not None:
            left, top = _clamp_box(box, source_size)[:2] if box is not None else (0, 0)
            scale = np.array([size[1] / frames.shape[2], size[0] / frames.shape[1]], dtype=np.float32)
            pose = pose.copy()
            pose[..., :2] = (pose[..., :2] - np.array([left, top], dtype=np.float32)) * scale
            pose[pose[..., 2] <= 0] = 0.0
        if box is not None:
            meta["rgb_crop_box"] = list(_clamp_box(box, source_size))
    if "depth" in adapter.modalities:
        if isinstance(entry.depth, FrameFolderRef):
            data, count, size = encode_depth_frames(entry.depth, settings.short_side)
            members[MEMBER_EXTS["depth_frames"]] = data
        elif isinstance(entry.depth, VideoRef):
            frames, fps, _ = read_video_frames(entry.depth, grey=True)
            size = scaled_size(frames.shape[1], frames.shape[2], settings.short_side)
            members[MEMBER_EXTS["depth_video"]] = encode_h264(frames, fps=fps, size=size, lossless_grey=True, crf=0)
            count = len(frames)
        else:
            raise SampleError(f"unsupported depth reference {entry.depth!r}")
        meta.update(depth_frames=count, depth_size=list(size))
    if pose is not None:
        buffer = io.BytesIO()
        np.save(buffer, pose)
        members[MEMBER_EXTS["pose"]] = buffer.getvalue()
        meta.update(pose_frames=int(pose.shape[0]), pose_persons=int(pose.shape[1]), pose_joints=int(pose.shape[2]))
    return members, meta


# ----------------------------------------------------------------------------------------------------------------
# Shards


def _sidecar(out: Path, shard_id: int) -> Path:
    return out / shard_name(shard_id).replace(".tar", ".json")


def write_shard(
    adapter: DatasetAdapter, entries: Sequence[SampleEntry], out: Path, shard_id: int, settings: EncodeSettings
) -> dict[str, Any]:
    """Encode ``entries`` into ``shard-<shard_id>.tar`` and its sidecar; returns the sidecar's content.

    The tar is renamed into place when complete, then the sidecar (the "done" marker of resume) is written
    atomically. Samples that fail to encode are left out and listed as skipped.
    """
    fields = sorted({f for e in entries for f in e.fields})
    samples: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    writer = ShardWriter(
        out, samples_per_shard=len(entries) + 1, index_fields=("label", *fields), first_shard_id=shard_id
    )
    with writer:
        for entry in entries:
            try:
                members, meta = encode_sample(adapter, entry, settings)
            except SampleError as error:
                skipped.append({"origin": entry.origin, "key": entry.key, "reason": str(error)})
                continue
            writer.add(entry.key, members, meta)
            samples.append({"key": entry.key, "label": entry.label, **dict(entry.fields)})
    record = {"shard": shard_name(shard_id), "samples": samples, "skipped": skipped}
    path = _sidecar(out, shard_id)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, sort_keys=True))
    os.replace(tmp, path)
    return record


def _write_shard_job(args: tuple[DatasetAdapter, list[SampleEntry], str, int, EncodeSettings]) -> dict[str, Any]:
    adapter, entries, out, shard_id, settings = args
    return write_shard(adapter, entries, Path(out), shard_id, settings)


def _load_sidecar(out: Path, shard_id: int, keys: Sequence[str]) -> dict[str, Any] | None:
    """The sidecar of a finished shard whose tar exists and which covers exactly ``keys``; else None."""
    path = _sidecar(out, shard_id)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    covered = [s["key"] for s in record.get("samples", [])] + [s["key"] for s in record.get("skipped", [])]
    if sorted(covered) != sorted(keys):
        return None
    if record["samples"] and not (out / record["shard"]).is_file():
        return None
    return record


# ----------------------------------------------------------------------------------------------------------------
# The run


def adapter_options(adapter: DatasetAdapter) -> dict[str, Any]:
    """The adapter's dataclass fields as JSON values (paths as strings)."""
    return {
        f.name: str(v) if isinstance(v, Path) else v
        for f in dataclasses.fields(adapter)  # type: ignore[arg-type]
        for v in [getattr(adapter, f.name)]
    }


def prepare_dataset(
    adapter: DatasetAdapter,
    out: str | os.PathLike[str],
    *,
    samples_per_shard: int = 32,
    short_side: int = 0,
    crf: int = 18,
    workers: int = 1,
    strict: bool = False,
    progress: Callable[[str], None] | None = None,
) -> PrepareSummary:
    """Convert the dataset ``adapter`` reads into ``out`` (index.json + shards); see the module docstring.

    ``workers`` > 1 encodes shards in that many processes. ``progress`` receives one line per finished shard
    (default: print to stderr). Returns a PrepareSummary; raises PrepareError in strict mode when any entry is
    bad, or when ``out`` holds a prepare run with different settings.
    """
    started = time.perf_counter()
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    if samples_per_shard < 1:
        raise ValueError(f"samples_per_shard must be >= 1, got {samples_per_shard}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    settings = EncodeSettings(short_side=short_side, crf=crf)
    info = DATASETS[adapter.name]
    class_names = list(adapter.class_names())
    if info.num_classes is not None and len(class_names) != info.num_classes:
        raise PrepareError(f"{adapter.name}: adapter lists {len(class_names)} classes, expected {info.num_classes}")
    protocols = adapter.protocols()
    if list(protocols) != list(info.protocols):
        raise PrepareError(f"{adapter.name}: adapter protocols {list(protocols)} != {list(info.protocols)}")
    protocol_fields = sorted({p["field"] for p in protocols.values()})

    out = Path(out).expanduser()
    say(f"[prepare {adapter.name}] reading the layout under {adapter.root}")
    entries, bad = collect_entries(adapter, len(class_names), protocol_fields)
    if strict and bad:
        lines = [f"{b['origin']}: {b['reason']}" for b in bad]
        shown = "\n  ".join(lines[:50]) + (f"\n  ... and {len(lines) - 50} more" if len(lines) > 50 else "")
        raise PrepareError(f"{adapter.name}: {len(bad)} bad entr{'y' if len(bad) == 1 else 'ies'} (strict):\n  {shown}")
    if not entries:
        raise PrepareError(f"{adapter.name}: no usable samples under {adapter.root} ({len(bad)} bad entries)")

    state = {
        "format_version": PREPARE_FORMAT_VERSION,
        "dataset": adapter.name,
        "adapter_options": adapter_options(adapter),
        "samples_per_shard": samples_per_shard,
        "encode": dataclasses.asdict(settings),
        "entries_sha256": hashlib.sha256("\n".join(e.key for e in entries).encode()).hexdigest(),
    }
    _claim_output(out, state)

    chunks = [entries[i : i + samples_per_shard] for i in range(0, len(entries), samples_per_shard)]
    records: dict[int, dict[str, Any]] = {}
    todo: list[int] = []
    for shard_id, chunk in enumerate(chunks):
        record = _load_sidecar(out, shard_id, [e.key for e in chunk])
        if record is None:
            todo.append(shard_id)
        else:
            records[shard_id] = record
    for stale in out.glob("*.tmp"):
        stale.unlink(missing_ok=True)
    reused = len(records)
    say(
        f"[prepare {adapter.name}] {len(entries)} samples in {len(chunks)} shards -> {out}"
        + (f"; {reused} shards already done, resuming" if reused else "")
        + (f"; {len(bad)} entries skipped" if bad else "")
    )
    done_clips = sum(len(records[i]["samples"]) + len(records[i]["skipped"]) for i in records)
    clock, run_clips = time.perf_counter(), 0
    for shard_id, record in _run_shards(adapter, chunks, todo, out, settings, workers):
        records[shard_id] = record
        done_clips += len(chunks[shard_id])
        run_clips += len(chunks[shard_id])
        rate = run_clips / max(time.perf_counter() - clock, 1e-9)
        remaining = len(entries) - done_clips
        say(
            f"[prepare {adapter.name}] {shard_name(shard_id)}: {len(record['samples'])} samples"
            + (f", {len(record['skipped'])} skipped" if record["skipped"] else "")
            + f" | {len(records)}/{len(chunks)} shards, {done_clips}/{len(entries)} samples"
            + (f", ETA {remaining / rate:.0f} s" if remaining and rate > 0 else "")
        )

    skipped = bad + [s for i in sorted(records) for s in records[i]["skipped"]]
    shards = [
        {"path": records[i]["shard"], "samples": records[i]["samples"]}
        for i in sorted(records)
        if records[i]["samples"]
    ]
    if not shards:
        raise PrepareError(f"{adapter.name}: every sample failed to encode; first reasons: {skipped[:3]}")
    members = {}
    for modality in adapter.modalities:
        members[modality] = _member_of(modality, entries[0])
    write_index(
        out,
        dataset=adapter.name,
        class_names=class_names,
        modalities=list(adapter.modalities),
        shards=shards,
        splits=protocols,
        extra={"members": members, "skipped": skipped, "prepare": state, "source_root": str(adapter.root)},
    )
    summary = PrepareSummary(
        out=out,
        num_samples=sum(len(s["samples"]) for s in shards),
        skipped=skipped,
        shards_written=len(todo),
        shards_reused=reused,
        seconds=time.perf_counter() - started,
    )
    say(
        f"[prepare {adapter.name}] done: {summary.num_samples} samples in {len(shards)} shards "
        f"({summary.shards_written} written, {summary.shards_reused} reused) in {summary.seconds:.1f} s"
    )
    if skipped:
        say(f"[prepare {adapter.name}] {len(skipped)} skipped (listed in index.json 'skipped'):")
        for record in skipped[:20]:
            say(f"  {record['origin']}: {record['reason']}")
        if len(skipped) > 20:
            say(f"  ... and {len(skipped) - 20} more")
    return summary


def _member_of(modality: str, entry: SampleEntry) -> str:
    if modality == "depth":
        return MEMBER_EXTS["depth_frames" if isinstance(entry.depth, FrameFolderRef) else "depth_video"]
    return MEMBER_EXTS[modality]


def _claim_output(out: Path, state: Mapping[str, Any]) -> None:
    """Create ``out`` and record ``state``; refuse a directory holding other data or a run with other settings."""
    path = out / STATE_NAME
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous != json.loads(json.dumps(state)):
            changed = sorted(k for k in set(previous) | set(state) if previous.get(k) != state.get(k))
            raise PrepareError(
                f"{out} holds a prepare run with different settings ({', '.join(changed)} differ); "
                "use a new --out directory, or delete this one to start over"
            )
        return
    if out.exists() and any(out.iterdir()):
        raise PrepareError(f"{out} is not empty and holds no {STATE_NAME}; refusing to write shards into it")
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(STATE_NAME + ".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _run_shards(
    adapter: DatasetAdapter,
    chunks: Sequence[Sequence[SampleEntry]],
    todo: Sequence[int],
    out: Path,
    settings: EncodeSettings,
    workers: int,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (shard id, sidecar) as shards finish: inline when ``workers == 1``, else in a process pool."""
    if workers == 1 or len(todo) <= 1:
        for shard_id in todo:
            yield shard_id, write_shard(adapter, chunks[shard_id], out, shard_id, settings)
        return
    # spawn, not fork: the parent may hold threads (logging, PyAV) that a forked child would inherit mid-state.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        pending: dict[Future[dict[str, Any]], int] = {}
        queue = list(todo)
        while queue or pending:
            while queue and len(pending) < 2 * workers:
                shard_id = queue.pop(0)
                job = (adapter, list(chunks[shard_id]), str(out), shard_id, settings)
                pending[pool.submit(_write_shard_job, job)] = shard_id
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                shard_id = pending.pop(future)
                yield shard_id, future.result()
