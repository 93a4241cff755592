"""One config mechanism end to end: an experiment is four frozen dataclasses addressed by dotted keys.

``ExperimentConfig`` composes ``data`` (:class:`actrec.data.config.DataConfig`, beside the data code) and ``model``
(the registered model's own config, chosen by ``model.name``, beside the model) with ``optim`` and ``train``
(:class:`OptimConfig`, :class:`TrainConfig`, defined here: the training loop they configure imports this module, so
they cannot live in :mod:`actrec.train` without a cycle). The same dotted keys (``model.theta``, ``data.modality``,
``optim.lr``) are used on the CLI, in Ray Tune's ``param_space``, as MLflow params and as report columns;
:func:`flatten` and :func:`from_flat` convert both ways.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from actrec.data.config import DataConfig
from actrec.models import (
    DEFAULT_MODEL,
    UnknownModelError,
    is_model,
    list_models,
    model_class,
    model_config,
    tiny_overrides,
)

# Optimiser and training-loop sections (MFST §IV-A recipe as defaults where the paper states one).
OPTIMIZERS = ("sgd", "adamw")  # optim.name
PRECISIONS = ("fp32", "bf16")  # train.precision


@dataclasses.dataclass(frozen=True, kw_only=True)
class OptimConfig:
    """SGD with linear warm-up then cosine decay (MFST §IV-A: lr 0.01, momentum 0.9, weight decay 3e-4, 3 epochs).

    ``name="adamw"`` swaps SGD for AdamW (Loshchilov & Hutter, ICLR 2019; β = (0.9, 0.999), decoupled weight decay
    ``weight_decay``, ``momentum`` unused) under the same schedule: the papers fine-tune their Transformers with SGD
    from ImageNet weights, which actrec cannot download, and the CPU profiles train those from scratch.
    """

    name: str = "sgd"  # optimizer: "sgd" (with momentum) or "adamw"
    lr: float = 0.01  # peak learning rate reached after warm-up
    momentum: float = 0.9  # SGD momentum
    weight_decay: float = 3e-4  # L2 penalty (SGD) / decoupled weight decay (AdamW)
    warmup_epochs: float = 3.0  # linear ramp from warmup_start_factor·lr to lr
    warmup_start_factor: float = 0.01  # first-step lr as a fraction of lr
    min_lr: float = 0.0  # cosine floor
    label_smoothing: float = 0.0  # cross-entropy label smoothing, 0 disables
    clip_grad_norm: float = 0.0  # clip the global gradient L2 norm to this value before each step; 0 disables

    def __post_init__(self) -> None:
        _check(self.name in OPTIMIZERS, "optim.name", f"must be one of {OPTIMIZERS}", self.name)
        _check(self.lr > 0, "optim.lr", "must be > 0", self.lr)
        _check(0 <= self.momentum < 1, "optim.momentum", "must be in [0, 1)", self.momentum)
        _check(self.weight_decay >= 0, "optim.weight_decay", "must be >= 0", self.weight_decay)
        _check(self.warmup_epochs >= 0, "optim.warmup_epochs", "must be >= 0", self.warmup_epochs)
        _check(
            0 < self.warmup_start_factor <= 1,
            "optim.warmup_start_factor",
            "must be in (0, 1]",
            self.warmup_start_factor,
        )
        _check(0 <= self.min_lr <= self.lr, "optim.min_lr", f"must be in [0, optim.lr={self.lr}]", self.min_lr)
        _check(0 <= self.label_smoothing < 1, "optim.label_smoothing", "must be in [0, 1)", self.label_smoothing)
        _check(self.clip_grad_norm >= 0, "optim.clip_grad_norm", "must be >= 0 (0 disables)", self.clip_grad_norm)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How one Ray Train run is executed."""

    epochs: int = 100  # MFST §IV-A trains 100 epochs; 0 = evaluate the initialised / checkpoint-loaded model once
    batch_size: int = 8  # clips per worker per step
    num_workers: int = 1  # Ray Train DDP workers per trial
    cpus_per_worker: float = 1.0  # logical CPUs each worker reserves
    # What each worker requests besides its CPUs: "cpu" nothing; "gpu" Ray's GPU resource (CUDA device, NCCL backend;
    # the paper profiles); any other name a custom Ray resource of that name, for a simulated cluster or one that
    # labels its accelerators so. A custom resource only places the workers: they compute on the CPU with gloo, since
    # Ray gives CUDA devices to GPU requests alone.
    accelerator: str = "cpu"
    accelerators_per_worker: float = 1.0  # how many of ``accelerator`` each worker requests ("gpu": at most 1)
    torch_threads: int = 1  # intra-op threads per worker (CPU)
    mixup_alpha: float = 0.0  # MixUp Beta(α, α); 0 disables (MFST §IV-A uses MixUp)
    cutmix_alpha: float = 0.0  # CutMix Beta(α, α) (Yun et al., ICCV 2019); 0 disables
    mix_switch_prob: float = 0.5  # with both MixUp and CutMix on: probability a batch uses CutMix
    seed: int = 0  # model init and sampling seed
    max_failures: int = 0  # worker-group restarts from the last checkpoint before the trial fails
    checkpoints_to_keep: int = 2  # newest checkpoints kept per trial
    # Speed (actrec.train.accel; benchmarks/train_throughput.py measures each against eager fp32):
    precision: str = "fp32"  # "fp32" or "bf16": bf16 autocast around forward and loss (weights, optimiser in fp32)
    channels_last: bool = False  # channels-last 3D memory format for the model and its 5D inputs
    compile: bool = False  # torch.compile the model (inductor); the first steps pay for the compilation
    pin_memory: bool = True  # page-locked batches for asynchronous host-to-GPU copies (GPU workers only)

    def __post_init__(self) -> None:
        _check(self.epochs >= 0, "train.epochs", "must be >= 0 (0 = evaluate only)", self.epochs)
        _check(self.batch_size >= 1, "train.batch_size", "must be >= 1", self.batch_size)
        _check(self.num_workers >= 1, "train.num_workers", "must be >= 1", self.num_workers)
        _check(self.cpus_per_worker > 0, "train.cpus_per_worker", "must be > 0", self.cpus_per_worker)
        _check(
            isinstance(self.accelerator, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.:-]*", self.accelerator),
            "train.accelerator",
            "must be 'cpu', 'gpu' or the name of a custom Ray resource (letters, digits, '_', '.', ':', '-')",
            self.accelerator,
        )
        _check(
            self.accelerator in ("cpu", "gpu") or self.accelerator.upper() not in RAY_BUILTIN_RESOURCES,
            "train.accelerator",
            "must be 'cpu', 'gpu' (Ray's GPUs) or the name of a custom Ray resource, not another of Ray's own "
            f"({', '.join(RAY_BUILTIN_RESOURCES)})",
            self.accelerator,
        )
        _check(
            0 < self.accelerators_per_worker < math.inf
            and (self.accelerator != "gpu" or self.accelerators_per_worker <= 1),
            "train.accelerators_per_worker",
            "must be > 0 and finite, and at most 1 with train.accelerator=gpu (a DDP worker drives one GPU)",
            self.accelerators_per_worker,
        )
        _check(
            self.accelerator != "gpu" or self.accelerators_per_worker == 1 or self.num_workers == 1,
            "train.accelerators_per_worker",
            f"must be 1 with train.accelerator=gpu and {self.num_workers} workers: two DDP workers of one trial "
            "cannot share a GPU (NCCL refuses two ranks on one device); a fraction lets one-worker trials share one",
            self.accelerators_per_worker,
        )
        _check(self.torch_threads >= 1, "train.torch_threads", "must be >= 1", self.torch_threads)
        _check(self.mixup_alpha >= 0, "train.mixup_alpha", "must be >= 0", self.mixup_alpha)
        _check(self.cutmix_alpha >= 0, "train.cutmix_alpha", "must be >= 0", self.cutmix_alpha)
        _check(0 <= self.mix_switch_prob <= 1, "train.mix_switch_prob", "must be in [0, 1]", self.mix_switch_prob)
        _check(self.seed >= 0, "train.seed", "must be >= 0", self.seed)
        _check(self.max_failures >= -1, "train.max_failures", "must be >= -1 (-1 = unlimited)", self.max_failures)
        _check(self.checkpoints_to_keep >= 1, "train.checkpoints_to_keep", "must be >= 1", self.checkpoints_to_keep)
        _check(self.precision in PRECISIONS, "train.precision", f"must be one of {PRECISIONS}", self.precision)

    @property
    def use_gpu(self) -> bool:
        """Whether the workers get CUDA devices (``train.accelerator=gpu``): NCCL instead of gloo."""
        return self.accelerator == "gpu"

    @property
    def accelerator_resource(self) -> str | None:
        """The Ray resource each worker requests ``accelerators_per_worker`` of (``GPU`` for "gpu"), or None."""
        return None if self.accelerator == "cpu" else "GPU" if self.accelerator == "gpu" else self.accelerator

    @property
    def worker_resources(self) -> dict[str, float]:
        """Ray Train's ``resources_per_worker``: the worker's CPUs and its accelerator."""
        resource = self.accelerator_resource
        return {"CPU": self.cpus_per_worker, **({resource: self.accelerators_per_worker} if resource else {})}


