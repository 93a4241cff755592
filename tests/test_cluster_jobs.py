"""The cluster workflow on this machine, for real: a Ray head and an `mlflow server` started by cluster/workstation.sh,
the smoke cdc_theta sweep submitted with `ray job submit --working-dir .`, its concurrent trials logging to the server;
and a Ray Train worker killed mid-trial, after which the trial resumes from its newest checkpoint and finishes."""

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
from mlflow.tracking import MlflowClient

from actrec.tune import runner

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
EPOCHS = 2


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _processes_with(text):
    """PIDs whose command line contains ``text``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry))
    return found


@pytest.fixture()
def workstation(tmp_path):
    """cluster/workstation.sh start ... stop, on free loopback ports, its state in a short private directory."""
    state = tempfile.mkdtemp(prefix="actrec-ws-", dir="/tmp")  # short: Ray's Unix sockets live under it
    ray_port, dashboard_port, mlflow_port = _free_ports(3)
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ACTREC_STATE": state,
        "RAY_PORT": str(ray_port),
        "DASHBOARD_PORT": str(dashboard_port),
        "MLFLOW_PORT": str(mlflow_port),
        "NUM_CPUS": "4",
        "PYTHONUNBUFFERED": "1",
        # Ray 2.60 protects a local head with a token (written by `ray start`); `ray job submit` sends it with this.
        "RAY_AUTH_MODE": "token",
    }
    env.pop("RAY_ADDRESS", None)
    script = str(ROOT / "cluster" / "workstation.sh")
    try:
        started = subprocess.run([script, "start"], env=env, capture_output=True, text=True, timeout=900)
        assert started.returncode == 0, started.stdout + started.stderr + _tail(pathlib.Path(state) / "logs")
        yield env, f"http://127.0.0.1:{dashboard_port}", f"http://127.0.0.1:{mlflow_port}", pathlib.Path(state)
    finally:
        stopped = subprocess.run([script, "stop"], env=env, capture_output=True, text=True, timeout=300)
        assert stopped.returncode == 0, stopped.stderr
        assert not _processes_with(state + "/"), "stop leaves nothing of the head or the server running"
        shutil.rmtree(state, ignore_errors=True)


def _tail(logs: pathlib.Path) -> str:
    return "".join(f"\n--- {p}\n" + p.read_text()[-3000:] for p in sorted(logs.glob("*.log")))


@pytest.mark.slow
def test_ray_job_submit_runs_a_sweep_into_the_mlflow_server(workstation, tmp_path):
    env, jobs, tracking, state = workstation
    submit = subprocess.run(
        [
            str(BIN / "ray"),
            "job",
            "submit",
            "--address",
            jobs,
            "--working-dir",
            ".",
            "--",
            "python",
            "sweeps/cdc_theta.py",
            "--profile",
            "smoke",
            "--set",
            f"train.epochs={EPOCHS}",
            "--report-dir",
            str(tmp_path / "reports"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=2400,
    )
    output = submit.stdout[-6000:] + submit.stderr[-3000:]
    assert submit.returncode == 0, output
    assert "joining the running Ray cluster" in submit.stdout, "the job's driver starts no Ray of its own"
    assert f"MLflow: {tracking}" in submit.stdout, "the job inherits the head's tracking server"

    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("actrec/cdc_theta")
    parent = client.search_runs([experiment.experiment_id], "tags.role = 'sweep'")[0]
    assert parent.info.status == "FINISHED"
    assert int(parent.data.params["max_concurrent_trials"]) >= 2
    children = client.search_runs([experiment.experiment_id], "tags.role = 'trial'", max_results=100)
    assert len(children) == 10 and len({r.data.tags["trial_id"] for r in children}) == 10

    # Every trial's params: its whole dotted config, as the driver resolved it.
    expected_keys = set(runner.resolve_trial({}, {}))
    cells = set()
    for run in children:
        assert run.info.status == "FINISHED"
        assert set(run.data.params) == expected_keys
        assert run.data.params["train.epochs"] == str(EPOCHS)
        cells.add((run.data.params["model.stem"], run.data.params["model.theta"], run.data.params["data.modality"]))
        # Every epoch's metrics, once each.
        for metric in ("val_top1", "train_loss", "val_best_top1", "epoch_time_s"):
            history = client.get_metric_history(run.info.run_id, metric)
            assert sorted(m.step for m in history) == list(range(1, EPOCHS + 1)), (metric, history)
    assert len(cells) == 10

    # Concurrent trials: at least two trials' runs were open at the same time.
    spans = sorted((r.info.start_time, r.info.end_time) for r in children)
    assert any(later_start < end for (_, end), (later_start, _) in zip(spans, spans[1:], strict=False))

    # The report went through the server's artifact proxy into its artifact store.
    assert "report/cdc_theta.md" in {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert list((state / "mlartifacts").rglob("cdc_theta.md"))
    assert (tmp_path / "reports" / "cdc_theta.md").exists()


def _descendants(pid):
    """PIDs of every process below ``pid`` (the embedded Ray's GCS, raylet and workers of a sweep driver)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _train_workers(driver_pid):
    workers = []
    for pid in _descendants(driver_pid):
        try:
            title = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0]
        except OSError:
            continue
        if title.startswith(b"ray::RayTrainWorker"):
            workers.append(pid)
    return workers


