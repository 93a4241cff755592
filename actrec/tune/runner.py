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
import shlex
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from actrec.config import from_flat
from actrec.errors import UsageError, user_errors
from actrec.track import provenance
from actrec.tune.invocation import (
    explicit_options,
    load_invocation,
    restore_invocation,
    resume_command,
    save_invocation,
)
from actrec.tune.plan import (  # noqa: F401  (base_config, data_roots, trial_overrides, use_asha: the runner's API)
    DEFAULT_SAMPLES,
    SweepPlan,
    base_config,
    data_roots,
    describe_plan,
    distinct_datasets,
    fusion_trial_overrides,
    plan_sweep,
    resolve_trial,
    trial_overrides,
    use_asha,
)
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
    parser.add_argument(
        "--num-samples", type=int, default=None, help=f"trials for --search optuna (default {DEFAULT_SAMPLES})"
    )
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
        help="finish an interrupted sweep (default: the newest of this sweep under --storage-path, of --profile if "
        "given) exactly as it was started: its stored flags are restored, and a flag given again with another value "
        "is refused",
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
    parser.add_argument(
        "--verbose", action="store_true", help="stream Ray worker logs to the console; tracebacks with error messages"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="resolve and validate every trial, print them (swept keys, resources) and exit: no Ray, nothing written",
    )
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
    """Run (or resume) the sweep and write its report; returns the report's Markdown path ("" for ``--dry-run``).

    Every trial is planned and validated first (:func:`actrec.tune.plan.plan_sweep`); a mistake in the flags, a
    config value or a data root prints one line, ``error: …``, and exits with status 2 before Ray starts or anything
    is written (``--verbose``: with the traceback). ``--resume`` restores the sweep's stored invocation."""
    parser = parser or build_parser(spec)
    args = parser.parse_args(argv)
    try:
        with user_errors(verbose=args.verbose):
            if args.resume is not None:
                args = _restored_invocation(spec, args, parser, argv)
            if extend is not None:
                spec = extend(spec, args)
            plan = plan_sweep(spec, args)
        if args.dry_run:
            print(describe_plan(plan, args))
            return ""
        return run_sweep(spec, args, plan=plan, argv=argv)
    except SweepInterrupted as interrupted:  # already reported and recorded: exit as the signal's shell status
        raise SystemExit(128 + interrupted.signal_number) from None
    except KeyboardInterrupt:  # before the driver's own handlers were installed
        print("[actrec] SIGINT: sweep stopped before it started; nothing was recorded", file=sys.stderr)
        raise SystemExit(128 + signal.SIGINT) from None


