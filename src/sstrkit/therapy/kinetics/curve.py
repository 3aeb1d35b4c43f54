"""One region's kinetics: :func:`fit_curve` and its result :class:`KineticsFit`.

:func:`fit_curve` fits one time–activity curve through :func:`~.fit.fit_batch`
(or integrates it by the trapezoid), turns the result into a
:class:`KineticsFit` with parameters, TIA ± SD, effective half-life, AICc of
every candidate, warnings and provenance, and optionally replaces the
delta-method SD by a parametric bootstrap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from sstrkit.core.provenance import Step
from sstrkit.core.units import BQ_PER_MBQ, SECONDS_PER_HOUR
from sstrkit.errors import InvalidInputError
from sstrkit.physics.decay import HalfLife, half_life_of
from sstrkit.therapy.kinetics.data import ErrorModel, _as_batch
from sstrkit.therapy.kinetics.fit import _SOURCES, BatchFit, ModelBatch, fit_batch
from sstrkit.therapy.kinetics.models import _LN2, MODELS, FloatArray, Method
from sstrkit.therapy.kinetics.tia import StartMode, TailMode, trapezoid_tia

__all__ = ["KineticsFit", "fit_curve"]


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
            "t_eff_h": self.t_eff_s / SECONDS_PER_HOUR,
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
            out[k[:-3] + "_mbq"] = v / BQ_PER_MBQ
        elif k.endswith("_per_s"):
            stem = k[: -len("_per_s")]
            out[stem + "_per_h"] = v * SECONDS_PER_HOUR
            label = "_tail" if stem == "tail_lambda" else stem[len("lambda") :]
            out[f"t_half{label}_h"] = _LN2 / v / SECONDS_PER_HOUR
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
        Trapezoid options (see :mod:`sstrkit.therapy.kinetics`).
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
    if model == "trapezoid":
        return _trapezoid_curve(t, y, hl, em, tail, start, region)
    res = fit_batch(t, y, hl, model=model, error_model=em, delta_aicc=delta_aicc)
    chosen = str(res.model[0])
    if chosen == "trapezoid":  # auto fallback
        return _fallback_curve(res, t, y, hl, em, region)
    return _model_curve(res, chosen, model, t, y, hl, em, bootstrap, seed, region)


def _trapezoid_curve(
    t: FloatArray,
    y: FloatArray,
    hl: float,
    em: ErrorModel,
    tail: TailMode,
    start: StartMode,
    region: str,
) -> KineticsFit:
    """``model="trapezoid"``: the trapezoid TIA of one curve."""
    warnings: list[str] = []
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


def _fallback_curve(
    res: BatchFit, t: FloatArray, y: FloatArray, hl: float, em: ErrorModel, region: str
) -> KineticsFit:
    """``model="auto"`` chose no model: the trapezoid with a physical tail, recorded."""
    warnings = [str(res.fallback[0])]
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


def _fit_warnings(chosen: str, mb: ModelBatch, fallback: str) -> list[str]:
    """Warnings on the chosen fit: not converged, clamped, degenerate, selection fallback."""
    warnings: list[str] = []
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
    if fallback:
        warnings.append(fallback)
    return warnings


def _model_curve(
    res: BatchFit,
    chosen: str,
    model: Method,
    t: FloatArray,
    y: FloatArray,
    hl: float,
    em: ErrorModel,
    bootstrap: int,
    seed: int,
    region: str,
) -> KineticsFit:
    """The chosen model's fit of one curve, with warnings, uncertainty and provenance."""
    mb = res.per_model[chosen]
    spec = MODELS[chosen]
    warnings = _fit_warnings(chosen, mb, str(res.fallback[0]))
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
