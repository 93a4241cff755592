"""CTN Table 4.4: the video-to-tokens module — Conv3d kernel and stride, max-pool, batch norm, channels.

Paper: CTN: Ma et al., "Convolutional transformer network for fine-grained action recognition", Neurocomputing 569
(2024) = chapter 4 of Ma's PhD thesis "Deep Learning for Action Recognition in Videos" (Massey University, 2024), §4.3.3
"Video-to-tokens", §4.4.3 "Different types of video-to-tokens modules", Table 4.4. Every row keeps CTN's depth-wise
convolutional Q/K/V mapping and no positional embedding; the stem reduces the 8 × 224² clip by 4 in every axis either
with one stride-4 convolution or with a stride-2 convolution and a stride-2 max-pool, so all rows patch the same 2 × 56²
stem output into 196 tokens. EPIC-KITCHENS is scored on actions (``ctn_epic``'s verb and noun heads); Diving48 with one
head (``ctn``). The local profile measures EPIC-KITCHENS on the synthetic set's 8 classes read as 2 verbs × 4 nouns
(cross-subject split) and Diving48 on the cross-view split (tiny CTN at 32², where the rows' kernels, strides and
channels are the paper's); the smoke profile EPIC-KITCHENS only.

    python sweeps/ctn_tokens_kernels.py                    # local profile
    python sweeps/ctn_tokens_kernels.py --profile smoke    # used by the tests
    python sweeps/ctn_tokens_kernels.py --profile paper --data-root epic_kitchens_100_actions=/data/epic \\
        --data-root diving48=/data/diving48
"""

from __future__ import annotations

from actrec.papers.ctn import ctn_sweep
from actrec.report.spec import Claim, Row
from actrec.tune.cli import main
from actrec.tune.spec import Choice, with_claims, with_search

DATASETS = ("EPIC-KITCHENS", "Diving48")


def _stem(kernel: int, stride: int, *, max_pool: bool, batch_norm: bool, channels: int) -> dict:
    """Dotted video-to-tokens values of one Table 4.4 row (cubic kernel and stride)."""
    return {
        "model.v2t_kernel": (kernel,) * 3,
        "model.v2t_stride": (stride,) * 3,
        "model.v2t_max_pool": max_pool,
        "model.v2t_batch_norm": batch_norm,
        "model.v2t_channels": channels,
    }


# Table 4.4 as printed: label, video-to-tokens values, (EPIC-KITCHENS, Diving48 top-1 %).
PAPER_ROWS = (
    ("[7 7 7] stride 4, 64 ch", _stem(7, 4, max_pool=False, batch_norm=False, channels=64), (41.9, 75.6)),
    ("[5 5 5] stride 4, 64 ch", _stem(5, 4, max_pool=False, batch_norm=False, channels=64), (41.6, 75.2)),
    ("[7 7 7] stride 2 + max-pool [3 3 3] stride 2, 32 ch",
     _stem(7, 2, max_pool=True, batch_norm=False, channels=32), (43.6, 76.2)),
    ("[7 7 7] stride 2 + max-pool [3 3 3] stride 2 + BN, 32 ch (CTN)",
     _stem(7, 2, max_pool=True, batch_norm=True, channels=32), (45.9, 78.2)),
)  # fmt: skip

ROWS = tuple(
    Row(
        label=label,
        match={**values, "model.embedding": "video_to_tokens", "model.positional_embedding": False},
        paper=dict(zip(DATASETS, accuracy, strict=True)),
        reference={"model.name": "ctn", **values, "model.num_classes": 48},
    )
    for label, values, accuracy in PAPER_ROWS
)

K7_STRIDE4, K5_STRIDE4, MAX_POOL, MAX_POOL_BN = (label for label, *_ in PAPER_ROWS)
SOURCE = "§4.4.3 (Different types of video-to-tokens modules), Table 4.4"
# Thesis §4.4.3, paragraph "Different types of video-to-tokens modules" (the text on Table 4.4).
CLAIMS = (
    *(
        Claim(
            text="Under the non-max-pooling circumstance, the 3D convolution layer with a kernel size of "
            f"{kernel} (stride = 4) decreases the accuracy results [below the stride-2 convolution + max-pool row, "
            f"both without batch norm]; ... the max-pooling layers can benefit the training results ({column})",
            source=SOURCE,
            a=(MAX_POOL, column),
            b=(row, column),
        )
        for row, kernel in ((K7_STRIDE4, "7×7×7"), (K5_STRIDE4, "5×5×5"))
        for column in DATASETS
    ),
    *(
        Claim(
            text="batch normalization ... can benefit the training results. Therefore, we adopt the best "
            "arrangement in our proposed CTN model, which is indicated in the last row of Table 4.4 [with BN vs "
            f"without] ({column})",
            source=SOURCE,
            a=(MAX_POOL_BN, column),
            b=(MAX_POOL, column),
        )
        for column in DATASETS
    ),
)

SPEC = with_claims(
    ctn_sweep(
        sweep="ctn_tokens_kernels",
        table="Table 4.4",
        title="Video-to-tokens module: Conv3d kernel / stride, max-pool, batch norm and channels",
        rows=ROWS,
        datasets=DATASETS,
    ),
    CLAIMS,
)
# --search optuna: Table 4.4's video-to-tokens convolution: kernel, max pooling, batch norm, channels, at stride 2 (the
# table's stride 4 comes without pooling: with it, an 8-frame paper clip keeps one temporal token, too few for the
# 2-frame patches).
SEARCH = {
    "model.v2t_kernel": Choice("3,3,3", "5,5,5", "7,7,7"),
    "model.v2t_max_pool": Choice(False, True),
    "model.v2t_batch_norm": Choice(False, True),
    "model.v2t_channels": Choice(16, 32, 64),
}
SPEC = with_search(SPEC, SEARCH)

if __name__ == "__main__":
    main(SPEC)
