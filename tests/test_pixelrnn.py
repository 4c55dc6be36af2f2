"""PixelRNN (Row LSTM, Diagonal BiLSTM, LSTM or GRU cells, skips) and the Multi-Scale PixelRNN.

Causality of every variant, the receptive fields that tell the two layers apart, the shift that keeps the
right-to-left direction causal, loops over rows and diagonals only, exact normalisation, the presets, training.
"""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from causality import allowed_inputs, assert_causal
from native_kernel import require_native_kernel

from pixelrnn.checkpoint import load_model
from pixelrnn.config import DataConfig, ModelConfig, TrainConfig
from pixelrnn.data import load_dataset
from pixelrnn.errors import ConfigError
from pixelrnn.experiments.mfu import counted_flops
from pixelrnn.models import PRESETS, build_model, count_parameters, model_config, training_defaults
from pixelrnn.nn import recurrent_cell, row_lstm_recurrence
from pixelrnn.nn.diagonal_bilstm import diagonal_schedule
from pixelrnn.nn.diagonal_lstm_recurrence import native_kernel
from pixelrnn.nn.recurrent import CELLS, RECURRENT_LAYERS, DiagonalBiLSTM, RowLSTM
from pixelrnn.train import train

SMALL = {"hidden_channels": 6, "num_layers": 2, "output_channels": 6}


def _pixelrnn(channels: int = 1, size: tuple[int, int] = (6, 6), levels: int = 4, name: str = "pixelrnn",
              seed: int = 0, **fields) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(model_config(name, (channels, *size), levels, **{**SMALL, **fields}))


@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("skips", [False, True])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_variant_is_causal(layer, cell, skips, channels):
    depends = assert_causal(_pixelrnn(channels, recurrent_layer=layer, cell=cell, skip_connections=skips))
    assert depends.sum() > depends[0, 0, 0].numel()  # far more than one real dependency was measured


@pytest.mark.parametrize("layer", RECURRENT_LAYERS)
@pytest.mark.parametrize("channels", [1, 3])
def test_multiscale_model_is_causal_in_its_own_order(layer, channels):
    model = _pixelrnn(channels, name="multiscale_pixelrnn", recurrent_layer=layer)
    depends = assert_causal(model, num_trials=3)  # (C, H, W, C', H', W') against model.pixel_order()
    assert depends[:, 0, 1, :, 2, 2].any()  # off the grid, (0, 1) is conditioned on the later grid pixel (2, 2)
    assert depends[:, 2, 2, :, 0, 2].any()  # on the grid, the small model sees the earlier grid pixel (0, 2)
    on_grid = torch.zeros(6, 6, dtype=torch.bool)
    on_grid[::2, ::2] = True
    assert not depends[:, on_grid][:, :, :, ~on_grid].any()  # the small image never depends on the rest


