"""CTN: Convolutional Transformer Network for fine-grained action recognition (Ma, Wang et al., Neurocomputing 2024),
thesis chapter 4, §4.3.2-§4.4.2, Eq. (4.3)-(4.8), Fig. 4.2, Tables 4.1 and 4.3-4.7.

``V (B, C, T, H, W) → video-to-tokens (§4.3.3, Eq. (4.5): Conv3d 7×7×7 stride 2, 32 channels → BN → MaxPool3d
3×3×3 stride 2; then 4×4×2 patches of the stem output linearly projected to 768, Eq. (4.8)) → class token
(+ learned positions, off in the final model) → 12 depth-wise convolutional Transformer encoders × 12 heads,
width 768, MLP 3072, whose Q/K/V come from depth-wise separable 3×3 convolutions with BN over the token map
(§4.3.4, Eq. (4.6)) → LN → class token → linear head(s)``.

Shapes at the paper's input (8 frames of 224², §4.4.1): stem (B, 32, 2, 56, 56); token grid 1 × 14 × 14, tokens
(B, 1 + 196, 768) through the encoders; logits (B, num_classes) (``ctn``) or verb (B, 97) and noun (B, 300) logits
(``ctn_epic``). With ``embedding="tubelet"`` (16×16×2 tubelets of the raw clip, Table 4.3 "Tube. embedding") the
grid is 4 × 14 × 14, (B, 1 + 784, 768).

Ablation switches (the tables of chapter 4 of Ma's PhD thesis, "Deep Learning for Action Recognition in Videos",
Massey University, 2024):

* Table 4.3 ``embedding`` (``"video_to_tokens"`` / ``"tubelet"``) × ``positional_embedding`` (True = "Default",
  False = "N/A"; the final CTN has none). The ViViT-B rows are ``vivit_b`` (``actrec.models.vit``).
* Table 4.4 ``v2t_kernel``, ``v2t_stride``, ``v2t_max_pool``, ``v2t_batch_norm``, ``v2t_channels``: rows
  ``(7,7,7)`` s 4, no pool, no BN, 64 ch · ``(5,5,5)`` s 4, no pool, no BN, 64 ch · ``(7,7,7)`` s 2 + pool, 32 ch,
  without / with BN (the default).
* Table 4.5 ``mapping``: ``"linear"`` (CTN-a) vs ``"conv"`` (CTN-b, the default).
* Table 4.6 ``mapping_kernel`` ∈ {3, 5} × ``mapping_batch_norm``.

Heads (§4.3.2, §4.4.2): ``ctn`` has one linear head of ``num_classes`` (Diving 48: 48). ``ctn_epic`` is "a single
network with two heads to predict both verb and noun" (EPIC-KITCHENS-100: 97 verbs, 300 nouns) whose predictions
"are merged to construct an action": its label space is the joint action ``verb · num_nouns + noun``
(``num_classes = num_verbs · num_nouns``, ``action_label``), so the training loop's soft targets and top-1 need no
change — ``training_loss`` marginalises the joint soft target into a verb and a noun target (CE_verb + CE_noun) and
``class_scores`` returns the joint probabilities ``p(verb) · p(noun)``, whose arg-max is (arg-max verb, arg-max noun):
top-1 against the joint label is the action accuracy (verb and noun both right). ``verb_noun_top1`` gives the verb,
noun and action top-1 of a batch.

Details the thesis leaves open, and the choice made here (the layers' own choices are listed in
``actrec.layers.video_tokens`` — padding ``kernel // 2``, strides on time too, no activation in the stem — and in
``actrec.layers.conv_projection`` — the class token skips the depth-wise filter and takes the pointwise map only,
the depth-wise filter runs per temporal index of the token grid, pre-norm blocks, head-width attention scale):

* **Stride over time**: §4.3.3 writes the stem output as ``T/s × H/s × W/s`` (s = 4), so with the 4×4×2 patches
  the 8-frame paper clip has a single temporal token index; ``v2t_stride=(1, 2, 2)`` keeps more.
* **Class token** appended before the encoders (§4.3.2, "following [17]"), read after a final LayerNorm.
* **Positional embedding** (``positional_embedding=True``): learned absolute positions over the class token and
  the token grid of a ``num_frames × image_size²`` clip (ViViT's "Default"), trilinearly interpolated when a clip
  gives another grid (the class-token position kept).
* **Head**: the "linear multilayer perceptron (MLP) prediction head" is one Linear on the class token (ViViT's
  fine-tuning head); ``ctn_epic`` has two (verb, noun), with equal loss weights.
* **Joint soft targets**: the verb and noun targets are the marginals of the joint soft target (mixing and label
  smoothing act on the joint action); integer joint labels are accepted too. Several views are scored by the
  loop's average of the joint probabilities.
* **Initialisation**: trained from scratch here (the thesis starts from an ImageNet ViViT, §4.4.1); Linear weights
  truncated normal (std 0.02) with zero bias, LayerNorm/BatchNorm weight 1 bias 0, class token and positions
  truncated normal (0.02), convolutions PyTorch's default.
* **Input sizes**: any clip whose stem output tiles into the patches (``ValueError`` naming the axis otherwise).

Parameters at paper size (``count_parameters``), against the 88.6M of Table 4.7 (which does not name the head):

* backbone without head or positions: 86,181,088 — 12 encoders of 7,113,216 (ViT-B's 7,087,872 + 3 × (9 + 2) × 768
  for the depth-wise filters and their BNs), stem 32,992, patch projection 787,200, class token, final LN;
* ``ctn_epic`` (97 + 300 outputs): 86,486,381 (-2.4%); ``ctn`` (48, Diving 48): 86,218,000 (-2.7%);
* positions (Table 4.3 "Default") add 197 × 768 = 151,296; the linear mapping (Table 4.5 CTN-a) removes 304,128.

A single linear head would need about 3,145 classes to reach 88.6M exactly: neither dataset's head explains the last
2.1-2.4M, which the thesis does not account for (it gives no per-part counts).

GFLOPs at 8 × 224² (fvcore, ``count_gflops``; one multiply-add = one FLOP) against Table 4.3: ``ctn`` 19.3 (no
positions; fvcore does not count the position addition, so 19.3 with them too) vs 358 / 370; tubelet embedding with
positions 79.3 vs 353; the linear mapping 19.3. The thesis' GFLOPs cannot come from one 8-frame clip with the token
grids §4.3.3 / §4.4.1 describe (196 tokens; the 784-token tubelet grid costs 79.3, and the 8-frame ViViT-B of
``actrec.models.vit`` 79.0 vs its 325), so they are reported beside the measured ones, not matched.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange, reduce
from torch import nn

from actrec.layers.conv_projection import MAPPINGS, ConvTransformerBlock
from actrec.layers.video_tokens import VideoToTokens, stem_output_size, token_grid
from actrec.layers.vit import ClassToken, LearnedPositions, TubeletEmbedding
from actrec.models.registry import register_model

EMBEDDINGS = ("video_to_tokens", "tubelet")
PAPER_PARAMETERS = 88.6e6  # Table 4.7, "CTN ... Params 88.6" (millions)
_TRIPLE_FIELDS = ("v2t_kernel", "v2t_stride", "v2t_pool_kernel", "v2t_pool_stride", "patch_size", "tubelet_size")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_triple(value: object) -> bool:
    return isinstance(value, tuple) and len(value) == 3 and all(_is_int(v) and v >= 1 for v in value)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CTNConfig:
    """Configuration of ``CTN`` (single head, e.g. Diving 48), thesis §4.4.1 / Table 4.1; keys ``model.<field>``.

    Sizes are ``(t, h, w)`` (the thesis writes h × w × t: "4 × 4 × 2").
    """

    num_classes: int = 48  # output classes (48 Diving 48)
    in_channels: int = 3  # input channels C of the (B, C, T, H, W) clip
    num_frames: int = 8  # frames of the paper clip (§4.4.1: 8); the positions' grid is built for it
    image_size: int = 224  # crop size of the paper clip (§4.4.1: 224); the positions' grid is built for it
    embedding: str = "video_to_tokens"  # input embedding, Table 4.3: "video_to_tokens" (§4.3.3) or "tubelet"
    v2t_kernel: tuple[int, int, int] = (7, 7, 7)  # video-to-tokens Conv3d kernel (Table 4.4: 7×7×7 or 5×5×5)
    v2t_stride: tuple[int, int, int] = (2, 2, 2)  # video-to-tokens Conv3d stride (Table 4.4: 2, or 4 without pool)
    v2t_channels: int = 32  # enriched channels C' of the stem (Table 4.4: 32, or 64 without pool)
    v2t_batch_norm: bool = True  # BatchNorm3d after the stem conv (Table 4.4 "Batch norm")
    v2t_max_pool: bool = True  # MaxPool3d after the BN (Table 4.4 "Max-pool")
    v2t_pool_kernel: tuple[int, int, int] = (3, 3, 3)  # max-pool kernel (3×3×3)
    v2t_pool_stride: tuple[int, int, int] = (2, 2, 2)  # max-pool stride (2)
    patch_size: tuple[int, int, int] = (2, 4, 4)  # patches of the stem output (§4.4.1: 4×4×2)
    tubelet_size: tuple[int, int, int] = (2, 16, 16)  # tubelets of the raw clip with embedding="tubelet" (16×16×2)
    dim: int = 768  # token width (Table 4.1: 768)
    depth: int = 12  # encoders (Table 4.1: 12)
    heads: int = 12  # attention heads per encoder (Table 4.1: 12)
    mlp_ratio: float = 4.0  # FFN hidden width / token width (ViViT-B: 3072 / 768)
    mapping: str = "conv"  # Q/K/V mapping, Table 4.5: "conv" (depth-wise separable, Eq. (4.6)) or "linear"
    mapping_kernel: int = 3  # depth-wise kernel s of the conv mapping (Table 4.6: 3 or 5; odd)
    mapping_batch_norm: bool = True  # BN between depth-wise and pointwise conv (Table 4.6 "Batch Norm")
    positional_embedding: bool = False  # learned positions, Table 4.3 "Default" (True) or "N/A" (False, final CTN)
    dropout: float = 0.0  # dropout on embeddings, attention weights and FFNs

    def __post_init__(self) -> None:
        for name in _TRIPLE_FIELDS:  # lists (JSON / YAML) and ints become (t, h, w) tuples
            value = getattr(self, name)
            if _is_int(value):
                object.__setattr__(self, name, (value, value, value))
            elif isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        for name in ("num_classes", "in_channels", "num_frames", "image_size", "v2t_channels", "dim", "depth"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"model.{name} must be an int >= 1, got {value!r}")
        for name in _TRIPLE_FIELDS:
            if not _is_triple(getattr(self, name)):
                raise ValueError(
                    f"model.{name} must be an int >= 1 or 3 ints (t, h, w) >= 1, got {getattr(self, name)!r}"
                )
        if not _is_int(self.heads) or self.heads < 1 or self.dim % self.heads != 0:
            raise ValueError(f"model.heads must be an int >= 1 dividing model.dim = {self.dim}, got {self.heads!r}")
        if self.embedding not in EMBEDDINGS:
            raise ValueError(f"model.embedding must be one of {EMBEDDINGS}, got {self.embedding!r}")
        if self.mapping not in MAPPINGS:
            raise ValueError(f"model.mapping must be one of {MAPPINGS}, got {self.mapping!r}")
        if not _is_int(self.mapping_kernel) or self.mapping_kernel < 1 or self.mapping_kernel % 2 == 0:
            raise ValueError(
                f"model.mapping_kernel must be an odd int >= 1 (3 or 5 in Table 4.6), got {self.mapping_kernel!r}"
            )
        for name in ("v2t_batch_norm", "v2t_max_pool", "mapping_batch_norm", "positional_embedding"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"model.{name} must be a bool, got {getattr(self, name)!r}")
        if not isinstance(self.mlp_ratio, int | float) or isinstance(self.mlp_ratio, bool) or self.mlp_ratio <= 0:
            raise ValueError(f"model.mlp_ratio must be a number > 0, got {self.mlp_ratio!r}")
        if not isinstance(self.dropout, int | float) or isinstance(self.dropout, bool) or not 0 <= self.dropout < 1:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout!r}")
        try:
            _ = self.token_grid
        except ValueError as error:
            raise ValueError(
                f"model.num_frames = {self.num_frames} and model.image_size = {self.image_size} must give a token "
                f"grid with model.embedding = {self.embedding!r}: {error}"
            ) from None

    @property
    def token_grid(self) -> tuple[int, int, int]:
        """Token grid ``(n_T, n_H, n_W)`` of a ``num_frames × image_size²`` clip (paper: 1 × 14 × 14)."""
        clip = (self.num_frames, self.image_size, self.image_size)
        if self.embedding == "tubelet":
            return token_grid(clip, self.tubelet_size, "tubelet")
        stem = stem_output_size(
            clip,
            kernel_size=self.v2t_kernel,
            stride=self.v2t_stride,
            max_pool=self.v2t_max_pool,
            pool_kernel_size=self.v2t_pool_kernel,
            pool_stride=self.v2t_pool_stride,
        )
        return token_grid(stem, self.patch_size, "patch")


@dataclasses.dataclass(frozen=True, kw_only=True)
class CTNVerbNounConfig(CTNConfig):
    """Configuration of ``CTNVerbNoun`` (EPIC-KITCHENS-100 verb + noun heads, §4.4.2); keys ``model.<field>``.

    The label space is the joint action ``verb · num_nouns + noun``: ``num_classes`` must be ``num_verbs ·
    num_nouns``.
    """

    num_verbs: int = 97  # verb classes (EPIC-KITCHENS-100: 97)
    num_nouns: int = 300  # noun classes (EPIC-KITCHENS-100: 300)
    num_classes: int = 97 * 300  # joint actions verb · num_nouns + noun (= num_verbs · num_nouns)

    def __post_init__(self) -> None:
        for name in ("num_verbs", "num_nouns"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"model.{name} must be an int >= 1, got {value!r}")
        super().__post_init__()
        if self.num_classes != self.num_verbs * self.num_nouns:
            raise ValueError(
                f"model.num_classes = {self.num_classes} must equal model.num_verbs · model.num_nouns = "
                f"{self.num_verbs} · {self.num_nouns} = {self.num_verbs * self.num_nouns} (joint action labels "
                "verb · num_nouns + noun)"
            )


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm | nn.BatchNorm2d | nn.BatchNorm3d):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class ConvolutionalTransformer(nn.Module):
    """CTN without its head (Fig. 4.2 (a)): input embedding → class token (+ positions) → encoders → LN.

    ``forward(x)``: ``(B, in_channels, T, H, W) -> (B, dim)``, the class token after the final LayerNorm.
    """

    def __init__(self, config: CTNConfig) -> None:
        super().__init__()
        self.config = config
        if config.embedding == "video_to_tokens":
            self.embed: VideoToTokens | TubeletEmbedding = VideoToTokens(
                config.in_channels,
                config.dim,
                channels=config.v2t_channels,
                kernel_size=config.v2t_kernel,
                stride=config.v2t_stride,
                batch_norm=config.v2t_batch_norm,
                max_pool=config.v2t_max_pool,
                pool_kernel_size=config.v2t_pool_kernel,
                pool_stride=config.v2t_pool_stride,
                patch_size=config.patch_size,
            )
        else:
            self.embed = TubeletEmbedding(config.in_channels, config.dim, config.tubelet_size)
        self.cls = ClassToken(config.dim)
        self.positions = LearnedPositions(config.token_grid, config.dim) if config.positional_embedding else None
        self.embed_drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            ConvTransformerBlock(
                config.dim,
                config.heads,
                mlp_ratio=config.mlp_ratio,
                mapping=config.mapping,
                kernel_size=config.mapping_kernel,
                batch_norm=config.mapping_batch_norm,
                dropout=config.dropout,
            )
            for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(config.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        config = self.config
        if x.ndim != 5 or x.shape[1] != config.in_channels:
            raise ValueError(f"CTN expects (B, {config.in_channels}, T, H, W) clips, got {tuple(x.shape)}")
        grid = self.embed.grid(*(int(s) for s in x.shape[2:]))
        tokens = self.embed(x)  # (B, N, D), N = n_T·n_H·n_W
        tokens = self.cls(tokens)  # (B, 1 + N, D)
        if self.positions is not None:
            tokens = self.positions(tokens, grid)
        tokens = self.embed_drop(tokens)
        for block in self.blocks:
            tokens = block(tokens, grid, prefix_tokens=1)
        return self.norm(tokens[:, 0])  # (B, D)


class CTN(nn.Module):
    """CTN with one linear head (``ctn``; Diving 48): ``forward(x)``: ``(B, C, T, H, W) -> (B, num_classes)``."""

    def __init__(self, config: CTNConfig) -> None:
        super().__init__()
        if type(config) is not CTNConfig:
            raise TypeError(f"CTN expects a CTNConfig (verb + noun heads: CTNVerbNoun), got {type(config).__name__}")
        self.config = config
        self.backbone = ConvolutionalTransformer(config)
        self.head = nn.Linear(config.dim, config.num_classes)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def action_label(verb: torch.Tensor, noun: torch.Tensor, num_nouns: int) -> torch.Tensor:
    """Joint action label ``verb · num_nouns + noun`` (the label space of ``ctn_epic``)."""
    return verb * num_nouns + noun


def split_action(label: torch.Tensor, num_nouns: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(verb, noun)`` of joint action labels (inverse of ``action_label``)."""
    return torch.div(label, num_nouns, rounding_mode="floor"), torch.remainder(label, num_nouns)


