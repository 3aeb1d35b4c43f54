"""Write volumes as DICOM: PET (PT) and SPECT (NM) series, CT series, RTDOSE.

The files carry what other tools need to re-read them and recompute SUV:
patient and study identifiers, frame of reference, image plane geometry,
timing (series/acquisition date and time = the volume's reference time),
``Units``/``DecayCorrection`` and the radiopharmaceutical information sequence
(administered activity, start datetime, half-life, radionuclide code).

* PET: one file per slice, signed 16-bit with a per-slice RescaleSlope
  (quantisation error ≤ slope/2 = max|slice|/65534 per voxel).
* NM: one multi-frame file (NM Image IOD, ``RECON TOMO``), unsigned 16-bit,
  Bq/mL through a Real World Value Mapping (UCUM ``Bq/ml``) and RescaleSlope.
* CT: one file per slice, HU rounded to integers.
* Derived series (SUV as PET, any other quantity as a derived CT image):
  :mod:`sstrkit.io.dicom_derived`, built on the same series writer.
* RTDOSE: one multi-frame file, unsigned 16-bit with ``DoseGridScaling`` (Gy;
  quantisation error ≤ half a step = max/131070), patient and study copied from
  the source image's header (``source=``).

Nothing is invented: patient and study attributes the caller does not give are
written empty (DICOM Type 2), and so are acquisition attributes the writer
cannot know (PatientPosition, Laterality, CollimatorType, patient orientation
codes, energy windows) unless the caller describes the camera
(:class:`SpectAcquisition`: collimator, orbit radial positions, energy windows and
reconstruction method, as a camera writes them). Every object passes dicom3tools'
``dciodvfy`` without errors (tested; docs/dicom.md, "Conformance").

The shared DICOM modules (patient, study, series, image plane, pixel,
radiopharmaceutical) are in :mod:`sstrkit.io.dicom_modules`, the byte-level
series writer in :mod:`sstrkit.io.dicom_series_writer` and RTDOSE in
:mod:`sstrkit.io.dicom_rtdose`; their public names are re-exported here.

Every file is written atomically (temporary file in the same folder, then
``os.replace``). A series is written from one template dataset encoded once
(:class:`SeriesWriter`); each file only encodes its own per-slice attributes
(SOP instance UID, instance number, position, rescale, pixels), byte for byte
what pydicom's ``save_as`` writes for the same dataset (tested). Volumes whose
direction matrix is left-handed are written with the slice order reversed so
that the slice normal is the cross product of the row and column directions
(the same physical image).
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

from sstrkit.core.units import MS_PER_S
from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.io.dicom_modules import PATIENT_MEASURE_KEYWORDS as PATIENT_MEASURE_KEYWORDS
from sstrkit.io.dicom_modules import PATIENT_STUDY_KEYWORDS as PATIENT_STUDY_KEYWORDS
from sstrkit.io.dicom_modules import RADIONUCLIDE_CODES as RADIONUCLIDE_CODES
from sstrkit.io.dicom_modules import SOURCE_SERIES_KEYWORDS as SOURCE_SERIES_KEYWORDS
from sstrkit.io.dicom_modules import PatientInfo as PatientInfo
from sstrkit.io.dicom_modules import Radiopharmaceutical as Radiopharmaceutical
from sstrkit.io.dicom_modules import StudyInfo as StudyInfo
from sstrkit.io.dicom_modules import _atomic_save as _atomic_save
from sstrkit.io.dicom_modules import _base as _base
from sstrkit.io.dicom_modules import (
    _pixel_module,
    _right_handed,
    _series_dataset,
    _unknown_position,
)
from sstrkit.io.dicom_modules import _radiopharm as _radiopharm
from sstrkit.io.dicom_modules import copy_from_source as copy_from_source
from sstrkit.io.dicom_rtdose import RTDOSE_SOP as RTDOSE_SOP
from sstrkit.io.dicom_rtdose import RTDOSE_SUMMATION_TYPE as RTDOSE_SUMMATION_TYPE
from sstrkit.io.dicom_rtdose import read_rtdose as read_rtdose
from sstrkit.io.dicom_rtdose import write_rtdose as write_rtdose
from sstrkit.io.dicom_series_writer import SeriesWriter as SeriesWriter
from sstrkit.io.dicom_series_writer import write_slices as write_slices

__all__ = [
    "PATIENT_STUDY_KEYWORDS",
    "RTDOSE_SUMMATION_TYPE",
    "PatientInfo",
    "Radiopharmaceutical",
    "SeriesWriter",
    "SpectAcquisition",
    "StudyInfo",
    "read_rtdose",
    "write_ct_series",
    "write_nm_series",
    "write_pet_series",
    "write_rtdose",
]

PET_SOP = "1.2.840.10008.5.1.4.1.1.128"
NM_SOP = "1.2.840.10008.5.1.4.1.1.20"
CT_SOP = "1.2.840.10008.5.1.4.1.1.2"


@dataclass(frozen=True)
class SpectAcquisition:
    """What a gamma camera writes about a SPECT acquisition and its reconstruction.

    ``collimator`` → CollimatorGridName (CollimatorType ``collimator_type``);
    ``radial_positions_mm`` → RadialPosition, rotation axis to collimator face per view
    (NM DetectorInformationSequence; not part of the PET IOD, so per-slice PET-SOP
    exports leave it out, as they do); ``energy_windows_kev`` → (lower, upper) per
    photopeak range, named ``energy_window_name``; ``reconstruction`` →
    ReconstructionMethod (PET SOP) and ConvolutionKernel (NM Reconstruction Module,
    at most 16 characters per value, split on ``" / "``). Header only: the pixels do not
    depend on it.
    """

    collimator: str
    collimator_type: str = "PARA"
    radial_positions_mm: tuple[float, ...] = ()
    energy_windows_kev: tuple[tuple[float, float], ...] = ()
    energy_window_name: str = ""
    reconstruction: str = ""

    def energy_window_sequence(self) -> DicomSequence:
        ranges = []
        for lo, hi in self.energy_windows_kev:
            rng = Dataset()
            rng.EnergyWindowLowerLimit = f"{lo:.6g}"
            rng.EnergyWindowUpperLimit = f"{hi:.6g}"
            ranges.append(rng)
        item = Dataset()
        item.EnergyWindowRangeSequence = DicomSequence(ranges)
        item.EnergyWindowName = self.energy_window_name[:16]  # SH
        return DicomSequence([item])

    def kernel(self) -> list[str]:
        return [part.strip()[:16] for part in self.reconstruction.split(" / ") if part.strip()]


def _check_activity_volume(volume: Volume, what: str) -> _dt.datetime:
    if volume.unit != "Bq/mL":
        raise InvalidInputError(
            f"unit of the {what} volume",
            expected="Bq/mL (activity concentration)",
            actual=volume.unit,
            fix="convert to Bq/mL first (sstrkit.io.suv.activity_concentration)",
        )
    if volume.reference_time is None:
        raise InvalidInputError(
            f"reference_time of the {what} volume",
            expected="the time the activity concentration refers to",
            actual=None,
            fix="set it with volume.with_metadata(reference_time=...)",
        )
    if not np.all(np.isfinite(volume.array)):
        raise InvalidInputError(f"{what} voxels", expected="finite values", actual="NaN or inf")
    return volume.reference_time


def write_pet_series(
    volume: Volume,
    out_dir: str | os.PathLike[str],
    *,
    patient: PatientInfo,
    study: StudyInfo,
    radiopharmaceutical: Radiopharmaceutical,
    series_description: str = "PET Bq/mL",
    series_number: int = 1,
    series_uid: str | None = None,
    frame_duration_s: float | None = None,
    decay_correction: Literal["START", "ADMIN"] = "START",
    spect: SpectAcquisition | None = None,
) -> list[Path]:
    """Write a Bq/mL volume as a PET series (one file per slice) in ``out_dir``.

    The volume's ``reference_time`` becomes SeriesDate/Time and AcquisitionDate/
    Time (``DecayCorrection START``), or must equal the injection time for
    ``ADMIN``. Returns the written paths in slice order. ``spect``: a SPECT written
    as PET-SOP slices (Siemens xSPECT Quant style) with its camera's CollimatorGridName,
    energy windows (EnergyWindowRangeSequence) and ReconstructionMethod.
    """
    ref = _check_activity_volume(volume, "PET")
    if decay_correction == "ADMIN" and ref != radiopharmaceutical.injection_time:
        raise InvalidInputError(
            "reference_time for DecayCorrection ADMIN",
            expected=f"the injection time {radiopharmaceutical.injection_time.isoformat()}",
            actual=ref.isoformat(),
            fix="decay-correct the volume to the injection time first, or write START",
        )
    if (ref - radiopharmaceutical.injection_time).total_seconds() < 0:
        raise InvalidInputError(
            "injection time",
            expected=f"not after the reference time {ref.isoformat()}",
            actual=radiopharmaceutical.injection_time.isoformat(),
        )
    ds = pet_template(
        volume,
        patient=patient,
        study=study,
        reference_time=ref,
        series_uid=series_uid or generate_uid(),
        series_number=series_number,
        series_description=series_description,
        units="BQML",
        decay_correction=decay_correction,
        image_type=("ORIGINAL", "PRIMARY"),
        corrected_image=("DECY", "ATTN", "SCAT", "DTIM", "RAN", "NORM"),
    )
    ds.RandomsCorrectionMethod = "DLYD"
    ds.AttenuationCorrectionMethod = "CT"
    ds.ReconstructionMethod = "unknown"
    if spect is not None:
        ds.CollimatorGridName = spect.collimator[:16]  # SH
        if spect.reconstruction:
            ds.ReconstructionMethod = spect.reconstruction[:64]  # LO
        if spect.energy_windows_kev:
            ds.EnergyWindowRangeSequence = spect.energy_window_sequence()[
                0
            ].EnergyWindowRangeSequence
    if frame_duration_s is not None:
        ds.ActualFrameDuration = str(round(frame_duration_s * MS_PER_S))
    _radiopharm(ds, radiopharmaceutical)
    return write_slices(ds, volume, Path(out_dir), "PT", PET_PER_SLICE, int16_per_slice_slope)


#: Attributes a PET series sets per file (besides UID, instance number, position, pixels).
PET_PER_SLICE = ("SliceLocation", "ImageIndex", "RescaleSlope")


def pet_template(
    volume: Volume,
    *,
    patient: PatientInfo,
    study: StudyInfo,
    reference_time: _dt.datetime,
    series_uid: str,
    series_number: int,
    series_description: str,
    units: str,
    decay_correction: str,
    image_type: tuple[str, ...],
    corrected_image: tuple[str, ...],
) -> Dataset:
    """Attributes shared by the files of a PET series (PET Image IOD), no radiopharmaceutical."""
    _, _, d = _right_handed(volume)
    nz, ny, nx = volume.shape
    ds = _series_dataset(
        PET_SOP,
        "PT",
        volume,
        d,
        patient=patient,
        study=study,
        t=reference_time,
        series_uid=series_uid,
        series_number=series_number,
        series_description=series_description,
    )
    ds.ImageType = list(image_type)
    _unknown_position(ds)
    ds.SeriesType = ["STATIC", "IMAGE"]
    ds.Units = units
    ds.CountsSource = "EMISSION"
    ds.DecayCorrection = decay_correction
    ds.CorrectedImage = list(corrected_image)
    ds.NumberOfSlices = nz
    ds.CollimatorType = ""  # Type 2: NONE (3D) or RING (septa) is the scanner's to say
    ds.FrameReferenceTime = "0"
    ds.ActualFrameDuration = ""  # Type 2; set when the frame duration is known
    if decay_correction != "NONE":
        # the voxels are the concentration at the reference time, which is the
        # series/acquisition time: the writer scaled nothing for decay
        ds.DecayFactor = "1"
    _pixel_module(ds, ny, nx, 16, True)
    ds.RescaleIntercept = "0"
    return ds


def int16_per_slice_slope(plane: NDArray[Any]) -> tuple[dict[str, Any], bytes]:
    """Signed 16-bit pixels with the slice's own RescaleSlope = max|plane| / 32767."""
    values = np.asarray(plane, dtype=np.float64)
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    slope = peak / 32767.0 if peak > 0 else 1.0
    stored = np.rint(values / slope).astype("<i2")
    return {"RescaleSlope": f"{slope:.10g}"}, stored.tobytes()


