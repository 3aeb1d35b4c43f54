"""Planar SSTR scintigraphy read with the original Krenning scale (111In / 99mTc tracers).

:func:`read_planar` reads one whole-body study (:class:`~sstrkit.io.planar.PlanarWholeBody`,
in practice the 24 h views of 111In-pentetreotide) on its geometric-mean (GM) image
and returns a :class:`PlanarReading`: liver and spleen reference ROIs, the lesions
found, each one's ratios to liver and spleen and its Krenning grade, the patient's
grade and notes. Everything is in counts and mm (planar images carry no Bq scale).

**Krenning grade** (Krenning EP et al., Eur J Nucl Med 1993;20:716-731;
Kwekkeboom DJ, Krenning EP, Semin Nucl Med 2002;32:84-91): 1 lesion uptake below
normal liver, 2 equal to liver, 3 above liver, 4 above spleen, read as a person reads
the views: the lesion's intensity on the GM (``lesion_counts``, the mean over a disk of
half its fitted radius, background included) against the mean GM counts of the liver
and spleen reference ROIs (``ratio_liver``/``ratio_spleen``). "Equal to liver" is a
±10 % band (``band``), the band of sstrkit's PET-adapted score
(:func:`sstrkit.reading.scores.krenning_score`, which grades here too). The patient
grade is that of the most avid lesion not flagged as possible bowel activity (of all
lesions when every one is flagged).

**Steps.**

1. *Body, liver, spleen* from the count distribution of the GM smoothed by the camera
   blur: the body is its Otsu threshold; on a ladder of levels (from the body's maximum
   down to its median in 15 % steps, so that a hot bladder does not hide the organs)
   the liver is the first component of 80-900 cm² lying at least 60 % on the patient's
   right of the midline, the spleen the hottest component lying ≥ 90 % on the
   patient's left, ≥ 50 mm lateral, its centroid no lower than 50 mm below the liver's;
   each is grown down the ladder until it would merge with a neighbour (kidney, bowel)
   of ≥ 10 cm². User ROIs (``liver_roi``/``spleen_roi``: row, column, radius in mm on
   the GM) replace them; a reference not found is flagged and its grades are undecided.
2. *Reference ROIs*: the organ where the smoothed GM is ≥ half its central counts (its
   thick part), lesions (radius + FWHM) left out, pixels within 0.7-1.3 × the ROI
   median (kidney overlap and hot spots left out); ``mean_counts`` is its mean GM.
3. *Lesions.* Local maxima of the GM band-passed at the camera blur (``blur_fwhm_mm``:
   13 mm for 111In, medium-energy collimator, 9 mm for 99mTc, LEHR — typical system
   resolutions at 10 cm; give the department's) are fitted on a patch by a sphere's
   chord image blurred by the camera, over a quadratic background plus the liver's and
   spleen's own blurred ellipsoid profiles (so that an organ's dome is not read as a
   lesion): weighted least squares, Poisson variance (A + P)/4 of the GM, the radius
   on a grid. The most significant fit is kept and subtracted before the next (CLEAN,
   :mod:`sstrkit.reading.planar_lesions`); a fit is a lesion when its amplitude is
   ≥ ``detection_z`` = 5 standard errors (the Rose criterion, Rose A, Vision: Human
   and Electronic, 1973). Fits in the spleen, the kidneys and the bladder are
   physiological (``physiological``); lesions off the liver below the kidneys' upper
   poles are flagged as possible bowel activity.
4. *Concentration estimate* (``concentration_ratio_*``, ``krenning_concentration``;
   not the planar grade): the GM corrected for body attenuation — e^(μT/2), T from an
   elliptical trunk section of the row's body width (AP/lateral ``body_aspect`` 0.7,
   a model value), broad-beam μ (``mu_per_mm`` 0.011 /mm for 111In, 0.012 /mm for
   99mTc, model values below the narrow-beam water values of NIST XCOM, about 0.0145
   and 0.0128 /mm at 171 and 245 keV, 0.0154 /mm at 140.5 keV) — divided by the model
   chord of each organ (an ellipsoid: projected semi-axes from the second moments of
   its mask, corrected for the blur and the cut level; AP semi-axis from the ICRP 89
   reference volume, mass ÷ density 1.05/1.04 g/mL, or ``liver_volume_ml``/
   ``spleen_volume_ml``) and by the conjugate-view source-thickness factor
   sinh(μL/2)/(μL/2) (Sorenson 1974) gives counts per mm of organ ∝ concentration;
   a lesion's is its fitted excess per mm of chord, plus the liver's when it projects
   on the liver (intrahepatic assumed; other background tissue neglected).

Planar grades are limited by the projection: overlapping structures, a lesion in
front of the liver read as intrahepatic, small or faint lesions not seen, bowel
activity read as a lesion. The values above are the assumptions the results depend
on; each is a setting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit import __version__
from sstrkit.core.provenance import Step
from sstrkit.core.units import MM3_PER_ML
from sstrkit.errors import InvalidInputError
from sstrkit.io.planar import CONJUGATE_VIEW_SOURCES, PlanarWholeBody
from sstrkit.reading.planar_lesions import PlanarLesion, candidates, classify, detect, lesion_discs
from sstrkit.reading.scores import KRENNING_SOURCES, krenning_score, patient_krenning

__all__ = [
    "BLUR_FWHM_MM",
    "MU_PER_MM",
    "PlanarLesion",
    "PlanarReading",
    "PlanarSettings",
    "ReferenceRoi",
    "read_planar",
]

#: System resolution (FWHM, mm at 10 cm) by nuclide: typical ME (111In) and LEHR (99mTc).
BLUR_FWHM_MM = {"In-111": 13.0, "Tc-99m": 9.0}
#: Broad-beam linear attenuation coefficient of soft tissue (/mm), sstrkit model values.
MU_PER_MM = {"In-111": 0.011, "Tc-99m": 0.012}
#: Density (g/mL) of liver and spleen (ICRP 110 Table A.1, rounded).
_DENSITY = {"liver": 1.05, "spleen": 1.04}
ROSE = "Rose A. Vision: Human and Electronic. Plenum, 1973 (detectability at SNR >= 5)"
ICRP89 = "ICRP Publication 89 (Ann. ICRP 32(3-4), 2002), Table 2.8 reference organ masses"

Roi = tuple[float, float, float]


@dataclass(frozen=True)
class PlanarSettings:
    """Settings of :func:`read_planar` (defaults and their sources: module docstring)."""

    blur_fwhm_mm: float | None = None
    mu_per_mm: float | None = None
    band: float = 0.10
    detection_z: float = 5.0
    body_aspect: float = 0.7
    sex: str | None = None
    liver_volume_ml: float | None = None
    spleen_volume_ml: float | None = None
    liver_roi: Roi | None = None
    spleen_roi: Roi | None = None
    max_lesion_diameter_mm: float = 80.0

    def __post_init__(self) -> None:
        checks = [
            ("band", self.band, 0 <= self.band < 1, "0 <= band < 1"),
            ("detection_z", self.detection_z, self.detection_z > 0, "> 0"),
            ("body_aspect", self.body_aspect, 0 < self.body_aspect <= 1.5, "0 < aspect <= 1.5"),
        ]
        for name in ("blur_fwhm_mm", "mu_per_mm", "liver_volume_ml", "spleen_volume_ml"):
            v = getattr(self, name)
            if v is not None:
                checks.append((name, v, math.isfinite(v) and v >= 0, ">= 0"))
        for name, value, ok, expected in checks:
            if not ok:
                raise InvalidInputError(f"planar setting {name}", expected=expected, actual=value)
        for name in ("liver_roi", "spleen_roi"):
            roi = getattr(self, name)
            if roi is not None and (len(roi) != 3 or not roi[2] > 0):
                raise InvalidInputError(
                    f"planar setting {name}",
                    expected="(row_mm, col_mm, radius_mm > 0) on the geometric-mean image",
                    actual=roi,
                )


@dataclass(frozen=True)
class ReferenceRoi:
    """A reference organ: its ROI, mean GM counts and intensity (counts per mm of organ)."""

    name: str
    source: str  # "automatic" | "user"
    centroid_mm: tuple[float, float]
    area_mm2: float
    mean_counts: float
    thickness_mm: float
    intensity: float
    mask: NDArray[np.bool_] = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "centroid_mm": [round(v, 1) for v in self.centroid_mm],
            "area_cm2": round(self.area_mm2 / 100.0, 1),
            "mean_counts": round(self.mean_counts, 2),
            "model_thickness_mm": round(self.thickness_mm, 1),
            "intensity_counts_per_mm": round(self.intensity, 4),
        }


@dataclass(frozen=True)
class PlanarReading:
    """The reading of one planar whole-body study (``to_dict`` is ``reading.json``)."""

    tracer: str | None
    radionuclide: str
    hours_post_injection: float
    liver: ReferenceRoi | None
    spleen: ReferenceRoi | None
    lesions: tuple[PlanarLesion, ...]
    physiological: tuple[dict[str, Any], ...]
    krenning_patient: int | None
    settings: PlanarSettings
    blur_fwhm_mm: float
    flags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    series_uid: str = ""
    history: tuple[Step, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "modality": "planar",
            "tracer": self.tracer,
            "radionuclide": self.radionuclide,
            "series_uid": self.series_uid,
            "hours_post_injection": round(self.hours_post_injection, 2),
            "reference": {
                "liver": self.liver.to_dict() if self.liver else None,
                "spleen": self.spleen.to_dict() if self.spleen else None,
            },
            "lesions": [le.to_dict() for le in self.lesions],
            "n_lesions": len(self.lesions),
            "physiological": list(self.physiological),
            "krenning_patient": self.krenning_patient,
            "krenning_method": "original planar scale on geometric-mean counts: lesion vs "
            f"liver/spleen intensity (counts per mm, background-corrected), ±{s.band:.0%} band "
            "= equal to liver; patient grade = most avid lesion",
            "krenning_sources": list(KRENNING_SOURCES[:2]),
            "settings": {
                "blur_fwhm_mm": self.blur_fwhm_mm,
                "mu_per_mm": s.mu_per_mm,
                "band": s.band,
                "detection_z": s.detection_z,
                "body_aspect": s.body_aspect,
                "liver_volume_ml": s.liver_volume_ml,
                "spleen_volume_ml": s.spleen_volume_ml,
                "liver_roi": s.liver_roi,
                "spleen_roi": s.spleen_roi,
            },
            "flags": list(self.flags),
            "notes": list(self.notes),
            "sstrkit_version": __version__,
            "history": [h.to_dict() for h in self.history],
        }


# --------------------------------------------------------------------------- the reading
def read_planar(
    study: PlanarWholeBody, *, settings: PlanarSettings | None = None, sex: str | None = None
) -> PlanarReading:
    """Read ``study`` (see the module docstring): references, lesions, Krenning grades."""
    s = settings or PlanarSettings()
    nuclide = study.radionuclide
    fwhm = s.blur_fwhm_mm if s.blur_fwhm_mm is not None else BLUR_FWHM_MM.get(nuclide, 11.0)
    mu = s.mu_per_mm if s.mu_per_mm is not None else MU_PER_MM.get(nuclide, 0.011)
    s = replace(s, blur_fwhm_mm=fwhm, mu_per_mm=mu, sex=s.sex or sex or study.patient_sex)
    notes: list[str] = []
    flags: list[str] = []
    if nuclide not in BLUR_FWHM_MM:
        notes.append(f"{nuclide}: no default camera blur/attenuation; {fwhm:g} mm, {mu:g} /mm used")
    px = study.pixel_spacing_mm
    gm = study.geometric_mean().astype(np.float64)
    var = (study.anterior.astype(np.float64) + study.posterior_aligned()) / 4.0
    sigma_px = (fwhm / 2.3548) / np.asarray(px)
    smooth = ndimage.gaussian_filter(gm, sigma_px)
    body, mid = _body(smooth)
    if not body.any():
        raise InvalidInputError(
            "planar study", expected="counts in the body", actual="no body outline found",
            fix="check the series (empty or background-only views)",
        )  # fmt: skip
    corr = _attenuation_factor(body, mid, px, s.body_aspect, mu)
    gm_c, var_c = gm * corr, var * corr**2
    liver_mask, liver_level = _find_liver(smooth, body, mid, px)
    spleen_mask, spleen_level = _find_spleen(smooth, body, mid, px, liver_mask)
    fields = tuple(
        _organ_field(m, lvl, px, fwhm)
        for m, lvl in ((liver_mask, liver_level), (spleen_mask, spleen_level))
        if m is not None and m.sum() >= 20
    )
    cands = candidates(gm, body, sigma_px)
    fits = detect(
        gm_c, var_c, corr, body, cands, px, fwhm,
        max_radius_mm=s.max_lesion_diameter_mm / 2.0, detection_z=s.detection_z, fields=fields,
    )  # fmt: skip
    kept, physio = classify(fits, smooth, spleen_mask, liver_mask, mid, px, s.detection_z)
    lesion_area = lesion_discs(gm.shape, kept, px, fwhm)
    liver = _reference(
        "liver", gm, corr, smooth, liver_mask, liver_level, lesion_area, px, s, notes
    )
    spleen = _reference(
        "spleen", gm, corr, smooth, spleen_mask, spleen_level, lesion_area, px, s, notes
    )
    for name, ref in (("liver", liver), ("spleen", spleen)):
        if ref is None:
            flags.append(f"{name}_not_found")
            notes.append(
                f"{name} reference not found on the geometric-mean image: grades against it are "
                f"undecided; give the ROI (settings.{name}_roi / CLI --{name}-roi ROW,COL,R mm)"
            )
        elif ref.source == "user":
            flags.append(f"{name}_roi_user")
    lesions = tuple(
        _grade(replace(le, lesion_counts=_disk_mean(gm, le, px)), liver, spleen, s.band, i)
        for i, le in enumerate(_sorted(kept), start=1)
    )
    step = Step.make(
        "read_planar",
        {
            "blur_fwhm_mm": fwhm,
            "mu_per_mm": mu,
            "band": s.band,
            "detection_z": s.detection_z,
            "body_aspect": s.body_aspect,
            "n_candidates": len(cands),
            "n_fitted": len(fits),
        },
        inputs=(study.series_uid,),
        sources=(*KRENNING_SOURCES[:2], *CONJUGATE_VIEW_SOURCES, ROSE, ICRP89),
    )
    return PlanarReading(
        tracer=study.tracer,
        radionuclide=nuclide,
        hours_post_injection=study.hours_post_injection,
        liver=liver,
        spleen=spleen,
        lesions=lesions,
        physiological=tuple(physio),
        krenning_patient=patient_krenning(
            [le.krenning for le in lesions if not le.flags] or [le.krenning for le in lesions]
        ),
        settings=s,
        blur_fwhm_mm=fwhm,
        flags=tuple(flags),
        notes=tuple(notes),
        series_uid=study.series_uid,
        history=(*study.history, step),
    )


def _sorted(lesions: list[PlanarLesion]) -> list[PlanarLesion]:
    return sorted(lesions, key=lambda le: (le.position_mm[0], le.position_mm[1]))


def _disk_mean(gm: NDArray[np.float64], le: PlanarLesion, px: tuple[float, float]) -> float:
    """Mean GM counts over a disk of half the lesion's fitted radius (at least one pixel)."""
    r = max(le.diameter_mm / 4.0, max(px) / 2.0)
    r0, c0 = le.position_mm[0] / px[0], le.position_mm[1] / px[1]
    half = math.ceil(r / min(px)) + 1
    lo_r, lo_c = max(round(r0) - half, 0), max(round(c0) - half, 0)
    sub = gm[lo_r : round(r0) + half + 1, lo_c : round(c0) + half + 1]
    yy, xx = np.indices(sub.shape)
    disk = ((yy + lo_r - r0) * px[0]) ** 2 + ((xx + lo_c - c0) * px[1]) ** 2 <= r * r
    return float(sub[disk].mean()) if disk.any() else float(gm[round(r0), round(c0)])


