"""Activity concentration (Bq/mL) and SUV from PET/SPECT DICOM headers.

The computation follows the vendor-neutral SUV pseudo-code of the QIBA
FDG-PET/CT profile (v1.13, 2016, Appendix G) and the DICOM PET Image module:

**Units** (0054,1001)
    ``BQML`` as is; Philips ``CNTS``: SUVbw = CNTS × the private *SUV scale
    factor* (7053,1000) when present (QIBA; not with DecayCorrection NONE),
    and Bq/mL = CNTS × the *activity concentration scale factor* (7053,1009)
    (both read by tag position, with a warning, when their private creator is
    missing); ``CPS`` × a calibration factor
    ((Bq/mL)/(counts/s), override or ``DoseCalibrationFactor`` (0054,1322));
    NM counts → Bq/mL with a user sensitivity (cps/MBq) and the acquisition
    duration; ``GML`` (already SUV, ``SUVType`` (0054,1006), default BW) and
    ``CM2ML`` (SUVbsa) are converted between normalisations with the patient
    data of the header (a sex-specific stored type with PatientSex "O": the
    mean of the male and female factors).
**Decay correction** (0054,1102)
    ``START``: values refer to the scan start. Reference time = SeriesDate/Time,
    unless it is later than the earliest AcquisitionDate/Time (post-processed
    series); then the GE private scan datetime (0009,xx0D "GEMS_PETD_01"), else
    the QIBA back-computation from AcquisitionTime, FrameReferenceTime and
    ActualFrameDuration, else the earliest AcquisitionTime (with a warning).
    ``ADMIN``: values refer to the administration time; no decay of the dose.
    ``NONE``: each slice is the mean over its frame, not decay corrected; it is
    corrected to the frame start (× λT/(1 − e^(−λT))) and then to the earliest
    frame start, which becomes the reference time.
**Administration time**
    RadiopharmaceuticalStartDateTime (0018,1078), else GE private admin
    datetime (0009,xx3B), else RadiopharmaceuticalStartTime (0018,1072) on the
    scan date — one day earlier when it would be after the scan (midnight).
**Half-life**
    RadionuclideHalfLife (0018,1075), else the nuclide named in
    RadionuclideCodeSequence (ICRP 107 via :mod:`sstrkit.physics.nuclides`);
    a header value ≤ 0 or more than 1 % off ICRP 107 is replaced (warning).
**Plausibility**
    Weight, height, BMI, weight/height swaps, administered activity per
    nuclide and the half-life are checked by :mod:`sstrkit.io.plausibility`:
    impossible values raise, unusual ones are listed in ``warnings``.

SUV = C × M / D(t_ref) where C is in Bq/mL, M the normalising body measure
(g for bw/lbm/ibw, cm² for bsa) and D(t_ref) = D₀·2^(−(t_ref − t_inj)/T½) the
administered activity decayed to the reference time. The **SUV factor** is
M/D(t_ref) in (g/mL)/(Bq/mL) (or (cm²/mL)/(Bq/mL)) — QIBA's "SUVbwScaleFactor".

Examples
--------
>>> # 400 MBq injected one half-life (1 h) before the scan, 80 kg patient:
>>> factor = suv_factor("bw", activity_at_reference_bq=400e6 * 0.5, weight_kg=80.0)
>>> factor, 5000.0 * factor      # a voxel of 5 kBq/mL has SUVbw 2
(0.0004, 2.0)
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from sstrkit.core import body
from sstrkit.core.body import Sex
from sstrkit.core.volume import Volume
from sstrkit.errors import DicomMetadataError, InvalidInputError, SstrkitError
from sstrkit.io import plausibility
from sstrkit.io.dicom_read import DicomSeries, SliceMeta
from sstrkit.io.dicom_time import parse_da_tm, parse_dt, tz_from_offset

__all__ = [
    "NORMALIZATIONS",
    "ActivityResult",
    "Normalization",
    "Overrides",
    "Strictness",
    "SuvResult",
    "activity_concentration",
    "compute_suv",
    "normalization_measure",
    "suv_factor",
]

Normalization = Literal["bw", "lbm", "lbm-james", "lbm-james120", "bsa", "ibw"]
NORMALIZATIONS: tuple[str, ...] = ("bw", "lbm", "lbm-james", "lbm-james120", "bsa", "ibw")
Strictness = Literal["raise", "warn"]
DecayCorrection = Literal["START", "ADMIN", "NONE"]

QIBA = "QIBA FDG-PET/CT Profile v1.13 (2016), Appendix G vendor-neutral SUV pseudo-code"
#: DICOM SUVType (0054,1006) → sstrkit normalisation (DICOM CID 85: "LBM" is James with 120).
SUV_TYPES: dict[str, Normalization] = {
    "BW": "bw",
    "LBM": "lbm-james120",
    "LBMJAMES128": "lbm-james",
    "LBMJANMA": "lbm",
    "BSA": "bsa",
    "IBW": "ibw",
}
UNITS_OF_NORM = {n: ("cm2/mL" if n == "bsa" else "g/mL") for n in NORMALIZATIONS}

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


@dataclass(frozen=True)
class ActivityResult:
    """Activity concentration volume (Bq/mL) decay corrected to ``reference_time``."""

    volume: Volume
    reference_time: _dt.datetime
    reference_time_source: str
    decay_correction: str
    half_life_s: float | None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SuvResult:
    """SUV of one normalisation (or ``None`` where it cannot be computed in warn mode)."""

    normalization: str
    suv: Volume | None
    suv_factor: float | None
    activity: Volume | None
    reference_time: _dt.datetime | None
    warnings: tuple[str, ...]
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "normalization": self.normalization,
            "suv_factor": self.suv_factor,
            "reference_time": self.reference_time.isoformat() if self.reference_time else None,
            "warnings": list(self.warnings),
            "parameters": dict(self.parameters),
        }


# ------------------------------------------------------------------ formulas
def normalization_measure(
    normalization: str,
    *,
    weight_kg: float | None,
    height_cm: float | None = None,
    sex: str | None = None,
    found: Mapping[str, str] | None = None,
) -> float:
    """Normalising body measure: grams (bw, lbm*, ibw) or cm² (bsa).

    ``found`` says what the header held for a value that is ``None`` (keys
    ``weight``, ``height``, ``sex``; e.g. ``{"sex": "'O' (other)"}``), for the
    error message; default "absent".

    >>> normalization_measure("bw", weight_kg=70.0)
    70000.0
    >>> round(normalization_measure("bsa", weight_kg=70.0, height_cm=170.0), 1)
    18097.1
    """
    if normalization not in NORMALIZATIONS:
        raise InvalidInputError(
            "SUV normalisation", expected=f"one of {list(NORMALIZATIONS)}", actual=normalization
        )

    def need(value: float | str | None, key: str, name: str, fix: str) -> Any:
        if value is None:
            expected = "M or F" if key == "sex" else "a value"
            raise DicomMetadataError(
                name,
                expected=f"{expected} (needed for SUV{normalization})",
                actual=(found or {}).get(key, "absent"),
                fix=fix,
            )
        return value

    w_fix = "pass the weight (CLI --weight-kg, API Overrides(weight_kg=...))"
    h_fix = "pass the height (CLI --height-cm, API Overrides(height_cm=...))"
    s_fix = "pass the sex (CLI --sex M|F, API Overrides(sex=...))"
    if normalization == "ibw":
        return 1000.0 * body.ideal_body_weight(
            need(height_cm, "height", "PatientSize (0010,1020)", h_fix),
            need(sex, "sex", "PatientSex (0010,0040)", s_fix),
        )
    w = need(weight_kg, "weight", "PatientWeight (0010,1030)", w_fix)
    if normalization == "bw":
        return 1000.0 * float(w)
    h = need(height_cm, "height", "PatientSize (0010,1020)", h_fix)
    if normalization == "bsa":
        return 1e4 * body.bsa_du_bois(w, h)
    s = need(sex, "sex", "PatientSex (0010,0040)", s_fix)
    if normalization == "lbm":
        return 1000.0 * body.lbm_janmahasatian(w, h, s)
    coef = 120.0 if normalization == "lbm-james120" else 128.0
    return 1000.0 * body.lbm_james(w, h, s, male_coefficient=coef)


def suv_factor(
    normalization: str,
    *,
    activity_at_reference_bq: float,
    weight_kg: float | None,
    height_cm: float | None = None,
    sex: str | None = None,
) -> float:
    """SUV factor M / D(t_ref) in (g/mL)/(Bq/mL) ((cm²/mL)/(Bq/mL) for bsa)."""
    if not (math.isfinite(activity_at_reference_bq) and activity_at_reference_bq > 0):
        raise InvalidInputError(
            "activity at reference time", expected="> 0 Bq", actual=activity_at_reference_bq
        )
    measure = normalization_measure(
        normalization, weight_kg=weight_kg, height_cm=height_cm, sex=sex
    )
    return measure / activity_at_reference_bq


def average_activity_time_s(frame_duration_s: float, half_life_s: float) -> float:
    """Time after frame start at which the decaying activity equals its frame mean.

    T_ave = (1/λ)·ln(λT / (1 − e^(−λT))) (DICOM PS3.3 C.8.9.4.1.5, Example 2).

    >>> round(average_activity_time_s(600.0, 6586.2), 3)    # 10 min F-18 frame
    298.421
    """
    lam = math.log(2) / half_life_s
    x = lam * frame_duration_s
    if x < 1e-8:
        return frame_duration_s / 2.0
    return math.log(x / -math.expm1(-x)) / lam


# ------------------------------------------------------------ header reading
_T = TypeVar("_T")


#: Private creator of the Philips PET scale factors (7053,xx00) SUV and (7053,xx09) Bq/mL.
PHILIPS_CREATOR = "Philips PET Private Group"
#: Body measures each normalisation needs.
_NEEDS: dict[str, frozenset[str]] = {
    "bw": frozenset({"weight"}),
    "bsa": frozenset({"weight", "height"}),
    "lbm": frozenset({"weight", "height", "sex"}),
    "lbm-james": frozenset({"weight", "height", "sex"}),
    "lbm-james120": frozenset({"weight", "height", "sex"}),
    "ibw": frozenset({"height", "sex"}),
}


@dataclass
class _Ctx:
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
        return _identify_nuclide(self)

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


def _tz(ds: Dataset) -> _dt.tzinfo:
    off = ds.get("TimezoneOffsetFromUTC")
    return tz_from_offset(str(off)) if off else _dt.UTC


def _num(ds: Dataset | None, keyword: str, tag: str) -> float | None:
    if ds is None:
        return None
    value = ds.get(keyword)
    if value is None or str(value).strip() == "":
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DicomMetadataError(
            f"{keyword} ({tag})", expected="a number", actual=repr(value), fix="correct it"
        ) from None
    return v if math.isfinite(v) else None


def _private(ds: Dataset, group: int, offset: int, creator: str) -> Any:
    try:
        return ds.get_private_item(group, offset, creator).value
    except KeyError:
        return None


def _as_float(value: Any) -> float | None:
    """A DS/FD/FL value, or the raw bytes of an element read without its VR (UN)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
        try:
            return float(raw.decode("ascii").strip(" \x00"))
        except (UnicodeDecodeError, ValueError):
            if len(raw) == 8:
                return float(struct.unpack("<d", raw)[0])
            if len(raw) == 4:
                return float(struct.unpack("<f", raw)[0])
            return None
    if str(value).strip() == "":
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _philips_factor(ds: Dataset, offset: int, warnings: list[str]) -> float | None:
    """Philips (7053,xx<offset>) scale factor.

    Read through its private creator "Philips PET Private Group"; when no
    creator element is present at all in group 7053 (anonymisers often drop
    it), the element at the creator's usual block position (7053,10xx) is read
    by tag position, with a warning.
    """
    creators = [str(ds[(0x7053, e)].value).strip() for e in range(0x10, 0x100) if (0x7053, e) in ds]
    tag = f"(7053,10{offset:02X})"
    if PHILIPS_CREATOR in creators:
        return _as_float(_private(ds, 0x7053, offset, PHILIPS_CREATOR))
    if creators:  # the block belongs to another creator: not Philips' factor
        return None
    elem = ds.get((0x7053, 0x1000 + offset))
    if elem is None:
        return None
    value = _as_float(elem.value)
    if value is not None:
        name = "SUV scale factor" if offset == 0x00 else "activity concentration scale factor"
        warnings.append(
            f"Philips {name} {tag} = {value:g} read by tag position: its private creator "
            f"(7053,0010) {PHILIPS_CREATOR!r} is absent (anonymised header?)"
        )
    return value


