"""End-to-end voxel dosimetry on the digital patient (sstrkit.phantom).

Two checks against the phantom's analytic truth (truth/truth.json, cycle 1):

1. *Dose engine*: the truth TIA of each region spread uniformly over its voxels
   and convolved with the kernel (no imaging) must reproduce the truth mean
   doses within 10 % for organs and lesions ≥ 3 cm. The truth is "electrons
   absorbed locally + photon self-dose with a spherical absorbed fraction", so
   residual differences are the electron cross-fire at region boundaries and
   the photon cross-dose between regions that the truth leaves out.
2. *Imaging pipeline* (SPECT → TIA → dose, CLI): runs, writes NIfTI/RTDOSE, and
   the deviations from truth follow partial volume: large regions are within
   15 % and the TIA deficit of small lesions grows as their size falls below a
   few SPECT FWHM (11 mm) — see docs/voxel-dosimetry.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.io.dicom_write import read_rtdose
from sstrkit.io.nifti import read_nifti
from sstrkit.phantom.study import StudyConfig, make_study
from sstrkit.therapy.voxel_dose import dose_map, study_cycle_dosimetry, truth_regions

runner = CliRunner()


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("study")
    # no repositioning: these tests check the dose engine and partial-volume handling with
    # registration off; repositioned studies are tested end to end in tests/pipeline
    make_study(root, StudyConfig(seed=3, voxel_mm=4.0, cycles=1, fdg=False, reposition=False))
    return root


def test_dose_engine_reproduces_truth_from_truth_tia(study: Path) -> None:
    truth = json.loads((study / "truth" / "truth.json").read_text())
    cyc = truth["cycles"][0]["regions"]
    labels = read_nifti(study / "truth" / "labels_cycle1.nii.gz")
    lab = np.asarray(labels.array)
    regions = truth_regions(truth)
    leaf = {k: v for k, v in regions.items() if k not in ("kidneys",)}
    tia = np.zeros(lab.shape)
    for name, values in leaf.items():
        m = np.isin(lab, values)
        if name in cyc and m.any():
            tia[m] += cyc[name]["tia_bq_s"] / m.sum()
    tia_vol = labels.with_array(
        tia, operation="truth_tia", quantity="time_integrated_activity", unit="Bq*s"
    )
    dose = dose_map(tia_vol, "Lu-177").array
    checked = 0
    for name, values in regions.items():
        m = np.isin(lab, values)
        if name not in cyc or not m.any() or name in ("blood_pool", "spongiosa"):
            continue
        is_lesion = name.startswith("lesion")
        if is_lesion:
            diam = next(x["diameter_mm"] for x in truth["lesions"] if x["id"] == name)
            if diam < 30.0:
                continue
        assert float(dose[m].mean()) == pytest.approx(cyc[name]["total_gy"], rel=0.10), name
        checked += 1
    assert checked >= 6


def test_cli_dose_voxel_end_to_end(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        ["dose", "voxel", str(study), "--cycle", "1", "--out", str(out), "--no-register", "--json"],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    rows = {r["name"]: r for r in doc["regions"]}
    # Large organs, uncorrected: the spill-out of an 11 mm FWHM SPECT costs the ~150 g spleen
    # and the kidneys 10-16 % of their mean (the corrected means are checked to 10 % below);
    # the liver (1.8 kg) gains a few per cent of spill-in from its hot lesions (within 10 %).
    assert rows["liver"]["deviation_from_truth"] == pytest.approx(0.0, abs=0.10)
    for organ in ("kidneys", "spleen"):
        assert rows[organ]["deviation_from_truth"] == pytest.approx(0.0, abs=0.20), organ
    # Partial volume: the smallest lesion loses the largest fraction of its dose.
    truth = json.loads((study / "truth" / "truth.json").read_text())
    lesions = sorted(truth["lesions"], key=lambda x: x["diameter_mm"])
    small, big = rows[lesions[0]["id"]], rows[lesions[-1]["id"]]
    assert small["deviation_from_truth"] < big["deviation_from_truth"]
    assert doc["timings_s"]["total_s"] < 60.0
    # RTDOSE and NIfTI round trip
    rt = read_rtdose(doc["files"]["dose_rtdose"])
    import pydicom

    # patient and study copied from the cycle's first SPECT (the digital patient seed 3)
    assert pydicom.dcmread(doc["files"]["dose_rtdose"]).PatientID == "SSTRKIT-PH0003"
    nii = read_nifti(doc["files"]["dose_nifti"])
    assert rt.unit == "Gy"
    # RTDOSE stores uint16 x DoseGridScaling (max/65535): within the 16-bit step
    step = float(nii.array.max()) / 65535.0
    np.testing.assert_allclose(rt.array, nii.array, rtol=0, atol=step)
    np.testing.assert_allclose(rt.origin, nii.origin, atol=1e-3)


@pytest.mark.parametrize("pvc", ["gtm", "voi"])
def test_partial_volume_corrected_doses_agree_with_truth(study: Path, pvc: str) -> None:
    """Issue 6 acceptance: organs and lesions ≥ 3 cm within 10 % of the truth.

    The uncorrected DVH means stay in the result (never replaced); the
    corrected means sit next to them. ``gtm`` corrects every region; ``voi``
    only grows kidneys and spleen and divides lesions by their sphere RC, so
    the liver (spill-in from its hot lesions) is checked for ``gtm`` only.
    Residual deviations: voxel TIA kinetics (trapezoid: +1 to +4 % on the
    truth's own region curves) and the label sampling at the SPECT voxel size.
    """
    sd = study_cycle_dosimetry(study, 1, register=False, pvc=pvc)  # type: ignore[arg-type]
    doc = sd.to_dict()
    assert doc["parameters"]["pvc"] == pvc and doc["parameters"]["fwhm_mm"] == 11.0
    assert doc["partial_volume"]["operation"] == "partial_volume_region_doses"
    rows = {r["name"]: r for r in doc["regions"]}
    truth = json.loads((study / "truth" / "truth.json").read_text())
    organs = ["liver", "spleen", "kidneys"] if pvc == "gtm" else ["spleen", "kidneys"]
    big = [x["id"] for x in truth["lesions"] if x["diameter_mm"] >= 30.0]
    assert big, "the seed-3 patient has lesions ≥ 3 cm"
    for name in organs + big:
        row = rows[name]
        assert row["mean_gy"] == pytest.approx(
            next(r.mean_gy for r in sd.regions if r.name == name)
        )  # uncorrected metric unchanged
        assert row["pvc_deviation_from_truth"] == pytest.approx(0.0, abs=0.10), (name, row)
    # lesions ≥ 3 cm lose ≥ 10 % before correction: the correction is doing the work
    assert all(rows[n]["deviation_from_truth"] < -0.10 for n in big)
