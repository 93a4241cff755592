"""ChaLearn LAP IsoGD (Wan et al., "ChaLearn Looking at People RGB-D Isolated and Continuous Datasets for Gesture
Recognition", CVPRW 2016): 47,933 isolated gestures of 249 classes, each an RGB video and a Kinect depth video.

Published layout under ``root`` (the IsoGD_phase_1 / phase_2 archives unpacked side by side)::

    train_list.txt                    train/001/M_00001.avi train/001/K_00001.avi 10
    valid_list.txt                    valid/001/M_00001.avi valid/001/K_00001.avi 3   (labels: phase 2 release)
    test_list.txt                     test/001/M_00001.avi test/001/K_00001.avi 17    (labels: after the challenge)
    train/001/M_00001.avi             RGB (M = "movie")
    train/001/K_00001.avi             depth (K = Kinect), 8-bit grey video
    valid/...  test/...

Protocols (the challenge's): ``official`` trains on the training list and validates on the validation list;
``official_test`` trains on the training list and evaluates on the test list.
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

NUM_CLASSES = 249
SUBSETS = {"train": 1, "valid": 2, "test": 3}  # value of the "subset" field per list
# train/001/M_00001.avi -> subset dir, folder, sample number (the published naming).
_SAMPLE_PATH = re.compile(r"^(?P<subset>[^/]+)/(?P<folder>\d+)/(?P<kind>[MK])_(?P<number>\d+)\.[A-Za-z0-9]+$")


@register_adapter
@dataclass(frozen=True, kw_only=True)
class IsoGDAdapter(DatasetAdapter):
    """ChaLearn IsoGD (Wan et al., CVPRW 2016) from its published list files; see the module docstring.

    Each list line is ``<rgb path> <depth path> <label>`` with paths relative to ``root`` and labels 1..249
    (stored 0-based). ``fields = {"subset": 1 train / 2 valid / 3 test}``. The training list is required; a
    missing validation or test list (e.g. phase 1 only, or unlabelled lists not yet replaced) only leaves that
    subset empty, with a warning. Keys are ``<subset>-<folder>-<number>`` (``train-001-00001``).

    IsoGD publishes no class names, only ids; ``class_names()`` returns ``gesture_001`` .. ``gesture_249``
    (the number is the published 1-based label).
    """

    name: ClassVar[str] = "isogd"
    modalities: ClassVar[tuple[str, ...]] = ("rgb", "depth")
    root: Path
    train_list: str = "train_list.txt"  # list file of the training subset (required)
    valid_list: str = "valid_list.txt"  # list file of the validation subset (with labels)
    test_list: str = "test_list.txt"  # list file of the test subset (with labels)

    def class_names(self) -> list[str]:
        return [f"gesture_{i:03d}" for i in range(1, NUM_CLASSES + 1)]

    def protocols(self) -> dict[str, dict[str, Any]]:
        return {
            "official": {"field": "subset", "train": [SUBSETS["train"]], "val": [SUBSETS["valid"]]},
            "official_test": {"field": "subset", "train": [SUBSETS["train"]], "val": [SUBSETS["test"]]},
        }

    def entries(self) -> Iterator[SampleEntry | BadEntry]:
        root = Path(self.root)
        lists = (("train", self.train_list), ("valid", self.valid_list), ("test", self.test_list))
        for subset, list_name in lists:
            path = root / list_name
            if subset != "train" and not path.is_file():
                logger.warning("isogd: %s not found; the %s subset will be empty", path, subset)
                continue
            for number, line in read_lines(path):
                yield self._parse_line(path, number, line, SUBSETS[subset])

    def _parse_line(self, list_path: Path, number: int, line: str, subset: int) -> SampleEntry | BadEntry:
        where = origin(list_path, number)
        parts = line.split()
        if len(parts) == 2:
            return BadEntry(origin=where, reason=f"no label (expected '<rgb> <depth> <label>'): {line!r}")
        if len(parts) != 3:
            return BadEntry(origin=where, reason=f"expected 3 fields '<rgb> <depth> <label>', got {len(parts)}")
        rgb_rel, depth_rel, label_text = parts
        try:
            label = int(label_text)
        except ValueError:
            return BadEntry(origin=where, reason=f"label {label_text!r} is not an integer")
        rgb_match, depth_match = _SAMPLE_PATH.match(rgb_rel), _SAMPLE_PATH.match(depth_rel)
        if rgb_match and depth_match:
            rgb_id = (rgb_match["subset"], rgb_match["folder"], rgb_match["number"])
            depth_id = (depth_match["subset"], depth_match["folder"], depth_match["number"])
            if rgb_id != depth_id or rgb_match["kind"] != "M" or depth_match["kind"] != "K":
                return BadEntry(origin=where, reason=f"RGB {rgb_rel!r} and depth {depth_rel!r} are not one sample")
            key = safe_key(*rgb_id, sep="-")
        else:  # not the published naming: keep the RGB path itself as the (still unique) name
            key = safe_key(str(PurePosixPath(rgb_rel).with_suffix("")), sep="-")
        root = Path(self.root)
        return SampleEntry(
            key=key,
            label=label - 1,
            fields={"subset": subset},
            origin=where,
            rgb=VideoRef(path=root / rgb_rel),
            depth=VideoRef(path=root / depth_rel),
            meta={"class_name": f"gesture_{label:03d}"},
        )
