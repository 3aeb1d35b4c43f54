"""Follow-up commands: response criteria, lesion statistics, outcomes and toxicity.

Registered groups (the same commands are also reachable under ``sstrkit followup``):

* ``sstrkit response recist|percist|sstr`` — RECIST 1.1, PERCIST 1.0, SSTR-PET change;
* ``sstrkit stats concordance|rates`` — lesion concordance (from counts, or lesion by
  lesion from a PET and a scintigraphy reading: ``--pet R1 --scintigraphy R2``),
  response-rate tables;
* ``sstrkit outcomes km|cox|toxicity|biochemical|swimmer`` — Kaplan–Meier/log-rank, Cox,
  CTCAE v5.0 (blood counts, kidney, liver), chromogranin A biochemical response.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import typer

from sstrkit.cli.output import console, emit, guarded, table
from sstrkit.core.atomic import (
    check_output_file,
    prepare_output_dir,
    write_csv_atomic,
    write_json_atomic,
)
from sstrkit.errors import InvalidInputError
from sstrkit.followup.biochemical import CgaCriteria, assess_cga, cga_from_table
from sstrkit.followup.concordance import concordance
from sstrkit.followup.percist import assess_percist, scan_from_dict
from sstrkit.followup.plots import km_plot, swimmer_plot, waterfall_plot
from sstrkit.followup.recist import assess
from sstrkit.followup.records import load_json, recist_series_from_table, timepoints_from_files
from sstrkit.followup.sstr_response import SstrScan, sstr_response
from sstrkit.followup.survival import (
    cox_regression,
    kaplan_meier,
    km_step,
    load_cohort,
    logrank,
)
from sstrkit.followup.tables import ResponseCounts, Table3Row, render_table
from sstrkit.followup.tabular import read_table
from sstrkit.followup.toxicity import (
    HepaticRanges,
    PlanningLimits,
    ReferenceRanges,
    ToxicityReport,
    assess_toxicity,
    labs_from_table,
)

JSON_OPT = typer.Option(False, "--json", help="Print one JSON document.")


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:+.1f} %"


# ----------------------------------------------------------------------------- response


def recist_cmd(
    files: list[Path] = typer.Argument(
        ..., help="BASELINE.json FOLLOWUP.json ... (one JSON per time point), or one long CSV."
    ),
    no_confirm: bool = typer.Option(False, "--no-confirm", help="Do not require confirmation."),
    min_sd_days: float = typer.Option(42.0, "--min-sd-days", help="Minimum SD interval."),
    confirm_days: float = typer.Option(28.0, "--confirm-days", help="Confirmation interval."),
    waterfall: Path | None = typer.Option(
        None, "--waterfall", help="Write a waterfall plot of the best change (PNG/SVG/PDF)."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """RECIST 1.1: sum of diameters, nadir, time-point and best overall response."""
    if waterfall is not None:
        check_output_file(waterfall, "--waterfall", make_parents=False, example="waterfall.png")
    kw: dict[str, Any] = {
        "confirm": not no_confirm,
        "confirm_min_s": confirm_days * 86400.0,
        "min_sd_s": min_sd_days * 86400.0,
    }
    if len(files) == 1 and files[0].suffix.lower() in {".csv", ".tsv", ".parquet"}:
        series = recist_series_from_table(read_table(files[0]))
    else:
        tps = timepoints_from_files(files)
        series = {"1": tps}
    patients: dict[str, Any] = {}
    for pid, tps in series.items():
        if len(tps) < 2:
            raise InvalidInputError(
                f"time points of patient {pid}",
                expected="a baseline and ≥ 1 follow-up",
                actual=len(tps),
            )
        patients[pid] = assess(tps[0], tps[1:], **kw).to_dict()
    if waterfall is not None:
        changes, resp, labels = [], [], []
        for pid, res in patients.items():
            vals = [
                t["change_from_baseline"]
                for t in res["time_points"]
                if t["change_from_baseline"] is not None
            ]
            if vals:
                changes.append(min(vals))
                bor = res["best_overall_response"]
                resp.append(bor["response"] if bor else res["time_points"][-1]["response"])
                labels.append(pid)
        waterfall_plot(changes, waterfall, responses=resp, labels=labels)
    result: dict[str, Any] = patients["1"] if list(patients) == ["1"] else {"patients": patients}
    if waterfall is not None:
        result["waterfall"] = str(waterfall)

    def render(r: dict[str, Any]) -> None:
        for pid, res in r["patients"].items() if "patients" in r else [("", r)]:
            rows = [
                (
                    t["label"],
                    t["time_days"],
                    t["sum_mm"],
                    _pct(t["change_from_baseline"]),
                    _pct(t["change_from_nadir"]),
                    t["target_response"],
                    t["non_target_response"],
                    "yes" if t["new_lesions"] else "no",
                    t["response"],
                )
                for t in res["time_points"]
            ]
            console.print(
                table(
                    f"RECIST 1.1 {pid} (baseline sum {res['baseline_sum_mm']:g} mm)",
                    (
                        "time point",
                        "day",
                        "sum mm",
                        "vs baseline",
                        "vs nadir",
                        "target",
                        "non-target",
                        "new",
                        "overall",
                    ),
                    rows,
                )
            )
            bor = res["best_overall_response"]
            if bor:
                console.print(f"best overall response: {bor['response']} ({bor['reason']})")

    emit(result, as_json, render)


def percist_cmd(
    baseline: Path = typer.Argument(..., help="Baseline scan JSON (lesions with sul_peak, liver)."),
    followup: Path = typer.Argument(..., help="Follow-up scan JSON."),
    as_json: bool = JSON_OPT,
) -> None:
    """PERCIST 1.0: SULpeak change of the hottest lesion, CMR/PMR/SMD/PMD."""
    res = assess_percist(scan_from_dict(load_json(baseline)), scan_from_dict(load_json(followup)))

    def render(r: Any) -> None:
        console.print(
            table(
                "PERCIST 1.0",
                ("quantity", "value"),
                [
                    (
                        "measurability threshold (SUL)",
                        f"{r.measurability_threshold:.2f} ({r.reference})",
                    ),
                    ("baseline hottest", f"{r.baseline_target}: {r.baseline_sul_peak:.2f}"),
                    ("follow-up hottest", f"{r.followup_target}: {r.followup_sul_peak:.2f}"),
                    ("change", f"{r.change_abs:+.2f} SUL ({r.change_pct:+.1f} %)"),
                    ("response", r.response),
                    ("notes", "; ".join(r.reasons) or "—"),
                ],
            )
        )

    emit(res, as_json, render)


def sstr_cmd(
    baseline: Path = typer.Argument(..., help="Baseline SSTR PET JSON (suv_max, position_mm...)."),
    followup: Path = typer.Argument(..., help="Follow-up SSTR PET JSON (e.g. after cycle 1)."),
    max_distance_mm: float = typer.Option(15.0, "--max-distance-mm", help="Matching gate."),
    by_id: bool = typer.Option(False, "--by-id", help="Match lesions by id, not position."),
    as_json: bool = JSON_OPT,
) -> None:
    """SSTR-PET change: ΔSUVmax, Δ tumour/spleen ratio (Haug 2010), Δ SSTR volume."""
    res = sstr_response(
        SstrScan.from_dict(load_json(baseline)),
        SstrScan.from_dict(load_json(followup)),
        max_distance_mm=max_distance_mm,
        match_by_id=by_id,
    )

    def render(r: Any) -> None:
        def f(v: float | None) -> str:
            return "—" if v is None else f"{v:+.1f} %"

        console.print(
            table(
                "SSTR-PET response",
                ("quantity", "value"),
                [
                    ("matched lesions", len(r.matches)),
                    ("disappeared / new", f"{len(r.disappeared)} / {len(r.new)}"),
                    ("Δ SUVmax (mean of matched)", f(r.delta_suv_max_pct)),
                    ("Δ tumour/spleen ratio", f(r.delta_ts_pct)),
                    ("T/S decreased (Haug 2010)", r.ts_decreased),
                    ("Δ SSTR tumour volume", f(r.delta_volume_pct)),
                ],
            )
        )

    emit(res, as_json, render)


# ----------------------------------------------------------------------------- stats


def concordance_cmd(
    both: int | None = typer.Option(None, "--both", help="Lesions seen on both modalities."),
    ref_only: int | None = typer.Option(
        None, "--ref-only", "--only-a", help="Lesions only on the reference modality."
    ),
    test_only: int | None = typer.Option(
        None, "--test-only", "--only-b", help="Lesions only on the test modality."
    ),
    neither: int | None = typer.Option(None, "--neither", help="True negatives, if counted."),
    confidence: float = typer.Option(0.95, "--confidence", help="Confidence level."),
    ref_name: str = typer.Option("reference", "--ref-name", help="Name of the reference."),
    test_name: str = typer.Option("test", "--test-name", help="Name of the test modality."),
    pet: Path | None = typer.Option(
        None, "--pet", help="Readings mode: reading.json of the SSTR PET (sstrkit read)."
    ),
    scintigraphy: Path | None = typer.Option(
        None, "--scintigraphy", help="Readings mode: reading.json of the SPECT or planar views."
    ),
    tolerance_mm: float | None = typer.Option(
        None, "--tolerance-mm", help="Matching distance (default 20 mm SPECT, 30 mm planar)."
    ),
    register: bool = typer.Option(
        False, "--register", help="Register the CTs (PET/CT fixed, SPECT/CT moving) first."
    ),
    pet_ct: Path | None = typer.Option(None, "--pet-ct", help="CT of the PET/CT (--register)."),
    scint_ct: Path | None = typer.Option(
        None, "--scintigraphy-ct", help="CT of the SPECT/CT (--register)."
    ),
    same_frame: bool = typer.Option(
        False, "--same-frame", help="The two studies share patient coordinates (no registration)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Readings mode: write concordance.json and concordance_lesions.csv."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Lesion concordance: from counts (--both/--ref-only/--test-only), or lesion by lesion
    from a PET and a scintigraphy reading of one patient (--pet/--scintigraphy).

    Counts: sensitivity, PPV, accuracy (specificity with --neither), Wilson/exact CIs,
    McNemar. Readings: every lesion seen on both, PET only or scintigraphy only, with its
    PET size and uptake on each, matched by position (sstrkit.reading.concordance).
    """
    counts = (both, ref_only, test_only)
    if pet is not None or scintigraphy is not None:
        if any(c is not None for c in (*counts, neither)):
            raise InvalidInputError(
                "stats concordance",
                expected="either counts (--both/--ref-only/--test-only) or readings "
                "(--pet/--scintigraphy)",
                actual="both",
            )
        _readings_concordance(
            pet,
            scintigraphy,
            tolerance_mm=tolerance_mm,
            register=register,
            pet_ct=pet_ct,
            scint_ct=scint_ct,
            same_frame=same_frame,
            confidence=confidence,
            out=out,
            as_json=as_json,
        )
        return
    if both is None or ref_only is None or test_only is None:
        raise InvalidInputError(
            "stats concordance",
            expected="--both, --ref-only and --test-only (counts), or --pet and --scintigraphy",
            actual=", ".join(
                n
                for n, c in zip(("--both", "--ref-only", "--test-only"), counts, strict=True)
                if c is None
            )
            + " missing",
        )
    res = concordance(
        both, ref_only, test_only, neither, confidence=confidence, labels=(ref_name, test_name)
    )
    emit(res, as_json, _render_concordance)


