"""RTSTRUCT writer: boundary tracing and the write → rasterise round trip.

Reference values: the contours follow voxel edges (module docstring of
sstrkit.io.rtstruct_write), so on the label grid a centre-inside even–odd rasteriser
must give back the label map exactly (Dice = 1, identical voxel counts) and the area
enclosed by each slice's contours (shoelace formula, holes subtracted) must equal
voxel count × pixel area. The sphere's voxel count is also compared with 4/3·π·r³.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pydicom
import pytest

from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.io.dicom_write import PatientInfo, StudyInfo, write_ct_series
from sstrkit.io.masks import polygon_mask, rasterize_rtstruct, rtstruct_roi_names
from sstrkit.io.rtstruct_write import trace_boundaries, write_rtstruct

FOR = "1.2.826.0.1.3680043.8.498.77"
# rotated axes: row (0,1,0), column (-1,0,0), normal (0,0,1)
DIRECTION = (0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0)


def _fill(mask: np.ndarray) -> np.ndarray:
    """Even–odd fill of trace_boundaries(mask) with the RTSTRUCT reader's rasteriser."""
    ref = Volume.from_array(np.zeros((1, *mask.shape), dtype=np.float32))
    out = np.zeros(ref.shape, dtype=bool)
    for poly in trace_boundaries(mask):
        polygon_mask(ref, 0, poly, out=out)
    return out[0]


def _shoelace(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def test_trace_ring_has_outer_and_hole_contour() -> None:
    m = np.zeros((7, 7), dtype=bool)
    m[1:6, 1:6] = True
    m[3, 3] = False
    loops = trace_boundaries(m)
    assert len(loops) == 2
    # outer square 5×5 = 25, hole 1×1 with opposite orientation = −1 (hand count)
    assert sorted(_shoelace(p) for p in loops) == [-1.0, 25.0]
    assert [p.shape[0] for p in loops] == [4, 4]  # collinear vertices dropped
    np.testing.assert_array_equal(_fill(m), m)


def test_trace_corner_touching_voxels_are_separate_contours() -> None:
    m = np.zeros((4, 4), dtype=bool)
    m[1, 1] = m[2, 2] = True  # touch at the corner (2.5 - 1, 2.5 - 1) = (1.5, 1.5)
    loops = trace_boundaries(m)
    assert len(loops) == 2 and all(p.shape == (4, 2) for p in loops)
    assert loops[0].tolist() == [[0.5, 0.5], [1.5, 0.5], [1.5, 1.5], [0.5, 1.5]]
    np.testing.assert_array_equal(_fill(m), m)


def test_trace_random_masks_fill_back_exactly() -> None:
    rng = np.random.default_rng(11)
    for _ in range(25):
        m = rng.random((13, 17)) < rng.uniform(0.2, 0.8)
        loops = trace_boundaries(m)
        np.testing.assert_array_equal(_fill(m), m)
        # signed areas (outer +, holes −) add up to the voxel count
        assert sum(_shoelace(p) for p in loops) == pytest.approx(float(m.sum()), abs=1e-9)
        for p in loops:  # every vertex is a voxel corner
            np.testing.assert_array_equal(p - np.floor(p), np.full(p.shape, 0.5))
    assert trace_boundaries(np.zeros((3, 3), dtype=bool)) == []


def _phantom() -> Volume:
    nz, ny, nx = 20, 30, 32
    spacing = (2.0, 2.5, 3.0)  # x, y, z mm
    z, y, x = np.meshgrid(
        np.arange(nz) * spacing[2], np.arange(ny) * spacing[1], np.arange(nx) * spacing[0],
        indexing="ij",
    )  # fmt: skip
    labels = np.zeros((nz, ny, nx), dtype=np.int16)
    r = 15.0
    labels[(x - 30.0) ** 2 + (y - 40.0) ** 2 + (z - 30.0) ** 2 <= r**2] = 1
    labels[12:18, 1:9, 1:11] = 2  # a box (y < 22.5 mm: clear of the sphere, y >= 25 mm)
    labels[14, 3, 4] = 0  # a one-voxel hole inside the box
    return Volume.from_array(
        labels,
        spacing=spacing,
        origin=(12.5, -40.0, -100.0),
        direction=DIRECTION,
        frame_of_reference_uid=FOR,
        quantity="labels",
        unit="1",
    )


def test_round_trip_sphere_and_box(tmp_path: Path) -> None:
    labels = _phantom()
    summary = write_rtstruct(
        labels, {"1": "sphere", "2": "box"}, tmp_path / "rs.dcm",
        patient=PatientInfo(patient_id="PH1"), study=StudyInfo(),
        interpreted_types={2: "GTV"},
    )  # fmt: skip
    assert summary.rois == {1: "sphere", 2: "box"} and summary.empty_rois == ()
    assert rtstruct_roi_names(summary.path) == ["sphere", "box"]
    for value, name in summary.rois.items():
        truth = labels.array == value
        got = rasterize_rtstruct(summary.path, name, labels).array.astype(bool)
        dice = 2 * np.sum(got & truth) / (got.sum() + truth.sum())
        assert dice == 1.0  # exact on the label grid (see module docstring)
        np.testing.assert_array_equal(got, truth)
    # sphere: voxelised volume vs 4/3·π·r³ = 14137 mm³ (r = 15 mm); 15 mm vs voxels of
    # 2 × 2.5 × 3 mm: the staircase volume is within 5 % (computed 2.3 %)
    n_sphere = int((labels.array == 1).sum())
    assert n_sphere * 15.0 == pytest.approx(4 / 3 * math.pi * 15.0**3, rel=0.05)
    ds = pydicom.dcmread(summary.path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.481.3" and ds.Modality == "RTSTRUCT"
    assert ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID == FOR
    assert [o.RTROIInterpretedType for o in ds.RTROIObservationsSequence] == ["ORGAN", "GTV"]
    assert ds.PatientID == "PH1"
    box = ds.ROIContourSequence[1]
    # box: 6 slices, the slice with the hole has an outer contour and a hole contour
    assert len(box.ContourSequence) == 7
    area_mm2 = 0.0
    for c in box.ContourSequence:
        assert c.ContourGeometricType == "CLOSED_PLANAR"
        pts = np.asarray(c.ContourData, dtype=float).reshape(-1, 3)
        assert int(c.NumberOfContourPoints) == pts.shape[0]
        # contours are in axial planes (normal z): x, y are the polygon coordinates
        assert np.ptp(pts[:, 2]) == 0.0
        area_mm2 += abs(_shoelace(pts[:, :2]))
    # outer areas (6 × 8×10 voxels) + hole area (1 voxel), all × 2 × 2.5 mm²
    assert area_mm2 == pytest.approx((6 * 80 + 1) * 5.0)


def test_reference_series(tmp_path: Path) -> None:
    labels = _phantom()
    t = dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)
    ct = Volume.from_array(
        np.zeros(labels.shape, dtype=np.float32), spacing=labels.spacing, origin=labels.origin,
        direction=labels.direction, frame_of_reference_uid=FOR, quantity="ct_number",
        unit="HU", modality="CT",
    )  # fmt: skip
    write_ct_series(ct, tmp_path / "ct", patient=PatientInfo(patient_id="CT7"),
                    study=StudyInfo(study_uid="1.2.3.4.5"), acquisition_time=t)  # fmt: skip
    s = write_rtstruct(labels, {1: "sphere"}, tmp_path / "rs.dcm", reference=tmp_path / "ct")
    ds = pydicom.dcmread(s.path)
    assert ds.PatientID == "CT7" and ds.StudyInstanceUID == "1.2.3.4.5"
    images = {
        f.SOPInstanceUID: float(f.ImagePositionPatient[2])
        for f in (pydicom.dcmread(p) for p in (tmp_path / "ct").iterdir())
    }
    series = ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]
    listed = series.RTReferencedSeriesSequence[0].ContourImageSequence
    assert {i.ReferencedSOPInstanceUID for i in listed} == set(images)
    for c in ds.ROIContourSequence[0].ContourSequence:
        uid = c.ContourImageSequence[0].ReferencedSOPInstanceUID
        assert images[uid] == pytest.approx(float(c.ContourData[2]), abs=1e-4)
    other = labels.with_metadata(frame_of_reference_uid="1.2.3.999")
    with pytest.raises(GeometryMismatchError, match="FrameOfReferenceUID"):
        write_rtstruct(other, {1: "sphere"}, tmp_path / "x.dcm", reference=tmp_path / "ct")