def test_row_lstm_sees_a_triangle_above_it():
    """Row i − d is seen up to column j + d + K//2 − 1 (K: the first layer's kernel), whatever the depth."""
    height, width = 7, 9
    for first_kernel, layers in ((7, 1), (3, 3)):
        depends = assert_causal(_pixelrnn(size=(height, width), recurrent_layer="row_lstm", num_layers=layers,
                                          first_kernel_size=first_kernel), num_trials=3)
        for i, j in itertools.product(range(1, height), range(width)):
            for above in range(i):
                seen = depends[0, i, j, 0, above].nonzero().flatten()
                edge = min(width - 1, j + (i - above) + first_kernel // 2 - 1)
                assert seen.max().item() == edge, (first_kernel, i, j, above)


def test_diagonal_bilstm_sees_the_whole_past_but_one_pixel():
    """Every earlier pixel is seen, except (i − 1, W − 1) from (i, j) with j < W − 1 − K//2.

    That pixel reaches the right-to-left direction only through the layer input at (i − 1, W − 1), which may
    not contain it, and the row shift hands (i, j) nothing of row i; only the first layer's K×K mask-A kernel
    reaches it, from j ≥ W − 1 − K//2. The paper (§3.2) calls the field "the entire available context";
    it is, but for this one pixel. Depth does not change it.
    """
    height, width = 6, 8
    for first_kernel, layers in ((7, 1), (3, 3)):
        depends = assert_causal(_pixelrnn(size=(height, width), recurrent_layer="diagonal_bilstm",
                                          num_layers=layers, first_kernel_size=first_kernel), num_trials=3)
        missed = allowed_inputs(1, height, width) & ~depends
        expected = torch.zeros_like(missed)
        for i in range(1, height):
            expected[0, i, : width - 1 - first_kernel // 2, 0, i - 1, width - 1] = True
        assert torch.equal(missed, expected), missed.nonzero()[:5]


def test_without_the_row_shift_the_right_to_left_direction_sees_the_future():
    model = _pixelrnn(recurrent_layer="diagonal_bilstm")
    for module in model.modules():
        if isinstance(module, DiagonalBiLSTM):
            module.shift_right_to_left = False
    with pytest.raises(AssertionError, match="forbidden dependencies"):
        assert_causal(model)


@pytest.mark.parametrize("height,width", [(3, 4), (4, 3), (1, 5), (5, 1), (6, 6)])
def test_the_diagonal_order_visits_every_pixel_once_and_the_writes_invert_it(height, width):
    schedule = diagonal_schedule(height, width)
    assert len(schedule.steps) == width + height - 1 and sum(rows for rows, _ in schedule.steps) == height * width
    positions = [(lo + k, step - lo - k) for step, lo in enumerate(_first_rows(schedule)) for k in
                 range(schedule.steps[step][0])]  # (row, column) of each diagonal position, left to right
    assert all(0 <= row < height and 0 <= col < width for row, col in positions)
    assert [row * width + col for row, col in positions] == schedule.reads[0].tolist()
    assert [row * width + width - 1 - col for row, col in positions] == schedule.reads[1].tolist()  # mirrored
    raster = torch.arange(height * width)
    assert torch.equal(schedule.reads[0][schedule.writes[0]], raster)
    shifted = schedule.writes[1].view(height, width)  # row r of the right-to-left output is its row r − 1
    assert (shifted[0] == height * width).all()
    assert torch.equal(schedule.reads[1][shifted[1:].flatten()], raster[: (height - 1) * width])
    unshifted = diagonal_schedule(height, width, shift_right_to_left=False)
    assert torch.equal(unshifted.reads[1][unshifted.writes[1]], raster)


def _first_rows(schedule) -> list[int]:
    rows, first = [], 0
    for _, advance in schedule.steps:
        first += advance
        rows.append(first)
    return rows


def test_layers_loop_over_rows_and_diagonals_never_pixels(monkeypatch):
    """The Python loop runs H times (Row LSTM) and W + H − 1 times, both directions at once (Diagonal BiLSTM); the
    native loops (pixelrnn.nn.native) follow the same steps and are tested equal to it."""
    monkeypatch.setenv("PIXELRNN_NATIVE", "0")
    calls = []
    original = recurrent_cell.cell_step
    monkeypatch.setattr(recurrent_cell, "cell_step",
                        lambda *args, **kw: calls.append(args[1].shape) or original(*args, **kw))
    inputs = torch.randn(2, 8, 5, 7)  # (B, 2h, H, W)
    RowLSTM(8, 4)(inputs)
    assert calls == [(16, 14)] * 5  # one step per row, a whole row (4 gates × h, B·W) at once
    calls.clear()
    diagonal = DiagonalBiLSTM(8, 4)
    diagonal.hand_written_backward = False  # the LSTM's own recurrence loops the same way without cell_step
    diagonal(inputs)
    rows_per_step = [1, 2, 3, 4, 5, 5, 5, 4, 3, 2, 1]  # a step per diagonal, over the rows it reaches only
    assert calls == [(2, 16, rows, 2) for rows in rows_per_step]  # (directions, 4 gates × h, rows, B)


@pytest.mark.parametrize("native", ["native", "python"])
@pytest.mark.parametrize("cell,kernel,learned,condition", [("lstm", 3, True, 0), ("gru", 5, False, 2),
                                                           ("lstm", 5, False, 1), ("lstm", 1, True, 0)])
def test_the_row_lstm_is_a_row_by_row_convolution(cell, kernel, learned, condition, native, monkeypatch):
    """The Row LSTM's one-product steps, native (pixelrnn.nn.native, the LSTM) or in PyTorch operations, equal the
    textbook loop: a 1×k Conv1d over the previous row's state, the cell update of (B, G·h, W) pre-activations
    (float64, outputs and gradients)."""
    monkeypatch.setenv("PIXELRNN_NATIVE", "1" if native == "native" else "0")
    if native == "native":
        require_native_kernel()
    assert (row_lstm_recurrence.native_kernel(torch.zeros(1)) is not None) == (native == "native")
    torch.manual_seed(0)
    layer = RowLSTM(6, 4, kernel, cell=cell, condition_channels=condition, learned_initial_state=learned).double()
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    inputs = torch.randn(3, 6, 5, 7, dtype=torch.float64, requires_grad=True)
    extra = torch.randn(3, condition, 5, 7, dtype=torch.float64) if condition else None

    def textbook() -> torch.Tensor:
        from_input = recurrent_cell.with_condition(layer.input_to_state(inputs), layer.condition_to_state, extra)
        hidden = memory = torch.zeros(3, 4, 7, dtype=torch.float64)
        if learned:
            hidden = hidden + layer.initial_state.hidden[0][:, None]
            memory = memory + layer.initial_state.memory[0][:, None]
        rows = []
        for row in range(5):
            hidden, memory = recurrent_cell.cell_step(cell, from_input[:, :, row], layer.state_to_state(hidden),
                                                      hidden, memory)
            rows.append(hidden)
        return torch.stack(rows, dim=2)

    weights = torch.randn(3, 4, 5, 7, dtype=torch.float64)
    tensors = [inputs, *layer.parameters()]
    out, reference = layer(inputs, extra), textbook()
    assert torch.allclose(out, reference, rtol=0, atol=1e-12)
    for grad, expected in zip(torch.autograd.grad((out * weights).sum(), tensors),
                              torch.autograd.grad((reference * weights).sum(), tensors), strict=True):
        assert torch.allclose(grad, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kernel", ["native", "python"])
@pytest.mark.parametrize("height,width,learned,condition", [(5, 7, True, 0), (6, 3, False, 2), (1, 4, True, 0),
                                                            (4, 9, True, 0), (9, 2, False, 1)])
def test_the_hand_written_backward_of_the_diagonal_lstm_is_autograds(height, width, learned, condition, kernel,
                                                                     monkeypatch):
    """The recurrence's own backward, native (pixelrnn.nn.native) or in PyTorch operations, gives autograd's
    gradients (float64) for the input, the condition map and every parameter; the forward is autograd's too."""
    monkeypatch.setenv("PIXELRNN_NATIVE", "1" if kernel == "native" else "0")
    if kernel == "native":
        require_native_kernel()
    assert (native_kernel(torch.zeros(1, dtype=torch.float64)) is not None) == (kernel == "native")
    torch.manual_seed(0)
    layer = DiagonalBiLSTM(6, 4, condition_channels=condition, learned_initial_state=learned).double()
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))  # learned initial states away from zero
    inputs = torch.randn(3, 6, height, width, dtype=torch.float64, requires_grad=True)
    extra = torch.randn(3, condition, height, width, dtype=torch.float64, requires_grad=True) if condition else None
    weights = torch.randn(3, 4, height, width, dtype=torch.float64)
    results = []
    for hand_written in (True, False):
        layer.hand_written_backward = hand_written
        out = layer(inputs, extra)
        tensors = [inputs, *([extra] if condition else []), *layer.parameters()]
        results.append((out, torch.autograd.grad((out * weights).sum(), tensors)))
    (out, grads), (reference, reference_grads) = results
    assert torch.allclose(out, reference, rtol=0, atol=1e-12)
    for grad, expected in zip(grads, reference_grads, strict=True):
        assert torch.allclose(grad, expected, rtol=1e-10, atol=1e-12)
    assert all(grad.abs().sum() > 0 for grad in grads)  # every gradient is exercised


def test_the_diagonal_bilstm_multiplies_only_at_pixels_never_on_the_skew_padding():
    """Forward FLOPs: per direction and pixel, one (C → 4h) input-to-state and one (2h → 4h) state-to-state
    product, over H·W pixels, not the (W + H − 1)·H positions of the skewed map."""
    batch, channels, hidden, height, width = 3, 8, 4, 5, 7
    layer = DiagonalBiLSTM(channels, hidden)
    flops = counted_flops(lambda: layer(torch.randn(batch, channels, height, width)))
    assert flops == 2 * 2 * batch * height * width * 4 * hidden * (channels + 2 * hidden)


@pytest.mark.parametrize("name,fields", [
    ("pixelrnn", {"recurrent_layer": "row_lstm"}),
    ("pixelrnn", {"recurrent_layer": "diagonal_bilstm", "cell": "gru", "skip_connections": True}),
    ("multiscale_pixelrnn", {"recurrent_layer": "diagonal_bilstm"}),
    ("multiscale_pixelrnn", {"recurrent_layer": "row_lstm", "cell": "gru"}),
])
@pytest.mark.parametrize("shape,levels", [((1, 2, 4), 2), ((3, 2, 2), 2), ((1, 2, 2), 5)])
def test_probabilities_of_every_image_sum_to_one(name, fields, shape, levels):
    model = _pixelrnn(shape[0], shape[1:], levels, name=name, hidden_channels=3, **fields).double()
    with torch.no_grad():  # sharpen the untrained model so that its distribution is far from uniform
        for parameter in model.parameters():
            parameter.mul_(3.0)
    values = list(itertools.product(range(levels), repeat=shape[0] * shape[1] * shape[2]))
    images = torch.tensor(values).reshape(-1, *shape)  # every image, (L^(C·H·W), C, H, W)
    with torch.no_grad():
        probabilities = model.log_prob(images).exp()
    assert probabilities.sum().item() == pytest.approx(1.0, abs=1e-9)
    assert probabilities.max().item() > 3 / len(images)  # far from uniform: the check is not vacuous


def _recurrent_parameters(config: ModelConfig, params_per_subpixel: int) -> int:
    """Parameter count of a PixelRNN from its layer list (§3.1–3.3, Table 1)."""
    c, h, o, p = config.image_channels, config.hidden_channels, config.output_channels, params_per_subpixel
    gates = {"lstm": 4, "gru": 3}[config.cell] * h
    if config.recurrent_layer == "row_lstm":  # 1×k input-to-state (+ bias), 1×k state-to-state
        recurrent = 2 * h * gates * config.kernel_size + gates + h * gates * config.kernel_size
    else:  # two directions of 1×1 input-to-state (+ bias) and 2×1 state-to-state
        recurrent = 2 * (2 * h * gates + gates + 2 * h * gates)
    layer = recurrent + h * 2 * h + 2 * h  # + the 1×1 h → 2h residual projection
    skips = config.num_layers * (2 * h * 2 * h + 2 * h) if config.skip_connections else 0
    if config.learned_initial_state:  # (hidden [, LSTM cell]) × directions × h per layer
        directions = 1 if config.recurrent_layer == "row_lstm" else 2
        layer += directions * h * (2 if config.cell == "lstm" else 1)
    input_layer = c * 2 * h * config.first_kernel_size ** 2 + 2 * h
    output_layers = (2 * h * o + o) + (o * c * p + c * p)
    return input_layer + config.num_layers * layer + skips + output_layers


@pytest.mark.parametrize("preset", sorted(name for name, fields in PRESETS.items() if fields["name"] == "pixelrnn"))
@pytest.mark.parametrize("cell,skips", [("lstm", False), ("gru", True)])
def test_pixelrnn_presets_have_the_layers_of_the_paper(preset, cell, skips):
    config = model_config(preset, (3, 4, 4), 256, cell=cell, skip_connections=skips)
    assert count_parameters(build_model(config)) == _recurrent_parameters(config, 256)


def test_paper_presets_and_their_rmsprop_default():
    for layer in ("row-lstm", "diagonal-bilstm"):
        cifar = model_config(f"{layer}-cifar10", (3, 32, 32), 256)
        assert (cifar.num_layers, cifar.hidden_channels, cifar.recurrent_layer) == (12, 128, layer.replace("-", "_"))
        mnist = model_config(f"{layer}-mnist", (1, 28, 28), 2)
        assert (mnist.num_layers, mnist.hidden_channels, mnist.output_channels) == (7, 16, 32)
        assert training_defaults(f"{layer}-cifar10")["optimizer"] == "rmsprop"
    assert training_defaults("pixelcnn-small") == {} and training_defaults("no-such-model") == {}


def test_multiscale_model_needs_a_factor_that_divides_the_image():
    with pytest.raises(ConfigError, match="divide"):
        _pixelrnn(size=(6, 6), name="multiscale_pixelrnn", subsample_factor=4)
    small = _pixelrnn(size=(6, 6), name="multiscale_pixelrnn", subsample_factor=3).small_model
    assert small.config.image_shape == (1, 2, 2)


def test_a_conditioned_layer_needs_its_condition_and_only_it():
    with pytest.raises(ConfigError, match="condition"):
        RowLSTM(8, 4, condition_channels=2)(torch.randn(1, 8, 3, 3))
    with pytest.raises(ConfigError, match="condition"):
        RowLSTM(8, 4)(torch.randn(1, 8, 3, 3), torch.randn(1, 2, 3, 3))


DIGITS = DataConfig(name="digits", max_train_images=64, max_test_images=32)


@pytest.mark.parametrize("preset,fields", [
    ("row-lstm-small", {}),
    ("diagonal-bilstm-small", {"cell": "gru", "skip_connections": True}),
    ("multiscale-pixelrnn-small", {"recurrent_layer": "row_lstm"}),
])
def test_training_lowers_the_loss_and_the_checkpoint_reloads(tmp_path, preset, fields):
    config = TrainConfig(**{**training_defaults(preset), "epochs": 6, "batch_size": 16, "lr": 3e-3,
                            "sample_every": 0, "log_every": 1, "device": "cpu"})
    result = train(tmp_path, data=DIGITS, model=preset, model_overrides={"hidden_channels": 8, **fields},
                   config=config)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [line["nats_per_image"] for line in lines if line["kind"] == "train"]
    assert sum(losses[-4:]) / 4 < 0.85 * sum(losses[:4]) / 4, losses
    assert json.loads((tmp_path / "config.json").read_text())["train"]["optimizer"] == "rmsprop"
    model = load_model(tmp_path / "last.pt")  # rebuilt from the checkpoint alone
    assert model.config.name == PRESETS[preset]["name"]
    test_images = load_dataset(DIGITS).test.images
    with torch.no_grad():
        reloaded_nats = -model.log_prob(test_images).double().mean().item()
    assert reloaded_nats == pytest.approx(result.test.nats_per_image, rel=1e-5)
