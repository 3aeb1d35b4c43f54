"""Body-size normalisations of SUV: measures, the SUV factor and stored-SUV conversions.

SUV = C × M / D(t_ref) where C is in Bq/mL, M the normalising body measure
(g for ``bw``, ``lbm*`` and ``ibw``; cm² for ``bsa``; formulas of
:mod:`sstrkit.core.body`) and D(t_ref) the administered activity decayed to
the reference time. The **SUV factor** is M/D(t_ref) in (g/mL)/(Bq/mL) (or
(cm²/mL)/(Bq/mL)) — QIBA's "SUVbwScaleFactor".

DICOM SUVType (0054,1006) codes map to normalisations (:data:`SUV_TYPES`,
DICOM CID 85: "LBM" is James with the 120 coefficient); a series stored as SUV
is converted to another normalisation by the ratio of the two measures
(:func:`_renormalise`).

Examples
--------
>>> round(normalization_measure("lbm-james", weight_kg=80.0, height_cm=180.0, sex="M"))
62716
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from sstrkit.core import body
from sstrkit.errors import DicomMetadataError, InvalidInputError
from sstrkit.io.suv_inputs import Overrides, _body, _Ctx, _sex_is_other

__all__ = [
    "NORMALIZATIONS",
    "SUV_TYPES",
    "UNITS_OF_NORM",
    "Normalization",
    "normalization_measure",
    "suv_factor",
]

Normalization = Literal["bw", "lbm", "lbm-james", "lbm-james120", "bsa", "ibw"]
NORMALIZATIONS: tuple[str, ...] = ("bw", "lbm", "lbm-james", "lbm-james120", "bsa", "ibw")

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

#: Body measures each normalisation needs.
_NEEDS: dict[str, frozenset[str]] = {
    "bw": frozenset({"weight"}),
    "bsa": frozenset({"weight", "height"}),
    "lbm": frozenset({"weight", "height", "sex"}),
    "lbm-james": frozenset({"weight", "height", "sex"}),
    "lbm-james120": frozenset({"weight", "height", "sex"}),
    "ibw": frozenset({"height", "sex"}),
}


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


def _formula(normalization: str) -> str:
    """Name of the :mod:`sstrkit.core.body` formula of ``normalization`` (its source key)."""
    return {
        "lbm": "lbm_janmahasatian",
        "lbm-james": "lbm_james",
        "lbm-james120": "lbm_james",
        "bsa": "bsa_du_bois",
        "ibw": "ideal_body_weight",
    }.get(normalization, "")


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
