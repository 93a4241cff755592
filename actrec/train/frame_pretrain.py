"""Label-free per-frame pretraining of a ViT spatial encoder on the skeletons a dataset carries (``pose_pretrain``).

Why: the thesis starts every frame-wise Transformer of chapter 3 (RPE-STDT's spatial encoder, Table 3.3's ViT)
from ViT-Base ImageNet weights ("we follow the model weights of the ViT-Base approach", §3.4.2). actrec cannot
download weights, and trained from scratch the tiny frame-wise models stay at chance on the synthetic set (see
the RPE-STDT paper module's ``rpe_profiles`` in :mod:`actrec.papers`). This module is the offline stand-in for that
initialisation: a ViT with learned absolute positions (the ViT-B architecture at the trial's width, depth, heads and
patch size) learns, frame by frame, to regress the (x, y) of every joint of the pose member from its class token
through one Linear layer.
Action labels are never read; only the training split of the protocol is used for the weights (the validation
split's frames only report a loss). The result is a ViT spatial encoder checkpoint that ``model.spatial_init``
loads into a model with a per-frame ViT encoder (``actrec.models.spatial_init``): patch projection, class token,
blocks, final LayerNorm and absolute positions; the regression head is stored beside it but never loaded.

Recipe (chosen here, not the thesis'): every clip's ``data.num_frames`` frames at the evaluation view (uniform /
segment-centre frames, centre crop ``data.crop_size``), decoded once; targets are the first person's joints in crop
pixels, divided by the crop size and z-scored per joint and coordinate over the training frames (unscaled targets
left the probe's regression at the mean); joints with confidence <= 0 are masked out of the mean squared error; AdamW
(``lr`` 1e-3, weight decay 0.05), cosine decay, ``epochs`` 20, batches of 32 frames. In a probe on the synthetic
cross-subject split this took the tiny encoder's validation MSE to about 0.17 (1.0 = predicting the mean), and an
APE RPE-STDT started from it reached 42-49% where every variant trained from scratch stays at 12.5%.

Use: ``actrec pretrain-frames model.name=NAME model.size=tiny ...`` writes the file and prints its path; in a
sweep, ``model.spatial_init=pose_pretrain`` (or ``pose_pretrain:EPOCHS``) makes the driver pretrain once per
distinct (data, encoder) pair before any trial starts and point the trials at the file (``resolve_spatial_init``).
The files are cached under ``<storage>/pretrain/`` by a hash of everything they depend on; sweeps started together on
one storage path pretrain a file once (a lock beside it: the second driver waits for the first's file).
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from actrec.config import ExperimentConfig, flatten, from_flat
from actrec.data.clips import load_joint_views, load_views, member_for
from actrec.data.config import DataConfig
from actrec.data.decode import CorruptVideoError
from actrec.data.pipeline import prepare_root, read_shard_samples
from actrec.data.shards import load_index, split_shards
from actrec.models.vit import ViTSpatial, ViTSpatialConfig

logger = logging.getLogger(__name__)

POSE_PRETRAIN = "pose_pretrain"  # model.spatial_init value the sweep driver replaces by a pretrained file
PRETRAIN_VERSION = 1  # bump when the recipe changes, so cached files are not reused


@dataclasses.dataclass(frozen=True, kw_only=True)
class FramePretrainConfig:
    """Optimisation of the per-frame pose regression (see the module docstring)."""

    epochs: int = 20  # passes over the training frames
    lr: float = 1e-3  # AdamW peak learning rate (cosine decay to 0)
    weight_decay: float = 0.05  # AdamW decoupled weight decay
    batch_size: int = 32  # frames per step
    seed: int = 0  # initialisation and shuffling

    def __post_init__(self) -> None:
        for name, ok in (
            ("epochs", isinstance(self.epochs, int) and self.epochs >= 1),
            ("lr", self.lr > 0),
            ("weight_decay", self.weight_decay >= 0),
            ("batch_size", isinstance(self.batch_size, int) and self.batch_size >= 1),
            ("seed", isinstance(self.seed, int) and self.seed >= 0),
        ):
            if not ok:
                raise ValueError(f"pretrain-frames: {name} has an impossible value {getattr(self, name)!r}")


def parse_spatial_init(value: object) -> FramePretrainConfig | None:
    """``"pose_pretrain"`` / ``"pose_pretrain:EPOCHS"`` -> its pretraining config; anything else -> None."""
    if not isinstance(value, str) or not (value == POSE_PRETRAIN or value.startswith(POSE_PRETRAIN + ":")):
        return None
    _, _, epochs = value.partition(":")
    if not epochs:
        return FramePretrainConfig()
    try:
        return FramePretrainConfig(epochs=int(epochs))
    except ValueError as error:
        raise ValueError(
            f"model.spatial_init={value!r}: expected {POSE_PRETRAIN} or {POSE_PRETRAIN}:EPOCHS with EPOCHS >= 1"
        ) from error


def encoder_config(cfg: ExperimentConfig) -> ViTSpatialConfig:
    """The APE ViT with the per-frame encoder shape of ``cfg``'s model (its config's ``frame_encoder()``, see
    :mod:`actrec.models.protocol`), on ``cfg.data``'s crops."""
    shape = getattr(cfg.model, "frame_encoder", None)
    if shape is None:
        raise ValueError(
            f"pretrain-frames: model.name={cfg.model_name!r} has no per-frame ViT encoder (its config defines no "
            "frame_encoder(); see actrec.models.protocol)"
        )
    fields = shape()
    if cfg.data.crop_size % fields["patch_size"]:
        raise ValueError(
            f"pretrain-frames: data.crop_size={cfg.data.crop_size} is not a multiple of model.patch_size="
            f"{fields['patch_size']}"
        )
    return ViTSpatialConfig(
        num_classes=1,  # the classification head is unused; the pose head is separate
        image_size=cfg.data.crop_size,
        positional_embedding=True,
        position_kind="learned",
        **fields,
    )


