"""Benchmark of the main job (issue 9): `sstrkit demo` stage by stage, time and memory.

Baseline: the issue's targets on 2 cores — whole job < 120 s and < 4 GB peak
memory after installation. The script runs the demo in a fresh temporary folder
(digital patient + run), prints each stage's wall time, the total, the peak
resident memory of the process, and the ratio of each to its target.

    python benchmarks/bench_demo.py [--seed 7]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from sstrkit.pipeline.demo import run_demo

TARGET_S = 120.0
TARGET_BYTES = 4 * 1024**3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    marks: list[tuple[str, float]] = []
    t0 = time.perf_counter()

    def progress(msg: str) -> None:
        marks.append((msg, time.perf_counter() - t0))

    with tempfile.TemporaryDirectory() as tmp:
        res = run_demo(Path(tmp) / "demo", seed=args.seed, progress=progress)
        total = time.perf_counter() - t0
    phantom = [t for m, t in marks if m.startswith("digital patient")]
    phantom_s = marks[[m for m, _ in marks].index("import")][1] if phantom else 0.0
    print(f"{'stage':<12}{'time (s)':>10}")
    print(f"{'phantom':<12}{phantom_s:>10.1f}")
    for stage, secs in res.timings_s.items():
        print(f"{stage:<12}{secs:>10.1f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    print(f"total: {total:.1f} s  (target {TARGET_S:.0f} s, ratio {total / TARGET_S:.2f})")
    print(f"peak RSS: {peak / 1024**3:.2f} GiB  (target 4 GiB, ratio {peak / TARGET_BYTES:.2f})")
    return 0 if not res.skipped else 1


if __name__ == "__main__":
    sys.exit(main())
