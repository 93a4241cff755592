"""Turning a sweep's table and the user's flags into every trial's resolved config, before anything starts.

:func:`plan_sweep` is the driver's first step and has no side effects: it expands the table's grid (cells × axes ×
seeds, and the fused rows of a second phase), binds each data root to the dataset its ``index.json`` names, refuses a
``--set`` of a key the grid itself sets, and builds and validates every trial's full config, so an impossible value
anywhere fails in seconds, before Ray starts and before anything is written. ``--dry-run`` prints the plan
(:func:`describe_plan`) and stops there.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from actrec.config import flatten, from_flat, parse_overrides
from actrec.errors import UsageError
from actrec.report.search import SearchRecord
from actrec.report.spec import matches
from actrec.tune.spec import Choice, IntRange, SweepSpec, Uniform

if TYPE_CHECKING:
    from actrec.tune.cost import SweepCost

CHECKPOINT_PLACEHOLDER = "<checkpoint of trial {}>"  # stands in for a phase-1 checkpoint path while planning
DEFAULT_SAMPLES = 10  # --search optuna without --num-samples


def data_roots(args: argparse.Namespace) -> tuple[str | None, dict[str, str]]:
    """``--data-root`` values: the one root every trial shares (a plain DIR) and per-dataset roots (DATASET=DIR)."""
    from actrec.data.config import DATASETS

    values = args.data_root or []
    if isinstance(values, str):
        values = [values]
    shared, per_dataset = None, {}
    for value in values:
        name, sep, path = value.partition("=")
        if sep and name.isidentifier():
            if name not in DATASETS:
                raise SystemExit(f"--data-root {value}: unknown dataset {name!r}; known: {', '.join(DATASETS)}")
            if name in per_dataset:
                raise SystemExit(f"--data-root {name}= given twice ({per_dataset[name]}, {path}); give one root each")
            per_dataset[name] = os.path.abspath(os.path.expanduser(path))
        elif shared is not None:
            raise SystemExit(f"--data-root given twice ({shared}, {value}); use DATASET=DIR for several datasets")
        else:
            shared = os.path.abspath(os.path.expanduser(value))
    return shared, per_dataset


def base_config(spec: SweepSpec, args: argparse.Namespace) -> dict[str, Any]:
    """Profile overrides, then ``--data-root``, then ``--set`` values: the dotted config every trial shares."""
    flat = dict(spec.profiles[args.profile])
    shared_root, _ = data_roots(args)
    if shared_root:
        flat["data.root"] = shared_root
    flat.update(parse_overrides(args.overrides))
    return flat


def trial_overrides(spec: SweepSpec, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every grid trial's own dotted values (cells × axes × seeds), in table order, as ``args.profile`` runs them
    (:meth:`SweepSpec.for_profile`); a ``--data-root DATASET=DIR`` sets ``data.root`` of that dataset's trials."""
    spec = spec.for_profile(args.profile)
    combos: list[dict[str, Any]] = [dict(cell) for cell in spec.cells]
    for key, values in spec.axes.items():
        combos = [{**c, key: v} for c in combos for v in values]
    _, roots = data_roots(args)
    if roots:
        default_dataset = base_config(spec, args).get("data.dataset", "synthetic")
        for combo in combos:
            dataset = combo.get("data.dataset", default_dataset)
            if dataset in roots:
                combo["data.root"] = roots[dataset]
    trials = [{**c, "train.seed": s} for c in combos for s in range(args.seeds)]
    if spec.fusion is not None and getattr(args, "fusion", "") == "joint":
        pairs = spec.fusion.pairs(trials)
        trials += [fused for i, j in pairs for fused in spec.fusion.fused_trials(trials[i], trials[j])]
    return trials


def checkpoint_fusion(spec: SweepSpec, args: argparse.Namespace) -> bool:
    """Whether RGB+DEP trials are made from the finished RGB and depth trials' checkpoints (a second phase)."""
    return spec.fusion is not None and args.search == "grid" and getattr(args, "fusion", "") == "checkpoints"


