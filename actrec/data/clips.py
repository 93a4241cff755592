"""One sample's member bytes -> model input views: decode, sample frames, transform (the per-clip work).

Sampler, decoder and transform are separate pieces as in PyTorchVideo (Fan et al., ACM MM 2021, Sec. 3):
``actrec.data.sampling`` picks frame indices (TSN segments, uniform, dense), ``actrec.data.decode`` decodes them
(decord for videos, PIL for 16-bit depth PNGs), ``actrec.data.transforms`` / ``actrec.data.pose`` crop, flip,
rotate, jitter and render. Training yields one view; evaluation yields ``test_clips x test_crops`` views whose
scores the train loop averages (multi-view testing, e.g. SlowFast: Feichtenhofer et al., ICCV 2019, Sec. 4).

Members by modality: RGB ``rgb.mp4``; depth ``depth.mp4`` (8-bit grey video) or ``depth16.tar`` (16-bit PNG
frames, mapped to [0, 1] by ``depth_near_mm``/``depth_far_mm``, nearer = brighter); pose ``pose.npy`` rendered as
Gaussian pseudo-heatmaps aligned with the RGB crop (PoseC3D: Duan et al., CVPR 2022, Sec. 3.1). RGB-D
(``rgbd``, two-stream late fusion, MFST Tables I/II RGB+DEP rows) reads the rgb and the depth member, renders each
exactly as its single modality would and stacks them on channels (RGB 3, then depth 3); when training each stream
draws its own frames, crop and augmentation (late fusion needs no pixel alignment), at evaluation both streams take
the same deterministic views. RGB + pose (``rgb_pose``, EPAM-Net's two inputs) reads the rgb and the pose member and
cuts both from the same frames and skeleton box: ``actrec.data.rgb_pose.load_rgb_pose_views``.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from einops import rearrange
from PIL import Image

from actrec.data.config import MODALITY_STREAMS, DataConfig
from actrec.data.decode import CorruptVideoError, read_clip
from actrec.data.pose import limbs_for, pose_heatmaps
from actrec.data.sampling import sample_indices
from actrec.data.transforms import (
    Geometry,
    apply_geometry,
    augment_geometry,
    centre_crop_geometry,
    colour_jitter,
    depth_to_three_channels,
    depth_to_unit,
    normalise,
    random_crop_geometry,
    random_resized_crop_geometry,
    three_crop_geometries,
    transform_points,
)

# Members of datasets written before index["members"] existed (the synthetic generator).
DEFAULT_MEMBERS = {"rgb": "rgb.mp4", "depth": "depth.mp4", "pose": "pose.npy"}


def member_for(index: Mapping[str, Any], modality: str) -> str:
    """Shard member extension that holds ``modality`` in this dataset; ValueError if it has none."""
    members = index.get("members", DEFAULT_MEMBERS)
    if modality not in members or modality not in index.get("modalities", members):
        raise ValueError(
            f"dataset {index.get('dataset')!r} has no {modality!r} member (modalities: {list(members)}); "
            "choose another data.modality"
        )
    return members[modality]


def members_for(index: Mapping[str, Any], modality: str) -> tuple[str, ...]:
    """Shard members a sample of ``modality`` is read from, one per stream (``DataConfig.streams`` order): one
    member, (rgb member, depth member) for "rgbd" or (rgb member, pose member) for "rgb_pose". ValueError naming
    data.modality if the dataset lacks one."""
    streams = MODALITY_STREAMS.get(modality, (modality,))
    if len(streams) == 1:
        return (member_for(index, modality),)
    try:
        return tuple(member_for(index, stream) for stream in streams)
    except ValueError as error:
        read = " and the ".join(streams)
        raise ValueError(f"data.modality={modality!r} reads the {read} member of each sample: {error}") from None


def decoded_size(frame_size: Sequence[int], short_side: int) -> tuple[int, int]:
    """(width, height) that scales a (height, width) frame so its short side is ``short_side``."""
    height, width = int(frame_size[0]), int(frame_size[1])
    if height <= width:
        return round(width * short_side / height), short_side
    return short_side, round(height * short_side / width)


# Left/right joint pairs swapped when a clip is mirrored (a mirrored left wrist is a right wrist).
_MIRROR_PAIRS = {
    17: ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),  # COCO
    # Kinect v2 / NTU (0-based): shoulder, elbow, wrist, hand, hip, knee, ankle, foot, hand tip, thumb.
    25: ((4, 8), (5, 9), (6, 10), (7, 11), (12, 16), (13, 17), (14, 18), (15, 19), (21, 23), (22, 24)),
}


def flip_joints(joints: np.ndarray) -> np.ndarray:
    """Swap left and right joints of (..., J, 3) after a horizontal flip (positions are already mirrored)."""
    pairs = _MIRROR_PAIRS.get(joints.shape[-2])
    if pairs is None:
        raise ValueError(f"no left/right joint table for {joints.shape[-2]}-joint poses")
    order = np.arange(joints.shape[-2])
    for left, right in pairs:
        order[left], order[right] = right, left
    return joints[..., order, :]


def load_views(
    data: bytes,
    cfg: DataConfig,
    *,
    member: str,
    training: bool,
    rng: np.random.Generator | None,
    frame_size: Sequence[int],
    modality: str | None = None,
    encode: bool = False,
) -> np.ndarray:
    """Member bytes -> float32 (V, C, T, S, S); V = 1 when training, ``cfg.num_views`` at evaluation. ``encode``:
    uint8 instead, what the pipeline's rows carry (:func:`encode_unit`; :func:`actrec.data.transforms.model_inputs`
    turns it into the float32 input on the training worker).

    ``frame_size`` is the stored (height, width) of the sample's frames (of the RGB video for pose, whose joints
    are in its pixels). ``modality`` is the single modality the member holds (default ``cfg.modality``; "rgbd"
    samples go through ``load_modality_views``). Raises CorruptVideoError when the member cannot be decoded.
    """
    modality = cfg.modality if modality is None else modality
    if modality not in ("rgb", "depth", "pose"):
        raise ValueError(
            f"load_views reads one member of one modality, got data.modality={modality!r}; "
            "use load_modality_views for multi-stream modalities"
        )
    if training and rng is None:
        raise ValueError("training needs an rng")
    clips = 1 if training else cfg.test_clips
    width, height = decoded_size(frame_size, cfg.resize)
    choose = _chooser(cfg, training=training, rng=rng, clips=clips)
    if member.endswith(".mp4"):
        frames = read_clip(data, choose, width=width, height=height)  # (clips*T, h, w, 3) uint8
        if modality == "depth":
            frames = frames[..., :1].astype(np.float32) / 255.0  # grey depth video: R = G = B
    elif member.endswith(".tar"):
        frames = _read_depth16(data, choose, width=width, height=height)
        frames = depth_to_unit(frames, near=cfg.depth_near_mm, far=cfg.depth_far_mm)[..., None]
    elif member.endswith(".npy"):
        frames = _read_pose(data, choose, scale=(width / int(frame_size[1]), height / int(frame_size[0])))
    else:
        raise ValueError(f"unknown member type {member!r}")

    views = []
    for clip_frames in np.split(frames, clips):
        for geometry in _geometries(height, width, cfg, training=training, rng=rng):
            views.append(
                _render(clip_frames, geometry, cfg, modality=modality, training=training, rng=rng, encode=encode)
            )
    return np.ascontiguousarray(np.stack(views))


def load_joint_views(
    data: bytes,
    cfg: DataConfig,
    *,
    training: bool,
    rng: np.random.Generator | None,
    frame_size: Sequence[int],
) -> np.ndarray:
    """A ``pose.npy`` member -> float32 (V, T, M, J, 3) joints (x, y, confidence) in pixels of the crop.

    The frames, crops and flips are the ones ``load_views`` gives the RGB member for the same ``cfg`` and views
    (at evaluation exactly; when training, the same draws for an ``rng`` in the same state), so the joints of
    view v, frame t locate the actor in ``load_views(rgb)[v][:, t]``. Raises CorruptVideoError when unreadable.
    """
    if training and rng is None:
        raise ValueError("training needs an rng")
    clips = 1 if training else cfg.test_clips
    width, height = decoded_size(frame_size, cfg.resize)
    choose = _chooser(cfg, training=training, rng=rng, clips=clips)
    joints = _read_pose(data, choose, scale=(width / int(frame_size[1]), height / int(frame_size[0])))
    views = [
        _view_joints(clip_joints, geometry)
        for clip_joints in np.split(joints, clips)
        for geometry in _geometries(height, width, cfg, training=training, rng=rng)
    ]
    return np.ascontiguousarray(np.stack(views)).astype(np.float32)


def _chooser(cfg: DataConfig, *, training: bool, rng: np.random.Generator | None, clips: int):
    """Frame indices of ``clips`` clips of ``cfg.num_frames`` frames for a video of ``total`` frames."""

    def choose(total: int) -> np.ndarray:
        return np.concatenate(
            [
                sample_indices(
                    cfg.sampling,
                    total,
                    cfg.num_frames,
                    interval=cfg.frame_interval,
                    training=training,
                    rng=rng,
                    clip=clip,
                    num_clips=clips,
                )
                for clip in range(clips)
            ]
        )

    return choose


def _view_joints(joints: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Joints (T, M, J, 3) in decoded pixels -> the same joints in pixels of the view ``geometry`` crops."""
    joints = joints.copy()
    joints[..., :2] = transform_points(joints[..., :2], geometry)
    return flip_joints(joints) if geometry.flip else joints


