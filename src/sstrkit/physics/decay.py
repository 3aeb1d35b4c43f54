"""Physical decay: decay factors, decay correction and physical-only TIA.

All functions take a half-life in seconds (or anything with a ``half_life_s``
attribute, e.g. :class:`~sstrkit.physics.nuclides.Nuclide`) and times either as
seconds or as timezone-aware datetimes. Activities are in Bq, TIA in Bq·s.

The physics is the exponential decay law A(t) = A₀·exp(−λt), λ = ln 2 / T½.

Examples
--------
>>> import datetime as dt
>>> t0 = dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.timezone.utc)
>>> t1 = t0 + dt.timedelta(hours=6.647 * 24)       # one Lu-177 half-life later
>>> round(decay_factor(6.647 * 86400, t0, t1), 12)
0.5
>>> activity_at(7.4e9, 6.647 * 86400, t0, t1)
3700000000.0
>>> tia_physical(1.0, 3600.0) == 3600.0 / math.log(2)
True
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Protocol

from sstrkit.errors import InvalidInputError

__all__ = [
    "activity_at",
    "decay_constant",
    "decay_correct",
    "decay_factor",
    "elapsed_s",
    "half_life_of",
    "tia_physical",
]


class _HasHalfLife(Protocol):
    @property
    def half_life_s(self) -> float: ...


HalfLife = float | _HasHalfLife
TimePoint = float | _dt.datetime


def half_life_of(half_life: HalfLife) -> float:
    """Half-life in seconds from a number or an object with ``half_life_s``."""
    value = getattr(half_life, "half_life_s", half_life)
    value = float(value)  # type: ignore[arg-type]
    if not math.isfinite(value) or value <= 0:
        raise InvalidInputError(
            "half-life", expected="a finite value > 0 s", actual=value, fix="check the nuclide"
        )
    return value


def decay_constant(half_life: HalfLife) -> float:
    """λ = ln 2 / T½ in s⁻¹."""
    return math.log(2) / half_life_of(half_life)


def elapsed_s(t_from: TimePoint, t_to: TimePoint) -> float:
    """Seconds from ``t_from`` to ``t_to`` (negative if ``t_to`` is earlier).

    Datetimes must be timezone-aware so that daylight-saving changes and
    scanners in other zones cannot shift a decay correction by an hour.
    """
    if isinstance(t_from, _dt.datetime) and isinstance(t_to, _dt.datetime):
        for name, t in (("t_from", t_from), ("t_to", t_to)):
            if t.tzinfo is None or t.utcoffset() is None:
                raise InvalidInputError(
                    name,
                    expected="a timezone-aware datetime",
                    actual=t.isoformat(),
                    fix="attach a tzinfo, e.g. datetime.timezone.utc",
                )
        return (t_to - t_from).total_seconds()
    if isinstance(t_from, _dt.datetime) or isinstance(t_to, _dt.datetime):
        raise InvalidInputError(
            "time points",
            expected="both datetimes or both seconds",
            actual=f"{type(t_from).__name__} and {type(t_to).__name__}",
        )
    return float(t_to) - float(t_from)


def decay_factor(half_life: HalfLife, t_from: TimePoint, t_to: TimePoint) -> float:
    """exp(−λ·(t_to − t_from)): fraction of activity left at ``t_to``."""
    return math.exp(-decay_constant(half_life) * elapsed_s(t_from, t_to))


def activity_at(a0_bq: float, half_life: HalfLife, t0: TimePoint, t: TimePoint) -> float:
    """Activity at ``t`` of a source with ``a0_bq`` at ``t0`` (physical decay only)."""
    return float(a0_bq) * decay_factor(half_life, t0, t)


def decay_correct(
    value: float, half_life: HalfLife, measured_at: TimePoint, reference: TimePoint
) -> float:
    """Correct a value measured at ``measured_at`` back (or forward) to ``reference``.

    The result is what the value would have been at ``reference`` if nothing
    but physical decay happened in between: value·exp(λ·(measured − reference)).
    """
    return float(value) / decay_factor(half_life, reference, measured_at)


def tia_physical(
    a0_bq: float, half_life: HalfLife, *, start_s: float = 0.0, end_s: float = math.inf
) -> float:
    """Time-integrated activity (Bq·s) of A₀·exp(−λt) from ``start_s`` to ``end_s``.

    ∫ A₀ e^(−λt) dt = A₀/λ · (e^(−λ·start) − e^(−λ·end)); with the defaults
    this is A₀/λ = 1.4427·A₀·T½.
    """
    if end_s < start_s:
        raise InvalidInputError(
            "integration window", expected="end_s >= start_s", actual=(start_s, end_s)
        )
    lam = decay_constant(half_life)
    tail = 0.0 if math.isinf(end_s) else math.exp(-lam * end_s)
    return float(a0_bq) / lam * (math.exp(-lam * start_s) - tail)
