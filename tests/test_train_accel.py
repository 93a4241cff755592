"""actrec.train.accel through the loop's own epoch functions (no Ray): bf16 autocast, the channels-last 3D layout and
torch.compile each change how the step runs but not what it computes, and checkpoints keep the plain module's keys."""

import pytest
import torch
import torch.nn.functional as F

from actrec.config import from_flat
from actrec.train import accel
from actrec.train.loop import _evaluate, _train_epoch


class _Conv3dNet(torch.nn.Module):
    """A 3D conv stem, pooled, then a linear head; records the dtype and layout its convolution saw."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 8, kernel_size=3, padding=1)
        self.head = torch.nn.Linear(8, num_classes)
        self.seen: list[tuple[torch.dtype, bool]] = []

    def forward(self, video):
        if not torch.compiler.is_compiling():
            self.seen.append((video.dtype, video.is_contiguous(memory_format=torch.channels_last_3d)))
        x = F.relu(self.conv(video))
        return self.head(x.mean(dim=(2, 3, 4)))


class _Shard:
    def __init__(self, batches):
        self.batches = batches
        self.options = []

    def iter_torch_batches(self, **kwargs):
        self.options.append(kwargs)
        yield from self.batches


def _cfg(**train):
    return from_flat(
        {"data.synth_num_classes": 4, "model.num_classes": 4, "train.epochs": 1, "train.batch_size": 4}
        | {f"train.{k}": v for k, v in train.items()}
    )


def _batches(n=3):
    generator = torch.Generator().manual_seed(0)
    return [
        {
            "video": torch.randn(4, 3, 4, 8, 8, generator=generator),
            "label": torch.arange(4) % 4,
            "valid": torch.ones(4, dtype=torch.bool),
        }
        for _ in range(n)
    ]


def _epoch(cfg, seed=0):
    torch.manual_seed(seed)
    raw = accel.prepare_module(_Conv3dNet(4), cfg.train)
    model = accel.compile_module(raw, cfg.train)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    shard = _Shard(_batches())
    stats = _train_epoch(model, optimizer, shard, cfg, 0, 3, torch.device("cpu"), torch.Generator())
    val, confusion, _ = _evaluate(raw, _Shard(_batches(1)), cfg, torch.device("cpu"))
    return raw, stats, val, confusion, shard


def test_precision_must_be_known():
    with pytest.raises(ValueError, match="train.precision"):
        _cfg(precision="fp16")


def test_default_is_the_plain_fp32_step():
    raw, stats, _, _, shard = _epoch(_cfg())
    assert {dtype for dtype, _ in raw.seen} == {torch.float32}
    assert not any(channels_last for _, channels_last in raw.seen)
    # No GPU: batches stay unpinned on the host.
    assert shard.options[0]["pin_memory"] is False and shard.options[0]["device"] == "cpu"


def test_bf16_and_channels_last_train_the_same_model():
    reference, ref_stats, ref_val, _, _ = _epoch(_cfg())
    fast, stats, val, confusion, _ = _epoch(_cfg(precision="bf16", channels_last=True))
    # The model's weights and inputs arrive channels-last; the convolution runs in bf16 under autocast.
    assert fast.conv.weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert all(channels_last for _, channels_last in fast.seen)
    assert fast.conv.weight.dtype == torch.float32, "weights stay fp32 (autocast casts per op)"
    with accel.autocast(_cfg(precision="bf16").train, torch.device("cpu")):
        assert fast.conv(torch.randn(1, 3, 2, 4, 4)).dtype == torch.bfloat16
    # Same data, same seed: the losses agree to bf16 precision and the weights moved the same way.
    assert stats["train_loss_sum"] == pytest.approx(ref_stats["train_loss_sum"], rel=0.05)
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(fast.state_dict()[name], value, rtol=0.05, atol=0.02)
    assert val["val_seen"] == ref_val["val_seen"] == 4 and int(confusion.sum()) == 4


def test_channels_last_leaves_non_5d_tensors_and_the_optimisers_parameters_alone():
    model = torch.nn.Sequential(torch.nn.Conv3d(3, 4, 3), torch.nn.Conv2d(4, 4, 3), torch.nn.BatchNorm3d(4))
    params = list(model.parameters())
    accel.prepare_module(model, _cfg(channels_last=True).train)
    assert list(model.parameters()) == params and all(a is b for a, b in zip(model.parameters(), params, strict=True))
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert model[1].weight.is_contiguous() and model[1].weight.dim() == 4


def test_pinned_batches_are_asked_for_on_gpu_workers_only():
    cfg = _cfg()
    assert accel.iter_options(cfg.train, torch.device("cuda"))["pin_memory"] is True
    assert accel.iter_options(_cfg(pin_memory=False).train, torch.device("cuda"))["pin_memory"] is False
    assert accel.iter_options(cfg.train, torch.device("cpu"))["pin_memory"] is False


@pytest.mark.slow
def test_compiled_model_trains_and_checkpoints_keep_plain_keys():
    reference, ref_stats, _, _, _ = _epoch(_cfg())
    compiled_raw, stats, val, _, _ = _epoch(_cfg(compile=True))
    assert stats["train_loss_sum"] == pytest.approx(ref_stats["train_loss_sum"], rel=1e-3)
    assert list(compiled_raw.state_dict()) == list(reference.state_dict()), "no _orig_mod. prefixes"
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(compiled_raw.state_dict()[name], value, rtol=1e-3, atol=1e-4)
    assert val["val_seen"] == 4