def write_nm_series(
    volume: Volume,
    out_path: str | os.PathLike[str],
    *,
    patient: PatientInfo,
    study: StudyInfo,
    radiopharmaceutical: Radiopharmaceutical,
    series_description: str = "SPECT Bq/mL",
    series_number: int = 1,
    series_uid: str | None = None,
    acquisition_duration_s: float | None = None,
    decay_correction: Literal["START", "NONE"] = "START",
    spect: SpectAcquisition | None = None,
) -> Path:
    """Write a Bq/mL volume as one multi-frame reconstructed NM (SPECT) file.

    Values go through one RescaleSlope and a Real World Value Mapping in
    UCUM ``Bq/ml``; ``acquisition_duration_s`` is stored in the
    RotationInformationSequence (one rotation, one frame of that duration);
    ``spect`` describes the camera (collimator, radial positions, energy windows,
    reconstruction; :class:`SpectAcquisition`), else those stay empty (Type 2).
    """
    ref = _check_activity_volume(volume, "SPECT")
    arr, origin, d = _right_handed(volume)
    nz, ny, nx = arr.shape
    ds = _series_dataset(
        NM_SOP,
        "NM",
        volume,
        d,
        patient=patient,
        study=study,
        t=ref,
        series_uid=series_uid or generate_uid(),
        series_number=series_number,
        series_description=series_description,
    )
    ds.InstanceNumber = 1
    ds.SpacingBetweenSlices = f"{volume.spacing[2]:.8g}"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    _unknown_position(ds)
    _nm_acquisition(ds, origin, nz, acquisition_duration_s)
    if spect is not None:
        _nm_camera(ds, spect)
    ds.DecayCorrection = decay_correction
    _radiopharm(ds, radiopharmaceutical)
    _pixel_module(ds, ny, nx, 16, False)
    _nm_bqml_pixels(ds, arr)
    path = Path(out_path)
    _atomic_save(ds, path)
    return path


