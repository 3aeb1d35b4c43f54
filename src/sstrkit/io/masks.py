"""Masks on an image grid: from NIfTI label maps, DICOM RTSTRUCT contours or DICOM SEG.

* :func:`read_mask_nifti` reads a label map; on another grid it is resampled
  with nearest neighbour (labels are never mixed) only when asked
  (``resample_labels=True``, CLI ``--resample-labels``), else refused.
* :func:`rasterize_rtstruct` fills the closed planar contours of one ROI on
  the reference grid. A contour plane stands for the slab up to half-way to
  the ROI's neighbouring planes (half its plane spacing; half an image slice
  for a single plane); each image slice takes the contours of the nearest plane
  whose slab holds the slice centre (ties: the lower plane), and voxel centres
  inside those polygons (even–odd rule, so inner contours cut holes) are set.
  Contours finer than the slices (a 2 mm structure set on a 4 mm PET) are thus
  sampled at the slice centres, not combined; coarser ones fill every slice
  they cover.
* :func:`read_dicom_seg` reads a DICOM Segmentation (BINARY, FRACTIONAL or
  LABELMAP; one or many segments) into an integer label map whose values are
  the segment numbers, with the segment names (SegmentLabel, else the meaning
  of SegmentedPropertyTypeCodeSequence). Frames lying on the image grid (same
  orientation and pixel spacing, each frame at a slice position, any in-plane
  offset of whole voxels) are placed as they are; on another grid the label
  map is resampled with nearest neighbour only when asked, as for NIfTI masks.
  A FRACTIONAL voxel belongs to a segment at fraction >= 0.5. Where segments
  overlap, a voxel goes to the larger fraction and, between equals (always for
  BINARY), to the lower segment number; the overlap is reported in the notes.
  The DICOM SEG reader lives in :mod:`sstrkit.io.seg_read` (names re-exported here).

Examples
--------
>>> import numpy as np
>>> ref = Volume.from_array(np.zeros((1, 5, 5)))
>>> m = polygon_mask(ref, 0, np.array([[0.5, 0.5], [3.5, 0.5], [3.5, 3.5], [0.5, 3.5]]))
>>> int(m.sum())
9
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from numpy.typing import NDArray

from sstrkit.core.volume import Volume
from sstrkit.errors import DicomMetadataError, GeometryMismatchError, InvalidInputError
from sstrkit.io.nifti import read_nifti, sidecar_path
from sstrkit.io.seg_read import SEG_FRACTION_THRESHOLD as SEG_FRACTION_THRESHOLD
from sstrkit.io.seg_read import SEG_SOP_CLASSES as SEG_SOP_CLASSES
from sstrkit.io.seg_read import SegHeader as SegHeader
from sstrkit.io.seg_read import SegLabels as SegLabels
from sstrkit.io.seg_read import _on_grid as _on_grid
from sstrkit.io.seg_read import dicom_seg_info as dicom_seg_info
from sstrkit.io.seg_read import find_dicom_seg as find_dicom_seg
from sstrkit.io.seg_read import is_dicom_seg as is_dicom_seg
from sstrkit.io.seg_read import read_dicom_seg as read_dicom_seg

__all__ = [
    "SEG_FRACTION_THRESHOLD",
    "SEG_SOP_CLASSES",
    "SegLabels",
    "dicom_seg_info",
    "find_dicom_seg",
    "is_dicom_seg",
    "polygon_mask",
    "rasterize_rtstruct",
    "read_dicom_seg",
    "read_mask_nifti",
    "rtstruct_roi_names",
]


def read_mask_nifti(
    path: str | os.PathLike[str],
    reference: Volume,
    *,
    label: int | None = None,
    resample_labels: bool = False,
) -> Volume:
    """Boolean mask (uint8 0/1) of ``label`` (or any non-zero voxel) on ``reference``'s grid.

    A mask on another grid is resampled with nearest neighbour only when
    asked (``resample_labels=True``, CLI ``--resample-labels``, the flag of
    ``sstrkit read``); otherwise it is a :class:`GeometryMismatchError` whose
    fix names the flag. A mask whose JSON sidecar names another
    FrameOfReferenceUID is refused either way (it lies in another space).
    """
    vol = read_nifti(path)
    resampled = False
    if not vol.same_space(reference):
        a, b = vol.frame_of_reference_uid, reference.frame_of_reference_uid
        if a and b and a != b:
            raise GeometryMismatchError(
                f"FrameOfReferenceUID of mask {Path(path).name} (JSON sidecar)",
                expected=b,
                actual=a,
                fix="the mask belongs to another image space; register it first, or use a "
                "mask drawn on this image (e.g. an RTSTRUCT with --rtstruct)",
            )
        if not resample_labels:
            what, mine, theirs = "grid shape (z,y,x)", str(vol.shape), str(reference.shape)
            try:
                vol.check_same_space(reference)
            except GeometryMismatchError as exc:  # mask value first, image value second
                what, mine, theirs = exc.what.split(" of ")[0], str(exc.expected), str(exc.actual)
            sidecar = sidecar_path(path)
            frame = (
                "its sidecar names the image's frame of reference"
                if a and b
                else (
                    "its frame of reference cannot be checked (no JSON sidecar)"
                    if not sidecar.exists()
                    else "its frame of reference cannot be compared with the image's"
                )
            )
            raise GeometryMismatchError(
                f"mask {Path(path).name}: {what}",
                expected=f"{theirs} (the image grid)",
                actual=f"{mine} (the mask is on another grid; {frame})",
                fix="pass --resample-labels (library: resample_labels=True) to resample it "
                "onto the image grid with nearest neighbour, or export the mask on the image grid",
            )
        labels = vol.with_array(np.rint(vol.array).astype(np.int32), operation="round_labels")
        vol = labels.resample_to(reference, mode="nearest")
        resampled = True
    values = np.rint(vol.array).astype(np.int64)
    mask = (values == label) if label is not None else (values != 0)
    if not mask.any():
        raise InvalidInputError(
            f"mask {Path(path).name}",
            expected="at least one voxel inside the image"
            + (f" with label {label}" if label is not None else ""),
            actual="an empty mask on the image grid",
            fix="check the label value and that the mask belongs to this image",
        )
    out = mask.astype(np.uint8)
    out.flags.writeable = False
    return reference.with_array(
        out,
        operation="mask_from_nifti",
        parameters={"path": str(path), "label": label, "resampled_nearest": resampled},
        quantity="mask",
        unit="1",
        name=Path(path).name,
    )


def rtstruct_roi_names(path: str | os.PathLike[str]) -> list[str]:
    """Names of the ROIs in an RTSTRUCT file."""
    ds = _read_rtstruct(path)
    return [str(r.ROIName) for r in ds.get("StructureSetROISequence", [])]


def _read_rtstruct(path: str | os.PathLike[str]) -> pydicom.Dataset:
    try:
        ds = pydicom.dcmread(str(path))
    except Exception as exc:
        raise DicomMetadataError(
            f"RTSTRUCT file {path}", expected="a readable DICOM file", actual=str(exc)
        ) from None
    if str(ds.get("Modality")) != "RTSTRUCT":
        raise DicomMetadataError(
            "Modality (0008,0060)", expected="RTSTRUCT", actual=ds.get("Modality")
        )
    return ds


def polygon_mask(
    reference: Volume, k: int, polygon_ij: NDArray[np.float64], out: NDArray[np.bool_] | None = None
) -> NDArray[np.bool_]:
    """Toggle (even–odd) voxel centres of slice ``k`` inside a polygon in (i, j) index units."""
    nz, ny, nx = reference.shape
    target = out if out is not None else np.zeros((nz, ny, nx), dtype=bool)
    xs, ys = polygon_ij[:, 0], polygon_ij[:, 1]
    i0, i1 = max(int(np.floor(xs.min())), 0), min(int(np.ceil(xs.max())), nx - 1)
    j0, j1 = max(int(np.floor(ys.min())), 0), min(int(np.ceil(ys.max())), ny - 1)
    if i0 > i1 or j0 > j1:
        return target
    gi, gj = np.meshgrid(np.arange(i0, i1 + 1, dtype=float), np.arange(j0, j1 + 1, dtype=float))
    inside = np.zeros(gi.shape, dtype=bool)
    x1, y1 = xs, ys
    x2, y2 = np.roll(xs, -1), np.roll(ys, -1)
    for a, b, c, d in zip(x1, y1, x2, y2, strict=True):
        if b == d:
            continue
        crosses = (b > gj) != (d > gj)
        x_at = a + (gj - b) * (c - a) / (d - b)
        inside ^= crosses & (gi < x_at)
    target[k, j0 : j1 + 1, i0 : i1 + 1] ^= inside
    return target


def rasterize_rtstruct(path: str | os.PathLike[str], roi_name: str, reference: Volume) -> Volume:
    """Mask (uint8) of the RTSTRUCT ROI ``roi_name`` on ``reference``'s grid."""
    ds = _read_rtstruct(path)
    names = {int(r.ROINumber): str(r.ROIName) for r in ds.get("StructureSetROISequence", [])}
    numbers = [n for n, name in names.items() if name == roi_name]
    if not numbers:
        raise InvalidInputError(
            "ROI name",
            expected=f"one of {sorted(names.values())}",
            actual=roi_name,
            fix="pass one of the listed names with --roi",
        )
    ref_for = reference.frame_of_reference_uid
    for item in ds.get("StructureSetROISequence", []):
        roi_for = str(item.get("ReferencedFrameOfReferenceUID") or "")
        if int(item.ROINumber) == numbers[0] and ref_for and roi_for and roi_for != ref_for:
            raise GeometryMismatchError(
                "ReferencedFrameOfReferenceUID (3006,0024)",
                expected=ref_for,
                actual=roi_for,
                fix="the structure set belongs to another image space; register first",
            )
    contours: list[NDArray[np.float64]] = []
    for roi in ds.get("ROIContourSequence", []):
        if int(roi.ReferencedROINumber) != numbers[0]:
            continue
        for c in roi.get("ContourSequence", []):
            kind = str(c.get("ContourGeometricType", "CLOSED_PLANAR"))
            if kind not in ("CLOSED_PLANAR",):
                continue
            pts = np.asarray([float(v) for v in c.ContourData], dtype=float).reshape(-1, 3)
            contours.append(pts)
    return _fill(contours, reference, roi_name, str(path))


