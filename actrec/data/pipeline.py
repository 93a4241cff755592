"""Streaming Ray Data pipeline: shard index -> tar members -> decoded, sampled, transformed clips.

Clip sampler, decoder and transform are separate pieces as in PyTorchVideo (Fan et al., ACM MM 2021, Sec. 3);
sampling is TSN segment sampling (Wang et al., ECCV 2016, Sec. 3.2); splits are NTU RGB+D's cross-subject /
cross-view protocols (Shahroudy et al., CVPR 2016, Sec. 4).

Rows (the data contract): ``video`` uint8 (C, T, S, S) -- or (V, C, T, S, S) at evaluation with
``data.test_clips x data.test_crops`` = V > 1 views --, ``label`` int64, ``valid`` bool. C is 3 for RGB and depth,
6 for rgbd (RGB then depth, each rendered as its own modality; two-stream late fusion, MFST Tables I/II), the joint
(or limb) count for pose heatmaps. ``rgb_pose`` rows (EPAM-Net's two inputs, ``actrec.data.rgb_pose``) carry the
skeleton-box RGB clip as ``video`` (C = 3) and a second input column ``pose`` uint8 (J, N, P, P) -- (V, J, N, P, P)
with V = ``data.test_clips`` > 1 --, pose heatmaps of the same frames and box (J: joints or limbs; N
``data.pose_volume_frames``, P ``data.pose_volume_size``). A sample whose member (any of them, for rgbd and rgb_pose)
is missing or unreadable (truncated/garbled shard) or undecodable (corrupt video) becomes ``valid=False`` with zeros
(``video`` and ``pose``) and label -1 instead of failing the job; the train loop drops and counts those rows
(``split_valid_inputs``) and logs the counts to MLflow (skipped_train / skipped_val).

Rows carry uint8 (``actrec.data.clips.encode_unit``: 255 x the [0, 1] pixel, rendered depth or heatmap value), a
quarter of float32's bytes through Ray's object store and the train loop's buffers; the training worker turns them
into the model's float32 inputs (:func:`model_inputs`: /255, then ``data.mean`` / ``data.std`` for image channels),
on its accelerator when it has one. For 8-bit pixels (RGB, grey depth video) the result is bit for bit what
normalising in the decode task gave on a CPU (a GPU divides by 255 as a multiplication by 1/255: within 1 ulp
there); 16-bit or jet-coloured depth and pose heatmaps are rounded to 1/255 on the way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import ray.data

from actrec.data.clips import decoded_size, load_modality_views, load_views, members_for
from actrec.data.config import DataConfig
from actrec.data.decode import CorruptVideoError
from actrec.data.rgb_pose import load_rgb_pose_views
from actrec.data.shards import META_EXT, clip_id, iter_shard_members, load_index, split_shards
from actrec.data.synth import ensure_synthetic
from actrec.data.transforms import MODEL_INPUTS, model_inputs

if TYPE_CHECKING:
    import torch

__all__ = [
    "MODEL_INPUTS",
    "build_dataset",
    "count_samples",
    "decode_batch",
    "decode_shards",
    "decoded_size",
    "load_clip",
    "model_inputs",
    "num_classes",
    "prepare_root",
    "read_shard_samples",
    "split_valid",
    "split_valid_inputs",
    "stream_columns",
]

logger = logging.getLogger(__name__)


def prepare_root(cfg: DataConfig) -> Path:
    """Dataset root holding index.json and the shards (the synthetic set is generated on first use, into the cache
    only: a ``data.root`` is only ever read)."""
    if cfg.dataset != "synthetic":
        return Path(cfg.root).expanduser()
    return ensure_synthetic(cfg)


def check_root(cfg: DataConfig) -> dict:
    """The index of ``cfg.root`` (which must be set), checked against ``cfg`` without writing anything: the dataset
    it names and its class count; a synthetic set's generator parameters. Errors name the file and the field."""
    root = Path(cfg.root).expanduser()
    index = load_index(root)
    if cfg.dataset == "synthetic":
        ensure_synthetic(cfg)  # read-only for a given root: compares the generator parameters
    elif index.get("dataset") != cfg.dataset:
        raise ValueError(f"{root / 'index.json'} holds {index['dataset']!r}, not data.dataset={cfg.dataset!r}")
    if int(index["num_classes"]) != cfg.num_classes:
        raise ValueError(
            f"{root / 'index.json'} declares {index['num_classes']} classes but data.dataset={cfg.dataset!r} "
            f"has {cfg.num_classes}"
        )
    if cfg.protocol not in index["splits"]:
        raise ValueError(
            f"{root / 'index.json'} defines no split for data.protocol={cfg.protocol!r} (it has "
            f"{sorted(index['splits']) or 'none'}); rerun `actrec data prepare` or choose another data.protocol"
        )
    try:
        members_for(index, cfg.modality)
    except ValueError as err:
        raise ValueError(f"{root / 'index.json'}: {err}") from None
    return index


