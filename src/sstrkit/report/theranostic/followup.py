"""Report section: follow-up (uptake change over the cycles, lab timeline, toxicity).

Reads the typed :class:`~sstrkit.pipeline.results.FollowupStage`: its lesion uptake change,
its :class:`~sstrkit.followup.toxicity.ToxicityReport` and the lab records it graded, and
(:mod:`sstrkit.report.theranostic.labs`) the liver tests with their CTCAE grades and the
chromogranin A response. The timeline's therapies are the PRRT cycles and, for a patient
who had SIRT, the 90Y-microsphere treatments.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sstrkit.report.document import Report, Section, TableBlock
from sstrkit.report.theranostic.common import _skipped
from sstrkit.report.theranostic.labs import liver_and_cga, therapy_events

if TYPE_CHECKING:
    from sstrkit.pipeline.manifest import LabRecord
    from sstrkit.pipeline.results import RunResult
    from sstrkit.pipeline.stages.records import UptakeChange
    from sstrkit.pipeline.study import Study


# ------------------------------------------------------------------ follow-up
def _followup(rep: Report, study: Study, res: RunResult) -> None:
    sec = rep.section("Follow-up: response and toxicity")
    if _skipped(sec, res, "follow-up"):
        return
    fu = res.followup
    if fu is None:
        return
    ch = fu.lesion_uptake_change
    if ch is not None and ch.status == "not_assessed":
        sec.status = "partial"
        sec.add_text(f"Lesion uptake change not assessed: it needs {ch.needs}.")
    elif ch is not None:
        _uptake_change(sec, ch)
    tox = fu.toxicity
    if tox is not None:
        pat = tox.patients[0]
        sec.add_kv("Worst CTCAE v5.0 grade", dict(pat.worst_grade))
        if fu.labs:
            _lab_timeline(sec, study, fu.labs)
    liver_and_cga(sec, study, fu)


def _uptake_change(sec: Section, ch: UptakeChange) -> None:
    th = ch.time_point_h
    sec.add_text(
        (ch.method or "Lesion uptake change")
        + (f" ({th:.0f} h after injection)." if th is not None else ".")
    )
    if not ch.lesions:
        sec.add_text(
            f"No lesion was measured in both cycle {ch.first_cycle} and cycle "
            f"{ch.last_cycle} at a common time after injection."
        )
        return
    from sstrkit.report.figures import waterfall_figure

    sec.add_table(
        TableBlock(
            f"Lesion uptake, cycle {ch.first_cycle} vs cycle {ch.last_cycle}",
            ["lesion", "first (MBq)", "last (MBq)", "change (%)"],
            [[r.lesion, r.first_mbq, r.last_mbq, r.change_pct] for r in ch.lesions],
        )
    )
    changes = {r.lesion: r.change_pct for r in ch.lesions if r.change_pct is not None}
    if changes:
        sec.add_figure(waterfall_figure(changes, "Change in lesion uptake (%)"))


def _lab_timeline(sec: Section, study: Study, labs: Sequence[LabRecord]) -> None:
    from sstrkit.report.figures import timeline_figure

    names = {
        "platelets_1e9_l": "platelets (10^9/L)",
        "haemoglobin_g_dl": "haemoglobin (g/dL)",
        "wbc_1e9_l": "white cells (10^9/L)",
        "creatinine_umol_l": "creatinine (µmol/L)",
    }
    series: dict[str, list[tuple[_dt.datetime, float]]] = {}
    for rec in labs:
        for key, label in names.items():
            value = getattr(rec, key)
            if value is not None:
                series.setdefault(label, []).append((rec.time, float(value)))
    sec.add_figure(
        timeline_figure(
            therapy_events(study),
            series,
            {
                k: v
                for k, v in {
                    "platelets (10^9/L)": 75.0,
                    "haemoglobin (g/dL)": 8.0,
                    "white cells (10^9/L)": 2.0,
                }.items()
                if k in series
            },
        )
    )
