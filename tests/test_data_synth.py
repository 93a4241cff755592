"""Synthetic RGB-D generator: determinism, members, decodability, and the class semantics models rely on."""

from __future__ import annotations

import dataclasses
import io
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from actrec.data.config import DataConfig
from actrec.data.decode import decode_frames, num_frames
from actrec.data.shards import iter_shard_members, load_index
from actrec.data.synth import (
    CLASS_NAMES,
    COCO_JOINTS,
    Motion,
    ensure_synthetic,
    generate_synthetic,
    make_appearance,
    make_view,
    render_clip,
    render_sample,
)

TINY = {"num_classes": 2, "subjects": 2, "views": 2, "repeats": 1, "frames": 4, "size": 16, "samples_per_shard": 3}
MOTION = Motion(phase=0.03, speed=1.1, jitter=(0.02, -0.01), depth=2.5, angle=0.7)


def _samples(root: Path, ext: str | None = None) -> dict[str, dict[str, bytes]]:
    """All complete samples of a dataset root: key -> {ext: bytes}."""
    index = load_index(root)
    out = {}
    for shard in index["shards"]:
        for key, members in iter_shard_members(root / shard["path"], {s["key"] for s in shard["samples"]}):
            assert members is not None, key
            out[key] = members
    return out


def _pose(members: dict[str, bytes]) -> np.ndarray:
    return np.load(io.BytesIO(members["pose.npy"]))


def _clip(label: int, subject: int = 0, view: int = 0, size: int = 32, frames: int = 8):
    return render_clip(
        label, make_appearance(subject, seed=0), make_view(view, seed=0, size=size), MOTION, frames=frames
    )


def test_same_seed_gives_identical_index_pose_and_frames(tmp_path: Path) -> None:
    a = generate_synthetic(tmp_path / "a", seed=5, progress=False, **TINY)
    b = generate_synthetic(tmp_path / "b", seed=5, progress=False, **TINY)
    c = generate_synthetic(tmp_path / "c", seed=6, progress=False, **TINY)
    assert json.loads(a.read_text()) == json.loads(b.read_text())
    samples_a, samples_b, samples_c = _samples(a.parent), _samples(b.parent), _samples(c.parent)
    assert samples_a.keys() == samples_b.keys() == samples_c.keys()
    for key in samples_a:
        assert _pose(samples_a[key]).tobytes() == _pose(samples_b[key]).tobytes()
    assert any(not np.array_equal(_pose(samples_a[k]), _pose(samples_c[k])) for k in samples_a)
    same = [render_sample(1, 1, 0, 0, frames=4, size=16, seed=5) for _ in range(2)]
    other = render_sample(1, 1, 0, 0, frames=4, size=16, seed=6)
    assert np.array_equal(same[0].rgb, same[1].rgb) and np.array_equal(same[0].depth, same[1].depth)
    assert not np.array_equal(same[0].rgb, other.rgb)


def test_every_sample_has_members_and_metadata(synthetic_cfg: DataConfig) -> None:
    root = Path(synthetic_cfg.root)
    index = load_index(root)
    assert index["dataset"] == "synthetic"
    assert index["class_names"] == list(CLASS_NAMES) and index["num_classes"] == 8
    assert set(index["modalities"]) == {"rgb", "depth", "pose"}
    entries = {s["key"]: s for shard in index["shards"] for s in shard["samples"]}
    assert len(entries) == index["num_samples"] == 8 * 2 * 2 * 1
    samples = _samples(root)
    assert samples.keys() == entries.keys()
    for key, members in samples.items():
        assert set(members) == {"rgb.mp4", "depth.mp4", "pose.npy", "json"}
        meta = json.loads(members["json"])
        entry = entries[key]
        assert (meta["label"], meta["subject"], meta["view"]) == (entry["label"], entry["subject"], entry["view"])
        assert meta["class_name"] == CLASS_NAMES[meta["label"]]
        assert meta["frames"] == 8 and meta["fps"] == index["fps"]
        pose = _pose(members)
        assert pose.dtype == np.float32 and pose.shape == (8, len(COCO_JOINTS), 3)
        assert np.all((pose[..., 2] >= 0) & (pose[..., 2] <= 1))


