"""The cluster workflow on this machine, for real: a Ray head and an `mlflow server` started by cluster/workstation.sh
from a shell without the project's environment, every one of their servers on loopback only and none of their
processes left after stop; the smoke cdc_theta sweep submitted with `ray job submit --working-dir .` as an Optuna
search over Table IV's continuous θ, its concurrent trials logging to the server; and a trial's driver killed
mid-trial, after which Tune restarts the trial, which resumes from its newest checkpoint and finishes."""

import http.server
import importlib
import ipaddress
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
import ray  # noqa: F401  (Ray ships psutil in ray/thirdparty_files and puts it on sys.path)
from mlflow.tracking import MlflowClient

from actrec.tune import plan
from tests.processes import descendants, free_ports, processes_with, titled

psutil = importlib.import_module("psutil")

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
SCRIPT = str(ROOT / "cluster" / "workstation.sh")
BARE_PATH = "/usr/bin:/bin"  # a shell without the project's environment: no python, ray or mlflow of the project
EPOCHS = 2
SAMPLES = 2  # Optuna trials of the submitted sweep, run at once


@pytest.fixture()
def workstation(tmp_path):
    """cluster/workstation.sh start ... stop, from a shell without the project's environment on PATH, on free loopback
    ports, its state in a short private directory."""
    state = tempfile.mkdtemp(prefix="actrec-ws-", dir="/tmp")  # short: Ray's Unix sockets live under it
    ray_port, dashboard_port, mlflow_port, client_port, agent_port = free_ports(5)
    env = {
        **os.environ,
        "PATH": BARE_PATH,
        "ACTREC_STATE": state,
        "RAY_PORT": str(ray_port),
        "DASHBOARD_PORT": str(dashboard_port),
        "MLFLOW_PORT": str(mlflow_port),
        "RAY_CLIENT_PORT": str(client_port),
        "DASHBOARD_AGENT_PORT": str(agent_port),  # Ray's default may be another Ray's (the session's, a user's)
        "NUM_CPUS": "4",
        "PYTHONUNBUFFERED": "1",
        # Ray 2.60 protects the head with a token (~/.ray/auth_token); `ray job submit` sends it with this.
        "RAY_AUTH_MODE": "token",
    }
    for name in ("RAY_ADDRESS", "VIRTUAL_ENV", "ACTREC_VENV"):
        env.pop(name, None)
    try:
        started = subprocess.run([SCRIPT, "start"], env=env, capture_output=True, text=True, timeout=900)
        assert started.returncode == 0, started.stdout + started.stderr + _tail(pathlib.Path(state) / "logs")
        yield env, f"http://127.0.0.1:{dashboard_port}", f"http://127.0.0.1:{mlflow_port}", pathlib.Path(state)
    finally:
        stopped = subprocess.run([SCRIPT, "stop"], env=env, capture_output=True, text=True, timeout=300)
        assert stopped.returncode == 0, stopped.stderr
        assert not processes_with(state + "/"), "stop leaves nothing of the head or the server running"
        shutil.rmtree(state, ignore_errors=True)


def _tail(logs: pathlib.Path) -> str:
    return "".join(f"\n--- {p}\n" + p.read_text()[-3000:] for p in sorted(logs.glob("*.log")))


def _bare_env(tmp_path, **settings):
    """The environment of a shell without the project's environment, for a workstation on free ports under tmp_path."""
    ray_port, dashboard_port, mlflow_port, client_port, agent_port = free_ports(5)
    return {
        "HOME": str(tmp_path),
        "PATH": BARE_PATH,
        "ACTREC_STATE": str(tmp_path / "state"),
        "RAY_PORT": str(ray_port),
        "DASHBOARD_PORT": str(dashboard_port),
        "MLFLOW_PORT": str(mlflow_port),
        "RAY_CLIENT_PORT": str(client_port),
        "DASHBOARD_AGENT_PORT": str(agent_port),
        **settings,
    }


