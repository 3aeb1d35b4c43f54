"""Tumour-to-normal-liver ratio (T/N) from a 99mTc-MAA SPECT/CT, tumour VOIs, masses.

**T/N** is the ratio of mean activity concentrations, tumour over normal liver, read on
the MAA SPECT with tumour and normal-liver VOIs on its grid (the partition model's r,
Ho S et al., Eur J Nucl Med 1996;23:947-952). It is given for all perfused tumour
together (the mean concentration of the union of the tumour VOIs: the r of the
partition model) and for each lesion. The normal liver is the liver VOI without the
tumours; ``tumour_margin_mm`` also leaves out a shell around each tumour (SPECT
spill-out of hot tumours raises the normal-liver mean and lowers T/N — the
conservative side for the normal-liver dose, so the default margin is 0).

**Partial-volume correction**: with the SPECT's resolution (``fwhm_mm``, its source named
by ``fwhm_source``) the result also holds the T/N corrected by the geometric transfer
matrix (:attr:`TumourToNormal.pvc`, :mod:`sstrkit.sirt.plan_tn_pvc`: the GTM of the
post-implant dosimetry, regions = each tumour VOI, the normal liver, the ``lungs`` and the
rest). Without a resolution there is no corrected value, and :attr:`TumourToNormal.pvc_note`
and a flag say why — a FWHM is never assumed. The measured value stays the ratio.

**Automatic tumour VOIs** (:func:`threshold_tumours`, flagged as automatic): the MAA
CT of a work-up is a low-dose CT without contrast, on which liver metastases are not
seen, so tumours are read on the SPECT: connected regions of voxels whose
concentration is at least ``factor`` (default :data:`TUMOUR_THRESHOLD_FACTOR` = 2)
times the median liver concentration — the median is the normal-liver level while
tumours fill less than half the liver — of at least ``min_volume_ml`` (1 mL), that
reach the liver VOI or come within ``search_margin_mm`` (10 mm) of it: a whole region
is kept, also where it leaves the liver VOI (an automatic CT liver VOI tends to leave
out hot tumours at the liver's edge); ``exclude`` (the lungs) is never a tumour. It is
a relative threshold like the liver-relative lesion thresholds of
:mod:`sstrkit.reading.detection`; it misses lesions with T/N below the factor, and the
SPECT blur lets the VOIs of small lesions take in normal liver (T/N of small lesions
too low).

**Masses**: volume × density, the density from the CT (HU → g/mL by
:data:`sstrkit.therapy.region_activity.DEFAULT_HU_DENSITY`, mean over the VOI, so that the
lungs' air and tissue are weighed as they are: CT densitovolumetry, Kao YH et al.,
EJNMMI Res 2014;4:33), or the ICRP-110 reference density without a CT.

Examples
--------
>>> import numpy as np
>>> from sstrkit.core.volume import Volume
>>> a = np.ones((4, 4, 4)); a[0, 0, :2] = 5.0
>>> spect = Volume.from_array(a, spacing=(10.0, 10.0, 10.0), unit="Bq/mL")
>>> t = np.zeros(a.shape, bool); t[0, 0, :2] = True
>>> round(tumour_to_normal(spect, tumours={"lesion_1": t}, liver=np.ones(a.shape, bool)).ratio, 3)
5.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.provenance import Step
from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.sirt.plan_tn_pvc import TnPvc, check_fwhm_mm, gtm_tumour_to_normal

__all__ = [
    "NO_FWHM_NOTE",
    "TUMOUR_THRESHOLD_FACTOR",
    "LesionUptake",
    "TumourSegmentation",
    "TumourToNormal",
    "mass_g",
    "threshold_tumours",
    "tumour_to_normal",
]

#: Automatic tumour VOIs: concentration ≥ this × the median liver concentration.
TUMOUR_THRESHOLD_FACTOR: Final = 2.0
HO_1996 = "Ho S et al. Eur J Nucl Med 1996;23:947-952 (partition model, T/N ratio)"
#: Why there is no partial-volume-corrected T/N when no resolution is known.
NO_FWHM_NOTE: Final = (
    "MAA SPECT resolution unknown (no --spect-fwhm-mm, no manifest fwhm_mm, no estimate from "
    "the DICOM header)"
)


def _on_grid(m: NDArray[Any], spect: Volume, name: str) -> NDArray[np.bool_]:
    a = np.asarray(m, dtype=bool)
    if a.shape != spect.shape:
        raise GeometryMismatchError(
            f"{name} VOI",
            expected=f"a mask on the SPECT grid {spect.shape}",
            actual=a.shape,
            fix="resample the label map onto the SPECT (nearest neighbour)",
        )
    return a


@dataclass(frozen=True)
class LesionUptake:
    """One tumour VOI: mean concentration (SPECT unit), volume, T/N."""

    name: str
    mean: float
    volume_ml: float
    tumour_to_normal: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mean": self.mean,
            "volume_ml": self.volume_ml,
            "tumour_to_normal": self.tumour_to_normal,
        }


@dataclass(frozen=True)
class TumourToNormal:
    """T/N of all perfused tumour (``ratio``) and per lesion, with the means it came from.

    ``ratio`` is the measured (uncorrected) T/N. ``pvc``: the partial-volume-corrected T/N
    (GTM, with its FWHM and the FWHM's source), None without a resolution or when the
    correction failed — ``pvc_note`` then says why.
    """

    ratio: float
    tumour_mean: float
    normal_liver_mean: float
    unit: str
    tumour_volume_ml: float
    normal_liver_volume_ml: float
    lesions: tuple[LesionUptake, ...]
    flags: tuple[str, ...] = ()
    provenance: Step = field(default_factory=lambda: Step.make("tumour_to_normal"))
    pvc: TnPvc | None = None
    pvc_note: str = ""

    @property
    def pvc_ratio(self) -> float | None:
        """The partial-volume-corrected T/N, None without one."""
        return None if self.pvc is None else self.pvc.ratio

    def to_dict(self) -> dict[str, Any]:
        return {
            "ratio": self.ratio,
            "pvc_ratio": self.pvc_ratio,
            "tumour_mean": self.tumour_mean,
            "normal_liver_mean": self.normal_liver_mean,
            "unit": self.unit,
            "tumour_volume_ml": self.tumour_volume_ml,
            "normal_liver_volume_ml": self.normal_liver_volume_ml,
            "lesions": [le.to_dict() for le in self.lesions],
            "flags": list(self.flags),
            "provenance": self.provenance.to_dict(),
            "pvc": None if self.pvc is None else self.pvc.to_dict(),
            "pvc_note": self.pvc_note or None,
        }


def _pvc(
    spect: Volume,
    masks: Mapping[str, NDArray[np.bool_]],
    liver: NDArray[np.bool_],
    lungs: NDArray[Any] | None,
    fwhm_mm: float | None,
    fwhm_source: str | None,
    fwhm_note: str,
) -> tuple[TnPvc | None, str]:
    """The GTM-corrected T/N, or None and why."""
    if fwhm_mm is None:
        return None, NO_FWHM_NOTE + (f": {fwhm_note}" if fwhm_note else "")
    fwhm = check_fwhm_mm(fwhm_mm)
    lung_m = None if lungs is None else _on_grid(lungs, spect, "lungs")
    try:
        pvc = gtm_tumour_to_normal(
            spect,
            tumours=masks,
            liver=liver,
            lungs=lung_m,
            fwhm_mm=fwhm,
            fwhm_source=fwhm_source or "given",
        )
    except InvalidInputError as exc:
        return None, f"GTM correction failed: {exc.one_line()}"
    return pvc, ""


def tumour_to_normal(
    spect: Volume,
    *,
    tumours: Mapping[str, NDArray[Any]],
    liver: NDArray[Any],
    tumour_margin_mm: float = 0.0,
    lungs: NDArray[Any] | None = None,
    fwhm_mm: float | None = None,
    fwhm_source: str | None = None,
    fwhm_note: str = "",
) -> TumourToNormal:
    """T/N on ``spect`` from tumour VOIs and the liver VOI (tumours included or not).

    The normal liver is ``liver`` without the tumours (and without a
    ``tumour_margin_mm`` shell around them). With ``fwhm_mm`` (the SPECT's resolution,
    from ``fwhm_source``) also the GTM partial-volume-corrected T/N, ``lungs`` one of its
    regions (module docstring); without it ``fwhm_note`` may say why there is none.
    """
    if not tumours:
        raise InvalidInputError("tumour VOIs", expected="at least one", actual="none")
    liver_m = _on_grid(liver, spect, "liver")
    masks = {n: _on_grid(m, spect, f"tumour {n!r}") for n, m in tumours.items()}
    union = np.zeros(spect.shape, dtype=bool)
    for n, m in masks.items():
        if not m.any():
            raise InvalidInputError(
                f"tumour VOI {n!r}", expected="at least one voxel", actual="empty"
            )
        union |= m
    excluded = union
    if tumour_margin_mm > 0:
        spacing_zyx = tuple(float(s) for s in spect.spacing[::-1])
        excluded = ndimage.distance_transform_edt(~union, sampling=spacing_zyx) <= tumour_margin_mm
    normal = liver_m & ~excluded
    if not normal.any():
        raise InvalidInputError(
            "normal liver VOI", expected="liver voxels outside the tumours", actual="none"
        )
    values = np.asarray(spect.array, dtype=np.float64)
    n_mean = float(values[normal].mean())
    if not (math.isfinite(n_mean) and n_mean > 0):
        raise InvalidInputError(
            "normal-liver MAA concentration",
            expected="> 0 (perfused normal liver)",
            actual=n_mean,
            fix="check the liver VOI and the SPECT",
        )
    flags: list[str] = []
    outside = union & ~liver_m
    if outside.any():
        flags.append(
            f"{outside.sum() * spect.voxel_volume_ml:.1f} mL of tumour VOI lies outside the liver "
            "VOI (kept in the tumour)"
        )
    vml = spect.voxel_volume_ml
    lesions = tuple(
        LesionUptake(
            n, float(values[m].mean()), float(m.sum()) * vml, float(values[m].mean()) / n_mean
        )
        for n, m in sorted(masks.items())
    )
    t_mean = float(values[union].mean())
    pvc, pvc_note = _pvc(spect, masks, liver_m, lungs, fwhm_mm, fwhm_source, fwhm_note)
    if pvc is None:
        flags.append(f"no partial-volume-corrected T/N: {pvc_note}")
    else:
        flags.extend(pvc.flags)
    params = {
        "tumour_margin_mm": tumour_margin_mm,
        "lesions": sorted(masks),
        "pvc_fwhm_mm": None if pvc is None else pvc.fwhm_mm,
        "pvc_fwhm_source": None if pvc is None else pvc.fwhm_source,
    }
    return TumourToNormal(
        ratio=t_mean / n_mean,
        tumour_mean=t_mean,
        normal_liver_mean=n_mean,
        unit=spect.unit,
        tumour_volume_ml=float(union.sum()) * vml,
        normal_liver_volume_ml=float((liver_m & ~union).sum()) * vml,
        lesions=lesions,
        flags=tuple(flags),
        provenance=Step.make("tumour_to_normal_ratio", params, sources=(HO_1996,)),
        pvc=pvc,
        pvc_note=pvc_note,
    )


@dataclass(frozen=True)
class TumourSegmentation:
    """Automatic tumour VOIs on the SPECT grid (name → mask), the threshold and the method."""

    masks: Mapping[str, NDArray[np.bool_]]
    threshold: float
    reference: float
    method: str
    flags: tuple[str, ...] = ()


def threshold_tumours(
    spect: Volume,
    liver: NDArray[Any],
    *,
    factor: float = TUMOUR_THRESHOLD_FACTOR,
    min_volume_ml: float = 1.0,
    search_margin_mm: float = 10.0,
    exclude: NDArray[Any] | None = None,
) -> TumourSegmentation:
    """Tumour VOIs: liver voxels ≥ ``factor`` × the median liver concentration
    (module docstring)."""
    liver_m = _on_grid(liver, spect, "liver")
    if not liver_m.any():
        raise InvalidInputError("liver VOI", expected="at least one voxel", actual="empty")
    if not (math.isfinite(factor) and factor > 1.0):
        raise InvalidInputError("tumour threshold factor", expected="> 1", actual=factor)
    values = np.asarray(spect.array, dtype=np.float64)
    reference = float(np.median(values[liver_m]))
    if reference <= 0:
        raise InvalidInputError(
            "median liver MAA concentration",
            expected="> 0",
            actual=reference,
            fix="check the liver VOI (is the liver perfused in this MAA study?)",
        )
    threshold = factor * reference
    hot = values >= threshold
    if exclude is not None:
        hot &= ~_on_grid(exclude, spect, "excluded")
    lab, n = ndimage.label(hot)
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    spacing_zyx = tuple(float(s) for s in spect.spacing[::-1])
    near = ndimage.distance_transform_edt(~liver_m, sampling=spacing_zyx) <= search_margin_mm
    touching = set(np.unique(lab[near & hot]).tolist()) - {0}
    min_voxels = min_volume_ml / spect.voxel_volume_ml
    kept = [k for k in range(1, n + 1) if sizes[k] >= min_voxels and k in touching]
    kept.sort(key=lambda k: -float(values[lab == k].sum()))
    masks = {f"lesion_{i + 1}": lab == k for i, k in enumerate(kept)}
    flags = [
        f"tumour VOIs found automatically on the MAA SPECT ({len(masks)}: concentration >= "
        f"{factor:g} × the median liver concentration, >= {min_volume_ml:g} mL): check them"
    ]
    volume = sum(float(m.sum()) for m in masks.values())
    if volume > 0.4 * float(liver_m.sum()):
        flags.append(
            "automatic tumour VOIs fill over 40 % of the liver: the median liver concentration "
            "may not be the normal-liver level; give tumour VOIs"
        )
    method = (
        f"MAA SPECT threshold: >= {factor:g} × median liver concentration ({reference:.4g} "
        f"{spect.unit}), connected regions >= {min_volume_ml:g} mL within "
        f"{search_margin_mm:g} mm of the liver VOI"
    )
    return TumourSegmentation(masks, threshold, reference, method, tuple(flags))


def mass_g(
    mask: NDArray[Any],
    voxel_volume_ml: float,
    *,
    density_g_ml: NDArray[Any] | None = None,
    reference_density_g_ml: float = 1.05,
) -> tuple[float, str]:
    """Mass (g) of ``mask``: Σ voxel density × voxel volume with ``density_g_ml`` (a density
    map on the mask's grid, e.g. :func:`sstrkit.therapy.region_activity.density_from_ct`),
    else volume × ``reference_density_g_ml``; and the density's source."""
    m = np.asarray(mask, dtype=bool)
    if density_g_ml is not None:
        rho = np.asarray(density_g_ml, dtype=np.float64)
        if rho.shape != m.shape:
            raise GeometryMismatchError(
                "density map", expected=f"the mask's grid {m.shape}", actual=rho.shape
            )
        return float(rho[m].sum()) * voxel_volume_ml, "CT (HU → density, mean over the VOI)"
    return (
        float(m.sum()) * voxel_volume_ml * reference_density_g_ml,
        f"reference density {reference_density_g_ml:g} g/mL (ICRP Publication 110; no CT)",
    )
