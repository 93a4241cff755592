"""Decode, TSN sampling, transforms, and the Ray Data pipeline (contract rows, corruption handling, epochs)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from test_data_prepare import ToyRGBD, make_tree, quiet

from actrec.data.clips import load_modality_views, load_views, members_for
from actrec.data.config import DataConfig
from actrec.data.decode import CorruptVideoError, decode_frames, decord_mangles_width, num_frames
from actrec.data.pipeline import (
    build_dataset,
    count_samples,
    decode_shards,
    decoded_size,
    model_inputs,
    num_classes,
    read_shard_samples,
    split_valid,
)
from actrec.data.prepare import prepare_dataset
from actrec.data.sampling import segment_indices
from actrec.data.shards import iter_shard_members, load_index, split_shards
from actrec.data.synth import encode_video
from actrec.data.transforms import centre_crop, clip_transform, depth_to_three_channels, normalise, random_crop


def _gradient_video(frames: int = 6, size: int = 32) -> tuple[np.ndarray, bytes]:
    """Frames whose brightness encodes the frame index (smooth, so H.264 keeps it)."""
    video = np.zeros((frames, size, size, 3), dtype=np.uint8)
    for f in range(frames):
        video[f] = 20 + 35 * f
    return video, encode_video(video)


# --- sampling -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, T", [(16, 8), (17, 8), (100, 7), (8, 8), (5, 8), (1, 4)])
def test_segment_indices_one_per_segment_sorted(n: int, T: int) -> None:
    rng = np.random.default_rng(0)
    for training in (True, False):
        for _ in range(20):
            idx = segment_indices(n, T, training=training, rng=rng)
            assert idx.shape == (T,) and idx.dtype == np.int64
            assert np.all(np.diff(idx) >= 0) and idx.min() >= 0 and idx.max() <= n - 1
            for i, j in enumerate(idx):  # index i lies in segment i = [i n / T, (i + 1) n / T)
                assert np.floor(i * n / T) <= j <= max(np.ceil((i + 1) * n / T) - 1, np.floor(i * n / T))


def test_segment_indices_centres_at_eval_and_random_in_training() -> None:
    assert segment_indices(16, 8, training=False).tolist() == [1, 3, 5, 7, 9, 11, 13, 15]
    assert segment_indices(8, 4, training=False).tolist() == [1, 3, 5, 7]
    assert segment_indices(3, 6, training=False).tolist() == [0, 0, 1, 1, 2, 2]  # short video repeats frames
    rng = np.random.default_rng(0)
    draws = {tuple(segment_indices(16, 8, training=True, rng=rng)) for _ in range(50)}
    assert len(draws) > 10
    with pytest.raises(ValueError, match="rng"):
        segment_indices(16, 8, training=True)
    with pytest.raises(ValueError, match="num_video_frames"):
        segment_indices(0, 8, training=False)


# --- transforms ---------------------------------------------------------------------------------------------------


def test_crops_take_one_window_for_the_whole_clip() -> None:
    frames = np.arange(3 * 10 * 12 * 3, dtype=np.int64).reshape(3, 10, 12, 3)
    assert np.array_equal(centre_crop(frames, 6), frames[:, 2:8, 3:9])
    rng = np.random.default_rng(0)
    offsets = set()
    for _ in range(50):
        crop = random_crop(frames, 6, rng)
        top, left = np.argwhere(frames[0, :, :, 0] == crop[0, 0, 0, 0])[0]
        assert np.array_equal(crop, frames[:, top : top + 6, left : left + 6])
        offsets.add((int(top), int(left)))
    assert len(offsets) > 5 and all(0 <= t <= 4 and 0 <= left <= 6 for t, left in offsets)
    with pytest.raises(ValueError, match="crop size"):
        centre_crop(frames, 11)


def test_normalise_depth_replication_and_layout() -> None:
    frames = np.zeros((4, 8, 8, 3), dtype=np.uint8)
    frames[..., 0], frames[..., 1], frames[..., 2] = 255, 0, 51
    out = normalise(frames, (0.5, 0.0, 0.2), (0.5, 1.0, 0.1))
    assert out.shape == (3, 4, 8, 8) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0, 0, 0], [1.0, 0.0, 0.0], atol=1e-6)
    depth = depth_to_three_channels(frames)
    assert np.all(depth == 255)  # channel 0 replicated
    clip = clip_transform(frames, modality="depth", crop_size=6, mean=(0.5,) * 3, std=(0.5,) * 3, training=False)
    assert clip.shape == (3, 4, 6, 6) and clip.dtype == np.float32 and np.allclose(clip, 1.0)


# --- decode -------------------------------------------------------------------------------------------------------


def test_decode_picks_the_requested_frames() -> None:
    video, data = _gradient_video()
    assert num_frames(data) == 6
    frames = decode_frames(data, [5, 0, 2, 2], width=32, height=32)
    assert frames.shape == (4, 32, 32, 3) and frames.dtype == np.uint8
    np.testing.assert_allclose(
        frames.reshape(4, -1).mean(axis=1), video[[5, 0, 2, 2]].reshape(4, -1).mean(axis=1), atol=3
    )


@pytest.mark.parametrize("width", [16, 24, 48])
def test_decode_handles_widths_decord_mangles(width: int) -> None:
    assert decord_mangles_width(width) and not decord_mangles_width(32) and not decord_mangles_width(40)
    video, data = _gradient_video(size=64)
    frames = decode_frames(data, [1, 4], width=width, height=width // 2)
    assert frames.shape == (2, width // 2, width, 3)
    np.testing.assert_allclose(frames.reshape(2, -1).mean(axis=1), [55, 160], atol=3)


def test_decode_rejects_corrupt_bytes() -> None:
    _, data = _gradient_video()
    for bad in (b"", b"\x00" * 64, np.random.default_rng(0).bytes(4000), data[: len(data) // 2]):
        with pytest.raises(CorruptVideoError):
            decode_frames(bad, [0], width=32, height=32)
        with pytest.raises(CorruptVideoError):
            num_frames(bad)
    assert issubclass(CorruptVideoError, ValueError)


# --- Ray Data pipeline --------------------------------------------------------------------------------------------


def _rows(cfg: DataConfig, split: str, *, training: bool) -> list[tuple[bytes, int, bool]]:
    """All rows of one pass, as (sha1 of the clip, label, valid), sorted (row order is not deterministic)."""
    rows = []
    for batch in build_dataset(cfg, split, training=training).iter_torch_batches(batch_size=5):
        for video, label, valid in zip(batch["video"], batch["label"], batch["valid"], strict=True):
            rows.append((hashlib.sha1(video.numpy().tobytes()).digest(), int(label), bool(valid)))
    return sorted(rows)


def test_index_helpers(synthetic_cfg: DataConfig) -> None:
    assert num_classes(synthetic_cfg) == 8
    assert count_samples(synthetic_cfg, "train") == count_samples(synthetic_cfg, "val") == 16  # 1 of 2 subjects
    assert count_samples(dataclasses.replace(synthetic_cfg, protocol="cross_view"), "val") == 16
    assert decoded_size((32, 32), 40) == (40, 40) and decoded_size((240, 320), 40) == (53, 40)


@pytest.mark.parametrize(("modality", "channels"), [("rgb", 3), ("depth", 3), ("rgbd", 6)])
def test_batches_follow_the_contract(
    synthetic_cfg: DataConfig, ray_session: None, modality: str, channels: int
) -> None:
    cfg = dataclasses.replace(synthetic_cfg, modality=modality)
    assert cfg.input_channels == channels
    for split, training in (("train", True), ("val", False)):
        seen = 0
        for batch in build_dataset(cfg, split, training=training).iter_torch_batches(batch_size=6):
            assert set(batch) == {"video", "label", "valid", "clip"}
            # uint8 through the object store (a quarter of float32's bytes); the worker normalises.
            assert batch["video"].dtype == torch.uint8 and batch["video"].shape[1:] == (channels, 4, 24, 24)
            assert batch["label"].dtype == torch.int64 and batch["valid"].dtype == torch.bool
            assert bool(batch["valid"].all())
            assert int(batch["label"].min()) >= 0 and int(batch["label"].max()) < 8
            (video,) = model_inputs((batch["video"],), cfg)
            # Normalised, not all-zero: (pixel / 255 - 0.45) / 0.225 spans roughly [-2, 2.4].
            assert video.dtype == torch.float32 and video.shape == batch["video"].shape
            assert video.abs().sum() > 0 and video.min() >= -2.01 and video.max() <= 2.45
            if modality in ("depth", "rgbd"):  # replicated depth: the last three channels are equal
                assert torch.equal(video[:, -3], video[:, -2]) and torch.equal(video[:, -3], video[:, -1])
            if modality == "rgbd":  # the first three are RGB: colour, not replicated grey
                assert not torch.equal(video[:, 0], video[:, 2])
            seen += len(batch["label"])
        assert seen == count_samples(cfg, split)


def test_training_resamples_every_epoch_and_eval_is_repeatable(synthetic_cfg: DataConfig, ray_session: None) -> None:
    first, second = _rows(synthetic_cfg, "val", training=False), _rows(synthetic_cfg, "val", training=False)
    assert first == second and len(first) == 16
    epoch1, epoch2 = _rows(synthetic_cfg, "train", training=True), _rows(synthetic_cfg, "train", training=True)
    assert sorted(label for _, label, _ in epoch1) == sorted(label for _, label, _ in epoch2)
    assert len({h for h, _, _ in epoch1} & {h for h, _, _ in epoch2}) < len(epoch1)  # new offsets/crops
    assert epoch1 != epoch2


def test_corrupt_and_truncated_members_become_invalid_rows(
    synthetic_cfg: DataConfig, ray_session: None, tmp_path: Path
) -> None:
    root = tmp_path / "damaged"
    shutil.copytree(synthetic_cfg.root, root)
    cfg = dataclasses.replace(synthetic_cfg, root=str(root))
    val = split_shards(load_index(root), cfg.protocol, "val")
    # 1) Garble the rgb member of the first val sample of one shard (tar structure intact).
    garbled_shard, garbled_key = root / val[0]["path"], val[0]["samples"][0]["key"]
    _rewrite_member(garbled_shard, f"{garbled_key}.rgb.mp4", np.random.default_rng(0).bytes(3000))
    # 2) Truncate another shard in the middle of its second val sample's rgb data: that sample and all val
    #    samples after it in the shard are lost.
    other = next(shard for shard in val[1:] if len(shard["samples"]) >= 2)
    truncated = root / other["path"]
    with tarfile.open(truncated) as tar:
        members = tar.getmembers()
    val_keys = [s["key"] for s in other["samples"]]
    cut_member = next(m for m in members if m.name == f"{val_keys[1]}.rgb.mp4")
    truncated.write_bytes(truncated.read_bytes()[: cut_member.offset_data + cut_member.size // 2])
    lost = len(val_keys) - 1

    rows = []
    for batch in build_dataset(cfg, "val", training=False).iter_torch_batches(batch_size=4):
        video, label, skipped = split_valid(batch)
        assert video.shape[0] == label.shape[0] == len(batch["label"]) - skipped
        assert bool((label >= 0).all())
        invalid = ~batch["valid"]
        assert bool((batch["label"][invalid] == -1).all()) and bool((batch["video"][invalid] == 0).all())
        rows.append((len(batch["label"]), skipped))
    assert sum(n for n, _ in rows) == count_samples(cfg, "val")
    assert sum(s for _, s in rows) == 1 + lost


def _rewrite_member(shard: Path, name: str, data: bytes) -> None:
    """Rewrite a tar with one member's content replaced (same order, same names)."""
    with tarfile.open(shard) as tar:
        contents = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(shard, "w") as tar:
        for member, content in contents:
            if member.name == name:
                content = data
                member.size = len(data)
            tar.addfile(member, io.BytesIO(content))


