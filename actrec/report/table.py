"""Turn a sweep's MLflow runs into the paper-shaped table (measured mean ± std | paper) plus a plot.

Everything is read back from MLflow: the parent run carries the table definition (``table_spec.json``),
the child runs carry each trial's dotted config as params and its metrics. Writes ``<sweep>.md``,
``<sweep>.html`` and ``<sweep>_plot.png`` (when the table defines a plot) under ``out_dir``.
"""

from __future__ import annotations

import dataclasses
import datetime
import html
import math
import os
import statistics
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from mlflow.tracking import MlflowClient

from actrec.track.mlflow_tracker import EXPERIMENT_PREFIX
from actrec.tune.spec import TableSpec, matches


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


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepRecord:
    spec: TableSpec
    parent_run_id: str
    parent_status: str
    params: Mapping[str, str]
    trials: tuple[TrialRecord, ...]
    started: float  # epoch seconds
    ended: float | None


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
        spec = TableSpec.from_json(open(client.download_artifacts(parent_run_id, "table_spec.json", tmp)).read())
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
    )


def cell_values(record: SweepRecord, match: Mapping[str, Any]) -> list[float]:
    """Metric values of the trials whose config has every value of ``match`` (one per seed)."""
    return [t.value for t in record.trials if t.value is not None and matches(t.params, match)]


def format_cell(values: Sequence[float], paper: float | None) -> str:
    measured = "—"
    if values:
        mean = statistics.fmean(values)
        # One seed has no spread to report; say so rather than print a fake ± 0.0.
        measured = f"{mean:.1f} ± {statistics.stdev(values):.1f}" if len(values) > 1 else f"{mean:.1f} (n=1)"
    # The paper's value exactly as transcribed (61.26 keeps two decimals, 91.0 keeps one).
    return f"{measured} | {float(paper)}" if paper is not None else f"{measured} | —"


def build_table(record: SweepRecord) -> tuple[list[str], list[list[str]]]:
    spec = record.spec
    extra_keys = sorted({k for row in spec.rows for k in row.extra})
    header = ["Setting", *extra_keys, *[f"{c.label} measured (mean ± std) | paper" for c in spec.columns]]
    rows = []
    for row in spec.rows:
        cells = [
            format_cell(cell_values(record, {**row.match, **col.match}), row.paper.get(col.label))
            for col in spec.columns
        ]
        rows.append([row.label, *[str(row.extra.get(k, "")) for k in extra_keys], *cells])
    return header, rows


def _seeds(record: SweepRecord) -> str:
    seeds = sorted({t.params.get("train.seed", "?") for t in record.trials})
    return f"{len(seeds)} ({', '.join(seeds)})"


def _summary(record: SweepRecord, tracking_uri: str) -> list[tuple[str, str]]:
    params = record.params
    datasets = sorted({t.params.get("data.dataset", "?") for t in record.trials})
    protocols = sorted({t.params.get("data.protocol", "?") for t in record.trials})
    finished = sum(t.status == "FINISHED" for t in record.trials)
    compute = sum(t.seconds for t in record.trials)
    wall = (record.ended or datetime.datetime.now().timestamp()) - record.started
    models = sorted({t.params.get("model.name", "?") for t in record.trials})
    return [
        ("Paper", f"{record.spec.paper}, {record.spec.table}: {record.spec.title} (`{record.spec.paper_file}`)"),
        ("Paper's setting", record.spec.paper_setting),
        ("Measured on", f"dataset {', '.join(datasets)}, protocol {', '.join(protocols)}, model {', '.join(models)}"),
        ("Profile", params.get("profile", "?")),
        ("Metric", f"{record.spec.metric_label} (`{record.spec.metric}`), mean ± std over seeds"),
        ("Seeds", _seeds(record)),
        ("Trials", f"{len(record.trials)} ({finished} finished); sweep status {record.parent_status}"),
        ("Compute time", f"{compute / 60:.1f} trial-minutes of training and validation; {wall / 60:.1f} min wall"),
        ("MLflow", f"parent run `{record.parent_run_id}` at `{tracking_uri}`"),
    ]


