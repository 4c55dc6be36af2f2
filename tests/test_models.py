"""Models, presets and the registry: shapes, the untrained anchor (≈ log2 L bits/dim), errors, training, reload."""

from __future__ import annotations

import math

import pytest
import torch

from pixelrnn.config import ModelConfig
from pixelrnn.errors import ConfigError, DataError
from pixelrnn.models import MODELS, PRESETS, build_model, count_parameters, model_config

RUNNABLE_PRESETS = ("pixelcnn-small", "pixelcnn-tiny", "row-lstm-small", "diagonal-bilstm-small",
                    "multiscale-pixelrnn-small", "gated-pixelcnn-small")


def _pixelcnn_parameters(config: ModelConfig, params_per_subpixel: int) -> int:
    """Parameter count of the paper's PixelCNN (§3.5, Table 1), computed from its layer list."""
    c, h, o = config.image_channels, config.hidden_channels, config.output_channels
    k, k1, p = config.kernel_size, config.first_kernel_size, params_per_subpixel
    input_layer = c * 2 * h * k1 * k1 + 2 * h  # 7×7 mask A, C → 2h
    block = (2 * h * h + h) + (h * h * k * k + h) + (h * 2 * h + 2 * h)  # 1×1 2h→h, k×k h→h, 1×1 h→2h
    if config.block_type == "plain":
        block = 2 * h * 2 * h * k * k + 2 * h  # k×k 2h→2h
    output_layers = (2 * h * o + o) + (o * c * p + c * p)  # 1×1 2h→o, 1×1 o→C·P
    skips = config.num_layers * (2 * h * 2 * h + 2 * h) if config.skip_connections else 0  # 1×1 2h→2h per block
    return input_layer + config.num_layers * block + skips + output_layers


def _images(config: ModelConfig, batch: int = 3, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, config.num_levels, (batch, *config.image_shape), generator=generator)


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("channels", [1, 3])
def test_every_preset_builds_with_the_papers_layer_widths(preset, channels):
    config = model_config(preset, (channels, 4, 4), 256)
    model = build_model(config)
    assert config.name in MODELS and isinstance(model, MODELS[config.name])
    if config.name == "pixelcnn":  # the PixelRNN presets are counted in test_pixelrnn.py
        assert count_parameters(model) == _pixelcnn_parameters(config, 256)
    if preset in RUNNABLE_PRESETS:
        assert model(_images(config)).shape == (3, channels * 256, 4, 4)


def test_lab_preset_is_the_labs_stack_of_seven_by_seven_layers():
    config = model_config("pixelcnn-lab", (1, 28, 28), 2)
    model = build_model(config)
    convs = [model.input_conv, *(block.body[1] for block in model.blocks)]
    assert [(conv.in_channels, conv.out_channels, conv.kernel_size, conv.mask_type) for conv in convs] == [
        (1, 64, (7, 7), "A"), *[(64, 64, (7, 7), "B")] * 5]


def test_cifar10_preset_is_the_papers_pixelcnn():
    config = model_config("pixelcnn-cifar10", (3, 32, 32), 256)
    assert (config.num_layers, config.hidden_channels, config.kernel_size, config.first_kernel_size,
            config.output_channels) == (15, 128, 3, 7, 1024)
    assert count_parameters(build_model(config)) == _pixelcnn_parameters(config, 256)  # built, never run


def test_binarized_mnist_preset_uses_one_sigmoid_per_pixel():
    config = model_config("pixelcnn-mnist", (1, 28, 28), 2)
    assert (config.num_layers, config.hidden_channels, config.output_channels) == (7, 16, 32)
    assert count_parameters(build_model(config)) == _pixelcnn_parameters(config, 1)


@pytest.mark.parametrize("preset", RUNNABLE_PRESETS)
@pytest.mark.parametrize(("channels", "num_levels"), [(1, 2), (1, 17), (3, 256)])
def test_forward_and_log_prob_shapes(preset, channels, num_levels):
    config = model_config(preset, (channels, 6, 4), num_levels)
    model = build_model(config)
    images = _images(config, batch=4)
    params = model(images)
    assert params.shape == (4, channels * model.head.params_per_subpixel, 6, 4)
    log_p = model.log_prob(images)
    assert log_p.shape == (4,) and log_p.dtype == torch.float64 and torch.isfinite(log_p).all()
    assert (log_p < 0).all()


@pytest.mark.parametrize("preset", RUNNABLE_PRESETS)
@pytest.mark.parametrize("channels", [1, 3])
def test_untrained_model_starts_near_8_bits_per_dim(preset, channels):
    torch.manual_seed(0)
    config = model_config(preset, (channels, 8, 8), 256)
    nats = -build_model(config).log_prob(_images(config, batch=8))  # (B,)
    bits_per_dim = nats.double().sum().item() / (8 * math.prod(config.image_shape) * math.log(2))
    assert bits_per_dim == pytest.approx(8.0, abs=0.5)


