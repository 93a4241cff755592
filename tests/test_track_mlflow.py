"""actrec.track.mlflow_tracker: the driver callback logs metrics (model_gflops included) and, when a trial
completes, its best-epoch confusion matrix as ``confusion_best.json`` on the trial's child run."""

import json

import pytest
from mlflow.tracking import MlflowClient

from actrec.track.mlflow_tracker import LOGGED_METRICS, MLflowTuneCallback, SweepTracker


class FakeTrial:
    """What the callback reads from a Tune trial."""

    def __init__(self, trial_id: str, config: dict) -> None:
        self.trial_id = trial_id
        self.config = config

    def __str__(self) -> str:
        return f"run_trial_{self.trial_id}"


def _index(root, names):
    root.mkdir(parents=True)
    (root / "index.json").write_text(json.dumps({"format_version": 1, "num_classes": len(names), "class_names": names}))


@pytest.fixture()
def tracked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root (./mlruns) lands in tmp_path
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    tracker = SweepTracker(uri, "toy")
    tracker.start(sweep_dir=str(tmp_path / "sweep"), tags={}, params={"profile": "smoke"}, resume=False)
    callback = MLflowTuneCallback(tracker, lambda config: dict(config), {"paper": "Toy"})
    return tracker, callback, MlflowClient(uri)


def _artifact(client, run_id, tmp_path):
    if "confusion_best.json" not in {a.path for a in client.list_artifacts(run_id)}:
        return None
    return json.loads(open(client.download_artifacts(run_id, "confusion_best.json", str(tmp_path))).read())


def _result(epoch, top1, confusion=None):
    result = {"epoch": epoch, "val_top1": top1, "val_best_top1": top1, "model_params": 1000.0, "model_gflops": 0.25}
    if confusion is not None:
        result["val_confusion_best"] = confusion
    return result


def _config(root, **extra):
    return {"data.dataset": "synthetic", "data.root": str(root), "data.synth_num_classes": 3, **extra}


def test_completed_trial_logs_last_confusion_with_class_names(tracked, tmp_path):
    tracker, callback, client = tracked
    assert "model_gflops" in LOGGED_METRICS
    _index(tmp_path / "data", ["wave", "clap", "jump"])
    trial = FakeTrial("a", _config(tmp_path / "data"))
    callback.on_trial_start(0, [], trial)
    callback.on_trial_result(0, [], trial, _result(1, 40.0, [[1, 1, 0], [0, 2, 0], [1, 0, 1]]))
    callback.on_trial_result(0, [], trial, _result(2, 60.0, [[2, 0, 0], [0, 2, 0], [1, 0, 1]]))
    run_id = tracker.live_run_id("a")
    assert _artifact(client, run_id, tmp_path) is None, "logged on completion, not per epoch"
    callback.on_trial_complete(0, [], trial)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["model_gflops"] == 0.25 and run.data.metrics["val_best_top1"] == 60.0
    assert "val_confusion_best" not in run.data.metrics
    assert _artifact(client, run_id, tmp_path / "dl") == {
        "matrix": [[2, 0, 0], [0, 2, 0], [1, 0, 1]],
        "class_names": ["wave", "clap", "jump"],
    }
    assert _artifact(client, tracker.parent_run_id, tmp_path / "p") is None, "the matrix belongs to the trial"


def test_unreadable_class_names_give_null_and_errors_or_no_matrix_give_no_artifact(tracked, tmp_path):
    tracker, callback, client = tracked
    no_index = FakeTrial("b", _config(tmp_path / "missing"))
    errored = FakeTrial("c", _config(tmp_path / "missing"))
    old_loop = FakeTrial("d", _config(tmp_path / "missing"))
    for trial in (no_index, errored, old_loop):
        callback.on_trial_start(0, [], trial)
    callback.on_trial_result(0, [], no_index, _result(1, 50.0, [[1, 0], [0, 1]]))
    callback.on_trial_result(0, [], errored, _result(1, 50.0, [[1, 0], [0, 1]]))
    callback.on_trial_result(0, [], old_loop, _result(1, 50.0))
    callback.on_trial_complete(0, [], no_index)
    callback.on_trial_error(0, [], errored)
    callback.on_trial_complete(0, [], old_loop)
    assert _artifact(client, tracker.live_run_id("b"), tmp_path / "b") == {
        "matrix": [[1, 0], [0, 1]],
        "class_names": None,
    }
    assert client.get_run(tracker.live_run_id("c")).info.status == "FAILED"
    assert _artifact(client, tracker.live_run_id("c"), tmp_path / "c") is None
    assert _artifact(client, tracker.live_run_id("d"), tmp_path / "d") is None
    assert client.get_run(tracker.live_run_id("d")).info.status == "FINISHED"


def test_a_failing_artifact_upload_never_fails_the_sweep(tracked, tmp_path, monkeypatch, capsys):
    tracker, callback, client = tracked

    def broken(*args, **kwargs):
        raise OSError("artifact store unreachable")

    monkeypatch.setattr(tracker, "log_run_text", broken)
    trial = FakeTrial("e", _config(tmp_path / "missing"))
    callback.on_trial_result(0, [], trial, _result(1, 50.0, [[1]]))
    callback.on_trial_complete(0, [], trial)
    assert client.get_run(tracker.live_run_id("e")).info.status == "FINISHED"
    assert "artifact store unreachable" in capsys.readouterr().err


def test_resume_marks_runs_a_dead_driver_left_running_failed_then_reopens_them(tracked, tmp_path):
    tracker, callback, client = tracked
    callback.on_trial_start(0, [], FakeTrial("t1", {"a": 1}))
    callback.on_trial_start(0, [], FakeTrial("t2", {"a": 2}))
    callback.on_trial_complete(0, [], FakeTrial("t1", {"a": 1}))
    done, killed = tracker.live_run_id("t1"), tracker.live_run_id("t2")
    # The driver dies here without closing anything: t2's run and the parent stay RUNNING.
    assert client.get_run(killed).info.status == "RUNNING"

    again = SweepTracker(tracker.tracking_uri, "toy")
    parent = again.start(sweep_dir=str(tmp_path / "sweep"), tags={}, params={}, resume=True)
    assert parent == tracker.parent_run_id
    assert client.get_run(killed).info.status == "FAILED"
    assert client.get_run(done).info.status == "FINISHED"
    # Tune restarts t2: the same run reopens (each trial shown once); the finished t1 is left alone.
    assert again.child_run("t2", run_name="t2", tags={}, params={}) == killed
    assert client.get_run(killed).info.status == "RUNNING"
    assert again.child_run("t1", run_name="t1", tags={}, params={}) is None
    assert len(client.search_runs([again.experiment_id], "tags.role = 'trial'")) == 2
