"""Post-implant 90Y dosimetry: quantification of a 90Y PET or bremsstrahlung SPECT, dose maps.

90Y microspheres are a **permanent implant**: the spheres stay where they lodged and the
activity leaves only by physical decay, so the time-integrated activity of a voxel is
Ã = A₀ · τ with τ = T½ / ln 2 (A₀: its activity at the implant time). Two dose methods
(Levillain H et al., international recommendations for personalised SIRT with 90Y resin
microspheres, Eur J Nucl Med Mol Imaging 2021;48:1570-1584; Dezarn WA et al., AAPM
TG-144, Med Phys 2011;38:4824-4845):

``ldm`` — local deposition
    All β energy is absorbed in the voxel it is emitted from:
    D = E · A₀ / m with E = :data:`sstrkit.sirt.physics.Y90_ENERGY_J_PER_GBQ` (≈ 49.76
    J/GBq, ICRP 107) and the voxel mass m = ρ(HU) · V from the CT
    (:func:`sstrkit.therapy.voxel_dose.density_from_ct`, the package's HU → density
    calibration). Pasciak AS et al. (Front Oncol 2014;4:121) showed that the PET's own
    resolution blurs the activity about as much as the 90Y β range would, which is why
    LDM on a PET is a fair estimate of the absorbed dose.
``voxel`` — voxel S-value convolution
    D = Ã ⊛ S with the 90Y voxel S values of :mod:`sstrkit.physics.kernels` for the image
    voxel, by :func:`sstrkit.therapy.voxel_dose.dose_map` (real-FFT linear convolution,
    density-weighted by ρ₀/ρ(HU)).

Both methods set the dose of voxels below 0.05 g/cm³ (air, below −950 HU) to 0, like
:func:`~sstrkit.therapy.voxel_dose.dose_map`. When both are computed, LDM is the primary
method (the MAA comparison, the RTDOSE, the liver BED): the voxel-S dose of an image that
the scanner has already blurred blurs the dose a second time.

Quantification caveats (each one is recorded in :attr:`Y90Dosimetry.flags`)
-------------------------------------------------------------------------------
* **90Y PET counts few events**: the internal-pair positron branch is 3.186·10⁻⁵ per
  decay (Selwyn RG et al., Med Phys 2007;34:524-530; review: D'Arienzo M, Atoms
  2013;1:2-12), which the scanner's 90Y calibration applies: the image is read as Bq/mL
  of 90Y. The images are noisy: VOI **means** are reported (D2/D98 as near-max/near-min,
  never the maximum or minimum voxel), negative voxels are kept in the activity and the
  LDM dose (clipping them would bias low-activity VOIs upwards; the voxel-S dose, a
  convolution that averages the noise, is clipped at 0 by ``dose_map``), an optional
  Gaussian smoothing is stated when applied, and VOIs smaller than 27 resolution volumes
  (a sphere of the scanner FWHM; 27 of them make a sphere of 3 FWHM diameter, below
  which partial-volume losses are large: Soret M, Bacharach SL, Buvat I, J Nucl Med
  2007;48:932-945) are flagged.
* **The nuclide** named by the DICOM header must be Y-90
  (:class:`~sstrkit.errors.InvalidInputError` otherwise); the **decay-correction
  reference** is read (START or NONE: the activity at
  the scan, decayed back to the implant; ADMIN: already at the implant).
* **Field of view vs implanted activity**: the activity in the field of view over the net
  implanted activity is reported; outside 1 ± :data:`FOV_RATIO_TOLERANCE` it is flagged.
  ``rescale_to_implanted=True`` scales the image to the implanted activity (flagged: it
  assumes that every sphere lies inside the field of view).
* **Bremsstrahlung SPECT** is converted with a calibration factor (cps/MBq) and the
  acquisition duration, or — without them — normalised to the implanted activity (flagged);
  its quantification is poorer than PET's (scatter and attenuation of a continuous spectrum).

Examples
--------
>>> import numpy as np
>>> from sstrkit.core.volume import Volume
>>> a = Volume.from_array(np.full((2, 2, 2), 1e6), spacing=(4.0, 4.0, 4.0), unit="Bq")
>>> rho = np.full((2, 2, 2), 1.0)
>>> d = ldm_dose(a, rho)     # 1 MBq in 0.064 g: 49.76 J/GBq · 1e-3 GBq / 6.4e-5 kg
>>> round(float(d.array[0, 0, 0]), 1)
777.5
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.provenance import Step
from sstrkit.core.units import BQ_PER_GBQ, BQ_PER_MBQ, G_PER_KG
from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.physics.kernels import VoxelKernel, voxel_kernel
from sstrkit.physics.nuclides import get_nuclide, normalise_name
from sstrkit.sirt.dose_results import MaaComparison, Y90Dosimetry, Y90RegionDose
from sstrkit.sirt.dose_vois import VoiMask, Y90Vois, gtm_labels, region_masks
from sstrkit.sirt.physics import ENERGY_SOURCES, Y90, Y90_ENERGY_J_PER_GBQ, Y90_HALF_LIFE_S
from sstrkit.therapy.voxel_dose import (
    AIR_DENSITY_G_ML,
    DEFAULT_HU_DENSITY,
    default_half_size,
    density_from_ct,
)

__all__ = [
    "AIR_DENSITY_G_ML",
    "DEFAULT_D_LEVELS",
    "DEFAULT_THRESHOLDS_GY",
    "FOV_RATIO_TOLERANCE",
    "LEVILLAIN_2021",
    "SMALL_VOI_RESOLUTION_VOLUMES",
    "ImplantActivity",
    "MaaComparison",
    "Y90Dosimetry",
    "Y90Image",
    "Y90Kind",
    "Y90RegionDose",
    "Y90Vois",
    "check_y90",
    "density_on_grid",
    "implant_activity",
    "ldm_dose",
    "region_mean_gy",
    "resolution_volumes",
    "voxel_s_dose",
    "y90_dosimetry",
]

Y90Kind = Literal["pet", "spect"]
DecayReference = Literal["START", "ADMIN", "NONE"]

LEVILLAIN_2021: Final = (
    "Levillain H et al. International recommendations for personalised selective internal "
    "radiation therapy of primary and metastatic liver diseases with yttrium-90 resin "
    "microspheres. Eur J Nucl Med Mol Imaging 2021;48:1570-1584"
)
PASCIAK_2014: Final = (
    "Pasciak AS, Bourgeois AC, Bradley YC. A comparison of techniques for 90Y PET/CT "
    "image-based dosimetry following radioembolization with resin microspheres. "
    "Front Oncol 2014;4:121"
)
SELWYN_2007: Final = (
    "Selwyn RG et al. A new internal pair production branching ratio of 90Y. "
    "Med Phys 2007;34:524-530 (31.86e-6 per decay); D'Arienzo M. Atoms 2013;1:2-12"
)
SORET_2007: Final = (
    "Soret M, Bacharach SL, Buvat I. Partial-volume effect in PET tumor imaging. "
    "J Nucl Med 2007;48:932-945"
)
#: |activity in the field of view / implanted activity − 1| above which it is flagged.
#: Model choice: the accuracy a calibrated 90Y PET reaches for the total activity.
FOV_RATIO_TOLERANCE: Final = 0.10
#: VOIs below this many resolution volumes (spheres of FWHM diameter) are flagged:
#: 27 of them make a sphere of diameter 3 FWHM (Soret 2007).
SMALL_VOI_RESOLUTION_VOLUMES: Final = 27.0
_TAU_S: Final = Y90_HALF_LIFE_S / math.log(2.0)


@dataclass(frozen=True)
class Y90Image:
    """A post-implant 90Y image and what its quantification needs (no paths).

    ``image``: a 90Y PET in Bq/mL (DICOM Units BQML) or a bremsstrahlung SPECT in counts,
    counts/s or Bq/mL. ``decay_reference``: what the values refer to — ``START`` or
    ``NONE``: the activity at ``scan_time``; ``ADMIN``: at the implant.
    ``implanted_activity_bq``: the net implanted activity (residual subtracted) at
    ``implant_time``. ``calibration_cps_per_mbq`` and ``acquisition_duration_s`` convert
    SPECT counts to activity. ``nuclide``: the nuclide the DICOM header names (None when
    it names none). ``fwhm_mm``: the image's spatial resolution (small-VOI check).
    """

    image: Volume
    ct: Volume | None
    kind: Y90Kind
    implant_time: _dt.datetime
    scan_time: _dt.datetime
    implanted_activity_bq: float
    decay_reference: DecayReference = "START"
    nuclide: str | None = Y90
    calibration_cps_per_mbq: float | None = None
    acquisition_duration_s: float | None = None
    fwhm_mm: float | None = None
    label: str = ""
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_y90(self.nuclide, self.label or self.kind)
        if self.kind not in ("pet", "spect"):
            raise InvalidInputError("90Y image kind", expected="'pet' or 'spect'", actual=self.kind)
        a = float(self.implanted_activity_bq)
        if not (math.isfinite(a) and a > 0):
            raise InvalidInputError(
                "implanted 90Y activity", expected="a finite value > 0 Bq", actual=a
            )
        for name, t in (("implant time", self.implant_time), ("scan time", self.scan_time)):
            if t.tzinfo is None or t.utcoffset() is None:
                raise InvalidInputError(
                    name, expected="a timezone-aware datetime", actual=t.isoformat()
                )
        if self.scan_time < self.implant_time:
            raise InvalidInputError(
                "90Y scan time",
                expected=f"after the implant ({self.implant_time.isoformat()})",
                actual=self.scan_time.isoformat(),
                fix="check the implant time (clinical.json 'sirt', manifest injection_time)",
            )
        if self.decay_reference not in ("START", "ADMIN", "NONE"):
            raise InvalidInputError(
                "decay-correction reference",
                expected="START, ADMIN or NONE",
                actual=self.decay_reference,
            )


def check_y90(nuclide: str | None, what: str = "90Y image") -> None:
    """Raise :class:`InvalidInputError` unless ``nuclide`` is Y-90 (None: not named, passes).

    >>> check_y90("90Y"), check_y90(None)
    (None, None)
    """
    if nuclide is None:
        return
    if normalise_name(nuclide) != Y90:
        raise InvalidInputError(
            f"radionuclide of the {what}",
            expected="Y-90 (a post-implant 90Y PET or bremsstrahlung SPECT)",
            actual=nuclide,
            fix="give the post-implant 90Y series (manifest series.y90_pet / y90_spect); a "
            "99mTc-MAA or PRRT scan cannot be used for post-implant dosimetry",
        )


# ------------------------------------------------------------------ quantification
@dataclass(frozen=True)
class ImplantActivity:
    """The activity per voxel at the implant time (Bq), with how it was obtained.

    ``total_in_fov_bq``: the image's total before any rescaling; ``fov_ratio`` = that over
    the implanted activity; ``scale``: the factor applied (1 unless rescaled or normalised).
    """

    activity: Volume
    total_in_fov_bq: float
    implanted_activity_bq: float
    fov_ratio: float
    rescaled: bool
    scale: float
    decay_factor: float
    flags: tuple[str, ...]
    step: Step


def _as_bq_per_voxel(scan: Y90Image, flags: list[str]) -> tuple[NDArray[np.float64], bool]:
    """Activity per voxel (Bq) at the image's reference time; True when it must be normalised."""
    img = scan.image
    arr = np.asarray(img.array, dtype=np.float64)
    unit = img.unit.replace(" ", "")
    if unit == "Bq/mL":
        return arr * img.voxel_volume_ml, False
    if scan.kind == "pet":
        raise InvalidInputError(
            f"unit of the 90Y PET {scan.label!r}".replace(" ''", ""),
            expected="Bq/mL (DICOM Units BQML, a quantitative 90Y reconstruction)",
            actual=img.unit,
            fix="export the PET in Bq/mL with the scanner's 90Y calibration",
        )
    if unit not in ("counts", "counts/s"):
        raise InvalidInputError(
            "unit of the bremsstrahlung SPECT",
            expected="counts, counts/s or Bq/mL",
            actual=img.unit,
        )
    cal = scan.calibration_cps_per_mbq
    if cal is None:
        flags.append(
            "bremsstrahlung SPECT without a calibration factor: activity normalised to the "
            "implanted activity (assumes every sphere inside the field of view)"
        )
        return arr, True
    if unit == "counts":
        dur = scan.acquisition_duration_s
        if dur is None or not dur > 0:
            flags.append(
                "bremsstrahlung SPECT in counts without an acquisition duration: the "
                "calibration factor cannot be applied; activity normalised to the implanted "
                "activity (assumes every sphere inside the field of view)"
            )
            return arr, True
        arr = arr / dur
    return arr / cal * BQ_PER_MBQ, False


