"""RPE-STDT's sweeps (thesis chapter 3: Fig. 3.4, Tables 3.1, 3.2, 3.4-3.5): their tables, stand-in columns and paper
profiles, and (slow) each sweep's smoke profile end to end on an embedded Ray."""

import argparse
import os

import pytest

from actrec.errors import UsageError
from actrec.layers.relative_position import num_clusters
from actrec.models import create_model, model_config, tiny_overrides
from actrec.papers.rpe_stdt import RPE_PAPER
from actrec.report.spec import matches
from actrec.tune.cli import build_parser
from actrec.tune.plan import base_config, resolve_trial, trial_overrides
from tests.conftest import load_sweep, sweeps_of

SWEEPS = sweeps_of(RPE_PAPER)
PAPER_ROOTS = ["ucf101=/d/ucf", "hmdb51=/d/hmdb", "diving48=/d/d48"]
# §3.4.2 (thesis chapter 3, ``RPE_CITATION``): ViT-B spatial encoder 8 layers x 12 heads, temporal 4 x 8, 16
# frames, 14x14 patches at 224², b:y:a = 1:2:8, Top-K after temporal layers 1 and 3, SGD (momentum 0.9) + warm-up
# cosine, 100 epochs, 4 A100s.
RECIPE = {
    "data.num_frames": 16,
    "data.crop_size": 224,
    "data.flip_prob": 0.5,
    "optim.name": "sgd",
    "optim.momentum": 0.9,
    "train.epochs": 100,
    "train.num_workers": 4,
    "train.accelerator": "gpu",
    "model.spatial_depth": 8,
    "model.spatial_heads": 12,
    "model.temporal_depth": 4,
    "model.temporal_heads": 8,
    "model.patch_size": 16,
    "model.dim": 768,
    "model.rpe_ratio": (1.0, 2.0, 8.0),
}


def _args(name: str, profile: str, *argv: str) -> argparse.Namespace:
    sweep = load_sweep(name)
    parser = sweep.parser() if hasattr(sweep, "parser") else build_parser(sweep.SPEC)
    return parser.parse_args(["--profile", profile, *argv])


def _spec(name: str, args):
    sweep = load_sweep(name)
    return sweep.extend(sweep.SPEC, args) if hasattr(sweep, "extend") else sweep.SPEC


def _resolved(name: str, profile: str, *argv: str) -> list[dict]:
    args = _args(name, profile, *argv)
    spec = _spec(name, args)
    base = base_config(spec, args)
    return [resolve_trial(base, t) for t in trial_overrides(spec, args)]


@pytest.mark.parametrize("name", SWEEPS)
def test_paper_profile_is_the_thesis_recipe_on_its_datasets(name):
    roots = [a for r in PAPER_ROOTS for a in ("--data-root", r)]
    resolved = _resolved(name, "paper", *roots)
    for config in resolved:
        assert config["data.modality"] == "rgb"
        if config["model.name"] == "vit_spatial":  # Table 3.3's baseline: ViT-B/16 per frame
            assert (config["model.depth"], config["model.heads"], config["model.dim"]) == (12, 12, 768)
            assert config["model.patch_size"] == 16 and name == "stdt_attention"
            continue
        assert config["model.name"] == "rpe_stdt"
        for key, want in RECIPE.items():
            assert config[key] == want, (name, key)
        assert (
            config["data.root"]
            == {"ucf101": "/d/ucf", "hmdb51": "/d/hmdb", "diving48": "/d/d48"}[config["data.dataset"]]
        )
    datasets = {(c["data.dataset"], c["data.protocol"]) for c in resolved}
    expected = {("ucf101", "split1"), ("hmdb51", "split1")}
    assert datasets == (expected if name == "rpe_mapping" else expected | {("diving48", "official")})
    spec = _spec(name, _args(name, "paper"))
    for config in resolved:  # every trial lands in exactly one row and one column of the report's table
        assert sum(matches(config, row.match) for row in spec.table.rows) == 1
        assert sum(matches(config, column.match) for column in spec.table.columns) == 1


@pytest.mark.parametrize("name", SWEEPS)
@pytest.mark.parametrize("profile", ["smoke", "local"])
def test_cpu_profiles_train_the_tiny_model_pose_pretrained_on_synthetic_stand_ins(name, profile):
    resolved = _resolved(name, profile)
    spec = _spec(name, _args(name, profile)).for_profile(profile)
    assert {c["data.dataset"] for c in resolved} == {"synthetic"}
    for config in resolved:
        model = config["model.name"]
        assert config["model.dim"] == tiny_overrides(model)["dim"] != model_config(model).dim
        assert config["optim.name"] == "adamw" and config["train.accelerator"] == "cpu"
        assert config["model.spatial_init"] == ("pose_pretrain:1" if profile == "smoke" else "pose_pretrain")
        assert sum(matches(config, row.match) for row in spec.table.rows) == 1
        assert sum(matches(config, column.match) for column in spec.table.columns) == 1
    measured = [c for c in spec.table.columns if c.match.get("data.dataset") == "synthetic"]
    assert len(measured) == (1 if profile == "smoke" else 2)


