"""Internal units and the quantity parser used at the edges (CLI, files).

sstrkit computes in one unit per quantity:

=====================  ==========
quantity               unit
=====================  ==========
activity               Bq
time                   s
length                 mm
volume                 mL
mass                   g
energy                 MeV
absorbed dose          Gy
activity concentration Bq/mL
time-integrated act.   Bq·s
=====================  ==========

Conversions happen only where data enter or leave (CLI options, DICOM, CSV).
The factors below are exact by definition (1 Ci = 3.7e10 Bq, SI prefixes).

Examples
--------
>>> parse_quantity("7.4 GBq", "activity")
7400000000.0
>>> parse_quantity("200 mCi", "activity")
7400000000.0
>>> parse_quantity("96 h", "time")
345600.0
>>> parse_quantity("2.5cm", "length")
25.0
>>> format_activity(7.4e9)
'7.40 GBq'
"""

from __future__ import annotations

import math
import re
from typing import Final, Literal

from sstrkit.errors import UnitError

__all__ = [
    "BQ_PER_CI",
    "BQ_PER_GBQ",
    "BQ_PER_KBQ",
    "BQ_PER_MBQ",
    "G_PER_KG",
    "J_PER_MEV",
    "KEV_PER_MEV",
    "MBQ_PER_GBQ",
    "MGY_PER_GY",
    "ML_PER_L",
    "MM3_PER_ML",
    "MM_PER_CM",
    "MS_PER_S",
    "SECONDS_PER_DAY",
    "SECONDS_PER_HOUR",
    "Dimension",
    "format_activity",
    "parse_quantity",
    "to_unit",
]

Dimension = Literal[
    "activity",
    "time",
    "length",
    "volume",
    "mass",
    "energy",
    "dose",
    "concentration",
    "tia",
]

BQ_PER_CI: Final = 3.7e10  # definition of the curie
BQ_PER_KBQ: Final = 1e3  # SI prefix kilo
BQ_PER_MBQ: Final = 1e6  # SI prefix mega
BQ_PER_GBQ: Final = 1e9  # SI prefix giga
MBQ_PER_GBQ: Final = 1e3  # GBq → MBq (display and JSON fields in MBq)
SECONDS_PER_HOUR: Final = 3600.0
SECONDS_PER_DAY: Final = 86400.0
MS_PER_S: Final = 1000.0  # DICOM duration fields (ActualFrameDuration, …) are in ms
G_PER_KG: Final = 1000.0  # body weights arrive in kg (DICOM PatientWeight, CSV)
MM_PER_CM: Final = 10.0  # heights and lengths given in cm
MM3_PER_ML: Final = 1000.0  # 1 mL = 1 cm³ = 1000 mm³ (voxel volumes)
ML_PER_L: Final = 1000.0  # SI prefix milli
KEV_PER_MEV: Final = 1000.0  # photon energies are tabulated / shown in keV
MGY_PER_GY: Final = 1e3  # S values and dose coefficients are shown in mGy
#: Joule per MeV: exact since the 2019 SI redefinition (e = 1.602176634e-19 C;
#: CODATA 2018). The one definition in sstrkit; re-exported by therapy.sphere,
#: phantom.truth and physics.kernels (as MEV_TO_J).
J_PER_MEV: Final = 1.602176634e-13

INTERNAL_UNIT: Final[dict[str, str]] = {
    "activity": "Bq",
    "time": "s",
    "length": "mm",
    "volume": "mL",
    "mass": "g",
    "energy": "MeV",
    "dose": "Gy",
    "concentration": "Bq/mL",
    "tia": "Bq*s",
}

