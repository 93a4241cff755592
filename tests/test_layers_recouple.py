"""Recoupling module RCM and self-distillation loss (De+Recouple §3.2, Eq. (11)-(16))."""

import math

import pytest
import torch
from torch import nn

from actrec.layers.recouple import RecouplingModule, self_distillation_loss


def test_shapes_and_ranges():
    torch.manual_seed(0)
    rcm = RecouplingModule(channels=6, frames=5, distill_dim=7)
    x = torch.randn(3, 5, 6)
    out = rcm(x)
    assert out.features.shape == (3, 5, 6)
    assert out.attention.shape == (3, 5, 6)
    assert out.x_attention.shape == (3, 6)
    assert out.y_attention.shape == (3, 5)
    assert out.distill_logits.shape == (3, 7)
    for weights in (out.attention, out.x_attention, out.y_attention):
        assert ((weights > 0) & (weights < 1)).all()
    # Eq. (15): A_XY[t, c] = A_Y[t] · A_X[c]; Eq. (16): Ô = Ō ⊙ A_XY.
    torch.testing.assert_close(out.attention, out.y_attention[:, :, None] * out.x_attention[:, None, :])
    torch.testing.assert_close(out.features, x * out.attention)


def test_x_direction_matches_eq11_by_hand():
    rcm = RecouplingModule(channels=2, frames=3, y_direction=False)
    key = torch.zeros(3, 3)
    key[2, 0] = 1.0  # K[c] = (0, 0, Ō^T[c, 0])
    with torch.no_grad():
        rcm.query.weight.copy_(torch.eye(3))
        rcm.key.weight.copy_(key)
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])  # (B=1, T=3, C=2)
    # Q = Ō^T = [[1,0,1],[0,1,1]], K = [[0,0,1],[0,0,0]]; Q K^T = [[1,0],[1,0]] (rows: queries).
    # GAP over the queries gives [1, 0] (over the keys it would be [0.5, 0.5]); 1/√d with d = 2·C = 4.
    expected = torch.sigmoid(torch.tensor([[1.0, 0.0]]) / math.sqrt(4))
    out = rcm(x)
    torch.testing.assert_close(out.x_attention, expected)
    torch.testing.assert_close(out.y_attention, torch.ones(1, 3))
    torch.testing.assert_close(out.features, x * expected[:, None, :])


def test_y_direction_is_gap_over_channels_then_two_hidden_layer_mlp():
    torch.manual_seed(1)
    rcm = RecouplingModule(channels=4, frames=6, mlp_hidden=8, x_direction=False, distill_dim=3)
    linears = [m for m in rcm.frame_mlp if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(6, 8), (8, 8), (8, 6)]
    x = torch.randn(2, 6, 4)
    out = rcm(x)
    w_embed = rcm.frame_mlp(x.mean(dim=2))
    torch.testing.assert_close(out.y_attention, torch.sigmoid(w_embed))
    torch.testing.assert_close(out.x_attention, torch.ones(2, 4))
    torch.testing.assert_close(out.distill_logits, rcm.distill_map(w_embed))


def test_both_directions_off_is_identity_and_switches_change_output():
    torch.manual_seed(2)
    x = torch.randn(2, 4, 6)
    off = RecouplingModule(channels=6, frames=4, x_direction=False, y_direction=False)
    assert off(x).distill_logits is None
    torch.testing.assert_close(off(x).features, x)
    assert not any(True for _ in off.parameters())
    torch.manual_seed(3)
    full = RecouplingModule(channels=6, frames=4)(x).features
    assert not torch.allclose(full, x)


def test_multi_head_concatenates_and_maps_back():
    torch.manual_seed(4)
    rcm = RecouplingModule(channels=6, frames=4, heads=3)
    assert rcm.query.weight.shape == (12, 4)
    assert rcm.merge_heads.weight.shape == (6, 18)
    out = rcm(torch.randn(2, 4, 6))
    assert out.x_attention.shape == (2, 6)
    assert ((out.x_attention > 0) & (out.x_attention < 1)).all()


