"""MLflow tracking: one parent run per sweep invocation, one child run per Tune trial.

Only the Tune driver writes (a ``ray.tune.Callback``), so a local SQLite store never sees concurrent writers;
workers report to Tune and Tune hands results to the driver. A resumed sweep reuses its parent run and the
child run of each unfinished trial, so MLflow shows every trial once. When a trial completes, its confusion matrix
at the best validation epoch (``val_confusion_best``) is logged on its child run as ``confusion_best.json``,
which ``actrec report`` draws for the sweep's best trial, and that epoch's per-clip predictions
(``val_predictions_best``) as ``predictions_best.npz`` (:mod:`actrec.track.evidence`), which the report's claims
compare clip by clip.

What the MLflow UI shows first is set here too: every ``actrec/<sweep>`` experiment is tagged as a model-training
experiment (``EXPERIMENT_KIND_TAG``), the parent run is named "<sweep> · <profile> · <search> · <start time>", and
:func:`publish_results` puts the report's paper-vs-measured table in the parent run's description and the best
trial's metric on the parent run.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import Any

from mlflow.entities import Experiment, Metric, Param, RunStatus
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE
from mlflow.utils.validation import MAX_TAG_VAL_LENGTH
from ray import tune

from actrec.track import evidence
from actrec.track.startup import RESTORED_EPOCHS_METRIC, STARTUP_METRICS
from actrec.track.uri import DEFAULT_TRACKING_URI, resolve_tracking_uri  # noqa: F401  (re-exported)

EXPERIMENT_PREFIX = "actrec/"
# Numeric trial results worth a time series in MLflow (Tune adds many bookkeeping keys we skip).
LOGGED_METRICS = (
    "train_loss",
    "train_top1",
    "val_loss",
    "val_top1",
    "val_top5",
    "val_best_top1",
    "val_clips",
    "lr",
    "skipped_train",
    "skipped_val",
    "epoch_time_s",
    "model_params",
    "model_gflops",
    "time_total_s",
    *STARTUP_METRICS,
)
MAX_PARAM_CHARS = 6000
CONFUSION_METRIC = "val_confusion_best"  # K x K ints (rows: true class, columns: predicted) at the best val epoch
CONFUSION_ARTIFACT = "confusion_best.json"  # {"matrix": [[...]], "class_names": [...] or null} on a child run
# The experiment tag MLflow 3.x's UI reads to pick an experiment's view. Without it the UI guesses and may open the
# GenAI "traces" view with a prompt to choose a type; "custom_model_development" is its "Machine learning" kind, the
# model-training view (runs, metrics, charts). MLflow's Python package defines no constant for either: the key and
# value are those of its UI (ExperimentKind.CUSTOM_MODEL_DEVELOPMENT in mlflow/server/js) and of its onboarding
# skill (mlflow/assistant/skills/mlflow-onboarding/SKILL.md: "custom_model_development → Traditional ML use case").
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
TRAINING_EXPERIMENT_KIND = "custom_model_development"
RUN_NAME_SEPARATOR = " · "
BEST_TRIAL_RUN_TAG = "best_trial_run_id"  # on the parent run: the child run of the best trial
BEST_TRIAL_TAG = "best_trial"  # on the parent run: that trial's name
DESCRIPTION_LIMIT = MAX_TAG_VAL_LENGTH  # MLflow keeps a run description (a tag value) up to this many characters


def ensure_training_experiment(client: MlflowClient, name: str) -> str:
    """The id of experiment ``name``, created tagged as a model-training experiment (``EXPERIMENT_KIND_TAG``); an
    existing one that lacks the tag (made by an older actrec) gets it, one whose kind someone chose keeps it."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name, tags={EXPERIMENT_KIND_TAG: TRAINING_EXPERIMENT_KIND})
    tag_training_kind(client, experiment)
    return experiment.experiment_id


