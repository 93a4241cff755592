"""HMDB-51 (Kuehne, Jhuang, Garrote, Poggio and Serre, "HMDB: A Large Video Database for Human Motion
Recognition", ICCV 2011): 6,766 clips of 51 actions, evaluated on three official 70/30 splits.

Published layout (``hmdb51_org.rar`` unpacked class by class + ``test_train_splits.rar``)::

    <root>/hmdb51_org/<class>/<video>.avi
    <root>/testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt   lines "<video>.avi <mark>"

where the mark is 1 = training, 2 = testing, 0 = not used in that split (Kuehne et al., Sec. 4: per class and
split, 70 training and 30 testing clips, no two from one source video on both sides).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
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

SPLITS = (1, 2, 3)
UNUSED, TRAIN, TEST = 0, 1, 2  # the marks of the split files, written as the splitN fields
_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<split>[123])\.txt$")


@register_adapter
@dataclass(frozen=True, kw_only=True)
class HMDB51Adapter(DatasetAdapter):
    """HMDB-51 RGB clips with the three official splits (Kuehne et al., ICCV 2011, Sec. 4).

    Classes are the sorted class names of the split files (``<class>_test_split1.txt`` -> ``<class>``); labels
    index that list. One sample per video, read class by class in split-1 file order (videos only listed in a
    later split file follow); fields ``split1``..``split3`` hold the file's mark (1 train, 2 test, 0 unused; 0
    too when a split file omits the video). Key: the video file stem with characters outside ``[A-Za-z0-9_-]``
    replaced by ``-`` (HMDB names carry ``!``, ``&``, ``(``, ...).
    """

    name: ClassVar[str] = "hmdb51"
    modalities: ClassVar[tuple[str, ...]] = ("rgb",)

    root: Path
    videos_dir: str = "hmdb51_org"  # folder of the class folders of .avi clips
    splits_dir: str = "testTrainMulti_7030_splits"  # folder of the <class>_test_split{1,2,3}.txt files

    def class_names(self) -> list[str]:
        """Sorted class names of the split files; ValueError when the folder is missing or a class lacks a split."""
        folder = self.root / self.splits_dir
        if not folder.is_dir():
            raise FileNotFoundError(f"split folder not found: {folder}")
        found: dict[str, set[int]] = {}
        for path in folder.iterdir():
            match = _SPLIT_FILE.match(path.name)
            if match and path.is_file():
                found.setdefault(match["cls"], set()).add(int(match["split"]))
        if not found:
            raise ValueError(f"{folder}: no <class>_test_split{{1,2,3}}.txt files")
        for cls, splits in sorted(found.items()):
            if splits != set(SPLITS):
                missing = sorted(set(SPLITS) - splits)
                raise ValueError(f"{folder}: class {cls!r} has no split file for split(s) {missing}")
        return sorted(found)

    def protocols(self) -> dict[str, dict[str, Any]]:
        """The three official splits: ``splitN`` trains on mark 1 and validates on mark 2 of split file N."""
        return {f"split{n}": {"field": f"split{n}", "train": [TRAIN], "val": [TEST]} for n in SPLITS}

    def split_file(self, class_name: str, split: int) -> Path:
        """``<root>/<splits_dir>/<class>_test_split<split>.txt``."""
        return self.root / self.splits_dir / f"{class_name}_test_split{split}.txt"

    def entries(self) -> Iterator[SampleEntry | BadEntry]:
        """Samples class by class; a BadEntry per malformed line (field count, mark not 0/1/2, not a video
        name), per video listed twice in one split file, and per key clash after cleaning."""
        owners: dict[str, tuple[str, str]] = {}  # key -> (class/video, origin of its first listing)
        for label, class_name in enumerate(self.class_names()):
            videos: dict[str, dict[str, Any]] = {}  # video file name -> {"origin", "marks"}
            bad: list[BadEntry] = []
            for split in SPLITS:
                path = self.split_file(class_name, split)
                for number, line in read_lines(path):
                    where = origin(path, number)
                    parts = line.split()
                    if len(parts) != 2:
                        bad.append(BadEntry(origin=where, reason=f"expected '<video>.avi <0|1|2>', got {line!r}"))
                        continue
                    video, mark = parts
                    if mark not in ("0", "1", "2"):
                        bad.append(BadEntry(origin=where, reason=f"split mark must be 0, 1 or 2, got {mark!r}"))
                        continue
                    if "/" in video or "\\" in video or not Path(video).stem:
                        bad.append(BadEntry(origin=where, reason=f"expected a video file name, got {video!r}"))
                        continue
                    known = videos.setdefault(video, {"origin": where, "marks": {}})
                    if split in known["marks"]:
                        bad.append(
                            BadEntry(
                                origin=where, reason=f"{video!r} listed twice in this file (first at {known['origin']})"
                            )
                        )
                        continue
                    known["marks"][split] = int(mark)
            yield from bad
            for video, info in videos.items():
                key = safe_key(Path(video).stem)
                ident = f"{class_name}/{video}"
                if key in owners:
                    other, other_origin = owners[key]
                    yield BadEntry(
                        origin=info["origin"],
                        reason=f"key {key!r} of {ident!r} clashes with {other!r} at {other_origin}",
                    )
                    continue
                owners[key] = (ident, info["origin"])
                yield SampleEntry(
                    key=key,
                    label=label,
                    fields={f"split{n}": info["marks"].get(n, UNUSED) for n in SPLITS},
                    origin=info["origin"],
                    rgb=VideoRef(path=self.root / self.videos_dir / class_name / video),
                    meta={"class_name": class_name},
                )
