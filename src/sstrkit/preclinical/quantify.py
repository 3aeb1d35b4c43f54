"""Percent injected dose per mL and per gram (%ID/mL, %ID/g) from small-animal PET/SPECT.

An activity-concentration image C (Bq/mL, decay corrected to the image's
``reference_time`` t_ref, as PET/SPECT readers deliver it) is converted to the
percentage of the injected activity A_inj (Bq, at the injection time t_inj) per
mL, **decay corrected to the injection time**::

    %ID/mL = 100 · C(t_ref) · exp(λ·(t_ref − t_inj)) / A_inj
    %ID/g  = %ID/mL / ρ                          (ρ: tissue density, g/mL; default 1.0)

Decay-correcting to injection makes values from different time points and
animals comparable (the biological uptake alone). Ratios between two regions of
the same image (tumour-to-background, tumour-to-muscle) do not depend on the
decay correction.

Regions are boolean masks on the image grid, built from a label image
(:func:`label_region`), a sphere in patient coordinates (:func:`sphere_region`),
or a threshold (:func:`threshold_region`, e.g. 40 % of the maximum inside a
search region, connected to the maximum). No partial-volume correction is
applied: small-animal PET recovery coefficients of lesions smaller than ~3× the
resolution are well below 1, so %ID/g of such regions is an underestimate.

The ratio change between an early and a late acquisition (:func:`ratio_change`)
follows the analysis of Briganti et al. for ¹¹¹In-pentetreotide in neuroblastoma
(pathological-to-background ratio rising between the early and late scans): it
reports both ratios, their difference, the relative change and the change per hour.

Examples
--------
>>> import datetime as dt, numpy as np
>>> t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
>>> ga68 = 4062.6                                   # s, ICRP 107
>>> img = Volume.from_array(np.full((4, 4, 4), 5.0e4), spacing=(1.0, 1.0, 1.0),
...                         unit="Bq/mL", quantity="activity_concentration",
...                         reference_time=t0 + dt.timedelta(seconds=ga68))
>>> inj = Injection(activity_bq=10e6, time=t0, half_life_s=ga68)
>>> q = quantify(img, inj, [RegionMask.from_array("all", np.ones((4, 4, 4), bool))])
>>> round(q["all"].mean_pct_id_per_ml, 9)    # 100 · 5e4 · 2 / 1e7 (one half-life later)
1.0
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from sstrkit.core.provenance import Step
from sstrkit.core.units import BQ_PER_MBQ, SECONDS_PER_HOUR, to_unit
from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError, UnitError
from sstrkit.physics.decay import HalfLife, decay_constant, elapsed_s, half_life_of
from sstrkit.preclinical.times import require_aware

__all__ = [
    "Injection",
    "Quantification",
    "RatioChange",
    "RegionMask",
    "RegionUptake",
    "label_region",
    "percent_id_image",
    "quantify",
    "ratio_change",
    "sphere_region",
    "threshold_region",
]

#: Default soft-tissue density (g/mL) used to turn %ID/mL into %ID/g (the usual
#: preclinical convention, 1 mL of tissue ≈ 1 g).
DEFAULT_DENSITY_G_ML = 1.0


def _require_time(t: _dt.datetime | None, what: str, fix: str) -> _dt.datetime:
    return require_aware(
        what,
        t,
        missing_fix=fix,
        naive_fix="give the time with its UTC offset, e.g. 2026-03-02T09:00+01:00",
    )


def _positive(what: str, value: float, unit: str, *, allow_zero: bool = False) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise InvalidInputError(what, expected=f"a finite value {bound} {unit}", actual=value)
    return v


# --------------------------------------------------------------------------- injection


@dataclass(frozen=True)
class Injection:
    """The administered activity of one animal.

    Attributes
    ----------
    activity_bq
        Net injected activity (Bq) at ``time``.
    time
        Injection time (timezone aware). ``None`` is accepted here so that a
        missing value can be reported clearly by the function that needs it.
    half_life_s
        Physical half-life of the nuclide (s).
    nuclide
        Nuclide name, for provenance.
    """

    activity_bq: float
    time: _dt.datetime | None
    half_life_s: float
    nuclide: str = ""

    def __post_init__(self) -> None:
        _positive("injected activity", self.activity_bq, "Bq")
        object.__setattr__(self, "half_life_s", half_life_of(self.half_life_s))
        if self.time is not None:
            _require_time(self.time, "injection time", "")

    @classmethod
    def from_syringe(
        cls,
        *,
        full_bq: float,
        full_time: _dt.datetime,
        residual_bq: float,
        residual_time: _dt.datetime,
        injection_time: _dt.datetime,
        half_life: HalfLife,
        nuclide: str = "",
    ) -> Injection:
        """Net injected activity from dose-calibrator readings of the syringe.

        A_inj = A_full·e^(−λ(t_inj − t_full)) − A_residual·e^(+λ(t_residual − t_inj)):
        both readings are decay corrected to the injection time.

        >>> import datetime as dt
        >>> t = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.timezone.utc)
        >>> h = dt.timedelta(hours=1)
        >>> inj = Injection.from_syringe(full_bq=20e6, full_time=t - h, residual_bq=1e6,
        ...                              residual_time=t + h, injection_time=t, half_life=3600)
        >>> inj.activity_bq                # 20 MBq / 2 − 1 MBq × 2
        8000000.0
        """
        hl = half_life_of(half_life)
        t_inj = _require_time(injection_time, "injection time", "give the injection time")
        t_full = _require_time(full_time, "syringe measurement time", "give the time")
        t_res = _require_time(residual_time, "residual measurement time", "give the time")
        if elapsed_s(t_full, t_inj) < 0 or elapsed_s(t_inj, t_res) < 0:
            raise InvalidInputError(
                "syringe measurement times",
                expected="full syringe measured before, residual after the injection",
                actual=f"full {t_full.isoformat()}, injection {t_inj.isoformat()}, "
                f"residual {t_res.isoformat()}",
            )
        lam = decay_constant(hl)
        full = _positive("full-syringe activity", full_bq, "Bq")
        res = _positive("residual activity", residual_bq, "Bq", allow_zero=True)
        net = full * math.exp(-lam * elapsed_s(t_full, t_inj)) - res * math.exp(
            lam * elapsed_s(t_inj, t_res)
        )
        if net <= 0:
            raise InvalidInputError(
                "net injected activity",
                expected="full syringe > residual (both decay corrected to the injection)",
                actual=f"{net:.4g} Bq",
                fix="check the dose-calibrator readings and their times",
            )
        return cls(net, t_inj, hl, nuclide)

    def require_time(self) -> _dt.datetime:
        """The injection time, or a clear error when it is missing."""
        return _require_time(
            self.time,
            "injection time",
            "give the injection date and time (CLI --injection-time 2026-03-02T09:00+01:00)",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "activity_mbq": self.activity_bq / BQ_PER_MBQ,
            "time": self.time.isoformat() if self.time else None,
            "half_life_s": self.half_life_s,
            "nuclide": self.nuclide,
        }


# --------------------------------------------------------------------------- regions


@dataclass(frozen=True, eq=False)
class RegionMask:
    """A named boolean mask on an image grid, with how it was defined."""

    name: str
    mask: NDArray[np.bool_]
    definition: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidInputError("region name", expected="a non-empty name", actual=self.name)
        m = np.asarray(self.mask, dtype=bool)
        if m.ndim != 3:
            raise InvalidInputError(
                f"mask of region {self.name!r}", expected="a 3-D array", actual=m.shape
            )
        if not m.any():
            raise InvalidInputError(
                f"region {self.name!r}",
                expected="at least one voxel",
                actual="an empty mask",
                fix="check the label value, sphere position or threshold",
            )
        m = m.copy()
        m.flags.writeable = False
        object.__setattr__(self, "mask", m)
        object.__setattr__(self, "definition", MappingProxyType(dict(self.definition)))

    @classmethod
    def from_array(cls, name: str, mask: ArrayLike, **definition: Any) -> RegionMask:
        return cls(name, np.asarray(mask, dtype=bool), {"kind": "array", **definition})


def label_region(name: str, labels: Volume, value: int, image: Volume) -> RegionMask:
    """Voxels of ``labels`` equal to ``value`` (label image on the same grid as ``image``)."""
    labels.check_same_space(image)
    mask = np.rint(np.asarray(labels.array, dtype=float)).astype(np.int64) == int(value)
    if not mask.any():
        raise InvalidInputError(
            f"label {value} of region {name!r}",
            expected="at least one voxel with this label",
            actual=f"labels present: {sorted(np.unique(labels.array).astype(int).tolist())[:20]}",
            fix="pass an existing label value",
        )
    return RegionMask(name, mask, {"kind": "label", "label": int(value), "labels": labels.name})


def sphere_region(
    name: str, image: Volume, center_mm: Sequence[float], radius_mm: float
) -> RegionMask:
    """Voxels whose centres lie within ``radius_mm`` of ``center_mm`` (LPS, mm).

    >>> v = Volume.from_array(np.zeros((11, 11, 11)), spacing=(1.0, 1.0, 1.0))
    >>> int(sphere_region("s", v, (5.0, 5.0, 5.0), 1.0).mask.sum())   # centre + 6 neighbours
    7
    """
    r = _positive(f"radius of sphere {name!r}", radius_mm, "mm")
    c = np.asarray(center_mm, dtype=float).ravel()
    if c.shape != (3,) or not np.all(np.isfinite(c)):
        raise InvalidInputError(
            f"centre of sphere {name!r}",
            expected="three finite coordinates (x, y, z) in mm",
            actual=center_mm,
        )
    grid = np.indices(image.shape).reshape(3, -1)[::-1].T  # (x, y, z) indices
    xyz = image.index_to_physical(grid)
    inside = np.sum((xyz - c) ** 2, axis=1) <= r * r
    mask = inside.reshape(image.shape)
    if not mask.any():
        raise InvalidInputError(
            f"sphere {name!r}",
            expected="at least one voxel centre inside the sphere",
            actual=f"centre {c.tolist()} mm, radius {r} mm",
            fix="check that the centre lies in the image (LPS mm) and the radius ≥ half a voxel",
        )
    return RegionMask(name, mask, {"kind": "sphere", "center_mm": c.tolist(), "radius_mm": r})


def threshold_region(
    name: str,
    image: Volume,
    *,
    fraction_of_max: float | None = None,
    absolute: float | None = None,
    within: RegionMask | None = None,
    connected: bool = True,
) -> RegionMask:
    """Voxels ≥ a threshold inside ``within`` (default: the whole image).

    Give either ``fraction_of_max`` (e.g. 0.4 → 40 % of the maximum inside
    ``within``) or ``absolute`` (in the image's unit). With ``connected`` only
    the 26-connected component that contains the maximum is kept.

    >>> a = np.zeros((5, 5, 5)); a[2, 2, 2] = 10.0; a[2, 2, 3] = 5.0; a[0, 0, 0] = 9.0
    >>> v = Volume.from_array(a)
    >>> int(threshold_region("t", v, fraction_of_max=0.4).mask.sum())
    2
    """
    if (fraction_of_max is None) == (absolute is None):
        raise InvalidInputError(
            f"threshold of region {name!r}",
            expected="exactly one of fraction_of_max or absolute",
            actual=(fraction_of_max, absolute),
        )
    search = np.ones(image.shape, bool) if within is None else within.mask
    if search.shape != image.shape:
        raise GeometryMismatchError(
            f"search region of {name!r}", expected=str(image.shape), actual=str(search.shape)
        )
    values = np.where(search, np.asarray(image.array, dtype=float), -np.inf)
    vmax = float(values.max())
    if fraction_of_max is not None:
        f = float(fraction_of_max)
        if not (math.isfinite(f) and 0 < f <= 1):
            raise InvalidInputError("fraction_of_max", expected="a value in (0, 1]", actual=f)
        if vmax <= 0:
            raise InvalidInputError(
                f"maximum inside the search region of {name!r}",
                expected="> 0",
                actual=vmax,
                fix="check the search region",
            )
        level = f * vmax
    else:
        level = float(absolute)  # type: ignore[arg-type]
    mask = values >= level
    if connected and mask.any():
        lab, _ = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
        peak = np.unravel_index(int(np.argmax(values)), values.shape)
        mask = lab == lab[peak]
    definition: dict[str, Any] = {
        "kind": "threshold",
        "level": level,
        "fraction_of_max": fraction_of_max,
        "absolute": absolute,
        "within": None if within is None else within.name,
        "connected": connected,
    }
    return RegionMask(name, mask, definition)


# --------------------------------------------------------------------------- images


def _concentration_factor(image: Volume) -> float:
    """Factor converting the image's unit to Bq/mL (raises for non-activity images)."""
    if image.quantity not in ("activity_concentration", "unknown"):
        raise UnitError(
            f"quantity of image {image.name!r}",
            expected="activity_concentration (Bq/mL)",
            actual=image.quantity,
            fix="quantify the activity-concentration image (not SUV or counts); "
            "sstrkit.io.suv.activity_concentration() converts DICOM PET/SPECT",
        )
    return to_unit(1.0, image.unit, "concentration")


def _time_since_injection(image: Volume, injection: Injection) -> float:
    t_inj = injection.require_time()
    t_ref = _require_time(
        image.reference_time,
        f"reference (decay-correction) time of image {image.name!r}",
        "read the image with its DICOM header or NIfTI sidecar, or set reference_time",
    )
    dt = elapsed_s(t_inj, t_ref)
    if dt < 0:
        raise InvalidInputError(
            f"time of image {image.name!r}",
            expected=f"after the injection ({t_inj.isoformat()})",
            actual=t_ref.isoformat(),
            fix="check the injection date, time and time zone",
        )
    return dt


def percent_id_image(image: Volume, injection: Injection) -> Volume:
    """The image in %ID/mL, decay corrected to the injection time (see module text)."""
    factor = _concentration_factor(image)
    dt = _time_since_injection(image, injection)
    scale = 100.0 * factor * math.exp(decay_constant(injection.half_life_s) * dt)
    scale /= injection.activity_bq
    return image.with_array(
        np.asarray(image.array, dtype=float) * scale,
        operation="percent_id_per_ml",
        parameters={
            "injected_activity_bq": injection.activity_bq,
            "injection_time": injection.time,
            "time_since_injection_s": dt,
            "half_life_s": injection.half_life_s,
            "decay_correction": "to injection time",
        },
        quantity="percent_injected_dose_per_ml",
        unit="%ID/mL",
    )


@dataclass(frozen=True)
class RegionUptake:
    """Uptake of one region in one image.

    ``mean_bq_ml`` and ``total_bq`` are the activity at the image reference time
    (what the scanner measured, decay corrected to the reference time only);
    the %ID values are decay corrected to the injection.
    """

    name: str
    n_voxels: int
    volume_ml: float
    density_g_ml: float
    mean_bq_ml: float
    total_bq: float
    mean_pct_id_per_ml: float
    sd_pct_id_per_ml: float
    max_pct_id_per_ml: float
    total_pct_id: float
    definition: Mapping[str, Any] = field(default_factory=dict)

    @property
    def mass_g(self) -> float:
        return self.volume_ml * self.density_g_ml

    @property
    def mean_pct_id_per_g(self) -> float:
        return self.mean_pct_id_per_ml / self.density_g_ml

    @property
    def max_pct_id_per_g(self) -> float:
        return self.max_pct_id_per_ml / self.density_g_ml

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_voxels": self.n_voxels,
            "volume_ml": self.volume_ml,
            "density_g_ml": self.density_g_ml,
            "mass_g": self.mass_g,
            "mean_pct_id_per_ml": self.mean_pct_id_per_ml,
            "sd_pct_id_per_ml": self.sd_pct_id_per_ml,
            "max_pct_id_per_ml": self.max_pct_id_per_ml,
            "mean_pct_id_per_g": self.mean_pct_id_per_g,
            "max_pct_id_per_g": self.max_pct_id_per_g,
            "total_pct_id": self.total_pct_id,
            "mean_kbq_ml_at_reference": self.mean_bq_ml / 1e3,
            "total_mbq_at_reference": self.total_bq / BQ_PER_MBQ,
            "definition": dict(self.definition),
        }


