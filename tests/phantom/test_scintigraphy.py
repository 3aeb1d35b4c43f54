"""SSTR scintigraphy of the digital patient (``phantom make --sstr-imaging``; coarse voxels).

Reference values used below:

* NIST XCOM / NISTIR 5632, liquid water μ/ρ (cm²/g): 0.1707 at 100 keV, 0.1505 at
  150 keV, 0.1370 at 200 keV, 0.1186 at 300 keV; log-log interpolation gives 0.15359 at
  140.5 keV (99mTc), 0.14411 at 171.3 keV and 0.12739 at 245.4 keV (111In); density 1 g/mL.
* Camera values as stated in ``phantom/data/scintigraphy.toml`` (model): 99mTc LEHR 90 cps/MBq
  per head, scatter-to-primary 0.4; 111In MEGP 100 cps/MBq, windows 171.3/245.4 keV with
  58/42 % of the counts and scatter-to-primary 0.5/0.3; dwell time 400 mm / table speed.
* Conjugate views (MIRD Pamphlet No. 16, Siegel et al., J. Nucl. Med. 40 (1999) 37S-61S):
  for a point source in a uniform attenuator of thickness T, sqrt(ANT·POST) ∝ exp(−μT/2),
  independent of its depth.
* OctreoScan label (blood 0.33 of the activity at 10 min, 0.01 at 20 h; urine 0.50 by 6 h,
  0.85 by 24 h) for the 111In kinetics.
* ICRP 107 positron yields: 68Ga 0.889112, 64Cu 0.174083 per decay.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.errors import InvalidInputError
from sstrkit.phantom.anatomy import PatientSpec, build_anatomy
from sstrkit.phantom.biology import draw_biology
from sstrkit.phantom.ct_tissues import ct_tissue_map
from sstrkit.phantom.gamma_camera import (
    PlanarCamera,
    PlanarGeometry,
    acquire,
    mirror,
    project_views,
)
from sstrkit.phantom.positioning import RigidMotion, move_anatomy
from sstrkit.phantom.scanners import EmissionScanner
from sstrkit.phantom.scint_biodistribution import sstr_tracer, tracer_distribution
from sstrkit.phantom.scint_truth import grade_margin, krenning_grade
from sstrkit.phantom.solids import Grid
from sstrkit.phantom.spect_recon import SpectSystem, attenuation_map
from sstrkit.phantom.study import StudyConfig, make_study

MU_WATER_PER_MM = {140.5: 0.015359, 171.3: 0.014411, 245.4: 0.012739}
TRACERS = ("111In-pentetreotide", "99mTc-HYNIC-TOC", "64Cu-DOTATATE")
SMALL = {"seed": 3, "voxel_mm": 8.0, "cycles": 1, "timepoints_h": (24.0,), "fdg": False}


# ---------------------------------------------------------------- camera physics
def _water_slab(n_y: int = 50) -> Grid:
    return Grid((21, n_y, 21), (4.0, 4.0, 4.0), (-40.0, -(n_y - 1) * 2.0, -40.0))


def _geometry(camera: PlanarCamera, grid: Grid) -> PlanarGeometry:
    front = grid.origin[1] - grid.spacing[1] / 2
    back = front + grid.spacing[1] * grid.shape[1]
    x_first = -camera.pixel_mm * (camera.columns - 1) / 2
    return PlanarGeometry(x_first, 400.0, front - 30.0, back + 40.0)


def _point_views(camera: PlanarCamera, iy: int, mu: dict[float, float]) -> Any:
    g = _water_slab()
    conc = np.zeros(g.shape, np.float32)
    conc[10, iy, 10] = 1e6 / g.voxel_ml  # 1 MBq in one voxel
    maps = [np.full(g.shape, mu[w.centre_kev], np.float32) for w in camera.windows]
    return project_views(conc, maps, g, camera, _geometry(camera, g), 240.0)


def test_planar_counts_of_a_point_source_match_a_hand_calculation() -> None:
    # 1 MBq at 102 mm depth in water (voxel 25 of 4 mm: (25 + 0.5) x 4 mm to the front),
    # 240 s dwell (400 mm at 10 cm/min). 99mTc LEHR, 90 cps/MBq, scatter/primary 0.4:
    #   1e6 Bq x 90e-6 cps/Bq x 240 s x exp(-0.015359 x 102) x 1.4 = 6312.6 counts.
    tc = PlanarCamera.for_nuclide("Tc-99m")
    assert tc.dwell_time_s(10.0) == pytest.approx(240.0)
    views = _point_views(tc, 25, MU_WATER_PER_MM)
    hand = 1e6 * 90e-6 * 240.0 * math.exp(-0.015359 * 102.0) * 1.4
    assert hand == pytest.approx(6312.6, abs=0.1)
    # float32 accumulation only (counts are conserved by the resampling and blurs)
    assert views.anterior.sum() == pytest.approx(hand, rel=1e-4)
    # 111In, both photopeaks:
    #   1e6 x 100e-6 x 240 x (0.58 e^(-0.014411 d) 1.5 + 0.42 e^(-0.012739 d) 1.3)
    inn = PlanarCamera.for_nuclide("In-111")
    hand_in = 24000.0 * (
        0.58 * math.exp(-0.014411 * 102.0) * 1.5 + 0.42 * math.exp(-0.012739 * 102.0) * 1.3
    )
    assert _point_views(inn, 25, MU_WATER_PER_MM).anterior.sum() == pytest.approx(hand_in, rel=1e-4)


def test_attenuation_of_water_is_nist() -> None:
    # the planar views take mu from the CT: water (0 HU) at each photopeak is NIST's
    for kev, mu in MU_WATER_PER_MM.items():
        assert float(attenuation_map(np.array([0.0]), kev / 1000.0)[0]) == pytest.approx(
            mu, rel=2e-4
        )


def test_geometric_mean_of_conjugate_views_does_not_depend_on_depth() -> None:
    # MIRD 16: sqrt(ANT x POST) = A S t (1 + k) exp(-mu T / 2), T = 200 mm of water, any depth.
    tc = PlanarCamera.for_nuclide("Tc-99m")
    expected = 1e6 * 90e-6 * 240.0 * 1.4 * math.exp(-0.015359 * 200.0 / 2)
    ants, gms = [], []
    for iy in (3, 20, 35, 47):
        v = _point_views(tc, iy, MU_WATER_PER_MM)
        ants.append(v.anterior.sum())
        gms.append(math.sqrt(v.anterior.sum() * v.posterior.sum()))
    assert gms == pytest.approx([expected] * 4, rel=1e-4)
    # the single views do depend on depth: exp(mu x 176 mm) = 14.9 between the extremes
    assert ants[0] / ants[-1] == pytest.approx(math.exp(0.015359 * 176.0), rel=1e-4)


def test_collimator_blur_grows_with_distance() -> None:
    # FWHM(d) = a + b d: a source near the anterior face images sharper in the anterior view.
    tc = PlanarCamera.for_nuclide("Tc-99m")
    assert float(tc.fwhm_mm(100.0)) == pytest.approx(7.4)  # KCL QC, LEHR at 10 cm
    v = _point_views(tc, 3, {k: 0.0 for k in MU_WATER_PER_MM})
    assert v.anterior.max() > 3 * v.posterior.max()
    assert v.anterior.sum() == pytest.approx(v.posterior.sum(), rel=1e-5)  # no attenuation


def test_poisson_counts_are_seeded_and_have_poisson_variance() -> None:
    expected = np.full((1024, 256), 40.0)
    a, sat = acquire(expected, np.random.default_rng(1))
    b, _ = acquire(expected, np.random.default_rng(1))
    c, _ = acquire(expected, np.random.default_rng(2))
    assert a.dtype == np.uint16 and sat == 0
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    x = a.astype(float)
    n = x.size
    # mean: SE sqrt(40 / n) = 0.012 -> 5 SE; variance / mean: SE ~ sqrt(2 / n) = 0.0028 -> 5 SE
    assert x.mean() == pytest.approx(40.0, abs=5 * math.sqrt(40.0 / n))
    assert x.var() / x.mean() == pytest.approx(1.0, abs=5 * math.sqrt(2.0 / n))
    none, _ = acquire(np.array([[0.4, 2.6, 70000.0]]), None)
    assert none.tolist() == [[0, 3, 65535]]
    assert acquire(np.array([[70000.0]]), None)[1] == 1


# ---------------------------------------------------------------- biodistribution
def test_111in_kinetics_follow_the_octreoscan_label() -> None:
    k = sstr_tracer("111In-pentetreotide").kinetics
    assert k is not None
    assert k.blood(10 / 60) == pytest.approx(0.33, abs=0.005)
    assert k.blood(20.0) == pytest.approx(0.01, abs=0.001)
    assert k.excreted(6.0) == pytest.approx(0.50, abs=0.005)
    assert k.excreted(24.0) == pytest.approx(0.85, abs=0.005)
    # bowel activity comes late (the 4 h images precede it, Medscape/label): two-step transit
    # of half-time 6 h, (1 - e^-x (1 + x)) with x = ln2 t / 6 h: 0.079 at 4 h vs 0.764 at 24 h
    assert k.bowel(4.0) / k.bowel(24.0) == pytest.approx(0.079 / 0.764, rel=0.01)


def test_distribution_conserves_the_activity_in_the_body() -> None:
    # Without motion, the painted activity equals A0 e^(-lambda t) (1 - U(t) + B(t)).
    spec = PatientSpec("M", seed=3).resolved()
    anat = build_anatomy(spec, voxel_mm=8.0).voxelise()
    seen = move_anatomy(
        anat, RigidMotion.identity(anat.model.body.center_mm), ct_map=ct_tissue_map(anat)
    )
    tracer = sstr_tracer("99mTc-HYNIC-TOC")
    k = tracer.kinetics
    assert k is not None
    dist = tracer_distribution(tracer, seen, draw_biology(anat, 3), 4.0)
    decay = 2.0 ** (-4.0 / (6.015))  # 99mTc half-life 6.015 h (ICRP 107)
    total = float(dist.concentration.sum(dtype=np.float64)) * anat.labels.voxel_volume_ml
    expected = 740e6 * decay * (1.0 - k.excreted(4.0) + k.bladder(4.0))
    assert total == pytest.approx(expected, rel=1e-4)
    assert dist.regions_bq_ml["gallbladder"] > dist.regions_bq_ml["liver"]
    assert not dist.notes


def test_spect_and_pet_are_nuclide_aware_and_177lu_unchanged() -> None:
    assert EmissionScanner.spect_for("Lu-177") == EmissionScanner.spect()
    assert SpectSystem.for_nuclide("Lu-177") == SpectSystem.default()
    assert EmissionScanner.pet_for("Ga-68") == EmissionScanner.pet()
    s = EmissionScanner.spect_for("In-111")
    assert (s.fwhm_mm, s.counts_per_bq_s) == (13.0, pytest.approx(200e-6))
    tc = SpectSystem.for_nuclide("Tc-99m")
    assert tc.energy_mev == 0.1405
    assert float(tc.fwhm_mm(tc.radius_of_rotation_mm)) == pytest.approx(9.0)
    cu = EmissionScanner.pet_for("Cu-64")
    ratio = 0.174083 / 0.889112  # ICRP 107 positron yields
    assert cu.counts_per_bq_s == pytest.approx(EmissionScanner.pet().counts_per_bq_s * ratio)
    assert 5.0 < cu.fwhm_mm < EmissionScanner.pet().fwhm_mm  # shorter positron range
    with pytest.raises(InvalidInputError):
        EmissionScanner.spect_for("Y-90")


# ---------------------------------------------------------------- the study
@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("scint") / "study"
    return out, make_study(out, StudyConfig(**SMALL, sstr_imaging=TRACERS))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def default_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("default") / "study"
    return out, make_study(out, StudyConfig(**SMALL))  # type: ignore[arg-type]


def _planar(root: Path, manifest: dict[str, Any], tracer: str, h: float) -> Any:
    e = next(
        x
        for x in manifest["series"]["scintigraphy_planar"]
        if x["tracer"] == tracer and x["hours_post_injection"] == h
    )
    return e, pydicom.dcmread(root / e["path"])


def test_planar_dicom_headers_follow_the_contract(study: tuple[Path, dict[str, Any]]) -> None:
    root, m = study
    planar = m["series"]["scintigraphy_planar"]
    assert [(x["tracer"], x["hours_post_injection"]) for x in planar] == [
        ("111In-pentetreotide", 4.0),
        ("111In-pentetreotide", 24.0),
        ("99mTc-HYNIC-TOC", 2.0),
        ("99mTc-HYNIC-TOC", 4.0),
    ]
    e, ds = _planar(root, m, "111In-pentetreotide", 24.0)
    assert ds.Modality == "NM" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.20"
    assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "WHOLE BODY", "EMISSION"]
    assert ds.NumberOfFrames == 2 and ds.NumberOfDetectors == 2
    assert list(ds.FrameIncrementPointer) == [(0x0054, 0x0010), (0x0054, 0x0020)]
    assert list(ds.DetectorVector) == [1, 2] and list(ds.EnergyWindowVector) == [1, 1]
    ant, post = ds.DetectorInformationSequence
    assert ant.ViewCodeSequence[0].CodeValue == "399321004"  # DICOM CID 26, SNOMED CT
    assert post.ViewCodeSequence[0].CodeValue == "399001007"
    assert ant.ViewCodeSequence[0].CodingSchemeDesignator == "SCT"
    assert [float(v) for v in ant.ImageOrientationPatient] == [1, 0, 0, 0, 0, -1]
    assert [float(v) for v in post.ImageOrientationPatient] == [-1, 0, 0, 0, 0, -1]
    assert (ds.Rows, ds.Columns) == (1024, 256) and [float(v) for v in ds.PixelSpacing] == [2.4] * 2
    # 5 cm/min = 0.8333 mm/s; 1024 x 2.4 mm; duration = length / speed
    assert float(ds.ScanVelocity) == pytest.approx(5.0 * 10 / 60, rel=1e-5)
    assert int(ds.ScanLength) == 2458
    assert int(ds.ActualFrameDuration) == round(2457.6 / (50 / 60) * 1000)
    assert [int(v) for v in ant.FieldOfViewDimensions] == [400, 540]
    assert e["dwell_time_s"] == pytest.approx(400.0 / (50 / 60))
    windows = ds.EnergyWindowInformationSequence
    assert len(windows) == 1 and len(windows[0].EnergyWindowRangeSequence) == 2
    lims = [
        (float(r.EnergyWindowLowerLimit), float(r.EnergyWindowUpperLimit))
        for r in windows[0].EnergyWindowRangeSequence
    ]
    assert lims == [(154.17, 188.43), (220.86, 269.94)]  # 20 % windows on 171.3, 245.4 keV
    rp = ds.RadiopharmaceuticalInformationSequence[0]
    assert rp.Radiopharmaceutical == "111In-pentetreotide"
    assert rp.RadionuclideCodeSequence[0].CodeMeaning == "^111^Indium"
    assert float(rp.RadionuclideTotalDose) == 222e6
    assert ds.SeriesDescription == "WB 111In-pentetreotide 24h"
    px = ds.pixel_array
    assert px.dtype == np.uint16 and px.shape == (2, 1024, 256)
    assert int(ds.CountsAccumulated) == int(px.sum(dtype=np.int64))
    # the posterior frame is stored mirrored: un-mirrored it resembles the anterior view
    a, p = px[0].astype(float), px[1].astype(float)
    assert np.corrcoef(a.ravel(), mirror(p).ravel())[0, 1] > np.corrcoef(a.ravel(), p.ravel())[0, 1]
    _, tc = _planar(root, m, "99mTc-HYNIC-TOC", 2.0)
    assert tc.RadiopharmaceuticalInformationSequence[0].RadionuclideCodeSequence[0].CodeMeaning == (
        "^99m^Technetium"
    )
    assert tc.DetectorInformationSequence[0].CollimatorGridName == "LEHR"


def test_planar_and_spect_pass_dciodvfy(
    study: tuple[Path, dict[str, Any]], dciodvfy_tool: str
) -> None:
    root, m = study
    for e in m["series"]["scintigraphy_planar"] + m["series"]["sstr_spect"]:
        res = subprocess.run(
            [dciodvfy_tool, str(root / e["path"])], capture_output=True, text=True, check=False
        )
        errors = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.startswith("Error")]
        assert not errors, (e["path"], errors)


def test_spect_and_pet_series_in_the_manifest(study: tuple[Path, dict[str, Any]]) -> None:
    root, m = study
    spects = m["series"]["sstr_spect"]
    assert [(x["tracer"], x["nuclide"]) for x in spects] == [
        ("111In-pentetreotide", "In-111"),
        ("99mTc-HYNIC-TOC", "Tc-99m"),
    ]
    assert spects[0]["hours_post_injection"] > 24.0  # after the 24 h whole-body scan
    assert spects[0]["calibration_cps_per_mbq"] == 200.0 and spects[0]["fwhm_mm"] == 13.0
    cts = {x["frame_of_reference_uid"] for x in m["series"]["sstr_spect_ct"]}
    assert {x["frame_of_reference_uid"] for x in spects} == cts
    ds = pydicom.dcmread(root / spects[0]["path"], stop_before_pixels=True)
    assert ds.RadiopharmaceuticalInformationSequence[0].RadionuclideCodeSequence[0].CodeMeaning == (
        "^111^Indium"
    )
    assert ds.SeriesDescription == "SPECT 111In-pentetreotide 24h"
    pets = m["series"]["sstr_pet"]
    assert [(x["tracer"], x["nuclide"], x["hours_post_injection"]) for x in pets] == [
        ("64Cu-DOTATATE", "Cu-64", 1.0),
        ("64Cu-DOTATATE", "Cu-64", 3.0),
    ]
    assert set(m["truth"]["scintigraphy"]) == set(TRACERS)
    admins = json.loads((root / "clinical.json").read_text())["administrations"]
    assert {a["radiopharmaceutical"] for a in admins} >= set(TRACERS)


def test_truth_ratios_grades_and_ids(study: tuple[Path, dict[str, Any]]) -> None:
    root, m = study
    truth = json.loads((root / "truth/truth.json").read_text())
    ids = [les["id"] for les in truth["lesions"]]
    suv = {les["id"]: les["suv_dotatate"] for les in truth["lesions"]}
    liver_suv = truth["pet"]["pet"]["suv_bw"]["liver"]
    doc = json.loads((root / m["truth"]["scintigraphy"]["111In-pentetreotide"]).read_text())
    assert doc["tracer"] == "111In-pentetreotide" and doc["injected_activity_bq"] == 222e6
    assert [p["hours_post_injection"] for p in doc["planar"]] == [4.0, 24.0]
    keys = {
        "id",
        "diameter_mm",
        "centroid_mm",
        "true_uptake_ratio_liver",
        "true_uptake_ratio_spleen",
        "krenning_grade_true",
        "visible",
    }
    for item in doc["planar"] + doc["spect"]:
        assert [les["id"] for les in item["lesions"]] == ids
        for les in item["lesions"]:
            assert keys <= set(les)
            # SSTR uptake follows the 68Ga-DOTATATE SUV: the concentration ratio is the PET's
            assert les["true_uptake_ratio_liver"] == pytest.approx(
                suv[les["id"]] / liver_suv, rel=1e-5
            )
    for les in doc["planar"][1]["lesions"]:
        r_l, r_s = les["planar_ratio_liver"], les["planar_ratio_spleen"]
        assert les["krenning_grade_true"] == krenning_grade(r_l, r_s, 0.10)
        assert les["grade_margin"] == pytest.approx(grade_margin(r_l, r_s, 0.10))
    assert {s["series_uid"] for s in doc["planar"]} <= {
        x["series_uid"] for x in m["series"]["scintigraphy_planar"]
    }
    cu = json.loads((root / m["truth"]["scintigraphy"]["64Cu-DOTATATE"]).read_text())
    assert [p["hours_post_injection"] for p in cu["pet"]] == [1.0, 3.0]
    assert [les["id"] for les in cu["pet"][0]["lesions"]] == ids


@pytest.mark.parametrize(
    ("liver", "spleen", "grade"),
    [(0.89, 0.3, 1), (0.91, 0.3, 2), (1.10, 0.4, 2), (1.11, 0.4, 3), (2.0, 1.0, 3), (2.1, 1.01, 4)],
)
def test_krenning_grade_thresholds(liver: float, spleen: float, grade: int) -> None:
    # Krenning 1993: 1 < liver, 2 = liver (+-10 %, sstrkit's band), 3 > liver, 4 > spleen
    assert krenning_grade(liver, spleen, 0.10) == grade


def test_repeatable_option_reaches_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[StudyConfig] = []
    monkeypatch.setattr(
        "sstrkit.cli.phantom._write_study", lambda out, config, as_json: seen.append(config)
    )
    args = [
        "phantom",
        "make",
        "OUT",
        "--sstr-imaging",
        "99mtc-hynic-toc",
        "--sstr-imaging",
        "111In-pentetreotide",
        "--sstr-imaging",
        "99mTc-HYNIC-TOC",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert seen[0].sstr_imaging == ("99mTc-HYNIC-TOC", "111In-pentetreotide")
    res = CliRunner().invoke(app, ["phantom", "make", "OUT"])
    assert seen[1].sstr_imaging == ("68Ga-DOTATATE",)
    res = CliRunner().invoke(app, ["phantom", "make", "OUT", "--sstr-imaging", "octreoscan"])
    assert res.exit_code != 0 and "SSTR imaging tracer" in res.output
    with pytest.raises(InvalidInputError):
        StudyConfig(sstr_imaging=("201Tl",))


def test_default_output_is_unchanged(
    study: tuple[Path, dict[str, Any]], default_study: tuple[Path, dict[str, Any]]
) -> None:
    (root, m), (droot, dm) = study, default_study
    assert StudyConfig().sstr_imaging == ("68Ga-DOTATATE",)
    assert set(dm["series"]) == {"pet", "pet_ct", "fdg", "fdg_ct", "spect", "spect_ct"}
    assert "scintigraphy" not in dm["truth"]
    assert "sstr_imaging" not in dm["provenance"]["parameters"]
    assert not list(droot.glob("truth/scintigraphy_*"))
    # the scans every study has are the same, pixel for pixel, with or without --sstr-imaging
    for role in ("pet", "spect"):
        e, d = m["series"][role], dm["series"][role]
        entry, dentry = (e[0], d[0]) if isinstance(e, list) else (e, d)
        assert entry == dentry
        folder = root / entry["path"]
        folder = folder if folder.is_dir() else folder.parent
        files = sorted(folder.rglob("*.dcm"))
        dfiles = sorted((droot / folder.relative_to(root)).rglob("*.dcm"))
        assert len(files) == len(dfiles) > 0
        for f, g in zip(files, dfiles, strict=True):
            assert np.array_equal(pydicom.dcmread(f).pixel_array, pydicom.dcmread(g).pixel_array)
    truth = json.loads((root / "truth/truth.json").read_text())
    dtruth = json.loads((droot / "truth/truth.json").read_text())
    base_sessions = [p["session"] for p in dtruth["positioning"]]
    assert [p for p in truth["positioning"] if p["session"] in base_sessions] == dtruth[
        "positioning"
    ]
    assert {k: v for k, v in truth.items() if k != "positioning"} == {
        k: v for k, v in dtruth.items() if k != "positioning"
    }