def _decay_to_implant(scan: Y90Image) -> float:
    """Factor from the image's reference time back to the implant (physical decay only)."""
    if scan.decay_reference == "ADMIN":
        return 1.0
    dt = (scan.scan_time - scan.implant_time).total_seconds()
    return math.exp(get_nuclide(Y90).decay_constant_per_s * dt)


def _smooth(arr: NDArray[np.float64], spacing: tuple[float, float, float], fwhm_mm: float) -> Any:
    from sstrkit.therapy.pvc import gaussian_sigma_voxels

    sigma = gaussian_sigma_voxels(fwhm_mm, spacing)  # numpy (z, y, x)
    return ndimage.gaussian_filter(arr, sigma=sigma, mode="nearest")


def implant_activity(
    scan: Y90Image,
    *,
    rescale_to_implanted: bool = False,
    smoothing_fwhm_mm: float | None = None,
) -> ImplantActivity:
    """Activity per voxel (Bq) at the implant time from a 90Y PET or bremsstrahlung SPECT.

    See the module docstring for the caveats; ``smoothing_fwhm_mm`` applies a Gaussian
    post-filter (stated in the flags) before anything else is computed.
    """
    flags: list[str] = list(scan.notes)
    if scan.kind == "pet":
        flags.append(
            "90Y PET: internal-pair positron branch 3.186e-5 per decay (Selwyn 2007) applied "
            "by the scanner's 90Y calibration; low counts: VOI means reported, not maxima"
        )
    arr, normalise = _as_bq_per_voxel(scan, flags)
    if smoothing_fwhm_mm is not None:
        if not (math.isfinite(smoothing_fwhm_mm) and smoothing_fwhm_mm > 0):
            raise InvalidInputError(
                "smoothing FWHM", expected="a value > 0 mm", actual=smoothing_fwhm_mm
            )
        arr = _smooth(arr, scan.image.spacing, smoothing_fwhm_mm)
        flags.append(f"Gaussian smoothing of {smoothing_fwhm_mm:g} mm FWHM applied")
    decay = _decay_to_implant(scan)
    arr = arr * decay
    total = float(arr.sum())
    implanted = float(scan.implanted_activity_bq)
    if not total > 0:
        raise InvalidInputError(
            "90Y image", expected="a positive total activity", actual=f"{total:.4g}"
        )
    ratio = total / implanted
    scale = 1.0
    if normalise or rescale_to_implanted:
        scale = implanted / total
        if not normalise:
            flags.append(
                f"activity rescaled to the implanted activity (x{scale:.3f}): assumes every "
                "sphere lies inside the field of view"
            )
    elif abs(ratio - 1.0) > FOV_RATIO_TOLERANCE:
        flags.append(
            f"activity in the field of view is {100 * ratio:.1f} % of the net implanted "
            f"activity (outside 100 ± {100 * FOV_RATIO_TOLERANCE:g} %): check the calibration, "
            "the residual, the field of view (or use --rescale-to-implanted)"
        )
    if scan.decay_reference != "ADMIN":
        flags.append(
            f"decay correction {scan.decay_reference}: activity decayed back to the implant "
            f"(x{decay:.4f}, {((scan.scan_time - scan.implant_time).total_seconds()) / 3600:.1f}"
            " h, 90Y physical decay)"
        )
    step = Step.make(
        "y90_implant_activity",
        {
            "kind": scan.kind,
            "unit": scan.image.unit,
            "decay_reference": scan.decay_reference,
            "decay_factor": decay,
            "implanted_activity_bq": implanted,
            "total_in_fov_bq": total,
            "fov_ratio": ratio,
            "scale": scale,
            "normalised_to_implanted": normalise,
            "rescaled_to_implanted": bool(rescale_to_implanted and not normalise),
            "smoothing_fwhm_mm": smoothing_fwhm_mm,
            "calibration_cps_per_mbq": scan.calibration_cps_per_mbq,
        },
        inputs=(scan.image.name,),
        sources=(SELWYN_2007, PASCIAK_2014, LEVILLAIN_2021),
    )
    activity = scan.image.with_array(
        (arr * scale).astype(np.float64),
        operation="y90_implant_activity",
        parameters=dict(step.parameters),
        quantity="activity",
        unit="Bq",
        name=f"90Y activity at implant {scan.label}".strip(),
        reference_time=scan.implant_time,
    )
    return ImplantActivity(
        activity=activity,
        total_in_fov_bq=total,
        implanted_activity_bq=implanted,
        fov_ratio=ratio,
        rescaled=scale != 1.0,
        scale=scale,
        decay_factor=decay,
        flags=tuple(flags),
        step=step,
    )


