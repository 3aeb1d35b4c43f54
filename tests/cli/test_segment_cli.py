"""``sstrkit segment``: outputs, JSON contract, emission inputs and errors.

The plumbing tests replace :func:`sstrkit.organs.segment.segment_organs` by a fake
that returns the digital patient's truth labels (:mod:`sstrkit.phantom.anatomy`,
8 mm voxels, no lesions) mapped to the default classes, so every expected label
map and volume is the phantom's own voxel count × 0.512 mL (8 mm cubed). The last
test runs the real segmentation on the digital patient's PET/CT (DICOM) end to end.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.core.provenance import Step
from sstrkit.core.volume import Volume
from sstrkit.io.dicom_read import read_series
from sstrkit.io.dicom_write import (
    PatientInfo,
    Radiopharmaceutical,
    StudyInfo,
    write_ct_series,
    write_pet_series,
)
from sstrkit.io.masks import read_dicom_seg
from sstrkit.io.nifti import read_nifti, sidecar_path, write_nifti
from sstrkit.organs.model import CLASS_NAMES, OrganQuality, OrganSegmentation
from sstrkit.phantom.anatomy import LABELS, PatientSpec, build_anatomy

runner = CliRunner()
FOR = "1.2.826.0.1.3680043.8.498.91001"
TZ = dt.timezone(dt.timedelta(hours=1))
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=TZ)
PATIENT = PatientInfo(name="Seg^Cli", patient_id="SEGC1", birth_date="19600101", sex="F")
STUDY = StudyInfo(study_uid="1.2.826.0.1.3680043.8.498.91002", study_time=T0, study_id="5")
GA = Radiopharmaceutical("Ga-68 DOTATATE", "Ga-68", 150e6, T0 - dt.timedelta(minutes=60))

#: phantom label → default class value (lungs split at x = 0: +x is the patient's left)
_PHANTOM_TO_CLASS = {
    LABELS["body"]: 13,
    LABELS["cortical_bone"]: 11,
    LABELS["spongiosa"]: 11,
    LABELS["liver"]: 1,
    LABELS["spleen"]: 2,
    LABELS["kidney_left_cortex"]: 3,
    LABELS["kidney_left_medulla"]: 3,
    LABELS["kidney_right_cortex"]: 4,
    LABELS["kidney_right_medulla"]: 4,
    LABELS["adrenal_left"]: 6,
    LABELS["adrenal_right"]: 7,
    LABELS["bladder"]: 5,
}


@pytest.fixture(scope="module")
def phantom() -> tuple[Volume, np.ndarray]:
    """CT (HU) of the digital patient and its truth organ classes on the CT grid."""
    model = build_anatomy(PatientSpec(seed=3), voxel_mm=8.0, lesions=False, iterations=1)
    anat = model.voxelise()
    truth = np.asarray(anat.labels.array)
    classes = np.zeros(truth.shape, dtype=np.int32)
    for src, dst in _PHANTOM_TO_CLASS.items():
        classes[truth == src] = dst
    classes[(truth > 0) & (classes == 0)] = 13  # pancreas, heart, aorta: body
    lungs = truth == LABELS["lungs"]
    x = anat.labels.index_to_physical(np.stack(np.indices(truth.shape)[::-1], -1))[..., 0]
    classes[lungs & (x > 0)] = 9
    classes[lungs & (x <= 0)] = 10
    # plumbing only: a plain HU per class (air, soft tissue, lung, bone, fluid), no texture
    hu = np.where(truth > 0, 40.0, -1000.0)
    hu[lungs] = -820.0
    hu[classes == 11] = 400.0
    hu[classes == 5] = 5.0
    ct = anat.labels.with_array(
        hu,
        operation="phantom_ct",
        quantity="HU",
        unit="HU",
        modality="CT",
        frame_of_reference_uid=FOR,
    )
    return ct, classes


def _fake(classes: np.ndarray, calls: list[dict[str, Any]]) -> Callable[..., OrganSegmentation]:
    def fake(
        ct: Volume,
        emission: Volume | None = None,
        *,
        emission_kind: str | None = None,
        progress: Callable[[str, float], None] | None = None,
    ) -> OrganSegmentation:
        calls.append({"kind": emission_kind, "emission": emission, "ct": ct})
        if progress is not None:
            progress("fake stage", 0.5)
        organs = []
        for value, name in CLASS_NAMES.items():
            n = int(np.count_nonzero(classes == value))
            organs.append(
                OrganQuality(
                    name=name,
                    label=value,
                    volume_ml=n * ct.voxel_volume_ml,
                    status="plausible" if n else "absent",
                    reason="" if n else "not in the phantom",
                )
            )
        return OrganSegmentation(
            labels=ct.with_array(classes, operation="fake", quantity="label", unit="1"),
            names=dict(CLASS_NAMES),
            organs=tuple(organs),
            method="fake (phantom truth)",
            provenance=Step.make("fake"),
            notes=("fake note",),
        )

    return fake


@pytest.fixture
def fake_calls(monkeypatch: pytest.MonkeyPatch, phantom) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("sstrkit.organs.segment.segment_organs", _fake(phantom[1], calls))
    return calls


@pytest.fixture
def ct_nifti(tmp_path: Path, phantom) -> Path:
    return write_nifti(phantom[0], tmp_path / "in" / "ct.nii.gz")


@pytest.fixture
def ct_dicom(tmp_path: Path, phantom) -> Path:
    write_ct_series(
        phantom[0], tmp_path / "ctdcm", patient=PATIENT, study=STUDY, acquisition_time=T0
    )
    return tmp_path / "ctdcm"


def test_json_contract_and_outputs(tmp_path: Path, ct_nifti: Path, fake_calls, phantom) -> None:
    out = tmp_path / "res" / "organs.nii.gz"
    result = runner.invoke(app, ["segment", str(ct_nifti), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # stdout is exactly one JSON document
    assert set(doc) == {"organs", "method", "notes", "outputs"}
    assert doc["method"] == "fake (phantom truth)" and doc["notes"] == ["fake note"]
    assert doc["outputs"] == {"labels": str(out), "labels_json": str(out.parent / "labels.json")}
    assert "fake stage" not in result.stderr  # no progress with --json
    classes = phantom[1]
    by_name = {o["name"]: o for o in doc["organs"]}
    assert set(by_name) == set(CLASS_NAMES.values())
    for value, name in CLASS_NAMES.items():
        o = by_name[name]
        assert {"name", "label", "volume_ml", "quality"} <= set(o)
        assert o["label"] == value
        # phantom voxel count × (8 mm)³ = 0.512 mL per voxel, rounded to 0.1 mL
        assert o["volume_ml"] == round(int(np.count_nonzero(classes == value)) * 0.512, 1)
    assert by_name["pituitary_gland"]["quality"] == "absent"
    labels = read_nifti(out)
    np.testing.assert_array_equal(labels.array, classes)
    present = sorted(int(v) for v in np.unique(classes) if v)
    names = json.loads((out.parent / "labels.json").read_text("utf-8"))
    assert names == {str(v): CLASS_NAMES[v] for v in present}
    side = json.loads(sidecar_path(out).read_text("utf-8"))
    assert side["Labels"] == names and side["Method"] == "fake (phantom truth)"
    assert fake_calls[0]["kind"] is None and fake_calls[0]["emission"] is None


def test_table_output(tmp_path: Path, ct_nifti: Path, fake_calls) -> None:
    out = tmp_path / "organs.nii.gz"
    result = runner.invoke(app, ["segment", str(ct_nifti), "--out", str(out)])
    assert result.exit_code == 0, result.output
    for word in ("volume mL", "quality", "liver", "kidney_left", "not in the phantom"):
        assert word in result.stdout
    assert "note: fake note" in result.stdout


def test_dicom_ct_and_seg_dicom(tmp_path: Path, ct_dicom: Path, fake_calls, phantom) -> None:
    out = tmp_path / "organs.nii.gz"
    seg = tmp_path / "dcm" / "organs_seg.dcm"
    args = ["segment", str(ct_dicom), "--out", str(out), "--seg-dicom", str(seg), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["outputs"]["seg_dicom"] == str(seg)
    ct = read_series(ct_dicom).volume
    back = read_dicom_seg(seg, ct)
    present = [int(v) for v in np.unique(phantom[1]) if v]
    assert back.names == {i + 1: CLASS_NAMES[v] for i, v in enumerate(present)}
    for i, v in enumerate(present):  # segment i + 1 holds exactly class v's voxels
        assert np.array_equal(back.labels.array == i + 1, phantom[1] == v)


def test_pet_without_weight_falls_back_to_bq_per_ml(
    tmp_path: Path, ct_nifti: Path, fake_calls, phantom
) -> None:
    ct = phantom[0]
    pet = Volume.from_array(
        np.full((4, 5, 6), 5000.0),
        spacing=(16.0, 16.0, 16.0),
        origin=ct.origin,
        frame_of_reference_uid=FOR,
        modality="PT",
        quantity="activity_concentration",
        unit="Bq/mL",
        reference_time=T0,
    )
    write_pet_series(pet, tmp_path / "pet", patient=PATIENT, study=STUDY, radiopharmaceutical=GA)
    out = tmp_path / "organs.nii.gz"
    args = ["segment", str(ct_nifti), "--pet", str(tmp_path / "pet"), "--out", str(out), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert any(n.startswith("PET used in Bq/mL (not SUV)") for n in doc["notes"])
    assert any("PatientWeight" in n for n in doc["notes"])
    call = fake_calls[0]
    assert call["kind"] == "pet" and call["emission"].unit == "Bq/mL"


def test_spect_nifti(tmp_path: Path, ct_nifti: Path, fake_calls, phantom) -> None:
    spect = phantom[0].with_array(
        np.ones(phantom[0].shape), operation="x", quantity="counts", unit="counts"
    )
    path = write_nifti(spect, tmp_path / "spect.nii.gz")
    out = tmp_path / "organs.nii.gz"
    args = ["segment", str(ct_nifti), "--spect", str(path), "--out", str(out), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert fake_calls[0]["kind"] == "spect"


def _one_line_error(result: Any) -> str:
    assert result.exit_code == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0]


def test_pet_and_spect_are_exclusive(tmp_path: Path, ct_nifti: Path, fake_calls) -> None:
    args = ["segment", str(ct_nifti), "--pet", "a", "--spect", "b", "--out", "o.nii.gz"]
    line = _one_line_error(runner.invoke(app, args))
    assert "--pet/--spect" in line and not fake_calls
    result = runner.invoke(app, [*args, "--json"])
    err = json.loads(result.stdout)["error"]
    assert err["exit_code"] == 2 and err["type"] == "InvalidInputError"


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--out", "organs.txt"], "NIfTI file name"),
        (["--out", "labels.nii.gz"], "labels.json"),
        (["--out", "o.nii.gz", "--seg-dicom", "s.dcm"], "--seg-dicom"),
        (["--out", "o.nii.gz", "--pet", "missing_pet"], "--pet"),
    ],
)
def test_bad_options_exit_2(
    tmp_path: Path, ct_nifti: Path, fake_calls, extra: list[str], needle: str
) -> None:
    args = ["segment", str(ct_nifti)]
    for a in extra:
        args.append(a if a.startswith("--") else str(tmp_path / a))
    line = _one_line_error(runner.invoke(app, args))
    assert needle in line and not fake_calls


def test_missing_ct_exit_2(tmp_path: Path, fake_calls) -> None:
    args = ["segment", str(tmp_path / "nope"), "--out", str(tmp_path / "o.nii.gz"), "--json"]
    result = runner.invoke(app, args)
    line = _one_line_error(result)
    assert "CT" in line and json.loads(result.stdout)["error"]["exit_code"] == 2


def test_pet_of_another_frame_of_reference(tmp_path: Path, ct_nifti: Path, fake_calls) -> None:
    pet = Volume.from_array(
        np.ones((3, 3, 3)), frame_of_reference_uid="1.2.3.999", quantity="SUV", unit="g/mL"
    )
    path = write_nifti(pet, tmp_path / "pet.nii.gz")
    args = ["segment", str(ct_nifti), "--pet", str(path), "--out", str(tmp_path / "o.nii.gz")]
    line = _one_line_error(runner.invoke(app, args))
    assert "FrameOfReferenceUID of --pet" in line and not fake_calls


def test_end_to_end_real_segmentation(tmp_path: Path) -> None:
    """The real algorithm on the digital patient's 68Ga PET/CT (4 mm truth, one cycle)."""
    from sstrkit.phantom.study import StudyConfig, make_study

    cfg = StudyConfig(
        seed=7, voxel_mm=4.0, cycles=1, timepoints_h=(24.0,), fdg=False, reposition=False
    )
    manifest = make_study(tmp_path / "study", cfg)
    root = tmp_path / "study"
    ct_dir = root / manifest["series"]["pet_ct"]["path"]
    pet_dir = root / manifest["series"]["pet"]["path"]
    out = tmp_path / "organs.nii.gz"
    seg = tmp_path / "organs_seg.dcm"
    args = ["segment", str(ct_dir), "--pet", str(pet_dir), "--out", str(out)]
    result = runner.invoke(app, [*args, "--seg-dicom", str(seg), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    by_name = {o["name"]: o for o in doc["organs"]}
    # truth: the phantom's liver / kidney voxels (truth/labels_baseline, 4 mm) × 0.064 mL
    truth = read_nifti(root / manifest["truth"]["labels_nifti"]["baseline"])
    tnames = json.loads((root / manifest["truth"]["label_names"]).read_text("utf-8"))
    arr = np.asarray(truth.array)

    def true_ml(*names: str) -> float:
        codes = [int(k) for k, v in tnames.items() if v in names]
        return float(np.count_nonzero(np.isin(arr, codes))) * truth.voxel_volume_ml

    for organ, parts in (
        ("liver", ("liver",)),
        ("kidney_left", ("kidney_left_cortex", "kidney_left_medulla")),
    ):
        assert by_name[organ]["quality"] == "plausible"
        # plumbing check, not the accuracy claim (docs/segmentation.md): within 30 %
        assert by_name[organ]["volume_ml"] == pytest.approx(true_ml(*parts), rel=0.3)
    ct = read_series(ct_dir).volume
    assert read_nifti(out).same_space(ct)
    back = read_dicom_seg(seg, ct)
    assert "liver" in back.names.values()
    assert [str(i.SegmentLabel) for i in pydicom.dcmread(seg).SegmentSequence] == [
        v for _, v in sorted(back.names.items())
    ]
