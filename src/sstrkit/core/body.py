"""Patient sex and body size: one ``Sex`` type, one parser, each body-size formula once.

Sex
---
:data:`Sex` is ``"F"`` or ``"M"`` (the DICOM PatientSex codes, without ``"O"``:
every formula here differs by sex). :func:`parse_sex` reads the spellings found
in headers, case files and tables (``F``/``M``, ``female``/``male``,
``woman``/``man``; any case, surrounding blanks ignored) and raises
:class:`~sstrkit.errors.InvalidInputError` for anything else (``"O"``, empty...).

Body size
---------
Inputs are in the units of the published formulas — weight in kg, height in cm
(the library's internal mass unit is g: callers convert, e.g.
``1000 * lbm_james(...)`` for grams); outputs in kg (masses), m² (BSA) or
kg/m² (BMI). Each formula is written once, as a ``*_formula_*`` function
without input checks (the caller validates); the checked functions refuse a
weight or height outside the physically possible limits
(:data:`WEIGHT_POSSIBLE_KG`, :data:`HEIGHT_POSSIBLE_CM`, also used by
:mod:`sstrkit.io.plausibility`) and an unknown sex. DICOM PS3.16 CID 85 "SUV
Unit" lists the same set.

* **Body-mass index**: BMI = W / (H/100)² (kg/m²), :func:`bmi_kg_m2`.
* **Lean body mass, James** (James WPT, *Research on Obesity*, DHSS/MRC,
  HMSO 1976): male 1.10·W − 128·(W/H)², female 1.07·W − 148·(W/H)².
  ``male_coefficient=120`` gives the variant of Morgan & Bray 1994 /
  Sugawara et al. 1999 that DICOM calls plain "LBM". :func:`james_formula_kg`,
  checked :func:`lbm_james`.
* **Lean body mass, Janmahasatian** (Janmahasatian S. et al., Clin
  Pharmacokinet 2005;44:1051–1065; recommended by the QIBA FDG-PET/CT profile,
  Appendix H, and Practical PERCIST): male 9270·W/(6680 + 216·BMI), female
  9270·W/(8780 + 244·BMI). :func:`janmahasatian_formula_kg`, checked
  :func:`lbm_janmahasatian`.
* **Body surface area, Du Bois** (Du Bois D, Du Bois EF, Arch Intern Med
  1916;17:863): BSA[m²] = 0.007184·W^0.425·H^0.725. :func:`du_bois_formula_m2`,
  checked :func:`bsa_du_bois`.
* **Ideal body weight** (as used by Sugawara et al., Radiology 1999;213:521 and
  DICOM CID 85): male 48.0 + 1.06·(H − 152), female 45.5 + 0.91·(H − 152).
  :func:`ideal_body_weight_formula_kg`, checked :func:`ideal_body_weight`.

Examples
--------
>>> parse_sex(" Female"), parse_sex("m")
('F', 'M')
>>> round(lbm_james(80.0, 180.0, "M"), 3)
62.716
>>> round(lbm_janmahasatian(80.0, 180.0, "male"), 3)
61.731
>>> round(bsa_du_bois(70.0, 170.0), 4)
1.8097
>>> round(ideal_body_weight(180.0, "F"), 2)
70.98
"""

from __future__ import annotations

import math
from typing import Final, Literal

from sstrkit.errors import InvalidInputError

__all__ = [
    "HEIGHT_POSSIBLE_CM",
    "SEXES",
    "SOURCES",
    "WEIGHT_POSSIBLE_KG",
    "Sex",
    "bmi_kg_m2",
    "bsa_du_bois",
    "ckd_epi_2021_formula",
    "du_bois_formula_m2",
    "ideal_body_weight",
    "ideal_body_weight_formula_kg",
    "james_formula_kg",
    "janmahasatian_formula_kg",
    "lbm_james",
    "lbm_janmahasatian",
    "parse_sex",
]

#: Patient sex as the body-size formulas (and DICOM PatientSex) code it.
Sex = Literal["F", "M"]
SEXES: Final[tuple[Sex, ...]] = ("F", "M")
_SEX_SPELLINGS: Final[dict[str, Sex]] = {
    "f": "F",
    "female": "F",
    "woman": "F",
    "m": "M",
    "male": "M",
    "man": "M",
}

