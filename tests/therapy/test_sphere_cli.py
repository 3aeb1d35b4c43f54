"""``sstrkit dose sphere`` against the library (contract of issue 5)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.therapy.sphere import sphere_s_value

runner = CliRunner()


def _error_doc(stdout: str) -> bool:
    """With --json an error prints exactly one JSON error document on stdout (exit 2)."""
    import json as _json

    return bool(_json.loads(stdout)["error"]["exit_code"] == 2)


def test_dose_sphere_json_contract() -> None:
    res = runner.invoke(app, ["dose", "sphere", "--nuclide", "Lu-177", "--mass-g", "2.5", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    for key in ("s_gy_per_bq_s", "electron_absorbed_fraction", "photon_absorbed_fraction"):
        assert key in doc
    lib = sphere_s_value("Lu-177", 2.5)
    assert doc["s_gy_per_bq_s"] == pytest.approx(lib.s_gy_per_bq_s, rel=1e-12)
    # Unit conversion at the edge: mGy/(MBq·h) = Gy/(Bq·s) × 1e3 × 1e6 × 3600.
    assert doc["s_mgy_per_mbq_h"] == pytest.approx(lib.s_gy_per_bq_s * 3.6e12, rel=1e-12)


def test_dose_sphere_bone_and_table() -> None:
    res = runner.invoke(
        app, ["dose", "sphere", "--nuclide", "Y-90", "--mass-g", "1", "--tissue", "bone"]
    )
    assert res.exit_code == 0, res.output
    assert "Sphere model" in res.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--nuclide", "Lu-177", "--mass-g", "0"],
        ["--nuclide", "Lu-177", "--mass-g", "1", "--tissue", "liver"],
        ["--nuclide", "Xx-1", "--mass-g", "1"],
    ],
)
def test_dose_sphere_bad_input_exit_2(args: list[str]) -> None:
    res = runner.invoke(app, ["dose", "sphere", *args, "--json"])
    assert res.exit_code == 2
    assert _error_doc(res.stdout)
