"""Partial-volume-corrected T/N on the 99mTc-MAA SPECT: the geometric transfer matrix.

The SPECT's blur spreads the counts of a hot tumour into the normal liver around it (and
cold normal liver into the tumour): the measured tumour mean falls, the normal-liver mean
rises, and the measured T/N (:func:`sstrkit.sirt.plan_uptake.tumour_to_normal`) reads low.
:func:`gtm_tumour_to_normal` corrects the region means with the geometric transfer matrix
(GTM; Rousset OG, Ma Y, Evans AC, J Nucl Med 1998;39:904-911) of
:func:`sstrkit.therapy.pvc.pv_corrected_doses` — the code the post-implant 90Y dosimetry
uses for its corrected means (:mod:`sstrkit.sirt.y90_dose`), on the label map of
:func:`sstrkit.sirt.dose_vois.gtm_labels` — applied to the activity concentration (the
GTM is linear in the image: Bq/mL in, Bq/mL out; the ``*_gy`` names of
:class:`~sstrkit.therapy.pvc.PvcRegion` are that module's).

GTM regions: each tumour VOI, the normal liver (the liver VOI without the tumours), the
lungs when there is a lung VOI, and the rest of the field of view as one region. Each is
taken as uniform; the blur as an isotropic Gaussian of ``fwhm_mm`` — the SPECT's
reconstructed resolution, whose source the caller names (``--spect-fwhm-mm`` > the
manifest's ``fwhm_mm`` > an estimate from the DICOM header, flagged; without one there is
no corrected value: :func:`sstrkit.pipeline.sirt_inputs.load_maa_inputs`). Corrected
T/N = corrected mean concentration of the union of the tumour VOIs (volume-weighted over
the lesions) over that of the normal liver, and per lesion.

Not modelled (each one lowers the corrected T/N: it stays on the low side, never above the
truth by these): breathing motion of the liver during a free-breathing SPECT (an extra
blur along the body axis), VOI misregistration, and tumour non-uniformity (necrosis).
Lesions below :data:`~sstrkit.sirt.y90_dose.SMALL_VOI_RESOLUTION_VOLUMES` resolution
volumes (a sphere of 3 FWHM diameter; Soret M et al., J Nucl Med 2007;48:932-945) are
flagged: their corrected T/N depends strongly on the VOI's edge and the PSF model.

Examples
--------
A 3-voxel hot cube (T/N 6) in a uniform liver block, blurred by a 12 mm Gaussian:

>>> import numpy as np
>>> from scipy import ndimage
>>> from sstrkit.core.volume import Volume
>>> from sstrkit.therapy.pvc import gaussian_sigma_voxels
>>> liver = np.zeros((20, 20, 20), bool); liver[3:17, 3:17, 3:17] = True
>>> t = np.zeros_like(liver); t[8:11, 8:11, 8:11] = True
>>> true = np.where(t, 6.0, np.where(liver, 1.0, 0.0))
>>> img = ndimage.gaussian_filter(true, gaussian_sigma_voxels(12.0, (4.0,) * 3), mode="constant")
>>> spect = Volume.from_array(img, spacing=(4.0, 4.0, 4.0), unit="Bq/mL")
>>> pvc = gtm_tumour_to_normal(spect, tumours={"lesion_1": t}, liver=liver, fwhm_mm=12.0,
...                            fwhm_source="given")
>>> round(float(img[t].mean() / img[liver & ~t].mean()), 2), round(pvc.ratio, 6)
(3.07, 6.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from sstrkit.therapy.pvc import PvcRegion

from sstrkit.core.provenance import Step
from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError

__all__ = [
    "PVC_METHOD",
    "LesionPvc",
    "TnPvc",
    "check_fwhm_mm",
    "gtm_tumour_to_normal",
]

#: The one partial-volume method of the MAA T/N (the post-implant side's default too).
PVC_METHOD: Final = "gtm"
#: The GTM regions of the MAA T/N (besides one per tumour VOI).
GTM_REGIONS_NOTE: Final = (
    "each tumour VOI, the normal liver (liver VOI without the tumours), the lungs (when a "
    "lung VOI exists) and the rest of the field of view as one region"
)
SOURCE_GTM: Final = "Rousset OG, Ma Y, Evans AC. J Nucl Med 1998;39:904-911 (GTM)"
_LESION_KEY: Final = "lesion:"


@dataclass(frozen=True)
class LesionPvc:
    """One tumour VOI: GTM-corrected mean concentration, T/N, its self-recovery (the
    fraction of its own blurred signal that stays inside it) and its size in resolution
    volumes (spheres of FWHM diameter)."""

    name: str
    mean: float
    tumour_to_normal: float
    self_recovery: float
    resolution_volumes: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mean": self.mean,
            "tumour_to_normal": self.tumour_to_normal,
            "self_recovery": self.self_recovery,
            "resolution_volumes": self.resolution_volumes,
        }


@dataclass(frozen=True)
class TnPvc:
    """The partial-volume-corrected T/N (all tumour, per lesion), how it was made and its flags.

    ``fwhm_source`` says where ``fwhm_mm`` came from (``--spect-fwhm-mm``, the manifest,
    or ``estimated from the DICOM header (...)``); ``regions``: the GTM regions;
    ``condition_number``: of the transfer matrix.
    """

    ratio: float
    tumour_mean: float
    normal_liver_mean: float
    unit: str
    method: str
    fwhm_mm: float
    fwhm_source: str
    lesions: tuple[LesionPvc, ...]
    regions: tuple[str, ...]
    condition_number: float
    flags: tuple[str, ...] = ()
    provenance: tuple[Step, ...] = ()

    def lesion(self, name: str) -> LesionPvc | None:
        """The corrected values of lesion ``name`` (None if it has none)."""
        return next((le for le in self.lesions if le.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ratio": self.ratio,
            "tumour_mean": self.tumour_mean,
            "normal_liver_mean": self.normal_liver_mean,
            "unit": self.unit,
            "method": self.method,
            "fwhm_mm": self.fwhm_mm,
            "fwhm_source": self.fwhm_source,
            "lesions": [le.to_dict() for le in self.lesions],
            "regions": list(self.regions),
            "condition_number": self.condition_number,
            "flags": list(self.flags),
            "provenance": [s.to_dict() for s in self.provenance],
        }


def check_fwhm_mm(fwhm_mm: float, what: str = "SPECT resolution (FWHM, mm)") -> float:
    """``fwhm_mm`` as a float, or :class:`~sstrkit.errors.InvalidInputError` if not > 0."""
    value = float(fwhm_mm)
    if not (math.isfinite(value) and value > 0):
        raise InvalidInputError(
            what,
            expected="a finite value > 0 mm",
            actual=fwhm_mm,
            fix="give the reconstructed MAA SPECT resolution (e.g. --spect-fwhm-mm 12), "
            "measured on a phantom",
        )
    return value


def _lesions_and_flags(
    spect: Volume,
    res: Mapping[str, PvcRegion],
    lab: NDArray[np.int32],
    regions: Mapping[str, tuple[int, ...]],
    key: Mapping[str, str],
    n_mean: float,
    fwhm: float,
    fwhm_source: str,
) -> tuple[tuple[LesionPvc, ...], tuple[str, ...]]:
    """Each lesion's corrected values; the flags of the correction (method, small VOIs)."""
    from sstrkit.sirt.y90_dose import SMALL_VOI_RESOLUTION_VOLUMES
    from sstrkit.therapy.pvc import resolution_volumes

    vml = spect.voxel_volume_ml
    lesions = []
    flags = [
        f"GTM partial-volume-corrected T/N (isotropic Gaussian of {fwhm:.1f} mm FWHM from "
        f"{fwhm_source}): breathing motion, VOI misregistration and tumour non-uniformity are "
        "not modelled (each leaves it low)"
    ]
    for name in sorted(key):
        r = res.get(key[name])
        if r is None:  # its voxels all belong to other (overlapping) tumour VOIs
            flags.append(f"{name}: no voxel of its own in the GTM label map (overlap): no value")
            continue
        vol = float(np.count_nonzero(lab == regions[key[name]][0])) * vml
        n_res = resolution_volumes(vol, fwhm)
        lesions.append(
            LesionPvc(
                name,
                r.corrected_mean_gy,
                r.corrected_mean_gy / n_mean,
                float(r.details.get("self_recovery", math.nan)),
                n_res,
            )
        )
    small = [
        f"{le.name} ({le.resolution_volumes:.0f})"
        for le in lesions
        if le.resolution_volumes < SMALL_VOI_RESOLUTION_VOLUMES
    ]
    if small:
        flags.append(
            f"tumour VOIs below {SMALL_VOI_RESOLUTION_VOLUMES:g} resolution volumes (spheres of "
            f"{fwhm:.1f} mm): {', '.join(small)}: their corrected T/N depends strongly on the "
            "VOI's edge and the PSF model"
        )
    return tuple(lesions), tuple(flags)


