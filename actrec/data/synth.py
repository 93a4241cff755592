"""Synthetic RGB-D(+pose) action dataset, written in the shard format of ``actrec.data.shards``.

A stand-in for NTU RGB+D (Shahroudy et al., CVPR 2016) that is small enough to train on in seconds yet keeps the
properties the papers' models are about: subjects and camera views to split on (NTU Sec. 4, cross-subject /
cross-view), classes that differ only in temporal order (move left = move right reversed, rotate counter-clockwise
= rotate clockwise reversed), and two classes that differ only in depth (approach / recede are the same static
RGB clip; only the actor's depth changes), so an RGB-only model is capped below a depth or fused one.

Each sample is one actor (subject: colour, size, body shape, stripe, limb) in front of a background (view:
texture, brightness, camera offset and scale). Per sample: start phase, speed, position and depth jitter, and
sensor noise. The actor carries an elongated limb (which the rotate classes turn) and a 17-joint COCO stick
figure (the pose member).
"""

from __future__ import annotations

import colorsys
import fcntl
import io
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from einops import repeat

from actrec.data.config import SYNTHETIC_GENERATOR_VERSION, DataConfig, default_synthetic_root
from actrec.data.shards import INDEX_NAME, ShardWriter, load_index, write_index

CLASS_NAMES = (
    "move right",
    "move left",
    "move down",
    "move up",
    "approach",
    "recede",
    "rotate clockwise",
    "rotate counter-clockwise",
)
COCO_JOINTS = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
MODALITIES = ("rgb", "depth", "pose")
FPS = 8
# Depth (metres) -> 8-bit grey, nearer = brighter: grey = 255 * (FAR - d) / (FAR - NEAR).
DEPTH_NEAR_M, DEPTH_FAR_M = 0.5, 4.5
# Fraction of subjects / views used for training by the cross-subject / cross-view splits (rest = val).
TRAIN_FRACTION = 0.75
# libx264: constant quality, every 8th frame a keyframe and no B-frames so decord seeks are cheap and exact;
# one thread keeps the bitstream identical across runs.
_X264_OPTIONS = {"crf": "20", "preset": "veryfast", "x264-params": "keyint=8:bframes=0:threads=1"}

# Joint layout relative to the body centre in units of the body radii (x right, y down); the subject faces the
# camera, so its left side is image-right. The right elbow / wrist are placed on the limb instead.
_JOINT_TEMPLATE = np.array(
    [
        [0.0, -0.55],
        [0.15, -0.65],
        [-0.15, -0.65],
        [0.3, -0.6],
        [-0.3, -0.6],
        [0.45, -0.3],
        [-0.45, -0.3],
        [0.6, 0.1],
        [np.nan, np.nan],
        [0.65, 0.5],
        [np.nan, np.nan],
        [0.3, 0.45],
        [-0.3, 0.45],
        [0.32, 0.95],
        [-0.32, 0.95],
        [0.34, 1.4],
        [-0.34, 1.4],
    ],
    dtype=np.float64,
)
_RIGHT_ELBOW, _RIGHT_WRIST = COCO_JOINTS.index("right_elbow"), COCO_JOINTS.index("right_wrist")


@dataclass(frozen=True, kw_only=True)
class Appearance:
    """What a subject looks like; all lengths are fractions of the frame side or of the body radius."""

    colour: tuple[float, float, float]  # body RGB in [0, 255]
    accent: tuple[float, float, float]  # stripe / limb RGB in [0, 255]
    radius: float  # body half-width as a fraction of the frame side (diameter ~22-28% of the side)
    aspect: float  # body half-height / half-width
    stripe: float  # vertical position of the accent stripe in body radii, in [-0.5, 0.5]
    limb_length: float  # limb length in body radii (reaches out of the body)
    limb_width: float  # limb width in body radii


@dataclass(frozen=True, kw_only=True)
class View:
    """A camera: background colour texture and depth, and how the actor is offset and scaled in the image."""

    background: np.ndarray  # float (S, S, 3) RGB in [0, 255]
    depth_background: np.ndarray  # float (S, S) metres (far wall, floor nearer at the bottom)
    offset: tuple[float, float]  # (x, y) pixels added to the actor position
    scale: float  # actor size and motion amplitude multiplier