def _grade(
    le: PlanarLesion,
    liver: ReferenceRoi | None,
    spleen: ReferenceRoi | None,
    band: float,
    ident: int,
) -> PlanarLesion:
    """Planar-scale ratios and grade (lesion counts vs the references' mean counts), and the
    concentration estimates (excess per mm + the liver under an intrahepatic lesion)."""

    def ratio(value: float, ref: float | None) -> float | None:
        return value / ref if ref is not None and ref > 0 else None

    liver_c, spleen_c = (r.mean_counts if r else None for r in (liver, spleen))
    liver_i, spleen_i = (r.intensity if r else None for r in (liver, spleen))
    grade = krenning_score(le.lesion_counts, liver=liver_c, spleen=spleen_c, tolerance=band)
    value = le.excess_intensity + (liver_i if (le.over_liver and liver_i is not None) else 0.0)
    grade_c = krenning_score(value, liver=liver_i, spleen=spleen_i, tolerance=band)
    return replace(
        le,
        id=ident,
        ratio_liver=ratio(le.lesion_counts, liver_c),
        ratio_spleen=ratio(le.lesion_counts, spleen_c),
        krenning=grade,
        concentration_ratio_liver=ratio(value, liver_i),
        concentration_ratio_spleen=ratio(value, spleen_i),
        krenning_concentration=grade_c,
    )


