"""Tests of sstrkit.therapy.pvc (partial-volume-corrected region doses).

References: the Gaussian blur model itself (a region map blurred by
scipy.ndimage.gaussian_filter with the module's σ must be recovered exactly by
the geometric transfer matrix — Rousset et al., J Nucl Med 1998;39:904-911 —
up to floating point), the closed-form sphere recovery coefficient of
sstrkit.therapy.recovery (an independent formula, integral of the stay
probability of a 3-D Gaussian), and the closed-form blurred profile of a slab,
c_b + Δ·[Φ((z − z0)/σ) − Φ((z − z1)/σ)], written out below.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage, special

from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.therapy.pvc import (
    activity_masks,
    gaussian_sigma_voxels,
    gtm_region_doses,
    margin_voxels,
    pv_corrected_doses,
    voi_region_doses,
)
from sstrkit.therapy.recovery import sphere_recovery_coefficient

SP = (2.0, 2.0, 2.0)


def _sphere_labels(n: int = 40, radius_mm: float = 12.0) -> np.ndarray:
    c = (n - 1) / 2
    z, y, x = np.mgrid[:n, :n, :n]
    r = np.sqrt((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2) * SP[0]
    lab = np.where(r <= radius_mm, 2, 1).astype(np.int32)
    lab[0] = 0  # a slab of "air" label: every label value is a GTM region
    return lab


def test_activity_masks_grow_only_into_unlabelled_tissue() -> None:
    lab = np.ones((1, 1, 9), np.int32)
    lab[0, 0, 4] = 7  # kidney
    lab[0, 0, 6] = 5  # liver, next to it
    lab[0, 0, 0] = 0  # air
    m = activity_masks(lab, {"kidneys": (7,), "liver": (5,)}, 2)
    assert m["kidneys"][0, 0].astype(int).tolist() == [0, 0, 1, 1, 1, 1, 0, 0, 0]
    assert m["liver"][0, 0].astype(int).tolist() == [0, 0, 0, 0, 0, 0, 1, 0, 0]  # not grown
    plain = activity_masks(lab, {"kidneys": (7,)}, 0)
    assert plain["kidneys"].sum() == 1
    with pytest.raises(InvalidInputError):
        activity_masks(lab, {"kidneys": (7,)}, -1)


def test_margin_and_sigma_follow_the_fwhm() -> None:
    # σ = FWHM / √(8 ln 2) = 11 / 2.35482 = 4.6712 mm → 2.3356 voxels of 2 mm
    assert gaussian_sigma_voxels(11.0, SP)[0] == pytest.approx(11.0 / 2.354820045 / 2.0)
    assert margin_voxels(11.0, (4.8, 4.8, 4.8)) == 1  # 5.5 mm → 1 voxel
    assert margin_voxels(11.0, (4.0, 4.0, 1.0)) == 6  # finest axis
    with pytest.raises(InvalidInputError):
        margin_voxels(0.0, SP)


def test_gtm_recovers_uniform_regions_blurred_by_the_model() -> None:
    lab = _sphere_labels()
    lab[5:10, 5:30, 5:30] = 3  # a second hot region next to the sphere
    true = np.select([lab == 2, lab == 3, lab == 1], [10.0, 4.0, 1.0], 0.0)
    rho = np.select([lab == 3], [1.9], 1.0)  # region 3 is "bone"
    energy = true * rho
    blurred = ndimage.gaussian_filter(energy, gaussian_sigma_voxels(11.0, SP), mode="constant")
    dose = blurred / rho  # what a density-corrected dose map shows
    res = gtm_region_doses(
        dose, lab, {"s": (2,), "b": (3,), "both": (2, 3)}, fwhm_mm=11.0, spacing_mm=SP, density=rho
    )
    assert res["s"].corrected_mean_gy == pytest.approx(10.0, rel=1e-9)
    assert res["b"].corrected_mean_gy == pytest.approx(4.0, rel=1e-9)
    n2, n3 = (lab == 2).sum(), (lab == 3).sum()  # energy / mass of the union
    both = (10.0 * n2 + 4.0 * 1.9 * n3) / (n2 + 1.9 * n3)
    assert res["both"].corrected_mean_gy == pytest.approx(both, rel=1e-9)
    assert res["s"].uncorrected_mean_gy < 0.8 * 10.0  # the partial-volume loss it removes


def test_gtm_self_recovery_equals_the_sphere_recovery_coefficient() -> None:
    lab = _sphere_labels()
    dose = np.where(lab == 2, 1.0, 0.0)
    res = gtm_region_doses(dose, lab, {"lesion": (2,)}, fwhm_mm=11.0, spacing_mm=SP)
    vol_ml = float((lab == 2).sum()) * 8e-3
    # independent closed form; difference = voxelised vs exact sphere surface (< 1 %)
    rc = sphere_recovery_coefficient(vol_ml, 11.0)
    assert res["lesion"].details["self_recovery"] == pytest.approx(rc, rel=0.01)


def test_voi_lesion_rc_and_organ_background_corrected_margin() -> None:
    lab = _sphere_labels()
    sig = gaussian_sigma_voxels(11.0, SP)
    cold = ndimage.gaussian_filter(np.where(lab == 2, 10.0, 0.0), sig, mode="constant")
    les = voi_region_doses(cold, lab, {"lesion_x": (2,)}, fwhm_mm=11.0, spacing_mm=SP)
    # sphere in a cold background: mean / RC gives back the truth within 1 %
    assert les["lesion_x"].corrected_mean_gy == pytest.approx(10.0, rel=0.01)
    assert les["lesion_x"].method == "recovery_coefficient"
    # Slab "kidney" z ∈ [20, 40) voxels, 8 in a uniform background of 1.
    n, z0, z1, cb, co = 70, 20, 40, 1.0, 8.0
    slab = np.ones((n, 3, 3), np.int32)
    slab[z0:z1] = 7
    true = np.where(slab == 7, co, cb)
    img = ndimage.gaussian_filter(true, sig, mode="nearest")
    res = voi_region_doses(img, slab, {"kidneys": (7,)}, fwhm_mm=11.0, spacing_mm=SP)["kidneys"]
    # Hand calculation on the closed-form profile at voxel centres (mm):
    s = 11.0 / math.sqrt(8 * math.log(2))
    zc = (np.arange(n) + 0.5) * 2.0

    def prof(z: np.ndarray) -> np.ndarray:
        return cb + (co - cb) * (
            special.ndtr((z - z0 * 2.0) / s) - special.ndtr((z - z1 * 2.0) / s)
        )

    m = 3  # FWHM/2 = 5.5 mm → 3 voxels of 2 mm
    own = prof(zc[z0:z1]).sum()
    shell = prof(zc[z0 - m : z0]).sum() + prof(zc[z1 : z1 + m]).sum()
    ring_idx = np.r_[z0 - 9 : z0 - 6, z1 + 6 : z1 + 9]  # 1 FWHM (6 voxels) + 3 voxels out
    bg = prof(zc[ring_idx]).mean()
    expected = (own + shell - bg * 2 * m) / (z1 - z0)
    assert res.corrected_mean_gy == pytest.approx(expected, rel=2e-3)
    assert res.details["shell_voxels"] == 2 * m * 9
    # and what it means: the FWHM/2 margin recovers ~85 % of the spill-out
    assert res.uncorrected_mean_gy < 0.95 * co < res.corrected_mean_gy < co


def test_pv_corrected_doses_records_provenance_and_checks_input() -> None:
    lab = _sphere_labels()
    dose = np.where(lab == 2, 2.0, 0.1)
    res, step = pv_corrected_doses(
        dose, lab, {"lesion_1": (2,)}, method="gtm", fwhm_mm=11.0, spacing_mm=SP, inputs=("d",)
    )
    assert step.operation == "partial_volume_region_doses"
    assert step.parameters["method"] == "gtm" and step.parameters["fwhm_mm"] == 11.0
    assert "Rousset" in step.sources[0]
    assert res["lesion_1"].factor > 1.0
    _, step_voi = pv_corrected_doses(
        dose, lab, {"lesion_1": (2,)}, method="voi", fwhm_mm=11.0, spacing_mm=SP
    )
    assert step_voi.parameters["grown_organs"] == ["kidneys", "spleen"]
    with pytest.raises(InvalidInputError):
        pv_corrected_doses(dose, lab, {}, method="bogus", fwhm_mm=11.0, spacing_mm=SP)  # type: ignore[arg-type]
    with pytest.raises(GeometryMismatchError):
        gtm_region_doses(dose[1:], lab, {}, fwhm_mm=11.0, spacing_mm=SP)
    with pytest.raises(InvalidInputError):
        gtm_region_doses(dose, lab.astype(float), {}, fwhm_mm=11.0, spacing_mm=SP)
