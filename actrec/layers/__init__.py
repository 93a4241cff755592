"""Reusable layers shared by the paper models in ``actrec.models``."""

from actrec.layers.attention import KNNMultiheadAttention, resolve_knn_k
from actrec.layers.cdc import CDCConv3d
from actrec.layers.inception import SpaceCentricInception3d
from actrec.layers.transformer import FeedForward, Transformer, TransformerBlock, sinusoidal_positions

__all__ = [
    "CDCConv3d",
    "FeedForward",
    "KNNMultiheadAttention",
    "SpaceCentricInception3d",
    "Transformer",
    "TransformerBlock",
    "resolve_knn_k",
    "sinusoidal_positions",
]
