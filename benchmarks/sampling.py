"""Time to sample a batch of 16 CIFAR-sized images, plain vs incremental, for every model.

The incremental ("fast") sampler is timed over whole images. The plain sampler costs one full network pass per
sub-pixel (per pixel for PixelCNN++), the same at every position, so it is timed over the last PIXELS pixels of
the image only (every other pixel given) and scaled to the whole image; the table says so. Random weights: the
cost does not depend on them. Usage:

    python benchmarks/sampling.py [--device cpu] [--presets NAME ...] [--pixels 8]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from pixelrnn.experiments.bench import machine_description
from pixelrnn.models import build_model, model_config
from pixelrnn.runtime import resolve_device
from pixelrnn.sampling.fast import fast_sample_images, has_fast_sampler
from pixelrnn.sampling.plain import sample_images

PRESETS = ("pixelcnn-cifar10", "row-lstm-cifar10", "diagonal-bilstm-cifar10", "gated-pixelcnn-imagenet",
           "pixelcnn-pp-cifar10", "pixelcnn-small", "row-lstm-small", "diagonal-bilstm-small",
           "multiscale-pixelrnn-small", "gated-pixelcnn-small", "pixelcnn-pp-small")


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_plain(model, batch: int, pixels: int, device: torch.device) -> float:
    """Seconds for the plain sampler over the whole image, scaled from its last ``pixels`` pixels."""
    channels, height, width = model.config.image_shape
    known = torch.zeros(batch, channels, height, width, dtype=torch.long)
    known.view(batch, channels, -1)[:, :, -pixels:] = -1  # the last pixels in raster order are drawn
    _synchronize(device)
    started = time.perf_counter()
    sample_images(model, batch, known=known, generator=torch.Generator(device=device).manual_seed(0))
    _synchronize(device)
    return (time.perf_counter() - started) * height * width / pixels


def time_fast(model, batch: int, device: torch.device) -> float:
    _synchronize(device)
    started = time.perf_counter()
    fast_sample_images(model, batch, generator=torch.Generator(device=device).manual_seed(0))
    _synchronize(device)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--pixels", type=int, default=8, help="pixels the plain sampler is timed on")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--json", help="append one JSON line per preset")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"machine: {machine_description(args.device)}")
    print("| preset | plain, s (scaled from the last pixels) | fast, s | speed-up |\n|---|---|---|---|", flush=True)
    for preset in args.presets:
        torch.manual_seed(0)
        model = build_model(model_config(preset, (3, 32, 32), 256)).to(device).eval()
        plain = time_plain(model, args.batch_size, args.pixels, device)
        fast = time_fast(model, args.batch_size, device) if has_fast_sampler(model) else None
        speed_up = f"{plain / fast:,.0f}×" if fast else "—"
        print(f"| {preset} | {plain:,.0f} | {f'{fast:,.1f}' if fast else '— (no fast sampler yet)'} | {speed_up} |",
              flush=True)
        if args.json:
            with open(args.json, "a") as handle:
                handle.write(json.dumps({"preset": preset, "plain_seconds_scaled": plain, "fast_seconds": fast,
                                         "batch": args.batch_size, "plain_pixels_timed": args.pixels,
                                         "device": str(device), "machine": machine_description(args.device)})
                             + "\n")


if __name__ == "__main__":
    main()
