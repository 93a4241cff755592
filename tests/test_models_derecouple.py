"""De+Recouple model (Zhou et al. CVPR 2022): switches, loss terms, RGB-D fusion, τ schedule, config, size."""

import dataclasses
import itertools

import pytest
import torch
import torch.nn.functional as F

from actrec.layers.attention import KNNMultiheadAttention
from actrec.models import create_model, model_config, tiny_overrides
from actrec.models.complexity import count_gflops
from actrec.models.derecouple import DeRecouple, DeRecoupleConfig

CLASSES = 5


def _tiny(name: str = "derecouple", **overrides) -> DeRecouple:
    torch.manual_seed(0)
    return create_model(name, **{**tiny_overrides(name), "num_classes": CLASSES, **overrides})


def _clip(channels: int = 3, frames: int = 8, size: int = 16, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, channels, frames, size, size, generator=torch.Generator().manual_seed(1))


def _soft_target(batch: int = 2) -> torch.Tensor:
    # A MixUp-like soft target: two classes mixed 0.7 / 0.3.
    hard = F.one_hot(torch.arange(batch) % CLASSES, CLASSES).float()
    return 0.7 * hard + 0.3 * hard.roll(1, dims=1)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _assert_all_parameters_trained(model: torch.nn.Module) -> None:
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name


def _unimodal_terms(multi_loss: bool, recoupling: bool, prefix: str = "") -> set[str]:
    return (
        {f"{prefix}ce"}
        | ({f"{prefix}ce_branches"} if multi_loss else set())
        | ({f"{prefix}distill"} if recoupling else set())
    )


SWITCHES = list(itertools.product([False, True], repeat=5))


@pytest.mark.parametrize(("frp", "recoupling", "multi_loss", "sharpness", "knn"), SWITCHES)
def test_every_switch_combination_trains_with_exactly_its_loss_terms(frp, recoupling, multi_loss, sharpness, knn):
    model = _tiny(frp=frp, recoupling=recoupling, multi_loss=multi_loss, sharpness=sharpness,
                  knn_k=0.5 if knn else None)  # fmt: skip
    stream = model.streams["video"]
    assert (stream.dsn.frp is not None) == frp and (stream.dsn.fusions is not None) == frp
    assert (stream.rcm is not None) == recoupling
    attention = [m for m in model.modules() if isinstance(m, KNNMultiheadAttention)]
    assert attention and all(m.k == (0.5 if knn else 1.0) for m in attention)

    output = model(_clip())
    assert all(isinstance(v, torch.Tensor) for v in output.values())
    expected_keys = {"logits", "branch_logits", "class_tokens"} | ({"distill_logits"} if recoupling else set())
    assert set(output) == expected_keys
    assert output["logits"].shape == (2, CLASSES)
    assert output["branch_logits"].shape == (2, 3, CLASSES)
    loss, terms = model.training_loss(output, _soft_target())
    assert set(terms) == _unimodal_terms(multi_loss, recoupling)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert torch.allclose(loss, sum(terms.values()))
    assert all(v.ndim == 0 and not v.requires_grad for v in terms.values())
    loss.backward()
    _assert_all_parameters_trained(model)


def test_loss_terms_are_the_soft_cross_entropies_of_the_outputs():
    model = _tiny(recoupling=False, branch_weight=0.25)
    output, target = model(_clip()), _soft_target()
    _, terms = model.training_loss(output, target)
    ce = lambda logits: -(target * logits.log_softmax(-1)).sum(-1).mean()  # noqa: E731
    assert torch.allclose(terms["ce"], ce(output["logits"]))
    branches = output["branch_logits"]
    assert torch.allclose(terms["ce_branches"], 0.25 * sum(ce(branches[:, k]) for k in range(3)))


def test_distillation_term_is_eq14_and_trains_only_the_recoupling_side():
    model = _tiny(multi_loss=False, distill_temperature=0.4)
    output = model(_clip())
    _, terms = model.training_loss(output, _soft_target())
    teacher = output["class_tokens"].sum(1)  # CLS = Σ_k O_k^CLS
    p_t = (teacher / 0.4).softmax(-1)
    expected = (p_t * (p_t.log() - (output["distill_logits"] / 0.4).log_softmax(-1))).sum(-1).mean()
    assert torch.allclose(terms["distill"], expected, atol=1e-6)
    model.zero_grad()
    # The teacher is detached: C_d alone gives no gradient to the DTN, but does to the RCM's Y direction and F.
    stream = model.streams["video"]
    distill = stream.loss_terms(output, _soft_target())["distill"]
    distill.backward()
    assert all(p.grad is None for p in stream.dtn.parameters())
    assert stream.rcm.distill_map.weight.grad.abs().sum() > 0


