"""Report section part: the liver tests and chromogranin A over time (follow-up).

Reads the typed :class:`~sstrkit.pipeline.results.FollowupStage`: its ``hepatotoxicity``
(a :class:`~sstrkit.followup.toxicity.ToxicityReport` of the CTCAE v5.0 liver terms: its
:meth:`~sstrkit.followup.toxicity.ToxicityReport.timeline` of typed grade points) and its
``biochemical_response`` (:class:`~sstrkit.followup.biochemical.CgaResponse`), both timed
from ``lab_time_origin``. The therapies on the time axis are the PRRT cycles and the SIRT
treatments of the study's clinical record.

Adds to the follow-up section: one figure (liver tests as multiples of their reference
limit, coloured by grade; CgA with its response level), a table of the liver grades at
every laboratory time, the worst liver grade per term, and the CgA table with its status.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from sstrkit.core.units import BQ_PER_GBQ
from sstrkit.report.document import Section, TableBlock

if TYPE_CHECKING:
    from sstrkit.followup.biochemical import CgaResponse
    from sstrkit.followup.toxicity import GradePoint, HepaticRanges, ToxicityReport
    from sstrkit.pipeline.results import FollowupStage
    from sstrkit.pipeline.study import Study
    from sstrkit.report.figures_labs import LabPoint

__all__ = ["LIVER_TERMS", "therapy_events"]

#: CTCAE v5.0 liver term → (short name, analyte unit, normalised by).
LIVER_TERMS: Final[Mapping[str, tuple[str, str, str]]] = {
    "blood_bilirubin_increased": ("bilirubin", "µmol/L", "ULN"),
    "hypoalbuminemia": ("albumin", "g/L", "LLN"),
    "alanine_aminotransferase_increased": ("ALT", "U/L", "ULN"),
    "aspartate_aminotransferase_increased": ("AST", "U/L", "ULN"),
    "alkaline_phosphatase_increased": ("ALP", "U/L", "ULN"),
}


def _limit(term: str, hr: HepaticRanges) -> float:
    return {
        "blood_bilirubin_increased": hr.bili_uln_umol_l,
        "hypoalbuminemia": hr.alb_lln_g_l,
        "alanine_aminotransferase_increased": hr.alt_uln_u_l,
        "aspartate_aminotransferase_increased": hr.ast_uln_u_l,
        "alkaline_phosphatase_increased": hr.alp_uln_u_l,
    }[term]


def therapy_events(study: Study) -> list[tuple[_dt.datetime, float, str]]:
    """PRRT cycles (clinical.json administrations with a cycle) and SIRT treatments
    (clinical.json ``sirt``) as ``(time, activity GBq, label)``, in time order."""
    out = [
        (
            _dt.datetime.fromisoformat(str(a["time"])),
            float(a["activity_bq"]) / BQ_PER_GBQ,
            f"C{a['cycle']}",
        )
        for a in (study.clinical or {}).get("administrations", [])
        if a.get("cycle")
    ]
    rec = study.clinical_record
    for s in rec.sirt if rec is not None else []:
        out.append((s.time, s.activity_bq / BQ_PER_GBQ, f"SIRT 90Y ({s.device})"))
    return sorted(out, key=lambda e: e[0])


def _at(origin: _dt.datetime, time_s: float) -> _dt.datetime:
    return origin + _dt.timedelta(seconds=time_s)


def _liver_points(liver: ToxicityReport, origin: _dt.datetime) -> dict[str, list[LabPoint]]:
    from sstrkit.report.figures_labs import LabPoint

    hr = liver.hepatic_ranges
    out: dict[str, list[LabPoint]] = {}
    if hr is None:
        return out
    for p in liver.timeline(tuple(LIVER_TERMS)):
        short, _, by = LIVER_TERMS[p.term]
        out.setdefault(f"{short} (× {by})", []).append(
            LabPoint(_at(origin, p.time_s), p.value / _limit(p.term, hr), p.grade)
        )
    return out


def _grade_table(points: tuple[GradePoint, ...], origin: _dt.datetime) -> TableBlock:
    """One row per laboratory time: each liver test's value and grade."""
    terms = [t for t in LIVER_TERMS if any(p.term == t for p in points)]
    rows: dict[float, dict[str, str]] = {}
    days: dict[float, float] = {}
    for p in points:
        rows.setdefault(p.time_s, {})[p.term] = f"{p.value:.4g} (G{p.grade})"
        days[p.time_s] = p.time_days
    return TableBlock(
        "Liver tests and CTCAE v5.0 grades over time",
        [
            "date",
            "day",
            *(f"{LIVER_TERMS[t][0]} ({LIVER_TERMS[t][1]})" for t in terms),
        ],
        [
            [
                _at(origin, t).date().isoformat(),
                round(days[t], 1),
                *(rows[t].get(term) for term in terms),
            ]
            for t in sorted(rows)
        ],
        note="Each cell: value (CTCAE v5.0 grade). Bilirubin, ALT, AST and ALP graded against "
        "the upper limit of normal for a normal baseline and against the baseline when it was "
        "abnormal; albumin (hypoalbuminemia) against its lower limit. Day 0: the first "
        "laboratory record.",
    )