@dataclass(frozen=True)
class Quantification:
    """Regional %ID/mL and %ID/g of one image (internal units: Bq, s, mL, g)."""

    image: str
    reference_time: _dt.datetime
    injection: Injection
    time_since_injection_s: float
    decay_correction_factor: float
    regions: tuple[RegionUptake, ...]
    provenance: tuple[Step, ...] = field(default=(), repr=False)

    def __getitem__(self, name: str) -> RegionUptake:
        for r in self.regions:
            if r.name == name:
                return r
        raise InvalidInputError(
            "region", expected=f"one of {[r.name for r in self.regions]}", actual=repr(name)
        )

    @property
    def region_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.regions)

    def ratio(self, target: str, reference: str) -> float:
        """Ratio of mean %ID/g of ``target`` to ``reference`` (e.g. tumour-to-muscle)."""
        ref = self[reference].mean_pct_id_per_g
        if not ref > 0:
            raise InvalidInputError(
                f"uptake of reference region {reference!r}",
                expected="> 0 %ID/g to form a ratio",
                actual=ref,
                fix="choose a reference region with measurable uptake",
            )
        return self[target].mean_pct_id_per_g / ref

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "reference_time": self.reference_time.isoformat(),
            "injection": self.injection.to_dict(),
            "time_since_injection_h": self.time_since_injection_s / SECONDS_PER_HOUR,
            "decay_correction_factor": self.decay_correction_factor,
            "regions": [r.to_dict() for r in self.regions],
            "provenance": [s.to_dict() for s in self.provenance],
        }


