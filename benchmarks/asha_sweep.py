"""Does pruning pay? The same Optuna search with and without ASHA, per sampler seed, on one embedded Ray.

The search is over MFST Table IV's knobs (sweeps/cdc_theta.py's trials; the space is this benchmark's own, so its
figures stay comparable when the sweep's changes: CDC stem, θ ∈ [0, 1] and modality), ``--samples`` Optuna samples
(default 27) of ``--epochs`` epochs each (default 9: ASHA's rungs at 1, 3 and 9 epochs, the top third of each rung
goes on), two trials at a time, on the default synthetic set's cross-view split (128 validation clips, so scores
move in steps of 0.78 points; 256 training clips) with the local profile's tiny model on smaller clips (4 frames,
32²) to keep a trial-epoch to seconds. For every ``--search-seeds`` value the search runs without ASHA, then with
ASHA once per ``--asha-metrics`` value (what ASHA ranks trials by at its rungs: ``loss``, the sweeps' default, or
``accuracy``), with that sampler seed; everything else is the same. Printed per run, from its MLflow store: trials,
trial-epochs (the sum over trials of the epochs each reported), trials stopped early, wall time, and the best
trial's val_best_top1 with its 95% Wilson interval over the validation clips; then ASHA's ratios, per seed and
pooled, whether each ASHA best lies inside its no-ASHA best's interval, how many epochs the ASHA runs' trials ran,
the most common scores after one epoch, and Ray's own ASHA rule replayed over each run without ASHA at other grace
periods and reduction factors (:func:`replay`). A search that finished in an earlier invocation with the same
``--work-dir`` is read back instead of run again (wall time: the sweep's own, from MLflow).

    python benchmarks/asha_sweep.py                                   # 27 samples, 9 epochs, seeds 0 and 1
    python benchmarks/asha_sweep.py --asha-metrics loss,accuracy      # both rankings against the same baseline
    python benchmarks/asha_sweep.py --samples 9 --epochs 3 --search-seeds 0   # a quick look (rungs 1, 3)
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import importlib.util
import sys
import tempfile
from pathlib import Path

from mlflow.tracking import MlflowClient

from actrec.report.claims import wilson_interval
from actrec.tune import cli
from actrec.tune.spec import Choice, Uniform

ROOT = Path(__file__).resolve().parents[1]
SPACE = {
    "model.stem": Choice("CDC-ST", "CDC-T"),
    "model.theta": Uniform(0.0, 1.0),
    "data.modality": Choice("rgb", "depth"),
}
# Smaller clips than the local profile's, the same synthetic set, its cross-view split (128 validation clips).
FAST_CLIPS = ("data.num_frames=4", "data.resize=32", "data.crop_size=32", "data.protocol=cross_view")


def load_sweep(name: str):
    spec = importlib.util.spec_from_file_location(f"sweep_{name}", ROOT / "sweeps" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# How each ASHA ranking is named in the table and in the work dir's file names (accuracy's keep their first name).
RUNS = {"off": "off", "accuracy": "on", "loss": "on-loss"}


def run(spec, asha: str, seed: int, args: argparse.Namespace, work: Path) -> dict:
    """One search (``asha``: "off", or the metric ASHA ranks by, "accuracy" or "loss"); its figures from its MLflow
    store."""
    name = f"seed{seed}-asha-{RUNS[asha]}"
    uri = f"sqlite:///{work / f'mlflow-{name}.db'}"
    argv = ["--profile", "local", "--search", "optuna", "--num-samples", str(args.samples)]
    argv += ["--search-seed", str(seed), "--max-concurrent", str(args.concurrent)]
    argv += ["--asha", "off"] if asha == "off" else ["--asha", "on", "--asha-metric", asha]
    argv += ["--set", f"train.epochs={args.epochs}", *[a for c in FAST_CLIPS for a in ("--set", c)]]
    argv += ["--storage-path", str(work / f"runs-{name}"), "--tracking-uri", uri]
    argv += ["--report-dir", str(work / f"reports-{name}")]
    client = MlflowClient(uri)
    if _finished_parent(client, spec.name) is None:  # a run of an earlier invocation in --work-dir is reused
        cli.main(spec, argv)
    parent = _finished_parent(client, spec.name)
    wall = (parent.info.end_time - parent.info.start_time) / 1000  # the sweep's own wall time, from MLflow
    experiment = client.get_experiment_by_name(f"actrec/{spec.name}")
    # That sweep's trials only: an interrupted earlier attempt in the same store has a parent run of its own.
    query = f"tags.role = 'trial' and tags.mlflow.parentRunId = '{parent.info.run_id}'"
    trials = client.search_runs([experiment.experiment_id], query, max_results=1000)
    histories = {r.info.run_id: client.get_metric_history(r.info.run_id, "val_best_top1") for r in trials}
    losses = {r.info.run_id: client.get_metric_history(r.info.run_id, "val_loss") for r in trials}
    epochs = {run_id: len(history) for run_id, history in histories.items()}
    best = max(trials, key=lambda r: r.data.metrics.get("val_best_top1", float("-inf")))
    value, clips = best.data.metrics["val_best_top1"], int(best.data.metrics["val_clips"])
    low, high = wilson_interval(round(value * clips / 100.0), clips)
    setting = ", ".join(f"{k}={best.data.params[k]}" for k in ("model.stem", "model.theta", "data.modality"))
    return {
        "trials": len(trials),
        "trial_epochs": sum(epochs.values()),
        "stopped_early": sum(1 for r in trials if r.data.tags.get("stopped_early") == "true"),
        "best": value,
        "interval": (low, high),
        "clips": clips,
        "best_setting": setting.replace("model.", "").replace("data.", ""),
        "wall_s": wall,
        "epochs_run": sorted(epochs.values()),
        # (time, trial, epoch, val_best_top1, val_loss) of every report, for the replay of ASHA's rule (``replay``).
        "events": [
            (m.timestamp, run_id, m.step, m.value, {x.step: x.value for x in losses[run_id]}.get(m.step, float("nan")))
            for run_id, h in histories.items()
            for m in h
        ],
    }


def replay(events, *, grace: int, rf: float, max_t: int, by: str = "accuracy") -> tuple[int, float]:
    """Ray Tune's own ASHA rule (the bracket of ``ray.tune.schedulers.async_hyperband``, a private class) replayed
    over a search run without ASHA: its reports in the order they arrived, a trial's later reports dropped once the
    rule stops it; ``by`` is what the rule ranks, "accuracy" (val_best_top1) or "loss" (val_loss, lower is better).
    Returns the trial-epochs it would have run and the best val_best_top1 among them. The samples stay those of the
    run without ASHA (with ASHA the sampler would have seen other results and drawn others)."""
    import types

    from ray.tune.schedulers.async_hyperband import _Bracket

    bracket = _Bracket(min_t=grace, max_t=max_t, reduction_factor=rf, s=0)
    stopped, ran, best = set(), {}, float("-inf")
    for _, trial, epoch, value, loss in sorted(events):
        if trial in stopped:
            continue
        ran[trial], best = epoch, max(best, value)
        ranked = value if by == "accuracy" else -loss  # Ray's scheduler negates a metric it minimises
        if bracket.on_result(types.SimpleNamespace(trial_id=trial), epoch, ranked) == "STOP":
            stopped.add(trial)
    return sum(ran.values()), best


def _finished_parent(client: MlflowClient, sweep: str):
    """The FINISHED parent run of ``sweep`` in this store, or None."""
    experiment = client.get_experiment_by_name(f"actrec/{sweep}")
    if experiment is None:
        return None
    runs = client.search_runs([experiment.experiment_id], "tags.role = 'sweep' and attributes.status = 'FINISHED'")
    return runs[0] if runs else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=27, help="Optuna samples per search")
    parser.add_argument("--epochs", type=int, default=9, help="epochs of every trial (ASHA's max_t)")
    parser.add_argument("--search-seeds", default="0,1", help="sampler seeds, one pair of searches each")
    parser.add_argument("--concurrent", type=int, default=2, help="trials at a time")
    parser.add_argument(
        "--asha-metrics",
        default="loss",
        type=lambda text: [m.strip() for m in text.split(",") if m.strip()],
        help="what the ASHA runs rank trials by, one run per value: loss (the sweeps' default), accuracy",
    )
    parser.add_argument("--work-dir", default=None, help="where runs and MLflow databases go (default: a temp dir)")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.search_seeds.split(",") if s.strip()]
    unknown = [m for m in args.asha_metrics if m not in ("loss", "accuracy")]
    if unknown or not args.asha_metrics:
        parser.error(f"--asha-metrics takes loss and/or accuracy, got {args.asha_metrics}")
    spec = dataclasses.replace(load_sweep("cdc_theta").SPEC, optuna_space=SPACE)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="actrec-asha-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[tuple[int, str], dict] = {}
    for seed in seeds:
        for mode in ("off", *args.asha_metrics):
            print(f"# asha_sweep: cdc_theta search, seed {seed}, {args.samples} samples, ASHA {mode}", flush=True)
            results[seed, mode] = run(spec, mode, seed, args, work)
    print(
        f"\n# asha_sweep: cdc_theta Optuna search, {args.samples} samples x {args.epochs} epochs, "
        f"{args.concurrent} at a time; work dir {work}"
    )
    print(
        "| sampler seed | ASHA ranks by | trials | trial-epochs | stopped early | best val_best_top1 [95%] | "
        "best setting | wall (s) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (seed, mode), r in results.items():
        low, high = r["interval"]
        print(
            f"| {seed} | {'(no ASHA)' if mode == 'off' else mode} | {r['trials']} | {r['trial_epochs']} | "
            f"{r['stopped_early']} | {r['best']:.1f} [{low:.1f}, {high:.1f}] (n={r['clips']}) | {r['best_setting']} | "
            f"{r['wall_s']:.0f} |"
        )
    for metric in args.asha_metrics:
        for seed in seeds:
            off, on = results[seed, "off"], results[seed, metric]
            inside = off["interval"][0] <= on["best"] <= off["interval"][1]
            print(
                f"seed {seed}, ASHA by {metric}: ASHA / no ASHA trial-epochs "
                f"{on['trial_epochs'] / off['trial_epochs']:.2f}, wall {on['wall_s'] / off['wall_s']:.2f}; ASHA best "
                f"{on['best']:.1f} {'inside' if inside else 'outside'} the no-ASHA best's interval"
            )
        pooled_on = sum(results[s, metric]["trial_epochs"] for s in seeds)
        pooled_off = sum(results[s, "off"]["trial_epochs"] for s in seeds)
        print(f"pooled over seeds, ASHA by {metric}: ASHA / no ASHA trial-epochs {pooled_on / pooled_off:.2f}")
    print("\nepochs each trial ran with ASHA (its rungs at 1, 3, 9, ...): trials per count")
    for metric in args.asha_metrics:
        for seed in seeds:
            counts = results[seed, metric]["epochs_run"]
            print(
                f"seed {seed}, by {metric}: "
                + ", ".join(f"{n} epoch(s): {counts.count(n)}" for n in sorted(set(counts)))
            )
    print("\nafter one epoch (no ASHA), trials per val_best_top1 (the most common values; chance is 12.5%)")
    for seed in seeds:
        first = [round(v, 1) for _, _, epoch, v, _ in results[seed, "off"]["events"] if epoch == 1]
        common = collections.Counter(first).most_common(3)
        print(f"seed {seed}: " + ", ".join(f"{v}%: {n}" for v, n in common) + f" (of {len(first)})")
    print(
        "\nRay's ASHA rule replayed on each search without ASHA (its samples, its reports in arrival order): "
        "trial-epochs as a fraction of the run without ASHA, and the best val_best_top1 among what would have run"
    )
    settings = [(1, 2), (1, 3), (1, 4), (2, 3), (3, 3)]
    print("| sampler seed | ranked by | " + " | ".join(f"grace {g}, rf {rf}" for g, rf in settings) + " |")
    print("|---|---|" + "---|" * len(settings))
    for by in ("accuracy", "loss"):
        for seed in seeds:
            off = results[seed, "off"]
            cells = []
            for grace, rf in settings:
                spent, best = replay(off["events"], grace=grace, rf=rf, max_t=args.epochs, by=by)
                cells.append(f"{spent / off['trial_epochs']:.2f} ({best:.1f})")
            print(f"| {seed} | {by} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
