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
definitions and are never assigned here.

Liver terms (CTCAE v5.0 "Investigations" and "Metabolism" laboratory terms), each
graded against the upper limit of normal when the patient's baseline was normal
(≤ ULN) and against the baseline when it was abnormal (> ULN), as CTCAE v5.0
defines for these terms:

==============================  ================  ============  ============  ==========
term                            grade 1           grade 2       grade 3       grade 4
==============================  ================  ============  ============  ==========
Blood bilirubin increased       >ULN–1.5×ULN      >1.5–3.0×     >3.0–10.0×    >10.0×
                                (bl: >1.0–1.5×bl)
Alanine aminotransferase incr.  >ULN–3.0×ULN      >3.0–5.0×     >5.0–20.0×    >20.0×
                                (bl: 1.5–3.0×bl)
Aspartate aminotransferase inc  >ULN–3.0×ULN      >3.0–5.0×     >5.0–20.0×    >20.0×
                                (bl: 1.5–3.0×bl)
Alkaline phosphatase increased  >ULN–2.5×ULN      >2.5–5.0×     >5.0–20.0×    >20.0×
                                (bl: 2.0–2.5×bl)
Hypoalbuminemia (g/L)           <LLN–30           <30–20        <20           (clinical)
==============================  ================  ============  ============  ==========

(grades 2–4: × ULN for a normal baseline, × baseline for an abnormal one; a value
below the grade-1 band of an abnormal baseline is grade 0). Hypoalbuminemia has no
baseline rule and its grade 4 is clinical. Bilirubin is kept in µmol/L
(1 mg/dL = 17.10 µmol/L, M = 584.66 g/mol), albumin in g/L, enzymes in U/L.
The default reference limits (:class:`HepaticRanges`) are typical adult values
(Mayo Clinic, "Liver function tests": ALT 7–55 U/L, AST 8–48 U/L, ALP 45–115 U/L,
albumin 3.5–5.0 g/dL, total bilirubin 0.1–1.0 mg/dL); laboratories differ, so
pass the local ones. eGFR can be computed from creatinine
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
>>> grade_alt(165.0, uln=55.0), grade_alt(166.0, uln=55.0)     # 3.0 x ULN is still G1
(1, 2)
>>> grade_alt(90.0, uln=55.0, baseline=60.0)                    # 1.5 x an abnormal baseline
1
>>> grade_hypoalbuminemia(30.0), grade_hypoalbuminemia(29.9)
(1, 2)
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
from sstrkit.followup.toxicity_records import CoursePoint, Nadir, PatientToxicity

