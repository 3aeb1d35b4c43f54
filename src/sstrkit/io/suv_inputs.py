"""Inputs of the SUV computation: overrides, the computation context, body data, dose, half-life.

* :class:`Overrides` replace or supply header values (all in sstrkit units).
* ``_Ctx`` carries one computation: the series, the overrides, strictness,
  the warnings so far and the inputs used with their source (for provenance).
* Patient weight (kg), height (cm) and sex from PatientWeight (0010,1030),
  PatientSize (0010,1020) and PatientSex (0010,0040): a weight above
  :data:`MAX_PLAUSIBLE_WEIGHT_KG` is read as grams, a size above 3 as cm,
  0 as missing; swapped weight/height, impossible values and (as warnings)
  unusual ones and the BMI are checked by :mod:`sstrkit.io.plausibility`.
* Administered activity from RadionuclideTotalDose (0018,1074) (a value below
  :data:`MIN_PLAUSIBLE_DOSE_BQ` is read as MBq), checked against the usual
  range of the nuclide (:mod:`sstrkit.io.suv_nuclide`).
* Half-life from RadionuclideHalfLife (0018,1075), else the nuclide named in
  RadionuclideCodeSequence (ICRP 107); a header value ≤ 0 or more than 1 % off
  ICRP 107 is replaced (warning).

Examples
--------
>>> Overrides(weight_kg=80.0, sex="F").given()
{'weight_kg': 80.0, 'sex': 'F'}
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeVar

from pydicom.dataset import Dataset

from sstrkit.core.body import Sex
from sstrkit.core.units import BQ_PER_MBQ, G_PER_KG
from sstrkit.errors import DicomMetadataError, InvalidInputError, SstrkitError
from sstrkit.io import plausibility
from sstrkit.io.dicom_read import DicomSeries
from sstrkit.io.suv_header import _num, _philips_factor, _radiopharm_item, _tz
from sstrkit.io.suv_nuclide import _code_nuclide, _icrp_half_life_s, _identify_nuclide

__all__ = [
    "MAX_PLAUSIBLE_WEIGHT_KG",
    "MIN_PLAUSIBLE_DOSE_BQ",
    "DecayCorrection",
    "Overrides",
    "Strictness",
]

Strictness = Literal["raise", "warn"]
DecayCorrection = Literal["START", "ADMIN", "NONE"]

#: Smallest administered activity read as Bq; smaller values can only be MBq.
MIN_PLAUSIBLE_DOSE_BQ = 1e5
#: Largest plausible body weight in kg; larger PatientWeight values are grams.
MAX_PLAUSIBLE_WEIGHT_KG = 1000.0


@dataclass(frozen=True)
class Overrides:
    """Values that replace (or supply) header attributes; all in sstrkit units.

    ``injection_time`` may be naive; it is then read in the series' time zone.
    ``calibration_bqml_per_cps`` converts PET ``CPS`` images;
    ``sensitivity_cps_per_mbq`` and ``acquisition_duration_s`` convert SPECT
    counts. ``decay_correction`` replaces DecayCorrection (0054,1102).
    """

    weight_kg: float | None = None
    height_cm: float | None = None
    sex: Sex | None = None
    injected_activity_bq: float | None = None
    injection_time: _dt.datetime | None = None
    half_life_s: float | None = None
    calibration_bqml_per_cps: float | None = None
    sensitivity_cps_per_mbq: float | None = None
    acquisition_duration_s: float | None = None
    decay_correction: DecayCorrection | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            bad = isinstance(v, float | int) and not (math.isfinite(v) and v > 0)
            if bad and not isinstance(v, bool):
                raise InvalidInputError(
                    f"override {f.name}", expected="a finite value > 0", actual=v
                )
        if self.sex is not None and self.sex not in ("M", "F"):
            raise InvalidInputError("override sex", expected="'M' or 'F'", actual=self.sex)
        if self.decay_correction is not None and self.decay_correction not in (
            "START",
            "ADMIN",
            "NONE",
        ):
            raise InvalidInputError(
                "override decay_correction",
                expected="START, ADMIN or NONE",
                actual=self.decay_correction,
            )

    def given(self) -> dict[str, Any]:
        """The overrides that were set (for provenance)."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }


_T = TypeVar("_T")


