"""actrec.data.rgb_pose: EPAM-Net's skeleton-box crop, pose volumes and time-aligned RGB / pose indices."""

from __future__ import annotations

import numpy as np
import pytest

from actrec.data.rgb_pose import (
    SkeletonBox,
    crop_frames,
    joints_to_box,
    pose_rgb_indices,
    pose_volume,
    skeleton_box,
)
from actrec.data.synth import render_sample


def _joints(rng: np.random.Generator, frames: int, persons: int, *, low, high) -> np.ndarray:
    """(T, M, 17, 3) joints uniform in [low, high) (x, y) with confidences in [0.5, 1)."""
    xy = rng.uniform(low, high, size=(frames, persons, 17, 2))
    return np.concatenate([xy, rng.uniform(0.5, 1.0, size=(frames, persons, 17, 1))], axis=-1)


def _contains(box: SkeletonBox, xy: np.ndarray) -> bool:
    return bool(np.all((xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1) & (xy[:, 1] >= box.y0) & (xy[:, 1] <= box.y1)))


# --- skeleton_box -------------------------------------------------------------------------------------------------


def test_box_is_the_tight_box_widened_by_the_margin_about_its_centre() -> None:
    joints = _joints(np.random.default_rng(0), 6, 2, low=(100, 50), high=(180, 250))
    xy = joints[..., :2].reshape(-1, 2)
    (left, top), (right, bottom) = xy.min(axis=0), xy.max(axis=0)
    tight = skeleton_box(joints, (480, 640), margin=0.0, square=False, clamp=False)
    assert (tight.x0, tight.y0, tight.x1, tight.y1) == pytest.approx((left, top, right, bottom))
    box = skeleton_box(joints, (480, 640), margin=0.25, square=False, clamp=False)
    assert box.width == pytest.approx(1.25 * (right - left)) and box.height == pytest.approx(1.25 * (bottom - top))
    assert (box.x0 + box.x1) / 2 == pytest.approx((left + right) / 2)
    assert (box.y0 + box.y1) / 2 == pytest.approx((top + bottom) / 2)
    assert _contains(box, xy)


def test_box_is_square_by_default_and_contains_every_confident_joint() -> None:
    rng = np.random.default_rng(1)
    joints = _joints(rng, 8, 1, low=(200, 100), high=(260, 300))  # tall: 60 x 200
    joints[3, 0, 4] = (600.0, 10.0, 0.0)  # zero confidence: ignored
    joints[5, 0, 7] = (5.0, 470.0, 0.1)  # below min_confidence: ignored
    joints[2, 0, 9] = (np.nan, np.nan, 1.0)  # missing: ignored
    box = skeleton_box(joints, (480, 640), min_confidence=0.2)
    assert box.width == pytest.approx(box.height)
    confident = joints[np.isfinite(joints).all(-1) & (joints[..., 2] > 0.2)][:, :2]
    tall = confident[:, 1].max() - confident[:, 1].min()
    assert box.height == pytest.approx(1.25 * tall)
    assert _contains(box, confident)
    assert not _contains(box, joints[3, 0, 4:5, :2]) and not _contains(box, joints[5, 0, 7:8, :2])
    # With the threshold at 0 the low-confidence joint counts and the box grows to reach it.
    assert _contains(skeleton_box(joints, (480, 640), clamp=False), joints[5, 0, 7:8, :2])


def test_clamped_box_is_shifted_inside_the_frame_and_cut_only_when_longer_than_it() -> None:
    rng = np.random.default_rng(2)
    near_edge = _joints(rng, 4, 1, low=(2, 300), high=(80, 470))  # hugs the left / bottom edges
    free = skeleton_box(near_edge, (480, 640), clamp=False)
    assert free.x0 < 0 and free.y1 > 480  # reaches out of the frame (PoseC3D's padded crop)
    box = skeleton_box(near_edge, (480, 640))
    assert box.x0 >= 0 and box.y1 <= 480 and box.x1 <= 640 and box.y0 >= 0
    assert box.width == pytest.approx(free.width) and box.height == pytest.approx(free.height)  # still square
    assert _contains(box, near_edge[..., :2].reshape(-1, 2))
    wide = _joints(rng, 4, 2, low=(10, 200), high=(630, 260))  # 1.25 * 620 > both sides of the frame
    cut = skeleton_box(wide, (480, 640))
    assert (cut.x0, cut.x1, cut.y0, cut.y1) == (0.0, 640.0, 0.0, 480.0)


