"""Correlation and regression: cross-checks with scipy, a synthetic reporter experiment,
coverage of the confidence intervals, diagnostics and plots."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sstrkit.errors import InvalidInputError
from sstrkit.preclinical.correlate import (
    pearson,
    regress,
    regression_figure,
    spearman,
    write_png,
)

VECTOR_DOSES = np.array([1e9, 3e9, 1e10, 3e10, 1e11])  # AAV vector genomes per animal


def reporter_experiment(seed: int, n_per_dose: int = 5) -> dict[str, np.ndarray]:
    """Synthetic hSSTr2 reporter study (the simulated truth is stated here).

    * expression (hSSTr2 mRNA copies per µg RNA by qPCR) = 2000 × (dose / 1e9)^0.7 with
      log-normal biological scatter (σ_ln = 0.3);
    * tracer uptake (%ID/g) = 0.30 + 4.0e-5 × expression + N(0, 0.25²) measurement noise;
    * therefore against log10 vector dose the mean uptake is not linear, but the tests below
      regress uptake on expression (linear, slope 4e-5) and log10 expression on log10 dose
      (power law, slope 0.7).
    """
    rng = np.random.default_rng(seed)
    dose = np.repeat(VECTOR_DOSES, n_per_dose)
    expression = 2000.0 * (dose / 1e9) ** 0.7 * np.exp(rng.normal(0.0, 0.3, dose.size))
    uptake = 0.30 + 4.0e-5 * expression + rng.normal(0.0, 0.25, dose.size)
    return {"dose": dose, "expression": expression, "uptake": uptake}


def test_reporter_experiment_recovers_the_simulated_slopes() -> None:
    data = reporter_experiment(seed=7)
    lin = regress(data["expression"], data["uptake"])
    assert lin.slope_ci[0] <= 4.0e-5 <= lin.slope_ci[1]
    assert lin.intercept_ci[0] <= 0.30 <= lin.intercept_ci[1]
    assert lin.p_slope < 1e-6 and lin.r_squared > 0.8
    power = regress(data["dose"], data["expression"], x_transform="log10", y_transform="log10")
    assert power.slope_ci[0] <= 0.7 <= power.slope_ci[1]
    # the relation is monotone: Spearman of uptake with vector dose is positive, CI excludes 0
    rho = spearman(data["dose"], data["uptake"])
    assert rho.r > 0 and rho.ci_low > 0


def test_slope_ci_coverage_is_nominal() -> None:
    # 400 independent experiments: the 95 % t interval of the slope must cover the true slope
    # in 95 % of them; binomial SD √(0.95·0.05/400) = 1.1 %, so [0.92, 0.98] is ±2.7 SD.
    hits = 0
    for seed in range(400):
        d = reporter_experiment(seed, n_per_dose=4)
        lo, hi = regress(d["expression"], d["uptake"]).slope_ci
        hits += lo <= 4.0e-5 <= hi
    assert 0.92 <= hits / 400 <= 0.98


def test_pearson_fisher_interval_coverage() -> None:
    # Bivariate normal, ρ = 0.6, n = 20; the Fisher z interval is approximate but close to
    # nominal at this n (coverage tolerance as above).
    rng = np.random.default_rng(11)
    cov = [[1.0, 0.6], [0.6, 1.0]]
    hits = 0
    for _ in range(400):
        xy = rng.multivariate_normal([0.0, 0.0], cov, size=20)
        c = pearson(xy[:, 0], xy[:, 1])
        hits += c.ci_low <= 0.6 <= c.ci_high
    assert 0.92 <= hits / 400 <= 0.98


def test_pearson_and_spearman_match_scipy() -> None:
    d = reporter_experiment(seed=3)
    x, y = np.log10(d["dose"]), d["uptake"]
    p = pearson(x, y)
    ref = stats.pearsonr(x, y)
    ci = ref.confidence_interval(0.95)  # scipy: Fisher transformation
    assert p.r == pytest.approx(ref.statistic, rel=1e-12)
    assert p.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert (p.ci_low, p.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    s = spearman(x, y)  # ties in x (5 animals per dose): mid-ranks
    sref = stats.spearmanr(x, y)
    assert s.r == pytest.approx(sref.statistic, rel=1e-12)
    assert s.p_value == pytest.approx(sref.pvalue, rel=1e-9)


def test_spearman_bonett_wright_interval_hand_computed() -> None:
    # ρ = 0.8, n = 5: SE = √((1 + 0.64/2)/2) = √0.66 = 0.812404; z = artanh 0.8 = 1.098612;
    # 1.959964 × 0.812404 = 1.592283 → tanh(−0.493671) = −0.457124, tanh(2.690895) = 0.990843.
    s = spearman([1, 2, 3, 4, 5], [1, 3, 2, 5, 4])
    assert s.r == pytest.approx(0.8, abs=1e-12)
    assert s.ci_low == pytest.approx(-0.457124, abs=2e-6)
    assert s.ci_high == pytest.approx(0.990843, abs=2e-6)


def test_spearman_bootstrap_interval() -> None:
    d = reporter_experiment(seed=5, n_per_dose=8)
    bw = spearman(d["expression"], d["uptake"])
    bs = spearman(d["expression"], d["uptake"], ci="bootstrap", n_boot=2000, seed=1)
    assert bs.r == bw.r
    assert bs.ci_low < bs.r < bs.ci_high
    # same seed, same interval; and the two methods agree on the width within a factor 1.5
    again = spearman(d["expression"], d["uptake"], ci="bootstrap", n_boot=2000, seed=1)
    assert (again.ci_low, again.ci_high) == (bs.ci_low, bs.ci_high)
    ratio = (bs.ci_high - bs.ci_low) / (bw.ci_high - bw.ci_low)
    assert 1 / 1.5 < ratio < 1.5


def test_regression_matches_scipy_linregress() -> None:
    d = reporter_experiment(seed=9)
    fit = regress(d["dose"], d["uptake"], x_transform="log10")
    ref = stats.linregress(np.log10(d["dose"]), d["uptake"])
    assert fit.slope == pytest.approx(ref.slope, rel=1e-10)
    assert fit.intercept == pytest.approx(ref.intercept, rel=1e-10)
    assert fit.slope_se == pytest.approx(ref.stderr, rel=1e-9)
    assert fit.intercept_se == pytest.approx(ref.intercept_stderr, rel=1e-9)
    assert fit.r_squared == pytest.approx(ref.rvalue**2, rel=1e-10)
    assert fit.p_slope == pytest.approx(ref.pvalue, rel=1e-6)


def test_diagnostics() -> None:
    rng = np.random.default_rng(2)
    x = np.linspace(1.0, 10.0, 30)
    y = 1.0 + 2.0 * x + rng.normal(0.0, 0.5, x.size)
    clean = regress(x, y)
    # Leverage: h_ii = 1/n + (x_i − x̄)²/Sxx sums to 2 (the number of parameters).
    assert float(clean.leverage.sum()) == pytest.approx(2.0, rel=1e-12)
    # Cook's distance cross-check: D_i = e_i² h_ii / (p s² (1 − h_ii)²), p = 2, by hand here.
    s2 = float(np.sum(clean.residuals**2)) / (x.size - 2)
    h = clean.leverage
    np.testing.assert_allclose(
        clean.cooks_distance, clean.residuals**2 * h / (2 * s2 * (1 - h) ** 2), rtol=1e-12
    )
    assert clean.shapiro_p is not None and clean.shapiro_p > 0.01
    # one gross outlier at the end is flagged as influential and breaks normality
    y_out = y.copy()
    y_out[-1] += 15.0
    bad = regress(x, y_out)
    assert x.size - 1 in bad.influential
    assert bad.shapiro_p is not None and bad.shapiro_p < 0.01
    # Breusch–Pagan (Koenker): LM = n R² of e² on x, cross-checked with numpy least squares;
    # noise growing with x must be detected.
    y_het = 1.0 + 2.0 * x + rng.normal(0.0, 1.0, x.size) * x**1.5 / 5
    het = regress(x, y_het)
    e2 = het.residuals**2
    a = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(a, e2, rcond=None)
    r2 = 1 - np.sum((e2 - a @ coef) ** 2) / np.sum((e2 - e2.mean()) ** 2)
    assert het.breusch_pagan_lm == pytest.approx(x.size * r2, rel=1e-9)
    assert het.breusch_pagan_p < 0.05
    # confidence band of the mean at x̄ is ± t·s/√n
    fit, lo, hi = clean.band([float(x.mean())])
    assert float(fit[0] - lo[0]) == pytest.approx(float(hi[0] - fit[0]))
    q = stats.t.ppf(0.975, x.size - 2)
    assert float(hi[0] - fit[0]) == pytest.approx(q * clean.residual_sd / math.sqrt(x.size))


def test_plots_are_written_atomically(tmp_path: Path) -> None:
    d = reporter_experiment(seed=1)
    fit = regress(d["dose"], d["uptake"], x_transform="log10")
    fig = regression_figure(
        fit,
        x_label="vector dose (vg)",
        y_label="uptake (%ID/g)",
        correlation=pearson(fit.transformed_x(), fit.transformed_y()),
    )
    out = write_png(fig, tmp_path / "plots" / "fit.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["fit.png"]  # no temporary file left


def test_bad_inputs() -> None:
    with pytest.raises(InvalidInputError, match="log10"):
        regress([0.0, 1.0, 2.0], [1.0, 2.0, 3.0], x_transform="log10")
    with pytest.raises(InvalidInputError, match="at least 3 pairs"):
        regress([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(InvalidInputError, match="at least 4 pairs"):
        pearson([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    with pytest.raises(InvalidInputError, match="constant"):
        pearson([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(InvalidInputError, match="equal length"):
        regress([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(InvalidInputError, match="finite"):
        regress([1.0, 2.0, float("nan")], [1.0, 2.0, 3.0])
    with pytest.raises(InvalidInputError, match="confidence"):
        pearson([1, 2, 3, 4], [1, 3, 2, 4], confidence=1.0)
