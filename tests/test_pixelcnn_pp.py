"""PixelCNN++ network: causality and receptive field by gradients, shapes, errors, dropout, labels, size."""

from __future__ import annotations

import copy
import itertools
import json

import pytest
import torch

from pixelrnn.checkpoint import load_checkpoint, load_model
from pixelrnn.config import DataConfig, TrainConfig
from pixelrnn.errors import ConfigError
from pixelrnn.models import build_model, model_config, pixelcnn_pp, training_defaults
from pixelrnn.models.pixelcnn_pp import PixelCNNPlusPlusNetwork
from pixelrnn.sampling.plain import sample_images
from pixelrnn.train import train

PAPER_PARAMETERS = 53_618_660  # filters 160, 5 blocks per stage, RGB, 100 outputs (10 logistic mixtures)


@pytest.fixture(autouse=True)
def one_thread():
    """The gradient probes are tiny float64 batches: extra threads on shared cores only add overhead."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _network(channels: int = 3, blocks: int = 1, num_classes: int = 0, **kwargs) -> PixelCNNPlusPlusNetwork:
    torch.manual_seed(0)
    return PixelCNNPlusPlusNetwork(channels, 10, filters=8, blocks_per_stage=blocks, num_classes=num_classes,
                                   **kwargs)


def dependencies(network: torch.nn.Module, channels: int, height: int, width: int, *, num_trials: int = 2,
                 label: int | None = None) -> torch.Tensor:
    """Bool (H·W, C, H·W): [p, c, q] is True where output pixel p has a non-zero gradient on input (c, q).

    One backward pass per trial: batch element p holds its own random input and contributes the outputs (summed
    over the output channels) of pixel p only, so the gradient on element p's input is ∂ output(p) / ∂ input.
    """
    net = copy.deepcopy(network).double().eval()
    num_pixels = height * width
    depends = torch.zeros(num_pixels, channels, num_pixels, dtype=torch.bool)
    index = torch.arange(num_pixels)
    for trial in range(num_trials):
        generator = torch.Generator().manual_seed(trial)
        inputs = torch.randn(num_pixels, channels, height, width, generator=generator, dtype=torch.float64)
        inputs.requires_grad_(True)
        y = None if label is None else torch.full((num_pixels,), label)
        outputs = net(inputs, y).sum(dim=1).reshape(num_pixels, num_pixels)  # (N, H·W)
        (grad,) = torch.autograd.grad(outputs[index, index].sum(), inputs)  # (N, C, H, W)
        depends |= grad.reshape(num_pixels, channels, num_pixels) != 0
    return depends


def strictly_before(height: int, width: int) -> torch.Tensor:
    """Bool (H·W, H·W): [p, q] is True where input pixel q comes strictly before output pixel p in raster order."""
    rank = torch.arange(height * width)
    return rank.reshape(1, -1) < rank.reshape(-1, 1)


def _leaks(depends: torch.Tensor, width: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """((row, col) of the output, (row, col) of the input) for every dependency at or after the output pixel."""
    forbidden = ~strictly_before(depends.shape[0] // width, width)  # (H·W, H·W)
    pairs = (depends.any(dim=1) & forbidden).nonzero().tolist()
    return [(divmod(out, width), divmod(inp, width)) for out, inp in pairs]


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [0, 4])
def test_no_output_depends_on_its_own_pixel_or_a_later_one(channels, num_classes):
    depends = dependencies(_network(channels, num_classes=num_classes), channels, 8, 8,
                           label=2 if num_classes else None)
    assert _leaks(depends, 8) == []
    assert not depends[0].any()  # the first pixel is predicted from nothing
    assert depends.sum() > 0.9 * strictly_before(8, 8).sum() * channels  # and it is not trivially zero


def test_every_earlier_pixel_is_seen_with_two_blocks_per_stage():
    depends = dependencies(_network(3, blocks=2), 3, 8, 8)
    expected = strictly_before(8, 8).unsqueeze(1).expand(-1, 3, -1)  # (H·W, C, H·W): every channel of the past
    assert torch.equal(depends, expected)


def test_one_block_per_stage_sees_six_columns_back_in_odd_rows():
    """The receptive field is bounded (as in the reference code): 4R + 2 columns along a row at full resolution.

    Odd rows get nothing of their own row, or of the row above, from the downsampled stages, so with R = 1 output
    (i, 7) misses (i, 0) and output (i, 0) misses (i − 1, 7), for odd i; everything else before is seen.
    """
    depends = dependencies(_network(1, blocks=1), 1, 8, 8)[:, 0]  # (H·W, H·W)
    missing = (strictly_before(8, 8) & ~depends).nonzero().tolist()
    expected = sorted([(i * 8, (i - 1) * 8 + 7) for i in (1, 3, 5, 7)] + [(i * 8 + 7, i * 8) for i in (1, 3, 5, 7)])
    assert sorted(map(tuple, missing)) == expected
    assert _leaks(depends.unsqueeze(1), 8) == []


@pytest.mark.parametrize(("shift", "num_leaks"), [("down_shift", 284), ("right_shift", 64)])
def test_a_network_without_the_input_shift_is_caught(monkeypatch, shift, num_leaks):
    """Without the first layer's down shift, u and ul read the current row (the pixel itself and the pixels to its
    right); without the right shift, ul reads the pixel itself only."""
    monkeypatch.setattr(pixelcnn_pp, shift, lambda x: x)
    leaks = _leaks(dependencies(_network(1), 1, 8, 8), 8)
    assert {output for output, source in leaks if output == source} == {divmod(p, 8) for p in range(64)}
    assert len(leaks) == num_leaks


@pytest.mark.parametrize(("height", "width"), [(8, 8), (16, 16), (8, 12)])
def test_output_shape(height, width):
    network = _network(3).eval()
    outputs = network(torch.rand(2, 3, height, width) * 2 - 1)
    assert outputs.shape == (2, 10, height, width)
    assert torch.isfinite(outputs).all()


@pytest.mark.parametrize(("height", "width"), [(6, 6), (8, 6), (10, 8)])
def test_image_sides_not_divisible_by_four_are_rejected(height, width):
    with pytest.raises(ConfigError, match=f"divisible by 4, got {height}×{width}"):
        _network(1)(torch.zeros(1, 1, height, width))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"filters": 0}, "filters must be at least 1, got 0"),
    ({"blocks_per_stage": 0}, "blocks_per_stage must be at least 1, got 0"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
    ({"dropout": -0.1}, r"dropout must be in \[0, 1\), got -0.1"),
    ({"num_classes": -1}, "num_classes must be >= 0, got -1"),
    ({"out_channels": 0}, "out_channels must be at least 1, got 0"),
])
def test_bad_arguments_are_rejected(kwargs, message):
    arguments = {"image_channels": 3, "out_channels": 10, **kwargs}
    with pytest.raises(ConfigError, match=message):
        PixelCNNPlusPlusNetwork(**arguments)


def test_dropout_is_active_in_training_and_off_in_evaluation():
    network = _network(3, dropout=0.5)
    inputs = torch.rand(2, 3, 8, 8) * 2 - 1
    network.train()
    first, second = network(inputs), network(inputs)
    assert (first - second).abs().max() > 1e-4
    network.eval()
    assert torch.equal(network(inputs), network(inputs))
    no_dropout = _network(3, dropout=0.0).train()  # same seed, same weights: dropout 0 is the eval network
    assert torch.allclose(no_dropout(inputs), network(inputs), atol=1e-6)


def test_labels_change_the_output_and_are_required_exactly_when_conditional():
    network = _network(3, num_classes=4).eval()
    inputs = torch.rand(2, 3, 8, 8) * 2 - 1
    zeros, ones = network(inputs, torch.tensor([0, 0])), network(inputs, torch.tensor([1, 1]))
    assert (zeros - ones).abs().max() > 1e-4
    assert torch.equal(network(inputs, torch.tensor([0, 1]))[0], zeros[0])  # each image uses its own label
    with pytest.raises(ConfigError, match="conditioned on 4 classes"):
        network(inputs)
    with pytest.raises(ConfigError, match="unconditional"):
        _network(3)(inputs, torch.tensor([0, 1]))


def paper_parameter_count(filters: int, blocks: int, channels: int, out_channels: int, num_classes: int = 0) -> int:
    """Parameters of the network from its layer list (weights + biases; k = kernel area: 6 for 2×3, 4 for 2×2)."""
    f, r = filters, blocks

    def block(k: int, shortcut: int) -> int:
        conv_in = 2 * f * f * k + f  # concat_elu doubles the channels: 2F → F
        nin = 2 * shortcut * f + f if shortcut else 0  # 1×1 on concat_elu(shortcut)
        conv_out = 2 * f * 2 * f * k + 2 * f  # 2F → 2F (value and gate)
        return conv_in + nin + conv_out + (2 * f * f + 2 * f if num_classes else 0)  # the block's projection

    inputs = (channels + 1) * f * (6 + 3 + 2) + 3 * f  # 2×3, 1×3 and 2×1 convs on [x, 1]
    down = 3 * r * (block(6, 0) + block(4, f))
    resample = 2 * 2 * ((6 + 4) * f * f + 2 * f)  # 2 strided convs + 2 transposed convs, each stream
    up = (3 * r + 2) * (block(6, f) + block(4, 2 * f))
    output = f * out_channels + out_channels
    embedding = num_classes * f  # the shared label embedding, d = F (``embedding`` conditioning)
    return inputs + down + resample + up + output + embedding


def test_parameter_count_of_the_paper_configuration():
    with torch.device("meta"):  # no memory, no initialisation cost
        network = PixelCNNPlusPlusNetwork(3, 100, filters=160, blocks_per_stage=5)
        conditional = PixelCNNPlusPlusNetwork(3, 100, filters=160, blocks_per_stage=5, num_classes=10)
    count = sum(parameter.numel() for parameter in network.parameters())
    assert count == paper_parameter_count(160, 5, 3, 100) == PAPER_PARAMETERS
    conditional_count = sum(parameter.numel() for parameter in conditional.parameters())
    assert conditional_count == paper_parameter_count(160, 5, 3, 100, num_classes=10)
    blocks = 2 * (6 * 5 + 2)  # u and ul blocks: 3R down and 3R + 2 up in each stream
    assert conditional_count - count == 10 * 160 + blocks * (160 * 2 * 160 + 2 * 160)  # embedding + projections


# ------------------------------------------------------------------ the model: network + mixture head
def _model(channels: int, levels: int, size: int = 4, **fields):
    torch.manual_seed(0)
    fields = {"hidden_channels": 4, "num_layers": 1, "num_mixtures": 2, **fields}
    return build_model(model_config("pixelcnn_pp", (channels, size, size), levels, **fields)).double().eval()


def test_model_probabilities_of_every_image_sum_to_one():
    model = _model(1, 2)  # 2^16 binary 4×4 images
    with torch.no_grad():  # sharpen the untrained model so that its distribution is far from uniform
        for parameter in model.parameters():
            parameter.mul_(3.0)
    values = torch.arange(2 ** 16)
    images = ((values[:, None] >> torch.arange(16)) & 1).reshape(-1, 1, 4, 4)  # every image once
    with torch.no_grad():
        probabilities = torch.cat([model.log_prob(chunk).exp() for chunk in images.split(8192)])
    assert probabilities.sum().item() == pytest.approx(1.0, abs=1e-9)
    assert probabilities.max().item() > 3 / len(images)


@pytest.mark.parametrize("channels,levels", [(1, 3), (3, 2)])
def test_sampled_completions_follow_the_model(channels, levels):
    """Keep all but the last two pixels; sampled completions must match exp(log_prob) renormalised."""
    model = _model(channels, levels)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(2.0)
    given = torch.randint(0, levels, (1, channels, 4, 4), generator=torch.Generator().manual_seed(5))
    missing = [(3, 2), (3, 3)]
    completions = list(itertools.product(range(levels), repeat=2 * channels))
    candidates = given.repeat(len(completions), 1, 1, 1)
    for index, values in enumerate(completions):
        for pixel, (row, col) in enumerate(missing):
            candidates[index, :, row, col] = torch.tensor(values[pixel * channels:(pixel + 1) * channels])
    with torch.no_grad():
        probabilities = torch.softmax(model.log_prob(candidates), dim=0)
    known = given.repeat(20_000, 1, 1, 1)
    for row, col in missing:
        known[:, :, row, col] = -1
    samples = sample_images(model, 20_000, known=known, generator=torch.Generator().manual_seed(1))
    assert torch.equal(samples[:, :, :3], known[:, :, :3])
    index = torch.zeros(len(samples), dtype=torch.long)
    for row, col in missing:
        for channel in range(channels):
            index = index * levels + samples[:, channel, row, col]
    frequencies = torch.bincount(index, minlength=len(completions)).double() / len(samples)
    assert 0.5 * (frequencies - probabilities).abs().sum().item() < 0.03


def test_partially_known_pixels_are_refused():
    model = _model(3, 4)
    known = torch.full((1, 3, 4, 4), -1)
    known[0, 0, 0, 0] = 1  # R given, G and B not
    with pytest.raises(ConfigError, match="whole pixels"):
        sample_images(model, 1, known=known)


def test_small_preset_trains_with_its_averaged_weights(tmp_path):
    data = DataConfig(name="digits", max_train_images=64, max_test_images=16)
    config = TrainConfig(**{**training_defaults("pixelcnn-pp-small"), "epochs": 3, "batch_size": 16,
                            "sample_every": 0, "log_every": 1, "device": "cpu", "lr": 3e-3})
    assert config.ema_decay == 0.9995 and config.optimizer == "adam"
    assert (config.adam_beta1, config.adam_beta2) == (0.95, 0.9995)
    train(tmp_path, data=data, model="pixelcnn-pp-small", model_overrides={"hidden_channels": 8}, config=config)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [line["nats_per_image"] for line in lines if line["kind"] == "train"]
    assert sum(losses[-3:]) < sum(losses[:3])
    checkpoint = load_checkpoint(tmp_path / "last.pt")
    assert checkpoint["ema"] is not None
    loaded = load_model(tmp_path / "last.pt")
    assert all(torch.equal(tensor, checkpoint["ema"][name]) for name, tensor in loaded.state_dict().items())


# ------------------------------------------------- weight normalisation and data-dependent init (the reference's)
def test_weight_norm_keeps_the_function_and_weight_is_the_effective_weight():
    plain, normalised = _network(3).eval(), _network(3, weight_norm=True).eval()  # same seed, same weights
    inputs = torch.rand(2, 3, 8, 8) * 2 - 1
    torch.testing.assert_close(normalised(inputs), plain(inputs))
    layers = normalised.convolutions()
    # 3 input convs, 2 per block, 13 nin shortcuts (down ul, up u, up ul blocks), 8 resamplings, the output
    assert len(layers) == len(plain.convolutions()) == 3 + 2 * 16 + 13 + 8 + 1
    assert sum(scale == 0.1 for _, scale in layers) == 16  # the second convolution of each of the 16 blocks
    for layer, _ in layers:
        gain, direction = layer.parametrizations.weight.original0, layer.parametrizations.weight.original1
        out_dim = 1 if isinstance(layer, torch.nn.ConvTranspose2d) else 0
        norm = torch.linalg.vector_norm(direction, dim=[d for d in range(4) if d != out_dim], keepdim=True)
        torch.testing.assert_close(layer.weight, gain * direction / norm)  # w = g · v / ‖v‖ per output channel
    extra = sum(p.numel() for p in normalised.parameters()) - sum(p.numel() for p in plain.parameters())
    assert extra == sum(layer.weight.shape[1 if isinstance(layer, torch.nn.ConvTranspose2d) else 0]
                        for layer, _ in layers)  # one g per output channel


@pytest.mark.parametrize("num_classes", [0, 4])
def test_data_dependent_init_standardises_every_layer_on_the_init_batch(num_classes):
    """After the init pass, each layer's pre-activations on the init batch have mean 0 and std init_scale."""
    model = _model(3, 256, size=8, hidden_channels=8, dropout=0.5, num_classes=num_classes, weight_norm=True)
    images = torch.randint(0, 256, (10, 3, 8, 8), generator=torch.Generator().manual_seed(0))
    labels = torch.arange(10) % num_classes if num_classes else None
    rng = torch.get_rng_state()
    model.initialize_from_data(images, labels, seed=4)
    assert torch.equal(torch.get_rng_state(), rng)  # the caller's random stream is untouched
    layers, outputs = model.unet.convolutions(), {}
    directions = torch.cat([layer.parametrizations.weight.original1.flatten() for layer, _ in layers])
    assert directions.std().item() == pytest.approx(0.05, rel=0.05)  # v drawn from N(0, 0.05²), as the reference
    hooks = [layer.register_forward_hook(lambda module, _, out: outputs.__setitem__(module, out))
             for layer, _ in layers]
    torch.manual_seed(4)  # the init pass's dropout masks again
    with torch.no_grad():
        model.train()(images, labels)
    for hook in hooks:
        hook.remove()
    for layer, scale in layers:
        output = outputs[layer]  # (B, out, h, w)
        torch.testing.assert_close(output.mean(dim=(0, 2, 3)), torch.zeros(output.shape[1], dtype=torch.float64))
        torch.testing.assert_close(output.std(dim=(0, 2, 3), correction=0),
                                   torch.full((output.shape[1],), scale, dtype=torch.float64), rtol=1e-5, atol=0)
    with torch.no_grad():
        assert torch.isfinite(model.eval().log_prob(images, labels)).all()
    again = _model(3, 256, size=8, hidden_channels=8, dropout=0.5, num_classes=num_classes, weight_norm=True)
    again.initialize_from_data(images, labels, seed=4)
    assert all(torch.equal(tensor, again.state_dict()[name]) for name, tensor in model.state_dict().items())


