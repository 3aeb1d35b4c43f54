"""Typed records the dosimetry and follow-up stages produce per cycle and per lesion.

:class:`VoxelCycle` is one cycle's voxel dosimetry as the run records it (dose–volume
metrics per region, the VOI transfer and time-point registrations, the image-based
red-marrow dose, the files written); :class:`CycleTacs` its region activities (the
:class:`~sstrkit.therapy.region_activity.RegionActivities` with the cycle's status);
:class:`UptakeChange` the lesion uptake change from the first to the last imaged
cycle. The dosimetry cache in ``OUT/cache`` stays JSON: :meth:`VoxelCycle.from_dict`
and :meth:`CycleTacs.from_dict` parse it at load; every ``to_dict`` writes the JSON of
``results.json`` (units in the key names at this edge only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sstrkit.core.units import BQ_PER_MBQ, SECONDS_PER_HOUR
from sstrkit.therapy.region_activity import PVC_DESCRIPTIONS, RegionActivities

__all__ = [
    "CycleTacs",
    "ImageMarrowDose",
    "LesionUptake",
    "PvcDose",
    "RigidTransfer",
    "TimePointRegistration",
    "UptakeChange",
    "VoiTransfer",
    "VoxelCycle",
    "VoxelParameters",
    "VoxelRegionDose",
]


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _tag(x: float) -> str:
    """Percentage or dose level as it appears in a DVH key (``d2_gy``, ``v0p5gy_fraction``)."""
    return f"{x:g}".replace(".", "p")


@dataclass(frozen=True)
class RigidTransfer:
    """A rigid CT→CT registration as recorded
    (:class:`~sstrkit.therapy.registration.Registration`)."""

    translation_mm: tuple[float, ...]
    rotation_deg: tuple[float, ...]
    deformable: bool
    metric_value: float | None
    ncc_before: float | None
    ncc_after: float | None
    acceptable: bool | None

    @property
    def shift_mm(self) -> float:
        """Length of the translation (mm)."""
        return float(sum(t * t for t in self.translation_mm) ** 0.5)

    def to_dict(self) -> dict[str, Any]:
        return {
            "translation_mm": list(self.translation_mm),
            "rotation_deg": list(self.rotation_deg),
            "deformable": self.deformable,
            "metric_value": self.metric_value,
            "ncc_before": self.ncc_before,
            "ncc_after": self.ncc_after,
            "acceptable": self.acceptable,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> RigidTransfer:
        return cls(
            tuple(float(t) for t in doc.get("translation_mm") or (0.0, 0.0, 0.0)),
            tuple(float(r) for r in doc.get("rotation_deg") or (0.0, 0.0, 0.0)),
            bool(doc.get("deformable", False)),
            _float_or_none(doc.get("metric_value")),
            _float_or_none(doc.get("ncc_before")),
            _float_or_none(doc.get("ncc_after")),
            doc.get("acceptable"),
        )


@dataclass(frozen=True)
class TimePointRegistration:
    """A later time point of a cycle registered onto its reference SPECT/CT."""

    time_point: int
    label: str | None
    transfer: RigidTransfer

    def to_dict(self) -> dict[str, Any]:
        return {"time_point": self.time_point, "label": self.label, **self.transfer.to_dict()}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> TimePointRegistration:
        return cls(int(doc["time_point"]), doc.get("label"), RigidTransfer.from_dict(doc))


@dataclass(frozen=True)
class VoiTransfer:
    """The VOI label map moved onto a cycle's reference SPECT/CT (``source``: from where)."""

    source: str
    transfer: RigidTransfer

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.source, **self.transfer.to_dict()}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> VoiTransfer:
        return cls(str(doc.get("from")), RigidTransfer.from_dict(doc))


#: The parameter keys of a voxel-dosimetry record; the keys before them are its inputs.
_PARAMETER_KEYS = (
    "cycle",
    "method",
    "tia_method",
    "register",
    "registration_levels",
    "density_correction",
    "times_h",
    "reference_time_point",
    "pvc",
    "fwhm_mm",
    "voi_source",
)


