"""Building and running the Tune experiment: the trainable (one Ray Train run per trial), its parameter space,
search and scheduler, and restoring it to finish an interrupted sweep."""

from __future__ import annotations

import glob
import json
import os
import time
from collections.abc import Mapping
from typing import Any

from actrec.config import from_flat
from actrec.tune.cluster import environ_default
from actrec.tune.interrupt import fitting
from actrec.tune.plan import (
    SweepPlan,
    default_samples,
    distinct_settings,
    objectives,
    resolve_trial,
    search_seed,
    tune_domain,
    use_asha,
)
from actrec.tune.spec import SweepSpec

CELL_KEY = "cell"


FUSION_DIR = "fusion"  # Tune experiment of the checkpoint-fusion trials, inside the sweep directory
GFLOPS_DIR = "model_gflops"  # the trials' GFLOPs counts (actrec.models.complexity.cached_gflops), in the train storage


def trial_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """Tune trial config (constants + grid ``cell``) → the trial's full dotted config."""
    merged = {k: v for k, v in config.items() if k != CELL_KEY}
    merged.update(config.get(CELL_KEY, {}))
    return resolve_trial(merged, {})


def run_trial(config: dict[str, Any], *, train_storage: str) -> None:
    """Tune function trainable: one Ray Train run of the trial's config."""
    started_at = time.time()
    import ray.train
    from ray import tune
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    from actrec.track.startup import FIT_CALLED_KEY, TRIAL_STARTED_KEY
    from actrec.train.ingest import ValidationSafeDataConfig, train_datasets
    from actrec.train.loop import GFLOPS_CACHE_KEY, train_loop_per_worker

    flat = trial_params(config)
    cfg = from_flat(flat)
    trial_id = tune.get_context().get_trial_id()
    datasets = train_datasets(cfg.data)
    # The loop reports where the trial's start-up went (actrec.track.startup.STARTUP_METRICS) from these two times.
    timing = {TRIAL_STARTED_KEY: started_at, FIT_CALLED_KEY: time.time()}
    trainer = TorchTrainer(
        train_loop_per_worker,
        # A model configuration's GFLOPs are counted by the sweep's first trial of it and read back by the others.
        train_loop_config=flat | timing | {GFLOPS_CACHE_KEY: os.path.join(train_storage, GFLOPS_DIR)},
        torch_config=TorchConfig(backend="nccl" if cfg.train.use_gpu else "gloo"),
        scaling_config=ray.train.ScalingConfig(
            num_workers=cfg.train.num_workers,
            use_gpu=cfg.train.use_gpu,
            resources_per_worker=cfg.train.worker_resources,
        ),
        run_config=ray.train.RunConfig(
            # Same name + storage on a resumed sweep: Ray Train restores the run from its newest checkpoint.
            name=trial_id,
            storage_path=train_storage,
            failure_config=ray.train.FailureConfig(max_failures=cfg.train.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=cfg.train.checkpoints_to_keep),
            callbacks=[TuneReportCallback()],
        ),
        datasets=datasets,
        dataset_config=ValidationSafeDataConfig(),
    )
    trainer.fit()


def fit_experiment(
    trainable, experiment_dir: str, *, resuming: bool, callbacks, param_space, tune_config, retries: int = 0
):
    """Run (or, when ``resuming``, restore and finish) the Tune experiment in ``experiment_dir``; a trial that fails
    (its driver's or its workers' node lost) is restarted up to ``retries`` times: its function runs again and Ray
    Train restores the run (same name and storage) from its newest checkpoint."""
    from ray import tune

    if resuming:
        tuner = tune.Tuner.restore(experiment_dir, trainable, resume_unfinished=True, resume_errored=True)
        # Tuner.restore keeps the stored RunConfig; our callbacks are driver objects and must be re-attached. Tune has
        # no public API for it (Tuner.restore takes no run_config; ray-project/ray#41364), hence the private attribute.
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
                failure_config=tune.FailureConfig(max_failures=retries),
                verbose=0,
            ),
        )
    fitting.set()
    try:
        # Save Tune's experiment state at most a second after a change (default: every 10 s or more), so a killed
        # driver loses as little as possible and --resume restarts almost nothing that had finished. Tune's
        # controller reads it when fit() starts; a value the user set wins.
        with environ_default(TUNE_GLOBAL_CHECKPOINT_S="1"):
            return tuner.fit()
    finally:
        fitting.clear()


