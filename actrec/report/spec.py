"""A paper table as data: rows, columns, the paper's values and the claims its text makes.

A :class:`TableSpec` is plain data (JSON round-trip) so a sweep logs it on its MLflow parent run and
``actrec report`` can rebuild the table from MLflow alone. It belongs to the report layer; the sweep driver
(:mod:`actrec.tune.spec`) builds its search on top of it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

# Complexity columns a table may show: parameters in millions (trial metric ``model_params`` / 1e6), GFLOPs of
# one clip (trial metric ``model_gflops``, fvcore multiply-adds) and frames per clip (trial param data.num_frames).
COMPLEXITY = ("params_m", "gflops", "frames")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Row:
    """One table row: the dotted-config values a trial must have to belong to it, and the paper's cells."""

    label: str  # row header as printed in the paper, e.g. "3D-CDC-ST"
    match: Mapping[str, Any]  # dotted key -> value, e.g. {"model.stem": "CDC-ST", "model.theta": 0.6}
    paper: Mapping[str, float] = dataclasses.field(default_factory=dict)  # column label -> paper value
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # printed columns such as θ
    # Paper's complexity cells, keys from COMPLEXITY: {"params_m": 32.6, "frames": 32} (Table III).
    paper_complexity: Mapping[str, float] = dataclasses.field(default_factory=dict)
    # Dotted model config at the paper's size, e.g. {"model.name": NAME, "model.num_classes": 60}: the
    # report builds it and prints its parameter count beside the paper's (the trained model may be CPU-tiny).
    reference: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    note: str = ""  # printed under the table, e.g. why a paper-only row has no measurement
    # How claims name the row when labels repeat (Table IV prints "3D-CDC-ST" for θ = 0.6 and θ = 0.8); default label.
    key: str = ""

    @property
    def id(self) -> str:
        """The row's name in :class:`Claim` cells: ``key`` when set, else the label."""
        return self.key or self.label


@dataclasses.dataclass(frozen=True, kw_only=True)
class Column:
    """One table column (usually a modality)."""

    label: str  # column header as printed in the paper, e.g. "RGB(%)"
    match: Mapping[str, Any]  # dotted key -> value, e.g. {"data.modality": "rgb"}
    note: str = ""  # printed under the table, e.g. which synthetic stand-in a profile measured it on


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlotSpec:
    """A line plot of the metric against one config key, one line per combination of ``series`` keys."""

    x: str  # dotted key on the x axis, e.g. "model.theta"
    series: tuple[str, ...]  # dotted keys naming each line
    x_label: str = ""  # axis label
    by_column: bool = False  # also one line per table column (named by its label), e.g. one per dataset
    match: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # only trials with these values are plotted


CLAIM_KINDS = ("beats", "matches")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Claim:
    """A claim the paper makes about its table, as a comparison between two cells (row id, column label).

    ``kind="beats"``: cell ``a`` scores higher than cell ``b`` (the paper's "X improves on Y"). ``kind="matches"``:
    the two differ by at most ``margin`` percentage points (the paper's "accuracy flattens after 50 clusters").
    ``text`` is the paper's words, ``source`` where they stand (section, table), so a reader can check the reading.
    """

    text: str
    source: str
    a: tuple[str, str]  # (row id, column label): the cell the paper says is higher (or that matches b)
    b: tuple[str, str]  # (row id, column label)
    kind: str = "beats"
    margin: float = 0.0  # percentage points, for kind="matches"

    def __post_init__(self) -> None:
        if self.kind not in CLAIM_KINDS:
            raise ValueError(f"Claim {self.text!r}: kind {self.kind!r}, expected one of {list(CLAIM_KINDS)}")
        if self.kind == "matches" and not self.margin > 0:
            raise ValueError(f"Claim {self.text!r}: a 'matches' claim needs a margin > 0 (percentage points)")
        if tuple(self.a) == tuple(self.b):
            raise ValueError(f"Claim {self.text!r}: compares cell {tuple(self.a)} with itself")

    def paper_difference(self, spec: TableSpec) -> float | None:
        """The paper's value of cell a minus that of cell b (percentage points); None when either is not printed."""
        values = [spec.row(row).paper.get(column) for row, column in (self.a, self.b)]
        if any(v is None for v in values):
            return None
        return float(values[0]) - float(values[1])


