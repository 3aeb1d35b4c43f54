"""Planar whole-body scintigraphy import (sstrkit.io.planar).

Reference values are set by the test itself: the views written are read back pixel for
pixel (counts are integers, so equality is exact); the geometric mean is the
conjugate-view √(A·P) of the written counts, computed by hand; times and activities are
the ones written. Every refusal is checked on the error's named attribute and its fix.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pydicom
import pytest

from sstrkit.errors import DicomMetadataError, InvalidInputError
from sstrkit.io.dicom_modules import PatientInfo, Radiopharmaceutical, StudyInfo
from sstrkit.io.dicom_read import read_series
from sstrkit.io.dicom_write import write_nm_series
from sstrkit.io.planar import PlanarWholeBody, read_planar_wholebody, view_of_code
from sstrkit.io.planar_write import write_planar_wholebody

TZ = dt.timezone(dt.timedelta(hours=1))
INJ = dt.datetime(2026, 1, 5, 9, 0, tzinfo=TZ)
WINDOWS_IN111 = ((154.2, 188.4), (220.9, 269.9))  # ±10 % around 171.3 and 245.4 keV


def _study(**kw: object) -> PlanarWholeBody:
    """A 64 × 32 two-view study: anterior point at (10, 5), its posterior partner mirrored."""
    ant = np.full((64, 32), 3.0, np.float32)
    post = np.full((64, 32), 5.0, np.float32)
    ant[10, 5] = 400.0
    post[10, 32 - 1 - 5] = 100.0  # camera view from behind: column mirrored
    base: dict[str, object] = {
        "anterior": ant,
        "posterior": post,
        "pixel_spacing_mm": (2.4, 2.4),
        "frame_duration_s": 1200.0,
        "scan_speed_mm_per_s": 100.0 / 60.0,
        "scan_length_mm": 2000.0,
        "radionuclide": "In-111",
        "tracer": "111In-pentetreotide",
        "injected_activity_bq": 185e6,
        "injection_time": INJ,
        "acquisition_time": INJ + dt.timedelta(hours=24),
        "energy_windows_kev": WINDOWS_IN111,
        "series_description": "WB 111In-pentetreotide 24h",
        "patient_weight_kg": 70.0,
        "patient_sex": "F",
    }
    base.update(kw)
    return PlanarWholeBody(**base)  # type: ignore[arg-type]


def _write(tmp_path: Path, study: PlanarWholeBody | None = None, **kw: object) -> Path:
    folder = tmp_path / "wb"
    folder.mkdir(exist_ok=True)
    write_planar_wholebody(study or _study(), folder / "wb.dcm", **kw)  # type: ignore[arg-type]
    return folder


def _edit(folder: Path, edit: object) -> None:
    f = folder / "wb.dcm"
    ds = pydicom.dcmread(f)
    edit(ds)  # type: ignore[operator]
    ds.save_as(f)


def test_round_trip_units_times_and_tracer(tmp_path: Path) -> None:
    """Everything written comes back in sstrkit units (counts, mm, s, Bq, aware times)."""
    st = _study()
    r = read_planar_wholebody(_write(tmp_path, st))
    assert np.array_equal(r.anterior, st.anterior) and np.array_equal(r.posterior, st.posterior)
    assert r.pixel_spacing_mm == (2.4, 2.4)
    assert r.frame_duration_s == 1200.0  # ActualFrameDuration 1 200 000 ms
    # ScanVelocity is written in mm/s (NM Image Module), 6 significant digits
    assert r.scan_speed_mm_per_s == pytest.approx(100.0 / 60.0, rel=1e-5)
    assert r.scan_length_mm == 2000.0
    assert (r.radionuclide, r.tracer, r.injected_activity_bq) == ("In-111", st.tracer, 185e6)
    assert r.injection_time == INJ and r.acquisition_time == INJ + dt.timedelta(hours=24)
    assert r.hours_post_injection == pytest.approx(24.0, abs=1e-9)
    assert r.energy_windows_kev == WINDOWS_IN111
    assert r.view_labels == ("ANTERIOR", "POSTERIOR") and r.patient_sex == "F"
    assert r.warnings == ()
    assert r.history[0].operation == "read_planar_wholebody"
    assert r.acquisition_duration_s == 1200.0
    cps = r.counts_per_second(r.anterior)
    assert cps[10, 5] == pytest.approx(400.0 / 1200.0, rel=1e-12)
    doc = r.to_dict()
    assert doc["counts"]["anterior_total"] == pytest.approx(float(st.anterior.sum()), rel=1e-9)


def test_geometric_mean_unmirrors_the_posterior(tmp_path: Path) -> None:
    """GM of the point: √(400 × 100) = 200 at the anterior pixel; elsewhere √(3 × 5)."""
    r = read_planar_wholebody(_write(tmp_path))
    gm = r.geometric_mean()
    assert gm[10, 5] == pytest.approx(200.0, rel=1e-6)
    assert gm[0, 0] == pytest.approx(math.sqrt(15.0), rel=1e-6)
    # a geometric mean without the un-mirroring would pair the point with background
    assert r.posterior_aligned()[10, 5] == 100.0
    assert not r.geometric_mean().flags.writeable


def test_posterior_stored_unmirrored_is_flipped_to_the_camera_view(tmp_path: Path) -> None:
    """A vendor storing the posterior with row direction +x: the reader mirrors it once."""
    folder = _write(tmp_path)

    def unmirror(ds: pydicom.Dataset) -> None:
        frames = ds.pixel_array.copy()
        frames[1] = frames[1][:, ::-1]
        ds.PixelData = frames.astype("<u2").tobytes()
        ds.DetectorInformationSequence[1].ImageOrientationPatient = [1, 0, 0, 0, 0, -1]

    _edit(folder, unmirror)
    r = read_planar_wholebody(folder)
    assert r.posterior[10, 26] == 100.0 and r.geometric_mean()[10, 5] == pytest.approx(200.0)
    assert any(s.operation == "orient_planar_view" for s in r.history)


def test_view_codes_sct_and_detector_order(tmp_path: Path) -> None:
    """SNOMED CT view codes (CID 26) and DetectorVector [2, 1] (frame 1 = posterior)."""
    folder = _write(tmp_path)

    def swap(ds: pydicom.Dataset) -> None:
        frames = ds.pixel_array.copy()[::-1]
        ds.PixelData = frames.astype("<u2").tobytes()
        ds.DetectorVector = [2, 1]
        for item, code in zip(
            ds.DetectorInformationSequence, ("399321004", "399001007"), strict=True
        ):
            item.ViewCodeSequence[0].CodeValue = code
            item.ViewCodeSequence[0].CodingSchemeDesignator = "SCT"

    _edit(folder, swap)
    r = read_planar_wholebody(folder)
    assert r.anterior[10, 5] == 400.0 and r.posterior[10, 26] == 100.0
    assert view_of_code("", "Left anterior oblique") is None


def test_missing_view_codes_fall_back_to_detector_vector_with_a_warning(tmp_path: Path) -> None:
    r = read_planar_wholebody(_write(tmp_path, view_codes=False))
    assert r.anterior[10, 5] == 400.0
    assert any("DetectorVector order" in w for w in r.warnings)


def test_missing_view_codes_and_detector_vector_is_refused(tmp_path: Path) -> None:
    folder = _write(tmp_path, view_codes=False)
    _edit(folder, lambda ds: delattr(ds, "DetectorVector"))
    with pytest.raises(DicomMetadataError) as exc:
        read_planar_wholebody(folder)
    assert "ViewCodeSequence" in exc.value.what and "detector" in exc.value.fix


def test_two_anterior_views_are_refused(tmp_path: Path) -> None:
    folder = _write(tmp_path)

    def both_anterior(ds: pydicom.Dataset) -> None:
        ds.DetectorInformationSequence[1].ViewCodeSequence[0].CodeValue = "F-10440"
        ds.DetectorInformationSequence[1].ViewCodeSequence[0].CodeMeaning = "ANTERIOR"

    _edit(folder, both_anterior)
    with pytest.raises(DicomMetadataError, match="one ANTERIOR and one POSTERIOR"):
        read_planar_wholebody(folder)


def test_single_view_series_is_refused(tmp_path: Path) -> None:
    folder = _write(tmp_path)

    def one_frame(ds: pydicom.Dataset) -> None:
        first = ds.pixel_array[0].astype("<u2").tobytes()
        ds.NumberOfFrames = 1
        ds.PixelData = first

    _edit(folder, one_frame)
    with pytest.raises(DicomMetadataError) as exc:
        read_planar_wholebody(folder)
    assert exc.value.actual == 1 and "both views" in exc.value.fix


def test_missing_timing_is_refused(tmp_path: Path) -> None:
    folder = _write(tmp_path)

    def no_timing(ds: pydicom.Dataset) -> None:
        del ds.ActualFrameDuration
        del ds.ScanVelocity

    _edit(folder, no_timing)
    with pytest.raises(DicomMetadataError) as exc:
        read_planar_wholebody(folder)
    assert "ScanVelocity" in exc.value.what and "timing" in exc.value.fix
    _edit(folder, lambda ds: setattr(ds, "ScanVelocity", "15"))  # 15 cm/min written as mm/s
    r = read_planar_wholebody(folder)
    assert r.acquisition_duration_s == pytest.approx(2000.0 / 15.0)  # ScanLength / ScanVelocity
    assert any("cm/min instead of mm/s" in w for w in r.warnings)


def test_missing_administration_and_overrides(tmp_path: Path) -> None:
    folder = _write(tmp_path)

    def no_admin(ds: pydicom.Dataset) -> None:
        item = ds.RadiopharmaceuticalInformationSequence[0]
        del item.RadiopharmaceuticalStartDateTime
        del item.RadionuclideTotalDose

    _edit(folder, no_admin)
    with pytest.raises(DicomMetadataError, match="RadionuclideTotalDose"):
        read_planar_wholebody(folder)
    with pytest.raises(DicomMetadataError, match="RadiopharmaceuticalStartDateTime"):
        read_planar_wholebody(folder, injected_activity_bq=150e6)
    r = read_planar_wholebody(folder, injected_activity_bq=150e6, injection_time=INJ)
    assert r.injected_activity_bq == 150e6 and r.injection_time == INJ
    with pytest.raises(InvalidInputError, match="tz-aware"):
        read_planar_wholebody(
            folder, injected_activity_bq=150e6, injection_time=INJ.replace(tzinfo=None)
        )


def test_technetium_code_meaning_dose_in_mbq_and_window_check(tmp_path: Path) -> None:
    """'Technetium^99m' names Tc-99m; a dose of 740 (MBq) is read as 740 MBq; a 111In
    window at 99mTc is warned about (no 140.5 keV line in it)."""
    st = _study(
        radionuclide="Tc-99m",
        tracer="99mTc-HYNIC-TOC",
        injected_activity_bq=740e6,
        energy_windows_kev=((126.45, 154.55), (220.9, 269.9)),
    )
    folder = _write(tmp_path, st)

    def edit(ds: pydicom.Dataset) -> None:
        item = ds.RadiopharmaceuticalInformationSequence[0]
        item.RadionuclideCodeSequence[0].CodeMeaning = "Technetium^99m"
        item.RadionuclideCodeSequence[0].CodeValue = "99999"
        item.RadionuclideTotalDose = "740"
        del item.RadionuclideHalfLife

    _edit(folder, edit)
    r = read_planar_wholebody(folder)
    assert r.radionuclide == "Tc-99m" and r.injected_activity_bq == pytest.approx(740e6)
    assert [w for w in r.warnings if "220.9-269.9 keV holds no Tc-99m" in w]
    assert not [w for w in r.warnings if "126.45" in w]


def test_reconstructed_spect_and_planar_point_to_each_other(tmp_path: Path) -> None:
    """The volume reader refuses planar data naming the planar reader, and vice versa."""
    folder = _write(tmp_path)
    with pytest.raises(DicomMetadataError) as exc:
        read_series(folder)
    assert "read_planar_wholebody" in exc.value.fix
    from sstrkit.core.volume import Volume

    vol = Volume.from_array(
        np.ones((4, 6, 6), np.float32),
        spacing=(4.0, 4.0, 4.0),
        modality="NM",
        quantity="activity_concentration",
        unit="Bq/mL",
        reference_time=INJ + dt.timedelta(hours=24),
    )
    spect = tmp_path / "spect"
    spect.mkdir()
    write_nm_series(
        vol,
        spect / "s.dcm",
        patient=PatientInfo(),
        study=StudyInfo(),
        radiopharmaceutical=Radiopharmaceutical("x", "In-111", 185e6, INJ),
    )
    with pytest.raises(DicomMetadataError) as exc2:
        read_planar_wholebody(spect)
    assert "read_series" in exc2.value.fix
    with pytest.raises(DicomMetadataError) as exc3:
        read_planar_wholebody(spect / "s.dcm")
    assert "RECON TOMO" in str(exc3.value.actual) and "read_series" in exc3.value.fix


def test_several_whole_body_series_need_a_uid(tmp_path: Path) -> None:
    folder = tmp_path / "wb"
    folder.mkdir()
    a = _study(series_uid="1.2.826.0.1.1", acquisition_time=INJ + dt.timedelta(hours=4))
    b = _study(series_uid="1.2.826.0.1.2")
    write_planar_wholebody(a, folder / "a.dcm")
    write_planar_wholebody(b, folder / "b.dcm")
    with pytest.raises(DicomMetadataError, match="mixed series"):
        read_planar_wholebody(folder)
    r = read_planar_wholebody(folder, series_uid="1.2.826.0.1.1")
    assert r.hours_post_injection == pytest.approx(4.0)


def test_invalid_study_values_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="finite counts"):
        _study(anterior=np.full((64, 32), -1.0, np.float32))
    with pytest.raises(InvalidInputError, match="one shape"):
        _study(posterior=np.zeros((10, 10), np.float32))
    with pytest.raises(InvalidInputError, match="tz-aware"):
        _study(injection_time=INJ.replace(tzinfo=None))
