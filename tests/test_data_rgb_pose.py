"""data.modality "rgb_pose" (EPAM-Net's two inputs): rows with ``video`` and ``pose`` from the rgb and pose members,
time-aligned frames, consistent flips, invalid rows, config checks, and a training step of the tiny ``epam_net``."""

from __future__ import annotations

import dataclasses
import io
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from actrec.config import flatten, from_flat
from actrec.data.clips import flip_joints, load_modality_views, members_for
from actrec.data.config import DataConfig
from actrec.data.pipeline import (
    build_dataset,
    count_samples,
    decode_shards,
    model_inputs,
    split_valid,
    split_valid_inputs,
)
from actrec.data.rgb_pose import load_rgb_pose_views, pose_rgb_indices, pose_volume, skeleton_box
from actrec.data.shards import clip_id, iter_shard_members, load_index, split_shards
from actrec.data.synth import encode_video
from actrec.models import build_model, tiny_overrides
from actrec.models.complexity import count_gflops
from actrec.train.loop import _evaluate, _train_epoch, view_scores

MEMBERS = ("rgb.mp4", "pose.npy")


def _rgb_pose(cfg: DataConfig, **overrides) -> DataConfig:
    """``cfg`` as data.modality "rgb_pose" (pose_volume_* resolved afresh from the 0 defaults)."""
    return dataclasses.replace(cfg, modality="rgb_pose", **overrides)


def _decode_split(cfg: DataConfig, split: str = "val", *, training: bool = False) -> dict[str, np.ndarray]:
    """Every row of one pass through the pipeline's per-shard function (what a Ray Data task runs), in index order
    at evaluation."""
    root = Path(cfg.root)
    index = load_index(root)
    shards = split_shards(index, cfg.protocol, split)
    rows = {
        "path": [str(root / shard["path"]) for shard in shards],
        "keys": [[s["key"] for s in shard["samples"]] for shard in shards],
        "labels": [[s["label"] for s in shard["samples"]] for shard in shards],
    }
    members = members_for(index, cfg.modality)
    batches = list(decode_shards(rows, cfg=cfg, member=members, training=training, frame_size=index["frame_size"]))
    return {name: np.concatenate([b[name] for b in batches]) for name in batches[0]}


def _first_sample(cfg: DataConfig) -> tuple[list[bytes], tuple[int, int]]:
    index = load_index(cfg.root)
    _, sample = next(iter(iter_shard_members(Path(cfg.root) / index["shards"][0]["path"])))
    return [sample[member] for member in MEMBERS], tuple(index["frame_size"])


# --- rows ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("training", [False, True])
def test_rows_carry_the_rgb_clip_and_the_pose_volume(synthetic_cfg: DataConfig, training: bool) -> None:
    cfg = _rgb_pose(synthetic_cfg)
    assert (cfg.pose_volume_frames, cfg.pose_volume_size) == (12, 6)  # 3 x num_frames, crop_size / 4
    assert cfg.input_shapes == {"video": (3, 4, 24, 24), "pose": (17, 12, 6, 6)} and cfg.input_channels == 3
    rows = _decode_split(cfg, "train" if training else "val", training=training)
    assert set(rows) == {"video", "pose", "label", "valid", "clip"}
    count = count_samples(cfg, "train" if training else "val")
    # uint8 rows (a quarter of float32's bytes); the training worker makes the model's float32 inputs.
    assert rows["video"].shape == (count, 3, 4, 24, 24) and rows["video"].dtype == np.uint8
    assert rows["pose"].shape == (count, 17, 12, 6, 6) and rows["pose"].dtype == np.uint8
    assert rows["valid"].all() and ((rows["label"] >= 0) & (rows["label"] < 8)).all()
    video, pose = model_inputs((torch.from_numpy(rows["video"]), torch.from_numpy(rows["pose"])), cfg)
    # RGB normalised as for "rgb"; heatmaps in [0, 1], every clip with confident joints somewhere.
    assert video.min() >= -2.01 and video.max() <= 2.45 and video.abs().sum() > 0
    assert pose.min() >= 0 and pose.max() <= 1
    assert (pose.reshape(count, -1).max(dim=1).values > 0.5).all()
    if not training:  # what the per-clip function gives in float32: RGB exactly, heatmaps within the 1/510 rounding
        index = load_index(cfg.root)
        shard = split_shards(index, cfg.protocol, "val")[0]
        key, sample = next(iter(iter_shard_members(Path(cfg.root) / shard["path"])))
        want_video, want_pose = load_rgb_pose_views(
            [sample[m] for m in MEMBERS], cfg, members=MEMBERS, training=False, rng=None, frame_size=index["frame_size"]
        )
        [row] = np.flatnonzero(rows["clip"] == clip_id(key))
        assert torch.equal(video[row], torch.from_numpy(want_video[0]))
        assert float((pose[row] - torch.from_numpy(want_pose[0])).abs().max()) <= 0.5 / 255 + 1e-6