def test_empty_roi_and_bad_input(tmp_path: Path) -> None:
    labels = _phantom()
    s = write_rtstruct(labels, {1: "sphere", 7: "absent"}, tmp_path / "rs.dcm")
    assert s.empty_rois == (7,) and s.n_contours[7] == 0 and s.n_contours[1] > 0
    with pytest.raises(InvalidInputError, match="at least one CLOSED_PLANAR"):
        rasterize_rtstruct(s.path, "absent", labels)
    with pytest.raises(InvalidInputError, match="distinct names"):
        write_rtstruct(labels, {1: "a", 2: "a"}, tmp_path / "x.dcm")
    with pytest.raises(InvalidInputError, match="positive label"):
        write_rtstruct(labels, {0: "background"}, tmp_path / "x.dcm")
    frac = labels.with_array(labels.array.astype(np.float32) * 0.5, operation="halve")
    with pytest.raises(InvalidInputError, match="integer label values"):
        write_rtstruct(frac, {1: "a"}, tmp_path / "x.dcm")
    no_for = labels.with_metadata(frame_of_reference_uid=None)
    with pytest.raises(InvalidInputError, match="FrameOfReferenceUID"):
        write_rtstruct(no_for, {1: "a"}, tmp_path / "x.dcm")
    assert not (tmp_path / "x.dcm").exists()


def test_contours_finer_than_the_image_are_sampled_not_combined(tmp_path: Path) -> None:
    # A sphere contoured on a 2 mm grid, rasterised on a 4 mm grid whose voxel centres are
    # every other 2 mm centre: each 4 mm slice must take the contour plane through its centre
    # (the planes half a slice away must not be XOR-ed in), giving lab[::2, ::2, ::2] exactly.
    n = 21
    c = np.arange(n) * 2.0 - 20.0
    zz, yy, xx = np.meshgrid(c, c, c, indexing="ij")
    lab = ((xx**2 + yy**2 + zz**2) <= 15.0**2).astype(np.int16)
    uid = "1.2.826.0.1.3680043.8.498.91"
    fine = Volume.from_array(lab, spacing=(2.0, 2.0, 2.0), origin=(-20.0, -20.0, -20.0),
                             frame_of_reference_uid=uid)  # fmt: skip
    write_rtstruct(fine, {1: "sphere"}, tmp_path / "rs.dcm")
    coarse = Volume.from_array(
        np.zeros((11, 11, 11)),
        spacing=(4.0, 4.0, 4.0),
        origin=(-20.0, -20.0, -20.0),
        frame_of_reference_uid=uid,
    )
    mask = rasterize_rtstruct(tmp_path / "rs.dcm", "sphere", coarse)
    np.testing.assert_array_equal(mask.array, lab[::2, ::2, ::2])