@dataclass(frozen=True, kw_only=True)
class Motion:
    """Per-sample jitter of an action."""

    phase: float  # shift of the action progress, in [-0.1, 0.1]
    speed: float  # progress covered over the clip, in [0.8, 1.2]
    jitter: tuple[float, float]  # (x, y) actor position jitter in fractions of the frame side
    depth: float  # actor depth in metres for classes whose depth does not change
    angle: float  # limb angle (radians, image coordinates) at the middle of the clip


@dataclass(frozen=True)
class Clip:
    """A rendered sample: rgb uint8 (F, S, S, 3), depth uint8 (F, S, S), pose float32 (F, 17, 3)."""

    rgb: np.ndarray
    depth: np.ndarray
    pose: np.ndarray


def make_appearance(subject: int, *, seed: int) -> Appearance:
    """Appearance of ``subject``; hues follow the golden-ratio sequence so val subjects fall between train ones."""
    rng = np.random.default_rng([seed, 1, subject])
    hue = (subject * 0.618034 + rng.uniform(-0.03, 0.03)) % 1.0
    colour = colorsys.hsv_to_rgb(hue, rng.uniform(0.7, 0.95), rng.uniform(0.8, 1.0))
    accent = colorsys.hsv_to_rgb((hue + 0.5) % 1.0, rng.uniform(0.3, 0.6), rng.uniform(0.85, 1.0))
    return Appearance(
        colour=tuple(float(c) * 255 for c in colour),
        accent=tuple(float(c) * 255 for c in accent),
        radius=float(rng.uniform(0.11, 0.14)),
        aspect=float(rng.uniform(0.8, 1.3)),
        stripe=float(rng.uniform(-0.5, 0.5)),
        limb_length=float(rng.uniform(1.9, 2.3)),
        limb_width=float(rng.uniform(0.3, 0.45)),
    )


def make_view(view: int, *, seed: int, size: int) -> View:
    """Background of camera ``view``: two sinusoidal gratings on a tinted base, plus a depth plane with floor."""
    rng = np.random.default_rng([seed, 2, view])
    y, x = np.mgrid[0:size, 0:size] / size
    base = rng.uniform(60, 150) + rng.uniform(-15, 15, size=3)
    texture = np.zeros((size, size))
    for _ in range(2):
        theta, freq = rng.uniform(0, np.pi), rng.uniform(1.5, 4.0)
        texture += np.sin(2 * np.pi * freq * (x * np.cos(theta) + y * np.sin(theta)) + rng.uniform(0, 2 * np.pi))
    background = base + rng.uniform(8, 18) * repeat(texture, "h w -> h w c", c=3)
    depth_background = rng.uniform(4.0, 4.4) - rng.uniform(0.3, 0.8) * y
    return View(
        background=np.clip(background, 0, 255),
        depth_background=depth_background,
        offset=tuple(float(v) * size for v in rng.uniform(-0.05, 0.05, size=2)),
        scale=float(rng.uniform(0.85, 1.15)),
    )


def make_motion(rng: np.random.Generator) -> Motion:
    """Per-sample jitter drawn from ``rng``."""
    return Motion(
        phase=float(rng.uniform(-0.1, 0.1)),
        speed=float(rng.uniform(0.8, 1.2)),
        jitter=tuple(float(v) for v in rng.uniform(-0.06, 0.06, size=2)),
        depth=float(rng.uniform(2.2, 2.8)),
        angle=float(rng.uniform(0, 2 * np.pi)),
    )


