"""Data side of actrec: shard format, synthetic RGB-D set, decoding, TSN sampling, transforms, Ray Data pipeline.

Only the config (``DataConfig`` and the cache paths) is imported with the package; everything else is imported on
first use, so ``from actrec.data import DataConfig`` (and ``actrec.config``, which builds on it) does not pull in
decord, PyAV, ray or torch: ``benchmarks/train_throughput.py`` runs where only torch and einops are installed.
"""

import importlib
from typing import Any

from actrec.data.config import DataConfig, cache_dir, dataset_root, default_synthetic_root

# Public name -> the module that defines it, imported on first use.
_LAZY = {
    "CorruptVideoError": "decode",
    "decode_frames": "decode",
    "num_frames": "decode",
    "read_clip": "decode",
    "segment_indices": "sampling",
    "ShardWriter": "shards",
    "iter_shard_members": "shards",
    "load_index": "shards",
    "split_shards": "shards",
    "write_index": "shards",
    "CLASS_NAMES": "synth",
    "ensure_synthetic": "synth",
    "generate_synthetic": "synth",
    "build_dataset": "pipeline",
    "count_samples": "pipeline",
    "num_classes": "pipeline",
    "split_valid": "pipeline",
}

__all__ = [  # the config names, then _LAZY's
    "DataConfig",
    "cache_dir",
    "dataset_root",
    "default_synthetic_root",
    "CorruptVideoError",
    "decode_frames",
    "num_frames",
    "read_clip",
    "segment_indices",
    "ShardWriter",
    "iter_shard_members",
    "load_index",
    "split_shards",
    "write_index",
    "CLASS_NAMES",
    "ensure_synthetic",
    "generate_synthetic",
    "build_dataset",
    "count_samples",
    "num_classes",
    "split_valid",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"actrec.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'actrec.data' has no attribute {name!r}")
