"""NTU RGB+D 60 / 120 adapters on a tiny tree in the published layout (real .avi, 16-bit PNGs, .skeleton text)."""

from __future__ import annotations

import io
import json
import math
import tarfile
from pathlib import Path

import av
import numpy as np
import pytest
from fixture_media import depth_frames_mm, write_empty_file, write_pattern_video, write_png16
from PIL import Image

from actrec.data.adapters.base import ADAPTERS, BadEntry, FrameFolderRef, SampleEntry, check_fields_cover
from actrec.data.adapters.ntu import NTURGBD60Adapter, NTURGBD120Adapter, read_skeleton
from actrec.data.config import DATASETS

FRAMES = 8
RGB_H, RGB_W = 48, 64
DEPTH_H, DEPTH_W = 32, 40
BIG_BODY_ID = "72057594037931101"  # real Kinect body IDs exceed float precision


def joint_lines(xyz: np.ndarray, color: np.ndarray, states: np.ndarray) -> list[str]:
    """25 joint lines: x y z depthX depthY colorX colorY orientationW..Z trackingState."""
    lines = []
    for j in range(25):
        x, y, z = xyz[j]
        cx, cy = color[j]
        lines.append(f"{x:.7g} {y:.7g} {z:.7g} {cx / 4:.7g} {cy / 4:.7g} {cx:.7g} {cy:.7g} 0.1 0.2 0.3 0.9 {states[j]}")
    return lines


