"""actrec.tune.cost: the cost plan ``--dry-run`` prints for a sweep on GPUs (GPU-hours, node-hours of the cluster's
node type, wall time at its maximum size), checked against a hand computation, printed by every sweep's paper
profile, and a bad ``--cluster`` refused in one line. No Ray: every case ends while planning."""

from __future__ import annotations

import pathlib
import re

import pytest

from actrec.tune import cost
from tests.sweep_tools import ROOT, SWEEP_NAMES, paper_data_roots
from tests.test_tune_plan import _assert_refused, _in_process

# Clips of the stand-in NTU RGB+D 60 root of the hand computation: its cross-subject split's sizes (Shahroudy et al.,
# CVPR 2016, Sec. 4: 40,320 training and 16,560 testing samples), every protocol alike.
TRAIN, VAL = 40_320, 16_560
# The constants of the estimate, written out: an A100's dense peaks in FLOP/s (NVIDIA A100 datasheet: TF32 156, FP32
# 19.5, BF16 312 TFLOP/s), the assumed 30% utilisation, 2 FLOPs per multiply-add, training = 3 forward passes.
TF32, FP32, BF16, UTILISATION = 156e12, 19.5e12, 312e12, 0.3
# cluster/a100.yaml at its maximum size: 4 gpu_worker nodes of 8 GPUs (p4d.24xlarge).
NODES, GPUS_PER_NODE = 4, 8


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _cost_lines(stdout: str) -> dict[str, str]:
    """The three cost lines by their label: ``cost (...)``, ``cost from``, ``cost assumes``."""
    lines = {}
    for line in stdout.splitlines():
        if line.startswith("cost ("):
            lines["cost"] = line
        elif line.startswith(("cost from: ", "cost assumes: ")):
            lines[line.split(":")[0]] = line
    return lines


def _totals(line: str) -> tuple[float, float, float]:
    """(GPU-hours, node-hours, wall hours) of the ``cost (...)`` line."""
    found = re.search(r"≈ ([\d,.]+) GPU-hours = ([\d,.]+) node-hours .*; ≈ ([\d,.]+) h", line)
    assert found, line
    return tuple(_number(x) for x in found.groups())


@pytest.mark.parametrize("precision, max_concurrent, test_clips, test_crops", [("fp32", 0, 1, 1), ("bf16", 1, 2, 3)])
def test_the_cost_plan_is_the_hand_computation(
    precision, max_concurrent, test_clips, test_crops, tmp_path, monkeypatch, capsys
):
    """MFST Table I's paper profile (mfst_ntu): four stream trials of 100 epochs on 4 GPUs each, then two RGB+DEP
    trials that only evaluate the streams' checkpoints (phase 2); as the paper runs it, and in bf16 one trial at a time
    with 2 clips × 3 crops per test video."""
    roots = paper_data_roots("mfst_ntu", tmp_path / "data", train=TRAIN, val=VAL)
    extra = ["--set", f"train.precision={precision}"] if precision != "fp32" else []
    extra += ["--max-concurrent", str(max_concurrent)] if max_concurrent else []
    if test_clips * test_crops > 1:
        extra += ["--set", f"data.test_clips={test_clips}", "--set", f"data.test_crops={test_crops}"]
    views = test_clips * test_crops
    run = _in_process(tmp_path, monkeypatch, capsys)
    done = run(("--profile", "paper", "--dry-run", *roots, *extra), "mfst_ntu")
    assert done.returncode == 0, done.stderr
    trials = [line for line in done.stdout.splitlines() if re.match(r"\s*\d+\. ", line)]
    assert len(trials) == 6 and all("4 worker(s) × (8 CPU + 1 GPU)" in line for line in trials)

    seconds = []  # per trial, on one GPU
    for line in trials:
        epochs = 0 if "train.epochs=0" in line else 100  # MFST §IV-A's 100 epochs; phase 2 evaluates once
        if precision == "fp32":  # cuDNN convolutions in TF32, matrix products in FP32 (PyTorch's defaults)
            found = re.search(r"\(([\d.]+) GFLOPs/clip: ([\d.]+) convolution \+ ([\d.]+) other\)", line)
            total, conv, other = (float(x) for x in found.groups())
            assert conv + other == pytest.approx(total, abs=2e-3) and conv > 0 and other > 0
            forward = 2 * conv * 1e9 / (TF32 * UTILISATION) + 2 * other * 1e9 / (FP32 * UTILISATION)
        else:
            gflops = float(re.search(r"\(([\d.]+) GFLOPs/clip\)", line).group(1))
            forward = 2 * gflops * 1e9 / (BF16 * UTILISATION)
        seconds.append(epochs * TRAIN * 3 * forward + max(epochs, 1) * VAL * views * forward)
        printed = _number(re.search(r"≈ ([\d,.]+) GPU-h \(", line).group(1))
        assert printed == pytest.approx(seconds[-1] / 3600, rel=5.1e-3), line

    gpu_hours = sum(seconds) / 3600
    node_hours = gpu_hours / GPUS_PER_NODE
    walls = [s / 4 for s in seconds]  # 4 GPUs per trial
    if max_concurrent:  # one trial at a time
        wall = sum(walls) / 3600
        at_a_time = "1 / 1 trial(s) at a time, per phase"
    else:  # 32 GPUs hold 8 trials: phase 1's four at once, then phase 2's two
        assert NODES * GPUS_PER_NODE // 4 == 8
        wall = (max(walls[:4]) + max(walls[4:])) / 3600
        at_a_time = "8 / 8 trial(s) at a time, per phase"
    lines = _cost_lines(done.stdout)
    assert _totals(lines["cost"]) == pytest.approx((gpu_hours, node_hours, wall), rel=5.1e-3)
    assert "FLOPs-based estimate, not a measurement" in lines["cost"]
    assert "gpu_worker (p4d.24xlarge, 8 × A100)" in lines["cost"] and f"at {NODES} nodes ({at_a_time})" in lines["cost"]
    assert "6 trial(s) (4, then 2 in phase 2) × 100 epochs (2 trial(s) evaluate only" in lines["cost from"]
    assert f"40,320 train + 16,560 val clips per epoch ({views} view(s) per val clip)" in lines["cost from"]
    assert "30% utilisation (assumed, not measured)" in lines["cost assumes"]
    assert ("TF32 156 TFLOP/s" if precision == "fp32" else "BF16 312 TFLOP/s") in lines["cost assumes"]
    assert gpu_hours > 10  # four 100-epoch trials of a paper-size model on NTU-sized splits: not a rounding error


