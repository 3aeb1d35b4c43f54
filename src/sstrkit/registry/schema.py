"""The registry's tables as SQLAlchemy 2.x ORM classes (typed ``Mapped[...]`` columns).

One patient has studies (a study folder: one PRRT course, keyed by its DICOM
StudyInstanceUID or a deterministic key, see :mod:`sstrkit.registry.ingest`); a study
has runs (one row per recorded ``sstrkit run`` output); everything measured or
computed hangs off a run, so that re-running a study keeps the earlier results
queryable (history) while the latest run is the study's *current* one
(``runs.is_current``, at most one per study, enforced by a partial unique index).

Internal units only (Bq, s, Gy, g, mL, mm); every column with a unit names it.
Times are tz-aware (:class:`UTCDateTime` stores UTC on every back-end). A value
the run did not produce is NULL, never a default.

The schema is created and changed only by the Alembic migrations in
``sstrkit/registry/migrations`` (:func:`sstrkit.registry.db.upgrade`); a change here
needs a new migration.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Administration",
    "Base",
    "LabValue",
    "LesionUptakeChange",
    "LesionVolume",
    "Patient",
    "Reading",
    "ReadingLesion",
    "RegionDose",
    "ResponseAssessment",
    "Run",
    "RunFile",
    "Study",
    "Survival",
    "UTCDateTime",
]

#: Constraint names Alembic can refer to on every back-end.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[_dt.datetime]):
    """A tz-aware datetime stored as UTC (SQLite keeps no offset; PostgreSQL ``timestamptz``).

    Naive datetimes are refused on the way in; values come back tz-aware in UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> _dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, _dt.datetime) or value.utcoffset() is None:
            raise ValueError(f"registry times must be tz-aware datetimes, got {value!r}")
        utc = value.astimezone(_dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> _dt.datetime | None:
        if value is None:
            return None
        when = value if isinstance(value, _dt.datetime) else _dt.datetime.fromisoformat(str(value))
        if when.tzinfo is None:
            return when.replace(tzinfo=_dt.UTC)
        return when.astimezone(_dt.UTC)


class Base(DeclarativeBase):
    """Declarative base: naming convention and the column types of Python annotations."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads this class attribute)
        _dt.datetime: UTCDateTime(),
        float: Double(),
        str: String(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


def _run_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)


class Patient(Base):
    """A patient, by the ``patient.id`` of the study manifest (unique)."""

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(unique=True)
    sex: Mapped[str | None]
    created_at: Mapped[_dt.datetime]

    studies: Mapped[list[Study]] = relationship(back_populates="patient")


class Study(Base):
    """A study folder (one treatment course): ``study_key`` is unique.

    ``study_key`` is the DICOM StudyInstanceUID when the manifest gives one
    (``study_instance_uid`` then holds it too), else the deterministic key of
    :func:`sstrkit.registry.ingest.study_key`.
    """

    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_key: Mapped[str] = mapped_column(unique=True)
    study_instance_uid: Mapped[str | None]
    patient_pk: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    folder: Mapped[str | None]
    created_at: Mapped[_dt.datetime]

    patient: Mapped[Patient] = relationship(back_populates="studies")
    runs: Mapped[list[Run]] = relationship(back_populates="study")


class Run(Base):
    """One recorded ``sstrkit run`` output folder.

    ``content_sha256`` hashes results.json, manifest.json and clinical.json: adding
    the same folder with the same content again is a no-op. ``finished_at`` is
    when the run wrote results.json (its modification time); the study's run with
    the latest ``finished_at`` (then the highest id) is current.
    """

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("study_pk", "out_dir", "content_sha256"),
        Index(
            "uq_runs_current_study",
            "study_pk",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_pk: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    out_dir: Mapped[str]
    content_sha256: Mapped[str] = mapped_column(String(64))
    sstrkit_version: Mapped[str | None]
    finished_at: Mapped[_dt.datetime]
    recorded_at: Mapped[_dt.datetime]
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
    weight_g: Mapped[float | None]
    height_mm: Mapped[float | None]
    skipped: Mapped[dict[str, Any]]
    n_data_quality: Mapped[int]
    kidney_bed_cumulative_gy: Mapped[float | None]
    marrow_dose_cumulative_gy: Mapped[float | None]

    study: Mapped[Study] = relationship(back_populates="runs")
    region_doses: Mapped[list[RegionDose]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )


class Administration(Base):
    """An administered activity (therapy cycles; diagnostic tracers with ``cycle`` NULL)."""

    __tablename__ = "administrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = _run_fk()
    cycle: Mapped[int | None]
    time: Mapped[_dt.datetime | None]
    activity_bq: Mapped[float]
    radiopharmaceutical: Mapped[str | None]
    nuclide: Mapped[str | None]
    source: Mapped[str | None]


class Reading(Base):
    """The SSTR PET reading of a run (one row per run that read a PET)."""

    __tablename__ = "readings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), unique=True, index=True
    )
    tracer: Mapped[str | None]
    krenning_patient: Mapped[int | None]
    eligible: Mapped[bool | None]
    eligibility_status: Mapped[str | None]
    eligibility_missing: Mapped[list[Any]]
    n_lesions: Mapped[int | None]
    netpet_grade: Mapped[str | None]
    sstr_tumour_volume_ml: Mapped[float | None]
    total_tlse_suv_ml: Mapped[float | None]
    liver_suv_mean: Mapped[float | None]
    spleen_suv_mean: Mapped[float | None]


class ReadingLesion(Base):
    """A lesion of the SSTR PET reading (id as in reading.json; SUVbw, no unit)."""

    __tablename__ = "reading_lesions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = _run_fk()
    lesion_id: Mapped[int]
    organ: Mapped[str | None]
    suv_max: Mapped[float | None]
    suv_peak: Mapped[float | None]
    suv_mean: Mapped[float | None]
    volume_ml: Mapped[float | None]
    tlse_suv_ml: Mapped[float | None]
    krenning: Mapped[int | None]
    x_mm: Mapped[float | None]
    y_mm: Mapped[float | None]
    z_mm: Mapped[float | None]


class RegionDose(Base):
    """Absorbed dose of one region in one cycle.

    ``level`` is ``organ`` (MIRD organ level from the region time–activity curves,
    the values planning uses; per-kidney rows have ``kind`` ``organ_part``) or
    ``voxel`` (mean of the voxel dose map in the VOI). ``status``: measured |
    reduced_timepoints | estimated. ``reading_lesion_id``: the PET reading's lesion
    this VOI is (set only when the VOIs were made from the reading). ``bed_gy`` is
    NULL where no α/β applies or the kinetics are not mono-exponential
    (``bed_method`` says how it was computed).
    """

    __tablename__ = "region_doses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = _run_fk()
    cycle: Mapped[int]
    region: Mapped[str]
    kind: Mapped[str | None]
    reading_lesion_id: Mapped[int | None]
    level: Mapped[str]
    status: Mapped[str | None]
    method: Mapped[str | None]
    tia_bq_s: Mapped[float | None]
    tia_sd_bq_s: Mapped[float | None]
    dose_gy: Mapped[float | None]
    dose_sd_gy: Mapped[float | None]
    bed_gy: Mapped[float | None]
    bed_method: Mapped[str | None] = mapped_column(Text)
    t_eff_s: Mapped[float | None]
    mass_g: Mapped[float | None]
    volume_ml: Mapped[float | None]
    dose_max_gy: Mapped[float | None]
    d90_gy: Mapped[float | None]

    run: Mapped[Run] = relationship(back_populates="region_doses")


class LabValue(Base):
    """One laboratory value (long format; ``unit`` as in clinical.json)."""

    __tablename__ = "lab_values"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = _run_fk()
    time: Mapped[_dt.datetime]
    before_cycle: Mapped[int | None]
    name: Mapped[str]
    value: Mapped[float]
    unit: Mapped[str]


class ResponseAssessment(Base):
    """A response assessment from clinical.json ``responses`` (RECIST, SSTR...)."""

    __tablename__ = "response_assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = _run_fk()
    time: Mapped[_dt.datetime | None]
    since_first_cycle_s: Mapped[float | None]
    criteria: Mapped[str | None]
    response: Mapped[str]
    source: Mapped[str | None]


class LesionVolume(Base):
    """A lesion volume measurement from clinical.json ``lesion_volumes``."""

    __tablename__ = "lesion_volumes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = _run_fk()
    lesion: Mapped[str]
    time: Mapped[_dt.datetime | None]
    since_first_cycle_s: Mapped[float | None]
    volume_ml: Mapped[float]
    source: Mapped[str | None]


class LesionUptakeChange(Base):
    """Lesion uptake on post-therapy SPECT, first vs last cycle (the follow-up stage)."""

    __tablename__ = "lesion_uptake_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = _run_fk()
    lesion: Mapped[str]
    first_cycle: Mapped[int]
    last_cycle: Mapped[int]
    time_point_s: Mapped[float | None]
    uptake_first_bq: Mapped[float | None]
    uptake_last_bq: Mapped[float | None]
    change_pct: Mapped[float | None]


class Survival(Base):
    """Progression-free and overall survival (clinical.json ``survival``)."""

    __tablename__ = "survival"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), unique=True, index=True
    )
    pfs_s: Mapped[float | None]
    pfs_event: Mapped[bool | None]
    os_s: Mapped[float | None]
    os_event: Mapped[bool | None]
    source: Mapped[str | None]


class RunFile(Base):
    """A file the run wrote (results.json ``files``): size NULL when it is gone."""

    __tablename__ = "run_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = _run_fk()
    key: Mapped[str]
    path: Mapped[str]
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
