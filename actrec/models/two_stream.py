"""Score fusion and joint loss of two-stream models whose ``forward`` returns stream logits ``(B, S, K)``
(``TwoStreamMFST``, ``EPAMNet``); their ``class_scores`` / ``training_loss`` (``actrec.train.loop``) call these."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import einsum

FUSIONS = ("softmax", "logits")  # weighted mean of the streams' softmaxes, or softmax of their weighted logits


def stream_weights(
    first_weight: float, *, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Fusion weights ``(w, 1 - w)`` of two streams, shape (2,)."""
    weight = float(first_weight)
    return torch.tensor([weight, 1.0 - weight], device=device, dtype=dtype)


def fuse_stream_scores(stream_logits: torch.Tensor, first_weight: float, fusion: str = "softmax") -> torch.Tensor:
    """Stream logits ``(B, 2, K)`` -> fused class probabilities ``(B, K)``: ``"softmax"``: ``w · softmax(z_1) +
    (1 - w) · softmax(z_2)``; ``"logits"``: ``softmax(w · z_1 + (1 - w) · z_2)``."""
    if stream_logits.ndim != 3 or stream_logits.shape[1] != 2:
        raise ValueError(f"fuse_scores expects stream logits (B, 2, K), got {tuple(stream_logits.shape)}")
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
    weights = stream_weights(first_weight, device=stream_logits.device, dtype=stream_logits.dtype)
    if fusion == "logits":
        return F.softmax(einsum(stream_logits, weights, "b s k, s -> b k"), dim=-1)
    return einsum(F.softmax(stream_logits, dim=-1), weights, "b s k, s -> b k")


def summed_stream_loss(
    stream_logits: torch.Tensor, target: torch.Tensor, names: Sequence[str]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Joint training: the sum of each stream's cross-entropy (batch mean) against ``target`` (class indices or
    (B, K) soft targets), and the detached terms ``ce_<name>``."""
    terms = {f"ce_{name}": F.cross_entropy(stream_logits[:, i], target) for i, name in enumerate(names)}
    return torch.stack(list(terms.values())).sum(), {k: v.detach() for k, v in terms.items()}