def fusion_trial_overrides(
    spec: SweepSpec, trials: list[dict[str, Any]], checkpoints: Mapping[int, str]
) -> list[dict[str, Any]]:
    """Fused trials of every (rgb, depth) pair whose two trials both left a checkpoint (``FusionSpec``): evaluate-only
    (``train.epochs=0``) or, with ``fine_tune``, trained from the two checkpoints.

    ``checkpoints`` maps a trial's index in ``trials`` to its newest checkpoint directory.
    """
    fusion = spec.fusion
    assert fusion is not None
    rgb_key, depth_key = fusion.checkpoint_keys
    fused = []
    for i, j in fusion.pairs(trials):
        if i not in checkpoints or j not in checkpoints:
            print(f"[actrec] no fused trial for {trials[i]}: one of its two stream trials left no checkpoint")
            continue
        for trial in fusion.fused_trials(trials[i], trials[j]):
            if not fusion.fine_tune:
                trial["train.epochs"] = 0
            fused.append({**trial, rgb_key: checkpoints[i], depth_key: checkpoints[j]})
    return fused


def resolve_trial(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The full dotted config of one trial; raises ValueError naming the field when a value is impossible."""
    return flatten(from_flat({**base, **overrides}))


def use_asha(spec: SweepSpec, args) -> bool:
    """Whether ASHA stops weak trials early (``--asha``): never in an exact table's grid, where every cell must run
    all its epochs; by default (auto) in Optuna searches and in grids whose table allows it (``early_stopping``)."""
    exact_grid = args.search == "grid" and not spec.early_stopping
    if getattr(args, "cost", "none") != "none":  # multi-objective: ASHA's one-metric ranking does not apply
        return False
    if args.asha == "on" and exact_grid:
        raise SystemExit(
            f"sweep {spec.name} reproduces an exact table: every trial must run all epochs (no --asha; ASHA applies "
            "to --search optuna)"
        )
    return args.asha == "on" or (args.asha == "auto" and not exact_grid)


def grid_values(flag: str, text: str, kind: type, valid, allowed: str, args: argparse.Namespace) -> tuple:
    """The sorted distinct values of a sweep's own grid flag (``--theta-grid 0.2,0.4``), each read as ``kind`` and
    passing ``valid``; a :class:`UsageError` naming ``flag`` for anything else (``allowed`` says what is), for an empty
    list, and with ``--search optuna``, which samples its own values instead of a grid's."""
    if args.search != "grid":
        raise UsageError(f"{flag} sets grid cells; --search {args.search} samples its own values (drop {flag})")
    try:
        values = tuple(sorted({kind(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        raise UsageError(f"{flag} must be comma-separated {allowed}, got {text!r}") from None
    if not values or not all(valid(v) for v in values):
        raise UsageError(f"{flag} must be comma-separated {allowed}, got {text!r}")
    return values


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepPlan:
    """What a sweep will run: the spec as its profile runs it, the dotted config every trial shares (``base``), each
    grid trial's own values (``trials``) and full resolved config (``resolved``), and the second phase's fused trials
    (their checkpoint paths still placeholders) when the table has one."""

    spec: SweepSpec
    base: dict[str, Any]
    trials: list[dict[str, Any]]
    resolved: list[dict[str, Any]]
    fused: list[dict[str, Any]]  # checkpoint-fusion trials (own values), resolved and checked like the others
    asha: bool
    search_space: dict[str, Any]  # --search optuna: the sampled keys and their Tune domains; {} for a grid

    num_samples: int = 0  # --search optuna: trials to sample
    # --search optuna: the resolved configs at the ends of every sampled dimension (``space_corners``): valid, and
    # the datasets the samples may read (e.g. a sampled modality) are prepared before the search starts.
    corners: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def planned(self) -> int:
        """Trials the sweep will run: the grid's (or the search's samples), then the fused second phase."""
        return len(self.fused) + (self.num_samples if self.search_space else len(self.trials))

    @property
    def first(self):
        """The first trial's config (its resources and epochs stand for the sweep's)."""
        return from_flat(self.resolved[0])


def plan_sweep(spec: SweepSpec, args: argparse.Namespace) -> SweepPlan:
    """Every trial of the sweep ``args`` asks for, resolved and validated; reads data roots' ``index.json`` only.

    Raises ``ValueError`` naming the field of an impossible value, ``FileNotFoundError`` naming a data root that
    holds no prepared dataset, and :class:`UsageError` for flags that contradict the table."""
    if args.seeds < 1:
        raise UsageError(f"--seeds must be >= 1, got {args.seeds}")
    if args.search == "optuna" and args.num_samples is not None and args.num_samples < 1:
        raise UsageError(f"--num-samples must be >= 1, got {args.num_samples}")
    if args.max_concurrent < 0:
        raise UsageError(f"--max-concurrent must be >= 0 (0: from the cluster's resources), got {args.max_concurrent}")
    if getattr(args, "trial_retries", None) is not None and args.trial_retries < 0:
        raise UsageError(f"--trial-retries must be >= 0, got {args.trial_retries}")
    if args.search == "grid" and args.num_samples is not None:
        raise UsageError("--num-samples counts the trials of --search optuna; a grid runs the table's cells (--seeds)")
    if getattr(args, "search_seed", None) is not None and args.search != "optuna":
        raise UsageError("--search-seed seeds --search optuna's sampler; a grid samples nothing (use --seeds)")
    if getattr(args, "search_seed", None) is not None and args.search_seed < 0:
        raise UsageError(f"--search-seed must be >= 0, got {args.search_seed}")
    if getattr(args, "cost", "none") != "none" and args.search != "optuna":
        raise UsageError(f"--cost {args.cost} is a second objective of --search optuna; a grid runs every cell")
    if getattr(args, "cost", "none") != "none" and args.asha == "on":
        raise UsageError(
            f"--cost {args.cost}: ASHA ranks trials by one metric, which would prune the cheap end "
            "of the Pareto front (drop --asha)"
        )
    if args.search == "optuna" and args.seeds > 1:
        raise UsageError("--seeds replicates a grid's cells; --search optuna samples --num-samples trials, seed 0")
    if args.search == "optuna" and getattr(args, "fusion", "checkpoints") == "joint":
        raise UsageError("--fusion joint adds fused trials to a grid; --search optuna samples single trials")
    if getattr(args, "cluster", None) and not getattr(args, "dry_run", False):
        raise UsageError(
            "--cluster sizes the cost plan that --dry-run prints; add --dry-run (a run uses the cluster it joins)"
        )
    check_paths(args)
    spec = spec.for_profile(args.profile)
    asha = use_asha(spec, args)
    if getattr(args, "asha_metric", None) is not None and not asha:
        raise UsageError(
            f"--asha-metric {args.asha_metric} ranks trials for ASHA, which this sweep does not run (it runs with "
            "--search optuna, without --cost, unless --asha off, or in grids whose table allows early stopping)"
        )
    base = base_config(spec, args)
    trials = trial_overrides(spec, args)
    fused: list[dict[str, Any]] = []
    if checkpoint_fusion(spec, args):
        pending = {i: CHECKPOINT_PLACEHOLDER.format(i + 1) for i in range(len(trials))}  # numbered as listed
        fused = fusion_trial_overrides(spec, trials, pending)
    space: dict[str, Any] = {}
    if args.search == "optuna":
        space = search_space(spec)
        trials = [search_setting(trials, space, parse_overrides(args.overrides))]
        if args.num_samples is not None:
            refuse_repeated_samples(spec, space, args.num_samples)
    # The second phase's own values (its model, modality, attention, recipe) are swept too; an evaluate-only fused
    # trial's train.epochs=0 is not: --set train.epochs sets the epochs of the trials that train.
    phase_keys = set(spec.fusion.fused) | {k for v in spec.fusion.variants for k in v} if spec.fusion else set()
    refuse_swept_overrides(args, trials + [{k: v for k, v in t.items() if k in phase_keys} for t in fused], space)
    refuse_unused_roots(args, base, trials)
    refuse_missing_roots(base, trials)
    base, trials = bind_data_roots(base, trials, given=parse_overrides(args.overrides), profile=args.profile)
    resolved = [resolve_trial(base, t) for t in trials]
    _check_roots(resolved)
    for trial in fused:
        resolve_trial(base, trial)
    corners = [resolve_trial(base, {**trials[0], **corner}) for corner in space_corners(space)]
    _check_roots(corners)
    for combination in discrete_combinations(space):  # knobs that are valid alone may not be together
        resolve_trial(base, {**trials[0], **combination})
    return SweepPlan(
        spec=spec,
        base=base,
        trials=trials,
        resolved=resolved,
        fused=fused,
        asha=asha,
        search_space=space,
        corners=corners,
        num_samples=default_samples(space, args) if space else 0,
    )


def search_space(spec: SweepSpec) -> dict[str, Any]:
    """The sweep's Optuna search space (``SweepSpec.optuna_space``: knob -> :data:`Dimension` or a constant)."""
    if not any(is_sampled(v) for v in spec.optuna_space.values()):
        raise UsageError(f"sweep {spec.name} has no search space; use --search grid")
    return dict(spec.optuna_space)


COST_METRICS = {"gflops": "model_gflops", "params": "model_params"}  # --cost -> the trial metric minimised
DIRECTIONS = {"max": "maximize", "min": "minimize"}


def objectives(metric: str, args: argparse.Namespace) -> list[tuple[str, str]]:
    """(trial metric, "max" / "min") of a search: the table's accuracy, then ``--cost``'s metric if any."""
    cost = getattr(args, "cost", "none")
    return [(metric, "max")] + ([(COST_METRICS[cost], "min")] if cost != "none" else [])


def search_seed(args: argparse.Namespace) -> int:
    """The Optuna sampler's seed (``--search-seed``, default 0)."""
    seed = getattr(args, "search_seed", None)
    return 0 if seed is None else int(seed)


def search_setting(
    trials: list[Mapping[str, Any]], space: Mapping[str, Any], given: Mapping[str, Any]
) -> dict[str, Any]:
    """What an Optuna search holds fixed besides the profile and the ``--set`` values: the table's first cell (its
    dataset or stand-in, protocol, modality, model and recipe) that agrees with the ``--set`` values (e.g. ``--set
    data.modality=depth`` takes the first depth cell, with its stem), without the keys the space samples or sets and
    those the user set."""

    def agrees(trial: Mapping[str, Any]) -> bool:
        return all(matches({key: trial[key]}, {key: value}) for key, value in given.items() if key in trial)

    chosen = next((t for t in trials if agrees(t)), trials[0])
    return {k: v for k, v in chosen.items() if k not in space and k not in given}


MAX_COMBINATIONS = 4096  # discrete combinations a plan resolves one by one (more: only the corners are checked)


def discrete_combinations(space: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the space's discrete knobs (``Choice``, ``IntRange``), continuous ones at their low end,
    when there are at most :data:`MAX_COMBINATIONS` of them; [] otherwise."""
    import itertools

    options = {
        k: (list(range(v.low, v.high + 1)) if isinstance(v, IntRange) else list(v.values))
        if isinstance(v, IntRange | Choice)
        else [v.low if isinstance(v, Uniform) else v]
        for k, v in space.items()
    }
    count = 1
    for values in options.values():
        count *= len(values)
    if count > MAX_COMBINATIONS:
        return []
    return [dict(zip(options, combo, strict=True)) for combo in itertools.product(*options.values())]


def distinct_settings(space: Mapping[str, Any]) -> int | None:
    """How many distinct settings a space without a continuous knob has (None when it has one)."""
    if any(isinstance(v, Uniform) for v in space.values()):
        return None
    count = 1
    for v in space.values():
        if is_sampled(v):
            count *= v.size()
    return count


def default_samples(space: Mapping[str, Any], args: argparse.Namespace) -> int:
    """``--num-samples``, else :data:`DEFAULT_SAMPLES`, or a smaller discrete space's number of settings."""
    if args.num_samples is not None:
        return args.num_samples
    settings = distinct_settings(space)
    return DEFAULT_SAMPLES if settings is None else min(DEFAULT_SAMPLES, settings)


def refuse_repeated_samples(spec: SweepSpec, space: Mapping[str, Any], samples: int) -> None:
    """More samples than a discrete space has settings would train some settings twice with the same seed."""
    settings = distinct_settings(space)
    if settings is not None and samples > settings:
        raise UsageError(
            f"--num-samples {samples}: sweep {spec.name}'s search space has {settings} distinct settings, so samples "
            f"would repeat; pass --num-samples {settings} or fewer, or use --search grid for every cell"
        )


def is_sampled(domain: Any) -> bool:
    """Whether a search-space entry is sampled (a :data:`Dimension`) rather than held constant."""
    return isinstance(domain, Uniform | IntRange | Choice)


def refuse_swept_overrides(args: argparse.Namespace, trials: list[dict[str, Any]], space: Mapping[str, Any]) -> None:
    """A ``--set`` of a key the grid sets per trial (to other values) or the search space samples would be silently
    replaced by the trial's own value: refused, naming the key and the values the table gives it."""
    given = parse_overrides(args.overrides)
    for key, value in given.items():
        if key in space and is_sampled(space[key]):
            raise UsageError(
                f"--set {key}={value}: --search optuna samples {key} itself ({domain_text(space[key])}); drop the "
                "--set, or use --search grid"
            )
        if key in space:
            raise UsageError(
                f"--set {key}={value}: this sweep's search holds {key}={space[key]} fixed (its space needs it); "
                "drop the --set, or use --search grid"
            )
        values = []
        for trial in trials:
            if key in trial and trial[key] not in values:
                values.append(trial[key])
        if values and not all(matches({key: v}, {key: value}) for v in values):
            hint = (
                "use --seeds N"
                if key == "train.seed"
                else "drop the --set, or change the grid with the sweep's own grid flag if it has one (--help)"
            )
            shown = ", ".join(str(v) for v in values[:12]) + (", …" if len(values) > 12 else "")
            raise UsageError(
                f"--set {key}={value}: the table's grid sets {key} per trial ({shown}), which would replace your "
                f"value; {hint}"
            )


def _reads(base: Mapping[str, Any], trial: Mapping[str, Any]) -> tuple[str, str | None]:
    """(dataset, root) a trial reads: its own values over the shared ones; the synthetic set by default."""
    merged = {**base, **trial}
    return str(merged.get("data.dataset", "synthetic")), merged.get("data.root") or None


def refuse_unused_roots(args: argparse.Namespace, base: Mapping[str, Any], trials: list[dict[str, Any]]) -> None:
    """A ``--data-root`` no trial reads would be silently ignored: refused, saying what the trials read."""
    shared, per_dataset = data_roots(args)
    read = sorted({_reads(base, t)[0] for t in trials})
    for name, path in per_dataset.items():
        if name not in read:
            raise UsageError(
                f"--data-root {name}={path}: no trial of this table reads {name} in the {args.profile} profile (its "
                f"trials read {', '.join(read)}); " + _profile_hint(args.profile, read)
            )
    if shared and all("data.root" in t for t in trials):
        raise UsageError(f"--data-root {shared}: every trial reads its own DATASET=DIR root, so this one is unused")


def _profile_hint(profile: str, read: list[str]) -> str:
    if read == ["synthetic"]:
        return f"the {profile} profile measures it on synthetic stand-ins; --profile paper reads real datasets"
    return "drop that --data-root"


def refuse_missing_roots(base: Mapping[str, Any], trials: list[dict[str, Any]]) -> None:
    """Every real dataset the trials read needs a root; all the missing ones are named at once."""
    missing = sorted({d for d, root in (_reads(base, t) for t in trials) if d != "synthetic" and not root})
    if not missing:
        return
    read = sorted({_reads(base, t)[0] for t in trials})
    if read == missing and len(missing) == 1:
        fix = f"pass --data-root DIR, a prepared {missing[0]} dataset (`actrec data prepare {missing[0]} ...`)"
    else:
        fix = "pass " + " ".join(f"--data-root {d}=DIR" for d in missing) + " (prepared with `actrec data prepare`)"
    raise UsageError(f"no data root for {', '.join(missing)}, which this table's trials read: {fix}")


def bind_data_roots(
    base: dict[str, Any], trials: list[dict[str, Any]], *, given: Mapping[str, Any] = {}, profile: str = ""
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Each data root's dataset comes from its ``index.json``: ``data.dataset`` is set from it where the profile, the
    grid and ``--set`` (``given``) leave it open, and a root holding another dataset than the one asked for is an
    error naming both and where the request came from. A missing or empty root (or one without ``index.json``) is an
    error naming the path."""
    from actrec.data.shards import load_index

    found: dict[str, str] = {}

    def dataset_of(root: str) -> str:
        if root not in found:
            found[root] = str(load_index(root)["dataset"])
        return found[root]

    def check(root: str, asked: Any, trial: Mapping[str, Any]) -> str:
        dataset = dataset_of(root)
        if asked is None or str(asked) == dataset:
            return dataset
        if "data.dataset" in given:
            source = f"--set data.dataset={asked}"
        elif "data.dataset" in trial:
            source = f"the table's cell reads data.dataset={asked!r}"
        else:
            source = f"the {profile} profile reads data.dataset={asked!r}"
        hint = (
            _profile_hint(profile, ["synthetic"])
            if str(asked) == "synthetic"
            else f"point --data-root at a prepared {asked} dataset"
        )
        raise UsageError(f"data root {root} holds the dataset {dataset!r} (its index.json), but {source}; {hint}")

    base = dict(base)
    if base.get("data.root"):  # one root shared by every trial that names no root of its own
        root = str(base["data.root"])
        readers = [t for t in trials if "data.root" not in t]
        asked = sorted({str(t.get("data.dataset", base.get("data.dataset"))) for t in readers} - {"None"})
        if len(asked) > 1:
            raise UsageError(
                f"--data-root {root}: this table reads several datasets ({', '.join(asked)}); give one "
                + " ".join(f"--data-root {d}=DIR" for d in asked)
            )
        for trial in readers:
            check(root, trial.get("data.dataset", base.get("data.dataset")), trial)
        base.setdefault("data.dataset", dataset_of(root))
    bound = []
    for trial in trials:  # --data-root DATASET=DIR: the root of that dataset's trials
        if trial.get("data.root"):
            identity = check(str(trial["data.root"]), trial.get("data.dataset", base.get("data.dataset")), trial)
            if "data.dataset" not in trial and "data.dataset" not in base:
                trial = {**trial, "data.dataset": identity}
        bound.append(trial)
    return base, bound


def check_paths(args: argparse.Namespace) -> None:
    """Where the sweep will write can be written: the storage path and the report folder are directories (or can be
    made), a SQLite tracking store's folder exists; MLflow's other stores (servers, databases) are checked when
    the sweep connects."""
    from actrec.track.uri import resolve_tracking_uri

    for flag, path in (("--storage-path", args.storage_path), ("--report-dir", args.report_dir)):
        path = os.path.abspath(os.path.expanduser(path))
        existing = path
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            raise UsageError(f"{flag} {path}: {existing} is a file, not a directory")
        if not os.access(existing, os.W_OK):
            raise UsageError(f"{flag} {path}: {existing} is not writable")
    uri = resolve_tracking_uri(args.tracking_uri)
    scheme = uri.split(":", 1)[0] if "://" in uri else ""
    if scheme == "sqlite":
        folder = os.path.dirname(uri[len("sqlite:///") :])
        if not os.path.isdir(folder):
            raise UsageError(f"--tracking-uri {uri}: the folder {folder} of this SQLite store does not exist")
    elif scheme and scheme not in KNOWN_TRACKING_SCHEMES:
        known = ", ".join(KNOWN_TRACKING_SCHEMES)
        raise UsageError(f"--tracking-uri {uri}: unknown scheme {scheme!r} (MLflow stores: {known}, or a path)")


# MLflow tracking URI schemes (mlflow.tracking._tracking_service.utils registers these; databases via SQLAlchemy).
KNOWN_TRACKING_SCHEMES = ("http", "https", "sqlite", "postgresql", "mysql", "mssql", "file", "databricks")


def distinct_datasets(resolved: list[dict[str, Any]]) -> list:
    """One resolved config per distinct (dataset, root, synthetic parameters) among the trials."""
    seen, configs = set(), []
    for flat in resolved:
        names = [k for k in flat if k in ("data.dataset", "data.root") or k.startswith("data.synth_")]
        key = tuple(sorted((k, str(flat[k])) for k in names))
        if key not in seen:
            seen.add(key)
            configs.append(from_flat(flat))
    return configs


def _check_roots(resolved: list[dict[str, Any]]) -> None:
    """Every data root the trials read fits their config (dataset, class count, a synthetic set's parameters, and
    per trial the protocol's split and the modality's members)."""
    from actrec.data.pipeline import check_root

    seen = set()
    for flat in resolved:
        data = from_flat(flat).data
        key = (data.root, data.dataset, data.protocol, data.modality, tuple(data.synth_params().values()))
        if data.root and key not in seen:
            seen.add(key)
            check_root(data)


def space_corners(space: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Configs at the ends of every dimension of a search space (each categorical value, each numeric bound), the
    other keys at their first, constants as they are: what validating an Optuna search before it starts can
    check."""
    options = {key: domain.corners() if is_sampled(domain) else [domain] for key, domain in space.items()}
    if not options:
        return []
    first = {key: values[0] for key, values in options.items()}
    return [{**first, key: value} for key, values in options.items() for value in values]


def domain_text(domain: Any) -> str:
    """A search-space entry as a reader wants it: ``uniform(0, 1)``, ``choice(rgb, depth)``, ``4 (fixed)``."""
    return domain.text() if is_sampled(domain) else f"{domain} (fixed)"


def tune_domain(domain: Any) -> Any:
    """A search-space entry as Ray Tune's param space takes it (constants as they are)."""
    from ray import tune

    if isinstance(domain, Uniform):
        return tune.loguniform(domain.low, domain.high) if domain.log else tune.uniform(domain.low, domain.high)
    if isinstance(domain, IntRange):
        return tune.randint(domain.low, domain.high + 1)  # Tune's upper bound is exclusive
    if isinstance(domain, Choice):
        return tune.choice(list(domain.values))
    return domain


def search_record(
    space: Mapping[str, Any],
    fixed: Mapping[str, Any],
    objectives: Sequence[tuple[str, str]],
    *,
    num_samples: int,
    asha: bool,
    seed: int = 0,
) -> SearchRecord:
    """The record of a search over ``space`` (key -> ``actrec.tune.spec`` dimension or constant)."""
    from optuna.distributions import distribution_to_json

    sampled = {k: distribution_to_json(optuna_distribution(v)) for k, v in space.items() if is_sampled(v)}
    constants = {**fixed, **{k: v for k, v in space.items() if not is_sampled(v)}}
    goals = tuple((metric, DIRECTIONS[mode]) for metric, mode in objectives)
    kind = "TPESampler" if distinct_settings(space) is None else "BruteForceSampler (each setting once)"
    sampler = f"Optuna {kind}, seed {seed}" + (", multi-objective" if len(goals) > 1 else "")
    return SearchRecord(
        distributions=sampled,
        objectives=goals,
        fixed={k: str(v) for k, v in constants.items()},
        sampler=sampler,
        num_samples=num_samples,
        asha=asha,
    )


def optuna_distribution(domain: Any):
    """A sampled search-space entry as an Optuna distribution (for rebuilding a finished search as an Optuna study)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(domain, Uniform):
        return FloatDistribution(domain.low, domain.high, log=domain.log)
    if isinstance(domain, IntRange):
        return IntDistribution(domain.low, domain.high)
    return CategoricalDistribution(domain.values)


def trial_resources(config: Mapping[str, Any]) -> str:
    """What one trial asks the cluster for: its Train workers and its data decoding."""
    cfg = from_flat(config)
    worker = " + ".join(f"{amount:g} {name}" for name, amount in cfg.train.worker_resources.items())
    return f"{cfg.train.num_workers} worker(s) × ({worker}) + decode tasks of {cfg.data.decode_cpus:g} CPU"


def search_fixed(plan: SweepPlan, args: argparse.Namespace) -> dict[str, Any]:
    """What every sample of a search shares beyond the profile: the table cell it runs on, the space's constants,
    then the ``--set`` values."""
    constants = {k: v for k, v in plan.search_space.items() if not is_sampled(v)}
    return {**plan.trials[0], **constants, **parse_overrides(args.overrides)}


def describe_plan(plan: SweepPlan, args: argparse.Namespace) -> str:
    """``--dry-run``: the sweep, then one line per trial (its swept keys, the resources it requests and, for a trial
    on GPUs, its estimated GPU-hours), then the sweep's cost plan on the cluster's GPU nodes (``actrec.tune.cost``;
    none for trials on CPUs). :class:`UsageError` for a ``--cluster`` YAML that cannot be read."""
    from actrec.tune.cost import SweepCost, describe_cost, trial_note

    spec = plan.spec
    cost = plan_cost(plan, args)
    notes = cost.phases if isinstance(cost, SweepCost) and not plan.search_space else ()
    note = (lambda phase, i: trial_note(notes[phase][i])) if notes else (lambda phase, i: "")
    lines = [
        f"sweep {spec.name} ({spec.table.paper} {spec.table.table}), profile {args.profile}, search {args.search}"
        f"{' with ASHA (ranking by ' + (getattr(args, 'asha_metric', None) or 'loss') + ')' if plan.asha else ''}: "
        f"{plan.planned} trial(s); every trial's config resolved and valid",
    ]
    lines += [f"data: {line}" for line in _data_lines(plan.resolved)]
    if plan.search_space:
        sampled = {k: v for k, v in plan.search_space.items() if is_sampled(v)}
        space = ", ".join(f"{k} ∈ {domain_text(v)}" for k, v in sampled.items())
        resources = trial_resources(plan.resolved[0])
        lines.append(f"optuna: {plan.num_samples} sample(s) over {space}; resources per trial: {resources}")
        fixed = search_fixed(plan, args)
        if fixed:
            lines.append("fixed in every sample: " + " ".join(f"{k}={v}" for k, v in fixed.items()))
        goals = objectives(spec.table.metric, args)
        lines.append("objective: " + " and ".join(f"{DIRECTIONS[d][:-2]}se {m}" for m, d in goals))
    else:
        width = len(str(plan.planned))
        for i, (trial, flat) in enumerate(zip(plan.trials, plan.resolved, strict=True), start=1):
            swept = " ".join(f"{k}={v}" for k, v in trial.items())
            lines.append(f"{i:>{width}}. {swept}  [{trial_resources(flat)}]{note(0, i - 1)}")
        for j, trial in enumerate(plan.fused, start=len(plan.trials) + 1):
            swept = " ".join(f"{k}={v}" for k, v in trial.items())
            resources = trial_resources({**plan.base, **trial})
            lines.append(f"{j:>{width}}. (phase 2) {swept}  [{resources}]{note(1, j - len(plan.trials) - 1)}")
    if cost is not None:
        lines += describe_cost(cost, asha=plan.asha)
    lines.append("dry run: nothing started, nothing written")
    return "\n".join(lines)


def plan_cost(plan: SweepPlan, args: argparse.Namespace) -> SweepCost | str | None:
    """The sweep's cost plan on the ``--cluster`` YAML (default: the repository's, where the checkout has it): an
    ``actrec.tune.cost.SweepCost``, a line saying why it cannot be priced, or None when no trial trains on GPUs.
    Phase 1 is the grid's trials (a search's setting and corners, each sample priced as the costliest), phase 2 the
    fused trials."""
    from actrec.tune.cost import cluster_path, load_cluster, sweep_cost, uses_gpus

    path = cluster_path(args)
    cluster = load_cluster(path) if path else None  # a bad --cluster is refused even when nothing is priced
    first = [plan.resolved[0], *plan.corners] if plan.search_space else list(plan.resolved)
    phases = [first] + ([[resolve_trial(plan.base, trial) for trial in plan.fused]] if plan.fused else [])
    if not any(uses_gpus(flat) for phase in phases for flat in phase):
        return None
    if cluster is None:
        return "not estimated: no cluster YAML to price the GPU trials on (pass --cluster FILE)"
    samples = plan.num_samples if plan.search_space else 0
    return sweep_cost(phases, cluster, samples=samples, max_concurrent=getattr(args, "max_concurrent", 0))


def _data_lines(resolved: list[dict[str, Any]]) -> list[str]:
    """Each distinct dataset the trials read, and where from."""
    from actrec.data.config import default_synthetic_root

    lines: list[str] = []
    for flat in resolved:
        data = from_flat(flat).data
        if data.root:
            line = f"{data.dataset} ({data.protocol}) read from {data.root}"
        else:
            cache = default_synthetic_root(data)
            state = "cached" if (cache / "index.json").is_file() else "generated there on the first run"
            line = f"synthetic set ({data.protocol}) in the cache {cache} ({state})"
        if line not in lines:
            lines.append(line)
    return lines