def verb_noun_top1(output: dict[str, torch.Tensor], label: torch.Tensor, num_nouns: int) -> dict[str, float]:
    """Top-1 accuracies in % of a batch (§4.4.2): ``verb_top1``, ``noun_top1`` and ``action_top1`` (verb and noun
    both right), from ``CTNVerbNoun`` outputs and joint action labels (B,)."""
    verb, noun = split_action(label, num_nouns)
    verb_right = output["verb_logits"].argmax(-1) == verb
    noun_right = output["noun_logits"].argmax(-1) == noun
    return {
        "verb_top1": 100.0 * float(verb_right.float().mean()),
        "noun_top1": 100.0 * float(noun_right.float().mean()),
        "action_top1": 100.0 * float((verb_right & noun_right).float().mean()),
    }


class CTNVerbNoun(nn.Module):
    """CTN with verb and noun heads (``ctn_epic``, §4.4.2), trained and scored on joint action labels.

    ``forward(x)``: ``(B, C, T, H, W) -> {"verb_logits": (B, num_verbs), "noun_logits": (B, num_nouns)}``. Loop
    protocol: ``training_loss(output, target)`` → CE_verb + CE_noun (terms ``ce_verb``, ``ce_noun``) against the
    marginals of the joint target; ``class_scores(output)`` → joint probabilities (B, num_verbs · num_nouns).
    """

    def __init__(self, config: CTNVerbNounConfig) -> None:
        super().__init__()
        if not isinstance(config, CTNVerbNounConfig):
            raise TypeError(f"CTNVerbNoun expects a CTNVerbNounConfig, got {type(config).__name__}")
        self.config = config
        self.backbone = ConvolutionalTransformer(config)
        self.verb_head = nn.Linear(config.dim, config.num_verbs)
        self.noun_head = nn.Linear(config.dim, config.num_nouns)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(x)  # (B, D)
        return {"verb_logits": self.verb_head(features), "noun_logits": self.noun_head(features)}

    def verb_noun_targets(self, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Verb (B, V) and noun (B, N) targets of joint targets: soft (B, V·N) → marginals; labels (B,) → split."""
        config = self.config
        if target.is_floating_point():
            if target.ndim != 2 or target.shape[1] != config.num_classes:
                raise ValueError(f"soft targets must be (B, {config.num_classes}), got {tuple(target.shape)}")
            joint = rearrange(target, "b (v n) -> b v n", v=config.num_verbs)
            return reduce(joint, "b v n -> b v", "sum"), reduce(joint, "b v n -> b n", "sum")
        if target.ndim != 1:
            raise ValueError(f"label targets must be (B,) joint action labels, got {tuple(target.shape)}")
        return split_action(target, config.num_nouns)

    def training_loss(
        self, output: dict[str, torch.Tensor], target: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """CE_verb + CE_noun against the verb and noun targets of ``target`` (joint soft targets (B, V·N) or joint
        labels (B,)); terms ``ce_verb`` and ``ce_noun`` (detached)."""
        verb_target, noun_target = self.verb_noun_targets(target)
        terms = {
            "ce_verb": F.cross_entropy(output["verb_logits"], verb_target),
            "ce_noun": F.cross_entropy(output["noun_logits"], noun_target),
        }
        return terms["ce_verb"] + terms["ce_noun"], {name: value.detach() for name, value in terms.items()}

    def class_scores(self, output: dict[str, torch.Tensor]) -> torch.Tensor:
        """Joint action probabilities ``softmax(verb)[:, v] · softmax(noun)[:, n]`` at ``v · num_nouns + n``,
        ``(B, num_verbs · num_nouns)``; the arg-max is the action (arg-max verb, arg-max noun)."""
        verb = output["verb_logits"].float().softmax(dim=-1)
        noun = output["noun_logits"].float().softmax(dim=-1)
        return rearrange(verb[:, :, None] * noun[:, None, :], "b v n -> b (v n)")


_TINY: dict[str, Any] = {
    "image_size": 32,
    "v2t_kernel": (3, 3, 3),
    "v2t_channels": 8,
    "patch_size": (1, 2, 2),
    "tubelet_size": (2, 8, 8),
    "dim": 32,
    "depth": 2,
    "heads": 2,
}


@register_model(CTN, tiny=_TINY)
def ctn(**overrides: Any) -> CTNConfig:
    """CTN with one head (Diving 48, 48 classes), paper sizes of §4.4.1 / Table 4.1, no positions (Table 4.3 best)."""
    return dataclasses.replace(CTNConfig(), **overrides)


@register_model(CTNVerbNoun, tiny=_TINY)
def ctn_epic(**overrides: Any) -> CTNVerbNounConfig:
    """CTN with verb + noun heads for EPIC-KITCHENS-100 (97 verbs × 300 nouns, joint action labels, §4.4.2).

    When ``num_verbs`` / ``num_nouns`` are overridden without ``num_classes``, ``num_classes`` follows their
    product; an explicit ``num_classes`` must match it.
    """
    if "num_classes" not in overrides and ({"num_verbs", "num_nouns"} & overrides.keys()):
        verbs = overrides.get("num_verbs", CTNVerbNounConfig.num_verbs)
        nouns = overrides.get("num_nouns", CTNVerbNounConfig.num_nouns)
        if _is_int(verbs) and _is_int(nouns):
            overrides = {**overrides, "num_classes": verbs * nouns}
    return dataclasses.replace(CTNVerbNounConfig(), **overrides)
