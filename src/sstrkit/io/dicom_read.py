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

The reader's steps live beside it (their public names are re-exported here):
:mod:`sstrkit.io.dicom_series` (:class:`DicomSeries`, :class:`SliceMeta`),
:mod:`sstrkit.io.dicom_units` (SOP class, units, rescale, derived quantities),
:mod:`sstrkit.io.dicom_geometry` (orientation, slice order and spacing),
:mod:`sstrkit.io.dicom_pixels` (stored pixel values),
:mod:`sstrkit.io.dicom_fast` (the fast path from the discovery scans) and
:mod:`sstrkit.io.dicom_values` (header numbers with typed errors).

Rejected with :class:`~sstrkit.errors.DicomMetadataError`: secondary captures,
non-quantitative units (PROPCNTS, PROPCPS, ...), gantry tilt, mixed series,
duplicate slices, non-uniform spacing, corrupt files and non-reconstructed NM
(planar, whole-body, projections).
"""

from __future__ import annotations

import dataclasses
import os
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from sstrkit.errors import DicomMetadataError, SstrkitError
from sstrkit.io.dicom_fast import _fast_plan, _read_fast
from sstrkit.io.dicom_geometry import (
    _check_consistent,
    _check_tilt,
    _orientation,
    _slice_geometry,
)
from sstrkit.io.dicom_pixels import _dcmread_full, _pixels, _raw_plane
from sstrkit.io.dicom_series import DicomSeries as DicomSeries
from sstrkit.io.dicom_series import SliceMeta as SliceMeta
from sstrkit.io.dicom_series import _finish, _slice_meta
from sstrkit.io.dicom_units import DERIVED_UNITS as DERIVED_UNITS
from sstrkit.io.dicom_units import NON_QUANTITATIVE_UNITS as NON_QUANTITATIVE_UNITS
from sstrkit.io.dicom_units import PRIVATE_UNIT_SCHEME as PRIVATE_UNIT_SCHEME
from sstrkit.io.dicom_units import QUANTITIES as QUANTITIES
from sstrkit.io.dicom_units import (
    _check_nm_image_type,
    _check_sop_class,
    _rescale,
    _resolve_units,
)
from sstrkit.io.dicom_units import derived_quantity as derived_quantity
from sstrkit.io.dicom_values import _float, _vec
from sstrkit.io.discover import SeriesInfo, discover, select_series
from sstrkit.io.plausibility import check_slice_count

__all__ = [
    "DERIVED_UNITS",
    "QUANTITIES",
    "DicomSeries",
    "SliceMeta",
    "derived_quantity",
    "first_series_header",
    "read_series",
]


def first_series_header(
    path: str | os.PathLike[str], series_uid: str | None = None
) -> Dataset | None:
    """The header (no pixels) of the first DICOM file of a series: ``path`` itself, or in a
    folder the first file in path order with ``series_uid`` (any series without one);
    files without a preamble are read too. None when no file qualifies."""
    import warnings

    p = Path(path)
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    for file in files:
        try:
            with warnings.catch_warnings():  # a header for its attributes: odd values pass
                warnings.simplefilter("ignore")
                try:
                    ds = pydicom.dcmread(file, stop_before_pixels=True)
                except InvalidDicomError:  # no preamble: the reader accepts such files too
                    ds = pydicom.dcmread(file, stop_before_pixels=True, force=True)
            if "SOPClassUID" not in ds:
                continue
        except (InvalidDicomError, OSError, ValueError, EOFError, AttributeError, TypeError):
            continue
        if series_uid and p.is_dir() and str(ds.get("SeriesInstanceUID")) != series_uid:
            continue
        return ds
    return None


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
        info, skipped, notes = _select_among_files(
            [Path(f) for f in source], series_uid, modalities, skip_unreadable
        )
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


def _select_among_files(
    files: list[Path],
    series_uid: str | None,
    modalities: Sequence[str] | None,
    skip_unreadable: bool,
) -> tuple[SeriesInfo, list[tuple[Path, str]], list[str]]:
    """The series to read among the files given, the unreadable ones skipped, and notes.

    The files' folder is discovered and each series restricted to the files
    given; files that are not DICOM files of that folder are listed in a note.
    """
    notes: list[str] = []
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
    return info, skipped, notes


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