def _radiopharm_item(ds: Dataset) -> Dataset | None:
    seq = ds.get("RadiopharmaceuticalInformationSequence")
    return seq[0] if seq else None


def _check_swap(ctx: _Ctx) -> None:
    """Raise when the header weight looks like metres and the size like kilograms."""
    w = _num(ctx.ds, "PatientWeight", "0010,1030")
    size = _num(ctx.ds, "PatientSize", "0010,1020")
    if w is not None and size is not None:
        plausibility.check_swapped_weight_height(w, size)


def _weight_kg(ctx: _Ctx) -> float | None:
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
            f"PatientWeight (0010,1030) = {w:g} can only be grams: read as {w / 1000:g} kg "
            "(override with --weight-kg)"
        )
        what = f"PatientWeight (0010,1030) = {w:g} read as grams"
        w = w / 1000.0
    ctx.note(plausibility.check_weight(w, what=what))
    ctx.used["weight_kg"] = {"value": w, "source": "PatientWeight (0010,1030)"}
    return w


def _height_cm(ctx: _Ctx) -> float | None:
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
    if (ov := ctx.override("sex", ctx.overrides.sex)) is not None:
        return ov
    s = str(ctx.ds.get("PatientSex") or "").strip().upper()
    if s in ("M", "F"):
        ctx.used["sex"] = {"value": s, "source": "PatientSex (0010,0040)"}
        return s
    ctx.found["sex"] = "'O' (other)" if s == "O" else (repr(s) if s else "absent")
    return None


