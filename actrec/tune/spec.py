"""What a sweep script declares beyond its paper table (:class:`actrec.report.spec.TableSpec`): the grid, the
optional continuous (Optuna) space, the profiles (dotted overrides) of the table's recipe and fused rows.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from actrec.report.spec import Claim, TableSpec, describe, matches


@dataclasses.dataclass(frozen=True)
class Uniform:
    """A continuous knob of a search space, sampled in [``low``, ``high``] (log-uniformly with ``log``)."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high or (self.log and self.low <= 0):
            raise ValueError(f"Uniform({self.low}, {self.high}, log={self.log}): need low < high (and low > 0 if log)")

    def corners(self) -> list[Any]:
        return [self.low, self.high]

    def text(self) -> str:
        return f"{'loguniform' if self.log else 'uniform'}({self.low:g}, {self.high:g})"


@dataclasses.dataclass(frozen=True)
class IntRange:
    """An integer knob of a search space (a count: clusters, stages, layers), sampled in [``low``, ``high``], both
    included (unlike ``tune.randint``)."""

    low: int
    high: int

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"IntRange({self.low}, {self.high}): need low < high")

    def corners(self) -> list[Any]:
        return [self.low, self.high]

    def text(self) -> str:
        return f"integer in [{self.low}, {self.high}]"

    def size(self) -> int:
        return self.high - self.low + 1


@dataclasses.dataclass(frozen=True)
class Choice:
    """A categorical knob of a search space: kernel sizes, mapping types, fusions, switches. Values are str, int,
    float, bool or None, which Optuna can store; a tuple-valued field takes its CLI form (``"7,7,7"``)."""

    values: tuple[Any, ...]

    def __init__(self, *values: Any) -> None:
        if len(values) < 2 or len(set(map(repr, values))) != len(values):
            raise ValueError(f"Choice{values!r}: need two or more distinct values")
        if not all(v is None or isinstance(v, str | int | float | bool) for v in values):
            raise ValueError(f"Choice{values!r}: values must be str, int, float, bool, None (Optuna stores only these)")
        object.__setattr__(self, "values", tuple(values))

    def corners(self) -> list[Any]:
        return list(self.values)

    def text(self) -> str:
        return "choice(" + ", ".join(f"'{v}'" if isinstance(v, str) and "," in v else str(v) for v in self.values) + ")"

    def size(self) -> int:
        return len(self.values)


Dimension = Uniform | IntRange | Choice  # a sampled knob; any other value in a search space is held constant


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
    ``optuna_space`` maps the table's knobs to what ``--search optuna`` samples (:class:`Uniform`,
    :class:`IntRange`, :class:`Choice`) or holds constant (any other value, e.g. the model a search needs); the
    search runs on the table's first cell otherwise (:func:`actrec.tune.plan.search_setting`). ``profiles`` map a
    profile name to dotted overrides; ``paper`` reproduces the paper's recipe and needs a real dataset root.
    """

    table: TableSpec
    cells: tuple[Mapping[str, Any], ...]
    axes: Mapping[str, tuple[Any, ...]]
    profiles: Mapping[str, Mapping[str, Any]]
    optuna_space: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # knob -> Dimension or constant
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
            note = f"{profile} profile: measured on the synthetic stand-in {shown} (paper: {describe(column.match)})"
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


def with_search(spec: SweepSpec, space: Mapping[str, Any]) -> SweepSpec:
    """``spec`` with the Optuna search space ``space`` (knob -> :data:`Dimension` or constant), for sweep files whose
    spec a shared builder (``actrec.papers``) makes."""
    return dataclasses.replace(spec, optuna_space=dict(space))


def with_claims(spec: SweepSpec, claims: Sequence[Claim] = (), note: str = "") -> SweepSpec:
    """``spec`` with the paper's ``claims`` on its table (validated against its rows and columns), or with ``note``
    saying why it has none. For sweep files whose table a shared builder (``actrec.papers``) makes."""
    table = dataclasses.replace(spec.table, claims=tuple(claims), claims_note=note)
    return dataclasses.replace(spec, table=table)
