"""Shard format: atomic writing, index round trip, split selection, and reading damaged shards without raising."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from actrec.data.config import DataConfig
from actrec.data.shards import (
    ShardWriter,
    iter_shard_members,
    load_index,
    shard_name,
    split_shards,
    write_index,
)

SPLITS = {
    "cross_subject": {"field": "subject", "train": [0], "val": [1]},
    "cross_view": {"field": "view", "train": [0, 1], "val": [2]},
}


def _members(i: int) -> dict[str, bytes]:
    return {"rgb.mp4": bytes([i]) * (700 + i), "depth.mp4": bytes([100 + i]) * 900, "pose.npy": b"pose%d" % i}


def _write(out: Path, count: int = 5, per_shard: int = 2) -> ShardWriter:
    with ShardWriter(out, per_shard) as writer:
        for i in range(count):
            writer.add(f"k{i}", _members(i), {"label": i % 3, "subject": i % 2, "view": i % 3, "frames": 4})
    return writer


def test_writer_round_trip(tmp_path: Path) -> None:
    writer = _write(tmp_path)
    assert [s["path"] for s in writer.shards] == [shard_name(0), shard_name(1), shard_name(2)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [shard_name(0), shard_name(1), shard_name(2)]
    assert writer.shards[2]["samples"] == [{"key": "k4", "label": 1, "subject": 0, "view": 1}]
    read = {}
    for shard in writer.shards:
        read.update(iter_shard_members(tmp_path / shard["path"]))
    assert sorted(read) == [f"k{i}" for i in range(5)]
    for i in range(5):
        members = read[f"k{i}"]
        assert {k: v for k, v in members.items() if k != "json"} == _members(i)
        assert json.loads(members["json"]) == {
            "key": f"k{i}",
            "label": i % 3,
            "subject": i % 2,
            "view": i % 3,
            "frames": 4,
        }


def test_reader_filters_keys_and_member_types(tmp_path: Path) -> None:
    _write(tmp_path, count=4, per_shard=4)
    got = list(iter_shard_members(tmp_path / shard_name(0), {"k1", "k3"}, exts={"depth.mp4"}))
    assert got == [("k1", {"depth.mp4": _members(1)["depth.mp4"]}), ("k3", {"depth.mp4": _members(3)["depth.mp4"]})]


def test_writer_rejects_bad_input_and_cleans_up_on_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="key"):
        with ShardWriter(tmp_path, 4) as writer:
            writer.add("ok", _members(0), {"label": 0, "subject": 0, "view": 0})
            writer.add("bad.key", _members(1), {"label": 0, "subject": 0, "view": 0})
    assert list(tmp_path.iterdir()) == []  # the unfinished shard (.tar.tmp) is removed, nothing renamed
    with pytest.raises(ValueError, match="label"):
        ShardWriter(tmp_path, 4).add("k", _members(0), {"subject": 0, "view": 0})
    with pytest.raises(ValueError, match="extension"):
        ShardWriter(tmp_path, 4).add("k", {"json": b"x"}, {"label": 0, "subject": 0, "view": 0})


def test_index_round_trip_and_split_selection(tmp_path: Path) -> None:
    writer = _write(tmp_path)
    path = write_index(
        tmp_path, dataset="toy", class_names=["a", "b", "c"], modalities=["rgb"], shards=writer.shards, splits=SPLITS
    )
    index = load_index(tmp_path)
    assert path == tmp_path / "index.json" and index["num_samples"] == 5 and index["num_classes"] == 3
    for protocol, field in (("cross_subject", "subject"), ("cross_view", "view")):
        train = {s["key"] for sh in split_shards(index, protocol, "train") for s in sh["samples"]}
        val = {s["key"] for sh in split_shards(index, protocol, "val") for s in sh["samples"]}
        assert not train & val and train | val == {f"k{i}" for i in range(5)}
        for shard in split_shards(index, protocol, "val"):
            assert shard["samples"] and all(s[field] in SPLITS[protocol]["val"] for s in shard["samples"])
    with pytest.raises(ValueError, match="split"):
        split_shards(index, "cross_subject", "test")
    with pytest.raises(ValueError, match="disjoint"):
        write_index(
            tmp_path,
            dataset="toy",
            class_names=["a"],
            modalities=["rgb"],
            shards=[],
            splits={"cross_view": {"field": "view", "train": [0, 1], "val": [1]}},
        )


def test_load_index_names_the_path_of_every_kind_of_bad_root(tmp_path: Path) -> None:
    """Reading only: a missing, empty or index-less root, an index that is not JSON, not an object or incomplete;
    every error names the path (and, where the root holds no dataset, how to make one)."""
    with pytest.raises(FileNotFoundError, match=f"data root {tmp_path / 'nowhere'} does not exist.*actrec data prep"):
        load_index(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=f"data root {tmp_path} is an empty directory"):
        load_index(tmp_path)
    (tmp_path / "clip.avi").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=f"data root {tmp_path} holds no index.json"):
        load_index(tmp_path)
    with pytest.raises(NotADirectoryError, match=f"data root {tmp_path / 'clip.avi'} is not a directory"):
        load_index(tmp_path / "clip.avi")
    index = tmp_path / "index.json"
    for text, expected in (
        ('{"format_version": 1, "dataset": ', "is not valid JSON"),
        ("[1, 2]", "holds a JSON list, not an index object"),
        ('{"format_version": 1, "dataset": "x"}', "not a complete actrec index: no 'num_classes', 'shards', 'splits'"),
        ('{"format_version": 7}', "format_version 7"),
    ):
        index.write_text(text)
        with pytest.raises(ValueError, match=f"{index}.*{expected}"):
            load_index(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi", "index.json"], "nothing written"


def test_truncated_shard_yields_complete_samples_then_unreadable_keys(tmp_path: Path) -> None:
    _write(tmp_path, count=4, per_shard=4)
    shard = tmp_path / shard_name(0)
    with tarfile.open(shard) as tar:
        members = {m.name: m for m in tar.getmembers()}
    data = shard.read_bytes()
    cuts = {
        members["k2.depth.mp4"].offset_data + 100: ["k0", "k1"],  # inside a member's data
        members["k2.rgb.mp4"].offset + 200: ["k0", "k1"],  # inside a member's header
        members["k3.json"].offset_data + members["k3.json"].size: ["k0", "k1", "k2", "k3"],  # only padding lost
    }
    for cut, complete in cuts.items():
        shard.write_bytes(data[:cut])
        got = list(iter_shard_members(shard, {"k0", "k1", "k2", "k3"}))
        assert [k for k, m in got if m is not None] == complete
        assert sorted(k for k, m in got if m is None) == sorted({"k0", "k1", "k2", "k3"} - set(complete))
    # Without an expected key list, a sample cut inside its data is still reported.
    shard.write_bytes(data[: members["k2.depth.mp4"].offset_data + 100])
    assert [(k, m is None) for k, m in iter_shard_members(shard)] == [("k0", False), ("k1", False), ("k2", True)]


@pytest.mark.parametrize("content", [None, b"", b"\x00" * 10, b"not a tar file at all" * 100])
def test_unreadable_shard_never_raises(tmp_path: Path, content: bytes | None) -> None:
    shard = tmp_path / "shard.tar"
    if content is not None:
        shard.write_bytes(content)
    assert sorted(iter_shard_members(shard, {"a", "b"})) == [("a", None), ("b", None)]


def test_data_config_validates_fields() -> None:
    with pytest.raises(ValueError, match="data.dataset must be one of"):
        DataConfig(dataset="ntu60")
    with pytest.raises(ValueError, match="data.root must name a prepared ntu_rgbd_60 dataset"):
        DataConfig(dataset="ntu_rgbd_60")
    assert DataConfig(dataset="ntu_rgbd_60", root="/data/ntu", num_frames=16).num_classes == 60
    assert DataConfig(synth_num_classes=5).num_classes == 5
    with pytest.raises(ValueError, match=r"data.crop_size must be <= data.resize \(40\), got 48"):
        DataConfig(crop_size=48)
    with pytest.raises(ValueError, match="data.num_frames must be <= data.synth_frames"):
        DataConfig(num_frames=32)
    with pytest.raises(ValueError, match="data.modality"):
        DataConfig(modality="flow")
    with pytest.raises(ValueError, match="data.decode_cpus must be > 0"):
        DataConfig(decode_cpus=0)
    with pytest.raises(ValueError, match=r"data.synth_num_classes must be in \[2, 8\]"):
        DataConfig(synth_num_classes=9)
    with pytest.raises(ValueError, match="data.synth_size must be even"):
        DataConfig(synth_size=33)
    with pytest.raises(ValueError, match="data.protocol"):
        DataConfig(protocol="cross_setup")
