"""Benchmark: cost of the plausibility checks in ``compute_suv`` (target < 5 % overhead).

Writes a synthetic 68Ga PET series (300 × 256 × 256 by default, per-slice
RescaleSlope, int16, NumberOfSlices, RadionuclideCodeSequence) with
:func:`sstrkit.io.dicom_write.write_pet_series` into a temporary folder, reads
it once, then times in the same process, alternating, best of N:

* ``compute_suv(series, "bw")`` — all checks (usual ranges of weight, height,
  BMI and administered activity; impossible values, swap detection, ICRP 107
  half-life);
* ``compute_suv(series, "bw", plausibility=False)`` — without the
  warning-only range checks (the error checks cannot be switched off);

and the two together with the read (``read_series``, whose slice-count check
always runs). To bound the error checks too, the plausibility functions are
also timed alone, all of them for one series, against ``compute_suv``.

Prints the times and the ratios (with / without).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sstrkit.core.volume import Volume
from sstrkit.io import plausibility as pl
from sstrkit.io.dicom_read import DicomSeries, read_series
from sstrkit.io.dicom_write import PatientInfo, Radiopharmaceutical, StudyInfo, write_pet_series
from sstrkit.io.suv import compute_suv
from sstrkit.physics.nuclides import get_nuclide


def make_series(folder: Path, nz: int, n: int) -> None:
    rng = np.random.default_rng(0)
    arr = rng.gamma(2.0, 3000.0, size=(nz, n, n)).astype(np.float32)
    ref = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
    vol = Volume.from_array(
        arr, spacing=(2.7, 2.7, 3.0), unit="Bq/mL", reference_time=ref, modality="PT"
    )
    write_pet_series(
        vol,
        folder,
        patient=PatientInfo(weight_kg=75.0, height_cm=175.0, sex="M"),
        study=StudyInfo(),
        radiopharmaceutical=Radiopharmaceutical(
            "Ga-68 DOTATATE", "Ga-68", 150e6, ref - dt.timedelta(minutes=60)
        ),
    )


def all_checks_once() -> None:
    """Every plausibility function as compute_suv and read_series call it for one series."""
    hl = get_nuclide("Ga-68").half_life_s
    pl.check_swapped_weight_height(75.0, 1.75)
    pl.check_weight(75.0, what="PatientWeight (0010,1030)")
    pl.check_height(175.0, what="PatientSize (0010,1020)")
    pl.check_bmi(75.0, 175.0)
    pl.check_activity(150e6, "Ga-68", what="RadionuclideTotalDose (0018,1074)")
    pl.check_half_life(hl, hl, "Ga-68")
    pl.check_slice_count(300, modality="PT", number_of_slices=300, images_in_acquisition=None)


def best_of(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def alternate(
    with_checks: Callable[[], object], without: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Best of ``repeats`` of each, run alternately so that drifts hit both alike."""
    a, b = [], []
    for _ in range(repeats):
        a.append(best_of(with_checks, 1))
        b.append(best_of(without, 1))
    return min(a), min(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        make_series(folder, args.slices, args.size)
        print(
            f"wrote {args.slices} slices of {args.size}x{args.size} in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        series: DicomSeries = read_series(folder)
        res = compute_suv(series, "bw")
        assert res.suv is not None and res.warnings == (), res.warnings

        def suv_on() -> object:
            return compute_suv(series, "bw")

        def suv_off() -> object:
            return compute_suv(series, "bw", plausibility=False)

        def read_on() -> object:
            return compute_suv(read_series(folder), "bw")

        def read_off() -> object:
            return compute_suv(read_series(folder), "bw", plausibility=False)

        suv_on()
        suv_off()  # warm caches (ICRP 107 data, time parsing)
        t_on, t_off = alternate(suv_on, suv_off, args.repeats)
        r_on, r_off = alternate(read_on, read_off, max(3, args.repeats // 2))
        n_calls = 2000
        t_checks = best_of(lambda: [all_checks_once() for _ in range(n_calls)], 3) / n_calls
    print(f"compute_suv with checks          : {t_on * 1e3:8.2f} ms")
    print(f"compute_suv plausibility=False   : {t_off * 1e3:8.2f} ms")
    print(f"ratio with / without             : {t_on / t_off:8.3f}  (target < 1.05)")
    print(f"read_series + compute_suv, checks: {r_on * 1e3:8.2f} ms")
    print(f"read_series + compute_suv, off   : {r_off * 1e3:8.2f} ms")
    print(f"ratio with / without             : {r_on / r_off:8.3f}  (target < 1.05)")
    print(
        f"all plausibility functions, once : {t_checks * 1e6:8.1f} µs = "
        f"{100 * t_checks / t_off:.3f} % of compute_suv"
    )


if __name__ == "__main__":
    main()
