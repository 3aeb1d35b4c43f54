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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pydicom
from numpy.typing import NDArray

from sstrkit.core.volume import Volume
from sstrkit.errors import DicomMetadataError, GeometryMismatchError, InvalidInputError
from sstrkit.io.nifti import read_nifti, sidecar_path

if TYPE_CHECKING:
    import highdicom as hd

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


# ------------------------------------------------------------------ DICOM SEG
#: SOP classes of DICOM Segmentations (PS3.4 B.5): the segmentation and the label-map one.
SEG_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.66.4": "Segmentation Storage",
    "1.2.840.10008.5.1.4.1.1.66.7": "Label Map Segmentation Storage",
}
#: A voxel of a FRACTIONAL segment belongs to it from this fraction (occupancy or probability).
SEG_FRACTION_THRESHOLD = 0.5
#: Distance (mm) within which a SEG frame lies on an image slice / voxel lattice.
_SEG_TOL_MM = 1e-2
#: Direction-cosine tolerance of a SEG frame against the image axes.
_SEG_TOL_DIR = 1e-4


@dataclass(frozen=True)
class SegHeader:
    """What a DICOM SEG file says about itself (header only, no pixels)."""

    path: Path
    series_uid: str
    sop_instance_uid: str
    frame_of_reference_uid: str | None
    referenced_series_uids: tuple[str, ...]
    names: dict[int, str]
    segmentation_type: str
    series_description: str


@dataclass(frozen=True)
class SegLabels:
    """A DICOM SEG as an integer label map (value = segment number) and its names."""

    labels: Volume
    names: dict[int, str]
    notes: tuple[str, ...]
    header: SegHeader
    #: placed by nearest neighbour from another grid (``resample_labels``)
    resampled: bool
    #: left on the SEG's own grid (``keep_own_grid``): not on the reference grid
    own_grid: bool
    #: voxels claimed by more than one segment (resolved as the module docstring says)
    overlap_voxels: int


def _read_header(path: Path) -> pydicom.Dataset | None:
    try:
        return pydicom.dcmread(str(path), stop_before_pixels=True)
    except Exception:  # not DICOM, truncated, unreadable: not a SEG
        return None


def is_dicom_seg(path: str | os.PathLike[str]) -> bool:
    """True for a readable DICOM file of a Segmentation SOP class (or Modality SEG)."""
    p = Path(path)
    if not p.is_file() or p.name.endswith((".nii", ".nii.gz", ".json")):
        return False
    ds = _read_header(p)
    if ds is None:
        return False
    return str(ds.get("SOPClassUID", "")) in SEG_SOP_CLASSES or str(ds.get("Modality")) == "SEG"


def find_dicom_seg(path: str | os.PathLike[str]) -> Path | None:
    """The DICOM SEG file ``path`` is, or the one SEG file of the folder ``path``.

    ``None`` when ``path`` is neither a SEG file nor a folder holding one. A folder
    with SEG files of several series (or several instances) is an
    :class:`InvalidInputError` that lists them: pass the file.
    """
    p = Path(path)
    if p.is_file():
        return p if is_dicom_seg(p) else None
    if not p.is_dir():
        return None
    found: dict[str, list[Path]] = {}
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        if is_dicom_seg(f):
            ds = _read_header(f)
            uid = str(ds.get("SeriesInstanceUID", "")) if ds is not None else ""
            found.setdefault(uid, []).append(f)
    if not found:
        return None
    files = [f for fs in found.values() for f in fs]
    if len(files) > 1:
        raise InvalidInputError(
            f"DICOM SEG folder {p}",
            expected="one DICOM Segmentation (one series, one file)",
            actual=f"{len(files)} SEG files of {len(found)} series: "
            + ", ".join(str(f.relative_to(p)) for f in files[:5])
            + (" …" if len(files) > 5 else ""),
            fix="pass the SEG file itself",
        )
    return files[0]


