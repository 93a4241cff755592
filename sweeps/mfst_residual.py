"""MFST Table V: residual connections between stages on and off, for MFST-Base (3 stages) and MFST-Large (4).

Paper: Ma et al., "Multi-stage Factorized Spatio-Temporal Representation for RGB-D Action and Gesture Recognition", ACM
MM 2023, §III-B, §IV-C-3, Table V; NTU RGB+D 60 cross-subject, RGB.

    python sweeps/mfst_residual.py                        # local profile: synthetic RGB-D, tiny models
    python sweeps/mfst_residual.py --profile smoke        # a minute or two, used by the tests
    python sweeps/mfst_residual.py --seeds 3
    python sweeps/mfst_residual.py --profile paper --data-root /data/ntu60_shards   # 4 GPU workers per trial
"""

from __future__ import annotations

from actrec.papers.mfst import MFST_CITATION, MFST_PAPER, mfst_profiles
from actrec.report.spec import Claim, Column, Row, TableSpec
from actrec.tune.cli import main
from actrec.tune.spec import Choice, IntRange, SweepSpec

# Table V as printed: residual connection -> (MFST-Base %, MFST-Large %).
PAPER_ROWS = {False: (90.2, 91.1), True: (90.5, 92.1)}
COLUMNS = (
    Column(label="MFST-Base(%)", match={"model.stages": 3}),
    Column(label="MFST-Large(%)", match={"model.stages": 4}),
)

# §IV-C-3 ("Effect of Residual Connection") states this in words for both models; one claim per column.
CLAIMS = tuple(
    Claim(
        text=f"the model with residual connections outperforms the model without ({model})",
        source="§IV-C-3, Table V",
        a=("✓ residual", column),
        b=("× residual", column),
    )
    for model, column in (("MFST-Base", "MFST-Base(%)"), ("MFST-Large", "MFST-Large(%)"))
)

TABLE = TableSpec(
    sweep="mfst_residual",
    paper=MFST_PAPER,
    citation=MFST_CITATION,
    table="Table V",
    title="MFST-Base and MFST-Large with and without residual connections between stages",
    paper_setting="NTU RGB+D 60, cross-subject, RGB, 32 frames at 224², 100 epochs on 4×A100",
    rows=tuple(
        Row(
            label="✓ residual" if residual else "× residual",
            match={"model.residual": residual},
            paper={"MFST-Base(%)": base, "MFST-Large(%)": large},
        )
        for residual, (base, large) in PAPER_ROWS.items()
    ),
    columns=COLUMNS,
    claims=CLAIMS,
)

# --search optuna: Table V's residual switch crossed with the stage count (1-5 stages).
SEARCH = {"model.residual": Choice(False, True), "model.stages": IntRange(1, 5)}


SPEC = SweepSpec(
    table=TABLE,
    cells=tuple({"model.residual": r, "model.stages": s} for r in PAPER_ROWS for s in (3, 4)),
    axes={"data.modality": ("rgb",)},
    profiles=mfst_profiles(model="mfst_large"),
    optuna_space=SEARCH,
)

if __name__ == "__main__":
    main(SPEC)