def render_clip(label: int, appearance: Appearance, view: View, motion: Motion, *, frames: int) -> Clip:
    """Noise-free clip of class ``label``; odd labels are the even label's clip played backwards."""
    if not 0 <= label < len(CLASS_NAMES):
        raise ValueError(f"label must be in [0, {len(CLASS_NAMES) - 1}], got {label}")
    size = view.background.shape[0]
    pair = label // 2
    # Action progress per frame, centred on 0.5: (F,)
    progress = 0.5 + motion.speed * (np.linspace(0.0, 1.0, frames) - 0.5) + motion.phase
    centre = np.array([size / 2, size / 2]) + np.array(view.offset) + np.array(motion.jitter) * size
    centres = repeat(centre, "xy -> f xy", f=frames).copy()
    angles = np.full(frames, motion.angle)
    depths = np.full(frames, motion.depth)
    amplitude = 0.45 * size * view.scale
    if pair == 0:  # move right: x sweeps across ~45% of the frame
        centres[:, 0] += amplitude * (progress - 0.5)
    elif pair == 1:  # move down
        centres[:, 1] += amplitude * (progress - 0.5)
    elif pair == 2:  # approach: static in RGB, depth 3.4 m -> 1.4 m
        depths = 3.4 - 2.0 * np.clip(progress, -0.1, 1.1)
    else:  # rotate clockwise (y points down, so increasing angle turns clockwise on screen), ~250 degrees
        angles = motion.angle + 1.4 * np.pi * (progress - 0.5)
    rgb = np.empty((frames, size, size, 3), dtype=np.uint8)
    depth = np.empty((frames, size, size), dtype=np.uint8)
    pose = np.empty((frames, len(COCO_JOINTS), 3), dtype=np.float32)
    for f in range(frames):
        rgb[f], depth[f], pose[f] = _render_frame(appearance, view, centres[f], angles[f], depths[f])
    if label % 2:
        rgb, depth, pose = rgb[::-1].copy(), depth[::-1].copy(), pose[::-1].copy()
    return Clip(rgb=rgb, depth=depth, pose=pose)


def _render_frame(
    appearance: Appearance, view: View, centre: np.ndarray, angle: float, depth_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    size = view.background.shape[0]
    y, x = np.mgrid[0:size, 0:size] + 0.5
    rx = appearance.radius * size * view.scale
    ry = rx * appearance.aspect
    cx, cy = centre
    # Soft (anti-aliased) coverage masks, (S, S) in [0, 1].
    ellipse = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
    body = np.clip((1.0 - ellipse) * min(rx, ry) + 0.5, 0.0, 1.0)
    stripe = body * np.clip(0.2 * ry - np.abs(y - cy - appearance.stripe * ry) + 0.5, 0.0, 1.0)
    direction = np.array([np.cos(angle), np.sin(angle)])
    length = appearance.limb_length * rx
    tip = centre + length * direction
    along = np.clip((x - cx) * direction[0] + (y - cy) * direction[1], 0.0, length)
    dist = np.hypot(x - (cx + along * direction[0]), y - (cy + along * direction[1]))
    limb = np.clip(appearance.limb_width * rx / 2 - dist + 0.5, 0.0, 1.0)
    hand = np.clip(appearance.limb_width * rx - np.hypot(x - tip[0], y - tip[1]) + 0.5, 0.0, 1.0)
    rgb = view.background.copy()
    for mask, colour in (
        (body, appearance.colour),
        (stripe, appearance.accent),
        (np.maximum(limb, hand), appearance.accent),
    ):
        rgb = rgb * (1 - mask[..., None]) + np.array(colour) * mask[..., None]
    actor = np.maximum.reduce([body, limb, hand])
    depth_m_map = view.depth_background * (1 - actor) + depth_m * actor
    depth = 255.0 * (DEPTH_FAR_M - depth_m_map) / (DEPTH_FAR_M - DEPTH_NEAR_M)
    joints = centre + _JOINT_TEMPLATE * np.array([rx, ry])
    joints[_RIGHT_ELBOW] = centre + 0.55 * length * direction
    joints[_RIGHT_WRIST] = tip
    inside = np.all((joints >= 0) & (joints < size), axis=1)
    pose = np.concatenate([joints, np.where(inside, 1.0, 0.2)[:, None]], axis=1)
    return np.round(np.clip(rgb, 0, 255)).astype(np.uint8), np.round(np.clip(depth, 0, 255)).astype(np.uint8), pose


def add_sensor_noise(clip: Clip, rng: np.random.Generator) -> Clip:
    """Gaussian pixel noise (RGB sigma 4, depth sigma 2 grey levels), joint jitter (0.3 px) and score dropout."""
    rgb = np.clip(np.round(clip.rgb + rng.normal(0.0, 4.0, clip.rgb.shape)), 0, 255).astype(np.uint8)
    depth = np.clip(np.round(clip.depth + rng.normal(0.0, 2.0, clip.depth.shape)), 0, 255).astype(np.uint8)
    pose = clip.pose.astype(np.float64)
    pose[..., :2] += rng.normal(0.0, 0.3, pose[..., :2].shape)
    pose[..., 2] = np.clip(pose[..., 2] - rng.uniform(0.0, 0.15, pose[..., 2].shape), 0.0, 1.0)
    return Clip(rgb=rgb, depth=depth, pose=pose.astype(np.float32))


def render_sample(label: int, subject: int, view: int, repeat_id: int, *, frames: int, size: int, seed: int) -> Clip:
    """The (noisy) clip the generator writes for one (label, subject, view, repeat); a pure function of its args."""
    rng = np.random.default_rng([seed, 3, label, subject, view, repeat_id])
    clean = render_clip(
        label,
        make_appearance(subject, seed=seed),
        make_view(view, seed=seed, size=size),
        make_motion(rng),
        frames=frames,
    )
    return add_sensor_noise(clean, rng)


def encode_video(frames: np.ndarray, *, fps: int = FPS) -> bytes:
    """H.264 mp4 (yuv420p) bytes of uint8 frames: (F, H, W, 3) RGB or (F, H, W) grey."""
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4):
        raise ValueError(f"frames must be uint8 (F, H, W[, 3]), got {frames.dtype} {frames.shape}")
    pixel_format = "gray" if frames.ndim == 3 else "rgb24"
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = dict(_X264_OPTIONS)
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=pixel_format)))
        container.mux(stream.encode())
    return buffer.getvalue()


