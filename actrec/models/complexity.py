"""Model complexity as papers report it: parameter count and GFLOPs of one forward pass.

FLOPs are counted by fvcore (``FlopCountAnalysis``, Facebook Research), which counts one fused multiply-add as
one FLOP — the convention of the GFLOPs columns in the action-recognition literature (e.g. ViViT, X3D, and the
CTN / RPE-STDT tables of Ma's PhD thesis "Deep Learning for Action Recognition in Videos", Massey University, 2024).
Operators fvcore has no formula for (top-k selection, scatter, element-wise activations) are left out, as fvcore does
by design; they are a negligible share next to the convolutions and matrix products.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import json
import logging
import math
import os
import pathlib
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not) of ``model``."""
    return sum(p.numel() for p in model.parameters())


def count_gflops(
    model: nn.Module, input_shape: Sequence[int], *more_shapes: Sequence[int], device: torch.device | str | None = None
) -> float:
    """GFLOPs (multiply-adds, fvcore convention) of ``model`` on one input of ``input_shape`` (batch included), or on
    one zero tensor per shape for a model of several inputs (``model(x, y)``: EPAM-Net's RGB clip and heatmaps).

    Runs one forward pass in eval mode under ``torch.no_grad`` and restores the model's training mode.
    """
    from fvcore.nn import FlopCountAnalysis

    if device is None:
        device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            inputs = tuple(torch.zeros(tuple(shape), device=device) for shape in (input_shape, *more_shapes))
            analysis = FlopCountAnalysis(model, inputs)
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
            # fvcore logs one line per unsupported operator type at WARNING; they are expected here (see above).
            logger = logging.getLogger("fvcore.nn.jit_analysis")
            level = logger.level
            logger.setLevel(logging.ERROR)
            try:
                total = analysis.total()
            finally:
                logger.setLevel(level)
    finally:
        model.train(was_training)
    return total / 1e9


def architecture_config(model_config: Any) -> Any:
    """``model_config`` (a model config dataclass) with its fields that name a weight file (``*_checkpoint``,
    ``*_init``) blanked: weights do not change a model's FLOPs, so configs that differ only there count the same."""
    blank = {
        f.name: ""
        for f in dataclasses.fields(model_config)
        if f.name.endswith(("_checkpoint", "_init")) and isinstance(getattr(model_config, f.name), str)
    }
    return dataclasses.replace(model_config, **blank) if blank else model_config


# Packages whose code every model is built from; a count's key holds a digest of their sources (and of the modules
# of the model's own classes, for models registered from outside actrec).
_MODEL_PACKAGES = ("actrec.models", "actrec.layers")


