"""Data side of actrec: shard format, synthetic RGB-D set, decoding, TSN sampling, transforms, Ray Data pipeline.

The Ray Data pipeline (``build_dataset``, ``count_samples``, ``num_classes``, ``split_valid``) is imported on first
use, so ``from actrec.data import DataConfig`` does not pull in ray and torch.
"""

from typing import Any

from actrec.data.config import DataConfig, cache_dir, dataset_root, default_synthetic_root
from actrec.data.decode import CorruptVideoError, decode_frames, num_frames, read_clip
from actrec.data.sampling import segment_indices
from actrec.data.shards import ShardWriter, iter_shard_members, load_index, split_shards, write_index
from actrec.data.synth import CLASS_NAMES, ensure_synthetic, generate_synthetic

__all__ = [
    "CLASS_NAMES",
    "CorruptVideoError",
    "DataConfig",
    "ShardWriter",
    "build_dataset",
    "cache_dir",
    "count_samples",
    "dataset_root",
    "decode_frames",
    "default_synthetic_root",
    "ensure_synthetic",
    "generate_synthetic",
    "iter_shard_members",
    "load_index",
    "num_classes",
    "num_frames",
    "read_clip",
    "segment_indices",
    "split_shards",
    "split_valid",
    "write_index",
]

_PIPELINE_NAMES = ("build_dataset", "count_samples", "num_classes", "split_valid")


def __getattr__(name: str) -> Any:
    if name in _PIPELINE_NAMES:
        from actrec.data import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'actrec.data' has no attribute {name!r}")
