"""Cohort tables: the registry's current runs as pandas DataFrames, and their export.

Every table has ``patient_id`` (and, where rows come from a run, ``study_key`` and
``run_id``); columns carry their unit (``_bq``, ``_gy``, ``_ml``, ``_g``, ``_s``,
``_days``); times are tz-aware UTC (``datetime64[ns, UTC]``); missing values are
NA, never a default. Empty tables keep their columns.

* ``patients`` — one row per patient: sex, studies, cycles, cumulative kidney BED
  and red-marrow dose, reading summary of the latest current run.
* ``runs`` — the current runs (out folder, version, finish time).
* ``administrations`` — therapy cycles (``cycle`` ≥ 1) and diagnostic tracers (NA).
* ``region_doses`` — organ-level (MIRD) absorbed dose per cycle and region:
  TIA, dose, BED, method, uncertainty (the values planning uses).
* ``voxel_doses`` (:func:`voxel_doses`, not part of :class:`CohortTables`: a second
  method, read on demand) — mean voxel-map dose per cycle and VOI.
* ``lesion_doses`` — per lesion and cycle: dose, BED, the VOI volume, the
  baseline and follow-up volumes (clinical.json ``lesion_volumes``; without a
  measured baseline, the dosimetry VOI volume of the lesion's first cycle, as
  ``volume_baseline_source`` says), the uptake change between the first and last
  cycle, and the PET reading's SUVs where the lesion VOIs came from the reading.
* ``lesion_volumes``, ``labs`` (long: name, value, unit), ``responses``,
  ``survival`` (``pfs_days``, ``pfs_event``, ``os_days``, ``os_event``).
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

from sqlalchemy import Connection, String, func, select, type_coerce
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from sstrkit import __version__
from sstrkit.core.atomic import atomic_path, write_json_atomic
from sstrkit.core.provenance import Step
from sstrkit.core.units import SECONDS_PER_DAY
from sstrkit.errors import InvalidInputError
from sstrkit.registry import schema as t

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

__all__ = [
    "COLUMNS",
    "FORMATS",
    "CohortTables",
    "cohort_tables",
    "export_tables",
    "table_frame",
    "typed",
    "voxel_doses",
]

DAY_S: Final = SECONDS_PER_DAY
#: export formats → file suffix
FORMATS: Final = {"csv": ".csv", "parquet": ".parquet"}

_KEYS: Final = ("patient_id", "study_key", "run_id")
#: columns of every cohort table, in order
COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "patients": (
        "patient_id",
        "sex",
        "studies",
        "cycles",
        "weight_g",
        "height_mm",
        "kidney_bed_cumulative_gy",
        "marrow_dose_cumulative_gy",
        "krenning_patient",
        "eligible",
        "n_lesions",
        "first_cycle_time",
    ),
    "runs": (*_KEYS, "out_dir", "sstrkit_version", "finished_at", "recorded_at"),
    "administrations": (
        *_KEYS,
        "cycle",
        "time",
        "activity_bq",
        "radiopharmaceutical",
        "nuclide",
        "source",
    ),
    "region_doses": (
        *_KEYS,
        "cycle",
        "region",
        "kind",
        "status",
        "tia_bq_s",
        "tia_sd_bq_s",
        "dose_gy",
        "dose_sd_gy",
        "bed_gy",
        "method",
        "t_eff_s",
        "mass_g",
        "volume_ml",
    ),
    "voxel_doses": (
        *_KEYS,
        "cycle",
        "region",
        "dose_gy",
        "dose_max_gy",
        "d90_gy",
        "volume_ml",
        "method",
    ),
    "lesion_doses": (
        *_KEYS,
        "lesion_id",
        "cycle",
        "status",
        "dose_gy",
        "dose_sd_gy",
        "bed_gy",
        "volume_ml_voi",
        "volume_ml_baseline",
        "volume_baseline_source",
        "volume_ml_followup",
        "followup_days",
        "uptake_change_pct",
        "reading_lesion_id",
        "suv_max",
        "suv_peak",
        "suv_mean",
    ),
    "lesion_volumes": (*_KEYS, "lesion", "time", "days_after_first_cycle", "volume_ml", "source"),
    "labs": (*_KEYS, "time", "before_cycle", "name", "value", "unit"),
    "responses": (
        *_KEYS,
        "time",
        "days_after_first_cycle",
        "criteria",
        "response",
        "source",
    ),
    "survival": (
        *_KEYS,
        "pfs_days",
        "pfs_event",
        "os_days",
        "os_event",
        "source",
    ),
}
_TIMES: Final = ("time", "finished_at", "recorded_at", "first_cycle_time")
_INTS: Final = (
    "run_id",
    "cycle",
    "studies",
    "cycles",
    "krenning_patient",
    "n_lesions",
    "before_cycle",
    "reading_lesion_id",
)
_BOOLS: Final = ("eligible", "pfs_event", "os_event")
_TEXT: Final = frozenset(
    {
        "patient_id",
        "study_key",
        "sex",
        "out_dir",
        "sstrkit_version",
        "radiopharmaceutical",
        "nuclide",
        "source",
        "region",
        "kind",
        "status",
        "method",
        "lesion_id",
        "volume_baseline_source",
        "lesion",
        "name",
        "unit",
        "criteria",
        "response",
    }
)


@dataclass(frozen=True)
class CohortTables:
    """The current runs of a registry as DataFrames (columns: :data:`COLUMNS`)."""

    patients: pd.DataFrame
    runs: pd.DataFrame
    administrations: pd.DataFrame
    region_doses: pd.DataFrame
    lesion_doses: pd.DataFrame
    lesion_volumes: pd.DataFrame
    labs: pd.DataFrame
    responses: pd.DataFrame
    survival: pd.DataFrame

    def items(self) -> list[tuple[str, pd.DataFrame]]:
        """(name, table) pairs in the order of :data:`COLUMNS`."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)]


