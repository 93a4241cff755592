"""ViT / ViViT baselines of the thesis' Transformer chapters: ``vit_spatial`` (Table 3.3) and ``vivit_b`` (Table 4.3).

``vit_spatial`` — "ViT (spatial attention)", the spatial attention-only model of Table 3.3 (§3.4.3 "Analysis of
attention schemes": "the spatial attention-only Transformer encoder (i.e., the ViT-B backbone)", the ViT [24] of
Fig. 3.6): ViT-B/16 applied to every frame independently, ``V (B, C, T, H, W) → per frame: patch embedding E +
class token + absolute positions (Eq. (3.1)) → 12 pre-norm encoder layers (Eq. (3.2)-(3.4)) → LN → class token →
mean over the T frames → linear head → (B, num_classes)``.

``vivit_b`` — ViViT-B/16×2 (Arnab et al. 2021; thesis §4.3.1 "Preliminaries: ViViT", Table 4.3 rows "ViViT-B,
Tube. embedding, Default / N/A positional embedding"): ``V → tubelet embedding 2×16×16 (a Conv3d with kernel =
stride) → class token + learned spatio-temporal positions (switch ``positional_embedding``) → 12 encoder layers ×
12 heads, width 768, MLP 3072 (joint space-time attention over all n_T·n_H·n_W tokens) → LN → class token →
linear head``.

Shapes at the thesis inputs: ``vit_spatial`` 16 frames of 224² → (B·16, 197, 768) tokens; ``vivit_b`` 8 frames of
224² (CTN's input, §4.4.1) → 4·14·14 = 784 tubelet tokens + class token, (B, 785, 768).

Details the thesis leaves open, and the choice made here:

* **Temporal aggregation of the spatial-only ViT**: not described; the frames' class-token features (after the
  final LayerNorm) are averaged over time before the linear head — the same as averaging the per-frame logits,
  since the head is linear.
* **ViT depth for Table 3.3**: "the ViT-B backbone" — the full 12-layer ViT-B (the 269 GFLOPs of Table 3.3 are
  about ViT-B's per-frame cost × 16 frames, 281.3 here; the 8-layer spatial encoder of RPE-STDT without its
  temporal encoder is ``rpe_stdt`` with ``attention_scheme="spatial"``).
* **Positions**: learned absolute positions (ViT / ViViT "Default"); ``position_kind="sinusoidal"`` gives the
  fixed sinusoids of Eq. (3.1)'s text. ``positional_embedding=False`` drops them (Table 4.3 "N/A"). Learned
  positions are built for ``image_size`` / ``num_frames`` and interpolated to other grids.
* **Blocks**: pre-norm (as ViT / ViViT; the thesis' Eq. (4.1)-(4.2) write post-norm), GELU MLP, qkv bias,
  ViT initialisation, a single Linear head on the class token.
* **EPIC-KITCHENS**: one head of ``num_classes`` outputs; the two-head (verb, noun) variant of §4.4.2 is CTN's.

Parameters at paper size (``count_parameters``): ``vit_spatial`` (101 classes) 85,876,325 (ViT-B/16 proper: with
1000 classes 86,567,656); ``vivit_b`` (48 classes, 8 frames) 86,876,976, without positional embedding 86,274,096
(Table 3.6 lists ViViT-B at 88.9M; at 16 frames this model has 87,479,088). GFLOPs (fvcore, ``count_gflops``):
``vit_spatial`` at 16 × 224²: 281.3 vs 269 (Table 3.3); ``vivit_b`` at 8 × 224²: 79.0 with or without positions
(fvcore does not count the addition) vs 325 / 318 in Table 4.3, which this 8-frame ViViT-B/16×2 does not reach.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from einops import rearrange, reduce
from torch import nn

from actrec.layers.vit import (
    ClassToken,
    EncoderBlock,
    LearnedPositions,
    MultiheadSelfAttention,
    PatchEmbedding2d,
    SinusoidalPositions,
    TubeletEmbedding,
    init_vit_weights,
)
from actrec.models.registry import register_model
from actrec.models.spatial_init import load_spatial_encoder

POSITION_KINDS = ("learned", "sinusoidal")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _validate_common(config: Any, int_fields: tuple[str, ...]) -> None:
    for name in int_fields:
        value = getattr(config, name)
        if not _is_int(value) or value < 1:
            raise ValueError(f"model.{name} must be an int >= 1, got {value!r}")
    if config.dim % config.heads != 0:
        raise ValueError(f"model.dim = {config.dim} must be divisible by model.heads = {config.heads}")
    if not _is_real(config.mlp_ratio) or config.mlp_ratio <= 0:
        raise ValueError(f"model.mlp_ratio must be > 0, got {config.mlp_ratio!r}")
    if not isinstance(config.positional_embedding, bool):
        raise ValueError(f"model.positional_embedding must be a bool, got {config.positional_embedding!r}")
    if config.position_kind not in POSITION_KINDS:
        raise ValueError(f"model.position_kind must be one of {POSITION_KINDS}, got {config.position_kind!r}")
    if not _is_real(config.dropout) or not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"model.dropout must be in [0, 1), got {config.dropout!r}")


def _encoder(config: Any) -> nn.ModuleList:
    return nn.ModuleList(
        EncoderBlock(
            config.dim,
            MultiheadSelfAttention(config.dim, config.heads, dropout=config.dropout),
            mlp_ratio=config.mlp_ratio,
            dropout=config.dropout,
        )
        for _ in range(config.depth)
    )


def _positions(config: Any, grid: tuple[int, ...]) -> nn.Module | None:
    if not config.positional_embedding:
        return None
    if config.position_kind == "learned":
        return LearnedPositions(grid, config.dim, prefix_tokens=1)
    return SinusoidalPositions(config.dim)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ViTSpatialConfig:
    """Configuration of ``ViTSpatial`` (Table 3.3 "ViT (spatial attention)"); keys ``model.<field>``."""

    num_classes: int = 101  # output classes (101 UCF-101, 51 HMDB-51, 48 Diving 48)
    in_channels: int = 3  # input channels C of the (B, C, T, H, W) clip
    image_size: int = 224  # frame size the learned positions are built for
    patch_size: int = 16  # square patch side (ViT-B/16: 14×14 patches at 224²)
    dim: int = 768  # token width (ViT-B)
    depth: int = 12  # encoder layers (ViT-B)
    heads: int = 12  # attention heads (ViT-B)
    mlp_ratio: float = 4.0  # MLP hidden width / token width
    positional_embedding: bool = True  # add absolute positions to the tokens of each frame
    position_kind: str = "learned"  # "learned" (ViT) or "sinusoidal" (Eq. (3.1) text)
    dropout: float = 0.0  # dropout on embeddings, attention weights and MLPs
    spatial_init: str = ""  # ViT checkpoint file starting the encoder (actrec.models.spatial_init); "" from scratch

    def frame_encoder(self) -> dict[str, Any]:
        """Model protocol (:mod:`actrec.models.protocol`): the per-frame ViT encoder's shape (the whole model), for
        per-frame pretraining (:mod:`actrec.train.frame_pretrain`)."""
        return {
            "in_channels": self.in_channels,
            "patch_size": self.patch_size,
            "dim": self.dim,
            "depth": self.depth,
            "heads": self.heads,
            "mlp_ratio": self.mlp_ratio,
        }

    def __post_init__(self) -> None:
        _validate_common(self, ("num_classes", "in_channels", "image_size", "patch_size", "dim", "depth", "heads"))
        if not isinstance(self.spatial_init, str):
            raise ValueError(f"model.spatial_init must be a file path or '', got {self.spatial_init!r}")
        if self.image_size % self.patch_size != 0:
            raise ValueError(
                f"model.image_size = {self.image_size} must be a multiple of model.patch_size = {self.patch_size}"
            )


class ViTSpatial(nn.Module):
    """Spatial attention-only ViT (Table 3.3): ViT-B on each frame, class features averaged over time.

    ``forward(x)``: ``(B, in_channels, T, H, W) -> (B, num_classes)``; H, W multiples of ``patch_size``.
    """

    def __init__(self, config: ViTSpatialConfig) -> None:
        super().__init__()
        if not isinstance(config, ViTSpatialConfig):
            raise TypeError(f"ViTSpatial expects a ViTSpatialConfig, got {type(config).__name__}")
        self.config = config
        grid = config.image_size // config.patch_size
        self.patch_embed = PatchEmbedding2d(config.in_channels, config.dim, config.patch_size)
        self.cls = ClassToken(config.dim)
        self.positions = _positions(config, (grid, grid))
        self.embed_drop = nn.Dropout(config.dropout)
        self.blocks = _encoder(config)
        self.norm = nn.LayerNorm(config.dim)
        self.head = nn.Linear(config.dim, config.num_classes)
        self.apply(init_vit_weights)
        if config.spatial_init:
            load_spatial_encoder(self, config.spatial_init, "vit_spatial")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(reduce(self.encode_frames(x), "b t d -> b d", "mean"))

    def encode_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Clip ``(B, C, T, H, W)`` -> every frame's class token after the final LayerNorm, ``(B, T, D)``."""
        if x.ndim != 5 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"ViTSpatial expects (B, {self.config.in_channels}, T, H, W), got {tuple(x.shape)}")
        batch, _, _, height, width = x.shape
        grid = self.patch_embed.grid(int(height), int(width))
        tokens = self.cls(rearrange(self.patch_embed(x), "b t n d -> (b t) n d"))  # (B·T, 1 + N, D)
        if self.positions is not None:
            tokens = self.positions(tokens, grid)
        tokens = self.embed_drop(tokens)
        for block in self.blocks:
            tokens = block(tokens)
        return rearrange(self.norm(tokens[:, 0]), "(b t) d -> b t d", b=batch)  # per-frame class features


