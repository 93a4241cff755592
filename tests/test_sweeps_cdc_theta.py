"""End to end: the smoke cdc_theta sweep on a real embedded Ray, interrupted and resumed, into MLflow and a report.

One sweep run covers: trials in MLflow (params + per-epoch metrics), a SIGTERM to the driver leaves no run
RUNNING (interrupted trials FAILED, the parent tagged), resume re-runs nothing finished, a corrupt shard member is
skipped and counted (not fatal), the report shows the measured Table IV cells beside every paper value and is logged
on the parent run. The sweep runs three of Table IV's cells (every stem, both modalities) through a short script
that calls the sweep's own ``main`` as ``sweeps/cdc_theta.py`` does.
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


# cdc_theta on three of its smoke cells: every stem, both modalities (enough to interrupt the third).
THREE_CELLS_SCRIPT = """
import dataclasses
import sys

sys.path.insert(0, {root!r})
from tests.sweep_tools import load_sweep, sweep_args

cdc = load_sweep("cdc_theta")
args, spec = sweep_args("cdc_theta", *sys.argv[1:])
spec = spec.for_profile("smoke")
cells = ({{**spec.cells[0], "data.modality": "rgb"}}, {{**spec.cells[1], "data.modality": "depth"}},
         {{**spec.cells[2], "data.modality": "rgb"}})
cdc.main(dataclasses.replace(spec, cells=cells, axes={{}}), parser=cdc.parser())
"""


def _sweep_command(tmp_path, *extra, script=None):
    """Environment, tracking URI and argv of a smoke cdc_theta sweep confined to ``tmp_path`` (``script``: another
    script than ``sweeps/cdc_theta.py``)."""
    env = {**os.environ, "ACTREC_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cmd = [
        sys.executable,
        str(script or ROOT / "sweeps" / "cdc_theta.py"),
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


@pytest.mark.slow
def test_smoke_sweep_interrupted_resumed_and_reported(tmp_path, cdc_sweep, monkeypatch):
    data_root = tmp_path / "data"
    script = tmp_path / "cdc_three_cells.py"
    script.write_text(THREE_CELLS_SCRIPT.format(root=str(ROOT)))
    # Two trials at a time: the first two finish while the third runs, which the SIGTERM then interrupts.
    env, uri, cmd = _sweep_command(tmp_path, "--data-root", str(data_root), "--max-concurrent", "2", script=script)
    monkeypatch.setenv("ACTREC_CACHE", env["ACTREC_CACHE"])
    shutil.copytree(ensure_synthetic(_smoke_data_config(cdc_sweep)), data_root)
    _corrupt_one_sample(data_root)

    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    client = MlflowClient(uri)
    # Generous limits: on 2 cores beside other work the first two trials alone can take several minutes.
    deadline = time.time() + 1200
    finished_before = []
    while time.time() < deadline and first.poll() is None:
        time.sleep(2)
        experiment = (
            client.get_experiment_by_name("actrec/cdc_theta") if os.path.exists(tmp_path / "mlflow.db") else None
        )
        if experiment is None:
            continue
        finished_before = [r for r in _children(client, experiment.experiment_id) if r.info.status == "FINISHED"]
        if len(finished_before) >= 2:
            break
    assert first.poll() is None, f"sweep ended before it could be interrupted:\n{(tmp_path / 'first.log').read_text()}"
    assert len(finished_before) >= 2, (tmp_path / "first.log").read_text()[-5000:]
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
    time.sleep(3)
    ends = {r.info.run_id: r.info.end_time for r in finished_before}

    # The printed command, verbatim, from another directory: the sweep's stored invocation (tracking URI, storage
    # path, report folder, profile, data root) comes back with it.
    printed = re.search(r"Finish it with: (.+)$", log_text, re.MULTILINE).group(1)
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
    assert len(children) == 3 and len(set(trial_ids)) == 3, "each cell is one trial, shown once"
    assert all(r.info.status == "FINISHED" for r in children)
    for run_id, end_time in ends.items():
        run = client.get_run(run_id)
        assert run.info.end_time == end_time, "a trial finished before the interruption was re-run"
        assert len(client.get_metric_history(run_id, "val_top1")) == 1
    cells = {
        (r.data.params["model.stem"], float(r.data.params["model.theta"]), r.data.params["data.modality"])
        for r in children
    }
    assert {stem for stem, _, _ in cells} == {"vanilla", "CDC-ST", "CDC-T"} and len(cells) == 3
    assert {modality for _, _, modality in cells} == {"rgb", "depth"}
    for run in children:
        assert {"model.name", "model.theta", "data.modality", "optim.lr", "train.epochs"} <= set(run.data.params)
        history = client.get_metric_history(run.info.run_id, "val_top1")
        assert [m.step for m in history] == [1]
        assert 0.0 <= history[0].value <= 100.0
        skipped = run.data.metrics["skipped_train"] + run.data.metrics["skipped_val"]
        assert skipped == 1, "the corrupted sample is skipped and counted once per epoch"
        assert run.data.tags["paper"].startswith("MFST") and run.data.tags["table"] == "Table IV"

    parent = client.search_runs([experiment.experiment_id], "tags.role = 'sweep'")[0]
    assert parent.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "report")} >= {
        "report/cdc_theta.md",
        "report/cdc_theta.html",
        "report/cdc_theta_plot.png",
    }
    report = (tmp_path / "reports" / "cdc_theta.md").read_text()
    for value in PAPER_VALUES:
        assert f"| {value}" in report
    assert "Synthetic data" in report
    table = report[report.index("## Table") : report.index("## Provenance")]
    table_lines = [line for line in table.splitlines() if line.startswith("| 3D-CDC") or line.startswith("| Vanilla")]
    # Every row (paper values), the three cells that ran measured: setting | θ | RGB measured | paper | Δ | DEP ...
    assert len(table_lines) == 5 and sum(line.count(" (n=1) ") for line in table_lines) == 3
    assert (tmp_path / "reports" / "cdc_theta_plot.png").stat().st_size > 1000
    # Every trial's per-clip evidence, the paper's claims checked first thing, and the provenance of both invocations.
    for run in children:
        assert "predictions_best.npz" in {a.path for a in client.list_artifacts(run.info.run_id)}
        assert run.data.tags["git_commit"] == parent.data.tags["git_commit"]
    parent_files = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "provenance.json" in parent_files and "claims.json" in parent_files
    assert any(p.startswith("provenance_resume_") for p in parent_files), "the resume adds its own record"
    assert report.index("## Claims") < report.index("## Table") < report.index("## Provenance")
    claims = report[report.index("## Claims") : report.index("## Table")]
    assert "6 claim(s) of the paper:" in claims and "| supported |" not in claims and "| contradicted |" not in claims
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
