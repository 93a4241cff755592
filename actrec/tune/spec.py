"""What a sweep script declares: its paper table (rows, columns, the paper's values) and its search space.

A :class:`TableSpec` is plain data (JSON round-trip) so the sweep logs it on its MLflow parent run and
``actrec report`` can rebuild the table from MLflow alone. A :class:`SweepSpec` adds the grid, the optional
continuous (Optuna) space and the profiles (dotted overrides) of the table's recipe.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
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
    # Dotted model config at the paper's size, e.g. {"model.name": "mfst_base", "model.num_classes": 60}: the
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
        raw["plot"] = PlotSpec(**{**raw["plot"], "series": tuple(raw["plot"]["series"])}) if raw["plot"] else None
        return cls(**raw)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FusionSpec:
    """Rows made from two single-stream trials: late score fusion of the RGB and the depth trial of the same cell and
    seed (MFST Tables I, II), or EPAM-Net's phase 2, the joint network fine-tuned from its RGB and pose streams'
    phase-1 checkpoints (§3.4, Table 5). ``depth`` marks the second stream, whatever its modality.

    Trials are paired when their own values agree outside ``rgb`` / ``depth`` / ``depth_keys`` / ``pair_ignore``. A
    fused trial takes the RGB trial's values, the depth trial's ``depth_keys`` values under their fused names (e.g.
    the depth stream's ``model.stem`` becomes ``model.depth_stem``), ``fused`` on top, then each of ``variants`` (one
    fused trial per variant: EPAM-Net's score fusion and +STA rows). ``--fusion checkpoints`` (the default) starts
    the fused trials from the two finished trials' checkpoints (``checkpoint_keys``), evaluating them together
    (``train.epochs=0``) or, with ``fine_tune``, training the fused model from them for its own epochs; ``--fusion
    joint`` trains the fused model from scratch as more trials of the grid.
    """

    rgb: Mapping[str, Any]  # values marking the RGB-stream trials, e.g. {"data.modality": "rgb"}
    depth: Mapping[str, Any]  # values marking the second stream's trials, e.g. {"data.modality": "depth"}
    fused: Mapping[str, Any]  # values of the fused trial, e.g. {"data.modality": "rgbd", "model.name": "..."}
    depth_keys: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: {"model.stem": "model.depth_stem", "model.theta": "model.depth_theta"}
    )
    variants: tuple[Mapping[str, Any], ...] = ({},)  # values over ``fused``, one fused trial each
    checkpoint_keys: tuple[str, str] = ("model.rgb_checkpoint", "model.depth_checkpoint")  # where the paths go
    fine_tune: bool = False  # train the fused trial from the checkpoints (True) or only evaluate them (False)
    # Keys the second stream's trials do not depend on, ignored when pairing, so one depth trial pairs with every RGB
    # trial that differs only there (e.g. EPAM-Net's model.rgb_variant: one pose stream for RGB-X3D and -wide).
    pair_ignore: tuple[str, ...] = ()

    def pairs(self, trials: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
        """Index pairs (rgb, depth) of ``trials`` (dotted override dicts) that fuse into fused trials."""
        ignored = set(self.rgb) | set(self.depth) | set(self.depth_keys) | set(self.pair_ignore)

        def key(trial: Mapping[str, Any]) -> str:
            return json.dumps({k: v for k, v in trial.items() if k not in ignored}, sort_keys=True, default=str)

        depth_by_key = {key(t): i for i, t in enumerate(trials) if matches(t, self.depth)}
        found = []
        for i, trial in enumerate(trials):
            if matches(trial, self.rgb) and key(trial) in depth_by_key:
                found.append((i, depth_by_key[key(trial)]))
        return found

    def fused_trials(self, rgb_trial: Mapping[str, Any], depth_trial: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The fused trials' own values for one (rgb, depth) pair, one per variant."""
        fused = {k: v for k, v in rgb_trial.items() if k not in self.rgb}
        for key, fused_key in self.depth_keys.items():
            if key in depth_trial:
                fused[fused_key] = depth_trial[key]
        return [{**fused, **self.fused, **variant} for variant in self.variants]


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepSpec:
    """A sweep: the table it reproduces and how trials are generated.

    ``cells`` are the table's grid points (dotted overrides) and are crossed with every ``axes`` value list;
    ``optuna_space`` (a function returning a Ray Tune search space) is used by ``--search optuna`` when a
    dimension is continuous. ``profiles`` map a profile name to dotted overrides; ``paper`` reproduces the
    paper's recipe and needs a real dataset root.
    """

    table: TableSpec
    cells: tuple[Mapping[str, Any], ...]
    axes: Mapping[str, tuple[Any, ...]]
    profiles: Mapping[str, Mapping[str, Any]]
    optuna_space: Callable[[], dict[str, Any]] | None = None
    early_stopping: bool = False  # whether ASHA may stop trials (off for exact tables)
    default_profile: str = "local"
    fusion: FusionSpec | None = None  # RGB+DEP rows made from the RGB and depth trials (``--fusion``)
    # Tables whose columns are different datasets (De+Recouple: NvGesture / THU-READ CS2 / ...): profile -> column
    # label -> dotted values of the synthetic stand-in that profile measures the column on instead (replacing the
    # column's ``match`` keys in its cells). In such a profile, columns without a stand-in are not measured; their
    # paper values are still shown. Profiles not listed run the cells as written. See :meth:`for_profile`.
    column_stand_ins: Mapping[str, Mapping[str, Mapping[str, Any]]] = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.table.sweep

    def __post_init__(self) -> None:
        if self.default_profile not in self.profiles:
            raise ValueError(f"default_profile {self.default_profile!r} not in profiles {sorted(self.profiles)}")
        if not self.cells:
            raise ValueError(f"sweep {self.table.sweep!r} declares no cells")
        labels = {c.label for c in self.table.columns}
        for profile, stand_ins in self.column_stand_ins.items():
            unknown = sorted(set(stand_ins) - labels)
            if profile not in self.profiles or unknown:
                raise ValueError(
                    f"sweep {self.table.sweep!r}: column_stand_ins[{profile!r}] names an unknown profile or columns "
                    f"{unknown} (profiles {sorted(self.profiles)}, columns {sorted(labels)})"
                )
            seen: dict[str, str] = {}
            for label, values in stand_ins.items():
                key = json.dumps(dict(values), sort_keys=True, default=str)
                if key in seen:  # the report could not tell the two columns' trials apart
                    raise ValueError(
                        f"sweep {self.table.sweep!r}: columns {seen[key]!r} and {label!r} share a stand-in in the "
                        f"{profile} profile"
                    )
                seen[key] = label

    def for_profile(self, profile: str) -> SweepSpec:
        """The spec as ``profile`` runs it: in a stand-in profile every cell of a column with a stand-in has the
        column's ``match`` keys replaced by the stand-in values, cells of columns without one are dropped, and the
        table's columns match (and note) the stand-ins. Idempotent: the result has no stand-ins left to apply."""
        stand_ins = self.column_stand_ins.get(profile)
        if not stand_ins:
            return self
        columns = []
        for column in self.table.columns:
            stand_in = stand_ins.get(column.label)
            if stand_in is None:
                note = f"not measured in the {profile} profile (no synthetic stand-in); paper values only"
                columns.append(dataclasses.replace(column, note=note))
                continue
            shown = ", ".join(f"{k}={v}" for k, v in stand_in.items() if k != "data.dataset")
            note = f"{profile} profile: measured on the synthetic stand-in {shown} (paper: {_describe(column.match)})"
            columns.append(dataclasses.replace(column, match=dict(stand_in), note=note))
        cells = []
        for cell in self.cells:  # table order kept
            column = next((c for c in self.table.columns if matches(cell, c.match)), None)
            if column is None:
                cells.append(dict(cell))
            elif column.label in stand_ins:
                kept = {k: v for k, v in cell.items() if k not in column.match}
                stood_in = {**kept, **stand_ins[column.label]}
                if stood_in not in cells:  # e.g. THU-READ's four splits all become the one stand-in
                    cells.append(stood_in)
        if not cells:
            raise ValueError(f"sweep {self.table.sweep!r}: no column has a stand-in for the {profile} profile")
        table = dataclasses.replace(self.table, columns=tuple(columns))
        return dataclasses.replace(self, table=table, cells=tuple(cells), column_stand_ins={})


def _describe(values: Mapping[str, Any]) -> str:
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


def with_claims(spec: SweepSpec, claims: Sequence[Claim] = (), note: str = "") -> SweepSpec:
    """``spec`` with the paper's ``claims`` on its table (validated against its rows and columns), or with ``note``
    saying why it has none. For sweep files whose table a shared builder (``actrec.tune.profiles``) makes."""
    table = dataclasses.replace(spec.table, claims=tuple(claims), claims_note=note)
    return dataclasses.replace(spec, table=table)


def claims_for(rows: Sequence[Row], claims: Sequence[Claim]) -> tuple[Claim, ...]:
    """The ``claims`` whose two cells are both among ``rows``: what a grid flag that rebuilds the table's rows (e.g.
    ``--y-grid 1,3``) keeps of the paper's claims."""
    ids = {row.id for row in rows}
    return tuple(c for c in claims if c.a[0] in ids and c.b[0] in ids)
