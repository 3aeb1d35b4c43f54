"""Size response with a *minor response* class, as used in PRRT series.

Kwekkeboom DJ et al., "Treatment with the radiolabeled somatostatin analog
[177Lu-DOTA0,Tyr3]octreotate: toxicity, efficacy, and survival",
J Clin Oncol 26:2124–2130 (2008) graded tumour size with Southwest Oncology
Group (SWOG) criteria extended by a minor response (MR): a decrease in size of
≥ 25 % and < 50 % (van Essen et al., J Nucl Med 2010;51:383, wording
"≥ 25 % and < 50 %"). The classes are

====  ======================================================
CR    all lesions gone
PR    decrease ≥ 50 % from baseline
MR    decrease ≥ 25 % and < 50 % from baseline
SD    neither MR/PR nor PD
PD    increase ≥ 25 % from the smallest size on study, or new lesions
====  ======================================================

The size measure is whatever the series used (SWOG: sum of products of two
perpendicular diameters, mm²; or a sum of diameters, mm): the thresholds
apply to its relative change. The review (section 3.4) quotes this scheme:
"tumor regression of 50 % or more ... 25 % to 50 % ... SD ... PD".

Examples
--------
>>> classify_minor_response(-0.30)
'MR'
>>> classify_minor_response(-0.50), classify_minor_response(-0.2499)
('PR', 'SD')
>>> classify_minor_response(0.10, new_lesions=True)
'PD'
"""

from __future__ import annotations

import math
from typing import Final, Literal

from sstrkit.errors import InvalidInputError

__all__ = ["SOURCE", "MinorResponseClass", "classify_minor_response", "size_change"]

SOURCE: Final = "Kwekkeboom DJ et al. J Clin Oncol 2008;26:2124-2130 (SWOG criteria with MR)"
MinorResponseClass = Literal["CR", "PR", "MR", "SD", "PD"]
PR_DECREASE: Final = 0.50
MR_DECREASE: Final = 0.25
PD_INCREASE: Final = 0.25
_EPS: Final = 1e-9


def size_change(current: float, reference: float) -> float:
    """Relative change (current − reference) / reference.

    >>> size_change(75.0, 100.0)
    -0.25
    """
    if (
        not (reference > 0 and math.isfinite(reference))
        or not math.isfinite(current)
        or current < 0
    ):
        raise InvalidInputError(
            "tumour size", expected="reference > 0 and current ≥ 0", actual=(current, reference)
        )
    return (current - reference) / reference


def classify_minor_response(
    change_from_baseline: float,
    *,
    change_from_nadir: float | None = None,
    new_lesions: bool = False,
    all_gone: bool = False,
) -> MinorResponseClass:
    """Classify a relative size change with the SWOG + minor-response scheme.

    Parameters
    ----------
    change_from_baseline
        Relative change from baseline (−0.3 = 30 % smaller).
    change_from_nadir
        Relative change from the smallest size on study (PD test); defaults
        to the change from baseline.
    new_lesions
        Unequivocal new lesions (PD).
    all_gone
        Complete disappearance (CR).
    """
    for v in (change_from_baseline, change_from_nadir):
        if v is not None and (not math.isfinite(v) or v < -1.0):
            raise InvalidInputError(
                "relative size change", expected="a finite value ≥ −1", actual=v
            )
    inc = change_from_baseline if change_from_nadir is None else change_from_nadir
    if new_lesions or inc >= PD_INCREASE - _EPS:
        return "PD"
    if all_gone or change_from_baseline <= -1.0 + _EPS:
        return "CR"
    if change_from_baseline <= -PR_DECREASE + _EPS:
        return "PR"
    if change_from_baseline <= -MR_DECREASE + _EPS:
        return "MR"
    return "SD"