def train_ids(count: int) -> list[int]:
    """First ~3/4 of ``count`` ids (at least one, and at least one left for validation)."""
    return list(range(max(1, min(count - 1, round(TRAIN_FRACTION * count)))))


def sample_key(label: int, subject: int, view: int, repeat_id: int) -> str:
    """NTU-style sample name, e.g. ``s003_v001_r000_a005``."""
    return f"s{subject:03d}_v{view:03d}_r{repeat_id:03d}_a{label:03d}"


def generate_synthetic(
    out_dir: str | os.PathLike[str],
    *,
    num_classes: int = 8,
    subjects: int = 8,
    views: int = 3,
    repeats: int = 2,
    frames: int = 16,
    size: int = 64,
    seed: int = 0,
    samples_per_shard: int = 64,
    progress: bool = True,
) -> Path:
    """Render, encode and shard the synthetic set into ``out_dir``; returns the path of its ``index.json``.

    num_classes * subjects * views * repeats samples, in a seeded random order so each shard mixes classes.
    """
    if not 2 <= num_classes <= len(CLASS_NAMES):
        raise ValueError(f"num_classes must be in [2, {len(CLASS_NAMES)}], got {num_classes}")
    if subjects < 2 or views < 2 or repeats < 1 or frames < 2:
        raise ValueError(
            f"need subjects >= 2, views >= 2, repeats >= 1, frames >= 2, got {subjects, views, repeats, frames}"
        )
    if size < 16 or size % 2:
        raise ValueError(f"size must be an even integer >= 16 (yuv420p), got {size}")
    params = {
        "num_classes": num_classes,
        "subjects": subjects,
        "views": views,
        "repeats": repeats,
        "frames": frames,
        "size": size,
        "seed": seed,
        "samples_per_shard": samples_per_shard,
    }
    combos = [
        (label, subject, view, rep)
        for label in range(num_classes)
        for subject in range(subjects)
        for view in range(views)
        for rep in range(repeats)
    ]
    order = np.random.default_rng([seed, 0]).permutation(len(combos))
    start, written = time.perf_counter(), 0
    with ShardWriter(out_dir, samples_per_shard) as writer:
        for i in order:
            label, subject, view, rep = combos[i]
            clip = render_sample(label, subject, view, rep, frames=frames, size=size, seed=seed)
            pose = io.BytesIO()
            np.save(pose, clip.pose)
            members = {
                "rgb.mp4": encode_video(clip.rgb),
                "depth.mp4": encode_video(clip.depth),
                "pose.npy": pose.getvalue(),
            }
            meta = {
                "label": label,
                "class_name": CLASS_NAMES[label],
                "subject": subject,
                "view": view,
                "repeat": rep,
                "frames": frames,
                "fps": FPS,
            }
            writer.add(sample_key(label, subject, view, rep), members, meta)
            written += 1
            if progress and (written % samples_per_shard == 0 or written == len(combos)):
                print(f"synthetic: {written}/{len(combos)} samples written to {out_dir}", flush=True)
    index = write_index(
        out_dir,
        dataset="synthetic",
        class_names=CLASS_NAMES[:num_classes],
        modalities=MODALITIES,
        shards=writer.shards,
        splits={
            "cross_subject": {"field": "subject", "train": train_ids(subjects), "val": _rest(subjects)},
            "cross_view": {"field": "view", "train": train_ids(views), "val": _rest(views)},
        },
        extra={
            "fps": FPS,
            "frames": frames,
            "frame_size": [size, size],
            "pose_format": "coco17: (frames, 17, 3) float32 x, y in pixels, score in [0, 1]",
            "depth_format": (
                f"8-bit grey, nearer = brighter: 255 * ({DEPTH_FAR_M} - metres) / {DEPTH_FAR_M - DEPTH_NEAR_M}"
            ),
            "generator": {"name": "actrec.data.synth", "version": SYNTHETIC_GENERATOR_VERSION, "params": params},
        },
    )
    if progress:
        print(f"synthetic: done, {len(combos)} samples in {time.perf_counter() - start:.1f}s -> {index}", flush=True)
    return index


