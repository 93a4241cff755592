"""EPAM-Net Table 3 (its last two rows): EPAM-Net with RGB-X3D vs with a twice as wide RGB-X3D.

Paper: Abdelkawy, Ali & Farag, "EPAM-Net: An Efficient Pose-driven Attention-guided Multimodal Network for Video Action
Recognition", 2024, §4.2, Table 3: "Our proposed approach (RGB-X3D)" and "(RGB-X3D-wide)", NTU RGB+D 60 XSub and XView
(the other rows are literature values; the Average column is the two columns' mean). RGB-X3D-wide doubles "the number of
filters per layer" (``epam_rgb_x3d_wide``, ``width_factor=2``: 9,792,144 parameters and 17.614 GFLOPs vs 3,097,662 and
4.898 at 60 classes, measured; the paper gives none). Per column, phase 1 (§3.4) trains one RGB trial of each variant
and one pose trial, which both variants share (``FusionSpec.pair_ignore``); phase 2 fine-tunes EPAM-Net (nesting STA)
from each RGB checkpoint and the pose one. The local profile measures XSub on the synthetic cross-subject split and
XView on the cross-view split (tiny EPAM-Net, whose RGB stream the wide variant doubles as well); the smoke profile XSub
only.

    python sweeps/epam_width.py                    # local profile
    python sweeps/epam_width.py --profile smoke    # used by the tests
    python sweeps/epam_width.py --profile paper --data-root ntu_rgbd_60=/data/ntu60   # one GPU per trial
"""

from __future__ import annotations

from actrec.papers.epam import epam_phases, epam_sweep
from actrec.report.spec import Claim, Row
from actrec.tune.cli import main
from actrec.tune.spec import Choice, with_claims, with_search

DATASETS = ("NTU-60 XSub", "NTU-60 XView")
# Table 3 as printed: label, RGB stream variant, (XSub %, XView %).
PAPER_ROWS = (
    ("EPAM-Net (RGB-X3D)", "epam_rgb_x3d", (96.0, 98.7)),
    ("EPAM-Net (RGB-X3D-wide)", "epam_rgb_x3d_wide", (96.5, 99.0)),
)

ROWS = tuple(
    Row(
        label=label,
        match={"model.streams": "both", "model.attention": "nesting", "model.rgb_variant": variant},
        paper=dict(zip(DATASETS, values, strict=True)),
        reference={"model.name": "epam_net", "model.rgb_variant": variant, "model.num_classes": 60},
    )
    for label, variant, values in PAPER_ROWS
)

X3D, WIDE = (label for label, *_ in PAPER_ROWS)
# §4.2 (the paragraph on Table 3) states this in words; its other claims compare with literature rows not run here.
CLAIMS = tuple(
    Claim(
        text="the performance of our multimodal network can be further improved through making the RGB-X3D network "
        f"wider (double the number of filters per layer) ({dataset})",
        source="§4.2, Table 3",
        a=(WIDE, dataset),
        b=(X3D, dataset),
    )
    for dataset in DATASETS
)

SPEC = epam_sweep(
    sweep="epam_width",
    table="Table 3",
    title="EPAM-Net with RGB-X3D vs RGB-X3D-wide (double the filters per layer)",
    paper_setting="NTU RGB+D 60 (XSub, XView); EPAM-Net (nesting STA) fine-tuned 20 epochs (batch 16, lr 0.001) "
    "from its RGB stream (RGB-X3D or RGB-X3D-wide) and Pose-X3D each trained alone 240 epochs; SGD momentum 0.9, "
    "cosine annealing",
    rows=ROWS,
    datasets=DATASETS,
    attentions=("nesting",),
    rgb_variants=("epam_rgb_x3d", "epam_rgb_x3d_wide"),
)
SPEC = with_claims(SPEC, CLAIMS)  # epam_phases (extend) keeps the table, claims included
# --search optuna: the RGB stream's width (Table 3), one stream at a time (§3.4 phase 1; no fused phase in a search).
SEARCH = {"model.streams": "rgb", "model.rgb_variant": Choice("epam_rgb_x3d", "epam_rgb_x3d_wide")}
SPEC = with_search(SPEC, SEARCH)

extend = epam_phases  # the phase recipes of the chosen profile (how main() and the tests build the trials)

if __name__ == "__main__":
    main(SPEC, extend=extend)
