"""What a sweep will cost on a GPU cluster, estimated before it starts: the cost plan ``--dry-run`` prints.

Per trial, on one accelerator (``trial_cost``)::

    accelerator-seconds = epochs × train clips × s_train + max(epochs, 1) × val clips × views × s_val

with ``views`` = ``data.test_clips × data.test_crops`` (every epoch validates; an evaluate-only trial, epochs = 0,
validates once) and the seconds per clip either measured (:data:`MEASURED_SECONDS_PER_CLIP`, keyed by accelerator,
model, precision and input shape; empty today: no GPU time has been measured) or, until then, from FLOPs::

    s_val   = Σ over operator kinds of FLOPS_PER_MULTIPLY_ADD × forward GFLOPs × 1e9 / (peak FLOP/s × utilisation)
    s_train = TRAINING_FORWARDS × s_val

where the forward GFLOPs are one view's multiply-adds as fvcore counts them (``actrec.models.complexity``), split into
convolutions and the rest, each at the peak of the number format it runs in (:data:`OPERATOR_FORMATS`) on the
cluster's accelerator (:data:`PEAK_FLOPS`), at :data:`ASSUMED_UTILISATION` of peak. Data-parallel workers split a
trial's clips, so its accelerator-seconds do not depend on how many workers it has (perfect scaling assumed); its wall
time is its accelerator-seconds / its accelerators (``train.num_workers × train.accelerators_per_worker``).

For the sweep (``sweep_cost``)::

    GPU-hours  = Σ over trials of accelerator-seconds / 3600
    node-hours = GPU-hours / GPUs per node                 (trials packed onto full nodes)
    wall       = phase 1, then phase 2 (fused trials wait for their stream trials), each phase's trials started in
                 the listed order as slots free (Tune's FIFO order), with slots = what the cluster holds at its
                 maximum size: min(GPUs / a trial's accelerators, CPUs / a trial's CPUs, driver slots, --max-concurrent)

An Optuna search prices each of its samples as its costliest corner (``SweepPlan.corners``); a sweep with ASHA is
priced without early stopping (an upper bound). Only trials whose workers train on GPUs (``train.accelerator=gpu``)
are priced; a sweep of CPU trials prints no cost. The cluster is a Ray cluster YAML (``--cluster``): its first worker
node type that declares GPUs, at ``max_workers`` nodes (the node type's, capped by the cluster's).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from actrec.config import ExperimentConfig, from_flat
from actrec.errors import UsageError
from actrec.tune.cluster import DRIVER_RESOURCE, trial_accelerators, trial_cpus

# The repository's own cluster (AWS, 8×A100 nodes): the default of --cluster where the checkout has it.
REPOSITORY_CLUSTER = Path(__file__).resolve().parents[2] / "cluster" / "a100.yaml"

# Training one clip costs a forward and a backward pass, the backward about twice the forward (gradients with respect
# to both activations and weights): 3× the forward FLOPs, the 6N-per-token training compute against 2N forward of
# Kaplan et al., "Scaling Laws for Neural Language Models", 2020, §2.1. Validation is a forward pass per view.
TRAINING_FORWARDS = 3
# fvcore (and the papers' GFLOPs columns) count a multiply-add as 1 FLOP; accelerator peaks count it as 2.
FLOPS_PER_MULTIPLY_ADD = 2
# The fraction of peak a training step is assumed to sustain: an assumption, not a measurement. Conservative: below the
# 46.2% model FLOPs utilisation PaLM reports for its training (Chowdhery et al., "PaLM", 2022, Table 3); video models
# add decoding, small 3D convolutions and per-epoch validation. benchmarks/train_throughput.py, run on the cluster's
# GPU, measures what MEASURED_SECONDS_PER_CLIP should hold instead.
ASSUMED_UTILISATION = 0.3
# Peak dense throughput of one accelerator in FLOP/s (a multiply-add = 2 FLOPs), by number format: NVIDIA A100 Tensor
# Core GPU datasheet (SXM): BF16 312 TFLOP/s and TF32 156 TFLOP/s on tensor cores (without structured sparsity, which
# doubles both), FP32 19.5 TFLOP/s.
PEAK_FLOPS: dict[str, dict[str, float]] = {"A100": {"bf16": 312e12, "tf32": 156e12, "fp32": 19.5e12}}
# The number format each kind of operator runs in, by train.precision. bf16: autocast runs convolutions and matrix
# products in bfloat16. fp32: PyTorch's defaults, which actrec leaves as they are: cuDNN convolutions in TF32
# (torch.backends.cudnn.allow_tf32 = True), matrix products in full FP32 (torch.backends.cuda.matmul.allow_tf32 =
# False since PyTorch 1.12). "other" also holds the normalisation layers fvcore counts (a few percent of a model's
# FLOPs at most; memory-bound in any format), priced with the matrix products.
OPERATOR_FORMATS: dict[str, dict[str, str]] = {
    "bf16": {"convolution": "bf16", "other": "bf16"},
    "fp32": {"convolution": "tf32", "other": "fp32"},
}
# The accelerator of a cluster node, by the AWS instance type of its node_config (a node type that declares Ray's
# "accelerator_type:NAME" resource names it itself): p4d.24xlarge = 8 × A100 40 GB, p4de.24xlarge = 8 × A100 80 GB.
INSTANCE_ACCELERATORS = {"p4d.24xlarge": "A100", "p4de.24xlarge": "A100"}
# Measured seconds per clip on one accelerator: (accelerator, model.name, train.precision, input shapes of one view)
# -> (training step per clip, forward per validation view). Empty: no GPU time has been measured yet. An entry (from
# benchmarks/train_throughput.py on that accelerator, at the trial's batch) replaces the FLOPs-based estimate of the
# trials it matches, and the cost plan says so.
MEASURED_SECONDS_PER_CLIP: dict[tuple[str, str, str, tuple[tuple[int, ...], ...]], tuple[float, float]] = {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClusterNodes:
    """The GPU node type of a Ray cluster YAML at the cluster's maximum size."""

    path: str  # the YAML it was read from
    node_type: str  # its name under available_node_types
    instance: str  # node_config.InstanceType ("" when the YAML gives none)
    accelerator: str | None  # the accelerator PEAK_FLOPS prices, None when neither the YAML nor the instance names it
    gpus: float  # GPUs per node (its resources)
    cpus: float  # CPUs per node (its resources)
    nodes: int  # nodes of this type at the cluster's maximum size
    drivers: float  # trial-driver slots (DRIVER_RESOURCE) the cluster declares at its maximum size; 0: none

    def describe(self) -> str:
        """``gpu_worker (p4d.24xlarge, 8 × A100)``."""
        what = ", ".join(part for part in (self.instance, f"{self.gpus:g} × {self.accelerator or 'GPU'}") if part)
        return f"{self.node_type} ({what})"