def load_modality_views(
    data: Sequence[bytes],
    cfg: DataConfig,
    *,
    members: Sequence[str],
    training: bool,
    rng: np.random.Generator | None,
    frame_sizes: Sequence[Sequence[int]],
    encode: bool = False,
) -> np.ndarray:
    """One sample's members, one per stream of ``cfg.modality`` (``cfg.streams``) -> float32 (V, C, T, S, S)
    (``encode``: uint8, as :func:`load_views`).

    Each stream is rendered by ``load_views`` exactly as its single modality would be and the streams are
    concatenated on channels (``rgbd``: RGB 3 then depth 3). Training draws each stream's frames, crop and
    augmentation separately from ``rng`` (colour jitter only touches RGB); evaluation views are deterministic, so
    both streams see the same frames and crops. Raises CorruptVideoError when a member cannot be decoded.
    """
    streams = cfg.streams
    if cfg.modality == "rgb_pose":
        raise ValueError(
            "data.modality='rgb_pose' gives two model inputs, not stacked channels: "
            "use actrec.data.rgb_pose.load_rgb_pose_views"
        )
    if not len(data) == len(members) == len(frame_sizes) == len(streams):
        raise ValueError(
            f"data.modality={cfg.modality!r} reads {len(streams)} member(s) {streams}, got {len(data)} member bytes, "
            f"{len(members)} member names and {len(frame_sizes)} frame sizes"
        )
    views = [
        load_views(
            payload,
            cfg,
            member=member,
            training=training,
            rng=rng,
            frame_size=frame_size,
            modality=stream,
            encode=encode,
        )
        for payload, member, frame_size, stream in zip(data, members, frame_sizes, streams, strict=True)
    ]
    return views[0] if len(views) == 1 else np.ascontiguousarray(np.concatenate(views, axis=1))


