"""Timezone-aware times for the preclinical modules and their CLI.

Every preclinical time must carry its UTC offset (decay corrections across a
daylight-saving change would otherwise be off by an hour); these helpers check
given datetimes and parse ISO 8601 text, applying a default zone if one is given.

Examples
--------
>>> import datetime as dt
>>> parse_time("2026-03-02T09:00", "time", dt.UTC, expected="ISO 8601", naive_fix="").isoformat()
'2026-03-02T09:00:00+00:00'
"""

from __future__ import annotations

import datetime as _dt

from sstrkit.errors import InvalidInputError

__all__ = ["parse_time", "require_aware"]


def require_aware(
    what: str, t: _dt.datetime | None, *, missing_fix: str, naive_fix: str
) -> _dt.datetime:
    """``t`` if it is timezone-aware, else :class:`InvalidInputError` (``t`` missing or naive)."""
    if t is None:
        raise InvalidInputError(
            what, expected="a timezone-aware date and time", actual="missing", fix=missing_fix
        )
    if t.tzinfo is None or t.utcoffset() is None:
        raise InvalidInputError(
            what,
            expected="a timezone-aware date and time",
            actual=t.isoformat(),
            fix=naive_fix,
        )
    return t


def parse_time(
    text: str, what: str, tz: _dt.tzinfo | None, *, expected: str, naive_fix: str
) -> _dt.datetime:
    """ISO 8601 ``text`` as an aware datetime; a time without offset takes ``tz``.

    ``expected`` describes the format in the error for unreadable text;
    ``naive_fix`` is the advice when the text has no offset and ``tz`` is None.
    """
    try:
        t = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(what, expected=expected, actual=text) from None
    if t.tzinfo is None:
        if tz is None:
            raise InvalidInputError(
                what, expected="a time with its UTC offset", actual=text, fix=naive_fix
            )
        t = t.replace(tzinfo=tz)
    return t