def test_ray_data_streams_carry_the_pose_column(synthetic_cfg: DataConfig, ray_session: None) -> None:
    cfg = _rgb_pose(synthetic_cfg)
    for split, training in (("train", True), ("val", False)):
        seen = 0
        for batch in build_dataset(cfg, split, training=training).iter_torch_batches(batch_size=6):
            assert set(batch) == {"video", "pose", "label", "valid", "clip"} and bool(batch["valid"].all())
            assert batch["video"].shape[1:] == (3, 4, 24, 24) and batch["pose"].shape[1:] == (17, 12, 6, 6)
            assert batch["pose"].dtype == torch.uint8 and int(batch["pose"].max()) > 127
            seen += len(batch["label"])
        assert seen == count_samples(cfg, split)


def test_evaluation_views_are_test_clips_and_view_scores_average_both_inputs(synthetic_cfg: DataConfig) -> None:
    cfg = _rgb_pose(synthetic_cfg, test_clips=2)
    rows = _decode_split(cfg)
    count = count_samples(cfg, "val")
    assert rows["video"].shape == (count, 2, 3, 4, 24, 24) and rows["pose"].shape == (count, 2, 17, 12, 6, 6)
    assert not np.array_equal(rows["pose"][:, 0], rows["pose"][:, 1])  # two temporal views, other frames
    assert np.array_equal(rows["pose"], _decode_split(cfg)["pose"])  # deterministic
    flat = {f"data.{k}": v for k, v in vars(cfg).items()} | {"model.name": "epam_net", "model.size": "tiny"}
    torch.manual_seed(0)
    model = build_model(from_flat(flat).model).eval()
    video, pose = model_inputs((torch.from_numpy(rows["video"][:3]), torch.from_numpy(rows["pose"][:3])), cfg)
    with torch.no_grad():
        scores = view_scores(model, video, pose)
        per_view = torch.stack([model.class_scores(model(video[:, v], pose[:, v])) for v in range(2)]).mean(0)
    torch.testing.assert_close(scores, per_view)


