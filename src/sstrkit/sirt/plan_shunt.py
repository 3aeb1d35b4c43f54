"""Lung shunt fraction (LSF) from a 99mTc-MAA study: planar conjugate views or SPECT/CT.

**Planar (conjugate-view geometric mean).** With lung and liver regions of interest
drawn on the anterior view (the posterior view un-mirrored onto it), the counts of each
ROI on each view give its geometric mean GM = √(ANT × POST), which does not depend on
the depth of the source in a uniformly attenuating body (Sorenson 1974; MIRD Pamphlet
16), and

    LSF = GM_lung / (GM_lung + GM_liver)

(SIR-Spheres and TheraSphere instructions for use; Kennedy A et al., Int J Radiat Oncol
Biol Phys 2007;68:13-23; Dezarn WA et al., AAPM TG-144, Med Phys 2011;38:4824). No
attenuation, scatter or background correction is applied, as in the manufacturers'
definition. Because the lungs attenuate less than the liver and liver scatter falls
into the lung ROI, the planar LSF is biased high against SPECT/CT (bias +2.7
percentage points, limits of agreement 8.1 pp, in Bastiaannet R et al., "Fast and
accurate quantitative determination of the lung shunt fraction in hepatic
radioembolization", Phys Med Biol 2019; up to 44 % overestimation in the phantom of
Allred JD et al., EJNMMI Res 2018;8:50; review: Torkian P et al., Br J Radiol
2022;95:20220470) — the conservative side.

:func:`planar_rois` draws the ROIs automatically (flagged), on the geometric mean
smoothed by :data:`PLANAR_SMOOTH_FWHM_MM`. On a log scale its pixels form three
classes — body background, lungs, liver with tumours — split by the two thresholds of a
three-class Otsu (Otsu N, IEEE Trans Syst Man Cybern 1979;9:62-66; Liao PS et al., J
Inf Sci Eng 2001;17:713-727; pixels below 0.1 % of the maximum left out). The liver ROI
is the region around the hottest pixel above 0.3 × the median counts of the region
above the upper threshold (its normal-liver level; 0.3 lies outside the blurred edge
of a uniform organ, at half its level, and well above the lungs, a few % of the liver
level per pixel below a 30 % shunt), holes filled; a liver ROI outside 80-900 cm² (the
liver's projected area, as :mod:`sstrkit.reading.planar`) is flagged. The lungs are,
in the chest band above the liver (the 300 mm above its top row; lower, the halo of
liver scatter beside the liver would be read as lung),
the pixels above the lower threshold, the liver grown by
:data:`PLANAR_LIVER_MARGIN_MM` left out, keeping the two largest regions (and any other
of at least half the larger's area), grown by half the smoothing FWHM (their blurred
rim). A site's own ROIs replace them.

**SPECT/CT.** With lung and liver volumes of interest (from the CT) on the SPECT grid,

    LSF = A_lung / (A_lung + A_liver)

where A_liver sums the liver VOI grown by ``liver_margin_mm`` (SPECT resolution
spill-out; lung voxels left out) and A_lung is the mean concentration of the lung
voxels at least ``lung_margin_mm`` from the liver times the whole lung volume:
breathing moves the liver dome into the lung bases of the (free-breathing) SPECT and
scatter and the SPECT blur spill liver counts into them, so the lung bases are not
read (sstrkit's choice; the lung VOI itself comes from the CT, as in Kao YH et al.,
EJNMMI Res 2014;4:33 and Allred JD et al., EJNMMI Res 2018;8:50). Lung bases holding more than
:data:`RESPIRATORY_FLAG_RATIO` times the lung-core concentration are flagged as
respiratory mis-registration or spill-in; lungs cut by the axial field of view are
flagged (A_lung then covers only the lungs in the field, LSF too low: prefer the
planar LSF or extend the field of view). SPECT/CT LSF is usually lower than planar
(Yu N et al., Int J Radiat Oncol Biol Phys 2013;85:834-839; Torkian et al. 2022).

Examples
--------
>>> s = lung_shunt_planar_counts(lung_anterior=900.0, lung_posterior=1600.0,
...                              liver_anterior=16000.0, liver_posterior=25000.0)
>>> round(s.fraction, 6)                 # GM 1200 / (1200 + 20000)
0.056604
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.provenance import Step
from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.io.planar import CONJUGATE_VIEW_SOURCES, PlanarWholeBody

__all__ = [
    "LSF_SOURCES",
    "PLANAR_LIVER_MARGIN_MM",
    "PLANAR_SMOOTH_FWHM_MM",
    "RESPIRATORY_FLAG_RATIO",
    "LungShunt",
    "PlanarRois",
    "lung_shunt_planar",
    "lung_shunt_planar_counts",
    "lung_shunt_spect",
    "planar_rois",
]

LSF_SOURCES: Final = (
    "Kennedy A et al. Int J Radiat Oncol Biol Phys 2007;68:13-23 (LSF = lung / (lung + "
    "liver) counts)",
    "Dezarn WA et al. AAPM TG-144, Med Phys 2011;38:4824-4845",
)
SPECT_LSF_SOURCES: Final = (
    "Kao YH et al. Personalized predictive lung dosimetry by 99mTc-MAA SPECT/CT for "
    "yttrium-90 radioembolization. EJNMMI Res 2014;4:33",
    "Allred JD et al. The value of 99mTc-MAA SPECT/CT for lung shunt estimation in 90Y "
    "radioembolization: a phantom and patient study. EJNMMI Res 2018;8:50",
    "Yu N et al. Lung dose calculation with SPECT/CT for 90yttrium radioembolization of "
    "liver cancer. Int J Radiat Oncol Biol Phys 2013;85:834-839",
)

#: Smoothing of the geometric mean for the automatic planar ROIs (FWHM, mm).
PLANAR_SMOOTH_FWHM_MM: Final = 15.0
#: Margin around the planar liver ROI left out of the lung ROI (mm).
PLANAR_LIVER_MARGIN_MM: Final = 15.0
#: Lung-base / lung-core concentration ratio above which mis-registration is flagged.
RESPIRATORY_FLAG_RATIO: Final = 2.0
_FLOOR: Final = 1e-3  # fraction of the maximum below which a pixel is background
_LIVER_EDGE: Final = 0.3  # liver ROI edge: fraction of the median liver counts
_LIVER_AREA_CM2: Final = (80.0, 900.0)
_MM2_PER_CM2: Final = 100.0

Method = Literal["planar_geometric_mean", "spect_ct"]


@dataclass(frozen=True)
class LungShunt:
    """A lung shunt fraction, the lung and liver amounts it came from, flags, provenance.

    ``lung`` and ``liver`` are geometric-mean counts (planar) or activities in ``unit``
    (SPECT: Bq for a Bq/mL SPECT, else summed voxel values).
    """

    fraction: float
    method: Method
    lung: float
    liver: float
    unit: str
    flags: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    provenance: Step = field(default_factory=lambda: Step.make("lung_shunt"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "fraction": self.fraction,
            "method": self.method,
            "lung": self.lung,
            "liver": self.liver,
            "unit": self.unit,
            "flags": list(self.flags),
            "details": dict(self.details),
            "provenance": self.provenance.to_dict(),
        }


def _shunt(lung: float, liver: float, what: str) -> float:
    if not (math.isfinite(lung) and math.isfinite(liver)) or lung < 0 or liver <= 0:
        raise InvalidInputError(
            what,
            expected="lung counts >= 0 and liver counts > 0",
            actual=f"lung {lung:g}, liver {liver:g}",
            fix="check the lung and liver regions (the liver region holds no counts)",
        )
    return lung / (lung + liver)


def lung_shunt_planar_counts(
    *,
    lung_anterior: float,
    lung_posterior: float,
    liver_anterior: float,
    liver_posterior: float,
    flags: tuple[str, ...] = (),
) -> LungShunt:
    """LSF from the ROI counts of the two views (geometric mean of each ROI)."""
    vals = {
        "lung_anterior": float(lung_anterior),
        "lung_posterior": float(lung_posterior),
        "liver_anterior": float(liver_anterior),
        "liver_posterior": float(liver_posterior),
    }
    for k, v in vals.items():
        if not (math.isfinite(v) and v >= 0):
            raise InvalidInputError(f"planar {k} counts", expected="a finite value >= 0", actual=v)
    gm_lung = math.sqrt(vals["lung_anterior"] * vals["lung_posterior"])
    gm_liver = math.sqrt(vals["liver_anterior"] * vals["liver_posterior"])
    fraction = _shunt(gm_lung, gm_liver, "planar lung shunt")
    return LungShunt(
        fraction=fraction,
        method="planar_geometric_mean",
        lung=gm_lung,
        liver=gm_liver,
        unit="counts",
        flags=flags,
        details=vals,
        provenance=Step.make(
            "lung_shunt_planar", vals, sources=(*LSF_SOURCES, *CONJUGATE_VIEW_SOURCES)
        ),
    )


def _roi(mask: NDArray[Any], shape: tuple[int, int], name: str) -> NDArray[np.bool_]:
    m = np.asarray(mask, dtype=bool)
    if m.shape != shape:
        raise GeometryMismatchError(
            f"planar {name} ROI", expected=f"a mask of the views' shape {shape}", actual=m.shape
        )
    if not m.any():
        raise InvalidInputError(f"planar {name} ROI", expected="at least one pixel", actual="empty")
    return m


def lung_shunt_planar(
    planar: PlanarWholeBody,
    *,
    lung_roi: NDArray[Any],
    liver_roi: NDArray[Any],
    flags: tuple[str, ...] = (),
) -> LungShunt:
    """LSF of a planar ANT/POST study from lung and liver ROIs on the anterior view's
    geometry (the posterior view un-mirrored onto it)."""
    lung = _roi(lung_roi, planar.shape, "lung")
    liver = _roi(liver_roi, planar.shape, "liver")
    if (lung & liver).any():
        raise InvalidInputError(
            "planar ROIs",
            expected="lung and liver ROIs that do not overlap",
            actual=f"{int((lung & liver).sum())} shared pixels",
        )
    ant = np.asarray(planar.anterior, dtype=np.float64)
    post = np.asarray(planar.posterior_aligned(), dtype=np.float64)
    return lung_shunt_planar_counts(
        lung_anterior=float(ant[lung].sum()),
        lung_posterior=float(post[lung].sum()),
        liver_anterior=float(ant[liver].sum()),
        liver_posterior=float(post[liver].sum()),
        flags=flags,
    )


# ------------------------------------------------------------------ automatic planar ROIs
@dataclass(frozen=True)
class PlanarRois:
    """Automatic planar lung and liver ROIs (anterior-view geometry) and how they were drawn."""

    lung: NDArray[np.bool_] = field(repr=False)
    liver: NDArray[np.bool_] = field(repr=False)
    method: str
    flags: tuple[str, ...] = ()


def _otsu(values: NDArray[np.float64], classes: int = 2) -> tuple[float, ...]:
    """Otsu thresholds (``classes`` − 1 of them, 2 or 3 classes) of ``values`` (256 bins)."""
    hist, edges = np.histogram(values, bins=256)
    centres = (edges[:-1] + edges[1:]) / 2
    w = np.concatenate([[0.0], np.cumsum(hist)])
    m = np.concatenate([[0.0], np.cumsum(hist * centres)])

    def score(lo: NDArray[np.intp], hi: NDArray[np.intp]) -> NDArray[np.float64]:
        # w·mean² of the class of bins [lo, hi) (between-class variance up to a constant)
        wk = w[hi] - w[lo]
        mk = m[hi] - m[lo]
        out: NDArray[np.float64] = np.where(wk > 0, mk**2 / np.maximum(wk, 1e-300), 0.0)
        return out

    n = len(centres)
    if classes == 2:
        k = np.arange(1, n)
        best = int(np.argmax(score(np.zeros_like(k), k) + score(k, np.full_like(k, n))))
        return (float(edges[best + 1]),)
    i, j = np.triu_indices(n, k=1)
    i, j = i[i > 0], j[i > 0]
    total = score(np.zeros_like(i), i) + score(i, j) + score(j, np.full_like(j, n))
    best = int(np.argmax(total))
    return float(edges[i[best]]), float(edges[j[best]])


def _component_at(mask: NDArray[np.bool_], seed: tuple[int, int]) -> NDArray[np.bool_]:
    lab, _ = ndimage.label(mask)
    out: NDArray[np.bool_] = lab == lab[seed]
    return out


def _liver_roi(
    gm: NDArray[np.float64], px_area_cm2: float
) -> tuple[NDArray[np.bool_], float, list[str], list[str]]:
    """Liver ROI, the lung level (counts), method notes and flags (module docstring)."""
    top = float(gm.max())
    if not (math.isfinite(top) and top > 0):
        raise InvalidInputError(
            "automatic planar liver ROI",
            expected="counts in the views",
            actual="none",
            fix="give the liver and lung ROIs",
        )
    vals = np.log(gm[gm > _FLOOR * top])
    t_lung, t_liver = (math.exp(t) for t in _otsu(vals, classes=3))
    seed = np.unravel_index(int(np.argmax(gm)), gm.shape)
    seed_rc = (int(seed[0]), int(seed[1]))
    core = _component_at(gm >= t_liver, seed_rc)
    level = _LIVER_EDGE * float(np.median(gm[core]))
    liver = np.asarray(ndimage.binary_fill_holes(_component_at(gm >= level, seed_rc)), bool)
    area = float(liver.sum()) * px_area_cm2
    lo, hi = _LIVER_AREA_CM2
    flags = []
    if not lo <= area <= hi:
        flags.append(
            f"automatic planar liver ROI of {area:.0f} cm² (a liver projects on {lo:g}-{hi:g} "
            "cm²): check the ROIs"
        )
    notes = [
        f"liver: {_LIVER_EDGE:g} × the median counts ({level / _LIVER_EDGE:.4g}) of the "
        f"region above the upper 3-class Otsu threshold of log counts ({t_liver:.4g})"
    ]
    return liver, t_lung, notes, flags


def planar_rois(
    planar: PlanarWholeBody,
    *,
    smooth_fwhm_mm: float = PLANAR_SMOOTH_FWHM_MM,
    liver_margin_mm: float = PLANAR_LIVER_MARGIN_MM,
) -> PlanarRois:
    """Automatic lung and liver ROIs of a 99mTc-MAA planar study (module docstring)."""
    dy, dx = planar.pixel_spacing_mm
    sigma = (smooth_fwhm_mm / (2.0 * math.sqrt(2.0 * math.log(2.0)))) / np.array([dy, dx])
    gm = ndimage.gaussian_filter(np.asarray(planar.geometric_mean(), dtype=np.float64), sigma)
    liver, lung_level, notes, liver_flags = _liver_roi(gm, dy * dx / _MM2_PER_CM2)
    grow = ndimage.distance_transform_edt(~liver, sampling=(dy, dx)) <= liver_margin_mm
    rows = np.nonzero(liver.any(axis=1))[0]
    top = int(rows.min())
    band = np.zeros_like(liver)
    r0 = max(0, top - round(300.0 / dy))
    r1 = top + 1
    band[r0:r1] = True
    band &= ~grow
    flags = ["planar lung and liver ROIs drawn automatically: check them", *liver_flags]
    if not band.any():
        raise InvalidInputError(
            "automatic planar lung ROI",
            expected="a chest band above the liver",
            actual="none (the liver reaches the top of the views)",
            fix="give the lung ROI",
        )
    vals = gm[band & (gm > _FLOOR * float(gm.max()))]
    level = math.exp(_otsu(np.log(vals))[0]) if vals.size >= 10 else lung_level
    lab, n = ndimage.label(band & (gm > level))
    if n == 0:
        raise InvalidInputError(
            "automatic planar lung ROI",
            expected="lung counts above the body background",
            actual="none found",
            fix="give the lung ROI, or use the SPECT/CT lung shunt fraction",
        )
    sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
    order = np.argsort(sizes)[::-1]
    keep = [int(i) + 1 for i in order[:2]]
    keep += [int(i) + 1 for i in order[2:] if sizes[i] >= 0.5 * sizes[order[0]]]
    lung = np.isin(lab, keep)
    # the blurred rim of the lungs (half the smoothing FWHM), never into the liver margin
    rim = ndimage.distance_transform_edt(~lung, sampling=(dy, dx)) <= smooth_fwhm_mm / 2.0
    lung = (lung | rim) & ~grow
    if len(keep) < 2:
        flags.append("automatic planar lung ROI: one region only (both lungs expected)")
    notes.append(
        f"lungs: above the Otsu threshold of log counts ({level:.4g}) in the chest band "
        f"above the liver, liver + "
        f"{liver_margin_mm:g} mm left out, {len(keep)} region(s)"
    )
    method = (
        f"automatic planar ROIs on the geometric mean smoothed to {smooth_fwhm_mm:g} mm FWHM; "
        + "; ".join(notes)
    )
    return PlanarRois(lung=lung, liver=liver, method=method, flags=tuple(flags))


# ------------------------------------------------------------------------- SPECT/CT
def _mask(m: NDArray[Any], spect: Volume, name: str) -> NDArray[np.bool_]:
    a = np.asarray(m, dtype=bool)
    if a.shape != spect.shape:
        raise GeometryMismatchError(
            f"{name} VOI",
            expected=f"a mask on the SPECT grid {spect.shape}",
            actual=a.shape,
            fix="resample the label map onto the SPECT (nearest neighbour)",
        )
    if not a.any():
        raise InvalidInputError(f"{name} VOI", expected="at least one voxel", actual="empty")
    return a


def _amount_scale(spect: Volume) -> tuple[float, str]:
    """Factor turning a voxel-value sum into an amount, and its unit."""
    unit = spect.unit.replace(" ", "")
    if unit.lower() in ("bq/ml", "bqml"):
        return spect.voxel_volume_ml, "Bq"
    return 1.0, unit or "1"


def lung_shunt_spect(
    spect: Volume,
    *,
    lungs: NDArray[Any],
    liver: NDArray[Any],
    lung_margin_mm: float = 20.0,
    liver_margin_mm: float = 10.0,
) -> LungShunt:
    """LSF from a 99mTc-MAA SPECT with lung and liver VOIs on its grid (module docstring)."""
    lung_m = _mask(lungs, spect, "lung")
    liver_m = _mask(liver, spect, "liver")
    values = np.asarray(spect.array, dtype=np.float64)
    spacing_zyx = tuple(float(s) for s in spect.spacing[::-1])
    dist_liver = ndimage.distance_transform_edt(~liver_m, sampling=spacing_zyx)
    core = lung_m & ~liver_m & (dist_liver > lung_margin_mm)
    flags: list[str] = []
    scale, unit = _amount_scale(spect)
    n_lung = int(lung_m.sum())
    if core.any():
        core_mean = float(values[core].mean())
        lung_amount = core_mean * n_lung * scale
        base = lung_m & ~core
        base_mean = float(values[base].mean()) if base.any() else core_mean
        if core_mean > 0 and base_mean > RESPIRATORY_FLAG_RATIO * core_mean:
            flags.append(
                f"lung bases within {lung_margin_mm:g} mm of the liver hold "
                f"{base_mean / core_mean:.1f}× the lung-core concentration: respiratory "
                "mis-registration or liver spill-in; the lung activity is read on the lung core"
            )
    else:
        core_mean = float(values[lung_m].mean())
        lung_amount = float(values[lung_m].sum()) * scale
        flags.append(
            f"no lung voxel is {lung_margin_mm:g} mm from the liver: lung activity summed over "
            "the whole lung VOI (liver spill-in not excluded)"
        )
    dist_to_liver_region = dist_liver <= liver_margin_mm
    liver_region = (liver_m | dist_to_liver_region) & ~lung_m
    liver_amount = float(values[liver_region].sum()) * scale
    z_any = np.asarray(lung_m.any(axis=(1, 2)), dtype=bool)
    if bool(z_any[0]) or bool(z_any[-1]):
        flags.append(
            "the lungs reach the edge of the SPECT axial field of view: lungs outside it are "
            "not counted (SPECT LSF too low; prefer the planar LSF or a wider field of view)"
        )
    if lung_amount < 0:
        flags.append("negative lung counts (reconstruction/scatter correction): LSF set to 0")
        lung_amount = 0.0
    fraction = _shunt(lung_amount, liver_amount, "SPECT/CT lung shunt")
    details = {
        "lung_core_mean": core_mean,
        "lung_volume_ml": n_lung * spect.voxel_volume_ml,
        "lung_core_volume_ml": int(core.sum()) * spect.voxel_volume_ml,
        "liver_region_volume_ml": int(liver_region.sum()) * spect.voxel_volume_ml,
        "lung_margin_mm": lung_margin_mm,
        "liver_margin_mm": liver_margin_mm,
        "spect_unit": spect.unit,
    }
    return LungShunt(
        fraction=fraction,
        method="spect_ct",
        lung=lung_amount,
        liver=liver_amount,
        unit=unit,
        flags=tuple(flags),
        details=details,
        provenance=Step.make(
            "lung_shunt_spect",
            details,
            inputs=(spect.name,) if spect.name else (),
            sources=(*LSF_SOURCES, *SPECT_LSF_SOURCES),
        ),
    )
