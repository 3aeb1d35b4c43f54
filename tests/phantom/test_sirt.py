"""SIRT of the digital patient (``phantom make --sirt``; coarse 8 mm truth grid).

Reference values used below:

* ICRP 107, 90Y: half-life 64.10 h = 230 760 s, mean β⁻ energy 0.932905 MeV, mean energy of
  all electrons per decay 0.933106 MeV; 99mTc half-life 6.015 h = 21 654 s.
* CODATA 2018: 1 MeV = 1.602176634e-13 J.
* Partition model (Ho et al., Eur. J. Nucl. Med. 23 (1996) 947): A = D_N (M_N + T/N M_T) /
  ((1 − LSF) e), e = Ē_β T½ / ln 2.
* Selwyn et al., Appl. Radiat. Isot. 65 (2007) 318: 31.86 positrons per 10⁶ 90Y decays.
* DICOM CID 4020 (SNOMED-RT): C-163A8 ^99m^Technetium, C-162A7 ^90^Yttrium; CID 25
  (SNOMED CT): 85693008 Technetium Tc^99m^ aggregated albumin, 764678003 Yttrium^90^
  microspheres.
* Conjugate views (MIRD Pamphlet 16): Poisson counts A, P in an ROI give ln √(A·P) a
  variance (1/A + 1/P)/4.
"""

from __future__ import annotations

import datetime as dt
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
from sstrkit.io.dicom_read import read_series
from sstrkit.io.nifti import read_nifti
from sstrkit.io.planar import read_planar_wholebody
from sstrkit.phantom.anatomy import LABELS, TISSUE
from sstrkit.phantom.parameters import parameters
from sstrkit.phantom.sirt_distribution import (
    LiverTumour,
    SirtDraw,
    SirtMasses,
    Uptake,
    breathe,
    breathing_shifts_mm,
    prescribe,
)
from sstrkit.phantom.solids import Grid
from sstrkit.phantom.study import StudyConfig, make_study

SMALL: dict[str, Any] = {"seed": 3, "voxel_mm": 8.0, "cycles": 1, "timepoints_h": (24.0,),
                         "fdg": False}  # fmt: skip
