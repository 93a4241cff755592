"""The one place that builds a Ray Tune ``Tuner``: every sweep script calls :func:`main` with its spec.

A trial is a Tune *function trainable* that launches a Ray Train ``TorchTrainer`` (Ray Train V2 runs inside
Tune; ``TuneReportCallback`` forwards each worker report to Tune). Grid tables use Tune's grid search;
``--search optuna`` uses ``OptunaSearch`` over the spec's continuous space. The driver alone writes MLflow
and, at the end, the report.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import glob
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from actrec.config import flatten, from_flat, parse_overrides
from actrec.tune.spec import SweepSpec

SEARCHES = ("grid", "optuna")
ASHA_MODES = ("auto", "on", "off")
FUSIONS = ("checkpoints", "joint")
CELL_KEY = "cell"
FUSION_DIR = "fusion"  # Tune experiment of the checkpoint-fusion trials, inside the sweep directory


def build_parser(spec: SweepSpec) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"sweeps/{spec.name}.py",
        description=f"{spec.table.paper} {spec.table.table}: {spec.table.title}",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--profile",
        choices=sorted(spec.profiles),
        default=spec.default_profile,
        help="smoke: minutes, for tests; local: synthetic data on this machine; paper: the paper "
        "recipe on a real dataset (needs --data-root and a GPU cluster)",
    )
    parser.add_argument("--seeds", type=int, default=1, help="replicate every grid cell with seeds 0..N-1")
    parser.add_argument(
        "--search",
        choices=SEARCHES,
        default="grid",
        help="grid: the table's cells; optuna: Optuna TPE over the sweep's continuous space",
    )
    parser.add_argument("--num-samples", type=int, default=10, help="trials for --search optuna")
    parser.add_argument(
        "--asha",
        nargs="?",
        const="on",
        default="auto",
        choices=ASHA_MODES,
        help="stop weak trials early with ASHA. auto: on for --search optuna (it looks for the best setting, not a "
        "table of every cell) and for grids whose table allows early stopping, off for exact tables; on (or a bare "
        "--asha) is refused for an exact table's grid",
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        default=None,
        metavar="SWEEP_DIR",
        help="finish an interrupted sweep (the latest one of this sweep and profile by default)",
    )
    parser.add_argument(
        "--tracking-uri", default=None, help="MLflow tracking URI (default $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)"
    )
    parser.add_argument(
        "--storage-path",
        default=os.environ.get("ACTREC_STORAGE", os.path.expanduser("~/actrec_runs")),
        help="where Tune state and checkpoints go (shared storage on a cluster)",
    )
    parser.add_argument("--report-dir", default="reports", help="where the report files are written")
    parser.add_argument(
        "--data-root",
        action="append",
        default=None,
        metavar="[DATASET=]DIR",
        help="prepared dataset root (index.json + shards), sets data.root; tables over several datasets take one "
        "DATASET=DIR per dataset (repeat the flag), e.g. --data-root nvgesture=/data/nv --data-root thu_read=/data/thu",
    )
    parser.add_argument("--max-concurrent", type=int, default=0, help="cap on concurrent trials (0: from resources)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dotted config override applied to every trial, e.g. --set train.epochs=3",
    )
    parser.add_argument("--verbose", action="store_true", help="stream Ray worker logs to the console")
    if spec.fusion is not None:
        parser.add_argument(
            "--fusion",
            choices=FUSIONS,
            default="checkpoints",
            help="RGB+DEP rows: checkpoints = late score fusion of each RGB and depth trial's best checkpoint, "
            "evaluated after they finish (the paper's two separately trained streams); joint = train the "
            "two-stream model end to end as one more trial (sum of the two streams' losses)",
        )
    return parser


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


def _trial_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """Tune trial config (constants + grid ``cell``) → the trial's full dotted config."""
    merged = {k: v for k, v in config.items() if k != CELL_KEY}
    merged.update(config.get(CELL_KEY, {}))
    return resolve_trial(merged, {})


