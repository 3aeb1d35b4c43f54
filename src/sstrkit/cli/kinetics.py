"""CLI commands of this group (registered in :mod:`sstrkit.cli.main`).

``sstrkit kinetics fit``  — fit one time–activity curve, TIA and effective half-life.
``sstrkit kinetics stp``  — single-time-point TIA (Hänscheid 2018 / Madsen 2018).
``sstrkit bed``           — BED/EQD2 of one or more PRRT cycles (optionally + EBRT).
``sstrkit plan CASE``     — dosimetry-guided planning of the next cycles from a case file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, cast

import typer

from sstrkit.cli.output import console, emit, guarded, table
from sstrkit.errors import InvalidInputError
from sstrkit.physics.nuclides import get_nuclide
from sstrkit.therapy.kinetics import ErrorModel, Method, fit_curve
from sstrkit.therapy.radiobiology import bed_cycles, combine_with_ebrt, tissue_parameters
from sstrkit.therapy.stp import single_time_point

H = 3600.0

kinetics_app = typer.Typer(
    name="kinetics",
    help="Time–activity kinetics: fits, time-integrated activity, single-time-point methods.",
    no_args_is_help=True,
)


def _floats(text: str, option: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise InvalidInputError(
            option, expected="comma-separated numbers, e.g. 4,24,96,168", actual=repr(text)
        ) from None
    if not values:
        raise InvalidInputError(option, expected="at least one number", actual=repr(text))
    return values


def _render_fit(d: dict[str, Any]) -> None:
    rows: list[tuple[str, object]] = [("model", d["model"])]
    rows += [(k, f"{v:.6g}") for k, v in d["parameters"].items()]
    rows += [
        ("effective half-life", f"{d['t_eff_h']:.4g} h"),
        ("TIA", f"{d['tia_mbq_h']:.6g} ± {d['tia_sd_mbq_h']:.3g} MBq·h"),
        ("AICc", "—" if d["aicc"] is None else f"{d['aicc']:.4g}"),
    ]
    console.print(table("Kinetics fit", ["quantity", "value"], rows))
    for w in d["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {w}")


@kinetics_app.command("fit")
@guarded
def fit_command(
    times_h: str = typer.Option(
        ..., "--times-h", help="Times after administration (h), e.g. 4,24,96,168."
    ),
    activity_mbq: str = typer.Option(
        ..., "--activity-mbq", help="Activities (MBq, not decay corrected)."
    ),
    model: str = typer.Option(
        "auto", "--model", help="auto, mono, bi (uptake), bi_uptake, bi_clearance, tri, trapezoid."
    ),
    nuclide: str = typer.Option(
        "Lu-177", "--nuclide", help="Radionuclide (physical half-life, ICRP 107)."
    ),
    cv: float = typer.Option(0.10, "--cv", help="Relative SD of one measurement (weights)."),
    weighting: str = typer.Option(
        "relative", "--weighting", help="relative (σ = cv·A) or uniform (σ = cv·max A)."
    ),
    tail: str = typer.Option("physical", "--tail", help="Trapezoid tail: physical or fitted."),
    bootstrap: int = typer.Option(
        0, "--bootstrap", help="Parametric bootstrap replicates for the TIA SD (0: delta method)."
    ),
    seed: int = typer.Option(0, "--seed", help="Bootstrap random seed."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Fit a time–activity curve; print model, parameters, T_eff, TIA ± SD and AICc."""
    t = _floats(times_h, "--times-h")
    a = _floats(activity_mbq, "--activity-mbq")
    if len(t) != len(a):
        raise InvalidInputError(
            "--times-h / --activity-mbq",
            expected="the same number of values",
            actual=f"{len(t)} times, {len(a)} activities",
        )
    # "bi" on the command line is the bi-exponential with uptake phase (the common
    # organ/tumour curve); the two-phase clearance model is "bi_clearance".
    aliases = {
        "bi": "bi_uptake",
        "bi_clearance": "bi",
        "bi-clearance": "bi",
        "bi-uptake": "bi_uptake",
    }
    name = aliases.get(model, model)
    if name not in ("auto", "mono", "bi_uptake", "bi", "tri", "trapezoid"):
        raise InvalidInputError(
            "--model",
            expected="auto, mono, bi, bi_uptake, bi_clearance, tri or trapezoid",
            actual=repr(model),
        )
    if tail not in ("physical", "fitted"):
        raise InvalidInputError("--tail", expected="physical or fitted", actual=repr(tail))
    if weighting not in ("relative", "uniform"):
        raise InvalidInputError(
            "--weighting", expected="relative or uniform", actual=repr(weighting)
        )
    nuc = get_nuclide(nuclide)
    fit = fit_curve(
        [x * H for x in t],
        [x * 1e6 for x in a],
        nuc,
        model=cast(Method, name),
        error_model=ErrorModel(cast(Literal["relative", "uniform"], weighting), cv),
        tail=cast(Literal["physical", "fitted"], tail),
        bootstrap=bootstrap,
        seed=seed,
        region="command line",
    )
    out = fit.to_dict()
    out["nuclide"] = nuc.name
    emit(out, as_json, _render_fit)


