"""Cohort analytics on the registry's tables: typed, frozen results.

* :func:`dose_response` — per lesion, log(follow-up / baseline volume) against the
  cumulative absorbed dose: ordinary least squares with confidence intervals
  (:mod:`statsmodels`); lesions below ``min_volume_ml`` at baseline are left out
  (their SPECT activity is dominated by partial-volume losses);
* :func:`response_by_dose` — the patients' tumour dose (mean cumulative lesion dose) per
  RECIST 1.1 category;
* :func:`kidney_toxicity` — eGFR change (CKD-EPI 2021) against cumulative kidney BED;
* :func:`marrow_toxicity` — platelet nadir against cumulative red-marrow dose, with the
  nadir's CTCAE v5.0 grade (:func:`sstrkit.followup.toxicity.grade_platelets`);
* :func:`survival_by_dose` — Kaplan–Meier PFS and OS by tumour-dose group (at the median)
  with the log-rank test (:mod:`sstrkit.followup.survival`);
* :func:`response_rates` — the Table-3-style response counts with ORR and DCR and their
  confidence intervals (:mod:`sstrkit.followup.tables`);
* :func:`analyse_cohort` — all of them; an analysis without enough data is skipped with
  the reason, as the run's report does.

Examples
--------
>>> fit = linear_fit([0.0, 10.0, 20.0, 30.0], [0.02, -0.11, -0.19, -0.31], x_name="D",
...                  y_name="y")
>>> round(fit.slope, 4), fit.n, fit.slope_ci[0] < fit.slope < fit.slope_ci[1]
(-0.0107, 4, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from sstrkit.cohort.data import CohortData, lesion_table, patient_table
from sstrkit.core.provenance import Step
from sstrkit.core.units import BQ_PER_GBQ
from sstrkit.errors import FitError, InvalidInputError, SstrkitError
from sstrkit.followup.concordance import Proportion
from sstrkit.followup.survival import KaplanMeier, LogRank, kaplan_meier, logrank
from sstrkit.followup.tables import ResponseCounts, Table3Row

__all__ = [
    "DEFAULT_MIN_LESION_ML",
    "CohortAnalysis",
    "DoseGroupSurvival",
    "DoseResponse",
    "LinearFit",
    "ResponseRates",
    "ToxicityFit",
    "analyse_cohort",
    "dose_response",
    "kidney_toxicity",
    "linear_fit",
    "marrow_toxicity",
    "response_by_dose",
    "response_rates",
    "survival_by_dose",
]

#: Smallest baseline lesion volume in the dose–response fit: 2 mL (a 1.6 cm sphere, about
#: 1.5 times the ~11 mm FWHM of a 177Lu SPECT); smaller lesions read far too low.
DEFAULT_MIN_LESION_ML: Final = 2.0
_OLS: Final = "ordinary least squares (statsmodels OLS), t-based confidence intervals"


@dataclass(frozen=True)
class LinearFit:
    """y = intercept + slope·x by OLS, with confidence intervals and the covariance."""

    x_name: str
    y_name: str
    slope: float
    slope_ci: tuple[float, float]
    intercept: float
    intercept_ci: tuple[float, float]
    p_value: float
    r_squared: float
    n: int
    confidence: float
    covariance: tuple[tuple[float, float], tuple[float, float]]
    df_resid: float

    def band(self, x: Sequence[float] | NDArray[np.float64]) -> tuple[Any, Any]:
        """Pointwise confidence band of the fitted mean at ``x`` (lower, upper)."""
        from scipy import stats

        xs = np.asarray(x, dtype=float)
        design = np.column_stack([np.ones_like(xs), xs])
        se = np.sqrt(np.einsum("ij,jk,ik->i", design, np.asarray(self.covariance), design))
        t = float(stats.t.ppf(0.5 + self.confidence / 2, self.df_resid))
        mean = self.intercept + self.slope * xs
        return mean - t * se, mean + t * se

    def to_dict(self) -> dict[str, Any]:
        return {
            "x": self.x_name,
            "y": self.y_name,
            "slope": self.slope,
            "slope_ci": list(self.slope_ci),
            "intercept": self.intercept,
            "intercept_ci": list(self.intercept_ci),
            "p_value": self.p_value,
            "r_squared": self.r_squared,
            "n": self.n,
            "confidence": self.confidence,
            "method": _OLS,
        }


def linear_fit(
    x: Sequence[float] | NDArray[np.float64],
    y: Sequence[float] | NDArray[np.float64],
    *,
    x_name: str,
    y_name: str,
    confidence: float = 0.95,
) -> LinearFit:
    """OLS of ``y`` on ``x`` with an intercept (statsmodels); at least 3 finite pairs."""
    import statsmodels.api as sm

    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[ok], ys[ok]
    if xs.size < 3 or np.ptp(xs) == 0:
        raise InvalidInputError(
            f"regression of {y_name} on {x_name}",
            expected="at least 3 points with different x",
            actual=f"{xs.size} point(s)",
            fix="add patients with the needed data to the registry",
        )
    res = sm.OLS(ys, sm.add_constant(xs)).fit()
    ci = np.asarray(res.conf_int(alpha=1.0 - confidence))
    cov = np.asarray(res.cov_params())
    return LinearFit(
        x_name=x_name,
        y_name=y_name,
        slope=float(res.params[1]),
        slope_ci=(float(ci[1, 0]), float(ci[1, 1])),
        intercept=float(res.params[0]),
        intercept_ci=(float(ci[0, 0]), float(ci[0, 1])),
        p_value=float(res.pvalues[1]),
        r_squared=float(res.rsquared),
        n=int(xs.size),
        confidence=confidence,
        covariance=((float(cov[0, 0]), float(cov[0, 1])), (float(cov[1, 0]), float(cov[1, 1]))),
        df_resid=float(res.df_resid),
    )


@dataclass(frozen=True)
class DoseResponse:
    """Lesion log volume ratio against cumulative absorbed dose (points and fit)."""

    fit: LinearFit
    patient_ids: tuple[str, ...]
    lesion_ids: tuple[str, ...]
    dose_gy: tuple[float, ...]
    log_volume_ratio: tuple[float, ...]
    min_volume_ml: float
    excluded_small: int
    excluded_missing: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "fit": self.fit.to_dict(),
            "n_lesions": len(self.dose_gy),
            "n_patients": len(set(self.patient_ids)),
            "min_volume_ml": self.min_volume_ml,
            "excluded_small": self.excluded_small,
            "excluded_missing": self.excluded_missing,
            "model": "log(V_followup / V_baseline) = intercept + slope * cumulative dose",
        }


def dose_response(
    data: CohortData, *, min_volume_ml: float = DEFAULT_MIN_LESION_ML, confidence: float = 0.95
) -> DoseResponse:
    """OLS of the lesion log volume ratio on the cumulative lesion dose (module docstring)."""
    lt = lesion_table(data.lesion_doses)
    have = np.isfinite(lt["log_volume_ratio"].to_numpy(float)) & np.isfinite(
        lt["dose_gy"].to_numpy(float)
    )
    big = lt["volume_ml_baseline"].to_numpy(float) >= min_volume_ml
    use = lt[have & big]
    fit = linear_fit(
        use["dose_gy"].to_numpy(float),
        use["log_volume_ratio"].to_numpy(float),
        x_name="cumulative lesion dose (Gy)",
        y_name="log(V_followup / V_baseline)",
        confidence=confidence,
    )
    return DoseResponse(
        fit=fit,
        patient_ids=tuple(str(v) for v in use["patient_id"]),
        lesion_ids=tuple(str(v) for v in use["lesion_id"]),
        dose_gy=tuple(float(v) for v in use["dose_gy"]),
        log_volume_ratio=tuple(float(v) for v in use["log_volume_ratio"]),
        min_volume_ml=min_volume_ml,
        excluded_small=int((have & ~big).sum()),
        excluded_missing=int((~have).sum()),
    )


@dataclass(frozen=True)
class ResponseDose:
    """Tumour dose of the patients of one RECIST category (Gy; median and quartiles)."""

    response: str
    n: int
    median_gy: float
    q1_gy: float
    q3_gy: float
    doses_gy: tuple[float, ...]


def response_by_dose(patients: Any) -> tuple[ResponseDose, ...]:
    """Per RECIST 1.1 category, the patients' tumour doses (from :func:`patient_table`)."""
    df = patients.dropna(subset=["response", "tumour_dose_gy"])
    if df.empty:
        raise InvalidInputError(
            "response by dose",
            expected="patients with a RECIST response and a tumour dose",
            actual="none",
            fix="add 'responses' (RECIST 1.1) to the studies' clinical.json",
        )
    order = {c: i for i, c in enumerate(("CR", "PR", "MR", "SD", "PD", "NE"))}
    out = []
    for resp, rows in sorted(df.groupby("response"), key=lambda kv: order.get(kv[0], 99)):
        d = rows["tumour_dose_gy"].to_numpy(float)
        q1, med, q3 = (float(v) for v in np.percentile(d, [25, 50, 75]))
        out.append(ResponseDose(str(resp), int(d.size), med, q1, q3, tuple(d.tolist())))
    return tuple(out)