# --------------------------------------------------------------------------- body
def _grid(shape: tuple[int, ...]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Row and column index arrays of a 2-D ``shape``."""
    g = np.indices(shape)
    return np.asarray(g[0]), np.asarray(g[1])


def _otsu(values: NDArray[np.float64]) -> float:
    """Otsu's threshold of ``values`` (256-bin histogram)."""
    hist, edges = np.histogram(values, bins=256)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mean0 = m0 / np.maximum(w0, 1)
    mean1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mean0 - mean1) ** 2
    return float(centres[int(np.argmax(between))])


def _body(smooth: NDArray[np.float64]) -> tuple[NDArray[np.bool_], float]:
    """Body mask (Otsu on log counts, largest component, holes filled) and midline column."""
    logv = np.log1p(np.maximum(smooth, 0.0))
    if float(logv.max()) <= 0:
        return np.zeros(smooth.shape, bool), smooth.shape[1] / 2
    mask = logv > _otsu(logv.ravel())
    lab, n = ndimage.label(mask)
    if n == 0:
        return mask, smooth.shape[1] / 2
    sizes = ndimage.sum_labels(mask, lab, index=np.arange(1, n + 1))
    body = ndimage.binary_fill_holes(lab == int(np.argmax(sizes)) + 1)
    cols = np.nonzero(body)[1]
    return np.asarray(body, bool), float(np.median(cols))


