"""Intake of SIRT series: the 99mTc-MAA work-up and the post-implant 90Y imaging.

Two exports: the digital patient made with ``phantom make --sirt`` (its DICOM folder alone,
no manifest: ``sstrkit study init`` must find the roles the phantom's own manifest names),
and a small export written by the test (sstrkit.io writers, tiny grids) with the awkward
cases: an MAA named only by its DICOM CID 25 code (SNOMED CT 85693008), an MAA SPECT as
PET-SOP slices, a 90Y bremsstrahlung SPECT naming SIR-Spheres, a 90Y SPECT and a 90Y PET
naming no microspheres, a 99mTc bone scan. Expected values are the ones written: hours
after the administration = scan − administration time.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.io.dicom_write import (
    PatientInfo,
    Radiopharmaceutical,
    StudyInfo,
    write_ct_series,
    write_nm_series,
    write_pet_series,
)
from sstrkit.io.planar import PlanarWholeBody
from sstrkit.io.planar_write import write_planar_wholebody
from sstrkit.phantom.study import StudyConfig, make_study
from sstrkit.pipeline.intake import ROLES, intake_study
from sstrkit.pipeline.manifest import parse_manifest

CET = dt.timezone(dt.timedelta(hours=1))
MAA_INJ = dt.datetime(2026, 5, 4, 10, 30, tzinfo=CET)
IMPLANT = dt.datetime(2026, 5, 18, 11, 0, tzinfo=CET)
PATIENT = PatientInfo(patient_id="SIRT01", sex="M", weight_kg=80.0, height_cm=178.0)
STUDY = StudyInfo(study_uid="1.2.826.0.1.3680043.10.23.1")
SIRT_ROLES = ("maa_planar", "maa_spect", "maa_spect_ct", "y90_pet", "y90_pet_ct")


# ---------------------------------------------------------------- the digital patient
@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sirt_phantom") / "study"
    make_study(root, StudyConfig(seed=3, voxel_mm=8.0, cycles=1, timepoints_h=(24.0,),
                                 fdg=False, sirt=True))  # fmt: skip
    return root


def test_bare_phantom_dicom_gets_the_sirt_roles(phantom: Path, tmp_path: Path) -> None:
    truth = json.loads((phantom / "manifest.json").read_text(encoding="utf-8"))["series"]
    res = CliRunner().invoke(
        app, ["study", "init", str(phantom / "dicom"), "--out", str(tmp_path / "S"), "--json"]
    )
    assert res.exit_code == 0, res.output
    series = json.loads(res.stdout)["manifest"]["series"]
    for role in SIRT_ROLES:
        assert [e["series_uid"] for e in series[role]] == [e["series_uid"] for e in truth[role]]
    for role in ("maa_planar", "maa_spect", "y90_pet"):
        got, want = series[role][0], truth[role][0]
        assert got["nuclide"] == want["nuclide"]
        assert got["injected_activity_bq"] == want["injected_activity_bq"]
        assert got["hours_post_injection"] == pytest.approx(want["hours_post_injection"], abs=1e-3)
        assert dt.datetime.fromisoformat(got["injection_time"]) == dt.datetime.fromisoformat(
            want["injection_time"]
        )
    assert series["y90_pet"][0]["units"] == "BQML"
    assert series["maa_spect"][0]["calibration_cps_per_mbq"] is None
    assert series["maa_planar"][0]["energy_windows"][0]["lower_kev"] == 126.45
    for role in ("maa_spect_ct", "y90_pet_ct"):  # paired by frame of reference
        emission = series[role.removesuffix("_ct")][0]
        assert series[role][0]["frame_of_reference_uid"] == emission["frame_of_reference_uid"]
    # the PRRT roles are unaffected
    assert series["pet"]["series_uid"] == truth["pet"]["series_uid"]
    assert [e["series_uid"] for e in series["spect"]] == [e["series_uid"] for e in truth["spect"]]
    m = parse_manifest(json.loads((tmp_path / "S" / "manifest.json").read_text("utf-8")))
    assert m.series.y90_pet[0].nuclide == "Y-90" and m.series.maa_planar[0].hours_post_injection


# ---------------------------------------------------------------- the awkward export
def _vol(value: float, t: dt.datetime, modality: str, for_uid: str) -> Volume:
    unit, quantity = (
        ("HU", "ct_number") if modality == "CT" else ("Bq/mL", "activity_concentration")
    )
    return Volume.from_array(
        np.full((6, 8, 8), value, np.float32),
        spacing=(4.8, 4.8, 4.8),
        modality=modality,
        quantity=quantity,
        unit=unit,
        reference_time=t,
        frame_of_reference_uid=for_uid,
    )  # fmt: skip


def _code_only(path: Path, value: str, meaning: str) -> None:
    """Blank the Radiopharmaceutical text and add a CID 25 code (a vendor writing codes)."""
    ds = pydicom.dcmread(path)
    item = ds.RadiopharmaceuticalInformationSequence[0]
    item.Radiopharmaceutical = ""
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, "SCT", meaning
    item.RadiopharmaceuticalCodeSequence = DicomSequence([code])
    ds.SeriesDescription = "LIVER SPECT"
    ds.save_as(path)


def _export(root: Path) -> dict[str, str]:
    uids = {k: f"1.2.826.0.1.3680043.10.23.{i}" for i, k in enumerate(
        ("wb", "spect", "spect_ct", "slices", "y90_spect", "y90_spect_ct", "y90_nm_plain",
         "y90_pet", "y90_pet_ct", "mdp"), start=10)}  # fmt: skip
    maa = Radiopharmaceutical("99mTc-MAA", "Tc-99m", 150e6, MAA_INJ)
    views = np.full((32, 16), 40.0, np.float32)
    wb = PlanarWholeBody(views, views, (2.4, 2.4), 1200.0, None, None, "Tc-99m", "99mTc-MAA",
                         150e6, MAA_INJ, MAA_INJ + dt.timedelta(hours=1), ((126.45, 154.55),),
                         series_uid=uids["wb"], series_description="MAA ANT/POST",
                         patient_id=PATIENT.patient_id)  # fmt: skip
    (root / "wb").mkdir(parents=True)
    write_planar_wholebody(wb, root / "wb" / "wb.dcm", study_uid=STUDY.study_uid)
    mdp = PlanarWholeBody(views, views, (2.4, 2.4), 1200.0, None, None, "Tc-99m", "99mTc-MDP",
                          600e6, MAA_INJ, MAA_INJ + dt.timedelta(hours=3), ((126.45, 154.55),),
                          series_uid=uids["mdp"], series_description="WB bone",
                          patient_id=PATIENT.patient_id)  # fmt: skip
    write_planar_wholebody(mdp, root / "wb" / "mdp.dcm", study_uid=STUDY.study_uid)
    t = MAA_INJ + dt.timedelta(hours=1, minutes=30)
    path = write_nm_series(_vol(900.0, t, "NM", "1.2.826.0.1.3680043.10.23.90"),
                           root / "spect" / "s.dcm", patient=PATIENT, study=STUDY,
                           radiopharmaceutical=maa, series_uid=uids["spect"])  # fmt: skip
    _code_only(path, "85693008", "Technetium Tc^99m^ aggregated albumin")
    write_ct_series(_vol(0.0, t, "CT", "1.2.826.0.1.3680043.10.23.90"), root / "spect_ct",
                    patient=PATIENT, study=STUDY, acquisition_time=t - dt.timedelta(minutes=1),
                    series_uid=uids["spect_ct"])  # fmt: skip
    # a second reconstruction of the same SPECT, as PET-SOP slices (xSPECT style)
    write_pet_series(_vol(900.0, t, "PT", "1.2.826.0.1.3680043.10.23.90"), root / "slices",
                     patient=PATIENT, study=STUDY, radiopharmaceutical=maa,
                     series_uid=uids["slices"], series_description="MAA xSPECT",
                     frame_duration_s=900.0)  # fmt: skip
    spheres = Radiopharmaceutical("SIR-Spheres", "Y-90", 1.6e9, IMPLANT)
    t2 = IMPLANT + dt.timedelta(hours=4)
    write_nm_series(_vol(5e5, t2, "NM", "1.2.826.0.1.3680043.10.23.91"),
                    root / "brems" / "s.dcm", patient=PATIENT, study=STUDY,
                    radiopharmaceutical=spheres, series_uid=uids["y90_spect"],
                    series_description="Bremsstrahlung SPECT")  # fmt: skip
    write_ct_series(_vol(0.0, t2, "CT", "1.2.826.0.1.3680043.10.23.91"), root / "brems_ct",
                    patient=PATIENT, study=STUDY, acquisition_time=t2,
                    series_uid=uids["y90_spect_ct"])  # fmt: skip
    plain = Radiopharmaceutical("Y-90", "Y-90", 1.6e9, IMPLANT)
    write_nm_series(_vol(5e5, t2 + dt.timedelta(hours=3), "NM", "1.2.826.0.1.3680043.10.23.92"),
                    root / "nm" / "s.dcm", patient=PATIENT, study=STUDY,
                    radiopharmaceutical=plain, series_uid=uids["y90_nm_plain"],
                    series_description="SPECT")  # fmt: skip
    t3 = IMPLANT + dt.timedelta(hours=22)
    write_pet_series(_vol(4e5, t3, "PT", "1.2.826.0.1.3680043.10.23.93"), root / "pet",
                     patient=PATIENT, study=STUDY, radiopharmaceutical=plain,
                     series_uid=uids["y90_pet"], series_description="PET LIVER",
                     frame_duration_s=1200.0)  # fmt: skip
    write_ct_series(_vol(0.0, t3, "CT", "1.2.826.0.1.3680043.10.23.93"), root / "pet_ct",
                    patient=PATIENT, study=STUDY, acquisition_time=t3 - dt.timedelta(minutes=2),
                    series_uid=uids["y90_pet_ct"])  # fmt: skip
    return uids


def test_awkward_sirt_export(tmp_path: Path) -> None:
    uids = _export(tmp_path / "dicom")
    res = intake_study(tmp_path / "dicom", tmp_path / "study")
    s = res.manifest["series"]
    assert [e["series_uid"] for e in s["maa_planar"]] == [uids["wb"]]
    assert s["maa_planar"][0]["hours_post_injection"] == 1.0
    # MAA by its code only; the NM and the PET-slice reconstructions of one SPECT: the one
    # with the most frames first, then the original (both Bq/mL): one is used, one noted
    (maa_spect,) = s["maa_spect"]
    assert maa_spect["series_uid"] in (uids["spect"], uids["slices"])
    assert maa_spect["hours_post_injection"] == 1.5
    assert s["maa_spect_ct"][0]["series_uid"] == uids["spect_ct"]
    (brems,) = s["y90_spect"]
    assert (brems["series_uid"], brems["hours_post_injection"]) == (uids["y90_spect"], 4.0)
    assert s["y90_spect_ct"][0]["series_uid"] == uids["y90_spect_ct"]
    (pet,) = s["y90_pet"]
    assert (pet["series_uid"], pet["hours_post_injection"]) == (uids["y90_pet"], 22.0)
    assert pet["injected_activity_bq"] == 1.6e9 and pet["nuclide"] == "Y-90"
    assert s["y90_pet_ct"][0]["series_uid"] == uids["y90_pet_ct"]
    # a 90Y SPECT naming no microspheres stays a PRRT therapy SPECT (cycle 1)
    assert [e["series_uid"] for e in s["spect"]] == [uids["y90_nm_plain"]]
    notes = "\n".join(res.notes)
    assert "90Y PET naming no tracer, taken as post-SIRT" in notes
    ignored = {i["series_uid"]: i["reason"] for i in res.manifest["intake"]["ignored_series"]}
    assert "another tracer" in ignored[uids["mdp"]]
    other = uids["slices"] if maa_spect["series_uid"] == uids["spect"] else uids["spect"]
    assert "another reconstruction of the 99mTc-MAA SPECT" in ignored[other]
    rows = [(r.role, r.hours_post_injection) for r in res.rows if r.role.startswith(("maa", "y90"))]
    assert rows == [("maa_planar", 1.0), ("maa_spect", 1.5), ("maa_spect_ct", 1.5),
                    ("y90_pet", 22.0), ("y90_pet_ct", 22.0), ("y90_spect", 4.0),
                    ("y90_spect_ct", 4.0)]  # fmt: skip
    m = parse_manifest(res.manifest)
    assert m.series.y90_spect[0].calibration_cps_per_mbq is None


def test_sirt_role_overrides(tmp_path: Path) -> None:
    uids = _export(tmp_path / "dicom")
    assert set(SIRT_ROLES) | {"y90_spect", "y90_spect_ct"} <= set(ROLES)
    res = intake_study(
        tmp_path / "dicom",
        tmp_path / "study",
        roles={uids["y90_pet"]: "spect", uids["y90_nm_plain"]: "y90_spect",
               uids["y90_spect"]: "ignore"},
    )  # fmt: skip
    s: dict[str, Any] = res.manifest["series"]
    assert s["y90_pet"] == [] and [e["series_uid"] for e in s["y90_spect"]] == [
        uids["y90_nm_plain"]
    ]
    assert uids["y90_pet"] in [e["series_uid"] for e in s["spect"]]
    with pytest.raises(InvalidInputError, match="an NM whole-body series"):
        intake_study(tmp_path / "dicom", tmp_path / "s2", roles={uids["y90_pet"]: "maa_planar"})
