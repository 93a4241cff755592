"""HMDB-51 adapter: a tiny tree in the published layout (hmdb51_org/ + testTrainMulti_7030_splits/), real .avi."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fixture_media import write_pattern_video

from actrec.data.adapters.base import ADAPTERS, BadEntry, SampleEntry, check_fields_cover
from actrec.data.adapters.hmdb51 import HMDB51Adapter
from actrec.data.config import DATASETS

HMDB51_CLASSES = (
    "brush_hair cartwheel catch chew clap climb climb_stairs dive draw_sword dribble drink eat fall_floor fencing "
    "flic_flac golf handstand hit hug jump kick kick_ball kiss laugh pick pour pullup punch push pushup ride_bike "
    "ride_horse run shake_hands shoot_ball shoot_bow shoot_gun sit situp smile smoke somersault stand "
    "swing_baseball sword sword_exercise talk throw turn walk wave"
).split()

BRUSH_1 = "April_09_brush_hair_u_nm_np1_ba_goo_0.avi"
BRUSH_2 = "Brushing_Hair_with_Beth_brush_hair_h_nm_np1_le_goo_0.avi"
WAVE_1 = "Wie_man_winkt!!_wave_u_cm_np1_fr_med_0.avi"  # '!' is not shard-safe: key "Wie_man_winkt--_wave_..."
WAVE_2 = "Wie_man_winkt??_wave_u_cm_np1_fr_med_0.avi"  # cleans to the same key as WAVE_1
VIDEOS = {f"brush_hair/{BRUSH_1}": 10, f"brush_hair/{BRUSH_2}": 7, f"wave/{WAVE_1}": 9}
SPLIT_FILES = {  # (class, split) -> lines; every other class gets three empty split files
    ("brush_hair", 1): [f"{BRUSH_1} 1 ", f"{BRUSH_2} 2 "],  # trailing space, as published
    ("brush_hair", 2): [f"{BRUSH_2} 1 ", f"{BRUSH_1} 2 "],
    ("brush_hair", 3): [f"{BRUSH_1} 0 ", f"{BRUSH_2} 1 "],
    ("wave", 1): [f"{WAVE_1} 1 ", f"{WAVE_2} 2 "],  # line 2: key clash with line 1
    ("wave", 2): [f"{WAVE_1} 2 ", "Wave_without_a_mark.avi"],  # line 2: one field
    ("wave", 3): [f"{WAVE_1} 3 "],  # line 1: mark 3 does not exist
}
WAVE_KEY = "Wie_man_winkt--_wave_u_cm_np1_fr_med_0"
EXPECTED = {  # key -> (label, split1, split2, split3)
    "April_09_brush_hair_u_nm_np1_ba_goo_0": (0, 1, 2, 0),
    "Brushing_Hair_with_Beth_brush_hair_h_nm_np1_le_goo_0": (0, 2, 1, 1),
    WAVE_KEY: (50, 1, 2, 0),  # not (validly) listed in split 3 -> 0 (unused)
}


def make_hmdb51(root: Path) -> Path:
    for index, (rel, frames) in enumerate(VIDEOS.items()):
        write_pattern_video(root / "hmdb51_org" / rel, frames=frames, seed=index)
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    for class_name in HMDB51_CLASSES:
        for split in (1, 2, 3):
            lines = SPLIT_FILES.get((class_name, split), [])
            (splits / f"{class_name}_test_split{split}.txt").write_text("".join(f"{line}\n" for line in lines))
    return root


@pytest.fixture(scope="module")
def hmdb_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_hmdb51(tmp_path_factory.mktemp("hmdb51"))


def split_file(root: Path, class_name: str, split: int) -> Path:
    return root / "testTrainMulti_7030_splits" / f"{class_name}_test_split{split}.txt"


def test_classes_from_split_file_names_and_protocols(hmdb_root: Path) -> None:
    adapter = HMDB51Adapter(root=hmdb_root)
    assert ADAPTERS["hmdb51"] is HMDB51Adapter and adapter.modalities == ("rgb",)
    names = adapter.class_names()
    assert names == sorted(HMDB51_CLASSES) and len(names) == DATASETS["hmdb51"].num_classes
    protocols = adapter.protocols()
    assert tuple(protocols) == DATASETS["hmdb51"].protocols
    assert protocols["split3"] == {"field": "split3", "train": [1], "val": [2]}
    check_fields_cover(protocols, ["split1", "split2", "split3"])


def test_samples_carry_label_split_marks_clean_keys_and_paths(hmdb_root: Path) -> None:
    items = list(HMDB51Adapter(root=hmdb_root).entries())
    samples = [e for e in items if isinstance(e, SampleEntry)]
    got = {s.key: (s.label, s.fields["split1"], s.fields["split2"], s.fields["split3"]) for s in samples}
    assert got == EXPECTED
    assert [s.key for s in samples] == list(EXPECTED)  # class by class, split-1 file order
    wave = next(s for s in samples if s.key == WAVE_KEY)
    assert wave.rgb is not None and wave.rgb.path == hmdb_root / "hmdb51_org" / "wave" / WAVE_1
    assert (wave.rgb.start_frame, wave.rgb.end_frame) == (0, None)
    assert wave.origin == f"{split_file(hmdb_root, 'wave', 1)}:1"
    assert wave.meta == {"class_name": "wave"}
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", s.key) for s in samples)


def test_malformed_lines_and_key_clash_are_bad_entries(hmdb_root: Path) -> None:
    bad = {b.origin: b.reason for b in HMDB51Adapter(root=hmdb_root).entries() if isinstance(b, BadEntry)}
    clash, one_field, mark = (
        f"{split_file(hmdb_root, 'wave', 1)}:2",
        f"{split_file(hmdb_root, 'wave', 2)}:2",
        f"{split_file(hmdb_root, 'wave', 3)}:1",
    )
    assert set(bad) == {clash, one_field, mark}
    # The clash names both videos and the origin of the first.
    assert WAVE_2 in bad[clash] and WAVE_1 in bad[clash] and f"{split_file(hmdb_root, 'wave', 1)}:1" in bad[clash]
    assert "Wave_without_a_mark.avi" in bad[one_field]
    assert "'3'" in bad[mark]


def test_a_class_missing_a_split_file_is_refused(tmp_path: Path) -> None:
    root = make_hmdb51(tmp_path)
    split_file(root, "kiss", 2).unlink()
    with pytest.raises(ValueError, match=r"class 'kiss' has no split file for split\(s\) \[2\]"):
        HMDB51Adapter(root=root).class_names()


def test_prepare_writes_the_listed_videos_and_records_the_bad_lines(hmdb_root: Path, tmp_path: Path) -> None:
    from actrec.data.decode import num_frames
    from actrec.data.prepare import PrepareError, prepare_dataset
    from actrec.data.shards import iter_shard_members, load_index

    adapter = HMDB51Adapter(root=hmdb_root)
    out = tmp_path / "prepared"
    summary = prepare_dataset(adapter, out, samples_per_shard=2, short_side=0, progress=lambda _: None)
    assert summary.num_samples == len(EXPECTED)
    assert sorted(s["origin"] for s in summary.skipped) == sorted(
        [
            f"{split_file(hmdb_root, 'wave', 1)}:2",
            f"{split_file(hmdb_root, 'wave', 2)}:2",
            f"{split_file(hmdb_root, 'wave', 3)}:1",
        ]
    )
    index = load_index(out)
    assert index["splits"] == adapter.protocols()
    assert index["class_names"] == sorted(HMDB51_CLASSES)
    samples = {s["key"]: s for shard in index["shards"] for s in shard["samples"]}
    assert {k: (s["label"], s["split1"], s["split2"], s["split3"]) for k, s in samples.items()} == EXPECTED
    frames = {}
    for shard in index["shards"]:
        for key, members in iter_shard_members(out / shard["path"]):
            assert members is not None
            frames[key] = num_frames(members["rgb.mp4"])
    assert frames == {
        "April_09_brush_hair_u_nm_np1_ba_goo_0": 10,
        "Brushing_Hair_with_Beth_brush_hair_h_nm_np1_le_goo_0": 7,
        WAVE_KEY: 9,
    }

    with pytest.raises(PrepareError, match=re.escape(f"{split_file(hmdb_root, 'wave', 3)}:1")):
        prepare_dataset(adapter, tmp_path / "strict", short_side=0, strict=True, progress=lambda _: None)


def test_prepared_fixture_trains(hmdb_root: Path, tmp_path: Path, prepared_trains) -> None:
    from actrec.data.prepare import prepare_dataset

    out = tmp_path / "prepared"
    prepare_dataset(HMDB51Adapter(root=hmdb_root), out, short_side=0, progress=lambda _: None)
    counts = prepared_trains(out, "hmdb51", modality="rgb")
    assert counts == {"train": 2, "val": 1}  # split1: EXPECTED's split1 marks
