"""NETTER-1 liver eligibility rules (data/eligibility_rules.toml), at both sides of each threshold.

Sources of the thresholds: NETTER-1 exclusion criteria (ClinicalTrials.gov NCT01578239;
Strosberg J et al. N Engl J Med 2017;376:125-135): total bilirubin > 3 × ULN; serum albumin
≤ 3.0 g/dL (30 g/L) unless the prothrombin time is within the normal range (read as
INR ≤ its upper reference limit). The edge values are chosen exact in binary floating point
(60/20 = 3.0, 1.2/1.2 = 1.0) so that "at the threshold" is tested without a tolerance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sstrkit.errors import InvalidInputError
from sstrkit.reading.eligibility import (
    BILIRUBIN_UMOL_PER_MG_DL,
    Labs,
    decision_headline,
    evaluate,
    load_rules,
)

IMAGES = {"n_lesions": 3.0, "target_min_t_l": 2.0, "target_min_suv_max": 12.0}
GOOD = {
    "age_years": 60,
    "sex": "male",
    "creatinine_mg_dl": 0.9,
    "haemoglobin_g_dl": 13.0,
    "platelets_1e9_per_l": 220.0,
    "wbc_1e9_per_l": 6.0,
    "bilirubin_umol_l": 9.0,
    "albumin_g_l": 42.0,
}


def _decide(**labs: Any) -> Any:
    return evaluate(load_rules(), {**IMAGES, **Labs.from_mapping({**GOOD, **labs}).quantities()})


def _rule(d: Any, rid: str) -> Any:
    return next(r for r in d.rules if r.id == rid)


# ----------------------------------------------------------------------------- bilirubin
def test_bilirubin_three_times_uln_is_eligible_just_above_is_not() -> None:
    # NETTER-1 excludes total bilirubin > 3 × ULN: with the lab's ULN 20 µmol/L,
    # 60.0 µmol/L (= 3.0 × ULN) is still eligible, 60.1 µmol/L (3.005 × ULN) is not.
    ok = _decide(bilirubin_umol_l=60.0, bilirubin_uln_umol_l=20.0)
    assert ok.status == "eligible" and _rule(ok, "bilirubin").value == 3.0
    bad = _decide(bilirubin_umol_l=60.1, bilirubin_uln_umol_l=20.0)
    assert bad.status == "not_eligible"
    assert [r.id for r in bad.rules if r.status == "fail"] == ["bilirubin"]
    assert decision_headline(bad.to_dict()) == "NOT ELIGIBLE: bilirubin not met"


def test_bilirubin_default_uln_and_mg_dl() -> None:
    # Default ULN 1.0 mg/dL = 17.104 µmol/L (bilirubin 584.66 g/mol): 51.0 µmol/L is
    # 2.98 × ULN (eligible), 51.5 µmol/L 3.01 × ULN (not); 2.9 mg/dL = 49.6 µmol/L passes,
    # 3.1 mg/dL fails. The value reported is the multiple of the ULN.
    assert _decide(bilirubin_umol_l=51.0).status == "eligible"
    assert _decide(bilirubin_umol_l=51.5).status == "not_eligible"
    labs = {k: v for k, v in GOOD.items() if k != "bilirubin_umol_l"}
    d = evaluate(
        load_rules(), {**IMAGES, **Labs.from_mapping({**labs, "bilirubin_mg_dl": 2.9}).quantities()}
    )
    assert _rule(d, "bilirubin").value == pytest.approx(2.9, rel=1e-12)  # same unit both ways
    assert d.status == "eligible"
    parsed = Labs.from_mapping({**labs, "bilirubin_mg_dl": 3.1})
    assert parsed.bilirubin_umol_l == pytest.approx(3.1 * BILIRUBIN_UMOL_PER_MG_DL)
    d = evaluate(load_rules(), {**IMAGES, **parsed.quantities()})
    assert d.status == "not_eligible"


def test_missing_bilirubin_is_not_assessed_never_eligible() -> None:
    labs = {k: v for k, v in GOOD.items() if k != "bilirubin_umol_l"}
    d = evaluate(load_rules(), {**IMAGES, **Labs.from_mapping(labs).quantities()})
    assert d.eligible is None and d.status == "not_assessed" and d.missing == ("bilirubin",)
    assert decision_headline(d.to_dict()) == ("NOT ASSESSED: liver tests missing (total bilirubin)")


# ----------------------------------------------------------------------------- albumin
def test_albumin_above_30_g_l_is_eligible_without_inr() -> None:
    # 30.1 g/L > 3.0 g/dL: the rule passes and its exception is never looked at.
    d = _decide(albumin_g_l=30.1)
    assert d.status == "eligible"
    rule = _rule(d, "albumin")
    assert rule.status == "pass" and rule.exception is None
    assert "exception" not in rule.to_dict()


def test_albumin_30_g_l_needs_a_normal_prothrombin_time() -> None:
    # ≤ 3.0 g/dL excludes unless the prothrombin time is normal. INR 1.2 with the lab's
    # upper limit 1.2 (ratio 1.0) is normal: eligible by the exception; INR 1.21 is not.
    met = _decide(albumin_g_l=30.0, inr=1.2, inr_uln=1.2)
    assert met.status == "eligible"
    rule = _rule(met, "albumin")
    assert rule.status == "pass" and rule.passed is True
    assert rule.exception is not None and rule.exception["status"] == "met"
    assert rule.to_dict()["exception"]["value"] == 1.0
    not_met = _decide(albumin_g_l=30.0, inr=1.21, inr_uln=1.2)
    assert not_met.status == "not_eligible"
    assert _rule(not_met, "albumin").exception["status"] == "not_met"
    # default upper limit 1.1 (MedlinePlus 0.8–1.1): INR 1.0 normal, 1.3 not
    assert _decide(albumin_g_l=25.0, inr=1.0).status == "eligible"
    assert _decide(albumin_g_l=25.0, inr=1.3).status == "not_eligible"


def test_low_albumin_without_inr_is_not_assessed() -> None:
    # The exception cannot be checked: neither eligible nor excluded.
    d = _decide(albumin_g_l=28.0)
    assert d.eligible is None and d.status == "not_assessed" and d.missing == ("albumin",)
    rule = _rule(d, "albumin")
    assert rule.status == "missing" and rule.value == 28.0
    assert rule.exception["status"] == "missing"
    assert decision_headline(d.to_dict()) == (
        "NOT ASSESSED: liver tests missing (INR (prothrombin time), needed as albumin is 28)"
    )


def test_albumin_in_g_dl_and_missing_albumin() -> None:
    assert Labs.from_mapping({"albumin_g_dl": 3.0}).albumin_g_l == pytest.approx(30.0)
    labs = {k: v for k, v in GOOD.items() if k != "albumin_g_l"}
    d = evaluate(
        load_rules(), {**IMAGES, **Labs.from_mapping({**labs, "albumin_g_dl": 3.0}).quantities()}
    )
    assert _rule(d, "albumin").status == "missing"  # 30 g/L fails, no INR given
    d = evaluate(load_rules(), {**IMAGES, **Labs.from_mapping(labs).quantities()})
    assert d.status == "not_assessed" and d.missing == ("albumin",)


def test_other_rules_keep_their_json_shape() -> None:
    # Only a rule whose exception was looked at carries "exception" in the JSON.
    doc = _decide(albumin_g_l=30.0, inr=1.0).to_dict()
    keys = {r["id"]: set(r) for r in doc["rules"]}
    assert "exception" in keys["albumin"]
    assert all("exception" not in k for rid, k in keys.items() if rid != "albumin")


# ----------------------------------------------------------------------------- parsing
def test_labs_accept_the_clinical_record_keys() -> None:
    # A clinical.json lab record carries ALT, AST, ALP, CgA, reference limits and
    # medication flags; eligibility accepts them (the follow-up reads them).
    labs = Labs.from_mapping(
        {
            **GOOD,
            "alt_u_l": 30.0,
            "ast_u_l": 28.0,
            "alp_u_l": 90.0,
            "chromogranin_a_ug_l": 250.0,
            "proton_pump_inhibitor": False,
            "inr": 1.0,
        }
    )
    assert labs.inr == 1.0 and labs.albumin_g_l == 42.0
    for bad in (
        {"bilirubin_umol_l": 10.0, "bilirubin_mg_dl": 0.6},
        {"albumin_g_l": 40.0, "albumin_g_dl": 4.0},
        {"inr_uln": 0.0},
        {"bilirubin_uln_umol_l": 0.0},
        {"inr": True},
    ):
        with pytest.raises(InvalidInputError):
            Labs.from_mapping(bad)


def test_user_rule_file_with_an_exception(tmp_path: Path) -> None:
    f = tmp_path / "rules.toml"
    f.write_text(
        "[[rule]]\nid = 'alb'\nquantity = 'albumin_g_l'\noperator = '>='\nthreshold = 28\n"
        "source = 'local'\nunless = { quantity = 'inr_x_uln', operator = '<', threshold = 1.5 }\n",
        encoding="utf-8",
    )
    rules = load_rules(f)
    assert rules[0][0].unless is not None and rules[0][0].unless.threshold == 1.5
    assert evaluate(rules, {"albumin_g_l": 28.0}).status == "eligible"
    assert evaluate(rules, {"albumin_g_l": 27.9, "inr_x_uln": 1.49}).status == "eligible"
    assert evaluate(rules, {"albumin_g_l": 27.9, "inr_x_uln": 1.5}).status == "not_eligible"
    assert evaluate(rules, {"albumin_g_l": 27.9}).status == "not_assessed"
    for unless, match in (
        ("'x'", "unless"),
        ("{ quantity = 'nope', operator = '<', threshold = 1 }", "quantity"),
        ("{ quantity = 'inr_x_uln', operator = '!', threshold = 1 }", "operator"),
        ("{ quantity = 'inr_x_uln', operator = '<', threshold = 'a' }", "threshold"),
    ):
        f.write_text(
            "[[rule]]\nid = 'alb'\nquantity = 'albumin_g_l'\noperator = '>='\nthreshold = 28\n"
            f"source = 'local'\nunless = {unless}\n",
            encoding="utf-8",
        )
        with pytest.raises(InvalidInputError, match=match):
            load_rules(f)
