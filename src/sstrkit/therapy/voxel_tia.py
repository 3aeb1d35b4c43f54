"""Voxel-wise time-integrated activity (TIA) from registered serial SPECT.

All fits are vectorised over voxels (no Python loop per voxel). Inputs are
activity maps on one grid (after :mod:`sstrkit.therapy.registration`) in
``Bq/mL`` or ``Bq`` per voxel, with acquisition times in seconds after
administration. The result is a TIA volume in ``Bq*s`` per voxel.

Methods
-------
``mono_exp``
    A(t) = A₀·e^(−λt) fitted by weighted log-linear least squares
    (weights A², i.e. the relative-error model of Poisson-like data), TIA = A₀/λ,
    assuming immediate uptake. Physical-decay fallback: where the fitted λ is
    below the physical λₚ (slower than decay is impossible without further
    uptake), or the fit is undefined (a non-positive sample, fewer than 2
    points), the voxel uses λ = λₚ through the *last* sample:
    TIA = A_last·e^(λₚ t_last)/λₚ.
``trapezoid``
    Trapezoid rule from t = 0 (A(0) = 0, linear uptake) through the samples,
    plus a tail from the last sample: A_last/λ_tail, λ_tail from the last two
    samples, bounded below by λₚ (physical decay when the last two rise).
``region_scaled``
    Region-fit-scaled-by-voxel: the region's total time–activity curve is
    integrated (``mono_exp`` or ``trapezoid``) and distributed to its voxels in
    proportion to their activity at one reference time point (default: the
    one nearest to the region's effective half-life). Robust to voxel noise,
    assumes the same kinetics throughout the region.
``single_time_point``
    One SPECT at time t: with a known effective half-life T (population value),
    TIA = A(t)·e^(λt)/λ (mono-exponential); without it, Hänscheid's
    approximation TIA ≈ A(t)·2t/ln 2 (Hänscheid et al., J Nucl Med 2018;
    59:75–81), exact when t equals the effective half-life.

Noise-robust options: Gaussian pre-smoothing (``smooth_fwhm_mm``), and a
threshold (``min_fraction_of_max``) below which voxels use the physical-decay
fallback instead of a fit.

Examples
--------
>>> import numpy as np
>>> t = np.array([4.0, 24.0, 72.0]) * 3600
>>> a = 1e6 * np.exp(-np.log(2) / (50 * 3600) * t)      # T_eff = 50 h
>>> tia, lam, _ = fit_mono_exp(a[:, None], t, physical_half_life_s=6.647 * 86400)
>>> round(float(tia[0] / (1e6 * 50 * 3600 / np.log(2))), 9)
1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.provenance import Step
from sstrkit.core.units import BQ_PER_MBQ
from sstrkit.core.volume import EXTENSIVE_UNITS, Volume
from sstrkit.errors import FitError, GeometryMismatchError, InvalidInputError
from sstrkit.physics.nuclides import get_nuclide

__all__ = [
    "TiaMethod",
    "VoxelTiaResult",
    "fit_mono_exp",
    "integrate_trapezoid",
    "single_time_point_tia",
    "voxel_tia",
]

TiaMethod = Literal["mono_exp", "trapezoid", "region_scaled"]


def fit_mono_exp(
    activity: NDArray[Any],
    times_s: NDArray[Any],
    *,
    physical_half_life_s: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Vectorised mono-exponential fit per column of ``activity`` (shape (n_t, n_vox)).

    Returns (TIA in activity·s, fitted λ in s⁻¹, fallback mask).
    """
    a = np.asarray(activity, dtype=np.float64)
    t = np.asarray(times_s, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != t.size:
        raise InvalidInputError("activity samples", expected=f"shape ({t.size}, n)", actual=a.shape)
    lam_p = math.log(2) / physical_half_life_s
    positive = np.all(a > 0, axis=0)
    safe = np.where(a > 0, a, 1.0)
    y = np.log(safe)
    w = np.where(a > 0, a**2, 0.0)
    sw = w.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tm = (w * t[:, None]).sum(axis=0) / sw
        ym = (w * y).sum(axis=0) / sw
        dt = t[:, None] - tm
        sxx = (w * dt**2).sum(axis=0)
        slope = (w * dt * (y - ym)).sum(axis=0) / sxx
    lam = -slope
    intercept = ym + lam * tm
    fallback = ~positive | ~np.isfinite(lam) | (lam < lam_p) | (t.size < 2)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        tia_fit = np.exp(intercept) / lam
    last = a[-1]
    tia_phys = np.clip(last, 0.0, None) * math.exp(lam_p * t[-1]) / lam_p
    tia = np.where(fallback, tia_phys, tia_fit)
    lam_out = np.where(fallback, lam_p, lam)
    return tia, lam_out, fallback


def integrate_trapezoid(
    activity: NDArray[Any],
    times_s: NDArray[Any],
    *,
    physical_half_life_s: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Trapezoid (from A(0) = 0) + exponential tail per column; returns (TIA, λ_tail)."""
    a = np.clip(np.asarray(activity, dtype=np.float64), 0.0, None)
    t = np.asarray(times_s, dtype=np.float64)
    lam_p = math.log(2) / physical_half_life_s
    tt = np.concatenate([[0.0], t])
    aa = np.concatenate([np.zeros((1, a.shape[1])), a], axis=0)
    area = (0.5 * (aa[1:] + aa[:-1]) * np.diff(tt)[:, None]).sum(axis=0)
    if t.size >= 2:
        with np.errstate(divide="ignore", invalid="ignore"):
            lam_tail = np.log(a[-2] / a[-1]) / (t[-1] - t[-2])
        lam_tail = np.where(np.isfinite(lam_tail) & (lam_tail > lam_p), lam_tail, lam_p)
    else:
        lam_tail = np.full(a.shape[1], lam_p)
    return area + a[-1] / lam_tail, lam_tail


def single_time_point_tia(
    activity: NDArray[Any] | float,
    time_s: float,
    *,
    effective_half_life_s: float | None = None,
) -> NDArray[np.float64]:
    """TIA (activity·s) from one sample at ``time_s`` (see the module docstring).

    >>> round(float(single_time_point_tia(1.0, 3600.0)), 3)   # 2t/ln2
    10387.404
    """
    if not time_s > 0:
        raise InvalidInputError("time after administration", expected="> 0 s", actual=time_s)
    a = np.asarray(activity, dtype=np.float64)
    if effective_half_life_s is None:
        return a * 2.0 * time_s / math.log(2)
    if not effective_half_life_s > 0:
        raise InvalidInputError(
            "effective half-life", expected="> 0 s", actual=effective_half_life_s
        )
    lam = math.log(2) / effective_half_life_s
    out: NDArray[np.float64] = a * math.exp(lam * time_s) / lam
    return out


@dataclass(frozen=True)
class VoxelTiaResult:
    """TIA map (Bq·s per voxel), voxel effective λ map (s⁻¹) and fit diagnostics."""

    tia: Volume
    lambda_eff_per_s: Volume
    fallback_fraction: float
    method: str
    history: tuple[Step, ...] = field(default_factory=tuple)


def _per_voxel_bq(v: Volume) -> NDArray[np.float64]:
    arr = np.asarray(v.array, dtype=np.float64)
    if v.unit in EXTENSIVE_UNITS:
        return arr * (1e6 if v.unit == "MBq" else 1.0)
    if v.unit == "Bq/mL":
        return arr * v.voxel_volume_ml
    if v.unit == "kBq/mL":
        return arr * 1e3 * v.voxel_volume_ml
    if v.unit == "MBq/mL":
        return arr * BQ_PER_MBQ * v.voxel_volume_ml
    raise InvalidInputError(
        f"unit of activity map {v.name!r}",
        expected="Bq/mL, kBq/mL, MBq/mL, Bq or MBq",
        actual=v.unit,
        fix="quantify the SPECT first (sstrkit.io)",
    )


def voxel_tia(
    activity_maps: Sequence[Volume],
    times_s: Sequence[float],
    nuclide: str,
    *,
    method: TiaMethod = "mono_exp",
    region_mask: NDArray[Any] | None = None,
    reference_index: int | None = None,
    smooth_fwhm_mm: float = 0.0,
    min_fraction_of_max: float = 0.0,
) -> VoxelTiaResult:
    """TIA map from activity maps at ``times_s`` (s after administration), same grid.

    A single map gives the single-time-point result (Hänscheid's formula); use
    :func:`single_time_point_tia` directly for a population effective half-life.
    """
    if len(activity_maps) != len(times_s) or not activity_maps:
        raise InvalidInputError(
            "activity maps and times",
            expected="the same non-zero number",
            actual=f"{len(activity_maps)} maps, {len(times_s)} times",
        )
    t = np.asarray(times_s, dtype=np.float64)
    if np.any(t <= 0) or np.any(np.diff(t) <= 0):
        raise InvalidInputError(
            "acquisition times", expected="increasing, > 0 s after administration", actual=t
        )
    ref = activity_maps[0]
    for v in activity_maps[1:]:
        if not v.same_space(ref):
            raise GeometryMismatchError(
                f"grid of {v.name!r}",
                expected=str(ref.shape),
                actual=str(v.shape),
                fix="register the time points first (sstrkit.therapy.registration)",
            )
    nuc = get_nuclide(nuclide)
    lam_p = nuc.decay_constant_per_s
    stack = np.stack([_per_voxel_bq(v) for v in activity_maps])
    if smooth_fwhm_mm > 0:
        sigma = smooth_fwhm_mm / math.sqrt(8 * math.log(2)) / np.asarray(ref.spacing)[::-1]
        stack = np.stack([ndimage.gaussian_filter(s, sigma, mode="constant") for s in stack])
    flat = stack.reshape(t.size, -1)
    params: dict[str, Any] = {
        "method": method,
        "times_s": t.tolist(),
        "nuclide": nuc.name,
        "smooth_fwhm_mm": smooth_fwhm_mm,
        "min_fraction_of_max": min_fraction_of_max,
    }
    if t.size == 1:
        tia = single_time_point_tia(flat[0], float(t[0]))
        lam = np.full(flat.shape[1], math.log(2) / float(t[0]))
        fallback = np.zeros(flat.shape[1], bool)
        params["method"] = "single_time_point_hanscheid"
    elif method == "mono_exp":
        tia, lam, fallback = fit_mono_exp(flat, t, physical_half_life_s=nuc.half_life_s)
    elif method == "trapezoid":
        tia, lam = integrate_trapezoid(flat, t, physical_half_life_s=nuc.half_life_s)
        fallback = lam <= lam_p
    elif method == "region_scaled":
        if region_mask is None:
            raise InvalidInputError(
                "region mask", expected="a boolean mask for region_scaled", actual=None
            )
        m = np.asarray(region_mask, dtype=bool).reshape(-1)
        if m.size != flat.shape[1] or not m.any():
            raise InvalidInputError(
                "region mask", expected=f"{ref.shape} with voxels", actual=m.size
            )
        curve = flat[:, m].sum(axis=1)[:, None]
        r_tia, r_lam, r_fb = fit_mono_exp(curve, t, physical_half_life_s=nuc.half_life_s)
        k = reference_index
        if k is None:
            t_eff = math.log(2) / float(r_lam[0])
            k = int(np.argmin(np.abs(t - t_eff)))
        if not 0 <= k < t.size:
            raise InvalidInputError("reference index", expected=f"0..{t.size - 1}", actual=k)
        share = flat[k] / curve[k, 0] if curve[k, 0] > 0 else np.zeros(flat.shape[1])
        tia = np.where(m, float(r_tia[0]) * share, 0.0)
        lam = np.where(m, float(r_lam[0]), lam_p)
        fallback = np.where(m, bool(r_fb[0]), False)
        params["reference_index"] = k
    else:
        raise InvalidInputError(
            "TIA method", expected="mono_exp, trapezoid or region_scaled", actual=method
        )
    if min_fraction_of_max > 0:
        peak = flat.max(axis=0)
        low = peak < min_fraction_of_max * float(peak.max())
        tia = np.where(low, np.clip(flat[-1], 0, None) * math.exp(lam_p * t[-1]) / lam_p, tia)
        lam = np.where(low, lam_p, lam)
        fallback = fallback | low
    if not np.all(np.isfinite(tia)):
        raise FitError("voxel TIA", expected="finite values", actual="NaN/inf after the fit")
    tia = np.clip(tia, 0.0, None).reshape(ref.shape)
    frac = float(np.mean(fallback)) if fallback.size else 0.0
    params["fallback_fraction"] = frac
    names = tuple(v.name for v in activity_maps)
    tia_vol = ref.with_array(
        tia.astype(np.float64),
        operation="voxel_tia",
        parameters=params,
        inputs=names,
        sources=("ICRP Publication 107",),
        quantity="time_integrated_activity",
        unit="Bq*s",
        name="tia",
    )
    lam_vol = ref.with_array(
        np.asarray(lam, dtype=np.float64).reshape(ref.shape),
        operation="voxel_lambda_eff",
        parameters=params,
        inputs=names,
        quantity="effective_decay_constant",
        unit="1/s",
        name="lambda_eff",
    )
    return VoxelTiaResult(tia_vol, lam_vol, frac, str(params["method"]), tia_vol.history)
