"""The per-worker training loop run by Ray Train's ``TorchTrainer`` (DDP: gloo on CPU, NCCL on GPUs).

Each epoch: stream the worker's shard of the training set, SGD with warm-up + cosine and optional MixUp / CutMix,
validate (top-1/top-5 over all workers; with several test views per video their softmax scores are averaged),
save a checkpoint and ``ray.train.report`` once per epoch on every worker. A restarted run (worker failure, or a
resumed sweep) continues from the newest checkpoint.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from typing import Any

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
import torch.nn.functional as F
from einops import rearrange, reduce

from actrec.config import ExperimentConfig, from_flat
from actrec.data.pipeline import count_samples, split_valid
from actrec.models import build_model
from actrec.train.schedule import cutmix, mixup, warmup_cosine_lr

CHECKPOINT_FILE = "state.pt"


def train_loop_per_worker(flat_config: dict[str, Any]) -> None:
    """Ray Train entry point; ``flat_config`` holds the experiment's dotted keys."""
    cfg = from_flat(flat_config)
    torch.set_num_threads(cfg.train.torch_threads)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.manual_seed(cfg.train.seed)
    generator = torch.Generator().manual_seed(cfg.train.seed * 1000 + rank)
    device = ray.train.torch.get_device()

    model = build_model(cfg.model)
    num_params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.SGD(
        model.parameters(), lr=cfg.optim.lr, momentum=cfg.optim.momentum, weight_decay=cfg.optim.weight_decay
    )
    start_epoch, best_top1 = 0, 0.0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as ckpt_dir:
            state = torch.load(os.path.join(ckpt_dir, CHECKPOINT_FILE), map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, best_top1 = state["epoch"] + 1, state["best_top1"]
        torch.set_rng_state(state["torch_rng"])
    model = ray.train.torch.prepare_model(model)

    train_shard = ray.train.get_dataset_shard("train")
    val_shard = ray.train.get_dataset_shard("val")
    steps_per_epoch = max(1, math.ceil(count_samples(cfg.data, "train") / (cfg.train.batch_size * world)))

    for epoch in range(start_epoch, cfg.train.epochs):
        started = time.perf_counter()
        train_stats = _train_epoch(model, optimizer, train_shard, cfg, epoch, steps_per_epoch, device, generator)
        val_stats = _evaluate(model, val_shard, cfg, device)
        totals = _all_reduce({**train_stats, **val_stats}, world, device)
        seen, val_seen = max(totals["train_seen"], 1.0), max(totals["val_seen"], 1.0)
        val_top1 = 100.0 * totals["val_correct1"] / val_seen
        best_top1 = max(best_top1, val_top1)
        metrics = {
            "epoch": epoch + 1,
            "train_loss": totals["train_loss_sum"] / seen,
            "train_top1": 100.0 * totals["train_correct1"] / seen,
            "val_loss": totals["val_loss_sum"] / val_seen,
            "val_top1": val_top1,
            "val_top5": 100.0 * totals["val_correct5"] / val_seen,
            "val_best_top1": best_top1,
            "val_clips": totals["val_seen"],
            "lr": optimizer.param_groups[0]["lr"],
            "skipped_train": totals["train_skipped"],
            "skipped_val": totals["val_skipped"],
            "epoch_time_s": time.perf_counter() - started,
            "model_params": float(num_params),
        }
        with tempfile.TemporaryDirectory() as tmp:
            saved = None
            if rank == 0:
                unwrapped = model.module if hasattr(model, "module") else model
                state = {
                    "model": unwrapped.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "epoch": epoch,
                    "best_top1": best_top1,
                    "torch_rng": torch.get_rng_state(),
                }
                torch.save(state, os.path.join(tmp, CHECKPOINT_FILE))
                saved = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=saved)