__all__ = [
    "BILIRUBIN_UMOL_PER_MG_DL",
    "CREATININE_UMOL_PER_MG_DL",
    "HEPATIC_ANALYTES",
    "CoursePoint",
    "GradePoint",
    "HepaticRanges",
    "LabRecord",
    "Nadir",
    "PatientToxicity",
    "PlanningLimits",
    "ReferenceRanges",
    "ToxicityReport",
    "assess_toxicity",
    "egfr_ckd_epi_2021",
    "grade_alp",
    "grade_alt",
    "grade_anemia",
    "grade_ast",
    "grade_bilirubin",
    "grade_ckd",
    "grade_creatinine",
    "grade_hypoalbuminemia",
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
LFT_RANGES_SOURCE: Final = (
    "Mayo Clinic, Liver function tests (typical adult ranges: ALT 7-55 U/L, AST 8-48 U/L, "
    "ALP 45-115 U/L, albumin 3.5-5.0 g/dL, total bilirubin 0.1-1.0 mg/dL)"
)
CREATININE_UMOL_PER_MG_DL: Final = 88.42  # 1 mg/dL creatinine = 88.42 µmol/L (M = 113.12 g/mol)
BILIRUBIN_UMOL_PER_MG_DL: Final = 17.104  # 1 mg/dL bilirubin: 10 mg/L ÷ 584.66 g/mol
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


@dataclass(frozen=True)
class _Increased:
    """A CTCAE v5.0 'increased' liver term: upper edges of G1, G2, G3 (× ULN, or × an
    abnormal baseline) and the lower edge of G1 for an abnormal baseline."""

    term: str
    cuts: tuple[float, float, float]
    g1_from_baseline: float
    g1_inclusive: bool  # "1.5 - 3.0 x baseline" (inclusive) vs ">1.0 - 1.5 x baseline"


_BILI: Final = _Increased("blood_bilirubin_increased", (1.5, 3.0, 10.0), 1.0, False)
_ALT: Final = _Increased("alanine_aminotransferase_increased", (3.0, 5.0, 20.0), 1.5, True)
_AST: Final = _Increased("aspartate_aminotransferase_increased", (3.0, 5.0, 20.0), 1.5, True)
_ALP: Final = _Increased("alkaline_phosphatase_increased", (2.5, 5.0, 20.0), 2.0, True)


def _grade_increased(spec: _Increased, value: float, uln: float, baseline: float | None) -> int:
    """Grade of an 'increased' liver term (comparisons by products, no rounding at edges)."""
    _check(value, spec.term)
    if not (math.isfinite(uln) and uln > 0):
        raise InvalidInputError(f"{spec.term} ULN", expected="> 0", actual=uln)
    if baseline is not None:
        _check(baseline, f"{spec.term} baseline")
    if baseline is None or baseline <= uln:
        ref, lower, inclusive = uln, 1.0, False
    else:
        ref, lower, inclusive = baseline, spec.g1_from_baseline, spec.g1_inclusive
    c1, c2, c3 = spec.cuts
    if value > c3 * ref:
        return 4
    if value > c2 * ref:
        return 3
    if value > c1 * ref:
        return 2
    if value > lower * ref or (inclusive and value == lower * ref):
        return 1
    return 0


def grade_bilirubin(value_umol_l: float, uln: float = 17.104, baseline: float | None = None) -> int:
    """CTCAE v5.0 Blood bilirubin increased grade (0–4); total bilirubin in µmol/L.

    ``baseline`` (same unit) above ``uln`` switches to the abnormal-baseline rule.

    >>> [grade_bilirubin(v, uln=20.0) for v in (20.0, 20.1, 30.0, 30.1, 60.0, 60.1, 200.1)]
    [0, 1, 1, 2, 2, 3, 4]
    """
    return _grade_increased(_BILI, value_umol_l, uln, baseline)


def grade_alt(value_u_l: float, uln: float = 55.0, baseline: float | None = None) -> int:
    """CTCAE v5.0 Alanine aminotransferase increased grade (0–4), U/L."""
    return _grade_increased(_ALT, value_u_l, uln, baseline)


def grade_ast(value_u_l: float, uln: float = 48.0, baseline: float | None = None) -> int:
    """CTCAE v5.0 Aspartate aminotransferase increased grade (0–4), U/L."""
    return _grade_increased(_AST, value_u_l, uln, baseline)


def grade_alp(value_u_l: float, uln: float = 115.0, baseline: float | None = None) -> int:
    """CTCAE v5.0 Alkaline phosphatase increased grade (0–4), U/L."""
    return _grade_increased(_ALP, value_u_l, uln, baseline)


def grade_hypoalbuminemia(albumin_g_l: float, lln: float = 35.0) -> int:
    """CTCAE v5.0 Hypoalbuminemia grade (0–3) from serum albumin in g/L (grade 4 is clinical).

    >>> [grade_hypoalbuminemia(v) for v in (35.0, 34.9, 20.0, 19.9)]
    [0, 1, 2, 3]
    """
    return _grade_low(albumin_g_l, lln, (30.0, 20.0), "albumin (g/L)")


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
class HepaticRanges:
    """Reference limits of the liver tests (defaults: typical adult values, see the module
    docstring; set your laboratory's): ULNs of bilirubin (µmol/L), ALT, AST, ALP (U/L) and
    the LLN of albumin (g/L)."""

    bili_uln_umol_l: float = 17.104  # 1.0 mg/dL
    alt_uln_u_l: float = 55.0
    ast_uln_u_l: float = 48.0
    alp_uln_u_l: float = 115.0
    alb_lln_g_l: float = 35.0

    def __post_init__(self) -> None:
        for name, v in asdict(self).items():
            if not (math.isfinite(v) and v > 0):
                raise InvalidInputError(f"reference limit {name}", expected="> 0", actual=v)


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
    bili_umol_l: float | None = None
    alb_g_l: float | None = None
    alt_u_l: float | None = None
    ast_u_l: float | None = None
    alp_u_l: float | None = None


#: Liver analytes (graded with :class:`HepaticRanges`).
HEPATIC_ANALYTES: Final = ("bili_umol_l", "alb_g_l", "alt_u_l", "ast_u_l", "alp_u_l")
_ANALYTES: Final = (
    "hb_g_dl",
    "plt_1e9_l",
    "wbc_1e9_l",
    "anc_1e9_l",
    "lymph_1e9_l",
    "creat_umol_l",
    "egfr",
    *HEPATIC_ANALYTES,
)
#: Analytes whose worst value is the highest (the others: the lowest).
_WORST_IS_MAX: Final = frozenset({"creat_umol_l", "bili_umol_l", "alt_u_l", "ast_u_l", "alp_u_l"})
_TERMS: Final = {
    "hb_g_dl": "anemia",
    "plt_1e9_l": "platelet_count_decreased",
    "wbc_1e9_l": "white_blood_cell_decreased",
    "anc_1e9_l": "neutrophil_count_decreased",
    "lymph_1e9_l": "lymphocyte_count_decreased",
    "creat_umol_l": "creatinine_increased",
    "egfr": "chronic_kidney_disease",
    "bili_umol_l": _BILI.term,
    "alb_g_l": "hypoalbuminemia",
    "alt_u_l": _ALT.term,
    "ast_u_l": _AST.term,
    "alp_u_l": _ALP.term,
}


def _hepatic_grades(
    rec: LabRecord, bases: Mapping[str, LabRecord], hr: HepaticRanges
) -> dict[str, int]:
    """Liver grades. ``bases``: per analyte the patient's first record with a value (its
    baseline); later records are graded with the abnormal-baseline rule of CTCAE v5.0."""
    g: dict[str, int] = {}
    for attr, spec, uln in (
        ("bili_umol_l", _BILI, hr.bili_uln_umol_l),
        ("alt_u_l", _ALT, hr.alt_uln_u_l),
        ("ast_u_l", _AST, hr.ast_uln_u_l),
        ("alp_u_l", _ALP, hr.alp_uln_u_l),
    ):
        v = getattr(rec, attr)
        if v is not None:
            b = bases[attr]
            g[spec.term] = _grade_increased(spec, v, uln, None if rec is b else getattr(b, attr))
    if rec.alb_g_l is not None:
        g["hypoalbuminemia"] = grade_hypoalbuminemia(rec.alb_g_l, hr.alb_lln_g_l)
    return g


def _grades(
    rec: LabRecord,
    base: LabRecord,
    rr: ReferenceRanges,
    hr: HepaticRanges,
    hep_bases: Mapping[str, LabRecord],
) -> dict[str, int]:
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
    g.update(_hepatic_grades(rec, hep_bases, hr))
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
class GradePoint:
    """One CTCAE grade at one laboratory time (for timelines).

    ``time_s`` is the record's own time (:attr:`LabRecord.time_s`, on the caller's
    clock); ``time_days`` counts from the patient's first record.
    """

    patient_id: str
    time_s: float
    time_days: float
    term: str
    analyte: str
    value: float
    grade: int


@dataclass(frozen=True)
class ToxicityReport:
    """Per-patient toxicity time course, worst grades, nadirs and flags.

    ``patients`` holds one typed :class:`PatientToxicity` per patient (in the order the
    records name them); ``points`` holds every grade as a typed :class:`GradePoint` (not in
    :meth:`to_dict`: the same grades are in each patient's ``course``); ``hepatic_ranges``
    is set when liver values were graded.
    """

    patients: tuple[PatientToxicity, ...]
    ranges: ReferenceRanges
    limits: PlanningLimits
    history: tuple[Step, ...] = field(default=())
    points: tuple[GradePoint, ...] = field(default=())
    hepatic_ranges: HepaticRanges | None = None

    def timeline(self, terms: Sequence[str] | None = None) -> tuple[GradePoint, ...]:
        """The grades over time, in time order, optionally of some CTCAE ``terms`` only."""
        keep = None if terms is None else set(terms)
        return tuple(p for p in self.points if keep is None or p.term in keep)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "criteria": CTCAE,
            "patients": [p.to_dict() for p in self.patients],
            "reference_ranges": asdict(self.ranges),
            "planning_limits": asdict(self.limits),
            "history": [s.to_dict() for s in self.history],
        }
        if self.hepatic_ranges is not None:
            out["hepatic_reference_ranges"] = asdict(self.hepatic_ranges)
        return out


