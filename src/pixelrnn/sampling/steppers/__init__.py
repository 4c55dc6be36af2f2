"""Incremental steppers, one module per family (or group of families), found by what they declare.

Each :class:`~pixelrnn.sampling.steppers.common.Stepper` subclass names the model class it evaluates in its
``steps`` attribute; :func:`find_stepper` looks it up among every subclass defined — the modules of this package,
all imported here, and any other imported module — so no list of steppers is kept anywhere else.
"""

from __future__ import annotations

import importlib
import pkgutil

from torch import nn

from pixelrnn.sampling.steppers.common import Stepper

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


def find_stepper(model: nn.Module) -> type[Stepper] | None:
    """The stepper class that declares ``steps = type(model)`` (exactly that class), or None if there is none."""
    pending, found = list(Stepper.__subclasses__()), None
    while pending:
        stepper = pending.pop()
        pending.extend(stepper.__subclasses__())
        if stepper.steps is type(model):
            found = stepper
    return found


__all__ = ["Stepper", "find_stepper"]
