"""cluster/a100.yaml's cluster, simulated on this machine: Ray's fake multi-node autoscaler provider starts real raylets
("nodes") for the node types of the YAML, with their declared resources scaled down and GPUs stood in for by a custom
resource (Ray cannot fake CUDA). A smoke sweep joins it as a driver: the autoscaler launches worker nodes for the
queued trials, the trials' Train workers run there while their drivers stay on the head, shards and checkpoints go
through the storage every node shares, and when one worker node is lost mid-trial (its whole process tree killed, as
a spot reclamation) the trial resumes from its newest checkpoint on another node. Idle nodes go after the idle
timeout. Run it after changing cluster/a100.yaml or the cluster code:

    .venv/bin/python -m pytest -q tests/test_cluster_sim.py
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pytest
import yaml
from mlflow.tracking import MlflowClient

from actrec.tune.cluster import DRIVER_RESOURCE
from tests.processes import (
    all_pids,
    cmdline,
    descendants,
    environ,
    free_ports,
    kill_all,
    processes_with,
    running,
    titled,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
A100 = ROOT / "cluster" / "a100.yaml"

# How the simulation scales each resource cluster/a100.yaml declares (96 CPUs, 8 GPUs per worker node; 32 trial
# drivers on the head) down to this 2-core machine: a worker node of 2 CPUs and 1 accelerator, a head for 2 drivers.
# A resource the YAML declares that is missing here fails the test: the YAML and the simulation cannot drift apart.
DIVISORS = {"CPU": 48, "GPU": 8, DRIVER_RESOURCE: 16}
ACCEL = "accel"  # stands in for "GPU": Ray's logical GPUs make Train workers call CUDA, which this machine lacks
IDLE_MINUTES = 0.25  # the YAML's 10 minutes, scaled down so the test sees idle nodes go
FAKE_HEAD = "ray.head.default"  # the node type the fake provider gives its head
NODE_ID_VAR = "RAY_OVERRIDE_NODE_ID_FOR_TESTING"  # in the environment of every process of a fake worker node
HEAD_ID = "f" * 51 + "00000"  # the fake provider's head node id
EPOCHS = 6
TRIALS = 2
# The GCS declares a node dead after this many missed health checks of this period (Ray's defaults: 5 of 3 s).
MARKER = "ACTREC_SIMULATED_CLUSTER"  # set to the cluster's temp dir for `ray start`: every process of it inherits it
HEALTH_CHECKS = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3"}


def scaled(resources: dict) -> dict:
    """A node type's declared resources, scaled down by :data:`DIVISORS` (GPU becomes :data:`ACCEL`)."""
    unknown = set(resources) - set(DIVISORS)
    assert not unknown, f"cluster/a100.yaml declares {sorted(unknown)}: give each a divisor in DIVISORS"
    return {(ACCEL if k == "GPU" else k): (max(1, round(v / DIVISORS[k])) if v else 0) for k, v in resources.items()}


def simulated_config(a100: dict, gcs_address: str) -> dict:
    """The fake multi-node autoscaler's config for the cluster ``a100`` (cluster/a100.yaml, parsed): its one worker
    node type and its head with their resources :func:`scaled`, its node counts and upscaling speed as they are."""
    types = a100["available_node_types"]
    head_type = a100["head_node_type"]
    [worker_type] = [name for name in types if name != head_type]
    worker = types[worker_type]
    empty = ("initialization_commands", "setup_commands", "head_setup_commands", "worker_setup_commands")
    empty += ("head_start_ray_commands", "worker_start_ray_commands", "cluster_synced_files", "rsync_exclude")
    return {
        "cluster_name": f"{a100['cluster_name']}-simulated",
        "max_workers": a100["max_workers"],
        "upscaling_speed": a100["upscaling_speed"],
        "idle_timeout_minutes": IDLE_MINUTES,
        "provider": {
            "type": "fake_multinode",
            "gcs_address": gcs_address,
            # Every fake node has the address 127.0.0.1: the autoscaler tells them apart by node id.
            "use_node_id_as_ip": True,
            # Nothing to set up over SSH on a fake node (the updaters would fail and the nodes be torn down).
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
            "foreground_node_launch": True,
        },
        "auth": {"ssh_user": "ray"},
        "available_node_types": {
            FAKE_HEAD: {"resources": scaled(types[head_type]["resources"]), "node_config": {}, "max_workers": 0},
            worker_type: {
                "resources": scaled(worker["resources"]),
                "node_config": {},
                "min_workers": worker.get("min_workers", 0),
                "max_workers": worker["max_workers"],
            },
        },
        "head_node_type": FAKE_HEAD,
        "file_mounts": {},
        "file_mounts_sync_continuously": False,
        "rsync_filter": [],
        **{key: [] for key in empty},
    }


