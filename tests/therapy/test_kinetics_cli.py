"""CLI contracts of `sstrkit kinetics fit`, `sstrkit bed` and `sstrkit plan`.

Reference values: hand calculations (mono-exponential TIA = A₀·T/ln2; BED with
G = λ/(λ+μ), Dale 1985) written out below.
"""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.therapy.case import example_case_path

runner = CliRunner()


def _error_doc(stdout: str) -> bool:
    """With --json an error prints exactly one JSON error document on stdout (exit 2)."""
    import json as _json

    return bool(_json.loads(stdout)["error"]["exit_code"] == 2)


def _json(args: list[str]) -> dict:  # type: ignore[type-arg]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def test_kinetics_fit_contract() -> None:
    t = [4, 24, 96, 168]
    a = [100 * 2 ** (-x / 60) for x in t]  # 100 MBq, T_eff 60 h
    out = _json(
        [
            "kinetics",
            "fit",
            "--times-h",
            ",".join(map(str, t)),
            "--activity-mbq",
            ",".join(f"{v:.12g}" for v in a),
            "--json",
        ]
    )
    assert {"model", "parameters", "t_eff_h", "tia_mbq_h", "tia_sd_mbq_h", "aicc"} <= set(out)
    assert out["model"] == "mono"
    assert out["t_eff_h"] == pytest.approx(60.0, rel=1e-6)
    assert out["tia_mbq_h"] == pytest.approx(100 * 60 / math.log(2), rel=1e-6)


@pytest.mark.parametrize("model", ["mono", "bi", "trapezoid", "auto"])
def test_kinetics_fit_models(model: str) -> None:
    out = _json(
        [
            "kinetics",
            "fit",
            "--times-h",
            "4,24,96,168",
            "--activity-mbq",
            "155,147,57,21",
            "--model",
            model,
            "--nuclide",
            "Lu-177",
            "--json",
        ]
    )
    assert out["tia_mbq_h"] > 0 and out["tia_sd_mbq_h"] > 0


def test_kinetics_fit_errors_exit_2() -> None:
    for args in (
        ["--times-h", "4,24", "--activity-mbq", "1,2,3"],
        ["--times-h", "24,4,96", "--activity-mbq", "1,2,3"],
        ["--times-h", "4,24,96", "--activity-mbq", "1,-2,3"],
        ["--times-h", "4,x", "--activity-mbq", "1,2"],
        ["--times-h", "4,24,96,168", "--activity-mbq", "1,2,3,4", "--model", "quad"],
        ["--times-h", "4,24,96", "--activity-mbq", "1,2,3", "--model", "tri"],
    ):
        res = runner.invoke(app, ["kinetics", "fit", *args, "--json"])
        assert res.exit_code == 2, (args, res.output)
        assert _error_doc(res.stdout)


def test_bed_contract() -> None:
    out = _json(
        [
            "bed",
            "--dose-gy",
            "20",
            "--t-eff-h",
            "50",
            "--alpha-beta-gy",
            "2.6",
            "--t-repair-h",
            "2.8",
            "--json",
        ]
    )
    assert {"bed_gy", "eqd2_gy", "per_cycle"} <= set(out)
    # G = 2.8/52.8; BED = 20(1 + G·20/2.6)
    assert out["bed_gy"] == pytest.approx(20 * (1 + 2.8 / 52.8 * 20 / 2.6), rel=1e-12)
    multi = _json(
        [
            "bed",
            "--dose-gy",
            "5,5",
            "--t-eff-h",
            "50",
            "--t-uptake-h",
            "2",
            "--tissue",
            "kidney",
            "--json",
        ]
    )
    assert len(multi["per_cycle"]) == 2
    assert multi["bed_gy"] == pytest.approx(2 * multi["per_cycle"][0]["bed_gy"])


def test_bed_errors() -> None:
    res = runner.invoke(app, ["bed", "--dose-gy", "5", "--t-eff-h", "50", "--json"])
    assert res.exit_code == 2
    res = runner.invoke(
        app,
        [
            "bed",
            "--dose-gy",
            "5",
            "--t-eff-h",
            "50",
            "--t-uptake-h",
            "60",
            "--tissue",
            "kidney",
            "--json",
        ],
    )
    assert res.exit_code == 2


def test_plan_contract() -> None:
    out = _json(["plan", str(example_case_path()), "--json"])
    for key in (
        "max_safe_cumulative_activity_mbq",
        "recommended_cycles_total",
        "next_cycle_activity_mbq",
        "projected",
        "constraints",
        "advisor",
        "provenance",
    ):
        assert key in out
    human = runner.invoke(app, ["plan", str(example_case_path())])
    assert human.exit_code == 0 and "next cycle" in human.stdout
