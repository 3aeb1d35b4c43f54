"""Tests of sstrkit.therapy.kinetics.

Reference values are analytic integrals of exponentials written out below
(∫₀^∞ a·e^(−λt) dt = a/λ), independent numerical quadrature (scipy.integrate.quad)
and independent fits with scipy.optimize.curve_fit. Lu-177 half-life: 6.647 d
(ICRP Publication 107), read through sstrkit.physics.nuclides.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy import integrate
from scipy.optimize import curve_fit

from sstrkit.errors import InvalidInputError
from sstrkit.physics.nuclides import get_nuclide
from sstrkit.therapy.kinetics import (
    MODELS,
    ErrorModel,
    fit_batch,
    fit_curve,
    multi_exponential_tia,
    trapezoid_tia,
)

LU = get_nuclide("Lu-177")
H = 3600.0
LN2 = math.log(2)
LAM_P = LN2 / LU.half_life_s
T4 = np.array([4.0, 24.0, 96.0, 168.0]) * H
T6 = np.array([1.0, 4.0, 24.0, 48.0, 96.0, 168.0]) * H
T8 = np.array([0.25, 0.5, 1.0, 4.0, 24.0, 48.0, 96.0, 168.0]) * H


def test_physical_half_life_is_icrp107() -> None:
    # ICRP 107: Lu-177 T½ = 6.647 d
    assert LU.half_life_s == pytest.approx(6.647 * 86400, rel=1e-12)


# ----------------------------------------------------------- exact analytic cases


def test_mono_exact_tia_and_half_life() -> None:
    a, teff = 80e6, 55.0 * H
    lam = LN2 / teff
    y = a * np.exp(-lam * T4)
    fit = fit_curve(T4, y, LU, model="mono")
    # hand calculation: TIA = a / λ = a·T/ln2
    assert fit.tia_bq_s == pytest.approx(a * teff / LN2, rel=1e-9)
    assert fit.t_eff_s == pytest.approx(teff, rel=1e-9)
    assert fit.parameters["a1_bq"] == pytest.approx(a, rel=1e-9)
    assert not fit.clamped and fit.warnings == ()


def test_bi_uptake_exact_tia() -> None:
    a, l1, l2 = 1.2e8, LN2 / (70 * H), LN2 / (1.5 * H)
    y = a * (np.exp(-l1 * T6) - np.exp(-l2 * T6))
    fit = fit_curve(T6, y, LU, model="bi_uptake")
    # hand calculation: TIA = a(1/λ1 − 1/λ2)
    assert fit.tia_bq_s == pytest.approx(a * (1 / l1 - 1 / l2), rel=1e-6)
    assert fit.t_eff_s == pytest.approx(70 * H, rel=1e-6)


def test_bi_clearance_exact_tia() -> None:
    a1, l1, a2, l2 = 3e7, LN2 / (80 * H), 6e7, LN2 / (6 * H)
    y = a1 * np.exp(-l1 * T6) + a2 * np.exp(-l2 * T6)
    fit = fit_curve(T6, y, LU, model="bi")
    assert fit.tia_bq_s == pytest.approx(a1 / l1 + a2 / l2, rel=1e-6)
    assert fit.t_eff_s == pytest.approx(80 * H, rel=1e-6)


def test_tri_exact_tia() -> None:
    amps = (2e7, 5e7, 8e7)
    rates = (LN2 / (90 * H), LN2 / (10 * H), LN2 / (0.5 * H))
    y = sum(a * np.exp(-lam * T8) for a, lam in zip(amps, rates, strict=True))
    fit = fit_curve(T8, y, LU, model="tri")
    expected = sum(a / lam for a, lam in zip(amps, rates, strict=True))
    assert fit.tia_bq_s == pytest.approx(expected, rel=1e-5)


def test_fitted_tia_matches_numerical_quadrature() -> None:
    rng = np.random.default_rng(7)
    a, l1, l2 = 1e8, LN2 / (60 * H), LN2 / (2 * H)
    y = a * (np.exp(-l1 * T6) - np.exp(-l2 * T6)) * (1 + 0.05 * rng.standard_normal(6))
    fit = fit_curve(T6, y, LU, model="bi_uptake")
    # independent check of the analytic integral of the fitted curve
    quad, _ = integrate.quad(lambda s: float(fit.activity_at(s)[0]), 0, 200 * 24 * H, limit=400)
    assert fit.tia_bq_s == pytest.approx(quad, rel=1e-6)


def test_multi_exponential_tia_finite_window() -> None:
    lam = LN2 / (10 * H)
    # ∫₀^T a e^(−λt) dt = a/λ (1 − e^(−λT)); at T = T½ that is a/(2λ)
    assert multi_exponential_tia([5.0], [lam], end_s=10 * H) == pytest.approx(5.0 / lam / 2)


# ------------------------------------------------------------- independent fits


@pytest.mark.parametrize("name", ["mono", "bi_uptake"])
def test_chi2_matches_scipy_curve_fit(name: str) -> None:
    """Our vectorised LM reaches the same minimum as scipy's bounded curve_fit."""
    rng = np.random.default_rng(11)
    m = 25
    lc = LN2 / (rng.uniform(30, 150, m) * H)
    lu = LN2 / (rng.uniform(0.5, 5, m) * H)
    a = rng.uniform(10, 500, m) * 1e6
    y = a[:, None] * (np.exp(-lc[:, None] * T6) - np.exp(-lu[:, None] * T6))
    y *= 1 + 0.1 * rng.standard_normal(y.shape)
    res = fit_batch(T6, y, LU, model=name)  # type: ignore[arg-type]
    sig = ErrorModel().sigma(y)
    chi_ours = res.per_model[name].chi2
    for i in range(m):
        if name == "mono":

            def f(t: np.ndarray, p0: float, p1: float) -> np.ndarray:
                return p0 * np.exp(-p1 * t)

            start = [y[i].max(), 2 * LAM_P]
            lo = [0.0, LAM_P]
        else:

            def f(t: np.ndarray, p0: float, p1: float, p2: float) -> np.ndarray:  # type: ignore[misc]
                return p0 * (np.exp(-p1 * t) - np.exp(-p2 * t))

            start = [1.5 * y[i].max(), 3 * LAM_P, 1 / T6[0]]
            lo = [0.0, LAM_P, LAM_P]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            popt, _ = curve_fit(
                f,
                T6,
                y[i],
                p0=start,
                sigma=sig[i],
                absolute_sigma=True,
                bounds=(lo, [np.inf] * len(lo)),
                x_scale="jac",
            )
        chi_ref = float(np.sum(((f(T6, *popt) - y[i]) / sig[i]) ** 2))
        # same objective, same minimum: ours is never worse than scipy's (1e-6 slack)
        assert chi_ours[i] <= chi_ref * (1 + 1e-6) + 1e-9