# ------------------------------------------------------------------------- doses
def density_on_grid(
    ct: Volume | None,
    reference: Volume,
    hu_density: tuple[tuple[float, float], ...] = DEFAULT_HU_DENSITY,
) -> tuple[NDArray[np.float64], Volume]:
    """Mass density (g/mL) per voxel of ``reference`` from the CT, and the CT on that grid.

    The CT is resampled linearly (air, −1000 HU, outside its field of view). A missing CT
    is an error: the voxel masses of both methods come from it.
    """
    if ct is None:
        raise InvalidInputError(
            "CT of the 90Y scan",
            expected="the CT of the PET/CT or SPECT/CT (voxel masses, VOIs)",
            actual="none",
            fix="add the CT to the manifest (series.y90_pet_ct / y90_spect_ct, same frame of "
            "reference as the 90Y series)",
        )
    on = ct if ct.same_space(reference) else ct.resample_to(reference, default_value=-1000.0)
    return density_from_ct(on, hu_density), on


def _check_activity(activity: Volume) -> NDArray[np.float64]:
    if activity.unit != "Bq":
        raise InvalidInputError("activity map unit", expected="Bq per voxel", actual=activity.unit)
    a = np.asarray(activity.array, dtype=np.float64)
    if np.any(~np.isfinite(a)):
        raise InvalidInputError("activity voxels", expected="finite values", actual="NaN or inf")
    return a