def run_trial(config: dict[str, Any], *, train_storage: str) -> None:
    """Tune function trainable: one Ray Train run of the trial's config."""
    import ray.train
    from ray import tune
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    from actrec.train.ingest import ValidationSafeDataConfig, train_datasets
    from actrec.train.loop import train_loop_per_worker

    flat = _trial_params(config)
    cfg = from_flat(flat)
    trial_id = tune.get_context().get_trial_id()
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=flat,
        torch_config=TorchConfig(backend="nccl" if cfg.train.use_gpu else "gloo"),
        scaling_config=ray.train.ScalingConfig(
            num_workers=cfg.train.num_workers,
            use_gpu=cfg.train.use_gpu,
            resources_per_worker={"CPU": cfg.train.cpus_per_worker, **({"GPU": 1} if cfg.train.use_gpu else {})},
        ),
        run_config=ray.train.RunConfig(
            # Same name + storage on a resumed sweep: Ray Train restores the run from its newest checkpoint.
            name=trial_id,
            storage_path=train_storage,
            failure_config=ray.train.FailureConfig(max_failures=cfg.train.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=cfg.train.checkpoints_to_keep),
            callbacks=[TuneReportCallback()],
        ),
        datasets=train_datasets(cfg.data),
        dataset_config=ValidationSafeDataConfig(),
    )
    trainer.fit()


def main(
    spec: SweepSpec,
    argv: Sequence[str] | None = None,
    extend: Callable[[SweepSpec, argparse.Namespace], SweepSpec] | None = None,
    parser: argparse.ArgumentParser | None = None,
) -> str:
    """Run (or resume) the sweep and write its report; returns the report's Markdown path."""
    parser = parser or build_parser(spec)
    args = parser.parse_args(argv)
    if extend is not None:
        spec = extend(spec, args)
    try:
        return run_sweep(spec, args)
    except SweepInterrupted as interrupted:  # already reported and recorded: exit as the signal's shell status
        raise SystemExit(128 + interrupted.signal_number) from None
    except KeyboardInterrupt:
        raise SystemExit(128 + signal.SIGINT) from None


