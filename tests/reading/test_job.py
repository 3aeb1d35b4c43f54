"""The reading job writes what `sstrkit read` and the reading stage of `sstrkit run` wrote.

The file names, index keys and JSON key order below are those the two callers wrote
before the job was factored out of them (recorded from `sstrkit read` with --gif on
the conftest patient, and from the run's ``OUT/reading`` of a phantom study). Reference
values: the conftest patient's set SUVs (liver 6, spleen 20) and truth lesions (four;
the node of SUV 30 is Krenning 4 against spleen 20).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.core.volume import Volume
from sstrkit.io.dicom_modules import PatientInfo, Radiopharmaceutical, StudyInfo
from sstrkit.io.dicom_read import read_series
from sstrkit.io.dicom_write import write_pet_series
from sstrkit.io.nifti import write_nifti
from sstrkit.io.suv import compute_suv
from sstrkit.reading.eligibility import Labs
from sstrkit.reading.inputs import load_ct, load_organ_labels, load_suv_pet
from sstrkit.reading.job import ReadingInputs, ReadingOutputs, run_reading_job

from .abdomen import Abdomen, segmenter
from .conftest import LESIONS

runner = CliRunner()
LABS = {
    "age_years": 60,
    "sex": "male",
    "creatinine_umol_l": 80,
    "haemoglobin_g_dl": 12.5,
    "platelets_1e9_per_l": 210,
    "wbc_1e9_per_l": 5.5,
}
#: ReadingResult.to_dict keys, in order (the start of every reading.json).
RESULT_KEYS = [
    "organs_source",
    "organs_automatic",
    "organ_quality",
    "organ_segmentation",
    "notes",
    "reference",
    "lesions",
    "krenning_patient",
    "krenning_method",
    "krenning_sources",
    "target_lesion_ids",
    "sstr_tumour_volume_ml",
    "total_tlse",
    "n_lesions",
    "suppressed_physiological",
    "segmentation",
    "netpet",
    "fdg_lesions",
    "fdg_reference",
    "eligibility",
    "sstrkit_version",
    "history",
]


def _tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_read_layout_is_what_sstrkit_read_wrote(patient: dict[str, Any], tmp_path: Path) -> None:
    inputs = ReadingInputs(
        suv=patient["suv"],
        ct=patient["ct"],
        organs=patient["organs"],
        organ_names=patient["names"],
        labs=Labs.from_mapping(LABS),
    )
    job = run_reading_job(inputs, tmp_path, ReadingOutputs.for_read(gif=True))
    assert _tree(tmp_path) == {
        "reading.json",
        "lesions.nii.gz",
        "lesions.json",
        "lesions.png",
        "mip.png",
        "mip_rotating.gif",
        *(f"slices/lesion_{i:03d}.png" for i in range(1, 5)),
    }
    assert list(job.files) == [
        "reading_json",
        "lesion_labels",
        "mip",
        "lesion_table",
        "lesion_slices",
        "mip_rotating",
    ]
    assert job.files["lesion_labels"] == str(tmp_path / "lesions.nii.gz")
    assert len(job.files["lesion_slices"]) == len(LESIONS)
    doc = json.loads((tmp_path / "reading.json").read_text(encoding="utf-8"))
    assert list(doc) == [*RESULT_KEYS, "warnings", "files"]
    assert doc == json.loads(json.dumps(job.document))
    assert doc["warnings"] == []  # NIfTI in SUV: no header to warn about
    # set SUVs of the conftest patient, uniform regions: float32 rounding only
    assert doc["reference"]["liver_suv_mean"] == pytest.approx(6.0, abs=1e-5)
    assert doc["reference"]["spleen_suv_mean"] == pytest.approx(20.0, abs=1e-5)
    assert doc["n_lesions"] == len(LESIONS) and doc["krenning_patient"] == 4
    assert job.suv is patient["suv"] and job.result.organs_source.startswith("supplied: ")


def test_cli_read_writes_what_the_job_writes(patient: dict[str, Any], tmp_path: Path) -> None:
    """`sstrkit read` is the job on the loaded files: same files, bytes and JSON."""
    src = tmp_path / "in"
    src.mkdir()
    pet, ct, organs = src / "pet.nii.gz", src / "ct.nii.gz", src / "organs.nii.gz"
    write_nifti(patient["suv"], pet)
    write_nifti(patient["ct"], ct)
    labels = {str(k): v for k, v in patient["names"].items()}
    write_nifti(patient["organs"], organs, extra={"Labels": labels})
    (src / "labs.json").write_text(json.dumps(LABS), encoding="utf-8")
    cli_out, job_out = tmp_path / "cli", tmp_path / "job"
    args = ["read", str(pet), "--ct", str(ct), "--organs", str(organs)]
    res = runner.invoke(app, [*args, "--labs", str(src / "labs.json"), "--out", str(cli_out)])
    assert res.exit_code == 0, res.output

    suv = load_suv_pet(pet, assume_suv=False, role="PET")
    org, names = load_organ_labels(organs, None, suv)
    inputs = ReadingInputs(
        suv=suv,
        ct=load_ct(ct),
        organs=org,
        organ_names=names,
        organs_source=f"supplied: {organs}",
        labs=Labs.from_json(src / "labs.json"),
    )
    job = run_reading_job(inputs, job_out, ReadingOutputs.for_read())
    assert _tree(cli_out) == _tree(job_out)
    for rel in _tree(cli_out) - {"reading.json"}:
        assert (cli_out / rel).read_bytes() == (job_out / rel).read_bytes(), rel
    cli_doc = (cli_out / "reading.json").read_text(encoding="utf-8")
    job_doc = (job_out / "reading.json").read_text(encoding="utf-8")
    assert cli_doc.replace(str(cli_out), str(job_out)) == job_doc
    assert json.loads(job_doc) == json.loads(json.dumps(job.document))


@pytest.fixture(scope="module")
def dicom_pet(patient: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The conftest patient as a Bq/mL PET series (SUV × 1000 Bq/mL, 70 kg, Ga-68)."""
    t0 = dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)
    suv: Volume = patient["suv"]
    activity = Volume.from_array(
        np.asarray(suv.array) * 1000.0,
        spacing=suv.spacing,
        origin=suv.origin,
        frame_of_reference_uid=suv.frame_of_reference_uid,
        modality="PT",
        quantity="activity_concentration",
        unit="Bq/mL",
        reference_time=t0,
    )
    folder = tmp_path_factory.mktemp("dicom") / "pet"
    write_pet_series(
        activity,
        folder,
        patient=PatientInfo(weight_kg=70.0, sex="M"),
        study=StudyInfo(study_time=t0),
        radiopharmaceutical=Radiopharmaceutical(
            "Ga-68 DOTATATE", "Ga-68", 150e6, t0 - dt.timedelta(minutes=60)
        ),
    )
    return folder