@pytest.fixture(scope="module")
def stand_in_roots(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """One folder of small stand-in prepared datasets, shared by every sweep's paper-profile dry run."""
    return tmp_path_factory.mktemp("paper_roots")


@pytest.mark.parametrize("name", SWEEP_NAMES)
def test_every_sweeps_paper_profile_prints_its_cost_plan(name, stand_in_roots, tmp_path, monkeypatch, capsys):
    """The plumbing for every sweep: each trial's model is built on the meta device from its paper-profile config,
    but counted as 1 + 1 GFLOPs (counting every paper-size model of every sweep takes about a minute; the counts
    themselves are checked against fvcore in tests/test_models_complexity.py and priced by hand above)."""
    import torch

    from actrec.models import complexity

    def built_not_counted(build, *shapes):
        with torch.device("meta"):
            build()
        return {"convolution": 1.0, "other": 1.0}

    monkeypatch.setattr(complexity, "count_gflops_meta", built_not_counted)
    monkeypatch.setattr(cost, "_GFLOPS", {})
    run = _in_process(tmp_path, monkeypatch, capsys)
    done = run(("--profile", "paper", "--dry-run", *paper_data_roots(name, stand_in_roots)), name)
    assert done.returncode == 0, done.stderr
    lines = _cost_lines(done.stdout)
    assert set(lines) == {"cost", "cost from", "cost assumes"}, done.stdout
    assert lines["cost"].startswith("cost (FLOPs-based estimate, not a measurement: no GPU time measured yet)")
    assert "30% utilisation (assumed, not measured)" in lines["cost assumes"]
    gpu_hours, node_hours, wall = _totals(lines["cost"])
    assert gpu_hours > 0 and node_hours == pytest.approx(gpu_hours / GPUS_PER_NODE, rel=1e-2) and wall > 0
    # Every trial's own share is listed, and they add up to the total.
    trials = [line for line in done.stdout.splitlines() if re.match(r"\s*\d+\. ", line)]
    shares = [_number(m.group(1)) for line in trials if (m := re.search(r"≈ ([\d,.]+) GPU-h \(", line))]
    assert len(shares) == len(trials) > 0
    assert sum(shares) == pytest.approx(gpu_hours, rel=1e-2)
    assert list((tmp_path / "work").iterdir()) == []


def test_the_cpu_profiles_print_no_cost(tmp_path, monkeypatch, capsys):
    run = _in_process(tmp_path, monkeypatch, capsys)
    done = run(("--dry-run", "--profile", "smoke"), "mfst_ntu")
    assert done.returncode == 0, done.stderr
    assert _cost_lines(done.stdout) == {} and "GPU-h" not in done.stdout


def test_a_search_prices_every_sample_as_its_costliest_corner_without_early_stopping(tmp_path, monkeypatch, capsys):
    roots = paper_data_roots("cdc_theta", tmp_path / "data", train=TRAIN, val=VAL)
    run = _in_process(tmp_path, monkeypatch, capsys)
    one, five = (
        run(("--profile", "paper", "--dry-run", *roots, "--search", "optuna", "--num-samples", str(n)), "cdc_theta")
        for n in (1, 5)
    )
    assert one.returncode == five.returncode == 0, one.stderr + five.stderr
    lines = _cost_lines(five.stdout)
    assert "5 Optuna sample(s), each priced as the search's costliest corner" in lines["cost from"]
    assert "no ASHA early stopping (an upper bound)" in lines["cost assumes"]
    (gpu1, _, wall1), (gpu5, _, wall5) = _totals(_cost_lines(one.stdout)["cost"]), _totals(lines["cost"])
    assert gpu5 == pytest.approx(5 * gpu1, rel=1e-2)
    assert wall5 == pytest.approx(wall1, rel=1e-2)  # 5 trials of 4 GPUs fit the 32 GPUs at once


def test_a_measured_time_replaces_the_flops_estimate(tmp_path, monkeypatch, capsys):
    """An entry of MEASURED_SECONDS_PER_CLIP (none is measured yet: this one is made up for the test) prices the trials
    it matches instead of their FLOPs."""
    roots = paper_data_roots("mfst_stages", tmp_path / "data", train=TRAIN, val=VAL)
    made_up = {}
    for model in ("mfst_base", "mfst_large", "mfst_bm"):
        made_up[("A100", model, "fp32", ((3, 32, 224, 224),))] = (0.05, 0.02)
    monkeypatch.setattr(cost, "MEASURED_SECONDS_PER_CLIP", made_up)
    run = _in_process(tmp_path, monkeypatch, capsys)
    done = run(("--profile", "paper", "--dry-run", *roots), "mfst_stages")
    assert done.returncode == 0, done.stderr
    lines = _cost_lines(done.stdout)
    assert lines["cost"].startswith("cost (from measured seconds per clip")
    trials = [line for line in done.stdout.splitlines() if re.match(r"\s*\d+\. ", line)]
    assert all("(measured seconds per clip; " in line for line in trials)
    assert "utilisation" not in lines["cost assumes"]  # no FLOPs-based trial left
    per_trial = 100 * (TRAIN * 0.05 + VAL * 0.02)  # 100 epochs; 1 view per validation clip
    assert _totals(lines["cost"])[0] == pytest.approx(len(trials) * per_trial / 3600, rel=5.1e-3)


def test_the_repository_cluster_is_read_from_its_yaml():
    nodes = cost.load_cluster(ROOT / "cluster" / "a100.yaml")
    assert (nodes.node_type, nodes.instance, nodes.accelerator) == ("gpu_worker", "p4d.24xlarge", "A100")
    assert (nodes.gpus, nodes.cpus, nodes.nodes, nodes.drivers) == (8, 96, NODES, 32)


def test_trials_start_in_listed_order_as_slots_free():
    assert cost.fifo_wall_seconds([3, 1, 1, 1], 2) == 3  # the long one first: the short three run beside it
    assert cost.fifo_wall_seconds([1, 1, 1, 3], 2) == 4  # the long one last: it starts when a slot frees at 1
    assert cost.fifo_wall_seconds([2, 2], 5) == 2 and cost.fifo_wall_seconds([], 3) == 0


def test_a_node_type_of_unknown_accelerator_is_named_not_priced(tmp_path, monkeypatch, capsys):
    yaml = (
        (ROOT / "cluster" / "a100.yaml").read_text().replace("InstanceType: p4d.24xlarge", "InstanceType: g5.48xlarge")
    )
    (tmp_path / "g5.yaml").write_text(yaml)
    roots = paper_data_roots("mfst_stages", tmp_path / "data")
    run = _in_process(tmp_path, monkeypatch, capsys)
    done = run(("--profile", "paper", "--dry-run", *roots, "--cluster", str(tmp_path / "g5.yaml")), "mfst_stages")
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("cost"))
    assert line.startswith("cost: not estimated") and "g5.48xlarge" in line and "accelerator_type:NAME" in line


