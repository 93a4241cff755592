"""Clip transforms: spatial geometry (crop / resized crop / flip / rotation), colour jitter, depth encodings,
normalisation and the layout (3, T, S, S).

Standard video-classification augmentation: random crop for training, centre crop (or three crops for multi-view
testing) for evaluation (TSN, Wang et al., ECCV 2016, Sec. 3.3; SlowFast, Feichtenhofer et al., ICCV 2019, Sec. 5);
random resized crop and colour jitter as torchvision's ``RandomResizedCrop`` / ``ColorJitter`` (Szegedy et al.,
CVPR 2015, "scale augmentation"; Krizhevsky et al., NeurIPS 2012, colour augmentation).

Horizontal flip exists (``augment_geometry(flip_prob=...)``) but is opt-in and off in ``clip_transform``: mirroring
turns "move right" into "move left" (and clockwise into counter-clockwise), i.e. it silently relabels those classes.

Coordinates (``Geometry``, ``transform_points``, and ``actrec.data.pose``): continuous pixel coordinates (x, y),
x to the right, y down; pixel (row i, column j) covers ``[j, j + 1) x [i, i + 1)``, so its centre is
``(j + 0.5, i + 0.5)``. This is the convention of ``grid_sample(align_corners=False)``; a joint given as a pixel
index must be shifted by + 0.5 first.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from einops import rearrange, repeat

if TYPE_CHECKING:
    import torch

    from actrec.data.config import DataConfig

DEPTH_MODES = ("replicate", "jet", "normals")

# matplotlib's "jet" colour map as (position, value) knots per channel; interpolated linearly (no runtime import).
_JET_KNOTS = (
    ((0.0, 0.35, 0.66, 0.89, 1.0), (0.0, 0.0, 1.0, 1.0, 0.5)),  # red
    ((0.0, 0.125, 0.375, 0.64, 0.91, 1.0), (0.0, 0.0, 1.0, 1.0, 0.0, 0.0)),  # green
    ((0.0, 0.11, 0.34, 0.65, 1.0), (0.5, 1.0, 1.0, 0.0, 0.0)),  # blue
)
# ITU-R BT.601 luma, as torchvision's rgb_to_grayscale.
_LUMA = np.array([0.2989, 0.587, 0.114], dtype=np.float32)


# --- spatial geometry ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Geometry:
    """One spatial transform for a whole clip: source region -> (optional rotation, flip) -> ``size`` x ``size``.

    The region ``[left, left + width) x [top, top + height)`` (source pixels, floats) is rotated by ``angle``
    degrees counter-clockwise (as displayed) about its centre, resized to ``size`` x ``size`` and, with ``flip``,
    mirrored left-right. Parts of the (rotated) region outside the frame read as zeros.
    """

    top: float  # region top edge, source pixels
    left: float  # region left edge, source pixels
    height: float  # region height, source pixels (> 0)
    width: float  # region width, source pixels (> 0)
    size: int  # output side length, pixels (>= 1)
    flip: bool = False  # mirror the output left-right
    angle: float = 0.0  # degrees, counter-clockwise as displayed, about the region centre

    def __post_init__(self) -> None:
        for name in ("top", "left", "height", "width", "angle"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"Geometry.{name} must be finite, got {getattr(self, name)}")
        if self.height <= 0 or self.width <= 0:
            raise ValueError(f"Geometry.height and Geometry.width must be > 0, got {self.height} x {self.width}")
        if int(self.size) != self.size or self.size < 1:
            raise ValueError(f"Geometry.size must be an integer >= 1, got {self.size}")

    def matrix(self) -> np.ndarray:
        """float64 (3, 3) affine map from source to output pixel coordinates (homogeneous, column vectors)."""
        cx, cy = self.left + self.width / 2, self.top + self.height / 2
        theta = math.radians(self.angle)
        cos, sin = math.cos(theta), math.sin(theta)
        centre = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], dtype=np.float64)
        # y points down, so a counter-clockwise turn on screen sends (1, 0) to (cos, -sin).
        rotate = np.array([[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]], dtype=np.float64)
        scale = np.array(
            [[self.size / self.width, 0, self.size / 2], [0, self.size / self.height, self.size / 2], [0, 0, 1]],
            dtype=np.float64,
        )
        mirror = np.array([[-1, 0, self.size], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
        forward = scale @ rotate @ centre
        return mirror @ forward if self.flip else forward


def random_crop_geometry(height: int, width: int, size: int, rng: np.random.Generator) -> Geometry:
    """A uniformly placed ``size`` x ``size`` window, no rescaling (draws exactly as ``random_crop``)."""
    _check_window(height, width, size)
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    return Geometry(top=top, left=left, height=size, width=size, size=size)


def centre_crop_geometry(height: int, width: int, size: int) -> Geometry:
    """The central ``size`` x ``size`` window, no rescaling (the same pixels as ``centre_crop``)."""
    _check_window(height, width, size)
    return Geometry(top=(height - size) // 2, left=(width - size) // 2, height=size, width=size, size=size)


def three_crop_geometries(height: int, width: int, size: int) -> tuple[Geometry, Geometry, Geometry]:
    """Three ``size`` x ``size`` windows (no rescaling) at the start, centre and end of the longer side, centred on
    the shorter one (width counts as longer when square): the spatial views of multi-view testing (SlowFast,
    Feichtenhofer et al., ICCV 2019, Sec. 5). With the short side resized to ``size`` they cover the whole frame.
    """
    _check_window(height, width, size)
    if width >= height:
        top = (height - size) // 2
        lefts = (0, (width - size) // 2, width - size)
        return tuple(Geometry(top=top, left=left, height=size, width=size, size=size) for left in lefts)
    left = (width - size) // 2
    tops = (0, (height - size) // 2, height - size)
    return tuple(Geometry(top=top, left=left, height=size, width=size, size=size) for top in tops)


def random_resized_crop_geometry(
    height: int,
    width: int,
    size: int,
    *,
    scale: tuple[float, float] = (0.25, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    rng: np.random.Generator,
) -> Geometry:
    """Random region of area fraction in ``scale`` and aspect ratio (w / h, log-uniform) in ``ratio``, resized to
    ``size`` x ``size``: torchvision's ``RandomResizedCrop`` (Szegedy et al., CVPR 2015, Sec. 6). After 10 draws
    that do not fit, falls back to the largest centred region whose aspect ratio is clamped into ``ratio``.
    """
    if height < 1 or width < 1 or size < 1:
        raise ValueError(f"height, width and size must be >= 1, got {height}, {width}, {size}")
    if not 0 < scale[0] <= scale[1]:
        raise ValueError(f"scale must satisfy 0 < scale[0] <= scale[1], got {scale}")
    if not 0 < ratio[0] <= ratio[1]:
        raise ValueError(f"ratio must satisfy 0 < ratio[0] <= ratio[1], got {ratio}")
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        crop_w = round(math.sqrt(target_area * aspect))
        crop_h = round(math.sqrt(target_area / aspect))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            top = int(rng.integers(0, height - crop_h + 1))
            left = int(rng.integers(0, width - crop_w + 1))
            return Geometry(top=top, left=left, height=crop_h, width=crop_w, size=size)
    in_ratio = width / height
    if in_ratio < ratio[0]:
        crop_w, crop_h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        crop_w, crop_h = round(height * ratio[1]), height
    else:
        crop_w, crop_h = width, height
    return Geometry(top=(height - crop_h) // 2, left=(width - crop_w) // 2, height=crop_h, width=crop_w, size=size)


def augment_geometry(g: Geometry, *, flip_prob: float, max_rotation: float, rng: np.random.Generator) -> Geometry:
    """``g`` with a horizontal flip toggled with probability ``flip_prob`` and a rotation uniform in
    ``[-max_rotation, max_rotation]`` degrees added. Both draws always happen (stable random streams).
    """
    if not 0 <= flip_prob <= 1:
        raise ValueError(f"flip_prob must be in [0, 1], got {flip_prob}")
    if not max_rotation >= 0:
        raise ValueError(f"max_rotation must be >= 0, got {max_rotation}")
    flip = bool(rng.random() < flip_prob)
    angle = float(rng.uniform(-max_rotation, max_rotation))
    return dataclasses.replace(g, flip=g.flip != flip, angle=g.angle + angle)


def apply_geometry(frames: np.ndarray, g: Geometry, *, interpolation: str = "bilinear") -> np.ndarray:
    """(t, H, W, C) or (t, H, W) -> (t, size, size[, C]), same dtype, the same region for every frame.

    An integer, in-frame ``size`` x ``size`` region without rotation is pure slicing (identical to
    ``random_crop`` / ``centre_crop``; flip is a reversed slice). Anything else resamples with torch
    ``affine_grid`` / ``grid_sample`` (``align_corners=False``, zeros outside the frame); integer dtypes are rounded
    and clipped back. ``interpolation``: "bilinear" or "nearest" (use "nearest" for depth with no-reading zeros, so
    that they are not blended into real values). No antialiasing: shrink by at most ~2x per call (decode at a short
    side near the crop size first), as torchvision's tensor resize with ``antialias=False``.
    """
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
    if frames.ndim not in (3, 4):
        raise ValueError(f"frames must be (t, H, W, C) or (t, H, W), got shape {frames.shape}")
    if frames.dtype.kind not in "uif":
        raise ValueError(f"frames must have an integer or float dtype, got {frames.dtype}")
    height, width = frames.shape[1:3]
    size = int(g.size)
    if (
        g.angle == 0
        and g.height == g.width == size
        and float(g.top).is_integer()
        and float(g.left).is_integer()
        and 0 <= g.top <= height - size
        and 0 <= g.left <= width - size
    ):
        top, left = int(g.top), int(g.left)
        window = frames[:, top : top + size, left : left + size]
        return window[:, :, ::-1] if g.flip else window

    # Resample in numpy (torch's grid_sample semantics, align_corners=False, zeros outside): Ray Data decode workers
    # never import torch, and several of them sharing the cores do not oversubscribe them with intra-op threads.
    squeeze = frames.ndim == 3
    stack = frames[..., None] if squeeze else frames
    out = _resample(stack.astype(np.float32, copy=False), np.linalg.inv(g.matrix()), size, interpolation)
    if squeeze:
        out = out[..., 0]
    return _cast_like(out, frames.dtype)


def transform_points(xy: np.ndarray, g: Geometry) -> np.ndarray:
    """(..., 2) source (x, y) continuous pixel coordinates -> where ``apply_geometry`` puts them in the output.

    Same convention in and out: pixel (row i, column j) has its centre at (j + 0.5, i + 0.5). Float32 input stays
    float32, anything else becomes float64.
    """
    points = np.asarray(xy)
    if points.shape[-1:] != (2,):
        raise ValueError(f"points must have a last axis of size 2 (x, y), got shape {points.shape}")
    dtype = np.float32 if points.dtype == np.float32 else np.float64
    matrix = g.matrix()
    out = points.astype(np.float64) @ matrix[:2, :2].T + matrix[:2, 2]
    return out.astype(dtype)


def random_crop(frames: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """The same random ``size`` x ``size`` window from every frame of (t, H, W, C)."""
    height, width = _check_crop(frames, size)
    return apply_geometry(frames, random_crop_geometry(height, width, size, rng))


def centre_crop(frames: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` x ``size`` window of every frame of (t, H, W, C)."""
    height, width = _check_crop(frames, size)
    return apply_geometry(frames, centre_crop_geometry(height, width, size))


