"""The methods section states the SPECT resolution the run used, with its source.

Since the run estimates a missing resolution from the DICOM header
(:mod:`sstrkit.io.spect_resolution`, flag ``spect_resolution_estimated``), "not set: no
partial-volume correction" is said only when neither the manifest nor the header gives
one. The time points are written by hand (the values the report must print back).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sstrkit.io.spect_resolution import ResolutionEstimate
from sstrkit.pipeline.study_records import TimePoint
from sstrkit.report.theranostic.methods import _resolution_text

T0 = dt.datetime(2025, 3, 3, 10, 0, tzinfo=dt.UTC)


def _tp(cycle: int, hours: float, fwhm: float | None, **kw: Any) -> TimePoint:
    return TimePoint(
        cycle=cycle,
        hours_post_injection=hours,
        spect_path=Path("spect"),
        ct_path=None,
        injection_time=T0,
        time=T0 + dt.timedelta(hours=hours),
        nuclide="Lu-177",
        injected_activity_bq=7.4e9,
        fwhm_mm=fwhm,
        **kw,
    )


def _text(*tps: TimePoint, manifest: list[float] | None = None) -> str:
    study: Any = SimpleNamespace(time_points=tps)
    return _resolution_text(study, manifest or [])


def test_estimated_resolution_is_stated_with_its_source() -> None:
    est = ResolutionEstimate(14.2, "collimator model", flag="SPECT resolution estimated: 14.2 mm")
    tp = _tp(
        1,
        4.0,
        14.2,
        fwhm_source="estimated from the DICOM header (collimator model)",
        resolution=est,
    )
    text = _text(tp, _tp(1, 24.0, 14.6, resolution=est))
    assert "cycle 1: 14.2 mm estimated from the DICOM header (collimator model)" in text
    assert "an estimate, not a measurement" in text
    assert "spect_resolution_estimated" in text
    assert "no partial-volume correction" not in text
    assert "14.6" not in text  # the cycle's first time point is the one its dosimetry uses


def test_manifest_resolution_per_cycle() -> None:
    text = _text(
        _tp(1, 4.0, 11.0, fwhm_source="manifest fwhm_mm"),
        _tp(2, 4.0, 12.5, fwhm_source="manifest fwhm_mm"),
    )
    assert text == (
        "System resolution (FWHM) cycle 1: 11 mm from manifest fwhm_mm; "
        "cycle 2: 12.5 mm from manifest fwhm_mm."
    )


def test_no_resolution_says_why_and_no_correction() -> None:
    declined = ResolutionEstimate(None, "none: no header", flag="no collimator, no nuclide")
    text = _text(_tp(1, 4.0, None, resolution=declined))
    assert text == (
        "System resolution (FWHM) cycle 1: not set and not estimated (no collimator, no "
        "nuclide), no partial-volume correction."
    )


def test_without_time_points_the_manifest_values() -> None:
    assert _text(manifest=[11.0]) == "System resolution (FWHM) 11 mm from the manifest."
    assert _text() == "System resolution (FWHM) not set: no partial-volume correction."