# Ray's predefined resource names (upper-cased): a custom accelerator must not shadow one.
RAY_BUILTIN_RESOURCES = ("CPU", "GPU", "MEMORY", "OBJECT_STORE_MEMORY", "TPU")


def _check(ok: bool, field: str, rule: str, value: object) -> None:
    if not ok:
        raise ValueError(f"{field} {rule}, got {value!r}")


SECTIONS = ("data", "model", "optim", "train")
# model.size: "paper" (the registered variant as is) or "tiny" (its registry CPU-size overrides, under any explicit
# model.* values), so one profile can make every row's model tiny whichever model the row names.
MODEL_SIZES = ("paper", "tiny")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """A fully resolved experiment: everything one Ray Train run needs."""

    data: DataConfig  # dataset, modality, frames and crop
    model_name: str  # registered model variant (dotted key ``model.name``)
    model: Any  # that variant's config dataclass
    optim: OptimConfig  # SGD, warm-up + cosine (MFST §IV-A)
    train: TrainConfig  # epochs, batch, workers, MixUp

    def __post_init__(self) -> None:
        if not is_model(self.model_name):
            raise ValueError(f"model.name must be one of {list_models()} or MODULE:NAME, got {self.model_name!r}")
        num_classes = getattr(self.model, "num_classes", None)
        if num_classes is not None and num_classes != self.data.num_classes:
            raise ValueError(
                f"model.num_classes ({num_classes}) must equal the dataset's class count "
                f"data.num_classes ({self.data.num_classes}) for data.dataset={self.data.dataset!r}"
            )
        in_channels = getattr(self.model, "in_channels", None)
        if in_channels is not None and in_channels != self.data.input_channels:
            raise ValueError(
                f"model.in_channels ({in_channels}) must equal the input channels of data.modality="
                f"{self.data.modality!r} ({self.data.input_channels})"
            )
        self._check_pose_input()

    def _check_pose_input(self) -> None:
        """A model with a second, pose heatmap input (a config with ``pose_channels``, see
        :mod:`actrec.models.protocol`) goes with data.modality "rgb_pose" and the other way round; its channels and
        (if fixed, ``rgb_frames``) RGB frames match the data's; no MixUp / CutMix, which would mix the RGB clips but
        not their heatmaps."""
        pose_channels = getattr(self.model, "pose_channels", None)
        two_inputs = self.data.modality == "rgb_pose"
        if two_inputs != (pose_channels is not None):
            raise ValueError(
                f"data.modality={self.data.modality!r} and model.name={self.model_name!r} do not fit: "
                "data.modality='rgb_pose' gives two inputs (RGB clip, pose heatmaps), which only a model with a pose "
                "input (a model config with pose_channels) takes, and such a model needs data.modality='rgb_pose'"
            )
        if not two_inputs:
            return
        if pose_channels != self.data.pose_channels:
            raise ValueError(
                f"model.pose_channels ({pose_channels}) must equal the heatmap channels of data.dataset="
                f"{self.data.dataset!r} with data.pose_limbs={self.data.pose_limbs} ({self.data.pose_channels})"
            )
        rgb_frames = getattr(self.model, "rgb_frames", None)
        if rgb_frames is not None and rgb_frames != self.data.num_frames:
            raise ValueError(
                f"data.num_frames ({self.data.num_frames}) must equal the RGB frames model.name={self.model_name!r} "
                f"is built for ({rgb_frames}: the model config's rgb_frames)"
            )
        for name in ("mixup_alpha", "cutmix_alpha"):
            if getattr(self.train, name) > 0:
                raise ValueError(
                    f"train.{name} must be 0 with data.modality='rgb_pose': mixing would blend the RGB clips but "
                    f"not their pose heatmaps, got {getattr(self.train, name)}"
                )


