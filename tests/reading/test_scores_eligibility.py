"""Krenning, SSTR-RADS, NETPET, CKD-EPI 2021 and the eligibility rules."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sstrkit.errors import InvalidInputError
from sstrkit.reading.eligibility import (
    Labs,
    ckd_epi_2021,
    decision_headline,
    decision_status,
    evaluate,
    load_rules,
)
from sstrkit.reading.metrics import LesionMetrics
from sstrkit.reading.reader import read_sstr_pet
from sstrkit.reading.reference import ReferenceRegion, ReferenceSet, measure_references
from sstrkit.reading.scores import (
    krenning_score,
    match_lesions,
    netpet_grade,
    patient_krenning,
    sstr_rads,
)

from .conftest import TruthLesion, build_patient

LIVER, SPLEEN, BP = 6.0, 20.0, 1.5


# -------------------------------------------------------------------------- Krenning
@pytest.mark.parametrize(
    ("uptake", "grade"),
    [
        (1.5, 0),  # ≤ blood pool (+10 %): no uptake
        (1.65, 0),
        (1.7, 1),
        (5.39, 1),  # < 0.9 × liver
        (5.4, 2),  # 0.9 × liver: "equal to liver" band starts
        (6.6, 2),  # 1.1 × liver: band ends
        (6.61, 3),
        (20.0, 3),  # = spleen: not greater than spleen
        (20.01, 4),
    ],
)
def test_krenning_boundaries(uptake: float, grade: int) -> None:
    # Band edges are the definition in sstrkit.reading.scores (±10 % of liver SUVmean).
    assert krenning_score(uptake, liver=LIVER, spleen=SPLEEN, blood_pool=BP) == grade


def test_krenning_missing_references() -> None:
    assert krenning_score(10.0, liver=None, spleen=SPLEEN) is None
    assert krenning_score(10.0, liver=LIVER, spleen=None) is None  # 3 or 4: undecidable
    assert krenning_score(3.0, liver=LIVER, spleen=None) == 1  # decidable without spleen
    assert patient_krenning([None, 1, 3]) == 3
    with pytest.raises(InvalidInputError):
        krenning_score(1.0, liver=1.0, spleen=2.0, tolerance=1.5)


def test_krenning_categories_end_to_end_vs_set_uptake() -> None:
    # Four spheres whose SUV was set in each Krenning category (liver 6, spleen 20).
    lesions = (
        TruthLesion("k1", (60.0, -30.0, -60.0), 12.0, 4.8, 1),
        TruthLesion("k2", (-50.0, -40.0, -50.0), 12.0, 6.3, 2),
        TruthLesion("k3", (-62.0, -12.0, 42.0), 12.0, 12.0, 3),
        TruthLesion("k4", (30.0, -40.0, -30.0), 10.0, 26.0, 4),
    )
    p = build_patient(lesions=lesions)
    r = read_sstr_pet(p["suv"], organs=p["organs"], organ_names=p["names"])
    got = sorted((round(m.suv_max, 1), m.krenning) for m in r.lesions)
    assert got == sorted((t.suv, t.krenning) for t in lesions)
    assert r.krenning_patient == 4


# ------------------------------------------------------------------------ SSTR-RADS
@pytest.mark.parametrize(
    ("kwargs", "category"),
    [
        ({"krenning": 4, "site": "typical", "anatomic_correlate": True}, "5"),
        ({"krenning": 3, "site": "typical", "anatomic_correlate": False}, "4"),
        ({"krenning": 3, "site": "atypical", "anatomic_correlate": True}, "3C"),
        ({"krenning": 2, "site": "typical", "anatomic_correlate": False}, "3A"),
        ({"krenning": 1, "site": "typical", "anatomic_correlate": None, "bone": True}, "3B"),
        ({"krenning": 0, "site": "typical", "anatomic_correlate": True}, "3D"),
        ({"krenning": 4, "site": "typical", "anatomic_correlate": None}, None),
        ({"krenning": None, "site": "typical", "anatomic_correlate": True}, None),
        ({"krenning": 4, "site": None, "anatomic_correlate": True, "benign": True}, "1"),
        ({"krenning": 2, "site": None, "anatomic_correlate": None, "likely_benign": True}, "2"),
    ],
)
def test_sstr_rads(kwargs: dict[str, Any], category: str | None) -> None:
    # Category definitions: Werner et al. 2018 J Nucl Med 59:1085, Table 1.
    assert sstr_rads(**kwargs) == category


# ---------------------------------------------------------------------------- NETPET
def _lesion(i: int, c: tuple[float, float, float], suv: float, ml: float = 4.0) -> LesionMetrics:
    return LesionMetrics(i, c, suv, suv, suv, ml, suv * ml)


def _refs(liver: float) -> ReferenceSet:
    lv = ReferenceRegion("liver", liver, 0.0, liver, 14.0, 1, (0.0, 0.0, 0.0), "user")
    sp = ReferenceRegion("spleen", 20.0, 0.0, 20.0, 4.0, 1, (0.0, 0.0, 0.0), "user")
    return ReferenceSet(lv, sp, None)


S_REFS, F_REFS = _refs(6.0), _refs(2.0)  # SSTR liver 6, FDG liver 2


@pytest.mark.parametrize(
    ("sstr", "fdg", "grade"),
    [
        ([], [], "P0"),
        ([_lesion(1, (0, 0, 0), 18.0)], [], "P1"),
        # FDG T/L 3/2 = 1.5 vs SSTR 18/6 = 3: FDG less avid → P2
        ([_lesion(1, (0, 0, 0), 18.0)], [_lesion(1, (2, 0, 0), 3.0)], "P2"),
        # FDG 6/2 = 3 = SSTR 3 → P3
        ([_lesion(1, (0, 0, 0), 18.0)], [_lesion(1, (0, 2, 0), 6.0)], "P3"),
        # FDG 12/2 = 6 > 3 → P4
        ([_lesion(1, (0, 0, 0), 18.0)], [_lesion(1, (0, 0, 3), 12.0)], "P4"),
        # SSTR lesion with uptake below liver (Krenning 1) but FDG-avid → P5
        ([_lesion(1, (0, 0, 0), 4.0)], [_lesion(1, (0, 0, 0), 8.0)], "P5"),
        # FDG lesion 100 mm from any SSTR lesion, nothing to sample → SSTR-negative → P5
        ([_lesion(1, (0, 0, 0), 18.0)], [_lesion(1, (100, 0, 0), 8.0)], "P5"),
    ],
)
def test_netpet_grades(sstr: list[Any], fdg: list[Any], grade: str) -> None:
    # Grade definitions: Chan et al. 2017 Theranostics 7:1149 (see sstrkit.reading.scores).
    res = netpet_grade(sstr, fdg, sstr_refs=S_REFS, fdg_refs=F_REFS)
    assert res.grade == grade


def test_match_lesions_optimal_assignment() -> None:
    # Greedy nearest-first would pair b0 with a1 (1 mm) and leave a0 unmatched; the optimal
    # assignment pairs a0–b0 (10 mm) and a1–b1 (10 mm).
    a = [(0.0, 0.0, 0.0), (11.0, 0.0, 0.0)]
    b = [(10.0, 0.0, 0.0), (21.0, 0.0, 0.0)]
    pairs = match_lesions(a, b, max_distance_mm=10.0)
    assert [(i, j) for i, j, _ in pairs] == [(0, 0), (1, 1)]
    assert match_lesions([], [(0.0, 0.0, 0.0)]) == [(None, 0, None)]


def test_netpet_end_to_end_with_fdg_volume() -> None:
    # SSTR: two lesions. FDG: the SSTR lesion "node" is FDG-avid; an FDG-only lesion at a
    # site with background SSTR uptake (SUV 0.8 < liver) is FDG+/SSTR− → P5.
    sstr_p = build_patient(lesions=(TruthLesion("node", (30.0, -40.0, -30.0), 10.0, 30.0, 4),))
    fdg_p = build_patient(
        lesions=(
            TruthLesion("node", (30.0, -40.0, -30.0), 10.0, 9.0, 0),
            TruthLesion("fdg_only", (-50.0, -40.0, -50.0), 12.0, 12.0, 0),
        )
    )
    r = read_sstr_pet(
        sstr_p["suv"],
        organs=sstr_p["organs"],
        organ_names=sstr_p["names"],
        fdg=fdg_p["suv"],
        fdg_organs=fdg_p["organs"],
        fdg_organ_names=fdg_p["names"],
    )
    assert r.netpet is not None and r.netpet.grade == "P5"
    assert r.netpet.fdg_positive_sstr_negative == 1
    rule = next(o for o in r.eligibility.rules if o.id == "no_fdg_positive_sstr_negative")
    assert rule.status == "fail" and r.eligibility.eligible is False
    # Without the FDG-only lesion: FDG T/L 9/6 = 1.5 < SSTR 30/6 = 5 → P2.
    fdg_p2 = build_patient(lesions=(TruthLesion("node", (30.0, -40.0, -30.0), 10.0, 9.0, 0),))
    r2 = read_sstr_pet(
        sstr_p["suv"],
        organs=sstr_p["organs"],
        organ_names=sstr_p["names"],
        fdg=fdg_p2["suv"],
        fdg_organs=fdg_p2["organs"],
        fdg_organ_names=fdg_p2["names"],
    )
    assert r2.netpet is not None and r2.netpet.grade == "P2"


def test_netpet_fdg_only_lesion_inside_the_liver_is_sstr_negative() -> None:
    # An FDG-avid metastasis without SSTR expression inside the liver is *cold* on SSTR PET
    # (SUV 1.0 in liver 6). Sampling the SSTR scan by a maximum over the lesion radius
    # + 5 mm picked up the surrounding liver (SUV 6 = liver: Krenning 2, "SSTR-positive")
    # and returned P4; the 1 cm³ sphere mean at the centroid reads the lesion itself
    # (r = 12 mm > 6.2 mm: the sphere lies inside it) → SUV 1.0 < 0.9 × liver → P5.
    centre = (-62.0, -12.0, 42.0)
    sstr_p = build_patient(lesions=(TruthLesion("cold", centre, 12.0, 1.0, 0),))
    fdg_p = build_patient(lesions=(TruthLesion("fdg_only", centre, 12.0, 24.0, 0),))
    r = read_sstr_pet(
        sstr_p["suv"],
        organs=sstr_p["organs"],
        organ_names=sstr_p["names"],
        fdg=fdg_p["suv"],
        fdg_organs=fdg_p["organs"],
        fdg_organ_names=fdg_p["names"],
    )
    assert r.lesions == ()  # nothing above the liver on SSTR PET
    assert r.netpet is not None and r.netpet.grade == "P5"
    (pair,) = r.netpet.pairs
    assert pair.sstr_measure == "sphere_mean_1ml" and pair.fdg_measure == "suv_max"
    assert pair.sstr_suv == pytest.approx(1.0, rel=1e-6)  # every voxel of the sphere is lesion
    assert pair.sstr_krenning == 0  # ≤ 1.1 × blood pool 1.5


def test_netpet_noise_around_an_fdg_negative_liver_lesion_is_not_fdg_avidity() -> None:
    # SSTR-avid liver lesion (SUV 18) whose FDG uptake is below the liver (4.5 vs 6), FDG
    # image with 10 % voxel noise. The maximum of the noisy liver around the lesion
    # (radius + 5 mm: ~100 voxels of liver, +2.5 SD ≈ 7.5) exceeded the FDG liver mean and
    # made the lesion "FDG-positive" (P2). The 1 cm³ mean at the centroid is 4.5 ± 0.3
    # (15 voxels: 10 % × 4.5 / √15), far below 6 → FDG-negative → P1.
    lesion = TruthLesion("liver_k3", (-62.0, -12.0, 42.0), 12.0, 18.0, 3)
    sstr_p = build_patient(lesions=(lesion,))
    fdg_p = build_patient(lesions=(replace(lesion, suv=4.5),), noise=0.10, seed=2)
    r = read_sstr_pet(
        sstr_p["suv"],
        organs=sstr_p["organs"],
        organ_names=sstr_p["names"],
        fdg=fdg_p["suv"],
        fdg_organs=fdg_p["organs"],
        fdg_organ_names=fdg_p["names"],
    )
    assert r.netpet is not None and r.netpet.grade == "P1"
    (pair,) = r.netpet.pairs
    assert pair.fdg_measure == "sphere_mean_1ml" and not pair.fdg_positive
    assert pair.fdg_suv == pytest.approx(4.5, rel=0.15)
    assert r.fdg_references is not None and r.fdg_references.liver_mean is not None
    assert r.fdg_references.liver_mean == pytest.approx(6.0, rel=0.03)


def test_fdg_liver_reference_avoids_lesions_read_on_the_sstr_scan() -> None:
    # A 5 cm SSTR-avid metastasis at the deepest point of the right liver lobe whose FDG
    # uptake (5.0) is close to the liver's (6.0): not "hot" on FDG PET, so only the paired
    # SSTR reading tells that it is not normal liver. Without the exclusion the FDG liver
    # sphere (3 cm) sat inside it and read ≈ 5.0 instead of 6.0 (set value).
    lesion = TruthLesion("big", (-65.0, 0.0, 30.0), 25.0, 18.0, 3)
    sstr_p = build_patient(lesions=(lesion,))
    fdg_p = build_patient(lesions=(replace(lesion, suv=5.0),))
    r = read_sstr_pet(
        sstr_p["suv"],
        organs=sstr_p["organs"],
        organ_names=sstr_p["names"],
        fdg=fdg_p["suv"],
        fdg_organs=fdg_p["organs"],
        fdg_organ_names=fdg_p["names"],
    )
    assert r.fdg_references is not None and r.fdg_references.liver_mean is not None
    # 0.5 %: partial-volume voxels at the lesion's rim lie outside its SSTR contour (the
    # contour sits at half the lesion-liver contrast) and may touch the sphere.
    assert r.fdg_references.liver_mean == pytest.approx(6.0, rel=0.005)
    assert r.to_dict()["fdg_reference"]["liver_suv_mean"] == r.fdg_references.liver_mean
    old = measure_references(fdg_p["suv"], fdg_p["organs"], organ_names=fdg_p["names"])
    assert old.liver_mean is not None and old.liver_mean < 5.5  # what it read before
    with pytest.raises(InvalidInputError):  # a mask on another grid is refused
        measure_references(fdg_p["suv"], fdg_p["organs"], exclude=np.zeros((2, 2, 2), bool))


# ---------------------------------------------------------------------- CKD-EPI 2021
def test_ckd_epi_2021_hand_calculations() -> None:
    # eGFR = 142·min(S/κ,1)^α·max(S/κ,1)^-1.2·0.9938^age·1.012[F] (Inker et al. 2021).
    # Male, 50 y, S = 1.0 mg/dL: S/κ = 1/0.9 = 1.1111 → max term 1.1111^-1.2 = 0.881234;
    # 0.9938^50 = 0.732740 → 142 × 0.881234 × 0.732740 = 91.69.
    assert ckd_epi_2021(1.0, 50, "male") == pytest.approx(91.69, abs=0.01)
    # Female, 60 y, S = 0.6: S/κ = 0.6/0.7 = 0.857143 → min term 0.857143^-0.241 = 1.037849;
    # 0.9938^60 = 0.688556; × 1.012 → 142 × 1.037849 × 0.688556 × 1.012 = 102.69.
    assert ckd_epi_2021(0.6, 60, "F") == pytest.approx(102.69, abs=0.01)
    # Female, 70 y, S = 1.2: S/κ = 1.714286 → 1.714286^-1.2 = 0.523721; 0.9938^70 = 0.647038
    # → 142 × 0.523721 × 0.647038 × 1.012 = 48.70.
    assert ckd_epi_2021(1.2, 70, "female") == pytest.approx(48.70, abs=0.01)
    # Male, 30 y, S = 0.7: S/κ = 0.777778 → 0.777778^-0.302 = 1.078851; 0.9938^30 = 0.829793
    # → 142 × 1.078851 × 0.829793 = 127.12.
    assert ckd_epi_2021(0.7, 30, "m") == pytest.approx(127.12, abs=0.01)
    # µmol/L input: 88.4 µmol/L = 1.0 mg/dL (10 mg/L ÷ 113.12 g/mol).
    labs = Labs.from_mapping({"age_years": 50, "sex": "male", "creatinine_umol_l": 88.4})
    assert labs.egfr()[0] == pytest.approx(91.69, abs=0.01)
    for bad in ((0.0, 50, "m"), (1.0, 12, "m"), (1.0, 50, "x")):
        with pytest.raises(InvalidInputError):
            ckd_epi_2021(*bad)  # type: ignore[arg-type]


# ----------------------------------------------------------------------- eligibility
BASE = {"n_lesions": 3.0, "target_min_t_l": 2.0, "target_min_suv_max": 12.0}
GOOD_LABS = {
    "age_years": 70,
    "sex": "female",
    "creatinine_mg_dl": 0.9,
    "haemoglobin_g_dl": 12.0,
    "platelets_1e9_per_l": 200.0,
    "wbc_1e9_per_l": 6.0,
    "bilirubin_umol_l": 9.0,
    "albumin_g_l": 41.0,
}


#: The required lab rules of the default rule file, in file order.
ALL_LABS = ("egfr", "haemoglobin", "platelets", "white_cells", "bilirubin", "albumin")


def _decide(labs: dict[str, Any], **kw: Any) -> Any:
    values = {**BASE, **Labs.from_mapping(labs).quantities()}
    values.update(kw.pop("values", {}))
    return evaluate(load_rules(), values, **kw)


def test_all_good_is_eligible() -> None:
    d = _decide(GOOD_LABS)
    assert d.eligible and not d.complete  # FDG rule missing (not required)
    assert all(r.source for r in d.rules)
    assert {r.id for r in d.rules} >= {"uptake_ge_liver", "egfr", "haemoglobin", "platelets"}


@pytest.mark.parametrize(
    ("key", "ok", "bad"),
    [
        ("haemoglobin_g_dl", 8.0, 7.99),  # ≥ 8.0 g/dL (NETTER-1)
        ("platelets_1e9_per_l", 75.0, 74.9),  # ≥ 75 × 10^9/L
        ("wbc_1e9_per_l", 2.0, 1.99),  # ≥ 2.0 × 10^9/L
        # eGFR crosses 50 between 1.17 and 1.18 mg/dL for a 70-year-old woman:
        # 142·(S/0.7)^-1.2·0.647038·1.012 = 50 → S = 0.7·0.537722^(-1/1.2) = 1.1740 mg/dL.
        ("creatinine_mg_dl", 1.17, 1.18),
    ],
)
def test_eligibility_flips_at_threshold(key: str, ok: float, bad: float) -> None:
    assert _decide({**GOOD_LABS, key: ok}).eligible
    d = _decide({**GOOD_LABS, key: bad})
    assert not d.eligible
    assert [r.status for r in d.rules].count("fail") == 1


def test_uptake_and_tracer_specific_rules() -> None:
    assert not _decide(GOOD_LABS, values={"target_min_t_l": 0.99}).eligible
    # SUV > 5.0 applies to 90Y-DOTATOC after 68Ga-DOTATOC PET only.
    low = {"target_min_suv_max": 5.0}
    assert _decide(GOOD_LABS, values=low, therapy="177Lu-DOTATATE", tracer="68Ga-DOTATOC").eligible
    d = _decide(GOOD_LABS, values=low, therapy="90Y-DOTATOC", tracer="68Ga-DOTATOC")
    rule = next(r for r in d.rules if r.id == "suv_gt_5_for_90y_dotatoc")
    assert rule.status == "fail" and not d.eligible
    ok = _decide(
        GOOD_LABS,
        values={"target_min_suv_max": 5.01},
        therapy="90Y-DOTATOC",
        tracer="68Ga-DOTATOC",
    )
    assert ok.eligible


def test_missing_required_value_is_not_assessed() -> None:
    labs = {k: v for k, v in GOOD_LABS.items() if k != "creatinine_mg_dl"}
    d = _decide(labs)
    assert d.eligible is None and d.status == "not_assessed" and not d.complete
    assert d.missing == ("egfr",)
    assert next(r for r in d.rules if r.id == "egfr").status == "missing"
    assert decision_headline(d.to_dict()) == (
        "NOT ASSESSED: labs missing (eGFR (creatinine, age, sex))"
    )


def test_no_labs_is_not_assessed_and_lists_what_is_missing() -> None:
    # Imaging rules all pass (BASE), no labs at all: the six required lab rules of the
    # default rule file (egfr, haemoglobin, platelets, white_cells and the NETTER-1 liver
    # rules bilirubin, albumin) cannot be checked.
    d = evaluate(load_rules(), {**BASE, **Labs().quantities()})
    assert d.eligible is None and d.status == "not_assessed"
    assert d.missing == ALL_LABS
    doc = d.to_dict()
    assert doc["status"] == "not_assessed" and doc["eligible"] is None
    assert doc["missing"] == list(ALL_LABS)
    head = decision_headline(doc)
    assert head.startswith("NOT ASSESSED: labs missing (")
    for name in ("creatinine", "haemoglobin", "platelets", "white cells"):
        assert name in head
    assert head.endswith("; liver tests missing (total bilirubin, albumin)")


def test_a_failing_rule_is_not_eligible_even_with_labs_missing() -> None:
    # T/L 0.5 < 1 fails uptake_ge_liver; the labs are missing too: the failure decides.
    d = evaluate(load_rules(), {**BASE, "target_min_t_l": 0.5})
    assert d.eligible is False and d.status == "not_eligible"
    assert d.missing == ALL_LABS
    head = decision_headline(d.to_dict())
    assert head.startswith("NOT ELIGIBLE: uptake_ge_liver not met")
    assert "also not checked: labs missing" in head


def test_all_pass_is_eligible_status() -> None:
    d = _decide(GOOD_LABS)
    assert d.eligible is True and d.status == "eligible" and d.missing == ()
    assert decision_headline(d.to_dict()) == "ELIGIBLE"
    # A decision written before "status" existed is read from "eligible".
    assert decision_status({"eligible": False}) == "not_eligible"
    assert decision_status({"eligible": None}) == "not_assessed"


def test_user_rules_file(tmp_path: Path) -> None:
    f = tmp_path / "rules.toml"
    f.write_text(
        "schema_version = 1\n[[rule]]\nid = 'hb'\nquantity = 'haemoglobin_g_dl'\n"
        "operator = '>='\nthreshold = 10.0\nsource = 'local protocol'\n",
        encoding="utf-8",
    )
    rules = load_rules(f)
    assert rules[1] == str(f)
    assert evaluate(rules, {"haemoglobin_g_dl": 10.0}).eligible
    assert not evaluate(rules, {"haemoglobin_g_dl": 9.9}).eligible
    for text, match in [
        ("[[rule]]\nid='a'\nquantity='nope'\noperator='>'\nthreshold=1\nsource='x'", "quantity"),
        ("[[rule]]\nid='a'\nquantity='n_lesions'\noperator='!'\nthreshold=1\nsource='x'", "op"),
        ("[[rule]]\nid='a'\nquantity='n_lesions'\noperator='>'\nthreshold=1", "missing"),
        ("x = [", "TOML"),
        ("schema_version = 1", "rule"),
    ]:
        f.write_text(text, encoding="utf-8")
        with pytest.raises(InvalidInputError, match=match):
            load_rules(f)


def test_labs_parsing() -> None:
    assert Labs.from_mapping({"haemoglobin_g_l": 95}).haemoglobin_g_dl == pytest.approx(9.5)
    assert Labs.from_mapping({"egfr_ml_min_1_73m2": 44}).egfr() == (
        44.0,
        "measured (given in the labs)",
    )
    for bad in (
        {"hb": 1},
        {"haemoglobin_g_dl": "x"},
        {"wbc_1e9_per_l": -1},
        {"creatinine_mg_dl": 1, "creatinine_umol_l": 88},
    ):
        with pytest.raises(InvalidInputError):
            Labs.from_mapping(bad)
