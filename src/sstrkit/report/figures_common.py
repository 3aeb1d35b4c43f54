"""Checks and defaults shared by the report figures (:mod:`sstrkit.report.figures`).

Arguments drawn in a figure are validated at this edge: numbers must be finite
(and within a bound where one applies), datetimes timezone-aware; a bad value
is an :class:`~sstrkit.errors.InvalidInputError` naming what it is.

Examples
--------
>>> _finite("dose (Gy)", 2.0, minimum=0.0)
>>> try:
...     _finite("dose (Gy)", -1.0, minimum=0.0)
... except InvalidInputError as err:
...     print(err.expected)
a finite number ≥ 0
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Final

import numpy as np
from numpy.typing import NDArray

from sstrkit.errors import InvalidInputError

__all__ = ["FloatArray"]

FloatArray = NDArray[np.float64]
#: Default resolution (dots per inch) of the rendered PNGs.
_DPI: Final = 110


def _finite(what: str, value: float, *, minimum: float | None = None, strict: bool = False) -> None:
    ok = math.isfinite(value) and (
        minimum is None or (value > minimum if strict else value >= minimum)
    )
    if not ok:
        bound = "" if minimum is None else f" {'>' if strict else '≥'} {minimum:g}"
        raise InvalidInputError(what, expected=f"a finite number{bound}", actual=value)


def _aware(what: str, when: _dt.datetime) -> None:
    if not isinstance(when, _dt.datetime) or when.tzinfo is None or when.utcoffset() is None:
        raise InvalidInputError(
            what,
            expected="a timezone-aware datetime",
            actual=when,
            fix="attach a tzinfo (e.g. datetime.timezone.utc or the clinic's zone)",
        )
