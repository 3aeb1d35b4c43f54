"""Post-implant 90Y dosimetry (sstrkit.sirt.y90_dose): LDM, voxel S values, quantification.

Reference values are written out by hand from ICRP Publication 107 (90Y: mean β⁻ energy
0.932905 MeV, half-life 64.10 h = 230 760 s) and the definitions of the methods; each
tolerance says why it is what it is.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.physics.kernels import voxel_kernel
from sstrkit.sirt.dose_vois import Y90Vois, classify_name, region_masks
from sstrkit.sirt.y90_dose import (
    Y90Image,
    density_on_grid,
    implant_activity,
    ldm_dose,
    resolution_volumes,
    voxel_s_dose,
    y90_dosimetry,
)

H = 3600.0
T0 = dt.datetime(2026, 3, 2, 11, 0, tzinfo=dt.UTC)
# ICRP 107, 90Y: mean beta energy (MeV) and half-life (s)
BETA_MEAN_MEV = 0.932905
HALF_LIFE_S = 64.10 * H
J_PER_MEV = 1.602176634e-13
# energy per Bq over complete decay (J/Bq): E = Ē · T½/ln 2 · J/MeV  (≈ 49.76 J/GBq)
E_J_PER_BQ = BETA_MEAN_MEV * HALF_LIFE_S / math.log(2.0) * J_PER_MEV
LAMBDA = math.log(2.0) / HALF_LIFE_S


@pytest.fixture(scope="module", autouse=True)
def _kernel_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Kernels built into a private cache (no write into the user's cache)."""
    path = tmp_path_factory.mktemp("sstrkit-cache")
    old = os.environ.get("SSTRKIT_CACHE")
    os.environ["SSTRKIT_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("SSTRKIT_CACHE", None)
    else:
        os.environ["SSTRKIT_CACHE"] = old


def _vol(arr: np.ndarray, unit: str, spacing: float = 4.0, **kw: object) -> Volume:
    return Volume.from_array(arr, spacing=(spacing,) * 3, unit=unit, **kw)  # type: ignore[arg-type]


def _scan(
    conc: np.ndarray,
    hu: np.ndarray | None,
    *,
    hours: float = 0.0,
    implanted: float | None = None,
    spacing: float = 4.0,
    **kw: object,
) -> Y90Image:
    img = _vol(conc.astype(np.float32), "Bq/mL", spacing, modality="PT", name="y90")
    ct = None if hu is None else _vol(hu.astype(np.float32), "HU", spacing, modality="CT")
    total = float(conc.sum()) * spacing**3 / 1000.0 * math.exp(LAMBDA * hours * H)
    return Y90Image(
        image=img,
        ct=ct,
        kind="pet",
        implant_time=T0,
        scan_time=T0 + dt.timedelta(hours=hours),
        implanted_activity_bq=total if implanted is None else implanted,
        **kw,  # type: ignore[arg-type]
    )


def test_ldm_uniform_cube_hand_calculation() -> None:
    # 1 MBq/mL at implant in water (0 HU → 1.0 g/mL): every voxel gets
    # D = E · A / m = E_J_per_Bq · (1e6 Bq/mL · V) / (1.0 g/mL · V · 1e-3 kg/g) = E · 1e9 Gy
    conc = np.zeros((8, 8, 8))
    conc[2:6, 2:6, 2:6] = 1e6
    hu = np.zeros((8, 8, 8))
    act = implant_activity(_scan(conc, hu))
    rho, _ = density_on_grid(_scan(conc, hu).ct, act.activity)
    dose = ldm_dose(act.activity, rho)
    expected = E_J_PER_BQ * 1e6 / 1e-3  # Gy, ≈ 49.76
    # float32 dose map: 1e-6 relative; the ICRP inputs above are the package's to 1e-5
    assert float(dose.array[3, 3, 3]) == pytest.approx(expected, rel=2e-5)
    assert expected == pytest.approx(49.76, abs=0.01)
    assert float(dose.array[0, 0, 0]) == 0.0
    assert dose.unit == "Gy"


def test_ldm_decay_back_to_implant_and_density() -> None:
    # scanned 24 h after the implant (DecayCorrection START): A0 = A(24 h)·e^(λ·24 h);
    # liver at 58 HU → ρ = 1 + 58/1000 = 1.058 g/mL (package calibration, air–water line)
    conc = np.full((4, 4, 4), 2e5)
    hu = np.full((4, 4, 4), 58.0)
    scan = _scan(conc, hu, hours=24.0)
    act = implant_activity(scan)
    assert act.decay_factor == pytest.approx(math.exp(LAMBDA * 24 * H), rel=1e-9)
    rho, _ = density_on_grid(scan.ct, act.activity)
    d = ldm_dose(act.activity, rho)
    expected = E_J_PER_BQ * 2e5 * math.exp(LAMBDA * 24 * H) / (1.058e-3)
    assert float(d.array[1, 1, 1]) == pytest.approx(expected, rel=2e-5)
    # ADMIN: the values are already at the implant, no decay factor
    admin = implant_activity(_scan(conc, hu, hours=24.0, decay_reference="ADMIN"))
    assert admin.decay_factor == 1.0


def test_voxel_s_equals_ldm_at_the_centre_of_a_large_uniform_sphere() -> None:
    # Charged-particle equilibrium: deep inside a uniform source larger than the maximum β
    # range (90Y: 11.3 mm CSDA in water), the absorbed dose equals the energy emitted per
    # unit mass, i.e. the local-deposition dose (Attix, Introduction to Radiological
    # Physics and Radiation Dosimetry, 1986, ch. 4). The voxel-S dose falls short only by
    # the energy the kernel misses (its extent and photons): that fraction is the kernel's
    # own Σ S·m / Δe, and the β-mean vs Δe (IC electrons) difference is 0.02 %.
    n, sp = 40, 4.0
    z, y, x = np.mgrid[:n, :n, :n]
    r_mm = np.sqrt((x - 19.5) ** 2 + (y - 19.5) ** 2 + (z - 19.5) ** 2) * sp
    conc = np.where(r_mm < 70.0, 1e5, 0.0)  # radius 70 mm ≫ 11.3 mm + kernel reach 32 mm
    hu = np.where(r_mm < 76.0, 40.0, -1000.0)  # soft tissue 1.04 g/mL (the kernel's)
    scan = _scan(conc, hu)
    act = implant_activity(scan)
    rho, ct_on = density_on_grid(scan.ct, act.activity)
    kernel = voxel_kernel("Y-90", sp, half_size=8)
    ldm = ldm_dose(act.activity, rho)
    vox = voxel_s_dose(act.activity, ct_on, kernel=kernel)
    c = (19, 19, 19)
    ratio = float(vox.array[c]) / float(ldm.array[c])
    from sstrkit.physics.nuclides import get_nuclide

    kernel_fraction = kernel.energy_in_kernel_mev() / get_nuclide("Y-90").delta_electrons_mev
    assert 0.995 < kernel_fraction <= 1.0
    # the ratio is the kernel's energy fraction × Δe/Ē_β (1.0002) to float32 precision
    assert ratio == pytest.approx(kernel_fraction * 0.933106 / BETA_MEAN_MEV, rel=1e-3)
    assert abs(ratio - 1.0) < 0.005


def test_total_energy_is_conserved() -> None:
    # Σ D·m over the grid = E · ΣA: exactly for LDM (float32 storage: 1e-5), and for the
    # voxel-S dose up to the kernel's missing energy (< 0.5 %, previous test) when the
    # activity lies a kernel reach away from the grid edges.
    rng = np.random.default_rng(7)
    n, sp = 32, 4.0
    conc = np.zeros((n, n, n))
    conc[10:22, 9:23, 11:21] = rng.gamma(4.0, 2.5e4, (12, 14, 10))
    hu = np.full((n, n, n), 58.0)
    scan = _scan(conc, hu)
    act = implant_activity(scan)
    rho, ct_on = density_on_grid(scan.ct, act.activity)
    mass_kg = rho * act.activity.voxel_volume_ml * 1e-3
    energy = E_J_PER_BQ * float(np.asarray(act.activity.array).sum())
    ldm = ldm_dose(act.activity, rho)
    assert float(np.sum(np.asarray(ldm.array, np.float64) * mass_kg)) == pytest.approx(
        energy, rel=1e-5
    )
    vox = voxel_s_dose(act.activity, ct_on, kernel=voxel_kernel("Y-90", sp, half_size=8))
    e_vox = float(np.sum(np.asarray(vox.array, np.float64) * mass_kg))
    assert e_vox == pytest.approx(energy, rel=5e-3)
    assert e_vox < energy  # the kernel can only lose energy, never create it


def _phantom() -> tuple[Y90Image, Y90Vois]:
    """Liver cube with a 4³-voxel tumour (T/N 4) and a lung slab; 8 mm FWHM."""
    n = 24
    lab = np.zeros((n, n, n), np.int32)
    lab[4:20, 4:20, 4:16] = 1  # liver (outline, tumour included)
    lab[10:14, 10:14, 6:10] = 101  # lesion_1 inside the liver
    lab[4:20, 4:20, 18:22] = 2  # lungs
    conc = np.where(lab == 1, 5e4, 0.0) + np.where(lab == 101, 2e5, 0.0)
    conc += np.where(lab == 2, 1e3, 0.0)
    hu = np.where(lab == 2, -750.0, np.where(lab > 0, 58.0, -1000.0))
    scan = _scan(conc, hu, hours=6.0, fwhm_mm=8.0)
    names = {1: "liver", 2: "lungs", 101: "lesion_1"}
    return scan, Y90Vois(_vol(lab, "1"), names, "test labels")


def test_regions_means_and_maa_comparison() -> None:
    scan, vois = _phantom()
    res = y90_dosimetry(
        scan, vois, method="ldm", predicted_gy={"tumour": 100.0, "normal_liver": 20.0}
    )
    assert [r.name for r in res.regions] == [
        "tumour",
        "normal_liver",
        "liver",
        "lungs",
        "lesion_1",
    ]
    tum = res.region("tumour")
    assert tum is not None
    # LDM tumour mean = E · A0 / m with A0 = 2e5 Bq/mL · e^(λ·6 h), ρ = 1.058 g/mL
    a0 = 2e5 * math.exp(LAMBDA * 6 * H)
    assert tum.mean_gy["ldm"] == pytest.approx(E_J_PER_BQ * a0 / 1.058e-3, rel=2e-5)
    # lungs at −750 HU: the calibration's air–water line from (−1000, 0.0012) to (0, 1.0)
    # gives ρ = 0.0012 + 0.9988 · 0.25 = 0.2509 g/mL; D = E · 1e3·e^(λ·6 h) / 0.2509e-3
    rho_lung = 0.0012 + 0.9988 * 0.25
    lung = res.mean_gy("lungs")
    assert lung == pytest.approx(
        E_J_PER_BQ * 1e3 * math.exp(LAMBDA * 6 * H) / (rho_lung * 1e-3), rel=2e-5
    )
    # the comparison is measured / predicted, of the primary method (ldm here)
    comp = {c.region: c for c in res.comparison}
    assert comp["tumour"].ratio == pytest.approx(tum.mean_gy["ldm"] / 100.0)
    assert comp["normal_liver"].difference_gy == pytest.approx(
        res.mean_gy("normal_liver") - 20.0  # type: ignore[operator]
    )
    # the whole implanted activity is in the field of view (built so): ratio 1, no flag
    assert res.fov_ratio == pytest.approx(1.0, rel=1e-6)
    assert not any("field of view" in f for f in res.flags)
    doc = res.to_dict()
    row = doc["regions"][0]
    assert "max_gy" not in row["ldm"] and "min_gy" not in row["ldm"]  # noisy: no extremes
    assert {"d70_gy", "d50_gy", "v100gy_fraction"} <= set(row["ldm"])


def test_both_methods_and_primary() -> None:
    scan, vois = _phantom()
    res = y90_dosimetry(scan, vois, method="both")
    # LDM is the primary method on a PET (Pasciak 2014); voxel S alone is primary alone
    assert res.methods == ("ldm", "voxel") and res.primary_method == "ldm"
    assert y90_dosimetry(scan, vois, method="voxel").primary_method == "voxel"
    nl = res.region("normal_liver")
    assert nl is not None and set(nl.mean_gy) == {"ldm", "voxel"}
    # the tumour (T/N 4, 64 voxels) loses dose to its surroundings with β transport
    tum = res.region("tumour")
    assert tum is not None and tum.mean_gy["voxel"] < tum.mean_gy["ldm"]
    assert "voxel_vs_ldm" in tum.to_dict()


def test_small_voi_flag_both_sides() -> None:
    # resolution volume = π/6 · FWHM³; 27 of them = a sphere of 3 FWHM diameter
    assert resolution_volumes(math.pi / 6 * 27 * 8.0**3 / 1000, 8.0) == pytest.approx(27.0)
    scan, vois = _phantom()  # lesion 4³ voxels of 4 mm = 4.096 mL; FWHM 8 mm → 15.3
    res = y90_dosimetry(scan, vois, method="ldm")
    tum = res.region("lesion_1")
    assert tum is not None and tum.small
    assert tum.resolution_volumes == pytest.approx(4.096 / (math.pi / 6 * 0.512), rel=1e-9)
    assert any("lesion_1" in f and "resolution volumes" in f for f in res.flags)
    # FWHM 5 mm: 4.096 mL = 62.6 resolution volumes ≥ 27 → not small
    big = y90_dosimetry(_scan_with_fwhm(scan, 5.0), vois, method="ldm").region("lesion_1")
    assert big is not None and not big.small


def _scan_with_fwhm(scan: Y90Image, fwhm: float) -> Y90Image:
    import dataclasses

    return dataclasses.replace(scan, fwhm_mm=fwhm)


def test_fov_ratio_flag_and_rescale() -> None:
    import dataclasses

    scan, vois = _phantom()
    doubled = dataclasses.replace(scan, implanted_activity_bq=2 * scan.implanted_activity_bq)
    res = y90_dosimetry(doubled, vois, method="ldm")
    assert res.fov_ratio == pytest.approx(0.5, rel=1e-6)
    assert any("50.0 % of the net implanted" in f for f in res.flags)
    resc = y90_dosimetry(doubled, vois, method="ldm", rescale_to_implanted=True)
    assert resc.rescaled
    base = y90_dosimetry(scan, vois, method="ldm").mean_gy("tumour")
    assert resc.mean_gy("tumour") == pytest.approx(2 * base, rel=1e-6)  # type: ignore[operator]
    assert any("rescaled to the implanted" in f for f in resc.flags)
    # inside 100 ± 10 %: no flag (1.09 implanted → ratio 0.917)
    near = dataclasses.replace(scan, implanted_activity_bq=1.09 * scan.implanted_activity_bq)
    assert not any("field of view" in f for f in y90_dosimetry(near, vois, method="ldm").flags)


def test_bremsstrahlung_spect_calibration_and_normalisation() -> None:
    counts = np.zeros((6, 6, 6))
    counts[2:4, 2:4, 2:4] = 3.0e4  # counts per voxel
    img = _vol(counts, "counts", modality="NM")
    hu = _vol(np.zeros((6, 6, 6)), "HU", modality="CT")
    spect = Y90Image(
        image=img,
        ct=hu,
        kind="spect",
        implant_time=T0,
        scan_time=T0,
        implanted_activity_bq=1e9,
        decay_reference="NONE",
        calibration_cps_per_mbq=15.0,
        acquisition_duration_s=1200.0,
    )
    act = implant_activity(spect)
    # A = counts / duration / (cps/MBq) = 3e4 / 1200 / 15 MBq = 1.6667 MBq per voxel
    assert float(act.activity.array[2, 2, 2]) == pytest.approx(3e4 / 1200 / 15 * 1e6)
    import dataclasses

    uncal = implant_activity(dataclasses.replace(spect, calibration_cps_per_mbq=None))
    assert float(np.sum(uncal.activity.array)) == pytest.approx(1e9)  # normalised
    assert any("without a calibration factor" in f for f in uncal.flags)


def test_errors_wrong_nuclide_missing_ct_units_and_times() -> None:
    conc = np.full((4, 4, 4), 1e4)
    with pytest.raises(InvalidInputError, match="Y-90"):
        _scan(conc, None, nuclide="Lu-177")
    with pytest.raises(InvalidInputError, match="Y-90"):
        _scan(conc, None, nuclide="Tc-99m")
    assert _scan(conc, None, nuclide="90Y").nuclide == "90Y"  # spelled another way: fine
    scan, vois = _phantom()
    import dataclasses

    with pytest.raises(InvalidInputError, match="CT of the 90Y scan"):
        y90_dosimetry(dataclasses.replace(scan, ct=None), vois)
    suv = dataclasses.replace(scan, image=scan.image.with_metadata(unit="g/mL"))
    with pytest.raises(InvalidInputError, match="BQML"):
        implant_activity(suv)
    with pytest.raises(InvalidInputError, match="after the implant"):
        _scan(conc, None, hours=-2.0)
    with pytest.raises(InvalidInputError, match="dose method"):
        y90_dosimetry(scan, vois, method="mc")  # type: ignore[arg-type]


def test_voi_names_and_hepatic_lesions() -> None:
    assert classify_name("Liver_met_2") == "lesion"
    assert classify_name("hepar") == "liver"
    assert classify_name("lungs") == "lungs"
    lab = np.zeros((10, 10, 10), np.int32)
    lab[2:8, 2:8, 2:5] = 1
    lab[3:5, 3:5, 5:6] = 101  # touches the liver: hepatic
    lab[8:10, 8:10, 8:10] = 102  # far from it: a lesion, not "tumour"
    vois = Y90Vois(_vol(lab, "1"), {1: "liver_normal", 101: "lesion_1", 102: "lesion_2"}, "t")
    masks = {m.name: m for m in region_masks(vois, _vol(np.zeros((10, 10, 10)), "Bq"))}
    assert int(masks["tumour"].mask.sum()) == 4
    assert int(masks["liver"].mask.sum()) == 6 * 6 * 3 + 4
    assert "lesion_2" in masks and "lungs" not in masks
    no_liver = Y90Vois(_vol(lab, "1"), {101: "lesion_1"}, "t")
    with pytest.raises(InvalidInputError, match="liver VOI"):
        region_masks(no_liver, _vol(np.zeros((10, 10, 10)), "Bq"))


def _fake_perfused(lab: np.ndarray) -> object:
    """A PerfusedLiver with the phantom's liver (1 and 101)."""
    from sstrkit.sirt.perfused_liver import PerfusedLiver

    mask = (lab == 1) | (lab == 101)
    return PerfusedLiver(mask, float(mask.sum()), 1.0, 0.5, 14.0, ())


def test_automatic_vois_threshold_and_given_tumours(monkeypatch: pytest.MonkeyPatch) -> None:
    # the perfused liver is replaced by the phantom's own outline: what is tested here is
    # the tumour threshold (> 2 × the liver median, components ≥ 1 mL) and the label layout
    import sstrkit.sirt.perfused_liver as perfused_mod
    from sstrkit.sirt.dose_vois import automatic_vois

    scan, vois = _phantom()
    lab = np.asarray(vois.labels.array)
    assert scan.ct is not None
    ct = scan.ct
    monkeypatch.setattr(perfused_mod, "perfused_liver", lambda *a, **k: _fake_perfused(lab))
    auto = automatic_vois(ct, scan.image)
    assert auto.automatic and auto.names == {1: "liver", 2: "lungs", 101: "lesion_1"}
    # the liver median is the normal liver's 5e4 Bq/mL; the 2e5 tumour is found exactly
    assert np.array_equal(np.asarray(auto.labels.array) == 101, lab == 101)
    res = y90_dosimetry(scan, auto, method="ldm")
    assert any(f.startswith("automatic VOIs") for f in res.flags)
    ref = y90_dosimetry(scan, vois, method="ldm")
    assert res.mean_gy("tumour") == pytest.approx(ref.mean_gy("tumour"), rel=1e-9)
    # a given tumour map (e.g. registered baseline lesions) replaces the threshold
    given = _vol(np.where(lab == 101, 5, 0).astype(np.int32), "1")
    g = automatic_vois(ct, scan.image, tumour_labels=given, tumour_names={5: "lesion_9"})
    assert int(np.sum(np.asarray(g.labels.array) == 101)) == 64
    assert any("given label map" in n for n in g.notes)


def test_automatic_vois_keep_baseline_liver_lesions_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """The MAA plan's tumour definition (sstrkit.pipeline.sirt_vois) on the 90Y side.

    The automatic liver stops at z = 8, cutting the phantom's lesion (z 6-10) in half
    and missing a second liver lesion; the lesions the baseline map calls hepatic are kept
    whole, one it does not is left out although it touches the liver. The old rule
    (lesions ∩ automatic liver) kept 32 of the 64 lesion voxels and lost the second lesion.
    Reference: the dosimetry on the phantom's true contours, same image (rel 1e-9: the
    tumour mask and voxels are identical, only float summation order can differ).
    """
    import sstrkit.sirt.perfused_liver as perfused_mod
    from sstrkit.sirt.dose_vois import automatic_vois

    scan, vois = _phantom()
    lab = np.asarray(vois.labels.array)
    assert scan.ct is not None
    ct = scan.ct
    cut = lab.copy()
    cut[:, :, 8:16][cut[:, :, 8:16] != 2] = 0  # the automatic liver ends at z = 8
    monkeypatch.setattr(perfused_mod, "perfused_liver", lambda *a, **k: _fake_perfused(cut))
    given = np.where(lab == 101, 5, 0).astype(np.int32)
    given[0:3, 0:3, 0:3] = 7  # hepatic on the baseline map, nowhere near the automatic liver
    given[4:8, 4:8, 2:4] = 8  # touches the automatic liver, not hepatic on the baseline map
    names = {5: "lesion_a", 7: "lesion_b", 8: "lesion_c"}
    g = automatic_vois(
        ct, scan.image, tumour_labels=_vol(given, "1"), tumour_names=names, hepatic_values={5, 7}
    )
    masks = {m.name: m.mask for m in region_masks(g, ct)}
    assert np.array_equal(masks["tumour"], (lab == 101) | (given == 7))
    assert int(masks["lesion_1"].sum()) == 64 and "lesion_3" not in masks
    auto_liver = (cut == 1) | (cut == 101)
    assert np.array_equal(masks["liver"], auto_liver | masks["tumour"])
    assert np.array_equal(masks["normal_liver"], auto_liver & ~masks["tumour"])
    only = automatic_vois(
        ct,
        scan.image,
        tumour_labels=_vol(np.where(lab == 101, 5, 0).astype(np.int32), "1"),
        tumour_names={5: "lesion_a"},
        hepatic_values={5},
    )
    res = y90_dosimetry(scan, only, method="ldm")
    ref = y90_dosimetry(scan, vois, method="ldm")
    assert res.mean_gy("tumour") == pytest.approx(ref.mean_gy("tumour"), rel=1e-9)
