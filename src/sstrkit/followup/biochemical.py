"""Biochemical response of chromogranin A (CgA) after therapy: change, nadir and caveats.

Every follow-up measurement is compared with the baseline (the first measurement):

* **response**: a fall of at least 50 % (``CgaCriteria.response_fall``);
* **progression**: a rise of at least 25 % (``CgaCriteria.progression_rise``);
* **stable**: anything between.

The 25 % band is the one the prospective Nordic study used to call plasma CgA
increased, unchanged or decreased between two scans (Dam G et al.,
Neuroendocrinology 2020;110:217-224); the ≥ 50 % fall is the response threshold of
this project's issue (a convention of tumour-marker response; Massironi S et al.,
Am J Gastroenterol 2010;105:2072-2078 used a > 50 % hormone fall to select patients
for somatostatin analogues). Neither is a validated standard — both are settings:
set your centre's. The same study found only a weak association of CgA change with
RECIST change (sensitivity 36 %, specificity 82 % for progression), so CgA
complements imaging, never replaces it.

Beyond the status of each measurement the result gives the nadir (lowest value and
its time), the change of every measurement from the lowest value before it, and
``rise_from_nadir`` when the last value is at least the progression rise above that
nadir (a rising marker after a fall).

Caveats (flags and ``caveats``), because CgA changes without the tumour changing:

* **proton-pump inhibitors** raise CgA (10 % of NET patients had an unexpectedly
  raised CgA, all on a PPI; it fell by ~80 % two weeks after stopping — Korse CM et
  al., Br J Cancer 2011;105:1173-1175): stop the PPI (or switch to an H2 antagonist)
  about two weeks before the sample;
* **renal impairment** (and heart failure, atrophic gastritis, liver cirrhosis, other
  tumours…) raises CgA (Arch Med Sci 2016;12(1):1-9, doi:10.5114/aoms.2016.57577,
  Table I);
* **somatostatin analogues** lower CgA (a single octreotide dose lowered it from a
  median 146 to 61 U/L within 6 h — Massironi S et al. 2010): a fall after starting
  an SSA, or a rise after stopping one, is not tumour response;
* a **baseline within the reference range**: CgA follows response in patients with a
  raised baseline, not in those with a low one (Tseng C-M et al., Oncol Lett
  2018;15:8951-8958);
* every value must come from **the same assay** (assays differ several-fold).

Units: CgA as reported (µg/L ≙ ng/mL in the records); the criteria are relative and
need no conversion. Times in seconds (``time_s``) on the caller's clock.

Examples
--------
>>> r = assess_cga([CgaMeasurement(0.0, 400.0), CgaMeasurement(86400.0 * 90, 200.0)])
>>> r.status, r.points[-1].change_from_baseline_pct
('response', -50.0)
>>> assess_cga([CgaMeasurement(0.0, 400.0), CgaMeasurement(1.0, 499.0)]).status
'stable'
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from sstrkit.core.provenance import Step
from sstrkit.core.units import SECONDS_PER_DAY
from sstrkit.errors import InvalidInputError
from sstrkit.followup.tabular import Table, is_missing

__all__ = [
    "CgaCriteria",
    "CgaMeasurement",
    "CgaPoint",
    "CgaResponse",
    "CgaStatus",
    "assess_cga",
    "cga_from_table",
]

CgaStatus = Literal["response", "stable", "progression", "not_assessed"]
SOURCES: Final = (
    "Dam G et al. Neuroendocrinology 2020;110:217-224 (25 % change categories of plasma CgA)",
    "Massironi S et al. Am J Gastroenterol 2010;105:2072-2078 (SSA lowers CgA; > 50 % fall)",
    "Korse CM et al. Br J Cancer 2011;105:1173-1175 (PPIs raise CgA)",
    "Arch Med Sci 2016;12(1):1-9, doi:10.5114/aoms.2016.57577, Table I (factors raising CgA)",
    "Tseng C-M et al. Oncol Lett 2018;15:8951-8958 (CgA follows response with a raised baseline)",
)
GENERAL_CAVEATS: Final = (
    "CgA change is weakly associated with RECIST change (Dam et al. 2020): read it with "
    "the imaging",
    "all values must come from the same CgA assay",
)


@dataclass(frozen=True)
class CgaMeasurement:
    """One CgA value (``value_ug_l``) at ``time_s``, with what may bias it (None: unknown).

    ``renal_impairment``: kidney function reduced at the time (the caller decides, e.g.
    creatinine above its ULN); ``uln_ug_l``: the assay's upper reference limit.
    """

    time_s: float
    value_ug_l: float
    proton_pump_inhibitor: bool | None = None
    somatostatin_analogue: bool | None = None
    renal_impairment: bool | None = None
    uln_ug_l: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.time_s):
            raise InvalidInputError("CgA time", expected="a finite time (s)", actual=self.time_s)
        if not (math.isfinite(self.value_ug_l) and self.value_ug_l >= 0):
            raise InvalidInputError(
                "chromogranin A", expected="a finite value ≥ 0", actual=self.value_ug_l
            )
        if self.uln_ug_l is not None and not (math.isfinite(self.uln_ug_l) and self.uln_ug_l > 0):
            raise InvalidInputError(
                "CgA upper reference limit", expected="> 0", actual=self.uln_ug_l
            )


@dataclass(frozen=True)
class CgaCriteria:
    """Relative change thresholds (fractions of the baseline); see the module docstring."""

    response_fall: float = 0.50
    progression_rise: float = 0.25

    def __post_init__(self) -> None:
        if not 0 < self.response_fall < 1:
            raise InvalidInputError(
                "CgA response fall", expected="a fraction in (0, 1)", actual=self.response_fall
            )
        if not (math.isfinite(self.progression_rise) and self.progression_rise > 0):
            raise InvalidInputError(
                "CgA progression rise", expected="a fraction > 0", actual=self.progression_rise
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "response_fall_pct": 100.0 * self.response_fall,
            "progression_rise_pct": 100.0 * self.progression_rise,
            "reference": "baseline (first measurement)",
            "sources": list(SOURCES),
        }


@dataclass(frozen=True)
class CgaPoint:
    """One measurement assessed: ``category`` is baseline, response, stable or progression.

    ``change_from_nadir_pct``: from the lowest earlier value (None for the baseline).
    """

    time_s: float
    time_days: float
    value_ug_l: float
    change_from_baseline_pct: float | None
    change_from_nadir_pct: float | None
    category: Literal["baseline", "response", "stable", "progression"]
    flags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "time_s": self.time_s,
            "time_days": self.time_days,
            "value_ug_l": self.value_ug_l,
            "change_from_baseline_pct": self.change_from_baseline_pct,
            "change_from_nadir_pct": self.change_from_nadir_pct,
            "category": self.category,
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class CgaResponse:
    """CgA over time: the status of the last measurement, the best one, nadir, caveats.

    ``status`` is ``not_assessed`` (with ``needs``) without a positive baseline and at
    least one follow-up value.
    """

    status: CgaStatus
    best_response: CgaStatus
    points: tuple[CgaPoint, ...]
    nadir: CgaPoint | None
    rise_from_nadir: bool
    caveats: tuple[str, ...]
    criteria: CgaCriteria
    needs: str | None = None
    history: tuple[Step, ...] = field(default=())

    @property
    def baseline(self) -> CgaPoint | None:
        return self.points[0] if self.points else None

    @property
    def last(self) -> CgaPoint | None:
        return self.points[-1] if self.points else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "marker": "chromogranin_a",
            "unit": "ug/L",
            "status": self.status,
            "best_response": self.best_response,
            "baseline": None if self.baseline is None else self.baseline.to_dict(),
            "nadir": None if self.nadir is None else self.nadir.to_dict(),
            "last": None if self.last is None else self.last.to_dict(),
            "rise_from_nadir": self.rise_from_nadir,
            "points": [p.to_dict() for p in self.points],
            "caveats": list(self.caveats),
            "criteria": self.criteria.to_dict(),
            "history": [s.to_dict() for s in self.history],
        }
        if self.needs is not None:
            out["needs"] = self.needs
        return out


def _flags(m: CgaMeasurement, base: CgaMeasurement, is_base: bool) -> tuple[str, ...]:
    out = []
    if m.proton_pump_inhibitor:
        out.append("on a proton-pump inhibitor: CgA falsely raised")
    if m.renal_impairment:
        out.append("renal impairment: CgA raised")
    if m.somatostatin_analogue:
        out.append("on a somatostatin analogue: CgA lowered")
    ssa = (m.somatostatin_analogue, base.somatostatin_analogue)
    if not is_base and None not in ssa and ssa[0] != ssa[1]:
        what = "started" if m.somatostatin_analogue else "stopped"
        out.append(f"somatostatin analogue {what} since baseline: change not tumour response")
    uln = (m.uln_ug_l, base.uln_ug_l)
    if not is_base and None not in uln and uln[0] != uln[1]:
        out.append("reference limit differs from baseline: another assay?")
    return tuple(out)


_STATUS: Final[dict[str, CgaStatus]] = {
    "response": "response",
    "stable": "stable",
    "progression": "progression",
}
#: Best first.
_RANK: Final[tuple[CgaStatus, ...]] = ("response", "stable", "progression")


def _category(
    value: float, base: float, crit: CgaCriteria
) -> Literal["response", "stable", "progression"]:
    if value <= (1.0 - crit.response_fall) * base:
        return "response"
    if value >= (1.0 + crit.progression_rise) * base:
        return "progression"
    return "stable"


def _caveats(ms: Sequence[CgaMeasurement], points: Sequence[CgaPoint]) -> tuple[str, ...]:
    out = list(GENERAL_CAVEATS)
    if any(m.proton_pump_inhibitor is None for m in ms):
        out.append(
            "proton-pump inhibitor use not recorded for every sample: PPIs raise CgA "
            "(stop about two weeks before the sample; Korse et al. 2011)"
        )
    if any(m.somatostatin_analogue is None for m in ms):
        out.append(
            "somatostatin-analogue treatment not recorded for every sample: SSAs lower CgA "
            "(Massironi et al. 2010)"
        )
    if any(m.renal_impairment is None for m in ms):
        out.append("kidney function not known for every sample: renal impairment raises CgA")
    base = ms[0]
    if base.uln_ug_l is not None and base.value_ug_l <= base.uln_ug_l:
        out.append(
            "baseline CgA within the reference range: the relative criteria follow response "
            "in patients with a raised baseline (Tseng et al. 2018)"
        )
    for p in points:
        out.extend(f for f in p.flags if f not in out)
    return tuple(out)


def assess_cga(
    measurements: Sequence[CgaMeasurement], *, criteria: CgaCriteria | None = None
) -> CgaResponse:
    """Biochemical response of CgA: each value against the first (baseline), nadir, caveats."""
    crit = criteria or CgaCriteria()
    ms = sorted(measurements, key=lambda m: m.time_s)
    times = [m.time_s for m in ms]
    if len(set(times)) != len(times):
        raise InvalidInputError("CgA times", expected="one value per time", actual=times)
    if not ms:
        raise InvalidInputError("CgA measurements", expected="at least one", actual=0)
    base = ms[0]
    points: list[CgaPoint] = []
    lowest = base.value_ug_l
    for i, m in enumerate(ms):
        days = (m.time_s - base.time_s) / SECONDS_PER_DAY
        flags = _flags(m, base, i == 0)
        if i == 0:
            points.append(CgaPoint(m.time_s, 0.0, m.value_ug_l, None, None, "baseline", flags))
            continue
        ok = base.value_ug_l > 0
        from_base = 100.0 * (m.value_ug_l / base.value_ug_l - 1.0) if ok else None
        from_nadir = 100.0 * (m.value_ug_l / lowest - 1.0) if lowest > 0 else None
        cat = _category(m.value_ug_l, base.value_ug_l, crit) if ok else "stable"
        rebound = 0 < lowest < base.value_ug_l
        if (
            cat != "progression"
            and rebound
            and m.value_ug_l >= (1 + crit.progression_rise) * lowest
        ):
            flags = (*flags, f"≥ {100 * crit.progression_rise:g} % above the nadir")
        points.append(CgaPoint(m.time_s, days, m.value_ug_l, from_base, from_nadir, cat, flags))
        lowest = min(lowest, m.value_ug_l)
    nadir = min(points, key=lambda p: (p.value_ug_l, p.time_s))
    last = points[-1]
    earlier_low = min((p.value_ug_l for p in points[:-1]), default=last.value_ug_l)
    rise = (
        len(points) > 1
        and earlier_low < base.value_ug_l
        and last.value_ug_l >= (1.0 + crit.progression_rise) * earlier_low
    )
    needs = None
    if len(ms) < 2:
        needs = "a baseline CgA and at least one CgA after it"
    elif base.value_ug_l <= 0:
        needs = "a baseline CgA above 0 (the criteria are relative to it)"
    status: CgaStatus = "not_assessed"
    best: CgaStatus = "not_assessed"
    if needs is None:
        status = _STATUS[last.category]
        best = min((_STATUS[p.category] for p in points[1:]), key=_RANK.index)
    step = Step.make(
        "cga_biochemical_response",
        {"response_fall": crit.response_fall, "progression_rise": crit.progression_rise},
        inputs=("chromogranin_a",),
        sources=SOURCES,
    )
    return CgaResponse(
        status=status,
        best_response=best,
        points=tuple(points),
        nadir=nadir,
        rise_from_nadir=bool(rise),
        caveats=_caveats(ms, points),
        criteria=crit,
        needs=needs,
        history=(step,),
    )


#: Optional table columns → CgaMeasurement fields (yes/no flags).
_FLAG_COLUMNS: Final = {
    "proton_pump_inhibitor": "proton_pump_inhibitor",
    "somatostatin_analogue": "somatostatin_analogue",
    "renal_impairment": "renal_impairment",
}


def cga_from_table(table: Table) -> dict[str, list[CgaMeasurement]]:
    """CgA measurements by patient from a table.

    Columns: ``patient_id`` (optional), ``day`` (days since baseline) or ``date`` (ISO),
    ``chromogranin_a_ug_l``; optional ``chromogranin_a_uln_ug_l`` and the yes/no columns
    ``proton_pump_inhibitor``, ``somatostatin_analogue``, ``renal_impairment`` (empty:
    unknown). Rows without a CgA value are skipped.
    """
    from sstrkit.followup.toxicity import _time_s  # day/date column parsing, shared

    if not table.has("chromogranin_a_ug_l"):
        raise InvalidInputError(
            f"columns of {table.name}",
            expected="a 'chromogranin_a_ug_l' column",
            actual=list(table.columns),
            fix="name the CgA column with its unit: chromogranin_a_ug_l",
        )
    if not (table.has("day") or table.has("date")):
        raise InvalidInputError(
            f"time column of {table.name}", expected="'day' or 'date'", actual=list(table.columns)
        )
    pids = table.str_column("patient_id") if table.has("patient_id") else ("1",) * len(table)
    firsts: dict[str, _dt.date] = {}
    if not table.has("day"):
        for i, pid in enumerate(pids):
            _time_s(table, i, None)  # a clear error for a bad date
            d = _dt.date.fromisoformat(table.cell(i, "date")[:10])
            firsts[pid] = min(firsts.get(pid, d), d)
    out: dict[str, list[CgaMeasurement]] = {}
    for i, pid in enumerate(pids):
        value = table.float_at(i, "chromogranin_a_ug_l", allow_missing=True, minimum=0.0)
        if value is None:
            continue
        flags: dict[str, Any] = {
            field_name: (
                None
                if not table.has(col) or is_missing(table.cell(i, col))
                else table.bool_at(i, col)
            )
            for col, field_name in _FLAG_COLUMNS.items()
        }
        uln = None
        if table.has("chromogranin_a_uln_ug_l"):
            uln = table.float_at(i, "chromogranin_a_uln_ug_l", allow_missing=True, minimum=0.0)
        out.setdefault(pid or "1", []).append(
            CgaMeasurement(_time_s(table, i, firsts.get(pid)), value, uln_ug_l=uln, **flags)
        )
    return out
