"""Intake of SSTR scintigraphy: planar whole-body time points and 111In/99mTc SPECT.

The export is written by the test (sstrkit.io writers, tiny grids): 111In-pentetreotide
whole-body sweeps at 4 h and 24 h, an 111In SPECT/CT at 24 h sharing its frame of
reference with its CT, a 99mTc-MDP bone scan (another tracer) and a 99mTc whole-body
scan naming no tracer. Expected values are the ones written: hours after injection =
scan − administration time; the roles follow from the nuclide and tracer text.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.io.dicom_write import (
    PatientInfo,
    Radiopharmaceutical,
    StudyInfo,
    write_ct_series,
    write_nm_series,
)
from sstrkit.io.planar import PlanarWholeBody
from sstrkit.io.planar_write import write_planar_wholebody
from sstrkit.pipeline.intake import ROLES, intake_study
from sstrkit.pipeline.manifest import parse_manifest, schemas

CET = dt.timezone(dt.timedelta(hours=1))
INJ = dt.datetime(2026, 3, 2, 9, 0, tzinfo=CET)
PATIENT = PatientInfo(patient_id="SCINT01", sex="F", weight_kg=64.0, height_cm=168.0)
STUDY = StudyInfo(study_uid="1.2.826.0.1.3680043.10.1.1")


def _planar(folder: Path, hours: float, *, nuclide: str, tracer: str, uid: str) -> None:
    views = np.full((32, 16), 4.0, np.float32)
    st = PlanarWholeBody(
        views,
        views,
        (2.4, 2.4),
        900.0,
        None,
        None,
        nuclide,
        tracer,
        185e6,
        INJ,
        INJ + dt.timedelta(hours=hours),
        ((154.2, 188.4), (220.9, 269.9)),
        series_uid=uid,
        series_description=f"WB {tracer} {hours:g}h",
        patient_id=PATIENT.patient_id,
    )
    write_planar_wholebody(st, folder / f"{uid}.dcm", study_uid=STUDY.study_uid)


def _export(root: Path) -> dict[str, str]:
    uids = {
        "wb4": "1.2.826.0.1.41",
        "wb24": "1.2.826.0.1.424",
        "mdp": "1.2.826.0.1.5",
        "tc_wb": "1.2.826.0.1.6",
        "spect": "1.2.826.0.1.7",
        "ct": "1.2.826.0.1.8",
    }
    (root / "wb").mkdir(parents=True)
    _planar(root / "wb", 4.0, nuclide="In-111", tracer="111In-pentetreotide", uid=uids["wb4"])
    _planar(root / "wb", 24.0, nuclide="In-111", tracer="111In-pentetreotide", uid=uids["wb24"])
    _planar(root / "wb", 3.0, nuclide="Tc-99m", tracer="99mTc-MDP", uid=uids["mdp"])
    _planar(root / "wb", 2.5, nuclide="Tc-99m", tracer="", uid=uids["tc_wb"])
    t = INJ + dt.timedelta(hours=24, minutes=30)
    spect = Volume.from_array(
        np.full((6, 8, 8), 500.0, np.float32),
        spacing=(4.8, 4.8, 4.8),
        modality="NM",
        quantity="activity_concentration",
        unit="Bq/mL",
        reference_time=t,
        frame_of_reference_uid="1.2.826.0.1.99",
    )
    rp = Radiopharmaceutical("111In-pentetreotide", "In-111", 185e6, INJ)
    (root / "spect").mkdir()
    write_nm_series(
        spect,
        root / "spect" / "s.dcm",
        patient=PATIENT,
        study=STUDY,
        radiopharmaceutical=rp,
        series_uid=uids["spect"],
        series_description="SPECT 111In-pentetreotide 24h",
    )
    ct = Volume.from_array(
        np.zeros((6, 8, 8), np.float32),
        spacing=(4.8, 4.8, 4.8),
        modality="CT",
        quantity="ct_number",
        unit="HU",
        reference_time=t,
        frame_of_reference_uid="1.2.826.0.1.99",
    )
    write_ct_series(
        ct,
        root / "ct",
        patient=PATIENT,
        study=STUDY,
        acquisition_time=t - dt.timedelta(minutes=2),
        series_uid=uids["ct"],
    )
    return uids


def test_planar_time_points_sstr_spect_and_its_ct(tmp_path: Path) -> None:
    uids = _export(tmp_path / "dicom")
    res = intake_study(tmp_path / "dicom", tmp_path / "study")
    series = res.manifest["series"]
    planar = series["scintigraphy_planar"]
    assert [(p["series_uid"], p["hours_post_injection"]) for p in planar] == [
        (uids["wb4"], 4.0),
        (uids["wb24"], 24.0),
    ]
    assert planar[1]["nuclide"] == "In-111" and planar[1]["injected_activity_bq"] == 185e6
    assert planar[1]["energy_windows"][1]["lower_kev"] == 220.9
    (spect,) = series["sstr_spect"]
    assert spect["series_uid"] == uids["spect"] and spect["hours_post_injection"] == 24.5
    assert spect["calibration_cps_per_mbq"] is None and spect["units"] == "Bq/ml"  # the RWVM unit
    assert series["sstr_spect_ct"] == [
        {**series["sstr_spect_ct"][0], "series_uid": uids["ct"], "hours_post_injection": 24.5}
    ]
    assert series["pet"] is None and series["spect"] == []
    ignored = {i["series_uid"]: i["reason"] for i in res.manifest["intake"]["ignored_series"]}
    assert "another tracer" in ignored[uids["mdp"]]
    assert "names no SSTR ligand" in ignored[uids["tc_wb"]]
    roles = [(r.role, r.hours_post_injection) for r in res.rows if r.role != "ignored"]
    assert roles == [
        ("scintigraphy_planar", 4.0),
        ("scintigraphy_planar", 24.0),
        ("sstr_spect", 24.5),
        ("sstr_spect_ct", 24.5),
    ]
    # the manifest the study model reads (and its published schema) carry the new roles
    m = parse_manifest(res.manifest)
    assert [p.hours_post_injection for p in m.series.scintigraphy_planar] == [4.0, 24.0]
    assert m.series.sstr_spect[0].calibration_cps_per_mbq is None
    props = schemas()["manifest.schema.json"]["$defs"]["Series"]["properties"]
    assert {"scintigraphy_planar", "sstr_spect", "sstr_spect_ct"} <= set(props)


def test_role_overrides_for_scintigraphy(tmp_path: Path) -> None:
    uids = _export(tmp_path / "dicom")
    assert {"scintigraphy_planar", "sstr_spect", "sstr_spect_ct"} <= set(ROLES)
    res = intake_study(
        tmp_path / "dicom",
        tmp_path / "study",
        roles={uids["tc_wb"]: "scintigraphy_planar", uids["spect"]: "ignore"},
    )
    planar = res.manifest["series"]["scintigraphy_planar"]
    assert [p["series_uid"] for p in planar] == [uids["tc_wb"]]  # a forced role replaces
    assert res.manifest["series"]["sstr_spect"] == []
    with pytest.raises(InvalidInputError, match="a PET or NM image series"):
        intake_study(tmp_path / "dicom", tmp_path / "s2", roles={uids["ct"]: "scintigraphy_planar"})
