"""NVIDIA Dynamic Hand Gesture dataset, NvGesture (Molchanov et al., "Online Detection and Classification of Dynamic
Hand Gestures with Recurrent 3D Convolutional Neural Networks", CVPR 2016): 1,532 in-car gestures of 25 classes by
20 subjects, recorded by a SoftKinetic DS325 (colour + depth) and a DUO 3D stereo camera.

Published layout under ``root``::

    nvgesture_train_correct_cvpr2016_v2.lst    1,050 training gestures
    nvgesture_test_correct_cvpr2016_v2.lst     482 test gestures
    Video_data/class_01/subject1_r0/sk_color.avi   SoftKinetic colour
    Video_data/class_01/subject1_r0/sk_depth.avi   SoftKinetic depth, 8-bit grey video
    Video_data/class_01/subject1_r0/duo_left.avi   (DUO stereo, not used here)

Each list line names the recording folder, then per sensor ``<sensor>:<video stem>:<start>:<end>`` and the label
(one line in the file, wrapped here)::

    path:./Video_data/class_01/subject1_r0 depth:sk_depth:138:218 color:sk_color:138:218
        duo_left:duo_left:161:254 label:1

The gesture is frames ``[start, end)`` of each video, trimmed per sensor: the official reader
(``nvgesture_prepare.py``, ``load_data_from_file``) seeks to ``start`` and reads ``range(start, end)``, i.e. ``end``
is exclusive (80 frames for ``138:218``), which is exactly ``VideoRef``'s convention.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from actrec.data.adapters.base import (
    BadEntry,
    DatasetAdapter,
    SampleEntry,
    VideoRef,
    origin,
    read_lines,
    register_adapter,
    safe_key,
)

logger = logging.getLogger(__name__)

# The 25 classes in label order (1 = move hand left ... 25 = okay gesture), as drawn in the paper's gesture figure
# and listed the same way by public NvGesture loaders; directions are from the subject's perspective.
CLASS_NAMES = (
    "move_hand_left",
    "move_hand_right",
    "move_hand_up",
    "move_hand_down",
    "move_two_fingers_left",
    "move_two_fingers_right",
    "move_two_fingers_up",
    "move_two_fingers_down",
    "click_index_finger",
    "call_someone",
    "open_hand",
    "shaking_hand",
    "show_index_finger",
    "show_two_fingers",
    "show_three_fingers",
    "push_hand_up",
    "push_hand_down",
    "push_hand_out",
    "pull_hand_in",
    "rotate_fingers_cw",
    "rotate_fingers_ccw",
    "push_two_fingers_away",
    "close_hand_two_times",
    "thumb_up",
    "okay_gesture",
)
SUBSETS = {"train": 1, "test": 2}  # value of the "subset" field per list
_SUBJECT = re.compile(r"subject(\d+)")
_SENSORS = {"rgb": "color", "depth": "depth"}  # our modality -> the list's sensor key


@register_adapter
@dataclass(frozen=True, kw_only=True)
class NvGestureAdapter(DatasetAdapter):
    """NvGesture (Molchanov et al., CVPR 2016) from its published ``.lst`` files; see the module docstring.

    RGB is the SoftKinetic ``color`` stream and depth its ``depth`` stream, each trimmed to its own
    ``start:end`` (end exclusive). Labels 1..25 are stored 0-based. ``fields = {"subset": 1 train / 2 test,
    "subject": N}`` with N from the ``subjectN`` folder name. Keys are ``class_01-subject1_r0``. The training list
    is required; a missing test list leaves the test subset empty, with a warning.
    """

    name: ClassVar[str] = "nvgesture"
    modalities: ClassVar[tuple[str, ...]] = ("rgb", "depth")
    root: Path
    train_list: str = "nvgesture_train_correct_cvpr2016_v2.lst"  # list file of the training split (required)
    test_list: str = "nvgesture_test_correct_cvpr2016_v2.lst"  # list file of the test split
    video_ext: str = ".avi"  # extension appended to the list's video stems (sk_color -> sk_color.avi)

    def class_names(self) -> list[str]:
        return list(CLASS_NAMES)

    def protocols(self) -> dict[str, dict[str, Any]]:
        return {"official": {"field": "subset", "train": [SUBSETS["train"]], "val": [SUBSETS["test"]]}}

    def entries(self) -> Iterator[SampleEntry | BadEntry]:
        root = Path(self.root)
        for subset, list_name in (("train", self.train_list), ("test", self.test_list)):
            path = root / list_name
            if subset != "train" and not path.is_file():
                logger.warning("nvgesture: %s not found; the test split will be empty", path)
                continue
            for number, line in read_lines(path):
                yield self._parse_line(path, number, line, SUBSETS[subset])

    def _parse_line(self, list_path: Path, number: int, line: str, subset: int) -> SampleEntry | BadEntry:
        where = origin(list_path, number)
        values: dict[str, list[str]] = {}
        for token in line.split():
            key, sep, rest = token.partition(":")
            if not sep:
                return BadEntry(origin=where, reason=f"token {token!r} is not '<key>:<value>'")
            values[key] = rest.split(":")
        missing = [k for k in ("path", *_SENSORS.values(), "label") if k not in values]
        if missing:
            return BadEntry(origin=where, reason=f"missing {', '.join(missing)} in {line!r}")
        folder = ":".join(values["path"])
        if len(values["label"]) != 1:
            return BadEntry(origin=where, reason=f"label must be 'label:<int>', got {values['label']!r}")
        try:
            label = int(values["label"][0])
        except ValueError:
            return BadEntry(origin=where, reason=f"label {values['label'][0]!r} is not an integer")
        subject = _SUBJECT.search(PurePosixPath(folder).name)
        if subject is None:
            return BadEntry(origin=where, reason=f"no subjectN in recording folder {folder!r}")
        refs: dict[str, VideoRef] = {}
        for modality, sensor in _SENSORS.items():
            spec = values[sensor]
            if len(spec) != 3:
                return BadEntry(origin=where, reason=f"{sensor} must be '{sensor}:<video>:<start>:<end>', got {spec}")
            stem, start, end = spec
            try:
                start_frame, end_frame = int(start), int(end)
            except ValueError:
                return BadEntry(origin=where, reason=f"{sensor} frame range {start}:{end} is not two integers")
            refs[modality] = VideoRef(
                path=Path(self.root) / folder / f"{stem}{self.video_ext}", start_frame=start_frame, end_frame=end_frame
            )
        parts = [p for p in PurePosixPath(folder).parts if p not in (".", "/", "Video_data")]
        if not parts:
            return BadEntry(origin=where, reason=f"empty recording folder in {line!r}")
        return SampleEntry(
            key=safe_key(*parts, sep="-"),
            label=label - 1,
            fields={"subset": subset, "subject": int(subject.group(1))},
            origin=where,
            rgb=refs["rgb"],
            depth=refs["depth"],
            meta={"class_name": CLASS_NAMES[label - 1] if 1 <= label <= len(CLASS_NAMES) else f"gesture_{label:02d}"},
        )
