"""What a model must and may provide: the one place the training loop's contract with a model is written down.

A model is registered by name (:func:`actrec.models.registry.register_model`) with its config dataclass and the
overrides of a CPU-sized variant (``tiny``). Everything generic (the training loop, the registry tests, FLOP
counting) reaches the model only through this contract, never by its name or type.

Required:

- ``Model(config)`` builds the model from its frozen config dataclass; the config has ``num_classes`` (K) and,
  for clip models, ``in_channels``. :func:`actrec.config.from_flat` derives both from the data config unless given,
  and :class:`actrec.config.ExperimentConfig` checks them against it.
- A model with a second, pose heatmap input has ``pose_channels`` in its config (derived and checked likewise; such
  a model needs ``data.modality="rgb_pose"`` and only it takes that modality) and, when its RGB frames are fixed, a
  config attribute ``rgb_frames`` equal to ``data.num_frames``.
- A model with a per-frame ViT encoder that ``model.spatial_init`` can start (see :mod:`actrec.models.spatial_init`)
  has ``frame_encoder()`` in its config: the encoder's ``in_channels``, ``patch_size``, ``dim``, ``depth``,
  ``heads`` and ``mlp_ratio``, which label-free per-frame pretraining (:mod:`actrec.train.frame_pretrain`) builds.
- ``model(*inputs)``: the inputs are the data rows' ``video`` column (B, C, T, S, S), then, when the rows carry
  pose heatmaps (``data.modality="rgb_pose"``), their ``pose`` column (B, J, N, P, P). The output is (B, K) logits,
  or anything the model's own ``class_scores`` and ``training_loss`` read (a tensor (B, S, K) of stream logits, a
  dict of tensors: DDP needs tensors, not dataclasses).

Optional (the generic default applies when a model does not define one):

- ``training_loss(output, target) -> (loss, terms)``: soft targets (B, K); the named scalar terms are averaged over
  the epoch and reported as ``train_<name>``. Default: soft-target cross-entropy on (B, K) logits.
- ``class_scores(output) -> (B, K)`` probabilities, used for top-1 / top-5, view averaging and the confusion
  matrix. Default: the softmax of (B, K) logits.
- ``set_progress(epoch, total_epochs)``: called before every training step with the fractional epoch and before
  evaluation, for epoch-dependent behaviour such as a temperature schedule. Default: nothing.
- ``example_inputs(batch_size) -> tuple of tensors``: a batch of inputs the model takes at its configured size, for
  the registry's tests. Default: one clip (B, ``in_channels``, T, S, S), T = the config's ``num_frames`` (else
  ``EXAMPLE_FRAMES``), S = its ``image_size`` (else ``EXAMPLE_SIZE``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EXAMPLE_FRAMES = 8  # example clip frames for a model whose config does not fix them
EXAMPLE_SIZE = 32  # example clip crop size for a model whose config does not fix it


def _own(model: nn.Module, method: str):
    """The model's own ``method`` (also through a DDP wrapper's ``module``), or None."""
    return getattr(getattr(model, "module", model), method, None)


def training_loss(model: nn.Module, output, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(loss, named loss terms) of one batch against soft targets (B, K): the model's own ``training_loss`` when it
    defines one (several heads and auxiliary losses), else the soft cross-entropy."""
    custom = _own(model, "training_loss")
    if custom is not None:
        return custom(output, target)
    return F.cross_entropy(output, target), {}  # soft (B, K) targets: mean of -Σ_k target·log_softmax


def set_progress(model: nn.Module, epoch: float, total_epochs: int) -> None:
    """Tell a model with epoch-dependent behaviour (``set_progress``) where training is."""
    hook = _own(model, "set_progress")
    if hook is not None:
        hook(epoch, total_epochs)


def class_scores(model: nn.Module, output) -> torch.Tensor:
    """Class probabilities (B, K): the model's own ``class_scores(output)`` when it defines one (e.g. the late score
    fusion of a two-stream model), else the softmax of logits (B, K)."""
    custom = _own(model, "class_scores")
    if custom is not None:
        return custom(output)
    return F.softmax(output, dim=-1)


def example_inputs(model: nn.Module, batch_size: int = 2) -> tuple[torch.Tensor, ...]:
    """A batch of random inputs the model takes: its own ``example_inputs`` when it defines one, else one clip."""
    custom = _own(model, "example_inputs")
    if custom is not None:
        return tuple(custom(batch_size))
    config = getattr(model, "module", model).config
    frames = getattr(config, "num_frames", EXAMPLE_FRAMES)
    size = getattr(config, "image_size", EXAMPLE_SIZE)
    return (torch.randn(batch_size, config.in_channels, frames, size, size),)