def test_a_bad_cluster_yaml_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"  # outside the private locations _assert_refused checks, like a user's datasets
    roots = paper_data_roots("mfst_stages", data)
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "broken.yaml").write_text("available_node_types:\n  gpu_worker: [1,\n")
    (configs / "list.yaml").write_text("- just\n- a list\n")
    cpu_only = (ROOT / "cluster" / "a100.yaml").read_text().replace('{"CPU": 96, "GPU": 8}', '{"CPU": 96}')
    (configs / "cpu.yaml").write_text(cpu_only)
    missing = configs / "missing.yaml"
    paper = ("--profile", "paper", *roots)
    cases = [
        ((*paper, "--dry-run", "--cluster", str(missing)), (str(missing), "no such file")),
        ((*paper, "--dry-run", "--cluster", str(configs)), (str(configs), "cannot be read")),
        ((*paper, "--dry-run", "--cluster", str(configs / "broken.yaml")), ("broken.yaml", "not valid YAML", "line")),
        ((*paper, "--dry-run", "--cluster", str(configs / "list.yaml")), ("list.yaml", "available_node_types")),
        ((*paper, "--dry-run", "--cluster", str(configs / "cpu.yaml")), ("cpu.yaml", "no worker node type declares")),
        # Refused also where nothing is priced (CPU trials), and without --dry-run, which alone prints a cost plan.
        (("--dry-run", "--cluster", str(missing)), (str(missing),)),
        ((*paper, "--cluster", str(ROOT / "cluster" / "a100.yaml")), ("--cluster", "--dry-run")),
    ]
    run = _in_process(tmp_path, monkeypatch, capsys)
    for argv, named in cases:
        _assert_refused(tmp_path, run(argv, "mfst_stages"), *named)