def _attenuation_factor(
    body: NDArray[np.bool_], mid: float, px: tuple[float, float], aspect: float, mu: float
) -> NDArray[np.float64]:
    """e^(μT/2) per pixel, T from an elliptical trunk section of the row's body width."""
    cols = body.shape[1]
    width_mm = body.sum(axis=1) * px[1]
    half = np.maximum(width_mm / 2.0, 1e-6)[:, None]
    x = (np.arange(cols)[None, :] - mid) * px[1]
    thick = aspect * 2.0 * half * np.sqrt(np.clip(1.0 - (x / half) ** 2, 0.0, 1.0))
    return np.where(body, np.exp(mu * thick / 2.0), 1.0)


# --------------------------------------------------------------------------- organs
def _components(mask: NDArray[np.bool_]) -> tuple[NDArray[np.int32], int]:
    lab, n = ndimage.label(mask)
    return np.asarray(lab, np.int32), int(n)


def _levels(smooth: NDArray[np.float64], body: NDArray[np.bool_]) -> list[float]:
    """Threshold ladder: from the body's maximum down to its median in steps of 15 %
    (geometric, so that a hot bladder does not hide the organs)."""
    top, bottom = float(smooth[body].max()), float(np.median(smooth[body]))
    out: list[float] = []
    level = 0.85 * top
    while level >= bottom and len(out) < 60:
        out.append(level)
        level *= 0.85
    return out


