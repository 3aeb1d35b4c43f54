"""Anatomy, lesions, biology and truth of the digital patient (no DICOM)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import integrate

from sstrkit.phantom.anatomy import PatientSpec, bsa_du_bois_m2, build_anatomy
from sstrkit.phantom.biology import ExpSum, draw_biology, lu177_kinetics
from sstrkit.phantom.lesions import MIN_GAP_MM, draw_lesions
from sstrkit.phantom.parameters import parameters
from sstrkit.phantom.truth import (
    J_PER_MEV,
    Therapy,
    photon_absorbed_fraction,
    region_dose_gy,
    simulate_therapy,
)

# ICRP Publication 89 (2002) Table 2.8, reference adult male / female organ masses (g);
# typed here independently of the parameter file.
ICRP89 = {
    "M": {
        "liver": 1800,
        "spleen": 150,
        "kidneys": 310,
        "pancreas": 140,
        "adrenals": 14,
        "lungs": 1200,
    },
    "F": {
        "liver": 1400,
        "spleen": 130,
        "kidneys": 275,
        "pancreas": 120,
        "adrenals": 13,
        "lungs": 950,
    },
}
REFERENCE_SIZE = {"M": (176.0, 73.0), "F": (163.0, 60.0)}  # ICRP 89 height cm, mass kg


@pytest.fixture(scope="module")
def reference_male():
    h, w = REFERENCE_SIZE["M"]
    spec = PatientSpec("M", h, w, seed=11)
    return build_anatomy(spec, voxel_mm=3.0)


@pytest.mark.parametrize("sex", ["M", "F"])
def test_organ_masses_match_icrp89_for_the_reference_adult(sex: str) -> None:
    # Reference-size patient, no individual variability: the voxelised masses must equal the
    # ICRP 89 values. Tolerance 3 %: the size calibration moves whole voxels (2 mm: the 7 g
    # adrenal is ~3400 voxels of 0.008 mL, one voxel layer ~ 10 %; calibration ends within 1-2 %).
    h, w = REFERENCE_SIZE[sex]
    model = build_anatomy(
        PatientSpec(sex, h, w, seed=1), voxel_mm=2.0, lesions=False, variability=False
    )
    anat = model.voxelise()
    counts = anat.counts()
    for organ, ref in ICRP89[sex].items():
        assert anat.mass_g(organ, counts) == pytest.approx(ref, rel=0.03), organ


def test_masses_scale_with_body_surface_area_and_vary_within_bounds() -> None:
    # Du Bois BSA by hand for 90 kg, 185 cm: 0.007184 * 90**0.425 * 185**0.725.
    bsa = 0.007184 * 90**0.425 * 185**0.725
    assert bsa_du_bois_m2(90.0, 185.0) == pytest.approx(bsa, rel=1e-12)
    ratio = bsa / bsa_du_bois_m2(73.0, 176.0)
    model = build_anatomy(PatientSpec("M", 185.0, 90.0, seed=5), voxel_mm=3.0, lesions=False)
    assert model.reference_mass_g["liver"] == pytest.approx(1800 * ratio, rel=1e-9)
    # Individual factors are lognormal (sigma 8 %) truncated at 2 sigma: exp(0.16) = 1.17.
    for k in ("liver", "spleen", "kidney_left", "lungs"):
        r = model.target_mass_g[k] / model.reference_mass_g[k]
        assert math.exp(-0.161) <= r <= math.exp(0.161), k


def test_lesions_cover_the_clinical_spectrum(reference_male) -> None:
    les = reference_male.lesions
    sites = {x.site for x in les}
    assert {"pancreas", "liver", "lymph_node", "bone"} <= sites
    diam = [x.diameter_mm for x in les]
    assert min(diam) >= 8.0 and max(diam) <= 60.0
    assert min(diam) < 12.0 and max(diam) >= 45.0  # 'about 8 mm to 6 cm'
    assert any(x.low_sstr for x in les)
    assert any((not x.sstr_positive) and x.fdg_positive for x in les)
    anat = reference_male.voxelise()
    counts = anat.counts()
    for x in les:
        sphere_ml = math.pi / 6 * x.diameter_mm**3 / 1000
        # Voxelised sphere volume: at 3 mm the error of a >= 15 mm sphere is < 15 %.
        if x.diameter_mm >= 15:
            assert anat.volume_ml(x.id, counts) == pytest.approx(sphere_ml, rel=0.15), x.id
        assert anat.volume_ml(x.id, counts) > 0


@pytest.mark.parametrize("seed", [3, 7, 9])
def test_liver_lesions_are_resolvable_and_inside_the_calibrated_liver(seed: int) -> None:
    # MIN_GAP_MM (8 mm = 1.5 x PET FWHM 5.5 mm) between lesion surfaces after the size
    # calibration; every lesion sphere inside the calibrated liver ellipsoid. Seed 7 had
    # a 4.4 mm gap and seed 9 three gaps of 5.9-7.0 mm before the separation step; seed 3
    # had none and must keep the drawn positions exactly.
    model = build_anatomy(PatientSpec(seed=seed), voxel_mm=8.0)
    liver = model.solid("liver")
    les = [x for x in model.lesions if x.host == "liver"]
    for i, a in enumerate(les):
        ca = np.asarray(model.lesion_center_mm(a))
        u = (ca - np.asarray(liver.center_mm)) / (
            np.asarray(liver.semi_axes_mm) - a.diameter_mm / 2
        )
        assert float(np.sum(u**2)) <= 1.0 + 1e-9, a.id
        for b in les[i + 1 :]:
            cb = np.asarray(model.lesion_center_mm(b))
            gap = float(np.linalg.norm(ca - cb)) - (a.diameter_mm + b.diameter_mm) / 2
            assert gap >= MIN_GAP_MM, (a.id, b.id, gap)
    drawn = draw_lesions(seed, vertebrae=model.vertebrae)
    unchanged = [x.offset_unit == y.offset_unit for x, y in zip(model.lesions, drawn, strict=True)]
    assert all(unchanged) == (seed == 3)


def test_anatomy_is_deterministic_per_seed() -> None:
    a = build_anatomy(PatientSpec("F", seed=4), voxel_mm=6.0).voxelise()
    b = build_anatomy(PatientSpec("F", seed=4), voxel_mm=6.0).voxelise()
    c = build_anatomy(PatientSpec("F", seed=5), voxel_mm=6.0).voxelise()
    assert np.array_equal(a.labels.array, b.labels.array)
    assert not np.array_equal(a.labels.array, c.labels.array)


@pytest.mark.parametrize("seed", range(6))
def test_dotatate_suv_order_follows_kuyumcu_2013(seed: int) -> None:
    # Kuyumcu et al. 2013: spleen > kidneys > adrenals > liver (mean SUVmax 24.7, 14.3, 13.7,
    # 9.1); Suerer Budak 2023: blood pool, muscle, bone marrow SUV < 2; uncinate > pancreas.
    anat = build_anatomy(PatientSpec("M", seed=seed), voxel_mm=6.0, lesions=False).voxelise()
    bio = draw_biology(anat, seed)
    s = bio.suv_dotatate
    counts = anat.counts()
    kid = sum(s[n] * anat.mass_g(n, counts) for n in ("kidney_left_cortex", "kidney_left_medulla"))
    kid /= anat.mass_g("kidney_left", counts)
    assert s["spleen"] > kid > s["adrenal_left"] > s["liver"]
    assert s["pancreas_uncinate"] > s["pancreas_head"]
    assert max(s["heart_blood"], s["body"], s["spongiosa"], s["lungs"]) < 2.0
    # DOTATOC: lesions 20.4/16.0 = 1.275 x the specific signal (Poeppel et al. 2011).
    assert bio.suv("liver", "Ga-68 DOTATOC") == pytest.approx(s["liver"])


def test_expsum_integral_is_the_analytic_integral() -> None:
    tac = ExpSum((0.03, -0.03, 0.01), (1.5e-6, 2e-4, 4e-6))
    numeric, _ = integrate.quad(lambda t: float(tac.value(t)), 0, 5e7, limit=500)
    assert tac.integral() == pytest.approx(numeric, rel=1e-6)
    part, _ = integrate.quad(lambda t: float(tac.value(t)), 3600, 86400)
    assert tac.integral(3600, 86400) == pytest.approx(part, rel=1e-9)


@pytest.fixture(scope="module")
def therapy(reference_male):
    bio = draw_biology(reference_male.voxelise(), 11)
    return bio, simulate_therapy(reference_male, bio, Therapy(cycles=2))


def test_truth_is_self_consistent(therapy, reference_male) -> None:
    _, cycles = therapy
    c = cycles[0]
    kin = c.kinetics
    t = np.linspace(0, 5000 * 3600.0, 200001)
    for region in ("kidneys", "liver", "spleen", "lesion_01", "remainder"):
        # TIA = analytic integral of the TAC (checked against the trapezoid rule).
        trap = float(np.trapezoid(kin.region(region).value(t), t)) * c.activity_bq
        assert c.tia_bq_s[region] == pytest.approx(trap, rel=1e-4), region
        # Electron dose = TIA x 0.1479 MeV (ICRP 107 Lu-177 mean electron energy) / mass.
        d_e = c.tia_bq_s[region] * 0.14790 * J_PER_MEV / (c.mass_g[region] / 1000)
        assert c.dose[region]["electron_gy"] == pytest.approx(d_e, rel=2e-4), region
        d = c.dose[region]
        assert d["total_gy"] == pytest.approx(d["electron_gy"] + d["photon_gy"], rel=1e-12)
    # Activity is conserved: every region inside the body sums to the whole-body TAC.
    inside = [v for k, v in kin.regions.items() if k != "bladder"]
    total = sum(np.asarray(v.value(t[::1000])) for v in inside)
    assert np.allclose(total, kin.whole_body.value(t[::1000]), rtol=1e-9, atol=1e-12)
    assert np.all(np.asarray(kin.regions["remainder"].value(t[::1000])) >= 0)
    assert np.all(np.asarray(kin.regions["bladder"].value(t[1::1000])) > 0)
    # Tumour response: lesion volumes shrink between cycles, never below the floor.
    f = cycles[1].lesion_volume_factors
    assert all(0.5 <= v < 1.0 for v in f.values())
    assert cycles[1].mass_g["lesion_02"] < cycles[0].mass_g["lesion_02"]


def test_nominal_doses_fall_in_published_ranges(reference_male) -> None:
    # Nominal kinetics (no individual variability) on the reference male.
    anat = reference_male.voxelise()
    bio = draw_biology(anat, 11)
    nominal = {
        k: (float(v["fraction"]), float(v["t_uptake_h"]), float(v["t_eff_h"]))
        for k, v in parameters()["lu177_organs"].items()
        if isinstance(v, dict)
    }
    bio = replace(bio, organ_kinetics=nominal)
    c = simulate_therapy(reference_male, bio, Therapy(cycles=1))[0]
    gy_per_gbq = {k: c.dose[k]["total_gy"] / (c.activity_bq / 1e9) for k in c.dose}
    # Kidneys: 0.38 +- 0.19 (EJNMMI Phys 2018), 0.43 +- 0.13 (Marin 2018), 0.46 (Staanum 2021),
    # 0.57 +- 0.09 (Clin Nucl Med 2013) Gy/GBq.
    assert 0.38 <= gy_per_gbq["kidneys"] <= 0.66
    # Liver 0.27 +- 0.05, spleen 1.17 +- 0.14 Gy/GBq (Clin Nucl Med 2013); spleen lower bound
    # widened to the 0.85 of other series.
    assert 0.22 <= gy_per_gbq["liver"] <= 0.35
    assert 0.85 <= gy_per_gbq["spleen"] <= 1.31
    # Red marrow, blood-based: 0.009-0.029 Gy/GBq in 17 patients (PMC10478826, Table 3).
    assert 0.009 <= gy_per_gbq["red_marrow"] <= 0.029


def test_photon_absorbed_fraction_and_region_dose() -> None:
    # NIST water mu_en/rho at 100 keV = 0.02546 cm2/g: phi for a 100 keV line in a 1 kg sphere
    # would be 1 - exp(-0.02546 * 4r/3); the Lu-177 spectrum-weighted phi must lie between the
    # values of its main lines' neighbours (0.0255-0.0320 cm2/g at 60-210 keV).
    r = (3 * 1000 / (4 * math.pi)) ** (1 / 3)
    lo = 1 - math.exp(-0.02546 * 4 * r / 3)
    hi = 1 - math.exp(-0.0319 * 4 * r / 3)
    phi = photon_absorbed_fraction(1000.0, 1.0)
    assert lo < phi < hi * 1.2
    assert photon_absorbed_fraction(10.0, 1.0) < photon_absorbed_fraction(1000.0, 1.0)
    d = region_dose_gy(1e12, 1000.0, 1.0, photons=False)
    assert d["electron_gy"] == pytest.approx(1e12 * 0.14790 * J_PER_MEV, rel=2e-4)
    assert d["photon_gy"] == 0.0


def test_kinetics_reject_impossible_uptake(reference_male) -> None:
    anat = reference_male.voxelise()
    bio = draw_biology(anat, 11)
    greedy = replace(bio, kappa=60.0)
    with pytest.raises(Exception, match="remainder"):
        lu177_kinetics(anat, greedy)
