"""``compress`` / ``decompress``: lossless image compression with a trained model. The forms of those commands.

Every sub-pixel is entropy-coded with the model's exact conditional distribution (:mod:`pixelrnn.entropy_coding`),
so the coded size approaches the model's negative log-likelihood: −log2 p(x) bits per image. The archive
(:mod:`pixelrnn.archive`) names the model by a fingerprint of its weights; decompressing with another model,
or a truncated or corrupt file, is refused with a one-line error, never answered with a wrong image.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from pixelrnn.archive import Archive, ArchiveError, check_fits, image_checksum, model_fingerprint, pack, unpack
from pixelrnn.entropy_coding import Coder, code_batch, one_thread
from pixelrnn.errors import ConfigError, DataError


@dataclass(frozen=True)
class CompressionResult:
    """What compressing N images gave (all sizes in bits; dims = C·H·W sub-pixels per image).

    Attributes:
        data: the archive's bytes.
        ideal_bits: float64 (N,), each image's code length under the coder's integer tables.
        nll_bits: float64 (N,), −log2 p(x) of each image from ``model.log_prob`` (the exact NLL).
        dims_per_image: C·H·W.
        seconds: wall time of the coding loop.
        stream_bytes: the range coder's stream in the archive.
    """

    data: bytes
    ideal_bits: np.ndarray
    nll_bits: np.ndarray
    dims_per_image: int
    seconds: float
    stream_bytes: int

    @property
    def stream_bits_per_dim(self) -> float:
        """The coded stream alone (whole uint32 words) in bits per sub-pixel."""
        return 8 * self.stream_bytes / (len(self.nll_bits) * self.dims_per_image)

    @property
    def bits_per_dim(self) -> float:
        """The whole file (header, labels, names, stream, checksum) in bits per sub-pixel."""
        return 8 * len(self.data) / (len(self.nll_bits) * self.dims_per_image)

    @property
    def nll_bits_per_dim(self) -> float:
        return float(self.nll_bits.sum()) / (len(self.nll_bits) * self.dims_per_image)

    @property
    def ideal_bits_per_dim(self) -> float:
        return float(self.ideal_bits.sum()) / (len(self.ideal_bits) * self.dims_per_image)


def compress_images(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None,
                    names: list[str] | None = None, batch_size: int = 64, progress: bool = False,
                    on_progress: Callable[[int, int], None] | None = None) -> CompressionResult:
    """Compress integer images with a model (on the CPU, in evaluation mode).

    Args:
        images: integer (N, C, H, W) levels in [0, L − 1] of the model's shape.
        labels: int64 (N,) class labels, required by (and only by) a class-conditional model.
        names: file names to restore on decompression (optional).
        batch_size: images coded together; the decoder uses the same batches.
        on_progress: called as on_progress(steps done, steps in all) after every C·W sub-pixel steps (a row's
            worth; a step codes one sub-pixel of every image of a batch); an exception it raises stops the coding.

    Raises:
        DataError / ConfigError: images or labels that do not fit the model, a batch size outside [1, 65535].
    """
    images = images.long()
    model.eval()
    if len(images) == 0:
        raise DataError("no images to compress")
    if not 1 <= batch_size <= 65535:
        raise ConfigError(f"batch size must be in [1, 65535], got {batch_size}")
    with torch.no_grad():
        nll_bits = _nll_bits(model, images, labels, batch_size)  # checks the shape, levels and labels too
    coder = Coder(len(images))
    report = _progress_every_row(on_progress, images.shape[1:], -(-len(images) // batch_size))
    start = time.perf_counter()
    with one_thread():
        for first in tqdm(range(0, len(images), batch_size), desc="compressing", disable=not progress, leave=False):
            batch = images[first:first + batch_size]  # (b, C, H, W)
            coder.offset = first

            def encode(counts: np.ndarray, at: tuple[int, int, int], batch: torch.Tensor = batch) -> np.ndarray:
                levels = coder.code(counts, batch[:, at[0], at[1], at[2]].numpy())
                report()
                return levels

            code_batch(model, len(batch), _part(labels, first, batch_size), encode)
    seconds = time.perf_counter() - start
    config = model.config
    archive = Archive(tuple(config.image_shape), config.num_levels, len(images), batch_size, config.num_classes,
                      model_fingerprint(model), image_checksum(images),
                      None if labels is None else labels.numpy(), list(names or []), coder.finish())
    return CompressionResult(pack(archive), coder.ideal_bits, nll_bits, images[0].numel(), seconds,
                             4 * len(archive.stream))


def decompress_bytes(model: torch.nn.Module, data: bytes,
                     progress: bool = False) -> tuple[torch.Tensor, torch.Tensor | None, list[str]]:
    """The images of an archive, exactly as compressed: (int64 (N, C, H, W) levels, labels (N,) or None, names).

    Raises:
        ArchiveError: not an archive, truncated or corrupt, coded with another model, or decoded differently
            from how it was coded (another machine's float arithmetic).
    """
    archive = unpack(data)
    check_fits(archive, model)
    model.eval()
    labels = None if archive.labels is None else torch.from_numpy(archive.labels)
    coder = Coder(archive.num_images, archive.stream)
    batches = []
    with one_thread():
        for first in tqdm(range(0, archive.num_images, archive.batch_size), desc="decompressing",
                          disable=not progress, leave=False):
            coder.offset = first
            count = min(archive.batch_size, archive.num_images - first)
            batches.append(code_batch(model, count, _part(labels, first, archive.batch_size),
                                      lambda counts, at: coder.code(counts, None)))
    images = torch.cat(batches)  # (N, C, H, W)
    if image_checksum(images) != archive.image_crc:
        raise ArchiveError("the decoded images fail their checksum: decompress on the machine and software that "
                           "compressed them (the coded probabilities depend on float rounding)")
    return images, labels, archive.names


def _progress_every_row(on_progress: Callable[[int, int], None] | None, shape: torch.Size,
                        batches: int) -> Callable[[], None]:
    """A function to call once per coded sub-pixel step, reporting to ``on_progress`` every C·W steps."""
    channels, height, width = shape
    total, every, done = batches * channels * height * width, channels * width, 0

    def step() -> None:
        nonlocal done
        done += 1
        if on_progress is not None and (done % every == 0 or done == total):
            on_progress(done, total)

    return step


def _part(labels: torch.Tensor | None, first: int, size: int) -> torch.Tensor | None:
    return None if labels is None else labels[first:first + size]


def _nll_bits(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor | None,
              batch_size: int) -> np.ndarray:
    """−log2 p(x) of every image from ``model.log_prob``: float64 (N,) bits."""
    nats = [model.log_prob(images[first:first + batch_size], _part(labels, first, batch_size)).double()
            for first in range(0, len(images), batch_size)]
    return (-torch.cat(nats) / np.log(2.0)).numpy()


def levels_to_bytes(images: torch.Tensor, num_levels: int) -> np.ndarray:
    """Levels (N, C, H, W) → the uint8 (N, C, H, W) pixel values of their PNGs: round(v · 255 / (L − 1))."""
    return torch.round(images.double() * 255 / (num_levels - 1)).to(torch.uint8).numpy()


def bytes_to_levels(pixels: np.ndarray, num_levels: int, where: str = "the images") -> torch.Tensor:
    """uint8 pixel values (N, C, H, W) → levels, refusing values that are not on the model's L levels.

    Raises:
        DataError: a value that :func:`levels_to_bytes` cannot give back (compression would not be lossless).
    """
    levels = torch.round(torch.from_numpy(pixels).double() * (num_levels - 1) / 255).long()
    if not np.array_equal(levels_to_bytes(levels, num_levels), pixels):
        raise DataError(f"{where} hold grey values that are not on the model's {num_levels} levels: they cannot be "
                        "coded losslessly with it")
    return levels


def baseline_sizes(images: torch.Tensor, num_levels: int) -> dict[str, int]:
    """Bytes of the same images as lossless PNG and WebP files (Pillow, strongest settings): every image in its
    own file (``png``, ``webp``), and all of them tiled in one ⌈√N⌉-column grid (``png_tiled``, ``webp_tiled``)."""
    from PIL import Image

    from pixelrnn.plots import image_grid

    pixels = levels_to_bytes(images, num_levels).transpose(0, 2, 3, 1)  # (N, H, W, C)
    pictures = [Image.fromarray(p[..., 0] if p.shape[-1] == 1 else p) for p in pixels]
    tiled_picture = Image.fromarray(image_grid(images, num_levels, padding=0))  # (rows·H, columns·W[, C])
    sizes = {"png": 0, "webp": 0}
    for picture in pictures:
        sizes["png"] += _encoded_size(picture, "PNG", optimize=True)
        sizes["webp"] += _encoded_size(picture, "WEBP", lossless=True, quality=100, method=6)
    sizes["png_tiled"] = _encoded_size(tiled_picture, "PNG", optimize=True)
    sizes["webp_tiled"] = _encoded_size(tiled_picture, "WEBP", lossless=True, quality=100, method=6)
    return sizes


def _encoded_size(picture, image_format: str, **options) -> int:
    buffer = io.BytesIO()
    picture.save(buffer, image_format, **options)
    return buffer.tell()


def read_archive(path: str | Path) -> bytes:
    """The bytes of an archive file; ArchiveError when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ArchiveError(f"cannot read {path}: {error.strerror or error}") from None


def read_png_inputs(paths: list[str | Path], num_levels: int) -> tuple[torch.Tensor, list[str]]:
    """PNG files and folders of PNGs (their ``*.png``, sorted) → (int64 (N, C, H, W) levels, file names).

    Raises:
        DataError: no PNG, an unreadable one, differing sizes or modes, two files of one name, or grey values
            off the model's levels (see :func:`bytes_to_levels`).
    """
    from pixelrnn.data.formats import read_pngs

    files: list[Path] = []
    for path in map(Path, paths):
        files += sorted(path.glob("*.png")) if path.is_dir() else [path]
    if not files:
        raise DataError(f"no PNG images in {', '.join(map(str, paths))}")
    missing = [path for path in files if not path.is_file()]
    if missing:
        raise DataError(f"{missing[0]} is not a file")
    names = [path.name for path in files]
    if len(set(names)) != len(names):
        raise DataError("two input files have the same name: the archive restores files by name")
    return bytes_to_levels(read_pngs(files), num_levels, "the PNGs"), names


def split_images(checkpoint: dict, split: str, max_images: int | None,
                 data_path: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``max_images`` images (all if None) of a split of the checkpoint's data set: (int64 (N, C, H, W)
    levels, int64 (N,) labels). ``data_path``: where that data set lies here (its files or a ``.npz``), when not
    where the checkpoint says (a pretrained model's, for one)."""
    from pixelrnn.data import SPLITS, load_dataset
    from pixelrnn.evaluate import stored_data_config

    if split not in SPLITS:
        raise ConfigError(f"unknown split '{split}' (choose from: {', '.join(SPLITS)})")
    part = getattr(load_dataset(stored_data_config(checkpoint, data_path)), split)
    count = len(part) if max_images is None else min(max_images, len(part))
    if count == 0:
        raise DataError(f"the {split} split is empty")
    return part.images[:count].long(), part.labels[:count]


def write_images(images: torch.Tensor, labels: torch.Tensor | None, names: list[str], num_levels: int,
                 out: str | Path) -> Path:
    """Decompressed images to ``out``: a ``.npz`` (levels as uint8 ``images``, and ``labels``), or a folder of PNGs
    (grey values round(v · 255 / (L − 1))) named as the compressed files (else 000000.png, 000001.png, …)."""
    from PIL import Image

    from pixelrnn.plots import save_images_npz

    out = Path(out)
    if out.suffix.lower() == ".npz":
        return save_images_npz(images, out, labels=labels)
    out.mkdir(parents=True, exist_ok=True)
    pixels = levels_to_bytes(images, num_levels).transpose(0, 2, 3, 1)  # (N, H, W, C)
    for index, picture in enumerate(pixels):
        name = names[index] if names else f"{index:06d}.png"
        if Path(name).name != name or not name.lower().endswith(".png"):
            raise ArchiveError(f"the compressed file names an image {name!r}: not a plain PNG file name")
        Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture).save(out / name, "PNG")
    return out