def test_split_valid_drops_invalid_rows() -> None:
    batch = {
        "video": torch.arange(4, dtype=torch.float32).reshape(4, 1, 1, 1, 1).expand(4, 3, 2, 2, 2),
        "label": torch.tensor([3, -1, 0, -1]),
        "valid": torch.tensor([True, False, True, False]),
    }
    video, label, skipped = split_valid(batch)
    assert skipped == 2 and label.tolist() == [3, 0] and video[:, 0, 0, 0, 0].tolist() == [0.0, 2.0]


# --- RGB-D (two-stream late fusion input) -------------------------------------------------------------------------


def _decode_split(cfg: DataConfig, split: str = "val") -> dict[str, np.ndarray]:
    """Every row of an evaluation pass through the pipeline's per-shard function (what a Ray Data task runs), in
    index order (no shuffling at evaluation)."""
    root = Path(cfg.root)
    index = load_index(root)
    members = members_for(index, cfg.modality)
    shards = split_shards(index, cfg.protocol, split)
    rows = {
        "path": [str(root / shard["path"]) for shard in shards],
        "keys": [[s["key"] for s in shard["samples"]] for shard in shards],
        "labels": [[s["label"] for s in shard["samples"]] for shard in shards],
    }
    member = members[0] if len(members) == 1 else members
    frame_size = index.get("frame_size", [0, 0])
    batches = list(decode_shards(rows, cfg=cfg, member=member, training=False, frame_size=frame_size))
    return {name: np.concatenate([b[name] for b in batches]) for name in ("video", "label", "valid")}


