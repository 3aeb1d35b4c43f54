"""``sstrkit read PET``: quantitative SSTR PET read (lesions, scores, eligibility, images)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from sstrkit.cli.output import console, emit, err_console, guarded, table
from sstrkit.core.atomic import prepare_output_dir, write_json_atomic
from sstrkit.errors import InvalidInputError
from sstrkit.reading.eligibility import Labs, decision_headline, load_rules
from sstrkit.reading.images import (
    write_lesion_slices,
    write_lesion_table,
    write_mip,
    write_rotating_mip,
)
from sstrkit.reading.inputs import load_ct, load_organ_labels, load_suv_pet
from sstrkit.reading.reader import ReadingResult, read_sstr_pet, write_organ_segmentation
from sstrkit.reading.segmentation import FLAG_TEXT, SegmentationSettings


def _parse_seed(text: str) -> tuple[float, float, float]:
    parts = [p for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        vals = ()
    if len(vals) != 3:
        raise InvalidInputError("--seed", expected="x,y,z in LPS mm", actual=text)
    return (vals[0], vals[1], vals[2])


def _render(d: dict[str, Any]) -> None:
    ref = d["reference"]
    console.print(f"organs: {d['organs_source']}", markup=False, highlight=False)
    bad = [q for q in d.get("organ_quality", []) if q["quality"] != "plausible"]
    if bad:
        console.print(
            "organ quality: " + ", ".join(f"{q['name']} {q['quality']}" for q in bad),
            markup=False,
            highlight=False,
        )
    for note in d.get("notes", []):
        console.print(f"note: {note}", markup=False, highlight=False)
    console.print(
        f"liver SUVmean {ref['liver_suv_mean']}, spleen SUVmean {ref['spleen_suv_mean']}, "
        f"blood pool {ref['blood_pool_suv_mean']}"
    )
    rows = [
        (
            m["id"],
            m["organ"],
            f"{m['suv_max']:.2f}",
            f"{m['suv_peak']:.2f}",
            f"{m['volume_ml']:.2f}",
            None if m["t_l"] is None else f"{m['t_l']:.2f}",
            m["krenning"],
            ", ".join(f"{c:.0f}" for c in m["centroid_mm"]),
            "; ".join(FLAG_TEXT.get(f, f) for f in m["flags"]) or None,
        )
        for m in d["lesions"]
    ]
    console.print(
        table(
            "SSTR lesions",
            ("id", "organ", "SUVmax", "SUVpeak", "mL", "T/L", "Krenning", "LPS mm", "flags"),
            rows,
        )
    )
    console.print(
        f"Krenning (patient) {d['krenning_patient']}; SSTR tumour volume "
        f"{d['sstr_tumour_volume_ml']:.1f} mL; total TLSE {d['total_tlse']:.1f}"
    )
    if d["netpet"] is not None:
        console.print(f"NETPET grade {d['netpet']['grade']}")
    el = d["eligibility"]
    console.print(
        table(
            f"PRRT eligibility ({el['therapy']}): "
            + decision_headline(el)
            + ("" if el["complete"] or el["missing"] else " (optional data missing)"),
            ("rule", "value", "threshold", "status", "source"),
            [
                (
                    r["id"],
                    r["value"],
                    f"{r['operator']} {r['threshold']:g} {r['unit']}",
                    r["status"],
                    r["source"][:60],
                )
                for r in el["rules"]
            ],
        )
    )


def register(app: typer.Typer) -> None:
    """Add ``sstrkit read``."""

    @app.command("read")
    @guarded
    def read(
        pet: Path = typer.Argument(
            ..., help="SSTR PET: DICOM folder (SUVbw computed) or NIfTI in SUV."
        ),
        out: Path = typer.Option(..., "--out", help="Output folder (JSON, label map, PNGs)."),
        ct: Path | None = typer.Option(None, "--ct", help="CT of the same PET/CT (folder/NIfTI)."),
        organs: Path | None = typer.Option(
            None,
            "--organs",
            help="Organ labels: NIfTI label map, RTSTRUCT, a folder of organ masks "
            "(TotalSegmentator output), or 'totalsegmentator' to run it on --ct if installed.",
        ),
        organ_names: Path | None = typer.Option(
            None, "--organ-names", help='JSON {"1": "liver", ...} (default: sidecar "Labels").'
        ),
        resample_labels: bool = typer.Option(
            False, "--resample-labels", help="Resample labels on another grid (nearest)."
        ),
        auto_organs: bool = typer.Option(
            True,
            "--auto-organs/--no-auto-organs",
            help="Without --organs, segment the organs on --ct automatically (written to "
            "organs.nii.gz + labels.json for checking); --no-auto-organs reads without organs.",
        ),
        fdg: Path | None = typer.Option(None, "--fdg", help="Paired FDG PET (folder/NIfTI)."),
        fdg_organs: Path | None = typer.Option(
            None, "--fdg-organs", help="Organ labels on the FDG PET grid."
        ),
        labs: Path | None = typer.Option(None, "--labs", help="LABS.json (units in the keys)."),
        rules: Path | None = typer.Option(None, "--rules", help="Eligibility rules (TOML)."),
        therapy: str = typer.Option("177Lu-DOTATATE", "--therapy", help="Planned PRRT."),
        tracer: str | None = typer.Option(
            None, "--tracer", help="Imaging tracer, e.g. 68Ga-DOTATOC (tracer-specific rules)."
        ),
        method: str = typer.Option(
            "percent_max", "--method", help="percent_max | fixed | liver_relative."
        ),
        percent: float = typer.Option(0.5, "--percent", help="Isocontour fraction (0.41–0.5)."),
        fixed_suv: float = typer.Option(4.0, "--fixed-suv", help="Threshold for --method fixed."),
        liver_factor: float = typer.Option(
            1.0, "--liver-factor", help="× liver SUVmean for --method liver_relative."
        ),
        min_volume_ml: float = typer.Option(0.5, "--min-volume-ml", help="Smallest lesion."),
        seed: list[str] = typer.Option([], "--seed", help="Seed point x,y,z (LPS mm); repeatable."),
        assume_suv: bool = typer.Option(
            False, "--assume-suv", help="Treat a NIfTI without sidecar as SUV (g/mL)."
        ),
        images: bool = typer.Option(True, "--images/--no-images", help="Write PNG images."),
        gif: bool = typer.Option(False, "--gif", help="Also write a rotating MIP (GIF)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Read an SSTR PET: references, lesions, Krenning, NETPET, PRRT eligibility, images."""
        settings = SegmentationSettings(
            method=method,  # type: ignore[arg-type]
            percent=percent,
            fixed_suv=fixed_suv,
            liver_factor=liver_factor,
            min_volume_ml=min_volume_ml,
        )
        seeds = [_parse_seed(s) for s in seed]
        prepare_output_dir(out, "--out")
        suv_warnings: list[str] = []
        suv = load_suv_pet(pet, assume_suv=assume_suv, role="PET", warnings=suv_warnings)
        ct_vol = load_ct(ct) if ct is not None else None
        organs_note: str | None = None
        if organs is not None and str(organs).lower() == "totalsegmentator" and not organs.exists():
            from sstrkit.reading.totalseg import run_totalsegmentator

            if ct is None:
                raise InvalidInputError(
                    "--organs totalsegmentator",
                    expected="a CT to segment (--ct CT_DIR)",
                    actual="no --ct",
                    fix="add --ct, or pass --organs with a label map or mask folder",
                )
            if not as_json:
                err_console.print("segmenting the CT with TotalSegmentator…")
            organs = run_totalsegmentator(ct, out / "totalsegmentator")
            resample_labels = True  # masks are on the CT grid: resampled (nearest) and recorded
            organs_note = f"TotalSegmentator masks in {organs}, resampled to the PET grid"
        org_vol, names = (
            load_organ_labels(organs, organ_names, suv) if organs is not None else (None, None)
        )
        if organs is not None and organs_note is None:
            organs_note = f"supplied: {organs}"
        elif organs_note is not None:
            organs_note = f"supplied: {organs_note}"
        if org_vol is None and ct_vol is not None and auto_organs and not as_json:
            err_console.print("segmenting the organs on the CT (automatic)…")
        fdg_vol = (
            load_suv_pet(fdg, assume_suv=assume_suv, role="FDG PET", warnings=suv_warnings)
            if fdg
            else None
        )
        fdg_org, fdg_names = (
            load_organ_labels(fdg_organs, organ_names, fdg_vol)
            if fdg_organs is not None and fdg_vol is not None
            else (None, None)
        )
        lab_values = Labs.from_json(labs) if labs is not None else None
        rule_set = load_rules(rules)
        result: ReadingResult = read_sstr_pet(
            suv,
            ct=ct_vol,
            organs=org_vol,
            organ_names=names,
            resample_labels=resample_labels,
            fdg=fdg_vol,
            fdg_organs=fdg_org,
            fdg_organ_names=fdg_names,
            labs=lab_values,
            rules=rule_set,
            therapy=therapy,
            tracer=tracer,
            settings=settings,
            seeds_mm=seeds,
            auto_organs=auto_organs,
            organs_source=organs_note,
        )
        doc = result.to_dict()
        from sstrkit.io.nifti import write_nifti

        files: dict[str, Any] = {
            "reading_json": str(out / "reading.json"),
            "lesion_labels": str(write_nifti(result.segmentation.labels, out / "lesions.nii.gz")),
        }
        if result.organ_segmentation is not None:
            files.update(write_organ_segmentation(result.organ_segmentation, out))
        if images:
            if not as_json:
                err_console.print("writing images…")
            files["mip"] = str(
                write_mip(
                    suv,
                    out / "mip.png",
                    result.lesions,
                    organs=result.organs,
                    organs_source=result.organs_source,
                )
            )
            files["lesion_table"] = str(write_lesion_table(result.lesions, out / "lesions.png"))
            files["lesion_slices"] = [
                str(p)
                for p in write_lesion_slices(
                    suv,
                    result.segmentation.labels,
                    result.lesions,
                    out / "slices",
                    ct=result.ct_on_pet_grid,
                )
            ]
        if gif:
            files["mip_rotating"] = str(write_rotating_mip(suv, out / "mip_rotating.gif"))
        doc["warnings"] = list(dict.fromkeys(suv_warnings))
        if not as_json:
            for w in doc["warnings"]:
                err_console.print(f"warning: {w}", markup=False, highlight=False)
        doc["files"] = files
        write_json_atomic(out / "reading.json", doc)
        emit(doc, as_json, _render)
