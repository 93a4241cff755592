"""Per-clip evidence of a trial: its best epoch's predictions on the evaluation split, as a compact NPZ artifact.

The training loop reports them as the result ``PREDICTIONS_METRIC`` (``{"clip", "label", "pred", "score"}`` lists,
see :mod:`actrec.train.loop`); the sweep driver's MLflow callback writes them to the trial's child run as
``PREDICTIONS_ARTIFACT``, adding each clip's sample key when the dataset's index is readable; the report reads them
back to compare two cells clip by clip (:mod:`actrec.report.claims`). Clip ids are 63-bit hashes of the sample keys
(:func:`actrec.data.shards.clip_id`), so trials of one dataset name the same clip alike. NumPy and the standard
library only: the workers import it too.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from actrec.data.shards import clip_id

PREDICTIONS_METRIC = "val_predictions_best"  # trial result: per-clip predictions at the best validation epoch
PREDICTIONS_ARTIFACT = "predictions_best.npz"  # on a child run: clip, label, pred, score (+ key) arrays
FIELDS = ("clip", "label", "pred", "score")


def to_arrays(payload: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A reported ``PREDICTIONS_METRIC`` value -> typed arrays; ValueError when a field is missing or lengths differ."""
    missing = [f for f in FIELDS if f not in payload]
    if missing:
        raise ValueError(f"per-clip predictions lack {missing}")
    arrays = {
        "clip": np.asarray(payload["clip"], dtype=np.int64),
        "label": np.asarray(payload["label"], dtype=np.int64),
        "pred": np.asarray(payload["pred"], dtype=np.int64),
        "score": np.asarray(payload["score"], dtype=np.float32),
    }
    if len({a.shape for a in arrays.values()}) != 1 or arrays["clip"].ndim != 1:
        raise ValueError(f"per-clip predictions have fields of different shapes {[a.shape for a in arrays.values()]}")
    return arrays


def with_keys(arrays: Mapping[str, np.ndarray], keys: Iterable[str]) -> dict[str, np.ndarray]:
    """``arrays`` plus a ``key`` array naming each clip, from the dataset's sample ``keys`` (unknown ids: "")."""
    by_id = {clip_id(k): k for k in keys}
    return {**arrays, "key": np.asarray([by_id.get(int(c), "") for c in arrays["clip"]], dtype=str)}


def encode(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The NPZ bytes of ``arrays`` (compressed)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def decode(data: bytes | str) -> dict[str, np.ndarray]:
    """NPZ bytes (or a path) -> arrays; ValueError naming what is wrong when it is not a predictions file."""
    try:
        with np.load(io.BytesIO(data) if isinstance(data, bytes) else data, allow_pickle=False) as npz:
            loaded = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as err:
        raise ValueError(f"not a per-clip predictions NPZ file: {err}") from None
    arrays = to_arrays(loaded)
    if "key" in loaded:
        arrays["key"] = loaded["key"]
    return arrays
