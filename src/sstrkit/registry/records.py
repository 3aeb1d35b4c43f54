"""What the registry answers with: frozen records, each JSON-able through ``to_dict``.

:class:`RunRecord` (one recorded run), :class:`PatientSummary` (a line of
``sstrkit registry list``), :class:`PatientDetail` (everything ``sstrkit
registry show`` prints: studies, their run history, and the rows of the
current runs). Times are tz-aware (UTC); quantities in the internal units of
their names.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sstrkit.core.provenance import jsonable

__all__ = ["PatientDetail", "PatientSummary", "RunRecord", "RunSummary", "StudyDetail"]


@dataclass(frozen=True)
class RunRecord:
    """One run in the registry, as :meth:`Registry.add_run` recorded (or found) it.

    ``created`` is False when the same folder with the same content was recorded
    before (``add_run`` is idempotent); ``is_current`` whether it is its study's
    current run.
    """

    run_id: int
    patient_id: str
    study_key: str
    out_dir: Path
    content_sha256: str
    sstrkit_version: str | None
    finished_at: _dt.datetime
    recorded_at: _dt.datetime
    is_current: bool
    created: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "patient_id": self.patient_id,
            "study_key": self.study_key,
            "out_dir": str(self.out_dir),
            "content_sha256": self.content_sha256,
            "sstrkit_version": self.sstrkit_version,
            "finished_at": self.finished_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "is_current": self.is_current,
            "created": self.created,
        }


@dataclass(frozen=True)
class PatientSummary:
    """One patient: number of studies and of therapy cycles (current runs), latest run.

    ``kidney_bed_gy`` / ``marrow_dose_gy``: cumulative kidney BED and red-marrow
    absorbed dose of the current runs (summed over the patient's studies), None
    where a current run does not know it.
    """

    patient_id: str
    studies: int
    cycles: int
    latest_run_at: _dt.datetime | None
    kidney_bed_gy: float | None
    marrow_dose_gy: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "patient_id": self.patient_id,
            "studies": self.studies,
            "cycles": self.cycles,
            "latest_run_at": None if self.latest_run_at is None else self.latest_run_at.isoformat(),
            "kidney_bed_gy": self.kidney_bed_gy,
            "marrow_dose_gy": self.marrow_dose_gy,
        }


@dataclass(frozen=True)
class RunSummary:
    """A run of a study's history (current or earlier)."""

    run_id: int
    out_dir: str
    sstrkit_version: str | None
    finished_at: _dt.datetime
    recorded_at: _dt.datetime
    is_current: bool
    skipped: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "out_dir": self.out_dir,
            "sstrkit_version": self.sstrkit_version,
            "finished_at": self.finished_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "is_current": self.is_current,
            "skipped": dict(self.skipped),
        }


@dataclass(frozen=True)
class StudyDetail:
    """A study of a patient with all its runs (newest first)."""

    study_key: str
    study_instance_uid: str | None
    folder: str | None
    runs: tuple[RunSummary, ...]

    @property
    def current(self) -> RunSummary | None:
        """The study's current run (None: none recorded)."""
        return next((r for r in self.runs if r.is_current), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "study_key": self.study_key,
            "study_instance_uid": self.study_instance_uid,
            "folder": self.folder,
            "runs": [r.to_dict() for r in self.runs],
        }


@dataclass(frozen=True)
class PatientDetail:
    """Everything the registry holds on one patient.

    ``current`` maps a table (administrations, readings, reading_lesions,
    region_doses, lab_values, response_assessments, lesion_volumes,
    lesion_uptake_changes, survival, run_files) to the rows of the patient's
    current runs, each row with its ``run_id`` and ``study_key``.
    """

    patient_id: str
    sex: str | None
    summary: PatientSummary
    studies: tuple[StudyDetail, ...]
    current: dict[str, list[dict[str, Any]]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "patient_id": self.patient_id,
            "sex": self.sex,
            "summary": self.summary.to_dict(),
            "studies": [s.to_dict() for s in self.studies],
            "current": jsonable(self.current),
        }