CLI_SMALL = ["--seed", "3", "--voxel-mm", "8", "--cycles", "1", "--timepoints-h", "24", "--no-fdg"]
MEV_J = 1.602176634e-13
Y90_HALF_LIFE_S = 230760.0
TC99M_HALF_LIFE_S = 21654.0
SIRT_KEYS = ("maa_planar", "maa_spect", "maa_spect_ct", "y90_pet", "y90_pet_ct")


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(plain study, the same patient with --sirt made through the CLI)."""
    base = tmp_path_factory.mktemp("sirt")
    make_study(base / "plain", StudyConfig(**SMALL))
    res = CliRunner().invoke(app, ["phantom", "make", str(base / "sirt"), *CLI_SMALL, "--sirt",
                                   "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    return base / "plain", base / "sirt"


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- the rest is unchanged
def test_the_study_without_sirt_is_unchanged(studies: tuple[Path, Path]) -> None:
    plain, sirt = studies
    a, b = _json(plain / "manifest.json"), _json(sirt / "manifest.json")
    assert not set(SIRT_KEYS) & set(a["series"])
    assert {k: v for k, v in b["series"].items() if k not in SIRT_KEYS} == a["series"]
    assert "sirt" not in a["provenance"]["parameters"] and b["provenance"]["parameters"]["sirt"]
    b["provenance"]["parameters"].pop("sirt")
    assert b["provenance"]["parameters"] == a["provenance"]["parameters"]
    assert {k: v for k, v in b["truth"].items() if k != "sirt"} == a["truth"]
    assert b["truth"]["sirt"] == "truth/sirt.json"
    for key in ("patient", "summary", "segmentation", "anatomy"):
        assert b[key] == a[key]
    ca, cb = _json(plain / "clinical.json"), _json(sirt / "clinical.json")
    extra = [x for x in cb["administrations"] if x["nuclide"] in ("Tc-99m", "Y-90")]
    assert [x["radiopharmaceutical"] for x in extra] == [
        "99mTc-MAA", "90Y resin microspheres (SIR-Spheres)"
    ]  # fmt: skip
    cb["administrations"] = [x for x in cb["administrations"] if x not in extra]
    assert {k: v for k, v in cb.items() if k != "sirt"} == ca and "sirt" not in ca
    ta, tb = _json(plain / "truth" / "truth.json"), _json(sirt / "truth" / "truth.json")
    tb["positioning"] = [p for p in tb["positioning"] if not p["session"].startswith("sirt_")]
    assert tb == ta
    # every DICOM object of the plain study: same attributes and pixels (instance UIDs are
    # drawn at random by the writers, in every run)
    skip = {"SOPInstanceUID", "MediaStorageSOPInstanceUID", "ReferencedSOPInstanceUID"}
    files = sorted(p.relative_to(plain) for p in (plain / "dicom").rglob("*.dcm"))
    assert files and all((sirt / f).is_file() for f in files)
    for rel in files[::7]:
        da, db = pydicom.dcmread(plain / rel), pydicom.dcmread(sirt / rel)
        assert [e for e in da if e.keyword not in skip] == [e for e in db if e.keyword not in skip]


# ---------------------------------------------------------------- truth
def test_truth_document_and_clinical_record(studies: tuple[Path, Path]) -> None:
    _, root = studies
    t = _json(root / "truth" / "sirt.json")
    assert (t["device"], t["target"]) == ("resin", "whole_liver")
    maa, y90 = t["maa"], t["y90"]
    assert 0.03 <= maa["lung_shunt_fraction"] <= 0.12  # sirt_parameters range
    assert maa["particle_fractions"]["lungs"] == maa["lung_shunt_fraction"]
    assert sum(maa["particle_fractions"].values()) == pytest.approx(1.0, abs=1e-12)
    assert 0.8 <= y90["lung_shunt_fraction"] / maa["lung_shunt_fraction"] <= 1.2
    ids = [x["id"] for x in maa["lesions"]]
    assert ids == [x["id"] for x in y90["lesions"]] and len(ids) >= 3
    for m, y in zip(maa["lesions"], y90["lesions"], strict=True):
        assert 2.0 <= m["tumour_to_normal_ratio"] <= 8.0
        assert 0.7 <= y["tumour_to_normal_ratio"] / m["tumour_to_normal_ratio"] <= 1.3
        assert t["labels"]["names"][str(100 + m["id"])] == m["lesion"] == f"lesion_{m['id']:02d}"
    masses = [x["mass_g"] for x in maa["lesions"]]
    assert maa["tumour_mass_g"] == pytest.approx(sum(masses), rel=1e-12)
    assert maa["liver_mass_g"] == pytest.approx(maa["normal_liver_mass_g"] + sum(masses))
    # overall T/N: mass-weighted mean of the lesions' (mean concentration per gram)
    tn = sum(x["tumour_to_normal_ratio"] * x["mass_g"] for x in maa["lesions"]) / sum(masses)
    assert maa["tumour_to_normal_ratio"] == pytest.approx(tn, rel=1e-12)
    # activity: net = prescribed x (1 - residual), normal-liver dose near 30-40 Gy
    rx = t["prescription"]
    assert t["activity_bq"] == pytest.approx(
        rx["prescribed_activity_bq"] * (1 - t["residual_fraction"]), abs=1e5
    )
    assert 28.0 < y90["normal_liver_mean_dose_gy"] < 42.0
    clinical = _json(root / "clinical.json")
    (rec,) = clinical["sirt"]
    assert (rec["device"], rec["target"], rec["activity_bq"]) == ("resin", "whole_liver",
                                                                  t["activity_bq"])  # fmt: skip
    assert rec["time"] == t["implant_time"]
    implant = dt.datetime.fromisoformat(t["implant_time"])
    maa_t = dt.datetime.fromisoformat(maa["injection_time"])
    assert implant - maa_t == dt.timedelta(days=14, minutes=30)


def test_energy_balance_of_the_true_dose(studies: tuple[Path, Path]) -> None:
    """Σ dose × mass over the truth grid = the deposited energy; the emitted energy is
    A τ Δ (ICRP 107); the normal liver nearly absorbs its own β energy."""
    _, root = studies
    t = _json(root / "truth" / "sirt.json")
    y90 = t["y90"]
    dose = read_nifti(root / y90["dose_map"])
    labels = read_nifti(root / "truth" / "labels_baseline.nii.gz")
    assert dose.shape == labels.shape and dose.unit == "Gy"
    names = _json(root / "truth" / "labels.json")
    dens = parameters()["density_g_ml"]
    table = np.zeros(int(labels.array.max()) + 1)
    for value, name in names.items():
        table[int(value)] = dens[TISSUE[name]] if name in TISSUE else dens["tumour"]
    mass_kg = table[np.asarray(labels.array, dtype=np.int64)] * labels.voxel_volume_ml / 1e3
    energy = float(np.sum(np.asarray(dose.array, dtype=np.float64) * mass_kg))
    e = y90["energy"]
    assert energy == pytest.approx(e["deposited_in_grid_j"], rel=1e-5)  # float32 dose map
    tau = Y90_HALF_LIFE_S / math.log(2.0)
    emitted = t["activity_bq"] * tau * 0.933106 * MEV_J
    assert e["emitted_j"] == pytest.approx(emitted, rel=1e-4)
    # the kernel holds the energy within its extent (> 2 CSDA ranges of the mean energy)
    assert 0.997 < e["deposited_in_grid_j"] / e["emitted_j"] <= 1.0
    # normal liver: local deposition of its own activity, less the energy leaving it
    liver = y90["regions"]["liver"]
    local = liver["activity_bq"] * tau * 0.933106 * MEV_J / (liver["mass_g"] / 1e3)
    assert 0.95 < y90["normal_liver_mean_dose_gy"] / local < 1.01
    tumour_e = sum(y90["regions"][x["lesion"]]["energy_j"] for x in y90["lesions"])
    assert y90["tumour_mean_dose_gy"] == pytest.approx(tumour_e / (t["maa"]["tumour_mass_g"] / 1e3))
    # small tumours lose β energy to the liver around them: mean dose < local deposition
    for x in y90["lesions"]:
        assert x["mean_dose_gy"] < x["local_deposition_dose_gy"]


def test_planar_lung_shunt_in_the_truth_rois(studies: tuple[Path, Path]) -> None:
    """The LSF of the stored views' geometric means in the truth ROIs is the truth's, within
    Poisson noise of the noise-free views; without attenuation correction it overestimates
    the true LSF (lungs attenuate less than the liver)."""
    _, root = studies
    t = _json(root / "truth" / "sirt.json")
    planar = t["maa"]["planar"]
    m = _json(root / "manifest.json")
    (entry,) = m["series"]["maa_planar"]
    wb = read_planar_wholebody(root / entry["path"])
    rois = np.asarray(read_nifti(root / t["labels"]["maa_planar_rois"]).array)[0]
    assert rois.shape == wb.anterior.shape
    post = np.asarray(wb.posterior)[:, ::-1]  # the camera's view, un-mirrored
    counts = {}
    for name, v in (("liver", 1), ("lungs", 2)):
        counts[name] = (float(wb.anterior[rois == v].sum()), float(post[rois == v].sum()))
    gm = {k: math.sqrt(a * p) for k, (a, p) in counts.items()}
    lsf = gm["lungs"] / (gm["lungs"] + gm["liver"])
    assert lsf == pytest.approx(planar["measured"]["lung_shunt_fraction"], abs=1e-9)
    var_ln = sum((1 / a + 1 / p) / 4 for a, p in counts.values())
    sigma = lsf * (1 - lsf) * math.sqrt(var_ln)
    assert abs(lsf - planar["noise_free"]["lung_shunt_fraction"]) < 4 * sigma
    true_lsf = t["maa"]["lung_shunt_fraction"]
    assert true_lsf < planar["noise_free"]["lung_shunt_fraction"] < 3.0 * true_lsf
    assert _json(root / "clinical.json")["sirt"][0]["lung_shunt_fraction"] == round(lsf, 4)


def test_labels_on_each_ct_grid(studies: tuple[Path, Path]) -> None:
    _, root = studies
    t = _json(root / "truth" / "sirt.json")
    m = _json(root / "manifest.json")
    for key, role in (("maa", "maa_spect_ct"), ("y90", "y90_pet_ct")):
        lab = read_nifti(root / t["labels"][key])
        (ct_entry,) = m["series"][role]
        ct = read_series(root / ct_entry["path"]).volume
        assert lab.shape == ct.shape and np.allclose(lab.origin, ct.origin, atol=1e-3)
        assert lab.frame_of_reference_uid == ct_entry["frame_of_reference_uid"]
        arr = np.asarray(lab.array)
        assert {int(v) for v in np.unique(arr)} <= {0, 1, 2} | {100 + x["id"] for x in
                                                                t["maa"]["lesions"]}  # fmt: skip
        liver_g = float((arr == 1).sum()) * lab.voxel_volume_ml * 1.05  # ICRP 110 liver density
        # centre sampling on 8 x 8 x 16 mm CT voxels: boundary voxels in or out (~1 %)
        assert liver_g == pytest.approx(t["maa"]["normal_liver_mass_g"], rel=0.02)


# ---------------------------------------------------------------- DICOM as a PACS exports
def test_dicom_headers(studies: tuple[Path, Path]) -> None:
    _, root = studies
    m = _json(root / "manifest.json")
    t = _json(root / "truth" / "sirt.json")
    s = m["series"]
    wb = pydicom.dcmread(root / s["maa_planar"][0]["path"], stop_before_pixels=True)
    spect = pydicom.dcmread(root / s["maa_spect"][0]["path"], stop_before_pixels=True)
    pet_dir = root / s["y90_pet"][0]["path"]
    pet = pydicom.dcmread(sorted(pet_dir.glob("*.dcm"))[0], stop_before_pixels=True)
    for ds, modality in ((wb, "NM"), (spect, "NM"), (pet, "PT")):
        assert ds.Modality == modality
    assert list(wb.ImageType)[2] == "WHOLE BODY" and list(spect.ImageType)[2] == "RECON TOMO"
    for ds in (wb, spect):
        rp = ds.RadiopharmaceuticalInformationSequence[0]
        assert rp.Radiopharmaceutical == "99mTc-MAA"
        assert rp.RadionuclideCodeSequence[0].CodeValue == "C-163A8"
        assert rp.RadiopharmaceuticalCodeSequence[0].CodeValue == "85693008"
        assert float(rp.RadionuclideTotalDose) == 150e6
        assert float(rp.RadionuclideHalfLife) == pytest.approx(TC99M_HALF_LIFE_S, rel=1e-3)
    window = spect.EnergyWindowInformationSequence[0].EnergyWindowRangeSequence[0]
    limits = (float(window.EnergyWindowLowerLimit), float(window.EnergyWindowUpperLimit))
    assert limits == (126.45, 154.55)  # 140.5 keV ± 10 %
    rp = pet.RadiopharmaceuticalInformationSequence[0]
    assert rp.RadionuclideCodeSequence[0].CodeValue == "C-162A7"
    assert rp.RadiopharmaceuticalCodeSequence[0].CodeValue == "764678003"
    assert float(rp.RadionuclidePositronFraction) == pytest.approx(31.86e-6)
    assert float(rp.RadionuclideTotalDose) == t["activity_bq"]
    assert float(rp.RadionuclideHalfLife) == pytest.approx(Y90_HALF_LIFE_S, rel=1e-4)
    assert (pet.Units, pet.DecayCorrection) == ("BQML", "START")
    implant = dt.datetime.fromisoformat(t["implant_time"])
    assert rp.RadiopharmaceuticalStartDateTime.startswith(implant.strftime("%Y%m%d%H%M%S"))
    # own frames of reference, each shared with its CT only
    fors = {
        "pet": s["pet"]["frame_of_reference_uid"],
        "maa": spect.FrameOfReferenceUID,
        "y90": pet.FrameOfReferenceUID,
    }
    assert len(set(fors.values())) == 3
    assert s["maa_spect_ct"][0]["frame_of_reference_uid"] == fors["maa"]
    assert s["y90_pet_ct"][0]["frame_of_reference_uid"] == fors["y90"]
    moved = {p["session"] for p in _json(root / "truth" / "truth.json")["positioning"]}
    assert {"sirt_maa", "sirt_y90_pet"} <= moved


def test_y90_pet_is_decay_corrected_to_the_acquisition_start(studies: tuple[Path, Path]) -> None:
    """Total activity of the PET image = the implanted activity decayed to the scan start
    (every region inside the field of view), within the image's Poisson noise."""
    _, root = studies
    t = _json(root / "truth" / "sirt.json")
    (entry,) = _json(root / "manifest.json")["series"]["y90_pet"]
    vol = read_series(root / entry["path"]).volume
    total = float(np.sum(np.asarray(vol.array, dtype=np.float64))) * vol.voxel_volume_ml
    hours = entry["hours_post_injection"]
    assert hours == 23.0
    expected = t["activity_bq"] * 2.0 ** (-hours * 3600.0 / Y90_HALF_LIFE_S)
    assert sum(t["y90"]["pet"]["regions_bq"].values()) == pytest.approx(expected, rel=1e-9)
    pet = t["y90"]["pet"]
    rel_sigma = math.sqrt(pet["noise_variance_factor"] / pet["expected_true_counts"])
    assert total == pytest.approx(expected, rel=4 * rel_sigma + 0.005)  # + int16 rounding