def num_classes(cfg: DataConfig) -> int:
    """Number of classes recorded in the dataset index."""
    return int(load_index(prepare_root(cfg))["num_classes"])


def count_samples(cfg: DataConfig, split: str) -> int:
    """Samples (valid or not) in ``split`` under ``cfg.protocol``; equals the rows ``build_dataset`` yields."""
    index = load_index(prepare_root(cfg))
    return sum(len(shard["samples"]) for shard in split_shards(index, cfg.protocol, split))


def build_dataset(cfg: DataConfig, split: str, *, training: bool) -> ray.data.Dataset:
    """Lazy, streaming dataset of ``split`` ("train" / "val"); nothing is decoded until it is iterated.

    One input row per shard; one Ray Data task of ``cfg.decode_cpus`` CPUs per shard reads the split's members of
    the selected modality (both the rgb and the depth member for rgbd) and each sample's metadata from the tar, then
    decodes, samples ``cfg.num_frames`` frames and crops them into uint8 rows (the training worker normalises them:
    :func:`model_inputs`), ``cfg.decode_batch_size`` clips per output block. Training randomises shard order and
    sample order inside a shard, draws frames and augmentations afresh on every pass (epoch); evaluation is
    deterministic.
    """
    root = prepare_root(cfg)
    index = check_root(cfg) if cfg.root else load_index(root)
    members = members_for(index, cfg.modality)
    member: str | tuple[str, ...] = members[0] if len(members) == 1 else members
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
    # One block per shard so randomize_block_order shuffles shards and shards are read in parallel.
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    if training:
        dataset = dataset.randomize_block_order()
    # Read and decode a shard in the same task: one operator, so every decode slot decodes (a separate read
    # operator would hold slots and reservations of its own) and no member bytes pass through the object store.
    return dataset.map_batches(
        decode_shards,
        batch_format="numpy",
        batch_size=1,
        num_cpus=cfg.decode_cpus,
        fn_kwargs={
            "cfg": cfg,
            "member": member,
            "training": training,
            "frame_size": list(index.get("frame_size", [0, 0])),
        },
    )


def decode_shards(
    shards: dict[str, np.ndarray],
    *,
    cfg: DataConfig,
    member: str | Sequence[str],
    training: bool,
    frame_size: Sequence[int],
) -> Iterator[dict[str, np.ndarray]]:
    """Shard rows -> contract batches of up to ``cfg.decode_batch_size`` clips, yielded as they are decoded.

    ``member``: the member of a single-modality ``cfg.modality``, or one per stream (``members_for``).
    """
    for path, keys, labels in zip(shards["path"], shards["keys"], shards["labels"], strict=True):
        row = {"path": path, "keys": keys, "labels": labels}
        samples = list(read_shard_samples(row, member=member, shuffle=training, frame_size=frame_size))
        for start in range(0, len(samples), cfg.decode_batch_size):
            chunk = samples[start : start + cfg.decode_batch_size]
            batch = {
                name: np.array([s[name] for s in chunk], dtype=object if _is_object_column(name) else None)
                for name in chunk[0]
            }
            yield decode_batch(batch, cfg=cfg, member=member, training=training)


