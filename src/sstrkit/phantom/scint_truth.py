"""Truth of the digital patient's SSTR scintigraphy: lesion ratios, Krenning grades, visibility.

Per lesion and image (``truth/scintigraphy_<tracer>.json``; settings in
``scintigraphy.toml`` ``[truth]``):

* ``true_uptake_ratio_liver`` / ``_spleen``: lesion / liver (spleen) true activity
  concentration at the image time (3-D, no imaging).
* Planar views: ``planar_ratio_liver`` / ``_spleen``: the lesion's intensity on the
  noise-free geometric mean sqrt(ANT·POST) (``lesion_counts_gm``: the mean over the central
  disk of half the lesion's radius, at least its centre pixel) over the mean of the liver
  (spleen) reference region —
  pixels where the organ is at least ``reference_min_thickness`` × its thickest path,
  away (lesion radius + FWHM) from every lesion and from the kidneys' projection.
  ``krenning_grade_true`` is the original planar grade (Krenning et al. 1993) of these
  ratios: 1 below the liver, 2 equal to the liver within ±``krenning_band`` (the band of
  sstrkit's PET-adapted score, :func:`sstrkit.reading.scores.krenning_score`), 3 above the
  liver, 4 above the spleen. ``grade_margin`` is the smallest relative distance of the
  ratios from a grade threshold (liver 1 ± band, spleen 1).
* SPECT: the grade of the true concentration ratios (3-D reading scale).
* ``visible``: the Rose criterion (Rose 1948) on the noise-free image,
  SNR = ΔN·√n / √(B·v) ≥ ``rose_threshold``, with ΔN the mean excess counts per pixel
  (voxel) in the lesion region of n pixels, B the background counts per pixel (median of a
  shell ``background_shell_mm`` wide, one FWHM outside the lesion) and v the noise variance
  per Poisson variance (1 planar, the OSEM amplification for SPECT).

Examples
--------
>>> krenning_grade(0.5, 0.2), krenning_grade(1.05, 0.4), krenning_grade(2.0, 0.8)
(1, 2, 3)
>>> krenning_grade(4.0, 1.3), round(grade_margin(1.5, 0.5), 3)
(4, 0.364)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sstrkit.phantom.anatomy import Grid
from sstrkit.phantom.parameters import scintigraphy_parameters

__all__ = [
    "LesionSpot",
    "TruthSettings",
    "grade_margin",
    "krenning_grade",
    "lesion_region",
    "planar_lesion_truth",
    "reference_region",
    "rose_visible",
    "spect_lesion_truth",
]


@dataclass(frozen=True)
class TruthSettings:
    """``scintigraphy.toml`` ``[truth]``."""

    krenning_band: float = 0.10
    rose_threshold: float = 5.0
    background_shell_mm: float = 10.0
    reference_min_thickness: float = 0.5

    @classmethod
    def load(cls) -> TruthSettings:
        p = scintigraphy_parameters()["truth"]
        return cls(*(float(p[k]) for k in cls.__dataclass_fields__))


def krenning_grade(ratio_liver: float, ratio_spleen: float, band: float = 0.10) -> int:
    """Original Krenning grade from lesion/liver and lesion/spleen ratios."""
    if ratio_liver < 1.0 - band:
        return 1
    if ratio_liver <= 1.0 + band:
        return 2
    return 4 if ratio_spleen > 1.0 else 3


def grade_margin(ratio_liver: float, ratio_spleen: float, band: float = 0.10) -> float:
    """Smallest relative distance of the ratios from a grade threshold."""
    out = min(abs(ratio_liver / t - 1.0) for t in (1.0 - band, 1.0 + band))
    if ratio_liver > 1.0 + band:
        out = min(out, abs(ratio_spleen - 1.0))
    return out


@dataclass(frozen=True)
class LesionSpot:
    """A lesion where an image sees it: centre (pixel or voxel index space), radius (mm)."""

    id: str
    diameter_mm: float
    centroid_mm: tuple[float, float, float]
    index: tuple[float, ...]
    ratio_liver: float
    ratio_spleen: float


def rose_visible(
    excess: float, background: float, n: int, variance_factor: float, threshold: float
) -> tuple[bool, float]:
    """Rose SNR = excess·√n / √(background·variance_factor) and whether it reaches ``threshold``."""
    if background <= 0:
        snr = math.inf if excess > 0 else 0.0
    else:
        snr = excess * math.sqrt(max(n, 1)) / math.sqrt(background * variance_factor)
    return snr >= threshold, snr


def lesion_region(
    shape: tuple[int, ...],
    centre: Sequence[float],
    radius_px: Sequence[float],
    outer_px: Sequence[float] | None = None,
) -> NDArray[np.bool_]:
    """Pixels (voxels) within the ellipse/ellipsoid of ``radius_px`` per axis around
    ``centre`` (index units); with ``outer_px``, the shell between the two instead.
    The pixel nearest the centre is always inside a non-shell region."""
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    r2 = sum(
        ((g - c) / max(r, 1e-9)) ** 2 for g, c, r in zip(grids, centre, radius_px, strict=True)
    )
    inner: NDArray[np.bool_] = np.asarray(r2 <= 1.0, dtype=bool)
    if outer_px is None:
        idx = tuple(int(np.clip(round(c), 0, n - 1)) for c, n in zip(centre, shape, strict=True))
        inner[idx] = True
        return inner
    o2 = sum(((g - c) / max(r, 1e-9)) ** 2 for g, c, r in zip(grids, centre, outer_px, strict=True))
    shell: NDArray[np.bool_] = np.asarray(o2 <= 1.0, dtype=bool) & ~inner
    return shell


def reference_region(
    thickness: NDArray[np.float64], exclude: NDArray[np.bool_], min_fraction: float
) -> NDArray[np.bool_]:
    """Pixels where the organ's path is at least ``min_fraction`` of its thickest, not
    ``exclude``d (falls back to every pixel of the organ if that leaves none)."""
    if thickness.max() <= 0:
        return np.zeros(thickness.shape, dtype=bool)
    thick: NDArray[np.bool_] = np.asarray(thickness >= min_fraction * thickness.max())
    roi: NDArray[np.bool_] = thick & ~exclude
    if not roi.any():
        roi = np.asarray(thickness > 0) & ~exclude
    return roi if roi.any() else thick


def _lesion_stats(
    img: NDArray[np.float64],
    spot: LesionSpot,
    pixel_mm: Sequence[float],
    fwhm_mm: float,
    shell_mm: float,
) -> tuple[float, float, float, int]:
    """Lesion intensity (mean over the central region of half the radius), mean over the
    lesion region, background (median of the shell) and the lesion region's pixel count."""
    r = spot.diameter_mm / 2.0
    region = lesion_region(img.shape, spot.index, [r / p for p in pixel_mm])
    core = lesion_region(img.shape, spot.index, [r / 2.0 / p for p in pixel_mm])
    lo = [(r + fwhm_mm) / p for p in pixel_mm]
    hi = [(r + fwhm_mm + shell_mm) / p for p in pixel_mm]
    shell = lesion_region(img.shape, spot.index, hi) & ~lesion_region(img.shape, spot.index, lo)
    values = img[region]
    background = float(np.median(img[shell])) if shell.any() else 0.0
    return float(img[core].mean()), float(values.mean()), background, int(values.size)


