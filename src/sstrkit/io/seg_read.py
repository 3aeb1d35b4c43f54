"""DICOM Segmentations (SEG) read as integer label maps on an image grid.

:func:`read_dicom_seg` reads a DICOM Segmentation (BINARY, FRACTIONAL or
LABELMAP; one or many segments) into an integer label map whose values are
the segment numbers, with the segment names (SegmentLabel, else the meaning
of SegmentedPropertyTypeCodeSequence). Frames lying on the image grid (same
orientation and pixel spacing, each frame at a slice position, any in-plane
offset of whole voxels) are placed as they are; on another grid the label
map is resampled with nearest neighbour only when asked, as for NIfTI masks.
A FRACTIONAL voxel belongs to a segment at fraction >= 0.5. Where segments
overlap, a voxel goes to the larger fraction and, between equals (always for
BINARY), to the lower segment number; the overlap is reported in the notes.

:func:`find_dicom_seg`, :func:`is_dicom_seg` and :func:`dicom_seg_info` find a
SEG file and read its header without pixels. Every public name is re-exported
by :mod:`sstrkit.io.masks`.

Examples
--------
>>> r = _Resolver((1, 1, 2))
>>> r.add(2, (0, 0, slice(None)), np.array([0.6, 0.9], dtype=np.float32))
>>> r.add(1, (0, 0, slice(None)), np.array([0.6, 0.6], dtype=np.float32))
>>> r.labels.tolist(), r.pairs      # not larger: the first segment keeps them
([[[2, 2]]], {(1, 2): 2})
"""

from __future__ import annotations

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

if TYPE_CHECKING:
    import highdicom as hd

__all__ = [
    "SEG_FRACTION_THRESHOLD",
    "SEG_SOP_CLASSES",
    "SegHeader",
    "SegLabels",
    "dicom_seg_info",
    "find_dicom_seg",
    "is_dicom_seg",
    "read_dicom_seg",
]

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
    file, seg, header = _open_seg(path)
    name = file.name
    notes = _frame_of_reference_notes(header, reference, name)
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
    frames, why = _frames_on_grid(seg, reference, kind, n_frames, name)
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
            vol = _resampled_labels(vol, reference, file)
            resampled = True
            notes.append(f"{name}: on another grid ({why}); resampled with nearest neighbour")
        else:
            own_grid = True
        labels_arr = np.asarray(vol.array)
    else:
        resolver, outside = _place_frames(seg, frames, reference, kind, max_fraction, (rows, cols))
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
    notes += _overlap_and_missing_notes(resolver, labels_arr, header, kind, name)
    return SegLabels(
        labels=vol,
        names=dict(header.names),
        notes=tuple(notes),
        header=header,
        resampled=resampled,
        own_grid=own_grid,
        overlap_voxels=int(np.count_nonzero(resolver.multi)),
    )


def _open_seg(path: str | os.PathLike[str]) -> tuple[Path, hd.seg.Segmentation, SegHeader]:
    """The SEG file (``path`` or the one in the folder), read by highdicom, and its header."""
    import highdicom as hd

    file = find_dicom_seg(path)
    if file is None:
        raise InvalidInputError(
            "DICOM SEG",
            expected="a DICOM Segmentation file (Modality SEG) or a folder holding one",
            actual=str(path),
            fix="pass the SEG file exported with the segmentation",
        )
    try:
        seg = hd.seg.segread(str(file))
    except Exception as exc:  # highdicom/pydicom raise many types for malformed files
        raise DicomMetadataError(
            f"DICOM SEG {file}",
            expected="a readable DICOM Segmentation (PS3.3 A.51)",
            actual=" ".join(str(exc).split())[:200] or type(exc).__name__,
            fix="export the segmentation again; check it with dciodvfy",
        ) from None
    return file, seg, _seg_header(file, seg)


def _frame_of_reference_notes(header: SegHeader, reference: Volume, name: str) -> list[str]:
    """Refuse a SEG of another frame of reference; a note when one of the two has none."""
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
    return notes


def _frames_on_grid(
    seg: hd.seg.Segmentation, reference: Volume, kind: str, n_frames: int, name: str
) -> tuple[list[tuple[int, int, tuple[int, int, int]]], str]:
    """``(segment number, frame index, (k, j, i))`` of every frame on the image lattice.

    Stops at the first frame off the lattice and returns why (else ``""``); a
    LABELMAP frame has segment number 0 (its pixel values are the numbers).
    """
    frames: list[tuple[int, int, tuple[int, int, int]]] = []
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
            return frames, reason
        frames.append((number, i, at))
    return frames, ""


def _resampled_labels(vol: Volume, reference: Volume, file: Path) -> Volume:
    """The own-grid label map placed on ``reference`` by nearest neighbour."""
    vol = vol.resample_to(reference, mode="nearest")
    return reference.with_array(
        np.asarray(vol.array, dtype=np.int32),
        operation="labels_from_dicom_seg",
        parameters={"path": str(file), "resampled_nearest": True},
        inputs=(str(file),),
        sources=("DICOM PS3.3 A.51 Segmentation IOD",),
        quantity="label",
        unit="1",
        name=file.name,
    )


def _place_frames(
    seg: hd.seg.Segmentation,
    frames: Sequence[tuple[int, int, tuple[int, int, int]]],
    reference: Volume,
    kind: str,
    max_fraction: float,
    frame_shape: tuple[int, int],
) -> tuple[_Resolver, int]:
    """Frames on the image lattice resolved into one label map; voxels left outside it."""
    rows, cols = frame_shape
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
    return resolver, outside


def _overlap_and_missing_notes(
    resolver: _Resolver,
    labels_arr: NDArray[Any],
    header: SegHeader,
    kind: str,
    name: str,
) -> list[str]:
    """Notes on voxels claimed by several segments and on segments without a voxel."""
    notes: list[str] = []
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
    for number in sorted(header.names):
        if number not in present:
            notes.append(
                f"{name}: segment {number} ({header.names[number]}) has no voxel on the image"
            )
    return notes
