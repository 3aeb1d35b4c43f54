"""Times of the SUV computation: decay reference time, administration time, decay correction.

**Decay correction** (0054,1102): ``START`` (values refer to the scan start),
``ADMIN`` (to the administration time) or ``NONE`` (each slice is the mean over
its frame); NM series without the attribute are ``NONE``. A CorrectedImage
(0028,0051) without ``DECY`` contradicts START/ADMIN.

**Reference time** (``START``): SeriesDate/Time, unless it is later than the
earliest AcquisitionDate/Time (post-processed series); then the GE private scan
datetime (0009,xx0D "GEMS_PETD_01"), else the QIBA back-computation from
AcquisitionTime, FrameReferenceTime and ActualFrameDuration
(:func:`average_activity_time_s`), else the earliest AcquisitionTime (warning).

**Administration time**: RadiopharmaceuticalStartDateTime (0018,1078), else the
GE private admin datetime (0009,xx3B), else RadiopharmaceuticalStartTime
(0018,1072) on the scan date — one day earlier when it would be after the scan
(midnight crossing).

**NM acquisition duration**: the sum over RotationInformationSequence of
NumberOfFramesInRotation × ActualFrameDuration (or the override).

Examples
--------
>>> round(average_activity_time_s(1e-9, 6586.2), 12)    # an instant: the frame middle
5e-10
"""

from __future__ import annotations

import datetime as _dt
import functools
import math

from sstrkit.core.units import MS_PER_S
from sstrkit.errors import DicomMetadataError
from sstrkit.io.dicom_read import SliceMeta
from sstrkit.io.dicom_time import parse_da_tm, parse_dt
from sstrkit.io.suv_header import _num, _private, _radiopharm_item, _tz
from sstrkit.io.suv_inputs import DecayCorrection, _Ctx

__all__ = ["average_activity_time_s"]


def average_activity_time_s(frame_duration_s: float, half_life_s: float) -> float:
    """Time after frame start at which the decaying activity equals its frame mean.

    T_ave = (1/λ)·ln(λT / (1 − e^(−λT))) (DICOM PS3.3 C.8.9.4.1.5, Example 2).

    >>> round(average_activity_time_s(600.0, 6586.2), 3)    # 10 min F-18 frame
    298.421
    """
    lam = math.log(2) / half_life_s
    x = lam * frame_duration_s
    if x < 1e-8:
        return frame_duration_s / 2.0
    return math.log(x / -math.expm1(-x)) / lam


def _slice_datetime(ctx: _Ctx, s: SliceMeta) -> _dt.datetime | None:
    """AcquisitionDate/Time of a slice (date from the series when absent), or None."""
    if not s.acquisition_time:
        return None
    date = s.acquisition_date or str(ctx.ds.get("SeriesDate") or ctx.ds.get("StudyDate") or "")
    if not date:
        return None
    return _parse_slice_time(date, s.acquisition_time, ctx.tz)


@functools.lru_cache(maxsize=4096)
def _parse_slice_time(date: str, time: str, tz: _dt.tzinfo) -> _dt.datetime:
    # slices share few distinct times: parse each once (errors are not cached)
    return parse_da_tm(date, time, tz, tag="AcquisitionDate/Time (0008,0022/0032)")


def _series_datetime(ctx: _Ctx) -> _dt.datetime | None:
    """SeriesDate/SeriesTime (date from AcquisitionDate or StudyDate when absent), or None."""
    ds = ctx.ds
    time = ds.get("SeriesTime")
    date = ds.get("SeriesDate") or ds.get("AcquisitionDate") or ds.get("StudyDate")
    if not time or not date:
        return None
    return parse_da_tm(str(date), str(time), _tz(ds), tag="SeriesDate/SeriesTime (0008,0021/0031)")


def _earliest_slice(ctx: _Ctx) -> tuple[SliceMeta, _dt.datetime] | None:
    """The slice with the earliest acquisition datetime and that datetime, or None."""
    best: tuple[SliceMeta, _dt.datetime] | None = None
    for s in ctx.series.slices:
        t = _slice_datetime(ctx, s)
        if t is not None and (best is None or t < best[1]):
            best = (s, t)
    return best


