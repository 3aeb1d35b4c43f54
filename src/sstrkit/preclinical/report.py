"""Short preclinical HTML report: tables and plots of each analysis (report.document model).

Each ``add_*`` function appends one section to a
:class:`~sstrkit.report.document.Report`; :func:`preclinical_report` builds the
whole document from whatever results are given. Figures are drawn on a
matplotlib Agg canvas (no GUI backend) and embedded as PNG.

Examples
--------
>>> import numpy as np
>>> from sstrkit.preclinical.correlate import pearson, regress
>>> x = np.array([1.0, 2.0, 3.0, 4.0, 5.0]); y = 2 * x + np.array([0.1, -0.2, 0.0, 0.2, -0.1])
>>> rep = preclinical_report(correlation=(regress(x, y), pearson(x, y), "dose", "uptake"))
>>> html = rep.to_html()
>>> "Expression" in html and "data:image/png;base64" in html
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sstrkit.core.units import BQ_PER_GBQ, BQ_PER_MBQ, SECONDS_PER_HOUR
from sstrkit.preclinical.biodist import Biodistribution
from sstrkit.preclinical.correlate import Correlation, Regression, figure_png, regression_figure
from sstrkit.preclinical.dose import DoseResult
from sstrkit.preclinical.quantify import Quantification, RatioChange
from sstrkit.report.document import Figure, Report, TableBlock

__all__ = [
    "add_biodistribution",
    "add_correlation",
    "add_dose",
    "add_quantification",
    "preclinical_report",
]


def _figure(fig: Any, caption: str) -> Figure:
    return Figure(caption, figure_png(fig))


def add_quantification(
    report: Report, quants: Sequence[Quantification], changes: Sequence[RatioChange] = ()
) -> None:
    """Regional %ID/mL and %ID/g of each image, and ratio changes."""
    sec = report.section("Image quantification (%ID/g, decay corrected to injection)")
    for q in quants:
        rows = [
            [
                r.name,
                r.n_voxels,
                r.volume_ml,
                r.mean_pct_id_per_ml,
                r.mean_pct_id_per_g,
                r.max_pct_id_per_g,
                r.total_pct_id,
            ]
            for r in q.regions
        ]
        sec.add_table(
            TableBlock(
                f"{q.image}: {q.time_since_injection_s / SECONDS_PER_HOUR:.3g} h "
                "after injection of "
                f"{q.injection.activity_bq / BQ_PER_MBQ:.4g} MBq",
                [
                    "region",
                    "voxels",
                    "volume (mL)",
                    "mean (%ID/mL)",
                    "mean (%ID/g)",
                    "max (%ID/g)",
                    "total (%ID)",
                ],
                rows,
                note=f"decay-correction factor to injection {q.decay_correction_factor:.4g}; "
                "no partial-volume correction",
            )
        )
    if changes:
        sec.add_table(
            TableBlock(
                "Target-to-reference ratio, early vs late",
                [
                    "ratio",
                    "early (h)",
                    "late (h)",
                    "early",
                    "late",
                    "change",
                    "relative change",
                    "change per h",
                ],
                [
                    [
                        f"{c.target}/{c.reference}",
                        c.early_time_s / SECONDS_PER_HOUR,
                        c.late_time_s / SECONDS_PER_HOUR,
                        c.early_ratio,
                        c.late_ratio,
                        c.change,
                        c.relative_change,
                        c.change_per_hour,
                    ]
                    for c in changes
                ],
            )
        )


def add_biodistribution(report: Report, bd: Biodistribution) -> None:
    """Summary table (mean ± SD %ID/g per group, time point, tissue) and a bar plot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    sec = report.section("Ex-vivo biodistribution (%ID/g)")
    summ = bd.summary()
    sec.add_table(
        TableBlock(
            "%ID/g per group and time point",
            [
                "group",
                "time (h)",
                "tissue",
                "n",
                "mean (%ID/g)",
                "SD (%ID/g)",
                "95 % CI low",
                "95 % CI high",
            ],
            [
                [s.group, s.time_point_h, s.tissue, s.n, s.mean, s.sd, s.ci95_low, s.ci95_high]
                for s in summ
            ],
            note=f"standards: {bd.mode}; background {bd.background_cps:.4g} cps; "
            + ("; ".join(bd.warnings) if bd.warnings else "no warnings"),
        )
    )
    fig = MplFigure(figsize=(9.0, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    keys = sorted({(s.group, s.time_point_h) for s in summ})
    tissues = list(dict.fromkeys(s.tissue for s in summ))
    width = 0.8 / max(1, len(keys))
    pos = np.arange(len(tissues))
    for i, (g, t) in enumerate(keys):
        vals = {s.tissue: s for s in summ if s.group == g and s.time_point_h == t}
        means = [vals[x].mean if x in vals else 0.0 for x in tissues]
        sds = [(vals[x].sd or 0.0) if x in vals else 0.0 for x in tissues]
        ax.bar(pos + i * width, means, width, yerr=sds, capsize=2, label=f"{g}, {t:g} h")
    ax.set_xticks(pos + width * (len(keys) - 1) / 2)
    ax.set_xticklabels(tissues, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("%ID/g (mean ± SD)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    sec.add_figure(_figure(fig, "Biodistribution, mean ± SD over animals"))


def add_correlation(
    report: Report,
    fit: Regression,
    corr: Correlation | None = None,
    x_label: str = "x",
    y_label: str = "y",
    spearman: Correlation | None = None,
) -> None:
    """Correlation coefficients, regression table with diagnostics, and the three plots."""
    sec = report.section("Expression–uptake analysis")
    rows: list[list[Any]] = []
    for c in (corr, spearman):
        if c is not None:
            rows.append([c.method, c.r, c.ci_low, c.ci_high, c.p_value, c.n, c.ci_method])
    if rows:
        sec.add_table(
            TableBlock(
                "Correlation", ["method", "r", "CI low", "CI high", "p", "n", "interval"], rows
            )
        )
    sec.add_table(
        TableBlock(
            f"Regression of {y_label} ({fit.y_transform}) on {x_label} ({fit.x_transform})",
            ["parameter", "estimate", "SE", f"{100 * fit.confidence:.0f} % CI low", "CI high"],
            [
                ["slope", fit.slope, fit.slope_se, fit.slope_ci[0], fit.slope_ci[1]],
                [
                    "intercept",
                    fit.intercept,
                    fit.intercept_se,
                    fit.intercept_ci[0],
                    fit.intercept_ci[1],
                ],
            ],
            note=f"R² {fit.r_squared:.4g}, adjusted {fit.adjusted_r_squared:.4g}, residual SD "
            f"{fit.residual_sd:.4g}, Shapiro–Wilk p {fit.shapiro_p}, Breusch–Pagan p "
            f"{fit.breusch_pagan_p:.3g}, influential points (Cook > 4/n): "
            f"{list(fit.influential) or 'none'}",
        )
    )
    fig = regression_figure(fit, x_label=x_label, y_label=y_label, correlation=corr)
    sec.add_figure(_figure(fig, "Fit with confidence band, residuals and normal Q–Q plot"))


def add_dose(report: Report, result: DoseResult) -> None:
    """Organ dose table and the organ time–activity curves."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    sec = report.section(f"Dosimetry ({result.subject}, {result.nuclide})")
    sec.add_table(
        TableBlock(
            "Absorbed dose per administered activity",
            [
                "organ",
                "mass (g)",
                "residence time (h)",
                "φ electron",
                "φ photon",
                "self (mGy/MBq)",
                "cross (mGy/MBq)",
                "total (mGy/MBq)",
                "tail share",
            ],
            [
                [
                    o.organ,
                    o.mass_g,
                    o.tia_per_administered_s / SECONDS_PER_HOUR,
                    o.electron_absorbed_fraction,
                    o.photon_absorbed_fraction,
                    o.self_gy_per_bq * BQ_PER_GBQ,
                    o.cross_gy_per_bq * BQ_PER_GBQ,
                    o.total_gy_per_bq * BQ_PER_GBQ,
                    o.tail_fraction,
                ]
                for o in result.organs
            ],
            note="; ".join(result.warnings) if result.warnings else "",
        )
    )
    fig = MplFigure(figsize=(6.0, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for tac in result.tacs:
        ax.plot(np.asarray(tac.times_s) / SECONDS_PER_HOUR, tac.pct_id, marker="o", label=tac.organ)
    ax.set_xlabel("time after injection (h)")
    ax.set_ylabel("%ID in organ (decay corrected)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    sec.add_figure(_figure(fig, "Organ time–activity curves (biological, decay corrected)"))


def preclinical_report(
    *,
    title: str = "Preclinical SSTR2 reporter study",
    quantifications: Sequence[Quantification] = (),
    ratio_changes: Sequence[RatioChange] = (),
    biodistribution: Biodistribution | None = None,
    correlation: tuple[Regression, Correlation | None, str, str] | None = None,
    doses: Sequence[DoseResult] = (),
) -> Report:
    """A report with a section for each result given."""
    rep = Report(title=title, subtitle="sstrkit preclinical")
    if quantifications:
        add_quantification(rep, quantifications, ratio_changes)
    if biodistribution is not None:
        add_biodistribution(rep, biodistribution)
    if correlation is not None:
        fit, corr, xl, yl = correlation
        add_correlation(rep, fit, corr, xl, yl)
    for d in doses:
        add_dose(rep, d)
    return rep
