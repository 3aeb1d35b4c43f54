"""Dose–volume statistics of regions of a dose map.

Definitions (voxels of equal volume; a partial-volume-free, voxelised region)
-----------------------------------------------------------------------------
* mean, min, max — over the region's voxels;
* D_x — the minimum dose received by the hottest x % of the region's volume,
  computed as the (100 − x)-th percentile of the voxel doses with linear
  interpolation between order statistics (``numpy.quantile``): D2 ≈ near-max,
  D98 ≈ near-min;
* V(x Gy) — the fraction (and volume in mL) of the region receiving ≥ x Gy;
* cumulative DVH — V(d) for d on a regular grid from 0 to the maximum dose.

Examples
--------
>>> import numpy as np
>>> dose = Volume.from_array(np.arange(100, dtype=float).reshape(1, 10, 10),
...                          spacing=(1.0, 1.0, 1.0), unit="Gy", quantity="absorbed_dose")
>>> r = region_dvh(dose, np.ones((1, 10, 10), bool), name="all", thresholds_gy=(50,))
>>> r.mean_gy, r.d_gy[50], r.v_fraction[50.0]
(49.5, 49.5, 0.5)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError

__all__ = ["DEFAULT_D_LEVELS", "RegionDVH", "dvh_table", "region_dvh"]

DEFAULT_D_LEVELS: tuple[float, ...] = (2.0, 50.0, 70.0, 90.0)


@dataclass(frozen=True)
class RegionDVH:
    """DVH metrics of one region (doses in Gy, volumes in mL)."""

    name: str
    n_voxels: int
    volume_ml: float
    mean_gy: float
    min_gy: float
    max_gy: float
    d_gy: Mapping[float, float]
    v_fraction: Mapping[float, float]
    dvh_dose_gy: NDArray[np.float64] = field(repr=False)
    dvh_volume_fraction: NDArray[np.float64] = field(repr=False)

    def to_dict(self, *, include_curve: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "n_voxels": self.n_voxels,
            "volume_ml": self.volume_ml,
            "mean_gy": self.mean_gy,
            "min_gy": self.min_gy,
            "max_gy": self.max_gy,
            **{f"d{_fmt(k)}_gy": v for k, v in self.d_gy.items()},
            **{f"v{_fmt(k)}gy_fraction": v for k, v in self.v_fraction.items()},
        }
        if include_curve:
            out["dvh"] = {
                "dose_gy": self.dvh_dose_gy.tolist(),
                "volume_fraction": self.dvh_volume_fraction.tolist(),
            }
        return out


def _fmt(x: float) -> str:
    return f"{x:g}".replace(".", "p")


def region_dvh(
    dose: Volume,
    mask: NDArray[Any] | Volume,
    *,
    name: str = "region",
    d_levels: Sequence[float] = DEFAULT_D_LEVELS,
    thresholds_gy: Sequence[float] = (),
    n_bins: int = 200,
) -> RegionDVH:
    """DVH metrics of ``dose`` (Gy) inside a boolean ``mask`` on the same grid."""
    if dose.unit != "Gy":
        raise InvalidInputError("dose unit", expected="Gy", actual=dose.unit)
    if isinstance(mask, Volume):
        if not mask.same_space(dose):
            raise GeometryMismatchError(
                f"mask {name!r} grid",
                expected=str(dose.shape),
                actual=str(mask.shape),
                fix="resample the mask onto the dose grid with mode='nearest'",
            )
        m = np.asarray(mask.array) != 0
    else:
        m = np.asarray(mask).astype(bool)
    if m.shape != dose.shape:
        raise GeometryMismatchError(
            f"mask {name!r} shape", expected=str(dose.shape), actual=str(m.shape)
        )
    values = np.asarray(dose.array, dtype=np.float64)[m]
    if values.size == 0:
        raise InvalidInputError(f"region {name!r}", expected="at least one voxel", actual=0)
    for x in d_levels:
        if not 0 <= x <= 100:
            raise InvalidInputError("D level", expected="a percentage 0–100", actual=x)
    d_gy = {float(x): float(np.quantile(values, 1.0 - x / 100.0)) for x in d_levels}
    v_frac = {float(t): float(np.mean(values >= t)) for t in thresholds_gy}
    top = float(values.max())
    grid = np.linspace(0.0, top, n_bins + 1) if top > 0 else np.zeros(1)
    sorted_vals = np.sort(values)
    frac = 1.0 - np.searchsorted(sorted_vals, grid, side="left") / values.size
    return RegionDVH(
        name=name,
        n_voxels=int(values.size),
        volume_ml=float(values.size * dose.voxel_volume_ml),
        mean_gy=float(values.mean()),
        min_gy=float(values.min()),
        max_gy=top,
        d_gy=d_gy,
        v_fraction=v_frac,
        dvh_dose_gy=grid,
        dvh_volume_fraction=frac,
    )


def dvh_table(
    dose: Volume,
    labels: Volume | NDArray[Any],
    regions: Mapping[str, int],
    *,
    d_levels: Sequence[float] = DEFAULT_D_LEVELS,
    thresholds_gy: Sequence[float] = (),
) -> list[RegionDVH]:
    """:func:`region_dvh` for each ``name → label`` of a label map (empty regions skipped)."""
    lab = np.asarray(labels.array if isinstance(labels, Volume) else labels)
    if isinstance(labels, Volume) and not labels.same_space(dose):
        raise GeometryMismatchError(
            "label map grid",
            expected=str(dose.shape),
            actual=str(labels.shape),
            fix="resample the labels onto the dose grid with mode='nearest'",
        )
    out = []
    for name, value in regions.items():
        m = lab == value
        if m.any():
            out.append(
                region_dvh(dose, m, name=name, d_levels=d_levels, thresholds_gy=thresholds_gy)
            )
    return out