def stream_columns(stream: int) -> tuple[str, str, str]:
    """Sample-row columns (member bytes, height, width) of stream ``stream`` of a modality: ``video_bytes``,
    ``height``, ``width`` for the first (the only one of single modalities), ``video_bytes_1``, ... after it."""
    suffix = "" if stream == 0 else f"_{stream}"
    return f"video_bytes{suffix}", f"height{suffix}", f"width{suffix}"


def _is_object_column(name: str) -> bool:
    # Bytes columns must be object arrays: a fixed-width numpy bytes array would strip trailing NUL bytes.
    return name == "key" or name.startswith("video_bytes")


def _as_members(member: str | Sequence[str]) -> tuple[str, ...]:
    return (member,) if isinstance(member, str) else tuple(member)


def read_shard_samples(
    row: dict[str, Any], *, member: str | Sequence[str], shuffle: bool, frame_size: Sequence[int] = (0, 0)
) -> Iterator[dict[str, Any]]:
    """One shard row -> one row per expected sample: ``key``, ``label``, per member ``stream_columns(i)``
    (``video_bytes``, ``height``, ``width``; ``video_bytes_1``, ... for a second member), ``readable``.

    ``member`` is one member extension or one per stream (rgbd: rgb then depth; rgb_pose: rgb then pose).
    ``height``/``width`` are the stored frame size of that member from the sample's metadata (``depth_size`` for
    depth members, ``rgb_size`` otherwise, pose included), else the dataset-wide ``frame_size``. Samples the tar does
    not deliver (truncated, garbled, missing file) or that lack one of the members come out with ``readable=False``.
    """
    wanted = _as_members(member)
    keys = [str(k) for k in row["keys"]]
    labels = dict(zip(keys, (int(label) for label in row["labels"]), strict=True))
    members = iter_shard_members(row["path"], keys, exts={*wanted, META_EXT})
    if shuffle:
        # Within-shard shuffle: shards are small (tens of MB), so holding one shard's bytes is fine.
        members = list(members)
        np.random.default_rng().shuffle(members)
    for key, sample in members:
        meta: dict[str, Any] = {}
        if sample is not None and META_EXT in sample:
            try:
                meta = json.loads(sample[META_EXT])
            except ValueError:
                logger.warning("unreadable metadata of sample %s in %s", key, row["path"])
        out: dict[str, Any] = {"key": key, "label": labels[key]}
        readable = True
        for stream, ext in enumerate(wanted):
            data = None if sample is None else sample.get(ext)
            if data is None:
                logger.warning("unreadable %s member of sample %s in %s", ext, key, row["path"])
            size_key = "depth_size" if ext.startswith("depth") else "rgb_size"
            height, width = int(frame_size[0]), int(frame_size[1])
            try:
                height, width = (int(v) for v in meta.get(size_key, (height, width)))
            except (ValueError, TypeError, AttributeError):
                logger.warning("unreadable %s in the metadata of sample %s in %s", size_key, key, row["path"])
            bytes_column, height_column, width_column = stream_columns(stream)
            out.update({bytes_column: data or b"", height_column: height, width_column: width})
            readable = readable and data is not None and height > 0 and width > 0
        out["readable"] = readable
        yield out


