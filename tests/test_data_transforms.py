"""actrec.data.transforms: clip geometry (crops, resized crop, flip, rotation) and its point mapping, colour jitter,
depth encodings, normalisation."""

from __future__ import annotations

import colorsys
import dataclasses

import matplotlib
import numpy as np
import pytest

from actrec.data.transforms import (
    Geometry,
    apply_geometry,
    augment_geometry,
    centre_crop,
    centre_crop_geometry,
    colour_jitter,
    depth_to_three_channels,
    depth_to_unit,
    normalise,
    random_crop,
    random_crop_geometry,
    random_resized_crop_geometry,
    three_crop_geometries,
    transform_points,
)


def _ramp_clip(t: int = 3, height: int = 20, width: int = 30) -> np.ndarray:
    """uint8 (t, H, W, 3) whose every pixel value is distinct per position (mod 256) and per frame."""
    values = np.arange(t * height * width * 3).reshape(t, height, width, 3)
    return (values % 251).astype(np.uint8)


# --- geometry -----------------------------------------------------------------------------------------------------


def test_geometry_is_validated() -> None:
    with pytest.raises(ValueError, match="height"):
        Geometry(top=0, left=0, height=0, width=4, size=4)
    with pytest.raises(ValueError, match="size"):
        Geometry(top=0, left=0, height=4, width=4, size=0)
    with pytest.raises(ValueError, match="angle"):
        Geometry(top=0, left=0, height=4, width=4, size=4, angle=float("nan"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        Geometry(top=0, left=0, height=4, width=4, size=4).top = 1  # type: ignore[misc]


def test_crop_geometries_slice_exactly_like_the_old_crops() -> None:
    frames = _ramp_clip()
    for seed in range(20):
        old = np.random.default_rng(seed)  # the draws the original random_crop made
        top, left = int(old.integers(0, 20 - 8 + 1)), int(old.integers(0, 30 - 8 + 1))
        g = random_crop_geometry(20, 30, 8, np.random.default_rng(seed))
        out = apply_geometry(frames, g)
        assert out.dtype == np.uint8 and np.array_equal(out, frames[:, top : top + 8, left : left + 8])
        assert np.array_equal(out, random_crop(frames, 8, np.random.default_rng(seed)))
    centre = apply_geometry(frames, centre_crop_geometry(20, 30, 8))
    assert np.array_equal(centre, frames[:, 6:14, 11:19]) and np.array_equal(centre, centre_crop(frames, 8))
    with pytest.raises(ValueError, match="crop size"):
        centre_crop_geometry(20, 30, 21)


def test_three_crops_cover_start_centre_end_of_the_longer_side() -> None:
    wide = three_crop_geometries(20, 50, 16)
    assert [(g.top, g.left) for g in wide] == [(2, 0), (2, 17), (2, 34)]
    tall = three_crop_geometries(50, 20, 16)
    assert [(g.top, g.left) for g in tall] == [(0, 2), (17, 2), (34, 2)]
    assert wide[1] == centre_crop_geometry(20, 50, 16)
    assert all(g.height == g.width == g.size == 16 and not g.flip and g.angle == 0 for g in wide + tall)
    frames = _ramp_clip(2, 20, 50)
    assert np.array_equal(apply_geometry(frames, wide[2]), frames[:, 2:18, 34:50])


def test_random_resized_crop_area_and_aspect_follow_scale_and_ratio() -> None:
    rng = np.random.default_rng(0)
    regions = set()
    for _ in range(300):
        g = random_resized_crop_geometry(60, 80, 32, scale=(0.25, 1.0), ratio=(3 / 4, 4 / 3), rng=rng)
        assert g.size == 32 and g.angle == 0 and not g.flip
        assert 0 <= g.top and g.top + g.height <= 60 and 0 <= g.left and g.left + g.width <= 80
        fraction = g.height * g.width / (60 * 80)
        assert 0.25 - 0.02 <= fraction <= 1.0  # rounding of the sides
        assert 3 / 4 - 0.05 <= g.width / g.height <= 4 / 3 + 0.05
        regions.add((g.top, g.left, g.height, g.width))
    assert len(regions) > 200


def test_random_resized_crop_falls_back_to_a_centred_clamped_region() -> None:
    # Area fraction 2..3 never fits: after 10 tries the centred region with the aspect ratio clamped to 4/3.
    g = random_resized_crop_geometry(20, 60, 16, scale=(2.0, 3.0), rng=np.random.default_rng(0))
    assert (g.top, g.left, g.height, g.width) == (0, 16, 20, 27)
    g = random_resized_crop_geometry(60, 20, 16, scale=(2.0, 3.0), rng=np.random.default_rng(0))
    assert (g.top, g.left, g.height, g.width) == (16, 0, 27, 20)
    g = random_resized_crop_geometry(30, 36, 16, scale=(2.0, 3.0), rng=np.random.default_rng(0))
    assert (g.top, g.left, g.height, g.width) == (0, 0, 30, 36)


def test_augment_geometry_strength_zero_is_identity_and_draws_stay_in_range() -> None:
    base = centre_crop_geometry(20, 30, 8)
    rng = np.random.default_rng(0)
    assert augment_geometry(base, flip_prob=0.0, max_rotation=0.0, rng=rng) == base
    assert augment_geometry(base, flip_prob=1.0, max_rotation=0.0, rng=rng).flip
    angles, flips = [], []
    for _ in range(200):
        g = augment_geometry(base, flip_prob=0.5, max_rotation=15.0, rng=rng)
        angles.append(g.angle)
        flips.append(g.flip)
    assert all(-15 <= a <= 15 for a in angles) and np.std(angles) > 5
    assert 60 < sum(flips) < 140
    with pytest.raises(ValueError, match="flip_prob"):
        augment_geometry(base, flip_prob=1.5, max_rotation=0.0, rng=rng)


def test_apply_geometry_keeps_dtype_and_shape_and_flip_mirrors() -> None:
    frames = _ramp_clip()
    g = Geometry(top=3, left=5, height=8, width=8, size=8, flip=True)
    assert np.array_equal(apply_geometry(frames, g), frames[:, 3:11, 5:13][:, :, ::-1])
    for dtype in (np.uint8, np.float32):
        resized = apply_geometry(frames.astype(dtype), Geometry(top=2.5, left=4, height=13, width=21, size=11))
        assert resized.shape == (3, 11, 11, 3) and resized.dtype == dtype
    depth = np.full((2, 20, 30), 1234, dtype=np.uint16)
    out = apply_geometry(
        depth, Geometry(top=0, left=0, height=20, width=20, size=10, angle=45), interpolation="nearest"
    )
    assert out.shape == (2, 10, 10) and out.dtype == np.uint16 and set(np.unique(out)) <= {0, 1234}
    with pytest.raises(ValueError, match="interpolation"):
        apply_geometry(frames, g, interpolation="bicubic")


def test_apply_geometry_same_region_for_every_frame_and_zeros_outside() -> None:
    frames = np.zeros((3, 20, 30, 1), dtype=np.float32)
    frames += np.arange(3, dtype=np.float32)[:, None, None, None] * 10 + 5  # frame f is constant 5 + 10 f
    g = Geometry(top=-5, left=10, height=20, width=20, size=20, angle=10)  # top quarter lies above the frame
    out = apply_geometry(frames, g)
    np.testing.assert_allclose(
        out[:, 12:16, 8:12, 0], np.broadcast_to([[[5.0]], [[15.0]], [[25.0]]], (3, 4, 4)), atol=1e-5
    )
    assert np.all(out[:, :3, :, 0] == 0)


def test_constant_image_survives_resampling_and_uint8_rounds_correctly() -> None:
    frames = np.full((2, 24, 32, 3), 200, dtype=np.uint8)
    out = apply_geometry(frames, Geometry(top=4.25, left=6.5, height=12.3, width=17.9, size=16, angle=3.0))
    assert np.all(out[:, 2:-2, 2:-2] == 200)


POINT_GEOMETRIES = {
    "crop": Geometry(top=6, left=9, height=24, width=24, size=24),
    "resized_crop": Geometry(top=5.5, left=8.25, height=18.5, width=26.0, size=40),
    "flip": Geometry(top=6, left=9, height=24, width=24, size=24, flip=True),
    "flip_resized": Geometry(top=4, left=3, height=30, width=36, size=48, flip=True),
    "rotation": Geometry(top=2, left=4, height=32, width=32, size=32, angle=35.0),
    "rotation_resized_flip": Geometry(top=3, left=7, height=26, width=30, size=40, angle=-70.0, flip=True),
}


@pytest.mark.parametrize("name", sorted(POINT_GEOMETRIES))
def test_bright_pixel_lands_where_transform_points_says(name: str) -> None:
    g = POINT_GEOMETRIES[name]
    rng = np.random.default_rng(1)
    for _ in range(10):
        row, col = int(rng.integers(13, 24)), int(rng.integers(16, 30))
        frames = np.zeros((1, 40, 48, 1), dtype=np.float32)
        frames[0, row, col, 0] = 1.0
        out = apply_geometry(frames, g)[0, :, :, 0]
        assert out.max() > 0.2
        peak_row, peak_col = np.unravel_index(out.argmax(), out.shape)
        x, y = transform_points(np.array([col + 0.5, row + 0.5]), g)
        assert abs(peak_col + 0.5 - x) <= 1.0 and abs(peak_row + 0.5 - y) <= 1.0, (name, row, col)


def test_transform_points_maps_region_corners_to_output_corners() -> None:
    g = Geometry(top=4, left=10, height=20, width=40, size=16)
    corners = np.array([[10, 4], [50, 4], [10, 24], [50, 24], [30, 14]], dtype=np.float32)
    out = transform_points(corners, g)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0, 0], [16, 0], [0, 16], [16, 16], [8, 8]], atol=1e-5)
    flipped = transform_points(corners, dataclasses.replace(g, flip=True))
    np.testing.assert_allclose(flipped, [[16, 0], [0, 0], [16, 16], [0, 16], [8, 8]], atol=1e-5)
    # 90 degrees counter-clockwise as displayed: the region's right-hand midpoint goes to the top.
    square = Geometry(top=0, left=0, height=10, width=10, size=10, angle=90)
    np.testing.assert_allclose(transform_points(np.array([[10.0, 5.0]]), square), [[5.0, 0.0]], atol=1e-9)
    assert transform_points(np.zeros((2, 3, 5, 2)), g).shape == (2, 3, 5, 2)