def _sex_is_other(ctx: _Ctx) -> bool:
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
        d = d * 1e6
    warns = plausibility.check_activity(d, nuclide, what=what, nuclide_source=nuclide_source)
    ctx.note(warns)
    ctx.used["injected_activity_bq"] = {"value": d, "source": "RadionuclideTotalDose (0018,1074)"}
    return d


_ELEMENT_NAMES = {
    "fluorine": "F",
    "gallium": "Ga",
    "lutetium": "Lu",
    "copper": "Cu",
    "indium": "In",
    "technetium": "Tc",
    "yttrium": "Y",
    "iodine": "I",
    "zirconium": "Zr",
    "carbon": "C",
    "oxygen": "O",
    "nitrogen": "N",
    "rubidium": "Rb",
    "scandium": "Sc",
    "terbium": "Tb",
    "actinium": "Ac",
    "lead": "Pb",
    "bismuth": "Bi",
    "thallium": "Tl",
    "samarium": "Sm",
    "holmium": "Ho",
    "rhenium": "Re",
    "radium": "Ra",
    "strontium": "Sr",
    "xenon": "Xe",
    "cobalt": "Co",
    "germanium": "Ge",
}


def nuclide_from_code_meaning(meaning: str) -> str | None:
    """``"^18^Fluorine"`` or ``"Fluorine^18^"`` → ``"F-18"``; None if not recognised.

    >>> nuclide_from_code_meaning("^177^Lutetium"), nuclide_from_code_meaning("^99m^Technetium")
    ('Lu-177', 'Tc-99m')
    """
    text = meaning.strip()
    m = re.search(r"\^?(\d+m?)\^?\s*([A-Za-z]+)", text) or re.search(
        r"([A-Za-z]+)\s*\^?(\d+m?)\^?", text
    )
    if m is None:
        return None
    a, name = (m.group(1), m.group(2)) if m.group(1)[0].isdigit() else (m.group(2), m.group(1))
    symbol = _ELEMENT_NAMES.get(name.lower())
    if symbol is None and len(name) <= 2:
        symbol = name.capitalize()
    return f"{symbol}-{a}" if symbol else None


def _code_nuclide(ctx: _Ctx) -> str | None:
    """Nuclide named by RadionuclideCodeSequence (0054,0300) > CodeMeaning, if any."""
    item = _radiopharm_item(ctx.ds)
    codes = item.get("RadionuclideCodeSequence") if item is not None else None
    if not codes:
        return None
    return nuclide_from_code_meaning(str(codes[0].get("CodeMeaning") or ""))


def _icrp_half_life_s(nuclide: str | None) -> float | None:
    if nuclide is None:
        return None
    from sstrkit.physics.nuclides import get_nuclide

    try:
        return get_nuclide(nuclide).half_life_s
    except SstrkitError:
        return None


_NAME_NUCLIDE = (
    re.compile(r"(?<![A-Za-z0-9])(\d{1,3}m?)-?([A-Z][a-z]?)(?![a-z])"),
    re.compile(r"(?<![A-Za-z])([A-Z][a-z]?)-?(\d{1,3}m?)(?![0-9])"),
)


def nuclide_from_radiopharmaceutical(name: str) -> str | None:
    """``"68Ga-DOTATATE"``, ``"Ga-68 DOTATOC"``, ``"18F-FDG"`` → ICRP 107 name; else None.

    Only names of nuclides in ICRP 107 are accepted; ``FDG`` alone means F-18.

    >>> nuclide_from_radiopharmaceutical("68Ga-DOTATATE"), nuclide_from_radiopharmaceutical("FDG")
    ('Ga-68', 'F-18')
    >>> nuclide_from_radiopharmaceutical("PSMA-11") is None
    True
    """
    for pattern in _NAME_NUCLIDE:
        for m in pattern.finditer(name):
            a, sym = (m.group(1), m.group(2)) if m.group(1)[0].isdigit() else m.group(2, 1)
            candidate = f"{sym}-{a}"
            if _icrp_half_life_s(candidate) is not None:
                return candidate
    upper = name.upper()
    if "FDG" in upper or "FLUORODEOXYGLUCOSE" in upper:
        return "F-18"
    return None


def _identify_nuclide(ctx: _Ctx) -> tuple[str | None, str]:
    """Radionuclide for the plausibility checks: code sequence, name, else half-life."""
    code = _code_nuclide(ctx)
    if code is not None:
        return code, "RadionuclideCodeSequence"
    item = _radiopharm_item(ctx.ds)
    for keyword in ("Radionuclide", "Radiopharmaceutical"):
        text = str(item.get(keyword) or "") if item is not None else ""
        from_name = nuclide_from_radiopharmaceutical(text) if text else None
        if from_name is not None:
            return from_name, f"{keyword} {text!r}"
    hl = ctx.overrides.half_life_s or _num(item, "RadionuclideHalfLife", "0018,1075")
    if hl is not None and hl > 0:
        for name in plausibility.ACTIVITY_RANGES:
            ref = _icrp_half_life_s(name)
            if ref is not None and abs(hl - ref) <= plausibility.HALF_LIFE_TOLERANCE * ref:
                return name, f"half-life {hl:g} s"
    return None, ""


def _half_life_s(ctx: _Ctx) -> float:
    if ctx.half_life is not None:
        return ctx.half_life
    if (ov := ctx.override("half_life_s", ctx.overrides.half_life_s)) is not None:
        ctx.half_life = ov
        return ov
    from sstrkit.physics.nuclides import DATA_SOURCE

    item = _radiopharm_item(ctx.ds)
    hl = _num(item, "RadionuclideHalfLife", "0018,1075")
    code_nuclide = _code_nuclide(ctx)
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


