"""The three profiles every MFST sweep offers: ``smoke`` (tests), ``local`` (this machine) and ``paper``.

``paper`` is MFST §IV-A ("Implementation Details"; ``MFST_CITATION``): 32 frames, random (train) / centre (test)
224×224 crops, SGD with momentum 0.9 and weight decay 3e-4, learning rate linearly ramped to 0.01 over the first
three epochs then cosine-decayed, 100 epochs, MixUp, 4×A100 (four Ray Train workers with one GPU each per trial).
What the paper leaves open and the choice made here: the short side the frames are resized to before cropping (256,
the usual 224-crop companion), the MixUp α (0.8, as in the Video Swin / MViT recipes), the per-GPU batch (8 clips,
32 per step) and the CPUs per worker (8 for decoding). ``tests/test_sweeps_profiles.py`` checks every sweep's paper
profile against that recipe, transcribed there.

Each paper's citation (``*_CITATION``: title, venue, year, and the DOI where the paper's text prints one) is set
here once and printed by every report of its tables.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from actrec.models import tiny_overrides

if TYPE_CHECKING:
    from actrec.tune.spec import SweepSpec

MFST_PAPER = "MFST (Ma et al., ACM MM 2023)"
# The DOI is the one the thesis (``THESIS_CITATION``) lists for this paper in its publications; the paper's own text
# prints none.
MFST_CITATION = (
    "Multi-stage Factorized Spatio-Temporal Representation for RGB-D Action and Gesture Recognition. Proceedings "
    "of the 31st ACM International Conference on Multimedia (ACM MM), 2023, pp. 3149-3160. "
    "doi:10.1145/3581783.3612301"
)
# Yujun Ma's PhD thesis: chapter 2 is MFST, chapter 3 RPE-STDT, chapter 4 CTN. The RPE-STDT and CTN tables are
# numbered as in the thesis (Table 3.1, Table 4.4, ...).
THESIS_CITATION = "Deep Learning for Action Recognition in Videos. PhD thesis, Massey University, 2024"

# MFST §IV-A, shared by every MFST table; dataset, protocol and model are per table.
MFST_PAPER_RECIPE: dict[str, Any] = {
    "data.num_frames": 32,
    "data.resize": 256,
    "data.crop_size": 224,
    "optim.lr": 0.01,
    "optim.momentum": 0.9,
    "optim.weight_decay": 3e-4,
    "optim.warmup_epochs": 3.0,
    "train.epochs": 100,
    "train.mixup_alpha": 0.8,
    "train.batch_size": 8,
    "train.num_workers": 4,
    "train.use_gpu": True,
    "train.cpus_per_worker": 8.0,
    # GPU clusters run on spot nodes: a lost worker restarts the trial's worker group from its newest checkpoint.
    "train.max_failures": 3,
}


# The CPU profiles' synthetic-data run, shared by every model's tables (learning rates are per model).
# smoke: a minute or two on 2 cores, the pipeline end to end, not a meaningful accuracy.
SMOKE: dict[str, Any] = {
    "data.synth_subjects": 4,
    "data.synth_views": 2,
    "data.synth_repeats": 1,
    "data.num_frames": 4,
    "data.resize": 32,
    "data.crop_size": 32,
    "train.epochs": 1,
    "train.batch_size": 8,
    "optim.warmup_epochs": 0.0,
}
# local: the default synthetic RGB-D set, tiny models, 12 epochs.
LOCAL: dict[str, Any] = {
    "data.num_frames": 8,
    "data.resize": 36,
    "data.crop_size": 32,
    "train.epochs": 12,
    "train.batch_size": 16,
    "optim.warmup_epochs": 1.0,
    "optim.weight_decay": 1e-4,
}


def tiny(model: str) -> dict[str, Any]:
    """Dotted overrides that make ``model`` CPU-tiny (the registry's tiny overrides)."""
    return {f"model.{k}": v for k, v in tiny_overrides(model).items()}


def mfst_profiles(
    *, model: str = "mfst_large", dataset: str = "ntu_rgbd_60", protocol: str = "cross_subject"
) -> dict[str, dict[str, Any]]:
    """``smoke`` / ``local`` / ``paper`` dotted overrides of an MFST table measured with ``model`` on
    ``dataset`` / ``protocol`` (the paper profile; smoke and local use the synthetic RGB-D set, whose
    cross_subject / cross_view protocols mirror NTU RGB+D's).
    """
    synthetic_protocol = protocol if protocol in ("cross_subject", "cross_view") else "cross_subject"
    return {
        # A minute or two on 2 cores: the pipeline end to end, not a meaningful accuracy.
        "smoke": {"model.name": model, **tiny(model), "data.protocol": synthetic_protocol, **SMOKE, "optim.lr": 0.05},
        # Synthetic RGB-D, tiny model: about a minute and a half per trial on 2 cores.
        "local": {"model.name": model, **tiny(model), "data.protocol": synthetic_protocol, **LOCAL, "optim.lr": 0.05},
        # The paper's recipe on the real dataset: needs --data-root (prepared shards) and 4 GPUs per trial.
        "paper": {
            "model.name": model,
            "data.dataset": dataset,
            "data.protocol": protocol,
            **MFST_PAPER_RECIPE,
        },
    }


# The stem each modality's stream uses in Tables I, II and VI: CDC-ST for RGB, CDC-T for depth, θ = 0.6 — the best
# cells of Table IV (§IV-C-2), whose values the WMS-Trans row of Table VI and the MFST-Large rows of Table I repeat.
MFST_STREAMS: dict[str, dict[str, Any]] = {
    "rgb": {"data.modality": "rgb", "model.stem": "CDC-ST", "model.theta": 0.6},
    "depth": {"data.modality": "depth", "model.stem": "CDC-T", "model.theta": 0.6},
}


def mfst_fusion(model: str = "mfst_large"):
    """RGB+DEP rows (Tables I, II): late score fusion of the RGB and depth ``model`` streams."""
    from actrec.tune.spec import FusionSpec

    return FusionSpec(
        rgb={"data.modality": "rgb"},
        depth={"data.modality": "depth"},
        fused={"data.modality": "rgbd", "model.name": f"{model}_rgbd"},
    )


# De+Recouple §4.1 ("Implementation Details"; ``DERECOUPLE_CITATION``), MFST's recipe but with 64 frames and random
# crop + rotation: 224² random / centre crops, SGD momentum 0.9, weight decay 3e-4, lr ramped to 0.01 over 3 epochs
# then cosine, 100 epochs, and "the data augmentation only includes random clipping and rotation" — so no MixUp,
# unlike MFST. Open, chosen here: the rotation range (±10°), the resize (256), the per-GPU batch (8)
# and the 4 GPU workers per trial (MFST's; De+Recouple does not say). The paper starts every non-NTU dataset from
# 20BN Jester pre-training; actrec has no Jester adapter, so the paper profile trains from scratch (see each sweep).
DERECOUPLE_PAPER_RECIPE: dict[str, Any] = {
    **MFST_PAPER_RECIPE,
    "data.num_frames": 64,
    "data.rotation_deg": 10.0,
    "train.mixup_alpha": 0.0,
}

# The datasets of De+Recouple's tables: column label -> the cells' dotted values, one dict per evaluated split, with
# the distillation temperature Fig. 6 (b) found best for the dataset's domain (0.4 gestures, 0.5 actions). THU-READ
# is leave-one-split-out over CS1-CS4 in Table 2 (the column averages the four); the ablations use its CS2 only.
DERECOUPLE_DATASETS: dict[str, tuple[dict[str, Any], ...]] = {
    "NvGesture": ({"data.dataset": "nvgesture", "data.protocol": "official", "model.distill_temperature": 0.4},),
    "THU-READ CS2": ({"data.dataset": "thu_read", "data.protocol": "cs2", "model.distill_temperature": 0.5},),
    "THU-READ": tuple(
        {"data.dataset": "thu_read", "data.protocol": f"cs{i}", "model.distill_temperature": 0.5} for i in range(1, 5)
    ),
    "IsoGD": ({"data.dataset": "isogd", "data.protocol": "official", "model.distill_temperature": 0.4},),
    "NTU CS": ({"data.dataset": "ntu_rgbd_60", "data.protocol": "cross_subject", "model.distill_temperature": 0.5},),
    "NTU CV": ({"data.dataset": "ntu_rgbd_60", "data.protocol": "cross_view", "model.distill_temperature": 0.5},),
}

# Synthetic stand-ins of the dataset columns (SweepSpec.column_stand_ins): the synthetic set's two protocols mirror
# NTU RGB+D's; the ablation tables' two datasets take one protocol each. The smoke profile (tests) measures one column.
SYNTHETIC_CS = {"data.dataset": "synthetic", "data.protocol": "cross_subject"}
SYNTHETIC_CV = {"data.dataset": "synthetic", "data.protocol": "cross_view"}
ABLATION_STAND_INS = {
    "smoke": {"NvGesture": SYNTHETIC_CS},
    "local": {"NvGesture": SYNTHETIC_CS, "THU-READ CS2": SYNTHETIC_CV},
}
NTU_STAND_INS = {"smoke": {"NTU CS": SYNTHETIC_CS}, "local": {"NTU CS": SYNTHETIC_CS, "NTU CV": SYNTHETIC_CV}}


def dataset_columns(labels: tuple[str, ...], datasets: Mapping[str, tuple[dict[str, Any], ...]] | None = None):
    """Table columns for the dataset columns ``labels`` of ``datasets`` (column label -> the cell values of its
    splits; default ``DERECOUPLE_DATASETS``) and, per column, the cell values of its splits."""
    from actrec.report.spec import Column

    datasets = DERECOUPLE_DATASETS if datasets is None else datasets
    columns, values = [], {}
    for label in labels:
        splits = datasets[label]
        match = {"data.dataset": splits[0]["data.dataset"]}
        if len(splits) == 1:
            match["data.protocol"] = splits[0]["data.protocol"]
        columns.append(Column(label=label, match=match))
        values[label] = splits
    return tuple(columns), values


def derecouple_cells(
    rows, labels: tuple[str, ...], datasets: Mapping[str, tuple[dict[str, Any], ...]] | None = None
) -> tuple[dict[str, Any], ...]:
    """Cells of a table with dataset columns: every row's ``match`` on every split of every column ``labels`` of
    ``datasets`` (default ``DERECOUPLE_DATASETS``); row values win, e.g. Fig. 6's distillation temperatures."""
    _, values = dataset_columns(labels, datasets)
    return tuple({**split, **row.match} for row in rows for label in labels for split in values[label])


def derecouple_profiles(model: str = "derecouple") -> dict[str, dict[str, Any]]:
    """``smoke`` / ``local`` / ``paper`` dotted overrides of a De+Recouple table; datasets come from the cells.

    The CPU profiles clip the gradient norm at 5 (the paper gives no clipping; 5 is the released configuration's
    ``grad_clip``): the tiny model's logits divided by the sharpness τ = 0.04 (Eq. (10)) diverged to NaN within a few
    epochs at these learning rates without it, and a clip at 1 left the single-stream model at 47% after 12 local
    epochs where 5 reached 72% (synthetic cross-subject, one seed).
    """
    cpu = {"model.name": model, **tiny(model), "optim.clip_grad_norm": 5.0}
    return {
        # A minute or two on 2 cores: the pipeline end to end, not a meaningful accuracy.
        "smoke": {**cpu, **SMOKE, "optim.lr": 0.02},
        # Synthetic RGB-D, tiny model, the paper's augmentation (random crop + rotation, no MixUp).
        "local": {**cpu, **LOCAL, "data.rotation_deg": 10.0, "optim.lr": 0.02},
        # §4.1 on the real datasets: needs --data-root DATASET=DIR per dataset and 4 GPUs per trial.
        "paper": {"model.name": model, **DERECOUPLE_PAPER_RECIPE},
    }


DERECOUPLE_PAPER = "De+Recouple (Zhou et al., CVPR 2022)"
# Venue and pages as the MFST paper and the thesis cite it; the paper's text prints no DOI.
DERECOUPLE_CITATION = (
    "Decoupling and Recoupling Spatiotemporal Representation for RGB-D-based Motion Recognition. Proceedings of the "
    "IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR), 2022, pp. 20154-20163"
)


def derecouple_sweep(
    *,
    sweep: str,
    table: str,
    title: str,
    paper_setting: str,
    rows,
    datasets: tuple[str, ...],
    model: str,
    stand_ins,
    plot=None,
    complexity: tuple[str, ...] = ("params_m", "gflops"),
):
    """The ``SweepSpec`` of a De+Recouple table: ``rows`` on every split of the ``datasets`` columns, the
    ``derecouple_profiles`` of ``model``, and ``stand_ins`` (profile -> column -> synthetic values) for the CPU
    profiles."""
    from actrec.report.spec import TableSpec
    from actrec.tune.spec import SweepSpec

    columns, _ = dataset_columns(datasets)
    spec = TableSpec(
        sweep=sweep,
        paper=DERECOUPLE_PAPER,
        citation=DERECOUPLE_CITATION,
        table=table,
        title=title,
        paper_setting=paper_setting,
        rows=tuple(rows),
        columns=columns,
        plot=plot,
        complexity=complexity,
    )
    return SweepSpec(
        table=spec,
        cells=derecouple_cells(rows, datasets),
        axes={},
        profiles=derecouple_profiles(model),
        column_stand_ins=stand_ins,
    )


# RPE-STDT, thesis chapter 3 §3.4.2 (``RPE_CITATION``): 16 frames sampled
# uniformly, frames resized to a short side in [256, 320] and cropped to 224² at the same place in every frame (centre
# crop at test), random horizontal flip 0.5, SGD momentum 0.9, linear warm-up then cosine, 100 epochs, 4×A100. Open,
# chosen here: one short side (256: actrec resizes to a fixed side), the learning rate, weight decay and warm-up
# (the thesis' chapter 2 recipe: 0.01, 3e-4, 3 epochs), the per-GPU batch (8). The thesis starts the spatial encoder
# from ViT-B ImageNet weights, which actrec cannot download: the paper profile trains from scratch.
# The local profile of the thesis' Transformers (RPE-STDT, CTN, their ViT / ViViT baselines) at tiny size on the
# synthetic set (after ``LOCAL``; CTN from scratch, the frame-wise RPE-STDT / ViT from a pose-pretrained encoder, see
# ``rpe_profiles``): AdamW's usual weight decay, more and smaller steps than the convolutional models need.
CPU_TRANSFORMER_LOCAL: dict[str, Any] = {
    "train.epochs": 30,
    "train.batch_size": 8,
    "optim.warmup_epochs": 2.0,
    "optim.weight_decay": 0.05,
}
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
    return _thesis_sweep(
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


def _thesis_sweep(
    *, sweep, table, title, rows, datasets, plot, paper, citation, paper_setting, dataset_values, stand_ins, profiles
):
    """A thesis table with dataset columns: ``rows`` on every ``datasets`` column of ``dataset_values``, with
    parameter and GFLOPs columns, and the columns' synthetic ``stand_ins`` (profile -> column -> values)."""
    from actrec.report.spec import TableSpec
    from actrec.tune.spec import SweepSpec

    columns, _ = dataset_columns(datasets, dataset_values)
    spec = TableSpec(
        sweep=sweep,
        paper=paper,
        citation=citation,
        table=table,
        title=title,
        paper_setting=paper_setting,
        rows=tuple(rows),
        columns=columns,
        plot=plot,
        complexity=("params_m", "gflops"),
    )
    used = {name: {k: v for k, v in values.items() if k in datasets} for name, values in stand_ins.items()}
    return SweepSpec(
        table=spec,
        cells=derecouple_cells(rows, datasets, dataset_values),
        axes={},
        profiles=profiles,
        column_stand_ins={profile: values for profile, values in used.items() if values},
    )


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
    return _thesis_sweep(
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


# EPAM-Net (``EPAM_CITATION``): the skeleton-box RGB clip, 16 frames at 224² (Table 1), and 48 pseudo-heatmaps of 56²
# (Table 2), data.modality="rgb_pose"; SGD momentum 0.9 with cosine annealing for every network (§3.4). §3.4's two
# phases: the RGB stream (RGB-X3D) and the pose stream (Pose-X3D) are first trained alone, then "the entire multimodal
# network" is fine-tuned from them (EPAM_PHASES). Open, chosen here:
# * GPUs and the batch: one GPU per trial (train.num_workers=1), so a phase's batch (16, 64, 16) is both the batch per
#   GPU and per step — the two readings of "batch size of 16" agree — and BN sees the paper's batch; the learning
#   rates are the paper's as printed, unscaled. 8 CPUs per worker decode.
# * weight decay 3e-4 (PoseC3D's, whose pose pipeline the paper follows [12]; the paper gives none); no warm-up and a
#   cosine to 0 (the paper names only "Cosine Annealing"); the gradient norm clipped at 40, as the authors' released
#   trainer does (github.com/ahmed-nady/Multimodal-Action-Recognition, ddp/trainer.py; the paper does not say).
# * the short side the frames are decoded at before the skeleton-box crop (``data.resize``): 256, for NTU prepared
#   with the body-box crop (``crop_to_body``), whose stored frames the box nearly fills, so the box is resized by at
#   most ~2× to 224² (``actrec.data.epam_input`` resizes without antialiasing); no flip, rotation or MixUp (the paper
#   lists no augmentation, and NTU's classes are left/right-sensitive); 1 test clip ("Top-1 accuracy of 1-clip").
# * joints: the paper's 17 COCO joints come from a 2D pose estimator (PoseC3D's HRNet); actrec's NTU adapters store
#   the 25 Kinect joints, so the paper profile's pose stream reads 25 heatmaps (model.pose_channels follows the data).
EPAM_PAPER_RECIPE: dict[str, Any] = {
    "model.name": "epam_net",
    "data.modality": "rgb_pose",
    "data.num_frames": 16,
    "data.crop_size": 224,
    "data.resize": 256,
    "data.pose_volume_frames": 48,
    "data.pose_volume_size": 56,
    "data.test_clips": 1,
    "optim.name": "sgd",
    "optim.momentum": 0.9,
    "optim.weight_decay": 3e-4,
    "optim.warmup_epochs": 0.0,
    "optim.min_lr": 0.0,
    "optim.clip_grad_norm": 40.0,
    "train.mixup_alpha": 0.0,
    "train.num_workers": 1,
    "train.use_gpu": True,
    "train.cpus_per_worker": 8.0,
    # GPU clusters run on spot nodes: a lost worker restarts the trial's worker group from its newest checkpoint.
    "train.max_failures": 3,
}
EPAM_PAPER = "EPAM-Net (Abdelkawy, Ali & Farag, 2024)"
# The paper's text names no venue and no DOI, nor its year (2024: as actrec has always cited it).
EPAM_CITATION = (
    "EPAM-Net: An Efficient Pose-driven Attention-guided Multimodal Network for Video Action Recognition. "
    "2024 (the paper's text names no venue)"
)
# The datasets of EPAM-Net's tables (Tables 3-5 and the §4.3 attention ablation), one split per column.
EPAM_DATASETS: dict[str, tuple[dict[str, Any], ...]] = {
    "NTU-60 XSub": ({"data.dataset": "ntu_rgbd_60", "data.protocol": "cross_subject"},),
    "NTU-60 XView": ({"data.dataset": "ntu_rgbd_60", "data.protocol": "cross_view"},),
    "NTU-120 XSub": ({"data.dataset": "ntu_rgbd_120", "data.protocol": "cross_subject"},),
    "NTU-120 XSet": ({"data.dataset": "ntu_rgbd_120", "data.protocol": "cross_setup"},),
}
# §3.4's phases, per profile: "rgb" and "pose" mark and train the phase-1 trials of one stream alone
# (model.streams=<stream>, no attention), "joint" the phase-2 trial fine-tuned from their two checkpoints.
# smoke / local keep the paper's batches, the pose stream's and the joint network's learning rates, and raise the RGB
# stream's to 0.05: trained in process for 20 epochs on the local cross-subject split (clips decoded once), the tiny
# RGB stream reached 20% at 0.0125, 36% at 0.05 and 38% at 0.1 (8 classes, chance 12.5%), the tiny pose stream 64% at
# 0.1 (batch 64), and the joint network fine-tuned at 0.001 from those two 62% without attention and 67-71% with the
# nesting or CBAM-style block after its first epoch. Epochs: one tiny local epoch of one trial took 18-27 s (one
# stream) and 24-31 s (joint network) wall on this 2-core machine, two trials at a time (Ray Train + Ray Data; 7-14 s
# of CPU in process), plus 30-45 s to start a trial (epam_width with 2 epochs per phase: 455 s). 15 epochs per stream
# and 5 joint ones make the largest local sweep (epam_width, 10 trials) ~26 minutes and the others 17-20. Beside
# heavy other work (load average 20-50) the same epochs took 40-120 s, which would stretch a sweep 2-4×.
EPAM_PHASES: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {
        "rgb": {"optim.lr": 0.0125, "train.batch_size": 16, "train.epochs": 240},
        "pose": {"optim.lr": 0.1, "train.batch_size": 64, "train.epochs": 240},
        "joint": {"optim.lr": 0.001, "train.batch_size": 16, "train.epochs": 20},
    },
    "local": {
        "rgb": {"optim.lr": 0.05, "train.batch_size": 16, "train.epochs": 15},
        "pose": {"optim.lr": 0.1, "train.batch_size": 64, "train.epochs": 15},
        "joint": {"optim.lr": 0.001, "train.batch_size": 16, "train.epochs": 5},
    },
    "smoke": {
        "rgb": {"optim.lr": 0.05, "train.batch_size": 16, "train.epochs": 1},
        "pose": {"optim.lr": 0.1, "train.batch_size": 64, "train.epochs": 1},
        "joint": {"optim.lr": 0.001, "train.batch_size": 16, "train.epochs": 1},
    },
}
# The tiny epam_net's inputs (epam_net.TINY): 4 RGB frames at 96² and 12 heatmaps of 24² (the data config's defaults,
# 3 × num_frames and crop_size / 4), decoded at short side 96 (the synthetic frames are 64²).
EPAM_CPU_DATA: dict[str, Any] = {"data.num_frames": 4, "data.crop_size": 96, "data.resize": 96}


def epam_profiles() -> dict[str, dict[str, Any]]:
    """``smoke`` / ``local`` / ``paper`` dotted overrides every trial of an EPAM-Net table shares; the datasets come
    from the cells and each phase's learning rate, batch and epochs from ``EPAM_PHASES`` (``epam_phases``).

    The CPU profiles train the tiny ``epam_net`` (``model.size=tiny``) on the synthetic set's skeleton-box clips with
    the paper's optimiser settings (``EPAM_PAPER_RECIPE``: SGD, weight decay, no warm-up, clipping), on CPU; smoke on
    the small synthetic set of ``SMOKE``.
    """
    optim = {k: v for k, v in EPAM_PAPER_RECIPE.items() if k.startswith("optim.")}
    cpu = {"model.name": "epam_net", "model.size": "tiny", "data.modality": "rgb_pose", **optim}
    return {
        # A minute or two on 2 cores: the pipeline and both phases end to end, not a meaningful accuracy.
        "smoke": {**SMOKE, **cpu, **EPAM_CPU_DATA},
        # Synthetic skeleton-box clips (8 classes), tiny EPAM-Net, the EPAM_PHASES["local"] epochs.
        "local": {**cpu, **EPAM_CPU_DATA},
        # §3.4 on NTU RGB+D: needs --data-root DATASET=DIR per dataset and one GPU per trial.
        "paper": dict(EPAM_PAPER_RECIPE),
    }


def epam_stand_ins(datasets: tuple[str, ...]) -> dict[str, dict[str, dict[str, Any]]]:
    """Synthetic stand-ins of an EPAM-Net table's dataset columns: the first column on the synthetic cross-subject
    split (smoke and local), the second on the cross-view split (local)."""
    local = dict(zip(datasets, (SYNTHETIC_CS, SYNTHETIC_CV), strict=False))
    return {"smoke": {datasets[0]: SYNTHETIC_CS}, "local": local}


def _stream_marker(stream: str, recipe: Mapping[str, Any]) -> dict[str, Any]:
    """Values of a phase-1 trial of ``stream`` alone (§3.4; no pose-driven attention without both streams)."""
    return {"model.streams": stream, "model.attention": "none", **recipe}


def epam_sweep(
    *,
    sweep: str,
    table: str,
    title: str,
    paper_setting: str,
    rows,
    datasets: tuple[str, ...],
    attentions: tuple[str, ...],
    rgb_variants: tuple[str, ...] = ("epam_rgb_x3d",),
    profile: str = "local",
) -> SweepSpec:
    """The ``SweepSpec`` of an EPAM-Net table, as ``profile`` runs it (``epam_phases`` re-targets it to another).

    Per ``datasets`` column: phase 1 trains one RGB-stream trial per ``rgb_variants`` and one pose-stream trial
    (``model.streams`` "rgb" / "pose", the ``EPAM_PHASES`` recipe of each); phase 2 (``FusionSpec``, fine-tuning)
    builds the joint network from each RGB trial and the pose trial of its column and seed, one trial per
    ``attentions`` value ("none": Table 5's score fusion, "nesting": STA, "cbam": §4.3's CBAM-style block), with both
    checkpoints (``model.rgb_checkpoint``, ``model.pose_checkpoint``) and the "joint" recipe. The pose stream does not
    depend on the RGB variant (``pair_ignore``): one pose trial serves RGB-X3D and RGB-X3D-wide. Parameter and GFLOPs
    columns are measured on every row.
    """
    from actrec.report.spec import TableSpec
    from actrec.tune.spec import FusionSpec, SweepSpec

    phases = EPAM_PHASES[profile]
    columns, values = dataset_columns(datasets, EPAM_DATASETS)
    rgb, pose = _stream_marker("rgb", phases["rgb"]), _stream_marker("pose", phases["pose"])
    streams = (*({**rgb, "model.rgb_variant": variant} for variant in rgb_variants), pose)
    cells = tuple({**split, **stream} for label in datasets for split in values[label] for stream in streams)
    fusion = FusionSpec(
        rgb=rgb,
        depth=pose,
        fused={"model.streams": "both", **phases["joint"]},
        depth_keys={},
        variants=tuple({"model.attention": attention} for attention in attentions),
        checkpoint_keys=("model.rgb_checkpoint", "model.pose_checkpoint"),
        fine_tune=True,
        pair_ignore=("model.rgb_variant",),
    )
    spec = TableSpec(
        sweep=sweep,
        paper=EPAM_PAPER,
        citation=EPAM_CITATION,
        table=table,
        title=title,
        paper_setting=paper_setting,
        rows=tuple(rows),
        columns=columns,
        complexity=("params_m", "gflops"),
    )
    return SweepSpec(
        table=spec,
        cells=cells,
        axes={},
        profiles=epam_profiles(),
        fusion=fusion,
        column_stand_ins=epam_stand_ins(datasets),
    )


def epam_phases(spec: SweepSpec, args: argparse.Namespace) -> SweepSpec:
    """``extend`` hook of the EPAM-Net sweeps: ``spec`` with the ``EPAM_PHASES`` recipe of ``args.profile`` in its
    phase-1 cells, its stream markers and its joint (phase-2) values; a ``--set`` of one of those keys (e.g.
    ``--set train.epochs=2``) applies to every phase, since the cells' own values would otherwise win over it.
    ``--fusion joint`` is refused: phase 2 fine-tunes from the phase-1 checkpoints (§3.4), and the joint recipe (lr
    0.001, 20 epochs) is no recipe for training the network from scratch."""
    import dataclasses

    from actrec.config import parse_overrides

    if getattr(args, "fusion", "checkpoints") != "checkpoints":
        raise SystemExit(
            f"--fusion {args.fusion}: EPAM-Net's joint network is fine-tuned from the phase-1 stream checkpoints "
            "(§3.4); use --fusion checkpoints"
        )
    given = parse_overrides(getattr(args, "overrides", None) or [])
    phases = {
        phase: {key: given.get(key, value) for key, value in recipe.items()}
        for phase, recipe in EPAM_PHASES[args.profile].items()
    }
    fusion = spec.fusion
    cells = tuple({**cell, **phases[cell["model.streams"]]} for cell in spec.cells)
    fusion = dataclasses.replace(
        fusion,
        rgb={**fusion.rgb, **phases["rgb"]},
        depth={**fusion.depth, **phases["pose"]},
        fused={**fusion.fused, **phases["joint"]},
    )
    return dataclasses.replace(spec, cells=cells, fusion=fusion)
