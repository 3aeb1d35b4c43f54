"""The cohort HTML report: ``DIR/index.html`` (figures embedded) and ``DIR/cohort_analysis.json``.

Built from a :class:`~sstrkit.cohort.analytics.CohortAnalysis` with the report document
model of :mod:`sstrkit.report.document`; the Kaplan–Meier figures are drawn by
:func:`sstrkit.followup.plots.km_plot`. Sections: the cohort, dose–response (lesion volume
against cumulative dose, and tumour dose by RECIST response), kidney BED against eGFR
change, red-marrow dose against the platelet nadir (CTCAE grade), survival by tumour-dose
group, the Table-3-style response rates, methods and provenance. An analysis without data
is a section that says why it was skipped.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from sstrkit.cohort.analytics import (
    CohortAnalysis,
    DoseGroupSurvival,
    DoseResponse,
    LinearFit,
    ResponseRates,
    ToxicityFit,
)
from sstrkit.core.atomic import write_json_atomic
from sstrkit.report.document import Figure, Report, Section, TableBlock

__all__ = ["build_cohort_report", "write_cohort_report"]

_GRADE_COLOURS: Final = ("#1a9850", "#fee08b", "#fdae61", "#f46d43", "#d73027")
_DAYS_PER_MONTH: Final = 365.25 / 12


def _ci(lo: float, hi: float, digits: str = ".3g") -> str:
    return f"[{lo:{digits}}, {hi:{digits}}]"


def _fit_rows(fit: LinearFit) -> list[list[Any]]:
    return [
        ["slope", fit.slope, _ci(*fit.slope_ci)],
        ["intercept", fit.intercept, _ci(*fit.intercept_ci)],
        ["p (slope = 0)", fit.p_value, ""],
        ["R²", fit.r_squared, ""],
        ["n", fit.n, ""],
    ]


def _fit_table(fit: LinearFit, caption: str) -> TableBlock:
    return TableBlock(
        caption,
        ["quantity", "value", f"{100 * fit.confidence:g} % CI"],
        _fit_rows(fit),
        note=f"y = {fit.y_name}, x = {fit.x_name}; ordinary least squares (statsmodels).",
    )


def _scatter(
    x: Sequence[float],
    y: Sequence[float],
    fit: LinearFit,
    caption: str,
    *,
    colours: Sequence[str] | None = None,
    legend: dict[str, str] | None = None,
) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(x, y, s=16, c=list(colours) if colours else "#4575b4", zorder=3)
    xs = np.linspace(min(x), max(x), 50)
    lo, hi = fit.band(xs)
    ax.plot(xs, fit.intercept + fit.slope * xs, color="black", linewidth=1)
    ax.fill_between(xs, lo, hi, color="grey", alpha=0.25, label=f"{100 * fit.confidence:g} % CI")
    for label, colour in (legend or {}).items():
        ax.scatter([], [], c=colour, s=16, label=label)
    ax.set_xlabel(fit.x_name)
    ax.set_ylabel(fit.y_name)
    ax.legend(fontsize=7)
    return Figure.from_matplotlib(fig, caption)


def _dose_response_section(rep: Report, dr: DoseResponse | None, why: str | None) -> None:
    sec = rep.section("Dose–response: lesion volume")
    if dr is None:
        _skip(sec, why)
        return
    f = dr.fit
    sec.add_text(
        f"{len(dr.dose_gy)} lesions of {len(set(dr.patient_ids))} patients with a baseline "
        f"volume ≥ {dr.min_volume_ml:g} mL and a follow-up volume ({dr.excluded_small} smaller "
        f"lesions and {dr.excluded_missing} without volumes left out). Slope "
        f"{f.slope:.4g} per Gy, {100 * f.confidence:g} % CI {_ci(*f.slope_ci, '.4g')}: "
        f"the volume changes by a factor exp(slope × D)."
    )
    sec.add_figure(
        _scatter(
            dr.dose_gy,
            dr.log_volume_ratio,
            f,
            "Lesion log volume ratio (follow-up / baseline) against cumulative absorbed dose, "
            "with the OLS fit and its confidence band.",
        )
    )
    sec.add_table(_fit_table(f, "Regression of the log volume ratio on cumulative dose"))


def _response_dose_section(rep: Report, analysis: CohortAnalysis) -> None:
    sec = rep.section("Dose–response: RECIST 1.1 response")
    rows = analysis.response_dose
    if rows is None:
        _skip(sec, analysis.skipped.get("response_by_dose"))
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for i, r in enumerate(rows):
        ax.scatter(np.full(r.n, i), r.doses_gy, s=18, color="#4575b4")
        ax.hlines(r.median_gy, i - 0.25, i + 0.25, color="black")
    ax.set_xticks(range(len(rows)), [r.response for r in rows])
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_ylabel("tumour dose (Gy)")
    sec.add_figure(
        Figure.from_matplotlib(
            fig,
            "Tumour dose (mean cumulative lesion dose) per patient by latest RECIST 1.1 "
            "response; bars: medians.",
        )
    )
    sec.add_table(
        TableBlock(
            "Tumour dose by response",
            ["response", "patients", "median (Gy)", "IQR (Gy)"],
            [[r.response, r.n, r.median_gy, _ci(r.q1_gy, r.q3_gy)] for r in rows],
        )
    )


def _toxicity_section(
    rep: Report, title: str, tox: ToxicityFit | None, why: str | None, caption: str
) -> None:
    sec = rep.section(title)
    if tox is None:
        _skip(sec, why)
        return
    colours, legend = None, None
    if tox.grades:
        colours = [_GRADE_COLOURS[min(g, 4)] for g in tox.grades]
        legend = {f"CTCAE grade {g}": _GRADE_COLOURS[min(g, 4)] for g in sorted(set(tox.grades))}
        counts = {g: tox.grades.count(g) for g in sorted(set(tox.grades))}
        sec.add_table(
            TableBlock(
                "Platelet count decreased at the nadir (CTCAE v5.0)",
                ["grade", "patients"],
                [[g, n] for g, n in counts.items()],
            )
        )
    sec.add_figure(_scatter(tox.x, tox.y, tox.fit, caption, colours=colours, legend=legend))
    sec.add_table(_fit_table(tox.fit, f"Regression: {tox.fit.y_name} on {tox.fit.x_name}"))


def _km_figure(curves: dict[str, Any], title: str, folder: Path) -> Figure:
    from sstrkit.followup.plots import km_plot

    path = km_plot(curves, folder / "km.png", scale=_DAYS_PER_MONTH, unit="months", title=title)
    return Figure(f"{title} by tumour-dose group (Kaplan–Meier, 95 % band).", path.read_bytes())


def _survival_section(rep: Report, surv: DoseGroupSurvival | None, why: str | None) -> None:
    sec = rep.section("Survival by tumour dose")
    if surv is None:
        _skip(sec, why)
        return
    sec.add_text(
        f"Patients split at the median tumour dose, {surv.threshold_gy:.3g} Gy. Times from "
        "the first therapy administration."
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, curves, lr in (
            ("Progression-free survival", surv.pfs, surv.pfs_logrank),
            ("Overall survival", surv.os, surv.os_logrank),
        ):
            if curves:
                sec.add_figure(_km_figure(dict(curves), name, Path(tmp)))
            for g, km in curves.items():
                med = None if km.median is None else km.median / _DAYS_PER_MONTH
                rows.append([name, g, km.n, km.n_events, med, None if lr is None else lr.p_value])
    sec.add_table(
        TableBlock(
            "Kaplan–Meier by dose group",
            ["end point", "group", "patients", "events", "median (months)", "log-rank p"],
            rows,
            note="median — : not reached. " + " ".join(surv.notes),
        )
    )


def _rates_section(rep: Report, rates: ResponseRates | None, why: str | None) -> None:
    sec = rep.section("Response rates (Table 3 style)")
    if rates is None:
        _skip(sec, why)
        return
    r = rates.row
    sec.add_table(
        TableBlock(
            "Best response (latest RECIST 1.1 assessment per patient)",
            ["Therapeutic agents", "Subjects", "Dosage", "Duration", "Main findings"],
            [[r.agent, r.subjects, r.dosage, r.duration, r.main_findings()]],
        )
    )
    sec.add_table(
        TableBlock(
            "Objective response and disease control",
            ["rate", "patients", "value (%)", "95 % CI Wilson (%)", "95 % CI Clopper–Pearson (%)"],
            [
                [name, f"{p.k}/{p.n}", 100 * p.value, _pct(p.wilson), _pct(p.exact)]
                for name, p in (("ORR (CR+PR)", rates.orr), ("DCR (CR+PR+MR+SD)", rates.dcr))
            ],
        )
    )


def _pct(ci: tuple[float, float]) -> str:
    return _ci(100 * ci[0], 100 * ci[1], ".3g")


def _skip(sec: Section, why: str | None) -> None:
    sec.status = "skipped"
    sec.add_text(f"Not analysed: {why or 'no data'}.")


def build_cohort_report(analysis: CohortAnalysis, *, source: str = "") -> Report:
    """The cohort report of an analysis (``source``: where the tables came from)."""
    rep = Report(
        title="PRRT cohort report",
        subtitle=f"{analysis.n_patients} patients" + (f" — {source}" if source else ""),
    )
    sec = rep.section("Cohort")
    p = analysis.patients
    sec.add_kv(
        "Cohort",
        {
            "patients": analysis.n_patients,
            "lesions with dose": int(p["n_lesions"].sum()) if len(p) else 0,
            "median tumour dose (Gy)": float(p["tumour_dose_gy"].median()) if len(p) else None,
            "median kidney BED (Gy)": float(p["kidney_bed_gy"].median()) if len(p) else None,
            "median red-marrow dose (Gy)": float(p["marrow_dose_gy"].median()) if len(p) else None,
            "analyses skipped": ", ".join(sorted(analysis.skipped)) or "none",
        },
    )
    _dose_response_section(rep, analysis.dose_response, analysis.skipped.get("dose_response"))
    _response_dose_section(rep, analysis)
    _toxicity_section(
        rep,
        "Kidney: BED against eGFR change",
        analysis.kidney,
        analysis.skipped.get("kidney"),
        "eGFR change (CKD-EPI 2021, first to last creatinine) against cumulative kidney BED.",
    )
    _toxicity_section(
        rep,
        "Red marrow: dose against platelet nadir",
        analysis.marrow,
        analysis.skipped.get("marrow"),
        "Platelet nadir after the first cycle against cumulative red-marrow dose (blood "
        "method); colour: CTCAE v5.0 grade.",
    )
    _survival_section(rep, analysis.survival, analysis.skipped.get("survival"))
    _rates_section(rep, analysis.rates, analysis.skipped.get("response_rates"))
    meth = rep.section("Methods and provenance")
    for step in analysis.history:
        meth.add_kv(
            f"Step: {step.operation}", {**dict(step.parameters), "sources": "; ".join(step.sources)}
        )
    for name, why in analysis.skipped.items():
        meth.add_text(f"Skipped {name}: {why}")
    return rep


def write_cohort_report(
    analysis: CohortAnalysis, out_dir: str | os.PathLike[str], *, source: str = ""
) -> Path:
    """Write ``index.html`` and ``cohort_analysis.json`` into ``out_dir``; returns the HTML."""
    folder = Path(out_dir)
    write_json_atomic(folder / "cohort_analysis.json", {"source": source, **analysis.to_dict()})
    return build_cohort_report(analysis, source=source).write(folder / "index.html")
