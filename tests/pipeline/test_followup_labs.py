"""The follow-up stage with liver tests and chromogranin A (issue 23, item 4).

The stage is run on clinical records (clinical.json ``labs``) without imaging. Expected
grades and categories are CTCAE v5.0 (NCI 2017) and the CgA criteria of
sstrkit.followup.biochemical (fall ≥ 50 % = response, rise ≥ 25 % = progression),
applied by hand to the values written here.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sstrkit.pipeline.manifest import parse_clinical
from sstrkit.pipeline.results import FollowupStage, RunResult
from sstrkit.pipeline.stages.followup import stage_followup

LIVER_AND_CGA = (
    "bilirubin_umol_l",
    "albumin_g_l",
    "alt_u_l",
    "ast_u_l",
    "alp_u_l",
    "inr",
    "chromogranin_a_ug_l",
    "alt_uln_u_l",
)


def _labs() -> list[dict[str, Any]]:
    t0 = _dt.datetime(2026, 1, 4, 8, tzinfo=_dt.UTC)
    rows = [
        # before cycle 1: ALT 30 (ULN 40 of this lab), CgA 400
        (0, 80.0, 13.0, 9.0, 42.0, 30.0, 400.0),
        # before cycle 2: ALT 130 = 3.25 × ULN → G2; CgA 260 (−35 %: stable)
        (56, 90.0, 12.5, 12.0, 38.0, 130.0, 260.0),
        # follow-up: ALT 50 (G1), albumin 29 (G2), creatinine 120 > 106 → renal flag,
        # CgA 190 (−52.5 %: response)
        (112, 120.0, 12.2, 15.0, 29.0, 50.0, 190.0),
    ]
    out = []
    for day, creat, hb, bili, alb, alt, cga in rows:
        out.append(
            {
                "time": (t0 + _dt.timedelta(days=day)).isoformat(),
                "creatinine_umol_l": creat,
                "haemoglobin_g_dl": hb,
                "platelets_1e9_l": 240.0,
                "wbc_1e9_l": 6.0,
                "bilirubin_umol_l": bili,
                "albumin_g_l": alb,
                "alt_u_l": alt,
                "ast_u_l": 25.0,
                "alp_u_l": 90.0,
                "inr": 1.0,
                "chromogranin_a_ug_l": cga,
                "alt_uln_u_l": 40.0,
            }
        )
    return out


def _run(labs: list[dict[str, Any]]) -> FollowupStage:
    study = SimpleNamespace(
        clinical_record=parse_clinical({"labs": labs}), manifest={"patient": {"id": "P1"}}
    )
    res = RunResult(study=Path("s"), out=Path("o"))
    return stage_followup(study, res)  # type: ignore[arg-type]


def test_liver_grades_over_time_with_the_labs_own_uln() -> None:
    st = _run(_labs())
    assert st.hepatotoxicity is not None
    alt = st.hepatotoxicity.timeline(["alanine_aminotransferase_increased"])
    # ULN 40 from the records (default would be 55: 130 U/L = 2.4 × 55 → G1, not G2)
    assert [(g.time_s / 86400.0, g.grade) for g in alt] == [(0.0, 0), (56.0, 2), (112.0, 1)]
    alb = st.hepatotoxicity.timeline(["hypoalbuminemia"])
    assert [g.grade for g in alb] == [0, 0, 2]  # 42, 38 ≥ LLN 35; 29 < 30
    (p,) = st.hepatotoxicity.patients
    assert p.worst_grade["alanine_aminotransferase_increased"] == 2
    assert st.lab_time_origin == _dt.datetime(2026, 1, 4, 8, tzinfo=_dt.UTC)


def test_cga_response_with_renal_flag() -> None:
    st = _run(_labs())
    cga = st.biochemical_response
    assert cga is not None
    assert [p.category for p in cga.points] == ["baseline", "stable", "response"]
    assert cga.status == "response" and cga.nadir is not None and cga.nadir.value_ug_l == 190.0
    assert cga.last is not None
    assert cga.last.change_from_baseline_pct == pytest.approx(-52.5)
    assert any("renal impairment" in f for f in cga.last.flags)  # creatinine 120 > 106
    assert not any("renal" in f for f in cga.points[1].flags)  # 90 ≤ 106


def test_existing_keys_are_unchanged_and_new_keys_added() -> None:
    # The same labs without liver values and CgA give the blood/kidney toxicity the
    # stage gave before issue 23; with them, that "toxicity" is identical and only the
    # new keys (and the new values in "labs") are added.
    labs = _labs()
    plain = [{k: v for k, v in r.items() if k not in LIVER_AND_CGA} for r in labs]
    before = json.loads(json.dumps(_run(plain).to_dict()))
    after = json.loads(json.dumps(_run(labs).to_dict()))
    assert set(before) == {"toxicity", "labs"}
    assert set(after) == {
        "toxicity",
        "labs",
        "hepatotoxicity",
        "biochemical_response",
        "lab_time_origin",
    }
    assert after["toxicity"] == before["toxicity"]
    assert after["hepatotoxicity"]["hepatic_reference_ranges"]["alt_uln_u_l"] == 40.0
    assert after["biochemical_response"]["status"] == "response"
    assert after["lab_time_origin"] == "2026-01-04T08:00:00+00:00"


def test_cga_alone_and_a_single_value() -> None:
    labs = _labs()
    only_first = [{**labs[0]}] + [
        {k: v for k, v in r.items() if k != "chromogranin_a_ug_l"} for r in labs[1:]
    ]
    st = _run(only_first)
    assert st.biochemical_response is not None
    assert st.biochemical_response.status == "not_assessed"
