"""EPAM-Net Table 6: the RGB stream's backbone — TSM (8 and 16 frames), SlowOnly and X3D on NTU RGB+D 60 XSub.

Paper: Abdelkawy, Ali & Farag, "EPAM-Net: An Efficient Pose-driven Attention-guided Multimodal Network for Video Action
Recognition", 2024, §4.3 "Choosing the appearance and pose network architectures", Table 6 (TSM [20]: Lin et al., ICCV
2019; SlowOnly [12]: PoseC3D's RGB-only network, Duan et al., CVPR 2022). Every row is §3.4's phase 1, the RGB stream
trained alone (``model.streams=rgb``) with the backbone ``model.rgb_variant`` (``actrec.models.epam_backbones``: TSM-R50
and SlowOnly-R50; ``actrec.models.epam``: RGB-X3D) on ``data.num_frames`` skeleton-box frames; no joint network.
Parameters are measured per trial and at the paper's size (60 classes), GFLOPs per trial (fvcore multiply-adds, one
clip; tiny models in the CPU profiles). At the paper's size (``tests/test_models_epam_backbones.py``): TSM-R50
23,630,972 parameters, 32.875 GFLOPs at 8 × 224², 65.750 at 16; SlowOnly-R50 31,757,436 and 41.918; RGB-X3D 3,097,662
and 4.898. The local and smoke profiles measure the XSub column on the synthetic cross-subject split (tiny streams at
96², each row at its paper frames).

    python sweeps/epam_rgb_backbones.py                    # local profile
    python sweeps/epam_rgb_backbones.py --profile smoke    # used by the tests
    python sweeps/epam_rgb_backbones.py --search optuna --num-samples 6   # backbone × clip length
    python sweeps/epam_rgb_backbones.py --profile paper --data-root ntu_rgbd_60=/data/ntu60   # one GPU per trial
"""

from __future__ import annotations

from actrec.papers.epam import epam_phases, epam_stream_sweep
from actrec.report.spec import Claim, Row
from actrec.tune.cli import main
from actrec.tune.spec import Choice, with_claims, with_search

DATASETS = ("NTU-60 XSub",)
COLUMN = DATASETS[0]
TSM, SLOWONLY, X3D = "epam_rgb_tsm_r50", "epam_rgb_slowonly_r50", "epam_rgb_x3d"
# Table 6 as printed: label, row key, backbone, T_RGB, NTU60-XSub %, GFLOPs, parameters (M), note.
PAPER_ROWS = (
    ("TSM [20]", "TSM [20] 8 frames", TSM, 8, 92.3, 33.0, 23.6, ""),
    ("TSM [20]", "TSM [20] 16 frames", TSM, 16, 93.7, 65.9, 23.6, "the same network as the 8-frame row"),
    (
        "SlowOnly [12]",
        "SlowOnly [12]",
        SLOWONLY,
        8,
        94.4,
        42.0,
        31.9,
        "31.9M is this network with a 120-class head (31,880,376: Table 4's 31.88M, NTU-120); with NTU-60's 60 "
        "classes it has 31,757,436 (31.8M). 94.4 is also the 1-clip top-1 of PoseC3D's released RGB-only SlowOnly "
        "on NTU-60 XSub; the paper does not say whether it retrained this row",
    ),
    (
        "X3D",
        "X3D",
        X3D,
        16,
        94.0,
        5.0,
        3.1,
        "RGB-X3D (§3.1), Table 5's 'RGB-X3D' stream, for which Table 5 prints 93.1 on NTU-60 XSub (the paper does "
        "not say why the two differ). §4.3's '8.5-13.3x reduction in FLOPs' against SlowOnly and TSM-16 is the "
        "paper's 42.0 and 65.9 over Table 4's 4.97 (8.45, 13.26); at the paper's size these models measure 41.918 / "
        "4.898 = 8.56 and 65.750 / 4.898 = 13.42 (checked by tests/test_models_epam_backbones.py: a claim about "
        "model sizes, not one the accuracy claims below can check)",
    ),
)

ROWS = tuple(
    Row(
        label=label,
        key=key,
        match={"model.streams": "rgb", "model.rgb_variant": variant, "data.num_frames": frames},
        paper={COLUMN: accuracy},
        paper_complexity={"frames": frames, "params_m": params, "gflops": gflops},
        reference={
            "model.name": "epam_net",
            "model.streams": "rgb",
            "model.attention": "none",
            "model.rgb_variant": variant,
            "model.num_classes": 60,
        },
        note=note,
    )
    for label, key, variant, frames, accuracy, gflops, params, note in PAPER_ROWS
)

SOURCE = '§4.3 "Choosing the appearance and pose network architectures", Table 6'
# §4.3 (the paragraph on Table 6) states this in words. Its FLOPs range (8.5-13.3x) is SlowOnly's (42.0 / 4.97) and
# TSM-16's (65.9 / 4.97), so the accuracy comparison is read against those two rows; TSM-8 (6.6x, and 1.7 pp below
# X3D) is outside it. "Comparative": within 1.0 pp — the sentence covers a 0.4 pp deficit (SlowOnly) and a 0.3 pp
# lead (TSM-16), so no margin under 0.4 pp fits the paper's own numbers; 1.0 pp is 2.5 × the larger gap (the §4.3
# attention sweep's "similar" takes 2 × its 0.1 pp gap) and below the 1.7 pp that separates X3D from TSM-8.
CLAIMS = tuple(
    Claim(
        text="X3D network achieves comparative top-1 accuracy with 8.5-13.3x reduction in FLOPs in comparison with "
        f"SlowOnly [12] and TSM [{versus}; within 1.0 pp]",
        source=SOURCE,
        a=("X3D", COLUMN),
        b=(versus, COLUMN),
        kind="matches",
        margin=1.0,
    )
    for versus in ("SlowOnly [12]", "TSM [20] 16 frames")
)

SPEC = epam_stream_sweep(
    sweep="epam_rgb_backbones",
    table="Table 6",
    title="RGB backbones on NTU RGB+D 60 XSub: TSM, SlowOnly and X3D",
    paper_setting="NTU RGB+D 60 XSub; skeleton-box RGB clips at 224² of T_RGB frames; each backbone trained alone as "
    "EPAM-Net's RGB stream (§3.4: batch 16, lr 0.0125, 240 epochs, SGD momentum 0.9, cosine annealing)",
    rows=ROWS,
    datasets=DATASETS,
    complexity=("frames", "params_m", "gflops"),
)
SPEC = with_claims(SPEC, CLAIMS)  # epam_phases (extend) keeps the table, claims included
# --search optuna: the RGB stream's backbone and clip length (Table 6's two axes), one stream alone (§3.4 phase 1).
SEARCH = {
    "model.streams": "rgb",
    "model.rgb_variant": Choice(TSM, SLOWONLY, X3D),
    "data.num_frames": Choice(8, 16),
}
SPEC = with_search(SPEC, SEARCH)

extend = epam_phases  # the phase recipe of the chosen profile (how main() and the tests build the trials)

if __name__ == "__main__":
    main(SPEC, extend=extend)