def _nm_acquisition(
    ds: Dataset, origin: NDArray[np.float64], nz: int, acquisition_duration_s: float | None
) -> None:
    """NM multi-frame, detector, energy window and rotation attributes of a reconstruction."""
    ds.NumberOfFrames = nz
    ds.FrameIncrementPointer = pydicom.tag.Tag("SliceVector")
    ds.SliceVector = list(range(1, nz + 1))
    ds.NumberOfSlices = nz
    det = Dataset()
    det.ImagePositionPatient = [f"{v:.6f}" for v in origin]
    det.ImageOrientationPatient = list(ds.ImageOrientationPatient)
    det.CollimatorType = ""  # Type 2: unknown to the writer
    ds.DetectorInformationSequence = DicomSequence([det])
    ds.NumberOfDetectors = 1
    # one energy window image; the window limits are the acquisition's (Type 2, unknown)
    ds.NumberOfEnergyWindows = 1
    ds.EnergyWindowInformationSequence = DicomSequence([])
    ds.CountsAccumulated = ""
    ds.NumberOfRotations = 1
    ds.RotationInformationSequence = DicomSequence([])  # Type 2: empty when not known
    if acquisition_duration_s is not None:
        # the writer knows the total duration only: one frame over one full rotation
        # (NumberOfFramesInRotation × ActualFrameDuration = the duration, as readers sum it)
        rot = Dataset()
        rot.StartAngle = "0"
        rot.AngularStep = "360"
        rot.RotationDirection = "CW"
        rot.ScanArc = "360"
        rot.NumberOfFramesInRotation = 1
        rot.ActualFrameDuration = str(round(acquisition_duration_s * MS_PER_S))
        ds.RotationInformationSequence = DicomSequence([rot])