def test_the_simulation_scales_the_yaml_s_node_types():
    """What the simulation runs is cluster/a100.yaml's shape: a head with no CPU that holds the trial drivers, and one
    autoscaled worker node type whose GPUs become the stand-in resource."""
    a100 = yaml.safe_load(A100.read_text())
    config = simulated_config(a100, "127.0.0.1:1")
    head = config["available_node_types"][FAKE_HEAD]["resources"]
    assert head == {"CPU": 0, DRIVER_RESOURCE: 2}
    [(name, worker)] = [(n, t) for n, t in config["available_node_types"].items() if n != FAKE_HEAD]
    assert name == "gpu_worker" and worker["resources"] == {"CPU": 2, ACCEL: 1}
    assert worker["min_workers"] == 0 and worker["max_workers"] == a100["available_node_types"][name]["max_workers"]
    with pytest.raises(AssertionError, match="memory"):
        scaled({"CPU": 96, "memory": 10**12})


class SimulatedCluster:
    def __init__(self, temp: str, env: dict, config: dict, worker_type: str):
        self.temp, self.env, self.config, self.worker_type = temp, env, config, worker_type

    def processes(self) -> list[int]:
        """Every process of the cluster: those naming its temp dir (head, autoscaler, fake nodes), those that inherited
        its marker (:data:`MARKER`; a Ray worker retitles itself and may outlive its raylet) and their descendants."""
        roots = set(processes_with(self.temp + "/")) | {p for p in all_pids() if environ(p).get(MARKER) == self.temp}
        return sorted({pid for root in roots for pid in [root, *descendants(root)]})

    def node_of(self, pid: int) -> str:
        """The node a process of the cluster runs on."""
        return environ(pid).get(NODE_ID_VAR, HEAD_ID)

    def worker_nodes(self) -> set[str]:
        """The fake worker nodes alive now, by their raylets."""
        raylets = [p for p in self.processes() if "/raylet " in cmdline(p) and running(p)]
        return {self.node_of(p) for p in raylets} - {HEAD_ID}

    def kill_node(self, node: str) -> list[int]:
        """SIGKILL the whole process tree of worker node ``node`` (raylet, agents, workers): a reclaimed spot node."""
        roots = [p for p in self.processes() if environ(p).get(NODE_ID_VAR) == node]
        tree = sorted({pid for root in roots for pid in [root, *descendants(root)]})
        kill_all(tree)
        return tree

    def monitor_log(self) -> str:
        logs = sorted(pathlib.Path(self.temp).glob("session_*/logs/monitor.log"))
        return logs[-1].read_text() if logs else ""


