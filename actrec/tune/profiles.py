"""Profile building blocks every paper's sweeps share: the CPU profiles' synthetic-data runs (``SMOKE``, ``LOCAL``),
CPU-tiny models (``tiny``), the synthetic set's stand-ins for a table's dataset columns, and tables whose columns are
datasets (``dataset_sweep``). A paper's own recipe (citation, paper profile, datasets, sweep builder and hooks) lives
in its module under :mod:`actrec.papers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actrec.models import tiny_overrides
from actrec.report.spec import Column, TableSpec
from actrec.tune.spec import SweepSpec

# The CPU profiles' synthetic-data run, shared by every model's tables (learning rates are per model).
# smoke: a minute or two on 2 cores, the pipeline end to end, not a meaningful accuracy.
SMOKE: dict[str, Any] = {
    "data.synth_subjects": 4,
    "data.synth_views": 2,
    "data.synth_repeats": 1,
    "data.num_frames": 4,
    "data.resize": 32,
    "data.crop_size": 32,
    "train.epochs": 1,
    "train.batch_size": 8,
    "optim.warmup_epochs": 0.0,
}
# local: the default synthetic RGB-D set, tiny models, 12 epochs.
LOCAL: dict[str, Any] = {
    "data.num_frames": 8,
    "data.resize": 36,
    "data.crop_size": 32,
    "train.epochs": 12,
    "train.batch_size": 16,
    "optim.warmup_epochs": 1.0,
    "optim.weight_decay": 1e-4,
}


def tiny(model: str) -> dict[str, Any]:
    """Dotted overrides that make ``model`` CPU-tiny (the registry's tiny overrides)."""
    return {f"model.{k}": v for k, v in tiny_overrides(model).items()}


# Synthetic stand-ins for a table's dataset columns (SweepSpec.column_stand_ins): the synthetic set's two protocols,
# which mirror NTU RGB+D's cross-subject and cross-view splits.
SYNTHETIC_CS = {"data.dataset": "synthetic", "data.protocol": "cross_subject"}
SYNTHETIC_CV = {"data.dataset": "synthetic", "data.protocol": "cross_view"}


def dataset_columns(labels: tuple[str, ...], datasets: Mapping[str, tuple[dict[str, Any], ...]]):
    """Table columns for the dataset columns ``labels`` of ``datasets`` (column label -> the cell values of its
    splits) and, per column, the cell values of its splits."""
    columns, values = [], {}
    for label in labels:
        splits = datasets[label]
        match = {"data.dataset": splits[0]["data.dataset"]}
        if len(splits) == 1:
            match["data.protocol"] = splits[0]["data.protocol"]
        columns.append(Column(label=label, match=match))
        values[label] = splits
    return tuple(columns), values


def dataset_cells(
    rows, labels: tuple[str, ...], datasets: Mapping[str, tuple[dict[str, Any], ...]]
) -> tuple[dict[str, Any], ...]:
    """Cells of a table with dataset columns: every row's ``match`` on every split of every column ``labels`` of
    ``datasets``; row values win (e.g. a row's own distillation temperature over its dataset's)."""
    _, values = dataset_columns(labels, datasets)
    return tuple({**split, **row.match} for row in rows for label in labels for split in values[label])


def dataset_sweep(
    *,
    sweep: str,
    table: str,
    title: str,
    rows,
    datasets: tuple[str, ...],
    paper: str,
    citation: str,
    paper_setting: str,
    dataset_values: Mapping[str, tuple[dict[str, Any], ...]],
    stand_ins: Mapping[str, Mapping[str, Mapping[str, Any]]],
    profiles: Mapping[str, Mapping[str, Any]],
    plot=None,
    complexity: tuple[str, ...] = ("params_m", "gflops"),
) -> SweepSpec:
    """A table whose columns are datasets: ``rows`` on every split of every ``datasets`` column of
    ``dataset_values``, with ``complexity`` columns, and the columns' synthetic ``stand_ins`` (profile -> column ->
    values; a profile's stand-ins of columns this table does not show are dropped)."""
    columns, _ = dataset_columns(datasets, dataset_values)
    spec = TableSpec(
        sweep=sweep,
        paper=paper,
        citation=citation,
        table=table,
        title=title,
        paper_setting=paper_setting,
        rows=tuple(rows),
        columns=columns,
        plot=plot,
        complexity=complexity,
    )
    unknown = sorted({label for values in stand_ins.values() for label in values} - set(dataset_values))
    if unknown:  # a typo would otherwise leave a column silently unmeasured
        raise ValueError(f"sweep {sweep!r}: stand-ins for unknown dataset columns {unknown}")
    used = {name: {k: v for k, v in values.items() if k in datasets} for name, values in stand_ins.items()}
    return SweepSpec(
        table=spec,
        cells=dataset_cells(rows, datasets, dataset_values),
        axes={},
        profiles=profiles,
        column_stand_ins={profile: values for profile, values in used.items() if values},
    )
