"""The sweep scripts as the tests see them, without pytest (a test's subprocess imports this too): every script in
``sweeps/``, a paper's sweeps, a sweep's flags and spec, and few cells that run every knob value of a table."""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
from typing import Any

from actrec.report.spec import matches

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Every sweep script, found by listing sweeps/ (a new sweep is tested without editing a list).
SWEEP_NAMES: tuple[str, ...] = tuple(sorted(p.stem for p in (ROOT / "sweeps").glob("*.py")))


# Some sweeps run their smoke profile end to end as a small Optuna search instead of their grid (their grid cells still
# take a training step without Ray in tests/test_sweeps_smoke.py): one per paper (MFST's other search is the
# interrupted and resumed one of tests/test_sweeps_cdc_theta.py), two samples run at once. EPAM-Net's complexity table
# searches accuracy against GFLOPs (--cost gflops: a multi-objective search and its Pareto front). mfst_isogd is
# searched too: its grid's two phases repeat what mfst_ntu's runs end to end (two phase-1 trials, then a fused one: 38 s
# in CI; its search: 25 s). epam_width stays a grid: its search took as long, and its grid alone fuses two RGB variants
# with one pose trial.
SEARCH_SMOKES: dict[str, tuple[str, ...]] = {
    "rpe_clusters": ("--search", "optuna", "--num-samples", "2"),
    "ctn_tokens_kernels": ("--search", "optuna", "--num-samples", "2"),
    "derecouple_recoupling": ("--search", "optuna", "--num-samples", "2"),
    "epam_complexity": ("--search", "optuna", "--num-samples", "2", "--cost", "gflops"),
    "mfst_isogd": ("--search", "optuna", "--num-samples", "2"),
}


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


def run_knobs(spec) -> set[str]:
    """The knobs of ``spec``'s grid that change how a trial runs or what the report draws (:func:`is_run_knob`)."""
    keys = {k for cell in spec.cells for k in cell} | set(spec.axes)
    return {k for k in keys if is_run_knob(spec, k)}


def is_run_knob(spec, key: str) -> bool:
    """Whether ``key`` changes how a trial of ``spec`` runs or what its report draws, in code of the sweep's own:
    the model's name (its class), the recipe (``train.`` and ``optim.``: epochs, an evaluate-only phase, batch
    sizes) and the keys the table's plot draws (its x axis and lines; :func:`covering_cells` prefers cells its
    filter selects, so the plot draws what ran). The other model knobs (θ, stems,
    switches, kernel sizes, fused variants) take a training step on every cell without Ray
    (``tests/test_sweeps_smoke.py::test_every_cell_of_the_smoke_grid_trains_a_step``); the data knobs (a column's
    synthetic stand-in, modality, protocol) select generic data paths: every modality streams through Ray Data in
    tests/test_data_pipeline.py, and every protocol's split is checked there and in the adapters' tests."""
    plot = spec.table.plot
    drawn = {plot.x, *plot.series} if plot is not None else set()
    return key == "model.name" or key.startswith(("train.", "optim.")) or key in drawn


def _cover(combos: list[dict[str, Any]], knob, preferred=lambda combo: True) -> list[int]:
    """Indices of few ``combos`` that give every key for which ``knob(key)`` holds each of the values the combos give
    it (a greedy set cover, within a factor ln(values) of the fewest); ties go to ``preferred`` combos, then to the
    earlier; the first preferred (or the first) when none varies."""

    def value(combo, key):
        return json.dumps(combo.get(key, "<unset>"), sort_keys=True, default=str)

    keys = sorted({k for c in combos for k in c if knob(k)})
    varied = [k for k in keys if len({value(c, k) for c in combos}) > 1]
    pairs_of = [{(k, value(c, k)) for k in varied} for c in combos]
    needed = set().union(*pairs_of)
    kept: set[int] = set()
    while needed:
        best = max(range(len(combos)), key=lambda i: (len(pairs_of[i] & needed), preferred(combos[i]), -i))
        kept.add(best)
        needed -= pairs_of[best]
    return sorted(kept) or [next((i for i, c in enumerate(combos) if preferred(c)), 0)]