def test_rgb_frames_are_every_rth_pose_frame() -> None:
    # 24 frames whose brightness encodes the frame index; joint 0 moves 1 px per frame, the others fix the box.
    frames, size = 24, 32
    video = np.stack([np.full((size, size, 3), 20 + 9 * f, dtype=np.uint8) for f in range(frames)])
    joints = np.zeros((frames, 17, 3), dtype=np.float32)
    joints[:, 1:, 0] = np.linspace(6, 26, 16)
    joints[:, 1:, 1] = np.linspace(26, 6, 16)
    joints[:, 0] = np.stack([6 + 0.8 * np.arange(frames), np.full(frames, 16), np.ones(frames)], axis=1)
    joints[..., 2] = 1.0
    pose_bytes = io.BytesIO()
    np.save(pose_bytes, joints)
    cfg = DataConfig(
        modality="rgb_pose", num_frames=4, resize=size, crop_size=16, pose_volume_size=16, synth_frames=frames
    )
    assert cfg.pose_volume_frames == 12
    rgb, pose = load_rgb_pose_views(
        [encode_video(video), pose_bytes.getvalue()],
        cfg,
        members=MEMBERS,
        training=False,
        rng=None,
        frame_size=(size, size),
    )
    pose_idx, rgb_idx = pose_rgb_indices(frames, pose_frames=12, rgb_frames=4, training=False)
    assert pose_idx.tolist() == list(range(1, 24, 2)) and rgb_idx.tolist() == [1, 7, 13, 19]  # pose frames 0, 3, 6, 9
    box = skeleton_box(joints, (size, size))
    expected = pose_volume(joints, box, size=16, sigma=cfg.pose_volume_sigma, frame_indices=pose_idx)
    np.testing.assert_allclose(pose[0], expected, atol=1e-6)
    brightness = (rgb[0] * 0.225 + 0.45).mean(axis=(0, 2, 3)) * 255  # per RGB frame, denormalised
    np.testing.assert_allclose(brightness, 20 + 9 * rgb_idx, atol=3)  # 9 levels apart: one frame off fails


def test_flip_mirrors_the_crop_and_the_heatmaps_and_swaps_left_and_right(synthetic_cfg: DataConfig) -> None:
    data, size = _first_sample(synthetic_cfg)
    swap = flip_joints(np.repeat(np.arange(17.0)[:, None], 3, axis=1))[:, 0].astype(int)  # left <-> right joints
    assert swap[9] == 10 and swap[0] == 0
    for seed in range(3):
        views = [
            load_rgb_pose_views(
                data,
                _rgb_pose(synthetic_cfg, flip_prob=flip_prob),
                members=MEMBERS,
                training=True,
                rng=np.random.default_rng(seed),  # the same frames for both (the flip is drawn after them)
                frame_size=size,
            )
            for flip_prob in (0.0, 1.0)
        ]
        (rgb, pose), (rgb_flipped, pose_flipped) = views
        assert not np.array_equal(rgb, rgb_flipped)
        np.testing.assert_array_equal(rgb_flipped, rgb[..., ::-1])
        np.testing.assert_allclose(pose_flipped, pose[:, swap, ..., ::-1], atol=1e-5)


# --- invalid rows -------------------------------------------------------------------------------------------------


def _rewrite_shard(shard: Path, replace: dict[str, bytes | None]) -> None:
    """Rewrite a tar with members replaced (bytes) or dropped (None), the others unchanged and in order."""
    with tarfile.open(shard) as tar:
        contents = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    assert set(replace) <= {m.name for m, _ in contents}
    with tarfile.open(shard, "w") as tar:
        for member, content in contents:
            if member.name in replace:
                if replace[member.name] is None:
                    continue
                content = replace[member.name]
                member.size = len(content)
            tar.addfile(member, io.BytesIO(content))


def test_missing_or_corrupt_pose_member_gives_counted_invalid_rows(synthetic_cfg: DataConfig, tmp_path: Path) -> None:
    root = tmp_path / "damaged"
    shutil.copytree(synthetic_cfg.root, root)
    cfg = _rgb_pose(synthetic_cfg, root=str(root))
    shard = next(s for s in split_shards(load_index(root), cfg.protocol, "val") if len(s["samples"]) >= 2)
    first, second = (s["key"] for s in shard["samples"][:2])
    garbled = np.random.default_rng(0).bytes(300)
    _rewrite_shard(root / shard["path"], {f"{first}.pose.npy": None, f"{second}.pose.npy": garbled})
    rows = _decode_split(cfg)
    assert len(rows["valid"]) == count_samples(cfg, "val") and int((~rows["valid"]).sum()) == 2
    invalid = ~rows["valid"]
    assert (rows["label"][invalid] == -1).all() and not rows["video"][invalid].any() and not rows["pose"][invalid].any()
    assert _decode_split(dataclasses.replace(synthetic_cfg, root=str(root)))["valid"].all()  # the rgb members intact
    (video, pose), label, dropped = split_valid_inputs({k: torch.from_numpy(v) for k, v in rows.items()})
    assert dropped == 2 and len(video) == len(pose) == len(label) == len(invalid) - 2 and (label >= 0).all()
    video_only, _, dropped = split_valid({k: torch.from_numpy(v) for k, v in rows.items()})
    assert dropped == 2 and torch.equal(video_only, video)


