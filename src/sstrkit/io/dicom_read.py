"""Read PET, SPECT (NM) and CT DICOM series into :class:`~sstrkit.core.volume.Volume`.

Geometry follows the DICOM patient coordinate system (LPS), which is also
ITK's: the row and column direction cosines of ``ImageOrientationPatient``
and their cross product (the slice normal) are the columns of the direction
matrix; slices are sorted by ``ImagePositionPatient`` projected on the normal
(never by file name or InstanceNumber); the first slice's position is the
origin; in-plane spacing is ``PixelSpacing`` (row spacing first, i.e. y then x)
and the slice spacing is the (checked uniform) distance between positions.

Pixel values are ``stored × RescaleSlope + RescaleIntercept`` per slice (GE
PET uses a different slope on every slice). For NM, a Real World Value
Mapping (``RealWorldValueMappingSequence``) takes precedence when present.

Derived CT images (``ImageType`` value 1 ``DERIVED``) whose Real World Value
Mapping names a unit other than HU — the generic derived series written by
:func:`sstrkit.io.dicom_derived.write_derived_series` (dose, TIA, label and
parametric maps) — are read with the mapping's quantity (``LUTExplanation``)
and unit (``MeasurementUnitsCodeSequence``, see :data:`DERIVED_UNITS`); their
``units`` is ``"DERIVED"``.

The returned :class:`DicomSeries` holds the volume in the series' own units
(Bq/mL, SUV g/mL, counts, HU...) and the per-slice timing needed by
:mod:`sstrkit.io.suv`.

Rejected with :class:`~sstrkit.errors.DicomMetadataError`: secondary captures,
non-quantitative units (PROPCNTS, PROPCPS, ...), gantry tilt, mixed series,
duplicate slices, non-uniform spacing, corrupt files and non-reconstructed NM
(planar, whole-body, projections).
"""

from __future__ import annotations

import dataclasses
import os
import struct
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from sstrkit.core.volume import Volume
from sstrkit.errors import DicomMetadataError, SstrkitError
from sstrkit.io import dicom_scan
from sstrkit.io.dicom_scan import FileScan
from sstrkit.io.discover import (
    IMAGE_SOP_CLASSES,
    RTDOSE_SOP_CLASS,
    RTSTRUCT_SOP_CLASS,
    SECONDARY_CAPTURE_PREFIX,
    SeriesInfo,
    discover,
    select_series,
    units_of,
)
from sstrkit.io.plausibility import check_slice_count

__all__ = [
    "DERIVED_UNITS",
    "QUANTITIES",
    "DicomSeries",
    "SliceMeta",
    "derived_quantity",
    "read_series",
]

#: Units read as-is: DICOM Units (0054,1001) → (sstrkit quantity, unit).
QUANTITIES: dict[str, tuple[str, str]] = {
    "BQML": ("activity_concentration", "Bq/mL"),
    "GML": ("suv", "g/mL"),
    "CM2ML": ("suv_bsa", "cm2/mL"),
    "CNTS": ("counts", "counts"),
    "CPS": ("count_rate", "counts/s"),
    "HU": ("ct_number", "HU"),
}
#: UCUM codes of NM Real World Value Mapping units we accept.
_RWVM_UNITS = {"bq/ml": "BQML", "{counts}": "CNTS", "{counts}/s": "CPS", "g/ml{suvbw}": "GML"}
#: sstrkit unit → UCUM code (case sensitive) of derived-series Real World Value Mappings.
DERIVED_UNITS: dict[str, str] = {
    "Gy": "Gy",
    "Bq/mL": "Bq/mL",
    "Bq": "Bq",
    "MBq": "MBq",
    "Bq*s": "Bq.s",
    "Bq*s/mL": "Bq.s/mL",
    "MBq*h": "MBq.h",
    "1": "1",
    "g/mL": "g/mL",
    "cm2/mL": "cm2/mL",
    "1/s": "/s",
    "s": "s",
    "h": "h",
    "mL": "mL",
    "g": "g",
    "counts": "{counts}",
    "counts/s": "{counts}/s",
}
#: Coding scheme of units that have no UCUM code in :data:`DERIVED_UNITS` (code = unit).
PRIVATE_UNIT_SCHEME = "99SSTRKIT"
_UCUM_HU = "[hnsf'U]"
#: Relative (not quantitative) PET units.
NON_QUANTITATIVE_UNITS = frozenset({"PROPCNTS", "PROPCPS", "NONE", "PCNT"})


@dataclass(frozen=True)
class SliceMeta:
    """Per-slice (per-frame) values needed for quantification, in z order."""

    file: str
    position_mm: float
    rescale_slope: float
    rescale_intercept: float
    acquisition_date: str | None
    acquisition_time: str | None
    frame_reference_time_ms: float | None
    actual_frame_duration_ms: float | None


@dataclass(frozen=True)
class DicomSeries:
    """A series read from DICOM: the volume in native units plus its header.

    Attributes
    ----------
    volume
        Rescaled pixel values in the series' own units (see :data:`QUANTITIES`).
    header
        The first (most inferior along the normal) slice's dataset, without pixels.
    units
        DICOM units code (``BQML``, ``GML``, ``CM2ML``, ``CNTS``, ``CPS``, ``HU``).
    slices
        :class:`SliceMeta` per slice, in the volume's z order.
    warnings
        Findings about the series and its folder that are not errors: files
        skipped as unreadable (``skip_unreadable=True``), files a DICOMDIR
        lists that are missing, plausibility findings (e.g. fewer slices than
        ImagesInAcquisition); :mod:`sstrkit.io.suv` copies them into its results.
    skipped
        ``(file, reason)`` of every DICOM file left out because it could not be
        read (``skip_unreadable=True``); :attr:`warnings` names them too.
    """

    volume: Volume
    header: Dataset = field(repr=False)
    units: str
    slices: tuple[SliceMeta, ...] = field(repr=False)
    files: tuple[str, ...] = field(repr=False)
    warnings: tuple[str, ...] = field(default=(), repr=False)
    skipped: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def modality(self) -> str:
        return str(self.header.get("Modality", "OT"))

    @property
    def series_uid(self) -> str:
        return str(self.header.get("SeriesInstanceUID", ""))


