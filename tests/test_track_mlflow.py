"""actrec.track.mlflow_tracker: the driver callback logs metrics (model_gflops included) and, when a trial
completes, its best-epoch confusion matrix as ``confusion_best.json`` on the trial's child run."""

import datetime
import json
import re

import pytest
from mlflow.tracking import MlflowClient

from actrec.data.shards import clip_id
from actrec.track.mlflow_tracker import (
    DESCRIPTION_LIMIT,
    LOGGED_METRICS,
    MLflowTuneCallback,
    SweepTracker,
    publish_results,
)


class FakeTrial:
    """What the callback reads from a Tune trial."""

    def __init__(self, trial_id: str, config: dict) -> None:
        self.trial_id = trial_id
        self.config = config

    def __str__(self) -> str:
        return f"run_trial_{self.trial_id}"


def _index(root, names):
    root.mkdir(parents=True)
    index = {"format_version": 1, "dataset": "isogd", "num_classes": len(names), "class_names": names}
    (root / "index.json").write_text(json.dumps({**index, "shards": [], "splits": {}}))


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


def test_every_epoch_is_logged_once_including_one_a_lost_driver_only_checkpointed(tracked, tmp_path):
    """A trial driver lost after epoch 2's checkpoint but before its result arrived: the restored run's first result
    (epoch 3) carries epochs 1 and 2 (``RESTORED_EPOCHS_METRIC``): 2 is logged, 1 keeps its first values; an epoch
    that arrives twice (a run restored after its last epoch reports it again) is logged once, with its first values;
    a callback of a resumed sweep driver knows what the run has already."""
    from actrec.track.startup import RESTORED_EPOCHS_METRIC

    tracker, callback, client = tracked
    trial = FakeTrial("r", _config(tmp_path / "missing"))
    callback.on_trial_start(0, [], trial)
    callback.on_trial_result(0, [], trial, _result(1, 10.0))
    earlier = [_result(1, 11.0), _result(2, 20.0)]  # epoch 1's result arrived, epoch 2's was lost with the driver
    callback.on_trial_result(0, [], trial, {**_result(3, 30.0), RESTORED_EPOCHS_METRIC: earlier})
    callback.on_trial_result(0, [], trial, {**_result(4, 40.0), "val_loss": 1.0})
    callback.on_trial_result(0, [], trial, {**_result(4, 44.0), "val_loss": 9.0})  # epoch 4 again
    run_id = tracker.live_run_id("r")
    history = client.get_metric_history(run_id, "val_top1")
    assert sorted((m.step, m.value) for m in history) == [(1, 10.0), (2, 20.0), (3, 30.0), (4, 40.0)]
    assert [m.value for m in client.get_metric_history(run_id, "val_loss")] == [1.0]

    resumed = MLflowTuneCallback(tracker, lambda config: dict(config), {"paper": "Toy"})  # a new sweep driver
    resumed.on_trial_result(0, [], trial, {**_result(5, 50.0), RESTORED_EPOCHS_METRIC: [_result(4, 41.0)]})
    history = client.get_metric_history(run_id, "val_top1")
    assert sorted((m.step, m.value) for m in history) == [(1, 10.0), (2, 20.0), (3, 30.0), (4, 40.0), (5, 50.0)]


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


# MLflow 3.x's UI opens an experiment in its model-training view ("Machine learning") for this tag; without it the
# UI may open the GenAI traces view and ask for a type.
KIND_TAG, TRAINING = "mlflow.experimentKind", "custom_model_development"
RUN_NAME = re.compile(r"^toy · local · grid · (\d{4}-\d\d-\d\d \d\d:\d\d) UTC$")


