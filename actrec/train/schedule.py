"""Learning-rate schedule and MixUp (MFST §IV-A: linear warm-up, cosine decay, MixUp [39])."""

from __future__ import annotations

import math

import torch

from actrec.train.config import OptimConfig


def warmup_cosine_lr(optim: OptimConfig, epoch: float, total_epochs: int) -> float:
    """Learning rate at fractional ``epoch``: linear ramp over ``warmup_epochs`` then cosine to ``min_lr``."""
    if epoch < optim.warmup_epochs:
        start = optim.lr * optim.warmup_start_factor
        return start + (optim.lr - start) * epoch / optim.warmup_epochs
    span = max(total_epochs - optim.warmup_epochs, 1e-8)
    progress = min(max((epoch - optim.warmup_epochs) / span, 0.0), 1.0)
    return optim.min_lr + 0.5 * (optim.lr - optim.min_lr) * (1.0 + math.cos(math.pi * progress))


def mixup(
    video: torch.Tensor, label: torch.Tensor, num_classes: int, alpha: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """MixUp: convex combination of the batch with a permutation of itself; returns soft targets (B, classes)."""
    target = torch.nn.functional.one_hot(label, num_classes).float()
    if alpha <= 0 or video.shape[0] < 2:
        return video, target
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    perm = torch.randperm(video.shape[0], generator=generator)
    return lam * video + (1 - lam) * video[perm], lam * target + (1 - lam) * target[perm]
