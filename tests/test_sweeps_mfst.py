"""MFST's table sweeps (Tables I-III, V, VI; Table IV is tests/test_sweeps_cdc_theta.py) beyond what
tests/test_sweeps_smoke.py checks of every sweep: Table III's models, and RGB+DEP rows from late score fusion of two
finished trials' checkpoints (Table I) or of a two-stream model trained jointly (Table II, ``--fusion joint``)."""

import os

import pytest

from actrec.tune.plan import plan_sweep
from tests.conftest import load_sweep, sweep_args

pytestmark = pytest.mark.slow


def _paper_values(name: str) -> list[str]:
    spec = load_sweep(name).SPEC
    return [str(float(v)) for row in spec.table.rows for v in row.paper.values() if v is not None]


def test_stages_table_runs_both_models_at_their_stages(smoke_runs):
    run = smoke_runs.get("mfst_stages")
    # Both models ran (the covering cells), each at its cell's stage count; every stage count of the grid builds and
    # trains a step in test_sweeps_smoke.py.
    args, _ = sweep_args("mfst_stages", *run.argv)
    planned = {(f["model.name"], str(f["model.stages"])) for f in plan_sweep(run.spec, args).resolved}
    configs = {(r.data.params["model.name"], r.data.params["model.stages"]) for r in run.children}
    assert configs == planned and {name for name, _ in configs} == {"mfst_large", "mfst_bm"}
    assert "32.6" in run.report and "49.7" in run.report and "38.0" in run.report  # Table III's #params column


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


def test_isogd_table_trains_the_two_streams_jointly(smoke_runs):
    run = smoke_runs.get("mfst_isogd", "--fusion", "joint")
    assert len(run.children) == 3 and all(r.info.status == "FINISHED" for r in run.children)
    (fused,) = [r for r in run.children if r.data.params["data.modality"] == "rgbd"]
    assert fused.data.params["train.epochs"] == "1" and not fused.data.params["model.rgb_checkpoint"]
    # Two MFST-Large streams: twice the single-stream parameters.
    single = next(r for r in run.children if r.data.params["data.modality"] == "rgb")
    assert fused.data.metrics["model_params"] == 2 * single.data.metrics["model_params"]
    for value in _paper_values("mfst_isogd"):
        assert value in run.report