def test_box_falls_back_to_the_whole_frame() -> None:
    whole = (0.0, 0.0, 320.0, 240.0)
    joints = _joints(np.random.default_rng(3), 5, 1, low=(50, 50), high=(150, 150))
    unconfident = joints.copy()
    unconfident[..., 2] = 0.0
    for no_joint in (unconfident, np.full((5, 17, 3), np.nan), np.zeros((0, 17, 3))):
        box = skeleton_box(no_joint, (240, 320))
        assert (box.x0, box.y0, box.x1, box.y1) == whole
    tiny = joints.copy()
    tiny[..., 0] = 100 + tiny[..., 0] / 100  # 1 px wide: below min_extent (PoseC3D's threshold 10)
    box = skeleton_box(tiny, (240, 320))
    assert (box.x0, box.y0, box.x1, box.y1) == whole
    box = skeleton_box(tiny, (240, 320), min_extent=0.5, square=False)
    assert box.width == pytest.approx(1.25 * np.ptp(tiny[..., 0]))


def test_synthetic_clip_box_contains_its_stick_figure() -> None:
    clip = render_sample(2, 1, 1, 0, frames=12, size=64, seed=0)
    box = skeleton_box(clip.pose, clip.rgb.shape[1:3], clamp=False)
    pose = clip.pose[np.isfinite(clip.pose).all(-1) & (clip.pose[..., 2] > 0)]
    assert _contains(box, pose[:, :2]) and box.width == pytest.approx(box.height)


# --- crop_frames / joints_to_box ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("box", "size"), [((40.0, 30.0, 90.0, 80.0), 100), ((10.5, 5.25, 130.5, 125.25), 56)])
def test_crop_puts_a_marked_pixel_where_joints_to_box_maps_it(box, size) -> None:
    box = SkeletonBox(x0=box[0], y0=box[1], x1=box[2], y1=box[3])
    rows, cols = (60, 45, 75), (70, 50, 42)  # inside both boxes
    frames = np.zeros((3, 140, 160, 3), dtype=np.uint8)
    for t, (r, c) in enumerate(zip(rows, cols, strict=True)):
        frames[t, r - 1 : r + 2, c - 1 : c + 2] = 255  # 3 x 3 marker centred on pixel (r, c)
    crops = crop_frames(frames, box, size)
    assert crops.shape == (3, size, size, 3) and crops.dtype == np.uint8
    joints = np.array([[[c + 0.5, r + 0.5, 0.8]] for r, c in zip(rows, cols, strict=True)])  # (T, 1, 3)
    mapped = joints_to_box(joints, box, size)
    assert mapped.shape == joints.shape and mapped.dtype == np.float32
    np.testing.assert_array_equal(mapped[..., 2], np.float32(0.8))
    for t in range(3):
        image = crops[t, :, :, 0].astype(np.float64)
        ys, xs = np.mgrid[0:size, 0:size] + 0.5
        centroid = np.array([(xs * image).sum(), (ys * image).sum()]) / image.sum()
        assert np.abs(centroid - mapped[t, 0, :2]).max() < 0.5  # consistency within half a pixel


def test_crop_of_an_integer_box_at_its_own_size_is_the_window_and_float_frames_stay_float() -> None:
    frames = np.random.default_rng(4).random((2, 50, 60, 3)).astype(np.float32)
    box = SkeletonBox(x0=7.0, y0=3.0, x1=39.0, y1=35.0)
    np.testing.assert_array_equal(crop_frames(frames, box, 32), frames[:, 3:35, 7:39])
    assert crop_frames(frames, box, 16).dtype == np.float32
    joints = np.array([[[7.0, 3.0, 1.0], [39.0, 35.0, 0.5]]])
    np.testing.assert_allclose(joints_to_box(joints, box, 16)[0, :, :2], [[0.0, 0.0], [16.0, 16.0]], atol=1e-5)


