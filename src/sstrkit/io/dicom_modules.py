"""DICOM modules (attribute groups) that sstrkit's DICOM writers share.

Patient, General Study, General Series, Frame of Reference, General Equipment,
Image Plane, Image Pixel and the radiopharmaceutical information, filled from
:class:`PatientInfo`, :class:`StudyInfo`, :class:`Radiopharmaceutical` and the
volume geometry; attributes the caller does not give are written empty (DICOM
Type 2: nothing is invented). Derived objects (RTDOSE, RTSTRUCT, derived
series) copy patient and study from their source image
(:data:`PATIENT_STUDY_KEYWORDS`, :func:`copy_from_source`). A volume whose
direction matrix is left-handed is written with the slice order reversed
(:func:`_right_handed`: the slice normal is row × column, the same physical
image). Files are written atomically (:func:`_atomic_save`).

Used by :mod:`sstrkit.io.dicom_write` (PET, NM, CT), :mod:`sstrkit.io.dicom_rtdose`,
:mod:`sstrkit.io.dicom_derived` and :mod:`sstrkit.io.rtstruct_write`; the
public names are re-exported by :mod:`sstrkit.io.dicom_write`.

Examples
--------
>>> ds = _base("1.2.840.10008.5.1.4.1.1.128", "PT", PatientInfo(weight_kg=70.0), StudyInfo())
>>> ds.Modality, ds.PatientWeight, ds.PatientName
('PT', '70', '')
"""

from __future__ import annotations

import copy
import datetime as _dt
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from sstrkit import __version__
from sstrkit.core.atomic import apply_output_mode
from sstrkit.core.volume import Volume
from sstrkit.io.dicom_time import format_da, format_dt, format_tm

__all__ = [
    "PATIENT_MEASURE_KEYWORDS",
    "PATIENT_STUDY_KEYWORDS",
    "RADIONUCLIDE_CODES",
    "SOURCE_SERIES_KEYWORDS",
    "PatientInfo",
    "Radiopharmaceutical",
    "StudyInfo",
    "copy_from_source",
]

#: SNOMED-RT / DICOM CID 4020 codes of common radionuclides (code value, meaning).
RADIONUCLIDE_CODES: dict[str, tuple[str, str]] = {
    "F-18": ("C-111A1", "^18^Fluorine"),
    "Ga-68": ("C-131A3", "^68^Gallium"),
    "Cu-64": ("C-127A4", "^64^Copper"),
    "Lu-177": ("C-145A4", "^177^Lutetium"),
    "In-111": ("C-145A2", "^111^Indium"),
    "Tc-99m": ("C-163A8", "^99m^Technetium"),
    "Y-90": ("C-162A7", "^90^Yttrium"),
}


#: Patient and study attributes a derived object copies from its source image.
PATIENT_STUDY_KEYWORDS: tuple[str, ...] = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
    "StudyID", "StudyDate", "StudyTime", "AccessionNumber", "StudyDescription",
    "ReferringPhysicianName",
)  # fmt: skip
#: Patient body measures (needed to re-normalise SUV) copied with them.
PATIENT_MEASURE_KEYWORDS: tuple[str, ...] = ("PatientWeight", "PatientSize", "PatientAge")


#: Series-level attributes a derived object copies from its source image when present.
SOURCE_SERIES_KEYWORDS: tuple[str, ...] = ("BodyPartExamined", "Laterality", "PatientPosition")


@dataclass(frozen=True)
class PatientInfo:
    """Patient module attributes (weight kg, height cm as sstrkit units).

    Name and ID default to empty (DICOM Type 2: unknown); nothing is invented.
    """

    name: str = ""
    patient_id: str = ""
    birth_date: str = ""
    sex: Literal["M", "F", "O", ""] = ""
    weight_kg: float | None = None
    height_cm: float | None = None


@dataclass(frozen=True)
class StudyInfo:
    """Study identifiers; ``study_uid`` is generated when empty."""

    study_uid: str = field(default_factory=generate_uid)
    study_time: _dt.datetime | None = None
    description: str = ""
    accession_number: str = ""
    study_id: str = "1"


@dataclass(frozen=True)
class Radiopharmaceutical:
    """Administration: ``nuclide`` like ``"Ga-68"``, activity in Bq, aware datetime."""

    name: str
    nuclide: str
    injected_activity_bq: float
    injection_time: _dt.datetime
    half_life_s: float | None = None

    def resolved_half_life_s(self) -> float:
        if self.half_life_s is not None:
            return float(self.half_life_s)
        from sstrkit.physics.nuclides import get_nuclide

        return get_nuclide(self.nuclide).half_life_s