def load_cluster(path: str | Path) -> ClusterNodes:
    """The first worker node type of the Ray cluster YAML ``path`` that declares GPUs, at its ``max_workers`` (capped by
    the cluster's). :class:`UsageError` naming the file for a missing or unreadable file, invalid YAML, or a config
    without such a node type."""
    import yaml

    flag = f"--cluster {path}"
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise UsageError(f"{flag}: no such file; give a Ray cluster YAML, e.g. cluster/a100.yaml") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"{flag}: cannot be read ({getattr(err, 'strerror', None) or err})") from None
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        raise UsageError(f"{flag} is not valid YAML{where}: {problem}") from None
    types = config.get("available_node_types") if isinstance(config, dict) else None
    if not isinstance(types, dict) or not all(isinstance(t, dict) for t in types.values()):
        raise UsageError(f"{flag} is not a Ray cluster config: no available_node_types mapping of node types")
    head = config.get("head_node_type")
    gpu_types = [(name, t) for name, t in types.items() if name != head and _number(_resources(t).get("GPU")) > 0]
    if not gpu_types:
        raise UsageError(f'{flag}: no worker node type declares GPUs (resources: {{"GPU": N}}) to price trials on')
    name, node = gpu_types[0]
    caps = [c for c in (node.get("max_workers"), config.get("max_workers")) if c is not None]
    if not caps or not all(isinstance(c, int) and not isinstance(c, bool) for c in caps):
        raise UsageError(f"{flag}: node type {name} needs an integer max_workers (its own or the cluster's)")
    nodes = min(caps)
    if nodes < 1:
        raise UsageError(f"{flag}: max_workers {nodes} leaves no {name} node to run trials on")
    resources = _resources(node)
    named = [key.partition(":")[2] for key in resources if key.startswith("accelerator_type:")]
    instance = str((node.get("node_config") or {}).get("InstanceType") or "")
    drivers = _number(_resources(types.get(head) or {}).get(DRIVER_RESOURCE)) + nodes * _number(
        resources.get(DRIVER_RESOURCE)
    )
    return ClusterNodes(
        path=str(path),
        node_type=str(name),
        instance=instance,
        accelerator=named[0] if named else INSTANCE_ACCELERATORS.get(instance),
        gpus=_number(resources.get("GPU")),
        cpus=_number(resources.get("CPU")),
        nodes=nodes,
        drivers=drivers,
    )


