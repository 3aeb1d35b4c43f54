"""Report section: limits and the plan for the remaining cycles.

Reads the typed :class:`~sstrkit.pipeline.results.PlanningStage`: the running plan and the
plan after cycle 1, each a :class:`~sstrkit.therapy.plan_records.PlanResult` (its
constraints, delivered dose, projected doses and radionuclide advice as typed records).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sstrkit.core.units import BQ_PER_GBQ, BQ_PER_MBQ
from sstrkit.report.document import Report, Section, TableBlock
from sstrkit.report.theranostic.common import (
    _gbq,
    _mgy_per_mbq_h,
    _skipped,
)

if TYPE_CHECKING:
    from sstrkit.pipeline.results import RunResult
    from sstrkit.therapy.plan_records import PlanResult


# ------------------------------------------------------------------ planning
def _planning(rep: Report, res: RunResult) -> None:
    sec = rep.section("Limits and planning")
    if "planning" in res.skipped:
        sec.status = "skipped"
        reason = res.skipped["planning"]
        sec.add_text(f"No plan: {reason}.")
        if reason.startswith("planning needs both limiting organs"):
            sec.add_text(
                "The kidney and red-marrow limits are each checked only with both doses known: "
                "a plan from one of them could exceed the other's limit. No activity is "
                "recommended; the doses above are unaffected. Add the missing data and rerun."
            )
        return
    if _skipped(sec, res, "planning"):
        return
    stage = res.planning
    if stage is None or stage.running is None or stage.after_cycle_1 is None:
        return  # the planning stage returns both plans (one standing in for the other)
    _limits(sec, stage.running)
    _plan_after_cycle_1(sec, stage.after_cycle_1)


def _mbq(bq: float | None) -> float | None:
    return None if bq is None else bq / BQ_PER_MBQ


def _limits(sec: Section, run: PlanResult) -> None:
    """Limits of the running plan: bar figure, limits table, delivered doses and BED."""
    from sstrkit.report.figures import LimitBar, limits_figure

    bars = []
    for con in run.constraints:
        proj = run.projected.get(con.organ)
        bed = con.criterion == "bed"
        bars.append(
            LimitBar(
                con.organ,
                "BED" if bed else "absorbed dose",
                con.delivered_gy,
                None if proj is None else (proj.bed_gy if bed else proj.absorbed_gy),
                con.limit_gy,
                None if proj is None else proj.absorbed_sd_gy,
            )
        )
    if bars:
        sec.add_figure(limits_figure(bars))
    sec.add_table(
        TableBlock(
            "Limits (all cycles with dosimetry)",
            [
                "organ",
                "criterion",
                "limit (Gy)",
                "delivered (Gy)",
                "per standard cycle (Gy)",
                "max safe cumulative activity (MBq)",
                "conservative (MBq)",
                "source",
            ],
            [
                [
                    c.organ,
                    c.criterion,
                    c.limit_gy,
                    c.delivered_gy,
                    c.per_cycle_gy,
                    _mbq(c.max_cumulative_activity_bq),
                    _mbq(c.max_cumulative_activity_conservative_bq),
                    c.source,
                ]
                for c in run.constraints
            ],
        )
    )
    delivered = run.delivered
    if delivered.absorbed_gy:
        sec.add_table(
            TableBlock(
                f"Delivered over {delivered.cycles} cycles "
                f"({delivered.activity_bq / BQ_PER_GBQ:.1f} GBq)",
                ["region", "absorbed dose (Gy)", "BED (Gy)"],
                [[k, v, delivered.bed_gy.get(k)] for k, v in delivered.absorbed_gy.items()],
                note="BED: linear-quadratic model with the Lea–Catcheside factor of each "
                "cycle's kinetics, complete repair between cycles (α/β and repair half-times "
                "in the methods); '—' where no radiobiological parameters apply.",
            )
        )


def _plan_after_cycle_1(sec: Section, first: PlanResult) -> None:
    """The plan after the first cycle: activities, projected doses, radionuclide advisor."""
    sec.add_kv(
        "Plan after cycle 1 (what the clinic decides after the first dosimetry)",
        {
            "limiting organ": first.limiting_organ,
            "max safe cumulative activity (GBq)": _gbq(_mbq(first.max_safe_cumulative_activity_bq)),
            "max safe cumulative activity, conservative (GBq)": _gbq(
                _mbq(first.max_safe_cumulative_activity_conservative_bq)
            ),
            "recommended cycles in total": first.recommended_cycles_total,
            "next cycle activity (GBq)": _gbq(_mbq(first.next_cycle_activity_bq)),
        },
    )
    sec.add_table(
        TableBlock(
            "Projected cumulative doses of the plan after cycle 1",
            ["region", "absorbed (Gy)", "SD (Gy)", "Gy/GBq", "BED (Gy)", "EQD2 (Gy)"],
            [
                [
                    k,
                    v.absorbed_gy,
                    v.absorbed_sd_gy,
                    v.gy_per_bq * BQ_PER_GBQ,
                    v.bed_gy,
                    v.eqd2_gy,
                ]
                for k, v in first.projected.items()
            ],
        )
    )
    if first.advisor:
        sec.add_table(
            TableBlock(
                "Radionuclide advisor per lesion (sphere model)",
                [
                    "lesion",
                    "mass (g)",
                    "radius (mm)",
                    "φe 177Lu",
                    "φe 90Y",
                    "S 177Lu (mGy/(MBq·h))",
                    "S 90Y (mGy/(MBq·h))",
                    "suggested",
                ],
                [
                    [
                        r.lesion,
                        r.mass_g,
                        r.radius_mm,
                        r.electron_absorbed_fraction_lu177,
                        r.electron_absorbed_fraction_y90,
                        _mgy_per_mbq_h(r.s_gy_per_bq_s_lu177),
                        _mgy_per_mbq_h(r.s_gy_per_bq_s_y90),
                        r.suggested,
                    ]
                    for r in first.advisor
                ],
                note="φe: electron absorbed fraction of a uniform sphere of the lesion's mass; "
                "90Y's longer β range favours large lesions, 177Lu small ones (review §5).",
            )
        )
    for w in first.warnings:
        sec.add_text(f"Note: {w}")
    sec.add_text("Assumptions: " + " ".join(first.assumptions))
