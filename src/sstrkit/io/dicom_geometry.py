"""Image-plane geometry of a DICOM series (DICOM patient coordinates, LPS = ITK's).

The row and column direction cosines of ``ImageOrientationPatient`` and their
cross product (the slice normal) are the columns of the direction matrix;
slices are sorted by ``ImagePositionPatient`` projected on the normal (never by
file name or InstanceNumber); the slice spacing is the (checked uniform)
distance between positions. Refused with
:class:`~sstrkit.errors.DicomMetadataError`: missing or non-orthonormal
orientation, gantry tilt, positions off the normal (sheared grid), mixed series,
duplicate slices and non-uniform spacing (missing slices are counted).

Examples
--------
>>> import numpy as np
>>> order, ipps, proj, dz = _slice_geometry(
...     np.array([[0.0, 0.0, 4.0], [0.0, 0.0, 0.0], [0.0, 0.0, 2.0]]),
...     ["c", "a", "b"], np.array([0.0, 0.0, 1.0]), None)
>>> order.tolist(), proj.tolist(), dz
([1, 2, 0], [0.0, 2.0, 4.0], 2.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from sstrkit.errors import DicomMetadataError
from sstrkit.io.dicom_values import _float, _tag, _vec

__all__: list[str] = []


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
