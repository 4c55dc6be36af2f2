"""``pixelrnn pretrained``: the trained models shipped with the package, usable by name as checkpoints."""

from __future__ import annotations

import argparse

from pixelrnn.errors import ConfigError

HELP = "the pretrained models shipped with pixelrnn (use a name wherever a checkpoint is accepted)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="print this model's card and folder (default: list them all)")


def run(args: argparse.Namespace) -> int:
    from pixelrnn.pretrained import CARD_NAME, available, listing

    if args.name is None:
        print(listing())
        return 0
    models = available()
    if args.name not in models:
        raise ConfigError(f"no pretrained model '{args.name}' (shipped: {', '.join(models) or 'none'})")
    print((models[args.name].folder / CARD_NAME).read_text().rstrip())
    print(f"\nfolder: {models[args.name].folder}")
    return 0
