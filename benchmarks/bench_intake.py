"""Benchmark: intake of a 36-series study vs the discovery behind ``sstrkit dicom ls``.

Makes a digital-patient study with :func:`sstrkit.phantom.study.make_study`
(4 cycles × 4 SPECT/CT time points = 32 series, plus the 68Ga PET/CT and the
FDG PET/CT: 36 series; ``--voxel-mm`` sets the grid, 4 mm by default, i.e.
about 1800 files), then times, in the same process and on the same files
(page cache warmed by one untimed run of each):

* sstrkit: ``intake_study(dicom, out)`` (discovery, roles, cycles, CT pairing,
  validated ``manifest.json`` written atomically);
* baseline: ``discover(dicom)`` — exactly what ``sstrkit dicom ls`` runs, which
  only lists the series.

Prints the best-of-N wall time of each and their ratio (the intake's own work
on top of reading the headers), and checks that the intake found the 36 series
in the roles the phantom's manifest gives them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sstrkit.io.discover import discover
from sstrkit.phantom.study import StudyConfig, make_study
from sstrkit.pipeline.intake import intake_study


def best_of(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voxel-mm", type=float, default=4.0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "phantom"
        t0 = time.perf_counter()
        truth = make_study(root, StudyConfig(seed=1, voxel_mm=args.voxel_mm, cycles=4))
        made = time.perf_counter() - t0
        dicom = root / "dicom"
        found = discover(dicom)
        n_files = sum(s.n_files for s in found.series)
        print(
            f"wrote {len(found.series)} series ({n_files} files) at {args.voxel_mm:g} mm "
            f"in {made:.1f} s"
        )
        res = intake_study(dicom, Path(tmp) / "study")  # warm-up, and the check below
        ref = truth["series"]
        got = res.manifest["series"]
        assert len(found.series) == 36 and not res.manifest["intake"]["ignored_series"]
        assert [(s["cycle"], s["hours_post_injection"], s["series_uid"]) for s in got["spect"]] == [
            (s["cycle"], s["hours_post_injection"], s["series_uid"]) for s in ref["spect"]
        ]
        for role in ("pet", "pet_ct", "fdg", "fdg_ct"):
            assert got[role]["series_uid"] == ref[role]["series_uid"]
        t_ls = best_of(lambda: discover(dicom), args.repeats)
        t_intake = best_of(lambda: intake_study(dicom, Path(tmp) / "study"), args.repeats)
    print(f"sstrkit dicom ls (discover)      : {t_ls:.3f} s")
    print(f"sstrkit study init (intake_study): {t_intake:.3f} s")
    print(f"ratio intake / dicom ls          : {t_intake / t_ls:.2f}")


if __name__ == "__main__":
    main()
