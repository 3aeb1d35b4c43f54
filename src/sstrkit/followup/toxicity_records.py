"""Typed per-patient records of a toxicity assessment (:mod:`sstrkit.followup.toxicity`).

:func:`~sstrkit.followup.toxicity.assess_toxicity` returns one :class:`PatientToxicity`
per patient: its laboratory course (:class:`CoursePoint`: values, CTCAE v5.0 grades,
change from baseline and planning flags at each record), the worst grade per CTCAE term
and the nadir (:class:`Nadir`) of each analyte. Values keep the units of
:class:`~sstrkit.followup.toxicity.LabRecord` (analyte names carry them, e.g.
``hb_g_dl``); times are days from the patient's first record. ``to_dict`` is the JSON
form (``sstrkit outcomes toxicity --json``, the run's ``results.json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CoursePoint", "Nadir", "PatientToxicity"]


@dataclass(frozen=True)
class CoursePoint:
    """One laboratory record of a patient, graded.

    ``values``: analyte → measured value (only the measured ones); ``grades``: CTCAE
    term → grade; ``change_from_baseline_pct``: analyte → % change from the patient's
    baseline (first record; for the liver analytes the first record with that value);
    ``flags``: the planning flags raised at this record.
    """

    time_days: float
    values: Mapping[str, float]
    grades: Mapping[str, int]
    change_from_baseline_pct: Mapping[str, float]
    flags: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "time_days": self.time_days,
            "values": dict(self.values),
            "grades": dict(self.grades),
            "change_from_baseline_pct": dict(self.change_from_baseline_pct),
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class Nadir:
    """The worst value of an analyte (lowest; highest for creatinine and the 'increased'
    liver tests) and its time in days from the patient's first record."""

    value: float
    time_days: float

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "time_days": self.time_days}


@dataclass(frozen=True)
class PatientToxicity:
    """One patient's toxicity: course, worst grade per CTCAE term, nadirs, flagged.

    ``max_grade`` is the highest of ``worst_grade`` (0 when nothing was graded);
    ``flagged`` is true when any record raised a planning flag.
    """

    patient_id: str
    n_records: int
    worst_grade: Mapping[str, int]
    max_grade: int
    nadir: Mapping[str, Nadir]
    flagged: bool
    course: tuple[CoursePoint, ...]

    @property
    def flags(self) -> tuple[str, ...]:
        """Every planning flag of the course, in record order (repeats kept)."""
        return tuple(f for c in self.course for f in c.flags)

    def to_dict(self) -> dict[str, Any]:
        return {
            "patient_id": self.patient_id,
            "n_records": self.n_records,
            "worst_grade": dict(self.worst_grade),
            "max_grade": self.max_grade,
            "nadir": {k: v.to_dict() for k, v in self.nadir.items()},
            "flagged": self.flagged,
            "course": [c.to_dict() for c in self.course],
        }
