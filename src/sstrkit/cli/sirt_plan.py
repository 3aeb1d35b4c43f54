"""``sstrkit sirt plan STUDY``: 90Y-microsphere activity from the study's 99mTc-MAA work-up.

Registered on the ``sirt`` group by :func:`register` (the group itself is made in
:mod:`sstrkit.cli.main`). Reads the MAA series of the study folder
(:func:`sstrkit.pipeline.sirt_inputs.load_maa_inputs`), measures them
(:func:`sstrkit.sirt.plan_inputs.measure_maa`) and plans
(:func:`sstrkit.sirt.planning.plan_sirt`). Activities leave in GBq with the unit in the
key (``activity_gbq``); doses in Gy (``*_gy``), masses in g. ``--out DIR`` writes the
same document to ``DIR/sirt_plan.json``.

T/N: the plan uses the measured T/N (``--tn-source measured``, default: the normal liver's
safe side) and shows beside it the GTM partial-volume-corrected T/N with the doses it
gives (``tn_comparison``); ``--tn-source pvc`` plans with the corrected one (flagged).
The correction needs the MAA SPECT's resolution: ``--spect-fwhm-mm`` > the manifest's
``fwhm_mm`` > a DICOM-header estimate (flagged) > none (no corrected T/N).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer

from sstrkit.cli.output import console, emit, guarded, output_folder, progress_reporter, table, warn
from sstrkit.core.atomic import write_json_atomic
from sstrkit.core.provenance import jsonable
from sstrkit.core.units import BQ_PER_GBQ
from sstrkit.errors import InvalidInputError

__all__ = ["plan_document", "register"]


def _edge(value: Any) -> Any:
    """Activities in Bq → GBq, the key renamed (``activity_bq`` → ``activity_gbq``)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = str(k)
            if key.endswith("_bq") and (isinstance(v, int | float) or v is None):
                out[key[:-3] + "_gbq"] = None if v is None else float(v) / BQ_PER_GBQ
            else:
                out[key] = _edge(v)
        return out
    if isinstance(value, list):
        return [_edge(v) for v in value]
    return value


def plan_document(plan: Any, findings: Any) -> dict[str, Any]:
    """The JSON document of a plan and its measurements (GBq at the edge)."""
    doc: dict[str, Any] = _edge(jsonable(plan.to_dict()))
    doc["measurements"] = _edge(jsonable(findings.to_dict()))
    return doc


def _fmt(v: Any, spec: str = ".4g") -> str:
    return "—" if v is None else format(v, spec)


