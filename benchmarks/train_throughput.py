"""Training throughput: samples per second of each model's training step, eager fp32 against the fast path.

Each model trains on random uint8 clips of its input shape (from the experiment config, so every input a model takes
is there: RGB, RGB-D, EPAM-Net's pose heatmaps), as the data pipeline's rows carry them. A step is what
``actrec.train.loop`` runs: copy the uint8 batch from host memory to the device and turn it into the model's float32
inputs there (``accel.inputs_to_device``: /255, mean/std, channels-last layout), forward and loss
(``training_loss``, under ``accel.autocast``), backward, SGD step. The paths, measured one after another in this
process on the same model and batches:

    fp32        eager fp32, contiguous layout, pageable host batches (the baseline)
    bf16        + train.precision=bf16
    bf16+cl     + train.channels_last (channels-last 3D model and inputs)
    bf16+cl+c   + train.compile (torch.compile; the warm-up steps pay for compilation, the timed steps do not)

and, on a GPU, every non-baseline path copies from pinned host batches (train.pin_memory). The ratio column is each
path's samples/s over the baseline's in the same run.

    python benchmarks/train_throughput.py                        # tiny models, CPU (or the GPU if there is one)
    python benchmarks/train_throughput.py --size paper --batch-size 8 --num-frames 16 --crop-size 112   # on a GPU
    python benchmarks/train_throughput.py --models mfst_base,epam_net --paths fp32,bf16 --steps 20

Models a setting does not fit (e.g. a frame count a model cannot take) are skipped with the reason.
"""

from __future__ import annotations

import argparse
import gc
import platform
import subprocess
import sys
import time
from typing import Any

import torch

from actrec.config import from_flat
from actrec.models import build_model, tiny_overrides
from actrec.models.protocol import training_loss
from actrec.models.registry import model_config
from actrec.train import accel

DEFAULT_MODELS = ("mfst_base", "mfst_base_rgbd", "derecouple", "rpe_stdt", "ctn", "epam_net")
PATHS = {
    "fp32": {},
    "bf16": {"precision": "bf16"},
    "bf16+cl": {"precision": "bf16", "channels_last": True},
    "bf16+cl+c": {"precision": "bf16", "channels_last": True, "compile": True},
}


def modality_of(name: str) -> str:
    if name.endswith("_rgbd"):
        return "rgbd"
    if name == "epam_net":
        return "rgb_pose"
    return "rgb"


def clip_shape(name: str, args: argparse.Namespace) -> tuple[int, int]:
    """(frames, crop size) of the clips: the model's own where its config fixes them (Transformers with position
    embeddings, EPAM-Net's RGB stream), else --num-frames / --crop-size."""
    overrides = tiny_overrides(name) if args.size == "tiny" else {}
    config = model_config(name, **overrides)
    fixed = dict(getattr(config, "rgb_overrides", None) or ())
    frames = getattr(config, "num_frames", fixed.get("num_frames", args.num_frames))
    crop = getattr(config, "image_size", fixed.get("image_size", args.crop_size))
    return int(frames), int(crop)


def experiment(name: str, args: argparse.Namespace, **train: Any):
    frames, crop = clip_shape(name, args)
    flat = {
        "model.name": name,
        "data.modality": modality_of(name),
        "data.num_frames": frames,
        "data.resize": crop,
        "data.crop_size": crop,
        "train.batch_size": args.batch_size,
        **{f"train.{k}": v for k, v in train.items()},
    }
    if args.size == "tiny":
        flat.update({f"model.{k}": v for k, v in tiny_overrides(name).items()})
    return from_flat(flat)


