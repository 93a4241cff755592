"""actrec.train.schedule: warm-up + cosine learning rate (MFST §IV-A), MixUp and CutMix."""

import math

import pytest
import torch

from actrec.config import OptimConfig
from actrec.train.schedule import build_optimizer, cutmix, mixup, warmup_cosine_lr


def test_linear_warmup_then_cosine():
    optim = OptimConfig(lr=0.01, warmup_epochs=3.0, warmup_start_factor=0.01, min_lr=0.0)
    assert warmup_cosine_lr(optim, 0.0, 100) == pytest.approx(1e-4)
    assert warmup_cosine_lr(optim, 1.5, 100) == pytest.approx(1e-4 + (0.01 - 1e-4) * 0.5)
    assert warmup_cosine_lr(optim, 3.0, 100) == pytest.approx(0.01)
    mid = 3.0 + (100 - 3.0) / 2
    assert warmup_cosine_lr(optim, mid, 100) == pytest.approx(0.005)
    assert warmup_cosine_lr(optim, 100.0, 100) == pytest.approx(0.0, abs=1e-12)
    lrs = [warmup_cosine_lr(optim, e / 10, 100) for e in range(30, 1000)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


def test_no_warmup_starts_at_peak():
    optim = OptimConfig(lr=0.1, warmup_epochs=0.0)
    assert warmup_cosine_lr(optim, 0.0, 10) == pytest.approx(0.1)
    assert warmup_cosine_lr(optim, 5.0, 10) == pytest.approx(0.05)


def test_mixup_targets_are_convex_and_match_inputs():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    video = torch.randn(6, 3, 2, 4, 4)
    label = torch.tensor([0, 1, 2, 0, 1, 2])
    mixed, target = mixup(video, label, 3, alpha=0.4, generator=g)
    assert target.shape == (6, 3)
    assert torch.allclose(target.sum(-1), torch.ones(6))
    assert not torch.equal(mixed, video)
    plain, onehot = mixup(video, label, 3, alpha=0.0, generator=g)
    assert torch.equal(plain, video) and torch.equal(onehot.argmax(-1), label)


def test_lr_formula_is_cosine_shaped():
    optim = OptimConfig(lr=1.0, warmup_epochs=0.0, min_lr=0.0)
    for e in (0.0, 2.5, 7.0):
        assert warmup_cosine_lr(optim, e, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi * e / 10)))


def test_cutmix_targets_equal_the_exact_pasted_area_and_the_box_is_shared_by_all_frames():
    batch, frames, height, width = 6, 3, 10, 14
    # Sample i is constant i + 1 in every pixel, so each pixel of the result tells which sample it came from.
    video = (
        torch.arange(1, batch + 1, dtype=torch.float32)
        .reshape(batch, 1, 1, 1, 1)
        .expand(batch, 3, frames, height, width)
    )
    label = torch.arange(batch)
    fractions = []
    for seed in range(40):
        original = video.clone()
        mixed, target = cutmix(video, label, batch, alpha=1.0, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(video, original) and mixed.shape == video.shape and target.shape == (batch, batch)
        assert torch.allclose(target.sum(-1), torch.ones(batch))
        for i in range(batch):
            pasted = mixed[i] != i + 1  # (3, T, H, W)
            assert bool((pasted == pasted[0, 0]).all())  # one box, the same in every channel and frame
            rows, cols = torch.nonzero(pasted[0, 0], as_tuple=True)
            fraction = float(pasted[0, 0].float().mean())
            if fraction == 0:
                assert target[i, i] == pytest.approx(1.0)  # empty box, or the sample drew itself
                continue
            source = int(mixed[i, 0, 0, rows[0], cols[0]]) - 1
            assert bool((mixed[i][pasted] == source + 1).all())
            box = (int(rows.max() - rows.min()) + 1) * (int(cols.max() - cols.min()) + 1)
            assert box == len(rows)  # a filled rectangle
            assert target[i, source] == pytest.approx(fraction) and target[i, i] == pytest.approx(1 - fraction)
            fractions.append(fraction)
    assert len(fractions) > 50 and 0.05 < sum(fractions) / len(fractions) < 0.7


def test_cutmix_is_reproducible_from_the_generator_and_disabled_by_alpha_zero():
    video = torch.randn(4, 3, 2, 8, 8)
    label = torch.tensor([0, 1, 2, 3])
    first = cutmix(video, label, 4, alpha=0.8, generator=torch.Generator().manual_seed(3))
    second = cutmix(video, label, 4, alpha=0.8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    for alpha, batch in ((0.0, 4), (1.0, 1)):
        plain, onehot = cutmix(video[:batch], label[:batch], 4, alpha=alpha, generator=torch.Generator())
        assert torch.equal(plain, video[:batch])
        assert torch.equal(onehot, torch.nn.functional.one_hot(label[:batch], 4).float())


def test_build_optimizer_follows_optim_name():
    params = [torch.nn.Parameter(torch.ones(3))]
    sgd = build_optimizer(params, OptimConfig(lr=0.1, momentum=0.8, weight_decay=1e-3))
    assert type(sgd) is torch.optim.SGD
    assert (sgd.defaults["lr"], sgd.defaults["momentum"], sgd.defaults["weight_decay"]) == (0.1, 0.8, 1e-3)
    adamw = build_optimizer(params, OptimConfig(name="adamw", lr=3e-3, weight_decay=0.05))
    assert type(adamw) is torch.optim.AdamW
    assert (adamw.defaults["lr"], adamw.defaults["weight_decay"]) == (3e-3, 0.05)
    # AdamW's first step moves every coordinate by about lr whatever the gradient's scale (SGD: lr x gradient).
    params[0].grad = torch.tensor([1e-4, 1.0, 1e4])
    adamw.step()
    torch.testing.assert_close(params[0].detach(), torch.ones(3) * (1 - 3e-3 * 0.05) - 3e-3, rtol=0, atol=1e-6)