def _segment_name(item: pydicom.Dataset) -> str:
    label = str(item.get("SegmentLabel") or "").strip()
    if label:
        return label
    seq = item.get("SegmentedPropertyTypeCodeSequence") or []
    meaning = str(seq[0].get("CodeMeaning") or "").strip() if seq else ""
    if meaning and seq:
        mods = seq[0].get("SegmentedPropertyTypeModifierCodeSequence") or []
        extra = " ".join(str(m.get("CodeMeaning") or "").strip().lower() for m in mods)
        meaning = f"{meaning} {extra}".strip()
    return meaning or f"segment {int(item.SegmentNumber)}"


def _seg_header(path: Path, ds: pydicom.Dataset) -> SegHeader:
    if str(ds.get("SOPClassUID", "")) not in SEG_SOP_CLASSES and str(ds.get("Modality")) != "SEG":
        raise DicomMetadataError(
            f"SOPClassUID (0008,0016) of {path.name}",
            expected="a DICOM Segmentation (Modality SEG)",
            actual=f"{ds.get('SOPClassUID', 'none')} (Modality {ds.get('Modality', 'none')})",
            fix="pass the SEG file of the segmentation",
        )
    names: dict[int, str] = {}
    for item in ds.get("SegmentSequence") or []:
        if int(item.SegmentNumber) > 0:  # a LABELMAP may describe 0, the background
            names[int(item.SegmentNumber)] = _segment_name(item)
    refs = tuple(
        str(r.SeriesInstanceUID)
        for r in ds.get("ReferencedSeriesSequence") or []
        if r.get("SeriesInstanceUID")
    )
    return SegHeader(
        path=path,
        series_uid=str(ds.get("SeriesInstanceUID", "")),
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        frame_of_reference_uid=str(ds.FrameOfReferenceUID)
        if ds.get("FrameOfReferenceUID")
        else None,
        referenced_series_uids=refs,
        names=names,
        segmentation_type=str(ds.get("SegmentationType", "")),
        series_description=str(ds.get("SeriesDescription") or ""),
    )


def dicom_seg_info(path: str | os.PathLike[str]) -> SegHeader:
    """Header of a DICOM SEG (file, or folder holding one): series, references, names."""
    file = find_dicom_seg(path)
    if file is None:
        raise InvalidInputError(
            "DICOM SEG",
            expected="a DICOM Segmentation file (Modality SEG) or a folder holding one",
            actual=str(path),
            fix="pass the SEG file exported with the study",
        )
    ds = _read_header(file)
    if ds is None:  # pragma: no cover - find_dicom_seg read it a moment ago
        raise DicomMetadataError(f"DICOM SEG {file}", expected="a readable DICOM file")
    return _seg_header(file, ds)


def _functional_item(ds: Any, index: int, keyword: str) -> Any:
    """Item of a functional-group macro of frame ``index``: per-frame, else shared."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    if index < len(per_frame):
        seq = per_frame[index].get(keyword)
        if seq:
            return seq[0]
    shared = ds.get("SharedFunctionalGroupsSequence") or []
    if shared:
        seq = shared[0].get(keyword)
        if seq:
            return seq[0]
    return None


def _on_grid(
    reference: Volume,
    position: NDArray[np.float64],
    orientation: NDArray[np.float64],
    pixel_spacing: NDArray[np.float64],
) -> tuple[tuple[int, int, int] | None, str]:
    """Index ``(k, j, i)`` of a frame's first pixel on the reference lattice, or why not."""
    d = reference.direction_matrix
    sx, sy, _ = reference.spacing
    if not (
        np.allclose(orientation[:3], d[:, 0], atol=_SEG_TOL_DIR)
        and np.allclose(orientation[3:], d[:, 1], atol=_SEG_TOL_DIR)
    ):
        return None, (
            f"frame orientation {np.round(orientation, 4).tolist()} vs image axes "
            f"{np.round(np.concatenate([d[:, 0], d[:, 1]]), 4).tolist()}"
        )
    if not np.allclose(pixel_spacing, (sy, sx), atol=_SEG_TOL_MM):
        return None, f"pixel spacing {pixel_spacing.tolist()} mm vs image {[sy, sx]} mm"
    idx = reference.physical_to_index(position)
    near = np.rint(idx)
    off_mm = np.abs(idx - near) * np.asarray(reference.spacing)
    if np.any(off_mm > _SEG_TOL_MM):
        return None, (
            f"frame at {np.round(position, 3).tolist()} mm lies {float(off_mm.max()):.3g} mm "
            "off the image's voxel lattice"
        )
    return (int(near[2]), int(near[1]), int(near[0])), ""


