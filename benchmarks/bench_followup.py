"""Follow-up on a synthetic cohort of 1 000 patients: sstrkit vs lifelines (same process).

Prints wall times and ratios for Kaplan–Meier (+ median CI) and the 2-group
log-rank test against lifelines' KaplanMeierFitter / logrank_test, and the time
to assess RECIST 1.1 for 1 000 patients with 6 follow-ups each (no baseline
implementation exists to compare with; the issue asks for "seconds").
"""

from __future__ import annotations

import time

import numpy as np
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test
from lifelines.utils import median_survival_times

from sstrkit.followup.recist import Lesion, TimePoint, assess
from sstrkit.followup.survival import kaplan_meier, logrank

N = 1000
REPEAT = 5
rng = np.random.default_rng(2024)
t = np.round(rng.exponential(24.0, N), 2)
e = rng.random(N) < 0.7
g = np.where(rng.random(N) < 0.5, "A", "B")


def best(fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def ours_km() -> None:
    kaplan_meier(t, e)


def ll_km() -> None:
    kmf = KaplanMeierFitter().fit(t, e)
    median_survival_times(kmf.confidence_interval_)


def ours_lr() -> None:
    logrank(t, e, g.tolist())


def ll_lr() -> None:
    logrank_test(t[g == "A"], t[g == "B"], e[g == "A"], e[g == "B"])


for name, a, b in (
    ("Kaplan-Meier + median CI", ours_km, ll_km),
    ("log-rank 2 groups", ours_lr, ll_lr),
):
    ta, tb = best(a), best(b)
    print(
        f"{name:26s} sstrkit {ta * 1e3:8.2f} ms  lifelines {tb * 1e3:8.2f} ms  "
        f"ratio lifelines/sstrkit {tb / ta:5.2f}"
    )

patients = []
for _ in range(N):
    d0 = rng.uniform(15, 60, 4)
    base = TimePoint(
        "b", 0.0, tuple(Lesion(f"L{i}", f"o{i}", diameter_mm=float(d0[i])) for i in range(4))
    )
    fus = []
    for k in range(1, 7):
        f = d0 * (1 + rng.normal(-0.05 * k, 0.1, 4)).clip(0, None)
        fus.append(
            TimePoint(
                f"c{k}",
                k * 56 * 86400.0,
                tuple(Lesion(f"L{i}", f"o{i}", diameter_mm=float(f[i])) for i in range(4)),
            )
        )
    patients.append((base, fus))
t0 = time.perf_counter()
bors = [assess(b, f).best for b, f in patients]
dt = time.perf_counter() - t0
print(
    f"RECIST 1.1, {N} patients x 6 follow-ups: {dt:.2f} s "
    f"({sum(1 for x in bors if x and x.response == 'PR')} PR)"
)