def _nm_camera(ds: Dataset, spect: SpectAcquisition) -> None:
    """The camera's collimator, orbit, energy windows and reconstruction (NM modules)."""
    det = ds.DetectorInformationSequence[0]
    det.CollimatorGridName = spect.collimator[:16]  # SH
    det.CollimatorType = spect.collimator_type
    if spect.radial_positions_mm:
        det.RadialPosition = [f"{r:.6g}" for r in spect.radial_positions_mm]
    if spect.energy_windows_kev:
        ds.EnergyWindowInformationSequence = spect.energy_window_sequence()
    if spect.reconstruction:
        ds.ConvolutionKernel = spect.kernel()


def _nm_bqml_pixels(ds: Dataset, arr: NDArray[Any]) -> None:
    """Unsigned 16-bit pixels, one RescaleSlope and a Real World Value Mapping in UCUM Bq/ml."""
    data = np.asarray(arr, dtype=np.float64)
    if np.any(data < 0):
        raise InvalidInputError(
            "SPECT voxels", expected="values >= 0 Bq/mL (NM pixels are unsigned)", actual="< 0"
        )
    peak = float(data.max()) if data.size else 0.0
    slope = peak / 65535.0 if peak > 0 else 1.0
    ds.RescaleSlope = f"{slope:.10g}"
    ds.RescaleIntercept = "0"
    rw = Dataset()
    rw.RealWorldValueFirstValueMapped = 0
    rw.RealWorldValueLastValueMapped = 65535
    rw.RealWorldValueSlope = slope
    rw.RealWorldValueIntercept = 0.0
    rw.LUTLabel = "BQML"
    rw.LUTExplanation = "activity concentration"
    unit = Dataset()
    unit.CodeValue, unit.CodingSchemeDesignator, unit.CodeMeaning = "Bq/ml", "UCUM", "Bq/ml"
    rw.MeasurementUnitsCodeSequence = DicomSequence([unit])
    ds.RealWorldValueMappingSequence = DicomSequence([rw])
    ds.PixelData = np.rint(data / slope).astype("<u2").tobytes()


