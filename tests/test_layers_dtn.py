"""DTN pieces of De+Recouple §3.1.2: Eq. (7) sampling, TMS, k-NN Transformer branches, sharpness τ, Eq. (10)."""

import math

import pytest
import torch
import torch.nn.functional as F

from actrec.layers.dtn import (
    DecoupledTemporalNetwork,
    DTNBranch,
    TemporalMultiScale,
    TimeCentricInception,
    dtn_loss_terms,
    dtn_multi_loss,
    segment_bounds,
    segment_sample_indices,
    sharpness_temperature,
)


def _tiny_dtn(**overrides) -> DecoupledTemporalNetwork:
    kwargs = dict(dim=16, num_classes=5, branch_frames=(2, 4, 6), depth=1, heads=2, dropout=0.0)
    kwargs.update(overrides)
    return DecoupledTemporalNetwork(**kwargs)


@pytest.mark.parametrize(("frames", "samples"), [(64, 16), (64, 32), (64, 48), (8, 8), (10, 3), (7, 1), (12, 5)])
@pytest.mark.parametrize("random", [True, False])
def test_eq7_sampling_covers_every_segment_exactly_once(frames, samples, random):
    starts, ends = segment_bounds(frames, samples)
    # The segments partition 0..T-1: contiguous, non-empty, first starts at 0, last ends at T.
    assert starts[0] == 0 and ends[-1] == frames
    assert torch.equal(starts[1:], ends[:-1])
    assert (ends > starts).all()
    generator = torch.Generator().manual_seed(frames * 100 + samples)
    for _ in range(5):
        idx = segment_sample_indices(frames, samples, random=random, generator=generator)
        assert idx.shape == (samples,) and idx.dtype == torch.int64
        segment_of = torch.bucketize(idx, ends, right=True)  # which segment each index lies in
        assert torch.equal(torch.bincount(segment_of, minlength=samples), torch.ones(samples, dtype=torch.int64))


def test_eq7_hand_checked_segments_and_middles():
    starts, ends = segment_bounds(10, 3)
    assert starts.tolist() == [0, 3, 6] and ends.tolist() == [3, 6, 10]
    assert segment_sample_indices(10, 3, random=False).tolist() == [1, 4, 7]
    assert segment_sample_indices(64, 16, random=False).tolist() == [4 * t + 1 for t in range(16)]


def test_eq7_random_sampling_reaches_every_frame_of_a_segment():
    generator = torch.Generator().manual_seed(0)
    draws = torch.stack([segment_sample_indices(12, 3, random=True, generator=generator) for _ in range(200)])
    for t in range(3):
        assert set(draws[:, t].tolist()) == {4 * t, 4 * t + 1, 4 * t + 2, 4 * t + 3}


def test_eq7_more_samples_than_frames_repeats_frames_in_order():
    idx = segment_sample_indices(3, 6, random=True)
    assert idx.tolist() == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize(("frames", "samples"), [(0, 2), (4, 0), (4, 1.5), (True, 2)])
def test_eq7_rejects_bad_arguments(frames, samples):
    with pytest.raises(ValueError, match="num_frames|num_samples"):
        segment_bounds(frames, samples)


def test_sharpness_schedule_endpoints_and_monotone():
    assert sharpness_temperature(0, 100) == pytest.approx(0.04)
    assert sharpness_temperature(100, 100) == pytest.approx(0.07)
    assert sharpness_temperature(50, 100) == pytest.approx(0.055)
    assert sharpness_temperature(150, 100) == pytest.approx(0.07)  # clipped past the end
    values = [sharpness_temperature(e / 4, 100) for e in range(401)]
    assert all(b > a for a, b in zip(values, values[1:], strict=False))
    # Cosine, not linear: a quarter of the way τ has moved (1 - cos(π/4))/2 ≈ 14.6% of the range.
    assert sharpness_temperature(25, 100) == pytest.approx(0.04 + 0.03 * (1 - math.cos(math.pi / 4)) / 2)
    with pytest.raises(ValueError, match="total_epochs"):
        sharpness_temperature(1, 0)
    with pytest.raises(ValueError, match="epoch"):
        sharpness_temperature(-1, 10)