# --- colour jitter -------------------------------------------------------------------------------------------------


def test_colour_jitter_strength_zero_is_identity() -> None:
    frames = _ramp_clip()
    out = colour_jitter(frames, brightness=0, contrast=0, saturation=0, hue=0, rng=np.random.default_rng(0))
    assert out.dtype == np.uint8 and np.array_equal(out, frames)


def test_colour_jitter_uses_one_set_of_factors_per_clip() -> None:
    frame = _ramp_clip(1, 12, 16)
    clip = np.repeat(frame, 5, axis=0)
    rng = np.random.default_rng(3)
    for _ in range(10):
        out = colour_jitter(clip, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, rng=rng)
        assert out.shape == clip.shape and out.dtype == np.uint8
        assert all(np.array_equal(out[0], out[i]) for i in range(1, 5))


def test_brightness_scales_pixels_by_one_factor_in_range() -> None:
    frames = np.random.default_rng(0).integers(10, 120, size=(2, 8, 8, 3), dtype=np.uint8)
    rng = np.random.default_rng(1)
    ratios = []
    for _ in range(30):
        out = colour_jitter(frames, brightness=0.5, contrast=0, saturation=0, hue=0, rng=rng)
        ratio = out.astype(np.float64) / frames
        assert np.ptp(ratio) < 0.1  # one factor (up to uint8 rounding)
        ratios.append(ratio.mean())
    assert min(ratios) >= 0.5 - 0.02 and max(ratios) <= 1.5 + 0.02 and np.std(ratios) > 0.15


