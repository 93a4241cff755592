"""Every sweep in ``sweeps/`` (found by listing the folder: a new sweep is tested without editing a list) runs its
smoke profile end to end on the session's Ray, on the few cells that still run every model class, recipe and plot
its table varies (:func:`tests.sweep_tools.covering_cells`; every cell's model takes a training step
here without Ray): every planned trial finishes and is logged to MLflow with its complexity and per-clip evidence,
and the report shows a measurement exactly in the cells that ran, the paper's values of every row, the column notes,
the claims and the provenance; one sweep per paper runs its smoke profile as a small Optuna search instead
(``SEARCH_SMOKES``), checked by :func:`_check_search`. A paper's own checks of the same runs live in its
``test_sweeps_<paper>.py``."""

from __future__ import annotations

import dataclasses
import json

import pytest

from actrec.report.search import SEARCH_ARTIFACT
from actrec.report.spec import PlotSpec, matches
from actrec.track.evidence import PREDICTIONS_ARTIFACT
from actrec.track.startup import STARTUP_METRICS
from actrec.tune.plan import is_sampled, plan_sweep, resolve_trial
from tests.conftest import SEARCH_SMOKES, SWEEP_NAMES, covering_cells, load_sweep, sweep_args
from tests.sweep_tools import is_run_knob, run_knobs, train_a_step, trial_configs

MEASURED = " measured (mean ± std, n)"  # the report table's header of a column's measured values


def test_every_sweep_script_is_found():
    assert len(SWEEP_NAMES) >= 22 and "cdc_theta" in SWEEP_NAMES
    for name in SWEEP_NAMES:
        assert load_sweep(name).SPEC.name == name, f"sweeps/{name}.py declares the table of another sweep"


def _planned(run) -> list[tuple[dict, dict]]:
    """Every trial the smoke run planned (grid, then fused second phase): its own values (without the checkpoint
    paths a fused trial gets when it starts) and its full dotted config."""
    args, _ = sweep_args(run.name, *run.argv)
    plan = plan_sweep(run.spec, args)
    placeholders = set(plan.spec.fusion.checkpoint_keys) if plan.spec.fusion else set()
    fused = [({k: v for k, v in t.items() if k not in placeholders}, resolve_trial(plan.base, t)) for t in plan.fused]
    return list(zip(plan.trials, plan.resolved, strict=True)) + fused


def _check_gflops_counts(run) -> None:
    """A sweep keeps the GFLOPs count of each model configuration and input shape (``cached_gflops``; later trials of
    it read it back): no more counts in the sweep's directory than distinct model and data configs among its trials,
    and every trial reported one of them. (Whether a later trial read instead of counting: the cache's unit tests.)"""
    (sweep_dir,) = run.storage.glob(f"{run.name}-smoke-*")
    counts = [json.loads(path.read_text())["gflops"] for path in sweep_dir.rglob("model_gflops/[!.]*.json")]
    configs = {
        tuple(sorted((k, v) for k, v in child.data.params.items() if k.startswith(("model.", "data."))))
        for child in run.children
    }
    assert 1 <= len(counts) <= len(configs), (len(counts), len(configs))
    for child in run.children:
        reported = child.data.metrics["model_gflops"]
        assert any(reported == pytest.approx(count, rel=1e-9) for count in counts), (reported, counts)


