"""``sstrkit preclinical ...``: reporter-gene and small-animal imaging, biodistribution, dosimetry.

``quantify``   %ID/mL and %ID/g per region of PET/SPECT images (DICOM folder or NIfTI),
               tumour-to-reference ratios and their early→late change.
``biodist``    gamma-counter CSV (tissues, standards, background) → %ID/g per group/time.
``correlate``  correlation and regression of uptake against vector dose or expression.
``dose``       organ TIA and absorbed dose (sphere-model electrons) of a small animal,
               optionally extrapolated to humans by the %kg/g method.

Every command accepts ``--json`` (one JSON document on stdout) and ``--report``
(a short HTML report with tables and plots).
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
from pathlib import Path
from typing import Any, cast

import typer

from sstrkit.cli.output import console, emit, guarded, table
from sstrkit.core.atomic import check_output_file
from sstrkit.core.body import parse_sex
from sstrkit.core.units import parse_quantity
from sstrkit.errors import InvalidInputError
from sstrkit.physics.nuclides import get_nuclide
from sstrkit.preclinical import biodist as bd_mod
from sstrkit.preclinical.correlate import (
    SpearmanCI,
    Transform,
    pearson,
    regress,
    regression_figure,
    spearman,
    write_png,
)
from sstrkit.preclinical.dose import (
    CrossDose,
    DoseResult,
    KineticsModel,
    OrganTac,
    extrapolate_to_human,
    resolve_organ_mass,
    small_animal_doses,
    tacs_from_biodistribution,
    tacs_from_images,
)
from sstrkit.preclinical.images import load_activity_image
from sstrkit.preclinical.quantify import (
    Injection,
    Quantification,
    RatioChange,
    RegionMask,
    label_region,
    quantify,
    ratio_change,
    sphere_region,
    threshold_region,
)
from sstrkit.preclinical.report import preclinical_report
from sstrkit.preclinical.times import parse_time
from sstrkit.report.document import write_text_atomic

_JSON = typer.Option(False, "--json", help="Print one JSON document.")
_REPORT = typer.Option(None, "--report", help="Write a short HTML report to this path.")

pre_app = typer.Typer(
    name="preclinical",
    help="Preclinical and reporter-gene imaging: %ID/g, biodistribution, statistics, dosimetry.",
    no_args_is_help=True,
)


# --------------------------------------------------------------------------- helpers


def _half_life(
    nuclide: str | None, tracer: str | None, fallback: float | None = None
) -> tuple[float, str]:
    if nuclide:
        n = get_nuclide(nuclide)
        return n.half_life_s, n.name
    if tracer:
        from sstrkit import catalog

        t = catalog.tracer(tracer)
        return get_nuclide(t.nuclide).half_life_s, t.nuclide
    if fallback is not None:
        return fallback, "half-life from the image header"
    raise InvalidInputError(
        "nuclide",
        expected="--nuclide (e.g. Ga-68) or --tracer (e.g. 68Ga-DOTATATE)",
        actual="neither",
        fix="name the radionuclide of the injected tracer",
    )


def _tz(text: str | None) -> _dt.tzinfo | None:
    if not text:
        return None
    if text.upper() in ("UTC", "Z"):
        return _dt.UTC
    try:
        return _dt.datetime.fromisoformat(f"2000-01-01T00:00{text}").tzinfo
    except ValueError:
        raise InvalidInputError(
            "--timezone", expected="an offset like +01:00 or UTC", actual=text
        ) from None


def _time(text: str | None, what: str, tz: _dt.tzinfo | None) -> _dt.datetime | None:
    if not text:
        return None
    return parse_time(
        text,
        what,
        tz,
        expected="ISO 8601, e.g. 2026-03-02T09:00+01:00",
        naive_fix="append the offset (+01:00) or pass --timezone",
    )


def _pairs(items: list[str], what: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise InvalidInputError(what, expected="NAME=VALUE", actual=item)
        out.append((name.strip(), value.strip()))
    return out


def _float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidInputError(what, expected="a number", actual=text) from None


def _ratio_pairs(items: list[str]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        t, sep, r = item.partition("/")
        if not sep or not t or not r:
            raise InvalidInputError("--ratio", expected="TARGET/REFERENCE", actual=item)
        out.append((t, r))
    return out


def _masses(items: list[str], what: str) -> dict[str, float]:
    return {k: _float(v, f"{what} {k}") for k, v in _pairs(items, what)}


def _check_outputs(**outputs: tuple[Path | None, str]) -> None:
    """Check every requested output file before the work (``--option=(path, example)``)."""
    for option, (path, example) in outputs.items():
        if path is not None:
            check_output_file(path, "--" + option.replace("_", "-"), example=example)


# --------------------------------------------------------------------------- quantify


def _regions(
    image: Any, labels: Any, region: list[str], sphere: list[str], threshold: list[str]
) -> list[RegionMask]:
    out: list[RegionMask] = []
    for name, value in _pairs(region, "--region"):
        if labels is None:
            raise InvalidInputError("--region", expected="--labels LABELS.nii.gz", actual="none")
        out.append(label_region(name, labels, int(_float(value, f"label of {name}")), image))
    for name, value in _pairs(sphere, "--sphere"):
        parts = [_float(p, f"sphere {name}") for p in value.split(",")]
        if len(parts) != 4:
            raise InvalidInputError("--sphere", expected="NAME=X,Y,Z,RADIUS (mm)", actual=value)
        out.append(sphere_region(name, image, parts[:3], parts[3]))
    for name, value in _pairs(threshold, "--threshold"):
        frac_text, _, within_name = value.partition("@")
        within = None
        if within_name:
            within = next((r for r in out if r.name == within_name), None)
            if within is None:
                raise InvalidInputError(
                    f"search region of threshold {name!r}",
                    expected=f"a region defined before it: {[r.name for r in out]}",
                    actual=within_name,
                )
        out.append(
            threshold_region(name, image, fraction_of_max=_float(frac_text, name), within=within)
        )
    if not out:
        raise InvalidInputError(
            "regions", expected="--region, --sphere or --threshold", actual="none"
        )
    return out


def _render_quant(doc: dict[str, Any]) -> None:
    for q in doc["images"]:
        rows = [
            (
                r["name"],
                r["n_voxels"],
                f"{r['volume_ml']:.4g}",
                f"{r['mean_pct_id_per_ml']:.4g}",
                f"{r['mean_pct_id_per_g']:.4g}",
                f"{r['max_pct_id_per_g']:.4g}",
                f"{r['total_pct_id']:.4g}",
            )
            for r in q["regions"]
        ]
        console.print(
            table(
                f"{q['image']} — {q['time_since_injection_h']:.3g} h p.i.",
                ["region", "voxels", "mL", "%ID/mL", "%ID/g", "max %ID/g", "%ID"],
                rows,
            )
        )
    if doc["ratios"]:
        console.print(
            table(
                "Ratios",
                ["image", "ratio", "value"],
                [(r["image"], r["name"], f"{r['value']:.4g}") for r in doc["ratios"]],
            )
        )
    for w in doc["warnings"]:
        console.print(f"warning: {w}")
    for c in doc["ratio_changes"]:
        console.print(
            f"{c['target']}/{c['reference']}: {c['early_ratio']:.4g} → {c['late_ratio']:.4g} "
            f"(change {c['change']:+.4g}, {100 * c['relative_change']:+.1f} %, "
            f"{c['change_per_hour']:+.4g} per h)"
        )


@pre_app.command("quantify")
@guarded
def quantify_command(
    images: list[Path] = typer.Argument(..., help="DICOM folders or NIfTI files, in time order."),
    labels: Path | None = typer.Option(None, "--labels", help="Label image (NIfTI)."),
    region: list[str] = typer.Option([], "--region", help="NAME=LABEL_VALUE (repeatable)."),
    sphere: list[str] = typer.Option([], "--sphere", help="NAME=X,Y,Z,RADIUS in mm (LPS)."),
    threshold: list[str] = typer.Option(
        [], "--threshold", help="NAME=FRACTION[@WITHIN]: ≥ fraction of max inside WITHIN."
    ),
    injected: str | None = typer.Option(None, "--injected", help="Injected activity, '5 MBq'."),
    injection_time: str | None = typer.Option(
        None, "--injection-time", help="ISO 8601, e.g. 2026-03-02T09:00+01:00."
    ),
    timezone: str | None = typer.Option(None, "--timezone", help="Zone of naive times (+01:00)."),
    nuclide: str | None = typer.Option(None, "--nuclide", help="Radionuclide, e.g. Ga-68."),
    tracer: str | None = typer.Option(None, "--tracer", help="Catalogue tracer name."),
    density: float = typer.Option(1.0, "--density-g-ml", help="Tissue density for %ID/g."),
    ratio: list[str] = typer.Option([], "--ratio", help="TARGET/REFERENCE, e.g. tumour/muscle."),
    tac_out: Path | None = typer.Option(
        None, "--tac-out", help="Write organ curves (CSV for 'preclinical dose --tac')."
    ),
    report: Path | None = _REPORT,
    as_json: bool = _JSON,
) -> None:
    """%ID/mL and %ID/g per region, decay corrected to the injection."""
    from sstrkit.io.nifti import read_nifti

    _check_outputs(tac_out=(tac_out, "tacs.csv"), report=(report, "report.html"))

    tz = _tz(timezone)
    label_vol = read_nifti(labels) if labels is not None else None
    quants: list[Quantification] = []
    warnings: list[str] = []
    for path in images:
        loaded = load_activity_image(path)
        warnings.extend(f"{path.name}: {w}" for w in loaded.warnings)
        hl, nuc = _half_life(nuclide, tracer, loaded.half_life_s)
        t_inj = _time(injection_time, "--injection-time", tz) or loaded.injection_time
        a_inj = parse_quantity(injected, "activity") if injected else loaded.injected_activity_bq
        if a_inj is None:
            raise InvalidInputError(
                f"injected activity for {path.name}",
                expected="--injected '5 MBq' or a header RadionuclideTotalDose",
                actual="missing",
            )
        inj = Injection(a_inj, t_inj, hl, nuc)
        masks = _regions(loaded.volume, label_vol, region, sphere, threshold)
        quants.append(quantify(loaded.volume, inj, masks, density_g_ml=density))
    pairs = _ratio_pairs(ratio)
    ratios = [
        {"image": q.image, "name": f"{t}/{r}", "value": q.ratio(t, r)}
        for q in quants
        for t, r in pairs
    ]
    changes: list[RatioChange] = (
        [ratio_change(quants[0], quants[-1], t, r) for t, r in pairs] if len(quants) > 1 else []
    )
    doc: dict[str, Any] = {
        "images": [q.to_dict() for q in quants],
        "ratios": ratios,
        "ratio_changes": [c.to_dict() for c in changes],
        "warnings": warnings,
        "tac_out": None,
        "report": None,
    }
    if tac_out is not None:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["organ", "time_h", "pct_id_per_g", "mass_g"])
        for t in tacs_from_images(quants):
            for ts, v in zip(t.times_s, t.pct_id_per_g, strict=True):
                w.writerow([t.organ, ts / 3600.0, v, t.mass_g])
        write_text_atomic(tac_out, buf.getvalue())
        doc["tac_out"] = str(tac_out)
    if report is not None:
        preclinical_report(quantifications=quants, ratio_changes=changes).write(report)
        doc["report"] = str(report)
    emit(doc, as_json, _render_quant)


# --------------------------------------------------------------------------- biodist


def _load_biodist(
    counts: Path, animals: Path, nuclide: str | None, tracer: str | None, timezone: str | None
) -> bd_mod.Biodistribution:
    tz = _tz(timezone)
    hl, nuc = _half_life(nuclide, tracer)
    return bd_mod.biodistribution(
        bd_mod.read_counts_csv(counts, default_tz=tz),
        bd_mod.read_animals_csv(animals, default_tz=tz),
        half_life=hl,
        nuclide=nuc,
        inputs=(counts.name, animals.name),
    )


def _render_biodist(doc: dict[str, Any]) -> None:
    rows = [
        (
            s["group"],
            f"{s['time_point_h']:g}",
            s["tissue"],
            s["n"],
            f"{s['mean']:.4g}",
            "—" if s["sd"] is None else f"{s['sd']:.3g}",
        )
        for s in doc["summary_pct_id_per_g"]
    ]
    console.print(table("%ID/g", ["group", "h", "tissue", "n", "mean", "SD"], rows))
    for w in doc["warnings"]:
        console.print(f"warning: {w}")


@pre_app.command("biodist")
@guarded
def biodist_command(
    counts: Path = typer.Argument(..., help="Gamma-counter CSV (tube, kind, counts...)."),
    animals: Path = typer.Option(..., "--animals", help="Animals CSV (animal, group...)."),
    nuclide: str | None = typer.Option(None, "--nuclide", help="Counted radionuclide."),
    tracer: str | None = typer.Option(None, "--tracer", help="Catalogue tracer name."),
    timezone: str | None = typer.Option(None, "--timezone", help="Zone of naive times (+01:00)."),
    ratio: list[str] = typer.Option([], "--ratio", help="TARGET/REFERENCE, e.g. tumour/muscle."),
    out_csv: Path | None = typer.Option(None, "--out-csv", help="Per-tube %ID/g table (CSV)."),
    report: Path | None = _REPORT,
    as_json: bool = _JSON,
) -> None:
    """%ID/g from ex-vivo gamma counting, with summaries per group and time point."""
    _check_outputs(out_csv=(out_csv, "biodist.csv"), report=(report, "report.html"))
    bd = _load_biodist(counts, animals, nuclide, tracer, timezone)
    doc = bd.to_dict()
    doc["ratios"] = [
        {"name": f"{t}/{r}", "summary": [s.to_dict() for s in bd.ratio(t, r)]}
        for t, r in _ratio_pairs(ratio)
    ]
    if out_csv is not None:
        buf = io.StringIO()
        w = csv.writer(buf)
        cols = [
            "tube",
            "animal",
            "group",
            "time_point_h",
            "tissue",
            "weight_g",
            "net_cps",
            "pct_id",
            "pct_id_per_g",
            "below_background",
        ]
        w.writerow(cols)
        for s in bd.samples:
            d = s.to_dict()
            w.writerow([d[c] for c in cols])
        write_text_atomic(out_csv, buf.getvalue())
        doc["out_csv"] = str(out_csv)
    if report is not None:
        preclinical_report(biodistribution=bd).write(report)
        doc["report"] = str(report)
    emit(doc, as_json, _render_biodist)


# --------------------------------------------------------------------------- correlate


def _columns(path: Path, x: str, y: str) -> tuple[list[float], list[float]]:
    if not path.is_file():
        raise InvalidInputError("CSV file", expected="an existing file", actual=str(path))
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise InvalidInputError(f"CSV {path.name}", expected="a header and rows", actual="empty")
    for col in (x, y):
        if col not in rows[0]:
            raise InvalidInputError(
                f"column {col!r}", expected=f"one of {list(rows[0])}", actual="absent"
            )
    xs = [_float(r[x], f"{x} on line {i}") for i, r in enumerate(rows, start=2)]
    ys = [_float(r[y], f"{y} on line {i}") for i, r in enumerate(rows, start=2)]
    return xs, ys


def _render_corr(doc: dict[str, Any]) -> None:
    rows = [
        (
            c["method"],
            f"{c['r']:.4f}",
            f"[{c['ci_low']:.4f}, {c['ci_high']:.4f}]",
            f"{c['p_value']:.3g}",
        )
        for c in (doc["pearson"], doc["spearman"])
    ]
    console.print(table("Correlation", ["method", "r", "CI", "p"], rows))
    reg = doc["regression"]
    console.print(
        f"slope {reg['slope']:.4g} [{reg['slope_ci'][0]:.4g}, {reg['slope_ci'][1]:.4g}], "
        f"intercept {reg['intercept']:.4g}, R² {reg['r_squared']:.4f}"
    )


@pre_app.command("correlate")
@guarded
def correlate_command(
    data: Path = typer.Argument(..., help="CSV with one row per animal or lesion."),
    x: str = typer.Option(..., "--x", help="Column of the predictor (vector dose, expression)."),
    y: str = typer.Option(..., "--y", help="Column of the uptake (%ID/g, ratio...)."),
    x_scale: str = typer.Option("linear", "--x-scale", help="linear or log10."),
    y_scale: str = typer.Option("linear", "--y-scale", help="linear or log10."),
    confidence: float = typer.Option(0.95, "--confidence", help="Confidence level."),
    spearman_ci: str = typer.Option(
        "bonett-wright", "--spearman-ci", help="bonett-wright or bootstrap."
    ),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    plot: Path | None = typer.Option(None, "--plot", help="Write the diagnostic plots (PNG)."),
    report: Path | None = _REPORT,
    as_json: bool = _JSON,
) -> None:
    """Pearson/Spearman with CIs and a regression with diagnostics."""
    _check_outputs(plot=(plot, "regression.png"), report=(report, "report.html"))
    xs, ys = _columns(data, x, y)
    if x_scale not in ("linear", "log10") or y_scale not in ("linear", "log10"):
        raise InvalidInputError(
            "--x-scale/--y-scale", expected="linear or log10", actual=(x_scale, y_scale)
        )
    if spearman_ci not in ("bonett-wright", "bootstrap"):
        raise InvalidInputError(
            "--spearman-ci", expected="bonett-wright or bootstrap", actual=spearman_ci
        )
    fit = regress(
        xs,
        ys,
        x_transform=cast(Transform, x_scale),
        y_transform=cast(Transform, y_scale),
        confidence=confidence,
    )
    pr = pearson(fit.transformed_x(), fit.transformed_y(), confidence=confidence)
    sr = spearman(xs, ys, confidence=confidence, ci=cast(SpearmanCI, spearman_ci), seed=seed)
    doc: dict[str, Any] = {
        "x": x,
        "y": y,
        "pearson": {**pr.to_dict(), "on": "transformed variables"},
        "spearman": sr.to_dict(),
        "regression": fit.to_dict(),
        "plot": None,
        "report": None,
    }
    if plot is not None:
        write_png(regression_figure(fit, x_label=x, y_label=y, correlation=pr), plot)
        doc["plot"] = str(plot)
    if report is not None:
        preclinical_report(correlation=(fit, pr, x, y)).write(report)
        doc["report"] = str(report)
    emit(doc, as_json, _render_corr)


# --------------------------------------------------------------------------- dose


def _read_tacs(
    path: Path, masses: dict[str, float], species: str | None, body_mass_g: float | None
) -> list[OrganTac]:
    if not path.is_file():
        raise InvalidInputError("TAC file", expected="an existing CSV", actual=str(path))
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    need = {"organ", "time_h", "pct_id_per_g"}
    if not rows or not need <= set(rows[0]):
        raise InvalidInputError(
            f"columns of {path.name}",
            expected=", ".join(sorted(need)),
            actual=list(rows[0]) if rows else "empty",
        )
    by: dict[str, list[tuple[float, float]]] = {}
    row_mass: dict[str, float] = {}
    for i, r in enumerate(rows, start=2):
        by.setdefault(r["organ"], []).append(
            (
                _float(r["time_h"], f"time_h line {i}") * 3600.0,
                _float(r["pct_id_per_g"], f"pct_id_per_g line {i}"),
            )
        )
        if r.get("mass_g"):
            row_mass[r["organ"]] = _float(r["mass_g"], f"mass_g line {i}")
    out = []
    for organ, pts in by.items():
        pts.sort()
        m, src = resolve_organ_mass(organ, {**row_mass, **masses}, species, body_mass_g)
        out.append(OrganTac(organ, tuple(p[0] for p in pts), tuple(p[1] for p in pts), m, src))
    return out


def _render_dose(doc: dict[str, Any]) -> None:
    for key in ("animal", "human"):
        res = doc.get(key)
        if not res:
            continue
        rows = [
            (
                o["organ"],
                f"{o['mass_g']:.4g}",
                f"{o['residence_time_h']:.4g}",
                f"{o['electron_absorbed_fraction']:.3f}",
                f"{o['total_mgy_per_mbq']:.4g}",
            )
            for o in res["organs"]
        ]
        console.print(
            table(
                f"{res['subject']} — {res['nuclide']}",
                ["organ", "g", "τ (h)", "φ_e", "mGy/MBq"],
                rows,
            )
        )
        for w in res["warnings"]:
            console.print(f"warning: {w}")


@pre_app.command("dose")
@guarded
def dose_command(
    nuclide: str = typer.Option(..., "--nuclide", help="Nuclide to dose for (e.g. Lu-177)."),
    counts: Path | None = typer.Option(None, "--counts", help="Gamma-counter CSV."),
    animals: Path | None = typer.Option(None, "--animals", help="Animals CSV."),
    counted_nuclide: str | None = typer.Option(
        None,
        "--counted-nuclide",
        help="Nuclide counted in the biodistribution (default --nuclide).",
    ),
    group: str | None = typer.Option(None, "--group", help="Group of the biodistribution."),
    tac: Path | None = typer.Option(None, "--tac", help="CSV organ,time_h,pct_id_per_g[,mass_g]."),
    timezone: str | None = typer.Option(None, "--timezone", help="Zone of naive times (+01:00)."),
    species: str | None = typer.Option(None, "--species", help="mouse or rat (reference masses)."),
    body_mass_g: float | None = typer.Option(None, "--body-mass-g", help="Animal body mass (g)."),
    mass: list[str] = typer.Option([], "--mass", help="ORGAN=GRAMS measured organ mass."),
    organ: list[str] = typer.Option([], "--organ", help="Organs to dose (default: all)."),
    kinetics: str = typer.Option("trapezoid", "--kinetics", help="trapezoid, auto, mono..."),
    cross_dose: str = typer.Option("uniform", "--cross-dose", help="uniform or none."),
    human: bool = typer.Option(False, "--human", help="Also extrapolate to humans (%kg/g)."),
    sex: str = typer.Option("male", "--sex", help="Human reference: male or female (or M, F)."),
    human_mass: list[str] = typer.Option([], "--human-mass", help="ORGAN=GRAMS human mass."),
    report: Path | None = _REPORT,
    as_json: bool = _JSON,
) -> None:
    """Small-animal organ doses (sphere-model electrons) and optional human extrapolation."""
    _check_outputs(report=(report, "report.html"))
    masses = _masses(mass, "--mass")
    if (tac is None) == (counts is None):
        raise InvalidInputError(
            "input",
            expected="either --tac or --counts with --animals",
            actual="both" if tac else "neither",
        )
    if counts is not None:
        if animals is None:
            raise InvalidInputError("--animals", expected="the animals CSV", actual="missing")
        bd = _load_biodist(counts, animals, counted_nuclide or nuclide, None, timezone)
        tacs = tacs_from_biodistribution(
            bd,
            group=group,
            organs=organ or None,
            masses_g=masses,
            species=species,
            body_mass_g=body_mass_g,
        )
        if body_mass_g is None:
            chosen = [a for a in bd.animals if group is None or a.group == group]
            if chosen and all(a.body_mass_g for a in chosen):
                body_mass_g = sum(float(a.body_mass_g or 0) for a in chosen) / len(chosen)
    else:
        assert tac is not None
        tacs = _read_tacs(tac, masses, species, body_mass_g)
        if organ:
            tacs = [t for t in tacs if t.organ in organ]
    if body_mass_g is None:
        raise InvalidInputError(
            "--body-mass-g", expected="the animal body mass (g)", actual="missing"
        )
    if kinetics not in ("trapezoid", "auto", "mono", "bi_uptake", "bi", "tri"):
        raise InvalidInputError(
            "--kinetics", expected="trapezoid, auto, mono, bi_uptake, bi, tri", actual=kinetics
        )
    if cross_dose not in ("uniform", "none"):
        raise InvalidInputError("--cross-dose", expected="uniform or none", actual=cross_dose)
    human_sex = parse_sex(sex, what="--sex", fix="use --sex male or --sex female (or M, F)")
    animal = small_animal_doses(
        tacs,
        nuclide=nuclide,
        body_mass_g=body_mass_g,
        species=species or "animal",
        kinetics_model=cast(KineticsModel, kinetics),
        cross_dose=cast(CrossDose, cross_dose),
    )
    results: list[DoseResult] = [animal]
    doc: dict[str, Any] = {"animal": animal.to_dict(), "human": None, "report": None}
    if human:
        h = extrapolate_to_human(
            tacs,
            nuclide=nuclide,
            animal_body_mass_g=body_mass_g,
            sex=human_sex,
            human_masses_g=_masses(human_mass, "--human-mass"),
            kinetics_model=cast(KineticsModel, kinetics),
            cross_dose=cast(CrossDose, cross_dose),
        )
        results.append(h)
        doc["human"] = h.to_dict()
    if report is not None:
        preclinical_report(doses=results).write(report)
        doc["report"] = str(report)
    emit(doc, as_json, _render_dose)


def register(app: typer.Typer) -> None:
    """Add the ``preclinical`` group to ``app``."""
    app.add_typer(pre_app, name="preclinical")