_ACTIVITY = {
    "bq": 1.0,
    "kbq": 1e3,
    "mbq": 1e6,
    "gbq": 1e9,
    "tbq": 1e12,
    "ci": BQ_PER_CI,
    "mci": BQ_PER_CI * 1e-3,
    "uci": BQ_PER_CI * 1e-6,
    "µci": BQ_PER_CI * 1e-6,
    "μci": BQ_PER_CI * 1e-6,
}
_TIME = {
    "s": 1.0,
    "sec": 1.0,
    "min": 60.0,
    "m": 60.0,
    "h": SECONDS_PER_HOUR,
    "hr": SECONDS_PER_HOUR,
    "hours": SECONDS_PER_HOUR,
    "d": SECONDS_PER_DAY,
    "day": SECONDS_PER_DAY,
    "days": SECONDS_PER_DAY,
    "wk": 7 * SECONDS_PER_DAY,
    "week": 7 * SECONDS_PER_DAY,
    "weeks": 7 * SECONDS_PER_DAY,
    "y": 365.25 * SECONDS_PER_DAY,  # Julian year, as used by ICRP 107
    "ms": 1e-3,
    "us": 1e-6,
}
_LENGTH = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "um": 1e-3, "µm": 1e-3}
_VOLUME = {"ml": 1.0, "cc": 1.0, "cm3": 1.0, "l": 1000.0, "mm3": 1e-3, "ul": 1e-3}
_MASS = {"g": 1.0, "kg": 1000.0, "mg": 1e-3}
_ENERGY = {"mev": 1.0, "kev": 1e-3, "ev": 1e-6}
_DOSE = {"gy": 1.0, "mgy": 1e-3, "cgy": 1e-2, "ugy": 1e-6}
_CONC = {
    f"{a}/{v}": af / vf
    for a, af in _ACTIVITY.items()
    for v, vf in {"ml": 1.0, "cc": 1.0, "l": 1000.0}.items()
}
_TIA = {
    f"{a}*{t}": af * tf
    for a, af in _ACTIVITY.items()
    for t, tf in {"s": 1.0, "h": SECONDS_PER_HOUR, "d": SECONDS_PER_DAY}.items()
}

_TABLES: Final[dict[str, dict[str, float]]] = {
    "activity": _ACTIVITY,
    "time": _TIME,
    "length": _LENGTH,
    "volume": _VOLUME,
    "mass": _MASS,
    "energy": _ENERGY,
    "dose": _DOSE,
    "concentration": _CONC,
    "tia": _TIA,
}

_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def _normalise_unit(unit: str) -> str:
    return unit.strip().lower().replace(" ", "").replace("·", "*").replace("×", "*")


def to_unit(value: float, unit: str, dimension: Dimension) -> float:
    """Convert ``value`` given in ``unit`` to sstrkit's internal unit.

    >>> to_unit(1.0, "mCi", "activity")
    37000000.0
    >>> to_unit(3.0, "kBq/mL", "concentration")
    3000.0
    """
    table = _TABLES.get(dimension)
    if table is None:
        raise UnitError(
            "dimension",
            expected=f"one of {sorted(_TABLES)}",
            actual=dimension,
            fix="use a supported dimension",
        )
    factor = table.get(_normalise_unit(unit))
    if factor is None:
        raise UnitError(
            f"unit of {dimension}",
            expected=f"one of {sorted(set(table))}",
            actual=repr(unit),
            fix=f"write the {dimension} like '7.4 GBq' / '96 h' with a listed unit",
        )
    return float(value) * factor


def parse_quantity(
    text: str | float | int, dimension: Dimension, *, default_unit: str | None = None
) -> float:
    """Parse ``"7.4 GBq"``-style text into the internal unit of ``dimension``.

    A bare number is accepted only when ``default_unit`` is given, so that an
    unlabelled number is never silently read in the wrong unit.
    """
    if isinstance(text, int | float):
        if default_unit is None:
            raise UnitError(
                f"{dimension} value {text!r}",
                expected=f"a number with a unit (internal unit {INTERNAL_UNIT[dimension]})",
                actual="a bare number",
                fix=f"append the unit, e.g. '{text} {INTERNAL_UNIT[dimension]}'",
            )
        return to_unit(float(text), default_unit, dimension)
    match = _NUMBER.match(str(text))
    if match is None:
        raise UnitError(
            f"{dimension} quantity",
            expected="'<number> <unit>', e.g. '7.4 GBq' or '96 h'",
            actual=repr(text),
            fix="write the number first, then the unit",
        )
    number, unit = float(match.group(1)), match.group(2)
    if not math.isfinite(number):
        raise UnitError(f"{dimension} quantity", expected="a finite number", actual=repr(text))
    if not unit:
        return parse_quantity(number, dimension, default_unit=default_unit)
    return to_unit(number, unit, dimension)


def format_activity(bq: float) -> str:
    """Human-readable activity with an SI prefix (3 significant digits)."""
    for factor, unit in ((1e12, "TBq"), (1e9, "GBq"), (1e6, "MBq"), (1e3, "kBq")):
        if abs(bq) >= factor:
            return f"{bq / factor:.2f} {unit}"
    return f"{bq:.3g} Bq"