class _Resolver:
    """Assigns voxels to segments: larger value wins, ties to the segment added first."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.labels = np.zeros(shape, dtype=np.int32)
        self.best = np.zeros(shape, dtype=np.float32)
        self.multi = np.zeros(shape, dtype=bool)
        self.pairs: dict[tuple[int, int], int] = {}

    def add(self, number: int, where: tuple[Any, ...], values: NDArray[Any]) -> None:
        lab, best = self.labels[where], self.best[where]
        inside = values >= SEG_FRACTION_THRESHOLD
        if not inside.any():
            return
        other = inside & (lab != 0) & (lab != number)
        if other.any():
            self.multi[where] |= other
            for code, n in zip(*np.unique(lab[other], return_counts=True), strict=True):
                key = (min(int(code), number), max(int(code), number))
                self.pairs[key] = self.pairs.get(key, 0) + int(n)
        take = inside & ((lab == 0) | (other & (values > best)))
        keep = inside & (lab == number)
        lab[take] = number
        best[take | keep] = np.maximum(best[take | keep], values[take | keep])
        self.labels[where], self.best[where] = lab, best


def _frame_values(
    seg: hd.seg.Segmentation, index: int, kind: str, max_fraction: float
) -> NDArray[np.float32]:
    stored = np.asarray(seg.get_stored_frame(index + 1))
    if kind == "FRACTIONAL":
        return (stored.astype(np.float32) / np.float32(max_fraction)).astype(np.float32)
    return stored.astype(np.float32)


def _own_grid_volume(
    seg: hd.seg.Segmentation, numbers: Sequence[int], kind: str, name: str
) -> tuple[Volume, _Resolver]:
    """The SEG on its own (regular) grid, segments resolved into one label map."""
    try:
        hv = seg.get_volume(
            segment_numbers=list(numbers),
            combine_segments=False,
            rescale_fractional=True,
            skip_overlap_checks=True,
            dtype=np.float32,
        )
    except (ValueError, RuntimeError) as exc:
        raise GeometryMismatchError(
            f"DICOM SEG {name}: frame positions",
            expected="frames on a regularly spaced stack of parallel planes",
            actual=str(exc).split("\n")[0],
            fix="export the segmentation on the image grid",
        ) from None
    arr = np.asarray(hv.array, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[..., None]
    affine = np.asarray(hv.affine, dtype=float)
    # highdicom: index (slice, row, column) → LPS mm; ITK order (x, y, z) = (column, row, slice)
    axes = [affine[:3, 2], affine[:3, 1], affine[:3, 0]]
    spacing = tuple(float(np.linalg.norm(a)) for a in axes)
    direction = np.column_stack([a / s for a, s in zip(axes, spacing, strict=True)])
    resolver = _Resolver(arr.shape[:3])
    full = (slice(None), slice(None), slice(None))
    for c, number in enumerate(numbers):
        values = arr[..., c]
        if kind == "LABELMAP":  # channels hold 0/1 per segment in highdicom's output
            values = (values > 0).astype(np.float32)
        resolver.add(number, full, values)
    vol = Volume.from_array(
        resolver.labels,
        operation="labels_from_dicom_seg_own_grid",
        spacing=spacing,
        origin=tuple(float(v) for v in affine[:3, 3]),
        direction=tuple(float(v) for v in direction.reshape(-1)),
        frame_of_reference_uid=str(seg.FrameOfReferenceUID)
        if seg.get("FrameOfReferenceUID")
        else None,
        quantity="label",
        unit="1",
        name=name,
    )
    return vol, resolver


def read_dicom_seg(
    path: str | os.PathLike[str],
    reference: Volume,
    *,
    resample_labels: bool = False,
    keep_own_grid: bool = False,
) -> SegLabels:
    """Integer label map (value = segment number) of a DICOM SEG on ``reference``'s grid.

    ``path`` is the SEG file or a folder holding one. The SEG must share the
    image's FrameOfReferenceUID when both carry one (else
    :class:`GeometryMismatchError`, also with ``resample_labels``). Frames on the
    image grid are placed directly; a SEG on another grid is resampled with
    nearest neighbour when ``resample_labels`` (CLI ``--resample-labels``), left
    on its own grid when ``keep_own_grid`` (the caller decides, as for a NIfTI
    label map), and refused otherwise. Overlaps, segments without voxels and
    voxels outside the image are reported in :attr:`SegLabels.notes`.
    """
    import highdicom as hd

    file = find_dicom_seg(path)
    if file is None:
        raise InvalidInputError(
            "DICOM SEG",
            expected="a DICOM Segmentation file (Modality SEG) or a folder holding one",
            actual=str(path),
            fix="pass the SEG file exported with the segmentation",
        )
    name = file.name
    try:
        seg = hd.seg.segread(str(file))
    except Exception as exc:  # highdicom/pydicom raise many types for malformed files
        raise DicomMetadataError(
            f"DICOM SEG {file}",
            expected="a readable DICOM Segmentation (PS3.3 A.51)",
            actual=" ".join(str(exc).split())[:200] or type(exc).__name__,
            fix="export the segmentation again; check it with dciodvfy",
        ) from None
    header = _seg_header(file, seg)
    seg_for, ref_for = header.frame_of_reference_uid, reference.frame_of_reference_uid
    if seg_for and ref_for and seg_for != ref_for:
        raise GeometryMismatchError(
            f"FrameOfReferenceUID (0020,0052) of DICOM SEG {name}",
            expected=f"{ref_for} (the image's)",
            actual=seg_for,
            fix="the segmentation was made on another scan (another frame of reference); "
            "register the images first, or use a segmentation made on this image",
        )
    notes: list[str] = []
    if not (seg_for and ref_for):
        notes.append(
            f"{name}: frame of reference not checked (the "
            + ("image" if not ref_for else "SEG")
            + " carries none); placed by patient coordinates"
        )
    kind = header.segmentation_type.upper()
    max_fraction = float(seg.get("MaximumFractionalValue") or 255)
    numbers = sorted(header.names)
    n_frames = int(seg.get("NumberOfFrames") or 1)
    if not numbers or "PixelData" not in seg or n_frames == 0:
        raise InvalidInputError(
            f"DICOM SEG {name}",
            expected="at least one segment with frames",
            actual=f"{len(numbers)} segments, {0 if 'PixelData' not in seg else n_frames} frames",
            fix="export a segmentation that holds the segments",
        )
    rows, cols = int(seg.Rows), int(seg.Columns)
    frames: list[tuple[int, int, tuple[int, int, int]]] = []
    why = ""
    for i in range(n_frames):
        pos_item = _functional_item(seg, i, "PlanePositionSequence")
        ori_item = _functional_item(seg, i, "PlaneOrientationSequence")
        pix_item = _functional_item(seg, i, "PixelMeasuresSequence")
        if pos_item is None or ori_item is None or pix_item is None:
            raise DicomMetadataError(
                f"frame {i + 1} of DICOM SEG {name}",
                expected="PlanePosition, PlaneOrientation and PixelMeasures functional groups",
                actual="missing",
                fix="export the segmentation in patient coordinates (not a slide SEG)",
            )
        if kind == "LABELMAP":
            number = 0
        else:
            ident = _functional_item(seg, i, "SegmentIdentificationSequence")
            if ident is None:
                raise DicomMetadataError(
                    f"frame {i + 1} of DICOM SEG {name}",
                    expected="SegmentIdentificationSequence (0062,000A)",
                    actual="missing",
                )
            number = int(ident.ReferencedSegmentNumber)
        at, reason = _on_grid(
            reference,
            np.asarray([float(v) for v in pos_item.ImagePositionPatient]),
            np.asarray([float(v) for v in ori_item.ImageOrientationPatient]),
            np.asarray([float(v) for v in pix_item.PixelSpacing]),
        )
        if at is None:
            why = reason
            break
        frames.append((number, i, at))

    resampled = own_grid = False
    if why:
        if not (resample_labels or keep_own_grid):
            raise GeometryMismatchError(
                f"DICOM SEG {name}: frame geometry",
                expected="frames on the image grid (its orientation, pixel spacing and slice "
                "positions)",
                actual=why,
                fix="pass --resample-labels (library: resample_labels=True) to resample it onto "
                "the image grid with nearest neighbour, or export the segmentation on this image",
            )
        vol, resolver = _own_grid_volume(seg, numbers, kind, name)
        if resample_labels:
            vol = vol.resample_to(reference, mode="nearest")
            vol = reference.with_array(
                np.asarray(vol.array, dtype=np.int32),
                operation="labels_from_dicom_seg",
                parameters={"path": str(file), "resampled_nearest": True},
                inputs=(str(file),),
                sources=("DICOM PS3.3 A.51 Segmentation IOD",),
                quantity="label",
                unit="1",
                name=name,
            )
            resampled = True
            notes.append(f"{name}: on another grid ({why}); resampled with nearest neighbour")
        else:
            own_grid = True
        labels_arr = np.asarray(vol.array)
    else:
        nz, ny, nx = reference.shape
        resolver = _Resolver(reference.shape)
        outside = 0
        for number, i, (k, j0, i0) in sorted(frames):
            values = _frame_values(seg, i, kind, max_fraction)
            y0, y1 = max(j0, 0), min(j0 + rows, ny)
            x0, x1 = max(i0, 0), min(i0 + cols, nx)
            if not 0 <= k < nz or y0 >= y1 or x0 >= x1:
                outside += int(np.count_nonzero(values >= SEG_FRACTION_THRESHOLD))
                continue
            part = values[y0 - j0 : y1 - j0, x0 - i0 : x1 - i0]
            outside += int(np.count_nonzero(values >= SEG_FRACTION_THRESHOLD)) - int(
                np.count_nonzero(part >= SEG_FRACTION_THRESHOLD)
            )
            where = (k, slice(y0, y1), slice(x0, x1))
            if kind == "LABELMAP":
                for code in np.unique(part[part > 0]).astype(int).tolist():
                    resolver.add(code, where, (part == code).astype(np.float32))
            else:
                resolver.add(number, where, part)
        if outside:
            notes.append(f"{name}: {outside} segment voxels lie outside the image and are left out")
        labels_arr = resolver.labels
        vol = reference.with_array(
            labels_arr,
            operation="labels_from_dicom_seg",
            parameters={"path": str(file), "segmentation_type": kind, "frames": n_frames},
            inputs=(str(file),),
            sources=("DICOM PS3.3 A.51 Segmentation IOD",),
            quantity="label",
            unit="1",
            name=name,
        )
    if not np.any(labels_arr):
        raise InvalidInputError(
            f"DICOM SEG {name}",
            expected="at least one segment voxel on the image"
            + (
                f" (FRACTIONAL: fraction >= {SEG_FRACTION_THRESHOLD:g})"
                if kind == "FRACTIONAL"
                else ""
            ),
            actual=f"{len(numbers)} segments in {n_frames} frames, no voxel on the image grid",
            fix="check that the segmentation belongs to this image and is not empty",
        )
    overlap = int(np.count_nonzero(resolver.multi))
    if overlap:
        rule = (
            "the lower segment number"
            if kind != "FRACTIONAL"
            else "the larger fraction (between equal fractions, the lower segment number)"
        )
        pairs = ", ".join(
            f"{header.names.get(a, a)} ({a}) / {header.names.get(b, b)} ({b}): {n}"
            for (a, b), n in sorted(resolver.pairs.items())
        )
        notes.append(
            f"{name}: {overlap} voxels belong to more than one segment ({pairs}); each is "
            f"given to {rule}"
        )
    present = {int(v) for v in np.unique(labels_arr)} - {0}
    for number in numbers:
        if number not in present:
            notes.append(
                f"{name}: segment {number} ({header.names[number]}) has no voxel on the image"
            )
    return SegLabels(
        labels=vol,
        names=dict(header.names),
        notes=tuple(notes),
        header=header,
        resampled=resampled,
        own_grid=own_grid,
        overlap_voxels=overlap,
    )
