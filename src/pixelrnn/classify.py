"""``classify``: likelihood classification with a class-conditional model. The library form of ``pixelrnn classify``.

The predicted class of an image x is argmax_y [log p(x | y) + log p(y)], with p(x | y) the model's exact
likelihood and p(y) the class frequencies of the training labels (add-one smoothed, so that no class has
probability 0). Each batch costs one forward pass per class. The marginal log p(x) = logsumexp_y [log p(x | y)
+ log p(y)] comes for free and is reported too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from pixelrnn.checkpoint import load_checkpoint, model_from_checkpoint
from pixelrnn.config import DataConfig
from pixelrnn.data import check_data_fits_model, iterate_batches, load_dataset
from pixelrnn.errors import ConfigError, DataError
from pixelrnn.evaluate import check_split_and_batch_size, stored_data_config
from pixelrnn.runtime import resolve_device


@dataclass(frozen=True)
class Classification:
    """Results over one split. Counts are exact; nats are summed in float64.

    Attributes:
        confusion: int64 (K, K): row = true class, column = predicted class.
        nats_per_class: float64 (K,): Σ −log p(x | y_true) over the images of each true class.
        marginal_nats: Σ −log p(x) over all images (the class-marginalised likelihood).
        dims_per_image: C·H·W.
    """

    confusion: torch.Tensor
    nats_per_class: torch.Tensor
    marginal_nats: float
    dims_per_image: int
    data_name: str
    split: str

    @property
    def accuracy(self) -> float:
        return self.confusion.diagonal().sum().item() / max(1, self.confusion.sum().item())

    @property
    def bits_per_dim_per_class(self) -> torch.Tensor:
        """float64 (K,): bits/dim of −log p(x | y_true) over each true class's images (NaN if it has none)."""
        counts = self.confusion.sum(dim=1).double()
        return self.nats_per_class / (counts * self.dims_per_image * math.log(2))

    @property
    def marginal_bits_per_dim(self) -> float:
        return self.marginal_nats / (self.confusion.sum().item() * self.dims_per_image * math.log(2))


def class_log_prior(train_labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """float64 (K,) log p(y): add-one smoothed frequencies of the training labels."""
    counts = torch.bincount(train_labels[train_labels >= 0], minlength=num_classes).double() + 1.0
    return (counts / counts.sum()).log()


@torch.inference_mode()
def log_joint(model: torch.nn.Module, images: torch.Tensor, log_prior: torch.Tensor) -> torch.Tensor:
    """float64 (B, K): log p(x | y) + log p(y) for every class y, one forward pass per class."""
    rows = []
    for label in range(len(log_prior)):
        labels = torch.full((len(images),), label, dtype=torch.long, device=images.device)
        rows.append(model.log_prob(images, labels).double() + log_prior[label])  # (B,)
    return torch.stack(rows, dim=1)  # (B, K)


def classify(checkpoint_path: str | Path, split: str = "test", data: DataConfig | None = None,
             batch_size: int = 256, device: str = "auto") -> Classification:
    """Classify every image of a split with a class-conditional checkpoint.

    Raises:
        ConfigError: an unconditional model, a bad split or batch size.
        DataError: a data set without labels, or with other classes than the model's.
    """
    check_split_and_batch_size(split, batch_size)
    checkpoint = load_checkpoint(checkpoint_path)
    target = resolve_device(device)
    model = model_from_checkpoint(checkpoint, target)
    num_classes = model.config.num_classes
    if num_classes == 0:
        raise ConfigError("the model is unconditional (num_classes = 0): train it with --conditional to classify")
    dataset = load_dataset(data or stored_data_config(checkpoint))
    check_data_fits_model(dataset, model.config)
    images_split = getattr(dataset, split)
    if len(images_split.labels) and int(images_split.labels.min()) < 0:
        raise DataError(f"the {split} split of '{dataset.name}' has no labels to classify against")
    log_prior = class_log_prior(dataset.train.labels, num_classes).to(target)
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    nats_per_class = torch.zeros(num_classes, dtype=torch.float64)
    marginal_nats = 0.0
    for images, labels in iterate_batches(images_split, batch_size, shuffle=False):
        joint = log_joint(model, images.to(target), log_prior).cpu()  # (B, K)
        predicted = joint.argmax(dim=1)
        confusion += torch.bincount(labels * num_classes + predicted, minlength=num_classes ** 2).reshape(
            num_classes, num_classes)
        conditional = joint.gather(1, labels[:, None]).squeeze(1) - log_prior.cpu()[labels]  # log p(x | y_true)
        nats_per_class.index_add_(0, labels, -conditional)
        marginal_nats += -torch.logsumexp(joint, dim=1).sum().item()
    return Classification(confusion, nats_per_class, marginal_nats, math.prod(model.config.image_shape),
                          dataset.name, split)
