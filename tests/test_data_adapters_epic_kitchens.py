"""EPIC-KITCHENS-100 adapters (verbs, nouns): a tiny tree in the published layout (annotation CSVs, class tables,
<participant>/videos/<video_id>.MP4) with real H.264 videos holding several segments each."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from fixture_media import write_pattern_video

from actrec.data.adapters.base import ADAPTERS, BadEntry, SampleEntry, check_fields_cover
from actrec.data.adapters.epic_kitchens import (
    ANNOTATION_COLUMNS,
    EpicKitchens100ActionsAdapter,
    EpicKitchens100Adapter,
    EpicKitchens100NounsAdapter,
)
from actrec.data.config import DATASETS

VERBS = ["take", "put", "wash", "open", "close"]  # ids 0-4 of EPIC_100_verb_classes.csv
NOUNS = ["tap", "plate", "cupboard", "spoon", "knife"]  # ids 0-4 of EPIC_100_noun_classes.csv
VIDEOS = {"P01/videos/P01_01.MP4": 16, "P22/videos/P22_07.MP4": 16}


def row(narration_id: str, start: int | str, stop: int | str, narration: str, verb: int, noun: int) -> list[str]:
    participant, video = narration_id.split("_")[0], "_".join(narration_id.split("_")[:2])
    noun_name = NOUNS[noun] if noun < len(NOUNS) else f"noun-{noun}"
    return [
        narration_id,
        participant,
        video,
        "00:00:01.089",
        "00:00:00.14",
        "00:00:03.37",
        str(start),
        str(stop),
        narration,
        VERBS[verb] if verb < len(VERBS) else f"verb-{verb}",
        str(verb),
        noun_name,
        str(noun),
        f"['{noun_name}', 'lid']",  # quoted by the csv writer: it holds a comma
        f"[{noun}, 7]",
    ]


TRAIN_ROWS = [
    row("P01_01_0", 1, 5, "open door", 3, 2),  # line 2: frames 1..5 -> [0, 5)
    row("P01_01_1", 6, 11, "take plate, then spoon", 0, 1),  # line 3 (narration with a comma)
    row("P01_01_2", 9, "abc", "put\nspoon", 1, 3),  # lines 4-5 (quoted newline): stop_frame not an integer
    row("P01_01_3", 12, 16, "wash knife", 2, 299),  # line 6: the last frames of the video
]
VALIDATION_ROWS = [
    row("P22_07_3", 10, 16, "close cupboard", 4, 2),  # line 2
    row("P22_07_3", 1, 2, "close cupboard again", 4, 2),  # line 3: duplicate narration_id
    row("P22_07_4", 5, 4, "take tap", 0, 0),  # line 4: stop before start
]
EXPECTED = {  # key -> (verb, noun, subset, subject, start, end)
    "P01_01_0": (3, 2, 1, 1, 0, 5),
    "P01_01_1": (0, 1, 1, 1, 5, 11),
    "P01_01_3": (2, 299, 1, 1, 11, 16),
    "P22_07_3": (4, 2, 2, 22, 9, 16),
}


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def class_rows(names: list[str], count: int, prefix: str) -> list[list[str]]:
    keys = names + [f"{prefix}-{i}" for i in range(len(names), count)]
    return [[str(i), key, f"['{key}', '{key}-ing']", "category"] for i, key in enumerate(keys)]


def make_epic(root: Path) -> Path:
    for index, (rel, frames) in enumerate(VIDEOS.items()):
        write_pattern_video(root / rel, frames=frames, seed=index)
    write_csv(root / "EPIC_100_train.csv", list(ANNOTATION_COLUMNS), TRAIN_ROWS)
    write_csv(root / "EPIC_100_validation.csv", list(ANNOTATION_COLUMNS), VALIDATION_ROWS)
    header = ["id", "key", "instances", "category"]
    write_csv(root / "EPIC_100_verb_classes.csv", header, class_rows(VERBS, 97, "verb"))
    write_csv(root / "EPIC_100_noun_classes.csv", header, class_rows(NOUNS, 300, "noun"))
    return root


@pytest.fixture(scope="module")
def epic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_epic(tmp_path_factory.mktemp("epic"))


def test_two_registered_adapters_with_their_class_tables_and_protocol(epic_root: Path) -> None:
    for name, cls, count, first in (
        ("epic_kitchens_100", EpicKitchens100Adapter, 97, "take"),
        ("epic_kitchens_100_nouns", EpicKitchens100NounsAdapter, 300, "tap"),
    ):
        adapter = cls(root=epic_root)
        assert ADAPTERS[name] is cls and adapter.modalities == ("rgb",)
        names = adapter.class_names()
        assert len(names) == DATASETS[name].num_classes == count and names[0] == first
        protocols = adapter.protocols()
        assert tuple(protocols) == DATASETS[name].protocols
        assert protocols["official"] == {"field": "subset", "train": [1], "val": [2]}
        check_fields_cover(protocols, ["subset", "subject"])


@pytest.mark.parametrize(("cls", "label_at"), [(EpicKitchens100Adapter, 0), (EpicKitchens100NounsAdapter, 1)])
def test_segments_carry_label_fields_trim_range_and_meta(epic_root: Path, cls: type, label_at: int) -> None:
    samples = [e for e in cls(root=epic_root).entries() if isinstance(e, SampleEntry)]
    assert [s.key for s in samples] == list(EXPECTED)
    for sample in samples:
        verb, noun, subset, subject, start, end = EXPECTED[sample.key]
        assert sample.label == (verb, noun)[label_at]
        assert sample.fields == {"subset": subset, "subject": subject}
        assert sample.rgb is not None and (sample.rgb.start_frame, sample.rgb.end_frame) == (start, end)
        assert sample.meta["verb_class"] == verb and sample.meta["noun_class"] == noun
        assert re.fullmatch(r"[A-Za-z0-9_-]+", sample.key)
    first = samples[1]
    assert first.rgb is not None and first.rgb.path == epic_root / "P01" / "videos" / "P01_01.MP4"
    assert first.origin == f"{epic_root / 'EPIC_100_train.csv'}:3"
    assert first.meta["narration"] == "take plate, then spoon"
    assert first.meta["participant_id"] == "P01" and first.meta["video_id"] == "P01_01"
    # Physical line numbers: the row after a quoted newline starts on line 6.
    assert samples[2].origin == f"{epic_root / 'EPIC_100_train.csv'}:6"


def test_malformed_rows_and_duplicate_ids_are_bad_entries(epic_root: Path) -> None:
    bad = {b.origin: b.reason for b in EpicKitchens100Adapter(root=epic_root).entries() if isinstance(b, BadEntry)}
    train, val = epic_root / "EPIC_100_train.csv", epic_root / "EPIC_100_validation.csv"
    assert set(bad) == {f"{train}:4", f"{val}:3", f"{val}:4"}
    assert "stop_frame must be an integer, got 'abc'" in bad[f"{train}:4"]
    assert "P22_07_3" in bad[f"{val}:3"] and f"{val}:2" in bad[f"{val}:3"]
    assert "start_frame <= stop_frame" in bad[f"{val}:4"]


def test_a_missing_column_is_refused_naming_the_file(tmp_path: Path) -> None:
    root = make_epic(tmp_path)
    write_csv(root / "EPIC_100_validation.csv", list(ANNOTATION_COLUMNS[:-1]), [r[:-1] for r in VALIDATION_ROWS])
    with pytest.raises(ValueError, match=r"EPIC_100_validation.csv: header lacks columns \['all_noun_classes'\]"):
        list(EpicKitchens100Adapter(root=root).entries())


def test_prepare_cuts_each_segment_out_of_its_video(epic_root: Path, tmp_path: Path) -> None:
    from actrec.data.decode import num_frames
    from actrec.data.prepare import PrepareError, prepare_dataset
    from actrec.data.shards import iter_shard_members, load_index

    adapter = EpicKitchens100Adapter(root=epic_root)
    out = tmp_path / "prepared"
    summary = prepare_dataset(adapter, out, samples_per_shard=2, short_side=0, progress=lambda _: None)
    assert summary.num_samples == len(EXPECTED)
    train, val = epic_root / "EPIC_100_train.csv", epic_root / "EPIC_100_validation.csv"
    assert sorted(s["origin"] for s in summary.skipped) == sorted([f"{train}:4", f"{val}:3", f"{val}:4"])
    index = load_index(out)
    assert index["splits"] == adapter.protocols()
    samples = {s["key"]: (s["label"], s["subset"], s["subject"]) for sh in index["shards"] for s in sh["samples"]}
    assert samples == {k: (v[0], v[2], v[3]) for k, v in EXPECTED.items()}
    frames = {}
    for shard in index["shards"]:
        for key, members in iter_shard_members(out / shard["path"]):
            assert members is not None
            frames[key] = num_frames(members["rgb.mp4"])
    assert frames == {key: v[5] - v[4] for key, v in EXPECTED.items()}  # stop - start + 1 frames each

    with pytest.raises(PrepareError, match=re.escape(f"{train}:4")):
        prepare_dataset(adapter, tmp_path / "strict", short_side=0, strict=True, progress=lambda _: None)


@pytest.mark.parametrize(
    ("cls", "name"),
    [(EpicKitchens100Adapter, "epic_kitchens_100"), (EpicKitchens100NounsAdapter, "epic_kitchens_100_nouns")],
)
def test_prepared_fixture_trains(epic_root: Path, tmp_path: Path, prepared_trains, cls: type, name: str) -> None:
    from actrec.data.prepare import prepare_dataset

    out = tmp_path / "prepared"
    prepare_dataset(cls(root=epic_root), out, short_side=0, progress=lambda _: None)
    counts = prepared_trains(out, name, modality="rgb")
    assert counts == {"train": 3, "val": 1}


def test_action_adapter_labels_verb_noun_pairs(epic_root: Path) -> None:
    adapter = EpicKitchens100ActionsAdapter(root=epic_root)
    assert ADAPTERS["epic_kitchens_100_actions"] is EpicKitchens100ActionsAdapter
    names = adapter.class_names()
    assert len(names) == DATASETS["epic_kitchens_100_actions"].num_classes == 97 * 300
    assert names[0] == "take tap" and names[300 + 1] == f"{VERBS[1]} {NOUNS[1]}"
    samples = [e for e in adapter.entries() if isinstance(e, SampleEntry)]
    assert [s.key for s in samples] == list(EXPECTED)
    for sample in samples:
        verb, noun = EXPECTED[sample.key][:2]
        assert sample.label == verb * 300 + noun and sample.meta["class_name"] == names[sample.label]
    # A noun id beyond the noun table cannot alias another action: its label is out of range for prepare.
    parsed = {"verb_class": 0, "noun_class": 300}
    assert adapter.label_of(parsed, names) == len(names)
