"""Fitting time–activity curves, many at once, with AICc model selection.

:func:`fit_batch` fits every candidate model of :data:`~.models.MODELS` to m
curves with the general engine (:mod:`~sstrkit.therapy.kinetics.engine`):
curves are scaled (time by the last time point, activity by the maximum),
started from log-linear rate estimates with linear least-squares amplitudes
(further starts only where the first answer is doubtful), and the result is
brought back to Bq and s with its covariance, TIA ± SD and AICc. With
``model="auto"`` the model is chosen per curve by AICc and the parsimony rule
(see :mod:`sstrkit.therapy.kinetics`), with recorded fallbacks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sstrkit.core.provenance import Step
from sstrkit.errors import InvalidInputError
from sstrkit.physics.decay import HalfLife, half_life_of
from sstrkit.therapy.kinetics.data import ErrorModel, _as_batch, _check_points
from sstrkit.therapy.kinetics.engine import (
    RawFit,
    covariance,
    keep_better,
    levenberg_marquardt,
    solve_spd,
)
from sstrkit.therapy.kinetics.models import (
    _LN2,
    _ORDER,
    MODELS,
    BoolArray,
    FloatArray,
    Method,
    _Model,
)
from sstrkit.therapy.kinetics.tia import delta_method_tia, trapezoid_tia

__all__ = ["BatchFit", "ModelBatch", "fit_batch"]

_SOURCES: Final = (
    "Burnham KP, Anderson DR. Model Selection and Multimodel Inference, 2nd ed. 2002 (AICc)",
    "Glatting G et al. Med Phys 2007;34:4285 (AICc for time-activity curves)",
)


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


# ------------------------------------------------------------------ starting values


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
    amps = solve_spd(h, g)
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


# ------------------------------------------------------------------- one model


def _multistart(
    model: _Model,
    tt: FloatArray,
    yy: FloatArray,
    ss: FloatArray,
    kp: FloatArray,
    max_iter: int,
) -> RawFit:
    """Best engine fit over the starts of :func:`_starts` (scaled units).

    The first start is fitted everywhere; further starts only where the answer
    so far is doubtful (not converged, χ² > 4 per degree of freedom, or on a
    bound).
    """
    m, n = tt.shape
    p = model.n_params
    w = 1.0 / ss**2
    best: RawFit | None = None
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
        raw = levenberg_marquardt(model, tt[sel], yy[sel], ss[sel], theta0, kp[sel], max_iter)
        if best is None:
            best = raw
            continue
        best = keep_better(best, raw, sel)
    assert best is not None
    return best


def _aicc(chi2: FloatArray, n: int, p: int) -> FloatArray:
    """AICc = χ² + 2k + 2k(k+1)/(n − k − 1); nan where n − k − 1 ≤ 0."""
    with np.errstate(divide="ignore"):
        aicc = (
            chi2 + 2 * p + 2 * p * (p + 1) / (n - p - 1)
            if n - p - 1 > 0
            else np.full(chi2.shape[0], np.nan)
        )
    return np.asarray(aicc, dtype=float)


def _fit_model(
    name: str,
    t: FloatArray,
    y: FloatArray,
    sig: FloatArray,
    lam_phys: float,
    max_iter: int,
) -> ModelBatch:
    """Fit model ``name`` to every curve (scaled units inside; results in Bq and s)."""
    model = MODELS[name]
    m, n = t.shape
    p = model.n_params
    ts = t[:, -1:].copy()
    ts[ts <= 0] = 1.0
    ys = np.max(y, axis=1, keepdims=True)
    tt, yy, ss = t / ts, y / ys, sig / ys
    kp = lam_phys * ts[:, 0]

    best = _multistart(model, tt, yy, ss, kp, max_iter)
    theta = best.theta
    clamp, degenerate, fixed = model.bounds_active(theta, kp)

    # covariance (scaled units) with fixed parameters removed
    cov = covariance(model, theta, tt, ss, fixed, best.chi2)

    # back to natural units: amplitudes × ys, rates ÷ ts
    d = np.ones((m, p))
    d[:, list(model.amp_idx)] = ys
    d[:, list(model.rate_idx)] = 1.0 / ts
    params = theta * d
    cov_nat = cov * d[:, :, None] * d[:, None, :]
    tia, tia_sd = delta_method_tia(model, params, cov_nat)
    t_eff = _LN2 / params[:, model.rate_idx[0]]
    return ModelBatch(
        name,
        params,
        cov_nat,
        best.chi2,
        _aicc(best.chi2, n, p),
        tia,
        tia_sd,
        t_eff,
        best.converged,
        clamp,
        degenerate,
    )


# ------------------------------------------------------------------- many curves


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
        return _trapezoid_batch(t, y, half_life, em, sig, params)
    if model != "auto":
        return _one_model_batch(model, t, y, half_life, em, sig, params, max_iter)
    names = _candidate_names(candidates, n)
    params["candidates"] = names
    fits = {k: _fit_model(k, t, y, sig, lam_phys, max_iter) for k in names}
    chosen, fallback = _select(fits, names, m, delta_aicc)
    return _auto_batch(t, y, half_life, em, sig, params, fits, chosen, fallback)


def _trapezoid_batch(
    t: FloatArray,
    y: FloatArray,
    half_life: HalfLife,
    em: ErrorModel,
    sig: FloatArray,
    params: dict[str, Any],
) -> BatchFit:
    """``model="trapezoid"``: every curve by the trapezoid with a physical tail."""
    m = t.shape[0]
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


def _one_model_batch(
    model: str,
    t: FloatArray,
    y: FloatArray,
    half_life: HalfLife,
    em: ErrorModel,
    sig: FloatArray,
    params: dict[str, Any],
    max_iter: int,
) -> BatchFit:
    """One named model for every curve (no selection)."""
    m, n = t.shape
    if model not in MODELS:
        raise InvalidInputError(
            "model",
            expected=f"one of auto, {', '.join(_ORDER)}, trapezoid",
            actual=model,
        )
    _check_points(model, n)
    lam_phys = _LN2 / half_life_of(half_life)
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


# ------------------------------------------------------------------ model selection


def _candidate_names(candidates: Sequence[str] | None, n: int) -> list[str]:
    """Models fitted for ``"auto"``, fewest parameters first."""
    if candidates is None:
        return [k for k in _ORDER if n >= MODELS[k].n_params + 2]
    unknown = [c for c in candidates if c not in MODELS]
    if unknown:
        raise InvalidInputError("candidates", expected=f"names from {list(_ORDER)}", actual=unknown)
    return [k for k in _ORDER if k in candidates and n >= MODELS[k].n_params]


def _select(
    fits: Mapping[str, ModelBatch], names: Sequence[str], m: int, delta_aicc: float
) -> tuple[NDArray[np.object_], NDArray[np.object_]]:
    """(chosen method, fallback reason) per curve: AICc, parsimony window, fallbacks."""
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
    chosen[rest] = "trapezoid"
    fallback[rest] = np.where(
        np.full(m, bool(fits))[rest],
        "no candidate converged: trapezoid with physical tail",
        "too few points for any AICc candidate: trapezoid with physical tail",
    )
    return chosen, fallback


def _auto_batch(
    t: FloatArray,
    y: FloatArray,
    half_life: HalfLife,
    em: ErrorModel,
    sig: FloatArray,
    params: dict[str, Any],
    fits: Mapping[str, ModelBatch],
    chosen: NDArray[np.object_],
    fallback: NDArray[np.object_],
) -> BatchFit:
    """Gather each curve's chosen result (trapezoid where no model was chosen)."""
    m = t.shape[0]
    tia_tr, sd_tr, teff_tr, clamp_tr = trapezoid_tia(t, y, half_life, sigma_bq=sig)
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
