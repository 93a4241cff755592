"""Every MFST sweep's ``paper`` profile resolves to the paper's recipe, and its table to the paper's numbers (both
transcribed below from the MFST paper, ``MFST_CITATION``); the smoke and local profiles stay on the synthetic set."""

import argparse

import pytest

from actrec.errors import UsageError
from actrec.models import model_config, tiny_overrides
from actrec.tune.plan import base_config, fusion_trial_overrides, resolve_trial, trial_overrides
from tests.conftest import load_sweep

# The MFST recipe of §IV-A "Implementation Details": 32 frames, 224² crop, SGD momentum 0.9, weight decay 3e-4, LR
# linearly warmed to 0.01 over 3 epochs then cosine, 100 epochs, MixUp, 4×A100.
RECIPE = {
    "data.num_frames": 32,
    "data.crop_size": 224,
    "optim.momentum": 0.9,
    "optim.weight_decay": 3e-4,
    "optim.lr": 0.01,
    "optim.warmup_epochs": 3.0,
    "optim.min_lr": 0.0,  # cosine down to zero
    "train.epochs": 100,
    "train.num_workers": 4,
    "train.accelerator": "gpu",
}
# sweep -> (the paper's table, dataset, protocols, modalities, models) of the paper's rows.
TABLES = {
    "cdc_theta": ("IV", "ntu_rgbd_60", {"cross_subject"}, {"rgb", "depth"}, {"mfst_large"}),
    "mfst_stages": ("III", "ntu_rgbd_60", {"cross_subject"}, {"rgb"}, {"mfst_large", "mfst_bm"}),
    "mfst_residual": ("V", "ntu_rgbd_60", {"cross_subject"}, {"rgb"}, {"mfst_large"}),
    "mfst_temporal": ("VI", "ntu_rgbd_60", {"cross_subject"}, {"rgb", "depth"}, {"mfst_large"}),
    "mfst_ntu": (
        "I",
        "ntu_rgbd_60",
        {"cross_subject", "cross_view"},
        {"rgb", "depth", "rgbd"},
        {"mfst_large", "mfst_large_rgbd"},
    ),
    "mfst_isogd": ("II", "isogd", {"official"}, {"rgb", "depth", "rgbd"}, {"mfst_large", "mfst_large_rgbd"}),
}


def _args(sweep, profile: str, **extra) -> argparse.Namespace:
    defaults = {"profile": profile, "data_root": "/datasets/prepared", "overrides": [], "seeds": 1, "search": "grid"}
    if sweep.SPEC.fusion is not None:
        defaults["fusion"] = "checkpoints"
    return argparse.Namespace(**{**defaults, **extra})


def _resolved(name: str, profile: str, **extra) -> list[dict]:
    sweep = load_sweep(name)
    args = _args(sweep, profile, **extra)
    base = base_config(sweep.SPEC, args)
    trials = trial_overrides(sweep.SPEC, args)
    if sweep.SPEC.fusion is not None and args.fusion == "checkpoints":
        trials += fusion_trial_overrides(sweep.SPEC, trials, {i: f"/ckpt/{i}" for i in range(len(trials))})
    return [resolve_trial(base, t) for t in trials]


@pytest.mark.parametrize("name", sorted(TABLES))
def test_paper_profile_is_the_papers_recipe(name):
    _, dataset, protocols, modalities, models = TABLES[name]
    resolved = _resolved(name, "paper")
    for config in resolved:
        trains = config["train.epochs"] > 0
        for key, want in RECIPE.items():
            if key == "train.epochs" and not trains:
                continue  # RGB+DEP from checkpoints: evaluates the two 100-epoch streams
            assert config[key] == pytest.approx(want), (name, key)
        assert config["train.mixup_alpha"] > 0, name  # "MixUp"
        assert config["data.resize"] >= config["data.crop_size"]
        assert config["data.dataset"] == dataset
    assert {c["data.protocol"] for c in resolved} == protocols
    assert {c["data.modality"] for c in resolved} == modalities
    assert {c["model.name"] for c in resolved} == models


@pytest.mark.parametrize("name", sorted(TABLES))
@pytest.mark.parametrize("profile", ["smoke", "local"])
def test_cpu_profiles_use_the_synthetic_set_and_no_gpu(name, profile):
    resolved = _resolved(name, profile, data_root=None)
    assert {c["data.dataset"] for c in resolved} == {"synthetic"}
    assert all(c["train.accelerator"] == "cpu" for c in resolved)
    # CPU-tiny models: every trial takes the registry's tiny widths, never the paper-size defaults.
    for config in resolved:
        assert config["model.dims"] == tiny_overrides(config["model.name"])["dims"]
        assert config["model.dims"] != model_config(config["model.name"]).dims


def test_joint_fusion_trains_the_two_stream_model_per_protocol_and_seed():
    resolved = _resolved("mfst_ntu", "paper", fusion="joint", seeds=2)
    fused = [c for c in resolved if c["data.modality"] == "rgbd"]
    assert len(fused) == 4  # 2 protocols x 2 seeds
    for c in fused:
        assert c["train.epochs"] == 100 and c["model.name"] == "mfst_large_rgbd"
        assert (c["model.stem"], c["model.depth_stem"]) == ("CDC-ST", "CDC-T")
        assert not c["model.rgb_checkpoint"] and not c["model.depth_checkpoint"]


