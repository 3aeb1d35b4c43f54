"""Organ doses of an input document: the case file or the dose-input file.

Two documents give organ doses (both JSON or YAML, read by
:func:`~sstrkit.therapy.case.read_document`):

* the shared **case file** (:mod:`sstrkit.therapy.case`, time–activity data per
  administration): kinetics are fitted and doses given per cycle and
  cumulatively by :func:`~sstrkit.therapy.case_dosimetry.case_dosimetry`;
* the **dose-input file** (:class:`DoseInput`, schema in docs/dosimetry.md):
  time-integrated activities, masses and optional whole-body and blood data,
  turned into MIRD organ and lesion doses (:func:`~sstrkit.therapy.mird.organ_doses`),
  the whole-body dose and the red-marrow dose by the EANM blood method
  (:func:`~sstrkit.therapy.marrow.red_marrow_dose`) by :func:`dose_input_doses`.

:func:`document_doses` tells them apart (a case file has ``administrations``)
and returns the JSON-ready result; ``sstrkit dose organs`` prints it.

Units are in the key names at this edge (``tia_mbq_h``, ``mass_g``,
``mass_kg``, ``administered_activity_mbq``) and converted once to Bq·s and g.
The patient's sex is ``F``/``M`` or ``female``/``male`` (read by
:func:`~sstrkit.core.body.parse_sex`; default male).

Examples
--------
>>> doc = parse_dose_input({"nuclide": "Lu-177", "administered_activity_mbq": 7400,
...                         "regions": [{"name": "kidneys", "tia_mbq_h": 11000, "mass_g": 300}]})
>>> out = dose_input_doses(doc)
>>> # 11000 MBq·h = 3.96e13 Bq·s; × 0.1479 MeV × 1.602e-13 J/MeV / 0.3 kg = 3.128 Gy
>>> round(out["regions"][0]["self_electron_gy"], 3)
3.128
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sstrkit.core.body import Sex
from sstrkit.core.units import BQ_PER_MBQ, G_PER_KG, MBQ_PER_GBQ, SECONDS_PER_HOUR
from sstrkit.errors import InvalidInputError
from sstrkit.therapy.case import parse_case, parse_sex_field
from sstrkit.therapy.case_dosimetry import case_dosimetry
from sstrkit.therapy.marrow import red_marrow_dose
from sstrkit.therapy.mird import Region, organ_doses

__all__ = [
    "DocumentDoses",
    "DoseInput",
    "DoseInputMarrow",
    "DoseInputPatient",
    "DoseInputRegion",
    "DoseInputWholeBody",
    "document_doses",
    "dose_input_doses",
    "is_case_document",
    "parse_dose_input",
]

_MBQ_H = BQ_PER_MBQ * SECONDS_PER_HOUR  # Bq·s per MBq·h


class DoseInputRegion(BaseModel):
    """One region: TIA (MBq·h) and mass (g); see :class:`~sstrkit.therapy.mird.Region`."""

    model_config = ConfigDict(extra="forbid")
    name: str
    tia_mbq_h: float = Field(ge=0)
    mass_g: float = Field(gt=0)
    kind: Literal["organ", "lesion"] = "organ"
    tissue: Literal["soft", "bone"] = "soft"
    centroid_mm: tuple[float, float, float] | None = None
    electron_model: Literal["local", "sphere"] | None = None


class DoseInputWholeBody(BaseModel):
    """Whole-body TIA (MBq·h): the remainder of the body irradiates every region."""

    model_config = ConfigDict(extra="forbid")
    tia_mbq_h: float = Field(ge=0)


class DoseInputMarrow(BaseModel):
    """Blood TIA concentration (MBq·h per mL) and the options of the EANM blood method."""

    model_config = ConfigDict(extra="forbid")
    blood_tia_mbq_h_per_ml: float = Field(ge=0)
    rmblr: float = Field(default=1.0, ge=0, le=10)
    mass_g: float | None = Field(default=None, gt=0)
    electron_absorbed_fraction: float = Field(default=1.0, ge=0, le=1)


class DoseInputPatient(BaseModel):
    """Sex (selects the ICRP 89 reference masses) and body mass (kg)."""

    model_config = ConfigDict(extra="forbid")
    sex: Sex = "M"
    mass_kg: float | None = Field(default=None, gt=0)

    @field_validator("sex", mode="before")
    @classmethod
    def _sex(cls, v: object) -> Sex:
        return parse_sex_field(v)


class DoseInput(BaseModel):
    """Input document of ``sstrkit dose organs`` (JSON or YAML); see docs/dosimetry.md."""

    model_config = ConfigDict(extra="forbid")
    nuclide: str
    administered_activity_mbq: float | None = Field(default=None, gt=0)
    patient: DoseInputPatient = DoseInputPatient()
    cross_dose: Literal["auto", "point", "uniform", "none"] = "auto"
    regions: list[DoseInputRegion] = Field(min_length=1)
    whole_body: DoseInputWholeBody | None = None
    red_marrow: DoseInputMarrow | None = None


@dataclass(frozen=True)
class DocumentDoses:
    """The doses of an input document: which kind it was and the JSON-ready result."""

    kind: Literal["case", "dose_input"]
    result: dict[str, Any]


def is_case_document(raw: Any) -> bool:
    """Whether a parsed document is a case file (it has ``administrations``)."""
    return isinstance(raw, dict) and "administrations" in raw


def parse_dose_input(raw: Any, *, name: str = "dose input") -> DoseInput:
    """Validate a parsed document as a :class:`DoseInput`; the first problem is reported."""
    try:
        return DoseInput.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInputError(
            f"case file {name}, field {where or '(root)'}",
            expected="a value matching the dose-input schema (docs/dosimetry.md)",
            actual=str(first["msg"]).removeprefix("Value error, "),
        ) from None


def dose_input_doses(doc: DoseInput, *, source: str = "") -> dict[str, Any]:
    """Organ, lesion, whole-body and red-marrow doses of a dose-input document (JSON-ready).

    ``source`` (the file name) is recorded in provenance. With an administered
    activity, ``gy_per_gbq`` gives every total dose per GBq.
    """
    mass_g = None if doc.patient.mass_kg is None else doc.patient.mass_kg * G_PER_KG
    regions = [
        Region(
            r.name,
            r.tia_mbq_h * _MBQ_H,
            r.mass_g,
            kind=r.kind,
            tissue=r.tissue,
            centroid_mm=r.centroid_mm,
            electron_model=r.electron_model,
        )
        for r in doc.regions
    ]
    wb_tia = None if doc.whole_body is None else doc.whole_body.tia_mbq_h * _MBQ_H
    inputs = (source,) if source else ()
    result = organ_doses(
        doc.nuclide,
        regions,
        whole_body_tia_bq_s=wb_tia,
        whole_body_mass_g=mass_g,
        cross_dose=doc.cross_dose,
        inputs=inputs,
    )
    out: dict[str, Any] = result.to_dict()
    out["red_marrow"] = None
    if doc.red_marrow is not None:
        rm = red_marrow_dose(
            doc.nuclide,
            blood_tia_bq_s_per_ml=doc.red_marrow.blood_tia_mbq_h_per_ml * _MBQ_H,
            rmblr=doc.red_marrow.rmblr,
            sex=doc.patient.sex,
            patient_mass_g=mass_g,
            red_marrow_mass_g=doc.red_marrow.mass_g,
            whole_body_tia_bq_s=wb_tia,
            electron_absorbed_fraction=doc.red_marrow.electron_absorbed_fraction,
            inputs=inputs,
        )
        out["red_marrow"] = rm.to_dict()
    gbq = (
        None
        if doc.administered_activity_mbq is None
        else doc.administered_activity_mbq / MBQ_PER_GBQ
    )
    out["administered_activity_mbq"] = doc.administered_activity_mbq
    out["gy_per_gbq"] = None
    if gbq is not None:
        per = {r["name"]: r["total_gy"] / gbq for r in out["regions"]}
        if out["whole_body"] is not None:
            per["whole body"] = out["whole_body"]["total_gy"] / gbq
        if out["red_marrow"] is not None:
            per["red marrow"] = out["red_marrow"]["total_gy"] / gbq
        out["gy_per_gbq"] = per
    return out


def document_doses(raw: Any, *, name: str = "case") -> DocumentDoses:
    """Doses of a parsed case file or dose-input document (see the module text).

    ``name`` (the file name) appears in errors and, for a dose input, in provenance.
    """
    if is_case_document(raw):
        return DocumentDoses("case", case_dosimetry(parse_case(raw, name=name)))
    return DocumentDoses(
        "dose_input", dose_input_doses(parse_dose_input(raw, name=name), source=name)
    )
