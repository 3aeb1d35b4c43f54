"""A DICOM SEG as the study's organ labels: intake (``sstrkit study init``) and Study.

The digital patient (4 mm truth grid, one cycle, no repositioning) is written as a
DICOM export; a SEG is built on its SSTR PET/CT's CT from the truth label map
placed on the CT grid by nearest neighbour (liver, spleen, kidneys). The expected
label maps are that array, the expected names the segment labels written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sstrkit.core.provenance import Step
from sstrkit.core.volume import Volume
from sstrkit.io.dicom_read import read_series
from sstrkit.io.nifti import read_nifti, write_nifti
from sstrkit.io.seg_write import write_seg
from sstrkit.organs.model import CLASS_NAMES, OrganSegmentation
from sstrkit.phantom.study import StudyConfig, make_study
from sstrkit.pipeline.intake import intake_study
from sstrkit.pipeline.study import Study

#: truth region → class value of the SEG (sstrkit.organs.model.CLASS_NAMES)
_TRUTH_TO_CLASS = {
    "liver": 1,
    "spleen": 2,
    "kidney_left_cortex": 3,
    "kidney_left_medulla": 3,
    "kidney_right_cortex": 4,
    "kidney_right_medulla": 4,
}
NAMES = {1: "liver", 2: "spleen", 3: "kidney_left", 4: "kidney_right"}


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The phantom study, its PET/CT CT volume, the class array on it and the SEG file."""
    root = tmp_path_factory.mktemp("seg_study") / "study"
    cfg = StudyConfig(
        seed=7, voxel_mm=4.0, cycles=1, timepoints_h=(24.0,), fdg=False, reposition=False
    )
    manifest = make_study(root, cfg)
    ct_dir = root / manifest["series"]["pet_ct"]["path"]
    ct = read_series(ct_dir).volume
    truth = read_nifti(root / manifest["truth"]["labels_nifti"]["baseline"])
    tnames = json.loads((root / manifest["truth"]["label_names"]).read_text("utf-8"))
    truth = truth.with_metadata(frame_of_reference_uid=ct.frame_of_reference_uid)
    on_ct = np.asarray(truth.resample_to(ct, mode="nearest").array)
    classes = np.zeros(ct.shape, dtype=np.int32)
    for code, name in tnames.items():
        if name in _TRUTH_TO_CLASS:
            classes[on_ct == int(code)] = _TRUTH_TO_CLASS[name]
    seg = OrganSegmentation(
        labels=ct.with_array(classes, operation="truth_on_ct", quantity="label", unit="1"),
        names=dict(CLASS_NAMES),
        organs=(),
        method="phantom truth",
        provenance=Step.make("test"),
    )
    seg_file = write_seg(seg, ct_dir, root.parent / "organs_seg.dcm")
    return {"root": root, "manifest": manifest, "ct": ct, "classes": classes, "seg": seg_file}


def _with_seg_in_export(export: dict[str, Any], tmp_path: Path) -> Path:
    dicom = tmp_path / "dicom"
    shutil.copytree(export["root"] / "dicom", dicom)
    (dicom / "seg").mkdir()
    shutil.copy(export["seg"], dicom / "seg" / "organs_seg.dcm")
    return dicom


def test_intake_takes_a_seg_series_of_the_export(export: dict[str, Any], tmp_path: Path) -> None:
    dicom = _with_seg_in_export(export, tmp_path)
    res = intake_study(dicom, tmp_path / "S")
    assert res.manifest["segmentation"] == {
        "labels_nifti": {"baseline": "segmentation/labels.nii.gz"},
        "label_names": "segmentation/label_names.json",
    }
    names = json.loads((tmp_path / "S/segmentation/label_names.json").read_text("utf-8"))
    assert names == {str(k): v for k, v in NAMES.items()}
    labels = read_nifti(tmp_path / "S/segmentation/labels.nii.gz")
    np.testing.assert_array_equal(labels.array, export["classes"])
    assert labels.same_space(export["ct"])
    assert any("converted to the study segmentation 'baseline'" in n for n in res.notes)
    assert [r.role for r in res.rows].count("segmentation") == 1
    ignored = res.manifest["intake"]["ignored_series"]
    assert not [i for i in ignored if i["modality"] == "SEG"]
    study = Study.load(tmp_path / "S")
    assert study.label_names() == NAMES
    assert {"liver", "spleen"} <= set(study.region_map.regions)


