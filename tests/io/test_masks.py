"""Masks from NIfTI and RTSTRUCT against analytic shapes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.io.masks import rasterize_rtstruct, read_mask_nifti, rtstruct_roi_names
from sstrkit.io.nifti import write_nifti

FOR = "1.2.3.4.5.6"


def _reference(n: int = 64, nz: int = 41) -> Volume:
    # 1 mm voxels; voxel centres at x, y = -32 .. 31 mm and z = -20 .. 20 mm
    return Volume.from_array(
        np.zeros((nz, n, n), np.float32),
        spacing=(1.0, 1.0, 1.0),
        origin=(-32.0, -32.0, -20.0),
        frame_of_reference_uid=FOR,
    )


def _circle(r: float, z: float, cx: float = 0.25, cy: float = 0.25, n: int = 360) -> list[str]:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts = np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t), np.full(n, z)])
    return [f"{v:.4f}" for v in pts.ravel()]


def _rtstruct(path: Path, rois: dict[str, list[list[str]]], frame: str = FOR) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid()
    ssroi, contours = [], []
    for number, (name, polys) in enumerate(rois.items(), start=1):
        r = Dataset()
        r.ROINumber, r.ROIName, r.ReferencedFrameOfReferenceUID = number, name, frame
        ssroi.append(r)
        c = Dataset()
        c.ReferencedROINumber = number
        items = []
        for poly in polys:
            it = Dataset()
            it.ContourGeometricType = "CLOSED_PLANAR"
            it.NumberOfContourPoints = len(poly) // 3
            it.ContourData = poly
            items.append(it)
        c.ContourSequence = DicomSequence(items)
        contours.append(c)
    ds.StructureSetROISequence = DicomSequence(ssroi)
    ds.ROIContourSequence = DicomSequence(contours)
    ds.save_as(path, enforce_file_format=True)
    return path


def test_rtstruct_sphere_volume(tmp_path: Path) -> None:
    # Sphere R = 15 mm drawn as circles on every slice plane z_k (|z_k| < R).
    # Analytic volume 4/3 pi R^3 = 14137.2 mm^3. Stacking 1 mm slices (midpoint rule) gives
    # pi * sum(R^2 - z_k^2) = pi * (29*225 - 2*sum_{1..14} k^2) = pi * 4495 = 14121.7 mm^3.
    R = 15.0
    polys = [_circle(math.sqrt(R**2 - z**2), z) for z in np.arange(-14.0, 15.0)]
    path = _rtstruct(tmp_path / "rs.dcm", {"Sphere": polys, "Other": [_circle(3, 0)]})
    assert rtstruct_roi_names(path) == ["Sphere", "Other"]
    mask = rasterize_rtstruct(path, "Sphere", _reference())
    n = int(mask.array.sum())  # voxel volume 1 mm^3
    midpoint = math.pi * 4495
    # pixelisation of 29 circles (~2 pi r boundary voxels each, errors of both signs cancel)
    # keeps the count within 0.5 % of the stacked area and 1 % of the sphere
    assert n == pytest.approx(midpoint, rel=5e-3)
    assert n == pytest.approx(4 / 3 * math.pi * R**3, rel=1e-2)
    # every voxel centre inside the R - 1 mm sphere is set, none outside R + 1 mm
    idx = np.indices(mask.shape).reshape(3, -1)[::-1].T
    pts = mask.index_to_physical(idx) - np.array([0.25, 0.25, 0.0])
    dist = np.linalg.norm(pts, axis=1).reshape(mask.shape)
    assert mask.array[dist < R - 1].all() and not mask.array[dist > R + 1].any()


def test_rtstruct_hole_even_odd(tmp_path: Path) -> None:
    # annulus between r = 10 and r = 5 on slice z = 0: area pi (100 - 25) = 235.6 mm^2
    path = _rtstruct(tmp_path / "rs.dcm", {"Ring": [_circle(10, 0), _circle(5, 0)]})
    mask = rasterize_rtstruct(path, "Ring", _reference())
    assert int(mask.array.sum()) == pytest.approx(math.pi * 75, rel=0.05)
    assert mask.array[20, 32, 32] == 0  # centre voxel (0, 0, 0) lies in the hole


def test_rtstruct_errors(tmp_path: Path) -> None:
    path = _rtstruct(tmp_path / "rs.dcm", {"A": [_circle(5, 0)]}, frame="9.9.9")
    with pytest.raises(GeometryMismatchError, match="ReferencedFrameOfReferenceUID"):
        rasterize_rtstruct(path, "A", _reference())
    with pytest.raises(InvalidInputError, match="ROI name"):
        rasterize_rtstruct(path, "B", _reference())


def test_nifti_mask_same_grid_and_resampled(tmp_path: Path) -> None:
    ref = _reference(n=16, nz=8)
    labels = np.zeros(ref.shape, np.int16)
    labels[2:4, 4:8, 4:8] = 2
    labels[5, 0, 0] = 1
    write_nifti(ref.with_array(labels, operation="t", unit="1"), tmp_path / "m.nii.gz")
    m = read_mask_nifti(tmp_path / "m.nii.gz", ref, label=2)
    assert int(m.array.sum()) == 2 * 4 * 4
    assert int(read_mask_nifti(tmp_path / "m.nii.gz", ref).array.sum()) == 33
    # the same mask on a 2 mm grid is resampled (nearest) onto the 1 mm image grid
    coarse = Volume.from_array(
        labels[:, ::2, ::2].copy(), spacing=(2.0, 2.0, 1.0), origin=(-31.5, -31.5, -20.0)
    )
    write_nifti(coarse, tmp_path / "c.nii.gz")
    res = read_mask_nifti(tmp_path / "c.nii.gz", ref, label=2, resample_labels=True)
    assert res.shape == ref.shape and int(res.array.sum()) == 2 * 4 * 4
    assert res.history[-1].parameters["resampled_nearest"] is True
    # resampled only when asked: the error names the flag of `sstrkit suv` / `sstrkit read`
    with pytest.raises(GeometryMismatchError, match=r"grid shape.*--resample-labels"):
        read_mask_nifti(tmp_path / "c.nii.gz", ref, label=2)
    with pytest.raises(InvalidInputError, match="empty mask"):
        read_mask_nifti(tmp_path / "m.nii.gz", ref, label=7)


def test_nifti_mask_without_sidecar_or_of_another_frame(tmp_path: Path) -> None:
    ref = _reference(n=16, nz=8)
    labels = np.zeros((8, 8, 8), np.int16)
    labels[2:4, 2:4, 2:4] = 1
    coarse = Volume.from_array(labels, spacing=(2.0, 2.0, 1.0), origin=(-31.5, -31.5, -20.0))
    path = write_nifti(coarse, tmp_path / "c.nii.gz")
    (tmp_path / "c.json").unlink()  # a bare NIfTI: its frame of reference is unknown
    with pytest.raises(GeometryMismatchError, match=r"no JSON sidecar.*--resample-labels"):
        read_mask_nifti(path, ref)
    assert int(read_mask_nifti(path, ref, resample_labels=True).array.sum()) == 2 * 4 * 4
    # a sidecar naming another frame of reference is refused even with the flag
    other = coarse.with_metadata(operation="t", frame_of_reference_uid="9.9.9")
    write_nifti(other, tmp_path / "o.nii.gz")
    for flag in (False, True):
        with pytest.raises(GeometryMismatchError, match=r"FrameOfReferenceUID.*register"):
            read_mask_nifti(tmp_path / "o.nii.gz", ref, resample_labels=flag)