# ----------------------------------------------------------------- selection


def test_auto_with_four_points_uses_mono_only() -> None:
    y = 5e7 * np.exp(-LN2 / (60 * H) * T4)
    fit = fit_curve(T4, y, LU)
    assert fit.model == "mono"
    # AICc needs n ≥ k + 2: with 4 points only the 2-parameter model qualifies
    assert list(fit.candidates) == ["mono"]
    # AICc = χ² + 2k + 2k(k+1)/(n−k−1) = 0 + 4 + 12/1 = 16 for an exact fit
    assert fit.aicc == pytest.approx(16.0, abs=1e-6)


def test_auto_selects_uptake_model_when_data_demand_it() -> None:
    y = 1e8 * (np.exp(-LN2 / (50 * H) * T6) - np.exp(-LN2 / (3 * H) * T6))
    fit = fit_curve(T6, y, LU)
    assert fit.model == "bi_uptake"
    assert fit.candidates["mono"] is not None
    assert fit.candidates["bi_uptake"] is not None
    assert fit.candidates["bi_uptake"] < fit.candidates["mono"]  # type: ignore[operator]


def test_parsimony_window_prefers_fewer_parameters() -> None:
    y = 1e8 * (np.exp(-LN2 / (50 * H) * T6) - np.exp(-LN2 / (3 * H) * T6))
    # with an (absurdly) wide window every usable model is "equivalent": the simplest wins
    wide = fit_batch(T6, y[None, :], LU, delta_aicc=1e12)
    narrow = fit_batch(T6, y[None, :], LU, delta_aicc=0.0)
    assert wide.model[0] == "mono"
    assert narrow.model[0] == "bi_uptake"