def _atomic_save(ds: Dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".dcm", dir=path.parent)
    os.close(fd)
    try:
        ds.save_as(tmp, enforce_file_format=True)
        apply_output_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _base(sop_class: str, modality: str, patient: PatientInfo, study: StudyInfo) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationVersionName = f"SSTRKIT_{__version__}"[:16]
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.Manufacturer = "sstrkit"
    ds.SoftwareVersions = __version__
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    if patient.weight_kg is not None:
        ds.PatientWeight = f"{patient.weight_kg:.6g}"
    if patient.height_cm is not None:
        ds.PatientSize = f"{patient.height_cm / 100.0:.6g}"
    ds.StudyInstanceUID = study.study_uid
    ds.StudyID = study.study_id
    ds.AccessionNumber = study.accession_number
    ds.StudyDescription = study.description
    ds.ReferringPhysicianName = ""
    return ds


def copy_from_source(ds: Dataset, source: Dataset, keywords: Iterable[str]) -> None:
    """Copy the attributes named in ``keywords`` that ``source`` has (deep copies)."""
    for keyword in keywords:
        if keyword in source:
            ds.add(copy.deepcopy(source[keyword]))


def _set_times(ds: Dataset, t: _dt.datetime, study: StudyInfo) -> None:
    st = study.study_time or t
    ds.StudyDate, ds.StudyTime = format_da(st), format_tm(st)
    ds.SeriesDate, ds.SeriesTime = format_da(t), format_tm(t)
    ds.AcquisitionDate, ds.AcquisitionTime = format_da(t), format_tm(t)
    ds.ContentDate, ds.ContentTime = format_da(t), format_tm(t)
    off = t.utcoffset() or _dt.timedelta(0)
    minutes = int(abs(off).total_seconds() // 60)
    ds.TimezoneOffsetFromUTC = (
        f"{'-' if off < _dt.timedelta(0) else '+'}{minutes // 60:02d}{minutes % 60:02d}"
    )


def _right_handed(volume: Volume) -> tuple[NDArray[Any], NDArray[np.float64], NDArray[np.float64]]:
    """Array, origin and direction with normal = row × col (slices reversed if needed)."""
    d = volume.direction_matrix
    arr = volume.array
    origin = np.asarray(volume.origin, dtype=float)
    if np.dot(np.cross(d[:, 0], d[:, 1]), d[:, 2]) < 0:
        origin = origin + d[:, 2] * volume.spacing[2] * (volume.shape[0] - 1)
        d = d.copy()
        d[:, 2] = -d[:, 2]
        arr = arr[::-1]
    return arr, origin, d


def _plane(ds: Dataset, volume: Volume, d: NDArray[np.float64]) -> None:
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*d[:, 0], *d[:, 1])]
    ds.PixelSpacing = [f"{volume.spacing[1]:.8g}", f"{volume.spacing[0]:.8g}"]
    ds.SliceThickness = f"{volume.spacing[2]:.8g}"
    ds.FrameOfReferenceUID = volume.frame_of_reference_uid or ds.get(
        "FrameOfReferenceUID", generate_uid()
    )
    ds.PositionReferenceIndicator = ""


def _series_dataset(
    sop_class: str,
    modality: str,
    volume: Volume,
    d: NDArray[np.float64],
    *,
    patient: PatientInfo,
    study: StudyInfo,
    t: _dt.datetime,
    series_uid: str,
    series_number: int,
    series_description: str | None = None,
) -> Dataset:
    """Patient/study/series/time attributes and the image plane of one series."""
    ds = _base(sop_class, modality, patient, study)
    _set_times(ds, t, study)
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    if series_description is not None:
        ds.SeriesDescription = series_description
    _plane(ds, volume, d)
    return ds


def _pixel_module(ds: Dataset, rows: int, cols: int, bits: int, signed: bool) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if signed else 0


def _radiopharm(ds: Dataset, rp: Radiopharmaceutical) -> None:
    item = Dataset()
    item.Radiopharmaceutical = rp.name
    item.RadiopharmaceuticalStartTime = format_tm(rp.injection_time)
    item.RadiopharmaceuticalStartDateTime = format_dt(rp.injection_time)
    item.RadionuclideTotalDose = f"{rp.injected_activity_bq:.10g}"
    item.RadionuclideHalfLife = f"{rp.resolved_half_life_s():.10g}"
    code = RADIONUCLIDE_CODES.get(rp.nuclide)
    if code is not None:
        c = Dataset()
        c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = code[0], "SRT", code[1]
        item.RadionuclideCodeSequence = DicomSequence([c])
    ds.RadiopharmaceuticalInformationSequence = DicomSequence([item])


def _unknown_position(ds: Dataset) -> None:
    """General Series laterality and NM/PET Patient Orientation: unknown to the writer."""
    ds.Laterality = ""  # Type 2C, empty = unknown (no BodyPartExamined is known either)
    ds.PatientOrientationCodeSequence = DicomSequence([])
    ds.PatientGantryRelationshipCodeSequence = DicomSequence([])