def _patient_course(
    pid: str,
    recs: Sequence[LabRecord],
    rr: ReferenceRanges,
    hr: HepaticRanges,
    lim: PlanningLimits,
) -> tuple[PatientToxicity, list[GradePoint]]:
    """One patient's course (time-sorted ``recs``), worst grades, nadirs; typed points."""
    base = recs[0]
    hep_bases = {
        a: next(r for r in recs if getattr(r, a) is not None)
        for a in HEPATIC_ANALYTES
        if any(getattr(r, a) is not None for r in recs)
    }
    course: list[CoursePoint] = []
    points: list[GradePoint] = []
    worst: dict[str, int] = {}
    analyte_of = {t: a for a, t in _TERMS.items()}
    for rec in recs:
        g = _grades(rec, base, rr, hr, hep_bases)
        days = (rec.time_s - base.time_s) / DAY_S
        for k, v in g.items():
            worst[k] = max(worst.get(k, 0), v)
            a = analyte_of[k]
            points.append(GradePoint(pid, rec.time_s, days, k, a, getattr(rec, a), v))
        change: dict[str, float] = {}
        for a in _ANALYTES:
            ref = hep_bases.get(a, base)
            if getattr(rec, a) is not None and getattr(ref, a):
                change[a] = 100.0 * (getattr(rec, a) / getattr(ref, a) - 1.0)
        course.append(
            CoursePoint(
                time_days=days,
                values={a: getattr(rec, a) for a in _ANALYTES if getattr(rec, a) is not None},
                grades=g,
                change_from_baseline_pct=change,
                flags=tuple(_flags(rec, base, g, lim)),
            )
        )
    nadir: dict[str, Nadir] = {}
    for a in _ANALYTES:
        vals = [(getattr(r, a), r.time_s) for r in recs if getattr(r, a) is not None]
        if vals:
            pick = max if a in _WORST_IS_MAX else min
            v, t = pick(vals, key=lambda x: x[0])
            nadir[a] = Nadir(v, (t - base.time_s) / DAY_S)
    patient = PatientToxicity(
        patient_id=pid,
        n_records=len(recs),
        worst_grade=worst,
        max_grade=max(worst.values(), default=0),
        nadir=nadir,
        flagged=any(c.flags for c in course),
        course=tuple(course),
    )
    return patient, points


