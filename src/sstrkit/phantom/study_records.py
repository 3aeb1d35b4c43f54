"""The records of a digital-patient study: ``clinical.json``, ``case.json``, ``manifest.json``.

:func:`write_clinical_files` writes the clinical data (labs, blood samples, every
administration; :func:`sstrkit.phantom.clinical.clinical_record`) and the same
administrations and blood samples as an sstrkit case file; :func:`study_manifest`
builds the manifest (series by role, truth files, summary, provenance) that
:func:`sstrkit.phantom.study.make_study` writes and returns.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sstrkit.core.provenance import Step
from sstrkit.core.units import BQ_PER_MBQ
from sstrkit.io.dicom_write import PatientInfo
from sstrkit.phantom.anatomy import AnatomyModel, PatientSpec
from sstrkit.phantom.biology import Biology
from sstrkit.phantom.clinical import clinical_record
from sstrkit.phantom.parameters import parameters
from sstrkit.phantom.truth import CycleTruth
from sstrkit.phantom.truth_files import _anatomy_note, _atomic_json

if TYPE_CHECKING:
    from sstrkit.phantom.study import StudyConfig

__all__ = ["patient_age_y", "study_manifest", "write_clinical_files"]


def patient_age_y(seed: int) -> int:
    """Age of the digital patient: 45–74 y, fixed per seed (typical NET/PRRT cohorts)."""
    return 45 + (seed * 13) % 30


def _case_file(
    seed: int, spec: PatientSpec, cycles: Sequence[CycleTruth], clinical: dict[str, Any]
) -> dict[str, Any]:
    """The study's administrations and blood samples in the sstrkit case-file schema."""
    admins = [
        {
            "id": f"C{c.index}",
            "cycle": c.index,
            "nuclide": "Lu-177",
            "agent": "177Lu-DOTATATE",
            "activity_mbq": c.activity_bq / BQ_PER_MBQ,
            "datetime": c.injection_time.isoformat(),
        }
        for c in cycles
    ]
    blood = []
    for c in cycles:
        samples = [s for s in clinical["blood_samples"] if s["cycle"] == c.index]
        blood.append(
            {
                "administration": f"C{c.index}",
                "times_h": [s["hours_post_injection"] for s in samples],
                "concentration_kbq_per_ml": [
                    s["activity_concentration_bq_ml"] / 1e3 for s in samples
                ],
                "rmblr": float(parameters()["lu177_blood"]["rmblr"]),
            }
        )
    return {
        "schema_version": 1,
        "case_id": f"phantom-{seed}",
        "patient": {
            "id": f"SSTRKIT-PH{seed:04d}",
            "sex": "male" if spec.sex == "M" else "female",
            "age_y": patient_age_y(seed),
            "height_cm": spec.height_cm,
            "weight_kg": spec.weight_kg,
        },
        "administrations": admins,
        "blood": blood,
    }


def write_clinical_files(
    root: Path,
    cfg: StudyConfig,
    spec: PatientSpec,
    biology: Biology,
    cycles: Sequence[CycleTruth],
    extra_administrations: list[dict[str, Any]],
    *,
    sirt: list[dict[str, Any]] | None = None,
) -> None:
    """Write ``clinical.json`` and ``case.json`` into the study folder ``root``.

    ``sirt`` (``--sirt``): the ``sirt`` records of ``clinical.json`` (the treatment as the
    clinic records it: time, device, net activity, target, measured lung shunt fraction).
    """
    clinical = clinical_record(
        cycles,
        sex=cfg.sex,
        seed=cfg.seed,
        extra_administrations=extra_administrations,
        labs=cfg.labs,
    )
    clinical["diagnosis"] = {
        "tumour": "well-differentiated neuroendocrine tumour (digital patient)",
        "who_grade": f"G{biology.tumour_grade}",
    }
    if sirt is not None:
        clinical["sirt"] = sirt
    _atomic_json(root / "clinical.json", clinical)
    _atomic_json(root / "case.json", _case_file(cfg.seed, spec, cycles, clinical))


def _config_record(cfg: StudyConfig) -> dict[str, Any]:
    """The study's settings for the manifest's provenance.

    ``sstr_imaging`` is left out at its default (the baseline PET only) and ``sirt`` when
    off, so that a study made without ``--sstr-imaging`` or ``--sirt`` keeps the manifest it
    had before the options existed.
    """
    from sstrkit.phantom.scint_biodistribution import BASELINE_TRACER

    out = {
        k: (v.isoformat() if isinstance(v, _dt.datetime) else v) for k, v in cfg.__dict__.items()
    }
    if tuple(out.get("sstr_imaging", ())) == (BASELINE_TRACER,):
        del out["sstr_imaging"]
    if not out.get("sirt", False):
        out.pop("sirt", None)
    return out


def study_manifest(
    root: Path,
    cfg: StudyConfig,
    patient: PatientInfo,
    spec: PatientSpec,
    model: AnatomyModel,
    cycles: Sequence[CycleTruth],
    series: dict[str, Any],
    truth: dict[str, Any],
    truth_files: dict[str, Any],
) -> dict[str, Any]:
    """The study's manifest; ``truth_files`` as :func:`.write_truth_files` returns them."""
    labels_files = truth_files["labels_nifti"]
    return {
        "format": "sstrkit-study",
        "version": 1,
        "root": str(root.resolve()),
        "patient": {
            "id": patient.patient_id,
            "sex": cfg.sex,
            "height_cm": spec.height_cm,
            "weight_kg": patient.weight_kg,
            "seed": cfg.seed,
        },
        "series": series,
        "truth": {
            "truth_json": "truth/truth.json",
            "labels_nifti": labels_files,
            "label_names": "truth/labels.json",
            "rtstruct": truth_files["rtstruct"],
        },
        **(
            {
                # The pipeline's VOIs: the label map of the baseline PET/CT only (the other
                # sessions are repositioned; their VOIs come by registration).
                "segmentation": {
                    "labels_nifti": {"baseline": labels_files["baseline"]},
                    "label_names": "truth/labels.json",
                    "referenced_series": "pet_ct",
                    "frame_of_reference_uid": series["pet_ct"]["frame_of_reference_uid"],
                }
            }
            if cfg.reposition
            else {}
        ),
        "clinical": "clinical.json",
        "case_file": "case.json",
        "summary": {
            "organ_masses_g": {k: v["mass_g"] for k, v in truth["organs"].items()},
            "administered_activities_bq": [c.activity_bq for c in cycles],
            "administration_times": [c.injection_time.isoformat() for c in cycles],
            "n_lesions": len(model.lesions),
        },
        "anatomy": _anatomy_note(cfg.anatomy),
        "field_of_view": _anatomy_note(cfg.anatomy)["field_of_view"],
        "provenance": Step.make("phantom_make_study", _config_record(cfg)).to_dict(),
    }
