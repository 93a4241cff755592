"""Bad input fails fast and clearly (actrec.tune.plan, actrec.errors): the exit status, the one-line message naming
the field or path, that nothing was created on disk and that no Ray was started. A missing data root, --verbose and
--dry-run run a real sweep script as a user would (Ray's session directory must stay absent); the other data roots
and the refused flags and values run the same ``main`` in this process, where planning must refuse them (running the
sweep or starting Ray fails the case). Then the planning rules in process."""

from __future__ import annotations

import concurrent.futures
import json
import os
import pathlib
import re
import subprocess
import sys
from collections.abc import Callable

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _index(root: pathlib.Path, dataset: str, text: str | None = None) -> pathlib.Path:
    """A prepared-dataset index with no shards: enough for everything that runs before Ray."""
    root.mkdir(parents=True)
    split = {"field": "subject", "train": [1], "val": [2]}
    splits = {"cross_subject": split, "cross_view": split, "official": split}
    body = {"format_version": 1, "dataset": dataset, "num_classes": 60, "shards": [], "splits": splits}
    body["modalities"] = ["rgb", "depth", "pose"]
    (root / "index.json").write_text(text if text is not None else json.dumps(body))
    return root


def _snapshot(path: pathlib.Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_mode, p.stat().st_size) for p in sorted(path.rglob("*"))}


def _private_env(tmp_path: pathlib.Path) -> dict[str, str]:
    """Every default location of a sweep under ``tmp_path`` (none of them may be created by a refused sweep)."""
    return {
        "ACTREC_CACHE": str(tmp_path / "cache"),
        "ACTREC_STORAGE": str(tmp_path / "runs"),
        "RAY_TMPDIR": str(tmp_path / "ray"),  # where a started Ray would put its session
        "HOME": str(tmp_path / "home"),
    }


def _sweep(tmp_path: pathlib.Path, *argv: str, sweep: str = "cdc_theta") -> subprocess.CompletedProcess:
    """``python sweeps/<sweep>.py argv`` from an empty working directory, every default location private."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    env = {**os.environ, **_private_env(tmp_path)}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("RAY_ADDRESS", None)
    cmd = [sys.executable, str(ROOT / "sweeps" / f"{sweep}.py"), *argv]
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300)


def _sweeps(tmp_path: pathlib.Path, *calls: tuple[tuple[str, ...], str]) -> list[subprocess.CompletedProcess]:
    """:func:`_sweep` of each ``(argv, sweep)`` call, two at a time (each is a Python process on one core)."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda call: _sweep(tmp_path, *call[0], sweep=call[1]), calls))


def _in_process(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., subprocess.CompletedProcess]:
    """``run(argv, sweep="cdc_theta")``: what :func:`_sweep` runs, through the ``main`` the sweep's script calls, in
    this process (one import for many cases; the script itself runs in the missing-root, ``--verbose`` and
    ``--dry-run`` tests), with the same private environment and working directory; its exit status and output as a
    ``CompletedProcess``. Running the sweep or starting Ray fails the case: these cases end while planning."""
    from actrec.tune import cli, runner
    from tests.sweep_tools import load_sweep

    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    for name, value in _private_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    for name in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(work)

    def not_refused(*args, **kwargs):
        raise AssertionError("a case meant to be refused while planning went on to run the sweep")

    monkeypatch.setattr(cli, "run_sweep", not_refused)
    monkeypatch.setattr(runner, "init_ray", not_refused)

    def run(argv: tuple[str, ...], sweep: str = "cdc_theta") -> subprocess.CompletedProcess:
        module = load_sweep(sweep)
        parser = module.parser() if hasattr(module, "parser") else None
        capsys.readouterr()
        try:
            cli.main(module.SPEC, list(argv), extend=getattr(module, "extend", None), parser=parser)
            code = 0
        except SystemExit as exited:
            code = exited.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(argv, code, out, err)

    return run


def _assert_all_refused(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], cases
) -> list[str]:
    """Each ``(argv, named)`` case of ``cdc_theta`` run by :func:`_in_process` and refused as :func:`_assert_refused`
    checks it: exit 2, one line naming each of ``named``, nothing written."""
    run = _in_process(tmp_path, monkeypatch, capsys)
    return [_assert_refused(tmp_path, run(argv), *named) for argv, named in cases]


