"""The import and reading stages' typed patient and baseline labs (sstrkit.pipeline.results).

Reference: the JSON they replace — the patient document of
:func:`sstrkit.pipeline.patient_case.resolve_patient`, and the baseline labs written out by
hand below (the earlier record's values, age and sex): ``results.json`` publishes them, so
the comparisons are exact.
"""

from __future__ import annotations

from sstrkit.pipeline.manifest import Patient, parse_clinical
from sstrkit.pipeline.patient_case import resolve_patient
from sstrkit.pipeline.results import BaselineLabs, PatientUsed

_CLINICAL = {
    "patient": {"sex": "F", "age_y": 61, "risk_factors": {"hypertension": True}},
    "labs": [
        {"time": "2025-02-01T09:00:00+01:00", "before_cycle": 2, "creatinine_umol_l": 120.0},
        {
            "time": "2025-01-02T09:00:00+01:00",
            "before_cycle": 1,
            "creatinine_umol_l": 80.0,
            "platelets_1e9_l": 210.0,
            "bilirubin_umol_l": 9.5,
        },
    ],
}


def test_patient_used_gives_the_resolved_patient_document() -> None:
    clinical = parse_clinical(_CLINICAL)
    header = Patient(id="P1", sex="F", weight_kg=64.5, height_cm=168.0)
    doc = resolve_patient(None, clinical, header)
    used = PatientUsed.from_dict(doc)
    assert used.to_dict() == doc
    assert list(used.to_dict()) == list(doc)  # same key order
    assert (used.sex, used.age_y, used.weight_kg) == ("female", 61, 64.5)
    assert used.sources["age_y"] == "clinical.json"
    assert used.risk_factors == {"hypertension": True}


def test_baseline_labs_is_the_first_record_with_age_and_sex() -> None:
    clinical = parse_clinical(_CLINICAL)
    doc = resolve_patient(None, clinical, Patient(id="P1", weight_kg=64.5))
    base = BaselineLabs.of(clinical, PatientUsed.from_dict(doc))
    assert base is not None
    assert base.record.before_cycle == 1  # the earlier record, not the first listed
    assert base.to_dict() == {
        "creatinine_umol_l": 80.0,
        "platelets_1e9_l": 210.0,
        "bilirubin_umol_l": 9.5,
        "age_years": 61,
        "sex": "female",
    }
    labs = base.labs()
    # 80 µmol/L creatinine / 88.4 µmol/L per mg/dL (creatinine 113.12 g/mol: 10/113.12 mmol
    # per mg/dL = 88.4 µmol/L); one division, so equal within 1e-12 relative
    assert labs.creatinine_mg_dl is not None
    assert abs(labs.creatinine_mg_dl - 80.0 / 88.4) <= 1e-12 * labs.creatinine_mg_dl
    assert (labs.sex, labs.age_years, labs.platelets_1e9_per_l) == ("F", 61.0, 210.0)


def test_no_lab_values_means_no_baseline_labs() -> None:
    clinical = parse_clinical({"labs": [{"time": "2025-01-02T09:00:00+01:00"}]})
    patient = PatientUsed("P1", sex="male", age_y=50)
    assert BaselineLabs.of(clinical, patient) is None
    assert BaselineLabs.of(None, patient) is None
