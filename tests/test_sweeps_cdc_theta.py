"""End to end: the smoke cdc_theta sweep on a real embedded Ray, interrupted and resumed, into MLflow and a report.

One sweep run covers: trials in MLflow (params + per-epoch metrics), a SIGTERM to the driver leaves no run
RUNNING (interrupted trials FAILED, the parent tagged), resume re-runs nothing finished and continues the same Optuna
study (the sampler's history survives the interruption: ray-project/ray#30861), a corrupt shard member is skipped and
counted (not fatal), the report shows the search (best settings with intervals, Optuna's figures) beside every paper
value of Table IV and is logged on the parent run. The sweep is a 3-sample Optuna search over Table IV's space, one
trial at a time, interrupted once the first trial has finished.
"""

import contextlib
import os
import pathlib
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from actrec.config import from_flat
from actrec.data.synth import ensure_synthetic

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAPER_VALUES = ("90.4", "91.2", "92.1", "91.6", "89.6", "93.8", "91.0", "89.9", "92.4")


def _smoke_data_config(cdc):
    smoke = {k: v for k, v in cdc.SPEC.profiles["smoke"].items() if k.startswith("data.")}
    return from_flat(smoke).data


def _corrupt_one_sample(root: pathlib.Path) -> str:
    """Overwrite the RGB and depth bytes of the first sample of the first shard with noise (tar stays valid)."""
    shard = sorted(root.glob("*.tar"))[0]
    with tarfile.open(shard) as tar:
        members = tar.getmembers()
    key = next(m.name for m in members if m.name.endswith(".rgb.mp4"))[: -len(".rgb.mp4")]
    noise = np.random.default_rng(0)
    with open(shard, "r+b") as f:
        for m in members:
            if m.name in (f"{key}.rgb.mp4", f"{key}.depth.mp4"):
                f.seek(m.offset_data)
                f.write(noise.integers(0, 256, m.size, dtype=np.uint8).tobytes())
    return key


def _sweep_command(tmp_path, *extra):
    """Environment, tracking URI and argv of a smoke cdc_theta sweep confined to ``tmp_path``."""
    env = {**os.environ, "ACTREC_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cmd = [
        sys.executable,
        str(ROOT / "sweeps" / "cdc_theta.py"),
        "--profile",
        "smoke",
        "--storage-path",
        str(tmp_path / "runs"),
        "--tracking-uri",
        uri,
        "--report-dir",
        str(tmp_path / "reports"),
        *extra,
    ]
    return env, uri, cmd


def _children(client, experiment_id):
    return client.search_runs([experiment_id], "tags.role = 'trial'", max_results=100)


SAMPLES = 3


