"""Relative-position embeddings on the query (thesis §3.3.3): mapping functions, clusters, Eq. (3.7) attention."""

import math

import pytest
import torch

from actrec.layers.relative_position import (
    RelativePositionAttention,
    clip_bucket,
    map_distance,
    num_clusters,
    relative_position_logits,
    sectioned_bucket,
    sectioned_parameters,
    spatial_bucket_index,
    temporal_bucket_index,
)


def _s(values, *, b=4.0, y=8, a=32.0):
    return sectioned_bucket(torch.tensor(values, dtype=torch.float64), b=b, y=y, a=a).tolist()


def test_sectioned_is_the_rounded_identity_inside_b():
    # Eq. (3.8): s(x) = [x] for |x| <= b (b = 4).
    assert _s([0.0, 0.4, 1.0, 2.6, 3.0, 4.0, -1.0, -2.6, -4.0]) == [0, 0, 1, 3, 3, 4, -1, -3, -4]


def test_sectioned_hand_values_grow_logarithmically_and_clip_at_y():
    # Eq. (3.9) with b = 4, y = 8, a = 32: 4 + ln(|x|/4) / ln(8) · 4, rounded, at most 8.
    #   x = 5: 4.43 -> 4; x = 8: 5.33 -> 5; x = 16: 6.67 -> 7; x = 32 (= a): 8; x = 64: 9.33 -> clipped to 8.
    assert _s([5.0, 8.0, 16.0, 32.0, 64.0, 1000.0]) == [4, 5, 7, 8, 8, 8]
    # Logarithmic: doubling the distance adds a constant (y - b) / log2(a / b) = 4/3 before rounding.
    for x in (5.0, 8.0, 16.0):
        raw = 4 + math.log(x / 4) / math.log(8) * 4
        assert _s([x]) == [round(raw)]
    # The paper's default 1 : 2 : 8 at y = 3: b = 1.5, a = 12.
    assert sectioned_parameters(3) == (1.5, 12.0)
    b, a = sectioned_parameters(3)
    assert _s([0.0, 1.0, 2.0, 4.0, 8.0, 12.0, 13.0], b=b, y=3, a=a) == [0, 1, 2, 2, 3, 3, 3]


def test_sectioned_is_odd_and_monotone():
    x = torch.linspace(0.0, 100.0, 2001, dtype=torch.float64)
    positive = sectioned_bucket(x, b=4.0, y=8, a=32.0)
    assert torch.equal(sectioned_bucket(-x, b=4.0, y=8, a=32.0), -positive)
    assert (positive.diff() >= 0).all()
    assert positive.max() == 8 and positive.min() == 0
    assert set(positive.tolist()) == set(range(9))  # every output in [0, y] is reached


def test_sectioned_rounds_half_away_from_zero():
    assert _s([2.5, -2.5, 0.5, -0.5]) == [3, -3, 1, -1]


def test_sectioned_rejects_bad_parameters():
    with pytest.raises(ValueError, match="b must be"):
        sectioned_bucket(torch.zeros(1), b=5.0, y=3, a=12.0)
    with pytest.raises(ValueError, match="a must be"):
        sectioned_bucket(torch.zeros(1), b=1.5, y=3, a=1.0)
    with pytest.raises(ValueError, match="y must be"):
        sectioned_bucket(torch.zeros(1), b=1.5, y=0, a=12.0)


def test_clip_function_is_shaws_clip_of_the_rounded_distance():
    assert clip_bucket(torch.tensor([-5.0, -1.4, 0.0, 2.6, 9.0]), 3).tolist() == [-3, -1, 0, 3, 3]
    with pytest.raises(ValueError, match="mapping"):
        map_distance(torch.zeros(1), mapping="linear", y=3)


@pytest.mark.parametrize("y", [1, 2, 3, 4])
@pytest.mark.parametrize("mapping", ["sectioned", "clip"])
def test_cluster_count_is_2y_plus_1_squared_plus_the_class_token(y, mapping):
    clusters = num_clusters(y, axes=2)
    assert clusters == (2 * y + 1) ** 2 + 1
    index = spatial_bucket_index(14, 14, mapping=mapping, y=y)
    assert index.shape == (197, 197) and index.dtype == torch.int64
    # A 14×14 frame (relative offsets up to 13 > a = 4y) uses every cluster, the class token's last.
    assert sorted(index.unique().tolist()) == list(range(clusters))
    assert (index[0] == clusters - 1).all() and (index[:, 0] == clusters - 1).all()
    assert (index[1:, 1:] != clusters - 1).all()


def test_fifty_clusters_per_frame_at_y_3():
    assert num_clusters(3, axes=2) == 50  # Tables 3.1-3.2: "the cluster number of each frame is 50"