def _rest(count: int) -> list[int]:
    return [i for i in range(count) if i not in set(train_ids(count))]


def ensure_synthetic(cfg: DataConfig, *, progress: bool = True) -> Path:
    """Root of the synthetic set ``cfg`` describes.

    ``data.root`` empty: the per-parameter cache directory (``default_synthetic_root``), generated there on first
    use. Generation goes to a temporary sibling directory that is renamed into place when complete, under an
    exclusive file lock, so concurrent callers (several Ray workers) generate once and a crash never leaves a
    half-written dataset under the final name.

    ``data.root`` set: a data root is only ever read. It must hold a synthetic set with the same generator
    parameters (write one with ``actrec data synth --out DIR``); a missing or empty root is an error naming it.
    """
    if cfg.root:
        root = Path(cfg.root).expanduser()
        _check_generator(root, load_index(root), cfg)
        return root
    root = default_synthetic_root(cfg)
    if not (root / INDEX_NAME).is_file():
        root.parent.mkdir(parents=True, exist_ok=True)
        with open(root.parent / f".{root.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (root / INDEX_NAME).is_file():
                _generate_into(root, cfg, progress=progress)
    _check_generator(root, load_index(root), cfg)
    return root


def _check_generator(root: Path, index: dict, cfg: DataConfig) -> None:
    """The set at ``root`` was generated with exactly ``cfg``'s ``synth_*`` parameters."""
    found = index.get("generator", {})
    expected = {"name": "actrec.data.synth", "version": SYNTHETIC_GENERATOR_VERSION, "params": cfg.synth_params()}
    if found != expected:
        raise ValueError(
            f"{root} holds a dataset generated with {found}, but the config asks for {expected}; "
            "point data.root elsewhere (or leave it empty for the per-parameter cache directory)"
        )


def _generate_into(root: Path, cfg: DataConfig, *, progress: bool) -> None:
    if root.exists():
        if any(root.iterdir()):
            raise FileExistsError(f"{root} exists, is not empty and has no {INDEX_NAME}; refusing to write into it")
        root.rmdir()
    tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.tmp-"))
    try:
        generate_synthetic(tmp, **cfg.synth_params(), progress=progress)
        os.rename(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
