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