# --- pose_volume ---------------------------------------------------------------------------------------------


def test_heatmap_peaks_land_at_the_mapped_joints() -> None:
    rng = np.random.default_rng(5)
    joints = _joints(rng, 10, 1, low=(120, 90), high=(300, 330))[:, 0]  # (T, 17, 3)
    box = skeleton_box(joints, (480, 640))
    volume = pose_volume(joints, box)
    assert volume.shape == (17, 10, 56, 56) and volume.dtype == np.float32
    mapped = joints_to_box(joints, box, 56)
    for t in range(10):
        for k in range(17):
            x, y, c = mapped[t, k]
            row, col = np.unravel_index(volume[k, t].argmax(), (56, 56))
            assert (row, col) == (int(np.floor(y)), int(np.floor(x)))
            # Eq. (1) with sigma 0.6: the peak is c * exp(-d^2 / 0.72), d the distance to that pixel's centre.
            d2 = (col + 0.5 - x) ** 2 + (row + 0.5 - y) ** 2
            assert volume[k, t, row, col] == pytest.approx(c * np.exp(-d2 / (2 * 0.6**2)), rel=1e-4)


def test_zero_confidence_joints_give_empty_maps_and_persons_merge() -> None:
    joints = _joints(np.random.default_rng(6), 4, 2, low=(50, 50), high=(200, 200))
    joints[:, :, 3, 2] = 0.0  # joint 3 never seen
    joints[2, :, :, 2] = 0.0  # frame 2: nobody
    joints[:, 1, 5, :2] = np.nan  # second person's joint 5 missing
    joints[:, 1, 5, 2] = 0.0
    volume = pose_volume(joints, skeleton_box(joints, (240, 240)), size=32, sigma=1.0)
    assert volume.shape == (17, 4, 32, 32)
    assert np.all(volume[3] == 0) and np.all(volume[:, 2] == 0)
    assert np.all(np.isfinite(volume)) and volume[5].max() > 0.4  # the first person's joint 5 remains


def test_frame_indices_pick_frames_and_limbs_follow_the_skeleton() -> None:
    joints = _joints(np.random.default_rng(7), 6, 1, low=(20, 20), high=(100, 100))[:, 0]
    box = skeleton_box(joints, (120, 120))
    picked = pose_volume(joints, box, frame_indices=np.array([5, 0, 0, 3]), size=24)
    full = pose_volume(joints, box, size=24)
    np.testing.assert_array_equal(picked, full[:, [5, 0, 0, 3]])
    assert pose_volume(joints, box, size=24, with_limbs=True).shape == (17, 6, 24, 24)  # 17 COCO limbs
    ntu = np.concatenate([joints, joints[:, :8]], axis=1)  # 25 joints
    assert pose_volume(ntu, box, size=24, with_limbs=True).shape == (24, 6, 24, 24)  # 24 Kinect bones


def test_synthetic_sample_end_to_end() -> None:
    clip = render_sample(4, 2, 0, 1, frames=20, size=64, seed=1)
    pose_idx, rgb_idx = pose_rgb_indices(len(clip.pose), pose_frames=12, rgb_frames=4, training=False)
    box = skeleton_box(clip.pose, clip.rgb.shape[1:3])
    rgb = crop_frames(clip.rgb[rgb_idx], box, 48)
    heatmaps = pose_volume(clip.pose, box, size=24, frame_indices=pose_idx)
    assert rgb.shape == (4, 48, 48, 3) and heatmaps.shape == (17, 12, 24, 24)
    # RGB frame m and pose frame 3m show the same instant: same source frame.
    np.testing.assert_array_equal(rgb, crop_frames(clip.rgb[pose_idx[::3]], box, 48))
    assert 0.5 < heatmaps.max() <= 1.0


