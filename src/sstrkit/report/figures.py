"""Figures of the theranostic report (matplotlib, rendered to PNG with Agg).

Each function returns a :class:`sstrkit.report.document.Figure`: the PNG bytes
and a caption that says what is shown and in which units. Figures are built on
:class:`matplotlib.figure.Figure` objects (no pyplot state, nothing is shown)
and rendered by :meth:`Figure.from_matplotlib`, which closes them.

* :func:`tac_figure` — measured time–activity points with their fitted kinetics;
* :func:`dose_overlay_figure` — axial, coronal and sagittal absorbed-dose
  colour-wash over CT, radiological convention;
* :func:`dvh_figure` — cumulative dose–volume histograms;
* :func:`limits_figure` — cumulative organ dose/BED against its limit;
* :func:`waterfall_figure` — per-lesion change from baseline;
* :func:`timeline_figure` — administrations and laboratory values over time.

The dose figures live in :mod:`sstrkit.report.figures_dose` and the shared
argument checks in :mod:`sstrkit.report.figures_common`; their public names
are re-exported here.

Units at this edge: time in h, activity in MBq (GBq for administrations),
TIA in MBq·h, dose and BED in Gy. The library objects they draw from keep the
internal units (s, Bq, Bq·s).

Examples
--------
>>> fig = limits_figure([LimitBar("kidneys", "BED", 21.0, 35.0, 40.0, 2.1)], dpi=30)
>>> fig.png[:8] == b"\\x89PNG\\r\\n\\x1a\\n", "Gy" in fig.caption
(True, True)
>>> limit_status(33.0, 40.0)
'amber'
"""

from __future__ import annotations

import datetime as _dt
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import matplotlib.dates
import numpy as np
from matplotlib.figure import Figure as MplFigure
from numpy.typing import ArrayLike

from sstrkit.core.units import BQ_PER_MBQ, SECONDS_PER_HOUR
from sstrkit.errors import InvalidInputError
from sstrkit.followup.plots import waterfall_plot
from sstrkit.report.document import Figure
from sstrkit.report.figures_common import _DPI, _aware, _finite
from sstrkit.report.figures_common import FloatArray as FloatArray
from sstrkit.report.figures_dose import CT_WINDOW_HU as CT_WINDOW_HU
from sstrkit.report.figures_dose import WASH_THRESHOLD as WASH_THRESHOLD
from sstrkit.report.figures_dose import OrthogonalSlices as OrthogonalSlices
from sstrkit.report.figures_dose import dose_overlay_figure as dose_overlay_figure
from sstrkit.report.figures_dose import dvh_curve_pct as dvh_curve_pct
from sstrkit.report.figures_dose import dvh_figure as dvh_figure
from sstrkit.report.figures_dose import orthogonal_slices as orthogonal_slices
from sstrkit.report.figures_dose import slice_indices as slice_indices
from sstrkit.therapy.kinetics import KineticsFit
from sstrkit.therapy.limit_status import AMBER_FRACTION, LimitStatus, limit_status

__all__ = [
    "LimitBar",
    "LimitStatus",
    "OrthogonalSlices",
    "TacCurve",
    "dose_overlay_figure",
    "dvh_curve_pct",
    "dvh_figure",
    "fit_activity_bq",
    "limit_status",
    "limits_figure",
    "orthogonal_slices",
    "slice_indices",
    "tac_curve_points",
    "tac_figure",
    "tac_label",
    "timeline_figure",
    "waterfall_figure",
]

#: Colours a physician reads at a glance (ColorBrewer RdYlGn end points and an amber).
STATUS_COLOURS: Final[Mapping[LimitStatus, str]] = {
    "green": "#1a9850",
    "amber": "#f4a30b",
    "red": "#d73027",
}
_STATUS_WORDS: Final[Mapping[LimitStatus, str]] = {
    "green": "below 80 % of limit",
    "amber": "80–100 % of limit",
    "red": "above limit",
}


# ------------------------------------------------------------------ time–activity


