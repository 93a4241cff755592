"""CTN video-to-tokens (thesis §4.3.3 Eq. (4.5), Eq. (4.8), Table 4.4) and the tubelet embedding (§4.3.1)."""

import pytest
import torch
import torch.nn.functional as F

from actrec.layers.video_tokens import (
    PatchTokens,
    VideoStem,
    VideoToTokens,
    as_triple,
    stem_output_size,
    token_grid,
)
from actrec.layers.vit import TubeletEmbedding


def test_paper_stem_gives_stride_four_and_a_1x14x14_grid():
    # §4.4.1: Conv3d 7×7×7 stride 2 → BN → MaxPool3d 3×3×3 stride 2 (s = 4, §4.3.3), then 4×4×2 patches.
    assert stem_output_size((8, 224, 224)) == (2, 56, 56)
    assert token_grid((2, 56, 56), (2, 4, 4)) == (1, 14, 14)
    with torch.device("meta"):
        v2t = VideoToTokens(3, 768)
    assert v2t.grid(8, 224, 224) == (1, 14, 14)
    assert v2t.stem.conv.kernel_size == (7, 7, 7) and v2t.stem.conv.stride == (2, 2, 2)
    assert v2t.stem.conv.out_channels == 32 and v2t.stem.norm is not None and v2t.stem.pool is not None
    assert v2t.patch.proj.kernel_size == v2t.patch.proj.stride == (2, 4, 4)


@pytest.mark.parametrize(
    ("kernel", "stride", "max_pool"),
    [((7, 7, 7), 4, False), ((5, 5, 5), 4, False), ((7, 7, 7), 2, True)],  # the stems of Table 4.4
)
def test_table_4_4_stems_reach_the_same_token_grid(kernel, stride, max_pool):
    sizes = stem_output_size((8, 224, 224), kernel_size=kernel, stride=stride, max_pool=max_pool)
    assert sizes == (2, 56, 56)


@pytest.mark.parametrize(
    ("kernel", "stride", "max_pool", "batch_norm", "shape"),
    [
        (7, 2, True, True, (2, 3, 8, 32, 32)),
        (3, (1, 2, 2), True, False, (1, 3, 5, 31, 18)),
        (5, 4, False, False, (2, 1, 7, 40, 21)),
        ((3, 5, 5), 1, True, True, (1, 3, 3, 9, 9)),
    ],
)
def test_stem_output_size_matches_the_tensor(kernel, stride, max_pool, batch_norm, shape):
    stem = VideoStem(shape[1], 4, kernel_size=kernel, stride=stride, batch_norm=batch_norm, max_pool=max_pool)
    out = stem(torch.randn(shape))
    assert out.shape == (shape[0], 4, *stem.output_size(*shape[2:]))


def test_stem_is_max_pool_of_batch_norm_of_conv_eq_4_5():
    torch.manual_seed(0)
    stem = VideoStem(3, 4, kernel_size=3, stride=2).eval()
    with torch.no_grad():
        stem.norm.running_mean.uniform_(-1, 1)
        stem.norm.running_var.uniform_(0.5, 2)
        stem.norm.weight.uniform_(0.5, 2)
        stem.norm.bias.uniform_(-1, 1)
    x = torch.randn(2, 3, 6, 12, 12)
    expected = F.conv3d(x, stem.conv.weight, None, stride=2, padding=1)  # bias-free: BN follows
    expected = F.batch_norm(
        expected, stem.norm.running_mean, stem.norm.running_var, stem.norm.weight, stem.norm.bias, eps=stem.norm.eps
    )
    expected = F.max_pool3d(expected, 3, stride=2, padding=1)
    assert torch.allclose(stem(x), expected, atol=1e-5)
    assert stem.conv.bias is None


def test_stem_switches_drop_batch_norm_and_pool():
    stem = VideoStem(3, 64, kernel_size=7, stride=4, batch_norm=False, max_pool=False)
    assert stem.norm is None and stem.pool is None and stem.conv.bias is not None
    x = torch.randn(1, 3, 8, 16, 16)
    assert torch.allclose(stem(x), stem.conv(x))


def test_patch_tokens_project_each_patch_in_thw_order():
    torch.manual_seed(0)
    patch = PatchTokens(4, 6, (2, 2, 3))
    x = torch.randn(1, 4, 4, 6, 6)
    tokens = patch(x)
    assert tokens.shape == (1, 2 * 3 * 2, 6) and patch.grid(4, 6, 6) == (2, 3, 2)
    # Token (t=1, h=2, w=1) -> index 1·6 + 2·2 + 1 = 11 is W · flatten(patch) + b.
    block = x[0, :, 2:4, 4:6, 3:6]
    expected = patch.proj.weight.flatten(1) @ block.flatten() + patch.proj.bias
    assert torch.allclose(tokens[0, 11], expected, atol=1e-5)


def test_video_to_tokens_shapes_and_grid():
    v2t = VideoToTokens(3, 16, channels=8, kernel_size=3, patch_size=(1, 2, 2))
    for shape, grid in [((2, 3, 8, 32, 32), (2, 4, 4)), ((2, 3, 4, 32, 32), (1, 4, 4)), ((1, 3, 8, 64, 64), (2, 8, 8))]:
        assert v2t.grid(*shape[2:]) == grid
        assert v2t(torch.randn(shape)).shape == (shape[0], grid[0] * grid[1] * grid[2], 16)


def test_sizes_that_do_not_tile_are_named():
    v2t = VideoToTokens(3, 8, channels=4)  # paper stem: T = 4 → 1 after the stem, not a multiple of 2
    with pytest.raises(ValueError, match="T = 1 is not a multiple of the patch size 2"):
        v2t(torch.randn(1, 3, 4, 32, 32))
    with pytest.raises(ValueError, match="H = 3"):
        v2t.grid(8, 12, 16)  # 12 → 6 → 3, not a multiple of 4
    with pytest.raises(ValueError, match="tubelet"):
        TubeletEmbedding(3, 8, (2, 16, 16))(torch.randn(1, 3, 8, 24, 32))
    with pytest.raises(ValueError, match="too small"):
        stem_output_size((8, 224, 0))


def test_tubelet_tokens_are_vivits_tubelets():
    torch.manual_seed(0)
    tube = TubeletEmbedding(3, 5, (2, 4, 4))
    x = torch.randn(1, 3, 4, 8, 8)
    tokens = tube(x)
    assert tokens.shape == (1, 8, 5) and tube.grid(4, 8, 8) == (2, 2, 2)
    block = x[0, :, 2:4, 0:4, 4:8]  # tubelet (t=1, h=0, w=1) -> index 4 + 0 + 1 = 5
    expected = tube.proj.weight.flatten(1) @ block.flatten() + tube.proj.bias
    assert torch.allclose(tokens[0, 5], expected, atol=1e-5)
    assert TubeletEmbedding(3, 5, (2, 16, 16)).grid(8, 224, 224) == (4, 14, 14)  # ViViT-B 16×16×2 on the 8-frame clip


def test_as_triple_validates():
    assert as_triple(3, "k") == (3, 3, 3) and as_triple([1, 2, 2], "k") == (1, 2, 2)
    for bad in (0, (1, 2), (1, 0, 1), True, "3", 2.0):
        with pytest.raises(ValueError, match="k must be"):
            as_triple(bad, "k")
