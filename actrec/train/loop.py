"""The per-worker training loop run by Ray Train's ``TorchTrainer`` (DDP: gloo on CPU, NCCL on GPUs).

Each epoch: stream the worker's shard of the training set, SGD with warm-up + cosine and optional MixUp / CutMix,
validate (top-1/top-5 and the confusion matrix over all workers; with several test views per video their softmax
scores are averaged), save a checkpoint and ``ray.train.report`` once per epoch on every worker. A restarted run
(worker failure, a lost trial driver, or a resumed sweep) continues from the newest checkpoint; its first result also
carries every checkpointed epoch's scalar metrics (``restored_epochs``: an epoch whose result was lost with the
driver reaches MLflow from there), and a run restored after its last epoch reports that epoch once more.
``train.epochs = 0`` evaluates the initialised (or stream-checkpoint-loaded) model once and reports once, with
``epoch = 0``.

Reported metrics, besides the per-epoch losses and accuracies: ``model_params``, ``model_gflops`` (fvcore
multiply-adds of one view, input (1, C, T, S, S) of the data config, counted before DDP wrapping by a sweep's first
run(s) of each model configuration and input shape, read back by later ones: ``GFLOPS_CACHE_KEY``),
``startup_*`` (where the seconds from the trial's start to its first optimiser step went, on the first epoch of a
run that starts from scratch; :data:`actrec.track.startup.STARTUP_METRICS`) and ``val_confusion_best`` (K x K lists
of ints, rows = true class, columns = predicted class, summed over workers) at the epoch with the best val_top1 so
far; an empty list when K > ``MAX_CONFUSION_CLASSES`` (e.g. EPIC-KITCHENS' joint actions). ``val_predictions_best``
holds that epoch's per-clip evidence, gathered from all workers and sorted by clip: ``{"clip": [...], "label":
[...], "pred": [...], "score": [...]}`` (the clip's 63-bit id from its sample key,
:func:`actrec.data.shards.clip_id`; its true class; the predicted class; the true class's score), so two trials
evaluated on the same clips compare clip by clip (``actrec.report.claims``). It is reported on the epochs that set a
new best, on the run's first epoch (after a restore too) and on the last one, and capped at
``MAX_LOGGED_PREDICTIONS`` clips: the smallest ids, the same subset in every trial of a dataset. Checkpoint
directories hold ``state.pt`` (resume) and ``best.pt`` (``{"model": state_dict, "epoch": reported epoch, "val_top1":
float}`` of the best val epoch).

The model is reached only through the model protocol (:mod:`actrec.models.protocol`): its optional
``training_loss``, ``class_scores`` and ``set_progress`` replace the soft cross-entropy, the softmax and nothing.

Inputs: the model is called on the rows' ``video`` column, and on ``video`` and ``pose`` when the rows carry pose
heatmaps (``data.modality="rgb_pose"``, EPAM-Net's ``model(rgb, pose)``; ``split_valid_inputs``); MixUp / CutMix mix
``video`` only, which is why the ExperimentConfig rejects them with a pose input. The rows carry them as uint8; they
become float32 on the worker's device (``accel.inputs_to_device``).
"""

from __future__ import annotations

import logging
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
from actrec.data.pipeline import count_samples, split_valid_inputs
from actrec.models import build_model
from actrec.models.complexity import cached_gflops, count_gflops, count_parameters, model_gflops_key
from actrec.models.protocol import class_scores, set_progress, training_loss
from actrec.track.evidence import PREDICTIONS_METRIC
from actrec.track.startup import FIT_CALLED_KEY, RESTORED_EPOCHS_METRIC, TRIAL_STARTED_KEY, startup_metrics
from actrec.train import accel
from actrec.train.schedule import build_optimizer, cutmix, mixup, warmup_cosine_lr

CHECKPOINT_FILE = "state.pt"  # resume state: model, optimiser, epoch, best so far, RNG
BEST_FILE = "best.pt"  # {"model": state_dict, "epoch": int, "val_top1": float} of the best val epoch so far

logger = logging.getLogger(__name__)


