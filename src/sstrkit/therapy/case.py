"""The PRRT case file: patient, administrations, time–activity data, masses, blood samples.

A case file is YAML or JSON (schema in ``docs/kinetics.md``; example in
``sstrkit/therapy/data/example_case.yaml``). Units are part of the key names
(``activity_mbq``, ``times_h``, ``mass_g``); datetimes must carry a UTC offset.
:func:`load_case` validates it with pydantic and turns every problem into one
:class:`~sstrkit.errors.InvalidInputError` that lists the offending fields.

The patient's sex may be written ``F``/``M`` or ``female``/``male`` (any
spelling :func:`~sstrkit.core.body.parse_sex` reads); the validated case holds
a :data:`~sstrkit.core.body.Sex` (``"F"`` or ``"M"``).

Activities are stored as measured. A series marked ``decay_corrected: true``
(corrected to the administration time) is un-corrected on reading, because
kinetics works with the physically decaying activity.

Examples
--------
>>> case = load_case(example_case_path())
>>> case.patient.sex, len(case.administrations) >= 1     # the file says "female"
('F', True)
>>> t, a = case.series("kidneys")
>>> t.shape == a.shape
True
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sstrkit.core.body import Sex, bsa_du_bois, parse_sex
from sstrkit.core.units import BQ_PER_MBQ, SECONDS_PER_HOUR
from sstrkit.errors import InvalidInputError, UnknownNuclideError
from sstrkit.physics.nuclides import get_nuclide

__all__ = [
    "Administration",
    "BloodSamples",
    "Case",
    "EbrtCourse",
    "Patient",
    "PlanningSettings",
    "RegionData",
    "RiskFactors",
    "example_case_path",
    "load_case",
    "parse_case",
    "parse_sex_field",
    "read_document",
]

SCHEMA_VERSION = 1
RegionKind = Literal["organ", "lesion", "whole_body"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RiskFactors(_Strict):
    """Renal risk factors; any of them selects the lower kidney BED limit (Bodei et al. 2008)."""

    hypertension: bool = False
    diabetes: bool = False
    prior_nephrotoxic_chemotherapy: bool = False
    reduced_renal_function: bool = False
    other: list[str] = Field(default_factory=list)

    def present(self) -> list[str]:
        """Names of the risk factors that are present."""
        names = [
            n
            for n in (
                "hypertension",
                "diabetes",
                "prior_nephrotoxic_chemotherapy",
                "reduced_renal_function",
            )
            if getattr(self, n)
        ]
        return names + list(self.other)


class Patient(_Strict):
    """Patient description (SI-like units at the edge: cm, kg, years)."""

    id: str = "anonymous"
    sex: Sex
    age_y: float | None = Field(default=None, ge=0, le=130)
    height_cm: float | None = Field(default=None, gt=30, le=260)
    weight_kg: float = Field(gt=1, le=500)
    risk_factors: RiskFactors = RiskFactors()

    @field_validator("sex", mode="before")
    @classmethod
    def _sex(cls, v: object) -> Sex:
        return parse_sex_field(v)

    @property
    def bsa_m2(self) -> float | None:
        """Body-surface area (Du Bois & Du Bois 1916: 0.007184·W^0.425·H^0.725)."""
        if self.height_cm is None:
            return None
        return bsa_du_bois(self.weight_kg, self.height_cm)


def parse_sex_field(value: object) -> Sex:
    """A sex field of an input document as :data:`~sstrkit.core.body.Sex`.

    For pydantic validators: any spelling :func:`~sstrkit.core.body.parse_sex` reads;
    anything else raises ``ValueError`` (which pydantic reports with the field's path).
    """
    try:
        return parse_sex(value, fix="write F or M (or female/male)")
    except InvalidInputError as exc:
        raise ValueError(exc.one_line()) from None


def _aware(value: _dt.datetime, what: str) -> _dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must include a UTC offset, e.g. 2026-01-05T10:00:00+01:00")
    return value


class Administration(_Strict):
    """One administered activity."""

    id: str
    cycle: int = Field(ge=1)
    nuclide: str
    agent: str = ""
    activity_mbq: float = Field(gt=0)
    datetime: _dt.datetime

    @field_validator("datetime")
    @classmethod
    def _tz(cls, v: _dt.datetime) -> _dt.datetime:
        return _aware(v, "administration datetime")

    @field_validator("nuclide")
    @classmethod
    def _nuclide(cls, v: str) -> str:
        try:
            return get_nuclide(v).name
        except UnknownNuclideError as exc:
            raise ValueError(exc.one_line()) from None

    @property
    def activity_bq(self) -> float:
        return self.activity_mbq * BQ_PER_MBQ


class _Series(_Strict):
    administration: str
    times_h: list[float] | None = None
    datetimes: list[_dt.datetime] | None = None
    kinetics_model: Literal["auto", "mono", "bi_uptake", "bi", "tri", "trapezoid"] | None = None

    @model_validator(mode="after")
    def _times(self) -> _Series:
        if (self.times_h is None) == (self.datetimes is None):
            raise ValueError("give exactly one of times_h (relative) or datetimes (absolute)")
        if self.datetimes is not None:
            for d in self.datetimes:
                _aware(d, "measurement datetime")
        n = len(self.times_h if self.times_h is not None else self.datetimes or [])
        if n < 1:
            raise ValueError("at least one time point is needed")
        if self.times_h is not None:
            if any(not math.isfinite(t) or t < 0 for t in self.times_h):
                raise ValueError("times_h must be finite and ≥ 0 h after the administration")
            if any(b <= a for a, b in zip(self.times_h, self.times_h[1:], strict=False)):
                raise ValueError("times must be strictly increasing")
        return self

    def _n(self) -> int:
        return len(self.times_h if self.times_h is not None else self.datetimes or [])


class RegionData(_Series):
    """Time–activity data of one region for one administration."""

    name: str
    kind: RegionKind = "organ"
    tissue: str | None = None
    activity_mbq: list[float]
    decay_corrected: bool = False
    mass_g: float | None = Field(default=None, gt=0)
    volume_ml: float | None = Field(default=None, gt=0)
    density_g_per_ml: float = Field(default=1.0, gt=0, le=3)

    @model_validator(mode="after")
    def _check(self) -> RegionData:
        if len(self.activity_mbq) != self._n():
            raise ValueError(
                f"{len(self.activity_mbq)} activities for {self._n()} time points in {self.name!r}"
            )
        if any(not math.isfinite(a) or a < 0 for a in self.activity_mbq):
            raise ValueError(f"activities of {self.name!r} must be finite and ≥ 0 MBq")
        if self.mass_g is not None and self.volume_ml is not None:
            raise ValueError(f"give mass_g or volume_ml for {self.name!r}, not both")
        return self

    @property
    def mass(self) -> float | None:
        """Mass in g (mass_g, or volume_ml × density)."""
        if self.mass_g is not None:
            return self.mass_g
        if self.volume_ml is not None:
            return self.volume_ml * self.density_g_per_ml
        return None


class BloodSamples(_Series):
    """Blood activity concentrations for the red-marrow (EANM blood-based) method."""

    concentration_kbq_per_ml: list[float]
    rmblr: float = Field(default=1.0, ge=0, le=10)

    @model_validator(mode="after")
    def _check(self) -> BloodSamples:
        if len(self.concentration_kbq_per_ml) != self._n():
            raise ValueError("one blood concentration per time point is needed")
        if any(not math.isfinite(c) or c < 0 for c in self.concentration_kbq_per_ml):
            raise ValueError("blood concentrations must be finite and ≥ 0 kBq/mL")
        return self


class EbrtCourse(_Strict):
    """External-beam radiotherapy received by a region (for EQD2 summation)."""

    region: str
    dose_per_fraction_gy: float = Field(ge=0, le=30)
    fractions: int = Field(ge=0, le=100)


class PlanningLimits(_Strict):
    """Organ limits (all configurable)."""

    kidney_criterion: Literal["bed", "absorbed", "both"] = "bed"
    kidney_absorbed_gy: float = Field(default=23.0, gt=0)
    kidney_bed_gy: float = Field(default=40.0, gt=0)
    kidney_bed_risk_gy: float = Field(default=28.0, gt=0)
    red_marrow_absorbed_gy: float = Field(default=2.0, gt=0)


class PlanningSettings(_Strict):
    """How to plan the next cycles."""

    regimen: str = "lu177-dotatate-netter1"
    max_cycles: int | None = Field(default=None, ge=1, le=12)
    activity_per_cycle_mbq: float | None = Field(default=None, gt=0)
    min_activity_mbq: float = Field(default=1000.0, ge=0)
    limits: PlanningLimits = PlanningLimits()
    confidence_z: float = Field(default=1.645, ge=0, le=5)
    extra_dose_relative_sd: float = Field(default=0.0, ge=0, le=2)
    kidney_region: str = "kidneys"
    kinetics_model: Literal["auto", "mono", "bi_uptake", "bi", "tri", "trapezoid"] = "auto"
    kinetics_cv: float = Field(default=0.10, gt=0, le=2)


class Case(_Strict):
    """A validated case file."""

    schema_version: Literal[1] = 1
    case_id: str = "case"
    patient: Patient
    administrations: list[Administration] = Field(min_length=1)
    regions: list[RegionData] = Field(default_factory=list)
    blood: list[BloodSamples] = Field(default_factory=list)
    ebrt: list[EbrtCourse] = Field(default_factory=list)
    planning: PlanningSettings = PlanningSettings()

    @model_validator(mode="after")
    def _refs(self) -> Case:
        ids = [a.id for a in self.administrations]
        if len(set(ids)) != len(ids):
            raise ValueError("administration ids must be unique")
        cycles = [a.cycle for a in self.administrations]
        if len(set(cycles)) != len(cycles):
            raise ValueError("each cycle number may appear once")
        seen: set[tuple[str, str]] = set()
        for r in self.regions:
            if r.administration not in ids:
                raise ValueError(
                    f"region {r.name!r} refers to unknown administration {r.administration!r}"
                )
            key = (r.name, r.administration)
            if key in seen:
                raise ValueError(
                    f"region {r.name!r} given twice for administration {r.administration!r}"
                )
            seen.add(key)
        for b in self.blood:
            if b.administration not in ids:
                raise ValueError(
                    f"blood samples refer to unknown administration {b.administration!r}"
                )
        names = {r.name for r in self.regions}
        for e in self.ebrt:
            if e.region not in names:
                raise ValueError(f"EBRT course refers to unknown region {e.region!r}")
        return self

    def administration(self, admin_id: str) -> Administration:
        for a in self.administrations:
            if a.id == admin_id:
                return a
        raise InvalidInputError(
            "administration",
            expected=f"one of {[a.id for a in self.administrations]}",
            actual=admin_id,
        )

    def region(self, name: str, administration: str | None = None) -> RegionData:
        """The region's data for ``administration`` (default: the first one that has it)."""
        for r in self.regions:
            if r.name == name and (administration is None or r.administration == administration):
                return r
        raise InvalidInputError(
            "region", expected=f"one of {sorted({r.name for r in self.regions})}", actual=name
        )

    def _times_s(self, series: _Series) -> NDArray[np.float64]:
        admin = self.administration(series.administration)
        if series.times_h is not None:
            return np.asarray(series.times_h, dtype=float) * SECONDS_PER_HOUR
        assert series.datetimes is not None
        t = np.array([(d - admin.datetime).total_seconds() for d in series.datetimes])
        if np.any(t < 0) or np.any(np.diff(t) <= 0):
            raise InvalidInputError(
                "measurement datetimes",
                expected="after the administration and strictly increasing",
                actual=[d.isoformat() for d in series.datetimes],
                fix="check dates and UTC offsets",
            )
        return t

    def series(
        self, name: str, administration: str | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(times in s after administration, activities in Bq, not decay corrected)."""
        r = self.region(name, administration)
        t = self._times_s(r)
        a = np.asarray(r.activity_mbq, dtype=float) * BQ_PER_MBQ
        if r.decay_corrected:
            hl = get_nuclide(self.administration(r.administration).nuclide).half_life_s
            a = a * np.exp(-math.log(2) / hl * t)
        return t, a

    def blood_series(
        self, administration: str
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], float] | None:
        """(times s, blood concentration Bq/mL not decay corrected, RMBLR) or None."""
        for b in self.blood:
            if b.administration == administration:
                return (
                    self._times_s(b),
                    np.asarray(b.concentration_kbq_per_ml, dtype=float) * 1e3,
                    b.rmblr,
                )
        return None


def _format_errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def parse_case(data: Any, *, name: str = "case") -> Case:
    """Validate an already-parsed document (dict) as a case."""
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"case file {name}", expected="a mapping at the top level", actual=type(data).__name__
        )
    try:
        return Case.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(
            f"case file {name}",
            expected="a valid case (schema in docs/kinetics.md)",
            actual=_format_errors(exc),
            fix="correct the listed fields",
        ) from None


def read_document(path: str | Path) -> Any:
    """The parsed document of a JSON (``.json``) or YAML input file, not yet validated."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError("case file", expected="an existing file", actual=str(p))
    text = p.read_text(encoding="utf-8")
    try:
        return json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InvalidInputError(
            "case file",
            expected="valid JSON or YAML",
            actual=f"{p.name}: {' '.join(str(exc).split())}",
        ) from None


def load_case(path: str | Path) -> Case:
    """Read and validate a YAML or JSON case file."""
    return parse_case(read_document(path), name=Path(path).name)


def example_case_path() -> Path:
    """Path of the packaged example case (177Lu-DOTATATE, cycle 1, 4 time points)."""
    return Path(str(resources.files("sstrkit.therapy").joinpath("data/example_case.yaml")))
