"""Native CPU kernels, compiled on first use with the machine's C++ compiler (``torch.utils.cpp_extension``).

The library works without them: :func:`diagonal_lstm` returns ``None`` where no compiler is found, where the build
fails (a warning says why, once), or where ``PIXELRNN_NATIVE=0`` turns them off, and the callers keep their
PyTorch loop. The build is cached by PyTorch (``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``): the
first use on a machine compiles for about a minute, later ones load in a second. The vector instructions are
chosen from what PyTorch itself uses on this CPU (``torch.backends.cpu.get_cpu_capability()``): AVX2 builds where
it reports AVX2 or AVX512, a portable build elsewhere; the name of the build says which.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import warnings
from pathlib import Path
from types import ModuleType

import torch

_SOURCES = Path(__file__).parent
logger = logging.getLogger("pixelrnn")
_VECTOR_FLAGS = {"AVX2": ["-mavx2", "-mfma", "-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2"]}


def enabled() -> bool:
    """False where ``PIXELRNN_NATIVE=0`` turns the native kernels off."""
    return os.environ.get("PIXELRNN_NATIVE", "1") != "0"


def _vector_isa() -> str:
    capability = torch.backends.cpu.get_cpu_capability()
    return "AVX2" if capability in ("AVX2", "AVX512") else "DEFAULT"


def _built(cpp_extension: ModuleType, extension: str) -> bool:
    """Whether PyTorch's cache already holds the build (so loading takes a second); True where it cannot tell."""
    try:
        folder = Path(cpp_extension._get_build_directory(extension, False))  # private: may change between versions
    except (AttributeError, TypeError):
        return True
    return (folder / f"{extension}.so").is_file()


@functools.cache
def _build(name: str) -> ModuleType | None:
    if shutil.which(os.environ.get("CXX", "c++")) is None:
        return None
    from torch.utils import cpp_extension

    isa = _vector_isa()
    extension = f"pixelrnn_{name}_{isa.lower()}"
    if not _built(cpp_extension, extension):
        logger.info("pixelrnn: compiling the native %s loop (once on this machine, about a minute)", name)
    try:
        return cpp_extension.load(name=extension, sources=[str(_SOURCES / f"{name}.cpp")],
                                  extra_include_paths=[str(_SOURCES)],
                                  extra_cflags=["-O3", *_VECTOR_FLAGS.get(isa, [])], verbose=False)
    except Exception as error:  # noqa: BLE001 — any build failure leaves the PyTorch loop in place
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        warnings.warn(f"pixelrnn: the native {name} kernel did not build ({first_line}); using the PyTorch loop",
                      RuntimeWarning, stacklevel=3)
        return None


def diagonal_lstm() -> ModuleType | None:
    """The Diagonal BiLSTM's LSTM recurrence on a raster map (``raster_forward``, ``raster_backward``; see
    ``diagonal_lstm.cpp``), or None."""
    return _build("diagonal_lstm") if enabled() else None


def row_lstm() -> ModuleType | None:
    """The Row LSTM's LSTM recurrence (``forward``, ``backward``; see ``row_lstm.cpp``), or None."""
    return _build("row_lstm") if enabled() else None


def usable(like: torch.Tensor) -> bool:
    """Whether a native kernel may take ``like``'s computation: a float32 / float64 CPU tensor, outside any
    ``TorchDispatchMode`` (``FlopCounterMode`` of ``pixelrnn bench --mfu``: a kernel's worker threads would not
    report their products to the mode; the PyTorch loops take the same products)."""
    from torch.utils._python_dispatch import is_in_torch_dispatch_mode

    return like.device.type == "cpu" and like.dtype in (torch.float32, torch.float64) and \
        not is_in_torch_dispatch_mode()
