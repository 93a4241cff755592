"""actrec.train.loop under a real Ray Train TorchTrainer: 2-worker DDP (gloo), per-epoch checkpoints, resume."""

import os

import pytest
import ray
import ray.train
from ray.train.torch import TorchTrainer

from actrec.config import flatten, from_flat
from actrec.data.pipeline import count_samples
from actrec.models import tiny_overrides
from actrec.train.ingest import ValidationSafeDataConfig, train_datasets
from actrec.train.loop import train_loop_per_worker


def _trainer(flat, storage, name):
    cfg = from_flat(flat)
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config=flat,
        scaling_config=ray.train.ScalingConfig(num_workers=2, resources_per_worker={"CPU": 1}),
        run_config=ray.train.RunConfig(name=name, storage_path=str(storage)),
        datasets=train_datasets(cfg.data),
        dataset_config=ValidationSafeDataConfig(),
    )


@pytest.mark.slow
def test_ddp_run_reports_every_epoch_and_resumes_from_checkpoint(synthetic_cfg, tmp_path):
    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    try:
        flat = {f"data.{k}": v for k, v in vars(synthetic_cfg).items()}
        flat.update({f"model.{k}": v for k, v in tiny_overrides("mfst_base").items()})
        flat.update({"model.name": "mfst_base", "train.epochs": 1, "train.batch_size": 4, "optim.warmup_epochs": 0.0})
        flat = flatten(from_flat(flat))

        first = _trainer(flat, tmp_path, "run").fit()
        assert first.metrics["epoch"] == 1
        # Both workers' validation shards are summed: every held-out clip is counted exactly once.
        assert first.metrics["val_clips"] == count_samples(synthetic_cfg, "val")
        assert 0.0 <= first.metrics["val_top1"] <= 100.0 and first.metrics["val_top5"] >= first.metrics["val_top1"]
        assert first.checkpoint is not None

        # Same run name, more epochs: Ray Train restores the run and the loop continues at epoch 2.
        second = _trainer({**flat, "train.epochs": 2}, tmp_path, "run").fit()
        assert second.metrics["epoch"] == 2
        reported = second.metrics_dataframe
        assert list(reported["epoch"]) == [1, 2], "epoch 1 must come from the checkpoint, not be trained again"
    finally:
        ray.shutdown()
