"""``sstrkit dose organs CASE`` end to end (YAML and JSON inputs, bad input)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.therapy.marrow import red_marrow_dose
from sstrkit.therapy.mird import Region, organ_doses

runner = CliRunner()
MBQ_H = 3.6e9  # Bq·s per MBq·h (1e6 Bq × 3600 s)

CASE_YAML = """
nuclide: Lu-177
administered_activity_mbq: 7400
patient: {sex: male, mass_kg: 70}
regions:
  - {name: kidneys, tia_mbq_h: 11000, mass_g: 300}
  - {name: liver, tia_mbq_h: 20000, mass_g: 1800}
  - {name: lesion 1, kind: lesion, tia_mbq_h: 3000, mass_g: 12.5}
whole_body: {tia_mbq_h: 160000}
red_marrow: {blood_tia_mbq_h_per_ml: 0.05}
"""


def _error_doc(stdout: str) -> bool:
    """With --json an error prints exactly one JSON error document on stdout (exit 2)."""
    import json as _json

    return bool(_json.loads(stdout)["error"]["exit_code"] == 2)


def test_dose_organs_matches_library(tmp_path: Path) -> None:
    case = tmp_path / "case.yaml"
    case.write_text(CASE_YAML, encoding="utf-8")
    res = runner.invoke(app, ["dose", "organs", str(case), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    lib = organ_doses(
        "Lu-177",
        [
            Region("kidneys", 11000 * MBQ_H, 300.0),
            Region("liver", 20000 * MBQ_H, 1800.0),
            Region("lesion 1", 3000 * MBQ_H, 12.5, kind="lesion"),
        ],
        whole_body_tia_bq_s=160000 * MBQ_H,
        whole_body_mass_g=70000.0,
    )
    by_name = {r["name"]: r for r in doc["regions"]}
    assert by_name["kidneys"]["total_gy"] == pytest.approx(lib["kidneys"].total_gy, rel=1e-12)
    assert by_name["lesion 1"]["electron_absorbed_fraction"] < 1.0
    assert doc["gy_per_gbq"]["kidneys"] == pytest.approx(lib["kidneys"].total_gy / 7.4)
    rm = red_marrow_dose(
        "Lu-177",
        blood_tia_bq_s_per_ml=0.05 * MBQ_H,
        patient_mass_g=70000.0,
        whole_body_tia_bq_s=160000 * MBQ_H,
    )
    assert doc["red_marrow"]["total_gy"] == pytest.approx(rm.total_gy, rel=1e-12)
    assert doc["whole_body"]["total_gy"] > 0
    assert doc["provenance"][0]["inputs"] == ["case.yaml"]


def test_dose_organs_table_output(tmp_path: Path) -> None:
    case = tmp_path / "case.json"
    case.write_text(
        json.dumps(
            {"nuclide": "Y-90", "regions": [{"name": "kidneys", "tia_mbq_h": 1e3, "mass_g": 300}]}
        ),
        encoding="utf-8",
    )
    res = runner.invoke(app, ["dose", "organs", str(case)])
    assert res.exit_code == 0, res.output
    assert "kidneys" in res.stdout


@pytest.mark.parametrize(
    "content",
    [
        "nuclide: Lu-177\nregions: []\n",
        "nuclide: Lu-177\nregions:\n  - {name: k, tia_mbq_h: -1, mass_g: 300}\n",
        "nuclide: Lu-177\nregions:\n  - {name: k, tia_mbq_h: 1, mass_g: 300, colour: red}\n",
        (
            "nuclide: Lu-177\nregions:\n  - {name: k, tia_mbq_h: 10, mass_g: 300}\n"
            "whole_body: {tia_mbq_h: 1}\n"
        ),
        "nuclide: [unclosed\n",
    ],
)
def test_dose_organs_bad_case_exit_2(tmp_path: Path, content: str) -> None:
    case = tmp_path / "bad.yaml"
    case.write_text(content, encoding="utf-8")
    res = runner.invoke(app, ["dose", "organs", str(case), "--json"])
    assert res.exit_code == 2
    assert _error_doc(res.stdout)


def test_dose_organs_missing_file(tmp_path: Path) -> None:
    res = runner.invoke(app, ["dose", "organs", str(tmp_path / "nope.yaml")])
    assert res.exit_code == 2


def test_dose_organs_accepts_shared_case_file() -> None:
    """`dose organs` on the planning case file gives the same doses as the library chain."""
    from sstrkit.therapy.case import example_case_path, load_case
    from sstrkit.therapy.planning import cycle_dosimetry

    path = example_case_path()
    res = CliRunner().invoke(app, ["dose", "organs", str(path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    case = load_case(path)
    expected = cycle_dosimetry(case, case.administrations[0])
    assert expected is not None
    got = {r["name"]: r["dose_gy"] for r in out["cycles"][0]["regions"]}
    assert got == {k: v.dose_gy for k, v in expected.regions.items()}
    # One cycle only: the cumulative dose equals the cycle dose.
    assert out["cumulative_dose_gy"] == got


def test_dose_organs_and_plan_write_csv(tmp_path: Path) -> None:
    """CSV tables carry the same numbers as the JSON result (units in the column names)."""
    import csv

    from sstrkit.therapy.case import example_case_path

    path = str(example_case_path())
    d_csv, p_csv = tmp_path / "doses.csv", tmp_path / "plan.csv"
    res = CliRunner().invoke(app, ["dose", "organs", path, "--csv", str(d_csv), "--json"])
    assert res.exit_code == 0, res.output
    doses = json.loads(res.stdout)["cycles"][0]["regions"]
    rows = list(csv.DictReader(d_csv.read_text().splitlines()))
    assert [r["region"] for r in rows] == [r["name"] for r in doses]
    assert [float(r["dose_gy"]) for r in rows] == pytest.approx([r["dose_gy"] for r in doses])
    res = CliRunner().invoke(app, ["plan", path, "--csv", str(p_csv), "--json"])
    assert res.exit_code == 0, res.output
    projected = json.loads(res.stdout)["projected"]
    rows = list(csv.DictReader(p_csv.read_text().splitlines()))
    assert {r["region"]: float(r["absorbed_gy"]) for r in rows} == pytest.approx(
        {k: v["absorbed_gy"] for k, v in projected.items()}
    )


def test_dose_organs_sex_spellings_give_the_same_output(tmp_path: Path) -> None:
    """The dose input may write sex as male/female (as before) or M/F: same JSON output,
    which keeps the ICRP 89 word ("male") in the red-marrow mass source."""
    outs = []
    for sex in ("male", "M"):
        case = tmp_path / f"case_{sex}.yaml"
        case.write_text(CASE_YAML.replace("sex: male", f"sex: {sex}"), encoding="utf-8")
        res = runner.invoke(app, ["dose", "organs", str(case), "--json"])
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        doc["provenance"][0]["inputs"] = doc["red_marrow"]["provenance"][0]["inputs"] = []
        outs.append(doc)
    assert outs[0] == outs[1]
    assert outs[0]["red_marrow"]["mass_source"] == "ICRP 89 reference (male) scaled by body mass"
