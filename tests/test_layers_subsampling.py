"""Temporal subsampling (thesis §3.3.5): Top-K by the σ of attention rows (Eq. (3.12)-(3.14)), pools, 1D conv."""

import pytest
import torch

from actrec.layers.subsampling import (
    TemporalSubsampling,
    attention_row_std,
    resolve_keep,
    topk_rows_by_std,
)


def _attention_with_row_std(sigmas: list[float], prefix: int = 1) -> torch.Tensor:
    """A (1, 1, P + T, P + T) row-stochastic matrix whose frame rows have increasing spread with `sigmas`."""
    n = prefix + len(sigmas)
    rows = []
    for i in range(n):
        peak = sigmas[i - prefix] if i >= prefix else 0.0
        logits = torch.zeros(n)
        logits[i] = peak  # a peak of height `peak` on the diagonal: larger peak -> larger σ
        rows.append(logits.softmax(-1))
    return torch.stack(rows)[None, None]


def test_row_std_is_eq_3_13():
    attention = torch.rand(2, 3, 5, 5).softmax(-1)
    t = attention.shape[-1]
    mu = attention.sum(-1, keepdim=True) / t  # Eq. (3.14)
    sigma = ((attention - mu) ** 2).sum(-1).sqrt() / t  # Eq. (3.13)
    assert torch.allclose(attention_row_std(attention), sigma.mean(1))
    # A uniform row has σ = 0, a one-hot row the largest σ.
    uniform_and_peaked = torch.stack([torch.full((4,), 0.25), torch.tensor([1.0, 0.0, 0.0, 0.0])])[None, None]
    sigma = attention_row_std(uniform_and_peaked)[0]
    assert sigma[0] == 0 and sigma[1] > 0


def test_topk_keeps_the_rows_of_largest_std_in_time_order():
    attention = _attention_with_row_std([0.5, 4.0, 0.1, 3.0, 2.0, 0.0])
    index = topk_rows_by_std(attention, keep=3)
    assert index.tolist() == [[1, 3, 4]]
    # The class-token row is never a candidate, even when it is the most peaked one.
    peaked_cls = attention.clone()
    peaked_cls[0, 0, 0] = torch.tensor([1.0, 0, 0, 0, 0, 0, 0])
    assert topk_rows_by_std(peaked_cls, keep=1).tolist() == [[1]]


def test_topk_layer_gathers_tokens_and_positions():
    torch.manual_seed(0)
    attention = _attention_with_row_std([0.5, 4.0, 0.1, 3.0])
    tokens = torch.randn(1, 5, 6)
    positions = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    layer = TemporalSubsampling("topk", 6, keep=0.5)
    out, kept = layer(tokens, positions, attention)
    assert out.shape == (1, 3, 6)
    assert torch.equal(out[:, 0], tokens[:, 0])  # class token kept first
    assert torch.equal(out[:, 1:], tokens[:, [2, 4]])  # frames 1 and 3 (token rows 2 and 4)
    assert kept.tolist() == [[1.0, 3.0]]
    with pytest.raises(ValueError, match="attention"):
        layer(tokens, positions)


def test_topk_picks_per_sample():
    attention = torch.cat([_attention_with_row_std([4.0, 0.0, 3.0]), _attention_with_row_std([0.0, 4.0, 3.0])])
    assert topk_rows_by_std(attention, keep=2).tolist() == [[0, 2], [1, 2]]


def test_resolve_keep():
    assert resolve_keep(0.5, 16) == 8 and resolve_keep(0.5, 5) == 2 and resolve_keep(0.5, 1) == 1
    assert resolve_keep(3, 16) == 3 and resolve_keep(20, 16) == 16
    for bad in (0, 1.5, 0.0, True, "half"):
        with pytest.raises(ValueError, match="keep"):
            resolve_keep(bad, 4)


def test_uniform_methods_halve_the_frames_and_keep_the_class_token():
    torch.manual_seed(0)
    tokens = torch.randn(2, 1 + 8, 4)
    positions = torch.arange(8.0).expand(2, 8)
    for method in ("max_pool", "avg_pool", "conv"):
        out, kept = TemporalSubsampling(method, 4)(tokens, positions)
        assert out.shape == (2, 1 + 4, 4)
        assert torch.equal(out[:, 0], tokens[:, 0])
        assert kept.tolist() == [[0.5, 2.5, 4.5, 6.5]] * 2  # mean position of each window of 2
    max_out, _ = TemporalSubsampling("max_pool", 4)(tokens, positions)
    avg_out, _ = TemporalSubsampling("avg_pool", 4)(tokens, positions)
    assert torch.equal(max_out[:, 1:], torch.maximum(tokens[:, 1::2], tokens[:, 2::2]))
    assert torch.allclose(avg_out[:, 1:], (tokens[:, 1::2] + tokens[:, 2::2]) / 2)


def test_kernel_3_still_halves_even_lengths():
    tokens, positions = torch.randn(1, 1 + 16, 4), torch.arange(16.0)[None]
    for method in ("max_pool", "avg_pool", "conv"):
        layer = TemporalSubsampling(method, 4, kernel_size=3)
        out, _ = layer(tokens, positions)
        assert out.shape[1] == 1 + 8 == 1 + layer.output_frames(16)


def test_too_few_frames_for_pooling_is_an_error():
    with pytest.raises(ValueError, match="at least 2 frames"):
        TemporalSubsampling("max_pool", 4)(torch.randn(1, 2, 4), torch.zeros(1, 1))


def test_conv_has_parameters_and_the_others_none():
    assert sum(p.numel() for p in TemporalSubsampling("conv", 4).parameters()) == 4 * 4 * 2 + 4
    for method in ("topk", "max_pool", "avg_pool"):
        assert not list(TemporalSubsampling(method, 4).parameters())
    with pytest.raises(ValueError, match="method"):
        TemporalSubsampling("median", 4)
