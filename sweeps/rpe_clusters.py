"""RPE-STDT Fig. 3.4: accuracy and parameter count against the relative-position clusters per frame.

Paper: Ma & Wang, "Relative-position embedding based spatially and temporally decoupled Transformer for action
recognition", Pattern Recognition 145 (2024) = chapter 3 of Ma's PhD thesis "Deep Learning for Action Recognition in
Videos" (Massey University, 2024), §3.3.3 Eq. (3.8)-(3.11), §3.4.3 "Number of clusters", Fig. 3.4: shared
relative-position embeddings, sectioned mapping b : y : a = 1 : 2 : 8, the cluster count set by y: (2y + 1)² per frame
plus one for the class token (y = 3: 50, the thesis' choice). Fig. 3.4 is a plot whose points are not printed; only y =
3 has values, Table 3.1's shared RPE row at 50 clusters. The local profile measures UCF-101 on the synthetic
cross-subject split and HMDB-51 on the cross-view split (tiny model, 8×8 patches per frame, so clusters beyond y = 4
have no patch pair to hold; the smoke profile UCF-101 only). Parameters (measured) grow with the clusters: each spatial
layer holds one table.

    python sweeps/rpe_clusters.py                     # local profile, y = 1..6
    python sweeps/rpe_clusters.py --y-grid 1,3,5      # other cluster counts
    python sweeps/rpe_clusters.py --profile smoke     # a minute or two, used by the tests
    python sweeps/rpe_clusters.py --profile paper --data-root ucf101=/data/ucf --data-root hmdb51=/data/hmdb \\
        --data-root diving48=/data/diving48
"""

from __future__ import annotations

import argparse

from actrec.layers.relative_position import num_clusters
from actrec.papers.rpe_stdt import rpe_sweep
from actrec.report.spec import Claim, PlotSpec, Row, claims_for
from actrec.tune.cli import build_parser, main
from actrec.tune.plan import grid_values
from actrec.tune.spec import IntRange, SweepSpec, with_claims, with_search

DATASETS = ("UCF-101", "HMDB-51", "Diving48")
GRIDS = {"paper": (1, 2, 3, 4, 5, 6), "local": (1, 2, 3, 4, 5, 6), "smoke": (1, 3)}
# Table 3.1, shared RPE, 50 clusters (y = 3): the only point of Fig. 3.4 the thesis prints.
AT_50 = {"UCF-101": 97.53, "HMDB-51": 79.12, "Diving48": 81.60}


WHERE = '§3.4.3 "Number of clusters", Fig. 3.4'
# §3.4.3 "Number of clusters" (the paragraph on Fig. 3.4) states these in words: the accuracy rises from the fewest
# clusters (y = 1: 10 per frame) to 50 (y = 3), then has "no noticeable improvement" at 82 (y = 4) or 170 (y = 6).
# Margin 0.5 pp (the plot's values are not printed): the one rpe_position uses for Table 3.1's "negligible"
# shared/unshared gaps (0.08-0.22 pp printed), well under the 1.04-1.78 pp it calls "outperform" there.
CLAIMS = (
    *(
        Claim(
            text=f"the overall accuracy increased along with the number of clusters [10 clusters, y = 1, to 50, "
            f"y = 3] ({dataset})",
            source=WHERE,
            a=("y = 3", dataset),
            b=("y = 1", dataset),
        )
        for dataset in DATASETS
    ),
    *(
        Claim(
            text=f"there is no noticeable improvement in accuracy after 50 clusters [{num_clusters(y, axes=2)} "
            f"clusters, y = {y}, within 0.5 pp of 50] ({dataset})",
            source=WHERE,
            a=(f"y = {y}", dataset),
            b=("y = 3", dataset),
            kind="matches",
            margin=0.5,
        )
        for y in (4, 6)
        for dataset in DATASETS
    ),
)


def clusters_row(y: int) -> Row:
    clusters = num_clusters(y, axes=2)
    return Row(
        label=f"y = {y}",
        match={"model.rpe_y": y, "model.position_embedding": "shared_rpe", "model.rpe_mapping": "sectioned"},
        paper=AT_50 if y == 3 else {},
        extra={"clusters per frame": clusters},
        note="Table 3.1's shared-RPE row (50 clusters), the point Fig. 3.4 settles on" if y == 3 else "",
    )


# --search optuna: y of Eq. (3.9), (2y+1)² + 1 clusters per frame, over Fig. 3.4's range.
SEARCH = {"model.rpe_y": IntRange(1, 6)}


def build(grid: tuple[int, ...]) -> SweepSpec:
    """The sweep over ``grid`` (values of y), with the paper's claims whose rows it has."""
    rows = tuple(clusters_row(y) for y in grid)
    spec = rpe_sweep(
        sweep="rpe_clusters",
        table="Fig. 3.4",
        title="Top-1 accuracy and parameters against the relative-position clusters per frame (shared RPE)",
        rows=rows,
        datasets=DATASETS,
        plot=PlotSpec(x="model.rpe_y", series=(), x_label="y of Eq. (3.9): (2y+1)^2 + 1 clusters", by_column=True),
    )
    claims = claims_for(rows, CLAIMS)
    note = (
        ""
        if claims
        else "None of the paper's claims (y = 3 against y = 1, 4 and 6, §3.4.3) has both rows in this grid."
    )
    return with_search(with_claims(spec, claims, note=note), SEARCH)


SPEC = build(GRIDS["local"])


def with_y_grid(spec: SweepSpec, args: argparse.Namespace) -> SweepSpec:
    """The rows of ``--y-grid`` (default: the profile's grid in ``GRIDS``)."""
    if not args.y_grid:
        return build(GRIDS.get(args.profile, GRIDS["local"]))
    grid = grid_values("--y-grid", args.y_grid, int, lambda y: y >= 1, "integers >= 1", args)
    return build(grid)


def parser() -> argparse.ArgumentParser:
    p = build_parser(SPEC)
    p.add_argument("--y-grid", default="", help="values of y to train, e.g. 1,3,5 (default 1..6; smoke 1,3)")
    return p


extend = with_y_grid  # how main() (and the tests) apply this sweep's extra flags

if __name__ == "__main__":
    main(SPEC, extend=extend, parser=parser())