def _grow(
    smooth: NDArray[np.float64],
    body: NDArray[np.bool_],
    seed: NDArray[np.bool_],
    start: float,
    levels: list[float],
    px: tuple[float, float],
) -> tuple[NDArray[np.bool_], float]:
    """Grow the component ``seed`` (found at level ``start``) down ``levels`` until it would
    merge with another component (≥ 10 cm² at the level above): the organ without its
    neighbours. Returns the mask and its level."""
    mask, level = seed, start
    prev_lab, _ = _components((smooth > start) & body)
    min_px = 1000.0 / (px[0] * px[1])
    for lv in [v for v in levels if v < start]:
        lab, _ = _components((smooth > lv) & body)
        k = np.bincount(lab[mask]).argmax() if mask.any() else 0
        if k == 0:
            break
        grown = lab == k
        others = np.unique(prev_lab[grown & ~mask & (prev_lab > 0)])
        sizes = [int(np.sum(prev_lab == o)) for o in others if not np.any((prev_lab == o) & mask)]
        if any(n >= min_px for n in sizes):
            break
        mask, level, prev_lab = grown, lv, lab
    return mask, level


def _find_liver(
    smooth: NDArray[np.float64],
    body: NDArray[np.bool_],
    mid: float,
    px: tuple[float, float],
) -> tuple[NDArray[np.bool_] | None, float]:
    """The liver's projection (module docstring, step 2) and its level relative to its
    central counts."""
    pix_area = px[0] * px[1]
    cols = np.arange(body.shape[1])[None, :]
    right = np.broadcast_to(cols < mid, body.shape)
    levels = _levels(smooth, body)
    for level in levels:
        lab, n = _components((smooth > level) & body)
        if n == 0:
            continue
        idx = np.arange(1, n + 1)
        area = ndimage.sum_labels(np.ones_like(lab), lab, idx) * pix_area
        on_right = ndimage.sum_labels(right, lab, idx) * pix_area / np.maximum(area, 1e-9)
        ok = (on_right >= 0.6) & (area >= 8000.0) & (area <= 90000.0)
        if ok.any():
            seed = lab == int(idx[ok][np.argmax(area[ok])])
            liver, at = _grow(smooth, body, seed, level, levels, px)
            values = smooth[liver]
            central = float(np.percentile(values[values <= 1.5 * np.median(values)], 95))
            return liver, min(at / central, 0.95)
    return None, 0.5