def _check_crop(frames: np.ndarray, size: int) -> tuple[int, int]:
    if frames.ndim != 4:
        raise ValueError(f"frames must be (t, H, W, C), got shape {frames.shape}")
    height, width = frames.shape[1:3]
    _check_window(height, width, size)
    return height, width


def _check_window(height: int, width: int, size: int) -> None:
    if not 1 <= size <= min(height, width):
        raise ValueError(f"crop size must be in [1, {min(height, width)}], got {size}")


def _resample(stack: np.ndarray, inverse: np.ndarray, size: int, interpolation: str) -> np.ndarray:
    """(t, H, W, C) float32 sampled at the ``size`` x ``size`` output pixel centres mapped through ``inverse``
    (output -> source continuous pixel coordinates, pixel (i, j) centred at (j + 0.5, i + 0.5)) -> (t, size, size, C).

    Bilinear: the four neighbouring source pixels, those outside the frame reading as zero; nearest: the pixel whose
    centre is nearest (ties to even, as ``torch.nn.functional.grid_sample``), zero outside.
    """
    height, width = stack.shape[1:3]
    centres = np.arange(size, dtype=np.float64) + 0.5
    out_x, out_y = np.meshgrid(centres, centres)  # (size, size): x varies along columns
    src_x = inverse[0, 0] * out_x + inverse[0, 1] * out_y + inverse[0, 2] - 0.5  # in pixel-index units
    src_y = inverse[1, 0] * out_x + inverse[1, 1] * out_y + inverse[1, 2] - 0.5
    if interpolation == "nearest":
        corners = [(np.rint(src_y).astype(np.int64), np.rint(src_x).astype(np.int64), None)]
    else:
        x0, y0 = np.floor(src_x), np.floor(src_y)
        fx, fy = src_x - x0, src_y - y0
        x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
        corners = [
            (y0, x0, (1 - fy) * (1 - fx)),
            (y0, x0 + 1, (1 - fy) * fx),
            (y0 + 1, x0, fy * (1 - fx)),
            (y0 + 1, x0 + 1, fy * fx),
        ]
    out = np.zeros((stack.shape[0], size, size, stack.shape[3]), dtype=np.float32)
    for rows, cols, weight in corners:
        inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
        values = stack[:, np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)]  # (t, size, size, C)
        scale = inside if weight is None else np.where(inside, weight, 0.0)
        out += values * scale.astype(np.float32)[None, :, :, None]
    return out