def _resources(node_type: Mapping[str, Any]) -> Mapping[str, Any]:
    resources = node_type.get("resources")
    return resources if isinstance(resources, dict) else {}


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def cluster_path(args: argparse.Namespace) -> str | None:
    """``--cluster``, else the repository's cluster YAML where the checkout has it, else None."""
    given = getattr(args, "cluster", None)
    if given:
        return given
    return str(REPOSITORY_CLUSTER) if REPOSITORY_CLUSTER.is_file() else None


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrialCost:
    """One trial's share of the estimate (see the module docstring for the formula)."""

    epochs: int  # train.epochs (0: evaluate only)
    train_clips: int  # clips of the training split, one pass per epoch
    val_clips: int  # clips of the validation split
    views: int  # evaluation views per validation clip (data.test_clips × data.test_crops)
    gflops: float  # forward GFLOPs of one view (fvcore multiply-adds)
    convolution_gflops: float  # the part of them in convolutions
    train_seconds: float  # per training clip, on one accelerator
    val_seconds: float  # per validation view, on one accelerator
    accelerators: float  # what the trial holds: train.num_workers × train.accelerators_per_worker
    cpus: float  # the CPUs the trial holds (its workers' and its decoding's)
    precision: str  # train.precision
    measured: bool  # seconds from MEASURED_SECONDS_PER_CLIP rather than from FLOPs

    @property
    def accelerator_seconds(self) -> float:
        """epochs × train clips × s_train + max(epochs, 1) × val clips × views × s_val."""
        passes = max(self.epochs, 1)
        return self.epochs * self.train_clips * self.train_seconds + passes * self.val_clips * self.views * (
            self.val_seconds
        )

    @property
    def wall_seconds(self) -> float:
        """How long the trial runs on its accelerators (perfect data-parallel scaling)."""
        return self.accelerator_seconds / self.accelerators


def clip_counts(cfg: ExperimentConfig, cache: dict | None = None) -> tuple[int, int] | None:
    """(training, validation) clips of the dataset a trial reads, from its index alone; None for a synthetic set not
    generated yet (the dry run generates nothing)."""
    from actrec.data.config import default_synthetic_root
    from actrec.data.shards import load_index, split_shards

    root = Path(cfg.data.root).expanduser() if cfg.data.root else default_synthetic_root(cfg.data)
    key = (str(root), cfg.data.protocol)
    if cache is not None and key in cache:
        return cache[key]
    counts = None
    if (root / "index.json").is_file():
        index = load_index(root)
        train, val = (split_shards(index, cfg.data.protocol, split) for split in ("train", "val"))
        counts = (sum(len(s["samples"]) for s in train), sum(len(s["samples"]) for s in val))
    if cache is not None:
        cache[key] = counts
    return counts


# Forward GFLOPs by (model config, input shapes), counted once per process (:func:`forward_gflops`).
_GFLOPS: dict[tuple[str, tuple[tuple[int, ...], ...]], dict[str, float]] = {}


def forward_gflops(cfg: ExperimentConfig) -> dict[str, float]:
    """One view's forward GFLOPs by operator kind (``count_gflops_meta``), of the trial's model without the weights it
    would load (fields naming a weight file, ``*_checkpoint`` and ``*_init``: weights do not change FLOPs, and a
    planned trial's are placeholders); counted once per distinct model config and input shape."""
    from actrec.models import build_model
    from actrec.models.complexity import architecture_config, count_gflops_meta

    model_cfg = architecture_config(cfg.model)
    shapes = [(1, *shape) for shape in cfg.data.input_shapes.values()]
    key = (repr(model_cfg), tuple(map(tuple, shapes)))
    if key not in _GFLOPS:
        # Every registered model counts on the meta device (tests/test_models_complexity.py). One whose forward pass
        # needed real values would fail here, loudly: no fallback that would price its convolutions as other operators.
        _GFLOPS[key] = count_gflops_meta(lambda: build_model(model_cfg), *shapes)
    return _GFLOPS[key]


