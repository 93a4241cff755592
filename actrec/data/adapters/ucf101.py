"""UCF-101 (Soomro, Zamir and Shah, "UCF101: A Dataset of 101 Human Actions Classes From Videos in The Wild",
arXiv:1212.0402, 2012): 13,320 clips of 101 actions, evaluated on the three official train/test splits.

Published layout (``UCF101.rar`` + ``UCF101TrainTestSplits-RecognitionTask.zip``)::

    <root>/UCF-101/<Class>/v_<Class>_gXX_cYY.avi
    <root>/ucfTrainTestlist/classInd.txt          "1 ApplyEyeMakeup" (1-based class ids)
    <root>/ucfTrainTestlist/trainlist0N.txt       "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    <root>/ucfTrainTestlist/testlist0N.txt        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"

Each split keeps the 25 groups (``gXX``, clips cut from one long video) apart: groups 1-7 / 8-14 / 15-21 are the
test groups of splits 1 / 2 / 3 (Soomro et al., Sec. 3).
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
TRAIN, TEST, ABSENT = 1, 2, 0  # values of the splitN fields
_GROUP_CLIP = re.compile(r"_g(\d+)_c(\d+)$")


@register_adapter
@dataclass(frozen=True, kw_only=True)
class UCF101Adapter(DatasetAdapter):
    """UCF-101 RGB clips with the three official train/test lists (Soomro et al., arXiv:1212.0402, Sec. 3).

    One sample per video (the union of the six lists); its label comes from ``classInd.txt`` (1-based there,
    0-based here) via the class folder of the list line, and a train list's own label must agree with it. Fields:
    ``split1``..``split3`` = 1 train / 2 test / 0 not listed, and ``group`` = the ``gXX`` number. Class folder and
    file names are matched case-insensitively, since the lists and ``classInd.txt`` say ``HandstandPushups``
    while the published folder and files are ``HandStandPushups``. Key: the video's file stem.
    """

    name: ClassVar[str] = "ucf101"
    modalities: ClassVar[tuple[str, ...]] = ("rgb",)

    root: Path
    videos_dir: str = "UCF-101"  # folder of the class folders of .avi clips
    lists_dir: str = "ucfTrainTestlist"  # folder of classInd.txt and the train/test lists
    class_index: str = "classInd.txt"
    train_list: str = "trainlist0{split}.txt"  # {split} = 1, 2, 3
    test_list: str = "testlist0{split}.txt"

    def class_names(self) -> list[str]:
        """Names from ``classInd.txt`` ordered by id; ValueError unless the ids are 1..N, each once."""
        path = self.root / self.lists_dir / self.class_index
        by_id: dict[int, str] = {}
        for number, line in read_lines(path):
            parts = line.split()
            if len(parts) != 2 or not parts[0].isdigit():
                raise ValueError(f"{origin(path, number)}: expected '<id> <ClassName>', got {line!r}")
            class_id = int(parts[0])
            if class_id in by_id:
                raise ValueError(f"{origin(path, number)}: class id {class_id} listed twice")
            by_id[class_id] = parts[1]
        if sorted(by_id) != list(range(1, len(by_id) + 1)):
            raise ValueError(f"{path}: class ids must be 1..{len(by_id)}, got {sorted(by_id)}")
        return [by_id[i] for i in range(1, len(by_id) + 1)]

    def protocols(self) -> dict[str, dict[str, Any]]:
        """The three official splits: ``splitN`` trains on trainlist0N (1) and validates on testlist0N (2)."""
        return {f"split{n}": {"field": f"split{n}", "train": [TRAIN], "val": [TEST]} for n in SPLITS}

    def entries(self) -> Iterator[SampleEntry | BadEntry]:
        """Samples in order of first listing (trainlist01, testlist01, trainlist02, ...), then nothing else.

        A BadEntry per unparsable line: wrong field count, non-integer or disagreeing train label, unknown class,
        a name without ``_gXX_cYY``, a video listed in both lists of one split, or a key clash after cleaning.
        """
        names = self.class_names()
        label_of = {n.lower(): i for i, n in enumerate(names)}
        locate = _CaseInsensitiveTree(self.root / self.videos_dir)
        samples: dict[str, dict[str, Any]] = {}  # key -> {"rel", "label", "group", "origin", "marks"}
        order: list[str | BadEntry] = []  # sample keys at their first listing, and bad lines, as read
        for split in SPLITS:
            for mark, template in ((TRAIN, self.train_list), (TEST, self.test_list)):
                path = self.root / self.lists_dir / template.format(split=split)
                for number, line in read_lines(path):
                    where = origin(path, number)
                    parsed = self._parse_line(line, mark, label_of, names)
                    if isinstance(parsed, str):
                        order.append(BadEntry(origin=where, reason=parsed))
                        continue
                    rel, label, group = parsed
                    key = safe_key(Path(rel).stem)
                    known = samples.get(key)
                    if known is None:
                        samples[key] = {"rel": rel, "label": label, "group": group, "origin": where, "marks": {}}
                        order.append(key)
                        known = samples[key]
                    elif known["rel"].lower() != rel.lower():
                        order.append(
                            BadEntry(
                                origin=where,
                                reason=f"key {key!r} of {rel!r} clashes with {known['rel']!r} at {known['origin']}",
                            )
                        )
                        continue
                    previous = known["marks"].get(split)
                    if previous is not None and previous != mark:
                        order.append(
                            BadEntry(
                                origin=where,
                                reason=f"{rel!r} is in both the train and the test list of split {split} "
                                f"(first at {known['origin']})",
                            )
                        )
                        continue
                    known["marks"][split] = mark
        for item in order:
            if isinstance(item, BadEntry):
                yield item
                continue
            sample = samples[item]
            fields = {f"split{n}": sample["marks"].get(n, ABSENT) for n in SPLITS}
            fields["group"] = sample["group"]
            yield SampleEntry(
                key=item,
                label=sample["label"],
                fields=fields,
                origin=sample["origin"],
                rgb=VideoRef(path=locate(sample["rel"])),
                meta={"class_name": names[sample["label"]]},
            )

    @staticmethod
    def _parse_line(line: str, mark: int, label_of: dict[str, int], names: list[str]) -> tuple[str, int, int] | str:
        """``(relative path, 0-based label, group)`` of a list line, or the reason it is malformed."""
        parts = line.split()
        expected = 2 if mark == TRAIN else 1
        if len(parts) != expected:
            shape = "'<Class>/<video>.avi <class id>'" if mark == TRAIN else "'<Class>/<video>.avi'"
            return f"expected {shape}, got {line!r}"
        rel = parts[0].replace("\\", "/")
        folder, _, file_name = rel.rpartition("/")
        if not folder or "/" in folder or not file_name:
            return f"expected '<Class>/<video>.avi', got {parts[0]!r}"
        label = label_of.get(folder.lower())
        if label is None:
            return f"unknown class folder {folder!r} (not in classInd)"
        if mark == TRAIN:
            if not parts[1].isdigit():
                return f"class id must be an integer, got {parts[1]!r}"
            if int(parts[1]) - 1 != label:
                return (
                    f"class id {parts[1]} disagrees with folder {folder!r} = {label + 1} ({names[label]}) in classInd"
                )
        match = _GROUP_CLIP.search(Path(file_name).stem)
        if match is None:
            return f"video name {file_name!r} lacks the '_gXX_cYY' group/clip suffix"
        return rel, label, int(match.group(1))


class _CaseInsensitiveTree:
    """Resolves ``<Class>/<file>`` under a folder case-insensitively (listing each folder once).

    Parts that are not found keep the list's spelling, so a missing file is reported by prepare under its listed
    path.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self._listings: dict[Path, dict[str, str]] = {}

    def _listing(self, folder: Path) -> dict[str, str]:
        if folder not in self._listings:
            names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
            self._listings[folder] = {name.lower(): name for name in sorted(names)}
        return self._listings[folder]

    def __call__(self, rel: str) -> Path:
        path = self.base
        for part in rel.split("/"):
            path = path / self._listing(path).get(part.lower(), part)
        return path
