"""MFST's table sweeps (Tables I-III, V, VI; Table IV is tests/test_sweeps_cdc_theta.py) beyond what
tests/test_sweeps_smoke.py checks of every sweep: Table III's models, and RGB+DEP rows from late score fusion of two
finished trials' checkpoints (Table I, on the session's smoke runs) or of a two-stream model trained jointly (Table
II, ``--fusion joint``: planned and trained a step without Ray; its trials run like any grid trial)."""

import os

import pytest

from actrec.config import from_flat
from actrec.models import build_model
from actrec.tune.plan import plan_sweep
from tests.conftest import load_sweep, sweep_args
from tests.sweep_tools import train_a_step


def _paper_values(name: str) -> list[str]:
    spec = load_sweep(name).SPEC
    return [str(float(v)) for row in spec.table.rows for v in row.paper.values() if v is not None]


@pytest.mark.slow
def test_stages_table_runs_both_models_at_their_stages(smoke_runs):
    run = smoke_runs.get("mfst_stages")
    # Both models ran (the covering cells), each at its cell's stage count; every stage count of the grid builds and
    # trains a step in test_sweeps_smoke.py.
    args, _ = sweep_args("mfst_stages", *run.argv)
    planned = {(f["model.name"], str(f["model.stages"])) for f in plan_sweep(run.spec, args).resolved}
    configs = {(r.data.params["model.name"], r.data.params["model.stages"]) for r in run.children}
    assert configs == planned and {name for name, _ in configs} == {"mfst_large", "mfst_bm"}
    assert "32.6" in run.report and "49.7" in run.report and "38.0" in run.report  # Table III's #params column


@pytest.mark.slow
def test_ntu_table_fuses_rgb_and_depth_checkpoints(smoke_runs):
    run = smoke_runs.get("mfst_ntu")
    report, children, client = run.report, run.children, run.client
    assert all(r.info.status == "FINISHED" for r in children)
    # One fused trial per protocol that ran, from that protocol's RGB and depth trials (both protocols' pairs: see
    # test_sweeps_profiles.py's pairing test).
    fused = [r for r in children if r.data.params["data.modality"] == "rgbd"]
    streams = [r for r in children if r.data.params["data.modality"] != "rgbd"]
    assert fused and len(streams) == 2 * len(fused)
    protocols = sorted(r.data.params["data.protocol"] for r in fused)
    assert sorted(r.data.params["data.protocol"] for r in streams) == sorted(protocols * 2)
    for trial in fused:
        params = trial.data.params
        assert params["train.epochs"] == "0" and params["model.name"] == "mfst_large_rgbd"
        assert (params["model.stem"], params["model.depth_stem"]) == ("CDC-ST", "CDC-T")
        assert os.path.isdir(params["model.rgb_checkpoint"]) and os.path.isdir(params["model.depth_checkpoint"])
        assert params["model.rgb_checkpoint"] != params["model.depth_checkpoint"]
        assert 0.0 <= trial.data.metrics["val_top1"] <= 100.0
        assert [m.step for m in client.get_metric_history(trial.info.run_id, "val_top1")] == [0]
    for value in _paper_values("mfst_ntu"):
        assert value in report


def test_isogd_table_trains_the_two_streams_jointly():
    """``--fusion joint``: the RGB+DEP row is a grid trial of its own (no second phase, no checkpoints), a two-stream
    MFST-Large of twice the single stream's parameters, trained for the profile's epochs; one step of it trains."""
    args, spec = sweep_args("mfst_isogd", "--profile", "smoke", "--fusion", "joint")
    plan = plan_sweep(spec, args)
    assert plan.fused == []
    joint = [c for c in plan.resolved if c["data.modality"] == "rgbd"]
    single = [c for c in plan.resolved if c["data.modality"] in ("rgb", "depth")]
    assert joint and len(single) == 2 * len(joint)
    for config in joint:
        assert config["model.name"] == "mfst_large_rgbd" and config["train.epochs"] == single[0]["train.epochs"] > 0
        assert not config["model.rgb_checkpoint"] and not config["model.depth_checkpoint"]
        assert (config["model.stem"], config["model.depth_stem"]) == ("CDC-ST", "CDC-T")
        assert _parameters(config) == 2 * _parameters(single[0])
        train_a_step(config)


def _parameters(config: dict) -> int:
    return sum(p.numel() for p in build_model(from_flat(config).model).parameters())
