"""DICOM conformance of everything sstrkit writes, checked with dicom3tools' ``dciodvfy``.

``dciodvfy FILE`` checks a file against its IOD (modules, attribute types, conditions,
enumerated values) and prints ``Error - ...`` / ``Warning - ...`` lines on stderr.
Acceptance: no ``Error`` line and exit status 0 for one object of each kind, on small
volumes (the remaining warnings and why they are acceptable: docs/dicom.md,
"Conformance"). Without ``dciodvfy`` these tests skip, except under ``CI=true``
where they fail (.ci/run installs dicom3tools).

The derived objects must carry their source's patient and study: the RTDOSE test
compares every patient/study attribute with the SPECT header it was given.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest

from _services import require_tool
from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError
from sstrkit.io.dicom_derived import write_derived_series, write_suv_series
from sstrkit.io.dicom_read import read_series
from sstrkit.io.dicom_write import (
    PATIENT_STUDY_KEYWORDS,
    RTDOSE_SUMMATION_TYPE,
    PatientInfo,
    Radiopharmaceutical,
    StudyInfo,
    read_rtdose,
    write_ct_series,
    write_nm_series,
    write_pet_series,
    write_rtdose,
)
from sstrkit.io.rtstruct_write import write_rtstruct
from sstrkit.io.suv import compute_suv
from sstrkit.pipeline.study import Study

TZ = dt.timezone(dt.timedelta(hours=2))
REF = dt.datetime(2026, 4, 7, 10, 20, 30, tzinfo=TZ)
FOR = "1.2.826.0.1.3680043.8.498.4711"
PATIENT = PatientInfo(
    name="Conformance^Test", patient_id="CONF1", birth_date="19580312", sex="F",
    weight_kg=64.0, height_cm=167.0,
)  # fmt: skip
STUDY = StudyInfo(
    study_uid="1.2.826.0.1.3680043.8.498.4712", study_time=REF - dt.timedelta(hours=2),
    description="Conformance study", accession_number="ACC42", study_id="7",
)  # fmt: skip
GA = Radiopharmaceutical("Ga-68 DOTATATE", "Ga-68", 150e6, REF - dt.timedelta(minutes=60))
LU = Radiopharmaceutical("177Lu-DOTATATE", "Lu-177", 7.4e9, REF - dt.timedelta(hours=24))
GEOMETRY = {"spacing": (4.0, 4.0, 5.0), "origin": (-12.0, -10.0, -20.0),
            "frame_of_reference_uid": FOR}  # fmt: skip


def _require_dciodvfy() -> str:
    return require_tool("dciodvfy", "dicom3tools")


@pytest.fixture(scope="module")
def dciodvfy() -> str:
    return _require_dciodvfy()


def verify(tool: str, path: Path) -> list[str]:
    """Run dciodvfy on ``path``; fail on any Error line; return the Warning lines."""
    res = subprocess.run([tool, str(path)], capture_output=True, timeout=120, check=False)
    text = (res.stderr + res.stdout).decode("utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error")]
    assert res.returncode == 0 and not errors, (
        f"dciodvfy {path.name}: exit status {res.returncode}\n" + "\n".join(lines)
    )
    return [line for line in lines if line.startswith("Warning")]


def _activity(modality: str) -> Volume:
    arr = np.random.default_rng(11).uniform(0.0, 25000.0, (3, 6, 7))
    return Volume.from_array(arr, modality=modality, quantity="activity_concentration",
                             unit="Bq/mL", reference_time=REF, **GEOMETRY)  # fmt: skip


def _pet(tmp_path: Path) -> Path:
    write_pet_series(_activity("PT"), tmp_path / "pt", patient=PATIENT, study=STUDY,
                     radiopharmaceutical=GA, frame_duration_s=180.0)  # fmt: skip
    return tmp_path / "pt"


def _nm(tmp_path: Path, duration_s: float | None = 1200.0) -> Path:
    return write_nm_series(_activity("NM"), tmp_path / "nm" / "NM.dcm", patient=PATIENT,
                           study=STUDY, radiopharmaceutical=LU,
                           acquisition_duration_s=duration_s)  # fmt: skip


def _dose() -> Volume:
    arr = np.random.default_rng(5).gamma(2.0, 3.0, (3, 6, 7))
    return Volume.from_array(arr, quantity="absorbed_dose", unit="Gy", modality="RTDOSE",
                             reference_time=REF, **GEOMETRY)  # fmt: skip


def _labels() -> Volume:
    lab = np.zeros((3, 6, 7))
    lab[1:3, 1:4, 2:6] = 1
    lab[0, 4:6, 0:2] = 2
    return Volume.from_array(lab, **GEOMETRY)


def test_pet_series(dciodvfy: str, tmp_path: Path) -> None:
    files = sorted(_pet(tmp_path).glob("*.dcm"))
    for f in (files[0], files[-1]):
        verify(dciodvfy, f)
    admin = _activity("PT").with_metadata(reference_time=GA.injection_time)
    out = write_pet_series(admin, tmp_path / "admin", patient=PatientInfo(), study=StudyInfo(),
                           radiopharmaceutical=GA, decay_correction="ADMIN")  # fmt: skip
    verify(dciodvfy, out[0])


@pytest.mark.parametrize("duration_s", [1200.0, None])
def test_nm_spect(dciodvfy: str, tmp_path: Path, duration_s: float | None) -> None:
    path = _nm(tmp_path, duration_s)
    verify(dciodvfy, path)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    rot = ds.RotationInformationSequence
    if duration_s is None:
        assert len(rot) == 0  # Type 2: unknown, left empty
    else:  # readers sum NumberOfFramesInRotation × ActualFrameDuration
        assert int(rot[0].NumberOfFramesInRotation) * float(rot[0].ActualFrameDuration) == 1.2e6


def test_ct_series(dciodvfy: str, tmp_path: Path) -> None:
    hu = np.random.default_rng(2).integers(-1000, 1500, (3, 6, 7)).astype(float)
    ct = Volume.from_array(hu, modality="CT", unit="HU", **GEOMETRY)
    files = write_ct_series(ct, tmp_path / "ct", patient=PATIENT, study=STUDY,
                            acquisition_time=REF)  # fmt: skip
    verify(dciodvfy, files[0])
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert "PatientPosition" in ds and "AcquisitionNumber" in ds


@pytest.mark.parametrize("norm", ["bw", "bsa"])
def test_suv_series_from_a_pet_source(dciodvfy: str, tmp_path: Path, norm: str) -> None:
    source = read_series(_pet(tmp_path))
    suv = compute_suv(source, norm).suv
    assert suv is not None
    files = write_suv_series(suv, tmp_path / "suv", source=source)
    verify(dciodvfy, files[0])
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert list(ds.ImageType) == ["DERIVED", "PRIMARY"]
    assert ds.ActualFrameDuration == source.header.ActualFrameDuration
    for keyword in PATIENT_STUDY_KEYWORDS:
        assert ds.get(keyword) == source.header.get(keyword), keyword


def test_suv_series_without_source(dciodvfy: str, tmp_path: Path) -> None:
    suv = Volume.from_array(np.random.default_rng(3).uniform(0, 20, (3, 6, 7)), quantity="SUV",
                            unit="g/mL", reference_time=REF, **GEOMETRY)  # fmt: skip
    files = write_suv_series(suv, tmp_path / "suv")
    verify(dciodvfy, files[0])
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert (str(ds.PatientName), ds.PatientID) == ("", "")  # nothing invented


@pytest.mark.parametrize("kind", ["unsigned", "signed", "small"])
def test_derived_maps(dciodvfy: str, tmp_path: Path, kind: str) -> None:
    source = read_series(_pet(tmp_path))
    dose = _dose()
    if kind == "signed":  # e.g. a difference map
        dose = dose.with_array(dose.array - 5.0, operation="difference", quantity="difference")
    if kind == "small":  # window narrower than 1: LINEAR would need a width >= 1
        dose = dose.with_array(dose.array * 1e-3, operation="scale")
    files = write_derived_series(dose, tmp_path / "map", source=source)
    verify(dciodvfy, files[0])
    labels = write_derived_series(_labels().with_metadata(quantity="labels", unit="1"),
                                  tmp_path / "labels")  # fmt: skip
    verify(dciodvfy, labels[0])


def test_rtstruct(dciodvfy: str, tmp_path: Path) -> None:
    hu = np.zeros((3, 6, 7))
    ct = Volume.from_array(hu, modality="CT", unit="HU", **GEOMETRY)
    write_ct_series(ct, tmp_path / "ct", patient=PATIENT, study=STUDY, acquisition_time=REF)
    with_ref = write_rtstruct(_labels(), {1: "lesion 1", 2: "liver"}, tmp_path / "rs.dcm",
                              reference=tmp_path / "ct", interpreted_types={1: "GTV"})  # fmt: skip
    verify(dciodvfy, with_ref.path)
    ds = pydicom.dcmread(with_ref.path)
    assert ds.FrameOfReferenceUID == FOR and "PositionReferenceIndicator" in ds
    assert (str(ds.PatientName), ds.PatientBirthDate) == (PATIENT.name, PATIENT.birth_date)
    bare = write_rtstruct(_labels(), {1: "lesion 1"}, tmp_path / "rs_bare.dcm")
    verify(dciodvfy, bare.path)


def test_rtdose_copies_patient_and_study_of_its_source(dciodvfy: str, tmp_path: Path) -> None:
    spect = pydicom.dcmread(_nm(tmp_path), stop_before_pixels=True)
    dose = _dose()
    path = write_rtdose(dose.with_metadata(frame_of_reference_uid=None), tmp_path / "rd.dcm",
                        source=spect, series_description="dose cycle 1")  # fmt: skip
    verify(dciodvfy, path)
    rd = pydicom.dcmread(path)
    for keyword in (*PATIENT_STUDY_KEYWORDS, "FrameOfReferenceUID"):
        assert keyword in rd, keyword
        assert rd.get(keyword) == spect.get(keyword), keyword
    assert str(rd.PatientName) == "Conformance^Test" and rd.PatientBirthDate == "19580312"
    assert rd.BitsAllocated == 16 and rd.DoseSummationType == RTDOSE_SUMMATION_TYPE
    assert "ReferencedRTPlanSequence" not in rd
    back = read_rtdose(path)
    step = float(dose.array.max()) / 65535.0  # uint16 × DoseGridScaling
    np.testing.assert_allclose(back.array, dose.array, rtol=0, atol=step / 2 * 1.001)
    with pytest.raises(GeometryMismatchError, match="FrameOfReferenceUID"):
        write_rtdose(dose.with_metadata(frame_of_reference_uid="1.2.3.4"), tmp_path / "x.dcm",
                     source=spect)  # fmt: skip


def test_rtdose_keeps_a_latin1_source_name(dciodvfy: str, tmp_path: Path) -> None:
    """Scanners often write ISO_IR 100: the name is re-encoded in the RTDOSE's UTF-8."""
    spect = pydicom.dcmread(_nm(tmp_path), stop_before_pixels=True)
    spect.SpecificCharacterSet = "ISO_IR 100"
    spect.PatientName = "Müller^Jürgen"
    spect.save_as(tmp_path / "latin1.dcm", enforce_file_format=True)
    source = pydicom.dcmread(tmp_path / "latin1.dcm")
    path = write_rtdose(_dose(), tmp_path / "rd.dcm", source=source)
    verify(dciodvfy, path)
    rd = pydicom.dcmread(path)
    assert (rd.SpecificCharacterSet, str(rd.PatientName)) == ("ISO_IR 192", "Müller^Jürgen")


