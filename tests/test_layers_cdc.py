"""CDCConv3d against a literal per-location evaluation of MFST Eq. (3)-(6)."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from actrec.layers.cdc import TEMPORAL_READINGS, CDCConv3d


def _reference_cdc(
    x: np.ndarray, w: np.ndarray, stride, padding, theta: float, mode: str, t_frames: tuple[int, ...] | None = None
) -> np.ndarray:
    """Direct evaluation with explicit loops over output locations p0 and kernel offsets p_n (float64).

    "ST": θ·y_CDC-ST + (1-θ)·y_3D with y_CDC-ST(p0) = Σ_{p_n∈Z} w(p_n)·(x(p0+p_n) - x(p0))   (Eq. (4)-(5)).
    "T":  y_3D(p0) + θ·(-x(p0)·Σ_{p_n∈T''} w(p_n)), T'' = kernel offsets in adjacent frames     (Eq. (6)).
    ``t_frames``: the kernel's temporal indices that make up T''; None = every frame but the centre one.
    """
    batch, _, t, h, wd = x.shape
    out_ch, _, kt, kh, kw = w.shape
    (st, sh, sw), (pt, ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pt), (ph, ph), (pw, pw)))  # zero padding
    out_t = (t + 2 * pt - kt) // st + 1
    out_h = (h + 2 * ph - kh) // sh + 1
    out_w = (wd + 2 * pw - kw) // sw + 1
    y = np.zeros((batch, out_ch, out_t, out_h, out_w))
    for ot, oh, ow in itertools.product(range(out_t), range(out_h), range(out_w)):
        # Input index of the kernel's top-left-front tap in padded coordinates; p0 is the centre tap.
        base = (ot * st, oh * sh, ow * sw)
        centre = xp[:, :, base[0] + kt // 2, base[1] + kh // 2, base[2] + kw // 2]  # x(p0): (B, C_in)
        y_3d = np.zeros((batch, out_ch))
        y_cdc = np.zeros((batch, out_ch))
        temporal_sum = np.zeros((out_ch, w.shape[1]))
        for nt, nh, nw in itertools.product(range(kt), range(kh), range(kw)):
            tap = w[:, :, nt, nh, nw]  # w(p_n): (C_out, C_in)
            sample = xp[:, :, base[0] + nt, base[1] + nh, base[2] + nw]  # x(p0 + p_n): (B, C_in)
            y_3d += sample @ tap.T  # Eq. (3)
            y_cdc += (sample - centre) @ tap.T  # Eq. (4)
            if (nt != kt // 2) if t_frames is None else (nt in t_frames):
                temporal_sum += tap  # p_n ∈ T''
        if mode == "ST":
            y[:, :, ot, oh, ow] = theta * y_cdc + (1 - theta) * y_3d  # Eq. (5)
        else:
            y[:, :, ot, oh, ow] = y_3d + theta * (-(centre @ temporal_sum.T))  # Eq. (6)
    return y


CASES = [
    # kernel, stride, padding, input (T, H, W)
    ((3, 3, 3), (1, 1, 1), (1, 1, 1), (4, 5, 5)),
    ((3, 7, 7), (1, 2, 2), (1, 3, 3), (3, 7, 8)),
    ((3, 3, 3), (1, 1, 1), (0, 0, 0), (4, 5, 5)),
    ((3, 3, 3), (2, 2, 2), (2, 0, 1), (5, 6, 5)),
    ((1, 3, 3), (1, 2, 1), (0, 1, 1), (3, 5, 4)),
]


@pytest.mark.parametrize("mode", ["ST", "T"])
@pytest.mark.parametrize(("kernel", "stride", "padding", "size"), CASES)
def test_matches_direct_evaluation_of_eq_4_to_6(mode, kernel, stride, padding, size):
    torch.manual_seed(0)
    layer = CDCConv3d(2, 3, kernel, stride=stride, padding=padding, theta=0.6, mode=mode).double()
    x = torch.randn(2, 2, *size, dtype=torch.float64)
    expected = _reference_cdc(x.numpy(), layer.weight.detach().numpy(), stride, padding, 0.6, mode)
    actual = layer(x).detach().numpy()
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", ["ST", "T"])
def test_theta_zero_equals_conv3d(mode):
    torch.manual_seed(1)
    conv = nn.Conv3d(3, 4, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=True)
    layer = CDCConv3d(3, 4, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=True, theta=0.0, mode=mode)
    layer.load_state_dict(conv.state_dict())
    x = torch.randn(2, 3, 4, 9, 9)
    assert torch.equal(layer(x), conv(x))


def test_weight_has_conv3d_shape():
    layer = CDCConv3d(3, 8, (3, 7, 7))
    assert layer.weight.shape == nn.Conv3d(3, 8, (3, 7, 7)).weight.shape
    assert layer.bias is None


def test_st_and_t_differ_when_theta_positive():
    torch.manual_seed(2)
    st = CDCConv3d(2, 3, 3, padding=1, theta=0.6, mode="ST")
    t = CDCConv3d(2, 3, 3, padding=1, theta=0.6, mode="T")
    t.load_state_dict(st.state_dict())
    x = torch.randn(1, 2, 4, 5, 5)
    assert not torch.allclose(st(x), t(x), atol=1e-4)


@pytest.mark.parametrize("reading", TEMPORAL_READINGS)
def test_t_mode_with_single_frame_kernel_is_vanilla(reading):
    # T'' is empty for k_t = 1 under every reading, so Eq. (6) reduces to Eq. (3).
    torch.manual_seed(3)
    conv = nn.Conv3d(2, 3, (1, 3, 3), padding=(0, 1, 1), bias=False)
    layer = CDCConv3d(2, 3, (1, 3, 3), padding=(0, 1, 1), theta=0.9, mode="T", temporal_reading=reading)
    layer.load_state_dict(conv.state_dict())
    x = torch.randn(1, 2, 3, 5, 5)
    torch.testing.assert_close(layer(x), conv(x))


def test_gradients_flow_to_input_and_weight():
    torch.manual_seed(4)
    layer = CDCConv3d(2, 3, 3, stride=2, padding=1, bias=True, theta=0.6)
    x = torch.randn(1, 2, 4, 6, 6, requires_grad=True)
    layer(x).square().sum().backward()
    for grad in (x.grad, layer.weight.grad, layer.bias.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"theta": 1.5}, "theta"),
        ({"theta": -0.1}, "theta"),
        ({"mode": "S"}, "mode"),
        ({"kernel_size": 2}, "kernel_size"),
        ({"kernel_size": (3, 3)}, "kernel_size"),
        ({"stride": 0}, "stride"),
        ({"padding": -1}, "padding"),
        ({"mode": "T", "temporal_reading": "all"}, "temporal_reading"),
        ({"mode": "ST", "temporal_reading": "released"}, "temporal_reading"),
        ({"mode": "ST", "temporal_reading": "neighbours"}, "temporal_reading"),
    ],
)
def test_invalid_arguments_raise_naming_the_argument(kwargs, name):
    arguments = {"in_channels": 2, "out_channels": 3, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=name):
        CDCConv3d(**arguments)


# T'' of Eq. (6) for a 7-frame kernel (centre index 3) under each temporal_reading, written out by hand.
T_FRAMES_7 = {"non_centre": (0, 1, 2, 4, 5, 6), "neighbours": (2, 4), "released": (0, 2)}


@pytest.mark.parametrize("reading", TEMPORAL_READINGS)
def test_each_reading_matches_direct_evaluation_for_a_7_frame_kernel(reading):
    torch.manual_seed(5)
    layer = CDCConv3d(2, 3, (7, 3, 3), padding=(3, 1, 1), theta=0.6, mode="T", temporal_reading=reading).double()
    x = torch.randn(2, 2, 8, 4, 4, dtype=torch.float64)
    w = layer.weight.detach().numpy()
    expected = _reference_cdc(x.numpy(), w, (1, 1, 1), (3, 1, 1), 0.6, "T", T_FRAMES_7[reading])
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=1e-10, atol=1e-10)
    assert layer.temporal_slices() == T_FRAMES_7[reading]


@pytest.mark.parametrize("reading", TEMPORAL_READINGS)
def test_each_reading_equals_conv3d_minus_a_1x1x1_conv_at_the_stem_stride(reading):
    # MFST's first stem conv: 7×7×7, stride 2, padding 3. With padding k//2, x(p0) of output o is input o·s, which
    # a 1×1×1 conv with the same stride and no padding reads: y = conv3d(x, w) - θ·conv3d(x, Σ_{T''} w as 1×1×1).
    torch.manual_seed(6)
    layer = CDCConv3d(3, 4, 7, stride=2, padding=3, theta=0.6, mode="T", temporal_reading=reading).double()
    x = torch.randn(1, 3, 9, 10, 11, dtype=torch.float64)
    w = layer.weight.detach()
    diff_kernel = torch.zeros(4, 3, 1, 1, 1, dtype=torch.float64)
    for t in T_FRAMES_7[reading]:
        diff_kernel[:, :, 0, 0, 0] += w[:, :, t].sum(dim=(-2, -1))
    expected = F.conv3d(x, w, stride=2, padding=3) - 0.6 * F.conv3d(x, diff_kernel, stride=2)
    torch.testing.assert_close(layer(x).detach(), expected, rtol=1e-10, atol=1e-10)


def test_default_reading_is_todays_non_centre_layer_bit_for_bit():
    torch.manual_seed(7)
    default = CDCConv3d(3, 4, 7, stride=2, padding=3, theta=0.6, mode="T")
    assert default.temporal_reading == "non_centre"
    # The centre-tap folding of the layer before temporal_reading existed: every slice before and after the centre.
    w = default.weight.detach()
    folded = w.clone()
    folded[:, :, 3, 3, 3] -= 0.6 * (w[:, :, :3].sum(dim=(2, 3, 4)) + w[:, :, 4:].sum(dim=(2, 3, 4)))
    x = torch.randn(1, 3, 8, 12, 12)
    assert torch.equal(default(x).detach(), F.conv3d(x, folded, stride=2, padding=3))


@pytest.mark.parametrize("kernel", [(3, 3, 3), (3, 7, 7)])
def test_three_frame_kernels_give_the_same_output_under_every_reading(kernel):
    torch.manual_seed(8)
    padding = tuple(k // 2 for k in kernel)
    layers = [
        CDCConv3d(2, 3, kernel, padding=padding, theta=0.6, mode="T", temporal_reading=reading).double()
        for reading in TEMPORAL_READINGS
    ]
    for layer in layers[1:]:
        layer.load_state_dict(layers[0].state_dict())
    x = torch.randn(2, 2, 5, 9, 9, dtype=torch.float64)
    outputs = [layer(x).detach() for layer in layers]
    assert {layer.temporal_slices() for layer in layers} == {(0, 2)}
    for output in outputs[1:]:
        torch.testing.assert_close(output, outputs[0], rtol=0, atol=1e-12)


def test_readings_differ_for_a_7_frame_kernel():
    torch.manual_seed(9)
    layers = [CDCConv3d(2, 3, 7, padding=3, theta=0.6, mode="T", temporal_reading=r) for r in TEMPORAL_READINGS]
    for layer in layers[1:]:
        layer.load_state_dict(layers[0].state_dict())
    x = torch.randn(1, 2, 7, 9, 9)
    outputs = [layer(x).detach() for layer in layers]
    for i, j in itertools.combinations(range(len(outputs)), 2):
        assert not torch.allclose(outputs[i], outputs[j], atol=1e-4)
