"""Where a trial's start-up goes: from its Tune function's first line to its first optimiser step.

Runs ``--trials`` (x ``--seeds``) one-epoch trials of a sweep's table (default ``cdc_theta``, local profile: MFST's
tiny model on the synthetic set; the trials are the sweep's first grid cells), ``--concurrent`` at a time, on one
embedded Ray, and prints, from the sweep's MLflow store, each trial's ``startup_*`` metrics (``actrec.track.startup``):
the trial function before ``trainer.fit`` (config, datasets), Ray Train's controller and worker group up to the loop's
first line (worker processes and their imports), the model's build, its GFLOPs count (or reading it back: a sweep
counts each model configuration once), and the first step (DDP wrapping, the data stream's
start, the first batch, the step); their median over trials; and everything but Ray Train's worker group
(``startup_s - startup_workers_s``), the part actrec's own code decides.

    python benchmarks/trial_startup.py                               # 4 trials of cdc_theta, one at a time
    python benchmarks/trial_startup.py --sweep epam_complexity --trials 2 --concurrent 2
    python benchmarks/trial_startup.py --trials 2 --seeds 2          # two cells, each twice: the second run of a
                                                                     # model reads its GFLOPs count back
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import statistics
import tempfile
from pathlib import Path

from mlflow.tracking import MlflowClient

from actrec.track.mlflow_tracker import EXPERIMENT_PREFIX
from actrec.track.startup import STARTUP_METRICS
from actrec.tune import cli

ROOT = Path(__file__).resolve().parents[1]

PARTS = {
    "startup_trial_s": "trial function before fit",
    "startup_workers_s": "Ray Train controller + worker group (processes, imports)",
    "startup_model_s": "config + model build",
    "startup_gflops_s": "GFLOPs count",
    "startup_first_step_s": "first step (optimiser, DDP, data stream start, first batch, step)",
    "startup_s": "trial start to first step",
}


def first_cells(name: str, profile: str, trials: int):
    """Sweep ``name``'s spec in ``profile`` cut to its first ``trials`` grid cells (axes folded in), no fused phase."""
    module_spec = importlib.util.spec_from_file_location(f"sweep_{name}", ROOT / "sweeps" / f"{name}.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    spec = module.SPEC.for_profile(profile)
    combos = [dict(cell) for cell in spec.cells]
    for key, values in spec.axes.items():
        combos = [{**c, key: v} for c in combos for v in values]
    if len(combos) < trials:
        raise SystemExit(f"error: sweep {name} has {len(combos)} grid cells in profile {profile}, not {trials}")
    return dataclasses.replace(spec, cells=tuple(combos[:trials]), axes={}, fusion=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", default="cdc_theta", help="the sweep whose first grid cells run")
    parser.add_argument("--profile", default="local", help="the sweep's profile")
    parser.add_argument("--trials", type=int, default=4, help="trials (the first grid cells), one epoch each")
    parser.add_argument("--concurrent", type=int, default=1, help="trials at a time")
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="passed to the sweep's --seeds: each cell runs this many times (same model: its GFLOPs are counted once)",
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed to the sweep's --set")
    parser.add_argument("--data-root", action="append", default=[], help="passed to the sweep's --data-root")
    parser.add_argument("--work-dir", default=None, help="a new folder for runs and MLflow (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.trials < 1 or args.concurrent < 1 or args.seeds < 1:
        parser.error("--trials, --concurrent and --seeds must be >= 1")
    if not (ROOT / "sweeps" / f"{args.sweep}.py").is_file():
        parser.error(f"--sweep: no sweeps/{args.sweep}.py")
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="actrec-startup-"))
    if work.exists() and any(work.iterdir()):
        parser.error(f"--work-dir {work} is not empty: give a new folder (its figures would mix with earlier runs)")
    work.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    sweep_argv = ["--profile", args.profile, "--set", "train.epochs=1", "--max-concurrent", str(args.concurrent)]
    sweep_argv += ["--asha", "off", "--storage-path", str(work / "runs"), "--tracking-uri", uri]
    sweep_argv += ["--report-dir", str(work / "reports"), "--seeds", str(args.seeds)]
    sweep_argv += [a for value in args.set for a in ("--set", value)]
    sweep_argv += [a for value in args.data_root for a in ("--data-root", value)]
    cli.main(first_cells(args.sweep, args.profile, args.trials), sweep_argv)

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(EXPERIMENT_PREFIX + args.sweep)
    trials = [] if experiment is None else client.search_runs([experiment.experiment_id], "tags.role = 'trial'")
    rows = [r.data.metrics for r in sorted(trials, key=lambda r: r.info.start_time) if "startup_s" in r.data.metrics]
    print(
        f"\n# trial_startup: {args.sweep}, profile {args.profile}, {len(rows)} of {len(trials)} trials reported, "
        f"{args.concurrent} at a time; seconds, in the order the trials started"
    )
    if not rows:
        print("no trial reported its start-up: see the sweep's output above")
        return 1
    print("| part | " + " | ".join(f"trial {i + 1}" for i in range(len(rows))) + " | median |")
    print("|---|" + "---|" * (len(rows) + 1))
    parts = [(PARTS[key], [m[key] for m in rows]) for key in STARTUP_METRICS]
    parts.append(("all but the worker group", [m["startup_s"] - m["startup_workers_s"] for m in rows]))
    for label, values in parts:
        print(f"| {label} | " + " | ".join(f"{v:.1f}" for v in values) + f" | {statistics.median(values):.1f} |")
    epochs = [m["epoch_time_s"] for m in rows]
    print(f"\nthe (one) epoch, training + validation: median {statistics.median(epochs):.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