@dataclass(frozen=True)
class TacCurve:
    """One region's measured time–activity points and (optionally) their fit.

    Parameters
    ----------
    name
        Region name shown in the legend.
    times_h
        Times after administration (h), ≥ 0.
    activity_mbq
        Activity in the region (MBq, not decay corrected), ≥ 0.
    fit
        The kinetics fit of these points (internal units), or None.
    """

    name: str
    times_h: Sequence[float]
    activity_mbq: Sequence[float]
    fit: KineticsFit | None = None

    def __post_init__(self) -> None:
        t = tuple(float(v) for v in self.times_h)
        a = tuple(float(v) for v in self.activity_mbq)
        if not t or len(t) != len(a):
            raise InvalidInputError(
                f"time–activity points of {self.name!r}",
                expected="at least one point and one activity per time",
                actual=f"{len(t)} times, {len(a)} activities",
            )
        for v in t:
            _finite(f"time of {self.name!r} (h)", v, minimum=0.0)
        for v in a:
            _finite(f"activity of {self.name!r} (MBq)", v, minimum=0.0)
        object.__setattr__(self, "times_h", t)
        object.__setattr__(self, "activity_mbq", a)


def fit_activity_bq(fit: KineticsFit, t_s: ArrayLike) -> FloatArray:
    """The activity (Bq) that ``fit`` integrates to its TIA, at times ``t_s`` (s).

    A thin wrapper of :meth:`KineticsFit.activity_at`: exponential models at
    the fitted parameters; the trapezoid drawn as it is integrated (from t = 0
    a line from 0 or, with ``start="constant"``, the first value held; lines
    between points; after the last point an exponential with the tail rate).

    Examples
    --------
    >>> from sstrkit.therapy.kinetics import fit_curve
    >>> f = fit_curve([3600.0, 7200.0], [2.0, 1.0], 3600.0, model="trapezoid")
    >>> fit_activity_bq(f, [0.0, 1800.0, 5400.0, 10800.0]).round(9).tolist()
    [0.0, 1.0, 1.5, 0.5]
    """
    return np.asarray(fit.activity_at(t_s), dtype=float)


def tac_curve_points(
    fit: KineticsFit, end_h: float, *, n: int = 301
) -> tuple[FloatArray, FloatArray]:
    """The fitted curve on a regular grid from 0 to ``end_h``: ``(times_h, activity_mbq)``.

    >>> from sstrkit.therapy.kinetics import fit_curve
    >>> f = fit_curve([3600.0, 7200.0], [2e6, 1e6], 3600.0, model="trapezoid")
    >>> tac_curve_points(f, 2.0, n=5)[1].round(9).tolist()
    [0.0, 1.0, 2.0, 1.5, 1.0]
    """
    _finite("end of the curve (h)", end_h, minimum=0.0, strict=True)
    t_h = np.linspace(0.0, end_h, n)
    return t_h, fit_activity_bq(fit, t_h * SECONDS_PER_HOUR) / BQ_PER_MBQ


def tac_label(curve: TacCurve) -> str:
    """Legend entry: region, model, T_eff (h) and TIA ± SD (MBq·h, 3 significant digits).

    >>> from sstrkit.therapy.kinetics import fit_curve
    >>> f = fit_curve([3600.0, 7200.0], [2e6, 1e6], 3600.0, model="trapezoid")
    >>> tac_label(TacCurve("liver", (1.0, 2.0), (2.0, 1.0), f)).split(", ")[1]
    'T_eff 1.0 h'

    The TIA is 1 + 1.5 + 1/ln 2 = 3.94 MBq·h (two trapezoids and the physical tail):

    >>> tac_label(TacCurve("liver", (1.0, 2.0), (2.0, 1.0), f)).split(", ")[2]
    'TIA 3.94 ± 0.28 MBq·h'
    """
    fit = curve.fit
    if fit is None:
        return f"{curve.name} (no fit)"
    sd = fit.tia_sd_bq_s / 3.6e9
    sd_txt = f" ± {_sig(sd, 2)}" if math.isfinite(sd) else ""
    return (
        f"{curve.name}: {fit.model}, T_eff {fit.t_eff_s / SECONDS_PER_HOUR:.1f} h, "
        f"TIA {_sig(fit.tia_bq_s / 3.6e9)}{sd_txt} MBq·h"
    )