@pytest.mark.slow
def test_smoke_sweep_interrupted_resumed_and_reported(tmp_path, cdc_sweep, monkeypatch):
    import optuna

    data_root = tmp_path / "data"
    # Three Optuna samples, one at a time, every trial all its epochs: interrupted once the first trial has finished
    # (the second runs then), so the resumed search still has a sample to draw.
    search = ("--search", "optuna", "--num-samples", str(SAMPLES), "--asha", "off", "--max-concurrent", "1")
    env, uri, cmd = _sweep_command(tmp_path, "--data-root", str(data_root), *search)
    monkeypatch.setenv("ACTREC_CACHE", env["ACTREC_CACHE"])
    shutil.copytree(ensure_synthetic(_smoke_data_config(cdc_sweep)), data_root)
    _corrupt_one_sample(data_root)

    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    client = MlflowClient(uri)
    # Generous limits: on 2 cores beside other work the first trials alone can take several minutes.
    deadline = time.time() + 1200
    finished_before = []
    while time.time() < deadline and first.poll() is None:
        time.sleep(1)
        experiment = (
            client.get_experiment_by_name("actrec/cdc_theta") if os.path.exists(tmp_path / "mlflow.db") else None
        )
        if experiment is None:
            continue
        finished_before = [r for r in _children(client, experiment.experiment_id) if r.info.status == "FINISHED"]
        if finished_before:
            break
    assert first.poll() is None, f"sweep ended before it could be interrupted:\n{(tmp_path / 'first.log').read_text()}"
    assert finished_before, (tmp_path / "first.log").read_text()[-5000:]
    # SIGTERM to the driver alone, as `ray job stop` or a shutdown sends it: it marks its runs and exits.
    os.kill(first.pid, signal.SIGTERM)
    try:
        code = first.wait(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever of its embedded Ray outlived it
            os.killpg(first.pid, signal.SIGKILL)
    log_text = (tmp_path / "first.log").read_text()
    assert code == 128 + signal.SIGTERM, log_text[-5000:]
    assert "SIGTERM: sweep interrupted" in log_text and "--resume" in log_text
    experiment = client.get_experiment_by_name("actrec/cdc_theta")
    interrupted = _children(client, experiment.experiment_id)
    assert {r.info.status for r in interrupted} <= {"FINISHED", "FAILED"}, "no run is left RUNNING"
    parent = client.search_runs([experiment.experiment_id], "tags.role = 'sweep'")[0]
    assert parent.info.status == "FAILED" and parent.data.tags["interrupted_by"] == "SIGTERM"
    storage = re.search(r"Optuna study 'cdc_theta': (\S+)$", log_text, re.MULTILINE).group(1)
    told_before = {t.number for t in optuna.load_study(study_name="cdc_theta", storage=storage).trials}
    time.sleep(3)
    ends = {r.info.run_id: r.info.end_time for r in finished_before}

    # The printed command, verbatim, from another directory: the sweep's stored invocation (tracking URI, storage
    # path, report folder, profile, data root, search) comes back with it.
    printed = re.search(r"sweep interrupted;.*Finish it with: (.+)$", log_text, re.MULTILINE).group(1)
    # The same command was printed before any trial ran, for a driver that dies without a word (e.g. its Ray lost).
    hint = r"^\[actrec\] if this driver is lost before the sweep ends, finish it with: (.+)$"
    early, first_trial = re.search(hint, log_text, re.MULTILINE), re.search(r"^\[trial ", log_text, re.MULTILINE)
    assert early and first_trial and early.group(1) == printed and early.start() < first_trial.start(), log_text[-5000:]
    argv = shlex.split(printed)
    assert argv[0] == "python" and "--tracking-uri" not in argv and "--resume" in argv
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    resumed = subprocess.run(
        [sys.executable, *argv[1:]], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=1800
    )
    assert resumed.returncode == 0, resumed.stdout[-5000:] + resumed.stderr[-5000:]
    assert list(elsewhere.iterdir()) == [], "nothing written where the resume command was typed"
    lines = resumed.stdout.splitlines()  # Ray's own warnings may interleave: find the driver's closing lines
    closing = next(i for i, line in enumerate(lines) if line.startswith("[actrec] best trial: "))
    tail = lines[closing : closing + 5]
    assert tail[0].startswith("[actrec] best trial: model.stem=") and "val_best_top1" in tail[0]
    assert tail[1] == f"[actrec] report: {tmp_path / 'reports' / 'cdc_theta.md'} (and .html)"
    assert tail[3] == f"[actrec] reports index: {tmp_path / 'reports' / 'index.html'}"
    assert tail[4].startswith("[actrec] MLflow UI: ") and f"--backend-store-uri {uri}" in tail[4]
    sweep_dir = argv[argv.index("--resume") + 1]
    assert (pathlib.Path(sweep_dir) / "report" / "cdc_theta.md").is_file(), "a copy beside the Tune state"
    assert "cdc_theta.md" in (tmp_path / "reports" / "index.md").read_text()

    experiment = client.get_experiment_by_name("actrec/cdc_theta")
    children = _children(client, experiment.experiment_id)
    trial_ids = [r.data.tags["trial_id"] for r in children]
    assert len(children) == SAMPLES and len(set(trial_ids)) == SAMPLES, "each sample is one trial, shown once"
    assert all(r.info.status == "FINISHED" for r in children)
    for run_id, end_time in ends.items():
        run = client.get_run(run_id)
        assert run.info.end_time == end_time, "a trial finished before the interruption was re-run"
        assert len(client.get_metric_history(run_id, "val_top1")) == 1

    # One Optuna study across the interruption: the samples drawn after the resume were drawn from a study that
    # held every trial told before it, with the values MLflow holds.
    study = optuna.load_study(study_name="cdc_theta", storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * SAMPLES
    assert len(told_before) < SAMPLES and told_before == set(range(len(told_before))), "sampled on after the resume"
    by_params = {(r.data.params["model.stem"], float(r.data.params["model.theta"])): r for r in children}
    for trial in study.trials:
        run = by_params[(trial.params["model.stem"], trial.params["model.theta"])]
        assert trial.value == pytest.approx(run.data.metrics["val_best_top1"])
    for run in finished_before:
        key = (run.data.params["model.stem"], float(run.data.params["model.theta"]))
        number = next(t.number for t in study.trials if (t.params["model.stem"], t.params["model.theta"]) == key)
        assert number in told_before, "a trial finished before the interruption is in the resumed study"

    for run in children:
        assert {"model.name", "model.theta", "data.modality", "optim.lr", "train.epochs"} <= set(run.data.params)
        assert run.data.params["model.stem"] in ("CDC-ST", "CDC-T") and 0 <= float(run.data.params["model.theta"]) <= 1
        assert run.data.params["data.modality"] == "rgb", "the search runs on the table's first column"
        history = client.get_metric_history(run.info.run_id, "val_top1")
        assert [m.step for m in history] == [1]
        assert 0.0 <= history[0].value <= 100.0
        skipped = run.data.metrics["skipped_train"] + run.data.metrics["skipped_val"]
        assert skipped == 1, "the corrupted sample is skipped and counted once per epoch"
        assert run.data.tags["paper"].startswith("MFST") and run.data.tags["table"] == "Table IV"
        assert "stopped_early" not in run.data.tags, "every trial ran its epochs (--asha off)"

    parent = client.search_runs([experiment.experiment_id], "tags.role = 'sweep'")[0]
    assert parent.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "report")} >= {
        "report/cdc_theta.md",
        "report/cdc_theta.html",
        "report/cdc_theta_plot.png",
        "report/cdc_theta_search_history.png",
        "report/cdc_theta_search_parallel.png",
    }
    report = (tmp_path / "reports" / "cdc_theta.md").read_text()
    for value in PAPER_VALUES:
        assert f"| {value}" in report
    assert "Synthetic data" in report
    # The search: its space, the best settings (every completed trial, best first, with intervals), Optuna's figures.
    section = report[report.index("## Search") : report.index("## Provenance")]
    assert f"{SAMPLES} sample(s) planned, {SAMPLES} run: {SAMPLES} completed, 0 stopped early" in section
    assert "model.theta ∈ [0, 1]" in section and "model.stem ∈ {CDC-ST, CDC-T}" in section
    header = next(line for line in section.splitlines() if line.startswith("| # |")).strip("| ").split(" | ")
    assert header[1:3] == ["model.stem", "model.theta"], header
    best_rows = [line for line in section.splitlines() if line.startswith("| ") and line[2].isdigit()]
    column = header.index("val_best_top1 [95% interval]")
    values = [float(line.strip("| ").split(" | ")[column].split(" [")[0]) for line in best_rows]
    assert len(best_rows) == SAMPLES and values == sorted(values, reverse=True), best_rows
    assert all(re.search(r"\d \[\d+\.\d, \d+\.\d\] \|", line) for line in best_rows), "each with its interval"
    assert "![Optimisation history](cdc_theta_search_history.png)" in section
    assert (tmp_path / "reports" / "cdc_theta_search_history.png").stat().st_size > 1000
    assert (tmp_path / "reports" / "cdc_theta_plot.png").stat().st_size > 1000
    # Every trial's per-clip evidence, the paper's claims checked first thing, and the provenance of both invocations.
    for run in children:
        assert "predictions_best.npz" in {a.path for a in client.list_artifacts(run.info.run_id)}
        assert run.data.tags["git_commit"] == parent.data.tags["git_commit"]
    parent_files = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"provenance.json", "claims.json", "search_space.json"} <= parent_files
    assert any(p.startswith("provenance_resume_") for p in parent_files), "the resume adds its own record"
    assert report.index("## Claims") < report.index("## Table") < report.index("## Search") < report.index("## Prov")
    claims = report[report.index("## Claims") : report.index("## Table")]
    assert "6 claim(s) of the paper:" in claims
    assert "- **Resumed:** 1 time(s)" in report and f"--data-root {data_root}" in report