def _slice_datetime(ctx: _Ctx, s: SliceMeta) -> _dt.datetime | None:
    if not s.acquisition_time:
        return None
    date = s.acquisition_date or str(ctx.ds.get("SeriesDate") or ctx.ds.get("StudyDate") or "")
    if not date:
        return None
    return _parse_slice_time(date, s.acquisition_time, ctx.tz)


@functools.lru_cache(maxsize=4096)
def _parse_slice_time(date: str, time: str, tz: _dt.tzinfo) -> _dt.datetime:
    # slices share few distinct times: parse each once (errors are not cached)
    return parse_da_tm(date, time, tz, tag="AcquisitionDate/Time (0008,0022/0032)")


def _series_datetime(ctx: _Ctx) -> _dt.datetime | None:
    ds = ctx.ds
    time = ds.get("SeriesTime")
    date = ds.get("SeriesDate") or ds.get("AcquisitionDate") or ds.get("StudyDate")
    if not time or not date:
        return None
    return parse_da_tm(str(date), str(time), _tz(ds), tag="SeriesDate/SeriesTime (0008,0021/0031)")


def _earliest_slice(ctx: _Ctx) -> tuple[SliceMeta, _dt.datetime] | None:
    best: tuple[SliceMeta, _dt.datetime] | None = None
    for s in ctx.series.slices:
        t = _slice_datetime(ctx, s)
        if t is not None and (best is None or t < best[1]):
            best = (s, t)
    return best


def _start_reference(ctx: _Ctx, half_life_s: float) -> tuple[_dt.datetime, str]:
    series_t = _series_datetime(ctx)
    earliest = _earliest_slice(ctx)
    if series_t is not None and (earliest is None or series_t <= earliest[1]):
        return series_t, "SeriesDate/SeriesTime (0008,0021/0031)"
    ge = _private(ctx.ds, 0x0009, 0x0D, "GEMS_PETD_01")
    if ge:
        return (
            parse_dt(str(ge), _tz(ctx.ds), tag="GE private scan_datetime (0009,xx0D)"),
            "GE private scan_datetime (0009,xx0D GEMS_PETD_01)",
        )
    if earliest is None:
        raise DicomMetadataError(
            "SeriesTime (0008,0031) / AcquisitionTime (0008,0032)",
            expected="the scan start time",
            actual="absent",
            fix="the series has no usable time; correct the header (or use DecayCorrection "
            "ADMIN data)",
        )
    s, t_acq = earliest
    frt, dur = s.frame_reference_time_ms, s.actual_frame_duration_ms
    if frt is not None and frt > 0 and dur is not None and dur > 0:
        t_ave = average_activity_time_s(dur / 1000.0, half_life_s)
        ref = t_acq - _dt.timedelta(seconds=frt / 1000.0) + _dt.timedelta(seconds=t_ave)
        return ref, (
            "AcquisitionTime − FrameReferenceTime + T_ave (QIBA back-computation; SeriesTime "
            "is later than AcquisitionTime)"
        )
    ctx.warnings.append(
        "SeriesTime (0008,0031) is later than AcquisitionTime (0008,0032) and neither the GE "
        "scan datetime nor FrameReferenceTime is available: the earliest AcquisitionTime "
        f"({t_acq.isoformat()}) is used as the decay-correction reference"
    )
    return t_acq, "earliest AcquisitionDate/AcquisitionTime (0008,0022/0032)"


def _injection_time(ctx: _Ctx, anchor: _dt.datetime | None) -> _dt.datetime:
    tz = _tz(ctx.ds)
    ov = ctx.overrides.injection_time
    if ov is not None:
        t = ov if ov.tzinfo is not None and ov.utcoffset() is not None else ov.replace(tzinfo=tz)
        ctx.used["injection_time"] = {"value": t.isoformat(), "source": "override"}
        return t
    item = _radiopharm_item(ctx.ds)
    start_dt = item.get("RadiopharmaceuticalStartDateTime") if item is not None else None
    if start_dt:
        t = parse_dt(str(start_dt), tz, tag="RadiopharmaceuticalStartDateTime (0018,1078)")
        ctx.used["injection_time"] = {
            "value": t.isoformat(),
            "source": "RadiopharmaceuticalStartDateTime (0018,1078)",
        }
        return t
    ge = _private(ctx.ds, 0x0009, 0x3B, "GEMS_PETD_01")
    if ge:
        t = parse_dt(str(ge), tz, tag="GE private admin_datetime (0009,xx3B)")
        ctx.used["injection_time"] = {
            "value": t.isoformat(),
            "source": "GE admin_datetime (0009,xx3B)",
        }
        return t
    start_tm = item.get("RadiopharmaceuticalStartTime") if item is not None else None
    if not start_tm:
        raise DicomMetadataError(
            "RadiopharmaceuticalStartDateTime (0018,1078) / RadiopharmaceuticalStartTime "
            "(0018,1072)",
            expected="the administration time",
            actual="absent",
            fix="pass the injection time (CLI --injection-time 2026-01-05T09:30, API "
            "Overrides(injection_time=...))",
        )
    if anchor is None:
        date = ctx.ds.get("SeriesDate") or ctx.ds.get("AcquisitionDate") or ctx.ds.get("StudyDate")
        if not date:
            raise DicomMetadataError(
                "SeriesDate (0008,0021)",
                expected="a date for RadiopharmaceuticalStartTime",
                actual="absent",
                fix="pass the injection time with its date (CLI --injection-time)",
            )
        day = str(date)
    else:
        day = anchor.strftime("%Y%m%d")
    t = parse_da_tm(day, str(start_tm), tz, tag="RadiopharmaceuticalStartTime (0018,1072)")
    source = "RadiopharmaceuticalStartTime (0018,1072) on the scan date"
    if anchor is not None and t > anchor:
        t -= _dt.timedelta(days=1)
        source += ", previous day (midnight crossing)"
        ctx.warnings.append(
            f"RadiopharmaceuticalStartTime {start_tm} is after the scan time "
            f"{anchor.time().isoformat()}: injection taken on the previous day ({t.date()})"
        )
    ctx.used["injection_time"] = {"value": t.isoformat(), "source": source}
    return t


