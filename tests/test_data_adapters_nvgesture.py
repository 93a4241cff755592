"""NvGesture adapter: the CVPR 2016 .lst files -> per-sensor trimmed samples, bad lines, protocol, prepare."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pytest
from fixture_media import pattern_frames, write_pattern_video, write_video

from actrec.data.adapters import create_adapter
from actrec.data.adapters.base import ADAPTERS, BadEntry, SampleEntry, VideoRef, check_fields_cover
from actrec.data.adapters.nvgesture import NvGestureAdapter
from actrec.data.config import DATASETS

TRAIN = "nvgesture_train_correct_cvpr2016_v2.lst"
TEST = "nvgesture_test_correct_cvpr2016_v2.lst"
FRAMES = 14
H, W = 48, 64
# recording folder -> (label 1..25, subset, (color start, end), (depth start, end))
GOOD = {
    "class_01/subject1_r0": (1, 1, (3, 11), (2, 7)),
    "class_25/subject3_r1": (25, 1, (0, 14), (0, 14)),
    "class_03/subject14_r0": (3, 2, (4, 9), (5, 13)),
}


def _line(folder: str, label: int, color: tuple[int, int], depth: tuple[int, int]) -> str:
    return (
        f"path:./Video_data/{folder} depth:sk_depth:{depth[0]}:{depth[1]} color:sk_color:{color[0]}:{color[1]} "
        f"duo_left:duo_left:{color[0] + 5}:{color[1] + 5} label:{label}"
    )


@pytest.fixture
def nv_root(tmp_path: Path) -> Path:
    """NvGesture in its published layout: 3 good recordings over train/test, two malformed lines."""
    root = tmp_path / "nvGesture"
    for seed, folder in enumerate(GOOD):
        write_pattern_video(root / "Video_data" / folder / "sk_color.avi", frames=FRAMES, height=H, width=W, seed=seed)
        grey = pattern_frames(FRAMES, H, W, seed=seed + 50).mean(axis=-1).astype(np.uint8)
        write_video(root / "Video_data" / folder / "sk_depth.avi", grey)
    (f1, (l1, _, c1, d1)), (f2, (l2, _, c2, d2)), (f3, (l3, _, c3, d3)) = GOOD.items()
    bad_label = "path:./Video_data/class_02/subject2_r0 depth:sk_depth:1:5 color:sk_color:1:5 label:two"
    (root / TRAIN).write_text(f"{_line(f1, l1, c1, d1)} \n{bad_label}\n{_line(f2, l2, c2, d2)}\n")
    no_color = "path:./Video_data/class_03/subject5_r0 depth:sk_depth:4:9 duo_left:duo_left:4:9 label:3"
    (root / TEST).write_text(f"\n{_line(f3, l3, c3, d3)}\n{no_color}\n")
    return root


def test_entries_trim_each_sensor_to_its_own_range(nv_root: Path) -> None:
    samples = [e for e in NvGestureAdapter(root=nv_root).entries() if isinstance(e, SampleEntry)]
    assert [s.key for s in samples] == ["class_01-subject1_r0", "class_25-subject3_r1", "class_03-subject14_r0"]
    assert [s.label for s in samples] == [0, 24, 2]
    assert [dict(s.fields) for s in samples] == [
        {"subset": 1, "subject": 1},
        {"subset": 1, "subject": 3},
        {"subset": 2, "subject": 14},
    ]
    first = samples[0]
    folder = nv_root / "Video_data" / "class_01" / "subject1_r0"
    assert first.rgb == VideoRef(path=folder / "sk_color.avi", start_frame=3, end_frame=11)
    assert first.depth == VideoRef(path=folder / "sk_depth.avi", start_frame=2, end_frame=7)
    assert first.origin == f"{nv_root / TRAIN}:1"
    assert samples[1].origin == f"{nv_root / TRAIN}:3"
    assert samples[2].origin == f"{nv_root / TEST}:2"  # line 1 is blank
    assert [s.meta["class_name"] for s in samples] == ["move_hand_left", "okay_gesture", "move_hand_up"]
    assert len({s.key for s in samples}) == len(samples)


def test_malformed_lines_are_bad_entries_naming_file_and_line(nv_root: Path) -> None:
    bad = [e for e in NvGestureAdapter(root=nv_root).entries() if isinstance(e, BadEntry)]
    assert [b.origin for b in bad] == [f"{nv_root / TRAIN}:2", f"{nv_root / TEST}:3"]
    assert "'two' is not an integer" in bad[0].reason
    assert "missing color" in bad[1].reason


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("path:./Video_data/class_01/subject1_r0 depth:sk_depth:1:5 color:sk_color:1 label:1", "color must be"),
        ("path:./Video_data/class_01/subject1_r0 depth:sk_depth:a:5 color:sk_color:1:5 label:1", "not two integers"),
        ("path:./Video_data/class_01/person1 depth:sk_depth:1:5 color:sk_color:1:5 label:1", "no subjectN"),
        ("./Video_data/class_01/subject1_r0 depth:sk_depth:1:5 color:sk_color:1:5 label:1", "is not '<key>:<value>'"),
    ],
)
def test_other_malformed_lines(tmp_path: Path, line: str, reason: str) -> None:
    (tmp_path / TRAIN).write_text(line + "\n")
    (tmp_path / TEST).write_text("")
    (entry,) = NvGestureAdapter(root=tmp_path).entries()
    assert isinstance(entry, BadEntry) and entry.origin == f"{tmp_path / TRAIN}:1"
    assert reason in entry.reason


def test_protocol_classes_and_registry_match_the_config(nv_root: Path, caplog: pytest.LogCaptureFixture) -> None:
    adapter = NvGestureAdapter(root=nv_root)
    assert tuple(adapter.protocols()) == DATASETS["nvgesture"].protocols
    assert adapter.protocols()["official"] == {"field": "subset", "train": [1], "val": [2]}
    check_fields_cover(adapter.protocols(), ["subset", "subject"])
    assert len(adapter.class_names()) == DATASETS["nvgesture"].num_classes == 25
    assert len(set(adapter.class_names())) == 25
    assert ADAPTERS["nvgesture"] is NvGestureAdapter
    assert create_adapter("nvgesture", str(nv_root), video_ext=".mp4").video_ext == ".mp4"
    with pytest.raises(FileNotFoundError, match="missing.lst"):
        list(NvGestureAdapter(root=nv_root, train_list="missing.lst").entries())
    with caplog.at_level(logging.WARNING):
        entries = list(NvGestureAdapter(root=nv_root, test_list="missing.lst").entries())
    assert {e.fields["subset"] for e in entries if isinstance(e, SampleEntry)} == {1}
    assert "missing.lst" in caplog.text


def _source_frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)]).astype(np.float32)


def test_prepare_keeps_each_sensor_range_and_reports_bad_lines(nv_root: Path, tmp_path: Path) -> None:
    from actrec.data.decode import decode_frames, num_frames
    from actrec.data.prepare import PrepareError, prepare_dataset
    from actrec.data.shards import iter_shard_members, load_index

    adapter = NvGestureAdapter(root=nv_root)
    out = tmp_path / "prepared"
    summary = prepare_dataset(adapter, out, short_side=0, progress=lambda _: None)
    assert summary.num_samples == 3
    assert [s["origin"] for s in summary.skipped] == [f"{nv_root / TRAIN}:2", f"{nv_root / TEST}:3"]
    index = load_index(out)
    assert index["splits"] == adapter.protocols()
    samples = {s["key"]: s for shard in index["shards"] for s in shard["samples"]}
    assert samples["class_03-subject14_r0"] == {"key": "class_03-subject14_r0", "label": 2, "subset": 2, "subject": 14}
    stored = {}
    for shard in index["shards"]:
        for key, members in iter_shard_members(out / shard["path"]):
            assert members is not None
            stored[key] = members
    for folder, (_, _, (c0, c1), (d0, d1)) in GOOD.items():
        members = stored[folder.replace("/", "-")]
        assert num_frames(members["rgb.mp4"]) == c1 - c0
        assert num_frames(members["depth.mp4"]) == d1 - d0
        # The first stored RGB frame is source frame c0 (the square moves every frame, so frames differ).
        first = decode_frames(members["rgb.mp4"], [0], width=W, height=H)[0].astype(np.float32)
        source = _source_frames(nv_root / "Video_data" / folder / "sk_color.avi")
        assert int(np.abs(source - first).mean(axis=(1, 2, 3)).argmin()) == c0

    with pytest.raises(PrepareError, match=r"nvgesture_train_correct_cvpr2016_v2\.lst:2: "):
        prepare_dataset(adapter, tmp_path / "strict", short_side=0, strict=True, progress=lambda _: None)


def test_prepared_fixture_trains(nv_root: Path, tmp_path: Path, prepared_trains) -> None:
    from actrec.data.prepare import prepare_dataset

    out = tmp_path / "prepared"
    prepare_dataset(NvGestureAdapter(root=nv_root), out, short_side=0, progress=lambda _: None)
    for modality in ("rgb", "depth"):
        counts = prepared_trains(out, "nvgesture", modality=modality)
        assert counts == {"train": 2, "val": 1}, modality
