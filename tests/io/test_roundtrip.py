"""Export round trips: write with sstrkit.io writers, read back (and with SimpleITK)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.io.dicom_read import read_series
from sstrkit.io.dicom_write import (
    PatientInfo,
    Radiopharmaceutical,
    StudyInfo,
    read_rtdose,
    write_ct_series,
    write_nm_series,
    write_pet_series,
    write_rtdose,
)
from sstrkit.io.nifti import read_nifti, sidecar_path, write_nifti
from sstrkit.io.suv import compute_suv

TZ = dt.timezone(dt.timedelta(hours=1))
REF = dt.datetime(2026, 3, 2, 11, 15, 30, tzinfo=TZ)
# rotated, oblique-free geometry: row (0,1,0), column (-1,0,0), normal (0,0,1)
DIRECTION = (0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0)


def _activity(shape: tuple[int, int, int] = (6, 8, 10)) -> Volume:
    arr = np.random.default_rng(7).uniform(0.0, 30000.0, shape).astype(np.float32)
    arr[2, 3, 4] = 0.0
    return Volume.from_array(
        arr,
        spacing=(2.5, 3.0, 4.0),
        origin=(-120.0, 35.5, -300.25),
        direction=DIRECTION,
        frame_of_reference_uid="1.2.826.0.1.3680043.8.498.1",
        modality="PT",
        quantity="activity_concentration",
        unit="Bq/mL",
        reference_time=REF,
    )


PATIENT = PatientInfo(name="Test^Phantom", patient_id="X1", sex="F", weight_kg=63.5, height_cm=168)
RP = Radiopharmaceutical(
    name="Ga-68 DOTATATE",
    nuclide="Ga-68",
    injected_activity_bq=150e6,
    injection_time=REF - dt.timedelta(minutes=62),
)


def _same_geometry(a: Volume, b: Volume) -> None:
    assert a.shape == b.shape
    np.testing.assert_allclose(a.spacing, b.spacing, atol=1e-6)
    np.testing.assert_allclose(a.origin, b.origin, atol=1e-5)
    np.testing.assert_allclose(a.direction, b.direction, atol=1e-7)


def test_pet_round_trip(tmp_path: Path) -> None:
    vol = _activity()
    files = write_pet_series(
        vol, tmp_path / "pt", patient=PATIENT, study=StudyInfo(), radiopharmaceutical=RP
    )
    assert len(files) == 6
    series = read_series(tmp_path / "pt")
    _same_geometry(series.volume, vol)
    assert series.volume.frame_of_reference_uid == vol.frame_of_reference_uid
    # per-slice int16 quantisation: error <= slope/2 = max|slice| / 65534
    step = np.abs(vol.array).reshape(6, -1).max(axis=1) / 32767.0
    err = np.abs(series.volume.array - vol.array).reshape(6, -1).max(axis=1)
    assert np.all(err <= step / 2 * 1.0001 + 1e-3)
    res = compute_suv(series)
    # SUV factor from the header must equal the one from the writer's inputs:
    # 63500 g / (150e6 Bq * 2^(-3720 s / T1/2(Ga-68)))
    t_half = RP.resolved_half_life_s()
    expected = 63500.0 / (150e6 * 2 ** (-62 * 60 / t_half))
    assert res.suv_factor == pytest.approx(expected, rel=1e-9)
    assert res.reference_time == REF and res.warnings == ()


def test_pet_files_readable_by_simpleitk(tmp_path: Path) -> None:
    vol = _activity()
    write_pet_series(vol, tmp_path, patient=PATIENT, study=StudyInfo(), radiopharmaceutical=RP)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(tmp_path)))
    img = reader.Execute()
    np.testing.assert_allclose(img.GetOrigin(), vol.origin, atol=1e-5)
    np.testing.assert_allclose(img.GetSpacing(), vol.spacing, atol=1e-6)
    np.testing.assert_allclose(img.GetDirection(), vol.direction, atol=1e-7)
    step = float(np.abs(vol.array).max()) / 32767.0
    np.testing.assert_allclose(sitk.GetArrayFromImage(img), vol.array, atol=step)
    ds = pydicom.dcmread(sorted(tmp_path.glob("*.dcm"))[0])
    item = ds.RadiopharmaceuticalInformationSequence[0]
    assert (ds.Units, ds.DecayCorrection, float(item.RadionuclideTotalDose)) == (
        "BQML",
        "START",
        150e6,
    )
    assert item.RadionuclideCodeSequence[0].CodeMeaning == "^68^Gallium"


def test_left_handed_volume_is_written_as_same_image(tmp_path: Path) -> None:
    vol = _activity()
    flipped = Volume.from_array(
        vol.array[::-1],
        spacing=vol.spacing,
        origin=tuple(np.asarray(vol.origin) + np.array([0, 0, 4.0 * 5])),
        direction=(0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
        unit="Bq/mL",
        reference_time=REF,
    )
    write_pet_series(flipped, tmp_path, patient=PATIENT, study=StudyInfo(), radiopharmaceutical=RP)
    back = read_series(tmp_path).volume
    _same_geometry(back, vol)  # the right-handed twin of the same physical image
    np.testing.assert_allclose(back.array, vol.array, atol=float(vol.array.max()) / 32767.0)


def test_nm_multiframe_round_trip(tmp_path: Path) -> None:
    vol = _activity()
    lu = Radiopharmaceutical("Lu-177 DOTATATE", "Lu-177", 7.4e9, REF - dt.timedelta(hours=24))
    path = write_nm_series(
        vol,
        tmp_path / "nm" / "spect.dcm",
        patient=PATIENT,
        study=StudyInfo(),
        radiopharmaceutical=lu,
        acquisition_duration_s=1800.0,
    )
    series = read_series(path.parent)
    assert series.modality == "NM" and series.units == "BQML"
    _same_geometry(series.volume, vol)
    step = float(vol.array.max()) / 65535.0
    np.testing.assert_allclose(series.volume.array, vol.array, atol=step / 2 * 1.001)
    res = compute_suv(series)
    expected = 63500.0 / (7.4e9 * 2 ** (-86400.0 / lu.resolved_half_life_s()))
    assert res.suv_factor == pytest.approx(expected, rel=1e-9)


def test_nm_counts_with_sensitivity(tmp_path: Path) -> None:
    # Write a counts SPECT by hand: 1200 counts per 0.03 mL voxel (2.5 x 3 x 4 mm),
    # 1000 s acquisition, sensitivity 10 cps/MBq:
    # 1200 / 1000 s = 1.2 cps; / 10 cps/MBq = 0.12 MBq = 1.2e5 Bq; / 0.03 mL = 4e6 Bq/mL.
    # Not decay corrected (NM): mean over 1000 s -> start x/(1 - e^-x), x = ln2 * 1000 / T1/2.
    vol = _activity()
    path = write_nm_series(
        vol,
        tmp_path / "nm.dcm",
        patient=PATIENT,
        study=StudyInfo(),
        radiopharmaceutical=RP,
        acquisition_duration_s=1000.0,
    )
    ds = pydicom.dcmread(path)
    del ds.RealWorldValueMappingSequence
    del ds.DecayCorrection
    ds.RescaleSlope = "1"
    ds.PixelData = np.full((6, 8, 10), 1200, "<u2").tobytes()
    ds.save_as(path)
    series = read_series(path)
    assert series.units == "CNTS"
    from sstrkit.errors import DicomMetadataError
    from sstrkit.io.suv import Overrides

    with pytest.raises(DicomMetadataError, match="--sensitivity-cps-per-mbq"):
        compute_suv(series)
    res = compute_suv(series, overrides=Overrides(sensitivity_cps_per_mbq=10.0))
    x = math.log(2) * 1000.0 / RP.resolved_half_life_s()
    assert res.activity is not None
    np.testing.assert_allclose(res.activity.array, 4e6 * x / (1 - math.exp(-x)), rtol=1e-6)
    assert any("DecayCorrection" in w for w in res.warnings)


def test_ct_round_trip(tmp_path: Path) -> None:
    hu = np.random.default_rng(1).integers(-1000, 2000, (5, 6, 7)).astype(np.float32)
    vol = Volume.from_array(hu, spacing=(0.9, 0.9, 2.0), origin=(1, 2, 3), unit="HU", modality="CT")
    write_ct_series(vol, tmp_path, patient=PATIENT, study=StudyInfo(), acquisition_time=REF)
    back = read_series(tmp_path)
    _same_geometry(back.volume, vol)
    np.testing.assert_array_equal(back.volume.array, hu)
    assert back.volume.unit == "HU"


def test_rtdose_round_trip(tmp_path: Path) -> None:
    dose = np.random.default_rng(2).uniform(0, 40, (4, 5, 6))
    vol = Volume.from_array(dose, spacing=(4.0, 4.0, 5.0), origin=(-10, -20, -30), unit="Gy")
    path = write_rtdose(vol, tmp_path / "dose.dcm", patient=PATIENT, study=StudyInfo())
    back = read_rtdose(path)
    _same_geometry(back, vol)
    # 16-bit pixels (dciodvfy and many RT tools accept no 32-bit dose), DoseGridScaling =
    # max/65535: quantisation <= half a step = max/131070
    step = float(dose.max()) / 65535.0
    np.testing.assert_allclose(back.array, dose, rtol=0, atol=step / 2 * 1.001)
    ds = pydicom.dcmread(path)
    assert (ds.DoseUnits, ds.BitsAllocated, len(ds.GridFrameOffsetVector)) == ("GY", 16, 4)
    with pytest.raises(InvalidInputError, match="Gy"):
        write_rtdose(
            vol.with_metadata(unit="Bq"), tmp_path / "x.dcm", patient=PATIENT, study=StudyInfo()
        )


def test_nifti_sidecar_round_trip(tmp_path: Path) -> None:
    vol = _activity()
    path = write_nifti(vol, tmp_path / "pet.nii.gz", extra={"SUVFactor": 1.5e-4})
    side = json.loads(sidecar_path(path).read_text())
    assert side["Units"] == "Bq/mL" and side["ReferenceTime"] == REF.isoformat()
    assert side["SUVFactor"] == 1.5e-4
    back = read_nifti(path)
    _same_geometry(back, vol)
    np.testing.assert_array_equal(back.array, vol.array)
    assert back.reference_time == REF and back.unit == "Bq/mL"
    assert back.frame_of_reference_uid == vol.frame_of_reference_uid
