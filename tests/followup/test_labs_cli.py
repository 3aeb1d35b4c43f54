"""CLI: liver terms in ``outcomes toxicity`` and ``followup biochemical`` (chromogranin A).

Expected grades: CTCAE v5.0 (NCI 2017) by hand for the values in the tables; expected CgA
categories: fall ≥ 50 % response, rise ≥ 25 % progression (sstrkit.followup.biochemical).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from sstrkit.cli.main import app

runner = CliRunner()


def _run(*args: str) -> Any:
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_toxicity_grades_liver_terms_with_the_given_uln(tmp_path: Path) -> None:
    labs = tmp_path / "labs.csv"
    labs.write_text("patient_id,day,alt_u_l,albumin_g_l\nA,0,30,40\nA,56,130,29.9\n")
    # ALT 130 U/L: 3.25 × ULN 40 → G2; 2.36 × the default ULN 55 → G1. Albumin 29.9 → G2.
    t = _run("outcomes", "toxicity", str(labs), "--alt-uln-u-l", "40")
    worst = t["patients"][0]["worst_grade"]
    assert worst == {"alanine_aminotransferase_increased": 2, "hypoalbuminemia": 2}
    assert t["hepatic_reference_ranges"]["alt_uln_u_l"] == 40.0
    default = _run("outcomes", "toxicity", str(labs))
    assert default["patients"][0]["worst_grade"]["alanine_aminotransferase_increased"] == 1


def test_biochemical_command(tmp_path: Path) -> None:
    cga = tmp_path / "cga.csv"
    cga.write_text(
        "patient_id,date,chromogranin_a_ug_l,proton_pump_inhibitor\n"
        "A,2026-01-04,400,no\nA,2026-03-01,200,no\nA,2026-04-26,210,yes\n"
        "B,2026-01-10,300,\nB,2026-03-07,375,\n"
    )
    doc = _run("followup", "biochemical", str(cga))
    a, b = doc["patients"]
    # A: 200 = −50 % (response), then 210 = −47.5 % (stable): status of the last value,
    # best response kept
    assert (a["patient_id"], a["status"], a["best_response"]) == ("A", "stable", "response")
    assert [p["category"] for p in a["points"]] == ["baseline", "response", "stable"]
    assert a["points"][1]["time_days"] == 56.0
    assert any("proton-pump inhibitor" in f for f in a["points"][2]["flags"])
    assert b["status"] == "progression"  # 375 = +25 %
    strict = _run("outcomes", "biochemical", str(cga), "--progression-rise-pct", "30")
    assert strict["patients"][1]["status"] == "stable"
    res = runner.invoke(app, ["outcomes", "biochemical", str(cga)])
    assert res.exit_code == 0 and "Chromogranin A" in res.output
    # each patient's own caveats are printed, not only the first patient's (B: PPI unknown)
    assert "note (A)" in res.output and "note (B)" in res.output
    bad = tmp_path / "bad.csv"
    bad.write_text("day,cga\n0,1\n")
    res = runner.invoke(app, ["outcomes", "biochemical", str(bad)])
    assert res.exit_code != 0 and "chromogranin_a_ug_l" in res.output