@dataclasses.dataclass(frozen=True, kw_only=True)
class ViViTConfig:
    """Configuration of ``ViViT`` (ViViT-B/16×2, thesis §4.3.1, Table 4.3); keys ``model.<field>``."""

    num_classes: int = 48  # output classes (48 Diving 48; EPIC-KITCHENS actions need CTN's verb/noun heads)
    in_channels: int = 3  # input channels C of the (B, C, T, H, W) clip
    num_frames: int = 8  # frames the learned positions are built for (CTN's input, §4.4.1: 8)
    image_size: int = 224  # frame size the learned positions are built for
    tubelet_size: tuple[int, ...] = (2, 16, 16)  # tubelet t × h × w (§4.3.1: 16 × 16 × 2)
    dim: int = 768  # token width (ViViT-B)
    depth: int = 12  # encoder layers (ViViT-B: 12)
    heads: int = 12  # attention heads (ViViT-B: 12)
    mlp_ratio: float = 4.0  # MLP hidden width / token width (3072 / 768)
    positional_embedding: bool = True  # Table 4.3: "Default" (True) or "N/A" (False)
    position_kind: str = "learned"  # "learned" (ViViT) or "sinusoidal"
    dropout: float = 0.0  # dropout on embeddings, attention weights and MLPs

    def __post_init__(self) -> None:
        if isinstance(self.tubelet_size, list):
            object.__setattr__(self, "tubelet_size", tuple(self.tubelet_size))
        _validate_common(self, ("num_classes", "in_channels", "num_frames", "image_size", "dim", "depth", "heads"))
        tubelet = self.tubelet_size
        if not (isinstance(tubelet, tuple) and len(tubelet) == 3 and all(_is_int(s) and s >= 1 for s in tubelet)):
            raise ValueError(f"model.tubelet_size must be 3 ints (t, h, w) >= 1, got {tubelet!r}")
        if self.num_frames % tubelet[0] or self.image_size % tubelet[1] or self.image_size % tubelet[2]:
            raise ValueError(
                f"model.tubelet_size {tubelet} must tile model.num_frames = {self.num_frames} and "
                f"model.image_size = {self.image_size}"
            )

    @property
    def token_grid(self) -> tuple[int, int, int]:
        """Tubelet grid ``(n_T, n_H, n_W)`` of a ``num_frames × image_size²`` clip."""
        t, h, w = self.tubelet_size
        return self.num_frames // t, self.image_size // h, self.image_size // w


