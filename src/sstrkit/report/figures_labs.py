"""Laboratory figure of the report's follow-up: liver tests with their CTCAE grades, and CgA.

:func:`liver_cga_figure` draws, on one time axis, the liver tests as multiples of their
reference limit (bilirubin, ALT, AST, ALP over their upper limit of normal; albumin over
its lower limit) with every point coloured by its CTCAE v5.0 grade, and chromogranin A
with its baseline and the response level (the fall that counts as a biochemical
response); therapies (PRRT cycles, SIRT) are dotted vertical lines in both panels.

The figure draws what it is given: grades come from
:func:`sstrkit.followup.toxicity.assess_toxicity`, CgA categories from
:func:`sstrkit.followup.biochemical.assess_cga`.

Examples
--------
>>> import datetime as dt
>>> t0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
>>> later = t0 + dt.timedelta(days=90)
>>> fig = liver_cga_figure(
...     {"ALT (× ULN)": [LabPoint(t0, 0.4, 0), LabPoint(later, 3.5, 2)]},
...     [LabPoint(t0, 800.0, None, "baseline"), LabPoint(later, 350.0, None, "response")],
...     cga_response_level=400.0, events=[(t0, "C1")], dpi=20)
>>> "CTCAE v5.0 grade" in fig.caption
True
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

import matplotlib.dates
from matplotlib.figure import Figure as MplFigure

from sstrkit.errors import InvalidInputError
from sstrkit.report.document import Figure
from sstrkit.report.figures_common import _DPI, _aware, _finite

__all__ = ["GRADE_COLOURS", "LabPoint", "liver_cga_figure"]

#: Marker colour of each CTCAE grade (0: normal … 4).
GRADE_COLOURS: Final[Mapping[int, str]] = {
    0: "#4d4d4d",
    1: "#fee08b",
    2: "#f4a30b",
    3: "#d73027",
    4: "#67001f",
}
#: Marker colour of each CgA category.
_CGA_COLOURS: Final[Mapping[str, str]] = {
    "baseline": "#4d4d4d",
    "response": "#1a9850",
    "stable": "#4575b4",
    "progression": "#d73027",
}


@dataclass(frozen=True)
class LabPoint:
    """One value at one time: its CTCAE ``grade`` (liver tests) or ``category`` (CgA)."""

    time: _dt.datetime
    value: float
    grade: int | None = None
    category: str = ""


def _num(when: _dt.datetime) -> float:
    return float(cast(Any, matplotlib.dates).date2num(when))


def _check(
    liver: Mapping[str, Sequence[LabPoint]],
    cga: Sequence[LabPoint],
    events: Sequence[tuple[_dt.datetime, str]],
) -> None:
    if not any(liver.values()) and not cga:
        raise InvalidInputError("lab figure", expected="liver tests or CgA values", actual="none")
    for name, pts in [*liver.items(), ("CgA", cga)]:
        for p in pts:
            _aware(f"time of {name}", p.time)
            _finite(f"value of {name}", float(p.value), minimum=0.0)
    for when, label in events:
        _aware(f"time of {label!r}", when)


def _liver_panel(ax: Any, liver: Mapping[str, Sequence[LabPoint]]) -> None:
    markers = "osD^v<>"
    for i, (name, series) in enumerate(liver.items()):
        pts = sorted(series, key=lambda p: p.time)
        xs, ys = [_num(p.time) for p in pts], [float(p.value) for p in pts]
        ax.plot(xs, ys, "-", color="#999999", linewidth=0.8)
        ax.scatter(
            xs,
            ys,
            c=[GRADE_COLOURS[min(int(p.grade or 0), 4)] for p in pts],
            marker=markers[i % len(markers)],
            edgecolors="black",
            linewidths=0.5,
            s=30,
            zorder=3,
        )
        ax.plot(  # legend entry: the marker in a neutral colour (the colour is the grade)
            [], [], markers[i % len(markers)], color="white", markeredgecolor="black", label=name
        )
        for x, p in zip(xs, pts, strict=True):
            if p.grade:
                ax.annotate(
                    f"G{p.grade}",
                    (x, p.value),
                    xytext=(3, 3),
                    textcoords="offset points",
                    fontsize=7,
                )
    ax.axhline(1.0, color="black", linestyle="--", linewidth=0.8)
    ax.set_ylabel("value / reference limit", fontsize=8)
    ax.set_title("liver tests (colour: CTCAE v5.0 grade)", loc="left", fontsize=9)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))


def _cga_panel(ax: Any, cga: Sequence[LabPoint], level: float | None) -> None:
    pts = sorted(cga, key=lambda p: p.time)
    xs, ys = [_num(p.time) for p in pts], [float(p.value) for p in pts]
    ax.plot(xs, ys, "-", color="#999999", linewidth=0.8)
    ax.scatter(
        xs,
        ys,
        c=[_CGA_COLOURS.get(p.category, "#4d4d4d") for p in pts],
        edgecolors="black",
        linewidths=0.5,
        s=30,
        zorder=3,
    )
    for x, p in zip(xs, pts, strict=True):
        ax.annotate(p.category, (x, p.value), xytext=(3, 3), textcoords="offset points", fontsize=7)
    if level is not None:
        ax.axhline(
            level,
            color="#1a9850",
            linestyle="--",
            linewidth=1.0,
            label=f"response level {level:.4g} µg/L",
        )
        ax.legend(fontsize=7, loc="upper right")
    ax.set_ylim(0.0, 1.25 * max([*ys, level or 0.0, 1e-9]))
    ax.set_ylabel("chromogranin A (µg/L)", fontsize=8)
    ax.set_title("chromogranin A (colour: biochemical response)", loc="left", fontsize=9)


def _caption(title: str, panels: Sequence[str], events: Sequence[str], zone: str) -> str:
    liver = (
        "liver tests as multiples of their reference limit (bilirubin, ALT, AST, ALP over "
        "the upper limit of normal; albumin over the lower limit; dashed line at 1), each "
        "point coloured by its CTCAE v5.0 grade (grey 0, yellow 1, amber 2, red 3, dark "
        "red 4; G labels for grades ≥ 1)"
    )
    cga = (
        "chromogranin A (µg/L) coloured by its category against the baseline (green "
        "response, blue stable, red progression), the dashed green line at the response level"
    )
    parts = [liver if p == "liver" else cga for p in panels]
    return (
        f"{title}: "
        + "; ".join(parts)
        + ". Dotted vertical lines: therapies"
        + (f" ({', '.join(events)})" if events else "")
        + f". Dates in {zone}."
    )


def liver_cga_figure(
    liver: Mapping[str, Sequence[LabPoint]],
    cga: Sequence[LabPoint],
    *,
    cga_response_level: float | None = None,
    events: Sequence[tuple[_dt.datetime, str]] = (),
    title: str = "Liver tests and chromogranin A",
    dpi: int = _DPI,
) -> Figure:
    """Liver tests (× reference limit, coloured by CTCAE grade) and CgA over time.

    ``liver``: series name (with its normalisation, e.g. ``"ALT (× ULN)"``) → points with
    their grade; ``cga``: CgA values (µg/L) with their category; ``cga_response_level``:
    the CgA value at the response threshold (dashed green); ``events``: therapies.
    """
    _check(liver, cga, events)
    if cga_response_level is not None:
        _finite("CgA response level", float(cga_response_level), minimum=0.0)
    panels = [p for p, has in (("liver", any(liver.values())), ("cga", bool(cga))) if has]
    fig = MplFigure(figsize=(8.0, 1.0 + 2.1 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for panel, ax in zip(panels, axes, strict=True):
        if panel == "liver":
            _liver_panel(ax, liver)
        else:
            _cga_panel(ax, cga, cga_response_level)
    for ax in axes:
        for when, _label in events:
            ax.axvline(_num(when), color="grey", linestyle=":", linewidth=0.8)
        ax.grid(alpha=0.3, axis="y")
    for when, label in events:
        axes[0].annotate(
            label,
            (_num(when), 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -10),
            textcoords="offset points",
            fontsize=7,
            rotation=90,
            va="top",
        )
    tz = next(p.time for pts in (*liver.values(), cga) for p in pts).tzinfo
    dates = cast(Any, matplotlib.dates)  # untyped module
    locator = dates.AutoDateLocator(tz=tz)
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz=tz))
    fig.suptitle(title)
    caption = _caption(title, panels, [label for _, label in events], str(tz))
    return Figure.from_matplotlib(fig, caption, dpi=dpi)
