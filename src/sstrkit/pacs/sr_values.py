"""The values the TID 1500 SR reports, taken from a run folder's results.json.

* lesions: ``stages.reading.lesions`` (SUVbw max/mean/peak, volume), each linked
  to its segment in the lesion SEG by name (``lesion_01``…);
* regions per cycle: ``stages.dosimetry.organ_level.cycles`` (TIA in MBq·h, the
  organ-level absorbed dose) and ``per_kidney``; the voxel mean dose of the same
  region from ``stages.dosimetry.voxel.<cycle>.regions``; the per-cycle BED as the
  registry computes it (:func:`sstrkit.registry.ingest.read_run_folder`: the
  Lea–Catcheside G of a mono-exponential fit, absent for other kinetics);
* cumulative: ``stages.planning.running.delivered`` (absorbed dose and BED summed
  over the delivered cycles), when planning ran.

Nothing is recomputed here: the SR carries results.json's numbers.
"""

from __future__ import annotations

import math
from typing import Any

from pydicom.dataset import Dataset

from sstrkit.errors import SstrkitError
from sstrkit.pacs.run_folder import RunFolder
from sstrkit.pacs.segments import lesion_name
from sstrkit.pacs.sr import LesionValues, RegionValues, SegmentRef

__all__ = ["lesion_values", "region_values"]

Segs = dict[int, tuple[Dataset, dict[str, int]]]


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def lesion_values(
    run: RunFolder, lesions: tuple[Dataset, dict[str, int]] | None
) -> list[LesionValues]:
    """One entry per reading lesion that has a segment."""
    if lesions is None:
        return []
    seg, numbers = lesions
    found = []
    for les in (run.stages.get("reading") or {}).get("lesions") or []:
        name = lesion_name(int(les["id"]))
        if name in numbers:
            found.append(
                LesionValues(
                    name,
                    _num(les.get("suv_max")),
                    _num(les.get("suv_mean")),
                    _num(les.get("suv_peak")),
                    _num(les.get("volume_ml")),
                    SegmentRef(seg, numbers[name]),
                )
            )
    return found


def _cycle_beds(run: RunFolder, notes: list[str]) -> dict[tuple[int, str], float]:
    from sstrkit.registry.ingest import read_run_folder

    try:
        rows = read_run_folder(run.out, study=run.study_dir).rows.get("region_doses", [])
    except SstrkitError as exc:
        notes.append(f"no per-cycle BED in the SR: {exc.one_line()}")
        return {}
    return {
        (int(r["cycle"]), str(r["region"])): float(r["bed_gy"])
        for r in rows
        if r.get("level") == "organ" and r.get("cycle") is not None and _num(r.get("bed_gy"))
    }


def _ref(segs: Segs, cycle: int | None, name: str) -> SegmentRef | None:
    if cycle is None or cycle not in segs or name not in segs[cycle][1]:
        return None
    seg, numbers = segs[cycle]
    return SegmentRef(seg, numbers[name])


def region_values(run: RunFolder, segs: Segs, notes: list[str]) -> list[RegionValues]:
    """Per cycle and region, then cumulative (module docstring)."""
    dosimetry = run.stages.get("dosimetry") or {}
    beds = _cycle_beds(run, notes)
    voxel_means = {
        (int(c), str(r.get("name"))): _num(r.get("mean_gy"))
        for c, rec in (dosimetry.get("voxel") or {}).items()
        for r in rec.get("regions") or []
    }
    per_kidney = dosimetry.get("per_kidney") or {}
    found: list[RegionValues] = []
    for entry in (dosimetry.get("organ_level") or {}).get("cycles") or []:
        if entry.get("cycle") is None:
            continue
        cycle = int(entry["cycle"])
        status = str(entry.get("status") or "")
        point = f"cycle {cycle}" + ("" if status in ("", "measured") else f" ({status})")
        for r in [*(entry.get("regions") or []), *(per_kidney.get(str(cycle)) or [])]:
            name = str(r.get("name"))
            found.append(
                RegionValues(
                    name,
                    point,
                    tia_mbq_h=_num(r.get("tia_mbq_h")),
                    dose_gy=_num(r.get("dose_gy")),
                    bed_gy=beds.get((cycle, name)),
                    voxel_mean_gy=voxel_means.get((cycle, name)),
                    segment=_ref(segs, cycle, name),
                )
            )
    delivered = ((run.stages.get("planning") or {}).get("running") or {}).get("delivered") or {}
    absorbed, bed = delivered.get("absorbed_gy") or {}, delivered.get("bed_gy") or {}
    last = max(segs) if segs else None
    n = delivered.get("cycles")
    for name in dict.fromkeys([*absorbed, *bed]):
        found.append(
            RegionValues(
                str(name),
                f"cumulative, {n} cycle{'' if n == 1 else 's'}" if n else "cumulative",
                dose_gy=_num(absorbed.get(name)),
                bed_gy=_num(bed.get(name)),
                segment=_ref(segs, last, str(name)),
            )
        )
    if not delivered:
        notes.append("no cumulative doses in the SR (the planning stage did not run)")
    return found
