"""The ``pixelrnn`` command line: one module per subcommand (``add_arguments(parser)`` + ``run(args)``).

User mistakes (a missing file, a corrupt checkpoint, an unknown name, an out-of-range value) and a file system that
refuses a write (no permission, no space) end with one line on stderr, ``pixelrnn: error: ...``, and exit status 2;
a training run stopped by Ctrl-C (SIGINT) or SIGTERM saves its checkpoint at the next step boundary and exits with
130 or 143.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pixelrnn._version import __version__
from pixelrnn.cli import (
    bench,
    classify,
    common,
    compare,
    complete,
    compress,
    decompress,
    export,
    fid,
    heatmap,
    ood,
    pretrained,
    recipes,
    sample,
    sweep,
    train,
    ui,
)
from pixelrnn.cli import eval as evaluate
from pixelrnn.errors import PixelRNNError
from pixelrnn.runtime import flush_denormals, keep_freed_memory

# the subcommands, in the order `pixelrnn --help` lists them
SUBCOMMANDS = {"train": train, "recipes": recipes, "pretrained": pretrained, "sweep": sweep, "eval": evaluate,
               "sample": sample, "complete": complete, "export": export, "compare": compare, "classify": classify,
               "bench": bench, "fid": fid, "compress": compress, "decompress": decompress, "heatmap": heatmap,
               "ood": ood, "ui": ui}


def build_parser() -> argparse.ArgumentParser:
    parser = common.Parser(prog="pixelrnn",
                           description="Pixel-level autoregressive image models with exact likelihoods.")
    parser.add_argument("--version", action="version", version=f"pixelrnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=common.Parser)
    for name, module in SUBCOMMANDS.items():
        module.add_arguments(commands.add_parser(name, help=module.HELP))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pixelrnn`` console script; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    flush_denormals()  # every command: a trained model's subnormal weights would run on the CPU's slow path
    keep_freed_memory()  # and a step's large buffers reused, not faulted in again every step
    try:
        return SUBCOMMANDS[args.command].run(args)
    except PixelRNNError as error:
        print(f"pixelrnn: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # the file system refused (no permission, no space, read-only): the user's to fix
        where = f"{error.filename}: " if error.filename else ""
        print(f"pixelrnn: error: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pixelrnn: interrupted", file=sys.stderr)
        return 130