def test_intake_segmentation_option_takes_a_seg_file(
    export: dict[str, Any], tmp_path: Path
) -> None:
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"1": "Liver", "2": "Spleen", "3": "L kidney", "4": "R kidney"}))
    res = intake_study(
        export["root"] / "dicom", tmp_path / "S", segmentation=export["seg"], label_names=names
    )
    assert res.manifest["segmentation"]["labels_nifti"] == {
        "baseline": "segmentation/labels.nii.gz"
    }
    copied = json.loads((tmp_path / "S/segmentation/label_names.json").read_text("utf-8"))
    assert copied == {"1": "Liver", "2": "Spleen", "3": "L kidney", "4": "R kidney"}
    np.testing.assert_array_equal(
        read_nifti(tmp_path / "S/segmentation/labels.nii.gz").array, export["classes"]
    )


def test_a_given_nifti_wins_over_a_seg_of_the_export(
    export: dict[str, Any], tmp_path: Path
) -> None:
    dicom = _with_seg_in_export(export, tmp_path)
    own = np.zeros(export["ct"].shape, dtype=np.int16)
    own[10:12, 20:22, 30:32] = 1
    path = write_nifti(export["ct"].with_array(own, operation="own"), tmp_path / "own.nii.gz")
    names = tmp_path / "own.json"
    names.write_text('{"1": "liver"}', encoding="utf-8")
    res = intake_study(dicom, tmp_path / "S", segmentation=path, label_names=names)
    got = read_nifti(tmp_path / "S/segmentation/labels.nii.gz").array
    np.testing.assert_array_equal(got, own)
    assert any("SEG" in n and "--segmentation was given" in n for n in res.notes)


def test_study_reads_a_seg_named_in_the_manifest(export: dict[str, Any], tmp_path: Path) -> None:
    root = tmp_path / "study"
    shutil.copytree(export["root"], root)
    shutil.copy(export["seg"], root / "organs_seg.dcm")
    manifest = json.loads((root / "manifest.json").read_text("utf-8"))
    manifest["segmentation"] = {"labels_nifti": {"baseline": "organs_seg.dcm"}}
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    study = Study.load(root)
    assert study.label_names() == NAMES
    vol = study.label_volume("baseline")
    np.testing.assert_array_equal(vol.array, export["classes"])
    pet: Volume = study.read(root / manifest["series"]["pet"]["path"], None)
    on_pet = study.labels_on(pet, None, ct_uid=manifest["series"]["pet_ct"]["series_uid"])
    ref = vol.resample_to(pet, mode="nearest")  # reference: nearest neighbour by coordinates
    np.testing.assert_array_equal(on_pet, np.asarray(ref.array))
    assert set(study.region_map.regions) >= {"liver", "spleen"}


def _box_seg(ct_dir: Path, out: Path) -> tuple[Path, np.ndarray]:
    """A one-organ SEG (a 2 × 3 × 4 voxel 'liver' box) on the CT series ``ct_dir``."""
    ct = read_series(ct_dir).volume
    lab = np.zeros(ct.shape, dtype=np.int32)
    lab[10:12, 20:23, 30:34] = 1
    seg = OrganSegmentation(
        labels=ct.with_array(lab, operation="box", quantity="label", unit="1"),
        names=dict(CLASS_NAMES),
        organs=(),
        method="box",
        provenance=Step.make("test"),
    )
    return write_seg(seg, ct_dir, out), lab


def test_seg_on_a_spect_ct_and_the_baseline_preference(
    export: dict[str, Any], tmp_path: Path
) -> None:
    spect_ct = export["manifest"]["series"]["spect_ct"][0]
    dicom = tmp_path / "dicom"
    shutil.copytree(export["root"] / "dicom", dicom)
    _, lab = _box_seg(dicom / "cycle1" / "spect_024h_ct", dicom / "seg_spect" / "s.dcm")
    res = intake_study(dicom, tmp_path / "S1")
    # the SPECT/CT time point of cycle 1 at 24 h (manifest of the digital patient)
    assert spect_ct["cycle"] == 1 and spect_ct["hours_post_injection"] == 24.0
    assert res.manifest["segmentation"]["labels_nifti"] == {
        "cycle1_24h": "segmentation/labels.nii.gz"
    }
    np.testing.assert_array_equal(read_nifti(tmp_path / "S1/segmentation/labels.nii.gz").array, lab)
    # with a second SEG on the SSTR PET/CT, that one is the study segmentation
    (dicom / "seg_pet").mkdir()
    shutil.copy(export["seg"], dicom / "seg_pet" / "organs_seg.dcm")
    res = intake_study(dicom, tmp_path / "S2")
    assert res.manifest["segmentation"]["labels_nifti"] == {
        "baseline": "segmentation/labels.nii.gz"
    }
    assert any("SEG" in n and "is the study segmentation" in n for n in res.notes)
