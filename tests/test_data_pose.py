"""actrec.data.pose: PoseC3D joint / limb pseudo-heatmaps and the COCO / NTU skeletons."""

from __future__ import annotations

import numpy as np
import pytest

from actrec.data.pose import COCO_LIMBS, NTU_LIMBS, pose_heatmaps
from actrec.data.transforms import Geometry, apply_geometry, transform_points


def _components(num_joints: int, limbs: tuple[tuple[int, int], ...]) -> int:
    parent = list(range(num_joints))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for a, b in limbs:
        parent[find(a)] = find(b)
    return len({find(i) for i in range(num_joints)})


def test_skeletons_are_connected_without_duplicate_edges() -> None:
    for limbs, joints, edges in ((COCO_LIMBS, 17, 17), (NTU_LIMBS, 25, 24)):
        assert len(limbs) == edges and len({frozenset(e) for e in limbs}) == edges
        assert all(0 <= a < joints and 0 <= b < joints and a != b for a, b in limbs)
        assert _components(joints, limbs) == 1
    assert _components(25, NTU_LIMBS) == 1 and len(NTU_LIMBS) == 25 - 1  # a tree: the Kinect bone hierarchy
    assert {(20, 4), (20, 8), (0, 12), (0, 16)} <= set(NTU_LIMBS)  # shoulders to spine shoulder, hips to base


def test_shapes_and_dtype() -> None:
    joints = np.random.default_rng(0).random((5, 17, 3)) * [20, 10, 1]
    assert pose_heatmaps(joints, height=10, width=20, sigma=0.6).shape == (17, 5, 10, 20)
    limb = pose_heatmaps(joints, height=10, width=20, sigma=0.6, limbs=COCO_LIMBS)
    assert limb.shape == (17, 5, 10, 20) and limb.dtype == np.float32
    two = np.stack([joints, joints], axis=1)  # (T, M, J, 3)
    assert pose_heatmaps(two, height=10, width=20, sigma=0.6).shape == (17, 5, 10, 20)
    with pytest.raises(ValueError, match="limb"):
        pose_heatmaps(joints, height=10, width=20, sigma=0.6, limbs=[(0, 17)])
    with pytest.raises(ValueError, match="sigma"):
        pose_heatmaps(joints, height=10, width=20, sigma=0.0)


def test_joint_map_peaks_at_the_joint_with_value_confidence_and_is_gaussian() -> None:
    joints = np.zeros((2, 2, 3))
    joints[0, 0] = (5.5, 3.5, 0.7)  # centre of pixel (row 3, column 5)
    joints[1, 1] = (10.5, 7.5, 1.0)
    maps = pose_heatmaps(joints, height=12, width=16, sigma=2.0)
    assert np.unravel_index(maps[0, 0].argmax(), (12, 16)) == (3, 5) and maps[0, 0].max() == pytest.approx(0.7)
    assert np.unravel_index(maps[1, 1].argmax(), (12, 16)) == (7, 10) and maps[1, 1].max() == pytest.approx(1.0)
    # Eq. 1: exp(-d^2 / (2 sigma^2)) * c, here at distance (3, 4) -> d^2 = 25.
    assert maps[0, 0, 7, 8] == pytest.approx(0.7 * np.exp(-25 / 8), rel=1e-5)
    assert np.all(maps[1, 0] == 0) and np.all(maps[0, 1] == 0)  # confidence 0: nothing


def test_zero_confidence_joints_contribute_nothing_even_with_nan_coordinates() -> None:
    joints = np.array([[[np.nan, np.nan, 0.0], [3.0, 4.0, 0.0], [2.5, 2.5, 0.5]]])
    maps = pose_heatmaps(joints, height=6, width=6, sigma=1.0)
    assert np.all(np.isfinite(maps)) and np.all(maps[:2] == 0) and maps[2].max() == pytest.approx(0.5)
    limb = pose_heatmaps(joints, height=6, width=6, sigma=1.0, limbs=[(0, 2), (1, 2)])
    assert np.all(limb == 0)


def test_persons_are_merged_by_maximum_not_sum() -> None:
    joints = np.zeros((1, 2, 1, 3))
    joints[0, 0, 0] = (4.5, 4.5, 0.6)
    joints[0, 1, 0] = (4.5, 4.5, 0.9)  # same spot
    maps = pose_heatmaps(joints, height=9, width=9, sigma=1.5)
    assert maps.max() == pytest.approx(0.9)
    joints[0, 1, 0] = (1.5, 7.5, 0.9)  # elsewhere: two peaks with their own confidences
    maps = pose_heatmaps(joints, height=9, width=9, sigma=0.5)
    assert maps[0, 0, 4, 4] == pytest.approx(0.6) and maps[0, 0, 7, 1] == pytest.approx(0.9)


def test_limb_map_is_maximal_along_the_segment_and_decays_away_from_it() -> None:
    joints = np.array([[[2.5, 3.5, 0.9], [12.5, 3.5, 0.4], [12.5, 9.5, 1.0]]])
    maps = pose_heatmaps(joints, height=14, width=16, sigma=1.0, limbs=[(0, 1), (1, 2)])
    horizontal, vertical = maps[0, 0], maps[1, 0]
    # Eq. 2: the smaller confidence all along the segment (pixel centres of row 3 from column 2 to 12).
    np.testing.assert_allclose(horizontal[3, 2:13], 0.4, rtol=1e-6)
    assert horizontal.max() == pytest.approx(0.4)
    # Perpendicular distance 2 beside the segment, distance to the end point beyond it.
    assert horizontal[5, 7] == pytest.approx(0.4 * np.exp(-4 / 2), rel=1e-5)
    assert horizontal[3, 15] == pytest.approx(0.4 * np.exp(-9 / 2), rel=1e-5)
    np.testing.assert_allclose(vertical[3:10, 12], 0.4, rtol=1e-6)
    # A degenerate limb (both ends at one point) is the joint Gaussian with the smaller confidence.
    same = np.array([[[6.5, 6.5, 0.8], [6.5, 6.5, 0.3]]])
    np.testing.assert_allclose(
        pose_heatmaps(same, height=14, width=14, sigma=1.2, limbs=[(0, 1)])[0],
        pose_heatmaps(same[:, 1:], height=14, width=14, sigma=1.2)[0],
        rtol=1e-6,
    )


def test_heatmaps_of_transformed_joints_equal_transformed_heatmaps() -> None:
    rng = np.random.default_rng(0)
    joints = np.concatenate([rng.uniform(10, 30, size=(3, 5, 2)), rng.uniform(0.3, 1.0, size=(3, 5, 1))], axis=-1)
    source = pose_heatmaps(joints, height=40, width=48, sigma=1.5)  # (J, T, 40, 48)
    g = Geometry(top=6, left=8, height=28, width=28, size=28, flip=True)
    moved = joints.copy()
    moved[..., :2] = transform_points(joints[..., :2], g)
    rendered = pose_heatmaps(moved, height=28, width=28, sigma=1.5)
    cropped = np.stack([apply_geometry(source[j], g) for j in range(5)])
    np.testing.assert_allclose(rendered, cropped, atol=1e-6)