# --- pose_rgb_indices ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("available", [1, 10, 48, 96, 100, 301])
def test_rgb_indices_are_every_third_pose_index(available: int) -> None:
    for training in (False, True):
        pose, rgb = pose_rgb_indices(available, training=training, rng=np.random.default_rng(0))
        assert pose.shape == (48,) and rgb.shape == (16,) and pose.dtype == rgb.dtype == np.int64
        np.testing.assert_array_equal(rgb, pose[::3])
        assert np.all(np.diff(pose) >= 0) and pose.min() >= 0 and pose.max() < available
        if available % 48 == 0:
            assert len(np.unique(pose)) == 48  # whole-frame segments: one distinct frame each
        elif available < 48:
            assert set(pose.tolist()) == set(range(available))  # short clips: every frame, repeated


def test_evaluation_is_deterministic_and_training_follows_the_seed() -> None:
    centre_a, _ = pose_rgb_indices(96, training=False)
    centre_b, _ = pose_rgb_indices(96, training=False, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(centre_a, centre_b)
    np.testing.assert_array_equal(centre_a, np.arange(48) * 2 + 1)  # segment centres
    first = pose_rgb_indices(96, training=True, rng=np.random.default_rng(3))
    again = pose_rgb_indices(96, training=True, rng=np.random.default_rng(3))
    other = pose_rgb_indices(96, training=True, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])
    views = [pose_rgb_indices(96, training=False, clip=c, num_clips=2)[0] for c in range(2)]
    assert not np.array_equal(*views)


# --- validation ---------------------------------------------------------------------------------------------------


def test_invalid_arguments_are_named() -> None:
    joints = np.ones((3, 17, 3))
    box = SkeletonBox(x0=0.0, y0=0.0, x1=10.0, y1=10.0)
    cases = [
        ("margin", lambda: skeleton_box(joints, (32, 32), margin=-0.1)),
        ("min_confidence", lambda: skeleton_box(joints, (32, 32), min_confidence=float("nan"))),
        ("min_extent", lambda: skeleton_box(joints, (32, 32), min_extent=-1)),
        ("frame_size", lambda: skeleton_box(joints, (32,))),
        ("frame_size", lambda: skeleton_box(joints, (0, 32))),
        ("joints", lambda: skeleton_box(np.ones((3, 17, 2)), (32, 32))),
        ("joints", lambda: joints_to_box(np.ones((17, 3)), box, 8)),
        ("joints", lambda: pose_volume(np.ones((1, 2, 3, 17, 3)), box)),
        ("sigma", lambda: pose_volume(joints, box, sigma=0.0)),
        ("sigma", lambda: pose_volume(joints, box, sigma=-1.0)),
        ("size", lambda: pose_volume(joints, box, size=0)),
        ("size", lambda: crop_frames(np.zeros((1, 8, 8, 3), np.uint8), box, 2.5)),
        ("frame_indices", lambda: pose_volume(joints, box, frame_indices=[0, 3])),
        ("frame_indices", lambda: pose_volume(joints, box, frame_indices=np.array([0.5]))),
        ("frames", lambda: crop_frames(np.zeros((8, 8, 3), np.uint8), box, 4)),
        ("pose_frames", lambda: pose_rgb_indices(100, pose_frames=40, rgb_frames=16, training=False)),
        ("rgb_frames", lambda: pose_rgb_indices(100, rgb_frames=0, training=False)),
        ("num_frames_available", lambda: pose_rgb_indices(0, training=False)),
        ("rng", lambda: pose_rgb_indices(100, training=True)),
        ("SkeletonBox", lambda: SkeletonBox(x0=5.0, y0=0.0, x1=5.0, y1=1.0)),
        ("SkeletonBox.y1", lambda: SkeletonBox(x0=0.0, y0=0.0, x1=5.0, y1=float("inf"))),
    ]
    for name, call in cases:
        with pytest.raises(ValueError, match=name):
            call()
