"""Dataset adapters: published layouts of the papers' datasets -> samples for ``actrec data prepare``.

One module per dataset; each registers its adapter class(es) with ``register_adapter`` when imported.
``create_adapter("ucf101", root, lists_dir="...")`` builds one with string options coerced to the field types.
"""

from __future__ import annotations

import dataclasses
import importlib
import typing
from pathlib import Path
from typing import Any

from actrec.data.adapters.base import (
    ADAPTERS,
    BadEntry,
    DatasetAdapter,
    FrameFolderRef,
    SampleEntry,
    VideoRef,
    register_adapter,
)

ADAPTER_MODULES = ("ntu", "isogd", "nvgesture", "thu_read", "ucf101", "hmdb51", "diving48", "epic_kitchens")

__all__ = [
    "ADAPTERS",
    "BadEntry",
    "DatasetAdapter",
    "FrameFolderRef",
    "SampleEntry",
    "VideoRef",
    "adapter_fields",
    "create_adapter",
    "load_adapters",
    "register_adapter",
]


def load_adapters() -> dict[str, type[DatasetAdapter]]:
    """Import every adapter module; returns the registry (dataset name -> adapter class)."""
    for module in ADAPTER_MODULES:
        importlib.import_module(f"actrec.data.adapters.{module}")
    return dict(sorted(ADAPTERS.items()))


def adapter_fields(cls: type[DatasetAdapter]) -> dict[str, tuple[Any, Any]]:
    """Option name -> (type, default) of an adapter class, without ``root``."""
    hints = typing.get_type_hints(cls)
    options = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name == "root" or not f.init:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        options[f.name] = (hints.get(f.name, str), default)
    return options


def create_adapter(name: str, root: str | Path, **options: Any) -> DatasetAdapter:
    """The adapter registered as ``name`` reading ``root``; string option values are coerced to the field types."""
    registry = load_adapters()
    if name not in registry:
        raise ValueError(f"unknown dataset {name!r}; adapters exist for {sorted(registry)}")
    cls = registry[name]
    fields = adapter_fields(cls)
    kwargs: dict[str, Any] = {}
    for key, value in options.items():
        if key not in fields:
            raise ValueError(f"{name} has no option {key!r}; options: {sorted(fields) or 'none'}")
        kwargs[key] = _coerce(f"{name} option {key}", value, fields[key][0]) if isinstance(value, str) else value
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{name} root is not a directory: {root}")
    return cls(root=root, **kwargs)


def _coerce(label: str, text: str, kind: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        kinds = [k for k in typing.get_args(kind) if k is not type(None)]
        if text.lower() in ("none", "") and len(kinds) < len(typing.get_args(kind)):
            return None
        kind = kinds[0]
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{label} must be true or false, got {text!r}")
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise ValueError(f"{label} must be {kind.__name__}, got {text!r}") from None
    if kind is Path:
        return Path(text)
    if typing.get_origin(kind) is tuple:
        return tuple(part.strip() for part in text.split(",") if part.strip())
    return text
