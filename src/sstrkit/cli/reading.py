"""``sstrkit read STUDY``: quantitative SSTR read (lesions, scores, eligibility, images).

``STUDY`` is an SSTR PET (DICOM or NIfTI in SUV), a planar whole-body scintigraphy
(NM WHOLE BODY: :func:`~sstrkit.reading.job.run_planar_reading_job`, original Krenning
scale) or an 111In/99mTc SSTR SPECT (:func:`~sstrkit.reading.job.run_spect_reading_job`);
:func:`_study_kind` tells them apart from the headers. ``reading.json`` carries
``"modality"``: ``"pet"``, ``"planar"`` or ``"spect"``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from sstrkit.cli.output import console, emit, err_console, guarded, table
from sstrkit.core.atomic import prepare_output_dir
from sstrkit.errors import InvalidInputError
from sstrkit.reading.eligibility import Labs, decision_headline, load_rules
from sstrkit.reading.inputs import load_ct, load_organ_labels, load_suv_pet
from sstrkit.reading.job import ReadingInputs, ReadingOutputs, run_reading_job
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
            ...,
            help="SSTR PET (DICOM folder, SUVbw computed, or NIfTI in SUV), planar whole-body "
            "scintigraphy or 111In/99mTc SPECT (DICOM).",
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
        series: str | None = typer.Option(
            None, "--series", help="SeriesInstanceUID when the folder holds several series."
        ),
        calibration: float | None = typer.Option(
            None,
            "--calibration-cps-per-mbq",
            help="SPECT in counts: camera calibration (cps/MBq) for Bq/mL.",
        ),
        spect_fwhm_mm: float | None = typer.Option(
            None, "--spect-fwhm-mm", help="SPECT resolution (default: the tracer's typical)."
        ),
        blur_fwhm_mm: float | None = typer.Option(
            None, "--blur-fwhm-mm", help="Planar: camera resolution FWHM at 10 cm (mm)."
        ),
        liver_roi: str | None = typer.Option(
            None, "--liver-roi", help="Planar: liver ROI ROW,COL,RADIUS (mm on the views)."
        ),
        spleen_roi: str | None = typer.Option(
            None, "--spleen-roi", help="Planar: spleen ROI ROW,COL,RADIUS (mm on the views)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Read an SSTR PET, planar scintigraphy or SPECT: lesions, Krenning, eligibility."""
        _read(
            pet=pet,
            out=out,
            ct=ct,
            organs=organs,
            organ_names=organ_names,
            resample_labels=resample_labels,
            auto_organs=auto_organs,
            fdg=fdg,
            fdg_organs=fdg_organs,
            labs=labs,
            rules=rules,
            therapy=therapy,
            tracer=tracer,
            settings=SegmentationSettings(
                method=method,  # type: ignore[arg-type]
                percent=percent,
                fixed_suv=fixed_suv,
                liver_factor=liver_factor,
                min_volume_ml=min_volume_ml,
            ),
            seed=seed,
            assume_suv=assume_suv,
            images=images,
            gif=gif,
            as_json=as_json,
            scintigraphy={
                "series": series,
                "calibration": calibration,
                "spect_fwhm_mm": spect_fwhm_mm,
                "blur_fwhm_mm": blur_fwhm_mm,
                "liver_roi": liver_roi,
                "spleen_roi": spleen_roi,
            },
        )


def _progress(message: str) -> None:
    """A progress line on stderr (stdout stays for the result)."""
    err_console.print(message)


def _read(
    *,
    pet: Path,
    out: Path,
    ct: Path | None,
    organs: Path | None,
    organ_names: Path | None,
    resample_labels: bool,
    auto_organs: bool,
    fdg: Path | None,
    fdg_organs: Path | None,
    labs: Path | None,
    rules: Path | None,
    therapy: str,
    tracer: str | None,
    settings: SegmentationSettings,
    seed: list[str],
    assume_suv: bool,
    images: bool,
    gif: bool,
    as_json: bool,
    scintigraphy: dict[str, Any] | None = None,
) -> None:
    """The body of ``sstrkit read``: load the files, run the reading job, report.

    A planar whole-body study or an SSTR SPECT (:func:`_study_kind`) goes to
    :func:`_read_scintigraphy` with the ``scintigraphy`` options."""
    extra = scintigraphy or {}
    kind = _study_kind(pet, extra.get("series"))
    if kind != "pet":
        _read_scintigraphy(
            kind, pet, out, ct=ct, organs=organs, organ_names=organ_names,
            resample_labels=resample_labels, auto_organs=auto_organs, labs=labs, rules=rules,
            therapy=therapy, tracer=tracer, seed=seed, images=images, as_json=as_json,
            **{k: extra.get(k) for k in _SCINT_OPTIONS},
        )  # fmt: skip
        return
    seeds = [_parse_seed(s) for s in seed]
    prepare_output_dir(out, "--out")
    say = None if as_json else _progress
    inputs = _load_inputs(
        pet,
        out,
        ct=ct,
        organs=organs,
        organ_names=organ_names,
        resample_labels=resample_labels,
        fdg=fdg,
        fdg_organs=fdg_organs,
        labs=labs,
        assume_suv=assume_suv,
        say=say,
    )
    job = run_reading_job(
        inputs,
        out,
        ReadingOutputs.for_read(images=images, gif=gif),
        rules=load_rules(rules),
        therapy=therapy,
        tracer=tracer,
        settings=settings,
        seeds_mm=seeds,
        auto_organs=auto_organs,
        say=say,
    )
    if not as_json:
        for w in job.document["warnings"]:
            err_console.print(f"warning: {w}", markup=False, highlight=False)
    emit(job.document, as_json, _render)