# Beyond this many classes no confusion matrix is kept: K² int64 per worker, per report and per MLflow artifact
# (EPIC-KITCHENS' 97 x 300 joint actions would need 6.8 GB); the report then says the trial logged none.
MAX_CONFUSION_CLASSES = 1000
# Per-clip predictions kept of one evaluation: NTU RGB+D 60's 16,487 cross-subject test videos fit; larger test sets
# (NTU-120 XSub's 50,919) keep the clips with the smallest ids, which are the same clips in every trial.
MAX_LOGGED_PREDICTIONS = 20_000
PREDICTION_FIELDS = ("clip", "label", "pred", "score")
# ``train_loop_config`` key beside the dotted config: the directory of the sweep's GFLOPs counts (a sweep sets it to
# ``<sweep dir>/train/model_gflops``), so a model configuration and input shape is counted by the sweep's first
# trial(s) of it (trials that start together each count) and read back by the later ones
# (``actrec.models.complexity.cached_gflops``); without it every run counts.
GFLOPS_CACHE_KEY = "_gflops_cache_dir"


def train_loop_per_worker(flat_config: dict[str, Any]) -> None:
    """Ray Train entry point; ``flat_config`` holds the experiment's dotted keys (and the trial's start times,
    ``TRIAL_STARTED_KEY`` / ``FIT_CALLED_KEY``, and ``GFLOPS_CACHE_KEY``, when run by a sweep)."""
    entered = time.time()
    flat_config = dict(flat_config)
    started_at, fit_at = flat_config.pop(TRIAL_STARTED_KEY, None), flat_config.pop(FIT_CALLED_KEY, None)
    gflops_cache = flat_config.pop(GFLOPS_CACHE_KEY, None)
    cfg = from_flat(flat_config)
    torch.set_num_threads(cfg.train.torch_threads)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.manual_seed(cfg.train.seed)
    generator = torch.Generator().manual_seed(cfg.train.seed * 1000 + rank)
    device = ray.train.torch.get_device()

    model = build_model(cfg.model)
    num_params = count_parameters(model)
    built = time.time()
    # One view of each input as the model sees it (the ExperimentConfig guarantees model.in_channels ==
    # data.input_channels, and model.pose_channels == data.pose_channels for a second, pose input).
    view_shapes = [(1, *shape) for shape in cfg.data.input_shapes.values()]
    model.to(device)
    gflops = cached_gflops(
        gflops_cache,
        model_gflops_key(model, cfg.model, *view_shapes),
        lambda: count_gflops(model, *view_shapes, device=device),
    )
    counted = time.time()
    optimizer = build_optimizer(model.parameters(), cfg.optim)
    start_epoch, best, history = 0, _Best(), []  # history: every checkpointed epoch's scalar metrics, oldest first
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as ckpt_dir:
            state = torch.load(os.path.join(ckpt_dir, CHECKPOINT_FILE), map_location="cpu", weights_only=True)
            best_path = os.path.join(ckpt_dir, BEST_FILE)
            best_saved = None
            if rank == 0 and os.path.exists(best_path):  # only rank 0 writes checkpoints, so only it needs the weights
                best_saved = torch.load(best_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = state["epoch"] + 1
        history = list(state.get("history", []))  # (empty in a checkpoint written before it was kept)
        torch.set_rng_state(state["torch_rng"])
        best = _Best.restore(state, best_saved, rank=rank)
    startup = None  # a restored run's start-up is not a trial's: it reports none
    if checkpoint is None and started_at is not None and fit_at is not None:
        startup = {
            "startup_trial_s": fit_at - started_at,
            "startup_workers_s": entered - fit_at,
            "startup_model_s": built - entered,
            "startup_gflops_s": counted - built,
        }
    first_step: dict[str, float] = {}  # "at": time.time() when the run's first optimiser step was done
    # The fast path (actrec.train.accel): channels-last layout before DDP wraps the model, torch.compile after.
    # ``raw`` is the plain module inside: checkpoints, the best weights and evaluation use it.
    raw = accel.prepare_module(model, cfg.train)
    model = accel.compile_module(ray.train.torch.prepare_model(raw), cfg.train)

    train_shard = ray.train.get_dataset_shard("train")
    val_shard = ray.train.get_dataset_shard("val")
    steps_per_epoch = max(1, math.ceil(count_samples(cfg.data, "train") / (cfg.train.batch_size * world)))

    evaluate_only = cfg.train.epochs == 0
    if evaluate_only:
        # One pass (index 0, reported as epoch 0), checkpointed as epoch index -1 so a restart evaluates again; its
        # best is this evaluation alone (val_best_top1 = val_top1), whatever a restored checkpoint recorded.
        best = _Best()
    if history and not evaluate_only and start_epoch >= cfg.train.epochs:
        # Restored after the last epoch's checkpoint: that epoch's result may never have reached the sweep driver. It is
        # reported again, with the best epoch's evidence (as on a restored run's first epoch), on every worker.
        again = {**history[-1], "val_confusion_best": best.confusion, RESTORED_EPOCHS_METRIC: history}
        if best.predictions is not None:
            again[PREDICTIONS_METRIC] = {k: v.tolist() for k, v in best.predictions.items()}
        ray.train.report(again)
    for epoch in [0] if evaluate_only else range(start_epoch, cfg.train.epochs):
        started = time.perf_counter()
        if evaluate_only:
            train_stats = {"train_loss_sum": 0.0, "train_correct1": 0.0, "train_seen": 0.0, "train_skipped": 0.0}
        else:
            train_stats = _train_epoch(
                model, optimizer, train_shard, cfg, epoch, steps_per_epoch, device, generator, first_step
            )
        # Evaluate as the model stands at the end of this epoch (an evaluate-only run: at the end of training).
        set_progress(model, 1.0 if evaluate_only else epoch + 1.0, max(cfg.train.epochs, 1))
        val_stats, confusion, predictions = _evaluate(raw, val_shard, cfg, device)
        totals = _all_reduce({**train_stats, **val_stats}, world, device)
        confusion = _all_reduce_confusion(confusion, world)
        predictions = _gather_predictions(predictions, world)
        seen, val_seen = max(totals["train_seen"], 1.0), max(totals["val_seen"], 1.0)
        val_top1 = 100.0 * totals["val_correct1"] / val_seen
        reported_epoch = 0 if evaluate_only else epoch + 1
        improved = best.update(val_top1, reported_epoch, confusion, predictions, raw, keep_weights=rank == 0)
        nan = float("nan")  # evaluate-only: no training step, so no training loss, accuracy or learning rate
        metrics = {
            "epoch": reported_epoch,
            "train_loss": nan if evaluate_only else totals["train_loss_sum"] / seen,
            "train_top1": nan if evaluate_only else 100.0 * totals["train_correct1"] / seen,
            "val_loss": totals["val_loss_sum"] / val_seen,
            "val_top1": val_top1,
            "val_top5": 100.0 * totals["val_correct5"] / val_seen,
            "val_best_top1": best.val_top1,
            "val_clips": totals["val_seen"],
            "lr": nan if evaluate_only else optimizer.param_groups[0]["lr"],
            "skipped_train": totals["train_skipped"],
            "skipped_val": totals["val_skipped"],
            "epoch_time_s": time.perf_counter() - started,
            "model_params": float(num_params),
            "model_gflops": gflops,
            "val_confusion_best": best.confusion,
            **(startup_metrics(startup, counted, first_step) if epoch == start_epoch else {}),
            # Named loss terms of models with their own training_loss, averaged over the epoch's clips.
            **{key[: -len("_sum")]: totals[key] / seen for key in totals if _is_term(key)},
        }
        last = evaluate_only or epoch + 1 == cfg.train.epochs
        # Also on a restored run's first epoch: a resumed driver has lost what it saw before, and ASHA may stop the
        # trial before its last epoch.
        if best.predictions is not None and (improved or last or epoch == start_epoch):
            metrics[PREDICTIONS_METRIC] = {k: v.tolist() for k, v in best.predictions.items()}
        if history and epoch == start_epoch and not evaluate_only:
            metrics[RESTORED_EPOCHS_METRIC] = list(history)  # the epochs restored from, in case a result was lost
        if not evaluate_only:  # kept in the checkpoint: builtin ints and floats (torch.load(weights_only=True) reads)
            history.append({k: v if type(v) is int else float(v) for k, v in metrics.items() if _is_scalar(v)})
        with tempfile.TemporaryDirectory() as tmp:
            saved = None
            if rank == 0:
                state = {
                    "model": raw.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "epoch": -1 if evaluate_only else epoch,
                    "torch_rng": torch.get_rng_state(),
                    "history": history,
                    **best.state(),
                }
                torch.save(state, os.path.join(tmp, CHECKPOINT_FILE))
                torch.save(best.best_file(), os.path.join(tmp, BEST_FILE))
                saved = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=saved)


