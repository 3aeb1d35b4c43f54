"""Derived series (SUV as PET, dose/TIA/labels/parametric maps as derived CT) and the
template-based series writer."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.io.dicom_derived import write_derived_series, write_suv_series
from sstrkit.io.dicom_read import read_series
from sstrkit.io.dicom_write import (
    PatientInfo,
    Radiopharmaceutical,
    StudyInfo,
    _radiopharm,
    ct_template,
    pet_template,
    write_ct_series,
    write_pet_series,
)
from sstrkit.io.suv import compute_suv

TZ = dt.timezone(dt.timedelta(hours=1))
REF = dt.datetime(2026, 3, 2, 11, 15, 30, tzinfo=TZ)
DIRECTION = (0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0)  # rotated in-plane
FOR = "1.2.826.0.1.3680043.8.498.77"
PATIENT = PatientInfo(name="Test^Derived", patient_id="D1", sex="F", weight_kg=63.5, height_cm=168)
STUDY = StudyInfo(study_uid="1.2.826.0.1.3680043.8.498.78", study_time=REF)
RP = Radiopharmaceutical("Ga-68 DOTATATE", "Ga-68", 150e6, REF - dt.timedelta(minutes=62))


def _vol(arr: np.ndarray, **meta: object) -> Volume:
    kw: dict = {
        "spacing": (2.5, 3.0, 4.0),
        "origin": (-120.0, 35.5, -300.25),
        "direction": DIRECTION,
        "frame_of_reference_uid": FOR,
    }
    kw.update(meta)
    return Volume.from_array(arr, **kw)


def _activity() -> Volume:
    arr = np.random.default_rng(7).uniform(0.0, 30000.0, (6, 8, 10)).astype(np.float32)
    return _vol(arr, modality="PT", quantity="activity_concentration", unit="Bq/mL",
                reference_time=REF)  # fmt: skip


def _same_geometry(a: Volume, b: Volume) -> None:
    assert a.shape == b.shape
    np.testing.assert_allclose(a.spacing, b.spacing, atol=1e-6)
    np.testing.assert_allclose(a.origin, b.origin, atol=1e-5)
    np.testing.assert_allclose(a.direction, b.direction, atol=1e-7)


def _sitk(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


# ------------------------------------------------------------ series writer = save_as
def _save_as_bytes(template: pydicom.Dataset, written: Path, per_slice: tuple[str, ...]) -> bytes:
    """What pydicom's save_as writes for ``template`` + the written file's per-slice values."""
    ds = pydicom.dcmread(written)
    template.SOPInstanceUID = ds.SOPInstanceUID
    template.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for keyword in ("InstanceNumber", "ImagePositionPatient", *per_slice):
        setattr(template, keyword, ds.data_element(keyword).value)
    template.PixelData = ds.PixelData
    buf = io.BytesIO()
    template.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_ct_files_are_byte_identical_to_pydicom_save_as(tmp_path: Path) -> None:
    hu = _vol(np.random.default_rng(1).normal(0, 300, (4, 5, 6)), unit="HU", modality="CT")
    files = write_ct_series(hu, tmp_path, patient=PATIENT, study=STUDY, acquisition_time=REF,
                            series_uid="1.2.3.4")  # fmt: skip
    for f in files:
        tpl = ct_template(
            hu,
            patient=PATIENT,
            study=STUDY,
            acquisition_time=REF,
            series_uid="1.2.3.4",
            series_number=2,
            series_description="CT",
        )
        tpl.RescaleSlope, tpl.RescaleIntercept, tpl.RescaleType = "1", "0", "HU"
        assert f.read_bytes() == _save_as_bytes(tpl, f, ())
    assert len({pydicom.dcmread(f).SOPInstanceUID for f in files}) == len(files)


def test_pet_files_are_byte_identical_to_pydicom_save_as(tmp_path: Path) -> None:
    vol = _activity()
    files = write_pet_series(vol, tmp_path, patient=PATIENT, study=STUDY, radiopharmaceutical=RP,
                             series_uid="1.2.3.5", frame_duration_s=180.0)  # fmt: skip
    for f in files:
        tpl = pet_template(
            vol, patient=PATIENT, study=STUDY, reference_time=REF, series_uid="1.2.3.5",
            series_number=1, series_description="PET Bq/mL", units="BQML",
            decay_correction="START", image_type=("ORIGINAL", "PRIMARY"),
            corrected_image=("DECY", "ATTN", "SCAT", "DTIM", "RAN", "NORM"),
        )  # fmt: skip
        tpl.RandomsCorrectionMethod = "DLYD"
        tpl.AttenuationCorrectionMethod = "CT"
        tpl.ReconstructionMethod = "unknown"
        tpl.ActualFrameDuration = "180000"
        _radiopharm(tpl, RP)
        assert f.read_bytes() == _save_as_bytes(
            tpl, f, ("SliceLocation", "ImageIndex", "RescaleSlope")
        )


# ------------------------------------------------------------ SUV series
# normalisation -> (Units, SUVType): DICOM CID 85 / PS3.3 C.8.9.1.1.3 as read by sstrkit.io.suv
SUV_CASES = {
    "bw": ("GML", "BW"),
    "lbm": ("GML", "LBMJANMA"),
    "lbm-james": ("GML", "LBMJAMES128"),
    "lbm-james120": ("GML", "LBM"),
    "ibw": ("GML", "IBW"),
    "bsa": ("CM2ML", "BSA"),
}


@pytest.fixture()
def pet_source(tmp_path: Path):
    write_pet_series(_activity(), tmp_path / "pt", patient=PATIENT, study=STUDY,
                     radiopharmaceutical=RP)  # fmt: skip
    return read_series(tmp_path / "pt")


@pytest.mark.parametrize("norm", list(SUV_CASES))
def test_suv_series_round_trip(norm: str, pet_source, tmp_path: Path) -> None:
    suv = compute_suv(pet_source, norm).suv
    assert suv is not None
    files = write_suv_series(suv, tmp_path / "suv", source=pet_source)
    ds = pydicom.dcmread(files[0])
    assert (ds.Units, ds.SUVType) == SUV_CASES[norm]
    # PET Image IOD: value 2 of ImageType is always PRIMARY (PS3.3 C.8.9.4.1.1)
    assert list(ds.ImageType) == ["DERIVED", "PRIMARY"] and ds.DecayCorrection == "START"
    assert {"ATTN", "DECY"} <= set(ds.CorrectedImage)
    assert ds.FrameOfReferenceUID == FOR == pet_source.volume.frame_of_reference_uid
    assert ds.StudyInstanceUID == STUDY.study_uid and ds.PatientID == "D1"
    assert float(ds.RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose) == 150e6
    back = read_series(tmp_path / "suv")
    _same_geometry(back.volume, suv)
    res = compute_suv(back, norm)
    assert res.suv is not None and res.suv.quantity == f"suv_{norm}"
    # per-slice int16: error <= half a step = max|slice| / 65534
    half = np.abs(suv.array).reshape(6, -1).max(axis=1) / 65534.0
    err = np.abs(res.suv.array - suv.array).reshape(6, -1).max(axis=1)
    assert np.all(err <= half * 1.0001)


def test_suv_bw_series_values_against_hand_calculation(pet_source, tmp_path: Path) -> None:
    # SUVbw = C x 63500 g / (150e6 Bq x 2^(-62 min / T1/2(Ga-68))) (QIBA SUV, decay to scan)
    suv = compute_suv(pet_source, "bw").suv
    assert suv is not None
    write_suv_series(suv, tmp_path / "suv", source=pet_source)
    factor = 63500.0 / (150e6 * 2 ** (-62 * 60 / RP.resolved_half_life_s()))
    truth = _activity().array * factor
    back = compute_suv(read_series(tmp_path / "suv"), "bw").suv
    assert back is not None
    # two quantisations (Bq/mL PET, then SUV) of half a step each
    step = np.abs(truth).reshape(6, -1).max(axis=1)[:, None, None] / 32767.0
    assert np.all(np.abs(back.array - truth) <= step * 1.0001)
    # another normalisation from the copied patient data: LBM/BW = ratio of body measures
    lbm = compute_suv(read_series(tmp_path / "suv"), "lbm").suv
    ref = compute_suv(pet_source, "lbm").suv
    assert lbm is not None and ref is not None
    np.testing.assert_allclose(lbm.array, ref.array, atol=float(ref.array.max()) / 32767.0)


def test_suv_series_read_by_simpleitk(pet_source, tmp_path: Path) -> None:
    suv = compute_suv(pet_source, "bw").suv
    assert suv is not None
    write_suv_series(suv, tmp_path, source=pet_source)
    img = _sitk(tmp_path)
    np.testing.assert_allclose(img.GetOrigin(), suv.origin, atol=1e-5)
    np.testing.assert_allclose(img.GetSpacing(), suv.spacing, atol=1e-6)
    np.testing.assert_allclose(img.GetDirection(), suv.direction, atol=1e-7)
    half = float(np.abs(suv.array).max()) / 65534.0
    np.testing.assert_allclose(sitk.GetArrayFromImage(img), suv.array, atol=half * 1.001)


def test_suv_series_without_source(tmp_path: Path) -> None:
    suv = _vol(np.full((2, 3, 4), 2.5), quantity="SUV", unit="g/mL", reference_time=REF)
    write_suv_series(suv, tmp_path, patient=PATIENT, study=STUDY, radiopharmaceutical=RP)
    ds = pydicom.dcmread(sorted(tmp_path.glob("*.dcm"))[0])
    assert (ds.Units, ds.SUVType, list(ds.CorrectedImage)) == ("GML", "BW", ["ATTN", "DECY"])
    res = compute_suv(read_series(tmp_path), "bw")
    assert res.suv is not None
    np.testing.assert_allclose(res.suv.array, 2.5, rtol=1e-6)


def test_suv_series_bad_input(pet_source, tmp_path: Path) -> None:
    ok = _vol(np.ones((2, 3, 4)), quantity="suv_bw", unit="g/mL", reference_time=REF)
    with pytest.raises(InvalidInputError, match="quantity"):
        write_suv_series(ok.with_metadata(quantity="absorbed_dose"), tmp_path)
    with pytest.raises(InvalidInputError, match="cm2/mL"):
        write_suv_series(ok.with_metadata(quantity="suv_bsa"), tmp_path)
    with pytest.raises(InvalidInputError, match="reference_time"):
        write_suv_series(ok.with_metadata(reference_time=None), tmp_path)
    with pytest.raises(GeometryMismatchError):
        write_suv_series(ok.with_metadata(frame_of_reference_uid="1.2.3"), tmp_path,
                         source=pet_source)  # fmt: skip
    nan = ok.with_array(np.full((2, 3, 4), np.nan), operation="nan")
    with pytest.raises(InvalidInputError, match="finite"):
        write_suv_series(nan, tmp_path)
    assert not list(tmp_path.glob("*.dcm"))


# ------------------------------------------------------------ generic derived series
def test_dose_map_round_trip_and_simpleitk(pet_source, tmp_path: Path) -> None:
    dose = np.random.default_rng(3).uniform(0.0, 42.0, (6, 8, 10))
    vol = _vol(dose, quantity="absorbed_dose", unit="Gy", modality="RTDOSE")
    files = write_derived_series(vol, tmp_path / "dose", source=pet_source)
    ds = pydicom.dcmread(files[0])
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "AXIAL"] and ds.Modality == "CT"
    assert ds.PixelRepresentation == 0 and ds.RescaleType == "US"
    rw = ds.RealWorldValueMappingSequence[0]
    unit = rw.MeasurementUnitsCodeSequence[0]
    assert (unit.CodeValue, unit.CodingSchemeDesignator, rw.LUTExplanation) == (
        "Gy",
        "UCUM",
        "absorbed_dose",
    )
    assert ds.PatientID == "D1" and ds.FrameOfReferenceUID == FOR
    back = read_series(tmp_path / "dose")
    assert back.units == "DERIVED"
    assert (back.volume.quantity, back.volume.unit) == ("absorbed_dose", "Gy")
    _same_geometry(back.volume, vol)
    # unsigned 16-bit, one slope max/65535: error <= half a step
    half = dose.max() / 65535.0 / 2
    np.testing.assert_allclose(back.volume.array, dose, atol=half * 1.001 + 1e-6)
    img = _sitk(tmp_path / "dose")
    np.testing.assert_allclose(img.GetOrigin(), vol.origin, atol=1e-5)
    np.testing.assert_allclose(img.GetSpacing(), vol.spacing, atol=1e-6)
    np.testing.assert_allclose(img.GetDirection(), vol.direction, atol=1e-7)
    np.testing.assert_allclose(sitk.GetArrayFromImage(img), dose, atol=half * 1.001 + 1e-6)


@pytest.mark.parametrize(
    ("values", "unit", "quantity", "ucum"),
    [
        (np.arange(240).reshape(6, 4, 10) % 17, "1", "label", "1"),  # labels, exact
        (np.arange(240).reshape(6, 4, 10) * 200.0 - 2e4, "1", "label", "1"),  # signed, exact
        (np.linspace(-2.0, 5.0, 240).reshape(6, 4, 10), "1/s", "rate", "/s"),  # signed float
        (np.linspace(0.0, 8e10, 240).reshape(6, 4, 10), "Bq*s", "time_integrated_activity",
         "Bq.s"),
        (np.linspace(0.0, 3.0, 240).reshape(6, 4, 10), "%ID/mL", "pid", "%ID/mL"),  # private
    ],
)  # fmt: skip
def test_derived_round_trip(values, unit, quantity, ucum, tmp_path: Path) -> None:
    vol = _vol(values.astype(np.float64), quantity=quantity, unit=unit)
    files = write_derived_series(vol, tmp_path, patient=PATIENT, study=STUDY)
    ds = pydicom.dcmread(files[0])
    assert ds.RealWorldValueMappingSequence[0].MeasurementUnitsCodeSequence[0].CodeValue == ucum
    back = read_series(tmp_path).volume
    assert (back.quantity, back.unit) == (quantity, unit)
    _same_geometry(back, vol)
    integral = np.all(values == np.rint(values))
    slope = (
        1.0
        if integral
        else float(np.abs(values).max()) / (65535.0 if values.min() >= 0 else 32767.0)
    )
    if integral:
        np.testing.assert_array_equal(back.array, values)
    else:
        np.testing.assert_allclose(back.array, values, atol=slope / 2 * 1.001, rtol=1e-6)
    np.testing.assert_allclose(
        sitk.GetArrayFromImage(_sitk(tmp_path)), values, atol=slope / 2 * 1.001, rtol=1e-6
    )


def test_derived_bad_input(tmp_path: Path) -> None:
    hu = _vol(np.zeros((2, 3, 4)), unit="HU", quantity="ct_number")
    with pytest.raises(InvalidInputError, match="HU"):
        write_derived_series(hu, tmp_path)
    long_unit = _vol(np.zeros((2, 3, 4)), unit="x" * 20)
    with pytest.raises(InvalidInputError, match="unit"):
        write_derived_series(long_unit, tmp_path)
    nan = _vol(np.full((2, 3, 4), np.inf), unit="Gy")
    with pytest.raises(InvalidInputError, match="finite"):
        write_derived_series(nan, tmp_path)
    assert not list(tmp_path.glob("*.dcm"))
