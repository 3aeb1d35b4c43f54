"""Kaplan–Meier, log-rank and Cox: hand-computed examples and lifelines cross-checks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test
from lifelines.utils import median_survival_times

from sstrkit.errors import InvalidInputError
from sstrkit.followup.survival import cox_regression, kaplan_meier, load_cohort, logrank
from sstrkit.followup.tabular import read_table, table_from_records

T = [2.0, 3.0, 3.0, 5.0, 7.0, 9.0]
E = [1, 1, 1, 0, 1, 0]


def test_km_hand_computed() -> None:
    # t=2: 6 at risk, 1 event: S = 5/6; t=3: 5 at risk, 2 events: S = 5/6·3/5 = 1/2;
    # t=5 censored; t=7: 2 at risk, 1 event: S = 1/4. Median = first S ≤ 0.5 = 3.
    km = kaplan_meier(T, E)
    assert km.times.tolist() == [2.0, 3.0, 7.0]
    assert km.at_risk.tolist() == [6, 5, 2]
    assert km.survival == pytest.approx([5 / 6, 0.5, 0.25])
    assert km.median == 3.0
    # Greenwood at t=3: 1/(6·5) + 2/(5·3) = 1/6; log(-log) limits:
    # se = sqrt(1/6)/|ln 0.5|; lower = exp(-exp(ln(ln 2) + z·se)), upper with −z
    z = 1.959963984540054
    se = math.sqrt(1 / 6) / math.log(2)
    lo = math.exp(-math.exp(math.log(math.log(2)) + z * se))
    hi = math.exp(-math.exp(math.log(math.log(2)) - z * se))
    assert (km.lower[1], km.upper[1]) == pytest.approx((lo, hi), rel=1e-12)
    assert (lo, hi) == pytest.approx((0.11096, 0.80372), abs=5e-5)
    # median CI: lower = first t with S_lower ≤ 0.5 (t=2: 0.273); upper never ≤ 0.5
    assert km.median_ci == (2.0, None)


def test_km_matches_lifelines() -> None:
    rng = np.random.default_rng(7)
    t = np.round(rng.exponential(20.0, 80), 1)
    e = rng.random(80) < 0.7
    km = kaplan_meier(t, e)
    kmf = KaplanMeierFitter().fit(t, e)
    sf = kmf.survival_function_["KM_estimate"]
    ci = kmf.confidence_interval_
    for i, u in enumerate(km.times):
        assert km.survival[i] == pytest.approx(sf.loc[u], rel=1e-12)
        assert km.lower[i] == pytest.approx(ci.loc[u].iloc[0], rel=1e-9, abs=1e-12)
        assert km.upper[i] == pytest.approx(ci.loc[u].iloc[1], rel=1e-9, abs=1e-12)
    assert km.median == pytest.approx(kmf.median_survival_time_)
    mci = median_survival_times(kmf.confidence_interval_).iloc[0]
    assert km.median_ci[0] == pytest.approx(mci.iloc[0])
    hi = mci.iloc[1]
    assert (km.median_ci[1] is None and math.isinf(hi)) or km.median_ci[1] == pytest.approx(hi)


def test_median_not_reached() -> None:
    km = kaplan_meier([1, 2, 3, 4], [1, 0, 0, 0])
    assert km.median is None and km.survival_at(10) == pytest.approx(0.75)


def test_logrank_hand_computed_and_lifelines() -> None:
    # A: 2, 4, 6+ ; B: 1, 3, 5. Event times 1..5 with (n_A, n) = (3,6), (3,5), (2,4), (2,3), (1,2)
    # E_A = 1/2 + 3/5 + 1/2 + 2/3 + 1/2 = 2.766667 ; O_A = 2
    # V = 1/4 + 6/25 + 1/4 + 2/9 + 1/4 = 1.212222 ; χ² = (2 − 2.766667)² / 1.212222 = 0.484876
    t = [2, 4, 6, 1, 3, 5]
    e = [1, 1, 0, 1, 1, 1]
    g = ["A", "A", "A", "B", "B", "B"]
    lr = logrank(t, e, g)
    assert lr.observed[0] == 2 and lr.expected[0] == pytest.approx(2.766667, abs=1e-6)
    assert lr.statistic == pytest.approx(
        (2 - 83 / 30) ** 2 / (1 / 4 + 6 / 25 + 1 / 4 + 2 / 9 + 1 / 4)
    )
    ref = logrank_test(t[:3], t[3:], e[:3], e[3:])
    assert lr.statistic == pytest.approx(ref.test_statistic, rel=1e-10)
    assert lr.p_value == pytest.approx(ref.p_value, rel=1e-10)


def test_logrank_three_groups_matches_lifelines() -> None:
    rng = np.random.default_rng(3)
    g = np.repeat(["a", "b", "c"], 30)
    t = rng.exponential(np.repeat([10.0, 15.0, 25.0], 30))
    e = rng.random(90) < 0.8
    lr = logrank(t, e, g.tolist())
    ref = multivariate_logrank_test(t, g, e)
    assert lr.df == 2
    assert lr.statistic == pytest.approx(ref.test_statistic, rel=1e-9)


def test_cox_matches_lifelines_directly() -> None:
    rng = np.random.default_rng(11)
    n = 120
    x = rng.normal(size=n)
    t = rng.exponential(np.exp(-0.7 * x) * 12)
    e = rng.random(n) < 0.8
    tab = table_from_records(
        "c", [{"pfs_months": a, "ev": int(b), "ki67": c} for a, b, c in zip(t, e, x, strict=True)]
    )
    res = cox_regression(
        load_cohort(tab, time_col="pfs_months", event_col="ev", covariates=["ki67"])
    )
    ref = CoxPHFitter().fit(pd.DataFrame({"T": t, "E": e.astype(int), "ki67": x}), "T", "E")
    assert res.covariates[0]["hazard_ratio"] == pytest.approx(
        float(np.exp(ref.params_["ki67"])), rel=1e-6
    )
    assert res.covariates[0]["hazard_ratio"] > 1.0  # simulated log-HR +0.7


def test_cohort_loader_errors(tmp_path: Path) -> None:
    f = tmp_path / "cohort.csv"
    f.write_text("id,pfs_months,progressed\n1,3.0,1\n2,-1,0\n")
    with pytest.raises(InvalidInputError, match=r"cohort.csv row 3 column 'pfs_months'.*≥ 0"):
        load_cohort(read_table(f), time_col="pfs_months", event_col="progressed")
    f.write_text("id,pfs_months,progressed\n1,3.0,maybe\n")
    with pytest.raises(InvalidInputError, match=r"row 2 column 'progressed'.*1/0"):
        load_cohort(read_table(f), time_col="pfs_months", event_col="progressed")
    f.write_text("id,pfs,progressed\n1,3.0,1\n")
    with pytest.raises(InvalidInputError, match="unit suffix"):
        load_cohort(read_table(f), time_col="pfs", event_col="progressed")
    with pytest.raises(InvalidInputError, match="column 'os_months'"):
        load_cohort(read_table(f), time_col="os_months", event_col="progressed")
    f.write_text("id,pfs_days,progressed\n1,3.0\n")
    with pytest.raises(InvalidInputError, match="row 2: expected 3 cells"):
        read_table(f)
    f.write_text("")
    with pytest.raises(InvalidInputError, match="empty file"):
        read_table(f)
    with pytest.raises(InvalidInputError, match="existing Parquet"):
        read_table(tmp_path / "cohort.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(InvalidInputError, match="readable Parquet"):
        read_table(tmp_path / "bad.parquet")
    with pytest.raises(InvalidInputError, match="existing CSV"):
        read_table(tmp_path / "missing.csv")


def test_cohort_units_semicolon_csv(tmp_path: Path) -> None:
    f = tmp_path / "c.csv"
    f.write_text("pfs_days;event\n30,5;1\n")  # semicolon-delimited, decimal comma is rejected
    with pytest.raises(InvalidInputError, match="decimal point"):
        load_cohort(read_table(f), time_col="pfs_days", event_col="event")
    f.write_text("pfs_days;event\n30.5;1\n")
    c = load_cohort(read_table(f), time_col="pfs_days", event_col="event")
    assert c.times_s[0] == pytest.approx(30.5 * 86400)


def test_parquet_table_reads_like_csv(tmp_path: Path) -> None:
    # The same three hand-written rows as CSV and as Parquet give the same text cells
    # (null -> empty cell, as an empty CSV cell).
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"id": ["a", "b", "c"], "pfs_days": [30.0, None, 90.5]}),
        tmp_path / "t.parquet",
    )
    (tmp_path / "t.csv").write_text("id,pfs_days\na,30.0\nb,\nc,90.5\n", encoding="utf-8")
    parquet, csv = read_table(tmp_path / "t.parquet"), read_table(tmp_path / "t.csv")
    assert parquet.columns == csv.columns == ("id", "pfs_days")
    assert parquet.rows == csv.rows
