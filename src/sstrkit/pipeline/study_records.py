"""Typed records of a study folder: data-quality flags and post-therapy time points.

:func:`resolve_time_points` turns the manifest's SPECT and SPECT/CT entries into
:class:`TimePoint` records (paths resolved against the study folder, sorted by cycle and
hours after injection); a listed file missing on disk becomes a :class:`DataFlag`, never
a silent omission. :class:`sstrkit.pipeline.study.Study` hands these records out.

Each time point's SPECT resolution (``fwhm_mm``, for the partial-volume correction), in
this order: the manifest's ``fwhm_mm`` (measured; ``--spect-fwhm-mm`` of the intake lands
there, named by ``fwhm_source``), else an estimate from the SPECT's DICOM header
(:func:`sstrkit.io.spect_resolution.estimate_spect_fwhm`: collimator, orbit, photopeak,
reconstruction), flagged ``spect_resolution_estimated`` with its value and inputs, else
none (the dosimetry flags ``no_partial_volume_correction``, with the reason). An explicit
``fwhm_mm`` given to the dosimetry call wins over all of them.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sstrkit.pipeline.manifest import Manifest, SpectEntry

if TYPE_CHECKING:
    from sstrkit.io.spect_resolution import ResolutionEstimate

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
    """One post-therapy SPECT/CT acquisition.

    ``fwhm_source`` says where ``fwhm_mm`` comes from (``manifest``, the manifest's own
    ``fwhm_source``, or ``estimated from the DICOM header``); ``resolution`` is the header
    estimate when one was made (also when it declined: its ``flag`` says why).
    """

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
    fwhm_source: str | None = None
    resolution: ResolutionEstimate | None = None

    @property
    def label(self) -> str:
        return f"cycle {self.cycle} {self.hours_post_injection:g} h"


def _resolution(
    s: SpectEntry, spect_path: Path, estimate: bool
) -> tuple[float | None, str | None, ResolutionEstimate | None]:
    """``fwhm_mm``, its source and the header estimate (if made) of one SPECT entry."""
    if s.fwhm_mm is not None:
        return s.fwhm_mm, s.fwhm_source or "manifest fwhm_mm", None
    if not estimate:
        return None, None, None
    from sstrkit.io.spect_resolution import estimate_series_fwhm

    est = estimate_series_fwhm(spect_path, s.series_uid or None, nuclide=s.nuclide)
    if est.fwhm_mm is None:
        return None, None, est
    return est.fwhm_mm, est.source, est


def _resolution_flags(tps: tuple[TimePoint, ...]) -> list[DataFlag]:
    """One ``spect_resolution_estimated`` flag per cycle whose first time point's
    resolution (the one its dosimetry uses) is a header estimate."""
    flags = []
    for cycle in sorted({t.cycle for t in tps}):
        mine = [t for t in tps if t.cycle == cycle]
        first = mine[0]
        if first.resolution is None or first.resolution.fwhm_mm is None:
            continue
        values = [t.fwhm_mm for t in mine if t.resolution is not None and t.fwhm_mm]
        spread = (
            f" (time points {min(values):.1f}-{max(values):.1f} mm; the first one's is used)"
            if values and max(values) - min(values) >= 0.05
            else ""
        )
        flags.append(
            DataFlag(
                "spect_resolution_estimated",
                f"cycle {cycle}: {first.resolution.flag}{spread}",
                cycle=cycle,
            )
        )
    return flags


def resolve_time_points(
    model: Manifest, root: Path, *, estimate_resolution: bool = True
) -> tuple[tuple[TimePoint, ...], tuple[DataFlag, ...]]:
    """The SPECT/CT time points on disk (sorted) and the flags of listed files that are not.

    A SPECT missing on disk drops its time point; a missing CT leaves the SPECT, placed by
    patient coordinates. Paths in the manifest are relative to ``root`` (or absolute).
    A SPECT without ``fwhm_mm`` has it estimated from its header (``estimate_resolution``;
    module docstring), flagged per cycle.
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
        fwhm, fwhm_source, estimate = _resolution(s, spect_path, estimate_resolution)
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
                fwhm_mm=fwhm,
                series_uid=s.series_uid,
                ct_series_uid=ct.series_uid if ct else None,
                frame_of_reference_uid=s.frame_of_reference_uid,
                fwhm_source=fwhm_source,
                resolution=estimate,
            )
        )
    tps = tuple(sorted(out, key=lambda t: (t.cycle, t.hours_post_injection)))
    return tps, tuple(flags + _resolution_flags(tps))
