"""Body-size measures used to normalise SUVs: re-exported from :mod:`sstrkit.core.body`.

The formulas (James and Janmahasatian lean body mass, Du Bois BSA, ideal body
weight), the :data:`Sex` type and the physically possible weight/height limits
live in :mod:`sstrkit.core.body`, each written once with its citation; this
module keeps the names the SUV code (:mod:`sstrkit.io.suv`) and older callers
import. Inputs: weight in kg, height in cm, sex ``"M"``/``"F"`` (or
``"male"``/``"female"``); outputs in kg (masses) or m² (BSA).

Examples
--------
>>> round(lbm_james(80.0, 180.0, "M"), 3)
62.716
>>> round(bsa_du_bois(70.0, 170.0), 4)
1.8097
"""

from __future__ import annotations

from sstrkit.core.body import (
    SOURCES,
    Sex,
    bsa_du_bois,
    ideal_body_weight,
    james_formula_kg,
    janmahasatian_formula_kg,
    lbm_james,
    lbm_janmahasatian,
)

__all__ = [
    "SOURCES",
    "Sex",
    "bsa_du_bois",
    "ideal_body_weight",
    "james_formula_kg",
    "janmahasatian_formula_kg",
    "lbm_james",
    "lbm_janmahasatian",
]