def cache_key(cfg: ExperimentConfig, pretrain: FramePretrainConfig) -> str:
    """Hash of everything the pretrained file depends on: the training frames (data fields that select, decode and
    crop them), the encoder's shape and the recipe."""
    flat = flatten(cfg)
    data = {
        k: v
        for k, v in flat.items()
        if k.startswith("data.synth_")
        or k
        in (
            "data.dataset",
            "data.root",
            "data.protocol",
            "data.num_frames",
            "data.sampling",
            "data.frame_interval",
            "data.resize",
            "data.crop_size",
            "data.mean",
            "data.std",
        )
    }
    payload = {
        "version": PRETRAIN_VERSION,
        "data": data,
        "encoder": dataclasses.asdict(encoder_config(cfg)),
        "pretrain": dataclasses.asdict(pretrain),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclasses.dataclass
class FrameSet:
    """Frames and their joint targets: ``frames`` float32 (N, C, S, S), ``joints`` float32 (N, J, 2) in [0, 1] of
    the crop, ``visible`` bool (N, J); ``clips`` read and ``skipped`` (unreadable / undecodable) counts."""

    frames: np.ndarray
    joints: np.ndarray
    visible: np.ndarray
    clips: int
    skipped: int


def load_frame_set(cfg: DataConfig, split: str) -> FrameSet:
    """Every frame of ``split``'s clips with the first person's joints, at the evaluation view (one clip, centre
    crop). Unreadable or undecodable samples are skipped, logged and counted."""
    view = dataclasses.replace(cfg, modality="rgb", test_clips=1, test_crops=1)
    root = prepare_root(view)
    index = load_index(root)
    try:
        members = (member_for(index, "rgb"), member_for(index, "pose"))
    except ValueError as error:
        raise ValueError(f"pretrain-frames needs RGB frames and skeletons ({root / 'index.json'}): {error}") from None
    frame_size = list(index.get("frame_size", [0, 0]))
    frames, joints, visible = [], [], []
    clips = skipped = 0
    for shard in split_shards(index, view.protocol, split):
        row = {
            "path": str(root / shard["path"]),
            "keys": [s["key"] for s in shard["samples"]],
            "labels": [0 for _ in shard["samples"]],  # labels are not used
        }
        for sample in read_shard_samples(row, member=members, shuffle=False, frame_size=frame_size):
            if not sample["readable"]:
                skipped += 1
                continue
            try:
                rgb = load_views(
                    sample["video_bytes"],
                    view,
                    member=members[0],
                    training=False,
                    rng=None,
                    frame_size=(sample["height"], sample["width"]),
                )[0]  # (C, T, S, S)
                pose = load_joint_views(
                    sample["video_bytes_1"],
                    view,
                    training=False,
                    rng=None,
                    frame_size=(sample["height_1"], sample["width_1"]),
                )[0][:, 0]  # (T, J, 3): the first person
            except CorruptVideoError as error:
                logger.warning("pretrain-frames: skipping sample %s of %s: %s", sample["key"], row["path"], error)
                skipped += 1
                continue
            if pose.shape[0] != rgb.shape[1]:
                logger.warning("pretrain-frames: sample %s has %d pose frames for %d RGB frames; skipped",
                               sample["key"], pose.shape[0], rgb.shape[1])  # fmt: skip
                skipped += 1
                continue
            clips += 1
            frames.append(np.moveaxis(rgb, 1, 0))  # (T, C, S, S)
            joints.append(pose[..., :2] / view.crop_size)
            visible.append(np.isfinite(pose).all(-1) & (pose[..., 2] > 0))
    if not frames:
        raise ValueError(
            f"pretrain-frames: split {split!r} of protocol {view.protocol!r} in {root} has no readable clip with a "
            f"pose member ({skipped} skipped)"
        )
    return FrameSet(
        frames=np.concatenate(frames).astype(np.float32),
        joints=np.nan_to_num(np.concatenate(joints)).astype(np.float32),
        visible=np.concatenate(visible),
        clips=clips,
        skipped=skipped,
    )


def _masked_mse(prediction: torch.Tensor, target: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    mask = visible[..., None].to(prediction.dtype).expand_as(prediction)
    return ((prediction - target) ** 2 * mask).sum() / mask.sum().clamp_min(1.0)


def pretrain_frames(
    cfg: ExperimentConfig,
    out: str | os.PathLike[str],
    pretrain: FramePretrainConfig | None = None,
    *,
    log: Callable[[str], None] = print,
) -> Path:
    """Pretrain the per-frame encoder of ``cfg``'s model on ``cfg.data``'s training split and write the checkpoint
    to ``out`` (a file; written to a temporary name first, so a crash never leaves a partial file). Returns ``out``.

    The file holds ``model`` (the ViT spatial encoder's state dict ``model.spatial_init`` reads), ``pose_head`` and
    ``meta`` (encoder config, recipe, data, final losses)."""
    pretrain = pretrain or FramePretrainConfig()
    encoder_cfg = encoder_config(cfg)
    started = time.time()
    train = load_frame_set(cfg.data, "train")
    val = load_frame_set(cfg.data, "val")
    log(
        f"[actrec] pretrain-frames: {train.clips} training clips ({len(train.frames)} frames), {val.clips} "
        f"validation clips, {train.skipped + val.skipped} skipped; {train.joints.shape[1]} joints per frame"
    )
    # Per joint and coordinate over the frames where the joint is visible: the targets are where each joint is
    # relative to where it usually is, so the body's fixed shape does not dominate the loss.
    seen = train.visible[..., None].astype(np.float64)  # (N, J, 1)
    counts = seen.sum(0)  # (J, 1)
    if (counts < 2).any():
        raise ValueError(
            f"pretrain-frames: joints {np.flatnonzero(counts[:, 0] < 2).tolist()} have confidence > 0 in fewer than "
            "two training frames"
        )
    mean = (train.joints * seen).sum(0) / counts  # (J, 2)
    std = np.maximum(np.sqrt((((train.joints - mean) ** 2) * seen).sum(0) / counts), 1e-6)

    def tensors(frames: FrameSet) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        target = (frames.joints - mean) / std
        return (
            torch.from_numpy(frames.frames),
            torch.from_numpy(target.astype(np.float32)),
            torch.from_numpy(frames.visible),
        )

    train_x, train_y, train_v = tensors(train)
    val_x, val_y, val_v = tensors(val)
    torch.manual_seed(pretrain.seed)
    encoder = ViTSpatial(encoder_cfg)
    head = nn.Linear(encoder_cfg.dim, train_y.shape[1] * 2)
    params = [*encoder.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=pretrain.lr, weight_decay=pretrain.weight_decay)
    steps_per_epoch = math.ceil(len(train_x) / pretrain.batch_size)
    total_steps = steps_per_epoch * pretrain.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
    )
    generator = torch.Generator().manual_seed(pretrain.seed)

    def predict(x: torch.Tensor) -> torch.Tensor:
        features = encoder.encode_frames(x[:, :, None])[:, 0]  # each frame as a 1-frame clip: (B, D)
        return head(features).view(len(x), -1, 2)

    def evaluate() -> float:
        encoder.eval()
        total = count = 0.0
        with torch.no_grad():
            for start in range(0, len(val_x), 256):
                x, y, v = val_x[start : start + 256], val_y[start : start + 256], val_v[start : start + 256]
                weight = float(v.sum())
                total += float(_masked_mse(predict(x), y, v)) * weight
                count += weight
        encoder.train()
        return total / max(count, 1.0)

    train_loss = val_loss = float("nan")
    for epoch in range(1, pretrain.epochs + 1):
        order = torch.randperm(len(train_x), generator=generator)
        running = weight_sum = 0.0
        for start in range(0, len(order), pretrain.batch_size):
            batch = order[start : start + pretrain.batch_size]
            loss = _masked_mse(predict(train_x[batch]), train_y[batch], train_v[batch])
            if not torch.isfinite(loss):
                raise FloatingPointError(f"pretrain-frames: the loss became {float(loss)} in epoch {epoch}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            running += loss.item() * len(batch)
            weight_sum += len(batch)
        train_loss, val_loss = running / weight_sum, evaluate()
        log(
            f"[actrec] pretrain-frames epoch {epoch}/{pretrain.epochs}: train MSE {train_loss:.3f}, "
            f"validation MSE {val_loss:.3f} (1.0 = predicting the mean joint) [{time.time() - started:.0f}s]"
        )
    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "kind": "actrec pose_pretrain",
        "version": PRETRAIN_VERSION,
        "encoder": dataclasses.asdict(encoder_cfg),
        "pretrain": dataclasses.asdict(pretrain),
        "data": {k: str(v) for k, v in flatten(cfg).items() if k.startswith("data.")},
        "train_mse": train_loss,
        "val_mse": val_loss,
        "joint_mean": mean.tolist(),
        "joint_std": std.tolist(),
    }
    partial = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    torch.save({"model": encoder.state_dict(), "pose_head": head.state_dict(), "meta": meta}, partial)
    os.replace(partial, out)
    log(f"[actrec] pretrain-frames: wrote {out} in {time.time() - started:.0f}s")
    return out


def pretrained_path(storage: str | os.PathLike[str], cfg: ExperimentConfig, pretrain: FramePretrainConfig) -> Path:
    """Where the cached pretraining of ``cfg``'s encoder on ``cfg.data`` lives under ``storage``."""
    return Path(storage).expanduser() / "pretrain" / f"frames-{cfg.model_name}-{cache_key(cfg, pretrain)}.pt"


def resolve_spatial_init(
    flat: Mapping[str, Any], storage: str | os.PathLike[str], *, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """``flat`` (a trial's full dotted config) with ``model.spatial_init=pose_pretrain[:EPOCHS]`` replaced by the
    pretrained file, pretraining first when ``storage`` holds no cached file; other configs come back unchanged."""
    pretrain = parse_spatial_init(flat.get("model.spatial_init"))
    if pretrain is None:
        return dict(flat)
    cfg = from_flat({**flat, "model.spatial_init": ""})
    path = pretrained_path(storage, cfg, pretrain)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Sweeps sharing a storage path pretrain the same encoder once: the second waits for the first's file.
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"[actrec] pretrain-frames: another driver is writing {path}; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            log(f"[actrec] pretrain-frames: using the cached {path}")
        else:
            data = f"{cfg.data.dataset} / {cfg.data.protocol}"
            log(f"[actrec] pretrain-frames: {cfg.model_name} encoder on {data} -> {path}")
            pretrain_frames(cfg, path, pretrain, log=log)
    return {**flat, "model.spatial_init": str(path)}


def pose_pretrain_step(
    args: argparse.Namespace, base: dict[str, Any], trials: list[dict[str, Any]], resolved: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The sweep driver's preparation step for ``model.spatial_init=pose_pretrain[:EPOCHS]`` (any model whose config
    has ``frame_encoder()`` and ``spatial_init``): the pretrained file in its place, pretrained here in the driver,
    once per distinct (data, encoder), before any trial starts; cached under ``<storage>/pretrain`` so other sweeps
    and a resumed sweep reuse it. Returns the shared values and trials to run (the caller re-resolves them)."""
    if not any(parse_spatial_init(flat.get("model.spatial_init")) for flat in resolved):
        return base, trials
    if args.search != "grid":  # one search space: the base config's data and encoder
        path = resolve_spatial_init(resolved[0], args.storage_path)["model.spatial_init"]
        base = {**base, "model.spatial_init": path}
        trials = [{k: v for k, v in t.items() if k != "model.spatial_init"} for t in trials]
    else:
        trials = [
            {**trial, "model.spatial_init": resolve_spatial_init(flat, args.storage_path)["model.spatial_init"]}
            if parse_spatial_init(flat.get("model.spatial_init"))
            else trial
            for trial, flat in zip(trials, resolved, strict=True)
        ]
    return base, trials