@dataclasses.dataclass(frozen=True, kw_only=True)
class TableSpec:
    """A paper table as data: where it comes from, its rows/columns and the paper's numbers."""

    sweep: str  # sweep name, also the report file stem
    paper: str  # short name, e.g. "MFST (Ma et al., ACM MM 2023)"
    # Full citation the report prints: "Title. Venue, Year. doi:…" (the repository holds no paper texts).
    citation: str
    table: str  # "Table IV"
    title: str  # caption
    paper_setting: str  # dataset/protocol the paper's numbers were measured on
    rows: tuple[Row, ...]
    columns: tuple[Column, ...]
    metric: str = "val_best_top1"  # trial metric shown in the cells
    metric_label: str = "top-1 accuracy (%)"
    plot: PlotSpec | None = None
    # Complexity columns shown per row (measured from the trials, paper from Row.paper_complexity), from COMPLEXITY.
    complexity: tuple[str, ...] = ()
    # What the paper claims about this table, checked by the report (actrec.report.claims). A table whose paper
    # states nothing beyond its numbers has no claims and says so in ``claims_note``.
    claims: tuple[Claim, ...] = ()
    claims_note: str = ""
    # Config keys of readings the paper leaves open (e.g. ``model.cdc_t_reading``): the report says which values its
    # trials used.
    readings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [c for c in self.complexity if c not in COMPLEXITY]
        if unknown:
            raise ValueError(f"TableSpec.complexity: unknown {unknown}, known {list(COMPLEXITY)}")
        ids = [row.id for row in self.rows]
        labels = {column.label for column in self.columns}
        for claim in self.claims:
            for row, column in (claim.a, claim.b):
                if row not in ids or column not in labels:
                    raise ValueError(
                        f"{self.sweep}: claim {claim.text!r} names cell ({row!r}, {column!r}); rows {ids}, "
                        f"columns {sorted(labels)}"
                    )
                if ids.count(row) > 1:
                    raise ValueError(f"{self.sweep}: claim {claim.text!r} names row {row!r}, which is not unique")

    def row(self, row_id: str) -> Row:
        """The row whose :attr:`Row.id` is ``row_id``."""
        for row in self.rows:
            if row.id == row_id:
                return row
        raise KeyError(f"{self.sweep}: no row {row_id!r}")

    def column(self, label: str) -> Column:
        """The column labelled ``label``."""
        for column in self.columns:
            if column.label == label:
                return column
        raise KeyError(f"{self.sweep}: no column {label!r}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TableSpec:
        raw = json.loads(text)
        # Specs logged before ``citation`` named a paper text outside the repository instead (``paper_file``); the
        # report rebuilds from them too, without a citation rather than with a path that no checkout holds.
        raw.pop("paper_file", None)
        raw.setdefault("citation", "")
        raw["rows"] = tuple(Row(**r) for r in raw["rows"])
        raw["columns"] = tuple(Column(**c) for c in raw["columns"])  # specs logged before Column.note load too
        raw["complexity"] = tuple(raw.get("complexity", ()))
        # Specs logged before claims were part of the table have none (the report says so).
        raw["claims"] = tuple(Claim(**{**c, "a": tuple(c["a"]), "b": tuple(c["b"])}) for c in raw.get("claims", ()))
        raw.setdefault("claims_note", "")
        raw["readings"] = tuple(raw.get("readings", ()))  # specs logged before readings were listed have none
        raw["plot"] = PlotSpec(**{**raw["plot"], "series": tuple(raw["plot"]["series"])}) if raw["plot"] else None
        return cls(**raw)


def describe(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _text(value: Any) -> str:
    # Sequences compare as the tuple text MLflow params hold ("(7, 7, 7)"), also when a spec read back from JSON
    # turned the tuple into a list.
    return str(tuple(value)) if isinstance(value, list | tuple) else str(value)


def matches(config: Mapping[str, Any], match: Mapping[str, Any]) -> bool:
    """Whether a trial's dotted config has every value of ``match`` (floats compared to 1e-9; lists and tuples
    alike)."""
    for key, want in match.items():
        have = config.get(key)
        if isinstance(want, float) or isinstance(have, float):
            try:
                if abs(float(have) - float(want)) > 1e-9:
                    return False
            except (TypeError, ValueError):
                return False
        elif _text(have) != _text(want):
            return False
    return True


def claims_for(rows: Sequence[Row], claims: Sequence[Claim]) -> tuple[Claim, ...]:
    """The ``claims`` whose two cells are both among ``rows``: what a grid flag that rebuilds the table's rows (e.g.
    ``--y-grid 1,3``) keeps of the paper's claims."""
    ids = {row.id for row in rows}
    return tuple(c for c in claims if c.a[0] in ids and c.b[0] in ids)
