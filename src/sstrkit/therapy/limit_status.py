"""Traffic-light class of a cumulative dose against its limit (one rule for every output).

Green below 80 % of the limit, amber from 80 % up to and including the limit, red above
it — the planning table, the limits figure and the report all use :func:`limit_status`.

>>> limit_status(31.9, 40.0), limit_status(32.0, 40.0), limit_status(40.0, 40.0)
('green', 'amber', 'amber')
>>> limit_status(40.1, 40.0)
'red'
"""

from __future__ import annotations

import math
from typing import Final, Literal

from sstrkit.errors import InvalidInputError

__all__ = ["AMBER_FRACTION", "LimitStatus", "limit_status"]

LimitStatus = Literal["green", "amber", "red"]

#: Fraction of the limit from which a value is shown amber.
AMBER_FRACTION: Final = 0.8


def limit_status(value_gy: float, limit_gy: float) -> LimitStatus:
    """Traffic-light class of a cumulative dose against its limit.

    ``"green"`` below 80 % of the limit, ``"amber"`` from 80 % up to and
    including the limit, ``"red"`` above it. Boundaries are compared with a
    relative tolerance of 1e-9, so 22.4 Gy of a 28 Gy limit is amber although
    22.4/28 rounds below 0.8 in floating point.
    """
    if not (math.isfinite(value_gy) and value_gy >= 0.0):
        raise InvalidInputError(
            "dose against limit (Gy)", expected="a finite number ≥ 0", actual=value_gy
        )
    if not (math.isfinite(limit_gy) and limit_gy > 0.0):
        raise InvalidInputError("limit (Gy)", expected="a finite number > 0", actual=limit_gy)
    ratio = value_gy / limit_gy
    if ratio > 1.0 and not math.isclose(ratio, 1.0, rel_tol=1e-9):
        return "red"
    if ratio >= AMBER_FRACTION or math.isclose(ratio, AMBER_FRACTION, rel_tol=1e-9):
        return "amber"
    return "green"
