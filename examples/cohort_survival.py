"""Cohort survival: Kaplan–Meier estimate per group and a log-rank test from a small table.

A cohort table (CSV or Parquet; one row per patient, the time unit in the column name)
is read strictly (a bad cell names its row and column), then progression-free survival is
estimated per Krenning group with Greenwood log(−log) confidence limits. Without an
argument a made-up 16-patient cohort is written to a temporary CSV first::

    python examples/cohort_survival.py [COHORT.csv]
"""

import sys
import tempfile
from pathlib import Path

import sstrkit

# id, PFS (months), progressed (1) or censored (0), Krenning score at baseline
ROWS = """
p01,31,1,4 p02,42,0,4 p03,18,1,4 p04,36,1,4
p05,48,0,4 p06,27,1,4 p07,40,0,4 p08,22,1,4
p09,9,1,3 p10,14,1,3 p11,30,0,3 p12,11,1,3
p13,20,1,3 p14,7,1,3 p15,25,0,3 p16,16,1,3
"""
COHORT = "id,pfs_months,progressed,krenning\n" + "\n".join(ROWS.split()) + "\n"


def main(path: Path) -> None:
    table = sstrkit.read_table(path)
    cohort = sstrkit.load_cohort(
        table, time_col="pfs_months", event_col="progressed", group_col="krenning"
    )
    months = cohort.scale  # seconds per month: internal times are in s
    assert cohort.groups is not None
    for group in sorted(set(cohort.groups)):
        rows = [g == group for g in cohort.groups]
        km = sstrkit.kaplan_meier(cohort.times_s[rows], cohort.events[rows])
        median = "not reached" if km.median is None else f"{km.median / months:.1f} months"
        print(
            f"Krenning {group}: n = {km.n}, {km.n_events} progressions, median PFS {median}, "
            f"PFS at 24 months {km.survival_at(24 * months):.0%}"
        )
    test = sstrkit.logrank(cohort.times_s, cohort.events, cohort.groups)
    print(f"log-rank: χ² = {test.statistic:.2f}, p = {test.p_value:.3f}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / "cohort.csv"
            csv.write_text(COHORT, encoding="utf-8")
            main(csv)