@dataclass
class _Ctx:
    """One SUV/activity computation: inputs, strictness, warnings and what was used."""

    series: DicomSeries
    overrides: Overrides
    strictness: Strictness
    warnings: list[str]
    used: dict[str, Any]
    #: run the warning-only plausibility checks (usual ranges, BMI, activity range)
    checks: bool = True
    #: what the header held for a value that could not be used (for error messages)
    found: dict[str, str] = field(default_factory=dict)
    #: the half-life once resolved (read once per computation)
    half_life: float | None = None

    @property
    def ds(self) -> Dataset:
        return self.series.header

    @functools.cached_property
    def tz(self) -> _dt.tzinfo:
        """Time zone of the header (computed once per call: used for every slice)."""
        return _tz(self.ds)

    @functools.cached_property
    def philips(self) -> tuple[float | None, float | None]:
        """Philips (SUV scale factor (7053,xx00), activity scale factor (7053,xx09))."""
        return (
            _philips_factor(self.ds, 0x00, self.warnings),
            _philips_factor(self.ds, 0x09, self.warnings),
        )

    @functools.cached_property
    def nuclide(self) -> tuple[str | None, str]:
        """The radionuclide (ICRP 107 name) and where it was read, or (None, "")."""
        return _identify_nuclide(self.ds, self.overrides.half_life_s)

    def override(self, key: str, value: _T | None) -> _T | None:
        """``value`` (an override), recorded in ``used`` under ``key`` when given."""
        if value is not None:
            self.used[key] = {"value": value, "source": "override"}
        return value

    def problem(self, err: SstrkitError) -> None:
        """Raise in strict mode, record a warning otherwise."""
        if self.strictness == "raise":
            raise err
        self.warnings.append(err.one_line())

    def note(self, warnings: list[str]) -> None:
        """Record the warnings of a warning-only plausibility check (unless disabled)."""
        if self.checks:
            self.warnings.extend(warnings)


def _check_swap(ctx: _Ctx) -> None:
    """Raise when the header weight looks like metres and the size like kilograms."""
    w = _num(ctx.ds, "PatientWeight", "0010,1030")
    size = _num(ctx.ds, "PatientSize", "0010,1020")
    if w is not None and size is not None:
        plausibility.check_swapped_weight_height(w, size)


def _weight_kg(ctx: _Ctx) -> float | None:
    """Body weight (kg): override, else PatientWeight (grams above 1000), checked."""
    if (ov := ctx.override("weight_kg", ctx.overrides.weight_kg)) is not None:
        ctx.note(plausibility.check_weight(ov, what="weight override (--weight-kg)", override=True))
        return ov
    w = _num(ctx.ds, "PatientWeight", "0010,1030")
    if w is None:
        ctx.found["weight"] = "absent"
        return None
    if w == 0:
        ctx.warnings.append("PatientWeight (0010,1030) is 0: treated as missing")
        ctx.found["weight"] = "0 (treated as missing)"
        return None
    _check_swap(ctx)
    what = "PatientWeight (0010,1030)"
    if w > MAX_PLAUSIBLE_WEIGHT_KG:
        ctx.warnings.append(
            f"PatientWeight (0010,1030) = {w:g} can only be grams: read as {w / G_PER_KG:g} kg "
            "(override with --weight-kg)"
        )
        what = f"PatientWeight (0010,1030) = {w:g} read as grams"
        w = w / G_PER_KG
    ctx.note(plausibility.check_weight(w, what=what))
    ctx.used["weight_kg"] = {"value": w, "source": "PatientWeight (0010,1030)"}
    return w


def _height_cm(ctx: _Ctx) -> float | None:
    """Body height (cm): override, else PatientSize (m; read as cm above 3), checked."""
    if (ov := ctx.override("height_cm", ctx.overrides.height_cm)) is not None:
        ctx.note(plausibility.check_height(ov, what="height override (--height-cm)", override=True))
        return ov
    h = _num(ctx.ds, "PatientSize", "0010,1020")
    if h is None:
        ctx.found["height"] = "absent"
        return None
    if h == 0:
        ctx.warnings.append("PatientSize (0010,1020) is 0: treated as missing")
        ctx.found["height"] = "0 (treated as missing)"
        return None
    _check_swap(ctx)
    what = "PatientSize (0010,1020)"
    if h > 3.0:
        ctx.warnings.append(
            f"PatientSize (0010,1020) = {h:g} cannot be metres: read as {h:g} cm "
            "(override with --height-cm)"
        )
        what = f"PatientSize (0010,1020) = {h:g} read as cm"
        cm = h
    else:
        cm = h * 100.0
    ctx.note(plausibility.check_height(cm, what=what))
    ctx.used["height_cm"] = {"value": cm, "source": "PatientSize (0010,1020)"}
    return cm


def _sex(ctx: _Ctx) -> str | None:
    """Sex ``"M"``/``"F"``: override, else PatientSex; None for "O", other or absent."""
    if (ov := ctx.override("sex", ctx.overrides.sex)) is not None:
        return ov
    s = str(ctx.ds.get("PatientSex") or "").strip().upper()
    if s in ("M", "F"):
        ctx.used["sex"] = {"value": s, "source": "PatientSex (0010,0040)"}
        return s
    ctx.found["sex"] = "'O' (other)" if s == "O" else (repr(s) if s else "absent")
    return None


