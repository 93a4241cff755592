"""EPAM-Net (Abdelkawy, Ali & Farag, 2024): its recipe, §3.4's two training phases, datasets and stand-ins."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from typing import Any

from actrec.config import parse_overrides
from actrec.report.spec import TableSpec
from actrec.tune.profiles import SMOKE, SYNTHETIC_CS, SYNTHETIC_CV, dataset_columns, dataset_sweep
from actrec.tune.spec import FusionSpec, SweepSpec

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
#   most ~2× to 224² (``actrec.data.rgb_pose`` resizes without antialiasing); no flip, rotation or MixUp (the paper
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
    "train.accelerator": "gpu",
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


def epam_stream_sweep(
    *,
    sweep: str,
    table: str,
    title: str,
    paper_setting: str,
    rows,
    datasets: tuple[str, ...],
    complexity: tuple[str, ...] = ("params_m", "gflops"),
    profile: str = "local",
) -> SweepSpec:
    """The ``SweepSpec`` of an EPAM-Net table of single streams (Tables 6-7: one backbone per row), as ``profile``
    runs it (``epam_phases`` re-targets it to another): §3.4's phase 1 only, no joint network.

    Every row's ``match`` names its stream (``model.streams`` "rgb" or "pose") and what selects its backbone (e.g.
    ``model.rgb_variant``, ``data.num_frames``); each row runs on every ``datasets`` column with no pose-driven
    attention and the ``EPAM_PHASES`` recipe of its stream. Stand-ins and profiles are the other EPAM-Net tables'.
    """
    phases = EPAM_PHASES[profile]
    spec = dataset_sweep(
        sweep=sweep,
        table=table,
        title=title,
        rows=rows,
        datasets=datasets,
        paper=EPAM_PAPER,
        citation=EPAM_CITATION,
        paper_setting=paper_setting,
        dataset_values=EPAM_DATASETS,
        stand_ins=epam_stand_ins(datasets),
        profiles=epam_profiles(),
        complexity=complexity,
    )
    for row in spec.table.rows:
        if row.match.get("model.streams") not in ("rgb", "pose"):
            raise ValueError(f"sweep {sweep!r}: row {row.label!r} must match model.streams 'rgb' or 'pose'")
    cells = tuple(
        {**cell, **_stream_marker(cell["model.streams"], phases[cell["model.streams"]])} for cell in spec.cells
    )
    return dataclasses.replace(spec, cells=cells)


def epam_phases(spec: SweepSpec, args: argparse.Namespace) -> SweepSpec:
    """``extend`` hook of the EPAM-Net sweeps: ``spec`` with the ``EPAM_PHASES`` recipe of ``args.profile`` in its
    phase-1 cells and, for a table with a phase 2, its stream markers and its joint values; a ``--set`` of one of
    those keys (e.g. ``--set train.epochs=2``) applies to every phase, since the cells' own values would otherwise win
    over it. ``--fusion joint`` is refused: phase 2 fine-tunes from the phase-1 checkpoints (§3.4), and the joint
    recipe (lr 0.001, 20 epochs) is no recipe for training the network from scratch."""
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
    if fusion is not None:  # the single-stream tables (epam_stream_sweep) have no phase 2
        fusion = dataclasses.replace(
            fusion,
            rgb={**fusion.rgb, **phases["rgb"]},
            depth={**fusion.depth, **phases["pose"]},
            fused={**fusion.fused, **phases["joint"]},
        )
    return dataclasses.replace(spec, cells=cells, fusion=fusion)