class _Best:
    """The best validation epoch so far: its val_top1, reported epoch, confusion matrix and (rank 0) weights."""

    def __init__(self) -> None:
        self.val_top1 = 0.0
        self.epoch: int | None = None
        self.confusion: list[list[int]] | None = None
        self.weights: dict[str, torch.Tensor] | None = None
        self.predictions: dict[str, torch.Tensor] | None = None  # PREDICTION_FIELDS -> (N,) tensors

    @classmethod
    def restore(cls, state: dict[str, Any], best_saved: dict[str, Any] | None, *, rank: int) -> _Best:
        """From a checkpoint's ``state.pt`` and (rank 0, which writes the checkpoints) its ``best.pt``."""
        best = cls()
        if state.get("best_epoch") is None or state.get("best_confusion") is None:
            # Written before best.pt and the confusion matrix were saved: every worker (they all read the same
            # state.pt) tracks the best epoch anew from the restore, so val_best_top1, confusion and weights agree.
            logger.warning("checkpoint has no best-epoch record; the best epoch is tracked anew from the restore")
            return best
        if rank == 0 and best_saved is None:
            raise RuntimeError(f"checkpoint records best epoch {state['best_epoch']} but holds no {BEST_FILE}")
        best.val_top1 = float(state["best_top1"])
        best.epoch = int(state["best_epoch"])
        best.confusion = [[int(v) for v in row] for row in state["best_confusion"]]
        best.predictions = state.get("best_predictions")  # None in checkpoints written before they were kept
        best.weights = None if best_saved is None else best_saved["model"]
        return best

    def update(
        self,
        val_top1: float,
        epoch: int,
        confusion: torch.Tensor,
        predictions: dict[str, torch.Tensor] | None,
        model: torch.nn.Module,
        *,
        keep_weights: bool,
    ) -> bool:
        """Record this epoch if it is the first or beats the best val_top1 (ties keep the earlier epoch); returns
        whether it did."""
        if self.epoch is not None and val_top1 <= self.val_top1:
            return False
        self.val_top1, self.epoch = val_top1, epoch
        self.confusion = [[int(v) for v in row] for row in confusion.tolist()]
        self.predictions = predictions
        if keep_weights:
            self.weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        return True

    def state(self) -> dict[str, Any]:
        """Entries of ``state.pt``."""
        return {
            "best_top1": self.val_top1,
            "best_epoch": self.epoch,
            "best_confusion": self.confusion,
            "best_predictions": self.predictions,
        }

    def best_file(self) -> dict[str, Any]:
        """Contents of ``best.pt``."""
        assert self.weights is not None and self.epoch is not None, "update() runs before every checkpoint"
        return {"model": self.weights, "epoch": self.epoch, "val_top1": self.val_top1}


