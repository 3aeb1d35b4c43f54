"""``sstrkit pacs listen --run`` against dcmtk senders and a real Orthanc (issue 21, item 1).

The digital patient's baseline PET/CT arrives from ``storescu``, the cycle's SPECT/CTs
from Orthanc (C-MOVE requested by ``movescu``); the listener files each instance once
by patient/study/series, detects each study's completion after ``--idle-s``, sorts the
patient with the intake, runs the main job and records the run in a SQLite registry.
Re-sending a series stores nothing and runs nothing. Reference values: the phantom's
own DICOM files (what was sent) and the events and files the run wrote.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pydicom

from sstrkit.registry import open_registry

from .conftest import DCMTK_ENV, PHANTOM_PATIENT, Listened, Orthanc, dicom_files, require_tool


def test_each_instance_is_filed_once_by_patient_study_series(
    listened: Listened, phantom: Path
) -> None:
    sent = {
        pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p
        for p in dicom_files(phantom / "dicom")
    }
    stored = dicom_files(listened.store / PHANTOM_PATIENT)
    assert len(stored) == len(sent)
    for path in stored:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert path.name == f"{ds.SOPInstanceUID}.dcm"
        assert path.parent.name == ds.SeriesInstanceUID
        assert path.parent.parent.name == ds.StudyInstanceUID
        assert ds.PatientID == PHANTOM_PATIENT
        # stored as received: the same data set as the file that was sent
        assert pydicom.dcmread(path) == pydicom.dcmread(sent[ds.SOPInstanceUID])
    assert not list((listened.store / ".incoming").iterdir())


def test_completed_studies_are_sorted_and_the_job_runs_and_is_recorded(
    listened: Listened,
) -> None:
    log = listened.log
    completed = log.of("study_complete")
    studies = {e["study_uid"] for e in completed}
    assert len(studies) == 2  # baseline PET/CT and the cycle's SPECT/CTs
    sorted_ = [e for e in log.of("sorted") if e["cycles_hours_pi"].get("1")]
    assert sorted_[0]["baseline_pet"] is True
    assert sorted_[0]["cycles_hours_pi"] == {"1": [4.0, 24.0, 96.0, 168.0]}
    finished = log.of("run_finished")[-1]
    assert finished["skipped"] == {}  # every stage ran on the received study
    assert finished["since_last_instance_s"] > 3.0  # completion waits for --idle-s 3
    results = json.loads((listened.out / "results.json").read_text(encoding="utf-8"))
    assert set(results["stages"]) >= {"organs", "reading", "dosimetry", "planning"}
    assert (listened.out / "dose" / "rtdose_cycle1.dcm").is_file()
    recorded = log.of("run_recorded")[-1]
    with open_registry(listened.registry) as reg:
        patients = reg.patients()
        history = reg.run_rows(recorded["run_id"])
    assert [p.patient_id for p in patients] == [PHANTOM_PATIENT]
    assert patients[0].cycles == 1
    kidney = [
        r for r in history["region_doses"] if r["region"] == "kidneys" and r["level"] == "organ"
    ]
    organ_level = results["stages"]["dosimetry"]["organ_level"]["cycles"][0]["regions"]
    assert kidney[0]["dose_gy"] == next(r["dose_gy"] for r in organ_level if r["name"] == "kidneys")


def test_a_study_sent_again_stores_nothing_and_runs_nothing(listened: Listened) -> None:
    events = listened.log.events
    last = max(i for i, e in enumerate(events) if e["event"] == "study_complete")
    assert events[last]["stored"] == 0 and events[last]["duplicates"] == listened.resent
    after = [e["event"] for e in events[last:]]
    assert "run_skipped" in after and "run_started" not in after
    assert listened.log.of("run_skipped")[-1]["reason"].startswith("no new cycle")


def test_an_unlisted_calling_ae_title_is_refused(listened: Listened, orthanc: Orthanc) -> None:
    echoscu = require_tool("echoscu", "dcmtk")
    before = len(listened.log.of("association_rejected"))
    res = subprocess.run(
        [echoscu, "-aet", "INTRUDER", "-aec", "SSTRKIT", "127.0.0.1", str(orthanc.listener_port)],
        capture_output=True,
        text=True,
        env=DCMTK_ENV,
        timeout=60,
        check=False,
    )
    assert res.returncode != 0
    assert "reject" in (res.stdout + res.stderr).lower()
    ok = subprocess.run(
        [echoscu, "-aet", "STORESCU", "-aec", "SSTRKIT", "127.0.0.1", str(orthanc.listener_port)],
        capture_output=True,
        text=True,
        env=DCMTK_ENV,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    event = listened.log.wait(lambda e: e.get("event") == "association_rejected", 30, 0)
    assert event["calling_ae"] == "INTRUDER"
    assert len(listened.log.of("association_rejected")) == before + 1


def test_results_are_sent_back_after_the_run(listened: Listened, orthanc: Orthanc) -> None:
    sent = listened.log.of("results_sent")
    assert len(sent) == 1 and sent[0]["failed"] == []
    export = json.loads((listened.out / "pacs" / "export.json").read_text(encoding="utf-8"))
    assert sent[0]["sent"] == len(export["objects"]) and sent[0]["to"] == orthanc.peer
    sr = next(o for o in export["objects"] if o["kind"] == "sr")
    assert sr["sop_instance_uid"] in orthanc.study(sr["study_uid"])["sops"]
