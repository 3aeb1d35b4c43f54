"""Registry: record 1 000 runs, then the cohort query — and a naive ORM baseline.

Synthetic runs shaped like the demo's (4 cycles × 12 organ-level regions + 2
kidney parts + 13 voxel VOIs, 7 PET lesions, 5 lab draws × 4 values, 8 lesion
uptake changes, a survival record): one run per patient plus a re-run (history)
its re-run for every fifth patient: 1 000 runs of 834 patients, 834 current). Each run goes through
``Registry.add_run_data`` — the path of ``add_run`` after reading the folder.

Timed (best of 3):

* ``cohort_tables()`` — all cohort tables of the current runs (target < 1 s);
* its ``region_doses`` table alone, and as the named baseline in the same run
  the same table by naive per-row ORM loading (patients → studies → runs →
  region doses through lazy-loaded relationships, one query per object: the
  N + 1 pattern) — printed with their ratio.

Usage: ``python benchmarks/bench_registry.py [--url DATABASE_URL] [--runs N]``
(default: a new SQLite file in a temporary folder).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from sstrkit.registry import open_registry
from sstrkit.registry import schema as t
from sstrkit.registry.cohort import frame, table_frame, typed
from sstrkit.registry.ingest import RunData

ORGANS = ("kidneys", "liver", "spleen", "red marrow")
LESIONS = tuple(f"lesion_{i:02d}" for i in range(1, 9))
T0 = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)


def _dose_row(cycle: int, name: str, level: str, dose: float) -> dict[str, Any]:
    organ = level == "organ"
    return {
        "cycle": cycle,
        "region": name,
        "kind": ("lesion" if name in LESIONS else "organ") if organ else None,
        "reading_lesion_id": None,
        "level": level,
        "status": "measured" if organ else None,
        "method": "MIRD organ level (mono kinetics)" if organ else "voxel",
        "tia_bq_s": dose * 1e13 if organ else None,
        "tia_sd_bq_s": dose * 5e11 if organ else None,
        "dose_gy": dose,
        "dose_sd_gy": 0.05 * dose if organ else None,
        "bed_gy": 1.1 * dose if organ else None,
        "bed_method": "bench" if organ else None,
        "t_eff_s": 2e5 if organ else None,
        "mass_g": 300.0 if organ else None,
        "volume_ml": 290.0,
        "dose_max_gy": None if organ else 50.0,
        "d90_gy": None if organ else 1.0,
    }


def synthetic_run(patient: int, version: int, rng: np.random.Generator) -> RunData:
    """One run of patient ``patient`` (``version`` 0: first run, 1: its re-run)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    rows["administrations"] = [
        {
            "cycle": c,
            "time": T0 + dt.timedelta(days=56 * (c - 1)),
            "activity_bq": 7.4e9,
            "radiopharmaceutical": "177Lu-DOTATATE",
            "nuclide": "Lu-177",
            "source": "bench",
        }
        for c in range(1, 5)
    ]
    organ = (*ORGANS, *LESIONS, "kidney_left", "kidney_right")
    voxel = (*ORGANS[:3], *LESIONS, "kidney_left", "kidney_right")
    rows["region_doses"] = [
        _dose_row(c, name, level, float(rng.uniform(0.1, 40.0)))
        for c in range(1, 5)
        for level, names in (("organ", organ), ("voxel", voxel))
        for name in names
    ]
    rows["readings"] = [
        {
            "tracer": "68Ga-DOTATATE",
            "krenning_patient": 4,
            "eligible": True,
            "eligibility_status": "eligible",
            "eligibility_missing": [],
            "n_lesions": 7,
            "netpet_grade": "P1",
            "sstr_tumour_volume_ml": 100.0,
            "total_tlse_suv_ml": 2000.0,
            "liver_suv_mean": 8.0,
            "spleen_suv_mean": 22.0,
        }
    ]
    lesion = {"organ": "liver", "suv_max": 30.0, "suv_peak": 25.0, "suv_mean": 18.0}
    lesion |= {"volume_ml": 7.0, "tlse_suv_ml": 126.0, "krenning": 4}
    rows["reading_lesions"] = [
        {"lesion_id": i, **lesion, "x_mm": 0.0, "y_mm": 0.0, "z_mm": 0.0} for i in range(1, 8)
    ]
    labs = (("creatinine", "umol/L"), ("haemoglobin", "g/dL"), ("platelets", "1e9/L"))
    rows["lab_values"] = [
        {
            "time": T0 + dt.timedelta(days=56 * d),
            "before_cycle": d + 1 if d < 4 else None,
            "name": name,
            "value": float(rng.uniform(1, 300)),
            "unit": unit,
        }
        for d in range(5)
        for name, unit in (*labs, ("wbc", "1e9/L"))
    ]
    rows["lesion_uptake_changes"] = [
        {
            "lesion": name,
            "first_cycle": 1,
            "last_cycle": 4,
            "time_point_s": 86400.0,
            "uptake_first_bq": 2e7,
            "uptake_last_bq": 1.5e7,
            "change_pct": -25.0,
        }
        for name in LESIONS
    ]
    pfs_s = float(rng.exponential(600)) * 86400
    rows["survival"] = [
        {"pfs_s": pfs_s, "pfs_event": True, "os_s": None, "os_event": None, "source": "bench"}
    ]
    for name in ("response_assessments", "lesion_volumes", "run_files"):
        rows[name] = []
    return RunData(
        out_dir=Path(f"/bench/p{patient:04d}/out{version}"),
        study_dir=Path(f"/bench/p{patient:04d}/study"),
        content_sha256=f"{patient:032x}{version:032x}",
        finished_at=T0 + dt.timedelta(days=300 + version),
        patient_id=f"BENCH-{patient:04d}",
        sex="F",
        study_key=f"bench-study-{patient:04d}",
        study_instance_uid=None,
        run={
            "sstrkit_version": "bench",
            "weight_g": 7e4,
            "height_mm": 1.7e3,
            "skipped": {},
            "n_data_quality": 0,
            "kidney_bed_cumulative_gy": 20.0,
            "marrow_dose_cumulative_gy": 0.5,
        },
        rows=rows,
    )


