"""The patient and therapy case of a study, from its clinical records.

Each patient field is taken from the first record that has it: a legacy ``case.json``,
then the clinical record (``clinical.json``), then the DICOM headers (the manifest's
``patient``); the source of each is named. :func:`base_case_document` builds the therapy
case document (patient, administrations, blood samples) that region dosimetry completes
with image-derived regions (the labs before cycle 1: ``pipeline.results.BaselineLabs``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sstrkit.core.units import BQ_PER_MBQ
from sstrkit.errors import InvalidInputError
from sstrkit.pipeline.administrations import Administration
from sstrkit.pipeline.manifest import ClinicalRecord, Patient

__all__ = ["base_case_document", "resolve_patient"]

_SEX = {"M": "male", "F": "female", "male": "male", "female": "female"}


def resolve_patient(
    case: Mapping[str, Any] | None, clinical: ClinicalRecord | None, header: Patient
) -> dict[str, Any]:
    """Patient for dosimetry: case file > clinical record > DICOM headers (named in ``sources``)."""
    case_pat = dict((case or {}).get("patient", {}))
    clin = clinical.patient if clinical is not None else None
    out: dict[str, Any] = {"id": case_pat.get("id") or header.id or "anonymous"}
    sources: dict[str, str] = {}
    for key, dicom_value in (
        ("sex", _SEX.get(header.sex or "")),
        ("weight_kg", header.weight_kg),
        ("height_cm", header.height_cm),
        ("age_y", None),
    ):
        clin_value = getattr(clin, key, None) if clin is not None else None
        if key == "sex" and clin_value is not None:
            clin_value = _SEX[clin_value]
        for value, src in (
            (case_pat.get(key), "case.json"),
            (clin_value, "clinical.json"),
            (dicom_value, "DICOM header"),
        ):
            if value is not None:
                out[key] = value
                sources[key] = src
                break
    if clin is not None and clin.risk_factors:
        out["risk_factors"] = clin.risk_factors
    elif "risk_factors" in case_pat:
        out["risk_factors"] = case_pat["risk_factors"]
    out["sources"] = sources
    return out


def _blood(
    case: Mapping[str, Any] | None,
    clinical: ClinicalRecord | None,
    administrations: Sequence[Administration],
) -> list[dict[str, Any]]:
    """Blood samples by administration: a legacy case file's, else the clinical record's."""
    # a legacy case file's blood samples, renamed to this case's administration ids
    case_ids = {str(a.get("id")): a.get("cycle") for a in (case or {}).get("administrations", [])}
    blood = [
        {**b, "administration": f"C{case_ids[str(b.get('administration'))]}"}
        for b in (case or {}).get("blood", [])
        if case_ids.get(str(b.get("administration"))) is not None
    ]
    if blood or clinical is None:
        return blood
    by_cycle: dict[int, list[Any]] = {}
    for b in clinical.blood_samples:
        by_cycle.setdefault(b.cycle, []).append(b)
    for cycle, samples in sorted(by_cycle.items()):
        samples.sort(key=lambda b: b.hours_post_injection)
        if cycle not in {a.cycle for a in administrations}:
            continue
        entry: dict[str, Any] = {
            "administration": f"C{cycle}",
            "times_h": [b.hours_post_injection for b in samples],
            "concentration_kbq_per_ml": [b.activity_concentration_bq_ml / 1e3 for b in samples],
        }
        if clinical.blood_rmblr is not None:
            entry["rmblr"] = clinical.blood_rmblr
        blood.append(entry)
    return blood


def base_case_document(
    patient: Mapping[str, Any],
    administrations: Sequence[Administration],
    case: Mapping[str, Any] | None,
    clinical: ClinicalRecord | None,
) -> dict[str, Any]:
    """The therapy case document (patient, administrations, blood) without regions.

    ``patient`` is :func:`resolve_patient`'s; sex and weight are required.
    """
    missing = [k for k in ("sex", "weight_kg") if k not in patient]
    if missing:
        raise InvalidInputError(
            "patient " + " and ".join(missing),
            expected="PatientSex / PatientWeight in the DICOM headers or 'patient' in "
            "clinical.json",
            actual="missing",
            fix='add {"patient": {"sex": "F", "weight_kg": 70}} to clinical.json',
        )
    admins = [
        {
            "id": f"C{a.cycle}",
            "cycle": a.cycle,
            "nuclide": a.nuclide,
            "agent": a.agent,
            "activity_mbq": a.activity_bq / BQ_PER_MBQ,
            "datetime": a.time.isoformat(),
        }
        for a in administrations
    ]
    doc: dict[str, Any] = {
        "schema_version": 1,
        "case_id": str((case or {}).get("case_id") or patient["id"]),
        "patient": {k: v for k, v in patient.items() if k != "sources"},
        "administrations": admins,
        "blood": _blood(case, clinical, administrations),
    }
    for key in ("ebrt", "planning"):
        if case and key in case:
            doc[key] = case[key]
    return doc