def typed(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """``df`` with exactly the columns of table ``name`` (missing ones NA) and their dtypes."""
    import pandas as pd

    cols = list(COLUMNS[name])
    out = df.reindex(columns=cols).reset_index(drop=True)
    for c in cols:
        if c in _TIMES:
            out[c] = pd.to_datetime(out[c], utc=True)
        elif c in _INTS:
            out[c] = pd.to_numeric(out[c]).astype("Int64")
        elif c in _BOOLS:
            out[c] = out[c].astype("boolean")
        elif c in _TEXT:
            out[c] = out[c].astype("object").where(out[c].notna(), None)
        else:
            out[c] = pd.to_numeric(out[c]).astype("float64")
    return out


def frame(rows: list[dict[str, Any]], name: str) -> pd.DataFrame:
    """A DataFrame of ``rows`` (dicts) with the columns and dtypes of table ``name``."""
    import pandas as pd

    return typed(pd.DataFrame.from_records(rows, columns=list(COLUMNS[name])), name)


def _query(conn: Connection, stmt: ClauseElement) -> pd.DataFrame:
    """Run ``stmt`` on the DB-API cursor of ``conn`` (in its transaction) into a DataFrame.

    The rows go straight from the driver into pandas, without a SQLAlchemy ``Row`` per
    row (a third of the time of a cohort query); values get their types in :func:`typed`.
    """
    import pandas as pd

    compiled = cast(SQLCompiler, stmt.compile(dialect=conn.dialect))
    params: Any = compiled.construct_params()
    if conn.dialect.positional:
        params = tuple(params[k] for k in compiled.positiontup or ())
    dbapi = conn.connection
    if conn.dialect.driver == "psycopg":  # binary results: numbers without text parsing
        cursor = dbapi.driver_connection.cursor(binary=True)  # type: ignore[union-attr]
    else:
        cursor = dbapi.cursor()
    try:
        cursor.execute(str(compiled), params)
        rows = cursor.fetchall()
        names = [d[0] for d in cursor.description]
    finally:
        cursor.close()
    return pd.DataFrame.from_records(rows, columns=names)


def table_frame(
    conn: Connection, model: Any, *, where: Any = None, columns: list[str] | None = None
) -> pd.DataFrame:
    """Rows of ``model`` of the current runs with patient_id, study_key, run_id (one query).

    ``columns``: the model's columns to read (default all). Times are read as the
    driver gives them (text on SQLite) and converted by pandas in :func:`typed`, a
    vectorised step instead of one Python call per value.
    """
    wanted = [c for c in model.__table__.columns if c.key not in ("id", "run_pk")]
    if columns is not None:
        wanted = [c for c in wanted if c.key in columns]
    cols = [
        type_coerce(c, String()).label(c.key) if isinstance(c.type, t.UTCDateTime) else c
        for c in wanted
    ]
    stmt = (
        select(t.Patient.patient_id, t.Study.study_key, t.Run.id.label("run_id"), *cols)
        .select_from(model)
        .join(t.Run, model.run_pk == t.Run.id)
        .join(t.Study, t.Run.study_pk == t.Study.id)
        .join(t.Patient, t.Study.patient_pk == t.Patient.id)
        .where(t.Run.is_current)
        .order_by(model.id)
    )
    if where is not None:
        stmt = stmt.where(where)
    return _query(conn, stmt)


def _num(series: pd.Series) -> pd.Series:
    import pandas as pd

    return pd.to_numeric(series).astype("float64")


def cohort_tables(conn: Connection) -> CohortTables:
    """Build :class:`CohortTables` from the current runs (one query per table)."""
    import pandas as pd

    internal = {
        "region_doses": ["reading_lesion_id"],
        "lesion_volumes": ["since_first_cycle_s"],
        "responses": ["since_first_cycle_s"],
        "survival": ["pfs_s", "os_s"],
        "readings": ["krenning_patient", "eligible", "n_lesions"],
        "reading_lesions": ["lesion_id", "suv_max", "suv_peak", "suv_mean"],
        "uptake": ["lesion", "change_pct"],
    }
    tabs = {
        name: table_frame(
            conn, model, where=where, columns=[*COLUMNS.get(name, ()), *internal.get(name, ())]
        )
        for name, model, where in (
            ("administrations", t.Administration, None),
            ("region_doses", t.RegionDose, t.RegionDose.level == "organ"),
            ("lesion_volumes", t.LesionVolume, None),
            ("labs", t.LabValue, None),
            ("responses", t.ResponseAssessment, None),
            ("survival", t.Survival, None),
            ("readings", t.Reading, None),
            ("reading_lesions", t.ReadingLesion, None),
            ("uptake", t.LesionUptakeChange, None),
        )
    }
    for name in ("administrations",):
        tabs[name]["time"] = pd.to_datetime(tabs[name]["time"], utc=True)
    for name in ("responses", "lesion_volumes"):
        df = tabs[name]
        df["days_after_first_cycle"] = _num(df["since_first_cycle_s"]) / DAY_S
    surv = tabs["survival"]
    surv["pfs_days"] = _num(surv["pfs_s"]) / DAY_S
    surv["os_days"] = _num(surv["os_s"]) / DAY_S
    runs = _query(
        conn,
        select(
            t.Patient.patient_id,
            t.Study.study_key,
            t.Run.id.label("run_id"),
            t.Run.out_dir,
            t.Run.sstrkit_version,
            t.Run.finished_at,
            t.Run.recorded_at,
            t.Run.weight_g,
            t.Run.height_mm,
            t.Run.kidney_bed_cumulative_gy,
            t.Run.marrow_dose_cumulative_gy,
        )
        .join(t.Study, t.Run.study_pk == t.Study.id)
        .join(t.Patient, t.Study.patient_pk == t.Patient.id)
        .where(t.Run.is_current)
        .order_by(t.Run.id),
    )
    for col in ("finished_at", "recorded_at"):
        runs[col] = pd.to_datetime(runs[col], utc=True)
    return CohortTables(
        patients=typed(_patients(conn, runs, tabs), "patients"),
        runs=typed(runs, "runs"),
        **{
            name: typed(tabs[name], name)
            for name in (
                "administrations",
                "region_doses",
                "lesion_volumes",
                "labs",
                "responses",
                "survival",
            )
        },
        lesion_doses=typed(_lesions(tabs), "lesion_doses"),
    )


def _patients(conn: Connection, runs: pd.DataFrame, tabs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per patient; per-run values from the patient's latest current run."""
    pats = _query(
        conn,
        select(t.Patient.patient_id, t.Patient.sex, func.count(t.Study.id).label("studies"))
        .join(t.Study, t.Study.patient_pk == t.Patient.id, isouter=True)
        .group_by(t.Patient.id, t.Patient.patient_id, t.Patient.sex)
        .order_by(t.Patient.patient_id),
    ).set_index("patient_id")
    latest = runs.sort_values(["finished_at", "run_id"]).drop_duplicates("patient_id", keep="last")
    reading = tabs["readings"][["run_id", "krenning_patient", "eligible", "n_lesions"]]
    latest = latest.merge(reading, on="run_id", how="left").set_index("patient_id")
    for col in ("weight_g", "height_mm", "krenning_patient", "eligible", "n_lesions"):
        pats[col] = latest[col]
    for col in ("kidney_bed_cumulative_gy", "marrow_dose_cumulative_gy"):
        values = _num(runs[col])
        total = values.groupby(runs["patient_id"]).sum()
        unknown = values.isna().groupby(runs["patient_id"]).any()
        pats[col] = total.where(~unknown)  # any current run without it: unknown
    adm = tabs["administrations"]
    therapy = adm[adm["cycle"].notna()]
    pats["cycles"] = therapy.drop_duplicates(["run_id", "cycle"]).groupby("patient_id").size()
    pats["cycles"] = pats["cycles"].fillna(0)
    times = therapy[therapy["time"].notna()]
    pats["first_cycle_time"] = times.groupby("patient_id")["time"].min()
    return pats.reset_index()


def _lesions(tabs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Lesion dose rows joined with volumes, uptake change and reading SUVs (module docstring)."""
    doses = tabs["region_doses"]
    d = doses[doses["kind"] == "lesion"].rename(
        columns={"region": "lesion_id", "volume_ml": "volume_ml_voi"}
    )
    keys = ["run_id", "lesion_id"]
    first = (
        d.sort_values("cycle", kind="stable")
        .drop_duplicates(keys)[[*keys, "cycle", "volume_ml_voi"]]
        .rename(columns={"cycle": "voi_cycle", "volume_ml_voi": "voi_first_ml"})
    )
    vols = tabs["lesion_volumes"].rename(columns={"lesion": "lesion_id"})
    vols = vols[vols["days_after_first_cycle"].notna()].sort_values(
        "days_after_first_cycle", kind="stable"
    )
    before = vols[vols["days_after_first_cycle"] <= 0].drop_duplicates(keys, keep="last")
    after = vols[vols["days_after_first_cycle"] > 0].drop_duplicates(keys, keep="last")
    uptake = tabs["uptake"].rename(
        columns={"lesion": "lesion_id", "change_pct": "uptake_change_pct"}
    )
    suv = tabs["reading_lesions"].rename(columns={"lesion_id": "reading_lesion_id"})
    d = d.astype({"reading_lesion_id": "Int64"})
    suv = suv.astype({"reading_lesion_id": "Int64"})
    out = (
        d.merge(first, on=keys, how="left")
        .merge(before[[*keys, "volume_ml"]].rename(columns={"volume_ml": "measured"}), on=keys,
               how="left")
        .merge(after[[*keys, "volume_ml", "days_after_first_cycle"]].rename(
            columns={"volume_ml": "volume_ml_followup", "days_after_first_cycle": "followup_days"}
        ), on=keys, how="left")
        .merge(uptake[[*keys, "uptake_change_pct"]], on=keys, how="left")
        .merge(suv[["run_id", "reading_lesion_id", "suv_max", "suv_peak", "suv_mean"]],
               on=["run_id", "reading_lesion_id"], how="left")
    )  # fmt: skip
    measured = _num(out["measured"]).notna()
    voi = _num(out["voi_first_ml"]).notna()
    out["volume_ml_baseline"] = _num(out["measured"]).where(measured, _num(out["voi_first_ml"]))
    source = out["voi_cycle"].map(lambda c: f"dosimetry VOI, cycle {int(c)}")
    out["volume_baseline_source"] = source.where(voi, None)
    out.loc[measured, "volume_baseline_source"] = "clinical.json lesion_volumes"
    return out


def voxel_doses(conn: Connection) -> pd.DataFrame:
    """Mean voxel-map dose per cycle and VOI of the current runs (columns: :data:`COLUMNS`)."""
    columns = list(COLUMNS["voxel_doses"])
    where = t.RegionDose.level == "voxel"
    return typed(table_frame(conn, t.RegionDose, where=where, columns=columns), "voxel_doses")


def export_tables(
    tables: list[tuple[str, pd.DataFrame]], out_dir: Path, fmt: str, *, registry: str
) -> list[Path]:
    """One file per table (``<name>.csv`` or ``<name>.parquet``) and ``export.json``.

    CSV: times in ISO 8601 (UTC), missing values empty. Parquet keeps the dtypes.
    ``export.json`` lists the tables, their rows and columns, and the provenance.
    """
    from sstrkit.core.atomic import prepare_output_dir

    if fmt not in FORMATS:
        raise InvalidInputError("--format", expected=" or ".join(FORMATS), actual=repr(fmt))
    prepare_output_dir(out_dir, "--out")
    written: list[Path] = []
    index: dict[str, Any] = {}
    for name, df in tables:
        target = out_dir / f"{name}{FORMATS[fmt]}"
        with atomic_path(target) as tmp:
            if fmt == "csv":
                df.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
            else:
                df.to_parquet(tmp, index=False)
        written.append(target)
        index[name] = {"file": target.name, "rows": len(df), "columns": list(df.columns)}
    doc = {
        "format": fmt,
        "exported_at": _dt.datetime.now(_dt.UTC).isoformat(),
        "registry": registry,
        "tables": index,
        "provenance": Step.make(
            "registry_export",
            {"format": fmt, "current_runs_only": True, "sstrkit_version": __version__},
            inputs=(registry,),
        ).to_dict(),
    }
    written.append(write_json_atomic(out_dir / "export.json", json.loads(json.dumps(doc))))
    return written