def _tn_rows(tn: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Measured and corrected T/N and the doses each gives at the planned activity."""
    if tn is None:
        return []
    if tn["pvc"] is None:
        return [("T/N measured / corrected", f"{_fmt(tn['measured'])} / — ({tn['pvc_note']})")]
    rows = [
        (
            "T/N measured / corrected",
            f"{_fmt(tn['measured'])} / {_fmt(tn['pvc'])} (GTM, {tn['pvc_fwhm_mm']:g} mm FWHM "
            f"from {tn['pvc_fwhm_source']})",
        )
    ]
    for key, label in (("doses_measured_tn", "measured"), ("doses_pvc_tn", "corrected")):
        d = tn[key]
        if d is not None:
            rows.append(
                (
                    f"tumour / normal liver with {label} T/N",
                    f"{_fmt(d['tumour_gy'])} / {_fmt(d['normal_liver_gy'])} Gy",
                )
            )
    return rows


def _render(doc: dict[str, Any]) -> None:
    d = doc["doses"]
    rows = [
        ("device / method", f"{doc['device']} / {doc['method']}"),
        ("activity", f"{doc['activity_gbq']:.3f} GBq (set by: {doc['limiting']})"),
        ("method activity", f"{doc['method_activity_gbq']:.3f} GBq"),
        ("lung shunt fraction", f"{doc['lung_shunt_fraction']:.4f} ({doc['lsf_source']})"),
        ("LSF planar / SPECT", f"{_fmt(doc['lsf_planar'])} / {_fmt(doc['lsf_spect'])}"),
        ("T/N used by the plan", f"{_fmt(doc['tumour_to_normal'])} ({doc['tn_source']})"),
        *_tn_rows(doc.get("tn_comparison")),
        ("lung mass", f"{doc['lung_mass_g']:.0f} g ({doc['lung_mass_source']})"),
        ("tumour dose", f"{_fmt(d['tumour_gy'])} Gy"),
        ("normal-liver dose", f"{_fmt(d['normal_liver_gy'])} Gy"),
        ("lung dose", f"{_fmt(d['lung_gy'])} Gy"),
    ]
    console.print(table("SIRT plan (99mTc-MAA)", ["quantity", "value"], rows))
    checks = [
        (c["name"], c["kind"], _fmt(c["value_gy"]), _fmt(c["threshold_gy"]), c["status"])
        for c in doc["checks"]
    ]
    console.print(
        table("Limits and targets (Gy)", ["", "kind", "dose", "threshold", "status"], checks)
    )
    for f in doc["flags"]:
        warn(f)


def register(app: typer.Typer) -> None:
    """Add ``plan`` to the ``sirt`` group ``app``."""

    @app.command("plan")
    @guarded
    def plan(
        study: Path = typer.Argument(..., help="Study folder (manifest.json with MAA series)."),
        device: str | None = typer.Option(
            None, "--device", help="resin | glass (default: the planned SIRT of clinical.json)."
        ),
        method: str | None = typer.Option(
            None,
            "--method",
            help="partition | bsa | single-compartment (default: partition when the MAA "
            "SPECT/CT allows it, else bsa for resin, single-compartment for glass).",
        ),
        normal_liver_dose_gy: float | None = typer.Option(
            None, "--normal-liver-dose-gy", help="Partition model: normal-liver dose (Gy)."
        ),
        tumour_dose_gy: float | None = typer.Option(
            None, "--tumour-dose-gy", help="Partition model: tumour dose prescription (Gy)."
        ),
        perfused_dose_gy: float | None = typer.Option(
            None, "--perfused-dose-gy", help="Single compartment: perfused-liver dose (Gy)."
        ),
        lung_mass_g: float | None = typer.Option(
            None, "--lung-mass-g", help="Lung mass (g); default: CT of the MAA SPECT/CT."
        ),
        lsf_source: str = typer.Option(
            "auto", "--lsf-source", help="auto (the larger) | planar | spect."
        ),
        tn_source: str = typer.Option(
            "measured",
            "--tn-source",
            help="T/N of the partition model: measured (default, the normal liver's safe "
            "side) | pvc (GTM partial-volume corrected; needs the SPECT resolution).",
        ),
        spect_fwhm_mm: float | None = typer.Option(
            None,
            "--spect-fwhm-mm",
            help="MAA SPECT resolution (FWHM, mm) for the corrected T/N; default: the "
            "manifest's fwhm_mm, else an estimate from the DICOM header (flagged).",
        ),
        pretreated_liver: bool = typer.Option(
            False, "--pretreated-liver", help="Lower normal-liver limit (pretreated liver)."
        ),
        auto_vois: bool = typer.Option(
            True, "--auto-vois/--no-auto-vois", help="Segment liver, lungs, tumours if needed."
        ),
        out: Path | None = typer.Option(None, "--out", help="Write DIR/sirt_plan.json."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Plan a 90Y-microsphere (SIRT) activity from the study's 99mTc-MAA work-up."""
        if lsf_source not in ("auto", "planar", "spect"):
            raise InvalidInputError(
                "--lsf-source", expected="auto, planar or spect", actual=lsf_source
            )
        from sstrkit.sirt.plan_tn import parse_tn_source

        options: dict[str, Any] = {
            "device": device,
            "method": method,
            "lsf_source": lsf_source,
            "tn_source": parse_tn_source(tn_source),
            "normal_liver_dose_gy": normal_liver_dose_gy,
            "tumour_dose_gy": tumour_dose_gy,
            "perfused_dose_gy": perfused_dose_gy,
            "lung_mass_g": lung_mass_g,
            "pretreated_liver": pretreated_liver,
        }
        read = {"auto_vois": auto_vois, "spect_fwhm_mm": spect_fwhm_mm}
        if out is not None:
            with output_folder(out, command="sirt plan"):
                doc = _plan(study, options, read, as_json=as_json)
                write_json_atomic(out / "sirt_plan.json", doc)
        else:
            doc = _plan(study, options, read, as_json=as_json)
        emit(doc, as_json, _render)


def _plan(
    study: Path, options: Mapping[str, Any], read: Mapping[str, Any], *, as_json: bool
) -> dict[str, Any]:
    """Read, measure, plan: the JSON document."""
    from sstrkit.pipeline.sirt_inputs import load_maa_inputs
    from sstrkit.sirt.plan_inputs import measure_maa
    from sstrkit.sirt.planning import plan_sirt

    with progress_reporter(not as_json) as say:
        inputs = load_maa_inputs(
            study,
            auto_vois=bool(read["auto_vois"]),
            spect_fwhm_mm=read["spect_fwhm_mm"],
            progress=say,
        )
        say("measuring lung shunt, T/N and masses…")
        findings = measure_maa(inputs)
    return plan_document(plan_sirt(findings, **options), findings)
