"""MFST Table IV: vanilla 3D vs 3D-CDC-ST vs 3D-CDC-T stems across θ, for RGB and depth.

Paper: Ma et al., "Multi-stage Factorized Spatio-Temporal Representation for RGB-D Action and Gesture Recognition", ACM
MM 2023, §III-C Eq. (4)-(6), §IV-C-2, Table IV; ablations on MFST-Large, NTU RGB+D cross-subject.

    python sweeps/cdc_theta.py                        # local profile: synthetic RGB-D, tiny MFST-Large
    python sweeps/cdc_theta.py --profile smoke        # a few minutes, used by the tests
    python sweeps/cdc_theta.py --theta-grid 0.2,0.4,0.6,0.8,1.0 --seeds 3
    python sweeps/cdc_theta.py --search optuna --num-samples 20   # stem and θ ∈ [0, 1], on RGB
    python sweeps/cdc_theta.py --profile paper --data-root /data/ntu60_shards   # 4 GPU workers per trial
"""

from __future__ import annotations

import argparse
import dataclasses

from actrec.papers.mfst import MFST_CITATION, MFST_PAPER, MFST_READINGS, mfst_profiles
from actrec.report.spec import Claim, Column, PlotSpec, Row, TableSpec
from actrec.tune.cli import build_parser, main
from actrec.tune.plan import grid_values
from actrec.tune.spec import Choice, SweepSpec, Uniform

STEMS = {"vanilla": "Vanilla-3D", "CDC-ST": "3D-CDC-ST", "CDC-T": "3D-CDC-T"}
# Table IV as printed: (stem, θ, RGB %, DEP %).
PAPER_ROWS = (
    ("vanilla", 0.0, 90.4, 91.2),
    ("CDC-ST", 0.6, 92.1, 91.6),
    ("CDC-T", 0.6, 89.6, 93.8),
    ("CDC-ST", 0.8, 91.0, 91.0),
    ("CDC-T", 0.8, 89.9, 92.4),
)
COLUMNS = (
    Column(label="RGB(%)", match={"data.modality": "rgb"}),
    Column(label="DEP(%)", match={"data.modality": "depth"}),
)


def _row(stem: str, theta: float, rgb: float | None = None, dep: float | None = None) -> Row:
    paper = {"RGB(%)": rgb, "DEP(%)": dep} if rgb is not None else {}
    key = STEMS[stem] if stem == "vanilla" else f"{STEMS[stem]} θ={theta}"  # the paper prints each stem twice
    return Row(
        label=STEMS[stem], key=key, match={"model.stem": stem, "model.theta": theta}, paper=paper, extra={"θ": theta}
    )


RGB, DEP = "RGB(%)", "DEP(%)"
# §IV-C-2 ("3D Central Difference Convolution based Stem") and §III-C-2 state these in words.
CLAIMS = (
    Claim(
        text="compared to the 3D vanilla convolution (θ = 0), the 3D-CDC-ST (θ = 0.6) significantly enhances the "
        "performance in RGB data",
        source="§IV-C-2, Table IV",
        a=("3D-CDC-ST θ=0.6", RGB),
        b=("Vanilla-3D", RGB),
    ),
    Claim(
        text="the 3D-CDC-T (θ = 0.6) improves the performance for depth data [over the vanilla convolution]",
        source="§IV-C-2, Table IV",
        a=("3D-CDC-T θ=0.6", DEP),
        b=("Vanilla-3D", DEP),
    ),
    Claim(
        text="3D-CDC-ST performs better when applied to RGB data [than 3D-CDC-T]",
        source="§IV-C-2 and §III-C-2, Table IV",
        a=("3D-CDC-ST θ=0.6", RGB),
        b=("3D-CDC-T θ=0.6", RGB),
    ),
    Claim(
        text="3D-CDC-T yields better results with depth data [than 3D-CDC-ST]",
        source="§IV-C-2 and §III-C-2, Table IV",
        a=("3D-CDC-T θ=0.6", DEP),
        b=("3D-CDC-ST θ=0.6", DEP),
    ),
    Claim(
        text="the optimal trade-off between the vanilla 3D and 3D-CDC is achieved at θ = 0.6 (CDC-ST on RGB)",
        source="§IV-C-2, Table IV",
        a=("3D-CDC-ST θ=0.6", RGB),
        b=("3D-CDC-ST θ=0.8", RGB),
    ),
    Claim(
        text="the optimal trade-off between the vanilla 3D and 3D-CDC is achieved at θ = 0.6 (CDC-T on depth)",
        source="§IV-C-2, Table IV",
        a=("3D-CDC-T θ=0.6", DEP),
        b=("3D-CDC-T θ=0.8", DEP),
    ),
)


# --search optuna: either CDC stem over θ ∈ [0, 1] (θ = 0 is the vanilla convolution, Eq. 5-6) on one modality: the
# table's first (RGB), or --set data.modality=depth.
SEARCH = {"model.stem": Choice("CDC-ST", "CDC-T"), "model.theta": Uniform(0.0, 1.0)}


TABLE = TableSpec(
    sweep="cdc_theta",
    paper=MFST_PAPER,
    citation=MFST_CITATION,
    readings=MFST_READINGS,
    table="Table IV",
    title="Comparison among vanilla 3D, 3D-CDC-ST and 3D-CDC-T convolutions in the CDC-Stem",
    paper_setting="NTU RGB+D 60, cross-subject, MFST-Large, 32 frames at 224², 100 epochs on 4×A100",
    rows=tuple(_row(*r) for r in PAPER_ROWS),
    columns=COLUMNS,
    plot=PlotSpec(x="model.theta", series=("model.stem", "data.modality"), x_label="θ (CDC weight, Eq. 5-6)"),
    claims=CLAIMS,
)

SPEC = SweepSpec(
    table=TABLE,
    cells=tuple({"model.stem": stem, "model.theta": theta} for stem, theta, _, _ in PAPER_ROWS),
    axes={"data.modality": ("rgb", "depth")},
    profiles=mfst_profiles(model="mfst_large"),
    optuna_space=SEARCH,
    early_stopping=False,
)


def with_theta_grid(spec: SweepSpec, args: argparse.Namespace) -> SweepSpec:
    """``--theta-grid``: sweep CDC-ST and CDC-T over more θ values (θ = 0 is the vanilla convolution, Eq. 5)."""
    if not args.theta_grid:
        return spec
    thetas = grid_values("--theta-grid", args.theta_grid, float, lambda t: 0.0 <= t <= 1.0, "θ values in [0, 1]", args)
    cells = [dict(c) for c in spec.cells]
    rows = list(spec.table.rows)
    for theta in thetas:
        for stem in ("vanilla",) if theta == 0.0 else ("CDC-ST", "CDC-T"):
            cell = {"model.stem": stem, "model.theta": theta}
            if cell not in cells:
                cells.append(cell)
                rows.append(_row(stem, theta))
    return dataclasses.replace(spec, cells=tuple(cells), table=dataclasses.replace(spec.table, rows=tuple(rows)))


def parser() -> argparse.ArgumentParser:
    p = build_parser(SPEC)
    p.add_argument("--theta-grid", default="", help="extra θ values for the CDC stems, e.g. 0.2,0.4,0.6,0.8,1.0")
    return p


extend = with_theta_grid  # how main() (and the tests) apply this sweep's extra flags


if __name__ == "__main__":
    main(SPEC, extend=extend, parser=parser())
