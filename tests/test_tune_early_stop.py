"""A trial that Tune stops early (ASHA, a stop criterion) must give its Ray Train workers' CPUs back.

Tune stops such a trial by ending its actor; the trial's Train controller dies with it, without shutting its worker
group down, and only Ray Train's PlacementGroupCleaner (which polls the dashboard's state API) removes the workers'
placement group. An embedded Ray without the dashboard leaked it: stopped trials kept their workers' CPUs and an
ASHA sweep stalled once they held them all.
"""

from __future__ import annotations

import functools
import time

import pytest

from actrec.config import flatten, from_flat
from actrec.models import tiny_overrides


def _live_placement_groups() -> dict[str, dict]:
    import ray.util

    return {pg: info for pg, info in ray.util.placement_group_table().items() if info["state"] != "REMOVED"}


@pytest.mark.slow
def test_a_trial_stopped_early_frees_its_workers(synthetic_cfg, ray_session, tmp_path):
    import ray
    from ray import tune

    from actrec.tune.cluster import state_api_reachable
    from actrec.tune.tuner import run_trial

    assert state_api_reachable(), "the embedded Ray must serve the state API that Ray Train's cleaner polls"
    flat = {f"data.{k}": v for k, v in vars(synthetic_cfg).items()}
    flat.update({f"model.{k}": v for k, v in tiny_overrides("mfst_base").items()})
    flat.update({"model.name": "mfst_base", "train.epochs": 3, "train.batch_size": 4, "train.num_workers": 1})
    flat = flatten(from_flat(flat))
    # The session's Ray is shared: compare with what was reserved before this test's trial, not with an idle cluster.
    before = set(_live_placement_groups())
    free = ray.available_resources().get("CPU", 0)

    # Tune ends the trial after its first epoch, as ASHA ends a weak trial at its first rung.
    tuner = tune.Tuner(
        tune.with_resources(functools.partial(run_trial, train_storage=str(tmp_path / "train")), {"CPU": 0.5}),
        param_space=flat,
        tune_config=tune.TuneConfig(metric="val_top1", mode="max"),
        run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), stop={"training_iteration": 1}, verbose=0),
    )
    results = tuner.fit()
    assert results.num_errors == 0
    assert results[0].metrics["training_iteration"] == 1, "the trial was meant to be stopped after one epoch"

    def left() -> dict[str, dict]:
        return {pg: info for pg, info in _live_placement_groups().items() if pg not in before}

    deadline = time.monotonic() + 60
    while (left() or ray.available_resources().get("CPU", 0) < free) and time.monotonic() < deadline:
        time.sleep(1)
    assert not left(), f"a stopped trial left placement groups reserved: {left()}"
    assert ray.available_resources().get("CPU", 0) >= free - 1e-9
