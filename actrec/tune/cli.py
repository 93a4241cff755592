"""The sweep scripts' command line: their shared options, ``--resume`` restoring a stored invocation, and ``main``."""

from __future__ import annotations

import argparse
import glob
import os
import signal
import sys
from collections.abc import Callable, Sequence

from actrec.errors import UsageError, user_errors
from actrec.tune.interrupt import SweepInterrupted
from actrec.tune.invocation import (
    explicit_options,
    load_invocation,
    restore_invocation,
)
from actrec.tune.plan import (
    DEFAULT_SAMPLES,
    describe_plan,
    plan_sweep,
)
from actrec.tune.runner import run_sweep
from actrec.tune.spec import SweepSpec

SEARCHES = ("grid", "optuna")


ASHA_MODES = ("auto", "on", "off")
ASHA_METRICS = ("loss", "accuracy")  # --asha-metric: what ASHA ranks trials by at its rungs
COSTS = ("none", "gflops", "params")  # --cost: the second objective of a multi-objective search


FUSIONS = ("checkpoints", "joint")


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default, except an unset one (None), whose help says what unset means."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return action.help if action.default is None else super()._get_help_string(action)


def build_parser(spec: SweepSpec) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"sweeps/{spec.name}.py",
        description=f"{spec.table.paper} {spec.table.table}: {spec.table.title}",
        formatter_class=_DefaultsFormatter,
    )
    parser.add_argument(
        "--profile",
        choices=sorted(spec.profiles),
        default=spec.default_profile,
        help="smoke: minutes, for tests; local: synthetic data on this machine; paper: the paper "
        "recipe on a real dataset (needs --data-root and a GPU cluster)",
    )
    parser.add_argument("--seeds", type=int, default=1, help="replicate every grid cell with seeds 0..N-1")
    parser.add_argument(
        "--search",
        choices=SEARCHES,
        default="grid",
        help="grid: the table's cells; optuna: Optuna TPE over the sweep's search space (--dry-run prints it)",
    )
    parser.add_argument(
        "--num-samples",
        type=int,
        default=None,
        help=f"trials for --search optuna (unset: {DEFAULT_SAMPLES}, or a smaller discrete space's number of settings)",
    )
    parser.add_argument(
        "--search-seed",
        type=int,
        default=None,
        help="seed of --search optuna's sampler (unset: 0); the same seed and results draw the same samples",
    )
    parser.add_argument(
        "--cost",
        choices=COSTS,
        default="none",
        help="with --search optuna: also minimise each trial's cost, its GFLOPs per clip or its parameter count "
        "(Optuna's multi-objective TPE; no ASHA), and report the accuracy/cost Pareto front",
    )
    parser.add_argument(
        "--asha",
        nargs="?",
        const="on",
        default="auto",
        choices=ASHA_MODES,
        help="stop weak trials early with ASHA. auto: on for --search optuna (it looks for the best setting, not a "
        "table of every cell) and for grids whose table allows early stopping, off for exact tables; on (or a bare "
        "--asha) is refused for an exact table's grid",
    )
    parser.add_argument(
        "--asha-metric",
        choices=ASHA_METRICS,
        default=None,
        help="what ASHA ranks trials by at its rungs: loss (the validation cross-entropy; the default, since after "
        "one epoch most trials tie at chance accuracy and accuracy then stops almost none: benchmarks/README.md) or "
        "accuracy (the table's metric); the search itself always maximises the table's metric. Refused where ASHA "
        "does not run; fixed when the sweep starts (a --resume keeps it)",
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        default=None,
        metavar="SWEEP_DIR",
        help="finish an interrupted sweep (default: the newest of this sweep under --storage-path, of --profile if "
        "given) exactly as it was started: its stored flags are restored, and a flag given again with another value "
        "is refused",
    )
    parser.add_argument(
        "--tracking-uri", default=None, help="MLflow tracking URI (default $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)"
    )
    parser.add_argument(
        "--storage-path",
        default=os.environ.get("ACTREC_STORAGE", os.path.expanduser("~/actrec_runs")),
        help="where Tune state and checkpoints go (shared storage on a cluster)",
    )
    parser.add_argument("--report-dir", default="reports", help="where the report files are written")
    parser.add_argument(
        "--data-root",
        action="append",
        default=None,
        metavar="[DATASET=]DIR",
        help="prepared dataset root (index.json + shards), sets data.root; tables over several datasets take one "
        "DATASET=DIR per dataset (repeat the flag), e.g. --data-root nvgesture=/data/nv --data-root thu_read=/data/thu",
    )
    parser.add_argument("--max-concurrent", type=int, default=0, help="cap on concurrent trials (0: from resources)")
    parser.add_argument(
        "--trial-retries",
        type=int,
        default=None,
        metavar="N",
        help="restart a trial whose driver or worker group failed (a lost node) up to N times, from its newest "
        "checkpoint (default: 2 on a joined cluster, 0 on an embedded Ray)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dotted config override applied to every trial, e.g. --set train.epochs=3",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="stream Ray worker logs to the console; tracebacks with error messages"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="resolve and validate every trial, print them (swept keys, resources) and exit: no Ray, nothing written",
    )
    parser.add_argument(
        "--cluster",
        default=None,
        metavar="YAML",
        help="with --dry-run: the Ray cluster YAML whose GPU node type, at its max_workers, the printed cost plan "
        "prices the sweep on (default: the repository's cluster/a100.yaml)",
    )
    if spec.fusion is not None:
        parser.add_argument(
            "--fusion",
            choices=FUSIONS,
            default="checkpoints",
            help="RGB+DEP rows: checkpoints = late score fusion of each RGB and depth trial's best checkpoint, "
            "evaluated after they finish (the paper's two separately trained streams); joint = train the "
            "two-stream model end to end as one more trial (sum of the two streams' losses)",
        )
    return parser