def _cast_like(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float -> ``dtype``; integer dtypes are rounded and clipped to their range."""
    if np.dtype(dtype).kind in "ui":
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype, copy=False)


# --- colour -------------------------------------------------------------------------------------------------------


def colour_jitter(
    frames: np.ndarray,
    *,
    brightness: float,
    contrast: float,
    saturation: float,
    hue: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Random brightness / contrast / saturation / hue of an RGB uint8 clip (t, H, W, 3) -> uint8, same shape.

    torchvision ``ColorJitter`` semantics, with one set of factors for the whole clip: brightness, contrast and
    saturation factors are uniform in ``[max(0, 1 - s), 1 + s]``, the hue shift uniform in ``[-hue, hue]`` (turns,
    ``hue <= 0.5``), applied in a random order. Contrast blends each frame with its mean grey level, saturation with
    its grey image, hue rotates the HSV hue. A strength of 0 skips that adjustment (all 0 = identity).
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (t, H, W, 3), got {frames.dtype} {frames.shape}")
    for name, value in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if not 0 <= hue <= 0.5:
        raise ValueError(f"hue must be in [0, 0.5], got {hue}")
    order = rng.permutation(4)
    # Drawn in torchvision's order (permutation, then brightness, contrast, saturation, hue); None = skipped.
    factors = [rng.uniform(max(0.0, 1 - s), 1 + s) if s > 0 else None for s in (brightness, contrast, saturation)]
    factors.append(rng.uniform(-hue, hue) if hue > 0 else None)
    if all(f is None for f in factors):
        return frames.copy()
    clip = frames.astype(np.float32) / 255.0
    for op in order:
        factor = factors[op]
        if factor is None:
            continue
        if op == 0:
            clip = np.clip(clip * factor, 0.0, 1.0)
        elif op == 1:
            mean = (clip @ _LUMA).mean(axis=(1, 2), keepdims=True)[..., None]  # (t, 1, 1, 1): per frame
            clip = np.clip(factor * clip + (1 - factor) * mean, 0.0, 1.0)
        elif op == 2:
            grey = (clip @ _LUMA)[..., None]
            clip = np.clip(factor * clip + (1 - factor) * grey, 0.0, 1.0)
        else:
            clip = _shift_hue(clip, factor)
    return np.clip(np.rint(clip * 255.0), 0, 255).astype(np.uint8)


def _shift_hue(rgb: np.ndarray, shift: float) -> np.ndarray:
    """Rotate the HSV hue of float32 RGB in [0, 1] (..., 3) by ``shift`` turns (saturation and value kept)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    maxc = np.maximum(np.maximum(r, g), b)
    chroma = maxc - np.minimum(np.minimum(r, g), b)  # = value * saturation
    inverse = np.divide(1.0, chroma, out=np.zeros_like(chroma), where=chroma > 0)
    # Hue in sixths of a turn; grey pixels (chroma 0) get 0 and stay grey whatever the shift.
    hue6 = np.where(maxc == r, (g - b) * inverse, np.where(maxc == g, (b - r) * inverse + 2, (r - g) * inverse + 4))
    hue6 = (hue6 + np.float32(6 * shift)) % 6
    # HSV -> RGB: channel n (R: 5, G: 3, B: 1) = v - v s clamp(min(k, 4 - k), 0, 1) with k = (n + 6 h) mod 6.
    k = (np.array([5, 3, 1], dtype=np.float32) + hue6[..., None]) % 6
    ramp = np.clip(np.minimum(k, 4 - k), 0, 1)
    return maxc[..., None] - chroma[..., None] * ramp


# --- depth --------------------------------------------------------------------------------------------------------


def depth_to_unit(depth: np.ndarray, *, near: float, far: float) -> np.ndarray:
    """Raw depth in millimetres (uint16, 0 = no reading, any shape) -> float32 in [0, 1], nearer = brighter.

    ``(far - d) / (far - near)`` clipped to [0, 1], so everything nearer than ``near`` is 1 and everything beyond
    ``far`` is 0; pixels without a reading stay 0 (Kinect v2 depth of NTU RGB+D, Shahroudy et al., CVPR 2016).
    """
    if not 0 <= near < far:
        raise ValueError(f"need 0 <= near < far, got near={near}, far={far}")
    values = depth.astype(np.float32)
    unit = np.clip((far - values) / np.float32(far - near), 0.0, 1.0)
    return np.where(depth > 0, unit, np.float32(0)).astype(np.float32)


def depth_to_three_channels(depth: np.ndarray, mode: str = "replicate") -> np.ndarray:
    """Depth (t, H, W) -> (t, H, W, 3) for RGB-pretrained networks; (t, H, W, C) input uses its channel 0.

    Float input is unit depth in [0, 1] (``depth_to_unit``; 0 = no reading) and gives float32 in [0, 1]; uint8 input
    (8-bit depth video decoded as RGB) is read as ``value / 255`` and gives uint8 (``value * 255``, rounded).

    - "replicate": the depth value in all three channels (the dtype is kept as is).
    - "jet": matplotlib's jet colour map (Eitel et al., IROS 2015, "colorizing depth"); no reading -> black.
    - "normals": surface normals of the height field z = depth * W (depth range spanning the frame width, so the
      result does not depend on the resolution) from central differences between valid neighbours, unit vectors
      (nx, ny, nz) facing the camera mapped by (n + 1) / 2 (a wall facing the camera is (0.5, 0.5, 1)); no reading
      -> 0 (the normals from which HHA's angle channel is derived, Gupta et al., ECCV 2014, Sec. 4).
    """
    if mode not in DEPTH_MODES:
        raise ValueError(f"mode must be one of {DEPTH_MODES}, got {mode!r}")
    if depth.ndim == 4:
        depth = depth[..., 0]
    if depth.ndim != 3:
        raise ValueError(f"depth must be (t, H, W) or (t, H, W, C), got shape {depth.shape}")
    if mode == "replicate":
        out = repeat(depth, "t h w -> t h w c", c=3)
        return out if depth.dtype == np.uint8 else out.astype(np.float32)
    unit = depth.astype(np.float32) / 255.0 if depth.dtype == np.uint8 else depth.astype(np.float32)
    out = _jet(unit) if mode == "jet" else _normals(unit)
    if depth.dtype == np.uint8:
        return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
    return out


def _jet(unit: np.ndarray) -> np.ndarray:
    """float32 (t, H, W) in [0, 1] -> jet colours (t, H, W, 3); 0 (no reading) -> black."""
    values = np.clip(unit, 0.0, 1.0)
    out = np.stack([np.interp(values, xs, ys) for xs, ys in _JET_KNOTS], axis=-1).astype(np.float32)
    return np.where((unit > 0)[..., None], out, np.float32(0))


def _normals(unit: np.ndarray) -> np.ndarray:
    """float32 (t, H, W) unit depth -> surface normals mapped to [0, 1] (t, H, W, 3); 0 (no reading) -> 0."""
    valid = unit > 0
    height = unit * np.float32(unit.shape[2])
    grad_x = _valid_gradient(height, valid, axis=2)
    grad_y = _valid_gradient(height, valid, axis=1)
    normal = np.stack([-grad_x, -grad_y, np.ones_like(height)], axis=-1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    return np.where(valid[..., None], (normal + 1) / 2, np.float32(0)).astype(np.float32)


def _valid_gradient(values: np.ndarray, valid: np.ndarray, axis: int) -> np.ndarray:
    """d values / d axis averaging the forward and backward differences whose two pixels are valid (0 if none)."""
    values, valid = np.moveaxis(values, axis, -1), np.moveaxis(valid, axis, -1)
    both = valid[..., 1:] & valid[..., :-1]  # difference i is values[i + 1] - values[i]
    diff = np.where(both, values[..., 1:] - values[..., :-1], np.float32(0))
    edge = [(0, 0)] * (values.ndim - 1)
    backward, forward = np.pad(diff, [*edge, (1, 0)]), np.pad(diff, [*edge, (0, 1)])
    count = np.pad(both, [*edge, (1, 0)]).astype(np.float32) + np.pad(both, [*edge, (0, 1)]).astype(np.float32)
    return np.moveaxis((backward + forward) / np.maximum(count, 1), -1, axis)


# --- normalisation and the model layout ---------------------------------------------------------------------------


def normalise(frames: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """(t, H, W, 3) -> float32 (3, t, H, W): ``(value - mean[c]) / std[c]`` with value = pixel / 255 for uint8
    input, or the float input itself (already in [0, 1], e.g. ``depth_to_three_channels`` of unit depth).
    """
    clip = rearrange(frames, "t h w c -> c t h w").astype(np.float32)
    if frames.dtype == np.uint8:
        clip /= 255.0
    mean_ = rearrange(np.asarray(mean, dtype=np.float32), "c -> c 1 1 1")
    std_ = rearrange(np.asarray(std, dtype=np.float32), "c -> c 1 1 1")
    return (clip - mean_) / std_


def clip_transform(
    frames: np.ndarray,
    *,
    modality: str,
    crop_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    training: bool,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Decoded uint8 (T, H, W, 3) -> model input float32 (3, T, crop_size, crop_size).

    Training: random crop (needs ``rng``); evaluation: centre crop. Depth is replicated from its first channel.
    """
    if training:
        if rng is None:
            raise ValueError("training transform needs an rng")
        frames = random_crop(frames, crop_size, rng)
    else:
        frames = centre_crop(frames, crop_size)
    if modality == "depth":
        frames = depth_to_three_channels(frames)
    elif modality != "rgb":
        raise ValueError(f"modality must be 'rgb' or 'depth', got {modality!r}")
    return np.ascontiguousarray(normalise(frames, mean, std))


# Model input columns of the pipeline's rows, in the order the model takes them: ``pose`` only for data.modality
# "rgb_pose" (``actrec.data.pipeline.split_valid_inputs``).
MODEL_INPUTS = ("video", "pose")


def model_inputs(inputs: Sequence[torch.Tensor], cfg: DataConfig) -> tuple[torch.Tensor, ...]:
    """The rows' uint8 input columns (``split_valid_inputs``, in ``MODEL_INPUTS`` order; any device) -> the model's
    float32 inputs on the same device: [0, 1] values (x / 255), and image channels (``video`` of every modality but
    pose heatmaps, each group of 3 channels: RGB, or depth rendered as RGB) normalised by ``cfg.mean`` / ``cfg.std``,
    the same arithmetic as :func:`normalise`. Float inputs pass unchanged. Torch is imported here, not with the module
    (decode tasks import this module without it)."""
    import torch

    out = []
    for name, tensor in zip(MODEL_INPUTS, inputs, strict=False):
        if tensor.is_floating_point():
            out.append(tensor)
            continue
        unit = tensor.to(torch.float32) / 255.0
        if name == "video" and cfg.modality != "pose":
            channels = unit.shape[-4]  # (B, [V,] C, T, S, S)
            shape = (channels, 1, 1, 1)
            mean = torch.tensor(cfg.mean, dtype=torch.float32, device=unit.device).repeat(channels // 3).view(shape)
            std = torch.tensor(cfg.std, dtype=torch.float32, device=unit.device).repeat(channels // 3).view(shape)
            unit = (unit - mean) / std
        out.append(unit)
    return tuple(out)