def test_run_layout_is_what_the_run_wrote(
    patient: dict[str, Any], dicom_pet: Path, tmp_path: Path
) -> None:
    suv = load_suv_pet(dicom_pet, assume_suv=False, role="SSTR PET")
    inputs = ReadingInputs(
        suv=suv,
        ct=patient["ct"].with_metadata(
            operation="same_frame", frame_of_reference_uid=suv.frame_of_reference_uid
        ),
        organs=suv.with_array(np.asarray(patient["organs"].array), operation="organ_labels"),
        organ_names=patient["names"],
        pet_dicom=dicom_pet,
    )
    job = run_reading_job(
        inputs,
        tmp_path,
        ReadingOutputs.for_run(),
        tracer="68Ga-DOTATATE",
        mip_organs_source=None,
        extra={"labs": None, "tracer": "68Ga-DOTATATE"},
    )
    assert list(job.files) == [
        "mip",
        "lesion_slices",
        "suv_nifti",
        "lesions_nifti",
        "suv_dicom",
        "lesions_rtstruct",
    ]
    tree = _tree(tmp_path)
    assert {p for p in tree if not p.startswith(("slices/", "suv_dicom/"))} == {
        "reading.json",
        "lesions.nii.gz",
        "lesions.json",
        "suv.nii.gz",
        "suv.json",
        "mip.png",
        "lesions_rtstruct.dcm",
    }
    doc = json.loads((tmp_path / "reading.json").read_text(encoding="utf-8"))
    assert list(doc) == [*RESULT_KEYS, "labs", "tracer", "images"]
    assert doc["tracer"] == "68Ga-DOTATATE" and doc["images"] == job.files
    n = len(job.result.lesions)
    assert n == len(LESIONS)
    rt = pydicom.dcmread(job.files["lesions_rtstruct"])
    assert rt.Modality == "RTSTRUCT"
    assert [r.ROIName for r in rt.StructureSetROISequence] == [
        f"lesion {i}" for i in range(1, n + 1)
    ]
    # the SUV series for PACS reads back to the SUVs the reading was made on; tolerance:
    # 16-bit stored values with a per-slice slope (step ≤ max/32767 ≈ 3e-5 × max)
    back = compute_suv(read_series(job.files["suv_dicom"]), "bw").suv
    assert back is not None
    ref = np.asarray(suv.array)
    assert float(np.abs(np.asarray(back.array) - ref).max()) <= 1e-4 * float(ref.max())


