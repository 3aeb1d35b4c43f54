"""The registry: record run folders, list patients, show one, hand out cohort tables.

Writing (:meth:`Registry.add_run`) is one transaction per run: the patient and the
study are upserted (``INSERT … ON CONFLICT DO NOTHING`` on their unique keys,
then read back), the run and its rows inserted, and the study's current run
moved to the newest one. SQLite transactions that write begin with ``BEGIN
IMMEDIATE`` (one writer at a time, others wait up to 60 s); on PostgreSQL the
study row is locked (``SELECT … FOR UPDATE``) so that writers of one study take
turns. A unique-key race that still happens (two processes adding the same new
patient or study at once) ends in an ``IntegrityError`` in one of them, which
then rolls back and tries again: the result is one patient, one study, one row
per distinct run.

**History.** Every distinct run (folder + content of results.json, manifest and
clinical.json) is a row of ``runs``; adding the same folder with the same content
again returns the recorded run. A study's *current* run is the one with the
latest ``finished_at`` (results.json's modification time; then the highest id),
so re-running a study makes the new run current while the earlier ones and all
their rows stay in the registry (:meth:`Registry.run_rows`). Queries for cohorts
use current runs only.
"""

from __future__ import annotations

import datetime as _dt
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from sqlalchemy import Engine, Select, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from sstrkit.errors import InvalidInputError
from sstrkit.registry import schema as t
from sstrkit.registry.db import WRITE, make_engine, resolve_url, unreachable, upgrade
from sstrkit.registry.ingest import RunData, read_run_folder
from sstrkit.registry.records import (
    PatientDetail,
    PatientSummary,
    RunRecord,
    RunSummary,
    StudyDetail,
)

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

    from sstrkit.registry.cohort import CohortTables

__all__ = ["CHILD_TABLES", "Registry", "open_registry"]

#: tables of rows recorded per run, by name
CHILD_TABLES: Final[dict[str, type[t.Base]]] = {
    "administrations": t.Administration,
    "readings": t.Reading,
    "reading_lesions": t.ReadingLesion,
    "region_doses": t.RegionDose,
    "lab_values": t.LabValue,
    "response_assessments": t.ResponseAssessment,
    "lesion_volumes": t.LesionVolume,
    "lesion_uptake_changes": t.LesionUptakeChange,
    "survival": t.Survival,
    "run_files": t.RunFile,
}
#: tries of a write transaction that lost a race (unique key, lock, deadlock)
ATTEMPTS: Final = 8

T = TypeVar("T")


def open_registry(url: str | os.PathLike[str] | None = None) -> Registry:
    """Open (create, migrate to the newest schema) the registry at ``url``.

    ``url``: a database URL or a SQLite file path; None → ``$SSTRKIT_REGISTRY``,
    else the SQLite file under the user's data folder (:mod:`sstrkit.registry.db`).
    """
    resolved = resolve_url(url)
    engine = make_engine(resolved)
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return Registry(engine)


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