@pytest.fixture()
def simulated_cluster(tmp_path):
    """The simulated cluster's head (its autoscaler launches the worker nodes), on free loopback ports with its own
    temp dir; stopped by PID at the end, every process of it, and nothing of it left running."""
    temp = tempfile.mkdtemp(prefix="actrec-sim-", dir="/tmp")  # short: Ray's Unix sockets live under it
    gcs, dashboard, client, agent = free_ports(4)
    a100 = yaml.safe_load(A100.read_text())
    config = simulated_config(a100, f"127.0.0.1:{gcs}")
    config_path = pathlib.Path(temp) / "cluster.yaml"
    config_path.write_text(yaml.safe_dump(config))
    head = dict(config["available_node_types"][FAKE_HEAD]["resources"])
    env = {
        **os.environ,
        **HEALTH_CHECKS,
        "RAY_FAKE_CLUSTER": "1",
        # Fake nodes bind 127.0.0.1, not the machine's outward address (clients would dial it for ever).
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        # `ray start` protects a head with the token in ~/.ray when there is one: every client sends it.
        "RAY_AUTH_MODE": "token",
        "ACTREC_CACHE": str(tmp_path / "shared" / "cache"),  # storage every node shares (EFS on the real cluster)
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("RAY_ADDRESS", None)
    cluster = SimulatedCluster(temp, env, config, next(n for n in config["available_node_types"] if n != FAKE_HEAD))
    try:
        token = subprocess.run([str(BIN / "ray"), "get-auth-token", "--generate"], env=env, capture_output=True)
        assert token.returncode == 0, token.stderr
        cmd = [str(BIN / "ray"), "start", "--head", "--node-ip-address", "127.0.0.1", f"--port={gcs}"]
        cmd += [f"--num-cpus={head.pop('CPU')}", f"--resources={json.dumps(head)}", "--dashboard-host=127.0.0.1"]
        cmd += [f"--dashboard-port={dashboard}", f"--ray-client-server-port={client}"]
        cmd += [f"--dashboard-agent-listen-port={agent}", f"--temp-dir={temp}", "--disable-usage-stats"]
        cmd += [f"--autoscaling-config={config_path}"]
        started = subprocess.run(cmd, env={**env, MARKER: temp}, capture_output=True, text=True, timeout=300)
        assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
        cluster.env = {**env, "RAY_ADDRESS": f"127.0.0.1:{gcs}"}
        yield cluster
    finally:
        # Again until none is left: a raylet or the autoscaler may start a process while the others are being killed.
        deadline = time.monotonic() + 30
        while (left := [p for p in cluster.processes() if running(p)]) and time.monotonic() < deadline:
            kill_all(left)
            time.sleep(0.5)
        shutil.rmtree(temp, ignore_errors=True)
        assert not left, f"processes of the simulated cluster still running: {left}"


def _epochs_reported(client, experiment_name):
    """Trial id -> the epochs (steps) of its trial run's val_top1 history in MLflow so far."""
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return {}
    runs = client.search_runs([experiment.experiment_id], "tags.role = 'trial'")
    return {
        r.data.tags["trial_id"]: [m.step for m in client.get_metric_history(r.info.run_id, "val_top1")] for r in runs
    }


def _trial_of(pid: int) -> str:
    """The Tune trial id of a trial's Train worker or driver, from the directory Ray runs it in: a worker in
    ``<session>/artifacts/<trial id>``, a driver in ``.../working_dirs/run_trial_<trial id>_<n>_<config>`` ("" once it
    has gone)."""
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""
    found = re.search(r"(?:/artifacts/|/run_trial_)([0-9a-f]{8})(?:_|$)", cwd)
    return found.group(1) if found else ""


@pytest.mark.slow
def test_a_sweep_autoscales_onto_worker_nodes_and_survives_losing_one(simulated_cluster, tmp_path):
    """The smoke cdc_theta search (2 trials, each one Train worker on one accelerator) joins the simulated cluster,
    which starts with no worker node. Once a trial has reported an epoch, its worker node's whole process tree is
    killed. The driver finishes; ~2 min here (the sweep ~95 s, the idle nodes gone ~12 s after it)."""
    cluster = simulated_cluster
    shared = tmp_path / "shared"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"  # the driver on the head is MLflow's one writer
    cmd = [sys.executable, str(ROOT / "sweeps" / "cdc_theta.py"), "--profile", "smoke", "--search", "optuna"]
    cmd += ["--num-samples", str(TRIALS), "--asha", "off", "--storage-path", str(shared / "runs")]
    cmd += ["--tracking-uri", uri, "--report-dir", str(tmp_path / "reports")]
    settings = (f"train.epochs={EPOCHS}", "train.num_workers=1", f"train.accelerator={ACCEL}")
    for setting in (*settings, "train.accelerators_per_worker=1"):
        cmd += ["--set", setting]
    cmd += ["--set", "train.max_failures=2"]
    log = open(tmp_path / "driver.log", "w")
    started = time.monotonic()
    driver = subprocess.Popen(cmd, cwd=tmp_path, env=cluster.env, stdout=log, stderr=subprocess.STDOUT)
    client = MlflowClient(uri)
    nodes_seen: set[str] = set()
    worker_nodes: set[str] = set()  # nodes a Train worker ran on
    driver_nodes: set[str] = set()  # nodes a trial driver (Tune function) ran on
    killed = None  # (node, trial id, epochs it had reported) of the worker node reclaimed mid-trial
    after_kill: set[str] = set()  # nodes the killed trial's Train workers ran on after the loss
    try:
        deadline = started + 900
        while driver.poll() is None and time.monotonic() < deadline:
            time.sleep(1)
            nodes_seen |= cluster.worker_nodes()
            procs = cluster.processes()
            # Train worker -> (its node, its trial: Ray runs a trial's workers in a directory named by its trial id)
            live = [p for p in procs if running(p)]
            workers = {p: (cluster.node_of(p), _trial_of(p)) for p in titled(live, b"ray::RayTrainWorker")}
            worker_nodes |= {node for node, _ in workers.values()}
            driver_nodes |= {cluster.node_of(p) for p in titled(live, b"ray::ImplicitFunc")}
            if killed is not None:
                after_kill |= {node for node, trial in workers.values() if trial == killed[1]} - {killed[0]}
                continue
            epochs = _epochs_reported(client, "actrec/cdc_theta") if (tmp_path / "mlflow.db").exists() else {}
            # The node of a trial that has checkpointed an epoch and has epochs to go is reclaimed.
            mid = [(node, trial) for node, trial in workers.values() if 0 < len(epochs.get(trial, [])) < EPOCHS - 1]
            if mid:
                killed = (*mid[0], len(epochs[mid[0][1]]))
                cluster.kill_node(killed[0])
        code = driver.wait(timeout=max(1, deadline - time.monotonic()))
        swept = time.monotonic() - started
        # The autoscaler removes the idle worker nodes (and the dead one) after the idle timeout.
        while cluster.worker_nodes() and time.monotonic() < deadline + 120:
            time.sleep(2)
        idle_gone = time.monotonic() - started - swept
    finally:
        if driver.poll() is None:
            driver.kill()
        driver.wait()
    text = (tmp_path / "driver.log").read_text()
    assert code == 0, text[-6000:]
    assert killed is not None, "a worker node was killed mid-trial"
    print(f"sweep {swept:.0f} s; worker nodes gone {idle_gone:.0f} s after it; nodes {sorted(nodes_seen)}")
    print(f"killed node, trial, epochs reported: {killed}")

    # The sweep queued its trials for the autoscaler, which launched worker nodes for them; the trials' workers ran
    # only there, their drivers only on the head.
    assert "trials wait for the autoscaler" in text, text[-3000:]
    # One node per trial (a node holds one trial's worker); the lost trial's workers then run on another node: a
    # new one, or the other trial's if that trial has finished and its node is still there.
    assert len(nodes_seen) >= TRIALS, nodes_seen
    assert "Launching" in cluster.monitor_log()
    assert worker_nodes and HEAD_ID not in worker_nodes, worker_nodes
    assert driver_nodes == {HEAD_ID}, driver_nodes
    assert after_kill, "after the loss, the trial's Train workers ran on another node"
    assert not cluster.worker_nodes(), "idle worker nodes were removed"
    assert f"of type {cluster.worker_type} (idle)" in cluster.monitor_log()

    # Every trial finished and reported every epoch to MLflow once: the lost trial resumed from its checkpoint (from
    # scratch, it would report its first epochs again).
    experiment = client.get_experiment_by_name("actrec/cdc_theta")
    runs = client.search_runs([experiment.experiment_id], "tags.role = 'trial'")
    assert len(runs) == TRIALS and killed[1] in {r.data.tags["trial_id"] for r in runs}
    for run in runs:
        assert run.info.status == "FINISHED"
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "val_top1"))
        assert steps == list(range(1, EPOCHS + 1)), (run.data.tags["trial_id"], steps, killed)
        # MLflow keeps each epoch once whatever arrives; the driver's progress lines show every epoch ran once.
        trial_id = run.data.tags["trial_id"]
        lines = [line for line in text.splitlines() if f" {trial_id}]" in line and f"/{EPOCHS} loss " in line]
        assert len(lines) == EPOCHS, (trial_id, lines)
    # Shards and checkpoints lay in the storage every node shares.
    assert list((shared / "cache").rglob("*.tar")), "the synthetic set's shards"
    assert len({p.parent.parent for p in (shared / "runs").rglob("checkpoint_*/*")}) >= TRIALS
