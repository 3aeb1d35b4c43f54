"""Progression-free and overall survival: Kaplan–Meier, log-rank, Cox regression.

* Kaplan–Meier product-limit estimate (Kaplan & Meier, J Am Stat Assoc
  1958;53:457) with Greenwood's variance and pointwise confidence limits on the
  log(−log S) scale (Kalbfleisch & Prentice 1980; also lifelines' default).
* Median survival = first time with S(t) ≤ 0.5; its confidence interval is
  the range where the pointwise band includes 0.5 (Brookmeyer & Crowley,
  Biometrics 1982;38:29): lower = first t with S_lower(t) ≤ 0.5, upper =
  first t with S_upper(t) ≤ 0.5 (``None`` = not reached).
* Log-rank test for k groups (Mantel 1966; Peto & Peto 1972), χ² with k − 1
  degrees of freedom from the hypergeometric variance matrix.
* Cox proportional-hazards regression by :mod:`lifelines` (Davidson-Pilon,
  J Open Source Softw 2019;4:1317).

Times are seconds internally; :func:`load_cohort` converts from the unit in
the column name (``pfs_months``, ``os_days``...) or an explicit unit. A month
is 365.25/12 days.

Examples
--------
>>> km = kaplan_meier([1.0, 2.0, 3.0, 4.0], [True, True, False, True])
>>> km.survival.tolist()
[0.75, 0.5, 0.0]
>>> km.median
2.0
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from sstrkit.core.provenance import Step
from sstrkit.core.units import SECONDS_PER_DAY
from sstrkit.errors import FitError, InvalidInputError
from sstrkit.followup.tabular import Table, parse_bool

__all__ = [
    "TIME_UNITS_S",
    "Cohort",
    "CoxResult",
    "KaplanMeier",
    "LogRank",
    "cox_regression",
    "kaplan_meier",
    "load_cohort",
    "logrank",
]

SOURCES: Final = (
    "Kaplan EL, Meier P. J Am Stat Assoc 1958;53:457-481",
    "Greenwood M. Rep Public Health Med Subj 1926;33 (variance)",
    "Brookmeyer R, Crowley J. Biometrics 1982;38:29-41 (median CI)",
)
TIME_UNITS_S: Final = {
    "s": 1.0,
    "days": SECONDS_PER_DAY,
    "weeks": 7 * SECONDS_PER_DAY,
    "months": 365.25 / 12 * SECONDS_PER_DAY,
    "years": 365.25 * SECONDS_PER_DAY,
}
_SUFFIX: Final = {
    "s": "s",
    "sec": "s",
    "d": "days",
    "day": "days",
    "days": "days",
    "w": "weeks",
    "wk": "weeks",
    "weeks": "weeks",
    "mo": "months",
    "month": "months",
    "months": "months",
    "m": "months",
    "y": "years",
    "yr": "years",
    "years": "years",
}
_TOL: Final = 1e-12


def _arrays(
    times: Sequence[float] | NDArray[np.float64], events: Sequence[bool] | NDArray[np.bool_]
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    t = np.asarray(times, dtype=float)
    e = np.asarray(events)
    if t.ndim != 1 or e.shape != t.shape or t.size == 0:
        raise InvalidInputError(
            "survival data",
            expected="equal-length, non-empty time and event lists",
            actual=(t.shape, e.shape),
        )
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise InvalidInputError(
            "survival times",
            expected="finite values ≥ 0",
            actual=t[~np.isfinite(t) | (t < 0)][:5].tolist(),
        )
    if e.dtype != bool:
        if not np.all(np.isin(e, (0, 1))):
            raise InvalidInputError(
                "event indicators", expected="0/1 or booleans", actual=np.unique(e)[:5].tolist()
            )
        e = e.astype(bool)
    return t, e


@dataclass(frozen=True)
class KaplanMeier:
    """Kaplan–Meier estimate at the distinct event times (times in input unit)."""

    times: NDArray[np.float64]
    at_risk: NDArray[np.int64]
    events: NDArray[np.int64]
    survival: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    median: float | None
    median_ci: tuple[float | None, float | None]
    n: int
    n_events: int
    confidence: float

    def survival_at(self, t: float) -> float:
        """S(t) (right-continuous step function)."""
        idx = int(np.searchsorted(self.times, t, side="right")) - 1
        return 1.0 if idx < 0 else float(self.survival[idx])

    def to_dict(self, scale: float = 1.0) -> dict[str, Any]:
        """JSON form with times divided by ``scale`` (e.g. seconds per month)."""

        def sc(v: float | None) -> float | None:
            return None if v is None else v / scale

        return {
            "n": self.n,
            "events": self.n_events,
            "median": sc(self.median),
            "median_ci": [sc(self.median_ci[0]), sc(self.median_ci[1])],
            "confidence": self.confidence,
            "table": [
                {
                    "time": float(t) / scale,
                    "at_risk": int(n),
                    "events": int(d),
                    "survival": float(s),
                    "lower": float(lo),
                    "upper": float(hi),
                }
                for t, n, d, s, lo, hi in zip(
                    self.times,
                    self.at_risk,
                    self.events,
                    self.survival,
                    self.lower,
                    self.upper,
                    strict=True,
                )
            ],
        }


def _first_at_or_below(
    times: NDArray[np.float64], s: NDArray[np.float64], q: float
) -> float | None:
    idx = np.nonzero(s <= q + _TOL)[0]
    return None if idx.size == 0 else float(times[idx[0]])


def kaplan_meier(
    times: Sequence[float] | NDArray[np.float64],
    events: Sequence[bool] | NDArray[np.bool_],
    *,
    confidence: float = 0.95,
) -> KaplanMeier:
    """Kaplan–Meier estimate with Greenwood log(−log) limits and median CI."""
    t, e = _arrays(times, events)
    if not 0 < confidence < 1:
        raise InvalidInputError("confidence", expected="in (0, 1)", actual=confidence)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    ut = np.unique(t[e])
    at_risk = np.array([(t >= u).sum() for u in ut], dtype=np.int64)
    d = np.array([((t == u) & e).sum() for u in ut], dtype=np.int64)
    s: NDArray[np.float64] = np.cumprod(1.0 - d / at_risk).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(at_risk > d, d / (at_risk * (at_risk - d)), np.inf)
        v = np.cumsum(terms)
        log_s = np.log(s)
        se = np.sqrt(v) / np.abs(log_s)
        core = np.log(-log_s)
        lower = np.exp(-np.exp(core + z * se))
        upper = np.exp(-np.exp(core - z * se))
    lower = np.where(s <= 0, 0.0, np.where(s >= 1, 1.0, lower))
    upper = np.where(s <= 0, 0.0, np.where(s >= 1, 1.0, upper))
    lower = np.nan_to_num(lower, nan=0.0)
    upper = np.nan_to_num(upper, nan=1.0)
    return KaplanMeier(
        times=ut,
        at_risk=at_risk,
        events=d,
        survival=s,
        lower=lower,
        upper=upper,
        median=_first_at_or_below(ut, s, 0.5),
        median_ci=(_first_at_or_below(ut, lower, 0.5), _first_at_or_below(ut, upper, 0.5)),
        n=int(t.size),
        n_events=int(e.sum()),
        confidence=confidence,
    )


@dataclass(frozen=True)
class LogRank:
    """Log-rank test: observed and expected events per group, χ², df, p."""

    groups: tuple[str, ...]
    observed: tuple[float, ...]
    expected: tuple[float, ...]
    statistic: float
    df: int
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "groups": list(self.groups),
            "observed": list(self.observed),
            "expected": list(self.expected),
            "chi2": self.statistic,
            "df": self.df,
            "p_value": self.p_value,
        }


def logrank(
    times: Sequence[float] | NDArray[np.float64],
    events: Sequence[bool] | NDArray[np.bool_],
    groups: Sequence[str],
) -> LogRank:
    """k-sample log-rank test.

    At each distinct event time: E_g = d·n_g/n and
    V_gh = d(n − d)/(n − 1) · n_g/n · (δ_gh − n_h/n); χ² = (O − E)ᵀ V⁻¹ (O − E)
    over the first k − 1 groups.
    """
    t, e = _arrays(times, events)
    g = np.asarray([str(x) for x in groups])
    if g.shape != t.shape:
        raise InvalidInputError("groups", expected=f"{t.size} labels", actual=g.size)
    labels = tuple(sorted(set(g.tolist())))
    k = len(labels)
    if k < 2:
        raise InvalidInputError("groups", expected="at least two groups", actual=list(labels))
    member = np.stack([g == lab for lab in labels])  # k × n
    obs = np.zeros(k)
    exp = np.zeros(k)
    var = np.zeros((k, k))
    for u in np.unique(t[e]):
        risk = t >= u
        n_g = (member & risk).sum(axis=1).astype(float)
        d_g = (member & (t == u) & e).sum(axis=1).astype(float)
        n, d = n_g.sum(), d_g.sum()
        obs += d_g
        exp += d * n_g / n
        if n > 1:
            f = d * (n - d) / (n - 1)
            var += f * (np.diag(n_g / n) - np.outer(n_g, n_g) / n**2)
    diff = (obs - exp)[:-1]
    try:
        stat = float(diff @ np.linalg.solve(var[:-1, :-1], diff))
    except np.linalg.LinAlgError:
        raise FitError(
            "log-rank variance",
            expected="a non-singular matrix",
            actual="singular (a group without subjects at risk at event times?)",
            fix="check the group column",
        ) from None
    return LogRank(
        labels,
        tuple(obs.tolist()),
        tuple(exp.tolist()),
        stat,
        k - 1,
        float(stats.chi2.sf(stat, k - 1)),
    )


@dataclass(frozen=True)
class Cohort:
    """Survival data of a cohort: ids, times (s), events and optional groups/covariates."""

    ids: tuple[str, ...]
    times_s: NDArray[np.float64]
    events: NDArray[np.bool_]
    groups: tuple[str, ...] | None
    covariates: Mapping[str, NDArray[np.float64]]
    time_unit: str
    source: str

    @property
    def scale(self) -> float:
        return TIME_UNITS_S[self.time_unit]


def _unit_from_column(col: str) -> str | None:
    m = re.search(r"_([a-z]+)$", col.lower())
    return None if m is None else _SUFFIX.get(m.group(1))


def load_cohort(
    table: Table,
    *,
    time_col: str,
    event_col: str,
    group_col: str | None = None,
    covariates: Sequence[str] = (),
    time_unit: str | None = None,
    id_col: str | None = None,
) -> Cohort:
    """Read survival columns from a cohort table; every bad cell names its row.

    >>> from sstrkit.followup.tabular import table_from_records
    >>> t = table_from_records("c", [{"pfs_months": 2, "ev": 1}, {"pfs_months": 5, "ev": 0}])
    >>> c = load_cohort(t, time_col="pfs_months", event_col="ev")
    >>> c.time_unit, float(c.times_s[0] / 86400)
    ('months', 60.875)
    """
    table.require(time_col, event_col)
    unit = time_unit or _unit_from_column(time_col)
    if unit is None or unit not in TIME_UNITS_S:
        raise InvalidInputError(
            f"time unit of column {time_col!r}",
            expected=f"a unit suffix like _months/_days or an explicit unit {sorted(TIME_UNITS_S)}",
            actual=time_unit or "no unit",
            fix="rename the column (e.g. pfs_months) or pass --time-unit",
        )
    times = np.array(table.float_column(time_col, minimum=0.0)) * TIME_UNITS_S[unit]
    events = np.array(
        [
            parse_bool(table.cell(i, event_col), what=table.where(i, event_col))
            for i in range(len(table))
        ],
        dtype=bool,
    )
    groups = None
    if group_col is not None:
        table.require(group_col)
        groups = table.str_column(group_col)
        for i, gv in enumerate(groups):
            if not gv:
                raise InvalidInputError(
                    table.where(i, group_col),
                    expected="a group label",
                    actual="an empty cell",
                    fix="fill in or drop the row",
                )
    covs = {c: np.array(table.float_column(c)) for c in covariates}
    ids = table.str_column(id_col) if id_col else tuple(str(i + 1) for i in range(len(table)))
    return Cohort(ids, times, events, groups, covs, unit, table.name)


@dataclass(frozen=True)
class CoxResult:
    """Cox model summary per covariate (hazard ratios with CIs)."""

    covariates: tuple[Mapping[str, Any], ...]
    concordance: float
    n: int
    events: int
    log_likelihood_ratio_p: float
    history: tuple[Step, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "covariates": [dict(c) for c in self.covariates],
            "concordance": self.concordance,
            "n": self.n,
            "events": self.events,
            "log_likelihood_ratio_p": self.log_likelihood_ratio_p,
            "history": [s.to_dict() for s in self.history],
        }


def cox_regression(cohort: Cohort, *, penalizer: float = 0.0) -> CoxResult:
    """Cox proportional-hazards model on the covariates (and group dummies) via lifelines.

    A group column becomes indicator variables against the first (sorted)
    level. Times are used in the cohort's display unit (hazard ratios do not
    depend on it).
    """
    import pandas as pd  # type: ignore[import-untyped]
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning

    data: dict[str, Any] = {"T": cohort.times_s / cohort.scale, "E": cohort.events.astype(int)}
    for name, col in cohort.covariates.items():
        data[name] = col
    if cohort.groups is not None:
        levels = sorted(set(cohort.groups))
        for lev in levels[1:]:
            data[f"group[{lev}]"] = np.array([g == lev for g in cohort.groups], dtype=float)
    if len(data) == 2:
        raise InvalidInputError(
            "Cox model",
            expected="at least one covariate or a group column",
            actual="none",
            fix="pass --covariate or --group-col",
        )
    df = pd.DataFrame(data)
    cph = CoxPHFitter(penalizer=penalizer)
    try:
        with warnings.catch_warnings():
            # lifelines warns (it does not raise) on separation / non-convergence: a hazard
            # ratio from such a fit is meaningless, so it becomes a FitError.
            warnings.simplefilter("error", ConvergenceWarning)
            cph.fit(df, duration_col="T", event_col="E")
    except (ConvergenceError, ConvergenceWarning, np.linalg.LinAlgError) as exc:
        raise FitError(
            "Cox model",
            expected="a converging fit",
            actual=str(exc).split("\n")[0],
            fix="check for separation or collinear covariates; try a penalizer",
        ) from None
    sm = cph.summary
    lo_col = next(c for c in sm.columns if c.startswith("exp(coef) lower"))
    hi_col = next(c for c in sm.columns if c.startswith("exp(coef) upper"))
    rows = tuple(
        {
            "covariate": str(name),
            "coef": float(sm.loc[name, "coef"]),
            "hazard_ratio": float(sm.loc[name, "exp(coef)"]),
            "hr_ci": [float(sm.loc[name, lo_col]), float(sm.loc[name, hi_col])],
            "se": float(sm.loc[name, "se(coef)"]),
            "p_value": float(sm.loc[name, "p"]),
        }
        for name in sm.index
    )
    lr = cph.log_likelihood_ratio_test()
    step = Step.make(
        "cox_ph",
        {"penalizer": penalizer, "covariates": list(data)[2:]},
        inputs=(cohort.source,),
        sources=(
            "Cox DR. J R Stat Soc B 1972;34:187-220",
            "lifelines CoxPHFitter (Davidson-Pilon 2019)",
        ),
    )
    return CoxResult(
        rows, float(cph.concordance_index_), len(df), int(df["E"].sum()), float(lr.p_value), (step,)
    )


def km_step(cohort: Cohort, confidence: float) -> Step:
    """Provenance record of a Kaplan–Meier analysis."""
    return Step.make(
        "kaplan_meier",
        {"confidence": confidence, "time_unit": cohort.time_unit, "ci": "Greenwood, log(-log)"},
        inputs=(cohort.source,),
        sources=SOURCES,
    )


def finite_or_none(v: float | None) -> float | None:
    """``None`` for ``None``/NaN/inf (JSON has no infinities)."""
    return None if v is None or not math.isfinite(v) else v
