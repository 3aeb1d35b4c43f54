"""Fast path of the series reader: single-frame series read from the discovery scans.

The common case — single-frame files scanned by :mod:`sstrkit.io.dicom_scan`,
uncompressed little endian, consistent attributes, no Real World Value Mapping,
no tilt, valid numbers — is read without parsing the files again: geometry and
rescale come from the scanned values (:func:`_fast_plan`), pixels straight from
each file's PixelData offset (:func:`_read_fast`). Any other series (including
every malformed one) gets no plan and is read by the pydicom path of
:mod:`sstrkit.io.dicom_read`, which produces the diagnostics; both paths give
identical results where both apply (tested).

Examples
--------
>>> len(_SAME_IN_ALL)
8
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sstrkit.io import dicom_scan
from sstrkit.io.dicom_geometry import _slice_geometry
from sstrkit.io.dicom_pixels import _NATIVE_LE, _dcmread_full, _pixels, _read_plane_into
from sstrkit.io.dicom_scan import FileScan
from sstrkit.io.dicom_series import DicomSeries, SliceMeta, _finish
from sstrkit.io.dicom_values import _float
from sstrkit.io.discover import SeriesInfo

__all__: list[str] = []


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