def test_listed_slices_are_capped_all_written(patient: dict[str, Any], tmp_path: Path) -> None:
    inputs = ReadingInputs(
        suv=patient["suv"], organs=patient["organs"], organ_names=patient["names"]
    )
    outputs = replace(ReadingOutputs.for_run(), exports=False, max_listed_slices=2)
    job = run_reading_job(inputs, tmp_path, outputs)
    assert len(list((tmp_path / "slices").glob("lesion_*.png"))) == len(LESIONS)
    assert len(job.files["lesion_slices"]) == 2
    assert list(job.files) == ["mip", "lesion_slices", "lesions_nifti"]
    assert "suv_nifti" not in job.files and not (tmp_path / "suv.nii.gz").exists()


def test_automatic_organs_written_for_read_not_for_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = Abdomen().build()
    monkeypatch.setattr("sstrkit.organs.segment.segment_organs", segmenter(study))
    said: list[str] = []
    inputs = ReadingInputs(suv=study["suv"], ct=study["ct"])
    read = run_reading_job(inputs, tmp_path / "read", say=said.append)
    assert said == ["segmenting the organs on the CT (automatic)…", "writing images…"]
    assert list(read.files)[:4] == [
        "reading_json",
        "lesion_labels",
        "organs_nifti",
        "organs_labels_json",
    ]
    assert (tmp_path / "read" / "organs.nii.gz").is_file()
    # the same segmentation handed in (as the run does): nothing segmented again
    given = replace(inputs, organ_segmentation=read.result.organ_segmentation)
    said.clear()
    outputs = replace(ReadingOutputs.for_run(), images=False)
    run = run_reading_job(given, tmp_path / "run", outputs, say=said.append)
    assert said == [] and list(run.files) == ["suv_nifti", "lesions_nifti"]
    assert not (tmp_path / "run" / "organs.nii.gz").exists()
    assert run.document["organs_source"] == read.document["organs_source"]
    assert run.document["lesions"] == read.document["lesions"]


@pytest.mark.parametrize(
    ("given", "caption"),
    [((), "supplied: organs"), ((None,), None), (("study VOIs",), "study VOIs")],
)
def test_mip_caption_is_the_readings_organs_source_unless_given(
    given: tuple[str | None, ...],
    caption: str | None,
    patient: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`sstrkit read` captions the MIP with ``organs_source``; the run passes its own."""
    seen: list[str | None] = []

    def fake_mip(suv: Volume, path: Path, *a: Any, organs_source: str | None, **k: Any) -> Path:
        seen.append(organs_source)
        return path

    monkeypatch.setattr("sstrkit.reading.images.write_mip", fake_mip)
    monkeypatch.setattr("sstrkit.reading.images.write_lesion_slices", lambda *a, **k: [])
    inputs = ReadingInputs(
        suv=patient["suv"], organs=patient["organs"], organ_names=patient["names"]
    )
    kw = {"mip_organs_source": given[0]} if given else {}
    job = run_reading_job(inputs, tmp_path, replace(ReadingOutputs(), lesion_table=False), **kw)
    assert job.result.organs_source == "supplied: organs"  # the volume's name
    assert seen == [caption]