def test_sharpness_divides_the_logits_by_tau_and_set_progress_follows_the_cosine_schedule():
    sharp = _tiny(sharpness=True).eval()
    plain = _tiny(sharpness=False).eval()
    plain.load_state_dict(sharp.state_dict())  # sharpness has no parameters: same weights
    clip = _clip()
    with torch.no_grad():
        sharp.set_progress(0.0, 10)
        assert sharp.temperature == pytest.approx(0.04)
        at_start = sharp(clip)["logits"]
        sharp.set_progress(5.0, 10)
        assert sharp.temperature == pytest.approx(0.055)
        sharp.set_progress(10.0, 10)
        assert sharp.temperature == pytest.approx(0.07)
        at_end = sharp(clip)["logits"]
        plain.set_progress(3.0, 10)
        assert plain.temperature == 1.0
        raw = plain(clip)["logits"]
    assert torch.allclose(at_start * 0.04, raw, atol=1e-5)
    assert torch.allclose(at_end * 0.07, raw, atol=1e-5)
    assert not torch.allclose(at_start, at_end)


def test_knn_attention_switch_changes_the_computation():
    with_knn = _tiny(knn_k=0.5).eval()
    full = _tiny(knn_k=None).eval()
    full.load_state_dict(with_knn.state_dict())
    clip = _clip()
    with torch.no_grad():
        assert not torch.allclose(with_knn(clip)["logits"], full(clip)["logits"])


@pytest.mark.parametrize("frames", [1, 3, 8, 12])
@pytest.mark.parametrize("training", [True, False])
def test_any_clip_length(frames, training):
    # Shorter than the DTN branches (T_n up to 6) and the RCM (8), equal, and longer.
    model = _tiny().train(training)
    output = model(_clip(frames=frames, size=12))
    assert output["logits"].shape == (2, CLASSES)
    assert output["class_tokens"].shape == (2, 3, 16)
    assert torch.isfinite(output["logits"]).all()


def test_class_scores_are_probabilities():
    model = _tiny().eval()
    with torch.no_grad():
        output = model(_clip())
        scores = model.class_scores(output)
    assert scores.shape == (2, CLASSES) and (scores >= 0).all()
    assert torch.allclose(scores.sum(-1), torch.ones(2))
    assert torch.allclose(scores, output["logits"].softmax(-1))


RGBD_COMBINATIONS = [
    ("capf", True, True, False),
    ("capf", True, False, False),
    ("capf", False, True, False),
    ("capf", False, False, False),
    ("multiplication", True, False, False),
    ("multiplication", False, False, False),
    ("addition", True, False, False),
    ("addition", False, False, False),
    ("capf", True, True, True),
    ("addition", False, False, True),
]


@pytest.mark.parametrize(("fusion", "spatial", "temporal", "stream_ce"), RGBD_COMBINATIONS)
def test_rgbd_fusion_and_interaction_combinations(fusion, spatial, temporal, stream_ce):
    model = _tiny("derecouple_rgbd", fusion=fusion, spatial_interaction=spatial, temporal_interaction=temporal,
                  stream_ce=stream_ce)  # fmt: skip
    assert set(model.streams) == {"rgb", "depth"}
    assert (model.cross_modal.spatial is not None) == spatial
    assert (model.cross_modal.temporal is not None) == temporal
    # The streams' own Eq. (10) heads exist only with stream_ce (Eq. (18) classifies with f¹, f², f³).
    assert all((stream.dtn.classifiers is not None) == stream_ce for stream in model.streams.values())
    output = model(_clip(channels=6))
    assert ("rgb_logits" in output) == ("depth_branch_logits" in output) == stream_ce
    loss, terms = model.training_loss(output, _soft_target())
    if stream_ce:
        expected = _unimodal_terms(True, True, "rgb_") | _unimodal_terms(True, True, "depth_")
    else:
        expected = {"rgb_distill", "depth_distill"}
    expected |= {"ce_rgb", "ce_depth"}
    if fusion == "capf":
        expected |= {"ce_fused", "bce_modality", "mse_reconstruction"}
    assert set(terms) == expected
    assert torch.isfinite(loss) and torch.allclose(loss, sum(terms.values()))
    loss.backward()
    _assert_all_parameters_trained(model)

    scores = model.class_scores({k: v.detach() for k, v in output.items()})
    assert scores.shape == (2, CLASSES) and torch.allclose(scores.sum(-1), torch.ones(2))
    p_rgb, p_depth = output["cm_logits_rgb"].softmax(-1), output["cm_logits_depth"].softmax(-1)
    if fusion == "capf":  # Eq. (18): f¹ + f² + f³
        fused = output["cm_logits_rgb"] + output["cm_logits_depth"] + output["cm_logits_fused"]
        assert torch.allclose(scores, fused.softmax(-1))
    elif fusion == "multiplication":
        product = p_rgb * p_depth
        assert torch.allclose(scores, product / product.sum(-1, keepdim=True))
    else:
        assert torch.allclose(scores, (p_rgb + p_depth) / 2)


def test_rgbd_streams_see_their_own_channels():
    model = _tiny("derecouple_rgbd").eval()
    clip = _clip(channels=6)
    changed = clip.clone()
    changed[:, 3:] = torch.randn_like(changed[:, 3:])  # new depth, same RGB
    with torch.no_grad():
        before, after = model(clip), model(changed)
    # Without CmSI the RGB stream's DTN never sees depth; with it (default) it does.
    assert not torch.allclose(before["rgb_class_tokens"], after["rgb_class_tokens"])
    isolated = _tiny("derecouple_rgbd", spatial_interaction=False).eval()
    with torch.no_grad():
        before, after = isolated(clip), isolated(changed)
    assert torch.allclose(before["rgb_class_tokens"], after["rgb_class_tokens"])
    assert not torch.allclose(before["depth_class_tokens"], after["depth_class_tokens"])


