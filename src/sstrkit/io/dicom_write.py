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
codes, energy windows). Every object passes dicom3tools' ``dciodvfy`` without
errors (tested; docs/dicom.md, "Conformance").

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

import copy
import datetime as _dt
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset, validate_file_meta
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import correct_ambiguous_vr, write_data_element
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from sstrkit import __version__
from sstrkit.core.atomic import apply_output_mode
from sstrkit.core.volume import Volume
from sstrkit.errors import DicomMetadataError, GeometryMismatchError, InvalidInputError
from sstrkit.io.dicom_time import format_da, format_dt, format_tm, parse_dt

__all__ = [
    "PATIENT_STUDY_KEYWORDS",
    "RTDOSE_SUMMATION_TYPE",
    "PatientInfo",
    "Radiopharmaceutical",
    "SeriesWriter",
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
RTDOSE_SOP = "1.2.840.10008.5.1.4.1.1.481.2"

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

#: DoseSummationType of sstrkit's RTDOSE: the dose of one radiopharmaceutical
#: administration (therapy cycle). Every standard Defined Term of the RT Dose module
#: (PLAN, MULTI_PLAN, FRACTION, BEAM, BRACHY, *_SESSION, CONTROL_POINT) requires a
#: ReferencedRTPlanSequence and RECORD a ReferencedTreatmentRecordSequence; a molecular
#: radiotherapy dose has neither, so the term is extended (Defined Terms may be).
RTDOSE_SUMMATION_TYPE = "CYCLE"


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


_PREAMBLE = b"\x00" * 128 + b"DICM"
_SOP_INSTANCE_UID = Tag("SOPInstanceUID")
_PIXEL_DATA = Tag("PixelData")
_MEDIA_SOP_INSTANCE_UID = Tag("MediaStorageSOPInstanceUID")
#: (0002,0000) FileMetaInformationGroupLength, explicit VR UL, value length 4
_GROUP_LENGTH = b"\x02\x00\x00\x00UL\x04\x00"


def _encoded(elem: DataElement, encodings: Any) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_data_element(fp, elem, encodings)
    return fp.getvalue()


class SeriesWriter:
    """Write the single-frame files of one series from a template encoded once.

    ``template`` (with ``file_meta``) holds every attribute the files share;
    its elements are encoded once, as pydicom's ``dcmwrite`` encodes them
    (explicit VR little endian, ambiguous VRs resolved, tag order). Each
    :meth:`write` encodes only the attributes named in ``per_slice`` plus a new
    SOP instance UID and the pixel data, splices them in tag order and writes
    the file atomically: the bytes are those ``save_as(enforce_file_format=True)``
    writes for the template with these attributes set (tested). The template is
    consumed (its SOPInstanceUID/PixelData are removed and VRs resolved).
    """

    def __init__(self, template: Dataset, per_slice: Iterable[str]) -> None:
        tags = {Tag(k) for k in per_slice} | {_SOP_INSTANCE_UID, _PIXEL_DATA}
        for tag in (_SOP_INSTANCE_UID, _PIXEL_DATA):
            if tag in template:
                del template[tag]
        clash = [t for t in tags if t in template]
        if clash:
            raise ValueError(f"per-slice attributes also in the template: {clash}")
        ds = correct_ambiguous_vr(template, True)
        self._encodings = ds.get("SpecificCharacterSet", "iso8859")
        # file meta (PS3.10 7.1): everything but the group length and the instance UID
        # is the same in every file; dcmwrite's defaults are added as it adds them
        meta = FileMetaDataset(ds.file_meta)
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = UID("1")
        validate_file_meta(meta, enforce_standard=True)
        self._meta_before = b"".join(
            _encoded(meta[t], None) for t in sorted(meta.keys()) if 0 < t.element < 3
        )
        self._meta_after = b"".join(
            _encoded(meta[t], None) for t in sorted(meta.keys()) if t.element > 3
        )
        self._tags = sorted(tags)
        self._pixel_vr = "OW" if int(ds.get("BitsAllocated", 16)) > 8 else "OB"
        segments: list[list[bytes]] = [[] for _ in range(len(self._tags) + 1)]
        slot = 0
        for tag in sorted(ds.keys()):
            if tag.element == 0 and tag.group > 6:  # retired group lengths (PS3.5 7.2)
                continue
            while slot < len(self._tags) and self._tags[slot] < tag:
                slot += 1
            segments[slot].append(_encoded(ds[tag], self._encodings))
        self._segments = [b"".join(seg) for seg in segments]
        self._dirs: set[Path] = set()

    def write(self, path: Path, values: Mapping[str, Any], pixels: bytes) -> Path:
        """Write one file with the per-slice ``values`` (keyword → value) and ``pixels``."""
        uid = generate_uid()
        meta_uid = _encoded(DataElement(_MEDIA_SOP_INSTANCE_UID, "UI", uid), None)
        group = len(self._meta_before) + len(meta_uid) + len(self._meta_after)
        own: dict[int, DataElement] = {
            _SOP_INSTANCE_UID: DataElement(_SOP_INSTANCE_UID, "UI", uid),
            _PIXEL_DATA: DataElement(_PIXEL_DATA, self._pixel_vr, pixels),
        }
        for keyword, value in values.items():
            tag = Tag(keyword)
            own[tag] = DataElement(tag, pydicom.datadict.dictionary_VR(tag), value)
        if set(own) != set(self._tags):
            raise ValueError(f"per-slice attributes {sorted(own)} != {self._tags}")
        parts = [
            _PREAMBLE,
            _GROUP_LENGTH + group.to_bytes(4, "little"),
            self._meta_before,
            meta_uid,
            self._meta_after,
            self._segments[0],
        ]
        for tag, segment in zip(self._tags, self._segments[1:], strict=True):
            parts.append(_encoded(own[tag], self._encodings))
            parts.append(segment)
        if path.parent not in self._dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".dcm", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(b"".join(parts))
            apply_output_mode(tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


def write_slices(
    template: Dataset,
    volume: Volume,
    out_dir: Path,
    prefix: str,
    per_slice: Iterable[str],
    encode: Callable[[NDArray[Any]], tuple[dict[str, Any], bytes]],
) -> list[Path]:
    """Write ``volume`` (made right-handed) as one file per slice from ``template``.

    ``encode(plane) -> (values, pixel bytes)`` gives each slice's own attributes
    (e.g. RescaleSlope) and stored pixels; InstanceNumber and
    ImagePositionPatient are always per slice, SliceLocation and ImageIndex
    when named in ``per_slice``. Files are ``<prefix>_0001.dcm`` ... in slice order.
    """
    arr, origin, d = _right_handed(volume)
    normal = d[:, 2]
    keys = {"InstanceNumber", "ImagePositionPatient", *per_slice}
    writer = SeriesWriter(template, keys)
    paths: list[Path] = []
    for k in range(arr.shape[0]):
        pos = origin + normal * volume.spacing[2] * k
        values: dict[str, Any] = {
            "InstanceNumber": k + 1,
            "ImagePositionPatient": [f"{v:.6f}" for v in pos],
        }
        if "SliceLocation" in keys:
            values["SliceLocation"] = f"{float(pos @ normal):.6f}"
        if "ImageIndex" in keys:
            values["ImageIndex"] = k + 1
        own, pixels = encode(arr[k])
        values.update(own)
        paths.append(writer.write(out_dir / f"{prefix}_{k + 1:04d}.dcm", values, pixels))
    return paths


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
) -> list[Path]:
    """Write a Bq/mL volume as a PET series (one file per slice) in ``out_dir``.

    The volume's ``reference_time`` becomes SeriesDate/Time and AcquisitionDate/
    Time (``DecayCorrection START``), or must equal the injection time for
    ``ADMIN``. Returns the written paths in slice order.
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
    if frame_duration_s is not None:
        ds.ActualFrameDuration = str(round(frame_duration_s * 1000))
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


def _unknown_position(ds: Dataset) -> None:
    """General Series laterality and NM/PET Patient Orientation: unknown to the writer."""
    ds.Laterality = ""  # Type 2C, empty = unknown (no BodyPartExamined is known either)
    ds.PatientOrientationCodeSequence = DicomSequence([])
    ds.PatientGantryRelationshipCodeSequence = DicomSequence([])


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
) -> Path:
    """Write a Bq/mL volume as one multi-frame reconstructed NM (SPECT) file.

    Values go through one RescaleSlope and a Real World Value Mapping in
    UCUM ``Bq/ml``; ``acquisition_duration_s`` is stored in the
    RotationInformationSequence (one rotation, one frame of that duration).
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
        rot.ActualFrameDuration = str(round(acquisition_duration_s * 1000))
        ds.RotationInformationSequence = DicomSequence([rot])
    ds.DecayCorrection = decay_correction
    _radiopharm(ds, radiopharmaceutical)
    _pixel_module(ds, ny, nx, 16, False)
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
    path = Path(out_path)
    _atomic_save(ds, path)
    return path


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


def write_rtdose(
    dose_volume: Volume,
    out_path: str | os.PathLike[str],
    *,
    source: Dataset | None = None,
    patient: PatientInfo | None = None,
    study: StudyInfo | None = None,
    dose_time: _dt.datetime | None = None,
    summation_type: str = RTDOSE_SUMMATION_TYPE,
    dose_type: Literal["PHYSICAL", "EFFECTIVE"] = "PHYSICAL",
    comment: str = "",
    series_description: str = "RTDOSE (sstrkit)",
    series_number: int = 1,
) -> Path:
    """Write an absorbed-dose map (unit ``Gy``) as an RTDOSE file.

    Voxels are stored as unsigned 16-bit integers times ``DoseGridScaling``
    (= max / 65535; error ≤ half a step = max/131070).

    Parameters
    ----------
    dose_volume
        Absorbed dose in Gy, finite and ≥ 0.
    source
        Header of the image the dose grid belongs to (e.g. the reference SPECT's,
        read with ``pydicom.dcmread(file, stop_before_pixels=True)``): patient
        (name, ID, birth date, sex, body measures), study (instance UID, ID,
        date/time, accession number, description, referring physician) and
        PositionReferenceIndicator are copied from it; its FrameOfReferenceUID is
        used when the volume has none and must equal the volume's otherwise.
    patient, study
        Explicit values; they take precedence over the source's. Without either
        nothing is invented: name, ID, birth date and sex are written empty.
    summation_type
        DoseSummationType (default :data:`RTDOSE_SUMMATION_TYPE`, which needs no RT Plan).
    """
    if dose_volume.unit != "Gy":
        raise InvalidInputError("unit of the dose volume", expected="Gy", actual=dose_volume.unit)
    data = np.asarray(dose_volume.array, dtype=np.float64)
    if not np.all(np.isfinite(data)) or np.any(data < 0):
        raise InvalidInputError("dose voxels", expected="finite values >= 0 Gy", actual="other")
    if source is not None:
        dose_volume = _source_frame(dose_volume, source)
    arr, origin, d = _right_handed(dose_volume)
    data = np.asarray(arr, dtype=np.float64)
    nz, ny, nx = data.shape
    ds = _series_dataset(
        RTDOSE_SOP,
        "RTDOSE",
        dose_volume,
        d,
        patient=patient or PatientInfo(),
        study=study or StudyInfo(),
        t=dose_time or _dt.datetime.now(_dt.UTC),
        series_uid=generate_uid(),
        series_number=series_number,
        series_description=series_description[:64],
    )
    if source is not None:
        keywords: list[str] = ["PositionReferenceIndicator"]
        if patient is None:
            keywords += [k for k in PATIENT_STUDY_KEYWORDS if k.startswith("Patient")]
            keywords += list(PATIENT_MEASURE_KEYWORDS)
        if study is None:
            keywords += [k for k in PATIENT_STUDY_KEYWORDS if not k.startswith("Patient")]
        copy_from_source(ds, source, keywords)
    del ds.AcquisitionDate, ds.AcquisitionTime  # not in the RT Dose IOD
    ds.OperatorsName = ""
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = [f"{v:.6f}" for v in origin]
    ds.NumberOfFrames = nz
    ds.FrameIncrementPointer = pydicom.tag.Tag("GridFrameOffsetVector")
    ds.GridFrameOffsetVector = [f"{k * dose_volume.spacing[2]:.6f}" for k in range(nz)]
    _pixel_module(ds, ny, nx, 16, False)
    peak = float(data.max()) if data.size else 0.0
    ds.DoseUnits = "GY"
    ds.DoseType = dose_type
    ds.DoseSummationType = summation_type
    ds.DoseGridScaling = f"{peak / 65535.0 if peak > 0 else 1.0:.10g}"
    ds.DoseComment = comment[:64]
    stored = np.rint(data / float(ds.DoseGridScaling))  # the scaling as written
    ds.PixelData = stored.clip(0, 65535).astype("<u2").tobytes()
    path = Path(out_path)
    _atomic_save(ds, path)
    return path


def _source_frame(volume: Volume, source: Dataset) -> Volume:
    """``volume`` with the source's frame of reference (they must not disagree)."""
    src_for = str(source.get("FrameOfReferenceUID") or "") or None
    own = volume.frame_of_reference_uid
    if own and src_for and own != src_for:
        raise GeometryMismatchError(
            "FrameOfReferenceUID (0020,0052)",
            expected=f"the source image's {src_for}",
            actual=own,
            fix="pass the header of the image the dose grid was computed on",
        )
    if src_for and not own:
        return volume.with_metadata(frame_of_reference_uid=src_for, operation="copy_frame_uid")
    return volume


def read_rtdose(path: str | os.PathLike[str]) -> Volume:
    """Read an RTDOSE file (any writer) into a Volume in Gy.

    Frame positions come from ``GridFrameOffsetVector`` (relative to
    ImagePositionPatient along the slice normal); they must be uniform.
    """
    file = str(path)
    try:
        ds = pydicom.dcmread(file)
    except Exception as exc:
        raise DicomMetadataError(
            f"RTDOSE file {file}", expected="a readable DICOM file", actual=str(exc)
        ) from None
    if str(ds.get("Modality")) != "RTDOSE":
        raise DicomMetadataError(
            "Modality (0008,0060)", expected="RTDOSE", actual=ds.get("Modality")
        )
    units = str(ds.get("DoseUnits", "")).upper()
    if units != "GY":
        raise DicomMetadataError(
            "DoseUnits (3004,0002)",
            expected="GY",
            actual=units or "absent",
            fix="relative dose (RELATIVE) cannot be read as Gy",
        )
    scaling = float(ds.get("DoseGridScaling", 1.0))
    n = int(ds.get("NumberOfFrames", 1))
    iop = np.asarray([float(v) for v in ds.ImageOrientationPatient])
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    offsets = np.asarray([float(v) for v in ds.get("GridFrameOffsetVector", [0.0])])
    if offsets.size != n:
        raise DicomMetadataError(
            "GridFrameOffsetVector (3004,000C)",
            expected=f"{n} offsets (NumberOfFrames)",
            actual=offsets.size,
        )
    pixels = np.asarray(ds.pixel_array, dtype=np.float64).reshape(n, int(ds.Rows), int(ds.Columns))
    dz = 1.0
    if n > 1:
        steps = np.diff(offsets)
        dz = float(np.median(steps))
        if np.any(np.abs(steps - dz) > max(1e-3, 1e-3 * abs(dz))) or dz == 0:
            raise DicomMetadataError(
                "GridFrameOffsetVector (3004,000C)",
                expected="uniform frame spacing",
                actual=offsets.tolist(),
            )
    origin = np.asarray([float(v) for v in ds.ImagePositionPatient]) + offsets[0] * normal
    if dz < 0:
        pixels = pixels[::-1]
        origin = origin + normal * dz * (n - 1)
        dz = -dz
    ps = [float(v) for v in ds.PixelSpacing]
    out = (pixels * scaling).astype(np.float64)
    out.flags.writeable = False
    ref = None
    if ds.get("ContentDate") and ds.get("ContentTime"):
        off = ds.get("TimezoneOffsetFromUTC")
        ref = parse_dt(f"{ds.ContentDate}{ds.ContentTime}{off or '+0000'}", _dt.UTC)
    return Volume.from_array(
        out,
        spacing=(ps[1], ps[0], dz),
        origin=tuple(origin),
        direction=tuple(np.column_stack([row, col, normal]).ravel()),
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID") or "") or None,
        modality="RTDOSE",
        quantity="absorbed_dose",
        unit="Gy",
        reference_time=ref,
        name=str(ds.get("DoseComment") or Path(file).name),
        operation="read_rtdose",
        parameters={"dose_grid_scaling": scaling, "dose_type": str(ds.get("DoseType", ""))},
        inputs=(str(ds.get("SOPInstanceUID", "")),),
    )
