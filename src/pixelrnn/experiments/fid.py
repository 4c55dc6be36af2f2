"""``fid``: Fréchet distance between a checkpoint's samples and a reference split. The library form of ``pixelrnn fid``.

FID (Heusel et al., NeurIPS 2017) fits a Gaussian to the features of each image set and reports
‖μ_r − μ_s‖² + Tr(Σ_r + Σ_s − 2 (Σ_r Σ_s)^½), in squared feature units; 0 for identical statistics, lower is
better. The statistic is torchmetrics' ``FrechetInceptionDistance`` with our own feature network:

- ``inception``: the FID Inception-v3 (:mod:`pixelrnn.experiments.inception`, 2048 features) with pytorch-fid's weights,
  which the user downloads and names (nothing is downloaded here). The standard number for colour photographs.
- ``classifier``: a small CNN trained on the data set's own training split
  (:mod:`pixelrnn.experiments.feature_classifier`, 128 features), for data Inception does not fit (8×8 digits,
  MNIST, binary images). Its values are comparable only between runs that use the same classifier file.

Every feature network takes float images (B, C, H, W) in [0, 1]: integer levels are divided by L − 1.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from pixelrnn import pretrained
from pixelrnn.checkpoint import load_checkpoint, model_from_checkpoint
from pixelrnn.config import DataConfig
from pixelrnn.data import ImageDataset, check_data_fits_model, load_dataset
from pixelrnn.errors import ConfigError, DataError, PixelRNNError
from pixelrnn.evaluate import check_split_and_batch_size, stored_data_config
from pixelrnn.experiments.feature_classifier import TrainedClassifier, classifier_for, to_unit_range
from pixelrnn.experiments.inception import load_fid_inception
from pixelrnn.run_folder import checkpoint_folder
from pixelrnn.runtime import evaluation_mode, resolve_device
from pixelrnn.sampling import draw

FEATURE_NETWORKS = ("inception", "classifier")
INSTALL_HINT = "pip install 'pixelrnn[fid]'"


@dataclass(frozen=True)
class FIDResult:
    """One FID measurement and what it compared.

    Attributes:
        value: the Fréchet distance, in squared feature units (≥ 0 up to rounding; lower is better).
        feature_network: ``inception`` or ``classifier``.
        features: the feature network in words, e.g. ``classifier trained on digits``.
        num_samples: N, the model's images.
        data_name, split, num_reference: the reference images: data set, split and how many.
        classifier_accuracy: the classifier's test accuracy on its task (None for Inception).
        classifier_path: where the classifier is stored (None for Inception).
    """

    value: float
    feature_network: str
    features: str
    num_samples: int
    data_name: str
    split: str
    num_reference: int
    classifier_accuracy: float | None = None
    classifier_path: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def frechet_distance(real_images: torch.Tensor, fake_images: torch.Tensor, feature_module: nn.Module,
                     batch_size: int = 256) -> float:
    """FID between two image sets under ``feature_module`` (torchmetrics' statistic, float64 accumulators).

    Args:
        real_images, fake_images: float (N, C, H, W) in [0, 1], at least 2 images each (any device).
        feature_module: maps float (B, C, H, W) in [0, 1] to (B, d) features, run in eval mode on its own
            device; its ``num_features`` = d, when it has one, spares torchmetrics a probe with a random image.
        batch_size: images per forward pass of the feature module.

    Returns:
        The Fréchet distance between the two Gaussians fitted to the features, in squared feature units.
    """
    for name, images in (("reference", real_images), ("sampled", fake_images)):
        if images.dim() != 4 or len(images) < 2:
            raise ConfigError(f"FID needs at least 2 {name} images (N, C, H, W), got {tuple(images.shape)}")
    FrechetInceptionDistance = _import_fid_metric()  # noqa: N806 -- a class, imported late
    parameter = next(feature_module.parameters(), None)
    device = parameter.device if parameter is not None else real_images.device
    with evaluation_mode(feature_module):
        metric = FrechetInceptionDistance(feature=feature_module, normalize=True,
                                          input_img_size=tuple(real_images.shape[1:])).to(device)
        for real, images in ((True, real_images), (False, fake_images)):
            for start in range(0, len(images), batch_size):
                metric.update(images[start:start + batch_size].to(device, torch.float32), real=real)
        return float(metric.compute())


def _import_fid_metric() -> type:
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance
    except ImportError as error:
        raise PixelRNNError(f"FID needs torchmetrics: {INSTALL_HINT}") from error
    return FrechetInceptionDistance


def fid(checkpoint_path: str | Path, data: DataConfig | None = None, num_samples: int = 1000,
        features: str | None = None, feature_weights: str | Path | None = None, split: str = "test",
        batch_size: int = 100, seed: int = 0, device: str = "auto", progress: bool = False) -> FIDResult:
    """FID between ``num_samples`` images drawn from a checkpoint's model and every image of a split.

    Everything that can fail fast (data set, feature network, weights) is checked before the sampling starts.

    Args:
        checkpoint_path: a ``.pt`` checkpoint, or a run folder (its ``last.pt``).
        data: the reference data set (default: the one stored in the checkpoint); it must have the model's image
            shape and levels.
        num_samples: N, images to draw (≥ 2); FID is biased upwards at small N, so compare equal N only.
        features: ``inception`` or ``classifier`` (default: inception for 3-channel 256-level images, else
            classifier).
        feature_weights: inception: pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (required).
            classifier: a classifier file, trained and saved there when missing (default:
            ``fid-classifier-<data set>.pt`` next to the checkpoint, reused when it fits).
        split: the reference split, ``test``, ``valid`` or ``train``.
        batch_size: images per sampling batch and per feature pass.
        seed: seed of the sampler (the labels of a class-conditional model cycle 0, 1, 2, …).
        device: ``auto``, ``cpu`` or ``cuda[:N]``.
        progress: show the samplers' progress bars.
    """
    check_split_and_batch_size(split, batch_size)
    if features is not None and features not in FEATURE_NETWORKS:
        raise ConfigError(f"unknown feature network '{features}' (choose from: {', '.join(FEATURE_NETWORKS)})")
    if num_samples < 2:
        raise ConfigError(f"FID needs at least 2 samples, got {num_samples}")
    _import_fid_metric()
    checkpoint = load_checkpoint(checkpoint_path)
    torch_device = resolve_device(device)
    model = model_from_checkpoint(checkpoint, torch_device)
    dataset = load_dataset(data or stored_data_config(checkpoint))
    check_data_fits_model(dataset, model.config)
    reference = getattr(dataset, split).images  # uint8 (N_ref, C, H, W)
    if len(reference) < 2:
        raise DataError(f"the {split} split of '{dataset.name}' has {len(reference)} image: FID needs at least 2")
    features = features or default_features(dataset)
    network, description, classifier = _feature_network(features, feature_weights, dataset, checkpoint_path,
                                                         torch_device)
    samples = draw_samples(model, num_samples, batch_size, seed, progress)  # int64 (N, C, H, W)
    value = frechet_distance(to_unit_range(reference, dataset.num_levels),
                             to_unit_range(samples, dataset.num_levels), network, batch_size)
    return FIDResult(value=value, feature_network=features, features=description, num_samples=num_samples,
                     data_name=dataset.name, split=split, num_reference=len(reference),
                     classifier_accuracy=classifier.test_accuracy if classifier else None,
                     classifier_path=str(classifier.path) if classifier else None)


def default_features(dataset: ImageDataset) -> str:
    """``inception`` for 3-channel images with 256 levels (colour photographs), else ``classifier``."""
    channels = dataset.image_shape[0]
    return "inception" if channels == 3 and dataset.num_levels == 256 else "classifier"


def classifier_cache_path(checkpoint_path: str | Path, data_name: str) -> Path:
    """``fid-classifier-<data set>.pt`` in the checkpoint's folder (the run folder itself when given one); for a
    pretrained model, whose folder lies inside the installed package, in ``~/.cache/pixelrnn/NAME/`` instead."""
    folder = checkpoint_folder(checkpoint_path)
    if folder.resolve().is_relative_to(pretrained.MODELS_DIR.resolve()):
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        folder = cache / "pixelrnn" / folder.name
    return folder / f"fid-classifier-{data_name}.pt"


def _feature_network(features: str, weights: str | Path | None, dataset: ImageDataset, checkpoint_path: str | Path,
                     device: torch.device) -> tuple[nn.Module, str, TrainedClassifier | None]:
    """(the feature network on ``device``, its name in words, the classifier record or None) for ``features``."""
    if features == "inception":
        channels = dataset.image_shape[0]
        if channels not in (1, 3):
            raise DataError(f"Inception features need 1 or 3 channels; data set '{dataset.name}' has {channels} "
                            "(use the classifier features)")
        return load_fid_inception(weights).to(device), "Inception-v3 (pytorch-fid weights)", None
    path = Path(weights) if weights is not None else classifier_cache_path(checkpoint_path, dataset.name)
    classifier = classifier_for(dataset, path, device, retrain_if_unfit=weights is None)
    return classifier.network, f"classifier trained on {classifier.data_name}", classifier


@torch.no_grad()
def draw_samples(model: nn.Module, num_images: int, batch_size: int, seed: int,
                 progress: bool = False) -> torch.Tensor:
    """``num_images`` images from ``model`` in batches, from one generator seeded with ``seed``.

    Uses the fast incremental sampler where the model has one. A class-conditional model gets labels
    0, 1, 2, … cycling over its classes.

    Returns:
        int64 (num_images, C, H, W) on the CPU, levels in [0, L − 1].
    """
    return draw(model, num_images, seed=seed, batch_size=batch_size, progress=progress).cpu()  # (N, C, H, W)
