"""FRP (De+Recouple §3.1.1 Eq. (2)-(6)) on hand-checkable cases: a moving square, morphology, the fusion."""

import math

import pytest
import torch

from actrec.layers.frp import (
    FastRegionalPositioning,
    GuidedFeatureFusion,
    binary_opening,
    dynamic_image_weights,
    dynamic_images,
    mean_threshold,
)


def _gelu(x: float) -> float:
    return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))


def _moving_square(frames: int = 8, size: int = 20, side: int = 3, step: int = 2, top: int = 5) -> torch.Tensor:
    """A bright side×side square over a black static background, moving right by ``step`` px per frame.

    Returns (1, 3, T, H, W); the square's top-left corner is (top, step·t) in frame t (0-based).
    """
    video = torch.zeros(1, 3, frames, size, size)
    for t in range(frames):
        video[0, :, t, top : top + side, step * t : step * t + side] = 1.0
    return video


def test_dynamic_image_weights_are_rank_pooling_over_a_truncated_sliding_window():
    weights = dynamic_image_weights(5, 3)
    expected = torch.tensor(
        [
            [0, 0, 0, 0, 0],  # frame 1: N = 1, weight 2·1 - 1 - 1 = 0
            [-1, 1, 0, 0, 0],  # N = 2
            [-2, 0, 2, 0, 0],  # N = 3 = window
            [0, -2, 0, 2, 0],
            [0, 0, -2, 0, 2],
        ],
        dtype=torch.float32,
    )
    torch.testing.assert_close(weights, expected)


def test_dynamic_images_satisfy_the_sliding_recurrence_of_eq2():
    torch.manual_seed(0)
    window = 4
    video = torch.randn(2, 3, 9, 5, 6, dtype=torch.float64)
    di = dynamic_images(video, window)

    def frame(k: int) -> torch.Tensor:  # I_k, 1-based as in the paper
        return video[:, :, k - 1]

    # DI(n, m) = DI(n-1, m-1) + (m-n)(I_{n-1} + I_m) - 2 Σ_{l=n}^{m-1} I_l for full windows n = m - window + 1 >= 2.
    for m in range(window + 1, 10):
        n = m - window + 1
        expected = di[:, :, m - 2] + (m - n) * (frame(n - 1) + frame(m)) - 2 * sum(frame(k) for k in range(n, m))
        torch.testing.assert_close(di[:, :, m - 1], expected)


def test_static_video_has_zero_dynamic_images_and_zero_guidance():
    video = torch.rand(1, 3, 1, 7, 7).expand(1, 3, 6, 7, 7)  # the same frame six times
    torch.testing.assert_close(dynamic_images(video, 4), torch.zeros(1, 3, 6, 7, 7), atol=1e-6, rtol=0)
    assert torch.all(FastRegionalPositioning()(video) == 0)


def test_moving_square_guidance_is_high_on_its_recent_path_and_zero_on_the_static_background():
    video = _moving_square()
    frp = FastRegionalPositioning(window=4, amplification=2.0, kernel_size=3, normalize=False)
    guidance = frp(video)  # (1, T, H, W)
    assert guidance.shape == (1, 8, 20, 20)
    assert torch.all(guidance[0, 0] == 0)  # frame 1: nothing has moved yet
    rows = slice(5, 8)
    for t in range(3, 8):  # full 4-frame windows
        g = guidance[0, t]
        # Hand check at frame t (square at columns 2t..2t+2, window weights -3, -1, 1, 3 for frames t-3..t):
        # column 2t is covered at t-1 and t → DI = 4; columns 2t+1, 2t+2 only at t → 3; column 2t-1 only at
        # t-1 → 1. These are the values above the mean; the 3×4 block survives the 3×3 opening, so
        # G = (2·GELU(DI) + 1) · 1 there.
        expected = torch.zeros(20, 20)
        for column, di in ((2 * t - 1, 1.0), (2 * t, 4.0), (2 * t + 1, 3.0), (2 * t + 2, 3.0)):
            expected[rows, column] = 2 * _gelu(di) + 1
        torch.testing.assert_close(g, expected)
        # High on the square's current position, exactly zero on the static background.
        assert torch.all(g[rows, 2 * t : 2 * t + 3] > 1)
        background = torch.ones(20, 20, dtype=torch.bool)
        background[rows, : 2 * t + 3] = False  # everything the square has ever covered
        assert torch.all(g[background] == 0)


def test_normalized_guidance_lies_in_unit_interval_with_its_peak_at_one():
    guidance = FastRegionalPositioning()(_moving_square())
    assert guidance.min() >= 0 and guidance.max() <= 1
    # Frame 2 (2-frame window) moves only a 2-pixel-wide strip forward: narrower than the 3×3 opening, so S and G
    # are empty; from frame 3 on the 3-pixel-wide front survives and each map peaks at exactly 1.
    assert torch.all(guidance[0, 1] == 0)
    peaks = guidance[0, 2:].amax(dim=(-2, -1))
    torch.testing.assert_close(peaks, torch.ones(6))


def test_mean_threshold_keeps_values_at_or_above_the_mean():
    maps = torch.tensor([[[1.0, 2.0], [3.0, 6.0]]])  # mean 3
    torch.testing.assert_close(mean_threshold(maps), torch.tensor([[[0.0, 0.0], [3.0, 6.0]]]))


