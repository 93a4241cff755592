"""actrec.config: dotted keys, CLI coercion, validation messages naming the field."""

import pytest

from actrec.config import flatten, from_flat, parse_overrides
from actrec.models import tiny_overrides


def test_defaults_resolve_and_round_trip():
    cfg = from_flat({})
    flat = flatten(cfg)
    assert flat["model.name"] == "mfst_base"
    assert flat["model.num_classes"] == cfg.data.num_classes  # derived from the dataset
    assert from_flat(flat) == cfg


def test_cli_strings_are_coerced_to_field_types():
    cfg = from_flat(
        parse_overrides(
            [
                "model.theta=0.8",
                "model.stem=CDC-T",
                "train.epochs=3",
                "model.residual=false",
                "model.dims=16,24,32,32",
                "train.accelerator=gpu",
                "train.accelerators_per_worker=0.5",
                "model.name=mfst_large",
            ]
        )
    )
    assert cfg.model.theta == 0.8 and cfg.model.stem == "CDC-T"
    assert cfg.train.epochs == 3 and cfg.model.residual is False and cfg.train.use_gpu is True
    assert cfg.model.dims == (16, 24, 32, 32)
    assert cfg.model_name == "mfst_large" and cfg.model.stages == 4


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"model.theta": 1.5}, "model.theta"),
        ({"model.stem": "sobel"}, "model.stem"),
        ({"train.epochs": -1}, "train.epochs"),
        ({"optim.lr": -1.0}, "optim.lr"),
        ({"optim.momentum": 1.0}, "optim.momentum"),
        ({"optim.clip_grad_norm": -1.0}, "optim.clip_grad_norm"),
        ({"optim.name": "lamb"}, "optim.name"),
        ({"data.modality": "thermal"}, "data.modality"),
        ({"model.name": "resnet"}, "model.name"),
        ({"model.nonsense": 1}, "model.nonsense"),
        ({"train.epochs": "three"}, "train.epochs"),
        ({"model.num_classes": 3}, "model.num_classes"),
        ({"train.accelerator": ""}, "train.accelerator"),
        ({"train.accelerator": "GPU"}, "train.accelerator"),  # Ray's own resource: 'gpu' asks for it
        ({"train.accelerator": "memory"}, "train.accelerator"),
        ({"train.accelerators_per_worker": 0}, "train.accelerators_per_worker"),
        ({"train.accelerator": "gpu", "train.accelerators_per_worker": 2}, "train.accelerators_per_worker"),
        ({"train.use_gpu": "maybe"}, "train.use_gpu"),
        ({"train.accelerator": " gpu"}, "train.accelerator"),
        ({"train.accelerators_per_worker": float("inf")}, "train.accelerators_per_worker"),
        # Two DDP workers of one trial on one GPU: NCCL refuses two ranks on a device.
        (
            {"train.accelerator": "gpu", "train.accelerators_per_worker": 0.5, "train.num_workers": 2},
            "train.accelerators_per_worker",
        ),
        ({"train.use_gpu": True, "train.accelerator": "accel"}, "train.use_gpu"),
        ({"train.use_gpu": False, "train.accelerator": "gpu"}, "train.use_gpu"),
    ],
)
def test_impossible_values_name_the_field(overrides, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        from_flat(overrides)


def test_accelerators_are_configuration():
    """``train.accelerator``: nothing, Ray's GPUs (CUDA, NCCL) or a custom resource that only places the workers."""
    assert from_flat({}).train.worker_resources == {"CPU": 1.0}
    gpu = from_flat({"train.accelerator": "gpu", "train.cpus_per_worker": "8"}).train
    assert gpu.use_gpu and gpu.worker_resources == {"CPU": 8.0, "GPU": 1.0}
    custom = from_flat({"train.accelerator": "accel", "train.accelerators_per_worker": "2"}).train
    assert not custom.use_gpu and custom.worker_resources == {"CPU": 1.0, "accel": 2.0}
    # Sweeps started before train.accelerator recorded train.use_gpu, and still resume.
    assert from_flat({"train.use_gpu": "true"}).train == from_flat({"train.accelerator": "gpu"}).train
    assert from_flat({"train.use_gpu": False}).train == from_flat({}).train
    assert "train.use_gpu" not in flatten(from_flat({"train.use_gpu": True}))
    # Their stored --set train.use_gpu=false overrides a GPU profile on --resume, as it did.
    assert parse_overrides(["train.use_gpu=false"]) == {"train.accelerator": "cpu"}
    profile = {"train.accelerator": "gpu", "train.num_workers": 4}
    assert not from_flat({**profile, **parse_overrides(["train.use_gpu=0"])}).train.use_gpu
    with pytest.raises(ValueError, match="not both"):
        parse_overrides(["train.use_gpu=true", "train.accelerator=gpu"])


def test_malformed_override_is_rejected():
    with pytest.raises(ValueError, match="section.field=value"):
        parse_overrides(["theta0.6"])
    with pytest.raises(ValueError, match="unknown config key"):
        from_flat({"modell.theta": 0.6})


def test_model_size_tiny_applies_the_named_models_tiny_overrides_under_explicit_values():
    for name in ("rpe_stdt", "vit_spatial", "mfst_large"):
        cfg = from_flat({"model.name": name, "model.size": "tiny"})
        for key, value in tiny_overrides(name).items():
            assert getattr(cfg.model, key) == value, (name, key)
        assert "model.size" not in flatten(cfg)  # the resolved values themselves are what a run records
        assert from_flat(flatten(cfg)) == cfg
    explicit = from_flat({"model.name": "rpe_stdt", "model.size": "tiny", "model.patch_size": "4"})
    assert explicit.model.patch_size == 4 and explicit.model.dim == tiny_overrides("rpe_stdt")["dim"]
    assert from_flat({"model.name": "rpe_stdt", "model.size": "paper"}).model.dim == 768
    with pytest.raises(ValueError, match=r"model\.size"):
        from_flat({"model.size": "small"})