def main(
    spec: SweepSpec,
    argv: Sequence[str] | None = None,
    extend: Callable[[SweepSpec, argparse.Namespace], SweepSpec] | None = None,
    parser: argparse.ArgumentParser | None = None,
) -> str:
    """Run (or resume) the sweep and write its report; returns the report's Markdown path ("" for ``--dry-run``).

    Every trial is planned and validated first (:func:`actrec.tune.plan.plan_sweep`); a mistake in the flags, a
    config value or a data root prints one line, ``error: …``, and exits with status 2 before Ray starts or anything
    is written (``--verbose``: with the traceback). ``--resume`` restores the sweep's stored invocation."""
    parser = parser or build_parser(spec)
    args = parser.parse_args(argv)
    try:
        with user_errors(verbose=args.verbose):
            if args.resume is not None:
                args = restored_invocation(spec, args, parser, argv)
            if extend is not None:
                spec = extend(spec, args)
            plan = plan_sweep(spec, args)
            described = describe_plan(plan, args) if args.dry_run else ""
        if args.dry_run:
            print(described)
            return ""
        return run_sweep(spec, args, plan=plan, argv=argv)
    except SweepInterrupted as interrupted:  # already reported and recorded: exit as the signal's shell status
        raise SystemExit(128 + interrupted.signal_number) from None
    except KeyboardInterrupt:  # before the driver's own handlers were installed
        print("[actrec] SIGINT: sweep stopped before it started; nothing was recorded", file=sys.stderr)
        raise SystemExit(128 + signal.SIGINT) from None


def restored_invocation(
    spec: SweepSpec, args: argparse.Namespace, parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> argparse.Namespace:
    """``--resume [SWEEP_DIR]``: the sweep's stored invocation, with ``args.resume`` its directory; explicit flags
    that contradict it are refused (:func:`actrec.tune.invocation.restore_invocation`)."""
    explicit = explicit_options(parser, argv)
    sweep_dir = _resumable_sweep_dir(spec, args, explicit)
    stored = load_invocation(sweep_dir)
    if stored is None:
        print(f"[actrec] note: {sweep_dir} stores no invocation (an older sweep); resuming with this command's flags")
        restored = argparse.Namespace(**vars(args))
    else:
        restored = restore_invocation(args, explicit, stored, parser=parser)
        print(f"[actrec] resuming {sweep_dir}, started as: {stored.get('command', '?')}")
    restored.resume = sweep_dir
    return restored


def _resumable_sweep_dir(spec: SweepSpec, args: argparse.Namespace, explicit: set[str]) -> str:
    """The directory ``--resume`` names, or the newest sweep of this script under ``--storage-path`` (of
    ``--profile`` when given); UsageError when there is none or it holds no Tune state."""
    from ray import tune

    storage = os.path.abspath(os.path.expanduser(args.storage_path))
    if args.resume != "latest":
        path = os.path.abspath(os.path.expanduser(args.resume))
        if not os.path.isdir(path):
            raise UsageError(f"--resume {args.resume}: no such sweep directory")
    else:
        profiles = [args.profile] if "profile" in explicit else sorted(spec.profiles)
        stamped = []
        for profile in profiles:
            prefix = os.path.join(storage, f"{spec.name}-{profile}-")
            stamped += [(p[len(prefix) :], p) for p in glob.glob(prefix + "*") if os.path.isdir(p)]
        restorable = sorted((stamp, p) for stamp, p in stamped if tune.Tuner.can_restore(p))
        if not restorable:
            which = f"with profile {args.profile} " if "profile" in explicit else ""
            raise UsageError(f"--resume: no earlier {spec.name} sweep {which}under {storage} (--storage-path)")
        path = restorable[-1][1]
    stored = load_invocation(path)  # a sweep dir is named <sweep>-<profile>-<time> (older ones store no invocation)
    owner = stored.get("sweep") if stored else os.path.basename(path).split("-")[0]
    if owner != spec.name:
        raise UsageError(f"--resume {path}: that is a {owner} sweep, not {spec.name}; resume it with its own script")
    if not tune.Tuner.can_restore(path):
        raise UsageError(f"--resume: {path} holds no Tune experiment state to resume (it never started a trial)")
    return path
