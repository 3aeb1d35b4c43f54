"""The run's CSV tables: ``organ_doses.csv`` (one row per cycle and region) and ``lesions.csv``."""

from __future__ import annotations

from typing import Any

from sstrkit.core.atomic import write_csv_atomic
from sstrkit.core.units import BQ_PER_GBQ, SECONDS_PER_HOUR
from sstrkit.pipeline.results import DosimetryStage, RunResult
from sstrkit.pipeline.stages.dosimetry import IMAGE_MARROW_REGION

__all__ = ["LESION_COLUMNS", "ORGAN_DOSE_COLUMNS", "organ_dose_rows", "write_tables"]

#: Columns of ``organ_doses.csv`` (units in the names).
ORGAN_DOSE_COLUMNS = (
    "cycle",
    "region",
    "kind",
    "status",
    "tia_mbq_h",
    "dose_gy",
    "dose_gy_per_gbq",
    "model",
    "t_eff_h",
    "mass_g",
    "density_g_ml",
    "density_source",
    "truth_dose_gy",
)

#: Lesion keys of the reading written to ``lesions.csv`` (then the centroid in mm).
LESION_COLUMNS = (
    "id",
    "suv_max",
    "suv_peak",
    "suv_mean",
    "volume_ml",
    "tlse",
    "t_l",
    "t_s",
    "krenning",
)


def organ_dose_rows(dos: DosimetryStage) -> list[tuple[Any, ...]]:
    """One row per cycle and region (per-kidney rows after the kidneys), every status."""
    rows = []
    for cyc in dos.organ_level.cycles:
        truth = dos.truth_total_gy.get(cyc.cycle, {})
        for r in [*cyc.regions, *dos.per_kidney.get(cyc.cycle, ())]:
            fit, rd = r.fit, r.dose
            density = r.density or (None, None)
            rows.append(
                (
                    cyc.cycle,
                    r.name,
                    "organ_part" if r.name in ("kidney_left", "kidney_right") else r.kind,
                    r.status,
                    r.tia_bq_s / 3.6e9,  # MBq·h
                    r.dose_gy,
                    rd.gy_per_bq * BQ_PER_GBQ,  # Gy/GBq
                    r.model,
                    fit.t_eff_s / SECONDS_PER_HOUR,
                    rd.mass_g,
                    *density,
                    truth.get(r.name),
                )
            )
    admin = {a.cycle: a.activity_bq for a in dos.administrations}
    for cycle, vox in sorted(dos.voxel.items()):
        m = vox.marrow_image
        if m is None:
            continue
        act = admin.get(cycle)
        rows.append(
            (
                cycle,
                IMAGE_MARROW_REGION,
                "organ",
                "measured",
                None,
                m.dose_gy,
                m.dose_gy / (act / BQ_PER_GBQ) if act else None,
                "voxel mean in VOI",
                None,
                None,
                None,
                None,
                None,
            )
        )
    return rows


def write_tables(res: RunResult) -> None:
    """``organ_doses.csv`` with the dosimetry, ``lesions.csv`` with the reading."""
    dos = res.dosimetry
    if dos is not None:
        res.files["organ_doses_csv"] = str(
            write_csv_atomic(res.out / "organ_doses.csv", ORGAN_DOSE_COLUMNS, organ_dose_rows(dos))
        )
    reading = res.reading
    if reading is not None:
        lesions = reading.to_dict()["lesions"]
        res.files["lesions_csv"] = str(
            write_csv_atomic(
                res.out / "lesions.csv",
                (*LESION_COLUMNS, "x_mm", "y_mm", "z_mm"),
                [(*(le.get(k) for k in LESION_COLUMNS), *le["centroid_mm"]) for le in lesions],
            )
        )
