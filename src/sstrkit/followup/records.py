"""Readers that turn JSON documents and long CSV tables into lesion time points.

RECIST JSON (one document per time point)::

    {"label": "cycle 2", "day": 84,            # or "date": "2024-03-01"
     "tumour_markers_normal": true,             # optional
     "lesions": [{"id": "L1", "organ": "liver", "is_node": false, "target": true,
                  "diameter_mm": 23.0, "new": false}, ...]}

A bare list of lesions is accepted as well (then times are unknown and no
best overall response is computed). RECIST long CSV: one row per lesion and
time point with columns ``timepoint``, ``day`` or ``date``, ``id`` and
optionally ``patient_id``, ``organ``, ``is_node``, ``target``, ``diameter_mm``,
``new``, ``status``, ``too_small``.

Examples
--------
>>> tp = timepoint_from_json({"label": "b", "day": 0, "lesions": [{"id": "a", "diameter_mm": 12}]})
>>> tp.time_s, tp.lesions[0].diameter_mm
(0.0, 12.0)
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from sstrkit.core.units import SECONDS_PER_DAY
from sstrkit.errors import InvalidInputError
from sstrkit.followup.recist import Lesion, TimePoint
from sstrkit.followup.tabular import Table, is_missing

__all__ = ["load_json", "recist_series_from_table", "timepoint_from_json", "timepoints_from_files"]

DAY_S: Final = SECONDS_PER_DAY


def load_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; missing files and syntax errors raise InvalidInputError."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError("JSON file", expected="an existing file", actual=str(p)) from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"JSON file {p.name}",
            expected="valid JSON",
            actual=f"line {exc.lineno}: {exc.msg}",
            fix="check the syntax",
        ) from None


def _date(text: object, what: str) -> _dt.date:
    try:
        return _dt.date.fromisoformat(str(text)[:10])
    except ValueError:
        raise InvalidInputError(
            what, expected="an ISO date YYYY-MM-DD", actual=repr(text)
        ) from None


def timepoint_from_json(
    doc: Any, *, label: str = "time point", baseline_date: _dt.date | None = None
) -> TimePoint:
    """One :class:`TimePoint` from a JSON document (see module docstring)."""
    if isinstance(doc, list):
        doc = {"lesions": doc}
    if not isinstance(doc, Mapping) or not isinstance(doc.get("lesions"), list):
        raise InvalidInputError(
            f"RECIST time point {label}",
            expected="an object with a list 'lesions' (or a bare list of lesions)",
            actual=type(doc).__name__,
        )
    time_s: float | None = None
    if doc.get("day") is not None:
        try:
            time_s = float(doc["day"]) * DAY_S
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"day of {label}", expected="a number", actual=doc["day"]
            ) from None
    elif doc.get("date") is not None:
        d = _date(doc["date"], f"date of {label}")
        time_s = 0.0 if baseline_date is None else float((d - baseline_date).days) * DAY_S
    markers = doc.get("tumour_markers_normal")
    return TimePoint(
        str(doc.get("label", label)),
        time_s,
        tuple(Lesion.from_dict(x) for x in doc["lesions"]),
        None if markers is None else bool(markers),
    )


def timepoints_from_files(paths: Sequence[str | os.PathLike[str]]) -> list[TimePoint]:
    """Baseline and follow-ups from JSON files (first = baseline, at day 0)."""
    if len(paths) < 2:
        raise InvalidInputError(
            "RECIST files", expected="a baseline and ≥ 1 follow-up", actual=len(paths)
        )
    docs = [load_json(p) for p in paths]
    base_date = None
    first = docs[0]
    if isinstance(first, Mapping) and first.get("date") is not None and first.get("day") is None:
        base_date = _date(first["date"], f"date of {Path(paths[0]).name}")
    out = []
    for p, doc in zip(paths, docs, strict=True):
        tp = timepoint_from_json(doc, label=Path(p).stem, baseline_date=base_date)
        out.append(tp)
    base = out[0]
    if base.time_s not in (None, 0.0):
        shift = base.time_s
        out = [
            TimePoint(
                t.label,
                None if t.time_s is None else t.time_s - shift,
                t.lesions,
                t.tumour_markers_normal,
            )
            for t in out
        ]
    return out


def recist_series_from_table(table: Table) -> dict[str, list[TimePoint]]:
    """Time points per patient from a long lesion table (baseline = earliest)."""
    table.require("timepoint", "id")
    if not (table.has("day") or table.has("date")):
        raise InvalidInputError(
            f"time column of {table.name}", expected="'day' or 'date'", actual=list(table.columns)
        )
    groups: dict[str, dict[str, list[int]]] = {}
    for i in range(len(table)):
        pid = table.cell(i, "patient_id") if table.has("patient_id") else "1"
        groups.setdefault(pid or "1", {}).setdefault(table.cell(i, "timepoint"), []).append(i)

    def when(i: int) -> float:
        if table.has("day"):
            v = table.float_at(i, "day")
            assert v is not None
            return v
        return float(_date(table.cell(i, "date"), table.where(i, "date")).toordinal())

    def flag(i: int, col: str, default: bool) -> bool:
        return table.bool_at(i, col, default=default) if table.has(col) else default

    out: dict[str, list[TimePoint]] = {}
    for pid, tps in groups.items():
        items: list[tuple[float, str, list[int]]] = []
        for lab, rows in tps.items():
            ts = {when(i) for i in rows}
            if len(ts) != 1:
                raise InvalidInputError(
                    f"time of {lab!r} (patient {pid}) in {table.name}",
                    expected="one day/date per time point",
                    actual=sorted(ts),
                )
            items.append((ts.pop(), lab, rows))
        items.sort()
        t0 = items[0][0]
        series: list[TimePoint] = []
        for t, lab, rows in items:
            lesions = []
            for i in rows:
                status = table.cell(i, "status") if table.has("status") else ""
                diam = (
                    table.float_at(i, "diameter_mm", allow_missing=True)
                    if table.has("diameter_mm")
                    else None
                )
                lesions.append(
                    Lesion(
                        id=table.cell(i, "id"),
                        organ=(table.cell(i, "organ") if table.has("organ") else "")
                        or "unspecified",
                        is_node=flag(i, "is_node", False),
                        target=flag(i, "target", True),
                        diameter_mm=diam,
                        new=flag(i, "new", False),
                        status=None if is_missing(status) else status.lower(),  # type: ignore[arg-type]
                        too_small=flag(i, "too_small", False),
                    )
                )
            series.append(TimePoint(lab, (t - t0) * DAY_S, tuple(lesions)))
        out[pid] = series
    return out