def flatten(cfg: ExperimentConfig) -> dict[str, Any]:
    """Dotted-key dict of every config value (tuples stay tuples)."""
    flat: dict[str, Any] = {"model.name": cfg.model_name}
    for section in SECTIONS:
        obj = getattr(cfg, section)
        for field in dataclasses.fields(obj):
            flat[f"{section}.{field.name}"] = getattr(obj, field.name)
    return flat


def from_flat(values: Mapping[str, Any]) -> ExperimentConfig:
    """Build an :class:`ExperimentConfig` from dotted keys; unspecified fields take their defaults.

    ``model.num_classes`` (and ``model.in_channels`` / ``model.pose_channels`` where the model has them) are derived
    from the data config unless given explicitly. ``model.size=tiny`` applies ``tiny_overrides(model.name)`` under
    the explicit ``model.*`` values; the result holds the values themselves (``flatten`` has no ``model.size``).
    """
    grouped: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for key, value in values.items():
        section, _, name = key.partition(".")
        if section not in grouped or not name:
            raise ValueError(f"unknown config key {key!r}: keys are '<section>.<field>' with section in {SECTIONS}")
        grouped[section][name] = value

    data = _build(DataConfig, "data", grouped["data"])
    model_name = grouped["model"].pop("name", DEFAULT_MODEL)
    if not is_model(model_name):
        try:
            model_class(model_name)  # its own message says why (unknown, or a MODULE:NAME that does not import)
        except UnknownModelError as err:
            raise ValueError(f"model.name: {err}") from None
    size = grouped["model"].pop("size", "paper")
    if size not in MODEL_SIZES:
        raise ValueError(f"model.size must be one of {MODEL_SIZES}, got {size!r}")
    model_values = {**(tiny_overrides(model_name) if size == "tiny" else {}), **grouped["model"]}
    model_overrides = _coerce_fields(type(model_config(model_name)), "model", model_values)
    model_overrides.setdefault("num_classes", data.num_classes)
    fields = {f.name for f in dataclasses.fields(type(model_config(model_name)))}
    if "in_channels" in fields:
        model_overrides.setdefault("in_channels", data.input_channels)
    if "pose_channels" in fields and data.pose_channels is not None:
        model_overrides.setdefault("pose_channels", data.pose_channels)
    model = model_config(model_name, **model_overrides)
    optim = _build(OptimConfig, "optim", grouped["optim"])
    train = _build(TrainConfig, "train", _legacy_use_gpu(grouped["train"]))
    return ExperimentConfig(data=data, model_name=model_name, model=model, optim=optim, train=train)


