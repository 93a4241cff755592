"""NTU RGB+D 60 and NTU RGB+D 120 in their published layout -> sample entries (RGB, masked depth, skeletons).

Datasets: Shahroudy et al., "NTU RGB+D: A Large Scale Dataset for 3D Human Activity Analysis", CVPR 2016
(Sec. 3: 60 actions, 40 performers, 17 setups, three Kinect v2 cameras; Sec. 4: the cross-subject and cross-view
protocols) and Liu et al., "NTU RGB+D 120: A Large-Scale Benchmark for 3D Human Activity Understanding",
TPAMI 2020 (120 actions, 106 performers, 32 setups; Sec. 4: cross-subject and cross-setup).

Published layout under ``root`` (folder names are options, defaults as released)::

    nturgb+d_rgb/<name>_rgb.avi                      1920x1080 colour video
    nturgb+d_depth_masked/<name>/MDepth-%08d.png     512x424 16-bit depth in mm, background masked, 1-based
    nturgb+d_skeletons/<name>.skeleton               Kinect v2 skeleton text file (format: ``read_skeleton``)

where ``<name>`` is ``SsssCcccPpppRrrrAaaa`` (setup, camera, performer, replication, action; 3 digits, 1-based),
e.g. ``S001C002P003R002A013``. Protocols (the performer lists are the papers' and the official
``shahroudy/NTURGB-D`` ones, also used by every public ``ntu_gendata.py``):

* ``cross_subject``: NTU 60 trains on performers 1, 2, 4, 5, 8, 9, 13-19, 25, 27, 28, 31, 34, 35, 38 and
  validates on the other 20 of 1-40; NTU 120 trains on those plus 45, 46, 47, 49, 50, 52-59, 70, 74, 78,
  80-86, 89, 91-95, 97, 98, 100, 103 (53 in all) and validates on the other 53 of 1-106.
* ``cross_view``: cameras 2 and 3 train, camera 1 validates.
* ``cross_setup`` (NTU 120 only): even setup ids train, odd ones validate.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from actrec.data.adapters.base import BadEntry, DatasetAdapter, FrameFolderRef, SampleEntry, VideoRef, register_adapter

# Official action list (github.com/shahroudy/NTURGB-D README; Shahroudy et al. 2016 Fig. 1, Liu et al. 2020 Table 2).
# A1-A60 are NTU RGB+D 60, A1-A120 are NTU RGB+D 120.
NTU_ACTION_NAMES: tuple[str, ...] = (
    "drink water",
    "eat meal/snack",
    "brushing teeth",
    "brushing hair",
    "drop",
    "pickup",
    "throw",
    "sitting down",
    "standing up (from sitting position)",
    "clapping",
    "reading",
    "writing",
    "tear up paper",
    "wear jacket",
    "take off jacket",
    "wear a shoe",
    "take off a shoe",
    "wear on glasses",
    "take off glasses",
    "put on a hat/cap",
    "take off a hat/cap",
    "cheer up",
    "hand waving",
    "kicking something",
    "put something inside pocket / take out something from pocket",
    "hopping (one foot jumping)",
    "jump up",
    "make a phone call/answer phone",
    "playing with phone/tablet",
    "typing on a keyboard",
    "pointing to something with finger",
    "taking a selfie",
    "check time (from watch)",
    "rub two hands together",
    "nod head/bow",
    "shake head",
    "wipe face",
    "salute",
    "put the palms together",
    "cross hands in front (say stop)",
    "sneeze/cough",
    "staggering",
    "falling",
    "touch head (headache)",
    "touch chest (stomachache/heart pain)",
    "touch back (backache)",
    "touch neck (neckache)",
    "nausea or vomiting condition",
    "use a fan (with hand or paper)/feeling warm",
    "punching/slapping other person",
    "kicking other person",
    "pushing other person",
    "pat on back of other person",
    "point finger at the other person",
    "hugging other person",
    "giving something to other person",
    "touch other person's pocket",
    "handshaking",
    "walking towards each other",
    "walking apart from each other",
    # A61-A120: NTU RGB+D 120 only.
    "put on headphone",
    "take off headphone",
    "shoot at the basket",
    "bounce ball",
    "tennis bat swing",
    "juggling table tennis balls",
    "hush (quite)",
    "flick hair",
    "thumb up",
    "thumb down",
    "make ok sign",
    "make victory sign",
    "staple book",
    "counting money",
    "cutting nails",
    "cutting paper (using scissors)",
    "snapping fingers",
    "open bottle",
    "sniff (smell)",
    "squat down",
    "toss a coin",
    "fold paper",
    "ball up paper",
    "play magic cube",
    "apply cream on face",
    "apply cream on hand back",
    "put on bag",
    "take off bag",
    "put something into a bag",
    "take something out of a bag",
    "open a box",
    "move heavy objects",
    "shake fist",
    "throw up cap/hat",
    "hands up (both hands)",
    "cross arms",
    "arm circles",
    "arm swings",
    "running on the spot",
    "butt kicks (kick backward)",
    "cross toe touch",
    "side kick",
    "yawn",
    "stretch oneself",
    "blow nose",
    "hit other person with something",
    "wield knife towards other person",
    "knock over other person (hit with body)",
    "grab other person's stuff",
    "shoot at other person with a gun",
    "step on foot",
    "high-five",
    "cheers and drink",
    "carry something with other person",
    "take a photo of other person",
    "follow other person",
    "whisper in other person's ear",
    "exchange things with other person",
    "support somebody with hand",
    "finger-guessing game (playing rock-paper-scissors)",
)

# Cross-subject training performers: Shahroudy et al. 2016 Sec. 4 (NTU 60), Liu et al. 2020 Sec. 4 (NTU 120 adds 33).
NTU60_TRAIN_PERFORMERS: tuple[int, ...] = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
NTU120_TRAIN_PERFORMERS: tuple[int, ...] = NTU60_TRAIN_PERFORMERS + (
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92, 93, 94,
    95, 97, 98, 100, 103,
)  # fmt: skip
TRAIN_CAMERAS: tuple[int, ...] = (2, 3)  # cross-view: cameras 2, 3 train, camera 1 validates (Shahroudy et al. Sec. 4)
VAL_CAMERAS: tuple[int, ...] = (1,)

SAMPLE_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
DEPTH_FOLDER = re.compile(rf"({SAMPLE_NAME.pattern})")
RGB_FILE = re.compile(rf"({SAMPLE_NAME.pattern})_rgb\.avi")
SKELETON_FILE = re.compile(rf"({SAMPLE_NAME.pattern})\.skeleton")
DEPTH_FRAME = re.compile(r"MDepth-(\d{8})\.png")

NUM_JOINTS = 25  # Kinect v2 skeleton
MAX_BODIES = 2  # bodies kept per sample (the papers' two-person inputs)
# Body-info line: bodyID clipedEdges handLeftConfidence handLeftState handRightConfidence handRightState isRestricted
# leanX leanY trackingState. Joint line: x y z depthX depthY colorX colorY orientationW..Z trackingState.
_BODY_INFO_VALUES = 10
_JOINT_VALUES = 12
_TRACKING_CONFIDENCE = {0: 0.0, 1: 0.5, 2: 1.0}  # Kinect joint trackingState: not tracked / inferred / tracked


@dataclass(frozen=True, kw_only=True)
class NTURGBDAdapter(DatasetAdapter):
    """Shared reader of the NTU RGB+D layout; ``NTURGBD60Adapter`` / ``NTURGBD120Adapter`` fix the ranges.

    Samples are the union of the names found in the enabled modality folders (sorted); every enabled modality's
    reference is set even where its file is missing, so ``prepare`` reports the gap. Labels are ``action - 1``;
    fields are ``subject`` (performer), ``view`` (camera), ``setup`` and ``replication``. With ``crop_to_body`` the
    RGB frames are cropped to the box around all tracked joints (needs ``pose``), widened by ``body_margin``.
    """

    num_actions: ClassVar[int]
    num_setups: ClassVar[int]
    num_performers: ClassVar[int]
    train_performers: ClassVar[tuple[int, ...]]
    title: ClassVar[str]  # "NTU RGB+D 60" / "NTU RGB+D 120", for messages
    cross_setup: ClassVar[bool]  # NTU 120's cross-setup protocol (Liu et al. 2020 Sec. 4)

    root: Path
    rgb: bool = True  # include <rgb_dir>/<name>_rgb.avi
    depth: bool = True  # include the masked 16-bit depth PNG folders
    pose: bool = True  # include the .skeleton files
    crop_to_body: bool = False  # crop RGB to the box around all tracked joints (needs pose)
    body_margin: float = 0.15  # fraction of the body box's width/height added on each side
    rgb_dir: str = "nturgb+d_rgb"
    depth_dir: str = "nturgb+d_depth_masked"
    skeleton_dir: str = "nturgb+d_skeletons"

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        if not (self.rgb or self.depth or self.pose):
            raise ValueError(f"{self.name}: enable at least one of rgb, depth, pose")
        if self.crop_to_body and not self.pose:
            raise ValueError(f"{self.name}: crop_to_body needs pose=True (the body box comes from the skeletons)")
        if not (math.isfinite(self.body_margin) and self.body_margin >= 0):
            raise ValueError(f"{self.name}: body_margin must be a finite number >= 0, got {self.body_margin!r}")

    @property  # type: ignore[override]  # the base declares a ClassVar; here it depends on the options
    def modalities(self) -> tuple[str, ...]:
        """The enabled modalities, in the order rgb, depth, pose."""
        enabled = {"rgb": self.rgb, "depth": self.depth, "pose": self.pose}
        return tuple(m for m, on in enabled.items() if on)

    def class_names(self) -> list[str]:
        """The official action names A1..A60 (NTU 60) or A1..A120 (NTU 120), indexed by ``action - 1``."""
        return list(NTU_ACTION_NAMES[: self.num_actions])

    def protocols(self) -> dict[str, dict[str, Any]]:
        """Cross-subject and cross-view (Shahroudy et al. 2016 Sec. 4); NTU 120 adds cross-setup (Liu et al. 2020)."""
        train = list(self.train_performers)
        val = [p for p in range(1, self.num_performers + 1) if p not in self.train_performers]
        protocols: dict[str, dict[str, Any]] = {"cross_subject": {"field": "subject", "train": train, "val": val}}
        if self.cross_setup:
            setups = range(1, self.num_setups + 1)
            protocols["cross_setup"] = {
                "field": "setup",
                "train": [s for s in setups if s % 2 == 0],
                "val": [s for s in setups if s % 2 == 1],
            }
        protocols["cross_view"] = {"field": "view", "train": list(TRAIN_CAMERAS), "val": list(VAL_CAMERAS)}
        return protocols

    def entries(self) -> Iterator[SampleEntry | BadEntry]:
        """Malformed file names first (sorted), then one entry per sample name (sorted).

        FileNotFoundError when an enabled modality's folder is absent (disable the modality instead).
        """
        found: dict[str, dict[str, Path]] = {}  # sample name -> modality -> path found
        bad: list[BadEntry] = []
        if self.rgb:
            self._scan(self.root / self.rgb_dir, "rgb", RGB_FILE, want_dir=False, found=found, bad=bad)
        if self.depth:
            self._scan(self.root / self.depth_dir, "depth", DEPTH_FOLDER, want_dir=True, found=found, bad=bad)
        if self.pose:
            self._scan(self.root / self.skeleton_dir, "pose", SKELETON_FILE, want_dir=False, found=found, bad=bad)
        yield from sorted(bad, key=lambda b: b.origin)
        for name in sorted(found):
            yield self._entry(name, found[name])

    def _scan(
        self,
        folder: Path,
        modality: str,
        pattern: re.Pattern[str],
        *,
        want_dir: bool,
        found: dict[str, dict[str, Path]],
        bad: list[BadEntry],
    ) -> None:
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{self.name}: {modality} folder not found: {folder} (set the folder option, or {modality}=False)"
            )
        kind = "folder" if want_dir else "file"
        with os.scandir(folder) as listing:
            items = sorted(listing, key=lambda item: item.name)
        for item in items:
            if item.name.startswith("."):  # .DS_Store, editor droppings
                continue
            path = folder / item.name
            match = pattern.fullmatch(item.name)
            if match is None:
                expected = "SsssCcccPpppRrrrAaaa" + {"rgb": "_rgb.avi", "depth": "/", "pose": ".skeleton"}[modality]
                bad.append(BadEntry(origin=str(path), reason=f"{modality} name does not match {expected}"))
            elif item.is_dir() != want_dir:
                bad.append(BadEntry(origin=str(path), reason=f"expected a {modality} {kind}"))
            else:
                found.setdefault(match.group(1), {})[modality] = path

    def _entry(self, name: str, found: dict[str, Path]) -> SampleEntry | BadEntry:
        origin = str(next(iter(found.values())))  # a path that exists, in the order rgb, depth, pose
        match = SAMPLE_NAME.fullmatch(name)
        assert match is not None  # names were matched while scanning
        setup, camera, performer, replication, action = (int(g) for g in match.groups())
        problem = self._out_of_range(setup, camera, performer, replication, action)
        if problem:
            return BadEntry(origin=origin, reason=f"{name}: {problem}")
        depth: FrameFolderRef | None = None
        if self.depth:
            folder = found.get("depth")
            frames = _depth_frames(folder) if folder is not None else ()
            if isinstance(frames, BadEntry):
                return frames
            depth = FrameFolderRef(paths=frames)
        return SampleEntry(
            key=name,
            label=action - 1,
            fields={"subject": performer, "view": camera, "setup": setup, "replication": replication},
            origin=origin,
            rgb=VideoRef(path=self.root / self.rgb_dir / f"{name}_rgb.avi") if self.rgb else None,
            depth=depth,
            pose=self.root / self.skeleton_dir / f"{name}.skeleton" if self.pose else None,
            meta={"class_name": NTU_ACTION_NAMES[action - 1]},
        )

    def _out_of_range(self, setup: int, camera: int, performer: int, replication: int, action: int) -> str:
        if not 1 <= action <= self.num_actions:
            return f"action {action} is not part of {self.title} (actions 1-{self.num_actions})"
        if not 1 <= setup <= self.num_setups:
            return f"setup {setup} is not part of {self.title} (setups 1-{self.num_setups})"
        if not 1 <= performer <= self.num_performers:
            return f"performer {performer} is not part of {self.title} (performers 1-{self.num_performers})"
        if not 1 <= camera <= 3:
            return f"camera {camera} is not part of {self.title} (cameras 1-3)"
        if not 1 <= replication <= 2:
            return f"replication {replication} is not part of {self.title} (replications 1-2)"
        return ""

    def read_pose(self, path: Path) -> np.ndarray:
        """The skeleton file as float32 (T, 2, 25, 3) colour-pixel x, y and confidence (see ``read_skeleton``)."""
        return read_skeleton(path)

    def rgb_crop_box(self, entry: SampleEntry, pose: np.ndarray | None) -> tuple[int, int, int, int] | None:
        """With ``crop_to_body``: (left, top, right, bottom) around every joint with confidence > 0 in any frame and
        body, widened by ``body_margin`` of the box's width/height on each side (not clamped: prepare clamps it)."""
        if not self.crop_to_body or pose is None:
            return None
        seen = pose[..., 2] > 0
        if not seen.any():
            return None
        xs, ys = pose[..., 0][seen], pose[..., 1][seen]
        left, right, top, bottom = float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())
        dx, dy = self.body_margin * (right - left), self.body_margin * (bottom - top)
        box_left, box_top = math.floor(left - dx), math.floor(top - dy)
        box_right, box_bottom = math.ceil(right + dx), math.ceil(bottom + dy)
        return box_left, box_top, max(box_right, box_left + 1), max(box_bottom, box_top + 1)


