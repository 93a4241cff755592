"""Label-free per-frame pose-regression pretraining (actrec.train.frame_pretrain) and the joints it reads."""

from __future__ import annotations

import dataclasses
import io
import shutil
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from actrec.config import flatten, from_flat
from actrec.data.clips import flip_joints, load_joint_views, load_views
from actrec.data.config import DataConfig
from actrec.data.pipeline import read_shard_samples
from actrec.data.shards import load_index, split_shards
from actrec.models import build_model
from actrec.train.frame_pretrain import (
    POSE_PRETRAIN,
    FramePretrainConfig,
    cache_key,
    encoder_config,
    load_frame_set,
    parse_spatial_init,
    pretrain_frames,
    resolve_spatial_init,
)


def _samples(cfg: DataConfig, split: str = "val"):
    root = Path(cfg.root)
    index = load_index(root)
    for shard in split_shards(index, cfg.protocol, split):
        keys = [s["key"] for s in shard["samples"]]
        row = {"path": str(root / shard["path"]), "keys": keys, "labels": [0] * len(keys)}
        members = ("rgb.mp4", "pose.npy")
        yield from read_shard_samples(row, member=members, shuffle=False, frame_size=index["frame_size"])


def _flat(cfg: DataConfig, **model) -> dict:
    flat = {f"data.{k}": v for k, v in dataclasses.asdict(cfg).items()}
    return {**flat, "model.name": "rpe_stdt", "model.size": "tiny", "model.patch_size": 4, **model}


def test_spatial_init_values_parse() -> None:
    assert parse_spatial_init(POSE_PRETRAIN) == FramePretrainConfig()
    assert parse_spatial_init("pose_pretrain:3") == FramePretrainConfig(epochs=3)
    assert parse_spatial_init("") is None and parse_spatial_init("/weights/vit.pt") is None
    for bad in ("pose_pretrain:0", "pose_pretrain:x"):
        with pytest.raises(ValueError, match="model.spatial_init"):
            parse_spatial_init(bad)


def test_joint_views_follow_the_rgb_views_frames_crops_and_flips(synthetic_cfg: DataConfig) -> None:
    sample = next(s for s in _samples(synthetic_cfg) if s["readable"])
    size = (sample["height_1"], sample["width_1"])
    # Evaluation: 2 clips x 3 crops = 6 views, as load_views gives the RGB member.
    cfg = dataclasses.replace(synthetic_cfg, test_clips=2, test_crops=3)
    joints = load_joint_views(sample["video_bytes_1"], cfg, training=False, rng=None, frame_size=size)
    rgb = load_views(sample["video_bytes"], cfg, member="rgb.mp4", training=False, rng=None, frame_size=size)
    assert joints.shape == (6, cfg.num_frames, 1, 17, 3) and rgb.shape[:3] == (6, 3, cfg.num_frames)
    # The three crops of one clip see the same joints shifted by the crops' offsets, x only or y only.
    shift = joints[1, ..., :2] - joints[0, ..., :2]
    assert np.allclose(shift, shift.reshape(-1, 2)[0]) and np.count_nonzero(shift.reshape(-1, 2)[0]) <= 1
    # Training with a flip: the same rng state gives the RGB member's draws, and the joints come out mirrored in
    # the crop with left and right swapped.
    flip = dataclasses.replace(synthetic_cfg, flip_prob=1.0, resize=synthetic_cfg.crop_size)
    plain = dataclasses.replace(flip, flip_prob=0.0)
    pose = sample["video_bytes_1"]
    flipped = load_joint_views(pose, flip, training=True, rng=np.random.default_rng(5), frame_size=size)
    kept = load_joint_views(pose, plain, training=True, rng=np.random.default_rng(5), frame_size=size)
    mirrored = flip_joints(kept.copy())
    mirrored[..., 0] = flip.crop_size - mirrored[..., 0]
    np.testing.assert_allclose(flipped, mirrored, atol=1e-4)