def ldm_dose(
    activity: Volume, density_g_ml: NDArray[np.float64], *, energy_j_per_gbq: float | None = None
) -> Volume:
    """Local-deposition dose (Gy): D = E · A₀ / m per voxel, m = ρ · V (air voxels: 0).

    ``activity``: Bq per voxel at the implant; ``density_g_ml``: on the same grid.
    """
    a = _check_activity(activity)
    rho = np.asarray(density_g_ml, dtype=np.float64)
    if rho.shape != a.shape:
        raise GeometryMismatchError(
            "density map", expected=f"shape {a.shape}", actual=f"shape {rho.shape}"
        )
    e = Y90_ENERGY_J_PER_GBQ if energy_j_per_gbq is None else float(energy_j_per_gbq)
    mass_kg = np.maximum(rho, AIR_DENSITY_G_ML) * activity.voxel_volume_ml / G_PER_KG
    dose = np.where(rho < AIR_DENSITY_G_ML, 0.0, e * (a / BQ_PER_GBQ) / mass_kg)
    return activity.with_array(
        dose.astype(np.float32),
        operation="y90_local_deposition",
        parameters={"energy_j_per_gbq": e, "air_below_g_ml": AIR_DENSITY_G_ML},
        inputs=(activity.name,),
        sources=(*ENERGY_SOURCES, LEVILLAIN_2021),
        quantity="absorbed_dose",
        unit="Gy",
        name="dose 90Y LDM",
    )


