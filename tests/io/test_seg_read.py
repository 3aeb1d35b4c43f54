"""DICOM SEG input: label maps and names read back from SEG files written here with highdicom.

The SEGs are built on a small CT series written by sstrkit's CT writer (5 × 6 × 7
voxels of 4 × 3 × 2 mm, z × y × x). Every expected label map is written out by hand
from the masks the SEG was built from and the rules of :mod:`sstrkit.io.masks`
(segment number = label value; BINARY overlap → lower segment number; FRACTIONAL
voxel in a segment at fraction >= 0.5, overlap → larger fraction).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from numpy.typing import NDArray
from pydicom.sr.codedict import codes

from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.io.dicom_read import read_series
from sstrkit.io.dicom_write import PatientInfo, StudyInfo, write_ct_series
from sstrkit.io.masks import (
    dicom_seg_info,
    find_dicom_seg,
    is_dicom_seg,
    read_dicom_seg,
)
from sstrkit.reading.inputs import load_organ_labels

TZ = dt.timezone(dt.timedelta(hours=1))
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=TZ)
FOR = "1.2.826.0.1.3680043.8.498.90001"
SHAPE = (5, 6, 7)  # z, y, x
SPACING = (2.0, 3.0, 4.0)  # x, y, z mm
ORIGIN = (-10.0, -20.0, -30.0)
PATIENT = PatientInfo(name="Seg^Test", patient_id="SEG1", birth_date="19600101", sex="F")
STUDY = StudyInfo(study_uid="1.2.826.0.1.3680043.8.498.90002", study_time=T0, study_id="3")


def _ct_volume() -> Volume:
    return Volume.from_array(
        np.full(SHAPE, 40.0),
        spacing=SPACING,
        origin=ORIGIN,
        frame_of_reference_uid=FOR,
        modality="CT",
        quantity="HU",
        unit="HU",
    )


@pytest.fixture
def ct_series(tmp_path: Path) -> tuple[list[pydicom.Dataset], Volume]:
    """The CT datasets in slice (z index) order and the CT volume read back."""
    files = write_ct_series(
        _ct_volume(), tmp_path / "ct", patient=PATIENT, study=STUDY, acquisition_time=T0
    )
    dss = [pydicom.dcmread(f) for f in files]
    dss.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    return dss, read_series(tmp_path / "ct").volume


def _description(
    number: int, label: str, kind: pydicom.sr.coding.Code
) -> hd.seg.SegmentDescription:
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=label,
        segmented_property_category=codes.SCT.AnatomicalStructure,
        segmented_property_type=kind,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )


def write_test_seg(
    path: Path,
    source: Sequence[pydicom.Dataset],
    pixels: NDArray[np.generic],
    names: Sequence[tuple[str, pydicom.sr.coding.Code]],
    kind: str = "BINARY",
) -> Path:
    """A SEG on ``source`` (pixels: frames × rows × cols [× segments])."""
    seg = hd.seg.Segmentation(
        source_images=list(source),
        pixel_array=pixels,
        segmentation_type=kind,
        segment_descriptions=[_description(i + 1, n, c) for i, (n, c) in enumerate(names)],
        series_instance_uid=hd.UID(),
        series_number=50,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="test",
        manufacturer_model_name="test",
        software_versions="1",
        device_serial_number="1",
        max_fractional_value=255,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path)
    return path


ORGANS = [("Liver", codes.SCT.Liver), ("Spleen", codes.SCT.Spleen), ("Kidney", codes.SCT.Kidney)]


def _binary_masks() -> NDArray[np.bool_]:
    m = np.zeros((*SHAPE, 3), dtype=bool)
    m[1:3, 1:4, 2:5, 0] = True  # liver: 2 × 3 × 3 = 18 voxels
    m[2:4, 2:5, 3:6, 1] = True  # spleen: 18 voxels, 1 × 2 × 2 = 4 shared with the liver
    m[4, 0, 0, 2] = True  # kidney: 1 voxel
    return m


def _expected_binary() -> NDArray[np.int32]:
    m = _binary_masks()
    exp = np.zeros(SHAPE, dtype=np.int32)
    exp[m[..., 2]] = 3
    exp[m[..., 1]] = 2
    exp[m[..., 0]] = 1  # overlap → lower segment number (liver)
    return exp


def test_binary_multi_segment_labels_names_and_overlap(ct_series, tmp_path: Path) -> None:
    dss, ct = ct_series
    path = write_test_seg(tmp_path / "seg" / "seg.dcm", dss, _binary_masks(), ORGANS)
    res = read_dicom_seg(path, ct)
    assert res.names == {1: "Liver", 2: "Spleen", 3: "Kidney"}
    np.testing.assert_array_equal(res.labels.array, _expected_binary())
    assert res.labels.array.dtype == np.int32
    assert res.labels.same_space(ct)
    # overlap: slices 2, rows 2–3, cols 3–4 → 1 × 2 × 2 = 4 voxels (built above)
    assert res.overlap_voxels == 4
    assert any("4 voxels belong to more than one segment" in n for n in res.notes)
    assert any("lower segment number" in n for n in res.notes)
    assert not res.resampled and not res.own_grid
    assert res.header.referenced_series_uids == (str(dss[0].SeriesInstanceUID),)
    assert res.header.frame_of_reference_uid == FOR


def test_folder_and_file_detection(ct_series, tmp_path: Path) -> None:
    dss, ct = ct_series
    path = write_test_seg(tmp_path / "segdir" / "sub" / "x.dcm", dss, _binary_masks(), ORGANS)
    assert is_dicom_seg(path) and not is_dicom_seg(tmp_path / "ct" / "CT_0001.dcm")
    assert find_dicom_seg(tmp_path / "segdir") == path
    assert find_dicom_seg(tmp_path / "ct") is None
    assert dicom_seg_info(tmp_path / "segdir").names == {1: "Liver", 2: "Spleen", 3: "Kidney"}
    res = read_dicom_seg(tmp_path / "segdir", ct)
    np.testing.assert_array_equal(res.labels.array, _expected_binary())
    write_test_seg(tmp_path / "segdir" / "y.dcm", dss, _binary_masks(), ORGANS)
    with pytest.raises(InvalidInputError, match="pass the SEG file"):
        find_dicom_seg(tmp_path / "segdir")


def test_fractional_threshold_and_larger_fraction_wins(ct_series, tmp_path: Path) -> None:
    dss, ct = ct_series
    f = np.zeros((*SHAPE, 2), dtype=np.float32)
    f[1, 1, 1, 0] = 0.3  # below 0.5: not liver
    f[1, 1, 2, 0] = 0.6  # liver
    f[1, 1, 3, 0] = 0.9  # liver 0.9 vs spleen 0.6 → liver
    f[1, 1, 3, 1] = 0.6
    f[1, 1, 4, 0] = 0.6  # liver 0.6 vs spleen 0.9 → spleen
    f[1, 1, 4, 1] = 0.9
    f[1, 1, 5, :] = 0.8  # equal fractions → lower segment number (liver)
    path = write_test_seg(tmp_path / "frac.dcm", dss, f, ORGANS[:2], kind="FRACTIONAL")
    res = read_dicom_seg(path, ct)
    exp = np.zeros(SHAPE, dtype=np.int32)
    exp[1, 1, 2] = exp[1, 1, 3] = exp[1, 1, 5] = 1
    exp[1, 1, 4] = 2
    np.testing.assert_array_equal(res.labels.array, exp)
    assert res.overlap_voxels == 3  # columns 3, 4, 5 of row 1, slice 1
    assert any("larger fraction" in n for n in res.notes)


def test_labelmap_seg(ct_series, tmp_path: Path) -> None:
    dss, ct = ct_series
    lab = np.zeros(SHAPE, dtype=np.uint8)
    lab[0, 0, 0:3] = 2
    lab[3, 4:6, 5] = 1
    path = write_test_seg(tmp_path / "lm.dcm", dss, lab, ORGANS[:2], kind="LABELMAP")
    res = read_dicom_seg(path, ct)
    np.testing.assert_array_equal(res.labels.array, lab.astype(np.int32))
    assert res.names == {1: "Liver", 2: "Spleen"} and res.overlap_voxels == 0


def test_larger_image_takes_the_frames_at_their_voxel_offset(ct_series, tmp_path: Path) -> None:
    dss, _ = ct_series
    path = write_test_seg(tmp_path / "seg.dcm", dss, _binary_masks(), ORGANS)
    # one more slice below and two more columns on the left (whole voxels): same lattice
    big = Volume.from_array(
        np.zeros((6, 6, 9)),
        spacing=SPACING,
        origin=(ORIGIN[0] - 2 * SPACING[0], ORIGIN[1], ORIGIN[2] - SPACING[2]),
        frame_of_reference_uid=FOR,
    )
    res = read_dicom_seg(path, big)
    exp = np.zeros((6, 6, 9), dtype=np.int32)
    exp[1:, :, 2:] = _expected_binary()
    np.testing.assert_array_equal(res.labels.array, exp)
    # a smaller image: the kidney voxel (slice 4) and nothing else lies outside it
    small = Volume.from_array(
        np.zeros((4, 6, 7)), spacing=SPACING, origin=ORIGIN, frame_of_reference_uid=FOR
    )
    res = read_dicom_seg(path, small)
    np.testing.assert_array_equal(res.labels.array, _expected_binary()[:4])
    assert any("1 segment voxels lie outside the image" in n for n in res.notes)
    assert any("segment 3 (Kidney) has no voxel" in n for n in res.notes)


def test_other_frame_of_reference_is_refused(ct_series, tmp_path: Path) -> None:
    dss, ct = ct_series
    path = write_test_seg(tmp_path / "seg.dcm", dss, _binary_masks(), ORGANS)
    other = ct.with_metadata(frame_of_reference_uid="1.2.3.999")
    for resample in (False, True):
        with pytest.raises(GeometryMismatchError, match="FrameOfReferenceUID") as exc:
            read_dicom_seg(path, other, resample_labels=resample)
        assert "register" in exc.value.fix


def test_other_grid_needs_resample_labels(ct_series, tmp_path: Path) -> None:
    dss, _ = ct_series
    path = write_test_seg(tmp_path / "seg.dcm", dss, _binary_masks(), ORGANS)
    # half the spacing, origin a quarter coarse voxel lower: fine index n ↦ coarse n // 2
    fine = Volume.from_array(
        np.zeros(tuple(2 * n for n in SHAPE)),
        spacing=tuple(s / 2 for s in SPACING),
        origin=tuple(o - s / 4 for o, s in zip(ORIGIN, SPACING, strict=True)),
        frame_of_reference_uid=FOR,
    )
    with pytest.raises(GeometryMismatchError, match="frame geometry") as exc:
        read_dicom_seg(path, fine)
    assert "--resample-labels" in exc.value.fix
    res = read_dicom_seg(path, fine, resample_labels=True)
    exp = _expected_binary().repeat(2, 0).repeat(2, 1).repeat(2, 2)
    np.testing.assert_array_equal(res.labels.array, exp)
    assert res.resampled and res.labels.same_space(fine)
    own = read_dicom_seg(path, fine, keep_own_grid=True)
    assert own.own_grid and own.labels.spacing == SPACING
    assert int(np.count_nonzero(own.labels.array == 1)) == 18  # liver keeps its 18 voxels


def test_empty_seg_is_refused(ct_series, tmp_path: Path) -> None:
    dss, ct = ct_series
    path = write_test_seg(
        tmp_path / "empty.dcm", dss, np.zeros((*SHAPE, 1), dtype=bool), ORGANS[:1]
    )
    with pytest.raises(InvalidInputError, match=r"DICOM SEG empty\.dcm") as exc:
        read_dicom_seg(path, ct)
    assert "no voxel" in str(exc.value.actual)


def test_not_a_seg(tmp_path: Path, ct_series) -> None:
    _, ct = ct_series
    with pytest.raises(InvalidInputError, match="DICOM SEG"):
        read_dicom_seg(tmp_path / "ct" / "CT_0001.dcm", ct)


def test_load_organ_labels_reads_a_seg_file_and_folder(ct_series, tmp_path: Path) -> None:
    dss, ct = ct_series
    path = write_test_seg(tmp_path / "organs" / "seg.dcm", dss, _binary_masks(), ORGANS)
    notes: list[str] = []
    vol, names = load_organ_labels(path, None, ct, notes=notes)
    assert names == {1: "Liver", 2: "Spleen", 3: "Kidney"}
    np.testing.assert_array_equal(vol.array, _expected_binary())
    assert any("more than one segment" in n for n in notes)
    vol2, names2 = load_organ_labels(tmp_path / "organs", None, ct)
    assert names2 == names and np.array_equal(vol2.array, vol.array)
    # --organ-names wins over the segment labels
    override = tmp_path / "names.json"
    override.write_text('{"1": "liver", "2": "spleen", "3": "kidney_left"}', encoding="utf-8")
    _, names3 = load_organ_labels(path, override, ct)
    assert names3 == {1: "liver", 2: "spleen", 3: "kidney_left"}


def test_load_organ_labels_leaves_another_grid_to_the_caller(ct_series, tmp_path: Path) -> None:
    dss, _ = ct_series
    path = write_test_seg(tmp_path / "seg.dcm", dss, _binary_masks(), ORGANS)
    coarse = Volume.from_array(
        np.zeros((3, 3, 4)),
        spacing=tuple(2 * s for s in SPACING),
        origin=ORIGIN,
        frame_of_reference_uid=FOR,
    )
    vol, _ = load_organ_labels(path, None, coarse)
    assert vol.spacing == SPACING and not vol.same_space(coarse)