def test_paper_preset_trains_as_the_reference_code():
    """openai/pixel-cnn train.py: weight norm, dropout 0.5, Adam (0.95, 0.9995), lr 1e-3 × 0.999995 per step,
    Polyak 0.9995, 100 init images."""
    config = model_config("pixelcnn-pp-cifar10", (3, 32, 32), 256)
    assert config.weight_norm and config.dropout == 0.5
    assert not model_config("pixelcnn-pp-small", (3, 32, 32), 256).weight_norm
    train_config = TrainConfig(**training_defaults("pixelcnn-pp-cifar10"))
    assert (train_config.optimizer, train_config.adam_beta1, train_config.adam_beta2, train_config.lr,
            train_config.schedule, train_config.lr_decay, train_config.ema_decay, train_config.init_batch_size) == \
        ("adam", 0.95, 0.9995, 1e-3, "exponential", 0.999995, 0.9995, 100)
    with torch.device("meta"):
        model = build_model(config)
    gains = 3 * 160 + 64 * (160 + 320) + 49 * 160 + 8 * 160 + 100  # one g per output channel of every layer
    assert sum(parameter.numel() for parameter in model.unet.parameters()) == PAPER_PARAMETERS + gains


def test_data_dependent_init_needs_weight_norm_which_is_pixelcnn_pp_only():
    with pytest.raises(ConfigError, match="needs a weight-normalised PixelCNN"):
        _model(1, 4).initialize_from_data(torch.zeros(2, 1, 4, 4, dtype=torch.long))
    with pytest.raises(ConfigError, match="PixelCNN\\+\\+ only, not for model 'pixelcnn'"):
        model_config("pixelcnn", (1, 8, 8), 4, weight_norm=True)
