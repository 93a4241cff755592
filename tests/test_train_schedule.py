"""actrec.train.schedule: warm-up + cosine learning rate (MFST §IV-A) and MixUp."""

import math

import pytest
import torch

from actrec.train.config import OptimConfig
from actrec.train.schedule import mixup, warmup_cosine_lr


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
