"""CLI commands of this group (registered in :mod:`sstrkit.cli.main`).

``sstrkit dose sphere``  — sphere-model S value and absorbed fractions of a lesion.
``sstrkit dose organs``  — MIRD organ, lesion, red-marrow and whole-body doses of a case file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from sstrkit.cli.output import console, emit, guarded, table
from sstrkit.core.atomic import check_output_file, write_csv_atomic
from sstrkit.errors import InvalidInputError
from sstrkit.therapy.case import read_document
from sstrkit.therapy.dose_input import DoseInput, document_doses
from sstrkit.therapy.dose_input import dose_input_doses as compute_case_doses
from sstrkit.therapy.sphere import sphere_s_value

__all__ = ["DoseInput", "compute_case_doses", "dose_app", "register"]

dose_app = typer.Typer(
    name="dose",
    help="Absorbed-dose calculations (MIRD S values, sphere model, organ doses).",
    no_args_is_help=True,
)


def _render_sphere(result: dict[str, Any]) -> None:
    rows = [
        ("nuclide", result["nuclide"]),
        ("tissue", f"{result['tissue']} ({result['density_g_cm3']} g/cm³)"),
        ("mass", f"{result['mass_g']:.6g} g (radius {result['radius_mm']:.4g} mm)"),
        ("S value", f"{result['s_gy_per_bq_s']:.4e} Gy/(Bq·s)"),
        ("S value", f"{result['s_mgy_per_mbq_h']:.4g} mGy/(MBq·h)"),
        ("electron absorbed fraction", f"{result['electron_absorbed_fraction']:.4f}"),
        ("photon absorbed fraction", f"{result['photon_absorbed_fraction']:.4f}"),
        ("electron part of S", f"{result['s_electron_gy_per_bq_s']:.4e} Gy/(Bq·s)"),
        ("photon part of S", f"{result['s_photon_gy_per_bq_s']:.4e} Gy/(Bq·s)"),
    ]
    console.print(table("Sphere model", ["quantity", "value"], rows))


@dose_app.command("sphere")
@guarded
def sphere_command(
    nuclide: str = typer.Option(..., "--nuclide", help="ICRP-107 nuclide, e.g. Lu-177, Y-90."),
    mass_g: float = typer.Option(..., "--mass-g", help="Sphere (lesion) mass in grams."),
    tissue: str = typer.Option("soft", "--tissue", help="soft (1.00 g/cm³) or bone (1.92 g/cm³)."),
    density_g_cm3: float | None = typer.Option(
        None, "--density-g-cm3", help="Override the tissue density (g/cm³)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Self-dose S value of a uniform sphere (lesion) of any mass."""
    if tissue not in ("soft", "bone"):
        raise InvalidInputError("--tissue", expected="soft or bone", actual=repr(tissue))
    result = sphere_s_value(nuclide, mass_g, tissue, density_g_cm3=density_g_cm3)  # type: ignore[arg-type]
    emit(result.to_dict(), as_json, _render_sphere)


def _render_organs(result: dict[str, Any]) -> None:
    rows: list[tuple[object, ...]] = [
        (
            r["name"],
            f"{r['total_gy']:.4g}",
            f"{r['self_electron_gy']:.4g}",
            f"{r['self_photon_gy']:.4g}",
            f"{r['cross_photon_gy']:.4g}",
        )
        for r in result["regions"]
    ]
    if result["whole_body"] is not None:
        wb = result["whole_body"]
        rows.append(
            (
                "whole body",
                f"{wb['total_gy']:.4g}",
                f"{wb['electron_gy']:.4g}",
                f"{wb['photon_gy']:.4g}",
                None,
            )
        )
    if result["red_marrow"] is not None:
        rm = result["red_marrow"]
        rows.append(
            (
                "red marrow",
                f"{rm['total_gy']:.4g}",
                f"{rm['self_electron_gy']:.4g}",
                f"{rm['self_photon_gy']:.4g}",
                rm["remainder_photon_gy"],
            )
        )
    console.print(
        table(
            f"Absorbed doses ({result['nuclide']}), Gy",
            ["region", "total", "self electron", "self photon", "cross photon"],
            rows,
        )
    )


@dose_app.command("organs")
@guarded
def organs_command(
    case: Path = typer.Argument(..., help="Case file or dose-input file (JSON or YAML)."),
    csv_path: Path | None = typer.Option(
        None, "--csv", help="Also write the dose table as CSV (one row per cycle and region)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """MIRD absorbed doses of organs, lesions, whole body and red marrow of a case.

    CASE is either the shared case file (time–activity data per administration, as
    for ``sstrkit plan``; kinetics are fitted and doses given per cycle and
    cumulatively) or a dose-input file with time-integrated activities.
    """
    if csv_path is not None:
        check_output_file(csv_path, "--csv", example="doses.csv")
    doses = document_doses(read_document(case), name=case.name)
    if doses.kind == "case":
        if csv_path is not None:
            write_csv_atomic(csv_path, _CASE_CSV_HEADER, _case_csv_rows(doses.result))
        emit(doses.result, as_json, _render_case)
        return
    out = doses.result
    if csv_path is not None:
        write_csv_atomic(
            csv_path,
            ["region", "total_gy", "self_electron_gy", "self_photon_gy", "cross_photon_gy"],
            [
                (
                    r["name"],
                    r["total_gy"],
                    r["self_electron_gy"],
                    r["self_photon_gy"],
                    r["cross_photon_gy"],
                )
                for r in out["regions"]
            ],
        )
    emit(out, as_json, _render_organs)


_CASE_CSV_HEADER = (
    "cycle",
    "region",
    "kind",
    "model",
    "t_eff_h",
    "tia_mbq_h",
    "tia_sd_mbq_h",
    "mass_g",
    "dose_gy",
    "dose_gy_per_gbq",
    "dose_relative_sd",
)


def _case_csv_rows(result: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (cyc["cycle"], r["name"], *(r[k] for k in _CASE_CSV_HEADER[2:]))
        for cyc in result["cycles"]
        if cyc["measured"]
        for r in cyc["regions"]
    ]


def _render_case(result: dict[str, Any]) -> None:
    for cyc in result["cycles"]:
        if not cyc["measured"]:
            console.print(f"cycle {cyc['cycle']}: no time–activity data")
            continue
        console.print(
            table(
                f"Cycle {cyc['cycle']} ({cyc['nuclide']}, {cyc['activity_mbq']:.0f} MBq)",
                ["region", "model", "T_eff (h)", "TIA (MBq·h)", "dose (Gy)", "Gy/GBq"],
                [
                    (
                        r["name"],
                        r["model"],
                        f"{r['t_eff_h']:.3g}",
                        f"{r['tia_mbq_h']:.4g} ± {r['tia_sd_mbq_h']:.2g}"
                        + (" per mL of blood" if r["name"] == "red marrow" else ""),
                        f"{r['dose_gy']:.3g}",
                        f"{r['dose_gy_per_gbq']:.3g}",
                    )
                    for r in cyc["regions"]
                ],
            )
        )
    console.print(
        table(
            "Cumulative absorbed dose",
            ["region", "dose (Gy)"],
            [(k, f"{v:.3g}") for k, v in result["cumulative_dose_gy"].items()],
        )
    )


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.add_typer(dose_app, name="dose")
