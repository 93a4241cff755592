"""EPIC-KITCHENS-100 (Damen et al., "Rescaling Egocentric Vision: Collection, Pipeline and Challenges for
EPIC-KITCHENS-100", IJCV 2022): 90k action segments in 700 egocentric kitchen videos, each labelled with a verb
(97 classes) and a noun (300 classes); the action recognition challenge trains on the train CSV and reports on the
validation CSV (the test CSV has no labels).

Published layout (``epic-kitchens-100-annotations`` + the per-participant video download)::

    <root>/EPIC_100_train.csv, EPIC_100_validation.csv
        narration_id,participant_id,video_id,narration_timestamp,start_timestamp,stop_timestamp,start_frame,
        stop_frame,narration,verb,verb_class,noun,noun_class,all_nouns,all_noun_classes
    <root>/EPIC_100_verb_classes.csv, EPIC_100_noun_classes.csv     id,key,instances,category
    <root>/<participant_id>/videos/<video_id>.MP4

``start_frame`` / ``stop_frame`` are 1-based frame numbers of the untrimmed video, both inclusive, so a segment is
the 0-based, end-exclusive range ``[start_frame - 1, stop_frame)``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from actrec.data.adapters.base import BadEntry, DatasetAdapter, SampleEntry, VideoRef, register_adapter, safe_key

TRAIN, VALIDATION = 1, 2  # values of the "subset" field
ANNOTATION_COLUMNS = (
    "narration_id",
    "participant_id",
    "video_id",
    "narration_timestamp",
    "start_timestamp",
    "stop_timestamp",
    "start_frame",
    "stop_frame",
    "narration",
    "verb",
    "verb_class",
    "noun",
    "noun_class",
    "all_nouns",
    "all_noun_classes",
)
CLASS_COLUMNS = ("id", "key")  # of EPIC_100_{verb,noun}_classes.csv (also: instances, category)
_PARTICIPANT = re.compile(r"^P(\d+)$")


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if re.fullmatch(r"[+-]?\d+", text) else None


def _open_csv(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    return path.open(encoding="utf-8-sig", newline="")  # tolerate a BOM


def read_class_table(path: Path) -> list[str]:
    """Class keys of an ``EPIC_100_{verb,noun}_classes.csv`` ordered by ``id``; ValueError unless ids are 0..N-1."""
    with _open_csv(path) as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CLASS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: header lacks columns {missing}, got {reader.fieldnames}")
        by_id: dict[int, str] = {}
        for row in reader:
            class_id = _int(row["id"] or "")
            if class_id is None or class_id in by_id or not (row["key"] or "").strip():
                raise ValueError(f"{path}:{reader.line_num}: bad or repeated class row {row}")
            by_id[class_id] = row["key"].strip()
    if sorted(by_id) != list(range(len(by_id))):
        raise ValueError(f"{path}: class ids must be 0..{len(by_id) - 1}, got {sorted(by_id)[:5]}...")
    return [by_id[i] for i in range(len(by_id))]


@dataclass(frozen=True, kw_only=True)
class EpicKitchens100Base(DatasetAdapter):
    """Shared reader of the EPIC-KITCHENS-100 action segments (Damen et al., IJCV 2022, Sec. 4.1 and 5.1).

    One sample per annotated segment of the train and validation CSVs (in file order), trimmed to
    ``[start_frame - 1, stop_frame)`` of ``<participant>/videos/<video_id>.MP4``. Fields: ``subset`` = 1 train /
    2 validation and ``subject`` = the participant number (``P07`` -> 7). Protocol ``official`` trains on 1 and
    validates on 2. Key: ``narration_id`` (``P01_01_0``). Origin: ``"<csv>:<physical line>"``. Meta: verb_class,
    noun_class, verb, noun, narration, participant_id, video_id. Subclasses pick the label (``label_of``).
    """

    modalities: ClassVar[tuple[str, ...]] = ("rgb",)
    label_column: ClassVar[str]  # "verb_class", "noun_class" or "action" (verb_class · nouns + noun_class)

    root: Path
    train_csv: str = "EPIC_100_train.csv"
    validation_csv: str = "EPIC_100_validation.csv"
    verb_classes_csv: str = "EPIC_100_verb_classes.csv"
    noun_classes_csv: str = "EPIC_100_noun_classes.csv"
    video_ext: str = ".MP4"

    def classes_csv(self) -> Path:
        """The class table of this adapter's label column."""
        name = self.verb_classes_csv if self.label_column == "verb_class" else self.noun_classes_csv
        return self.root / name

    def class_names(self) -> list[str]:
        """Class keys (``take``, ``put``, ... or ``tap``, ``plate``, ...) ordered by class id."""
        return read_class_table(self.classes_csv())

    def protocols(self) -> dict[str, dict[str, Any]]:
        """``official``: train on EPIC_100_train.csv (subset 1), validate on EPIC_100_validation.csv (2)."""
        return {"official": {"field": "subset", "train": [TRAIN], "val": [VALIDATION]}}

    def entries(self) -> Iterator[SampleEntry | BadEntry]:
        """Train then validation segments in file order; a BadEntry per malformed row (column count, participant
        id, non-integer frames or classes, an empty or reversed frame range) and per key clash."""
        names = self.class_names()
        owners: dict[str, tuple[str, str]] = {}  # key -> (narration_id, origin)
        for subset, file_name in ((TRAIN, self.train_csv), (VALIDATION, self.validation_csv)):
            path = self.root / file_name
            with _open_csv(path) as handle:
                reader = csv.reader(handle)
                header = next(reader, None)
                if header is None:
                    raise ValueError(f"{path}: empty annotation file")
                header = [h.strip() for h in header]
                missing = [c for c in ANNOTATION_COLUMNS if c not in header]
                if missing:
                    raise ValueError(f"{path}: header lacks columns {missing}")
                while True:
                    first_line = reader.line_num + 1  # physical line where the next row starts
                    row = next(reader, None)
                    if row is None:
                        break
                    if not row or not any(cell.strip() for cell in row):
                        continue
                    where = f"{path}:{first_line}"
                    parsed = self._parse_row(row, header)
                    if isinstance(parsed, str):
                        yield BadEntry(origin=where, reason=parsed)
                        continue
                    narration_id = parsed["narration_id"]
                    key = safe_key(narration_id)
                    if key in owners:
                        other, other_origin = owners[key]
                        yield BadEntry(
                            origin=where,
                            reason=f"key {key!r} of {narration_id!r} clashes with {other!r} at {other_origin}",
                        )
                        continue
                    owners[key] = (narration_id, where)
                    label = self.label_of(parsed, names)
                    meta = {k: parsed[k] for k in ("verb_class", "noun_class", "verb", "noun", "narration")}
                    meta.update(participant_id=parsed["participant_id"], video_id=parsed["video_id"])
                    if 0 <= label < len(names):
                        meta["class_name"] = names[label]
                    yield SampleEntry(
                        key=key,
                        label=label,
                        fields={"subset": subset, "subject": parsed["subject"]},
                        origin=where,
                        rgb=VideoRef(
                            path=self.root
                            / parsed["participant_id"]
                            / "videos"
                            / f"{parsed['video_id']}{self.video_ext}",
                            start_frame=parsed["start_frame"] - 1,
                            end_frame=parsed["stop_frame"],
                        ),
                        meta=meta,
                    )

    def label_of(self, parsed: dict[str, Any], names: list[str]) -> int:
        """The sample's label: its ``label_column`` value (``names``: this adapter's class names)."""
        return parsed[self.label_column]

    @staticmethod
    def _parse_row(row: list[str], header: list[str]) -> dict[str, Any] | str:
        """The typed values of an annotation row, or the reason it is malformed."""
        if len(row) != len(header):
            return f"expected {len(header)} columns, got {len(row)}"
        cells = {name: cell.strip() for name, cell in zip(header, row, strict=True)}
        values: dict[str, Any] = {}
        for column in ("narration_id", "video_id"):
            if not cells[column] or "/" in cells[column] or "\\" in cells[column]:
                return f"{column} must be a non-empty name, got {cells[column]!r}"
            values[column] = cells[column]
        participant = _PARTICIPANT.match(cells["participant_id"])
        if participant is None:
            return f"participant_id must look like 'P01', got {cells['participant_id']!r}"
        values["participant_id"], values["subject"] = cells["participant_id"], int(participant.group(1))
        for column in ("start_frame", "stop_frame", "verb_class", "noun_class"):
            number = _int(cells[column])
            if number is None:
                return f"{column} must be an integer, got {cells[column]!r}"
            values[column] = number
        if values["start_frame"] < 1 or values["stop_frame"] < values["start_frame"]:
            return (
                f"frames must satisfy 1 <= start_frame <= stop_frame (1-based, inclusive), "
                f"got {values['start_frame']}..{values['stop_frame']}"
            )
        values.update(verb=cells["verb"], noun=cells["noun"], narration=cells["narration"])
        return values


