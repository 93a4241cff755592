"""Shared fixtures: a private cache, a tiny synthetic dataset, the session's Ray, the sweep modules and their smoke
runs."""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import os
import pathlib
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from actrec.data.config import DataConfig
from tests.sweep_tools import ROOT, SWEEP_NAMES, covering_cells, load_sweep, sweep_args, sweeps_of

__all__ = ["ROOT", "SWEEP_NAMES", "covering_cells", "load_sweep", "sweep_args", "sweeps_of"]


@pytest.fixture(scope="session")
def synthetic_cfg(tmp_path_factory: pytest.TempPathFactory) -> DataConfig:
    """Config of a tiny synthetic set (8 classes x 2 subjects x 2 views, 8 frames of 32x32, 4 shards), generated."""
    from actrec.data.synth import generate_synthetic

    cfg = DataConfig(
        root=str(tmp_path_factory.mktemp("synthetic") / "tiny"),
        synth_num_classes=8,
        synth_subjects=2,
        synth_views=2,
        synth_repeats=1,
        synth_frames=8,
        synth_size=32,
        samples_per_shard=8,
        num_frames=4,
        resize=32,
        crop_size=24,
        decode_batch_size=4,
    )
    generate_synthetic(cfg.root, **cfg.synth_params(), progress=False)  # as `actrec data synth --out DIR` does
    return cfg


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``$ACTREC_CACHE`` for the whole session: a temporary directory, so no test reads or writes the user's
    ``~/.cache/actrec``, and the sweeps' synthetic smoke set is generated once per session. Set before the session's
    Ray starts (:func:`ray_session`, which never joins a running cluster), so its workers inherit it; restored at the
    end."""
    cache = str(tmp_path_factory.mktemp("actrec_cache"))
    saved = os.environ.get("ACTREC_CACHE")
    os.environ["ACTREC_CACHE"] = cache
    yield cache
    if saved is None:
        os.environ.pop("ACTREC_CACHE", None)
    else:
        os.environ["ACTREC_CACHE"] = saved


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The tests' own torch work on one thread: their tensors are tiny, and on a 2-core machine a second OpenMP
    thread spins against the Ray trials that run beside them (steps measured hundreds of times slower). Trials set
    their own (``train.torch_threads``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One embedded Ray for every in-process test that needs one, started on first use the way the sweep scripts
    start an embedded one (:func:`actrec.tune.cluster.init_ray`; never joining a running cluster) and shut down at the
    end of the session: starting Ray costs seconds, once per module it cost minutes per suite. Tests that start their
    own Ray do so in subprocesses."""
    import ray

    from actrec.tune import cluster

    assert not ray.is_initialized(), "a test started Ray in the pytest process itself; use the ray_session fixture"
    with pytest.MonkeyPatch.context() as patch:  # never the user's running cluster: its workers lack the test cache
        patch.delenv("RAY_ADDRESS", raising=False)
        patch.setattr(cluster, "running_cluster_address", lambda: None)
        cluster.init_ray(verbose=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def cdc_sweep():
    """The ``sweeps/cdc_theta.py`` module."""
    return load_sweep("cdc_theta")


def assert_prepared_trains(root, dataset: str, *, modality: str = "rgb", protocol: str = "") -> dict[str, int]:
    """One SGD step of a tiny MFST on each split of a prepared dataset, through the pipeline's own per-shard
    functions (what the Ray Data tasks run): every split yields valid clips, the loss is finite and gradients flow.

    Returns the number of valid clips per split.
    """
    import numpy as np
    import torch

    from actrec.config import from_flat
    from actrec.data.clips import member_for
    from actrec.data.pipeline import decode_batch, read_shard_samples
    from actrec.data.shards import load_index, split_shards
    from actrec.models import build_model, tiny_overrides

    flat = {
        "data.dataset": dataset,
        "data.root": str(root),
        "data.modality": modality,
        "data.num_frames": 4,
        "data.resize": 32,
        "data.crop_size": 32,
        "model.name": "mfst_base",
        **{f"model.{k}": v for k, v in tiny_overrides("mfst_base").items()},
    }
    if protocol:
        flat["data.protocol"] = protocol
    cfg = from_flat(flat)
    index = load_index(root)
    member = member_for(index, modality)
    model = build_model(cfg.model)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01)
    counts = {}
    for split in ("train", "val"):
        rows = []
        for shard in split_shards(index, cfg.data.protocol, split):
            item = {
                "path": str(root / shard["path"]),
                "keys": [s["key"] for s in shard["samples"]],
                "labels": [s["label"] for s in shard["samples"]],
            }
            rows += list(read_shard_samples(item, member=member, shuffle=False))
        assert rows, f"{dataset}: split {split!r} of {cfg.data.protocol!r} is empty"
        batch = {
            k: np.array([r[k] for r in rows], dtype=object if k.startswith("video_bytes") else None) for k in rows[0]
        }
        out = decode_batch(batch, cfg=cfg.data, member=member, training=split == "train")
        assert out["valid"].all(), f"{dataset}: undecodable prepared clips in {split}"
        video, label = torch.from_numpy(out["video"]), torch.from_numpy(out["label"])
        assert ((label >= 0) & (label < cfg.data.num_classes)).all()
        loss = torch.nn.functional.cross_entropy(model(video), label)
        assert torch.isfinite(loss)
        optimiser.zero_grad()
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        optimiser.step()
        counts[split] = int(out["valid"].sum())
    return counts


