"""Follow-up stage: lesion uptake change over the cycles and CTCAE v5 toxicity of the labs."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from sstrkit.pipeline.results import DosimetryStage, FollowupStage, RunResult
from sstrkit.pipeline.stages import StageSkippedError
from sstrkit.pipeline.study import Study

__all__ = ["lesion_uptake_change", "stage_followup"]


def lesion_uptake_change(dos: DosimetryStage) -> dict[str, Any]:
    """Lesion activity on post-therapy SPECT, first vs last imaged cycle, same time p.i.

    Loss of uptake indicates tumour response (the review's Fig. 2); the time point is
    the one both cycles have that is closest to 24 h.
    """
    tacs: Mapping[int, Mapping[str, Any]] = dos.region_tacs
    cycles = sorted(int(c) for c in tacs)
    if len(cycles) < 2:
        return {
            "first_cycle": cycles[0],
            "last_cycle": cycles[0],
            "lesions": [],
            "status": "not_assessed",
            "needs": "post-therapy SPECT of at least two cycles (uptake change from the first "
            f"to the last cycle); only cycle {cycles[0]} has imaging",
        }
    first, last = tacs[cycles[0]], tacs[cycles[-1]]
    rows = []
    for name, values in first["activity_mbq"].items():
        if dos.kinds.get(name) != "lesion" or max(values) <= 0:
            continue
        if name not in last["activity_mbq"]:
            continue
        t_first, t_last = first["times_h"], last["times_h"]
        common = [t for t in t_first if any(abs(t - u) < 1.0 for u in t_last)]
        if not common:
            continue
        th = min(common, key=lambda t: abs(t - 24.0))
        u0 = values[t_first.index(th)]
        u1 = last["activity_mbq"][name][min(range(len(t_last)), key=lambda k: abs(t_last[k] - th))]
        rows.append(
            {
                "lesion": name,
                "uptake_cycle_first_mbq": u0,
                "uptake_cycle_last_mbq": u1,
                "change_pct": 100.0 * (u1 / u0 - 1.0) if u0 > 0 else None,
                "time_point_h": th,
            }
        )
    return {
        "first_cycle": cycles[0],
        "last_cycle": cycles[-1],
        "status": "assessed",
        "time_point_h": rows[0]["time_point_h"] if rows else None,
        "lesions": rows,
        "method": "lesion activity on post-therapy SPECT at the same time after injection, "
        "first vs last cycle (loss of uptake indicates tumour response; review Fig. 2)",
    }


def stage_followup(study: Study, res: RunResult) -> FollowupStage:
    """Uptake change (with dosimetry of the cycles) and toxicity (with labs)."""
    from sstrkit.followup.toxicity import LabRecord, assess_toxicity

    dos = res.dosimetry
    change = lesion_uptake_change(dos) if dos is not None else None
    labs = (study.clinical or {}).get("labs", [])
    toxicity = None
    if labs:
        t0 = _dt.datetime.fromisoformat(labs[0]["time"])
        recs = [
            LabRecord(
                patient_id=str(study.manifest.get("patient", {}).get("id", "patient")),
                time_s=(_dt.datetime.fromisoformat(r["time"]) - t0).total_seconds(),
                hb_g_dl=r.get("haemoglobin_g_dl"),
                plt_1e9_l=r.get("platelets_1e9_l"),
                wbc_1e9_l=r.get("wbc_1e9_l"),
                creat_umol_l=r.get("creatinine_umol_l"),
            )
            for r in labs
        ]
        toxicity = assess_toxicity(recs)
    if change is None and toxicity is None:
        raise StageSkippedError("no post-therapy imaging or labs")
    return FollowupStage(lesion_uptake_change=change, toxicity=toxicity, labs=tuple(labs))
