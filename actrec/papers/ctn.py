"""CTN (Ma & Wang, Neurocomputing 2024; thesis chapter 4): its recipe, datasets and stand-ins."""

from __future__ import annotations

from typing import Any

from actrec.papers.mfst import MFST_PAPER_RECIPE
from actrec.papers.thesis import CPU_TRANSFORMER_LOCAL, THESIS_CITATION
from actrec.tune.profiles import LOCAL, SMOKE, SYNTHETIC_CS, SYNTHETIC_CV, dataset_sweep

# CTN (thesis chapter 4, §4.4.1 and Table 4.2, both datasets): 8 frames at 224², SGD momentum 0.9, base lr 0.005
# with 2.5 linear warm-up epochs then cosine, 100 epochs, batch 16 (4 clips on each of 4 GPUs), random crop and flip
# (the thesis' colour jitter is not implemented). The thesis gives no weight decay; MFST's 3e-4 is kept.
CTN_PAPER_RECIPE: dict[str, Any] = {
    **MFST_PAPER_RECIPE,
    "data.num_frames": 8,
    "data.flip_prob": 0.5,
    "optim.lr": 0.005,
    "optim.warmup_epochs": 2.5,
    "train.mixup_alpha": 0.0,
    "train.batch_size": 4,
}

CTN_PAPER = "CTN (Ma & Wang, Neurocomputing; thesis chapter 4)"

# No DOI: the thesis' publication list gives this article the DOI of the RPE-STDT article (a misprint), and neither
# text prints another.
CTN_CITATION = (
    "Convolutional transformer network for fine-grained action recognition. Neurocomputing 569, 127027, 2024. "
    f"Tables and sections as numbered in chapter 4 of: {THESIS_CITATION}"
)

# Chapter 4's datasets. EPIC-KITCHENS-100 is scored on actions (verb · 300 + noun) by ``ctn_epic``'s two heads;
# Diving48 V2 by ``ctn``'s single head. The column picks the model, so a row never names it.
CTN_DATASETS: dict[str, tuple[dict[str, Any], ...]] = {
    "EPIC-KITCHENS": (
        {"data.dataset": "epic_kitchens_100_actions", "data.protocol": "official", "model.name": "ctn_epic"},
    ),
    "Diving48": ({"data.dataset": "diving48", "data.protocol": "official", "model.name": "ctn"},),
}

# The synthetic set's 8 classes as 2 verbs × 4 nouns (label = verb · 4 + noun) stand in for EPIC-KITCHENS' actions,
# so the verb + noun heads and the action accuracy run end to end; the cross-view split stands in for Diving48.
SYNTHETIC_VERB_NOUN = {**SYNTHETIC_CS, "model.name": "ctn_epic", "model.num_verbs": 2, "model.num_nouns": 4}

CTN_STAND_INS = {
    "smoke": {"EPIC-KITCHENS": SYNTHETIC_VERB_NOUN},
    "local": {"EPIC-KITCHENS": SYNTHETIC_VERB_NOUN, "Diving48": {**SYNTHETIC_CV, "model.name": "ctn"}},
}


def ctn_profiles() -> dict[str, dict[str, Any]]:
    """``smoke`` / ``local`` / ``paper`` dotted overrides of a CTN table; datasets and the model come from the cells.

    The CPU profiles train the tiny CTN (``model.size=tiny``) from scratch with AdamW, as ``rpe_profiles`` (the
    Transformer recipe that learns the synthetic set at this size; the paper fine-tunes from ImageNet ViViT weights
    with SGD).
    """
    cpu = {"model.name": "ctn", "model.size": "tiny", "data.modality": "rgb", "optim.name": "adamw", "optim.lr": 3e-3}
    return {
        "smoke": {**cpu, **SMOKE, "optim.weight_decay": 0.05},
        "local": {**cpu, **LOCAL, **CPU_TRANSFORMER_LOCAL},
        # §4.4.1 on the real datasets: needs --data-root DATASET=DIR per dataset and 4 GPUs per trial.
        "paper": {"model.name": "ctn", **CTN_PAPER_RECIPE},
    }


def ctn_sweep(*, sweep: str, table: str, title: str, rows, datasets: tuple[str, ...] = ("EPIC-KITCHENS", "Diving48")):
    """The ``SweepSpec`` of a CTN table (thesis chapter 4): ``rows`` on every ``datasets`` column, the
    ``ctn_profiles``, synthetic stand-ins for EPIC-KITCHENS (as 2 verbs × 4 nouns) and Diving48 in the CPU
    profiles. Reports show the paper-size parameters of each row (rows' ``reference``) and the GFLOPs."""
    return dataset_sweep(
        sweep=sweep,
        table=table,
        title=title,
        rows=rows,
        datasets=datasets,
        plot=None,
        paper=CTN_PAPER,
        citation=CTN_CITATION,
        paper_setting="RGB, EPIC-KITCHENS-100 actions (verb + noun heads) / Diving48 V2, 8 frames at 224², CTN-B "
        "(12 encoders × 12 heads, dim 768) fine-tuned from ImageNet ViViT weights, SGD lr 0.005, 100 epochs on "
        "4×A100 (actrec's paper profile trains from scratch: no pre-trained weights)",
        dataset_values=CTN_DATASETS,
        stand_ins=CTN_STAND_INS,
        profiles=ctn_profiles(),
    )
