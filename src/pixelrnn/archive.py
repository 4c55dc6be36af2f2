"""The file format of ``pixelrnn compress``: a small binary header, the labels and names, one coded stream.

Layout (little-endian)::

    magic b"PXRNNZ", format version (u8), C (u8), H, W, levels (u16), N images (u32), batch size (u16),
    classes (u16), the model's fingerprint (16 bytes: SHA-256 of its config and weights, truncated),
    bytes of names (u32), words of the stream (u32), CRC-32 of the images (u32)
    labels: N × u16 when classes > 0
    names: zlib-compressed UTF-8, one file name per line (empty when the images came from a data set)
    stream: the range coder's uint32 words
    CRC-32 of every byte above (u32)

The batch size is part of the format because the coded probabilities come from batched float arithmetic:
the decoder must evaluate the model on the same batches. The image checksum guards the one failure the
payload checksum cannot see: a decoder whose float arithmetic differs from the encoder's.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import torch

from pixelrnn.config import to_dict
from pixelrnn.errors import PixelRNNError

MAGIC = b"PXRNNZ"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<6sBBHHHIHH16sIII")
_CHECKSUM = struct.Struct("<I")


class ArchiveError(PixelRNNError):
    """An archive that is not one, is truncated or corrupt, or was coded with another model."""


@dataclass(frozen=True)
class Archive:
    """The contents of an archive file.

    Attributes:
        image_shape: (C, H, W); num_levels: L; batch_size: images per coded batch; num_classes: 0 if unconditional.
        fingerprint: 16 bytes of :func:`model_fingerprint`.
        image_crc: CRC-32 of the images as uint16 (N, C, H, W) bytes.
        labels: int64 (N,) or None; names: file names (empty for a data set's images).
        stream: uint32 words of the range coder.
    """

    image_shape: tuple[int, int, int]
    num_levels: int
    num_images: int
    batch_size: int
    num_classes: int
    fingerprint: bytes
    image_crc: int
    labels: np.ndarray | None
    names: list[str]
    stream: np.ndarray


def model_fingerprint(model: torch.nn.Module) -> bytes:
    """16 bytes that name a model: SHA-256 of its config and of every tensor of its state (name, dtype, shape,
    bytes), truncated."""
    digest = hashlib.sha256(json.dumps(to_dict(model.config), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        values = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{values.dtype}|{tuple(values.shape)}".encode())
        digest.update(values.view(torch.uint8).numpy().tobytes() if values.numel() else b"")
    return digest.digest()[:16]


def image_checksum(images: torch.Tensor) -> int:
    """CRC-32 of integer images (N, C, H, W) written as little-endian uint16."""
    return zlib.crc32(images.cpu().numpy().astype("<u2").tobytes())


def pack(archive: Archive) -> bytes:
    """The bytes of an archive file."""
    names = zlib.compress("\n".join(archive.names).encode(), 9) if archive.names else b""
    channels, height, width = archive.image_shape
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, channels, height, width, archive.num_levels, archive.num_images,
                          archive.batch_size, archive.num_classes, archive.fingerprint, len(names),
                          len(archive.stream), archive.image_crc)
    labels = b"" if archive.labels is None else archive.labels.astype("<u2").tobytes()
    body = header + labels + names + archive.stream.astype("<u4").tobytes()
    return body + _CHECKSUM.pack(zlib.crc32(body))


def unpack(data: bytes) -> Archive:
    """Read the bytes of an archive file.

    Raises:
        ArchiveError: not an archive, a newer format, or truncated or corrupt bytes (the checksum).
    """
    if len(data) < len(MAGIC) or data[:len(MAGIC)] != MAGIC:
        raise ArchiveError("not a pixelrnn compressed file (no PXRNNZ magic)")
    if len(data) < _HEADER.size + _CHECKSUM.size:
        raise ArchiveError("the compressed file is truncated (shorter than its header)")
    fields = _HEADER.unpack_from(data)
    version, channels, height, width, levels, count, batch, classes, fingerprint, names_size, words, crc = fields[1:]
    if version > FORMAT_VERSION:
        raise ArchiveError(f"the compressed file has format {version}; this pixelrnn reads up to {FORMAT_VERSION}")
    labels_size = 2 * count if classes else 0
    expected = _HEADER.size + labels_size + names_size + 4 * words + _CHECKSUM.size
    if len(data) != expected or zlib.crc32(data[:-_CHECKSUM.size]) != _CHECKSUM.unpack_from(data, len(data) - 4)[0]:
        raise ArchiveError("the compressed file is truncated or corrupt (its checksum does not match)")
    offset = _HEADER.size
    labels = np.frombuffer(data, "<u2", count, offset).astype(np.int64) if classes else None
    offset += labels_size
    names = zlib.decompress(data[offset:offset + names_size]).decode().split("\n") if names_size else []
    stream = np.frombuffer(data, "<u4", words, offset + names_size).astype(np.uint32)
    return Archive((channels, height, width), levels, count, batch, classes, fingerprint, crc, labels, names, stream)


def check_fits(archive: Archive, model: torch.nn.Module) -> None:
    """ArchiveError unless the archive was coded with this model (shape, levels, classes, then fingerprint)."""
    config = model.config
    ours = (tuple(config.image_shape), config.num_levels, config.num_classes)
    theirs = (archive.image_shape, archive.num_levels, archive.num_classes)
    if ours != theirs:
        raise ArchiveError(f"the file holds {_describe(*theirs)}, the model codes {_describe(*ours)}: "
                           "decompress with the checkpoint it was compressed with")
    if archive.fingerprint != model_fingerprint(model):
        raise ArchiveError("the file was compressed with another model (its weights' fingerprint differs): "
                           "decompress with the checkpoint it was compressed with")


def _describe(shape: tuple[int, int, int], levels: int, classes: int) -> str:
    text = f"{'×'.join(map(str, shape))} images of {levels} levels"
    return text + (f", {classes} classes" if classes else "")
