"""A small CNN whose penultimate activations serve as FID features where Inception-v3 does not fit.

Inception-v3 was trained on 299×299 colour photographs; on 8×8 digits or binary MNIST its features say little.
For such data :func:`classifier_for` trains (or reloads) this network on the data set's own training split, on
its class labels, or, for unlabeled data, on a self-supervised task: which of four orientation transforms
(identity, flip up-down, flip left-right, rotate 180°) was applied; every image shape keeps its shape under these.
Its ``num_features``-d activations before the last linear layer are the features; the test accuracy on the same
task says how much the features see.

A saved classifier is one ``torch.save`` dict (``kind``, ``config``, ``state_dict``, ``data_name``,
``test_accuracy``), plain values and tensors only, read back with ``weights_only=True``.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from pixelrnn.checkpoint import load_weights, save_checkpoint
from pixelrnn.data import ImageDataset, ImageSplit
from pixelrnn.errors import CheckpointError, DataError, describe_shape, first_line
from pixelrnn.io import load_weights_only

logger = logging.getLogger(__name__)

KIND = "pixelrnn-fid-classifier"
TASKS = ("labels", "orientation")
NUM_ORIENTATIONS = 4
PROGRESS_SECONDS = 10.0  # at most one progress line this often while the classifier trains


@dataclass(frozen=True)
class ClassifierConfig:
    """What the feature classifier is built for; enough to rebuild it.

    Attributes:
        image_channels, image_height, image_width: the C×H×W of its images.
        num_levels: grey levels L of its integer images; inputs are the levels divided by L − 1.
        task: ``labels`` (the data set's classes) or ``orientation`` (four flips, for unlabeled data).
        num_classes: outputs of the last layer (the data set's classes, or 4 orientations).
        width: channels of the first convolutions (the second stage has twice as many).
        num_features: length of the feature vector (the penultimate layer).
    """

    image_channels: int
    image_height: int
    image_width: int
    num_levels: int
    task: str
    num_classes: int
    width: int = 32
    num_features: int = 128

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.image_channels, self.image_height, self.image_width


@dataclass(frozen=True)
class TrainedClassifier:
    """A feature classifier and what it was trained on."""

    network: FeatureClassifier
    data_name: str
    test_accuracy: float
    path: Path
    trained_now: bool


class FeatureClassifier(nn.Module):
    """3×3 conv stages with 2×2 max pools → 4×4 average pool → linear features → linear class logits.

    ``forward`` gives the features; ``logits`` the class scores. Works for any C×H×W (odd sizes round up in the
    pools; maps smaller than 4×4 are spread over the 4×4 grid by the adaptive pool).
    """

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.num_features = config.num_features
        width = config.width
        self.body = nn.Sequential(
            nn.Conv2d(config.image_channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),  # (B, 2·width·16)
            nn.Linear(2 * width * 16, config.num_features), nn.ReLU(),
        )
        self.head = nn.Linear(config.num_features, config.num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features of float images (B, C, H, W) in [0, 1] → (B, num_features), non-negative."""
        return self.body(2 * images - 1)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Class scores (B, num_classes) of float images (B, C, H, W) in [0, 1]."""
        return self.head(self(images))


def to_unit_range(images: torch.Tensor, num_levels: int) -> torch.Tensor:
    """Integer images with levels in [0, L − 1] → float32 in [0, 1], same shape."""
    return images.float() / (num_levels - 1)


def orient(images: torch.Tensor, orientations: torch.Tensor) -> torch.Tensor:
    """Image b transformed by orientation k_b: 0 as is, 1 flipped up-down, 2 left-right, 3 both (rotated 180°).

    Args:
        images: (B, C, H, W); orientations: int64 (B,) in [0, 3].
    """
    variants = torch.stack([images, images.flip(-2), images.flip(-1), images.flip(-2, -1)])  # (4, B, C, H, W)
    return variants[orientations, torch.arange(len(images), device=images.device)]  # (B, C, H, W)


def _task_batch(split: ImageSplit, indices: torch.Tensor, config: ClassifierConfig, device: torch.device,
                generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(float images (B, C, H, W) in [0, 1], int64 targets (B,)) of the classifier's task.

    Orientations are drawn from ``generator``, or cycle 0, 1, 2, 3 when it is None (a fixed test set).
    """
    images = to_unit_range(split.images[indices], config.num_levels).to(device)
    if config.task == "labels":
        return images, split.labels[indices].to(device)
    if generator is None:
        targets = indices % NUM_ORIENTATIONS
    else:
        targets = torch.randint(NUM_ORIENTATIONS, (len(indices),), generator=generator)
    targets = targets.to(device)
    return orient(images, targets), targets


def classifier_config(dataset: ImageDataset) -> ClassifierConfig:
    """The classifier for ``dataset``: on its labels when every training image has one, else on orientations."""
    labeled = dataset.num_classes > 0 and bool((dataset.train.labels >= 0).all())
    channels, height, width = dataset.image_shape
    return ClassifierConfig(image_channels=channels, image_height=height, image_width=width,
                            num_levels=dataset.num_levels, task="labels" if labeled else "orientation",
                            num_classes=dataset.num_classes if labeled else NUM_ORIENTATIONS)


def train_classifier(dataset: ImageDataset, device: torch.device, epochs: int = 3, min_steps: int = 200,
                     batch_size: int = 128, lr: float = 2e-3, seed: int = 0) -> tuple[FeatureClassifier, float]:
    """Train a feature classifier on ``dataset.train`` with Adam; ``max(epochs, enough for min_steps)`` epochs.

    Progress: a bar over the steps on a terminal, and a log line (the epoch's mean cross-entropy in nats, the time)
    after the last epoch and after any epoch ending :data:`PROGRESS_SECONDS` or more after the previous line.

    Returns:
        (the network in eval mode, its accuracy on ``dataset.test`` in [0, 1]).
    """
    config = classifier_config(dataset)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = FeatureClassifier(config).to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    num_images = len(dataset.train)
    batches_per_epoch = math.ceil(num_images / batch_size)
    num_epochs = max(epochs, math.ceil(min_steps / batches_per_epoch))
    started = last_line = time.perf_counter()
    bar = tqdm(total=num_epochs * batches_per_epoch, desc="FID feature classifier", leave=False,
               disable=not sys.stderr.isatty())
    with bar:
        for epoch in range(num_epochs):
            order, total_loss = torch.randperm(num_images, generator=generator), 0.0
            for start in range(0, num_images, batch_size):
                images, targets = _task_batch(dataset.train, order[start:start + batch_size], config, device,
                                              generator)
                loss = F.cross_entropy(network.logits(images), targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total_loss += loss.item()
                bar.update(1)
            if epoch + 1 == num_epochs or time.perf_counter() - last_line >= PROGRESS_SECONDS:
                last_line = time.perf_counter()
                logger.info("FID feature classifier: epoch %d/%d, loss %.4f nats, %.1f s", epoch + 1, num_epochs,
                            total_loss / batches_per_epoch, last_line - started)
    network.eval()
    return network, accuracy(network, dataset.test, batch_size)


@torch.no_grad()
def accuracy(network: FeatureClassifier, split: ImageSplit, batch_size: int = 256) -> float:
    """Share of ``split`` whose task target the network predicts (orientations cycling 0–3 for unlabeled data)."""
    device = next(network.parameters()).device
    correct = 0
    for start in range(0, len(split), batch_size):
        indices = torch.arange(start, min(start + batch_size, len(split)))
        images, targets = _task_batch(split, indices, network.config, device, generator=None)
        correct += int((network.logits(images).argmax(dim=1) == targets).sum())
    return correct / max(len(split), 1)


def save_classifier(network: FeatureClassifier, data_name: str, test_accuracy: float, path: str | Path) -> Path:
    """Write the classifier atomically: its config, weights, data set name and test accuracy."""
    record = {"kind": KIND, "config": asdict(network.config), "state_dict": network.state_dict(),
              "data_name": data_name, "test_accuracy": float(test_accuracy)}
    return save_checkpoint(record, path)


def load_classifier(path: str | Path, device: torch.device) -> tuple[FeatureClassifier, str, float]:
    """(network in eval mode, data set name, test accuracy) of a saved classifier; CheckpointError if unreadable."""
    record = load_weights_only(path, "FID feature classifier")
    try:
        if not isinstance(record, dict) or record.get("kind") != KIND:
            raise ValueError("not a pixelrnn FID feature classifier")
        network = FeatureClassifier(ClassifierConfig(**record["config"]))
        state = record["state_dict"]
    except (ValueError, KeyError, TypeError, RuntimeError) as error:  # a record of another shape
        raise CheckpointError(f"{path} is not a readable FID feature classifier ({first_line(error)})") from error
    load_weights(network, state, f"the weights of the FID feature classifier {path}")
    return network.to(device).eval(), str(record["data_name"]), float(record["test_accuracy"])


def classifier_for(dataset: ImageDataset, path: str | Path, device: torch.device,
                   retrain_if_unfit: bool = False) -> TrainedClassifier:
    """The feature classifier stored at ``path``, or one trained on ``dataset`` now and saved there.

    Args:
        retrain_if_unfit: a stored classifier made for other image shapes or levels is replaced (a cache);
            otherwise that is a DataError.
    """
    path = Path(path)
    if path.is_file():
        network, data_name, test_accuracy = load_classifier(path, device)
        config = network.config
        if config.image_shape == dataset.image_shape and config.num_levels == dataset.num_levels:
            return TrainedClassifier(network, data_name, test_accuracy, path, trained_now=False)
        if not retrain_if_unfit:
            raise DataError(f"the feature classifier {path} was trained on {describe_shape(config.image_shape)} images "
                            f"with {config.num_levels} levels; data set '{dataset.name}' has "
                            f"{describe_shape(dataset.image_shape)} images with {dataset.num_levels} levels")
    started = time.perf_counter()
    logger.info("training the FID feature classifier on %s (%s task, %d training images; once: it is saved to %s "
                "and reused)", dataset.name, classifier_config(dataset).task, len(dataset.train), path)
    network, test_accuracy = train_classifier(dataset, device)
    save_classifier(network, dataset.name, test_accuracy, path)
    logger.info("trained the FID feature classifier on %s (%s task) in %.1f s: test accuracy %.4f; saved to %s",
                dataset.name, network.config.task, time.perf_counter() - started, test_accuracy, path)
    return TrainedClassifier(network, dataset.name, test_accuracy, path, trained_now=True)

