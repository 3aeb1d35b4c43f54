"""CTCAE v5.0 grading (NCI CTCAE v5.0, 2017, laboratory terms) and planning flags."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sstrkit.errors import InvalidInputError
from sstrkit.followup.tabular import read_table
from sstrkit.followup.toxicity import (
    LabRecord,
    Nadir,
    assess_toxicity,
    egfr_ckd_epi_2021,
    grade_anemia,
    grade_ckd,
    grade_creatinine,
    grade_lymphocytes,
    grade_neutrophils,
    grade_platelets,
    grade_wbc,
    labs_from_table,
)

DAY = 86400.0


@pytest.mark.parametrize(
    ("value", "grade"),
    # Platelet count decreased: G1 <LLN–75, G2 <75–50, G3 <50–25, G4 <25 (×10⁹/L)
    [(150.0, 0), (149.9, 1), (75.0, 1), (74.9, 2), (50.0, 2), (49.9, 3), (25.0, 3), (24.9, 4)],
)
def test_platelets(value: float, grade: int) -> None:
    assert grade_platelets(value, lln=150.0) == grade


@pytest.mark.parametrize(
    ("fn", "cuts"),
    [
        (grade_neutrophils, (1.5, 1.0, 0.5)),  # G1 <LLN–1.5, G2 <1.5–1.0, G3 <1.0–0.5, G4 <0.5
        (grade_wbc, (3.0, 2.0, 1.0)),  # G1 <LLN–3.0, G2 <3.0–2.0, G3 <2.0–1.0, G4 <1.0
        (grade_lymphocytes, (0.8, 0.5, 0.2)),  # G1 <LLN–0.8, G2 <0.8–0.5, ...
    ],
)
def test_decreased_counts_boundaries(fn, cuts) -> None:  # type: ignore[no-untyped-def]
    for g, edge in enumerate(cuts, start=1):
        assert fn(edge, 4.5) == g  # the edge value itself still belongs to the milder grade
        assert fn(edge - 1e-6, 4.5) == g + 1


def test_anemia() -> None:
    # Anemia: G1 <LLN–10.0, G2 <10.0–8.0, G3 <8.0 g/dL; no laboratory grade 4
    assert [grade_anemia(v, 12.0) for v in (12.0, 11.9, 10.0, 9.99, 8.0, 7.99, 4.0)] == [
        0,
        1,
        1,
        2,
        2,
        3,
        3,
    ]


def test_creatinine_uln_and_baseline_rules() -> None:
    uln = 100.0
    # G1 >ULN–1.5×ULN, G2 >1.5–3.0×ULN, G3 >3.0–6.0×ULN, G4 >6.0×ULN
    assert [grade_creatinine(v, uln) for v in (100, 101, 150, 151, 300, 301, 600, 601)] == [
        0,
        1,
        1,
        2,
        2,
        3,
        3,
        4,
    ]
    # baseline 50: 80 (1.6× baseline, < ULN) → G2; 160 (3.2× baseline) → G3
    assert grade_creatinine(80, uln, baseline=50) == 2
    assert grade_creatinine(160, uln, baseline=50) == 3


def test_ckd_egfr_grades() -> None:
    # CKD: G1 eGFR <LLN–60, G2 59–30, G3 29–15, G4 <15 mL/min/1.73 m²
    assert [grade_ckd(v, 90) for v in (90, 89, 60, 45, 30, 29, 15, 14)] == [0, 1, 1, 2, 2, 3, 3, 4]


def test_ckd_epi_2021_hand_values() -> None:
    # male, 50 y, Scr 0.9 mg/dL (= κ): 142 · 0.9938^50 = 142 · exp(50 ln 0.9938)
    assert egfr_ckd_epi_2021(0.9, 50, "male") == pytest.approx(142 * 0.9938**50)
    assert egfr_ckd_epi_2021(0.9, 50, "male") == pytest.approx(104.05, abs=0.01)
    # female, 60 y, Scr 1.4: 142 · (1.4/0.7)^−1.2 · 0.9938^60 · 1.012
    ref = 142 * 2.0**-1.2 * math.exp(60 * math.log(0.9938)) * 1.012
    assert egfr_ckd_epi_2021(1.4, 60, "female") == pytest.approx(ref)
    # female below κ: Scr 0.5 → (0.5/0.7)^−0.241
    assert egfr_ckd_epi_2021(0.5, 40, "F") == pytest.approx(
        142 * (0.5 / 0.7) ** -0.241 * 0.9938**40 * 1.012
    )


def test_course_changes_nadir_and_flags() -> None:
    recs = [
        LabRecord("p1", 0.0, hb_g_dl=13.0, plt_1e9_l=250, creat_umol_l=80, egfr=80),
        LabRecord("p1", 42 * DAY, hb_g_dl=11.0, plt_1e9_l=60, creat_umol_l=90, egfr=75),
        LabRecord("p1", 84 * DAY, hb_g_dl=12.0, plt_1e9_l=140, creat_umol_l=120, egfr=44),
        LabRecord("p2", 0.0, hb_g_dl=7.5, plt_1e9_l=70, egfr=45),
    ]
    rep = assess_toxicity(recs)
    p1, p2 = rep.patients
    assert p1.worst_grade["platelet_count_decreased"] == 2
    assert p1.worst_grade["creatinine_increased"] == 1  # 120 > ULN 106, < 1.5× baseline 80
    c1 = p1.course[1]
    assert c1.change_from_baseline_pct["plt_1e9_l"] == pytest.approx(-76.0)  # 60/250 − 1
    assert "platelets grade 2" in c1.flags
    c2 = p1.course[2]
    # creatinine +50 % ≥ 40 %, eGFR 44 (−45 %) → renal flags
    assert any("creatinine +50 %" in f for f in c2.flags)
    assert any("eGFR −45 %" in f for f in c2.flags)
    assert p1.nadir["plt_1e9_l"] == Nadir(value=60, time_days=42.0)
    assert p1.nadir["creat_umol_l"].value == 120
    # p2 baseline below the planning limits: Hb < 8, platelets < 75, eGFR < 50
    assert len(p2.course[0].flags) == 3 and p2.flagged


def test_labs_from_csv_units_and_dates(tmp_path: Path) -> None:
    f = tmp_path / "labs.csv"
    f.write_text(
        "patient_id,date,hb_g_l,plt_1e9_l,creat_mg_dl,age_years,sex\n"
        "A,2024-01-10,130,200,0.9,50,male\n"
        "A,2024-02-21,95,70,1.2,50,male\n"
    )
    recs = labs_from_table(read_table(f))
    assert recs[0].hb_g_dl == pytest.approx(13.0)  # 130 g/L = 13.0 g/dL
    assert recs[1].time_s == 42 * DAY
    assert recs[0].creat_umol_l == pytest.approx(0.9 * 88.42)
    assert recs[0].egfr == pytest.approx(egfr_ckd_epi_2021(0.9, 50, "male"))
    rep = assess_toxicity(recs)
    assert rep.patients[0].worst_grade["anemia"] == 2  # 9.5 g/dL


def test_labs_csv_errors(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("day,plt_1e9_l\n0,200\n42,abc\n")
    with pytest.raises(InvalidInputError, match=r"bad.csv row 3 column 'plt_1e9_l'"):
        labs_from_table(read_table(f))
    g = tmp_path / "nolab.csv"
    g.write_text("day,platelets\n0,200\n")
    with pytest.raises(InvalidInputError, match="name the columns with their unit"):
        labs_from_table(read_table(g))