def test_a_new_sweep_experiment_opens_in_the_training_view(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    tracker = SweepTracker(uri, "toy")
    assert MlflowClient(uri).get_experiment(tracker.experiment_id).tags[KIND_TAG] == TRAINING


def test_existing_experiments_get_the_training_kind_unless_they_chose_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = MlflowClient(uri)
    old = client.create_experiment("actrec/old")  # made by an actrec before the tag
    chosen = client.create_experiment("actrec/chosen", tags={KIND_TAG: "genai_development"})
    assert SweepTracker(uri, "old").experiment_id == old
    assert SweepTracker(uri, "chosen").experiment_id == chosen
    assert client.get_experiment(old).tags[KIND_TAG] == TRAINING
    assert client.get_experiment(chosen).tags[KIND_TAG] == "genai_development"


def test_parent_run_is_named_by_sweep_profile_search_and_start_time(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = MlflowClient(uri)
    tracker = SweepTracker(uri, "toy")
    tags = {"profile": "local", "search": "grid"}
    run_id = tracker.start(sweep_dir=str(tmp_path / "toy-local-1"), tags=tags, params={}, resume=False)
    run = client.get_run(run_id)
    started = datetime.datetime.fromtimestamp(run.info.start_time / 1000, datetime.UTC)
    assert RUN_NAME.match(run.info.run_name).group(1) == started.strftime("%Y-%m-%d %H:%M")
    # Keyword arguments win over the tags; an explicit name over both.
    named = SweepTracker(uri, "toy").start(
        sweep_dir=str(tmp_path / "toy-2"), tags=tags, params={}, resume=False, profile="paper", search="optuna"
    )
    assert client.get_run(named).info.run_name.startswith("toy · paper · optuna · ")
    custom = SweepTracker(uri, "toy").start(
        sweep_dir=str(tmp_path / "toy-3"), tags=tags, params={}, resume=False, run_name="rerun of table IV"
    )
    assert client.get_run(custom).info.run_name == "rerun of table IV"


def test_resuming_renames_a_parent_run_named_after_its_directory_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = MlflowClient(uri)
    experiment = SweepTracker(uri, "toy").experiment_id
    sweep_dir = tmp_path / "toy-local-20261206-064100-000000"
    tags = {"profile": "local", "search": "grid", "role": "sweep", "sweep_dir": str(sweep_dir)}
    # Older actrec named the parent run after the sweep directory; a resume gives it the readable name.
    old = client.create_run(experiment, run_name=sweep_dir.name, tags=tags).info.run_id
    resumed = SweepTracker(uri, "toy").start(sweep_dir=str(sweep_dir), tags=tags, params={}, resume=True)
    assert resumed == old and RUN_NAME.match(client.get_run(old).info.run_name)
    # A name someone gave the run in the UI stays.
    client.update_run(old, name="my favourite sweep")
    SweepTracker(uri, "toy").start(sweep_dir=str(sweep_dir), tags=tags, params={}, resume=True)
    assert client.get_run(old).info.run_name == "my favourite sweep"


def test_publish_results_sets_the_description_and_the_best_metric(tracked, tmp_path):
    tracker, callback, client = tracked
    table = "| Setting | RGB measured | RGB paper |\n|---|---|---|\n| A | 55.0 (n=1) | 90.0 |"
    publish_results(
        tracker.tracking_uri,
        tracker.parent_run_id,
        description=f"# Toy — Table 1\n\n{table}\n",
        metric="val_best_top1",
        value=55.0,
        best_run_id="abc123",
        best_name="run_trial_a",
    )
    parent = client.get_run(tracker.parent_run_id)
    assert table in parent.data.tags["mlflow.note.content"]
    assert parent.data.metrics["best_val_best_top1"] == 55.0
    assert parent.data.tags["best_trial_run_id"] == "abc123" and parent.data.tags["best_trial"] == "run_trial_a"
    # A description over what MLflow keeps in a tag is cut at a line, with a remark, not by MLflow mid-cell.
    rows = "\n".join(f"| row {i} | {i}.0 (n=1) | 90.0 |" for i in range(2000))
    publish_results(tracker.tracking_uri, tracker.parent_run_id, description=rows, metric="m", value=None)
    cut = client.get_run(tracker.parent_run_id).data.tags["mlflow.note.content"]
    assert len(cut) <= DESCRIPTION_LIMIT and cut.split("\n")[-3].endswith("| 90.0 |") and "cut to" in cut
    assert "best_m" not in client.get_run(tracker.parent_run_id).data.metrics


def test_completed_trial_logs_its_best_epochs_per_clip_predictions_with_sample_keys(tracked, tmp_path):
    from actrec.track import evidence

    tracker, callback, client = tracked
    root = tmp_path / "data"
    _index(root, ["wave", "clap", "jump"])
    keys = ["s000_a000", "s001_a001", "s002_a002"]
    index = json.loads((root / "index.json").read_text())
    index["shards"] = [{"path": "shard-000000.tar", "samples": [{"key": k, "label": i} for i, k in enumerate(keys)]}]
    (root / "index.json").write_text(json.dumps(index))
    trial = FakeTrial("p", _config(root))
    callback.on_trial_start(0, [], trial)
    first = {
        "clip": [clip_id(k) for k in keys],
        "label": [0, 1, 2],
        "pred": [0, 0, 0],
        "score": [0.9, 0.2, 0.1],
    }
    best = {**first, "pred": [0, 1, 0], "score": [0.8, 0.7, 0.2]}
    callback.on_trial_result(0, [], trial, {**_result(1, 33.3), evidence.PREDICTIONS_METRIC: first})
    callback.on_trial_result(0, [], trial, {**_result(2, 66.7), evidence.PREDICTIONS_METRIC: best})
    callback.on_trial_result(0, [], trial, _result(3, 50.0))  # not a new best: no predictions reported
    callback.on_trial_complete(0, [], trial)
    run_id = tracker.live_run_id("p")
    path = client.download_artifacts(run_id, evidence.PREDICTIONS_ARTIFACT, str(tmp_path / "dl"))
    arrays = evidence.decode(path)
    assert arrays["pred"].tolist() == [0, 1, 0] and arrays["key"].tolist() == keys
    assert arrays["score"].tolist() == pytest.approx([0.8, 0.7, 0.2])