def _geometries(
    height: int, width: int, cfg: DataConfig, *, training: bool, rng: np.random.Generator | None
) -> list[Geometry]:
    size = cfg.crop_size
    if not training:
        if cfg.test_crops == 3:
            return list(three_crop_geometries(height, width, size))
        return [centre_crop_geometry(height, width, size)]
    assert rng is not None
    if cfg.train_crop == "random_resized":
        geometry = random_resized_crop_geometry(height, width, size, scale=(cfg.crop_scale_min, 1.0), rng=rng)
    else:
        geometry = random_crop_geometry(height, width, size, rng)
    if cfg.flip_prob > 0 or cfg.rotation_deg > 0:
        geometry = augment_geometry(geometry, flip_prob=cfg.flip_prob, max_rotation=cfg.rotation_deg, rng=rng)
    return [geometry]


def _render(
    frames: np.ndarray,
    geometry: Geometry,
    cfg: DataConfig,
    *,
    modality: str,
    training: bool,
    rng: np.random.Generator | None,
    encode: bool = False,
) -> np.ndarray:
    """One view: frames of one clip (decoded) of one single ``modality`` -> float32 (C, T, S, S) (``encode``: uint8,
    :func:`encode_unit`)."""
    if modality == "pose":
        joints = _view_joints(frames, geometry)
        limbs = limbs_for(joints.shape[-2]) if cfg.pose_limbs else None
        maps = pose_heatmaps(joints, height=cfg.crop_size, width=cfg.crop_size, sigma=cfg.pose_sigma, limbs=limbs)
        return encode_unit(maps) if encode else maps
    if modality == "depth":
        # Nearest neighbour: bilinear would blend no-reading zeros into real depths at object borders.
        depth = apply_geometry(frames, geometry, interpolation="nearest")[..., 0]  # (T, S, S) in [0, 1]
        unit = depth_to_three_channels(depth, cfg.depth_mode)  # (T, S, S, 3) in [0, 1]
        return encode_unit(rearrange(unit, "t h w c -> c t h w")) if encode else normalise(unit, cfg.mean, cfg.std)
    return render_rgb(apply_geometry(frames, geometry), cfg, training=training, rng=rng, encode=encode)


