"""Extrapolating a run's validation curve, for ``reproduce.py extrapolate``: where a run at a constant learning rate
is heading, and whether (and after how many epochs) it would reach the paper's figure.

The curve is fitted by v(e) = a + b·e^(−c) (b, c > 0) over the epochs e = 1, 2, … of the validation NLL, the usual
power law of a loss against training time: ``a`` is where the run levels off, ``c`` how fast it gets there. The fit
is least squares over a grid of c (a and b are then linear), so it is deterministic and needs only numpy. It says
nothing for a run whose rate is annealed to the end (a cosine schedule bends the curve down by the schedule, not by
training time), and it extrapolates the validation figure, not the test figure a paper reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXPONENTS = np.geomspace(0.02, 4.0, 2000)  # the grid of c


@dataclass(frozen=True)
class PowerLawFit:
    """v(e) = level + scale·e^(−exponent), fitted to ``points`` (epoch, value) pairs; ``rms`` its residual."""

    level: float
    scale: float
    exponent: float
    rms: float
    points: int

    def at(self, epoch: float) -> float:
        return self.level + self.scale * epoch ** -self.exponent

    def epoch_reaching(self, target: float) -> float | None:
        """The epoch at which the fitted curve falls to ``target``; None if it levels off above it."""
        if target <= self.level or self.scale <= 0:
            return None
        return (self.scale / (target - self.level)) ** (1 / self.exponent)


def fit_power_law(epochs: list[float], values: list[float]) -> PowerLawFit:
    """Least-squares v(e) = a + b·e^(−c) through (epoch, value) pairs, epochs ≥ 1, at least four of them.

    Raises:
        ValueError: fewer than four points, or an epoch below 1.
    """
    e, v = np.asarray(epochs, dtype=float), np.asarray(values, dtype=float)
    if len(e) < 4 or (e < 1).any():
        raise ValueError(f"a power-law fit needs at least four epochs >= 1, got {list(epochs)}")
    best: tuple[float, float, float, float] | None = None
    for c in EXPONENTS:
        design = np.stack([np.ones_like(e), e ** -c], axis=1)
        (a, b), *_ = np.linalg.lstsq(design, v, rcond=None)
        error = float(np.sum((design @ np.array([a, b]) - v) ** 2))
        if b > 0 and (best is None or error < best[3]):
            best = (float(a), float(b), float(c), error)
    if best is None:  # the curve rises: no decreasing power law fits it
        return PowerLawFit(float(v.mean()), 0.0, 1.0, float(v.std()), len(e))
    a, b, c, error = best
    return PowerLawFit(a, b, c, (error / len(e)) ** 0.5, len(e))


def describe(fit: PowerLawFit, epochs_done: int, final_epoch: int, target: float | None, unit: str,
             hours_per_epoch: float | None) -> str:
    """One paragraph of what the fit says: the level, the figure at the recipe's last epoch, the target's epoch."""
    digits = 2 if unit == "nats/image" else 3
    curve = f"{fit.level:.{digits}f} + {fit.scale:.{digits}f}·e^-{fit.exponent:.2f}"
    text = (f"fit over {fit.points} epochs: v(e) = {curve} (rms {fit.rms:.{digits}f}); at epoch {final_epoch}: "
            f"{fit.at(final_epoch):.{digits}f} {unit}")
    if target is None:
        return text
    reached = fit.epoch_reaching(target)
    if reached is None:
        return text + f"; levels off at {fit.level:.{digits}f}, above the paper's {target:.{digits}f}: not at this rate"
    text += f"; reaches the paper's {target:.{digits}f} at epoch {reached:.0f}"
    if hours_per_epoch is not None and reached > epochs_done:
        text += f", {(reached - epochs_done) * hours_per_epoch:.1f} CPU h from here"
    return text
