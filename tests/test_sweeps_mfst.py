"""The smoke profile of each MFST table sweep (Tables I, II, III, V, VI) end to end on an embedded Ray: every grid
cell is one finished trial in MLflow, RGB+DEP rows come from late score fusion (of checkpoints or trained
jointly), and the report carries the paper's values. Table IV has its own test (test_sweeps_cdc_theta.py)."""

import os

import pytest

from tests.conftest import load_sweep, run_smoke

pytestmark = pytest.mark.slow


def _paper_values(name: str) -> list[str]:
    spec = load_sweep(name).SPEC
    return [str(float(v)) for row in spec.table.rows for v in row.paper.values() if v is not None]


@pytest.mark.parametrize(("name", "trials"), [("mfst_stages", 3), ("mfst_residual", 4), ("mfst_temporal", 4)])
def test_ablation_tables_smoke(name, trials, sweep_ray, tmp_path):
    report, children, _ = run_smoke(name, tmp_path)
    assert len(children) == trials and all(r.info.status == "FINISHED" for r in children)
    assert all(r.data.metrics["model_gflops"] > 0 for r in children)
    for value in _paper_values(name):
        assert value in report
    assert (tmp_path / "reports" / f"{name}_confusion.png").stat().st_size > 1000
    if name == "mfst_stages":
        configs = {(r.data.params["model.name"], r.data.params["model.stages"]) for r in children}
        assert configs == {("mfst_large", "3"), ("mfst_large", "4"), ("mfst_bm", "4")}
        assert "32.6" in report and "49.7" in report and "38.0" in report  # Table III's #params column


def test_ntu_table_fuses_rgb_and_depth_checkpoints(sweep_ray, tmp_path):
    report, children, client = run_smoke("mfst_ntu", tmp_path)
    assert len(children) == 6 and all(r.info.status == "FINISHED" for r in children)
    fused = [r for r in children if r.data.params["data.modality"] == "rgbd"]
    assert len(fused) == 2
    assert {r.data.params["data.protocol"] for r in fused} == {"cross_subject", "cross_view"}
    for run in fused:
        params = run.data.params
        assert params["train.epochs"] == "0" and params["model.name"] == "mfst_large_rgbd"
        assert (params["model.stem"], params["model.depth_stem"]) == ("CDC-ST", "CDC-T")
        assert os.path.isdir(params["model.rgb_checkpoint"]) and os.path.isdir(params["model.depth_checkpoint"])
        assert params["model.rgb_checkpoint"] != params["model.depth_checkpoint"]
        assert 0.0 <= run.data.metrics["val_top1"] <= 100.0
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val_top1")] == [0]
    for value in _paper_values("mfst_ntu"):
        assert value in report


def test_isogd_table_trains_the_two_streams_jointly(sweep_ray, tmp_path):
    report, children, _ = run_smoke("mfst_isogd", tmp_path, "--fusion", "joint")
    assert len(children) == 3 and all(r.info.status == "FINISHED" for r in children)
    (fused,) = [r for r in children if r.data.params["data.modality"] == "rgbd"]
    assert fused.data.params["train.epochs"] == "1" and not fused.data.params["model.rgb_checkpoint"]
    # Two MFST-Large streams: twice the single-stream parameters.
    single = next(r for r in children if r.data.params["data.modality"] == "rgb")
    assert fused.data.metrics["model_params"] == 2 * single.data.metrics["model_params"]
    for value in _paper_values("mfst_isogd"):
        assert value in report
