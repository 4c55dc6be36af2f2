"""One tiny config per model family and variant, shared by the parametrised tests.

Causality, the fast-sampler equality, and the save/load contract all run over ``VARIANTS``; a family added to
the registry (``pixelrnn.models.MODELS``) without a variant here fails ``test_contract``.
"""

from __future__ import annotations

import torch

from pixelrnn.models import build_model, model_config

SMALL = {"hidden_channels": 6, "num_layers": 2, "output_channels": 8}
PIXELCNN_PP = {"hidden_channels": 6, "num_mixtures": 3, "dropout": 0.0, "num_layers": 1}

VARIANTS: list[tuple[str, dict]] = [
    ("pixelrnn", {"recurrent_layer": "row_lstm"}),
    ("pixelrnn", {"recurrent_layer": "row_lstm", "cell": "gru", "skip_connections": True, "kernel_size": 5}),
    ("pixelrnn", {"recurrent_layer": "diagonal_bilstm"}),
    ("pixelrnn", {"recurrent_layer": "diagonal_bilstm", "cell": "gru", "skip_connections": True}),
    ("multiscale_pixelrnn", {"recurrent_layer": "diagonal_bilstm"}),
    ("multiscale_pixelrnn", {"recurrent_layer": "row_lstm", "cell": "gru"}),
    ("pixelcnn", {}),
    ("pixelcnn", {"kernel_size": 5, "first_kernel_size": 3}),
    ("gated_pixelcnn", {}),
    ("gated_pixelcnn", {"num_layers": 3, "kernel_size": 5, "first_kernel_size": 3}),
    # the PixelRNN paper's options: learned initial states, skips, and Table 2's ablation
    ("pixelrnn", {"recurrent_layer": "row_lstm", "learned_initial_state": True, "skip_connections": True}),
    ("pixelrnn", {"recurrent_layer": "row_lstm", "cell": "gru", "learned_initial_state": True}),
    ("pixelrnn", {"recurrent_layer": "diagonal_bilstm", "learned_initial_state": True, "skip_connections": True}),
    ("pixelrnn", {"recurrent_layer": "diagonal_bilstm", "cell": "gru", "learned_initial_state": True,
                  "residual_connections": False}),
    ("multiscale_pixelrnn", {"recurrent_layer": "diagonal_bilstm", "learned_initial_state": True}),
    ("pixelcnn", {"skip_connections": True}),
    ("pixelcnn", {"skip_connections": True, "residual_connections": False}),
    ("pixelcnn", {"block_type": "plain", "kernel_size": 5}),  # the MNIST lab's kind of stack
    ("pixelcnn_pp", PIXELCNN_PP),
]


def variant_id(variant: tuple[str, dict]) -> str:
    """A readable pytest id: ``pixelrnn-cell=gru-skip_connections=True``."""
    name, fields = variant
    return "-".join([name, *(f"{key}={value}" for key, value in fields.items())])


def image_size(name: str) -> tuple[int, int]:
    """(H, W) of the tiny images: PixelCNN++ halves them twice, so 8×8; 6×6 for the others."""
    return (8, 8) if name == "pixelcnn_pp" else (6, 6)


def build(name: str, fields: dict, channels: int = 1, levels: int = 4, seed: int = 0,
          size: tuple[int, int] | None = None, **changes) -> torch.nn.Module:
    """The variant's tiny model for ``channels``×H×W images with ``levels`` levels (float32, seeded)."""
    torch.manual_seed(seed)
    base = {} if name == "pixelcnn_pp" else SMALL
    config = model_config(name, (channels, *(size or image_size(name))), levels, **{**base, **fields, **changes})
    return build_model(config)
