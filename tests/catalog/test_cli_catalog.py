"""``sstrkit catalog ...``: every --json output parses; errors exit 2 with one line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sstrkit import catalog as cat
from sstrkit.cli.main import app

runner = CliRunner()


def _error_doc(stdout: str) -> bool:
    """With --json an error prints exactly one JSON error document on stdout (exit 2)."""
    import json as _json

    return bool(_json.loads(stdout)["error"]["exit_code"] == 2)


def _json(*args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, ["catalog", *args, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["catalog_version"] == cat.catalog_version()
    return doc  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", ["nuclides", "tracers", "therapies", "regimens"])
def test_list_commands_json(kind: str) -> None:
    doc = _json(kind)
    assert doc["catalog"] == kind and doc["entries"]
    assert all(e["refs"] for e in doc["entries"])


def test_nuclides_json_joins_icrp107() -> None:
    doc = _json("nuclides")
    lu = next(e for e in doc["entries"] if e["name"] == "Lu-177")
    # ICRP 107: Lu-177 T½ = 6.647 d.
    assert lu["physics"]["half_life_s"] == pytest.approx(6.647 * 86400, rel=1e-4)
    assert {e["name"] for e in doc["entries"]} == {n.name for n in cat.nuclides()}


@pytest.mark.parametrize(
    ("group", "n"), [("SPECT", 6), ("PET", 5), ("gene", 3), ("Gene imaging", 3)]
)
def test_tracers_group_json(group: str, n: int) -> None:
    doc = _json("tracers", "--group", group)
    assert len(doc["entries"]) == n and doc["group"] == cat.normalise_group(group)


def test_therapies_json_has_table3_and_outcomes() -> None:
    doc = _json("therapies")
    assert [e["agent"] for e in doc["entries"]] == [
        "90Y-DOTATATE",
        "90Y-DOTATOC",
        "177Lu-DOTATATE",
        "177Lu-DOTATOC",
    ]
    assert doc["entries"][0]["dosage"]["min_bq"] == pytest.approx(7.4e9)
    assert len(doc["outcomes"]) == len(cat.outcomes())


def test_tracer_and_regimen_json() -> None:
    doc = _json("tracer", "Ga-68 DOTATATE")
    assert doc["entry"]["name"] == "68Ga-DOTATATE" and len(doc["references"]) == 2
    doc = _json("regimen", "waldherr 2002", "--bsa-m2", "2.0")
    # 1.85 GBq/m² x 2.0 m² = 3.7 GBq per cycle, 4 cycles = 14.8 GBq.
    assert [a["activity_bq"] for a in doc["administrations"]] == pytest.approx([3.7e9] * 4)
    assert doc["total_activity_bq"] == pytest.approx(14.8e9)


@pytest.mark.parametrize(
    "args",
    [
        ["tracer", "Ga-68 DOTATAT"],
        ["regimen", "netter"],
        ["tracers", "--group", "MRI"],
        ["regimen", "waldherr 2002"],  # per-m² regimen without --bsa-m2
    ],
)
def test_errors_exit_2_with_one_line(args: list[str]) -> None:
    result = runner.invoke(app, ["catalog", *args, "--json"])
    assert result.exit_code == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and _error_doc(result.stdout)


def test_unknown_tracer_message_suggests() -> None:
    result = runner.invoke(app, ["catalog", "tracer", "Ga-68 DOTATAT"])
    assert result.exit_code == 2 and "did you mean 68Ga-DOTATATE" in result.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["nuclides"], "Lu-177"),
        (["tracers", "--group", "PET"], "DOTANOC"),
        (["therapies"], "[59]"),
        (["regimens"], "alternating"),
        (["tracer", "netspot"], "Ga-DOTA-TATE"),
        (["regimen", "NETTER-1"], "7.40 GBq"),
    ],
)
def test_human_output(args: list[str], needle: str) -> None:
    result = runner.invoke(app, ["catalog", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert needle in result.stdout
