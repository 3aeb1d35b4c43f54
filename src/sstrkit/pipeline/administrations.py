"""Therapy administrations of a study, one source of truth per cycle.

Every record of a cycle's administered activity is collected in order of trust: the
measured net activity of the clinical record (``clinical.json``), then a legacy
``case.json``, then the nominal value of each SPECT's DICOM header. The first one is
used and named (:attr:`Administration.source`); a copy differing by more than
:data:`ACTIVITY_TOLERANCE`, or an administration time differing by more than 1 h, is
flagged (:class:`~sstrkit.pipeline.study_records.DataFlag`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sstrkit.core.units import BQ_PER_GBQ, BQ_PER_MBQ
from sstrkit.pipeline.manifest import ClinicalRecord, Manifest
from sstrkit.pipeline.study_records import DataFlag

__all__ = ["ACTIVITY_TOLERANCE", "Administration", "resolve_administrations"]

#: Relative difference between two records of one administered activity that is flagged.
ACTIVITY_TOLERANCE = 0.05
#: Difference between two records of one administration time that is flagged (s).
_TIME_TOLERANCE_S = 3600.0

#: One record of an administration: (source, activity Bq, nuclide, agent, time).
_Record = tuple[str, float, str, str, _dt.datetime]


@dataclass(frozen=True)
class Administration:
    """One therapy administration with the record its activity comes from."""

    cycle: int
    nuclide: str
    agent: str
    activity_bq: float
    time: _dt.datetime
    source: str
    copies: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "nuclide": self.nuclide,
            "agent": self.agent,
            "activity_bq": self.activity_bq,
            "time": self.time.isoformat(),
            "source": self.source,
            "copies": [{"source": s, "activity_bq": a} for s, a in self.copies],
        }


def _records_by_cycle(
    model: Manifest, clinical: ClinicalRecord | None, case: Mapping[str, Any] | None
) -> dict[int, list[_Record]]:
    """Every record of each cycle's administration, most trusted first."""
    copies: dict[int, list[_Record]] = {}
    if clinical is not None:
        for a in clinical.administrations:
            if a.cycle is not None:
                copies.setdefault(a.cycle, []).append(
                    (
                        "clinical.json (measured net activity)",
                        a.activity_bq,
                        a.nuclide,
                        a.radiopharmaceutical or "",
                        a.time,
                    )
                )
    for a in (case or {}).get("administrations", []):
        try:
            t = _dt.datetime.fromisoformat(str(a["datetime"]))
            copies.setdefault(int(a["cycle"]), []).append(
                (
                    "case.json",
                    float(a["activity_mbq"]) * BQ_PER_MBQ,
                    str(a["nuclide"]),
                    str(a.get("agent", "")),
                    t,
                )
            )
        except (KeyError, TypeError, ValueError):
            continue  # the case file is validated in full where it is used
    for s in model.series.spect:
        copies.setdefault(s.cycle, []).append(
            (
                f"DICOM header of SPECT {s.series_uid} (nominal)",
                s.injected_activity_bq,
                s.nuclide,
                s.tracer or "",
                s.injection_time,
            )
        )
    return copies


def _short(source: str) -> str:
    """A record's source without the SPECT series UID (one DICOM copy per cycle is named)."""
    return source.split(" of SPECT")[0]


def _resolve_cycle(cycle: int, recs: list[_Record]) -> tuple[Administration, list[DataFlag]]:
    """The administration of one cycle (its first record) and the flags of differing copies."""
    src, act, nuc, agent, t = recs[0]
    flags: list[DataFlag] = []
    seen: dict[str, float] = {}
    for s2, a2, *_ in recs:
        seen.setdefault(_short(s2), a2)
    for s2, a2 in seen.items():
        if abs(a2 / act - 1.0) > ACTIVITY_TOLERANCE:
            flags.append(
                DataFlag(
                    "activity_mismatch",
                    f"cycle {cycle}: administered activity {a2 / BQ_PER_GBQ:.3f} GBq in {s2} "
                    f"differs by {100 * (a2 / act - 1):+.1f} % from {act / BQ_PER_GBQ:.3f} GBq "
                    f"in {_short(src)}; the latter is used",
                    cycle=cycle,
                )
            )
    for s2, _a2, _n2, _g2, t2 in recs[1:]:
        if abs((t2 - t).total_seconds()) > _TIME_TOLERANCE_S:
            flags.append(
                DataFlag(
                    "administration_time_mismatch",
                    f"cycle {cycle}: administration time {t2.isoformat()} in "
                    f"{_short(s2)} differs by more than 1 h from "
                    f"{t.isoformat()} in {_short(src)}; check that the "
                    "cycle numbers of the records and the images agree",
                    cycle=cycle,
                )
            )
            break
    return Administration(cycle, nuc, agent, act, t, src, tuple(seen.items())), flags


def resolve_administrations(
    model: Manifest, clinical: ClinicalRecord | None, case: Mapping[str, Any] | None
) -> tuple[tuple[Administration, ...], tuple[DataFlag, ...]]:
    """Administrations by cycle (clinical record > case file > DICOM header) and their flags."""
    admins: list[Administration] = []
    flags: list[DataFlag] = []
    copies = _records_by_cycle(model, clinical, case)
    for cycle in sorted(copies):
        admin, found = _resolve_cycle(cycle, copies[cycle])
        admins.append(admin)
        flags += found
    return tuple(admins), tuple(flags)
