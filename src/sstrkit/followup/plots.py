"""Waterfall, swimmer and Kaplan–Meier plots (matplotlib, Agg backend, atomic files).

Files are written to a temporary name in the target folder and moved into
place, so a crash never leaves half a figure. The format follows the suffix
(``.png``, ``.svg`` or ``.pdf``).

Examples
--------
>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "w.svg"
>>> waterfall_plot([-0.6, 0.25, -0.1], out, responses=["PR", "PD", "SD"]).name
'w.svg'
>>> out.read_text()[:5] in ("<?xml", "<svg ")
True
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from sstrkit.errors import InvalidInputError
from sstrkit.followup.survival import KaplanMeier
from sstrkit.followup.tabular import atomic_path

__all__ = ["km_plot", "save_figure", "swimmer_plot", "waterfall_plot"]

_FORMATS: Final = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
_COLOURS: Final = {
    "CR": "#1a9850",
    "PR": "#66bd63",
    "MR": "#a6d96a",
    "SD": "#fee08b",
    "NON-CR/NON-PD": "#fee08b",
    "PD": "#d73027",
    "NE": "#999999",
    "CMR": "#1a9850",
    "PMR": "#66bd63",
    "SMD": "#fee08b",
    "PMD": "#d73027",
}


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = 150) -> Path:
    """Save ``fig`` atomically; the format comes from the suffix."""
    p = Path(path)
    fmt = _FORMATS.get(p.suffix.lower())
    if fmt is None:
        plt.close(fig)
        raise InvalidInputError(
            "plot file",
            expected=f"a name ending in {sorted(_FORMATS)}",
            actual=p.name,
            fix="use .png, .svg or .pdf",
        )
    try:
        with atomic_path(p) as tmp:
            fig.savefig(
                tmp,
                format=fmt,
                dpi=dpi,
                bbox_inches="tight",
                metadata={"Date": None} if fmt == "svg" else None,
            )
    finally:
        plt.close(fig)
    return p


def waterfall_plot(
    changes: Sequence[float],
    path: str | os.PathLike[str],
    *,
    responses: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    thresholds: Sequence[float] = (0.20, -0.30),
    title: str = "Best change in sum of diameters",
) -> Path:
    """Bars of best relative change per patient, sorted descending (fractions, −0.3 = −30 %)."""
    if not changes:
        raise InvalidInputError("waterfall data", expected="at least one patient", actual=0)
    if responses is not None and len(responses) != len(changes):
        raise InvalidInputError(
            "responses", expected=f"{len(changes)} labels", actual=len(responses)
        )
    order = sorted(range(len(changes)), key=lambda i: -changes[i])
    fig, ax = plt.subplots(figsize=(max(4.0, 0.25 * len(changes) + 2), 4))
    colours = [_COLOURS.get(responses[i], "#4575b4") if responses else "#4575b4" for i in order]
    ax.bar(range(len(order)), [100 * changes[i] for i in order], color=colours, width=0.8)
    for th in thresholds:
        ax.axhline(100 * th, linestyle="--", linewidth=0.8, color="black")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel("change from baseline (%)")
    ax.set_title(title)
    if labels is not None:
        ax.set_xticks(range(len(order)), [labels[i] for i in order], rotation=90, fontsize=6)
    else:
        ax.set_xticks([])
    if responses:
        seen = dict.fromkeys(responses[i] for i in order)
        handles = [Rectangle((0, 0), 1, 1, color=_COLOURS.get(r, "#4575b4")) for r in seen]
        ax.legend(handles, list(seen), fontsize=7, loc="upper right")
    return save_figure(fig, path)


def swimmer_plot(
    durations: Sequence[float],
    path: str | os.PathLike[str],
    *,
    labels: Sequence[str] | None = None,
    ongoing: Sequence[bool] | None = None,
    events: Sequence[Sequence[tuple[float, str]]] | None = None,
    unit: str = "months",
    title: str = "Time on study",
) -> Path:
    """Horizontal bars of follow-up per patient; arrows for ongoing, markers for events."""
    n = len(durations)
    if n == 0:
        raise InvalidInputError("swimmer data", expected="at least one patient", actual=0)
    for name, seq in (("labels", labels), ("ongoing", ongoing), ("events", events)):
        if seq is not None and len(seq) != n:
            raise InvalidInputError(name, expected=f"{n} entries", actual=len(seq))
    order = sorted(range(n), key=lambda i: durations[i])
    fig, ax = plt.subplots(figsize=(6, max(2.5, 0.22 * n + 1)))
    ax.barh(range(n), [durations[i] for i in order], color="#4575b4", height=0.6)
    markers: dict[str, Any] = {}
    for row, i in enumerate(order):
        if ongoing is not None and ongoing[i]:
            ax.annotate(
                "",
                xy=(durations[i] * 1.05 + 0.01, row),
                xytext=(durations[i], row),
                arrowprops={"arrowstyle": "->", "color": "black"},
            )
        for t, kind in events[i] if events is not None else ():
            h = ax.scatter(
                [t],
                [row],
                color=_COLOURS.get(kind, "black"),
                zorder=3,
                s=18,
                marker="D" if kind in ("PD", "PMD") else "o",
            )
            markers.setdefault(kind, h)
    ax.set_yticks(
        range(n), [labels[i] for i in order] if labels else [str(i + 1) for i in order], fontsize=6
    )
    ax.set_xlabel(unit)
    ax.set_title(title)
    if markers:
        ax.legend(list(markers.values()), list(markers), fontsize=7, loc="lower right")
    return save_figure(fig, path)


def km_plot(
    curves: dict[str, KaplanMeier],
    path: str | os.PathLike[str],
    *,
    scale: float = 1.0,
    unit: str = "months",
    title: str = "Kaplan–Meier",
) -> Path:
    """Step curves with confidence bands; times divided by ``scale``."""
    if not curves:
        raise InvalidInputError("Kaplan–Meier curves", expected="at least one", actual=0)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, km in curves.items():
        x = [0.0, *(km.times / scale).tolist()]
        ax.step(x, [1.0, *km.survival.tolist()], where="post", label=f"{name} (n={km.n})")
        ax.fill_between(
            x, [1.0, *km.lower.tolist()], [1.0, *km.upper.tolist()], step="post", alpha=0.15
        )
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(unit)
    ax.set_ylabel("survival probability")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return save_figure(fig, path)