def _legacy_use_gpu(train: dict[str, Any]) -> dict[str, Any]:
    """``train.use_gpu`` (before ``train.accelerator``; the stored configs of sweeps started then still resume) read
    as its equivalent: true is ``train.accelerator=gpu``, false leaves the accelerator as given; contradicting it is
    an error."""
    if "use_gpu" not in train:
        return train
    train = dict(train)
    use_gpu = _legacy_bool(train.pop("use_gpu"))
    given = train.get("accelerator")
    if (use_gpu and given not in (None, "gpu")) or (not use_gpu and given == "gpu"):
        raise ValueError(f"train.use_gpu={use_gpu} contradicts train.accelerator={given!r}: set train.accelerator only")
    if use_gpu:
        train["accelerator"] = "gpu"
    return train


def _legacy_bool(value: Any) -> bool:
    try:
        return coerce(value, bool)
    except ValueError as err:
        raise ValueError(f"train.use_gpu: cannot read {value!r} as a bool: {err} (now: train.accelerator)") from None


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """Parse CLI ``key=value`` pairs (``model.theta=0.6``) into a dict of raw strings.

    ``train.use_gpu=B`` (the key before ``train.accelerator``; the stored ``--set`` flags of older sweeps replay it on
    ``--resume``) becomes ``train.accelerator=gpu`` or ``=cpu``, so it overrides a profile's accelerator as it did."""
    out: dict[str, str] = {}
    legacy = explicit = False  # train.use_gpu / train.accelerator given
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise ValueError(f"override {item!r} must look like 'section.field=value', e.g. 'model.theta=0.6'")
        key, value = key.strip(), value.strip()
        if key == "train.use_gpu":
            key, value = "train.accelerator", "gpu" if _legacy_bool(value) else "cpu"
            legacy = True
        else:
            explicit = explicit or key == "train.accelerator"
        if legacy and explicit:
            raise ValueError("set train.accelerator or the older train.use_gpu, not both")
        out[key] = value
    return out