def _source_digest(modules: Iterable[str]) -> str:
    """SHA-256 of the source files of :data:`_MODEL_PACKAGES` and of ``modules`` (module names), and of the torch and
    fvcore versions: part of a cached count's key, so a count made before an edit to the models' code, or with other
    counting libraries, is not reused after it."""
    import fvcore

    files = set()
    for name in _MODEL_PACKAGES:
        files.update(pathlib.Path(importlib.import_module(name).__file__).parent.rglob("*.py"))
    for name in modules:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file:
            files.add(pathlib.Path(file))
    digest = hashlib.sha256(f"torch {torch.__version__} fvcore {fvcore.__version__}".encode())
    for path in sorted(files):
        digest.update(str(path).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def model_gflops_key(model: nn.Module, model_config: Any, *shapes: Sequence[int]) -> dict[str, Any]:
    """What a GFLOPs count of ``model`` (built from ``model_config``) on inputs of ``shapes`` depends on, as a key of
    :func:`cached_gflops`: the config's class (module-qualified) and fields, weight-file fields blanked
    (:func:`architecture_config`), the input shapes, and a digest of the code it was built from
    (:func:`_source_digest`: the model packages and the modules of every class in ``model``)."""
    config_class = type(model_config)
    modules = {type(m).__module__ for m in model.modules()} | {config_class.__module__}
    return {
        "config_class": f"{config_class.__module__}.{config_class.__qualname__}",
        "config": dataclasses.asdict(architecture_config(model_config)),
        "inputs": [list(shape) for shape in shapes],
        "code": _source_digest(sorted(modules)),
    }


def cached_gflops(directory: str | os.PathLike | None, key: Mapping[str, Any], count: Callable[[], float]) -> float:
    """``count()`` (GFLOPs of one model configuration, e.g. :func:`count_gflops`), made once per ``key``
    (:func:`model_gflops_key`) and read back after: the result is kept in ``directory`` as ``<hash>.json`` (a sweep's
    trials that share a model and input shape; ``actrec.train.loop``). ``key`` must be JSON-serialisable (``str`` is
    used for anything else).

    ``directory`` None counts every time. Writes are atomic (a temporary file renamed into place), so processes that
    count the same key at once leave one whole file; an unreadable or foreign file is counted again and replaced; a
    file that cannot be written (full disk, read-only storage) is logged and the count returned all the same.
    """
    if directory is None:
        return count()
    text = json.dumps(dict(key), sort_keys=True, default=str)
    path = pathlib.Path(directory) / f"{hashlib.sha256(text.encode()).hexdigest()[:24]}.json"
    try:
        stored = json.loads(path.read_text())
        if json.dumps(stored["of"], sort_keys=True, default=str) == text:
            return float(stored["gflops"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not counted yet (or a damaged file): count, and write it (again)
    gflops = count()
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump({"gflops": gflops, "of": json.loads(text)}, f, sort_keys=True)
        os.chmod(tmp, 0o644)  # readable by whoever else reads the sweep's storage (mkstemp makes it 0600)
        os.replace(tmp, path)
    except OSError as err:
        logging.getLogger(__name__).warning("GFLOPs count not kept in %s (%s); later trials count again", path, err)
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return gflops


# Convolution operators as torch.utils.flop_counter sees them (fvcore's ``aten::_convolution``): the operators a
# cost estimate runs at the accelerator's convolution rate (``actrec.tune.cost``); everything else counted is a matrix
# product or a normalisation layer.
_CONVOLUTIONS = ("convolution", "_convolution")


def _batch_norm_flops(input_shape, weight_shape=None, *args, out_shape=None, **kwargs) -> int:
    """fvcore's ``aten::batch_norm`` in eval mode (``batchnorm_flop_jit``): 2 per element with an affine weight, else
    1; doubled, as ``FlopCounterMode`` counts a multiply-add as 2."""
    return 2 * math.prod(input_shape) * (2 if weight_shape is not None else 1)


def _norm_flops(input_shape, affine_shape=None) -> int:
    """fvcore's layer / group norm (``norm_flop_counter``): 5 per element with an affine weight, else 4; doubled."""
    return 2 * math.prod(input_shape) * (5 if affine_shape is not None else 4)


def _layer_norm_flops(input_shape, normalized_shape, weight_shape=None, *args, out_shape=None, **kwargs) -> int:
    return _norm_flops(input_shape, weight_shape)


def _group_norm_flops(input_shape, weight_shape=None, *args, out_shape=None, **kwargs) -> int:
    return _norm_flops(input_shape, weight_shape)


def count_gflops_meta(
    build: Callable[[], nn.Module], input_shape: Sequence[int], *more_shapes: Sequence[int]
) -> dict[str, float]:
    """What :func:`count_gflops` counts, without computing anything: the model ``build()`` makes is built on PyTorch's
    meta device (shapes only, no weights: up to about a second for a paper-size model on the 2-vCPU VM, where
    fvcore's traced forward pass takes 3-11 s on its CPU) and its forward pass in eval mode is counted by
    ``torch.utils.flop_counter.FlopCounterMode``.

    Returns GFLOPs (multiply-adds, fvcore's convention) by kind: ``{"convolution": ..., "other": ...}``, the second
    the matrix products plus the normalisation layers fvcore counts (batch norm in eval: 2 per element with an affine
    weight; layer and group norm: 5). fvcore's other formulas (2D upsampling and adaptive pooling, grid sampling,
    instance norm) are not mirrored: no registered model uses them. An einsum is counted as the matrix products
    PyTorch runs it as, where fvcore takes numpy's ``einsum_path`` estimate: a few multiply-adds apart per call.
    ``tests/test_models_complexity.py`` checks both counts on every registered model (convolutions equal, the rest
    within 0.1%). ``build`` must not load weights (a meta model has none).
    """
    from torch.utils.flop_counter import FlopCounterMode

    aten = torch.ops.aten
    fvcore_norms = {
        aten.native_batch_norm: _batch_norm_flops,
        aten._native_batch_norm_legit_no_training: _batch_norm_flops,
        aten.native_layer_norm: _layer_norm_flops,
        aten.native_group_norm: _group_norm_flops,
    }
    with torch.device("meta"):
        model = build()
    model.eval()
    inputs = tuple(torch.zeros(tuple(shape), device="meta") for shape in (input_shape, *more_shapes))
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=fvcore_norms) as counter:
        model(*inputs)
    by_operator = counter.get_flop_counts().get("Global", {})
    convolution = sum(count for op, count in by_operator.items() if op.__name__ in _CONVOLUTIONS)
    total = sum(by_operator.values())
    # FlopCounterMode counts a multiply-add as 2 FLOPs; fvcore (and the papers' GFLOPs) as 1.
    return {"convolution": convolution / 2e9, "other": (total - convolution) / 2e9}