def planar_lesion_truth(
    gm: NDArray[np.float64],
    spots: Sequence[LesionSpot],
    liver_roi: NDArray[np.bool_],
    spleen_roi: NDArray[np.bool_],
    *,
    pixel_mm: float,
    fwhm_mm: float,
    settings: TruthSettings,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Per-lesion planar truth from the noise-free geometric mean (counts per pixel)."""
    liver = float(gm[liver_roi].mean()) if liver_roi.any() else math.nan
    spleen = float(gm[spleen_roi].mean()) if spleen_roi.any() else math.nan
    out = []
    for s in spots:
        level, mean, bg, n = _lesion_stats(
            gm, s, (pixel_mm, pixel_mm), fwhm_mm, settings.background_shell_mm
        )
        r_liver, r_spleen = level / liver, level / spleen
        visible, snr = rose_visible(mean - bg, bg, n, 1.0, settings.rose_threshold)
        band = settings.krenning_band
        out.append(
            {
                "id": s.id,
                "diameter_mm": s.diameter_mm,
                "centroid_mm": list(s.centroid_mm),
                "position_mm": {"row": s.index[0] * pixel_mm, "col": s.index[1] * pixel_mm},
                "true_uptake_ratio_liver": s.ratio_liver,
                "true_uptake_ratio_spleen": s.ratio_spleen,
                "planar_ratio_liver": r_liver,
                "planar_ratio_spleen": r_spleen,
                "krenning_grade_true": krenning_grade(r_liver, r_spleen, band),
                "krenning_grade_concentration": krenning_grade(s.ratio_liver, s.ratio_spleen, band),
                "grade_margin": grade_margin(r_liver, r_spleen, band),
                "lesion_counts_gm": level,
                "rose_snr": snr,
                "visible": bool(visible),
            }
        )
    return out, {"liver_mean_counts_gm": liver, "spleen_mean_counts_gm": spleen}


def spect_lesion_truth(
    img: NDArray[np.float64],
    grid: Grid,
    spots: Sequence[LesionSpot],
    *,
    counts_per_bq_ml: float,
    variance_factor: float,
    fwhm_mm: float,
    settings: TruthSettings,
) -> list[dict[str, Any]]:
    """Per-lesion SPECT truth from the noise-free image (Bq/mL) on its grid."""
    out = []
    band = settings.krenning_band
    vox = (grid.spacing[2], grid.spacing[1], grid.spacing[0])
    for s in spots:
        _, mean, bg, n = _lesion_stats(img, s, vox, fwhm_mm, settings.background_shell_mm)
        k = counts_per_bq_ml
        visible, snr = rose_visible(
            (mean - bg) * k, bg * k, n, variance_factor, settings.rose_threshold
        )
        out.append(
            {
                "id": s.id,
                "diameter_mm": s.diameter_mm,
                "centroid_mm": list(s.centroid_mm),
                "true_uptake_ratio_liver": s.ratio_liver,
                "true_uptake_ratio_spleen": s.ratio_spleen,
                "krenning_grade_true": krenning_grade(s.ratio_liver, s.ratio_spleen, band),
                "grade_margin": grade_margin(s.ratio_liver, s.ratio_spleen, band),
                "rose_snr": snr,
                "visible": bool(visible),
            }
        )
    return out