@pytest.mark.slow
def test_a_killed_train_worker_resumes_from_its_checkpoint(tmp_path):
    epochs = 4
    env = {**os.environ, "ACTREC_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cmd = [
        sys.executable,
        str(ROOT / "sweeps" / "cdc_theta.py"),
        "--profile",
        "smoke",
        "--search",
        "optuna",
        "--num-samples",
        "1",
        "--set",
        f"train.epochs={epochs}",
        "--set",
        "train.max_failures=2",
        "--asha",
        "off",
        "--storage-path",
        str(tmp_path / "runs"),
        "--tracking-uri",
        uri,
        "--report-dir",
        str(tmp_path / "reports"),
    ]
    log = open(tmp_path / "driver.log", "w")
    driver = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        client = MlflowClient(uri)
        killed = None
        deadline = time.time() + 1200
        # Wait for the first epoch's report, then kill the trial's one Train worker.
        while time.time() < deadline and driver.poll() is None and killed is None:
            time.sleep(1)
            tracked = (tmp_path / "mlflow.db").exists()
            experiment = client.get_experiment_by_name("actrec/cdc_theta") if tracked else None
            runs = client.search_runs([experiment.experiment_id], "tags.role = 'trial'") if experiment else []
            if runs and client.get_metric_history(runs[0].info.run_id, "val_top1"):
                workers = _train_workers(driver.pid)
                if len(workers) == 1:
                    os.kill(workers[0], signal.SIGKILL)
                    killed = workers[0]
        assert killed is not None, (tmp_path / "driver.log").read_text()[-5000:]
        # A new worker group replaces the dead worker while the same trial goes on.
        replaced = False
        while time.time() < deadline and driver.poll() is None and not replaced:
            time.sleep(1)
            replaced = any(pid != killed for pid in _train_workers(driver.pid))
        code = driver.wait(timeout=max(1, deadline - time.time()))
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    text = (tmp_path / "driver.log").read_text()
    assert code == 0, text[-5000:]
    assert replaced, "the trial restarted its worker group"

    experiment = client.get_experiment_by_name("actrec/cdc_theta")
    [run] = client.search_runs([experiment.experiment_id], "tags.role = 'trial'")
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "val_top1")
    # Resumed from the newest checkpoint: every epoch reported exactly once (a restart from scratch would report
    # epoch 1 again), and all of them.
    assert sorted(m.step for m in history) == list(range(1, epochs + 1)), history
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) == epochs
