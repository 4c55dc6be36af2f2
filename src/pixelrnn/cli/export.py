"""``pixelrnn export``: a checkpoint as config.json, model.safetensors and a model card."""

from __future__ import annotations

import argparse

from pixelrnn.cli.common import CHECKPOINT_HELP, checkpoint_argument

HELP = "a checkpoint as config.json + model.safetensors + model card"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=checkpoint_argument, help=CHECKPOINT_HELP)
    parser.add_argument("directory", help="output folder (created; files in it are replaced)")


def run(args: argparse.Namespace) -> int:
    from pixelrnn.export import export_model

    directory = export_model(args.checkpoint, args.directory)
    print(f"exported to {directory}: config.json, model.safetensors, README.md "
          f"(load with pixelrnn.from_pretrained)")
    return 0
