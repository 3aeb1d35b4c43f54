"""``sstrkit demo``: the main job on the built-in synthetic patient."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from sstrkit.cli.output import console, emit, err_console, guarded, table
from sstrkit.pipeline.demo import STAGES, run_demo


def _render(summary: dict[str, Any]) -> None:
    res = summary["results"]
    nuc = res["nuclear data"]["nuclides"]
    console.print(
        table(
            "Radionuclides (ICRP 107)",
            ("nuclide", "T½ (h)", "β Emax (MeV)", "CSDA range (mm)", "e⁻ MeV/decay", "γ MeV/decay"),
            [
                (
                    r["nuclide"],
                    f"{r['half_life_h']:.4g}",
                    "—" if r["beta_emax_mev"] is None else f"{r['beta_emax_mev']:.4g}",
                    "—" if r["csda_range_water_mm"] is None else f"{r['csda_range_water_mm']:.3g}",
                    f"{r['electron_mev_per_decay']:.4g}",
                    f"{r['photon_mev_per_decay']:.4g}",
                )
                for r in nuc
            ],
        )
    )
    sched = res["treatment schedule"]
    console.print(
        table(
            sched["regimen"],
            ("cycle", "date", "activity (GBq)", "residual from earlier cycles (MBq)"),
            [
                (
                    c["cycle"],
                    c["datetime"].date().isoformat(),
                    c["activity_gbq"],
                    f"{c['residual_from_previous_cycles_mbq']:.3g}",
                )
                for c in sched["cycles"]
            ],
        )
    )
    vol = res["image model"]
    console.print(
        f"Image model: PET {vol['pet_shape']} → SPECT grid {vol['spect_shape']}, total activity "
        f"{vol['total_activity_pet_mbq']:.2f} MBq → "
        f"{vol['total_activity_on_spect_grid_mbq']:.2f} MBq "
        "(activity-conserving resampling)."
    )


def register(app: typer.Typer) -> None:
    """Add ``sstrkit demo``."""

    @app.command("demo")
    @guarded
    def demo(
        out: Path = typer.Option(Path("demo-output"), "--out", help="Output folder."),
        seed: int = typer.Option(0, "--seed", help="Random seed of the synthetic patient."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Run sstrkit's main job on the built-in synthetic patient."""
        if as_json:
            summary = run_demo(out, seed=seed)
        else:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            ) as bar:
                task = bar.add_task("demo", total=len(STAGES))

                def step(name: str) -> None:
                    bar.update(task, description=name, advance=1)

                summary = run_demo(out, seed=seed, progress=step)
        emit(summary, as_json, _render)
        if not as_json:
            console.print(f"Results written to {out / 'demo.json'}")
