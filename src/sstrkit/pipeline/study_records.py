"""Typed records of a study folder: data-quality flags and post-therapy time points.

:func:`resolve_time_points` turns the manifest's SPECT and SPECT/CT entries into
:class:`TimePoint` records (paths resolved against the study folder, sorted by cycle and
hours after injection); a listed file missing on disk becomes a :class:`DataFlag`, never
a silent omission. :class:`sstrkit.pipeline.study.Study` hands these records out.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sstrkit.pipeline.manifest import Manifest

__all__ = ["DataFlag", "TimePoint", "resolve_time_points"]


@dataclass(frozen=True)
class DataFlag:
    """Something missing or inconsistent that the results carry (data-quality box)."""

    kind: str
    message: str
    cycle: int | None = None
    region: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "cycle": self.cycle,
            "region": self.region,
            "message": self.message,
        }


@dataclass(frozen=True)
class TimePoint:
    """One post-therapy SPECT/CT acquisition."""

    cycle: int
    hours_post_injection: float
    spect_path: Path
    ct_path: Path | None
    injection_time: _dt.datetime
    time: _dt.datetime
    nuclide: str
    injected_activity_bq: float
    fwhm_mm: float | None = None
    series_uid: str = ""
    ct_series_uid: str | None = None
    frame_of_reference_uid: str | None = None

    @property
    def label(self) -> str:
        return f"cycle {self.cycle} {self.hours_post_injection:g} h"


def resolve_time_points(
    model: Manifest, root: Path
) -> tuple[tuple[TimePoint, ...], tuple[DataFlag, ...]]:
    """The SPECT/CT time points on disk (sorted) and the flags of listed files that are not.

    A SPECT missing on disk drops its time point; a missing CT leaves the SPECT, placed by
    patient coordinates. Paths in the manifest are relative to ``root`` (or absolute).
    """
    cts = {(c.cycle, float(c.hours_post_injection)): c for c in model.series.spect_ct}
    out: list[TimePoint] = []
    flags: list[DataFlag] = []
    for s in model.series.spect:
        key = (s.cycle, float(s.hours_post_injection))
        spect_path = root / s.path
        if not spect_path.exists():
            flags.append(
                DataFlag(
                    "missing_time_point",
                    f"SPECT of cycle {s.cycle} at {s.hours_post_injection:g} h is listed in "
                    f"the manifest but missing on disk ({spect_path}); computed without it",
                    cycle=s.cycle,
                )
            )
            continue
        ct = cts.get(key)
        ct_path = root / ct.path if ct else None
        if ct_path is not None and not ct_path.exists():
            flags.append(
                DataFlag(
                    "missing_ct",
                    f"CT of cycle {s.cycle} at {s.hours_post_injection:g} h is missing "
                    f"({ct_path}); that SPECT is placed by patient coordinates",
                    cycle=s.cycle,
                )
            )
            ct_path = None
        out.append(
            TimePoint(
                cycle=key[0],
                hours_post_injection=key[1],
                spect_path=spect_path,
                ct_path=ct_path,
                injection_time=s.injection_time,
                time=s.time,
                nuclide=s.nuclide,
                injected_activity_bq=s.injected_activity_bq,
                fwhm_mm=s.fwhm_mm,
                series_uid=s.series_uid,
                ct_series_uid=ct.series_uid if ct else None,
                frame_of_reference_uid=s.frame_of_reference_uid,
            )
        )
    tps = tuple(sorted(out, key=lambda t: (t.cycle, t.hours_post_injection)))
    return tps, tuple(flags)