def setup(name: str, path: str, args: argparse.Namespace, device: torch.device):
    """Model ``name`` built for ``path`` on ``device`` with its SGD optimiser: returns ``batch_of(size)`` (random
    uint8 clips and one-hot targets, pinned on the paths that pin) and ``step(batch, target)`` (one training step)."""
    cfg = experiment(name, args, **PATHS[path], pin_memory=path != "fp32")
    torch.manual_seed(0)
    raw = accel.prepare_module(build_model(cfg.model).to(device), cfg.train)
    model = accel.compile_module(raw, cfg.train)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def batch_of(size: int) -> tuple[list[torch.Tensor], torch.Tensor]:
        generator = torch.Generator().manual_seed(0)
        # uint8 clips, as the pipeline's rows carry them (a quarter of float32's bytes to copy)
        batch = [
            torch.randint(0, 256, (size, *shape), generator=generator, dtype=torch.uint8)
            for shape in cfg.data.input_shapes.values()
        ]
        if cfg.train.pin_memory and device.type == "cuda":
            batch = [x.pin_memory() for x in batch]
        target = torch.nn.functional.one_hot(torch.arange(size) % cfg.model.num_classes, cfg.model.num_classes)
        return batch, target.float().to(device)

    def step(batch: list[torch.Tensor], target: torch.Tensor) -> None:
        inputs = accel.inputs_to_device(batch, device, cfg)  # copy, /255 and mean/std on the device, layout
        with accel.autocast(cfg.train, device):
            loss, _ = training_loss(model, model(*inputs), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return batch_of, step


def measure(name: str, path: str, args: argparse.Namespace, device: torch.device) -> tuple[float, int | None]:
    """Samples per second of ``args.steps`` timed training steps of model ``name`` on ``path``, and the peak GPU
    memory allocated by torch over the warm-up and timed steps (bytes; None on a CPU)."""
    batch_of, step = setup(name, path, args, device)
    batch, target = batch_of(args.batch_size)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(args.warmup):
        step(batch, target)
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(args.steps):
        step(batch, target)
    if device.type == "cuda":
        torch.cuda.synchronize()
    rate = args.steps * args.batch_size / (time.perf_counter() - started)
    return rate, torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None


def largest_batch(fits, start: int, limit: int) -> int:
    """The largest batch size in [1, ``limit``] for which ``fits(size)`` holds, assuming it holds up to some size and
    fails above: doubling from ``start`` (halving when ``start`` fails) to bracket it, then bisection; 0 if not even 1
    fits, ``limit`` if ``limit`` fits."""
    size = max(1, min(start, limit))
    if fits(size):
        good, bad = size, None
        while bad is None and good < limit:
            trial = min(2 * good, limit)
            if fits(trial):
                good = trial
            else:
                bad = trial
        if bad is None:
            return good
    else:
        good, bad = 0, size
        while good == 0 and bad > 1:
            trial = bad // 2
            if fits(trial):
                good = trial
            else:
                bad = trial
        if good == 0:
            return 0
    while bad - good > 1:
        middle = (good + bad) // 2
        if fits(middle):
            good = middle
        else:
            bad = middle
    return good


def max_batch(name: str, path: str, args: argparse.Namespace, device: torch.device) -> int:
    """The largest batch of model ``name`` on ``path`` whose training step runs on ``device`` (:func:`largest_batch`
    from ``--batch-size`` up to ``--max-batch-limit``; one step per size tried, after one step of batch 1 so the
    gradients and momentum buffers already hold their memory). A size fails on any ``RuntimeError`` (out of memory,
    a cuDNN / cuBLAS allocation failure, a kernel's 32-bit index limit); the first failure's reason is printed.
    Single-process SGD with momentum: DDP's gradient buckets or another optimiser's state (AdamW: two buffers) take
    more, so leave room before using the figure as ``train.batch_size``."""
    batch_of, step = setup(name, path, args, device)
    step(*batch_of(1))
    reasons: dict[int, str] = {}

    def fits(size: int) -> bool:
        try:
            step(*batch_of(size))
            if device.type == "cuda":
                torch.cuda.synchronize()
            return True
        except RuntimeError as err:
            reasons[size] = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
            return False
        finally:
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()

    found = largest_batch(fits, args.batch_size, args.max_batch_limit)
    above = [size for size in sorted(reasons) if size > found]
    if above:
        print(f"# {name} {path}: batch {above[0]} failed: {reasons[above[0]]}", file=sys.stderr)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated registry names")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, from {', '.join(PATHS)}")
    parser.add_argument("--size", choices=("tiny", "paper"), default="tiny", help="tiny: the CPU-tiny variants")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--num-frames", type=int, default=8, help="frames per clip (models that fix theirs use it)")
    parser.add_argument("--crop-size", type=int, default=32, help="crop size (models that fix theirs use it)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per model and path")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation happens here)")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument(
        "--max-batch",
        default="",
        help="comma-separated paths (of --paths, not compiled ones) whose largest batch that fits is searched for "
        "(doubling from --batch-size, then bisection; one step per size; meant for a GPU)",
    )
    parser.add_argument("--max-batch-limit", type=int, default=1024, help="largest batch size --max-batch tries")
    parser.add_argument("--model-process", action="store_true", help=argparse.SUPPRESS)  # internal: one model
    args = parser.parse_args(argv)
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = [p for p in paths if p not in PATHS]
    if unknown or not paths:
        parser.error(f"--paths: unknown {unknown}; known {list(PATHS)}")
    if args.batch_size < 1 or args.steps < 1 or args.warmup < 0 or args.max_batch_limit < 1:
        parser.error("--batch-size, --steps and --max-batch-limit must be >= 1, --warmup >= 0")
    if paths[0] != "fp32":
        paths.insert(0, "fp32")  # the baseline every ratio is taken against
    searched = [p.strip() for p in args.max_batch.split(",") if p.strip()]
    missing = [p for p in searched if p not in paths]
    if missing:
        parser.error(f"--max-batch: {missing} not among the measured paths {paths}")
    compiled = [p for p in searched if PATHS[p].get("compile")]
    if compiled:
        parser.error(f"--max-batch: {compiled} compile (every batch size tried would compile again); use eager paths")
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.model_process:
        return measure_paths(args.models, paths, searched, args, device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "no GPU"
    print(
        f"# train_throughput: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"{gpu}; torch {torch.__version__}; {args.size} models, batch {args.batch_size}, "
        f"{args.num_frames} frames at {args.crop_size} px; {args.warmup} warm-up + {args.steps} timed steps"
    )
    memory = " (peak GPU memory)" if device.type == "cuda" else ""
    header = [f"{p} samples/s{memory}" for p in paths] + [f"{p}/fp32" for p in paths[1:]]
    header += [f"{p} largest batch (<= {args.max_batch_limit})" for p in searched]
    print("| model | " + " | ".join(header) + " |")
    print("|---" * (len(header) + 1) + "|")
    forwarded = list(argv if argv is not None else sys.argv[1:])
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        try:
            experiment(name, args)
        except (ValueError, KeyError) as err:
            print(f"| {name} | skipped: {err} |")
            continue
        # One process per model, all its paths in it (each ratio is against the baseline of the same process); a
        # path that kills its process (torch.compile has crashed the interpreter on CPU) costs only that model's
        # remaining paths.
        child = subprocess.run(
            [sys.executable, __file__, *forwarded, "--models", name, "--model-process"],
            capture_output=True,
            text=True,
        )
        rates = {p: float("nan") for p in paths}
        peaks: dict[str, int] = {}
        largest: dict[str, int] = {}
        for line in child.stdout.splitlines():
            if line.startswith("RATE "):
                _, path, value, peak = line.split()
                rates[path] = float(value)
                if peak != "-":
                    peaks[path] = int(peak)
            elif line.startswith("MAXBATCH "):
                _, path, value = line.split()
                largest[path] = int(value)
        for line in child.stderr.splitlines():
            if line.startswith("# "):
                print(line, file=sys.stderr)
        if child.returncode != 0:
            died = next((p for p in paths if rates[p] != rates[p]), paths[-1])
            print(
                f"# {name}: the process died in path {died} (exit {child.returncode}): "
                f"{child.stderr.strip().splitlines()[-1:] or ''}",
                file=sys.stderr,
            )
        base = rates["fp32"]
        cells = [f"{rates[p]:.1f}" + (f" ({peaks[p] / 2**30:.1f} GiB)" if p in peaks else "") for p in paths]
        cells += [f"{rates[p] / base:.2f}" for p in paths[1:]]
        cells += [
            "-" if p not in largest else f">= {largest[p]}" if largest[p] >= args.max_batch_limit else str(largest[p])
            for p in searched
        ]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


def measure_paths(
    name: str, paths: list[str], searched: list[str], args: argparse.Namespace, device: torch.device
) -> int:
    """In this process, every path of model ``name`` in order; prints ``RATE <path> <samples/s> <peak bytes or ->``
    as each ends, then ``MAXBATCH <path> <size>`` for each path of ``searched``."""
    for path in paths:
        try:
            rate, peak = measure(name, path, args, device)
        except Exception as err:  # a path that fails on this machine (e.g. no compiler) is reported, not fatal
            print(f"# {name} {path}: {type(err).__name__}: {str(err).splitlines()[0][:200]}", file=sys.stderr)
            rate, peak = float("nan"), None
        print(f"RATE {path} {rate} {'-' if peak is None else peak}", flush=True)
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    for path in searched:
        try:
            print(f"MAXBATCH {path} {max_batch(name, path, args, device)}", flush=True)
        except Exception as err:
            print(
                f"# {name} {path} largest batch: {type(err).__name__}: {str(err).splitlines()[0][:200]}",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
