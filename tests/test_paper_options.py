"""The PixelRNN paper's options (§3.3, §4) and the presets that turn them on.

Learned initial recurrent states, layer-to-output (skip) connections in the PixelCNN too, residual connections
that Table 2's ablation turns off: each stays causal and exactly normalised, each is a real parameter that
learns, and the paper presets use them with the paper's optimizer (RMSProp) and batch (16).
"""

from __future__ import annotations

import itertools

import pytest
import torch
from causality import assert_causal

from pixelrnn.config import ModelConfig, from_dict, to_dict
from pixelrnn.models import PIXELRNN_PAPER_PRESETS, PRESETS, build_model, model_config, training_defaults
from pixelrnn.nn.recurrent import CELLS, RECURRENT_LAYERS
from pixelrnn.nn.recurrent_cell import InitialState

SMALL = {"hidden_channels": 6, "num_layers": 2, "output_channels": 6}


def _model(name: str, channels: int = 1, size: tuple[int, int] = (5, 5), levels: int = 4, **fields):
    torch.manual_seed(0)
    model = build_model(model_config(name, (channels, *size), levels, **{**SMALL, **fields}))
    with torch.no_grad():  # learned initial states start at zero: give them values that matter
        for module in model.modules():
            if isinstance(module, InitialState):
                for parameter in module.parameters():
                    parameter.normal_(std=0.7)
    return model


@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("channels", [1, 3])
def test_learned_initial_state_keeps_the_pixelrnn_causal(layer, cell, channels):
    depends = assert_causal(_model("pixelrnn", channels, recurrent_layer=layer, cell=cell,
                                   learned_initial_state=True, skip_connections=True))
    assert depends.sum() > depends[0, 0, 0].numel()


@pytest.mark.parametrize("fields", [{"skip_connections": True},
                                    {"skip_connections": True, "residual_connections": False},
                                    {"residual_connections": False}])
@pytest.mark.parametrize("channels", [1, 3])
def test_pixelcnn_skips_and_the_ablation_are_causal(fields, channels):
    assert_causal(_model("pixelcnn", channels, **fields))


@pytest.mark.parametrize("name,fields", [
    ("pixelrnn", {"recurrent_layer": "row_lstm", "learned_initial_state": True, "skip_connections": True}),
    ("pixelrnn", {"recurrent_layer": "diagonal_bilstm", "learned_initial_state": True}),
    ("pixelrnn", {"recurrent_layer": "diagonal_bilstm", "cell": "gru", "learned_initial_state": True,
                  "residual_connections": False}),
    ("pixelcnn", {"skip_connections": True}),
])
@pytest.mark.parametrize("shape,levels", [((1, 2, 4), 2), ((3, 2, 2), 2)])
def test_probabilities_of_every_image_sum_to_one(name, fields, shape, levels):
    model = _model(name, shape[0], shape[1:], levels, hidden_channels=3, **fields).double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(4.0)
    images = torch.tensor(list(itertools.product(range(levels), repeat=shape[0] * shape[1] * shape[2])))
    with torch.no_grad():
        probabilities = model.log_prob(images.reshape(-1, *shape)).exp()
    assert probabilities.sum().item() == pytest.approx(1.0, abs=1e-9)
    assert probabilities.max().item() > 2 / len(images)  # far from uniform: the check is not vacuous


@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
def test_initial_state_is_a_learned_parameter_per_layer_and_direction(layer):
    model = _model("pixelrnn", recurrent_layer=layer, learned_initial_state=True)
    states = [module for module in model.modules() if isinstance(module, InitialState)]
    directions = 1 if layer == "row_lstm" else 2
    assert len(states) == SMALL["num_layers"]
    assert all(state.hidden.shape == state.memory.shape == (directions, 6) for state in states)
    images = torch.randint(0, 4, (3, 1, 5, 5))
    model.log_prob(images).sum().backward()
    for state in states:  # every direction of every layer receives gradient
        assert all(parameter.grad is not None and (parameter.grad.abs().sum(dim=1) > 0).all()
                   for parameter in state.parameters())
    with torch.no_grad():
        before = model.log_prob(images)
        states[0].hidden.add_(1.0)
        assert not torch.allclose(before, model.log_prob(images))  # it changes the likelihood


def test_zero_initial_state_is_the_zero_state_model():
    """A learned state that is still zero computes what the model without one computes (a new model starts so)."""
    for layer, cell in itertools.product(RECURRENT_LAYERS, CELLS):
        torch.manual_seed(1)
        plain = build_model(model_config("pixelrnn", (3, 4, 5), 4, recurrent_layer=layer, cell=cell, **SMALL))
        learned = build_model(model_config("pixelrnn", (3, 4, 5), 4, recurrent_layer=layer, cell=cell,
                                           learned_initial_state=True, **SMALL))
        missing = learned.load_state_dict(plain.state_dict(), strict=False).missing_keys
        assert missing and all("initial_state" in key for key in missing)
        images = torch.randint(0, 4, (2, 3, 4, 5))
        with torch.no_grad():
            assert torch.allclose(plain.log_prob(images), learned.log_prob(images), atol=1e-5)


@pytest.mark.parametrize("preset", PIXELRNN_PAPER_PRESETS)
def test_paper_presets_use_skips_and_learned_states_with_rmsprop_at_batch_16(preset):
    config = model_config(preset, (1, 4, 4), 2)
    assert config.skip_connections and config.residual_connections
    assert config.learned_initial_state == (PRESETS[preset]["name"] == "pixelrnn")
    assert {key: training_defaults(preset)[key] for key in ("optimizer", "batch_size")} == \
        {"optimizer": "rmsprop", "batch_size": 16}
    small = build_model(model_config(preset, (1, 4, 4), 2, hidden_channels=4, num_layers=2, output_channels=4))
    small.log_prob(torch.randint(0, 2, (2, 1, 4, 4))).sum().backward()
    for skip in small.skips:  # the layer-to-output connections carry gradient
        assert skip.weight.grad is not None and skip.weight.grad.abs().sum() > 0


def test_our_small_presets_and_old_configs_keep_the_old_network():
    assert not any(model_config(name, (1, 8, 8), 17).skip_connections for name in ("pixelcnn-small",
                                                                                  "row-lstm-small"))
    old = to_dict(ModelConfig(name="pixelrnn"))
    for key in ("residual_connections", "learned_initial_state"):
        del old[key]  # a checkpoint written before these fields existed
    config = from_dict(ModelConfig, old)
    assert config.residual_connections and not config.learned_initial_state and not config.skip_connections


def test_gated_pixelcnn_presets_are_named_for_their_data():
    imagenet = model_config("gated-pixelcnn-imagenet", (3, 32, 32), 256)
    assert (imagenet.num_layers, imagenet.hidden_channels, imagenet.kernel_size) == (20, 384, 5)
    assert "gated-pixelcnn-paper" not in PRESETS and "gated-pixelcnn-cifar10" in PRESETS
