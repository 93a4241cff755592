"""Optimiser and training-loop configs (MFST §IV-A recipe as defaults where the paper states one)."""

from __future__ import annotations

import dataclasses

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
    use_gpu: bool = False  # one GPU per worker, NCCL backend
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
        _check(self.torch_threads >= 1, "train.torch_threads", "must be >= 1", self.torch_threads)
        _check(self.mixup_alpha >= 0, "train.mixup_alpha", "must be >= 0", self.mixup_alpha)
        _check(self.cutmix_alpha >= 0, "train.cutmix_alpha", "must be >= 0", self.cutmix_alpha)
        _check(0 <= self.mix_switch_prob <= 1, "train.mix_switch_prob", "must be in [0, 1]", self.mix_switch_prob)
        _check(self.seed >= 0, "train.seed", "must be >= 0", self.seed)
        _check(self.max_failures >= -1, "train.max_failures", "must be >= -1 (-1 = unlimited)", self.max_failures)
        _check(self.checkpoints_to_keep >= 1, "train.checkpoints_to_keep", "must be >= 1", self.checkpoints_to_keep)
        _check(self.precision in PRECISIONS, "train.precision", f"must be one of {PRECISIONS}", self.precision)


def _check(ok: bool, field: str, rule: str, value: object) -> None:
    if not ok:
        raise ValueError(f"{field} {rule}, got {value!r}")
