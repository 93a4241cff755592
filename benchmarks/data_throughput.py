"""Data-throughput benchmark: clips per second from the same tar shards on the same number of CPU cores.

(a) a single-process decord loop (the decode bound), (b) a torch ``DataLoader`` with decord workers over random
access into the tars (what MMAction2-style file-per-clip loaders do), (c) actrec's Ray Data pipeline
(``build_dataset``) streamed into one Ray Train ``TorchTrainer`` worker. Every method does the same per-clip work:
read the member bytes from a shard, decode with decord, TSN training sampling (Wang et al., ECCV 2016, Sec. 3.2),
random crop and normalisation -- (a) and (b) call ``actrec.data.pipeline.load_clip`` (float32 out of the decode
process), (c) runs the pipeline's own decode tasks (uint8 rows) and normalises in the Train worker
(``model_inputs``), as the train loop does. Every method passes over the same train split in training order; a pass
(epoch) includes its start-up: (b) forks its workers per pass (``persistent_workers=False``), (c) starts its
streaming execution per pass (and, on the first pass, its decode worker processes); starting Ray and the Train
worker is not timed.

Target: (c) >= (b) and (c) >= 0.8 x cores x (a).

    python benchmarks/data_throughput.py                 # cached synthetic set of 128 px, 64-frame clips
    python benchmarks/data_throughput.py --quick         # smoke run, under a minute
    python benchmarks/data_throughput.py --paper-size    # the papers' clips: 32 frames, short side 256, 224 crop
    python benchmarks/data_throughput.py --root DIR      # a prepared dataset (index.json + shards)

The exit code is 0 whether or not the targets are met (this is a measurement), non-zero on errors.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

# Ray Train V2 (Ray 2.60's default) unless the environment says otherwise; chosen before ray.train is imported.
os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from actrec.data.clips import member_for  # noqa: E402
from actrec.data.config import DATASETS, DataConfig  # noqa: E402
from actrec.data.pipeline import (  # noqa: E402
    build_dataset,
    load_clip,
    model_inputs,
    prepare_root,
    split_valid_inputs,
)
from actrec.data.shards import META_EXT, load_index, split_shards  # noqa: E402
from actrec.tune.cluster import environ_default, idle_workers_env  # noqa: E402

# Default synthetic set: larger clips than the sweep's tiny ones, so decoding dominates as on real video;
# 2304 samples, 1728 of them in the cross-subject train split (~15-25 s per method on 2 cores). Generated once
# (~8 min on 2 cores) and cached under $ACTREC_CACHE / ~/.cache/actrec.
DEFAULT_SYNTH = {"synth_size": 128, "synth_frames": 64, "synth_repeats": 12, "samples_per_shard": 32}
DEFAULT_CLIP = (16, 112, 96)  # T, resize (short side), crop
# --quick: the sweep's default synthetic set (64 px, 16 frames; usually cached already) and smaller clips.
QUICK_SYNTH = {"synth_size": 64, "synth_frames": 16, "synth_repeats": 2, "samples_per_shard": 64}
QUICK_CLIP = (8, 48, 40)
# --paper-size: the papers' training clips (MFST, De+Recouple, EPAM-Net: 32 frames, short side 256, 224 x 224 crop)
# from a synthetic set of 256 px, 64-frame clips (192 samples, 144 in the train split; ~10 min to generate on 2 cores).
PAPER_SYNTH = {"synth_size": 256, "synth_frames": 64, "synth_repeats": 1, "samples_per_shard": 16}
PAPER_CLIP = (32, 256, 224)
TARGET_PER_CORE = 0.8  # (c) must reach this fraction of cores x (a)


@dataclasses.dataclass(frozen=True)
class ClipRef:
    """Where one clip's video member lies inside its tar shard: data offset and size in bytes."""

    member: str  # member type, e.g. "rgb.mp4"
    path: str
    offset: int
    size: int
    label: int
    frame_size: tuple[int, int]  # stored (height, width), from the sample's metadata as the pipeline reads it


@dataclasses.dataclass(frozen=True)
class Pass:
    """One pass (epoch) of a method: clips delivered, wall seconds, seconds until its first batch."""

    clips: int
    seconds: float
    first_batch_s: float


