"""Time–activity data: input validation and the measurement error model.

:class:`ErrorModel` gives the standard deviation σ of every measured activity
(the fit weights are 1/σ²). The validators turn times and activities into
(m, n) arrays and reject what cannot be fitted or integrated (non-finite,
negative or unordered times; non-finite, negative or all-zero activities; fewer
points than model parameters) with :class:`~sstrkit.errors.InvalidInputError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import ArrayLike

from sstrkit.errors import InvalidInputError
from sstrkit.therapy.kinetics.models import MODELS, BoolArray, FloatArray

__all__ = ["ErrorModel", "Weighting"]

Weighting = Literal["relative", "uniform"]


@dataclass(frozen=True)
class ErrorModel:
    """Measurement standard deviation used as weights (w = 1/σ²).

    Parameters
    ----------
    weighting
        ``"relative"``: σᵢ = cv·yᵢ; ``"uniform"``: σᵢ = cv·max(y).
    cv
        Coefficient of variation of one measurement (default 0.10).
    floor_fraction
        σ is at least ``cv·floor_fraction·max(y)`` (keeps zeros usable).

    Examples
    --------
    >>> ErrorModel().sigma(np.array([[10.0, 5.0, 0.0]])).tolist()
    [[1.0, 0.5, 0.01]]
    """

    weighting: Weighting = "relative"
    cv: float = 0.10
    floor_fraction: float = 0.01

    def __post_init__(self) -> None:
        if self.weighting not in ("relative", "uniform"):
            raise InvalidInputError(
                "weighting", expected="'relative' or 'uniform'", actual=self.weighting
            )
        if not (math.isfinite(self.cv) and self.cv > 0):
            raise InvalidInputError("cv", expected="a finite value > 0", actual=self.cv)
        if not (math.isfinite(self.floor_fraction) and 0 < self.floor_fraction <= 1):
            raise InvalidInputError(
                "floor_fraction", expected="a value in (0, 1]", actual=self.floor_fraction
            )

    def sigma(self, y: FloatArray) -> FloatArray:
        """σ for data y of shape (m, n)."""
        ymax = np.max(y, axis=-1, keepdims=True)
        floor = self.cv * self.floor_fraction * ymax
        if self.weighting == "relative":
            return cast(FloatArray, np.maximum(self.cv * y, floor))
        return cast(FloatArray, np.broadcast_to(self.cv * ymax, y.shape).copy())

    def to_dict(self) -> dict[str, Any]:
        return {"weighting": self.weighting, "cv": self.cv, "floor_fraction": self.floor_fraction}


# ------------------------------------------------------------------------ validation


def _as_batch(times_s: ArrayLike, activities_bq: ArrayLike) -> tuple[FloatArray, FloatArray]:
    y = np.asarray(activities_bq, dtype=float)
    if y.ndim == 1:
        y = y[None, :]
    t = np.asarray(times_s, dtype=float)
    if t.ndim == 1 and y.ndim == 2 and t.shape[0] == y.shape[1]:
        t = np.broadcast_to(t, y.shape)
    if y.ndim != 2 or t.shape != y.shape:
        raise InvalidInputError(
            "time–activity data",
            expected="times (n,) or (m, n) and activities (m, n) of matching shape",
            actual=f"times {np.shape(times_s)}, activities {np.shape(activities_bq)}",
            fix="give one time per activity value",
        )
    _validate(t, y)
    return np.ascontiguousarray(t), np.ascontiguousarray(y)


def _bad_rows(mask: BoolArray) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(int(i)) for i in rows[:5])
    return f"curve(s) {shown}" + (" …" if rows.size > 5 else "")


def _validate(t: FloatArray, y: FloatArray) -> None:
    if y.shape[1] < 1:
        raise InvalidInputError("time points", expected="at least 1", actual=0)
    bad = ~np.all(np.isfinite(t), axis=1)
    if bad.any():
        raise InvalidInputError(
            "times", expected="finite numbers", actual=_bad_rows(bad), fix="remove NaN/inf times"
        )
    bad = np.any(t < 0, axis=1)
    if bad.any():
        raise InvalidInputError(
            "times",
            expected="times ≥ 0 after administration",
            actual=f"negative time in {_bad_rows(bad)}",
            fix="give times relative to the administration",
        )
    bad = np.any(np.diff(t, axis=1) <= 0, axis=1)
    if bad.any():
        raise InvalidInputError(
            "times",
            expected="strictly increasing times",
            actual=f"repeated or decreasing times in {_bad_rows(bad)}",
            fix="sort the time points and merge duplicate measurements",
        )
    bad = ~np.all(np.isfinite(y), axis=1)
    if bad.any():
        raise InvalidInputError(
            "activities", expected="finite numbers", actual=_bad_rows(bad), fix="remove NaN/inf"
        )
    bad = np.any(y < 0, axis=1)
    if bad.any():
        raise InvalidInputError(
            "activities",
            expected="activities ≥ 0",
            actual=f"negative activity in {_bad_rows(bad)}",
            fix="check background subtraction; negative activity is not physical",
        )
    bad = np.all(y == 0, axis=1)
    if bad.any():
        raise InvalidInputError(
            "activities",
            expected="at least one activity > 0",
            actual=f"all zero in {_bad_rows(bad)}",
            fix="a region without activity has TIA 0; do not fit it",
        )


def _check_points(name: str, n: int) -> None:
    k = MODELS[name].n_params
    if n < k:
        raise InvalidInputError(
            f"number of time points for model {name!r}",
            expected=f"at least {k} (one per parameter)",
            actual=n,
            fix="use a model with fewer parameters (mono, trapezoid) or add time points",
        )
