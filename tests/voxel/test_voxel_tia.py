"""Voxel-wise TIA fits against exact exponentials."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy.optimize import curve_fit

from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.physics.nuclides import get_nuclide
from sstrkit.therapy.voxel_tia import (
    fit_mono_exp,
    integrate_trapezoid,
    single_time_point_tia,
    voxel_tia,
)

HOUR = 3600.0
TIMES = np.array([4.0, 24.0, 96.0, 168.0]) * HOUR
LU = get_nuclide("Lu-177")


def _maps(a0: np.ndarray, t_eff_h: np.ndarray) -> list[Volume]:
    lam = math.log(2) / (t_eff_h * HOUR)
    return [
        Volume.from_array(a0 * np.exp(-lam * t), spacing=(4.0,) * 3, unit="Bq/mL", name=f"t{i}")
        for i, t in enumerate(TIMES)
    ]


def test_mono_exp_recovers_exact_exponentials() -> None:
    # Exact A0·exp(−λt): TIA = A0/λ per voxel (analytic), to floating-point accuracy.
    rng = np.random.default_rng(0)
    a0 = rng.uniform(1e3, 1e5, (4, 5, 6))
    t_eff = rng.uniform(20.0, 150.0, (4, 5, 6))
    res = voxel_tia(_maps(a0, t_eff), TIMES, "Lu-177")
    expected = a0 * 0.064 * t_eff * HOUR / math.log(2)  # Bq/mL × 0.064 mL per voxel
    np.testing.assert_allclose(res.tia.array, expected, rtol=1e-9)
    np.testing.assert_allclose(res.lambda_eff_per_s.array, math.log(2) / (t_eff * HOUR), rtol=1e-9)
    assert res.fallback_fraction == 0.0
    assert res.tia.unit == "Bq*s"


def test_physical_decay_fallback() -> None:
    # Rising activity (λ < λp) and a zero sample fall back to physical decay through the
    # last point: TIA = A_last·exp(λp t_last)/λp.
    a = np.array([[1.0, 0.0], [2.0, 5.0], [3.0, 5.0], [4.0, 5.0]])
    tia, lam, fb = fit_mono_exp(a, TIMES, physical_half_life_s=LU.half_life_s)
    lp = LU.decay_constant_per_s
    assert fb.tolist() == [True, True]
    np.testing.assert_allclose(tia, a[-1] * math.exp(lp * TIMES[-1]) / lp, rtol=1e-12)
    np.testing.assert_allclose(lam, lp)


def test_trapezoid_with_exponential_tail() -> None:
    # A(t) = exp(−λt) sampled densely: trapezoid (from 0, with the uptake ramp 0→A(t1))
    # + exact tail equals 1/λ minus the missed area ∫0^t1 (e^{−λt} − t e^{−λt1}/t1) dt.
    lam = math.log(2) / (60 * HOUR)
    t = np.linspace(1, 400, 400) * HOUR
    a = np.exp(-lam * t)[:, None]
    tia, lam_tail = integrate_trapezoid(a, t, physical_half_life_s=LU.half_life_s)
    t1 = t[0]
    missed = (1 - math.exp(-lam * t1)) / lam - 0.5 * t1 * math.exp(-lam * t1)
    assert lam_tail[0] == pytest.approx(lam, rel=1e-9)
    assert tia[0] == pytest.approx(1 / lam - missed, rel=1e-4)


def test_region_scaled_and_single_time_point() -> None:
    a0 = np.ones((3, 3, 3)) * 1e4
    a0[1, 1, 1] = 3e4
    maps = _maps(a0, np.full((3, 3, 3), 60.0))
    mask = np.ones((3, 3, 3), bool)
    res = voxel_tia(maps, TIMES, "Lu-177", method="region_scaled", region_mask=mask)
    exact = a0 * 0.064 * 60 * HOUR / math.log(2)
    np.testing.assert_allclose(res.tia.array, exact, rtol=1e-9)
    # Hänscheid: exact when sampled at t = T_eff (A(T)·2T/ln2 = A0/2·2T/ln2 = A0·T/ln2).
    one = voxel_tia([maps[0]], [60 * HOUR], "Lu-177")
    assert one.method == "single_time_point_hanscheid"
    assert float(single_time_point_tia(0.5, 60 * HOUR)) == pytest.approx(60 * HOUR / math.log(2))
    assert float(single_time_point_tia(0.5, 60 * HOUR, effective_half_life_s=60 * HOUR)) == (
        pytest.approx(60 * HOUR / math.log(2))
    )


def test_noise_robust_options_and_errors() -> None:
    rng = np.random.default_rng(1)
    a0 = np.full((8, 8, 8), 1e4)
    maps = _maps(a0, np.full((8, 8, 8), 60.0))
    noisy = [m.with_array(m.array * rng.normal(1, 0.2, m.shape), operation="noise") for m in maps]
    raw = voxel_tia(noisy, TIMES, "Lu-177").tia.array
    smooth = voxel_tia(noisy, TIMES, "Lu-177", smooth_fwhm_mm=12.0).tia.array
    exact = 1e4 * 0.064 * 60 * HOUR / math.log(2)
    centre = (slice(3, 5),) * 3
    assert np.std(smooth[centre] / exact) < np.std(raw[centre] / exact)
    with pytest.raises(InvalidInputError):
        voxel_tia(maps, TIMES[::-1], "Lu-177")
    with pytest.raises(GeometryMismatchError):
        voxel_tia(
            [maps[0], Volume.from_array(np.ones((2, 2, 2)), unit="Bq/mL")], TIMES[:2], "Lu-177"
        )


def test_vectorised_fit_is_much_faster_than_curve_fit_loop() -> None:
    # Guard only (the ≥1000× figure is measured in benchmarks/bench_voxel_dose.py).
    rng = np.random.default_rng(2)
    n = 20000
    a = rng.uniform(1e3, 1e4, n) * np.exp(-np.log(2) / (50 * HOUR) * TIMES[:, None])
    t0 = time.perf_counter()
    fit_mono_exp(a, TIMES, physical_half_life_s=LU.half_life_s)
    fast = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for j in range(20):
        curve_fit(lambda t, a0, k: a0 * np.exp(-k * t), TIMES, a[:, j], p0=(a[0, j], 1e-5))
    slow = (time.perf_counter() - t0) / 20
    assert slow / fast > 50