def _decay_correction(ctx: _Ctx) -> DecayCorrection:
    ov: DecayCorrection | None = ctx.override("decay_correction", ctx.overrides.decay_correction)
    if ov is not None:
        return ov
    dc = str(ctx.ds.get("DecayCorrection") or "").strip().upper()
    if dc in ("START", "ADMIN", "NONE"):
        ctx.used["decay_correction"] = {"value": dc, "source": "DecayCorrection (0054,1102)"}
        corrected = [str(v).upper() for v in (ctx.ds.get("CorrectedImage") or [])]
        if corrected and dc != "NONE" and "DECY" not in corrected:
            ctx.problem(
                DicomMetadataError(
                    "CorrectedImage (0028,0051)",
                    expected=f"DECY (DecayCorrection is {dc})",
                    actual="\\".join(corrected),
                    fix="inconsistent header; confirm the decay correction and pass it with "
                    "--decay-correction START|ADMIN|NONE",
                )
            )
        return dc  # type: ignore[return-value]
    if ctx.series.modality == "NM" and not dc:
        ctx.warnings.append(
            "DecayCorrection (0054,1102) absent (usual for NM): values taken as not decay "
            "corrected (NONE), averaged over the acquisition"
        )
        ctx.used["decay_correction"] = {"value": "NONE", "source": "NM default"}
        return "NONE"
    raise DicomMetadataError(
        "DecayCorrection (0054,1102)",
        expected="START, ADMIN or NONE",
        actual=dc or "absent",
        fix="pass it with --decay-correction START|ADMIN|NONE (API "
        "Overrides(decay_correction=...))",
    )


def _nm_duration_s(ctx: _Ctx) -> float:
    if (
        ov := ctx.override("acquisition_duration_s", ctx.overrides.acquisition_duration_s)
    ) is not None:
        return ov
    rot = ctx.ds.get("RotationInformationSequence")
    total = 0.0
    for item in rot or []:
        frames = _num(item, "NumberOfFramesInRotation", "0054,0053")
        dur = _num(item, "ActualFrameDuration", "0018,1242")
        if frames and dur:
            total += frames * dur / 1000.0
    if total > 0:
        ctx.used["acquisition_duration_s"] = {
            "value": total,
            "source": "RotationInformationSequence: NumberOfFramesInRotation × ActualFrameDuration",
        }
        return total
    raise DicomMetadataError(
        "RotationInformationSequence (0054,0052) > ActualFrameDuration (0018,1242)",
        expected="the SPECT acquisition duration",
        actual="absent",
        fix="pass it (CLI --acq-duration-s, API Overrides(acquisition_duration_s=...))",
    )


# ------------------------------------------------------------ main functions
def _to_bqml(ctx: _Ctx) -> tuple[NDArray[np.float32], str]:
    """Native values → Bq/mL as measured (before the decay-correction step)."""
    series = ctx.series
    arr = series.volume.array
    units = series.units
    if units == "BQML":
        return arr, "BQML"
    if units == "CNTS" and series.modality == "PT":
        ac = ctx.philips[1]
        if ac is None or ac <= 0:
            raise DicomMetadataError(
                "Philips activity concentration scale factor (7053,xx09)",
                expected="a positive factor converting CNTS to Bq/mL",
                actual="absent" if ac is None else ac,
                fix="export the series in BQML (the SUV scale factor (7053,xx00) is "
                + ("absent too)" if ctx.philips[0] is None else "used for SUVs, not Bq/mL)"),
            )
        ctx.used["activity_scale_factor"] = {"value": ac, "source": "Philips (7053,xx09)"}
        return arr * np.float32(ac), "CNTS × Philips (7053,xx09)"
    if units == "CPS":
        cal = ctx.overrides.calibration_bqml_per_cps
        source = "override"
        if cal is None:
            cal = _num(ctx.ds, "DoseCalibrationFactor", "0054,1322")
            source = "DoseCalibrationFactor (0054,1322)"
        if cal is None or cal <= 0:
            raise DicomMetadataError(
                "DoseCalibrationFactor (0054,1322)",
                expected="a calibration factor (Bq/mL)/(counts/s) for a CPS image",
                actual="absent" if cal is None else cal,
                fix="pass it (CLI --calibration-bqml-per-cps, API "
                "Overrides(calibration_bqml_per_cps=...))",
            )
        ctx.used["calibration_bqml_per_cps"] = {"value": cal, "source": source}
        return arr * np.float32(cal), "CPS × calibration factor"
    if units == "CNTS":  # NM / SPECT counts per voxel
        sens = ctx.overrides.sensitivity_cps_per_mbq
        if sens is None:
            raise DicomMetadataError(
                "SPECT calibration factor",
                expected="the system sensitivity in cps/MBq for counts → Bq/mL",
                actual="absent (the series is in counts)",
                fix="pass it (CLI --sensitivity-cps-per-mbq, API "
                "Overrides(sensitivity_cps_per_mbq=...))",
            )
        duration = _nm_duration_s(ctx)
        voxel_ml = series.volume.voxel_volume_ml
        # counts / s → cps; / (cps/MBq) → MBq; × 1e6 → Bq; / voxel mL → Bq/mL
        scale = 1e6 / (duration * sens * voxel_ml)
        ctx.used["sensitivity_cps_per_mbq"] = {"value": sens, "source": "override"}
        ctx.used["counts_to_bqml"] = scale
        return arr * np.float32(scale), "counts / (duration × sensitivity × voxel volume)"
    raise DicomMetadataError(
        "Units (0054,1001)",
        expected="BQML, CNTS (Philips), CPS or NM counts to derive Bq/mL",
        actual=units,
        fix="the series is stored as SUV or relative values; Bq/mL cannot be derived",
    )


