"""actrec.report.search: an Optuna search's report section rebuilt from MLflow alone: the best settings with their
intervals (completed trials only; trials ASHA stopped are PRUNED), the Pareto front of a multi-objective search,
Optuna's own figures, and the stopped-early tag the driver's MLflow callback sets."""

from __future__ import annotations

import types

import optuna
import pytest
from mlflow.tracking import MlflowClient

from actrec.report.search import SEARCH_ARTIFACT, build_study
from actrec.report.table import load_sweep, write_report
from actrec.tune.plan import search_record
from actrec.tune.spec import Choice, IntRange, Uniform
from tests.test_report_table import toy_spec

SPACE = {"model.theta": Uniform(0.0, 1.0), "model.stages": IntRange(1, 5), "model.kernel": Choice("3,3,3", "5,5,5")}
# (theta, stages, kernel as MLflow holds a resolved tuple, accuracy, GFLOPs, stopped early, status)
TRIALS = [
    (0.10, 2, "(3, 3, 3)", 40.0, 1.0, False, "FINISHED"),
    (0.90, 5, "(5, 5, 5)", 70.0, 4.0, False, "FINISHED"),
    (0.50, 3, "(3, 3, 3)", 60.0, 2.0, False, "FINISHED"),
    (0.70, 4, "(5, 5, 5)", 20.0, 3.0, True, "FINISHED"),  # stopped by ASHA at epoch 1 of 2
    (0.30, 1, "(3, 3, 3)", 50.0, 0.5, False, "FINISHED"),
    (0.20, 2, "(5, 5, 5)", 99.0, 9.0, False, "FAILED"),
]


def _store(tmp_path, objectives) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("actrec/toy", artifact_location=str(tmp_path / "art"))
    parent = client.create_run(experiment, run_name="toy-local", tags={"role": "sweep", "sweep": "toy"})
    parent_id = parent.info.run_id
    client.log_text(parent_id, toy_spec("toy").to_json(), "table_spec.json")
    record = search_record(SPACE, {"data.modality": "rgb"}, objectives, num_samples=8, asha=True)
    client.log_text(parent_id, record.to_json(), SEARCH_ARTIFACT)
    for i, (theta, stages, kernel, acc, gflops, stopped, status) in enumerate(TRIALS):
        tags = {"role": "trial", "trial_id": f"t{i}", "mlflow.parentRunId": parent_id}
        if stopped:
            tags.update(stopped_early="true", epochs_run="1", epochs_planned="2")
        run_id = client.create_run(experiment, run_name=f"run_trial_{i}", start_time=1000 * (i + 1), tags=tags)
        run_id = run_id.info.run_id
        for key, value in {"model.theta": theta, "model.stages": stages, "model.kernel": kernel}.items():
            client.log_param(run_id, key, value)
        client.log_param(run_id, "data.modality", "rgb")
        for step in (1,) if stopped else (1, 2):
            client.log_metric(run_id, "val_top1", acc, step=step)
            client.log_metric(run_id, "val_best_top1", acc, step=step)
            client.log_metric(run_id, "val_clips", 128, step=step)
            client.log_metric(run_id, "model_gflops", gflops, step=step)
            client.log_metric(run_id, "model_params", 1e6 * gflops, step=step)
        client.set_terminated(run_id, status)
    client.set_terminated(parent_id, "FINISHED")
    return uri


def _section(report: str) -> str:
    return report[report.index("## Search") : report.index("## Provenance")]


def test_study_rebuilt_from_mlflow_keeps_the_trials_in_order_with_pruned_and_failed_ones_apart(tmp_path):
    uri = _store(tmp_path, [("val_best_top1", "max")])
    record = load_sweep(uri, "toy")
    study, left_out = build_study(record.search, sorted(record.trials, key=lambda t: t.started))
    assert left_out == 1  # the failed trial
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "COMPLETE", "COMPLETE", "PRUNED", "COMPLETE"]
    assert [t.params["model.stages"] for t in study.trials] == [2, 5, 3, 4, 1]
    assert study.trials[0].params["model.kernel"] == "3,3,3", "a resolved tuple maps back to its choice"
    assert study.best_trial.params == {"model.theta": 0.9, "model.stages": 5, "model.kernel": "5,5,5"}
    assert [t.stopped_early for t in record.trials].count(True) == 1


def test_report_shows_the_best_settings_with_intervals_and_optunas_figures(tmp_path):
    uri = _store(tmp_path, [("val_best_top1", "max")])
    paths = write_report(uri, "toy", out_dir=str(tmp_path / "reports"), publish=False)
    section = _section(open(paths[0]).read())
    assert "8 sample(s) planned, 6 run: 4 completed, 1 stopped early by ASHA, 1 failed or unreadable" in section
    assert "model.stages ∈ [1, 5] (integers)" in section and "model.kernel ∈ {3,3,3, 5,5,5}" in section
    assert "Fixed in every sample: data.modality=rgb." in section
    rows = [line for line in section.splitlines() if line.startswith("| ") and line[2].isdigit()]
    # Completed trials, best first; the stopped (20.0) and the failed (99.0) trial are not among them.
    assert [row.split(" | ")[4].split(" [")[0] for row in rows] == ["70.0", "60.0", "50.0", "40.0"]
    low, high = (float(x) for x in rows[0].split(" [")[1].split("]")[0].split(", "))
    from scipy.stats import binomtest

    interval = binomtest(round(0.70 * 128), 128).proportion_ci(method="wilson")
    assert (low, high) == (round(100 * interval.low, 1), round(100 * interval.high, 1))
    for name in ("history", "importances", "parallel", "contour"):
        assert f"_search_{name}.png)" in section
        assert (tmp_path / "reports" / f"toy_search_{name}.png").stat().st_size > 1000
    assert "(stopped early)" in open(paths[0]).read(), "the trials table marks the stopped trial"
    assert str(tmp_path / "reports" / "toy_search_history.png") in paths, "logged on the parent run with the report"


