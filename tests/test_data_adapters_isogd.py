"""ChaLearn IsoGD adapter: published list files + M_/K_ videos -> samples, bad lines, protocols, prepare."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from fixture_media import pattern_frames, write_pattern_video, write_video

from actrec.data.adapters import create_adapter
from actrec.data.adapters.base import ADAPTERS, BadEntry, SampleEntry, check_fields_cover
from actrec.data.adapters.isogd import IsoGDAdapter
from actrec.data.config import DATASETS

FRAMES = 8
# (subset, folder, number, label as published 1..249)
GOOD = [
    ("train", "001", "00001", 10),
    ("train", "001", "00002", 249),
    ("train", "002", "00201", 1),
    ("valid", "001", "00001", 3),
    ("test", "001", "00001", 17),
]


def _write_sample(root: Path, subset: str, folder: str, number: str, seed: int) -> None:
    write_pattern_video(root / subset / folder / f"M_{number}.avi", frames=FRAMES, height=24, width=32, seed=seed)
    grey = pattern_frames(FRAMES, 24, 32, seed=seed + 100).mean(axis=-1).astype(np.uint8)
    write_video(root / subset / folder / f"K_{number}.avi", grey)


def _line(subset: str, folder: str, number: str, label: object = None) -> str:
    paths = f"{subset}/{folder}/M_{number}.avi {subset}/{folder}/K_{number}.avi"
    return paths if label is None else f"{paths} {label}"


@pytest.fixture
def isogd_root(tmp_path: Path) -> Path:
    """IsoGD in its published layout: 5 good samples over train/valid/test, two malformed lines."""
    root = tmp_path / "IsoGD"
    for seed, (subset, folder, number, _) in enumerate(GOOD):
        _write_sample(root, subset, folder, number, seed)
    train = [_line(*GOOD[0]), _line(*GOOD[1]), _line("train", "001", "00003"), _line(*GOOD[2])]  # line 3: no label
    (root / "train_list.txt").write_text("\n".join(train) + "\n")
    (root / "valid_list.txt").write_text(_line(*GOOD[3]) + "\n")
    test = [_line(*GOOD[4]), "", _line("test", "001", "00002", "x7")]  # blank line 2; line 3: non-integer label
    (root / "test_list.txt").write_text("\n".join(test) + "\n")
    return root


def test_entries_are_the_published_samples_with_0_based_labels(isogd_root: Path) -> None:
    entries = list(IsoGDAdapter(root=isogd_root).entries())
    samples = [e for e in entries if isinstance(e, SampleEntry)]
    assert [s.key for s in samples] == [
        "train-001-00001",
        "train-001-00002",
        "train-002-00201",
        "valid-001-00001",
        "test-001-00001",
    ]
    assert [s.label for s in samples] == [9, 248, 0, 2, 16]
    assert [s.fields for s in samples] == [{"subset": 1}] * 3 + [{"subset": 2}, {"subset": 3}]
    first = samples[0]
    assert first.rgb is not None and first.depth is not None
    assert first.rgb.path == isogd_root / "train/001/M_00001.avi"
    assert first.depth.path == isogd_root / "train/001/K_00001.avi"
    assert (first.rgb.start_frame, first.rgb.end_frame) == (0, None)
    assert first.origin == f"{isogd_root / 'train_list.txt'}:1"
    assert samples[2].origin == f"{isogd_root / 'train_list.txt'}:4"  # after the malformed line 3
    assert samples[4].origin == f"{isogd_root / 'test_list.txt'}:1"
    assert first.meta["class_name"] == "gesture_010"
    assert len({s.key for s in samples}) == len(samples)
    assert entries == list(IsoGDAdapter(root=isogd_root).entries())  # deterministic order


def test_malformed_lines_are_bad_entries_naming_file_and_line(isogd_root: Path) -> None:
    bad = [e for e in IsoGDAdapter(root=isogd_root).entries() if isinstance(e, BadEntry)]
    assert [b.origin for b in bad] == [f"{isogd_root / 'train_list.txt'}:3", f"{isogd_root / 'test_list.txt'}:3"]
    assert "no label" in bad[0].reason
    assert "'x7' is not an integer" in bad[1].reason


def test_wrong_field_count_and_mismatched_pair_are_bad_entries(tmp_path: Path) -> None:
    lines = [
        "train/001/M_00001.avi 5",
        "train/001/M_00001.avi train/001/K_00001.avi 5 extra",
        "train/001/M_00001.avi train/001/K_00002.avi 5",
    ]
    (tmp_path / "train_list.txt").write_text("\n".join(lines) + "\n")
    entries = list(IsoGDAdapter(root=tmp_path).entries())
    assert all(isinstance(e, BadEntry) for e in entries)
    assert [e.origin for e in entries] == [f"{tmp_path / 'train_list.txt'}:{n}" for n in (1, 2, 3)]
    assert "got 4" in entries[1].reason and "not one sample" in entries[2].reason


def test_protocols_classes_and_registry_match_the_config(isogd_root: Path) -> None:
    adapter = IsoGDAdapter(root=isogd_root)
    protocols = adapter.protocols()
    assert tuple(protocols) == DATASETS["isogd"].protocols
    assert protocols["official"] == {"field": "subset", "train": [1], "val": [2]}
    assert protocols["official_test"] == {"field": "subset", "train": [1], "val": [3]}
    check_fields_cover(protocols, ["subset"])
    names = adapter.class_names()
    assert len(names) == DATASETS["isogd"].num_classes == 249
    assert names[0] == "gesture_001" and names[-1] == "gesture_249"
    assert ADAPTERS["isogd"] is IsoGDAdapter
    assert create_adapter("isogd", str(isogd_root), valid_list="other.txt").valid_list == "other.txt"


def test_train_list_is_required_other_lists_are_optional(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(FileNotFoundError, match="train_list.txt"):
        list(IsoGDAdapter(root=tmp_path).entries())
    (tmp_path / "train_list.txt").write_text(_line(*GOOD[0]) + "\n")
    with caplog.at_level(logging.WARNING):
        entries = list(IsoGDAdapter(root=tmp_path).entries())
    assert [e.fields["subset"] for e in entries if isinstance(e, SampleEntry)] == [1]
    assert "valid_list.txt" in caplog.text and "test_list.txt" in caplog.text


def test_prepare_writes_index_shards_and_reports_bad_lines(isogd_root: Path, tmp_path: Path) -> None:
    from actrec.data.decode import num_frames
    from actrec.data.prepare import PrepareError, prepare_dataset
    from actrec.data.shards import iter_shard_members, load_index, split_shards

    adapter = IsoGDAdapter(root=isogd_root)
    out = tmp_path / "prepared"
    summary = prepare_dataset(adapter, out, samples_per_shard=2, short_side=0, progress=lambda _: None)
    assert summary.num_samples == len(GOOD)
    assert {s["origin"] for s in summary.skipped} == {
        f"{isogd_root / 'train_list.txt'}:3",
        f"{isogd_root / 'test_list.txt'}:3",
    }
    index = load_index(out)
    assert index["splits"] == adapter.protocols()
    assert index["members"] == {"rgb": "rgb.mp4", "depth": "depth.mp4"}
    samples = {s["key"]: s for shard in index["shards"] for s in shard["samples"]}
    assert samples["train-001-00002"] == {"key": "train-001-00002", "label": 248, "subset": 1}
    val = [s["key"] for shard in split_shards(index, "official_test", "val") for s in shard["samples"]]
    assert val == ["test-001-00001"]
    counts = {}
    for shard in index["shards"]:
        for key, members in iter_shard_members(out / shard["path"]):
            assert members is not None
            counts[key] = (num_frames(members["rgb.mp4"]), num_frames(members["depth.mp4"]))
    assert counts == {s["key"]: (FRAMES, FRAMES) for s in samples.values()}

    with pytest.raises(PrepareError, match=r"train_list\.txt:3: .*no label"):
        prepare_dataset(adapter, tmp_path / "strict", short_side=0, strict=True, progress=lambda _: None)


def test_prepared_fixture_trains(isogd_root: Path, tmp_path: Path, prepared_trains) -> None:
    from actrec.data.prepare import prepare_dataset

    out = tmp_path / "prepared"
    prepare_dataset(IsoGDAdapter(root=isogd_root), out, short_side=0, progress=lambda _: None)
    for protocol in DATASETS["isogd"].protocols:
        for modality in ("rgb", "depth"):
            counts = prepared_trains(out, "isogd", modality=modality, protocol=protocol)
            assert counts == {"train": 3, "val": 1}, (protocol, modality)  # train list / valid or test list
