"""Model complexity as papers report it: parameter count and GFLOPs of one forward pass.

FLOPs are counted by fvcore (``FlopCountAnalysis``, Facebook Research), which counts one fused multiply-add as
one FLOP — the convention of the GFLOPs columns in the action-recognition literature (e.g. ViViT, X3D, and the
CTN / RPE-STDT tables of Ma's PhD thesis "Deep Learning for Action Recognition in Videos", Massey University, 2024).
Operators fvcore has no formula for (top-k selection, scatter, element-wise activations) are left out, as fvcore does
by design; they are a negligible share next to the convolutions and matrix products.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

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