def assess_toxicity(
    records: Sequence[LabRecord],
    *,
    ranges: ReferenceRanges | None = None,
    limits: PlanningLimits | None = None,
    hepatic: HepaticRanges | None = None,
) -> ToxicityReport:
    """Grade every record, relative change from each patient's first record (baseline).

    Returns per patient the time course (grades, % change from baseline,
    flags), the worst grade per CTCAE term, and the nadir (minimum; maximum
    for creatinine and the 'increased' liver tests) of each analyte with its time.
    Liver values are graded with ``hepatic`` (default :class:`HepaticRanges`); their
    baseline is the patient's first record with that value.
    """
    rr = ranges or ReferenceRanges()
    lim = limits or PlanningLimits()
    hr = hepatic or HepaticRanges()
    if not records:
        raise InvalidInputError("laboratory records", expected="at least one", actual=0)
    by_patient: dict[str, list[LabRecord]] = {}
    for rec in records:
        by_patient.setdefault(rec.patient_id, []).append(rec)
    patients: list[PatientToxicity] = []
    points: list[GradePoint] = []
    for pid, recs in by_patient.items():
        recs = sorted(recs, key=lambda r: r.time_s)
        times = [r.time_s for r in recs]
        if len(set(times)) != len(times):
            raise InvalidInputError(
                f"laboratory times of patient {pid}", expected="one record per time", actual=times
            )
        patient, pts = _patient_course(pid, recs, rr, hr, lim)
        patients.append(patient)
        points.extend(pts)
    liver = any(getattr(r, a) is not None for r in records for a in HEPATIC_ANALYTES)
    params: dict[str, Any] = {"ranges": asdict(rr), "limits": asdict(lim)}
    sources: tuple[str, ...] = (CTCAE, CKD_EPI, *LIMIT_SOURCES)
    if liver:  # keys only when graded: reports without liver values stay as they were
        params["hepatic_ranges"] = asdict(hr)
        sources = (*sources, LFT_RANGES_SOURCE)
    step = Step.make("ctcae_v5_toxicity", params, inputs=tuple(by_patient), sources=sources)
    return ToxicityReport(tuple(patients), rr, lim, (step,), tuple(points), hr if liver else None)


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
    "bilirubin_umol_l": ("bili_umol_l", 1.0),
    "bilirubin_mg_dl": ("bili_umol_l", BILIRUBIN_UMOL_PER_MG_DL),
    "albumin_g_l": ("alb_g_l", 1.0),
    "albumin_g_dl": ("alb_g_l", 10.0),
    "alt_u_l": ("alt_u_l", 1.0),
    "ast_u_l": ("ast_u_l", 1.0),
    "alp_u_l": ("alp_u_l", 1.0),
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
    ``creat_umol_l``/``creat_mg_dl``, ``egfr_ml_min_1_73m2``, the liver tests
    ``bilirubin_umol_l``/``bilirubin_mg_dl``, ``albumin_g_l``/``albumin_g_dl``,
    ``alt_u_l``, ``ast_u_l``, ``alp_u_l``; with
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