def _sig(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant digits without an exponent (8660, 0.0123)."""
    return str(
        np.format_float_positional(x, precision=digits, unique=False, fractional=False, trim="-")
    )


def tac_figure(
    curves: Sequence[TacCurve], title: str, *, log_y: bool = False, dpi: int = _DPI
) -> Figure:
    """Measured time–activity points (markers) and fitted curves (lines).

    The fits are evaluated with :func:`fit_activity_bq` from t = 0 to 1.3 × the
    latest measured time; the legend gives the model, the effective half-life
    of the terminal phase (h) and the time-integrated activity 0–∞ (MBq·h,
    ± 1 SD). With ``log_y`` zero values are left out of the plot.
    """
    if not curves:
        raise InvalidInputError("time–activity curves", expected="at least one", actual=0)
    end_h = 1.3 * max(max(c.times_h) for c in curves)
    if end_h <= 0:
        raise InvalidInputError(
            "time–activity times", expected="a time after administration > 0 h", actual=0.0
        )
    fig = MplFigure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.subplots()
    positive: list[float] = []
    for curve in curves:
        t = np.asarray(curve.times_h)
        a = np.asarray(curve.activity_mbq)
        keep = a > 0 if log_y else np.ones(a.shape, dtype=bool)
        positive.extend(a[a > 0].tolist())
        pts = ax.plot(t[keep], a[keep], "o", label=tac_label(curve))[0]
        if curve.fit is not None:
            th, ah = tac_curve_points(curve.fit, end_h)
            if log_y:
                ah = np.where(ah > 0, ah, np.nan)
            ax.plot(th, ah, "-", color=pts.get_color(), linewidth=1.2)
    ax.set_xlim(0.0, end_h)
    ax.set_xlabel("time after administration (h)")
    ax.set_ylabel("activity (MBq)")
    if log_y and positive:
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.3 * min(positive))
    else:
        ax.set_ylim(bottom=0.0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    caption = (
        f"{title}: measured activity (markers, MBq, not decay corrected) against time after "
        "administration (h); lines are the fitted kinetics models from 0 h to 1.3 × the last "
        "time point (the trapezoid is drawn as integrated, with its exponential tail). Legend: "
        "model, effective half-life of the terminal phase T_eff (h) and time-integrated "
        f"activity TIA from 0 to ∞ (MBq·h, ± 1 SD). {'Logarithmic' if log_y else 'Linear'} "
        "activity axis."
    )
    return Figure.from_matplotlib(fig, caption, dpi=dpi)


# ------------------------------------------------------------------------ limits


@dataclass(frozen=True)
class LimitBar:
    """One organ's cumulative dose (or BED) against its limit, in Gy.

    Parameters
    ----------
    organ
        Organ name, e.g. ``"kidneys"`` or ``"red marrow"``.
    quantity
        What is compared, e.g. ``"BED"`` or ``"absorbed dose"``.
    delivered_gy
        Cumulative value of the cycles given so far.
    projected_gy
        Cumulative value after all planned cycles (delivered included), or None.
    limit_gy
        The limit (e.g. kidney BED 40 Gy, or 28 Gy with risk factors; red marrow 2 Gy).
    sd_gy
        Standard deviation of ``delivered_gy``, or None.
    """

    organ: str
    quantity: str
    delivered_gy: float
    projected_gy: float | None
    limit_gy: float
    sd_gy: float | None = None

    def __post_init__(self) -> None:
        _finite(f"delivered {self.quantity} of {self.organ} (Gy)", self.delivered_gy, minimum=0.0)
        _finite(f"limit of {self.organ} (Gy)", self.limit_gy, minimum=0.0, strict=True)
        if self.sd_gy is not None:
            _finite(f"SD of {self.organ} (Gy)", self.sd_gy, minimum=0.0)
        if self.projected_gy is not None:
            _finite(f"projected {self.quantity} of {self.organ} (Gy)", self.projected_gy)
            if self.projected_gy < self.delivered_gy:
                raise InvalidInputError(
                    f"projected {self.quantity} of {self.organ}",
                    expected=f"≥ the delivered {self.delivered_gy:g} Gy",
                    actual=self.projected_gy,
                    fix="projected_gy is the cumulative total after all planned cycles "
                    "(delivered + remaining)",
                )


def limits_figure(
    rows: Sequence[LimitBar],
    *,
    title: str = "Cumulative dose against organ limits",
    dpi: int = _DPI,
) -> Figure:
    """Horizontal bars of delivered and projected cumulative dose/BED against the limit.

    One panel per organ, each on its own Gy scale: a solid bar for the
    delivered value (with its ± 1 SD error bar), a hatched bar for the
    projected total, the limit as a dashed line; the 80–100 % band is shaded
    amber and the region above the limit red. Bars are coloured with
    :func:`limit_status` and labelled with their value and % of the limit.
    """
    if not rows:
        raise InvalidInputError("organ limit rows", expected="at least one", actual=0)
    fig = MplFigure(figsize=(8.0, 1.0 + 1.35 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, row in zip(axes, rows, strict=True):
        bars: list[tuple[str, float, float | None, str | None]] = []
        if row.projected_gy is not None:
            bars.append(("projected", row.projected_gy, None, "//"))
        bars.append(("delivered", row.delivered_gy, row.sd_gy, None))
        far = max(row.limit_gy, *(v + (sd or 0.0) for _, v, sd, _ in bars))
        right = 1.55 * far
        ax.axvspan(AMBER_FRACTION * row.limit_gy, row.limit_gy, color="#f4a30b", alpha=0.15)
        ax.axvspan(row.limit_gy, right, color="#d73027", alpha=0.08)
        for y, (label, value, sd, hatch) in enumerate(bars):
            status = limit_status(value, row.limit_gy)
            ax.barh(
                y,
                value,
                height=0.6,
                color=STATUS_COLOURS[status],
                edgecolor="black",
                linewidth=0.6,
                hatch=hatch,
                xerr=sd,
                capsize=3 if sd else 0,
            )
            sd_txt = f" ± {sd:.2g}" if sd else ""
            ax.text(
                value + (sd or 0.0) + 0.015 * right,
                y,
                f"{label} {value:.3g}{sd_txt} Gy ({100 * value / row.limit_gy:.0f} %: "
                f"{_STATUS_WORDS[status]})",
                va="center",
                fontsize=7,
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 1.0},
            )
        ax.axvline(row.limit_gy, color="black", linestyle="--", linewidth=1.0)
        ax.text(
            row.limit_gy,
            len(bars) - 0.45,
            f" limit {row.limit_gy:g} Gy",
            fontsize=7,
            va="bottom",
        )
        ax.set_xlim(0.0, right)
        ax.set_ylim(-0.5, len(bars) + 0.1)
        ax.set_yticks(range(len(bars)), [b[0] for b in bars], fontsize=7)
        ax.set_xlabel(f"{row.quantity} (Gy)", fontsize=8)
        ax.set_title(f"{row.organ}: cumulative {row.quantity}", loc="left", fontsize=9)
    fig.suptitle(title)
    limits = "; ".join(f"{r.organ} {r.quantity} {r.limit_gy:g} Gy" for r in rows)
    caption = (
        f"{title}: per organ, cumulative {', '.join(dict.fromkeys(r.quantity for r in rows))} "
        "(Gy) delivered so far (solid bar, error bar ± 1 SD where known) and projected after "
        "all planned cycles (hatched bar), against the limit (dashed line; "
        f"{limits}). Colour: green below 80 % of the limit, amber 80–100 %, red above the "
        "limit; each bar is labelled with its value and percentage of the limit."
    )
    return Figure.from_matplotlib(fig, caption, dpi=dpi)


# ---------------------------------------------------------------------- response


def waterfall_figure(changes_pct: Mapping[str, float], title: str) -> Figure:
    """Per-lesion change from baseline (%), sorted, with +20 % and −30 % reference lines.

    Drawn by :func:`sstrkit.followup.plots.waterfall_plot` (the follow-up
    module's waterfall) into a temporary PNG that is embedded here.
    """
    if not changes_pct:
        raise InvalidInputError("lesion changes", expected="at least one lesion", actual=0)
    for name, v in changes_pct.items():
        _finite(f"change of lesion {name!r} (%)", float(v), minimum=-100.0)
    names = list(changes_pct)
    with tempfile.TemporaryDirectory(prefix="sstrkit-waterfall-") as tmp:
        path = waterfall_plot(
            [float(changes_pct[n]) / 100.0 for n in names],
            Path(tmp) / "waterfall.png",
            labels=names,
            thresholds=(0.20, -0.30),
            title=title,
        )
        png = path.read_bytes()
    caption = (
        f"{title}: change from baseline per lesion (%), sorted from largest increase to "
        "largest decrease; dashed reference lines at +20 % and −30 % (the RECIST 1.1 "
        "progression and partial-response thresholds, which are defined for the sum of "
        "target lesions, shown here for orientation only)."
    )
    return Figure(caption, png)


# ---------------------------------------------------------------------- timeline


def _date_num(when: _dt.datetime) -> float:
    """Matplotlib date number (days since 1970-01-01 UTC) of an aware datetime."""
    return float(cast(Any, matplotlib.dates).date2num(when))


def _check_timeline(
    administrations: Sequence[tuple[_dt.datetime, float, str]],
    labs: Mapping[str, Sequence[tuple[_dt.datetime, float]]],
    lab_limits: Mapping[str, float],
) -> None:
    """Refuse an empty timeline, naive times, non-finite values and limits of unknown labs."""
    if not administrations and not labs:
        raise InvalidInputError(
            "timeline", expected="at least one administration or lab series", actual="nothing"
        )
    for when, act, label in administrations:
        _aware(f"time of administration {label!r}", when)
        _finite(f"activity of administration {label!r} (GBq)", float(act), minimum=0.0)
    for name, series in labs.items():
        if not series:
            raise InvalidInputError(f"lab series {name!r}", expected="at least one value", actual=0)
        for when, value in series:
            _aware(f"time of lab {name!r}", when)
            _finite(f"value of lab {name!r}", float(value))
    unknown = sorted(set(lab_limits) - set(labs))
    if unknown:
        raise InvalidInputError(
            "lab limits",
            expected=f"names among the lab series {sorted(labs)}",
            actual=unknown,
        )
    for name, lim in lab_limits.items():
        _finite(f"threshold of lab {name!r}", float(lim))


def timeline_figure(
    administrations: Sequence[tuple[_dt.datetime, float, str]],
    labs: Mapping[str, Sequence[tuple[_dt.datetime, float]]] | None = None,
    lab_limits: Mapping[str, float] | None = None,
    *,
    title: str = "Treatment timeline",
    dpi: int = _DPI,
) -> Figure:
    """Administrations (GBq) and laboratory values over time, in small multiples.

    Parameters
    ----------
    administrations
        ``(time, activity_gbq, label)`` per cycle (timezone-aware times).
    labs
        Lab name → ``(time, value)`` series. The name is used as the panel's
        axis label and should carry the unit, e.g. ``"platelets (10^9/L)"``;
        a name without a parenthesised unit is labelled "(unit not given)".
    lab_limits
        Lab name → threshold drawn as a dashed red line (same unit as the lab).
    """
    labs = dict(labs or {})
    lab_limits = dict(lab_limits or {})
    _check_timeline(administrations, labs, lab_limits)
    first = administrations[0][0] if administrations else next(iter(labs.values()))[0][0]
    tz = first.tzinfo
    n_panels = 1 + len(labs)
    fig = MplFigure(figsize=(8.0, 1.2 + 1.7 * n_panels), layout="constrained")
    axes = fig.subplots(n_panels, 1, sharex=True, squeeze=False)[:, 0]
    admin = sorted(administrations, key=lambda a: a[0])
    times = [_date_num(a[0]) for a in admin]
    ax0 = axes[0]
    if admin:
        gbq = [float(a[1]) for a in admin]
        ax0.vlines(times, 0.0, gbq, color="#4575b4", linewidth=2.0)
        ax0.plot(times, gbq, "o", color="#4575b4")
        for x, (_, act, label) in zip(times, admin, strict=True):
            ax0.annotate(
                f"{label}\n{act:.3g} GBq",
                (x, act),
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7,
            )
        ax0.set_ylim(0.0, 1.4 * max(*gbq, 1e-9))
    else:
        ax0.text(0.5, 0.5, "no administrations", transform=ax0.transAxes, ha="center")
    ax0.set_ylabel("activity (GBq)", fontsize=8)
    ax0.set_title("administrations", loc="left", fontsize=9)
    for ax, (name, series) in zip(axes[1:], labs.items(), strict=True):
        pts = sorted(series, key=lambda p: p[0])
        ax.plot(
            [_date_num(p[0]) for p in pts],
            [float(p[1]) for p in pts],
            "o-",
            color="black",
            markersize=3,
            linewidth=1.0,
        )
        if name in lab_limits:
            ax.axhline(
                float(lab_limits[name]),
                color="#d73027",
                linestyle="--",
                linewidth=1.0,
                label=f"threshold {float(lab_limits[name]):g}",
            )
            ax.legend(fontsize=7, loc="best")
        ax.set_ylabel(name if "(" in name else f"{name}\n(unit not given)", fontsize=8)
    for ax in axes:
        for x in times:
            ax.axvline(x, color="grey", linestyle=":", linewidth=0.8)
        ax.grid(alpha=0.3, axis="y")
    dates = cast(Any, matplotlib.dates)  # untyped module
    locator = dates.AutoDateLocator(tz=tz)
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz=tz))
    fig.suptitle(title)
    zone = first.tzname() or str(tz)
    caption = (
        f"{title}: administered activity per cycle (GBq, top panel; dotted vertical lines mark "
        "the administrations in every panel)"
        + (
            "; laboratory values over time below, in the units given in each panel's label, "
            "with thresholds as dashed red lines"
            if labs
            else ""
        )
        + f". Dates in {zone}."
    )
    return Figure.from_matplotlib(fig, caption, dpi=dpi)
