"""The follow-up sections of ``clinical.json`` that the registry records.

A study's ``clinical.json`` (:mod:`sstrkit.pipeline.manifest`) may carry, beside
its administrations, labs and blood samples, what happened after the therapy.
All three sections are optional; units are in the keys; a time is either an ISO
8601 ``time`` with a UTC offset or ``days_after_first_cycle`` (days after the
administration of the first therapy cycle; 0 or negative = baseline)::

    "responses": [
        {"days_after_first_cycle": 252, "criteria": "RECIST 1.1", "response": "PR",
         "source": "CT 2025-11-10, local radiologist"}
    ],
    "lesion_volumes": [
        {"lesion": "lesion_01", "days_after_first_cycle": -14, "volume_ml": 7.6},
        {"lesion": "lesion_01", "time": "2025-11-10T09:00:00+01:00", "volume_ml": 3.2}
    ],
    "survival": {"pfs_days": 540, "pfs_event": true, "os_days": 1110, "os_event": false,
                 "source": "tumour board 2027-03-01"}

``lesion`` names the lesion as the dosimetry does (its VOI name, e.g.
``lesion_01``), so that a volume change meets that lesion's absorbed dose.
``pfs_event`` / ``os_event``: true = progression or death observed, false =
censored at that time. Times are counted from the first therapy administration.

Examples
--------
>>> f = parse_follow_up({"survival": {"pfs_days": 300, "pfs_event": True}}, name="c.json")
>>> f.survival.pfs_days, f.survival.os_days
(300.0, None)
>>> parse_follow_up({}, name="c.json").responses
()
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sstrkit.core.units import SECONDS_PER_DAY
from sstrkit.errors import InvalidInputError

__all__ = [
    "FollowUp",
    "LesionVolumeRecord",
    "ResponseRecord",
    "SurvivalRecord",
    "parse_follow_up",
]

#: seconds per day (times are stored in s)
DAY_S = SECONDS_PER_DAY


class _Timed(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    time: _dt.datetime | None = None
    days_after_first_cycle: float | None = None

    @model_validator(mode="after")
    def _one_time(self) -> _Timed:
        if self.time is not None and self.time.utcoffset() is None:
            raise ValueError("time must include a UTC offset, e.g. 2026-01-05T10:00:00+01:00")
        return self

    def when(self, first_cycle: _dt.datetime | None) -> tuple[_dt.datetime | None, float | None]:
        """(time, seconds after the first cycle): each from the other where it can be."""
        since = None if self.days_after_first_cycle is None else self.days_after_first_cycle * DAY_S
        time = self.time
        if time is None and since is not None and first_cycle is not None:
            time = first_cycle + _dt.timedelta(seconds=since)
        if since is None and time is not None and first_cycle is not None:
            since = (time - first_cycle).total_seconds()
        return time, since


class ResponseRecord(_Timed):
    """One response assessment (the category as the criteria name it: CR, PR, SD, PD...)."""

    criteria: str | None = None
    response: str = Field(min_length=1)
    source: str | None = None


class LesionVolumeRecord(_Timed):
    """One measured lesion volume (mL)."""

    lesion: str = Field(min_length=1)
    volume_ml: float = Field(ge=0)
    source: str | None = None


class SurvivalRecord(BaseModel):
    """Progression-free and overall survival from the first therapy administration (days)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    pfs_days: float | None = Field(default=None, ge=0)
    pfs_event: bool | None = None
    os_days: float | None = Field(default=None, ge=0)
    os_event: bool | None = None
    source: str | None = None


class _FollowUpDoc(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    responses: list[ResponseRecord] = Field(default_factory=list)
    lesion_volumes: list[LesionVolumeRecord] = Field(default_factory=list)
    survival: SurvivalRecord | None = None


@dataclass(frozen=True)
class FollowUp:
    """The follow-up sections of one clinical.json (empty when it has none)."""

    responses: tuple[ResponseRecord, ...] = ()
    lesion_volumes: tuple[LesionVolumeRecord, ...] = ()
    survival: SurvivalRecord | None = None


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_follow_up(doc: Mapping[str, Any] | None, *, name: str) -> FollowUp:
    """The ``responses``, ``lesion_volumes`` and ``survival`` of a clinical.json document."""
    if not doc:
        return FollowUp()
    try:
        parsed = _FollowUpDoc.model_validate(dict(doc))
    except ValidationError as exc:
        parts = [
            f"{_where(tuple(e['loc']))}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors()
        ]
        raise InvalidInputError(
            name,
            expected="follow-up sections as in docs/registry.md (responses, lesion_volumes, "
            "survival)",
            actual="; ".join(parts),
            fix="correct the named field(s) of the clinical record",
        ) from None
    return FollowUp(tuple(parsed.responses), tuple(parsed.lesion_volumes), parsed.survival)
