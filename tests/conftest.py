"""Shared fixtures for the data tests: a tiny synthetic dataset and a local Ray instance."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actrec.data.config import DataConfig


@pytest.fixture(scope="session")
def synthetic_cfg(tmp_path_factory: pytest.TempPathFactory) -> DataConfig:
    """Config of a tiny synthetic set (8 classes x 2 subjects x 2 views, 8 frames of 32x32, 4 shards), generated."""
    from actrec.data.synth import ensure_synthetic

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
    ensure_synthetic(cfg, progress=False)
    return cfg


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    """A local Ray instance (4 logical CPUs) for one test module."""
    import ray

    ray.init(num_cpus=4, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def cdc_sweep():
    """The ``sweeps/cdc_theta.py`` module (sweeps are scripts, not a package)."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "sweeps" / "cdc_theta.py"
    spec = importlib.util.spec_from_file_location("sweep_cdc_theta", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
