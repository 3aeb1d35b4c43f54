"""``sstrkit cohort run|report`` and ``sstrkit phantom cohort``: a thin layer over the library.

* ``cohort run STUDY... --out DIR [--workers N | --scheduler tcp://HOST:8786]
  [--registry URL] [--no-report] [--json]``: :func:`sstrkit.cohort.runner.run_cohort`
  (a LocalCluster of N single-threaded worker processes by default, ``--workers 0`` runs
  serially); exit status 1 when a study failed (each is listed);
* ``cohort report [--registry URL] --out DIR [--min-lesion-ml 2] [--json]``: the cohort
  analyses of the registry's current runs into ``DIR/index.html``
  (:mod:`sstrkit.cohort.report`);
* ``phantom cohort OUT --n 20 --seed S [--cycles N]``: the synthetic cohort
  (:func:`sstrkit.phantom.cohort.make_cohort`), added to the ``phantom`` group.

Dask, pandas and statsmodels are imported only when a command runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from sstrkit.cli.output import (
    console,
    emit,
    err_console,
    guarded,
    output_folder,
    progress_reporter,
    table,
)
from sstrkit.errors import InvalidInputError

cohort_app = typer.Typer(
    help="Cohorts: run many studies on Dask, analyse the registry, cohort report.",
    no_args_is_help=True,
)

_JSON = typer.Option(False, "--json", help="Print one JSON document.")
_REGISTRY_HELP = (
    "Registry: database URL (sqlite:///FILE, postgresql+psycopg://USER@HOST/DB) or a SQLite "
    "file; default $SSTRKIT_REGISTRY, else the SQLite file under the user's data folder."
)


@contextmanager
def _task_bar(enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar of the cohort's tasks on stderr (a no-op for ``--json``)."""
    if not enabled:
        yield lambda _m, _d, _t: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None)
        yield lambda msg, done, total: bar.update(
            task, description=msg, completed=done, total=total or None
        )


def _render_run(doc: dict[str, Any]) -> None:
    rows = [
        (
            s["name"],
            s["status"],
            f"{s['seconds']:.1f}",
            ", ".join(f"c{c['cycle']} {c['status']}" for c in s["cycles"]) or "—",
            s["error"] or ", ".join(s["skipped_stages"]) or "",
            {True: "yes", False: "no", None: "—"}[s["registered"]],
        )
        for s in doc["studies"]
    ]
    console.print(
        table(
            f"Cohort run ({doc['engine']}, {doc['wall_s']:.1f} s)",
            ("study", "status", "time (s)", "cycles", "error / skipped stages", "registered"),
            rows,
        )
    )
    for f in doc["failed"]:
        console.print(f"[red]failed[/red] {f['name']}: {f['error']}")
    console.print(f"Results in {doc['out']} (cohort_run.json)")


def _run_command(
    studies: list[Path],
    out: Path,
    workers: int | None,
    scheduler: str | None,
    registry: str | None,
    no_report: bool,
    as_json: bool,
) -> None:
    """``sstrkit cohort run``: see the module docstring."""
    from sstrkit.cohort.runner import run_cohort

    if workers is not None and scheduler:
        raise InvalidInputError(
            "--workers and --scheduler",
            expected="one of them",
            actual="both",
            fix="give --workers N for a local cluster, or --scheduler ADDRESS for a running one",
        )
    n = workers if workers is not None else min(os.cpu_count() or 1, max(len(studies), 1))
    reg = None
    if registry is not None:
        from sstrkit.registry import open_registry

        reg = open_registry(registry)
    try:
        with output_folder(out, command="sstrkit cohort run"), _task_bar(not as_json) as say:
            res = run_cohort(
                studies,
                out,
                workers=n,
                scheduler=scheduler,
                registry=reg,
                report=not no_report,
                on_event=say,
            )
    finally:
        if reg is not None:
            reg.close()
    emit(res.to_dict(), as_json, _render_run)
    if res.failed:
        raise typer.Exit(code=1)


def _render_report(doc: dict[str, Any]) -> None:
    dr = doc.get("dose_response")
    if dr:
        f = dr["fit"]
        console.print(
            f"dose–response: slope {f['slope']:.4g} /Gy, 95 % CI "
            f"[{f['slope_ci'][0]:.4g}, {f['slope_ci'][1]:.4g}] ({dr['n_lesions']} lesions)"
        )
    for name, why in doc["skipped"].items():
        console.print(f"[yellow]skipped[/yellow] {name}: {why}")
    console.print(f"Cohort report: {doc['report']}")


def _report_command(registry: str | None, out: Path, min_lesion_ml: float, as_json: bool) -> None:
    """``sstrkit cohort report``: see the module docstring."""
    from sstrkit.cohort.analytics import analyse_cohort
    from sstrkit.cohort.report import write_cohort_report
    from sstrkit.registry import open_registry

    with output_folder(out, command="sstrkit cohort report"), progress_reporter(not as_json) as say:
        say("reading the registry")
        with open_registry(registry) as reg:
            tables = reg.cohort_tables()
            source = reg.url
        say("analyses")
        analysis = analyse_cohort(tables, min_volume_ml=min_lesion_ml)
        say("report")
        path = write_cohort_report(analysis, out, source=source)
    emit({**analysis.to_dict(), "report": str(path)}, as_json, _render_report)


