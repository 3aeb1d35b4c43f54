"""Decay helpers against exact analytic cases of A(t) = A0 exp(-ln2 t / T½)."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from sstrkit.errors import InvalidInputError
from sstrkit.physics.decay import (
    activity_at,
    decay_constant,
    decay_correct,
    decay_factor,
    elapsed_s,
    tia_physical,
)
from sstrkit.physics.nuclides import get_nuclide

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_one_and_two_half_lives() -> None:
    lu = get_nuclide("Lu-177")
    assert decay_factor(lu, T0, T0 + dt.timedelta(seconds=lu.half_life_s)) == pytest.approx(
        0.5, rel=1e-12
    )
    assert decay_factor(lu, 0.0, 2 * lu.half_life_s) == pytest.approx(0.25, rel=1e-12)


def test_decay_constant_definition() -> None:
    assert decay_constant(3600.0) == pytest.approx(math.log(2) / 3600.0, rel=1e-15)


def test_activity_and_decay_correction_are_inverse() -> None:
    # Ga-68, T½ = 67.71 min (ICRP 107): 200 MBq injected, measured 60 min later.
    ga = get_nuclide("Ga-68")
    t_scan = T0 + dt.timedelta(minutes=60)
    a_scan = activity_at(200e6, ga, T0, t_scan)
    assert a_scan == pytest.approx(200e6 * 2 ** (-60 / 67.71), rel=1e-9)
    assert decay_correct(a_scan, ga, t_scan, T0) == pytest.approx(200e6, rel=1e-12)


def test_timezones_are_respected() -> None:
    # 10:00 at UTC+2 is 08:00 UTC: one hour before 09:00 UTC.
    t_local = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert elapsed_s(t_local, T0) == 3600.0


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        elapsed_s(dt.datetime(2026, 3, 1, 9, 0), T0)


def test_mixed_time_types_rejected() -> None:
    with pytest.raises(InvalidInputError, match="both datetimes or both seconds"):
        elapsed_s(0.0, T0)


def test_tia_physical_exact() -> None:
    # ∫0^∞ A0 e^(-λt) dt = A0 T½ / ln 2 (exact).
    hl = get_nuclide("Y-90").half_life_s
    assert tia_physical(1e9, hl) == pytest.approx(1e9 * hl / math.log(2), rel=1e-12)
    # Window [T½, 2T½]: A0/λ (1/2 - 1/4).
    assert tia_physical(1e9, hl, start_s=hl, end_s=2 * hl) == pytest.approx(
        1e9 * hl / math.log(2) * 0.25, rel=1e-12
    )


@pytest.mark.parametrize("bad", [0.0, -5.0, float("inf")])
def test_bad_half_life(bad: float) -> None:
    with pytest.raises(InvalidInputError, match="half-life"):
        decay_constant(bad)


def test_reversed_window_rejected() -> None:
    with pytest.raises(InvalidInputError, match="integration window"):
        tia_physical(1.0, 10.0, start_s=5.0, end_s=1.0)