def test_cluster_rows_follow_y_and_the_grid_flag():
    spec = _spec("rpe_clusters", _args("rpe_clusters", "local"))
    assert [r.match["model.rpe_y"] for r in spec.table.rows] == [1, 2, 3, 4, 5, 6]
    assert [r.extra["clusters per frame"] for r in spec.table.rows] == [10, 26, 50, 82, 122, 170]
    assert [r.extra["clusters per frame"] for r in spec.table.rows] == [num_clusters(y, axes=2) for y in range(1, 7)]
    only_50 = [r for r in spec.table.rows if r.paper]
    assert [r.match["model.rpe_y"] for r in only_50] == [3]  # Table 3.1's shared RPE at 50 clusters
    assert [r.match["model.rpe_y"] for r in _spec("rpe_clusters", _args("rpe_clusters", "smoke")).table.rows] == [1, 3]
    grid = _spec("rpe_clusters", _args("rpe_clusters", "local", "--y-grid", "5,1,5"))
    assert [r.match["model.rpe_y"] for r in grid.table.rows] == [1, 5]
    for bad in ("0,2", "a"):
        with pytest.raises(UsageError, match="--y-grid"):
            _spec("rpe_clusters", _args("rpe_clusters", "local", "--y-grid", bad))


def test_table_3_1_reference_rows_build_the_paper_size_model():
    spec = load_sweep("rpe_position").SPEC
    counts = {}
    for row in spec.table.rows:
        reference = {k.removeprefix("model."): v for k, v in row.reference.items() if k != "model.name"}
        counts[row.label] = sum(p.numel() for p in create_model("rpe_stdt", **reference).parameters())
    # Unshared tables cost more than shared ones, as in the thesis (97.26M vs 97.06M).
    assert counts["Unshared RPE"] > counts["Shared RPE"]


# The thesis' numbers (chapter 3, ``RPE_CITATION``), per sweep and row in table order: (row label, the paper's
# cells by column, its complexity cells). Fig. 3.4 prints no numbers: only its y = 3 point (50 clusters) is Table
# 3.1's shared RPE. Table 3.1: UCF-101 / HMDB-51 / Diving48 and parameters; Table 3.2: UCF-101 and HMDB-51 only;
# Table 3.3 with GFLOPs; Table 3.4 the subsampling schemes, Table 3.5 (UCF-101) the baseline STDT with parameters.
DATASETS = ("UCF-101", "HMDB-51", "Diving48")


def _cells(*values: float) -> dict[str, float]:
    return dict(zip(DATASETS, values, strict=False))


PAPER_VALUES = {
    "rpe_clusters": [
        *((f"y = {y}", {}, {}) for y in (1, 2)),
        ("y = 3", _cells(97.53, 79.12, 81.60), {}),
        *((f"y = {y}", {}, {}) for y in (4, 5, 6)),
    ],
    "rpe_position": [
        ("Absolute (APE)", _cells(96.26, 78.08, 79.82), {"params_m": 100.7}),
        ("Shared RPE", _cells(97.53, 79.12, 81.60), {"params_m": 97.06}),
        ("Unshared RPE", _cells(97.61, 79.25, 81.82), {"params_m": 97.26}),
    ],
    "rpe_mapping": [("Clip", _cells(97.2, 78.6), {}), ("Sectioned", _cells(97.7, 79.3), {})],
    "stdt_attention": [
        ("ViT (spatial attention)", _cells(95.5, 75.6, 78.5), {"gflops": 269}),
        ("RPE-STDT (decoupled attention)", _cells(97.6, 79.3, 81.8), {"gflops": 273}),
    ],
    "stdt_subsampling": [
        ("Max-pooling", _cells(96.1, 76.2, 78.3), {}),
        ("Average pooling", _cells(96.3, 76.3, 78.8), {}),
        ("1D convolution", _cells(96.6, 78.6, 79.0), {}),
        ("Top-K [Layer 0, 2]", _cells(96.5, 78.6, 79.7), {}),
        ("Top-K [Layer 1, 3]", _cells(97.6, 79.3, 81.8), {}),
        ("Baseline STDT", _cells(96.5), {"params_m": 88.9}),
        ("Baseline STDT + Top-K", _cells(97.0), {"params_m": 82.7}),
    ],
}


def test_paper_values_are_the_thesis():
    assert set(PAPER_VALUES) == set(SWEEPS)
    for name, rows in PAPER_VALUES.items():
        table = load_sweep(name).SPEC.table
        ours = [(row.label, dict(row.paper), dict(row.paper_complexity)) for row in table.rows]
        assert ours == rows, name


@pytest.mark.slow
@pytest.mark.parametrize("name", SWEEPS)
def test_smoke_runs_start_every_spatial_encoder_from_the_drivers_pose_pretraining(name, smoke_runs):
    """The session's smoke run of ``name`` (tests/test_sweeps_smoke.py checks it as a sweep)."""
    run = smoke_runs.get(name)
    for child in run.children:
        init = child.data.params["model.spatial_init"]
        assert init.startswith(str(run.storage / "pretrain")) and os.path.isfile(init)
    assert "synthetic stand-in" in run.report