def _restored_invocation(
    spec: SweepSpec, args: argparse.Namespace, parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> argparse.Namespace:
    """``--resume [SWEEP_DIR]``: the sweep's stored invocation, with ``args.resume`` its directory; explicit flags
    that contradict it are refused (:func:`actrec.tune.invocation.restore_invocation`)."""
    explicit = explicit_options(parser, argv)
    sweep_dir = _resumable_sweep_dir(spec, args, explicit)
    stored = load_invocation(sweep_dir)
    if stored is None:
        print(f"[actrec] note: {sweep_dir} stores no invocation (an older sweep); resuming with this command's flags")
        restored = argparse.Namespace(**vars(args))
    else:
        restored = restore_invocation(args, explicit, stored, parser=parser)
        print(f"[actrec] resuming {sweep_dir}, started as: {stored.get('command', '?')}")
    restored.resume = sweep_dir
    return restored


def _resumable_sweep_dir(spec: SweepSpec, args: argparse.Namespace, explicit: set[str]) -> str:
    """The directory ``--resume`` names, or the newest sweep of this script under ``--storage-path`` (of
    ``--profile`` when given); UsageError when there is none or it holds no Tune state."""
    from ray import tune

    storage = os.path.abspath(os.path.expanduser(args.storage_path))
    if args.resume != "latest":
        path = os.path.abspath(os.path.expanduser(args.resume))
        if not os.path.isdir(path):
            raise UsageError(f"--resume {args.resume}: no such sweep directory")
    else:
        profiles = [args.profile] if "profile" in explicit else sorted(spec.profiles)
        stamped = []
        for profile in profiles:
            prefix = os.path.join(storage, f"{spec.name}-{profile}-")
            stamped += [(p[len(prefix) :], p) for p in glob.glob(prefix + "*") if os.path.isdir(p)]
        restorable = sorted((stamp, p) for stamp, p in stamped if tune.Tuner.can_restore(p))
        if not restorable:
            which = f"with profile {args.profile} " if "profile" in explicit else ""
            raise UsageError(f"--resume: no earlier {spec.name} sweep {which}under {storage} (--storage-path)")
        path = restorable[-1][1]
    stored = load_invocation(path)  # a sweep dir is named <sweep>-<profile>-<time> (older ones store no invocation)
    owner = stored.get("sweep") if stored else os.path.basename(path).split("-")[0]
    if owner != spec.name:
        raise UsageError(f"--resume {path}: that is a {owner} sweep, not {spec.name}; resume it with its own script")
    if not tune.Tuner.can_restore(path):
        raise UsageError(f"--resume: {path} holds no Tune experiment state to resume (it never started a trial)")
    return path


def run_sweep(
    spec: SweepSpec,
    args: argparse.Namespace,
    *,
    plan: SweepPlan | None = None,
    argv: Sequence[str] | None = None,
) -> str:
    """Run the planned sweep (``plan``, else planned here), write its report and return the report's path.

    From the first step on, SIGINT / SIGTERM stop the sweep whenever they arrive (:func:`_signals_interrupt`);
    once the parent run exists, an interrupted sweep marks its unfinished runs FAILED and prints how to resume."""
    from ray import tune

    from actrec.report.table import write_report
    from actrec.track.mlflow_tracker import MLflowTuneCallback, SweepTracker, resolve_tracking_uri
    from actrec.tune.progress import ProgressPrinter, shown_keys

    plan = plan or plan_sweep(spec, args)
    spec, base, trials, resolved, asha, first = plan.spec, plan.base, plan.trials, plan.resolved, plan.asha, plan.first
    fusing = bool(plan.fused)
    planned = plan.planned
    with _signals_interrupt() as received:
        try:
            with user_errors(verbose=args.verbose):
                _prepare_data(resolved)
                for step in spec.prepare:  # the paper's driver-side steps, e.g. pretraining an encoder
                    base, trials = step(args, base, trials, resolved)
                    resolved = [resolve_trial(base, t) for t in trials]
                prepare_skipped = sum(_prepare_skipped(cfg) for cfg in distinct_datasets(resolved))
                resuming = args.resume is not None
                sweep_dir = args.resume if resuming else _new_sweep_dir(spec, args)
                tracking_uri = resolve_tracking_uri(args.tracking_uri)
                joined = _init_ray(verbose=args.verbose)
                received.rearm()  # ray.init installs its own SIGTERM handler
                _raise_if_interrupted(received)  # a signal that arrived while Ray started (and Ray swallowed)
                if asha and joined and not _state_api_reachable():
                    print(
                        "[actrec] warning: this cluster's dashboard (Ray's state API) does not answer. Ray Train needs "
                        "it to free the workers of a trial that ASHA stops, so stopped trials would keep their "
                        "CPUs/GPUs and the sweep may stall: start the head with its dashboard (the `ray start --head` "
                        "default) or pass --asha off."
                    )
                per_trial_cpu = first.train.num_workers * first.train.cpus_per_worker + 2 * first.data.decode_cpus
                gpus_per_trial = first.train.num_workers if first.train.use_gpu else 0
                concurrency = _max_concurrent(per_trial_cpu, gpus_per_trial, args, joined=joined)
                tracker = SweepTracker(tracking_uri, spec.name)
                if not resuming:  # what --resume restores; written once the sweep can start, so a failure leaves none
                    save_invocation(sweep_dir, args, argv, sweep=spec.name)
        except SweepInterrupted as interrupted:
            print(f"[actrec] {interrupted.signal_name}: sweep stopped before its first trial", file=sys.stderr)
            raise

        record = _provenance(resolved, argv)
        tags = {
            "paper": spec.table.paper,
            "table": spec.table.table,
            "profile": args.profile,
            "search": args.search,
            # On the parent and every child run: a resumed sweep's new trials may come from another commit.
            provenance.COMMIT_TAG: provenance.commit_label(record["git"]),
        }
        completed = False
        try:
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
                    # Entries `actrec data prepare` skipped (listed in the dataset's index.json); train-time skips
                    # are the trials' skipped_train / skipped_val metrics.
                    "data_prepare_skipped": prepare_skipped,
                    **{f"base.{k}": v for k, v in base.items()},
                },
                resume=resuming,
            )
            tracker.log_text(spec.table.to_json(), "table_spec.json")
            if resuming:  # the first invocation's record stays as it was; each resume adds its own
                stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
                tracker.log_text(json.dumps(record, indent=2), f"{provenance.RESUME_PREFIX}{stamp}.json")
            else:
                tracker.log_text(json.dumps(record, indent=2), provenance.ARTIFACT)
                tracker.set_tag(provenance.COMMIT_TAG, tags[provenance.COMMIT_TAG])
            print(
                f"[actrec] sweep {spec.name} ({spec.table.paper} {spec.table.table}), profile={args.profile}, "
                f"search={args.search}{' with ASHA early stopping' if asha else ''}, {planned} trials, "
                f"{concurrency or 'as many as the autoscaler makes room for'} at a time"
            )
            experiment = f"experiment actrec/{spec.name}, parent run {tracker.parent_run_id}"
            print(f"[actrec] MLflow: {tracking_uri} ({experiment})")
            print(f"[actrec] Tune state and checkpoints: {sweep_dir}")

            train_storage = os.path.join(sweep_dir, "train")
            trainable = tune.with_resources(tune.with_parameters(run_trial, train_storage=train_storage), {"CPU": 0.01})
            callbacks = [
                MLflowTuneCallback(tracker, _trial_params, tags),
                ProgressPrinter(
                    _trial_params,
                    first.train.epochs,
                    planned,
                    tuple(plan.search_space) if plan.search_space else shown_keys(trials),
                ),
            ]
            started = time.time()
            grid = _fit(
                trainable,
                sweep_dir,
                resuming=resuming,
                callbacks=callbacks,
                param_space=lambda: _param_space(plan, base, trials),
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
                        ProgressPrinter(
                            _trial_params,
                            _trial_params({**base, **fused[0]})["train.epochs"],
                            len(fused),
                            shown_keys(
                                [{k: v for k, v in f.items() if k not in spec.fusion.checkpoint_keys} for f in fused]
                            ),
                        ),
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
            if not completed:
                # Interrupted (Ctrl-C, SIGTERM: `ray job stop`, a reclaimed node) or crashed driver: no run may stay
                # RUNNING in MLflow. A later --resume reopens the unfinished trials' runs and finishes them.
                exc = sys.exc_info()[1]
                if isinstance(exc, KeyboardInterrupt):
                    exc = SweepInterrupted(signal.SIGINT)
                if isinstance(exc, SweepInterrupted):
                    if tracker.parent_run_id:
                        tracker.set_tag("interrupted_by", exc.signal_name)
                    print(
                        f"[actrec] {exc.signal_name}: sweep interrupted; unfinished trials are marked FAILED in "
                        f"MLflow. Finish it with: {resume_command(sweep_dir)}",
                        file=sys.stderr,
                    )
                if tracker.parent_run_id:
                    tracker.close("FAILED")
    errors = [r for r in results if r.error is not None]
    if errors:
        print(f"[actrec] {len(errors)} trial(s) failed; first error:\n{errors[0].error}", file=sys.stderr)
    tracker.close("FAILED" if errors else "FINISHED")
    print(f"[actrec] sweep finished in {time.time() - started:.0f}s; writing the report")
    paths = write_report(tracking_uri, spec.name, out_dir=args.report_dir, parent_run_id=tracker.parent_run_id)
    return _publish(tracker, paths, sweep_dir, args, plan)


def _provenance(resolved: list[dict[str, Any]], argv: Sequence[str] | None) -> dict[str, Any]:
    """This invocation's provenance record (:mod:`actrec.track.provenance`), with the connected cluster's
    resources."""
    import ray

    data_configs = [cfg.data for cfg in distinct_datasets(resolved)]
    try:
        resources, nodes = ray.cluster_resources(), sum(bool(n.get("Alive")) for n in ray.nodes())
    except Exception as err:  # a record without the cluster beats no record (and no sweep)
        print(f"[actrec] warning: could not read the cluster's resources for the provenance record: {err}")
        resources, nodes = {}, None
    return provenance.collect(data_configs=data_configs, argv=argv, cluster_resources=resources, nodes=nodes)


def _new_sweep_dir(spec: SweepSpec, args: argparse.Namespace) -> str:
    """``<storage>/<sweep>-<profile>-<time stamp>``: where a new sweep keeps its Tune state and checkpoints."""
    storage = os.path.abspath(os.path.expanduser(args.storage_path))
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return os.path.join(storage, f"{spec.name}-{args.profile}-{stamp}")


class SweepInterrupted(BaseException):
    """SIGINT or SIGTERM reached the sweep driver (a BaseException, like KeyboardInterrupt: nothing may catch it on
    the way out but the driver's own cleanup)."""

    def __init__(self, signal_number: int) -> None:
        self.signal_number = signal_number
        self.signal_name = signal.Signals(signal_number).name
        super().__init__(self.signal_name)


TUNE_STOP_HANDLER = "signal_interrupt_tune_run"  # Tune's graceful-stop handler (on SIGUSR1 while Tuner.fit runs)
_fitting = threading.Event()  # set while _fit runs Tuner.fit


class Received(list):
    """Signals received while :func:`_signals_interrupt` is active, in order; ``rearm()`` puts its handler back on
    SIGINT / SIGTERM after a library replaced it (``ray.init`` installs its own SIGTERM handler)."""

    def __init__(self, handler) -> None:
        super().__init__()
        self._handler = handler

    def rearm(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._handler)


@contextlib.contextmanager
def _signals_interrupt():
    """While the sweep runs, Ctrl-C (SIGINT) and SIGTERM (``ray job stop``, a shutdown, ``kill``) stop it; yields the
    :class:`Received` list of the signals received.

    During ``Tuner.fit`` a signal is handed to Tune's graceful-stop handler (the one Tune puts on SIGUSR1): Tune saves
    its experiment state, stops the trials and ``fit`` returns; :func:`_raise_if_interrupted` then ends the sweep.
    Raising inside ``fit`` instead would surface from Ray's C++ core as a SystemError. Outside ``fit`` the signal
    raises :class:`SweepInterrupted` at once, and is also recorded: code that swallows the exception (``ray.init``
    waiting on its processes) cannot hide it from the next :func:`_raise_if_interrupted`. Tune's own Ctrl-C handler
    is switched off (``TUNE_DISABLE_SIGINT_HANDLER``) so that every stop is seen here. Outside the main thread
    (signals cannot be handled there) nothing changes.
    """

    def on_signal(signum, frame):
        received.append(signum)
        tune_stop = signal.getsignal(signal.SIGUSR1)
        if _fitting.is_set() and getattr(tune_stop, "__name__", "") == TUNE_STOP_HANDLER and len(received) == 1:
            tune_stop(signum, frame)  # the first signal: Tune ends fit() gracefully
        else:
            raise SweepInterrupted(signum)  # outside fit, or a second signal: at once

    received = Received(on_signal)
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
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


def _param_space(plan: SweepPlan, base: Mapping[str, Any], trials: list[dict[str, Any]]) -> dict[str, Any]:
    from ray import tune

    space: dict[str, Any] = dict(base)
    if plan.search_space:
        space.update(plan.search_space)
    else:
        space[CELL_KEY] = tune.grid_search(trials)
    return space


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

        search_alg = OptunaSearch(metric=spec.table.metric, mode="max", seed=0)
        num_samples = args.num_samples or DEFAULT_SAMPLES
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

    for cfg in distinct_datasets(resolved):
        if cfg.data.dataset == "synthetic" and not cfg.data.root:
            ensure_synthetic(cfg.data)


def _prepare_skipped(cfg) -> int:
    """Entries the dataset's prepare run skipped (0 for the synthetic set); clear error if the index is missing."""
    from actrec.data.pipeline import prepare_root
    from actrec.data.shards import load_index

    index = load_index(prepare_root(cfg.data))
    skipped = len(index.get("skipped", []))
    if skipped:
        print(f"[actrec] note: `actrec data prepare` skipped {skipped} entries of this dataset (index.json 'skipped')")
    return skipped


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
        print(f"[actrec] joining the running Ray cluster at {address}", flush=True)
        _start_ray(lambda: ray.init(address=address, log_to_driver=verbose), what=f"joining the cluster at {address}")
        return True
    cores = os.cpu_count() or 1
    print("[actrec] starting an embedded Ray on this machine", flush=True)
    # More logical CPUs than cores: trials and workers mostly wait on each other, and Ray Data's decode
    # tasks must never starve behind workers that hold every CPU.
    # The dashboard (loopback only) serves the state API that Ray Train's PlacementGroupCleaner polls: when Tune
    # stops a trial early (ASHA), the trial's Train controller dies without shutting its worker group down, and
    # only that cleaner frees the workers' placement group. Without the dashboard it cannot, the workers' CPUs
    # stay reserved, and the sweep stalls once stopped trials hold them all.
    _start_ray(
        lambda: ray.init(
            num_cpus=max(4, 2 * cores), include_dashboard=True, dashboard_host="127.0.0.1", log_to_driver=verbose
        ),
        what="starting Ray",
    )
    return False


# What Ray says when its processes did not come up in time (ray/_private/node.py), typically on a loaded machine.
STARTUP_TIMEOUT = "timed out during startup"


def _start_ray(start: Callable[[], Any], *, what: str) -> None:
    """``start()`` (a ``ray.init``), once more if Ray timed out starting its processes; a second timeout is a
    :class:`UsageError` saying what to do instead of Ray's traceback."""
    import ray

    for attempt in (1, 2):
        try:
            start()
            return
        except Exception as err:
            if STARTUP_TIMEOUT not in str(err):
                raise
            ray.shutdown()  # whatever half of the node came up
            if attempt == 1:
                print(f"[actrec] Ray timed out during start-up ({what}); trying once more", flush=True)
                continue
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            raise UsageError(
                f"Ray timed out twice during start-up ({what}; load average {load}): the machine is too busy. Wait "
                "for other work (another sweep, a Ray instance) to finish and rerun, or join a running cluster with "
                "RAY_ADDRESS"
            ) from None


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


def _publish(tracker, paths: list[str], sweep_dir: str, args: argparse.Namespace, plan: SweepPlan) -> str:
    """After the report is written: log it on the parent run, keep a copy beside the sweep's Tune state (a job's
    working directory is a temporary copy, so on a cluster the storage path is where a user finds files), regenerate
    the report folder's index, and end with the best trial and where everything is; returns the report's path."""
    from actrec.report.index import write_index
    from actrec.report.table import best_trial, load_sweep

    for path in paths:
        tracker.log_artifact(path, "report")
    kept = os.path.join(sweep_dir, "report")
    os.makedirs(kept, exist_ok=True)
    for path in paths:
        shutil.copy2(path, kept)
    index = write_index(args.report_dir)
    best = best_trial(load_sweep(tracker.tracking_uri, plan.spec.name, tracker.parent_run_id))
    if best is not None:
        swept = list(dict.fromkeys(k for t in plan.trials + plan.fused for k in t)) or list(plan.search_space)
        shown = " ".join(f"{k}={best.params[k]}" for k in swept if k in best.params and not k.endswith("_checkpoint"))
        print(
            f"[actrec] best trial: {shown or best.name}: {plan.spec.table.metric} {best.value:.2f} (run {best.run_id})"
        )
    print(f"[actrec] report: {os.path.abspath(paths[0])} (and .html)")
    print(f"[actrec] report copies: {kept} and the MLflow parent run {tracker.parent_run_id}")
    print(f"[actrec] reports index: {os.path.abspath(index[0])}")
    print(f"[actrec] MLflow UI: {mlflow_ui_command(tracker.tracking_uri)}")
    return paths[0]


def mlflow_ui_command(tracking_uri: str) -> str:
    """How to browse ``tracking_uri``: the server's address, or the ``mlflow ui`` command for a local store (this
    environment's ``mlflow``, so it works from a shell without the venv activated)."""
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {tracking_uri}"
    mlflow = os.path.join(os.path.dirname(sys.executable), "mlflow")
    return shlex.join([mlflow, "ui", "--backend-store-uri", tracking_uri])
