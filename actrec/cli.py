"""``actrec`` command line: data generation, reports, and the model registry.

    actrec data synth [--out DIR] [--seed N] [--classes 8] ...   write the synthetic RGB-D shards
    actrec data prepare DATASET --root DIR --out DIR [...]      shard a real dataset from its published layout
    actrec data adapters                                         list the datasets prepare reads, with options
    actrec report cdc_theta [--tracking-uri URI] [--out reports]  rebuild a sweep's report from MLflow (+ index)
    actrec report --all [--tracking-uri URI] [--out reports]      every sweep's report + reports/index.html
    actrec models                                                list registered models and their sizes
    actrec config [key=value ...]                                print a resolved experiment config
    actrec pretrain-frames [--out FILE] [--epochs 20] key=value ... label-free per-frame ViT pretraining

Sweeps are scripts: ``python sweeps/<table>.py --help``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence


def _data_synth(args: argparse.Namespace) -> int:
    from actrec.data.config import DataConfig
    from actrec.data.synth import ensure_synthetic, generate_synthetic

    # DataConfig validates the arguments (naming the option's data.synth_* field) for both paths.
    cfg = DataConfig(
        synth_num_classes=args.classes,
        synth_subjects=args.subjects,
        synth_views=args.views,
        synth_repeats=args.repeats,
        synth_frames=args.frames,
        synth_size=args.size,
        synth_seed=args.seed,
        samples_per_shard=args.samples_per_shard,
        # Sampling does not affect what is written; keep it valid (<= --frames) so only real errors are reported.
        num_frames=max(1, min(args.frames, DataConfig.num_frames)),
    )
    if args.out:
        out = os.path.abspath(os.path.expanduser(args.out))
        if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
            raise FileExistsError(f"--out {out} exists and is not an empty directory; choose a new one")
        print(f"wrote {generate_synthetic(out, **cfg.synth_params())}")
        return 0
    print(f"synthetic dataset ready at {ensure_synthetic(cfg)}")
    return 0


def _data_prepare(args: argparse.Namespace) -> int:
    from actrec.data.adapters import create_adapter
    from actrec.data.prepare import prepare_dataset

    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--option must be KEY=VALUE, got {item!r}")
        options[key.strip()] = value.strip()
    adapter = create_adapter(args.dataset, args.root, **options)
    summary = prepare_dataset(
        adapter,
        args.out,
        samples_per_shard=args.samples_per_shard,
        short_side=args.short_side,
        crf=args.crf,
        workers=args.workers,
        strict=args.strict,
    )
    print(f"prepared {summary.num_samples} samples at {summary.out} ({len(summary.skipped)} skipped)")
    print(f"train with: --data-root {summary.out}  (the dataset, {args.dataset}, is read from its index.json)")
    return 0


def _data_adapters(args: argparse.Namespace) -> int:
    from actrec.data.adapters import adapter_fields, load_adapters
    from actrec.data.config import DATASETS

    for name, cls in load_adapters().items():
        info = DATASETS[name]
        print(f"{name}: {info.num_classes} classes, protocols {', '.join(info.protocols)}")
        for option, (kind, default) in adapter_fields(cls).items():
            kind_name = getattr(kind, "__name__", str(kind))
            print(f"    --option {option}=...  ({kind_name}, default {default!r})")
    return 0


def _report(args: argparse.Namespace) -> int:
    from actrec.track.uri import resolve_tracking_uri

    tracking_uri = resolve_tracking_uri(args.tracking_uri)
    store = tracking_uri[len("sqlite:///") :] if tracking_uri.startswith("sqlite:///") else ""
    if store and not os.path.isfile(store):  # reading must not create an empty store at a typo'd path
        raise FileNotFoundError(f"no MLflow store at {store} (--tracking-uri {tracking_uri}); run a sweep first")
    if args.all:
        from actrec.report.index import write_all

        done = write_all(tracking_uri, out_dir=args.out)
        for paths in done.written.values():
            print("\n".join(f"wrote {p}" for p in paths))
        for sweep, message in done.errors.items():
            print(f"actrec: error: report {sweep}: {message}", file=sys.stderr)
        print("\n".join(f"wrote {p}" for p in done.index))
        print(f"{len(done.written)} report(s) regenerated, {len(done.errors)} failed")
        return 1 if done.errors else 0
    from actrec.report.index import write_index
    from actrec.report.table import write_report

    paths = write_report(tracking_uri, args.sweep, out_dir=args.out, parent_run_id=args.run_id)
    # The index sums every report's verdicts: refresh it with this one's, as the sweep driver does.
    paths += write_index(args.out)
    print("\n".join(f"wrote {p}" for p in paths))
    return 0


def _models(args: argparse.Namespace) -> int:
    from actrec.models import list_models
    from actrec.report.table import reference_parameters

    for name in list_models():  # counted on the meta device: no storage, so paper-size models take milliseconds
        print(f"{name:16s} {reference_parameters({'model.name': name}):8.2f}M parameters (paper size, default config)")
    return 0


def _config(args: argparse.Namespace) -> int:
    from actrec.config import flatten, from_flat, parse_overrides

    for key, value in flatten(from_flat(parse_overrides(args.overrides))).items():
        print(f"{key}={','.join(map(str, value)) if isinstance(value, tuple) else value}")
    return 0


def _pretrain_frames(args: argparse.Namespace) -> int:
    from actrec.config import from_flat, parse_overrides
    from actrec.train.frame_pretrain import FramePretrainConfig, pretrain_frames, pretrained_path

    cfg = from_flat(parse_overrides(args.overrides))
    pretrain = FramePretrainConfig(
        epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay, batch_size=args.batch_size, seed=args.seed
    )
    out = args.out or pretrained_path(args.storage_path, cfg, pretrain)
    path = pretrain_frames(cfg, out, pretrain)
    print(f"start a run from it with model.spatial_init={path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="actrec", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--verbose", action="store_true", help="print the traceback with an error message")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="datasets").add_subparsers(dest="data_command", required=True)
    synth = data.add_parser(
        "synth",
        help="write the synthetic RGB-D shards (cached by parameters)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    synth.add_argument("--out", default="", help="output directory (default: the cache that sweeps use)")
    synth.add_argument("--classes", type=int, default=8)
    synth.add_argument("--subjects", type=int, default=8)
    synth.add_argument("--views", type=int, default=3)
    synth.add_argument("--repeats", type=int, default=2)
    synth.add_argument("--frames", type=int, default=16)
    synth.add_argument("--size", type=int, default=64)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--samples-per-shard", type=int, default=64)
    synth.set_defaults(func=_data_synth)

    prepare = data.add_parser(
        "prepare",
        help="shard a dataset from its published layout (resumable; see `actrec data adapters`)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    prepare.add_argument("dataset", help="dataset name, e.g. ntu_rgbd_60, isogd, ucf101 (`actrec data adapters`)")
    prepare.add_argument("--root", required=True, help="the dataset as downloaded (its published layout)")
    prepare.add_argument("--out", required=True, help="output directory for index.json + shards")
    prepare.add_argument("--workers", type=int, default=1, help="encoding processes (one shard each at a time)")
    prepare.add_argument("--short-side", type=int, default=256, help="scale clips to this short side; 0 keeps size")
    prepare.add_argument("--samples-per-shard", type=int, default=32)
    prepare.add_argument("--crf", type=int, default=18, help="H.264 quality of the RGB stream (lower = better)")
    prepare.add_argument("--strict", action="store_true", help="refuse the dataset if any entry is bad")
    prepare.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="adapter option (repeatable)"
    )
    prepare.set_defaults(func=_data_prepare)

    adapters = data.add_parser("adapters", help="list the datasets `data prepare` reads, their protocols, options")
    adapters.set_defaults(func=_data_adapters)

    report = sub.add_parser(
        "report",
        help="write reports/<sweep>.md/.html from the sweep's MLflow runs (--all: every sweep + index.html)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    which = report.add_mutually_exclusive_group(required=True)
    which.add_argument("sweep", nargs="?", default=None, help="sweep name, e.g. cdc_theta")
    which.add_argument(
        "--all",
        action="store_true",
        help="regenerate the report of every sweep in the store, then <out>/index.html and index.md",
    )
    report.add_argument("--tracking-uri", default=None, help="default $MLFLOW_TRACKING_URI or sqlite:///mlflow.db")
    report.add_argument("--out", default="reports")
    report.add_argument("--run-id", default=None, help="parent run of the sweep (default: the newest; not with --all)")
    report.set_defaults(func=_report)

    models = sub.add_parser("models", help="list registered models with parameter counts")
    models.set_defaults(func=_models)

    pretrain = sub.add_parser(
        "pretrain-frames",
        help="pretrain a model's frame-wise ViT encoder by regressing each frame's pose joints",
        description="Label-free stand-in for an ImageNet-pretrained per-frame encoder (actrec.train.frame_pretrain): "
        "the model's per-frame encoder (its frame_encoder(), actrec/models/protocol.py), with learned absolute "
        "positions, learns to regress every frame's joints of the "
        "training split; the file it writes is a model.spatial_init checkpoint. Sweeps do this themselves for "
        "model.spatial_init=pose_pretrain.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    pretrain.add_argument(
        "overrides",
        nargs="*",
        help="dotted config: model.name=NAME model.size=tiny data.* ... (a model with a per-frame ViT encoder)",
    )
    pretrain.add_argument("--out", default=None, help="checkpoint file (default: the sweeps' cache in --storage-path)")
    pretrain.add_argument("--storage-path", default=os.environ.get("ACTREC_STORAGE", "~/actrec_runs"))
    pretrain.add_argument("--epochs", type=int, default=20)
    pretrain.add_argument("--lr", type=float, default=1e-3, help="AdamW peak learning rate, cosine decay")
    pretrain.add_argument("--weight-decay", type=float, default=0.05)
    pretrain.add_argument("--batch-size", type=int, default=32, help="frames per step")
    pretrain.add_argument("--seed", type=int, default=0)
    pretrain.set_defaults(func=_pretrain_frames)

    config = sub.add_parser("config", help="print the resolved dotted config for overrides")
    config.add_argument(
        "overrides",
        nargs="*",
        help="e.g. model.name=NAME model.size=tiny data.modality=depth (NAME: see actrec models)",
    )
    config.set_defaults(func=_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a mistake in what was asked (a value, a path, a flag) prints one line, ``actrec: error: …``,
    and returns 2 (``--verbose``: with the traceback)."""
    from actrec.errors import EXIT_USAGE, user_errors

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "report" and args.all and args.run_id:
        parser.error("report: --run-id names one sweep's run; it cannot be combined with --all")
    try:
        with user_errors(verbose=args.verbose, prog="actrec"):
            return args.func(args)
    except SystemExit as done:
        if done.code == EXIT_USAGE:
            return EXIT_USAGE
        raise
    except BrokenPipeError:
        # The reader stopped reading (`actrec models | head`): end quietly, as Unix tools do, with SIGPIPE's status;
        # stdout goes to /dev/null so that the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