def trial_checkpoints(results, trials: list[dict[str, Any]], train_storage: str) -> dict[int, str]:
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


def build_param_space(plan: SweepPlan, base: Mapping[str, Any], trials: list[dict[str, Any]]) -> dict[str, Any]:
    from ray import tune

    space: dict[str, Any] = dict(base)
    if plan.search_space:  # the setting the search holds fixed (``search_setting``), then the sampled keys
        space.update(trials[0])
        space.update({k: tune_domain(v) for k, v in plan.search_space.items()})
    else:
        space[CELL_KEY] = tune.grid_search(trials)
    return space


def asha_scheduler(epochs: int, metric: str, mode: str):
    """ASHA over epochs (one report per epoch; a run restored after its last epoch reports it once more, after every
    rung): rungs at 1, 3, 9, ... epochs up to the trial's ``epochs``; at each
    rung a trial goes on only if its ``metric`` is in the best third (``mode``) of the trials that reached it so far."""
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(
        time_attr="training_iteration",
        metric=metric,
        mode=mode,
        max_t=max(1, epochs),
        grace_period=1,
        reduction_factor=3,
    )


def asha_ranking(spec: SweepSpec, args) -> tuple[str, str]:
    """The metric and mode ASHA ranks by (``--asha-metric``): the validation loss, or the table's accuracy metric."""
    if getattr(args, "asha_metric", None) == "accuracy":
        return spec.table.metric, "max"
    return "val_loss", "min"


STUDY_FILE = "optuna.db"  # the Optuna study of a search, in its sweep directory


def study_storage(sweep_dir: str) -> str:
    """The RDB URL of the Optuna study a search in ``sweep_dir`` keeps its trials in (``optuna.load_study``)."""
    return f"sqlite:///{os.path.join(os.path.abspath(sweep_dir), STUDY_FILE)}"


def build_tune_config(spec: SweepSpec, args, concurrency: int | None, epochs: int = 1, *, sweep_dir: str | None = None):
    """Tune's config: an Optuna search (``--search optuna``) keeps its study in ``sweep_dir``'s :data:`STUDY_FILE`
    (study name: the sweep), so an interrupted search resumed with ``--resume`` samples on from every trial it told
    Optuna before (Tune also restores its searcher state; ray-project/ray#30861 was a search losing it), and the study
    can be opened with ``optuna.load_study`` or optuna-dashboard."""
    from ray import tune

    search_alg, num_samples = None, 1
    metric, mode = spec.table.metric, "max"
    if args.search == "optuna":
        from optuna.storages import RDBStorage
        from ray.tune.search.optuna import OptunaSearch

        storage = RDBStorage(study_storage(sweep_dir)) if sweep_dir else None
        goals = objectives(spec.table.metric, args)
        common = dict(seed=search_seed(args), storage=storage, study_name=spec.name if storage else None)
        if distinct_settings(spec.optuna_space) is not None:  # a discrete space: every setting once, no repeats
            from optuna.samplers import BruteForceSampler

            common["sampler"] = BruteForceSampler(seed=search_seed(args))
        if len(goals) > 1:  # Optuna's TPE samples multi-objective searches too; Tune must not reset its metrics
            search_alg = OptunaSearch(metric=[m for m, _ in goals], mode=[d for _, d in goals], **common)
            metric, mode = None, None
        else:
            search_alg = OptunaSearch(metric=metric, mode=mode, **common)
        num_samples = default_samples(spec.optuna_space, args)
    scheduler = None
    if use_asha(spec, args):
        scheduler = asha_scheduler(epochs, *asha_ranking(spec, args))
        # ASHA ranks by its own metric and the searcher by its own: Tune refuses a metric in both TuneConfig and
        # the scheduler, and nothing else reads TuneConfig's (the report ranks trials from MLflow).
        metric, mode = None, None
    return tune.TuneConfig(
        metric=metric,
        mode=mode,
        search_alg=search_alg,
        scheduler=scheduler,
        num_samples=num_samples,
        max_concurrent_trials=concurrency,
    )