def skeleton_text(frames: list[list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]]) -> str:
    """The .skeleton text of ``frames``: per frame a list of (bodyID, xyz (25, 3), colour (25, 2), states (25,))."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body_id, xyz, color, states in bodies:
            lines.append(f"{body_id} 0 1 1 1 1 0 0.02764709 0.05745083 2")
            lines.append("25")
            lines.extend(joint_lines(xyz, color, states))
    return "\n".join(lines) + "\n"


def one_body_frames() -> list[list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]]:
    """One body: joint j at colour (10 + j + t/2, 8 + j); joint 23 has NaN colour, joint 24 is not tracked,
    joint 22 is inferred (trackingState 1)."""
    frames = []
    for t in range(FRAMES):
        j = np.arange(25, dtype=np.float64)
        color = np.stack([10 + j + t * 0.5, 8 + j], axis=1)
        color[23] = np.nan
        xyz = np.stack([j * 0.01, j * 0.02 + t * 0.01, np.full(25, 3.0)], axis=1)
        states = np.full(25, 2)
        states[22], states[24] = 1, 0
        frames.append([(BIG_BODY_ID, xyz, color, states)])
    return frames


def three_body_frames() -> list[list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]]:
    """Body 1001: still but spread over metres (a table); 1002: moves a lot; 1003: moves a little, frames 2-5."""
    frames = []
    rng = np.random.default_rng(0)
    states = np.full(25, 2)
    for t in range(FRAMES):
        table_xyz = np.stack([np.linspace(-5, 5, 25), np.linspace(-5, 5, 25), np.full(25, 4.0)], axis=1)
        mover_xyz = rng.normal(0.0, 0.5, size=(25, 3)) + t * 0.3
        small_xyz = rng.normal(0.0, 0.05, size=(25, 3)) + 2.0
        bodies = [
            ("1001", table_xyz, np.full((25, 2), 5.0), states),
            ("1002", mover_xyz, np.full((25, 2), 20.0 + t), states),
        ]
        if 2 <= t <= 5:
            bodies.append(("1003", small_xyz, np.full((25, 2), 40.0 + t), states))
        frames.append(bodies)
    return frames


def write_sample(
    root: Path, name: str, *, rgb: bool = True, depth: bool = True, skeleton: str | None = None, seed: int = 0
) -> None:
    if rgb:
        video = root / "nturgb+d_rgb" / f"{name}_rgb.avi"
        write_pattern_video(video, frames=FRAMES, height=RGB_H, width=RGB_W, seed=seed)
    if depth:
        for t, frame in enumerate(depth_frames_mm(FRAMES, DEPTH_H, DEPTH_W, seed=seed), start=1):
            write_png16(root / "nturgb+d_depth_masked" / name / f"MDepth-{t:08d}.png", frame)
    if skeleton is not None:
        path = root / "nturgb+d_skeletons" / f"{name}.skeleton"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(skeleton)


ONE_BODY = "S001C001P001R001A001"  # cross-subject train (P1), cross-view val (C1)
THREE_BODIES = "S001C002P003R002A013"  # cross-subject val (P3), cross-view train (C2)
NO_SKELETON = "S002C003P002R001A060"  # skeleton file missing
TRUNCATED = "S003C001P004R001A002"  # skeleton with a truncated joint line
NO_DEPTH = "S004C002P005R002A003"  # no depth folder
ACTION_61 = "S001C001P001R001A061"  # NTU 120 only (action)
SETUP_18 = "S018C002P045R001A120"  # NTU 120 only (setup, performer, action)
BAD_NAME = "S1C1P1R1A1_rgb.avi"


@pytest.fixture(scope="module")
def ntu_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ntu")
    truncated = skeleton_text(one_body_frames()).splitlines()
    truncated[10] = " ".join(truncated[10].split()[:7])  # frame 1, joint 7 cut after colorY
    write_sample(root, ONE_BODY, skeleton=skeleton_text(one_body_frames()), seed=1)
    write_sample(root, THREE_BODIES, skeleton=skeleton_text(three_body_frames()), seed=2)
    write_sample(root, NO_SKELETON, seed=3)
    write_sample(root, TRUNCATED, skeleton="\n".join(truncated) + "\n", seed=4)
    write_sample(root, NO_DEPTH, depth=False, skeleton=skeleton_text(one_body_frames()), seed=5)
    write_sample(root, ACTION_61, skeleton=skeleton_text(one_body_frames()), seed=6)
    write_sample(root, SETUP_18, skeleton=skeleton_text(one_body_frames()), seed=7)
    write_empty_file(root / "nturgb+d_rgb" / BAD_NAME)
    return root


def split(items: list[SampleEntry | BadEntry]) -> tuple[dict[str, SampleEntry], list[BadEntry]]:
    good = {e.key: e for e in items if isinstance(e, SampleEntry)}
    return good, [e for e in items if isinstance(e, BadEntry)]


def test_registered_with_config_protocols_and_class_counts(tmp_path: Path) -> None:
    for name, cls in (("ntu_rgbd_60", NTURGBD60Adapter), ("ntu_rgbd_120", NTURGBD120Adapter)):
        assert ADAPTERS[name] is cls
        adapter = cls(root=tmp_path)
        assert list(adapter.protocols()) == list(DATASETS[name].protocols)
        assert len(adapter.class_names()) == DATASETS[name].num_classes
        check_fields_cover(adapter.protocols(), ["subject", "view", "setup", "replication"])
    names = NTURGBD120Adapter(root=tmp_path).class_names()
    assert names[0] == "drink water" and names[1] == "eat meal/snack" and names[59] == "walking apart from each other"
    assert names[60] == "put on headphone" and names[119] == "finger-guessing game (playing rock-paper-scissors)"
    assert NTURGBD60Adapter(root=tmp_path).class_names() == names[:60]


def test_protocols_are_the_published_ones(tmp_path: Path) -> None:
    ntu60 = NTURGBD60Adapter(root=tmp_path).protocols()
    train60 = [1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38]
    assert ntu60["cross_subject"] == {
        "field": "subject",
        "train": train60,
        "val": [p for p in range(1, 41) if p not in train60],
    }
    assert ntu60["cross_view"] == {"field": "view", "train": [2, 3], "val": [1]}
    ntu120 = NTURGBD120Adapter(root=tmp_path).protocols()
    subject = ntu120["cross_subject"]
    assert len(subject["train"]) == 53 and subject["train"][:20] == train60 and subject["train"][-3:] == [98, 100, 103]
    assert sorted(subject["train"] + subject["val"]) == list(range(1, 107)) and len(subject["val"]) == 53
    assert ntu120["cross_setup"] == {"field": "setup", "train": list(range(2, 33, 2)), "val": list(range(1, 33, 2))}
    assert ntu120["cross_view"] == ntu60["cross_view"]


def test_options_and_modalities(tmp_path: Path) -> None:
    assert NTURGBD60Adapter(root=tmp_path).modalities == ("rgb", "depth", "pose")
    assert NTURGBD120Adapter(root=tmp_path, depth=False).modalities == ("rgb", "pose")
    assert NTURGBD60Adapter(root=str(tmp_path), rgb=False, pose=False).root == tmp_path
    with pytest.raises(ValueError, match="at least one"):
        NTURGBD60Adapter(root=tmp_path, rgb=False, depth=False, pose=False)
    with pytest.raises(ValueError, match="crop_to_body needs pose"):
        NTURGBD60Adapter(root=tmp_path, pose=False, crop_to_body=True)
    with pytest.raises(ValueError, match="body_margin"):
        NTURGBD60Adapter(root=tmp_path, body_margin=-0.1)
    with pytest.raises(FileNotFoundError, match="nturgb\\+d_rgb"):
        list(NTURGBD60Adapter(root=tmp_path).entries())


def test_ntu60_entries_fields_and_bad_entries(ntu_root: Path) -> None:
    items = list(NTURGBD60Adapter(root=ntu_root).entries())
    assert items == list(NTURGBD60Adapter(root=ntu_root).entries())  # deterministic
    good, bad = split(items)
    assert list(good) == sorted([ONE_BODY, THREE_BODIES, NO_SKELETON, TRUNCATED, NO_DEPTH])
    entry = good[THREE_BODIES]
    assert entry.label == 12 and entry.meta == {"class_name": "tear up paper"}
    assert dict(entry.fields) == {"subject": 3, "view": 2, "setup": 1, "replication": 2}
    assert entry.rgb is not None and entry.rgb.path == ntu_root / "nturgb+d_rgb" / f"{THREE_BODIES}_rgb.avi"
    assert entry.pose == ntu_root / "nturgb+d_skeletons" / f"{THREE_BODIES}.skeleton"
    assert isinstance(entry.depth, FrameFolderRef)
    assert [p.name for p in entry.depth.paths] == [f"MDepth-{t:08d}.png" for t in range(1, FRAMES + 1)]
    assert entry.origin == str(entry.rgb.path)
    assert good[NO_SKELETON].label == 59 and good[NO_SKELETON].pose is not None  # set although the file is missing
    assert not good[NO_SKELETON].pose.exists()
    assert good[NO_DEPTH].depth == FrameFolderRef(paths=())
    origins = {b.origin: b.reason for b in bad}
    assert origins[str(ntu_root / "nturgb+d_rgb" / BAD_NAME)].startswith("rgb name does not match")
    a61 = origins[str(ntu_root / "nturgb+d_rgb" / f"{ACTION_61}_rgb.avi")]
    assert "action 61" in a61 and "not part of NTU RGB+D 60" in a61
    assert "not part of NTU RGB+D 60" in origins[str(ntu_root / "nturgb+d_rgb" / f"{SETUP_18}_rgb.avi")]
    assert len(bad) == 3


def test_ntu120_accepts_extension_and_modality_selection(ntu_root: Path) -> None:
    good, bad = split(list(NTURGBD120Adapter(root=ntu_root).entries()))
    assert [b.origin for b in bad] == [str(ntu_root / "nturgb+d_rgb" / BAD_NAME)]
    assert good[ACTION_61].label == 60 and good[ACTION_61].meta["class_name"] == "put on headphone"
    assert dict(good[SETUP_18].fields) == {"subject": 45, "view": 2, "setup": 18, "replication": 1}
    assert good[SETUP_18].label == 119
    protocols = NTURGBD120Adapter(root=ntu_root).protocols()
    assert 18 in protocols["cross_setup"]["train"] and 1 in protocols["cross_setup"]["val"]
    assert 45 in protocols["cross_subject"]["train"] and 3 in protocols["cross_subject"]["val"]
    # Skeletons only: names come from the skeleton folder alone; the bad RGB name is not looked at.
    poses, bad = split(list(NTURGBD120Adapter(root=ntu_root, rgb=False, depth=False).entries()))
    assert not bad and NO_SKELETON not in poses and len(poses) == 6
    assert all(e.rgb is None and e.depth is None and e.origin == str(e.pose) for e in poses.values())


def test_depth_numbering_gap_and_foreign_names(tmp_path: Path) -> None:
    folder = tmp_path / "nturgb+d_depth_masked"
    frame = depth_frames_mm(1, DEPTH_H, DEPTH_W)[0]
    write_png16(folder / ONE_BODY / "MDepth-00000001.png", frame)
    write_png16(folder / ONE_BODY / "MDepth-00000003.png", frame)
    write_png16(folder / "notes" / "MDepth-00000001.png", frame)
    (folder / "readme.txt").write_text("not a sample")
    _, bad = split(list(NTURGBD60Adapter(root=tmp_path, rgb=False, pose=False).entries()))
    origins = {b.origin: b.reason for b in bad}
    assert "MDepth-00000002.png missing" in origins[str(folder / ONE_BODY)]
    assert str(folder / "notes") in origins and str(folder / "readme.txt") in origins


def test_read_pose_one_body_values(ntu_root: Path) -> None:
    pose = NTURGBD60Adapter(root=ntu_root).read_pose(ntu_root / "nturgb+d_skeletons" / f"{ONE_BODY}.skeleton")
    assert pose.shape == (FRAMES, 2, 25, 3) and pose.dtype == np.float32
    assert np.isfinite(pose).all()
    t = 3
    np.testing.assert_allclose(pose[t, 0, 5], [10 + 5 + t * 0.5, 8 + 5, 1.0], rtol=1e-6)
    assert pose[t, 0, 22, 2] == 0.5  # inferred
    np.testing.assert_array_equal(pose[t, 0, 24], [0.0, 0.0, 0.0])  # not tracked -> absent
    np.testing.assert_array_equal(pose[t, 0, 23], [0.0, 0.0, 0.0])  # NaN colour -> absent
    assert not pose[:, 1].any()  # second body absent -> zeros


def test_read_pose_keeps_the_two_most_moving_bodies(ntu_root: Path) -> None:
    pose = read_skeleton(ntu_root / "nturgb+d_skeletons" / f"{THREE_BODIES}.skeleton")
    assert pose.shape == (FRAMES, 2, 25, 3)
    # The still "table" 1001 is dropped although its joints spread widest; 1002 (slot 0) and 1003 (slot 1) remain.
    np.testing.assert_allclose(pose[:, 0, 0, 0], 20.0 + np.arange(FRAMES))
    np.testing.assert_allclose(pose[2:6, 1, 0, 0], 40.0 + np.arange(2, 6))
    assert not pose[[0, 1, 6, 7], 1].any()
    assert not (pose[..., 0] == 5.0).any()


def test_read_pose_malformed_files_name_file_and_line(ntu_root: Path, tmp_path: Path) -> None:
    path = ntu_root / "nturgb+d_skeletons" / f"{TRUNCATED}.skeleton"
    with pytest.raises(ValueError, match=rf"{TRUNCATED}\.skeleton:11: expected 12 joint values, got 7"):
        read_skeleton(path)
    good = skeleton_text(one_body_frames()).splitlines()
    cases = {
        "bad frame count": (["eight", *good[1:]], ":1: expected the frame count"),
        "joint count": ([*good[:3], "24", *good[4:]], ":4: expected 25 joints, got 24"),
        "not a number": ([*good[:5], good[5].replace("0.1", "x.1", 1), *good[6:]], ":6: non-numeric"),
        "tracking state": ([*good[:5], good[5][:-1] + "3", *good[6:]], ":6: joint trackingState"),
        "cut short": (good[:-5], f":{len(good) - 4}: file ends before joint 21"),
        "trailing": ([*good, "1"], f":{len(good) + 1}: unexpected content"),
    }
    for name, (lines, message) in cases.items():
        bad = tmp_path / f"{name.replace(' ', '_')}.skeleton"
        bad.write_text("\n".join(lines) + "\n")
        with pytest.raises(ValueError, match=message) as info:
            read_skeleton(bad)
        assert str(bad) in str(info.value), name
    empty = tmp_path / "empty.skeleton"
    empty.write_text("0\n")
    assert read_skeleton(empty).shape == (0, 2, 25, 3)


def test_rgb_crop_box(ntu_root: Path) -> None:
    path = ntu_root / "nturgb+d_skeletons" / f"{ONE_BODY}.skeleton"
    adapter = NTURGBD60Adapter(root=ntu_root, crop_to_body=True, body_margin=0.15)
    entry = split(list(adapter.entries()))[0][ONE_BODY]
    pose = adapter.read_pose(path)
    # Seen joints 0-22 (23 NaN, 24 untracked): x in [10, 32 + 3.5], y in [8, 30].
    dx, dy = 0.15 * (35.5 - 10), 0.15 * (30 - 8)
    expected = (math.floor(10 - dx), math.floor(8 - dy), math.ceil(35.5 + dx), math.ceil(30 + dy))
    assert adapter.rgb_crop_box(entry, pose) == expected == (6, 4, 40, 34)
    assert NTURGBD60Adapter(root=ntu_root).rgb_crop_box(entry, pose) is None  # disabled by default
    assert adapter.rgb_crop_box(entry, np.zeros_like(pose)) is None  # no joint seen
    assert adapter.rgb_crop_box(entry, None) is None


def _members(out: Path, index: dict) -> dict[str, dict[str, bytes]]:
    from actrec.data.shards import iter_shard_members

    found: dict[str, dict[str, bytes]] = {}
    for shard in index["shards"]:
        for key, members in iter_shard_members(out / shard["path"]):
            assert members is not None, key
            found[key] = members
    return found


def test_prepare_ntu60_fixture(ntu_root: Path, tmp_path: Path) -> None:
    from actrec.data.prepare import PrepareError, prepare_dataset
    from actrec.data.shards import load_index, split_shards

    adapter = NTURGBD60Adapter(root=ntu_root)
    out = tmp_path / "prepared"
    summary = prepare_dataset(adapter, out, samples_per_shard=2, short_side=0, progress=lambda _: None)
    assert summary.num_samples == 2
    index = load_index(out)
    assert index["dataset"] == "ntu_rgbd_60" and index["num_classes"] == 60
    assert index["splits"] == adapter.protocols()
    assert index["members"] == {"rgb": "rgb.mp4", "depth": "depth16.tar", "pose": "pose.npy"}
    samples = {s["key"]: s for shard in index["shards"] for s in shard["samples"]}
    assert samples[ONE_BODY] == {"key": ONE_BODY, "label": 0, "subject": 1, "view": 1, "setup": 1, "replication": 1}
    assert set(samples) == {ONE_BODY, THREE_BODIES}

    def keys(protocol: str, which: str) -> set[str]:
        return {s["key"] for shard in split_shards(index, protocol, which) for s in shard["samples"]}

    assert keys("cross_subject", "train") == {ONE_BODY} and keys("cross_subject", "val") == {THREE_BODIES}
    assert keys("cross_view", "train") == {THREE_BODIES} and keys("cross_view", "val") == {ONE_BODY}

    reasons = {record["origin"]: record["reason"] for record in summary.skipped}
    rgb_dir = ntu_root / "nturgb+d_rgb"
    assert "rgb name does not match" in reasons[str(rgb_dir / BAD_NAME)]
    assert "not part of NTU RGB+D 60" in reasons[str(rgb_dir / f"{ACTION_61}_rgb.avi")]
    assert "not part of NTU RGB+D 60" in reasons[str(rgb_dir / f"{SETUP_18}_rgb.avi")]
    assert "missing pose file" in reasons[str(rgb_dir / f"{NO_SKELETON}_rgb.avi")]
    assert "depth" in reasons[str(rgb_dir / f"{NO_DEPTH}_rgb.avi")]
    assert f"{TRUNCATED}.skeleton:11" in reasons[str(rgb_dir / f"{TRUNCATED}_rgb.avi")]
    assert len(summary.skipped) == 6 and len(index["skipped"]) == 6

    members = _members(out, index)
    with tarfile.open(fileobj=io.BytesIO(members[ONE_BODY]["depth16.tar"])) as tar:
        names = tar.getnames()
        assert names == [f"{t:06d}.png" for t in range(FRAMES)]
        stored = np.stack([np.asarray(Image.open(io.BytesIO(tar.extractfile(n).read()))) for n in names])
    np.testing.assert_array_equal(stored.astype(np.uint16), depth_frames_mm(FRAMES, DEPTH_H, DEPTH_W, seed=1))
    assert stored.max() > 255
    pose = np.load(io.BytesIO(members[THREE_BODIES]["pose.npy"]))
    assert pose.shape == (FRAMES, 2, 25, 3) and pose.dtype == np.float32
    np.testing.assert_allclose(pose, read_skeleton(ntu_root / "nturgb+d_skeletons" / f"{THREE_BODIES}.skeleton"))
    meta = json.loads(members[ONE_BODY]["json"])
    assert meta["class_name"] == "drink water" and meta["rgb_size"] == [RGB_H, RGB_W]

    with pytest.raises(PrepareError, match=BAD_NAME):
        prepare_dataset(adapter, tmp_path / "strict", short_side=0, strict=True, progress=lambda _: None)


def test_prepare_crops_rgb_to_the_body(ntu_root: Path, tmp_path: Path) -> None:
    from actrec.data.prepare import prepare_dataset
    from actrec.data.shards import load_index

    adapter = NTURGBD60Adapter(root=ntu_root, depth=False, crop_to_body=True)
    out = tmp_path / "cropped"
    prepare_dataset(adapter, out, short_side=0, progress=lambda _: None)
    members = _members(out, load_index(out))[ONE_BODY]
    assert json.loads(members["json"])["rgb_crop_box"] == [6, 4, 40, 34]
    with av.open(io.BytesIO(members["rgb.mp4"])) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == FRAMES and frames[0].shape == (30, 34, 3)
    pose = np.load(io.BytesIO(members["pose.npy"]))
    source = read_skeleton(ntu_root / "nturgb+d_skeletons" / f"{ONE_BODY}.skeleton")
    seen = source[..., 2] > 0
    np.testing.assert_allclose(pose[..., :2][seen], source[..., :2][seen] - np.array([6, 4], dtype=np.float32))


@pytest.mark.parametrize(
    ("cls", "name", "expected"),
    [
        (NTURGBD60Adapter, "ntu_rgbd_60", {"train": 1, "val": 1}),  # cross-subject: ONE_BODY / THREE_BODIES
        (NTURGBD120Adapter, "ntu_rgbd_120", {"train": 3, "val": 1}),  # + ACTION_61 (P1), SETUP_18 (P45) train
    ],
)
def test_prepared_fixture_trains(
    ntu_root: Path, tmp_path: Path, prepared_trains, cls: type, name: str, expected: dict[str, int]
) -> None:
    from actrec.data.prepare import prepare_dataset

    out = tmp_path / "prepared"
    prepare_dataset(cls(root=ntu_root), out, short_side=0, progress=lambda _: None)
    for modality in ("rgb", "depth", "pose"):
        counts = prepared_trains(out, name, modality=modality)
        assert counts == expected, (name, modality)