@register_adapter
@dataclass(frozen=True, kw_only=True)
class NTURGBD60Adapter(NTURGBDAdapter):
    """NTU RGB+D (Shahroudy et al., CVPR 2016): 60 actions, setups S001-S017, performers 1-40, cameras 1-3.

    Protocols (Sec. 4): ``cross_subject`` (20 training performers) and ``cross_view`` (cameras 2, 3 train). Samples
    of the 120-class extension (A061+, S018+) found in the folders are reported as not part of NTU RGB+D 60.
    """

    name = "ntu_rgbd_60"
    title = "NTU RGB+D 60"
    num_actions = 60
    num_setups = 17
    num_performers = 40
    cross_setup = False
    train_performers = NTU60_TRAIN_PERFORMERS


@register_adapter
@dataclass(frozen=True, kw_only=True)
class NTURGBD120Adapter(NTURGBDAdapter):
    """NTU RGB+D 120 (Liu et al., TPAMI 2020): 120 actions, setups S001-S032, performers 1-106, cameras 1-3.

    Protocols (Sec. 4): ``cross_subject`` (53 training performers), ``cross_setup`` (even setups train) and, as for
    NTU 60, ``cross_view`` (cameras 2, 3 train).
    """

    name = "ntu_rgbd_120"
    title = "NTU RGB+D 120"
    num_actions = 120
    num_setups = 32
    num_performers = 106
    cross_setup = True
    train_performers = NTU120_TRAIN_PERFORMERS


