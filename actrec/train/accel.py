"""The fast path of a training step, shared by the Ray Train loop and ``benchmarks/train_throughput.py``.

Each piece is a ``train.*`` switch, off (or fp32) by default so a CPU run is the plain eager fp32 step:

- ``train.precision="bf16"``: ``torch.autocast`` to bfloat16 around the forward pass and the loss. bf16 keeps fp32's
  exponent range, so no loss scaling is needed; weights, gradients and the optimiser state stay fp32.
- ``train.channels_last``: the model's 5D weights and every 5D input (B, C, T, H, W) in ``torch.channels_last_3d``,
  the layout cuDNN's 3D convolutions prefer (X3D, the CDC stems and the video-to-token convolutions).
- ``train.compile``: ``torch.compile`` (inductor) of the model as DDP wraps it; the first steps compile.
- ``train.pin_memory``: page-locked host batches, so the host-to-GPU copy runs asynchronously (GPU workers only).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch


def autocast(train_cfg: Any, device: torch.device):
    """The forward/loss context of ``train.precision``: bf16 autocast on ``device``'s type, or nothing for fp32."""
    if train_cfg.precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prepare_module(model: torch.nn.Module, train_cfg: Any) -> torch.nn.Module:
    """Before DDP wrapping: the channels-last 3D layout of the model's 5D parameters and buffers, in place (the
    parameter objects, which the optimiser holds, stay the same). Other tensors keep theirs: ``Module.to(memory_format=
    channels_last_3d)`` would fail on the 4D weights of the Transformers' 2D patch embeddings."""
    if train_cfg.channels_last:
        with torch.no_grad():
            for tensor in [*model.parameters(), *model.buffers()]:
                if tensor.dim() == 5:
                    tensor.data = tensor.data.contiguous(memory_format=torch.channels_last_3d)
    return model


def compile_module(model: torch.nn.Module, train_cfg: Any) -> torch.nn.Module:
    """After DDP wrapping: ``torch.compile`` when ``train.compile`` (attributes still reach the wrapped model)."""
    return torch.compile(model) if train_cfg.compile else model


def to_device(x: torch.Tensor, device: torch.device, train_cfg: Any) -> torch.Tensor:
    """One input tensor onto ``device``: channels-last 3D if 5D and ``train.channels_last``; non-blocking from pinned
    memory when the batch was pinned (``iter_options``)."""
    x = x.to(device, non_blocking=x.is_pinned())
    if train_cfg.channels_last and x.ndim == 5:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    return x


def inputs_to_device(inputs: Any, device: torch.device, cfg: Any) -> list[torch.Tensor]:
    """A batch's uint8 input columns (``actrec.data.pipeline.split_valid_inputs``) -> the model's float32 inputs on
    ``device`` (``cfg``: the ExperimentConfig): moved as uint8 (a quarter of the bytes; non-blocking from pinned
    memory), converted there (``actrec.data.transforms.model_inputs``: /255, mean/std), then laid out for the model
    (:func:`to_device`: channels-last 3D)."""
    from actrec.data.transforms import model_inputs

    moved = [x.to(device, non_blocking=x.is_pinned()) for x in inputs]
    return [to_device(x, device, cfg.train) for x in model_inputs(moved, cfg.data)]


def iter_options(train_cfg: Any, device: torch.device) -> dict[str, Any]:
    """Keyword arguments of Ray Data's ``iter_torch_batches`` for this worker: batches stay on the host (the loop
    moves the model's inputs itself, so labels and masks need no copy), pinned when the worker has a GPU."""
    return {"device": "cpu", "pin_memory": bool(train_cfg.pin_memory and device.type == "cuda")}
