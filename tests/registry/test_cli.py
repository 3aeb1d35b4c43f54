"""``sstrkit registry add|list|show|export``: JSON shapes, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app

runner = CliRunner()
MakeRun = Callable[..., Path]


def _ok(args: list[str]) -> dict | list:  # type: ignore[type-arg]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_add_list_show_export_json(url: str, make_run: MakeRun, tmp_path: Path) -> None:
    outs = [make_run("P2"), make_run("P1", cycles=3)]
    added = _ok(["registry", "add", *map(str, outs), "--registry", url, "--json"])
    assert isinstance(added, dict) and [r["patient_id"] for r in added["runs"]] == ["P2", "P1"]
    assert all(r["created"] and r["is_current"] for r in added["runs"])
    again = _ok(["registry", "add", str(outs[0]), "--registry", url, "--json"])
    assert isinstance(again, dict) and not again["runs"][0]["created"]

    patients = _ok(["registry", "list", "--registry", url, "--json"])
    assert isinstance(patients, list)  # a JSON array of patients
    assert [(p["patient_id"], p["studies"], p["cycles"]) for p in patients] == [
        ("P1", 1, 3),
        ("P2", 1, 2),
    ]
    assert set(patients[0]) >= {
        "patient_id",
        "studies",
        "cycles",
        "latest_run_at",
        "kidney_bed_gy",
        "marrow_dose_gy",
    }

    detail = _ok(["registry", "show", "P1", "--registry", url, "--json"])
    assert isinstance(detail, dict) and detail["patient_id"] == "P1"
    assert len(detail["studies"][0]["runs"]) == 1
    doses = [d for d in detail["current"]["region_doses"] if d["level"] == "organ"]
    assert len(doses) == 3 * 3 and {d["study_key"] for d in doses} == {
        detail["studies"][0]["study_key"]
    }

    exported = _ok(
        [
            "registry",
            "export",
            "--format",
            "parquet",
            "--out",
            str(tmp_path / "x"),
            "--registry",
            url,
            "--json",
        ]
    )
    assert isinstance(exported, dict)
    assert (tmp_path / "x" / "region_doses.parquet").is_file()
    assert str(tmp_path / "x" / "export.json") in exported["files"]


def test_human_output(make_run: MakeRun, tmp_path: Path) -> None:
    reg = str(tmp_path / "r.sqlite")
    result = runner.invoke(app, ["registry", "add", str(make_run("P1")), "--registry", reg])
    assert result.exit_code == 0 and "recorded: run 1 of patient P1" in result.output
    result = runner.invoke(app, ["registry", "list", "--registry", reg])
    assert result.exit_code == 0 and "P1" in result.output
    result = runner.invoke(app, ["registry", "show", "P1", "--registry", reg])
    assert (
        result.exit_code == 0 and "kidneys" in result.output and "Studies and runs" in result.output
    )


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["registry", "add", "{run}"], "run results"),  # results.json removed below
        (["registry", "show", "nobody"], "patient"),
        (["registry", "export", "--format", "xlsx", "--out", "{tmp}/x"], "--format"),
        (["registry", "list", "--registry", "nosuchdb://x"], "--registry"),
    ],
)
def test_errors_are_one_line_exit_2(
    make_run: MakeRun, tmp_path: Path, args: list[str], what: str
) -> None:
    run = make_run("P1")
    (run / "results.json").unlink()
    args = [a.format(run=run, tmp=tmp_path) for a in args]
    if "--registry" not in args:
        args += ["--registry", str(tmp_path / "r.sqlite")]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Fix:" in lines[0]
    doc = json.loads(result.stdout)
    assert doc["error"]["what"].startswith(what) and doc["error"]["exit_code"] == 2


def test_corrupt_results_json_exits_2(make_run: MakeRun, tmp_path: Path) -> None:
    run = make_run("P1")
    (run / "results.json").write_text('{"stages": {"import": ', encoding="utf-8")
    result = runner.invoke(
        app, ["registry", "add", str(run), "--registry", str(tmp_path / "r.sqlite")]
    )
    assert result.exit_code == 2
    assert "valid JSON" in result.stderr and "Traceback" not in result.output


def test_registry_help_does_not_import_the_database_layer() -> None:
    """``sstrkit --help`` stays fast: SQLAlchemy and pandas load only when a command runs."""
    code = (
        "import sys; from sstrkit.cli.main import app; "
        "print(sorted(m for m in ('sqlalchemy', 'pandas', 'alembic') if m in sys.modules))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"
