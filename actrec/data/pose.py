"""Pose pseudo-heatmaps: skeleton sequences -> 3D heatmap volumes (PoseC3D, Duan et al., CVPR 2022, Sec. 3.1).

Each joint k with coordinates (x_k, y_k) and confidence c_k becomes a Gaussian ``J_kij = exp(-((i - x_k)^2 +
(j - y_k)^2) / (2 sigma^2)) * c_k`` (Eq. 1, joint maps); each limb between joints a and b becomes a Gaussian of the
distance from the pixel to the segment [a, b], scaled by ``min(c_a, c_b)`` (Eq. 2, limb maps). Several persons are
merged by a per-pixel maximum. Stacking T frames gives the (C, T, H, W) volume a 3D CNN consumes.

Coordinates follow ``actrec.data.transforms``: continuous pixel coordinates with the centre of pixel (row i,
column j) at (j + 0.5, i + 0.5), so joints mapped by ``transform_points`` can be rendered directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# COCO 17 keypoints (0 nose, 1/2 left/right eye, 3/4 ears, 5/6 shoulders, 7/8 elbows, 9/10 wrists, 11/12 hips,
# 13/14 knees, 15/16 ankles); the limb set of PoseC3D's limb heatmaps (face, arms, torso sides, legs, hips).
COCO_LIMBS: tuple[tuple[int, int], ...] = (
    (0, 1), (0, 2), (1, 3), (2, 4),  # face
    (0, 5), (5, 7), (7, 9),  # left arm
    (0, 6), (6, 8), (8, 10),  # right arm
    (5, 11), (11, 13), (13, 15),  # left side and leg
    (6, 12), (12, 14), (14, 16),  # right side and leg
    (11, 12),  # hips
)  # fmt: skip

# Kinect v2, 25 joints in NTU RGB+D order (Shahroudy et al., CVPR 2016, Fig. 1), 0-based: 0 spine base, 1 spine
# mid, 2 neck, 3 head, 4-7 left shoulder/elbow/wrist/hand, 8-11 right shoulder/elbow/wrist/hand, 12-15 left
# hip/knee/ankle/foot, 16-19 right hip/knee/ankle/foot, 20 spine shoulder, 21/22 left hand tip/thumb, 23/24 right
# hand tip/thumb. The 24 bones of the tree rooted at the spine base.
NTU_LIMBS: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 20), (20, 2), (2, 3),  # spine and head
    (20, 4), (4, 5), (5, 6), (6, 7), (7, 21), (7, 22),  # left arm and hand
    (20, 8), (8, 9), (9, 10), (10, 11), (11, 23), (11, 24),  # right arm and hand
    (0, 12), (12, 13), (13, 14), (14, 15),  # left leg
    (0, 16), (16, 17), (17, 18), (18, 19),  # right leg
)  # fmt: skip


def pose_heatmaps(
    joints: np.ndarray,
    *,
    height: int,
    width: int,
    sigma: float,
    limbs: Sequence[tuple[int, int]] | None = None,
) -> np.ndarray:
    """Joints (T, J, 3) or (T, M, J, 3) of (x, y, confidence) in output pixels -> float32 (C, T, height, width).

    Without ``limbs``: C = J joint maps (PoseC3D Eq. 1), ``exp(-d^2 / (2 sigma^2)) * confidence`` with d the distance
    from the pixel centre to the joint. With ``limbs`` (pairs of joint indices, e.g. ``COCO_LIMBS``): C =
    len(limbs) limb maps (Eq. 2), d the distance to the segment between the two joints and the smaller of the two
    confidences as scale. Persons M are merged by maximum; joints with confidence <= 0 (or non-finite values)
    contribute nothing.
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim == 3:
        joints = joints[:, None]
    if joints.ndim != 4 or joints.shape[-1] != 3:
        raise ValueError(f"joints must be (T, J, 3) or (T, M, J, 3), got shape {joints.shape}")
    if height < 1 or width < 1:
        raise ValueError(f"height and width must be >= 1, got {height} x {width}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    num_joints = joints.shape[2]
    if limbs is not None:
        for a, b in limbs:
            if not (0 <= a < num_joints and 0 <= b < num_joints):
                raise ValueError(f"limb ({a}, {b}) refers to a joint outside [0, {num_joints})")
    present = np.isfinite(joints).all(axis=-1) & (joints[..., 2] > 0)  # (T, M, J)
    confidence = np.where(present, joints[..., 2], 0.0)
    xy = np.where(present[..., None], joints[..., :2], 0.0)  # (T, M, J, 2)
    # Pixel centres, broadcast against (T, M): px (1, 1, 1, W), py (1, 1, H, 1).
    px = (np.arange(width, dtype=np.float64) + 0.5)[None, None, None, :]
    py = (np.arange(height, dtype=np.float64) + 0.5)[None, None, :, None]
    scale = -1.0 / (2.0 * sigma**2)

    def at(values: np.ndarray) -> np.ndarray:  # (T, M) -> (T, M, 1, 1)
        return values[:, :, None, None]

    maps = []
    if limbs is None:
        for k in range(num_joints):
            dist2 = (px - at(xy[:, :, k, 0])) ** 2 + (py - at(xy[:, :, k, 1])) ** 2  # (T, M, H, W)
            maps.append((np.exp(dist2 * scale) * at(confidence[:, :, k])).max(axis=1))
    else:
        for a, b in limbs:
            ax, ay, bx, by = at(xy[:, :, a, 0]), at(xy[:, :, a, 1]), at(xy[:, :, b, 0]), at(xy[:, :, b, 1])
            seg_x, seg_y = bx - ax, by - ay
            length2 = seg_x**2 + seg_y**2
            # Projection of the pixel on the segment, clamped to its ends (a point when a == b).
            along = ((px - ax) * seg_x + (py - ay) * seg_y) / np.where(length2 > 0, length2, 1.0)
            along = np.clip(along, 0.0, 1.0)
            dist2 = (px - ax - along * seg_x) ** 2 + (py - ay - along * seg_y) ** 2  # (T, M, H, W)
            weight = np.minimum(confidence[:, :, a], confidence[:, :, b])
            maps.append((np.exp(dist2 * scale) * at(weight)).max(axis=1))
    return np.stack(maps, axis=0).astype(np.float32)  # (C, T, H, W)


def limbs_for(joints: int | None) -> tuple[tuple[int, int], ...]:
    """Skeleton edges of the joint layout: COCO (17) or Kinect v2 / NTU (25)."""
    if joints == 17:
        return COCO_LIMBS
    if joints == 25:
        return NTU_LIMBS
    raise ValueError(f"no limb table for {joints}-joint poses (known: 17 COCO, 25 NTU)")
