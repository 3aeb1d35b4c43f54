"""Planning stage: the plan after the first imaged cycle and the running plan.

Both plans use the dosimetry stage's typed case dosimetry (its kinetics fits are not
recomputed; see :func:`sstrkit.therapy.planning.plan_from_case`).
"""

from __future__ import annotations

from sstrkit.errors import SstrkitError
from sstrkit.pipeline.results import PlanningStage, RunResult
from sstrkit.pipeline.stages import StageSkippedError
from sstrkit.pipeline.study import Study

__all__ = ["stage_planning"]


def stage_planning(study: Study, res: RunResult) -> PlanningStage:
    """Plan from the dosimetry's case; never without both limiting organs (kidney, marrow)."""
    from sstrkit.therapy.case import Case
    from sstrkit.therapy.case_dosimetry import CaseDosimetry, case_dosimetry_result
    from sstrkit.therapy.planning import PlanResult, plan_from_case

    dos = res.dosimetry
    if dos is None:
        raise StageSkippedError("no dosimetry (see the dosimetry stage)")
    case = dos.case
    # Safety limits are never loosened by missing data: no plan without both limiting organs.
    names = {r.name for r in case.regions}
    missing = []
    if case.planning.kidney_region not in names:
        missing.append(f"kidney dose (no region {case.planning.kidney_region!r} in the VOIs)")
    if not case.blood:
        missing.append("red-marrow dose (no blood samples in clinical.json)")
    if missing:
        raise StageSkippedError(
            "planning needs both limiting organs; missing: " + "; ".join(missing)
        )
    # Plan from the first cycle with imaging, as a clinic would after cycle 1.
    first = min(int(r.administration.lstrip("Cc")) for r in case.regions)
    case1 = case.model_copy(
        update={
            "administrations": [a for a in case.administrations if a.cycle == first],
            "regions": [r for r in case.regions if r.administration.lower() == f"c{first}"],
            "blood": [b for b in case.blood if b.administration.lower() == f"c{first}"],
        }
    )

    def dosimetry_of(which: Case) -> CaseDosimetry:
        # The running plan uses the dosimetry stage's case dosimetry; the plan after cycle 1
        # its fits where their inputs are the same (a fit with another cycle's kinetics is
        # redone: that cycle was not known after cycle 1).
        if which is case:
            return dos.organ_level
        return case_dosimetry_result(which, reuse=dos.organ_level)

    plans: dict[str, PlanResult | None] = {}
    notes: dict[str, str] = {}
    for key, which in (("after_cycle_1", case1), ("running", case)):
        try:
            plans[key] = plan_from_case(which, dosimetry_of(which))
        except SstrkitError as exc:
            plans[key] = None
            notes[f"{key}_skipped"] = exc.one_line()
    after, running = plans["after_cycle_1"], plans["running"]
    if after is None and running is None:
        raise StageSkippedError(notes["running_skipped"])
    if after is None:
        after = running
        notes["after_cycle_1_note"] = "the first cycle alone cannot be planned; the running plan"
    if running is None:
        running = after
        notes["running_note"] = "all cycles together cannot be planned; the plan after cycle 1"
    return PlanningStage(after_cycle_1=after, running=running, notes=notes)
