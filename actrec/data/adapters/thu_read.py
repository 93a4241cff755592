"""THU-READ, Tsinghua University Real-life Egocentric Action Dataset (Tang et al., "Action Recognition in RGB-D
Egocentric Videos", ICIP 2017; "Multi-Stream Deep Neural Networks for RGB-D Egocentric Action Recognition", TCSVT
2019): 40 daily hand actions, each performed 3 times by 8 subjects and recorded by a head-mounted RGB-D camera,
1,920 videos (40 x 8 x 3 = 960 RGB-D pairs).

Evaluation (TCSVT 2019): the 8 subjects form 4 groups of 2; ``csN`` validates on group N and trains on the other
three (leave-one-group-out, results averaged over the four).

Layout -- what is established and what is assumed. The dataset is distributed on request from its site
(ivg.au.tsinghua.edu.cn/dataset/THU_READ.php) together with split files (``cs_N_train.txt`` / ``cs_N_test.txt``,
named in public re-implementations) whose format and archive structure are not documented publicly; this adapter
does not read them. What public code does establish (the THU-READ split lists of Zhou et al., "Decoupling and
Recoupling Spatiotemporal Representation for RGB-D-based Motion Recognition", CVPR 2022, repositories
damo-cv/MotionRGBD and zhoubenjia/MotionRGBD-PAMI, built from extracted frames): each recording is named
``RGB_<action>_<subject>_<repetition>`` and its depth counterpart ``D_<action>_<subject>_<repetition>`` (e.g.
``RGB_wear_watch_cgy_2`` / ``D_wear_watch_cgy_2``), with the 40 action names, the 8 subjects (cgy, cwx, fjw, gs,
lhh, lzy, tys, wyy), repetitions 1..3 and the four validation groups CS1 = {cgy, cwx}, CS2 = {fjw, gs},
CS3 = {lhh, lzy}, CS4 = {tys, wyy}; the class order below is the label order of those lists.

Assumed (all options): RGB videos under ``root/RGB`` and depth videos under ``root/Depth``, in any sub-folder
layout, as .avi or .mp4 files named as above. So the adapter scans rather than reading a list: every video file
under ``rgb_dir`` whose name starts with ``rgb_prefix`` is a sample, paired by name with the ``depth_prefix``
video of the same ``<action>_<subject>_<repetition>`` anywhere under ``depth_dir``. If the release differs, set
the options (``rgb_dir``/``depth_dir`` may both be ``.``; prefixes may be empty when the folders alone tell RGB
from depth; ``subject_groups`` re-assigns the groups).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from actrec.data.adapters.base import BadEntry, DatasetAdapter, SampleEntry, VideoRef, register_adapter, safe_key

# Label order of the public THU-READ split lists (damo-cv/MotionRGBD data/dataset_splits/THU-READ): label i = index i.
CLASS_NAMES = (
    "zip_up",
    "close_drawer",
    "open_laptop",
    "use_mobilephone",
    "cut_paper",
    "draw_paper",
    "stir",
    "open_drawer",
    "wear_watch",
    "water_plant",
    "clean_table",
    "cut_fruit",
    "use_mouse",
    "push_button",
    "bounce_ball",
    "manicure",
    "fetch_water",
    "wear_glove",
    "use_chopstick",
    "sweep_floor",
    "tear_paper",
    "open_door",
    "wave_hand",
    "throw_paperplane",
    "clap_hand",
    "tie_shoelaces",
    "use_stapler",
    "write",
    "twist_towel",
    "lift_weights",
    "wash_fruit",
    "fold",
    "umbrella",
    "wash_hand",
    "squeeze_toothpaste",
    "insert_tube",
    "plug",
    "thumb",
    "knock_door",
    "read_book",
)
_LABELS = {name: i for i, name in enumerate(CLASS_NAMES)}
NUM_GROUPS = 4  # protocols cs1..cs4
# <action>_<subject>_<repetition>: actions contain '_', subjects (initials) and repetitions do not.
_SAMPLE_NAME = re.compile(r"^(?P<action>.+)_(?P<subject>[A-Za-z]+)_(?P<repetition>\d+)$")


@register_adapter
@dataclass(frozen=True, kw_only=True)
class ThuReadAdapter(DatasetAdapter):
    """THU-READ (Tang et al., ICIP 2017 / TCSVT 2019) by scanning its video folders; see the module docstring.

    ``fields = {"subject": 1..8 (position in subject_groups), "group": 1..4}``; protocol ``csN`` validates on
    group N. Keys are the modality-free video name (``wear_watch_cgy_2``); origins are the RGB video's path.
    A video whose name does not parse, names an unknown action or a subject outside ``subject_groups`` is a
    BadEntry, and so is a depth video with no RGB video of the same name.
    """

    name: ClassVar[str] = "thu_read"
    modalities: ClassVar[tuple[str, ...]] = ("rgb", "depth")
    root: Path
    rgb_dir: str = "RGB"  # folder (relative to root) scanned recursively for RGB videos
    depth_dir: str = "Depth"  # folder (relative to root) scanned recursively for depth videos
    rgb_prefix: str = "RGB_"  # file-name prefix of RGB videos (RGB_wear_watch_cgy_2.avi)
    depth_prefix: str = "D_"  # file-name prefix of depth videos (D_wear_watch_cgy_2.avi)
    video_exts: str = ".avi,.mp4"  # comma-separated video extensions (case-insensitive)
    subject_groups: str = "cgy,cwx;fjw,gs;lhh,lzy;tys,wyy"  # ';'-separated groups 1..4 of ','-separated subjects

    def __post_init__(self) -> None:
        groups = self.groups()
        if len(groups) != NUM_GROUPS or any(not g for g in groups):
            raise ValueError(
                f"subject_groups must name {NUM_GROUPS} non-empty ';'-separated groups, got {self.subject_groups!r}"
            )
        subjects = [s for g in groups for s in g]
        if len(set(subjects)) != len(subjects):
            raise ValueError(f"subject_groups names a subject twice: {self.subject_groups!r}")
        if not self.extensions():
            raise ValueError(f"video_exts must name at least one extension, got {self.video_exts!r}")
        rgb, depth = self.rgb_prefix, self.depth_prefix
        if Path(self.rgb_dir) == Path(self.depth_dir) and (rgb.startswith(depth) or depth.startswith(rgb)):
            raise ValueError(
                f"rgb_dir and depth_dir are both {self.rgb_dir!r}: rgb_prefix {self.rgb_prefix!r} and depth_prefix "
                f"{self.depth_prefix!r} must then tell RGB from depth files (neither may start with the other)"
            )

    def groups(self) -> list[list[str]]:
        """Subjects per group (group 1 first), parsed from ``subject_groups``."""
        return [[s.strip() for s in g.split(",") if s.strip()] for g in self.subject_groups.split(";")]

    def extensions(self) -> set[str]:
        """Accepted video suffixes, lower case with the dot."""
        return {"." + e.strip().lower().lstrip(".") for e in self.video_exts.split(",") if e.strip().lstrip(".")}

    def class_names(self) -> list[str]:
        return list(CLASS_NAMES)

    def protocols(self) -> dict[str, dict[str, Any]]:
        groups = list(range(1, NUM_GROUPS + 1))
        return {f"cs{n}": {"field": "group", "train": [g for g in groups if g != n], "val": [n]} for n in groups}

    def entries(self) -> Iterator[SampleEntry | BadEntry]:
        root = Path(self.root)
        rgb_root, depth_root = root / self.rgb_dir, root / self.depth_dir
        if not rgb_root.is_dir():
            raise FileNotFoundError(f"THU-READ RGB folder not found: {rgb_root} (set rgb_dir)")
        group_of = {s: g for g, members in enumerate(self.groups(), start=1) for s in members}
        subject_ids = {s: n for n, s in enumerate((s for g in self.groups() for s in g), start=1)}
        depth_videos: dict[str, Path] = {}
        for path in self._scan(depth_root, self.depth_prefix):
            depth_videos.setdefault(path.stem[len(self.depth_prefix) :], path)
        rgb_names: set[str] = set()  # every RGB video's name, usable or not
        for path in self._scan(rgb_root, self.rgb_prefix):
            sample = path.stem[len(self.rgb_prefix) :]
            rgb_names.add(sample)
            where = str(path)
            match = _SAMPLE_NAME.match(sample)
            if match is None:
                expected = f"{self.rgb_prefix}<action>_<subject>_<repetition>"
                yield BadEntry(origin=where, reason=f"name {path.stem!r} is not {expected}")
                continue
            action, subject = match["action"], match["subject"]
            if action not in _LABELS:
                yield BadEntry(origin=where, reason=f"unknown THU-READ action {action!r}")
                continue
            if subject not in group_of:
                yield BadEntry(origin=where, reason=f"subject {subject!r} is in no group of subject_groups")
                continue
            depth = depth_videos.get(sample)
            if depth is None:  # not found: name the expected file, prepare reports it missing
                relative = path.parent.relative_to(rgb_root)
                depth = depth_root / relative / f"{self.depth_prefix}{sample}{path.suffix}"
            yield SampleEntry(
                key=safe_key(sample),
                label=_LABELS[action],
                fields={"subject": subject_ids[subject], "group": group_of[subject]},
                origin=where,
                rgb=VideoRef(path=path),
                depth=VideoRef(path=depth),
                meta={"class_name": action, "subject_name": subject, "repetition": int(match["repetition"])},
            )
        for sample, path in depth_videos.items():
            if sample not in rgb_names:
                yield BadEntry(origin=str(path), reason=f"depth video without an RGB video {self.rgb_prefix}{sample}")

    def _scan(self, folder: Path, prefix: str) -> list[Path]:
        """Video files under ``folder`` (recursively) whose name starts with ``prefix``, in path order."""
        if not folder.is_dir():
            return []
        extensions = self.extensions()
        found = [
            p for p in folder.rglob("*") if p.name.startswith(prefix) and p.suffix.lower() in extensions and p.is_file()
        ]
        return sorted(found, key=lambda p: p.relative_to(folder).as_posix())
