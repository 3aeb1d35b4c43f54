"""Study intake from DICOM content (``sstrkit study init``).

Synthetic studies are written with :mod:`sstrkit.io.dicom_write` on tiny grids
(8 × 8 × 6 voxels). Every expected value below is the value written into the
headers, or a hand calculation from it (hours after injection = scan time −
administration time, rounded to 0.1 h). The digital patient's own
``manifest.json`` is the reference for the phantom test.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.io.dicom_read import read_series
from sstrkit.io.dicom_write import (
    PatientInfo,
    Radiopharmaceutical,
    StudyInfo,
    write_ct_series,
    write_nm_series,
    write_pet_series,
)
from sstrkit.io.discover import discover
from sstrkit.io.nifti import write_nifti
from sstrkit.pipeline.intake import IntakeResult, intake_study
from sstrkit.pipeline.study import Study

runner = CliRunner()

CET = dt.timezone(dt.timedelta(hours=1))
CEST = dt.timezone(dt.timedelta(hours=2))
PATIENT = PatientInfo(
    name="TEST^INTAKE",
    patient_id="INTAKE01",
    birth_date="19600115",
    sex="F",
    weight_kg=70.0,
    height_cm=165.0,
)
SHAPE = (6, 8, 8)  # z, y, x
SPACING = (4.0, 4.0, 5.0)  # x, y, z mm


def _error_doc(stdout: str) -> bool:
    """With --json an error prints exactly one JSON error document on stdout (exit 2)."""
    import json as _json

    return bool(_json.loads(stdout)["error"]["exit_code"] == 2)


def _volume(
    t: dt.datetime, for_uid: str, *, unit: str, modality: str, origin: tuple[float, ...]
) -> Volume:
    values = np.zeros(SHAPE) if unit == "HU" else np.full(SHAPE, 1000.0)
    return Volume.from_array(
        values,
        spacing=SPACING,
        origin=origin,
        frame_of_reference_uid=for_uid,
        modality=modality,
        quantity="ct_number" if unit == "HU" else "activity_concentration",
        unit=unit,
        reference_time=t,
    )


@dataclass
class Writer:
    """Writes series into ``root`` and remembers their UIDs by name."""

    root: Path
    patient: PatientInfo = PATIENT
    uids: dict[str, str] = field(default_factory=dict)
    fors: dict[str, str] = field(default_factory=dict)
    number: int = 0

    def _next(self) -> int:
        self.number += 1
        return self.number

    def pet(
        self,
        name: str,
        folder: str,
        rp: Radiopharmaceutical,
        t: dt.datetime,
        *,
        for_uid: str | None = None,
        study: StudyInfo | None = None,
        description: str | None = None,
        origin: tuple[float, ...] = (0.0, 0.0, 0.0),
    ) -> str:
        for_uid = for_uid or generate_uid()
        uid = generate_uid()
        write_pet_series(
            _volume(t, for_uid, unit="Bq/mL", modality="PT", origin=origin),
            self.root / folder,
            patient=self.patient,
            study=study or StudyInfo(study_time=rp.injection_time),
            radiopharmaceutical=rp,
            series_description=description or name,
            series_number=self._next(),
            series_uid=uid,
        )
        self.uids[name], self.fors[name] = uid, for_uid
        return uid

    def ct(
        self,
        name: str,
        folder: str,
        t: dt.datetime,
        for_uid: str,
        *,
        study: StudyInfo | None = None,
        origin: tuple[float, ...] = (0.0, 0.0, 0.0),
    ) -> str:
        uid = generate_uid()
        write_ct_series(
            _volume(t, for_uid, unit="HU", modality="CT", origin=origin),
            self.root / folder,
            patient=self.patient,
            study=study or StudyInfo(study_time=t),
            acquisition_time=t,
            series_description=name,
            series_number=self._next(),
            series_uid=uid,
        )
        self.uids[name], self.fors[name] = uid, for_uid
        return uid

    def nm(
        self,
        name: str,
        file: str,
        rp: Radiopharmaceutical,
        t: dt.datetime,
        *,
        for_uid: str | None = None,
        study: StudyInfo | None = None,
        edit: Callable[[Dataset], None] | None = None,
    ) -> str:
        for_uid = for_uid or generate_uid()
        uid = generate_uid()
        path = write_nm_series(
            _volume(t, for_uid, unit="Bq/mL", modality="NM", origin=(0.0, 0.0, 0.0)),
            self.root / file,
            patient=self.patient,
            study=study or StudyInfo(study_time=rp.injection_time),
            radiopharmaceutical=rp,
            series_description=name,
            series_number=self._next(),
            series_uid=uid,
        )
        if edit is not None:
            ds = pydicom.dcmread(path)
            edit(ds)
            ds.save_as(path, enforce_file_format=True)
        self.uids[name], self.fors[name] = uid, for_uid
        return uid


def _lu177_windows(ds: Dataset) -> None:
    """Photopeak windows of a Lu-177 acquisition: 208 keV ± 10 % and 113 keV ± 10 %."""
    items = []
    for name, lo, hi in (("EM1", 187.5, 229.2), ("EM2", 101.7, 124.3)):
        rng = Dataset()
        rng.EnergyWindowLowerLimit, rng.EnergyWindowUpperLimit = f"{lo}", f"{hi}"
        item = Dataset()
        item.EnergyWindowName = name
        item.EnergyWindowRangeSequence = DicomSequence([rng])
        items.append(item)
    ds.EnergyWindowInformationSequence = DicomSequence(items)


def _dicomdir(path: Path) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.FileSetID = "SSTRKIT"
    ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.FileSetConsistencyFlag = 0
    ds.DirectoryRecordSequence = DicomSequence([])
    pydicom.dcmwrite(path, ds, enforce_file_format=True)


# Administrations and scan times written into the clinic export (hand-calculated hours).
C1_INJ = dt.datetime(2025, 2, 3, 10, 0, tzinfo=CET)
C1_SCANS = {  # name: (scan time, hours p.i.)
    "c1_4h": (dt.datetime(2025, 2, 3, 14, 7, tzinfo=CET), 4.1),  # 4 h 7 min = 4.117 h
    "c1_24h": (dt.datetime(2025, 2, 4, 9, 52, tzinfo=CET), 23.9),  # 23 h 52 min = 23.867 h
    "c1_96h": (dt.datetime(2025, 2, 7, 10, 20, tzinfo=CET), 96.3),  # 96 h 20 min = 96.333 h
}
C2_INJ = dt.datetime(2025, 3, 31, 10, 30, tzinfo=CEST)
C2_SCANS = {
    "c2_4h": (dt.datetime(2025, 3, 31, 14, 30, tzinfo=CEST), 4.0),  # 4 h 0 min
    "c2_24h": (dt.datetime(2025, 4, 1, 10, 36, tzinfo=CEST), 24.1),  # 24 h 6 min = 24.1 h
    "c2_96h": (dt.datetime(2025, 4, 4, 11, 12, tzinfo=CEST), 96.7),  # 96 h 42 min = 96.7 h
}
PET_INJ = dt.datetime(2025, 1, 6, 9, 0, tzinfo=CET)
FDG_INJ = dt.datetime(2024, 12, 20, 8, 30, tzinfo=CET)


@dataclass(frozen=True)
class Clinic:
    root: Path
    uids: dict[str, str]
    fors: dict[str, str]


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Clinic:
    """A PACS export: 68Ga PET/CT, FDG PET/CT, 2 cycles x 3 SPECT/CT, distractors."""
    root = tmp_path_factory.mktemp("export")
    w = Writer(root)
    # SSTR PET/CT 2025-01-06 (the baseline), an older DOTATOC PET and a follow-up PET
    pet_study = StudyInfo(study_time=PET_INJ)
    rp = Radiopharmaceutical("68Ga-DOTATATE", "Ga-68", 150e6, PET_INJ)
    w.pet("pet", "PAT/S1/PET", rp, PET_INJ + dt.timedelta(hours=1), study=pet_study)
    w.ct("pet_ct", "PAT/S1/CT", PET_INJ + dt.timedelta(minutes=58), w.fors["pet"], study=pet_study)
    old = dt.datetime(2024, 6, 3, 9, 0, tzinfo=CEST)
    w.pet(
        "pet_old",
        "PAT/S0/PET",
        Radiopharmaceutical("68Ga-DOTATOC", "Ga-68", 140e6, old),
        old + dt.timedelta(hours=1),
    )
    late = dt.datetime(2025, 6, 2, 9, 0, tzinfo=CEST)
    w.pet(
        "pet_followup",
        "PAT/S9/PET",
        Radiopharmaceutical("Ga-68 DOTATATE", "Ga-68", 145e6, late),
        late + dt.timedelta(hours=1),
    )
    # FDG PET/CT in nested folders
    fdg_study = StudyInfo(study_time=FDG_INJ)
    w.pet(
        "fdg",
        "PAT/OLD/2024/FDG/pet",
        Radiopharmaceutical("18F-FDG", "F-18", 250e6, FDG_INJ),
        FDG_INJ + dt.timedelta(hours=1),
        study=fdg_study,
    )
    w.ct(
        "fdg_ct",
        "PAT/OLD/2024/FDG/ct",
        FDG_INJ + dt.timedelta(minutes=58),
        w.fors["fdg"],
        study=fdg_study,
    )
    # cycle 1: multi-frame NM SPECT (files without extension), each with its CT
    rp1 = Radiopharmaceutical("177Lu-DOTATATE", "Lu-177", 7.4e9, C1_INJ)
    c1 = StudyInfo(study_time=C1_INJ)
    for name, (t, _) in C1_SCANS.items():
        w.nm(name, f"PAT/C1/{name}/NM00001", rp1, t, study=c1, edit=_lu177_windows)
        w.ct(f"{name}_ct", f"PAT/C1/{name}_CT", t - dt.timedelta(minutes=1), w.fors[name], study=c1)
    # planar whole-body scan of cycle 1 (not a tomogram)
    w.nm(
        "c1_wb",
        "PAT/C1/WB/NM00001",
        rp1,
        dt.datetime(2025, 2, 4, 9, 30, tzinfo=CET),
        study=c1,
        edit=lambda ds: setattr(ds, "ImageType", ["ORIGINAL", "PRIMARY", "WHOLE BODY", "EMISSION"]),
    )
    # cycle 2: per-slice PT-SOP SPECT (xSPECT Quant style, Units BQML), 24 h mixed with its CT
    rp2 = Radiopharmaceutical("177Lu-DOTATATE", "Lu-177", 7.2e9, C2_INJ)
    c2 = StudyInfo(study_time=C2_INJ)
    for name, (t, _) in C2_SCANS.items():
        folder = "PAT/C2/mixed" if name == "c2_24h" else f"PAT/C2/{name}"
        ct_folder = "PAT/C2/mixed" if name == "c2_24h" else f"PAT/C2/{name}_ct"
        w.pet(name, folder, rp2, t, study=c2, description=f"xSPECT Quant {name}")
        w.ct(f"{name}_ct", ct_folder, t - dt.timedelta(minutes=1), w.fors[name], study=c2)
    # a diagnostic CT of its own (no emission scan): not paired
    w.ct("ct_diag", "PAT/DIAG", dt.datetime(2025, 1, 20, 11, 0, tzinfo=CET), generate_uid())
    _dicomdir(root / "DICOMDIR")
    (root / "README.txt").write_text("exported by PACS\n", encoding="utf-8")
    return Clinic(root, dict(w.uids), dict(w.fors))


@pytest.fixture(scope="module")
def intake(clinic: Clinic, tmp_path_factory: pytest.TempPathFactory) -> IntakeResult:
    return intake_study(clinic.root, tmp_path_factory.mktemp("study") / "S")


# ----------------------------------------------------------------------------- roles
def test_roles_cycles_hours_and_pairing(clinic: Clinic, intake: IntakeResult) -> None:
    s = intake.manifest["series"]
    u = clinic.uids
    assert s["pet"]["series_uid"] == u["pet"]  # latest SSTR PET before the first therapy
    assert s["pet"]["nuclide"] == "Ga-68" and s["pet"]["tracer"] == "68Ga-DOTATATE"
    assert s["pet"]["injected_activity_bq"] == 150e6
    assert dt.datetime.fromisoformat(s["pet"]["injection_time"]) == PET_INJ
    assert dt.datetime.fromisoformat(s["pet"]["time"]) == PET_INJ + dt.timedelta(hours=1)
    assert s["pet_ct"]["series_uid"] == u["pet_ct"]
    assert s["fdg"]["series_uid"] == u["fdg"] and s["fdg"]["nuclide"] == "F-18"
    assert s["fdg_ct"]["series_uid"] == u["fdg_ct"]
    expected = [(1, h, n) for n, (_, h) in C1_SCANS.items()]
    expected += [(2, h, n) for n, (_, h) in C2_SCANS.items()]
    got = [(e["cycle"], e["hours_post_injection"], e["series_uid"]) for e in s["spect"]]
    assert got == [(c, h, u[n]) for c, h, n in expected]
    cts = [(e["cycle"], e["hours_post_injection"], e["series_uid"]) for e in s["spect_ct"]]
    assert cts == [(c, h, u[f"{n}_ct"]) for c, h, n in expected]
    for e in s["spect"]:
        inj, act = (C1_INJ, 7.4e9) if e["cycle"] == 1 else (C2_INJ, 7.2e9)
        assert dt.datetime.fromisoformat(e["injection_time"]) == inj
        assert e["injected_activity_bq"] == act and e["nuclide"] == "Lu-177"
        assert e["fwhm_mm"] is None
    # the NM SPECTs carry their energy windows; the PT-SOP ones have none
    assert s["spect"][0]["energy_windows"] == [
        {"name": "EM1", "lower_kev": 187.5, "upper_kev": 229.2},
        {"name": "EM2", "lower_kev": 101.7, "upper_kev": 124.3},
    ]
    assert s["spect"][3]["energy_windows"] == []
    assert s["spect"][3]["units"] == "BQML"
    # times keep the headers' UTC offsets (cycle 2 after the change to summer time)
    assert s["spect"][3]["time"] == "2025-03-31T14:30:00+02:00"
    assert intake.manifest["format"] == "sstrkit-study" and intake.manifest["version"] == 2


def test_ignored_series_and_notes(clinic: Clinic, intake: IntakeResult) -> None:
    u = clinic.uids
    ignored = {i["series_uid"]: i["reason"] for i in intake.manifest["intake"]["ignored_series"]}
    assert set(ignored) == {u["pet_old"], u["pet_followup"], u["c1_wb"], u["ct_diag"]}
    notes = "\n".join(intake.notes)
    assert intake.manifest["intake"]["notes"] == list(intake.notes)
    assert "3 SSTR PET series" in notes and "latest before the first therapy" in notes
    assert "--role UID=pet" in notes
    assert f"CT ct_diag (2025-01-20 11:00, {u['ct_diag']}) is not paired" in notes
    assert "whole body" in ignored[u["c1_wb"]] and "RECON TOMO" in ignored[u["c1_wb"]]
    assert "DICOMDIR" in notes
    roles = {r.series_uid: r.role for r in intake.rows}
    assert roles[u["c1_wb"]] == "ignored" and roles[u["pet"]] == "pet"
    assert len(intake.rows) == 20  # every series found, used or not


def test_paths_read_exactly_their_series(clinic: Clinic, intake: IntakeResult) -> None:
    s = intake.manifest["series"]
    root = clinic.root.resolve()
    assert s["pet"]["path"] == str(root / "PAT/S1/PET") and "files" not in s["pet"]
    nm = s["spect"][0]
    assert nm["path"] == str(root / "PAT/C1/c1_4h/NM00001")  # multi-frame: the file
    assert s["spect"][3]["path"] == str(root / "PAT/C2/c2_4h")  # per slice, alone: the folder
    mixed, mixed_ct = s["spect"][4], s["spect_ct"][4]
    assert mixed["path"] == mixed_ct["path"] == str(root / "PAT/C2/mixed")
    assert len(mixed["files"]) == len(mixed_ct["files"]) == SHAPE[0]
    for entry in (s["pet"], nm, s["spect"][3]):
        assert read_series(entry["path"]).series_uid == entry["series_uid"]
    for entry in (mixed, mixed_ct):
        assert read_series(entry["files"]).series_uid == entry["series_uid"]
        assert read_series(entry["path"], series_uid=entry["series_uid"]).volume.shape == SHAPE


def test_patient_from_the_sstr_pet_headers(clinic: Clinic, intake: IntakeResult) -> None:
    p = intake.manifest["patient"]
    assert (p["id"], p["name"], p["sex"], p["birth_date"]) == (
        "INTAKE01",
        "TEST^INTAKE",
        "F",
        "1960-01-15",
    )
    assert p["weight_kg"] == 70.0 and p["height_cm"] == pytest.approx(165.0, abs=1e-9)
    assert p["sources"]["weight_kg"] == f"PatientWeight (0010,1030) of series {clinic.uids['pet']}"


def test_manifest_on_disk_is_readable_by_study(intake: IntakeResult) -> None:
    on_disk = json.loads(intake.manifest_path.read_text(encoding="utf-8"))
    assert on_disk == intake.manifest
    study = Study.load(intake.manifest_path.parent)
    assert study.cycles == (1, 2)
    tps = study.time_points
    assert [t.hours_post_injection for t in tps] == [4.1, 23.9, 96.3, 4.0, 24.1, 96.7]
    assert all(t.ct_path is not None and t.ct_path.exists() for t in tps)
    assert intake.to_dict()["manifest_path"] == str(intake.manifest_path)


def test_discover_skips_dicomdir(clinic: Clinic) -> None:
    found = discover(clinic.root)
    assert found.media_directories == (clinic.root / "DICOMDIR",)
    assert found.unreadable == ()


# ----------------------------------------------------------------------------- overrides
def test_role_overrides(clinic: Clinic, tmp_path: Path) -> None:
    u = clinic.uids
    res = intake_study(
        clinic.root,
        tmp_path / "S",
        roles={u["pet_old"]: "pet", u["ct_diag"]: "ignore", u["c2_96h"]: "ignore"},
    )
    s = res.manifest["series"]
    assert s["pet"]["series_uid"] == u["pet_old"]
    assert s["pet_ct"] is None  # the older PET has no CT in the export
    assert "SSTR PET" in "\n".join(res.notes) and "no CT found" in "\n".join(res.notes)
    assert [e["hours_post_injection"] for e in s["spect"] if e["cycle"] == 2] == [4.0, 24.1]
    assert res.manifest["intake"]["overrides"] == {
        u["pet_old"]: "pet",
        u["ct_diag"]: "ignore",
        u["c2_96h"]: "ignore",
    }
    # the 96 h CT of cycle 2 lost its SPECT: reported, not used
    assert f"CT c2_96h_ct (2025-04-04 11:11, {u['c2_96h_ct']}) is not paired" in "\n".join(
        res.notes
    )


def test_bad_overrides_raise(clinic: Clinic, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="one of pet, pet_ct"):
        intake_study(clinic.root, tmp_path / "S", roles={clinic.uids["pet"]: "baseline"})
    with pytest.raises(InvalidInputError, match="SeriesInstanceUID of a series"):
        intake_study(clinic.root, tmp_path / "S", roles={"1.2.3.4": "pet"})
    with pytest.raises(InvalidInputError, match="a CT series"):
        intake_study(clinic.root, tmp_path / "S", roles={clinic.uids["pet"]: "pet_ct"})


# ----------------------------------------------------------------------------- errors
def test_empty_and_unusable_folders_raise(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="no DICOM series"):
        intake_study(tmp_path / "empty", tmp_path / "S")
    with pytest.raises(InvalidInputError, match="an existing folder"):
        intake_study(tmp_path / "missing", tmp_path / "S")
    w = Writer(tmp_path / "ct_only")
    w.ct("ct", "ct", dt.datetime(2025, 1, 1, 10, tzinfo=CET), generate_uid())
    with pytest.raises(InvalidInputError, match=r"an SSTR PET .* or a Lu-177/Y-90 therapy SPECT"):
        intake_study(tmp_path / "ct_only", tmp_path / "S")
    assert not (tmp_path / "S" / "manifest.json").exists()


def test_two_patients_raise(tmp_path: Path) -> None:
    w = Writer(tmp_path / "dicom")
    t = dt.datetime(2025, 1, 1, 10, tzinfo=CET)
    w.pet(
        "a", "a", Radiopharmaceutical("68Ga-DOTATATE", "Ga-68", 1e8, t), t + dt.timedelta(hours=1)
    )
    w.patient = PatientInfo(patient_id="OTHER")
    w.ct("b", "b", t, generate_uid())
    with pytest.raises(InvalidInputError, match="the series of one patient"):
        intake_study(tmp_path / "dicom", tmp_path / "S")


# ----------------------------------------------------------------------------- headers
def _anonymous_lu(ds: Dataset) -> None:
    """Strip the radiopharmaceutical down to start datetime (no zone) and no dose."""
    item = ds.RadiopharmaceuticalInformationSequence[0]
    for kw in (
        "Radiopharmaceutical",
        "RadionuclideCodeSequence",
        "RadionuclideHalfLife",
        "RadionuclideTotalDose",
    ):
        delattr(item, kw)
    item.RadiopharmaceuticalStartDateTime = "20250203100000"
    del ds.TimezoneOffsetFromUTC
    ds.SeriesDescription = "SPECT ABDOMEN"
    _lu177_windows(ds)


def test_energy_windows_clinical_administration_and_no_zone(tmp_path: Path) -> None:
    w = Writer(tmp_path / "dicom")
    utc = dt.UTC
    inj = dt.datetime(2025, 2, 3, 10, 0, tzinfo=utc)
    rp = Radiopharmaceutical("x", "Lu-177", 1e9, inj)
    t = dt.datetime(2025, 2, 4, 10, 30, tzinfo=utc)  # 24.5 h after 10:00
    w.nm("spect", "nm/NM1", rp, t, edit=_anonymous_lu)
    clinical = {
        "administrations": [
            {"nuclide": "Lu-177", "activity_bq": 7.3e9, "time": "2025-02-03T10:00:00+00:00"}
        ],
        "labs": [{"time": "2025-02-02T08:00:00+00:00", "creatinine_umol_l": 70.0}],
    }
    (tmp_path / "clinical.json").write_text(json.dumps(clinical), encoding="utf-8")
    res = intake_study(tmp_path / "dicom", tmp_path / "S", clinical=tmp_path / "clinical.json")
    (e,) = res.manifest["series"]["spect"]
    assert (e["nuclide"], e["hours_post_injection"], e["injected_activity_bq"]) == (
        "Lu-177",
        24.5,
        7.3e9,
    )
    assert e["time"] == "2025-02-04T10:30:00+00:00"
    notes = "\n".join(res.notes)
    assert "activity 7300 MBq taken from clinical.json administrations[0]" in notes
    assert "no TimezoneOffsetFromUTC" in notes and "labelled UTC" in notes
    assert "no CT found" in notes
    assert res.manifest["clinical"] == "clinical.json"
    assert json.loads((tmp_path / "S" / "clinical.json").read_text()) == clinical
    # without the clinical data the activity is missing: an error naming the fix
    with pytest.raises(InvalidInputError, match=r"no administered activity.*--clinical"):
        intake_study(tmp_path / "dicom", tmp_path / "S2")


def test_same_administration_different_activity_is_noted(tmp_path: Path) -> None:
    w = Writer(tmp_path / "dicom")
    inj = dt.datetime(2025, 2, 3, 10, 0, tzinfo=CET)
    for name, hours, act in (("a", 4, 7.4e9), ("b", 24, 7.0e9)):
        rp = Radiopharmaceutical("177Lu-DOTATATE", "Lu-177", act, inj)
        w.nm(name, f"{name}/NM", rp, inj + dt.timedelta(hours=hours))
    res = intake_study(tmp_path / "dicom", tmp_path / "S")
    spect = res.manifest["series"]["spect"]
    assert [(e["cycle"], e["hours_post_injection"]) for e in spect] == [(1, 4.0), (1, 24.0)]
    # a tie (one series each): the value of the first acquired series is used
    assert [e["injected_activity_bq"] for e in spect] == [7.4e9, 7.4e9]
    assert "same administration, different activities" in "\n".join(res.notes)


def test_scan_times_take_the_offset_of_the_administration(tmp_path: Path) -> None:
    # no TimezoneOffsetFromUTC, but the administration DT says +0100: the scanner's local
    # times are read in +01:00, so 11:00 local is 25.0 h after 10:00+01:00 the day before
    w = Writer(tmp_path / "dicom")
    rp = Radiopharmaceutical("177Lu-DOTATATE", "Lu-177", 7.4e9, C1_INJ)
    t = dt.datetime(2025, 2, 4, 11, 0, tzinfo=CET)
    w.nm("spect", "nm/NM", rp, t, edit=lambda ds: delattr(ds, "TimezoneOffsetFromUTC"))
    res = intake_study(tmp_path / "dicom", tmp_path / "S")
    (e,) = res.manifest["series"]["spect"]
    assert (e["time"], e["hours_post_injection"]) == ("2025-02-04T11:00:00+01:00", 25.0)
    assert "offset in RadiopharmaceuticalStartDateTime" in "\n".join(res.notes)


def test_series_exported_twice_is_read_once(tmp_path: Path) -> None:
    w = Writer(tmp_path / "dicom")
    rp = Radiopharmaceutical("68Ga-DOTATATE", "Ga-68", 1.5e8, PET_INJ)
    w.pet("pet", "a/pet", rp, PET_INJ + dt.timedelta(hours=1))
    shutil.copytree(tmp_path / "dicom/a", tmp_path / "dicom/b")
    res = intake_study(tmp_path / "dicom", tmp_path / "S")
    pet = res.manifest["series"]["pet"]
    # the first copy's folder holds only that copy: the folder reads exactly one series
    assert pet["path"] == str((tmp_path / "dicom/a/pet").resolve()) and "files" not in pet
    assert read_series(pet["path"]).volume.shape == SHAPE
    assert "6 file(s) are second copies" in "\n".join(res.notes)


# ----------------------------------------------------------------------------- segmentation
def _labels(path: Path, origin: tuple[float, ...]) -> Path:
    arr = np.zeros(SHAPE, np.int16)
    arr[1:3, 2:5, 2:5] = 1
    arr[3:5, 2:4, 5:7] = 2
    vol = Volume.from_array(arr, spacing=SPACING, origin=origin, quantity="label", unit="1")
    return write_nifti(vol, path)


def test_segmentation_is_copied_and_keyed_by_grid(clinic: Clinic, tmp_path: Path) -> None:
    # the SPECT/CTs, the PET/CT and the label map share size and spacing; the origin
    # decides: move the cycle-1 24 h CT's grid by writing a new export with its origin
    w = Writer(tmp_path / "dicom")
    rp = Radiopharmaceutical("177Lu-DOTATATE", "Lu-177", 7.4e9, C1_INJ)
    t = C1_INJ + dt.timedelta(hours=24)
    w.nm("spect", "s/NM", rp, t)
    w.ct("ct", "ct", t, w.fors["spect"], origin=(10.0, 20.0, 30.0))
    labels = _labels(tmp_path / "seg" / "labels.nii.gz", (10.0, 20.0, 30.2))  # 0.2 mm off
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"liver": 1, "kidney_left": 2}), encoding="utf-8")
    res = intake_study(tmp_path / "dicom", tmp_path / "S", segmentation=labels, label_names=names)
    seg = res.manifest["segmentation"]
    assert seg == {
        "labels_nifti": {"cycle1_24h": "segmentation/labels.nii.gz"},
        "label_names": "segmentation/label_names.json",
    }
    copied = json.loads((tmp_path / "S/segmentation/label_names.json").read_text())
    assert copied == {"1": "liver", "2": "kidney_left"}
    assert (tmp_path / "S/segmentation/labels.nii.gz").read_bytes() == labels.read_bytes()
    # on the PET grid of the clinic export: the baseline
    base = _labels(tmp_path / "seg2" / "l.nii.gz", (0.0, 0.0, 0.0))
    res = intake_study(
        clinic.root,
        tmp_path / "S2",
        segmentation=base,
        label_names={"1": "liver", "2": "spleen", "3": "tumour_1"},
    )
    assert res.manifest["segmentation"]["labels_nifti"] == {
        "baseline": "segmentation/labels.nii.gz"
    }
    assert "named labels absent from the label map: 3 (tumour_1)" in "\n".join(res.notes)
    # on no series' grid: baseline, with a note
    off = _labels(tmp_path / "seg3" / "l.nii.gz", (7.0, 0.0, 0.0))
    res = intake_study(
        tmp_path / "dicom",
        tmp_path / "S3",
        segmentation=off,
        label_names={"1": "liver", "2": "spleen"},
    )
    assert res.manifest["segmentation"]["labels_nifti"] == {
        "baseline": "segmentation/labels.nii.gz"
    }
    assert "matches no series" in "\n".join(res.notes)
    with pytest.raises(InvalidInputError, match="label names"):
        intake_study(tmp_path / "dicom", tmp_path / "S4", segmentation=off)


# ----------------------------------------------------------------------------- CLI
def test_cli_json_one_document(clinic: Clinic, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "study",
            "init",
            str(clinic.root),
            "--out",
            str(tmp_path / "S"),
            "--role",
            f"{clinic.uids['ct_diag']}=ignore",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    doc: dict[str, Any] = json.loads(res.stdout)
    assert doc["manifest"]["series"]["pet"]["series_uid"] == clinic.uids["pet"]
    assert doc["manifest_path"] == str((tmp_path / "S" / "manifest.json").resolve())
    assert {r["role"] for r in doc["rows"]} >= {"pet", "pet_ct", "fdg", "spect", "spect_ct"}
    assert doc["manifest"]["intake"]["overrides"] == {clinic.uids["ct_diag"]: "ignore"}


def test_cli_table_and_errors(clinic: Clinic, tmp_path: Path) -> None:
    res = runner.invoke(app, ["study", "init", str(clinic.root), "--out", str(tmp_path / "S")])
    assert res.exit_code == 0, res.output
    assert "h p.i." in res.stdout and "23.9" in res.stdout and "note:" in res.stdout
    for args in (
        ["--role", "1.2.3"],  # no "=ROLE"
        ["--role", f"{clinic.uids['pet']}=baseline"],
    ):
        bad = runner.invoke(
            app, ["study", "init", str(clinic.root), "--out", str(tmp_path / "T"), *args, "--json"]
        )
        assert bad.exit_code == 2 and _error_doc(bad.stdout)
        assert len(bad.stderr.strip().splitlines()) == 1 and "--role" in bad.stderr
    missing = runner.invoke(app, ["study", "init", str(tmp_path / "nope"), "--out", "x", "--json"])
    assert missing.exit_code == 2 and _error_doc(missing.stdout)
    assert len(missing.stderr.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- digital patient
def test_digital_patient_intake_matches_its_manifest(tmp_path: Path) -> None:
    from sstrkit.phantom.study import StudyConfig, make_study

    root = tmp_path / "phantom"
    truth = make_study(
        root,
        StudyConfig(seed=1, voxel_mm=8.0, cycles=2, timepoints_h=(4.0, 24.0, 96.0), fdg=True),
    )
    res = intake_study(root, tmp_path / "S")  # the whole folder: DICOM, truth, JSON files
    got, ref = res.manifest["series"], truth["series"]
    for role in ("pet", "pet_ct", "fdg", "fdg_ct"):
        assert got[role]["series_uid"] == ref[role]["series_uid"]
        assert Path(got[role]["path"]) == (root / ref[role]["path"]).resolve()
        assert dt.datetime.fromisoformat(got[role]["time"]) == dt.datetime.fromisoformat(
            ref[role]["time"]
        )
        assert got[role]["frame_of_reference_uid"] == ref[role]["frame_of_reference_uid"]
    for role in ("pet", "fdg"):
        for key in ("nuclide", "tracer", "injected_activity_bq"):
            assert got[role][key] == ref[role][key]
        assert got[role]["injection_time"] == ref[role]["injection_time"]
    for kind, keys in (
        ("spect", ("injection_time", "injected_activity_bq", "nuclide", "time")),
        ("spect_ct", ("time", "frame_of_reference_uid")),
    ):
        assert len(got[kind]) == len(ref[kind]) == 6
        for g, r in zip(got[kind], ref[kind], strict=True):
            assert (g["cycle"], g["hours_post_injection"], g["series_uid"]) == (
                r["cycle"],
                r["hours_post_injection"],
                r["series_uid"],
            )
            assert Path(g["path"]) == (root / r["path"]).resolve()
            for key in keys:
                assert g[key] == r[key], key
    p = res.manifest["patient"]
    assert (p["id"], p["sex"]) == (truth["patient"]["id"], truth["patient"]["sex"])
    # the headers hold 6 significant digits (PatientWeight, PatientSize in m)
    assert p["weight_kg"] == pytest.approx(truth["patient"]["weight_kg"], rel=1e-5)
    assert p["height_cm"] == pytest.approx(truth["patient"]["height_cm"], rel=1e-5)
    # the truth RTSTRUCT is the only series not used
    assert [i["modality"] for i in res.manifest["intake"]["ignored_series"]] == ["RTSTRUCT"]
