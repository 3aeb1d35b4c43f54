"""Derived image series for PACS: SUV maps and any other quantitative volume.

Two writers, both one file per slice through :func:`sstrkit.io.dicom_write.write_slices`
(template encoded once, atomic files):

* :func:`write_suv_series` — an SUV volume as a **derived PET series** (PET
  Image IOD): ``ImageType DERIVED\\PRIMARY`` (the PET Image IOD allows only
  PRIMARY as value 2), ``Units GML`` (``CM2ML`` for
  SUVbsa), ``SUVType`` from the volume's normalisation (bw → ``BW``, lbm
  (Janmahasatian) → ``LBMJANMA``, lbm-james → ``LBMJAMES128``, lbm-james120 →
  ``LBM``, ibw → ``IBW``, bsa → ``BSA``; DICOM CID 85), ``DecayCorrection
  START`` with SeriesDate/Time = the volume's reference time,
  ``CorrectedImage`` containing ``ATTN`` and ``DECY`` (plus the source's
  corrections), signed 16-bit with a per-slice RescaleSlope (error ≤ half a
  step = max|slice|/65534). PET viewers show such series in SUV directly, and
  :func:`sstrkit.io.suv.compute_suv` re-reads them (and converts to another
  normalisation with the header's patient data).
* :func:`write_derived_series` — any other quantity (absorbed dose in Gy, TIA,
  label maps, parametric maps) as a **derived CT image series** (CT Image IOD,
  ``ImageType DERIVED\\SECONDARY\\AXIAL``). Choice: the CT Image IOD is the
  classic single-frame image that every PACS, viewer and reader (GDCM/SimpleITK,
  pydicom, sstrkit) loads with full geometry and linear rescale; the Parametric
  Map IOD would be the purpose-made object but it is an enhanced multi-frame
  object with float pixel data that SimpleITK/GDCM and many PACS do not read.
  The value is ``stored × RescaleSlope`` (one slope for the whole series;
  ``RescaleType US`` = unspecified, not HU), and the quantity and unit are
  stated the standard way in a Real World Value Mapping item (``LUTExplanation``
  = quantity, ``MeasurementUnitsCodeSequence`` = UCUM unit, PS3.3 C.7.6.16.2.11),
  in ``SeriesDescription`` and in ``DerivationDescription``. Integer maps
  (labels) within 0…65535 (or −32768…32767) are stored exactly (slope 1);
  other maps as unsigned 16-bit when ≥ 0 (error ≤ max/131070) else signed
  (error ≤ max|v|/65534). A default window (min–max) is set for display
  (``VOILUTFunction LINEAR_EXACT`` when it is narrower than 1).
  :func:`sstrkit.io.dicom_read.read_series` reads it back with that quantity
  and unit (``units == "DERIVED"``).

With ``source`` (the :class:`~sstrkit.io.dicom_read.DicomSeries` the volume was
derived from) patient, study and body measures are copied from its header, the
frame of reference must be the source's, and (SUV) its radiopharmaceutical
information and corrections are kept. So are the series attributes that describe the
patient's position (BodyPartExamined, Laterality, PatientPosition; SUV: the PET
patient orientation codes, CollimatorType, ActualFrameDuration) when the source has
them; without a source they are written empty (unknown), never invented.

Examples
--------
>>> import tempfile, datetime as dt
>>> import numpy as np
>>> from sstrkit.core.volume import Volume
>>> from sstrkit.io.dicom_read import read_series
>>> dose = Volume.from_array(np.full((2, 3, 4), 1.5), quantity="absorbed_dose", unit="Gy",
...                          frame_of_reference_uid="1.2.3")
>>> with tempfile.TemporaryDirectory() as d:
...     files = write_derived_series(dose, d)
...     back = read_series(d).volume
>>> len(files), back.quantity, back.unit, float(back.array.max())
(2, 'absorbed_dose', 'Gy', 1.5)
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.io.dicom_read import DERIVED_UNITS, PRIVATE_UNIT_SCHEME, DicomSeries
from sstrkit.io.dicom_write import (
    PATIENT_MEASURE_KEYWORDS,
    PATIENT_STUDY_KEYWORDS,
    PET_PER_SLICE,
    SOURCE_SERIES_KEYWORDS,
    PatientInfo,
    Radiopharmaceutical,
    StudyInfo,
    _radiopharm,
    copy_from_source,
    ct_template,
    int16_per_slice_slope,
    pet_template,
    write_slices,
)
from sstrkit.io.suv import NORMALIZATIONS, UNITS_OF_NORM

__all__ = ["SUV_TYPES_OUT", "suv_normalization", "write_derived_series", "write_suv_series"]

#: sstrkit SUV normalisation → (DICOM Units, SUVType) (DICOM CID 85; "LBM" is James 120).
SUV_TYPES_OUT: dict[str, tuple[str, str]] = {
    "bw": ("GML", "BW"),
    "lbm": ("GML", "LBMJANMA"),
    "lbm-james": ("GML", "LBMJAMES128"),
    "lbm-james120": ("GML", "LBM"),
    "ibw": ("GML", "IBW"),
    "bsa": ("CM2ML", "BSA"),
}
_REQUIRED_CORRECTIONS = ("ATTN", "DECY")
#: PET series/image attributes a derived SUV series copies from a PET source when present.
_PET_SOURCE_KEYWORDS = (
    "PatientOrientationCodeSequence",
    "PatientGantryRelationshipCodeSequence",
    "CollimatorType",
    "ActualFrameDuration",
)


def suv_normalization(volume: Volume) -> str:
    """Normalisation of an SUV volume from its quantity (``SUV``/``suv`` = body weight).

    >>> suv_normalization(Volume.from_array(np.ones((1, 1, 1)), quantity="suv_lbm",
    ...                                     unit="g/mL"))
    'lbm'
    """
    q = (volume.quantity or "").strip()
    norm = "bw" if q.lower() == "suv" else q[4:] if q.lower().startswith("suv_") else ""
    if norm not in NORMALIZATIONS:
        raise InvalidInputError(
            "quantity of the SUV volume",
            expected=f"'SUV' (body weight) or one of {[f'suv_{n}' for n in NORMALIZATIONS]}",
            actual=volume.quantity,
            fix="compute it with sstrkit.io.suv.compute_suv, or write other quantities with "
            "write_derived_series",
        )
    if volume.unit != UNITS_OF_NORM[norm]:
        raise InvalidInputError(
            f"unit of the SUV{norm} volume", expected=UNITS_OF_NORM[norm], actual=volume.unit
        )
    return norm


def _finite(volume: Volume, what: str) -> None:
    if not np.all(np.isfinite(volume.array)):
        raise InvalidInputError(f"{what} voxels", expected="finite values", actual="NaN or inf")


def _frame_of_reference(volume: Volume, source: DicomSeries | None) -> Volume:
    """The volume with the source's frame of reference (they must not disagree)."""
    if source is None:
        return volume
    src_for = str(source.header.get("FrameOfReferenceUID") or "") or None
    own = volume.frame_of_reference_uid
    if own and src_for and own != src_for:
        raise GeometryMismatchError(
            "FrameOfReferenceUID (0020,0052)",
            expected=f"the source series' {src_for}",
            actual=own,
            fix="the volume belongs to another image space; register it to the source first",
        )
    if src_for and not own:
        return volume.with_metadata(frame_of_reference_uid=src_for, operation="copy_frame_uid")
    return volume