def run_sweep(spec: SweepSpec, args: argparse.Namespace) -> str:
    from ray import tune

    from actrec.report.table import write_report
    from actrec.track.mlflow_tracker import MLflowTuneCallback, SweepTracker, resolve_tracking_uri
    from actrec.tune.progress import ProgressPrinter

    if args.seeds < 1:
        raise SystemExit("--seeds must be >= 1")
    spec = spec.for_profile(args.profile)  # stand-in columns of the CPU profiles; logged as the report's table
    asha = use_asha(spec, args)  # an impossible --asha fails here, before anything starts
    base = base_config(spec, args)
    trials = trial_overrides(spec, args)
    # Resolve every trial before anything starts: an impossible value fails here, naming its field.
    resolved = [resolve_trial(base, t) for t in trials]
    first = from_flat(resolved[0])
    _prepare_data(resolved)
    base, trials, resolved = _pretrained_spatial_init(args, base, trials, resolved)
    prepare_skipped = sum(_prepare_skipped(cfg) for cfg in _distinct_datasets(resolved))

    sweep_dir, resuming = _sweep_dir(spec, args)
    tracking_uri = resolve_tracking_uri(args.tracking_uri)
    joined = _init_ray(verbose=args.verbose)
    if asha and joined and not _state_api_reachable():
        print(
            "[actrec] warning: this cluster's dashboard (Ray's state API) does not answer. Ray Train needs it to free "
            "the workers of a trial that ASHA stops, so stopped trials would keep their CPUs/GPUs and the sweep may "
            "stall: start the head with its dashboard (the `ray start --head` default) or pass --asha off."
        )
    per_trial_cpu = first.train.num_workers * first.train.cpus_per_worker + 2 * first.data.decode_cpus
    gpus_per_trial = first.train.num_workers if first.train.use_gpu else 0
    concurrency = _max_concurrent(per_trial_cpu, gpus_per_trial, args, joined=joined)

    fusing = checkpoint_fusion(spec, args)
    if fusing:
        # The RGB+DEP trials need the finished RGB and depth checkpoints; check their configs now all the same.
        pending = {i: f"<checkpoint of trial {i}>" for i in range(len(trials))}
        for fused in fusion_trial_overrides(spec, trials, pending):
            resolve_trial(base, fused)
    planned = len(trials) if args.search == "grid" else args.num_samples
    if fusing:
        planned += len(spec.fusion.pairs(trials)) * len(spec.fusion.variants)
    tags = {"paper": spec.table.paper, "table": spec.table.table, "profile": args.profile, "search": args.search}
    tracker = SweepTracker(tracking_uri, spec.name)
    tracker.start(
        sweep_dir=sweep_dir,
        tags=tags,
        params={
            "profile": args.profile,
            "seeds": args.seeds,
            "search": args.search,
            "asha": asha,
            "trials_planned": planned,
            "max_concurrent_trials": concurrency or "autoscaled",
            # Entries `actrec data prepare` skipped (listed in the dataset's index.json); train-time skips are
            # the trials' skipped_train / skipped_val metrics.
            "data_prepare_skipped": prepare_skipped,
            **{f"base.{k}": v for k, v in base.items()},
        },
        resume=resuming,
    )
    tracker.log_text(spec.table.to_json(), "table_spec.json")
    print(
        f"[actrec] sweep {spec.name} ({spec.table.paper} {spec.table.table}), profile={args.profile}, "
        f"search={args.search}{' with ASHA early stopping' if asha else ''}, {planned} trials, "
        f"{concurrency or 'as many as the autoscaler makes room for'} at a time"
    )
    print(f"[actrec] MLflow: {tracking_uri} (experiment actrec/{spec.name}, parent run {tracker.parent_run_id})")
    print(f"[actrec] Tune state and checkpoints: {sweep_dir}")

    train_storage = os.path.join(sweep_dir, "train")
    trainable = tune.with_resources(tune.with_parameters(run_trial, train_storage=train_storage), {"CPU": 0.01})
    callbacks = [
        MLflowTuneCallback(tracker, _trial_params, tags),
        ProgressPrinter(_trial_params, first.train.epochs, planned),
    ]
    started = time.time()
    completed = False
    stack = contextlib.ExitStack()
    try:
        received = stack.enter_context(_signals_interrupt())
        grid = _fit(
            trainable,
            sweep_dir,
            resuming=resuming,
            callbacks=callbacks,
            param_space=lambda: _param_space(spec, args, base, trials),
            tune_config=lambda: _tune_config(spec, args, concurrency, first.train.epochs),
        )
        _raise_if_interrupted(received)
        results = list(grid)
        if fusing:
            checkpoints = _trial_checkpoints(results, trials, train_storage)
            fused = fusion_trial_overrides(spec, trials, checkpoints)
            if fused:
                what = "fine-tuned from" if spec.fusion.fine_tune else "late score fusion of"
                print(f"[actrec] fused rows: {len(fused)} trial(s) {what} the two streams' checkpoints")
                fusion_dir = os.path.join(sweep_dir, FUSION_DIR)
                fusion_callbacks = [
                    MLflowTuneCallback(tracker, _trial_params, tags),
                    ProgressPrinter(_trial_params, _trial_params({**base, **fused[0]})["train.epochs"], len(fused)),
                ]
                grid = _fit(
                    trainable,
                    fusion_dir,
                    resuming=resuming and tune.Tuner.can_restore(fusion_dir),
                    callbacks=fusion_callbacks,
                    param_space=lambda: {**base, CELL_KEY: tune.grid_search(fused)},
                    tune_config=lambda: tune.TuneConfig(
                        metric=spec.table.metric, mode="max", max_concurrent_trials=concurrency
                    ),
                )
                _raise_if_interrupted(received)
                results += list(grid)
        completed = True
    finally:
        stack.close()
        if not completed:
            # Interrupted (Ctrl-C, SIGTERM: `ray job stop`, a reclaimed node) or crashed driver: no run may stay
            # RUNNING in MLflow. A later --resume reopens the unfinished trials' runs and finishes them.
            exc = sys.exc_info()[1]
            if isinstance(exc, KeyboardInterrupt):  # Ctrl-C outside Tune's run (e.g. while pretraining)
                exc = SweepInterrupted(signal.SIGINT)
            if isinstance(exc, SweepInterrupted):
                tracker.set_tag("interrupted_by", exc.signal_name)
                print(
                    f"[actrec] {exc.signal_name}: sweep interrupted; unfinished trials are marked FAILED in MLflow. "
                    f"Finish it with: python sweeps/{spec.name}.py --profile {args.profile} --resume {sweep_dir}",
                    file=sys.stderr,
                )
            tracker.close("FAILED")
    errors = [r for r in results if r.error is not None]
    if errors:
        print(f"[actrec] {len(errors)} trial(s) failed; first error:\n{errors[0].error}", file=sys.stderr)
    tracker.close("FAILED" if errors else "FINISHED")
    print(f"[actrec] sweep finished in {time.time() - started:.0f}s; writing the report")
    paths = write_report(tracking_uri, spec.name, out_dir=args.report_dir, parent_run_id=tracker.parent_run_id)
    for path in paths:
        tracker.log_artifact(path, "report")
    print(f"[actrec] report: {paths[0]}")
    return paths[0]


