"""What both recurrent layers of PixelRNN share (van den Oord, Kalchbrenner, Kavukcuoglu, ICML 2016, §3.1–3.2, §4).

The masked input-to-state convolution whose gate chunks are grouped like the state, the optional conditioning
bias, the learned initial state and the cell update (LSTM or GRU) for a whole row or diagonal of positions; see
:mod:`pixelrnn.nn.recurrent` for why the colour groups keep the layers causal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

from pixelrnn.errors import ConfigError
from pixelrnn.nn.masked_conv import MaskedConv2d, causal_mask

CELLS = ("lstm", "gru")  # the recurrent cells
_NUM_GATES = {"lstm": 4, "gru": 3}


def gate_conv(in_channels: int, hidden: int, kernel_size: tuple[int, int], cell: str,
               color_channels: int, directions: int = 1) -> MaskedConv2d:
    """A mask-B input-to-state convolution in → directions·gates·h whose every chunk of h is grouped like the state."""
    if cell not in CELLS:
        raise ConfigError(f"unknown recurrent cell '{cell}' (choose from: {', '.join(CELLS)})")
    chunks = directions * _NUM_GATES[cell]
    conv = MaskedConv2d(in_channels, chunks * hidden, kernel_size, "B", color_channels)
    per_gate = causal_mask(in_channels, hidden, kernel_size, "B", color_channels)  # (h, in, kh, kw)
    conv.mask.copy_(per_gate.repeat(chunks, 1, 1, 1))  # (chunks·h, in, kh, kw): chunk k like the state
    return conv


def condition_conv(condition_channels: int, gates: int) -> nn.Conv2d | None:
    """The unmasked 1×1 map condition → gate bias (no bias term: the input-to-state convolution has one)."""
    return nn.Conv2d(condition_channels, gates, 1, bias=False) if condition_channels > 0 else None


def with_condition_check(conv: nn.Conv2d | None, condition: torch.Tensor | None) -> None:
    """Refuse a condition map given to a layer built without one, or missing for a layer built with one."""
    if (conv is None) != (condition is None):
        raise ConfigError("a layer built with condition_channels > 0 needs the condition map, and only it")


def with_condition(from_input: torch.Tensor, conv: nn.Conv2d | None, condition: torch.Tensor | None) -> torch.Tensor:
    """Add the conditioning bias to the input-to-state pre-activations (B, G·h, H, W)."""
    with_condition_check(conv, condition)
    return from_input if conv is None else from_input + conv(condition)  # + (B, G·h, H, W)


class InitialState(nn.Module):
    """The learned state before the first step of a recurrent layer: one vector per direction (§4 of the paper).

    ``hidden`` is (directions, h); ``memory`` (directions, h) is the LSTM's cell state (a GRU has none: its memory
    is its hidden state). Both start at zero, so a new model computes what the zero-state model computes.
    """

    def __init__(self, directions: int, hidden: int, cell: str) -> None:
        super().__init__()
        self.hidden = nn.Parameter(torch.zeros(directions, hidden))
        self.memory = nn.Parameter(torch.zeros(directions, hidden)) if cell == "lstm" else None

    def pair(self, direction: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(hidden, memory) of one direction, each (h,)."""
        hidden = self.hidden[direction]
        return hidden, hidden if self.memory is None else self.memory[direction]


def initial_state(learned: bool, directions: int, hidden: int, cell: str) -> InitialState | None:
    """An :class:`InitialState` when ``learned``, else None (zero states)."""
    return InitialState(directions, hidden, cell) if learned else None


def tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh(x) computed as 2·σ(2x) − 1 (equal in exact arithmetic), ~3× faster than ``torch.tanh`` on this CPU
    build; float32 results within 2e-7 of it. The LSTM cell uses it, so the plain and fast samplers share it."""
    return 2 * torch.sigmoid(2 * x) - 1


def cell_step(cell: str, from_input: torch.Tensor, from_state: torch.Tensor | None, hidden: torch.Tensor,
              memory: torch.Tensor, dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """One recurrent update for a whole row or diagonal of positions.

    Args:
        cell: ``"lstm"`` or ``"gru"``.
        from_input: (B, G·h, L) input-to-state pre-activations (gate-major chunks of h along ``dim``).
        from_state: (B, G·h, L) state-to-state pre-activations from the previous step's hidden state; None (LSTM
            only) when ``from_input`` already holds the sum of both.
        hidden: (B, h, L) the previous step's hidden state at the same positions (used by the GRU).
        memory: (B, h, L) the previous step's cell state at the same positions (used by the LSTM).
        dim: the gate/channel dimension (1 in both layers; the Diagonal BiLSTM's steps are (2, G·h, n, B)).

    Returns:
        (hidden, memory), each (B, h, L); the GRU returns its hidden state as the memory too.
    """
    if cell == "lstm":
        gates = from_input if from_state is None else from_input + from_state
        sigmoid_gates, g = gates.split([3 * memory.shape[dim], memory.shape[dim]], dim=dim)
        o, f, i = torch.sigmoid(sigmoid_gates).chunk(3, dim=dim)  # 3 × (B, h, L): one call for the three gates
        memory = torch.addcmul(f * memory, i, tanh(g))  # (B, h, L)
        return o * tanh(memory), memory
    x_z, x_r, x_n = from_input.chunk(3, dim=dim)  # 3 × (B, h, L)
    s_z, s_r, s_n = from_state.chunk(3, dim=dim)  # 3 × (B, h, L)
    z = torch.sigmoid(x_z + s_z)
    r = torch.sigmoid(x_r + s_r)
    n = torch.tanh(x_n + r * s_n)  # as torch.nn.GRU: the reset gate scales the state's contribution
    hidden = (1 - z) * n + z * hidden  # (B, h, L)
    return hidden, hidden


CELL_RECOMPILE_LIMIT = 64  # compiled variants of the cell step before torch.compile would fall back to eager


@functools.cache
def compiled_cell_step() -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """:func:`cell_step` through ``torch.compile`` with dynamic shapes: a handful of compilations serve every
    layer, row length and diagonal length (regional compilation: the Python loop around it stays eager, so
    compiling takes seconds, where compiling the unrolled loop of a whole recurrent network did not finish).

    Dynamic shapes still compile a variant per guard that changes: whether the incoming state needs a gradient
    (the zero initial state does not), a step of one row (sizes 0 and 1 are specialised), the strides of the
    state to the left (a view or a new tensor), sizes that happen to be equal. A Diagonal BiLSTM training in
    bfloat16 meets ~10 of them, more than dynamo's default limit of 8, after which the steps ran eager with a
    warning; so the limit is raised to :data:`CELL_RECOMPILE_LIMIT` (never lowered).
    """
    config = torch._dynamo.config
    config.recompile_limit = max(config.recompile_limit, CELL_RECOMPILE_LIMIT)
    return torch.compile(cell_step, dynamic=True)


class SteppedLayer(nn.Module):
    """A recurrent layer whose forward loops over steps in Python and calls :meth:`cell_update` once per step.

    :meth:`compile_step` switches :meth:`cell_update` to :func:`compiled_cell_step` (what ``--compile`` does to these
    layers instead of compiling the whole model).
    """

    compiled: bool = False

    def compile_step(self) -> None:
        self.compiled = True

    def cell_update(self, *args: torch.Tensor | str | None, **kwargs: int) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`cell_step`, or its compiled version after :meth:`compile_step`."""
        return (compiled_cell_step() if self.compiled else cell_step)(*args, **kwargs)