def _train_epoch(
    model, optimizer, shard, cfg: ExperimentConfig, epoch, steps_per_epoch, device, generator, first_step=None
):
    """One pass over the training shard; ``first_step["at"]`` is set (time.time()) after the first optimiser step of
    the run, if not yet set."""
    first_step = {} if first_step is None else first_step
    model.train()
    stats = {"train_loss_sum": 0.0, "train_correct1": 0.0, "train_seen": 0.0, "train_skipped": 0.0}
    step = 0
    batches = shard.iter_torch_batches(
        batch_size=cfg.train.batch_size, local_shuffle_buffer_size=64, **accel.iter_options(cfg.train, device)
    )
    for batch in batches:
        inputs, label, skipped = split_valid_inputs(batch)  # (video,) or, for rgb_pose, (video, pose)
        stats["train_skipped"] += skipped
        weight = 1.0
        if label.numel() == 0:
            if not dist.is_initialized():
                continue
            # Every clip of this batch was unreadable. DDP workers must all join each step's gradient all-reduce
            # (and step alike), so take a zero-weighted step on one zeroed clip rather than skip it.
            inputs = tuple(x.new_zeros((1, *x.shape[1:])) for x in inputs)
            label, weight = torch.zeros(1, dtype=torch.long), 0.0
        lr = warmup_cosine_lr(cfg.optim, epoch + min(step / steps_per_epoch, 1.0), cfg.train.epochs)
        for group in optimizer.param_groups:
            group["lr"] = lr
        (video, *extra), label = accel.inputs_to_device(inputs, device, cfg), label.to(device)
        set_progress(model, epoch + min(step / steps_per_epoch, 1.0), cfg.train.epochs)
        # MixUp / CutMix touch the video only: the ExperimentConfig rejects them with a second (pose) input.
        mixed, target = _mix(video, label, cfg, generator)
        if cfg.optim.label_smoothing > 0:
            target = target * (1 - cfg.optim.label_smoothing) + cfg.optim.label_smoothing / cfg.model.num_classes
        with accel.autocast(cfg.train, device):  # bf16 forward and loss with train.precision="bf16"
            output = model(mixed, *extra)  # (B, K) logits, (B, S, K) stream logits, or a protocol model's own output
            loss, terms = training_loss(model, output, target)
        optimizer.zero_grad(set_to_none=True)
        (loss * weight).backward()
        if cfg.optim.clip_grad_norm > 0:  # after backward, so DDP has already averaged the gradients
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.clip_grad_norm)
        optimizer.step()
        if "at" not in first_step:
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # the step is done when the GPU has done it
            first_step["at"] = time.time()
        n = label.shape[0] if weight else 0
        for name, value in terms.items():  # every step, so every worker reduces the same keys
            stats[f"train_{name}_sum"] = stats.get(f"train_{name}_sum", 0.0) + float(value.detach()) * n
        if weight == 0.0:
            continue
        stats["train_loss_sum"] += float(loss.detach()) * n
        with torch.no_grad():
            stats["train_correct1"] += float((class_scores(model, output).argmax(-1) == label).sum())
        stats["train_seen"] += n
        step += 1
    return stats


