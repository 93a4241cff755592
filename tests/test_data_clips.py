"""actrec.data.clips / pipeline.decode_batch: member bytes -> views, for every member type and option (no Ray)."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_data_prepare import ToyRGBD, make_tree, quiet

from actrec.data.clips import load_views, member_for
from actrec.data.config import DataConfig
from actrec.data.pipeline import decode_batch, load_clip, read_shard_samples
from actrec.data.prepare import prepare_dataset
from actrec.data.shards import iter_shard_members, load_index
from actrec.data.transforms import clip_transform
from actrec.train.loop import view_scores


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = make_tree(tmp_path_factory.mktemp("toy_src"))
    out = tmp_path_factory.mktemp("toy") / "prepared"
    prepare_dataset(ToyRGBD(root=tree, bad=False), out, samples_per_shard=8, progress=quiet)
    return out


def toy_cfg(root: Path, **overrides) -> DataConfig:
    base = dict(dataset="ntu_rgbd_60", root=str(root), num_frames=4, resize=24, crop_size=16, decode_batch_size=4)
    return DataConfig(**{**base, **overrides})


def toy_sample(root: Path, key: str = "s1") -> dict[str, bytes]:
    return dict(iter_shard_members(root / "shard-000000.tar"))[key]


def synthetic_sample(cfg: DataConfig) -> tuple[bytes, tuple[int, int]]:
    index = load_index(cfg.root)
    first = index["shards"][0]
    key, members = next(iter(iter_shard_members(Path(cfg.root) / first["path"])))
    return members[f"{cfg.modality}.mp4"], tuple(index["frame_size"])


def test_member_for_reads_the_index_and_names_missing_modalities(toy_root: Path) -> None:
    index = load_index(toy_root)
    assert member_for(index, "depth") == "depth16.tar" and member_for({"dataset": "x"}, "rgb") == "rgb.mp4"
    with pytest.raises(ValueError, match="no 'depth' member"):
        member_for({"dataset": "ucf101", "modalities": ["rgb"], "members": {"rgb": "rgb.mp4"}}, "depth")


def test_rgb_eval_views_are_clips_times_crops_and_deterministic(synthetic_cfg: DataConfig) -> None:
    cfg = dataclasses.replace(synthetic_cfg, test_clips=2, test_crops=3)
    data, size = synthetic_sample(cfg)
    views = load_views(data, cfg, member="rgb.mp4", training=False, rng=None, frame_size=size)
    assert views.shape == (6, 3, cfg.num_frames, cfg.crop_size, cfg.crop_size) and views.dtype == np.float32
    assert np.array_equal(views, load_views(data, cfg, member="rgb.mp4", training=False, rng=None, frame_size=size))
    assert not np.array_equal(views[0], views[3])  # second clip samples other frames
    assert not np.array_equal(views[0], views[2])  # first and last crop differ... unless the frame is square
    single = load_clip(data, synthetic_cfg, training=False, rng=None, frame_size=size)
    assert single.shape == (3, cfg.num_frames, cfg.crop_size, cfg.crop_size)


def test_replicate_depth_matches_the_previous_depth_transform(synthetic_cfg: DataConfig) -> None:
    # Reproducibility of results computed before depth modes existed: same numbers for 8-bit depth videos.
    cfg = dataclasses.replace(synthetic_cfg, modality="depth")
    data, size = synthetic_sample(cfg)
    new = load_clip(data, cfg, training=False, rng=None, frame_size=size)
    from actrec.data.decode import read_clip
    from actrec.data.sampling import segment_indices

    frames = read_clip(
        data, lambda n: segment_indices(n, cfg.num_frames, training=False), width=cfg.resize, height=cfg.resize
    )
    old = clip_transform(frames, modality="depth", crop_size=cfg.crop_size, mean=cfg.mean, std=cfg.std, training=False)
    assert np.allclose(new, old, atol=1e-5)


@pytest.mark.parametrize("mode", ["replicate", "jet", "normals"])
def test_sixteen_bit_depth_views_in_every_mode(toy_root: Path, mode: str) -> None:
    cfg = toy_cfg(toy_root, modality="depth", depth_mode=mode, depth_near_mm=500, depth_far_mm=4500)
    sample = toy_sample(toy_root)
    meta = json.loads(sample["json"])
    views = load_views(
        sample["depth16.tar"], cfg, member="depth16.tar", training=False, rng=None, frame_size=meta["depth_size"]
    )
    assert views.shape == (1, 3, 4, 16, 16) and np.isfinite(views).all()
    unit = views * np.asarray(cfg.std)[:, None, None, None] + np.asarray(cfg.mean)[:, None, None, None]
    assert unit.min() >= -1e-5 and unit.max() <= 1 + 1e-5
    if mode == "replicate":
        assert np.allclose(unit[0, 0], unit[0, 1]) and np.allclose(unit[0, 0], unit[0, 2])
        blob = unit[0, 0][unit[0, 0] > 0]
        assert blob.size and (blob < 1).all()  # 1000-4000 mm maps strictly inside (0, 1)


def test_pose_heatmaps_follow_the_crop(toy_root: Path) -> None:
    cfg = toy_cfg(toy_root, modality="pose", resize=48, crop_size=48, pose_sigma=1.5)
    sample = toy_sample(toy_root)
    meta = json.loads(sample["json"])
    views = load_views(
        sample["pose.npy"], cfg, member="pose.npy", training=False, rng=None, frame_size=meta["rgb_size"]
    )
    # Toy pose: joint 0 at (16, 8) conf 1, joint 1 at (24, 20) conf 0.5 in a 64 x 48 frame; resize 48 keeps the
    # scale, the centre 48 x 48 crop starts at x = 8.
    assert views.shape == (1, 2, 4, 48, 48)
    peak0 = np.unravel_index(views[0, 0, 0].argmax(), (48, 48))
    peak1 = np.unravel_index(views[0, 1, 0].argmax(), (48, 48))
    assert abs(peak0[0] - 8) <= 1 and abs(peak0[1] - 8) <= 1
    assert abs(peak1[0] - 20) <= 1 and abs(peak1[1] - 16) <= 1
    # Peaks scale with confidence (1.0 vs 0.5); below 1 only by the half-pixel offset of joint vs pixel centre.
    assert 0.85 < views[0, 0].max() <= 1.0
    assert views[0, 1].max() / views[0, 0].max() == pytest.approx(0.5, abs=0.02)


def test_training_augmentations_keep_the_contract(synthetic_cfg: DataConfig) -> None:
    cfg = dataclasses.replace(
        synthetic_cfg, train_crop="random_resized", flip_prob=0.5, rotation_deg=10.0, colour_jitter=0.4
    )
    data, size = synthetic_sample(cfg)
    rng = np.random.default_rng(0)
    clips = [load_clip(data, cfg, training=True, rng=rng, frame_size=size) for _ in range(3)]
    assert all(c.shape == (3, cfg.num_frames, cfg.crop_size, cfg.crop_size) and np.isfinite(c).all() for c in clips)
    assert not np.array_equal(clips[0], clips[1])


def test_decode_batch_counts_corrupt_members_as_invalid(toy_root: Path) -> None:
    cfg = toy_cfg(toy_root, test_clips=2)
    rows = list(
        read_shard_samples(
            {"path": str(toy_root / "shard-000000.tar"), "keys": ["s0", "s1"], "labels": [1, 2]},
            member="rgb.mp4",
            shuffle=False,
        )
    )
    assert [(r["height"], r["width"]) for r in rows] == [(48, 64), (48, 64)]
    batch = {k: np.array([r[k] for r in rows], dtype=object if k == "video_bytes" else None) for k in rows[0]}
    batch["video_bytes"][1] = b"\x00" * 100  # corrupt
    out = decode_batch(batch, cfg=cfg, member="rgb.mp4", training=False)
    assert out["video"].shape == (2, 2, 3, 4, 16, 16)
    assert out["valid"].tolist() == [True, False] and out["label"].tolist() == [1, -1]


def test_view_scores_average_softmax_over_views() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(5))
    video = torch.randn(2, 3, 3, 2, 4, 4)
    scores = view_scores(model, video)
    per_view = torch.softmax(model(video.flatten(0, 1)), dim=-1).view(2, 3, 5).mean(1)
    assert torch.allclose(scores, per_view) and torch.allclose(scores.sum(-1), torch.ones(2))
    assert torch.allclose(view_scores(model, video[:, 0]), torch.softmax(model(video[:, 0]), dim=-1))


def test_pose_modality_derives_model_input_channels(toy_root: Path) -> None:
    from actrec.config import from_flat

    cfg = from_flat({"data.dataset": "ntu_rgbd_60", "data.root": str(toy_root), "data.modality": "pose"})
    assert cfg.model.in_channels == 25
    limbs = from_flat(
        {"data.dataset": "ntu_rgbd_60", "data.root": "x", "data.modality": "pose", "data.pose_limbs": True}
    )
    assert limbs.model.in_channels == 24
    with pytest.raises(ValueError, match="needs a dataset with skeletons"):
        DataConfig(dataset="ucf101", root="x", modality="pose")
    assert io is not None


def _rows_and_floats(cfg: DataConfig, root: Path, members: tuple[str, ...]):
    """decode_batch's rows of the toy shard's two samples (evaluation views) and, for the same samples, the float32
    views the per-clip functions give (``encode=False``: normalised in the decode task, as before)."""
    from actrec.data.clips import load_modality_views
    from actrec.data.rgb_pose import load_rgb_pose_views

    row = {"path": str(root / "shard-000000.tar"), "keys": ["s0", "s1"], "labels": [1, 2]}
    samples = list(read_shard_samples(row, member=members if len(members) > 1 else members[0], shuffle=False))
    batch = {k: np.array([s[k] for s in samples], dtype=object if "bytes" in k else None) for k in samples[0]}
    rows = decode_batch(batch, cfg=cfg, member=members if len(members) > 1 else members[0], training=False)
    floats = []
    for s in samples:
        payloads = [s["video_bytes" if i == 0 else f"video_bytes_{i}"] for i in range(len(members))]
        sizes = [
            (s["height" if i == 0 else f"height_{i}"], s["width" if i == 0 else f"width_{i}"])
            for i in range(len(members))
        ]
        if cfg.modality == "rgb_pose":
            floats.append(
                load_rgb_pose_views(payloads, cfg, members=members, training=False, rng=None, frame_size=sizes[0])
            )
        else:
            views = load_modality_views(payloads, cfg, members=members, training=False, rng=None, frame_sizes=sizes)
            floats.append((views,))
    return rows, [np.stack([f[i] for f in floats]) for i in range(len(floats[0]))]


@pytest.mark.parametrize(
    "modality, exact",
    [("rgb", True), ("depth", False), ("rgbd", False)],
)
def test_rows_carry_uint8_that_the_worker_turns_into_the_float_inputs(toy_root: Path, modality, exact) -> None:
    """The pipeline's rows hold uint8, a quarter of float32's bytes; ``model_inputs`` on the worker gives what
    normalising in the decode task gave: bit for bit for 8-bit RGB, within the 1/510 rounding (over ``data.std``)
    for the toy's 16-bit depth and for pose heatmaps."""
    from actrec.data.clips import members_for
    from actrec.data.pipeline import MODEL_INPUTS, model_inputs

    cfg = toy_cfg(toy_root, modality=modality, test_clips=2)
    members = members_for(load_index(toy_root), modality)
    rows, floats = _rows_and_floats(cfg, toy_root, members)
    names = [name for name in MODEL_INPUTS if name in rows]
    assert len(names) == len(floats) == (2 if modality == "rgb_pose" else 1)
    converted = model_inputs(tuple(torch.from_numpy(rows[name]) for name in names), cfg)
    for name, got, want in zip(names, converted, floats, strict=True):
        assert rows[name].dtype == np.uint8 and rows[name].nbytes * 4 == want.astype(np.float32).nbytes
        assert got.dtype == torch.float32 and got.shape == want.shape
        image = name == "video" and modality != "pose"
        tolerance = 0.5 / 255 / (min(cfg.std) if image else 1.0) + 1e-6
        if exact:
            assert torch.equal(got, torch.from_numpy(want)), name
        else:
            assert float((got - torch.from_numpy(want)).abs().max()) <= tolerance, name