@kinetics_app.command("stp")
@guarded
def stp_command(
    time_h: float = typer.Option(
        ..., "--time-h", help="Measurement time after administration (h)."
    ),
    activity_mbq: float = typer.Option(..., "--activity-mbq", help="Activity at that time (MBq)."),
    method: str = typer.Option("hanscheid", "--method", help="hanscheid or madsen."),
    t_eff_h: float | None = typer.Option(
        None, "--t-eff-h", help="Population effective half-life (h), Madsen."
    ),
    t_eff_sd_h: float | None = typer.Option(None, "--t-eff-sd-h", help="Its SD (h), optional."),
    nuclide: str = typer.Option("Lu-177", "--nuclide", help="Radionuclide."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Single-time-point TIA with the method's stated assumptions."""
    if method not in ("hanscheid", "madsen"):
        raise InvalidInputError("--method", expected="hanscheid or madsen", actual=repr(method))
    res = single_time_point(
        activity_mbq * 1e6,
        time_h * H,
        method=cast(Literal["hanscheid", "madsen"], method),
        half_life=get_nuclide(nuclide),
        population_t_eff_s=None if t_eff_h is None else t_eff_h * H,
        population_t_eff_sd_s=None if t_eff_sd_h is None else t_eff_sd_h * H,
    )

    def render(d: dict[str, Any]) -> None:
        sd = "" if d["tia_sd_mbq_h"] is None else f" ± {d['tia_sd_mbq_h']:.3g}"
        rows = [("method", d["model"]), ("TIA", f"{d['tia_mbq_h']:.6g}{sd} MBq·h")]
        rows += [("assumption", a) for a in d["assumptions"]]
        console.print(table("Single-time-point TIA", ["quantity", "value"], rows))

    emit(res.to_dict(), as_json, render)


def _render_bed(d: dict[str, Any]) -> None:
    rows = [
        (
            c["cycle"],
            f"{c['dose_gy']:.4g}",
            f"{c['g_factor']:.4f}",
            f"{c['bed_gy']:.4g}",
            f"{c['eqd2_gy']:.4g}",
        )
        for c in d["per_cycle"]
    ]
    rows.append(("total", f"{d['dose_gy']:.4g}", "", f"{d['bed_gy']:.4g}", f"{d['eqd2_gy']:.4g}"))
    console.print(
        table("BED (LQ, Lea–Catcheside)", ["cycle", "D (Gy)", "G", "BED (Gy)", "EQD2 (Gy)"], rows)
    )
    if "ebrt" in d:
        e = d["ebrt"]
        console.print(
            f"with EBRT: EQD2 {e['ebrt_eqd2_gy']:.4g} Gy, total EQD2 {e['total_eqd2_gy']:.4g} Gy"
        )


def bed_command(
    dose_gy: str = typer.Option(
        ..., "--dose-gy", help="Absorbed dose per cycle (Gy), e.g. 5.1,4.8."
    ),
    t_eff_h: str = typer.Option(
        ..., "--t-eff-h", help="Effective half-life (h): one value or one per cycle."
    ),
    t_uptake_h: str | None = typer.Option(
        None, "--t-uptake-h", help="Uptake half-time (h): one or one per cycle."
    ),
    alpha_beta_gy: float | None = typer.Option(
        None, "--alpha-beta-gy", help="α/β (Gy); default from --tissue."
    ),
    t_repair_h: float | None = typer.Option(
        None, "--t-repair-h", help="Repair half-time (h); default from --tissue."
    ),
    tissue: str | None = typer.Option(
        None, "--tissue", help="kidney, red_marrow or tumour: tabulated α/β and T_rep."
    ),
    ebrt_gy_per_fraction: float | None = typer.Option(
        None, "--ebrt-gy-per-fraction", help="EBRT dose per fraction (Gy)."
    ),
    ebrt_fractions: int | None = typer.Option(
        None, "--ebrt-fractions", help="EBRT number of fractions."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """BED and EQD2 of PRRT cycles (complete repair between cycles), optionally plus EBRT."""
    if tissue is not None:
        p = tissue_parameters(
            tissue,
            alpha_beta_gy=alpha_beta_gy,
            t_repair_s=None if t_repair_h is None else t_repair_h * H,
        )
        ab, trep, label = p.alpha_beta_gy, p.t_repair_s, p.name
    else:
        if alpha_beta_gy is None or t_repair_h is None:
            raise InvalidInputError(
                "--alpha-beta-gy / --t-repair-h",
                expected="both values, or --tissue for tabulated ones",
                actual="missing",
                fix="e.g. --alpha-beta-gy 2.6 --t-repair-h 2.8 (kidney) or --tissue kidney",
            )
        ab, trep, label = alpha_beta_gy, t_repair_h * H, ""
    doses = _floats(dose_gy, "--dose-gy")
    teff = [x * H for x in _floats(t_eff_h, "--t-eff-h")]
    tup = None if t_uptake_h is None else [x * H for x in _floats(t_uptake_h, "--t-uptake-h")]
    res = bed_cycles(
        doses,
        alpha_beta_gy=ab,
        t_repair_s=trep,
        t_eff_s=teff[0] if len(teff) == 1 else teff,
        t_uptake_s=None if tup is None else (tup[0] if len(tup) == 1 else tup),
        tissue=label,
    )
    out = res.to_dict()
    if (ebrt_gy_per_fraction is None) != (ebrt_fractions is None):
        raise InvalidInputError(
            "--ebrt-gy-per-fraction / --ebrt-fractions", expected="both or neither", actual="one"
        )
    if ebrt_gy_per_fraction is not None and ebrt_fractions is not None:
        out["ebrt"] = combine_with_ebrt(
            res, ebrt_dose_per_fraction_gy=ebrt_gy_per_fraction, ebrt_fractions=ebrt_fractions
        ).to_dict()
    emit(out, as_json, _render_bed)


def _render_plan(d: dict[str, Any]) -> None:
    """Human-readable plan (rich tables)."""
    rows = [
        (
            c["organ"],
            c["criterion"],
            f"{c['limit_gy']:.3g}",
            f"{c['delivered_gy']:.3g}",
            f"{c['max_cumulative_activity_mbq'] / 1000:.3g}",
            f"{c['max_cumulative_activity_conservative_mbq'] / 1000:.3g}",
        )
        for c in d["constraints"]
    ]
    console.print(
        table(
            f"Limits — {d['case_id']} ({d['nuclide']}, {d['regimen']['name']})",
            [
                "organ",
                "criterion",
                "limit (Gy)",
                "delivered (Gy)",
                "max GBq",
                "max GBq (conservative)",
            ],
            rows,
        )
    )
    console.print(
        f"next cycle: {d['next_cycle_activity_mbq'] / 1000:.3g} GBq; "
        f"cycles in total: {d['recommended_cycles_total']}; limiting: {d['limiting_organ']}"
    )
    prow = [
        (
            n,
            f"{p['absorbed_gy']:.3g} ± {p['absorbed_sd_gy']:.2g}",
            f"{p['dose_gy_per_gbq']:.3g}",
            f"{p['bed_gy']:.3g}" if "bed_gy" in p else None,
        )
        for n, p in d["projected"].items()
    ]
    console.print(
        table("Projected course", ["region", "absorbed (Gy)", "Gy/GBq", "BED (Gy)"], prow)
    )
    if d["advisor"]:
        arow = [
            (
                a["lesion"],
                f"{a['mass_g']:.3g}",
                f"{a['electron_absorbed_fraction_lu177']:.3f}",
                f"{a['electron_absorbed_fraction_y90']:.3f}",
                a["suggested"],
            )
            for a in d["advisor"]
        ]
        console.print(
            table(
                "Radionuclide advisor", ["lesion", "g", "φe Lu-177", "φe Y-90", "suggested"], arow
            )
        )
    for w in d["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {w}")


def plan_command(
    case: Path = typer.Argument(..., help="Case file (YAML or JSON), see docs/kinetics.md."),
    csv_path: Path | None = typer.Option(
        None, "--csv", help="Also write the projected doses per region as CSV."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Dosimetry-guided planning: safe cumulative activity, cycles, next activity, projections."""
    from sstrkit.core.atomic import check_output_file, write_csv_atomic
    from sstrkit.therapy.case import load_case
    from sstrkit.therapy.planning import plan_from_case

    if csv_path is not None:
        check_output_file(csv_path, "--csv", example="plan.csv")
    result = plan_from_case(load_case(case)).to_dict()
    if csv_path is not None:
        cols = ("absorbed_gy", "absorbed_sd_gy", "dose_gy_per_gbq", "bed_gy", "eqd2_gy")
        write_csv_atomic(
            csv_path,
            ("region", *cols),
            [(name, *(p.get(c) for c in cols)) for name, p in result["projected"].items()],
        )
    emit(result, as_json, _render_plan)


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.add_typer(kinetics_app, name="kinetics")
    app.command("bed")(guarded(bed_command))
    app.command("plan")(guarded(plan_command))