def covering_cells(spec, profile: str):
    """``spec`` as ``profile`` runs it, cut to few grid cells that still give every run knob (:func:`is_run_knob`)
    the table varies each of its values at least once, so every model class, recipe and plot of the table runs end
    to end (cells the plot's filter selects go first). A kept cell that fuses in a second phase keeps one partner
    (the other stream of its first pair, unless a partner is kept already), and the fused variants are cut the same
    way, so the fused phase runs too. Axes are folded into the cells. The report still lists every row: the rows
    whose cells were cut show no measurement."""
    spec = spec.for_profile(profile)
    combos: list[dict[str, Any]] = [dict(cell) for cell in spec.cells]
    for key, values in spec.axes.items():
        combos = [{**c, key: v} for c in combos for v in values]
    knob = functools.partial(is_run_knob, spec)
    plot = spec.table.plot
    kept = set(_cover(combos, knob, lambda combo: plot is None or matches(combo, plot.match)))
    fusion = spec.fusion
    if fusion is not None:
        pairs = fusion.pairs(combos)
        for cell in sorted(kept):
            own = [pair for pair in pairs if cell in pair]
            if own and not any(set(pair) <= kept for pair in own):
                kept |= set(own[0])
        variants = [dict(v) for v in fusion.variants]
        fusion = dataclasses.replace(fusion, variants=tuple(variants[i] for i in _cover(variants, knob)))
    cells = tuple(combos[i] for i in sorted(kept))
    return dataclasses.replace(spec, cells=cells, axes={}, fusion=fusion)


def trial_configs(name: str) -> list[dict]:
    """Every trial of sweep ``name``'s full smoke grid (fused second phase included) as a dotted config, without the
    values that only the driver fills in when the trial starts (phase-1 checkpoints, pose pretraining): the model
    then starts from scratch."""
    from actrec.train.frame_pretrain import parse_spatial_init
    from actrec.tune.plan import CHECKPOINT_PLACEHOLDER, plan_sweep, resolve_trial

    args, spec = sweep_args(name, "--profile", "smoke")
    plan = plan_sweep(spec, args)
    configs = list(plan.resolved) + [resolve_trial(plan.base, t) for t in plan.fused]
    placeholders = {CHECKPOINT_PLACEHOLDER.format(i + 1) for i in range(len(plan.trials))}
    return [
        {k: v for k, v in config.items() if v not in placeholders and parse_spatial_init(v) is None}
        for config in configs
    ]


def train_a_step(config: dict) -> dict:
    """One training step of the model of a dotted ``config`` on random inputs of its data config's shapes, through
    the model protocol (the loop's loss, progress and class scores); returns the step's named loss terms."""
    import torch

    from actrec.config import from_flat
    from actrec.models import build_model
    from actrec.models.protocol import class_scores, set_progress, training_loss

    cfg = from_flat(config)
    torch.manual_seed(0)
    model = build_model(cfg.model)
    inputs = [torch.randn(2, *shape) for shape in cfg.data.input_shapes.values()]
    target = torch.nn.functional.one_hot(torch.tensor([0, 1]), cfg.data.num_classes).float()
    set_progress(model, 0.5, max(cfg.train.epochs, 1))
    output = model(*inputs)
    loss, terms = training_loss(model, output, target)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(t) for t in terms.values()), config
    assert class_scores(model, output).shape == (2, cfg.data.num_classes)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters()), config
    return terms


def paper_data_roots(name: str, directory: pathlib.Path, *, train: int = 30, val: int = 10) -> list[str]:
    """``--data-root DATASET=DIR`` arguments for every dataset sweep ``name``'s paper profile reads, each DIR a
    stand-in prepared root under ``directory``: an ``index.json`` of ``train`` + ``val`` clips in every protocol
    of the dataset (the same clips), and no shards. Enough for everything a ``--dry-run`` reads; reused across
    sweeps when ``directory`` already holds a dataset's root of those counts."""
    from actrec.data.config import DATASETS
    from actrec.tune.plan import base_config, trial_overrides

    args, spec = sweep_args(name, "--profile", "paper")
    base = base_config(spec, args)
    datasets = sorted({str({**base, **t}.get("data.dataset", "synthetic")) for t in trial_overrides(spec, args)})
    argv = []
    for dataset in datasets:
        root = directory / f"{dataset}-{train}-{val}"
        if not (root / "index.json").is_file():
            info = DATASETS[dataset]
            samples = [
                {"key": f"clip{i:06d}", "label": i % info.num_classes, "part": "train" if i < train else "val"}
                for i in range(train + val)
            ]
            shards = [
                {"path": f"shard-{k:06d}.tar", "samples": samples[k : k + 1000]} for k in range(0, len(samples), 1000)
            ]
            splits = {protocol: {"field": "part", "train": ["train"], "val": ["val"]} for protocol in info.protocols}
            index = {
                "format_version": 1,
                "dataset": dataset,
                "num_classes": info.num_classes,
                "modalities": ["rgb", "depth", "pose"],
                "shards": shards,
                "splits": splits,
            }
            root.mkdir(parents=True)
            (root / "index.json").write_text(json.dumps(index))
        argv += ["--data-root", f"{dataset}={root}"]
    return argv
