"""actrec.data.prepare: checks, encoding, bad input, strict mode, resume and settings guard (toy adapter)."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import decord
import numpy as np
import pytest
from fixture_media import (
    depth_frames_mm,
    pattern_frames,
    write_corrupt_video,
    write_empty_file,
    write_pattern_video,
    write_png16,
    write_video,
)
from PIL import Image

import actrec.data.prepare as prepare_module
from actrec.data.adapters.base import BadEntry, DatasetAdapter, FrameFolderRef, SampleEntry, VideoRef
from actrec.data.decode import num_frames
from actrec.data.prepare import PrepareError, prepare_dataset
from actrec.data.shards import iter_shard_members, load_index, split_shards


@dataclass(frozen=True, kw_only=True)
class ToyRGBD(DatasetAdapter):
    """Six good samples (RGB .avi trimmed to frames [2, 10), 16-bit PNG depth, pose) plus every kind of bad entry."""

    name: ClassVar[str] = "ntu_rgbd_60"
    modalities: ClassVar[tuple[str, ...]] = ("rgb", "depth", "pose")
    root: Path
    bad: bool = True
    crop: bool = False

    def class_names(self) -> list[str]:
        return [f"action {i}" for i in range(60)]

    def protocols(self) -> dict[str, dict]:
        return {
            "cross_subject": {"field": "subject", "train": [1], "val": [2]},
            "cross_view": {"field": "view", "train": [2, 3], "val": [1]},
        }

    def entries(self):
        names = [f"s{i}" for i in range(6)]
        if self.bad:
            names += ["missing", "corrupt", "empty", "badlabel", "s0", "nofield"]
        for line, name in enumerate(names, start=1):
            label = 99 if name == "badlabel" else line % 60
            fields = {"view": 1 + line % 3} if name == "nofield" else {"subject": 1 + line % 2, "view": 1 + line % 3}
            yield SampleEntry(
                key=name,
                label=label,
                fields=fields,
                origin=f"{self.root / 'list.txt'}:{line}",
                rgb=VideoRef(path=self.root / f"{name}.avi", start_frame=2, end_frame=10),
                depth=FrameFolderRef(paths=tuple(sorted((self.root / f"{name}_depth").glob("*.png")))),
                pose=self.root / f"{name}.pose.txt",
            )
        if self.bad:
            yield BadEntry(origin=f"{self.root / 'list.txt'}:{len(names) + 1}", reason="expected 3 fields, got 1")

    def read_pose(self, path: Path) -> np.ndarray:
        values = np.loadtxt(path, dtype=np.float32).reshape(-1, 1, 2, 3)  # T frames, 1 person, 2 joints
        return values

    def rgb_crop_box(self, entry, pose):
        return (8, 4, 40, 36) if self.crop else None


def make_tree(root: Path, *, bad: bool = True) -> Path:
    for i, name in enumerate(["s0", "s1", "s2", "s3", "s4", "s5", "empty", "corrupt", "badlabel", "s0x", "nofield"]):
        if name == "corrupt":
            write_corrupt_video(root / f"{name}.avi")
        elif name == "empty":
            write_empty_file(root / f"{name}.avi")
        else:
            write_pattern_video(root / f"{name}.avi", frames=12, height=48, width=64, seed=i)
        for t, depth in enumerate(depth_frames_mm(5, 24, 32, seed=i)):
            write_png16(root / f"{name}_depth" / f"MDepth-{t + 1:08d}.png", depth)
        joints = np.tile(np.array([[16.0, 8.0, 1.0, 24.0, 20.0, 0.5]], dtype=np.float32), (12, 1))
        np.savetxt(root / f"{name}.pose.txt", joints)
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tree(tmp_path_factory.mktemp("toy"))


def quiet(_: str) -> None:
    pass


def test_prepare_writes_index_members_and_records_every_bad_entry(tree: Path, tmp_path: Path) -> None:
    summary = prepare_dataset(ToyRGBD(root=tree), tmp_path / "out", samples_per_shard=4, progress=quiet)
    index = load_index(summary.out)
    assert summary.num_samples == index["num_samples"] == 6
    assert index["members"] == {"rgb": "rgb.mp4", "depth": "depth16.tar", "pose": "pose.npy"}
    assert index["splits"]["cross_view"] == {"field": "view", "train": [2, 3], "val": [1]}
    reasons = {(s["origin"].rsplit(":", 1)[1], s["key"]): s["reason"] for s in summary.skipped}
    assert "missing rgb file" in reasons[("7", "missing")]
    assert "cannot decode" in reasons[("8", "corrupt")]
    assert "empty rgb file (0 bytes)" in reasons[("9", "empty")]
    assert "label 99 out of range" in reasons[("10", "badlabel")]
    assert "duplicate sample name 's0'" in reasons[("11", "s0")] and "list.txt:1" in reasons[("11", "s0")]
    assert "split field" in reasons[("12", "nofield")]
    assert "expected 3 fields" in reasons[("13", None)]
    assert index["skipped"] == summary.skipped
    train = {s["key"] for shard in split_shards(index, "cross_subject", "train") for s in shard["samples"]}
    val = {s["key"] for shard in split_shards(index, "cross_subject", "val") for s in shard["samples"]}
    assert train | val == {f"s{i}" for i in range(6)} and not train & val


def test_prepared_members_trim_rgb_and_keep_16_bit_depth_exactly(tree: Path, tmp_path: Path) -> None:
    summary = prepare_dataset(ToyRGBD(root=tree, bad=False), tmp_path / "out", samples_per_shard=4, progress=quiet)
    samples = {k: v for shard in sorted(summary.out.glob("shard-*.tar")) for k, v in iter_shard_members(shard)}
    sample = samples["s1"]
    assert num_frames(sample["rgb.mp4"]) == 8  # frames [2, 10) of 12
    meta = json.loads(sample["json"])
    assert meta["rgb_frames"] == 8 and meta["rgb_size"] == [48, 64] and meta["depth_size"] == [24, 32]
    assert meta["origin"].endswith("list.txt:2") and meta["subject"] == 1
    with tarfile.open(fileobj=io.BytesIO(sample["depth16.tar"])) as tar:
        names = sorted(tar.getnames())
        stored = [np.asarray(Image.open(io.BytesIO(tar.extractfile(n).read()))) for n in names]
    assert names == [f"{i:06d}.png" for i in range(5)]
    expected = depth_frames_mm(5, 24, 32, seed=1)
    assert all(a.dtype == np.uint16 for a in stored) and np.array_equal(np.stack(stored), expected)
    assert expected.max() > 255  # the 16-bit range really is exercised
    pose = np.load(io.BytesIO(sample["pose.npy"]))
    assert pose.shape == (12, 1, 2, 3) and np.allclose(pose[0, 0], [[16, 8, 1], [24, 20, 0.5]])


def test_short_side_and_crop_box_move_the_pose_with_the_rgb(tree: Path, tmp_path: Path) -> None:
    summary = prepare_dataset(
        ToyRGBD(root=tree, bad=False, crop=True), tmp_path / "out", short_side=16, samples_per_shard=8, progress=quiet
    )
    sample = dict(iter_shard_members(next(summary.out.glob("shard-*.tar"))))["s2"]
    meta = json.loads(sample["json"])
    assert meta["rgb_crop_box"] == [8, 4, 40, 36]  # 32 x 32 region
    assert meta["rgb_size"] == [16, 16] and meta["depth_size"] == [16, 20]  # 24 x 32 depth -> short side 16
    pose = np.load(io.BytesIO(sample["pose.npy"]))
    # joint (16, 8) -> minus the box corner (8, 4) -> times 16/32
    assert np.allclose(pose[0, 0, 0], [4.0, 2.0, 1.0]) and np.allclose(pose[0, 0, 1], [8.0, 8.0, 0.5])
    with tarfile.open(fileobj=io.BytesIO(sample["depth16.tar"])) as tar:
        first = np.asarray(Image.open(io.BytesIO(tar.extractfile("000000.png").read())))
    original = depth_frames_mm(5, 24, 32, seed=2)[0]
    assert first.shape == (16, 20) and set(np.unique(first)) <= set(np.unique(original))  # nearest: no new depths


def test_eight_bit_depth_video_is_stored_bit_exactly(tmp_path: Path) -> None:
    @dataclass(frozen=True, kw_only=True)
    class GreyDepth(ToyRGBD):
        modalities: ClassVar[tuple[str, ...]] = ("depth",)

        def entries(self):
            yield SampleEntry(
                key="g0",
                label=0,
                fields={"subject": 1, "view": 1},
                origin="x:1",
                depth=VideoRef(path=self.root / "d.avi"),
            )

    grey = np.stack([np.tile(np.arange(0, 256, 4, dtype=np.uint8), (48, 1))] * 6)
    # The source itself is lossy MPEG-4: compare with what the source decodes to, not with `grey`.
    source = write_video(tmp_path / "src" / "d.avi", grey)
    summary = prepare_dataset(GreyDepth(root=source.parent), tmp_path / "out", progress=quiet)
    stored = dict(iter_shard_members(summary.out / "shard-000000.tar"))["g0"]["depth.mp4"]
    decoded = decord.VideoReader(io.BytesIO(stored), ctx=decord.cpu(0)).get_batch(list(range(6))).asnumpy()
    reference = decord.VideoReader(str(source), ctx=decord.cpu(0)).get_batch(list(range(6))).asnumpy()
    ref_grey = np.round(reference.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32))
    assert np.array_equal(decoded[..., 0], decoded[..., 2])
    assert np.abs(decoded[..., 0].astype(int) - ref_grey.astype(int)).max() <= 2


def test_strict_mode_names_every_bad_origin_and_writes_nothing(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(PrepareError) as error:
        prepare_dataset(ToyRGBD(root=tree), tmp_path / "out", strict=True, progress=quiet)
    message = str(error.value)
    for line in (7, 10, 11, 12, 13):
        assert f"list.txt:{line}:" in message
    assert "missing rgb file" in message and "duplicate sample name" in message
    assert not (tmp_path / "out").exists()


def test_interrupted_prepare_resumes_without_rewriting_finished_shards(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    real_encode = prepare_module.encode_sample
    calls = {"n": 0}

    def encode_then_crash(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # first sample of the second shard
            raise KeyboardInterrupt
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(prepare_module, "encode_sample", encode_then_crash)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(ToyRGBD(root=tree, bad=False), out, samples_per_shard=3, progress=quiet)
    assert (out / "shard-000000.tar").is_file() and (out / "shard-000000.json").is_file()
    assert not (out / "shard-000001.tar").exists() and not (out / "index.json").exists()
    first = (out / "shard-000000.tar").stat()

    monkeypatch.setattr(prepare_module, "encode_sample", real_encode)
    lines: list[str] = []
    summary = prepare_dataset(ToyRGBD(root=tree, bad=False), out, samples_per_shard=3, progress=lines.append)
    again = (out / "shard-000000.tar").stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    assert (summary.shards_reused, summary.shards_written, summary.num_samples) == (1, 1, 6)
    assert any("1 shards already done, resuming" in line for line in lines)
    assert not list(out.glob("*.tmp"))


def test_output_with_other_settings_or_foreign_files_is_refused(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepare_dataset(ToyRGBD(root=tree, bad=False), out, samples_per_shard=3, progress=quiet)
    before = (out / "index.json").read_bytes()
    with pytest.raises(PrepareError, match="different settings.*samples_per_shard"):
        prepare_dataset(ToyRGBD(root=tree, bad=False), out, samples_per_shard=4, progress=quiet)
    assert (out / "index.json").read_bytes() == before
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(PrepareError, match="not empty"):
        prepare_dataset(ToyRGBD(root=tree, bad=False), foreign, progress=quiet)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_parallel_workers_write_the_same_samples(tree: Path, tmp_path: Path) -> None:
    one = prepare_dataset(ToyRGBD(root=tree), tmp_path / "one", samples_per_shard=2, progress=quiet)
    two = prepare_dataset(ToyRGBD(root=tree), tmp_path / "two", samples_per_shard=2, workers=2, progress=quiet)
    assert load_index(one.out)["shards"] == load_index(two.out)["shards"]
    assert sorted(map(str, one.skipped)) == sorted(map(str, two.skipped))


def test_pattern_frames_fixture_is_what_gets_encoded() -> None:
    # Guard for the fixtures above: a moving square, so trimmed clips differ frame to frame.
    clip = pattern_frames(4, 16, 32)
    assert not np.array_equal(clip[0], clip[-1])
