"""Follow-up stage: lesion uptake change over the cycles, CTCAE v5 toxicity of the labs,
the liver tests (CTCAE v5 hepatic terms) and the biochemical response of chromogranin A.

The blood-count and kidney toxicity (``toxicity``) is graded from those values alone, as
before the liver tests existed; the liver tests get their own report
(``hepatotoxicity``) from the records that have them, with the laboratory's reference
limits when the records give them (the first record giving a limit sets it).
Chromogranin A is assessed against its first value; a sample is flagged for renal
impairment when its creatinine is above the CTCAE reference ULN
(:class:`~sstrkit.followup.toxicity.ReferenceRanges`, 106 µmol/L).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sstrkit.pipeline.results import DosimetryStage, FollowupStage, RunResult
from sstrkit.pipeline.stages import StageSkippedError
from sstrkit.pipeline.stages.records import LesionUptake, UptakeChange
from sstrkit.pipeline.study import Study

if TYPE_CHECKING:
    from sstrkit.followup.biochemical import CgaResponse
    from sstrkit.followup.toxicity import ToxicityReport
    from sstrkit.pipeline.manifest import LabRecord as ClinicalLab

__all__ = ["biochemical_response", "hepatotoxicity", "lesion_uptake_change", "stage_followup"]

#: clinical.json lab key → toxicity.LabRecord field (the liver tests).
_LIVER_KEYS = {
    "bilirubin_umol_l": "bili_umol_l",
    "albumin_g_l": "alb_g_l",
    "alt_u_l": "alt_u_l",
    "ast_u_l": "ast_u_l",
    "alp_u_l": "alp_u_l",
}
#: clinical.json reference-limit key → HepaticRanges field.
_LIVER_LIMITS = {
    "bilirubin_uln_umol_l": "bili_uln_umol_l",
    "albumin_lln_g_l": "alb_lln_g_l",
    "alt_uln_u_l": "alt_uln_u_l",
    "ast_uln_u_l": "ast_uln_u_l",
    "alp_uln_u_l": "alp_uln_u_l",
}


def _time_s(record: ClinicalLab, t0: _dt.datetime) -> float:
    return (record.time - t0).total_seconds()


def _value(record: ClinicalLab, key: str) -> Any:
    """A lab value by its clinical.json key (None when the record has none)."""
    return getattr(record, key, None)


def hepatotoxicity(
    labs: Sequence[ClinicalLab], t0: _dt.datetime, patient_id: str
) -> ToxicityReport | None:
    """CTCAE v5.0 liver grades of the lab records (clinical.json) that have liver values."""
    from sstrkit.followup.toxicity import HepaticRanges, LabRecord, assess_toxicity

    rows = [r for r in labs if any(_value(r, k) is not None for k in _LIVER_KEYS)]
    if not rows:
        return None
    limits: dict[str, float] = {}
    for r in sorted(labs, key=lambda r: _time_s(r, t0)):
        for key, name in _LIVER_LIMITS.items():
            if _value(r, key) is not None:
                limits.setdefault(name, float(_value(r, key)))
    records = [
        LabRecord(
            patient_id=patient_id,
            time_s=_time_s(r, t0),
            **{name: _value(r, key) for key, name in _LIVER_KEYS.items()},
        )
        for r in rows
    ]
    return assess_toxicity(records, hepatic=HepaticRanges(**limits))


def biochemical_response(labs: Sequence[ClinicalLab], t0: _dt.datetime) -> CgaResponse | None:
    """Chromogranin A of the lab records against its first value (None without CgA)."""
    from sstrkit.followup.biochemical import CgaMeasurement, assess_cga
    from sstrkit.followup.toxicity import ReferenceRanges

    creat_uln = ReferenceRanges().creat_uln_umol_l
    values = [
        CgaMeasurement(
            time_s=_time_s(r, t0),
            value_ug_l=float(r.chromogranin_a_ug_l),
            proton_pump_inhibitor=r.proton_pump_inhibitor,
            somatostatin_analogue=r.somatostatin_analogue,
            renal_impairment=(
                None if r.creatinine_umol_l is None else r.creatinine_umol_l > creat_uln
            ),
            uln_ug_l=r.chromogranin_a_uln_ug_l,
        )
        for r in labs
        if r.chromogranin_a_ug_l is not None
    ]
    return assess_cga(values) if values else None


def lesion_uptake_change(dos: DosimetryStage) -> UptakeChange:
    """Lesion activity on post-therapy SPECT, first vs last imaged cycle, same time p.i.

    Loss of uptake indicates tumour response (the review's Fig. 2); the time point is
    the one both cycles have that is closest to 24 h.
    """
    tacs = dos.region_tacs
    cycles = sorted(tacs)
    if len(cycles) < 2:
        return UptakeChange(
            first_cycle=cycles[0],
            last_cycle=cycles[0],
            status="not_assessed",
            needs="post-therapy SPECT of at least two cycles (uptake change from the first "
            f"to the last cycle); only cycle {cycles[0]} has imaging",
        )
    first, last = tacs[cycles[0]], tacs[cycles[-1]]
    rows = []
    for name in first.activities.activity_bq:
        values = first.activity_mbq(name)
        if dos.kinds.get(name) != "lesion" or max(values) <= 0:
            continue
        if name not in last.activities.activity_bq:
            continue
        t_first, t_last = first.times_h, last.times_h
        common = [t for t in t_first if any(abs(t - u) < 1.0 for u in t_last)]
        if not common:
            continue
        th = min(common, key=lambda t: abs(t - 24.0))
        u0 = values[t_first.index(th)]
        u1 = last.activity_mbq(name)[min(range(len(t_last)), key=lambda k: abs(t_last[k] - th))]
        rows.append(LesionUptake(name, u0, u1, 100.0 * (u1 / u0 - 1.0) if u0 > 0 else None, th))
    return UptakeChange(
        first_cycle=cycles[0],
        last_cycle=cycles[-1],
        status="assessed",
        lesions=tuple(rows),
        method="lesion activity on post-therapy SPECT at the same time after injection, "
        "first vs last cycle (loss of uptake indicates tumour response; review Fig. 2)",
    )


def stage_followup(study: Study, res: RunResult) -> FollowupStage:
    """Uptake change (with dosimetry of the cycles); toxicity, liver tests and CgA (with labs)."""
    from sstrkit.followup.toxicity import LabRecord, assess_toxicity

    dos = res.dosimetry
    change = lesion_uptake_change(dos) if dos is not None else None
    record = study.clinical_record
    labs = tuple(record.labs) if record is not None else ()
    toxicity = liver = cga = t0 = None
    if labs:
        # a plain fixed-offset zone (named "UTC+01:00" in the report), not the validator's
        t0 = labs[0].time.astimezone(_dt.timezone(labs[0].time.utcoffset() or _dt.timedelta()))
        pid = str(study.manifest.get("patient", {}).get("id", "patient"))
        recs = [
            LabRecord(
                patient_id=pid,
                time_s=_time_s(r, t0),
                hb_g_dl=r.haemoglobin_g_dl,
                plt_1e9_l=r.platelets_1e9_l,
                wbc_1e9_l=r.wbc_1e9_l,
                creat_umol_l=r.creatinine_umol_l,
            )
            for r in labs
        ]
        toxicity = assess_toxicity(recs)
        liver = hepatotoxicity(labs, t0, pid)
        cga = biochemical_response(labs, t0)
    if change is None and toxicity is None:
        raise StageSkippedError("no post-therapy imaging or labs")
    return FollowupStage(
        lesion_uptake_change=change,
        toxicity=toxicity,
        labs=labs,
        hepatotoxicity=liver,
        biochemical_response=cga,
        lab_time_origin=t0,
    )
