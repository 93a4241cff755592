"""actrec.train.loop: loss / score helpers, and the loop under a real Ray Train TorchTrainer (2-worker DDP, gloo):
per-epoch checkpoints with best.pt, resume, FLOPs and confusion metrics, two-stream RGB-D and evaluate-only runs."""

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
import ray
import ray.train
import torch
import torch.nn.functional as F
from ray.train.torch import TorchTrainer

from actrec.config import TrainConfig, flatten, from_flat
from actrec.data.clips import members_for
from actrec.data.pipeline import count_samples, decode_batch, model_inputs, read_shard_samples
from actrec.data.shards import load_index, split_shards
from actrec.models import build_model, create_model, tiny_overrides
from actrec.models.complexity import count_gflops
from actrec.track.startup import FIT_CALLED_KEY, RESTORED_EPOCHS_METRIC, STARTUP_METRICS, TRIAL_STARTED_KEY
from actrec.train.ingest import ValidationSafeDataConfig, train_datasets
from actrec.train.loop import (
    BEST_FILE,
    CHECKPOINT_FILE,
    MAX_LOGGED_PREDICTIONS,
    _Best,
    _evaluate,
    _gather_predictions,
    _train_epoch,
    train_loop_per_worker,
    training_loss,
    view_scores,
)

# --- helpers (no Ray) ---------------------------------------------------------------------------------------------


def _soft_ce(logits, target):
    return torch.sum(-target * F.log_softmax(logits, -1), -1).mean()


def test_training_loss_is_soft_cross_entropy_and_sums_the_stream_losses():
    torch.manual_seed(0)
    rgb, depth = torch.randn(4, 7), torch.randn(4, 7)
    target = F.softmax(torch.randn(4, 7), dim=-1)  # soft, as after MixUp / CutMix
    single, terms = training_loss(torch.nn.Identity(), rgb, target)  # a plain model: soft-target cross-entropy
    torch.testing.assert_close(single, _soft_ce(rgb, target))
    assert terms == {}
    model = create_model("mfst_base_rgbd", **tiny_overrides("mfst_base_rgbd"), num_classes=7)
    two_stream, terms = training_loss(model, torch.stack([rgb, depth], dim=1), target)
    torch.testing.assert_close(two_stream, single + _soft_ce(depth, target))
    torch.testing.assert_close(terms["ce_depth"], _soft_ce(depth, target))
    assert set(terms) == {"ce_rgb", "ce_depth"}


def test_view_scores_fuse_the_streams_then_average_the_views():
    torch.manual_seed(0)
    model = create_model("mfst_base_rgbd", **tiny_overrides("mfst_base_rgbd"), num_classes=4, rgb_weight=0.7).eval()
    video = torch.randn(2, 3, 6, 4, 24, 24)  # (B, V, C, T, H, W)
    with torch.no_grad():
        scores = view_scores(model, video)
        per_view = [
            0.7 * F.softmax(model.rgb(video[:, v, :3]), -1) + 0.3 * F.softmax(model.depth(video[:, v, 3:]), -1)
            for v in range(3)
        ]
        torch.testing.assert_close(scores, torch.stack(per_view).mean(0))
        torch.testing.assert_close(view_scores(model, video[:, 0]), per_view[0])


