"""ViT / ViViT pieces (thesis §3.3.1, §4.3.1): patch and tubelet embeddings, class token, positions, encoder block."""

import pytest
import torch

from actrec.layers.relative_position import RelativePositionAttention
from actrec.layers.vit import (
    ClassToken,
    EncoderBlock,
    LearnedPositions,
    MultiheadSelfAttention,
    PatchEmbedding2d,
    SinusoidalPositions,
    TubeletEmbedding,
)


def test_patch_embedding_is_a_linear_map_of_each_frames_patches():
    torch.manual_seed(0)
    embed = PatchEmbedding2d(3, 5, 4)
    x = torch.randn(2, 3, 3, 8, 12)
    tokens = embed(x)
    assert tokens.shape == (2, 3, 2 * 3, 5) and embed.grid(8, 12) == (2, 3)
    # Token (frame 1, patch row 1, col 2) = W · flatten(patch) + b.
    patch = x[0, :, 1, 4:8, 8:12]
    expected = embed.proj.weight.flatten(1) @ patch.flatten() + embed.proj.bias
    assert torch.allclose(tokens[0, 1, 1 * 3 + 2], expected, atol=1e-5)


def test_tubelet_embedding_groups_frames():
    torch.manual_seed(0)
    embed = TubeletEmbedding(3, 5, (2, 4, 4))
    x = torch.randn(1, 3, 4, 8, 8)
    tokens = embed(x)
    assert tokens.shape == (1, 2 * 2 * 2, 5) and embed.grid(4, 8, 8) == (2, 2, 2)
    tube = x[0, :, 2:4, 4:8, 0:4]  # tubelet (t=1, h=1, w=0) -> token 1·4 + 1·2 + 0 = 6
    expected = embed.proj.weight.flatten(1) @ tube.flatten() + embed.proj.bias
    assert torch.allclose(tokens[0, 6], expected, atol=1e-5)


@pytest.mark.parametrize(
    ("module", "shape", "match"),
    [
        (PatchEmbedding2d(3, 4, 16), (1, 3, 2, 40, 32), "H = 40"),
        (TubeletEmbedding(3, 4, (2, 16, 16)), (1, 3, 5, 32, 32), "T = 5"),
    ],
)
def test_sizes_that_do_not_tile_are_named(module, shape, match):
    with pytest.raises(ValueError, match=match):
        module(torch.randn(shape))


def test_class_token_is_prepended_and_learned():
    cls = ClassToken(4)
    x = torch.randn(3, 5, 4)
    out = cls(x)
    assert out.shape == (3, 6, 4)
    assert torch.equal(out[:, 1:], x) and torch.equal(out[0, 0], cls.token[0, 0]) and torch.equal(out[2, 0], out[0, 0])
    out.sum().backward()
    assert cls.token.grad is not None


def test_learned_positions_add_the_table_and_interpolate_other_grids():
    positions = LearnedPositions((2, 2), 3, prefix_tokens=1)
    x = torch.zeros(1, 5, 3)
    assert torch.equal(positions(x, (2, 2)), positions.positions)
    larger = positions(torch.zeros(1, 1 + 16, 3), (4, 4))
    assert larger.shape == (1, 17, 3)
    assert torch.equal(larger[:, 0], positions.positions[:, 0])  # class-token position unchanged
    # Bilinear interpolation of a constant table is constant.
    with torch.no_grad():
        positions.positions[:, 1:] = 2.0
    assert torch.allclose(positions(torch.zeros(1, 10, 3), (3, 3))[:, 1:], torch.full((1, 9, 3), 2.0))
    with pytest.raises(ValueError, match="tokens"):
        positions(torch.zeros(1, 6, 3), (2, 2))
    time_positions = LearnedPositions((8,), 3)
    assert time_positions(torch.zeros(2, 5, 3), (4,)).shape == (2, 5, 3)


def test_sinusoidal_positions_are_fixed_sinusoids():
    positions = SinusoidalPositions(4)
    out = positions(torch.zeros(1, 3, 4))
    assert torch.allclose(out[0, :, 0], torch.sin(torch.arange(3.0)))
    assert torch.allclose(out[0, :, 1], torch.cos(torch.arange(3.0)))
    assert not list(positions.parameters())


def test_multihead_attention_is_scaled_dot_product():
    torch.manual_seed(0)
    attention = MultiheadSelfAttention(8, 2).eval()
    x = torch.randn(2, 5, 8)
    out, weights = attention(x, return_attention=True)
    reference = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    with torch.no_grad():
        reference.in_proj_weight.copy_(attention.qkv.weight)
        reference.in_proj_bias.copy_(attention.qkv.bias)
        reference.out_proj.weight.copy_(attention.proj.weight)
        reference.out_proj.bias.copy_(attention.proj.bias)
    expected, expected_weights = reference(x, x, x, average_attn_weights=False)
    assert torch.allclose(out, expected, atol=1e-5)
    assert torch.allclose(weights, expected_weights, atol=1e-6)
    assert attention(x)[1] is None


def test_encoder_block_pre_and_post_norm():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 8)
    pre = EncoderBlock(8, MultiheadSelfAttention(8, 2), mlp_ratio=2.0).eval()
    h = x + pre.attn(pre.norm1(x))[0]
    assert torch.allclose(pre(x), h + pre.mlp(pre.norm2(h)), atol=1e-6)
    post = EncoderBlock(8, MultiheadSelfAttention(8, 2), norm_first=False).eval()
    h = post.norm1(x + post.attn(x)[0])
    assert torch.allclose(post(x), post.norm2(h + post.mlp(h)), atol=1e-6)
    assert pre.mlp.net[0].out_features == 16


def test_encoder_block_passes_keyword_arguments_to_a_plugged_attention():
    torch.manual_seed(0)
    block = EncoderBlock(8, RelativePositionAttention(8, 2, 3)).eval()
    x = torch.randn(1, 4, 8)
    index = torch.randint(0, 3, (4, 4))
    out, weights = block.attention_sublayer(x, relative_index=index, return_attention=True)
    assert weights.shape == (1, 2, 4, 4)
    assert torch.allclose(block.mlp_sublayer(out), block(x, relative_index=index))
    with pytest.raises(TypeError):
        block(x)  # the relative attention needs its index
