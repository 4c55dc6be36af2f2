"""Integer image data sets held in memory: the named data sets, their splits, and whether they fit a model.

``load_dataset(DataConfig)`` returns an :class:`ImageDataset` of three :class:`~pixelrnn.data.batching.ImageSplit`
(train / valid / test), each a uint8 tensor (N, C, H, W) of grey levels in ``[0, num_levels - 1]`` with int64
labels (N,) (-1 where the data set has none). The readers of each format are in :mod:`pixelrnn.data.formats`, the
batches in :mod:`pixelrnn.data.batching`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pixelrnn.config import DataConfig, ModelConfig
from pixelrnn.data import download, formats, npz
from pixelrnn.data.batching import ImageSplit, mix_seed
from pixelrnn.data.formats import Arrays
from pixelrnn.errors import DataError, describe_shape

__all__ = ["SPLITS", "ImageDataset", "check_data_fits_model", "load_dataset"]

logger = logging.getLogger("pixelrnn")

CACHE_ROOT = Path("~/.cache/pixelrnn")  # default home of downloaded data sets (one sub-folder each)
DIGITS_TEST_IMAGES = 297
FOLDER_TEST_FRACTION = 0.1
_FIXED_SPLIT_SEED = 20_160_125  # test splits that no config may change (PixelRNN's arXiv date)
_BINARIZE_CHUNK = 10_000  # images binarized per generator: bounded memory, independent of any cut
_BINARIZE_STREAM = 2
_FIRST_EPOCH_STREAM = 2  # dynamic binarization: epoch e draws from stream 2 + e (0: train once, 1: test)
SPLITS = ("train", "valid", "test")


@dataclass
class ImageDataset:
    """A data set of integer images with its train / valid / test splits.

    Attributes:
        name: the data set's name (``DataConfig.name``).
        train, valid, test: the splits (``valid`` may be empty when ``valid_fraction`` is 0).
        num_levels: grey levels per sub-pixel: 256; 2 for binary images; 17 for the 8×8 digits.
        num_classes: number of classes (0 when unlabeled).
        train_grey: dynamic binarization only: the grey uint8 (N, C, H, W) training images that
            :meth:`training_split` binarizes anew every epoch; ``train`` then holds one draw of them.
        binarize_seed: the seed of those draws.
        test_total: the test images the data set has before ``max_test_images`` cut them (see
            :meth:`partial_test_note`).
    """

    name: str
    train: ImageSplit
    valid: ImageSplit
    test: ImageSplit
    num_levels: int
    num_classes: int
    train_grey: torch.Tensor | None = None
    binarize_seed: int = 0
    test_total: int | None = None

    def partial_test_note(self, num_images: int) -> str:
        """A warning for a test NLL measured over ``num_images`` images when the data set has more (``""`` when
        it covers them all): such a number is not the one papers report over the whole test set."""
        total = self.test_total or len(self.test)
        if num_images >= total:
            return ""
        return (f"pixelrnn: warning: this test NLL covers the first {num_images:,} of the {total:,} test images of "
                f"'{self.name}' (--max-test-images): it is not comparable with a full test set's")

    def training_split(self, epoch: int) -> ImageSplit:
        """The training images of ``epoch``: ``train``, or, with dynamic binarization (``train_grey`` set), the
        grey training images drawn anew as Bernoulli(grey / 255) for this epoch (fixed by the seed and the epoch,
        so a resumed run sees the same pixels)."""
        if self.train_grey is None:
            return self.train
        images = _binarize(self.train_grey.numpy(), self.binarize_seed, stream=_FIRST_EPOCH_STREAM + epoch)
        return ImageSplit(torch.from_numpy(images), self.train.labels)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        channels, height, width = (int(size) for size in self.train.images.shape[1:])
        return channels, height, width


def load_dataset(config: DataConfig) -> ImageDataset:
    """Load the data set ``config`` names (validating ``config`` first), downloading it if allowed and missing.

    Raises:
        ConfigError: an invalid ``config``.
        DataError: missing, corrupt or inconsistent files (one line, naming the file and where it belongs).
    """
    config.validate()
    return _LOADERS[config.name](config)


# ---------------------------------------------------------------------------------------- the data sets
def _load_digits(config: DataConfig) -> ImageDataset:
    train, test = _hold_out(formats.read_digits(), DIGITS_TEST_IMAGES, _FIXED_SPLIT_SEED)
    return _assemble("digits", config, train, test, num_levels=17, num_classes=10)


def _load_mnist(config: DataConfig) -> ImageDataset:
    train, test = _read_mnist(config)
    return _assemble("mnist", config, train, test, num_levels=256, num_classes=10)


def _load_binarized_mnist(config: DataConfig) -> ImageDataset:
    """The fixed Larochelle split (``fixed``), or MNIST binarized from its grey levels (``once``, ``dynamic``)."""
    if config.binarize != "fixed":
        (train_images, train_labels), (test_images, test_labels) = _read_mnist(config)
        train = (_binarize(train_images, config.seed, stream=0), train_labels)
        test = (_binarize(test_images, config.seed, stream=1), test_labels)
        dataset = _assemble("binarized_mnist", config, train, test, num_levels=2, num_classes=10)
        if config.binarize == "dynamic":  # the same hold-out and cuts, on the grey images: redrawn every epoch
            grey = _assemble("mnist", config, (train_images, train_labels), test, num_levels=256, num_classes=10)
            dataset.train_grey, dataset.binarize_seed = grey.train.images, config.seed
        return dataset
    splits = _npz_of(config, "binarized_mnist", (1, 28, 28))
    if splits is None:
        folder = _folder(config, "binarized_mnist")
        download.ensure_binarized_mnist(folder, config.download)
        splits = {split: (images, formats.unlabeled(len(images))) for split, images in
                  ((split, formats.read_amat(folder / f"binarized_mnist_{split}.amat")) for split in SPLITS)}
    if "valid" not in splits or any(images.max() > 1 for images, _ in splits.values() if images.size):
        raise DataError(f"{config.path} is not the binarized MNIST split: it needs 0/1 x_train, x_valid and x_test")
    return _assemble("binarized_mnist", config, splits["train"], splits["test"], valid=splits["valid"],
                     num_levels=2, num_classes=0)


def _load_cifar10(config: DataConfig) -> ImageDataset:
    splits = _npz_of(config, "cifar10", (3, 32, 32))
    if splits is None:
        batches = download.ensure_cifar10(_folder(config, "cifar10"), config.download)
        splits = dict(zip(("train", "test"), formats.read_cifar10(batches), strict=True))
    return _assemble("cifar10", config, splits["train"], splits["test"], num_levels=256, num_classes=10)


def _npz_of(config: DataConfig, name: str, shape: tuple[int, int, int]) -> dict[str, Arrays] | None:
    """The splits of a named data set given as a ``.npz`` file (``--data-path x.npz``), or None for a folder.

    The arrays are those of ``shared/data``'s README: ``x_train``, ``x_test`` (+ ``x_valid``), labels ``y_*``.
    """
    if not config.path or Path(config.path).suffix.lower() != ".npz":
        return None
    path = Path(config.path).expanduser()
    splits = npz.read_npz(path, _npz_cache())
    found = tuple(int(size) for size in splits["train"][0].shape[1:])
    if found != shape:
        raise DataError(f"{path} holds {'×'.join(map(str, found))} images, not {name}'s {'×'.join(map(str, shape))}")
    return splits


def _load_folder(config: DataConfig) -> ImageDataset:
    folder = Path(str(config.path)).expanduser()
    files, labels, classes = formats.list_png_folder(folder)
    if len(files) < 2:
        raise DataError(f"image folder {folder} holds {len(files)} image: at least 2 are needed (train and test)")
    num_test = min(max(round(FOLDER_TEST_FRACTION * len(files)), 1), len(files) - 1)
    images = formats.read_pngs(files)  # one mode for all (checked): 1-bit PNGs are 2 levels
    binary = formats.png_mode(files[0]) == "1"
    train, test = _hold_out((images // 255 if binary else images, labels), num_test, _FIXED_SPLIT_SEED)
    return _assemble("folder", config, train, test, num_levels=2 if binary else 256, num_classes=len(classes))


def _load_npz(config: DataConfig) -> ImageDataset:
    splits = npz.read_npz(Path(str(config.path)).expanduser(), _npz_cache())
    binary = all(images.max() <= 1 for images, _ in splits.values() if images.size)
    num_classes = max((int(labels.max()) for _, labels in splits.values() if labels.size), default=-1) + 1
    _warn_of_unseen_labels(splits, config.path)
    return _assemble("npz", config, splits["train"], splits["test"], valid=splits.get("valid"),
                     num_levels=2 if binary else 256, num_classes=num_classes)


def _warn_of_unseen_labels(splits: dict[str, Arrays], path: str | None) -> None:
    """Warn when test (or validation) labels never occur among the training labels: a conditional model never
    learns those classes, and its likelihood of such images is no measure of it."""
    seen = set(np.unique(splits["train"][1]).tolist())
    for split in ("test", "valid"):
        if split in splits and len(splits[split][1]):
            unseen = sorted(set(np.unique(splits[split][1]).tolist()) - seen)
            if unseen:
                logger.warning(f"pixelrnn: warning: {path}: {split} label(s) {', '.join(map(str, unseen[:10]))} "
                               "never occur in the training images")


_LOADERS: dict[str, Callable[[DataConfig], ImageDataset]] = {
    "digits": _load_digits, "mnist": _load_mnist, "binarized_mnist": _load_binarized_mnist,
    "cifar10": _load_cifar10, "folder": _load_folder, "npz": _load_npz,
}


def _read_mnist(config: DataConfig) -> tuple[Arrays, Arrays]:
    splits = _npz_of(config, "mnist", (1, 28, 28))
    if splits is not None:
        return splits["train"], splits["test"]
    folder = _folder(config, "mnist")
    download.ensure_mnist(folder, config.download)
    return formats.read_mnist(folder, "train"), formats.read_mnist(folder, "t10k")


def _npz_cache() -> Path:
    """Where large ``.npz`` files are kept decompressed (:func:`pixelrnn.data.npz.read_npz`)."""
    return (CACHE_ROOT / "npz").expanduser()


def _folder(config: DataConfig, default: str) -> Path:
    """``config.path`` or, when it is None, the data set's folder under ``~/.cache/pixelrnn``."""
    return Path(config.path).expanduser() if config.path else (CACHE_ROOT / default).expanduser()


