"""A run's HTML report as the web review serves it: with the review banner on top.

The report (``OUT/report/index.html``, self-contained) is the record the run wrote; it
is served as written, with one ``<section id="sstrkit-review">`` inserted right after
``<body>``: per dosimetry cycle of the run, the decision that stands (approved or
rejected, by whom, in which role, when, with the comment, the run id, sstrkit version
and content hash it was signed on), or that it is still to be reviewed, or that a newer
run of the study superseded the run for that cycle — and earlier decisions on the run
with their state. The banner is made when the report is requested, from the audit
trail, so it always shows the current state (a later run supersedes an approval without
anyone touching this run's folder); the file on disk is not changed. The page is
served with a Content-Security-Policy that allows no scripts and no external requests.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["BANNER_ID", "banner_html", "with_banner"]

BANNER_ID = "sstrkit-review"
_BODY = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_COLOURS = {"approved": "#1b7f3b", "rejected": "#b3261e", "pending": "#8a6d00", "old": "#555"}


def _e(value: object) -> str:
    return html.escape("—" if value is None else str(value), quote=True)


def _line(d: Mapping[str, Any]) -> str:
    return (
        f"<b>{_e(d['decision'])}</b> by {_e(d['user_name'])} ({_e(d['user_role'])}) "
        f"at {_e(str(d['signed_at'])[:19].replace('T', ' '))} UTC on run {_e(d['run_id'])} "
        f"(sstrkit {_e(d['sstrkit_version'])}, content {_e(str(d['content_sha256'])[:12])}…): "
        f"“{_e(d['comment'])}”"
    )


def banner_html(
    run: Mapping[str, Any],
    cycles: Mapping[int, int | None],
    decisions: Sequence[Mapping[str, Any]],
) -> str:
    """The banner: ``cycles`` maps each dosimetry cycle to the run superseding it (or None)."""
    rows = []
    for cycle, newer in sorted(cycles.items()):
        mine = [d for d in decisions if d["cycle"] == cycle]
        stands = next((d for d in reversed(mine) if d["state"] == "standing"), None)
        if newer is not None:
            state, colour = f"superseded by run {newer}", _COLOURS["old"]
            last = mine[-1] if mine else None
            text = f"{_e(state)}" + (f"; was {_line(last)}" if last else "")
        elif stands is not None:
            colour = _COLOURS[stands["decision"]]
            text = _line(stands)
        else:
            colour, text = _COLOURS["pending"], "<b>not yet reviewed</b>"
        earlier = [d for d in mine if d["state"] == "replaced"]
        history = "".join(f"<li>{_e(d['state'])}: {_line(d)}</li>" for d in earlier)
        rows.append(
            f'<tr><th style="text-align:left;padding:2px 8px">Cycle {_e(cycle)}</th>'
            f'<td style="padding:2px 8px;border-left:6px solid {colour}" '
            f'data-cycle="{_e(cycle)}" data-state="{_e(_state(stands, newer))}">{text}'
            + (f'<ul style="margin:2px 0 0 16px">{history}</ul>' if history else "")
            + "</td></tr>"
        )
    body = "".join(rows) or "<tr><td>no dosimetry cycles in this run</td></tr>"
    return (
        f'<section id="{BANNER_ID}" role="status" style="font-family:sans-serif;'
        'border:2px solid #333;background:#f7f7f2;padding:8px 12px;margin:0 0 12px 0">'
        f'<h2 style="margin:0 0 6px 0;font-size:1.1em">Dosimetry review — run '
        f"{_e(run['run_id'])} of patient {_e(run['patient_id'])} "
        f"({'current run' if run.get('is_current') else 'not the current run'})</h2>"
        f'<table style="border-collapse:collapse">{body}</table>'
        '<p style="margin:6px 0 0 0;font-size:0.85em;color:#444">Shown by sstrkit serve from '
        "the registry's append-only audit trail when this page was requested; the report "
        "file itself is unchanged.</p></section>"
    )


def _state(stands: Mapping[str, Any] | None, newer: int | None) -> str:
    if newer is not None:
        return "superseded"
    return "pending" if stands is None else str(stands["decision"])


def with_banner(report_html: str, banner: str) -> str:
    """``report_html`` with ``banner`` inserted after its ``<body>`` tag (else prepended)."""
    m = _BODY.search(report_html)
    if m is None:
        return banner + report_html
    return report_html[: m.end()] + banner + report_html[m.end() :]
