"""The process-wide settings every ``pixelrnn`` command makes (pixelrnn.runtime)."""

from __future__ import annotations

import subprocess
import sys

import pytest

FAULTS = """
import resource, sys, torch
from pixelrnn.runtime import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
faults = []
for _ in range(6):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffer = torch.empty(64 * 2 ** 20 // 4)  # a 64 MB step buffer, written, then freed
    buffer.fill_(1.0)
    del buffer
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(kept, *faults)
"""


def _page_faults(mode: str) -> tuple[str, list[int]]:
    printed = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True,
                             timeout=120).stdout.split()
    return printed[0], [int(count) for count in printed[1:]]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_kept_memory_serves_the_next_step_without_page_faults():
    """glibc hands a freed 64 MB block back and faults in fresh zeroed pages at the next allocation (16,384 of
    4 KiB); with keep_freed_memory the later allocations reuse the pages (all but, now and then, one: a small
    allocation of the interpreter's own may land where the block was and make the heap grow once more)."""
    kept, faults = _page_faults("keep")
    _, default_faults = _page_faults("default")
    assert kept == "True"
    assert min(default_faults[1:]) > 10_000  # every allocation faults its pages in again
    assert sum(count < 1_000 for count in faults[1:]) >= 4  # of 5: the same pages, kept