class _HeadsModel(torch.nn.Module):
    """A protocol model: two linear heads, an auxiliary penalty, a progress-dependent temperature."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.heads = torch.nn.ModuleList(torch.nn.Linear(in_features, num_classes) for _ in range(2))
        self.temperature = 1.0
        self.progress: list[tuple[float, int]] = []

    def forward(self, x):
        flat = x.flatten(1)
        return {"a": self.heads[0](flat) / self.temperature, "b": self.heads[1](flat)}

    def training_loss(self, output, target):
        ce_a = _soft_ce(output["a"], target)
        ce_b = _soft_ce(output["b"], target)
        penalty = 0.1 * output["a"].square().mean()
        return ce_a + ce_b + penalty, {"ce_a": ce_a, "ce_b": ce_b, "penalty": penalty}

    def class_scores(self, output):
        return (F.softmax(output["a"], -1) + F.softmax(output["b"], -1)) / 2

    def set_progress(self, epoch, total_epochs):
        self.progress.append((epoch, total_epochs))
        self.temperature = 1.0 + epoch / total_epochs


class _FakeShard:
    def __init__(self, batches):
        self.batches = batches

    def iter_torch_batches(self, **kwargs):
        yield from self.batches


def test_train_epoch_uses_the_models_loss_scores_and_progress_hooks(synthetic_cfg):
    torch.manual_seed(0)
    cfg = from_flat(
        {f"data.{k}": v for k, v in vars(synthetic_cfg).items()} | {"train.epochs": 4, "train.batch_size": 4}
    )
    num_classes, shape = cfg.model.num_classes, (3, 2, 4, 4)
    model = _HeadsModel(int(np.prod(shape)), num_classes)
    batches = [
        {
            "video": torch.randn(4, *shape),
            "label": torch.arange(4) % num_classes,
            "valid": torch.tensor([True, True, True, i == 0]),
        }
        for i in range(2)
    ]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    stats = _train_epoch(model, optimizer, _FakeShard(batches), cfg, 1, 2, torch.device("cpu"), torch.Generator())
    assert [p for p, _ in model.progress] == [1.0, 1.5] and {t for _, t in model.progress} == {4}
    assert stats["train_seen"] == 7 and stats["train_skipped"] == 1
    assert set(stats) >= {"train_ce_a_sum", "train_ce_b_sum", "train_penalty_sum"}
    # The epoch's loss is the sum of the model's terms (clip-weighted like the loss itself).
    terms = stats["train_ce_a_sum"] + stats["train_ce_b_sum"] + stats["train_penalty_sum"]
    assert stats["train_loss_sum"] == pytest.approx(terms, rel=1e-5)
    assert stats["train_penalty_sum"] > 0


@pytest.mark.parametrize("clip", [0.0, 1e-3])
def test_gradient_norm_clipping_bounds_each_step(synthetic_cfg, clip):
    """``optim.clip_grad_norm`` caps the gradient's L2 norm before the step (plain SGD: the step is lr x gradient)."""
    torch.manual_seed(0)
    flat = {f"data.{k}": v for k, v in vars(synthetic_cfg).items()}
    cfg = from_flat(flat | {"train.epochs": 1, "train.batch_size": 4, "optim.clip_grad_norm": clip,
                            "optim.momentum": 0.0, "optim.weight_decay": 0.0, "optim.warmup_epochs": 0.0})  # fmt: skip
    shape = (3, 2, 4, 4)
    model = _HeadsModel(int(np.prod(shape)), cfg.model.num_classes)
    before = [p.detach().clone() for p in model.parameters()]
    batch = {"video": 10 * torch.randn(4, *shape), "label": torch.arange(4), "valid": torch.ones(4, dtype=torch.bool)}
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.optim.lr)
    _train_epoch(model, optimizer, _FakeShard([batch]), cfg, 0, 1, torch.device("cpu"), torch.Generator())
    step = torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(model.parameters(), before, strict=True)))
    lr = optimizer.param_groups[0]["lr"]
    if clip:
        assert float(step) == pytest.approx(lr * clip, rel=1e-3)
    else:
        assert float(step) > 10 * lr * 1e-3