@dataclass(frozen=True)
class ToxicityFit:
    """An organ's cumulative dose (or BED) against a lab outcome, per patient, with OLS."""

    fit: LinearFit
    patient_ids: tuple[str, ...]
    x: tuple[float, ...]
    y: tuple[float, ...]
    grades: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fit": self.fit.to_dict(), "n_patients": len(self.x)}
        if self.grades:
            out["grade_counts"] = {
                str(g): int(sum(1 for v in self.grades if v == g)) for g in sorted(set(self.grades))
            }
        return out


def _toxicity(
    patients: Any, x: str, y: str, names: tuple[str, str], grade: str | None = None
) -> ToxicityFit:
    df = patients.dropna(subset=[x, y])
    fit = linear_fit(df[x].to_numpy(float), df[y].to_numpy(float), x_name=names[0], y_name=names[1])
    return ToxicityFit(
        fit=fit,
        patient_ids=tuple(str(v) for v in df["patient_id"]),
        x=tuple(float(v) for v in df[x]),
        y=tuple(float(v) for v in df[y]),
        grades=tuple(int(v) for v in df[grade]) if grade else (),
    )


def kidney_toxicity(patients: Any) -> ToxicityFit:
    """eGFR change (%) from the first to the last creatinine against cumulative kidney BED."""
    return _toxicity(
        patients, "kidney_bed_gy", "egfr_change_pct", ("kidney BED (Gy)", "eGFR change (%)")
    )