def _float(ds: Dataset, keyword: str, default: float | None = None) -> float | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DicomMetadataError(
            f"{keyword} ({_tag(keyword)})",
            expected="a number",
            actual=repr(value),
            fix="correct the attribute",
        ) from None


def _tag(keyword: str) -> str:
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    if tag is None:
        return "?"
    return f"{tag >> 16:04X},{tag & 0xFFFF:04X}"


def _vec(ds: Dataset, keyword: str, n: int, file: str) -> NDArray[np.float64]:
    value = ds.get(keyword)
    try:
        arr = np.asarray([float(v) for v in value], dtype=float) if value is not None else None
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise DicomMetadataError(
            f"{keyword} ({_tag(keyword)}) in {file}",
            expected=f"{n} numbers",
            actual=repr(value),
            fix="the series lacks the geometry needed for a volume; export it again from "
            "the scanner/workstation",
        )
    return arr


def _check_sop_class(info_sop: str, modality: str) -> None:
    if info_sop.startswith(SECONDARY_CAPTURE_PREFIX):
        raise DicomMetadataError(
            "SOPClassUID (0008,0016)",
            expected="CT, PET or NM image storage",
            actual=f"{info_sop} (secondary capture, modality {modality}: a screenshot, "
            "not quantitative image data)",
            fix="select the original PET/SPECT/CT series (`sstrkit dicom ls DIR` lists them)",
        )
    if info_sop in (RTSTRUCT_SOP_CLASS, RTDOSE_SOP_CLASS):
        raise DicomMetadataError(
            "SOPClassUID (0008,0016)",
            expected="CT, PET or NM image storage",
            actual=f"{info_sop} (RT object)",
            fix="read RTSTRUCT with sstrkit.io.masks and RTDOSE with sstrkit.io.dicom_write"
            ".read_rtdose",
        )
    if info_sop not in IMAGE_SOP_CLASSES:
        raise DicomMetadataError(
            "SOPClassUID (0008,0016)",
            expected=f"one of {sorted(IMAGE_SOP_CLASSES)} (CT, PET, NM image storage)",
            actual=info_sop,
            fix="convert the series to a supported SOP class",
        )


def derived_quantity(ds: Dataset) -> tuple[str, str] | None:
    """(quantity, unit) of a derived CT image with a non-HU Real World Value Mapping, or None."""
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    rwvm = ds.get("RealWorldValueMappingSequence")
    if str(ds.get("Modality", "")) != "CT" or not image_type or image_type[0] != "DERIVED":
        return None
    if not rwvm or not rwvm[0].get("MeasurementUnitsCodeSequence"):
        return None
    item = rwvm[0]
    code = item.MeasurementUnitsCodeSequence[0]
    value = str(code.get("CodeValue", "")).strip()
    scheme = str(code.get("CodingSchemeDesignator", "")).strip().upper()
    if not value or value == _UCUM_HU:
        return None
    unit = value
    if scheme == "UCUM":
        unit = {v: k for k, v in DERIVED_UNITS.items()}.get(value, value)
    quantity = str(item.get("LUTExplanation") or item.get("LUTLabel") or "derived").strip()
    return quantity, unit


def _resolve_units(ds: Dataset, allow_non_quantitative: bool) -> str:
    modality = str(ds.get("Modality", ""))
    units = units_of(ds)
    if modality == "CT":
        return "DERIVED" if derived_quantity(ds) is not None else "HU"
    if units is not None and ds.get("Units") is None:  # from an RWVM code
        mapped = _RWVM_UNITS.get(units.lower())
        if mapped is None:
            raise DicomMetadataError(
                "RealWorldValueMappingSequence > MeasurementUnitsCodeSequence (0040,08EA)",
                expected=f"one of {sorted(_RWVM_UNITS)}",
                actual=repr(units),
                fix="export the SPECT in Bq/mL or counts",
            )
        units = mapped
    if units is None:
        if modality == "NM":
            return "CNTS"  # NM without units: counts per voxel (NM Image IOD)
        raise DicomMetadataError(
            "Units (0054,1001)",
            expected="BQML, GML, CM2ML, CNTS or CPS",
            actual="absent",
            fix="the series is not labelled quantitatively; re-export it from the scanner",
        )
    if units in NON_QUANTITATIVE_UNITS and not allow_non_quantitative:
        raise DicomMetadataError(
            "Units (0054,1001)",
            expected="quantitative units (BQML, GML, CM2ML, CNTS, CPS)",
            actual=f"{units} (relative values, no activity calibration)",
            fix="use a quantitative reconstruction; to read the relative values anyway pass "
            "allow_non_quantitative=True (no Bq/mL or SUV can be derived)",
        )
    if units not in QUANTITIES and units not in NON_QUANTITATIVE_UNITS:
        raise DicomMetadataError(
            "Units (0054,1001)",
            expected=f"one of {sorted(QUANTITIES)}",
            actual=units,
            fix="unsupported units (parametric image?); convert to Bq/mL first",
        )
    return units


def _rescale(ds: Dataset) -> tuple[float, float]:
    rwvm = ds.get("RealWorldValueMappingSequence")
    if rwvm and ds.get("Units") is None:
        item = rwvm[0]
        slope = _float(item, "RealWorldValueSlope", 1.0)
        icpt = _float(item, "RealWorldValueIntercept", 0.0)
    else:
        slope = _float(ds, "RescaleSlope", 1.0)
        icpt = _float(ds, "RescaleIntercept", 0.0)
    assert slope is not None and icpt is not None
    return slope, icpt