def _assert_refused(tmp_path: pathlib.Path, done: subprocess.CompletedProcess, *named: str) -> str:
    """Exit 2, exactly one line on stderr, ``error: …`` naming each of ``named``, no traceback, nothing written."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    for text in named:
        assert text in lines[0], lines[0]
    assert list((tmp_path / "work").iterdir()) == [], "nothing in the working directory (no mlflow.db, no reports)"
    for created in ("cache", "runs", "ray", "home"):
        assert not (tmp_path / created).exists(), f"{created} was created"
    return lines[0]


def test_a_missing_data_root_is_named_and_nothing_is_created(tmp_path):
    missing = tmp_path / "data" / "ntu60"
    line = _assert_refused(tmp_path, _sweep(tmp_path, "--data-root", str(missing)), str(missing), "actrec data prepare")
    assert "does not exist" in line
    assert not (tmp_path / "data").exists(), "neither the root nor a lock file beside it"


def test_an_empty_data_root_is_refused_and_left_as_it_was(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o755)
    before = empty.stat().st_mode
    run = _in_process(tmp_path, monkeypatch, capsys)
    line = _assert_refused(tmp_path, run(("--data-root", str(empty))), str(empty))
    assert "empty directory" in line and "actrec data prepare" in line
    assert list(empty.iterdir()) == [] and empty.stat().st_mode == before


def test_a_root_without_index_and_a_malformed_index_are_named(tmp_path, monkeypatch, capsys):
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "clip.avi").write_bytes(b"not a dataset")
    broken = _index(tmp_path / "broken", "ntu_rgbd_60", text='{"format_version": 1, "dataset": ')
    before = _snapshot(broken)
    run = _in_process(tmp_path, monkeypatch, capsys)
    without, malformed = run(("--data-root", str(loose))), run(("--data-root", str(broken)))
    _assert_refused(tmp_path, without, str(loose), "no index.json")
    line = _assert_refused(tmp_path, malformed, str(broken / "index.json"))
    assert "not valid JSON" in line and _snapshot(broken) == before


def test_the_dataset_comes_from_the_roots_index(tmp_path, monkeypatch, capsys):
    ntu = _index(tmp_path / "ntu", "ntu_rgbd_60")
    iso = _index(tmp_path / "iso", "isogd")
    # A root whose index lacks the protocol's split would fail inside Ray.
    body = json.loads((ntu / "index.json").read_text())
    partial = _index(tmp_path / "partial", "ntu_rgbd_60", text=json.dumps({**body, "splits": {}}))
    run = _in_process(tmp_path, monkeypatch, capsys)
    read, disagrees, paper, split = (
        run(("--data-root", str(ntu), "--profile", "smoke", "--dry-run")),
        run(("--data-root", str(ntu), "--set", "data.dataset=isogd", "--dry-run")),
        run(("--profile", "paper", "--data-root", str(iso))),
        run(("--data-root", str(partial))),
    )
    assert read.returncode == 0, read.stderr
    assert f"data: ntu_rgbd_60 (cross_subject) read from {ntu}" in read.stdout
    # An explicit data.dataset that disagrees with the root is an error naming both.
    _assert_refused(tmp_path, disagrees, str(ntu), "'ntu_rgbd_60'", "--set data.dataset=isogd")
    # The paper profile names NTU RGB+D 60 itself: an IsoGD root is refused, not trained on as NTU.
    line = _assert_refused(tmp_path, paper, "'isogd'")
    assert "the paper profile reads data.dataset='ntu_rgbd_60'" in line
    line = _assert_refused(tmp_path, split, str(partial / "index.json"))
    assert "data.protocol='cross_subject'" in line


def test_data_roots_that_no_trial_reads_or_that_are_missing_are_all_named(tmp_path, monkeypatch, capsys):
    """A root no trial reads would be ignored (the table would run on synthetic data): refused; a table over several
    datasets names every missing root at once."""
    ucf = _index(tmp_path / "ucf", "ucf101")
    nv = _index(tmp_path / "nv", "nvgesture")
    run = _in_process(tmp_path, monkeypatch, capsys)
    unread, twice, fusion, cdc, several = (
        run(("--data-root", f"ucf101={ucf}"), "rpe_position"),
        run(("--data-root", f"ucf101={ucf}", "--data-root", f"ucf101={ucf}")),
        run(("--profile", "paper"), "derecouple_fusion"),
        run(("--profile", "paper")),
        run(("--profile", "paper", "--data-root", str(nv)), "derecouple_components"),
    )
    line = _assert_refused(tmp_path, unread, "ucf101")
    assert "no trial of this table reads ucf101 in the local profile" in line and "--profile paper" in line
    _assert_refused(tmp_path, twice, "twice")
    line = _assert_refused(tmp_path, fusion, "no data root")
    for dataset in ("isogd", "ntu_rgbd_60", "nvgesture", "thu_read"):
        assert f"--data-root {dataset}=DIR" in line
    line = _assert_refused(tmp_path, cdc, "no data root")
    assert "pass --data-root DIR, a prepared ntu_rgbd_60 dataset" in line
    _assert_refused(tmp_path, several, "several datasets (nvgesture, thu_read)", "--data-root thu_read=DIR")


def test_flags_that_would_be_ignored_and_unwritable_places_are_refused(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "nowhere" / "m.db"
    blocker = tmp_path / "afile"
    blocker.write_text("")
    _assert_all_refused(
        tmp_path,
        monkeypatch,
        capsys,
        [
            (("--num-samples", "5"), ("--num-samples", "--search optuna")),
            (("--search", "optuna", "--seeds", "3"), ("--seeds",)),
            (("--search", "optuna", "--theta-grid", "0.2"), ("--theta-grid",)),
            (("--cost", "gflops"), ("--cost gflops", "--search optuna")),
            (("--search", "optuna", "--cost", "params", "--asha", "on"), ("--cost params", "ASHA")),
            (("--search-seed", "1"), ("--search-seed", "a grid")),
            (("--search", "optuna", "--search-seed", "-1"), ("--search-seed must be >= 0",)),
            (("--theta-grid", "abc"), ("--theta-grid", "'abc'")),
            (("--theta-grid", ",,"), ("--theta-grid",)),
            (("--tracking-uri", "bogus://x"), ("--tracking-uri", "'bogus'")),
            (("--tracking-uri", f"sqlite:///{missing}"), (str(missing.parent),)),
            (("--storage-path", str(blocker / "runs")), ("--storage-path", "is a file")),
            (("--report-dir", str(blocker)), ("--report-dir",)),
        ],
    )


def test_a_set_of_a_key_the_grid_sets_is_refused(tmp_path, monkeypatch, capsys):
    grid, *_ = _assert_all_refused(
        tmp_path,
        monkeypatch,
        capsys,
        [
            (("--set", "model.theta=1.5"), ("--set model.theta=1.5",)),
            (("--set", "train.seed=3"), ("train.seed", "--seeds")),
            (("--search", "optuna", "--set", "model.theta=0.3"), ("model.theta", "--search optuna samples")),
        ],
    )
    assert "0.0, 0.6, 0.8" in grid


def test_impossible_values_and_flags_fail_in_one_line(tmp_path, monkeypatch, capsys):
    _assert_all_refused(
        tmp_path,
        monkeypatch,
        capsys,
        [
            (("--set", "train.epochs=-1"), ("train.epochs",)),
            (("--set", "data.crop_size=999"), ("data.crop_size",)),
            (("--set", "nosuchkey"), ("nosuchkey",)),
            (("--seeds", "0"), ("--seeds",)),
            (("--asha", "on"), ("exact table",)),
            (("--theta-grid", "2"), ("--theta-grid",)),
            (("--resume",), ("--resume", str(tmp_path / "runs"))),
        ],
    )
    verbose = _sweep(tmp_path, "--set", "train.epochs=-1", "--verbose")
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1].startswith("error: train.epochs")


def test_dry_run_lists_every_trial_and_writes_nothing(tmp_path):
    done, optuna, fused = _sweeps(
        tmp_path,
        (("--dry-run", "--seeds", "2"), "cdc_theta"),
        (("--dry-run", "--search", "optuna", "--num-samples", "5"), "cdc_theta"),
        (("--dry-run", "--profile", "smoke"), "epam_components"),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    trials = [line for line in lines if re.match(r"\s*\d+\. ", line)]
    assert len(trials) == 20 and "20 trial(s)" in lines[0]
    assert "model.stem=CDC-T model.theta=0.8 data.modality=depth train.seed=1" in trials[-1]
    assert all("worker(s) ×" in line for line in trials)
    assert "generated there on the first run" in done.stdout
    assert list((tmp_path / "work").iterdir()) == []
    assert not any((tmp_path / d).exists() for d in ("cache", "runs", "ray", "home"))
    # An Optuna search prints its space instead; a two-phase table its second phase.
    assert optuna.returncode == 0 and "optuna: 5 sample(s) over model.stem ∈ choice(CDC-ST, CDC-T)" in optuna.stdout
    assert "model.theta ∈ uniform(0, 1)" in optuna.stdout
    assert fused.returncode == 0, fused.stderr
    phase2 = [line for line in fused.stdout.splitlines() if "(phase 2)" in line]
    assert phase2 and "model.rgb_checkpoint=<checkpoint of trial 1>" in phase2[0]  # numbered as the list is


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "sweeps").glob("*.py")))
def test_every_sweep_plans_its_local_profile(name, tmp_path):
    from conftest import load_sweep

    from actrec.tune.cli import build_parser
    from actrec.tune.plan import describe_plan, plan_sweep

    sweep = load_sweep(name)
    parser = sweep.parser() if hasattr(sweep, "parser") else None
    args = (parser or build_parser(sweep.SPEC)).parse_args(["--dry-run"])
    spec = sweep.extend(sweep.SPEC, args) if hasattr(sweep, "extend") else sweep.SPEC
    plan = plan_sweep(spec, args)
    assert plan.planned >= len(plan.trials) >= 1
    assert describe_plan(plan, args).count("\n") >= plan.planned


def test_epam_phase_overrides_are_not_refused():
    """EPAM-Net's phases carry their own epochs; ``--set train.epochs`` sets every phase's (the sweep's extend hook
    writes it into the cells), so the grid agrees with it and it is not refused."""
    from conftest import load_sweep

    from actrec.tune.cli import build_parser
    from actrec.tune.plan import plan_sweep

    sweep = load_sweep("epam_components")
    args = build_parser(sweep.SPEC).parse_args(["--profile", "smoke", "--set", "train.epochs=2"])
    plan = plan_sweep(sweep.extend(sweep.SPEC, args), args)
    assert {t["train.epochs"] for t in plan.trials + plan.fused} == {"2"}
