"""UCF-101 adapter: a tiny tree in the published layout (UCF-101/ + ucfTrainTestlist/) with real .avi clips."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fixture_media import write_pattern_video

from actrec.data.adapters.base import ADAPTERS, BadEntry, SampleEntry, check_fields_cover
from actrec.data.adapters.ucf101 import UCF101Adapter
from actrec.data.config import DATASETS

# classInd.txt of the published split archive, in id order (1-based there).
UCF101_CLASSES = (
    "ApplyEyeMakeup ApplyLipstick Archery BabyCrawling BalanceBeam BandMarching BaseballPitch Basketball "
    "BasketballDunk BenchPress Biking Billiards BlowDryHair BlowingCandles BodyWeightSquats Bowling "
    "BoxingPunchingBag BoxingSpeedBag BreastStroke BrushingTeeth CleanAndJerk CliffDiving CricketBowling "
    "CricketShot CuttingInKitchen Diving Drumming Fencing FieldHockeyPenalty FloorGymnastics FrisbeeCatch "
    "FrontCrawl GolfSwing Haircut Hammering HammerThrow HandstandPushups HandstandWalking HeadMassage HighJump "
    "HorseRace HorseRiding HulaHoop IceDancing JavelinThrow JugglingBalls JumpingJack JumpRope Kayaking Knitting "
    "LongJump Lunges MilitaryParade Mixing MoppingFloor Nunchucks ParallelBars PizzaTossing PlayingCello "
    "PlayingDaf PlayingDhol PlayingFlute PlayingGuitar PlayingPiano PlayingSitar PlayingTabla PlayingViolin "
    "PoleVault PommelHorse PullUps Punch PushUps Rafting RockClimbingIndoor RopeClimbing Rowing SalsaSpin "
    "ShavingBeard Shotput SkateBoarding Skiing Skijet SkyDiving SoccerJuggling SoccerPenalty StillRings "
    "SumoWrestling Surfing Swing TableTennisShot TaiChi TennisSwing ThrowDiscus TrampolineJumping Typing "
    "UnevenBars VolleyballSpiking WalkingWithDog WallPushups WritingOnBoard YoYo"
).split()

# Videos on disk: the folder and files of class 37 are spelled "HandStandPushups" as in the published archive.
VIDEOS = {
    "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi": 10,
    "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi": 12,
    "HandStandPushups/v_HandStandPushups_g08_c01.avi": 8,
    "YoYo/v_YoYo_g15_c02.avi": 9,
}
# List files; the lists (like the published ones) say "HandstandPushups/" for the HandStandPushups folder.
LISTS = {
    "trainlist01.txt": [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1",
        "HandstandPushups/v_HandStandPushups_g08_c01.avi 37",
        "YoYo/v_YoYo_g15_c02.avi 101",
        "YoYo/v_YoYo_g16_c01.avi 5",  # line 4: label disagrees with classInd (YoYo = 101)
    ],
    "testlist01.txt": ["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"],
    "trainlist02.txt": ["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1", "YoYo/v_YoYo_g15_c02.avi 101"],
    "testlist02.txt": [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi",
        "",  # blank lines are skipped but still counted
        "HandstandPushups/v_HandStandPushups_g08_c01.avi",
    ],
    "trainlist03.txt": [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1",
        "NoSuchClass/v_NoSuchClass_g01_c01.avi 3",  # line 3: class not in classInd
        "HandstandPushups/v_HandStandPushups_g08_c01.avi 37",
    ],
    "testlist03.txt": ["YoYo/v_YoYo_g15_c02.avi 101"],  # line 1: a test line with a label field
}
EXPECTED = {  # key -> (label, split1, split2, split3, group)
    "v_ApplyEyeMakeup_g08_c01": (0, 1, 2, 1, 8),
    "v_HandStandPushups_g08_c01": (36, 1, 2, 1, 8),
    "v_YoYo_g15_c02": (100, 1, 1, 0, 15),
    "v_ApplyEyeMakeup_g01_c01": (0, 2, 1, 1, 1),
}


def make_ucf101(root: Path, lists: dict[str, list[str]] | None = None) -> Path:
    """The published layout under ``root`` with real MPEG-4 .avi clips."""
    for index, (rel, frames) in enumerate(VIDEOS.items()):
        write_pattern_video(root / "UCF-101" / rel, frames=frames, seed=index)
    lists_dir = root / "ucfTrainTestlist"
    lists_dir.mkdir(parents=True)
    (lists_dir / "classInd.txt").write_text("".join(f"{i} {name}\r\n" for i, name in enumerate(UCF101_CLASSES, 1)))
    for name, lines in (lists or LISTS).items():
        (lists_dir / name).write_text("".join(f"{line}\r\n" for line in lines))  # CRLF, as published
    return root


@pytest.fixture(scope="module")
def ucf_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ucf101(tmp_path_factory.mktemp("ucf101"))


def split_entries(adapter: UCF101Adapter) -> tuple[list[SampleEntry], list[BadEntry]]:
    items = list(adapter.entries())
    return [e for e in items if isinstance(e, SampleEntry)], [e for e in items if isinstance(e, BadEntry)]


def test_registered_with_the_configured_classes_and_protocols(ucf_root: Path) -> None:
    adapter = UCF101Adapter(root=ucf_root)
    assert ADAPTERS["ucf101"] is UCF101Adapter
    assert adapter.modalities == ("rgb",)
    names = adapter.class_names()
    assert len(names) == DATASETS["ucf101"].num_classes == 101
    assert names[0] == "ApplyEyeMakeup" and names[36] == "HandstandPushups" and names[100] == "YoYo"
    protocols = adapter.protocols()
    assert tuple(protocols) == DATASETS["ucf101"].protocols
    assert protocols["split2"] == {"field": "split2", "train": [1], "val": [2]}
    check_fields_cover(protocols, ["split1", "split2", "split3", "group"])


def test_one_sample_per_video_with_labels_split_marks_and_groups(ucf_root: Path) -> None:
    samples, _ = split_entries(UCF101Adapter(root=ucf_root))
    got = {
        s.key: (s.label, s.fields["split1"], s.fields["split2"], s.fields["split3"], s.fields["group"]) for s in samples
    }
    assert got == EXPECTED
    # Order of first listing: trainlist01 then testlist01.
    assert [s.key for s in samples] == list(EXPECTED)
    by_key = {s.key: s for s in samples}
    assert by_key["v_YoYo_g15_c02"].meta == {"class_name": "YoYo"}
    assert by_key["v_ApplyEyeMakeup_g01_c01"].origin == f"{ucf_root / 'ucfTrainTestlist' / 'testlist01.txt'}:1"
    for sample in samples:
        assert sample.rgb is not None and sample.rgb.start_frame == 0 and sample.rgb.end_frame is None
        assert re.fullmatch(r"[A-Za-z0-9_-]+", sample.key)


def test_handstand_pushups_case_mismatch_resolves_to_the_file_on_disk(ucf_root: Path) -> None:
    samples, _ = split_entries(UCF101Adapter(root=ucf_root))
    entry = next(s for s in samples if s.key == "v_HandStandPushups_g08_c01")
    assert entry.rgb is not None
    assert entry.rgb.path == ucf_root / "UCF-101" / "HandStandPushups" / "v_HandStandPushups_g08_c01.avi"
    assert entry.rgb.path.is_file()
    assert entry.meta["class_name"] == "HandstandPushups"


def test_malformed_lines_become_bad_entries_naming_file_and_line(ucf_root: Path) -> None:
    _, bad = split_entries(UCF101Adapter(root=ucf_root))
    lists = ucf_root / "ucfTrainTestlist"
    reasons = {b.origin: b.reason for b in bad}
    assert set(reasons) == {
        f"{lists / 'trainlist01.txt'}:4",
        f"{lists / 'trainlist03.txt'}:3",
        f"{lists / 'testlist03.txt'}:1",
    }
    assert "disagrees" in reasons[f"{lists / 'trainlist01.txt'}:4"]
    assert "NoSuchClass" in reasons[f"{lists / 'trainlist03.txt'}:3"]
    assert "got 'YoYo/v_YoYo_g15_c02.avi 101'" in reasons[f"{lists / 'testlist03.txt'}:1"]


def test_key_clash_and_train_test_conflict_are_bad_entries(tmp_path: Path) -> None:
    lists = {name: list(lines) for name, lines in LISTS.items()}
    # Same file stem under another class folder -> same key: the second listing is refused, naming the first.
    lists["testlist01.txt"].append("YoYo/v_ApplyEyeMakeup_g08_c01.avi")
    # A video in both lists of split 2.
    lists["trainlist02.txt"].append("HandstandPushups/v_HandStandPushups_g08_c01.avi 37")
    root = make_ucf101(tmp_path, lists)
    samples, bad = split_entries(UCF101Adapter(root=root))
    assert {s.key for s in samples} == set(EXPECTED)
    first = f"{root / 'ucfTrainTestlist' / 'trainlist01.txt'}:1"
    clash = next(b for b in bad if b.origin == f"{root / 'ucfTrainTestlist' / 'testlist01.txt'}:2")
    assert "v_ApplyEyeMakeup_g08_c01" in clash.reason and first in clash.reason
    conflict = next(b for b in bad if b.origin.startswith(str(root / "ucfTrainTestlist" / "testlist02.txt")))
    assert conflict.origin.endswith(":3") and "both the train and the test list of split 2" in conflict.reason


def test_missing_list_file_names_it(tmp_path: Path) -> None:
    lists = {name: lines for name, lines in LISTS.items() if name != "testlist02.txt"}
    root = make_ucf101(tmp_path, lists)
    with pytest.raises(FileNotFoundError, match="testlist02.txt"):
        list(UCF101Adapter(root=root).entries())


def test_prepare_writes_every_listed_video_and_records_the_bad_lines(ucf_root: Path, tmp_path: Path) -> None:
    from actrec.data.decode import num_frames
    from actrec.data.prepare import PrepareError, prepare_dataset
    from actrec.data.shards import iter_shard_members, load_index

    adapter = UCF101Adapter(root=ucf_root)
    out = tmp_path / "prepared"
    summary = prepare_dataset(adapter, out, samples_per_shard=3, short_side=0, progress=lambda _: None)
    assert summary.num_samples == len(EXPECTED)
    lists = ucf_root / "ucfTrainTestlist"
    assert sorted(s["origin"] for s in summary.skipped) == sorted(
        [f"{lists / 'trainlist01.txt'}:4", f"{lists / 'trainlist03.txt'}:3", f"{lists / 'testlist03.txt'}:1"]
    )
    index = load_index(out)
    assert index["splits"] == adapter.protocols()
    samples = {s["key"]: s for shard in index["shards"] for s in shard["samples"]}
    assert {k: (s["label"], s["split1"], s["split2"], s["split3"], s["group"]) for k, s in samples.items()} == EXPECTED
    frames = {}
    for shard in index["shards"]:
        for key, members in iter_shard_members(out / shard["path"]):
            assert members is not None
            frames[key] = num_frames(members["rgb.mp4"])
    assert frames == {Path(rel).stem: n for rel, n in VIDEOS.items()}  # untrimmed: every frame kept

    with pytest.raises(PrepareError, match=re.escape(f"{lists / 'trainlist01.txt'}:4")):
        prepare_dataset(adapter, tmp_path / "strict", short_side=0, strict=True, progress=lambda _: None)
    assert not (tmp_path / "strict" / "index.json").exists()


def test_prepared_fixture_trains(ucf_root: Path, tmp_path: Path, prepared_trains) -> None:
    from actrec.data.prepare import prepare_dataset

    out = tmp_path / "prepared"
    prepare_dataset(UCF101Adapter(root=ucf_root), out, short_side=0, progress=lambda _: None)
    counts = prepared_trains(out, "ucf101", modality="rgb")
    assert counts == {"train": 3, "val": 1}  # split1: EXPECTED's split1 marks