def _copy_identity(
    ds: Dataset, source: DicomSeries | None, patient: PatientInfo | None, study: StudyInfo | None
) -> None:
    if source is None:
        return
    keywords: list[str] = ["PositionReferenceIndicator", *SOURCE_SERIES_KEYWORDS]
    if patient is None:
        keywords += [k for k in PATIENT_STUDY_KEYWORDS if k.startswith("Patient")]
        keywords += list(PATIENT_MEASURE_KEYWORDS)
    if study is None:
        keywords += [k for k in PATIENT_STUDY_KEYWORDS if not k.startswith("Patient")]
    copy_from_source(ds, source.header, keywords)


def write_suv_series(
    volume: Volume,
    out_dir: str | os.PathLike[str],
    *,
    source: DicomSeries | None = None,
    patient: PatientInfo | None = None,
    study: StudyInfo | None = None,
    radiopharmaceutical: Radiopharmaceutical | None = None,
    series_description: str | None = None,
    series_number: int = 100,
    series_uid: str | None = None,
) -> list[Path]:
    """Write an SUV volume as a derived PET series (``Units GML``/``CM2ML``, ``SUVType``).

    Parameters
    ----------
    volume
        SUV volume: quantity ``SUV`` (body weight) or ``suv_<normalisation>``
        (as made by :func:`~sstrkit.io.suv.compute_suv`), unit g/mL (cm²/mL for
        bsa), with ``reference_time`` (the time the SUV refers to; SeriesDate/Time).
    source
        The series the SUV was computed from: patient, study, body measures,
        radiopharmaceutical and corrections are copied; frames of reference must agree.
    patient, study, radiopharmaceutical
        Explicit values (they take precedence over the source's). Patient weight
        (and height/sex for lbm/bsa/ibw) let readers convert to other normalisations.

    Returns
    -------
    list of Path
        ``PT_0001.dcm`` ... in slice order.
    """
    norm = suv_normalization(volume)
    units, suv_type = SUV_TYPES_OUT[norm]
    ref = volume.reference_time
    if ref is None:
        raise InvalidInputError(
            "reference_time of the SUV volume",
            expected="the time the SUV refers to (becomes SeriesDate/Time)",
            actual=None,
            fix="set it with volume.with_metadata(reference_time=...)",
        )
    _finite(volume, "SUV")
    volume = _frame_of_reference(volume, source)
    corrections = list(_REQUIRED_CORRECTIONS)
    src_corr = source.header.get("CorrectedImage") if source is not None else None
    if src_corr:
        values = [str(src_corr)] if isinstance(src_corr, str) else [str(v) for v in src_corr]
        corrections += [c for c in values if c not in corrections]
    ds = pet_template(
        volume,
        patient=patient or PatientInfo(),
        study=study or StudyInfo(),
        reference_time=ref,
        series_uid=series_uid or generate_uid(),
        series_number=series_number,
        series_description=series_description or f"SUV{norm} (sstrkit)",
        units=units,
        decay_correction="START",
        image_type=("DERIVED", "PRIMARY"),
        corrected_image=tuple(corrections),
    )
    _copy_identity(ds, source, patient, study)
    if source is not None and str(source.header.get("Modality", "")) == "PT":
        copy_from_source(ds, source.header, _PET_SOURCE_KEYWORDS)
    ds.SUVType = suv_type
    ds.DerivationDescription = _derivation(f"SUV{norm} [{volume.unit}]", source)
    if radiopharmaceutical is not None:
        _radiopharm(ds, radiopharmaceutical)
    elif source is not None and source.header.get("RadiopharmaceuticalInformationSequence"):
        ds.RadiopharmaceuticalInformationSequence = DicomSequence(
            [item.copy() for item in source.header.RadiopharmaceuticalInformationSequence]
        )
    else:
        ds.RadiopharmaceuticalInformationSequence = DicomSequence([])  # Type 2: empty
    return write_slices(ds, volume, Path(out_dir), "PT", PET_PER_SLICE, int16_per_slice_slope)


