"""Turn a sweep's MLflow runs into the paper-shaped table (measured mean ± std | paper | Δ) plus pictures.

Everything is read back from MLflow: the parent run carries the table definition (``table_spec.json``),
the child runs carry each trial's dotted config as params, its metrics (the table metric, ``model_params``,
``model_gflops``) and its ``confusion_best.json``. Writes ``<sweep>.md``, ``<sweep>.html``, ``<sweep>_plot.png``
(when the table defines a plot) and ``<sweep>_confusion.png`` (the best trial's confusion matrix, when logged)
under ``out_dir``.

Each table column shows the measured mean ± std over seeds with the number of seeds n, the paper's value as
transcribed, and Δ = measured mean − paper. Complexity columns (``TableSpec.complexity``) show what the trials
measured beside the paper's value; a row with a ``reference`` config also shows the parameter count of that
model built at the paper's size, since the trained model may be a CPU-tiny version of it.

:func:`write_report` also publishes the table to MLflow (``publish=True``, the default), so the UI shows the result
where a reader looks first: the parent run's description holds the title, the table with its notes and the summary
(:func:`description_markdown`), and the parent run gets the best trial's metric. Both the sweep driver and
``actrec report`` rebuild it, so a report regenerated later refreshes the run too.
"""

from __future__ import annotations

import dataclasses
import datetime
import html
import json
import math
import os
import statistics
import sys
import tempfile
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from actrec.report import claims as claim_checks
from actrec.report.claims import ClaimResult, wilson_interval
from actrec.report.search import SearchRecord, load_search, remove_stale_figures, search_section
from actrec.report.spec import TableSpec, matches
from actrec.track import evidence, provenance
from actrec.track.mlflow_tracker import CONFUSION_ARTIFACT, EXPERIMENT_PREFIX, publish_results

NOT_LOGGED = "not logged"
COMPLEXITY_LABELS = {"params_m": "Params (M)", "gflops": "GFLOPs", "frames": "Frames"}
PAPER_SIZE_LABEL = "params at paper size (M)"
MAX_LABELLED_CLASSES = 60  # beyond this many classes the confusion matrix has no tick labels
METADATA_PREFIX = "<!-- actrec-report "  # machine-readable summary at the end of <sweep>.md, read by the index


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrialRecord:
    """One child run as the report sees it."""

    name: str
    status: str
    params: Mapping[str, str]
    value: float | None  # the table metric (best validation top-1 by default)
    final_top1: float | None
    epochs: int
    seconds: float
    run_id: str = ""
    model_params: float | None = None  # parameter count (trial metric model_params); None for old runs
    model_gflops: float | None = None  # GFLOPs of one clip (trial metric model_gflops); None for old runs
    val_clips: float | None = None  # clips of one evaluation (trial metric val_clips)
    commit: str = ""  # the git commit tag the sweep gave the run ("" for runs from before it did)
    stopped_early: bool = False  # the scheduler (ASHA) stopped it before its last epoch (tag stopped_early)
    started: float = 0.0  # epoch seconds the run started (a search's trials in the order they were sampled)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepRecord:
    spec: TableSpec
    parent_run_id: str
    parent_status: str
    params: Mapping[str, str]
    trials: tuple[TrialRecord, ...]
    started: float  # epoch seconds
    ended: float | None
    # The parent run's provenance records (actrec.track.provenance), first invocation first; () for older sweeps.
    provenance: tuple[Mapping[str, Any], ...] = ()
    search: SearchRecord | None = None  # an Optuna search's declaration (``search_space.json``); None for a grid