def test_videos_decode_to_written_frame_count_and_size(synthetic_cfg: DataConfig) -> None:
    members = next(iter(_samples(Path(synthetic_cfg.root)).values()))
    for ext in ("rgb.mp4", "depth.mp4"):
        assert num_frames(members[ext]) == 8
        frames = decode_frames(members[ext], list(range(8)), width=32, height=32)
        assert frames.shape == (8, 32, 32, 3) and frames.dtype == np.uint8
        assert decode_frames(members[ext], [0, 7], width=20, height=20).shape == (2, 20, 20, 3)
    depth = decode_frames(members["depth.mp4"], [0, 3], width=32, height=32).astype(int)
    # Grey video: all three decoded channels carry the same value (up to chroma rounding).
    assert np.abs(depth[..., 0] - depth[..., 1]).max() <= 2


def test_encoded_video_matches_rendered_frames(tmp_path: Path) -> None:
    generate_synthetic(tmp_path, seed=1, progress=False, **TINY)
    members = _samples(tmp_path)["s001_v000_r000_a001"]
    clip = render_sample(1, 1, 0, 0, frames=4, size=16, seed=1)
    rgb = decode_frames(members["rgb.mp4"], range(4), width=16, height=16).astype(float)
    depth = decode_frames(members["depth.mp4"], range(4), width=16, height=16)[..., 0].astype(float)
    # H.264 at crf 20 on noisy 16x16 frames: small mean error against what was rendered.
    assert np.abs(rgb - clip.rgb).mean() < 8
    assert np.abs(depth - clip.depth).mean() < 8


def test_approach_and_recede_share_static_rgb_and_differ_in_depth_direction() -> None:
    approach, recede = _clip(CLASS_NAMES.index("approach")), _clip(CLASS_NAMES.index("recede"))
    assert np.array_equal(approach.rgb, recede.rgb)
    assert np.array_equal(approach.rgb, np.broadcast_to(approach.rgb[:1], approach.rgb.shape))  # static actor
    bright_approach = approach.depth.reshape(8, -1).mean(axis=1)
    bright_recede = recede.depth.reshape(8, -1).mean(axis=1)
    assert np.all(np.diff(bright_approach) > 0)  # nearer = brighter
    assert np.all(np.diff(bright_recede) < 0)
    assert bright_approach[-1] - bright_approach[0] > 5


def test_reversed_classes_are_time_reversals() -> None:
    for forward, backward in ((0, 1), (2, 3), (6, 7)):
        a, b = _clip(forward), _clip(backward)
        assert np.array_equal(a.rgb, b.rgb[::-1]) and np.array_equal(a.pose, b.pose[::-1])
        assert not np.array_equal(a.rgb, b.rgb)


def test_motion_directions_in_pose() -> None:
    right, down = _clip(0).pose, _clip(2).pose
    centre_x, centre_y = right[:, :, 0].mean(axis=1), down[:, :, 1].mean(axis=1)
    assert np.all(np.diff(centre_x) > 0) and centre_x[-1] - centre_x[0] > 0.3 * 32
    assert np.all(np.diff(centre_y) > 0) and centre_y[-1] - centre_y[0] > 0.3 * 32
    clockwise = _clip(6).pose
    wrist = COCO_JOINTS.index("right_wrist")
    # Limb angle around the body centre (mean of the torso joints) grows: clockwise on screen (y points down).
    torso = clockwise[:, [5, 6, 11, 12], :2].mean(axis=1)
    arm = clockwise[:, wrist, :2] - torso
    turn = np.diff(np.unwrap(np.arctan2(arm[:, 1], arm[:, 0])))
    assert np.all(turn > 0)


def test_generated_classes_show_their_motion_after_encoding(synthetic_cfg: DataConfig) -> None:
    root = Path(synthetic_cfg.root)
    entries = {s["key"]: s for shard in load_index(root)["shards"] for s in shard["samples"]}
    for key, members in _samples(root).items():
        label = entries[key]["label"]
        pose = _pose(members)
        rgb = decode_frames(members["rgb.mp4"], [0, 7], width=32, height=32).astype(float)
        depth = decode_frames(members["depth.mp4"], [0, 7], width=32, height=32)[..., 0].astype(float)
        rgb_change, depth_change = np.abs(rgb[1] - rgb[0]).mean(), depth[1].mean() - depth[0].mean()
        x_shift = pose[-1, :, 0].mean() - pose[0, :, 0].mean()
        if CLASS_NAMES[label] == "move right":
            assert x_shift > 5 and rgb_change > 5
        elif CLASS_NAMES[label] == "move left":
            assert x_shift < -5 and rgb_change > 5
        elif CLASS_NAMES[label] == "approach":
            assert rgb_change < 5 and depth_change > 2
        elif CLASS_NAMES[label] == "recede":
            assert rgb_change < 5 and depth_change < -2


