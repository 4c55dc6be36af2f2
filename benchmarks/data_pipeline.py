"""How fast the training data pipeline delivers batches, to compare with the models' training images/s.

The pipeline keeps every split in memory as one uint8 tensor (N, C, H, W) and gathers each batch with one index
operation (flips: one vectorised ``torch.where``), so it should outrun every model by orders of magnitude.
Usage (CIFAR-10 from the verified copy beside the repository):

    python benchmarks/data_pipeline.py --data npz --data-path ../shared/data/cifar10.npz [--batch-size 64]
"""

from __future__ import annotations

import argparse
import time

from pixelrnn.config import DataConfig
from pixelrnn.data import iterate_batches, load_dataset
from pixelrnn.experiments.bench import machine_description


def images_per_second(split, batch_size: int, hflip: bool, world_size: int = 1) -> float:
    """Images per second of one epoch of training batches (shuffled, optionally flipped), rank 0's share."""
    started, seen = time.perf_counter(), 0
    for images, _ in iterate_batches(split, batch_size, shuffle=True, seed=0, epoch=0, rank=0,
                                     world_size=world_size, hflip=hflip):
        seen += images.shape[0]
    return seen / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="npz")
    parser.add_argument("--data-path", default="../shared/data/cifar10.npz")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    started = time.perf_counter()
    dataset = load_dataset(DataConfig(name=args.data, path=args.data_path))
    load_seconds = time.perf_counter() - started
    print(f"machine: {machine_description('cpu')}")
    print(f"{dataset.name}: {len(dataset.train):,} training images {dataset.image_shape}, loaded in "
          f"{load_seconds:.1f} s, {dataset.train.images.numel() / 2**20:,.0f} MiB as uint8 in memory")
    print("| batch | flips | images/s |\n|---|---|---|")
    for hflip in (False, True):
        print(f"| {args.batch_size} | {'yes' if hflip else 'no'} | "
              f"{images_per_second(dataset.train, args.batch_size, hflip):,.0f} |")


if __name__ == "__main__":
    main()