@pytest.mark.parametrize("cap", [1000, 3])
def test_evaluation_keeps_a_confusion_matrix_only_up_to_the_class_cap(synthetic_cfg, monkeypatch, cap):
    import actrec.train.loop as loop

    monkeypatch.setattr(loop, "MAX_CONFUSION_CLASSES", cap)
    cfg = from_flat({f"data.{k}": v for k, v in vars(synthetic_cfg).items()} | {"train.batch_size": 4})
    num_classes, shape = cfg.model.num_classes, (3, 2, 4, 4)
    model = _HeadsModel(int(np.prod(shape)), num_classes)
    labels = torch.arange(6) % num_classes
    batch = {"video": torch.randn(6, *shape), "label": labels, "valid": torch.ones(6, dtype=torch.bool)}
    stats, confusion, predictions = _evaluate(model, _FakeShard([batch]), cfg, torch.device("cpu"))
    assert stats["val_seen"] == 6  # accuracy is measured either way
    if num_classes <= cap:
        assert confusion.shape == (num_classes, num_classes) and int(confusion.sum()) == 6
        assert confusion.sum(1).tolist() == torch.bincount(labels, minlength=num_classes).tolist()
    else:  # too many classes: no matrix, and the best-epoch record (and report) carry none
        assert confusion.shape == (0, 0)
        best = _Best()
        best.update(50.0, 1, confusion, None, model, keep_weights=True)
        assert best.confusion == [] and _Best.restore(best.state(), best.best_file(), rank=0).confusion == []


def test_evaluation_records_each_valid_clip_with_its_label_prediction_and_true_class_score(synthetic_cfg):
    cfg = from_flat({f"data.{k}": v for k, v in vars(synthetic_cfg).items()} | {"train.batch_size": 4})
    num_classes, shape = cfg.model.num_classes, (3, 2, 4, 4)
    model = _HeadsModel(int(np.prod(shape)), num_classes).eval()
    video, labels = torch.randn(6, *shape), torch.arange(6) % num_classes
    valid = torch.tensor([True, True, False, True, True, True])
    clips = torch.tensor([60, 50, 40, 30, 20, 10])
    batch = {"video": video, "label": labels, "valid": valid, "clip": clips}
    stats, _, predictions = _evaluate(model, _FakeShard([batch]), cfg, torch.device("cpu"))
    with torch.no_grad():
        probs = view_scores(model, video[valid])
    assert predictions["clip"].tolist() == [60, 50, 30, 20, 10]  # the invalid row is left out
    assert predictions["label"].tolist() == labels[valid].tolist()
    assert predictions["pred"].tolist() == probs.argmax(-1).tolist()
    assert torch.allclose(predictions["score"], probs[torch.arange(5), labels[valid]])
    assert stats["val_correct1"] == float((predictions["pred"] == predictions["label"]).sum())
    # Without a clip column (rows of an older pipeline) there is no per-clip record.
    del batch["clip"]
    assert _evaluate(model, _FakeShard([batch]), cfg, torch.device("cpu"))[2] is None


def test_gathered_predictions_are_sorted_by_clip_and_capped_at_the_smallest_ids(monkeypatch):
    import actrec.train.loop as loop

    predictions = {
        "clip": torch.tensor([9, 3, 7, 1]),
        "label": torch.tensor([0, 1, 2, 3]),
        "pred": torch.tensor([0, 0, 2, 2]),
        "score": torch.tensor([0.9, 0.1, 0.8, 0.2]),
    }
    merged = _gather_predictions(predictions, world=1)
    assert merged["clip"].tolist() == [1, 3, 7, 9] and merged["label"].tolist() == [3, 1, 2, 0]
    monkeypatch.setattr(loop, "MAX_LOGGED_PREDICTIONS", 2)
    assert _gather_predictions(predictions, world=1)["clip"].tolist() == [1, 3]
    assert _gather_predictions(None, world=1) is None
    assert MAX_LOGGED_PREDICTIONS >= 16_487  # NTU RGB+D 60's cross-subject test set fits whole