def test_hue_jitter_rotates_the_hsv_hue() -> None:
    frames = np.random.default_rng(0).integers(0, 256, size=(1, 4, 5, 3), dtype=np.uint8)
    out = colour_jitter(frames, brightness=0, contrast=0, saturation=0, hue=0.3, rng=np.random.default_rng(5))
    mirror = np.random.default_rng(5)  # the same draws: permutation of 4, then the hue shift
    mirror.permutation(4)
    shift = mirror.uniform(-0.3, 0.3)
    for i, j in np.ndindex(4, 5):
        h, s, v = colorsys.rgb_to_hsv(*(frames[0, i, j] / 255.0))
        expected = np.array(colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)) * 255
        np.testing.assert_allclose(out[0, i, j], expected, atol=1.0)


def test_saturation_and_hue_leave_grey_alone_contrast_keeps_the_mean() -> None:
    grey = np.repeat(np.linspace(20, 230, 4 * 6 * 6).reshape(1, 4, 6, 6, 1).astype(np.uint8)[0], 3, axis=-1)
    out = colour_jitter(grey, brightness=0, contrast=0, saturation=0.9, hue=0.5, rng=np.random.default_rng(0))
    assert np.abs(out.astype(int) - grey).max() <= 1
    mid = np.random.default_rng(0).integers(100, 156, size=(2, 8, 8, 3), dtype=np.uint8)
    rng = np.random.default_rng(2)
    for _ in range(10):
        out = colour_jitter(mid, brightness=0, contrast=0.5, saturation=0, hue=0, rng=rng)
        assert abs(out.astype(float).mean() - mid.astype(float).mean()) < 1.0
    with pytest.raises(ValueError, match="uint8"):
        colour_jitter(mid.astype(np.float32), brightness=0, contrast=0, saturation=0, hue=0, rng=rng)
    with pytest.raises(ValueError, match="hue"):
        colour_jitter(mid, brightness=0, contrast=0, saturation=0, hue=0.6, rng=rng)