def _depth_frames(folder: Path) -> tuple[Path, ...] | BadEntry:
    """The ``MDepth-%08d.png`` frames of a sample folder in frame order; BadEntry when the numbering has gaps."""
    numbered: dict[int, Path] = {}
    with os.scandir(folder) as listing:
        for item in listing:
            match = DEPTH_FRAME.fullmatch(item.name)
            if match is not None:  # other files (thumbnails, ...) are not frames
                numbered[int(match.group(1))] = folder / item.name
    order = sorted(numbered)
    if order and order != list(range(1, len(order) + 1)):
        missing = next(i for i in range(1, order[-1] + 1) if i not in numbered)
        reason = f"depth frames are not numbered 1..N: MDepth-{missing:08d}.png missing"
        return BadEntry(origin=str(folder), reason=reason)
    return tuple(numbered[i] for i in order)


class _SkeletonLines:
    """Non-blank lines of a .skeleton file as (1-based line number, tokens), read in order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open(encoding="utf-8", errors="replace") as handle:
            self.lines = [(n, line.split()) for n, line in enumerate(handle, start=1) if line.strip()]
        self.pos = 0

    def error(self, line: int, message: str) -> ValueError:
        return ValueError(f"{self.path}:{line}: {message}")

    def next(self, what: str) -> tuple[int, list[str]]:
        if self.pos >= len(self.lines):
            last = self.lines[-1][0] if self.lines else 0
            raise self.error(last + 1, f"file ends before {what}")
        self.pos += 1
        return self.lines[self.pos - 1]

    def count(self, what: str) -> int:
        line, tokens = self.next(what)
        if len(tokens) != 1 or not tokens[0].isdigit():
            raise self.error(line, f"expected {what} (one integer >= 0), got {' '.join(tokens)!r}")
        return int(tokens[0])


def read_skeleton(path: Path) -> np.ndarray:
    """Parse an NTU RGB+D (60/120) ``.skeleton`` file -> float32 (T, 2, 25, 3): colorX, colorY, confidence.

    Format (Kinect v2 SDK dump, ``shahroudy/NTURGB-D`` ``read_skeleton_file.m``)::

        <frame count T>
        per frame:  <body count>
          per body: bodyID clipedEdges handLeftConfidence handLeftState handRightConfidence handRightState
                    isRestricted leanX leanY trackingState                           (10 values)
                    <joint count = 25>
                    25 x: x y z depthX depthY colorX colorY orientationW orientationX orientationY orientationZ
                          trackingState                                               (12 values)

    x, y are pixels of the 1920x1080 colour frame; confidence is 1.0 / 0.5 / 0.0 for joint trackingState
    2 (tracked) / 1 (inferred) / 0 (not tracked), and 0 where colorX/colorY is NaN; x = y = 0 where it is 0. Bodies are
    matched across frames by bodyID; absent bodies are zeros. With more than two bodyIDs in the file, the two with
    the most motion are kept -- the largest sum over joints and x, y, z of the variance of the 3-D joint positions
    over the frames the body appears in (the main-actor heuristic of the dataset FAQ; extra Kinect "bodies" are
    mostly furniture or passers-by that barely move). Kept bodies take slots 0, 1 in order of first appearance.
    ValueError naming the file and line for any malformed line (wrong value count, non-number, joint count != 25,
    unknown trackingState, truncated file, content after the last frame).
    """
    lines = _SkeletonLines(path)
    num_frames = lines.count("the frame count")
    # bodyID -> per appearance: frame index, (25, 2) colour xy, (25,) confidence, (25, 3) xyz in metres
    bodies: dict[str, list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]] = {}
    for t in range(num_frames):
        num_bodies = lines.count(f"the body count of frame {t + 1}")
        for _ in range(num_bodies):
            line, info = lines.next(f"a body-info line of frame {t + 1}")
            if len(info) != _BODY_INFO_VALUES or not info[0].isdigit():
                raise lines.error(line, f"expected a body-info line of {_BODY_INFO_VALUES} values starting with bodyID")
            _parse_floats(lines, line, info[1:])
            num_joints = lines.count("the joint count")
            if num_joints != NUM_JOINTS:
                raise lines.error(lines.lines[lines.pos - 1][0], f"expected {NUM_JOINTS} joints, got {num_joints}")
            joints = np.empty((NUM_JOINTS, _JOINT_VALUES), dtype=np.float64)
            for j in range(NUM_JOINTS):
                line, values = lines.next(f"joint {j + 1} of {NUM_JOINTS}")
                if len(values) != _JOINT_VALUES:
                    raise lines.error(line, f"expected {_JOINT_VALUES} joint values, got {len(values)}")
                joints[j] = _parse_floats(lines, line, values)
                if joints[j, 11] not in _TRACKING_CONFIDENCE:
                    raise lines.error(line, f"joint trackingState must be 0, 1 or 2, got {values[11]}")
            xy = joints[:, 5:7]  # colorX, colorY
            confidence = np.array([_TRACKING_CONFIDENCE[int(s)] for s in joints[:, 11]])
            confidence[~np.isfinite(xy).all(axis=1)] = 0.0
            xy = np.where(confidence[:, None] > 0, xy, 0.0)  # absent joints are zeros, whatever the file says
            bodies.setdefault(info[0], []).append((t, xy, confidence, joints[:, 0:3]))
    if lines.pos < len(lines.lines):
        raise lines.error(lines.lines[lines.pos][0], f"unexpected content after the last of {num_frames} frames")

    kept = list(bodies)  # insertion order = order of first appearance
    if len(kept) > MAX_BODIES:
        by_motion = sorted(range(len(kept)), key=lambda i: -_motion(bodies[kept[i]]))  # stable: ties keep order
        kept = [kept[i] for i in sorted(by_motion[:MAX_BODIES])]
    pose = np.zeros((num_frames, MAX_BODIES, NUM_JOINTS, 3), dtype=np.float32)  # (T, M, J, xy + confidence)
    for slot, body_id in enumerate(kept):
        for t, xy, confidence, _ in bodies[body_id]:
            pose[t, slot, :, 0:2] = xy
            pose[t, slot, :, 2] = confidence
    return pose


def _parse_floats(lines: _SkeletonLines, line: int, tokens: list[str]) -> list[float]:
    try:
        return [float(v) for v in tokens]
    except ValueError as err:
        raise lines.error(line, f"non-numeric value ({err})") from None


def _motion(appearances: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]) -> float:
    """Sum over joints and x, y, z of the variance of a body's 3-D joint positions over its frames (NaN ignored)."""
    xyz = np.stack([a[3] for a in appearances])  # (frames, 25, 3)
    finite = np.isfinite(xyz)
    count = np.maximum(finite.sum(axis=0), 1)
    values = np.where(finite, xyz, 0.0)
    mean = values.sum(axis=0) / count
    variance = (np.where(finite, xyz - mean, 0.0) ** 2).sum(axis=0) / count
    return float(variance.sum())
