"""Yujun Ma's PhD thesis: chapter 2 is MFST, chapter 3 RPE-STDT, chapter 4 CTN; what its chapters share."""

from __future__ import annotations

from typing import Any

# The RPE-STDT and CTN tables are numbered as in the thesis (Table 3.1, Table 4.4, ...).
THESIS_CITATION = "Deep Learning for Action Recognition in Videos. PhD thesis, Massey University, 2024"

# The local profile of the thesis' Transformers (RPE-STDT, CTN, their ViT / ViViT baselines) at tiny size on the
# synthetic set (after ``LOCAL``; CTN from scratch, the frame-wise RPE-STDT / ViT from a pose-pretrained encoder, see
# ``rpe_profiles``): AdamW's usual weight decay, more and smaller steps than the convolutional models need.
CPU_TRANSFORMER_LOCAL: dict[str, Any] = {
    "train.epochs": 30,
    "train.batch_size": 8,
    "optim.warmup_epochs": 2.0,
    "optim.weight_decay": 0.05,
}
