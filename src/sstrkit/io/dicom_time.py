"""DICOM dates and times (DA, TM, DT) as timezone-aware datetimes.

DICOM stores most times as local scanner time without a zone. sstrkit needs
timezone-aware datetimes (so that no decay interval can be shifted by a zone or
daylight-saving change), so every parser takes the zone to attach:

* the zone written in a DT value (``+0100`` suffix) wins for that value;
* otherwise ``TimezoneOffsetFromUTC (0008,0201)`` of the file;
* otherwise UTC. Decay intervals are differences of times from the same scanner
  clock, so this choice never changes an SUV; it only labels the absolute time.

Examples
--------
>>> import datetime as dt
>>> parse_da_tm("20260105", "093015.5", dt.timezone.utc).isoformat()
'2026-01-05T09:30:15.500000+00:00'
>>> parse_dt("20260105093015+0100", dt.timezone.utc).isoformat()
'2026-01-05T09:30:15+01:00'
>>> tz_from_offset("-0500")
datetime.timezone(datetime.timedelta(days=-1, seconds=68400))
"""

from __future__ import annotations

import datetime as _dt
import re

from sstrkit.errors import DicomMetadataError

__all__ = [
    "format_da",
    "format_dt",
    "format_tm",
    "parse_da_tm",
    "parse_dt",
    "parse_tm",
    "tz_from_offset",
]

_OFFSET = re.compile(r"^([+-])(\d{2})(\d{2})$")
_DT = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2}(?:\.\d{1,6})?)?([+-]\d{4})?$")


def tz_from_offset(text: str, *, tag: str = "TimezoneOffsetFromUTC (0008,0201)") -> _dt.timezone:
    """A fixed-offset zone from a DICOM ``&ZZXX`` string such as ``+0100``."""
    m = _OFFSET.match(str(text).strip())
    if m is None:
        raise DicomMetadataError(
            tag,
            expected="an offset like '+0100' or '-0500'",
            actual=repr(text),
            fix="correct or remove the attribute",
        )
    sign = 1 if m.group(1) == "+" else -1
    hours, minutes = int(m.group(2)), int(m.group(3))
    offset = sign * (hours * 60 + minutes)
    if minutes > 59 or not -12 * 60 <= offset <= 14 * 60:
        raise DicomMetadataError(
            tag,
            expected="an offset from -1200 to +1400 (PS3.5 &ZZXX)",
            actual=repr(text),
            fix="correct or remove the attribute",
        )
    return _dt.timezone(_dt.timedelta(minutes=offset))


def parse_tm(text: str, *, tag: str = "time (TM)") -> _dt.time:
    """Parse a DICOM TM value ``HH[MM[SS[.FFFFFF]]]`` (colons tolerated)."""
    s = str(text).strip().replace(":", "")
    m = re.match(r"^(\d{2})(\d{2})?(\d{2})?(\.\d{1,6})?$", s)
    if m is None:
        raise DicomMetadataError(
            tag, expected="a DICOM time HHMMSS[.FFFFFF]", actual=repr(text), fix="correct the time"
        )
    hh, mm, ss = int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)
    micro = round(float(m.group(4)) * 1e6) if m.group(4) else 0
    if hh > 23 or mm > 59 or ss > 60:
        raise DicomMetadataError(tag, expected="a valid time of day", actual=repr(text))
    if micro >= 1_000_000:  # ".9999999"-style rounding
        micro = 999_999
    return _dt.time(hh, mm, min(ss, 59), micro)


def _parse_da(text: str, tag: str) -> _dt.date:
    s = str(text).strip().replace(".", "").replace("-", "")
    try:
        return _dt.datetime.strptime(s, "%Y%m%d").date()
    except ValueError:
        raise DicomMetadataError(
            tag, expected="a DICOM date YYYYMMDD", actual=repr(text), fix="correct the date"
        ) from None


def parse_da_tm(
    date: str, time: str, tz: _dt.tzinfo, *, tag: str = "date/time (DA/TM)"
) -> _dt.datetime:
    """Combine a DA and a TM value into an aware datetime in ``tz``."""
    return _dt.datetime.combine(_parse_da(date, tag), parse_tm(time, tag=tag), tzinfo=tz)


def parse_dt(text: str, tz: _dt.tzinfo, *, tag: str = "datetime (DT)") -> _dt.datetime:
    """Parse a DICOM DT ``YYYYMMDDHHMMSS.FFFFFF&ZZXX``; its own offset wins over ``tz``."""
    s = str(text).strip()
    m = _DT.match(s)
    if m is None or m.group(4) is None:
        raise DicomMetadataError(
            tag,
            expected="a DICOM datetime YYYYMMDDHHMMSS[.FFFFFF][&ZZXX] with at least the hour",
            actual=repr(text),
            fix="correct the datetime",
        )
    year, month, day = int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)
    hh, mm = int(m.group(4)), int(m.group(5) or 0)
    sec = float(m.group(6) or 0.0)
    zone = tz_from_offset(m.group(7), tag=tag) if m.group(7) else tz
    try:
        base = _dt.datetime(year, month, day, hh, mm, tzinfo=zone)
    except ValueError:
        raise DicomMetadataError(tag, expected="a valid datetime", actual=repr(text)) from None
    return base + _dt.timedelta(seconds=sec)


def _offset_text(t: _dt.datetime) -> str:
    off = t.utcoffset() or _dt.timedelta(0)
    sign = "-" if off < _dt.timedelta(0) else "+"
    minutes = int(abs(off).total_seconds() // 60)
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"


def format_da(t: _dt.datetime) -> str:
    """DA string of an aware datetime in its own zone."""
    return t.strftime("%Y%m%d")


def format_tm(t: _dt.datetime) -> str:
    """TM string ``HHMMSS.FFFFFF`` of an aware datetime in its own zone."""
    return t.strftime("%H%M%S.%f")


def format_dt(t: _dt.datetime) -> str:
    """DT string with the zone offset, e.g. ``20260105093015.000000+0100``."""
    return t.strftime("%Y%m%d%H%M%S.%f") + _offset_text(t)
