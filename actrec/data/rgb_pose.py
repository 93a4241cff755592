"""EPAM-Net's two inputs cut from one clip: a person-centred RGB clip and a pose pseudo-heatmap volume (Abdelkawy,
Ali & Farag, "EPAM-Net: An Efficient Pose-driven Attention-guided Multimodal Network for Video Action Recognition",
2024, §3, §3.2, §3.3).

The paper: "we first determine the minimum bounding box that encompasses all 2D human skeletons across video frames.
Then, each frame is cropped according to this bounding box and resized to the target dimensions" (§3); the pose
stream reads "the pseudo-heatmap volume constructed from N uniformly sampled frames", the RGB stream "M frames
selected from these N frames by sampling one out of every N/M frames" (Fig. 2), N = 48 heatmaps of 56² and M = 16
frames of 224² (Tables 1, 2). Heatmaps follow PoseC3D (Duan et al., CVPR 2022), whose pipeline the paper cites.

One sample, step by step (joints and frames in the same pixels, e.g. joints scaled to the decoded frame size as
``actrec.data.clips`` does)::

    pose_idx, rgb_idx = pose_rgb_indices(len(joints), training=training, rng=rng)
    box = skeleton_box(joints, frames.shape[1:3])  # (height, width); over the whole clip, all persons
    rgb = crop_frames(frames[rgb_idx], box, 224)  # (16, 224, 224, 3)
    heatmaps = pose_volume(joints, box, frame_indices=pose_idx)  # (17, 48, 56, 56)

Details the paper leaves open, and the choice made here:

* **Box margin** (``margin=0.25``): the minimum box is widened about its centre to 1.25x its width and height,
  PoseC3D's ``PoseCompact(padding=0.25)`` (the paper says "minimum", but a tight box cuts joints' Gaussians and the
  hands' objects in half; ``margin=0`` gives the tight box).
* **Square** (``square=True``): the shorter side is widened to the longer one (PoseC3D's ``hw_ratio=1.0``), so the
  resize to 224² / 56² does not change the body's aspect ratio.
* **Clamped** (``clamp=True``): a box reaching out of the frame is shifted back inside (keeping its size, so it stays
  square), and only a side longer than the frame is cut to the frame (the one case where the crop is then
  stretched). ``clamp=False`` keeps the box as is and reads zeros outside the frame (PoseC3D's
  ``allow_imgpad=True``).
* **Fallback**: no confident joint in the clip, or a tight box narrower or shorter than ``min_extent`` pixels (10,
  PoseC3D's ``threshold``), gives the whole frame.
* **Sigma** (``sigma=0.6``, in pixels of the 56² heatmap): PoseC3D's ``GeneratePoseTarget(sigma=0.6)``; joint maps
  are scaled by the confidence (Eq. (1) with PoseC3D's ``use_score=True``).
* **Sampling**: the 48 pose frames are TSN segments (``actrec.data.sampling.segment_indices``: a random frame per
  segment when training, the centre at evaluation), PoseC3D's ``UniformSampleFrames``; the 16 RGB frames are pose
  frames ``0, 3, 6, ...`` — the frames ``actrec.layers.pose_attention.time_strided_sampling`` keeps of the pose
  features, so the attention compares features of the same instants.
* **Resize**: bilinear ``actrec.data.transforms.apply_geometry`` without antialiasing, so the box should be at most
  ~2x the output size (decode at a short side near the crop size, as for every other clip).

``load_rgb_pose_views`` runs this recipe on a sample's ``rgb.mp4`` and ``pose.npy`` members for the data pipeline
(``data.modality="rgb_pose"``): M = ``data.num_frames`` frames at ``data.crop_size``, N = ``data.pose_volume_frames``
heatmaps of ``data.pose_volume_size`` with ``data.pose_volume_sigma``, frames decoded at short side ``data.resize``.
Its own choices:

* **Frame count**: when the video and the skeleton sequence differ in length (prepared sets record both,
  ``rgb_frames`` and ``pose_frames`` in a sample's metadata), frames are sampled over the shorter of the two, so
  index i is frame i of both.
* **Flip** (``data.flip_prob``, training only): the RGB crop is mirrored and the joints mirrored about the box's
  vertical centre line, their left/right joints swapped (``actrec.data.clips.flip_joints``), so the heatmaps are those
  of the mirrored crop. One draw per sample; the paper lists no augmentation.
* **Colour jitter** (``data.colour_jitter``) touches the RGB crop only, as for ``rgb``; no random crop or rotation
  (the crop is the skeleton box).
* **Evaluation views**: ``data.test_clips`` temporal views (``pose_rgb_indices``' ``clip``), one box each.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from actrec.data.clips import decoded_size, encode_unit, flip_joints, read_joints, render_rgb
from actrec.data.config import DataConfig
from actrec.data.decode import read_clip
from actrec.data.pose import limbs_for, pose_heatmaps
from actrec.data.sampling import segment_indices
from actrec.data.transforms import Geometry, apply_geometry, transform_points

# EPAM-Net's input sizes (Tables 1, 2) and PoseC3D's heatmap defaults, which the paper's pipeline follows.
POSE_FRAMES = 48  # N, Table 2 "data layer 48x56x56"
RGB_FRAMES = 16  # M, Table 1 "data layer 16x224x224"
POSE_SIZE = 56  # heatmap side, Table 2
RGB_SIZE = 224  # RGB crop side, Table 1
POSE_SIGMA = 0.6  # Gaussian sigma in heatmap pixels (PoseC3D's GeneratePoseTarget default)
BOX_MARGIN = 0.25  # box widening about its centre (PoseC3D's PoseCompact padding)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SkeletonBox:
    """A region ``[x0, x1) x [y0, y1)`` of the frame in continuous pixel coordinates (``actrec.data.transforms``:
    pixel (row i, column j) covers ``[j, j + 1) x [i, i + 1)``); it may reach outside the frame (zeros there)."""

    x0: float  # left edge, frame pixels
    y0: float  # top edge, frame pixels
    x1: float  # right edge, frame pixels (> x0)
    y1: float  # bottom edge, frame pixels (> y0)

    def __post_init__(self) -> None:
        for name in ("x0", "y0", "x1", "y1"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"SkeletonBox.{name} must be finite, got {getattr(self, name)}")
        if not (self.x1 > self.x0 and self.y1 > self.y0):
            raise ValueError(f"SkeletonBox needs x1 > x0 and y1 > y0, got ({self.x0}, {self.y0}, {self.x1}, {self.y1})")

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def geometry(self, size: int) -> Geometry:
        """The transform that crops this box and resizes it to ``size`` x ``size`` (for frames and joints alike)."""
        return Geometry(top=self.y0, left=self.x0, height=self.height, width=self.width, size=_check_size(size))


def skeleton_box(
    joints: np.ndarray,
    frame_size: Sequence[int],
    *,
    margin: float = BOX_MARGIN,
    min_confidence: float = 0.0,
    square: bool = True,
    clamp: bool = True,
    min_extent: float = 10.0,
) -> SkeletonBox:
    """The skeletons' bounding box of a clip (§3): all confident joints of all frames and persons.

    ``joints``: (T, J, 3) or (T, M, J, 3) of (x, y, confidence) in the frame's continuous pixel coordinates;
    ``frame_size``: (height, width) of the frames. A joint counts when its values are finite and its confidence
    is > ``min_confidence``. The tight box around them is widened about its centre by ``1 + margin`` in each
    direction, made square (``square``: the shorter side grows to the longer) and, with ``clamp``, moved inside the
    frame (a side longer than the frame is cut to it). Without confident joints, or when the tight box is narrower
    or shorter than ``min_extent`` pixels, the box is the whole frame ``(0, 0, width, height)``.
    """
    points = _check_joints(joints)
    height, width = _check_frame_size(frame_size)
    if not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a finite number >= 0, got {margin}")
    if not (math.isfinite(min_confidence) and min_confidence >= 0):
        raise ValueError(f"min_confidence must be a finite number >= 0, got {min_confidence}")
    if not (math.isfinite(min_extent) and min_extent >= 0):
        raise ValueError(f"min_extent must be a finite number >= 0, got {min_extent}")
    whole = SkeletonBox(x0=0.0, y0=0.0, x1=float(width), y1=float(height))

    confident = np.isfinite(points).all(axis=-1) & (points[..., 2] > min_confidence)  # (T, M, J)
    if not confident.any():
        return whole
    xy = points[confident][:, :2]  # (P, 2)
    (left, top), (right, bottom) = xy.min(axis=0), xy.max(axis=0)
    if right - left < min_extent or bottom - top < min_extent or right <= left or bottom <= top:
        return whole
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    half_w, half_h = (right - left) / 2 * (1 + margin), (bottom - top) / 2 * (1 + margin)
    if square:
        half_w = half_h = max(half_w, half_h)
    x0, x1 = centre_x - half_w, centre_x + half_w
    y0, y1 = centre_y - half_h, centre_y + half_h
    if clamp:
        x0, x1 = _fit_inside(x0, x1, width)
        y0, y1 = _fit_inside(y0, y1, height)
    return SkeletonBox(x0=float(x0), y0=float(y0), x1=float(x1), y1=float(y1))


def crop_frames(frames: np.ndarray, box: SkeletonBox, size: int = RGB_SIZE) -> np.ndarray:
    """(T, H, W, C) clip (uint8 or float) -> the box of every frame resized to (T, size, size, C), same dtype.

    Bilinear resampling by ``actrec.data.transforms.apply_geometry`` (pixel centres as ``grid_sample`` with
    ``align_corners=False``; zeros outside the frame; integer dtypes rounded). The same geometry maps joints in
    ``joints_to_box``, so frames and heatmaps stay aligned.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"frames must be (T, H, W, C), got shape {frames.shape}")
    return apply_geometry(frames, box.geometry(size), interpolation="bilinear")