def _activity(ctx: _Ctx) -> tuple[ActivityResult, float | None]:
    """Bq/mL at the reference time; also returns the half-life when it was needed."""
    series = ctx.series
    arr, route = _to_bqml(ctx)
    dc = _decay_correction(ctx)
    half_life: float | None = None
    if dc == "START":
        series_t, earliest = _series_datetime(ctx), _earliest_slice(ctx)
        # the half-life is needed here only for the QIBA back-computation
        needs_hl = series_t is None or (earliest is not None and series_t > earliest[1])
        half_life = _half_life_s(ctx) if needs_hl else None
        ref, ref_source = _start_reference(ctx, half_life or 1.0)
        out = arr
    elif dc == "ADMIN":
        ref = _injection_time(ctx, _series_datetime(ctx) or _first_time(ctx))
        ref_source = "administration time (DecayCorrection ADMIN)"
        out = arr
    else:  # NONE: correct every slice to its frame start, then to the earliest start
        half_life = _half_life_s(ctx)
        lam = math.log(2) / half_life
        earliest = _earliest_slice(ctx)
        if earliest is None:
            raise DicomMetadataError(
                "AcquisitionTime (0008,0032)",
                expected="the acquisition start of every slice (DecayCorrection NONE)",
                actual="absent",
                fix="correct the header, or pass --decay-correction if the data are corrected",
            )
        ref = earliest[1]
        ref_source = "earliest AcquisitionDate/AcquisitionTime (DecayCorrection NONE)"
        factors = np.empty(len(series.slices), dtype=np.float64)
        nm_duration = _nm_duration_s(ctx) if series.modality == "NM" else None
        missing_duration = False
        for k, s in enumerate(series.slices):
            t_a = _slice_datetime(ctx, s) or ref
            dur = (
                nm_duration
                if nm_duration is not None
                else (s.actual_frame_duration_ms / 1000.0 if s.actual_frame_duration_ms else None)
            )
            if dur is None:
                missing_duration = True
                frame_mean_to_start = 1.0
            else:
                x = lam * dur
                frame_mean_to_start = x / -math.expm1(-x) if x > 1e-12 else 1.0
            factors[k] = frame_mean_to_start * math.exp(lam * (t_a - ref).total_seconds())
        if missing_duration:
            ctx.warnings.append(
                "ActualFrameDuration (0018,1242) absent: slice values taken as measured at "
                "their AcquisitionTime (no decay correction within the frame)"
            )
        out = (arr * factors.astype(np.float32)[:, None, None]).astype(np.float32, copy=False)
        ctx.used["decay_factors_to_reference"] = {
            "min": float(factors.min()),
            "max": float(factors.max()),
        }
    out = np.asarray(out, dtype=np.float32)
    out.flags.writeable = False
    params = {
        "route": route,
        "decay_correction": dc,
        "reference_time": ref.isoformat(),
        "reference_time_source": ref_source,
        **{k: v for k, v in ctx.used.items() if k not in ("weight_kg", "height_cm", "sex")},
        "overrides": ctx.overrides.given(),
    }
    vol = series.volume.with_array(
        out,
        operation="activity_concentration",
        parameters=params,
        inputs=(series.series_uid,),
        sources=(QIBA, "DICOM PS3.3 C.8.9.4 PET Image Module"),
        quantity="activity_concentration",
        unit="Bq/mL",
        reference_time=ref,
    )
    res = ActivityResult(vol, ref, ref_source, dc, half_life, tuple(ctx.warnings))
    return res, half_life


def _first_time(ctx: _Ctx) -> _dt.datetime | None:
    e = _earliest_slice(ctx)
    return e[1] if e else None


def activity_concentration(
    series: DicomSeries, overrides: Overrides | None = None
) -> ActivityResult:
    """Activity concentration (Bq/mL) decay corrected to the series' reference time.

    Raises :class:`DicomMetadataError` when a needed attribute is missing and
    not overridden; heuristic fixes (dose in MBq...) and the series' own
    warnings (:attr:`DicomSeries.warnings`) are listed in ``warnings``.
    """
    ctx = _Ctx(series, overrides or Overrides(), "raise", list(series.warnings), {})
    res, _ = _activity(ctx)
    return res


def _suv_volume(
    base: Volume, arr: NDArray[Any], normalization: str, params: dict[str, Any], series: DicomSeries
) -> Volume:
    """The SUV image on ``base``'s grid with its provenance (one place for every SUV path)."""
    return base.with_array(
        arr,
        operation=f"suv_{normalization}",
        parameters=params,
        inputs=(series.series_uid,),
        sources=(QIBA, body.SOURCES.get(_formula(normalization), "")),
        quantity=f"suv_{normalization}",
        unit=UNITS_OF_NORM[normalization],
    )


def compute_suv(
    series: DicomSeries,
    normalization: str = "bw",
    overrides: Overrides | None = None,
    *,
    strictness: Strictness = "raise",
    vendor_suv_factor: bool = True,
    plausibility: bool = True,
) -> SuvResult:
    """SUV of ``normalization`` for a PET/SPECT series (see the module docstring).

    With ``strictness="warn"`` a missing attribute does not raise: the
    problem is recorded in ``warnings`` and ``suv``/``suv_factor`` are ``None``
    (or the activity volume is still returned when it could be derived).

    ``vendor_suv_factor``: a Philips ``CNTS`` series with the SUV scale factor
    (7053,xx00) gets SUVbw = CNTS × that factor (QIBA Appendix G; other
    normalisations × M/weight from the header), unless its DecayCorrection is
    NONE; ``False`` derives the SUV from Bq/mL ((7053,xx09)) and the header
    patient data instead. ``plausibility=False`` skips the warning-only checks
    of :mod:`sstrkit.io.plausibility` (usual ranges of weight, height, BMI and
    administered activity); impossible values still raise and replaced values
    are still reported.
    """
    if normalization not in NORMALIZATIONS:
        raise InvalidInputError(
            "SUV normalisation", expected=f"one of {list(NORMALIZATIONS)}", actual=normalization
        )
    if strictness not in ("raise", "warn"):
        raise InvalidInputError("strictness", expected="'raise' or 'warn'", actual=strictness)
    ov = overrides or Overrides()
    ctx = _Ctx(series, ov, strictness, list(series.warnings), {}, checks=plausibility)
    units = series.units
    if units in ("GML", "CM2ML"):
        return _convert_stored_suv(ctx, normalization)
    philips_cnts = units == "CNTS" and series.modality == "PT"
    vendor, ac = ctx.philips if philips_cnts else (None, None)
    if vendor is not None and vendor <= 0:
        ctx.warnings.append(f"Philips SUV scale factor (7053,xx00) = {vendor:g} ignored (not > 0)")
        vendor = None
    # The vendor factor was computed from the header's weight, dose and times: with any of
    # them overridden the SUV is derived from Bq/mL ((7053,xx09)) and the given values.
    overridden = [
        k
        for k in ("weight_kg", "height_cm", "sex", "injected_activity_bq", "injection_time",
                  "half_life_s")
        if getattr(ov, k) is not None
    ]  # fmt: skip
    if vendor and overridden and ac is None:
        raise InvalidInputError(
            "overrides " + ", ".join(overridden),
            expected="a Philips series with the activity scale factor (7053,xx09)",
            actual="only the SUV scale factor (7053,xx00), computed from the header values",
            fix="drop the overrides (the vendor SUV is used as stored) or export the series "
            "in BQML",
        )
    if vendor and (
        ac is None
        or (vendor_suv_factor and not overridden and _peek_decay_correction(ctx) != "NONE")
    ):
        return _philips_suv(ctx, normalization, vendor, ac)
    try:
        act, half_life = _activity(ctx)
    except SstrkitError as exc:
        ctx.problem(exc)
        return _empty(ctx, normalization, None)
    activity = act.volume
    try:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            factor, params = _qiba_factor(ctx, normalization, act, half_life)
        # typical factors are ~1e-4 (g/mL)/(Bq/mL); outside 1e-30..1e30 the inputs are
        # absurd and the float32 image would overflow
        if not (math.isfinite(factor) and 1e-30 < factor < 1e30):
            raise DicomMetadataError(
                "SUV factor (normalisation measure / decay-corrected administered activity; "
                "RadionuclideTotalDose, RadionuclideHalfLife, times)",
                expected="a finite value > 0 within float range",
                actual=f"{factor!r} (activity, half-life or times give no usable decayed dose)",
                fix="check RadionuclideTotalDose, RadionuclideHalfLife and the injection and "
                "scan times, or pass --dose-mbq / --half-life-s / --injection-time",
            )
    except ZeroDivisionError:
        ctx.problem(
            DicomMetadataError(
                "SUV factor",
                expected="a decayed administered activity > 0",
                actual="0 after decay (half-life too short for the uptake time?)",
                fix="check RadionuclideHalfLife and the injection time, or pass --half-life-s",
            )
        )
        return _empty(ctx, normalization, activity)
    except SstrkitError as exc:
        ctx.problem(exc)
        return _empty(ctx, normalization, activity)
    if vendor and ac and normalization == "bw":
        vendor_factor = vendor / ac
        if abs(vendor_factor - factor) > 0.01 * factor:
            ctx.warnings.append(
                f"Philips SUV scale factor (7053,xx00)/(7053,xx09) gives {vendor_factor:.6g} "
                f"(g/mL)/(Bq/mL) but the header patient data give {factor:.6g}; the latter is used"
            )
    suv_arr = activity.array * np.float32(factor)
    suv_arr.flags.writeable = False
    params["inputs_used"] = dict(ctx.used)
    params["overrides"] = ov.given()
    suv = _suv_volume(activity, suv_arr, normalization, params, series)
    return SuvResult(
        normalization, suv, factor, activity, act.reference_time, tuple(ctx.warnings), params
    )


