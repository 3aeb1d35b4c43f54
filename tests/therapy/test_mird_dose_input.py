"""The dose-input document in the library (sstrkit.therapy.dose_input).

Reference values: the MIRD and marrow functions themselves (the document only converts
units: 1 MBq·h = 1e6 Bq × 3600 s = 3.6e9 Bq·s, 1 kg = 1000 g), and the packaged example
case through :func:`case_dosimetry`. Equalities are exact or at rel 1e-12 (same
arithmetic, only the unit conversion in between).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from sstrkit.errors import InvalidInputError
from sstrkit.therapy.case import example_case_path, load_case
from sstrkit.therapy.case_dosimetry import case_dosimetry
from sstrkit.therapy.dose_input import (
    document_doses,
    dose_input_doses,
    is_case_document,
    parse_dose_input,
)
from sstrkit.therapy.marrow import red_marrow_dose
from sstrkit.therapy.mird import Region, organ_doses

MBQ_H = 3.6e9  # Bq·s per MBq·h

DOC: dict[str, Any] = {
    "nuclide": "Lu-177",
    "administered_activity_mbq": 7400,
    "patient": {"sex": "female", "mass_kg": 60},
    "cross_dose": "uniform",
    "regions": [
        {"name": "kidneys", "tia_mbq_h": 11000, "mass_g": 300},
        {"name": "lesion 1", "kind": "lesion", "tia_mbq_h": 3000, "mass_g": 12.5},
    ],
    "whole_body": {"tia_mbq_h": 160000},
    "red_marrow": {"blood_tia_mbq_h_per_ml": 0.05},
}


def test_dose_input_doses_match_the_mird_and_marrow_functions() -> None:
    out = dose_input_doses(parse_dose_input(DOC), source="doc.yaml")
    lib = organ_doses(
        "Lu-177",
        [
            Region("kidneys", 11000 * MBQ_H, 300.0),
            Region("lesion 1", 3000 * MBQ_H, 12.5, kind="lesion"),
        ],
        whole_body_tia_bq_s=160000 * MBQ_H,
        whole_body_mass_g=60000.0,
        cross_dose="uniform",
    )
    got = {r["name"]: r["total_gy"] for r in out["regions"]}
    assert got["kidneys"] == pytest.approx(lib["kidneys"].total_gy, rel=1e-12)
    rm = red_marrow_dose(
        "Lu-177",
        blood_tia_bq_s_per_ml=0.05 * MBQ_H,
        sex="F",
        patient_mass_g=60000.0,
        whole_body_tia_bq_s=160000 * MBQ_H,
    )
    assert out["red_marrow"]["total_gy"] == pytest.approx(rm.total_gy, rel=1e-12)
    # The output keeps the word of the ICRP 89 reference ("female"), as before.
    assert out["red_marrow"]["mass_source"] == "ICRP 89 reference (female) scaled by body mass"
    # Gy per GBq: 7400 MBq = 7.4 GBq.
    assert out["gy_per_gbq"]["kidneys"] == pytest.approx(got["kidneys"] / 7.4, rel=1e-12)
    assert out["provenance"][0]["inputs"] == ["doc.yaml"]


@pytest.mark.parametrize("written", ["F", "f", "Female", "woman"])
def test_sex_spellings_give_the_same_doses(written: str) -> None:
    ref = dose_input_doses(parse_dose_input(DOC))
    doc = {**DOC, "patient": {**DOC["patient"], "sex": written}}
    assert dose_input_doses(parse_dose_input(doc)) == ref


def test_default_patient_is_the_male_reference() -> None:
    doc = {k: v for k, v in DOC.items() if k != "patient"} | {"cross_dose": "none"}
    rm = dose_input_doses(parse_dose_input(doc))["red_marrow"]
    assert rm["red_marrow_mass_g"] == 1170.0  # ICRP 89 adult male red marrow
    assert rm["mass_source"] == "ICRP 89 reference (male)"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"patient": {"sex": "x"}}, "patient.sex"),
        ({"regions": []}, "regions"),
        ({"colour": "red"}, "colour"),
        ({"regions": [{"name": "k", "tia_mbq_h": -1, "mass_g": 300}]}, "regions.0.tia_mbq_h"),
    ],
)
def test_bad_dose_input_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError, match=f"case file d.yaml, field {field}"):
        parse_dose_input({**DOC, **change}, name="d.yaml")


def test_document_doses_tells_the_two_documents_apart() -> None:
    raw = yaml.safe_load(example_case_path().read_text(encoding="utf-8"))
    assert is_case_document(raw) and not is_case_document(DOC) and not is_case_document([1])
    case = document_doses(raw, name="example_case.yaml")
    assert case.kind == "case"
    assert case.result == case_dosimetry(load_case(example_case_path()))
    dose = document_doses(DOC, name="doc.yaml")
    assert dose.kind == "dose_input"
    assert dose.result == dose_input_doses(parse_dose_input(DOC), source="doc.yaml")


def test_cli_keeps_compute_case_doses() -> None:
    from sstrkit.cli.dose import DoseInput, compute_case_doses

    assert compute_case_doses is dose_input_doses
    assert isinstance(parse_dose_input(DOC), DoseInput)
