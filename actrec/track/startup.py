"""Where a trial's start-up goes (Ray Train's worker group, the model, its GFLOPs count, the first batch): the keys
the train loop reports them under and how they are computed. Light on purpose: the MLflow tracker imports it."""

from __future__ import annotations

# ``train_loop_config`` keys beside the dotted config: wall-clock times (time.time()) at which the trial's Tune function
# started and called ``trainer.fit`` (actrec.tune.tuner.run_trial), so a worker can say where its start-up went.
TRIAL_STARTED_KEY = "_trial_started_at"
FIT_CALLED_KEY = "_fit_called_at"
# Where a trial's start-up went, reported on the first epoch of a run that starts from scratch (seconds; a run restored
# from a checkpoint after a worker failure or a resume reports none), in consecutive parts: the trial function before
# ``trainer.fit`` (config, datasets); Ray Train's controller and worker group up to the loop's first line (worker
# processes and their imports); the loop's config and the model's build and parameter count; its fvcore GFLOPs count (a
# file read when an earlier trial of the sweep counted the same model configuration: actrec.train.loop);
# and from there to the first optimiser step done (optimiser, DDP wrapping, the data stream's start, the first batch,
# the step). ``startup_s`` is their sum: trial start to first step. Caveats: the first two parts compare clocks of two
# processes (of two nodes when the trial function and rank 0 run on different ones, as on cluster/a100.yaml, so
# clock skew enters them); a worker group that failed and restarted before its first checkpoint counts the failed
# attempt in ``startup_workers_s``.
STARTUP_METRICS = (
    "startup_trial_s",
    "startup_workers_s",
    "startup_model_s",
    "startup_gflops_s",
    "startup_first_step_s",
    "startup_s",
)

# Trial result key: on the first result of a run restored from a checkpoint (and on the one result of a run restored
# after its last epoch), the scalar metrics of every epoch checkpointed so far, oldest first (the loop keeps them in the
# checkpoint). A trial driver lost after an epoch's checkpoint was registered but before its result reached the sweep
# driver would otherwise leave that epoch out of MLflow for good; the MLflow callback logs each epoch it lacks.
RESTORED_EPOCHS_METRIC = "restored_epochs"


def startup_metrics(startup: dict[str, float] | None, counted_at: float, first_step: dict[str, float]):
    """:data:`STARTUP_METRICS` of a run that started from scratch and took a step (else none): ``startup`` holds the
    first four (None for a restored run), ``counted_at`` is when the GFLOPs count ended and ``first_step["at"]`` when
    the first optimiser step was done (both time.time())."""
    if startup is None or "at" not in first_step:
        return {}
    metrics = {**startup, "startup_first_step_s": first_step["at"] - counted_at}
    return {**metrics, "startup_s": sum(metrics.values())}