def voxel_s_dose(
    activity: Volume, ct_on_grid: Volume, *, kernel: VoxelKernel | None = None
) -> Volume:
    """Voxel S-value dose (Gy): Ã = A₀·τ convolved with the 90Y kernel, density-weighted.

    Runs :func:`sstrkit.therapy.voxel_dose.dose_map` (``method="convolution"``) on the
    time-integrated activity of the permanent implant (τ = T½/ln 2).
    """
    from sstrkit.therapy.voxel_dose import dose_map

    a = _check_activity(activity)
    tia = activity.with_array(
        a * _TAU_S,
        operation="y90_permanent_implant_tia",
        parameters={"tau_s": _TAU_S, "model": "physical decay only"},
        quantity="time_integrated_activity",
        unit="Bq*s",
        name="90Y TIA",
    )
    if kernel is None:
        h = default_half_size(Y90, activity.spacing)
        kernel = voxel_kernel(Y90, activity.spacing, half_size=h, tissue="soft")
    dose = dose_map(tia, Y90, method="convolution", ct=ct_on_grid, kernel=kernel)
    return dose.with_metadata(operation="name", name="dose 90Y voxel S")


def region_mean_gy(
    dose: Volume, density_g_ml: NDArray[np.float64], mask: NDArray[np.bool_]
) -> float:
    """Mass-weighted mean dose of a region (energy / mass, the MIRD mean absorbed dose)."""
    m = np.maximum(np.asarray(density_g_ml)[mask], AIR_DENSITY_G_ML)
    d = np.asarray(dose.array, dtype=np.float64)[mask]
    return float(np.sum(d * m) / np.sum(m)) if m.size else float("nan")