def tag_training_kind(client: MlflowClient, experiment: Experiment) -> None:
    """Tag ``experiment`` as a model-training experiment unless it already names a kind."""
    if not experiment.tags.get(EXPERIMENT_KIND_TAG):
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, TRAINING_EXPERIMENT_KIND)


def parent_run_name(sweep: str, *parts: str | None, started: float | None = None) -> str:
    """A sweep's parent run name as a list of sweeps reads it, e.g. "cdc_theta · local · grid · 2026-12-06 06:41
    UTC": the sweep, the given ``parts`` that are set (profile, search) and the start time (epoch seconds; now)."""
    moment = datetime.datetime.fromtimestamp(time.time() if started is None else started, datetime.UTC)
    return RUN_NAME_SEPARATOR.join([sweep, *(p for p in parts if p), moment.strftime("%Y-%m-%d %H:%M UTC")])


def publish_results(
    tracking_uri: str,
    run_id: str,
    *,
    description: str,
    metric: str,
    value: float | None,
    best_run_id: str = "",
    best_name: str = "",
) -> None:
    """Put a sweep's results where the MLflow UI shows them first, on its parent run ``run_id``.

    ``description`` (Markdown, which the UI renders on the run page) becomes the run's description (the
    ``mlflow.note.content`` tag), cut at a line to ``DESCRIPTION_LIMIT`` characters with a closing remark; ``value``
    is logged as metric ``best_<metric>`` (a column of the experiment's run list, so sweeps compare at a glance), and
    the best trial's run id and name as tags (tags, not params: a resumed sweep or a rebuilt report may change the
    best trial, and MLflow params cannot change). The experiment gets the training kind if it lacks one, so
    experiments of older sweeps open in the training view once their report is rebuilt.
    """
    client = MlflowClient(tracking_uri)
    run = client.get_run(run_id)
    tag_training_kind(client, client.get_experiment(run.info.experiment_id))
    client.set_tag(run_id, MLFLOW_RUN_NOTE, _fit_description(description))
    if value is not None:
        client.log_metric(run_id, f"best_{metric}", float(value))
    if best_run_id:
        client.set_tag(run_id, BEST_TRIAL_RUN_TAG, best_run_id)
    if best_name:
        client.set_tag(run_id, BEST_TRIAL_TAG, best_name)


def _fit_description(text: str) -> str:
    if len(text) <= DESCRIPTION_LIMIT:
        return text
    remark = f"\n\n_(cut to the {DESCRIPTION_LIMIT} characters MLflow keeps; the report files have it all)_"
    kept = text[: DESCRIPTION_LIMIT - len(remark)]
    return kept[: kept.rfind("\n") if "\n" in kept else len(kept)] + remark


