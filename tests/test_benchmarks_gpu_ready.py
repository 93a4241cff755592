"""``benchmarks/train_throughput.py`` runs where only torch and einops are installed (a GPU machine with a stock
PyTorch image): in processes whose imports of Ray, decord, PyAV, MLflow, Optuna, fvcore, pandas, scipy and
matplotlib fail, it still measures a step of each model and prints its table."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

ABSENT = ("ray", "decord", "av", "mlflow", "optuna", "fvcore", "pandas", "scipy", "matplotlib")

# A sitecustomize (Python imports it at start-up from sys.path) that makes every package above look uninstalled, as
# Python sees a missing package: importing it raises ModuleNotFoundError, importlib.util.find_spec returns None
# (torch probes optional packages so). The script's own per-model child processes inherit it through PYTHONPATH.
SITECUSTOMIZE = f"""
import importlib.abc
import importlib.util
import sys

ABSENT = {set(ABSENT)!r}


def _absent(name):
    return name.split(".")[0] in ABSENT


class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if _absent(name):
            raise ModuleNotFoundError(f"No module named {{name!r}} (not installed on this machine)", name=name)
        return None


_find_spec = importlib.util.find_spec


def find_spec(name, package=None):
    return None if _absent(name) else _find_spec(name, package)


importlib.util.find_spec = find_spec
sys.meta_path.insert(0, Absent())
"""


def test_train_throughput_runs_with_torch_and_einops_alone(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    probe = subprocess.run([sys.executable, "-c", "import ray"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "not installed on this machine" in probe.stderr  # the block is in force
    script = str(ROOT / "benchmarks" / "train_throughput.py")
    argv = [script, "--models", "mfst_base,epam_net", "--paths", "fp32", "--steps", "1", "--warmup", "1"]
    argv += ["--max-batch", "fp32", "--max-batch-limit", "2"]  # the search's plumbing (a CPU never runs out first)
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith(("| mfst_base |", "| epam_net |"))]
    assert len(rows) == 2 and all(float(row.split("|")[2]) > 0 for row in rows), done.stdout
    assert "fp32 largest batch (<= 2)" in done.stdout and all(row.endswith("| >= 2 |") for row in rows), done.stdout


@pytest.mark.parametrize(
    ("fits_up_to", "start", "limit", "expected"),
    [(37, 4, 1024, 37), (3, 8, 1024, 3), (0, 4, 64, 0), (5000, 4, 1024, 1024), (1, 1, 8, 1), (63, 4, 64, 63)],
)
def test_the_largest_batch_is_bracketed_by_doubling_then_bisected(fits_up_to, start, limit, expected):
    """``largest_batch`` against a step that runs out of memory above ``fits_up_to`` clips: the largest size that fits
    (0 if none, the limit if it fits), trying only sizes in [1, limit] and O(log limit) of them."""
    spec = importlib.util.spec_from_file_location("train_throughput", ROOT / "benchmarks" / "train_throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tried = []

    def fits(size: int) -> bool:
        tried.append(size)
        return size <= fits_up_to

    assert module.largest_batch(fits, start, limit) == expected
    assert all(1 <= size <= limit for size in tried) and len(tried) <= 2 * math.ceil(math.log2(limit)) + 2, tried