def marrow_toxicity(patients: Any) -> ToxicityFit:
    """Platelet nadir (1e9/L) against cumulative red-marrow dose, with the CTCAE grades."""
    return _toxicity(
        patients,
        "marrow_dose_gy",
        "platelet_nadir",
        ("red-marrow dose (Gy)", "platelet nadir (1e9/L)"),
        grade="platelet_grade",
    )


@dataclass(frozen=True)
class DoseGroupSurvival:
    """Kaplan–Meier curves (times in days) by tumour-dose group, with log-rank tests."""

    threshold_gy: float
    groups: Mapping[str, tuple[str, ...]]
    pfs: Mapping[str, KaplanMeier]
    os: Mapping[str, KaplanMeier]
    pfs_logrank: LogRank | None
    os_logrank: LogRank | None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold_gy": self.threshold_gy,
            "groups": {k: list(v) for k, v in self.groups.items()},
            "pfs": {k: v.to_dict() for k, v in self.pfs.items()},
            "os": {k: v.to_dict() for k, v in self.os.items()},
            "pfs_logrank": None if self.pfs_logrank is None else self.pfs_logrank.to_dict(),
            "os_logrank": None if self.os_logrank is None else self.os_logrank.to_dict(),
            "time_unit": "days",
            "notes": list(self.notes),
        }