def _fill(
    contours: Sequence[NDArray[np.float64]], reference: Volume, roi_name: str, source: str
) -> Volume:
    if not contours:
        raise InvalidInputError(
            f"ROI {roi_name!r}",
            expected="at least one CLOSED_PLANAR contour",
            actual="none",
        )
    mask = np.zeros(reference.shape, dtype=bool)
    nz = reference.shape[0]
    # contours grouped by plane (position in slice-index units along the image normal)
    planes: dict[float, list[NDArray[np.float64]]] = {}
    for pts in contours:
        idx = reference.physical_to_index(pts)  # (x, y, z) continuous indices
        kz = idx[:, 2]
        if np.ptp(kz) > 0.5:
            raise InvalidInputError(
                f"contour of ROI {roi_name!r}",
                expected="planar contours parallel to the image slices",
                actual=f"contour spanning {np.ptp(kz):.2f} slices",
                fix="resample the image to the structure set's planes",
            )
        planes.setdefault(round(float(kz.mean()), 4), []).append(idx)
    # A contour plane stands for the slab half-way to its neighbour planes (half the ROI's
    # plane spacing; half a slice when it has one plane). Each slice takes the nearest
    # plane whose slab holds its centre (ties: the lower plane), so contours finer than
    # the slices are sampled at the slice centres, never XOR-ed together, and contours
    # coarser than the slices fill every slice they cover.
    zs = np.array(sorted(planes))
    gaps = np.diff(zs)
    half = float(gaps[gaps > 1e-3].min()) / 2 if np.any(gaps > 1e-3) else 0.5
    nearest: dict[int, float] = {}
    for z in zs.tolist():
        for k in range(
            max(math.ceil(z - half - 1e-6), 0), min(math.floor(z + half + 1e-6), nz - 1) + 1
        ):
            dist = abs(z - k)
            if k not in nearest or dist < abs(nearest[k] - k) - 1e-9:
                nearest[k] = z
    used = 0
    for k, z in sorted(nearest.items()):
        for idx in planes[z]:
            polygon_mask(reference, k, idx[:, :2], out=mask)
            used += 1
    if not mask.any():
        raise InvalidInputError(
            f"ROI {roi_name!r}",
            expected="contours inside the image volume",
            actual=f"{len(contours)} contours, none covering a voxel centre",
            fix="check that the RTSTRUCT belongs to this image",
        )
    out = mask.astype(np.uint8)
    out.flags.writeable = False
    return reference.with_array(
        out,
        operation="rasterize_rtstruct",
        parameters={"roi": roi_name, "contours": len(contours), "contours_in_volume": used},
        inputs=(source,),
        sources=("DICOM PS3.3 C.8.8.6 ROI Contour Module",),
        quantity="mask",
        unit="1",
        name=roi_name,
    )
