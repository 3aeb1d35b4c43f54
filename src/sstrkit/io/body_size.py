"""Body-size measures used to normalise SUVs.

Inputs: weight in kg, height in cm, sex ``"M"``/``"F"`` (the units of the
published formulas); outputs in kg (masses) or m² (BSA). The SUV code converts
to grams / cm² itself. Weight and height outside the physically possible
limits of :mod:`sstrkit.io.plausibility` (1–500 kg, 30–260 cm) are refused.

Formulas (DICOM PS3.16 CID 85 "SUV Unit" lists the same set):

* **Lean body mass, James** (James WPT, *Research on Obesity*, DHSS/MRC,
  HMSO 1976): male 1.10·W − 128·(W/H)², female 1.07·W − 148·(W/H)².
  ``male_coefficient=120`` gives the variant of Morgan & Bray 1994 /
  Sugawara et al. 1999 that DICOM calls plain "LBM".
* **Lean body mass, Janmahasatian** (Janmahasatian S. et al., Clin
  Pharmacokinet 2005;44:1051–1065; recommended by the QIBA FDG-PET/CT profile,
  Appendix H): male 9270·W/(6680 + 216·BMI), female 9270·W/(8780 + 244·BMI),
  BMI = W/(H/100)².
* **Body surface area, Du Bois** (Du Bois D, Du Bois EF, Arch Intern Med
  1916;17:863): BSA[m²] = 0.007184·W^0.425·H^0.725.
* **Ideal body weight** (as used by Sugawara et al., Radiology 1999;213:521 and
  DICOM CID 85): male 48.0 + 1.06·(H − 152), female 45.5 + 0.91·(H − 152).

Examples
--------
>>> round(lbm_james(80.0, 180.0, "M"), 3)
62.716
>>> round(lbm_janmahasatian(80.0, 180.0, "M"), 3)
61.731
>>> round(bsa_du_bois(70.0, 170.0), 4)
1.8097
>>> round(ideal_body_weight(180.0, "F"), 2)
70.98
"""

from __future__ import annotations

import math
from typing import Literal

from sstrkit.errors import InvalidInputError
from sstrkit.io.plausibility import HEIGHT_POSSIBLE_CM, WEIGHT_POSSIBLE_KG

__all__ = [
    "Sex",
    "bsa_du_bois",
    "ideal_body_weight",
    "james_formula_kg",
    "janmahasatian_formula_kg",
    "lbm_james",
    "lbm_janmahasatian",
]

Sex = Literal["M", "F"]

SOURCES = {
    "lbm_james": "James WPT, Research on Obesity, DHSS/MRC Group, HMSO London 1976",
    "lbm_janmahasatian": "Janmahasatian S et al., Clin Pharmacokinet 2005;44(10):1051-65",
    "bsa_du_bois": "Du Bois D, Du Bois EF, Arch Intern Med 1916;17:863-71",
    "ideal_body_weight": "Sugawara Y et al., Radiology 1999;213:521-5; DICOM PS3.16 CID 85",
}


def _check(name: str, value: float, limits: tuple[float, float], unit: str) -> float:
    """``value`` within the physically possible ``limits`` (inclusive) of
    :mod:`sstrkit.io.plausibility`, else :class:`InvalidInputError`."""
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


def _sex(sex: str) -> Sex:
    s = str(sex).strip().upper()
    if s not in ("M", "F"):
        raise InvalidInputError(
            "sex",
            expected="'M' or 'F' (the formula differs by sex)",
            actual=repr(sex),
            fix="pass the patient's sex (CLI --sex M|F)",
        )
    return "M" if s == "M" else "F"


def james_formula_kg(w: float, h: float, sex: Sex, *, male_coefficient: float = 128.0) -> float:
    """James (1976) lean body mass in kg for ``w`` kg and ``h`` cm, without input checks.

    The caller validates ``w``, ``h`` and the sign of the result (use
    :func:`lbm_james` for the checked version).

    >>> round(james_formula_kg(70.0, 175.0, "M"), 6)
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
    bmi = w / (h / 100.0) ** 2
    if sex == "M":
        return 9270.0 * w / (6680.0 + 216.0 * bmi)
    return 9270.0 * w / (8780.0 + 244.0 * bmi)


def lbm_james(
    weight_kg: float, height_cm: float, sex: str, *, male_coefficient: float = 128.0
) -> float:
    """Lean body mass in kg after James (1976)."""
    w = _weight(weight_kg)
    h = _height(height_cm)
    lbm = james_formula_kg(w, h, _sex(sex), male_coefficient=male_coefficient)
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
    return janmahasatian_formula_kg(w, h, _sex(sex))


def bsa_du_bois(weight_kg: float, height_cm: float) -> float:
    """Body surface area in m² after Du Bois & Du Bois (1916)."""
    w = _weight(weight_kg)
    h = _height(height_cm)
    return float(0.007184 * w**0.425 * h**0.725)


def ideal_body_weight(height_cm: float, sex: str) -> float:
    """Ideal body weight in kg (Sugawara et al. 1999 / DICOM CID 85)."""
    h = _height(height_cm)
    ibw = 48.0 + 1.06 * (h - 152.0) if _sex(sex) == "M" else 45.5 + 0.91 * (h - 152.0)
    if ibw <= 0:
        raise InvalidInputError("ideal body weight", expected="> 0 kg", actual=f"{ibw:.3g} kg")
    return ibw
