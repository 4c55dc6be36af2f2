"""Ship a finished reproduction run: exact test NLL, export into the package, model card, sample grid; and, for a
class-conditional run, its likelihood-classification accuracy and FID (``reproduce.py ship RUN``).

A shipped model's ``config.json`` keeps under ``pretrained`` what the card, ``pixelrnn pretrained`` and the results
page show: the recipe and paper row, the test NLL over the whole test split, the check figure the test suite
re-measures on the first test images, and the compute used.
"""

from __future__ import annotations

import datetime
import json
import math
import platform
import subprocess
import sys
import time
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from pixelrnn.run_folder import read_json_lines, read_metrics

if TYPE_CHECKING:
    from reproduce import Run

FID_SAMPLES = 1000  # images drawn for a conditional model's FID (compare FIDs at equal N only)
SAMPLES_PER_CLASS = 25


def ship(run: Run, runs_root: Path, data_root: Path, state: Path, check_images: int = 500) -> Path:
    """Export the run's best checkpoint into the package, with its exact test NLL, check figure and card."""
    from pixelrnn.checkpoint import load_checkpoint
    from pixelrnn.evaluate import evaluate, stored_data_config
    from pixelrnn.export import export_model, model_card
    from pixelrnn.pretrained import CARD_NAME, CONFIG_NAME, MODELS_DIR
    from pixelrnn.training.recipes import get_recipe

    checkpoint = runs_root / run.folder / "best.pt"
    recipe = get_recipe(run.recipe)
    data = stored_data_config(load_checkpoint(checkpoint), str(data_root / run.data_file))
    _say(f"{run.folder}: exact test NLL of {checkpoint}")
    test = evaluate(checkpoint, "test", data, device="cpu").result
    _say(f"{run.folder}: test {_figures(test)}")
    check = evaluate(checkpoint, "test", replace(data, max_test_images=check_images), device="cpu").result
    folder = export_model(checkpoint, MODELS_DIR / run.pretrained)
    config = json.loads((folder / CONFIG_NAME).read_text())
    config["data"]["config"]["path"] = None  # the user's copy: --data-path
    config["parameters"] = sum(int(math.prod(shape)) for shape in _weight_shapes(folder))
    command = f"pixelrnn train --recipe {recipe.key} --data-path {run.data_file} --device cpu"
    config["pretrained"] = {
        "recipe": recipe.key, "source": recipe.source, "source_short": run.table, "row": recipe.row,
        "paper_figure": recipe.target, "unit": recipe.unit, "data": recipe.data["name"],
        "test": _figures(test), "check": _figures(check), "compute": compute_used(runs_root / run.folder),
        "command": command, "planned_epochs": recipe.train.get("epochs")}
    if recipe.conditional:
        _say(f"{run.folder}: likelihood classification of the test images, then the FID of {FID_SAMPLES} samples")
        config["pretrained"]["conditional"] = conditional_figures(checkpoint, data)
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    (folder / CARD_NAME).write_text(model_card(config, _figures(test)) + _card_section(config))
    for path in folder.iterdir():
        path.chmod(0o644)
    _say(f"{run.folder}: exported to {folder}; drawing the page's samples")
    _sample_grid(run, state, per_class=recipe.conditional)
    print(f"shipped {run.pretrained}: {_figures(test)}")
    return folder


def conditional_figures(checkpoint: Path, data) -> dict[str, object]:
    """A class-conditional model's test classification (argmax of log p(x | y) + log p(y)) and its FID against
    the test images, with features of a classifier trained on the same classes."""
    from pixelrnn.classify import classify
    from pixelrnn.experiments.fid import fid

    result = classify(checkpoint, "test", data, device="cpu")
    distance = fid(checkpoint, data, num_samples=FID_SAMPLES, features="classifier", device="cpu")
    return {"accuracy": result.accuracy, "confusion": result.confusion.tolist(),
            "bits_per_dim_per_class": result.bits_per_dim_per_class.tolist(),
            "marginal_bits_per_dim": result.marginal_bits_per_dim, "fid": distance.value,
            "fid_samples": distance.num_samples, "fid_reference_images": distance.num_reference,
            "fid_classifier_accuracy": distance.classifier_accuracy}


def _sample_grid(run: Run, state: Path, per_class: bool = False) -> None:
    """Samples of the shipped model drawn by ``pixelrnn sample NAME`` (16, or 25 of each class, a row per class),
    as the page's picture."""
    out = state / run.folder / "samples.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    count = ["--per-class", str(SAMPLES_PER_CLASS)] if per_class else ["-n", "16"]
    subprocess.run([sys.executable, "-m", "pixelrnn", "sample", run.pretrained, *count, "--seed", "0",
                    "--device", "cpu", "--out", str(out)], check=True)
    out.with_suffix(".npz").unlink(missing_ok=True)


def _say(message: str) -> None:
    """One progress line, shown at once: shipping a large model takes most of an hour on a CPU."""
    print(message, flush=True)


def _figures(result) -> dict[str, float]:
    return {"nats_per_image": result.nats_per_image, "bits_per_dim": result.bits_per_dim,
            "num_images": result.num_images}


