"""The registry on a real ``sstrkit run`` of a small digital patient (2 cycles, 4 mm voxels).

The reference for the per-cycle BED the registry computes is the planning
stage's delivered kidney BED of the same run (sstrkit.therapy.planning: the
Lea–Catcheside G of the fitted curve, summed over cycles) — a separate code path
on the fit parameters; both are exact arithmetic on the same fit, so 1e-9
relative. Other values are compared with results.json, the source they are read
from, after the unit conversion (MBq·h → Bq·s, h → s).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.phantom.study import StudyConfig, make_study
from sstrkit.pipeline.run import run_study
from sstrkit.registry import open_registry

runner = CliRunner()


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("real")
    study = root / "study"
    make_study(study, StudyConfig(seed=3, cycles=2, voxel_mm=4.0, fdg=False))
    out = root / "out"
    run_study(study, out, report=False)
    return study, out, json.loads((out / "results.json").read_text(encoding="utf-8"))


def test_real_run_is_recorded_as_results_json_says(
    real_run: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    study, out, doc = real_run
    stages = doc["stages"]
    with open_registry(tmp_path / "r.sqlite") as reg:
        rec = reg.add_run(out)
        rows = reg.run_rows(rec.run_id)
        summary = reg.patients()[0]
    manifest = json.loads((study / "manifest.json").read_text(encoding="utf-8"))
    assert rec.patient_id == manifest["patient"]["id"] == summary.patient_id
    assert summary.cycles == 2 and summary.studies == 1
    delivered = stages["planning"]["running"]["delivered"]
    assert summary.kidney_bed_gy == delivered["bed_gy"]["kidneys"]
    organ = [r for r in rows["region_doses"] if r["level"] == "organ"]
    kidney_bed = [r["bed_gy"] for r in organ if r["region"] == "kidneys"]
    assert len(kidney_bed) == 2 and None not in kidney_bed
    assert sum(kidney_bed) == pytest.approx(delivered["bed_gy"]["kidneys"], rel=1e-9)
    for name, total in delivered["bed_gy"].items():
        per_cycle = [r["bed_gy"] for r in organ if r["region"] == name]
        if None not in per_cycle:  # mono-exponential regions
            assert sum(per_cycle) == pytest.approx(total, rel=1e-9), name
    cyc1 = next(c for c in stages["dosimetry"]["organ_level"]["cycles"] if c["cycle"] == 1)
    src = next(r for r in cyc1["regions"] if r["name"] == "kidneys")
    got = next(r for r in organ if r["region"] == "kidneys" and r["cycle"] == 1)
    assert got["dose_gy"] == src["dose_gy"]
    assert got["tia_bq_s"] == pytest.approx(src["tia_mbq_h"] * 3.6e9, rel=1e-15)
    assert got["status"] == "measured"
    n_regions = sum(len(c["regions"]) for c in stages["dosimetry"]["organ_level"]["cycles"])
    n_parts = sum(len(v) for v in stages["dosimetry"]["per_kidney"].values())
    assert len(organ) == n_regions + n_parts
    therapy = [a for a in rows["administrations"] if a["cycle"] is not None]
    assert [a["activity_bq"] for a in therapy] == [
        a["activity_bq"] for a in stages["import"]["administrations"]
    ]
    reading = rows["readings"][0]
    assert reading["krenning_patient"] == stages["reading"]["krenning_patient"]
    assert len(rows["reading_lesions"]) == len(stages["reading"]["lesions"])
    assert {r["key"] for r in rows["run_files"]} >= {"results_json", "organ_doses_csv"}


def test_sstrkit_run_with_registry_records_the_run(
    real_run: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    study, out, _ = real_run
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    with open_registry(url) as reg:
        first = reg.add_run(out)
    again = tmp_path / "again"
    shutil.copytree(out, again)  # with the dosimetry cache: the re-run is quick
    result = runner.invoke(
        app, ["run", str(study), "--out", str(again), "--registry", url, "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["registry"]["created"] and doc["registry"]["is_current"]
    with open_registry(url) as reg:
        runs = reg.runs()
    assert [(r.run_id, r.is_current) for r in runs] == [
        (first.run_id, False),
        (doc["registry"]["run_id"], True),
    ]  # the re-run of the study is current, the first run history


def test_sstrkit_run_with_a_bad_registry_fails_before_running(
    real_run: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    study, _, _ = real_run
    result = runner.invoke(
        app, ["run", str(study), "--out", str(tmp_path / "o"), "--registry", "nosuchdb://x"]
    )
    assert result.exit_code == 2 and "--registry" in result.stderr
    assert not (tmp_path / "o").exists()  # nothing run