class SweepTracker:
    """The parent run of one sweep and the child runs of its trials."""

    def __init__(self, tracking_uri: str, sweep: str) -> None:
        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri)
        self.experiment_id = ensure_training_experiment(self.client, EXPERIMENT_PREFIX + sweep)
        self.sweep = sweep
        self.parent_run_id: str | None = None
        self._children: dict[str, str] = {}
        # Trials MLflow already holds as FINISHED when a sweep resumes: Tune's state file can lag a trial's end,
        # so Tune may start one again (it then restores its final checkpoint and trains nothing); leave its run as is.
        self._finished: set[str] = set()

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its RunConfig (with this callback) into tuner.pkl; the client is rebuilt on load.
        return {k: v for k, v in self.__dict__.items() if k != "client"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.client = MlflowClient(self.tracking_uri)

    def start(
        self,
        *,
        sweep_dir: str,
        tags: Mapping[str, str],
        params: Mapping[str, Any],
        resume: bool,
        profile: str | None = None,
        search: str | None = None,
        run_name: str | None = None,
    ) -> str:
        """Create the parent run, or reopen the one that belongs to ``sweep_dir`` when resuming.

        The run is named ``run_name`` if given, else by :func:`parent_run_name` from the sweep, ``profile`` and
        ``search`` (default: the ``tags`` of those names) and its start time. A resumed run keeps its name, unless it
        still has the sweep directory's name that actrec gave parent runs before.
        """
        profile = profile if profile is not None else tags.get("profile")
        search = search if search is not None else tags.get("search")
        existing = self._find_runs(f"tags.sweep_dir = '{sweep_dir}' and tags.role = 'sweep'") if resume else []
        if existing:
            run = existing[0]
            self.parent_run_id = run.info.run_id
            name = None
            if run_name or run.info.run_name == os.path.basename(sweep_dir):
                name = run_name or parent_run_name(self.sweep, profile, search, started=run.info.start_time / 1000)
            self.client.update_run(self.parent_run_id, status=RunStatus.to_string(RunStatus.RUNNING), name=name)
            for child in self._find_runs(f"tags.`mlflow.parentRunId` = '{self.parent_run_id}'"):
                trial_id = child.data.tags.get("trial_id", "")
                self._children[trial_id] = child.info.run_id
                if child.info.status == "FINISHED":
                    self._finished.add(trial_id)
                elif child.info.status == "RUNNING":
                    # Left RUNNING by a driver that died without cleaning up (SIGKILL, a lost head node): it was
                    # interrupted. FAILED until Tune restarts the trial, which reopens this same run.
                    self.client.set_terminated(child.info.run_id, status="FAILED")
            return self.parent_run_id
        started = time.time()
        run = self.client.create_run(
            self.experiment_id,
            start_time=int(started * 1000),
            run_name=run_name or parent_run_name(self.sweep, profile, search, started=started),
            tags={**tags, "role": "sweep", "sweep": self.sweep, "sweep_dir": sweep_dir},
        )
        self.parent_run_id = run.info.run_id
        self._log_params(self.parent_run_id, params)
        return self.parent_run_id

    def child_run(
        self, trial_id: str, *, run_name: str, tags: Mapping[str, str], params: Mapping[str, Any]
    ) -> str | None:
        """The child run of a trial, created on first sight and reopened after a resume; None for a trial whose
        run was already FINISHED when the sweep resumed (it is left exactly as it was)."""
        if trial_id in self._finished:
            return None
        if trial_id in self._children:
            run_id = self._children[trial_id]
            self.client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
            return run_id
        run = self.client.create_run(
            self.experiment_id,
            run_name=run_name,
            tags={
                **tags,
                "role": "trial",
                "sweep": self.sweep,
                "trial_id": trial_id,
                "mlflow.parentRunId": self.parent_run_id,
            },
        )
        self._children[trial_id] = run.info.run_id
        self._log_params(run.info.run_id, params)
        return run.info.run_id

    def live_run_id(self, trial_id: str) -> str | None:
        """The trial's run if this sweep may still write to it (None if unknown or FINISHED before a resume)."""
        return None if trial_id in self._finished else self._children.get(trial_id)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        if batch:
            self.client.log_batch(run_id, metrics=batch)

    def end_run(self, run_id: str, status: str) -> None:
        self.client.set_terminated(run_id, status=status)

    def log_artifact(self, local_path: str, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.parent_run_id, local_path, artifact_path)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.parent_run_id, text, artifact_file)

    def log_run_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """A text artifact on any run of this sweep (e.g. a trial's ``confusion_best.json``)."""
        self.client.log_text(run_id, text, artifact_file)

    def log_run_bytes(self, run_id: str, data: bytes, artifact_file: str) -> None:
        """A binary artifact (e.g. a trial's ``predictions_best.npz``) on any run of this sweep."""
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, os.path.basename(artifact_file))
            with open(path, "wb") as f:
                f.write(data)
            self.client.log_artifact(run_id, path, os.path.dirname(artifact_file) or None)

    def set_tag(self, key: str, value: str) -> None:
        """A tag on the parent run."""
        self.client.set_tag(self.parent_run_id, key, value)

    def close(self, status: str) -> None:
        """End the parent run and mark any child still RUNNING with ``status`` (e.g. FAILED on interrupt)."""
        if self.parent_run_id is None:
            return
        for run_id in self._children.values():
            if self.client.get_run(run_id).info.status == "RUNNING":
                self.client.set_terminated(run_id, status=status)
        self.client.set_terminated(self.parent_run_id, status=status)

    def _find_runs(self, filter_string: str):
        return self.client.search_runs(
            [self.experiment_id], filter_string=filter_string, order_by=["attributes.start_time DESC"], max_results=1000
        )

    def _log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        items = [Param(k, str(v)[:MAX_PARAM_CHARS]) for k, v in sorted(params.items())]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i : i + 100])