def test_frame_set_skips_and_counts_a_corrupt_pose_member(synthetic_cfg: DataConfig, tmp_path: Path) -> None:
    clean = load_frame_set(synthetic_cfg, "val")
    assert clean.skipped == 0 and len(clean.frames) == clean.clips * synthetic_cfg.num_frames
    assert clean.frames.shape[1:] == (3, 24, 24) and clean.joints.shape[1:] == (17, 2) and clean.visible.any()
    root = tmp_path / "damaged"
    shutil.copytree(synthetic_cfg.root, root)
    cfg = dataclasses.replace(synthetic_cfg, root=str(root))
    shard = split_shards(load_index(root), cfg.protocol, "val")[0]
    path, key = root / shard["path"], shard["samples"][0]["key"]
    with tarfile.open(path) as tar:
        contents = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(path, "w") as tar:
        for member, content in contents:
            if member.name == f"{key}.pose.npy":
                content = b"not a numpy array"
                member.size = len(content)
            tar.addfile(member, io.BytesIO(content))
    damaged = load_frame_set(cfg, "val")
    assert (damaged.clips, damaged.skipped) == (clean.clips - 1, 1)


def test_encoder_follows_the_trial_model_and_rejects_models_without_one(synthetic_cfg: DataConfig) -> None:
    cfg = from_flat(_flat(synthetic_cfg, **{"model.position_embedding": "shared_rpe"}))
    encoder = encoder_config(cfg)
    assert (encoder.dim, encoder.depth, encoder.heads, encoder.patch_size, encoder.image_size) == (32, 2, 2, 4, 24)
    assert encoder.positional_embedding  # absolute positions whatever the trial uses, as ViT-B's
    with pytest.raises(ValueError, match="model.name='vivit_b'"):
        flat = {k: v for k, v in _flat(synthetic_cfg).items() if k != "model.patch_size"}
        encoder_config(from_flat({**flat, "model.name": "vivit_b"}))
    other = from_flat({**_flat(synthetic_cfg), "data.protocol": "cross_view"})
    assert cache_key(cfg, FramePretrainConfig()) != cache_key(other, FramePretrainConfig())
    assert cache_key(cfg, FramePretrainConfig()) != cache_key(cfg, FramePretrainConfig(epochs=3))


def test_pretraining_writes_a_spatial_init_the_model_loads_and_is_cached(synthetic_cfg: DataConfig, tmp_path) -> None:
    flat = flatten(from_flat(_flat(synthetic_cfg, **{"model.position_embedding": "absolute"})))
    messages: list[str] = []
    resolved = resolve_spatial_init({**flat, "model.spatial_init": "pose_pretrain:2"}, tmp_path, log=messages.append)
    path = Path(resolved["model.spatial_init"])
    assert path.is_file() and path.parent == tmp_path / "pretrain"
    assert sum("epoch" in m for m in messages) == 2 and not list(path.parent.glob("*.tmp"))
    saved = torch.load(path, weights_only=True)
    assert saved["meta"]["pretrain"]["epochs"] == 2 and np.isfinite(saved["meta"]["val_mse"])
    # The trial's model starts its spatial encoder from the file.
    model = build_model(from_flat(resolved).model)
    torch.testing.assert_close(model.spatial_cls.token, saved["model"]["cls.token"])
    torch.testing.assert_close(model.spatial_blocks[1].attn.qkv.weight, saved["model"]["blocks.1.attn.qkv.weight"])
    # A second trial with the same data and encoder reuses the file.
    again: list[str] = []
    second = resolve_spatial_init({**flat, "model.spatial_init": "pose_pretrain:2"}, tmp_path, log=again.append)
    assert second == resolved
    assert again == [f"[actrec] pretrain-frames: using the cached {path}"]
    # Configs without the value come back unchanged.
    assert resolve_spatial_init(flat, tmp_path) == flat