@register_adapter
@dataclass(frozen=True, kw_only=True)
class EpicKitchens100Adapter(EpicKitchens100Base):
    """EPIC-KITCHENS-100 action segments labelled by verb class (97; Damen et al., IJCV 2022, Sec. 5.1)."""

    name: ClassVar[str] = "epic_kitchens_100"
    label_column: ClassVar[str] = "verb_class"


@register_adapter
@dataclass(frozen=True, kw_only=True)
class EpicKitchens100NounsAdapter(EpicKitchens100Base):
    """The same segments labelled by noun class (300; Damen et al., IJCV 2022, Sec. 5.1)."""

    name: ClassVar[str] = "epic_kitchens_100_nouns"
    label_column: ClassVar[str] = "noun_class"


@register_adapter
@dataclass(frozen=True, kw_only=True)
class EpicKitchens100ActionsAdapter(EpicKitchens100Base):
    """The same segments labelled by action = (verb, noun) pair, the challenge's primary metric (Damen et al., IJCV
    2022, Sec. 5.1): label ``verb_class · 300 + noun_class`` over 97 × 300 = 29,100 joint classes, named
    ``"<verb> <noun>"``. Models with verb and noun heads (``ctn_epic``) split the label back into the two, and top-1
    over the joint classes is the action accuracy (verb and noun both right). A verb or noun id outside its class
    table gives a label outside [0, 29100), which ``actrec data prepare`` reports as out of range.
    """

    name: ClassVar[str] = "epic_kitchens_100_actions"
    label_column: ClassVar[str] = "action"

    def class_names(self) -> list[str]:
        """``"<verb> <noun>"`` for every (verb id, noun id), verb-major: index ``verb · nouns + noun``."""
        verbs = read_class_table(self.root / self.verb_classes_csv)
        nouns = read_class_table(self.root / self.noun_classes_csv)
        return [f"{verb} {noun}" for verb in verbs for noun in nouns]

    @cached_property
    def _nouns(self) -> int:
        return len(read_class_table(self.root / self.noun_classes_csv))

    def label_of(self, parsed: dict[str, Any], names: list[str]) -> int:
        nouns = self._nouns
        verb, noun = parsed["verb_class"], parsed["noun_class"]
        if not (0 <= noun < nouns and 0 <= verb < len(names) // nouns):
            return len(names)  # out of range: rejected (and counted) by prepare, naming the label
        return verb * nouns + noun
