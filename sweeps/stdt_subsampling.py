"""RPE-STDT Tables 3.4 and 3.5: temporal subsampling in the temporal encoder; Top-K on the baseline STDT.

Paper: Ma & Wang, "Relative-position embedding based spatially and temporally decoupled Transformer for action
recognition", Pattern Recognition 145 (2024) = chapter 3 of Ma's PhD thesis "Deep Learning for Action Recognition in
Videos" (Massey University, 2024), §3.3.5 Eq. (3.12)-(3.14), §3.4.3 "Temporal subsampling", Table 3.4 (RPE-STDT with
max-pooling, average pooling, strided 1D convolution or Top-K by the standard deviation of the attention rows; Top-K
after temporal layers 0 and 2 or 1 and 3, the final model) and Table 3.5 (the baseline STDT, absolute positions, with
and without Top-K; UCF-101 only). The pooling and convolution rows subsample after layers 1 and 3 like the final model
(the thesis gives their layers only for Top-K). The local profile measures UCF-101 on the synthetic cross-subject split
and HMDB-51 on the cross-view split (tiny model; the smoke profile UCF-101 only).

    python sweeps/stdt_subsampling.py                    # local profile
    python sweeps/stdt_subsampling.py --profile smoke    # used by the tests
    python sweeps/stdt_subsampling.py --profile paper --data-root ucf101=/data/ucf --data-root hmdb51=/data/hmdb \\
        --data-root diving48=/data/diving48
"""

from __future__ import annotations

from actrec.papers.rpe_stdt import rpe_sweep
from actrec.report.spec import Claim, Row
from actrec.tune.cli import main
from actrec.tune.spec import Choice, Uniform, with_claims, with_search

DATASETS = ("UCF-101", "HMDB-51", "Diving48")
RPE = {"model.position_embedding": "shared_rpe", "model.rpe_y": 3, "model.rpe_mapping": "sectioned"}
BASELINE = {"model.position_embedding": "absolute", "model.subsample_layers": (1, 3)}  # Table 3.5: no RPE
# Table 3.4 as printed: label, subsampling, temporal layers, (UCF-101, HMDB-51, Diving48 %).
TABLE_3_4 = (
    ("Max-pooling", "max_pool", (1, 3), (96.1, 76.2, 78.3)),
    ("Average pooling", "avg_pool", (1, 3), (96.3, 76.3, 78.8)),
    ("1D convolution", "conv", (1, 3), (96.6, 78.6, 79.0)),
    ("Top-K [Layer 0, 2]", "topk", (0, 2), (96.5, 78.6, 79.7)),
    ("Top-K [Layer 1, 3]", "topk", (1, 3), (97.6, 79.3, 81.8)),
)
# Table 3.5 (UCF-101): the baseline STDT (absolute positions), label, subsampling, accuracy, parameters (M).
TABLE_3_5 = (("Baseline STDT", "none", 96.5, 88.9), ("Baseline STDT + Top-K", "topk", 97.0, 82.7))

ROWS = (
    *(
        Row(
            label=label,
            match={**RPE, "model.subsampling": method, "model.subsample_layers": layers},
            paper=dict(zip(DATASETS, values, strict=True)),
            extra={"table": "3.4"},
        )
        for label, method, layers, values in TABLE_3_4
    ),
    *(
        Row(
            label=label,
            match={**BASELINE, "model.subsampling": method},
            paper={"UCF-101": accuracy},
            paper_complexity={"params_m": params},
            extra={"table": "3.5"},
            note="Table 3.5 reports UCF-101 only; Top-K has no parameters, yet the thesis lists 6.2M fewer with it"
            if method == "topk"
            else "Table 3.5 reports UCF-101 only",
        )
        for label, method, accuracy, params in TABLE_3_5
    ),
)

TOPK_13, TOPK_02 = TABLE_3_4[4][0], TABLE_3_4[3][0]  # the final model; subsampling from the encoder's start
UNIFORM = tuple(label for label, method, _, _ in TABLE_3_4 if method != "topk")  # max-, average pooling, 1D conv
WHERE = '§3.4.3 "Analysis of different subsampling strategies"'
# §3.4.3 "Analysis of different subsampling strategies" (the paragraphs on Tables 3.4 and 3.5; §3.3.5 repeats the first
# claim for average pooling and convolution) states these in words. "Top-K" in the first claims is the proposed
# (final) model, Top-K after layers 1 and 3: Top-K after layers 0 and 2 does not exceed the 1D convolution in print.
CLAIMS = (
    *(
        Claim(
            text=f"Table 3.4 indicates that the proposed Top-K subsampling exceeded other subsampling strategies "
            f"[{other}] ({dataset})",
            source=f"{WHERE}, §3.3.5, Table 3.4",
            a=(TOPK_13, dataset),
            b=(other, dataset),
        )
        for other in UNIFORM
        for dataset in DATASETS
    ),
    *(
        Claim(
            text=f"performing temporal subsampling after the first and third temporal encoder layers performs best. "
            f"Adopting subsampling at the beginning of the temporal encoder [layers 0, 2] ... has dropped performance "
            f"among the three datasets ({dataset})",
            source=f"{WHERE}, Table 3.4",
            a=(TOPK_13, dataset),
            b=(TOPK_02, dataset),
        )
        for dataset in DATASETS
    ),
    Claim(
        text="the Top-K subsampling approach outperforms the baseline model [baseline STDT without RPE] while "
        "utilizing fewer parameters (UCF-101)",
        source=f"{WHERE}, Table 3.5",
        a=(TABLE_3_5[1][0], "UCF-101"),
        b=(TABLE_3_5[0][0], "UCF-101"),
    ),
)

SPEC = rpe_sweep(
    sweep="stdt_subsampling",
    table="Tables 3.4-3.5",
    title="Temporal subsampling in the temporal encoder (RPE-STDT) and Top-K on the baseline STDT",
    rows=ROWS,
    datasets=DATASETS,
)
SPEC = with_claims(SPEC, CLAIMS)
# --search optuna: Table 3.4's subsampling, the temporal layers it follows (Table 3.5) and Top-K's kept fraction.
SEARCH = {
    "model.subsampling": Choice("topk", "max_pool", "avg_pool", "conv", "none"),
    "model.subsample_layers": Choice("1,3", "0,2", "1", "3"),
    "model.topk_keep": Uniform(0.25, 1.0),
}
SPEC = with_search(SPEC, SEARCH)

if __name__ == "__main__":
    main(SPEC)
