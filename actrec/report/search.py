"""What an Optuna search found, for its report and its MLflow parent run: the finished trials rebuilt as an Optuna
study, Optuna's own matplotlib visualisations of it (optimisation history, parameter importances, parallel
coordinates, contours; the Pareto front of a multi-objective search) and a table of the best settings with their
intervals.

The driver logs the search's declaration on the parent run (:data:`SEARCH_ARTIFACT`: its Optuna distributions,
objectives, fixed setting and sampler) when the sweep starts; everything here reads MLflow only, so ``actrec report``
rebuilds the same section from the store, for a resumed search too. A trial the scheduler stopped early (tag
``stopped_early``) enters the study as PRUNED: Optuna's plots and importances use completed trials only, and so does
the best-settings table (a stopped trial's accuracy is from fewer epochs).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

SEARCH_ARTIFACT = "search_space.json"  # on the parent run of an Optuna search
BEST_K = 5  # rows of the best-settings table
OBJECTIVE_LABELS = {"model_gflops": "GFLOPs per clip", "model_params": "parameters (M)"}


@dataclasses.dataclass(frozen=True)
class SearchRecord:
    """A search's declaration as the driver logged it: Optuna distributions per sampled key (JSON), the objectives
    as (metric, "maximize" / "minimize"), the values every sample shared, the sampler and the planned samples."""

    distributions: Mapping[str, str]
    objectives: tuple[tuple[str, str], ...]
    fixed: Mapping[str, str]
    sampler: str
    num_samples: int
    asha: bool

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SearchRecord:
        raw = json.loads(text)
        raw["objectives"] = tuple(tuple(o) for o in raw["objectives"])
        return cls(**raw)


def load_search(client, run_id: str) -> SearchRecord | None:
    """The parent run's :data:`SEARCH_ARTIFACT`, or None (a grid, or a search from before it was logged)."""
    if not any(a.path == SEARCH_ARTIFACT for a in client.list_artifacts(run_id)):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        with open(client.download_artifacts(run_id, SEARCH_ARTIFACT, tmp)) as f:
            return SearchRecord.from_json(f.read())


def _normal(text: Any) -> str:
    """A value as compared across its forms: ``(7, 7, 7)`` (a resolved tuple in MLflow) equals the choice ``7,7,7``."""
    return re.sub(r"[()\[\]\s]", "", str(text)).rstrip(",")  # a 1-tuple is "(3,)"


