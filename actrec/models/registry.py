"""timm-style model registry: named variants are small functions returning a model's config dataclass.

A paper's model file registers its variants::

    @register_model(MFST, tiny={"dims": (16, 24, 32, 32), ...})
    def mfst_base(**overrides) -> MFSTConfig:
        return MFSTConfig(**{"stages": 3, **overrides})

and everything else goes through the name: ``model_config(name, **overrides)`` resolves the config (the dotted
keys ``model.<field>`` used by the CLI, Ray ``param_space`` and MLflow are its field names), ``build_model(config)``
builds the registered class for that config type, ``create_model(name, **overrides)`` does both, and
``tiny_overrides(name)`` gives the overrides for a CPU-sized version used by tests and CPU profiles.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

from torch import nn

ConfigFn = Callable[..., Any]


class UnknownModelError(KeyError, ValueError):
    """Raised for a model name that is not registered (catchable as KeyError or ValueError)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclasses.dataclass(frozen=True)
class _Entry:
    config_fn: ConfigFn
    model_cls: type[nn.Module]
    config_cls: type
    tiny: dict[str, Any]


_MODELS: dict[str, _Entry] = {}
_CLASS_BY_CONFIG: dict[type, type[nn.Module]] = {}


def register_model(model_cls: type[nn.Module], *, tiny: dict[str, Any]) -> Callable[[ConfigFn], ConfigFn]:
    """Decorator registering a variant function ``name(**overrides) -> config`` under its ``__name__`` (actrec's own
    models) or ``MODULE:NAME`` (a model defined outside the package: ``MODULE`` is the defining module, so every
    process that resolves the name can import it, and two plug-ins may use the same ``NAME``).

    ``model_cls(config)`` must build the model; ``tiny`` is the dict of overrides giving a CPU-tiny version.
    The variant's default config is built once here, so a variant with invalid defaults fails at import.
    """

    def decorator(config_fn: ConfigFn) -> ConfigFn:
        module = config_fn.__module__
        name = config_fn.__name__ if module.startswith("actrec.") else f"{module}:{config_fn.__name__}"
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        config = config_fn()
        if not dataclasses.is_dataclass(config):
            raise TypeError(f"variant {name!r} must return a config dataclass, got {type(config).__name__}")
        config_cls = type(config)
        known = _CLASS_BY_CONFIG.setdefault(config_cls, model_cls)
        if known is not model_cls:
            raise ValueError(
                f"{config_cls.__name__} is already registered for {known.__name__}, not {model_cls.__name__}"
            )
        entry = _Entry(config_fn=config_fn, model_cls=model_cls, config_cls=config_cls, tiny=dict(tiny))
        _check_fields(name, entry, entry.tiny)
        _MODELS[name] = entry
        return config_fn

    return decorator


def _entry(name: str) -> _Entry:
    """The entry of ``name``: one of actrec's models, or ``MODULE:NAME`` for a model registered by a module outside
    the package (a paper plug-in), whose module is imported here first, in whichever process asks (the sweep driver,
    a Tune trial, a Ray Train worker, a report); Ray puts the sweep script's directory on its workers' ``sys.path``.
    ``MODULE`` may also be a package one of whose submodules registers ``NAME``."""
    if name in _MODELS:
        return _MODELS[name]
    module, sep, short = name.rpartition(":")
    if sep and module and short:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise UnknownModelError(f"model {name!r}: cannot import its module {module!r} ({err})") from None
        found = []
        for key in _MODELS:
            where, _, registered = key.rpartition(":")
            if registered == short and (where == module or where.startswith(module + ".")):
                found.append(key)
        if len(found) == 1:
            return _MODELS[found[0]]
        raise UnknownModelError(f"model {name!r}: module {module!r} registers no model {short!r}")
    raise UnknownModelError(
        f"unknown model {name!r}; known models: {', '.join(list_models())} (a model registered by a module "
        "outside actrec: MODULE:NAME)"
    )


def is_model(name: str) -> bool:
    """Whether ``name`` resolves to a registered model (importing a ``MODULE:NAME`` plug-in's module)."""
    try:
        _entry(name)
    except (UnknownModelError, ValueError, TypeError):  # also a plug-in that fails to register (a name clash)
        return False
    return True


def _check_fields(name: str, entry: _Entry, overrides: dict[str, Any]) -> None:
    fields = {field.name for field in dataclasses.fields(entry.config_cls)}
    for key in overrides:
        if key not in fields:
            raise ValueError(
                f"model.{key} is not a field of {entry.config_cls.__name__} (model {name!r}); "
                f"known fields: {', '.join(sorted(fields))}"
            )


def model_class(name: str) -> type[nn.Module]:
    """The model class registered for variant ``name``."""
    return _entry(name).model_cls


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_MODELS)


def model_config(name: str, **overrides: Any) -> Any:
    """The config dataclass of variant ``name`` with ``overrides`` (field names) applied and validated."""
    entry = _entry(name)
    _check_fields(name, entry, overrides)
    return entry.config_fn(**overrides)


def build_model(config: Any) -> nn.Module:
    """Build the registered model class for a resolved config dataclass."""
    try:
        model_cls = _CLASS_BY_CONFIG[type(config)]
    except KeyError:
        known = ", ".join(sorted(cls.__name__ for cls in _CLASS_BY_CONFIG))
        raise ValueError(f"no model registered for config type {type(config).__name__}; known: {known}") from None
    return model_cls(config)


def create_model(name: str, **overrides: Any) -> nn.Module:
    """``build_model(model_config(name, **overrides))``."""
    return build_model(model_config(name, **overrides))


def tiny_overrides(name: str) -> dict[str, Any]:
    """A copy of the overrides that make variant ``name`` CPU-tiny."""
    return dict(_entry(name).tiny)
