"""THU-READ adapter: RGB_/D_ video folders -> samples with subject groups CS1-CS4, bad files, protocols, prepare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fixture_media import pattern_frames, write_pattern_video, write_video

from actrec.data.adapters import create_adapter
from actrec.data.adapters.base import ADAPTERS, BadEntry, SampleEntry, VideoRef, check_fields_cover
from actrec.data.adapters.thu_read import ThuReadAdapter
from actrec.data.config import DATASETS

FRAMES = 6
# name -> (label in the public split lists, subject id 1..8, group 1..4)
GOOD = {
    "zip_up_cgy_1": (0, 1, 1),
    "wear_watch_cwx_2": (8, 2, 1),
    "use_mobilephone_gs_3": (3, 4, 2),
    "read_book_lzy_1": (39, 6, 3),
    "throw_paperplane_wyy_2": (23, 8, 4),
}


def _write(path: Path, seed: int, *, grey: bool) -> None:
    if grey:
        write_video(path, pattern_frames(FRAMES, 24, 32, seed=seed).mean(axis=-1).astype(np.uint8))
    else:
        write_pattern_video(path, frames=FRAMES, height=24, width=32, seed=seed)


@pytest.fixture
def thu_root(tmp_path: Path) -> Path:
    """THU-READ as RGB/<subject>/RGB_*.avi and Depth/D_*.avi (nesting differs on purpose), plus bad files."""
    root = tmp_path / "THU-READ"
    for seed, name in enumerate(GOOD):
        subject = name.split("_")[-2]
        _write(root / "RGB" / subject / f"RGB_{name}.avi", seed, grey=False)
        _write(root / "Depth" / f"D_{name}.avi", seed, grey=True)
    _write(root / "RGB" / "cgy" / "RGB_juggle_cgy_1.avi", 10, grey=False)  # unknown action
    _write(root / "Depth" / "D_juggle_cgy_1.avi", 10, grey=True)
    _write(root / "RGB" / "fjw" / "RGB_fold_fjw_1.avi", 11, grey=False)  # no depth video
    _write(root / "Depth" / "D_plug_tys_1.avi", 12, grey=True)  # no RGB video
    (root / "RGB" / "readme.txt").write_text("not a video")
    return root


def test_entries_pair_rgb_and_depth_by_name_with_subject_groups(thu_root: Path) -> None:
    entries = list(ThuReadAdapter(root=thu_root).entries())
    samples = {e.key: e for e in entries if isinstance(e, SampleEntry)}
    assert set(samples) == {*GOOD, "fold_fjw_1"}
    for name, (label, subject, group) in GOOD.items():
        sample = samples[name]
        assert sample.label == label
        assert dict(sample.fields) == {"subject": subject, "group": group}
        rgb_path = thu_root / "RGB" / name.split("_")[-2] / f"RGB_{name}.avi"
        assert sample.rgb == VideoRef(path=rgb_path)
        assert sample.depth == VideoRef(path=thu_root / "Depth" / f"D_{name}.avi")
        assert sample.origin == str(rgb_path)
    assert samples["wear_watch_cwx_2"].meta == {"class_name": "wear_watch", "subject_name": "cwx", "repetition": 2}
    # No depth video found: the expected path is named, so prepare reports it as missing.
    assert samples["fold_fjw_1"].depth == VideoRef(path=thu_root / "Depth" / "fjw" / "D_fold_fjw_1.avi")
    assert entries == list(ThuReadAdapter(root=thu_root).entries())  # deterministic order


def test_unparseable_and_unpaired_videos_are_bad_entries(thu_root: Path) -> None:
    bad = [e for e in ThuReadAdapter(root=thu_root).entries() if isinstance(e, BadEntry)]
    reasons = {b.origin: b.reason for b in bad}
    # D_juggle_cgy_1 has its RGB video (reported once, for the action), so it is no orphan.
    assert set(reasons) == {
        str(thu_root / "RGB" / "cgy" / "RGB_juggle_cgy_1.avi"),
        str(thu_root / "Depth" / "D_plug_tys_1.avi"),
    }
    assert "unknown THU-READ action 'juggle'" in reasons[str(thu_root / "RGB" / "cgy" / "RGB_juggle_cgy_1.avi")]
    assert "without an RGB video" in reasons[str(thu_root / "Depth" / "D_plug_tys_1.avi")]


def test_subject_outside_the_groups_and_bad_names(tmp_path: Path) -> None:
    _write(tmp_path / "RGB" / "RGB_stir_abc_1.avi", 0, grey=False)
    _write(tmp_path / "RGB" / "RGB_stir.avi", 1, grey=False)
    reasons = sorted(e.reason for e in ThuReadAdapter(root=tmp_path).entries())
    assert len(reasons) == 2
    assert "is not RGB_<action>_<subject>_<repetition>" in reasons[0]
    assert "subject 'abc' is in no group" in reasons[1]


def test_protocols_leave_one_group_out(thu_root: Path) -> None:
    adapter = ThuReadAdapter(root=thu_root)
    protocols = adapter.protocols()
    assert tuple(protocols) == DATASETS["thu_read"].protocols
    assert protocols["cs1"] == {"field": "group", "train": [2, 3, 4], "val": [1]}
    assert protocols["cs4"] == {"field": "group", "train": [1, 2, 3], "val": [4]}
    check_fields_cover(protocols, ["subject", "group"])
    assert len(adapter.class_names()) == DATASETS["thu_read"].num_classes == 40
    assert len(set(adapter.class_names())) == 40
    assert ADAPTERS["thu_read"] is ThuReadAdapter


def test_layout_options(thu_root: Path, tmp_path: Path) -> None:
    # Re-assigned groups move a subject to another group.
    swapped = ThuReadAdapter(root=thu_root, subject_groups="wyy,cwx;fjw,gs;lhh,lzy;tys,cgy")
    fields = {e.key: dict(e.fields) for e in swapped.entries() if isinstance(e, SampleEntry)}
    assert fields["zip_up_cgy_1"] == {"subject": 8, "group": 4}
    assert fields["throw_paperplane_wyy_2"] == {"subject": 1, "group": 1}
    # Both modalities in one folder, told apart by prefix; options arrive as strings from the CLI.
    flat = tmp_path / "flat"
    _write(flat / "RGB_stir_gs_2.mp4", 0, grey=False)
    _write(flat / "D_stir_gs_2.mp4", 0, grey=True)
    adapter = create_adapter("thu_read", str(flat), rgb_dir=".", depth_dir=".")
    (entry,) = adapter.entries()
    assert isinstance(entry, SampleEntry) and entry.depth == VideoRef(path=flat / "D_stir_gs_2.mp4")
    with pytest.raises(ValueError, match="subject_groups must name 4"):
        ThuReadAdapter(root=thu_root, subject_groups="cgy,cwx;fjw,gs")
    with pytest.raises(ValueError, match="neither may start with the other"):
        ThuReadAdapter(root=thu_root, depth_dir="RGB", depth_prefix="")
    with pytest.raises(FileNotFoundError, match="RGB folder not found"):
        list(ThuReadAdapter(root=tmp_path / "nowhere").entries())


def test_prepare_writes_groups_and_reports_bad_files(thu_root: Path, tmp_path: Path) -> None:
    from actrec.data.decode import num_frames
    from actrec.data.prepare import PrepareError, prepare_dataset
    from actrec.data.shards import iter_shard_members, load_index, split_shards

    adapter = ThuReadAdapter(root=thu_root)
    out = tmp_path / "prepared"
    summary = prepare_dataset(adapter, out, samples_per_shard=2, short_side=0, progress=lambda _: None)
    assert summary.num_samples == len(GOOD)
    skipped = {s["origin"]: s["reason"] for s in summary.skipped}
    unknown = str(thu_root / "RGB" / "cgy" / "RGB_juggle_cgy_1.avi")
    no_depth = str(thu_root / "RGB" / "fjw" / "RGB_fold_fjw_1.avi")
    assert set(skipped) == {unknown, no_depth, str(thu_root / "Depth" / "D_plug_tys_1.avi")}
    assert "missing depth file" in skipped[no_depth]
    index = load_index(out)
    assert index["splits"] == adapter.protocols()
    samples = {s["key"]: s for shard in index["shards"] for s in shard["samples"]}
    assert samples == {n: {"key": n, "label": lab, "subject": s, "group": g} for n, (lab, s, g) in GOOD.items()}
    val = sorted(s["key"] for shard in split_shards(index, "cs1", "val") for s in shard["samples"])
    assert val == ["wear_watch_cwx_2", "zip_up_cgy_1"]
    for shard in index["shards"]:
        for _, members in iter_shard_members(out / shard["path"]):
            assert members is not None
            assert (num_frames(members["rgb.mp4"]), num_frames(members["depth.mp4"])) == (FRAMES, FRAMES)

    with pytest.raises(PrepareError, match="RGB_juggle_cgy_1.avi: unknown THU-READ action"):
        prepare_dataset(adapter, tmp_path / "strict", short_side=0, strict=True, progress=lambda _: None)


def test_prepared_fixture_trains(thu_root: Path, tmp_path: Path, prepared_trains) -> None:
    from actrec.data.prepare import prepare_dataset

    out = tmp_path / "prepared"
    prepare_dataset(ThuReadAdapter(root=thu_root), out, short_side=0, progress=lambda _: None)
    for modality in ("rgb", "depth"):
        counts = prepared_trains(out, "thu_read", modality=modality)  # cs1: groups 2-4 train, group 1 validates
        assert counts == {"train": 3, "val": 2}, modality