#: Physically possible body weight (kg), inclusive; outside → error.
WEIGHT_POSSIBLE_KG: Final = (1.0, 500.0)
#: Physically possible body height (cm), inclusive (0.3–2.6 m); outside → error.
HEIGHT_POSSIBLE_CM: Final = (30.0, 260.0)

#: Citation of each checked formula, by function name.
SOURCES: Final[dict[str, str]] = {
    "egfr_ckd_epi_2021": "Inker LA et al. N Engl J Med 385 (2021) 1737-1749 (race-free CKD-EPI)",
    "lbm_james": "James WPT, Research on Obesity, DHSS/MRC Group, HMSO London 1976",
    "lbm_janmahasatian": "Janmahasatian S et al., Clin Pharmacokinet 2005;44(10):1051-65",
    "bsa_du_bois": "Du Bois D, Du Bois EF, Arch Intern Med 1916;17:863-71",
    "ideal_body_weight": "Sugawara Y et al., Radiology 1999;213:521-5; DICOM PS3.16 CID 85",
}


# --------------------------------------------------------------------- sex


def parse_sex(
    value: object,
    *,
    what: str = "sex",
    fix: str = "pass the patient's sex (CLI --sex M|F)",
) -> Sex:
    """``"F"`` or ``"M"`` from any accepted spelling (see the module docstring).

    ``what`` and ``fix`` name the input and the remedy in the
    :class:`~sstrkit.errors.InvalidInputError` raised for other values.

    >>> parse_sex("WOMAN"), parse_sex("Male ")
    ('F', 'M')
    >>> parse_sex("O")
    Traceback (most recent call last):
    ...
    sstrkit.errors.InvalidInputError: sex: expected 'M' or 'F' (also male/female; the \
formula differs by sex), got 'O'. Fix: pass the patient's sex (CLI --sex M|F)
    """
    sex = _SEX_SPELLINGS.get(value.strip().lower()) if isinstance(value, str) else None
    if sex is None:
        raise InvalidInputError(
            what,
            expected="'M' or 'F' (also male/female; the formula differs by sex)",
            actual=repr(value),
            fix=fix,
        )
    return sex


# ------------------------------------------------------------- input checks


def _check(name: str, value: float, limits: tuple[float, float], unit: str) -> float:
    """``value`` within the physically possible ``limits`` (inclusive), else
    :class:`InvalidInputError`."""
    v = float(value)
    lo, hi = limits
    if not math.isfinite(v) or not lo <= v <= hi:
        raise InvalidInputError(
            name,
            expected=f"a value between {lo:g} and {hi:g} {unit}",
            actual=f"{value} {unit}",
            fix=f"give the {name} in {unit} (physically possible: {lo:g}–{hi:g} {unit})",
        )
    return v


def _weight(value: float) -> float:
    return _check("weight", value, WEIGHT_POSSIBLE_KG, "kg")


def _height(value: float) -> float:
    return _check("height", value, HEIGHT_POSSIBLE_CM, "cm")


# ----------------------------------------------------------------- formulas


def bmi_kg_m2(weight_kg: float, height_cm: float) -> float:
    """Body-mass index W / (H/100)² in kg/m², without input checks.

    >>> round(bmi_kg_m2(80.0, 180.0), 4)    # 80 / 1.8² = 80 / 3.24
    24.6914
    """
    return weight_kg / (height_cm / 100.0) ** 2


def james_formula_kg(w: float, h: float, sex: Sex, *, male_coefficient: float = 128.0) -> float:
    """James (1976) lean body mass in kg for ``w`` kg and ``h`` cm, without input checks.

    The caller validates ``w``, ``h`` and the sign of the result (use
    :func:`lbm_james` for the checked version).

    >>> round(james_formula_kg(70.0, 175.0, "M"), 6)    # 77 − 128·0.16
    56.52
    """
    if sex == "M":
        return 1.10 * w - male_coefficient * (w / h) ** 2
    return 1.07 * w - 148.0 * (w / h) ** 2


