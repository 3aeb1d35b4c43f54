"""``sstrkit run`` and ``sstrkit demo``: the main job, from a study folder to the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from sstrkit.cli.output import console, emit, guarded, progress_reporter, table
from sstrkit.pipeline.run import RunResult


def _render(doc: dict[str, Any]) -> None:
    stages = doc["stages"]
    rows: list[tuple[object, ...]] = []
    for name, secs in doc["timings_s"].items():
        status = "skipped: " + doc["skipped"][name] if name in doc["skipped"] else "done"
        rows.append((name, f"{secs:.1f}", status))
    console.print(table("Stages", ("stage", "time (s)", "status"), rows))
    reading = stages.get("reading")
    if reading:
        elig = reading["eligibility"]["eligible"]
        console.print(
            f"SSTR PET: {len(reading['lesions'])} lesions, Krenning "
            f"{reading['krenning_patient']}, PRRT {'eligible' if elig else 'NOT eligible'}."
        )
    dos = stages.get("dosimetry")
    if dos:
        cum = dos["organ_level"]["cumulative_dose_gy"]
        console.print(
            table(
                "Cumulative absorbed dose (measured cycles)",
                ("region", "dose (Gy)"),
                [(k, f"{v:.3g}") for k, v in cum.items() if not k.startswith("lesion")],
            )
        )
    plan = stages.get("planning")
    if plan:
        p = plan["after_cycle_1"]
        console.print(
            f"Plan after cycle 1: limiting organ {p['limiting_organ']}, max safe cumulative "
            f"activity {p['max_safe_cumulative_activity_mbq'] / 1000:.1f} GBq, "
            f"{p['recommended_cycles_total']} cycles, next cycle "
            f"{p['next_cycle_activity_mbq'] / 1000:.2f} GBq."
        )
    if "report" in doc["files"]:
        console.print(f"Report: {doc['files']['report']}")


def _finish(res: RunResult, as_json: bool) -> None:
    emit(res.to_dict(), as_json, _render)


def register(app: typer.Typer) -> None:
    """Add ``sstrkit run`` and ``sstrkit demo``."""

    @app.command("run")
    @guarded
    def run(
        study: Path = typer.Argument(..., help="Study folder in the documented layout."),
        out: Path = typer.Option(..., "--out", help="Output folder (report, JSON, CSV, RTDOSE)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """The main job: import → reading → dosimetry → planning → follow-up → report."""
        from sstrkit.pipeline.run import run_study

        with progress_reporter(not as_json) as say:
            res = run_study(study, out, progress=say)
        _finish(res, as_json)

    @app.command("demo")
    @guarded
    def demo(
        out: Path = typer.Option(Path("demo-output"), "--out", help="Output folder."),
        seed: int = typer.Option(7, "--seed", help="Random seed of the digital patient."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Make the digital NET patient and run the main job on it."""
        from sstrkit.pipeline.demo import run_demo

        with progress_reporter(not as_json) as say:
            res = run_demo(out, seed=seed, progress=say)
        _finish(res, as_json)