def decode_batch(
    batch: dict[str, np.ndarray], *, cfg: DataConfig, member: str | Sequence[str], training: bool
) -> dict[str, np.ndarray]:
    """Decode + sample + transform a batch of member bytes into contract rows (video, label, valid, clip; and pose for
    rgb_pose).

    ``member`` / the batch columns as from ``read_shard_samples``: one member, or one per stream of ``cfg.modality``.
    """
    members = _as_members(member)
    if len(members) != len(cfg.streams):
        raise ValueError(
            f"data.modality={cfg.modality!r} reads {len(cfg.streams)} member(s) per sample {cfg.streams}, got {members}"
        )
    size = len(batch["label"])
    views = 1 if training else cfg.num_views
    shapes = {name: (views, *shape) for name, shape in cfg.input_shapes.items()}  # video (and pose for rgb_pose)
    inputs = {name: np.zeros((size, *shape), dtype=np.uint8) for name, shape in shapes.items()}
    label = np.full(size, -1, dtype=np.int64)
    valid = np.zeros(size, dtype=bool)
    # Fresh OS entropy per task when training, so every epoch sees new frames and augmentations.
    rng = np.random.default_rng() if training else None
    for i in range(size):
        if not batch["readable"][i]:
            continue
        columns = [stream_columns(stream) for stream in range(len(members))]
        payloads = [bytes(batch[payload][i]) for payload, _, _ in columns]
        frame_sizes = [(int(batch[height][i]), int(batch[width][i])) for _, height, width in columns]
        try:
            if cfg.modality == "rgb_pose":  # two model inputs cut from the same frames (pose frames: the RGB video's)
                clips = load_rgb_pose_views(
                    payloads, cfg, members=members, training=training, rng=rng, frame_size=frame_sizes[0], encode=True
                )
            else:
                clips = (
                    load_modality_views(
                        payloads, cfg, members=members, training=training, rng=rng, frame_sizes=frame_sizes, encode=True
                    ),
                )
        except CorruptVideoError as error:
            logger.warning("corrupt sample %s: %s", batch["key"][i], error)
            continue
        decoded = tuple(clip.shape for clip in clips)
        if decoded != tuple(shapes.values()):
            logger.warning("sample %s decoded to %s, expected %s", batch["key"][i], decoded, tuple(shapes.values()))
            continue
        for name, clip in zip(inputs, clips, strict=True):
            inputs[name][i] = clip
        label[i] = batch["label"][i]
        valid[i] = True
    if views == 1:
        inputs = {name: array[:, 0] for name, array in inputs.items()}
    # Each clip's id (clip_id of its key), so per-clip predictions pair across trials.
    clip = np.asarray([clip_id(str(key)) for key in batch["key"]], dtype=np.int64)
    return {**inputs, "label": label, "valid": valid, "clip": clip}


def load_clip(
    data: bytes,
    cfg: DataConfig,
    *,
    training: bool,
    rng: np.random.Generator | None,
    frame_size: Sequence[int],
    member: str | None = None,
) -> np.ndarray:
    """One sample's member bytes -> model input float32 (C, T, S, S), or (V, C, T, S, S) for V > 1 eval views.

    The per-clip work of the pipeline. ``frame_size`` is the stored (height, width) of the video; ``member`` the
    member type (default ``<modality>.mp4``). Raises CorruptVideoError when undecodable.
    """
    views = load_views(
        data, cfg, member=member or f"{cfg.modality}.mp4", training=training, rng=rng, frame_size=frame_size
    )
    return views[0] if len(views) == 1 else views


def split_valid(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Drop ``valid=False`` rows: (video (B', C, T, S, S), label (B',), number of rows dropped); a ``pose`` column
    is left out (``split_valid_inputs`` keeps it)."""
    (video, *_), label, dropped = split_valid_inputs(batch)
    return video, label, dropped


def split_valid_inputs(batch: dict[str, torch.Tensor]) -> tuple[tuple[torch.Tensor, ...], torch.Tensor, int]:
    """Drop ``valid=False`` rows of every model input column: ((video, pose) for rgb_pose, else (video,), each
    (B', ...), in ``MODEL_INPUTS`` order, the order the model takes them), label (B',), number of rows dropped. The
    inputs stay as the rows carry them (uint8: :func:`model_inputs` makes them the model's)."""
    import torch

    valid = batch["valid"].to(torch.bool)
    inputs = tuple(batch[name][valid] for name in MODEL_INPUTS if name in batch)
    return inputs, batch["label"][valid], int((~valid).sum().item())
