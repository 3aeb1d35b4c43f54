"""The study files as typed, validated objects: ``manifest.json`` and ``clinical.json``.

Both are parsed once (pydantic) into frozen models; every missing or wrong field
becomes one :class:`~sstrkit.errors.InvalidInputError` whose message names the
field by its path (``series.spect[2].injection_time``) and the fix. The JSON
Schemas are published in ``docs/schema/`` (:func:`write_schemas` regenerates them).

Unknown keys are kept (vendor notes, the digital patient's simulation details);
the keys below are the ones sstrkit reads.

Examples
--------
>>> try:
...     parse_manifest({"series": {"spect": [{"cycle": 1}]}}, name="manifest.json")
... except InvalidInputError as exc:
...     print(exc.one_line().split(", got ")[1].split(";")[0])
series.spect[0].path: Field required
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sstrkit.errors import InvalidInputError

__all__ = [
    "AdministrationRecord",
    "BloodSample",
    "ClinicalRecord",
    "CtEntry",
    "EmissionEntry",
    "LabRecord",
    "Manifest",
    "PlanarEntry",
    "Segmentation",
    "SpectCtEntry",
    "SpectEntry",
    "SstrSpectCtEntry",
    "SstrSpectEntry",
    "parse_clinical",
    "parse_manifest",
    "schemas",
]


def _aware(v: _dt.datetime) -> _dt.datetime:
    if v.tzinfo is None or v.utcoffset() is None:
        raise ValueError("must include a UTC offset, e.g. 2026-01-05T10:00:00+01:00")
    return v


def _known_nuclide(v: str) -> str:
    from sstrkit.errors import UnknownNuclideError
    from sstrkit.physics.nuclides import get_nuclide

    try:
        return get_nuclide(v).name
    except UnknownNuclideError as exc:
        raise ValueError(exc.one_line()) from None


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class CtEntry(_Model):
    """A CT series (attenuation correction and anatomy of an emission scan)."""

    path: str = Field(min_length=1)
    series_uid: str = Field(min_length=1)
    frame_of_reference_uid: str | None = None
    time: _dt.datetime | None = None
    series_description: str | None = None

    _t = field_validator("time")(lambda v: v if v is None else _aware(v))


class EmissionEntry(_Model):
    """A PET or SPECT series with its administration."""

    path: str = Field(min_length=1)
    series_uid: str = Field(min_length=1)
    frame_of_reference_uid: str | None = None
    tracer: str | None = None
    nuclide: str = Field(min_length=1)
    injection_time: _dt.datetime
    injected_activity_bq: float = Field(gt=0)
    time: _dt.datetime
    fwhm_mm: float | None = Field(default=None, gt=0)
    #: Where ``fwhm_mm`` comes from (e.g. "--spect-fwhm-mm", "sphere phantom 2025-03");
    #: None: a value set in the manifest. A SPECT without ``fwhm_mm`` has its resolution
    #: estimated from its DICOM header at run time (sstrkit.io.spect_resolution, flagged).
    fwhm_source: str | None = None
    series_description: str | None = None

    _t = field_validator("injection_time", "time")(lambda v: _aware(v))
    _n = field_validator("nuclide")(lambda v: _known_nuclide(v))


class SpectEntry(EmissionEntry):
    """A post-therapy SPECT time point."""

    cycle: int = Field(ge=1)
    hours_post_injection: float = Field(gt=0)


class SpectCtEntry(CtEntry):
    """The CT of a post-therapy SPECT time point."""

    cycle: int = Field(ge=1)
    hours_post_injection: float = Field(gt=0)


class EnergyWindow(_Model):
    """An acquisition energy window (keV)."""

    name: str | None = None
    lower_kev: float = Field(gt=0)
    upper_kev: float = Field(gt=0)


class PlanarEntry(EmissionEntry):
    """A planar whole-body SSTR scintigraphy (anterior + posterior views) at one time point."""

    hours_post_injection: float = Field(gt=0)
    energy_windows: list[EnergyWindow] = Field(default_factory=list)


class SstrSpectEntry(EmissionEntry):
    """A diagnostic 111In/99mTc SSTR SPECT; ``calibration_cps_per_mbq`` converts counts."""

    hours_post_injection: float = Field(gt=0)
    calibration_cps_per_mbq: float | None = Field(default=None, gt=0)
    units: str | None = None
    energy_windows: list[EnergyWindow] = Field(default_factory=list)


class SstrSpectCtEntry(CtEntry):
    """The CT of a diagnostic SSTR SPECT."""

    hours_post_injection: float = Field(gt=0)


class MaaSpectEntry(EmissionEntry):
    """A 99mTc-MAA SPECT before SIRT; ``calibration_cps_per_mbq`` converts counts to activity."""

    hours_post_injection: float = Field(ge=0)
    calibration_cps_per_mbq: float | None = Field(default=None, gt=0)
    units: str | None = None


class MaaPlanarEntry(EmissionEntry):
    """A 99mTc-MAA planar anterior + posterior acquisition (thorax and abdomen) before SIRT."""

    hours_post_injection: float = Field(ge=0)
    energy_windows: list[EnergyWindow] = Field(default_factory=list)


class Y90Entry(EmissionEntry):
    """A post-implant 90Y PET (or bremsstrahlung SPECT with ``calibration_cps_per_mbq``).

    ``injection_time``/``injected_activity_bq`` are the implant's time and net activity.
    """

    hours_post_injection: float = Field(ge=0)
    calibration_cps_per_mbq: float | None = Field(default=None, gt=0)
    units: str | None = None


class Series(_Model):
    pet: EmissionEntry | None = None
    pet_ct: CtEntry | None = None
    fdg: EmissionEntry | None = None
    fdg_ct: CtEntry | None = None
    spect: list[SpectEntry] = Field(default_factory=list)
    spect_ct: list[SpectCtEntry] = Field(default_factory=list)
    scintigraphy_planar: list[PlanarEntry] = Field(default_factory=list)
    sstr_spect: list[SstrSpectEntry] = Field(default_factory=list)
    sstr_spect_ct: list[SstrSpectCtEntry] = Field(default_factory=list)
    # SIRT (90Y microspheres): the 99mTc-MAA work-up and the post-implant 90Y imaging.
    maa_planar: list[MaaPlanarEntry] = Field(default_factory=list)
    maa_spect: list[MaaSpectEntry] = Field(default_factory=list)
    maa_spect_ct: list[CtEntry] = Field(default_factory=list)
    y90_pet: list[Y90Entry] = Field(default_factory=list)
    y90_pet_ct: list[CtEntry] = Field(default_factory=list)
    y90_spect: list[Y90Entry] = Field(default_factory=list)
    y90_spect_ct: list[CtEntry] = Field(default_factory=list)


class Segmentation(_Model):
    """The study's own label maps (VOIs): one or more, keyed by where they were drawn.

    Keys: ``"baseline"`` (on the SSTR PET/CT), ``"cycle<k>"`` (the cycle's
    reference time point, in the legacy layout: same patient coordinates) or
    ``"cycle<k>_<h>h"`` (on that SPECT/CT time point).
    """

    # A value may also be a DICOM SEG (file, or folder holding one): read on the grid of the
    # key's CT (Study.read_label_map); label_names may then be left out (segment labels).
    # (Comments, not the docstring: the docstring is part of the published JSON Schema.)
    labels_nifti: dict[str, str] = Field(min_length=1)
    label_names: str | None = None
    regions: dict[str, list[int]] | None = None


class Patient(_Model):
    id: str | None = None
    name: str | None = None
    sex: Literal["M", "F", "O"] | None = None
    weight_kg: float | None = Field(default=None, gt=1, le=500)
    height_cm: float | None = Field(default=None, gt=30, le=260)


class Manifest(_Model):
    """``manifest.json``: series by role, VOIs, clinical files."""

    format: Literal["sstrkit-study"] = "sstrkit-study"
    version: int = Field(default=1, ge=1, le=2)
    patient: Patient = Patient()
    series: Series
    segmentation: Segmentation | None = None
    truth: dict[str, Any] | None = None
    clinical: str | None = None
    case_file: str | None = None


# ------------------------------------------------------------------ clinical.json
class LabRecord(_Model):
    """Laboratory values at one time (units in the keys).

    The ``*_uln_*`` / ``*_lln_*`` keys are the laboratory's own reference limits, as
    printed with the result (they override sstrkit's defaults); ``proton_pump_inhibitor``
    and ``somatostatin_analogue`` say whether the patient took one when the sample was
    drawn (both change chromogranin A).
    """

    time: _dt.datetime
    before_cycle: int | None = Field(default=None, ge=1)
    creatinine_umol_l: float | None = Field(default=None, gt=0)
    haemoglobin_g_dl: float | None = Field(default=None, gt=0)
    platelets_1e9_l: float | None = Field(default=None, ge=0)
    wbc_1e9_l: float | None = Field(default=None, ge=0)
    # liver function and tumour marker (issue 23)
    bilirubin_umol_l: float | None = Field(default=None, ge=0)
    albumin_g_l: float | None = Field(default=None, gt=0, le=100)
    alt_u_l: float | None = Field(default=None, ge=0)
    ast_u_l: float | None = Field(default=None, ge=0)
    alp_u_l: float | None = Field(default=None, ge=0)
    inr: float | None = Field(default=None, gt=0, le=20)
    chromogranin_a_ug_l: float | None = Field(default=None, ge=0)
    bilirubin_uln_umol_l: float | None = Field(default=None, gt=0)
    albumin_lln_g_l: float | None = Field(default=None, gt=0, le=100)
    alt_uln_u_l: float | None = Field(default=None, gt=0)
    ast_uln_u_l: float | None = Field(default=None, gt=0)
    alp_uln_u_l: float | None = Field(default=None, gt=0)
    inr_uln: float | None = Field(default=None, gt=0, le=20)
    chromogranin_a_uln_ug_l: float | None = Field(default=None, gt=0)
    proton_pump_inhibitor: bool | None = None
    somatostatin_analogue: bool | None = None

    _t = field_validator("time")(lambda v: _aware(v))


class AdministrationRecord(_Model):
    """An administered activity as recorded by the clinic (net, residual subtracted)."""

    cycle: int | None = Field(default=None, ge=1)
    radiopharmaceutical: str | None = None
    nuclide: str = Field(min_length=1)
    activity_bq: float = Field(gt=0)
    time: _dt.datetime

    _t = field_validator("time")(lambda v: _aware(v))


class SirtRecord(_Model):
    """A 90Y-microsphere (SIRT) treatment as recorded by the clinic.

    ``activity_bq`` is the net implanted activity (residual subtracted) at ``time``;
    ``target`` the treated territory (``"whole_liver"``, ``"right_lobe"``, ``"left_lobe"``,
    a segment).
    """

    time: _dt.datetime
    device: Literal["resin", "glass"]
    activity_bq: float = Field(gt=0)
    target: str = "whole_liver"
    lung_shunt_fraction: float | None = Field(default=None, ge=0, lt=1)

    _t = field_validator("time")(lambda v: _aware(v))


class BloodSample(_Model):
    cycle: int = Field(ge=1)
    time: _dt.datetime | None = None
    hours_post_injection: float = Field(ge=0)
    activity_concentration_bq_ml: float = Field(ge=0)


class ClinicalPatient(_Model):
    sex: Literal["M", "F", "male", "female"] | None = None
    age_y: float | None = Field(default=None, ge=0, le=130)
    weight_kg: float | None = Field(default=None, gt=1, le=500)
    height_cm: float | None = Field(default=None, gt=30, le=260)
    risk_factors: dict[str, Any] | None = None


class ClinicalRecord(_Model):
    """``clinical.json``: administrations, labs, blood samples, diagnosis."""

    patient: ClinicalPatient | None = None
    administrations: list[AdministrationRecord] = Field(default_factory=list)
    labs: list[LabRecord] = Field(default_factory=list)
    blood_samples: list[BloodSample] = Field(default_factory=list)
    sirt: list[SirtRecord] = Field(default_factory=list)
    blood_rmblr: float | None = Field(default=None, gt=0, le=10)
    diagnosis: dict[str, Any] | None = None


# ------------------------------------------------------------------ parsing
def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _format(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{_where(tuple(err['loc']))}: {msg}")
    return "; ".join(parts)


def _parse(model: type[_Model], data: Any, name: str, what: str, schema: str) -> Any:
    if not isinstance(data, dict):
        raise InvalidInputError(
            name, expected=f"a JSON object ({what})", actual=type(data).__name__
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(
            name,
            expected=f"a valid {what} (schema docs/schema/{schema})",
            actual=_format(exc),
            fix="correct the named field(s), or regenerate the manifest with "
            "'sstrkit study init DICOM_DIR --out STUDY'",
        ) from None


def parse_manifest(data: Any, *, name: str = "manifest.json") -> Manifest:
    """Validate an already-parsed manifest document."""
    m: Manifest = _parse(Manifest, data, name, "study manifest", "manifest.schema.json")
    return m


def parse_clinical(data: Any, *, name: str = "clinical.json") -> ClinicalRecord:
    """Validate an already-parsed clinical document."""
    c: ClinicalRecord = _parse(
        ClinicalRecord, data, name, "clinical record", "clinical.schema.json"
    )
    return c


def schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas of the manifest and the clinical record (file name → schema)."""
    return {
        "manifest.schema.json": Manifest.model_json_schema(),
        "clinical.schema.json": ClinicalRecord.model_json_schema(),
    }


def write_schemas(folder: str | Path) -> list[Path]:
    """Write :func:`schemas` into ``folder`` (the published copies live in docs/schema)."""
    out = []
    for name, schema in schemas().items():
        p = Path(folder) / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        out.append(p)
    return out