def _find_spleen(
    smooth: NDArray[np.float64],
    body: NDArray[np.bool_],
    mid: float,
    px: tuple[float, float],
    liver: NDArray[np.bool_] | None,
) -> tuple[NDArray[np.bool_] | None, float]:
    """The spleen's projection, grown down to 40 % of its peak (module docstring, step 2)."""
    pix_area = px[0] * px[1]
    rows, cols = _grid(body.shape)
    left = np.asarray(cols > mid)
    lowest = np.inf
    if liver is not None:
        lowest = float(rows[liver].mean()) + 50.0 / px[0]
    best: tuple[float, float, NDArray[np.bool_]] | None = None
    for level in _levels(smooth, body):
        lab, n = _components((smooth > level) & body)
        for k in range(1, n + 1):
            comp = lab == k
            area = comp.sum() * pix_area
            if area < 400.0 or left[comp].mean() < 0.9:
                continue
            r, c = rows[comp].mean(), cols[comp].mean()
            if (c - mid) * px[1] < 50.0 or r > lowest:
                continue
            peak = float(smooth[comp].max())
            if best is None or peak > best[0]:
                best = (peak, level, comp)
        if best is not None:
            break
    if best is None:
        return None, 0.5
    peak, level, comp = best
    ladder = [peak * f for f in (0.9, 0.8, 0.7, 0.6, 0.5, 0.4)]
    spleen, at = _grow(smooth, body, comp, level, ladder, px)
    return spleen, min(at / peak, 0.95)


