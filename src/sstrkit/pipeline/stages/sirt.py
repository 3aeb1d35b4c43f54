"""SIRT stage: 90Y-microsphere planning, post-implant dosimetry and the combined liver BED.

Runs only for a study with SIRT series (manifest roles ``maa_planar``, ``maa_spect``,
``y90_pet``, ``y90_spect``; :func:`has_sirt_series`), after the PRRT dosimetry and
planning, with the same library calls as ``sstrkit sirt plan`` and ``sstrkit sirt dose``
(their defaults), so its numbers are theirs:

1. **plan** (with MAA series): :func:`sstrkit.pipeline.sirt_inputs.load_maa_inputs` →
   :func:`sstrkit.sirt.plan_inputs.measure_maa` → :func:`sstrkit.sirt.planning.plan_sirt`
   (device of the clinical record, method and lung shunt fraction chosen by the library);
2. **post-implant dosimetry** (with a 90Y scan):
   :func:`sstrkit.pipeline.sirt_y90_inputs.load_y90_inputs` →
   :func:`sstrkit.sirt.y90_dose.y90_dosimetry` (local deposition and voxel S values,
   GTM partial-volume-corrected means). With a plan, its partition-model doses are the
   MAA prediction the measured doses are compared with, scaled to the activity actually
   implanted (every partition-model dose is proportional to the activity);
3. **combined normal-liver BED** (with the dosimetry): the SIRT normal-liver voxel doses
   plus this run's PRRT liver dose of every cycle, read from the typed
   :class:`~sstrkit.pipeline.results.DosimetryStage` (its case dosimetry, with the exact
   G factor of each cycle's kinetics fit:
   :func:`sstrkit.sirt.liver_bed.prrt_liver_cycles_from_case`) →
   :func:`sstrkit.sirt.liver_bed.liver_bed_from_dosimetry`.

A part that cannot run leaves its reason in ``notes`` (``plan_skipped``,
``y90_skipped``, ``liver_bed_skipped``, ``liver_bed_note``); with neither a plan nor a
dosimetry the stage is skipped. The post-implant dose maps go to ``OUT/sirt/``: one
NIfTI per method and the primary method's RTDOSE (both written atomically).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sstrkit.errors import SstrkitError
from sstrkit.pipeline.results import RunResult
from sstrkit.pipeline.stages import Progress, StageSkippedError
from sstrkit.pipeline.study import Study

if TYPE_CHECKING:
    from sstrkit.sirt.dose_results import Y90Dosimetry
    from sstrkit.sirt.liver_bed import LiverBedSummary, PrrtLiverCycle
    from sstrkit.sirt.plan_inputs import MaaFindings
    from sstrkit.sirt.planning import SirtPlan

__all__ = [
    "SIRT_ROLES",
    "SirtStage",
    "has_sirt_series",
    "maa_prediction_gy",
    "stage_sirt",
]

#: Manifest series roles that make a study a SIRT study (MAA work-up or 90Y scan).
SIRT_ROLES = ("maa_planar", "maa_spect", "y90_pet", "y90_spect")
#: The PRRT region whose per-cycle dose enters the combined liver BED.
PRRT_LIVER_REGION = "liver"


@dataclass(frozen=True)
class SirtStage:
    """The SIRT results of the run: plan, measurements, post-implant dosimetry, liver BED.

    ``plan``/``findings``: the MAA-based plan and the measurements it rests on;
    ``y90``: the post-implant dosimetry; ``liver_bed``: the combined normal-liver BED of
    SIRT and this run's PRRT cycles; ``files``: the dose maps written (name → path);
    ``notes``: why a part is missing (``<part>_skipped``) or how it was made.
    """

    plan: SirtPlan | None
    findings: MaaFindings | None
    y90: Y90Dosimetry | None
    liver_bed: LiverBedSummary | None
    files: Mapping[str, str] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": None if self.plan is None else self.plan.to_dict(),
            "measurements": None if self.findings is None else self.findings.to_dict(),
            "y90": None if self.y90 is None else self.y90.to_dict(),
            "liver_bed": None if self.liver_bed is None else self.liver_bed.to_dict(),
            "files": dict(self.files),
            **dict(self.notes),
        }


def has_sirt_series(study: Study) -> bool:
    """True when the manifest lists any SIRT series (:data:`SIRT_ROLES`)."""
    series = study.manifest.get("series", {})
    return any(series.get(role) for role in SIRT_ROLES)


def maa_prediction_gy(plan: SirtPlan, implanted_activity_bq: float) -> dict[str, float]:
    """The plan's partition-model doses at the implanted activity, by 90Y region name.

    The partition-model doses are proportional to the activity (Ho et al. 1996), so the
    plan's doses are scaled by implanted / planned activity; {} for a plan without an
    activity (not treatable).
    """
    if not plan.activity_bq > 0:
        return {}
    scale = implanted_activity_bq / plan.activity_bq
    d = plan.doses
    pairs = (("tumour", d.tumour_gy), ("normal_liver", d.normal_liver_gy), ("lungs", d.lung_gy))
    return {name: float(v) * scale for name, v in pairs if v is not None}


def _plan(study: Study, say: Progress) -> tuple[MaaFindings | None, SirtPlan | None, str]:
    """Measure the MAA work-up and plan (as ``sstrkit sirt plan`` with its defaults)."""
    from sstrkit.pipeline.sirt_inputs import load_maa_inputs
    from sstrkit.sirt.plan_inputs import measure_maa
    from sstrkit.sirt.planning import plan_sirt

    try:
        findings = measure_maa(load_maa_inputs(study, auto_vois=True, progress=say))
    except SstrkitError as exc:
        return None, None, exc.one_line()
    try:
        return findings, plan_sirt(findings), ""
    except SstrkitError as exc:
        return findings, None, exc.one_line()


def _prrt_liver_cycles(res: RunResult, notes: dict[str, str]) -> tuple[PrrtLiverCycle, ...]:
    """This run's PRRT liver dose per cycle (typed case dosimetry), or () with a note."""
    from sstrkit.sirt.liver_bed import prrt_liver_cycles_from_case

    dos = res.dosimetry
    if dos is None:
        why = res.skipped.get("dosimetry", "not run")
        notes["liver_bed_note"] = f"SIRT alone: no PRRT dosimetry in this run ({why})"
        return ()
    cycles = prrt_liver_cycles_from_case(dos.organ_level, PRRT_LIVER_REGION)
    if not cycles:
        notes["liver_bed_note"] = (
            f"SIRT alone: the PRRT dosimetry has no {PRRT_LIVER_REGION!r} region"
        )
    return cycles