def seconds_per_clip(cfg: ExperimentConfig, gflops: Mapping[str, float], accelerator: str) -> tuple[float, float, bool]:
    """(training seconds per clip, validation seconds per view, measured) on one ``accelerator``: the measured entry
    of :data:`MEASURED_SECONDS_PER_CLIP` when there is one, else the FLOPs-based estimate of the module docstring."""
    shapes = tuple(tuple(shape) for shape in cfg.data.input_shapes.values())
    measured = MEASURED_SECONDS_PER_CLIP.get((accelerator, cfg.model_name, cfg.train.precision, shapes))
    if measured is not None:
        return measured[0], measured[1], True
    peaks, formats = PEAK_FLOPS[accelerator], OPERATOR_FORMATS[cfg.train.precision]
    forward = sum(
        FLOPS_PER_MULTIPLY_ADD * gflops[kind] * 1e9 / (peaks[formats[kind]] * ASSUMED_UTILISATION) for kind in gflops
    )
    return TRAINING_FORWARDS * forward, forward, False


def trial_cost(flat: Mapping[str, Any], accelerator: str, cache: dict) -> TrialCost | None:
    """The cost of the trial of dotted config ``flat`` on ``accelerator``; None when its clips are unknown (a
    synthetic set not generated yet)."""
    cfg = from_flat(dict(flat))
    counts = clip_counts(cfg, cache.setdefault("clips", {}))
    if counts is None:
        return None
    gflops = forward_gflops(cfg)
    train_seconds, val_seconds, measured = seconds_per_clip(cfg, gflops, accelerator)
    return TrialCost(
        epochs=cfg.train.epochs,
        train_clips=counts[0],
        val_clips=counts[1],
        views=cfg.data.num_views,
        gflops=sum(gflops.values()),
        convolution_gflops=gflops["convolution"],
        train_seconds=train_seconds,
        val_seconds=val_seconds,
        accelerators=sum(trial_accelerators(cfg.train).values()),
        cpus=trial_cpus(cfg),
        precision=cfg.train.precision,
        measured=measured,
    )


def uses_gpus(flat: Mapping[str, Any]) -> bool:
    """Whether a trial's workers train on GPUs (the trials a cost plan prices)."""
    return from_flat(dict(flat)).train.use_gpu


def concurrent_trials(trial: TrialCost, cluster: ClusterNodes, max_concurrent: int = 0) -> int:
    """Trials of ``trial``'s resources the cluster holds at once at its maximum size: its GPUs, CPUs and trial-driver
    slots divided by what one trial holds, capped by ``--max-concurrent`` (0: no cap); 0 when one does not fit."""
    limits = [math.floor(cluster.nodes * cluster.gpus / trial.accelerators + 1e-9)]
    if trial.cpus > 0:
        limits.append(math.floor(cluster.nodes * cluster.cpus / trial.cpus + 1e-9))
    if cluster.drivers >= 1:
        limits.append(math.floor(cluster.drivers))
    if max_concurrent > 0:
        limits.append(max_concurrent)
    return max(0, min(limits))


def fifo_wall_seconds(durations: Sequence[float], slots: int) -> float:
    """When the last of ``durations`` ends, each started in order on the first free of ``slots`` (Tune's FIFO)."""
    free = [0.0] * max(1, min(slots, len(durations)))
    for duration in durations:
        start = min(free)
        free[free.index(start)] = start + duration
    return max(free) if durations else 0.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepCost:
    """A sweep's cost plan on ``cluster``: its trials by phase, in the order they are listed (None: a trial that trains
    on CPUs, not priced), and what the priced ones add up to."""

    cluster: ClusterNodes
    phases: tuple[tuple[TrialCost | None, ...], ...]  # phase 1, then the fused phase 2 (if any)
    slots: tuple[int, ...]  # trials at a time in each phase
    samples: int = 0  # an Optuna search's samples, each priced as its costliest corner (0: a grid)

    @property
    def trials(self) -> list[TrialCost]:
        """The priced trials, phase 1 then phase 2."""
        return [t for phase in self.phases for t in phase if t is not None]

    @property
    def gpu_hours(self) -> float:
        """Σ over trials of accelerator-seconds / 3600."""
        return sum(t.accelerator_seconds for t in self.trials) / 3600

    @property
    def node_hours(self) -> float:
        """GPU-hours / GPUs per node: trials packed onto full nodes."""
        return self.gpu_hours / self.cluster.gpus

    @property
    def wall_hours(self) -> float:
        """Each phase's trials run in listed order on its slots (:func:`fifo_wall_seconds`), phase 2 after phase 1."""
        walls = [[t.wall_seconds for t in phase if t is not None] for phase in self.phases]
        return sum(fifo_wall_seconds(w, slots) for w, slots in zip(walls, self.slots, strict=True)) / 3600