def load_sweep(tracking_uri: str, sweep: str, parent_run_id: str | None = None) -> SweepRecord:
    """Read the newest (or the given) parent run of ``sweep`` and all its trials from MLflow."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT_PREFIX + sweep)
    if experiment is None:
        raise SystemExit(f"no MLflow experiment {EXPERIMENT_PREFIX + sweep!r} at {tracking_uri}: run the sweep first")
    if parent_run_id is None:
        parents = client.search_runs(
            [experiment.experiment_id], "tags.role = 'sweep'", order_by=["attributes.start_time DESC"], max_results=1
        )
        if not parents:
            raise SystemExit(f"no sweep runs in experiment {EXPERIMENT_PREFIX + sweep!r} at {tracking_uri}")
        parent_run_id = parents[0].info.run_id
    parent = client.get_run(parent_run_id)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(parent_run_id, "table_spec.json", tmp)
        except MlflowException as err:
            raise SystemExit(
                f"sweep {sweep!r}: parent run {parent_run_id} has no table_spec.json artifact ({err.message})"
            ) from None
        with open(path) as f:
            spec = TableSpec.from_json(f.read())
    children = client.search_runs(
        [experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_run_id}'", max_results=5000
    )
    trials = []
    for run in children:
        metrics = run.data.metrics
        history = client.get_metric_history(run.info.run_id, "val_top1")
        trials.append(
            TrialRecord(
                name=run.info.run_name or run.info.run_id,
                status=run.info.status,
                params=run.data.params,
                value=metrics.get(spec.metric),
                final_top1=metrics.get("val_top1"),
                epochs=max((m.step for m in history), default=0),
                seconds=sum(m.value for m in client.get_metric_history(run.info.run_id, "epoch_time_s")),
                run_id=run.info.run_id,
                model_params=metrics.get("model_params"),
                model_gflops=metrics.get("model_gflops"),
                val_clips=metrics.get("val_clips"),
                commit=run.data.tags.get(provenance.COMMIT_TAG, ""),
                stopped_early=run.data.tags.get("stopped_early") == "true",
                started=run.info.start_time / 1000 if run.info.start_time else 0.0,
            )
        )
    trials.sort(key=lambda t: t.name)
    return SweepRecord(
        spec=spec,
        parent_run_id=parent_run_id,
        parent_status=parent.info.status,
        params=parent.data.params,
        trials=tuple(trials),
        started=parent.info.start_time / 1000,
        ended=parent.info.end_time / 1000 if parent.info.end_time else None,
        provenance=_provenance_records(client, parent_run_id),
        search=load_search(client, parent_run_id),
    )


def _provenance_records(client: MlflowClient, run_id: str) -> tuple[Mapping[str, Any], ...]:
    """The parent run's ``provenance.json`` then its ``provenance_resume_<time>.json`` records, in time order."""
    names = sorted(
        a.path
        for a in client.list_artifacts(run_id)
        if a.path == provenance.ARTIFACT or (a.path.startswith(provenance.RESUME_PREFIX) and a.path.endswith(".json"))
    )
    names.sort(key=lambda n: n != provenance.ARTIFACT)  # the first invocation first, resumes by their time stamp
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            with open(client.download_artifacts(run_id, name, tmp)) as f:
                try:
                    records.append(json.load(f))
                except ValueError:
                    records.append({"git": {"commit": "unreadable " + name}})
    return tuple(records)


def cell_values(record: SweepRecord, match: Mapping[str, Any]) -> list[float]:
    """Metric values of the trials whose config has every value of ``match`` (one per seed)."""
    return [t.value for t in record.trials if _has_value(t) and matches(t.params, match)]


def format_measured(values: Sequence[float], wilson: tuple[float, float] | None = None) -> str:
    """``mean ± std (n=N)``; one seed has no spread to report, so it reads ``mean (n=1)``, never a fake ± 0. With
    ``wilson`` (the pooled accuracy's 95% Wilson interval), `` [low, high]`` follows."""
    if not values:
        return "—"
    mean = statistics.fmean(values)
    text = f"{mean:.1f} (n=1)" if len(values) == 1 else f"{mean:.1f} ± {statistics.stdev(values):.1f} (n={len(values)})"
    return text + (f" [{wilson[0]:.1f}, {wilson[1]:.1f}]" if wilson else "")


ACCURACY_METRICS = ("val_best_top1", "val_top1")  # percent of val_clips correct: a Wilson interval applies


def cell_wilson(record: SweepRecord, match: Mapping[str, Any]) -> tuple[float, float] | None:
    """95% Wilson interval of the cell's mean accuracy as from one evaluation's clips (test-set sampling only: the
    seeds are re-evaluations of the same clips, so pooling them would not add information; their spread is the
    ± std); None when the table metric is not an accuracy or a trial did not log its clip count."""
    if record.spec.metric not in ACCURACY_METRICS:
        return None
    trials = [t for t in record.trials if _has_value(t) and matches(t.params, match)]
    if not trials or any(not t.val_clips for t in trials):
        return None
    clips = int(min(t.val_clips for t in trials))
    mean = statistics.fmean(t.value for t in trials)
    return wilson_interval(round(mean * clips / 100.0), clips)


def format_paper(value: Any) -> str:
    """The paper's value exactly as transcribed (61.26 keeps two decimals, 91.0 keeps one, 32 frames stay 32)."""
    if value is None:
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return str(float(value))


def format_delta(values: Sequence[float], paper: float | None) -> str:
    """Measured mean − paper, signed with one decimal; "—" when either side is missing."""
    if not values or paper is None:
        return "—"
    delta = statistics.fmean(values) - float(paper)
    text = f"{delta:+.1f}"
    return "+0.0" if text == "-0.0" else text


