"""Writers of small files in each official on-disk format, for the data tests."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: magic 0x0000080D (D = number of dims), big-endian uint32 dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_mnist(folder: Path, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                gz: bool) -> None:
    """The four MNIST IDX files (images (N, H, W) uint8, labels (N,)), gzipped or not."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, (images, labels) in (("train", train), ("t10k", test)):
        for kind, array in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            data = idx_bytes(array)
            name = f"{prefix}-{kind}"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)


def write_amat(path: Path, images: np.ndarray) -> None:
    """A Larochelle ``.amat`` file: one line per image, its 784 values '0'/'1' separated by spaces."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [" ".join(str(int(v)) for v in image.reshape(-1)) for image in images]  # (28, 28) -> 784 values
    path.write_text("".join(line + "\n" for line in lines))


def cifar_batch_bytes(rows: np.ndarray, labels: np.ndarray) -> bytes:
    """A CIFAR-10 python batch: ``rows`` uint8 (N, 3072), each the R, G then B 32×32 planes, row-major."""
    batch = {b"batch_label": b"testing batch", b"labels": [int(v) for v in labels],
             b"data": np.ascontiguousarray(rows, dtype=np.uint8), b"filenames": [b"x.png"] * len(rows)}
    return pickle.dumps(batch, protocol=2)


def write_cifar(folder: Path, train: list[tuple[np.ndarray, np.ndarray]], test: tuple[np.ndarray, np.ndarray],
                archive: Path | None = None) -> None:
    """``data_batch_1..5`` and ``test_batch`` (each (rows (N, 3072), labels)) in ``folder`` or in ``archive``."""
    files = {f"data_batch_{i + 1}": cifar_batch_bytes(*batch) for i, batch in enumerate(train)}
    files["test_batch"] = cifar_batch_bytes(*test)
    if archive is None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        return
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def write_png(path: Path, image: np.ndarray, mode: str | None = None) -> None:
    """``image`` (H, W) or (H, W, C) uint8 as a PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image, mode=mode).save(path, format="PNG")
