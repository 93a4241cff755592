"""Running a planned sweep (:func:`run_sweep`): data first, then Ray, the MLflow parent run, the Tune experiment
(and the fused rows' second one), then the report; an interrupted sweep marks its unfinished runs and says how to
resume. Every sweep script calls :func:`actrec.tune.cli.main`, which plans the sweep and calls this.

A trial is a Tune *function trainable* that launches a Ray Train ``TorchTrainer`` (:mod:`actrec.tune.tuner`; Ray
Train V2 runs inside Tune, ``TuneReportCallback`` forwards each worker report to Tune); :mod:`actrec.tune.cluster`
joins or starts Ray and :mod:`actrec.tune.interrupt` handles SIGINT / SIGTERM. The driver alone writes MLflow and,
at the end, the report.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from actrec.errors import user_errors
from actrec.track import provenance
from actrec.tune.cluster import (
    DRIVER_RESOURCE,
    init_ray,
    max_concurrent,
    state_api_reachable,
    trial_accelerators,
    trial_cpus,
    trial_driver_resources,
    trial_retries,
)
from actrec.tune.interrupt import SweepInterrupted, raise_if_interrupted, signals_interrupt
from actrec.tune.invocation import (
    resume_command,
    save_invocation,
)
from actrec.tune.plan import (
    SweepPlan,
    distinct_datasets,
    fusion_trial_overrides,
    is_sampled,
    objectives,
    plan_sweep,
    resolve_trial,
    search_fixed,
    search_record,
    search_seed,
)
from actrec.tune.spec import SweepSpec
from actrec.tune.tuner import (
    CELL_KEY,
    FUSION_DIR,
    asha_ranking,
    build_param_space,
    build_tune_config,
    fit_experiment,
    run_trial,
    study_storage,
    trial_checkpoints,
    trial_params,
)


def run_sweep(
    spec: SweepSpec,
    args: argparse.Namespace,
    *,
    plan: SweepPlan | None = None,
    argv: Sequence[str] | None = None,
) -> str:
    """Run the planned sweep (``plan``, else planned here), write its report and return the report's path.

    From the first step on, SIGINT / SIGTERM stop the sweep whenever they arrive (:func:`signals_interrupt`);
    once the parent run exists, an interrupted sweep marks its unfinished runs FAILED and prints how to resume."""
    import ray
    from ray import tune

    from actrec.report.search import SEARCH_ARTIFACT
    from actrec.report.table import write_report
    from actrec.track.mlflow_tracker import MLflowTuneCallback, SweepTracker, resolve_tracking_uri
    from actrec.train.frame_pretrain import pose_pretrain_step
    from actrec.tune.progress import ProgressPrinter, shown_keys

    plan = plan or plan_sweep(spec, args)
    spec, base, trials, resolved, asha, first = plan.spec, plan.base, plan.trials, plan.resolved, plan.asha, plan.first
    fusing = bool(plan.fused)
    planned = plan.planned
    with signals_interrupt() as received:
        try:
            with user_errors(verbose=args.verbose):
                _prepare_data(resolved + plan.corners)
                base, trials = pose_pretrain_step(args, base, trials, resolved)  # model.spatial_init=pose_pretrain
                resolved = [resolve_trial(base, t) for t in trials]
                read = distinct_datasets(resolved + plan.corners)
                prepare_skipped = sum(_prepare_skipped(cfg) for cfg in read)
                resuming = args.resume is not None
                sweep_dir = args.resume if resuming else _new_sweep_dir(spec, args)
                tracking_uri = resolve_tracking_uri(args.tracking_uri)
                joined = init_ray(verbose=args.verbose)
                received.rearm()  # ray.init installs its own SIGTERM handler
                raise_if_interrupted(received)  # a signal that arrived while Ray started (and Ray swallowed)
                if asha and joined and not state_api_reachable():
                    print(
                        "[actrec] warning: this cluster's dashboard (Ray's state API) does not answer. Ray Train needs "
                        "it to free the workers of a trial that ASHA stops, so stopped trials would keep their "
                        "CPUs/GPUs and the sweep may stall: start the head with its dashboard (the `ray start --head` "
                        "default) or pass --asha off."
                    )
                per_trial_cpu = trial_cpus(first)
                cluster_resources = ray.cluster_resources()
                driver = trial_driver_resources(cluster_resources)
                retries = trial_retries(args, joined=joined)
                # A trial holds its workers' accelerators and, where the cluster has it, a driver slot.
                held = {**trial_accelerators(first.train), **{k: v for k, v in driver.items() if k != "CPU"}}
                concurrency = max_concurrent(per_trial_cpu, held, args, joined=joined)
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
                    **({"asha_metric": asha_ranking(spec, args)[0]} if asha else {}),
                    "trial_retries": retries,
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
            known = {a.path for a in tracker.client.list_artifacts(tracker.parent_run_id)} if resuming else set()
            if plan.search_space and SEARCH_ARTIFACT not in known:  # a resumed search from before it was logged too
                declared = search_record(  # what the report rebuilds the Optuna study from (actrec.report.search)
                    plan.search_space,
                    search_fixed(plan, args),
                    objectives(spec.table.metric, args),
                    num_samples=plan.num_samples,
                    asha=asha,
                    seed=search_seed(args),
                )
                tracker.log_text(declared.to_json(), SEARCH_ARTIFACT)
            print(
                f"[actrec] sweep {spec.name} ({spec.table.paper} {spec.table.table}), profile={args.profile}, "
                f"search={args.search}{' with ASHA early stopping' if asha else ''}, {planned} trials, "
                f"{concurrency or 'as many as the autoscaler makes room for'} at a time"
            )
            experiment = f"experiment actrec/{spec.name}, parent run {tracker.parent_run_id}"
            print(f"[actrec] MLflow: {tracking_uri} ({experiment})")
            print(f"[actrec] Tune state and checkpoints: {sweep_dir}")
            # Said up front: a driver killed outright (SIGKILL, the machine's OOM killer, its embedded Ray's raylet
            # lost, which makes Ray's core end the process at once) prints nothing on its way out. Only when the flags
            # are the process's own command line (a script's main(SPEC), whatever its file is called): a benchmark or
            # test passing argv in-process has no --resume of its own.
            if argv is None:
                command = resume_command(sweep_dir)
                print(f"[actrec] if this driver is lost before the sweep ends, finish it with: {command}")
            if plan.search_space:
                print(f"[actrec] Optuna study {spec.name!r}: {study_storage(sweep_dir)}")

            train_storage = os.path.join(sweep_dir, "train")
            trainable = tune.with_resources(tune.with_parameters(run_trial, train_storage=train_storage), driver)
            if driver.get(DRIVER_RESOURCE):
                print(f"[actrec] trial drivers run on the cluster's {DRIVER_RESOURCE} node(s), not on worker nodes")
            callbacks = [
                MLflowTuneCallback(tracker, trial_params, tags),
                ProgressPrinter(
                    trial_params,
                    first.train.epochs,
                    planned,
                    tuple(plan.search_space) if plan.search_space else shown_keys(plan.trials),
                ),
            ]
            started = time.time()
            grid = fit_experiment(
                trainable,
                sweep_dir,
                resuming=resuming,
                callbacks=callbacks,
                retries=retries,
                param_space=lambda: build_param_space(plan, base, trials),
                tune_config=lambda: build_tune_config(spec, args, concurrency, first.train.epochs, sweep_dir=sweep_dir),
            )
            raise_if_interrupted(received)
            results = list(grid)
            if fusing:
                checkpoints = trial_checkpoints(results, trials, train_storage)
                fused = fusion_trial_overrides(spec, trials, checkpoints)
                if fused:
                    what = "fine-tuned from" if spec.fusion.fine_tune else "late score fusion of"
                    print(f"[actrec] fused rows: {len(fused)} trial(s) {what} the two streams' checkpoints")
                    fusion_dir = os.path.join(sweep_dir, FUSION_DIR)
                    fusion_callbacks = [
                        MLflowTuneCallback(tracker, trial_params, tags),
                        ProgressPrinter(
                            trial_params,
                            trial_params({**base, **fused[0]})["train.epochs"],
                            len(fused),
                            shown_keys(
                                [{k: v for k, v in f.items() if k not in spec.fusion.checkpoint_keys} for f in fused]
                            ),
                        ),
                    ]
                    grid = fit_experiment(
                        trainable,
                        fusion_dir,
                        resuming=resuming and tune.Tuner.can_restore(fusion_dir),
                        callbacks=fusion_callbacks,
                        retries=retries,
                        param_space=lambda: {**base, CELL_KEY: tune.grid_search(fused)},
                        tune_config=lambda: tune.TuneConfig(
                            metric=spec.table.metric, mode="max", max_concurrent_trials=concurrency
                        ),
                    )
                    raise_if_interrupted(received)
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
        sampled = [k for k, v in plan.search_space.items() if is_sampled(v)]
        swept = sampled or list(dict.fromkeys(k for t in plan.trials + plan.fused for k in t))
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
