"""Readers of the on-disk formats: IDX (MNIST), ``.amat`` (binarized MNIST), CIFAR-10 pickles, PNG folders (``.npz``:
:mod:`pixelrnn.data.npz`).

Every reader returns NumPy arrays: images ``uint8`` of shape (N, C, H, W) and labels ``int64`` of shape (N,)
(-1 where the format has no labels). Anything missing or malformed raises a one-line
:class:`~pixelrnn.errors.DataError` naming the file.
"""

from __future__ import annotations

import gzip
import importlib
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

from pixelrnn.errors import DataError, path_kind

Arrays = tuple[np.ndarray, np.ndarray]  # images uint8 (N, C, H, W), labels int64 (N,)

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")
AMAT_PIXELS = 784  # 28 × 28 values per row
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"


def unlabeled(num_images: int) -> np.ndarray:
    """Labels of an unlabeled split: int64 (N,) filled with -1."""
    return np.full(num_images, -1, dtype=np.int64)


def read_digits() -> Arrays:
    """The 8×8 handwritten digits shipped in the package (``digits.npz``, see ``DIGITS.md`` beside it: the UCI
    optdigits test set as scikit-learn distributes it): images uint8 (1797, 1, 8, 8) with values 0..16, labels
    int64 0..9."""
    from importlib.resources import files

    with files("pixelrnn.data").joinpath("digits.npz").open("rb") as file, np.load(file) as archive:
        return archive["images"][:, None], archive["labels"].astype(np.int64)  # (1797, 8, 8) -> (1797, 1, 8, 8)