def test_set_progress_reaches_both_rgbd_streams():
    model = _tiny("derecouple_rgbd")
    model.set_progress(10.0, 10)
    assert [s.dtn.temperature for s in model.streams.values()] == [pytest.approx(0.07)] * 2


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"num_classes": 1}, "num_classes"),
        ({"in_channels": 4}, "in_channels"),
        ({"d": 30}, "d"),
        ({"heads": 3}, "heads"),
        ({"spatial_blocks": 7}, "sms_dims"),
        ({"sms_strides": (1, 3, 1, 2, 1, 1)}, "sms_strides"),
        ({"stem_channels": (8,)}, "stem_channels"),
        ({"inception_kernels": (1, 2)}, "inception_kernels"),
        ({"knn_k": 1.5}, "knn_k"),
        ({"frp": 1}, "frp"),
        ({"frp_kernel_size": 2}, "frp_kernel_size"),
        ({"frp_window": 1}, "frp_window"),
        ({"distill_temperature": 0.0}, "distill_temperature"),
        ({"sharpness_start": -0.04}, "sharpness_start"),
        ({"branch_frames": (16, 0)}, "branch_frames"),
        ({"branch_weight": -1.0}, "branch_weight"),
        ({"dropout": 1.0}, "dropout"),
        ({"fusion": "concat"}, "fusion"),
        ({"in_channels": 6, "fusion": "addition"}, "temporal_interaction"),
        ({"in_channels": 6, "d": 1022}, "d"),
        ({"stream_ce": True}, "stream_ce"),
        ({"in_channels": 6, "stream_ce": 1}, "stream_ce"),
    ],
)
def test_config_validation_names_the_field(overrides, field):
    with pytest.raises(ValueError, match=rf"model\.{field}"):
        model_config("derecouple", **overrides)


def test_config_accepts_lists_and_score_fusion_without_cmti():
    config = model_config("derecouple", sms_dims=[256, 480, 512, 512, 832], branch_frames=[8, 16])
    assert config.sms_dims == (256, 480, 512, 512, 832) and config.branch_frames == (8, 16)
    hash(config)
    rgbd = model_config("derecouple_rgbd", fusion="addition", temporal_interaction=False)
    assert rgbd.rgbd and rgbd.fusion == "addition"
    # A single-modality config ignores the RGB-D switches.
    assert not model_config("derecouple", fusion="addition").rgbd


def test_variants_follow_the_paper():
    single, rgbd = model_config("derecouple"), model_config("derecouple_rgbd")
    assert isinstance(single, DeRecoupleConfig) and isinstance(rgbd, DeRecoupleConfig)
    assert (single.spatial_blocks, single.temporal_blocks, single.branch_frames) == (6, 6, (16, 32, 48))
    assert (single.sharpness_start, single.sharpness_end, single.frp_lambda) == (0.04, 0.07, 2.0)
    assert single.frp and single.recoupling and single.multi_loss and single.sharpness and single.knn_k is not None
    assert (rgbd.in_channels, rgbd.fusion, rgbd.spatial_interaction, rgbd.temporal_interaction) == (6, "capf", True,
                                                                                                   True)  # fmt: skip
    assert dataclasses.replace(rgbd, in_channels=3) == single


def test_inputs_are_checked():
    model = _tiny()
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        model(torch.randn(2, 6, 4, 16, 16))
    output = model(_clip())
    with pytest.raises(ValueError, match="soft targets"):
        model.training_loss(output, torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="DeRecoupleConfig"):
        DeRecouple(object())


def test_paper_size_parameter_count():
    single = create_model("derecouple", num_classes=60)
    params = _count(single)
    assert params == 42_610_976  # the count the module docstring records
    assert abs(params / 38.0e6 - 1) < 0.15  # MFST Table III: De-Recouple 38.0M at 64 frames
    dtn = _count(single.streams["video"].dtn)
    assert dtn / params > 0.8  # the K = 3 DTN branches of N = 6 blocks dominate
    heads = _count(single.streams["video"].dtn.classifiers)  # the Eq. (10) heads, not built for RGB-D
    rgbd = create_model("derecouple_rgbd", num_classes=60)
    assert _count(rgbd) == 88_598_413 == 2 * (params - heads) + _count(rgbd.cross_modal)
    with_heads = create_model("derecouple_rgbd", num_classes=60, stream_ce=True)
    assert _count(with_heads) == 2 * params + _count(with_heads.cross_modal)


def test_flops_can_be_counted_as_the_training_loop_does():
    for name in ("derecouple", "derecouple_rgbd"):
        model = _tiny(name)
        assert count_gflops(model, (1, model.config.in_channels, 8, 16, 16)) > 0