def test_spatial_index_follows_per_axis_offsets():
    # Eq. (3.11): cluster (D^y + y)(2y + 1) + (D^x + y); patch i = (row 2, col 3), j = (row 0, col 0) on a 4×4 grid.
    y = 3
    b, a = sectioned_parameters(y)
    index = spatial_bucket_index(4, 4, y=y, prefix_tokens=0)
    i, j = 2 * 4 + 3, 0
    dy, dx = sectioned_bucket(torch.tensor([2.0, 3.0]), b=b, y=y, a=a).tolist()
    assert index[i, j] == (dy + y) * (2 * y + 1) + (dx + y)
    # Diagonal = zero offset = the centre cluster; the opposite offset mirrors the cluster around it.
    centre = y * (2 * y + 1) + y
    assert (index.diagonal() == centre).all()
    assert torch.equal(index + index.T, torch.full_like(index, 2 * centre))


def test_euclidean_distance_gives_y_plus_1_clusters():
    index = spatial_bucket_index(14, 14, y=3, distance="euclidean")
    assert num_clusters(3, axes=2, distance="euclidean") == 5
    assert sorted(index.unique().tolist()) == [0, 1, 2, 3, 4]
    assert torch.equal(index, index.T)
    # Patches (0, 0) and (1, 1): distance sqrt(2) -> [1.41] = 1 (inside b = 1.5).
    assert index[1 + 0, 1 + 15] == 1


def test_temporal_index_uses_frame_positions():
    positions = torch.tensor([[0.0, 1.0, 2.0, 3.0], [0.0, 4.0, 8.0, 12.0]])
    index = temporal_bucket_index(positions, y=3)
    assert index.shape == (2, 5, 5)
    assert num_clusters(3, axes=1) == 8
    assert (index[:, 0] == 7).all() and (index[:, :, 0] == 7).all()
    b, a = sectioned_parameters(3)
    expected = sectioned_bucket(positions[1, None, :] - positions[1, :, None], b=b, y=3, a=a)
    assert torch.equal(index[1, 1:, 1:], -expected + 3)


def test_relative_logits_match_a_direct_lookup():
    torch.manual_seed(0)
    q = torch.randn(2, 3, 5, 4)
    index = torch.randint(0, 6, (5, 5))
    for table in (torch.randn(1, 6, 4), torch.randn(3, 6, 4)):
        logits = relative_position_logits(q, table, index)
        expected = torch.empty(2, 3, 5, 5)
        for bb in range(2):
            for h in range(3):
                for i in range(5):
                    for j in range(5):
                        p = table[0 if table.shape[0] == 1 else h, index[i, j]]
                        expected[bb, h, i, j] = q[bb, h, i] @ p
        assert torch.allclose(logits, expected, atol=1e-5)
    per_sample = torch.randint(0, 6, (2, 5, 5))
    logits = relative_position_logits(q, table, per_sample)
    assert torch.allclose(logits[1, 2, 3, 4], q[1, 2, 3] @ table[2, per_sample[1, 3, 4]], atol=1e-5)


def test_attention_implements_eq_3_7():
    torch.manual_seed(0)
    dim, heads, n = 8, 2, 5
    attention = RelativePositionAttention(dim, heads, 6, shared_heads=False).eval()
    x = torch.randn(2, n, dim)
    index = torch.randint(0, 6, (n, n))
    out, weights = attention(x, relative_index=index, return_attention=True)
    q, k, v = (attention.qkv(x)).split(dim, dim=-1)
    q, k, v = (t.reshape(2, n, heads, dim // heads).transpose(1, 2) for t in (q, k, v))
    p = attention.relative_table[:, index]  # (heads, n, n, d)
    e = (q @ k.transpose(-1, -2) + torch.einsum("bhid,hijd->bhij", q, p)) / math.sqrt(dim // heads)
    assert torch.allclose(weights, e.softmax(-1), atol=1e-6)
    z = (e.softmax(-1) @ v).transpose(1, 2).reshape(2, n, dim)
    assert torch.allclose(out, attention.proj(z), atol=1e-6)


def test_shared_table_has_one_head_and_unshared_one_per_head():
    shared = RelativePositionAttention(768, 12, 50, shared_heads=True)
    unshared = RelativePositionAttention(768, 12, 50, shared_heads=False)
    assert shared.relative_table.shape == (1, 50, 64)
    assert unshared.relative_table.shape == (12, 50, 64)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(unshared) - count(shared) == 11 * 50 * 64


def test_wrong_index_shape_is_rejected():
    attention = RelativePositionAttention(8, 2, 6)
    with pytest.raises(ValueError, match="relative_index"):
        attention(torch.randn(1, 5, 8), relative_index=torch.zeros(4, 4, dtype=torch.int64))
