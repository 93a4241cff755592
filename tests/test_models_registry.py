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
    model_config,
    tiny_overrides,
)
from actrec.models.ctn import CTN, CTNConfig, CTNVerbNoun, CTNVerbNounConfig
from actrec.models.derecouple import DeRecouple, DeRecoupleConfig
from actrec.models.epam import EPAMX3D, EPAMX3DConfig
from actrec.models.epam_net import EPAMNet, EPAMNetConfig
from actrec.models.mfst import MFST, MFSTConfig, TwoStreamMFST, TwoStreamMFSTConfig
from actrec.models.rpe_stdt import RPESTDT, RPESTDTConfig
from actrec.models.vit import ViTSpatial, ViTSpatialConfig, ViViT, ViViTConfig

# Registered config type -> (model class, dims of a tensor output after the batch (None: a dict of tensors), the
# training-loop protocol methods it defines (see actrec.train.loop; a model may define any of them)). Two-stream
# MFST and EPAM-Net return one row of logits per stream, (B, S, K), train on their summed losses and score by late
# fusion.
EXPECTED = {
    MFSTConfig: (MFST, (), ()),
    TwoStreamMFSTConfig: (TwoStreamMFST, (2,), ("training_loss", "class_scores")),
    DeRecoupleConfig: (DeRecouple, None, ("training_loss", "class_scores", "set_progress")),
    RPESTDTConfig: (RPESTDT, (), ()),
    ViTSpatialConfig: (ViTSpatial, (), ()),
    ViViTConfig: (ViViT, (), ()),
    CTNConfig: (CTN, (), ()),
    CTNVerbNounConfig: (CTNVerbNoun, None, ("training_loss", "class_scores")),
    EPAMX3DConfig: (EPAMX3D, (), ()),
    EPAMNetConfig: (EPAMNet, (2,), ("training_loss", "class_scores")),
}
PROTOCOL_METHODS = ("training_loss", "class_scores", "set_progress")


def _classes(name: str, num_classes: int) -> dict[str, int]:
    """``num_classes`` overrides; a verb + noun model (joint action labels ``verb · num_nouns + noun``) also gets
    ``num_verbs = num_classes``, ``num_nouns = 1`` so that ``num_classes == num_verbs · num_nouns``."""
    if isinstance(model_config(name), CTNVerbNounConfig):
        return {"num_classes": num_classes, "num_verbs": num_classes, "num_nouns": 1}
    return {"num_classes": num_classes}


def test_registry_lists_the_paper_variants():
    names = list_models()
    assert names == sorted(names)
    assert {"mfst_base", "mfst_large", "mfst_bm", "mfst_base_rgbd", "mfst_large_rgbd"} <= set(names)
    assert {"derecouple", "derecouple_rgbd"} <= set(names)
    assert {"rpe_stdt", "vit_spatial", "vivit_b"} <= set(names)
    assert {"ctn", "ctn_epic"} <= set(names)
    assert {"epam_rgb_x3d", "epam_rgb_x3d_wide", "epam_pose_x3d", "epam_net"} <= set(names)


@pytest.mark.parametrize("name", list_models())
def test_model_implements_exactly_its_loop_protocol_methods(name):
    model = build_model(model_config(name, **tiny_overrides(name), **_classes(name, 5)))
    implemented = {method for method in PROTOCOL_METHODS if callable(getattr(model, method, None))}
    _, _, methods = EXPECTED[type(model.config)]
    assert implemented == set(methods)


def _inputs(config) -> tuple[torch.Tensor, ...]:
    """A batch of 2 of the model's inputs: (B, C, 8, 32, 32) clips; EPAM-Net takes (rgb, pose) as data.modality
    "rgb_pose" gives them, the tiny model's 4 RGB frames and 3 x 4 heatmap frames at a quarter of the crop size."""
    if isinstance(config, EPAMNetConfig):
        return torch.randn(2, 3, config.rgb_frames, 32, 32), torch.randn(2, config.pose_channels, 12, 8, 8)
    return (torch.randn(2, config.in_channels, 8, 32, 32),)


@pytest.mark.parametrize("name", list_models())
def test_tiny_model_forward_backward(name):
    torch.manual_seed(0)
    config = model_config(name, **tiny_overrides(name), **_classes(name, 5))
    model = build_model(config)
    _, dims, methods = EXPECTED[type(config)]
    if "set_progress" in methods:
        model.set_progress(0.5, 2)
    output = model(*_inputs(config))
    if dims is None:
        # DDP-friendly output: a dict of tensors (no dataclasses), read by the loop through the protocol only.
        assert isinstance(output, dict) and all(isinstance(v, torch.Tensor) for v in output.values())
    else:
        assert output.shape == (2, *dims, 5)
    if "class_scores" in methods:
        scores = model.class_scores(output)
        assert scores.shape == (2, 5) and (scores >= 0).all()
        assert torch.allclose(scores.sum(-1), torch.ones(2))
    if "training_loss" in methods:
        target = 0.8 * F.one_hot(torch.tensor([0, 3]), 5).float() + 0.2 / 5  # soft (label-smoothed) targets
        loss, terms = model.training_loss(output, target)
        assert loss.ndim == 0 and torch.isfinite(loss)
        assert terms and all(isinstance(v, torch.Tensor) and v.ndim == 0 for v in terms.values())
        loss.backward()
    else:
        output.square().mean().backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    for param_name, param in trainable:
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name


@pytest.mark.parametrize("name", list_models())
def test_model_config_applies_overrides_and_build_model_uses_config_type(name):
    config = model_config(name, **tiny_overrides(name), **_classes(name, 7))
    assert config.num_classes == 7
    for key, value in tiny_overrides(name).items():
        assert getattr(config, key) == value
    model = build_model(config)
    model_cls, _, _ = EXPECTED[type(config)]
    assert type(model) is model_cls and model.config == config


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
