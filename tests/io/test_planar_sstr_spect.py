"""Diagnostic SSTR SPECT (111In, 99mTc) through the existing NM/PET-slice readers.

Reference values are computed by hand from what the test writes: SUVbw = C × W / (A₀ ×
2^(−Δt/T½)) with the ICRP 107 half-lives (In-111 2.8047 d, Tc-99m 6.015 h, read from
sstrkit.physics.nuclides, itself tested against ICRP 107), and for counts Bq/mL =
counts / (duration × sensitivity × voxel mL) × 1e6 (the NM counts route of sstrkit.io.suv).
Tolerances: 16-bit storage with one RescaleSlope (max/65535 quantisation: ≤ 1e-4 relative
at the values used) → rel 1e-4.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pydicom
import pytest

from sstrkit.core.volume import Volume
from sstrkit.io.dicom_modules import PatientInfo, Radiopharmaceutical, StudyInfo
from sstrkit.io.dicom_read import read_series
from sstrkit.io.dicom_write import write_nm_series, write_pet_series
from sstrkit.io.suv import Overrides, compute_suv
from sstrkit.io.suv_nuclide import nuclide_from_code_meaning
from sstrkit.physics.nuclides import get_nuclide

TZ = dt.timezone(dt.timedelta(hours=1))
INJ = dt.datetime(2026, 1, 5, 9, 0, tzinfo=TZ)
CASES = [("In-111", "111In-pentetreotide", 200e6, 24.0), ("Tc-99m", "99mTc-HYNIC-TOC", 740e6, 4.0)]


def _volume(hours: float, value: float = 1000.0) -> Volume:
    arr = np.full((6, 8, 8), value, np.float32)
    arr[3, 4, 4] = 2.0 * value
    return Volume.from_array(
        arr,
        spacing=(4.8, 4.8, 4.8),
        modality="NM",
        quantity="activity_concentration",
        unit="Bq/mL",
        reference_time=INJ + dt.timedelta(hours=hours),
        frame_of_reference_uid="1.2.826.0.1.9",
    )


def _expected_suv(nuclide: str, activity: float, hours: float, conc: float, kg: float) -> float:
    half_life = get_nuclide(nuclide).half_life_s
    decayed = activity * 2.0 ** (-hours * 3600.0 / half_life)
    return conc * kg * 1000.0 / decayed


@pytest.mark.parametrize(("nuclide", "tracer", "activity", "hours"), CASES)
def test_bqml_spect_suv_decays_with_the_tracer_nuclide(
    tmp_path: Path, nuclide: str, tracer: str, activity: float, hours: float
) -> None:
    rp = Radiopharmaceutical(tracer, nuclide, activity, INJ)
    write_nm_series(
        _volume(hours),
        tmp_path / "s.dcm",
        patient=PatientInfo(weight_kg=70.0),
        study=StudyInfo(),
        radiopharmaceutical=rp,
    )
    res = compute_suv(read_series(tmp_path), "bw")
    assert res.suv is not None and res.activity is not None
    want = _expected_suv(nuclide, activity, hours, 1000.0, 70.0)
    assert float(res.suv.array[0, 0, 0]) == pytest.approx(want, rel=1e-4)
    assert float(res.suv.array[3, 4, 4]) == pytest.approx(2.0 * want, rel=1e-4)
    assert res.warnings == ()  # activity within the usual range of the nuclide


@pytest.mark.parametrize(("nuclide", "tracer", "activity", "hours"), CASES)
def test_pet_slice_layout_spect(
    tmp_path: Path, nuclide: str, tracer: str, activity: float, hours: float
) -> None:
    """The vendor PET-slice layout of a SPECT (Modality PT) with an SPECT nuclide."""
    rp = Radiopharmaceutical(tracer, nuclide, activity, INJ)
    write_pet_series(
        _volume(hours),
        tmp_path,
        patient=PatientInfo(weight_kg=80.0),
        study=StudyInfo(),
        radiopharmaceutical=rp,
    )
    res = compute_suv(read_series(tmp_path), "bw")
    assert res.suv is not None
    want = _expected_suv(nuclide, activity, hours, 1000.0, 80.0)
    assert float(res.suv.array[0, 0, 0]) == pytest.approx(want, rel=1e-4)


def test_counts_spect_with_a_camera_calibration(tmp_path: Path) -> None:
    """99mTc SPECT in counts: Bq/mL = counts / (duration × cps/MBq × voxel mL) × 1e6."""
    rp = Radiopharmaceutical("99mTc-HYNIC-TOC", "Tc-99m", 740e6, INJ)
    path = write_nm_series(
        _volume(4.0),
        tmp_path / "s.dcm",
        patient=PatientInfo(weight_kg=70.0),
        study=StudyInfo(),
        radiopharmaceutical=rp,
        acquisition_duration_s=1200.0,
    )
    ds = pydicom.dcmread(path)
    counts = np.full((6, 8, 8), 50, "<u2")
    ds.PixelData = counts.tobytes()
    ds.RescaleSlope = "1"
    del ds.RealWorldValueMappingSequence
    ds.Units = "CNTS"
    item = ds.RadiopharmaceuticalInformationSequence[0]
    item.RadionuclideCodeSequence[0].CodeMeaning = "Technetium^99m"
    item.RadionuclideCodeSequence[0].CodeValue = "unknown"
    ds.save_as(path)
    series = read_series(tmp_path)
    assert series.units == "CNTS"
    res = compute_suv(series, "bw", Overrides(sensitivity_cps_per_mbq=90.0))
    assert res.activity is not None and res.suv is not None
    voxel_ml = 4.8**3 / 1000.0
    bqml = 50.0 / (1200.0 * 90.0 * voxel_ml) * 1e6
    assert float(res.activity.array[0, 0, 0]) == pytest.approx(bqml, rel=1e-6)
    want = _expected_suv("Tc-99m", 740e6, 4.0, bqml, 70.0)
    assert float(res.suv.array[0, 0, 0]) == pytest.approx(want, rel=1e-6)


def test_code_meanings_of_spect_nuclides() -> None:
    """Both orders pydicom and vendors write (contract: 'Indium^111', '^111^Indium')."""
    assert [
        nuclide_from_code_meaning(m)
        for m in (
            "Indium^111",
            "^111^Indium",
            "Technetium^99m",
            "^99m^Technetium",
            "Indium-111",
            "99m Technetium",
        )
    ] == ["In-111", "In-111", "Tc-99m", "Tc-99m", "In-111", "Tc-99m"]
    assert math.isclose(
        get_nuclide("Tc-99m").half_life_s / 3600.0, 6.015, rel_tol=1e-4
    )  # ICRP 107: 6.015 h