def _pixels(ds: Dataset, file: str, n_frames: int) -> NDArray[Any]:
    """Stored pixel values as (frames, rows, cols) without copying where possible."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise DicomMetadataError(
            f"SamplesPerPixel (0028,0002) in {file}",
            expected="1 (grayscale)",
            actual=ds.SamplesPerPixel,
        )
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    native_le = ts in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", None)
    bits = int(ds.get("BitsAllocated", 16))
    try:
        if native_le and bits in (8, 16, 32) and "PixelData" in ds:
            signed = int(ds.get("PixelRepresentation", 0)) == 1
            dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
            raw = ds.PixelData
            need = rows * cols * n_frames * dtype.itemsize
            if len(raw) < need:
                raise DicomMetadataError(
                    f"PixelData (7FE0,0010) in {file}",
                    expected=f"{need} bytes ({n_frames}×{rows}×{cols}×{dtype.itemsize})",
                    actual=f"{len(raw)} bytes (truncated or corrupt file)",
                    fix="copy the file again from the archive",
                )
            arr = np.frombuffer(raw, dtype=dtype, count=rows * cols * n_frames)
            stored_bits = int(ds.get("BitsStored", bits))
            if stored_bits < bits:
                if signed:
                    shift = bits - stored_bits
                    arr = (arr << shift) >> shift
                else:
                    arr = arr & ((1 << stored_bits) - 1)
            return arr.reshape(n_frames, rows, cols)
        out = np.asarray(ds.pixel_array)
    except DicomMetadataError:
        raise
    except Exception as exc:  # pydicom raises many types for bad pixel data
        raise DicomMetadataError(
            f"PixelData (7FE0,0010) in {file}",
            expected="decodable pixel data",
            actual=f"{type(exc).__name__}: {exc}",
            fix="the file is corrupt or uses an unsupported compression; re-export it uncompressed",
        ) from None
    return out.reshape(n_frames, rows, cols)


_NATIVE_LE = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")


def _raw_plane(ds: Dataset, file: str, offset: int | None) -> NDArray[Any] | None:
    """Stored values of a single-frame file read straight from the PixelData offset.

    Used for uncompressed little-endian files whose PixelData element position
    is known from discovery (saves a second full parse). Returns None when the
    file does not qualify; the caller then falls back to pydicom.
    """
    fm = getattr(ds, "file_meta", None)
    ts = fm.get("TransferSyntaxUID") if fm is not None else None
    bits = int(ds.get("BitsAllocated", 16))
    if offset is None or ts not in _NATIVE_LE or bits not in (8, 16, 32):
        return None
    if int(ds.get("BitsStored", bits)) != bits or int(ds.get("SamplesPerPixel", 1)) != 1:
        return None
    rows, cols = int(ds.Rows), int(ds.Columns)
    dtype = np.dtype(f"<{'i' if int(ds.get('PixelRepresentation', 0)) == 1 else 'u'}{bits // 8}")
    buf = np.empty((rows, cols), dtype=dtype)
    return buf if _read_plane_into(buf, file, offset, ts == _NATIVE_LE[1]) else None


def _read_plane_into(buf: NDArray[Any], file: str, offset: int, explicit: bool) -> bool:
    """Fill ``buf`` with the native PixelData found at ``offset``; False if not native there."""
    with open(file, "rb") as fh:
        fh.seek(offset)
        head = fh.read(12 if explicit else 8)
        if len(head) < (12 if explicit else 8):
            return False
        if head[:4] != b"\xe0\x7f\x10\x00":  # (7FE0,0010) little endian
            return False
        length = int.from_bytes(head[8:12] if explicit else head[4:8], "little")
        if length == 0xFFFFFFFF:  # encapsulated
            return False
        need = buf.nbytes
        got = fh.readinto(buf.data.cast("B"))
    if length < need or got < need:
        rows, cols = buf.shape
        raise DicomMetadataError(
            f"PixelData (7FE0,0010) in {file}",
            expected=f"{need} bytes (1×{rows}×{cols}×{buf.itemsize})",
            actual=f"{min(length, got)} bytes (truncated or corrupt file)",
            fix="copy the file again from the archive",
        )
    return True


def _orientation(ds: Dataset, file: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    iop = ds.get("ImageOrientationPatient")
    if iop is None and ds.get("DetectorInformationSequence"):
        iop = ds.DetectorInformationSequence[0].get("ImageOrientationPatient")
    if iop is None:
        raise DicomMetadataError(
            f"ImageOrientationPatient (0020,0037) in {file}",
            expected="6 direction cosines",
            actual="absent",
            fix="the series lacks geometry (planar image?); only tomographic volumes can be read",
        )
    try:
        v = np.asarray([float(x) for x in iop], dtype=float)
    except (TypeError, ValueError):
        v = np.zeros(0)
    if v.shape != (6,) or not np.all(np.isfinite(v)):
        raise DicomMetadataError(
            f"ImageOrientationPatient (0020,0037) in {file}",
            expected="6 direction cosines",
            actual=repr(iop),
            fix="correct the orientation attribute",
        )
    row, col = v[:3], v[3:]
    if (
        abs(np.linalg.norm(row) - 1) > 1e-3
        or abs(np.linalg.norm(col) - 1) > 1e-3
        or abs(float(row @ col)) > 1e-3
    ):
        raise DicomMetadataError(
            f"ImageOrientationPatient (0020,0037) in {file}",
            expected="two orthogonal unit vectors",
            actual=v.tolist(),
            fix="correct the orientation attribute",
        )
    return row / np.linalg.norm(row), col / np.linalg.norm(col)


def _check_tilt(ds: Dataset) -> None:
    tilt = _float(ds, "GantryDetectorTilt", 0.0)
    if tilt is not None and abs(tilt) > 1e-3:
        raise DicomMetadataError(
            "GantryDetectorTilt (0018,1120)",
            expected="0 degrees",
            actual=f"{tilt} degrees (sheared voxel grid)",
            fix="gantry-tilted series are not supported; resample to an orthogonal grid first",
        )


def _slice_meta(ds: Dataset, file: str, position: float) -> SliceMeta:
    slope, icpt = _rescale(ds)
    return SliceMeta(
        file=file,
        position_mm=position,
        rescale_slope=slope,
        rescale_intercept=icpt,
        acquisition_date=str(ds.get("AcquisitionDate") or "") or None,
        acquisition_time=str(ds.get("AcquisitionTime") or "") or None,
        frame_reference_time_ms=_float(ds, "FrameReferenceTime"),
        actual_frame_duration_ms=_float(ds, "ActualFrameDuration"),
    )


def _check_consistent(headers: Sequence[tuple[str, Dataset]]) -> None:
    first_file, first = headers[0]
    for keyword in (
        "SOPClassUID",
        "Modality",
        "Rows",
        "Columns",
        "Units",
        "FrameOfReferenceUID",
        "DecayCorrection",
    ):
        ref = first.get(keyword)
        for file, ds in headers[1:]:
            if ds.get(keyword) != ref:
                raise DicomMetadataError(
                    f"{keyword} ({_tag(keyword)})",
                    expected=f"the same value in every file of the series ({ref!r} in "
                    f"{first_file})",
                    actual=f"{ds.get(keyword)!r} in {file} (mixed series)",
                    fix="separate the files into one folder per series, or pass the files "
                    "of one series only",
                )
    ps0 = _vec(first, "PixelSpacing", 2, first_file)
    for file, ds in headers[1:]:
        if not np.allclose(_vec(ds, "PixelSpacing", 2, file), ps0, atol=1e-4):
            raise DicomMetadataError(
                "PixelSpacing (0028,0030)",
                expected=f"{ps0.tolist()} in every file (as in {first_file})",
                actual=f"{ds.PixelSpacing} in {file} (mixed series)",
                fix="separate the files into one folder per series",
            )


def _spacing_check(
    positions: NDArray[np.float64], files: Sequence[str], tolerance_mm: float | None
) -> float:
    diffs = np.diff(positions)
    if diffs.size == 0:
        return 0.0
    median = float(np.median(diffs))
    tol = tolerance_mm if tolerance_mm is not None else max(0.01, 1e-3 * abs(median))
    dup = np.flatnonzero(np.abs(diffs) <= max(tol, 1e-6))
    if dup.size:
        i = int(dup[0])
        raise DicomMetadataError(
            "ImagePositionPatient (0020,0032)",
            expected="one slice per position along the slice normal",
            actual=f"duplicate position {positions[i]:.3f} mm in {files[i]} and {files[i + 1]}",
            fix="remove the duplicate files (a copied file or a second acquisition of the same "
            "bed position); for several series in one folder choose one with --series",
        )
    bad = np.flatnonzero(np.abs(diffs - median) > tol)
    if bad.size:
        i = int(bad[0])
        # gaps of a whole number of slice spacings are missing slices
        steps = diffs / median
        whole = (np.abs(steps - np.rint(steps)) * abs(median) <= tol) & (np.rint(steps) >= 2)
        if np.all(whole[bad]):
            n_missing = int(np.sum(np.rint(steps[bad]) - 1))
            why = (
                f"missing slices: {n_missing} slice(s) missing; the first gap is "
                f"{diffs[i]:.4g} mm = {int(np.rint(steps[i]))} × {median:.4g} mm between "
                f"{files[i]} ({positions[i]:.3f} mm) and {files[i + 1]} "
                f"({positions[i + 1]:.3f} mm)"
            )
            fix = (
                f"add the {n_missing} missing file(s) (copy the whole series again from the "
                "archive)"
            )
        else:
            why = (
                f"spacing {diffs[i]:.4g} mm between {files[i]} and {files[i + 1]} "
                f"(range {diffs.min():.4g}–{diffs.max():.4g} mm: missing or overlapping slices)"
            )
            fix = (
                "complete the series; to accept small deviations raise the tolerance with "
                "spacing_tolerance_mm=... (CLI --spacing-tolerance-mm)"
            )
        raise DicomMetadataError(
            "ImagePositionPatient (0020,0032)",
            expected=f"uniform slice spacing ({median:.4g} mm ± {tol:.3g} mm)",
            actual=why,
            fix=fix,
        )
    return median


def _slice_geometry(
    ipps: NDArray[np.float64],
    files: Sequence[str],
    normal: NDArray[np.float64],
    tolerance_mm: float | None,
) -> tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.float64], float]:
    """Sort slice positions along the normal and check spacing and shear.

    Returns (order, sorted positions, sorted projections on the normal, spacing).
    """
    proj = ipps @ normal
    order = np.argsort(proj, kind="stable")
    ipps, proj = ipps[order], proj[order]
    files = [files[i] for i in order]
    dz = _spacing_check(proj, files, tolerance_mm)
    if len(files) > 1:
        # positions must lie on a line along the normal; otherwise the grid is sheared
        offsets = ipps - ipps[0]
        lateral = offsets - np.outer(offsets @ normal, normal)
        worst = int(np.argmax(np.linalg.norm(lateral, axis=1)))
        if np.linalg.norm(lateral[worst]) > max(0.01, 1e-3 * abs(dz) * len(files)):
            raise DicomMetadataError(
                "ImagePositionPatient (0020,0032)",
                expected="slice positions along the slice normal of ImageOrientationPatient",
                actual=f"{np.linalg.norm(lateral[worst]):.3g} mm off the normal in "
                f"{files[worst]} (gantry tilt or sheared grid)",
                fix="gantry-tilted series are not supported; resample to an orthogonal grid",
            )
    return order, ipps, proj, dz


def read_series(
    source: str | os.PathLike[str] | SeriesInfo | Sequence[str | os.PathLike[str]],
    *,
    series_uid: str | None = None,
    modalities: Sequence[str] | None = None,
    spacing_tolerance_mm: float | None = None,
    allow_non_quantitative: bool = False,
    skip_unreadable: bool = False,
    allow_incomplete: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> DicomSeries:
    """Read one CT, PET or NM series into a :class:`DicomSeries`.

    Parameters
    ----------
    source
        A folder (searched recursively), a :class:`SeriesInfo` from
        :func:`~sstrkit.io.discover.discover`, or a list of files.
    series_uid
        Which series to read when the folder holds several.
    modalities
        Restrict the automatic choice to these modalities (e.g. ``("PT", "NM")``).
    spacing_tolerance_mm
        Allowed deviation of a slice spacing from the median (default
        max(0.01 mm, 0.1 % of the spacing)).
    allow_non_quantitative
        Read PROPCNTS/PROPCPS series instead of rejecting them.
    skip_unreadable
        Leave out files with a DICOM preamble that cannot be parsed (default:
        raise); each one is listed in :attr:`DicomSeries.skipped` and
        :attr:`DicomSeries.warnings`, never dropped silently.
    allow_incomplete
        Read a series with fewer slices than its NumberOfSlices (0054,0081)
        (or a single file of a multi-slice acquisition) instead of raising;
        the shortfall is listed in :attr:`DicomSeries.warnings`
        (:func:`sstrkit.io.plausibility.check_slice_count`).
    progress
        Called as ``progress(done, total)`` after each file.
    """
    notes: list[str] = []
    skipped: list[tuple[Path, str]] = []
    if isinstance(source, SeriesInfo):
        info = source
    elif isinstance(source, str | os.PathLike):
        found = discover(source)
        skipped = _unreadable(found.unreadable, skip_unreadable, "in the folder")
        notes = list(found.warnings)
        info = select_series(found, series_uid=series_uid, modalities=modalities)
    else:
        files = [Path(f) for f in source]
        if not files:
            raise DicomMetadataError("files", expected="at least one DICOM file", actual="none")
        found = discover(files[0].parent)
        wanted = {str(f.resolve()) for f in files}
        skipped = _unreadable(
            [(f, why) for f, why in found.unreadable if str(f.resolve()) in wanted],
            skip_unreadable,
            "among the files given",
        )
        located = {str(f.resolve()) for s in found.series for f in s.files}
        located |= {str(f.resolve()) for f, _ in skipped}
        lost = [str(f) for f in files if str(f.resolve()) not in located]
        if lost:
            notes.append(
                f"{len(lost)} file(s) given are not DICOM files of {files[0].parent} and are "
                f"left out: {', '.join(lost[:_QUOTED])}"
                + (f" and {len(lost) - _QUOTED} more" if len(lost) > _QUOTED else "")
            )
        infos = []
        for s in found.series:
            keep = [i for i, f in enumerate(s.files) if str(f.resolve()) in wanted]
            if keep:
                infos.append(
                    dataclasses.replace(
                        s,
                        files=tuple(s.files[i] for i in keep),
                        scans=tuple(s.scans[i] for i in keep),
                        known_headers=tuple(s.known_headers[i] for i in keep),
                        pixel_offsets=tuple(s.pixel_offsets[i] for i in keep),
                        n_files=len(keep),
                    )
                )
        info = select_series(infos, series_uid=series_uid, modalities=modalities)
    series = _read_checked(info, spacing_tolerance_mm, allow_non_quantitative, progress)
    notes += _skipped_notes(skipped)
    notes += _completeness(series, allow_incomplete)
    if not (notes or skipped):
        return series
    return dataclasses.replace(
        series,
        warnings=tuple(notes),
        skipped=tuple((str(f), " ".join(why.split())) for f, why in skipped),
    )


def _read_checked(
    info: SeriesInfo,
    spacing_tolerance_mm: float | None,
    allow_non_quantitative: bool,
    progress: Callable[[int, int], None] | None,
) -> DicomSeries:
    """:func:`_read` with a last line of defence for headers no check anticipated.

    Malformed values that reach the pixel reader (missing Rows/Columns, a truncated
    pixel element, a rescale or position beyond float range) become one
    :class:`DicomMetadataError` naming the series, and a volume or geometry that is
    not finite is refused: never a traceback, never an inf in the output.
    """
    where = f"series {info.series_uid} ({info.n_files} files, first {info.files[0]})"
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            series = _read(info, spacing_tolerance_mm, allow_non_quantitative, progress)
    except SstrkitError:
        raise
    except (struct.error, AttributeError, TypeError, OverflowError, ValueError,
            ZeroDivisionError, IndexError, KeyError, EOFError) as exc:  # fmt: skip
        raise DicomMetadataError(
            where,
            expected="a series whose image attributes (Rows, Columns, PixelData, rescale, "
            "positions) can be read",
            actual=f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}",
            fix="export the series again from the archive, or remove the damaged files",
        ) from None
    vol = series.volume
    geometry = np.concatenate([np.asarray(vol.origin), np.asarray(vol.spacing)])
    if not np.all(np.isfinite(geometry)):
        raise DicomMetadataError(
            f"{where}: ImagePositionPatient / PixelSpacing",
            expected="finite positions and spacings",
            actual=f"origin {vol.origin}, spacing {vol.spacing}",
            fix="correct the geometry attributes or export the series again",
        )
    if not np.all(np.isfinite(np.asarray(vol.array))):
        raise DicomMetadataError(
            f"{where}: RescaleSlope / RescaleIntercept",
            expected="values that give finite voxel values",
            actual="infinite or NaN voxels after rescaling",
            fix="correct the rescale attributes or export the series again",
        )
    return series


#: How many file names one warning quotes before "and N more".
_QUOTED = 10


def _unreadable(
    bad: Sequence[tuple[Path, str]], skip_unreadable: bool, where: str
) -> list[tuple[Path, str]]:
    """The unreadable files to skip, or the error naming the first one."""
    if bad and not skip_unreadable:
        file, why = bad[0]
        raise DicomMetadataError(
            f"file {file}",
            expected="a readable DICOM file",
            actual=f"{why} ({len(bad)} unreadable file(s) {where})",
            fix="remove or replace the corrupt file(s), or pass skip_unreadable=True "
            "(CLI --skip-unreadable) to ignore them",
        )
    return list(bad)


def _skipped_notes(skipped: Sequence[tuple[Path, str]]) -> list[str]:
    """One warning per skipped file (the first :data:`_QUOTED`), then a count of the rest.

    >>> _skipped_notes([(Path("a.dcm"), "EOFError: truncated")])
    ['skipped unreadable DICOM file a.dcm (EOFError: truncated)']
    """
    notes = [
        f"skipped unreadable DICOM file {f} ({' '.join(why.split())})"
        for f, why in skipped[:_QUOTED]
    ]
    if len(skipped) > _QUOTED:
        notes.append(
            f"skipped {len(skipped) - _QUOTED} more unreadable DICOM file(s) "
            "(DicomSeries.skipped lists them all)"
        )
    return notes


def _completeness(series: DicomSeries, allow_incomplete: bool) -> list[str]:
    """Slices read vs NumberOfSlices / ImagesInAcquisition (plausibility check)."""

    def count(keyword: str) -> int | None:
        value = series.header.get(keyword)
        try:
            n = int(value) if value not in (None, "") else None
        except (TypeError, ValueError):
            return None
        return n if n is not None and n > 0 else None

    return check_slice_count(
        len(series.slices),
        modality=series.modality,
        number_of_slices=count("NumberOfSlices"),
        images_in_acquisition=count("ImagesInAcquisition"),
        allow_incomplete=allow_incomplete,
    )


def _read(
    info: SeriesInfo,
    spacing_tolerance_mm: float | None,
    allow_non_quantitative: bool,
    progress: Callable[[int, int], None] | None,
) -> DicomSeries:
    _check_sop_class(info.sop_class_uid, info.modality)
    plan = _fast_plan(info)
    if plan is not None:
        first = info.header(0)
        units = _resolve_units(first, allow_non_quantitative)
        _check_nm_image_type(first)
        return _read_fast(info, plan, units, spacing_tolerance_mm, progress)
    headers = [(str(f), ds) for f, ds in zip(info.files, info.headers, strict=True)]
    _check_consistent(headers)
    first = headers[0][1]
    units = _resolve_units(first, allow_non_quantitative)
    _check_nm_image_type(first)
    for _, ds in headers:
        _check_tilt(ds)
    multi = [(f, ds) for f, ds in headers if int(ds.get("NumberOfFrames") or 1) > 1]
    if multi:
        if len(headers) != 1:
            raise DicomMetadataError(
                "NumberOfFrames (0028,0008)",
                expected="one multi-frame file per series",
                actual=f"{len(headers)} files, {len(multi)} of them multi-frame (mixed series)",
                fix="pass one multi-frame file at a time",
            )
        return _read_multiframe(info, units, spacing_tolerance_mm, progress)
    return _read_single_frames(info, headers, units, spacing_tolerance_mm, progress)


def _check_nm_image_type(first: Dataset) -> None:
    if str(first.get("Modality")) == "NM":
        image_type = [str(v).upper() for v in (first.get("ImageType") or [])]
        if len(image_type) > 2 and ("RECON" not in image_type[2] or "GATED" in image_type[2]):
            raise DicomMetadataError(
                "ImageType (0008,0008)",
                expected="an NM reconstructed tomogram (value 3 'RECON TOMO')",
                actual="\\".join(image_type),
                fix="planar, whole-body, gated and projection NM data are not volumes; select "
                "the reconstructed SPECT series",
            )


@dataclass(frozen=True)
class _FastPlan:
    """Per-file values of a series that qualifies for the fast path (see :func:`_fast_plan`)."""

    files: list[str]
    scans: list[FileScan]
    ipps: NDArray[np.float64]
    row: NDArray[np.float64]
    col: NDArray[np.float64]
    pixel_spacing: NDArray[np.float64]
    metas: list[SliceMeta]
    dtypes: list[np.dtype[Any]]


#: attributes that must be byte-identical in every file for the fast path
_SAME_IN_ALL = (
    dicom_scan.SOP_CLASS_UID,
    dicom_scan.MODALITY,
    dicom_scan.ROWS,
    dicom_scan.COLUMNS,
    dicom_scan.UNITS,
    dicom_scan.FRAME_OF_REFERENCE_UID,
    dicom_scan.DECAY_CORRECTION,
    dicom_scan.PIXEL_SPACING,
)


def _fast_plan(info: SeriesInfo) -> _FastPlan | None:
    """Values for :func:`_read_fast` from the discovery scans, or None.

    The fast path covers the common case only: single-frame files scanned by
    :mod:`sstrkit.io.dicom_scan`, uncompressed little endian, consistent
    attributes, no Real World Value Mapping, no tilt, valid numbers. Any other
    series (including every malformed one) returns None and is read by the
    pydicom path, which produces the diagnostics; both paths give identical
    results where both apply (tested).
    """
    scans = list(info.scans)
    if not scans or len(scans) != len(info.files) or any(sc is None for sc in scans):
        return None
    ok: list[FileScan] = [sc for sc in scans if sc is not None]
    s0 = ok[0]
    for tag in _SAME_IN_ALL:
        ref = s0.raw.get(tag)
        if any(sc.raw.get(tag) != ref for sc in ok[1:]):
            return None
    files = [str(f) for f in info.files]
    try:
        ps = s0.numbers(dicom_scan.PIXEL_SPACING)
        rows, cols = s0.ushort(dicom_scan.ROWS), s0.ushort(dicom_scan.COLUMNS)
        if ps is None or len(ps) != 2 or not np.all(np.isfinite(ps)) or not rows or not cols:
            return None
        iop_cache: dict[bytes, NDArray[np.float64]] = {}
        ipps = np.empty((len(ok), 3))
        metas: list[SliceMeta] = []
        dtypes: list[np.dtype[Any]] = []
        for k, sc in enumerate(ok):
            if (
                sc.has(dicom_scan.REAL_WORLD_VALUE_MAPPING)
                or sc.transfer_syntax not in _NATIVE_LE
                or sc.pixel_offset is None
                or (sc.number(dicom_scan.NUMBER_OF_FRAMES) or 1) != 1
                or abs(sc.number(dicom_scan.GANTRY_TILT) or 0.0) > 1e-3
            ):
                return None
            iop_raw = sc.raw.get(dicom_scan.IMAGE_ORIENTATION_PATIENT)
            if iop_raw is None:
                return None
            if iop_raw not in iop_cache:
                iop = sc.numbers(dicom_scan.IMAGE_ORIENTATION_PATIENT)
                if iop is None or len(iop) != 6:
                    return None
                iop_cache[iop_raw] = np.asarray(iop, dtype=float)
            ipp = sc.numbers(dicom_scan.IMAGE_POSITION_PATIENT)
            if ipp is None or len(ipp) != 3:
                return None
            ipps[k] = ipp
            bits = sc.ushort(dicom_scan.BITS_ALLOCATED) or 16
            stored = sc.ushort(dicom_scan.BITS_STORED)
            spp = sc.ushort(dicom_scan.SAMPLES_PER_PIXEL)
            if bits not in (8, 16, 32) or (stored or bits) != bits or (spp or 1) != 1:
                return None
            signed = (sc.ushort(dicom_scan.PIXEL_REPRESENTATION) or 0) == 1
            dtypes.append(np.dtype(f"<{'i' if signed else 'u'}{bits // 8}"))
            slope = sc.number(dicom_scan.RESCALE_SLOPE)
            icpt = sc.number(dicom_scan.RESCALE_INTERCEPT)
            metas.append(
                SliceMeta(
                    file=files[k],
                    position_mm=0.0,  # set after sorting
                    rescale_slope=1.0 if slope is None else slope,
                    rescale_intercept=0.0 if icpt is None else icpt,
                    acquisition_date=sc.text(dicom_scan.ACQUISITION_DATE),
                    acquisition_time=sc.text(dicom_scan.ACQUISITION_TIME),
                    frame_reference_time_ms=sc.number(dicom_scan.FRAME_REFERENCE_TIME),
                    actual_frame_duration_ms=sc.number(dicom_scan.ACTUAL_FRAME_DURATION),
                )
            )
    except ValueError:
        return None
    if not np.all(np.isfinite(ipps)):
        return None
    # orientation checks as in _orientation; the first file's cosines are the reference
    orientations = []
    for v in iop_cache.values():  # insertion order: the first file's value comes first
        row, col = v[:3], v[3:]
        if (
            not np.all(np.isfinite(v))
            or abs(np.linalg.norm(row) - 1) > 1e-3
            or abs(np.linalg.norm(col) - 1) > 1e-3
            or abs(float(row @ col)) > 1e-3
        ):
            return None
        orientations.append((row / np.linalg.norm(row), col / np.linalg.norm(col)))
    row0, col0 = orientations[0]
    for r, c in orientations[1:]:
        if not (np.allclose(r, row0, atol=1e-4) and np.allclose(c, col0, atol=1e-4)):
            return None
    return _FastPlan(files, ok, ipps, row0, col0, np.asarray(ps), metas, dtypes)


def _read_fast(
    info: SeriesInfo,
    plan: _FastPlan,
    units: str,
    spacing_tolerance_mm: float | None,
    progress: Callable[[int, int], None] | None,
) -> DicomSeries:
    """Single-frame series from the discovery scans: geometry from the scanned
    values, pixels read straight from each file's PixelData offset."""
    row, col = plan.row, plan.col
    normal = np.cross(row, col)
    order, ipps, proj, dz = _slice_geometry(plan.ipps, plan.files, normal, spacing_tolerance_mm)
    if dz == 0.0:
        first = info.header(0)
        dz = _float(first, "SpacingBetweenSlices") or _float(first, "SliceThickness") or 1.0
    s0 = plan.scans[0]
    rows, cols = s0.ushort(dicom_scan.ROWS), s0.ushort(dicom_scan.COLUMNS)
    assert rows is not None and cols is not None
    n = len(order)
    out = np.empty((n, rows, cols), dtype=np.float32)
    slices: list[SliceMeta] = []
    scratch: dict[np.dtype[Any], NDArray[Any]] = {}
    for k, i in enumerate(order):
        file, sc, dtype = plan.files[i], plan.scans[i], plan.dtypes[i]
        meta = dataclasses.replace(plan.metas[i], position_mm=float(proj[k]))
        buf = scratch.get(dtype)
        if buf is None:
            buf = scratch[dtype] = np.empty((rows, cols), dtype=dtype)
        assert sc.pixel_offset is not None
        if _read_plane_into(buf, file, sc.pixel_offset, sc.explicit_vr):
            stored: NDArray[Any] = buf
        else:  # not where the scan said: let pydicom decode it
            stored = _pixels(_dcmread_full(file), file, 1)[0]
        np.multiply(stored, np.float32(meta.rescale_slope), out=out[k], casting="unsafe")
        if meta.rescale_intercept != 0.0:
            out[k] += np.float32(meta.rescale_intercept)
        slices.append(meta)
        if progress is not None:
            progress(k + 1, n)
    files = [plan.files[i] for i in order]
    header = info.header(int(order[0]))
    return _finish(
        info, out, header, units, slices, files, row, col, normal, ipps[0], plan.pixel_spacing, dz
    )