def test_best_epoch_record_keeps_the_first_best_and_restores_from_a_checkpoint():
    model = torch.nn.Linear(2, 3)
    best = _Best()
    best.update(20.0, 1, torch.tensor([[1, 0], [1, 0]]), None, model, keep_weights=True)
    model.weight.data += 1.0
    best.update(20.0, 2, torch.tensor([[0, 1], [0, 1]]), None, model, keep_weights=True)  # a tie keeps epoch 1
    assert (best.epoch, best.val_top1, best.confusion) == (1, 20.0, [[1, 0], [1, 0]])
    assert not torch.equal(best.best_file()["model"]["weight"], model.weight)
    kept = {"clip": torch.tensor([1, 2]), "label": torch.tensor([0, 1]), "pred": torch.tensor([0, 0])}
    assert best.update(50.0, 3, torch.tensor([[1, 0], [0, 1]]), kept, model, keep_weights=True)
    assert not best.update(40.0, 4, torch.tensor([[1, 0], [1, 0]]), None, model, keep_weights=True)
    assert best.predictions is kept
    assert best.best_file()["epoch"] == 3 and torch.equal(best.best_file()["model"]["weight"], model.weight)

    state, saved = best.state(), best.best_file()
    restored = _Best.restore(state, saved, rank=0)
    assert (restored.epoch, restored.val_top1, restored.confusion) == (3, 50.0, [[1, 0], [0, 1]])
    assert restored.predictions is kept
    assert _Best.restore(state, None, rank=1).confusion == [[1, 0], [0, 1]]  # other ranks need no weights
    with pytest.raises(RuntimeError, match=BEST_FILE):
        _Best.restore(state, None, rank=0)
    # A checkpoint written before the best-epoch record existed: tracked anew, on every rank alike.
    legacy = _Best.restore({"best_top1": 70.0}, None, rank=0)
    assert legacy.epoch is None and legacy.confusion is None and legacy.val_top1 == 0.0


def test_train_config_accepts_zero_epochs_as_evaluate_only():
    assert TrainConfig(epochs=0).epochs == 0
    with pytest.raises(ValueError, match=r"train\.epochs"):
        TrainConfig(epochs=-1)


# --- under Ray Train ----------------------------------------------------------------------------------------------


def _reports_to_file(path):
    """A Ray Train callback appending every report of rank 0 to the JSON-lines file ``path`` (``fit()``'s Result keeps
    only reports that carried a checkpoint). Defined here, so it travels to the controller by value."""

    class ReportsToFile(ray.train.UserCallback):
        def after_report(self, run_context, metrics, checkpoint) -> None:
            with open(path, "a") as f:
                f.write(json.dumps(metrics[0], default=str) + "\n")

    return ReportsToFile()


def _trainer(flat, storage, name, workers=2, reports=None):
    cfg = from_flat(flat)
    now = time.time()  # as a sweep's trial function passes them: the loop reports its start-up from these
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config={**flat, TRIAL_STARTED_KEY: now - 1.0, FIT_CALLED_KEY: now},
        scaling_config=ray.train.ScalingConfig(num_workers=workers, resources_per_worker={"CPU": 1}),
        run_config=ray.train.RunConfig(
            name=name, storage_path=str(storage), callbacks=[_reports_to_file(str(reports))] if reports else []
        ),
        datasets=train_datasets(cfg.data),
        dataset_config=ValidationSafeDataConfig(),
    )


def _flat(synthetic_cfg, model_name, **extra):
    flat = {f"data.{k}": v for k, v in vars(synthetic_cfg).items()}
    flat.update({f"model.{k}": v for k, v in tiny_overrides(model_name).items()})
    flat.update({"model.name": model_name, "train.epochs": 1, "train.batch_size": 4, "optim.warmup_epochs": 0.0})
    flat.update(extra)
    return flatten(from_flat(flat))


def _assert_confusion(metrics, num_classes):
    confusion = metrics["val_confusion_best"]
    assert len(confusion) == num_classes and all(len(row) == num_classes for row in confusion)
    assert all(isinstance(v, int) and v >= 0 for row in confusion for v in row)
    # Rows are the true classes: every held-out clip is counted once, over both workers' shards.
    assert sum(map(sum, confusion)) == metrics["val_clips"]
    return np.array(confusion)


def _assert_predictions(metrics):
    """The best epoch's per-clip predictions: every held-out clip once (both workers' shards), sorted by id, and as
    accurate as val_best_top1."""
    predictions = metrics["val_predictions_best"]
    clips = predictions["clip"]
    assert len(clips) == metrics["val_clips"] and clips == sorted(set(clips))
    assert all(len(predictions[k]) == len(clips) for k in ("label", "pred", "score"))
    correct = sum(p == y for p, y in zip(predictions["pred"], predictions["label"], strict=True))
    assert 100.0 * correct / len(clips) == pytest.approx(metrics["val_best_top1"])
    assert all(0.0 <= s <= 1.0 for s in predictions["score"])
    return predictions