def _peek_decay_correction(ctx: _Ctx) -> str:
    """DecayCorrection as it will be used (override, else header), without recording it."""
    if ctx.overrides.decay_correction is not None:
        return ctx.overrides.decay_correction
    return str(ctx.ds.get("DecayCorrection") or "").strip().upper()


def _qiba_factor(
    ctx: _Ctx, normalization: str, act: ActivityResult, half_life: float | None
) -> tuple[float, dict[str, Any]]:
    """SUV factor M / D(t_ref) from the header (QIBA) and the parameters used."""
    weight, height, sex = _body(ctx, _NEEDS[normalization])
    measure = normalization_measure(
        normalization, weight_kg=weight, height_cm=height, sex=sex, found=ctx.found
    )
    dose = _dose_bq(ctx)
    if act.decay_correction == "ADMIN":
        decay_s = 0.0
        t_inj = act.reference_time
    else:
        t_inj = _injection_time(ctx, act.reference_time)
        decay_s = (act.reference_time - t_inj).total_seconds()
        if decay_s < 0:
            raise DicomMetadataError(
                "RadiopharmaceuticalStartDateTime (0018,1078)",
                expected="an administration before the reference time "
                f"{act.reference_time.isoformat()}",
                actual=f"{t_inj.isoformat()} (negative decay interval {decay_s:.0f} s)",
                fix="correct the injection time (CLI --injection-time, API "
                "Overrides(injection_time=...))",
            )
        if half_life is None:
            half_life = _half_life_s(ctx)
    decayed = dose * 2.0 ** (-decay_s / half_life) if half_life and decay_s else dose
    factor = measure / decayed
    params: dict[str, Any] = {
        "normalization": normalization,
        "suv_factor": factor,
        "normalizing_measure": measure,
        "measure_unit": "cm2" if normalization == "bsa" else "g",
        "injected_activity_bq": dose,
        "injection_time": t_inj.isoformat(),
        "decay_interval_s": decay_s,
        "half_life_s": half_life,
        "activity_at_reference_bq": decayed,
    }
    return factor, params


def _formula(normalization: str) -> str:
    return {
        "lbm": "lbm_janmahasatian",
        "lbm-james": "lbm_james",
        "lbm-james120": "lbm_james",
        "bsa": "bsa_du_bois",
        "ibw": "ideal_body_weight",
    }.get(normalization, "")


def _empty(ctx: _Ctx, normalization: str, activity: Volume | None) -> SuvResult:
    ref = activity.reference_time if activity is not None else None
    params = {"inputs_used": dict(ctx.used), "overrides": ctx.overrides.given()}
    return SuvResult(normalization, None, None, activity, ref, tuple(ctx.warnings), params)


def _renormalise(ctx: _Ctx, stored: str, requested: str) -> tuple[float, dict[str, Any]]:
    """Ratio M_requested / M_stored from the header body data (checked), and notes.

    The body values the stored SUV depends on are read (and checked) even when
    ``stored == requested``. A stored sex-specific SUV (LBM, IBW) with
    PatientSex "O" is converted with the mean of the male and female ratios.
    """
    needs = _NEEDS[stored] | _NEEDS[requested]
    weight, height, sex = _body(ctx, needs)
    if any(getattr(ctx.overrides, k) is not None for k in ("weight_kg", "height_cm", "sex")):
        # The scanner computed the stored SUV from the header's body data: undo that with
        # the header values and apply the given ones (never a silently ignored override).
        # a header sex "O" says nothing about the sex the scanner assumed: the given one
        header_other = str(ctx.ds.get("PatientSex") or "").strip().upper() == "O"
        keep_sex = ctx.overrides.sex if header_other else None
        hdr = _Ctx(ctx.series, Overrides(sex=keep_sex), ctx.strictness, [], {}, checks=False)
        hw, hh, hs = _body(hdr, _NEEDS[stored])
        m_req = normalization_measure(
            requested, weight_kg=weight, height_cm=height, sex=sex, found=ctx.found
        )
        m_hdr = normalization_measure(stored, weight_kg=hw, height_cm=hh, sex=hs, found=hdr.found)
        ratio = m_req / m_hdr
        ctx.warnings.append(
            f"stored SUV{stored} was computed from the header's patient data; rescaled to the "
            f"given values: SUV{requested} = stored × {ratio:.6g}"
        )
        return ratio, {"rescaled_for_overrides": ctx.overrides.given()}
    if stored == requested:
        return 1.0, {}
    if sex is None and "sex" in _NEEDS[stored] and _sex_is_other(ctx):
        per_sex = {
            x: normalization_measure(
                requested, weight_kg=weight, height_cm=height, sex=x, found=ctx.found
            )
            / normalization_measure(
                stored, weight_kg=weight, height_cm=height, sex=x, found=ctx.found
            )
            for x in ("M", "F")
        }
        ratio = 0.5 * (per_sex["M"] + per_sex["F"])
        ctx.warnings.append(
            f"PatientSex (0010,0040) is 'O' (other): the sex the stored SUV{stored} was computed "
            f"for is unknown; SUV{requested}/SUV{stored} is the mean of the male "
            f"({per_sex['M']:.6g}) and female ({per_sex['F']:.6g}) factors, {ratio:.6g} "
            "(pass --sex M|F to use one)"
        )
        note = {
            "sex_assumption": "PatientSex O: mean of the male and female factors",
            "renormalisation_ratio_by_sex": per_sex,
        }
        return ratio, note
    m_req = normalization_measure(
        requested, weight_kg=weight, height_cm=height, sex=sex, found=ctx.found
    )
    m_stored = normalization_measure(
        stored, weight_kg=weight, height_cm=height, sex=sex, found=ctx.found
    )
    return m_req / m_stored, {}


