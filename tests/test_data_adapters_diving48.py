"""Diving48 V2 adapter: a tiny tree in the published layout (V2 JSONs, vocab, rgb/*.mp4) with real H.264 clips."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from fixture_media import write_pattern_video

from actrec.data.adapters.base import ADAPTERS, BadEntry, SampleEntry, check_fields_cover
from actrec.data.adapters.diving48 import Diving48Adapter
from actrec.data.config import DATASETS


def vocabulary() -> list[list[str]]:
    """48 distinct [takeoff, somersaults, twists, flight] entries; the first three are the published ones."""
    published = [
        ["Back", "15som", "05Twis", "FREE"],
        ["Back", "15som", "15Twis", "FREE"],
        ["Back", "15som", "25Twis", "FREE"],
    ]
    more = [
        list(c)
        for c in itertools.product(
            ["Forward", "Inward", "Reverse", "Back"],
            ["1som", "2som", "25som", "35som"],
            ["NoTwis", "1Twis"],
            ["PIKE", "TUCK"],
        )
    ]
    return (published + [m for m in more if m not in published])[:48]


VIDEOS = {"-mmq0PT-u8k_00155": 12, "-mmq0PT-u8k_00156": 14, "_8Vy3dlHg2w_00000": 10, "clip.v2_00001": 8}
TRAIN = [
    {"vid_name": "-mmq0PT-u8k_00155", "label": 0, "start_frame": 0, "end_frame": 11},  # whole clip (last index)
    {"vid_name": "-mmq0PT-u8k_00156", "label": 47, "start_frame": 3, "end_frame": 8},  # frames 3..8 -> 6 frames
    {"vid_name": "-mmq0PT-u8k_00157", "start_frame": 0, "end_frame": 40},  # #2: no label
    {"vid_name": "-mmq0PT-u8k_00158", "label": 48, "start_frame": 0, "end_frame": 40},  # #3: label out of range
    {"vid_name": "clip.v2_00001", "label": 2, "start_frame": 0, "end_frame": 8},  # key cleaned; end = frame count
]
TEST = [
    {"vid_name": "_8Vy3dlHg2w_00000", "label": 26, "start_frame": 0, "end_frame": 57},  # past the end -> clamped
    {"vid_name": "-mmq0PT-u8k_00155", "label": 0, "start_frame": 0, "end_frame": 11},  # #1: same key as train #0
    {"vid_name": "_8Vy3dlHg2w_00001", "label": "3", "start_frame": 0, "end_frame": 40},  # #2: label not an int
]
EXPECTED = {  # key -> (label, subset, start, end)
    "-mmq0PT-u8k_00155": (0, 1, 0, 12),
    "-mmq0PT-u8k_00156": (47, 1, 3, 9),
    "clip-v2_00001": (2, 1, 0, 9),
    "_8Vy3dlHg2w_00000": (26, 2, 0, 58),
}


def make_diving48(root: Path) -> Path:
    for index, (name, frames) in enumerate(VIDEOS.items()):
        write_pattern_video(root / "rgb" / f"{name}.mp4", frames=frames, seed=index)
    (root / "Diving48_vocab.json").write_text(json.dumps(vocabulary(), indent=2))
    (root / "Diving48_V2_train.json").write_text(json.dumps(TRAIN, indent=2))
    (root / "Diving48_V2_test.json").write_text(json.dumps(TEST, indent=2))
    return root


@pytest.fixture(scope="module")
def diving_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_diving48(tmp_path_factory.mktemp("diving48"))


def test_vocabulary_names_and_protocol(diving_root: Path) -> None:
    adapter = Diving48Adapter(root=diving_root)
    assert ADAPTERS["diving48"] is Diving48Adapter and adapter.modalities == ("rgb",)
    names = adapter.class_names()
    assert len(names) == DATASETS["diving48"].num_classes == 48
    assert names[0] == "Back, 15som, 05Twis, FREE"
    protocols = adapter.protocols()
    assert tuple(protocols) == DATASETS["diving48"].protocols
    assert protocols["official"] == {"field": "subset", "train": [1], "val": [2]}
    check_fields_cover(protocols, ["subset"])


def test_records_become_samples_with_subset_trim_range_and_clean_keys(diving_root: Path) -> None:
    samples = [e for e in Diving48Adapter(root=diving_root).entries() if isinstance(e, SampleEntry)]
    got = {s.key: (s.label, s.fields["subset"], s.rgb.start_frame, s.rgb.end_frame) for s in samples if s.rgb}
    assert got == EXPECTED
    assert [s.key for s in samples] == ["-mmq0PT-u8k_00155", "-mmq0PT-u8k_00156", "clip-v2_00001", "_8Vy3dlHg2w_00000"]
    cleaned = next(s for s in samples if s.key == "clip-v2_00001")
    assert cleaned.rgb is not None and cleaned.rgb.path == diving_root / "rgb" / "clip.v2_00001.mp4"
    assert cleaned.origin == f"{diving_root / 'Diving48_V2_train.json'}:#4"
    assert cleaned.meta["class_name"] == "Back, 15som, 25Twis, FREE" and cleaned.meta["vid_name"] == "clip.v2_00001"
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", s.key) for s in samples)


def test_malformed_records_and_duplicates_are_bad_entries(diving_root: Path) -> None:
    bad = {b.origin: b.reason for b in Diving48Adapter(root=diving_root).entries() if isinstance(b, BadEntry)}
    train, test = diving_root / "Diving48_V2_train.json", diving_root / "Diving48_V2_test.json"
    assert set(bad) == {f"{train}:#2", f"{train}:#3", f"{test}:#1", f"{test}:#2"}
    assert "['label']" in bad[f"{train}:#2"]
    assert "out of range [0, 48)" in bad[f"{train}:#3"]
    assert f"{train}:#0" in bad[f"{test}:#1"]  # the clash names the first record
    assert "integer" in bad[f"{test}:#2"]


def test_reversed_frame_range_and_non_list_json(tmp_path: Path) -> None:
    root = make_diving48(tmp_path)
    (root / "Diving48_V2_test.json").write_text(
        json.dumps([{"vid_name": "x_00001", "label": 1, "start_frame": 9, "end_frame": 3}])
    )
    bad = [e for e in Diving48Adapter(root=root).entries() if isinstance(e, BadEntry)]
    assert any(b.origin.endswith("Diving48_V2_test.json:#0") and "start_frame <= end_frame" in b.reason for b in bad)
    (root / "Diving48_V2_train.json").write_text(json.dumps({"vid_name": "x"}))
    with pytest.raises(ValueError, match="Diving48_V2_train.json: expected a JSON list"):
        list(Diving48Adapter(root=root).entries())


def test_prepare_trims_to_the_record_range(diving_root: Path, tmp_path: Path) -> None:
    from actrec.data.decode import num_frames
    from actrec.data.prepare import PrepareError, prepare_dataset
    from actrec.data.shards import iter_shard_members, load_index

    adapter = Diving48Adapter(root=diving_root)
    out = tmp_path / "prepared"
    summary = prepare_dataset(adapter, out, short_side=0, progress=lambda _: None)
    assert summary.num_samples == len(EXPECTED)
    train, test = diving_root / "Diving48_V2_train.json", diving_root / "Diving48_V2_test.json"
    assert sorted(s["origin"] for s in summary.skipped) == sorted(
        [f"{train}:#2", f"{train}:#3", f"{test}:#1", f"{test}:#2"]
    )
    index = load_index(out)
    assert index["splits"] == adapter.protocols()
    samples = {s["key"]: (s["label"], s["subset"]) for shard in index["shards"] for s in shard["samples"]}
    assert samples == {k: v[:2] for k, v in EXPECTED.items()}
    frames = {}
    for shard in index["shards"]:
        for key, members in iter_shard_members(out / shard["path"]):
            assert members is not None
            frames[key] = num_frames(members["rgb.mp4"])
    # Whole clips whether end_frame is the last index (12 of 12) or the count (8 of 8); 3..8 keeps 6; 57 is clamped.
    assert frames == {"-mmq0PT-u8k_00155": 12, "-mmq0PT-u8k_00156": 6, "clip-v2_00001": 8, "_8Vy3dlHg2w_00000": 10}

    with pytest.raises(PrepareError, match=re.escape(f"{test}:#2")):
        prepare_dataset(adapter, tmp_path / "strict", short_side=0, strict=True, progress=lambda _: None)


def test_prepared_fixture_trains(diving_root: Path, tmp_path: Path, prepared_trains) -> None:
    from actrec.data.prepare import prepare_dataset

    out = tmp_path / "prepared"
    prepare_dataset(Diving48Adapter(root=diving_root), out, short_side=0, progress=lambda _: None)
    counts = prepared_trains(out, "diving48", modality="rgb")
    assert counts == {"train": 3, "val": 1}