def test_erosion_then_dilation_removes_specks_and_keeps_blocks():
    mask = torch.zeros(1, 1, 10, 10)
    mask[0, 0, 1, 8] = 1  # isolated speck: eroded away, nothing to dilate back
    mask[0, 0, 4:7, 2:6] = 1  # 3×4 block: survives the 3×3 opening unchanged
    mask[0, 0, 1:3, 1:3] = 1  # 2×2 block: narrower than the kernel, removed
    expected = torch.zeros(1, 1, 10, 10)
    expected[0, 0, 4:7, 2:6] = 1
    torch.testing.assert_close(binary_opening(mask, 3), expected)
    torch.testing.assert_close(binary_opening(mask, 1), mask)  # a 1×1 kernel is the identity


def test_static_map_suppresses_a_sub_kernel_flicker_that_the_dynamic_map_keeps():
    video = _moving_square()
    video[0, :, 5, 13, 14] = 1.0  # one-pixel flash in frame 6, e.g. a light reflection
    with_static = FastRegionalPositioning(normalize=False)(video)
    without_static = FastRegionalPositioning(normalize=False, use_static_map=False)(video)
    assert without_static[0, 5, 13, 14] > 0
    assert with_static[0, 5, 13, 14] == 0
    # Without S the map is D itself: GELU keeps small negative values on the square's older positions.
    assert without_static.min() < 0


def test_frp_rejects_bad_arguments():
    with pytest.raises(ValueError, match="window"):
        FastRegionalPositioning(window=1)
    with pytest.raises(ValueError, match="amplification"):
        FastRegionalPositioning(amplification=0)
    with pytest.raises(ValueError, match="kernel_size"):
        FastRegionalPositioning(kernel_size=2)
    with pytest.raises(ValueError, match="frames"):
        FastRegionalPositioning()(torch.zeros(3, 4, 8, 8))


def test_fusion_max_pools_guidance_to_the_feature_map_and_applies_eq6():
    guidance = torch.zeros(1, 2, 8, 8)
    guidance[0, 1, 5, 2] = 0.5  # falls into cell (2, 1) of a 4×4 map after 2×2 max-pooling
    features = torch.rand(1, 3, 2, 4, 4) + 0.5
    out = GuidedFeatureFusion()(features, guidance)
    pooled = torch.zeros(1, 1, 2, 4, 4)
    pooled[0, 0, 1, 2, 1] = 0.5
    # Initial 1D-conv weights (1, 0) on (f ⊙ G, f): O = f ⊙ G + f.
    torch.testing.assert_close(out, features * pooled + features)
    assert out.shape == features.shape


def test_fusion_conv_weights_are_learned_and_zero_guidance_leaves_features_unchanged():
    fusion = GuidedFeatureFusion()
    with torch.no_grad():
        fusion.combine.weight.copy_(torch.tensor([0.5, -2.0]).view(1, 2, 1))
    features = torch.randn(2, 4, 3, 5, 5)
    guidance = torch.rand(2, 3, 10, 10)
    pooled = torch.nn.functional.max_pool2d(guidance, 2).unsqueeze(1)  # (2, 1, 3, 5, 5)
    out = fusion(features, guidance)
    torch.testing.assert_close(out, 0.5 * features * pooled - 2.0 * features + features)
    out.sum().backward()
    assert fusion.combine.weight.grad is not None and torch.all(fusion.combine.weight.grad != 0)
    # With the paper-style initialisation and an all-zero guidance map the fusion is O = f.
    fresh = GuidedFeatureFusion()
    torch.testing.assert_close(fresh(features, torch.zeros(2, 3, 10, 10)), features)


def test_fusion_rejects_mismatched_inputs():
    fusion = GuidedFeatureFusion()
    with pytest.raises(ValueError, match="features"):
        fusion(torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="guidance"):
        fusion(torch.zeros(1, 3, 2, 4, 4), torch.zeros(1, 1, 2, 8, 8))
    with pytest.raises(ValueError, match="batch size"):
        fusion(torch.zeros(2, 3, 2, 4, 4), torch.zeros(1, 2, 8, 8))


def test_frp_then_fusion_end_to_end_is_differentiable_in_the_features():
    video = _moving_square()
    guidance = FastRegionalPositioning()(video)
    features = torch.randn(1, 6, 8, 4, 4, requires_grad=True)
    out = GuidedFeatureFusion()(features, guidance)
    out.sum().backward()
    assert features.grad is not None
    # The square's path (rows 5-7 of 20 → row 1 of 4) gets extra weight; untouched cells pass through as f.
    assert torch.all(features.grad[0, :, :, 0] == 1)
    for t in range(3, 8):
        assert torch.all(features.grad[0, :, t, 1, (2 * t) // 5] > 1)  # cell holding the square's column 2t


def test_mean_threshold_drops_faint_motion_below_the_frame_mean():
    video = _moving_square()
    for t in range(8):  # a faint square (intensity 0.02, e.g. a shadow) moving along rows 13-15
        video[0, :, t, 13:16, 2 * t : 2 * t + 3] += 0.02
    guidance = FastRegionalPositioning(normalize=False)(video)
    dynamic_only = FastRegionalPositioning(normalize=False, use_static_map=False)(video)
    for t in range(3, 8):
        assert torch.all(dynamic_only[0, t, 13:16, 2 * t] > 0)  # D sees the faint motion ...
        assert torch.all(guidance[0, t, 13:16] == 0)  # ... but it is below the mean, so S and G drop it
        assert torch.all(guidance[0, t, 5:8, 2 * t] > 1)  # the bright square is kept
