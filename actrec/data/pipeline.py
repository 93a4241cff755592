"""Streaming Ray Data pipeline: shard index -> tar members -> decoded, sampled, transformed clips.

Clip sampler, decoder and transform are separate pieces as in PyTorchVideo (Fan et al., ACM MM 2021, Sec. 3);
sampling is TSN segment sampling (Wang et al., ECCV 2016, Sec. 3.2); splits are NTU RGB+D's cross-subject /
cross-view protocols (Shahroudy et al., CVPR 2016, Sec. 4).

Rows (the data contract): ``video`` float32 (3, T, S, S), ``label`` int64, ``valid`` bool. A sample whose member is
unreadable (truncated/garbled shard) or undecodable (corrupt video) becomes ``valid=False`` with zeros and label -1
instead of failing the job; the train loop drops and counts those rows (``split_valid``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import ray.data
import torch

from actrec.data.config import DataConfig
from actrec.data.decode import CorruptVideoError, read_clip
from actrec.data.sampling import segment_indices
from actrec.data.shards import iter_shard_members, load_index, split_shards
from actrec.data.synth import ensure_synthetic
from actrec.data.transforms import clip_transform

logger = logging.getLogger(__name__)


def prepare_root(cfg: DataConfig) -> Path:
    """Dataset root holding index.json and the shards (the synthetic set is generated on first use)."""
    if cfg.dataset != "synthetic":
        return Path(cfg.root).expanduser()
    return ensure_synthetic(cfg)


def num_classes(cfg: DataConfig) -> int:
    """Number of classes recorded in the dataset index."""
    return int(load_index(prepare_root(cfg))["num_classes"])


def count_samples(cfg: DataConfig, split: str) -> int:
    """Samples (valid or not) in ``split`` under ``cfg.protocol``; equals the rows ``build_dataset`` yields."""
    index = load_index(prepare_root(cfg))
    return sum(len(shard["samples"]) for shard in split_shards(index, cfg.protocol, split))


def decoded_size(frame_size: Sequence[int], short_side: int) -> tuple[int, int]:
    """(width, height) that scales a (height, width) frame so its short side is ``short_side``."""
    height, width = int(frame_size[0]), int(frame_size[1])
    if height <= width:
        return round(width * short_side / height), short_side
    return short_side, round(height * short_side / width)


def build_dataset(cfg: DataConfig, split: str, *, training: bool) -> ray.data.Dataset:
    """Lazy, streaming dataset of ``split`` ("train" / "val"); nothing is decoded until it is iterated.

    One input row per shard; ``flat_map`` reads the split's members of the selected modality from each tar;
    ``map_batches`` decodes, samples ``cfg.num_frames`` frames, crops and normalises inside Ray Data tasks of
    ``cfg.decode_cpus`` CPUs. Training randomises shard order and sample order inside a shard, draws segment
    offsets and crops afresh on every pass (epoch); evaluation is deterministic.
    """
    root = prepare_root(cfg)
    index = load_index(root)
    if int(index["num_classes"]) != cfg.num_classes:
        raise ValueError(
            f"{root / 'index.json'} declares {index['num_classes']} classes but data.dataset={cfg.dataset!r} "
            f"has {cfg.num_classes}"
        )
    shards = split_shards(index, cfg.protocol, split)
    if not shards:
        raise ValueError(f"split {split!r} of protocol {cfg.protocol!r} in {root} has no samples")
    items = [
        {
            "path": str(root / shard["path"]),
            "keys": [s["key"] for s in shard["samples"]],
            "labels": [int(s["label"]) for s in shard["samples"]],
        }
        for shard in shards
    ]
    width, height = decoded_size(index["frame_size"], cfg.resize)
    # One block per shard so randomize_block_order shuffles shards and shards are read in parallel.
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    if training:
        dataset = dataset.randomize_block_order()
    dataset = dataset.flat_map(
        read_shard_samples,
        fn_kwargs={"modality": cfg.modality, "shuffle": training},
        num_cpus=cfg.decode_cpus,
    )
    return dataset.map_batches(
        decode_batch,
        batch_format="numpy",
        batch_size=cfg.decode_batch_size,
        num_cpus=cfg.decode_cpus,
        udf_modifying_row_count=False,
        fn_kwargs={
            "modality": cfg.modality,
            "num_frames": cfg.num_frames,
            "width": width,
            "height": height,
            "crop_size": cfg.crop_size,
            "mean": cfg.mean,
            "std": cfg.std,
            "training": training,
        },
    )


def read_shard_samples(row: dict[str, Any], *, modality: str, shuffle: bool) -> Iterator[dict[str, Any]]:
    """One shard row -> one row per expected sample: ``key``, ``label``, ``video_bytes``, ``readable``.

    Samples the tar does not deliver (truncated, garbled, missing file) come out with ``readable=False``.
    """
    keys = [str(k) for k in row["keys"]]
    labels = dict(zip(keys, (int(label) for label in row["labels"]), strict=True))
    ext = f"{modality}.mp4"
    members = iter_shard_members(row["path"], keys, exts={ext})
    if shuffle:
        # Within-shard shuffle: shards are small (tens of MB), so holding one shard's bytes is fine.
        members = list(members)
        np.random.default_rng().shuffle(members)
    for key, sample in members:
        data = None if sample is None else sample.get(ext)
        if data is None:
            logger.warning("unreadable sample %s in %s", key, row["path"])
        yield {"key": key, "label": labels[key], "video_bytes": data or b"", "readable": data is not None}


def decode_batch(
    batch: dict[str, np.ndarray],
    *,
    modality: str,
    num_frames: int,
    width: int,
    height: int,
    crop_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    training: bool,
) -> dict[str, np.ndarray]:
    """Decode + sample + transform a batch of member bytes into contract rows (video, label, valid)."""
    size = len(batch["label"])
    video = np.zeros((size, 3, num_frames, crop_size, crop_size), dtype=np.float32)
    label = np.full(size, -1, dtype=np.int64)
    valid = np.zeros(size, dtype=bool)
    # Fresh OS entropy per task when training, so every epoch sees new segment offsets and crops.
    rng = np.random.default_rng() if training else None
    for i in range(size):
        if not batch["readable"][i]:
            continue
        try:
            frames = read_clip(
                bytes(batch["video_bytes"][i]),
                lambda total: segment_indices(total, num_frames, training=training, rng=rng),
                width=width,
                height=height,
            )
        except CorruptVideoError as error:
            logger.warning("corrupt sample %s: %s", batch["key"][i], error)
            continue
        video[i] = clip_transform(
            frames, modality=modality, crop_size=crop_size, mean=mean, std=std, training=training, rng=rng
        )
        label[i] = batch["label"][i]
        valid[i] = True
    return {"video": video, "label": label, "valid": valid}


def split_valid(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Drop ``valid=False`` rows: (video (B', 3, T, S, S), label (B',), number of rows dropped)."""
    valid = batch["valid"].to(torch.bool)
    return batch["video"][valid], batch["label"][valid], int((~valid).sum().item())
