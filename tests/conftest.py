"""Shared fixtures: a private cache, a tiny synthetic dataset, the session's Ray, the sweep modules and their smoke
runs."""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from actrec.data.config import DataConfig
from tests.sweep_tools import ROOT, SEARCH_SMOKES, SWEEP_NAMES, covering_cells, load_sweep, sweep_args, sweeps_of

__all__ = ["ROOT", "SEARCH_SMOKES", "SWEEP_NAMES", "covering_cells", "load_sweep", "sweep_args", "sweeps_of"]


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
    thread spins against any other load, e.g. a sweep running beside the suite (steps measured hundreds of times
    slower). Ray trials set their own (``train.torch_threads``)."""
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
    from actrec.data.pipeline import decode_batch, model_inputs, read_shard_samples
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
        assert out["video"].dtype == np.uint8, "rows carry uint8; the worker makes the model's float32 inputs"
        (video,) = model_inputs((torch.from_numpy(out["video"]),), cfg.data)
        label = torch.from_numpy(out["label"])
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


class SmokeRuns:
    """Each sweep's smoke profile run once per session, on :func:`covering_cells`, on demand (the generic smoke test
    and a paper's own checks read the same run). A failed run fails every test that reads it, without running
    again."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.storage = root / "runs"  # shared: the driver's pretraining cache serves every sweep of the session
        self.done: dict[str, SmokeRun | BaseException] = {}

    def get(self, name: str) -> SmokeRun:
        if name not in self.done:
            try:
                self.done[name] = self._run(name)
            except KeyboardInterrupt:
                raise
            except BaseException as err:  # SystemExit too: the driver reports a user error or an interruption so
                self.done[name] = err
                raise
        done = self.done[name]
        if isinstance(done, BaseException):
            raise RuntimeError(f"the smoke run of {name} failed earlier in this session") from done
        return done

    def _run(self, name: str) -> SmokeRun:
        from mlflow.tracking import MlflowClient

        sweep = load_sweep(name)
        own = self.root / name
        uri = f"sqlite:///{self.root / 'mlflow.db'}"  # one MLflow store, an experiment per sweep
        argv = ("--profile", "smoke", "--storage-path", str(self.storage), "--tracking-uri", uri)
        argv += ("--report-dir", str(own / "reports"), *SEARCH_SMOKES.get(name, ()))
        args, spec = sweep_args(name, *argv)
        spec = covering_cells(spec, "smoke")
        parser = sweep.parser() if hasattr(sweep, "parser") else None
        own.mkdir(parents=True, exist_ok=True)
        report = sweep.main(spec, list(argv), parser=parser)  # the sweep's extend hook is already in ``spec``
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name(f"actrec/{name}")
        children = client.search_runs([experiment.experiment_id], "tags.role = 'trial'", max_results=1000)
        return SmokeRun(
            name=name,
            spec=spec,
            argv=argv,
            report=pathlib.Path(report).read_text(),
            reports=own / "reports",
            storage=self.storage,
            children=children,
            client=client,
        )


@pytest.fixture(scope="session")
def smoke_runs(ray_session, tmp_path_factory: pytest.TempPathFactory) -> SmokeRuns:
    """The session's :class:`SmokeRuns` (on the session's Ray)."""
    return SmokeRuns(tmp_path_factory.mktemp("smoke"))
