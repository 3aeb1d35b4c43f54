"""Sex parsing and body-size formulas of sstrkit.core.body.

References (each numeric test names its own): Du Bois D, Du Bois EF, Arch Intern Med
1916;17:863 (BSA); James WPT 1976, Research on Obesity (lean body mass);
Janmahasatian S et al., Clin Pharmacokinet 2005;44:1051 (lean body mass);
Sugawara Y et al., Radiology 1999;213:521 / DICOM PS3.16 CID 85 (ideal body weight).
The expected values are hand calculations written out in each test.
"""

from __future__ import annotations

import math
from typing import get_type_hints

import pytest

from sstrkit.core import body
from sstrkit.core.body import (
    HEIGHT_POSSIBLE_CM,
    WEIGHT_POSSIBLE_KG,
    bmi_kg_m2,
    bsa_du_bois,
    du_bois_formula_m2,
    ideal_body_weight,
    ideal_body_weight_formula_kg,
    james_formula_kg,
    janmahasatian_formula_kg,
    lbm_james,
    lbm_janmahasatian,
    parse_sex,
)
from sstrkit.errors import InvalidInputError

# --------------------------------------------------------------------- sex


@pytest.mark.parametrize(
    ("spelling", "sex"),
    [
        ("F", "F"),
        ("M", "M"),
        ("f", "F"),
        ("m", "M"),
        ("female", "F"),
        ("male", "M"),
        ("Female", "F"),
        ("MALE", "M"),
        (" woman ", "F"),
        ("man", "M"),
    ],
)
def test_parse_sex_reads_the_spellings_used_in_headers_cases_and_tables(
    spelling: str, sex: str
) -> None:
    assert parse_sex(spelling) == sex


@pytest.mark.parametrize("bad", ["O", "", "  ", "x", "mouse", "fm", None, 1, ["M"]])
def test_parse_sex_refuses_anything_else_with_a_typed_error(bad: object) -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_sex(bad, what="PatientSex (0010,0040)", fix="pass --sex")
    assert err.value.what == "PatientSex (0010,0040)"
    assert err.value.actual == repr(bad)
    assert err.value.fix == "pass --sex"


def test_one_sex_type_is_used_by_io_phantom_and_suv() -> None:
    from sstrkit.io import body_size
    from sstrkit.phantom import anatomy

    assert body_size.Sex is body.Sex
    assert get_type_hints(anatomy.PatientSpec)["sex"] == body.Sex
    assert body.SEXES == ("F", "M")


# --------------------------------------------------------------- formulas


def test_bmi_hand_calculation() -> None:
    # 80 kg, 180 cm: 80 / 1.80² = 80 / 3.24 = 24.691358 kg/m²
    assert bmi_kg_m2(80.0, 180.0) == pytest.approx(24.691358, rel=1e-7)


def test_du_bois_1916_hand_calculation() -> None:
    # Du Bois & Du Bois 1916: A[cm²] = 71.84 W^0.425 H^0.725 (W kg, H cm).
    # 70 kg, 170 cm: 0.425 ln 70 = 0.425 * 4.2484952 = 1.8056105
    #                0.725 ln 170 = 0.725 * 5.1357984 = 3.7234538
    # exp(5.5290643) = 251.9081; × 71.84 cm² = 18097.1 cm² = 1.80971 m²
    assert du_bois_formula_m2(70.0, 170.0) == pytest.approx(1.80971, rel=1e-5)
    assert bsa_du_bois(70.0, 170.0) == du_bois_formula_m2(70.0, 170.0)
    # ICRP 89 reference adult male 73 kg, 176 cm: exp(0.425 ln 73 + 0.725 ln 176)
    # = exp(1.8234 + 3.7486) = 262.92... → 1.8888 m² (Du Bois 1916 formula)
    expected = 0.007184 * math.exp(0.425 * math.log(73.0) + 0.725 * math.log(176.0))
    assert du_bois_formula_m2(73.0, 176.0) == pytest.approx(expected, rel=1e-12)
    assert du_bois_formula_m2(73.0, 176.0) == pytest.approx(1.889, abs=5e-4)