def render_rgb(
    crop: np.ndarray, cfg: DataConfig, *, training: bool, rng: np.random.Generator | None, encode: bool = False
) -> np.ndarray:
    """An RGB crop uint8 (T, S, S, 3) -> float32 (3, T, S, S): colour jitter when training (``cfg.colour_jitter``),
    then [0, 1] pixels normalised by ``cfg.mean`` / ``cfg.std`` (``encode``: the jittered uint8 pixels, (3, T, S, S),
    which ``actrec.data.transforms.model_inputs`` turns into exactly the same float32 on a CPU)."""
    if training and cfg.colour_jitter > 0:
        strength = cfg.colour_jitter
        crop = colour_jitter(
            crop, brightness=strength, contrast=strength, saturation=strength, hue=strength / 4, rng=rng
        )
    if encode:
        return np.ascontiguousarray(rearrange(crop, "t h w c -> c t h w"))
    return normalise(crop, cfg.mean, cfg.std)


def encode_unit(unit: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (frames, rendered depth, pose heatmaps) -> uint8 ``round(255 x value)``: what a pipeline row
    carries through Ray's object store, a quarter of float32's bytes. Exact for 8-bit pixels (RGB, grey depth
    video); otherwise (16-bit depth, jet-coloured depth, heatmaps) within 1/510 of the value."""
    return np.clip(np.rint(np.asarray(unit, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def _read_depth16(data: bytes, choose, *, width: int, height: int) -> np.ndarray:
    """Nested tar of 16-bit PNG frames -> uint16 (t, height, width), nearest-neighbour resized."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)
            if not members:
                raise CorruptVideoError("depth16 member holds no frames")
            indices = [int(i) for i in choose(len(members))]
            decoded: dict[int, np.ndarray] = {}
            for i in sorted(set(indices)):
                handle = tar.extractfile(members[i])
                assert handle is not None
                with Image.open(io.BytesIO(handle.read())) as image:
                    depth = np.asarray(image).astype(np.uint16)
                rows = (np.arange(height) * depth.shape[0] / height).astype(np.int64)
                cols = (np.arange(width) * depth.shape[1] / width).astype(np.int64)
                decoded[i] = depth[rows][:, cols]
    except (tarfile.TarError, OSError, ValueError, SyntaxError) as error:
        raise CorruptVideoError(f"cannot decode depth16 frames: {error}"[:400]) from error
    return np.stack([decoded[i] for i in indices])


def _read_pose(data: bytes, choose, *, scale: tuple[float, float]) -> np.ndarray:
    """pose.npy -> float32 (t, M, J, 3) joints of the chosen frames, x/y scaled to the decoded frame size."""
    joints = read_joints(data, scale=scale)
    return joints[np.asarray(choose(len(joints)), dtype=np.int64)]


def read_joints(data: bytes, *, scale: tuple[float, float]) -> np.ndarray:
    """pose.npy -> float32 (T, M, J, 3) joints of every frame, x/y multiplied by ``scale`` (x, y) (stored frame pixels
    -> decoded frame pixels). Raises CorruptVideoError when the array cannot be read or has another shape."""
    try:
        joints = np.load(io.BytesIO(data), allow_pickle=False).astype(np.float32)
    except (OSError, ValueError) as error:
        raise CorruptVideoError(f"cannot read pose array: {error}"[:400]) from error
    if joints.ndim == 3:  # synthetic: (T, J, 3), one person
        joints = joints[:, None]
    if joints.ndim != 4 or joints.shape[-1] != 3 or len(joints) == 0:
        raise CorruptVideoError(f"pose array has shape {joints.shape}, expected (T, M, J, 3)")
    joints[..., 0] *= scale[0]
    joints[..., 1] *= scale[1]
    return joints
