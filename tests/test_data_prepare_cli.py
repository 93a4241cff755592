"""``actrec data prepare`` from the command line, resumed, then trained on with Ray Train (the spine's loop)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_data_adapters_ucf101 import make_ucf101

from actrec.cli import main
from actrec.data.shards import load_index


@pytest.fixture(scope="module")
def prepared_ucf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = make_ucf101(tmp_path_factory.mktemp("ucf_src"))
    out = tmp_path_factory.mktemp("ucf") / "shards"
    argv = ["data", "prepare", "ucf101", "--root", str(source), "--out", str(out), "--short-side", "32"]
    assert main([*argv, "--samples-per-shard", "2", "--workers", "2"]) == 0
    return out


def test_cli_prepare_writes_a_resumable_dataset(prepared_ucf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = load_index(prepared_ucf)
    assert index["dataset"] == "ucf101" and index["num_samples"] == 4 and index["members"] == {"rgb": "rgb.mp4"}
    # The malformed list lines of the fixture are recorded with their file:line.
    assert any(s["origin"].endswith("trainlist01.txt:4") for s in index["skipped"])
    sizes = {json.loads(s)["rgb_size"][0] for s in _metas(prepared_ucf)}
    assert sizes == {32}  # 48 x 64 sources scaled to short side 32
    shards = {p.name: p.stat().st_mtime_ns for p in prepared_ucf.glob("shard-*.tar")}

    source = Path(index["source_root"])
    argv = ["data", "prepare", "ucf101", "--root", str(source), "--out", str(prepared_ucf), "--short-side", "32"]
    assert main([*argv, "--samples-per-shard", "2"]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in prepared_ucf.glob("shard-*.tar")} == shards
    assert "2 shards already done, resuming" in capsys.readouterr().err

    # Different settings into the same directory: refused, nothing touched.
    assert main([*argv, "--samples-per-shard", "3"]) == 2
    assert "different settings" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in prepared_ucf.glob("shard-*.tar")} == shards


def test_cli_prepare_names_unknown_datasets_options_and_roots(tmp_path: Path, capsys) -> None:
    assert main(["data", "prepare", "kinetics", "--root", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "unknown dataset 'kinetics'" in capsys.readouterr().err
    assert main(["data", "prepare", "ucf101", "--root", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "not a directory" in capsys.readouterr().err
    argv = ["data", "prepare", "ucf101", "--root", str(tmp_path), "--out", str(tmp_path / "o"), "--option", "x=1"]
    assert main(argv) == 2
    assert "ucf101 has no option 'x'" in capsys.readouterr().err


def _metas(root: Path):
    from actrec.data.shards import iter_shard_members

    for shard in sorted(root.glob("shard-*.tar")):
        for _, members in iter_shard_members(shard, exts={"json"}):
            yield members["json"]


@pytest.mark.slow
def test_spine_training_runs_on_prepared_real_layout(prepared_ucf: Path, tmp_path: Path, ray_session: None) -> None:
    """Ray Data pipeline -> TorchTrainer (2 DDP workers) on the prepared UCF-101 fixture, 3-view testing."""
    import ray
    import ray.train
    from ray.train.torch import TorchTrainer

    from actrec.config import flatten, from_flat
    from actrec.data.pipeline import count_samples
    from actrec.models import tiny_overrides
    from actrec.train.ingest import ValidationSafeDataConfig, train_datasets
    from actrec.train.loop import train_loop_per_worker

    flat = {
        "data.dataset": "ucf101",
        "data.root": str(prepared_ucf),
        "data.protocol": "split1",  # 3 train clips, 1 test clip
        "data.num_frames": 4,
        "data.resize": 32,
        "data.crop_size": 32,
        "data.test_crops": 3,
        "data.train_crop": "random_resized",
        "data.flip_prob": 0.5,
        "data.decode_batch_size": 2,
        "model.name": "mfst_base",
        **{f"model.{k}": v for k, v in tiny_overrides("mfst_base").items()},
        "train.epochs": 1,
        "train.batch_size": 2,
        "train.cutmix_alpha": 1.0,
        "optim.warmup_epochs": 0.0,
    }
    flat = flatten(from_flat(flat))
    cfg = from_flat(flat)
    result = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=flat,
        scaling_config=ray.train.ScalingConfig(num_workers=2, resources_per_worker={"CPU": 1}),
        run_config=ray.train.RunConfig(name="ucf", storage_path=str(tmp_path)),
        datasets=train_datasets(cfg.data),
        dataset_config=ValidationSafeDataConfig(),
    ).fit()
    assert result.error is None
    assert result.metrics["epoch"] == 1 and result.metrics["skipped_train"] == 0
    assert result.metrics["val_clips"] == count_samples(cfg.data, "val") == 1
    assert 0.0 <= result.metrics["val_top1"] <= 100.0