def quantify(
    image: Volume,
    injection: Injection,
    regions: Sequence[RegionMask],
    *,
    density_g_ml: float | Mapping[str, float] = DEFAULT_DENSITY_G_ML,
) -> Quantification:
    """%ID/mL, %ID/g and totals of every region of ``image``.

    Parameters
    ----------
    image
        Activity concentration (Bq/mL, kBq/mL or MBq/mL) with a timezone-aware
        ``reference_time`` (the time the values are decay corrected to).
    injection
        Injected activity and time (the time is required).
    regions
        Masks on the image grid.
    density_g_ml
        Tissue density for %ID/g: one value, or a mapping region → density
        (regions not in the mapping use 1.0 g/mL).

    Raises
    ------
    InvalidInputError
        Missing injection time or image time, image before injection, duplicate
        region names, bad densities.
    UnitError
        The image is not an activity concentration.
    GeometryMismatchError
        A mask does not match the image grid.
    """
    if not regions:
        raise InvalidInputError("regions", expected="at least one region", actual="none")
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise InvalidInputError("region names", expected="unique names", actual=names)
    factor = _concentration_factor(image)
    dt = _time_since_injection(image, injection)
    t_ref = image.reference_time
    assert t_ref is not None
    dcf = math.exp(decay_constant(injection.half_life_s) * dt)
    conc = np.asarray(image.array, dtype=float) * factor  # Bq/mL at the reference time
    pct = conc * dcf * 100.0 / injection.activity_bq
    vox_ml = image.voxel_volume_ml
    out: list[RegionUptake] = []
    for r in regions:
        if r.mask.shape != image.shape:
            raise GeometryMismatchError(
                f"mask of region {r.name!r}",
                expected=f"the image grid {image.shape}",
                actual=str(r.mask.shape),
                fix="build the mask on the image (label_region checks the geometry)",
            )
        rho_in = (
            density_g_ml.get(r.name, DEFAULT_DENSITY_G_ML)
            if isinstance(density_g_ml, Mapping)
            else density_g_ml
        )
        rho = _positive(f"density of region {r.name!r}", rho_in, "g/mL")
        if not 0.1 <= rho <= 3.0:
            raise InvalidInputError(
                f"density of region {r.name!r}", expected="0.1–3 g/mL", actual=rho
            )
        vals = pct[r.mask]
        n = int(vals.size)
        out.append(
            RegionUptake(
                name=r.name,
                n_voxels=n,
                volume_ml=n * vox_ml,
                density_g_ml=rho,
                mean_bq_ml=float(conc[r.mask].mean()),
                total_bq=float(conc[r.mask].sum()) * vox_ml,
                mean_pct_id_per_ml=float(vals.mean()),
                sd_pct_id_per_ml=float(vals.std(ddof=1)) if n > 1 else 0.0,
                max_pct_id_per_ml=float(vals.max()),
                total_pct_id=float(vals.sum()) * vox_ml,
                definition=r.definition,
            )
        )
    step = Step.make(
        "preclinical_quantify",
        {
            "injection": injection.to_dict(),
            "time_since_injection_s": dt,
            "decay_correction_factor": dcf,
            "unit_factor_to_bq_ml": factor,
            "density_g_ml": dict(density_g_ml)
            if isinstance(density_g_ml, Mapping)
            else density_g_ml,
            "partial_volume_correction": "none",
            "regions": [dict(r.definition, name=r.name) for r in regions],
        },
        inputs=(image.name,),
        sources=(injection.nuclide or "half-life given", "decay law A = A0·exp(−λt)"),
    )
    return Quantification(
        image=image.name,
        reference_time=t_ref,
        injection=injection,
        time_since_injection_s=dt,
        decay_correction_factor=dcf,
        regions=tuple(out),
        provenance=(*image.history, step),
    )