def _train_epoch(model, optimizer, shard, cfg: ExperimentConfig, epoch, steps_per_epoch, device, generator):
    model.train()
    stats = {"train_loss_sum": 0.0, "train_correct1": 0.0, "train_seen": 0.0, "train_skipped": 0.0}
    step = 0
    for batch in shard.iter_torch_batches(batch_size=cfg.train.batch_size, local_shuffle_buffer_size=64):
        video, label, skipped = split_valid(batch)
        stats["train_skipped"] += skipped
        weight = 1.0
        if label.numel() == 0:
            if not dist.is_initialized():
                continue
            # Every clip of this batch was unreadable. DDP workers must all join each step's gradient all-reduce
            # (and step alike), so take a zero-weighted step on one zeroed clip rather than skip it.
            video, label, weight = torch.zeros_like(batch["video"][:1]), torch.zeros(1, dtype=torch.long), 0.0
        lr = warmup_cosine_lr(cfg.optim, epoch + min(step / steps_per_epoch, 1.0), cfg.train.epochs)
        for group in optimizer.param_groups:
            group["lr"] = lr
        video, label = video.to(device), label.to(device)
        mixed, target = _mix(video, label, cfg, generator)
        logits = model(mixed)
        if cfg.optim.label_smoothing > 0:
            target = target * (1 - cfg.optim.label_smoothing) + cfg.optim.label_smoothing / cfg.model.num_classes
        loss = torch.sum(-target * F.log_softmax(logits, dim=-1), dim=-1).mean()
        optimizer.zero_grad(set_to_none=True)
        (loss * weight).backward()
        optimizer.step()
        if weight == 0.0:
            continue
        n = label.shape[0]
        stats["train_loss_sum"] += float(loss.detach()) * n
        stats["train_correct1"] += float((logits.argmax(-1) == label).sum())
        stats["train_seen"] += n
        step += 1
    return stats


def _mix(video, label, cfg: ExperimentConfig, generator):
    """MixUp or CutMix (or neither) for one batch -> (video, soft targets)."""
    num_classes, train = cfg.model.num_classes, cfg.train
    use_cutmix = train.cutmix_alpha > 0
    if use_cutmix and train.mixup_alpha > 0:
        use_cutmix = float(torch.rand((), generator=generator)) < train.mix_switch_prob
    if use_cutmix:
        return cutmix(video, label, num_classes, train.cutmix_alpha, generator)
    return mixup(video, label, num_classes, train.mixup_alpha, generator)


def view_scores(model, video: torch.Tensor) -> torch.Tensor:
    """Class probabilities of (B, C, T, H, W) clips, or of (B, V, C, T, H, W) views averaged over V."""
    if video.ndim == 5:
        return F.softmax(model(video), dim=-1)
    views = video.shape[1]
    probs = F.softmax(model(rearrange(video, "b v c t h w -> (b v) c t h w")), dim=-1)
    return reduce(probs, "(b v) k -> b k", "mean", v=views)


@torch.no_grad()
def _evaluate(model, shard, cfg: ExperimentConfig, device):
    # The unwrapped module: DDP's forward syncs buffers with a collective, which would hang when validation shards
    # are uneven (ValidationSafeDataConfig) and one worker has more batches than another. Replicas hold the same
    # weights, so evaluating the local copy is exact.
    model = getattr(model, "module", model)
    model.eval()
    stats = {"val_loss_sum": 0.0, "val_correct1": 0.0, "val_correct5": 0.0, "val_seen": 0.0, "val_skipped": 0.0}
    for batch in shard.iter_torch_batches(batch_size=cfg.train.batch_size):
        video, label, skipped = split_valid(batch)
        stats["val_skipped"] += skipped
        if label.numel() == 0:
            continue
        video, label = video.to(device), label.to(device)
        probs = view_scores(model, video)  # multi-view testing: scores averaged over clips x crops
        stats["val_loss_sum"] += float(F.nll_loss(torch.log(probs.clamp_min(1e-12)), label, reduction="sum"))
        top = probs.topk(min(5, probs.shape[-1]), dim=-1).indices
        stats["val_correct1"] += float((top[:, 0] == label).sum())
        stats["val_correct5"] += float((top == label[:, None]).any(-1).sum())
        stats["val_seen"] += label.shape[0]
    return stats


def _all_reduce(stats: dict[str, float], world: int, device) -> dict[str, float]:
    """Sum per-worker counters so every worker reports the same global metrics."""
    if world == 1 or not dist.is_initialized():
        return stats
    keys = sorted(stats)
    tensor = torch.tensor([stats[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return dict(zip(keys, tensor.tolist(), strict=True))
