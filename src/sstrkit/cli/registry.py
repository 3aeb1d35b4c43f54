"""``sstrkit registry ...``: record runs in the patient registry, list, show, export.

Commands: ``add OUT`` (record a finished ``sstrkit run`` folder; idempotent),
``list`` (one line per patient; ``--json``: a JSON array of patients with
``patient_id``, ``studies``, ``cycles``, ``latest_run_at``, ``kidney_bed_gy``,
``marrow_dose_gy``), ``show PATIENT`` (studies, run history, current doses) and
``export --format csv|parquet --out DIR`` (the cohort tables of the current runs).

Every command takes ``--registry URL`` (a database URL or a SQLite file path);
without it ``$SSTRKIT_REGISTRY``, else the SQLite file under the user's data
folder (docs/registry.md). The library (SQLAlchemy, pandas) is imported only
when a registry command runs, so that ``sstrkit --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from sstrkit.cli.output import console, emit, guarded, table

if TYPE_CHECKING:
    from sstrkit.registry import Registry

registry_app = typer.Typer(
    help="Patient registry: record runs, list patients, show one, export cohort tables.",
    no_args_is_help=True,
)

_JSON = typer.Option(False, "--json", help="Print one JSON document.")
REGISTRY_HELP = (
    "Registry: database URL (sqlite:///FILE, postgresql+psycopg://USER@HOST/DB) or a SQLite "
    "file; default $SSTRKIT_REGISTRY, else ~/.local/share/sstrkit/registry.sqlite."
)
_REGISTRY = typer.Option(None, "--registry", help=REGISTRY_HELP)


def _open(url: str | None) -> Registry:
    from sstrkit.registry import open_registry

    return open_registry(url)


def _f(value: float | None, spec: str = ".3g") -> str | None:
    return None if value is None else format(value, spec)


def _when(iso: str | None) -> str | None:
    return None if iso is None else iso[:16].replace("T", " ")


@registry_app.command("add")
@guarded
def add(
    out: list[Path] = typer.Argument(..., help="Output folder(s) of 'sstrkit run'."),
    study: Path | None = typer.Option(
        None, "--study", help="Study folder, when it moved since the run (one OUT only)."
    ),
    registry: str | None = _REGISTRY,
    as_json: bool = _JSON,
) -> None:
    """Record finished run folders (results.json + the study's manifest and clinical data)."""
    from sstrkit.errors import InvalidInputError

    if study is not None and len(out) > 1:
        raise InvalidInputError(
            "--study", expected="one OUT folder with --study", actual=f"{len(out)} folders"
        )
    with _open(registry) as reg:
        records = [reg.add_run(o, study=study).to_dict() for o in out]
        doc = {"registry": reg.url, "runs": records}

    def render(d: dict[str, Any]) -> None:
        for r in d["runs"]:
            what = "recorded" if r["created"] else "already recorded"
            state = (
                "current" if r["is_current"] else "history (a newer run of the study is current)"
            )
            console.print(
                f"{what}: run {r['run_id']} of patient {r['patient_id']} ({r['out_dir']}), {state}",
                markup=False,
                soft_wrap=True,
            )

    emit(doc, as_json, render)


@registry_app.command("list")
@guarded
def list_patients(registry: str | None = _REGISTRY, as_json: bool = _JSON) -> None:
    """One line per patient: studies, cycles, latest run, cumulative kidney BED, marrow dose."""
    with _open(registry) as reg:
        patients = [p.to_dict() for p in reg.patients()]
        url = reg.url

    def render(rows: list[dict[str, Any]]) -> None:
        console.print(
            table(
                f"Patients in {url}",
                (
                    "patient",
                    "studies",
                    "cycles",
                    "latest run (UTC)",
                    "kidney BED (Gy)",
                    "marrow (Gy)",
                ),
                [
                    (
                        p["patient_id"],
                        p["studies"],
                        p["cycles"],
                        _when(p["latest_run_at"]),
                        _f(p["kidney_bed_gy"]),
                        _f(p["marrow_dose_gy"]),
                    )
                    for p in rows
                ],
            )
        )

    emit(patients, as_json, render)


def _render_detail(doc: dict[str, Any]) -> None:
    s = doc["summary"]
    console.print(
        f"Patient {doc['patient_id']} (sex {doc['sex'] or '—'}): {s['studies']} studies, "
        f"{s['cycles']} cycles; cumulative kidney BED {_f(s['kidney_bed_gy']) or '—'} Gy, "
        f"red-marrow dose {_f(s['marrow_dose_gy']) or '—'} Gy",
        markup=False,
        soft_wrap=True,
    )
    runs = [
        (st["study_key"], r["run_id"], "current" if r["is_current"] else "history",
         _when(r["finished_at"]), r["sstrkit_version"], r["out_dir"])
        for st in doc["studies"]
        for r in st["runs"]
    ]  # fmt: skip
    console.print(table("Studies and runs", ("study", "run", "", "finished (UTC)", "sstrkit",
                                             "folder"), runs))  # fmt: skip
    cur = doc["current"]
    console.print(
        table(
            "Administrations (current runs)",
            ("cycle", "time (UTC)", "activity (GBq)", "radiopharmaceutical"),
            [
                (a["cycle"], _when(a["time"]), _f(a["activity_bq"] / 1e9, ".4g"),
                 a["radiopharmaceutical"])
                for a in cur["administrations"]
            ],
        )
    )  # fmt: skip
    doses = [d for d in cur["region_doses"] if d["level"] == "organ"]
    console.print(
        table(
            "Absorbed dose per cycle (organ level, current runs)",
            ("cycle", "region", "status", "dose (Gy)", "± SD (Gy)", "BED (Gy)"),
            [
                (d["cycle"], d["region"], d["status"], _f(d["dose_gy"]), _f(d["dose_sd_gy"]),
                 _f(d["bed_gy"]))
                for d in doses
            ],
        )
    )  # fmt: skip
    for r in cur["readings"]:
        console.print(
            f"SSTR PET reading: {r['n_lesions']} lesions, Krenning {r['krenning_patient']}, "
            f"eligibility {r['eligibility_status']}",
            markup=False,
        )
    for sv in cur["survival"]:
        pfs, os_ = (None if v is None else v / 86400 for v in (sv["pfs_s"], sv["os_s"]))
        console.print(
            f"Survival: PFS {_f(pfs, '.0f') or '—'} d (event {sv['pfs_event']}), "
            f"OS {_f(os_, '.0f') or '—'} d (event {sv['os_event']})",
            markup=False,
        )


@registry_app.command("show")
@guarded
def show(
    patient: str = typer.Argument(..., help="Patient id (as in 'sstrkit registry list')."),
    registry: str | None = _REGISTRY,
    as_json: bool = _JSON,
) -> None:
    """Everything on one patient: studies, run history, current doses, reading, follow-up."""
    from sstrkit.core.provenance import jsonable

    with _open(registry) as reg:
        doc = jsonable(reg.patient(patient).to_dict())
    emit(doc, as_json, _render_detail)


@registry_app.command("export")
@guarded
def export(
    out: Path = typer.Option(..., "--out", help="Folder for the tables (one file each)."),
    fmt: str = typer.Option("csv", "--format", help="csv or parquet."),
    registry: str | None = _REGISTRY,
    as_json: bool = _JSON,
) -> None:
    """Write the cohort tables of the current runs (patients, doses, labs, ...) as files."""
    from sstrkit.errors import InvalidInputError
    from sstrkit.registry.cohort import FORMATS

    if fmt not in FORMATS:
        raise InvalidInputError("--format", expected=" or ".join(FORMATS), actual=repr(fmt))
    with _open(registry) as reg:
        paths = reg.export(out, fmt)
        url = reg.url
    doc = {"registry": url, "format": fmt, "files": [str(p) for p in paths]}

    def render(d: dict[str, Any]) -> None:
        console.print(f"{len(d['files'])} files written to {out}", markup=False)

    emit(doc, as_json, render)


def register(app: typer.Typer) -> None:
    """Add the ``registry`` group to ``app``."""
    app.add_typer(registry_app, name="registry")
