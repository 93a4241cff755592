"""De+Recouple Table 6: cross-modal spatial / temporal information interaction (RGB-D, NvGesture and THU-READ CS2).

Paper: Zhou et al., "Decoupling and Recoupling Spatiotemporal Representation for RGB-D-based Motion Recognition", CVPR
2022, §5.3, Table 6. Every row is the two-stream ``derecouple_rgbd``: Baseline (Add) is addition score fusion without
interaction (the Addition row of Table 1, 91.10); CmSI adds the spatial interaction of Eq. (17) to it; CmTI is the
temporal interaction with CAPF (Eq. (18)), which it feeds, without CmSI; CmSTI is both with CAPF (the full model, Table
1's CAPF row, 91.70). The paper does not say which fusion its CmSI row uses; addition (the baseline's) is assumed. The
local profile measures NvGesture on the synthetic cross-subject split and THU-READ CS2 on the synthetic cross-view split
(tiny model; the smoke profile NvGesture only).

    python sweeps/derecouple_interaction.py                   # local profile: synthetic stand-ins, tiny model
    python sweeps/derecouple_interaction.py --profile smoke   # a few minutes, used by the tests
    python sweeps/derecouple_interaction.py --profile paper \\
        --data-root nvgesture=/data/nvgesture_shards --data-root thu_read=/data/thu_read_shards
"""

from __future__ import annotations

from actrec.papers.derecouple import ABLATION_STAND_INS, derecouple_sweep
from actrec.report.spec import Claim, Row
from actrec.tune.cli import main
from actrec.tune.spec import Choice, with_claims, with_search

DATASETS = ("NvGesture", "THU-READ CS2")
# Table 6: label, (fusion, CmSI, CmTI), (NvGesture %, THU-READ %).
PAPER_ROWS = (
    ("Baseline (Add)", ("addition", False, False), (91.10, 86.35)),
    ("CmSI", ("addition", True, False), (91.32, 87.34)),
    ("CmTI", ("capf", False, True), (91.53, 88.75)),
    ("CmSTI", ("capf", True, True), (91.70, 90.00)),
)

ROWS = tuple(
    Row(
        label=label,
        match={
            "model.name": "derecouple_rgbd",
            "data.modality": "rgbd",
            "model.fusion": fusion,
            "model.spatial_interaction": spatial,
            "model.temporal_interaction": temporal,
        },
        paper=dict(zip(DATASETS, paper, strict=True)),
        extra={"Fusion": fusion, "CmSI": "✓" if spatial else "×", "CmTI": "✓" if temporal else "×"},
        note="the paper does not name this row's fusion; addition (the baseline's) is assumed"
        if label == "CmSI"
        else "",
    )
    for label, (fusion, spatial, temporal), paper in PAPER_ROWS
)

NV, THU = DATASETS
SINGLE = "the information exchange at the spatial or temporal level alone can also bring performance gains"
JOINT = (
    "the joint effective cross-domain information interaction at the spatial and temporal levels can bring the largest "
    "performance gains"
)
# §5.3 ("Cross-modal Information Interaction") on Table 6: each interaction alone beats the baseline; both together
# (CmSTI) give the largest gain, quoted against the baseline (Nv ↑0.6%, THU ↑3.7%) and, being the largest, above
# either interaction alone.
CLAIMS = (
    *(
        Claim(text=f"{SINGLE} [{row} over Baseline (Add)] ({column})", source="§5.3, Table 6", a=(row, column),
              b=("Baseline (Add)", column))
        for row in ("CmSI", "CmTI")
        for column in (NV, THU)
    ),
    Claim(text=f"{JOINT} (Nv: ↑0.6%) [CmSTI over Baseline (Add)] ({NV})", source="§5.3, Table 6",
          a=("CmSTI", NV), b=("Baseline (Add)", NV)),
    Claim(text=f"{JOINT} (THU: ↑3.7%) [CmSTI over Baseline (Add)] ({THU})", source="§5.3, Table 6",
          a=("CmSTI", THU), b=("Baseline (Add)", THU)),
    *(
        Claim(text=f"{JOINT} [CmSTI over {row}] ({column})", source="§5.3, Table 6", a=("CmSTI", column),
              b=(row, column))
        for row in ("CmSI", "CmTI")
        for column in (NV, THU)
    ),
)  # fmt: skip

SPEC = derecouple_sweep(
    sweep="derecouple_interaction",
    table="Table 6",
    title="Cross-modal spatial (CmSI) and temporal (CmTI) information interaction, RGB-D",
    paper_setting="RGB-D, NvGesture and THU-READ CS2, 64 frames at 224², M = N = 6, 100 epochs from Jester "
    "pre-training (actrec's paper profile trains from scratch: no Jester adapter)",
    rows=ROWS,
    datasets=DATASETS,
    model="derecouple_rgbd",
    stand_ins=ABLATION_STAND_INS,
)
SPEC = with_claims(SPEC, CLAIMS)
# --search optuna: Table 6's cross-modal interactions (CmSI, CmTI) under CAPF fusion.
SEARCH = {
    "model.fusion": "capf",
    "model.spatial_interaction": Choice(False, True),
    "model.temporal_interaction": Choice(False, True),
}
SPEC = with_search(SPEC, SEARCH)

if __name__ == "__main__":
    main(SPEC)