def _hours(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InvalidInputError(
            "--timepoints-h", expected="comma-separated hours, e.g. 24,96,168", actual=text
        ) from None


def _phantom_cohort(
    out: Path,
    n: int,
    seed: int,
    cycles: int,
    voxel_mm: float,
    timepoints_h: str,
    residual_sd: float,
    as_json: bool,
) -> None:
    """``sstrkit phantom cohort``: see the module docstring."""
    from sstrkit.phantom.cohort import CohortConfig, make_cohort

    cfg = CohortConfig(
        n=n,
        seed=seed,
        cycles=cycles,
        voxel_mm=voxel_mm,
        timepoints_h=_hours(timepoints_h),
        residual_sd=residual_sd,
    )
    with (
        output_folder(out, "OUT", command="sstrkit phantom cohort"),
        progress_reporter(not as_json) as say,
    ):
        cohort = make_cohort(out, cfg, progress=say)

    def render(doc: dict[str, Any]) -> None:
        rows = [
            (p["folder"], p["patient_id"], p["sex"], f"{p['activity_bq'] / 1e9:.2f}", p["recist"])
            for p in doc["patients"]
        ]
        console.print(
            table("Digital patients", ("folder", "patient", "sex", "GBq/cycle", "RECIST"), rows)
        )
        console.print(
            f"{doc['n']} studies in {doc['root']}; true dose–response coefficient "
            f"{doc['truth']['beta_per_gy']:g} per Gy (cohort.json)"
        )

    emit(cohort.to_dict(), as_json, render)


def register(app: typer.Typer) -> None:
    """Add ``sstrkit cohort run|report`` and ``sstrkit phantom cohort``."""
    from sstrkit.cli.phantom import phantom_app

    @cohort_app.command("run")
    @guarded
    def run(
        studies: list[Path] = typer.Argument(..., help="Study folders (or bare DICOM folders)."),
        out: Path = typer.Option(..., "--out", help="Output folder: one run folder per study."),
        workers: int | None = typer.Option(
            None,
            "--workers",
            help="Local Dask cluster of N single-threaded worker processes (default: the "
            "number of CPU cores, at most one per study); 0 runs serially in this process.",
        ),
        scheduler: str | None = typer.Option(
            None,
            "--scheduler",
            help="Address of a running Dask scheduler (tcp://HOST:8786); its workers need "
            "sstrkit and the same paths to the study and output folders.",
        ),
        registry: str | None = typer.Option(
            None, "--registry", help="Record every finished study here. " + _REGISTRY_HELP
        ),
        no_report: bool = typer.Option(
            False, "--no-report", help="Skip each study's HTML report (faster)."
        ),
        as_json: bool = _JSON,
    ) -> None:
        """Run studies on Dask: one task per (study, cycle), then each study's stages."""
        _run_command(studies, out, workers, scheduler, registry, no_report, as_json)

    @cohort_app.command("report")
    @guarded
    def report(
        out: Path = typer.Option(..., "--out", help="Output folder (index.html)."),
        registry: str | None = typer.Option(None, "--registry", help=_REGISTRY_HELP),
        min_lesion_ml: float = typer.Option(
            2.0,
            "--min-lesion-ml",
            help="Smallest baseline lesion volume in the dose–response fit (mL).",
        ),
        as_json: bool = _JSON,
    ) -> None:
        """Cohort analyses of the registry's current runs as an HTML report."""
        _report_command(registry, out, min_lesion_ml, as_json)

    @phantom_app.command("cohort")
    @guarded
    def phantom_cohort(
        out: Path = typer.Argument(..., help="Output folder: one study folder per patient."),
        n: int = typer.Option(20, "--n", help="Number of digital patients."),
        seed: int = typer.Option(0, "--seed", help="Random seed of the cohort."),
        cycles: int = typer.Option(2, "--cycles", help="177Lu-DOTATATE cycles per patient."),
        voxel_mm: float = typer.Option(
            8.0, "--voxel-mm", help="Truth-grid voxel size (coarse is fast; at most 10)."
        ),
        timepoints_h: str = typer.Option(
            "24,96,168", "--timepoints-h", help="SPECT/CT times after each injection (h)."
        ),
        residual_sd: float = typer.Option(
            0.15,
            "--residual-sd",
            help="SD of the lesion log volume ratio around the true dose–response line.",
        ),
        as_json: bool = _JSON,
    ) -> None:
        """Digital patients with varied anatomy, uptake, kinetics, response and survival."""
        _phantom_cohort(out, n, seed, cycles, voxel_mm, timepoints_h, residual_sd, as_json)

    app.add_typer(cohort_app, name="cohort")


__all__ = ["cohort_app", "register"]
