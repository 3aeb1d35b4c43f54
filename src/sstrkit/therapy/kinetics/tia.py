"""Time-integrated activity: integration, extrapolation to infinity, uncertainty.

* :func:`trapezoid_tia` — trapezoidal rule between points, a start segment from
  t = 0 and an exponential tail to infinity (physical or fitted rate), with a
  linearly propagated standard deviation.
* :func:`multi_exponential_tia` — analytic integral of a sum of exponentials.
* :func:`delta_method_tia` — TIA of fitted models and its standard deviation
  var = gᵀCg with g = ∂TIA/∂θ (the delta method).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from sstrkit.errors import InvalidInputError
from sstrkit.physics.decay import HalfLife, half_life_of
from sstrkit.therapy.kinetics.data import ErrorModel, _as_batch
from sstrkit.therapy.kinetics.models import _LN2, BoolArray, FloatArray, _Model

__all__ = [
    "StartMode",
    "TailMode",
    "delta_method_tia",
    "multi_exponential_tia",
    "trapezoid_tia",
]

TailMode = Literal["physical", "fitted"]
StartMode = Literal["zero", "constant"]


def trapezoid_tia(
    times_s: ArrayLike,
    activities_bq: ArrayLike,
    half_life: HalfLife,
    *,
    tail: TailMode = "physical",
    start: StartMode = "zero",
    sigma_bq: ArrayLike | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, BoolArray]:
    """Trapezoid TIA with a tail to infinity, vectorised over curves.

    Returns ``(tia_bq_s, tia_sd_bq_s, t_eff_s, tail_clamped)`` each of shape
    (m,). The standard deviation propagates ``sigma_bq`` (default 10 %
    relative) linearly (exact for the physical tail, first order otherwise).

    Examples
    --------
    >>> t = np.array([3600.0, 7200.0])
    >>> tia, sd, teff, _ = trapezoid_tia(t, np.array([[2.0, 1.0]]), 3600.0)
    >>> float(tia[0]) == 0.5 * 2 * 3600 + 1.5 * 3600 + 1.0 * 3600 / math.log(2)
    True
    """
    t, y = _as_batch(times_s, activities_bq)
    if tail not in ("physical", "fitted"):
        raise InvalidInputError("tail", expected="'physical' or 'fitted'", actual=tail)
    if start not in ("zero", "constant"):
        raise InvalidInputError("start", expected="'zero' or 'constant'", actual=start)
    sig = ErrorModel().sigma(y) if sigma_bq is None else np.broadcast_to(sigma_bq, y.shape)
    lam_p = _LN2 / half_life_of(half_life)
    m, n = y.shape
    # weights w_i such that the integral up to t_n is Σ w_i y_i
    w = np.zeros((m, n))
    dt = np.diff(t, axis=1)
    w[:, :-1] += dt / 2
    w[:, 1:] += dt / 2
    w[:, 0] += t[:, 0] * (0.5 if start == "zero" else 1.0)
    area = np.einsum("mn,mn->m", w, y)
    grad = w.copy()
    lam = np.full(m, lam_p)
    clamped = np.zeros(m, dtype=bool)
    if tail == "fitted" and n >= 2:
        y1, y2, d = y[:, -2], y[:, -1], t[:, -1] - t[:, -2]
        with np.errstate(divide="ignore", invalid="ignore"):
            lam_fit = np.log(y1 / y2) / d
        usable = np.isfinite(lam_fit) & (y2 > 0) & (y1 > 0)
        clamped = ~usable | (lam_fit < lam_p)
        lam = np.where(clamped, lam_p, lam_fit)
        tail_val = y2 / lam
        # d(tail)/dy2 = 1/λ + 1/(λ² d); d(tail)/dy1 = −y2/(λ² d y1)   (unclamped only)
        with np.errstate(divide="ignore", invalid="ignore"):
            g2 = np.where(clamped, 1.0 / lam, 1.0 / lam + 1.0 / (lam**2 * d))
            g1 = np.where(clamped, 0.0, -y2 / (lam**2 * d * y1))
        grad[:, -1] += g2
        grad[:, -2] += np.nan_to_num(g1)
    else:
        tail_val = y[:, -1] / lam
        grad[:, -1] += 1.0 / lam
    tia = area + tail_val
    sd = np.sqrt(np.einsum("mn,mn->m", grad**2, sig**2))
    return tia, sd, _LN2 / lam, clamped


def multi_exponential_tia(
    amplitudes_bq: Sequence[float], rates_per_s: Sequence[float], *, end_s: float = math.inf
) -> float:
    """∫₀^end Σ aᵢ e^(−λᵢ t) dt for signed amplitudes (analytic).

    >>> lam = [math.log(2) / 3600, math.log(2) / 360]
    >>> multi_exponential_tia([1.0, -1.0], lam) == 3600 / math.log(2) - 360 / math.log(2)
    True
    """
    if len(amplitudes_bq) != len(rates_per_s):
        raise InvalidInputError(
            "exponential terms",
            expected="one rate per amplitude",
            actual=(len(amplitudes_bq), len(rates_per_s)),
        )
    total = 0.0
    for a, lam in zip(amplitudes_bq, rates_per_s, strict=True):
        if not (math.isfinite(lam) and lam > 0):
            raise InvalidInputError("rate", expected="a finite value > 0 s⁻¹", actual=lam)
        tail = 0.0 if math.isinf(end_s) else math.exp(-lam * end_s)
        total += a / lam * (1.0 - tail)
    return total


# ----------------------------------------------------------------- single curve


def delta_method_tia(
    model: _Model, params: FloatArray, cov: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """(TIA 0–∞, its standard deviation) of ``model`` at ``params`` (m, p) with covariance ``cov``.

    The integral is analytic; var = gᵀCg with g = ∂TIA/∂θ (negative variances
    from rounding are set to 0).
    """
    tia, grad = model.tia(params)
    with np.errstate(invalid="ignore"):
        var = np.einsum("mj,mjk,mk->m", grad, cov, grad)
    tia_sd = np.sqrt(np.maximum(var, 0.0))
    return tia, tia_sd
