"""Report figures: PNG output with captions in units, and the numbers behind each drawing.

Reference values are hand calculations written out next to each assertion, or
closed-form integrals of the kinetics models (TIA = ∫₀^∞ A dt).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import pytest
from scipy import integrate

from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.report.document import Figure
from sstrkit.report.figures import (
    LimitBar,
    TacCurve,
    dose_overlay_figure,
    dvh_curve_pct,
    dvh_figure,
    fit_activity_bq,
    limit_status,
    limits_figure,
    orthogonal_slices,
    slice_indices,
    tac_curve_points,
    tac_figure,
    tac_label,
    timeline_figure,
    waterfall_figure,
)
from sstrkit.therapy.dvh import RegionDVH, region_dvh
from sstrkit.therapy.kinetics import KineticsFit, fit_curve

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"  # PNG specification (ISO/IEC 15948), section 5.2
LU177_HALF_LIFE_S = 6.647 * 86400  # value used by the kinetics module's own examples
DPI = 30
UTC = dt.UTC


def _check_png(fig: Figure, *units: str) -> None:
    assert fig.png[:8] == PNG_SIGNATURE
    assert fig.caption.strip()
    for unit in units:
        assert unit in fig.caption


# ------------------------------------------------------------------ kinetics


T_S = np.array([4.0, 24.0, 48.0, 96.0, 168.0]) * 3600


def _mono_fit() -> tuple[TacCurve, float, float]:
    lam = math.log(2) / (60 * 3600)  # T_eff 60 h
    a = 100e6 * np.exp(-lam * T_S)
    fit = fit_curve(T_S, a, LU177_HALF_LIFE_S, model="mono")
    curve = TacCurve("kidneys", tuple(T_S / 3600), tuple(a / 1e6), fit)
    return curve, fit.parameters["a1_bq"], fit.parameters["lambda1_per_s"]


def _in_mbq(fit: KineticsFit) -> Callable[[float], float]:
    """The drawn curve as a function of time in h, in MBq (for quadrature)."""
    return lambda h: float(fit_activity_bq(fit, h * 3600.0)[0]) / 1e6


def test_tac_curve_is_the_mono_model_at_the_fit_parameters() -> None:
    curve, a1, lam = _mono_fit()
    assert curve.fit is not None
    t_h, a_mbq = tac_curve_points(curve.fit, 1.3 * 168.0)
    assert t_h[0] == 0.0 and t_h[-1] == pytest.approx(1.3 * 168.0)
    # A(t) = a1·exp(−λ1 t), t in s, converted to MBq: independent evaluation.
    expected = a1 * np.exp(-lam * t_h * 3600) / 1e6
    np.testing.assert_allclose(a_mbq, expected, rtol=1e-12)
    # The drawn curve integrates to the fit's TIA = a1/λ1 (quadrature in MBq·h up to
    # 100 T_eff, where the remainder e^(−69) is negligible; rtol 1e-8).
    fit = curve.fit
    tia, _ = integrate.quad(_in_mbq(fit), 0, 100 * fit.t_eff_s / 3600, limit=200)
    assert tia == pytest.approx(fit.tia_bq_s / 3.6e9, rel=1e-8)


def test_tac_curve_is_the_uptake_model_at_the_fit_parameters() -> None:
    lc, lu = math.log(2) / (50 * 3600), math.log(2) / (2 * 3600)
    t = np.array([1.0, 4.0, 24.0, 48.0, 96.0, 168.0]) * 3600
    fit = fit_curve(
        t, 1e8 * (np.exp(-lc * t) - np.exp(-lu * t)), LU177_HALF_LIFE_S, model="bi_uptake"
    )
    p = fit.parameters
    t_h, a_mbq = tac_curve_points(fit, 200.0, n=101)
    # A(t) = a1·(exp(−λ1 t) − exp(−λ2 t)) (kinetics module docstring table).
    s = t_h * 3600
    expected = p["a1_bq"] * (np.exp(-p["lambda1_per_s"] * s) - np.exp(-p["lambda2_per_s"] * s))
    np.testing.assert_allclose(a_mbq, expected / 1e6, rtol=1e-12, atol=1e-18)
    assert a_mbq[0] == 0.0  # A(0) = a1(1 − 1) = 0


@pytest.mark.parametrize("start", ["zero", "constant"])
def test_trapezoid_curve_integrates_to_the_fit_tia(start: Literal["zero", "constant"]) -> None:
    t = np.array([2.0, 24.0, 72.0]) * 3600
    y = np.array([5e6, 4e6, 1e6])
    fit = fit_curve(t, y, LU177_HALF_LIFE_S, model="trapezoid", tail="fitted", start=start)
    # First segment: line from (0, 0) or constant A(t1); hand values at t1/2.
    mid = float(fit_activity_bq(fit, t[0] / 2)[0])
    assert mid == pytest.approx(2.5e6 if start == "zero" else 5e6, rel=1e-12)
    # Tail: y_n·exp(−λ_tail (t − t_n)), λ_tail = ln(4e6/1e6)/48 h (last two points).
    lam = math.log(4.0) / (48 * 3600)
    assert float(fit_activity_bq(fit, t[-1] + 10 * 3600)[0]) == pytest.approx(
        1e6 * math.exp(-lam * 10 * 3600), rel=1e-12
    )
    # Piecewise-linear part exactly by the trapezoid rule at the knots, tail by quadrature.
    knots = np.concatenate(([0.0], t))
    vals = fit_activity_bq(fit, knots)
    area = float(np.sum(np.diff(knots) * (vals[1:] + vals[:-1]) / 2))
    t_last_h = t[-1] / 3600
    tail, _ = integrate.quad(_in_mbq(fit), t_last_h, t_last_h + 100 * fit.t_eff_s / 3600)
    assert area / 3.6e9 + tail == pytest.approx(fit.tia_bq_s / 3.6e9, rel=1e-8)


def test_tac_figure_png_linear_and_log_with_a_zero_point() -> None:
    curve, _, _ = _mono_fit()
    lc, lu = math.log(2) / (50 * 3600), math.log(2) / (2 * 3600)
    t = np.array([1.0, 4.0, 24.0, 48.0, 96.0, 168.0]) * 3600
    a = 1e8 * (np.exp(-lc * t) - np.exp(-lu * t))
    uptake = fit_curve(t, a, LU177_HALF_LIFE_S, model="bi_uptake")
    curves = [
        curve,
        TacCurve("tumour", tuple(t / 3600), tuple(a / 1e6), uptake),
        TacCurve("blood", (0.5, 4.0), (0.0, 3.0), None),  # zero value on a log axis
    ]
    for log_y in (False, True):
        fig = tac_figure(curves, "Cycle 1", log_y=log_y, dpi=DPI)
        _check_png(fig, "MBq", "(h)", "MBq·h")


def test_tac_curve_rejects_bad_points() -> None:
    with pytest.raises(InvalidInputError):
        TacCurve("x", (1.0, 2.0), (1.0,), None)
    with pytest.raises(InvalidInputError):
        TacCurve("x", (1.0,), (-1.0,), None)
    with pytest.raises(InvalidInputError):
        tac_figure([], "none")


# ------------------------------------------------------------------ dose slices


def _identity_volume(arr: np.ndarray) -> Volume:
    return Volume.from_array(arr, spacing=(2.0, 3.0, 5.0))


def test_slice_indices_pass_through_the_maximum_and_a_given_point() -> None:
    rng = np.random.default_rng(1)
    arr = rng.uniform(0, 1, (6, 7, 8))
    arr[4, 2, 5] = 3.0
    dose = Volume.from_array(arr, spacing=(2.0, 3.0, 5.0), origin=(-10.0, 20.0, 100.0), unit="Gy")
    k, j, i = slice_indices(dose)
    assert (k, j, i) == (4, 2, 5) and dose.array[k, j, i] == arr.max()
    # Point x, y, z = (−10 + 2·5, 20 + 3·2, 100 + 5·4) mm is voxel (i, j, k) = (5, 2, 4).
    assert slice_indices(dose, (0.4, 26.9, 121.0)) == (4, 2, 5)
    with pytest.raises(InvalidInputError):
        slice_indices(dose, (1000.0, 0.0, 0.0))
    with pytest.raises(InvalidInputError):
        slice_indices(dose.with_array(np.zeros((6, 7, 8)), operation="zero"))


def _canonical_marker() -> np.ndarray:
    """LPS-ordered array (z→S, y→P, x→L) with distinct values at known corners."""
    c = np.zeros((4, 5, 6))
    c[3, 0, 0] = 1.0  # most superior, most anterior, patient's right
    c[0, 4, 5] = 2.0  # most inferior, most posterior, patient's left
    return c


def _expected_views(c: np.ndarray) -> dict[str, np.ndarray]:
    # Radiological display, row 0 at the top: axial rows A→P, columns R→L;
    # coronal rows S→I, columns R→L; sagittal rows S→I, columns A→P.
    return {"axial": c[3], "coronal": c[::-1, 0, :], "sagittal": c[::-1, :, 0]}


def test_orthogonal_slices_head_first_grid() -> None:
    c = _canonical_marker()
    s = orthogonal_slices(_identity_volume(c), (3, 0, 0))
    for view, expected in _expected_views(c).items():
        np.testing.assert_array_equal(getattr(s, view), expected)
    assert s.axial[0, 0] == s.coronal[0, 0] == s.sagittal[0, 0] == 1.0  # top-left
    # Aspect = pixel height / width: axial sy/sx = 3/2, coronal sz/sx = 5/2, sagittal sz/sy = 5/3.
    assert (s.aspect_axial, s.aspect_coronal, s.aspect_sagittal) == pytest.approx((1.5, 2.5, 5 / 3))


def test_orthogonal_slices_flipped_and_permuted_grids_display_identically() -> None:
    c = _canonical_marker()
    ref = orthogonal_slices(_identity_volume(c), (3, 0, 0))
    # Feet-first stack: numpy index 0 is the most superior slice, z direction −1.
    flipped = Volume.from_array(
        c[::-1], spacing=(2.0, 3.0, 5.0), direction=(1, 0, 0, 0, 1, 0, 0, 0, -1)
    )
    # Coronal acquisition: ITK x → L, ITK y → inferior (−S), ITK z → P. Columns of the
    # direction matrix are the axis directions: D = [[1,0,0],[0,0,1],[0,-1,0]].
    # Voxel (k, j, i) holds C[nz−1−j, k, i]; spacing (x, y, z) = (2, 5, 3) mm.
    coronal_grid = np.transpose(c, (1, 0, 2))[:, ::-1, :]
    permuted = Volume.from_array(
        coronal_grid, spacing=(2.0, 5.0, 3.0), direction=(1, 0, 0, 0, 0, 1, 0, -1, 0)
    )
    for vol, index in ((flipped, (0, 0, 0)), (permuted, (0, 0, 0))):
        assert vol.array[index] == 1.0
        s = orthogonal_slices(vol, index)
        for view in ("axial", "coronal", "sagittal"):
            np.testing.assert_array_equal(getattr(s, view), getattr(ref, view))
        assert (s.aspect_axial, s.aspect_coronal, s.aspect_sagittal) == pytest.approx(
            (ref.aspect_axial, ref.aspect_coronal, ref.aspect_sagittal)
        )


def _dose_and_ct() -> tuple[Volume, Volume, np.ndarray]:
    z, y, x = np.mgrid[0:12, 0:14, 0:16]
    dose_arr = 8.0 * np.exp(-((x - 9) ** 2 + (y - 6) ** 2 + (z - 5) ** 2) / 8.0)
    dose = Volume.from_array(
        dose_arr, spacing=(4.0, 4.0, 4.0), origin=(0.0, 0.0, 0.0), unit="Gy", name="dose"
    )
    # CT on a finer grid of a smaller field of view: must be resampled onto the dose grid.
    ct = Volume.from_array(
        np.full((20, 24, 28), 40.0), spacing=(2.0, 2.0, 2.0), origin=(4.0, 4.0, 4.0), unit="HU"
    )
    mask = dose_arr > 4.0
    return dose, ct, mask


def test_dose_overlay_figure_variants() -> None:
    dose, ct, mask = _dose_and_ct()
    for c in (ct, None):
        fig = dose_overlay_figure(dose, c, title="Cycle 1 dose", contours={"kidney": mask}, dpi=DPI)
        _check_png(fig, "Gy", "LPS", "patient right on the image left")
    fig = dose_overlay_figure(dose, ct, title="at point", point_lps_mm=(36.0, 24.0, 20.0), dpi=DPI)
    assert "x, y, z = 36.0, 24.0, 20.0 mm" in fig.caption
    # Through the maximum: voxel (z, y, x) = (5, 6, 9) → (36, 24, 20) mm as well.
    assert "x, y, z = 36.0, 24.0, 20.0 mm" in dose_overlay_figure(dose, None, title="t").caption


def test_dose_overlay_rejects_wrong_unit_and_mask_grid() -> None:
    dose, _, mask = _dose_and_ct()
    with pytest.raises(InvalidInputError):
        dose_overlay_figure(dose.with_metadata(unit="Bq/mL"), None, title="t")
    with pytest.raises(GeometryMismatchError):
        dose_overlay_figure(dose, None, title="t", contours={"x": mask[:-1]})


# ------------------------------------------------------------------------- DVH


def _four_voxel_dvh(n_bins: int = 200) -> RegionDVH:
    dose = Volume.from_array(np.array([[[1.0, 2.0, 3.0, 4.0]]]), unit="Gy")
    return region_dvh(dose, np.ones((1, 1, 4), bool), name="four", n_bins=n_bins)


def test_cumulative_dvh_of_four_voxels() -> None:
    # Hand calculation, V(d) = fraction of voxels with dose ≥ d among {1, 2, 3, 4} Gy:
    # V(0) = V(1) = 100 %, V(2) = 75 %, V(3) = 50 %, V(4) = 25 %, above 4 Gy 0 %.
    x, y = dvh_curve_pct(_four_voxel_dvh(n_bins=4))
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    assert y.tolist() == [100.0, 100.0, 75.0, 50.0, 25.0, 0.0]
    # Default 200 bins: every sampled dose strictly between 2 and 3 Gy has V = 50 %.
    x, y = dvh_curve_pct(_four_voxel_dvh())
    inside = (x > 2.0) & (x < 3.0)
    assert inside.sum() == 49 and np.all(y[inside] == 50.0)
    assert y[np.isclose(x, 2.0)][0] == 75.0


def test_dvh_figure_png() -> None:
    dose, _, mask = _dose_and_ct()
    dvhs = [region_dvh(dose, mask, name="kidney"), region_dvh(dose, ~mask, name="rest")]
    _check_png(dvh_figure(dvhs, "DVH cycle 1", dpi=DPI), "Gy", "%", "mL")
    with pytest.raises(InvalidInputError):
        dvh_figure([], "none")


# ---------------------------------------------------------------------- limits


@pytest.mark.parametrize(
    ("value", "limit", "status"),
    [
        (0.0, 40.0, "green"),
        (31.99, 40.0, "green"),  # 79.975 %
        (32.0, 40.0, "amber"),  # exactly 80 %
        (22.4, 28.0, "amber"),  # exactly 80 %, although 22.4/28 < 0.8 in binary floating point
        (40.0, 40.0, "amber"),  # at the limit: not above it
        (40.01, 40.0, "red"),
        (1.59, 2.0, "green"),  # red marrow, 79.5 %
        (1.6, 2.0, "amber"),
        (2.0, 2.0, "amber"),
        (2.05, 2.0, "red"),
    ],
)
def test_limit_status_boundaries(value: float, limit: float, status: str) -> None:
    assert limit_status(value, limit) == status


def test_limit_inputs_are_checked() -> None:
    with pytest.raises(InvalidInputError):
        limit_status(1.0, 0.0)
    with pytest.raises(InvalidInputError):
        limit_status(-1.0, 2.0)
    with pytest.raises(InvalidInputError):
        LimitBar("kidneys", "BED", 20.0, 10.0, 40.0, None)  # projected below delivered
    with pytest.raises(InvalidInputError):
        limits_figure([])


def test_limits_figure_png() -> None:
    rows = [
        LimitBar("kidneys", "BED", 18.0, 34.0, 40.0, 2.5),
        LimitBar("kidneys (risk factors)", "BED", 18.0, 34.0, 28.0, None),
        LimitBar("red marrow", "absorbed dose", 0.4, None, 2.0, 0.1),
    ]
    fig = limits_figure(rows, dpi=DPI)
    _check_png(fig, "Gy", "80 %", "40 Gy", "28 Gy", "2 Gy")


# -------------------------------------------------------------------- waterfall


def test_waterfall_figure_png() -> None:
    fig = waterfall_figure({"L1": -45.0, "L2": 10.0, "L3": 25.0, "L4": -100.0}, "Best response")
    _check_png(fig, "%", "+20 %", "−30 %")
    with pytest.raises(InvalidInputError):
        waterfall_figure({}, "none")
    with pytest.raises(InvalidInputError):
        waterfall_figure({"L1": -120.0}, "impossible shrinkage")


# --------------------------------------------------------------------- timeline


def test_timeline_figure_png() -> None:
    t0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    admin = [(t0 + dt.timedelta(weeks=8 * n), 7.4, f"C{n + 1}") for n in range(4)]
    labs = {
        "platelets (10^9/L)": [(t0 + dt.timedelta(weeks=2 * n), 250.0 - 8 * n) for n in range(14)],
        "eGFR": [(t0 + dt.timedelta(weeks=4 * n), 90.0 - n) for n in range(7)],
    }
    fig = timeline_figure(admin, labs, {"platelets (10^9/L)": 75.0}, dpi=DPI)
    _check_png(fig, "GBq", "UTC")
    _check_png(timeline_figure(admin, None, None, dpi=DPI), "GBq")
    _check_png(timeline_figure([], labs, None, dpi=DPI), "GBq")


def test_timeline_rejects_naive_times_and_unknown_limits() -> None:
    t0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    with pytest.raises(InvalidInputError):
        timeline_figure([(dt.datetime(2026, 1, 5), 7.4, "C1")], None, None)
    with pytest.raises(InvalidInputError):
        timeline_figure([(t0, 7.4, "C1")], {"Hb (g/dL)": [(t0, 12.0)]}, {"platelets": 75.0})
    with pytest.raises(InvalidInputError):
        timeline_figure([], None, None)


def test_tac_label_converts_to_hours_and_mbq_h() -> None:
    curve, _, _ = _mono_fit()
    # 100 MBq at t = 0 with T_eff = 60 h: TIA = 100 MBq · 60 h / ln 2 = 8656.2 MBq·h,
    # shown to 3 significant digits.
    label = tac_label(curve)
    assert label.startswith("kidneys: mono, T_eff 60.0 h, TIA 8660 ± ")
    assert label.endswith(" MBq·h")
    assert tac_label(TacCurve("blood", (1.0,), (2.0,), None)) == "blood (no fit)"