def _reference(
    name: str,
    gm: NDArray[np.float64],
    corr: NDArray[np.float64],
    smooth: NDArray[np.float64],
    mask: NDArray[np.bool_] | None,
    level: float,
    lesion_area: NDArray[np.bool_],
    px: tuple[float, float],
    s: PlanarSettings,
    notes: list[str],
) -> ReferenceRoi | None:
    """Reference ROI: its mean GM counts and its intensity (attenuation-corrected counts per
    mm of the ellipsoid model's chord).

    The automatic ROI is the organ's projection where the smoothed GM is at least half
    its central counts (the organ's thick part), lesions (radius + FWHM) left out, and
    pixels within 0.7-1.3 × the ROI median (overlapping kidney, residual hot spots).
    """
    gm_c = gm * corr
    user = s.liver_roi if name == "liver" else s.spleen_roi
    volume_ml = s.liver_volume_ml if name == "liver" else s.spleen_volume_ml
    if volume_ml is None:
        from sstrkit.therapy.marrow import reference_mass_g

        sexes = [s.sex] if s.sex in ("M", "F") else ["M", "F"]
        volume_ml = float(np.mean([reference_mass_g(name, x) for x in sexes])) / _DENSITY[name]
    rows, cols = _grid(gm_c.shape)
    fwhm = float(s.blur_fwhm_mm or 0.0)
    found = mask is not None and int(mask.sum()) >= 20
    # the masks are cut on the GM smoothed by the blur once more: blur × √2 for the outline
    ellipse = (
        _ellipse(mask, level, px, fwhm * math.sqrt(2.0)) if mask is not None and found else None
    )
    roi: NDArray[np.bool_]
    if user is not None:
        r0, c0, rad = user[0] / px[0], user[1] / px[1], user[2]
        roi = np.asarray(((rows - r0) * px[0]) ** 2 + ((cols - c0) * px[1]) ** 2 <= rad**2)
        source = "user"
    elif mask is not None and found:
        values = smooth[mask]
        central = float(np.percentile(values[values <= 1.5 * np.median(values)], 95))
        roi = np.asarray(mask & (smooth >= 0.5 * central) & ~lesion_area)
        source = "automatic"
    else:
        return None
    if roi.sum() < 5:
        notes.append(f"{name} ROI has fewer than 5 pixels outside the lesions; not used")
        return None
    if ellipse is not None:
        rho, a_mm, c_mm = ellipse
        b_mm = 3.0 * volume_ml * MM3_PER_ML / (4.0 * math.pi * a_mm * c_mm)
        sharp = np.sqrt(np.clip(1.0 - rho**2, 0.0, None))
        blurred = ndimage.gaussian_filter(sharp, (fwhm / 2.3548) / np.asarray(px))
        chord = 2.0 * b_mm * np.maximum(blurred, 0.05)
    else:
        b_mm = (3.0 * volume_ml * MM3_PER_ML / (4.0 * math.pi)) ** (1.0 / 3.0)
        chord = np.full(gm_c.shape, 2.0 * b_mm * 0.9)
        notes.append(
            f"{name}: no organ outline for the thickness model; a sphere of the reference "
            f"volume ({volume_ml:.0f} mL) is assumed"
        )
    med = float(np.median(gm_c[roi]))
    roi = np.asarray(roi & (gm_c >= 0.7 * med) & (gm_c <= 1.3 * med))
    if roi.sum() < 5:
        return None
    # Conjugate-view source-thickness factor (Sorenson 1974): a uniform source of thickness
    # L gives √(AP) ∝ L·e^(−μT/2)·sinh(μL/2)/(μL/2); the e^(−μT/2) part is corrected already.
    half_mu = 0.5 * float(s.mu_per_mm or 0.0) * chord[roi]
    self_att = np.where(half_mu > 1e-9, np.sinh(half_mu) / np.maximum(half_mu, 1e-9), 1.0)
    intensity = float(np.mean(gm_c[roi] / (chord[roi] * self_att)))
    return ReferenceRoi(
        name=name,
        source=source,
        centroid_mm=(float(rows[roi].mean() * px[0]), float(cols[roi].mean() * px[1])),
        area_mm2=float(roi.sum() * px[0] * px[1]),
        mean_counts=float(gm[roi].mean()),
        thickness_mm=float(chord[roi].mean()),
        intensity=intensity,
        mask=roi,
    )


