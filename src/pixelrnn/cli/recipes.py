"""``pixelrnn recipes``: the paper rows that ``train --recipe`` reproduces."""

from __future__ import annotations

import argparse

HELP = "the paper rows that `train --recipe` reproduces"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="show every setting of this recipe (default: list them all)")


def run(args: argparse.Namespace) -> int:
    from pixelrnn.training.recipes import describe, get_recipe, table

    print(describe(get_recipe(args.name)) if args.name else table())
    return 0
