"""Body-size formulas against their papers (arithmetic written out)."""

from __future__ import annotations

import math

import pytest

from sstrkit.errors import InvalidInputError
from sstrkit.io import body_size


def test_james_1976_male_and_female() -> None:
    # James (1976): male 1.10 W - 128 (W/H)^2, female 1.07 W - 148 (W/H)^2; W kg, H cm.
    # male 80 kg, 180 cm: 88.0 - 128 * (80/180)^2 = 88.0 - 128 * 0.197530864 = 62.71605
    assert body_size.lbm_james(80.0, 180.0, "M") == pytest.approx(62.716049, rel=1e-7)
    # female 60 kg, 165 cm: 64.2 - 148 * (60/165)^2 = 64.2 - 148 * 0.132231405 = 44.62975
    assert body_size.lbm_james(60.0, 165.0, "F") == pytest.approx(44.629752, rel=1e-7)
    # DICOM CID 85 "LBM" variant (Morgan & Bray / Sugawara) uses 120 for males:
    # 88.0 - 120 * 0.197530864 = 64.29630
    assert body_size.lbm_james(80.0, 180.0, "M", male_coefficient=120.0) == pytest.approx(
        64.296296, rel=1e-7
    )


def test_janmahasatian_2005() -> None:
    # Janmahasatian et al. 2005: male 9270 W / (6680 + 216 BMI), female 9270 W / (8780 + 244 BMI)
    # male 80 kg, 1.80 m: BMI = 80 / 3.24 = 24.691358; 216 * BMI = 5333.333
    # LBM = 741600 / 12013.333 = 61.73141
    assert body_size.lbm_janmahasatian(80.0, 180.0, "M") == pytest.approx(61.731410, rel=1e-7)
    # female 60 kg, 1.65 m: BMI = 60 / 2.7225 = 22.038567; 244 * BMI = 5377.410
    # LBM = 556200 / 14157.410 = 39.28685
    assert body_size.lbm_janmahasatian(60.0, 165.0, "F") == pytest.approx(39.286846, rel=1e-7)


def test_du_bois_1916() -> None:
    # Du Bois & Du Bois 1916: A[cm^2] = 71.84 W^0.425 H^0.725, i.e. 0.007184 ... in m^2.
    # 70 kg, 170 cm: exp(0.425 ln 70 + 0.725 ln 170) = exp(1.805610 + 3.723454) = 251.91
    # -> 0.007184 * 251.91 = 1.80971 m^2
    expected = 0.007184 * math.exp(0.425 * math.log(70.0) + 0.725 * math.log(170.0))
    assert body_size.bsa_du_bois(70.0, 170.0) == pytest.approx(expected, rel=1e-12)
    # the familiar rounded value for 70 kg / 170 cm is 1.81 m^2
    assert body_size.bsa_du_bois(70.0, 170.0) == pytest.approx(1.81, abs=0.005)


def test_ideal_body_weight() -> None:
    # Sugawara 1999 / DICOM CID 85: male 48.0 + 1.06 (H - 152), female 45.5 + 0.91 (H - 152)
    assert body_size.ideal_body_weight(180.0, "M") == pytest.approx(48.0 + 1.06 * 28.0)
    assert body_size.ideal_body_weight(160.0, "F") == pytest.approx(45.5 + 0.91 * 8.0)


def test_bad_inputs() -> None:
    with pytest.raises(InvalidInputError, match="sex"):
        body_size.lbm_james(80.0, 180.0, "O")
    with pytest.raises(InvalidInputError, match="height"):
        body_size.bsa_du_bois(80.0, 1.8)  # metres instead of cm
    with pytest.raises(InvalidInputError, match="Janmahasatian"):
        body_size.lbm_james(250.0, 150.0, "M")  # James fails for extreme obesity
