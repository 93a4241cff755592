"""Every registered model builds at tiny size, runs forward/backward, and the registry rejects bad names/fields."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from actrec.models import (
    UnknownModelError,
    build_model,
    create_model,
    list_models,
    model_class,
    model_config,
    tiny_overrides,
)
from actrec.models.mfst import MFSTConfig
from actrec.models.protocol import class_scores, example_inputs, set_progress, training_loss

# Every test below runs on every registered model through the model protocol (actrec.models.protocol) alone: a new
# model is tested as soon as it is registered, with no entry to add here.


def test_registry_lists_the_paper_variants():
    names = list_models()
    assert names == sorted(names)
    assert {"mfst_base", "mfst_large", "mfst_bm", "mfst_base_rgbd", "mfst_large_rgbd"} <= set(names)
    assert {"derecouple", "derecouple_rgbd"} <= set(names)
    assert {"rpe_stdt", "vit_spatial", "vivit_b"} <= set(names)
    assert {"ctn", "ctn_epic"} <= set(names)
    assert {"epam_rgb_x3d", "epam_rgb_x3d_wide", "epam_pose_x3d", "epam_net"} <= set(names)


def _with_classes(name: str, classes: int):
    """The tiny config of ``name`` with ``classes`` output classes (a verb + noun config, one whose fields include
    num_verbs and num_nouns, as ``classes`` verbs of one noun: its joint label count must match)."""
    fields = {f.name for f in dataclasses.fields(model_config(name))}
    joint = {"num_verbs": classes, "num_nouns": 1} if {"num_verbs", "num_nouns"} <= fields else {}
    return model_config(name, **tiny_overrides(name), num_classes=classes, **joint)


@pytest.mark.parametrize("name", list_models())
def test_tiny_model_forward_backward(name):
    torch.manual_seed(0)
    classes = 5
    config = _with_classes(name, classes)
    assert config.num_classes == classes
    model = build_model(config)
    set_progress(model, 0.5, 2)
    output = model(*example_inputs(model, 2))
    if isinstance(output, dict):  # DDP-friendly output: a dict of tensors (no dataclasses)
        assert all(isinstance(v, torch.Tensor) for v in output.values())
    else:
        assert isinstance(output, torch.Tensor) and output.shape[0] == 2 and output.shape[-1] == classes
    scores = class_scores(model, output)
    assert scores.shape == (2, classes) and (scores >= 0).all()
    assert torch.allclose(scores.sum(-1), torch.ones(2), atol=1e-5)
    target = 0.8 * F.one_hot(torch.tensor([0, classes - 1]), classes).float() + 0.2 / classes  # soft targets
    loss, terms = training_loss(model, output, target)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert all(isinstance(v, torch.Tensor) and v.ndim == 0 for v in terms.values())
    loss.backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    for param_name, param in trainable:
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name


@pytest.mark.parametrize("name", list_models())
def test_model_config_applies_overrides_and_build_model_uses_config_type(name):
    config = model_config(name, **tiny_overrides(name))
    for key, value in tiny_overrides(name).items():
        assert getattr(config, key) == value
    model = build_model(config)
    assert type(model) is model_class(name) and model.config == config


def test_variant_defaults_differ_as_in_the_paper():
    base, large, bm = model_config("mfst_base"), model_config("mfst_large"), model_config("mfst_bm")
    assert (base.stages, large.stages, bm.stages) == (3, 4, 4)
    assert base.dims[:3] == large.dims[:3]
    assert dataclasses.replace(base, stages=4) == large
    assert (bm.stem, bm.theta, bm.residual, bm.temporal_block) == ("vanilla", 0.0, False, "V-Trans")
    # The RGB+DEP variants: the single-modality variant's fields (RGB stream), 6 input channels, CDC-T depth stream.
    for single in ("mfst_base", "mfst_large"):
        rgbd = model_config(f"{single}_rgbd")
        assert rgbd.stream_config("rgb") == model_config(single)
        assert (rgbd.in_channels, rgbd.depth_stem, rgbd.depth_theta, rgbd.rgb_weight) == (6, "CDC-T", 0.6, 0.5)


def test_unknown_model_name_lists_known_models():
    with pytest.raises(UnknownModelError, match="mfst_base") as excinfo:
        create_model("mfst_huge")
    assert isinstance(excinfo.value, KeyError) and isinstance(excinfo.value, ValueError)
    with pytest.raises(KeyError):
        tiny_overrides("nope")


def test_unknown_override_field_is_named():
    with pytest.raises(ValueError, match=r"model\.depthh"):
        model_config("mfst_base", depthh=3)
    with pytest.raises(ValueError, match=r"model\.theta"):
        create_model("mfst_base", theta=2.0)


def test_build_model_rejects_unregistered_config_type():
    @dataclasses.dataclass(frozen=True)
    class OtherConfig:
        width: int = 1

    with pytest.raises(ValueError, match="OtherConfig"):
        build_model(OtherConfig())


def test_tiny_overrides_is_a_copy():
    overrides = tiny_overrides("mfst_base")
    overrides["heads"] = 99
    assert tiny_overrides("mfst_base")["heads"] != 99
    assert isinstance(model_config("mfst_base", **tiny_overrides("mfst_base")), MFSTConfig)
