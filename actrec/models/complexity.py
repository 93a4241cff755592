"""Model complexity as papers report it: parameter count and GFLOPs of one forward pass.

FLOPs are counted by fvcore (``FlopCountAnalysis``, Facebook Research), which counts one fused multiply-add as
one FLOP — the convention of the GFLOPs columns in the action-recognition literature (e.g. ViViT, X3D, and the
CTN / RPE-STDT tables of Ma's PhD thesis "Deep Learning for Action Recognition in Videos", Massey University, 2024).
Operators fvcore has no formula for (top-k selection, scatter, element-wise activations) are left out, as fvcore does
by design; they are a negligible share next to the convolutions and matrix products.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import pathlib
import tempfile
from collections.abc import Callable, Mapping, Sequence
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


def _models_source_digest() -> str:
    """SHA-256 of every module of ``actrec.models`` (paths and contents): part of a cached count's key, so a count made
    before an edit to any model's code is never reused after it."""
    digest = hashlib.sha256()
    package = pathlib.Path(__file__).parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cached_gflops(directory: str | os.PathLike | None, key: Mapping[str, Any], count: Callable[[], float]) -> float:
    """``count()`` (GFLOPs of one model configuration, e.g. :func:`count_gflops` of the model built from it), made once
    per ``key`` and the source of ``actrec.models``: the result is kept in ``directory`` as ``<hash>.json`` and read
    back by every later call with the same key (a sweep's trials that share a model and input shape; see
    ``actrec.train.loop``). ``key`` must hold everything the count depends on besides the models' code (the model
    config and the input shapes) and be JSON-serialisable (``str`` is used for anything else).

    ``directory`` None counts every time. Writes are atomic (a temporary file renamed into place), so processes that
    count the same key at once leave one whole file; an unreadable or foreign file is counted again and replaced.
    """
    if directory is None:
        return count()
    full = {"key": dict(key), "models_source": _models_source_digest()}
    text = json.dumps(full, sort_keys=True, default=str)
    path = pathlib.Path(directory) / f"{hashlib.sha256(text.encode()).hexdigest()[:24]}.json"
    try:
        stored = json.loads(path.read_text())
        if json.dumps(stored["of"], sort_keys=True, default=str) == text:
            return float(stored["gflops"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not counted yet (or a damaged file): count, and write it (again)
    gflops = count()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"gflops": gflops, "of": json.loads(text)}, f, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
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