def _km_groups(
    df: Any, time: str, event: str, label: Mapping[str, str], notes: list[str]
) -> tuple[dict[str, KaplanMeier], LogRank | None]:
    rows = df.dropna(subset=[time, event])
    curves = {}
    for name in sorted(set(label.values())):
        g = rows[rows["patient_id"].map(label) == name]
        if len(g):
            curves[name] = kaplan_meier(g[time].to_numpy(float), g[event].to_numpy(bool))
    try:
        lr: LogRank | None = logrank(
            rows[time].to_numpy(float),
            rows[event].to_numpy(bool),
            [label[p] for p in rows["patient_id"]],
        )
    except SstrkitError as exc:
        lr = None
        notes.append(f"{time}: log-rank not computed ({exc.one_line()})")
    return curves, lr


def survival_by_dose(patients: Any) -> DoseGroupSurvival:
    """Patients split at the median tumour dose; KM of PFS and OS per group, log-rank."""
    df = patients.dropna(subset=["tumour_dose_gy"])
    df = df[df["pfs_days"].notna() | df["os_days"].notna()]
    if len(df) < 2:
        raise InvalidInputError(
            "survival by dose",
            expected="at least 2 patients with a tumour dose and survival data",
            actual=len(df),
            fix="add 'survival' to the studies' clinical.json",
        )
    thr = float(np.median(df["tumour_dose_gy"].to_numpy(float)))
    label = {
        str(p): (f"≤ {thr:.3g} Gy" if d <= thr else f"> {thr:.3g} Gy")
        for p, d in zip(df["patient_id"], df["tumour_dose_gy"], strict=True)
    }
    groups: dict[str, list[str]] = {}
    for p, g in label.items():
        groups.setdefault(g, []).append(p)
    notes: list[str] = []
    pfs, pfs_lr = _km_groups(df, "pfs_days", "pfs_event", label, notes)
    os_, os_lr = _km_groups(df, "os_days", "os_event", label, notes)
    return DoseGroupSurvival(
        thr, {k: tuple(v) for k, v in groups.items()}, pfs, os_, pfs_lr, os_lr, tuple(notes)
    )


@dataclass(frozen=True)
class ResponseRates:
    """Best-response counts, ORR and DCR with CIs, and the Table-3-style row."""

    counts: ResponseCounts
    orr: Proportion
    dcr: Proportion
    row: Table3Row

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.counts.to_dict(),
            "orr": self.orr.to_dict(),
            "dcr": self.dcr.to_dict(),
            "table3": {
                "agent": self.row.agent,
                "subjects": self.row.subjects,
                "dosage": self.row.dosage,
                "duration": self.row.duration,
                "main_findings": self.row.main_findings(),
            },
        }


def response_rates(patients: Any, administrations: Any) -> ResponseRates:
    """Latest RECIST 1.1 response per patient → counts, ORR, DCR and the Table-3 row."""
    responses = [str(r) for r in patients["response"].dropna()]
    if not responses:
        raise InvalidInputError(
            "response rates",
            expected="patients with a RECIST 1.1 response",
            actual="none",
            fix="add 'responses' to the studies' clinical.json",
        )
    counts = ResponseCounts.from_responses(responses)
    ther = administrations[administrations["cycle"].notna()] if len(administrations) else None
    if ther is not None and len(ther):
        per = ther.groupby("patient_id")["cycle"].nunique()
        gbq = ther["activity_bq"].to_numpy(float) / BQ_PER_GBQ
        dosage = (
            f"{float(np.median(gbq)):.1f} GBq per cycle (range {gbq.min():.1f}-{gbq.max():.1f})"
        )
        duration = f"{int(per.min())}-{int(per.max())} cycles"
    else:
        dosage = duration = "not recorded"
    row = Table3Row(
        agent="177Lu-DOTATATE",
        subjects=f"{counts.n} patients (registry)",
        dosage=dosage,
        duration=duration,
        counts=counts,
        reference="this registry",
    )
    return ResponseRates(counts, counts.rate("ORR"), counts.rate("DCR"), row)