def test_james_1976_hand_calculation() -> None:
    # James 1976: male 1.10 W − 128 (W/H)², female 1.07 W − 148 (W/H)² (W kg, H cm).
    # male 70 kg, 175 cm: 77.0 − 128 × (0.4)² = 77.0 − 20.48 = 56.52 kg
    assert james_formula_kg(70.0, 175.0, "M") == pytest.approx(56.52, rel=1e-12)
    # female 60 kg, 165 cm: 64.2 − 148 × 0.1322314 = 64.2 − 19.57025 = 44.62975 kg
    assert lbm_james(60.0, 165.0, "female") == pytest.approx(44.629752, rel=1e-7)
    # DICOM CID 85 "LBM" (male coefficient 120): 77.0 − 120 × 0.16 = 57.8 kg
    assert lbm_james(70.0, 175.0, "M", male_coefficient=120.0) == pytest.approx(57.8, rel=1e-12)


def test_janmahasatian_2005_hand_calculation() -> None:
    # Janmahasatian 2005: male 9270 W / (6680 + 216 BMI), female 9270 W / (8780 + 244 BMI).
    # male 80 kg, 180 cm: BMI 24.691358; 741600 / (6680 + 5333.333) = 61.73141 kg
    assert janmahasatian_formula_kg(80.0, 180.0, "M") == pytest.approx(61.731410, rel=1e-7)
    # female 60 kg, 165 cm: BMI 22.038567; 556200 / (8780 + 5377.410) = 39.28685 kg
    assert lbm_janmahasatian(60.0, 165.0, "F") == pytest.approx(39.286846, rel=1e-7)


def test_ideal_body_weight_hand_calculation() -> None:
    # Sugawara 1999 / DICOM CID 85: male 48.0 + 1.06 (H − 152), female 45.5 + 0.91 (H − 152)
    # male 180 cm: 48.0 + 1.06 × 28 = 77.68 kg; female 160 cm: 45.5 + 0.91 × 8 = 52.78 kg
    assert ideal_body_weight(180.0, "M") == pytest.approx(77.68, rel=1e-12)
    assert ideal_body_weight_formula_kg(160.0, "F") == pytest.approx(52.78, rel=1e-12)


# ------------------------------------------------------------- input checks


def test_checked_functions_accept_the_possible_limits_inclusive() -> None:
    (wlo, whi), (hlo, hhi) = WEIGHT_POSSIBLE_KG, HEIGHT_POSSIBLE_CM
    assert (wlo, whi, hlo, hhi) == (1.0, 500.0, 30.0, 260.0)
    assert bsa_du_bois(wlo, hlo) == du_bois_formula_m2(wlo, hlo)
    assert bsa_du_bois(whi, hhi) == du_bois_formula_m2(whi, hhi)


@pytest.mark.parametrize(
    ("weight", "height", "what"),
    [
        (0.99, 170.0, "weight"),
        (501.0, 170.0, "weight"),
        (70.0, 1.7, "height"),
        (math.nan, 170.0, "weight"),
        (70.0, math.inf, "height"),
    ],
)
def test_impossible_weight_or_height_is_refused(weight: float, height: float, what: str) -> None:
    for f in (bsa_du_bois, lambda w, h: lbm_janmahasatian(w, h, "M")):
        with pytest.raises(InvalidInputError) as err:
            f(weight, height)
        assert err.value.what == what


def test_sex_dependent_formulas_refuse_sex_o() -> None:
    with pytest.raises(InvalidInputError, match="sex"):
        lbm_james(80.0, 180.0, "O")
    with pytest.raises(InvalidInputError, match="sex"):
        ideal_body_weight(180.0, "other")


def test_james_refuses_a_non_positive_result() -> None:
    # 250 kg, 150 cm male: 275 − 128 × (5/3)² = 275 − 355.6 < 0 (James fails in obesity)
    with pytest.raises(InvalidInputError, match="Janmahasatian"):
        lbm_james(250.0, 150.0, "M")


# --------------------------------------------------------------- one place


def test_old_import_paths_are_the_core_functions() -> None:
    from sstrkit.followup import percist
    from sstrkit.io import body_size, plausibility
    from sstrkit.phantom import anatomy

    for name in body_size.__all__:
        assert getattr(body_size, name) is getattr(body, name), name
    assert anatomy.bsa_du_bois_m2 is du_bois_formula_m2
    assert plausibility.WEIGHT_POSSIBLE_KG is WEIGHT_POSSIBLE_KG
    assert plausibility.HEIGHT_POSSIBLE_CM is HEIGHT_POSSIBLE_CM
    # PERCIST's LBM in g is the same formula (70 kg, 175 cm male, James: 56.52 kg)
    assert percist.lean_body_mass_g(70000.0, 1750.0, "M", formula="james") == pytest.approx(
        56520.0, rel=1e-12
    )
