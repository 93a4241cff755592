"""actrec.models.complexity: the meta-device count (what a sweep's cost plan multiplies before anything runs) is
fvcore's traced count (what every trial reports as ``model_gflops``), operator kind by kind, on every registered
model."""

import pytest
import torch

from actrec.models import build_model, list_models, model_config, tiny_overrides
from actrec.models.complexity import count_gflops, count_gflops_meta
from actrec.models.protocol import example_inputs


def _fvcore_by_kind(model: torch.nn.Module, shapes: list[tuple[int, ...]]) -> dict[str, float]:
    """fvcore's count of ``model`` split as the meta count splits it: its convolutions, and the rest."""
    from fvcore.nn import FlopCountAnalysis

    model.eval()
    with torch.no_grad():
        analysis = FlopCountAnalysis(model, tuple(torch.zeros(shape) for shape in shapes))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        by_operator = analysis.by_operator()
    convolution = by_operator.get("conv", 0)
    return {"convolution": convolution / 1e9, "other": (sum(by_operator.values()) - convolution) / 1e9}


@pytest.mark.parametrize("name", list_models())
def test_the_meta_count_is_fvcores_on_every_registered_model(name):
    config = model_config(name, **tiny_overrides(name))
    model = build_model(config)
    shapes = [tuple(x.shape) for x in example_inputs(model, batch_size=1)]
    meta = count_gflops_meta(lambda: build_model(config), *shapes)
    fvcore = _fvcore_by_kind(model, shapes)
    assert meta["convolution"] == pytest.approx(fvcore["convolution"], rel=1e-9, abs=1e-15), name
    # fvcore counts an einsum as numpy's einsum_path estimates it, PyTorch runs it as matrix products: a few
    # multiply-adds apart per call (under 0.1% of the rest, 0.006% of the total, on these CPU-tiny models).
    assert meta["other"] == pytest.approx(fvcore["other"], rel=1e-3, abs=1e-15), name
    assert sum(meta.values()) == pytest.approx(count_gflops(model, *shapes), rel=1e-4), name
    assert sum(meta.values()) > 0


def test_the_meta_count_of_a_paper_size_model_is_the_documented_one():
    """EPAM-Net's RGB X3D at paper size, 60 classes, one 16 × 224² clip: 4.898 GFLOPs (fvcore, ``actrec.models.epam``'s
    docstring), of which 4.731 in its convolutions; counted in milliseconds, with no weights allocated."""
    config = model_config("epam_rgb_x3d", num_classes=60)
    meta = count_gflops_meta(lambda: build_model(config), (1, 3, 16, 224, 224))
    assert sum(meta.values()) == pytest.approx(4.898, abs=5e-4)
    assert meta["convolution"] == pytest.approx(4.731, abs=5e-4)


def test_a_cached_count_is_made_once_per_key_and_read_back(tmp_path, caplog):
    """``cached_gflops``: the first call with a key counts and writes, later calls with it read the file; another key
    or a damaged file counts again; no directory counts every time; a directory that cannot be written still gives the
    count (and a warning)."""
    from actrec.models.complexity import cached_gflops

    calls = []

    def count(value):
        def run():
            calls.append(value)
            return value

        return run

    key = {"config_class": "a.MFSTConfig", "config": {"depth": 2, "theta": 0.7}, "inputs": [[1, 3, 4, 24, 24]]}
    assert cached_gflops(tmp_path, key, count(1.25)) == 1.25
    (written,) = tmp_path.glob("*.json")
    assert written.stat().st_mode & 0o777 == 0o644
    assert cached_gflops(tmp_path, dict(key), count(9.0)) == 1.25  # read back, not counted
    assert calls == [1.25]
    other = {**key, "config": {"depth": 2, "theta": 0.6}}
    assert cached_gflops(tmp_path, other, count(2.5)) == 2.5
    assert calls == [1.25, 2.5] and len(list(tmp_path.glob("*.json"))) == 2

    written.write_text('{"gflops": 1.2')  # e.g. a file cut short by a full disk
    assert cached_gflops(tmp_path, key, count(1.5)) == 1.5
    assert cached_gflops(tmp_path, key, count(9.0)) == 1.5
    assert calls == [1.25, 2.5, 1.5]
    assert not list(tmp_path.glob(".tmp-*"))  # no temporary file left behind

    assert cached_gflops(None, key, count(4.0)) == 4.0
    assert cached_gflops(None, key, count(4.0)) == 4.0
    assert calls[-2:] == [4.0, 4.0]

    (tmp_path / "a_file").write_text("")
    with caplog.at_level("WARNING", logger="actrec.models.complexity"):
        assert cached_gflops(tmp_path / "a_file" / "counts", key, count(5.0)) == 5.0
    assert "GFLOPs count not kept" in caplog.text


def test_a_counts_key_follows_the_architecture_and_the_code_not_the_weights(tmp_path, monkeypatch):
    """``model_gflops_key``: configs that differ only in a weight file share a key; another architecture value, input
    shape or config class does not; and the key changes when the source of a module the model is built from does."""
    import dataclasses
    import sys

    from actrec.models import complexity

    config = model_config("mfst_base_rgbd", **tiny_overrides("mfst_base_rgbd"))
    model = build_model(config)
    shape = (1, 6, 4, 32, 32)
    key = complexity.model_gflops_key(model, config, shape)
    other = dataclasses.replace(config, rgb_checkpoint="/elsewhere/rgb", depth_checkpoint="/elsewhere/depth")
    assert complexity.model_gflops_key(model, other, shape) == key
    changed = dataclasses.replace(config, theta=0.3)
    assert complexity.model_gflops_key(model, changed, shape) != key
    assert complexity.model_gflops_key(model, config, (1, 6, 8, 32, 32)) != key
    rgb = model_config("mfst_base", **tiny_overrides("mfst_base"))
    assert complexity.model_gflops_key(build_model(rgb), rgb, shape)["config_class"] != key["config_class"]
    assert key["config_class"].startswith("actrec.models.") and key["config_class"].endswith("Config")

    plugin = tmp_path / "my_plugin_layers.py"
    plugin.write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_plugin_layers  # noqa: F401  (a module outside actrec a model could be built from)

    before = complexity._source_digest(["my_plugin_layers"])
    assert complexity._source_digest(["my_plugin_layers"]) == before
    plugin.write_text("X = 2\n")
    assert complexity._source_digest(["my_plugin_layers"]) != before
    sys.modules.pop("my_plugin_layers", None)
