"""RTDOSE: absorbed-dose maps (Gy) written and read as DICOM RT Dose.

Written as one multi-frame file, unsigned 16-bit with ``DoseGridScaling`` (Gy;
quantisation error ≤ half a step = max/131070), patient and study copied from
the source image's header (``source=``), DoseSummationType
:data:`RTDOSE_SUMMATION_TYPE`. Read from any writer with frame positions from
``GridFrameOffsetVector`` (uniform). Both functions are re-exported by
:mod:`sstrkit.io.dicom_write`.

Examples
--------
>>> RTDOSE_SUMMATION_TYPE
'CYCLE'
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Literal

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from sstrkit.core.volume import Volume
from sstrkit.errors import DicomMetadataError, GeometryMismatchError, InvalidInputError
from sstrkit.io.dicom_modules import (
    PATIENT_MEASURE_KEYWORDS,
    PATIENT_STUDY_KEYWORDS,
    PatientInfo,
    StudyInfo,
    _atomic_save,
    _pixel_module,
    _right_handed,
    _series_dataset,
    copy_from_source,
)
from sstrkit.io.dicom_time import parse_dt

__all__ = ["RTDOSE_SOP", "RTDOSE_SUMMATION_TYPE", "read_rtdose", "write_rtdose"]

RTDOSE_SOP = "1.2.840.10008.5.1.4.1.1.481.2"

#: DoseSummationType of sstrkit's RTDOSE: the dose of one radiopharmaceutical
#: administration (therapy cycle). Every standard Defined Term of the RT Dose module
#: (PLAN, MULTI_PLAN, FRACTION, BEAM, BRACHY, *_SESSION, CONTROL_POINT) requires a
#: ReferencedRTPlanSequence and RECORD a ReferencedTreatmentRecordSequence; a molecular
#: radiotherapy dose has neither, so the term is extended (Defined Terms may be).
RTDOSE_SUMMATION_TYPE = "CYCLE"


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
