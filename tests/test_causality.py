"""Every model is autoregressive: ∂ output(i, j, c) / ∂ input is exactly zero at and after (i, j, c).

Also: the masks themselves (pictures of design.md §3.4), and proofs that the check is not vacuous — a model
with one wrong mask fails it, real dependencies are measured, and the PixelCNN's blind spot shows.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from causality import assert_causal

from pixelrnn.errors import ConfigError
from pixelrnn.experiments.mfu import counted_flops
from pixelrnn.models import MODELS, build_model, model_config
from pixelrnn.nn.masked_conv import MaskedConv2d, causal_mask, channel_groups

SMALL = {"hidden_channels": 6, "num_layers": 2, "output_channels": 6}


def _model(name: str, channels: int, kernel_size: int = 3, **changes):
    torch.manual_seed(0)
    fields = {**SMALL, "kernel_size": kernel_size, **changes}
    size = (8, 8) if name == "pixelcnn_pp" else (6, 6)  # PixelCNN++ halves the image twice
    return build_model(model_config(name, (channels, *size), 4, **fields))


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kernel_size", [3, 5])
def test_every_model_is_causal(name, channels, kernel_size):
    depends = assert_causal(_model(name, channels, kernel_size))
    assert depends.any()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_class_conditional_model_is_causal(name):
    torch.manual_seed(0)
    size = (8, 8) if name == "pixelcnn_pp" else (6, 6)
    conditional = build_model(model_config(name, (3, *size), 4, num_classes=3, **SMALL))
    assert_causal(conditional, labels=torch.tensor([2]))


@pytest.mark.parametrize("num_classes", [0, 3])
def test_weight_normalised_pixelcnn_pp_is_causal(num_classes):
    """Weight normalisation, after the data-dependent initialisation has given every layer its own scale."""
    model = _model("pixelcnn_pp", 3, num_classes=num_classes, weight_norm=True)
    labels = torch.arange(6) % num_classes if num_classes else None
    model.initialize_from_data(torch.randint(0, 4, (6, 3, 8, 8)), labels, seed=1)
    depends = assert_causal(model, labels=torch.tensor([2]) if num_classes else None)
    assert depends.any()


@pytest.mark.parametrize("channels", [1, 3])
def test_first_layer_with_mask_b_is_caught(channels):
    model = _model("pixelcnn", channels)
    conv = model.input_conv
    conv.mask.copy_(causal_mask(conv.in_channels, conv.out_channels, conv.kernel_size, "B", channels))
    with pytest.raises(AssertionError, match="forbidden dependencies"):
        assert_causal(model)


def test_spatial_leak_in_a_hidden_layer_is_caught():
    model = _model("pixelcnn", 1)
    middle = model.blocks[1].body[3]  # the k×k mask-B convolution of the second block
    middle.mask.fill_(1.0)  # it now sees the pixels right of and below the centre
    with pytest.raises(AssertionError, match="forbidden dependencies"):
        assert_causal(model)


def test_ignoring_the_colour_groups_is_caught():
    model = _model("pixelcnn", 3)
    last = model.output[-1]
    last.mask.copy_(causal_mask(last.in_channels, last.out_channels, 1, "B", 1))  # R output sees G and B maps
    with pytest.raises(AssertionError, match="forbidden dependencies"):
        assert_causal(model)


def test_measured_dependencies_are_real():
    grey = assert_causal(_model("pixelcnn", 1))  # (C, H, W, C', H', W')
    assert grey[0, 2, 2, 0, 2, 1] and grey[0, 2, 2, 0, 1, 2] and grey[0, 2, 2, 0, 1, 1]  # left, above, diagonal
    colour = assert_causal(_model("pixelcnn", 3))
    assert colour[1, 2, 2, 0, 2, 2]  # G sees R of its own pixel
    assert colour[2, 2, 2, 0, 2, 2] and colour[2, 2, 2, 1, 2, 2]  # B sees R and G of its own pixel
    assert colour[0, 2, 2, :, 2, 1].all()  # R sees every colour of the pixel to its left


def test_pixelcnn_has_a_blind_spot():
    """Masked convolutions never reach right within a row: (i-1, j+k) is unseen once k exceeds the reach.

    From output (4, 0), the 7×7 mask-A layer reaches row 3 up to column 3; later layers only move up or left
    within a row, so input (3, 4) — a past pixel — stays outside the receptive field whatever the depth.
    """
    depends = assert_causal(_model("pixelcnn", 1, num_layers=4), num_trials=3)
    assert depends[0, 4, 0, 0, 3, 3]
    assert not depends[0, 4, 0, 0, 3, 4]


def test_grey_masks_match_the_paper():
    mask_a = causal_mask(1, 1, 3, "A", 1)[0, 0]
    mask_b = causal_mask(1, 1, 3, "B", 1)[0, 0]
    assert mask_a.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert mask_b.tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]


def test_colour_groups_at_the_centre():
    centre_a = causal_mask(3, 3, 3, "A", 3)[:, :, 1, 1]  # (out, in)
    centre_b = causal_mask(6, 3, 1, "B", 3)[:, :, 0, 0]  # a 1×1 mask B: channel groups only
    assert centre_a.tolist() == [[0, 0, 0], [1, 0, 0], [1, 1, 0]]
    assert centre_b.tolist() == [[1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]]


def test_uneven_colour_groups_stay_contiguous():
    groups = channel_groups(256, 3)
    assert torch.bincount(groups).tolist() == [86, 85, 85]
    assert (groups.diff() >= 0).all()
    with pytest.raises(ConfigError, match="feature map"):
        channel_groups(2, 3)


@pytest.mark.parametrize("kernel_size", [2, 0])
def test_even_kernels_are_rejected(kernel_size):
    with pytest.raises(ConfigError, match="odd"):
        MaskedConv2d(3, 6, kernel_size, "B", 3)


def test_mask_is_applied_functionally_and_not_saved():
    torch.manual_seed(0)
    conv = MaskedConv2d(3, 6, 3, "A", 3)
    before = conv.weight.detach().clone()
    out = conv(torch.randn(2, 3, 4, 4))
    assert out.shape == (2, 6, 4, 4)
    assert torch.equal(conv.weight, before)  # the masked-out weights are still there, untouched
    assert "mask" not in conv.state_dict()
    with pytest.raises(ConfigError, match="mask type"):
        MaskedConv2d(3, 6, 3, "C", 3)


@pytest.mark.parametrize("kernel_size", [(3, 3), (5, 5), (7, 7), (1, 3), (1, 5), (3, 1)])
@pytest.mark.parametrize("mask_type,channels", [("A", 1), ("B", 1), ("A", 3), ("B", 3)])
def test_the_visible_taps_alone_give_the_masked_convolution(kernel_size, mask_type, channels):
    """Two convolutions over the rows above and the centre row up to the centre equal the masked k×k one
    (float64, outputs and gradients), and multiply fewer taps."""
    torch.manual_seed(0)
    conv = MaskedConv2d(6, 64, kernel_size, mask_type, channels).double()
    assert conv.visible_taps_only  # 64 output maps: the layer takes this path
    inputs = torch.randn(2, 6, 5, 7, dtype=torch.float64, requires_grad=True)
    full = F.conv2d(inputs, conv.weight * conv.mask, conv.bias, padding=conv.padding)
    visible = conv(inputs)
    assert torch.allclose(visible, full, rtol=0, atol=1e-12)
    full_grads = torch.autograd.grad(full.square().sum(), [inputs, conv.weight, conv.bias])
    visible_grads = torch.autograd.grad(visible.square().sum(), [inputs, conv.weight, conv.bias])
    assert all(torch.allclose(a, b, rtol=1e-12, atol=1e-9) for a, b in zip(visible_grads, full_grads, strict=True))
    kh, kw = kernel_size
    visible_taps = (kh // 2) * kw + kw // 2 + 1
    counted = counted_flops(lambda: conv(inputs))
    with_padding_rows = 2 * 2 * 64 * 6 * ((kh // 2) * kw * (5 + kh // 2 + 1) * 7 + (kw // 2 + 1) * 5 * (7 + kw // 2))
    assert counted == with_padding_rows  # the dropped extra row / columns of symmetric padding included
    assert visible_taps < kh * kw and counted < counted_flops(
        lambda: F.conv2d(inputs, conv.weight * conv.mask, conv.bias, padding=conv.padding))


def test_narrow_masked_convolutions_keep_the_single_convolution():
    assert not MaskedConv2d(16, 32, 3, "B").visible_taps_only  # measured slower with two convolutions
    assert not MaskedConv2d(16, 256, 1, "B").visible_taps_only  # a 1×1 kernel has nothing to leave out


@pytest.mark.parametrize("name,fields", [("pixelcnn", {}), ("pixelrnn", {"recurrent_layer": "row_lstm"}),
                                         ("pixelrnn", {"recurrent_layer": "diagonal_bilstm"})])
@pytest.mark.parametrize("channels", [1, 3])
def test_models_wide_enough_for_the_visible_taps_path_stay_causal(name, fields, channels):
    model = _model(name, channels, hidden_channels=64, **fields)  # 7×7 input 1|3 → 128, 3×3 64 → 64, 1×3 → 256
    assert any(getattr(module, "visible_taps_only", False) for module in model.modules())
    assert assert_causal(model).any()