def resolution_volumes(volume_ml: float, fwhm_mm: float | None) -> float | None:
    """``volume_ml`` in resolution volumes (:func:`sstrkit.therapy.pvc.resolution_volumes`),
    None without FWHM.

    >>> round(resolution_volumes(14.137, 10.0), 2)   # sphere of 3 FWHM diameter
    27.0
    """
    from sstrkit.therapy.pvc import resolution_volumes as in_resolution_volumes

    return None if fwhm_mm is None else in_resolution_volumes(volume_ml, fwhm_mm)


# ------------------------------------------------------------------- the whole run
DoseMethodChoice = Literal["ldm", "voxel", "both"]
#: D_x levels (% of the VOI volume) reported per region: D70 and D50 (tumour response
#: predictors in the SIRT literature, Levillain 2021), D2/D98 for near-max/near-min.
DEFAULT_D_LEVELS: Final = (2.0, 50.0, 70.0, 90.0, 98.0)
#: V(≥ x Gy) levels reported per region (reporting choice; give your own).
DEFAULT_THRESHOLDS_GY: Final = (30.0, 40.0, 70.0, 100.0, 120.0, 200.0)


def _methods(method: str) -> tuple[str, ...]:
    if method not in ("ldm", "voxel", "both"):
        raise InvalidInputError("dose method", expected="ldm, voxel or both", actual=method)
    return ("ldm", "voxel") if method == "both" else (method,)


def _region_dose(
    voi: VoiMask,
    doses: Mapping[str, Volume],
    act: ImplantActivity,
    rho: NDArray[np.float64],
    fwhm_mm: float | None,
    options: Mapping[str, Any],
) -> Y90RegionDose:
    from sstrkit.therapy.dvh import region_dvh

    m = voi.mask
    voxel_ml = act.activity.voxel_volume_ml
    volume = float(m.sum()) * voxel_ml
    n_res = resolution_volumes(volume, fwhm_mm)
    dvhs = {
        k: region_dvh(
            d, m, name=voi.name, d_levels=options["d_levels"], thresholds_gy=options["thresholds"]
        )
        for k, d in doses.items()
    }
    a = float(np.asarray(act.activity.array, dtype=np.float64)[m].sum())
    truth = options["truth"].get(voi.name)
    pred = options["predicted"].get(voi.name)
    return Y90RegionDose(
        name=voi.name,
        kind=voi.kind,
        volume_ml=volume,
        mass_g=float(np.maximum(rho[m], AIR_DENSITY_G_ML).sum()) * voxel_ml,
        activity_bq=a,
        activity_fraction=a / act.implanted_activity_bq,
        resolution_volumes=n_res,
        small=n_res is not None and n_res < SMALL_VOI_RESOLUTION_VOLUMES,
        mean_gy={k: region_mean_gy(d, rho, m) for k, d in doses.items()},
        dvh=dvhs,
        truth_mean_gy=None if truth is None else float(truth),
        predicted_gy=None if pred is None else float(pred),
        pvc_mean_gy={k: v[voi.name] for k, v in options["pvc"].items() if voi.name in v},
    )