@dataclasses.dataclass(frozen=True)
class Measurement:
    """All passes of one method; its figure is total clips over total seconds (start-ups included)."""

    name: str
    passes: tuple[Pass, ...]

    @property
    def clips(self) -> int:
        return sum(p.clips for p in self.passes)

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.passes)

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.seconds


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="", help="prepared dataset (index.json + shards); default: synthetic")
    parser.add_argument(
        "--cores",
        type=int,
        default=len(usable_cpus()),
        help="cores for (b) and (c) (default: all usable); fewer than all pins the whole run to them",
    )
    parser.add_argument(
        "--clips", type=int, default=0, help="clips per method (0: one pass over the train split; more: more passes)"
    )
    parser.add_argument(
        "--num-frames",
        type=int,
        default=None,
        help=f"T, frames per clip (default {DEFAULT_CLIP[0]}; --quick {QUICK_CLIP[0]})",
    )
    parser.add_argument(
        "--resize",
        type=int,
        default=None,
        help=f"decoded short side (default {DEFAULT_CLIP[1]}; --quick {QUICK_CLIP[1]})",
    )
    parser.add_argument(
        "--crop-size",
        type=int,
        default=None,
        help=f"S, square crop (default {DEFAULT_CLIP[2]}; --quick {QUICK_CLIP[2]})",
    )
    parser.add_argument("--batch-size", type=int, default=16, help="clips per batch for (b) and (c) (default 16)")
    parser.add_argument("--modality", default="rgb", choices=("rgb", "depth"), help="which video member (default rgb)")
    parser.add_argument("--protocol", default="", help="split protocol of the index (default: the dataset's first)")
    parser.add_argument("--quick", action="store_true", help="small smoke run (< 1 min)")
    parser.add_argument(
        "--paper-size",
        action="store_true",
        help=f"the papers' clips (T, short side, crop {PAPER_CLIP}) from a 256 px synthetic set of its own",
    )
    parser.add_argument("--methods", default="abc", help="which methods to run (default abc)")
    tuning = parser.add_argument_group("settings of (c); defaults are actrec's own")
    tuning.add_argument("--decode-cpus", type=float, default=None, help="data.decode_cpus (default: DataConfig's)")
    tuning.add_argument(
        "--decode-batch-size", type=int, default=None, help="data.decode_batch_size (default: DataConfig's)"
    )
    tuning.add_argument(
        "--prefetch-batches", type=int, default=1, help="iter_torch_batches prefetch_batches (default 1)"
    )
    tuning.add_argument(
        "--local-shuffle-buffer",
        type=int,
        default=64,
        help="iter_torch_batches local_shuffle_buffer_size (default 64, as actrec.train.loop; 0: none)",
    )
    tuning.add_argument(
        "--stats", action="store_true", help="print Ray Data's execution stats of (c)'s last pass (where time goes)"
    )
    tuning.add_argument(
        "--data-context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="ray.data.DataContext attribute set before the dataset is built, e.g. "
        "op_resource_reservation_enabled=false or target_max_block_size=16777216 (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.quick and args.paper_size:
        parser.error("--quick and --paper-size are two different sizes: pick one")
    clip = QUICK_CLIP if args.quick else PAPER_CLIP if args.paper_size else DEFAULT_CLIP
    for name, default in zip(("num_frames", "resize", "crop_size"), clip, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.cores < 1 or args.clips < 0 or args.batch_size < 1 or args.prefetch_batches < 0:
        parser.error("--cores and --batch-size must be >= 1, --clips and --prefetch-batches >= 0")
    if not args.methods or set(args.methods) - set("abc"):
        parser.error(f"--methods must be letters from 'abc', got {args.methods!r}")
    return args


def usable_cpus() -> list[int]:
    """CPU ids this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def pin_to_cores(cores: int) -> list[int]:
    """Restrict this process (and every process it starts: loader workers, Ray) to the first ``cores`` CPUs."""
    cpus = usable_cpus()
    if cores > len(cpus):
        raise SystemExit(f"--cores {cores}: only {len(cpus)} CPUs are usable here")
    if cores < len(cpus):
        os.sched_setaffinity(0, cpus[:cores])
    return cpus[:cores]


def data_config(args: argparse.Namespace) -> DataConfig:
    """The DataConfig of the run: the synthetic set (generated on first use) or the dataset under ``--root``."""
    fields: dict[str, Any] = {
        "modality": args.modality,
        "num_frames": args.num_frames,
        "resize": args.resize,
        "crop_size": args.crop_size,
    }
    if args.protocol:
        fields["protocol"] = args.protocol
    if args.decode_cpus is not None:
        fields["decode_cpus"] = args.decode_cpus
    if args.decode_batch_size is not None:
        fields["decode_batch_size"] = args.decode_batch_size
    if not args.root:
        synth = QUICK_SYNTH if args.quick else PAPER_SYNTH if args.paper_size else DEFAULT_SYNTH
        return DataConfig(**fields, **synth)
    root = Path(args.root).expanduser().resolve()
    index = load_index(root)
    dataset = index.get("dataset", "")
    if dataset not in DATASETS:
        raise SystemExit(f"{root / 'index.json'} names dataset {dataset!r}; known: {sorted(DATASETS)}")
    if dataset == "synthetic":
        # A synthetic root is checked against its generator parameters, so take them from its index.
        params = dict(index["generator"]["params"])
        fields["samples_per_shard"] = params.pop("samples_per_shard")
        fields.update({f"synth_{k}": v for k, v in params.items()})
    return DataConfig(dataset=dataset, root=str(root), **fields)


def train_clips(root: Path, cfg: DataConfig) -> tuple[list[ClipRef], list[str]]:
    """The train split's video members, located from the tar headers, and the shards they lie in."""
    index = load_index(root)
    ext = member_for(index, cfg.modality)
    if not ext.endswith(".mp4"):
        raise SystemExit(f"the benchmark measures decord video members; {cfg.modality} is stored as {ext}")
    size_key = "depth_size" if ext.startswith("depth") else "rgb_size"
    default_size = tuple(int(v) for v in index.get("frame_size", (0, 0)))
    clips: list[ClipRef] = []
    paths = []
    for shard in split_shards(index, cfg.protocol, "train"):
        path = str(root / shard["path"])
        labels = {s["key"]: int(s["label"]) for s in shard["samples"]}
        paths.append(path)
        found: dict[str, tarfile.TarInfo] = {}
        with tarfile.open(path, mode="r:") as tar:
            for info in tar.getmembers():
                key, _, member_ext = info.name.partition(".")
                if key not in labels:
                    continue
                if member_ext == ext:
                    found[key] = info
                elif member_ext == META_EXT and key in found:  # metadata is written after the sample's media
                    handle = tar.extractfile(info)
                    meta = json.loads(handle.read()) if handle else {}
                    height, width = (int(v) for v in meta.get(size_key, default_size))
                    media = found[key]
                    clips.append(ClipRef(ext, path, media.offset_data, media.size, labels[key], (height, width)))
    if not clips:
        raise SystemExit(f"no complete {ext} members of the train split found under {root}")
    return clips, paths


def read_member(ref: ClipRef) -> bytes:
    """Random access into the tar: open, seek to the member's data, read it (one open per clip, as per file)."""
    with open(ref.path, "rb") as handle:
        handle.seek(ref.offset)
        data = handle.read(ref.size)
    if len(data) != ref.size:
        raise OSError(f"{ref.path}: short read at {ref.offset} ({len(data)} of {ref.size} bytes)")
    return data


def training_passes(clips: Sequence[ClipRef], count: int, seed: int) -> list[list[ClipRef]]:
    """``count`` clips in training order: shuffled passes over the split, the last one cut short."""
    rng = np.random.default_rng(seed)
    passes = []
    while count > 0:
        order = [clips[i] for i in rng.permutation(len(clips))[:count]]
        passes.append(order)
        count -= len(order)
    return passes


class TarMemberClips(Dataset):
    """Map-style dataset of clips addressed by (shard, offset, size): a file-per-clip loader over the tars."""

    def __init__(self, clips: Sequence[ClipRef], cfg: DataConfig) -> None:
        self.clips = list(clips)
        self.cfg = cfg
        self._rng: np.random.Generator | None = None  # created in each worker, after the fork

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if self._rng is None:
            self._rng = np.random.default_rng()
        ref = self.clips[i]
        data = read_member(ref)
        video = load_clip(data, self.cfg, training=True, rng=self._rng, frame_size=ref.frame_size, member=ref.member)
        return {"video": video, "label": ref.label}


class Progress:
    """Prints ``(x) seen/total clips, rate`` about five times per method."""

    def __init__(self, tag: str, total: int, stream: TextIO | None = None) -> None:
        self.tag, self.total, self.stream = tag, total, stream
        self.step = max(1, total // 5)
        self.started = time.perf_counter()
        self.shown = 0

    def update(self, seen: int) -> None:
        if seen // self.step > self.shown or seen == self.total:
            self.shown = seen // self.step
            rate = seen / (time.perf_counter() - self.started)
            print(f"  {self.tag} {seen}/{self.total} clips, {rate:.1f} clips/s", file=self.stream, flush=True)


def measure_decode_loop(passes: Sequence[Sequence[ClipRef]], cfg: DataConfig) -> Measurement:
    """(a) one process, one clip after another: read, decode, sample, crop, normalise."""
    rng = np.random.default_rng()
    progress = Progress("(a)", sum(len(p) for p in passes))
    results, seen = [], 0
    for order in passes:
        started, first = time.perf_counter(), 0.0
        for ref in order:
            load_clip(read_member(ref), cfg, training=True, rng=rng, frame_size=ref.frame_size, member=ref.member)
            first = first or time.perf_counter() - started
            seen += 1
            progress.update(seen)
        results.append(Pass(len(order), time.perf_counter() - started, first))
    return Measurement("(a) decord loop, 1 process", tuple(results))


def measure_dataloader(
    passes: Sequence[Sequence[ClipRef]], cfg: DataConfig, *, cores: int, batch_size: int
) -> Measurement:
    """(b) torch DataLoader with ``cores`` worker processes, started afresh for every pass (timed)."""
    progress = Progress("(b)", sum(len(p) for p in passes))
    results, seen = [], 0
    for order in passes:
        started, first, delivered = time.perf_counter(), 0.0, 0
        loader = DataLoader(
            TarMemberClips(order, cfg),
            batch_size=batch_size,
            shuffle=False,  # ``order`` is already the shuffled pass, the same as (a)'s
            num_workers=cores,
            persistent_workers=False,
        )
        for batch in loader:
            first = first or time.perf_counter() - started
            delivered += len(batch["label"])
            progress.update(seen + delivered)
        seen += delivered
        results.append(Pass(delivered, time.perf_counter() - started, first))
    return Measurement(f"(b) torch DataLoader, {cores} workers", tuple(results))


def ray_train_worker(config: dict[str, Any]) -> None:
    """Ray Train worker of (c): stream the train shard until ``clips`` valid clips arrived; report the passes."""
    import ray.train

    torch.set_num_threads(1)
    shard = ray.train.get_dataset_shard("train")
    target = config["clips"]
    # The real stdout: Train's patched print would log every line twice (logger and stream).
    progress = Progress("(c)", target, stream=sys.__stdout__)
    passes, seen, invalid, row_bytes, rows = [], 0, 0, 0, 0
    while seen < target:  # more clips than one pass: further epochs, as training would run them
        started, first, delivered = time.perf_counter(), 0.0, 0
        batches = shard.iter_torch_batches(
            batch_size=config["batch_size"],
            prefetch_batches=config["prefetch_batches"],
            local_shuffle_buffer_size=config["local_shuffle_buffer"] or None,
        )
        for batch in batches:
            first = first or time.perf_counter() - started
            row_bytes += sum(t.element_size() * t.numel() for t in batch.values())
            rows += len(batch["valid"])
            inputs, _, _ = split_valid_inputs(batch)
            model_inputs(inputs, config["data"])  # uint8 rows -> float32 model inputs, as the train loop does
            valid = int(batch["valid"].sum())
            delivered += valid
            invalid += len(batch["valid"]) - valid
            progress.update(min(seen + delivered, target))
            if seen + delivered >= target:
                break
        if not delivered:
            raise RuntimeError("a pass over the train split delivered no valid clip")
        seen += delivered
        passes.append({"clips": delivered, "seconds": time.perf_counter() - started, "first_batch_s": first})
    if config["stats"]:
        print(f"  (c) Ray Data stats of the last pass:\n{shard.stats()}", file=sys.__stdout__, flush=True)
    # Peak resident memory of this worker process (Linux: KiB): decoded rows, the prefetch and shuffle buffers.
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    metrics = {"passes": passes, "invalid": invalid, "bytes_per_clip": row_bytes / max(rows, 1), "peak_mib": peak_mib}
    # Ray Train V2 keeps reported metrics only together with a checkpoint, so attach a one-file one.
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "passes.json").write_text(json.dumps(metrics))
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))