class Registry:
    """A patient registry on a SQLAlchemy engine (use :func:`open_registry`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Registry({self.url!r})"

    # ------------------------------------------------------------------ sessions
    @contextmanager
    def _read(self) -> Iterator[Session]:
        try:
            with Session(self.engine) as session:
                yield session
        except SQLAlchemyError as exc:
            raise unreachable(self.engine, exc) from None

    def _write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one write transaction, again after a lost race."""
        engine = self.engine.execution_options(**{WRITE: True})
        for attempt in range(ATTEMPTS):
            try:
                with Session(engine, expire_on_commit=False) as session, session.begin():
                    return work(session)
            except (IntegrityError, OperationalError) as exc:
                if attempt == ATTEMPTS - 1:
                    raise unreachable(self.engine, exc) from None
                time.sleep(min(2.0, 0.02 * 2**attempt) * (0.5 + random.random()))
            except SQLAlchemyError as exc:
                raise unreachable(self.engine, exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ writing
    def add_run(self, out_dir: str | Path, *, study: str | Path | None = None) -> RunRecord:
        """Record a finished ``sstrkit run`` output folder (idempotent for the same content).

        Reads ``OUT/results.json`` and the study's manifest.json and clinical.json
        (``study`` overrides the study folder named in results.json). Raises
        :class:`~sstrkit.errors.InvalidInputError` for a folder that is not a
        finished run or a registry that cannot be written.
        """
        return self.add_run_data(read_run_folder(out_dir, study=study))

    def add_run_data(self, data: RunData) -> RunRecord:
        """Record an already read run folder (:func:`~sstrkit.registry.ingest.read_run_folder`)."""
        return self._write(lambda s: _insert_run(s, data))

    # ------------------------------------------------------------------ reading
    def patients(self) -> list[PatientSummary]:
        """Every patient, by patient id."""
        with self._read() as s:
            return _summaries(s, None)

    def patient(self, patient_id: str) -> PatientDetail:
        """Everything on one patient; :class:`InvalidInputError` for an unknown id."""
        with self._read() as s:
            p = s.scalar(select(t.Patient).where(t.Patient.patient_id == patient_id))
            if p is None:
                raise InvalidInputError(
                    "patient",
                    expected="a patient id in the registry",
                    actual=repr(patient_id),
                    fix="list the patients with 'sstrkit registry list'",
                )
            summary = _summaries(s, p.id)[0]
            studies = []
            current: dict[int, str] = {}
            for st in s.scalars(
                select(t.Study).where(t.Study.patient_pk == p.id).order_by(t.Study.study_key)
            ):
                runs = tuple(
                    _run_summary(r)
                    for r in s.scalars(
                        select(t.Run)
                        .where(t.Run.study_pk == st.id)
                        .order_by(t.Run.finished_at.desc(), t.Run.id.desc())
                    )
                )
                current.update({r.run_id: st.study_key for r in runs if r.is_current})
                studies.append(StudyDetail(st.study_key, st.study_instance_uid, st.folder, runs))
            rows = _child_rows(s, list(current))
        for table in rows.values():
            for row in table:
                row["study_key"] = current[row["run_id"]]
        return PatientDetail(p.patient_id, p.sex, summary, tuple(studies), rows)

    def runs(self, *, patient_id: str | None = None, current_only: bool = False) -> list[RunRecord]:
        """Recorded runs (all, or one patient's; optionally current ones), oldest first."""
        stmt = (
            select(t.Run, t.Study.study_key, t.Patient.patient_id)
            .join(t.Study, t.Run.study_pk == t.Study.id)
            .join(t.Patient, t.Study.patient_pk == t.Patient.id)
            .order_by(t.Run.finished_at, t.Run.id)
        )
        if patient_id is not None:
            stmt = stmt.where(t.Patient.patient_id == patient_id)
        if current_only:
            stmt = stmt.where(t.Run.is_current)
        with self._read() as s:
            return [_record(r, pid, key, created=False) for r, key, pid in s.execute(stmt).all()]

    def run_rows(self, run_id: int) -> dict[str, list[dict[str, Any]]]:
        """The rows one run recorded (current or not), table by table."""
        with self._read() as s:
            if s.get(t.Run, run_id) is None:
                raise InvalidInputError("run id", expected="a run in the registry", actual=run_id)
            return _child_rows(s, [run_id])

    def cohort_tables(self) -> CohortTables:
        """The current runs as pandas tables (:class:`~sstrkit.registry.cohort.CohortTables`)."""
        from sstrkit.registry.cohort import cohort_tables

        with self._read() as s:
            return cohort_tables(s.connection())

    def voxel_doses(self) -> pd.DataFrame:
        """Mean voxel-map dose per cycle and VOI of the current runs (a second method)."""
        from sstrkit.registry.cohort import voxel_doses

        with self._read() as s:
            return voxel_doses(s.connection())

    def export(self, out_dir: str | Path, fmt: str = "csv") -> list[Path]:
        """Write the cohort tables and the voxel doses into ``out_dir``, one file a table.

        ``fmt``: ``csv`` or ``parquet``; ``export.json`` lists the files and the provenance.
        """
        from sstrkit.registry.cohort import FORMATS, export_tables

        if fmt not in FORMATS:
            raise InvalidInputError("--format", expected=" or ".join(FORMATS), actual=repr(fmt))
        tables = [*self.cohort_tables().items(), ("voxel_doses", self.voxel_doses())]
        return export_tables(tables, Path(out_dir), fmt, registry=self.url)


# ---------------------------------------------------------------------- writing
def _get_or_create(s: Session, model: Any, key: str, values: dict[str, Any]) -> int:
    """Id of the row of ``model`` whose unique ``key`` column has ``values[key]``."""
    column = getattr(model, key)
    dialect = s.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        s.execute(sqlite.insert(model).values(**values).on_conflict_do_nothing())
    elif dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        s.execute(postgresql.insert(model).values(**values).on_conflict_do_nothing())
    elif s.scalar(select(model.id).where(column == values[key])) is None:
        with s.begin_nested():
            s.add(model(**values))
    found = s.scalar(select(model.id).where(column == values[key]))
    assert found is not None
    return int(found)


def _insert_run(s: Session, data: RunData) -> RunRecord:
    now = _now()
    patient_pk = _get_or_create(
        s,
        t.Patient,
        "patient_id",
        {"patient_id": data.patient_id, "sex": data.sex, "created_at": now},
    )
    study_pk = _get_or_create(
        s,
        t.Study,
        "study_key",
        {
            "study_key": data.study_key,
            "study_instance_uid": data.study_instance_uid,
            "patient_pk": patient_pk,
            "folder": str(data.study_dir),
            "created_at": now,
        },
    )
    study = s.scalars(select(t.Study).where(t.Study.id == study_pk).with_for_update()).one()
    if study.patient_pk != patient_pk:
        owner = s.get(t.Patient, study.patient_pk)
        raise InvalidInputError(
            f"study {data.study_key}",
            expected=f"the study of patient {data.patient_id}",
            actual=f"recorded for patient {owner.patient_id if owner else '?'}",
            fix="check patient.id in the study's manifest.json",
        )
    study.folder = str(data.study_dir)
    if data.sex is not None:
        s.execute(
            update(t.Patient)
            .where(t.Patient.id == patient_pk, t.Patient.sex.is_(None))
            .values(sex=data.sex)
        )
    out = str(data.out_dir)
    existing = s.scalar(
        select(t.Run).where(
            t.Run.study_pk == study_pk,
            t.Run.out_dir == out,
            t.Run.content_sha256 == data.content_sha256,
        )
    )
    if existing is not None:
        return _record(existing, data.patient_id, data.study_key, created=False)
    run = t.Run(
        study_pk=study_pk,
        out_dir=out,
        content_sha256=data.content_sha256,
        finished_at=data.finished_at,
        recorded_at=now,
        is_current=False,
        **data.run,
    )
    s.add(run)
    s.flush()
    for name, rows in data.rows.items():
        if rows:
            s.execute(insert(CHILD_TABLES[name]), [{**r, "run_pk": run.id} for r in rows])
    latest = s.scalar(
        select(t.Run.id)
        .where(t.Run.study_pk == study_pk)
        .order_by(t.Run.finished_at.desc(), t.Run.id.desc())
        .limit(1)
    )
    if latest == run.id:
        s.execute(
            update(t.Run)
            .where(t.Run.study_pk == study_pk, t.Run.is_current)
            .values(is_current=False)
        )
        s.execute(update(t.Run).where(t.Run.id == run.id).values(is_current=True))
    s.flush()
    s.refresh(run)
    return _record(run, data.patient_id, data.study_key, created=True)


def _record(run: t.Run, patient_id: str, study_key: str, *, created: bool) -> RunRecord:
    return RunRecord(
        run_id=run.id,
        patient_id=patient_id,
        study_key=study_key,
        out_dir=Path(run.out_dir),
        content_sha256=run.content_sha256,
        sstrkit_version=run.sstrkit_version,
        finished_at=run.finished_at,
        recorded_at=run.recorded_at,
        is_current=run.is_current,
        created=created,
    )


# ---------------------------------------------------------------------- reading
def _run_summary(r: t.Run) -> RunSummary:
    return RunSummary(
        r.id, r.out_dir, r.sstrkit_version, r.finished_at, r.recorded_at, r.is_current, r.skipped
    )


def _columns(model: Any) -> list[str]:
    return [c.key for c in model.__table__.columns if c.key not in ("id", "run_pk")]


def _child_rows(s: Session, run_ids: list[int]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for name, model in CHILD_TABLES.items():
        cols = _columns(model)
        stmt: Select[Any] = (
            select(model.run_pk, *(getattr(model, c) for c in cols))  # type: ignore[attr-defined]
            .where(model.run_pk.in_(run_ids))  # type: ignore[attr-defined]
            .order_by(model.run_pk, model.id)  # type: ignore[attr-defined]
        )
        out[name] = [dict(zip(["run_id", *cols], row, strict=True)) for row in s.execute(stmt)]
    return out


def _summaries(s: Session, patient_pk: int | None) -> list[PatientSummary]:
    """Patient summaries (all patients, or one) in three queries."""
    pstmt = select(t.Patient.id, t.Patient.patient_id).order_by(t.Patient.patient_id)
    rstmt = select(
        t.Study.patient_pk,
        t.Study.id,
        t.Run.id,
        t.Run.finished_at,
        t.Run.is_current,
        t.Run.kidney_bed_cumulative_gy,
        t.Run.marrow_dose_cumulative_gy,
    ).join(t.Run, t.Run.study_pk == t.Study.id, isouter=True)
    cstmt = (
        select(t.Study.patient_pk, t.Administration.run_pk, t.Administration.cycle)
        .join(t.Run, t.Administration.run_pk == t.Run.id)
        .join(t.Study, t.Run.study_pk == t.Study.id)
        .where(t.Run.is_current, t.Administration.cycle.is_not(None))
    )
    if patient_pk is not None:
        pstmt = pstmt.where(t.Patient.id == patient_pk)
        rstmt = rstmt.where(t.Study.patient_pk == patient_pk)
        cstmt = cstmt.where(t.Study.patient_pk == patient_pk)
    studies: dict[int, set[int]] = defaultdict(set)
    latest: dict[int, _dt.datetime] = {}
    current: dict[int, list[tuple[float | None, float | None]]] = defaultdict(list)
    for ppk, spk, run_id, finished, is_current, kidney, marrow in s.execute(rstmt):
        studies[ppk].add(spk)
        if run_id is None:
            continue
        if ppk not in latest or finished > latest[ppk]:
            latest[ppk] = finished
        if is_current:
            current[ppk].append((kidney, marrow))
    cycles: dict[int, set[tuple[int, int | None]]] = defaultdict(set)
    for ppk, run_pk, cycle in s.execute(cstmt):
        cycles[ppk].add((run_pk, cycle))

    def total(values: list[float | None]) -> float | None:
        if not values or any(v is None for v in values):
            return None
        return float(sum(v for v in values if v is not None))

    return [
        PatientSummary(
            patient_id=pid,
            studies=len(studies[ppk]),
            cycles=len(cycles[ppk]),
            latest_run_at=latest.get(ppk),
            kidney_bed_gy=total([k for k, _ in current[ppk]]),
            marrow_dose_gy=total([m for _, m in current[ppk]]),
        )
        for ppk, pid in s.execute(pstmt)
    ]