# --- depth --------------------------------------------------------------------------------------------------------


def test_depth_to_unit_maps_near_to_one_far_to_zero_and_keeps_no_reading_zero() -> None:
    depth = np.array([[[0, 500, 1000, 2750, 4500, 6000, 300]]], dtype=np.uint16)
    unit = depth_to_unit(depth, near=1000, far=4500)
    assert unit.dtype == np.float32 and unit.shape == depth.shape
    np.testing.assert_allclose(unit[0, 0], [0, 1, 1, 0.5, 0, 0, 1], atol=1e-6)
    with pytest.raises(ValueError, match="near"):
        depth_to_unit(depth, near=4500, far=1000)


def test_depth_replicate_keeps_the_old_uint8_call_and_handles_unit_depth() -> None:
    decoded = np.zeros((2, 4, 5, 3), dtype=np.uint8)
    decoded[..., 0], decoded[..., 1] = 77, 3  # grey depth video decoded as RGB: channel 0 is the depth
    out = depth_to_three_channels(decoded)
    assert out.dtype == np.uint8 and out.shape == (2, 4, 5, 3) and np.all(out == 77)
    unit = np.random.default_rng(0).random((2, 4, 5)).astype(np.float32)
    out = depth_to_three_channels(unit, "replicate")
    assert out.dtype == np.float32 and out.shape == (2, 4, 5, 3)
    assert all(np.array_equal(out[..., c], unit) for c in range(3))
    with pytest.raises(ValueError, match="mode"):
        depth_to_three_channels(unit, "hha")


def test_depth_jet_matches_matplotlib_and_no_reading_is_black() -> None:
    unit = np.linspace(0.0, 1.0, 3 * 7 * 11, dtype=np.float32).reshape(3, 7, 11)
    out = depth_to_three_channels(unit, "jet")
    assert out.dtype == np.float32 and out.shape == (3, 7, 11, 3) and out.min() >= 0 and out.max() <= 1
    reference = matplotlib.colormaps["jet"](unit)[..., :3]
    np.testing.assert_allclose(out.reshape(-1, 3)[1:], reference.reshape(-1, 3)[1:], atol=0.02)
    assert np.all(out[0, 0, 0] == 0)  # depth 0 = no reading
    as_uint8 = depth_to_three_channels(np.rint(unit * 255).astype(np.uint8), "jet")
    assert as_uint8.dtype == np.uint8 and np.abs(as_uint8.astype(float) - out * 255).max() <= 5


