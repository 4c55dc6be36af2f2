"""Class conditioning: how a label y enters every layer of a model (p(x | y) instead of p(x)).

The label is the same for every pixel of an image, so whatever it adds or multiplies is constant over the
image and cannot break causality. Three fusion strategies (``ModelConfig.conditioning``):

- ``embedding`` (default): a learned embedding e_y (d = 2h) and, per layer l, a linear map W_l e_y added as a
  bias to the layer's feature maps.
- ``onehot``: per layer, V_l · onehot(y) added as a bias — the conditioning of *Conditional Image Generation with
  PixelCNN Decoders* (van den Oord et al., 2016), a separate learned bias per class and layer.
- ``film``: per layer a scale and a shift from e_y, features · (1 + γ_l(y)) + β_l(y) (FiLM, Perez et al., 2018);
  γ starts at zero, so an untrained FiLM model starts like the embedding one.
"""

from __future__ import annotations

import torch
from torch import nn

from pixelrnn.config import CONDITIONINGS
from pixelrnn.errors import ConfigError


class ClassConditioning(nn.Module):
    """Per-layer class information for a model with ``len(layer_channels)`` conditioned layers.

    Args:
        num_classes: K, labels are in [0, K − 1].
        layer_channels: the number of feature maps of each conditioned layer, in order.
        kind: one of ``CONDITIONINGS``.
        embedding_dim: d of the learned embedding (``embedding`` and ``film``).

    Use ``codes = conditioning(y)`` once per forward pass, then ``conditioning.apply(features, l, codes)`` at
    layer l: (B, C_l, H, W) → (B, C_l, H, W).
    """

    def __init__(self, num_classes: int, layer_channels: list[int], kind: str = "embedding",
                 embedding_dim: int = 32) -> None:
        super().__init__()
        if kind not in CONDITIONINGS:
            raise ConfigError(f"unknown conditioning '{kind}' (choose from: {', '.join(CONDITIONINGS)})")
        self.kind, self.num_classes = kind, num_classes
        self.embedding = nn.Embedding(num_classes, embedding_dim) if kind != "onehot" else None
        source = num_classes if kind == "onehot" else embedding_dim
        factor = 2 if kind == "film" else 1
        self.projections = nn.ModuleList([nn.Linear(source, factor * channels, bias=kind != "onehot")
                                          for channels in layer_channels])
        if kind == "film":
            for projection in self.projections:  # γ = 0, β = 0 at the start
                nn.init.zeros_(projection.weight)
                nn.init.zeros_(projection.bias)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """int64 (B,) labels → float (B, d) codes (one-hot rows for ``onehot``)."""
        if self.embedding is None:
            return nn.functional.one_hot(y, self.num_classes).to(self.projections[0].weight.dtype)  # (B, K)
        return self.embedding(y)  # (B, d)

    def apply(self, features: torch.Tensor, layer: int, codes: torch.Tensor) -> torch.Tensor:
        """Condition layer ``layer``'s maps (B, C_l, H, W) on the codes of their images (B, d)."""
        projected = self.projections[layer](codes).to(features.dtype)[:, :, None, None]  # (B, factor·C_l, 1, 1)
        if self.kind != "film":
            return features + projected
        scale, shift = projected.chunk(2, dim=1)  # 2 × (B, C_l, 1, 1)
        return features * (1 + scale) + shift