@pytest.fixture
def prepared_trains():
    """``assert_prepared_trains(root, dataset, modality=..., protocol=...)``: a prepared dataset trains a step."""
    return assert_prepared_trains


@dataclasses.dataclass
class SmokeRun:
    """One sweep's smoke run: the (cut) spec it ran, its report's text and files, its MLflow trial runs."""

    name: str
    spec: Any
    argv: tuple[str, ...]
    report: str
    reports: pathlib.Path
    storage: pathlib.Path
    children: list
    client: Any


# Sweep drivers at a time: a smoke trial spends most of its time starting Ray actors, a driver its start and its
# report on one core, so a second driver fills the cores the first leaves idle.
SMOKE_DRIVERS = 2
# The sweeps whose smoke runs the collected tests read (their ``name`` parameter), in test order: started ahead.
SMOKE_NAMES = pytest.StashKey[list]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    names = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "smoke_runs" in getattr(item, "fixturenames", ()) and params.get("name") in SWEEP_NAMES:
            names.append(params["name"])
    config.stash[SMOKE_NAMES] = list(dict.fromkeys(names))


class SmokeRuns:
    """Each sweep's smoke profile run once per session on :func:`covering_cells` (the generic smoke test and a
    paper's own checks read the same run); ``extra`` flags make a separate run. Each run is a sweep driver process
    (``python -m tests.sweep_tools``) joined to the session's Ray, :data:`SMOKE_DRIVERS` at a time; the runs the
    collected tests will read start ahead, in test order. A failed run fails every test that reads it, without
    running again."""

    def __init__(self, root: pathlib.Path, address: str, ahead: list[str]) -> None:
        self.root = root
        self.storage = root / "runs"  # shared: the drivers' pretraining cache serves every sweep of the session
        self.address = address
        self.ahead = ahead
        self.pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.started: dict[tuple[str, ...], concurrent.futures.Future] = {}
        self.procs: list[subprocess.Popen] = []
        self.lock = threading.Lock()

    def get(self, name: str, *extra: str) -> SmokeRun:
        if self.pool is None:
            self.pool = concurrent.futures.ThreadPoolExecutor(SMOKE_DRIVERS, thread_name_prefix="smoke")
            for ahead in self.ahead:
                self._start((ahead,))
        key = (name, *extra)
        try:
            return self._start(key).result()
        except Exception as err:
            raise RuntimeError(f"the smoke run of {' '.join(key)} failed in this session") from err

    def _start(self, key: tuple[str, ...]) -> concurrent.futures.Future:
        if key not in self.started:
            self.started[key] = self.pool.submit(self._run, key[0], key[1:])
        return self.started[key]

    def _argv(self, name: str, extra: tuple[str, ...]) -> tuple[pathlib.Path, str, tuple[str, ...]]:
        own = self.root / "-".join(key.strip("-") for key in (name, *extra))
        uri = f"sqlite:///{own / 'mlflow.db'}"  # one store per driver: SQLite locks under concurrent writers
        argv = ("--profile", "smoke", "--storage-path", str(self.storage), "--tracking-uri", uri)
        return own, uri, (*argv, "--report-dir", str(own / "reports"), *extra)

    def _run(self, name: str, extra: tuple[str, ...]) -> SmokeRun:
        from mlflow.tracking import MlflowClient

        own, uri, argv = self._argv(name, extra)
        own.mkdir(parents=True, exist_ok=True)
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "RAY_ADDRESS": self.address, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
        # The driver's own torch work (pose pretraining) on one thread: a second OpenMP thread spins against the
        # other driver's trials on a 2-core machine and runs many times slower.
        env["OMP_NUM_THREADS"] = "1"
        cmd = [sys.executable, "-m", "tests.sweep_tools", name, *argv]
        with open(own / "driver.log", "w") as log:
            proc = subprocess.Popen(cmd, cwd=own, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            with self.lock:
                self.procs.append(proc)
            code = proc.wait()
        if code != 0:
            tail = (own / "driver.log").read_text()[-4000:]
            raise RuntimeError(f"{' '.join(cmd)} exited with {code}:\n{tail}")
        _, spec = sweep_args(name, *argv)
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name(f"actrec/{name}")
        children = client.search_runs([experiment.experiment_id], "tags.role = 'trial'", max_results=1000)
        return SmokeRun(
            name=name,
            spec=covering_cells(spec, "smoke"),
            argv=argv,
            report=(own / "reports" / f"{name}.md").read_text(),
            reports=own / "reports",
            storage=self.storage,
            children=children,
            client=client,
        )

    def close(self) -> None:
        """Stop whatever driver still runs (an interrupted session) and the pool."""
        with self.lock:
            for proc in self.procs:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def smoke_runs(ray_session, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The session's :class:`SmokeRuns`, whose drivers join the session's Ray."""
    import ray

    runs = SmokeRuns(
        tmp_path_factory.mktemp("smoke"),
        ray.get_runtime_context().gcs_address,
        request.config.stash.get(SMOKE_NAMES, []),
    )
    yield runs
    runs.close()
