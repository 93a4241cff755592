"""Joining a running Ray cluster or starting an embedded Ray, and how many trials the cluster holds at once."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

from actrec.errors import UsageError


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


def init_ray(*, verbose: bool) -> bool:
    """Join a running cluster (:func:`running_cluster_address`), else start an embedded Ray; True when joined."""
    import ray

    if ray.is_initialized():
        return False
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
    # Ray Train's preemption watcher (an actor per run) follows nodes that a cluster drains; an embedded Ray's one
    # node is never drained, so its processes inherit the switch that leaves the watcher out (a value set wins).
    # Ray Train's controller polls its workers every 2 s by default: each trial's reports reach Tune, and its end is
    # seen, up to 2 s late (measured: a one-epoch smoke trial ended 3.1 s after its last report, 0.7 s at 0.25 s).
    # On one machine a poll is a local call per worker, so an embedded Ray polls 4 times a second (a value set wins).
    # It keeps its decode tasks' worker processes from one pass over the data to the next (idle_workers_env).
    num_cpus = max(4, 2 * cores)
    with environ_default(**EMBEDDED_RAY_ENV, **idle_workers_env(num_cpus)):
        _start_ray(
            lambda: ray.init(
                num_cpus=num_cpus, include_dashboard=True, dashboard_host="127.0.0.1", log_to_driver=verbose
            ),
            what="starting Ray",
        )
    return False


# What an embedded Ray's processes inherit unless set (:func:`init_ray`); Ray Train's controller propagates its
# RAY_TRAIN_* variables to the processes it starts.
EMBEDDED_RAY_ENV = {"RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0", "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.25"}

# Idle worker processes a node keeps per logical CPU: one per Ray Data decode task at the default
# ``data.decode_cpus`` of 0.25. Ray keeps at most as many idle workers as the node has free CPUs and kills the rest
# after a second, so between two passes over a dataset (an epoch's training and validation, the next epoch) the
# raylet killed the decode tasks' processes and the next pass started them again, importing Ray Data and the decode
# modules in each: measured on 2 cores, the default-size benchmark's second pass waited 13 s for its first batch
# instead of 4 (benchmarks/README.md). Ray's ``num_workers_soft_limit`` raises that cap; it keeps only processes that
# were started anyway, each ~100-200 MiB and ~1 % of a core while idle. With decode_cpus below 0.25 a pass runs more
# tasks than are kept. A value set in the environment wins (-1: Ray's default).
IDLE_WORKERS_PER_CPU = 4


def idle_workers_env(num_cpus: float) -> dict[str, str]:
    """The environment a Ray node of ``num_cpus`` logical CPUs starts with so it keeps its decode tasks' worker
    processes between passes (:data:`IDLE_WORKERS_PER_CPU`); ``cluster/a100.yaml`` sets the same for its nodes."""
    return {"RAY_num_workers_soft_limit": str(max(1, round(IDLE_WORKERS_PER_CPU * num_cpus)))}


@contextlib.contextmanager
def environ_default(**values: str) -> Iterator[None]:
    """Set the environment variables of ``values`` that are unset, for the ``with`` block only (processes started
    inside it, e.g. Ray's, keep them)."""
    added = {k: v for k, v in values.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


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


def state_api_reachable() -> bool:
    """Whether the connected cluster's dashboard answers state-API calls, which Ray Train's placement-group cleaner
    makes to free the workers of a trial Tune stopped early."""
    try:
        from ray.util.state import list_nodes

        list_nodes(limit=1, timeout=10, raise_on_missing_output=False)
        return True
    except Exception:
        return False


# A custom resource that a cluster's steady nodes declare for trial drivers (cluster/a100.yaml's head: not a spot
# node). Each trial's Tune function asks for one unit where the cluster has it, and Ray Train attaches the trial's
# controller to the node of the process that calls ``fit``, so losing a spot worker node takes Train workers with it
# (restarted from the newest checkpoint, train.max_failures) but never a trial's driver. Elsewhere a trial's function
# asks for a hundredth of a CPU and runs where Ray puts it.
DRIVER_RESOURCE = "actrec_driver"
# Trial restarts by Tune (its FailureConfig) when --trial-retries is not given: on a joined cluster a trial's driver
# or worker group is lost with a node; on an embedded Ray a failure is a bug, and a retry would only repeat it.
JOINED_TRIAL_RETRIES = 2


def trial_driver_resources(resources: dict[str, float]) -> dict[str, float]:
    """What one trial's Tune function requests, given the cluster's ``resources`` (:data:`DRIVER_RESOURCE`)."""
    if resources.get(DRIVER_RESOURCE, 0) >= 1:
        return {"CPU": 0, DRIVER_RESOURCE: 1}
    return {"CPU": 0.01}


def trial_retries(args, *, joined: bool) -> int:
    """Tune's ``max_failures`` for every trial: ``--trial-retries``, else :data:`JOINED_TRIAL_RETRIES` when joined."""
    if getattr(args, "trial_retries", None) is not None:
        return args.trial_retries
    return JOINED_TRIAL_RETRIES if joined else 0


def trial_accelerators(train) -> dict[str, float]:
    """The accelerator one trial's workers request in all (``{"GPU": 4}``, ``{"accel": 2}``; none on CPU), from its
    :class:`actrec.config.TrainConfig`."""
    resource = train.accelerator_resource
    return {resource: train.num_workers * train.accelerators_per_worker} if resource else {}


def trial_cpus(cfg) -> float:
    """The CPUs counted per trial of :class:`actrec.config.ExperimentConfig` ``cfg`` when sizing how many run at once:
    its workers' and two of its data decode tasks'."""
    return cfg.train.num_workers * cfg.train.cpus_per_worker + 2 * cfg.data.decode_cpus


def max_concurrent(per_trial_cpu: float, accelerators: dict[str, float], args, *, joined: bool = False) -> int | None:
    """Trials at a time: what the cluster's resources hold now, capped by ``--max-concurrent``.

    ``accelerators``: what one trial requests besides CPUs (:func:`trial_accelerators`). On a joined cluster that
    cannot yet hold one trial (an autoscaling cluster starts with no worker nodes), None: Tune queues every trial and
    the autoscaler adds nodes for them (``--max-concurrent`` still caps it).
    """
    import ray

    resources = ray.cluster_resources()
    limit = int(resources.get("CPU", 0) // max(per_trial_cpu, 1e-6))
    for name, amount in accelerators.items():
        limit = min(limit, int(resources.get(name, 0) // amount))
    if limit < 1:
        need = ", ".join([f"{per_trial_cpu:g} CPU"] + [f"{amount:g} {name}" for name, amount in accelerators.items()])
        have = ", ".join(f"{resources.get(name, 0):g} {name}" for name in ["CPU", *accelerators])
        if joined:
            print(
                f"[actrec] the cluster cannot hold one trial yet (a trial needs {need}; it has {have}): trials wait "
                "for the autoscaler" + (f", at most {args.max_concurrent} at a time" if args.max_concurrent else "")
            )
            undeclared = [name for name in accelerators if name not in resources]
            if undeclared:
                print(
                    f"[actrec] no node of this cluster declares {', '.join(undeclared)} yet: the trials wait for one "
                    "that does (an autoscaler node type that declares it, or a node started with "
                    f"`ray start --resources='{{\"{undeclared[0]}\": N}}'`); for ever if none comes (is "
                    "train.accelerator spelled as the cluster declares it?)"
                )
            return args.max_concurrent or None
        if accelerators:
            raise SystemExit(f"the cluster has {have}; each trial needs {need}")
        limit = 1
    if args.max_concurrent:
        limit = min(limit, args.max_concurrent)
    return limit
