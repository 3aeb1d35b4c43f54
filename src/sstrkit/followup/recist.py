"""RECIST 1.1 response assessment from lesion measurement records.

Implements Eisenhauer et al., "New response evaluation criteria in solid
tumours: revised RECIST guideline (version 1.1)", Eur J Cancer 45:228–247
(2009), working on plain measurements (diameters in mm) so that any reader —
a radiologist's worksheet or :mod:`sstrkit.reading` — can feed it.

Rules implemented (section numbers of the paper):

* baseline (3.1–3.2): measurable non-nodal lesion ≥ 10 mm longest diameter;
  lymph node target ≥ 15 mm short axis, 10–<15 mm pathological but
  non-measurable (non-target), < 10 mm normal (not recorded); at most five
  target lesions, at most two per organ;
* sum of diameters (4.2): longest diameter of non-nodal lesions plus short
  axis of nodes; a lesion "too small to measure" counts 5 mm, a vanished one 0 mm;
* target response (4.3.1): CR = all non-nodal targets gone and every target
  node < 10 mm short axis; PR = ≥ 30 % decrease of the sum from baseline;
  PD = ≥ 20 % increase from the smallest sum on study (nadir, baseline
  included) **and** ≥ 5 mm absolute increase; SD otherwise;
* missing measurements (4.3.4 / appendix): NE, unless the lesions that were
  measured already prove PD;
* non-target response (4.3.3): CR (all gone, nodes < 10 mm, tumour markers
  normal), non-CR/non-PD, PD (unequivocal progression), NE;
* overall response, Table 1 (target disease) and Table 2 (non-target only);
  any unequivocal new lesion is PD;
* a lesion reappearing after an overall CR is PD (RECIST working group FAQ,
  recist.eortc.org, "Does a new lesion always result in PD?");
* best overall response (4.4, Table 3): CR/PR confirmed by a repeat
  assessment ≥ 4 weeks later, SD needs a minimum interval from baseline
  (protocol-defined; default 6 weeks), assessments after the first PD ignored.

Examples
--------
>>> base = TimePoint("baseline", 0.0, (
...     Lesion("L1", "liver", diameter_mm=40.0),
...     Lesion("N1", "node", is_node=True, diameter_mm=20.0),
... ))
>>> fu = TimePoint("wk8", 56 * 86400.0, (
...     Lesion("L1", "liver", diameter_mm=0.0),
...     Lesion("N1", "node", is_node=True, diameter_mm=8.0),
... ))
>>> r = assess(base, [fu])
>>> r.time_points[0].sum_mm, r.time_points[0].response
(8.0, 'CR')
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from sstrkit.core.provenance import Step
from sstrkit.core.units import SECONDS_PER_DAY
from sstrkit.errors import InvalidInputError

__all__ = [
    "CONFIRM_MIN_S",
    "MIN_SD_S",
    "TOO_SMALL_MM",
    "BestResponse",
    "Lesion",
    "RecistAssessment",
    "TimePoint",
    "TimePointResult",
    "assess",
    "best_overall_response",
    "overall_response",
    "select_targets",
    "target_sum_mm",
    "validate_baseline",
]

SOURCE: Final = "Eisenhauer EA et al. Eur J Cancer 2009;45:228-247 (RECIST 1.1)"
FAQ_SOURCE: Final = "RECIST working group FAQ, recist.eortc.org (reappearance after CR)"

Response = Literal["CR", "PR", "SD", "PD", "NE", "NON-CR/NON-PD"]
NonTargetStatus = Literal["absent", "present", "progression"]

DAY_S: Final = SECONDS_PER_DAY
CONFIRM_MIN_S: Final = (
    28 * DAY_S
)  # "no less than 4 weeks after the criteria for response are first met"
MIN_SD_S: Final = 42 * DAY_S  # protocol-defined minimum SD interval; 6-8 weeks is typical
TOO_SMALL_MM: Final = 5.0  # default for a target lesion "too small to measure" (section 4.2)
MEASURABLE_MM: Final = 10.0  # non-nodal measurable lesion, CT slice ≤ 5 mm
NODE_TARGET_MM: Final = 15.0  # node measurable (short axis)
NODE_NORMAL_MM: Final = 10.0  # node < 10 mm short axis is normal
MAX_TARGETS: Final = 5
MAX_TARGETS_PER_ORGAN: Final = 2
PR_CHANGE: Final = -0.30
PD_CHANGE: Final = 0.20
PD_ABS_MM: Final = 5.0
_EPS: Final = 1e-9


@dataclass(frozen=True)
class Lesion:
    """One lesion at one time point.

    Parameters
    ----------
    id
        Identifier, the same at every time point.
    organ
        Organ or site (used for the two-per-organ rule).
    is_node
        Lymph node (diameter is then the short axis).
    target
        Target lesion (as chosen at baseline).
    diameter_mm
        Longest diameter (short axis for nodes) in mm; ``None`` = not assessed.
        0 means the lesion has disappeared.
    new
        An unequivocal new lesion (follow-up only).
    status
        Non-target lesions only: ``"absent"``, ``"present"`` or
        ``"progression"`` (unequivocal); ``None`` = not evaluated, unless a
        node's short axis is given (< 10 mm is read as absent/normal).
    too_small
        A target lesion seen but too small to measure: counts 5 mm.
    """

    id: str
    organ: str = "unspecified"
    is_node: bool = False
    target: bool = True
    diameter_mm: float | None = None
    new: bool = False
    status: NonTargetStatus | None = None
    too_small: bool = False

    def __post_init__(self) -> None:
        if not str(self.id).strip():
            raise InvalidInputError("lesion id", expected="a non-empty id", actual=repr(self.id))
        d = self.diameter_mm
        if d is not None and (not math.isfinite(d) or d < 0):
            raise InvalidInputError(
                f"diameter_mm of lesion {self.id}",
                expected="a finite value ≥ 0 mm (0 = disappeared)",
                actual=d,
                fix="give the diameter in mm, or null when not assessed",
            )
        if self.status not in (None, "absent", "present", "progression"):
            raise InvalidInputError(
                f"status of lesion {self.id}",
                expected="absent, present, progression or null",
                actual=repr(self.status),
            )

    @property
    def measured_mm(self) -> float | None:
        """The value entering the sum: the diameter, 5 mm if too small, else ``None``."""
        if self.too_small:
            return TOO_SMALL_MM
        return self.diameter_mm

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Lesion:
        """Build from a JSON-like mapping (keys as the attribute names)."""
        if "id" not in d:
            raise InvalidInputError("lesion record", expected="a key 'id'", actual=sorted(d))
        diam = d.get("diameter_mm")
        status = d.get("status")
        try:
            return cls(
                id=str(d["id"]),
                organ=str(d.get("organ", "unspecified")),
                is_node=bool(d.get("is_node", False)),
                target=bool(d.get("target", True)),
                diameter_mm=None if diam is None else float(diam),
                new=bool(d.get("new", False)),
                status=None if status is None else str(status).lower(),  # type: ignore[arg-type]
                too_small=bool(d.get("too_small", False)),
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, InvalidInputError):
                raise
            raise InvalidInputError(
                f"lesion {d.get('id')}", expected="numeric diameter_mm", actual=diam
            ) from None


@dataclass(frozen=True)
class TimePoint:
    """All lesion records of one assessment.

    Parameters
    ----------
    label
        Name of the assessment (``"baseline"``, ``"cycle 2"``...).
    time_s
        Time since baseline in s (``None`` if unknown; needed for confirmation).
    lesions
        Lesion records.
    tumour_markers_normal
        ``False`` if tumour markers are above normal (prevents non-target CR).
    """

    label: str
    time_s: float | None
    lesions: tuple[Lesion, ...]
    tumour_markers_normal: bool | None = None

    def __post_init__(self) -> None:
        ids = [les.id for les in self.lesions]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise InvalidInputError(
                f"lesions of time point {self.label!r}",
                expected="unique lesion ids",
                actual=f"duplicates {dup}",
                fix="give every lesion its own id (a split lesion: one id with the summed size)",
            )


@dataclass(frozen=True)
class TimePointResult:
    """RECIST 1.1 result of one follow-up assessment."""

    label: str
    time_s: float | None
    sum_mm: float | None
    baseline_sum_mm: float
    nadir_mm: float
    change_from_baseline: float | None
    change_from_nadir: float | None
    target_response: Response | None
    non_target_response: Response | None
    new_lesions: bool
    response: Response
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        def pct(v: float | None) -> float | None:
            return None if v is None else 100.0 * v

        return {
            "label": self.label,
            "time_days": None if self.time_s is None else self.time_s / DAY_S,
            "sum_mm": self.sum_mm,
            "baseline_sum_mm": self.baseline_sum_mm,
            "nadir_mm": self.nadir_mm,
            "change_from_baseline": self.change_from_baseline,
            "change_from_nadir": self.change_from_nadir,
            "change_from_baseline_pct": pct(self.change_from_baseline),
            "change_from_nadir_pct": pct(self.change_from_nadir),
            "target_response": self.target_response,
            "non_target_response": self.non_target_response,
            "new_lesions": self.new_lesions,
            "response": self.response,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class BestResponse:
    """Best overall response (RECIST 1.1 section 4.4)."""

    response: Response
    confirmed: bool
    time_s: float | None
    reason: str
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "response": self.response,
            "confirmed": self.confirmed,
            "time_days": None if self.time_s is None else self.time_s / DAY_S,
            "reason": self.reason,
            "parameters": dict(self.parameters),
        }


@dataclass(frozen=True)
class RecistAssessment:
    """Baseline sum, per-time-point results, best overall response and provenance."""

    baseline_sum_mm: float
    has_target_disease: bool
    time_points: tuple[TimePointResult, ...]
    best: BestResponse | None
    history: tuple[Step, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "criteria": "RECIST 1.1",
            "baseline_sum_mm": self.baseline_sum_mm,
            "has_target_disease": self.has_target_disease,
            "time_points": [t.to_dict() for t in self.time_points],
            "best_overall_response": None if self.best is None else self.best.to_dict(),
            "history": [s.to_dict() for s in self.history],
        }


# --------------------------------------------------------------------------- baseline


def validate_baseline(baseline: TimePoint) -> None:
    """Check the baseline against the RECIST 1.1 measurability and selection rules.

    Raises
    ------
    InvalidInputError
        A target lesion is not measurable, a node < 10 mm is recorded, there are
        more than five targets or more than two in one organ, a baseline lesion
        is flagged new, or a target has no measurement.

    >>> node = Lesion("N", "neck", is_node=True, diameter_mm=12.0)
    >>> try:
    ...     validate_baseline(TimePoint("b", 0.0, (node,)))
    ... except InvalidInputError as exc:
    ...     print(exc.what, "|", exc.expected)
    target lymph node N at baseline | a short axis ≥ 15 mm
    """
    per_organ: dict[str, int] = {}
    n_target = 0
    for les in baseline.lesions:
        if les.new:
            raise InvalidInputError(
                f"lesion {les.id} at baseline",
                expected="new: false",
                actual="new: true",
                fix="new lesions exist only at follow-up",
            )
        d = les.measured_mm
        if les.is_node and d is not None and d < NODE_NORMAL_MM:
            raise InvalidInputError(
                f"lymph node {les.id} at baseline",
                expected="a short axis ≥ 10 mm (smaller nodes are normal)",
                actual=f"{d} mm",
                fix="leave nodes < 10 mm short axis out of the assessment",
            )
        if not les.target:
            continue
        n_target += 1
        per_organ[les.organ] = per_organ.get(les.organ, 0) + 1
        if d is None or les.too_small:
            raise InvalidInputError(
                f"target lesion {les.id} at baseline",
                expected="a measured diameter_mm",
                actual="no measurement",
                fix="measure every target lesion at baseline",
            )
        if les.is_node and d < NODE_TARGET_MM:
            raise InvalidInputError(
                f"target lymph node {les.id} at baseline",
                expected="a short axis ≥ 15 mm",
                actual=f"{d} mm",
                fix="record a node of 10 to <15 mm short axis as non-target (target: false)",
            )
        if not les.is_node and d < MEASURABLE_MM:
            raise InvalidInputError(
                f"target lesion {les.id} at baseline",
                expected="a longest diameter ≥ 10 mm (measurable on CT)",
                actual=f"{d} mm",
                fix="record it as a non-target lesion (target: false)",
            )
    if n_target > MAX_TARGETS:
        raise InvalidInputError(
            "number of target lesions",
            expected="at most 5",
            actual=n_target,
            fix="select up to 5 target lesions (see select_targets)",
        )
    crowded = {o: n for o, n in per_organ.items() if n > MAX_TARGETS_PER_ORGAN}
    if crowded:
        raise InvalidInputError(
            "target lesions per organ",
            expected="at most 2 per organ",
            actual=crowded,
            fix="record the others as non-target lesions",
        )
    if not baseline.lesions:
        raise InvalidInputError(
            "baseline",
            expected="at least one lesion",
            actual="none",
            fix="RECIST needs measurable or non-measurable disease at baseline",
        )


def select_targets(lesions: Iterable[Lesion]) -> tuple[Lesion, ...]:
    """Mark target lesions at baseline: the largest measurable, ≤ 2 per organ, ≤ 5 in all.

    RECIST asks for the largest lesions that are also reproducibly measurable;
    this helper applies the size part only (ties keep input order).

    >>> ls = [Lesion(f"L{i}", "liver", diameter_mm=10.0 + i) for i in range(4)]
    >>> [(x.id, x.target) for x in select_targets(ls)]
    [('L0', False), ('L1', False), ('L2', True), ('L3', True)]
    """
    items = list(lesions)

    def measurable(les: Lesion) -> bool:
        d = les.diameter_mm
        if d is None:
            return False
        return d >= (NODE_TARGET_MM if les.is_node else MEASURABLE_MM)

    order = sorted(
        (i for i, les in enumerate(items) if measurable(les)),
        key=lambda i: -(items[i].diameter_mm or 0.0),
    )
    chosen: set[int] = set()
    per_organ: dict[str, int] = {}
    for i in order:
        if len(chosen) == MAX_TARGETS:
            break
        organ = items[i].organ
        if per_organ.get(organ, 0) < MAX_TARGETS_PER_ORGAN:
            chosen.add(i)
            per_organ[organ] = per_organ.get(organ, 0) + 1
    return tuple(replace(les, target=i in chosen) for i, les in enumerate(items))


def target_sum_mm(tp: TimePoint) -> float:
    """Sum of diameters of the target lesions of ``tp`` (missing ones raise).

    >>> target_sum_mm(TimePoint("b", 0.0, (Lesion("a", diameter_mm=12.0),
    ...                                    Lesion("b", diameter_mm=3.0, too_small=True))))
    17.0
    """
    total = 0.0
    for les in tp.lesions:
        if les.target:
            d = les.measured_mm
            if d is None:
                raise InvalidInputError(
                    f"target lesion {les.id} at {tp.label}",
                    expected="a diameter",
                    actual="none",
                )
            total += d
    return total


# --------------------------------------------------------------------------- time points


def _ge(a: float, b: float) -> bool:
    return a >= b - _EPS * max(1.0, abs(b))


def _le(a: float, b: float) -> bool:
    return a <= b + _EPS * max(1.0, abs(b))


def _is_pd(sum_mm: float, nadir_mm: float) -> bool:
    """≥ 20 % over the nadir and ≥ 5 mm absolute (section 4.3.1)."""
    return _ge(sum_mm - nadir_mm, PD_ABS_MM) and _ge(sum_mm, nadir_mm * (1.0 + PD_CHANGE))


def overall_response(
    target: Response | None, non_target: Response | None, new_lesions: bool
) -> Response:
    """Combine target, non-target and new-lesion status (RECIST 1.1 Tables 1 and 2).

    ``target`` is ``None`` for patients without target disease, ``non_target``
    is ``None`` without non-target disease.

    >>> overall_response("CR", "NON-CR/NON-PD", False)
    'PR'
    >>> overall_response("SD", "PD", False), overall_response("PR", None, True)
    ('PD', 'PD')
    >>> overall_response(None, "NON-CR/NON-PD", False)
    'NON-CR/NON-PD'
    """
    if new_lesions or target == "PD" or non_target == "PD":
        return "PD"
    if target is None:
        if non_target is None:
            raise InvalidInputError(
                "disease at baseline", expected="target or non-target lesions", actual="none"
            )
        return non_target
    if target == "CR":
        if non_target in (None, "CR"):
            return "CR"
        return "PR"  # non-CR/non-PD or NE (Table 1)
    if target in ("PR", "SD", "NE"):
        return target
    raise InvalidInputError("target response", expected="CR, PR, SD, PD or NE", actual=target)


def _non_target_response(
    base: TimePoint, tp: TimePoint, had_cr: bool
) -> tuple[Response | None, list[str]]:
    base_nt = [les for les in base.lesions if not les.target]
    if not base_nt:
        return None, []
    current = {les.id: les for les in tp.lesions}
    reasons: list[str] = []
    states: list[str] = []
    for b in base_nt:
        les = current.get(b.id)
        if les is None:
            states.append("NE")
            continue
        st: str | None = les.status
        if st is None and b.is_node and les.diameter_mm is not None:
            st = "absent" if les.diameter_mm < NODE_NORMAL_MM else "present"
        if st == "absent" and b.is_node and (les.diameter_mm or 0.0) >= NODE_NORMAL_MM:
            st = "present"  # a node ≥ 10 mm short axis is still pathological
        if st is None:
            states.append("NE")
        else:
            states.append(st)
        if st == "progression":
            reasons.append(f"unequivocal progression of non-target lesion {b.id}")
        if had_cr and st == "present":
            reasons.append(f"non-target lesion {b.id} reappeared after CR")
            states[-1] = "progression"
    if "progression" in states:
        return "PD", reasons
    if "NE" in states:
        return "NE", ["not all non-target lesions evaluated"]
    if all(s == "absent" for s in states) and tp.tumour_markers_normal is not False:
        return "CR", []
    return "NON-CR/NON-PD", []


def _target_response(
    base: TimePoint, tp: TimePoint, nadir: float, base_sum: float, had_cr: bool
) -> tuple[Response | None, float | None, list[str]]:
    targets = [les for les in base.lesions if les.target]
    if not targets:
        return None, None, []
    current = {les.id: les for les in tp.lesions}
    values: dict[str, float] = {}
    missing: list[str] = []
    for b in targets:
        les = current.get(b.id)
        d = None if les is None else les.measured_mm
        if d is None:
            missing.append(b.id)
        else:
            values[b.id] = d
    partial = math.fsum(values.values())
    if missing:
        if _is_pd(partial, nadir):
            return (
                "PD",
                partial,
                [
                    f"targets {missing} not assessed, but the measured ones already give PD "
                    f"({partial:g} mm vs nadir {nadir:g} mm)"
                ],
            )
        return "NE", None, [f"target lesions {missing} not assessed"]
    node = {b.id: b.is_node for b in targets}
    all_gone = all((values[i] < NODE_NORMAL_MM) if node[i] else (values[i] == 0.0) for i in values)
    if had_cr and not all_gone:
        return "PD", partial, ["target lesion reappeared after CR"]
    if all_gone:
        return "CR", partial, []
    if _is_pd(partial, nadir):
        return "PD", partial, [f"sum {partial:g} mm ≥ 20 % and ≥ 5 mm above nadir {nadir:g} mm"]
    if base_sum > 0 and _le((partial - base_sum) / base_sum, PR_CHANGE):
        return "PR", partial, []
    return "SD", partial, []


def assess(
    baseline: TimePoint,
    follow_ups: Sequence[TimePoint],
    *,
    confirm: bool = True,
    confirm_min_s: float = CONFIRM_MIN_S,
    min_sd_s: float = MIN_SD_S,
    validate: bool = True,
) -> RecistAssessment:
    """Assess every follow-up against baseline and nadir; add the best overall response.

    Parameters
    ----------
    baseline
        Baseline lesions with the target selection.
    follow_ups
        Follow-up time points in chronological order.
    confirm
        Require confirmation of CR/PR for the best overall response.
    confirm_min_s, min_sd_s
        Minimum confirmation interval and minimum SD interval from baseline (s).
    validate
        Check the baseline with :func:`validate_baseline`.

    Returns
    -------
    RecistAssessment
        ``best`` is ``None`` when a follow-up lacks ``time_s``.
    """
    if validate:
        validate_baseline(baseline)
    base_ids = {les.id for les in baseline.lesions}
    for tp in follow_ups:
        for les in tp.lesions:
            if not les.new and les.id not in base_ids:
                raise InvalidInputError(
                    f"lesion {les.id} at {tp.label}",
                    expected=f"a baseline lesion id ({sorted(base_ids)}) or new: true",
                    actual=repr(les.id),
                    fix="use the baseline id, or flag the lesion as new",
                )
    times = [tp.time_s for tp in follow_ups]
    known = [t for t in times if t is not None]
    if any(b <= a for a, b in itertools.pairwise(known)) or any(t <= 0 for t in known):
        raise InvalidInputError(
            "follow-up times",
            expected="increasing times after baseline",
            actual=times,
            fix="order the follow-ups chronologically",
        )
    has_target = any(les.target for les in baseline.lesions)
    base_sum = target_sum_mm(baseline) if has_target else 0.0
    nadir = base_sum
    had_cr = False
    results: list[TimePointResult] = []
    for tp in follow_ups:
        t_resp, s, t_reasons = _target_response(baseline, tp, nadir, base_sum, had_cr)
        nt_resp, nt_reasons = _non_target_response(baseline, tp, had_cr)
        new = any(les.new for les in tp.lesions)
        resp = overall_response(t_resp, nt_resp, new)
        reasons = [*t_reasons, *nt_reasons]
        if new:
            reasons.append("unequivocal new lesion(s)")
        # a PD proven by a partial sum must not lower the nadir
        complete = t_resp not in (None, "NE") and not any("not assessed" in r for r in t_reasons)
        results.append(
            TimePointResult(
                label=tp.label,
                time_s=tp.time_s,
                sum_mm=s if has_target else None,
                baseline_sum_mm=base_sum,
                nadir_mm=nadir,
                change_from_baseline=(s - base_sum) / base_sum
                if s is not None and base_sum > 0
                else None,
                change_from_nadir=(s - nadir) / nadir if s is not None and nadir > 0 else None,
                target_response=t_resp,
                non_target_response=nt_resp,
                new_lesions=new,
                response=resp,
                reasons=tuple(reasons),
            )
        )
        if has_target and s is not None and complete:
            nadir = min(nadir, s)
        if resp == "CR":
            had_cr = True
    best = None
    if all(t is not None for t in times) and results:
        best = best_overall_response(
            results, confirm=confirm, confirm_min_s=confirm_min_s, min_sd_s=min_sd_s
        )
    step = Step.make(
        "recist_1_1",
        {
            "confirm": confirm,
            "confirm_min_days": confirm_min_s / DAY_S,
            "min_sd_days": min_sd_s / DAY_S,
            "pr_change": PR_CHANGE,
            "pd_change": PD_CHANGE,
            "pd_abs_mm": PD_ABS_MM,
            "too_small_mm": TOO_SMALL_MM,
        },
        inputs=(baseline.label, *(tp.label for tp in follow_ups)),
        sources=(SOURCE, FAQ_SOURCE),
    )
    return RecistAssessment(base_sum, has_target, tuple(results), best, (step,))


# --------------------------------------------------------------------------- best response


def best_overall_response(
    results: Sequence[TimePointResult],
    *,
    confirm: bool = True,
    confirm_min_s: float = CONFIRM_MIN_S,
    min_sd_s: float = MIN_SD_S,
) -> BestResponse:
    """Best overall response over time-point responses (RECIST 1.1 section 4.4, Table 3).

    Confirmation of a CR (PR) at time t needs the first later evaluable
    assessment at ≥ t + ``confirm_min_s`` to be CR (CR or PR), with only
    CR/PR/NE in between. SD (and non-CR/non-PD) counts only at ≥ ``min_sd_s``
    after baseline; unconfirmed CR/PR there count as SD. Assessments after the
    first PD are ignored.

    >>> mk = lambda r, d: TimePointResult("t", d * 86400.0, None, 0.0, 0.0, None, None,
    ...                                   r, None, False, r)
    >>> best_overall_response([mk("PR", 56), mk("PR", 84)]).response
    'PR'
    >>> best_overall_response([mk("PR", 28), mk("PD", 56)]).response
    'PD'
    >>> best_overall_response([mk("CR", 56), mk("NE", 84)]).response
    'SD'
    """
    seq: list[TimePointResult] = []
    for r in results:
        if r.time_s is None:
            raise InvalidInputError(
                f"time of {r.label}",
                expected="a time since baseline",
                actual=None,
                fix="give each follow-up a date or a day number",
            )
        seq.append(r)
        if r.response == "PD":
            break
    params = {
        "confirm": confirm,
        "confirm_min_days": confirm_min_s / DAY_S,
        "min_sd_days": min_sd_s / DAY_S,
    }
    non_target_only = bool(seq) and all(r.target_response is None for r in seq)
    stable_label: Response = "NON-CR/NON-PD" if non_target_only else "SD"

    def confirmed(i: int, ok: tuple[str, ...]) -> bool:
        t0 = seq[i].time_s
        assert t0 is not None
        for r in seq[i + 1 :]:
            assert r.time_s is not None
            if r.response == "NE":
                continue
            if r.response not in ("CR", "PR"):
                return False
            if r.time_s - t0 >= confirm_min_s - _EPS:
                return r.response in ok
        return False

    levels: tuple[tuple[Response, tuple[str, ...]], ...] = (("CR", ("CR",)), ("PR", ("CR", "PR")))
    for level, ok in levels:
        for i, r in enumerate(seq):
            if r.response in ok and (not confirm or confirmed(i, ok)):
                why = "confirmed" if confirm else "unconfirmed (confirmation not required)"
                return BestResponse(
                    level, confirm, r.time_s, f"{level} at {r.label}, {why}", params
                )
    for r in seq:
        assert r.time_s is not None
        if r.response in ("CR", "PR", "SD", "NON-CR/NON-PD") and r.time_s >= min_sd_s - _EPS:
            return BestResponse(
                stable_label,
                False,
                r.time_s,
                f"{r.response} at {r.label} ≥ minimum SD interval "
                f"({min_sd_s / DAY_S:g} d) without confirmed response",
                params,
            )
    if seq and seq[-1].response == "PD":
        return BestResponse(
            "PD",
            False,
            seq[-1].time_s,
            "progression before the minimum SD interval"
            if len(seq) > 1
            else f"progression at {seq[-1].label}",
            params,
        )
    return BestResponse("NE", False, None, "no assessment qualifies for a response", params)