def _pvc_means(
    doses: Mapping[str, Volume],
    vmasks: tuple[VoiMask, ...],
    rho: NDArray[np.float64],
    fwhm_mm: float | None,
) -> tuple[dict[str, dict[str, float]], Step | None]:
    """GTM-corrected region means per method (:func:`sstrkit.therapy.pvc.pv_corrected_doses`)."""
    from sstrkit.therapy.pvc import pv_corrected_doses

    if fwhm_mm is None:
        return {}, None
    lab, regions = gtm_labels(vmasks, rho)
    out: dict[str, dict[str, float]] = {}
    step = None
    for k, d in doses.items():
        res, step = pv_corrected_doses(
            np.asarray(d.array, dtype=np.float64),
            lab,
            regions,
            method="gtm",
            fwhm_mm=fwhm_mm,
            spacing_mm=d.spacing,
            density=np.maximum(rho, AIR_DENSITY_G_ML),
            inputs=(d.name,),
        )
        out[k] = {name: r.corrected_mean_gy for name, r in res.items()}
    return out, step


def _flags(
    act: ImplantActivity,
    vois: Y90Vois,
    scan: Y90Image,
    regions: tuple[Y90RegionDose, ...],
    pvc_fwhm_mm: float | None,
) -> list[str]:
    flags = list(act.flags)
    if vois.automatic:
        flags.append(f"automatic VOIs: {vois.source}")
    flags += [f"VOIs: {n}" for n in vois.notes if n not in vois.source]
    if scan.fwhm_mm is None:
        flags.append("image resolution (FWHM) unknown: small VOIs not checked")
    flags += [
        f"{r.name}: {r.volume_ml:.1f} mL is {r.resolution_volumes:.0f} resolution volumes "
        f"(< {SMALL_VOI_RESOLUTION_VOLUMES:g}): partial-volume losses, dose underestimated"
        for r in regions
        if r.small and r.resolution_volumes is not None
    ]
    if pvc_fwhm_mm is not None:
        flags.append(
            f"partial-volume-corrected means (pvc_mean_gy): geometric transfer matrix, isotropic "
            f"Gaussian of {pvc_fwhm_mm:g} mm FWHM (breathing blur and the 90Y β range of the "
            "voxel-S dose not modelled)"
        )
    return flags


def _comparison(regions: tuple[Y90RegionDose, ...], method: str) -> tuple[MaaComparison, ...]:
    return tuple(
        MaaComparison(r.name, float(r.predicted_gy), r.mean_gy[method], method)
        for r in regions
        if r.predicted_gy is not None
    )