@dataclass(frozen=True)
class VoxelParameters:
    """How a cycle's voxel dose was computed; ``inputs``: the files and series it read."""

    cycle: int
    method: str
    tia_method: str
    register: bool
    registration_levels: tuple[int, ...]
    density_correction: bool
    times_s: tuple[float, ...]
    reference_time_point: int
    pvc: str  # gtm | … | "none"
    fwhm_mm: float | None
    voi_source: str | None
    inputs: Mapping[str, Any] = field(default_factory=dict)  # provenance: paths, series UIDs

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.inputs,
            "cycle": self.cycle,
            "method": self.method,
            "tia_method": self.tia_method,
            "register": self.register,
            "registration_levels": list(self.registration_levels),
            "density_correction": self.density_correction,
            "times_h": [t / SECONDS_PER_HOUR for t in self.times_s],
            "reference_time_point": self.reference_time_point,
            "pvc": self.pvc,
            "fwhm_mm": self.fwhm_mm,
            "voi_source": self.voi_source,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> VoxelParameters:
        return cls(
            cycle=int(doc["cycle"]),
            method=str(doc["method"]),
            tia_method=str(doc["tia_method"]),
            register=bool(doc["register"]),
            registration_levels=tuple(int(x) for x in doc.get("registration_levels") or ()),
            density_correction=bool(doc["density_correction"]),
            times_s=tuple(float(t) * SECONDS_PER_HOUR for t in doc.get("times_h") or ()),
            reference_time_point=int(doc.get("reference_time_point", 0)),
            pvc=str(doc.get("pvc", "none")),
            fwhm_mm=_float_or_none(doc.get("fwhm_mm")),
            voi_source=doc.get("voi_source"),
            inputs={k: v for k, v in doc.items() if k not in _PARAMETER_KEYS},
        )


@dataclass(frozen=True)
class PvcDose:
    """A region's voxel mean dose after partial-volume correction."""

    method: str
    mean_gy: float
    factor: float
    deviation_from_truth: float | None


@dataclass(frozen=True)
class VoxelRegionDose:
    """Dose–volume metrics of one region of the voxel dose map (Gy, mL).

    ``d_gy``: the dose received by at least that percentage of the volume; ``v_fraction``:
    the volume fraction receiving at least that dose (Gy); ``truth_mean_gy``: the digital
    patient's reference mean dose, when it has one.
    """

    name: str
    n_voxels: int
    volume_ml: float
    mean_gy: float
    min_gy: float
    max_gy: float
    d_gy: Mapping[float, float] = field(default_factory=dict)
    v_fraction: Mapping[float, float] = field(default_factory=dict)
    truth_mean_gy: float | None = None
    deviation_from_truth: float | None = None
    pvc: PvcDose | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "n_voxels": self.n_voxels,
            "volume_ml": self.volume_ml,
            "mean_gy": self.mean_gy,
            "min_gy": self.min_gy,
            "max_gy": self.max_gy,
            **{f"d{_tag(k)}_gy": v for k, v in self.d_gy.items()},
            **{f"v{_tag(k)}gy_fraction": v for k, v in self.v_fraction.items()},
            "truth_mean_gy": self.truth_mean_gy,
            "deviation_from_truth": self.deviation_from_truth,
        }
        if self.pvc is not None:
            out["pvc_method"] = self.pvc.method
            out["pvc_mean_gy"] = self.pvc.mean_gy
            out["pvc_factor"] = self.pvc.factor
            out["pvc_deviation_from_truth"] = self.pvc.deviation_from_truth
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> VoxelRegionDose:
        d_gy: dict[float, float] = {}
        v_fraction: dict[float, float] = {}
        for key, value in doc.items():
            if key.startswith("d") and key.endswith("_gy") and key not in ("deviation_from_truth",):
                tag = key[1:-3]
                if tag.replace("p", "", 1).isdigit():
                    d_gy[float(tag.replace("p", "."))] = float(value)
            elif key.startswith("v") and key.endswith("gy_fraction"):
                v_fraction[float(key[1:-11].replace("p", "."))] = float(value)
        pvc = None
        if "pvc_method" in doc:
            pvc = PvcDose(
                str(doc["pvc_method"]),
                float(doc["pvc_mean_gy"]),
                float(doc["pvc_factor"]),
                _float_or_none(doc.get("pvc_deviation_from_truth")),
            )
        return cls(
            name=str(doc["name"]),
            n_voxels=int(doc["n_voxels"]),
            volume_ml=float(doc["volume_ml"]),
            mean_gy=float(doc["mean_gy"]),
            min_gy=float(doc["min_gy"]),
            max_gy=float(doc["max_gy"]),
            d_gy=d_gy,
            v_fraction=v_fraction,
            truth_mean_gy=_float_or_none(doc.get("truth_mean_gy")),
            deviation_from_truth=_float_or_none(doc.get("deviation_from_truth")),
            pvc=pvc,
        )