def _render_concordance(r: Any) -> None:
    rows = []
    for name in ("sensitivity", "ppv", "accuracy", "specificity", "npv"):
        p = getattr(r, name)
        if p is not None:
            rows.append(
                (
                    name,
                    f"{p.k}/{p.n}",
                    f"{100 * p.value:.1f} %",
                    f"{100 * p.wilson[0]:.1f}–{100 * p.wilson[1]:.1f} %",
                    f"{100 * p.exact[0]:.1f}–{100 * p.exact[1]:.1f} %",
                )
            )
    console.print(
        table(
            f"{r.labels[1]} vs {r.labels[0]}",
            ("measure", "k/n", "value", "Wilson CI", "exact CI"),
            rows,
        )
    )
    m = r.mcnemar
    console.print(
        f"McNemar: χ² = {m.statistic}, p = {m.p_value_chi2} (exact p = {m.p_value_exact:.3g})"
    )


def _readings_concordance(
    pet: Path | None,
    scintigraphy: Path | None,
    *,
    tolerance_mm: float | None,
    register: bool,
    pet_ct: Path | None,
    scint_ct: Path | None,
    same_frame: bool,
    confidence: float,
    out: Path | None,
    as_json: bool,
) -> None:
    """The readings mode of ``stats concordance`` (see :func:`concordance_cmd`)."""
    from sstrkit.reading.concordance import compare_readings

    if pet is None or scintigraphy is None:
        raise InvalidInputError(
            "stats concordance readings",
            expected="both --pet READING.json and --scintigraphy READING.json",
            actual="--pet" if scintigraphy is None else "--scintigraphy",
            fix="give the reading.json of each study (sstrkit read)",
        )
    out_dir = prepare_output_dir(out, "--out") if out is not None else None
    registration = None
    if register:
        registration = _register_cts(pet_ct, scint_ct)
    elif pet_ct is not None or scint_ct is not None:
        raise InvalidInputError(
            "--pet-ct/--scintigraphy-ct", expected="with --register", actual="without it"
        )
    res = compare_readings(
        load_json(pet),
        load_json(scintigraphy),
        tolerance_mm=tolerance_mm,
        registration=registration,
        same_frame=same_frame,
        confidence=confidence,
    )
    doc = res.to_dict()
    if out_dir is not None:
        doc["files"] = _write_concordance(res, doc, out_dir)

    def render(d: dict[str, Any]) -> None:
        console.print(
            table(
                f"{d['scintigraphy_tracer'] or 'scintigraphy'} {d['scintigraphy_modality']} vs "
                f"{d['pet_tracer'] or 'SSTR PET'} (tolerance {d['tolerance_mm']:g} mm)",
                ("status", "PET id", "scint id", "PET Ø mm", "PET SUVmax", "scint K", "dist mm"),
                [
                    (
                        x["status"],
                        x["pet_id"],
                        x["scintigraphy_id"],
                        None if x["pet_diameter_mm"] is None else f"{x['pet_diameter_mm']:.0f}",
                        x["pet"].get("suv_max"),
                        x["scintigraphy"].get("krenning"),
                        x["distance_mm"],
                    )
                    for x in d["lesions"]
                ],
            )
        )
        c = d["counts"]
        console.print(
            f"both {c['both']}, PET only {c['pet_only']}, scintigraphy only "
            f"{c['scintigraphy_only']}; alignment: {d['alignment']}"
        )
        for n in d["notes"]:
            console.print(f"note: {n}", markup=False)

    emit(doc, as_json, render)