def y90_dosimetry(
    scan: Y90Image,
    vois: Y90Vois,
    *,
    method: DoseMethodChoice = "both",
    rescale_to_implanted: bool = False,
    smoothing_fwhm_mm: float | None = None,
    predicted_gy: Mapping[str, float] | None = None,
    truth_gy: Mapping[str, float] | None = None,
    d_levels: tuple[float, ...] = DEFAULT_D_LEVELS,
    thresholds_gy: tuple[float, ...] = DEFAULT_THRESHOLDS_GY,
    kernel: VoxelKernel | None = None,
    pvc: Literal["gtm", "none"] = "gtm",
    pvc_fwhm_mm: float | None = None,
    inputs: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Y90Dosimetry:
    """Post-implant dosimetry of one 90Y PET or bremsstrahlung SPECT (module docstring).

    ``vois``: the regions (:mod:`sstrkit.sirt.dose_vois`). ``predicted_gy``: the MAA-based
    prediction by region name (``tumour``, ``normal_liver``, ``lungs``...), compared with
    the primary method's (uncorrected) mean doses. ``truth_gy``: the digital patient's true
    mean doses. ``pvc="gtm"`` adds partial-volume-corrected region means
    (:func:`sstrkit.therapy.pvc.pv_corrected_doses`, geometric transfer matrix with the
    image FWHM, or ``pvc_fwhm_mm``) next to the uncorrected ones; without a FWHM none.
    """
    if pvc not in ("gtm", "none"):
        raise InvalidInputError("partial-volume correction", expected="gtm or none", actual=pvc)
    say = progress or (lambda _m: None)
    methods = _methods(method)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    say("90Y activity at implant")
    act = implant_activity(
        scan, rescale_to_implanted=rescale_to_implanted, smoothing_fwhm_mm=smoothing_fwhm_mm
    )
    rho, ct_on = density_on_grid(scan.ct, act.activity)
    timings["quantification_s"] = time.perf_counter() - t0
    doses: dict[str, Volume] = {}
    for m in methods:
        t1 = time.perf_counter()
        say(f"dose map ({m})")
        doses[m] = (
            ldm_dose(act.activity, rho)
            if m == "ldm"
            else voxel_s_dose(act.activity, ct_on, kernel=kernel)
        )
        timings[f"{m}_s"] = time.perf_counter() - t1
    vmasks = region_masks(vois, act.activity)
    fwhm_pvc = (pvc_fwhm_mm or scan.fwhm_mm) if pvc == "gtm" else None
    pvc_means, pvc_step = _pvc_means(doses, vmasks, rho, fwhm_pvc)
    options = {
        "d_levels": d_levels,
        "thresholds": thresholds_gy,
        "truth": dict(truth_gy or {}),
        "predicted": dict(predicted_gy or {}),
        "pvc": pvc_means,
    }
    regions = tuple(_region_dose(v, doses, act, rho, scan.fwhm_mm, options) for v in vmasks)
    flags = _flags(act, vois, scan, regions, fwhm_pvc)
    primary = "ldm" if "ldm" in doses else "voxel"  # Y90Dosimetry.primary_method
    step = Step.make(
        "y90_post_implant_dosimetry",
        {
            "methods": list(methods),
            "kind": scan.kind,
            "voi_source": vois.source,
            "d_levels": list(d_levels),
            "thresholds_gy": list(thresholds_gy),
            "tau_s": _TAU_S,
            "energy_j_per_gbq": Y90_ENERGY_J_PER_GBQ,
        },
        inputs=tuple(n for n in (scan.image.name, vois.labels.name) if n),
        sources=(LEVILLAIN_2021, PASCIAK_2014, SORET_2007, *ENERGY_SOURCES),
    )
    timings["total_s"] = time.perf_counter() - t0
    return Y90Dosimetry(
        kind=scan.kind,
        implant_time=scan.implant_time,
        scan_time=scan.scan_time,
        implanted_activity_bq=act.implanted_activity_bq,
        activity_in_fov_bq=act.total_in_fov_bq,
        fov_ratio=act.fov_ratio,
        rescaled=act.rescaled,
        methods=methods,
        regions=regions,
        comparison=_comparison(regions, primary),
        voi_source=vois.source,
        voi_automatic=vois.automatic,
        fwhm_mm=scan.fwhm_mm,
        smoothing_fwhm_mm=smoothing_fwhm_mm,
        flags=tuple(flags),
        provenance=(
            act.step,
            *(d.history[-1] for d in doses.values()),
            *((pvc_step,) if pvc_step is not None else ()),
            step,
        ),
        timings_s=timings,
        doses=doses,
        activity=act.activity,
        masks={v.name: v.mask for v in vmasks},
        density_g_ml=rho,
        inputs=dict(inputs or {}),
    )