def test_a_multi_objective_search_reports_its_pareto_front(tmp_path):
    uri = _store(tmp_path, [("val_best_top1", "max"), ("model_gflops", "min")])
    paths = write_report(uri, "toy", out_dir=str(tmp_path / "reports"), publish=False)
    section = _section(open(paths[0]).read())
    assert "### Pareto front (accuracy against cost)" in section
    assert "Objective: maximise val_best_top1 and minimise GFLOPs per clip" in section
    rows = [line for line in section.splitlines() if line.startswith("| ") and line[2].isdigit()]
    # Non-dominated completed trials, cheapest first: (50.0, 0.5), (60.0, 2), (70.0, 4); (40.0, 1) is dominated.
    assert [(r.split(" | ")[4].split(" [")[0], r.split(" | ")[5]) for r in rows] == [
        ("50.0", "0.5"),
        ("60.0", "2"),
        ("70.0", "4"),
    ]
    assert (tmp_path / "reports" / "toy_search_pareto.png").stat().st_size > 1000


def test_figures_that_cannot_be_drawn_are_named_with_the_reason(tmp_path):
    search = search_record(
        {"model.theta": Uniform(0.0, 1.0)}, {}, [("val_best_top1", "max")], num_samples=2, asha=False
    )
    trial = types.SimpleNamespace(
        params={"model.theta": "0.5"}, status="FINISHED", value=50.0, stopped_early=False, epochs=1, run_id="r",
        name="n", model_gflops=1.0, model_params=1.0, val_clips=16, started=1.0,
    )  # fmt: skip
    from actrec.report.search import search_section

    lead, _, rows, figures, missing = search_section(search, [trial], str(tmp_path / "one"))
    assert len(rows) == 1 and [title for title, _ in figures] == ["Optimisation history"]
    assert any("importances" in m.lower() and "two or more completed trials" in m for m in missing)


def test_a_trial_the_scheduler_stopped_is_tagged_in_mlflow(tmp_path):
    from actrec.track.mlflow_tracker import MLflowTuneCallback, SweepTracker

    tracker = SweepTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "toy")
    tracker.start(sweep_dir=str(tmp_path / "s"), tags={}, params={}, resume=False)
    callback = MLflowTuneCallback(tracker, lambda config: dict(config), {})

    def trial(trial_id, epoch):
        return types.SimpleNamespace(
            trial_id=trial_id, config={"train.epochs": 3}, last_result={"epoch": epoch}, __str__=lambda: trial_id
        )

    stopped, full = trial("a", 1), trial("b", 3)
    for t in (stopped, full):
        callback.on_trial_start(0, [], t)
        callback.on_trial_result(0, [], t, {"epoch": t.last_result["epoch"], "val_top1": 10.0})
        callback.on_trial_complete(0, [], t)
    runs = {
        r.data.tags["trial_id"]: r for r in tracker.client.search_runs([tracker.experiment_id], "tags.role='trial'")
    }
    assert runs["a"].data.tags["stopped_early"] == "true" and runs["a"].data.tags["epochs_run"] == "1"
    assert runs["a"].data.tags["epochs_planned"] == "3" and runs["a"].info.status == "FINISHED"
    assert "stopped_early" not in runs["b"].data.tags


def test_search_record_round_trips_and_names_the_sampler():
    record = search_record(SPACE, {"train.seed": 0}, [("val_best_top1", "max"), ("model_params", "min")],
                           num_samples=4, asha=False)  # fmt: skip
    again = type(record).from_json(record.to_json())
    assert again == record and "multi-objective" in record.sampler
    assert set(
        optuna.distributions.json_to_distribution(v).__class__.__name__ for v in record.distributions.values()
    ) == {
        "FloatDistribution",
        "IntDistribution",
        "CategoricalDistribution",
    }
    with pytest.raises(KeyError):
        search_record(SPACE, {}, [("val_best_top1", "best")], num_samples=1, asha=False)


def test_a_one_tuple_param_maps_back_to_its_choice():
    from optuna.distributions import CategoricalDistribution

    from actrec.report.search import _param

    choices = CategoricalDistribution(("1,3", "0,2", "1", "3"))
    assert [_param(choices, text) for text in ("(1, 3)", "(0, 2)", "(1,)", "(3,)")] == ["1,3", "0,2", "1", "3"]
    with pytest.raises(ValueError):
        _param(choices, "(2,)")