def _dcmread_full(file: str) -> Dataset:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # header problems were seen in discovery
            return pydicom.dcmread(file)
    except (InvalidDicomError, OSError, ValueError, KeyError, EOFError) as exc:
        raise DicomMetadataError(
            f"file {file}",
            expected="a readable DICOM file",
            actual=f"{type(exc).__name__}: {exc}",
            fix="copy the file again from the archive or remove it",
        ) from None


def _read_single_frames(
    info: SeriesInfo,
    headers: list[tuple[str, Dataset]],
    units: str,
    spacing_tolerance_mm: float | None,
    progress: Callable[[int, int], None] | None,
) -> DicomSeries:
    first_file, first = headers[0]
    row, col = _orientation(first, first_file)
    normal = np.cross(row, col)
    for file, ds in headers[1:]:
        r2, c2 = _orientation(ds, file)
        if not (np.allclose(r2, row, atol=1e-4) and np.allclose(c2, col, atol=1e-4)):
            raise DicomMetadataError(
                "ImageOrientationPatient (0020,0037)",
                expected=f"{np.r_[row, col].round(5).tolist()} in every file",
                actual=f"{np.r_[r2, c2].round(5).tolist()} in {file} (mixed series)",
                fix="separate the files into one folder per series",
            )
    ipps = np.array([_vec(ds, "ImagePositionPatient", 3, f) for f, ds in headers])
    order, ipps, proj, dz = _slice_geometry(
        ipps, [f for f, _ in headers], normal, spacing_tolerance_mm
    )
    headers = [headers[i] for i in order]
    files = [f for f, _ in headers]
    if dz == 0.0:
        dz = _float(first, "SpacingBetweenSlices") or _float(first, "SliceThickness") or 1.0
    rows, cols = int(first.Rows), int(first.Columns)
    out = np.empty((len(headers), rows, cols), dtype=np.float32)
    slices: list[SliceMeta] = []
    offsets = [info.pixel_offsets[i] if info.pixel_offsets else None for i in order]
    for k, (file, hdr) in enumerate(headers):
        meta = _slice_meta(hdr, file, float(proj[k]))
        plane = _raw_plane(hdr, file, offsets[k])
        if plane is not None:
            np.multiply(plane, np.float32(meta.rescale_slope), out=out[k], casting="unsafe")
            if meta.rescale_intercept != 0.0:
                out[k] += np.float32(meta.rescale_intercept)
            slices.append(meta)
            if progress is not None:
                progress(k + 1, len(headers))
            continue
        ds = _dcmread_full(file)
        stored = _pixels(ds, file, 1)[0]
        np.multiply(stored, np.float32(meta.rescale_slope), out=out[k], casting="unsafe")
        if meta.rescale_intercept != 0.0:
            out[k] += np.float32(meta.rescale_intercept)
        slices.append(meta)
        del ds
        if progress is not None:
            progress(k + 1, len(headers))
    ps = _vec(first, "PixelSpacing", 2, first_file)
    header = headers[0][1]
    return _finish(info, out, header, units, slices, files, row, col, normal, ipps[0], ps, dz)