def _first_time(ctx: _Ctx) -> _dt.datetime | None:
    """The earliest slice acquisition datetime, or None."""
    e = _earliest_slice(ctx)
    return e[1] if e else None


def _start_reference(ctx: _Ctx, half_life_s: float) -> tuple[_dt.datetime, str]:
    """Reference time of DecayCorrection START and its source (module docstring)."""
    series_t = _series_datetime(ctx)
    earliest = _earliest_slice(ctx)
    if series_t is not None and (earliest is None or series_t <= earliest[1]):
        return series_t, "SeriesDate/SeriesTime (0008,0021/0031)"
    ge = _private(ctx.ds, 0x0009, 0x0D, "GEMS_PETD_01")
    if ge:
        return (
            parse_dt(str(ge), _tz(ctx.ds), tag="GE private scan_datetime (0009,xx0D)"),
            "GE private scan_datetime (0009,xx0D GEMS_PETD_01)",
        )
    if earliest is None:
        raise DicomMetadataError(
            "SeriesTime (0008,0031) / AcquisitionTime (0008,0032)",
            expected="the scan start time",
            actual="absent",
            fix="the series has no usable time; correct the header (or use DecayCorrection "
            "ADMIN data)",
        )
    s, t_acq = earliest
    frt, dur = s.frame_reference_time_ms, s.actual_frame_duration_ms
    if frt is not None and frt > 0 and dur is not None and dur > 0:
        t_ave = average_activity_time_s(dur / MS_PER_S, half_life_s)
        ref = t_acq - _dt.timedelta(seconds=frt / MS_PER_S) + _dt.timedelta(seconds=t_ave)
        return ref, (
            "AcquisitionTime − FrameReferenceTime + T_ave (QIBA back-computation; SeriesTime "
            "is later than AcquisitionTime)"
        )
    ctx.warnings.append(
        "SeriesTime (0008,0031) is later than AcquisitionTime (0008,0032) and neither the GE "
        "scan datetime nor FrameReferenceTime is available: the earliest AcquisitionTime "
        f"({t_acq.isoformat()}) is used as the decay-correction reference"
    )
    return t_acq, "earliest AcquisitionDate/AcquisitionTime (0008,0022/0032)"


def _injection_time(ctx: _Ctx, anchor: _dt.datetime | None) -> _dt.datetime:
    """Administration time (module docstring); ``anchor`` is the scan time, if known."""
    tz = _tz(ctx.ds)
    ov = ctx.overrides.injection_time
    if ov is not None:
        t = ov if ov.tzinfo is not None and ov.utcoffset() is not None else ov.replace(tzinfo=tz)
        ctx.used["injection_time"] = {"value": t.isoformat(), "source": "override"}
        return t
    item = _radiopharm_item(ctx.ds)
    start_dt = item.get("RadiopharmaceuticalStartDateTime") if item is not None else None
    if start_dt:
        t = parse_dt(str(start_dt), tz, tag="RadiopharmaceuticalStartDateTime (0018,1078)")
        ctx.used["injection_time"] = {
            "value": t.isoformat(),
            "source": "RadiopharmaceuticalStartDateTime (0018,1078)",
        }
        return t
    ge = _private(ctx.ds, 0x0009, 0x3B, "GEMS_PETD_01")
    if ge:
        t = parse_dt(str(ge), tz, tag="GE private admin_datetime (0009,xx3B)")
        ctx.used["injection_time"] = {
            "value": t.isoformat(),
            "source": "GE admin_datetime (0009,xx3B)",
        }
        return t
    start_tm = item.get("RadiopharmaceuticalStartTime") if item is not None else None
    if not start_tm:
        raise DicomMetadataError(
            "RadiopharmaceuticalStartDateTime (0018,1078) / RadiopharmaceuticalStartTime "
            "(0018,1072)",
            expected="the administration time",
            actual="absent",
            fix="pass the injection time (CLI --injection-time 2026-01-05T09:30, API "
            "Overrides(injection_time=...))",
        )
    if anchor is None:
        date = ctx.ds.get("SeriesDate") or ctx.ds.get("AcquisitionDate") or ctx.ds.get("StudyDate")
        if not date:
            raise DicomMetadataError(
                "SeriesDate (0008,0021)",
                expected="a date for RadiopharmaceuticalStartTime",
                actual="absent",
                fix="pass the injection time with its date (CLI --injection-time)",
            )
        day = str(date)
    else:
        day = anchor.strftime("%Y%m%d")
    t = parse_da_tm(day, str(start_tm), tz, tag="RadiopharmaceuticalStartTime (0018,1072)")
    source = "RadiopharmaceuticalStartTime (0018,1072) on the scan date"
    if anchor is not None and t > anchor:
        t -= _dt.timedelta(days=1)
        source += ", previous day (midnight crossing)"
        ctx.warnings.append(
            f"RadiopharmaceuticalStartTime {start_tm} is after the scan time "
            f"{anchor.time().isoformat()}: injection taken on the previous day ({t.date()})"
        )
    ctx.used["injection_time"] = {"value": t.isoformat(), "source": source}
    return t


