"""The registry's cohort tables as the analyses need them: one row per lesion, per patient.

The input is any object with the DataFrames of :class:`sstrkit.registry.CohortTables`
(:class:`CohortData`); the columns read here are ``lesion_doses`` (patient_id, lesion_id,
cycle, dose_gy, volume_ml_baseline, volume_ml_followup), ``region_doses`` (patient_id,
cycle, region, dose_gy, bed_gy), ``labs`` (patient_id, time, name, value, unit),
``responses`` (patient_id, time, criteria, response), ``survival`` (patient_id, pfs_days,
pfs_event, os_days, os_event) and ``patients`` (patient_id, sex).

Cumulative quantities are sums over the cycles the registry holds; a cycle without a value
makes the sum missing (never a silently smaller dose).

Examples
--------
>>> import pandas as pd
>>> ld = pd.DataFrame({"patient_id": ["p", "p"], "lesion_id": ["l1", "l1"], "cycle": [1, 2],
...                    "dose_gy": [10.0, 12.0], "volume_ml_baseline": [8.0, 8.0],
...                    "volume_ml_followup": [4.0, 4.0]})
>>> row = lesion_table(ld).iloc[0]
>>> float(row.dose_gy), int(row.cycles), round(float(row.log_volume_ratio), 4)
(22.0, 2, -0.6931)
"""

from __future__ import annotations

from typing import Any, Final, Protocol

import numpy as np

from sstrkit.errors import InvalidInputError
from sstrkit.followup.toxicity import CREATININE_UMOL_PER_MG_DL, egfr_ckd_epi_2021, grade_platelets

__all__ = [
    "KIDNEY_REGION",
    "MARROW_REGION",
    "NOMINAL_AGE_Y",
    "CohortData",
    "lesion_table",
    "patient_table",
]

#: Region names of the organ-level doses used for the limits (as the run names them).
KIDNEY_REGION: Final = "kidneys"
MARROW_REGION: Final = "red marrow"
#: Age put into CKD-EPI 2021 for eGFR *changes*: the age factor (0.9938^age) cancels in a
#: ratio of two eGFRs of one patient (the year between them is neglected: 0.6 %).
NOMINAL_AGE_Y: Final = 60.0


class CohortData(Protocol):
    """What the analyses read: the DataFrames of :class:`sstrkit.registry.CohortTables`."""

    @property
    def patients(self) -> Any: ...
    @property
    def lesion_doses(self) -> Any: ...
    @property
    def region_doses(self) -> Any: ...
    @property
    def labs(self) -> Any: ...
    @property
    def responses(self) -> Any: ...
    @property
    def survival(self) -> Any: ...


