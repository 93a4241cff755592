"""De+Recouple Table 5: impact of the embedded components — FRP, multi-loss, sharpness, k-NN attention, cumulative.

Paper: Zhou et al., "Decoupling and Recoupling Spatiotemporal Representation for RGB-D-based Motion Recognition", CVPR
2022, §5.1, Table 5: RGB only, NvGesture and THU-READ (CS2). Each row switches one more component on (``model.frp``,
``model.multi_loss``, ``model.sharpness``, ``model.knn_k``); recoupling (RCM + self-distillation) stays on in every row,
since the last row is the full model of Table 1 (89.58 on NvGesture). The local profile measures the NvGesture column on
the synthetic cross-subject split and the THU-READ column on the synthetic cross-view split (tiny model; the smoke
profile NvGesture only).

    python sweeps/derecouple_components.py                    # local profile: synthetic stand-ins, tiny model
    python sweeps/derecouple_components.py --profile smoke    # a few minutes, used by the tests
    python sweeps/derecouple_components.py --profile paper \\
        --data-root nvgesture=/data/nvgesture_shards --data-root thu_read=/data/thu_read_shards
"""

from __future__ import annotations

from actrec.papers.derecouple import ABLATION_STAND_INS, derecouple_sweep
from actrec.report.spec import Claim, Row
from actrec.tune.cli import main
from actrec.tune.spec import Choice, Uniform, with_claims, with_search

DATASETS = ("NvGesture", "THU-READ CS2")
# Table 5, cumulative: label, switches, (NvGesture %, THU-READ CS2 %).
PAPER_ROWS = (
    ("None", {"model.frp": False, "model.multi_loss": False, "model.sharpness": False, "model.knn_k": None},
     (85.21, 75.24)),
    ("+ FRP", {"model.frp": True, "model.multi_loss": False, "model.sharpness": False, "model.knn_k": None},
     (86.67, 78.33)),
    ("+ Multi-loss", {"model.frp": True, "model.multi_loss": True, "model.sharpness": False, "model.knn_k": None},
     (87.08, 80.53)),
    ("+ Sharpness", {"model.frp": True, "model.multi_loss": True, "model.sharpness": True, "model.knn_k": None},
     (89.13, 80.91)),
    ("+ k-NN attention", {"model.frp": True, "model.multi_loss": True, "model.sharpness": True, "model.knn_k": 0.7},
     (89.58, 81.67)),
)  # fmt: skip

ROWS = tuple(
    Row(
        label=label,
        match={**switches, "data.modality": "rgb"},
        paper=dict(zip(DATASETS, values, strict=True)),
        extra={name: ("✓" if switches[key] not in (False, None) else "×") for name, key in (
            ("FRP", "model.frp"), ("Multi-loss", "model.multi_loss"), ("Sharpness", "model.sharpness"),
            ("k-NN", "model.knn_k"))},
    )
    for label, switches, values in PAPER_ROWS
)  # fmt: skip

NV, THU = DATASETS
# §5.1 ("Impacts of Embedded Components") on Table 5: each component's effect, stated for the row that switches it on
# against the row before it (the table is cumulative). The multi-loss and sharpness sentences name their benefit
# (less overfitting to one branch, more discriminative features); the closing "can also bring certain performance
# gains" says the earlier components' effects are gains too.
COMPONENT_CLAIMS = (
    ("+ FRP", "None", "in the absence of FRP module, the network does not work well either on NvGesture or THU-READ "
     "datasets [+ FRP over no component]"),
    ("+ Multi-loss", "+ FRP", "imposing a constraint to each branch of the network can prevent the model from "
     "overfitting to one of the branches [+ Multi-loss over + FRP]"),
    ("+ Sharpness", "+ Multi-loss", "Sharpening of the output distribution can encourage each sub-branch to learn more "
     "discriminative features [+ Sharpness over + Multi-loss]"),
    ("+ k-NN attention", "+ Sharpness", "removing some of redundant information through k-NN Attention in the temporal "
     "representation can also bring certain performance gains [over + Sharpness]"),
)  # fmt: skip
CLAIMS = tuple(
    Claim(text=f"{text} ({column})", source="§5.1, Table 5", a=(a, column), b=(b, column))
    for a, b, text in COMPONENT_CLAIMS
    for column in (NV, THU)
)

SPEC = derecouple_sweep(
    sweep="derecouple_components",
    table="Table 5",
    title="Impacts of the embedded components (cumulative FRP, multi-loss, sharpness, k-NN attention; RGB)",
    paper_setting="RGB, NvGesture and THU-READ CS2, 64 frames at 224², M = N = 6, 100 epochs from Jester "
    "pre-training (actrec's paper profile trains from scratch: no Jester adapter)",
    rows=ROWS,
    datasets=DATASETS,
    model="derecouple",
    stand_ins=ABLATION_STAND_INS,
)
SPEC = with_claims(SPEC, CLAIMS)
# --search optuna: Table 5's components (FRP, multi-loss, sharpness) and the k-NN attention's kept fraction of keys
# (Table 5: 0.7 or none; 1.0 keeps every key).
SEARCH = {
    "model.frp": Choice(False, True),
    "model.multi_loss": Choice(False, True),
    "model.sharpness": Choice(False, True),
    "model.knn_k": Uniform(0.1, 1.0),
}
SPEC = with_search(SPEC, SEARCH)

if __name__ == "__main__":
    main(SPEC)