def test_drivers_sharing_a_storage_path_pretrain_an_encoder_once(synthetic_cfg: DataConfig, tmp_path, monkeypatch):
    """Two sweeps started together on one storage path: the second waits for the first's file instead of
    pretraining the same encoder again."""
    from actrec.train import frame_pretrain

    flat = flatten(from_flat(_flat(synthetic_cfg, **{"model.position_embedding": "absolute"})))
    flat["model.spatial_init"] = "pose_pretrain:1"
    real, calls, waiting = frame_pretrain.pretrain_frames, [], threading.Event()

    def first_waits_for_the_second(*args, **kwargs):
        calls.append(args[1])
        assert waiting.wait(60), "the second driver never waited"
        return real(*args, **kwargs)

    monkeypatch.setattr(frame_pretrain, "pretrain_frames", first_waits_for_the_second)
    results, second_log = {}, []

    def second_logs(message: str) -> None:
        second_log.append(message)
        if "waiting" in message:
            waiting.set()

    first = threading.Thread(target=lambda: results.setdefault(1, resolve_spatial_init(flat, tmp_path, log=print)))
    first.start()
    while not calls:  # the first driver holds the lock and pretrains
        time.sleep(0.05)
    results[2] = resolve_spatial_init(flat, tmp_path, log=second_logs)
    first.join(120)
    path = Path(results[2]["model.spatial_init"])
    assert results[1] == results[2] and calls == [path] and path.is_file()
    assert second_log == [
        f"[actrec] pretrain-frames: another driver is writing {path}; waiting for it",
        f"[actrec] pretrain-frames: using the cached {path}",
    ]


def test_regression_learns_on_a_fixed_frame_set(synthetic_cfg: DataConfig, tmp_path: Path) -> None:
    cfg = from_flat(_flat(synthetic_cfg, **{"model.position_embedding": "absolute"}))
    pretrain_frames(cfg, tmp_path / "f.pt", FramePretrainConfig(epochs=80, batch_size=16), log=lambda _: None)
    meta = torch.load(tmp_path / "f.pt", weights_only=True)["meta"]
    # z-scored targets: predicting each joint's mean position scores 1.0 on the training frames.
    assert meta["train_mse"] < 0.8


def test_cli_writes_the_file_and_names_bad_models(synthetic_cfg: DataConfig, tmp_path: Path, capsys) -> None:
    from actrec.cli import main

    overrides = [f"{k}={v}" for k, v in _flat(synthetic_cfg).items() if not isinstance(v, tuple)]
    out = tmp_path / "cli.pt"
    assert main(["pretrain-frames", "--out", str(out), "--epochs", "1", *overrides]) == 0
    assert out.is_file() and f"model.spatial_init={out}" in capsys.readouterr().out
    data = [o for o in overrides if o.startswith("data.")]
    assert main(["pretrain-frames", "--out", str(out), *data, "model.name=ctn"]) == 2
    assert "model.name='ctn' has no per-frame ViT encoder" in capsys.readouterr().err


def test_the_driver_step_replaces_pose_pretrain_requests_only(monkeypatch) -> None:
    import argparse

    from actrec.train import frame_pretrain

    calls = []

    def fake_resolve(flat, storage):
        calls.append(flat["data.protocol"])
        return {**flat, "model.spatial_init": f"/cache/{flat['data.protocol']}.pt"}

    monkeypatch.setattr(frame_pretrain, "resolve_spatial_init", fake_resolve)
    step = frame_pretrain.pose_pretrain_step
    base = {"model.name": "m"}
    trials = [{"data.protocol": "cs", "model.spatial_init": "pose_pretrain"}, {"data.protocol": "cv"}]
    resolved = [{**base, **t} for t in trials]
    grid = argparse.Namespace(search="grid", storage_path="/s")
    assert step(grid, base, trials, resolved) == (
        base,
        [{**trials[0], "model.spatial_init": "/cache/cs.pt"}, trials[1]],
    )
    assert calls == ["cs"]  # only the trial that asked for it
    optuna = argparse.Namespace(search="optuna", storage_path="/s")
    new_base, new_trials = step(optuna, base, trials, resolved)  # one search space: pretrained once, for every trial
    assert new_base["model.spatial_init"] == "/cache/cs.pt" and all("model.spatial_init" not in t for t in new_trials)
    plain = [{**base, "data.protocol": "cs"}]
    assert step(grid, base, [{"data.protocol": "cs"}], plain) == (base, [{"data.protocol": "cs"}])
