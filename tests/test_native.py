"""The native LSTM recurrences (pixelrnn.nn.native): float32 and two threads against the PyTorch loops, the switch
that turns them off, and a failed build that falls back with a warning. Their float64 equality with autograd is
tested with the other recurrences (test_pixelrnn.py)."""

from __future__ import annotations

import pytest
import torch
from native_kernel import require_native_kernel

from pixelrnn.nn import native, row_lstm_recurrence
from pixelrnn.nn.diagonal_lstm_recurrence import NativeDiagonalLSTM, native_kernel
from pixelrnn.nn.recurrent import DiagonalBiLSTM, RowLSTM
from pixelrnn.nn.row_lstm_recurrence import RowLSTMRecurrence

# per layer: its builder (hidden size h), the check that picks its native kernel, and the autograd function that runs it
LAYERS = {"diagonal_bilstm": (lambda h: DiagonalBiLSTM(8, h, learned_initial_state=True), native_kernel,
                              NativeDiagonalLSTM),
          "row_lstm": (lambda h: RowLSTM(8, h, 3, learned_initial_state=True), row_lstm_recurrence.native_kernel,
                       RowLSTMRecurrence)}


def _outputs_and_gradients(layer: torch.nn.Module, inputs: torch.Tensor, weights: torch.Tensor):
    out = layer(inputs)
    return out, torch.autograd.grad((out * weights).sum(), [inputs, *layer.parameters()])


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("threads", [1, 2, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("hidden", [16, 5])
def test_the_native_recurrence_equals_the_pytorch_loop(kind, dtype, threads, hidden, monkeypatch):
    """Outputs and gradients of a layer at the MNIST size's width (h = 16, batch 5, 9×7 map), native against the
    PyTorch loop: float64 to 1e-10, float32 to the float32 rounding of a 20-ulp exponential; on two threads the
    Diagonal BiLSTM's two directions run at once, on four one after the other. h = 5: unit and gate counts (5, 10,
    20) that are no multiple of the vector width."""
    require_native_kernel()
    build, kernel_for, _ = LAYERS[kind]
    torch.manual_seed(0)
    layer = build(hidden).to(dtype)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    inputs = torch.randn(5, 8, 9, 7, dtype=dtype, requires_grad=True)
    weights = torch.randn(5, hidden, 9, 7, dtype=dtype)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        results = {}
        for switch in ("1", "0"):
            monkeypatch.setenv("PIXELRNN_NATIVE", switch)
            assert (kernel_for(inputs) is not None) == (switch == "1")
            results[switch] = _outputs_and_gradients(layer, inputs, weights)
    finally:
        torch.set_num_threads(previous_threads)
    (out, grads), (reference, reference_grads) = results["1"], results["0"]
    tolerance = dict(rtol=1e-10, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-4, atol=2e-5)
    assert torch.allclose(out, reference, **tolerance)
    for grad, expected in zip(grads, reference_grads, strict=True):
        assert torch.allclose(grad, expected, **tolerance)
        assert grad.abs().sum() > 0


def test_the_native_kernel_is_only_taken_for_float_cpu_tensors(monkeypatch):
    monkeypatch.setenv("PIXELRNN_NATIVE", "1")
    require_native_kernel()
    assert native_kernel(torch.zeros(1)) is not None
    assert native_kernel(torch.zeros(1, dtype=torch.bfloat16)) is None
    assert native_kernel(torch.zeros(1, device="meta")) is None


def test_a_failed_build_warns_once_and_leaves_the_pytorch_loop(monkeypatch):
    """A broken compiler or source gives a one-line warning and None, never an error: the layer keeps its loop."""
    from torch.utils import cpp_extension

    def fail(**_):
        raise RuntimeError("Error building extension 'pixelrnn_broken'\nlong compiler output")

    monkeypatch.setattr(cpp_extension, "load", fail)
    monkeypatch.setattr(native.shutil, "which", lambda _: "/usr/bin/c++")
    native._build.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="did not build .Error building extension 'pixelrnn_broken'.; using"):
            assert native._build("diagonal_lstm") is None
    finally:
        native._build.cache_clear()


def test_without_a_compiler_there_is_no_native_kernel(monkeypatch):
    monkeypatch.setattr(native.shutil, "which", lambda _: None)
    native._build.cache_clear()
    try:
        assert native._build("diagonal_lstm") is None
    finally:
        native._build.cache_clear()


def test_flop_counting_takes_the_pytorch_loop(monkeypatch):
    """Under FlopCounterMode (``pixelrnn bench --mfu``) the layer takes the PyTorch loop, whose products the mode
    sees on every thread."""
    from torch.utils.flop_counter import FlopCounterMode

    monkeypatch.setenv("PIXELRNN_NATIVE", "1")
    require_native_kernel()
    with FlopCounterMode(display=False):
        assert native_kernel(torch.zeros(1)) is None
    assert native_kernel(torch.zeros(1)) is not None


def test_a_first_build_says_that_it_compiles(monkeypatch, caplog):
    """The minute of compiling on a machine's first use is announced on the log, not a silent pause."""
    from torch.utils import cpp_extension

    built = object()
    monkeypatch.setattr(cpp_extension, "load", lambda **_: built)
    monkeypatch.setattr(native.shutil, "which", lambda _: "/usr/bin/c++")
    monkeypatch.setattr(native, "_built", lambda *_: False)
    native._build.cache_clear()
    try:
        with caplog.at_level("INFO", logger="pixelrnn"):
            assert native._build("row_lstm") is built
        assert "compiling the native row_lstm loop (once on this machine, about a minute)" in caplog.text
    finally:
        native._build.cache_clear()


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_evaluation_takes_the_native_recurrence_too(kind, monkeypatch):
    """Under torch.no_grad (eval, validation, the plain sampler) the layer runs its native loop, and its outputs equal
    the PyTorch loop's."""
    require_native_kernel()
    build, _, function = LAYERS[kind]
    calls = []
    original = function.apply
    monkeypatch.setattr(function, "apply", lambda *args: calls.append(1) or original(*args))
    torch.manual_seed(0)
    layer = build(16).double()
    inputs = torch.randn(3, 8, 6, 5, dtype=torch.float64)
    outputs = {}
    with torch.no_grad():
        for switch in ("1", "0"):
            monkeypatch.setenv("PIXELRNN_NATIVE", switch)
            outputs[switch] = layer(inputs)
    assert len(calls) == 1  # the native run only
    assert torch.allclose(outputs["1"], outputs["0"], rtol=1e-10, atol=1e-12)


def _errors_against_float32(layer: torch.nn.Module, inputs: torch.Tensor, weights: torch.Tensor,
                            ) -> tuple[list[float], torch.Tensor]:
    """The layer under bfloat16 autocast against float32: the largest error of its output and of each gradient,
    relative to the float32 value's largest magnitude; and the autocast run's output."""
    reference, reference_grads = _outputs_and_gradients(layer, inputs, weights)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(inputs)
    grads = torch.autograd.grad((out.float() * weights).sum(), [inputs, *layer.parameters()])
    pairs = [(out.float(), reference), *zip(grads, reference_grads, strict=True)]
    return [((got.float() - want).abs().max() / want.abs().max()).item() for got, want in pairs], out


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("hidden", [16, 5])
def test_under_bf16_autocast_the_recurrence_runs_natively_and_as_close_to_float32(kind, hidden, monkeypatch):
    """bfloat16 autocast: the native loops take bfloat16 operands for their products and keep their states in
    float32. Their output and every gradient stay within 2 % of float32's (bfloat16 keeps 8 bits) and no further
    from float32 than the PyTorch loop under the same autocast (plus 0.5 %)."""
    require_native_kernel()
    build, _, function = LAYERS[kind]
    calls = []
    original = function.apply
    monkeypatch.setattr(function, "apply", lambda *args: calls.append(args[0].dtype) or original(*args))
    torch.manual_seed(0)
    layer = build(hidden)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    inputs = torch.randn(5, 8, 9, 7, requires_grad=True)
    weights = torch.randn(5, hidden, 9, 7)
    errors = {}
    for switch in ("1", "0"):
        monkeypatch.setenv("PIXELRNN_NATIVE", switch)
        errors[switch], out = _errors_against_float32(layer, inputs, weights)
        assert out.dtype == torch.float32 or switch == "0"  # the native loops' states are float32
    assert calls == [torch.float32, torch.bfloat16]  # the float32 reference, then the bfloat16 products
    assert max(errors["1"]) < 0.02, errors
    for native_error, loop_error in zip(errors["1"], errors["0"], strict=True):
        assert native_error <= loop_error + 0.005, errors


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_the_bf16_native_recurrence_sees_no_future_pixel(kind, monkeypatch):
    """Causality of the bfloat16 native loops, by gradients: the layer's output at (i, j) depends on no input at a
    later raster position (exactly zero gradient there), and on some earlier ones."""
    require_native_kernel()
    monkeypatch.setenv("PIXELRNN_NATIVE", "1")
    torch.manual_seed(0)
    layer = LAYERS[kind][0](16)
    height, width = 6, 5
    for i, j in [(0, 0), (2, 3), (5, 4), (3, 0)]:
        inputs = torch.randn(2, 8, height, width, requires_grad=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = layer(inputs)
        (grad,) = torch.autograd.grad(out[:, :, i, j].sum(), inputs)
        reach = grad.abs().sum(dim=(0, 1)).flatten()  # per raster position
        position = i * width + j
        assert torch.all(reach[position + 1:] == 0), (i, j)
        assert reach[:position + 1].sum() > 0