def _weight_shapes(folder: Path) -> list[tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as weights:
        return [tuple(weights.get_slice(name).get_shape()) for name in weights.keys()]  # noqa: SIM118


MACHINES_FILE = "machines.jsonl"  # a line per start or resume: {"time", "machine": lscpu's model, "threads"}


def record_machine(folder: Path, threads: int = 1) -> None:
    """Append this machine and the run's thread count to its ``machines.jsonl`` as it starts or resumes, so that
    a run spanning sessions on different machines states each machine's share of the compute."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / MACHINES_FILE).open("a") as machines:
        machines.write(json.dumps({"time": time.time(), "machine": machine_name(), "threads": threads}) + "\n")


def compute_used(folder: Path) -> dict[str, object]:
    """Training time from metrics.jsonl in CPU (thread) hours (gaps over 10 minutes, i.e. pauses between sessions,
    left out), and the machines that trained it: each machine's CPU hours and the epochs it finished."""
    lines = read_metrics(folder)
    starts = sorted((record["time"], record["machine"], record.get("threads", 1))
                    for record in read_json_lines(folder / MACHINES_FILE))
    hours: dict[str, float] = {}
    epochs: dict[str, list[int]] = {}
    threads: set[int] = set()  # _threads_text reads an empty set (no timed segment) as one thread
    for earlier, later in pairwise(lines):
        name, count = _machine_at(starts, later["time"])
        if later["time"] - earlier["time"] < 600:
            hours[name] = hours.get(name, 0.0) + count * (later["time"] - earlier["time"]) / 3600
            threads.add(count)
        if later.get("kind") == "valid":
            epochs.setdefault(name, []).append(later["epoch"])
    finished = max((line["epoch"] for line in lines if line.get("kind") == "valid"), default=0)
    machines = [{"machine": name, "cpu_hours": round(hours[name], 2), "epochs": epochs.get(name, [])}
                for name in sorted(hours, key=lambda name: min(epochs.get(name, [10**9])))]
    return {"cpu_hours": round(sum(hours.values()), 2), "machine": machines_text(machines), "machines": machines,
            "threads": max(threads, default=1), "threads_text": _threads_text(threads), "epochs": finished,
            "date": datetime.date.today().isoformat()}


def _machine_at(starts: list[tuple[float, str, int]], moment: float) -> tuple[str, int]:
    """The machine and thread count of the last start before ``moment`` (before any: "unrecorded CPU", 1)."""
    earlier = [(name, threads) for started, name, threads in starts if started <= moment]
    return earlier[-1] if earlier else ("unrecorded CPU", 1)


def _threads_text(threads: set[int]) -> str:
    """``1 thread``, ``2 threads``, ``1-2 threads``."""
    low, high = min(threads, default=1), max(threads, default=1)
    return f"{low} thread" if high == 1 else f"{low}-{high} threads" if low != high else f"{high} threads"


def machines_text(machines: list[dict]) -> str:
    """``Intel Xeon`` for one machine; ``AMD EPYC (epochs 1-3, 2.1 h) and Intel Xeon (epochs 4-8, 3.5 h)``."""
    if len(machines) == 1:
        return machines[0]["machine"]
    parts = []
    for share in machines:
        done = share["epochs"]
        span = "no epoch finished" if not done else f"epoch{'s' * (len(done) > 1)} {_spans(done)}"
        parts.append(f"{share['machine']} ({span}, {share['cpu_hours']:.1f} h)")
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _spans(epochs: list[int]) -> str:
    """``1-3 and 14-50`` for epochs 1, 2, 3, 14, …, 50 (``7`` for one epoch)."""
    runs: list[list[int]] = []
    for epoch in epochs:
        if runs and epoch == runs[-1][-1] + 1:
            runs[-1].append(epoch)
        else:
            runs.append([epoch])
    texts = [f"{run[0]}" if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs]
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " and " + texts[-1]


def machine_name() -> str:
    """lscpu's model name of this machine."""
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown CPU"


def _card_section(config: dict) -> str:
    info, compute = config["pretrained"], config["pretrained"]["compute"]
    figure = "none stated" if info["paper_figure"] is None else f"{info['paper_figure']:.2f} {info['unit']}"
    return f"""
## Reproduction

- Row: {info['source']}, {info['row']} — the paper's (report's) figure: {figure}.
- Recipe: `{info['recipe']}` (`pixelrnn recipes {info['recipe'].split('@')[0]}` lists every setting).
- Data: {info['data']}, the test split's {info['test']['num_images']:,} images; pass your copy with `--data-path`.
- Measured: `pixelrnn eval NAME --data-path …` gives {info['test']['nats_per_image']:.4f} nats/image =
  {info['test']['bits_per_dim']:.5f} bits/dim; the first {info['check']['num_images']} test images give
  {info['check']['nats_per_image']:.4f} nats/image (checked by the test suite).
- Compute: {compute['cpu_hours']} CPU hours, {epochs_text(info)}, {compute.get('threads_text', '1 thread')} of
  {compute['machine']}, {compute['date']}.
- Command: `{info['command']}`
{_conditional_lines(info.get("conditional"))}"""


def _conditional_lines(figures: dict | None) -> str:
    """The card's lines on a class-conditional model's classification and FID (nothing for another model)."""
    if figures is None:
        return ""
    return (f"- Classification of the test images by likelihood (`pixelrnn classify NAME`): accuracy "
            f"{figures['accuracy']:.4f}.\n- FID of {figures['fid_samples']:,} samples against the "
            f"{figures['fid_reference_images']:,} test images, with the features of a classifier trained on the "
            f"same classes (test accuracy {figures['fid_classifier_accuracy']:.3f}): {figures['fid']:.2f}.\n")


def epochs_text(info: dict) -> str:
    """``N epochs``, or ``N of M epochs (unfinished)`` for a model shipped before its run ended."""
    done, planned = info["compute"]["epochs"], info.get("planned_epochs", info["compute"]["epochs"])
    return f"{done} epoch{'s' * (done != 1)}" if done >= planned else f"{done} of {planned} epochs (unfinished)"