def set_data_context(assignments: Sequence[str]) -> dict[str, Any]:
    """Apply ``KEY=VALUE`` overrides to the current ray.data.DataContext (values parsed as bool/int/float/str)."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    applied = {}
    for item in assignments:
        key, sep, text = item.partition("=")
        if not sep or not hasattr(ctx, key):
            raise SystemExit(f"--data-context: {item!r} is not KEY=VALUE of a ray.data.DataContext attribute")
        value: Any = text
        if text.lower() in ("true", "false"):
            value = text.lower() == "true"
        else:
            for cast in (int, float):
                try:
                    value = cast(text)
                    break
                except ValueError:
                    pass
        setattr(ctx, key, value)
        applied[key] = value
    return applied


def measure_ray_pipeline(args: argparse.Namespace, cfg: DataConfig, clips: int) -> Measurement:
    """(c) build_dataset(cfg, "train", training=True) into one TorchTrainer worker on a Ray of ``cores`` CPUs."""
    import ray
    import ray.data
    import ray.train
    from ray.train.torch import TorchTrainer

    # cores + 1 logical CPUs: the Train worker reserves one (it only moves batches, like (b)'s main process) and
    # Ray Data's decode tasks share the other ``cores``. With a fractional worker reservation Ray Data would
    # start with only floor(cores - fraction) CPUs: Ray 2.60's autoscaling coordinator hands out leftover CPUs
    # in whole units and scales up only after 10 s.
    # Ray keeps the decode tasks' worker processes between passes as actrec's own Ray nodes do (a value set in the
    # environment wins: RAY_num_workers_soft_limit=-1 is Ray's default, which restarts them every pass).
    with environ_default(**idle_workers_env(args.cores + 1)):
        idle_workers = os.environ["RAY_num_workers_soft_limit"]
        ray.init(num_cpus=args.cores + 1, include_dashboard=False, log_to_driver=True)
    storage = tempfile.mkdtemp(prefix="actrec-bench-")
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        applied = set_data_context(args.data_context)
        print(
            f"  (c) data.decode_cpus={cfg.decode_cpus}, data.decode_batch_size={cfg.decode_batch_size}, "
            f"prefetch_batches={args.prefetch_batches}, local_shuffle_buffer_size={args.local_shuffle_buffer}, "
            f"DataContext overrides: {applied or 'none'}, RAY_num_workers_soft_limit={idle_workers}",
            flush=True,
        )
        trainer = TorchTrainer(
            ray_train_worker,
            train_loop_config={
                "clips": clips,
                "batch_size": args.batch_size,
                "prefetch_batches": args.prefetch_batches,
                "local_shuffle_buffer": args.local_shuffle_buffer,
                "stats": args.stats,
                "data": cfg,
            },
            scaling_config=ray.train.ScalingConfig(num_workers=1, resources_per_worker={"CPU": 1}),
            run_config=ray.train.RunConfig(name="data_throughput", storage_path=storage),
            datasets={"train": build_dataset(cfg, "train", training=True)},
        )
        fit_started = time.perf_counter()
        result = trainer.fit()
        fit_seconds = time.perf_counter() - fit_started
    finally:
        ray.shutdown()
        shutil.rmtree(storage, ignore_errors=True)
    if result.error is not None or not result.metrics:
        raise RuntimeError(f"(c) the Train run reported nothing: {result.error}")
    if result.metrics["invalid"]:
        print(f"  (c) warning: {result.metrics['invalid']} rows came back valid=False (undecodable)", flush=True)
    print(f"  (c) trainer.fit() took {fit_seconds:.1f}s including Train start-up and shutdown", flush=True)
    print(
        f"  (c) rows through the object store: {result.metrics['bytes_per_clip'] / 2**20:.2f} MiB per clip (every "
        f"column, as the Train worker receives them); the Train worker's peak resident memory "
        f"{result.metrics['peak_mib']:.0f} MiB",
        flush=True,
    )
    passes = tuple(Pass(int(p["clips"]), p["seconds"], p["first_batch_s"]) for p in result.metrics["passes"])
    return Measurement(f"(c) Ray Data -> Train worker, {args.cores} CPUs", passes)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def warm_page_cache(paths: Sequence[str]) -> int:
    """Read every shard once so that no method pays for the first read from disk; returns the bytes read."""
    total = 0
    for path in paths:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 24):
                total += len(chunk)
    return total


def report_lines(results: dict[str, Measurement], cores: int) -> Iterator[str]:
    """The result table, per-pass figures when there are several passes, the ratios and the verdicts."""
    yield f"{'method':40s} {'clips':>6s} {'seconds':>8s} {'first batch s':>14s} {'clips/s':>9s}"
    for m in results.values():
        yield f"{m.name:40s} {m.clips:6d} {m.seconds:8.2f} {m.passes[0].first_batch_s:14.2f} {m.clips_per_s:9.1f}"
        if len(m.passes) > 1:
            for i, p in enumerate(m.passes, 1):
                rate = p.clips / p.seconds
                yield f"{'  pass ' + str(i):40s} {p.clips:6d} {p.seconds:8.2f} {p.first_batch_s:14.2f} {rate:9.1f}"
    a, b, c = (results[k].clips_per_s if k in results else None for k in "abc")
    if a is not None and b is not None:
        yield f"(b)/(a) per core = {b:.1f}/({a:.1f} x {cores}) = {b / (a * cores):.2f}"
    if a is not None and c is not None:
        per_core = c / (a * cores)
        verdict = "PASS" if per_core >= TARGET_PER_CORE else "MISS"
        yield f"(c)/(a) per core = {c:.1f}/({a:.1f} x {cores}) = {per_core:.2f}  target >= {TARGET_PER_CORE}: {verdict}"
    if b is not None and c is not None:
        yield f"(c)/(b) = {c:.1f}/{b:.1f} = {c / b:.2f}  target >= 1.0: {'PASS' if c >= b else 'MISS'}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    pinned = pin_to_cores(args.cores)
    torch.set_num_threads(1)  # one decode thread per process everywhere: nobody oversubscribes the cores
    cfg = data_config(args)
    root = prepare_root(cfg)
    index = load_index(root)
    clips, shard_paths = train_clips(root, cfg)
    count = args.clips or len(clips)
    passes = training_passes(clips, count, seed=0)
    shard_bytes = warm_page_cache(shard_paths)

    print(
        f"machine: {args.cores} of {os.cpu_count()} cores (CPUs {pinned}), {cpu_model()}, "
        f"Python {platform.python_version()}, "
        f"torch {torch.__version__}; load average {load_average()} (other processes share the cores when high)"
    )
    sizes = sorted({f"{c.frame_size[0]}x{c.frame_size[1]}" for c in clips})
    stored = ", ".join(sizes[:3]) + (f" and {len(sizes) - 3} more sizes" if len(sizes) > 3 else "")
    frames = f", {index['frames']} frames" if "frames" in index else ""
    print(
        f"shards: {root} ({index['dataset']}, protocol {cfg.protocol}): train split {len(clips)} clips in "
        f"{len(shard_paths)} shards, {shard_bytes / 2**20:.0f} MiB, stored {stored}{frames}"
    )
    print(
        f"clip: {cfg.modality}, T={cfg.num_frames} (TSN training sampling), decoded short side {cfg.resize}, random "
        f"crop {cfg.crop_size} -> (3, {cfg.num_frames}, {cfg.crop_size}, {cfg.crop_size}); {count} clips "
        f"({len(passes)} pass{'es' if len(passes) > 1 else ''}) per method, batch size {args.batch_size}",
        flush=True,
    )

    results: dict[str, Measurement] = {}
    if "a" in args.methods:
        print(f"(a) single-process decord loop; load average {load_average()}", flush=True)
        results["a"] = measure_decode_loop(passes, cfg)
    if "b" in args.methods:
        print(f"(b) torch DataLoader, num_workers={args.cores}; load average {load_average()}", flush=True)
        results["b"] = measure_dataloader(passes, cfg, cores=args.cores, batch_size=args.batch_size)
    if "c" in args.methods:
        print(
            f"(c) Ray Data into a Ray Train worker, ray.init(num_cpus={args.cores} + 1 for the Train worker); "
            f"load average {load_average()}"
        )
        results["c"] = measure_ray_pipeline(args, cfg, count)
    print(f"load average after the runs {load_average()}\n")
    for line in report_lines(results, args.cores):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
