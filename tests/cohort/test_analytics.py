"""Cohort analytics on tables built here (no registry needed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sstrkit.cohort.analytics import analyse_cohort, linear_fit
from sstrkit.cohort.data import lesion_table, patient_table
from sstrkit.errors import InvalidInputError
from sstrkit.followup.toxicity import egfr_ckd_epi_2021


@dataclass(frozen=True)
class Tables:
    patients: Any
    lesion_doses: Any
    region_doses: Any
    labs: Any
    responses: Any
    survival: Any
    administrations: Any


def _tables(n: int = 8) -> Tables:
    ids = [f"P{i}" for i in range(n)]
    t0 = pd.Timestamp("2025-01-01", tz="UTC")
    lesions, regions, labs = [], [], []
    for i, pid in enumerate(ids):
        for j in range(3):
            dose = 10.0 * (i + 1) + 3.0 * j
            lesions += [
                {
                    "patient_id": pid,
                    "lesion_id": f"L{j}",
                    "cycle": c,
                    "dose_gy": dose / 2,
                    "volume_ml_baseline": 10.0,
                    "volume_ml_followup": 10.0 * np.exp(-0.01 * dose),
                }
                for c in (1, 2)
            ]
        regions += [
            {"patient_id": pid, "cycle": c, "region": r, "dose_gy": d, "bed_gy": b}
            for c in (1, 2)
            for r, d, b in (("kidneys", 2.0 + i, 2.5 + i), ("red marrow", 0.1 * (i + 1), None))
        ]
        for k, (creat, plt) in enumerate(((80.0, 250.0), (80.0 * (1 + 0.02 * i), 200.0 - 15 * i))):
            labs += [
                {
                    "patient_id": pid,
                    "time": t0 + pd.Timedelta(days=60 * k),
                    "name": name,
                    "value": v,
                    "unit": u,
                }
                for name, v, u in (("creatinine", creat, "umol/L"), ("platelets", plt, "1e9/L"))
            ]
    return Tables(
        patients=pd.DataFrame({"patient_id": ids, "sex": ["M", "F"] * (n // 2)}),
        lesion_doses=pd.DataFrame(lesions),
        region_doses=pd.DataFrame(regions),
        labs=pd.DataFrame(labs),
        responses=pd.DataFrame(
            {
                "patient_id": ids,
                "time": [t0] * n,
                "criteria": ["RECIST 1.1"] * n,
                "response": ["PR", "SD"] * (n // 2),
            }
        ),
        survival=pd.DataFrame(
            {
                "patient_id": ids,
                "pfs_days": [100.0 * (i + 1) for i in range(n)],
                "pfs_event": [True] * n,
                "os_days": [200.0 * (i + 1) for i in range(n)],
                "os_event": [i % 2 == 0 for i in range(n)],
            }
        ),
        administrations=pd.DataFrame(
            {"patient_id": ids * 2, "cycle": [1] * n + [2] * n, "activity_bq": [7.4e9] * (2 * n)}
        ),
    )


def test_linear_fit_recovers_an_exact_line() -> None:
    """y = 1 - 0.02 x exactly: slope and intercept to rounding, zero-width CI."""
    x = np.arange(6.0)
    fit = linear_fit(x, 1.0 - 0.02 * x, x_name="x", y_name="y")
    assert fit.slope == pytest.approx(-0.02, abs=1e-12)
    assert fit.intercept == pytest.approx(1.0, abs=1e-12)
    assert fit.slope_ci[1] - fit.slope_ci[0] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(InvalidInputError, match="at least 3"):
        linear_fit([1.0, 2.0], [1.0, 2.0], x_name="x", y_name="y")


def test_linear_fit_matches_the_textbook_formulas() -> None:
    """Slope = Sxy/Sxx, SE = s/sqrt(Sxx), t(0.975, 3) = 3.182446 (Student's t table)."""
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    y = np.array([0.1, 0.9, 2.2, 2.8, 4.1])
    sxx = float(((x - x.mean()) ** 2).sum())
    slope = float(((x - x.mean()) * (y - y.mean())).sum()) / sxx
    resid = y - (y.mean() + slope * (x - x.mean()))
    se = float(np.sqrt((resid**2).sum() / 3 / sxx))
    fit = linear_fit(x, y, x_name="x", y_name="y")
    assert fit.slope == pytest.approx(slope, rel=1e-12)
    assert fit.slope_ci[1] == pytest.approx(slope + 3.182446 * se, rel=1e-6)


def test_lesion_table_sums_cycles_and_keeps_missing_missing() -> None:
    t = _tables(2)
    lt = lesion_table(t.lesion_doses)
    assert lt["dose_gy"].tolist()[:3] == pytest.approx([10.0, 13.0, 16.0])
    assert lt["log_volume_ratio"].tolist()[:3] == pytest.approx([-0.10, -0.13, -0.16])
    ld = t.lesion_doses.copy()
    ld.loc[0, "dose_gy"] = np.nan  # one cycle without dose: no cumulative dose
    assert np.isnan(lesion_table(ld)["dose_gy"].iloc[0])


def test_patient_table_egfr_change_and_platelet_grade() -> None:
    pt = patient_table(_tables(4)).set_index("patient_id")
    # P3 (female): creatinine 80 -> 84.8 umol/L; CKD-EPI 2021 ratio (age cancels)
    e0 = egfr_ckd_epi_2021(80.0 / 88.42, 60.0, "F")
    e1 = egfr_ckd_epi_2021(84.8 / 88.42, 60.0, "F")
    assert pt.loc["P3", "egfr_change_pct"] == pytest.approx(100 * (e1 / e0 - 1), rel=1e-9)
    # P3: nadir 155 (>= LLN 150: grade 0); P0 nadir 200
    assert pt.loc["P3", "platelet_nadir"] == 155.0 and pt.loc["P3", "platelet_grade"] == 0
    assert pt.loc["P0", "kidney_bed_gy"] == pytest.approx(5.0)  # 2.5 + 2.5 Gy
    assert pt.loc["P0", "marrow_dose_gy"] == pytest.approx(0.2)


def test_analyse_cohort_on_built_tables() -> None:
    """Noise-free volumes: the fitted coefficient is the generating -0.01 per Gy."""
    a = analyse_cohort(_tables(8))
    assert a.skipped == {}
    assert a.dose_response is not None
    assert a.dose_response.fit.slope == pytest.approx(-0.01, abs=1e-9)
    assert a.rates is not None and a.rates.counts.pr == 4 and a.rates.orr.value == 0.5
    assert a.survival is not None and set(a.survival.pfs) == {"≤ 48 Gy", "> 48 Gy"}
    assert a.marrow is not None and a.marrow.fit.slope < 0  # more marrow dose, lower nadir


def test_analyses_without_data_are_skipped_with_the_reason() -> None:
    t = _tables(4)
    empty = Tables(
        t.patients,
        t.lesion_doses.iloc[0:0],
        t.region_doses,
        t.labs,
        t.responses.iloc[0:0],
        t.survival.iloc[0:0],
        t.administrations,
    )
    a = analyse_cohort(empty)
    assert set(a.skipped) >= {"dose_response", "response_by_dose", "survival", "response_rates"}
    assert "at least 3 points" in a.skipped["dose_response"]
