"""When the listener runs a patient's job (sstrkit.pacs.jobs), with the real intake.

The digital patient's instances are filed into a store as the listener files them;
the main job is replaced by a recorder (the real run is tested in test_listen.py), so
that the decisions are checked quickly: the first complete data runs the job, the
same data again runs nothing, a new time point re-runs it, a patient with a study
still arriving waits, a patient the intake cannot sort yet waits for more data.
Reference: the phantom's protocol (one cycle, SPECT/CT at 4, 24, 96 and 168 h).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pydicom
import pytest

from sstrkit.pacs.jobs import JobOptions, PatientJobs
from sstrkit.pacs.store import InstanceStore

from .conftest import PHANTOM_PATIENT, dicom_files


def _file(store: InstanceStore, folders: list[Path]) -> None:
    for folder in folders:
        for f in dicom_files(folder):
            store.put(pydicom.dcmread(f, stop_before_pixels=True), f.read_bytes())


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []

    def fake_run(study: Path, out: Path, **_kw: Any) -> SimpleNamespace:
        calls.append(Path(study))
        return SimpleNamespace(skipped={}, files={"report": str(Path(out) / "report.html")})

    monkeypatch.setattr("sstrkit.pipeline.run.run_study", fake_run)
    return calls


def test_runs_on_new_data_only(tmp_path: Path, phantom: Path, recorder: list[Path]) -> None:
    dicom = phantom / "dicom"
    store = InstanceStore(tmp_path / "store")
    early = [dicom / "pet_dotatate", dicom / "pet_dotatate_ct"]
    early += [dicom / "cycle1" / f"spect_{h:03d}h{ct}" for h in (4, 24, 96) for ct in ("", "_ct")]
    _file(store, early)
    events: list[dict[str, Any]] = []
    jobs = PatientJobs(store, JobOptions(run=True, out=tmp_path / "runs"), events.append)

    first = jobs.process(PHANTOM_PATIENT)
    assert first["event"] == "run_finished" and len(recorder) == 1
    sorted_ = next(e for e in events if e["event"] == "sorted")
    assert sorted_["baseline_pet"] and sorted_["cycles_hours_pi"] == {"1": [4.0, 24.0, 96.0]}
    assert recorder[0] == tmp_path / "runs" / PHANTOM_PATIENT / "study"

    assert jobs.process(PHANTOM_PATIENT)["event"] == "run_skipped" and len(recorder) == 1

    _file(store, [dicom / "cycle1" / "spect_168h", dicom / "cycle1" / "spect_168h_ct"])
    assert jobs.process(PHANTOM_PATIENT)["event"] == "run_finished" and len(recorder) == 2
    last_sorted = [e for e in events if e["event"] == "sorted"][-1]
    assert last_sorted["cycles_hours_pi"] == {"1": [4.0, 24.0, 96.0, 168.0]}

    jobs.busy = lambda _key: True
    assert jobs.process(PHANTOM_PATIENT)["event"] == "deferred" and len(recorder) == 2
    # a restarted listener (a new PatientJobs on the same store) remembers the last run
    again = PatientJobs(store, JobOptions(run=True, out=tmp_path / "runs"), events.append)
    assert again.process(PHANTOM_PATIENT)["event"] == "run_skipped"


def test_a_patient_the_intake_cannot_sort_waits(
    tmp_path: Path, phantom: Path, recorder: list[Path]
) -> None:
    store = InstanceStore(tmp_path / "store")
    _file(store, [phantom / "dicom" / "pet_dotatate_ct"])  # a CT alone: no role
    events: list[dict[str, Any]] = []
    jobs = PatientJobs(store, JobOptions(run=True, out=tmp_path / "runs"), events.append)
    result = jobs.process(PHANTOM_PATIENT)
    assert result["event"] == "waiting" and "DICOM folder" in result["reason"]
    assert recorder == [] and jobs.state(PHANTOM_PATIENT)["pending"] is False


def test_without_run_the_patient_is_sorted_into_the_store(
    tmp_path: Path, phantom: Path, recorder: list[Path]
) -> None:
    store = InstanceStore(tmp_path / "store")
    _file(store, [phantom / "dicom" / "pet_dotatate", phantom / "dicom" / "pet_dotatate_ct"])
    jobs = PatientJobs(store, JobOptions(), lambda _e: None)
    assert jobs.process(PHANTOM_PATIENT)["event"] == "sorted" and recorder == []
    assert (store.state_dir / "studies" / PHANTOM_PATIENT / "manifest.json").is_file()


def test_a_restarted_listener_processes_what_was_pending(
    tmp_path: Path, phantom: Path, recorder: list[Path]
) -> None:
    store = InstanceStore(tmp_path / "store")
    _file(store, [phantom / "dicom" / "pet_dotatate", phantom / "dicom" / "pet_dotatate_ct"])
    options = JobOptions(run=True, out=tmp_path / "runs")
    PatientJobs(store, options, lambda _e: None).study_open(PHANTOM_PATIENT, PHANTOM_PATIENT)
    # the listener stopped here: the study never completed
    events: list[dict[str, Any]] = []
    jobs = PatientJobs(store, options, events.append)
    jobs.start()
    try:
        assert jobs.resume_pending() == [PHANTOM_PATIENT]
        assert jobs.wait_idle(60)
    finally:
        jobs.stop(timeout=60)
    assert [e["event"] for e in events][-1] == "run_finished" and len(recorder) == 1
    assert jobs.state(PHANTOM_PATIENT)["pending"] is False
