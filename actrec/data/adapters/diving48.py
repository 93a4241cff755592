"""Diving48 V2 (Li, Li and Vasconcelos, "RESOUND: Towards Action Recognition without Representation Bias",
ECCV 2018): ~18k clips of competitive dives in 48 classes, each class a (takeoff, somersaults, twists, flight
position) combination; V2 is the re-annotated release (cleaned labels, 15,027 train / 1,970 test clips).

Published layout (``Diving48_rgb.tar.gz`` + the V2 annotation JSONs)::

    <root>/Diving48_V2_train.json   [{"vid_name": "-mmq0PT-u8k_00155", "label": 0, "start_frame": 0,
                                      "end_frame": 48}, ...]
    <root>/Diving48_V2_test.json
    <root>/Diving48_vocab.json      48 x ["Back", "15som", "05Twis", "FREE"]
    <root>/rgb/<vid_name>.mp4

The ``rgb/*.mp4`` files are already trimmed: each is one dive cut out of a competition video (``<youtube
id>_<dive number>``), and the records' frame range refers to the clip file itself: published records have
``start_frame`` 0 and ``end_frame`` about the clip's frame count, and common loaders (MMAction2's Diving48 file
lists, TQN's loader) use the whole file. We still honour the range, reading ``end_frame`` as the last annotated
frame (inclusive): the VideoRef is ``[start_frame, end_frame + 1)``. Whether ``end_frame`` is the last index or the
frame count, prepare clamps the end to the video length, so the whole clip is kept and no frame is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from actrec.data.adapters.base import BadEntry, DatasetAdapter, SampleEntry, VideoRef, register_adapter, safe_key

TRAIN, TEST = 1, 2  # values of the "subset" field
_RECORD_FIELDS = ("vid_name", "label", "start_frame", "end_frame")


def _load_json(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@register_adapter
@dataclass(frozen=True, kw_only=True)
class Diving48Adapter(DatasetAdapter):
    """Diving48 V2 RGB clips with the official train / test JSONs (Li et al., ECCV 2018, Sec. 4).

    Class names come from ``Diving48_vocab.json`` (the four sub-actions joined by ", "); labels are the records'
    0-based ``label``. Field ``subset``: 1 = train JSON, 2 = test JSON; protocol ``official`` trains on 1 and
    validates on 2. Origin of a record: ``"<json file>:#<index>"`` with the 0-based position in the JSON list.
    Key: ``vid_name``. Trim range: ``[start_frame, end_frame + 1)`` (see the module docstring).
    """

    name: ClassVar[str] = "diving48"
    modalities: ClassVar[tuple[str, ...]] = ("rgb",)

    root: Path
    train_json: str = "Diving48_V2_train.json"
    test_json: str = "Diving48_V2_test.json"
    vocab_json: str = "Diving48_vocab.json"
    videos_dir: str = "rgb"  # folder of <vid_name>.mp4
    video_ext: str = ".mp4"

    def class_names(self) -> list[str]:
        """``", ".join`` of each vocabulary entry, in label order; ValueError when the vocabulary is malformed."""
        path = self.root / self.vocab_json
        vocab = _load_json(path)
        if not isinstance(vocab, list) or not vocab:
            raise ValueError(f"{path}: expected a JSON list of [takeoff, somersault, twist, flight] entries")
        names = []
        for index, parts in enumerate(vocab):
            if not isinstance(parts, list) or not parts or not all(isinstance(p, str) for p in parts):
                raise ValueError(f"{path}:#{index}: expected a list of sub-action strings, got {parts!r}")
            names.append(", ".join(parts))
        return names

    def protocols(self) -> dict[str, dict[str, Any]]:
        """``official``: train on Diving48_V2_train.json (subset 1), validate on Diving48_V2_test.json (2)."""
        return {"official": {"field": "subset", "train": [TRAIN], "val": [TEST]}}

    def entries(self) -> Iterator[SampleEntry | BadEntry]:
        """Train records then test records, in file order; a BadEntry per malformed record (not an object, a
        missing field, a non-integer or out-of-range label, a bad frame range) and per key clash."""
        names = self.class_names()
        owners: dict[str, tuple[str, str]] = {}  # key -> (vid_name, origin)
        for subset, file_name in ((TRAIN, self.train_json), (TEST, self.test_json)):
            path = self.root / file_name
            records = _load_json(path)
            if not isinstance(records, list):
                raise ValueError(f"{path}: expected a JSON list of records, got {type(records).__name__}")
            for index, record in enumerate(records):
                where = f"{path}:#{index}"
                problem = _record_problem(record, len(names))
                if problem:
                    yield BadEntry(origin=where, reason=problem)
                    continue
                vid_name = record["vid_name"]
                key = safe_key(vid_name)
                if key in owners:
                    other, other_origin = owners[key]
                    yield BadEntry(
                        origin=where, reason=f"key {key!r} of {vid_name!r} clashes with {other!r} at {other_origin}"
                    )
                    continue
                owners[key] = (vid_name, where)
                label = record["label"]
                yield SampleEntry(
                    key=key,
                    label=label,
                    fields={"subset": subset},
                    origin=where,
                    rgb=VideoRef(
                        path=self.root / self.videos_dir / f"{vid_name}{self.video_ext}",
                        start_frame=record["start_frame"],
                        end_frame=record["end_frame"] + 1,
                    ),
                    meta={
                        "class_name": names[label],
                        "vid_name": vid_name,
                        "annotated_frames": [record["start_frame"], record["end_frame"]],  # as in the JSON
                    },
                )


def _record_problem(record: Any, num_classes: int) -> str:
    """Why a JSON record is unusable, or "" when it is well formed."""
    if not isinstance(record, dict):
        return f"expected an object with {list(_RECORD_FIELDS)}, got {type(record).__name__}"
    missing = [f for f in _RECORD_FIELDS if f not in record]
    if missing:
        return f"record lacks {missing}"
    if not isinstance(record["vid_name"], str) or not record["vid_name"].strip():
        return f"vid_name must be a non-empty string, got {record['vid_name']!r}"
    if "/" in record["vid_name"] or "\\" in record["vid_name"]:
        return f"vid_name must be a file stem, got {record['vid_name']!r}"
    label = record["label"]
    if not _is_int(label):
        return f"label must be an integer, got {label!r}"
    if not 0 <= label < num_classes:
        return f"label {label} out of range [0, {num_classes})"
    start, end = record["start_frame"], record["end_frame"]
    if not (_is_int(start) and _is_int(end)):
        return f"start_frame and end_frame must be integers, got {start!r} and {end!r}"
    if start < 0 or end < start:
        return f"frame range must satisfy 0 <= start_frame <= end_frame, got {start}..{end}"
    return ""