def _build(cls: type, section: str, values: dict[str, Any]) -> Any:
    return cls(**_coerce_fields(cls, section, values))


def _coerce_fields(cls: type, section: str, values: dict[str, Any]) -> dict[str, Any]:
    """Check names against the dataclass and convert CLI strings to each field's annotated type."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    out = {}
    for name, value in values.items():
        if name not in known:
            raise ValueError(f"unknown config key {section}.{name}; known fields: {sorted(known)}")
        try:
            out[name] = coerce(value, hints[name])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{section}.{name}: cannot read {value!r} as {hints[name]}: {err}") from None
    return out


def coerce(value: Any, annotation: Any) -> Any:
    """Convert ``value`` (often a CLI string) to ``annotation``; non-strings pass through mostly unchanged."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if isinstance(value, str):
            for candidate in sorted(args, key=_union_order):
                try:
                    return coerce(value, candidate)
                except (TypeError, ValueError):
                    continue
            raise ValueError(f"none of {args} matched")
        return value
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else list(value)
        item_type = args[0] if args else str
        return tuple(coerce(v.strip() if isinstance(v, str) else v, item_type) for v in items if v != "")
    if annotation is bool:
        if isinstance(value, str):
            lowered = value.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true/false")
        return bool(value)
    if annotation is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError("expected an integer")
        return int(value)
    if annotation is float:
        return float(value)
    if annotation is str:
        return str(value)
    if annotation is type(None):
        if value in (None, "none", "None", ""):
            return None
        raise ValueError("expected none")
    return value


def _union_order(t: Any) -> int:
    # Try the strictest reading first so "3" becomes int 3 and "0.5" a float.
    return {type(None): 0, bool: 1, int: 2, float: 3}.get(t, 4)