def joints_to_box(joints: np.ndarray, box: SkeletonBox, size: int) -> np.ndarray:
    """Joints (T, J, 3) or (T, M, J, 3) in frame pixels -> float32, same shape, (x, y) in pixels of the ``size`` x
    ``size`` crop of ``box`` (where ``crop_frames`` puts those frame pixels); confidences unchanged."""
    out = _check_joints(joints).astype(np.float32)
    out[..., :2] = transform_points(out[..., :2], box.geometry(size))
    return out.reshape(np.shape(joints))


def pose_volume(
    joints: np.ndarray,
    box: SkeletonBox,
    *,
    size: int = POSE_SIZE,
    sigma: float = POSE_SIGMA,
    with_limbs: bool = False,
    frame_indices: Sequence[int] | np.ndarray | None = None,
) -> np.ndarray:
    """Joints of a clip (T, J, 3) or (T, M, J, 3) in frame pixels -> float32 pseudo-heatmaps (C, N, size, size)
    of the box (§3.2 Eq. (1), PoseC3D).

    ``frame_indices`` (N,) picks the frames (``pose_rgb_indices``' pose indices; repeats allowed; None = all T).
    Joints are mapped by ``joints_to_box`` and rendered by ``actrec.data.pose.pose_heatmaps``: C = J joint maps
    (K = 17 for COCO), ``exp(-d^2 / (2 sigma^2)) * confidence``, persons merged by maximum; with ``with_limbs``,
    C = one limb map per skeleton edge (``actrec.data.pose.limbs_for``: COCO 17 or NTU 25 joints). ``sigma`` is in
    heatmap pixels. Joints with confidence <= 0 give empty maps.
    """
    points = _check_joints(joints)
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a finite number > 0, got {sigma}")
    size = _check_size(size)
    if frame_indices is not None:
        indices = np.asarray(frame_indices)
        if indices.ndim != 1 or indices.size == 0 or indices.dtype.kind not in "iu":
            raise ValueError(
                f"frame_indices must be a non-empty 1-D integer array, got {indices.dtype} {indices.shape}"
            )
        if indices.min() < 0 or indices.max() >= len(points):
            raise ValueError(f"frame_indices must be in [0, {len(points)}), got [{indices.min()}, {indices.max()}]")
        points = points[indices]
    if len(points) == 0:
        raise ValueError("joints must hold at least one frame")
    limbs = limbs_for(points.shape[-2]) if with_limbs else None
    mapped = joints_to_box(points, box, size)  # (N, M, J, 3) in heatmap pixels
    return pose_heatmaps(mapped, height=size, width=size, sigma=sigma, limbs=limbs)


