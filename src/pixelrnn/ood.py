"""``ood``: out-of-distribution scores from exact likelihoods. The library form of ``pixelrnn ood``.

Three scores per image x, each "higher = more out-of-distribution", in bits per dimension (D = C·H·W):

* ``nll``: −log₂ p(x) / D, the raw likelihood score. Its known failure: simple images (blank, constant,
  low-complexity ones) get a *higher* likelihood than the training data (Nalisnick et al., ICLR 2019).
* ``complexity``: (−log₂ p(x) − L(x)) / D with L(x) the bits of a lossless general-purpose compressor, here the
  image's PNG file (Serrà et al., "Input complexity and out-of-distribution detection with likelihood-based
  generative models", ICLR 2020, the S score). Simple images compress well, which cancels their high likelihood.
* ``ratio``: (−log₂ p(x) + log₂ p_B(x)) / D against a background model p_B (Ren et al., "Likelihood ratios for
  out-of-distribution detection", NeurIPS 2019), when one is given: what the main model explains beyond the
  low-level statistics that the background model captures.

Each out-of-distribution set is scored against the in-distribution set by AUROC and AUPR (the OOD images as the
positive class). Image sets are named by :func:`image_set`: the checkpoint's own data (a split), another data set
resized and converted to the model's channels and levels, or a synthetic set (``noise``, ``blank``, ``constant``,
``inverted``).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pixelrnn.checkpoint import load_checkpoint, model_from_checkpoint
from pixelrnn.classify import class_log_prior, log_joint
from pixelrnn.config import DATASETS, DataConfig
from pixelrnn.data import load_dataset
from pixelrnn.errors import ConfigError
from pixelrnn.evaluate import stored_data_config
from pixelrnn.runtime import resolve_device

SYNTHETIC = ("noise", "blank", "constant", "inverted")
SCORES = ("nll", "complexity", "ratio")


@dataclass
class OODResult:
    """Per-image scores and their separation.

    Attributes:
        scores: set name → score name → float64 (N,) bits/dim; the first set is the in-distribution one.
        metrics: one row per (out set, score): ``{"set", "score", "auroc", "aupr", "mean_in", "mean_out"}``.
    """

    in_name: str
    scores: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    metrics: list[dict[str, float | str]] = field(default_factory=list)


def image_set(spec: str, checkpoint: dict, num_images: int, seed: int = 0,
              reference: torch.Tensor | None = None) -> torch.Tensor:
    """The images a spec names, as int64 (N, C, H, W) levels of the checkpoint's model.

    Specs: ``test`` / ``valid`` / ``train`` (the checkpoint's data set); ``NAME[:SPLIT][@PATH]`` with NAME a data
    set (``mnist``, ``cifar10``, ...; PATH its folder or ``.npz``), or a ``.npz`` file / PNG folder; ``noise``
    (uniform levels), ``blank`` (level 0), ``constant`` (one random level per image), ``inverted`` (L − 1 − x of
    ``reference``, the in-distribution images). Other data sets are converted: RGB to grey by luminance (or grey
    to RGB), resized to H×W, requantised to the model's levels.
    """
    model = checkpoint["model_config"]
    shape, levels = (model["image_channels"], model["image_height"], model["image_width"]), model["num_levels"]
    generator = torch.Generator().manual_seed(seed)
    if spec == "noise":
        return torch.randint(0, levels, (num_images, *shape), generator=generator)
    if spec == "blank":
        return torch.zeros(num_images, *shape, dtype=torch.long)
    if spec == "constant":
        values = torch.randint(0, levels, (num_images, 1, 1, 1), generator=generator)
        return values.expand(num_images, *shape).clone()
    if spec == "inverted":
        if reference is None:
            raise ConfigError("'inverted' inverts the in-distribution images: give it as an out set")
        return levels - 1 - reference
    dataset, split = _dataset_of(spec, checkpoint)
    images = getattr(dataset, split).images[:num_images].long()
    if not len(images):
        raise ConfigError(f"'{spec}' holds no {split} images")
    return _convert(images, dataset.num_levels, shape, levels)


def _dataset_of(spec: str, checkpoint: dict):
    name, _, path = spec.partition("@")
    name, _, split = name.partition(":")
    split = split or "test"
    if split not in ("train", "valid", "test"):
        raise ConfigError(f"unknown split '{split}' in '{spec}' (train, valid or test)")
    if name in ("train", "valid", "test") and not path:
        return load_dataset(stored_data_config(checkpoint)), name
    if not path and (name.endswith(".npz") or Path(name).is_dir()):
        name, path = ("npz" if name.endswith(".npz") else "folder"), name
    if name not in DATASETS:
        raise ConfigError(f"unknown image set '{spec}' (a split, {', '.join(SYNTHETIC)}, NAME[:SPLIT][@PATH] with "
                          f"NAME in {', '.join(DATASETS)}, a .npz file or a PNG folder)")
    return load_dataset(DataConfig(name=name, path=path or None, download=False)), split


def _convert(images: torch.Tensor, source_levels: int, shape: tuple[int, int, int], levels: int) -> torch.Tensor:
    """int64 (N, C', H', W') levels of another data set → the model's (N, C, H, W) levels."""
    grey = images.double() / (source_levels - 1)  # [0, 1]
    if grey.shape[1] == 3 and shape[0] == 1:
        grey = (grey * torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)[:, None, None]).sum(1, keepdim=True)
    elif grey.shape[1] == 1 and shape[0] == 3:
        grey = grey.expand(-1, 3, -1, -1)
    if tuple(grey.shape[2:]) != shape[1:]:
        grey = torch.nn.functional.interpolate(grey, size=shape[1:], mode="area")
    return torch.round(grey * (levels - 1)).clamp(0, levels - 1).long()


@torch.inference_mode()
def nll_bits(model: torch.nn.Module, images: torch.Tensor, log_prior: torch.Tensor | None,
             batch_size: int = 256) -> np.ndarray:
    """float64 (N,): −log₂ p(x) of every image, in bits (a class-conditional model: the marginal over classes
    with ``log_prior``)."""
    device = next(model.parameters()).device
    bits = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].to(device)
        if log_prior is None:
            log_p = model.log_prob(batch).double()
        else:
            log_p = torch.logsumexp(log_joint(model, batch, log_prior.to(device)), dim=1)
        bits.append((-log_p / math.log(2)).cpu())
    return torch.cat(bits).numpy()


def png_bits(images: torch.Tensor, num_levels: int) -> np.ndarray:
    """float64 (N,): the size in bits of every image as a PNG file (levels scaled to 0..255, maximal
    compression): the general-purpose compressor L(x) of the complexity score."""
    sizes = []
    for image in images:
        pixels = torch.round(image.double() * 255 / (num_levels - 1)).to(torch.uint8).permute(1, 2, 0).numpy()
        buffer = io.BytesIO()
        Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(buffer, "PNG", optimize=True)
        sizes.append(8.0 * buffer.tell())
    return np.asarray(sizes, dtype=np.float64)


def auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Area under the ROC curve of "OOD if the score is high": P(an OOD image scores above an in-distribution
    one), ties counted half (the Mann–Whitney U statistic over average ranks)."""
    values, inverse, counts = np.unique(np.concatenate([in_scores, out_scores]), return_inverse=True,
                                        return_counts=True)
    average_ranks = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based rank of each distinct value, ties averaged
    out_ranks = average_ranks[inverse[len(in_scores):]].sum()
    count_in, count_out = len(in_scores), len(out_scores)
    return float((out_ranks - count_out * (count_out + 1) / 2.0) / (count_in * count_out))


def average_precision(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Area under the precision-recall curve with the OOD images as positives: Σ over the distinct score
    thresholds t, from high to low, of (recall(t) − recall(previous t)) · precision(t) (scikit-learn's definition)."""
    scores = np.concatenate([in_scores, out_scores])
    positive = np.concatenate([np.zeros(len(in_scores)), np.ones(len(out_scores))])
    order = np.argsort(-scores, kind="mergesort")
    scores, positive = scores[order], positive[order]
    last_of_each_value = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    true_positives = np.cumsum(positive)[last_of_each_value]
    precision = true_positives / (last_of_each_value + 1)
    recall_gain = np.diff(np.r_[0.0, true_positives]) / len(out_scores)
    return float((recall_gain * precision).sum())


def ood_scores(checkpoint_path: str | Path, out_specs: list[str], in_spec: str = "test",
               background: str | Path | None = None, num_images: int = 1000, seed: int = 0,
               device: str = "auto") -> OODResult:
    """Score the in-distribution set and every out set under a checkpoint's model (see the module docstring).

    Raises:
        ConfigError: an unknown set, no out set, a background model of another image shape or levels.
        DataError: a data set that cannot be read.
    """
    if not out_specs:
        raise ConfigError("give at least one out-of-distribution set (--out)")
    checkpoint = load_checkpoint(checkpoint_path)
    target = resolve_device(device)
    scorers = [(model_from_checkpoint(checkpoint, target), _log_prior(checkpoint))]
    if background is not None:
        stored = _background(background, checkpoint)
        scorers.append((model_from_checkpoint(stored, target), _log_prior(stored)))
    levels = checkpoint["model_config"]["num_levels"]
    in_images = image_set(in_spec, checkpoint, num_images, seed)
    result = OODResult(in_name=in_spec)
    result.scores[in_spec] = _scores(in_images, scorers, levels)
    for index, spec in enumerate(out_specs):
        images = image_set(spec, checkpoint, num_images, seed + 1 + index, reference=in_images)
        result.scores[spec] = _scores(images, scorers, levels)
    in_scores = result.scores[in_spec]
    for spec in out_specs:
        for score, values in result.scores[spec].items():
            result.metrics.append({"set": spec, "score": score, "auroc": auroc(in_scores[score], values),
                                   "aupr": average_precision(in_scores[score], values),
                                   "mean_in": float(in_scores[score].mean()), "mean_out": float(values.mean())})
    return result


def _scores(images: torch.Tensor, scorers: list[tuple[torch.nn.Module, torch.Tensor | None]],
            levels: int) -> dict[str, np.ndarray]:
    """The scores of one image set, bits/dim: nll, complexity, and ratio when a background model is given."""
    dims = images[0].numel()
    bits = [nll_bits(model, images, log_prior) for model, log_prior in scorers]
    scores = {"nll": bits[0] / dims, "complexity": (bits[0] - png_bits(images, levels)) / dims}
    if len(bits) > 1:
        scores["ratio"] = (bits[0] - bits[1]) / dims
    return scores


def _background(path: str | Path, checkpoint: dict) -> dict:
    stored = load_checkpoint(path)
    fields = ("image_channels", "image_height", "image_width", "num_levels")
    if any(stored["model_config"][key] != checkpoint["model_config"][key] for key in fields):
        raise ConfigError("the background model must model images of the main model's shape and levels")
    return stored


def _log_prior(checkpoint: dict) -> torch.Tensor | None:
    """log p(y) of a class-conditional model (its training labels' smoothed frequencies), None otherwise."""
    num_classes = checkpoint["model_config"]["num_classes"]
    if not num_classes:
        return None
    return class_log_prior(load_dataset(stored_data_config(checkpoint)).train.labels, num_classes)