def _require(df: Any, name: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InvalidInputError(
            f"cohort table {name}",
            expected=f"columns {list(columns)}",
            actual=f"missing {missing}",
            fix="export the tables from an up-to-date registry (sstrkit registry)",
        )


def _complete_sum(values: Any) -> float:
    """Sum of a group, NaN when any member is missing."""
    arr = np.asarray(values, dtype=float)
    return float(arr.sum()) if arr.size and np.isfinite(arr).all() else float("nan")


def lesion_table(lesion_doses: Any) -> Any:
    """One row per (patient, lesion): cumulative dose (Gy), cycles, volumes and
    ``log_volume_ratio`` = log(follow-up / baseline volume) (NaN without both volumes)."""
    import pandas as pd  # type: ignore[import-untyped]

    cols = ("patient_id", "lesion_id", "cycle", "dose_gy")
    _require(lesion_doses, "lesion_doses", cols)
    df = lesion_doses.copy()
    for c in ("volume_ml_baseline", "volume_ml_followup"):
        if c not in df.columns:
            df[c] = np.nan
    df["dose_gy"] = pd.to_numeric(df["dose_gy"], errors="coerce").astype(float)
    grouped = df.groupby(["patient_id", "lesion_id"], sort=True)
    out = grouped.agg(
        dose_gy=("dose_gy", _complete_sum),
        cycles=("cycle", "nunique"),
        volume_ml_baseline=("volume_ml_baseline", "first"),
        volume_ml_followup=("volume_ml_followup", "first"),
    ).reset_index()
    vb = pd.to_numeric(out["volume_ml_baseline"], errors="coerce").astype(float)
    vf = pd.to_numeric(out["volume_ml_followup"], errors="coerce").astype(float)
    ok = (vb > 0) & (vf > 0)
    out["volume_ml_baseline"], out["volume_ml_followup"] = vb, vf
    out["log_volume_ratio"] = np.where(ok, np.log(vf.where(ok, 1.0) / vb.where(ok, 1.0)), np.nan)
    return out


def _region_total(region_doses: Any, region: str, column: str) -> Any:
    rows = region_doses[region_doses["region"] == region]
    return rows.groupby("patient_id")[column].agg(_complete_sum)


def _creatinine_mg_dl(value: float, unit: str) -> float:
    u = unit.replace("µ", "u").lower()
    if u == "umol/l":
        return value / CREATININE_UMOL_PER_MG_DL
    if u == "mg/dl":
        return value
    raise InvalidInputError("creatinine unit", expected="umol/L or mg/dL", actual=unit)


def _lab_series(labs: Any, name: str) -> Any:
    rows = labs[labs["name"].astype(str).str.lower() == name].dropna(subset=["value"])
    return rows.sort_values(["patient_id", "time"])


def _renal(labs: Any, sex: dict[str, str]) -> dict[str, float]:
    """eGFR change (%) from the first to the last creatinine (CKD-EPI 2021, module note)."""
    out = {}
    for pid, rows in _lab_series(labs, "creatinine").groupby("patient_id"):
        s = sex.get(str(pid))
        if len(rows) < 2 or s not in ("F", "M"):
            continue
        first, last = rows.iloc[0], rows.iloc[-1]
        e0, e1 = (
            egfr_ckd_epi_2021(
                _creatinine_mg_dl(float(r["value"]), str(r["unit"])), NOMINAL_AGE_Y, s
            )
            for r in (first, last)
        )
        out[str(pid)] = 100.0 * (e1 / e0 - 1.0)
    return out


#: Spellings of 10^9 per litre accepted for platelet counts.
_PER_NL: Final = frozenset({"1e9/l", "10^9/l", "10e9/l", "x10^9/l", "10*9/l", "/nl"})


def _platelets(labs: Any) -> dict[str, tuple[float, float, int]]:
    """Baseline (first) platelet count, nadir after it (1e9/L) and the nadir's CTCAE grade."""
    out = {}
    for pid, rows in _lab_series(labs, "platelets").groupby("patient_id"):
        if len(rows) < 2:
            continue
        units = {str(u).replace(" ", "").lower() for u in rows["unit"]}
        if not units <= _PER_NL:
            raise InvalidInputError(
                f"platelet unit of patient {pid}",
                expected="1e9/L",
                actual=sorted(units),
                fix="record platelet counts in 1e9/L",
            )
        base = float(rows.iloc[0]["value"])
        nadir = float(rows.iloc[1:]["value"].astype(float).min())
        out[str(pid)] = (base, nadir, grade_platelets(nadir))
    return out


def _latest_response(responses: Any) -> dict[str, str]:
    if responses is None or len(responses) == 0 or "response" not in responses.columns:
        return {}
    df = responses.dropna(subset=["response"])
    if "criteria" in df.columns:
        df = df[df["criteria"].fillna("").astype(str).str.upper().str.startswith("RECIST")]
    if "time" in df.columns:
        df = df.sort_values("time")
    return {str(k): str(v) for k, v in df.groupby("patient_id")["response"].last().items()}


def _float(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f


def patient_table(data: CohortData) -> Any:
    """One row per patient: tumour dose (mean cumulative lesion dose), kidney BED and
    red-marrow dose (cumulative), eGFR change, platelets, latest RECIST response, survival.

    Kidney BED: the sum of the per-cycle ``region_doses`` BED of the kidneys; where that is
    missing (the registry gives a per-cycle BED only for mono-exponential kinetics), the
    patients table's ``kidney_bed_cumulative_gy`` (the run's planning BED) when present.
    """
    import pandas as pd

    _require(data.patients, "patients", ("patient_id",))
    _require(data.region_doses, "region_doses", ("patient_id", "region", "dose_gy", "bed_gy"))
    _require(data.labs, "labs", ("patient_id", "time", "name", "value", "unit"))
    pats = data.patients
    ids = [str(p) for p in pats["patient_id"]]
    sex = dict(zip(ids, pats["sex"] if "sex" in pats.columns else [None] * len(ids), strict=True))
    lesions = lesion_table(data.lesion_doses)
    tumour = lesions.groupby("patient_id")["dose_gy"].mean()
    kidney = _region_total(data.region_doses, KIDNEY_REGION, "bed_gy")
    run_bed = (  # the run's own cumulative BED (planning), where the registry has it
        dict(zip(ids, pats["kidney_bed_cumulative_gy"], strict=True))
        if "kidney_bed_cumulative_gy" in pats.columns
        else {}
    )

    def kidney_bed(pid: str) -> float:
        v = _float(kidney.get(pid))
        return v if np.isfinite(v) else _float(run_bed.get(pid))

    marrow = _region_total(data.region_doses, MARROW_REGION, "dose_gy")
    renal, plt_ = _renal(data.labs, sex), _platelets(data.labs)
    resp = _latest_response(data.responses)
    surv = data.survival.drop_duplicates("patient_id", keep="last").set_index("patient_id")
    rows = []
    for pid in ids:
        p = plt_.get(pid)
        s = surv.loc[pid] if pid in surv.index else None
        rows.append(
            {
                "patient_id": pid,
                "sex": sex.get(pid),
                "n_lesions": int((lesions["patient_id"] == pid).sum()),
                "tumour_dose_gy": float(tumour.get(pid, np.nan)),
                "kidney_bed_gy": kidney_bed(pid),
                "marrow_dose_gy": float(marrow.get(pid, np.nan)),
                "egfr_change_pct": renal.get(pid, np.nan),
                "platelets_baseline": p[0] if p else np.nan,
                "platelet_nadir": p[1] if p else np.nan,
                "platelet_grade": p[2] if p else None,
                "response": resp.get(pid),
                **{
                    k: (None if s is None or pd.isna(s[k]) else s[k])
                    for k in ("pfs_days", "pfs_event", "os_days", "os_event")
                },
            }
        )
    return pd.DataFrame.from_records(rows)