def janmahasatian_formula_kg(w: float, h: float, sex: Sex) -> float:
    """Janmahasatian (2005) lean body mass in kg for ``w`` kg and ``h`` cm, without checks.

    >>> round(janmahasatian_formula_kg(80.0, 180.0, "M"), 3)
    61.731
    """
    bmi = bmi_kg_m2(w, h)
    if sex == "M":
        return 9270.0 * w / (6680.0 + 216.0 * bmi)
    return 9270.0 * w / (8780.0 + 244.0 * bmi)


def du_bois_formula_m2(weight_kg: float, height_cm: float) -> float:
    """Body surface area (m²), Du Bois & Du Bois 1916: 0.007184·W^0.425·H^0.725, unchecked.

    >>> round(du_bois_formula_m2(73.0, 176.0), 3)
    1.889
    """
    return float(0.007184 * weight_kg**0.425 * height_cm**0.725)


def ckd_epi_2021_formula(creatinine_mg_dl: float, age_years: float, sex: Sex) -> float:
    """eGFR in mL/min/1.73 m² by the race-free CKD-EPI 2021 creatinine equation, unchecked.

    eGFR = 142 · min(Scr/κ, 1)^α · max(Scr/κ, 1)^−1.200 · 0.9938^age · 1.012 [female],
    κ = 0.7 (F) / 0.9 (M), α = −0.241 (F) / −0.302 (M) (Inker LA et al., N Engl J Med 385
    (2021) 1737-1749). Callers check their inputs (adult age, creatinine > 0).

    Hand check for a 50-year-old man with Scr = κ = 0.9 mg/dL: 142 · 0.9938^50 = 104.05.

    >>> round(ckd_epi_2021_formula(0.9, 50.0, "M"), 2)
    104.05
    """
    female = sex == "F"
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    q = creatinine_mg_dl / kappa
    e = 142.0 * min(q, 1.0) ** alpha * max(q, 1.0) ** -1.200 * 0.9938**age_years
    return float(e * 1.012 if female else e)


def ideal_body_weight_formula_kg(height_cm: float, sex: Sex) -> float:
    """Ideal body weight in kg (Sugawara et al. 1999 / DICOM CID 85), without checks.

    >>> ideal_body_weight_formula_kg(152.0, "M"), ideal_body_weight_formula_kg(152.0, "F")
    (48.0, 45.5)
    """
    if sex == "M":
        return 48.0 + 1.06 * (height_cm - 152.0)
    return 45.5 + 0.91 * (height_cm - 152.0)


# --------------------------------------------------------- checked versions


def lbm_james(
    weight_kg: float, height_cm: float, sex: str, *, male_coefficient: float = 128.0
) -> float:
    """Lean body mass in kg after James (1976)."""
    w = _weight(weight_kg)
    h = _height(height_cm)
    lbm = james_formula_kg(w, h, parse_sex(sex), male_coefficient=male_coefficient)
    if lbm <= 0:
        raise InvalidInputError(
            "James lean body mass",
            expected="> 0 kg (the formula fails for very high weight/height ratios)",
            actual=f"{lbm:.3g} kg for {w} kg, {h} cm",
            fix="use the Janmahasatian formula (--norm lbm)",
        )
    return lbm


def lbm_janmahasatian(weight_kg: float, height_cm: float, sex: str) -> float:
    """Lean body mass in kg after Janmahasatian et al. (2005)."""
    w = _weight(weight_kg)
    h = _height(height_cm)
    return janmahasatian_formula_kg(w, h, parse_sex(sex))


def bsa_du_bois(weight_kg: float, height_cm: float) -> float:
    """Body surface area in m² after Du Bois & Du Bois (1916)."""
    return du_bois_formula_m2(_weight(weight_kg), _height(height_cm))


def ideal_body_weight(height_cm: float, sex: str) -> float:
    """Ideal body weight in kg (Sugawara et al. 1999 / DICOM CID 85)."""
    ibw = ideal_body_weight_formula_kg(_height(height_cm), parse_sex(sex))
    if ibw <= 0:
        raise InvalidInputError("ideal body weight", expected="> 0 kg", actual=f"{ibw:.3g} kg")
    return ibw
