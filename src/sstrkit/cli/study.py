"""Study commands: ``sstrkit study init`` (intake of a PACS export into a study folder).

A thin layer over :func:`sstrkit.pipeline.intake.intake_study`: the review
table (role, cycle, hours after injection, series description, date) and the
notes (every choice that was not certain, with its override) for people, or
``IntakeResult.to_dict()`` as one JSON document with ``--json``.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import typer

from sstrkit.cli.output import console, emit, guarded, progress_reporter, table
from sstrkit.core.atomic import prepare_output_dir
from sstrkit.errors import InvalidInputError
from sstrkit.pipeline.intake import ROLES, intake_study

study_app = typer.Typer(help="Create study folders.", no_args_is_help=True)


def parse_role_options(values: list[str] | None) -> dict[str, str]:
    """``["1.2.3=pet", ...]`` → ``{"1.2.3": "pet"}`` (roles are checked by the library).

    >>> parse_role_options(["1.2.3=ignore", " 1.2.4 = spect "])
    {'1.2.3': 'ignore', '1.2.4': 'spect'}
    """
    out: dict[str, str] = {}
    for value in values or []:
        uid, sep, role = value.partition("=")
        if not sep or not uid.strip() or not role.strip():
            raise InvalidInputError(
                "--role",
                expected=f"SERIES_UID=ROLE with ROLE one of {', '.join(ROLES)}",
                actual=repr(value),
                fix="e.g. --role 1.2.840.113619.2.55.3=ignore",
            )
        out[uid.strip()] = role.strip()
    return out


def _when(iso: str | None) -> str | None:
    if iso is None:
        return None
    return _dt.datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")


@study_app.command("init")
@guarded
def init(
    dicom_dir: Path = typer.Argument(..., help="PACS export: any folder tree of DICOM files."),
    out: Path = typer.Option(..., "--out", help="Study folder to create (manifest.json)."),
    segmentation: Path | None = typer.Option(
        None, "--segmentation", help="Organ/lesion label map (NIfTI) in the scans' coordinates."
    ),
    label_names: Path | None = typer.Option(
        None, "--label-names", help='Label names: {"1": "liver"} or {"liver": 1}.'
    ),
    clinical: Path | None = typer.Option(
        None, "--clinical", help="clinical.json: administrations and labs (docs/intake.md)."
    ),
    role: list[str] | None = typer.Option(
        None, "--role", help="Override a role: SERIES_UID=ROLE (repeatable; ROLE=ignore drops)."
    ),
    spect_fwhm_mm: float | None = typer.Option(
        None,
        "--spect-fwhm-mm",
        help="Reconstructed SPECT resolution (FWHM, mm) for partial-volume correction.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Write STUDY/manifest.json from the DICOM headers: roles, cycles, hours p.i."""
    roles = parse_role_options(role)
    prepare_output_dir(out, "--out")
    with progress_reporter(not as_json) as progress:
        result = intake_study(
            dicom_dir,
            out,
            segmentation=segmentation,
            label_names=label_names,
            clinical=clinical,
            roles=roles,
            spect_fwhm_mm=spect_fwhm_mm,
            progress=progress,
        )

    def render(doc: dict[str, Any]) -> None:
        rows = [
            (
                r["role"],
                r["cycle"],
                None if r["hours_post_injection"] is None else f"{r['hours_post_injection']:.1f}",
                r["series_description"],
                _when(r["date"]),
            )
            for r in doc["rows"]
        ]
        console.print(
            table(
                f"Study {doc['manifest_path']}",
                ("role", "cycle", "h p.i.", "series description", "date"),
                rows,
            )
        )
        for note in doc["notes"]:
            console.print(f"note: {note}", markup=False, soft_wrap=True)

    emit(result.to_dict(), as_json, render)


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.add_typer(study_app, name="study")
