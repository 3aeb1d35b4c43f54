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

This module holds :func:`compute_suv` and its paths (QIBA factor from the
header, series stored as SUV, Philips vendor factor); the steps live beside it
and their public names are re-exported here: :mod:`sstrkit.io.suv_inputs`
(overrides, body data, dose, half-life), :mod:`sstrkit.io.suv_timing`
(reference and administration times, decay correction),
:mod:`sstrkit.io.suv_activity` (Bq/mL), :mod:`sstrkit.io.suv_normalization`
(body-size measures, SUV factor, SUVType), :mod:`sstrkit.io.suv_nuclide`
(radionuclide of the header) and :mod:`sstrkit.io.suv_header` (header values,
private tags).

Examples
--------
>>> # 400 MBq injected one half-life (1 h) before the scan, 80 kg patient:
>>> factor = suv_factor("bw", activity_at_reference_bq=400e6 * 0.5, weight_kg=80.0)
>>> factor, 5000.0 * factor      # a voxel of 5 kBq/mL has SUVbw 2
(0.0004, 2.0)
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sstrkit.core import body
from sstrkit.core.volume import Volume
from sstrkit.errors import DicomMetadataError, InvalidInputError, SstrkitError
from sstrkit.io.dicom_read import DicomSeries
from sstrkit.io.suv_activity import QIBA as QIBA
from sstrkit.io.suv_activity import ActivityResult as ActivityResult
from sstrkit.io.suv_activity import _activity
from sstrkit.io.suv_activity import activity_concentration as activity_concentration
from sstrkit.io.suv_header import PHILIPS_CREATOR as PHILIPS_CREATOR
from sstrkit.io.suv_inputs import MAX_PLAUSIBLE_WEIGHT_KG as MAX_PLAUSIBLE_WEIGHT_KG
from sstrkit.io.suv_inputs import MIN_PLAUSIBLE_DOSE_BQ as MIN_PLAUSIBLE_DOSE_BQ
from sstrkit.io.suv_inputs import DecayCorrection as DecayCorrection
from sstrkit.io.suv_inputs import Overrides as Overrides
from sstrkit.io.suv_inputs import Strictness as Strictness
from sstrkit.io.suv_inputs import _body, _Ctx, _dose_bq, _half_life_s
from sstrkit.io.suv_normalization import _NEEDS, _formula, _renormalise
from sstrkit.io.suv_normalization import NORMALIZATIONS as NORMALIZATIONS
from sstrkit.io.suv_normalization import SUV_TYPES as SUV_TYPES
from sstrkit.io.suv_normalization import UNITS_OF_NORM as UNITS_OF_NORM
from sstrkit.io.suv_normalization import Normalization as Normalization
from sstrkit.io.suv_normalization import normalization_measure as normalization_measure
from sstrkit.io.suv_normalization import suv_factor as suv_factor
from sstrkit.io.suv_nuclide import nuclide_from_code_meaning as nuclide_from_code_meaning
from sstrkit.io.suv_nuclide import (
    nuclide_from_radiopharmaceutical as nuclide_from_radiopharmaceutical,
)
from sstrkit.io.suv_timing import _injection_time, _peek_decay_correction
from sstrkit.io.suv_timing import average_activity_time_s as average_activity_time_s

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
    if series.units in ("GML", "CM2ML"):
        return _convert_stored_suv(ctx, normalization)
    vendor, ac = _philips_factors(ctx)
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
    return _suv_from_activity(ctx, normalization, vendor, ac)


def _philips_factors(ctx: _Ctx) -> tuple[float | None, float | None]:
    """Philips (SUV scale factor, activity scale factor) of a PET CNTS series, else Nones.

    A SUV scale factor that is not > 0 is ignored (with a warning).
    """
    series = ctx.series
    philips_cnts = series.units == "CNTS" and series.modality == "PT"
    vendor, ac = ctx.philips if philips_cnts else (None, None)
    if vendor is not None and vendor <= 0:
        ctx.warnings.append(f"Philips SUV scale factor (7053,xx00) = {vendor:g} ignored (not > 0)")
        vendor = None
    return vendor, ac


def _suv_from_activity(
    ctx: _Ctx, normalization: str, vendor: float | None, ac: float | None
) -> SuvResult:
    """SUV = Bq/mL × the SUV factor from the header patient data and dose (QIBA).

    A Philips SUVbw factor (``vendor``/``ac``) that differs from the header's by
    more than 1 % is reported; the header's is used.
    """
    series = ctx.series
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
    params["overrides"] = ctx.overrides.given()
    suv = _suv_volume(activity, suv_arr, normalization, params, series)
    return SuvResult(
        normalization, suv, factor, activity, act.reference_time, tuple(ctx.warnings), params
    )


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


def _empty(ctx: _Ctx, normalization: str, activity: Volume | None) -> SuvResult:
    """The result of a computation that failed in warn mode (no SUV, warnings kept)."""
    ref = activity.reference_time if activity is not None else None
    params = {"inputs_used": dict(ctx.used), "overrides": ctx.overrides.given()}
    return SuvResult(normalization, None, None, activity, ref, tuple(ctx.warnings), params)


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