def test_rtdose_without_source_invents_nothing(dciodvfy: str, tmp_path: Path) -> None:
    bare = write_rtdose(_dose(), tmp_path / "bare.dcm")
    verify(dciodvfy, bare)
    ds = pydicom.dcmread(bare, stop_before_pixels=True)
    assert (str(ds.PatientName), ds.PatientID, ds.PatientBirthDate, ds.PatientSex) == (
        "",
        "",
        "",
        "",
    )
    given = write_rtdose(_dose(), tmp_path / "id.dcm", patient=PatientInfo(patient_id="P7"))
    ds = pydicom.dcmread(given, stop_before_pixels=True)
    assert (str(ds.PatientName), ds.PatientID) == ("", "P7")


def test_pipeline_rtdose_source_is_the_cycles_first_spect(tmp_path: Path) -> None:
    """The RTDOSE source: the first SPECT header of the cycle (file, or folder of slices).

    ``Study.first_spect_header`` reads only ``time_points``: a stand-in study serves."""
    nm = _nm(tmp_path)
    first = SimpleNamespace(cycle=1, spect_path=nm, series_uid="")
    later = SimpleNamespace(cycle=2, spect_path=tmp_path / "missing", series_uid="")
    study = SimpleNamespace(time_points=(first, later))
    header = Study.first_spect_header(study, 1)  # type: ignore[arg-type]
    assert header is not None and str(header.PatientName) == PATIENT.name
    assert "PixelData" not in header
    # a folder with another series, a non-DICOM file and the PET-slice SPECT series
    folder = tmp_path / "mixed"
    hu = Volume.from_array(np.zeros((3, 6, 7)), modality="CT", unit="HU", **GEOMETRY)
    write_ct_series(hu, folder, patient=PatientInfo(name="Other^Series"), study=STUDY,
                    acquisition_time=REF)  # fmt: skip
    (folder / "AAA_notes.txt").write_text("not DICOM")
    write_pet_series(_activity("PT"), folder, patient=PATIENT, study=STUDY,
                     radiopharmaceutical=LU, series_uid="1.2.826.0.1.3680043.8.498.99")  # fmt: skip
    slices = SimpleNamespace(cycle=1, spect_path=folder, series_uid="1.2.826.0.1.3680043.8.498.99")
    header = Study.first_spect_header(SimpleNamespace(time_points=(slices,)), 1)  # type: ignore[arg-type]
    assert header is not None and header.SeriesInstanceUID == slices.series_uid
    assert str(header.PatientName) == PATIENT.name


def test_phantom_study_objects(dciodvfy: str, tmp_path: Path) -> None:
    """The digital patient's PET, SPECT (NM), CT and truth RTSTRUCT as written on disk."""
    from sstrkit.phantom.study import StudyConfig, make_study

    make_study(tmp_path, StudyConfig(seed=3, voxel_mm=6.0, cycles=1, timepoints_h=(24.0,)))
    series = sorted({p.parent for p in (tmp_path / "dicom").rglob("*.dcm")})
    assert len(series) >= 5
    for folder in series:
        verify(dciodvfy, min(folder.glob("*.dcm")))
    verify(dciodvfy, tmp_path / "truth" / "rtstruct_baseline.dcm")