def build_table(
    record: SweepRecord, *, paper_size_params: Mapping[str, float] | None = None
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the paper's table: per column measured | paper | Δ, then the complexity columns.

    ``paper_size_params`` maps a row label to its reference model's parameter count in millions
    (:func:`paper_size_parameters`); without it the "params at paper size" cells read "—".
    """
    spec = record.spec
    extra_keys = sorted({k for row in spec.rows for k in row.extra})
    header = ["Setting", *extra_keys]
    for col in spec.columns:
        header += [f"{col.label} measured (mean ± std, n)", f"{col.label} paper", f"{col.label} Δ"]
    for key in spec.complexity:
        header += [f"{COMPLEXITY_LABELS[key]} measured", f"{COMPLEXITY_LABELS[key]} paper"]
    with_reference = any(row.reference for row in spec.rows)
    if with_reference:
        header.append(PAPER_SIZE_LABEL)
    rows = []
    for row in spec.rows:
        cells = [row.label, *[str(row.extra.get(k, "")) for k in extra_keys]]
        for col in spec.columns:
            values = cell_values(record, {**row.match, **col.match})
            paper = row.paper.get(col.label)
            wilson = cell_wilson(record, {**row.match, **col.match})
            cells += [format_measured(values, wilson), format_paper(paper), format_delta(values, paper)]
        trials = [t for t in record.trials if matches(t.params, row.match)]
        for key in spec.complexity:
            cells += [_complexity_cell(trials, key), format_paper(row.paper_complexity.get(key))]
        if with_reference:
            size = (paper_size_params or {}).get(row.label)
            cells.append(f"{size:.1f}" if size is not None else "—")
        rows.append(cells)
    return header, rows


def reference_parameters(reference: Mapping[str, Any], cache: dict[str, float] | None = None) -> float:
    """Parameters (millions) of the model a dotted ``model.*`` config describes, built through the registry.

    ``cache`` (keyed by the config) avoids building the same paper-size model twice in one report run. The model is
    built on PyTorch's ``meta`` device: shapes without storage or initialisation, so a ViT-B counts in milliseconds
    rather than a second (tests/test_report_table.py checks the count against a real build).
    """
    key = json.dumps(dict(reference), sort_keys=True, default=str)
    if cache is not None and key in cache:
        return cache[key]
    from actrec.config import coerce
    from actrec.models import build_model, model_config
    from actrec.models.complexity import count_parameters

    bad = [k for k in reference if not k.startswith("model.")]
    if bad or "model.name" not in reference:
        raise ValueError(f"Row.reference must be dotted model.* keys including model.name, got {sorted(reference)}")
    name = str(reference["model.name"])
    hints = typing.get_type_hints(type(model_config(name)))
    overrides = {}
    for dotted, value in reference.items():
        field = dotted.removeprefix("model.")
        if field == "name":
            continue
        if field not in hints:
            raise ValueError(f"Row.reference: {dotted} is not a field of model {name!r}")
        overrides[field] = coerce(value, hints[field])
    import torch

    with torch.device("meta"):
        model = build_model(model_config(name, **overrides))
    millions = count_parameters(model) / 1e6
    if cache is not None:
        cache[key] = millions
    return millions


def paper_size_parameters(spec: TableSpec, cache: dict[str, float] | None = None) -> dict[str, float]:
    """Row label → parameters (millions) of the row's ``reference`` model, for every row that has one."""
    cache = {} if cache is None else cache
    out = {}
    for row in spec.rows:
        if row.reference:
            try:
                out[row.label] = reference_parameters(row.reference, cache)
            except (TypeError, ValueError) as err:
                raise ValueError(f"table row {row.label!r}: cannot build its reference model: {err}") from None
    return out


def best_trial(record: SweepRecord) -> TrialRecord | None:
    """The finished trial with the highest table metric (the first by name on a tie); None when no trial has one."""
    candidates = [t for t in record.trials if _has_value(t) and t.status == "FINISHED"]
    return max(candidates, key=lambda t: t.value, default=None)


def _has_value(trial: TrialRecord) -> bool:
    """Whether the trial's table metric counts: logged, and from all its epochs (a trial ASHA stopped early has the
    accuracy of fewer epochs; it is listed among the trials, never in a cell, a claim or as the best)."""
    return trial.value is not None and not math.isnan(trial.value) and not trial.stopped_early


def _complexity_cell(trials: Sequence[TrialRecord], key: str) -> str:
    """What the row's trials measured; the range when they disagree; "not logged" for runs that predate it."""
    if not trials:
        return "—"
    if key == "frames":
        values = [float(t.params["data.num_frames"]) for t in trials if "data.num_frames" in t.params]
    elif key == "params_m":
        values = [t.model_params / 1e6 for t in trials if t.model_params is not None]
    else:
        values = [t.model_gflops for t in trials if t.model_gflops is not None]
    if not values:
        return NOT_LOGGED
    low, high = _format_quantity(min(values), key), _format_quantity(max(values), key)
    return low if low == high else f"{low}–{high}"


def _format_quantity(value: float, key: str) -> str:
    if key == "frames":
        return str(int(round(value)))
    # Paper-size models are tens of millions of parameters / GFLOPs; CPU-tiny ones are thousandths of that.
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:#.3g}"


def _seeds(record: SweepRecord) -> str:
    seeds = sorted({t.params.get("train.seed", "?") for t in record.trials}, key=_seed_order)
    return f"{len(seeds)} ({', '.join(seeds)})"


def _seed_order(seed: str) -> tuple[int, str]:
    return (int(seed), "") if seed.isdigit() else (1 << 30, seed)


def _best_text(record: SweepRecord, best: TrialRecord | None) -> str:
    if best is None:
        return "none (no trial logged the table metric)"
    spec = record.spec
    keys = sorted({k for row in spec.rows for k in row.match} | {k for c in spec.columns for k in c.match})
    if record.search:  # a search's best trial is told apart by its sampled values
        keys = sorted(set(keys) | set(record.search.distributions))
    setting = ", ".join(f"{k}={best.params[k]}" for k in keys if k in best.params)
    return f"`{best.name}` ({spec.metric_label} {best.value:.1f}" + (f"; {setting})" if setting else ")")


def _summary(record: SweepRecord, tracking_uri: str, best: TrialRecord | None) -> list[tuple[str, str]]:
    params = record.params
    datasets = sorted({t.params.get("data.dataset", "?") for t in record.trials})
    protocols = sorted({t.params.get("data.protocol", "?") for t in record.trials})
    finished = sum(t.status == "FINISHED" for t in record.trials)
    compute = sum(t.seconds for t in record.trials)
    wall = (record.ended or datetime.datetime.now().timestamp()) - record.started
    models = sorted({t.params.get("model.name", "?") for t in record.trials})
    return [
        ("Paper", _paper_text(record.spec)),
        ("Paper's setting", record.spec.paper_setting),
        ("Measured on", f"dataset {', '.join(datasets)}, protocol {', '.join(protocols)}, model {', '.join(models)}"),
        ("Profile", params.get("profile", "?")),
        ("Metric", f"{record.spec.metric_label} (`{record.spec.metric}`), mean ± std over seeds"),
        ("Seeds", _seeds(record)),
        *_readings(record),
        ("Trials", f"{len(record.trials)} ({finished} finished); sweep status {record.parent_status}"),
        ("Best trial", _best_text(record, best)),
        ("Compute time", f"{compute / 60:.1f} trial-minutes of training and validation; {wall / 60:.1f} min wall"),
        ("MLflow", f"parent run `{record.parent_run_id}` at `{tracking_uri}`"),
    ]


def _readings(record: SweepRecord) -> list[tuple[str, str]]:
    """The values the trials used for each reading the paper leaves open (``TableSpec.readings``)."""
    if not record.spec.readings or not record.trials:
        return []
    shown = []
    for key in record.spec.readings:
        counts: dict[str, int] = {}
        for trial in record.trials:
            value = trial.params.get(key, "not logged (a run from before the knob)")
            counts[value] = counts.get(value, 0) + 1
        if len(counts) == 1:
            shown.append(f"`{key}={next(iter(counts))}` (every trial)")
        else:
            shown.append(f"`{key}`: " + ", ".join(f"{v} ({n} trials)" for v, n in sorted(counts.items())))
    return [("Readings measured", "; ".join(shown))]


def _paper_text(spec: TableSpec) -> str:
    """The paper, table and caption, and the paper's citation (none in specs logged before it was recorded)."""
    text = f"{spec.paper}, {spec.table}: {spec.title}"
    return f"{text} ({spec.citation})" if spec.citation else text


def _synthetic_note(record: SweepRecord) -> str | None:
    if any(t.params.get("data.dataset") == "synthetic" for t in record.trials):
        return (
            "**Synthetic data.** These numbers were measured on actrec's built-in synthetic RGB-D clips, "
            "not on the paper's dataset: they show the pipeline works and how the knobs behave at toy scale, "
            "and are not comparable in absolute value to the paper's column."
        )
    return None


def _row_notes(spec: TableSpec) -> list[tuple[str, str]]:
    """Notes printed under the table: the rows', then the columns' (e.g. a profile's synthetic stand-ins)."""
    return [(row.label, row.note) for row in spec.rows if row.note] + [
        (column.label, column.note) for column in spec.columns if column.note
    ]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot(record: SweepRecord, path: str) -> str | None:
    plot = record.spec.plot
    if plot is None:
        return None
    series: dict[tuple[str, ...], dict[float, list[float]]] = {}
    for t in record.trials:
        if not _has_value(t) or plot.x not in t.params or not matches(t.params, plot.match):
            continue
        key = tuple(t.params.get(k, "?") for k in plot.series)
        if plot.by_column:
            column = next((c.label for c in record.spec.columns if matches(t.params, c.match)), None)
            if column is None:
                continue
            key = (column, *key)
        series.setdefault(key, {}).setdefault(float(t.params[plot.x]), []).append(t.value)
    if not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for key, points in sorted(series.items()):
        xs = sorted(points)
        means = [statistics.fmean(points[x]) for x in xs]
        stds = [statistics.stdev(points[x]) if len(points[x]) > 1 else 0.0 for x in xs]
        ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=", ".join(key))
    ax.set_xlabel(plot.x_label or plot.x)
    ax.set_ylabel(record.spec.metric_label)
    ax.set_title(f"{record.spec.paper} {record.spec.table} — measured")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def load_confusion(client: MlflowClient, trial: TrialRecord) -> tuple[list[list[float]], list[str] | None] | None:
    """The trial's ``confusion_best.json`` (matrix, class names); None when the run has no such artifact.

    Raises ValueError naming the trial when the artifact is there but is not a square matrix.
    """
    if not trial.run_id:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(trial.run_id, CONFUSION_ARTIFACT, tmp)
        except MlflowException:
            return None
        with open(path) as f:
            payload = json.load(f)
    matrix = payload.get("matrix") if isinstance(payload, dict) else None
    size = len(matrix) if isinstance(matrix, list) else 0
    if not size or not all(isinstance(r, list) and len(r) == size for r in matrix):
        raise ValueError(f"{CONFUSION_ARTIFACT} of trial {trial.name} does not hold a square 'matrix'")
    names = payload.get("class_names")
    names = [str(n) for n in names] if isinstance(names, list) and len(names) == size else None
    return [[float(v) for v in r] for r in matrix], names