def test_dicom_conformance(studies: tuple[Path, Path], dciodvfy_tool: str) -> None:
    _, root = studies
    s = _json(root / "manifest.json")["series"]
    pet_dir = root / s["y90_pet"][0]["path"]
    for path in (root / s["maa_planar"][0]["path"], root / s["maa_spect"][0]["path"],
                 sorted(pet_dir.glob("*.dcm"))[40]):  # fmt: skip
        res = subprocess.run([dciodvfy_tool, str(path)], capture_output=True, text=True,
                             check=False)  # fmt: skip
        errors = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.startswith("Error")]
        assert not errors, (path, errors)


# ---------------------------------------------------------------- the phantom's arithmetic
def test_partition_model_activity_matches_a_hand_calculation() -> None:
    # 1500 g normal liver, 200 g of tumour at T/N 4, LSF 10 %, 1000 g lungs, D_N 35 Gy:
    # e = 0.932905 MeV x 1.602176634e-13 J/MeV x 230760 s / ln 2 = 4.97597e-8 J/Bq
    # A = 35 x (1.5 + 4 x 0.2) / (0.9 x e) = 1.79749e9 Bq -> 1.80 GBq (10 MBq steps)
    e = 0.932905 * MEV_J * Y90_HALF_LIFE_S / math.log(2.0)
    masses = SirtMasses(1500.0, 1000.0, (LiverTumour("lesion_02", 2, 102, 200.0),))
    up = Uptake(0.10, {"lesion_02": 4.0})
    draw = SirtDraw(up, up, 0.02, 0.05, 35.0, 10.0, {"maa": 0.0, "y90": 0.0})
    rx = prescribe(draw, masses)
    assert rx.energy_j_per_bq == pytest.approx(e, rel=1e-5)
    assert 35.0 * 2.3 / (0.9 * e) == pytest.approx(1.79749e9, rel=1e-4)
    assert rx.prescribed_bq == 1.80e9
    assert rx.net_bq == pytest.approx(1.80e9 * 0.95, abs=1e5)
    assert rx.planned_normal_liver_dose_gy == pytest.approx(1.80e9 * 0.9 * e / 2.3, rel=1e-5)
    assert rx.planned_lung_dose_gy == pytest.approx(1.80e9 * 0.1 * e / 1.0, rel=1e-5)
    assert not rx.lung_limited
    # a shunt of 40 %: the 30 Gy lung limit caps the activity (rounded down)
    big = SirtDraw(Uptake(0.4, {"lesion_02": 4.0}), up, 0.02, 0.05, 35.0, 10.0, {"maa": 0.0})
    capped = prescribe(big, masses)
    assert capped.lung_limited and capped.planned_lung_dose_gy <= 30.0
    assert capped.prescribed_bq == math.floor(30.0 / (0.4 * e) / 1e7) * 1e7