def _start_until_it_exits(env):
    """workstation.sh start; the timeout only guards against a hang (the old script waited 300 s for a server that could
    not start), the tests assert on how it exits."""
    try:
        return subprocess.run([SCRIPT, "start"], env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as hung:
        pytest.fail(f"workstation.sh start waited instead of failing: {hung.stderr or b''!r}")
    finally:
        subprocess.run([SCRIPT, "stop"], env=env, capture_output=True, timeout=300)


@pytest.mark.parametrize("present", [[], ["python"]], ids=["empty", "python only"])
def test_start_without_the_project_environment_fails_at_once_naming_what_is_missing(tmp_path, present):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for name in present:
        (venv / "bin" / name).symlink_to(BIN / name)
    env = _bare_env(tmp_path, ACTREC_VENV=str(venv))
    started = _start_until_it_exits(env)
    assert started.returncode == 1
    [line] = started.stderr.splitlines()
    assert line.startswith("workstation: ") and " not found in " in line, line
    missing = line.removeprefix("workstation: ").split(" not found in ")[0]
    assert missing.split() == [c for c in ("python", "ray", "mlflow") if c not in present], line
    assert f"{venv}/bin" in line and "make setup" in line
    assert not (tmp_path / "state" / "mlflow.pid").exists(), "nothing was started"


@pytest.mark.parametrize(
    "setting", ["MLFLOW_PORT", "RAY_PORT", "DASHBOARD_PORT", "RAY_CLIENT_PORT", "DASHBOARD_AGENT_PORT"]
)
def test_start_refuses_a_port_in_use_before_starting_anything(tmp_path, setting):
    """Another server on the machine holds one of the ports (a user's `mlflow ui` on 5000, a sweep's embedded Ray on
    Ray's defaults): it would answer start's readiness checks in place of the workstation's own servers (and runs or
    jobs would go to it), or the head would take no job. An HTTP server answers there, as one would: start refuses
    at once, naming the setting, and starts and writes nothing."""
    env = _bare_env(tmp_path)
    server = http.server.HTTPServer(("127.0.0.1", int(env[setting])), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        started = _start_until_it_exits(env)
    finally:
        server.shutdown()
        server.server_close()
    assert started.returncode == 1
    [line] = started.stderr.splitlines()
    assert f"{setting} {env[setting]} is in use" in line and f"set {setting} to a free port" in line, line
    assert not (tmp_path / "state").exists(), "nothing was started or written"


@pytest.mark.parametrize("value", ["50OO", "70000", "0"])
def test_start_refuses_a_value_that_is_no_port_before_starting_anything(tmp_path, value):
    """A typo'd port is named as such (not reported as a port in use)."""
    env = _bare_env(tmp_path, MLFLOW_PORT=value)
    started = _start_until_it_exits(env)
    assert started.returncode == 1
    assert started.stderr.splitlines() == [f"workstation: MLFLOW_PORT must be a port number (1-65535), got '{value}'"]
    assert not (tmp_path / "state").exists(), "nothing was started or written"


def test_the_workstation_head_inherits_what_an_embedded_ray_does_unless_set():
    """cluster/workstation.sh starts its head with :data:`actrec.tune.cluster.EMBEDDED_RAY_ENV`, each a default that a
    value set in the environment overrides; the script cannot import it, so this keeps the two from drifting apart."""
    from actrec.tune.cluster import EMBEDDED_RAY_ENV, IDLE_WORKERS_PER_CPU, idle_workers_env

    script = pathlib.Path(SCRIPT).read_text()
    for key, value in EMBEDDED_RAY_ENV.items():
        assert f"{key}=${{{key}:-{value}}}" in script, key
    (key,) = idle_workers_env(1)  # kept idle worker processes: per CPU, of the --num-cpus the head is given
    assert f"{key}=${{{key}:-$(({IDLE_WORKERS_PER_CPU} * NUM_CPUS))}}" in script


def test_start_refuses_a_ray_port_in_the_workers_range_before_starting_anything(tmp_path):
    """`ray start` would fail with a traceback ("... is trying to use a port number ... used by other components")."""
    env = _bare_env(tmp_path, RAY_CLIENT_PORT="10091")
    started = _start_until_it_exits(env)
    assert started.returncode == 1
    assert started.stderr.splitlines() == [
        "workstation: RAY_CLIENT_PORT 10091 lies in Ray's worker port range 10002-19999; set RAY_CLIENT_PORT outside it"
    ]
    assert not (tmp_path / "state").exists(), "nothing was started or written"


def test_start_stops_waiting_when_the_mlflow_server_dies(tmp_path):
    """The server exits before it answers (here an `mlflow` that fails at once, in an environment that is otherwise
    the project's): start stops waiting, shows the end of the server's log and leaves nothing running."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for name in ("python", "ray"):
        (venv / "bin" / name).symlink_to(BIN / name)
    failing = venv / "bin" / "mlflow"
    failing.write_text("#!/bin/sh\necho 'mlflow: cannot open the backend store (a test)' >&2\nexit 3\n")
    failing.chmod(0o755)
    env = _bare_env(tmp_path, ACTREC_VENV=str(venv))
    started = _start_until_it_exits(env)
    assert started.returncode == 1
    assert "mlflow server exited before it answered" in started.stderr, started.stderr
    assert "cannot open the backend store (a test)" in started.stderr, "the end of the server's log comes with it"
    assert not processes_with(f"{tmp_path}/state/"), "the failed start leaves nothing running"


def _cmdline(proc):
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def _head_processes(state, ray_port):
    """Every process of the workstation's Ray head and MLflow server, by PID: those naming the state directory on their
    command line (the head's --temp-dir lies in it; the server's database too), the Ray Client server of this head's
    GCS, and all their descendants (agents, workers, the dashboard's modules and the server's workers, which retitle
    themselves)."""
    client = re.compile(rf"ray\.util\.client\.server .*--address=\S+:{ray_port}\b")
    roots = [p for p in psutil.process_iter() if f"{state}/" in _cmdline(p) or client.search(_cmdline(p))]
    found = {}
    for root in roots:
        try:
            for proc in [root, *root.children(recursive=True)]:
                found[proc.pid] = proc
        except psutil.NoSuchProcess:
            continue
    return found


def _running(proc):
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _listening(procs):
    """(command line, ip, port) of every listening TCP socket of the processes."""
    found = []
    for proc in procs.values():
        try:
            found += [
                (_cmdline(proc)[:200], c.laddr.ip, c.laddr.port)
                for c in proc.net_connections(kind="inet")
                if c.status == psutil.CONN_LISTEN
            ]
        except psutil.NoSuchProcess:
            continue
    return found


def _loopback(ip):
    address = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:  # ::ffff:127.0.0.1
        address = address.ipv4_mapped
    return address.is_loopback


def _assert_loopback_only(env, state):
    """Once every server of the head listens: none of them on a non-loopback address. Returns the head's
    processes."""
    ports = {int(env[name]) for name in ("RAY_PORT", "DASHBOARD_PORT", "MLFLOW_PORT")}
    servers = ("gcs_server", "raylet", "ray::DashboardAgent", "ray::RuntimeEnvAgent", "dashboard.py")
    servers += ("ray.util.client.server",)
    # Until every server listens: the agents start after the head answers.
    deadline = time.monotonic() + 120
    while True:
        procs = _head_processes(state, int(env["RAY_PORT"]))
        sockets = _listening(procs)
        up = ports <= {port for _, _, port in sockets} and all(any(n in s[0] for s in sockets) for n in servers)
        if up or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert up, sockets
    assert any("mlflow server" in _cmdline(p) for p in procs.values())

    public = [s for s in sockets if not _loopback(s[1])]
    assert not public, f"listening on a non-loopback address: {public}"

    agents = [p for p in procs.values() if _cmdline(p).startswith(("ray::DashboardAgent", "ray::RuntimeEnvAgent"))]
    assert len(agents) == 2
    return procs


def _assert_stop_leaves_nothing(env, state, procs):
    stopped = subprocess.run([SCRIPT, "stop"], env=env, capture_output=True, text=True, timeout=300)
    assert stopped.returncode == 0, stopped.stderr
    left = [(p.pid, _cmdline(p)[:80]) for p in procs.values() if _running(p)]
    assert not left, f"stop left processes of the head or the server running: {left}"
    assert not _head_processes(state, int(env["RAY_PORT"])), "nor any they started meanwhile"


def _submit(env, jobs, tmp_path):
    """`ray job submit` of the smoke cdc_theta sweep as a 2-trial Optuna search."""
    return subprocess.run(
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
            "--search",
            "optuna",
            "--num-samples",
            str(SAMPLES),
            "--asha",
            "off",  # every trial runs its epochs (ASHA is on by default in a search)
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


@pytest.mark.slow
def test_ray_job_submit_runs_a_sweep_into_the_mlflow_server_of_a_loopback_only_workstation(workstation, tmp_path):
    """One workstation (starting one costs ~15 s, stopping another ~15): its servers listen on loopback only, a
    submitted sweep runs into its MLflow server, and stop leaves none of its processes."""
    env, jobs, tracking, state = workstation
    procs = _assert_loopback_only(env, state)
    # The head answers HTTP before its dashboard agent takes jobs; Ray then refuses with "No available agent to
    # submit job, please try again later" (seen on a loaded machine), so try again a few times, as it says.
    for _attempt in range(6):
        submit = _submit(env, jobs, tmp_path)
        if submit.returncode == 0 or "No available agent to submit job" not in submit.stderr:
            break
        time.sleep(10)
    output = submit.stdout[-6000:] + submit.stderr[-3000:]
    assert submit.returncode == 0, output
    assert "joining the running Ray cluster" in submit.stdout, "the job's driver starts no Ray of its own"
    assert f"MLflow: {tracking}" in submit.stdout, "the job inherits the head's tracking server"

    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("actrec/cdc_theta")
    parent = client.search_runs([experiment.experiment_id], "tags.role = 'sweep'")[0]
    assert parent.info.status == "FINISHED" and parent.data.params["search"] == "optuna"
    assert int(parent.data.params["max_concurrent_trials"]) >= 2
    children = client.search_runs([experiment.experiment_id], "tags.role = 'trial'", max_results=100)
    assert len(children) == SAMPLES and len({r.data.tags["trial_id"] for r in children}) == SAMPLES

    # Every trial's params: its whole dotted config, as the driver resolved it.
    expected_keys = set(plan.resolve_trial({}, {}))
    cells = set()
    for run in children:
        assert run.info.status == "FINISHED"
        assert set(run.data.params) == expected_keys
        assert run.data.params["train.epochs"] == str(EPOCHS)
        # Optuna sampled θ from the continuous [0, 1] and the stem from the table's two CDC stems.
        theta, stem = float(run.data.params["model.theta"]), run.data.params["model.stem"]
        assert 0.0 <= theta <= 1.0 and stem in ("CDC-ST", "CDC-T")
        cells.add((stem, theta, run.data.params["data.modality"]))
        # Every epoch's metrics, once each.
        for metric in ("val_top1", "train_loss", "val_best_top1", "epoch_time_s"):
            history = client.get_metric_history(run.info.run_id, metric)
            assert sorted(m.step for m in history) == list(range(1, EPOCHS + 1)), (metric, history)
    assert len(cells) == SAMPLES

    # Concurrent trials: at least two trials' runs were open at the same time.
    spans = sorted((r.info.start_time, r.info.end_time) for r in children)
    assert any(later_start < end for (_, end), (later_start, _) in zip(spans, spans[1:], strict=False))

    # The report went through the server's artifact proxy into its artifact store.
    assert "report/cdc_theta.md" in {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert list((state / "mlartifacts").rglob("cdc_theta.md"))
    assert (tmp_path / "reports" / "cdc_theta.md").exists() and (tmp_path / "reports" / "cdc_theta_plot.png").exists()
    _assert_stop_leaves_nothing(env, state, procs)


def _train_workers(ray_owner_pid, title=b"ray::RayTrainWorker"):
    """The PIDs of Ray worker processes under ``ray_owner_pid`` whose process title starts with ``title`` (default:
    Ray Train workers; ``b"ray::ImplicitFunc"``: Tune function trainables, i.e. trial drivers)."""
    return titled(descendants(ray_owner_pid), title)


@pytest.mark.slow
def test_a_killed_trial_driver_resumes_from_the_checkpoint(tmp_path):
    """A lost trial driver (its Tune function, which owns the Train controller and workers: all of them go): Tune
    restarts the trial (--trial-retries) and Ray Train restores it from the newest checkpoint. Every epoch reaches
    MLflow once. (A lost Train worker, which Ray Train replaces by itself with train.max_failures: a whole node of the
    simulated cluster in tests/test_cluster_sim.py.)"""
    epochs = 5
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
        "--trial-retries",
        "1",
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
        killed_driver = None
        deadline = time.time() + 1200
        # Once the trial has reported (and checkpointed) an epoch, its driver goes (as with the node that held it).
        while time.time() < deadline and driver.poll() is None and killed_driver is None:
            time.sleep(1)
            tracked = (tmp_path / "mlflow.db").exists()
            experiment = client.get_experiment_by_name("actrec/cdc_theta") if tracked else None
            runs = client.search_runs([experiment.experiment_id], "tags.role = 'trial'") if experiment else []
            reported = len(client.get_metric_history(runs[0].info.run_id, "val_top1")) if runs else 0
            if reported:
                trial_drivers = _train_workers(driver.pid, b"ray::ImplicitFunc")
                if len(trial_drivers) == 1:
                    os.kill(trial_drivers[0], signal.SIGKILL)
                    killed_driver = (trial_drivers[0], reported)
        code = driver.wait(timeout=max(1, deadline - time.time()))
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    text = (tmp_path / "driver.log").read_text()
    assert code == 0, text[-5000:]
    assert killed_driver is not None, text[-5000:]
    assert killed_driver[1] < epochs, f"the driver was killed mid-trial, after {killed_driver[1]} epoch(s)"

    experiment = client.get_experiment_by_name("actrec/cdc_theta")
    [run] = client.search_runs([experiment.experiment_id], "tags.role = 'trial'")
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "val_top1")
    # Resumed from the newest checkpoint: every epoch reported exactly once (a restart from scratch would report
    # epoch 1 again), and all of them.
    assert sorted(m.step for m in history) == list(range(1, epochs + 1)), history
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) == epochs
    # MLflow keeps each epoch once whatever arrives (a restart from scratch too), so that the run was restored shows in
    # the driver's progress lines: epoch 1 (reported before the kill) ran once.
    assert sum(f"| epoch 1/{epochs} " in line for line in text.splitlines()) == 1, text[-5000:]