class ViViT(nn.Module):
    """ViViT-B (joint space-time attention over tubelet tokens), the baseline of Table 4.3.

    ``forward(x)``: ``(B, in_channels, T, H, W) -> (B, num_classes)``; T, H, W multiples of the tubelet size.
    """

    def __init__(self, config: ViViTConfig) -> None:
        super().__init__()
        if not isinstance(config, ViViTConfig):
            raise TypeError(f"ViViT expects a ViViTConfig, got {type(config).__name__}")
        self.config = config
        self.tubelet_embed = TubeletEmbedding(config.in_channels, config.dim, config.tubelet_size)
        self.cls = ClassToken(config.dim)
        self.positions = _positions(config, config.token_grid)
        self.embed_drop = nn.Dropout(config.dropout)
        self.blocks = _encoder(config)
        self.norm = nn.LayerNorm(config.dim)
        self.head = nn.Linear(config.dim, config.num_classes)
        self.apply(init_vit_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"ViViT expects (B, {self.config.in_channels}, T, H, W), got {tuple(x.shape)}")
        grid = self.tubelet_embed.grid(*(int(s) for s in x.shape[2:]))
        tokens = self.cls(self.tubelet_embed(x))  # (B, 1 + n_T·n_H·n_W, D)
        if self.positions is not None:
            tokens = self.positions(tokens, grid)
        tokens = self.embed_drop(tokens)
        for block in self.blocks:
            tokens = block(tokens)
        return self.head(self.norm(tokens[:, 0]))


_TINY_VIT = {"dim": 32, "depth": 2, "heads": 2, "patch_size": 8, "image_size": 32}
_TINY_VIVIT = {"dim": 32, "depth": 2, "heads": 2, "tubelet_size": (2, 8, 8), "image_size": 32, "num_frames": 8}


@register_model(ViTSpatial, tiny=_TINY_VIT)
def vit_spatial(**overrides: Any) -> ViTSpatialConfig:
    """Spatial attention-only ViT-B/16 per frame, time-averaged (Table 3.3 "ViT (spatial attention)", 269 GFLOPs)."""
    return dataclasses.replace(ViTSpatialConfig(), **overrides)


@register_model(ViViT, tiny=_TINY_VIVIT)
def vivit_b(**overrides: Any) -> ViViTConfig:
    """ViViT-B/16×2 with learned positions, 8 frames at 224² (Table 4.3 ViViT-B rows; ``positional_embedding``)."""
    return dataclasses.replace(ViViTConfig(), **overrides)