# --- config -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"dataset": "ucf101", "root": "x"}, "data.modality='rgb_pose' needs a dataset with skeletons"),
        ({"num_frames": 4, "pose_volume_frames": 10}, "data.pose_volume_frames"),
        ({"pose_volume_size": -1}, "data.pose_volume_size"),
        ({"pose_volume_sigma": 0.0}, "data.pose_volume_sigma"),
        ({"test_crops": 3}, "data.test_crops"),
        ({"sampling": "uniform"}, "data.sampling"),
        ({"rotation_deg": 10.0}, "data.rotation_deg"),
        ({"train_crop": "random_resized"}, "data.train_crop"),
    ],
)
def test_data_config_errors_name_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        DataConfig(modality="rgb_pose", **overrides)


def test_pose_volume_defaults_follow_the_paper_ratios_and_leave_other_modalities_alone() -> None:
    paper = DataConfig(modality="rgb_pose", num_frames=16, synth_frames=16, resize=256, crop_size=224)
    assert (paper.pose_volume_frames, paper.pose_volume_size, paper.pose_volume_sigma) == (48, 56, 0.6)
    assert paper.input_shapes["pose"] == (17, 48, 56, 56)
    explicit = DataConfig(modality="rgb_pose", num_frames=4, pose_volume_frames=8, pose_volume_size=10)
    assert (explicit.pose_volume_frames, explicit.pose_volume_size) == (8, 10)
    assert dataclasses.replace(explicit) == explicit
    rgb = DataConfig()
    assert (rgb.pose_volume_frames, rgb.pose_volume_size) == (0, 0) and set(rgb.input_shapes) == {"video"}
    ntu = DataConfig(dataset="ntu_rgbd_60", root="x", modality="rgb_pose", pose_limbs=True)
    assert (ntu.pose_channels, ntu.input_channels, ntu.streams) == (24, 3, ("rgb", "pose"))
    assert members_for({"dataset": "x"}, "rgb_pose") == MEMBERS
    with pytest.raises(ValueError, match=r"data\.modality='rgb_pose' reads the rgb and the pose member"):
        members_for({"dataset": "ucf101", "modalities": ["rgb"], "members": {"rgb": "rgb.mp4"}}, "rgb_pose")
    with pytest.raises(ValueError, match="load_rgb_pose_views"):
        load_modality_views([b"", b""], explicit, members=MEMBERS, training=False, rng=None, frame_sizes=[(1, 1)] * 2)


def _epam_flat(**extra) -> dict:
    return {"model.name": "epam_net", "model.size": "tiny", "data.modality": "rgb_pose", "data.num_frames": 4, **extra}


def test_experiment_config_pairs_epam_net_with_rgb_pose() -> None:
    cfg = from_flat(_epam_flat())
    assert cfg.model.pose_channels == 17 and cfg.model.rgb_frames == 4
    assert cfg.model.rgb_overrides == tiny_overrides("epam_net")["rgb_overrides"]
    assert from_flat(flatten(cfg)) == cfg
    ntu = {"data.dataset": "ntu_rgbd_60", "data.root": "x", "data.modality": "rgb_pose", "data.num_frames": 16}
    joints = from_flat(ntu | {"model.name": "epam_net"}).model
    assert joints.pose_channels == 25 and joints.num_classes == 60
    limbs = from_flat(ntu | {"model.name": "epam_net", "data.pose_limbs": True}).model
    assert limbs.pose_channels == 24 and build_model(limbs).pose.config.in_channels == 24