def pose_rgb_indices(
    num_frames_available: int,
    *,
    pose_frames: int = POSE_FRAMES,
    rgb_frames: int = RGB_FRAMES,
    training: bool,
    rng: np.random.Generator | None = None,
    clip: int = 0,
    num_clips: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Time-aligned frame indices of one sample: (pose (pose_frames,), rgb (rgb_frames,)), sorted int64 in
    ``[0, num_frames_available)``.

    The pose indices are TSN segments over the whole clip (``segment_indices``: training draws a random frame in each
    of ``pose_frames`` equal segments and needs ``rng``; evaluation view ``clip`` of ``num_clips`` takes a fixed
    offset, the segment centre for one view); clips shorter than ``pose_frames`` repeat frames. The RGB indices are
    ``pose[::pose_frames // rgb_frames]`` (Fig. 2 "one out of every N/M frames"), so RGB frame m is pose frame
    ``m * N / M``, the one ``time_strided_sampling`` keeps of the pose features (§3.3).
    """
    for name, value in (("pose_frames", pose_frames), ("rgb_frames", rgb_frames)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value}")
    if pose_frames % rgb_frames:
        raise ValueError(
            f"pose_frames ({pose_frames}) must be a multiple of rgb_frames ({rgb_frames}) for time-strided sampling"
        )
    if int(num_frames_available) != num_frames_available or num_frames_available < 1:
        raise ValueError(f"num_frames_available must be an integer >= 1, got {num_frames_available}")
    pose = segment_indices(
        int(num_frames_available), int(pose_frames), training=training, rng=rng, clip=clip, num_clips=num_clips
    )
    return pose, pose[:: pose_frames // rgb_frames].copy()


def load_rgb_pose_views(
    data: Sequence[bytes],
    cfg: DataConfig,
    *,
    members: Sequence[str],
    training: bool,
    rng: np.random.Generator | None,
    frame_size: Sequence[int],
    encode: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """One sample's rgb and pose member bytes (``members``: e.g. ``("rgb.mp4", "pose.npy")``) -> the two EPAM-Net
    inputs of ``data.modality="rgb_pose"`` (§3, Fig. 2): RGB views float32 (V, 3, M, S, S), normalised as ``rgb``, and
    pose heatmap views float32 (V, C, N, P, P) of the same frames and skeleton box (C = ``cfg.pose_channels``); uint8
    with ``encode``.

    V = 1 when training (random TSN offsets, flip, colour jitter from ``rng``), ``cfg.test_clips`` at evaluation
    (deterministic). ``frame_size`` is the stored (height, width) of the RGB video, whose pixels the joints are in.
    ``encode``: both as uint8 (``actrec.data.clips.encode_unit``), what the pipeline's rows carry. Raises
    CorruptVideoError when a member cannot be decoded.
    """
    if cfg.modality != "rgb_pose":
        raise ValueError(f"load_rgb_pose_views reads data.modality='rgb_pose' samples, got {cfg.modality!r}")
    if len(data) != 2 or len(members) != 2:
        raise ValueError(f"data.modality='rgb_pose' reads 2 members (rgb, pose), got {len(data)} bytes for {members}")
    if not (members[0].endswith(".mp4") and members[1].endswith(".npy")):
        raise ValueError(f"data.modality='rgb_pose' reads an .mp4 rgb and an .npy pose member, got {tuple(members)}")
    if training and rng is None:
        raise ValueError("training needs an rng")
    clips = 1 if training else cfg.test_clips
    width, height = decoded_size(frame_size, cfg.resize)
    joints = read_joints(data[1], scale=(width / int(frame_size[1]), height / int(frame_size[0])))  # (T, M, J, 3)
    pose_indices: list[np.ndarray] = []

    def choose(video_frames: int) -> np.ndarray:
        rgb_indices = []
        for clip in range(clips):
            pose, rgb = pose_rgb_indices(
                min(video_frames, len(joints)),
                pose_frames=cfg.pose_volume_frames,
                rgb_frames=cfg.num_frames,
                training=training,
                rng=rng,
                clip=clip,
                num_clips=clips,
            )
            pose_indices.append(pose)
            rgb_indices.append(rgb)
        return np.concatenate(rgb_indices)

    frames = read_clip(data[0], choose, width=width, height=height)  # (clips * M, h, w, 3) uint8
    box = skeleton_box(joints, (height, width))  # all frames and persons of the clip (§3)
    flip = training and cfg.flip_prob > 0 and rng.random() < cfg.flip_prob  # type: ignore[union-attr]
    if flip:
        joints = joints.copy()
        joints[..., 0] = box.x0 + box.x1 - joints[..., 0]  # mirrored about the box's vertical centre line
        joints = flip_joints(joints)
    rgb_views, pose_views = [], []
    for clip_frames, pose in zip(np.split(frames, clips), pose_indices, strict=True):
        crop = crop_frames(clip_frames, box, cfg.crop_size)  # (M, S, S, 3) uint8
        if flip:
            crop = np.ascontiguousarray(crop[:, :, ::-1])
        rgb_views.append(render_rgb(crop, cfg, training=training, rng=rng, encode=encode))
        volume = pose_volume(
            joints,
            box,
            size=cfg.pose_volume_size,
            sigma=cfg.pose_volume_sigma,
            with_limbs=cfg.pose_limbs,
            frame_indices=pose,
        )
        pose_views.append(encode_unit(volume) if encode else volume)
    return np.stack(rgb_views), np.stack(pose_views)


def _check_joints(joints: np.ndarray) -> np.ndarray:
    """(T, J, 3) or (T, M, J, 3) -> float64 (T, M, J, 3); ValueError naming ``joints`` otherwise."""
    points = np.asarray(joints)
    if points.ndim not in (3, 4) or points.shape[-1] != 3 or points.dtype.kind not in "iuf":
        raise ValueError(
            f"joints must be a numeric (T, J, 3) or (T, M, J, 3) array of (x, y, confidence), "
            f"got {points.dtype} {points.shape}"
        )
    points = points.astype(np.float64)
    return points[:, None] if points.ndim == 3 else points


def _check_frame_size(frame_size: Sequence[int]) -> tuple[int, int]:
    if len(frame_size) != 2 or any(int(s) != s or s < 1 for s in frame_size):
        raise ValueError(f"frame_size must be (height, width) of integers >= 1, got {tuple(frame_size)}")
    return int(frame_size[0]), int(frame_size[1])


def _check_size(size: int) -> int:
    if isinstance(size, bool) or int(size) != size or size < 1:
        raise ValueError(f"size must be an integer >= 1, got {size!r}")
    return int(size)


def _fit_inside(start: float, stop: float, extent: int) -> tuple[float, float]:
    """Shift ``[start, stop)`` into ``[0, extent)`` keeping its length; cut it to the frame if it is longer."""
    length = stop - start
    if length >= extent:
        return 0.0, float(extent)
    start = min(max(start, 0.0), extent - length)
    return start, start + length