class SweepInterrupted(BaseException):
    """SIGINT or SIGTERM reached the sweep driver (a BaseException, like KeyboardInterrupt: nothing may catch it on
    the way out but the driver's own cleanup)."""

    def __init__(self, signal_number: int) -> None:
        self.signal_number = signal_number
        self.signal_name = signal.Signals(signal_number).name
        super().__init__(self.signal_name)


TUNE_STOP_HANDLER = "signal_interrupt_tune_run"  # Tune's graceful-stop handler (on SIGUSR1 while Tuner.fit runs)
_fitting = threading.Event()  # set while _fit runs Tuner.fit


@contextlib.contextmanager
def _signals_interrupt():
    """While the sweep runs, Ctrl-C (SIGINT) and SIGTERM (``ray job stop``, a shutdown, ``kill``) stop it; yields the
    list of the signals received.

    During ``Tuner.fit`` a signal is handed to Tune's graceful-stop handler (the one Tune puts on SIGUSR1): Tune saves
    its experiment state, stops the trials and ``fit`` returns; :func:`_raise_if_interrupted` then ends the sweep.
    Raising inside ``fit`` instead would surface from Ray's C++ core as a SystemError. Outside ``fit`` the signal
    raises :class:`SweepInterrupted` at once. Tune's own Ctrl-C handler is switched off
    (``TUNE_DISABLE_SIGINT_HANDLER``) so that every stop is seen here. Outside the main thread (signals cannot be
    handled there) nothing changes.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def on_signal(signum, frame):
        received.append(signum)
        tune_stop = signal.getsignal(signal.SIGUSR1)
        if _fitting.is_set() and getattr(tune_stop, "__name__", "") == TUNE_STOP_HANDLER and len(received) == 1:
            tune_stop(signum, frame)  # the first signal: Tune ends fit() gracefully
        else:
            raise SweepInterrupted(signum)  # outside fit, or a second signal: at once

    saved_env = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    saved = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        if saved_env is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = saved_env


def _raise_if_interrupted(received: list[int]) -> None:
    """After ``Tuner.fit`` returned: a signal received while it ran stopped it early."""
    if received:
        raise SweepInterrupted(received[0])


def _fit(trainable, experiment_dir: str, *, resuming: bool, callbacks, param_space, tune_config):
    """Run (or, when ``resuming``, restore and finish) the Tune experiment in ``experiment_dir``."""
    from ray import tune

    if resuming:
        tuner = tune.Tuner.restore(experiment_dir, trainable, resume_unfinished=True, resume_errored=True)
        # Tuner.restore keeps the stored RunConfig; our callbacks are driver objects and must be re-attached.
        tuner._local_tuner._run_config.callbacks = callbacks
    else:
        tuner = tune.Tuner(
            trainable,
            param_space=param_space(),
            tune_config=tune_config(),
            run_config=tune.RunConfig(
                name=os.path.basename(experiment_dir),
                storage_path=os.path.dirname(experiment_dir),
                callbacks=callbacks,
                verbose=0,
            ),
        )
    _fitting.set()
    try:
        return tuner.fit()
    finally:
        _fitting.clear()


def _trial_checkpoints(results, trials: list[dict[str, Any]], train_storage: str) -> dict[int, str]:
    """Index in ``trials`` -> newest Ray Train checkpoint directory of that (finished) trial."""
    index = {json.dumps(t, sort_keys=True, default=str): i for i, t in enumerate(trials)}
    found = {}
    for result in results:
        cell = (result.config or {}).get(CELL_KEY)
        trial_id = (result.metrics or {}).get("trial_id")
        if result.error is not None or cell is None or trial_id is None:
            continue
        position = index.get(json.dumps(cell, sort_keys=True, default=str))
        # Ray Train names checkpoint directories checkpoint_<timestamp>; its checkpoint_manager_snapshot.json
        # sits beside them.
        checkpoints = sorted(
            p for p in glob.glob(os.path.join(train_storage, trial_id, "checkpoint_*")) if os.path.isdir(p)
        )
        if position is not None and checkpoints:
            found[position] = checkpoints[-1]
    return found


def _param_space(spec: SweepSpec, args, base: Mapping[str, Any], trials: list[dict[str, Any]]) -> dict[str, Any]:
    from ray import tune

    space: dict[str, Any] = dict(base)
    if args.search == "grid":
        space[CELL_KEY] = tune.grid_search(trials)
    else:
        if spec.optuna_space is None:
            raise SystemExit(f"sweep {spec.name} has no continuous space; use --search grid")
        space.update(spec.optuna_space())
    return space


def use_asha(spec: SweepSpec, args) -> bool:
    """Whether ASHA stops weak trials early (``--asha``): never in an exact table's grid, where every cell must run
    all its epochs; by default (auto) in Optuna searches and in grids whose table allows it (``early_stopping``)."""
    exact_grid = args.search == "grid" and not spec.early_stopping
    if args.asha == "on" and exact_grid:
        raise SystemExit(
            f"sweep {spec.name} reproduces an exact table: every trial must run all epochs (no --asha; ASHA applies "
            "to --search optuna)"
        )
    return args.asha == "on" or (args.asha == "auto" and not exact_grid)


def asha_scheduler(epochs: int):
    """ASHA over epochs (one report per epoch): rungs at 1, 3, 9, ... epochs up to the trial's ``epochs``; at each
    rung a trial goes on only if it is in the top third of the trials that reached it so far."""
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr="training_iteration", max_t=max(1, epochs), grace_period=1, reduction_factor=3)


def _tune_config(spec: SweepSpec, args, concurrency: int | None, epochs: int = 1):
    from ray import tune

    search_alg, num_samples = None, 1
    if args.search == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        search_alg, num_samples = OptunaSearch(metric=spec.table.metric, mode="max", seed=0), args.num_samples
    scheduler = asha_scheduler(epochs) if use_asha(spec, args) else None
    return tune.TuneConfig(
        metric=spec.table.metric,
        mode="max",
        search_alg=search_alg,
        scheduler=scheduler,
        num_samples=num_samples,
        max_concurrent_trials=concurrency,
    )


def _prepare_data(resolved: list[dict[str, Any]]) -> None:
    """Generate (or find cached) synthetic shards once in the driver, before trials race for them."""
    from actrec.data.synth import ensure_synthetic

    seen = set()
    for flat in resolved:
        data = from_flat(flat).data
        if data.dataset == "synthetic" and not data.root:
            key = tuple(sorted((k, v) for k, v in flat.items() if k.startswith("data.synth_")))
            if key not in seen:
                seen.add(key)
                ensure_synthetic(data)


def _pretrained_spatial_init(
    args: argparse.Namespace, base: dict[str, Any], trials: list[dict[str, Any]], resolved: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """``model.spatial_init=pose_pretrain[:EPOCHS]`` -> the pretrained file (``actrec.train.frame_pretrain``),
    pretrained here in the driver, once per distinct (data, encoder), before any trial starts; cached under
    ``<storage>/pretrain`` so other sweeps and a resumed sweep reuse it."""
    from actrec.train.frame_pretrain import parse_spatial_init, resolve_spatial_init

    if not any(parse_spatial_init(flat.get("model.spatial_init")) for flat in resolved):
        return base, trials, resolved
    if args.search != "grid":  # one search space: the base config's data and encoder
        path = resolve_spatial_init(resolved[0], args.storage_path)["model.spatial_init"]
        base = {**base, "model.spatial_init": path}
        trials = [{k: v for k, v in t.items() if k != "model.spatial_init"} for t in trials]
    else:
        trials = [
            {**trial, "model.spatial_init": resolve_spatial_init(flat, args.storage_path)["model.spatial_init"]}
            if parse_spatial_init(flat.get("model.spatial_init"))
            else trial
            for trial, flat in zip(trials, resolved, strict=True)
        ]
    return base, trials, [resolve_trial(base, t) for t in trials]


def _distinct_datasets(resolved: list[dict[str, Any]]) -> list:
    """One config per distinct (dataset, root, synthetic parameters) among the trials."""
    seen, configs = set(), []
    for flat in resolved:
        names = [k for k in flat if k in ("data.dataset", "data.root") or k.startswith("data.synth_")]
        key = tuple(sorted((k, str(flat[k])) for k in names))
        if key not in seen:
            seen.add(key)
            configs.append(from_flat(flat))
    return configs


def _prepare_skipped(cfg) -> int:
    """Entries the dataset's prepare run skipped (0 for the synthetic set); clear error if the index is missing."""
    from actrec.data.pipeline import prepare_root
    from actrec.data.shards import load_index

    index = load_index(prepare_root(cfg.data))
    skipped = len(index.get("skipped", []))
    if skipped:
        print(f"[actrec] note: `actrec data prepare` skipped {skipped} entries of this dataset (index.json 'skipped')")
    return skipped


