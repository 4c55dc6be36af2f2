"""pixelrnn: pixel-level autoregressive image models with exact likelihoods.

The public surface: configs, ``train``, ``evaluate``, ``sample``, ``load_model``, ``export_model``,
``from_pretrained``; the layers below live in
their own modules (``pixelrnn.models``, ``pixelrnn.data``, ``pixelrnn.sampling.plain``, ...).
"""

from pixelrnn._version import __version__
from pixelrnn.checkpoint import load_model  # noqa: E402
from pixelrnn.config import DataConfig, ModelConfig, TrainConfig  # noqa: E402
from pixelrnn.errors import PixelRNNError  # noqa: E402
from pixelrnn.evaluate import evaluate  # noqa: E402
from pixelrnn.export import export_model, from_pretrained  # noqa: E402
from pixelrnn.sample import sample  # noqa: E402
from pixelrnn.train import train  # noqa: E402

__all__ = ["DataConfig", "ModelConfig", "PixelRNNError", "TrainConfig", "__version__", "evaluate",
           "export_model", "from_pretrained", "load_model", "sample", "train"]
