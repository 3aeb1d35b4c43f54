"""Quantity parser: conversions by definition (SI prefixes, 1 Ci = 3.7e10 Bq exactly)."""

from __future__ import annotations

import pytest

from sstrkit.core.units import format_activity, parse_quantity, to_unit
from sstrkit.errors import UnitError


@pytest.mark.parametrize(
    ("text", "dimension", "expected"),
    [
        ("7.4 GBq", "activity", 7.4e9),
        ("200 mCi", "activity", 7.4e9),  # 200 × 3.7e7 Bq
        ("27 mCi", "activity", 9.99e8),
        ("1 µCi", "activity", 3.7e4),
        ("185MBq", "activity", 1.85e8),
        ("96 h", "time", 345600.0),
        ("8 weeks", "time", 8 * 7 * 86400.0),
        ("67.71 min", "time", 4062.6),
        ("2.5 cm", "length", 25.0),
        ("1.5 L", "volume", 1500.0),
        ("70 kg", "mass", 70000.0),
        ("208.4 keV", "energy", 0.2084),
        ("1500 mGy", "dose", 1.5),
        ("5 kBq/mL", "concentration", 5000.0),
        ("2 MBq*h", "tia", 7.2e9),
        ("1e3 Bq", "activity", 1000.0),
    ],
)
def test_parse(text: str, dimension: str, expected: float) -> None:
    assert parse_quantity(text, dimension) == pytest.approx(expected, rel=1e-12)  # type: ignore[arg-type]


def test_bare_number_needs_default_unit() -> None:
    with pytest.raises(UnitError, match="append the unit"):
        parse_quantity("7.4", "activity")
    assert parse_quantity("7.4", "activity", default_unit="GBq") == pytest.approx(7.4e9)
    assert parse_quantity(3, "time", default_unit="h") == 10800.0


@pytest.mark.parametrize("text", ["GBq 7.4", "seven GBq", "", "7.4 furlongs"])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(UnitError):
        parse_quantity(text, "activity")


def test_wrong_dimension_names_valid_units() -> None:
    with pytest.raises(UnitError, match="unit of activity") as info:
        parse_quantity("96 h", "activity")
    assert "gbq" in str(info.value)


def test_unknown_dimension() -> None:
    with pytest.raises(UnitError, match="dimension"):
        to_unit(1.0, "Bq", "luminosity")  # type: ignore[arg-type]


def test_format_activity() -> None:
    assert format_activity(7.4e9) == "7.40 GBq"
    assert format_activity(185e6) == "185.00 MBq"
    assert format_activity(12.0) == "12 Bq"
