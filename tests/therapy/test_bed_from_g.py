"""bed_from_g: the one BED expression BED = D (1 + G D / (α/β)) (Dale 1985).

Reference: hand calculations written out in each test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sstrkit.errors import InvalidInputError
from sstrkit.therapy.radiobiology import (
    bed,
    bed_cycles,
    bed_from_g,
    ebrt_bed,
    g_factor,
    g_mono_exponential,
    repair_rate_per_s,
)

H = 3600.0


def test_hand_calculation() -> None:
    # D = 20 Gy, G = 0.25, α/β = 2.5 Gy: 20 × (1 + 0.25 × 20 / 2.5) = 20 × 3 = 60 Gy
    assert bed_from_g(20.0, 0.25, 2.5) == pytest.approx(60.0, rel=1e-15)
    # kidney, D = 20 Gy, T_eff 50 h, T_rep 2.8 h: G = 2.8/52.8 = 0.0530303,
    # 20 × (1 + 0.0530303 × 20 / 2.6) = 20 × 1.4079254 = 28.158508 Gy
    assert bed_from_g(20.0, 2.8 / 52.8, 2.6) == pytest.approx(28.158508, abs=1e-6)


def test_limits_of_g() -> None:
    # G = 0 (very protracted delivery): BED = D; G = 1 (acute): D (1 + D/(α/β)),
    # e.g. 4 Gy, α/β 10 Gy: 4 × 1.4 = 5.6 Gy = one EBRT fraction of 4 Gy
    assert bed_from_g(7.0, 0.0, 3.0) == 7.0
    assert bed_from_g(4.0, 1.0, 10.0) == pytest.approx(5.6, rel=1e-15)
    assert bed_from_g(4.0, 1.0, 10.0) == ebrt_bed(4.0, 1, 10.0)
    assert bed_from_g(0.0, 0.5, 2.6) == 0.0


def test_vectorised_over_dose_and_g() -> None:
    # the same hand values, element by element: [60, 7, 5.6] Gy
    d = np.array([20.0, 7.0, 4.0])
    g = np.array([0.25, 0.0, 1.0])
    out = bed_from_g(d, g, 2.5)
    assert isinstance(out, np.ndarray) and out.shape == (3,) and out.dtype == np.float64
    assert out.tolist() == [bed_from_g(float(x), float(y), 2.5) for x, y in zip(d, g, strict=True)]
    # 7 × (1 + 0) = 7; 4 × (1 + 4/2.5) = 10.4
    assert out == pytest.approx([60.0, 7.0, 10.4], rel=1e-15)
    # scalar G with a dose map (a 2×2 voxel map): 2 × (1 + 0.5 × 2 / 2) = 2 × 1.5 = 3 Gy
    assert bed_from_g(np.full((2, 2), 2.0), 0.5, 2.0).tolist() == [[3.0, 3.0], [3.0, 3.0]]


def test_bed_and_bed_cycles_call_it() -> None:
    g = g_factor(50 * H, 2.8 * H)
    assert bed(20.0, alpha_beta_gy=2.6, t_repair_s=2.8 * H, t_eff_s=50 * H) == bed_from_g(
        20.0, g, 2.6
    )
    r = bed_cycles([5.0, 3.0], alpha_beta_gy=2.6, t_repair_s=2.8 * H, t_eff_s=50 * H)
    assert r.bed_gy == bed_from_g(5.0, g, 2.6) + bed_from_g(3.0, g, 2.6)


@pytest.mark.parametrize("ab", [0.0, -2.6, math.nan, math.inf])
def test_alpha_beta_must_be_positive_and_finite(ab: float) -> None:
    with pytest.raises(InvalidInputError, match="α/β"):
        bed_from_g(20.0, 0.1, ab)


def test_mono_exponential_g_hand_calculation() -> None:
    # μ = ln 2 / 2.8 h; λ = ln 2 / 50 h: G = λ/(λ+μ) = (1/50)/(1/50 + 1/2.8) = 2.8/52.8
    mu = repair_rate_per_s(2.8 * H)
    assert mu == pytest.approx(math.log(2) / (2.8 * H), rel=1e-15)
    lam = math.log(2) / (50 * H)
    assert g_mono_exponential(lam, mu) == pytest.approx(2.8 / 52.8, rel=1e-12)
    assert g_mono_exponential(lam, mu) == g_factor(50 * H, 2.8 * H)
    # map of decay constants: λ = μ gives G = 1/2, λ = 3μ gives 3/4
    out = g_mono_exponential(np.array([mu, 3 * mu]), mu)
    assert out == pytest.approx([0.5, 0.75], rel=1e-15)
    with pytest.raises(InvalidInputError, match="repair"):
        repair_rate_per_s(0.0)
