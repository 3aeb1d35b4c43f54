"""Write a planar whole-body study (:class:`~sstrkit.io.planar.PlanarWholeBody`) as DICOM.

One NM Image Storage file, the layout :func:`sstrkit.io.planar.read_planar_wholebody`
reads: ImageType ``ORIGINAL\\PRIMARY\\WHOLE BODY\\EMISSION``, two frames (frame 1 =
detector 1 = ANTERIOR, frame 2 = detector 2 = POSTERIOR, stored mirrored as the camera
records it: row direction −x), FrameIncrementPointer → DetectorVector [1, 2], view
codes SNOMED-RT ``F-10440``/``F-10470`` (scheme ``SRT``), PixelSpacing, ScanVelocity
(mm/s), ScanLength (mm) and ActualFrameDuration (ms), the energy windows and the
radiopharmaceutical. Pixels are rounded counts, unsigned 16 bits. Used by the tests and
the examples; the digital patient writes its own (:mod:`sstrkit.phantom.scint_dicom`).

Examples
--------
>>> _WRITTEN_CODES["POSTERIOR"]
('F-10470', 'POSTERIOR')
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

from sstrkit.core.units import MS_PER_S
from sstrkit.errors import InvalidInputError
from sstrkit.io.dicom_time import format_dt
from sstrkit.io.planar import NM_IMAGE_STORAGE, PlanarWholeBody

__all__ = ["write_planar_wholebody"]

#: The view codes written (SNOMED-RT, scheme ``SRT``).
_WRITTEN_CODES = {"ANTERIOR": ("F-10440", "ANTERIOR"), "POSTERIOR": ("F-10470", "POSTERIOR")}


def write_planar_wholebody(
    study: PlanarWholeBody,
    out_path: str | os.PathLike[str],
    *,
    patient_name: str = "",
    study_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    view_codes: bool = True,
    series_number: int = 1,
) -> Path:
    """Write ``study`` as one NM whole-body file (the layout :func:`read_planar_wholebody` reads).

    Frame 1 is detector 1 (ANTERIOR), frame 2 detector 2 (POSTERIOR, stored mirrored
    as the camera records it); pixels are rounded counts in unsigned 16 bits.
    ``view_codes=False`` leaves the ViewCodeSequence out (tests of the fallback).
    """
    from sstrkit.io.dicom_modules import PatientInfo, StudyInfo, _atomic_save, _base, _set_times

    frames = np.stack([study.anterior, study.posterior]).astype(np.float64)
    if frames.max() > 65535:
        raise InvalidInputError(
            "planar counts", expected="at most 65535 per pixel (16 bits)", actual=frames.max()
        )
    patient = PatientInfo(
        name=patient_name,
        patient_id=study.patient_id,
        weight_kg=study.patient_weight_kg,
        sex="M" if study.patient_sex == "M" else "F" if study.patient_sex == "F" else "",
    )
    info = StudyInfo(study_uid=study_uid or generate_uid())
    ds = _base(NM_IMAGE_STORAGE, "NM", patient, info)
    _set_times(ds, study.acquisition_time, info)
    ds.SeriesInstanceUID = study.series_uid or generate_uid()
    ds.SeriesNumber = series_number
    ds.SeriesDescription = study.series_description
    ds.InstanceNumber = 1
    ds.FrameOfReferenceUID = frame_of_reference_uid or generate_uid()
    ds.PositionReferenceIndicator = ""
    ds.ImageType = ["ORIGINAL", "PRIMARY", "WHOLE BODY", "EMISSION"]
    ds.PixelSpacing = [f"{v:.8g}" for v in study.pixel_spacing_mm]
    ds.NumberOfFrames = 2
    ds.FrameIncrementPointer = pydicom.tag.Tag("DetectorVector")
    ds.DetectorVector = [1, 2]
    ds.NumberOfDetectors = 2
    items = []
    for view, row_x in (("ANTERIOR", 1.0), ("POSTERIOR", -1.0)):
        det = Dataset()
        det.ImageOrientationPatient = [f"{v:g}" for v in (row_x, 0, 0, 0, 0, -1)]
        det.CollimatorType = ""
        if view_codes:
            code = Dataset()
            code.CodeValue, code.CodeMeaning = _WRITTEN_CODES[view]
            code.CodingSchemeDesignator = "SRT"
            det.ViewCodeSequence = DicomSequence([code])
        items.append(det)
    ds.DetectorInformationSequence = DicomSequence(items)
    _write_timing(ds, study)
    _write_windows(ds, study.energy_windows_kev)
    _write_radiopharmaceutical(ds, study)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = study.shape
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = np.rint(frames).astype("<u2").tobytes()
    path = Path(out_path)
    _atomic_save(ds, path)
    return path


def _write_timing(ds: Dataset, study: PlanarWholeBody) -> None:
    if study.frame_duration_s is not None:
        ds.ActualFrameDuration = str(round(study.frame_duration_s * MS_PER_S))
    if study.scan_speed_mm_per_s is not None:
        ds.ScanVelocity = f"{study.scan_speed_mm_per_s:.6g}"  # mm/s (NM Image Module)
    if study.scan_length_mm is not None:
        ds.ScanLength = str(round(study.scan_length_mm))  # mm
    ds.WholeBodyTechnique = ["1PS"]


def _write_windows(ds: Dataset, windows: Sequence[tuple[float, float]]) -> None:
    items = []
    for k, (lo, hi) in enumerate(windows, start=1):
        rng = Dataset()
        rng.EnergyWindowLowerLimit = f"{lo:.6g}"
        rng.EnergyWindowUpperLimit = f"{hi:.6g}"
        item = Dataset()
        item.EnergyWindowRangeSequence = DicomSequence([rng])
        item.EnergyWindowName = f"W{k}"
        items.append(item)
    ds.NumberOfEnergyWindows = max(len(items), 1)
    ds.EnergyWindowInformationSequence = DicomSequence(items)


def _write_radiopharmaceutical(ds: Dataset, study: PlanarWholeBody) -> None:
    from sstrkit.io.dicom_modules import RADIONUCLIDE_CODES
    from sstrkit.physics.nuclides import get_nuclide

    item = Dataset()
    item.Radiopharmaceutical = study.tracer or ""
    item.RadiopharmaceuticalStartDateTime = format_dt(study.injection_time)
    item.RadionuclideTotalDose = f"{study.injected_activity_bq:.10g}"
    item.RadionuclideHalfLife = f"{get_nuclide(study.radionuclide).half_life_s:.10g}"
    code = RADIONUCLIDE_CODES.get(study.radionuclide)
    if code is not None:
        c = Dataset()
        c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = code[0], "SRT", code[1]
        item.RadionuclideCodeSequence = DicomSequence([c])
    ds.RadiopharmaceuticalInformationSequence = DicomSequence([item])