def _cga_table(cga: CgaResponse, origin: _dt.datetime) -> TableBlock:
    crit = cga.criteria
    return TableBlock(
        f"Chromogranin A: biochemical response {cga.status} (best: {cga.best_response})",
        [
            "date",
            "day",
            "CgA (µg/L)",
            "change from baseline (%)",
            "change from nadir (%)",
            "category",
            "flags",
        ],
        [
            [
                _at(origin, p.time_s).date().isoformat(),
                round(p.time_days, 1),
                p.value_ug_l,
                p.change_from_baseline_pct,
                p.change_from_nadir_pct,
                p.category,
                "; ".join(p.flags),
            ]
            for p in cga.points
        ],
        note=f"Response: a fall of at least {100 * crit.response_fall:g} % from the baseline "
        f"(the first value); progression: a rise of at least {100 * crit.progression_rise:g} "
        "%; stable between (settings, not validated standards: Dam G et al. "
        "Neuroendocrinology 2020;110:217-224). " + " ".join(f"Caveat: {c}." for c in cga.caveats),
    )


def liver_and_cga(sec: Section, study: Study, fu: FollowupStage) -> None:
    """The liver tests (CTCAE grades) and CgA of the follow-up: figure and tables."""
    from sstrkit.report.figures_labs import LabPoint, liver_cga_figure

    liver, cga, origin = fu.hepatotoxicity, fu.biochemical_response, fu.lab_time_origin
    if origin is None or (liver is None and cga is None):
        return
    liver_pts = _liver_points(liver, origin) if liver is not None else {}
    cga_pts = [
        LabPoint(_at(origin, p.time_s), p.value_ug_l, None, p.category)
        for p in (cga.points if cga is not None else ())
    ]
    level = None
    if cga is not None and cga.baseline is not None:
        level = (1.0 - cga.criteria.response_fall) * cga.baseline.value_ug_l
    if liver_pts or cga_pts:
        sec.add_figure(
            liver_cga_figure(
                liver_pts,
                cga_pts,
                cga_response_level=level,
                events=[(t, label) for t, _, label in therapy_events(study)],
            )
        )
    if liver is not None:
        points = liver.timeline(tuple(LIVER_TERMS))
        if points:
            sec.add_table(_grade_table(points, origin))
        worst = dict(liver.patients[0].worst_grade) if liver.patients else {}
        sec.add_kv("Worst CTCAE v5.0 liver grade", {k: worst[k] for k in LIVER_TERMS if k in worst})
    if cga is not None:
        if cga.status == "not_assessed":
            sec.add_text(f"Chromogranin A response not assessed: it needs {cga.needs}.")
        sec.add_table(_cga_table(cga, origin))
