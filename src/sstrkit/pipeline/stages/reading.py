"""Reading stage: the baseline SSTR PET read (SUV, references, lesions, Krenning, eligibility)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sstrkit.pipeline.results import BaselineLabs, PatientUsed, ReadingStage, RunResult
from sstrkit.pipeline.stages import StageSkippedError
from sstrkit.pipeline.study import DataFlag, Study

if TYPE_CHECKING:
    from sstrkit.core.volume import Volume

__all__ = ["stage_reading"]


def _ct_for_reading(study: Study, res: RunResult) -> Volume | None:
    """The baseline PET/CT's CT (reused when the automatic organs already read it)."""
    from sstrkit.reading.inputs import load_ct

    ct_entry = study.series("pet_ct")
    if ct_entry is None:
        return None
    if res.pet_ct is not None and res.pet_ct[0] == ct_entry["series_uid"]:
        return res.pet_ct[1]
    return load_ct(study.path(ct_entry["path"]), series_uid=ct_entry["series_uid"])


def _fdg_inputs(
    study: Study, label_notes: list[str], suv_warnings: list[str]
) -> tuple[Volume | None, Volume | None]:
    """The FDG PET of the study in SUV and its organ labels (None, None without one)."""
    from sstrkit.reading.inputs import load_ct, load_suv_pet

    fdg_entry = study.series("fdg")
    if fdg_entry is None:
        return None, None
    fdg = load_suv_pet(
        study.path(fdg_entry["path"]),
        assume_suv=False,
        role="FDG PET",
        series_uid=fdg_entry["series_uid"],
        warnings=suv_warnings,
    )
    fdg_ct_entry = study.series("fdg_ct")
    fdg_ct = (
        load_ct(study.path(fdg_ct_entry["path"]), series_uid=fdg_ct_entry["series_uid"])
        if fdg_ct_entry
        else None
    )
    fdg_organs = fdg.with_array(
        study.labels_on(
            fdg,
            fdg_ct,
            ct_uid=fdg_ct_entry["series_uid"] if fdg_ct_entry else None,
            notes=label_notes,
        ),
        operation="organ_labels",
        unit="1",
    )
    if fdg_ct is None:
        label_notes.append(
            "FDG PET without its CT: organ labels placed by patient coordinates "
            "(repositioning since the SSTR PET/CT not corrected)"
        )
    return fdg, fdg_organs


def stage_reading(study: Study, res: RunResult) -> ReadingStage:
    """Read the baseline SSTR PET with the study's organs; write ``OUT/reading``."""
    from sstrkit.reading.eligibility import load_rules
    from sstrkit.reading.inputs import load_suv_pet
    from sstrkit.reading.job import ReadingInputs, ReadingOutputs, run_reading_job

    pet_entry = study.series("pet")
    if pet_entry is None:
        raise StageSkippedError("no SSTR PET in the manifest (role 'pet')")
    suv_warnings: list[str] = []
    suv = load_suv_pet(
        study.path(pet_entry["path"]),
        assume_suv=False,
        role="SSTR PET",
        series_uid=pet_entry["series_uid"],
        warnings=suv_warnings,
    )
    ct_entry = study.series("pet_ct")
    ct = _ct_for_reading(study, res)
    label_notes: list[str] = []
    organs = suv.with_array(
        study.labels_on(
            suv, ct, ct_uid=ct_entry["series_uid"] if ct_entry else None, notes=label_notes
        ),
        operation="organ_labels",
        quantity="label",
        unit="1",
    )
    fdg, fdg_organs = _fdg_inputs(study, label_notes, suv_warnings)
    res.data_quality.extend(DataFlag("reading_labels", n) for n in label_notes)
    res.data_quality.extend(DataFlag("pet_header", w) for w in dict.fromkeys(suv_warnings))
    imported = res.imported
    patient = (
        imported.patient_used if imported is not None else PatientUsed.from_dict(study.patient())
    )
    baseline = BaselineLabs.of(study.clinical_record, patient)
    names = study.label_names()
    auto = res.organs
    seg = auto.segmentation if auto is not None and auto.key == "baseline" else None
    tracer = pet_entry.get("tracer")
    job = run_reading_job(
        ReadingInputs(
            suv=suv,
            ct=ct,
            organs=organs if seg is None else None,
            organ_names=names if seg is None else None,
            # segmented on this PET/CT: read with the segmentation itself, so that its
            # per-organ quality rules apply (a flagged organ suppresses nothing) as in
            # 'sstrkit read'
            organ_segmentation=seg,
            fdg=fdg,
            fdg_organs=fdg_organs,
            fdg_organ_names=names,
            labs=baseline.labs() if baseline is not None else None,
            warnings=tuple(suv_warnings),
            pet_dicom=study.path(pet_entry["path"]),
            pet_series_uid=pet_entry["series_uid"],
        ),
        res.out / "reading",
        ReadingOutputs.for_run(),
        rules=load_rules(None),
        tracer=tracer,
        mip_organs_source=study.voi_source if res.organs is not None else None,
        extra={"labs": baseline.to_dict() if baseline is not None else {}, "tracer": tracer},
    )
    res.files["reading_json"] = str(job.json_path)
    res.files.update({k: v for k, v in job.files.items() if isinstance(v, str)})
    return ReadingStage(
        result=job.result,
        suv=job.inputs.suv,
        labs=baseline,
        tracer=tracer,
        images=job.files,
        json_path=job.json_path,
    )