def _is_scalar(value: Any) -> bool:
    """A reported metric that a checkpoint's epoch history keeps: a number (not a bool, list or dict)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_term(key: str) -> bool:
    return key.startswith("train_") and key.endswith("_sum") and key not in ("train_loss_sum",)


def _mix(video, label, cfg: ExperimentConfig, generator):
    """MixUp or CutMix (or neither) for one batch -> (video, soft targets)."""
    num_classes, train = cfg.model.num_classes, cfg.train
    use_cutmix = train.cutmix_alpha > 0
    if use_cutmix and train.mixup_alpha > 0:
        use_cutmix = float(torch.rand((), generator=generator)) < train.mix_switch_prob
    if use_cutmix:
        return cutmix(video, label, num_classes, train.cutmix_alpha, generator)
    return mixup(video, label, num_classes, train.mixup_alpha, generator)


def view_scores(model, video: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
    """Class probabilities of (B, C, T, H, W) clips, or of (B, V, C, T, H, W) views averaged over V (the streams of
    a two-stream model are fused first, then the views averaged). ``extra``: the model's further inputs with the
    same leading axes, e.g. EPAM-Net's pose heatmaps (B, J, N, P, P) or (B, V, J, N, P, P) of ``model(video, pose)``.
    """
    if video.ndim == 5:
        return class_scores(model, model(video, *extra))
    views = video.shape[1]
    flat = [rearrange(x, "b v c t h w -> (b v) c t h w") for x in (video, *extra)]
    probs = class_scores(model, model(*flat))
    return reduce(probs, "(b v) k -> b k", "mean", v=views)


@torch.no_grad()
def _evaluate(
    model, shard, cfg: ExperimentConfig, device
) -> tuple[dict[str, float], torch.Tensor, dict[str, torch.Tensor] | None]:
    """This worker's validation counters, its (K, K) int64 confusion matrix (rows true, columns predicted; a (0, 0)
    one when K > ``MAX_CONFUSION_CLASSES``) and its per-clip predictions (``PREDICTION_FIELDS`` -> (N,) CPU tensors;
    None when the rows carry no ``clip`` column)."""
    # ``model`` is the plain module, not the DDP (or compiled) wrapper: DDP's forward syncs buffers with a collective,
    # which would hang when validation shards are uneven (ValidationSafeDataConfig) and one worker has more batches
    # than another. Replicas hold the same weights, so evaluating the local copy is exact.
    model.eval()
    num_classes = cfg.model.num_classes
    cells = num_classes * num_classes if num_classes <= MAX_CONFUSION_CLASSES else 0
    confusion = torch.zeros(cells, dtype=torch.int64, device=device)
    stats = {"val_loss_sum": 0.0, "val_correct1": 0.0, "val_correct5": 0.0, "val_seen": 0.0, "val_skipped": 0.0}
    parts: dict[str, list[torch.Tensor]] | None = None
    for batch in shard.iter_torch_batches(batch_size=cfg.train.batch_size, **accel.iter_options(cfg.train, device)):
        inputs, label, skipped = split_valid_inputs(batch)  # (video,) or, for rgb_pose, (video, pose)
        clip = batch["clip"][batch["valid"].to(torch.bool)].cpu() if "clip" in batch else None
        stats["val_skipped"] += skipped
        if label.numel() == 0:
            continue
        inputs, label = accel.inputs_to_device(inputs, device, cfg), label.to(device)
        with accel.autocast(cfg.train, device):
            probs = view_scores(model, *inputs).float()  # multi-view testing: scores averaged over clips x crops
        stats["val_loss_sum"] += float(F.nll_loss(torch.log(probs.clamp_min(1e-12)), label, reduction="sum"))
        top = probs.topk(min(5, probs.shape[-1]), dim=-1).indices
        stats["val_correct1"] += float((top[:, 0] == label).sum())
        stats["val_correct5"] += float((top == label[:, None]).any(-1).sum())
        stats["val_seen"] += label.shape[0]
        if cells:
            confusion += torch.bincount(label * num_classes + top[:, 0], minlength=cells)
        if clip is not None:
            parts = parts if parts is not None else {name: [] for name in PREDICTION_FIELDS}
            parts["clip"].append(clip.to(torch.int64))
            parts["label"].append(label.cpu())
            parts["pred"].append(top[:, 0].cpu())
            parts["score"].append(probs.gather(1, label[:, None])[:, 0].cpu())
    side = num_classes if cells else 0
    predictions = None if parts is None else {name: torch.cat(values) for name, values in parts.items()}
    return stats, confusion.reshape(side, side), predictions


def _gather_predictions(predictions: dict[str, torch.Tensor] | None, world: int) -> dict[str, torch.Tensor] | None:
    """All workers' per-clip predictions, sorted by clip id and capped at ``MAX_LOGGED_PREDICTIONS`` (the smallest
    ids); the same result on every worker. None when a worker had no ``clip`` column (rows of an older pipeline)."""
    gathered = [predictions]
    if world > 1 and dist.is_initialized():
        gathered = [None] * world
        dist.all_gather_object(gathered, predictions)
    if any(p is None for p in gathered):
        return None
    merged = {name: torch.cat([p[name] for p in gathered]) for name in PREDICTION_FIELDS}
    order = torch.argsort(merged["clip"])[:MAX_LOGGED_PREDICTIONS]
    return {name: values[order] for name, values in merged.items()}


def _all_reduce_confusion(confusion: torch.Tensor, world: int) -> torch.Tensor:
    """Sum the workers' confusion matrices (int64, exact)."""
    if world > 1 and dist.is_initialized() and confusion.numel():
        dist.all_reduce(confusion)
    return confusion


def _all_reduce(stats: dict[str, float], world: int, device) -> dict[str, float]:
    """Sum per-worker counters so every worker reports the same global metrics."""
    if world == 1 or not dist.is_initialized():
        return stats
    keys = sorted(stats)
    tensor = torch.tensor([stats[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return dict(zip(keys, tensor.tolist(), strict=True))
