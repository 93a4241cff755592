"""Sweep efficiency: the same grid run to completion and under ASHA, in one process on one embedded Ray.

The grid is MFST Table IV's (sweeps/cdc_theta.py: 5 stems / θ values x RGB, depth = 10 trials) with early stopping
allowed for this measurement only (the table itself is exact, so its sweep never stops a cell early). Both runs use
the same profile, epochs, seeds and concurrency; the second adds ASHA (``actrec.tune.tuner.asha_scheduler``: rungs
at 1, 3, 9, ... epochs, top third goes on). Printed per run, from MLflow: trial-epochs trained (the sum over trials of
the epochs each one reported), trials stopped early, the best trial's val_best_top1 and which cell it was, and wall
time; then the ASHA run's ratios to the full grid.

    python benchmarks/asha_sweep.py                          # smoke data, 6 epochs (about 15 min on 2 cores)
    python benchmarks/asha_sweep.py --profile local --epochs 12
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")

from mlflow.tracking import MlflowClient  # noqa: E402

from actrec.tune import cli  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def load_sweep(name: str):
    spec = importlib.util.spec_from_file_location(f"sweep_{name}", ROOT / "sweeps" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(spec, asha: str, args: argparse.Namespace, work: Path) -> dict:
    uri = f"sqlite:///{work / f'mlflow-{asha}.db'}"
    argv = [
        "--profile",
        args.profile,
        "--asha",
        asha,
        "--seeds",
        str(args.seeds),
        "--set",
        f"train.epochs={args.epochs}",
        "--storage-path",
        str(work / f"runs-{asha}"),
        "--tracking-uri",
        uri,
        "--report-dir",
        str(work / f"reports-{asha}"),
    ]
    started = time.perf_counter()
    cli.main(spec, argv)
    wall = time.perf_counter() - started
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(f"actrec/{spec.name}")
    trials = client.search_runs([experiment.experiment_id], "tags.role = 'trial'", max_results=1000)
    epochs = {r.info.run_id: len(client.get_metric_history(r.info.run_id, "val_top1")) for r in trials}
    best = max(trials, key=lambda r: r.data.metrics.get("val_best_top1", float("-inf")))
    cell = ", ".join(f"{k}={best.data.params[k]}" for k in ("model.stem", "model.theta", "data.modality"))
    return {
        "trials": len(trials),
        "trial_epochs": sum(epochs.values()),
        "stopped_early": sum(1 for n in epochs.values() if n < args.epochs),
        "best": best.data.metrics["val_best_top1"],
        "best_cell": cell,
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="smoke", choices=("smoke", "local"))
    parser.add_argument("--epochs", type=int, default=6, help="epochs of every trial (ASHA's max_t)")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--work-dir", default=None, help="where runs and MLflow databases go (default: a temp dir)")
    args = parser.parse_args(argv)
    cdc = load_sweep("cdc_theta")
    spec = dataclasses.replace(cdc.SPEC, early_stopping=True)  # this measurement only
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="actrec-asha-"))
    work.mkdir(parents=True, exist_ok=True)
    results = {}
    for mode in ("off", "on"):
        print(f"# asha_sweep: cdc_theta grid, profile {args.profile}, {args.epochs} epochs, ASHA {mode}", flush=True)
        results[mode] = run(spec, mode, args, work)
    print(
        f"\n# asha_sweep: cdc_theta grid ({results['off']['trials']} trials), profile {args.profile}, "
        f"{args.epochs} epochs per trial; work dir {work}"
    )
    print("| run | trial-epochs | stopped early | best val_best_top1 | best cell | wall (s) |")
    print("|---|---|---|---|---|---|")
    for mode, label in (("off", "full grid"), ("on", "ASHA")):
        r = results[mode]
        print(
            f"| {label} | {r['trial_epochs']} | {r['stopped_early']} | {r['best']:.1f} | {r['best_cell']} | "
            f"{r['wall_s']:.0f} |"
        )
    off, on = results["off"], results["on"]
    print(
        f"ASHA / full grid: trial-epochs {on['trial_epochs'] / off['trial_epochs']:.2f}, "
        f"wall time {on['wall_s'] / off['wall_s']:.2f}, best {on['best'] - off['best']:+.1f} points"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