@pytest.fixture(scope="module")
def toy_rgbd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared NTU-style set: RGB 48x64 video, 16-bit PNG depth (depth16.tar) of another size, 24x32."""
    tree = make_tree(tmp_path_factory.mktemp("toy_src"), bad=False)
    out = tmp_path_factory.mktemp("toy") / "prepared"
    prepare_dataset(ToyRGBD(root=tree, bad=False), out, samples_per_shard=4, progress=quiet)
    return out


def _assert_rgbd_stacks_the_single_modalities(cfg: DataConfig) -> None:
    rgb = _decode_split(dataclasses.replace(cfg, modality="rgb"))
    depth = _decode_split(dataclasses.replace(cfg, modality="depth"))
    rgbd = _decode_split(dataclasses.replace(cfg, modality="rgbd"))
    assert rgbd["valid"].all() and rgb["valid"].all() and depth["valid"].all()
    assert np.array_equal(rgbd["label"], rgb["label"]) and np.array_equal(rgbd["label"], depth["label"])
    views = cfg.num_views
    shape = (len(rgb["label"]), *((views,) if views > 1 else ()), 6, cfg.num_frames, cfg.crop_size, cfg.crop_size)
    assert rgbd["video"].shape == shape and rgbd["video"].dtype == np.uint8
    channels = (slice(None),) * (2 if views > 1 else 1)
    assert np.array_equal(rgbd["video"][(*channels, slice(0, 3))], rgb["video"])
    assert np.array_equal(rgbd["video"][(*channels, slice(3, 6))], depth["video"])
    assert not np.array_equal(rgb["video"], depth["video"])


@pytest.mark.parametrize(("clips", "crops", "depth_mode"), [(1, 1, "replicate"), (2, 3, "jet")])
def test_rgbd_is_the_rgb_then_the_depth_rendering_at_evaluation(
    synthetic_cfg: DataConfig, clips: int, crops: int, depth_mode: str
) -> None:
    cfg = dataclasses.replace(synthetic_cfg, test_clips=clips, test_crops=crops, depth_mode=depth_mode)
    _assert_rgbd_stacks_the_single_modalities(cfg)


def test_rgbd_reads_depth16_members_at_their_own_frame_size(toy_rgbd_root: Path) -> None:
    cfg = DataConfig(dataset="ntu_rgbd_60", root=str(toy_rgbd_root), num_frames=4, resize=24, crop_size=16)
    index = load_index(toy_rgbd_root)
    assert members_for(index, "rgbd") == ("rgb.mp4", "depth16.tar")
    shard = index["shards"][0]
    row = {
        "path": str(toy_rgbd_root / shard["path"]),
        "keys": [s["key"] for s in shard["samples"]],
        "labels": [s["label"] for s in shard["samples"]],
    }
    sample = next(read_shard_samples(row, member=("rgb.mp4", "depth16.tar"), shuffle=False))
    assert sample["readable"] and sample["video_bytes"] and sample["video_bytes_1"]
    assert (sample["height"], sample["width"], sample["height_1"], sample["width_1"]) == (48, 64, 24, 32)
    _assert_rgbd_stacks_the_single_modalities(cfg)


def test_rgbd_training_renders_each_stream_as_its_own_modality(synthetic_cfg: DataConfig) -> None:
    # Colour jitter and flips on: RGB is jittered, depth is not, and each stream draws its own frames and crop.
    cfg = dataclasses.replace(synthetic_cfg, modality="rgbd", colour_jitter=0.5, flip_prob=0.5, train_crop="random")
    root = Path(cfg.root)
    index = load_index(root)
    key, sample = next(iter(iter_shard_members(root / index["shards"][0]["path"])))
    size = tuple(index["frame_size"])
    data, members = [sample["rgb.mp4"], sample["depth.mp4"]], ("rgb.mp4", "depth.mp4")
    for seed in range(3):
        rgbd = load_modality_views(
            data, cfg, members=members, training=True, rng=np.random.default_rng(seed), frame_sizes=[size, size]
        )
        rng = np.random.default_rng(seed)  # the same draws, in stream order
        rgb = load_views(
            data[0],
            dataclasses.replace(cfg, modality="rgb"),
            member=members[0],
            training=True,
            rng=rng,
            frame_size=size,
        )
        depth = load_views(
            data[1],
            dataclasses.replace(cfg, modality="depth"),
            member=members[1],
            training=True,
            rng=rng,
            frame_size=size,
        )
        assert rgbd.shape == (1, 6, cfg.num_frames, cfg.crop_size, cfg.crop_size)
        assert np.array_equal(rgbd[:, :3], rgb) and np.array_equal(rgbd[:, 3:], depth)
    with pytest.raises(ValueError, match="rgbd"):
        load_views(data[0], cfg, member=members[0], training=False, rng=None, frame_size=size)


def test_rgbd_sample_missing_its_depth_member_is_skipped(synthetic_cfg: DataConfig, tmp_path: Path) -> None:
    root = tmp_path / "no_depth_for_one"
    shutil.copytree(synthetic_cfg.root, root)
    cfg = dataclasses.replace(synthetic_cfg, root=str(root))
    shard = split_shards(load_index(root), cfg.protocol, "val")[0]
    _drop_member(root / shard["path"], f"{shard['samples'][0]['key']}.depth.mp4")
    rgbd = _decode_split(dataclasses.replace(cfg, modality="rgbd"))
    rgb = _decode_split(dataclasses.replace(cfg, modality="rgb"))
    assert rgb["valid"].all()  # the rgb member is intact
    assert int((~rgbd["valid"]).sum()) == 1 and len(rgbd["valid"]) == count_samples(cfg, "val")
    video, label, skipped = split_valid({k: torch.from_numpy(v) for k, v in rgbd.items()})
    assert skipped == 1 and len(label) == len(rgbd["label"]) - 1
    assert bool((torch.from_numpy(rgbd["video"])[~torch.from_numpy(rgbd["valid"])] == 0).all())


def _drop_member(shard: Path, name: str) -> None:
    """Rewrite a tar without one member (the sample's other members and metadata stay)."""
    with tarfile.open(shard) as tar:
        contents = [(m, tar.extractfile(m).read()) for m in tar.getmembers() if m.name != name]
    assert len(contents) < len(tarfile.open(shard).getmembers())
    with tarfile.open(shard, "w") as tar:
        for member, content in contents:
            tar.addfile(member, io.BytesIO(content))


def test_rgbd_needs_a_dataset_with_depth() -> None:
    with pytest.raises(ValueError, match=r"data\.modality='rgbd'.*ucf101"):
        DataConfig(dataset="ucf101", root="x", modality="rgbd")
    with pytest.raises(ValueError, match=r"data\.modality='depth'.*hmdb51"):
        DataConfig(dataset="hmdb51", root="x", modality="depth")
    rgb_only = {"dataset": "custom", "modalities": ["rgb"], "members": {"rgb": "rgb.mp4"}}
    with pytest.raises(ValueError, match=r"data\.modality='rgbd'.*depth"):
        members_for(rgb_only, "rgbd")
    assert members_for(rgb_only, "rgb") == ("rgb.mp4",)
    assert DataConfig(modality="rgbd").streams == ("rgb", "depth") and DataConfig().streams == ("rgb",)


@pytest.mark.parametrize(("modality", "channels"), [("rgb", 3), ("rgbd", 6), ("pose", 24)])
def test_model_inputs_normalise_image_channels_and_leave_heatmaps_in_unit_range(modality: str, channels: int) -> None:
    """uint8 rows -> float32: image channels (each group of 3: RGB or rendered depth) by data.mean/std, pose
    heatmaps (here 24 limb maps, a multiple of 3 all the same) only /255; evaluation views (B, V, C, T, S, S) alike."""
    cfg = DataConfig(modality=modality, mean=(0.2, 0.4, 0.6), std=(0.5, 0.25, 0.1))
    rows = torch.full((2, 3, channels, 2, 4, 4), 255, dtype=torch.uint8)
    rows[:, :, 1::3] = 0
    (video,) = model_inputs((rows,), cfg)
    assert video.dtype == torch.float32 and video.shape == rows.shape
    unit = rows.float() / 255.0
    if modality == "pose":
        assert torch.equal(video, unit)
    else:
        mean = torch.tensor(cfg.mean).repeat(channels // 3).view(channels, 1, 1, 1)
        std = torch.tensor(cfg.std).repeat(channels // 3).view(channels, 1, 1, 1)
        assert torch.equal(video, (unit - mean) / std)
        assert torch.allclose(video[0, 0, 0], torch.tensor((1 - 0.2) / 0.5)) and torch.allclose(
            video[0, 0, 1], torch.tensor(-0.4 / 0.25)
        )
    floats = torch.zeros(1, 3, 2, 4, 4)
    assert model_inputs((floats,), cfg)[0] is floats, "float inputs (already the model's) pass unchanged"
