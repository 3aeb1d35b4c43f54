"""Benchmark: reading SSTR scintigraphy beside the PET reader, on one digital patient.

A digital patient with 111In-pentetreotide scintigraphy and its 68Ga-DOTATATE PET is made
(``make_study``, 4 mm truth voxels, one cycle, no FDG). Timed (median of ``REPEATS``):

* **planar**: ``read_planar_wholebody`` + ``read_planar`` of the 24 h whole-body pair
  (two 256 × 1024 views, the phantom's camera matrix);
* **SPECT**: ``read_sstr_spect`` of the 24 h SPECT resampled (linear) to 128 × 128 × 128
  voxels of 4.8 mm (a 614 mm cube centred on it), with its CT (automatic organs);
* **PET**: ``read_sstr_pet`` of the patient's SUV PET with its CT (automatic organs),
  the same reader ``sstrkit read`` runs on a PET.

Printed: each time, the PET's grid, and the ratios planar / PET and SPECT / PET.

Run: ``python benchmarks/bench_scintigraphy_reading.py`` (≈ 1-2 min on 2 cores).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sstrkit.core.volume import Volume

REPEATS = 3
SEED = 2
TRACER = "111In-pentetreotide"


def _median_time(fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _cube(spect: Volume, n: int = 128, spacing: float = 4.8) -> Volume:
    """A reference grid of n³ voxels centred on ``spect`` (same direction and frame)."""
    d = spect.direction_matrix
    centre = np.asarray(spect.origin) + d @ (
        (np.asarray(spect.shape[::-1]) - 1) * np.asarray(spect.spacing) / 2.0
    )
    origin = centre - d @ np.full(3, (n - 1) * spacing / 2.0)
    return Volume(
        np.zeros((n, n, n), np.float32),
        spacing=(spacing, spacing, spacing),
        origin=tuple(float(v) for v in origin),
        direction=spect.direction,
        frame_of_reference_uid=spect.frame_of_reference_uid,
        modality=spect.modality,
        quantity=spect.quantity,
        unit=spect.unit,
        reference_time=spect.reference_time,
    )


def main() -> None:
    from sstrkit.io.planar import read_planar_wholebody
    from sstrkit.phantom.study import StudyConfig, make_study
    from sstrkit.reading.inputs import load_ct, load_suv_pet
    from sstrkit.reading.job import load_sstr_spect
    from sstrkit.reading.planar import read_planar
    from sstrkit.reading.reader import read_sstr_pet
    from sstrkit.reading.spect import read_sstr_spect

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        make_study(
            root,
            StudyConfig(
                seed=SEED,
                voxel_mm=4.0,
                cycles=1,
                timepoints_h=(24.0,),
                fdg=False,
                sstr_imaging=(TRACER,),
            ),
        )
        print(f"digital patient (seed {SEED}) made in {time.perf_counter() - t0:.1f} s")
        import json

        series = json.loads((root / "manifest.json").read_text())["series"]
        wb = max(series["scintigraphy_planar"], key=lambda e: e["hours_post_injection"])
        sp = max(series["sstr_spect"], key=lambda e: e["hours_post_injection"])
        sp_ct = next(
            c
            for c in series["sstr_spect_ct"]
            if c["hours_post_injection"] == sp["hours_post_injection"]
        )

        def planar() -> Any:
            study = read_planar_wholebody(root / wb["path"])
            return read_planar(study)

        reading = planar()
        study = read_planar_wholebody(root / wb["path"])
        t_planar = _median_time(planar)

        spect_in = load_sstr_spect(root / Path(sp["path"]).parent)
        cube = spect_in.activity.resample_to(_cube(spect_in.activity), mode="linear")
        ct_spect = load_ct(root / sp_ct["path"])

        def spect() -> Any:
            return read_sstr_spect(
                cube,
                ct=ct_spect,
                tracer=TRACER,
                hours_post_injection=spect_in.hours_post_injection,
                injected_activity_bq=spect_in.injected_activity_bq,
                weight_kg=spect_in.weight_kg,
                injection_time=spect_in.injection_time,
            )

        t_spect = _median_time(spect)
        suv = load_suv_pet(root / series["pet"]["path"], assume_suv=False, role="PET")
        ct_pet = load_ct(root / series["pet_ct"]["path"])
        t_pet = _median_time(lambda: read_sstr_pet(suv, ct=ct_pet))

    print(
        f"planar pair {study.shape[0]} × {study.shape[1]} × 2 views: {t_planar:.2f} s "
        f"({len(reading.lesions)} lesions, Krenning {reading.krenning_patient})"
    )
    print(f"SPECT {' × '.join(str(v) for v in cube.shape)} (4.8 mm) with CT: {t_spect:.2f} s")
    print(f"PET {' × '.join(str(v) for v in suv.shape)} with CT (same patient): {t_pet:.2f} s")
    print(f"ratio planar / PET: {t_planar / t_pet:.2f}")
    print(f"ratio SPECT / PET:  {t_spect / t_pet:.2f}")


if __name__ == "__main__":
    main()