def _sweep_dir(spec: SweepSpec, args) -> tuple[str, bool]:
    storage = os.path.abspath(os.path.expanduser(args.storage_path))
    prefix = f"{spec.name}-{args.profile}-"
    if args.resume is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        return os.path.join(storage, prefix + stamp), False
    if args.resume != "latest":
        path = os.path.abspath(args.resume)
    else:
        candidates = sorted(glob.glob(os.path.join(storage, prefix + "*")))
        if not candidates:
            raise SystemExit(f"--resume: no earlier {spec.name} sweep with profile {args.profile} under {storage}")
        path = candidates[-1]
    from ray import tune

    if not tune.Tuner.can_restore(path):
        raise SystemExit(f"--resume: {path} holds no Tune experiment state to resume")
    return path, True


def running_cluster_address() -> str | None:
    """The Ray cluster a sweep must join instead of starting its own: ``RAY_ADDRESS`` (set for ``ray job submit``
    jobs, or by hand), else the head a ``ray start --head`` on this machine recorded in Ray's default temp directory,
    if that head's GCS is still running. None: no cluster, start an embedded Ray."""
    address = os.environ.get("RAY_ADDRESS", "").strip()
    if address:
        return address
    try:  # Ray's own lookup (what a bare ray.init() would join); private API, so any failure means "none"
        from ray._private.services import find_bootstrap_address, find_gcs_addresses

        recorded = find_bootstrap_address(None)
        return recorded if recorded and recorded in find_gcs_addresses() else None
    except Exception:
        return None


