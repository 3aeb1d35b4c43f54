"""Benchmark of cohort runs (issue 20): serial against a Dask LocalCluster, one process.

Baseline: the issue's target on 2 cores — 8 digital patients × 4 cycles (coarse: 10 mm
voxels, SPECT at 24/96/168 h), run serially and on a LocalCluster of 2 single-threaded
worker processes, BLAS/OpenMP/ITK pinned to one thread in both; speed-up ≥ 1.7×. The
script makes the cohort in a temporary folder (not timed), runs it both ways, checks that
both give the same organ-dose tables, and prints the wall times, the ratio and the
measured cost per cycle task and per study task — the figures behind the estimate in
docs/cohort.md of 1 000 patients × 4 cycles on N workers, which it also prints.

    python benchmarks/bench_cohort.py [--n 8] [--cycles 4] [--workers 2] [--voxel-mm 10]
                                      [--no-report]
"""

from __future__ import annotations

import os

# One thread per process for BLAS/OpenMP, before numpy is imported (workers get the same
# from Dask's nanny); SimpleITK is pinned by sstrkit.cohort.tasks.pin_threads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from sstrkit.cohort.runner import (  # noqa: E402
    CohortRunResult,
    cycle_outcomes,
    local_client,
    run_cohort,
)
from sstrkit.cohort.tasks import pin_threads  # noqa: E402
from sstrkit.phantom.cohort import CohortConfig, make_cohort  # noqa: E402

TARGET_RATIO = 1.7


def _costs(res: CohortRunResult) -> tuple[float, float]:
    """Mean seconds of a cycle task and of a study task (worker-side wall time)."""
    cyc = [c.seconds for c in cycle_outcomes(res) if c.status == "computed"]
    std = [s.seconds for s in res.studies if s.finished]
    return statistics.mean(cyc), statistics.mean(std)


def _same_tables(a: CohortRunResult, b: CohortRunResult) -> bool:
    return all(
        (x.out / "organ_doses.csv").read_text("utf-8")
        == (y.out / "organ_doses.csv").read_text("utf-8")
        for x, y in zip(a.studies, b.studies, strict=True)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--voxel-mm", type=float, default=10.0, help="phantom voxel (<= 10 mm)")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args()
    pin_threads()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        cohort = make_cohort(
            root / "studies",
            CohortConfig(n=args.n, seed=0, cycles=args.cycles, voxel_mm=args.voxel_mm),
        )
        print(
            f"cohort: {args.n} patients x {args.cycles} cycles ({time.perf_counter() - t0:.0f} s)"
        )
        report = not args.no_report
        serial = run_cohort(cohort.study_folders, root / "serial", workers=0, report=report)
        t0 = time.perf_counter()
        with local_client(args.workers) as client:  # the cluster `cohort run` starts
            startup = time.perf_counter() - t0
            dask_res = run_cohort(cohort.study_folders, root / "dask", client=client, report=report)
        same = _same_tables(serial, dask_res)
    ratio = serial.wall_s / dask_res.wall_s
    with_start = serial.wall_s / (dask_res.wall_s + startup)
    cycle_s, study_s = _costs(serial)
    print(f"serial:      {serial.wall_s:7.1f} s")
    print(f"dask x{args.workers}:     {dask_res.wall_s:7.1f} s  (+ {startup:.1f} s cluster start)")
    print(f"speed-up:    {ratio:7.2f}x  (target {TARGET_RATIO}x; {with_start:.2f}x with start)")
    print(f"serial cost: {cycle_s:.2f} s per cycle task, {study_s:.2f} s per study task")
    print(f"same organ-dose tables: {same}")
    total_s = 1000 * (args.cycles * cycle_s + study_s)  # on paper: tasks / workers
    for n_workers in (1, 2, 16, 64):
        print(
            f"1000 patients x {args.cycles} cycles on {n_workers:>2} workers: "
            f"~{total_s / n_workers / 60:.0f} min"
        )
    ok = same and not serial.failed and not dask_res.failed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
