"""Time–activity kinetics: exponential fits, model selection and time-integrated activity.

A region's (organ, lesion, whole body, blood) activity ``A(t)`` measured at a few
times after administration is described by a sum of exponentials. The activity
is **not** decay corrected, so every clearance rate includes physical decay.

Models (``t`` in s from administration, amplitudes in Bq, rates in s⁻¹):

===========  =========================================  ==========  =========
name         A(t)                                       parameters  TIA (0–∞)
===========  =========================================  ==========  =========
mono         a1·e^(−λ1 t)                               2           a1/λ1
bi_uptake    a1·(e^(−λ1 t) − e^(−λ2 t)),  λ2 > λ1        3           a1(1/λ1 − 1/λ2)
bi           a1·e^(−λ1 t) + a2·e^(−λ2 t), λ2 ≥ λ1        4           Σ ai/λi
tri          Σ_{i=1..3} ai·e^(−λi t),     λ1 ≤ λ2 ≤ λ3   6           Σ ai/λi
===========  =========================================  ==========  =========

Fitting
    Weighted least squares, minimising χ² = Σ ((A(tᵢ) − yᵢ)/σᵢ)² with a stated
    error model (:class:`ErrorModel`): ``"relative"`` (σᵢ = cv·yᵢ, default cv
    = 10 %, the usual model for quantitative SPECT where the relative error is
    roughly constant) or ``"uniform"`` (σᵢ = cv·max y). A floor of
    ``floor_fraction``·max y keeps zero-valued points finite-weighted. The
    minimiser is a vectorised, bound-projected Levenberg–Marquardt that fits
    many curves at once (:func:`fit_batch`); :func:`fit_curve` uses the same
    engine for one curve.
Constraints
    Times must be finite, ≥ 0 and strictly increasing; activities finite and
    ≥ 0 and not all zero; a model needs at least as many points as parameters.
    Violations raise :class:`~sstrkit.errors.InvalidInputError`. Amplitudes are
    ≥ 0. No rate may be slower than physical decay (λ ≥ λ_phys): a fit that
    wants to go slower is *clamped* to λ_phys, a warning is issued and recorded
    in provenance, and the clamped rate is treated as fixed in the covariance.
Model selection (``model="auto"``)
    AICc = χ² + 2k + 2k(k+1)/(n − k − 1) (Akaike's criterion with the Hurvich–
    Tsai small-sample correction, σ known from the error model; Burnham &
    Anderson 2002, *Model Selection and Multimodel Inference*, §2.4). It is
    defined only when n ≥ k + 2, so ``auto`` considers only those models (with
    4 points: mono only — ask for ``bi_uptake`` explicitly if you need it).
    A fit whose amplitude or rate-ordering bound is active (the model has
    collapsed onto a simpler one) or that did not converge is reported but not
    selectable. Parsimony rule: among the selectable models whose AICc is within
    ``delta_aicc`` (default 2, "substantial support", Burnham & Anderson §2.6)
    of the minimum, the one with fewest parameters wins. Fallbacks, recorded in
    provenance: no selectable model with a defined AICc → the simplest
    converged model; nothing converged → trapezoid with a physical tail.
Trapezoid (``model="trapezoid"``)
    Trapezoidal rule between points; from t = 0 to the first point either a
    straight line from A(0) = 0 (``start="zero"``, default) or a constant
    A(t₁) (``start="constant"``); a tail to infinity from the last point with
    the physical decay constant (``tail="physical"``) or the mono-exponential
    rate through the last two points (``tail="fitted"``, clamped to physical).
TIA and its uncertainty
    TIA is integrated analytically from 0 to ∞ (the exponential is assumed to
    hold back to t = 0). Its standard deviation comes from the delta method,
    var = gᵀCg with g = ∂TIA/∂θ and C = (JᵀWJ)⁻¹·max(1, χ²/(n − k)) (the
    covariance is inflated when the scatter exceeds the error model, never
    deflated). Optionally a parametric bootstrap refits ``bootstrap`` simulated
    data sets (same model, same error model).
Effective half-life
    ``t_eff_s`` is ln 2 / λ of the slowest (terminal) component — for
    ``bi_uptake`` the clearance phase; for the trapezoid, the tail rate.

Examples
--------
>>> import math
>>> import numpy as np
>>> t_h = np.array([4.0, 24.0, 96.0, 168.0])
>>> a = 100e6 * np.exp(-np.log(2) * t_h / 60.0)          # T_eff = 60 h, 100 MBq
>>> fit = fit_curve(t_h * 3600, a, half_life=6.647 * 86400, model="mono")
>>> round(fit.t_eff_s / 3600, 6), round(fit.tia_bq_s / (100e6 * 60 * 3600 / math.log(2)), 6)
(60.0, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sstrkit.core.provenance import Step
from sstrkit.errors import InvalidInputError
from sstrkit.physics.decay import HalfLife, half_life_of

__all__ = [
    "MODELS",
    "BatchFit",
    "ErrorModel",
    "KineticsFit",
    "ModelName",
    "fit_batch",
    "fit_curve",
    "multi_exponential_tia",
    "trapezoid_tia",
]

ModelName = Literal["mono", "bi_uptake", "bi", "tri"]
Method = Literal["auto", "mono", "bi_uptake", "bi", "tri", "trapezoid"]
Weighting = Literal["relative", "uniform"]
TailMode = Literal["physical", "fitted"]
StartMode = Literal["zero", "constant"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_LN2: Final = math.log(2.0)
_SOURCES: Final = (
    "Burnham KP, Anderson DR. Model Selection and Multimodel Inference, 2nd ed. 2002 (AICc)",
    "Glatting G et al. Med Phys 2007;34:4285 (AICc for time-activity curves)",
)


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class _Model:
    """A sum of exponential terms ``sign·θ[amp]·exp(−θ[rate]·t)``."""

    name: str
    param_names: tuple[str, ...]
    amp_idx: tuple[int, ...]  # index of the amplitude parameters
    rate_idx: tuple[int, ...]  # index of the rate parameters, slowest first
    terms: tuple[tuple[int, float, int], ...]  # (amplitude index, sign, rate index)

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    def evaluate(self, theta: FloatArray, t: FloatArray) -> FloatArray:
        """A(t) for theta (m, p) and t (m, n) → (m, n)."""
        out = np.zeros(np.broadcast_shapes(t.shape, (*theta.shape[:-1], 1)))
        for a, s, r in self.terms:
            out += s * theta[:, a, None] * np.exp(-theta[:, r, None] * t)
        return out

    def jacobian(self, theta: FloatArray, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(A(t), ∂A/∂θ) with shapes (m, n) and (p, m, n)."""
        m, n = t.shape
        f = np.zeros((m, n))
        jac = np.zeros((self.n_params, m, n))
        for a, s, r in self.terms:
            e = np.exp(-theta[:, r, None] * t)
            amp = theta[:, a, None]
            term = amp * e
            f += s * term if s != 1.0 else term
            jac[a] += s * e
            jac[r] -= s * t * term
        return f, jac

    def tia(self, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(∫₀^∞ A dt, its gradient) with shapes (m,) and (m, p)."""
        total = np.zeros(theta.shape[0])
        grad = np.zeros_like(theta)
        for a, s, r in self.terms:
            total += s * theta[:, a] / theta[:, r]
            grad[:, a] += s / theta[:, r]
            grad[:, r] -= s * theta[:, a] / theta[:, r] ** 2
        return total, grad

    def project(self, theta: FloatArray, k_phys: FloatArray) -> FloatArray:
        """Enforce amplitudes ≥ 0, slowest rate ≥ physical, rates ordered."""
        out = theta.copy()
        out[:, list(self.amp_idx)] = np.maximum(out[:, list(self.amp_idx)], 0.0)
        floor = k_phys
        for j, r in enumerate(self.rate_idx):
            out[:, r] = np.maximum(out[:, r], floor)
            if j == 0:
                out[:, r] = np.where(np.isfinite(out[:, r]), out[:, r], floor)
            floor = out[:, r] * (1.0 + _ORDER_GAP)
        return out

    def bounds_active(
        self, theta: FloatArray, k_phys: FloatArray
    ) -> tuple[BoolArray, BoolArray, BoolArray]:
        """(physical clamp active, degenerate (other bound active), per-parameter fixed mask)."""
        fixed = np.zeros(theta.shape, dtype=bool)
        r0 = self.rate_idx[0]
        clamp = theta[:, r0] <= k_phys * (1.0 + _BOUND_TOL)
        fixed[:, r0] = clamp
        degenerate = np.zeros(theta.shape[0], dtype=bool)
        for a in self.amp_idx:
            at0 = theta[:, a] <= _AMP_TOL
            degenerate |= at0
            fixed[:, a] |= at0
        for j in range(1, len(self.rate_idx)):
            prev, cur = theta[:, self.rate_idx[j - 1]], theta[:, self.rate_idx[j]]
            at = cur <= prev * (1.0 + _ORDER_GAP) * (1.0 + _BOUND_TOL)
            degenerate |= at
        return clamp, degenerate, fixed


_ORDER_GAP: Final = 1e-3  # rates must differ by ≥ 0.1 % (identifiability)
_BOUND_TOL: Final = 1e-6  # a parameter within this relative distance is "on the bound"
_AMP_TOL: Final = 1e-9  # scaled amplitude (fraction of max y) counted as zero

MODELS: Final[Mapping[str, _Model]] = MappingProxyType(
    {
        "mono": _Model("mono", ("a1", "lambda1"), (0,), (1,), ((0, 1.0, 1),)),
        "bi_uptake": _Model(
            "bi_uptake",
            ("a1", "lambda1", "lambda2"),
            (0,),
            (1, 2),
            ((0, 1.0, 1), (0, -1.0, 2)),
        ),
        "bi": _Model(
            "bi", ("a1", "lambda1", "a2", "lambda2"), (0, 2), (1, 3), ((0, 1.0, 1), (2, 1.0, 3))
        ),
        "tri": _Model(
            "tri",
            ("a1", "lambda1", "a2", "lambda2", "a3", "lambda3"),
            (0, 2, 4),
            (1, 3, 5),
            ((0, 1.0, 1), (2, 1.0, 3), (4, 1.0, 5)),
        ),
    }
)
_ORDER: Final = ("mono", "bi_uptake", "bi", "tri")


# ----------------------------------------------------------------------- error model


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


# -------------------------------------------------------------------- LM engine


def _solve_small(h: FloatArray, g: FloatArray) -> FloatArray:
    """Solve the stacked p×p systems h·x = g (h symmetric positive definite)."""
    ok = np.all(np.isfinite(h), axis=(1, 2)) & np.all(np.isfinite(g), axis=1)
    if not ok.all():
        h = np.where(ok[:, None, None], h, np.eye(h.shape[1]))
        g = np.where(ok[:, None], g, 0.0)
    return cast(FloatArray, np.linalg.solve(h, g[..., None])[..., 0])


def _amplitudes(
    model: _Model, rates: FloatArray, t: FloatArray, y: FloatArray, w: FloatArray
) -> FloatArray:
    """Weighted linear least-squares amplitudes for given rates (initial guess)."""
    m = t.shape[0]
    theta = np.zeros((m, model.n_params))
    for j, r in enumerate(model.rate_idx):
        theta[:, r] = rates[:, j]
    na = len(model.amp_idx)
    basis = np.zeros((m, t.shape[1], na))
    for a, s, r in model.terms:
        basis[:, :, model.amp_idx.index(a)] += s * np.exp(-theta[:, r, None] * t)
    bw = basis * w[..., None]
    h = np.einsum("mnj,mnk->mjk", bw, basis) + 1e-12 * np.eye(na)
    g = np.einsum("mnj,mn->mj", bw, y)
    amps = _solve_small(h, g)
    for j, a in enumerate(model.amp_idx):
        theta[:, a] = np.where(np.isfinite(amps[:, j]) & (amps[:, j] > 0), amps[:, j], 1.0)
    return theta


def _loglin_rate(t: FloatArray, y: FloatArray, mask: BoolArray) -> FloatArray:
    """−slope of an unweighted fit of ln y on t over the masked points (nan if < 2)."""
    mk = mask & (y > 0)
    cnt = mk.sum(axis=1)
    ly = np.where(mk, np.log(np.where(mk, y, 1.0)), 0.0)
    tm = np.where(mk, t, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mt = tm.sum(1) / cnt
        my = ly.sum(1) / cnt
        sxx = (np.where(mk, (t - mt[:, None]) ** 2, 0.0)).sum(1)
        sxy = (np.where(mk, (t - mt[:, None]) * (ly - my[:, None]), 0.0)).sum(1)
        slope = sxy / sxx
    return cast(FloatArray, np.where(cnt >= 2, -slope, np.nan))


def _starts(model: _Model, t: FloatArray, y: FloatArray, kp: FloatArray) -> list[FloatArray]:
    """Initial rate vectors (scaled units) for a multi-start fit."""
    _m, n = t.shape
    idx = np.arange(n)[None, :]
    peak = np.argmax(y, axis=1)[:, None]
    after_peak = idx >= peak
    half = idx >= n // 2
    k_all = _loglin_rate(t, y, np.ones_like(t, dtype=bool))
    k_tail = _loglin_rate(t, y, half & after_peak)
    k_tail = np.where(np.isfinite(k_tail), k_tail, _loglin_rate(t, y, after_peak))
    k_tail = np.where(np.isfinite(k_tail), k_tail, kp)
    k_tail = np.maximum(k_tail, kp * 1.01)
    t_first = np.maximum(t[:, 0], 1e-3)
    t_peak = np.maximum(np.take_along_axis(t, peak, axis=1)[:, 0], t_first)
    if model.name == "mono":
        return [
            np.stack([np.maximum(np.nan_to_num(k_all, nan=1.0), kp * 1.01)], 1),
            np.stack([k_tail], 1),
        ]
    if model.name == "bi_uptake":
        return [
            np.stack([k_tail, np.maximum(c / t_peak, k_tail * 2.0)], 1) for c in (1.0, 3.0, 10.0)
        ]
    if model.name == "bi":
        return [
            np.stack([k_tail, np.maximum(c / t_first, k_tail * 2.0)], 1) for c in (0.5, 2.0, 8.0)
        ]
    return [
        np.stack(
            [k_tail, np.maximum(c2 / t_first, k_tail * 2), np.maximum(c3 / t_first, k_tail * 4)], 1
        )
        for c2, c3 in ((0.3, 3.0), (1.0, 10.0), (3.0, 30.0))
    ]


@dataclass(frozen=True)
class _RawFit:
    theta: FloatArray  # (m, p) scaled units
    chi2: FloatArray
    converged: BoolArray
    iterations: int


def _chol_solve(h: list[list[FloatArray]], b: list[FloatArray]) -> list[FloatArray]:
    """Solve stacked SPD systems given entry-wise (h[i][j] arrays of shape (m,))."""
    p = len(b)
    low: list[list[FloatArray]] = [[np.zeros(0)] * p for _ in range(p)]
    for i in range(p):
        for j in range(i + 1):
            acc = h[i][j].copy()
            for k in range(j):
                acc -= low[i][k] * low[j][k]
            if i == j:
                low[i][i] = np.sqrt(np.maximum(acc, 1e-300))
            else:
                low[i][j] = acc / low[j][j]
    z: list[FloatArray] = []
    for i in range(p):
        acc = b[i].copy()
        for k in range(i):
            acc -= low[i][k] * z[k]
        z.append(acc / low[i][i])
    x: list[FloatArray] = [np.zeros(0)] * p
    for i in reversed(range(p)):
        acc = z[i].copy()
        for k in range(i + 1, p):
            acc -= low[k][i] * x[k]
        x[i] = acc / low[i][i]
    return x


def _lower_bound(model: _Model, theta: FloatArray, kp: FloatArray) -> FloatArray:
    """Current lower bound of every parameter (ordering bounds depend on theta)."""
    lb = np.zeros_like(theta)
    floor = kp
    for r in model.rate_idx:
        lb[:, r] = floor
        floor = theta[:, r] * (1.0 + _ORDER_GAP)
    return lb


def _lm_core(
    model: _Model,
    t: FloatArray,
    y: FloatArray,
    inv_sig: FloatArray,
    theta: FloatArray,
    kp: FloatArray,
    max_iter: int,
) -> tuple[FloatArray, FloatArray, BoolArray, BoolArray]:
    """Run LM on a block of curves; returns theta, cost, done, converged."""
    m = theta.shape[0]
    p = model.n_params
    mu = np.full(m, 1e-3)
    f, jac = model.jacobian(theta, t)
    r = (f - y) * inv_sig
    cost = np.einsum("mn,mn->m", r, r)
    done = np.zeros(m, dtype=bool)
    conv = np.zeros(m, dtype=bool)
    for _ in range(max_iter):
        jw = jac * inv_sig
        g = [np.einsum("mn,mn->m", jw[j], r) for j in range(p)]
        h = [[np.einsum("mn,mn->m", jw[i], jw[j]) for j in range(p)] for i in range(p)]
        # active set: parameters on their lower bound whose gradient points outwards
        lb = _lower_bound(model, theta, kp)
        active = (theta <= lb * (1.0 + _BOUND_TOL) + 1e-300) & (np.stack(g, 1) > 0)
        for i in range(p):
            act = active[:, i]
            g[i] = np.where(act, 0.0, g[i])
            for j in range(p):
                if i != j:
                    h[i][j] = np.where(act | active[:, j], 0.0, h[i][j])
            d = np.maximum(h[i][i], 1e-12)
            h[i][i] = np.where(act, 1.0, h[i][i] + mu * d)
        step = _chol_solve(h, [-gi for gi in g])
        cand = model.project(theta + np.stack(step, 1), kp)
        f_new = model.evaluate(cand, t)
        r_new = (f_new - y) * inv_sig
        cost_new = np.einsum("mn,mn->m", r_new, r_new)
        accept = (cost_new < cost) & np.isfinite(cost_new) & ~done
        gain = cost - cost_new
        rel_step = np.max(np.abs(cand - theta) / (np.abs(theta) + 1e-12), axis=1)
        finished = ~done & (
            (accept & (gain <= 1e-10 * cost))
            | (cost <= 1e-20)
            | (rel_step <= 1e-12)
            | (~accept & (mu > 1e8))
        )
        theta = np.where(accept[:, None], cand, theta)
        cost = np.where(accept, cost_new, cost)
        mu = np.where(accept, np.maximum(mu * 0.2, 1e-10), mu * 5.0)
        conv |= finished & np.isfinite(cost)
        done |= finished
        if done.all():
            break
        upd = accept & ~done
        if upd.any():
            f_a, jac_a = model.jacobian(theta, t)
            jac = np.where(upd[None, :, None], jac_a, jac)
            r = np.where(upd[:, None], (f_a - y) * inv_sig, r)
    return theta, cost, done, conv


def _lm(
    model: _Model,
    t: FloatArray,
    y: FloatArray,
    sig: FloatArray,
    theta0: FloatArray,
    kp: FloatArray,
    max_iter: int,
) -> _RawFit:
    """Bound-projected, active-set Levenberg–Marquardt on all curves at once.

    Curves that have finished are dropped from the working set in rounds, so
    the cost is driven by the number of iterations the typical curve needs.
    """
    theta = model.project(theta0, kp)
    m = theta.shape[0]
    inv_sig = 1.0 / sig
    cost = np.full(m, np.inf)
    conv = np.zeros(m, dtype=bool)
    todo = np.arange(m)
    used = 0
    chunk = 8
    while todo.size and used < max_iter:
        n_it = min(chunk, max_iter - used)
        th, c, done, ok = _lm_core(
            model, t[todo], y[todo], inv_sig[todo], theta[todo], kp[todo], n_it
        )
        theta[todo] = th
        cost[todo] = c
        conv[todo] = ok
        todo = todo[~done]
        used += n_it
        chunk = min(chunk * 2, 64)
    return _RawFit(theta, cost, conv & np.all(np.isfinite(theta), axis=1), used)


# ---------------------------------------------------------------------- results


@dataclass(frozen=True)
class ModelBatch:
    """Fits of one model to m curves (internal units: Bq, s).

    ``parameters`` (m, p) in the order of ``MODELS[model].param_names``:
    amplitudes in Bq, rates in s⁻¹; ``covariance`` (m, p, p); ``aicc`` nan
    where undefined (n < k + 2); ``clamped`` where the slowest rate was
    clamped to physical decay; ``degenerate`` where another bound is active.
    """

    model: str
    parameters: FloatArray
    covariance: FloatArray
    chi2: FloatArray
    aicc: FloatArray
    tia_bq_s: FloatArray
    tia_sd_bq_s: FloatArray
    t_eff_s: FloatArray
    converged: BoolArray
    clamped: BoolArray
    degenerate: BoolArray


@dataclass(frozen=True)
class BatchFit:
    """Result of :func:`fit_batch` for m curves.

    ``model`` holds the chosen method per curve (a model name or
    ``"trapezoid"``), ``fallback`` a short reason where the normal rule could not
    be applied ("" otherwise), and ``per_model`` every candidate's fits.
    """

    model: NDArray[np.str_]
    tia_bq_s: FloatArray
    tia_sd_bq_s: FloatArray
    t_eff_s: FloatArray
    aicc: FloatArray
    clamped: BoolArray
    fallback: NDArray[np.str_]
    per_model: Mapping[str, ModelBatch]
    half_life_s: float
    error_model: ErrorModel
    provenance: tuple[Step, ...] = ()

    def __len__(self) -> int:
        return int(self.tia_bq_s.shape[0])


def _fit_model(
    name: str,
    t: FloatArray,
    y: FloatArray,
    sig: FloatArray,
    lam_phys: float,
    max_iter: int,
) -> ModelBatch:
    model = MODELS[name]
    m, n = t.shape
    p = model.n_params
    ts = t[:, -1:].copy()
    ts[ts <= 0] = 1.0
    ys = np.max(y, axis=1, keepdims=True)
    tt, yy, ss = t / ts, y / ys, sig / ys
    kp = lam_phys * ts[:, 0]
    w = 1.0 / ss**2

    best: _RawFit | None = None
    for rates in _starts(model, tt, yy, kp):
        if best is None:
            sel = np.arange(m)
        else:
            # further starts only where the first answer is doubtful
            doubt = ~best.converged | (best.chi2 > max(n - p, 1) * 4.0)
            _, deg, _ = model.bounds_active(best.theta, kp)
            sel = np.flatnonzero(doubt | deg)
            if sel.size == 0:
                break
        theta0 = _amplitudes(model, rates[sel], tt[sel], yy[sel], w[sel])
        raw = _lm(model, tt[sel], yy[sel], ss[sel], theta0, kp[sel], max_iter)
        if best is None:
            best = raw
            continue
        old_th, old_c, old_ok = best.theta[sel], best.chi2[sel], best.converged[sel]
        better = (raw.converged & ~old_ok) | ((raw.converged == old_ok) & (raw.chi2 < old_c))
        theta_all, chi_all, ok_all = best.theta.copy(), best.chi2.copy(), best.converged.copy()
        theta_all[sel] = np.where(better[:, None], raw.theta, old_th)
        chi_all[sel] = np.where(better, raw.chi2, old_c)
        ok_all[sel] = np.where(better, raw.converged, old_ok)
        best = _RawFit(theta_all, chi_all, ok_all, max(raw.iterations, best.iterations))
    assert best is not None
    theta = best.theta
    clamp, degenerate, fixed = model.bounds_active(theta, kp)

    # covariance (scaled units) with fixed parameters removed
    _, jac = model.jacobian(theta, tt)
    jw = np.moveaxis(jac / ss[None], 0, -1)  # (m, n, p)
    jw = np.where(fixed[:, None, :], 0.0, jw)
    h = np.einsum("mnj,mnk->mjk", jw, jw)
    h = h + np.where(fixed[:, :, None] & np.eye(p, dtype=bool), 1.0, 0.0)
    good = np.all(np.isfinite(h), axis=(1, 2))
    h = np.where(good[:, None, None], h, np.eye(p))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        try:
            cov = np.linalg.inv(h)
        except np.linalg.LinAlgError:
            cov = np.linalg.pinv(h)
    cov = np.where(good[:, None, None], cov, np.nan)
    cov = np.where(fixed[:, :, None] | fixed[:, None, :], 0.0, cov)
    dof = n - p
    scale = np.where(dof > 0, np.maximum(1.0, best.chi2 / max(dof, 1)), 1.0)
    cov = cov * scale[:, None, None]

    # back to natural units: amplitudes × ys, rates ÷ ts
    d = np.ones((m, p))
    d[:, list(model.amp_idx)] = ys
    d[:, list(model.rate_idx)] = 1.0 / ts
    params = theta * d
    cov_nat = cov * d[:, :, None] * d[:, None, :]
    tia, grad = model.tia(params)
    with np.errstate(invalid="ignore"):
        var = np.einsum("mj,mjk,mk->m", grad, cov_nat, grad)
    tia_sd = np.sqrt(np.maximum(var, 0.0))
    t_eff = _LN2 / params[:, model.rate_idx[0]]
    with np.errstate(divide="ignore"):
        aicc = (
            best.chi2 + 2 * p + 2 * p * (p + 1) / (n - p - 1)
            if n - p - 1 > 0
            else np.full(m, np.nan)
        )
    return ModelBatch(
        name,
        params,
        cov_nat,
        best.chi2,
        np.asarray(aicc, dtype=float),
        tia,
        tia_sd,
        t_eff,
        best.converged,
        clamp,
        degenerate,
    )


def fit_batch(
    times_s: ArrayLike,
    activities_bq: ArrayLike,
    half_life: HalfLife,
    *,
    model: Method = "auto",
    candidates: Sequence[str] | None = None,
    error_model: ErrorModel | None = None,
    delta_aicc: float = 2.0,
    max_iter: int = 200,
) -> BatchFit:
    """Fit many time–activity curves at once (vectorised over curves).

    Parameters
    ----------
    times_s
        Times after administration in s, shape (n,) shared or (m, n).
    activities_bq
        Activities (not decay corrected) in Bq, shape (m, n) (or (n,)).
    half_life
        Physical half-life in s (or a nuclide with ``half_life_s``).
    model
        ``"auto"`` (AICc selection), a model name or ``"trapezoid"``.
    candidates
        Models fitted for ``"auto"``; default: every model with n ≥ k + 2.
        Candidates with n < k are skipped.
    error_model
        Weights; default :class:`ErrorModel` (10 % relative).
    delta_aicc
        Parsimony window (≥ 0).
    max_iter
        Levenberg–Marquardt iterations per start.

    Returns
    -------
    BatchFit

    Examples
    --------
    >>> t = np.array([4.0, 24.0, 96.0, 168.0]) * 3600
    >>> y = np.array([[5e7, 4e7, 2e7, 1e7], [8e7, 6e7, 1e7, 1e6]])
    >>> res = fit_batch(t, y, 6.647 * 86400)
    >>> res.model.tolist(), bool(np.all(res.tia_bq_s > 0))
    (['mono', 'mono'], True)
    """
    t, y = _as_batch(times_s, activities_bq)
    em = error_model or ErrorModel()
    lam_phys = _LN2 / half_life_of(half_life)
    if not (math.isfinite(delta_aicc) and delta_aicc >= 0):
        raise InvalidInputError("delta_aicc", expected="a finite value ≥ 0", actual=delta_aicc)
    if max_iter < 1:
        raise InvalidInputError("max_iter", expected="≥ 1", actual=max_iter)
    m, n = t.shape
    sig = em.sigma(y)
    params: dict[str, Any] = {
        "method": model,
        "error_model": em.to_dict(),
        "delta_aicc": delta_aicc,
        "half_life_s": half_life_of(half_life),
        "n_points": n,
        "n_curves": m,
    }

    if model == "trapezoid":
        tia, sd, teff, clamp = trapezoid_tia(t, y, half_life, sigma_bq=sig)
        step = Step.make("kinetics_trapezoid", params, sources=_SOURCES[:0])
        return BatchFit(
            np.full(m, "trapezoid"),
            tia,
            sd,
            teff,
            np.full(m, np.nan),
            clamp,
            np.full(m, ""),
            MappingProxyType({}),
            half_life_of(half_life),
            em,
            (step,),
        )
    if model != "auto":
        if model not in MODELS:
            raise InvalidInputError(
                "model",
                expected=f"one of auto, {', '.join(_ORDER)}, trapezoid",
                actual=model,
            )
        _check_points(model, n)
        fit = _fit_model(model, t, y, sig, lam_phys, max_iter)
        step = Step.make("kinetics_fit", params, sources=_SOURCES)
        return BatchFit(
            np.full(m, model),
            fit.tia_bq_s,
            fit.tia_sd_bq_s,
            fit.t_eff_s,
            fit.aicc,
            fit.clamped,
            np.where(fit.converged, "", "not converged"),
            MappingProxyType({model: fit}),
            half_life_of(half_life),
            em,
            (step,),
        )

    if candidates is None:
        names = [k for k in _ORDER if n >= MODELS[k].n_params + 2]
    else:
        unknown = [c for c in candidates if c not in MODELS]
        if unknown:
            raise InvalidInputError(
                "candidates", expected=f"names from {list(_ORDER)}", actual=unknown
            )
        names = [k for k in _ORDER if k in candidates and n >= MODELS[k].n_params]
    params["candidates"] = names
    fits = {k: _fit_model(k, t, y, sig, lam_phys, max_iter) for k in names}

    chosen = np.full(m, "", dtype=object)
    fallback = np.full(m, "", dtype=object)
    # 1) AICc among selectable fits, 2) parsimony window
    if fits:
        aic = np.stack([fits[k].aicc for k in names], 1)
        ok = np.stack([fits[k].converged & ~fits[k].degenerate for k in names], 1)
        usable = ok & np.isfinite(aic)
        masked = np.where(usable, aic, np.inf)
        amin = masked.min(axis=1)
        in_window = usable & (masked <= amin[:, None] + delta_aicc)
        # names are ordered by number of parameters: first True wins
        has = in_window.any(axis=1)
        first = np.argmax(in_window, axis=1)
        chosen[has] = np.asarray(names, dtype=object)[first[has]]
        # fallback a: simplest converged, non-degenerate fit (AICc undefined)
        need = ~has
        if need.any():
            okany = ok.any(axis=1)
            sel = need & okany
            chosen[sel] = np.asarray(names, dtype=object)[np.argmax(ok, axis=1)[sel]]
            fallback[sel] = "AICc undefined for all candidates: simplest converged model"
    rest = chosen == ""
    tia_tr, sd_tr, teff_tr, clamp_tr = trapezoid_tia(t, y, half_life, sigma_bq=sig)
    chosen[rest] = "trapezoid"
    fallback[rest] = np.where(
        np.full(m, bool(fits))[rest],
        "no candidate converged: trapezoid with physical tail",
        "too few points for any AICc candidate: trapezoid with physical tail",
    )

    out_tia = tia_tr.copy()
    out_sd = sd_tr.copy()
    out_teff = teff_tr.copy()
    out_aicc = np.full(m, np.nan)
    out_clamp = clamp_tr.copy()
    for k, fit in fits.items():
        sel = chosen == k
        out_tia[sel] = fit.tia_bq_s[sel]
        out_sd[sel] = fit.tia_sd_bq_s[sel]
        out_teff[sel] = fit.t_eff_s[sel]
        out_aicc[sel] = fit.aicc[sel]
        out_clamp[sel] = fit.clamped[sel]
    step = Step.make("kinetics_auto", params, sources=_SOURCES)
    return BatchFit(
        chosen.astype(str),
        out_tia,
        out_sd,
        out_teff,
        out_aicc,
        out_clamp,
        fallback.astype(str),
        MappingProxyType(fits),
        half_life_of(half_life),
        em,
        (step,),
    )


# ------------------------------------------------------------------ trapezoid


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


@dataclass(frozen=True)
class KineticsFit:
    """One region's kinetics (internal units: Bq, s, Bq·s).

    Attributes
    ----------
    model
        ``"mono"``, ``"bi_uptake"``, ``"bi"``, ``"tri"`` or ``"trapezoid"``.
    parameters
        Fitted parameters (``a1_bq``, ``lambda1_per_s``...), or for the
        trapezoid ``tail_lambda_per_s``.
    tia_bq_s, tia_sd_bq_s
        Time-integrated activity 0–∞ and its standard deviation.
    t_eff_s
        Effective half-life of the terminal phase.
    aicc
        AICc of the chosen model (None if undefined or not a fit).
    candidates
        AICc of every candidate model (None where undefined).
    """

    model: str
    parameters: Mapping[str, float]
    tia_bq_s: float
    tia_sd_bq_s: float
    t_eff_s: float
    aicc: float | None
    chi2: float | None
    times_s: tuple[float, ...]
    activities_bq: tuple[float, ...]
    half_life_s: float
    candidates: Mapping[str, float | None] = field(default_factory=dict)
    clamped: bool = False
    warnings: tuple[str, ...] = ()
    provenance: tuple[Step, ...] = ()

    def activity_at(self, t_s: ArrayLike) -> FloatArray:
        """The activity (Bq) that this fit integrates to :attr:`tia_bq_s`, at times ``t_s``.

        Exponential models: the model at the fitted parameters. Trapezoid: as
        integrated by :func:`trapezoid_tia` — before the first point a line
        from A(0) = 0 (``start="zero"``) or the first value held constant
        (``start="constant"``), straight lines between points, and after the
        last point the exponential tail A_n·e^(−λ_tail (t − t_n)).

        >>> f = fit_curve([3600.0, 7200.0], [2.0, 1.0], 3600.0, model="trapezoid")
        >>> f.activity_at([0.0, 1800.0, 5400.0, 10800.0]).round(9).tolist()
        [0.0, 1.0, 1.5, 0.5]
        """
        tt = np.atleast_1d(np.asarray(t_s, dtype=float))
        if self.model in MODELS:
            spec = MODELS[self.model]
            theta = np.array([[self.parameters[_pkey(nm)] for nm in spec.param_names]])
            return cast(FloatArray, spec.evaluate(theta, tt[None, :])[0])
        ts = np.asarray(self.times_s, dtype=float)
        ys = np.asarray(self.activities_bq, dtype=float)
        first = float(ys[0]) if self.trapezoid_start == "constant" else 0.0
        inner = np.interp(tt, np.concatenate(([0.0], ts)), np.concatenate(([first], ys)))
        lam = float(self.parameters["tail_lambda_per_s"])
        tail = ys[-1] * np.exp(-lam * np.clip(tt - ts[-1], 0.0, None))
        return cast(FloatArray, np.where(tt > ts[-1], tail, inner))

    @property
    def trapezoid_start(self) -> str:
        """``start`` of a trapezoid fit (``"zero"`` or ``"constant"``, from its provenance)."""
        for step in self.provenance:
            if step.operation == "kinetics_trapezoid":
                return str(step.parameters.get("start", "zero"))
        return "zero"

    def to_dict(self) -> dict[str, Any]:
        """JSON view with units at the edge (MBq, h)."""
        return {
            "model": self.model,
            "parameters": _edge_parameters(self.parameters),
            "t_eff_h": self.t_eff_s / 3600.0,
            "tia_mbq_h": self.tia_bq_s / 3.6e9,
            "tia_sd_mbq_h": self.tia_sd_bq_s / 3.6e9,
            "aicc": self.aicc,
            "candidates_aicc": dict(self.candidates),
            "clamped_to_physical_decay": self.clamped,
            "warnings": list(self.warnings),
            "provenance": [s.to_dict() for s in self.provenance],
        }


def _pkey(name: str) -> str:
    return f"{name}_bq" if name.startswith("a") else f"{name}_per_s"


def _edge_parameters(p: Mapping[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in p.items():
        if k.endswith("_bq"):
            out[k[:-3] + "_mbq"] = v / 1e6
        elif k.endswith("_per_s"):
            stem = k[: -len("_per_s")]
            out[stem + "_per_h"] = v * 3600.0
            label = "_tail" if stem == "tail_lambda" else stem[len("lambda") :]
            out[f"t_half{label}_h"] = _LN2 / v / 3600.0
        else:
            out[k] = v
    return out


def fit_curve(
    times_s: ArrayLike,
    activities_bq: ArrayLike,
    half_life: HalfLife,
    *,
    model: Method = "auto",
    error_model: ErrorModel | None = None,
    delta_aicc: float = 2.0,
    tail: TailMode = "physical",
    start: StartMode = "zero",
    bootstrap: int = 0,
    seed: int = 0,
    region: str = "region",
) -> KineticsFit:
    """Fit one time–activity curve and integrate it.

    Parameters
    ----------
    times_s, activities_bq
        n time points (s after administration) and activities (Bq, not decay corrected).
    half_life
        Physical half-life in s (or a nuclide object).
    model
        ``"auto"``, ``"mono"``, ``"bi_uptake"``, ``"bi"``, ``"tri"`` or ``"trapezoid"``.
    error_model, delta_aicc
        See :func:`fit_batch`.
    tail, start
        Trapezoid options (see module docstring).
    bootstrap
        If > 0, the TIA standard deviation is the spread of this many parametric
        bootstrap refits instead of the delta method (fits only).
    seed
        Random seed of the bootstrap.
    region
        Name recorded in provenance.

    Examples
    --------
    >>> t = np.array([1.0, 4.0, 24.0, 48.0, 96.0, 168.0]) * 3600
    >>> lp, lc = math.log(2) / (6.647 * 86400), math.log(2) / (50 * 3600)
    >>> a = 1e8 * (np.exp(-lc * t) - np.exp(-math.log(2) / (2 * 3600) * t))
    >>> fit = fit_curve(t, a, 6.647 * 86400, model="bi_uptake")
    >>> round(fit.t_eff_s / 3600, 4)
    50.0
    """
    t, y = _as_batch(times_s, activities_bq)
    if bootstrap < 0:
        raise InvalidInputError("bootstrap", expected="≥ 0 replicates", actual=bootstrap)
    em = error_model or ErrorModel()
    hl = half_life_of(half_life)
    warnings: list[str] = []
    if model == "trapezoid":
        tia, sd, teff, clamp = trapezoid_tia(t, y, hl, tail=tail, start=start, sigma_bq=em.sigma(y))
        if clamp[0] and tail == "fitted":
            warnings.append(
                "tail rate from the last two points was slower than physical decay (or "
                "undefined); clamped to the physical decay constant"
            )
        step = Step.make(
            "kinetics_trapezoid",
            {"tail": tail, "start": start, "half_life_s": hl, "error_model": em.to_dict()},
            inputs=(region,),
        )
        return KineticsFit(
            "trapezoid",
            MappingProxyType({"tail_lambda_per_s": float(_LN2 / teff[0])}),
            float(tia[0]),
            float(sd[0]),
            float(teff[0]),
            None,
            None,
            tuple(map(float, t[0])),
            tuple(map(float, y[0])),
            hl,
            clamped=bool(clamp[0]),
            warnings=tuple(warnings),
            provenance=(step,),
        )

    res = fit_batch(t, y, hl, model=model, error_model=em, delta_aicc=delta_aicc)
    chosen = str(res.model[0])
    if chosen == "trapezoid":  # auto fallback
        warnings.append(str(res.fallback[0]))
        fb = fit_curve(t[0], y[0], hl, model="trapezoid", error_model=em, region=region)
        step = Step.make(
            "kinetics_auto_fallback",
            {"reason": str(res.fallback[0]), "candidates": list(res.per_model)},
            inputs=(region,),
            sources=_SOURCES,
        )
        return KineticsFit(
            fb.model,
            fb.parameters,
            fb.tia_bq_s,
            fb.tia_sd_bq_s,
            fb.t_eff_s,
            None,
            None,
            fb.times_s,
            fb.activities_bq,
            hl,
            candidates=_cand(res),
            clamped=fb.clamped,
            warnings=tuple(warnings),
            provenance=(*res.provenance, step, *fb.provenance),
        )
    mb = res.per_model[chosen]
    spec = MODELS[chosen]
    if not bool(mb.converged[0]):
        warnings.append(f"{chosen} fit did not converge; result is the best point found")
    if bool(mb.clamped[0]):
        warnings.append(
            "terminal clearance was slower than physical decay; clamped to the physical "
            "decay constant (biological uptake beyond the last point is ignored)"
        )
    if bool(mb.degenerate[0]):
        warnings.append(
            f"{chosen} fit sits on a parameter bound (a component vanished or two rates "
            "merged): the data do not support this model"
        )
    if res.fallback[0]:
        warnings.append(str(res.fallback[0]))
    params = {_pkey(nm): float(v) for nm, v in zip(spec.param_names, mb.parameters[0], strict=True)}
    tia_sd = float(res.tia_sd_bq_s[0])
    extra: dict[str, Any] = {}
    if bootstrap > 0:
        tia_sd = _bootstrap_sd(chosen, t[0], mb.parameters[0], hl, em, bootstrap, seed)
        extra = {"bootstrap": bootstrap, "seed": seed}
    step = Step.make(
        "kinetics_select" if model == "auto" else "kinetics_fit",
        {
            "chosen": chosen,
            "candidates_aicc": _cand(res),
            "clamped_to_physical_decay": bool(mb.clamped[0]),
            "fallback": str(res.fallback[0]),
            "uncertainty": "bootstrap" if bootstrap > 0 else "delta method, fit covariance",
            **extra,
        },
        inputs=(region,),
        sources=_SOURCES,
    )
    aicc = float(mb.aicc[0])
    return KineticsFit(
        chosen,
        MappingProxyType(params),
        float(mb.tia_bq_s[0]),
        tia_sd,
        float(mb.t_eff_s[0]),
        aicc if math.isfinite(aicc) else None,
        float(mb.chi2[0]),
        tuple(map(float, t[0])),
        tuple(map(float, y[0])),
        hl,
        candidates=_cand(res),
        clamped=bool(mb.clamped[0]),
        warnings=tuple(warnings),
        provenance=(*res.provenance, step),
    )


def _cand(res: BatchFit) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for k, mb in res.per_model.items():
        v = float(mb.aicc[0])
        out[k] = v if math.isfinite(v) else None
    return out


def _bootstrap_sd(
    name: str,
    t: FloatArray,
    theta: FloatArray,
    half_life_s: float,
    em: ErrorModel,
    replicates: int,
    seed: int,
) -> float:
    """Parametric bootstrap: simulate from the fit with the error model, refit (vectorised)."""
    spec = MODELS[name]
    rng = np.random.default_rng(seed)
    f = spec.evaluate(theta[None, :], t[None, :])[0]
    sig = em.sigma(f[None, :])[0]
    sims = f[None, :] + sig[None, :] * rng.standard_normal((replicates, t.size))
    sims = np.maximum(sims, 0.0)
    sims[np.all(sims == 0, axis=1), -1] = f[-1]  # keep every replicate fittable
    res = fit_batch(t, sims, half_life_s, model=cast(Method, name), error_model=em)
    vals = res.tia_bq_s[np.isfinite(res.tia_bq_s)]
    return float(np.std(vals, ddof=1)) if vals.size > 1 else math.nan
