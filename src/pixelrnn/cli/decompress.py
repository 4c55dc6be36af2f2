"""``pixelrnn decompress``: the images of a ``pixelrnn compress`` archive, bit for bit."""

from __future__ import annotations

from pixelrnn.cli.compress import add_decompress_arguments as add_arguments
from pixelrnn.cli.compress import run_decompress as run

HELP = "the images of a pixelrnn compress archive"

__all__ = ["HELP", "add_arguments", "run"]