def gtm_tumour_to_normal(
    spect: Volume,
    *,
    tumours: Mapping[str, NDArray[Any]],
    liver: NDArray[Any],
    fwhm_mm: float,
    fwhm_source: str,
    lungs: NDArray[Any] | None = None,
) -> TnPvc:
    """GTM-corrected T/N of ``tumours`` over the normal liver (module docstring).

    Masks are on the SPECT grid (as :func:`~sstrkit.sirt.plan_uptake.tumour_to_normal`
    checks); ``liver`` is the liver VOI, tumours included or not. Raises
    :class:`~sstrkit.errors.InvalidInputError` when the corrected normal-liver
    concentration is not > 0 (no ratio can be formed).
    """
    from sstrkit.sirt.dose_vois import VoiMask, gtm_labels
    from sstrkit.therapy.pvc import pv_corrected_doses

    fwhm = check_fwhm_mm(fwhm_mm)
    union = np.zeros(spect.shape, dtype=bool)
    for m in tumours.values():
        union |= np.asarray(m, dtype=bool)
    masks = [
        VoiMask("tumour", "tumour", union),
        VoiMask("normal_liver", "normal_liver", np.asarray(liver, dtype=bool) & ~union),
    ]
    if lungs is not None and np.asarray(lungs).any():
        masks.append(VoiMask("lungs", "lungs", np.asarray(lungs, dtype=bool)))
    key = {n: f"{_LESION_KEY}{n}" for n in tumours}  # never clashes with "tumour", "liver"...
    masks += [
        VoiMask(key[n], "lesion", np.asarray(m, dtype=bool)) for n, m in sorted(tumours.items())
    ]
    # a uniform "density": the rest of the field of view is one region (label 1)
    lab, regions = gtm_labels(tuple(masks), np.ones(spect.shape))
    gtm_regions = ("rest", *(n for n in ("normal_liver", "lungs") if n in regions))
    gtm_regions += tuple(n for n in sorted(tumours) if key[n] in regions)
    res, step = pv_corrected_doses(
        np.asarray(spect.array, dtype=np.float64),
        lab,
        regions,
        method=PVC_METHOD,
        fwhm_mm=fwhm,
        spacing_mm=spect.spacing,
        inputs=tuple(n for n in (spect.name,) if n),
    )
    normal = res.get("normal_liver")
    tumour = res.get("tumour")
    if normal is None or tumour is None:
        raise InvalidInputError(
            "GTM regions", expected="a tumour and a normal-liver region", actual=sorted(res)
        )
    n_mean = normal.corrected_mean_gy
    if not (math.isfinite(n_mean) and n_mean > 0):
        raise InvalidInputError(
            "GTM-corrected normal-liver MAA concentration",
            expected="> 0",
            actual=n_mean,
            fix="check the liver and tumour VOIs against the SPECT and the FWHM",
        )
    lesions, flags = _lesions_and_flags(spect, res, lab, regions, key, n_mean, fwhm, fwhm_source)
    cond = float(normal.details.get("condition_number", math.nan))
    tn_step = Step.make(
        "tumour_to_normal_pvc",
        {
            "method": PVC_METHOD,
            "fwhm_mm": fwhm,
            "fwhm_source": fwhm_source,
            "regions": GTM_REGIONS_NOTE,
            "gtm_regions": list(gtm_regions),
            "condition_number": cond,
        },
        inputs=tuple(n for n in (spect.name,) if n),
        sources=(SOURCE_GTM,),
    )
    return TnPvc(
        ratio=tumour.corrected_mean_gy / n_mean,
        tumour_mean=tumour.corrected_mean_gy,
        normal_liver_mean=n_mean,
        unit=spect.unit,
        method=PVC_METHOD,
        fwhm_mm=fwhm,
        fwhm_source=fwhm_source,
        lesions=lesions,
        regions=gtm_regions,
        condition_number=cond,
        flags=flags,
        provenance=(step, tn_step),
    )
