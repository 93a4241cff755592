"""RPE-STDT: relative-position embedding based spatially and temporally decoupled Transformer (Ma & Wang, Pattern
Recognition 2024), thesis chapter 3, §3.3-§3.4.2, Eq. (3.1)-(3.14).

``V (B, C, T, H, W) → per-frame patch embedding E (Eq. (3.1), 16×16 patches: 14×14 per 224² frame) + a class token
per frame → spatial encoder: L_s pre-norm layers of multi-head attention with relative positions on the query
(Eq. (3.7), clusters from the sectioned function, Eq. (3.8)-(3.11)) over the 1 + N tokens of each frame → LN → the
frames' class tokens h_t concatenated into H (B, T, d) (§3.3.4) → temporal class token + temporal encoder: L_t
layers over the 1 + T frame tokens, with temporal subsampling after chosen layers (§3.3.5, Top-K by the σ of the
attention rows, Eq. (3.12)-(3.14)) → LN → temporal class token → linear head → logits (B, num_classes)``.

Shapes at the paper's input (16 frames, 224², ``rpe_stdt`` defaults): tokens (B·16, 197, 768) through the 8
spatial layers; H (B, 16, 768); temporal sequence 1 + 16 → Top-K after temporal layer 1 → 1 + 8 → after layer 3 →
1 + 4 tokens; logits (B, num_classes).

Ablation switches (the tables of chapter 3 of Ma's PhD thesis, "Deep Learning for Action Recognition in Videos",
Massey University, 2024):

* Table 3.1 ``position_embedding``: ``"absolute"`` (APE), ``"shared_rpe"``, ``"unshared_rpe"``; Fig. 3.4 clusters
  per frame via ``rpe_y`` (``(2y + 1)² + 1``: y = 1, 2, 3, 4, 5 → 10, 26, 50, 82, 122). With the sectioned
  function at 1 : 2 : 8 a 14×14 frame reaches every cluster up to y = 4; from y = 5 on, a = 4y exceeds the largest
  offset (13) and the outer clusters stay unused (y = 5: 82 of 122 used, y = 6: 122 of 170).
* Table 3.2 ``rpe_mapping``: ``"clip"`` vs ``"sectioned"``.
* Table 3.3 ``attention_scheme``: ``"decoupled"`` (RPE-STDT) vs ``"spatial"`` (the spatial encoder alone, frame
  features averaged over time); the ViT-B per-frame baseline with absolute positions is ``vit_spatial``
  (``actrec.models.vit``).
* Table 3.4 ``subsampling`` (``"max_pool"``, ``"avg_pool"``, ``"conv"``, ``"topk"``) and ``subsample_layers``
  (``(0, 2)`` vs ``(1, 3)``).
* Table 3.5 baseline STDT (without RPE): ``position_embedding="absolute"`` with ``subsampling="none"`` or
  ``"topk"``.

Details the thesis leaves open (or states inconsistently), and the choice made here:

* **Relative positions**: see ``actrec.layers.relative_position`` — the default per-axis reading of Eq. (3.10)-
  (3.11) (``rpe_distance="axis"``: (2y + 1)² clusters + the class-token cluster; ``"euclidean"`` is Eq. (3.10)
  literally, y + 1 clusters + 1), rounding half away from zero, b = y/2 and a = 4y at ``rpe_ratio`` 1 : 2 : 8.
  ``rpe_y = 3`` gives the 50 clusters per frame of Tables 3.1-3.2 and of Fig. 3.4's chosen point.
* **RPE in the temporal encoder**: "adopted into all self-attention layers" (§3.4.2) — the 1D form over frame
  indices (2y + 1 clusters + 1), with the same mapping and ``y``; positions follow the frames kept or pooled.
* **One table per layer**: each attention layer has its own cluster table (shared across its heads or not); the
  thesis does not say whether tables are shared across layers.
* **Absolute positions** (Table 3.1 APE row, "the original absolute-position embeddings [21]", i.e. ViViT's):
  learned (``absolute_kind="learned"``; Eq. (3.1)'s text calls them sinusoids, ``"sinusoidal"`` gives those), one
  table over the 1 + N tokens of a frame shared by all frames, and one over the 1 + T temporal tokens; learned
  tables are interpolated when the clip's grid differs from ``image_size`` / ``num_frames``.
* **Spatial-to-temporal hand-over**: the per-frame class token after the spatial encoder's final LayerNorm is
  h_t (§3.3.4 "h_i ∈ R^d ... concatenated into H ∈ R^{n_t × d}"), as ViViT's factorised encoder. The temporal
  encoder has its own learned class token ("a learnable classification token ... gathers information from all
  the output tokens", §3.3), read after a final LayerNorm.
* **Temporal width**: the temporal encoder has the spatial width (768) with 8 heads of 96 and MLP ratio 4; the
  thesis says only "a lighter version ... 4 MHSA layers, each with 8 self-attention heads". ``temporal_dim``
  narrows it (a Linear maps each h_t to that width), e.g. 512 = 8 heads of 64.
* **Subsampling**: see ``actrec.layers.subsampling`` (stride 2 / keep half, kernel 2 for all uniform methods,
  σ of the softmax attention rows averaged over heads, class token never dropped). ``subsample_layers`` are
  0-based temporal-layer indices: the subsampling acts on that layer's output, Top-K ranking the rows of that
  layer's attention (applied before the token-wise MLP, which is the same). Table 3.4's "[Layer 1, 3]" (best,
  the default) vs "[Layer 0, 2]" ("subsampling at the beginning of the temporal encoder ... drops performance").
* **Initialisation from ViT-B** (§3.4.2 "we follow the model weights of the ViT-Base approach"): ``spatial_init``
  names a ViT checkpoint file (timm naming or an actrec ``vit_spatial`` / ``rpe_stdt`` checkpoint) whose patch
  projection, class token, first ``spatial_depth`` blocks, final LayerNorm and (APE) positions start the spatial
  encoder; the relative tables and the temporal encoder start fresh (``actrec.models.spatial_init``).
* **Head**: "MLP head" on the class token: one Linear (ViT fine-tuning head), after the final LayerNorm.
* **Norms / blocks**: pre-norm ViT blocks (``actrec.layers.vit.EncoderBlock``), GELU MLP, qkv bias, no dropout by
  default; initialisation as ViT (truncated normal 0.02), relative tables truncated normal 0.02.
* **Input sizes**: any H, W that are multiples of ``patch_size`` and any T (relative positions are built for the
  actual grid); uniform subsampling needs at least 2 frames at every subsampling layer (ValueError otherwise).

Parameters at paper size (101 classes, UCF-101; ``count_parameters``), against the thesis:

* ``rpe_stdt`` (shared RPE, sectioned, y = 3, Top-K at [1, 3]): 85,756,005 vs 97.06M (Table 3.1), -11.6%.
* unshared RPE: 86,059,109 vs 97.26M, -11.5%; absolute (learned) positions: 85,891,685 vs 100.7M, -14.7%.
* baseline STDT (absolute positions) without / with Top-K: 85,891,685 both, vs 88.9M / 82.7M (Table 3.5);
  with the 1D-conv subsampling instead: 88,116,837 (shared RPE).

The gap is the thesis' own inconsistency: 8 + 4 ViT-B-width layers hold 12 × 7.09M = 85.05M whatever the position
embedding (the relative tables add 3,200 parameters per spatial layer shared, 38,400 unshared); 12 spatial + 4
temporal layers at width 768 would be 114M. Top-K has no parameters although Table 3.5 reports 6.2M fewer with it,
and APE costs 0.16M here (197 + 17 learned positions), not the 3.6M of Table 3.1. The unshared - shared difference
measured here (0.30M) is the order of the thesis' 0.20M.

The one reading that fits both reported totals: the full 12-layer ViT-B as spatial encoder ("we follow the model
weights of the ViT-Base approach") and a "lighter" temporal encoder of 4 layers at width 512 (8 heads of 64):
``spatial_depth=12, temporal_dim=512`` has 98,744,421 parameters (+1.7% on 97.06M; unshared RPE 99,181,157, +2.0% on
97.26M; APE 98,863,973, -1.8% on 100.7M) and 282.9 GFLOPs (+3.6% on 273).
It contradicts §3.4.2's explicit L_(S) = 8, so the defaults keep the text; tests check both.

GFLOPs at 16 × 224² (fvcore, ``count_gflops``): 189.4 (spatial-only scheme 189.1; APE without subsampling 188.6) vs
the 273 of Table 3.3, whose 269 for ViT corresponds to the 12-layer ViT-B per frame (``vit_spatial``: 281.3); an
8-layer spatial encoder cannot cost 273.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from einops import rearrange, reduce, repeat
from torch import nn

from actrec.layers.relative_position import (
    DISTANCES,
    MAPPINGS,
    RelativePositionAttention,
    num_clusters,
    spatial_bucket_index,
    temporal_bucket_index,
)
from actrec.layers.subsampling import SUBSAMPLING_METHODS, TemporalSubsampling
from actrec.layers.vit import (
    ClassToken,
    EncoderBlock,
    LearnedPositions,
    MultiheadSelfAttention,
    PatchEmbedding2d,
    SinusoidalPositions,
    init_vit_weights,
)
from actrec.models.registry import register_model
from actrec.models.spatial_init import load_spatial_encoder

POSITION_EMBEDDINGS = ("shared_rpe", "unshared_rpe", "absolute")  # Table 3.1
ABSOLUTE_KINDS = ("learned", "sinusoidal")
ATTENTION_SCHEMES = ("decoupled", "spatial")  # Table 3.3
SUBSAMPLINGS = (*SUBSAMPLING_METHODS, "none")  # Table 3.4 (+ none: Table 3.5 baseline)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RPESTDTConfig:
    """Configuration of ``RPESTDT`` (thesis §3.3-§3.4.2); field names are the dotted keys ``model.<field>``."""

    num_classes: int = 101  # output classes (101 UCF-101, 51 HMDB-51, 48 Diving 48)
    in_channels: int = 3  # input channels C of the (B, C, T, H, W) clip
    num_frames: int = 16  # frames the learned absolute temporal positions are built for (§3.4.2: 16)
    image_size: int = 224  # frame size the learned absolute spatial positions are built for (224²)
    patch_size: int = 16  # square patch side: 14×14 patches per 224² frame (§3.4.2)
    dim: int = 768  # token width d of both encoders (ViT-B)
    spatial_depth: int = 8  # spatial encoder layers L_(S) (§3.4.2: 8)
    spatial_heads: int = 12  # spatial attention heads (§3.4.2: 12)
    temporal_depth: int = 4  # temporal encoder layers L_(T) (§3.4.2: 4)
    temporal_heads: int = 8  # temporal attention heads (§3.4.2: 8)
    temporal_dim: int = 0  # temporal encoder width; 0: the spatial width ``dim`` (a Linear maps d to it otherwise)
    mlp_ratio: float = 4.0  # MLP hidden width / token width (ViT-B: 4)
    attention_scheme: str = "decoupled"  # Table 3.3: "decoupled" (spatial + temporal) or "spatial" (time-averaged)
    position_embedding: str = "shared_rpe"  # Table 3.1: "shared_rpe", "unshared_rpe" or "absolute"
    absolute_kind: str = "learned"  # absolute positions: "learned" (ViViT [21]) or "sinusoidal" (Eq. (3.1) text)
    rpe_mapping: str = "sectioned"  # Table 3.2: "sectioned" (Eq. (3.8)-(3.9)) or "clip" (Shaw et al.)
    rpe_distance: str = "axis"  # "axis" (Eq. (3.11), (2y+1)² clusters) or "euclidean" (Eq. (3.10), y+1 clusters)
    rpe_y: int = 3  # y of Eq. (3.9): output range [-y, y]; (2y+1)² + 1 clusters per frame (3 → 50, Fig. 3.4)
    rpe_ratio: tuple[float, ...] = (1.0, 2.0, 8.0)  # b : y : a of the sectioned function (§3.4.2: 1 : 2 : 8)
    subsampling: str = "topk"  # Table 3.4: "topk", "max_pool", "avg_pool", "conv", or "none"
    subsample_layers: tuple[int, ...] = (1, 3)  # 0-based temporal layers followed by subsampling (Table 3.4 best)
    subsample_kernel: int = 2  # window of the pooling / 1D conv subsampling (stride 2; §3.3.5: kernel 2)
    topk_keep: int | float = 0.5  # Top-K frames kept per subsampling: int count or fraction in (0, 1] (half)
    dropout: float = 0.0  # dropout on the token embeddings, attention weights and MLPs
    spatial_init: str = ""  # ViT checkpoint file starting the spatial encoder (§3.4.2 "ViT-Base"); "" from scratch

    def frame_encoder(self) -> dict[str, Any]:
        """Model protocol (:mod:`actrec.models.protocol`): the per-frame ViT encoder's shape, the spatial encoder's,
        for per-frame pretraining (:mod:`actrec.train.frame_pretrain`)."""
        return {
            "in_channels": self.in_channels,
            "patch_size": self.patch_size,
            "dim": self.dim,
            "depth": self.spatial_depth,
            "heads": self.spatial_heads,
            "mlp_ratio": self.mlp_ratio,
        }

    def __post_init__(self) -> None:
        # Accept lists (e.g. from a CLI or Ray param_space) but store tuples so the config stays hashable.
        for name in ("rpe_ratio", "subsample_layers"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        self._validate()

    def _validate(self) -> None:
        for name in (
            "num_classes",
            "in_channels",
            "num_frames",
            "image_size",
            "patch_size",
            "dim",
            "spatial_depth",
            "spatial_heads",
            "temporal_depth",
            "temporal_heads",
            "rpe_y",
            "subsample_kernel",
        ):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"model.{name} must be an int >= 1, got {value!r}")
        if not _is_int(self.temporal_dim) or self.temporal_dim < 0:
            raise ValueError(f"model.temporal_dim must be an int >= 0 (0: model.dim), got {self.temporal_dim!r}")
        for name, width, width_name in (
            ("spatial_heads", self.dim, "dim"),
            ("temporal_heads", self.temporal_width, "temporal_dim" if self.temporal_dim else "dim"),
        ):
            heads = getattr(self, name)
            if width % heads != 0:
                raise ValueError(f"model.{width_name} = {width} must be divisible by model.{name} = {heads}")
        if self.image_size % self.patch_size != 0:
            raise ValueError(
                f"model.image_size = {self.image_size} must be a multiple of model.patch_size = {self.patch_size}"
            )
        if not _is_real(self.mlp_ratio) or self.mlp_ratio <= 0:
            raise ValueError(f"model.mlp_ratio must be > 0, got {self.mlp_ratio!r}")
        choices = (
            ("attention_scheme", ATTENTION_SCHEMES),
            ("position_embedding", POSITION_EMBEDDINGS),
            ("absolute_kind", ABSOLUTE_KINDS),
            ("rpe_mapping", MAPPINGS),
            ("rpe_distance", DISTANCES),
            ("subsampling", SUBSAMPLINGS),
        )
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                raise ValueError(f"model.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        ratio = self.rpe_ratio
        if not (isinstance(ratio, tuple) and len(ratio) == 3 and all(_is_real(r) and r > 0 for r in ratio)):
            raise ValueError(f"model.rpe_ratio must be 3 numbers b : y : a > 0, got {ratio!r}")
        if not (ratio[0] <= ratio[1] and ratio[2] > ratio[0]):
            raise ValueError(f"model.rpe_ratio b : y : a needs b <= y and a > b, got {ratio!r}")
        layers = self.subsample_layers
        if not (isinstance(layers, tuple) and all(_is_int(i) and 0 <= i < self.temporal_depth for i in layers)):
            raise ValueError(
                f"model.subsample_layers must be a tuple of layer indices in [0, model.temporal_depth = "
                f"{self.temporal_depth}), got {layers!r}"
            )
        if len(set(layers)) != len(layers):
            raise ValueError(f"model.subsample_layers must not repeat a layer, got {layers!r}")
        keep = self.topk_keep
        if not ((_is_int(keep) and keep >= 1) or (isinstance(keep, float) and 0.0 < keep <= 1.0)):
            raise ValueError(f"model.topk_keep must be an int >= 1 or a float in (0, 1], got {keep!r}")
        if not _is_real(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.spatial_init, str):
            raise ValueError(f"model.spatial_init must be a file path or '', got {self.spatial_init!r}")
        if self.attention_scheme == "decoupled" and self.subsampling in ("max_pool", "avg_pool", "conv"):
            frames, padding = self.num_frames, (self.subsample_kernel - 1) // 2
            for _ in layers:
                frames = (frames + 2 * padding - self.subsample_kernel) // 2 + 1
            if frames < 1:
                raise ValueError(
                    f"model.subsample_layers: {len(layers)} {self.subsampling} subsamplings (kernel "
                    f"{self.subsample_kernel}, stride 2) leave no frame of model.num_frames = {self.num_frames}"
                )

    @property
    def temporal_width(self) -> int:
        """Token width of the temporal encoder: ``temporal_dim``, or ``dim`` when it is 0."""
        return self.temporal_dim or self.dim

    @property
    def relative(self) -> bool:
        """Whether attention uses relative positions (shared or unshared RPE) rather than absolute ones."""
        return self.position_embedding != "absolute"


class RPESTDT(nn.Module):
    """RPE-STDT (thesis §3.3): spatial encoder per frame, temporal encoder over frame tokens with subsampling.

    ``forward(x)``: ``(B, in_channels, T, H, W) -> (B, num_classes)`` logits; H, W multiples of ``patch_size``.
    """

    def __init__(self, config: RPESTDTConfig) -> None:
        super().__init__()
        if not isinstance(config, RPESTDTConfig):
            raise TypeError(f"RPESTDT expects an RPESTDTConfig, got {type(config).__name__}")
        self.config = config
        dim = config.dim
        grid = config.image_size // config.patch_size
        self.patch_embed = PatchEmbedding2d(config.in_channels, dim, config.patch_size)
        self.spatial_cls = ClassToken(dim)
        self.spatial_positions = self._absolute_positions((grid, grid), dim)
        self.embed_drop = nn.Dropout(config.dropout)
        self.spatial_blocks = nn.ModuleList(
            self._block(config.spatial_heads, axes=2, dim=dim) for _ in range(config.spatial_depth)
        )
        self.spatial_norm = nn.LayerNorm(dim)
        self.decoupled = config.attention_scheme == "decoupled"
        if self.decoupled:
            width = config.temporal_width
            # h_t of width d mapped to the temporal width when the temporal encoder is narrower (``temporal_dim``).
            self.temporal_proj = nn.Linear(dim, width) if width != dim else nn.Identity()
            self.temporal_cls = ClassToken(width)
            self.temporal_positions = self._absolute_positions((config.num_frames,), width)
            self.temporal_blocks = nn.ModuleList(
                self._block(config.temporal_heads, axes=1, dim=width) for _ in range(config.temporal_depth)
            )
            self.subsamplers = nn.ModuleDict()
            if config.subsampling != "none":
                for layer in config.subsample_layers:
                    self.subsamplers[str(layer)] = TemporalSubsampling(
                        config.subsampling, width, keep=config.topk_keep, kernel_size=config.subsample_kernel
                    )
            self.temporal_norm = nn.LayerNorm(width)
        self.head = nn.Linear(config.temporal_width if self.decoupled else dim, config.num_classes)
        self.apply(init_vit_weights)
        if config.spatial_init:
            load_spatial_encoder(self, config.spatial_init, "rpe_stdt")
        self._spatial_index: dict[tuple[int, int, str], torch.Tensor] = {}

    def _absolute_positions(self, grid: tuple[int, ...], dim: int) -> nn.Module | None:
        if self.config.relative:
            return None
        if self.config.absolute_kind == "learned":
            return LearnedPositions(grid, dim, prefix_tokens=1)
        return SinusoidalPositions(dim)

    def _block(self, heads: int, *, axes: int, dim: int) -> EncoderBlock:
        config = self.config
        if config.relative:
            clusters = num_clusters(config.rpe_y, axes=axes, distance=config.rpe_distance)
            attention: nn.Module = RelativePositionAttention(
                dim,
                heads,
                clusters,
                shared_heads=config.position_embedding == "shared_rpe",
                dropout=config.dropout,
            )
        else:
            attention = MultiheadSelfAttention(dim, heads, dropout=config.dropout)
        return EncoderBlock(dim, attention, mlp_ratio=config.mlp_ratio, dropout=config.dropout)

    def _rpe_kwargs(self) -> dict[str, Any]:
        config = self.config
        return {
            "mapping": config.rpe_mapping,
            "y": config.rpe_y,
            "ratio": config.rpe_ratio,
            "distance": config.rpe_distance,
        }

    def spatial_index(self, grid_h: int, grid_w: int, device: torch.device) -> torch.Tensor:
        """The spatial cluster index ``(1 + N, 1 + N)`` of a ``grid_h × grid_w`` patch grid (cached per grid)."""
        key = (grid_h, grid_w, str(device))
        if key not in self._spatial_index:
            self._spatial_index[key] = spatial_bucket_index(grid_h, grid_w, device=device, **self._rpe_kwargs())
        return self._spatial_index[key]

    def encode_frames(self, x: torch.Tensor) -> torch.Tensor:
        """Spatial encoder: clip ``(B, C, T, H, W)`` -> frame representations H ``(B, T, D)`` (§3.3.4)."""
        batch, _, _, height, width = x.shape
        grid = self.patch_embed.grid(int(height), int(width))
        tokens = self.spatial_cls(rearrange(self.patch_embed(x), "b t n d -> (b t) n d"))  # (B·T, 1 + N, D)
        attention_kwargs: dict[str, Any] = {}
        if self.config.relative:
            attention_kwargs["relative_index"] = self.spatial_index(*grid, tokens.device)
        else:
            tokens = self.spatial_positions(tokens, grid)
        tokens = self.embed_drop(tokens)
        for block in self.spatial_blocks:
            tokens = block(tokens, **attention_kwargs)
        frames = self.spatial_norm(tokens[:, 0])  # class token of every frame: (B·T, D)
        return rearrange(frames, "(b t) d -> b t d", b=batch)

    def encode_time(self, frames: torch.Tensor) -> torch.Tensor:
        """Temporal encoder with subsampling: H ``(B, T, D)`` -> the temporal class token ``(B, D)`` (§3.3.4-3.3.5)."""
        batch, count, _ = frames.shape
        positions = repeat(torch.arange(count, device=frames.device, dtype=frames.dtype), "t -> b t", b=batch)
        tokens = self.temporal_cls(self.temporal_proj(frames))  # (B, 1 + T, temporal width)
        if not self.config.relative:
            tokens = self.temporal_positions(tokens, (count,))
        tokens = self.embed_drop(tokens)
        for layer, block in enumerate(self.temporal_blocks):
            attention_kwargs: dict[str, Any] = {}
            if self.config.relative:
                attention_kwargs["relative_index"] = temporal_bucket_index(positions, **self._rpe_kwargs())
            subsampler = self.subsamplers[str(layer)] if str(layer) in self.subsamplers else None
            by_attention = subsampler is not None and subsampler.needs_attention
            tokens, attention = block.attention_sublayer(tokens, return_attention=by_attention, **attention_kwargs)
            if by_attention:
                tokens, positions = subsampler(tokens, positions, attention)  # Top-K rows, Eq. (3.12)
            tokens = block.mlp_sublayer(tokens)
            if subsampler is not None and not by_attention:
                tokens, positions = subsampler(tokens, positions)
        return self.temporal_norm(tokens[:, 0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"RPESTDT expects (B, {self.config.in_channels}, T, H, W), got {tuple(x.shape)}")
        frames = self.encode_frames(x)  # (B, T, D)
        if self.decoupled:
            features = self.encode_time(frames)
        else:
            features = reduce(frames, "b t d -> b d", "mean")  # spatial-only scheme: average over time
        return self.head(features)


_TINY = {
    "dim": 32,
    "spatial_depth": 2,
    "spatial_heads": 2,
    "temporal_depth": 4,
    "temporal_heads": 2,
    "patch_size": 8,
    "image_size": 32,
    "num_frames": 8,
}


@register_model(RPESTDT, tiny=_TINY)
def rpe_stdt(**overrides: Any) -> RPESTDTConfig:
    """RPE-STDT (§3.4.2): 8 spatial layers × 12 heads, 4 temporal × 8, 16 frames of 14×14 patches, shared RPE,
    sectioned mapping b : y : a = 1 : 2 : 8 with 50 clusters per frame, Top-K after temporal layers 1 and 3."""
    return dataclasses.replace(RPESTDTConfig(), **overrides)