# ----------------------------------------------------------------------------------------------- MNIST (IDX)
def find_mnist_file(folder: Path, stem: str) -> Path | None:
    """The IDX file ``stem`` in ``folder``, uncompressed or ``.gz`` (None when neither exists)."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (gzipped or not) as a uint8 array of the dimensions in its header."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path} is not a readable IDX file ({_one_line(error)})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex() or 'none'})")
    if raw[2] != 0x08:
        raise DataError(f"{path}: IDX element type 0x{raw[2]:02x} is not unsigned bytes (0x08)")
    num_dims = raw[3]
    header = 4 + 4 * num_dims
    if num_dims == 0 or len(raw) < header:
        raise DataError(f"{path}: truncated or invalid IDX header ({num_dims} dimensions, {len(raw)} bytes)")
    dims = struct.unpack(f">{num_dims}I", raw[4:header])  # big-endian uint32 sizes
    expected = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != expected:
        state = "truncated" if len(raw) - header < expected else "corrupt"
        raise DataError(f"{path} is {state}: header says {'×'.join(map(str, dims))} = {expected} bytes "
                        f"of data, found {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, count=expected, offset=header).reshape(dims).copy()


def read_mnist(folder: Path, prefix: str) -> Arrays:
    """The ``train`` or ``t10k`` MNIST split in ``folder``: images (N, 1, 28, 28), labels int64 (N,)."""
    paths = []
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        path = find_mnist_file(folder, f"{prefix}-{kind}")
        if path is None:
            raise DataError(f"MNIST file {prefix}-{kind}(.gz) not found in {folder}: put the official files "
                            f"{', '.join(f + '.gz' for f in MNIST_FILES)} (gzipped or not) there")
        paths.append(path)
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1:
        raise DataError(f"{paths[0]} / {paths[1]}: expected (N, H, W) images and (N,) labels, got "
                        f"{images.shape} and {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{paths[0]} holds {len(images)} images but {paths[1]} holds {len(labels)} labels")
    return images[:, None], labels.astype(np.int64)  # (N, H, W) -> (N, 1, H, W)


# ------------------------------------------------------------------------------------ binarized MNIST (.amat)
def read_amat(path: Path) -> np.ndarray:
    """A Larochelle ``.amat`` text file (one image a line, 784 '0'/'1' values): uint8 (N, 1, 28, 28)."""
    if not path.is_file():
        raise DataError(f"binarized MNIST file {path.name} not found in {path.parent}")
    raw = np.fromfile(path, dtype=np.uint8)  # the whole file, one byte per character
    is_digit = (raw == ord("0")) | (raw == ord("1"))
    allowed = is_digit | (raw == ord(" ")) | (raw == ord("\t")) | (raw == ord("\r")) | (raw == ord("\n"))
    if not allowed.all():
        offset = int(np.argmin(allowed))
        raise DataError(f"{path} is not a binarized MNIST .amat text file (byte 0x{raw[offset]:02x} at "
                        f"offset {offset}; expected '0'/'1' values separated by spaces)")
    if (is_digit[1:] & is_digit[:-1]).any():
        raise DataError(f"{path}: values must be single '0'/'1' digits separated by spaces")
    starts = np.concatenate([[0], np.flatnonzero(raw == ord("\n")) + 1])  # each line with its newline
    starts = starts[starts < len(raw)]
    counts = np.add.reduceat(is_digit.view(np.uint8), starts, dtype=np.int64) if len(raw) else starts
    wrong = np.flatnonzero((counts != 0) & (counts != AMAT_PIXELS))
    if len(wrong):
        raise DataError(f"{path}: line {wrong[0] + 1} has {counts[wrong[0]]} values, expected {AMAT_PIXELS}")
    if not is_digit.any():
        raise DataError(f"{path} holds no images")
    return (raw[is_digit] - ord("0")).reshape(-1, 1, 28, 28)  # (N * 784,) -> (N, 1, 28, 28), row-major


# ---------------------------------------------------------------------------------------- CIFAR-10 (pickles)
class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays only: a data file cannot run code when loaded."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype"),
                ("numpy.core.multiarray", "scalar"), ("numpy.core.numeric", "_frombuffer"),
                ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        module = module.replace("numpy._core", "numpy.core")
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core"):
            try:  # NumPy 2 moved numpy.core to numpy._core
                return getattr(importlib.import_module(module.replace("numpy.core", "numpy._core")), name)
            except ImportError:
                pass
        return getattr(importlib.import_module(module), name)


def read_cifar_batch(path: Path) -> Arrays:
    """One CIFAR-10 python batch: images uint8 (N, 3, 32, 32) (RGB planes), labels int64 (N,)."""
    if not path.is_file():
        raise DataError(f"CIFAR-10 batch {path.name} not found in {path.parent}")
    try:
        with path.open("rb") as file:
            batch = _ArrayUnpickler(file, encoding="bytes").load()
        data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, OSError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise DataError(f"{path} is not a CIFAR-10 python batch ({_one_line(error)})") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DataError(f"{path}: expected uint8 data (N, 3072) and N labels, got {data.dtype} {data.shape} "
                        f"and {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels  # (N, 3072) -> (N, 3, 32, 32): R, G, B planes, row-major


def find_cifar_folder(path: Path) -> Path | None:
    """The folder holding the CIFAR-10 batches: ``path`` itself or ``path/cifar-10-batches-py``."""
    for candidate in (path, path / CIFAR_FOLDER):
        if (candidate / CIFAR_TEST_BATCH).is_file() or (candidate / CIFAR_TRAIN_BATCHES[0]).is_file():
            return candidate
    return None


def read_cifar10(folder: Path) -> tuple[Arrays, Arrays]:
    """Train (``data_batch_1..5`` joined in order) and test (``test_batch``) splits of CIFAR-10."""
    batches = [read_cifar_batch(folder / name) for name in CIFAR_TRAIN_BATCHES]
    train = (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]))
    return train, read_cifar_batch(folder / CIFAR_TEST_BATCH)


# ------------------------------------------------------------------------------------------------ PNG folders
def list_png_folder(folder: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    """PNG files of a flat folder (labels -1) or of one sub-folder per class (sorted names -> class ids).

    Returns:
        The files in sorted order, their labels int64 (N,), and the class names ([] when flat).
    """
    kind = path_kind(folder)
    if kind == "nothing":
        raise DataError(f"image folder {folder} does not exist")
    if kind != "a folder":
        raise DataError(f"{folder} is {kind}, not an image folder (--data folder reads a folder of PNG images; "
                        "a .npz file is --data npz)")
    entries = [entry for entry in sorted(folder.iterdir()) if not entry.name.startswith(".")]
    classes = [entry for entry in entries if entry.is_dir()]
    if not classes:
        files = [_check_png_name(entry) for entry in entries]
        labels = unlabeled(len(files))
    else:
        stray = [entry for entry in entries if not entry.is_dir()]
        if stray:
            raise DataError(f"{stray[0]} sits beside class folders in {folder}: move it into a class folder")
        files, label_list = [], []
        for class_id, class_folder in enumerate(classes):
            members = [_check_png_name(entry) for entry in sorted(class_folder.iterdir())
                       if not entry.name.startswith(".")]
            if not members:
                raise DataError(f"class folder {class_folder} holds no PNG images")
            files += members
            label_list += [class_id] * len(members)
        labels = np.asarray(label_list, dtype=np.int64)
    if not files:
        raise DataError(f"image folder {folder} holds no PNG images")
    return files, labels, [c.name for c in classes]


def read_pngs(files: list[Path]) -> np.ndarray:
    """Decode PNGs that share one size and mode into uint8 (N, C, H, W) grey levels 0..255: L or RGB, or 1-bit
    (mode ``1``: black 0, white 255; :func:`png_mode` tells a caller that the images have 2 levels)."""
    from PIL import Image, UnidentifiedImageError

    if not files:
        raise DataError("no PNG images to read")
    images = np.empty(0, dtype=np.uint8)
    first_mode = first_size = None
    for index, path in enumerate(files):
        try:
            with Image.open(path) as image:
                if image.format != "PNG":
                    raise DataError(f"{path} is not a PNG image (it is {image.format})")
                mode, size = image.mode, image.size
                pixels = np.asarray(image.convert("L") if mode == "1" else image)
        except (UnidentifiedImageError, OSError) as error:
            raise DataError(f"{path} is not a readable PNG image ({_one_line(error)})") from None
        if mode not in ("1", "L", "RGB"):
            raise DataError(f"{path} has PNG mode {mode}: only 1-bit (1), greyscale (L) and RGB images are "
                            "supported")
        if index == 0:
            first_mode, first_size = mode, size
            images = np.empty((len(files), 3 if mode == "RGB" else 1, size[1], size[0]), dtype=np.uint8)
        elif size != first_size:
            raise DataError(f"{path} is {size[0]}×{size[1]} but {files[0]} is {first_size[0]}×{first_size[1]}: "
                            "all images must share one size")
        elif mode != first_mode:
            raise DataError(f"{path} has mode {mode} but {files[0]} has mode {first_mode}: all images must "
                            "share one mode")
        images[index] = pixels.reshape(size[1], size[0], -1).transpose(2, 0, 1)  # (H, W[, C]) -> (C, H, W)
    return images


def png_mode(path: Path) -> str:
    """The PIL mode of a PNG file (``1``, ``L``, ``RGB``, ...); DataError if it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.mode
    except (UnidentifiedImageError, OSError) as error:
        raise DataError(f"{path} is not a readable PNG image ({_one_line(error)})") from None


def _check_png_name(path: Path) -> Path:
    if not path.is_file() or path.suffix.lower() != ".png":
        raise DataError(f"{path} is not a PNG file: the image folder may hold only .png images")
    return path


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