class MLflowTuneCallback(tune.Callback):
    """Driver-side Tune callback: trial start → child run with every dotted config value as a param,
    each result → per-epoch metrics (each epoch once, the first values that arrive; a restored run's first result
    also brings the epochs checkpointed before it, ``RESTORED_EPOCHS_METRIC``), completion → ``confusion_best.json``
    artifact and run status, error → run status."""

    def __init__(self, tracker: SweepTracker, trial_params, tags: Mapping[str, str]) -> None:
        self.tracker = tracker
        self.trial_params = trial_params  # trial.config -> dotted params dict
        self.tags = dict(tags)
        self._confusion: dict[str, list[list[int]]] = {}  # trial_id -> newest val_confusion_best seen
        self._predictions: dict[str, Any] = {}  # trial_id -> newest val_predictions_best seen
        self._logged: dict[str, set[int]] = {}  # trial_id -> epochs (MLflow steps) its run has metrics of

    def on_trial_start(self, iteration, trials, trial, **info):
        self.tracker.child_run(
            trial.trial_id,
            run_name=str(trial),
            tags={**self.tags, "trial_name": str(trial)},
            params=self.trial_params(trial.config),
        )

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if self.tracker.live_run_id(trial.trial_id) is None:
            self.on_trial_start(iteration, trials, trial)
        run_id = self.tracker.live_run_id(trial.trial_id)
        if run_id is not None:
            if trial.trial_id not in self._logged:  # a resumed sweep's trial may have epochs logged already
                history = self.tracker.client.get_metric_history(run_id, "val_top1")
                self._logged[trial.trial_id] = {m.step for m in history}
            # A restored run's first result also carries the epochs it resumed after, whose own results may have been
            # lost with the trial's driver; each epoch is logged once, the first time it arrives (a run retried from
            # scratch re-runs epochs MLflow has: their first values stay).
            restored = result.get(RESTORED_EPOCHS_METRIC)
            earlier = [r for r in restored if isinstance(r, Mapping)] if isinstance(restored, list | tuple) else []
            for epoch_result in [*earlier, result]:
                self._log_epoch(trial.trial_id, run_id, epoch_result)
        confusion = result.get(CONFUSION_METRIC)
        if isinstance(confusion, list | tuple) and confusion:
            self._confusion[trial.trial_id] = [[int(v) for v in row] for row in confusion]
        predictions = result.get(evidence.PREDICTIONS_METRIC)
        if isinstance(predictions, Mapping):
            self._predictions[trial.trial_id] = predictions

    def _log_epoch(self, trial_id: str, run_id: str, result: Mapping[str, Any]) -> None:
        """One epoch's result as MLflow metrics at step ``epoch``, unless the run has that step already: the fixed
        metrics, and the named loss terms (train_<term>) of models with their own training loss."""
        step = int(result.get("epoch", result.get("training_iteration", 0)))
        if step in self._logged[trial_id]:
            return
        metrics = {k: v for k, v in result.items() if (k in LOGGED_METRICS or k.startswith("train_")) and _is_number(v)}
        self.tracker.log_metrics(run_id, metrics, step=step)
        self._logged[trial_id].add(step)

    def on_trial_complete(self, iteration, trials, trial, **info):
        run_id = self.tracker.live_run_id(trial.trial_id)
        confusion = self._confusion.pop(trial.trial_id, None)
        if run_id is not None and confusion is not None:
            try:
                payload = {"matrix": confusion, "class_names": self._class_names(trial, len(confusion))}
                self.tracker.log_run_text(run_id, json.dumps(payload), CONFUSION_ARTIFACT)
            except Exception as err:  # the matrix is a report extra: never fail the sweep over it
                print(f"[actrec] could not log {CONFUSION_ARTIFACT} for trial {trial}: {err}", file=sys.stderr)
        predictions = self._predictions.pop(trial.trial_id, None)
        if run_id is not None and predictions is not None:
            try:
                self.tracker.log_run_bytes(run_id, self._evidence(trial, predictions), evidence.PREDICTIONS_ARTIFACT)
            except Exception as err:  # without it the report's claims say so; the trial itself finished
                print(
                    f"[actrec] could not log {evidence.PREDICTIONS_ARTIFACT} for trial {trial}: {err}", file=sys.stderr
                )
        self._tag_stopped_early(trial, run_id)
        self._end(trial, "FINISHED")

    def _tag_stopped_early(self, trial, run_id: str | None) -> None:
        """A trial that completed before its last epoch was stopped by the scheduler (ASHA): MLflow shows it FINISHED
        like the rest, so it is tagged ``stopped_early=true`` with ``epochs_run`` and ``epochs_planned``."""
        planned = int(self.trial_params(trial.config).get("train.epochs", 0) or 0)
        last = getattr(trial, "last_result", None) or {}
        ran = last.get("epoch", last.get("training_iteration"))
        if run_id is None or not planned or not _is_number(ran) or int(ran) >= planned:
            return
        for key, value in (("stopped_early", "true"), ("epochs_run", str(int(ran))), ("epochs_planned", str(planned))):
            self.tracker.client.set_tag(run_id, key, value)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._confusion.pop(trial.trial_id, None)
        self._predictions.pop(trial.trial_id, None)
        self._end(trial, "FAILED")

    def _evidence(self, trial, predictions: Mapping[str, Any]) -> bytes:
        """The NPZ of a trial's per-clip predictions, with each clip's sample key when the dataset index is read."""
        arrays = evidence.to_arrays(predictions)
        try:
            keys = dataset_sample_keys(self.trial_params(trial.config))
        except Exception:  # best effort: the ids alone pair the clips
            keys = None
        return evidence.encode(evidence.with_keys(arrays, keys) if keys else arrays)

    def _end(self, trial, status: str) -> None:
        run_id = self.tracker.live_run_id(trial.trial_id)
        if run_id is not None:
            self.tracker.end_run(run_id, status)

    def _class_names(self, trial, num_classes: int) -> list[str] | None:
        """Class names from the dataset index of the trial's data config; None when they cannot be read."""
        try:
            return dataset_class_names(self.trial_params(trial.config), num_classes)
        except Exception:  # best effort: a missing or foreign index only costs the tick labels
            return None


def dataset_class_names(params: Mapping[str, Any], num_classes: int) -> list[str] | None:
    """``class_names`` of the index.json of the dataset a dotted config names, if it lists ``num_classes`` of them.

    Never generates data: the synthetic set's cache directory is only looked up.
    """
    from actrec.config import from_flat
    from actrec.data.config import dataset_root
    from actrec.data.shards import load_index

    root = dataset_root(from_flat(params).data)
    names = load_index(root).get("class_names")
    if not isinstance(names, list) or len(names) != num_classes:
        return None
    return [str(n) for n in names]


def dataset_sample_keys(params: Mapping[str, Any]) -> list[str]:
    """Every sample key of the index.json of the dataset a dotted config names (never generates data)."""
    from actrec.config import from_flat
    from actrec.data.config import dataset_root
    from actrec.data.shards import load_index

    index = load_index(dataset_root(from_flat(params).data))
    return [sample["key"] for shard in index.get("shards", ()) for sample in shard.get("samples", ())]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
