"""Weight normalisation with data-dependent initialisation, as the PixelCNN++ reference trains its network.

Reference: T. Salimans, D. P. Kingma, *Weight Normalization: A Simple Reparameterization to Accelerate Training of
Deep Neural Networks*, NeurIPS 2016, §2 (w = g · v / ‖v‖) and §2.2 (data-dependent initialisation); the PixelCNN++
code, openai/pixel-cnn ``pixel_cnn_pp/nn.py`` (``conv2d``, ``deconv2d`` and ``dense`` with ``init=True``), applies
both to every convolution, transposed convolution and 1×1 "nin" layer, with ``init_scale`` 1.0 except 0.1 for the
second convolution of each gated ResNet block.

Each output channel o of a layer gets its own scale: w[o] = g[o] · v[o] / ‖v[o]‖, the norm taken over everything
else (input channels and kernel taps). The layer's ``weight`` attribute stays the effective weight w (a
:mod:`torch.nn.utils.parametrizations` parametrisation), so code that reads ``conv.weight`` — the incremental
samplers — needs no change; a checkpoint stores g and v instead of w.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn.utils import parametrizations, parametrize

EPSILON = 1e-8  # added to the variance, as the reference's conv2d / deconv2d (its dense layer adds 1e-10)
DIRECTION_STD = 0.05  # the reference draws v from N(0, 0.05²) in its init pass


def weight_normalise(layer: nn.Conv2d | nn.ConvTranspose2d) -> None:
    """Reparametrise ``layer.weight`` as g · v / ‖v‖ per output channel, in place; the function is unchanged.

    A Conv2d weight is (out, in, kh, kw): g is (out, 1, 1, 1); a ConvTranspose2d weight is (in, out, kh, kw):
    g is (1, out, 1, 1). At first g = ‖w‖ and v = w, so the layer computes what it computed before.
    """
    parametrizations.weight_norm(layer, "weight", dim=1 if isinstance(layer, nn.ConvTranspose2d) else 0)


def is_weight_normalised(layer: nn.Module) -> bool:
    """True when ``layer.weight`` is parametrised by :func:`weight_normalise`."""
    return parametrize.is_parametrized(layer, "weight")


@torch.no_grad()
def initialize_from_data(layers: Sequence[tuple[nn.Module, float]], forward: Callable[[], object],
                         generator: torch.Generator | None = None) -> None:
    """Data-dependent initialisation of weight-normalised layers, all in one forward pass over an init batch.

    Before the pass every layer gets v drawn anew from N(0, 0.05²) (from ``generator``), g = 1 and bias 0, so it
    computes t = conv(x, v / ‖v‖). The reference draws v so, and the scale matters to training: Adam moves each
    entry of v by about the learning rate whatever ‖v‖ is, so ‖v‖ sets how fast the direction turns. As soon as
    a layer has run, a forward hook takes the mean μ and standard deviation σ of t per output channel over the
    batch and all positions (B, H, W), sets g = s / σ and b = −μ · s / σ (s: the layer's init scale), and hands
    on the output that these weights give, (t − μ) · s / σ. Each later layer is so initialised on the
    activations it will really receive, as in the reference's init pass: on the init batch, every layer's
    pre-activations have mean 0 and standard deviation s per channel.

    Args:
        layers: (weight-normalised layer with a bias, init scale s) pairs.
        forward: runs the network once on the init batch (its result is ignored).
        generator: the source of v, on the layers' device (None: the global generator).

    Raises:
        RuntimeError: a layer that is not weight-normalised or that the pass did not run (bugs, not user input).
    """
    hooks, pending = [], {id(layer) for layer, _ in layers}
    for layer, scale in layers:
        if not is_weight_normalised(layer) or layer.bias is None:
            raise RuntimeError(f"{type(layer).__name__} is not a weight-normalised layer with a bias")
        layer.parametrizations.weight.original1.normal_(0.0, DIRECTION_STD, generator=generator)
        layer.parametrizations.weight.original0.fill_(1.0)  # g = 1: the weight is v / ‖v‖
        layer.bias.zero_()
        hooks.append(layer.register_forward_hook(_standardising_hook(scale, pending)))
    try:
        forward()
    finally:
        for hook in hooks:
            hook.remove()
    if pending:
        raise RuntimeError(f"{len(pending)} weight-normalised layers were not run by the init pass")


def _standardising_hook(scale: float, pending: set[int]) -> Callable[..., torch.Tensor]:
    def hook(layer: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        pending.discard(id(layer))
        mean = output.mean(dim=(0, 2, 3))  # (out,)
        variance = output.var(dim=(0, 2, 3), correction=0)  # (out,), the population variance as the reference
        factor = scale / torch.sqrt(variance + EPSILON)  # (out,)
        gain = layer.parametrizations.weight.original0
        gain.copy_(factor.reshape(gain.shape))
        layer.bias.copy_(-mean * factor)
        return (output - mean[:, None, None]) * factor[:, None, None]  # (B, out, H, W)

    return hook