def test_depth_normals_of_planes_and_holes() -> None:
    t, height, width = 2, 8, 10
    flat = np.full((t, height, width), 0.6, dtype=np.float32)
    np.testing.assert_allclose(
        depth_to_three_channels(flat, "normals"), np.broadcast_to([0.5, 0.5, 1.0], (t, 8, 10, 3))
    )
    # A ramp rising to the right: height field z = depth * W has slope 0.02 * W per pixel.
    ramp = np.broadcast_to(0.2 + 0.02 * np.arange(width, dtype=np.float32), (t, height, width)).copy()
    ramp[:, 4, 5] = 0.0  # a hole
    out = depth_to_three_channels(ramp, "normals")
    slope = 0.02 * width
    normal = np.array([-slope, 0.0, 1.0]) / np.hypot(slope, 1.0)
    expected = (normal + 1) / 2
    valid = ramp > 0
    np.testing.assert_allclose(out[valid], np.broadcast_to(expected, (int(valid.sum()), 3)), atol=1e-5)
    assert np.all(out[:, 4, 5] == 0) and out.min() >= 0 and out.max() <= 1 and out.dtype == np.float32


def test_normalise_reads_uint8_as_pixels_over_255_and_float_as_is() -> None:
    frames = np.full((2, 3, 3, 3), 51, dtype=np.uint8)
    out = normalise(frames, (0.1, 0.2, 0.3), (0.5, 0.5, 0.5))
    np.testing.assert_allclose(out[:, 0, 0, 0], [0.2, 0.0, -0.2], atol=1e-6)
    unit = np.full((2, 3, 3, 3), 0.2, dtype=np.float32)
    np.testing.assert_allclose(
        normalise(unit, (0.1, 0.2, 0.3), (0.5, 0.5, 0.5))[:, 0, 0, 0], [0.2, 0.0, -0.2], atol=1e-6
    )


def _torch_reference(frames: np.ndarray, g, interpolation: str) -> np.ndarray:
    """``apply_geometry``'s resampling done by torch ``affine_grid`` + ``grid_sample`` (align_corners=False)."""
    import torch

    height, width = frames.shape[1:3]

    def normalised(h, w):
        return np.array([[2 / w, 0, -1], [0, 2 / h, -1], [0, 0, 1]], dtype=np.float64)

    theta = normalised(height, width) @ np.linalg.inv(g.matrix()) @ np.linalg.inv(normalised(g.size, g.size))
    t, _, _, c = frames.shape
    source = torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2).reshape(1, t * c, height, width)))
    grid = torch.nn.functional.affine_grid(
        torch.from_numpy(theta[None, :2].astype(np.float32)), [1, t * c, g.size, g.size], align_corners=False
    )
    out = torch.nn.functional.grid_sample(source, grid, mode=interpolation, padding_mode="zeros", align_corners=False)
    return out.numpy().reshape(t, c, g.size, g.size).transpose(0, 2, 3, 1)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_resampling_matches_torch_grid_sample(interpolation):
    rng = np.random.default_rng(3)
    frames = rng.uniform(0, 255, size=(3, 23, 31, 2)).astype(np.float32)
    for _ in range(20):
        g = Geometry(
            top=float(rng.uniform(-4, 10)),
            left=float(rng.uniform(-4, 14)),
            height=float(rng.uniform(8, 20)),
            width=float(rng.uniform(8, 20)),
            size=int(rng.integers(5, 17)),
            flip=bool(rng.integers(0, 2)),
            angle=float(rng.uniform(-30, 30)),
        )
        ours = apply_geometry(frames, g, interpolation=interpolation)
        reference = _torch_reference(frames, g, interpolation)
        if interpolation == "bilinear":
            np.testing.assert_allclose(ours, reference, atol=2e-3)
        else:  # a sample exactly half-way between two pixels may round either way in float32
            assert np.mean(np.abs(ours - reference) > 1e-3) < 0.02
