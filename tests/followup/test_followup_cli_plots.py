"""CLI contract of the follow-up commands and atomic plot files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.errors import InvalidInputError
from sstrkit.followup.plots import swimmer_plot, waterfall_plot

runner = CliRunner()


def run(*args: str) -> dict:  # type: ignore[type-arg]
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_stats_concordance_contract() -> None:
    d = run("stats", "concordance", "--both", "280", "--ref-only", "29", "--test-only", "9")
    assert (round(100 * d["sensitivity"]), round(100 * d["accuracy"]), round(100 * d["ppv"])) == (
        91,
        88,
        97,
    )
    assert (
        d["ci95"]["sensitivity"]["wilson"][0]
        < d["sensitivity"]
        < d["ci95"]["sensitivity"]["wilson"][1]
    )
    alias = run("followup", "concordance", "--both", "280", "--only-a", "29", "--only-b", "9")
    assert alias["ppv"] == d["ppv"]


def test_cli_error_is_one_line_exit_2() -> None:
    res = runner.invoke(
        app, ["stats", "concordance", "--both", "0", "--ref-only", "0", "--test-only", "3"]
    )
    assert res.exit_code == 2
    assert "error: lesion counts" in res.output


def _write(p: Path, doc: object) -> Path:
    p.write_text(json.dumps(doc))
    return p


def test_response_recist_contract(tmp_path: Path) -> None:
    def les(i: str, d: float) -> dict[str, object]:
        return {
            "id": i,
            "organ": i,
            "is_node": False,
            "target": True,
            "diameter_mm": d,
            "new": False,
        }

    b = _write(tmp_path / "b.json", {"day": 0, "lesions": [les("L1", 40), les("L2", 30)]})
    f1 = _write(tmp_path / "f1.json", {"day": 56, "lesions": [les("L1", 20), les("L2", 15)]})
    f2 = _write(tmp_path / "f2.json", {"day": 112, "lesions": [les("L1", 0), les("L2", 0)]})
    f3 = _write(tmp_path / "f3.json", {"day": 168, "lesions": [les("L1", 0), les("L2", 0)]})
    d = run("response", "recist", str(b), str(f1), str(f2), str(f3))
    tps = d["time_points"]
    assert [t["response"] for t in tps] == ["PR", "CR", "CR"]
    assert tps[0]["sum_mm"] == 35.0 and tps[0]["change_from_baseline"] == pytest.approx(-0.5)
    assert tps[1]["change_from_nadir"] == pytest.approx(-1.0)
    assert d["best_overall_response"]["response"] == "CR"


def test_recist_long_csv_with_waterfall(tmp_path: Path) -> None:
    csv = tmp_path / "lesions.csv"
    csv.write_text(
        "patient_id,timepoint,day,id,organ,diameter_mm,new\n"
        "P1,base,0,L1,liver,50,0\nP1,c2,60,L1,liver,30,0\nP1,c4,120,L1,liver,28,0\n"
        "P2,base,0,L1,liver,20,0\nP2,c2,60,L1,liver,26,0\n"
    )
    out = tmp_path / "waterfall.png"
    d = run("response", "recist", str(csv), "--waterfall", str(out))
    assert d["patients"]["P1"]["best_overall_response"]["response"] == "PR"
    assert d["patients"]["P2"]["time_points"][0]["response"] == "PD"  # +30 %, +6 mm
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_percist_and_sstr_commands(tmp_path: Path) -> None:
    liver = {"mean": 2.0, "sd": 0.2}
    b = _write(tmp_path / "pb.json", {"lesions": [{"id": "a", "sul_peak": 8.0}], "liver": liver})
    f = _write(tmp_path / "pf.json", {"lesions": [{"id": "a", "sul_peak": 5.0}], "liver": liver})
    d = run("response", "percist", str(b), str(f))
    assert d["response"] == "PMR" and d["change_pct"] == pytest.approx(-37.5)
    sb = _write(
        tmp_path / "sb.json",
        {
            "spleen_suv": 10,
            "lesions": [{"id": "a", "suv_max": 30, "position_mm": [0, 0, 0], "volume_ml": 12}],
        },
    )
    sf = _write(
        tmp_path / "sf.json",
        {
            "spleen_suv": 10,
            "lesions": [{"id": "z", "suv_max": 24, "position_mm": [3, 4, 0], "volume_ml": 9}],
        },
    )
    s = run("response", "sstr", str(sb), str(sf))
    assert s["delta_suv_max_pct"] == pytest.approx(-20.0) and s["ts_decreased"] is True
    assert s["delta_volume_pct"] == pytest.approx(-25.0)


def test_outcomes_km_logrank_plot(tmp_path: Path) -> None:
    csv = tmp_path / "cohort.csv"
    csv.write_text(
        "id,pfs_months,progressed,arm\n1,2,1,A\n2,4,1,A\n3,6,0,A\n4,1,1,B\n5,3,1,B\n6,5,1,B\n"
    )
    plot = tmp_path / "km.svg"
    d = run(
        "outcomes",
        "km",
        str(csv),
        "--time-col",
        "pfs_months",
        "--event-col",
        "progressed",
        "--group-col",
        "arm",
        "--plot",
        str(plot),
    )
    assert d["time_unit"] == "months"
    assert d["curves"]["B"]["median"] == pytest.approx(3.0)
    assert d["logrank"]["chi2"] == pytest.approx(0.484876, abs=1e-6)  # hand value, test_survival
    assert "<svg" in plot.read_text()
    alias = run(
        "followup", "survival", str(csv), "--time-col", "pfs_months", "--event-col", "progressed"
    )
    assert alias["curves"]["all"]["n"] == 6


def test_outcomes_cox_and_toxicity(tmp_path: Path) -> None:
    csv = tmp_path / "cohort.csv"
    data = [
        (5, 1, 20),
        (8, 1, 6),
        (12, 0, 5),
        (3, 1, 25),
        (20, 0, 2),
        (15, 1, 8),
        (9, 1, 12),
        (25, 1, 10),
        (6, 1, 18),
        (11, 0, 3),
        (14, 1, 4),
        (4, 0, 15),
    ]
    csv.write_text("\n".join(["pfs_months,ev,ki67"] + [f"{t},{e},{k}" for t, e, k in data]))
    d = run(
        "outcomes",
        "cox",
        str(csv),
        "--time-col",
        "pfs_months",
        "--event-col",
        "ev",
        "--covariate",
        "ki67",
    )
    assert d["covariates"][0]["covariate"] == "ki67" and d["covariates"][0]["hazard_ratio"] > 1
    # perfectly separated data: lifelines only warns; sstrkit refuses with a FitError (exit 2)
    sep = tmp_path / "sep.csv"
    sep.write_text("pfs_months,ev,ki67\n1,1,30\n2,1,25\n3,1,20\n10,0,2\n12,0,1\n14,0,3\n")
    res = runner.invoke(
        app,
        [
            "outcomes",
            "cox",
            str(sep),
            "--time-col",
            "pfs_months",
            "--event-col",
            "ev",
            "--covariate",
            "ki67",
        ],
    )
    assert res.exit_code == 2 and "error: Cox model" in res.output
    labs = tmp_path / "labs.csv"
    labs.write_text("patient_id,day,plt_1e9_l,anc_1e9_l\nA,0,210,3.0\nA,42,45,0.9\n")
    t = run("outcomes", "toxicity", str(labs))
    assert t["patients"][0]["worst_grade"] == {
        "platelet_count_decreased": 3,
        "neutrophil_count_decreased": 3,
    }


def test_stats_rates_table3() -> None:
    d = run("stats", "rates", "--pr", "2", "--mr", "5", "--sd", "12", "--pd", "8")
    assert d["findings"] == "2 PR, 5 MR, 12 SD, and 8 PD" and d["n"] == 27


def test_plots_are_atomic_and_validate(tmp_path: Path) -> None:
    out = tmp_path / "s.png"
    swimmer_plot(
        [3.0, 12.0, 7.5],
        out,
        ongoing=[False, True, False],
        events=[[(2.0, "PR")], [(3.0, "SD"), (9.0, "PR")], [(7.5, "PD")]],
    )
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.png"]  # no temporary left over
    with pytest.raises(InvalidInputError, match=r"\.png"):
        waterfall_plot([0.1], tmp_path / "w.bmp")
    with pytest.raises(InvalidInputError, match="existing folder"):
        waterfall_plot([0.1], tmp_path / "nope" / "w.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.png"]
