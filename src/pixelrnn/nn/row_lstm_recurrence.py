"""The LSTM recurrence of the Row LSTM (PixelRNN §3.1) as one autograd function over the native loop.

Per row r: gates = input-to-state pre-activations of row r + W · taps(h_{r−1}), where taps are the previous row's
hidden state at the k columns j − k//2 … j + k//2 of every column j (zeros beyond the row's ends), so the
state-to-state 1×k convolution is one (4h, h·k) × (h·k, B·W) product; then c = f ⊙ c_{r−1} + i ⊙ g,
h = o ⊙ tanh(c). The native loop (:mod:`pixelrnn.nn.native`, ``row_lstm.cpp``) records no graph and runs the
backward by hand; :class:`pixelrnn.nn.recurrent.RowLSTM` keeps its PyTorch loop where the kernel is not at hand
(no compiler, another dtype or device, the GRU, ``--compile``), and the tests compare the two. Under bfloat16
autocast the native loop takes bfloat16 operands for its products and keeps the gates, cells and hidden states in
float32, as the Diagonal BiLSTM's does.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from pixelrnn.nn import native


class RowLSTMRecurrence(torch.autograd.Function):
    """Every row's hidden state of a Row LSTM layer.

    Forward args:
        rows_input: (H, 4h, B·W) the input-to-state pre-activations (gates o, f, i, g), each image row a run.
        weight: (4h, h·k) the state-to-state kernel, column c·k + t reading channel c at tap t.
        start_hidden, start_memory: (h, B·W) the state of row −1.
        images, width: B and W.
        ``rows_input`` and ``weight`` are the products' operands: float32 / float64 like the states, or bfloat16
        (the states then float32).

    Returns:
        (H, h, B·W) the hidden states, in the states' type.
    """

    @staticmethod
    def forward(ctx, rows_input: torch.Tensor, weight: torch.Tensor, start_hidden: torch.Tensor,
                start_memory: torch.Tensor, images: int, width: int) -> torch.Tensor:
        kernel = native.row_lstm()
        hidden, *saved = kernel.forward(rows_input, weight, start_hidden, start_memory, images, width)
        ctx.save_for_backward(weight, start_memory, *saved)
        ctx.kernel, ctx.shape = kernel, (images, width)
        return hidden

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_hidden: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        return (*ctx.kernel.backward(grad_hidden, *ctx.saved_tensors, *ctx.shape), None, None)


def native_kernel(like: torch.Tensor, autocast: bool = False):
    """The native recurrence where it may take ``like``, the layer's float32 / float64 weight
    (:func:`pixelrnn.nn.native.usable`) — under ``autocast`` only where it casts to bfloat16 (the loop's products
    then take bfloat16 operands) —, or None."""
    if autocast and (like.dtype != torch.float32 or torch.get_autocast_dtype(like.device.type) != torch.bfloat16):
        return None
    return native.row_lstm() if native.usable(like) else None
