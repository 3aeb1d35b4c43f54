"""CLI contract of the foundation commands: --version, nuclide, demo."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sstrkit import __version__
from sstrkit.cli.main import app

runner = CliRunner()

NUCLIDE_KEYS = {
    "name",
    "half_life_s",
    "beta_minus_emax_mev",
    "beta_minus_mean_mev",
    "delta_electrons_mev",
    "delta_photons_mev",
    "positron_fraction",
    "csda_range_water_mm",
    "gammas",
}


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"sstrkit {__version__}"


def test_nuclide_json_contract() -> None:
    result = runner.invoke(app, ["nuclide", "Lu-177", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= NUCLIDE_KEYS
    # ICRP 107: T½ 6.647 d; γ lines with yield ≥ 1 %: 112.95 keV and 208.37 keV.
    assert data["half_life_s"] == pytest.approx(6.647 * 86400)
    assert [round(g["energy_kev"], 1) for g in data["gammas"]] == [113.0, 208.4]
    assert all(g["yield"] >= 0.01 for g in data["gammas"])


def test_nuclide_nulls_where_not_applicable() -> None:
    data = json.loads(runner.invoke(app, ["nuclide", "In-111", "--json"]).stdout)
    assert data["beta_minus_emax_mev"] is None and data["csda_range_water_mm"] is None
    data = json.loads(runner.invoke(app, ["nuclide", "Ga-68", "--json"]).stdout)
    # Pure β⁺ emitter: range of the maximum-energy positron, no β⁻ data.
    assert data["beta_minus_mean_mev"] is None and data["csda_range_water_mm"] > 8


def test_nuclide_human_output() -> None:
    result = runner.invoke(app, ["nuclide", "y90"])
    assert result.exit_code == 0 and "Y-90" in result.output and "2.28" in result.output


def test_unknown_nuclide_exits_2_with_suggestion() -> None:
    result = runner.invoke(app, ["nuclide", "Lu-178x", "--json"])
    assert result.exit_code == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Lu-178" in lines[0]
    # with --json the error is also one JSON document on stdout
    err = json.loads(result.stdout)["error"]
    assert err["exit_code"] == 2 and err["type"] == "UnknownNuclideError" and err["fix"]
    assert err["message"] == lines[0].removeprefix("error: ")


def test_unknown_nuclide_without_json_keeps_stdout_empty() -> None:
    result = runner.invoke(app, ["nuclide", "Lu-178x"])
    assert result.exit_code == 2 and result.stdout == ""
