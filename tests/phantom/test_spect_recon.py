"""Projection + OSEM SPECT path (sstrkit.phantom.spect_recon), on small grids."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import special

from sstrkit.errors import InvalidInputError
from sstrkit.phantom.anatomy import Grid
from sstrkit.phantom.scanners import FWHM_TO_SIGMA, box_resample
from sstrkit.phantom.spect_recon import (
    SpectProjector,
    SpectSystem,
    attenuation_map,
    osem,
    reconstruct_spect,
    simulate_projections,
)

V = 4.8
N = 33  # 158 mm field of view: a 60 mm radius cylinder plus the response tails
SYSTEM = SpectSystem.default()
MU_W = SYSTEM.mu_water_per_mm
DURATION = 1200.0
# Expected counts from 1 Bq/mL in one voxel over the whole acquisition: mL × cps/Bq × s.
COUNTS_PER_BQ_ML = V**3 / 1000.0 * 5.67e-6 * DURATION


def _grid(n: int, v: float) -> Grid:
    o = -(n - 1) * v / 2
    return Grid((n, n, n), (v, v, v), (o, o, o))


GRID = _grid(N, V)
FINE = _grid(4 * N, V / 4)  # the same field of view in 1.2 mm voxels


def _on_grid(fine_values: NDArray[Any]) -> NDArray[np.float64]:
    return box_resample(fine_values, FINE, GRID)


@pytest.fixture(scope="module")
def cylinder() -> tuple[NDArray[np.bool_], NDArray[np.float32]]:
    """Water cylinder, radius 60 mm, |z| <= 70 mm: fine-grid mask and μ on the SPECT grid."""
    xs, ys, zs = FINE.axes()
    inside = (xs[None, None, :] ** 2 + ys[None, :, None] ** 2 <= 60.0**2) & (
        np.abs(zs)[:, None, None] <= 70.0
    )
    return inside, _on_grid(np.where(inside, MU_W, 0.0)).astype(np.float32)


def _point(ix: int = 0, iy: int = 0, iz: int = 0) -> NDArray[np.float64]:
    act = np.zeros(GRID.shape)
    c = N // 2
    act[c + iz, c + iy, c + ix] = 1.0
    return act


# ---------------------------------------------------------------- model values
def test_default_system_matches_the_parameter_file_and_the_11mm_image_model() -> None:
    s = SpectSystem.default()
    assert s.voxel_mm == 4.8 and s.sensitivity_cps_per_mbq == 5.67  # parameters.toml [spect]
    assert s.energy_mev == pytest.approx(0.208366)  # ICRP-107 177Lu γ of highest yield (11 %)
    # FWHM at the rotation axis = the image-domain model's 11 mm (by construction), and the
    # view-averaged FWHM of any point within 150 mm of the axis (the body: semi-axes
    # <= ~150 mm) stays within 5 % of it, because FWHM(d) is almost linear in d.
    assert float(s.fwhm_mm(s.radius_of_rotation_mm)) == pytest.approx(11.0, rel=1e-12)
    phi = np.linspace(0.0, 2.0 * math.pi, 721)[:-1]
    for r in (0.0, 50.0, 100.0, 150.0):
        mean = float(s.fwhm_mm(s.radius_of_rotation_mm - r * np.cos(phi)).mean())
        assert mean == pytest.approx(11.0, rel=0.05)


def test_attenuation_map_bilinear_model() -> None:
    # Water μ/ρ (NISTIR 5632 table 4): 0.1370 cm²/g at 200 keV, 0.1186 at 300 keV; log-log
    # interpolation to 208.366 keV by hand: exp(ln .1370 + ln(.208366/.2)/ln 1.5 · ln(.1186/.1370)).
    e = 0.208366
    mu_w = math.exp(
        math.log(0.1370) + math.log(e / 0.2) / math.log(1.5) * math.log(0.1186 / 0.1370)
    )
    assert pytest.approx(mu_w / 10.0, rel=1e-6) == MU_W
    mu = attenuation_map(np.array([-1100.0, -1000.0, -500.0, 0.0, 550.0, 1100.0]), e)
    # Soft branch: μ_w (1 + HU/1000); bone branch reaches, at the phantom's cortical bone
    # (1100 HU, 1.92 g/mL), ρ·(Z/A ratio)·μ_w with Z/A 0.51478 (bone) / 0.55508 (water).
    mu_bone = 1.92 * 0.51478 / 0.55508 * mu_w / 10.0
    expected = [0.0, 0.0, 0.5 * mu_w / 10.0, mu_w / 10.0, (mu_w / 10.0 + mu_bone) / 2, mu_bone]
    np.testing.assert_allclose(mu, expected, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- projector
def test_projector_pair_is_adjoint() -> None:
    # <A x, y> = <x, Aᵀ y> for random non-negative x, y, a random μ map, a non-cubic grid and a
    # subset of views. The back-projector is the exact transpose by construction (sparse
    # rotation transpose, symmetric blurs, the same attenuation factors), so the only
    # difference is float32 rounding: relative ~1e-7 per operation, 1e-5 allows the sums
    # over ~1e5 terms. Measured 4e-9; a back-projector that rotates back with
    # scipy.ndimage.rotate (order 1) instead of the transpose gives 1.1e-4 here.
    rng = np.random.default_rng(11)
    shape = (14, 18, 23)
    mu = (rng.random(shape) * 0.02).astype(np.float32)
    proj = SpectProjector(SYSTEM, mu)
    views = [0, 7, 31, 45, 90, 119]
    x = rng.random(shape)
    y = rng.random((len(views), *proj.projection_shape[1:]))
    ax = proj.forward(x, views).astype(np.float64)
    aty = proj.back(y, views).astype(np.float64)
    lhs, rhs = float((ax * y).sum()), float((x * aty).sum())
    assert abs(lhs - rhs) / abs(lhs) < 1e-5


def test_point_source_counts_without_attenuation() -> None:
    # Each view sees all activity for duration/n_views: the total over the views is
    # A × sensitivity × duration, and every view holds 1/n_views of it (rotation is
    # mass-conserving, the detector is untruncated). float32 sums: 1e-5.
    for pos in ((0, 0, 0), (5, -3, 2)):
        proj = simulate_projections(_point(*pos), np.zeros(GRID.shape), SYSTEM, DURATION, None)
        per_view = proj.sum(axis=(1, 2), dtype=np.float64)
        assert per_view.sum() == pytest.approx(COUNTS_PER_BQ_ML, rel=1e-5)
        np.testing.assert_allclose(per_view, COUNTS_PER_BQ_ML / SYSTEM.n_views, rtol=1e-5)


def test_point_source_response_has_the_model_fwhm() -> None:
    # A centred point is at d = R from the collimator in every view: the lateral and axial
    # second moments of its summed projection equal (FWHM(R)/2.3548)² = (11 mm/2.3548)²
    # (exact-variance kernels; the rotation's mean lateral spread is compensated). 2 %:
    # the compensation is exact on average over sub-pixel positions, not for one voxel.
    proj = simulate_projections(_point(), np.zeros(GRID.shape), SYSTEM, DURATION, None)
    expected = (11.0 * FWHM_TO_SIGMA) ** 2
    for axis in (1, 2):
        prof = proj.sum(axis=tuple(a for a in (0, 1, 2) if a != axis), dtype=np.float64)
        u = np.arange(prof.size) * V
        mean = float((prof * u).sum() / prof.sum())
        var = float((prof * (u - mean) ** 2).sum() / prof.sum())
        assert var == pytest.approx(expected, rel=0.02)
    # Depth dependence: a point at x0 = +38.4 mm is R − x0 from the collimator in view 30
    # (θ = 90°, detector on +x) and R + x0 in view 90 (θ = 270°). Its axial profile (no
    # rotation involved) has the variance (FWHM(d)/2.3548)² of that depth; 1 %: the
    # sub-points straddle two depth rows 4.8 mm apart.
    x0 = 8 * V
    proj = simulate_projections(_point(8), np.zeros(GRID.shape), SYSTEM, DURATION, None)
    for view, d in ((30, 250.0 - x0), (90, 250.0 + x0)):
        prof = proj[view].sum(axis=1, dtype=np.float64)
        u = np.arange(prof.size) * V
        mean = float((prof * u).sum() / prof.sum())
        var = float((prof * (u - mean) ** 2).sum() / prof.sum())
        fwhm = math.sqrt(4.0**2 + (SYSTEM.fwhm_collimator_at_100mm_mm * d / 100.0) ** 2)
        assert var == pytest.approx((fwhm * FWHM_TO_SIGMA) ** 2, rel=0.01)


def test_attenuation_of_point_sources_in_a_water_cylinder(
    cylinder: tuple[NDArray[np.bool_], NDArray[np.float32]],
) -> None:
    # Narrow-beam primary attenuation exp(−μ L): L = 60 mm for the centre in every view; for a
    # point at x0 = 38.4 mm the chord towards the detector direction n = (sin θ, cos θ) is
    # L(θ) = −x0 sin θ + √(60² − x0² cos² θ). 2 %: the cylinder edge is box-averaged on a
    # 4.8 mm grid (path error well below half a voxel × μ ≈ 3 %), rotation resampling.
    _, mu = cylinder
    theta = SYSTEM.angles_rad
    for ix in (0, 8):
        x0 = ix * V
        free = simulate_projections(_point(ix), np.zeros(GRID.shape), SYSTEM, DURATION, None)
        att = simulate_projections(_point(ix), mu, SYSTEM, DURATION, None)
        ratio = att.sum(axis=(1, 2), dtype=np.float64) / free.sum(axis=(1, 2), dtype=np.float64)
        chord = -x0 * np.sin(theta) + np.sqrt(60.0**2 - (x0 * np.cos(theta)) ** 2)
        np.testing.assert_allclose(ratio, np.exp(-MU_W * chord), rtol=0.02)


# ---------------------------------------------------------------- reconstruction
def test_osem_of_a_uniform_water_cylinder_is_quantitative(
    cylinder: tuple[NDArray[np.bool_], NDArray[np.float32]],
) -> None:
    # Noise-free OSEM (4 iterations × 10 subsets) with attenuation correction: the mean in a
    # central region (r <= 30 mm, |z| <= 30 mm, > 2 FWHM from the edges) is within 3 % of the
    # true 1000 Bq/mL and the total activity within 3 % (the system model includes the
    # sensitivity; the low frequencies converge first). Measured: +0.2 % and −0.1 %.
    inside, mu = cylinder
    truth = _on_grid(np.where(inside, 1000.0, 0.0))
    proj = simulate_projections(truth, mu, SYSTEM, DURATION, None)
    img = osem(proj, mu, SYSTEM, DURATION, iterations=4, subsets=10)
    assert img.dtype == np.float32 and img.shape == GRID.shape
    xs, ys, zs = GRID.axes()
    central = (xs[None, None, :] ** 2 + ys[None, :, None] ** 2 <= 30.0**2) & (
        np.abs(zs)[:, None, None] <= 30.0
    )
    assert float(img[central].mean()) == pytest.approx(1000.0, rel=0.03)
    assert float(img.sum(dtype=np.float64)) == pytest.approx(float(truth.sum()), rel=0.03)


def _blurred_ball(a: float, r: NDArray[np.float64], sigma: float) -> NDArray[np.float64]:
    """A uniform ball (radius a, value 1) convolved with a 3-D Gaussian σ, at radius r.

    P(|X + r e| <= a), X ~ N(0, σ² I₃): the noncentral χ CDF with 3 degrees of freedom,
    Φ((a − r)/σ) − Φ((−a − r)/σ) − (σ/r)[φ((a − r)/σ) − φ((a + r)/σ)].
    """
    p, q = (a - r) / sigma, (a + r) / sigma
    cdf = 0.5 * (1.0 + special.erf(np.array([p, -q]) / math.sqrt(2.0)))
    pdf = np.exp(-(np.array([p, q]) ** 2) / 2.0) / math.sqrt(2.0 * math.pi)
    return np.asarray(cdf[0] - cdf[1] - sigma / np.maximum(r, 1e-9) * (pdf[0] - pdf[1]))


def test_hot_sphere_shows_partial_volume_loss_from_the_projector(
    cylinder: tuple[NDArray[np.bool_], NDArray[np.float32]],
) -> None:
    # 30 mm sphere of 1000 Bq/mL, no background, in the water cylinder. Reference values:
    # * no resolution recovery: the sphere blurred by the 11 mm system FWHM, averaged over the
    #   voxel centres of the mask (r <= 15 mm), recovers 0.647 (noncentral-χ formula above);
    # * full recovery: the mean of the voxelised truth over the mask, 0.881 (edge voxels are
    #   partly outside the sphere).
    # OSEM with resolution recovery after 4 × 10 sub-iterations lies between (measured 0.86):
    # partial-volume loss comes from the projector's blur and the finite iterations, and the
    # activity spilled out of the mask is recovered by a VOI grown by 2 FWHM (22 mm).
    _, mu = cylinder
    xs, ys, zs = FINE.axes()
    ball = xs[None, None, :] ** 2 + ys[None, :, None] ** 2 + zs[:, None, None] ** 2 <= 15.0**2
    truth = _on_grid(np.where(ball, 1000.0, 0.0))
    gx, gy, gz = GRID.axes()
    r = np.sqrt(gx[None, None, :] ** 2 + gy[None, :, None] ** 2 + gz[:, None, None] ** 2)
    mask = r <= 15.0
    no_recovery = float(_blurred_ball(15.0, r[mask], 11.0 * FWHM_TO_SIGMA).mean())
    full_recovery = float(truth[mask].mean()) / 1000.0
    assert no_recovery == pytest.approx(0.647, abs=0.002)
    assert full_recovery == pytest.approx(0.881, abs=0.002)
    proj = simulate_projections(truth, mu, SYSTEM, DURATION, None)
    img = osem(proj, mu, SYSTEM, DURATION, iterations=4, subsets=10)
    recovery = float(img[mask].mean()) / 1000.0
    assert no_recovery < recovery < full_recovery
    grown = r <= 15.0 + 22.0
    assert float(img[grown].sum()) == pytest.approx(float(truth.sum()), rel=0.02)
    assert float(img[mask].sum()) < 0.99 * float(truth[mask].sum())


def test_reconstruct_spect_is_deterministic_and_reports_its_model() -> None:
    # Same seed -> identical Poisson projections and image; another seed differs. A small
    # 24-view camera keeps the test fast (OSEM takes any divisor of the views).
    small = _grid(15, V)
    fine = _grid(30, V / 2)
    xs, ys, zs = fine.axes()
    ball = xs[None, None, :] ** 2 + ys[None, :, None] ** 2 + zs[:, None, None] ** 2 <= 20.0**2
    conc = np.where(ball, 5e4, 0.0)
    hu = box_resample(np.where(ball, 0.0, -1000.0) + 1000.0, fine, small) - 1000.0
    system = SpectSystem(n_views=24)

    def run(seed: int) -> tuple[NDArray[np.float32], Grid, dict[str, Any]]:
        return reconstruct_spect(
            conc, fine, hu, duration_s=DURATION, rng=np.random.default_rng(seed),
            system=system, iterations=2, subsets=6,
        )  # fmt: skip

    a, grid, info = run(5)
    b, _, _ = run(5)
    c, _, _ = run(6)
    assert grid == small
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert info["noise"] is True and info["n_views"] == 24 and "scatter" in info
    # Recorded counts / unattenuated A·S·T = first-flight escape probability from a uniform
    # water sphere, x = μa: (3/(8x³))[2x² − 1 + (1 + 2x)e^{−2x}] (Case, de Hoffmann & Placzek,
    # Introduction to the Theory of Neutron Diffusion, 1953), 0.823 for a = 20 mm (checked
    # against a Monte Carlo of random chords). 4 %: the sphere is voxelised at 4.8 mm and
    # ~9000 counts have a 1 % Poisson spread.
    x = MU_W * 20.0
    escape = 3.0 / (8.0 * x**3) * (2.0 * x * x - 1.0 + (1.0 + 2.0 * x) * math.exp(-2.0 * x))
    total = float(box_resample(conc, fine, small).sum()) * COUNTS_PER_BQ_ML
    assert info["recorded_counts"] / total == pytest.approx(escape, rel=0.04)


# ---------------------------------------------------------------- errors
def test_bad_inputs_raise_invalid_input_error(
    cylinder: tuple[NDArray[np.bool_], NDArray[np.float32]],
) -> None:
    _, mu = cylinder
    zeros = np.zeros(GRID.shape)
    with pytest.raises(InvalidInputError, match="views"):
        SpectSystem(n_views=1)
    with pytest.raises(InvalidInputError, match="radius of rotation"):
        SpectSystem(radius_of_rotation_mm=-1.0)
    with pytest.raises(InvalidInputError, match="radius of rotation"):
        SpectProjector(SpectSystem(radius_of_rotation_mm=100.0), zeros)  # orbit cuts the FOV
    with pytest.raises(InvalidInputError, match="activity"):
        simulate_projections(-_point(), mu, SYSTEM, DURATION, None)
    with pytest.raises(InvalidInputError, match="activity"):
        simulate_projections(np.zeros((N, N, N - 1)), mu, SYSTEM, DURATION, None)
    with pytest.raises(InvalidInputError, match="attenuation map"):
        simulate_projections(zeros, mu - 1.0, SYSTEM, DURATION, None)
    with pytest.raises(InvalidInputError, match="duration"):
        simulate_projections(zeros, mu, SYSTEM, 0.0, None)
    proj = SpectProjector(SYSTEM, mu)
    y = np.zeros(proj.projection_shape)
    with pytest.raises(InvalidInputError, match="subsets"):
        osem(y, mu, SYSTEM, DURATION, subsets=7)
    with pytest.raises(InvalidInputError, match="iterations"):
        osem(y, mu, SYSTEM, DURATION, iterations=0)
    with pytest.raises(InvalidInputError, match="projections"):
        osem(y[:, :-1], mu, SYSTEM, DURATION)
    with pytest.raises(InvalidInputError, match="post-filter"):
        osem(y, mu, SYSTEM, DURATION, post_filter_fwhm_mm=-1.0)
    with pytest.raises(InvalidInputError, match="CT numbers"):
        attenuation_map(np.array([np.nan]))
    with pytest.raises(InvalidInputError, match="CT on the SPECT grid"):
        reconstruct_spect(zeros, GRID, np.zeros((3, 3, 3)), duration_s=DURATION, rng=None)
