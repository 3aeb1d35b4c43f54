"""Typed results of the post-implant 90Y dosimetry (:func:`sstrkit.sirt.y90_dose.y90_dosimetry`).

:class:`Y90RegionDose` — one VOI: volume, mass, activity, per method (``ldm``, ``voxel``)
its mean absorbed dose (energy / mass) and DVH (:class:`~sstrkit.therapy.dvh.RegionDVH`),
the small-VOI flag, the truth (digital patient) and the MAA-based prediction.
:class:`MaaComparison` — a predicted (99mTc-MAA partition model) against a measured mean
dose. :class:`Y90Dosimetry` — the whole result: quantification, regions, comparison,
dose maps, flags and provenance. ``to_dict()`` gives the JSON (doses in Gy, activities
in MBq, volumes in mL, masses in g); the JSON leaves out the maximum and minimum voxel
doses of the noisy 90Y images (D2 and D98 stand for them).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sstrkit.core.provenance import Step
from sstrkit.core.units import BQ_PER_MBQ
from sstrkit.core.volume import Volume
from sstrkit.therapy.dvh import RegionDVH

__all__ = ["MaaComparison", "Y90Dosimetry", "Y90RegionDose"]


def _dvh_dict(dvh: RegionDVH, mean_gy: float) -> dict[str, Any]:
    d = dvh.to_dict()
    for k in ("name", "n_voxels", "volume_ml", "min_gy", "max_gy"):
        d.pop(k, None)
    d["voxel_mean_gy"] = d.pop("mean_gy")
    return {"mean_gy": mean_gy, **d}


@dataclass(frozen=True)
class Y90RegionDose:
    """One VOI of the post-implant dosimetry.

    ``mean_gy[method]`` is the mass-weighted mean (energy / mass, the mean absorbed dose);
    ``dvh[method]`` the voxel statistics (its ``mean_gy`` is the voxel average);
    ``pvc_mean_gy[method]`` the partial-volume-corrected mean (geometric transfer matrix),
    when computed.
    ``resolution_volumes``: the VOI volume in spheres of the image FWHM (None without
    FWHM); ``small``: fewer than 27 of them (partial-volume losses, flagged).
    """

    name: str
    kind: str
    volume_ml: float
    mass_g: float
    activity_bq: float
    activity_fraction: float
    resolution_volumes: float | None
    small: bool
    mean_gy: Mapping[str, float]
    dvh: Mapping[str, RegionDVH] = field(repr=False)
    truth_mean_gy: float | None = None
    predicted_gy: float | None = None
    pvc_mean_gy: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "volume_ml": self.volume_ml,
            "mass_g": self.mass_g,
            "activity_mbq": self.activity_bq / BQ_PER_MBQ,
            "activity_fraction": self.activity_fraction,
            "resolution_volumes": self.resolution_volumes,
            "small_voi": self.small,
        }
        for method, dvh in self.dvh.items():
            out[method] = _dvh_dict(dvh, self.mean_gy[method])
            out[method]["pvc_mean_gy"] = self.pvc_mean_gy.get(method)
        if "ldm" in self.mean_gy and "voxel" in self.mean_gy and self.mean_gy["ldm"] > 0:
            out["voxel_vs_ldm"] = self.mean_gy["voxel"] / self.mean_gy["ldm"] - 1.0
        out["truth_mean_gy"] = self.truth_mean_gy
        if self.truth_mean_gy:
            out["deviation_from_truth"] = {
                m: v / self.truth_mean_gy - 1.0 for m, v in self.mean_gy.items()
            }
            out["pvc_deviation_from_truth"] = {
                m: v / self.truth_mean_gy - 1.0 for m, v in self.pvc_mean_gy.items()
            }
        out["predicted_gy"] = self.predicted_gy
        return out


@dataclass(frozen=True)
class MaaComparison:
    """The MAA-based (partition model) prediction of a region against the post-implant dose."""

    region: str
    predicted_gy: float
    measured_gy: float
    method: str

    @property
    def ratio(self) -> float:
        """Measured / predicted (nan when the prediction is 0)."""
        return self.measured_gy / self.predicted_gy if self.predicted_gy > 0 else math.nan

    @property
    def difference_gy(self) -> float:
        return self.measured_gy - self.predicted_gy

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "predicted_gy": self.predicted_gy,
            "measured_gy": self.measured_gy,
            "method": self.method,
            "ratio": None if math.isnan(self.ratio) else self.ratio,
            "difference_gy": self.difference_gy,
        }


@dataclass(frozen=True)
class Y90Dosimetry:
    """Post-implant 90Y dosimetry of one scan (see :mod:`sstrkit.sirt.y90_dose`).

    ``doses`` maps the method (``ldm``, ``voxel``) to its dose map (Gy, on the 90Y image
    grid); ``activity`` is the activity per voxel at the implant (Bq); ``masks`` the
    regions on that grid and ``density_g_ml`` the CT mass density (both for the BED maps).
    ``fov_ratio``: activity in the field of view / net implanted activity (before any
    rescaling). ``flags``: the quantification caveats and VOI notes, one line each.
    """

    kind: str
    implant_time: _dt.datetime
    scan_time: _dt.datetime
    implanted_activity_bq: float
    activity_in_fov_bq: float
    fov_ratio: float
    rescaled: bool
    methods: tuple[str, ...]
    regions: tuple[Y90RegionDose, ...]
    comparison: tuple[MaaComparison, ...]
    voi_source: str
    voi_automatic: bool
    fwhm_mm: float | None
    smoothing_fwhm_mm: float | None
    flags: tuple[str, ...]
    provenance: tuple[Step, ...]
    timings_s: Mapping[str, float]
    doses: Mapping[str, Volume] = field(repr=False, compare=False)
    activity: Volume = field(repr=False, compare=False)
    masks: Mapping[str, NDArray[np.bool_]] = field(repr=False, compare=False)
    density_g_ml: NDArray[np.float64] = field(repr=False, compare=False)
    inputs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def primary_method(self) -> str:
        """``ldm`` when computed, else ``voxel``: on a 90Y PET or bremsstrahlung SPECT the
        image resolution already blurs the activity at least as much as the 90Y β range,
        so local deposition is the recommended estimate (Pasciak AS et al., Front Oncol
        2014;4:121); the voxel-S dose blurs twice (lower tumour doses)."""
        return "ldm" if "ldm" in self.doses else "voxel"

    def region(self, name: str) -> Y90RegionDose | None:
        return next((r for r in self.regions if r.name == name), None)

    def mean_gy(
        self, name: str, method: str | None = None, *, corrected: bool = False
    ) -> float | None:
        """Mean absorbed dose of region ``name`` by ``method`` (default: the primary);
        ``corrected``: the partial-volume-corrected mean (None when not computed)."""
        r = self.region(name)
        if r is None:
            return None
        means = r.pvc_mean_gy if corrected else r.mean_gy
        return means.get(method or self.primary_method)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "nuclide": "Y-90",
            "implant_time": self.implant_time.isoformat(),
            "scan_time": self.scan_time.isoformat(),
            "hours_after_implant": (self.scan_time - self.implant_time).total_seconds() / 3600,
            "implanted_activity_mbq": self.implanted_activity_bq / BQ_PER_MBQ,
            "activity_in_fov_mbq": self.activity_in_fov_bq / BQ_PER_MBQ,
            "fov_to_implanted_ratio": self.fov_ratio,
            "rescaled_to_implanted": self.rescaled,
            "methods": list(self.methods),
            "primary_method": self.primary_method,
            "fwhm_mm": self.fwhm_mm,
            "smoothing_fwhm_mm": self.smoothing_fwhm_mm,
            "voi_source": self.voi_source,
            "voi_automatic": self.voi_automatic,
            "regions": [r.to_dict() for r in self.regions],
            "maa_comparison": [c.to_dict() for c in self.comparison],
            "flags": list(self.flags),
            "inputs": dict(self.inputs),
            "timings_s": dict(self.timings_s),
            "provenance": [s.to_dict() for s in self.provenance],
        }
