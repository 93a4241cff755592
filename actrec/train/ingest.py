"""How the Ray Data streams reach the Train workers: training split equally, held-out data split without loss.

Ray Train's default ``DataConfig`` splits every dataset with ``streaming_split(equal=True)``, which drops up to
``world_size - 1`` rows so every worker gets the same count. DDP needs that for training (every worker must take
the same number of optimiser steps), but for validation it silently leaves held-out clips unscored (1 test clip
over 2 workers = 0 clips scored). ``ValidationSafeDataConfig`` splits evaluation datasets with ``equal=False``;
the train loop sums its counters over workers, so uneven shards are correct.

A run of one worker needs no split: each dataset goes to it as a plain iterator, executed in the worker itself.
``streaming_split`` would start a coordinator actor per dataset and run: two processes more per trial, each
importing Ray Data (on the 2-vCPU VM, 8 smoke trials took 14% less wall time and 18% less CPU without them and
without Ray Train's preemption watcher, :func:`actrec.tune.cluster.init_ray`).
"""

from __future__ import annotations

from typing import Any

import ray.train
from ray.data import Dataset

from actrec.data.config import DataConfig
from actrec.data.pipeline import build_dataset

TRAIN_DATASET = "train"


class ValidationSafeDataConfig(ray.train.DataConfig):
    """``train`` split equally across workers; every other dataset split so that no row is dropped."""

    def configure(
        self,
        datasets: dict[str, Dataset],
        world_size: int,
        worker_handles: Any,
        worker_node_ids: Any,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        if world_size == 1:
            return [{name: self._prepared(name, dataset).iterator() for name, dataset in datasets.items()}]
        equal = {k: v for k, v in datasets.items() if k == TRAIN_DATASET}
        output = super().configure(equal, world_size, worker_handles, worker_node_ids, **kwargs)
        for name, dataset in datasets.items():
            if name not in equal:
                for rank, split in enumerate(self._prepared(name, dataset).streaming_split(world_size, equal=False)):
                    output[rank][name] = split
        return output

    def _prepared(self, name: str, dataset: Dataset) -> Dataset:
        """A copy of ``dataset`` named and with its execution options, as the base class prepares the ones it
        splits."""
        dataset = dataset.copy(dataset)
        if dataset.name is None:
            dataset.set_name(name)
        dataset.context.execution_options = self._resolve_execution_options(name)
        return dataset


def train_datasets(cfg: DataConfig) -> dict[str, Dataset]:
    """The ``train`` (shuffled, augmented) and ``val`` (deterministic, multi-view) streams of one run."""
    return {
        TRAIN_DATASET: build_dataset(cfg, "train", training=True),
        "val": build_dataset(cfg, "val", training=False),
    }
