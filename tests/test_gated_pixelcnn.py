"""The Gated PixelCNN (van den Oord et al., NeurIPS 2016): causal, no blind spot, normalised, conditional.

Models are built directly (not through the registry) on tiny images; causality is proven by input gradients
(:mod:`causality`), normalisation by enumerating every image of a tiny shape.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from causality import allowed_inputs, assert_causal

from pixelrnn.config import ModelConfig
from pixelrnn.errors import ConfigError
from pixelrnn.models import gated_pixelcnn
from pixelrnn.models.gated_pixelcnn import GatedPixelCNN
from pixelrnn.models.pixelcnn import PixelCNN
from pixelrnn.nn.masked_conv import causal_mask

SMALL = {"hidden_channels": 6, "num_layers": 2, "output_channels": 6}
WIDE = {"hidden_channels": 12, "output_channels": 12}  # enough maps per colour group that no path is dead


def _config(channels: int = 1, height: int = 6, width: int = 6, levels: int = 4, name: str = "gated_pixelcnn",
            **changes) -> ModelConfig:
    fields = {**SMALL, **changes}
    return ModelConfig(name=name, image_channels=channels, image_height=height, image_width=width,
                       num_levels=levels, **fields)


def _model(channels: int = 1, **changes) -> GatedPixelCNN:
    torch.manual_seed(0)
    return GatedPixelCNN(_config(channels, **changes))


def _without_biases(model: torch.nn.Module) -> torch.nn.Module:
    """Zero every bias, so that no ReLU unit is dead everywhere by its bias alone (tiny untrained models)."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("bias"):
                parameter.zero_()
    return model


def _all_images(shape: tuple[int, int, int], levels: int) -> torch.Tensor:
    values = list(itertools.product(range(levels), repeat=shape[0] * shape[1] * shape[2]))
    return torch.tensor(values).reshape(-1, *shape)  # (L^(C·H·W), C, H, W)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kernel_size", [3, 5])
@pytest.mark.parametrize("num_classes", [0, 3])
def test_gated_pixelcnn_is_causal(channels, kernel_size, num_classes):
    model = _model(channels, kernel_size=kernel_size, first_kernel_size=kernel_size, num_classes=num_classes)
    labels = torch.tensor([2]) if num_classes else None
    depends = assert_causal(model, labels=labels)
    assert depends.any()


def test_measured_dependencies_are_real():
    depends = assert_causal(_without_biases(_model(3, **WIDE)), num_trials=3)  # (C, H, W, C', H', W')
    assert depends[1, 2, 2, 0, 2, 2]  # G sees R of its own pixel
    assert depends[2, 2, 2, 0, 2, 2] and depends[2, 2, 2, 1, 2, 2]  # B sees R and G of its own pixel
    assert depends[0, 2, 2, :, 2, 1].all() and depends[0, 2, 2, :, 1, 3].all()  # left, above right


def test_no_blind_spot_unlike_the_pixelcnn():
    """Output (i, j) depends on every earlier pixel, e.g. (i − 1, W − 1), which the PixelCNN never sees."""
    fields = {**WIDE, "num_layers": 3, "first_kernel_size": 7, "kernel_size": 3}
    depends = assert_causal(_without_biases(_model(1, **fields)), num_trials=3)
    assert torch.equal(depends, allowed_inputs(1, 6, 6))

    torch.manual_seed(0)
    pixelcnn = PixelCNN(_config(1, name="pixelcnn", **fields))
    blind = assert_causal(pixelcnn, num_trials=3)
    assert not torch.equal(blind, allowed_inputs(1, 6, 6))
    assert not blind[0, 4, 0, 0, 3, 5]  # the PixelCNN's blind spot: far right of the row above


def test_missing_down_shift_is_caught(monkeypatch):
    model = _model(1)
    monkeypatch.setattr(gated_pixelcnn, "down_shift", lambda features: features)  # the link sees row i
    with pytest.raises(AssertionError, match="forbidden dependencies"):
        assert_causal(model)


