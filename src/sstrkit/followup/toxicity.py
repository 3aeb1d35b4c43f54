"""Haematological and renal toxicity over time: CTCAE v5.0 grades and planning flags.

Grades follow the NCI Common Terminology Criteria for Adverse Events (CTCAE)
version 5.0 (U.S. DHHS, 27 Nov 2017), laboratory terms:

============================  ===============  ===============  ===============  ==========
term (unit)                   grade 1          grade 2          grade 3          grade 4
============================  ===============  ===============  ===============  ==========
Anemia (Hb, g/dL)             <LLN–10.0        <10.0–8.0        <8.0             (clinical)
Platelet count decr. (10⁹/L)  <LLN–75          <75–50           <50–25           <25
Neutrophil count decr.        <LLN–1.5         <1.5–1.0         <1.0–0.5         <0.5
White blood cell decr.        <LLN–3.0         <3.0–2.0         <2.0–1.0         <1.0
Lymphocyte count decr.        <LLN–0.8         <0.8–0.5         <0.5–0.2         <0.2
Creatinine increased          >ULN–1.5×ULN     >1.5–3.0×ULN     >3.0–6.0×ULN     >6.0×ULN
                                               or >1.5–3.0×bl   or >3.0×bl
Chronic kidney disease        eGFR <LLN–60     59–30            29–15            <15
(eGFR, mL/min/1.73 m²)
============================  ===============  ===============  ===============  ==========

(bl = baseline). Grade 4 anaemia and grade 5 are clinical, not laboratory,
definitions and are never assigned here. eGFR can be computed from creatinine
with the race-free CKD-EPI 2021 equation (Inker LA et al., N Engl J Med
2021;385:1737–1749).

Planning flags use configurable limits (:class:`PlanningLimits`). The defaults
are the pre-treatment limits of the NETTER-1 trial of 177Lu-DOTATATE
(Strosberg J et al., N Engl J Med 2017;376:125–135: Hb ≥ 8.0 g/dL,
WBC ≥ 2.0 × 10⁹/L, platelets ≥ 75 × 10⁹/L, creatinine clearance ≥ 50 mL/min)
and the renal dose-modification triggers of the Lutathera prescribing
information (creatinine clearance < 40 mL/min, ≥ 40 % creatinine increase or
≥ 40 % clearance decrease from baseline; platelets grade ≥ 2, other cytopenias
except lymphopenia grade ≥ 3). Check them against the local protocol.

Examples
--------
>>> grade_platelets(75.0), grade_platelets(74.9), grade_platelets(24.0)
(1, 2, 4)
>>> grade_creatinine(1.0, uln=1.2), grade_creatinine(1.9, uln=1.2)
(0, 2)
>>> grade_creatinine(1.1, uln=1.2, baseline=0.5)      # > 1.5-3.0 x baseline
2
>>> round(egfr_ckd_epi_2021(0.9, 50.0, "male"), 2)
104.05
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from sstrkit.core.provenance import Step
from sstrkit.core.units import SECONDS_PER_DAY
from sstrkit.errors import InvalidInputError
from sstrkit.followup.tabular import Table, is_missing

__all__ = [
    "CREATININE_UMOL_PER_MG_DL",
    "LabRecord",
    "PlanningLimits",
    "ReferenceRanges",
    "ToxicityReport",
    "assess_toxicity",
    "egfr_ckd_epi_2021",
    "grade_anemia",
    "grade_ckd",
    "grade_creatinine",
    "grade_lymphocytes",
    "grade_neutrophils",
    "grade_platelets",
    "grade_wbc",
    "labs_from_table",
]

CTCAE: Final = "NCI CTCAE v5.0 (27 Nov 2017)"
CKD_EPI: Final = "Inker LA et al. N Engl J Med 2021;385:1737-1749 (CKD-EPI 2021)"
LIMIT_SOURCES: Final = (
    "Strosberg J et al. N Engl J Med 2017;376:125-135 (NETTER-1 eligibility)",
    "LUTATHERA prescribing information, dose modifications",
)
CREATININE_UMOL_PER_MG_DL: Final = 88.42  # 1 mg/dL creatinine = 88.42 µmol/L (M = 113.12 g/mol)
HB_G_DL_PER_MMOL_L: Final = 1.6114  # haemoglobin (monomer, 16.114 g/mmol ÷ 10)
DAY_S: Final = SECONDS_PER_DAY


def _check(value: float, what: str) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise InvalidInputError(what, expected="a finite value ≥ 0", actual=value)


def _grade_low(value: float, lln: float, cuts: Sequence[float], what: str) -> int:
    """Grade of a 'decreased' term: ``cuts`` are the lower edges of G1, G2, G3 (descending)."""
    _check(value, what)
    if value >= lln:
        return 0
    grade = 1
    for g, edge in enumerate(cuts, start=2):
        if value < edge:
            grade = g
    return grade


def grade_anemia(hb_g_dl: float, lln_g_dl: float = 12.0) -> int:
    """CTCAE v5.0 Anemia grade (0–3) from haemoglobin in g/dL.

    >>> [grade_anemia(v) for v in (12.5, 10.0, 9.9, 8.0, 7.9)]
    [0, 1, 2, 2, 3]
    """
    return _grade_low(hb_g_dl, lln_g_dl, (10.0, 8.0), "haemoglobin (g/dL)")


def grade_platelets(plt_1e9_l: float, lln: float = 150.0) -> int:
    """CTCAE v5.0 Platelet count decreased grade (0–4), 10⁹/L."""
    return _grade_low(plt_1e9_l, lln, (75.0, 50.0, 25.0), "platelets (10⁹/L)")


def grade_neutrophils(anc_1e9_l: float, lln: float = 2.0) -> int:
    """CTCAE v5.0 Neutrophil count decreased grade (0–4), 10⁹/L.

    >>> [grade_neutrophils(v) for v in (1.5, 1.49, 1.0, 0.99, 0.5, 0.49)]
    [1, 2, 2, 3, 3, 4]
    """
    return _grade_low(anc_1e9_l, lln, (1.5, 1.0, 0.5), "neutrophils (10⁹/L)")


def grade_wbc(wbc_1e9_l: float, lln: float = 4.0) -> int:
    """CTCAE v5.0 White blood cell decreased grade (0–4), 10⁹/L."""
    return _grade_low(wbc_1e9_l, lln, (3.0, 2.0, 1.0), "white cells (10⁹/L)")


def grade_lymphocytes(lymph_1e9_l: float, lln: float = 1.0) -> int:
    """CTCAE v5.0 Lymphocyte count decreased grade (0–4), 10⁹/L."""
    return _grade_low(lymph_1e9_l, lln, (0.8, 0.5, 0.2), "lymphocytes (10⁹/L)")


def grade_creatinine(value: float, uln: float, baseline: float | None = None) -> int:
    """CTCAE v5.0 Creatinine increased grade (0–4); ``value``, ``uln``, ``baseline`` in one unit.

    Grade 2 is also met by > 1.5–3.0 × baseline and grade 3 by > 3.0 × baseline.
    """
    _check(value, "creatinine")
    if not uln > 0:
        raise InvalidInputError("creatinine ULN", expected="> 0", actual=uln)
    r = value / uln
    g = 4 if r > 6.0 else 3 if r > 3.0 else 2 if r > 1.5 else 1 if r > 1.0 else 0
    if baseline is not None and baseline > 0:
        rb = value / baseline
        g = max(g, 3 if rb > 3.0 else 2 if rb > 1.5 else 0)
    return g


def grade_ckd(egfr: float, lln: float = 90.0) -> int:
    """CTCAE v5.0 Chronic kidney disease grade (0–4) from eGFR (mL/min/1.73 m²).

    >>> [grade_ckd(v) for v in (95, 60, 59.5, 30, 29, 15, 14.9)]
    [0, 1, 2, 2, 3, 3, 4]
    """
    _check(egfr, "eGFR")
    # G2 is "59–30", G3 "29–15": integer bands; a value in (59, 60) is below 60 and counts G2.
    if egfr < 15.0:
        return 4
    if egfr < 30.0:
        return 3
    if egfr < 60.0:
        return 2
    return 1 if egfr < lln else 0


def egfr_ckd_epi_2021(creatinine_mg_dl: float, age_years: float, sex: str) -> float:
    """Race-free CKD-EPI 2021 creatinine equation, mL/min/1.73 m² (checked inputs;
    the formula: :func:`sstrkit.core.body.ckd_epi_2021_formula`)."""
    _check(creatinine_mg_dl, "creatinine (mg/dL)")
    if creatinine_mg_dl == 0 or not 18 <= age_years <= 120:
        raise InvalidInputError(
            "CKD-EPI input",
            expected="creatinine > 0 and adult age",
            actual=(creatinine_mg_dl, age_years),
        )
    s = sex.strip().lower()[:1]
    if s not in ("m", "f"):
        raise InvalidInputError("sex", expected="'male' or 'female'", actual=repr(sex))
    from sstrkit.core.body import ckd_epi_2021_formula

    return ckd_epi_2021_formula(creatinine_mg_dl, age_years, "F" if s == "f" else "M")


@dataclass(frozen=True)
class ReferenceRanges:
    """Local reference limits (defaults: typical adult values; set your laboratory's)."""

    hb_lln_g_dl: float = 12.0
    plt_lln_1e9_l: float = 150.0
    wbc_lln_1e9_l: float = 4.0
    anc_lln_1e9_l: float = 2.0
    lymph_lln_1e9_l: float = 1.0
    creat_uln_umol_l: float = 106.0
    egfr_lln: float = 90.0


@dataclass(frozen=True)
class PlanningLimits:
    """Limits for flags (see module docstring for the sources of the defaults)."""

    min_hb_g_dl: float = 8.0
    min_wbc_1e9_l: float = 2.0
    min_plt_1e9_l: float = 75.0
    min_egfr: float = 50.0
    renal_min_egfr: float = 40.0
    renal_creat_rise: float = 0.40
    renal_egfr_fall: float = 0.40
    plt_flag_grade: int = 2
    cytopenia_flag_grade: int = 3


@dataclass(frozen=True)
class LabRecord:
    """Laboratory values of one patient at one time (``None`` = not measured)."""

    patient_id: str
    time_s: float
    hb_g_dl: float | None = None
    plt_1e9_l: float | None = None
    wbc_1e9_l: float | None = None
    anc_1e9_l: float | None = None
    lymph_1e9_l: float | None = None
    creat_umol_l: float | None = None
    egfr: float | None = None


_ANALYTES: Final = (
    "hb_g_dl",
    "plt_1e9_l",
    "wbc_1e9_l",
    "anc_1e9_l",
    "lymph_1e9_l",
    "creat_umol_l",
    "egfr",
)
_TERMS: Final = {
    "hb_g_dl": "anemia",
    "plt_1e9_l": "platelet_count_decreased",
    "wbc_1e9_l": "white_blood_cell_decreased",
    "anc_1e9_l": "neutrophil_count_decreased",
    "lymph_1e9_l": "lymphocyte_count_decreased",
    "creat_umol_l": "creatinine_increased",
    "egfr": "chronic_kidney_disease",
}


def _grades(rec: LabRecord, base: LabRecord, rr: ReferenceRanges) -> dict[str, int]:
    g: dict[str, int] = {}
    if rec.hb_g_dl is not None:
        g["anemia"] = grade_anemia(rec.hb_g_dl, rr.hb_lln_g_dl)
    if rec.plt_1e9_l is not None:
        g["platelet_count_decreased"] = grade_platelets(rec.plt_1e9_l, rr.plt_lln_1e9_l)
    if rec.wbc_1e9_l is not None:
        g["white_blood_cell_decreased"] = grade_wbc(rec.wbc_1e9_l, rr.wbc_lln_1e9_l)
    if rec.anc_1e9_l is not None:
        g["neutrophil_count_decreased"] = grade_neutrophils(rec.anc_1e9_l, rr.anc_lln_1e9_l)
    if rec.lymph_1e9_l is not None:
        g["lymphocyte_count_decreased"] = grade_lymphocytes(rec.lymph_1e9_l, rr.lymph_lln_1e9_l)
    if rec.creat_umol_l is not None:
        g["creatinine_increased"] = grade_creatinine(
            rec.creat_umol_l,
            rr.creat_uln_umol_l,
            None if rec is base else base.creat_umol_l,
        )
    if rec.egfr is not None:
        g["chronic_kidney_disease"] = grade_ckd(rec.egfr, rr.egfr_lln)
    return g


def _flags(rec: LabRecord, base: LabRecord, g: Mapping[str, int], lim: PlanningLimits) -> list[str]:
    out: list[str] = []
    if rec is base:
        checks = (
            ("hb_g_dl", lim.min_hb_g_dl, "Hb"),
            ("wbc_1e9_l", lim.min_wbc_1e9_l, "WBC"),
            ("plt_1e9_l", lim.min_plt_1e9_l, "platelets"),
            ("egfr", lim.min_egfr, "eGFR"),
        )
        for attr, limit, name in checks:
            v = getattr(rec, attr)
            if v is not None and v < limit:
                out.append(f"baseline {name} {v:g} below planning limit {limit:g}")
        return out
    if rec.egfr is not None and rec.egfr < lim.renal_min_egfr:
        out.append(f"eGFR {rec.egfr:g} < {lim.renal_min_egfr:g}")
    if rec.creat_umol_l is not None and base.creat_umol_l:
        rise = rec.creat_umol_l / base.creat_umol_l - 1.0
        if rise >= lim.renal_creat_rise - 1e-12:
            out.append(f"creatinine +{100 * rise:.0f} % from baseline")
    if rec.egfr is not None and base.egfr:
        fall = 1.0 - rec.egfr / base.egfr
        if fall >= lim.renal_egfr_fall - 1e-12:
            out.append(f"eGFR −{100 * fall:.0f} % from baseline")
    if g.get("platelet_count_decreased", 0) >= lim.plt_flag_grade:
        out.append(f"platelets grade {g['platelet_count_decreased']}")
    for term in ("anemia", "neutrophil_count_decreased", "white_blood_cell_decreased"):
        if g.get(term, 0) >= lim.cytopenia_flag_grade:
            out.append(f"{term} grade {g[term]}")
    return out


@dataclass(frozen=True)
class ToxicityReport:
    """Per-patient toxicity time course, worst grades, nadirs and flags."""

    patients: tuple[Mapping[str, Any], ...]
    ranges: ReferenceRanges
    limits: PlanningLimits
    history: tuple[Step, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "criteria": CTCAE,
            "patients": [dict(p) for p in self.patients],
            "reference_ranges": asdict(self.ranges),
            "planning_limits": asdict(self.limits),
            "history": [s.to_dict() for s in self.history],
        }


def assess_toxicity(
    records: Sequence[LabRecord],
    *,
    ranges: ReferenceRanges | None = None,
    limits: PlanningLimits | None = None,
) -> ToxicityReport:
    """Grade every record, relative change from each patient's first record (baseline).

    Returns per patient the time course (grades, % change from baseline,
    flags), the worst grade per CTCAE term, and the nadir (minimum; maximum
    for creatinine) of each analyte with its time.
    """
    rr = ranges or ReferenceRanges()
    lim = limits or PlanningLimits()
    if not records:
        raise InvalidInputError("laboratory records", expected="at least one", actual=0)
    by_patient: dict[str, list[LabRecord]] = {}
    for rec in records:
        by_patient.setdefault(rec.patient_id, []).append(rec)
    patients: list[dict[str, Any]] = []
    for pid, recs in by_patient.items():
        recs = sorted(recs, key=lambda r: r.time_s)
        times = [r.time_s for r in recs]
        if len(set(times)) != len(times):
            raise InvalidInputError(
                f"laboratory times of patient {pid}", expected="one record per time", actual=times
            )
        base = recs[0]
        course: list[dict[str, Any]] = []
        worst: dict[str, int] = {}
        for rec in recs:
            g = _grades(rec, base, rr)
            for k, v in g.items():
                worst[k] = max(worst.get(k, 0), v)
            change = {
                a: 100.0 * (getattr(rec, a) / getattr(base, a) - 1.0)
                for a in _ANALYTES
                if getattr(rec, a) is not None and getattr(base, a)
            }
            course.append(
                {
                    "time_days": (rec.time_s - base.time_s) / DAY_S,
                    "values": {
                        a: getattr(rec, a) for a in _ANALYTES if getattr(rec, a) is not None
                    },
                    "grades": g,
                    "change_from_baseline_pct": change,
                    "flags": _flags(rec, base, g, lim),
                }
            )
        nadir: dict[str, Any] = {}
        for a in _ANALYTES:
            vals = [(getattr(r, a), r.time_s) for r in recs if getattr(r, a) is not None]
            if vals:
                pick = max if a == "creat_umol_l" else min
                v, t = pick(vals, key=lambda x: x[0])
                nadir[a] = {"value": v, "time_days": (t - base.time_s) / DAY_S}
        patients.append(
            {
                "patient_id": pid,
                "n_records": len(recs),
                "worst_grade": worst,
                "max_grade": max(worst.values(), default=0),
                "nadir": nadir,
                "flagged": any(c["flags"] for c in course),
                "course": course,
            }
        )
    step = Step.make(
        "ctcae_v5_toxicity",
        {"ranges": asdict(rr), "limits": asdict(lim)},
        inputs=tuple(by_patient),
        sources=(CTCAE, CKD_EPI, *LIMIT_SOURCES),
    )
    return ToxicityReport(tuple(patients), rr, lim, (step,))


_COLUMN_UNITS: Final = {
    "hb_g_dl": ("hb_g_dl", 1.0),
    "hb_g_l": ("hb_g_dl", 0.1),
    "hb_mmol_l": ("hb_g_dl", HB_G_DL_PER_MMOL_L),
    "plt_1e9_l": ("plt_1e9_l", 1.0),
    "wbc_1e9_l": ("wbc_1e9_l", 1.0),
    "anc_1e9_l": ("anc_1e9_l", 1.0),
    "lymph_1e9_l": ("lymph_1e9_l", 1.0),
    "creat_umol_l": ("creat_umol_l", 1.0),
    "creat_mg_dl": ("creat_umol_l", CREATININE_UMOL_PER_MG_DL),
    "egfr_ml_min_1_73m2": ("egfr", 1.0),
}


def _time_s(table: Table, i: int, first_date: _dt.date | None) -> float:
    if table.has("day"):
        v = table.float_at(i, "day")
        assert v is not None
        return v * DAY_S
    text = table.cell(i, "date")
    try:
        d = _dt.date.fromisoformat(text[:10])
    except ValueError:
        raise InvalidInputError(
            table.where(i, "date"), expected="an ISO date YYYY-MM-DD", actual=repr(text)
        ) from None
    ref = first_date or d
    return (d - ref).days * DAY_S


def labs_from_table(table: Table) -> tuple[LabRecord, ...]:
    """Laboratory records from a table.

    Columns: ``patient_id`` (optional), ``day`` (days since baseline) or
    ``date`` (ISO), and any of ``hb_g_dl``/``hb_g_l``/``hb_mmol_l``,
    ``plt_1e9_l``, ``wbc_1e9_l``, ``anc_1e9_l``, ``lymph_1e9_l``,
    ``creat_umol_l``/``creat_mg_dl``, ``egfr_ml_min_1_73m2``; with
    ``age_years`` and ``sex`` and no eGFR column, eGFR is computed (CKD-EPI 2021).
    """
    if not (table.has("day") or table.has("date")):
        raise InvalidInputError(
            f"time column of {table.name}",
            expected="'day' or 'date'",
            actual=list(table.columns),
            fix="add a day or date column",
        )
    present = [c for c in _COLUMN_UNITS if table.has(c)]
    if not present:
        raise InvalidInputError(
            f"laboratory columns of {table.name}",
            expected=f"any of {sorted(_COLUMN_UNITS)}",
            actual=list(table.columns),
            fix="name the columns with their unit",
        )
    targets = [_COLUMN_UNITS[c][0] for c in present]
    dup = {t for t in targets if targets.count(t) > 1}
    if dup:
        raise InvalidInputError(
            f"columns of {table.name}",
            expected="one unit per analyte",
            actual=sorted(c for c in present if _COLUMN_UNITS[c][0] in dup),
        )
    compute_egfr = (
        not table.has("egfr_ml_min_1_73m2")
        and table.has("age_years")
        and table.has("sex")
        and any(t == "creat_umol_l" for t in targets)
    )
    pids = table.str_column("patient_id") if table.has("patient_id") else ("1",) * len(table)
    first_dates: dict[str, _dt.date] = {}
    if table.has("date") and not table.has("day"):
        for i, pid in enumerate(pids):
            _time_s(table, i, None)
            d = _dt.date.fromisoformat(table.cell(i, "date")[:10])
            first_dates[pid] = min(first_dates.get(pid, d), d)
    out: list[LabRecord] = []
    for i, pid in enumerate(pids):
        vals: dict[str, float | None] = {}
        for c in present:
            v = table.float_at(i, c, allow_missing=True, minimum=0.0)
            vals[_COLUMN_UNITS[c][0]] = None if v is None else v * _COLUMN_UNITS[c][1]
        if (
            compute_egfr
            and vals.get("creat_umol_l") is not None
            and not is_missing(table.cell(i, "age_years"))
        ):
            age = table.float_at(i, "age_years")
            assert age is not None
            cr = vals["creat_umol_l"]
            assert cr is not None
            vals["egfr"] = egfr_ckd_epi_2021(
                cr / CREATININE_UMOL_PER_MG_DL, age, table.cell(i, "sex")
            )
        out.append(LabRecord(pid or "1", _time_s(table, i, first_dates.get(pid)), **vals))
    return tuple(out)
