"""Official download locations and checksums; fetching missing files with an atomic, md5-verified write.

Each ``ensure_*`` function checks that a data set's official files are in a folder, downloads the missing
ones when allowed, and otherwise raises a one-line :class:`~pixelrnn.errors.DataError` saying which files to
put where. The base URLs and checksums are parameters so that tests can serve files from ``file://`` URLs.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tarfile
import tempfile
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from pixelrnn.data import formats
from pixelrnn.errors import DataError

logger = logging.getLogger(__name__)

TIMEOUT_S = 30.0
CHUNK_BYTES = 1 << 20

MNIST_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
CIFAR10_URLS = ("https://www.cs.toronto.edu/~kriz/",)
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
BINARIZED_MNIST_URLS = ("http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/",)
BINARIZED_MNIST_MD5 = {
    "binarized_mnist_train.amat": "db28b1a6ae0fe70cbd3da91acf46e477",
    "binarized_mnist_valid.amat": "bf37822a04e94123630de6a7dfd9c9ef",
    "binarized_mnist_test.amat": "14e41ae11040adba6ab8cb291eda0dd8",
}


def ensure_mnist(folder: Path, download: bool, base_urls: Sequence[str] = MNIST_URLS,
                 md5s: Mapping[str, str] = MNIST_MD5) -> None:
    """Make sure the four MNIST IDX files (``.gz`` or uncompressed) are in ``folder``, fetching missing ones."""
    missing = [name for name in md5s if formats.find_mnist_file(folder, name.removesuffix(".gz")) is None]
    where = f"put {', '.join(md5s)} (gzipped or not) in {folder}, or pass --data-path to the folder holding them"
    _fetch_missing(missing, folder, download, base_urls, md5s, "MNIST", where)


def ensure_binarized_mnist(folder: Path, download: bool, base_urls: Sequence[str] = BINARIZED_MNIST_URLS,
                           md5s: Mapping[str, str] = BINARIZED_MNIST_MD5) -> None:
    """Make sure the three binarized-MNIST ``.amat`` files are in ``folder``, fetching missing ones."""
    missing = [name for name in md5s if not (folder / name).is_file()]
    where = f"put {', '.join(md5s)} in {folder}, or pass --data-path to the folder holding them"
    _fetch_missing(missing, folder, download, base_urls, md5s, "binarized MNIST", where)


def ensure_cifar10(path: Path, download: bool, base_urls: Sequence[str] = CIFAR10_URLS,
                   md5: str = CIFAR10_MD5) -> Path:
    """The folder of CIFAR-10 python batches, from ``path`` or its ``cifar-10-python.tar.gz`` (fetched if missing).

    ``path`` may be the ``cifar-10-batches-py`` folder, its parent, or the archive itself.
    """
    if path.is_file():
        path, archive = path.parent, path
    else:
        archive = path / CIFAR10_ARCHIVE
    found = formats.find_cifar_folder(path)
    if found is not None:
        return found
    if not archive.is_file():
        where = (f"put {CIFAR10_ARCHIVE} or its extracted {formats.CIFAR_FOLDER} folder in {path}, or pass "
                 "--data-path to the folder holding them")
        _fetch_missing([CIFAR10_ARCHIVE], path, download, base_urls, {CIFAR10_ARCHIVE: md5}, "CIFAR-10", where)
    extract_cifar10(archive, path)
    found = formats.find_cifar_folder(path)
    if found is None:
        raise DataError(f"{archive} holds no {formats.CIFAR_FOLDER} folder with the CIFAR-10 batches")
    return found


def extract_cifar10(archive: Path, folder: Path) -> None:
    """Extract the ``cifar-10-batches-py`` folder of ``archive`` into ``folder`` (all or nothing)."""
    logger.info("extracting %s", archive)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".extract-") as scratch:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = [m for m in tar.getmembers() if m.name.startswith(formats.CIFAR_FOLDER + "/")]
                tar.extractall(scratch, members=members, filter="data")
        except (tarfile.TarError, OSError, EOFError) as error:
            raise DataError(f"{archive} is not a readable CIFAR-10 archive ({_one_line(error)})") from None
        extracted = Path(scratch) / formats.CIFAR_FOLDER
        if extracted.is_dir() and not (folder / formats.CIFAR_FOLDER).exists():
            os.replace(extracted, folder / formats.CIFAR_FOLDER)


def fetch(name: str, folder: Path, base_urls: Sequence[str], md5: str, where: str = "",
          timeout: float = TIMEOUT_S) -> Path:
    """Download ``name`` from the first base URL that answers into ``folder/name``, verifying its md5.

    The bytes go to a temporary file in ``folder`` that is renamed only once the checksum matches; on a
    mismatch it is deleted and DataError is raised. When no URL answers, DataError says ``where`` to put it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for base in base_urls:
        url = base.rstrip("/") + "/" + name
        logger.info("downloading %s", url)
        try:
            temp, digest = _download_to_temp(url, folder, name, timeout)
        except (OSError, http.client.HTTPException, ValueError) as error:  # URLError, timeouts, bad URLs
            failures.append(f"{url}: {_one_line(error)}")
            continue
        if digest != md5:
            temp.unlink(missing_ok=True)
            raise DataError(f"checksum mismatch for {name} from {url}: md5 {digest}, expected {md5} "
                            "(the download was deleted)")
        os.replace(temp, folder / name)
        return folder / name
    raise DataError(f"could not download {name} ({'; '.join(failures) or 'no URL given'}); "
                    f"{where or f'put {name} in {folder}'}")


def _fetch_missing(missing: list[str], folder: Path, download: bool, base_urls: Sequence[str],
                   md5s: Mapping[str, str], what: str, where: str) -> None:
    if not missing:
        return
    if not download:
        raise DataError(f"{what} file(s) {', '.join(missing)} not found in {folder} and downloads are off: {where}")
    for name in missing:
        fetch(name, folder, base_urls, md5s[name], where=where)


def _download_to_temp(url: str, folder: Path, name: str, timeout: float) -> tuple[Path, str]:
    """Stream ``url`` into a new temporary file in ``folder``; returns it and the md5 hex digest of its bytes.

    The temporary file is deleted when anything (a network error, Ctrl-C) interrupts the transfer.
    """
    handle, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    temp = Path(temp_name)
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(CHUNK_BYTES):
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp, digest.hexdigest()


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
