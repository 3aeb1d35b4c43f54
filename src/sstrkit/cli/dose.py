"""CLI commands of this group (registered in :mod:`sstrkit.cli.main`).

``sstrkit dose sphere``  — sphere-model S value and absorbed fractions of a lesion.
``sstrkit dose organs``  — MIRD organ, lesion, red-marrow and whole-body doses of a case file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import typer
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sstrkit.cli.output import console, emit, guarded, table
from sstrkit.core.atomic import check_output_file, write_csv_atomic
from sstrkit.core.units import BQ_PER_MBQ, SECONDS_PER_HOUR
from sstrkit.errors import InvalidInputError
from sstrkit.therapy.case import parse_case
from sstrkit.therapy.marrow import red_marrow_dose
from sstrkit.therapy.mird import Region, organ_doses
from sstrkit.therapy.planning import case_dosimetry
from sstrkit.therapy.sphere import sphere_s_value

_MBQ_H = BQ_PER_MBQ * SECONDS_PER_HOUR  # Bq·s per MBq·h

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


class _RegionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    tia_mbq_h: float = Field(ge=0)
    mass_g: float = Field(gt=0)
    kind: Literal["organ", "lesion"] = "organ"
    tissue: Literal["soft", "bone"] = "soft"
    centroid_mm: tuple[float, float, float] | None = None
    electron_model: Literal["local", "sphere"] | None = None


class _WholeBodyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tia_mbq_h: float = Field(ge=0)


class _MarrowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    blood_tia_mbq_h_per_ml: float = Field(ge=0)
    rmblr: float = Field(default=1.0, ge=0, le=10)
    mass_g: float | None = Field(default=None, gt=0)
    electron_absorbed_fraction: float = Field(default=1.0, ge=0, le=1)


class _PatientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sex: Literal["male", "female"] = "male"
    mass_kg: float | None = Field(default=None, gt=0)


class DoseInput(BaseModel):
    """Input document of ``sstrkit dose organs`` (JSON or YAML); see docs/dosimetry.md."""

    model_config = ConfigDict(extra="forbid")
    nuclide: str
    administered_activity_mbq: float | None = Field(default=None, gt=0)
    patient: _PatientIn = _PatientIn()
    cross_dose: Literal["auto", "point", "uniform", "none"] = "auto"
    regions: list[_RegionIn] = Field(min_length=1)
    whole_body: _WholeBodyIn | None = None
    red_marrow: _MarrowIn | None = None


def _read_document(path: Path) -> Any:
    if not path.is_file():
        raise InvalidInputError("case file", expected="an existing file", actual=str(path))
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InvalidInputError(
            "case file", expected="valid JSON or YAML", actual=f"{path.name}: {exc}"
        ) from None


def _load_dose_input(path: Path, raw: Any = None) -> DoseInput:
    if raw is None:
        raw = _read_document(path)
    try:
        return DoseInput.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInputError(
            f"case file {path.name}, field {where or '(root)'}",
            expected="a value matching the dose-input schema (docs/dosimetry.md)",
            actual=first["msg"],
        ) from None


def compute_case_doses(doc: DoseInput, *, source: str = "") -> dict[str, Any]:
    """Organ, lesion, whole-body and red-marrow doses of a dose-input document (JSON-ready)."""
    mass_g = None if doc.patient.mass_kg is None else doc.patient.mass_kg * 1000.0
    regions = [
        Region(
            r.name,
            r.tia_mbq_h * _MBQ_H,
            r.mass_g,
            kind=r.kind,
            tissue=r.tissue,
            centroid_mm=r.centroid_mm,
            electron_model=r.electron_model,
        )
        for r in doc.regions
    ]
    wb_tia = None if doc.whole_body is None else doc.whole_body.tia_mbq_h * _MBQ_H
    inputs = (source,) if source else ()
    result = organ_doses(
        doc.nuclide,
        regions,
        whole_body_tia_bq_s=wb_tia,
        whole_body_mass_g=mass_g,
        cross_dose=doc.cross_dose,
        inputs=inputs,
    )
    out: dict[str, Any] = result.to_dict()
    out["red_marrow"] = None
    if doc.red_marrow is not None:
        rm = red_marrow_dose(
            doc.nuclide,
            blood_tia_bq_s_per_ml=doc.red_marrow.blood_tia_mbq_h_per_ml * _MBQ_H,
            rmblr=doc.red_marrow.rmblr,
            sex=doc.patient.sex,
            patient_mass_g=mass_g,
            red_marrow_mass_g=doc.red_marrow.mass_g,
            whole_body_tia_bq_s=wb_tia,
            electron_absorbed_fraction=doc.red_marrow.electron_absorbed_fraction,
            inputs=inputs,
        )
        out["red_marrow"] = rm.to_dict()
    gbq = None if doc.administered_activity_mbq is None else doc.administered_activity_mbq / 1000
    out["administered_activity_mbq"] = doc.administered_activity_mbq
    out["gy_per_gbq"] = None
    if gbq is not None:
        per = {r["name"]: r["total_gy"] / gbq for r in out["regions"]}
        if out["whole_body"] is not None:
            per["whole body"] = out["whole_body"]["total_gy"] / gbq
        if out["red_marrow"] is not None:
            per["red marrow"] = out["red_marrow"]["total_gy"] / gbq
        out["gy_per_gbq"] = per
    return out


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
    raw = _read_document(case)
    if isinstance(raw, dict) and "administrations" in raw:
        result = case_dosimetry(parse_case(raw, name=case.name))
        if csv_path is not None:
            write_csv_atomic(csv_path, _CASE_CSV_HEADER, _case_csv_rows(result))
        emit(result, as_json, _render_case)
        return
    doc = _load_dose_input(case, raw)
    out = compute_case_doses(doc, source=case.name)
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
