"""Writing an organ segmentation as DICOM SEG: codes, algorithm, round trip, dciodvfy.

The label map is built by hand on a small CT series (5 × 6 × 7 voxels) written by
sstrkit's CT writer; the expected codes are the SNOMED CT concepts of DICOM PS3.16
CID 7150/7151 listed in :data:`sstrkit.io.seg_write.CLASS_CODES` (Kidney 64033007,
Left 7771000, Right 24028007, Bone marrow 14016003, Lumbar spine 122496007).
Without ``dciodvfy`` the conformance test skips, except under ``CI=true`` (the rule
of tests/io/test_conformance.py).
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from sstrkit import __version__
from sstrkit.core.provenance import Step
from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.io.dicom_read import read_series
from sstrkit.io.dicom_write import PatientInfo, StudyInfo, write_ct_series
from sstrkit.io.masks import read_dicom_seg
from sstrkit.io.seg_write import write_seg
from sstrkit.organs.model import CLASS_NAMES, OrganQuality, OrganSegmentation

TZ = dt.timezone(dt.timedelta(hours=1))
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=TZ)
FOR = "1.2.826.0.1.3680043.8.498.90011"
SHAPE = (5, 6, 7)
PATIENT = PatientInfo(name="Seg^Write", patient_id="SEGW1", birth_date="19600101", sex="M")
STUDY = StudyInfo(study_uid="1.2.826.0.1.3680043.8.498.90012", study_time=T0, study_id="4")


def _ct(tmp_path: Path, frame: str = FOR) -> tuple[Path, Volume]:
    vol = Volume.from_array(
        np.full(SHAPE, 40.0),
        spacing=(2.0, 3.0, 4.0),
        origin=(-10.0, -20.0, -30.0),
        frame_of_reference_uid=frame,
        modality="CT",
        quantity="HU",
        unit="HU",
    )
    write_ct_series(vol, tmp_path / "ct", patient=PATIENT, study=STUDY, acquisition_time=T0)
    return tmp_path / "ct", read_series(tmp_path / "ct").volume


def _segmentation(ct: Volume) -> tuple[OrganSegmentation, np.ndarray]:
    lab = np.zeros(SHAPE, dtype=np.int32)
    lab[1:3, 1:4, 1:3] = 3  # kidney_left
    lab[1:3, 1:4, 4:6] = 4  # kidney_right
    lab[4, 2:4, 2:4] = 12  # red_marrow_lumbar
    lab[0, 0, :] = 13  # body
    organs = tuple(
        OrganQuality(
            name=CLASS_NAMES[k],
            label=k,
            volume_ml=float(np.count_nonzero(lab == k)) * ct.voxel_volume_ml,
            status="plausible" if np.any(lab == k) else "absent",
        )
        for k in CLASS_NAMES
    )
    seg = OrganSegmentation(
        labels=ct.with_array(lab, operation="test_labels", quantity="label", unit="1"),
        names=dict(CLASS_NAMES),
        organs=organs,
        method="test",
        provenance=Step.make("test"),
    )
    return seg, lab


def test_segments_codes_and_algorithm(tmp_path: Path) -> None:
    ct_dir, ct = _ct(tmp_path)
    seg, _ = _segmentation(ct)
    out = write_seg(seg, ct_dir, tmp_path / "out" / "organs_seg.dcm")
    assert sorted(p.name for p in out.parent.iterdir()) == ["organs_seg.dcm"]  # no temp left
    ds = pydicom.dcmread(out)
    assert ds.Modality == "SEG" and ds.SegmentationType == "BINARY"
    items = list(ds.SegmentSequence)
    # present classes in label order: 3, 4, 12, 13 → segment numbers 1..4
    assert [int(i.SegmentNumber) for i in items] == [1, 2, 3, 4]
    assert [str(i.SegmentLabel) for i in items] == [
        "kidney_left",
        "kidney_right",
        "red_marrow_lumbar",
        "body",
    ]
    kid_l, kid_r, marrow, body = items
    t = kid_l.SegmentedPropertyTypeCodeSequence[0]
    assert (t.CodeValue, t.CodingSchemeDesignator) == ("64033007", "SCT")
    assert t.SegmentedPropertyTypeModifierCodeSequence[0].CodeValue == "7771000"
    right = kid_r.SegmentedPropertyTypeCodeSequence[0]
    assert right.SegmentedPropertyTypeModifierCodeSequence[0].CodeValue == "24028007"
    assert marrow.SegmentedPropertyTypeCodeSequence[0].CodeValue == "14016003"
    assert marrow.AnatomicRegionSequence[0].CodeValue == "122496007"
    assert body.SegmentedPropertyTypeCodeSequence[0].CodeValue == "38266002"
    for item in items:
        assert item.SegmentAlgorithmType == "AUTOMATIC"
        alg = item.SegmentationAlgorithmIdentificationSequence[0]
        assert (alg.AlgorithmName, alg.AlgorithmVersion) == ("sstrkit organs", __version__)
    assert ds.FrameOfReferenceUID == FOR
    assert ds.PatientID == "SEGW1" and ds.StudyInstanceUID == STUDY.study_uid


def test_round_trip_through_the_reader(tmp_path: Path) -> None:
    ct_dir, ct = _ct(tmp_path)
    seg, lab = _segmentation(ct)
    out = write_seg(seg, [pydicom.dcmread(f) for f in sorted(ct_dir.iterdir())], tmp_path / "s.dcm")
    back = read_dicom_seg(out, ct)
    assert back.names == {1: "kidney_left", 2: "kidney_right", 3: "red_marrow_lumbar", 4: "body"}
    seg_no = {3: 1, 4: 2, 12: 3, 13: 4}  # label value → segment number (written in order)
    exp = np.zeros(SHAPE, dtype=np.int32)
    for value, number in seg_no.items():
        exp[lab == value] = number
    np.testing.assert_array_equal(back.labels.array, exp)
    assert back.overlap_voxels == 0 and back.notes == ()


def test_wrong_ct_is_refused(tmp_path: Path) -> None:
    _, ct = _ct(tmp_path / "a")
    seg, _ = _segmentation(ct)
    other_dir, _ = _ct(tmp_path / "b", frame="1.2.826.0.1.3680043.8.498.90099")
    with pytest.raises(GeometryMismatchError, match="CT series of the segmentation"):
        write_seg(seg, other_dir, tmp_path / "x.dcm")
    with pytest.raises(InvalidInputError, match="CT series"):
        write_seg(seg, tmp_path / "empty_dir_does_not_exist", tmp_path / "x.dcm")
    assert not (tmp_path / "x.dcm").exists()


def test_empty_segmentation_is_refused(tmp_path: Path) -> None:
    ct_dir, ct = _ct(tmp_path)
    seg, _ = _segmentation(ct)
    empty = OrganSegmentation(
        labels=ct.with_array(np.zeros(SHAPE, np.int32), operation="empty"),
        names=seg.names,
        organs=(),
        method="test",
        provenance=seg.provenance,
    )
    with pytest.raises(InvalidInputError, match="organ segmentation"):
        write_seg(empty, ct_dir, tmp_path / "x.dcm")


def test_dciodvfy_accepts_the_seg(tmp_path: Path, dciodvfy_tool: str) -> None:
    tool = dciodvfy_tool
    ct_dir, ct = _ct(tmp_path)
    seg, _ = _segmentation(ct)
    out = write_seg(seg, ct_dir, tmp_path / "organs_seg.dcm")
    res = subprocess.run([tool, str(out)], capture_output=True, timeout=120, check=False)
    text = (res.stderr + res.stdout).decode("utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error")]
    assert res.returncode == 0 and not errors, "\n".join(lines)