def _assert_loss_terms(metrics, modality):
    """The model's own loss terms (De+Recouple §3: CE, multi-loss, Eq. 14 distillation; CAPF for RGB-D) reach Tune,
    each finite and non-negative."""
    terms = {k for k in metrics if k.startswith("train_") and k not in ("train_loss", "train_top1")}
    expected = {"train_ce", "train_ce_branches", "train_distill"}
    if modality == "rgbd":
        # RGB-D: the Fig. 5 objective plus each stream's C_d (its own DTN heads only with model.stream_ce).
        expected = {"train_rgb_distill", "train_depth_distill"}
        expected |= {
            "train_ce_rgb",
            "train_ce_depth",
            "train_ce_fused",
            "train_bce_modality",
            "train_mse_reconstruction",
        }
    assert terms == expected
    assert all(math.isfinite(metrics[k]) and metrics[k] >= 0 for k in terms)


@pytest.mark.slow
def test_ddp_run_reports_every_epoch_and_resumes_from_checkpoint(synthetic_cfg, tmp_path, ray_session):
    """De+Recouple (RGB) under 2-worker DDP: every epoch reported with its loss terms, then resumed for one more."""
    flat = _flat(synthetic_cfg, "derecouple")
    first = _trainer(flat, tmp_path, "run").fit()
    assert first.metrics["epoch"] == 1
    # Both workers' validation shards are summed: every held-out clip is counted exactly once.
    assert first.metrics["val_clips"] == count_samples(synthetic_cfg, "val")
    assert 0.0 <= first.metrics["val_top1"] <= 100.0 and first.metrics["val_top5"] >= first.metrics["val_top1"]
    assert first.metrics["model_gflops"] > 0 and math.isfinite(first.metrics["train_loss"])
    # A run from scratch says where its start-up went: the parts (the trial function's 1 s included) add up.
    startup = {key: first.metrics[key] for key in STARTUP_METRICS}
    assert startup["startup_trial_s"] == pytest.approx(1.0) and min(startup.values()) >= 0
    assert startup["startup_s"] == pytest.approx(sum(startup[key] for key in STARTUP_METRICS[:-1]))
    _assert_loss_terms(first.metrics, "rgb")
    confusion = _assert_confusion(first.metrics, 8)
    assert 100.0 * np.trace(confusion) / confusion.sum() == pytest.approx(first.metrics["val_top1"])
    first_predictions = _assert_predictions(first.metrics)
    assert first.checkpoint is not None
    best = torch.load(Path(first.checkpoint.path) / BEST_FILE, weights_only=True)
    assert best["epoch"] == 1 and best["val_top1"] == pytest.approx(first.metrics["val_top1"])

    # Same run name, more epochs: Ray Train restores the run and the loop continues at epoch 2.
    second = _trainer({**flat, "train.epochs": 2}, tmp_path, "run").fit()
    assert second.metrics["epoch"] == 2
    assert not any(key in second.metrics for key in STARTUP_METRICS)  # a restored run's start-up is not a trial's
    _assert_loss_terms(second.metrics, "rgb")
    reported = second.metrics_dataframe
    assert list(reported["epoch"]) == [1, 2], "epoch 1 must come from the checkpoint, not be trained again"
    # The best epoch's confusion matrix and weights survive the restore; it need not be the last epoch.
    state = torch.load(Path(second.checkpoint.path) / CHECKPOINT_FILE, weights_only=True)
    best = torch.load(Path(second.checkpoint.path) / BEST_FILE, weights_only=True)
    confusion = _assert_confusion(second.metrics, 8)
    assert 100.0 * np.trace(confusion) / confusion.sum() == pytest.approx(second.metrics["val_best_top1"])
    if second.metrics["val_top1"] > first.metrics["val_top1"]:
        assert best["epoch"] == 2
        assert 100.0 * np.trace(confusion) / 16 == pytest.approx(second.metrics["val_top1"])
    else:
        assert best["epoch"] == 1 and second.metrics["val_confusion_best"] == first.metrics["val_confusion_best"]
        first_state = torch.load(Path(first.checkpoint.path) / BEST_FILE, weights_only=True)["model"]
        assert all(torch.equal(best["model"][k], v) for k, v in first_state.items())
    assert state["best_confusion"] == second.metrics["val_confusion_best"]
    assert best["val_top1"] == pytest.approx(second.metrics["val_best_top1"])
    # The last epoch always reports the best epoch's predictions, kept in the checkpoint across the restore.
    second_predictions = _assert_predictions(second.metrics)
    assert state["best_predictions"]["clip"].tolist() == second_predictions["clip"]
    if best["epoch"] == 1:
        assert second_predictions == first_predictions
    # The restored run's first result carries the epoch it resumed after (its result may have been lost with a trial
    # driver: the MLflow callback logs it unless it has it): epoch 1's scalar metrics, kept in the checkpoint.
    (restored,) = second.metrics[RESTORED_EPOCHS_METRIC]
    assert restored["epoch"] == 1 and type(restored["epoch"]) is int
    assert restored["val_top1"] == pytest.approx(first.metrics["val_top1"])
    assert restored["train_loss"] == pytest.approx(first.metrics["train_loss"]) and "val_confusion_best" not in restored
    assert [h["epoch"] for h in state["history"]] == [1, 2]
    assert state["history"][1]["val_top1"] == pytest.approx(second.metrics["val_top1"])

    # Restored after its last epoch (a driver lost once that epoch was checkpointed): no epoch runs, and the last
    # epoch's result is reported again from the checkpoint, so the trial ends with it.
    reports = tmp_path / "third_reports.jsonl"
    _trainer({**flat, "train.epochs": 2}, tmp_path, "run", reports=reports).fit()
    (again,) = [json.loads(line) for line in reports.read_text().splitlines()]
    assert again["epoch"] == 2 and again["val_top1"] == pytest.approx(second.metrics["val_top1"])
    assert again["train_loss"] == pytest.approx(second.metrics["train_loss"])
    assert [h["epoch"] for h in again[RESTORED_EPOCHS_METRIC]] == [1, 2]
    assert again["val_confusion_best"] == second.metrics["val_confusion_best"]  # with the best epoch's evidence
    assert _assert_predictions(again) == second_predictions