def sweep_cost(
    phases: Sequence[Sequence[Mapping[str, Any]]], cluster: ClusterNodes, *, samples: int = 0, max_concurrent: int = 0
) -> SweepCost | str:
    """The cost plan of a sweep's trials (dotted configs, phase by phase, in listed order) on ``cluster``, or the
    reason it cannot be priced (one line). With ``samples`` (an Optuna search), ``phases[0]`` holds the search's
    setting and corners, and each of ``samples`` trials is priced as the costliest of them. ``max_concurrent``:
    ``--max-concurrent`` (0: no cap)."""
    if cluster.accelerator not in PEAK_FLOPS:
        known = "; ".join(
            f"{name} ({', '.join(i for i, a in INSTANCE_ACCELERATORS.items() if a == name)})" for name in PEAK_FLOPS
        )
        return (
            f"not estimated: node type {cluster.describe()} of {cluster.path} names no accelerator whose peak this "
            f"estimate knows (known: {known}; or declare the resource accelerator_type:NAME)"
        )
    cache: dict = {}
    priced: list[tuple[TrialCost | None, ...]] = []
    for flats in phases:
        costs = tuple(trial_cost(flat, cluster.accelerator, cache) if uses_gpus(flat) else None for flat in flats)
        if any(cost is None and uses_gpus(flat) for cost, flat in zip(costs, flats, strict=True)):
            return "not estimated: the synthetic set the trials read is not generated yet (its first run generates it)"
        priced.append(costs)
    if samples:  # every sample priced as the costliest of the search's setting and its corners
        candidates = [c for c in priced[0] if c is not None]
        priced[0] = (max(candidates, key=lambda c: c.accelerator_seconds),) * samples if candidates else ()
    slots = []
    for phase in priced:
        trials = [c for c in phase if c is not None]
        slots.append(concurrent_trials(trials[0], cluster, max_concurrent) if trials else 1)
        if trials and slots[-1] == 0:
            return (
                f"not estimated: a trial holds {trials[0].accelerators:g} GPU(s) and {trials[0].cpus:g} CPU(s), "
                f"more than {cluster.nodes} × {cluster.describe()} hold"
            )
    return SweepCost(cluster=cluster, phases=tuple(priced), slots=tuple(slots), samples=samples)


def trial_note(cost: TrialCost | None) -> str:
    """What one trial's line of the dry run adds: ``≈ 67.9 GPU-h (81.975 GFLOPs/clip)``, with the convolutions' part
    where they run at another rate than the rest (fp32); "" for a trial not priced."""
    if cost is None:
        return ""
    gflops = f"{cost.gflops:.3f} GFLOPs/clip"
    formats = OPERATOR_FORMATS[cost.precision]
    if cost.measured:
        gflops = f"measured seconds per clip; {gflops}"
    elif formats["convolution"] != formats["other"]:  # priced at two rates: show both parts
        gflops += f": {cost.convolution_gflops:.3f} convolution + {cost.gflops - cost.convolution_gflops:.3f} other"
    return f"  ≈ {significant(cost.accelerator_seconds / 3600)} GPU-h ({gflops})"


