"""Starting a per-frame ViT encoder from a checkpoint file (``model.spatial_init``).

The thesis fine-tunes its frame-wise Transformers from ViT-B: "we follow the model weights of the ViT-Base approach"
(§3.4.2; RPE-STDT's spatial encoder and Table 3.3's ViT baseline). actrec cannot download weights; a researcher who
has them passes the file. Accepted files (``torch.load`` with ``weights_only=True``; a state dict, possibly under a
``"model"``, ``"state_dict"`` or ``"module"`` key):

* a ViT in timm's naming (``patch_embed.proj.*``, ``cls_token``, ``pos_embed``, ``blocks.<i>.norm1 / attn.qkv /
  attn.proj / norm2 / mlp.fc1 / mlp.fc2``, ``norm.*``), e.g. ViT-B/16 from ImageNet saved with ``torch.save``
  (``safetensors`` files: ``torch.save(safetensors.torch.load_file(path), "vit.pth")`` first);
* an actrec trial checkpoint of ``vit_spatial`` or ``rpe_stdt``: the ``best.pt`` / ``state.pt`` file, or the trial's
  checkpoint directory (``actrec.models.checkpoints``: ``best.pt`` preferred).

What is loaded: the patch projection, the class token, blocks 0..L-1 of the checkpoint into the encoder's L blocks
(ViT-B's first 8 of 12 for §3.4.2's L_(S) = 8; blocks the checkpoint lacks keep their initialisation), the final
LayerNorm, and the learned absolute positions when the model uses them (resampled bilinearly when the patch grid
differs). Not loaded: the classification head, and the relative-position tables (RPE is new in RPE-STDT; the
thesis does not say how its tables start, so they keep their initialisation). A shape that does not fit (another
width, patch size or channel count) is a ``ValueError`` naming the file and the tensor.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import torch
from torch import nn

from actrec.layers.vit import LearnedPositions
from actrec.models.checkpoints import read_checkpoint

logger = logging.getLogger(__name__)

# Per-block parameter names: canonical (timm) name -> actrec's EncoderBlock name.
_BLOCK_PARTS = {
    "norm1.weight": "norm1.weight",
    "norm1.bias": "norm1.bias",
    "attn.qkv.weight": "attn.qkv.weight",
    "attn.qkv.bias": "attn.qkv.bias",
    "attn.proj.weight": "attn.proj.weight",
    "attn.proj.bias": "attn.proj.bias",
    "norm2.weight": "norm2.weight",
    "norm2.bias": "norm2.bias",
    "mlp.fc1.weight": "mlp.net.0.weight",
    "mlp.fc1.bias": "mlp.net.0.bias",
    "mlp.fc2.weight": "mlp.net.3.weight",
    "mlp.fc2.bias": "mlp.net.3.bias",
}
# Where each actrec model keeps its per-frame encoder: canonical name -> module path.
ENCODER_LAYOUTS = {
    "rpe_stdt": {
        "patch": "patch_embed.proj",
        "cls": "spatial_cls.token",
        "pos": "spatial_positions.positions",
        "blocks": "spatial_blocks",
        "norm": "spatial_norm",
    },
    "vit_spatial": {
        "patch": "patch_embed.proj",
        "cls": "cls.token",
        "pos": "positions.positions",
        "blocks": "blocks",
        "norm": "norm",
    },
}
_TIMM = {"patch": "patch_embed.proj", "cls": "cls_token", "pos": "pos_embed", "blocks": "blocks", "norm": "norm"}


def _unwrap(obj: object, path: str) -> Mapping[str, torch.Tensor]:
    for key in ("model", "state_dict", "module"):
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
    if not (isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values())):
        raise ValueError(f"model.spatial_init: {path} holds no state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _layout_of(state: Mapping[str, torch.Tensor], path: str) -> dict[str, str]:
    if "cls_token" in state and any(k.startswith("blocks.") for k in state):
        return {**_TIMM, "mlp": "timm"}
    for layout in ENCODER_LAYOUTS.values():
        if layout["cls"] in state and any(k.startswith(layout["blocks"] + ".") for k in state):
            return {**layout, "mlp": "actrec"}
    raise ValueError(
        f"model.spatial_init: {path} is neither a timm-style ViT (cls_token, blocks.<i>.*) nor an actrec vit_spatial "
        f"/ rpe_stdt checkpoint"
    )


def canonical_vit_state(state: Mapping[str, torch.Tensor], path: str = "<state>") -> dict[str, torch.Tensor]:
    """A ViT encoder's tensors under timm's names (``patch_embed.proj.*``, ``cls_token``, ``pos_embed``,
    ``blocks.<i>.*``, ``norm.*``), from a timm or actrec state dict."""
    layout = _layout_of(state, path)
    out: dict[str, torch.Tensor] = {}
    for suffix in ("weight", "bias"):
        for name in ("patch", "norm"):
            key = f"{layout[name]}.{suffix}"
            if key in state:
                out[f"{_TIMM[name]}.{suffix}"] = state[key]
    for name in ("cls", "pos"):
        if layout[name] in state:
            out[_TIMM[name]] = state[layout[name]]
    pattern = re.compile(rf"^{re.escape(layout['blocks'])}\.(\d+)\.(.+)$")
    parts = _BLOCK_PARTS if layout["mlp"] == "actrec" else {k: k for k in _BLOCK_PARTS}
    by_source = {source: canonical for canonical, source in parts.items()}
    for key, value in state.items():
        match = pattern.match(key)
        if match and match.group(2) in by_source:
            out[f"blocks.{match.group(1)}.{by_source[match.group(2)]}"] = value
    return out


def load_spatial_encoder(model: nn.Module, path: str, layout: str) -> dict[str, int]:
    """Copy a ViT checkpoint's per-frame encoder (file or checkpoint directory ``path``) into ``model``
    (``ENCODER_LAYOUTS[layout]``) in place.

    Returns counts: ``tensors`` copied, ``blocks`` loaded, ``blocks_kept`` (the model's blocks the checkpoint lacks).
    """
    file, raw = read_checkpoint(path, field="model.spatial_init")
    path = str(file)
    source = canonical_vit_state(_unwrap(raw, path), path)
    target = ENCODER_LAYOUTS[layout]
    params = dict(model.named_parameters())
    blocks = getattr(model, target["blocks"])
    copies: dict[str, torch.Tensor] = {}
    for suffix in ("weight", "bias"):
        copies[f"{target['patch']}.{suffix}"] = source.get(f"patch_embed.proj.{suffix}")
        copies[f"{target['norm']}.{suffix}"] = source.get(f"norm.{suffix}")
    copies[target["cls"]] = source.get("cls_token")
    if target["pos"] in params and "pos_embed" in source:
        copies[target["pos"]] = _resampled_positions(model, target["pos"], source["pos_embed"], path)
    loaded = sorted({int(k.split(".")[1]) for k in source if k.startswith("blocks.")})
    for index in range(min(len(blocks), len(loaded))):
        for canonical, mine in _BLOCK_PARTS.items():
            copies[f"{target['blocks']}.{index}.{mine}"] = source.get(f"blocks.{index}.{canonical}")
    copied = 0
    with torch.no_grad():
        for name, value in copies.items():
            if value is None:
                continue
            param = params[name]
            if value.shape != param.shape:
                raise ValueError(
                    f"model.spatial_init: {path}: {name} has shape {tuple(value.shape)} in the file, "
                    f"{tuple(param.shape)} in the model (width, patch size and channels must match)"
                )
            param.copy_(value.to(param.dtype))
            copied += 1
    stats = {
        "tensors": copied,
        "blocks": min(len(blocks), len(loaded)),
        "blocks_kept": max(0, len(blocks) - len(loaded)),
    }
    logger.info("model.spatial_init: %s -> %s (%s)", path, layout, stats)
    return stats


def _resampled_positions(model: nn.Module, name: str, table: torch.Tensor, path: str) -> torch.Tensor:
    module = model.get_submodule(name.rsplit(".", 1)[0])
    assert isinstance(module, LearnedPositions)
    prefix = module.prefix_tokens
    side = round((table.shape[1] - prefix) ** 0.5)
    if table.ndim != 3 or side * side != table.shape[1] - prefix or table.shape[2] != module.positions.shape[2]:
        raise ValueError(
            f"model.spatial_init: {path}: pos_embed of shape {tuple(table.shape)} is not {prefix} class position "
            f"+ a square patch grid of width {module.positions.shape[2]}"
        )
    source = LearnedPositions((side, side), table.shape[2], prefix_tokens=prefix)
    with torch.no_grad():
        source.positions.copy_(table)
        return source.table(module.grid).detach().clone()