@pytest.mark.slow
def test_derecouple_rgbd_trains_under_ddp_through_the_protocol(synthetic_cfg, tmp_path, ray_session):
    """The RGB-D De+Recouple (CAPF, Fig. 5) under 2-worker DDP: its own loss terms reach Tune (the RGB model's do in
    the resume test above)."""
    flat = _flat(synthetic_cfg, "derecouple_rgbd", **{"data.modality": "rgbd", "train.epochs": 2})
    result = _trainer(flat, tmp_path, "derecouple_rgbd").fit()
    metrics = result.metrics
    assert metrics["epoch"] == 2 and metrics["val_clips"] == count_samples(synthetic_cfg, "val")
    assert metrics["model_gflops"] > 0 and math.isfinite(metrics["train_loss"])
    _assert_loss_terms(metrics, "rgbd")
    confusion = _assert_confusion(metrics, 8)
    # Two epochs: the confusion matrix is the best epoch's, which need not be the last.
    assert 100.0 * np.trace(confusion) / confusion.sum() == pytest.approx(metrics["val_best_top1"])


def _val_rows(data_cfg):
    """Every validation clip of a dataset decoded without Ray, as the model's float32 input: (video (N, C, T, S, S),
    label (N,))."""
    root = Path(data_cfg.root)
    index = load_index(root)
    members = members_for(index, data_cfg.modality)
    videos, labels = [], []
    for shard in split_shards(index, data_cfg.protocol, "val"):
        row = {
            "path": str(root / shard["path"]),
            "keys": [s["key"] for s in shard["samples"]],
            "labels": [s["label"] for s in shard["samples"]],
        }
        samples = list(read_shard_samples(row, member=members, shuffle=False, frame_size=index["frame_size"]))
        batch = {k: np.array([s[k] for s in samples], dtype=object if "bytes" in k else None) for k in samples[0]}
        out = decode_batch(batch, cfg=data_cfg, member=members, training=False)
        assert out["valid"].all()
        videos.append(out["video"])
        labels.append(out["label"])
    (video,) = model_inputs((torch.from_numpy(np.concatenate(videos)),), data_cfg)  # as the train worker does
    return video, torch.from_numpy(np.concatenate(labels))


