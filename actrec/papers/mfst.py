"""MFST (Ma et al., ACM MM 2023): the three profiles every MFST sweep offers, ``smoke`` (tests), ``local`` (this
machine) and ``paper``.

``paper`` is MFST §IV-A ("Implementation Details"; ``MFST_CITATION``): 32 frames, random (train) / centre (test)
224×224 crops, SGD with momentum 0.9 and weight decay 3e-4, learning rate linearly ramped to 0.01 over the first
three epochs then cosine-decayed, 100 epochs, MixUp, 4×A100 (four Ray Train workers with one GPU each per trial).
What the paper leaves open and the choice made here: the short side the frames are resized to before cropping (256,
the usual 224-crop companion), the MixUp α (0.8, as in the Video Swin / MViT recipes), the per-GPU batch (8 clips,
32 per step) and the CPUs per worker (8 for decoding). ``tests/test_sweeps_profiles.py`` checks every sweep's paper
profile against that recipe, transcribed there.
"""

from __future__ import annotations

from typing import Any

from actrec.tune.profiles import LOCAL, SMOKE, tiny
from actrec.tune.spec import FusionSpec

MFST_PAPER = "MFST (Ma et al., ACM MM 2023)"

# The DOI is the one the thesis (``THESIS_CITATION``) lists for this paper in its publications; the paper's own text
# prints none.
MFST_CITATION = (
    "Multi-stage Factorized Spatio-Temporal Representation for RGB-D Action and Gesture Recognition. Proceedings "
    "of the 31st ACM International Conference on Multimedia (ACM MM), 2023, pp. 3149-3160. "
    "doi:10.1145/3581783.3612301"
)
# Readings MFST leaves open that its tables' reports name (``TableSpec.readings``): CDC-T's T'' for the 7-frame
# stem conv (``actrec.layers.cdc``; §III-C Eq. (6) against the released 3-frame code).
MFST_READINGS = ("model.cdc_t_reading",)

# MFST §IV-A, shared by every MFST table; dataset, protocol and model are per table.
MFST_PAPER_RECIPE: dict[str, Any] = {
    "data.num_frames": 32,
    "data.resize": 256,
    "data.crop_size": 224,
    "optim.lr": 0.01,
    "optim.momentum": 0.9,
    "optim.weight_decay": 3e-4,
    "optim.warmup_epochs": 3.0,
    "train.epochs": 100,
    "train.mixup_alpha": 0.8,
    "train.batch_size": 8,
    "train.num_workers": 4,
    "train.accelerator": "gpu",
    "train.cpus_per_worker": 8.0,
    # GPU clusters run on spot nodes: a lost worker restarts the trial's worker group from its newest checkpoint.
    "train.max_failures": 3,
}


def mfst_profiles(
    *, model: str = "mfst_large", dataset: str = "ntu_rgbd_60", protocol: str = "cross_subject"
) -> dict[str, dict[str, Any]]:
    """``smoke`` / ``local`` / ``paper`` dotted overrides of an MFST table measured with ``model`` on
    ``dataset`` / ``protocol`` (the paper profile; smoke and local use the synthetic RGB-D set, whose
    cross_subject / cross_view protocols mirror NTU RGB+D's).
    """
    synthetic_protocol = protocol if protocol in ("cross_subject", "cross_view") else "cross_subject"
    return {
        # A minute or two on 2 cores: the pipeline end to end, not a meaningful accuracy.
        "smoke": {"model.name": model, **tiny(model), "data.protocol": synthetic_protocol, **SMOKE, "optim.lr": 0.05},
        # Synthetic RGB-D, tiny model: about a minute and a half per trial on 2 cores.
        "local": {"model.name": model, **tiny(model), "data.protocol": synthetic_protocol, **LOCAL, "optim.lr": 0.05},
        # The paper's recipe on the real dataset: needs --data-root (prepared shards) and 4 GPUs per trial.
        "paper": {
            "model.name": model,
            "data.dataset": dataset,
            "data.protocol": protocol,
            **MFST_PAPER_RECIPE,
        },
    }


# The stem each modality's stream uses in Tables I, II and VI: CDC-ST for RGB, CDC-T for depth, θ = 0.6 — the best
# cells of Table IV (§IV-C-2), whose values the WMS-Trans row of Table VI and the MFST-Large rows of Table I repeat.
MFST_STREAMS: dict[str, dict[str, Any]] = {
    "rgb": {"data.modality": "rgb", "model.stem": "CDC-ST", "model.theta": 0.6},
    "depth": {"data.modality": "depth", "model.stem": "CDC-T", "model.theta": 0.6},
}


def mfst_fusion(model: str = "mfst_large"):
    """RGB+DEP rows (Tables I, II): late score fusion of the RGB and depth ``model`` streams."""
    return FusionSpec(
        rgb={"data.modality": "rgb"},
        depth={"data.modality": "depth"},
        fused={"data.modality": "rgbd", "model.name": f"{model}_rgbd"},
    )
