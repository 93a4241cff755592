"""Shared fixtures: a tiny synthetic dataset, a local Ray instance, the sweep modules and their smoke runs."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from actrec.data.config import DataConfig


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


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    """A local Ray instance (4 logical CPUs) for one test module."""
    import ray

    ray.init(num_cpus=4, include_dashboard=False)
    yield
    ray.shutdown()


def load_sweep(name: str):
    """The module of ``sweeps/<name>.py`` (sweeps are scripts, not a package)."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "sweeps" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"sweep_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


@pytest.fixture(scope="module")
def sweep_ray(tmp_path_factory):
    """An embedded Ray started the way the sweep scripts start it, with a private synthetic-data cache."""
    import ray

    from actrec.tune.cluster import init_ray

    cache = tmp_path_factory.mktemp("cache")
    saved = os.environ.get("ACTREC_CACHE")
    os.environ["ACTREC_CACHE"] = str(cache)  # inherited by the Ray workers started below
    init_ray(verbose=False)
    yield
    ray.shutdown()
    if saved is None:
        os.environ.pop("ACTREC_CACHE", None)
    else:
        os.environ["ACTREC_CACHE"] = saved


def run_smoke(name: str, tmp_path, *extra: str):
    """Run sweep ``name`` in the smoke profile; returns (report text, MLflow child runs, client)."""
    from mlflow.tracking import MlflowClient

    sweep = load_sweep(name)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = ["--profile", "smoke", "--storage-path", str(tmp_path / "runs"), "--tracking-uri", uri]
    argv += ["--report-dir", str(tmp_path / "reports"), *extra]
    parser = sweep.parser() if hasattr(sweep, "parser") else None
    extend = getattr(sweep, "extend", None)
    report = sweep.main(sweep.SPEC, argv, extend=extend, parser=parser)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(f"actrec/{name}")
    children = client.search_runs([experiment.experiment_id], "tags.role = 'trial'", max_results=100)
    return open(report).read(), children, client