@pytest.mark.parametrize("channels", [1, 3])
def test_first_horizontal_layer_with_mask_b_is_caught(channels):
    model = _model(channels)
    conv = model.layers[0].horizontal
    centre = causal_mask(conv.in_channels, conv.out_channels // 2, 1, "B", channels).repeat(2, 1, 1, 1)
    conv.mask[:, :, :, -1:] = centre  # the first layer now sees its own sub-pixel
    with pytest.raises(AssertionError, match="forbidden dependencies"):
        assert_causal(model)


def test_ungrouped_residual_conv_is_caught():
    model = _model(3)
    model.layers[1].residual.mask.fill_(1.0)  # R maps see the G and B maps of the same pixel
    with pytest.raises(AssertionError, match="forbidden dependencies"):
        assert_causal(model)


@pytest.mark.parametrize(("shape", "levels", "num_classes"), [
    ((1, 2, 2), 3, 0),
    ((3, 1, 2), 2, 0),
    ((1, 2, 2), 3, 2),
])
def test_probabilities_of_all_images_sum_to_one(shape, levels, num_classes):
    channels, height, width = shape
    model = _model(channels, height=height, width=width, levels=levels, num_classes=num_classes,
                   first_kernel_size=3).double()
    with torch.no_grad():  # sharpen the untrained model so that its distribution is far from uniform
        for parameter in model.parameters():
            parameter.mul_(3.0)
    candidates = _all_images(shape, levels)
    labels = torch.ones(len(candidates), dtype=torch.long) if num_classes else None
    with torch.no_grad():
        probabilities = model.log_prob(candidates, labels).exp()
    assert probabilities.sum().item() == pytest.approx(1.0, abs=1e-9)
    assert probabilities.max().item() > 2.0 / len(candidates)  # far from uniform: the check is not vacuous


@pytest.mark.parametrize("conditioning", ["onehot", "embedding"])
def test_label_changes_the_likelihood(conditioning):
    model = _model(3, num_classes=3, conditioning=conditioning)
    images = torch.randint(0, 4, (1, 3, 6, 6), generator=torch.Generator().manual_seed(0)).expand(3, -1, -1, -1)
    with torch.no_grad():
        log_p = model.log_prob(images, torch.tensor([0, 1, 2]))  # (3,): one image, three labels
    assert log_p.shape == (3,) and torch.isfinite(log_p).all()
    assert log_p[0] != log_p[1] and log_p[1] != log_p[2] and log_p[0] != log_p[2]


def _gated_parameters(config: ModelConfig, params_per_subpixel: int) -> int:
    """Parameter count of the Gated PixelCNN, from its layer list (module docstring)."""
    c, p, o, k = config.image_channels, config.hidden_channels, config.output_channels, config.num_classes
    total = 0
    for index in range(config.num_layers):
        n = config.first_kernel_size if index == 0 else config.kernel_size
        inputs = c if index == 0 else p
        total += inputs * 2 * p * (n // 2 + 1) * n + 2 * p  # vertical (n//2+1)×n
        total += inputs * 2 * p * (n // 2 + 1) + 2 * p  # horizontal 1×(n//2+1)
        total += 2 * p * 2 * p + 2 * p  # link 1×1 2p → 2p
        total += p * p + p  # residual 1×1 p → p
    total += (p * o + o) + (o * c * params_per_subpixel + c * params_per_subpixel)  # output layers
    conditioned_layers = 2 * config.num_layers  # both stacks of every layer, 2p maps each
    if k == 0:
        return total
    if config.conditioning == "onehot":
        return total + conditioned_layers * k * 2 * p  # V: K → 2p, no bias
    return total + k * 2 * p + conditioned_layers * (2 * p * 2 * p + 2 * p)  # embedding d = 2p, then 2p → 2p


@pytest.mark.parametrize(("channels", "levels", "num_classes", "conditioning"), [
    (1, 2, 0, "embedding"),
    (3, 256, 0, "embedding"),
    (3, 16, 10, "onehot"),
    (1, 4, 10, "embedding"),
])
def test_parameter_count_matches_the_layer_list(channels, levels, num_classes, conditioning):
    config = _config(channels, levels=levels, num_classes=num_classes, conditioning=conditioning,
                     hidden_channels=8, num_layers=3, kernel_size=5, first_kernel_size=7, output_channels=10)
    model = GatedPixelCNN(config)
    expected = _gated_parameters(config, model.head.params_per_subpixel)
    assert sum(parameter.numel() for parameter in model.parameters()) == expected


def test_output_shape_and_width_errors():
    model = _model(3, levels=16)
    params = model(torch.randint(0, 16, (2, 3, 6, 6)))
    assert params.shape == (2, 3 * model.head.params_per_subpixel, 6, 6)
    for field_name in ("hidden_channels", "output_channels"):
        with pytest.raises(ConfigError, match=field_name):
            GatedPixelCNN(_config(3, **{field_name: 2}))
    with pytest.raises(ConfigError, match="odd"):
        GatedPixelCNN(_config(1, kernel_size=4))
