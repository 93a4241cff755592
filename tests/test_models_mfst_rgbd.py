"""Two-stream RGB-D MFST (Tables I/II, RGB+DEP rows): config, stream routing, late score fusion, stream checkpoints."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from actrec.config import from_flat
from actrec.models import build_model, create_model, model_config, tiny_overrides
from actrec.models.complexity import count_gflops
from actrec.models.mfst import MFST, MFSTConfig, TwoStreamMFST, TwoStreamMFSTConfig


def _tiny_rgbd(name: str = "mfst_large_rgbd", **overrides) -> TwoStreamMFST:
    return create_model(name, **{**tiny_overrides(name), "num_classes": 5, **overrides})


def _tiny_single(stem: str, theta: float = 0.6, **overrides) -> MFST:
    return create_model(
        "mfst_large", **{**tiny_overrides("mfst_large"), "num_classes": 5, "stem": stem, "theta": theta, **overrides}
    )


def _save_like_the_loop(directory: Path, model: torch.nn.Module, *, best: bool, state: bool) -> Path:
    """A checkpoint directory as ``actrec.train.loop`` writes it (best.pt and/or state.pt)."""
    directory.mkdir(parents=True, exist_ok=True)
    if state:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        torch.save(
            {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 2, "best_top1": 50.0},
            directory / "state.pt",
        )
    if best:
        torch.save({"model": model.state_dict(), "epoch": 3, "val_top1": 50.0}, directory / "best.pt")
    return directory


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"in_channels": 3}, "model.in_channels"),
        ({"depth_stem": "CDC-X"}, "model.depth_stem"),
        ({"depth_theta": 1.5}, "model.depth_theta"),
        ({"rgb_weight": -0.1}, "model.rgb_weight"),
        ({"rgb_weight": 1.5}, "model.rgb_weight"),
        ({"rgb_checkpoint": 3}, "model.rgb_checkpoint"),
        ({"depth_checkpoint": None}, "model.depth_checkpoint"),
        ({"theta": 2.0}, "model.theta"),  # the shared MFSTConfig checks still apply
    ],
)
def test_config_validation_names_the_field(overrides, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        TwoStreamMFSTConfig(**{"stages": 3, "dims": (16, 24, 32), "heads": 2, **overrides})


def test_stream_configs_split_stem_and_theta_and_share_the_rest():
    config = model_config("mfst_large_rgbd", stem="vanilla", theta=0.2, depth_stem="CDC-ST", depth_theta=0.8)
    rgb, depth = config.stream_config("rgb"), config.stream_config("depth")
    assert type(rgb) is MFSTConfig and type(depth) is MFSTConfig
    assert (rgb.stem, rgb.theta, depth.stem, depth.theta) == ("vanilla", 0.2, "CDC-ST", 0.8)
    assert rgb.in_channels == depth.in_channels == 3
    assert rgb == MFSTConfig(**{**vars(depth), "stem": "vanilla", "theta": 0.2})
    assert rgb.stages == 4 and rgb.dims == config.dims
    with pytest.raises(ValueError, match="stream"):
        config.stream_config("flow")


def test_streams_see_their_own_channels_and_use_their_own_stem():
    torch.manual_seed(0)
    model = _tiny_rgbd(depth_theta=0.8).eval()
    assert [(c.mode, c.theta) for c in model.rgb.stem.modules() if hasattr(c, "mode")] == [("ST", 0.6)] * 2
    assert [(c.mode, c.theta) for c in model.depth.stem.modules() if hasattr(c, "mode")] == [("T", 0.8)] * 2
    x = torch.randn(2, 6, 4, 24, 24)
    logits = model(x)
    assert logits.shape == (2, 2, 5)
    torch.testing.assert_close(logits[:, 0], model.rgb(x[:, :3]))
    torch.testing.assert_close(logits[:, 1], model.depth(x[:, 3:]))
    changed_depth = x.clone()
    changed_depth[:, 3:] = torch.randn(2, 3, 4, 24, 24)
    other = model(changed_depth)
    torch.testing.assert_close(other[:, 0], logits[:, 0])
    assert not torch.allclose(other[:, 1], logits[:, 1])
    with pytest.raises(ValueError, match="expects"):
        model(torch.randn(2, 3, 4, 24, 24))


def test_fuse_scores_is_the_weighted_mean_of_the_stream_softmaxes():
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]]])
    rgb, depth = F.softmax(logits[:, 0], -1), F.softmax(logits[:, 1], -1)
    for weight in (0.0, 0.3, 0.5, 1.0):
        model = _tiny_rgbd(num_classes=3, rgb_weight=weight)
        fused = model.fuse_scores(logits)
        torch.testing.assert_close(fused, weight * rgb + (1 - weight) * depth)
        torch.testing.assert_close(fused.sum(-1), torch.ones(1))
    # The weight decides the prediction when the streams disagree.
    assert _tiny_rgbd(num_classes=3, rgb_weight=0.9).fuse_scores(logits).argmax(-1).item() == 0
    assert _tiny_rgbd(num_classes=3, rgb_weight=0.1).fuse_scores(logits).argmax(-1).item() == 1


def test_single_modality_checkpoints_load_and_fused_scores_match_the_single_models(tmp_path):
    torch.manual_seed(1)
    rgb_model, depth_model = _tiny_single("CDC-ST"), _tiny_single("CDC-T")
    rgb_dir = _save_like_the_loop(tmp_path / "rgb", rgb_model, best=True, state=True)
    depth_dir = _save_like_the_loop(tmp_path / "depth", depth_model, best=False, state=True)  # state.pt only
    torch.manual_seed(2)  # the two-stream model's own initialisation differs from the checkpoints
    model = _tiny_rgbd(rgb_checkpoint=str(rgb_dir), depth_checkpoint=str(depth_dir), rgb_weight=0.3).eval()
    rgb_model.eval(), depth_model.eval()
    x = torch.randn(3, 6, 4, 24, 24)
    with torch.no_grad():
        fused = model.fuse_scores(model(x))
        expected = 0.3 * F.softmax(rgb_model(x[:, :3]), -1) + 0.7 * F.softmax(depth_model(x[:, 3:]), -1)
    torch.testing.assert_close(fused, expected)
    # Without the checkpoints the streams keep their own initialisation and the scores differ.
    torch.manual_seed(2)
    fresh = _tiny_rgbd(rgb_weight=0.3).eval()
    with torch.no_grad():
        assert not torch.allclose(fresh.fuse_scores(fresh(x)), expected, atol=1e-4)


def test_checkpoint_directory_prefers_best_pt_and_a_pt_file_is_accepted(tmp_path):
    torch.manual_seed(3)
    best_model, last_model = _tiny_single("CDC-T"), _tiny_single("CDC-T")
    directory = _save_like_the_loop(tmp_path / "run", last_model, best=False, state=True)
    torch.save({"model": best_model.state_dict(), "epoch": 1, "val_top1": 60.0}, directory / "best.pt")
    model = _tiny_rgbd(depth_checkpoint=str(directory))
    for name, value in best_model.state_dict().items():
        torch.testing.assert_close(model.depth.state_dict()[name], value)
    single_file = _tiny_rgbd(depth_checkpoint=str(directory / "state.pt"))
    for name, value in last_model.state_dict().items():
        torch.testing.assert_close(single_file.depth.state_dict()[name], value)


def test_bad_stream_checkpoints_name_the_field_and_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match=r"model\.rgb_checkpoint.*nowhere"):
        _tiny_rgbd(rgb_checkpoint=str(missing))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"model\.depth_checkpoint.*empty.*best\.pt"):
        _tiny_rgbd(depth_checkpoint=str(empty))
    # A stream of another size (here: 7 classes instead of 5) does not fit.
    other = _save_like_the_loop(tmp_path / "other", _tiny_single("CDC-T", num_classes=7), best=True, state=False)
    with pytest.raises(ValueError, match=r"model\.depth_checkpoint.*other.*best\.pt"):
        _tiny_rgbd(depth_checkpoint=str(other))
    # A two-stream checkpoint is not a single-modality one.
    two_stream = tmp_path / "two_stream.pt"
    torch.save({"model": _tiny_rgbd().state_dict()}, two_stream)
    with pytest.raises(ValueError, match=r"model\.rgb_checkpoint.*two_stream\.pt"):
        _tiny_rgbd(rgb_checkpoint=str(two_stream))
    no_model = tmp_path / "no_model.pt"
    torch.save({"epoch": 1}, no_model)
    with pytest.raises(ValueError, match=r"model\.rgb_checkpoint.*no_model\.pt.*'model'"):
        _tiny_rgbd(rgb_checkpoint=str(no_model))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"model\.rgb_checkpoint.*garbage\.pt"):
        _tiny_rgbd(rgb_checkpoint=str(garbage))


def test_experiment_config_derives_six_channels_from_rgbd_data():
    tiny = {f"model.{k}": v for k, v in tiny_overrides("mfst_base_rgbd").items()}
    cfg = from_flat({"model.name": "mfst_base_rgbd", "data.modality": "rgbd", **tiny})
    assert cfg.data.input_channels == 6 and cfg.model.in_channels == 6
    assert isinstance(build_model(cfg.model), TwoStreamMFST)
    with pytest.raises(ValueError, match=r"model\.in_channels"):
        from_flat({"model.name": "mfst_base_rgbd", "data.modality": "rgb", **tiny})


def test_two_stream_gflops_are_the_sum_of_the_streams():
    model = _tiny_rgbd()
    total = count_gflops(model, (1, 6, 4, 24, 24))
    streams = count_gflops(model.rgb, (1, 3, 4, 24, 24)) + count_gflops(model.depth, (1, 3, 4, 24, 24))
    assert total > 0 and total == pytest.approx(streams, rel=1e-6)
