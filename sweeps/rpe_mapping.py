"""RPE-STDT Table 3.2: the mapping of relative distances to clusters, clip vs sectioned.

Paper: Ma & Wang, "Relative-position embedding based spatially and temporally decoupled Transformer for action
recognition", Pattern Recognition 145 (2024) = chapter 3 of Ma's PhD thesis "Deep Learning for Action Recognition in
Videos" (Massey University, 2024), §3.3.3 Eq. (3.8)-(3.9) (sectioned: identity within b, logarithmic up to a, clipped at
y; clip: Shaw et al.'s clipping at y), Table 3.2, shared RPE with 50 clusters per frame (y = 3). The thesis prints
HMDB-51 and UCF-101 only. The local profile measures UCF-101 on the synthetic cross-subject split and HMDB-51 on the
cross-view split (tiny model, 8×8 patches per frame, where the two mappings differ for offsets beyond b = 1.5; the smoke
profile UCF-101).

    python sweeps/rpe_mapping.py                    # local profile
    python sweeps/rpe_mapping.py --profile smoke    # used by the tests
    python sweeps/rpe_mapping.py --profile paper --data-root ucf101=/data/ucf --data-root hmdb51=/data/hmdb
"""

from __future__ import annotations

from actrec.papers.rpe_stdt import rpe_sweep
from actrec.report.spec import Claim, Row
from actrec.tune.cli import main
from actrec.tune.spec import Choice, IntRange, with_claims, with_search

DATASETS = ("UCF-101", "HMDB-51")
# Table 3.2 as printed: label, mapping, (UCF-101, HMDB-51 %).
PAPER_ROWS = (("Clip", "clip", (97.2, 78.6)), ("Sectioned", "sectioned", (97.7, 79.3)))

ROWS = tuple(
    Row(
        label=label,
        match={"model.rpe_mapping": mapping, "model.rpe_y": 3, "model.position_embedding": "shared_rpe"},
        paper=dict(zip(DATASETS, values, strict=True)),
    )
    for label, mapping, values in PAPER_ROWS
)

# §3.4.3 "Comparison of the clip function and sectioned function" (the paragraph on Table 3.2) states this in words;
# its text names HMDB-51, the table and caption print UCF-101 too, so one claim per printed dataset.
CLAIMS = tuple(
    Claim(
        text=f"Table 3.2 shows that the sectioned function is better than the clip function for action recognition "
        f"({dataset})",
        source='§3.4.3 "Comparison of the clip function and sectioned function", Table 3.2',
        a=("Sectioned", dataset),
        b=("Clip", dataset),
    )
    for dataset in ("HMDB-51", "UCF-101")
)

SPEC = rpe_sweep(
    sweep="rpe_mapping",
    table="Table 3.2",
    title="Mapping functions of the relative positions: clip vs sectioned (Eq. (3.8)-(3.9)), 50 clusters per frame",
    rows=ROWS,
    datasets=DATASETS,
)
SPEC = with_claims(SPEC, CLAIMS)
# --search optuna: Table 3.2's mapping crossed with y of Eq. (3.9) (Fig. 3.4's range 1-6).
SEARCH = {"model.rpe_mapping": Choice("clip", "sectioned"), "model.rpe_y": IntRange(1, 6)}
SPEC = with_search(SPEC, SEARCH)

if __name__ == "__main__":
    main(SPEC)