def _ellipse(
    mask: NDArray[np.bool_], level: float, px: tuple[float, float], fwhm: float
) -> tuple[NDArray[np.float64], float, float]:
    """Normalised radius ρ per pixel and semi-axes (mm) of the ellipsoid behind ``mask``.

    ``mask`` is the region above ``level`` × the organ's central counts; its semi-axes
    (from its second moments) are those of the outline where the camera-blurred chord
    profile of the ellipsoid falls to ``level`` (:func:`_outline_semi_axis`).
    """
    rows, cols = np.nonzero(mask)
    y, x = rows * px[0], cols * px[1]
    cy, cx = y.mean(), x.mean()
    cov = np.cov(np.vstack([y - cy, x - cx]))
    evals, evecs = np.linalg.eigh(cov)
    cut = 2.0 * np.sqrt(np.maximum(evals, 1e-6))
    axes = [_outline_semi_axis(float(m), level, fwhm / 2.3548) for m in cut]
    yy, xx = np.indices(mask.shape)
    d = np.stack([yy * px[0] - cy, xx * px[1] - cx], axis=-1) @ evecs
    rho = np.sqrt((d[..., 0] / axes[0]) ** 2 + (d[..., 1] / axes[1]) ** 2)
    return rho, float(axes[0]), float(axes[1])


def _outline_semi_axis(cut_mm: float, level: float, sigma_mm: float) -> float:
    """Semi-axis a whose blurred chord profile √(1 − x²/a²) ⊗ G(σ) falls to ``level`` × its
    centre at ``cut_mm`` (1-D profile along the axis; bisection for a in 0.8-2.5 × cut).

    >>> round(_outline_semi_axis(math.sqrt(1 - 0.5**2) * 100.0, 0.5, 0.0))
    100
    """
    step = max(cut_mm / 400.0, 0.05)

    def crossing(a: float) -> float:
        x = np.arange(0.0, a + 4.0 * sigma_mm + step, step)
        full = np.concatenate([-x[:0:-1], x])
        prof = np.sqrt(np.clip(1.0 - (full / a) ** 2, 0.0, None))
        if sigma_mm > 0:
            prof = ndimage.gaussian_filter1d(prof, sigma_mm / step, mode="constant")
        above = np.nonzero(prof[len(x) - 1 :] >= level * prof[len(x) - 1])[0]
        return float(x[above[-1]]) if above.size else 0.0

    lo, hi = 0.8 * cut_mm, 2.5 * cut_mm  # the crossing grows with a: bisection
    if crossing(hi) <= cut_mm:
        return hi
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if crossing(mid) < cut_mm else (lo, mid)
        if hi - lo < step:
            break
    return 0.5 * (lo + hi)


def _organ_field(
    mask: NDArray[np.bool_], level: float, px: tuple[float, float], fwhm: float
) -> NDArray[np.float64]:
    """The organ's ellipsoid chord profile √(1 − ρ²), blurred by the camera: a background
    shape the lesion fits include, so that an organ's own dome is not read as a lesion."""
    rho, _, _ = _ellipse(mask, level, px, fwhm * math.sqrt(2.0))  # mask cut on the smoothed GM
    chord = np.sqrt(np.clip(1.0 - rho**2, 0.0, None))
    return np.asarray(ndimage.gaussian_filter(chord, (fwhm / 2.3548) / np.asarray(px)))