def _binarize(images: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """Each pixel once as Bernoulli(grey / 255): uint8 0/1 of the shape of ``images`` (N, C, H, W).

    Chunk k of the images draws from a generator seeded from (seed, stream, k), so the result is fixed by the
    seed and the same for every image whatever ``max_*_images`` later keeps.
    """
    binary = np.empty_like(images)
    for chunk, start in enumerate(range(0, len(images), _BINARIZE_CHUNK)):
        generator = torch.Generator().manual_seed(mix_seed(_BINARIZE_STREAM, seed, stream, chunk))
        grey = torch.from_numpy(images[start:start + _BINARIZE_CHUNK]).float() / 255.0  # (n, C, H, W)
        binary[start:start + _BINARIZE_CHUNK] = torch.bernoulli(grey, generator=generator).to(torch.uint8).numpy()
    return binary


# --------------------------------------------------------------------------------------------- splitting
def _hold_out(arrays: Arrays, count: int, seed: int) -> tuple[Arrays, Arrays]:
    """Split off ``count`` images chosen by a seeded permutation; both parts keep the file order."""
    permutation = torch.randperm(len(arrays[0]), generator=torch.Generator().manual_seed(seed)).numpy()
    kept, held = np.sort(permutation[count:]), np.sort(permutation[:count])
    return (arrays[0][kept], arrays[1][kept]), (arrays[0][held], arrays[1][held])


def _assemble(name: str, config: DataConfig, train: Arrays, test: Arrays, *, num_levels: int,
              num_classes: int, valid: Arrays | None = None) -> ImageDataset:
    """Keep ``config.classes`` (relabelled), split the validation images off ``train`` (unless given), apply the
    ``max_*_images`` cuts, wrap.

    The validation split comes from the whole training pool before ``max_train_images`` cuts the training
    split, so it does not change with that cut; ``max_test_images`` cuts the validation split too.
    """
    if config.classes:
        train, test = (_keep_classes(arrays, config.classes, name, num_classes) for arrays in (train, test))
        valid = None if valid is None else _keep_classes(valid, config.classes, name, num_classes)
        num_classes = len(config.classes)
    test_total = len(test[0])
    if valid is None:  # hold out valid_fraction of the training pool, chosen by config.seed
        num_valid = min(round(config.valid_fraction * len(train[0])), max(len(train[0]) - 1, 0))
        train, valid = _hold_out(train, num_valid, config.seed)
    train, valid, test = (_first(arrays, limit) for arrays, limit in
                          ((train, config.max_train_images), (valid, config.max_test_images),
                           (test, config.max_test_images)))
    if len(train[0]) == 0 or len(test[0]) == 0:
        raise DataError(f"data set '{name}' has {len(train[0])} training and {len(test[0])} test images")
    return ImageDataset(name=name, train=_to_split(train), valid=_to_split(valid), test=_to_split(test),
                        num_levels=num_levels, num_classes=num_classes, test_total=test_total)


def _keep_classes(arrays: Arrays, classes: list[int], name: str, num_classes: int) -> Arrays:
    """The images whose label is in ``classes``, in file order, labelled by their place in ``classes``."""
    missing = [label for label in classes if label >= num_classes]
    if missing:
        known = f"labels 0-{num_classes - 1}" if num_classes else "no class labels"
        raise DataError(f"data set '{name}' has {known}: it has no class {', '.join(map(str, missing))}")
    images, labels = arrays
    kept = np.isin(labels, classes)
    relabel = np.full(num_classes, -1, dtype=np.int64)
    relabel[classes] = np.arange(len(classes))
    return images[kept], relabel[labels[kept]]


def _first(arrays: Arrays, limit: int | None) -> Arrays:
    return arrays if limit is None else (arrays[0][:limit], arrays[1][:limit])


def _to_split(arrays: Arrays) -> ImageSplit:
    """Tensors of the arrays in memory: (images uint8 (N, C, H, W), labels int64 (N,)); a read-only memory map (a
    cached ``.npz``) is copied, reading only the images kept."""
    images, labels = (np.array(array, dtype=dtype) if not array.flags.writeable  # read-only map -> memory
                      else np.ascontiguousarray(array, dtype=dtype)
                      for array, dtype in zip(arrays, (np.uint8, np.int64), strict=True))
    return ImageSplit(torch.from_numpy(images), torch.from_numpy(labels))


def check_data_fits_model(dataset: ImageDataset, config: ModelConfig) -> None:
    """Raise DataError when the data set's image shape, levels or classes differ from the model's."""
    if tuple(dataset.image_shape) != config.image_shape or dataset.num_levels != config.num_levels:
        raise DataError(
            f"the model expects {describe_shape(config.image_shape)} images with {config.num_levels} levels; data set "
            f"'{dataset.name}' has {describe_shape(dataset.image_shape)} images with {dataset.num_levels} levels"
        )
    if config.num_classes and dataset.num_classes != config.num_classes:
        raise DataError(f"the model is conditioned on {config.num_classes} classes; data set '{dataset.name}' "
                        f"has {dataset.num_classes}")