def test_breathing_keeps_the_activity_and_moves_it_by_the_mean_shift() -> None:
    # Linear interpolation conserves the sum and moves the first moment by the shift
    # (for content away from the edges).
    grid = Grid((40, 3, 3), (4.0, 4.0, 4.0), (0.0, 0.0, 0.0))
    arr = np.zeros(grid.shape, np.float32)
    arr[15:22, 1, 1] = np.arange(1, 8)
    shifts = breathing_shifts_mm(12.0, 0.0, n=2, phases=8)
    assert min(shifts) >= 0.0 and max(shifts) <= 12.0  # CT at end-inspiration: all cranial
    out = breathe(arr, grid, shifts)
    z = np.arange(40)
    moment = float((out.sum(axis=(1, 2)) * z).sum() / out.sum())
    before = float((arr.sum(axis=(1, 2)) * z).sum() / arr.sum())
    assert float(out.sum()) == pytest.approx(float(arr.sum()), rel=1e-6)
    assert moment - before == pytest.approx(float(np.mean(shifts)) / 4.0, abs=1e-5)
    # Lujan et al. (1999) with n = 2: the mean of cos^4 over a breath is 3/8
    many = breathing_shifts_mm(10.0, 0.5, n=2, phases=4000)
    assert float(np.mean(many)) == pytest.approx(-10.0 * 3 / 8, rel=1e-6)


def test_sirt_label_values_are_the_phantom_lesion_numbers(studies: tuple[Path, Path]) -> None:
    _, root = studies
    t = _json(root / "truth" / "sirt.json")
    names = _json(root / "truth" / "labels.json")
    for x in t["maa"]["lesions"]:
        assert names[str(x["label_value"])] == x["lesion"]
    assert names[str(LABELS["liver"])] == "liver"