def _param(distribution, text: str) -> Any:
    """An MLflow param (a string) as ``distribution``'s value; ValueError if it is none of its values."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        for choice in distribution.choices:
            if _normal(choice) == _normal(text):
                return choice
        raise ValueError(f"{text!r} is none of {distribution.choices}")
    value = int(float(text)) if isinstance(distribution, IntDistribution) else float(text)
    if not distribution._contains(distribution.to_internal_repr(value)):
        raise ValueError(f"{value} is outside {distribution}")
    return value


def build_study(search: SearchRecord, trials: Sequence[Any]):
    """The search's trials (``TrialRecord``s, in the order they started) as an in-memory Optuna study: finished
    trials COMPLETE with their objective values, trials stopped early PRUNED; failed trials and trials without a
    value or a readable parameter are left out. Returns (study, number left out)."""
    import optuna
    from optuna.distributions import json_to_distribution
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {k: json_to_distribution(v) for k, v in search.distributions.items()}
    study = optuna.create_study(directions=[d for _, d in search.objectives])
    left_out = 0
    for trial in trials:
        values = [_objective(trial, metric) for metric, _ in search.objectives]
        try:
            params = {k: _param(d, trial.params[k]) for k, d in distributions.items()}
        except (KeyError, ValueError):
            left_out += 1
            continue
        if trial.status != "FINISHED" or any(v is None for v in values):
            left_out += 1
            continue
        attrs = {"run_id": trial.run_id, "name": trial.name}
        if trial.stopped_early:
            state = dict(state=TrialState.PRUNED, intermediate_values={max(trial.epochs, 1): values[0]})
        else:
            state = dict(state=TrialState.COMPLETE, values=values)
        study.add_trial(create_trial(params=params, distributions=distributions, user_attrs=attrs, **state))
    return study, left_out


def _objective(trial, metric: str) -> float | None:
    if metric == "model_gflops":
        return trial.model_gflops
    if metric == "model_params":
        return trial.model_params / 1e6 if trial.model_params is not None else None
    return trial.value


def _completed(study) -> list:
    from optuna.trial import TrialState

    return [t for t in study.trials if t.state == TrialState.COMPLETE]


ACCURACY_METRICS = ("val_best_top1", "val_top1")  # percent of the validation clips: a Wilson interval applies


def _interval(trial_record, value: float, metric: str) -> str:
    from actrec.report.claims import wilson_interval

    clips = getattr(trial_record, "val_clips", None)
    if not clips or metric not in ACCURACY_METRICS:
        return ""
    low, high = wilson_interval(round(value * clips / 100.0), int(clips))
    return f" [{low:.1f}, {high:.1f}]"


def best_table(search: SearchRecord, study, records: Mapping[str, Any], k: int = BEST_K):
    """Header and rows of the ``k`` best completed trials by the first objective (accuracy, with its 95% Wilson
    interval over the trial's validation clips), or of the Pareto front (study.best_trials) of a multi-objective
    search, cheapest first."""
    keys = list(search.distributions)
    metric = search.objectives[0][0]
    multi = len(search.objectives) > 1
    if multi:
        chosen = sorted(study.best_trials, key=lambda t: (t.values[1], -t.values[0]))
    else:
        reverse = search.objectives[0][1] == "maximize"
        chosen = sorted(_completed(study), key=lambda t: t.value, reverse=reverse)[:k]
    header = ["#", *keys, f"{metric} [95% interval]"]
    if multi:
        header += [OBJECTIVE_LABELS.get(m, m) for m, _ in search.objectives[1:]]
    header += ["trial"]
    rows = []
    for rank, trial in enumerate(chosen, start=1):
        record = records.get(trial.user_attrs["run_id"])
        accuracy = trial.values[0]
        shown = f"{accuracy:.1f}{_interval(record, accuracy, metric)}"
        row = [str(rank), *[_shown(trial.params[key]) for key in keys], shown]
        if multi:
            row += [f"{v:.3g}" for v in trial.values[1:]]
        rows.append(row + [trial.user_attrs["name"]])
    return header, rows


def _shown(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def search_figures(search: SearchRecord, study, stem: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Optuna's matplotlib visualisations of ``study``, written as ``<stem>_search_<name>.png``: returns ([(title,
    path)], [why a figure is missing])."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ov

    multi = len(search.objectives) > 1
    metric = search.objectives[0][0]
    target = {"target": (lambda t: t.values[0]), "target_name": metric} if multi else {"target_name": metric}
    completed = len(_completed(study))
    sampled = len(search.distributions)
    plans: list[tuple[str, str, Any, str]] = []
    if multi:
        names = [OBJECTIVE_LABELS.get(m, m) for m, _ in search.objectives]
        plans.append(("pareto", "Pareto front", lambda: ov.plot_pareto_front(study, target_names=names), ""))
    plans.append(("history", "Optimisation history", lambda: ov.plot_optimization_history(study, **target), ""))
    need_two = "" if completed >= 2 else f"needs two or more completed trials ({completed} completed)"
    scores = {round(t.values[0], 9) for t in _completed(study)}
    importance = need_two or (
        "one sampled parameter: its importance is 1 by definition"
        if sampled < 2
        else "every completed trial scored the same: no parameter explains a difference"
        if len(scores) < 2
        else ""
    )
    plans.append(
        (
            "importances",
            "Parameter importances (fANOVA)",
            lambda: ov.plot_param_importances(study, **target),
            importance,
        )
    )
    plans.append(("parallel", "Parallel coordinates", lambda: ov.plot_parallel_coordinate(study, **target), need_two))
    if sampled >= 2:
        plans.append(("contour", "Contours", lambda: ov.plot_contour(study, **target), need_two))
    figures, missing = [], []
    for name, title, draw, reason in plans:
        if reason or not completed:
            missing.append(f"{title}: {reason or 'no completed trial'}")
            continue
        path = f"{stem}_search_{name}.png"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib module experimental; tight_layout
                axes = draw()
                grid = getattr(axes, "shape", (1, 1))  # contours: one panel per pair of parameters
                figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
                figure.set_size_inches(max(7.0, 3.4 * grid[-1] + 1.6), max(4.5, 2.8 * grid[0]))
                if grid == (1, 1):
                    figure.tight_layout()
            figure.savefig(path, dpi=90)
            plt.close(figure)
            figures.append((title, path))
        except Exception as err:  # e.g. importances with a single distinct value: say so, draw the rest
            plt.close("all")
            missing.append(f"{title}: Optuna could not draw it ({type(err).__name__}: {err})")
    return figures, missing


def search_section(search: SearchRecord, trials: Sequence[Any], stem: str):
    """The report's "Search" section: a lead paragraph, the best-settings (or Pareto) table and the figures.
    Returns (lead, header, rows, [(title, path)], [missing figure notes])."""
    started = sorted(trials, key=lambda t: (t.started, t.name))
    study, left_out = build_study(search, started)
    completed = len(_completed(study))
    stopped = sum(1 for t in trials if t.stopped_early)
    goals = " and ".join(f"{d[:-2]}se {OBJECTIVE_LABELS.get(m, m)}" for m, d in search.objectives)
    space = ", ".join(f"{k} ∈ {_distribution_text(v)}" for k, v in search.distributions.items())
    lead = (
        f"{search.sampler}, over {space}; {search.num_samples} sample(s) planned, {len(trials)} run: {completed} "
        f"completed, {stopped} stopped early by ASHA, {left_out} failed or unreadable. Objective: {goals}. "
        "Optuna's figures and this table use the completed trials. An interval is the 95% Wilson interval over "
        "one trial's validation clips; the same clips chose the trial's best epoch and the best settings, so the "
        "top rows' accuracies are optimistic."
    )
    if search.fixed:
        lead += " Fixed in every sample: " + ", ".join(f"{k}={v}" for k, v in sorted(search.fixed.items())) + "."
    records = {t.run_id: t for t in trials}
    header, rows = best_table(search, study, records)
    figures, missing = search_figures(search, study, stem)
    return lead, header, rows, figures, missing


def _distribution_text(text: str) -> str:
    from optuna.distributions import CategoricalDistribution, IntDistribution, json_to_distribution

    d = json_to_distribution(text)
    if isinstance(d, CategoricalDistribution):
        return "{" + ", ".join(map(str, d.choices)) + "}"
    if isinstance(d, IntDistribution):
        return f"[{d.low}, {d.high}] (integers)"
    return f"[{d.low:g}, {d.high:g}]" + (" (log)" if d.log else "")


def figure_names(stem: str) -> list[str]:
    """Paths of the figures :func:`search_figures` may write for ``stem`` (to clear a previous report's)."""
    return [f"{stem}_search_{n}.png" for n in ("pareto", "history", "importances", "parallel", "contour")]


def remove_stale_figures(stem: str) -> None:
    for path in figure_names(stem):
        if os.path.exists(path):
            os.remove(path)
