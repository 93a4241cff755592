"""The sweep scripts as the tests see them, without pytest (a test's subprocess imports this too): every script in
``sweeps/``, a paper's sweeps, a sweep's flags and spec, and few cells that run every knob value of a table."""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Every sweep script, found by listing sweeps/ (a new sweep is tested without editing a list).
SWEEP_NAMES: tuple[str, ...] = tuple(sorted(p.stem for p in (ROOT / "sweeps").glob("*.py")))


def load_sweep(name: str):
    """The module of ``sweeps/<name>.py`` (sweeps are scripts, not a package)."""
    import importlib.util

    path = ROOT / "sweeps" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"sweep_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sweeps_of(paper: str) -> tuple[str, ...]:
    """The sweeps in ``sweeps/`` whose table is from ``paper`` (its ``TableSpec.paper``, e.g. ``MFST_PAPER``)."""
    return tuple(name for name in SWEEP_NAMES if load_sweep(name).SPEC.table.paper == paper)


def sweep_args(name: str, *argv: str):
    """``argv`` parsed by sweep ``name``'s own parser, and its spec with the sweep's ``extend`` hook applied."""
    from actrec.tune.cli import build_parser

    sweep = load_sweep(name)
    args = (sweep.parser() if hasattr(sweep, "parser") else build_parser(sweep.SPEC)).parse_args(list(argv))
    spec = sweep.extend(sweep.SPEC, args) if hasattr(sweep, "extend") else sweep.SPEC
    return args, spec


def covering_cells(spec, profile: str):
    """``spec`` as ``profile`` runs it, cut to few grid cells that still give every knob the table varies each of its
    values at least once, so every model variant and code path of the table runs once (a greedy set cover, within a
    factor ln(values) of the fewest; table order breaks ties), plus the other stream of every fusion pair a kept cell
    belongs to, so the fused second phase runs too. Axes are folded into the cells. The report still lists every row:
    the rows whose cells were cut show no measurement."""
    spec = spec.for_profile(profile)
    combos: list[dict[str, Any]] = [dict(cell) for cell in spec.cells]
    for key, values in spec.axes.items():
        combos = [{**c, key: v} for c in combos for v in values]

    def value(combo, key):
        return json.dumps(combo.get(key, "<unset>"), sort_keys=True, default=str)

    keys = sorted({k for c in combos for k in c})
    varied = [k for k in keys if len({value(c, k) for c in combos}) > 1]
    pairs_of = [{(k, value(c, k)) for k in varied} for c in combos]
    needed = set().union(*pairs_of)
    kept: set[int] = set()
    while needed:
        best = max(range(len(combos)), key=lambda i: (len(pairs_of[i] & needed), -i))
        kept.add(best)
        needed -= pairs_of[best]
    kept = kept or {0}
    if spec.fusion is not None:
        pairs = spec.fusion.pairs(combos)
        while added := {k for i, j in pairs if {i, j} & kept for k in (i, j)} - kept:
            kept |= added
    cells = tuple(combos[i] for i in sorted(kept))
    return dataclasses.replace(spec, cells=cells, axes={})
