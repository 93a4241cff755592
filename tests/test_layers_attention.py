"""k-NN multi-head self-attention (KVT [29], MFST Eq. (8)) and the Transformer helpers."""

import math

import pytest
import torch
from einops import rearrange

from actrec.layers.attention import KNNMultiheadAttention, resolve_knn_k
from actrec.layers.transformer import Transformer, TransformerBlock, sinusoidal_positions


def _scores(layer: KNNMultiheadAttention, x: torch.Tensor) -> torch.Tensor:
    q, k, _ = rearrange(layer.qkv(x), "b n (three h d) -> three b h n d", three=3, h=layer.heads)
    return torch.einsum("bhid,bhjd->bhij", q, k) / math.sqrt(layer.dim // layer.heads)


@pytest.mark.parametrize(("k", "expected"), [(3, 3), (1, 1), (0.5, 5), (0.25, 2), (0.01, 1), (1.0, 10), (50, 10)])
def test_exactly_k_nonzero_weights_per_query(k, expected):
    torch.manual_seed(0)
    layer = KNNMultiheadAttention(dim=16, heads=4, k=k)
    x = torch.randn(2, 10, 16)
    out, attn = layer(x, return_attention=True)
    assert out.shape == (2, 10, 16)
    assert attn.shape == (2, 4, 10, 10)
    assert resolve_knn_k(k, 10) == expected
    assert ((attn > 0).sum(-1) == expected).all()
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 4, 10))


def test_kept_keys_are_the_largest_scores():
    torch.manual_seed(1)
    layer = KNNMultiheadAttention(dim=16, heads=2, k=4)
    x = torch.randn(3, 9, 16)
    _, attn = layer(x, return_attention=True)
    top = _scores(layer, x).topk(4, dim=-1).indices
    kept = torch.zeros_like(attn, dtype=torch.bool).scatter(-1, top, True)
    assert torch.equal(attn > 0, kept)


@pytest.mark.parametrize("k", [1.0, 12, 100])
def test_k_at_least_n_equals_softmax_attention(k):
    torch.manual_seed(2)
    layer = KNNMultiheadAttention(dim=16, heads=4, k=k)
    x = torch.randn(2, 12, 16)
    out, attn = layer(x, return_attention=True)
    full = _scores(layer, x).softmax(-1)
    torch.testing.assert_close(attn, full)
    _, _, v = rearrange(layer.qkv(x), "b n (three h d) -> three b h n d", three=3, h=layer.heads)
    expected = layer.proj(rearrange(torch.einsum("bhij,bhjd->bhid", full, v), "b h n d -> b n (h d)"))
    torch.testing.assert_close(out, expected)


def test_matches_masked_reference_and_backpropagates():
    torch.manual_seed(3)
    layer = KNNMultiheadAttention(dim=8, heads=2, k=3)
    x = torch.randn(2, 7, 8, requires_grad=True)
    _, attn = layer(x, return_attention=True)
    scores = _scores(layer, x)
    threshold = scores.topk(3, dim=-1).values[..., -1:]
    reference = scores.masked_fill(scores < threshold, float("-inf")).softmax(-1)
    torch.testing.assert_close(attn, reference)
    layer(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert layer.qkv.weight.grad is not None and layer.qkv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"k": 0}, "k"),
        ({"k": 0.0}, "k"),
        ({"k": 1.5}, "k"),
        ({"k": True}, "k"),
        ({"k": "half"}, "k"),
        ({"dim": 10, "heads": 4}, "divisible"),
        ({"heads": 0}, "heads"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_invalid_arguments_raise(kwargs, name):
    arguments = {"dim": 16, "heads": 4, "k": 0.5, **kwargs}
    with pytest.raises(ValueError, match=name):
        KNNMultiheadAttention(**arguments)


def test_sinusoidal_positions_follow_eq_9_and_10():
    length, dim = 6, 10
    pe = sinusoidal_positions(length, dim)
    assert pe.shape == (length, dim) and pe.dtype == torch.float32
    for pos in range(length):
        for i in range(dim // 2):
            angle = pos / 10000 ** (2 * i / dim)
            assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert sinusoidal_positions(3, 5).shape == (3, 5)


def test_transformer_block_none_k_is_full_attention_and_stack_shapes():
    block = TransformerBlock(16, 4, knn_k=None)
    assert block.attn.k == 1.0
    stack = Transformer(16, depth=2, heads=4, knn_k=0.5)
    assert len(stack.layers) == 2
    assert stack(torch.randn(3, 5, 16)).shape == (3, 5, 16)
    with pytest.raises(ValueError, match="depth"):
        Transformer(16, depth=0, heads=4)
