"""Where a training step's time goes: ``torch.profiler`` over a few steps of a preset, as a table of the CPU's
self time by kind of work (matrix products, convolutions, the native recurrences' own loops, element-wise work,
copies and layout, the optimizer, …) and of the operations that take most of it.

This is the profile behind docs/benchmarks.md's "what bounds it" column: the same training step as
``pixelrnn bench`` (``pixelrnn.experiments.bench.training_steps``: forward, exact NLL, backward, the preset's
optimizer, on random images), after warm-up steps. Self time is the time an operation spends outside the
operations it calls, so the shares add up to the step; with several threads it is summed over the threads that
call operations (the Diagonal BiLSTM's two directions call theirs from two threads), while an operation's own
worker threads (oneDNN's, MKL's) are inside its time. Run it on a quiet machine. Usage:

    python benchmarks/profile_step.py --model diagonal-bilstm-mnist --image-shape 1x28x28 --levels 2 \\
        --batch-size 64 [--threads 2] [--steps 3] [--precision bf16] [--top 12]
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from pixelrnn.experiments.bench import machine_description, training_steps

# Kinds of work, by the first pattern found in an operation's name (lower case); the rest is "other".
KINDS = (
    ("native recurrence loop (cell, gathers; its products are counted as products)",
     ("native", "rowlstmrecurrence", "diagonallstmrecurrence")),
    ("optimizer (update of every parameter)", ("optimizer.", "_foreach", "addcdiv", "addcmul", "lerp", "sqrt")),
    ("matrix products", ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul", "aten::linear")),
    ("convolutions (oneDNN), forward and backward", ("convolution", "conv2d", "mkldnn")),
    ("copies, layout, concatenation, fill", ("copy_", "aten::cat", "fill_", "zero_", "aten::contiguous", "clone",
                                             "aten::to", "index", "gather", "scatter", "stack", "pad", "roll")),
    ("loss (log-softmax / log-sigmoid, NLL)", ("softmax", "log_sigmoid", "nll", "logsumexp", "binary_cross",
                                                "sigmoid_backward", "softplus")),
    ("element-wise (activations, adds, masks)", ("relu", "threshold", "aten::add", "aten::mul", "aten::sub",
                                                  "aten::div", "sigmoid", "tanh", "aten::sum", "elu", "neg",
                                                  "aten::exp", "where", "clamp")),
)


def kind_of(name: str) -> str:
    lowered = name.lower()
    return next((kind for kind, patterns in KINDS if any(pattern in lowered for pattern in patterns)), "other")


def profile_steps(arguments: argparse.Namespace) -> list[tuple[str, float, int]]:
    """(operation, self CPU seconds per step, calls per step) of the profiled training steps."""
    shape = tuple(int(size) for size in arguments.image_shape.split("x"))
    steps = training_steps(arguments.model, shape, arguments.levels, arguments.batch_size, "cpu",
                           precision=arguments.precision)
    steps.network.train()
    for _ in range(arguments.warmup):
        steps.train_step()
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(arguments.steps):
            steps.train_step()
    return [(event.key, event.self_cpu_time_total / 1e6 / arguments.steps, event.count // arguments.steps)
            for event in profiler.key_averages()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--image-shape", default="3x32x32")
    parser.add_argument("--levels", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--top", type=int, default=12)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    operations = profile_steps(arguments)
    total = sum(seconds for _, seconds, _ in operations)
    by_kind: dict[str, float] = defaultdict(float)
    for name, seconds, _ in operations:
        by_kind[kind_of(name)] += seconds
    print(f"{arguments.model}, {arguments.image_shape}, {arguments.levels} levels, batch {arguments.batch_size}, "
          f"{arguments.precision}; {machine_description('cpu')}")
    print(f"profiled training step: {total * 1e3:.1f} ms of operations' self time (mean of {arguments.steps} "
          "steps)\n")
    print("| kind of work | ms per step | share |\n|---|---|---|")
    for kind, seconds in sorted(by_kind.items(), key=lambda item: -item[1]):
        print(f"| {kind} | {seconds * 1e3:.1f} | {seconds / total:.1%} |")
    print("\n| operation | kind | calls per step | ms per step | share |\n|---|---|---|---|---|")
    for name, seconds, calls in sorted(operations, key=lambda item: -item[1])[:arguments.top]:
        print(f"| `{name}` | {kind_of(name).split(' (')[0]} | {calls} | {seconds * 1e3:.1f} | {seconds / total:.1%} |")


if __name__ == "__main__":
    main()