def test_gradients_reach_every_parameter():
    torch.manual_seed(5)
    rcm = RecouplingModule(channels=6, frames=4, heads=2, distill_dim=5)
    out = rcm(torch.randn(3, 4, 6))
    teacher = [torch.randn(3, 5) for _ in range(3)]
    (out.features.square().mean() + self_distillation_loss(teacher, out.distill_logits, 0.4)).backward()
    for name, p in rcm.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"channels": 0, "frames": 4}, "channels"),
        ({"channels": 4, "frames": 0}, "frames"),
        ({"channels": 4, "frames": 4, "heads": 0}, "heads"),
        ({"channels": 4, "frames": 4, "distill_dim": 3, "y_direction": False}, "distill_dim"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RecouplingModule(**kwargs)


def test_wrong_input_shape_is_named():
    rcm = RecouplingModule(channels=4, frames=5)
    with pytest.raises(ValueError, match="frames=5"):
        rcm(torch.randn(2, 6, 4))


def test_loss_zero_for_identical_positive_otherwise():
    torch.manual_seed(6)
    logits = torch.randn(4, 10)
    assert self_distillation_loss(logits, logits.clone(), 0.5).item() == pytest.approx(0.0, abs=1e-6)
    # Shift-invariant: the same distribution from shifted logits is also zero loss.
    assert self_distillation_loss(logits, logits + 3.0, 0.5).item() == pytest.approx(0.0, abs=1e-6)
    assert self_distillation_loss(logits, torch.randn(4, 10), 0.5).item() > 0


def test_loss_matches_kl_by_hand_and_averages_over_batch():
    teacher = torch.tensor([[math.log(3.0), 0.0]])  # softmax at 𝒯 = 1: (3/4, 1/4)
    student = torch.zeros(1, 2)  # (1/2, 1/2)
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert self_distillation_loss(teacher, student, 1.0).item() == pytest.approx(expected, rel=1e-5)
    # 1/N_B in Eq. (14): repeating the sample leaves the loss unchanged.
    assert self_distillation_loss(teacher.repeat(3, 1), student.repeat(3, 1), 1.0).item() == pytest.approx(
        expected, rel=1e-5
    )


def test_temperature_divides_logits_and_softens():
    torch.manual_seed(7)
    teacher, student = torch.randn(3, 6), torch.randn(3, 6)
    torch.testing.assert_close(
        self_distillation_loss(teacher, student, 0.4), self_distillation_loss(teacher / 0.4, student / 0.4, 1.0)
    )
    teacher, student = torch.tensor([[2.0, 0.0]]), torch.zeros(1, 2)
    losses = [self_distillation_loss(teacher, student, t).item() for t in (0.1, 0.4, 0.5, 1.0, 10.0)]
    assert all(a > b for a, b in zip(losses, losses[1:], strict=False))
    assert losses[-1] < 0.01


def test_teacher_is_sum_of_class_tokens_and_detached_by_default():
    torch.manual_seed(8)
    tokens = [torch.randn(2, 5, requires_grad=True) for _ in range(3)]
    student = torch.randn(2, 5, requires_grad=True)
    loss = self_distillation_loss(tokens, student, 0.5)
    torch.testing.assert_close(loss, self_distillation_loss(sum(tokens), student, 0.5))
    loss.backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert all(t.grad is None for t in tokens)
    self_distillation_loss(tokens, student, 0.5, detach_teacher=False).backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in tokens)


@pytest.mark.parametrize("temperature", [0, -0.5, float("inf"), float("nan"), True])
def test_bad_temperature_is_named(temperature):
    with pytest.raises(ValueError, match="temperature"):
        self_distillation_loss(torch.zeros(1, 2), torch.zeros(1, 2), temperature)


def test_mismatched_student_is_named():
    with pytest.raises(ValueError, match="student"):
        self_distillation_loss(torch.zeros(2, 3), torch.zeros(2, 4), 0.5)
