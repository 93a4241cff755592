"""actrec.cli: the documented commands run and fail clearly."""

import json

from actrec.cli import main


def test_data_synth_writes_shards_and_index(tmp_path, capsys):
    out = tmp_path / "synth"
    args = [
        "data",
        "synth",
        "--out",
        str(out),
        "--classes",
        "3",
        "--subjects",
        "2",
        "--views",
        "2",
        "--repeats",
        "1",
        "--frames",
        "4",
        "--size",
        "32",
    ]
    assert main(args) == 0
    index = json.loads((out / "index.json").read_text())
    assert index["num_classes"] == 3
    assert sum(len(s["samples"]) for s in index["shards"]) == 3 * 2 * 2
    assert sorted(p.suffix for p in out.iterdir() if p.name != "index.json") == [".tar"] * len(index["shards"])
    assert "wrote" in capsys.readouterr().out


def test_config_prints_dotted_keys_and_rejects_bad_values(capsys):
    assert main(["config", "model.name=mfst_large", "model.theta=0.8"]) == 0
    out = capsys.readouterr().out
    assert "model.theta=0.8" in out and "model.stages=4" in out and "data.modality=rgb" in out
    assert main(["config", "model.theta=1.5"]) == 2
    assert "model.theta must be in [0, 1]" in capsys.readouterr().err


def test_models_lists_every_registered_model(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "mfst_base" in out and "mfst_large" in out and "mfst_bm" in out
