"""``sstrkit pacs query`` / ``retrieve`` against a real Orthanc (issue 21, item 2).

C-FIND and QIDO-RS must list the digital patient's two studies (baseline PET/CT,
cycle SPECT/CTs) and their series as Orthanc's REST API lists them; C-GET, C-MOVE and
WADO-RS must each bring every instance Orthanc holds for them into a store, filed and
deduplicated as the listener files. Reference values: Orthanc's own REST answers
(``/tools/lookup``, ``/studies/{id}/series``, ``/studies/{id}/instances``) at the time
of the test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pydicom
import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.pacs.store import is_own_result

from .conftest import PHANTOM_PATIENT, Orthanc, dicom_files

runner = CliRunner()


def _cli(*args: str) -> dict[str, Any]:
    res = runner.invoke(app, ["pacs", *args, "--json"])
    assert res.exit_code == 0, res.output
    return dict(json.loads(res.stdout))


@pytest.fixture(scope="module")
def studies(orthanc: Orthanc) -> dict[str, dict[str, Any]]:
    """What Orthanc holds of each of the patient's studies, by StudyInstanceUID."""
    found = orthanc.rest_post("/tools/lookup", PHANTOM_PATIENT)
    patient = next(x for x in found if x["Type"] == "Patient")
    uids = [
        s["MainDicomTags"]["StudyInstanceUID"]
        for s in orthanc.rest(f"/patients/{patient['ID']}/studies")
    ]
    return {u: orthanc.study(u) for u in uids}


@pytest.mark.parametrize("how", ["--from", "--dicomweb"])
def test_query_lists_the_patients_studies_and_series(
    orthanc: Orthanc, studies: dict[str, dict[str, Any]], how: str
) -> None:
    where = orthanc.peer if how == "--from" else orthanc.dicomweb
    doc = _cli("query", how, where, "--patient-id", PHANTOM_PATIENT)
    got = {m["study_uid"]: m for m in doc["matches"]}
    assert set(got) == set(studies) and len(got) == 2
    for uid, held in studies.items():
        assert set(got[uid]["modalities"]) == {m for m, _n in held["series"].values()}
        assert got[uid]["patient_id"] == PHANTOM_PATIENT
    nm = next(u for u, m in got.items() if "NM" in m["modalities"])
    series = _cli("query", how, where, "--study-uid", nm, "--level", "series")["matches"]
    assert {s["series_uid"]: (s["modality"], int(s["n_instances"])) for s in series} == (
        studies[nm]["series"]
    )


@pytest.mark.parametrize("method", ["get", "move", "wado"])
def test_retrieve_brings_every_instance_once(
    orthanc: Orthanc, studies: dict[str, dict[str, Any]], tmp_path: Path, method: str
) -> None:
    store = tmp_path / "store"
    if method == "wado":
        args = ["--dicomweb", orthanc.dicomweb]
    else:
        args = ["--from", orthanc.peer, "--method", method]
        if method == "move":
            args += ["--move-ae", "SSTRKITMOVE", "--port", str(orthanc.move_port)]
    args += ["--patient-id", PHANTOM_PATIENT, "--store", str(store), "--with-results"]
    doc = _cli("retrieve", *args)
    expected = set().union(*(held["sops"] for held in studies.values()))
    files = dicom_files(store / PHANTOM_PATIENT)
    assert {p.stem for p in files} == expected and len(files) == len(expected)
    assert doc["stored"] == len(expected) and doc["failed"] == 0 and doc["ignored"] == 0
    assert sorted(doc["studies"]) == sorted(studies)
    again = _cli("retrieve", *args)
    assert again["stored"] == 0 and again["duplicates"] == len(expected)
    assert len(dicom_files(store)) == len(expected)


def test_retrieve_leaves_sstrkit_results_out_unless_asked(
    orthanc: Orthanc, studies: dict[str, dict[str, Any]], phantom: Path, tmp_path: Path
) -> None:
    """Whatever results of earlier tests Orthanc holds, the images always come, the
    results never (they would become input: the intake takes a SEG as segmentation)."""
    store = tmp_path / "store"
    doc = _cli(
        "retrieve", "--from", orthanc.peer, "--patient-id", PHANTOM_PATIENT, "--store", str(store)
    )
    held = set().union(*(h["sops"] for h in studies.values()))
    images = {
        pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID
        for p in dicom_files(phantom / "dicom")
    }
    files = dicom_files(store)
    assert images <= {p.stem for p in files} <= held
    assert not any(is_own_result(pydicom.dcmread(p, stop_before_pixels=True)) for p in files)
    assert doc["stored"] + doc["ignored"] == len(held) == doc["completed"]


def test_retrieve_of_an_unknown_patient_is_one_line_exit_2(
    orthanc: Orthanc, tmp_path: Path
) -> None:
    res = runner.invoke(
        app,
        [
            "pacs",
            "retrieve",
            "--from",
            orthanc.peer,
            "--patient-id",
            "NOBODY",
            "--store",
            str(tmp_path / "s"),
        ],
    )
    assert res.exit_code == 2
    assert res.stderr.startswith("error: --patient-id") and res.stderr.count("\n") == 1


def test_without_json_the_answers_are_tables_and_lines(
    orthanc: Orthanc, studies: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    res = runner.invoke(
        app, ["pacs", "query", "--from", orthanc.peer, "--patient-id", PHANTOM_PATIENT]
    )
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(f"2 study match(es) at {orthanc.peer}")
    uid = next(iter(studies))
    res = runner.invoke(
        app,
        ["pacs", "query", "--dicomweb", orthanc.dicomweb, "--study-uid", uid, "--level", "series"],
    )
    assert res.exit_code == 0 and f"{len(studies[uid]['series'])} series match(es)" in res.stdout
    res = runner.invoke(
        app,
        [
            "pacs",
            "retrieve",
            "--dicomweb",
            orthanc.dicomweb,
            "--study-uid",
            uid,
            "--store",
            str(tmp_path / "s"),
        ],
    )
    stored, ignored = (int(w) for w in re.findall(r"(\d+) (?:instance|sstrkit)", res.stdout))
    assert res.exit_code == 0 and res.stdout.startswith("WADO-RS: ")
    assert stored + ignored == len(studies[uid]["sops"])
    res = runner.invoke(app, ["pacs", "echo", orthanc.peer])
    assert res.exit_code == 0 and "status 0x0000" in res.stdout
