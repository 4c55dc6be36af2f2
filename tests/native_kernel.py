"""What the tests of the native kernels share."""

from __future__ import annotations

import shutil

import pytest

from pixelrnn.nn import native


def require_native_kernel() -> None:
    """Skip where no C++ compiler or no ninja is installed; fail where both are and a native kernel does not build."""
    if shutil.which("c++") is None or shutil.which("ninja") is None:
        pytest.skip("no C++ compiler or no ninja: the native kernels cannot be built on this machine")
    assert native.diagonal_lstm() is not None, "the native Diagonal LSTM kernel did not build (see the warning)"
    assert native.row_lstm() is not None, "the native Row LSTM kernel did not build (see the warning)"
