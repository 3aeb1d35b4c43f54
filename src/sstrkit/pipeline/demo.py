"""The built-in demonstration: sstrkit's main job on synthetic data, stage by stage.

Each stage is a function ``(context) -> dict`` that adds its result to the
run; :func:`run_demo` executes them in workflow order, reports progress through
a callback, writes ``demo.json`` atomically to the output folder and returns
the summary. Stages are added here as the capabilities land (DICOM import,
reading, kinetics, dosimetry, planning, follow-up, report).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sstrkit import __version__
from sstrkit.core.atomic import write_json_atomic
from sstrkit.core.provenance import Step
from sstrkit.core.volume import Volume
from sstrkit.physics.decay import activity_at, tia_physical
from sstrkit.physics.nuclides import DATA_SOURCE, get_nuclide

__all__ = ["DemoContext", "run_demo"]

Progress = Callable[[str], None]


@dataclass
class DemoContext:
    """Mutable scratch space shared by the stages of one demo run."""

    out_dir: Path
    seed: int = 0
    results: dict[str, Any] = field(default_factory=dict)


def _stage_nuclides(ctx: DemoContext) -> dict[str, Any]:
    """Physics of the theranostic pair and the imaging nuclides (ICRP 107)."""
    rows = []
    for name in ("Ga-68", "In-111", "Cu-64", "Lu-177", "Y-90"):
        n = get_nuclide(name)
        rows.append(
            {
                "nuclide": n.name,
                "half_life_h": n.half_life_s / 3600.0,
                "beta_emax_mev": n.beta_minus_emax_mev or n.beta_plus_emax_mev,
                "csda_range_water_mm": n.csda_range_water_mm,
                "electron_mev_per_decay": n.delta_electrons_mev,
                "photon_mev_per_decay": n.delta_photons_mev,
            }
        )
    return {"nuclides": rows, "source": DATA_SOURCE}


def _stage_schedule(ctx: DemoContext) -> dict[str, Any]:
    """Standard 177Lu-DOTATATE schedule: 4 × 7.4 GBq every 8 weeks (NETTER-1)."""
    lu = get_nuclide("Lu-177")
    start = dt.datetime(2026, 1, 12, 9, 0, tzinfo=dt.UTC)
    interval = dt.timedelta(weeks=8)
    cycles = []
    for k in range(4):
        t = start + k * interval
        residual = sum(activity_at(7.4e9, lu, start + j * interval, t) for j in range(k))
        cycles.append(
            {
                "cycle": k + 1,
                "datetime": t,
                "activity_gbq": 7.4,
                "residual_from_previous_cycles_mbq": residual / 1e6,
                "physical_tia_mbq_h": tia_physical(7.4e9, lu) / 1e6 / 3600.0,
            }
        )
    return {"regimen": "177Lu-DOTATATE 4 x 7.4 GBq q8w", "cycles": cycles}


def _stage_volume(ctx: DemoContext) -> dict[str, Any]:
    """A synthetic Ga-68 PET volume resampled onto a SPECT grid, conserving activity."""
    rng = np.random.default_rng(ctx.seed)
    z, y, x = np.indices((48, 64, 64))
    body = ((x - 32) / 28.0) ** 2 + ((y - 32) / 20.0) ** 2 < 1
    lesion = (x - 40) ** 2 + (y - 30) ** 2 + (z - 24) ** 2 < 16
    conc = np.where(body, 2e3, 0.0) + np.where(lesion, 6e4, 0.0)
    conc = conc * rng.normal(1.0, 0.05, conc.shape).clip(0.5, 1.5)
    t_ref = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
    pet = Volume.from_array(
        conc,
        spacing=(4.0, 4.0, 4.0),
        modality="PT",
        quantity="activity_concentration",
        unit="Bq/mL",
        reference_time=t_ref,
        name="synthetic 68Ga-DOTATATE PET",
        operation="synthetic_phantom",
        parameters={"seed": ctx.seed},
    )
    spect_grid = Volume.from_array(
        np.zeros((40, 54, 54)), spacing=(4.8, 4.8, 4.8), name="SPECT grid"
    )
    moved = pet.resample_to(spect_grid, mode="conserve")
    total_pet = float(pet.array.sum()) * pet.voxel_volume_ml
    total_spect = float(moved.array.sum()) * moved.voxel_volume_ml
    return {
        "pet_shape": pet.shape,
        "spect_shape": moved.shape,
        "total_activity_pet_mbq": total_pet / 1e6,
        "total_activity_on_spect_grid_mbq": total_spect / 1e6,
        "history": [s.to_dict() for s in moved.history],
    }


STAGES: tuple[tuple[str, Callable[[DemoContext], dict[str, Any]]], ...] = (
    ("nuclear data", _stage_nuclides),
    ("treatment schedule", _stage_schedule),
    ("image model", _stage_volume),
)


def run_demo(out_dir: Path, *, seed: int = 0, progress: Progress | None = None) -> dict[str, Any]:
    """Run every demo stage, write ``demo.json`` into ``out_dir`` and return the summary."""
    ctx = DemoContext(out_dir=Path(out_dir), seed=seed)
    for name, stage in STAGES:
        if progress is not None:
            progress(name)
        ctx.results[name] = stage(ctx)
    summary = {
        "sstrkit_version": __version__,
        "stages": list(ctx.results),
        "results": ctx.results,
        "provenance": Step.make("demo", {"seed": seed}, sources=(DATA_SOURCE,)).to_dict(),
    }
    write_json_atomic(ctx.out_dir / "demo.json", summary)
    return summary