def _sex_is_other(ctx: _Ctx) -> bool:
    """True when PatientSex is "O" (other) and no sex was given."""
    return ctx.overrides.sex is None and str(ctx.ds.get("PatientSex") or "").strip().upper() == "O"


def _quiet_height_cm(ctx: _Ctx) -> float | None:
    """Header height for the BMI check only (no warnings, None when unusable)."""
    h = _num(ctx.ds, "PatientSize", "0010,1020")
    if h is None or h <= 0:
        return None
    cm = h if h > 3.0 else h * 100.0
    lo, hi = plausibility.HEIGHT_POSSIBLE_CM
    return cm if lo <= cm <= hi else None


def _body(ctx: _Ctx, needs: frozenset[str]) -> tuple[float | None, float | None, str | None]:
    """Weight (kg), height (cm) and sex that ``needs`` lists, checked; BMI warning."""
    w = _weight_kg(ctx) if "weight" in needs else None
    h = _height_cm(ctx) if "height" in needs else None
    s = _sex(ctx) if "sex" in needs else None
    if ctx.checks and w is not None:
        hb = h if h is not None else (ctx.overrides.height_cm or _quiet_height_cm(ctx))
        if hb is not None:
            ctx.note(plausibility.check_bmi(w, hb))
    return w, h, s


def _dose_bq(ctx: _Ctx) -> float:
    """Administered activity (Bq): override, else RadionuclideTotalDose (MBq below 1e5), checked."""
    nuclide, nuclide_source = ctx.nuclide
    if (ov := ctx.override("injected_activity_bq", ctx.overrides.injected_activity_bq)) is not None:
        ctx.note(
            plausibility.check_activity(
                ov,
                nuclide,
                what="administered activity override (--dose-mbq)",
                nuclide_source=nuclide_source,
                override=True,
            )
        )
        return ov
    d = _num(_radiopharm_item(ctx.ds), "RadionuclideTotalDose", "0018,1074")
    what = "RadionuclideTotalDose (0018,1074)"
    if d is None:
        raise DicomMetadataError(
            what,
            expected="the administered activity in Bq",
            actual="absent",
            fix="pass the administered activity (CLI --dose-mbq, API "
            "Overrides(injected_activity_bq=...))",
        )
    if 0 < d < MIN_PLAUSIBLE_DOSE_BQ:
        ctx.warnings.append(
            f"RadionuclideTotalDose (0018,1074) = {d:g} can only be MBq: read as {d:g} MBq "
            "(override with --dose-mbq)"
        )
        what = f"RadionuclideTotalDose (0018,1074) = {d:g} read as MBq"
        d = d * BQ_PER_MBQ
    warns = plausibility.check_activity(d, nuclide, what=what, nuclide_source=nuclide_source)
    ctx.note(warns)
    ctx.used["injected_activity_bq"] = {"value": d, "source": "RadionuclideTotalDose (0018,1074)"}
    return d


def _half_life_s(ctx: _Ctx) -> float:
    """Half-life (s): override, else RadionuclideHalfLife checked against ICRP 107 (once)."""
    if ctx.half_life is not None:
        return ctx.half_life
    if (ov := ctx.override("half_life_s", ctx.overrides.half_life_s)) is not None:
        ctx.half_life = ov
        return ov
    from sstrkit.physics.nuclides import DATA_SOURCE

    item = _radiopharm_item(ctx.ds)
    hl = _num(item, "RadionuclideHalfLife", "0018,1075")
    code_nuclide = _code_nuclide(ctx.ds)
    code_hl = _icrp_half_life_s(code_nuclide)
    value, warns = plausibility.check_half_life(hl, code_hl, code_nuclide)
    ctx.warnings.extend(warns)  # a replaced value is always reported
    if value is None:
        raise DicomMetadataError(
            "RadionuclideHalfLife (0018,1075)",
            expected="the half-life in s (or a RadionuclideCodeSequence naming the nuclide)",
            actual="absent",
            fix="pass the half-life (CLI --half-life-s, API Overrides(half_life_s=...))",
        )
    if hl is not None and value == hl:
        ctx.used["half_life_s"] = {"value": hl, "source": "RadionuclideHalfLife (0018,1075)"}
    else:
        ctx.used["half_life_s"] = {
            "value": value,
            "source": f"RadionuclideCodeSequence {code_nuclide} ({DATA_SOURCE})",
        }
    ctx.half_life = value
    return value