def test_uint8_images_and_preprocessing():
    model = build_model(model_config("pixelcnn-tiny", (1, 2, 2), 17))
    images = torch.tensor([0, 8, 16, 4], dtype=torch.uint8).reshape(1, 1, 2, 2)
    inputs = model.preprocess(images)
    assert inputs.dtype == torch.float32 and inputs.flatten().tolist() == [-1.0, 0.0, 1.0, -0.5]
    assert torch.equal(model.log_prob(images), model.log_prob(images.long()))


def test_wrong_image_shape_raises_one_line_data_error():
    model = build_model(model_config("pixelcnn-tiny", (3, 8, 8), 256))
    with pytest.raises(DataError, match=r"^model expects images of shape 3×8×8, got 1×28×28$"):
        model(torch.zeros(2, 1, 28, 28, dtype=torch.long))
    with pytest.raises(DataError, match="3×8×8"):
        model.log_prob(torch.zeros(3, 8, 8, dtype=torch.long))


def test_unknown_names_raise_config_error_listing_the_choices():
    every_name = "pixelcnn, pixelrnn, multiscale_pixelrnn, gated_pixelcnn, pixelcnn_pp, pixelcnn-cifar10"
    with pytest.raises(ConfigError, match=every_name):
        model_config("pixelcnm", (1, 8, 8), 256)
    with pytest.raises(ConfigError, match="choose from: pixelcnn"):
        build_model(ModelConfig(name="pixelcnm"))


def test_model_config_merges_defaults_presets_and_overrides():
    default = model_config("pixelcnn", (3, 32, 30), 256, num_classes=10)
    assert (default.image_shape, default.num_levels, default.num_classes) == ((3, 32, 30), 256, 10)
    assert default.hidden_channels == ModelConfig().hidden_channels
    tuned = model_config("pixelcnn-cifar10", (3, 32, 32), 256, num_layers=2, hidden_channels=None)
    assert (tuned.num_layers, tuned.hidden_channels) == (2, 128)  # None means "not given"
    with pytest.raises(ConfigError, match="image_channels"):
        model_config("pixelcnn", (1, 8, 8), 256, image_channels=3)  # the data owns the image shape
    with pytest.raises(ConfigError, match="num_blocks"):
        model_config("pixelcnn", (1, 8, 8), 256, num_blocks=3)
    with pytest.raises(ConfigError, match="kernel_size must be odd"):
        model_config("pixelcnn", (1, 8, 8), 256, kernel_size=4)


def test_too_few_hidden_channels_for_the_colours_raise_config_error():
    with pytest.raises(ConfigError, match="colour"):
        build_model(model_config("pixelcnn", (3, 8, 8), 256, hidden_channels=2))
    with pytest.raises(ConfigError, match="output_channels"):
        build_model(model_config("pixelcnn", (3, 8, 8), 256, output_channels=2))


def test_labels_are_required_exactly_for_conditional_models():
    unconditional = build_model(model_config("pixelcnn-tiny", (1, 4, 4), 17))
    conditional = build_model(model_config("pixelcnn-tiny", (1, 4, 4), 17, num_classes=3))
    images = _images(conditional.config, batch=2)
    with pytest.raises(ConfigError, match="unconditional"):
        unconditional(images, torch.tensor([0, 1]))
    with pytest.raises(ConfigError, match="3 classes"):
        conditional(images)
    with pytest.raises(DataError, match=r"\[0, 2\]"):
        conditional(images, torch.tensor([0, 3]))
    first = conditional.log_prob(images, torch.tensor([0, 0]))
    second = conditional.log_prob(images, torch.tensor([1, 1]))
    assert not torch.allclose(first, second)  # the label reaches the output


def test_residual_is_added_once():
    model = build_model(model_config("pixelcnn-tiny", (3, 4, 4), 4))
    block = model.blocks[0]
    with torch.no_grad():
        block.body[-1].weight.zero_()
        block.body[-1].bias.zero_()
    features = torch.randn(2, 2 * model.config.hidden_channels, 4, 4)
    assert torch.equal(block(features), features)  # with a silent body the block is the identity


def test_a_few_adam_steps_lower_the_loss():
    torch.manual_seed(0)
    config = model_config("pixelcnn-tiny", (1, 6, 6), 17)
    model = build_model(config)
    images = _images(config, batch=8) % 2 * 16  # black-and-white images in 17 levels: learnable structure
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        loss = -model.log_prob(images).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]


def test_state_dict_round_trip_gives_identical_log_prob():
    torch.manual_seed(0)
    config = model_config("pixelcnn-small", (3, 5, 5), 256, num_classes=2)
    model = build_model(config)
    state = model.state_dict()
    assert not any(key.endswith("mask") for key in state)  # masks are rebuilt, never loaded
    torch.manual_seed(1)
    again = build_model(config)
    again.load_state_dict(state)
    images, labels = _images(config), torch.tensor([0, 1, 1])
    assert torch.equal(model.log_prob(images, labels), again.log_prob(images, labels))


def test_double_precision_model_runs():
    config = model_config("pixelcnn-tiny", (1, 4, 4), 17)
    model = build_model(config).double()
    assert model(_images(config)).dtype == torch.float64