def _register_cts(pet_ct: Path | None, scint_ct: Path | None) -> Any:
    """Rigid CT-to-CT registration: the PET/CT's CT fixed, the SPECT/CT's CT moving."""
    if pet_ct is None or scint_ct is None:
        raise InvalidInputError(
            "--register",
            expected="--pet-ct and --scintigraphy-ct (DICOM folders or NIfTI files)",
            actual="--pet-ct missing" if pet_ct is None else "--scintigraphy-ct missing",
        )
    from sstrkit.reading.inputs import load_ct
    from sstrkit.therapy.registration import register_ct

    return register_ct(load_ct(pet_ct), load_ct(scint_ct))


def _write_concordance(res: Any, doc: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """concordance.json and concordance_lesions.csv (atomic) in ``out_dir``."""
    files = {
        "concordance_json": str(out_dir / "concordance.json"),
        "lesions_csv": str(out_dir / "concordance_lesions.csv"),
    }
    write_csv_atomic(
        files["lesions_csv"],
        (
            "status",
            "pet_id",
            "scintigraphy_id",
            "distance_mm",
            "pet_volume_ml",
            "pet_diameter_mm",
            "pet_suv_max",
            "pet_krenning",
            "scintigraphy_suv_max",
            "scintigraphy_t_l",
            "scintigraphy_krenning",
        ),
        [
            (
                x.status,
                x.pet_id,
                x.scintigraphy_id,
                x.distance_mm,
                x.pet_volume_ml,
                x.pet_diameter_mm,
                x.pet.get("suv_max"),
                x.pet.get("krenning"),
                x.scintigraphy.get("suv_max"),
                x.scintigraphy.get("t_l", x.scintigraphy.get("ratio_liver")),
                x.scintigraphy.get("krenning"),
            )
            for x in res.lesions
        ],
    )
    write_json_atomic(files["concordance_json"], {**doc, "files": files})
    return files


def rates_cmd(
    cr: int = typer.Option(0, "--cr"),
    pr: int = typer.Option(0, "--pr"),
    mr: int = typer.Option(0, "--mr"),
    sd: int = typer.Option(0, "--sd"),
    pd: int = typer.Option(0, "--pd"),
    ne: int = typer.Option(0, "--ne"),
    agent: str = typer.Option("", "--agent", help="Therapeutic agent (Table 3 row)."),
    subjects: str = typer.Option("", "--subjects"),
    dosage: str = typer.Option("", "--dosage"),
    duration: str = typer.Option("", "--duration"),
    reference: str = typer.Option("", "--reference"),
    as_json: bool = JSON_OPT,
) -> None:
    """Response rates with CIs (ORR, DCR) and a row in the form of the review's Table 3."""
    counts = ResponseCounts(cr, pr, mr, sd, pd, ne)
    row = Table3Row(
        agent, subjects or f"{counts.n} patients", dosage, duration, counts, reference=reference
    )
    res = {**counts.to_dict(), "table3_markdown": render_table([row])}

    def render(r: dict[str, Any]) -> None:
        rows = [
            (
                c,
                v["k"],
                f"{100 * v['value']:.1f} %",
                f"{100 * v['wilson'][0]:.1f}–{100 * v['wilson'][1]:.1f} %",
            )
            for c, v in r["rates"].items()
            if v["k"] or c in ("ORR", "DCR")
        ]
        console.print(
            table(f"Response rates (n = {r['n']})", ("class", "n", "rate", "Wilson CI"), rows)
        )
        console.print(r["table3_markdown"], markup=False, soft_wrap=True)

    emit(res, as_json, render)


# ----------------------------------------------------------------------------- outcomes


def km_cmd(
    cohort: Path = typer.Argument(..., help="Cohort table (CSV; Parquet if pyarrow is installed)."),
    time_col: str = typer.Option(..., "--time-col", help="Time column, e.g. pfs_months."),
    event_col: str = typer.Option(
        ..., "--event-col", help="Event column (1 = event, 0 = censored)."
    ),
    group_col: str | None = typer.Option(None, "--group-col", help="Group column (log-rank)."),
    time_unit: str | None = typer.Option(
        None, "--time-unit", help="s, days, weeks, months or years (default: column suffix)."
    ),
    confidence: float = typer.Option(0.95, "--confidence"),
    plot: Path | None = typer.Option(None, "--plot", help="Write the curves (PNG/SVG/PDF)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Kaplan–Meier PFS/OS with median and CI; log-rank test between groups."""
    if plot is not None:
        check_output_file(plot, "--plot", make_parents=False, example="km.png")
    c = load_cohort(
        read_table(cohort),
        time_col=time_col,
        event_col=event_col,
        group_col=group_col,
        time_unit=time_unit,
    )
    curves = {"all": kaplan_meier(c.times_s, c.events, confidence=confidence)}
    lr = None
    if c.groups is not None:
        g = np.array(c.groups)
        for lab in sorted(set(c.groups)):
            m = g == lab
            curves[lab] = kaplan_meier(c.times_s[m], c.events[m], confidence=confidence)
        lr = logrank(c.times_s, c.events, c.groups)
    if plot is not None:
        shown = {k: v for k, v in curves.items() if k != "all" or len(curves) == 1}
        km_plot(shown, plot, scale=c.scale, unit=c.time_unit, title=f"Kaplan–Meier: {time_col}")
    res: dict[str, Any] = {
        "time_unit": c.time_unit,
        "curves": {k: v.to_dict(c.scale) for k, v in curves.items()},
        "logrank": None if lr is None else lr.to_dict(),
        "plot": None if plot is None else str(plot),
        "history": [km_step(c, confidence).to_dict()],
    }

    def render(r: dict[str, Any]) -> None:
        rows = []
        for k, v in r["curves"].items():
            lo, hi = v["median_ci"]
            rows.append(
                (
                    k,
                    v["n"],
                    v["events"],
                    "not reached" if v["median"] is None else f"{v['median']:.3g}",
                    f"{'—' if lo is None else f'{lo:.3g}'} – "
                    f"{'not reached' if hi is None else f'{hi:.3g}'}",
                )
            )
        console.print(
            table(
                f"Kaplan–Meier ({r['time_unit']})",
                ("group", "n", "events", "median", "95 % CI"),
                rows,
            )
        )
        if r["logrank"]:
            lrd = r["logrank"]
            console.print(
                f"log-rank χ² = {lrd['chi2']:.3f}, df = {lrd['df']}, p = {lrd['p_value']:.4g}"
            )

    emit(res, as_json, render)


def cox_cmd(
    cohort: Path = typer.Argument(..., help="Cohort table (CSV)."),
    time_col: str = typer.Option(..., "--time-col"),
    event_col: str = typer.Option(..., "--event-col"),
    covariate: list[str] = typer.Option([], "--covariate", help="Numeric covariate (repeat)."),
    group_col: str | None = typer.Option(None, "--group-col", help="Categorical group column."),
    time_unit: str | None = typer.Option(None, "--time-unit"),
    penalizer: float = typer.Option(0.0, "--penalizer", help="L2 penalty (lifelines)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Cox proportional-hazards regression (lifelines): hazard ratios with 95 % CI."""
    c = load_cohort(
        read_table(cohort),
        time_col=time_col,
        event_col=event_col,
        group_col=group_col,
        covariates=covariate,
        time_unit=time_unit,
    )
    res = cox_regression(c, penalizer=penalizer)

    def render(r: Any) -> None:
        rows = [
            (
                x["covariate"],
                f"{x['hazard_ratio']:.3g}",
                f"{x['hr_ci'][0]:.3g}–{x['hr_ci'][1]:.3g}",
                f"{x['p_value']:.3g}",
            )
            for x in r.covariates
        ]
        console.print(
            table(
                f"Cox model (n = {r.n}, events = {r.events}, C = {r.concordance:.3f})",
                ("covariate", "HR", "95 % CI", "p"),
                rows,
            )
        )

    emit(res, as_json, render)


def toxicity_cmd(
    labs: Path = typer.Argument(..., help="Laboratory table (CSV), columns named with units."),
    hb_lln_g_dl: float = typer.Option(12.0, "--hb-lln-g-dl"),
    plt_lln: float = typer.Option(150.0, "--plt-lln-1e9-l"),
    wbc_lln: float = typer.Option(4.0, "--wbc-lln-1e9-l"),
    anc_lln: float = typer.Option(2.0, "--anc-lln-1e9-l"),
    lymph_lln: float = typer.Option(1.0, "--lymph-lln-1e9-l"),
    creat_uln_umol_l: float = typer.Option(106.0, "--creat-uln-umol-l"),
    egfr_lln: float = typer.Option(90.0, "--egfr-lln"),
    min_egfr: float = typer.Option(50.0, "--min-egfr", help="Planning limit for baseline eGFR."),
    bili_uln: float = typer.Option(17.104, "--bili-uln-umol-l", help="Bilirubin ULN (1 mg/dL)."),
    alt_uln: float = typer.Option(55.0, "--alt-uln-u-l"),
    ast_uln: float = typer.Option(48.0, "--ast-uln-u-l"),
    alp_uln: float = typer.Option(115.0, "--alp-uln-u-l"),
    alb_lln: float = typer.Option(35.0, "--albumin-lln-g-l"),
    as_json: bool = JSON_OPT,
) -> None:
    """CTCAE v5.0 grades over time (blood counts, kidney, liver), change from baseline,
    nadirs and planning flags."""
    rr = ReferenceRanges(
        hb_lln_g_dl, plt_lln, wbc_lln, anc_lln, lymph_lln, creat_uln_umol_l, egfr_lln
    )
    res = assess_toxicity(
        labs_from_table(read_table(labs)),
        ranges=rr,
        limits=PlanningLimits(min_egfr=min_egfr),
        hepatic=HepaticRanges(bili_uln, alt_uln, ast_uln, alp_uln, alb_lln),
    )

    def render(r: ToxicityReport) -> None:
        rows = []
        for p in r.patients:
            worst = ", ".join(f"{k} G{v}" for k, v in p.worst_grade.items() if v) or "none"
            flags = sorted(set(p.flags))
            rows.append((p.patient_id, p.n_records, p.max_grade, worst, "; ".join(flags) or "—"))
        console.print(
            table(
                "Toxicity (CTCAE v5.0)",
                ("patient", "records", "max grade", "worst grades", "flags"),
                rows,
            )
        )

    emit(res, as_json, render)


def _cga_row(p: dict[str, Any]) -> tuple[Any, ...]:
    change = (p["last"] or {}).get("change_from_baseline_pct")
    shown = "—" if change is None else f"{change:+.1f} %"
    nadir = (p["nadir"] or {}).get("value_ug_l")
    return (
        p["patient_id"],
        p["baseline"]["value_ug_l"],
        nadir,
        shown,
        p["status"],
        p["best_response"],
    )


def biochemical_cmd(
    labs: Path = typer.Argument(..., help="CSV: patient_id, day or date, chromogranin_a_ug_l."),
    response_fall_pct: float = typer.Option(50.0, "--response-fall-pct"),
    progression_rise_pct: float = typer.Option(25.0, "--progression-rise-pct"),
    as_json: bool = JSON_OPT,
) -> None:
    """Chromogranin A biochemical response: change from baseline, nadir, caveats (PPI, SSA,
    kidney)."""
    crit = CgaCriteria(response_fall_pct / 100.0, progression_rise_pct / 100.0)
    res = {
        "patients": [
            {"patient_id": pid, **assess_cga(ms, criteria=crit).to_dict()}
            for pid, ms in cga_from_table(read_table(labs)).items()
        ]
    }

    def render(r: dict[str, Any]) -> None:
        rows = [_cga_row(p) for p in r["patients"]]
        cols = ("patient", "baseline µg/L", "nadir µg/L", "last vs baseline", "status", "best")
        console.print(table("Chromogranin A biochemical response", cols, rows))
        patients = r["patients"]
        common = set.intersection(*(set(p["caveats"]) for p in patients)) if patients else set()
        for line in patients[0]["caveats"] if patients else ():
            if line in common:  # said of every patient: once
                console.print(f"  note: {line}")
        for p in patients:  # a patient's own (PPI, analogue started or stopped, kidney)
            for line in p["caveats"]:
                if line not in common:
                    console.print(f"  note ({p['patient_id']}): {line}")

    emit(res, as_json, render)


def swimmer_cmd(
    cohort: Path = typer.Argument(..., help="Cohort table (CSV)."),
    duration_col: str = typer.Option(..., "--duration-col", help="Follow-up duration column."),
    out: Path = typer.Option(..., "--out", help="Output figure (PNG/SVG/PDF)."),
    ongoing_col: str | None = typer.Option(None, "--ongoing-col", help="1 = still on study."),
    response_col: str | None = typer.Option(None, "--response-col", help="Best response."),
    response_time_col: str | None = typer.Option(None, "--response-time-col"),
    id_col: str | None = typer.Option(None, "--id-col"),
    as_json: bool = JSON_OPT,
) -> None:
    """Swimmer plot: time on study per patient with response markers."""
    check_output_file(out, "--out", make_parents=False, example="swimmer.png")
    t = read_table(cohort)
    dur = t.float_column(duration_col, minimum=0.0)
    ongoing = [t.bool_at(i, ongoing_col) for i in range(len(t))] if ongoing_col else None
    events = None
    if response_col and response_time_col:
        events = [
            [(v, t.cell(i, response_col))]
            if (v := t.float_at(i, response_time_col, allow_missing=True)) is not None
            else []
            for i in range(len(t))
        ]
    labels = list(t.str_column(id_col)) if id_col else None
    swimmer_plot(
        dur,
        out,
        labels=labels,
        ongoing=ongoing,
        events=events,
        unit=duration_col.rsplit("_", 1)[-1],
    )
    res = {"plot": str(out), "patients": len(dur)}
    emit(res, as_json, lambda r: console.print(f"wrote {r['plot']} ({r['patients']} patients)"))


# ----------------------------------------------------------------------------- registration

_RESPONSE = (("recist", recist_cmd), ("percist", percist_cmd), ("sstr", sstr_cmd))
_STATS = (("concordance", concordance_cmd), ("rates", rates_cmd))
_OUTCOMES = (
    ("km", km_cmd),
    ("cox", cox_cmd),
    ("toxicity", toxicity_cmd),
    ("biochemical", biochemical_cmd),
    ("swimmer", swimmer_cmd),
)


def register(app: typer.Typer) -> None:
    """Add ``response``, ``stats``, ``outcomes`` and the umbrella ``followup`` groups."""
    groups = {
        "response": ("Tumour response: RECIST 1.1, PERCIST 1.0, SSTR-PET change.", _RESPONSE),
        "stats": ("Lesion concordance and response-rate tables.", _STATS),
        "outcomes": (
            "Survival (Kaplan–Meier, log-rank, Cox), toxicity, CgA response, swimmer plots.",
            _OUTCOMES,
        ),
    }
    umbrella = typer.Typer(
        help="Follow-up after PRRT: all response, statistics and outcome commands.",
        no_args_is_help=True,
    )
    for name, (helptext, cmds) in groups.items():
        sub = typer.Typer(help=helptext, no_args_is_help=True)
        for cname, fn in cmds:
            sub.command(cname)(guarded(fn))
            umbrella.command(cname)(guarded(fn))
        app.add_typer(sub, name=name)
    umbrella.command("survival", help="Kaplan–Meier PFS/OS (alias of km).")(guarded(km_cmd))
    app.add_typer(umbrella, name="followup")


__all__ = ["register"]
