"""Causality by gradients: output (i, j, c) may depend only on the inputs before it.

The order is the model's pixel order (raster order for all but the Multi-Scale PixelRNN), then R → G → B
inside a pixel. Input sub-pixel (c', i', j') may
influence the parameters of output sub-pixel (c, i, j) only if (i', j') comes strictly before (i, j), or
(i', j') == (i, j) and c' < c. Everything at or after (i, j, c) — the sub-pixel itself included — must
have an exactly zero gradient.

One backward pass covers every output sub-pixel: the batch holds one random input per output sub-pixel n,
and the loss is the sum over n of output n of batch element n. Batch elements are independent (no batch
statistics), so the gradient on batch element n's input is ∂ output n / ∂ input.
"""

from __future__ import annotations

import copy

import torch


def input_gradients(model: torch.nn.Module, *, seed: int = 0, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Gradient of every output sub-pixel's parameters with respect to every input sub-pixel.

    Args:
        model: an ``AutoregressiveImageModel``; a float64 copy is differentiated, the model is untouched.
        seed: seed of the random float inputs (standard normal).
        labels: a single class label (int) tensor for a conditional model, or None.

    Returns:
        float64 (C_out, H, W, C, H, W): entry [c, i, j, c', i', j'] is ∂ Σ_p params(c, p, i, j) / ∂ input(c', i', j');
        C_out = C, or 1 for a head that models a pixel's channels jointly (all its parameters are "channel 0").
    """
    channels, height, width = model.config.image_shape
    out_channels = _output_channels(model)
    num_outputs = out_channels * height * width
    network = copy.deepcopy(model).double().eval()
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(num_outputs, channels, height, width, generator=generator, dtype=torch.float64)
    inputs.requires_grad_(True)
    y = None if labels is None else labels.reshape(1).expand(num_outputs)
    params = network.network(inputs, y)  # (N, C*P, H, W)
    per_subpixel = params.reshape(num_outputs, out_channels, -1, height, width).sum(dim=2)  # (N, C_out, H, W)
    index = torch.arange(num_outputs)
    selected = per_subpixel.reshape(num_outputs, num_outputs)[index, index]  # (N,): output n of element n
    (grad,) = torch.autograd.grad(selected.sum(), inputs)  # (N, C, H, W)
    return grad.reshape(out_channels, height, width, channels, height, width)


def _output_channels(model: torch.nn.Module) -> int:
    """C for per-sub-pixel heads; 1 for joint heads (PixelCNN++'s mixture): pixel (i, j) sees nothing of (i, j)."""
    return 1 if getattr(model.head, "joint_channels", False) else model.config.image_shape[0]


def allowed_inputs(channels: int, height: int, width: int,
                   order: list[tuple[int, int]] | None = None) -> torch.Tensor:
    """Bool (C, H, W, C, H, W): True where input (c', i', j') may influence output (c, i, j).

    ``order`` is the model's pixel order (``model.pixel_order()``); None means raster order.
    """
    order = order or [(row, col) for row in range(height) for col in range(width)]
    rank = torch.empty(height, width, dtype=torch.long)
    for index, (row, col) in enumerate(order):
        rank[row, col] = index
    c = torch.arange(channels).reshape(channels, 1, 1).expand(channels, height, width)
    position = rank.expand(channels, height, width).reshape(channels, height, width, 1, 1, 1)  # output's rank
    input_position = rank.expand(channels, height, width).reshape(1, 1, 1, channels, height, width)
    before = input_position < position
    same_pixel_earlier_colour = (input_position == position) & (c.reshape(1, 1, 1, channels, height, width)
                                                                < c.reshape(channels, height, width, 1, 1, 1))
    return before | same_pixel_earlier_colour


def assert_causal(model: torch.nn.Module, *, num_trials: int = 2, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Assert that no output sub-pixel depends on itself or on any later input sub-pixel.

    Args:
        model: a small ``AutoregressiveImageModel`` (e.g. 5×5 images): the batch holds C·H·W images.
        num_trials: independent random inputs to try (a leak hidden by a dead ReLU in one shows in another).
        labels: a single class label for a conditional model.

    Returns:
        Bool (C_out, H, W, C, H, W): where any trial had a non-zero gradient (the measured dependencies).

    Raises:
        AssertionError: naming the first output and input sub-pixel that violate the order.
    """
    channels, height, width = model.config.image_shape
    out_channels = _output_channels(model)  # output "channel 0" of allowed_inputs may see only earlier pixels
    forbidden = ~allowed_inputs(channels, height, width, model.pixel_order())[:out_channels]
    depends = torch.zeros(out_channels, height, width, channels, height, width, dtype=torch.bool)
    for trial in range(num_trials):
        depends |= input_gradients(model, seed=trial, labels=labels) != 0
    leaks = (depends & forbidden).nonzero()
    if len(leaks):
        c, i, j, c_in, i_in, j_in = leaks[0].tolist()
        raise AssertionError(f"{len(leaks)} forbidden dependencies, e.g. output (row {i}, col {j}, channel {c}) "
                             f"depends on input (row {i_in}, col {j_in}, channel {c_in})")
    return depends