def stage_sirt(study: Study, res: RunResult, say: Progress) -> SirtStage:
    """Plan, post-implant dosimetry and combined liver BED of a SIRT study (module docstring)."""
    from sstrkit.pipeline.sirt_y90_inputs import load_y90_inputs, write_y90_maps
    from sstrkit.sirt.liver_bed import liver_bed_from_dosimetry
    from sstrkit.sirt.y90_dose import y90_dosimetry

    series = study.manifest.get("series", {})
    notes: dict[str, str] = {}
    findings = plan = None
    if series.get("maa_planar") or series.get("maa_spect"):
        say("SIRT: MAA work-up and plan")
        findings, plan, why = _plan(study, say)
        if why:
            notes["plan_skipped"] = why
    else:
        notes["plan_skipped"] = "no 99mTc-MAA series in the manifest (maa_planar / maa_spect)"
    y90 = bed = None
    files: dict[str, str] = {}
    if series.get("y90_pet") or series.get("y90_spect"):
        say("SIRT: post-implant 90Y dosimetry")
        try:
            inp = load_y90_inputs(study, progress=say)
            predicted = maa_prediction_gy(plan, inp.scan.implanted_activity_bq) if plan else {}
            y90 = y90_dosimetry(
                inp.scan,
                inp.vois,
                method="both",
                predicted_gy=predicted,
                truth_gy=inp.truth_gy,
                pvc="gtm",
                inputs=inp.inputs,
                progress=say,
            )
            files = write_y90_maps(y90, res.out / "sirt", inp.header)
        except SstrkitError as exc:
            notes["y90_skipped"] = exc.one_line()
    else:
        notes["y90_skipped"] = "no post-implant 90Y scan in the manifest (y90_pet / y90_spect)"
    if y90 is not None:
        try:
            bed = liver_bed_from_dosimetry(y90, _prrt_liver_cycles(res, notes))
        except SstrkitError as exc:
            notes["liver_bed_skipped"] = exc.one_line()
    else:
        notes["liver_bed_skipped"] = "no post-implant dosimetry"
    if findings is None and y90 is None:
        raise StageSkippedError(
            "; ".join(notes[k] for k in ("plan_skipped", "y90_skipped") if k in notes)
        )
    res.files.update({f"sirt_{k}": v for k, v in files.items()})
    return SirtStage(plan, findings, y90, bed, files, notes)