def test_auto_falls_back_to_trapezoid_without_candidates() -> None:
    # 3 points: no model has a defined AICc (mono needs 4) → documented fallback
    t = T4[:3]
    y = np.array([5e7, 4e7, 2e7])
    res = fit_batch(t, y[None, :], LU)
    assert res.model[0] == "trapezoid"
    assert "trapezoid" in res.fallback[0]
    fit = fit_curve(t, y, LU)
    assert fit.model == "trapezoid"
    assert any("trapezoid" in w for w in fit.warnings)
    assert any(s.operation == "kinetics_auto_fallback" for s in fit.provenance)


# ------------------------------------------------------------- constraints


def test_clearance_slower_than_physical_is_clamped_and_warned() -> None:
    y = np.full(4, 3e7)  # constant (not decay-corrected) activity: slower than decay
    fit = fit_curve(T4, y, LU, model="mono")
    assert fit.clamped
    assert fit.t_eff_s == pytest.approx(LU.half_life_s, rel=1e-6)
    assert any("clamped" in w for w in fit.warnings)
    step = fit.provenance[-1]
    assert step.parameters["clamped_to_physical_decay"] is True
    # the amplitude is then the best a for fixed λ_p: weighted mean of y·e^(λp t)
    w = 1 / (0.1 * y) ** 2
    e = np.exp(-LAM_P * T4)
    a_ref = np.sum(w * e * y) / np.sum(w * e * e)
    assert fit.tia_bq_s == pytest.approx(a_ref / LAM_P, rel=1e-6)