def _read_multiframe(
    info: SeriesInfo,
    units: str,
    spacing_tolerance_mm: float | None,
    progress: Callable[[int, int], None] | None,
) -> DicomSeries:
    file = str(info.files[0])
    try:
        ds = pydicom.dcmread(file)
    except (InvalidDicomError, OSError, ValueError, KeyError, EOFError) as exc:
        raise DicomMetadataError(
            f"file {file}", expected="a readable DICOM file", actual=f"{type(exc).__name__}: {exc}"
        ) from None
    n = int(ds.NumberOfFrames)
    row, col = _orientation(ds, file)
    normal = np.cross(row, col)
    ipp_src: Dataset = ds
    if ds.get("ImagePositionPatient") is None and ds.get("DetectorInformationSequence"):
        ipp_src = ds.DetectorInformationSequence[0]
    if ipp_src.get("ImagePositionPatient") is None:
        raise DicomMetadataError(
            f"ImagePositionPatient (0020,0032) in {file}",
            expected="the position of the first frame (top level or in "
            "DetectorInformationSequence (0054,0022))",
            actual="absent",
            fix="the multi-frame file lacks geometry; re-export the reconstructed SPECT",
        )
    origin = _vec(ipp_src, "ImagePositionPatient", 3, file)
    dz = _float(ds, "SpacingBetweenSlices") or _float(ds, "SliceThickness")
    if dz is None or dz <= 0:
        raise DicomMetadataError(
            f"SpacingBetweenSlices (0018,0088) in {file}",
            expected="a positive slice spacing in mm",
            actual=ds.get("SpacingBetweenSlices"),
            fix="re-export the reconstructed SPECT with its slice spacing",
        )
    stored = _pixels(ds, file, n)
    slope, icpt = _rescale(ds)
    out = stored.astype(np.float32)
    out *= np.float32(slope)
    if icpt:
        out += np.float32(icpt)
    if progress is not None:
        progress(1, 1)
    base = _slice_meta(ds, file, 0.0)
    slices = [
        SliceMeta(**{**base.__dict__, "position_mm": float(origin @ normal + k * dz)})
        for k in range(n)
    ]
    header = ds.copy()
    del header.PixelData
    ps = _vec(ds, "PixelSpacing", 2, file)
    return _finish(info, out, header, units, slices, [file] * n, row, col, normal, origin, ps, dz)


