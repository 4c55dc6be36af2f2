"""``pixelrnn fid``: Fréchet distance between a checkpoint's samples and a data split."""

from __future__ import annotations

import argparse
import json
import sys

from pixelrnn.cli.common import (
    CHECKPOINT_HELP,
    add_data_flags,
    checkpoint_argument,
    evaluation_data_config,
    positive_int,
    record_result,
)
from pixelrnn.data import SPLITS

HELP = "Fréchet distance between a checkpoint's samples and a data split"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=checkpoint_argument, help=CHECKPOINT_HELP)
    parser.add_argument("-n", "--num-samples", type=positive_int, required=True,
                        help="images to draw from the model (compare FIDs at equal N only)")
    parser.add_argument("--features", choices=("inception", "classifier"),
                        help="feature network (default: inception for 3-channel 256-level images, else classifier)")
    parser.add_argument("--feature-weights", help="inception: pytorch-fid's pt_inception-2015-12-05-6726825d.pth; "
                        "classifier: its file, trained and saved there when missing "
                        "(default: fid-classifier-<data>.pt next to the checkpoint)")
    parser.add_argument("--split", choices=SPLITS, default="test", help="reference split (default: test)")
    parser.add_argument("--batch-size", type=positive_int, default=100)
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampler")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_data_flags(parser, default=None)


def run(args: argparse.Namespace) -> int:
    from pixelrnn.experiments.fid import fid

    data = evaluation_data_config(args, args.checkpoint)
    result = fid(args.checkpoint, data=data, num_samples=args.num_samples, features=args.features,
                 feature_weights=args.feature_weights, split=args.split, batch_size=args.batch_size,
                 seed=args.seed, device=args.device, progress=sys.stderr.isatty())
    record_result(args.checkpoint, "fid", {**result.to_dict(), "seed": args.seed})
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(f"FID {result.value:.2f} (features: {result.features}, N={result.num_samples} samples vs the "
          f"{result.split} split's {result.num_reference} images)")
    return 0