def test_index_splits_are_disjoint_and_cover_all(synthetic_cfg: DataConfig, tmp_path: Path) -> None:
    index = json.loads(generate_synthetic(tmp_path, **{**TINY, "subjects": 8, "views": 3}, progress=False).read_text())
    subjects, views = index["splits"]["cross_subject"], index["splits"]["cross_view"]
    assert subjects["field"] == "subject" and views["field"] == "view"
    assert subjects["train"] == [0, 1, 2, 3, 4, 5] and subjects["val"] == [6, 7]
    assert views["train"] == [0, 1] and views["val"] == [2]
    tiny = load_index(Path(synthetic_cfg.root))["splits"]
    assert tiny["cross_subject"]["train"] == [0] and tiny["cross_subject"]["val"] == [1]


def test_generate_prints_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate_synthetic(tmp_path, **TINY, progress=True)
    out = capsys.readouterr().out
    assert "3/8 samples written" in out and "8/8 samples written" in out


TINY_CFG = dict(
    synth_num_classes=2,
    synth_subjects=2,
    synth_views=2,
    synth_repeats=1,
    synth_frames=4,
    synth_size=16,
    num_frames=4,
    resize=16,
    crop_size=16,
)


def test_ensure_synthetic_generates_once_into_the_cache_and_reuses(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ACTREC_CACHE", str(tmp_path / "cache"))
    cfg = DataConfig(**TINY_CFG)
    roots: list[Path] = []
    threads = [threading.Thread(target=lambda: roots.append(ensure_synthetic(cfg, progress=False))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    root = roots[0]
    assert roots == [root] * 3 and root.parent == tmp_path / "cache" / "synthetic"
    assert sorted(p.name for p in root.parent.iterdir() if not p.name.endswith(".lock")) == [root.name]  # no temps
    stamp = (root / "index.json").stat().st_mtime_ns
    assert ensure_synthetic(cfg) == root
    assert (root / "index.json").stat().st_mtime_ns == stamp


def test_a_given_synthetic_root_is_only_read(tmp_path: Path) -> None:
    """data.root is never written: a missing or empty root is an error naming it, nothing is created (issue: a
    typo'd --data-root used to become a freshly generated synthetic set, with a lock file beside it)."""
    missing = tmp_path / "nowhere" / "set"
    with pytest.raises(FileNotFoundError, match=f"data root {missing} does not exist.*actrec data synth --out"):
        ensure_synthetic(DataConfig(root=str(missing), **TINY_CFG))
    assert list(tmp_path.iterdir()) == []
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o755)
    with pytest.raises(FileNotFoundError, match=f"data root {empty} is an empty directory"):
        ensure_synthetic(DataConfig(root=str(empty), **TINY_CFG))
    assert list(empty.iterdir()) == [] and (empty.stat().st_mode & 0o777) == 0o755
    written = tmp_path / "written"
    cfg = DataConfig(root=str(written), **TINY_CFG)
    generate_synthetic(written, **cfg.synth_params(), progress=False)
    assert ensure_synthetic(cfg) == written
    with pytest.raises(ValueError, match="generated with"):
        ensure_synthetic(dataclasses.replace(cfg, synth_seed=1))


def test_default_root_depends_on_cache_env_and_params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from actrec.data.config import default_synthetic_root

    monkeypatch.setenv("ACTREC_CACHE", str(tmp_path))
    base = default_synthetic_root(DataConfig())
    assert base.parent == tmp_path / "synthetic"
    assert default_synthetic_root(DataConfig(synth_seed=1)) != base
    assert default_synthetic_root(DataConfig(modality="depth")) == base  # not a generation parameter
