"""Activity concentration (Bq/mL) at the decay reference time, from a PET/SPECT series.

Native values → Bq/mL as measured (:func:`_to_bqml`): ``BQML`` as is; Philips
``CNTS`` × the activity concentration scale factor (7053,xx09); ``CPS`` × a
calibration factor ((Bq/mL)/(counts/s), override or DoseCalibrationFactor
(0054,1322)); NM counts with a user sensitivity (cps/MBq) and the acquisition
duration. Then the decay correction of :mod:`sstrkit.io.suv_timing`: START and
ADMIN data are used as stored; NONE data (each slice the mean over its frame)
are corrected to the frame start (× λT/(1 − e^(−λT))) and then to the earliest
frame start, which becomes the reference time.

Examples
--------
>>> QIBA.startswith("QIBA FDG-PET/CT Profile")
True
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sstrkit.core.units import MS_PER_S
from sstrkit.core.volume import Volume
from sstrkit.errors import DicomMetadataError
from sstrkit.io.dicom_read import DicomSeries
from sstrkit.io.suv_header import _num
from sstrkit.io.suv_inputs import Overrides, _Ctx, _half_life_s
from sstrkit.io.suv_timing import (
    _decay_correction,
    _earliest_slice,
    _first_time,
    _injection_time,
    _nm_duration_s,
    _series_datetime,
    _slice_datetime,
    _start_reference,
)

__all__ = ["QIBA", "ActivityResult", "activity_concentration"]

QIBA = "QIBA FDG-PET/CT Profile v1.13 (2016), Appendix G vendor-neutral SUV pseudo-code"


@dataclass(frozen=True)
class ActivityResult:
    """Activity concentration volume (Bq/mL) decay corrected to ``reference_time``."""

    volume: Volume
    reference_time: _dt.datetime
    reference_time_source: str
    decay_correction: str
    half_life_s: float | None
    warnings: tuple[str, ...] = ()


def _to_bqml(ctx: _Ctx) -> tuple[NDArray[np.float32], str]:
    """Native values → Bq/mL as measured (before the decay-correction step)."""
    series = ctx.series
    arr = series.volume.array
    units = series.units
    if units == "BQML":
        return arr, "BQML"
    if units == "CNTS" and series.modality == "PT":
        ac = ctx.philips[1]
        if ac is None or ac <= 0:
            raise DicomMetadataError(
                "Philips activity concentration scale factor (7053,xx09)",
                expected="a positive factor converting CNTS to Bq/mL",
                actual="absent" if ac is None else ac,
                fix="export the series in BQML (the SUV scale factor (7053,xx00) is "
                + ("absent too)" if ctx.philips[0] is None else "used for SUVs, not Bq/mL)"),
            )
        ctx.used["activity_scale_factor"] = {"value": ac, "source": "Philips (7053,xx09)"}
        return arr * np.float32(ac), "CNTS × Philips (7053,xx09)"
    if units == "CPS":
        cal = ctx.overrides.calibration_bqml_per_cps
        source = "override"
        if cal is None:
            cal = _num(ctx.ds, "DoseCalibrationFactor", "0054,1322")
            source = "DoseCalibrationFactor (0054,1322)"
        if cal is None or cal <= 0:
            raise DicomMetadataError(
                "DoseCalibrationFactor (0054,1322)",
                expected="a calibration factor (Bq/mL)/(counts/s) for a CPS image",
                actual="absent" if cal is None else cal,
                fix="pass it (CLI --calibration-bqml-per-cps, API "
                "Overrides(calibration_bqml_per_cps=...))",
            )
        ctx.used["calibration_bqml_per_cps"] = {"value": cal, "source": source}
        return arr * np.float32(cal), "CPS × calibration factor"
    if units == "CNTS":  # NM / SPECT counts per voxel
        sens = ctx.overrides.sensitivity_cps_per_mbq
        if sens is None:
            raise DicomMetadataError(
                "SPECT calibration factor",
                expected="the system sensitivity in cps/MBq for counts → Bq/mL",
                actual="absent (the series is in counts)",
                fix="pass it (CLI --sensitivity-cps-per-mbq, API "
                "Overrides(sensitivity_cps_per_mbq=...))",
            )
        duration = _nm_duration_s(ctx)
        voxel_ml = series.volume.voxel_volume_ml
        # counts / s → cps; / (cps/MBq) → MBq; × 1e6 → Bq; / voxel mL → Bq/mL
        scale = 1e6 / (duration * sens * voxel_ml)
        ctx.used["sensitivity_cps_per_mbq"] = {"value": sens, "source": "override"}
        ctx.used["counts_to_bqml"] = scale
        return arr * np.float32(scale), "counts / (duration × sensitivity × voxel volume)"
    raise DicomMetadataError(
        "Units (0054,1001)",
        expected="BQML, CNTS (Philips), CPS or NM counts to derive Bq/mL",
        actual=units,
        fix="the series is stored as SUV or relative values; Bq/mL cannot be derived",
    )


def _activity(ctx: _Ctx) -> tuple[ActivityResult, float | None]:
    """Bq/mL at the reference time; also returns the half-life when it was needed."""
    series = ctx.series
    arr, route = _to_bqml(ctx)
    dc = _decay_correction(ctx)
    half_life: float | None = None
    if dc == "START":
        series_t, earliest = _series_datetime(ctx), _earliest_slice(ctx)
        # the half-life is needed here only for the QIBA back-computation
        needs_hl = series_t is None or (earliest is not None and series_t > earliest[1])
        half_life = _half_life_s(ctx) if needs_hl else None
        ref, ref_source = _start_reference(ctx, half_life or 1.0)
        out = arr
    elif dc == "ADMIN":
        ref = _injection_time(ctx, _series_datetime(ctx) or _first_time(ctx))
        ref_source = "administration time (DecayCorrection ADMIN)"
        out = arr
    else:  # NONE: correct every slice to its frame start, then to the earliest start
        half_life = _half_life_s(ctx)
        ref, ref_source, out = _correct_not_decay_corrected(ctx, arr, half_life)
    out = np.asarray(out, dtype=np.float32)
    out.flags.writeable = False
    params = {
        "route": route,
        "decay_correction": dc,
        "reference_time": ref.isoformat(),
        "reference_time_source": ref_source,
        **{k: v for k, v in ctx.used.items() if k not in ("weight_kg", "height_cm", "sex")},
        "overrides": ctx.overrides.given(),
    }
    vol = series.volume.with_array(
        out,
        operation="activity_concentration",
        parameters=params,
        inputs=(series.series_uid,),
        sources=(QIBA, "DICOM PS3.3 C.8.9.4 PET Image Module"),
        quantity="activity_concentration",
        unit="Bq/mL",
        reference_time=ref,
    )
    res = ActivityResult(vol, ref, ref_source, dc, half_life, tuple(ctx.warnings))
    return res, half_life


def _correct_not_decay_corrected(
    ctx: _Ctx, arr: NDArray[np.float32], half_life: float
) -> tuple[_dt.datetime, str, NDArray[np.float32]]:
    """DecayCorrection NONE: each slice to its frame start, then to the earliest start.

    Returns the reference time (the earliest AcquisitionDate/Time), its source
    and the corrected Bq/mL array.
    """
    series = ctx.series
    lam = math.log(2) / half_life
    earliest = _earliest_slice(ctx)
    if earliest is None:
        raise DicomMetadataError(
            "AcquisitionTime (0008,0032)",
            expected="the acquisition start of every slice (DecayCorrection NONE)",
            actual="absent",
            fix="correct the header, or pass --decay-correction if the data are corrected",
        )
    ref = earliest[1]
    ref_source = "earliest AcquisitionDate/AcquisitionTime (DecayCorrection NONE)"
    factors = np.empty(len(series.slices), dtype=np.float64)
    nm_duration = _nm_duration_s(ctx) if series.modality == "NM" else None
    missing_duration = False
    for k, s in enumerate(series.slices):
        t_a = _slice_datetime(ctx, s) or ref
        dur = (
            nm_duration
            if nm_duration is not None
            else (s.actual_frame_duration_ms / MS_PER_S if s.actual_frame_duration_ms else None)
        )
        if dur is None:
            missing_duration = True
            frame_mean_to_start = 1.0
        else:
            x = lam * dur
            frame_mean_to_start = x / -math.expm1(-x) if x > 1e-12 else 1.0
        factors[k] = frame_mean_to_start * math.exp(lam * (t_a - ref).total_seconds())
    if missing_duration:
        ctx.warnings.append(
            "ActualFrameDuration (0018,1242) absent: slice values taken as measured at "
            "their AcquisitionTime (no decay correction within the frame)"
        )
    out = (arr * factors.astype(np.float32)[:, None, None]).astype(np.float32, copy=False)
    ctx.used["decay_factors_to_reference"] = {
        "min": float(factors.min()),
        "max": float(factors.max()),
    }
    return ref, ref_source, out


def activity_concentration(
    series: DicomSeries, overrides: Overrides | None = None
) -> ActivityResult:
    """Activity concentration (Bq/mL) decay corrected to the series' reference time.

    Raises :class:`DicomMetadataError` when a needed attribute is missing and
    not overridden; heuristic fixes (dose in MBq...) and the series' own
    warnings (:attr:`DicomSeries.warnings`) are listed in ``warnings``.
    """
    ctx = _Ctx(series, overrides or Overrides(), "raise", list(series.warnings), {})
    res, _ = _activity(ctx)
    return res