def best(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def region_doses_set_based(reg: Any) -> Any:
    """The cohort path: one query joining the doses with their current runs and patients."""
    with reg.engine.connect() as conn:
        df = table_frame(conn, t.RegionDose, where=t.RegionDose.level == "organ")
    return typed(df, "region_doses")


_DOSE_COLUMNS = (
    "cycle",
    "region",
    "kind",
    "status",
    "tia_bq_s",
    "tia_sd_bq_s",
    "dose_gy",
    "dose_sd_gy",
    "bed_gy",
    "method",
    "t_eff_s",
    "mass_g",
    "volume_ml",
)


def region_doses_naive(reg: Any) -> Any:
    """Baseline: per-row ORM loading through lazy relationships (N + 1 queries)."""
    rows = []
    with Session(reg.engine) as s:
        for p in s.scalars(select(t.Patient)):
            for st in p.studies:
                for run in (r for r in st.runs if r.is_current):
                    for d in (d for d in run.region_doses if d.level == "organ"):
                        keys = {"patient_id": p.patient_id, "study_key": st.study_key}
                        keys["run_id"] = run.id
                        rows.append({**keys, **{c: getattr(d, c) for c in _DOSE_COLUMNS}})
    return frame(rows, "region_doses")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="registry URL (default: SQLite in a temporary folder)")
    ap.add_argument("--runs", type=int, default=1000, help="runs to insert")
    args = ap.parse_args(argv)
    tmp = tempfile.TemporaryDirectory(prefix="sstrkit-bench-registry-")
    url = args.url or f"sqlite:///{Path(tmp.name) / 'registry.sqlite'}"
    rng = np.random.default_rng(20)
    # every fifth patient re-run: 1 000 runs = 834 patients, 166 of them twice
    patients = -(-args.runs * 5 // 6)
    runs = [synthetic_run(p, 0, rng) for p in range(patients)]
    runs += [synthetic_run(p, 1, rng) for p in range(0, patients, 5)][: args.runs - patients]
    with open_registry(url) as reg:
        print(f"registry: {reg.url}")
        t0 = time.perf_counter()
        for data in runs:
            reg.add_run_data(data)
        t_insert = time.perf_counter() - t0
        n_rows = sum(len(v) for d in runs for v in d.rows.values())
        print(f"insert {len(runs)} runs ({n_rows} rows): {t_insert:.1f} s "
              f"({1e3 * t_insert / len(runs):.1f} ms per run)")  # fmt: skip
        t_cohort, tables = best(reg.cohort_tables)
        print(f"cohort_tables() of {len(tables.runs)} current runs: {t_cohort:.3f} s "
              f"(target < 1 s, ratio to target {t_cohort / 1.0:.2f})")  # fmt: skip
        t_set, ours = best(lambda: region_doses_set_based(reg))
        t_naive, naive = best(lambda: region_doses_naive(reg), repeat=1)
        assert (
            ours.sort_values(["run_id", "cycle", "region"])
            .reset_index(drop=True)
            .equals(naive.sort_values(["run_id", "cycle", "region"]).reset_index(drop=True))
        ), "the baseline must produce the same table"
        print(f"region_doses ({len(ours)} rows): set-based {t_set:.3f} s, naive per-row ORM "
              f"{t_naive:.3f} s, ratio naive/set-based {t_naive / t_set:.1f}")  # fmt: skip
    tmp.cleanup()
    return 0 if t_cohort < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
