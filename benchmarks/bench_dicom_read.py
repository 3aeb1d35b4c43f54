"""Benchmark: read + SUV of a PET series vs SimpleITK's ImageSeriesReader.

Writes a synthetic PET series (per-slice RescaleSlope, int16) with
:func:`sstrkit.io.dicom_write.write_pet_series` into a temporary folder, then
times, in the same process and on the same files:

* sstrkit: ``read_series(folder)`` + ``compute_suv(series, "bw")`` (discovery,
  geometry checks, per-slice rescale, Bq/mL, SUVbw);
* baseline: SimpleITK ``ImageSeriesReader`` (GDCM) reading the same files
  (file list from ``GetGDCMSeriesFileNames``), no SUV.

Prints the best-of-N wall time of each, their ratio (target ≤ 1.5) and the
peak traced memory of the sstrkit path relative to the float32 volume size
(target ≤ 2.5×; numpy allocations are traced by ``tracemalloc``).

Default size is the issue's 300 × 256 × 256; ``--slices`` / ``--size`` change it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from sstrkit.core.volume import Volume
from sstrkit.io.dicom_read import read_series
from sstrkit.io.dicom_write import PatientInfo, Radiopharmaceutical, StudyInfo, write_pet_series
from sstrkit.io.suv import compute_suv


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
            "Ga-68 DOTATATE", "Ga-68", 150e6, ref - dt.timedelta(minutes=60), half_life_s=4062.6
        ),
    )


def run_sstrkit(folder: Path) -> float:
    series = read_series(folder)
    res = compute_suv(series, "bw")
    assert res.suv is not None
    return float(res.suv.array[0, 0, 0])


def run_sitk(folder: Path) -> float:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    img = reader.Execute()
    return float(img.GetPixel(0, 0, 0))


def best_of(fn, folder: Path, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(folder)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        make_series(folder, args.slices, args.size)
        print(
            f"wrote {args.slices} slices of {args.size}x{args.size} in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        run_sitk(folder)  # warm file cache for both
        t_sitk = best_of(run_sitk, folder, args.repeats)
        t_ours = best_of(run_sstrkit, folder, args.repeats)
        tracemalloc.start()
        run_sstrkit(folder)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    vol_bytes = args.slices * args.size * args.size * 4
    print(f"SimpleITK ImageSeriesReader : {t_sitk:.3f} s")
    print(f"sstrkit read_series + SUV   : {t_ours:.3f} s")
    print(f"ratio sstrkit / SimpleITK   : {t_ours / t_sitk:.2f}  (target <= 1.5)")
    print(
        f"peak memory / float32 volume: {peak / vol_bytes:.2f}  (target <= 2.5; "
        f"peak {peak / 2**20:.1f} MiB, volume {vol_bytes / 2**20:.1f} MiB)"
    )


if __name__ == "__main__":
    main()