def _load_inputs(
    pet: Path,
    out: Path,
    *,
    ct: Path | None,
    organs: Path | None,
    organ_names: Path | None,
    resample_labels: bool,
    fdg: Path | None,
    fdg_organs: Path | None,
    labs: Path | None,
    assume_suv: bool,
    say: Callable[[str], None] | None,
) -> ReadingInputs:
    """The reading's volumes from the command's files (``--organs totalsegmentator`` runs it).

    TotalSegmentator's masks (on the CT grid, in ``OUT/totalsegmentator``) are
    resampled to the PET grid (nearest) and the fact recorded in ``organs_source``.
    """
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
        if say is not None:
            say("segmenting the CT with TotalSegmentator…")
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
    return ReadingInputs(
        suv=suv,
        ct=ct_vol,
        organs=org_vol,
        organ_names=names,
        organs_source=organs_note,
        resample_labels=resample_labels,
        fdg=fdg_vol,
        fdg_organs=fdg_org,
        fdg_organ_names=fdg_names,
        labs=Labs.from_json(labs) if labs is not None else None,
        warnings=tuple(suv_warnings),
    )


# --------------------------------------------------------------------------- scintigraphy
def _study_kind(path: Path, series_uid: str | None) -> str:
    """``"planar"`` (NM WHOLE BODY), ``"spect"`` (an 111In/99mTc NM tomogram or PET-slice
    SPECT) or ``"pet"`` (everything else, NIfTI included), from the headers."""
    if not path.exists() or path.name.endswith((".nii", ".nii.gz")):
        return "pet"
    from sstrkit.errors import SstrkitError
    from sstrkit.io.discover import discover
    from sstrkit.io.planar import is_planar_wholebody
    from sstrkit.io.suv_nuclide import _identify_nuclide

    found = discover(path if path.is_dir() else path.parent)
    kinds = set()
    for info in found.series:
        if info.modality.upper() not in ("NM", "PT") or (
            series_uid is not None and info.series_uid != series_uid
        ):
            continue
        if path.is_file() and all(f.resolve() != path.resolve() for f in info.files):
            continue
        try:
            ds = info.header(0)
        except SstrkitError:
            continue
        if is_planar_wholebody(ds):
            kinds.add("planar")
        elif _identify_nuclide(ds, None)[0] in ("In-111", "Tc-99m"):
            kinds.add("spect")
        else:
            kinds.add("pet")
    if len(kinds) > 1:
        raise InvalidInputError(
            f"study {path}",
            expected="one kind of study (SSTR PET, planar scintigraphy or SPECT)",
            actual=", ".join(sorted(kinds)),
            fix="pass the folder of one series, or choose one with --series UID",
        )
    return kinds.pop() if kinds else "pet"


#: The ``sstrkit read`` options of planar and SPECT studies only.
_SCINT_OPTIONS = (
    "series", "calibration", "spect_fwhm_mm", "blur_fwhm_mm", "liver_roi", "spleen_roi",
)  # fmt: skip


def _parse_roi(text: str | None, option: str) -> tuple[float, float, float] | None:
    if text is None:
        return None
    try:
        vals = [float(p) for p in text.replace(";", ",").split(",") if p.strip()]
    except ValueError:
        vals = []
    if len(vals) != 3 or vals[2] <= 0:
        raise InvalidInputError(option, expected="ROW,COL,RADIUS in mm (radius > 0)", actual=text)
    return (vals[0], vals[1], vals[2])


