"""Expression–uptake statistics: correlations with confidence intervals, regression, plots.

Correlation
    *Pearson* r with the Fisher z interval: z = artanh r, SE = 1/√(n − 3),
    CI = tanh(z ± z₁₋α/₂·SE) (Fisher 1921); p from t = r√((n − 2)/(1 − r²)), n − 2 df.
    *Spearman* ρ (Pearson r of the mid-ranks) with either the Fisher z interval
    using the Bonett–Wright standard error SE = √((1 + ρ²/2)/(n − 3)) (Bonett &
    Wright, Psychometrika 2000;65:23–28; default) or a percentile bootstrap over
    resampled pairs (``ci="bootstrap"``, seeded); p from the same t approximation.
Regression
    Ordinary least squares y = a + b·x on optionally log10-transformed x and/or y
    (``x_transform="log10"``: uptake against log vector dose, the usual "log-linear"
    dose–response; both log10: a power law). Slope and intercept with standard
    errors and t-based confidence intervals (n − 2 df), R², adjusted R², residual
    SD, and diagnostics: residuals, leverage h_ii, Cook's distance (flagged above
    4/n), the Shapiro–Wilk test of the residuals (n ≥ 3), and the Koenker
    (studentised) Breusch–Pagan test of heteroscedasticity (LM = n·R² of e² on x,
    χ² with 1 df; Koenker 1981).
Plots
    :func:`regression_figure` draws the scatter with the fitted line and its
    confidence band, residuals against fitted values, and a normal Q–Q plot of
    the residuals; :func:`write_png` writes it atomically (matplotlib Agg canvas,
    no GUI backend).

Examples
--------
>>> x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
>>> fit = regress(x, 2.0 * x + 1.0 + np.array([0.1, -0.1, 0.0, 0.1, -0.1]))
>>> round(fit.slope, 6), round(fit.intercept, 6)
(1.98, 1.06)
>>> round(pearson(x, x ** 2).r, 4)
0.9811
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from sstrkit.core.atomic import write_bytes_atomic
from sstrkit.core.provenance import Step
from sstrkit.errors import InvalidInputError

__all__ = [
    "Correlation",
    "Regression",
    "SpearmanCI",
    "Transform",
    "figure_png",
    "pearson",
    "regress",
    "regression_figure",
    "spearman",
    "write_png",
]

Transform = Literal["linear", "log10"]
SpearmanCI = Literal["bonett-wright", "bootstrap"]

_SOURCES = (
    "Fisher RA. Metron 1921;1:3-32 (z transformation)",
    "Bonett DG, Wright TA. Psychometrika 2000;65:23-28 (Spearman SE)",
    "Shapiro SS, Wilk MB. Biometrika 1965;52:591-611",
    "Koenker R. J Econometrics 1981;17:107-112 (studentised Breusch-Pagan)",
    "Cook RD. Technometrics 1977;19:15-18 (Cook's distance)",
)


def _pair(x: ArrayLike, y: ArrayLike, min_n: int, what: str) -> tuple[NDArray[np.float64], ...]:
    xa = np.asarray(x, dtype=float).ravel()
    ya = np.asarray(y, dtype=float).ravel()
    if xa.shape != ya.shape:
        raise InvalidInputError(
            f"{what} data", expected="x and y of equal length", actual=(xa.size, ya.size)
        )
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise InvalidInputError(
            f"{what} data",
            expected="finite numbers",
            actual="NaN or infinite values",
            fix="remove animals/lesions with missing measurements",
        )
    if xa.size < min_n:
        raise InvalidInputError(f"{what} data", expected=f"at least {min_n} pairs", actual=xa.size)
    if np.ptp(xa) == 0 or np.ptp(ya) == 0:
        raise InvalidInputError(
            f"{what} data", expected="x and y that vary", actual="a constant variable"
        )
    return xa, ya


def _check_conf(confidence: float) -> float:
    c = float(confidence)
    if not (0.5 <= c < 1):
        raise InvalidInputError("confidence level", expected="0.5 ≤ level < 1", actual=c)
    return c


@dataclass(frozen=True)
class Correlation:
    """A correlation coefficient with its confidence interval and p value."""

    method: Literal["pearson", "spearman"]
    r: float
    ci_low: float
    ci_high: float
    confidence: float
    p_value: float
    n: int
    ci_method: str
    provenance: tuple[Step, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "r": self.r,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
            "p_value": self.p_value,
            "n": self.n,
            "ci_method": self.ci_method,
        }


def _t_p_value(r: float, n: int) -> float:
    if abs(r) >= 1.0:
        return 0.0
    t = r * math.sqrt((n - 2) / (1.0 - r * r))
    return float(2.0 * stats.t.sf(abs(t), n - 2))


def _fisher_ci(r: float, se: float, confidence: float) -> tuple[float, float]:
    if abs(r) >= 1.0:
        return r, r
    z = math.atanh(r)
    q = float(stats.norm.ppf(0.5 + confidence / 2.0))
    return math.tanh(z - q * se), math.tanh(z + q * se)


def pearson(x: ArrayLike, y: ArrayLike, *, confidence: float = 0.95) -> Correlation:
    """Pearson r with the Fisher z confidence interval (n ≥ 4).

    >>> c = pearson([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5])
    >>> round(c.r, 4), round(c.ci_low, 4), round(c.ci_high, 4)
    (0.8286, 0.0519, 0.9807)
    """
    xa, ya = _pair(x, y, 4, "correlation")
    conf = _check_conf(confidence)
    n = xa.size
    r = float(np.clip(np.corrcoef(xa, ya)[0, 1], -1.0, 1.0))
    lo, hi = _fisher_ci(r, 1.0 / math.sqrt(n - 3), conf)
    step = Step.make(
        "pearson", {"n": n, "confidence": conf, "ci": "Fisher z"}, sources=_SOURCES[:1]
    )
    return Correlation("pearson", r, lo, hi, conf, _t_p_value(r, n), n, "Fisher z", (step,))


def _spearman_r(xa: NDArray[np.float64], ya: NDArray[np.float64]) -> float:
    rx, ry = stats.rankdata(xa), stats.rankdata(ya)
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return float("nan")
    return float(np.clip(np.corrcoef(rx, ry)[0, 1], -1.0, 1.0))


def spearman(
    x: ArrayLike,
    y: ArrayLike,
    *,
    confidence: float = 0.95,
    ci: SpearmanCI = "bonett-wright",
    n_boot: int = 2000,
    seed: int = 0,
) -> Correlation:
    """Spearman ρ (mid-ranks for ties) with a Bonett–Wright or bootstrap interval (n ≥ 4).

    >>> s = spearman([1, 2, 3, 4, 5], [1, 3, 2, 5, 4])
    >>> round(s.r, 4)
    0.8
    """
    xa, ya = _pair(x, y, 4, "correlation")
    conf = _check_conf(confidence)
    n = xa.size
    rho = _spearman_r(xa, ya)
    if ci == "bonett-wright":
        lo, hi = _fisher_ci(rho, math.sqrt((1.0 + rho * rho / 2.0) / (n - 3)), conf)
        label = "Fisher z with Bonett-Wright SE sqrt((1 + rho^2/2)/(n - 3))"
        params: dict[str, Any] = {}
    elif ci == "bootstrap":
        if n_boot < 200:
            raise InvalidInputError("n_boot", expected="≥ 200 resamples", actual=n_boot)
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(n_boot, n))
        rx = stats.rankdata(xa[idx], axis=1)
        ry = stats.rankdata(ya[idx], axis=1)
        rx -= rx.mean(axis=1, keepdims=True)
        ry -= ry.mean(axis=1, keepdims=True)
        den = np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
        ok = den > 0
        boots = (rx * ry).sum(axis=1)[ok] / den[ok]
        lo, hi = (float(v) for v in np.quantile(boots, [(1 - conf) / 2, (1 + conf) / 2]))
        label = "percentile bootstrap of resampled pairs"
        params = {"n_boot": n_boot, "seed": seed, "degenerate_resamples": int((~ok).sum())}
    else:
        raise InvalidInputError("ci", expected="'bonett-wright' or 'bootstrap'", actual=ci)
    step = Step.make(
        "spearman", {"n": n, "confidence": conf, "ci": label, **params}, sources=_SOURCES[:2]
    )
    return Correlation("spearman", rho, lo, hi, conf, _t_p_value(rho, n), n, label, (step,))


# --------------------------------------------------------------------------- regression


def _transform(v: NDArray[np.float64], how: Transform, name: str) -> NDArray[np.float64]:
    if how == "linear":
        return v
    if how == "log10":
        if np.any(v <= 0):
            raise InvalidInputError(
                f"{name} for a log10 transform",
                expected="values > 0",
                actual=f"minimum {float(v.min()):.4g}",
                fix=f"use --{name}-scale linear, or remove zero/negative values",
            )
        result: NDArray[np.float64] = np.log10(v)
        return result
    raise InvalidInputError(f"{name} transform", expected="'linear' or 'log10'", actual=how)


@dataclass(frozen=True, eq=False)
class Regression:
    """OLS fit y' = a + b·x' on the transformed variables, with diagnostics."""

    x_transform: Transform
    y_transform: Transform
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    slope: float
    slope_se: float
    slope_ci: tuple[float, float]
    intercept: float
    intercept_se: float
    intercept_ci: tuple[float, float]
    confidence: float
    r_squared: float
    adjusted_r_squared: float
    residual_sd: float
    p_slope: float
    fitted: NDArray[np.float64]
    residuals: NDArray[np.float64]
    leverage: NDArray[np.float64]
    cooks_distance: NDArray[np.float64]
    shapiro_w: float | None
    shapiro_p: float | None
    breusch_pagan_lm: float
    breusch_pagan_p: float
    provenance: tuple[Step, ...] = field(default=(), repr=False)

    @property
    def n(self) -> int:
        return int(self.x.size)

    @property
    def influential(self) -> tuple[int, ...]:
        """Indices with Cook's distance > 4/n."""
        return tuple(int(i) for i in np.flatnonzero(self.cooks_distance > 4.0 / self.n))

    def transformed_x(self) -> NDArray[np.float64]:
        return _transform(self.x, self.x_transform, "x")

    def transformed_y(self) -> NDArray[np.float64]:
        return _transform(self.y, self.y_transform, "y")

    def band(
        self, x_new: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """(fit, lower, upper) of the mean response at ``x_new`` (original x units),
        on the transformed y scale."""
        xt = self.transformed_x()
        xn = _transform(np.atleast_1d(np.asarray(x_new, dtype=float)), self.x_transform, "x")
        fit = self.intercept + self.slope * xn
        sxx = float(np.sum((xt - xt.mean()) ** 2))
        se = self.residual_sd * np.sqrt(1.0 / self.n + (xn - xt.mean()) ** 2 / sxx)
        q = float(stats.t.ppf(0.5 + self.confidence / 2.0, self.n - 2))
        return fit, fit - q * se, fit + q * se

    def to_dict(self) -> dict[str, Any]:
        return {
            "x_transform": self.x_transform,
            "y_transform": self.y_transform,
            "n": self.n,
            "slope": self.slope,
            "slope_se": self.slope_se,
            "slope_ci": list(self.slope_ci),
            "intercept": self.intercept,
            "intercept_se": self.intercept_se,
            "intercept_ci": list(self.intercept_ci),
            "confidence": self.confidence,
            "r_squared": self.r_squared,
            "adjusted_r_squared": self.adjusted_r_squared,
            "residual_sd": self.residual_sd,
            "p_slope": self.p_slope,
            "diagnostics": {
                "residuals": self.residuals.tolist(),
                "leverage": self.leverage.tolist(),
                "cooks_distance": self.cooks_distance.tolist(),
                "influential_indices": list(self.influential),
                "shapiro_w": self.shapiro_w,
                "shapiro_p": self.shapiro_p,
                "breusch_pagan_lm": self.breusch_pagan_lm,
                "breusch_pagan_p": self.breusch_pagan_p,
            },
            "provenance": [s.to_dict() for s in self.provenance],
        }


def regress(
    x: ArrayLike,
    y: ArrayLike,
    *,
    x_transform: Transform = "linear",
    y_transform: Transform = "linear",
    confidence: float = 0.95,
) -> Regression:
    """Least-squares line on (optionally log10-) transformed data, with diagnostics (n ≥ 3).

    Raises :class:`InvalidInputError` for fewer than 3 pairs, constant data,
    non-positive values under a log transform, or non-finite values.
    """
    xa, ya = _pair(x, y, 3, "regression")
    conf = _check_conf(confidence)
    xt = _transform(xa, x_transform, "x")
    yt = _transform(ya, y_transform, "y")
    if np.ptp(xt) == 0:
        raise InvalidInputError("regression x", expected="values that vary", actual="constant")
    n = xa.size
    xm, ym = xt.mean(), yt.mean()
    sxx = float(np.sum((xt - xm) ** 2))
    slope = float(np.sum((xt - xm) * (yt - ym)) / sxx)
    intercept = float(ym - slope * xm)
    fitted = intercept + slope * xt
    resid = yt - fitted
    df = n - 2
    sse = float(np.sum(resid**2))
    sst = float(np.sum((yt - ym) ** 2))
    s2 = sse / df if df > 0 else float("nan")
    s = math.sqrt(s2) if df > 0 else float("nan")
    se_b = math.sqrt(s2 / sxx) if df > 0 else float("nan")
    se_a = math.sqrt(s2 * (1.0 / n + xm * xm / sxx)) if df > 0 else float("nan")
    q = float(stats.t.ppf(0.5 + conf / 2.0, df)) if df > 0 else float("nan")
    r2 = 1.0 - sse / sst if sst > 0 else float("nan")
    adj = 1.0 - (1.0 - r2) * (n - 1) / df if df > 0 else float("nan")
    p_slope = float(2.0 * stats.t.sf(abs(slope / se_b), df)) if df > 0 and se_b > 0 else 0.0
    lev = 1.0 / n + (xt - xm) ** 2 / sxx
    with np.errstate(divide="ignore", invalid="ignore"):
        cooks = np.where(s2 > 0, resid**2 / (2.0 * s2) * lev / (1.0 - lev) ** 2, 0.0)
    cooks = np.nan_to_num(cooks, nan=0.0, posinf=np.inf)
    sw: float | None = None
    sp: float | None = None
    if n >= 3 and np.ptp(resid) > 0:
        res = stats.shapiro(resid)
        sw, sp = float(res.statistic), float(res.pvalue)
    e2 = resid**2
    if np.ptp(e2) > 0:
        r_aux = float(np.corrcoef(xt, e2)[0, 1])
        bp_lm = n * r_aux * r_aux
    else:
        bp_lm = 0.0
    bp_p = float(stats.chi2.sf(bp_lm, 1))
    step = Step.make(
        "ols_regression",
        {
            "x_transform": x_transform,
            "y_transform": y_transform,
            "n": n,
            "confidence": conf,
            "slope_ci": "t distribution, n - 2 df",
        },
        sources=_SOURCES[2:],
    )
    return Regression(
        x_transform=x_transform,
        y_transform=y_transform,
        x=xa,
        y=ya,
        slope=slope,
        slope_se=se_b,
        slope_ci=(slope - q * se_b, slope + q * se_b),
        intercept=intercept,
        intercept_se=se_a,
        intercept_ci=(intercept - q * se_a, intercept + q * se_a),
        confidence=conf,
        r_squared=r2,
        adjusted_r_squared=adj,
        residual_sd=s,
        p_slope=p_slope,
        fitted=fitted,
        residuals=resid,
        leverage=lev,
        cooks_distance=cooks,
        shapiro_w=sw,
        shapiro_p=sp,
        breusch_pagan_lm=float(bp_lm),
        breusch_pagan_p=bp_p,
        provenance=(step,),
    )


# --------------------------------------------------------------------------- plots


def regression_figure(
    fit: Regression,
    *,
    x_label: str = "x",
    y_label: str = "y",
    title: str = "",
    correlation: Correlation | None = None,
) -> Any:
    """A matplotlib Figure (Agg canvas) with scatter + fit + band, residuals, Q–Q plot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12.0, 3.8))
    FigureCanvasAgg(fig)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    xt_label = f"log10 {x_label}" if fit.x_transform == "log10" else x_label
    yt_label = f"log10 {y_label}" if fit.y_transform == "log10" else y_label
    # 1. data, fit and confidence band (x axis in original units, log scale if transformed)
    lo_x, hi_x = float(fit.x.min()), float(fit.x.max())
    grid = (
        np.geomspace(lo_x, hi_x, 200)
        if fit.x_transform == "log10"
        else np.linspace(lo_x, hi_x, 200)
    )
    f, lo, hi = fit.band(grid)

    def back(v: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.power(10.0, v) if fit.y_transform == "log10" else v

    ax1.scatter(fit.x, fit.y, s=22, color="#1f4e79", zorder=3, label="data")
    ax1.plot(grid, back(f), color="#c0504d", label=f"fit (slope {fit.slope:.3g})")
    ax1.fill_between(
        grid,
        back(lo),
        back(hi),
        color="#c0504d",
        alpha=0.2,
        label=f"{100 * fit.confidence:.0f} % CI of the mean",
    )
    if fit.x_transform == "log10":
        ax1.set_xscale("log")
    if fit.y_transform == "log10":
        ax1.set_yscale("log")
    ax1.set_xlabel(x_label)
    ax1.set_ylabel(y_label)
    text = f"R² = {fit.r_squared:.3f}, n = {fit.n}"
    if correlation is not None:
        text += (
            f"\n{correlation.method} r = {correlation.r:.3f} "
            f"[{correlation.ci_low:.3f}, {correlation.ci_high:.3f}]"
        )
    ax1.text(0.02, 0.98, text, transform=ax1.transAxes, va="top", fontsize=8)
    ax1.legend(fontsize=7, loc="lower right")
    ax1.set_title(title or "data and fit", fontsize=9)
    # 2. residuals vs fitted
    ax2.axhline(0.0, color="grey", lw=0.8)
    ax2.scatter(fit.fitted, fit.residuals, s=18, color="#1f4e79")
    for i in fit.influential:
        ax2.annotate(str(i), (fit.fitted[i], fit.residuals[i]), fontsize=7, color="#c0504d")
    ax2.set_xlabel(f"fitted {yt_label}")
    ax2.set_ylabel("residual")
    ax2.set_title(f"residuals (Breusch–Pagan p = {fit.breusch_pagan_p:.2g})", fontsize=9)
    # 3. normal Q-Q of residuals
    (osm, osr), (qs, qi, _) = stats.probplot(fit.residuals, dist="norm")
    ax3.scatter(osm, osr, s=18, color="#1f4e79")
    ax3.plot(osm, qi + qs * np.asarray(osm), color="grey", lw=0.8)
    ax3.set_xlabel("normal quantile")
    ax3.set_ylabel("ordered residual")
    sw = "—" if fit.shapiro_p is None else f"{fit.shapiro_p:.2g}"
    ax3.set_title(f"normal Q–Q (Shapiro–Wilk p = {sw})", fontsize=9)
    ax3.set_xlabel(f"normal quantile ({xt_label} model)")
    fig.tight_layout()
    return fig


def figure_png(fig: Any, *, dpi: int = 110) -> bytes:
    """Render a matplotlib Figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def write_png(fig: Any, path: str | os.PathLike[str], *, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG atomically (temporary file in the same folder + ``os.replace``)."""
    return write_bytes_atomic(path, figure_png(fig, dpi=dpi))