def describe_cost(cost: SweepCost | str, *, asha: bool) -> list[str]:
    """The dry run's cost lines: the estimate, what it is made of, and what it assumes."""
    if isinstance(cost, str):
        return [f"cost: {cost}"]
    trials, cluster = cost.trials, cost.cluster
    measured = sum(t.measured for t in trials)
    if not measured:
        source = "FLOPs-based estimate, not a measurement: no GPU time measured yet"
    elif measured == len(trials):
        source = "from measured seconds per clip (MEASURED_SECONDS_PER_CLIP)"
    else:
        source = (
            f"measured seconds per clip for {measured} trial(s), a FLOPs-based estimate for {len(trials) - measured}"
        )
    slots = " / ".join(str(s) for s in cost.slots)
    lines = [
        f"cost ({source}): ≈ {significant(cost.gpu_hours)} GPU-hours = {significant(cost.node_hours)} node-hours of "
        f"{cluster.describe()}, full nodes assumed; ≈ {hours(cost.wall_hours)} wall at {cluster.nodes} nodes "
        f"({slots} trial(s) at a time{', per phase' if len(cost.slots) > 1 else ''})"
    ]
    lines.append("cost from: " + workload(cost))
    lines.append("cost assumes: " + assumptions(cost, asha=asha))
    return lines


def workload(cost: SweepCost) -> str:
    """Trials, epochs, clips and GFLOPs the estimate multiplies."""
    trials = cost.trials
    if cost.samples:
        count = f"{cost.samples} Optuna sample(s), each priced as the search's costliest corner,"
    else:
        count = f"{len(trials)} trial(s)"
        if len(cost.phases) > 1:
            first, second = (len([t for t in phase if t is not None]) for phase in cost.phases)
            count += f" ({first}, then {second} in phase 2)"
    trained = [t for t in trials if t.epochs > 0]
    epochs = _spread([t.epochs for t in trained], "{:d}") + " epochs" if trained else "no training"
    evaluate_only = sum(t.epochs == 0 for t in trials)
    if evaluate_only:
        epochs += f" ({evaluate_only} trial(s) evaluate only: one validation pass)"
    train = _spread([t.train_clips for t in trials], "{:,d}")
    val = _spread([t.val_clips for t in trials], "{:,d}")
    views = _spread([t.views for t in trials], "{:d}")
    accelerators = _spread([t.accelerators for t in trials], "{:g}")
    gflops = _spread([t.gflops for t in trials], "{:.3f}")
    return (
        f"{count} × {epochs} × {train} train + {val} val clips per epoch ({views} view(s) per val clip), "
        f"{accelerators} GPU(s) per trial; {gflops} GFLOPs/clip forward (fvcore multiply-adds), {TRAINING_FORWARDS}× "
        "per training clip, 1× per validation view"
    )


def assumptions(cost: SweepCost, *, asha: bool) -> str:
    """The constants and simplifications the estimate rests on."""
    accelerator = cost.cluster.accelerator or ""
    peaks = PEAK_FLOPS.get(accelerator, {})
    used = sorted({t.precision for t in cost.trials if not t.measured})

    def rate(number_format: str) -> str:
        return f"{number_format.upper()} {peaks[number_format] / 1e12:g} TFLOP/s"

    rates = "; ".join(
        f"{p} trials: {rate(f['convolution'])}"
        if f["convolution"] == f["other"]
        else f"{p} trials: convolutions {rate(f['convolution'])}, other operators {rate(f['other'])}"
        for p, f in ((p, OPERATOR_FORMATS[p]) for p in used)
    )
    parts = (
        [
            f"{accelerator} dense peaks ({rates}) at {ASSUMED_UTILISATION:.0%} utilisation (assumed, not measured)",
            f"{FLOPS_PER_MULTIPLY_ADD} FLOPs per multiply-add",
        ]
        if used
        else []
    )
    parts += [
        "perfect data-parallel scaling",
        "trials start in listed order as slots free" + (", phase 2 after phase 1" if len(cost.phases) > 1 else ""),
        "no time for data loading, start-up or checkpoints",
    ]
    if asha:
        parts.append("no ASHA early stopping (an upper bound)")
    return "; ".join(parts)


def _spread(values: Sequence[Any], fmt: str) -> str:
    """One value, or ``low–high``."""
    low, high = min(values), max(values)
    return fmt.format(low) if low == high else f"{fmt.format(low)}–{fmt.format(high)}"


def significant(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits (at least), with thousands separators: 1,234 / 97.2 / 0.000312."""
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def hours(value: float) -> str:
    """``39.1 h``, with days beyond two: ``410 h (17.1 days)``."""
    text = f"{significant(value)} h"
    return f"{text} ({significant(value / 24)} days)" if value > 48 else text