# --------------------------------------------------------------------------- ratios


@dataclass(frozen=True)
class RatioChange:
    """Target-to-reference ratio at an early and a late acquisition and its change."""

    target: str
    reference: str
    early_time_s: float
    late_time_s: float
    early_ratio: float
    late_ratio: float

    @property
    def change(self) -> float:
        """Late minus early ratio."""
        return self.late_ratio - self.early_ratio

    @property
    def relative_change(self) -> float:
        """late / early − 1."""
        return self.late_ratio / self.early_ratio - 1.0

    @property
    def change_per_hour(self) -> float:
        """(late − early) / (t_late − t_early) in h⁻¹."""
        return self.change / ((self.late_time_s - self.early_time_s) / SECONDS_PER_HOUR)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "reference": self.reference,
            "early_time_h": self.early_time_s / SECONDS_PER_HOUR,
            "late_time_h": self.late_time_s / SECONDS_PER_HOUR,
            "early_ratio": self.early_ratio,
            "late_ratio": self.late_ratio,
            "change": self.change,
            "relative_change": self.relative_change,
            "change_per_hour": self.change_per_hour,
        }


def ratio_change(
    early: Quantification, late: Quantification, target: str, reference: str
) -> RatioChange:
    """Change of the ``target``/``reference`` ratio between two acquisitions.

    Raises :class:`InvalidInputError` when ``late`` is not after ``early``.
    """
    t0, t1 = early.time_since_injection_s, late.time_since_injection_s
    if not t1 > t0:
        raise InvalidInputError(
            "acquisition order",
            expected="the late image after the early image",
            actual=(
                f"early {t0 / SECONDS_PER_HOUR:.3g} h, "
                f"late {t1 / SECONDS_PER_HOUR:.3g} h after injection"
            ),
            fix="pass the images in time order",
        )
    return RatioChange(
        target, reference, t0, t1, early.ratio(target, reference), late.ratio(target, reference)
    )
