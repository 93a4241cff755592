"""actrec.cli: the documented commands run and fail clearly."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

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
    from actrec.models import create_model, list_models

    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(list_models())
    # Counted without storage; equal to a real build (Table III's MFST-Large: 49.7M in the paper).
    (large,) = [line for line in lines if line.split()[0] == "mfst_large"]
    real = sum(p.numel() for p in create_model("mfst_large").parameters())
    assert large.split()[1] == f"{real / 1e6:.2f}M"


def _store(tmp_path, sweeps):
    from test_report_table import build_store, toy_spec

    return build_store(tmp_path, sweeps, spec_for=lambda sweep: toy_spec(sweep, reference=False))


def test_report_one_sweep(tmp_path, capsys):
    uri = _store(tmp_path, ("toy",))
    assert main(["report", "toy", "--tracking-uri", uri, "--out", str(tmp_path / "r")]) == 0
    assert "wrote " + str(tmp_path / "r" / "toy.md") in capsys.readouterr().out
    # The index (and its verdict summary) is refreshed with the rebuilt report, as the sweep driver does.
    assert "(toy.md)" in (tmp_path / "r" / "index.md").read_text()


def test_report_all_writes_index_and_fails_when_a_sweep_fails(tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    uri = _store(tmp_path, ("toy", "toy2"))
    out = tmp_path / "r"
    assert main(["report", "--all", "--tracking-uri", uri, "--out", str(out)]) == 0
    page = (out / "index.html").read_text()
    assert "href='toy.html'" in page and "href='toy2.html'" in page
    assert "2 report(s) regenerated, 0 failed" in capsys.readouterr().out

    client = MlflowClient(uri)
    broken = client.create_experiment("actrec/broken", artifact_location=str(tmp_path / "art" / "broken"))
    client.create_run(broken, tags={"role": "sweep"})  # never logged its table_spec.json
    assert main(["report", "--all", "--tracking-uri", uri, "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "actrec: error: report broken:" in captured.err and "table_spec.json" in captured.err
    assert "2 report(s) regenerated, 1 failed" in captured.out and (out / "toy2.md").exists()


def test_report_needs_a_sweep_or_all(capsys):
    for argv in (["report"], ["report", "toy", "--all"], ["report", "--all", "--run-id", "abc"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "one of the arguments sweep --all is required" in err and "not allowed with argument sweep" in err
    assert "cannot be combined with --all" in err


def test_mistakes_print_one_line_and_write_nothing(tmp_path, capsys):
    """A typo'd store, an occupied --out, a missing prepare root: ``actrec: error: …`` on one line naming the path,
    status 2, nothing created (a report of a typo'd store used to create an empty MLflow database there)."""
    missing = tmp_path / "typo.db"
    assert main(["report", "toy", "--tracking-uri", f"sqlite:///{missing}", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("actrec: error: no MLflow store at") and str(missing) in err[0]
    assert main(["report", "--all", "--tracking-uri", f"sqlite:///{missing}", "--out", str(tmp_path / "r")]) == 2
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "mine.txt").write_text("keep")
    assert main(["data", "synth", "--out", str(occupied)]) == 2
    assert str(occupied) in capsys.readouterr().err and [p.name for p in occupied.iterdir()] == ["mine.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["occupied"]
    assert main(["--verbose", "config", "model.theta=1.5"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_output_into_a_closed_pipe_ends_quietly():
    """`actrec data adapters | head -1`: when the reader has gone, the command stops with SIGPIPE's exit status and no
    traceback (the installed console script, its reader closed before it writes)."""
    script = Path(sys.executable).with_name("actrec")
    listing = subprocess.Popen([str(script), "data", "adapters"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    listing.stdout.close()
    err = listing.stderr.read().decode()
    assert listing.wait(timeout=120) == 128 + signal.SIGPIPE and err == "", err
