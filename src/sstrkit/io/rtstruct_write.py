"""Write a label map as a DICOM RT Structure Set (RTSTRUCT).

Contour convention
------------------
Every ROI (one label value) is contoured slice by slice on the label volume's
own slices. :func:`trace_boundaries` follows the *voxel edges* between the
label and everything else: each contour vertex is a voxel corner (index
coordinates ``i ± ½, j ± ½``), outer boundaries and hole boundaries are
separate closed polygons, and collinear vertices are dropped. Consequences:

* the polygons enclose exactly the labelled voxels, so a centre-inside
  rasteriser with the even–odd rule (inner contours are holes — the rule of
  :func:`sstrkit.io.masks.rasterize_rtstruct`) recovers the label map exactly on
  the same grid, and the polygon area equals voxel count × pixel area;
* regions that touch only at a corner are separate contours (4-connectivity:
  at such a vertex the boundary turns to stay around the same voxel);
* contours are staircases, not smoothed: on another grid they rasterise as
  the voxelised shape, not the underlying smooth object.

Vertices are converted to patient LPS coordinates with the volume geometry
(origin, spacing, direction), so any orientation is written correctly.

The file follows the RT Structure Set IOD (DICOM PS3.3 A.19): Patient,
General Study, RT Series, Frame of Reference, General Equipment, Structure Set
(with ReferencedFrameOfReferenceSequence and StructureSetROISequence), ROI
Contour (ROIContourSequence, ``CLOSED_PLANAR``) and RT ROI Observations
modules, passes dicom3tools' ``dciodvfy`` without errors, and is written
atomically. Patient and study come from the reference image (nothing invented:
without a reference, what ``patient``/``study`` do not give is written empty).

Examples
--------
>>> import numpy as np
>>> m = np.zeros((4, 5), dtype=bool)
>>> m[1:3, 1:4] = True
>>> [c.tolist() for c in trace_boundaries(m)]
[[[0.5, 0.5], [3.5, 0.5], [3.5, 2.5], [0.5, 2.5]]]
"""

from __future__ import annotations

import colorsys
import datetime as _dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import BaseTag
from pydicom.uid import generate_uid

from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.io import dicom_scan
from sstrkit.io.dicom_read import DicomSeries
from sstrkit.io.dicom_time import format_da, format_tm
from sstrkit.io.dicom_write import (
    PATIENT_STUDY_KEYWORDS,
    PatientInfo,
    StudyInfo,
    _atomic_save,
    _base,
    copy_from_source,
)
from sstrkit.io.discover import SeriesInfo, discover, select_series

__all__ = ["RTSTRUCT_SOP", "RtstructSummary", "trace_boundaries", "write_rtstruct"]

RTSTRUCT_SOP = "1.2.840.10008.5.1.4.1.1.481.3"
#: RT ROI Interpreted Types (PS3.3 C.8.8.8) accepted in ``interpreted_types``
INTERPRETED_TYPES = frozenset(
    {"EXTERNAL", "PTV", "CTV", "GTV", "TREATED_VOLUME", "IRRAD_VOLUME", "OAR", "BOLUS",
     "AVOIDANCE", "ORGAN", "MARKER", "REGISTRATION", "ISOCENTER", "CONTRAST_AGENT", "CAVITY",
     "BRACHY_CHANNEL", "BRACHY_ACCESSORY", "BRACHY_SRC_APP", "BRACHY_CHNL_SHLD", "SUPPORT",
     "FIXATION", "DOSE_REGION", "CONTROL", "DOSE_MEASUREMENT", ""}
)  # fmt: skip

_CONTOUR_DATA = 0x30060050


# edge directions on the corner grid (x right, y down): east, south, west, north
_STEP = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=np.int64)


