"""Models: the contract (:mod:`~pixelrnn.models.base`), one module per family, the registry and the presets.

The names users import are re-exported here.
"""

from pixelrnn.models.base import AutoregressiveImageModel
from pixelrnn.models.gated_pixelcnn import GatedPixelCNN
from pixelrnn.models.multiscale import MultiScalePixelRNN
from pixelrnn.models.pixelcnn import PixelCNN
from pixelrnn.models.pixelcnn_pp import PixelCNNPlusPlus
from pixelrnn.models.pixelrnn import PixelRNN
from pixelrnn.models.presets import PRESET_TRAINING, PRESETS
from pixelrnn.models.registry import (
    DATA_FIELDS,
    MODELS,
    PIXELRNN_PAPER_PRESETS,
    build_model,
    count_parameters,
    field_users,
    model_config,
    register_family,
    training_defaults,
)

__all__ = ["DATA_FIELDS", "MODELS", "PIXELRNN_PAPER_PRESETS", "PRESETS", "PRESET_TRAINING",
           "AutoregressiveImageModel", "GatedPixelCNN", "MultiScalePixelRNN", "PixelCNN", "PixelCNNPlusPlus",
           "PixelRNN", "build_model", "count_parameters", "field_users", "model_config", "register_family",
           "training_defaults"]
