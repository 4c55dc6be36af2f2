"""Tiny trained run folders for the page's tests: a PixelCNN on a few of the embedded 8×8 digits, one epoch."""

from __future__ import annotations

from pathlib import Path

from pixelrnn.config import DataConfig, TrainConfig
from pixelrnn.train import train


def tiny_digits_run(folder: Path, conditional: bool = False) -> Path:
    """Train a 1-layer, 4-channel PixelCNN (class-conditional if asked) into ``folder``; returns ``folder``."""
    data = DataConfig(name="digits", max_train_images=48, max_test_images=16)
    train(folder, data=data, model="pixelcnn-small", model_overrides={"hidden_channels": 4, "num_layers": 1},
          config=TrainConfig(epochs=1, batch_size=16, sample_every=0, device="cpu"), conditional=conditional)
    return folder
