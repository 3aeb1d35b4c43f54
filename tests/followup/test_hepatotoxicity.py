"""CTCAE v5.0 liver terms (NCI CTCAE v5.0, 27 Nov 2017): both sides of every grade edge.

Reference values are the CTCAE v5.0 grade definitions themselves (Blood bilirubin
increased, Alanine / Aspartate aminotransferase increased, Alkaline phosphatase increased,
Hypoalbuminemia), including the rule for an abnormal baseline. The edges are tested with
values whose products are exact in floating point (e.g. 3.0 × 40), so no tolerance is
needed: a value at the edge belongs to the milder grade, 0.1 above it to the next.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sstrkit.errors import InvalidInputError
from sstrkit.followup.tabular import read_table
from sstrkit.followup.toxicity import (
    BILIRUBIN_UMOL_PER_MG_DL,
    HepaticRanges,
    LabRecord,
    Nadir,
    assess_toxicity,
    grade_alp,
    grade_alt,
    grade_ast,
    grade_bilirubin,
    grade_hypoalbuminemia,
    labs_from_table,
)

DAY = 86400.0
Grader = Callable[..., int]


@pytest.mark.parametrize(
    ("fn", "uln", "edges"),
    [
        # Bilirubin: G1 >ULN–1.5×ULN, G2 >1.5–3.0×ULN, G3 >3.0–10.0×ULN, G4 >10.0×ULN
        (grade_bilirubin, 20.0, (20.0, 30.0, 60.0, 200.0)),
        # ALT, AST: G1 >ULN–3.0×ULN, G2 >3.0–5.0×ULN, G3 >5.0–20.0×ULN, G4 >20.0×ULN
        (grade_alt, 40.0, (40.0, 120.0, 200.0, 800.0)),
        (grade_ast, 40.0, (40.0, 120.0, 200.0, 800.0)),
        # ALP: G1 >ULN–2.5×ULN, G2 >2.5–5.0×ULN, G3 >5.0–20.0×ULN, G4 >20.0×ULN
        (grade_alp, 100.0, (100.0, 250.0, 500.0, 2000.0)),
    ],
)
def test_normal_baseline_edges(fn: Grader, uln: float, edges: tuple[float, ...]) -> None:
    for grade, edge in enumerate(edges):
        assert fn(edge, uln) == grade, (fn.__name__, edge)
        assert fn(edge + 0.1, uln) == grade + 1, (fn.__name__, edge + 0.1)
    # a normal baseline (≤ ULN, here = ULN) keeps the ULN rule
    assert fn(edges[1] + 0.1, uln, baseline=uln) == 2


@pytest.mark.parametrize(
    ("fn", "uln", "baseline", "g1_low", "g1_inclusive", "cuts"),
    [
        # Bilirubin, abnormal baseline: G1 >1.0–1.5×bl, G2 >1.5–3.0×bl, G3 >3.0–10.0×bl, G4 >10×bl
        (grade_bilirubin, 20.0, 30.0, 30.0, False, (45.0, 90.0, 300.0)),
        # ALT/AST, abnormal baseline: G1 1.5–3.0×bl, G2 >3.0–5.0×bl, G3 >5.0–20×bl, G4 >20×bl
        (grade_alt, 40.0, 60.0, 90.0, True, (180.0, 300.0, 1200.0)),
        (grade_ast, 40.0, 60.0, 90.0, True, (180.0, 300.0, 1200.0)),
        # ALP, abnormal baseline: G1 2.0–2.5×bl, G2 >2.5–5.0×bl, G3 >5.0–20×bl, G4 >20×bl
        (grade_alp, 100.0, 150.0, 300.0, True, (375.0, 750.0, 3000.0)),
    ],
)
def test_abnormal_baseline_edges(
    fn: Grader,
    uln: float,
    baseline: float,
    g1_low: float,
    g1_inclusive: bool,
    cuts: tuple[float, float, float],
) -> None:
    # below the grade-1 band of an abnormal baseline: grade 0, although above the ULN
    assert fn(g1_low - 0.1, uln, baseline=baseline) == 0
    assert fn(g1_low, uln, baseline=baseline) == (1 if g1_inclusive else 0)
    assert fn(g1_low + 0.1, uln, baseline=baseline) == 1
    for grade, edge in enumerate(cuts, start=1):
        assert fn(edge, uln, baseline=baseline) == grade
        assert fn(edge + 0.1, uln, baseline=baseline) == grade + 1
    # the upper edge of G2 by the baseline is G3 by the ULN (7.5 × ULN for ALT, AST, ALP;
    # 4.5 × ULN for bilirubin): the abnormal baseline decides
    assert (fn(cuts[1], uln), fn(cuts[1], uln, baseline=baseline)) == (3, 2)


def test_hypoalbuminemia_edges() -> None:
    # G1 <LLN–30 g/L, G2 <30–20 g/L, G3 <20 g/L (grade 4 is clinical); no baseline rule
    values = (35.0, 34.9, 30.0, 29.9, 20.0, 19.9, 5.0)
    assert [grade_hypoalbuminemia(v, 35.0) for v in values] == [0, 1, 1, 2, 2, 3, 3]


def test_invalid_inputs() -> None:
    for bad in (
        lambda: grade_alt(-1.0, 40.0),
        lambda: grade_alt(float("nan"), 40.0),
        lambda: grade_alt(50.0, 0.0),
        lambda: grade_bilirubin(10.0, 20.0, baseline=-1.0),
        lambda: HepaticRanges(alt_uln_u_l=0.0),
    ):
        with pytest.raises(InvalidInputError):
            bad()


def _rec(day: float, **kw: float) -> LabRecord:
    return LabRecord("p1", day * DAY, **kw)


def test_course_uses_each_analytes_first_value_as_baseline() -> None:
    # ALT first measured on day 10 at 80 U/L (abnormal, ULN 40): 130 U/L on day 60 is
    # 1.625 × baseline → G1 by the abnormal-baseline rule (3.25 × ULN would be G2).
    hr = HepaticRanges(alt_uln_u_l=40.0)
    rep = assess_toxicity(
        [
            _rec(0, hb_g_dl=13.0),
            _rec(10, alt_u_l=80.0, alb_g_l=40.0),
            _rec(60, alt_u_l=130.0, alb_g_l=29.0),
        ],
        hepatic=hr,
    )
    (p,) = rep.patients
    assert p.worst_grade["alanine_aminotransferase_increased"] == 1
    assert p.worst_grade["hypoalbuminemia"] == 2  # 29 g/L < 30
    assert p.course[1].grades["alanine_aminotransferase_increased"] == 1  # 2 × ULN
    assert p.course[2].change_from_baseline_pct["alt_u_l"] == pytest.approx(62.5)
    assert p.nadir["alt_u_l"] == Nadir(value=130.0, time_days=60.0)  # worst = highest
    assert p.nadir["alb_g_l"] == Nadir(value=29.0, time_days=60.0)  # worst = lowest
    doc = rep.to_dict()
    assert doc["hepatic_reference_ranges"]["alt_uln_u_l"] == 40.0
    assert doc["history"][0]["parameters"]["hepatic_ranges"]["alt_uln_u_l"] == 40.0
    # typed grades over time, in time order, per term
    alt = rep.timeline(["alanine_aminotransferase_increased"])
    assert [(g.time_s / DAY, g.value, g.grade) for g in alt] == [(10.0, 80.0, 1), (60.0, 130.0, 1)]
    assert {g.term for g in rep.timeline()} >= {"anemia", "hypoalbuminemia"}


def test_reports_without_liver_values_are_unchanged() -> None:
    # No liver values: no hepatic key and the provenance parameters as before issue 23.
    rep = assess_toxicity([_rec(0, hb_g_dl=13.0), _rec(30, hb_g_dl=9.9)])
    doc = rep.to_dict()
    assert set(doc) == {"criteria", "patients", "reference_ranges", "planning_limits", "history"}
    assert set(doc["history"][0]["parameters"]) == {"ranges", "limits"}
    assert rep.hepatic_ranges is None
    assert [(g.term, g.grade) for g in rep.timeline()] == [("anemia", 0), ("anemia", 2)]


def test_table_with_liver_columns(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "labs.csv"
    f.write_text(
        "patient_id,day,bilirubin_mg_dl,albumin_g_dl,alt_u_l,ast_u_l,alp_u_l\n"
        "a,0,0.5,4.0,30,28,90\n"
        "a,56,2.0,2.9,35,30,95\n",
        encoding="utf-8",
    )
    recs = labs_from_table(read_table(f))
    assert recs[1].bili_umol_l == pytest.approx(2.0 * BILIRUBIN_UMOL_PER_MG_DL)
    assert recs[1].alb_g_l == pytest.approx(29.0)
    rep = assess_toxicity(recs)  # default ULN 1.0 mg/dL: 2.0 mg/dL = 2 × ULN → G2
    grades = rep.patients[0].course[1].grades
    assert grades["blood_bilirubin_increased"] == 2
    assert grades["hypoalbuminemia"] == 2