def _table_cells(report: str, labels: list[str]) -> tuple[list[str], list[list[str]]]:
    """The header and the rows (split into cells) of the report's Table section, one row per label in order."""
    section = report.split("\n## Table\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    header = lines[0].strip("| ").split(" | ")
    rows = [line.strip("| ").split(" | ") for line in lines[1:] if not line.startswith("|---")]
    assert [row[0] for row in rows[: len(labels)]] == labels
    return header, rows


@pytest.mark.slow
@pytest.mark.parametrize("name", SWEEP_NAMES)
def test_smoke_profile_end_to_end(name, smoke_runs):
    run = smoke_runs.get(name)
    _check_gflops_counts(run)
    if name in SEARCH_SMOKES:
        _check_search(run)
        return
    planned = _planned(run)
    assert len(run.children) == len(planned) and all(r.info.status == "FINISHED" for r in run.children)
    # Each planned trial ran once, on the synthetic set: a child whose params hold the trial's resolved value of every
    # key some trial sets itself (one trial's own values may be a subset of another's).
    keys = {key for trial, _ in planned for key in trial}
    for _, config in planned:
        mine = [r for r in run.children if matches(r.data.params, {k: config.get(k) for k in keys})]
        assert len(mine) == 1, ({k: config.get(k) for k in keys}, len(mine))
        assert mine[0].data.params["data.dataset"] == "synthetic"
    for child in run.children:
        metrics = child.data.metrics
        assert metrics["model_gflops"] > 0 and metrics["model_params"] > 0
        assert 0.0 <= metrics["val_top1"] <= 100.0
        # Where the trial's start-up went (actrec.track.startup), parts adding up to the whole; an evaluate-only
        # trial (a checkpoint fusion) takes no training step and reports none.
        if int(child.data.params["train.epochs"]) > 0:
            parts = [metrics[key] for key in STARTUP_METRICS[:-1]]
            assert all(part >= 0 for part in parts) and metrics["startup_s"] == pytest.approx(sum(parts)), metrics
        else:
            assert not any(key in metrics for key in STARTUP_METRICS), metrics
        artifacts = [a.path for a in run.client.list_artifacts(child.info.run_id)]
        assert PREDICTIONS_ARTIFACT in artifacts, (child.data.params, artifacts)

    table = run.spec.table
    header, rows = _table_cells(run.report, [row.label for row in table.rows])
    for row, cells in zip(table.rows, rows, strict=False):
        for value in filter(None, row.paper.values()):
            assert f"{value:g}" in run.report or str(value) in run.report, (row.label, value)
        for column in table.columns:
            assert column.label + MEASURED in header, (column.label, header)
            shown = cells[header.index(column.label + MEASURED)]
            ran = any(matches(config, row.match) and matches(config, column.match) for _, config in planned)
            assert (shown != "—") == ran, (row.label, column.label, shown)
    measured = [header.index(column.label + MEASURED) for column in table.columns]
    assert any(cells[i] != "—" for cells in rows for i in measured)
    for column in table.columns:
        assert not column.note or column.note in run.report, column.note
    assert "\n## Claims\n" in run.report and "\n## Provenance\n" in run.report
    assert f"**Trials:** {len(planned)} ({len(planned)} finished)" in run.report
    assert (run.reports / f"{name}_confusion.png").stat().st_size > 1000  # the best trial's confusion matrix


def _check_search(run) -> None:
    """A smoke run that is an Optuna search (``SEARCH_SMOKES``): every sample ran once, inside the space, with its
    complexity and evidence logged; the report keeps the paper's table and adds the search (best settings, or the
    Pareto front of a --cost search, and Optuna's figures); the parent run holds its declaration."""
    args, _ = sweep_args(run.name, *run.argv)
    plan = plan_sweep(run.spec, args)
    sampled = {k: v for k, v in plan.search_space.items() if is_sampled(v)}
    assert len(run.children) == plan.num_samples and all(r.info.status == "FINISHED" for r in run.children)
    allowed = {key: {str(corner[key]) for corner in plan.corners} for key in sampled}
    for child in run.children:
        for key, domain in sampled.items():
            value = child.data.params[key]
            if hasattr(domain, "values"):
                assert value in allowed[key], (key, value)
            else:
                assert domain.low <= float(value) <= domain.high, (key, value)
        for key, value in plan.trials[0].items():  # the setting the search holds fixed
            assert child.data.params[key] == str(value), key
        metrics = child.data.metrics
        assert metrics["model_gflops"] > 0 and metrics["model_params"] > 0 and 0 <= metrics["val_top1"] <= 100
        assert PREDICTIONS_ARTIFACT in [a.path for a in run.client.list_artifacts(child.info.run_id)]
    for row in run.spec.table.rows:
        for value in filter(None, row.paper.values()):
            assert f"{value:g}" in run.report or str(value) in run.report, (row.label, value)
    section = run.report[run.report.index("\n## Search\n") : run.report.index("\n## Provenance\n")]
    n = plan.num_samples
    assert f"{n} sample(s) planned, {n} run: {n} completed" in section
    multi = "--cost" in run.argv
    assert ("### Pareto front" in section) == multi and ("### Best settings" in section) != multi
    figures = ("pareto", "history") if multi else ("history",)
    for figure in figures:
        assert (run.reports / f"{run.name}_search_{figure}.png").stat().st_size > 1000, figure
    parent = run.children[0].data.tags["mlflow.parentRunId"]
    assert SEARCH_ARTIFACT in [a.path for a in run.client.list_artifacts(parent)]


@pytest.mark.parametrize("name", SWEEP_NAMES)
def test_every_cell_of_the_smoke_grid_trains_a_step(name):
    """Every trial of the full smoke grid builds its model from the resolved config and takes one training step on
    inputs of its data config's shapes (through the model protocol's loss): the model knobs of the cells the
    end-to-end smoke run leaves out (:func:`covering_cells`) are exercised here, without Ray."""
    for config in trial_configs(name):
        train_a_step(config)


def test_covering_cells_keep_every_value_of_every_varied_run_knob_and_both_streams_of_a_fusion():
    for name in SWEEP_NAMES:
        args, spec = sweep_args(name, "--profile", "smoke")
        full = spec.for_profile("smoke")
        cut = covering_cells(spec, "smoke")
        combos = [dict(cell) for cell in full.cells]
        for key, values in full.axes.items():
            combos = [{**c, key: v} for c in combos for v in values]
        assert cut.axes == {} and 1 <= len(cut.cells) <= len(combos) and all(c in combos for c in cut.cells)
        for key in run_knobs(full):
            assert {repr(c.get(key)) for c in cut.cells} == {repr(c.get(key)) for c in combos}, (name, key)
        plot = full.table.plot
        if plot is not None and any(matches(c, plot.match) for c in combos):
            assert any(matches(c, plot.match) for c in cut.cells), f"{name}: the plot would draw none of the cells"
        if full.fusion is not None:
            # Every kept stream cell that fuses in the full grid fuses in the cut one; the fused variants keep every
            # value of their run knobs.
            fusing = [combos[k] for pair in full.fusion.pairs(combos) for k in pair]
            fused = {k for pair in full.fusion.pairs(list(cut.cells)) for k in pair}
            assert fused, f"{name}: the cut grid has no pair to fuse"
            assert all(i in fused for i, c in enumerate(cut.cells) if c in fusing), name
            assert 1 <= len(cut.fusion.variants) <= len(full.fusion.variants)
            for key in {k for v in full.fusion.variants for k in v if is_run_knob(full, k)}:
                assert {repr(v.get(key)) for v in cut.fusion.variants} == {
                    repr(v.get(key)) for v in full.fusion.variants
                }, (name, key)
    # A knob with four values needs four cells; two independent knobs need two (their values paired); model knobs
    # other than the model's name, and data knobs, need none beyond the first cell.
    from actrec.tune.profiles import SMOKE
    from actrec.tune.spec import SweepSpec

    spec = load_sweep("cdc_theta").SPEC
    grid = tuple(
        {"train.a": a, "optim.b": b, "model.c": c, "data.d": d}
        for a in (0, 1)
        for b in (True, False)
        for c in "xy"
        for d in "pq"
    )
    two = covering_cells(SweepSpec(table=spec.table, cells=grid, axes={}, profiles={"local": SMOKE}), "local")
    assert two.cells == (
        {"train.a": 0, "optim.b": True, "model.c": "x", "data.d": "p"},
        {"train.a": 1, "optim.b": False, "model.c": "x", "data.d": "p"},
    )
    four = covering_cells(
        SweepSpec(
            table=spec.table, cells=({"model.a": 0},), axes={"model.name": tuple("abcd")}, profiles={"local": {}}
        ),
        "local",
    )
    assert [c["model.name"] for c in four.cells] == ["a", "b", "c", "d"]
    # Ties go to the cells the plot's filter selects (the plot draws what ran); a filter key is no knob of its own.
    plot = PlotSpec(x="model.theta", series=(), match={"model.c": "y"})
    table = dataclasses.replace(spec.table, plot=plot)
    grid = tuple({"train.a": a, "model.c": c, "model.theta": 0.5} for c in "xy" for a in (0, 1))
    kept = covering_cells(SweepSpec(table=table, cells=grid, axes={}, profiles={"local": {}}), "local")
    assert kept.cells == (
        {"train.a": 0, "model.c": "y", "model.theta": 0.5},
        {"train.a": 1, "model.c": "y", "model.theta": 0.5},
    )
    alone = covering_cells(SweepSpec(table=table, cells=grid[:1] + grid[2:3], axes={}, profiles={"local": {}}), "local")
    assert alone.cells == ({"train.a": 0, "model.c": "y", "model.theta": 0.5},)
