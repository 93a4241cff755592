"""Optimizer, learning-rate schedule, MixUp and CutMix.

MFST §IV-A: linear warm-up, cosine decay, MixUp [39]; CutMix: Yun et al., ICCV 2019.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from actrec.config import OptimConfig


def build_optimizer(parameters, optim: OptimConfig) -> torch.optim.Optimizer:
    """The ``optim.name`` optimizer over ``parameters`` at ``optim.lr`` (the schedule then sets each step's lr)."""
    if optim.name == "adamw":
        return torch.optim.AdamW(parameters, lr=optim.lr, weight_decay=optim.weight_decay)
    return torch.optim.SGD(parameters, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay)


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


def cutmix(
    video: torch.Tensor, label: torch.Tensor, num_classes: int, alpha: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix (Yun et al., ICCV 2019, Eq. 1-2): paste one box from a permutation of the batch; soft targets.

    ``video`` is (B, ..., H, W); the box is the same in every frame and channel. lam ~ Beta(alpha, alpha), the box
    has area fraction ``1 - lam`` (side ratios sqrt(1 - lam), centre uniform over the frame, clipped at the
    borders) and targets are mixed by the pasted area actually kept: ``(1 - f) * y + f * y[perm]`` with f = box area
    / (H W). All randomness comes from ``generator``. alpha <= 0 or a batch of 1 returns the video and one-hot
    targets unchanged.
    """
    target = torch.nn.functional.one_hot(label, num_classes).float()
    if alpha <= 0 or video.shape[0] < 2:
        return video, target
    height, width = video.shape[-2:]
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    perm = torch.randperm(video.shape[0], generator=generator)
    cut = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * cut), int(width * cut)
    cy = int(torch.randint(0, height, (1,), generator=generator))
    cx = int(torch.randint(0, width, (1,), generator=generator))
    top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
    left, right = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
    mixed = video.clone()
    mixed[..., top:bottom, left:right] = video[perm][..., top:bottom, left:right]
    pasted = (bottom - top) * (right - left) / (height * width)
    return mixed, (1 - pasted) * target + pasted * target[perm]