def write_ct_series(
    volume: Volume,
    out_dir: str | os.PathLike[str],
    *,
    patient: PatientInfo,
    study: StudyInfo,
    acquisition_time: _dt.datetime,
    series_description: str = "CT",
    series_number: int = 2,
    series_uid: str | None = None,
) -> list[Path]:
    """Write a HU volume as a CT series (values rounded to integer HU)."""
    if volume.unit != "HU":
        raise InvalidInputError("unit of the CT volume", expected="HU", actual=volume.unit)
    ds = ct_template(
        volume,
        patient=patient,
        study=study,
        acquisition_time=acquisition_time,
        series_uid=series_uid or generate_uid(),
        series_number=series_number,
        series_description=series_description,
    )
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = "1", "0", "HU"

    def encode(plane: NDArray[Any]) -> tuple[dict[str, Any], bytes]:
        return {}, np.clip(np.rint(plane), -32768, 32767).astype("<i2").tobytes()

    return write_slices(ds, volume, Path(out_dir), "CT", (), encode)


def ct_template(
    volume: Volume,
    *,
    patient: PatientInfo,
    study: StudyInfo,
    acquisition_time: _dt.datetime,
    series_uid: str,
    series_number: int,
    series_description: str,
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    signed: bool = True,
) -> Dataset:
    """Attributes shared by the files of a CT series (CT Image IOD), no rescale."""
    _, _, d = _right_handed(volume)
    _, ny, nx = volume.shape
    ds = _series_dataset(
        CT_SOP,
        "CT",
        volume,
        d,
        patient=patient,
        study=study,
        t=acquisition_time,
        series_uid=series_uid,
        series_number=series_number,
        series_description=series_description,
    )
    ds.ImageType = list(image_type)
    ds.Laterality = ""  # Type 2C, empty = unknown
    ds.PatientPosition = ""  # Type 2C for CT: unknown to the writer (the geometry is in IOP)
    derived = bool(image_type) and image_type[0] == "DERIVED"
    # Type 2: a derived map (dose, TIA) has no acquisition and no tube voltage
    ds.AcquisitionNumber = "" if derived else 1
    ds.KVP = "" if derived else "120"
    _pixel_module(ds, ny, nx, 16, signed)
    return ds
