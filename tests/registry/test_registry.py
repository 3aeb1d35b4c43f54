"""The registry API on SQLite and on a real PostgreSQL server (tests/registry/conftest.py).

Expected values come from the synthetic run folders of ``write_run`` (round
numbers chosen there), converted to the registry's internal units by hand
(1 MBq·h = 3.6e9 Bq·s); floats that only pass through the database are compared
exactly, computed ones with the tolerance their computation needs.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select

from sstrkit.errors import InvalidInputError
from sstrkit.registry import open_registry
from sstrkit.registry import schema as t
from sstrkit.registry.db import default_url, head_revision, resolve_url

MakeRun = Callable[..., Path]
UTC = dt.UTC
T0 = dt.datetime(2025, 9, 1, 12, 0, tzinfo=UTC)


def _count(reg: object, model: type[t.Base]) -> int:
    with reg.engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.scalar(select(func.count()).select_from(model)) or 0)


def test_migration_from_empty_database_reaches_head_and_matches_the_models(url: str) -> None:
    reg = open_registry(url)
    with reg.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert ctx.get_current_revision() == head_revision()
        # the shipped migration builds exactly the tables of sstrkit.registry.schema
        assert compare_metadata(ctx, t.Base.metadata) == []
        assert {"patients", "studies", "runs", "region_doses"} <= set(
            inspect(conn).get_table_names()
        )
    reg.close()
    # opening again finds the head and changes nothing
    with open_registry(url) as again:
        assert again.patients() == []


def test_add_run_records_units_and_is_idempotent(url: str, make_run: MakeRun) -> None:
    out = make_run("P1", finished=T0)
    with open_registry(url) as reg:
        first = reg.add_run(out)
        counts = {m: _count(reg, m) for m in (t.Patient, t.Study, t.Run, t.RegionDose)}
        again = reg.add_run(out)
        assert first.created and not again.created
        assert again.run_id == first.run_id and again.is_current
        assert {m: _count(reg, m) for m in counts} == counts  # nothing added twice
        assert first.finished_at == T0  # results.json's modification time, tz-aware
        rows = reg.run_rows(first.run_id)
    kidney = next(
        r
        for r in rows["region_doses"]
        if r["region"] == "kidneys" and r["cycle"] == 1 and r["level"] == "organ"
    )
    assert kidney["tia_bq_s"] == 100.0 * 1e6 * 3600  # 100 MBq·h
    assert kidney["t_eff_s"] == 50.0 * 3600
    assert kidney["dose_sd_gy"] == pytest.approx(4.0 * 0.05, rel=1e-12)
    assert kidney["volume_ml"] == 290.0
    marrow = next(r for r in rows["region_doses"] if r["region"] == "red marrow")
    # bi-exponential kinetics: no per-cycle BED from what results.json holds — NULL, not a guess
    assert marrow["bed_gy"] is None and marrow["bed_method"] is None
    admin = next(a for a in rows["administrations"] if a["cycle"] == 1)
    assert admin["activity_bq"] == 7.4e9
    assert admin["time"] == dt.datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # 10:00+01:00
    assert {a["cycle"] for a in rows["administrations"]} == {1, 2, None}  # + diagnostic Ga-68
    labs = {(r["name"], r["value"], r["unit"]) for r in rows["lab_values"]}
    assert labs == {
        ("creatinine", 80.0, "umol/L"),
        ("platelets", 250.0, "1e9/L"),
        ("platelets", 140.0, "1e9/L"),
    }
    assert rows["survival"] == [] and rows["response_assessments"] == []
    files = {f["key"]: f["size_bytes"] for f in rows["run_files"]}
    assert files["missing"] is None and files["results_json"] > 0


def test_per_cycle_bed_is_the_lea_catcheside_bed_of_the_mono_exponential(
    url: str, make_run: MakeRun
) -> None:
    """BED = D (1 + G D / (α/β)), G = λ/(λ+μ) for a mono-exponential dose rate.

    Dale RG, Br J Radiol 58 (1985) 515; kidney α/β 2.6 Gy and T_rep 2.8 h as in
    sstrkit's radiobiology table (Wessels BW et al., J Nucl Med 49 (2008) 1884).
    Pure arithmetic: 1e-12 relative.
    """
    with open_registry(url) as reg:
        rows = reg.run_rows(reg.add_run(make_run("P1", kidney_dose_gy=6.0)).run_id)
        summary = reg.patients()[0]
    lam, mu = math.log(2) / 50.0, math.log(2) / 2.8
    expected = 6.0 * (1 + lam / (lam + mu) * 6.0 / 2.6)
    kidney = [r for r in rows["region_doses"] if r["region"] == "kidneys" and r["level"] == "organ"]
    assert [r["bed_gy"] for r in kidney] == pytest.approx([expected, expected], rel=1e-12)
    # planning gave no kidney BED: the cumulative one is the sum of the cycles'
    assert summary.kidney_bed_gy == pytest.approx(2 * expected, rel=1e-12)
    assert summary.marrow_dose_gy == pytest.approx(0.2, rel=1e-12)


def test_rerun_becomes_current_and_keeps_the_earlier_run(url: str, make_run: MakeRun) -> None:
    old = make_run("P1", run_name="out_v1", kidney_dose_gy=4.0, finished=T0)
    new = make_run("P1", run_name="out_v2", kidney_dose_gy=5.0, finished=T0 + dt.timedelta(days=1))
    with open_registry(url) as reg:
        r_old = reg.add_run(old)
        r_new = reg.add_run(new)
        assert r_new.is_current
        runs = {r.run_id: r for r in reg.runs(patient_id="P1")}
        assert not runs[r_old.run_id].is_current and runs[r_new.run_id].is_current
        # the earlier run's rows stay queryable
        old_kidney = [
            r["dose_gy"]
            for r in reg.run_rows(r_old.run_id)["region_doses"]
            if r["region"] == "kidneys" and r["level"] == "organ"
        ]
        assert old_kidney == [4.0, 4.0]
        # cohort tables read current runs only
        doses = reg.cohort_tables().region_doses
        assert sorted(doses.loc[doses.region == "kidneys", "dose_gy"]) == [5.0, 5.0]
        detail = reg.patient("P1")
        assert len(detail.studies) == 1 and len(detail.studies[0].runs) == 2
        assert detail.studies[0].current is not None
        assert detail.studies[0].current.run_id == r_new.run_id
        # a run that finished earlier, recorded later, joins the history, not the present
        older = make_run("P1", run_name="out_v0", finished=T0 - dt.timedelta(days=1))
        r_older = reg.add_run(older)
        assert r_older.created and not r_older.is_current
        assert [r.run_id for r in reg.runs(current_only=True)] == [r_new.run_id]
        # re-running into the same folder (new content, later finish) → new current run
        rerun = make_run(
            "P1", run_name="out_v2", kidney_dose_gy=5.5, finished=T0 + dt.timedelta(days=2)
        )
        r_rerun = reg.add_run(rerun)
        assert r_rerun.created and r_rerun.is_current and r_rerun.run_id != r_new.run_id
        assert len(reg.runs(patient_id="P1")) == 4
        assert _count(reg, t.Patient) == 1 and _count(reg, t.Study) == 1


def test_follow_up_sections_reach_the_cohort_tables(url: str, make_run: MakeRun) -> None:
    follow_up = {
        "survival": {"pfs_days": 400, "pfs_event": True, "os_days": 900, "os_event": False},
        "responses": [{"days_after_first_cycle": 200, "criteria": "RECIST 1.1", "response": "PR"}],
        "lesion_volumes": [
            {"lesion": "lesion_01", "days_after_first_cycle": -10, "volume_ml": 9.0},
            {"lesion": "lesion_01", "time": "2025-09-19T10:00:00+01:00", "volume_ml": 3.0},
        ],
    }
    with open_registry(url) as reg:
        reg.add_run(make_run("P1", clinical_extra=follow_up))
        reg.add_run(make_run("P2", planning=False))
        ct = reg.cohort_tables()
        voxel = reg.voxel_doses()
    surv = ct.survival.set_index("patient_id")
    assert surv.loc["P1", "pfs_days"] == 400.0 and bool(surv.loc["P1", "pfs_event"])
    assert surv.loc["P1", "os_days"] == 900.0 and not bool(surv.loc["P1", "os_event"])
    assert "P2" not in surv.index  # no survival recorded: no row, not a zero
    resp = ct.responses.iloc[0]
    assert resp.response == "PR" and resp.days_after_first_cycle == 200.0
    # 200 days after the first cycle (2025-03-03 09:00 UTC)
    assert resp.time == dt.datetime(2025, 9, 19, 9, 0, tzinfo=UTC)
    les = ct.lesion_doses[ct.lesion_doses.patient_id == "P1"].sort_values("cycle")
    assert list(les.dose_gy) == [20.0, 20.0] and list(les.volume_ml_voi) == [8.0, 8.0]
    assert set(les.volume_ml_baseline) == {9.0}  # measured before cycle 1
    assert set(les.volume_baseline_source) == {"clinical.json lesion_volumes"}
    assert set(les.volume_ml_followup) == {3.0}
    assert set(les.followup_days) == {200.0}  # 2025-09-19 09:00 UTC − 2025-03-03 09:00 UTC
    assert set(les.uptake_change_pct) == {-25.0}
    p2 = ct.lesion_doses[ct.lesion_doses.patient_id == "P2"]
    assert set(p2.volume_baseline_source) == {"dosimetry VOI, cycle 1"}
    assert p2.volume_ml_followup.isna().all()
    pat = ct.patients.set_index("patient_id")
    assert list(pat.index) == ["P1", "P2"]
    assert list(pat.cycles) == [2, 2] and list(pat.studies) == [1, 1]
    assert pat.loc["P1", "first_cycle_time"] == dt.datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    assert ct.region_doses.region.isin(["kidneys", "lesion_01", "red marrow"]).all()
    assert set(voxel.dose_gy) == {4.0 * 0.9} and set(voxel.region) == {"kidneys"}


def test_a_study_cannot_change_patient(url: str, make_run: MakeRun, tmp_path: Path) -> None:
    out = make_run("P1")
    with open_registry(url) as reg:
        reg.add_run(out)
        manifest = out.parent / "study" / "manifest.json"
        doc = json.loads(manifest.read_text())
        doc["patient"]["id"] = "P9"
        doc["study_instance_uid"] = None
        manifest.write_text(json.dumps(doc))
        # a new study key (the patient is part of it): no clash, a second patient
        reg.add_run(out)
        doc["study_instance_uid"] = "1.2.3.4"
        manifest.write_text(json.dumps(doc))
        reg.add_run(out)
        doc["patient"]["id"] = "P1"
        manifest.write_text(json.dumps(doc))
        with pytest.raises(InvalidInputError, match=r"study 1\.2\.3\.4"):
            reg.add_run(out)
        assert [p.patient_id for p in reg.patients()] == ["P1", "P9"]


@pytest.mark.parametrize(
    "content",
    [
        None,
        "{not json",
        "[]",
        '{"stages": 3}',
        # valid JSON, its study found (relative to OUT), but not shaped as sstrkit writes it
        '{"study": "../study", "stages": {"dosimetry": {"organ_level": {"cycles": [1]}}}}',
    ],
)
def test_missing_or_damaged_results_json_is_a_typed_error(
    tmp_path: Path, make_run: MakeRun, content: str | None
) -> None:
    out = make_run("P1")
    if content is None:
        (out / "results.json").unlink()
    else:
        (out / "results.json").write_text(content)
    with open_registry(tmp_path / "r.sqlite") as reg:
        with pytest.raises(InvalidInputError, match="results"):
            reg.add_run(out)
        assert reg.patients() == []  # nothing half-written


def test_run_without_patient_id_is_refused(tmp_path: Path, make_run: MakeRun) -> None:
    out = make_run("P1")
    manifest = out.parent / "study" / "manifest.json"
    doc = json.loads(manifest.read_text())
    del doc["patient"]["id"]
    manifest.write_text(json.dumps(doc))
    reg = open_registry(tmp_path / "r.sqlite")
    with reg, pytest.raises(InvalidInputError, match="patient id"):
        reg.add_run(out)


def test_unknown_patient_and_unreachable_database_are_typed_errors(tmp_path: Path) -> None:
    with open_registry(tmp_path / "r.sqlite") as reg, pytest.raises(InvalidInputError):
        reg.patient("nobody")
    with pytest.raises(InvalidInputError, match="--registry"):
        open_registry("nosuchdb://x/y")
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InvalidInputError, match="registry postgresql"):
        open_registry(f"postgresql+psycopg://nobody@127.0.0.1:{port}/none?connect_timeout=5")


def test_default_location_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSTRKIT_REGISTRY", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_url() == f"sqlite:///{tmp_path / 'xdg' / 'sstrkit' / 'registry.sqlite'}"
    assert resolve_url(None) == default_url()
    with open_registry() as reg:
        assert reg.url == default_url()
    assert (tmp_path / "xdg" / "sstrkit" / "registry.sqlite").is_file()
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_url() == f"sqlite:///{Path.home() / '.local/share/sstrkit/registry.sqlite'}"
    monkeypatch.setenv("SSTRKIT_REGISTRY", "postgresql+psycopg://u@h/db")
    assert resolve_url(None) == "postgresql+psycopg://u@h/db"
    assert resolve_url("rel/r.sqlite") == f"sqlite:///{Path('rel/r.sqlite').resolve()}"


def test_export_round_trips_in_csv_and_parquet(url: str, make_run: MakeRun, tmp_path: Path) -> None:
    import pandas as pd

    follow_up = {"survival": {"pfs_days": 400, "pfs_event": True}}
    with open_registry(url) as reg:
        reg.add_run(make_run("P1", clinical_extra=follow_up))
        reg.add_run(make_run("P2", cycles=3))
        tables = dict(reg.cohort_tables().items()) | {"voxel_doses": reg.voxel_doses()}
        csv_files = reg.export(tmp_path / "csv", "csv")
        pq_files = reg.export(tmp_path / "pq", "parquet")
        with pytest.raises(InvalidInputError, match="--format"):
            reg.export(tmp_path / "x", "xlsx")
    assert {p.name for p in csv_files} == {f"{n}.csv" for n in tables} | {"export.json"}
    index = json.loads((tmp_path / "csv" / "export.json").read_text())
    assert index["tables"]["region_doses"]["rows"] == len(tables["region_doses"]) == 2 * 3 + 3 * 3
    for name, df in tables.items():
        back = pd.read_parquet(tmp_path / "pq" / f"{name}.parquet")
        pd.testing.assert_frame_equal(back, df)  # dtypes included
        csv = pd.read_csv(tmp_path / "csv" / f"{name}.csv")
        assert list(csv.columns) == list(df.columns)
        assert len(csv) == len(df)
        for col in df.columns:
            if str(df[col].dtype) == "float64":
                assert csv[col].to_numpy() == pytest.approx(df[col].to_numpy(), nan_ok=True)
            elif str(df[col].dtype).startswith("datetime64"):
                pd.testing.assert_series_equal(
                    pd.to_datetime(csv[col], utc=True).astype(df[col].dtype),
                    df[col],
                    check_names=False,
                )
    assert pq_files[-1].name == "export.json"