def _decay_correction(ctx: _Ctx) -> DecayCorrection:
    """DecayCorrection (override, else header; NM without it: NONE), recorded as used."""
    ov: DecayCorrection | None = ctx.override("decay_correction", ctx.overrides.decay_correction)
    if ov is not None:
        return ov
    dc = str(ctx.ds.get("DecayCorrection") or "").strip().upper()
    if dc in ("START", "ADMIN", "NONE"):
        ctx.used["decay_correction"] = {"value": dc, "source": "DecayCorrection (0054,1102)"}
        corrected = [str(v).upper() for v in (ctx.ds.get("CorrectedImage") or [])]
        if corrected and dc != "NONE" and "DECY" not in corrected:
            ctx.problem(
                DicomMetadataError(
                    "CorrectedImage (0028,0051)",
                    expected=f"DECY (DecayCorrection is {dc})",
                    actual="\\".join(corrected),
                    fix="inconsistent header; confirm the decay correction and pass it with "
                    "--decay-correction START|ADMIN|NONE",
                )
            )
        return dc  # type: ignore[return-value]
    if ctx.series.modality == "NM" and not dc:
        ctx.warnings.append(
            "DecayCorrection (0054,1102) absent (usual for NM): values taken as not decay "
            "corrected (NONE), averaged over the acquisition"
        )
        ctx.used["decay_correction"] = {"value": "NONE", "source": "NM default"}
        return "NONE"
    raise DicomMetadataError(
        "DecayCorrection (0054,1102)",
        expected="START, ADMIN or NONE",
        actual=dc or "absent",
        fix="pass it with --decay-correction START|ADMIN|NONE (API "
        "Overrides(decay_correction=...))",
    )


def _peek_decay_correction(ctx: _Ctx) -> str:
    """DecayCorrection as it will be used (override, else header), without recording it."""
    if ctx.overrides.decay_correction is not None:
        return ctx.overrides.decay_correction
    return str(ctx.ds.get("DecayCorrection") or "").strip().upper()


def _nm_duration_s(ctx: _Ctx) -> float:
    """SPECT acquisition duration (s): override, else the RotationInformationSequence sum."""
    if (
        ov := ctx.override("acquisition_duration_s", ctx.overrides.acquisition_duration_s)
    ) is not None:
        return ov
    rot = ctx.ds.get("RotationInformationSequence")
    total = 0.0
    for item in rot or []:
        frames = _num(item, "NumberOfFramesInRotation", "0054,0053")
        dur = _num(item, "ActualFrameDuration", "0018,1242")
        if frames and dur:
            total += frames * dur / MS_PER_S
    if total > 0:
        ctx.used["acquisition_duration_s"] = {
            "value": total,
            "source": "RotationInformationSequence: NumberOfFramesInRotation × ActualFrameDuration",
        }
        return total
    raise DicomMetadataError(
        "RotationInformationSequence (0054,0052) > ActualFrameDuration (0018,1242)",
        expected="the SPECT acquisition duration",
        actual="absent",
        fix="pass it (CLI --acq-duration-s, API Overrides(acquisition_duration_s=...))",
    )
