"""RPE-STDT (Ma & Wang, Pattern Recognition 2024; thesis chapter 3): its recipe, datasets and stand-ins."""

from __future__ import annotations

from typing import Any

from actrec.papers.mfst import MFST_PAPER_RECIPE
from actrec.papers.thesis import CPU_TRANSFORMER_LOCAL, THESIS_CITATION
from actrec.tune.profiles import LOCAL, SMOKE, SYNTHETIC_CS, SYNTHETIC_CV, dataset_sweep

# RPE-STDT, thesis chapter 3 §3.4.2 (``RPE_CITATION``): 16 frames sampled
# uniformly, frames resized to a short side in [256, 320] and cropped to 224² at the same place in every frame (centre
# crop at test), random horizontal flip 0.5, SGD momentum 0.9, linear warm-up then cosine, 100 epochs, 4×A100. Open,
# chosen here: one short side (256: actrec resizes to a fixed side), the learning rate, weight decay and warm-up
# (the thesis' chapter 2 recipe: 0.01, 3e-4, 3 epochs), the per-GPU batch (8). The thesis starts the spatial encoder
# from ViT-B ImageNet weights, which actrec cannot download: the paper profile trains from scratch.
RPE_PAPER_RECIPE: dict[str, Any] = {
    **MFST_PAPER_RECIPE,
    "data.num_frames": 16,
    "data.sampling": "uniform",
    "data.flip_prob": 0.5,
    "train.mixup_alpha": 0.0,
}

RPE_PAPER = "RPE-STDT (Ma & Wang, Pattern Recognition 2024; thesis chapter 3)"

RPE_CITATION = (
    "Relative-position embedding based spatially and temporally decoupled Transformer for action recognition. "
    "Pattern Recognition 145, 109905, 2024. doi:10.1016/j.patcog.2023.109905. Tables and sections as numbered in "
    f"chapter 3 of: {THESIS_CITATION}"
)

# Chapter 3's datasets: UCF-101 and HMDB-51 split 1 ("the top-1 ... on the validation set based on split one" for
# UCF-101; the same split is assumed for HMDB-51), Diving48 V2's train / test split.
RPE_DATASETS: dict[str, tuple[dict[str, Any], ...]] = {
    "UCF-101": ({"data.dataset": "ucf101", "data.protocol": "split1"},),
    "HMDB-51": ({"data.dataset": "hmdb51", "data.protocol": "split1"},),
    "Diving48": ({"data.dataset": "diving48", "data.protocol": "official"},),
}

RPE_STAND_INS = {
    "smoke": {"UCF-101": SYNTHETIC_CS},
    "local": {"UCF-101": SYNTHETIC_CS, "HMDB-51": SYNTHETIC_CV},
}

POSE_SMOKE = "pose_pretrain:1"  # model.spatial_init of the smoke profile: one epoch of actrec.train.frame_pretrain


def rpe_profiles(model: str = "rpe_stdt") -> dict[str, dict[str, Any]]:
    """``smoke`` / ``local`` / ``paper`` dotted overrides of an RPE-STDT table; datasets come from the cells.

    The CPU profiles train the tiny version of each row's model (``model.size=tiny``: RPE-STDT, or the ViT of Table
    3.3) with AdamW (weight decay 0.05): with SGD (lr 0.01-0.2) tiny ViT-style models stayed at chance on the
    synthetic set after 12 epochs. Local: 4×4 patches on the 32² crops, so a frame has an 8×8 grid and the cluster
    count y matters (Fig. 3.4), 30 epochs of batch 8 (``CPU_TRANSFORMER_LOCAL``), lr 5e-4.

    Spatial encoder start: ``model.spatial_init=pose_pretrain`` (smoke: ``pose_pretrain:1``), the offline stand-in
    for the thesis' ImageNet ViT-B start (``actrec.train.frame_pretrain``): before the trials, the driver pretrains
    an APE ViT of the trial's encoder shape to regress every frame's joints of the training split (labels unused),
    once per protocol, and every row starts its per-frame encoder from it. Without it, the tiny frame-wise models
    stay at chance on the synthetic set (in-process, 30-150 epochs; lr 1e-4 to 1e-2, width 64, 4 spatial or 1
    temporal layer, absolute positions, no subsampling): the classes differ only by motion, in time-reversed pairs;
    near-uniform attention at initialisation pools a clip to about the time average of its frame features, which
    carries almost no class signal, so there is no first-order gradient towards the order-aware attention they need
    (ViViT and CTN learn because tubelets and the Conv3d stem see motion in their first layer). In-process checks
    (cross-subject, 30 epochs, evaluation views, no augmentation; one seed): APE RPE-STDT with Top-K from the
    pretrained encoder 27% at lr 5e-4 (collapses to 12.5% at 1e-3 and 3e-3), from scratch 12.5%; shared-RPE from the
    same encoder 12.5%: with relative positions only, a frame's class token barely depends on where a lone actor
    stands, so the RPE rows are expected near chance on this set.
    """
    cpu = {"model.name": model, "model.size": "tiny", "data.modality": "rgb", "optim.name": "adamw"}
    return {
        # A minute or two on 2 cores: the pipeline end to end (one pretraining epoch), not a meaningful accuracy.
        "smoke": {**cpu, **SMOKE, "optim.lr": 3e-3, "optim.weight_decay": 0.05, "model.spatial_init": POSE_SMOKE},
        # Synthetic RGB, tiny model, 8×8 patches per frame, spatial encoder pose-pretrained (20 epochs).
        "local": {
            **cpu,
            **LOCAL,
            **CPU_TRANSFORMER_LOCAL,
            "optim.lr": 5e-4,
            "model.patch_size": 4,
            "model.spatial_init": "pose_pretrain",
        },
        # §3.4.2 on the real datasets: needs --data-root DATASET=DIR per dataset and 4 GPUs per trial.
        "paper": {"model.name": model, **RPE_PAPER_RECIPE},
    }


def rpe_sweep(*, sweep: str, table: str, title: str, rows, datasets: tuple[str, ...], plot=None):
    """The ``SweepSpec`` of an RPE-STDT table (thesis chapter 3): ``rows`` on every ``datasets`` column, the
    ``rpe_profiles``, synthetic stand-ins for UCF-101 / HMDB-51 in the CPU profiles."""
    return dataset_sweep(
        sweep=sweep,
        table=table,
        title=title,
        rows=rows,
        datasets=datasets,
        plot=plot,
        paper=RPE_PAPER,
        citation=RPE_CITATION,
        paper_setting="RGB, UCF-101 split 1 / HMDB-51 split 1 / Diving48 V2, 16 frames at 224², ViT-B spatial "
        "encoder (8 layers, from ImageNet weights) + 4-layer temporal encoder, 100 epochs on 4×A100 (actrec's paper "
        "profile trains from scratch: no ImageNet weights)",
        dataset_values=RPE_DATASETS,
        stand_ins=RPE_STAND_INS,
        profiles=rpe_profiles(),
    )