def _convert_stored_suv(ctx: _Ctx, normalization: str) -> SuvResult:
    """Series already in SUV units: re-normalise with the header's patient data."""
    series = ctx.series
    if series.units == "CM2ML":
        stored: str = "bsa"
        stored_label = "CM2ML (SUVbsa)"
    else:
        given = str(series.header.get("SUVType") or "").strip().upper()
        suv_type = given or "BW"
        if suv_type not in SUV_TYPES:
            raise DicomMetadataError(
                "SUVType (0054,1006)",
                expected=f"one of {sorted(SUV_TYPES)}",
                actual=suv_type,
                fix="unsupported SUV type; export the series in BQML",
            )
        stored = SUV_TYPES[suv_type]
        stored_label = (
            f"GML (SUVType {suv_type})"
            if given
            else "GML (SUVType (0054,1006) absent: BW assumed, QIBA Appendix G)"
        )
    try:
        ratio, note = _renormalise(ctx, stored, normalization)
    except SstrkitError as exc:
        ctx.problem(exc)
        return _empty(ctx, normalization, None)
    arr = series.volume.array * np.float32(ratio)
    arr.flags.writeable = False
    params = {
        "normalization": normalization,
        "stored_as": stored_label,
        "stored_normalization": stored,
        "renormalisation_ratio": ratio,
        "scale_applied": ratio,
        **note,
        "inputs_used": dict(ctx.used),
        "overrides": ctx.overrides.given(),
    }
    ctx.warnings.append(
        f"series stored as {stored_label}: SUV{normalization} = stored value × {ratio:.6g}; "
        "no Bq/mL or SUV factor derived"
    )
    suv = series.volume.with_array(
        arr,
        operation=f"suv_{normalization}",
        parameters=params,
        inputs=(series.series_uid,),
        sources=(QIBA, "DICOM PS3.16 CID 85 SUV Unit"),
        quantity=f"suv_{normalization}",
        unit=UNITS_OF_NORM[normalization],
    )
    return SuvResult(normalization, suv, None, None, None, tuple(ctx.warnings), params)


def _philips_suv(ctx: _Ctx, normalization: str, vendor: float, ac: float | None) -> SuvResult:
    """Philips CNTS: SUVbw = CNTS × SUV scale factor (7053,xx00) (QIBA Appendix G).

    Other normalisations × M/weight from the header. With the activity scale
    factor (7053,xx09) the Bq/mL volume and the SUV factor (vendor/(7053,xx09)
    × ratio, (g/mL)/(Bq/mL)) are returned too, and the factor the header
    patient data give (QIBA) is compared with the vendor's.
    """
    series = ctx.series
    try:
        ratio, note = _renormalise(ctx, "bw", normalization)
    except SstrkitError as exc:
        ctx.problem(exc)
        return _empty(ctx, normalization, None)
    scale = vendor * ratio
    activity: Volume | None = None
    reference: _dt.datetime | None = None
    factor: float | None = None
    if ac is not None:
        try:
            act, half_life = _activity(ctx)
        except SstrkitError as exc:
            ctx.problem(exc)
            return _empty(ctx, normalization, None)
        activity, reference = act.volume, act.reference_time
        factor = scale / ac
        header_factor = _quiet_qiba_bw_factor(ctx, act, half_life)
        vendor_bw = vendor / ac
        if header_factor is not None and abs(vendor_bw - header_factor) > 0.01 * header_factor:
            ctx.warnings.append(
                f"Philips SUV scale factor (7053,xx00)/(7053,xx09) gives {vendor_bw:.6g} "
                f"(g/mL)/(Bq/mL) but the header patient data give {header_factor:.6g} (QIBA); "
                "the vendor factor is used (API compute_suv(..., vendor_suv_factor=False) uses "
                "the header data)"
            )
    else:
        ctx.warnings.append(
            f"series stored as CNTS with only the Philips SUV scale factor (7053,xx00): "
            f"SUV{normalization} = CNTS × {scale:.6g}; no Bq/mL or SUV factor derived"
        )
        if _peek_decay_correction(ctx) == "NONE":
            ctx.warnings.append(
                "DecayCorrection (0054,1102) is NONE: the first file's SUV scale factor is "
                "used for every slice (no per-slice decay correction)"
            )
    arr = series.volume.array * np.float32(scale)
    arr.flags.writeable = False
    params = {
        "normalization": normalization,
        "stored_as": "CNTS × Philips SUV scale factor (7053,xx00)",
        "suv_source": "Philips SUV scale factor (7053,xx00)",
        "philips_suv_scale_factor": vendor,
        "philips_activity_scale_factor": ac,
        "suv_factor": factor,
        "stored_normalization": "bw",
        "renormalisation_ratio": ratio,
        "scale_applied": scale,
        **note,
        "inputs_used": dict(ctx.used),
        "overrides": ctx.overrides.given(),
    }
    base = activity if activity is not None else series.volume
    suv = _suv_volume(base, arr, normalization, params, series)
    return SuvResult(normalization, suv, factor, activity, reference, tuple(ctx.warnings), params)


def _quiet_qiba_bw_factor(ctx: _Ctx, act: ActivityResult, half_life: float | None) -> float | None:
    """SUVbw factor from the header patient data, or None where it cannot be derived."""
    sub = _Ctx(ctx.series, ctx.overrides, "warn", [], {}, checks=False, half_life=half_life)
    try:
        return _qiba_factor(sub, "bw", act, half_life)[0]
    except SstrkitError:
        return None
