"""Tar shards plus a JSON index: the on-disk format every dataset (synthetic or prepared real data) is written in.

Layout of a dataset root::

    index.json            dataset name, classes, modalities, members, shards with per-sample key/label/split
                          fields, splits (protocol -> field + train/val values), skipped entries (prepared sets)
    shard-000000.tar      members of each sample, contiguous and in this order:
        <key>.rgb.mp4     H.264 (yuv420p) colour video
        <key>.depth.mp4   8-bit grey depth as H.264 (synthetic: nearer = brighter, CRF 20; prepared 8-bit depth
                          videos: QP 0 full-range luma, bit-exact through decord)
        <key>.depth16.tar 16-bit depth frames (prepared NTU): uncompressed tar of 000000.png, ... 16-bit PNGs
        <key>.pose.npy    float32 joints: synthetic (frames, 17, 3) COCO order; prepared (T, M, J, 3); x, y in
                          pixels of the stored rgb.mp4, confidence in [0, 1]
        <key>.json        sample metadata (label, class_name, split fields, frames and size per modality, ...);
                          written LAST, so a sample counts as complete only once its .json member has been read

``index["members"]`` names the member of each modality (synthetic sets predate it: rgb.mp4 / depth.mp4 /
pose.npy). Splits follow each dataset's official protocols, e.g. NTU RGB+D's cross-subject (a subset of actors
trains) and cross-view (a subset of cameras trains) (Shahroudy et al., CVPR 2016, Sec. 4).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

INDEX_NAME = "index.json"
INDEX_FORMAT_VERSION = 1
META_EXT = "json"
DEFAULT_INDEX_FIELDS = ("label", "subject", "view")


def shard_name(shard_id: int) -> str:
    """File name of shard ``shard_id``: ``shard-000000.tar``."""
    return f"shard-{shard_id:06d}.tar"


class ShardWriter:
    """Writes samples into ``shard-NNNNNN.tar`` files of ``samples_per_shard`` samples each.

    Each shard is written as ``.tar.tmp`` and renamed when complete, so a crash never leaves a truncated shard
    under its final name. ``shards`` lists the finished shards in the index format:
    ``{"path": "shard-000000.tar", "samples": [{"key", "label", "subject", "view"}, ...]}``.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        samples_per_shard: int,
        *,
        index_fields: Sequence[str] = DEFAULT_INDEX_FIELDS,
        first_shard_id: int = 0,
    ) -> None:
        if samples_per_shard < 1:
            raise ValueError(f"samples_per_shard must be >= 1, got {samples_per_shard}")
        if "label" not in index_fields:
            raise ValueError(f"index_fields must include 'label', got {list(index_fields)}")
        self.index_fields = tuple(index_fields)
        self.first_shard_id = first_shard_id
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.samples_per_shard = samples_per_shard
        self.shards: list[dict[str, Any]] = []
        self._tar: tarfile.TarFile | None = None
        self._tmp_path: Path | None = None
        self._samples: list[dict[str, Any]] = []
        self._keys: set[str] = set()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()

    def add(self, key: str, members: Mapping[str, bytes], meta: Mapping[str, Any]) -> None:
        """Append one sample: ``members`` maps extension (``"rgb.mp4"``) to bytes; ``meta`` becomes ``<key>.json``.

        ``meta`` must hold an integer for each of ``index_fields`` (they go into the index for splitting).
        """
        if not key or any(c in key for c in "./\\") or key in self._keys:
            raise ValueError(f"sample key must be unique, non-empty and free of '.', '/', '\\', got {key!r}")
        for ext in members:
            if not ext or "/" in ext or ext == META_EXT:
                raise ValueError(f"member extension must be non-empty, without '/', not {META_EXT!r}, got {ext!r}")
        missing = [f for f in self.index_fields if not isinstance(meta.get(f), int)]
        if missing:
            raise ValueError(f"sample meta must hold integer {list(self.index_fields)}, missing/invalid {missing}")
        if self._tar is None:
            self._open_shard()
        assert self._tar is not None
        for ext, data in members.items():
            _add_member(self._tar, f"{key}.{ext}", data)
        _add_member(self._tar, f"{key}.{META_EXT}", json.dumps({"key": key, **meta}, sort_keys=True).encode())
        self._keys.add(key)
        self._samples.append({"key": key, **{f: int(meta[f]) for f in self.index_fields}})
        if len(self._samples) >= self.samples_per_shard:
            self._finish_shard()

    def close(self) -> None:
        """Finish the last (possibly partial) shard."""
        if self._tar is not None:
            self._finish_shard()

    def _open_shard(self) -> None:
        name = shard_name(self.first_shard_id + len(self.shards))
        self._tmp_path = self.out_dir / (name + ".tmp")
        self._tar = tarfile.open(self._tmp_path, mode="w", format=tarfile.PAX_FORMAT)

    def _finish_shard(self) -> None:
        assert self._tar is not None and self._tmp_path is not None
        self._tar.close()
        name = shard_name(self.first_shard_id + len(self.shards))
        os.replace(self._tmp_path, self.out_dir / name)
        self.shards.append({"path": name, "samples": self._samples})
        self._tar, self._tmp_path, self._samples = None, None, []

    def _abort(self) -> None:
        if self._tar is not None:
            self._tar.close()
        if self._tmp_path is not None:
            self._tmp_path.unlink(missing_ok=True)
        self._tar, self._tmp_path, self._samples = None, None, []


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    # Fixed mtime/owner so the same member bytes always give the same tar bytes.
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write_index(
    out_dir: str | os.PathLike[str],
    *,
    dataset: str,
    class_names: Sequence[str],
    modalities: Sequence[str],
    shards: Sequence[Mapping[str, Any]],
    splits: Mapping[str, Mapping[str, Any]],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``index.json`` atomically (tmp + rename) and return its path.

    ``splits`` maps a protocol to ``{"field": <a per-sample index field>, "train": [values], "val": [values]}``.
    """
    for protocol, split in splits.items():
        train, val = set(split["train"]), set(split["val"])
        if not split.get("field") or train & val:
            raise ValueError(f"split {protocol!r} must name a field and disjoint train/val values")
        absent = [s["key"] for shard in shards for s in shard["samples"] if split["field"] not in s]
        if absent:
            raise ValueError(f"split {protocol!r}: samples {absent[:5]} have no field {split['field']!r}")
    index = {
        "format_version": INDEX_FORMAT_VERSION,
        "dataset": dataset,
        "num_classes": len(class_names),
        "class_names": list(class_names),
        "modalities": list(modalities),
        "num_samples": sum(len(s["samples"]) for s in shards),
        "shards": [dict(s) for s in shards],
        "splits": {k: dict(v) for k, v in splits.items()},
        **dict(extra or {}),
    }
    out = Path(out_dir) / INDEX_NAME
    tmp = out.with_name(INDEX_NAME + ".tmp")
    tmp.write_text(json.dumps(index, indent=1, sort_keys=True))
    os.replace(tmp, out)
    return out


PREPARE_HINT = (
    "prepare a dataset there with `actrec data prepare DATASET --root RAW_DIR --out DIR` "
    "(or write the synthetic set with `actrec data synth --out DIR`)"
)
# Fields every index.json has (write_index); a file without them is not an actrec index.
INDEX_FIELDS = ("dataset", "num_classes", "shards", "splits")


def load_index(root: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``<root>/index.json``, only reading: every error names the path and how to make a dataset there.

    A missing root or one that is not a directory, a root without ``index.json`` (an empty directory included), an
    index that is not JSON, not an object, of another format version or without the fields of :func:`write_index`.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"data root {root} does not exist; {PREPARE_HINT}")
    if not root.is_dir():
        raise NotADirectoryError(f"data root {root} is not a directory; {PREPARE_HINT}")
    path = root / INDEX_NAME
    if not path.is_file():
        what = "is an empty directory" if not any(root.iterdir()) else f"holds no {INDEX_NAME}"
        raise FileNotFoundError(f"data root {root} {what}, so it is not a prepared dataset; {PREPARE_HINT}")
    try:
        index = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); rerun `actrec data prepare` for this dataset") from None
    if not isinstance(index, dict):
        raise ValueError(f"{path} holds a JSON {type(index).__name__}, not an index object")
    if index.get("format_version") != INDEX_FORMAT_VERSION:
        raise ValueError(
            f"{path}: index format_version {index.get('format_version')!r}, expected {INDEX_FORMAT_VERSION}"
        )
    missing = [field for field in INDEX_FIELDS if field not in index]
    if missing:
        raise ValueError(f"{path} is not a complete actrec index: no {', '.join(map(repr, missing))}")
    return index


def split_shards(index: Mapping[str, Any], protocol: str, split: str) -> list[dict[str, Any]]:
    """Shard entries (``{"path", "samples"}``) restricted to the samples of ``split`` under ``protocol``.

    Shards with no sample in the split are dropped.
    """
    if protocol not in index["splits"]:
        raise ValueError(f"protocol must be one of {sorted(index['splits'])}, got {protocol!r}")
    definition = index["splits"][protocol]
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    field, allowed = definition["field"], set(definition[split])
    selected = []
    for shard in index["shards"]:
        samples = [s for s in shard["samples"] if s[field] in allowed]
        if samples:
            selected.append({"path": shard["path"], "samples": samples})
    return selected


def iter_shard_members(
    tar_path: str | os.PathLike[str], keys: Iterable[str] | None = None, *, exts: Iterable[str] | None = None
) -> Iterator[tuple[str, dict[str, bytes] | None]]:
    """Yield ``(key, {ext: bytes})`` for each complete sample in a shard; never raises on a bad shard.

    keys: only these samples are read (others are skipped without reading their data). exts: only these
    members' bytes are kept (default all, including ``json``). A sample is complete once its ``.json`` member
    (written last) was read. After reading what it can, the iterator yields ``(key, None)`` for every key in
    ``keys`` it could not read completely (missing file, truncated or garbled tar), so callers can count them;
    with ``keys=None`` only a sample cut off mid-way is reported that way.
    """
    wanted = None if keys is None else set(keys)
    keep = None if exts is None else set(exts)
    done: set[str] = set()
    current_key: str | None = None
    current: dict[str, bytes] = {}
    broken: list[str] = []
    try:
        with tarfile.open(tar_path, mode="r:") as tar:
            while (info := tar.next()) is not None:
                if not info.isfile():
                    continue
                key, _, ext = info.name.partition(".")
                if wanted is not None and key not in wanted:
                    continue
                if key != current_key:
                    if current_key is not None:
                        broken.append(current_key)  # previous sample ended without its .json member
                    current_key, current = key, {}
                if keep is None or ext in keep or ext == META_EXT:
                    data = _read_member(tar, info)
                    if keep is None or ext in keep:
                        current[ext] = data
                if ext == META_EXT:
                    done.add(key)
                    yield key, current
                    current_key, current = None, {}
    except (tarfile.TarError, OSError, EOFError, ValueError):
        # Truncated/garbled/missing shard: keep what was read, report the rest as unreadable below.
        pass
    if current_key is not None:
        broken.append(current_key)
    if wanted is None:
        for key in dict.fromkeys(broken):
            if key not in done:
                yield key, None
    else:
        for key in sorted(wanted - done):
            yield key, None


def _read_member(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(info)
    if handle is None:
        raise tarfile.ReadError(f"member {info.name} has no data")
    data = handle.read()
    if len(data) != info.size:
        raise tarfile.ReadError(f"member {info.name}: read {len(data)} of {info.size} bytes")
    return data


def clip_id(key: str) -> int:
    """A sample key's 63-bit id (BLAKE2b), the same in every trial: Ray Data's torch batches carry numbers, not
    strings, so the pipeline labels each clip with this."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") >> 1
