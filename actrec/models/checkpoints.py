"""Reading model weights a config field points at (``model.rgb_checkpoint``, ``model.spatial_init``, …).

A path names either a checkpoint file or a trial's checkpoint directory as ``actrec.train.loop`` writes it (``best.pt``
preferred, else ``state.pt``); every error names the config field and the file.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

# Files of a checkpoint directory, in order of preference (written by actrec.train.loop).
CHECKPOINT_FILES = ("best.pt", "state.pt")


def resolve_checkpoint(path: str, *, field: str) -> Path:
    """The file checkpoint ``path`` names: ``<dir>/best.pt`` (preferred) or ``<dir>/state.pt``, or the file.

    ``field`` (e.g. ``"model.rgb_checkpoint"``) is named in the ValueError raised when there is none.
    """
    location = Path(path).expanduser()
    if location.is_dir():
        for name in CHECKPOINT_FILES:
            if (location / name).is_file():
                return location / name
        raise ValueError(f"{field}: checkpoint directory {location} holds none of {', '.join(CHECKPOINT_FILES)}")
    if location.is_file():
        return location
    raise ValueError(
        f"{field}: no checkpoint at {location} (expected a directory holding {' or '.join(CHECKPOINT_FILES)}, "
        "or a .pt file)"
    )


def read_checkpoint(path: str, *, field: str) -> tuple[Path, Any]:
    """``(file, contents)`` of checkpoint ``path`` (``resolve_checkpoint``), loaded on the CPU with
    ``weights_only=True``; ValueError naming ``field`` and the file when it cannot be read."""
    file = resolve_checkpoint(path, field=field)
    try:
        return file, torch.load(file, map_location="cpu", weights_only=True)
    except (OSError, EOFError, RuntimeError, pickle.UnpicklingError) as error:
        raise ValueError(f"{field}: cannot read checkpoint {file}: {error}"[:800]) from error
