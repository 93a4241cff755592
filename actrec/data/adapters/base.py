"""What a dataset adapter is: the published on-disk layout of a dataset -> a list of samples to shard.

An adapter only *reads the layout* (list files, annotation CSV/JSON, file-name conventions) and says, per sample,
which files hold its RGB / depth / pose, its label, its split fields and where in the list it came from. Decoding,
trimming, resizing, encoding, shard writing, validation of what the adapter listed and resuming are the job of
``actrec.data.prepare`` and are the same for every dataset.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True, kw_only=True)
class VideoRef:
    """A video file, optionally trimmed to frames ``[start_frame, end_frame)`` (0-based, end exclusive)."""

    path: Path  # the video file (any container/codec FFmpeg reads: .avi, .mp4, .MP4, ...)
    start_frame: int = 0  # first frame kept
    end_frame: int | None = None  # one past the last frame kept; None = to the end of the video


@dataclass(frozen=True, kw_only=True)
class FrameFolderRef:
    """Per-frame image files in temporal order (e.g. NTU's 16-bit masked depth PNGs)."""

    paths: tuple[Path, ...]  # one image per frame, in order; 16-bit PNGs keep their 16 bits


@dataclass(frozen=True, kw_only=True)
class SampleEntry:
    """One sample as the adapter found it in the published layout."""

    key: str  # unique sample name, used as the tar member stem: no '.', '/', '\\' (e.g. "S001C002P003R002A013")
    label: int  # 0-based class id in [0, num_classes)
    fields: Mapping[str, int]  # integer split/grouping fields written to the index, e.g. {"subject": 3, "view": 2}
    origin: str  # where the entry came from, "list_file:line" for list datasets, else the sample's path
    rgb: VideoRef | None = None
    depth: VideoRef | FrameFolderRef | None = None
    pose: Path | None = None  # file the adapter's ``read_pose`` parses (e.g. an NTU .skeleton file)
    meta: Mapping[str, Any] = field(default_factory=dict)  # extra JSON-able metadata (class_name, noun, ...)


@dataclass(frozen=True, kw_only=True)
class BadEntry:
    """An entry the adapter could not turn into a sample (malformed line, unknown class name, ...)."""

    origin: str  # "list_file:line" (1-based line number) or the offending path
    reason: str  # what is wrong, for the prepare report / the --strict error


class DatasetAdapter(ABC):
    """Base class of the dataset adapters; subclasses are frozen kw-only dataclasses with a ``root: Path`` field.

    Subclasses set ``name`` (a key of ``actrec.data.config.DATASETS``) and ``modalities``, and implement
    ``class_names``, ``protocols`` and ``entries``; datasets with skeletons implement ``read_pose``.
    Extra dataclass fields are adapter options (``actrec data prepare <name> --option field=value``).
    """

    name: ClassVar[str]
    modalities: ClassVar[tuple[str, ...]]  # subset of ("rgb", "depth", "pose") every sample provides
    root: Path

    @abstractmethod
    def class_names(self) -> list[str]:
        """Class names indexed by label id; ``len`` is the dataset's class count."""

    @abstractmethod
    def protocols(self) -> dict[str, dict[str, Any]]:
        """Evaluation protocols: name -> ``{"field": <a SampleEntry.fields key>, "train": [values], "val": [values]}``.

        A sample belongs to a split when its value of ``field`` is in that split's list; values in neither list
        (e.g. HMDB-51's 0 = "not used in this split") leave the sample out of that protocol. The first protocol
        is the dataset's default. Names must match ``actrec.data.config.DATASETS[name].protocols``.
        """

    @abstractmethod
    def entries(self) -> Iterator[SampleEntry | BadEntry]:
        """Every sample of the dataset in a deterministic order, and a BadEntry for each entry that is malformed.

        Missing files, duplicate keys, labels out of range, missing split fields, and undecodable or empty
        videos are checked by ``actrec.data.prepare``; adapters need not check them.
        """

    def read_pose(self, path: Path) -> np.ndarray:
        """Parse a pose file -> float32 (T, M, J, 3): per frame, person and joint x, y in pixels of the source RGB
        frame and a confidence in [0, 1] (0 = joint absent). Raise ValueError naming the file when malformed."""
        raise NotImplementedError(f"{type(self).__name__} has no pose")

    def rgb_crop_box(self, entry: SampleEntry, pose: np.ndarray | None) -> tuple[int, int, int, int] | None:
        """Optional region (left, top, right, bottom) in source RGB pixels to crop every frame to; None = whole."""
        return None


ADAPTERS: dict[str, type[DatasetAdapter]] = {}


def register_adapter(cls: type[DatasetAdapter]) -> type[DatasetAdapter]:
    """Class decorator: make ``cls`` available as ``actrec data prepare <cls.name>``."""
    if cls.name in ADAPTERS:
        raise ValueError(f"adapter {cls.name!r} registered twice")
    ADAPTERS[cls.name] = cls
    return cls


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, stripped line) for each non-blank line of a text file; FileNotFoundError names it."""
    if not path.is_file():
        raise FileNotFoundError(f"list file not found: {path}")
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if text:
                yield number, text


def origin(path: Path, line: int) -> str:
    """``"path:line"``, the origin string of an entry read from a list file."""
    return f"{path}:{line}"


def safe_key(*parts: str | int, sep: str = "_") -> str:
    """A shard-safe sample key from name parts: every character outside [A-Za-z0-9_-] becomes '-'."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", sep.join(str(p) for p in parts))


def check_fields_cover(protocols: Mapping[str, Mapping[str, Any]], fields: Sequence[str]) -> None:
    """ValueError unless every protocol's split field is one of ``fields`` (used by adapter tests)."""
    for name, protocol in protocols.items():
        if protocol["field"] not in fields:
            raise ValueError(f"protocol {name!r} splits on field {protocol['field']!r}, not in {list(fields)}")
