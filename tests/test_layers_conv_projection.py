"""CTN depth-wise convolutional Q/K/V mapping (thesis §4.3.4 Eq. (4.6)), its attention (Eq. (4.3)) and encoder."""

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from actrec.layers.conv_projection import (
    ConvMultiheadAttention,
    ConvProjection,
    ConvTransformerBlock,
    LinearProjection,
    qkv_mapping,
)


def _randomise_batch_norm(module: torch.nn.Module) -> None:
    with torch.no_grad():
        for norm in module.modules():
            if isinstance(norm, torch.nn.BatchNorm2d):
                norm.running_mean.uniform_(-1, 1)
                norm.running_var.uniform_(0.5, 2)
                norm.weight.uniform_(0.5, 2)
                norm.bias.uniform_(-1, 1)


@pytest.mark.parametrize("kernel_size", [1, 3, 5])
@pytest.mark.parametrize("batch_norm", [True, False])
@pytest.mark.parametrize(("grid", "prefix"), [((1, 4, 5), 1), ((2, 3, 3), 1), ((3, 2, 4), 0)])
def test_depthwise_mapping_keeps_token_count_and_shape(kernel_size, batch_norm, grid, prefix):
    projection = ConvProjection(8, kernel_size, batch_norm=batch_norm)
    x = torch.randn(2, prefix + grid[0] * grid[1] * grid[2], 8)
    assert projection(x, grid, prefix).shape == x.shape
    assert projection.depthwise.groups == 8 and projection.depthwise.kernel_size == (kernel_size, kernel_size)
    assert (projection.norm is not None) == batch_norm and (projection.depthwise.bias is None) == batch_norm


def test_conv_mapping_is_depthwise_then_batch_norm_then_pointwise_per_frame():
    torch.manual_seed(0)
    projection = ConvProjection(6, 3).eval()
    _randomise_batch_norm(projection)
    grid = (2, 3, 4)
    x = torch.randn(2, 1 + 24, 6)
    out = projection(x, grid, 1)
    norm = projection.norm
    for t in range(grid[0]):
        frame = rearrange(x[:, 1 + 12 * t : 1 + 12 * (t + 1)], "b (h w) d -> b d h w", h=3)  # Reshaped2d
        mapped = F.conv2d(frame, projection.depthwise.weight, None, padding=1, groups=6)
        mapped = F.batch_norm(mapped, norm.running_mean, norm.running_var, norm.weight, norm.bias, eps=norm.eps)
        expected = projection.pointwise(rearrange(mapped, "b d h w -> b (h w) d"))  # Flatten, 1×1 conv
        assert torch.allclose(out[:, 1 + 12 * t : 1 + 12 * (t + 1)], expected, atol=1e-5)
    # The class token has no place on the map: it takes the pointwise map only.
    assert torch.allclose(out[:, 0], projection.pointwise(x[:, 0]), atol=1e-6)


def test_conv_mapping_is_local_within_a_frame_and_linear_mapping_is_tokenwise():
    torch.manual_seed(0)
    grid = (2, 5, 5)
    x = torch.randn(1, 1 + 50, 4)
    moved = x.clone()
    moved[0, 1 + 2 * 5 + 2] += 1.0  # token (t=0, h=2, w=2)
    conv = ConvProjection(4, 3).eval()
    changed = (conv(moved, grid, 1) - conv(x, grid, 1)).abs().amax(-1)[0] > 1e-6  # (1 + 50,)
    body = rearrange(changed[1:], "(t h w) -> t h w", t=2, h=5)
    expected = torch.zeros(2, 5, 5, dtype=torch.bool)
    expected[0, 1:4, 1:4] = True  # the 3×3 neighbourhood in the same frame only
    assert torch.equal(body, expected) and not changed[0]
    linear = LinearProjection(4)
    changed = (linear(moved, grid, 1) - linear(x, grid, 1)).abs().amax(-1)[0] > 1e-6
    assert changed.sum() == 1 and changed[1 + 12]


def test_mappings_reject_token_counts_that_do_not_match_the_grid():
    for projection in (ConvProjection(4, 3), LinearProjection(4)):
        with pytest.raises(ValueError, match="26 tokens"):
            projection(torch.randn(1, 26, 4), (1, 5, 4), 1)
    with pytest.raises(ValueError, match="odd"):
        ConvProjection(4, 4)
    with pytest.raises(ValueError, match="mapping must be one of"):
        qkv_mapping(4, "dense")


@pytest.mark.parametrize("mapping", ["conv", "linear"])
def test_attention_is_scaled_dot_product_over_the_mapped_qkv(mapping):
    torch.manual_seed(0)
    attention = ConvMultiheadAttention(8, 2, mapping=mapping).eval()
    grid = (1, 3, 3)
    x = torch.randn(2, 10, 8)
    q, k, v = (
        rearrange(m(x, grid, 1), "b n (h d) -> b h n d", h=2) for m in (attention.to_q, attention.to_k, attention.to_v)
    )
    expected = attention.proj(rearrange(F.scaled_dot_product_attention(q, k, v), "b h n d -> b n (h d)"))
    assert torch.allclose(attention(x, grid, 1), expected, atol=1e-5)


def test_conv_mapping_makes_attention_see_token_positions():
    # With the linear mapping attention is permutation-equivariant over the body tokens (it needs positions); the
    # convolutional mapping breaks that symmetry, which is why CTN can drop the positional embedding (Table 4.3).
    torch.manual_seed(0)
    grid = (1, 4, 4)
    x = torch.randn(1, 17, 8)
    order = torch.cat([torch.zeros(1, dtype=torch.long), 1 + torch.randperm(16)])
    for mapping, equivariant in (("linear", True), ("conv", False)):
        attention = ConvMultiheadAttention(8, 2, mapping=mapping).eval()
        same = torch.allclose(attention(x[:, order], grid, 1), attention(x, grid, 1)[:, order], atol=1e-5)
        assert same == equivariant


def test_encoder_block_is_pre_norm_residual_and_trains():
    torch.manual_seed(0)
    block = ConvTransformerBlock(8, 2, mlp_ratio=2.0, kernel_size=3)
    grid = (2, 3, 3)
    x = torch.randn(2, 19, 8, requires_grad=True)
    out = block(x, grid)
    assert out.shape == x.shape
    block.eval()
    with torch.no_grad():
        mid = x + block.attn(block.norm1(x), grid, 1)
        assert torch.allclose(block(x, grid), mid + block.mlp(block.norm2(mid)), atol=1e-5)
    block.train()
    block(x, grid).sum().backward()
    assert block.mlp.net[0].out_features == 16
    for name, param in block.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
    with pytest.raises(ValueError, match="heads"):
        ConvTransformerBlock(8, 3)