def row_normalised(matrix: Sequence[Sequence[float]]) -> list[list[float]]:
    """Each row (true class) divided by its sum: a cell is the share of that class predicted as the column.

    A class with no validation clip keeps a row of zeros.
    """
    return [[v / sum(row) if sum(row) else 0.0 for v in row] for row in matrix]


def _confusion_plot(record: SweepRecord, tracking_uri: str, best: TrialRecord | None, path: str) -> str:
    """Draw the best trial's row-normalised confusion matrix to ``path``; returns a sentence for the report."""
    if os.path.exists(path):
        os.remove(path)  # never leave a previous run's picture beside a report that does not describe it
    if best is None:
        return "No trial logged the table metric, so there is no best trial to show."
    try:
        loaded = load_confusion(MlflowClient(tracking_uri), best)
    except ValueError as err:
        return f"Confusion matrix of the best trial `{best.name}` could not be read: {err}."
    if loaded is None:
        return (
            f"Confusion matrix of the best trial `{best.name}`: {NOT_LOGGED} "
            f"(its run has no `{CONFUSION_ARTIFACT}`; runs from before it was logged have none)."
        )
    matrix, names = loaded
    k = len(matrix)
    normalised = row_normalised(matrix)
    plt = _pyplot()
    side = min(16.0, max(5.0, 0.25 * k + 3.0))
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    image = ax.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    if k <= MAX_LABELLED_CLASSES:
        labels = names or [str(i) for i in range(k)]
        ax.set_xticks(range(k), labels, rotation=90, fontsize=max(5, 10 - k // 10))
        ax.set_yticks(range(k), labels, fontsize=max(5, 10 - k // 10))
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    if k <= 12:
        for i, r in enumerate(normalised):
            for j, v in enumerate(r):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v > 0.5 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"{best.name}: {record.spec.metric_label} {best.value:.1f}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    total = int(sum(sum(r) for r in matrix))
    return (
        f"Best trial `{best.name}` ({record.spec.metric_label} {best.value:.1f}) at its best validation epoch: "
        f"{k} classes, {total} validation clips; each row normalised to sum to 1."
    )


def _trial_rows(record: SweepRecord) -> tuple[list[str], list[list[str]]]:
    keys = sorted(
        {k for row in record.spec.rows for k in row.match}
        | {k for c in record.spec.columns for k in c.match}
        | {"train.seed"}
    )
    if record.spec.plot:
        keys = sorted(set(keys) | {record.spec.plot.x, *record.spec.plot.series})
    if record.search:
        keys = sorted(set(keys) | set(record.search.distributions))
    header = [
        "trial",
        *keys,
        "best val top-1",
        "final val top-1",
        "params (M)",
        "GFLOPs",
        "epochs",
        "train+val s",
        "status",
    ]
    rows = []
    for t in record.trials:
        rows.append(
            [
                t.name,
                *[t.params.get(k, "") for k in keys],
                _num(t.value),
                _num(t.final_top1),
                _format_quantity(t.model_params / 1e6, "params_m") if t.model_params is not None else NOT_LOGGED,
                _format_quantity(t.model_gflops, "gflops") if t.model_gflops is not None else NOT_LOGGED,
                str(t.epochs),
                f"{t.seconds:.0f}",
                f"{t.status} (stopped early)" if t.stopped_early else t.status,
            ]
        )
    return header, rows


def _num(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.1f}"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(h.replace("|", "\\|") for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def report_metadata(md_path: str) -> dict[str, str] | None:
    """The summary :func:`write_report` embeds at the end of ``<sweep>.md``; None for Markdown without it."""
    with open(md_path) as f:
        for line in f:
            if line.startswith(METADATA_PREFIX):
                return json.loads(line[len(METADATA_PREFIX) :].rsplit("-->", 1)[0])
    return None


def _complexity_legend(spec: TableSpec) -> str:
    with_reference = any(row.reference for row in spec.rows)
    if not spec.complexity and not with_reference:
        return ""
    text = " Complexity: measured by the trials (a range when they differ) | the paper's value"
    return text + (f"; {PAPER_SIZE_LABEL}: the row's model built at the paper's size." if with_reference else ".")


TABLE_LEGEND = (
    "Per column: measured mean ± std over seeds with the number of seeds n (one seed: no spread) and, in brackets, "
    "the 95% Wilson interval of that mean accuracy over one evaluation's clips (test-set sampling only; the seeds' "
    "spread is the ± std); the paper's value as printed; and Δ = measured mean − paper."
)


def trial_evidence(client: MlflowClient, trial: TrialRecord) -> dict[int, bool] | None:
    """{clip id: predicted correctly} from the trial's ``predictions_best.npz``; None when the run has none."""
    if not trial.run_id:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(trial.run_id, evidence.PREDICTIONS_ARTIFACT, tmp)
        except MlflowException:
            return None
        try:
            arrays = evidence.decode(path)
        except ValueError as err:  # a damaged file: this trial has no usable evidence; the report goes on
            print(f"[actrec] {evidence.PREDICTIONS_ARTIFACT} of trial {trial.name}: {err}", file=sys.stderr)
            return None
    correct = arrays["pred"] == arrays["label"]
    return dict(zip(arrays["clip"].tolist(), correct.tolist(), strict=True))


def check_claims(
    record: SweepRecord, client: MlflowClient, evidence_cache: dict[str, dict[int, bool] | None] | None = None
) -> list[ClaimResult]:
    """Every claim of the sweep's table checked against its trials' per-clip predictions (``evidence_cache``:
    run id -> :func:`trial_evidence`, filled as trials are read)."""
    spec = record.spec
    cache = {} if evidence_cache is None else evidence_cache

    def cell(row_id: str, column_label: str) -> list[dict[int, bool]] | None:
        match = {**spec.row(row_id).match, **spec.column(column_label).match}
        trials = [t for t in record.trials if _has_value(t) and matches(t.params, match)]
        for t in trials:
            if t.run_id not in cache:
                cache[t.run_id] = trial_evidence(client, t)
        # The trials with evidence (the Seeds column counts them); None when the cell has trials but none has any.
        found = [cache[t.run_id] for t in trials if cache[t.run_id] is not None]
        return found if found or not trials else None

    return [claim_checks.check_claim(c, spec, cell(*c.a), cell(*c.b)) for c in spec.claims]


def capped_evidence_note(record: SweepRecord, evidence_cache: Mapping[str, dict[int, bool] | None]) -> str:
    """A sentence when a trial's per-clip predictions cover fewer clips than it evaluated (the training loop logs at
    most ``MAX_LOGGED_PREDICTIONS``, the smallest clip ids); "" otherwise."""
    capped = [
        (len(found), int(t.val_clips))
        for t in record.trials
        if (found := evidence_cache.get(t.run_id)) and t.val_clips and len(found) < t.val_clips
    ]
    if not capped:
        return ""
    return (
        f"Per-clip predictions cover {min(k for k, _ in capped):,} of up to {max(n for _, n in capped):,} "
        f"evaluation clips in {len(capped)} trial(s) (the logged cap keeps the clips with the smallest ids, the same "
        "in every trial of a dataset): their claims compare that subset."
    )


def claims_section(
    record: SweepRecord, results: Sequence[ClaimResult], evidence_note: str = ""
) -> tuple[str, list[list[str]] | None]:
    """The Claims section's lead sentence and table rows (None when the table declares no claims); ``evidence_note``
    (:func:`capped_evidence_note`) follows the tally."""
    spec = record.spec
    if not spec.claims:
        if spec.claims_note:
            return spec.claims_note, None
        return (
            "The table definition this sweep stored declares no claims (it predates claims as data): rerun the sweep "
            "with this actrec to check the paper's claims.",
            None,
        )
    tally = claim_checks.counts(results)
    shown = ", ".join(f"{n} {v}" for v, n in tally.items() if n)
    lead = f"{len(results)} claim(s) of the paper: {shown}. " + (evidence_note + " " if evidence_note else "")
    return lead + claim_checks.CLAIMS_LEGEND, claim_checks.claims_rows(results)


def write_report(
    tracking_uri: str,
    sweep: str,
    *,
    out_dir: str = "reports",
    parent_run_id: str | None = None,
    reference_cache: dict[str, float] | None = None,
    publish: bool = True,
) -> list[str]:
    """Write the report files for the newest (or given) run of ``sweep``; returns their paths, Markdown first.

    ``reference_cache`` shares paper-size parameter counts between the reports of one ``actrec report --all``.
    ``publish``: also put the table in the parent run's MLflow description and the best trial's metric on the
    parent run (:func:`actrec.track.mlflow_tracker.publish_results`); a failure there is reported on stderr and
    leaves the written files as they are.
    """
    record = load_sweep(tracking_uri, sweep, parent_run_id)
    evidence_cache: dict[str, dict[int, bool] | None] = {}
    results = check_claims(record, MlflowClient(tracking_uri), evidence_cache)
    claims_lead, claims_table = claims_section(record, results, capped_evidence_note(record, evidence_cache))
    provenance_lines = provenance.summary_lines(record.provenance, [t.commit for t in record.trials])
    # The verdicts are computed now, by this checkout's code, which may differ from the sweep's.
    provenance_lines.append(("Report built by", f"actrec {provenance.commit_label(provenance.git_state())}"))
    os.makedirs(out_dir, exist_ok=True)
    stem = os.path.join(out_dir, sweep)
    header, rows = build_table(record, paper_size_params=paper_size_parameters(record.spec, reference_cache))
    notes = _row_notes(record.spec)
    trial_header, trial_rows = _trial_rows(record)
    best = best_trial(record)
    summary = _summary(record, tracking_uri, best)
    note = _synthetic_note(record)
    plot_path = _plot(record, stem + "_plot.png")
    confusion_path = stem + "_confusion.png"
    confusion_text = _confusion_plot(record, tracking_uri, best, confusion_path)
    has_confusion = os.path.exists(confusion_path)
    remove_stale_figures(stem)
    search = search_section(record.search, record.trials, stem) if record.search else None
    title = f"{record.spec.paper} — {record.spec.table}: {record.spec.title}"
    now = datetime.datetime.now(datetime.UTC)
    generated = now.strftime("%Y-%m-%d %H:%M UTC")
    metadata = {
        "sweep": sweep,
        "title": title,
        "paper": record.spec.paper,
        "table": record.spec.table,
        "profile": record.params.get("profile", "?"),
        "generated": generated,
        "parent_run_id": record.parent_run_id,
        "verdicts": claim_checks.counts(results) if record.spec.claims else None,
    }
    complexity_legend = _complexity_legend(record.spec)

    table_md = ["## Table", "", TABLE_LEGEND + complexity_legend, "", _md_table(header, rows), ""]
    if notes:
        table_md += [f"- **{label}:** {text}" for label, text in notes] + [""]

    claims_md = ["## Claims", "", claims_lead, ""]
    if claims_table:
        claims_md += [_md_table(list(claim_checks.CLAIMS_HEADER), claims_table), ""]
    provenance_md = ["## Provenance", ""] + [f"- **{k}:** {v}" for k, v in provenance_lines] + [""]
    search_md: list[str] = []
    if search:
        lead, search_header, search_rows, figures, missing = search
        heading = "Pareto front (accuracy against cost)" if len(record.search.objectives) > 1 else "Best settings"
        search_md = ["## Search", "", lead, "", f"### {heading}", "", _md_table(search_header, search_rows), ""]
        search_md += [f"![{name}]({os.path.basename(path)})" for name, path in figures] + [""]
        search_md += [f"- Not drawn: {text}" for text in missing] + ([""] if missing else [])

    md = [f"# {title}", "", f"_Generated by `actrec report {sweep}` on {generated}._", ""]
    if note:
        md += [f"> {note}", ""]
    md += claims_md
    md += [f"- **{k}:** {v}" for k, v in summary] + ["", *table_md, *search_md, *provenance_md]
    if plot_path:
        md += ["## Plot", "", f"![{record.spec.plot.x_label or record.spec.plot.x}]({os.path.basename(plot_path)})", ""]
    md += ["## Confusion matrix of the best trial", "", confusion_text, ""]
    if has_confusion:
        md += [f"![confusion matrix]({os.path.basename(confusion_path)})", ""]
    md += ["## Trials", "", _md_table(trial_header, trial_rows), ""]
    md += [f"{METADATA_PREFIX}{json.dumps(metadata, sort_keys=True)} -->", ""]
    with open(stem + ".md", "w") as f:
        f.write("\n".join(md))

    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p><em>Generated by <code>actrec report {html.escape(sweep)}</code> on {generated}.</em></p>",
    ]
    if note:
        body.append(f"<p class='note'>{html.escape(note.replace('**', ''))}</p>")
    body += ["<h2>Claims</h2>", f"<p>{html.escape(claims_lead)}</p>"]
    if claims_table:
        body.append(_html_table(list(claim_checks.CLAIMS_HEADER), claims_table))
    body.append(
        "<ul>"
        + "".join(f"<li><b>{html.escape(k)}:</b> {html.escape(v.replace('`', ''))}</li>" for k, v in summary)
        + "</ul>"
    )
    body += [f"<h2>Table</h2><p>{html.escape(TABLE_LEGEND + complexity_legend)}</p>", _html_table(header, rows)]
    if notes:
        body.append(
            "<ul>"
            + "".join(f"<li><b>{html.escape(label)}:</b> {html.escape(text)}</li>" for label, text in notes)
            + "</ul>"
        )
    if search:
        body += [f"<h2>Search</h2><p>{html.escape(lead)}</p><h3>{html.escape(heading)}</h3>"]
        body.append(_html_table(search_header, search_rows))
        body += [f"<p>{html.escape(name)}</p><img src='{os.path.basename(path)}' alt='{html.escape(name)}'>"
                 for name, path in figures]  # fmt: skip
        if missing:
            body.append("<ul>" + "".join(f"<li>Not drawn: {html.escape(t)}</li>" for t in missing) + "</ul>")
    body.append(
        "<h2>Provenance</h2><ul>"
        + "".join(f"<li><b>{html.escape(k)}:</b> {html.escape(v.replace('`', ''))}</li>" for k, v in provenance_lines)
        + "</ul>"
    )
    if plot_path:
        body.append(f"<h2>Plot</h2><img src='{os.path.basename(plot_path)}' alt='plot'>")
    body += ["<h2>Confusion matrix of the best trial</h2>", f"<p>{html.escape(confusion_text.replace('`', ''))}</p>"]
    if has_confusion:
        body.append(f"<img src='{os.path.basename(confusion_path)}' alt='confusion matrix'>")
    body += ["<h2>Trials</h2>", _html_table(trial_header, trial_rows)]
    with open(stem + ".html", "w") as f:
        f.write(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>"
        )
    pictures = [p for p in (plot_path, confusion_path if has_confusion else None) if p]
    pictures += [path for _, path in search[3]] if search else []
    if publish:
        description = description_markdown(
            title,
            note,
            [*claims_md, *table_md, *[line for line in search_md if not line.startswith("![")]],
            [*summary, *provenance_lines],
            generated=generated,
            sweep=sweep,
        )
        try:
            publish_claims(tracking_uri, record.parent_run_id, results)
            publish_results(
                tracking_uri,
                record.parent_run_id,
                description=description,
                metric=record.spec.metric,
                value=best.value if best else None,
                best_run_id=best.run_id if best else "",
                best_name=best.name if best else "",
            )
        except Exception as err:  # the files are the report; MLflow's copy of the table is an extra
            print(
                f"[actrec] could not publish the {sweep} table to MLflow run {record.parent_run_id}: {err}",
                file=sys.stderr,
            )
    return [stem + ".md", stem + ".html", *pictures]


CLAIMS_TABLE_ARTIFACT = "claims.json"  # the verdict table on the parent run (MLflow's log_table format)


def publish_claims(tracking_uri: str, run_id: str, results: Sequence[ClaimResult]) -> None:
    """Log the verdict table on the parent run with MLflow's ``log_table`` (shown as a table in the UI), replacing
    the one an earlier report logged (``log_table`` would append to it)."""
    if not results:
        return
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    client = MlflowClient(tracking_uri)
    if any(a.path == CLAIMS_TABLE_ARTIFACT for a in client.list_artifacts(run_id)):
        get_artifact_repository(client.get_run(run_id).info.artifact_uri).delete_artifacts(CLAIMS_TABLE_ARTIFACT)
    rows = claim_checks.claims_rows(results)
    table = {name: [row[i] for row in rows] for i, name in enumerate(claim_checks.CLAIMS_HEADER)}
    table["verdict_class"] = [r.verdict for r in results]
    table["difference"] = [r.difference.value if r.difference else None for r in results]
    table["ci_low"] = [r.difference.low if r.difference else None for r in results]
    table["ci_high"] = [r.difference.high if r.difference else None for r in results]
    table["paper_difference"] = [r.paper for r in results]
    client.log_table(run_id, data=table, artifact_file=CLAIMS_TABLE_ARTIFACT)


# Summary lines the description leaves out: the run page shows its own id and store.
DESCRIPTION_SKIPS = ("MLflow",)


def description_markdown(
    title: str,
    note: str | None,
    table_md: Sequence[str],
    summary: Sequence[tuple[str, str]],
    *,
    generated: str,
    sweep: str,
) -> str:
    """The parent run's MLflow description: what a reader needs first, in the report's Markdown — the title, the
    synthetic-data warning, the paper-vs-measured table with its notes, then the summary (paper, setting, profile,
    seeds, best trial, ...). Plots, the confusion matrix and the per-trial list stay in the report files."""
    lines = [f"# {title}", ""]
    if note:
        lines += [f"> {note}", ""]
    lines += [*table_md, "## Sweep", ""]
    lines += [f"- **{k}:** {v}" for k, v in summary if k not in DESCRIPTION_SKIPS]
    lines += ["", f"_Table from `actrec report {sweep}`, {generated}; the report files add plots and every trial._"]
    return "\n".join(lines)


STYLE = (
    "body{font-family:sans-serif;max-width:1200px;margin:2em auto}table{border-collapse:collapse}"
    "td,th{border:1px solid #bbb;padding:4px 8px;font-size:14px}.note{background:#fff3cd;padding:8px}"
    "img{max-width:100%}"
)
