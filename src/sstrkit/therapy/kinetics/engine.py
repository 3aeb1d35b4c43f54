"""A general vectorised, bound-constrained Levenberg–Marquardt engine.

Weighted least squares, minimising χ² = Σ ((f(θ; tᵢ) − yᵢ)/σᵢ)², for m
independent problems of one model at once. The engine knows nothing about
time–activity curves: a model is anything that follows :class:`BoundedModel`
(values, Jacobian, projection onto the feasible set and the current lower
bound of every parameter, given one bound value per problem).

* :func:`levenberg_marquardt` — bound-projected, active-set LM; finished
  problems leave the working set in rounds.
* :func:`keep_better` — merge a refit of some problems (multi-start) into a
  previous result.
* :func:`covariance` — (JᵀWJ)⁻¹ with fixed parameters removed, inflated by
  max(1, χ²/(n − p)).
* :func:`solve_spd`, :func:`chol_solve` — stacked small SPD solves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol, cast

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BOUND_TOL",
    "BoolArray",
    "BoundedModel",
    "FloatArray",
    "RawFit",
    "chol_solve",
    "covariance",
    "keep_better",
    "levenberg_marquardt",
    "solve_spd",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

BOUND_TOL: Final = 1e-6  # a parameter within this relative distance is "on the bound"


class BoundedModel(Protocol):
    """What the engine needs of a model: theta (m, p), abscissae (m, n), bound (m,)."""

    @property
    def n_params(self) -> int: ...

    def evaluate(self, theta: FloatArray, t: FloatArray) -> FloatArray:
        """f(θ; t) with shape (m, n)."""
        ...

    def jacobian(self, theta: FloatArray, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(f, ∂f/∂θ) with shapes (m, n) and (p, m, n)."""
        ...

    def project(self, theta: FloatArray, bound: FloatArray) -> FloatArray:
        """theta moved onto the feasible set."""
        ...

    def lower_bound(self, theta: FloatArray, bound: FloatArray) -> FloatArray:
        """Current lower bound of every parameter (may depend on theta)."""
        ...


def solve_spd(h: FloatArray, g: FloatArray) -> FloatArray:
    """Solve the stacked p×p systems h·x = g (h symmetric positive definite)."""
    ok = np.all(np.isfinite(h), axis=(1, 2)) & np.all(np.isfinite(g), axis=1)
    if not ok.all():
        h = np.where(ok[:, None, None], h, np.eye(h.shape[1]))
        g = np.where(ok[:, None], g, 0.0)
    return cast(FloatArray, np.linalg.solve(h, g[..., None])[..., 0])


@dataclass(frozen=True)
class RawFit:
    """Engine result for m problems: theta (m, p), χ² (m,), converged (m,)."""

    theta: FloatArray  # (m, p) scaled units
    chi2: FloatArray
    converged: BoolArray
    iterations: int


def chol_solve(h: list[list[FloatArray]], b: list[FloatArray]) -> list[FloatArray]:
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


def _lm_core(
    model: BoundedModel,
    t: FloatArray,
    y: FloatArray,
    inv_sig: FloatArray,
    theta: FloatArray,
    kp: FloatArray,
    max_iter: int,
) -> tuple[FloatArray, FloatArray, BoolArray, BoolArray]:
    """Run LM on a block of problems; returns theta, cost, done, converged."""
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
        lb = model.lower_bound(theta, kp)
        active = (theta <= lb * (1.0 + BOUND_TOL) + 1e-300) & (np.stack(g, 1) > 0)
        for i in range(p):
            act = active[:, i]
            g[i] = np.where(act, 0.0, g[i])
            for j in range(p):
                if i != j:
                    h[i][j] = np.where(act | active[:, j], 0.0, h[i][j])
            d = np.maximum(h[i][i], 1e-12)
            h[i][i] = np.where(act, 1.0, h[i][i] + mu * d)
        step = chol_solve(h, [-gi for gi in g])
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


def levenberg_marquardt(
    model: BoundedModel,
    t: FloatArray,
    y: FloatArray,
    sig: FloatArray,
    theta0: FloatArray,
    kp: FloatArray,
    max_iter: int,
) -> RawFit:
    """Bound-projected, active-set Levenberg–Marquardt on all problems at once.

    ``kp`` (m,) is the bound value handed to the model's ``project`` and
    ``lower_bound``. Problems that have finished are dropped from the working
    set in rounds, so the cost is driven by the number of iterations the
    typical problem needs.
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
    return RawFit(theta, cost, conv & np.all(np.isfinite(theta), axis=1), used)


def keep_better(best: RawFit, raw: RawFit, sel: NDArray[np.intp]) -> RawFit:
    """``best`` with the problems ``sel`` replaced where the refit ``raw`` is better.

    Better: converged where the previous one did not, or equally converged
    with a lower χ².
    """
    old_th, old_c, old_ok = best.theta[sel], best.chi2[sel], best.converged[sel]
    better = (raw.converged & ~old_ok) | ((raw.converged == old_ok) & (raw.chi2 < old_c))
    theta_all, chi_all, ok_all = best.theta.copy(), best.chi2.copy(), best.converged.copy()
    theta_all[sel] = np.where(better[:, None], raw.theta, old_th)
    chi_all[sel] = np.where(better, raw.chi2, old_c)
    ok_all[sel] = np.where(better, raw.converged, old_ok)
    return RawFit(theta_all, chi_all, ok_all, max(raw.iterations, best.iterations))


def covariance(
    model: BoundedModel,
    theta: FloatArray,
    t: FloatArray,
    sig: FloatArray,
    fixed: BoolArray,
    chi2: FloatArray,
) -> FloatArray:
    """Parameter covariance (m, p, p) at ``theta``, with ``fixed`` (m, p) parameters removed.

    C = (JᵀWJ)⁻¹·max(1, χ²/(n − p)): inflated when the scatter exceeds σ, never
    deflated. Fixed parameters get zero rows and columns; problems whose
    normal matrix is not finite get nan.
    """
    n = t.shape[1]
    p = model.n_params
    _, jac = model.jacobian(theta, t)
    jw = np.moveaxis(jac / sig[None], 0, -1)  # (m, n, p)
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
    scale = np.where(dof > 0, np.maximum(1.0, chi2 / max(dof, 1)), 1.0)
    return cov * scale[:, None, None]