def trace_boundaries(mask: NDArray[np.bool_]) -> list[NDArray[np.float64]]:
    """Closed boundary polygons of a 2-D mask along voxel edges.

    Parameters
    ----------
    mask
        (ny, nx) boolean array (row ``j`` = y, column ``i`` = x).

    Returns
    -------
    list of (n, 2) arrays
        Vertices (i, j) in index units; every vertex is a voxel corner
        (half-integer coordinates). Outer boundaries and hole boundaries are
        separate polygons; filling all of them with the even–odd rule gives
        back ``mask`` exactly. Loops are ordered by their first vertex (row
        major), vertices start at the loop's top-left-most corner.
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise InvalidInputError("mask", expected="a 2-D array", actual=f"shape {m.shape}")
    if not m.any():
        return []
    p = np.pad(m, 1)
    core = p[1:-1, 1:-1]
    # directed edges with the voxel on the right-hand side (y down): start corner (x, y)
    # in corner coordinates (corner (x, y) is index position (x - 1/2, y - 1/2))
    starts, dirs = [], []
    for d, (nb, sx, sy) in enumerate(
        [
            (p[:-2, 1:-1], 0, 0),  # top edge, east: (i, j) -> (i+1, j)
            (p[1:-1, 2:], 1, 0),  # right edge, south: (i+1, j) -> (i+1, j+1)
            (p[2:, 1:-1], 1, 1),  # bottom edge, west: (i+1, j+1) -> (i, j+1)
            (p[1:-1, :-2], 0, 1),  # left edge, north: (i, j+1) -> (i, j)
        ]
    ):
        jj, ii = np.nonzero(core & ~nb)
        starts.append(np.column_stack([ii + sx, jj + sy]))
        dirs.append(np.full(jj.size, d, dtype=np.int64))
    start = np.concatenate(starts)
    direction = np.concatenate(dirs)
    end = start + _STEP[direction]
    width = m.shape[1] + 1
    skey = start[:, 1] * width + start[:, 0]
    ekey = end[:, 1] * width + end[:, 0]
    order = np.argsort(skey, kind="stable")
    sorted_keys = skey[order]
    first = np.searchsorted(sorted_keys, ekey, side="left")
    count = np.searchsorted(sorted_keys, ekey, side="right") - first
    nxt = order[first]
    # a corner shared by two diagonal voxels has two outgoing edges: turn right (stay
    # around the same voxel), which keeps corner-touching regions apart
    two = np.flatnonzero(count == 2)
    if two.size:
        alt = order[first[two] + 1]
        right = (direction[two] + 1) % 4
        nxt[two] = np.where(direction[alt] == right, alt, nxt[two])
    # follow the successor permutation into loops
    visited = np.zeros(start.shape[0], dtype=bool)
    nxt_list = nxt.tolist()
    loops: list[NDArray[np.float64]] = []
    for e0 in np.lexsort((start[:, 0], start[:, 1])).tolist():
        if visited[e0]:
            continue
        chain = [e0]
        e = nxt_list[e0]
        while e != e0:
            chain.append(e)
            e = nxt_list[e]
        idx = np.asarray(chain)
        visited[idx] = True
        d = direction[idx]
        keep = d != np.roll(d, 1)  # a vertex where the direction changes
        loops.append(start[idx[keep]].astype(np.float64) - 0.5)
    return loops


@dataclass(frozen=True)
class RtstructSummary:
    """What :func:`write_rtstruct` wrote."""

    path: Path
    sop_instance_uid: str
    series_uid: str
    frame_of_reference_uid: str
    rois: dict[int, str]
    n_contours: dict[int, int]
    empty_rois: tuple[int, ...]


@dataclass(frozen=True)
class _Reference:
    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    header: Dataset
    instances: list[tuple[str, str]]  # (SOP class, SOP instance) per image
    positions: NDArray[np.float64]  # projection of each image on its normal
    normal: NDArray[np.float64]
    tolerance_mm: float
    single_frame: bool  # one image per file: contours can reference their image


def write_rtstruct(
    labels: Volume,
    names: Mapping[int, str] | Mapping[str, str],
    out_path: str | os.PathLike[str],
    *,
    reference: str | os.PathLike[str] | SeriesInfo | DicomSeries | None = None,
    patient: PatientInfo | None = None,
    study: StudyInfo | None = None,
    frame_of_reference_uid: str | None = None,
    structure_set_label: str = "sstrkit labels",
    series_description: str = "RTSTRUCT",
    series_number: int = 90,
    interpreted_types: Mapping[int, str] | None = None,
    colors: Mapping[int, tuple[int, int, int]] | None = None,
    content_time: _dt.datetime | None = None,
) -> RtstructSummary:
    """Write the labels named in ``names`` as ROIs of an RTSTRUCT file.

    Parameters
    ----------
    labels
        Integer label map (any orientation; values must be integers).
    names
        Label value → ROI name (keys may be ints or digit strings, as in a
        ``labels.json``). Only these labels are written; the ROI number is the
        label value. A named label absent from the map gives an ROI without
        contours (listed in ``empty_rois``).
    out_path
        File to write (atomically).
    reference
        The image series the structures belong to: a folder, a
        :class:`~sstrkit.io.discover.SeriesInfo` or a read
        :class:`~sstrkit.io.dicom_read.DicomSeries`. Patient, study and frame of
        reference are then taken from it, the series and its images are listed in
        ReferencedFrameOfReferenceSequence, and each contour references the image
        in its plane (when there is one). Without it, ``patient``/``study`` and a
        frame of reference (``frame_of_reference_uid`` or the volume's) are used.
    interpreted_types
        RTROIInterpretedType per label (default ``ORGAN``).
    colors
        ROIDisplayColor (RGB 0–255) per label (default: distinct hues).
    content_time
        StructureSetDate/Time (default now, UTC).
    """
    rois = _roi_names(names)
    values = _integer_labels(labels)
    ref = _reference(reference) if reference is not None else None
    for_uid = _frame_of_reference(labels, ref, frame_of_reference_uid)
    itypes = _interpreted_types(interpreted_types)
    t = content_time or _dt.datetime.now(_dt.UTC)
    ds = _structure_set(ref, patient, study, t)
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description
    ds.OperatorsName = ""
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""
    if ref is not None:
        copy_from_source(ds, ref.header, ("PositionReferenceIndicator",))
    ds.InstanceNumber = 1
    ds.StructureSetLabel = structure_set_label[:16]
    ds.StructureSetDate, ds.StructureSetTime = format_da(t), format_tm(t)
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([_referenced_frame(for_uid, ref)])

    roi_items: list[Dataset] = []
    contour_items: list[Dataset] = []
    observation_items: list[Dataset] = []
    n_contours: dict[int, int] = {}
    palette = _palette(sorted(rois))
    slice_planes = labels.index_to_physical(
        np.column_stack([np.zeros(labels.shape[0]), np.zeros(labels.shape[0]),
                         np.arange(labels.shape[0], dtype=float)])
    )  # fmt: skip
    for n, (label, name) in enumerate(sorted(rois.items()), start=1):
        roi = Dataset()
        roi.ROINumber = label
        roi.ReferencedFrameOfReferenceUID = for_uid
        roi.ROIName = name
        roi.ROIGenerationAlgorithm = "AUTOMATIC"
        roi_items.append(roi)

        rc = Dataset()
        rc.ROIDisplayColor = list((colors or {}).get(label, palette[label]))
        rc.ReferencedROINumber = label
        contours = _label_contours(labels, values == label, ref, slice_planes)
        if contours:
            rc.ContourSequence = DicomSequence(contours)
        n_contours[label] = len(contours)
        contour_items.append(rc)

        obs = Dataset()
        obs.ObservationNumber = n
        obs.ReferencedROINumber = label
        obs.RTROIInterpretedType = itypes.get(label, "ORGAN")
        obs.ROIInterpreter = ""
        observation_items.append(obs)
    ds.StructureSetROISequence = DicomSequence(roi_items)
    ds.ROIContourSequence = DicomSequence(contour_items)
    ds.RTROIObservationsSequence = DicomSequence(observation_items)
    ds.ApprovalStatus = "UNAPPROVED"
    path = Path(out_path)
    _atomic_save(ds, path)
    return RtstructSummary(
        path=path,
        sop_instance_uid=str(ds.SOPInstanceUID),
        series_uid=str(ds.SeriesInstanceUID),
        frame_of_reference_uid=for_uid,
        rois=dict(sorted(rois.items())),
        n_contours=n_contours,
        empty_rois=tuple(k for k, v in sorted(n_contours.items()) if v == 0),
    )


def _integer_labels(labels: Volume) -> NDArray[np.int64]:
    """The label values as int64; a volume with non-integer values is refused."""
    arr = np.asarray(labels.array)
    values: NDArray[np.int64] = np.rint(arr).astype(np.int64)
    if not np.array_equal(values, arr):
        raise InvalidInputError(
            "label map", expected="integer label values", actual=f"dtype {arr.dtype} with "
            "non-integer values", fix="round or threshold the volume into labels first",
        )  # fmt: skip
    return values


def _interpreted_types(interpreted_types: Mapping[int, str] | None) -> dict[int, str]:
    """RTROIInterpretedType per label, each one of :data:`INTERPRETED_TYPES`."""
    itypes = {int(k): str(v) for k, v in (interpreted_types or {}).items()}
    for label, kind in itypes.items():
        if kind not in INTERPRETED_TYPES:
            raise InvalidInputError(
                f"RTROIInterpretedType of label {label}",
                expected=f"one of {sorted(INTERPRETED_TYPES)}",
                actual=kind,
            )
    return itypes


def _structure_set(
    ref: _Reference | None,
    patient: PatientInfo | None,
    study: StudyInfo | None,
    t: _dt.datetime,
) -> Dataset:
    """RTSTRUCT dataset with patient and study: the reference image's, else those given."""
    if ref is not None:
        ds = _base(RTSTRUCT_SOP, "RTSTRUCT", patient or PatientInfo(), study or StudyInfo())
        copy_from_source(ds, ref.header, PATIENT_STUDY_KEYWORDS)
    else:
        st = study or StudyInfo()
        ds = _base(RTSTRUCT_SOP, "RTSTRUCT", patient or PatientInfo(), st)
        ds.StudyDate, ds.StudyTime = format_da(st.study_time or t), format_tm(st.study_time or t)
    return ds


def _referenced_frame(for_uid: str, ref: _Reference | None) -> Dataset:
    """ReferencedFrameOfReferenceSequence item, listing the reference series' images."""
    frame = Dataset()
    frame.FrameOfReferenceUID = for_uid
    if ref is not None:
        images = []
        for sop_class, sop_uid in ref.instances:
            item = Dataset()
            item.ReferencedSOPClassUID = sop_class
            item.ReferencedSOPInstanceUID = sop_uid
            images.append(item)
        series_item = Dataset()
        series_item.SeriesInstanceUID = ref.series_uid
        series_item.ContourImageSequence = DicomSequence(images)
        study_item = Dataset()
        study_item.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Mgmt
        study_item.ReferencedSOPInstanceUID = ref.study_uid
        study_item.RTReferencedSeriesSequence = DicomSequence([series_item])
        frame.RTReferencedStudySequence = DicomSequence([study_item])
    return frame


def _label_contours(
    labels: Volume,
    present: NDArray[np.bool_],
    ref: _Reference | None,
    slice_planes: NDArray[np.float64],
) -> list[Dataset]:
    """ContourSequence items of one label: its traced boundaries, slice by slice.

    ``slice_planes`` holds a point (LPS mm) of each slice of ``labels``; each
    contour references the reference image in its plane, when there is one.
    """
    contours: list[Dataset] = []
    # trace inside the label's bounding box (offset back to volume indices)
    jj = np.flatnonzero(present.any(axis=(0, 2)))
    ii = np.flatnonzero(present.any(axis=(0, 1)))
    box = present[:, jj[0] : jj[-1] + 1, ii[0] : ii[-1] + 1] if jj.size else present
    offset = np.array([ii[0], jj[0]], dtype=float) if jj.size else np.zeros(2)
    for k in np.flatnonzero(box.any(axis=(1, 2))).tolist():
        image = (
            _image_for_plane(ref, slice_planes[k], labels.direction_matrix[:, 2])
            if ref is not None
            else None
        )
        for poly in trace_boundaries(box[k]):
            ijk = np.column_stack([poly + offset, np.full(poly.shape[0], float(k))])
            xyz = labels.index_to_physical(ijk)
            c = Dataset()
            if image is not None:
                ci = Dataset()
                ci.ReferencedSOPClassUID, ci.ReferencedSOPInstanceUID = image
                c.ContourImageSequence = DicomSequence([ci])
            c.ContourGeometricType = "CLOSED_PLANAR"
            c.NumberOfContourPoints = poly.shape[0]
            c.ContourNumber = len(contours) + 1
            c[_CONTOUR_DATA] = _ds_raw(_CONTOUR_DATA, xyz.ravel())
            # already encoded as written: keeps pydicom from converting the raw value
            c.set_original_encoding(False, True, c._character_set)
            contours.append(c)
    return contours


def _roi_names(names: Mapping[int, str] | Mapping[str, str]) -> dict[int, str]:
    out: dict[int, str] = {}
    for key, name in names.items():
        try:
            label = int(key)
        except (TypeError, ValueError):
            raise InvalidInputError(
                "ROI names", expected="label value (int) → name", actual=repr(key)
            ) from None
        if label <= 0:
            raise InvalidInputError(
                f"label {label} ({name!r})",
                expected="a positive label value (it becomes the ROINumber)",
                actual=label,
                fix="0 is background; renumber the labels",
            )
        if not str(name).strip():
            raise InvalidInputError(f"name of label {label}", expected="a non-empty name",
                                    actual=repr(name))  # fmt: skip
        out[label] = str(name)[:64]
    if not out:
        raise InvalidInputError("ROI names", expected="at least one label → name", actual="{}")
    if len(set(out.values())) != len(out):
        dup = sorted({v for v in out.values() if list(out.values()).count(v) > 1})
        raise InvalidInputError(
            "ROI names", expected="distinct names (readers select ROIs by name)", actual=dup
        )
    return out


def _frame_of_reference(labels: Volume, ref: _Reference | None, explicit: str | None) -> str:
    candidates = {
        "frame_of_reference_uid argument": explicit,
        "label volume": labels.frame_of_reference_uid,
        "reference series": ref.frame_of_reference_uid if ref is not None else None,
    }
    given = {k: v for k, v in candidates.items() if v}
    if not given:
        raise InvalidInputError(
            "FrameOfReferenceUID",
            expected="the frame of reference of the image the labels belong to",
            actual="none (label volume, argument and reference series)",
            fix="pass reference=<image series> or frame_of_reference_uid=..., or set it on "
            "the volume (labels.with_metadata(frame_of_reference_uid=...))",
        )
    if len(set(given.values())) > 1:
        raise GeometryMismatchError(
            "FrameOfReferenceUID (0020,0052)",
            expected="the same frame of reference for the labels and the reference image",
            actual=given,
            fix="contour on a label map in the reference image's frame of reference "
            "(register/resample it first)",
        )
    return next(iter(given.values()))


def _reference(source: str | os.PathLike[str] | SeriesInfo | DicomSeries) -> _Reference:
    if isinstance(source, DicomSeries):
        files = [str(f) for f in dict.fromkeys(source.files)]
        info = select_series(discover(Path(files[0]).parent), series_uid=source.series_uid)
    elif isinstance(source, SeriesInfo):
        info = source
    else:
        info = select_series(discover(source))
    header = info.header(0)
    instances: list[tuple[str, str]] = []
    ipps, iops = [], []
    for i in range(len(info.files)):
        scan = info.scans[i] if i < len(info.scans) else None
        if scan is not None and scan.has(dicom_scan.SOP_INSTANCE_UID):
            sop_class = scan.text(dicom_scan.SOP_CLASS_UID) or info.sop_class_uid
            sop_uid = scan.text(dicom_scan.SOP_INSTANCE_UID) or ""
            ipp = scan.numbers(dicom_scan.IMAGE_POSITION_PATIENT)
            iop = scan.numbers(dicom_scan.IMAGE_ORIENTATION_PATIENT)
        else:
            ds = info.header(i)
            sop_class = str(ds.get("SOPClassUID") or info.sop_class_uid)
            sop_uid = str(ds.get("SOPInstanceUID") or "")
            ipp_v, iop_v = ds.get("ImagePositionPatient"), ds.get("ImageOrientationPatient")
            ipp = [float(v) for v in ipp_v] if ipp_v is not None else None
            iop = [float(v) for v in iop_v] if iop_v is not None else None
        instances.append((sop_class, sop_uid))
        ipps.append(ipp)
        iops.append(iop)
    normal = np.zeros(3)
    positions = np.full(len(instances), np.nan)
    if iops[0] is not None and len(iops[0]) == 6:
        normal = np.cross(iops[0][:3], iops[0][3:])
        positions = np.array(
            [np.dot(p, normal) if p is not None and len(p) == 3 else np.nan for p in ipps]
        )
    ps = header.get("PixelSpacing")
    tol = 0.01 if ps is None else 0.01 * min(float(v) for v in ps)
    return _Reference(
        study_uid=str(header.get("StudyInstanceUID") or generate_uid()),
        series_uid=info.series_uid,
        frame_of_reference_uid=str(header.get("FrameOfReferenceUID") or ""),
        header=header,
        instances=instances,
        positions=positions,
        normal=normal,
        tolerance_mm=max(tol, 1e-3),
        single_frame=info.n_frames == len(info.files),
    )


def _image_for_plane(
    ref: _Reference, point: NDArray[np.float64], normal: NDArray[np.float64]
) -> tuple[str, str] | None:
    """The reference image whose plane is the contour plane (single-frame images only)."""
    if not ref.single_frame or not np.any(ref.normal) or abs(float(normal @ ref.normal)) < 0.9999:
        return None
    dist = np.abs(ref.positions - float(point @ ref.normal))
    if not np.any(np.isfinite(dist)):
        return None
    i = int(np.nanargmin(dist))
    if dist[i] > ref.tolerance_mm or len(set(ref.instances)) != len(ref.instances):
        return None
    return ref.instances[i]


def _ds_raw(tag: int, values: NDArray[np.float64]) -> RawDataElement:
    """A DS element kept as its encoded bytes.

    Contour data hold up to millions of numbers; pydicom would build and validate
    one DS object per number. The text is written as is (each value ≤ 16
    characters with ``.9g``; even length padded with a space, PS3.5 6.2) and
    read back by any reader as ordinary DS values.
    """
    text = "\\".join(f"{v:.9g}" for v in values.tolist()).encode("ascii")
    if len(text) % 2:
        text += b" "
    return RawDataElement(BaseTag(tag), "DS", len(text), text, 0, False, True, True, False)


def _palette(labels: Sequence[int]) -> dict[int, tuple[int, int, int]]:
    """Distinct hues (golden-ratio steps) for ROIDisplayColor."""
    out = {}
    for n, label in enumerate(labels):
        r, g, b = colorsys.hsv_to_rgb((n * 0.618033988749895) % 1.0, 0.75, 0.95)
        out[label] = (round(r * 255), round(g * 255), round(b * 255))
    return out