def _derivation(what: str, source: DicomSeries | None) -> str:
    text = f"sstrkit: {what}"
    if source is not None:
        text += f" derived from series {source.series_uid}"
    return text[:1024]


def _unit_code(unit: str) -> tuple[str, str, str]:
    """(CodeValue, CodingSchemeDesignator, CodeMeaning) of a sstrkit unit."""
    if unit in DERIVED_UNITS:
        code = DERIVED_UNITS[unit]
        return code, "UCUM", "no units" if code == "1" else code
    if not unit or len(unit) > 16 or "\\" in unit:
        raise InvalidInputError(
            "unit of the derived volume",
            expected=f"one of {sorted(DERIVED_UNITS)} or a short (<= 16 characters) unit name",
            actual=unit,
        )
    return unit, PRIVATE_UNIT_SCHEME, unit


def _storage(arr: NDArray[Any]) -> tuple[bool, float]:
    """(signed, slope) for 16-bit storage of the whole series (intercept 0)."""
    values = np.asarray(arr, dtype=np.float64)
    lo = float(values.min()) if values.size else 0.0
    hi = float(values.max()) if values.size else 0.0
    integral = bool(np.all(values == np.rint(values)))
    if integral and lo >= 0 and hi <= 65535:
        return False, 1.0
    if integral and lo >= -32768 and hi <= 32767:
        return True, 1.0
    if lo >= 0:
        return False, hi / 65535.0 if hi > 0 else 1.0
    return True, max(abs(lo), abs(hi)) / 32767.0