def _finish(
    info: SeriesInfo,
    out: NDArray[np.float32],
    header: Dataset,
    units: str,
    slices: Sequence[SliceMeta],
    files: Sequence[str],
    row: NDArray[np.float64],
    col: NDArray[np.float64],
    normal: NDArray[np.float64],
    origin: NDArray[np.float64],
    pixel_spacing: NDArray[np.float64],
    dz: float,
) -> DicomSeries:
    if "PixelData" in header:
        header = header.copy()
        del header.PixelData
    direction = np.column_stack([row, col, normal]).ravel()
    quantity, unit = QUANTITIES.get(units, ("relative", "1"))
    derived = derived_quantity(header) if units == "DERIVED" else None
    if derived is not None:
        quantity, unit = derived
    if units == "GML":
        suv_type = str(header.get("SUVType") or "BW").upper()
        quantity = f"suv_{suv_type.lower()}"
    out.flags.writeable = False  # Volume keeps read-only arrays without copying
    volume = Volume.from_array(
        out,
        spacing=(float(pixel_spacing[1]), float(pixel_spacing[0]), float(abs(dz))),
        origin=tuple(float(v) for v in origin),
        direction=tuple(float(v) for v in direction),
        frame_of_reference_uid=str(header.get("FrameOfReferenceUID") or "") or None,
        modality=str(header.get("Modality") or "OT"),
        quantity=quantity,
        unit=unit,
        name=str(header.get("SeriesDescription") or info.series_uid),
        operation="read_dicom_series",
        parameters={
            "units": units,
            "n_slices": len(slices),
            "per_slice_rescale": len({(s.rescale_slope, s.rescale_intercept) for s in slices}) > 1,
            "sop_class_uid": info.sop_class_uid,
        },
        inputs=(info.series_uid,),
        sources=("DICOM PS3.3 C.7.6.2 Image Plane Module",),
    )
    return DicomSeries(volume, header, units, tuple(slices), tuple(files))