def _init_ray(*, verbose: bool) -> bool:
    """Join a running cluster (:func:`running_cluster_address`), else start an embedded Ray; True when joined."""
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")
    # Save Tune's experiment state at most a second after a change (default: every 10 s or more), so a killed
    # driver loses as little as possible and --resume restarts almost nothing that had finished.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
    address = running_cluster_address()
    if address:
        print(f"[actrec] joining the running Ray cluster at {address}")
        ray.init(address=address, log_to_driver=verbose)
        return True
    cores = os.cpu_count() or 1
    # More logical CPUs than cores: trials and workers mostly wait on each other, and Ray Data's decode
    # tasks must never starve behind workers that hold every CPU.
    # The dashboard (loopback only) serves the state API that Ray Train's PlacementGroupCleaner polls: when Tune
    # stops a trial early (ASHA), the trial's Train controller dies without shutting its worker group down, and
    # only that cleaner frees the workers' placement group. Without the dashboard it cannot, the workers' CPUs
    # stay reserved, and the sweep stalls once stopped trials hold them all.
    ray.init(num_cpus=max(4, 2 * cores), include_dashboard=True, dashboard_host="127.0.0.1", log_to_driver=verbose)
    return False


def _state_api_reachable() -> bool:
    """Whether the connected cluster's dashboard answers state-API calls, which Ray Train's placement-group cleaner
    makes to free the workers of a trial Tune stopped early."""
    try:
        from ray.util.state import list_nodes

        list_nodes(limit=1, timeout=10, raise_on_missing_output=False)
        return True
    except Exception:
        return False


def _max_concurrent(per_trial_cpu: float, gpus_per_trial: int, args, *, joined: bool = False) -> int | None:
    """Trials at a time: what the cluster's resources hold now, capped by ``--max-concurrent``.

    On a joined cluster that cannot yet hold one trial (an autoscaling cluster starts with no worker nodes), None:
    Tune queues every trial and the autoscaler adds nodes for them (``--max-concurrent`` still caps it).
    """
    import ray

    resources = ray.cluster_resources()
    limit = int(resources.get("CPU", 0) // max(per_trial_cpu, 1e-6))
    if gpus_per_trial:
        limit = min(limit, int(resources.get("GPU", 0) // gpus_per_trial))
    if limit < 1:
        if joined:
            print(
                f"[actrec] the cluster cannot hold one trial yet ({per_trial_cpu:g} CPUs, {gpus_per_trial} GPUs; it "
                f"has {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs): trials wait for the "
                "autoscaler" + (f", at most {args.max_concurrent} at a time" if args.max_concurrent else "")
            )
            return args.max_concurrent or None
        if gpus_per_trial:
            raise SystemExit(f"the cluster has {resources.get('GPU', 0)} GPUs; each trial needs {gpus_per_trial}")
        limit = 1
    if args.max_concurrent:
        limit = min(limit, args.max_concurrent)
    return limit
