"""Exceptions that mean "the user gave us something wrong".

The command line prints these as one line and exits non-zero; anything else is a bug and keeps its traceback.
"""


class PixelRNNError(Exception):
    """Base class of every user-facing error raised by the library."""


class ConfigError(PixelRNNError, ValueError):
    """An invalid configuration value (unknown name, out-of-range number, incompatible fields)."""


class DataError(PixelRNNError):
    """A data set that is missing, corrupt, or does not fit the model."""


class CheckpointError(PixelRNNError):
    """A checkpoint that is missing, corrupt, or was written by an incompatible version."""