@pytest.mark.parametrize(
    ("times", "acts", "match"),
    [
        ([4.0, 24.0, 24.0, 96.0], [1, 2, 3, 4], "strictly increasing"),
        ([24.0, 4.0, 96.0, 168.0], [1, 2, 3, 4], "strictly increasing"),
        ([-1.0, 4.0, 96.0, 168.0], [1, 2, 3, 4], "≥ 0"),
        ([4.0, 24.0, 96.0, 168.0], [1, -2, 3, 4], "≥ 0"),
        ([4.0, 24.0, 96.0, 168.0], [1, float("nan"), 3, 4], "finite"),
        ([4.0, float("inf"), 96.0, 168.0], [1, 2, 3, 4], "finite"),
        ([4.0, 24.0, 96.0, 168.0], [0, 0, 0, 0], "at least one activity"),
        ([4.0, 24.0, 96.0], [1, 2, 3, 4], "matching shape"),
    ],
)
def test_bad_input_is_rejected(times: list[float], acts: list[float], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        fit_curve(np.array(times) * H, np.array(acts, dtype=float), LU)


@pytest.mark.parametrize(("model", "n"), [("mono", 1), ("bi_uptake", 2), ("bi", 3), ("tri", 5)])
def test_too_few_points_for_model(model: str, n: int) -> None:
    assert MODELS[model].n_params == n + 1
    with pytest.raises(InvalidInputError, match="one per parameter"):
        fit_curve(T8[:n], np.linspace(5, 1, n) * 1e6, LU, model=model)  # type: ignore[arg-type]


def test_unknown_model_and_options() -> None:
    with pytest.raises(InvalidInputError):
        fit_curve(T4, np.ones(4), LU, model="quad")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        ErrorModel(cv=0.0)
    with pytest.raises(InvalidInputError):
        fit_batch(T4, np.ones((1, 4)), LU, delta_aicc=-1)
    with pytest.raises(InvalidInputError):
        fit_curve(T4, np.ones(4), LU, bootstrap=-3)
    with pytest.raises(InvalidInputError, match="half-life"):
        fit_curve(T4, np.ones(4), -5.0)


def test_batch_reports_offending_curve() -> None:
    y = np.ones((3, 4))
    y[2, 1] = -1
    with pytest.raises(InvalidInputError, match="curve\\(s\\) 2"):
        fit_batch(T4, y, LU)


# ---------------------------------------------------------------- uncertainty


def test_sd_scales_with_measurement_error() -> None:
    y = 5e7 * np.exp(-LN2 / (60 * H) * T4)
    sd1 = fit_curve(T4, y, LU, model="mono", error_model=ErrorModel(cv=0.1)).tia_sd_bq_s
    sd2 = fit_curve(T4, y, LU, model="mono", error_model=ErrorModel(cv=0.2)).tia_sd_bq_s
    # exact data: χ² = 0, covariance ∝ σ² exactly → SD doubles
    assert sd2 == pytest.approx(2 * sd1, rel=1e-6)
    assert sd1 > 0


def test_delta_method_sd_matches_monte_carlo_spread() -> None:
    """The predicted TIA SD agrees with the spread over simulated repeats."""
    rng = np.random.default_rng(3)
    a, lam, cv = 6e7, LN2 / (60 * H), 0.05
    f = a * np.exp(-lam * T4)
    sims = f * (1 + cv * rng.standard_normal((4000, 4)))
    res = fit_batch(T4, sims, LU, model="mono", error_model=ErrorModel(cv=cv))
    spread = np.std(res.tia_bq_s)
    predicted = np.median(res.tia_sd_bq_s)
    # 4000 repeats: sampling error of an SD ≈ 1/√(2·4000) ≈ 1 %; weights from noisy
    # observations and the χ²-inflation add a few % → 15 % tolerance
    assert predicted == pytest.approx(spread, rel=0.15)
    assert np.mean(res.tia_bq_s) == pytest.approx(a / lam, rel=0.02)


def test_bootstrap_sd_close_to_delta_method() -> None:
    y = 5e7 * np.exp(-LN2 / (60 * H) * T6)
    delta = fit_curve(T6, y, LU, model="mono", error_model=ErrorModel(cv=0.05))
    boot = fit_curve(
        T6, y, LU, model="mono", error_model=ErrorModel(cv=0.05), bootstrap=2000, seed=1
    )
    assert boot.tia_bq_s == delta.tia_bq_s
    # small-noise regime: the linearisation is accurate; bootstrap SD within 15 %
    assert boot.tia_sd_bq_s == pytest.approx(delta.tia_sd_bq_s, rel=0.15)
    assert boot.provenance[-1].parameters["uncertainty"] == "bootstrap"


# ------------------------------------------------------------------- trapezoid


def test_trapezoid_physical_tail_hand_calculation() -> None:
    t = np.array([4.0, 24.0, 96.0]) * H
    y = np.array([10.0, 8.0, 4.0]) * 1e6
    tia, _sd, teff, clamp = trapezoid_tia(t, y, LU)
    # 0→4 h triangle, then trapezoids, then A_n/λ_p
    hand = (0.5 * 4 * 10 + 0.5 * 20 * (10 + 8) + 0.5 * 72 * (8 + 4)) * 1e6 * H + 4e6 / LAM_P
    assert tia[0] == pytest.approx(hand, rel=1e-12)
    assert teff[0] == pytest.approx(LU.half_life_s)
    assert not clamp[0]
    const, *_ = trapezoid_tia(t, y, LU, start="constant")
    assert const[0] - tia[0] == pytest.approx(0.5 * 4 * H * 10e6, rel=1e-12)


def test_trapezoid_fitted_tail_and_clamp() -> None:
    lam = LN2 / (40 * H)
    y = 1e7 * np.exp(-lam * T4)
    _tia, _, teff, clamp = trapezoid_tia(T4, y, LU, tail="fitted")
    assert teff[0] == pytest.approx(40 * H, rel=1e-9)
    assert not clamp[0]
    rising = np.array([1.0, 2.0, 3.0, 4.0]) * 1e6
    _, _, teff2, clamp2 = trapezoid_tia(T4, rising, LU, tail="fitted")
    assert clamp2[0]
    assert teff2[0] == pytest.approx(LU.half_life_s)
    fit = fit_curve(T4, rising, LU, model="trapezoid", tail="fitted")
    assert fit.clamped and fit.warnings


def test_trapezoid_sd_is_linear_propagation() -> None:
    t = np.array([4.0, 24.0]) * H
    y = np.array([[10.0, 5.0]]) * 1e6
    sigma = np.array([[1.0, 0.5]]) * 1e6
    _, sd, _, _ = trapezoid_tia(t, y, LU, sigma_bq=sigma)
    w0 = 0.5 * 4 * H + 0.5 * 20 * H
    w1 = 0.5 * 20 * H + 1 / LAM_P
    assert sd[0] == pytest.approx(math.hypot(w0 * 1e6, w1 * 0.5e6), rel=1e-12)


# -------------------------------------------------------------------- batch


def test_batch_equals_single_fits() -> None:
    rng = np.random.default_rng(5)
    y = 1e8 * np.exp(-np.outer(LN2 / (rng.uniform(30, 120, 6) * H), T4))
    y *= 1 + 0.05 * rng.standard_normal(y.shape)
    res = fit_batch(T4, y, LU)
    for i in range(y.shape[0]):
        single = fit_curve(T4, y[i], LU)
        assert single.tia_bq_s == pytest.approx(float(res.tia_bq_s[i]), rel=1e-9)
        assert single.model == res.model[i]


def test_to_dict_edge_units() -> None:
    y = 5e7 * np.exp(-LN2 / (60 * H) * T4)
    d = fit_curve(T4, y, LU, model="mono").to_dict()
    assert d["t_eff_h"] == pytest.approx(60.0)
    assert d["parameters"]["a1_mbq"] == pytest.approx(50.0)
    assert d["parameters"]["t_half1_h"] == pytest.approx(60.0)
    assert d["tia_mbq_h"] == pytest.approx(50.0 * 60 / LN2)


@pytest.mark.parametrize("start", ["zero", "constant"])
@pytest.mark.parametrize("tail", ["physical", "fitted"])
def test_trapezoid_activity_at_integrates_to_its_tia(start: str, tail: str) -> None:
    # The curve activity_at draws must be the one trapezoid_tia integrates:
    # quadrature over [0, t1], the knots and the tail (to 60 tail half-lives).
    t = np.array([4.0, 24.0, 96.0, 168.0]) * H
    y = np.array([3.0e8, 3.5e8, 2.0e8, 1.1e8])
    fit = fit_curve(t, y, LU, model="trapezoid", start=start, tail=tail)  # type: ignore[arg-type]
    end = t[-1] + 60 * LN2 / fit.parameters["tail_lambda_per_s"]
    pts = [0.0, *t.tolist(), end]
    quad = sum(
        integrate.quad(lambda s: float(fit.activity_at(s)[0]), a, b, limit=200)[0]
        for a, b in itertools.pairwise(pts)
    )
    assert fit.tia_bq_s == pytest.approx(quad, rel=1e-9)
    # the tail decays (not held constant) and start="constant" holds y1 before t1
    late = fit.activity_at([t[-1] + 10 * 24 * H])[0]
    assert late == pytest.approx(y[-1] * math.exp(-fit.parameters["tail_lambda_per_s"] * 240 * H))
    assert fit.activity_at([0.5 * t[0]])[0] == pytest.approx(
        y[0] if start == "constant" else y[0] / 2
    )
