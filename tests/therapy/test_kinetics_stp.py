"""Single-time-point methods (Hänscheid 2018, Madsen 2018).

References: the formulas TIA = 2·t·A(t)/ln 2 (Hänscheid et al., J Nucl Med
2018;59:75) and TIA = A(t)·e^(λt)/λ with a population λ (Madsen et al., Med
Phys 2018;45:2318); both are exact for mono-exponential kinetics with the
assumed half-life, which is what the tests check against the analytic integral.
"""

from __future__ import annotations

import math

import pytest

from sstrkit.errors import InvalidInputError
from sstrkit.physics.nuclides import get_nuclide
from sstrkit.therapy.stp import (
    hanscheid_ratio,
    hanscheid_tia,
    madsen_tia,
    single_time_point,
)

LU = get_nuclide("Lu-177")
H = 3600.0
LN2 = math.log(2)


def test_madsen_exact_for_mono_exponential() -> None:
    a0, teff, t1 = 7e7, 55 * H, 96 * H
    a_t1 = a0 * math.exp(-LN2 / teff * t1)
    assert madsen_tia(a_t1, t1, t_eff_s=teff) == pytest.approx(a0 * teff / LN2, rel=1e-12)


def test_hanscheid_exact_when_t_equals_teff() -> None:
    a0, t1 = 7e7, 96 * H
    a_t1 = a0 * 0.5  # one effective half-life later
    assert hanscheid_tia(a_t1, t1) == pytest.approx(a0 * t1 / LN2, rel=1e-12)


def test_hanscheid_ratio_against_exact_integral() -> None:
    t1, teff = 96 * H, 150 * H
    a0 = 1.0
    true = a0 * teff / LN2
    est = hanscheid_tia(a0 * math.exp(-LN2 / teff * t1), t1)
    assert est / true == pytest.approx(hanscheid_ratio(t1, teff), rel=1e-12)
    assert hanscheid_ratio(t1, teff) < 1  # long half-lives are underestimated


def test_madsen_sd_by_derivative() -> None:
    t1, teff, sd_t = 96 * H, 60 * H, 6 * H
    r = single_time_point(
        1e6,
        t1,
        method="madsen",
        half_life=LU,
        population_t_eff_s=teff,
        population_t_eff_sd_s=sd_t,
    )
    h = 1e-3 * H  # central finite difference as the independent derivative
    d = (madsen_tia(1e6, t1, t_eff_s=teff + h) - madsen_tia(1e6, t1, t_eff_s=teff - h)) / (2 * h)
    assert r.tia_sd_bq_s == pytest.approx(abs(d) * sd_t, rel=1e-6)
    assert r.provenance[0].sources[0].startswith("Madsen")


def test_stp_constraints() -> None:
    with pytest.raises(InvalidInputError, match="physical half-life"):
        single_time_point(
            1e6, 96 * H, method="madsen", half_life=LU, population_t_eff_s=LU.half_life_s * 1.5
        )
    with pytest.raises(InvalidInputError, match="population"):
        single_time_point(1e6, 96 * H, method="madsen", half_life=LU)
    with pytest.raises(InvalidInputError):
        single_time_point(-1.0, 96 * H, method="hanscheid", half_life=LU)
    with pytest.raises(InvalidInputError):
        single_time_point(1.0, 0.0, method="hanscheid", half_life=LU)
    with pytest.raises(InvalidInputError):
        single_time_point(1.0, 1.0, method="other", half_life=LU)  # type: ignore[arg-type]
    late = single_time_point(1.0, 200 * H, method="hanscheid", half_life=LU)
    assert late.warnings  # T = t longer than physical decay allows