def write_derived_series(
    volume: Volume,
    out_dir: str | os.PathLike[str],
    *,
    source: DicomSeries | None = None,
    patient: PatientInfo | None = None,
    study: StudyInfo | None = None,
    content_time: _dt.datetime | None = None,
    series_description: str | None = None,
    series_number: int = 101,
    series_uid: str | None = None,
) -> list[Path]:
    """Write any quantitative volume as a derived CT image series (see the module docstring).

    ``volume.quantity`` and ``volume.unit`` are stored in the Real World Value
    Mapping and read back by :func:`sstrkit.io.dicom_read.read_series`.
    Acquisition/Series time = ``volume.reference_time``, else ``content_time``,
    else now (UTC). Returns ``CT_0001.dcm`` ... in slice order.
    """
    if volume.unit == "HU":
        raise InvalidInputError(
            "unit of the derived volume",
            expected="a quantity other than CT numbers",
            actual="HU",
            fix="write CT images with sstrkit.io.dicom_write.write_ct_series",
        )
    _finite(volume, "derived")
    code = _unit_code(volume.unit)
    volume = _frame_of_reference(volume, source)
    quantity = volume.quantity or "derived"
    signed, slope = _storage(volume.array)
    t = volume.reference_time or content_time or _dt.datetime.now(_dt.UTC)
    ds = ct_template(
        volume,
        patient=patient or PatientInfo(),
        study=study or StudyInfo(),
        acquisition_time=t,
        series_uid=series_uid or generate_uid(),
        series_number=series_number,
        series_description=series_description or f"{quantity} [{volume.unit}] (sstrkit)"[:64],
        image_type=("DERIVED", "SECONDARY", "AXIAL"),
        signed=signed,
    )
    _copy_identity(ds, source, patient, study)
    ds.RescaleSlope = f"{slope:.10g}"
    ds.RescaleIntercept = "0"
    ds.RescaleType = "US"
    ds.DerivationDescription = _derivation(f"{quantity} [{volume.unit}]", source)
    lo_stored, hi_stored = (-32768, 32767) if signed else (0, 65535)
    slope_ds = float(ds.RescaleSlope)  # the value as written, so both mappings agree
    rw = Dataset()
    vr = "SS" if signed else "US"
    rw.add_new(0x00409216, vr, lo_stored)  # RealWorldValueFirstValueMapped
    rw.add_new(0x00409211, vr, hi_stored)  # RealWorldValueLastValueMapped
    rw.RealWorldValueSlope = slope_ds
    rw.RealWorldValueIntercept = 0.0
    rw.LUTLabel = quantity[:16]
    rw.LUTExplanation = quantity[:64]
    unit_item = Dataset()
    unit_item.CodeValue, unit_item.CodingSchemeDesignator, unit_item.CodeMeaning = code
    rw.MeasurementUnitsCodeSequence = DicomSequence([unit_item])
    ds.RealWorldValueMappingSequence = DicomSequence([rw])
    values = np.asarray(volume.array, dtype=np.float64)
    lo = float(values.min()) if values.size else 0.0
    hi = float(values.max()) if values.size else 0.0
    ds.WindowCenter = f"{(lo + hi) / 2:.6g}"
    ds.WindowWidth = f"{max(hi - lo, slope_ds):.6g}"
    if float(ds.WindowWidth) < 1.0:
        # the default LINEAR function needs a width >= 1 (it uses width - 1); maps of small
        # values (e.g. < 1 Gy) are windowed exactly on their own scale instead
        ds.VOILUTFunction = "LINEAR_EXACT"
    dtype = "<i2" if signed else "<u2"

    def encode(plane: NDArray[Any]) -> tuple[dict[str, Any], bytes]:
        stored = np.rint(np.asarray(plane, dtype=np.float64) / slope_ds)
        return {}, np.clip(stored, lo_stored, hi_stored).astype(dtype).tobytes()

    return write_slices(ds, volume, Path(out_dir), "CT", (), encode)