# --search optuna end to end: tests/test_cluster_jobs.py submits it to a workstation cluster.


@pytest.mark.slow
def test_ctrl_c_while_ray_starts_stops_the_driver_and_its_ray(tmp_path):
    """Ctrl-C at the moment the driver starts Ray (it used to be swallowed and the sweep ran on): the driver exits
    with 128 + SIGINT before any trial, writes nothing to MLflow, and leaves no Ray process behind."""
    import tempfile

    import psutil

    ray_tmp = tempfile.mkdtemp(prefix="rsig", dir="/tmp")  # short: Ray's sockets live under it
    env, uri, cmd = _sweep_command(tmp_path)
    env["RAY_TMPDIR"] = ray_tmp
    driver = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        for line in driver.stdout:
            if line.startswith("[actrec] starting an embedded Ray"):
                os.kill(driver.pid, signal.SIGINT)
                break
        out, err = driver.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
    assert driver.returncode == 128 + signal.SIGINT, err[-3000:]
    assert "SIGINT: sweep stopped before its first trial" in err
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "runs").exists()

    def leftovers():
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if any(ray_tmp in part for part in proc.info["cmdline"] or []):
                    found.append(proc)
        return found

    deadline = time.time() + 60  # Ray's processes notice their driver is gone within seconds
    while leftovers() and time.time() < deadline:
        time.sleep(1)
    left = leftovers()
    for proc in left:  # never leave them running, even when the test fails
        with contextlib.suppress(psutil.Error):
            proc.kill()
    assert not left, [p.info["cmdline"][:2] for p in left]
    shutil.rmtree(ray_tmp, ignore_errors=True)