@dataclass(frozen=True)
class CohortAnalysis:
    """Every cohort analysis (``None`` where skipped; ``skipped`` says why)."""

    n_patients: int
    patients: Any  # pandas DataFrame of patient_table()
    dose_response: DoseResponse | None
    response_dose: tuple[ResponseDose, ...] | None
    kidney: ToxicityFit | None
    marrow: ToxicityFit | None
    survival: DoseGroupSurvival | None
    rates: ResponseRates | None
    skipped: Mapping[str, str] = field(default_factory=dict)
    history: tuple[Step, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        def doc(v: Any) -> Any:
            return None if v is None else v.to_dict()

        return {
            "n_patients": self.n_patients,
            "dose_response": doc(self.dose_response),
            "response_by_dose": None
            if self.response_dose is None
            else [
                {
                    "response": r.response,
                    "n": r.n,
                    "median_gy": r.median_gy,
                    "iqr_gy": [r.q1_gy, r.q3_gy],
                }
                for r in self.response_dose
            ],
            "kidney_bed_vs_egfr": doc(self.kidney),
            "marrow_dose_vs_platelets": doc(self.marrow),
            "survival_by_dose": doc(self.survival),
            "response_rates": doc(self.rates),
            "skipped": dict(self.skipped),
            "history": [h.to_dict() for h in self.history],
        }


def analyse_cohort(
    data: CohortData,
    *,
    min_volume_ml: float = DEFAULT_MIN_LESION_ML,
    confidence: float = 0.95,
) -> CohortAnalysis:
    """Run every analysis; one that lacks data (or fails to fit) is skipped with the reason."""
    if not math.isfinite(min_volume_ml) or min_volume_ml < 0:
        raise InvalidInputError("minimum lesion volume", expected=">= 0 mL", actual=min_volume_ml)
    pats = patient_table(data)
    skipped: dict[str, str] = {}
    admins = getattr(data, "administrations", None)

    def attempt(name: str, fn: Any) -> Any:
        try:
            return fn()
        except (SstrkitError, FitError) as exc:
            skipped[name] = exc.one_line()
            return None

    result = CohortAnalysis(
        n_patients=len(pats),
        patients=pats,
        dose_response=attempt(
            "dose_response",
            lambda: dose_response(data, min_volume_ml=min_volume_ml, confidence=confidence),
        ),
        response_dose=attempt("response_by_dose", lambda: response_by_dose(pats)),
        kidney=attempt("kidney", lambda: kidney_toxicity(pats)),
        marrow=attempt("marrow", lambda: marrow_toxicity(pats)),
        survival=attempt("survival", lambda: survival_by_dose(pats)),
        rates=attempt(
            "response_rates",
            lambda: response_rates(pats, admins if admins is not None else pats.iloc[0:0]),
        ),
        skipped=skipped,
        history=(
            Step.make(
                "cohort_analysis",
                {"min_lesion_volume_ml": min_volume_ml, "confidence": confidence},
                sources=(
                    "statsmodels OLS (Seabold & Perktold 2010)",
                    "Kaplan EL, Meier P. J Am Stat Assoc 1958;53:457-481",
                    "Inker LA et al. N Engl J Med 2021;385:1737-1749 (CKD-EPI 2021)",
                    "NCI CTCAE v5.0 (27 Nov 2017)",
                    "Eisenhauer EA et al. Eur J Cancer 2009;45:228-247 (RECIST 1.1)",
                ),
            ),
        ),
    )
    return result
