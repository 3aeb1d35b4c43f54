"""BED / EQD2 with the Lea–Catcheside factor.

References: hand calculations written out in each test (Dale 1985 mono-exponential
G = λ/(λ+μ); EQD2 = BED/(1 + 2/(α/β)); fractionated BED = nd(1 + d/(α/β))), and an
independent numerical evaluation of the Lea–Catcheside double integral
G = (2/D²)∫₀^∞ Ḋ(t)∫₀^t Ḋ(w)e^(−μ(t−w)) dw dt with scipy.integrate.dblquad.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from sstrkit.errors import InvalidInputError
from sstrkit.therapy.radiobiology import (
    bed,
    bed_cycles,
    combine_with_ebrt,
    dose_for_bed,
    ebrt_bed,
    eqd2,
    g_factor,
    lea_catcheside_g,
    tissue_parameters,
    tissue_table,
)

H = 3600.0
LN2 = math.log(2)


def _numerical_g(rate: object, dose: float, mu: float, t_max: float) -> float:
    """G by 2-D quadrature of the Lea–Catcheside double integral (hours)."""
    f = rate  # callable Ḋ(t) in Gy/h

    def inner(w: float, t: float) -> float:
        return f(t) * f(w) * math.exp(-mu * (t - w))  # type: ignore[operator, no-any-return]

    val, _ = integrate.dblquad(inner, 0.0, t_max, 0.0, lambda t: t, epsabs=1e-12, epsrel=1e-10)
    return 2.0 * val / dose**2


def test_mono_exponential_hand_calculation() -> None:
    # D = 20 Gy, T_eff = 50 h, T_rep = 2.8 h, α/β = 2.6 Gy (kidney):
    # G = λ/(λ+μ) = (1/50)/(1/50 + 1/2.8) = 2.8/52.8 = 0.0530303...
    # BED = 20·(1 + 0.0530303·20/2.6) = 28.158508...; EQD2 = BED/(1 + 2/2.6) = 15.91567...
    g = g_factor(50 * H, 2.8 * H)
    assert g == pytest.approx(2.8 / 52.8, rel=1e-12)
    b = bed(20.0, alpha_beta_gy=2.6, t_repair_s=2.8 * H, t_eff_s=50 * H)
    assert b == pytest.approx(20 * (1 + 2.8 / 52.8 * 20 / 2.6), rel=1e-12)
    assert b == pytest.approx(28.158508, abs=1e-6)
    assert eqd2(b, 2.6) == pytest.approx(28.158508 / (1 + 2 / 2.6), rel=1e-6)


def test_mono_exponential_against_double_integral() -> None:
    teff, trep, dose = 30.0, 1.5, 10.0  # hours, Gy
    lam, mu = LN2 / teff, LN2 / trep
    d0 = dose * lam  # Ḋ₀ = λD

    def rate(t: float) -> float:
        return d0 * math.exp(-lam * t)

    # truncating at 40 T_eff leaves a relative tail of 2^-40
    g_num = _numerical_g(rate, dose, mu, 40 * teff)
    assert g_factor(teff * H, trep * H) == pytest.approx(g_num, rel=1e-6)


def test_uptake_clearance_hand_and_numerical() -> None:
    tc, tu, trep = 60.0, 2.0, 2.8  # hours
    lc, lu, mu = LN2 / tc, LN2 / tu, LN2 / trep
    # Ḋ = K(e^{−λc t} − e^{−λu t}); D = K(1/λc − 1/λu)
    k = 1.0
    dose = k * (1 / lc - 1 / lu)
    # hand-expanded Σᵢⱼ cᵢcⱼ/((λᵢ+λⱼ)(λᵢ+μ)) with c = (K, −K):
    s = (
        1 / (2 * lc * (lc + mu))
        - 1 / ((lc + lu) * (lc + mu))
        - 1 / ((lu + lc) * (lu + mu))
        + 1 / (2 * lu * (lu + mu))
    )
    g_hand = 2 * k * k * s / dose**2
    g = g_factor(tc * H, trep * H, tu * H)
    assert g == pytest.approx(g_hand, rel=1e-12)

    def rate(t: float) -> float:
        return k * (math.exp(-lc * t) - math.exp(-lu * t))

    assert g == pytest.approx(_numerical_g(rate, dose, mu, 40 * tc), rel=1e-6)
    # an uptake phase delays delivery: G is smaller than for the same clearance alone
    assert g < g_factor(tc * H, trep * H)


def test_general_sum_of_exponentials_against_double_integral() -> None:
    coeffs, rates, mu = [3.0, 1.0], [0.5, 0.02], 0.3  # per hour
    dose = sum(c / r for c, r in zip(coeffs, rates, strict=True))

    def rate(t: float) -> float:
        return sum(c * math.exp(-r * t) for c, r in zip(coeffs, rates, strict=True))

    g_num = _numerical_g(rate, dose, mu, 40 / 0.02 * LN2)
    assert lea_catcheside_g(coeffs, rates, mu) == pytest.approx(g_num, rel=1e-6)


def test_limits_of_g() -> None:
    # very fast delivery → G → 1 (acute); very slow → G → 0
    assert g_factor(1e-6 * H, 10 * H) == pytest.approx(1.0, abs=1e-6)
    assert g_factor(1e6 * H, 0.5 * H) == pytest.approx(0.0, abs=1e-6)


def test_cycles_add_with_complete_repair() -> None:
    doses = [5.0, 6.0, 4.0]
    teffs = [50 * H, 45 * H, 55 * H]
    res = bed_cycles(doses, alpha_beta_gy=2.6, t_repair_s=2.8 * H, t_eff_s=teffs)
    each = [
        bed(d, alpha_beta_gy=2.6, t_repair_s=2.8 * H, t_eff_s=t)
        for d, t in zip(doses, teffs, strict=True)
    ]
    assert res.bed_gy == pytest.approx(sum(each), rel=1e-12)
    assert [c.bed_gy for c in res.per_cycle] == pytest.approx(each)
    assert res.eqd2_gy == pytest.approx(sum(each) / (1 + 2 / 2.6))
    assert res.dose_gy == pytest.approx(15.0)
    # summing cycles is less than one delivery of the total (repair between cycles)
    assert res.bed_gy < bed(15.0, alpha_beta_gy=2.6, t_repair_s=2.8 * H, t_eff_s=50 * H)


def test_dose_for_bed_inverts_bed() -> None:
    g = g_factor(50 * H, 2.8 * H)
    d = dose_for_bed(40.0, alpha_beta_gy=2.6, g=g)
    assert bed(d, alpha_beta_gy=2.6, t_repair_s=2.8 * H, t_eff_s=50 * H) == pytest.approx(40.0)
    assert dose_for_bed(12.0, alpha_beta_gy=2.6, g=0.0) == 12.0


def test_ebrt_and_combination() -> None:
    # 25 × 2 Gy at α/β = 3 Gy: BED = 50(1 + 2/3) = 83.33 Gy, EQD2 = 50 Gy by definition
    assert ebrt_bed(2.0, 25, 3.0) == pytest.approx(50 * (1 + 2 / 3))
    assert eqd2(ebrt_bed(2.0, 25, 3.0), 3.0) == pytest.approx(50.0)
    prrt = bed_cycles([8.0, 8.0], alpha_beta_gy=3.0, t_repair_s=1.5 * H, t_eff_s=70 * H)
    comb = combine_with_ebrt(prrt, ebrt_dose_per_fraction_gy=3.0, ebrt_fractions=10)
    ebrt_eqd2 = 30 * (1 + 3 / 3) / (1 + 2 / 3)  # 10 × 3 Gy → 36 Gy EQD2
    assert comb.ebrt_eqd2_gy == pytest.approx(ebrt_eqd2)
    assert comb.total_eqd2_gy == pytest.approx(prrt.eqd2_gy + ebrt_eqd2)
    assert comb.total_bed_gy == pytest.approx(prrt.bed_gy + 60.0)


def test_tissue_table_and_override() -> None:
    table = tissue_table()
    assert {"kidney", "red_marrow", "tumour"} <= set(table)
    kid = tissue_parameters("kidneys")
    # values as used for PRRT kidney BED by Barone 2005 / Bodei 2008 (see data file)
    assert kid.alpha_beta_gy == 2.6
    assert kid.t_repair_s == pytest.approx(2.8 * H)
    assert all(p.sources for p in table.values())
    over = tissue_parameters("kidney", t_repair_s=1.5 * H)
    assert over.t_repair_s == 1.5 * H and over.basis == "user override"
    with pytest.raises(InvalidInputError, match="tissue"):
        tissue_parameters("brain")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dose_gy": -1.0},
        {"alpha_beta_gy": 0.0},
        {"t_repair_s": -5.0},
        {"t_eff_s": 0.0},
        {"t_eff_s": float("nan")},
        {"t_uptake_s": 80 * H},  # uptake slower than clearance
        {"t_uptake_s": -1.0},
    ],
)
def test_bad_input(kwargs: dict[str, float]) -> None:
    args: dict[str, float] = {
        "dose_gy": 5.0,
        "alpha_beta_gy": 2.6,
        "t_repair_s": 2.8 * H,
        "t_eff_s": 50 * H,
    }
    args.update(kwargs)
    with pytest.raises(InvalidInputError):
        bed(args.pop("dose_gy"), **args)


def test_bad_cycle_inputs() -> None:
    with pytest.raises(InvalidInputError):
        bed_cycles([], alpha_beta_gy=2.6, t_repair_s=H, t_eff_s=H)
    with pytest.raises(InvalidInputError, match="one per cycle"):
        bed_cycles([1.0, 2.0], alpha_beta_gy=2.6, t_repair_s=H, t_eff_s=[H, H, H])
    with pytest.raises(InvalidInputError):
        ebrt_bed(2.0, -3, 3.0)
    with pytest.raises(InvalidInputError):
        lea_catcheside_g([1.0, -1.0], [0.1, 0.1], 0.3)  # zero total dose
    assert np.isfinite(lea_catcheside_g([1.0], [1e-3], 1.0))