def _read_scintigraphy(kind: str, path: Path, out: Path, **kw: Any) -> None:
    """``sstrkit read`` of a planar whole-body study or an SSTR SPECT."""
    prepare_output_dir(out, "--out")
    say = None if kw["as_json"] else _progress
    if kind == "planar":
        doc = _read_planar(path, out, kw, say)
        if not kw["as_json"]:
            for w in doc["warnings"]:
                err_console.print(f"warning: {w}", markup=False, highlight=False)
        emit(doc, kw["as_json"], _render_planar)
        return
    from sstrkit.reading.job import ReadingOutputs, load_sstr_spect, run_spect_reading_job

    spect = load_sstr_spect(
        path, series_uid=kw["series"], calibration_cps_per_mbq=kw["calibration"]
    )
    ct_vol = load_ct(kw["ct"]) if kw["ct"] is not None else None
    org_vol, names = (
        load_organ_labels(kw["organs"], kw["organ_names"], spect.suv)
        if kw["organs"] is not None
        else (None, None)
    )
    job = run_spect_reading_job(
        spect,
        out,
        ReadingOutputs.for_read(images=kw["images"]),
        ct=ct_vol,
        tracer=kw["tracer"],
        organs=org_vol,
        organ_names=names,
        organs_source=f"supplied: {kw['organs']}" if kw["organs"] is not None else None,
        resample_labels=kw["resample_labels"],
        auto_organs=kw["auto_organs"],
        labs=Labs.from_json(kw["labs"]) if kw["labs"] is not None else None,
        rules=load_rules(kw["rules"]),
        therapy=kw["therapy"],
        fwhm_mm=kw["spect_fwhm_mm"],
        seeds_mm=[_parse_seed(x) for x in kw["seed"]],
        say=say,
    )
    if not kw["as_json"]:
        for w in job.document["warnings"]:
            err_console.print(f"warning: {w}", markup=False, highlight=False)
    emit(job.document, kw["as_json"], _render)


def _read_planar(
    path: Path, out: Path, kw: dict[str, Any], say: Callable[[str], None] | None
) -> dict[str, Any]:
    """Read the planar study (the time point closest to 24 h when the folder holds several)."""
    from sstrkit.io.discover import discover
    from sstrkit.io.planar import is_planar_wholebody, read_planar_wholebody
    from sstrkit.reading.job import run_planar_reading_job
    from sstrkit.reading.planar import PlanarSettings

    notes: list[str] = []
    uid = kw["series"]
    if uid is None and path.is_dir():
        found = discover(path)
        uids = [
            s.series_uid
            for s in found.series
            if s.modality.upper() == "NM" and is_planar_wholebody(s.header(0))
        ]
        if len(uids) > 1:
            studies = [read_planar_wholebody(path, series_uid=u) for u in uids]
            best = min(studies, key=lambda st: abs(st.hours_post_injection - 24.0))
            uid = best.series_uid
            others = ", ".join(
                f"{st.hours_post_injection:.1f} h ({st.series_uid})"
                for st in studies
                if st is not best
            )
            notes.append(
                f"{len(uids)} whole-body scans: the one at {best.hours_post_injection:.1f} h is "
                f"read (closest to 24 h, the Krenning view); not read: {others} (--series UID)"
            )
    study = read_planar_wholebody(path, series_uid=uid)
    settings = PlanarSettings(
        blur_fwhm_mm=kw["blur_fwhm_mm"],
        liver_roi=_parse_roi(kw["liver_roi"], "--liver-roi"),
        spleen_roi=_parse_roi(kw["spleen_roi"], "--spleen-roi"),
    )
    job = run_planar_reading_job(
        study,
        out,
        settings=settings,
        images=kw["images"],
        say=say,
        extra={"read_notes": notes} if notes else None,
    )
    return job.document


def _render_planar(d: dict[str, Any]) -> None:
    ref = d["reference"]
    liver, spleen = ref["liver"], ref["spleen"]
    console.print(
        f"{d['tracer'] or d['radionuclide']} planar whole body, "
        f"{d['hours_post_injection']:g} h p.i.; liver mean "
        f"{liver['mean_counts'] if liver else 'not found'} counts, spleen mean "
        f"{spleen['mean_counts'] if spleen else 'not found'} counts",
        markup=False,
        highlight=False,
    )
    for note in [*d.get("read_notes", []), *d["notes"]]:
        console.print(f"note: {note}", markup=False, highlight=False)
    rows = [
        (
            m["id"],
            ", ".join(f"{v:.0f}" for v in m["position_mm"]),
            m["side"],
            f"{m['diameter_mm']:.0f}",
            None if m["ratio_liver"] is None else f"{m['ratio_liver']:.2f}",
            None if m["ratio_spleen"] is None else f"{m['ratio_spleen']:.2f}",
            m["krenning"],
            "possible bowel" if m["flags"] else None,
        )
        for m in d["lesions"]
    ]
    console.print(
        table(
            "Planar lesions (geometric mean)",
            ("id", "row, col mm", "side", "mm", "L/liver", "L/spleen", "Krenning", "flags"),
            rows,
        )
    )
    console.print(
        "physiological: "
        + (", ".join(p["organ"] for p in d["physiological"]) or "none identified"),
        markup=False,
        highlight=False,
    )
    console.print(f"Krenning (patient, original planar scale) {d['krenning_patient']}")