def _synthetic_note(record: SweepRecord) -> str | None:
    if any(t.params.get("data.dataset") == "synthetic" for t in record.trials):
        return (
            "**Synthetic data.** These numbers were measured on actrec's built-in synthetic RGB-D clips, "
            "not on the paper's dataset: they show the pipeline works and how the knobs behave at toy scale, "
            "and are not comparable in absolute value to the paper's column."
        )
    return None


def _plot(record: SweepRecord, path: str) -> str | None:
    plot = record.spec.plot
    if plot is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[tuple[str, ...], dict[float, list[float]]] = {}
    for t in record.trials:
        if t.value is None or plot.x not in t.params:
            continue
        key = tuple(t.params.get(k, "?") for k in plot.series)
        series.setdefault(key, {}).setdefault(float(t.params[plot.x]), []).append(t.value)
    if not series:
        return None
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


def _trial_rows(record: SweepRecord) -> tuple[list[str], list[list[str]]]:
    keys = sorted(
        {k for row in record.spec.rows for k in row.match}
        | {k for c in record.spec.columns for k in c.match}
        | {"train.seed"}
    )
    if record.spec.plot:
        keys = sorted(set(keys) | {record.spec.plot.x, *record.spec.plot.series})
    header = ["trial", *keys, "best val top-1", "final val top-1", "epochs", "train+val s", "status"]
    rows = []
    for t in record.trials:
        rows.append(
            [
                t.name,
                *[t.params.get(k, "") for k in keys],
                _num(t.value),
                _num(t.final_top1),
                str(t.epochs),
                f"{t.seconds:.0f}",
                t.status,
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


def write_report(
    tracking_uri: str,
    sweep: str,
    *,
    out_dir: str = "reports",
    parent_run_id: str | None = None,
) -> list[str]:
    """Write the report files for the newest (or given) run of ``sweep``; returns their paths, Markdown first."""
    record = load_sweep(tracking_uri, sweep, parent_run_id)
    os.makedirs(out_dir, exist_ok=True)
    stem = os.path.join(out_dir, sweep)
    header, rows = build_table(record)
    trial_header, trial_rows = _trial_rows(record)
    summary = _summary(record, tracking_uri)
    note = _synthetic_note(record)
    plot_path = _plot(record, stem + "_plot.png")
    title = f"{record.spec.paper} — {record.spec.table}: {record.spec.title}"
    generated = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")

    md = [f"# {title}", "", f"_Generated by `actrec report {sweep}` on {generated}._", ""]
    if note:
        md += [f"> {note}", ""]
    md += [f"- **{k}:** {v}" for k, v in summary] + [
        "",
        "## Table",
        "",
        "Each cell: measured (mean ± std over seeds) | paper.",
        "",
        _md_table(header, rows),
        "",
    ]
    if plot_path:
        md += ["## Plot", "", f"![{record.spec.plot.x_label or record.spec.plot.x}]({os.path.basename(plot_path)})", ""]
    md += ["## Trials", "", _md_table(trial_header, trial_rows), ""]
    with open(stem + ".md", "w") as f:
        f.write("\n".join(md))

    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p><em>Generated by <code>actrec report {sweep}</code> on {generated}.</em></p>",
    ]
    if note:
        body.append(f"<p class='note'>{html.escape(note.replace('**', ''))}</p>")
    body.append(
        "<ul>"
        + "".join(f"<li><b>{html.escape(k)}:</b> {html.escape(v.replace('`', ''))}</li>" for k, v in summary)
        + "</ul>"
    )
    body += ["<h2>Table</h2><p>Each cell: measured (mean ± std over seeds) | paper.</p>", _html_table(header, rows)]
    if plot_path:
        body.append(f"<h2>Plot</h2><img src='{os.path.basename(plot_path)}' alt='plot'>")
    body += ["<h2>Trials</h2>", _html_table(trial_header, trial_rows)]
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #bbb;padding:4px 8px;font-size:14px}.note{background:#fff3cd;padding:8px}"
    )
    with open(stem + ".html", "w") as f:
        f.write(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
        )
    return [stem + ".md", stem + ".html", *([plot_path] if plot_path else [])]
