"""What a sweep ran on, recorded on its MLflow parent run so a report says where its numbers come from.

:func:`collect` gathers the git commit of the actrec checkout and whether its tree was dirty, the versions of the
packages that change results (torch, ray, mlflow, optuna, decord, numpy, scipy, einops), Python, the full command
line, each dataset's identity (its root, a SHA-256 of its ``index.json``, the ``entries_sha256`` that ``actrec data
prepare`` writes, the synthetic set's generator parameters) and the Ray cluster's resources. The driver logs it as
``provenance.json`` (a resumed sweep adds ``provenance_resume_<time>.json``: a sweep can span commits) and tags the
parent and every child run with the commit, so the report can say when its runs come from mixed commits.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

PACKAGES = ("torch", "ray", "mlflow", "optuna", "decord", "numpy", "scipy", "einops")
ARTIFACT = "provenance.json"
RESUME_PREFIX = "provenance_resume_"
COMMIT_TAG = "git_commit"  # on the parent run and every child run: the commit, "+dirty" when the tree had changes
UNKNOWN = "unknown"


def git_state(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"commit", "dirty", "root"}`` of the git checkout holding ``path`` (default: the actrec package); commit
    "unknown" outside a checkout (e.g. a `ray job submit` working directory, which carries no .git)."""
    where = Path(path) if path is not None else Path(__file__).resolve().parents[2]
    try:
        commit = _git(where, "rev-parse", "HEAD")
        root = _git(where, "rev-parse", "--show-toplevel")
        dirty = bool(_git(where, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return {"commit": UNKNOWN, "dirty": None, "root": str(where)}
    return {"commit": commit, "dirty": dirty, "root": root}


def _git(where: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, check=True, timeout=20)
    return done.stdout.strip()


def commit_label(git: Mapping[str, Any]) -> str:
    """The commit as tags and reports show it: the short hash, "+dirty" for a tree with uncommitted changes."""
    commit = str(git.get("commit") or UNKNOWN)
    if commit == UNKNOWN:
        return UNKNOWN
    return commit[:12] + ("+dirty" if git.get("dirty") else "")


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Installed version of each package; "not installed" for one that is not."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def dataset_identity(cfg) -> dict[str, Any]:
    """Which data a ``DataConfig`` reads: dataset, root, SHA-256 of its index.json, the index's ``entries_sha256``
    (written by ``actrec data prepare``) and the synthetic generator's parameters (written by the generator)."""
    from actrec.data.config import dataset_root

    root = dataset_root(cfg)
    identity: dict[str, Any] = {"dataset": cfg.dataset, "root": str(root), "protocol": cfg.protocol}
    index_path = root / "index.json"
    try:
        raw = index_path.read_bytes()
    except OSError as err:
        identity["index_sha256"] = f"unreadable: {err.strerror or err}"
        return identity
    identity["index_sha256"] = hashlib.sha256(raw).hexdigest()
    try:
        index = json.loads(raw)
    except ValueError:
        return identity
    if isinstance(index, dict):
        for key in ("entries_sha256", "generator", "format_version"):
            if key in index:
                identity[key] = index[key]
    return identity


def collect(
    *,
    data_configs: Sequence[Any] = (),
    argv: Sequence[str] | None = None,
    cluster_resources: Mapping[str, float] | None = None,
    nodes: int | None = None,
) -> dict[str, Any]:
    """Everything :mod:`actrec.track.provenance` records for one sweep invocation (JSON-ready)."""
    command = [sys.executable, *(sys.argv if argv is None else [sys.argv[0], *argv])]
    return {
        "recorded": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "git": git_state(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "command": shlex.join(command),
        "cwd": os.getcwd(),
        "datasets": [dataset_identity(cfg) for cfg in data_configs],
        "cluster": {"resources": dict(cluster_resources or {}), "nodes": nodes},
    }


def summary_lines(records: Sequence[Mapping[str, Any]], trial_commits: Iterable[str] = ()) -> list[tuple[str, str]]:
    """The report's compact provenance block, from the parent run's records (first invocation first) and the
    commits its trials were tagged with: ("Commit", ...), ("Packages", ...), ..."""
    if not records:
        return [("Provenance", "not recorded (the sweep predates provenance records)")]
    first = records[0]
    commits = [commit_label(r.get("git", {})) for r in records]
    commits += [c for c in trial_commits if c]
    distinct = sorted(set(commits))
    commit_text = (
        distinct[0] if len(distinct) == 1 else f"MIXED: runs from {len(distinct)} commits ({', '.join(distinct)})"
    )
    if any(c.endswith("+dirty") for c in distinct):
        commit_text += " (uncommitted changes in the tree: the commit alone does not reproduce it)"
    packages = ", ".join(f"{k} {v}" for k, v in first.get("packages", {}).items())
    data = "; ".join(
        f"{d.get('dataset')} at {d.get('root')} (index sha256 {str(d.get('index_sha256', '?'))[:12]}"
        + (f", generator v{d['generator'].get('version')}" if isinstance(d.get("generator"), dict) else "")
        + ")"
        for d in first.get("datasets", [])
    )
    cluster = first.get("cluster", {})
    resources = ", ".join(f"{k} {v:g}" for k, v in sorted(cluster.get("resources", {}).items()) if _shown(k))
    lines = [
        ("Commit", commit_text),
        ("Packages", f"{packages}; Python {first.get('python', '?')}"),
        ("Command", f"`{first.get('command', '?')}`"),
        ("Data", data or "not recorded"),
        ("Cluster", f"{cluster.get('nodes', '?')} node(s): {resources or 'not recorded'}"),
    ]
    if len(records) > 1:
        lines.append(
            ("Resumed", f"{len(records) - 1} time(s): " + "; ".join(r.get("recorded", "?") for r in records[1:]))
        )
    return lines


def _shown(resource: str) -> bool:
    # Ray's per-node ("node:10.0.0.1") and memory bookkeeping resources say little about the compute.
    return not resource.startswith("node:") and resource not in ("object_store_memory", "memory")