@dataclass(frozen=True)
class ImageMarrowDose:
    """Image-based red-marrow dose: mean voxel dose in the lumbar spongiosa VOI (Gy, mL)."""

    dose_gy: float
    volume_ml: float
    method: str
    labels: tuple[str, ...]
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "dose_gy": self.dose_gy,
            "volume_ml": self.volume_ml,
            "method": self.method,
            "labels": list(self.labels),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ImageMarrowDose:
        return cls(
            float(doc["dose_gy"]),
            float(doc["volume_ml"]),
            str(doc["method"]),
            tuple(str(x) for x in doc.get("labels") or ()),
            str(doc["source"]),
        )


@dataclass(frozen=True)
class VoxelCycle:
    """One cycle's voxel dosimetry as recorded by the run (and cached in ``OUT/cache``).

    ``partial_volume`` (the correction's provenance step and per-region factors),
    ``history`` (the dose map's provenance steps) and ``parameters.inputs`` are
    provenance, kept as recorded; ``from_cache``: read from the cache, not recomputed.
    """

    cycle: int
    nuclide: str
    parameters: VoxelParameters
    dose_max_gy: float
    regions: tuple[VoxelRegionDose, ...]
    partial_volume: Mapping[str, Any]
    registrations: tuple[TimePointRegistration, ...]
    voi_registration: VoiTransfer | None
    notes: tuple[str, ...]
    timings_s: Mapping[str, float]
    history: tuple[Mapping[str, Any], ...]
    rtdose: Path | None
    nifti: Path
    tia_nifti: Path
    marrow_image: ImageMarrowDose | None = None
    voi_nifti: Path | None = None
    from_cache: bool = False

    def region(self, name: str) -> VoxelRegionDose | None:
        """The region called ``name`` (None when the dose map has no such VOI)."""
        return next((r for r in self.regions if r.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cycle": self.cycle,
            "nuclide": self.nuclide,
            "parameters": self.parameters.to_dict(),
            "dose_max_gy": self.dose_max_gy,
            "regions": [r.to_dict() for r in self.regions],
            "partial_volume": dict(self.partial_volume),
            "registrations": [r.to_dict() for r in self.registrations],
            "voi_registration": (
                self.voi_registration.to_dict() if self.voi_registration is not None else None
            ),
            "notes": list(self.notes),
            "timings_s": dict(self.timings_s),
            "history": [dict(h) for h in self.history],
            "rtdose": str(self.rtdose) if self.rtdose is not None else None,
            "nifti": str(self.nifti),
            "tia_nifti": str(self.tia_nifti),
        }
        if self.marrow_image is not None:
            out["marrow_image"] = self.marrow_image.to_dict()
        if self.voi_nifti is not None:
            out["voi_nifti"] = str(self.voi_nifti)
        if self.from_cache:
            out["from_cache"] = True
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> VoxelCycle:
        """Parse a record as :meth:`to_dict` wrote it (the dosimetry cache)."""
        voi = doc.get("voi_registration")
        marrow = doc.get("marrow_image")
        return cls(
            cycle=int(doc["cycle"]),
            nuclide=str(doc["nuclide"]),
            parameters=VoxelParameters.from_dict(doc["parameters"]),
            dose_max_gy=float(doc["dose_max_gy"]),
            regions=tuple(VoxelRegionDose.from_dict(r) for r in doc.get("regions") or ()),
            partial_volume=dict(doc.get("partial_volume") or {}),
            registrations=tuple(
                TimePointRegistration.from_dict(r) for r in doc.get("registrations") or ()
            ),
            voi_registration=VoiTransfer.from_dict(voi) if voi else None,
            notes=tuple(str(n) for n in doc.get("notes") or ()),
            timings_s={k: float(v) for k, v in (doc.get("timings_s") or {}).items()},
            history=tuple(dict(h) for h in doc.get("history") or ()),
            rtdose=Path(doc["rtdose"]) if doc.get("rtdose") else None,
            nifti=Path(doc["nifti"]),
            tia_nifti=Path(doc["tia_nifti"]),
            marrow_image=ImageMarrowDose.from_dict(marrow) if marrow else None,
            voi_nifti=Path(doc["voi_nifti"]) if doc.get("voi_nifti") else None,
            from_cache=bool(doc.get("from_cache", False)),
        )


@dataclass(frozen=True)
class CycleTacs:
    """A cycle's region activities per time point and its status (measured |
    reduced_timepoints)."""

    activities: RegionActivities
    status: str = "measured"

    @property
    def recovery_method(self) -> str:
        """How the activities were corrected for partial volume, in words."""
        return PVC_DESCRIPTIONS[self.activities.pvc]

    @property
    def times_h(self) -> list[float]:
        """Scan times after the administration in hours (as in the case file)."""
        return [t / SECONDS_PER_HOUR for t in self.activities.times_s]

    def activity_mbq(self, name: str) -> list[float]:
        """The region's activity per time point in MBq (as in the case file)."""
        return [a / BQ_PER_MBQ for a in self.activities.activity_bq[name]]

    def to_dict(self) -> dict[str, Any]:
        return {**self.activities.to_dict(), "status": self.status}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> CycleTacs:
        return cls(RegionActivities.from_dict(doc), str(doc.get("status", "measured")))


@dataclass(frozen=True)
class LesionUptake:
    """One lesion's activity on post-therapy SPECT in the first and last imaged cycle."""

    lesion: str
    first_mbq: float
    last_mbq: float
    change_pct: float | None
    time_point_h: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "lesion": self.lesion,
            "uptake_cycle_first_mbq": self.first_mbq,
            "uptake_cycle_last_mbq": self.last_mbq,
            "change_pct": self.change_pct,
            "time_point_h": self.time_point_h,
        }


@dataclass(frozen=True)
class UptakeChange:
    """Lesion uptake change from the first to the last imaged cycle (status ``assessed`` or
    ``not_assessed`` with what it ``needs``)."""

    first_cycle: int
    last_cycle: int
    status: str
    lesions: tuple[LesionUptake, ...] = ()
    method: str | None = None
    needs: str | None = None

    @property
    def time_point_h(self) -> float | None:
        """The time after injection compared (h; the first lesion's)."""
        return self.lesions[0].time_point_h if self.lesions else None

    def to_dict(self) -> dict[str, Any]:
        lesions = [r.to_dict() for r in self.lesions]
        if self.status != "assessed":
            return {
                "first_cycle": self.first_cycle,
                "last_cycle": self.last_cycle,
                "lesions": lesions,
                "status": self.status,
                "needs": self.needs,
            }
        return {
            "first_cycle": self.first_cycle,
            "last_cycle": self.last_cycle,
            "status": self.status,
            "time_point_h": self.time_point_h,
            "lesions": lesions,
            "method": self.method,
        }