def test_time_centric_inception_is_temporal_only_and_shapes():
    torch.manual_seed(0)
    layer = TimeCentricInception(8, 14, kernel_sizes=(1, 3, 5)).eval()
    assert layer.branch_channels == (5, 3, 3, 3)
    x = torch.randn(2, 8, 7)
    out = layer(x)
    assert out.shape == (2, 14, 7)
    # Changing frame 0 can reach frame t only through kernels of half-width >= t: k=5 → frames 0..2, not 3+.
    y = x.clone()
    y[:, :, 0] += 5.0
    changed = (layer(y) - out).abs().amax(dim=(0, 1)) > 0
    assert changed[:3].all() and not changed[3:].any()
    with pytest.raises(ValueError, match="kernel_sizes"):
        TimeCentricInception(8, 8, kernel_sizes=(2,))
    with pytest.raises(ValueError, match="out_channels"):
        TimeCentricInception(8, 3)


def test_tms_keeps_length_and_max_pools():
    torch.manual_seed(0)
    tms = TemporalMultiScale(12).eval()
    x = torch.randn(3, 5, 12)
    out = tms(x)
    assert out.shape == (3, 5, 12)
    inner = tms.inception(x.transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(out[:, 2], inner[:, 1:4].amax(dim=1))  # Eq. (8) max-pool, window 3


def test_branch_outputs_class_token_and_uses_given_indices():
    torch.manual_seed(0)
    branch = DTNBranch(16, num_frames=3, depth=1, heads=2).eval()
    x = torch.randn(2, 9, 16)
    cls = branch(x)
    assert cls.shape == (2, 16)
    torch.testing.assert_close(cls, branch(x, torch.tensor([1, 4, 7])))  # eval = segment middles
    # Frames that are not sampled do not matter; sampled ones do.
    y = x.clone()
    y[:, 0] += 10.0
    torch.testing.assert_close(branch(y), cls)
    y[:, 4] += 10.0
    assert not torch.allclose(branch(y), cls)
    with pytest.raises(ValueError, match="indices"):
        branch(x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"x must have shape"):
        branch(torch.randn(2, 9, 8))


def test_training_mode_samples_randomly():
    torch.manual_seed(0)
    branch = DTNBranch(16, num_frames=2, depth=1, heads=2, dropout=0.0).train()
    x = torch.randn(2, 20, 16)
    outs = [branch(x) for _ in range(6)]
    assert any(not torch.allclose(outs[0], o) for o in outs[1:])


def test_dtn_output_shapes_per_branch_and_eq10_sum():
    torch.manual_seed(0)
    dtn = _tiny_dtn().eval()
    dtn.set_temperature(0.05)
    x = torch.randn(3, 8, 16)
    out = dtn(x)
    assert out.logits.shape == (3, 5)
    assert out.branch_logits.shape == (3, 3, 5)
    assert out.class_tokens.shape == (3, 3, 16)
    assert out.temperature == 0.05
    torch.testing.assert_close(out.logits, out.branch_logits.sum(dim=1))
    for k, head in enumerate(dtn.classifiers):
        torch.testing.assert_close(out.branch_logits[:, k], head(out.class_tokens[:, k]) / 0.05)


def test_dtn_without_heads_gives_the_same_class_tokens_only():
    torch.manual_seed(0)
    with_heads = _tiny_dtn().eval()
    tokens_only = _tiny_dtn(classify=False).eval()
    assert tokens_only.classifiers is None
    missing = tokens_only.load_state_dict(with_heads.state_dict(), strict=False)
    assert missing.missing_keys == [] and all(k.startswith("classifiers.") for k in missing.unexpected_keys)
    x = torch.randn(2, 8, 16)
    out = tokens_only(x)
    assert out.logits is None and out.branch_logits is None
    torch.testing.assert_close(out.class_tokens, with_heads(x).class_tokens)


def test_sharpness_switch_divides_by_tau():
    torch.manual_seed(0)
    sharp = _tiny_dtn(sharpness=True).eval()
    plain = _tiny_dtn(sharpness=False).eval()
    plain.load_state_dict(sharp.state_dict())
    assert sharp.update_temperature(0, 10) == pytest.approx(0.04)
    x = torch.randn(2, 8, 16)
    a, b = sharp(x), plain(x)
    assert b.temperature == 1.0
    torch.testing.assert_close(a.logits, b.logits / 0.04)
    sharp.update_temperature(10, 10)
    torch.testing.assert_close(sharp(x).logits, b.logits / 0.07)
    with pytest.raises(ValueError, match="temperature"):
        sharp.set_temperature(0.0)


def test_knn_switch_changes_the_computation():
    torch.manual_seed(0)
    knn = _tiny_dtn(knn_k=2).eval()
    full = _tiny_dtn(knn_k=None).eval()
    full.load_state_dict(knn.state_dict())
    x = torch.randn(2, 8, 16)
    knn_out, full_out = knn(x), full(x)
    # Branch 0 has 1 + 2 tokens: keeping 2 of 3 keys differs from full attention; so does every branch.
    for k in range(3):
        assert not torch.allclose(knn_out.class_tokens[:, k], full_out.class_tokens[:, k])
    # k >= number of tokens is exactly full attention.
    wide = _tiny_dtn(knn_k=100).eval()
    wide.load_state_dict(knn.state_dict())
    torch.testing.assert_close(wide(x).logits, full_out.logits)


def test_tms_switch_changes_the_computation():
    torch.manual_seed(0)
    with_tms = _tiny_dtn(tms=True).eval()
    without = _tiny_dtn(tms=False).eval()
    assert not any(name.startswith("branches.0.tms") for name, _ in without.named_parameters())
    without.load_state_dict(with_tms.state_dict(), strict=False)
    x = torch.randn(2, 8, 16)
    assert not torch.allclose(with_tms(x).class_tokens, without(x).class_tokens)


def test_multi_loss_terms_present_exactly_when_on():
    torch.manual_seed(0)
    dtn = _tiny_dtn(sharpness=False).eval()
    x, target = torch.randn(4, 8, 16), torch.tensor([0, 1, 2, 3])
    out = dtn(x)
    single = dtn_multi_loss(out, target, multi_loss=False)
    torch.testing.assert_close(single, F.cross_entropy(out.logits, target))
    multi = dtn_multi_loss(out, target, multi_loss=True, branch_weight=0.5)
    expected = single + 0.5 * sum(F.cross_entropy(out.branch_logits[:, k], target) for k in range(3))
    torch.testing.assert_close(multi, expected)
    assert multi > single


def test_loss_terms_take_soft_targets_and_sum_to_the_multi_loss():
    torch.manual_seed(0)
    out = _tiny_dtn(sharpness=False).eval()(torch.randn(4, 8, 16))
    target = torch.tensor([0, 1, 2, 3])
    hard = dtn_loss_terms(out.logits, out.branch_logits, target, branch_weight=0.5)
    assert set(hard) == {"ce", "ce_branches"}
    torch.testing.assert_close(sum(hard.values()), dtn_multi_loss(out, target, branch_weight=0.5))
    one_hot = F.one_hot(target, out.logits.shape[-1]).float()  # soft targets that put all mass on the label
    soft = dtn_loss_terms(out.logits, out.branch_logits, one_hot, branch_weight=0.5)
    for name in hard:
        torch.testing.assert_close(soft[name], hard[name])
    mixed = 0.7 * one_hot + 0.3 * one_hot.roll(1, dims=0)  # MixUp-style targets
    soft_mixed = dtn_loss_terms(out.logits, out.branch_logits, mixed, multi_loss=False)
    assert set(soft_mixed) == {"ce"}
    expected = -(mixed * F.log_softmax(out.logits, -1)).sum(-1).mean()
    torch.testing.assert_close(soft_mixed["ce"], expected)


def test_backward_reaches_every_branch():
    torch.manual_seed(0)
    dtn = _tiny_dtn(dropout=0.1).train()
    dtn.update_temperature(3, 10)
    x = torch.randn(2, 8, 16, requires_grad=True)
    dtn_multi_loss(dtn(x), torch.tensor([1, 4])).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for k, branch in enumerate(dtn.branches):
        assert branch.cls_token.grad is not None and branch.cls_token.grad.abs().sum() > 0, k
        assert branch.tms.inception.conv_branches[0][0].weight.grad.abs().sum() > 0, k


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"branch_frames": ()}, "branch_frames"),
        ({"branch_frames": (4, 0)}, "branch_frames"),
        ({"num_classes": 0}, "num_classes"),
        ({"sharpness_start": 0.0}, "sharpness_start"),
        ({"dim": 0}, "dim"),
    ],
)
def test_dtn_rejects_bad_arguments(overrides, match):
    with pytest.raises(ValueError, match=match):
        _tiny_dtn(**overrides)
