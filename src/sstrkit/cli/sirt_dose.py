"""``sstrkit sirt dose STUDY`` — post-implant 90Y dosimetry (and the combined liver BED).

Reads the study's post-implant 90Y PET/CT (or bremsstrahlung SPECT/CT) and VOIs
(:mod:`sstrkit.pipeline.sirt_y90_inputs`), computes the local-deposition and/or voxel
S-value dose maps, the tumour / normal-liver / lung mean doses and DVHs
(:mod:`sstrkit.sirt.y90_dose`), compares them with the MAA-based prediction when given
(``--maa-*-gy``) and, with ``--prrt-results``, sums the normal-liver BED of SIRT and the
PRRT cycles against the liver tolerances (:mod:`sstrkit.sirt.liver_bed`). With ``--out``
the dose maps are written as NIfTI and RTDOSE and the result as ``sirt_dose.json``.

:func:`register` adds the ``dose`` command to ``app``, the ``sirt`` group
(:mod:`sstrkit.cli.sirt`; as :func:`sstrkit.cli.sirt_plan.register` does ``plan``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import typer

from sstrkit.cli.output import console, emit, guarded, output_folder, progress_reporter, table
from sstrkit.errors import InvalidInputError

__all__ = ["register"]


def _fmt(v: Any, spec: str = ".3g") -> str:
    return "—" if v is None else format(v, spec)


def _render(doc: dict[str, Any]) -> None:
    d = doc["dosimetry"]
    methods = d["methods"]
    rows = []
    for r in d["regions"]:
        rows.append(
            (
                r["name"],
                f"{r['volume_ml']:.1f}",
                *(_fmt(r[m]["mean_gy"]) for m in methods),
                _fmt(r[d["primary_method"]]["pvc_mean_gy"]),
                *(_fmt(r[m]["d70_gy"]) for m in methods),
                _fmt(r["truth_mean_gy"]),
                _fmt(r["predicted_gy"]),
                "small" if r["small_voi"] else "",
            )
        )
    cols = (
        "region",
        "volume mL",
        *(f"mean Gy ({m})" for m in methods),
        f"PVC mean Gy ({d['primary_method']})",
        *(f"D70 Gy ({m})" for m in methods),
        "truth Gy",
        "MAA Gy",
        "",
    )
    title = (
        f"post-implant 90Y dosimetry ({d['kind']}, {d['implanted_activity_mbq']:.0f} MBq "
        f"implanted, FOV/implanted {d['fov_to_implanted_ratio']:.2f})"
    )
    console.print(table(title, cols, rows))
    bed = doc.get("liver_bed")
    if bed is not None:
        brow = [
            (t["label"], _fmt(t["dose_gy"]), _fmt(t["g_factor"], ".4f"), _fmt(t["bed_gy"]))
            for t in (bed["sirt"], *bed["prrt"])
        ]
        brow.append(("total", "", "", _fmt(bed["total_bed_gy"])))
        console.print(table("normal-liver BED", ("delivery", "dose Gy", "G", "BED Gy"), brow))
        for c in bed["checks"]:
            console.print(
                f"{c['name']}: {bed['total_bed_gy']:.1f} of {c['limit_bed_gy']:.1f} Gy BED "
                f"({100 * c['fraction_of_limit']:.0f} %) → {c['status']}"
            )
    for f in d["flags"]:
        console.print(f"[yellow]•[/yellow] {f}", markup=True, soft_wrap=True)
    if doc.get("files"):
        console.print("files: " + ", ".join(doc["files"].values()))


def _predicted(tumour: float | None, normal: float | None, lungs: float | None) -> dict[str, float]:
    pairs = (("tumour", tumour), ("normal_liver", normal), ("lungs", lungs))
    for name, v in pairs:
        if v is not None and not v >= 0:
            raise InvalidInputError(f"--maa-{name.replace('_', '-')}-gy", expected="≥ 0", actual=v)
    return {k: float(v) for k, v in pairs if v is not None}


def register(app: typer.Typer) -> None:
    """Add ``dose`` to the ``sirt`` group ``app`` (:mod:`sstrkit.cli.sirt`)."""

    @app.command("dose")
    @guarded
    def dose(
        study: Path = typer.Argument(..., help="Study folder (with manifest.json)."),
        method: str = typer.Option("both", "--method", help="ldm | voxel | both."),
        kind: str = typer.Option("auto", "--scan", help="auto | pet | spect (90Y scan to use)."),
        rescale: bool = typer.Option(
            False,
            "--rescale-to-implanted",
            help="Scale the image to the net implanted activity (flagged).",
        ),
        smoothing_mm: float | None = typer.Option(
            None, "--smoothing-mm", help="Gaussian post-filter FWHM (mm) of the 90Y image."
        ),
        pvc: str = typer.Option(
            "gtm", "--pvc", help="Partial-volume-corrected means beside the others: gtm | none."
        ),
        pvc_fwhm_mm: float | None = typer.Option(
            None, "--pvc-fwhm-mm", help="FWHM (mm) of the correction (default: the image's)."
        ),
        prrt_results: Path | None = typer.Option(
            None,
            "--prrt-results",
            help="PRRT run folder or results.json: combined normal-liver BED.",
        ),
        maa_tumour: float | None = typer.Option(
            None, "--maa-tumour-gy", help="MAA-predicted tumour dose (Gy)."
        ),
        maa_normal: float | None = typer.Option(
            None, "--maa-normal-liver-gy", help="MAA-predicted normal-liver dose (Gy)."
        ),
        maa_lungs: float | None = typer.Option(
            None, "--maa-lungs-gy", help="MAA-predicted lung dose (Gy)."
        ),
        out: Path | None = typer.Option(None, "--out", help="Output folder (dose maps, JSON)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Post-implant 90Y dosimetry: dose maps, tumour/normal-liver/lung doses, DVHs."""
        from sstrkit.core.atomic import write_json_atomic
        from sstrkit.pipeline.sirt_y90_inputs import (
            load_y90_inputs,
            read_prrt_liver_cycles,
            write_y90_maps,
        )
        from sstrkit.pipeline.study import Study
        from sstrkit.sirt.liver_bed import liver_bed_from_dosimetry
        from sstrkit.sirt.y90_dose import y90_dosimetry

        if method not in ("ldm", "voxel", "both"):
            raise InvalidInputError("--method", expected="ldm, voxel or both", actual=method)
        if kind not in ("auto", "pet", "spect"):
            raise InvalidInputError("--scan", expected="auto, pet or spect", actual=kind)
        if pvc not in ("gtm", "none"):
            raise InvalidInputError("--pvc", expected="gtm or none", actual=pvc)
        predicted = _predicted(maa_tumour, maa_normal, maa_lungs)
        cycles = read_prrt_liver_cycles(prrt_results) if prrt_results is not None else ()
        with contextlib.ExitStack() as stack:
            if out is not None:  # checked and locked before the work (a bad --out fails at once)
                stack.enter_context(output_folder(out, command="sstrkit sirt dose"))
            with progress_reporter(not as_json) as say:
                inp = load_y90_inputs(Study.load(study), kind=kind, progress=say)  # type: ignore[arg-type]
                res = y90_dosimetry(
                    inp.scan,
                    inp.vois,
                    method=method,  # type: ignore[arg-type]
                    rescale_to_implanted=rescale,
                    smoothing_fwhm_mm=smoothing_mm,
                    predicted_gy=predicted,
                    truth_gy=inp.truth_gy,
                    pvc=pvc,  # type: ignore[arg-type]
                    pvc_fwhm_mm=pvc_fwhm_mm,
                    inputs=inp.inputs,
                    progress=say,
                )
                bed = liver_bed_from_dosimetry(res, cycles) if prrt_results is not None else None
            doc: dict[str, Any] = {"dosimetry": res.to_dict()}
            if bed is not None:
                doc["liver_bed"] = bed.to_dict()
            if out is not None:
                files = write_y90_maps(res, out, inp.header, activity=True)
                write_json_atomic(out / "sirt_dose.json", doc)
                files["result_json"] = str(out / "sirt_dose.json")
                doc["files"] = files
        emit(doc, as_json, _render)