def test_checkpoint_fusion_pairs_rgb_and_depth_of_the_same_protocol_and_seed():
    sweep = load_sweep("mfst_ntu")
    args = _args(sweep, "paper", seeds=2)
    trials = trial_overrides(sweep.SPEC, args)
    fused = fusion_trial_overrides(sweep.SPEC, trials, {i: f"/ckpt/{i}" for i in range(len(trials))})
    assert len(fused) == 4
    for f in fused:
        rgb = trials[int(f["model.rgb_checkpoint"].rsplit("/", 1)[1])]
        depth = trials[int(f["model.depth_checkpoint"].rsplit("/", 1)[1])]
        assert (rgb["data.modality"], depth["data.modality"]) == ("rgb", "depth")
        assert rgb["data.protocol"] == depth["data.protocol"] == f["data.protocol"]
        assert rgb["train.seed"] == depth["train.seed"] == f["train.seed"]
        assert f["train.epochs"] == 0
    # A pair whose depth trial left no checkpoint is not fused.
    missing = {i: f"/ckpt/{i}" for i, t in enumerate(trials) if t["data.modality"] == "rgb"}
    assert fusion_trial_overrides(sweep.SPEC, trials, missing) == []


# The paper's numbers, transcribed from MFST (``MFST_CITATION``), per sweep and row in table order: (row label, the
# paper's cells by column, its complexity cells). Table IV (§IV-C-2) prints RGB / DEP per stem and θ; Table III
# (§IV-C-1) accuracy, parameters and frames; Table V (§IV-C-3) Base / Large without and with residual connections;
# Table VI (§IV-C-4) RGB / DEP per temporal block; Tables I (§IV-B-1) and II (§IV-B-2) the "Ours (MFST-Large)" rows.
PAPER_VALUES = {
    "cdc_theta": [
        ("Vanilla-3D", {"RGB(%)": 90.4, "DEP(%)": 91.2}, {}),
        ("3D-CDC-ST", {"RGB(%)": 92.1, "DEP(%)": 91.6}, {}),  # θ = 0.6
        ("3D-CDC-T", {"RGB(%)": 89.6, "DEP(%)": 93.8}, {}),  # θ = 0.6
        ("3D-CDC-ST", {"RGB(%)": 91.0, "DEP(%)": 91.0}, {}),  # θ = 0.8
        ("3D-CDC-T", {"RGB(%)": 89.9, "DEP(%)": 92.4}, {}),  # θ = 0.8
    ],
    "mfst_stages": [
        ("De-Recouple [27]", {"Acc(%)": 90.3}, {"params_m": 38.0, "frames": 64}),
        ("MFST-Base", {"Acc(%)": 90.5}, {"params_m": 32.6, "frames": 32}),
        ("MFST-Large", {"Acc(%)": 92.1}, {"params_m": 49.7, "frames": 32}),
        ("MFST-BM", {}, {}),  # §IV-A's baseline: no number in Table III
    ],
    "mfst_residual": [
        ("× residual", {"MFST-Base(%)": 90.2, "MFST-Large(%)": 91.1}, {}),
        ("✓ residual", {"MFST-Base(%)": 90.5, "MFST-Large(%)": 92.1}, {}),
    ],
    "mfst_temporal": [
        ("V-Trans", {"RGB(%)": 91.0, "DEP(%)": 92.2}, {}),
        ("WMS-Trans", {"RGB(%)": 92.1, "DEP(%)": 93.8}, {}),
    ],
    "mfst_ntu": [
        ("RGB", {"CS(%)": 92.1, "CV(%)": 95.8}, {}),
        ("Depth", {"CS(%)": 93.8, "CV(%)": 97.3}, {}),
        ("RGB+DEP", {"CS(%)": 94.6, "CV(%)": 98.2}, {}),
    ],
    "mfst_isogd": [
        ("RGB", {"Accuracy(%)": 61.26}, {}),
        ("DEP", {"Accuracy(%)": 61.29}, {}),
        ("RGB+DEP", {"Accuracy(%)": 68.47}, {}),
    ],
}


def test_paper_values_are_the_papers():
    assert set(PAPER_VALUES) == set(TABLES)
    for name, rows in PAPER_VALUES.items():
        spec = load_sweep(name).SPEC
        ours = [(row.label, dict(row.paper), dict(row.paper_complexity)) for row in spec.table.rows]
        assert ours == rows, name
        assert spec.table.table == f"Table {TABLES[name][0]}", name


def test_stages_grid_resolves_one_to_five_stages():
    sweep = load_sweep("mfst_stages")
    args = sweep.parser().parse_args(["--stages-grid", "1,2,3,4,5", "--profile", "paper", "--data-root", "/d"])
    spec = sweep.with_stages_grid(sweep.SPEC, args)
    trials = trial_overrides(spec, args)
    assert sorted(t.get("model.stages") for t in trials if "model.stages" in t) == [1, 2, 3, 4, 5]
    base = sweep.SPEC.profiles["paper"]
    assert {resolve_trial({**base, "data.root": "/d"}, t)["model.stages"] for t in trials} == {1, 2, 3, 4, 5}
    assert [r.label for r in spec.table.rows][1:6] == [
        "MFST (1 stage)",
        "MFST (2 stages)",
        "MFST-Base",
        "MFST-Large",
        "MFST (5 stages)",
    ]
    with pytest.raises(UsageError, match="1..5"):
        sweep.with_stages_grid(sweep.SPEC, sweep.parser().parse_args(["--stages-grid", "6"]))