@pytest.mark.slow
def test_evaluate_only_run_fuses_two_single_modality_checkpoints(synthetic_cfg, tmp_path, ray_session):
    torch.manual_seed(5)
    tiny = {**tiny_overrides("mfst_large"), "num_classes": 8}
    streams = {
        "rgb": create_model("mfst_large", **tiny, stem="CDC-ST"),
        "depth": create_model("mfst_large", **tiny, stem="CDC-T"),
    }
    paths = {}
    for name, model in streams.items():  # as the loop writes them: a checkpoint directory holding best.pt
        paths[name] = tmp_path / f"{name}_ckpt"
        paths[name].mkdir()
        torch.save({"model": model.state_dict(), "epoch": 3, "val_top1": 10.0}, paths[name] / BEST_FILE)
    flat = _flat(
        synthetic_cfg,
        "mfst_large_rgbd",
        **{
            "data.modality": "rgbd",
            "train.epochs": 0,
            "model.rgb_weight": 0.4,
            "model.rgb_checkpoint": str(paths["rgb"]),
            "model.depth_checkpoint": str(paths["depth"]),
        },
    )
    result = _trainer(flat, tmp_path, "fused").fit()
    metrics = result.metrics
    assert len(result.metrics_dataframe) == 1, "evaluate-only reports exactly once"
    assert metrics["epoch"] == 0 and metrics["val_best_top1"] == metrics["val_top1"]
    assert math.isnan(metrics["train_loss"]) and math.isnan(metrics["train_top1"])
    assert metrics["val_clips"] == count_samples(synthetic_cfg, "val")
    assert metrics["skipped_val"] == 0
    # FLOPs of one (1, 6, T, S, S) view of this very two-stream model, counted once before DDP wrapping.
    cfg = from_flat(flat)
    assert cfg.model.in_channels == 6
    shape = (1, 6, cfg.data.num_frames, cfg.data.crop_size, cfg.data.crop_size)
    assert metrics["model_gflops"] > 0 and metrics["model_gflops"] == pytest.approx(
        count_gflops(build_model(cfg.model), shape), rel=1e-6
    )

    # The reference: the two single models' softmaxes, weighted 0.4 / 0.6, on every validation clip.
    video, label = _val_rows(from_flat(flat).data)
    with torch.no_grad():
        rgb, depth = streams["rgb"].eval(), streams["depth"].eval()
        fused = 0.4 * F.softmax(rgb(video[:, :3]), -1) + 0.6 * F.softmax(depth(video[:, 3:]), -1)
    predicted = fused.argmax(-1)
    assert metrics["val_top1"] == pytest.approx(100.0 * float((predicted == label).float().mean()))
    expected = np.zeros((8, 8), dtype=np.int64)
    np.add.at(expected, (label.numpy(), predicted.numpy()), 1)
    assert np.array_equal(_assert_confusion(metrics, 8), expected)
    assert {BEST_FILE, CHECKPOINT_FILE} <= set(os.listdir(result.checkpoint.path))
    best = torch.load(Path(result.checkpoint.path) / BEST_FILE, weights_only=True)
    assert best["epoch"] == 0 and best["val_top1"] == pytest.approx(metrics["val_top1"])
    assert {k.split(".")[0] for k in best["model"]} == {"rgb", "depth"}
    assert torch.equal(best["model"]["depth.head.4.weight"], streams["depth"].state_dict()["head.4.weight"])