@pytest.mark.parametrize(
    ("flat", "field"),
    [
        ({"model.name": "epam_net", "data.modality": "rgb"}, "data.modality"),
        ({"model.name": "mfst_base", "data.modality": "rgb_pose"}, "data.modality"),
        (_epam_flat(**{"model.pose_channels": 25}), "model.pose_channels"),
        (_epam_flat(**{"data.num_frames": 8}), "data.num_frames"),
        (_epam_flat(**{"train.mixup_alpha": 0.2}), "train.mixup_alpha"),
        (_epam_flat(**{"train.cutmix_alpha": 1.0}), "train.cutmix_alpha"),
    ],
)
def test_experiment_config_errors_name_the_fields(flat: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        from_flat(flat)


# --- training loop ------------------------------------------------------------------------------------------------


class _Shard:
    """Stands in for a Ray Data shard: the decoded rows as torch batches."""

    def __init__(self, rows: dict[str, np.ndarray], batch_size: int) -> None:
        self.rows, self.batch_size = rows, batch_size

    def iter_torch_batches(self, **kwargs):
        for start in range(0, len(self.rows["label"]), self.batch_size):
            yield {k: torch.from_numpy(v[start : start + self.batch_size]) for k, v in self.rows.items()}


def test_tiny_epam_net_trains_and_evaluates_through_the_loop(synthetic_cfg: DataConfig) -> None:
    data = _rgb_pose(synthetic_cfg, flip_prob=0.5)
    flat = {f"data.{k}": v for k, v in vars(data).items()}
    cfg = from_flat(flat | _epam_flat(**{"train.epochs": 2, "train.batch_size": 8, "optim.warmup_epochs": 0.0}))
    torch.manual_seed(0)
    model = build_model(cfg.model)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    train = _decode_split(cfg.data, "train", training=True)
    train["valid"][0] = False  # an unreadable clip is dropped and counted
    stats = _train_epoch(model, optimizer, _Shard(train, 8), cfg, 0, 2, torch.device("cpu"), torch.Generator())
    assert stats["train_seen"] == len(train["label"]) - 1 and stats["train_skipped"] == 1
    assert np.isfinite(stats["train_loss_sum"]) and stats["train_loss_sum"] > 0
    assert {"train_ce_rgb_sum", "train_ce_pose_sum"} <= set(stats)  # EPAM-Net's own loss, Eq. (5)
    # Both streams and the pose-driven attention were updated.
    for prefix in ("rgb.", "pose.", "attention."):
        assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters() if n.startswith(prefix)), prefix
    val = _decode_split(cfg.data)
    val_stats, confusion, _ = _evaluate(model, _Shard(val, 8), cfg, torch.device("cpu"))
    assert val_stats["val_seen"] == len(val["label"]) == int(confusion.sum()) and val_stats["val_skipped"] == 0


def test_gflops_count_both_inputs_as_the_loop_passes_them(synthetic_cfg: DataConfig) -> None:
    cfg = from_flat({f"data.{k}": v for k, v in vars(_rgb_pose(synthetic_cfg)).items()} | _epam_flat())
    model = build_model(cfg.model)
    rgb_shape, pose_shape = ((1, *shape) for shape in cfg.data.input_shapes.values())  # as train_loop_per_worker
    total = count_gflops(model, rgb_shape, pose_shape)
    streams = count_gflops(model.rgb, rgb_shape) + count_gflops(model.pose, pose_shape)
    assert total >= streams > 0 and total == pytest.approx(streams, rel=0.05)  # plus the attention's few FLOPs
