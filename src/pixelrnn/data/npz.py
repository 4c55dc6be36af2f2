"""The ``.npz`` reader: the arrays of the splits, checked and converted, read one array at a time, and a cache of
large files kept decompressed.

``read_npz`` returns what the readers of :mod:`pixelrnn.data.formats` return: images ``uint8`` (N, C, H, W) and
labels ``int64`` (N,) per split (-1 where the file has none); anything missing or malformed raises a one-line
:class:`~pixelrnn.errors.DataError` naming the file.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from pathlib import Path

import numpy as np

from pixelrnn.data.formats import Arrays, _one_line, unlabeled
from pixelrnn.errors import DataError, WriteError, path_kind
from pixelrnn.io import atomic_write

NPZ_KEYS = ("x_train", "y_train", "x_valid", "y_valid", "x_test", "y_test")  # the only arrays read of a .npz
NPZ_CACHE_MIN_BYTES = 8 * 2**20  # a .npz this large is cached decompressed (MNIST's 11 MB: 55 MB of .npy)
_NPZ_CACHE_FORMAT = 1  # bump when the cached arrays change meaning


def read_npz(path: Path, cache_dir: Path | None = None) -> dict[str, Arrays]:
    """``x_train``/``x_test`` (+ optional ``y_*``, ``x_valid``) of a ``.npz``: {split: (images, labels)}.

    Images may be (N, H, W), (N, H, W, C) or (N, C, H, W) with C in (1, 3); they become uint8 (N, C, H, W). Only
    the arrays of :data:`NPZ_KEYS` are read (``np.load`` reads a ``.npz`` one array at a time): other arrays in the
    file are never touched. With ``cache_dir``, a file of :data:`NPZ_CACHE_MIN_BYTES` or more is kept there once
    decompressed and converted (one ``.npy`` per array, see :func:`_npz_cache_folder`); later reads map those
    files into memory instead, so that a command reads only the pages of the images it uses.
    """
    kind = path_kind(path)
    if kind == "nothing":
        raise DataError(f"npz file {path} not found")
    if kind != "a file":
        raise DataError(f"{path} is {kind}, not a .npz file" + (" (a folder of PNG images is --data folder)"
                                                                 if kind == "a folder" else ""))
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path} is not a .npz file (not a zip archive)")
    folder = _npz_cache_folder(path, cache_dir) if cache_dir is not None else None
    if folder is not None and (folder / "complete").is_file():
        return {split: tuple(np.load(folder / f"{split}_{part}.npy", mmap_mode="r") for part in ("images", "labels"))
                for split in (folder / "complete").read_text().split()}
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in NPZ_KEYS if key in archive.files}
            held = sorted(archive.files)
    except (OSError, ValueError, zlib.error, EOFError) as error:
        raise DataError(f"{path} is not a readable .npz file ({_one_line(error)})") from None
    splits = _npz_splits(arrays, held, path)
    if folder is not None:
        _write_npz_cache(folder, splits)
    return splits


def _npz_splits(arrays: dict[str, np.ndarray], held: list[str], path: Path) -> dict[str, Arrays]:
    """The checked splits of the arrays ``NPZ_KEYS`` read from ``path`` (``held``: every array name it has)."""
    missing = [key for key in ("x_train", "x_test") if key not in arrays]
    if missing:
        raise DataError(f"{path} lacks {', '.join(missing)} (it holds: {', '.join(held) or 'nothing'})")
    if ("y_train" in arrays) != ("y_test" in arrays) or ("x_valid" in arrays and "y_train" in arrays
                                                          and "y_valid" not in arrays):
        raise DataError(f"{path}: give labels for every split (y_train, y_test[, y_valid]) or for none")
    splits = {}
    for split in ("train", "valid", "test"):
        if f"x_{split}" in arrays:
            images = _npz_images(arrays[f"x_{split}"], f"x_{split}", path)
            labels = arrays.get(f"y_{split}")
            splits[split] = (images, unlabeled(len(images)) if labels is None
                             else _npz_labels(labels, len(images), f"y_{split}", path))
    shapes = {split: images.shape[1:] for split, (images, _) in splits.items()}
    if len(set(shapes.values())) > 1:
        raise DataError(f"{path}: the splits differ in image shape (C, H, W): {shapes}")
    return splits


def _npz_cache_folder(path: Path, cache_dir: Path) -> Path | None:
    """Where the converted arrays of ``path`` are cached: ``cache_dir/<name>-<digest of the file's absolute path,
    size, modification time and the cache format>``; None for a file below :data:`NPZ_CACHE_MIN_BYTES`."""
    status = path.stat()
    if status.st_size < NPZ_CACHE_MIN_BYTES:
        return None
    identity = f"{path.resolve()}|{status.st_size}|{status.st_mtime_ns}|{_NPZ_CACHE_FORMAT}"
    return cache_dir / f"{path.stem}-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"


def _write_npz_cache(folder: Path, splits: dict[str, Arrays]) -> None:
    """Write the converted splits as ``.npy`` files, then ``complete`` naming the splits; a cache that cannot be
    written (no space, no permission) is skipped: it only saves time."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for split, arrays in splits.items():
            for part, array in zip(("images", "labels"), arrays, strict=True):
                atomic_write(folder / f"{split}_{part}.npy", lambda tmp, array=array: np.save(tmp, array),
                             suffix=".npy")
        atomic_write(folder / "complete", lambda tmp: tmp.write_text(" ".join(splits)))
    except (OSError, WriteError):
        pass


def _npz_images(array: np.ndarray, key: str, path: Path) -> np.ndarray:
    if array.dtype.kind not in "biuf" or (array.dtype.kind == "f" and not np.array_equal(array, np.round(array))):
        raise DataError(f"{path}: {key} must hold integer grey levels, got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise DataError(f"{path}: {key} values must be in [0, 255], got [{array.min()}, {array.max()}]")
    if array.ndim == 4 and array.shape[1] in (1, 3) and array.shape[3] in (1, 3):
        raise DataError(f"{path}: {key} has shape {array.shape}, which reads as channels first or last: store grey "
                        "images as (N, H, W), or transpose the array so that only one axis has 1 or 3 entries")
    if array.ndim == 3:
        array = array[:, None]  # (N, H, W) -> (N, 1, H, W)
    elif array.ndim == 4 and array.shape[3] in (1, 3):
        array = array.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    elif not (array.ndim == 4 and array.shape[1] in (1, 3)):
        raise DataError(f"{path}: {key} has shape {array.shape}; expected (N, H, W), (N, H, W, C) or "
                        "(N, C, H, W) with C in (1, 3)")
    return np.ascontiguousarray(array.astype(np.uint8))


def _npz_labels(labels: np.ndarray, num_images: int, key: str, path: Path) -> np.ndarray:
    if labels.ndim != 1 or len(labels) != num_images or labels.dtype.kind not in "iu":
        raise DataError(f"{path}: {key} must be {num_images} integer labels, got {labels.dtype} {labels.shape}")
    if num_images and labels.min() < 0:
        raise DataError(f"{path}: {key} holds a negative label ({labels.min()})")
    return labels.astype(np.int64)
