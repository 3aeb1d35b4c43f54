"""``sstrkit run`` and ``sstrkit demo``: the main job, from a study folder to the report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from sstrkit.cli.output import console, emit, guarded, output_folder, progress_reporter, table
from sstrkit.pipeline.run import RunResult

if TYPE_CHECKING:
    from sstrkit.registry import Registry


def _render(doc: dict[str, Any]) -> None:
    stages = doc["stages"]
    rows: list[tuple[object, ...]] = []
    for name, secs in doc["timings_s"].items():
        status = "skipped: " + doc["skipped"][name] if name in doc["skipped"] else "done"
        rows.append((name, f"{secs:.1f}", status))
    console.print(table("Stages", ("stage", "time (s)", "status"), rows))
    if doc.get("intake"):
        console.print(
            f"Intake: manifest generated from the DICOM headers in {doc['study']} "
            "(review it; edit it or use --role to override)."
        )
    reading = stages.get("reading")
    if reading:
        elig = reading["eligibility"]
        verdict = {True: "eligible", False: "NOT eligible"}.get(
            elig.get("eligible"), "eligibility not assessed"
        )
        missing = elig.get("missing") or []
        console.print(
            f"SSTR PET: {len(reading['lesions'])} lesions, Krenning "
            f"{reading['krenning_patient']}, PRRT {verdict}"
            + (f" (missing: {', '.join(map(str, missing))})." if missing else ".")
        )
    dos = stages.get("dosimetry")
    if dos:
        cum = dos["organ_level"]["cumulative_dose_gy"]
        est = dos["organ_level"].get("cumulative_estimated_gy", {})
        kinds = dos.get("regions", {}).get("kinds", {})
        console.print(
            table(
                "Cumulative absorbed dose (all cycles; estimated part in brackets)",
                ("region", "dose (Gy)"),
                [
                    (k, f"{v:.3g}" + (f" ({est[k]:.3g} estimated)" if est.get(k) else ""))
                    for k, v in cum.items()
                    if kinds.get(k) != "lesion"
                ],
            )
        )
    for flag in doc.get("data_quality", []):
        console.print(f"[yellow]data quality:[/yellow] {escape(str(flag['message']))}")
    plan = stages.get("planning")
    if plan:
        p = plan["after_cycle_1"]
        cum_mbq = p.get("max_safe_cumulative_activity_mbq")
        nxt = p.get("next_cycle_activity_mbq")
        console.print(
            f"Plan after the first cycle: limiting organ {p.get('limiting_organ')}, max safe "
            "cumulative activity "
            + (f"{cum_mbq / 1000:.1f} GBq" if cum_mbq is not None else "n/a")
            + f", {p.get('recommended_cycles_total')} cycles, next cycle "
            + (f"{nxt / 1000:.2f} GBq." if nxt is not None else "n/a.")
        )
    elif "planning" in doc["skipped"]:
        console.print(f"[yellow]No plan:[/yellow] {escape(str(doc['skipped']['planning']))}")
    if "report" in doc["files"]:
        console.print(f"Report: {doc['files']['report']}")


def _finish(res: RunResult, as_json: bool) -> None:
    emit(res.to_dict(), as_json, _render)


def _open_registry(url: str | None) -> Registry | None:
    """The registry of ``sstrkit run --registry URL`` (None without the option)."""
    if url is None:
        return None
    from sstrkit.registry import open_registry

    return open_registry(url)


def register(app: typer.Typer) -> None:
    """Add ``sstrkit run`` and ``sstrkit demo``."""

    @app.command("run")
    @guarded
    def run(
        study: Path = typer.Argument(
            ..., help="Study folder (with manifest.json) or a bare DICOM folder (intake)."
        ),
        out: Path = typer.Option(..., "--out", help="Output folder (report, JSON, CSV, RTDOSE)."),
        segmentation: Path | None = typer.Option(
            None, "--segmentation", help="Label map (NIfTI) of organs and lesions (DICOM input)."
        ),
        label_names: Path | None = typer.Option(
            None, "--label-names", help='Label names JSON: {"1": "liver"} or {"liver": 1}.'
        ),
        clinical: Path | None = typer.Option(
            None, "--clinical", help="clinical.json: labs, administrations, blood samples."
        ),
        role: list[str] = typer.Option(
            [], "--role", help="Override a series role: SERIES_UID=ROLE (repeatable)."
        ),
        spect_fwhm_mm: float | None = typer.Option(
            None,
            "--spect-fwhm-mm",
            help="Reconstructed SPECT resolution (FWHM, mm) for partial-volume correction.",
        ),
        registry: str | None = typer.Option(
            None,
            "--registry",
            help="Record the finished run in this patient registry (database URL or SQLite "
            "file; see 'sstrkit registry --help').",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """The main job: import → reading → dosimetry → planning → follow-up → report."""
        from sstrkit.cli.study import parse_role_options
        from sstrkit.pipeline.run import run_study

        roles = parse_role_options(role)
        # opened first: a wrong URL or an unreachable database fails before the long run
        reg = _open_registry(registry)
        with output_folder(out, command="sstrkit run"), progress_reporter(not as_json) as say:
            res = run_study(
                study,
                out,
                progress=say,
                segmentation=segmentation,
                label_names=label_names,
                clinical=clinical,
                roles=roles or None,
                spect_fwhm_mm=spect_fwhm_mm,
            )
        if reg is None:
            _finish(res, as_json)
            return
        with reg:
            rec = reg.add_run(res.out)
        doc = {**res.to_dict(), "registry": {"url": reg.url, **rec.to_dict()}}
        emit(doc, as_json, _render)
        if not as_json:
            console.print(f"Recorded in the registry {reg.url} as run {rec.run_id}.", markup=False)

    @app.command("demo")
    @guarded
    def demo(
        out: Path = typer.Option(Path("demo-output"), "--out", help="Output folder."),
        seed: int = typer.Option(7, "--seed", help="Random seed of the digital patient."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Make the digital NET patient and run the main job on it."""
        from sstrkit.pipeline.demo import run_demo

        with output_folder(out, command="sstrkit demo"), progress_reporter(not as_json) as say:
            res = run_demo(out, seed=seed, progress=say)
        _finish(res, as_json)
