"""Absorbed-dose maps from a time-integrated activity (TIA) map.

Methods (chosen per run)
------------------------
``convolution``
    D = Ã ⊛ S: the TIA per voxel (Bq·s) convolved with the voxel S-value kernel
    of :mod:`sstrkit.physics.kernels` (mGy/(MBq·s) → Gy/(Bq·s) × 10⁻⁹). The
    convolution is a real-to-complex FFT (``scipy.fft.rfftn``) in float32 on
    grids zero-padded to at least N + K − 1 voxels per axis and rounded up to
    fast FFT lengths (``scipy.fft.next_fast_len``), so it is a *linear*
    convolution: activity near one edge never wraps around to the other.
``local``
    Local energy deposition: all electron energy (ICRP-107 Δₑ, β + IC + Auger)
    absorbed in the emitting voxel, photons neglected,
    D = Ã·Δₑ / (ρ·V).

Density correction
------------------
With a CT (resampled to the TIA grid), ρ(HU) comes from a piecewise-linear
calibration (:data:`~sstrkit.therapy.region_activity.DEFAULT_HU_DENSITY`, with
:func:`~sstrkit.therapy.region_activity.density_from_ct` beside the CT masses of the
regions; both importable from here too; pass your scanner's own). The
convolution result, computed for the kernel's tissue density ρ₀, is scaled by
ρ₀/ρ(x) — the energy deposited in a voxel is kept and divided by its actual
mass (the usual "density-weighted kernel" correction). *Limits*: electron
ranges are not rescaled across interfaces, so doses within one electron range
(≈2 mm for ¹⁷⁷Lu, ≈11 mm for ⁹⁰Y) of lung/soft-tissue and bone/soft-tissue
boundaries are approximate; in lung (ρ ≈ 0.3) the kernel's energy is deposited
over too small a region; voxels below 0.05 g/cm³ (air, below −950 HU) are set to
dose 0;
the calibration assumes 120 kVp-like behaviour and no contrast agent.

:func:`cycle_dosimetry_from_scans` runs one cycle (registration, TIA, dose, regions) on
volumes, times and label maps; reading them from a study folder is the pipeline's job
(:mod:`sstrkit.pipeline.cycle_inputs`).

Examples
--------
>>> import numpy as np
>>> tia = Volume.from_array(np.ones((4, 4, 4)) * 1e9, spacing=(4.0, 4.0, 4.0),
...                         quantity="time_integrated_activity", unit="Bq*s")
>>> d = dose_map(tia, "Lu-177", method="local", tissue="water")
>>> d.unit, round(float(d.array[0, 0, 0]), 4)   # 1e9 Bq·s × 0.14791 MeV / 0.064 g
('Gy', 0.3703)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import fft as sfft

from sstrkit.core.provenance import Step
from sstrkit.core.units import BQ_PER_MBQ, SECONDS_PER_HOUR
from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.physics.kernels import (
    MEV_TO_J,
    VoxelKernel,
    tissue_density_g_cm3,
    voxel_kernel,
)
from sstrkit.physics.nuclides import get_nuclide
from sstrkit.therapy.dvh import RegionDVH, region_dvh
from sstrkit.therapy.pvc import PvcMethod, PvcRegion, pv_corrected_doses
from sstrkit.therapy.radiobiology import (
    bed_from_g,
    g_mono_exponential,
    repair_rate_per_s,
    tissue_parameters,
)
from sstrkit.therapy.region_activity import (  # the HU → density calibration lives there
    DEFAULT_HU_DENSITY,
    RegionActivities,
    density_from_ct,
)

if TYPE_CHECKING:  # moved (see _MOVED); imported here for type checkers and the API docs
    from sstrkit.phantom.truth_files import truth_regions
    from sstrkit.pipeline.cycle_inputs import study_cycle_dosimetry

__all__ = [
    "AIR_DENSITY_G_ML",
    "DEFAULT_HU_DENSITY",
    "DoseMethod",
    "ScanTimePoint",
    "StudyDosimetry",
    "VoiInput",
    "bed_map",
    "convolve_fft",
    "cycle_dosimetry_from_scans",
    "default_half_size",
    "density_from_ct",
    "dose_map",
    "study_cycle_dosimetry",
    "sum_doses",
    "tia_per_voxel",
    "truth_regions",
]

DoseMethod = Literal["convolution", "local"]

_GY_PER_BQ_S_PER_MGY_PER_MBQ_S = 1e-9
#: Voxels below this density (g/cm³) are air and get dose 0: 0.05 g/cm³ is −950 HU on
#: the default calibration, the lower edge of lung parenchyma (the emphysema threshold,
#: Gevenois et al. 1996; :data:`sstrkit.sirt.plan_vois.LUNG_HU_WINDOW`). A higher cut
#: (0.1, −900 HU) dropped the energy of inflated lung voxels and read lung doses low.
AIR_DENSITY_G_ML = 0.05
#: |renormalisation − 1| above which a registered SPECT's activity conservation is flagged.
_RENORMALISATION_TOLERANCE = 0.02
#: A first SPECT later than this (s after injection) is no early scan for a trapezoid.
_EARLY_SCAN_S = 24 * SECONDS_PER_HOUR


def _rfftn_small(k: NDArray[Any], shape: Sequence[int]) -> NDArray[Any]:
    """``rfftn(k, s=shape)`` of a small kernel, pruned: axes transformed while still small."""
    f = sfft.rfft(k, n=shape[2], axis=2, workers=-1)
    f = sfft.fft(f, n=shape[1], axis=1, workers=-1, overwrite_x=True)
    out: NDArray[Any] = sfft.fft(f, n=shape[0], axis=0, workers=-1, overwrite_x=True)
    return out


def convolve_fft(
    values: NDArray[Any], kernel: NDArray[Any], *, dtype: type = np.float32
) -> NDArray[Any]:
    """Linear ("same"-size) 3-D convolution by real FFT, zero-padded, no wrap-around.

    ``kernel`` must have odd sizes (2h + 1); its centre voxel is the origin.
    Each axis is padded to the next fast FFT length ≥ N + h, the least period
    for which the circular convolution equals the linear one on the output
    window (see the comment in the code); the kernel's transform is pruned
    (computed axis by axis while the array is still small). The result is a
    view of the padded inverse transform (as ``scipy.signal.fftconvolve``).

    >>> import numpy as np
    >>> img = np.zeros((5, 5, 5)); img[0, 0, 0] = 1.0
    >>> k = np.arange(27, dtype=float).reshape(3, 3, 3)
    >>> out = convolve_fft(img, k)
    >>> float(out[1, 1, 1]), float(out[4, 4, 4])   # k[2,2,2] lands at (1,1,1); no wrap
    (26.0, 0.0)
    """
    a = np.asarray(values)
    k = np.asarray(kernel)
    if a.ndim != 3 or k.ndim != 3 or any(n % 2 == 0 for n in k.shape):
        raise InvalidInputError(
            "convolution input",
            expected="3-D arrays, kernel with odd sizes",
            actual=f"{a.shape} and {k.shape}",
        )
    h = [m // 2 for m in k.shape]
    # A circular convolution of period P ≥ N + h is linear on the "same" window
    # [h, h + N): offsets i − j < 0 alias to ≥ 2h + 1, outside the kernel support.
    shape = [sfft.next_fast_len(n + hh, real=True) for n, hh in zip(a.shape, h, strict=True)]
    fa = sfft.rfftn(a.astype(dtype, copy=False), s=shape, workers=-1)
    fa *= _rfftn_small(k.astype(dtype, copy=False), shape)
    full = sfft.irfftn(fa, s=shape, workers=-1, overwrite_x=True)
    out: NDArray[Any] = full[
        h[0] : h[0] + a.shape[0], h[1] : h[1] + a.shape[1], h[2] : h[2] + a.shape[2]
    ]
    return out  # a view of the padded result, like scipy.signal.fftconvolve(mode="same")


def tia_per_voxel(tia: Volume) -> NDArray[np.float64]:
    """TIA in Bq·s per voxel from a volume in ``Bq*s``, ``Bq*s/mL``, ``MBq*h`` or ``MBq*h/mL``."""
    unit = tia.unit.replace(" ", "").replace("·", "*")
    arr = np.asarray(tia.array, dtype=float)
    factors = {
        "Bq*s": 1.0,
        "MBq*s": BQ_PER_MBQ,
        "MBq*h": BQ_PER_MBQ * SECONDS_PER_HOUR,
        "Bq*h": SECONDS_PER_HOUR,
    }
    if unit in factors:
        return arr * factors[unit]
    if unit.endswith("/mL") and unit[:-3] in factors:
        return arr * factors[unit[:-3]] * tia.voxel_volume_ml
    raise InvalidInputError(
        f"unit of TIA volume {tia.name!r}",
        expected="Bq*s, Bq*s/mL, MBq*h or MBq*h/mL",
        actual=tia.unit,
        fix="build the TIA map with sstrkit.therapy.voxel_tia",
    )


def default_half_size(nuclide: str, spacing_mm: Sequence[float]) -> int:
    """Kernel half size covering the maximum β range + 1 voxel and at least 30 mm (≤ 12)."""
    nuc = get_nuclide(nuclide)
    lmin = float(min(spacing_mm))
    reach = max((nuc.csda_range_water_mm or 0.0) + lmin, 30.0)
    return int(min(12, max(1, math.ceil(reach / lmin))))


def dose_map(
    tia: Volume,
    nuclide: str,
    *,
    method: DoseMethod = "convolution",
    tissue: str = "soft",
    ct: Volume | None = None,
    hu_density: Sequence[tuple[float, float]] = DEFAULT_HU_DENSITY,
    half_size: int | None = None,
    kernel: VoxelKernel | None = None,
) -> Volume:
    """Absorbed-dose map (Gy) of a TIA map (see the module docstring).

    Parameters
    ----------
    tia
        Time-integrated activity (``Bq*s`` per voxel, or ``Bq*s/mL``...).
    nuclide
        ICRP-107 name.
    method
        ``"convolution"`` (voxel S values, FFT) or ``"local"`` (local deposition).
    tissue
        Kernel tissue (``soft``/``bone``/``water``), also the density without CT.
    ct
        Optional CT (HU) on the same grid as ``tia`` for the density correction.
    half_size
        Kernel half size (default :func:`default_half_size`).
    kernel
        A precomputed kernel (must match the voxel size).
    """
    if method not in ("convolution", "local"):
        raise InvalidInputError("dose method", expected="'convolution' or 'local'", actual=method)
    nuc = get_nuclide(nuclide)
    a = tia_per_voxel(tia)
    if np.any(~np.isfinite(a)):
        raise InvalidInputError("TIA voxels", expected="finite values", actual="NaN or inf")
    rho0 = tissue_density_g_cm3(tissue)
    rho: NDArray[np.float64] | None = None
    if ct is not None:
        if not ct.same_space(tia):
            raise GeometryMismatchError(
                "CT grid vs TIA grid",
                expected=str(tia.shape),
                actual=str(ct.shape),
                fix="resample the CT onto the TIA grid: ct.resample_to(tia, mode='linear')",
            )
        rho = density_from_ct(ct, hu_density)
    params: dict[str, Any] = {"nuclide": nuc.name, "method": method, "tissue": tissue}
    sources: tuple[str, ...] = ()
    if method == "local":
        mass_g = (rho if rho is not None else rho0) * tia.voxel_volume_ml
        dose = a * nuc.delta_electrons_mev * MEV_TO_J / (np.asarray(mass_g) * 1e-3)
        params["delta_electrons_mev"] = nuc.delta_electrons_mev
        sources = ("ICRP Publication 107",)
    else:
        if kernel is None:
            h = half_size if half_size is not None else default_half_size(nuc.name, tia.spacing)
            kernel = voxel_kernel(nuc.name, tia.spacing, half_size=h, tissue=tissue)
        elif not np.allclose(kernel.voxel_mm, tia.spacing, rtol=1e-4) or kernel.nuclide != nuc.name:
            raise InvalidInputError(
                "kernel",
                expected=f"{nuc.name} at voxel {tia.spacing} mm",
                actual=f"{kernel.nuclide} at {kernel.voxel_mm} mm",
            )
        rho0 = kernel.density_g_cm3
        dose = convolve_fft(a, kernel.array).astype(np.float64)
        dose *= _GY_PER_BQ_S_PER_MGY_PER_MBQ_S
        params.update(half_size=kernel.half_size, kernel_method=kernel.method)
        sources = kernel.history[0].sources if kernel.history else ()
        if rho is not None:
            dose = dose * rho0 / np.maximum(rho, AIR_DENSITY_G_ML)
    if rho is not None:
        dose = np.where(rho < AIR_DENSITY_G_ML, 0.0, dose)
        params.update(density_correction=True, hu_density=[list(p) for p in hu_density])
    dose = np.clip(dose, 0.0, None)
    return tia.with_array(
        dose.astype(np.float32),
        operation="dose_map",
        parameters=params,
        inputs=(tia.name,),
        sources=sources,
        quantity="absorbed_dose",
        unit="Gy",
        name=f"dose {tia.name}".strip(),
    )


def sum_doses(doses: Sequence[Volume], reference: Volume | None = None) -> Volume:
    """Sum dose maps (e.g. of several cycles) on the grid of ``reference`` (default: first).

    Each map not already on the reference grid is resampled linearly (dose is
    an intensive quantity); they must share the frame of reference (register
    them first otherwise).
    """
    if not doses:
        raise InvalidInputError("dose maps", expected="at least one", actual=0)
    ref = reference or doses[0]
    total = np.zeros(ref.shape, dtype=np.float64)
    for d in doses:
        if d.unit != "Gy":
            raise InvalidInputError(f"unit of {d.name!r}", expected="Gy", actual=d.unit)
        on_grid = d if d.same_space(ref) else d.resample_to(ref, mode="linear")
        total += on_grid.array
    return ref.with_array(
        total.astype(np.float32),
        operation="sum_doses",
        parameters={"n": len(doses)},
        inputs=tuple(d.name for d in doses),
        quantity="absorbed_dose",
        unit="Gy",
        name="dose sum",
    )


def bed_map(
    dose: Volume,
    lambda_eff: Volume,
    tissue: str,
    *,
    alpha_beta_gy: float | None = None,
    t_repair_s: float | None = None,
) -> Volume:
    """Voxel BED map (Gy) of one cycle: BED = D·(1 + G·D/(α/β)), G = λ/(λ + μ).

    ``lambda_eff`` is the voxel effective decay constant of the dose rate (s⁻¹,
    from :func:`sstrkit.therapy.voxel_tia.voxel_tia`); G is the Lea–Catcheside
    factor of a mono-exponential dose rate and μ = ln 2 / T_rep, computed by
    :func:`sstrkit.therapy.radiobiology.g_mono_exponential` and
    :func:`sstrkit.therapy.radiobiology.bed_from_g` (α/β and T_rep from
    :func:`sstrkit.therapy.radiobiology.tissue_parameters`, overridable). BEDs
    of cycles add (complete repair between cycles): sum them with :func:`sum_doses`.
    """
    if dose.unit != "Gy":
        raise InvalidInputError("dose unit", expected="Gy", actual=dose.unit)
    if not lambda_eff.same_space(dose):
        raise GeometryMismatchError(
            "effective decay-constant map grid",
            expected=str(dose.shape),
            actual=str(lambda_eff.shape),
        )
    tp = tissue_parameters(tissue, alpha_beta_gy=alpha_beta_gy, t_repair_s=t_repair_s)
    lam = np.asarray(lambda_eff.array, dtype=np.float64)
    if np.any(~np.isfinite(lam)) or np.any(lam <= 0):
        raise InvalidInputError(
            "effective decay constants",
            expected="finite values > 0 1/s",
            actual="non-positive or non-finite voxels",
        )
    g = g_mono_exponential(lam, repair_rate_per_s(tp.t_repair_s))
    d = np.asarray(dose.array, dtype=np.float64)
    bed = bed_from_g(d, g, tp.alpha_beta_gy)
    return dose.with_array(
        bed.astype(np.float32),
        operation="bed_map",
        parameters={
            "tissue": tp.name,
            "alpha_beta_gy": tp.alpha_beta_gy,
            "t_repair_s": tp.t_repair_s,
            "model": "mono-exponential Lea-Catcheside G",
        },
        inputs=(dose.name, lambda_eff.name),
        sources=tp.sources,
        quantity="biologically_effective_dose",
        unit="Gy",
        name=f"BED {tp.name}",
    )


# ------------------------------------------------------------- cycle dosimetry
@dataclass(frozen=True)
class StudyDosimetry:
    """One cycle's voxel dosimetry, the region activities on the same grid, the reference CT."""

    cycle: int
    nuclide: str
    dose: Volume
    tia: Volume
    lambda_eff: Volume
    regions: tuple[RegionDVH, ...]
    registrations: tuple[dict[str, Any], ...]
    truth_gy: dict[str, float]
    timings_s: dict[str, float]
    parameters: dict[str, Any]
    pv_regions: Mapping[str, PvcRegion] = field(default_factory=dict)
    pv_step: Step | None = None
    region_activity: RegionActivities | None = None
    voi_registration: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()
    voi_labels: Volume | None = None
    reference_ct: Volume | None = field(default=None, repr=False)  # as read (dose overlay)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary; ``pvc_*`` fields sit next to the uncorrected DVH metrics."""
        rows = []
        for r in self.regions:
            row = r.to_dict()
            truth = self.truth_gy.get(r.name)
            row["truth_mean_gy"] = truth
            row["deviation_from_truth"] = (r.mean_gy / truth - 1.0) if truth else None
            pv = self.pv_regions.get(r.name)
            if pv is not None:
                row["pvc_method"] = pv.method
                row["pvc_mean_gy"] = pv.corrected_mean_gy
                row["pvc_factor"] = pv.factor
                row["pvc_deviation_from_truth"] = (
                    (pv.corrected_mean_gy / truth - 1.0) if truth else None
                )
            rows.append(row)
        return {
            "cycle": self.cycle,
            "nuclide": self.nuclide,
            "parameters": self.parameters,
            "dose_max_gy": float(np.max(self.dose.array)),
            "regions": rows,
            "partial_volume": {
                **(self.pv_step.to_dict() if self.pv_step is not None else {"method": "none"}),
                "regions": {k: v.to_dict() for k, v in self.pv_regions.items()},
            },
            "registrations": list(self.registrations),
            "voi_registration": self.voi_registration,
            "notes": list(self.notes),
            "timings_s": self.timings_s,
            "history": [s.to_dict() for s in self.dose.history],
        }


#: Names that moved out of this module (they read folders): re-exported on first access.
_MOVED = {
    "study_cycle_dosimetry": "sstrkit.pipeline.cycle_inputs",
    "truth_regions": "sstrkit.phantom.truth_files",
}


def __getattr__(name: str) -> Any:
    """:data:`_MOVED` names, imported from their modules on access (PEP 562, no cycle)."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_MOVED[name]), name)


@dataclass(frozen=True)
class ScanTimePoint:
    """One SPECT/CT time point: the SPECT (Bq/mL), its CT (or None) and the time.

    ``time_s`` is the time of the scan after the administration (s).
    """

    spect: Volume
    ct: Volume | None
    time_s: float
    label: str = ""


@dataclass(frozen=True)
class VoiInput:
    """Volumes of interest for a cycle: a label map and where it was drawn.

    ``ct`` is the CT on whose scan the labels were drawn (the baseline PET/CT's
    CT, or one time point's CT): the labels reach the cycle's reference SPECT
    through one rigid registration of that CT to the reference time point's CT
    (when ``ct`` is the very CT object of a later time point, that time point's
    registration is reused). ``ct=None`` means the label map is already in the
    reference time point's patient coordinates (no registration).
    """

    labels: Volume
    regions: Mapping[str, Sequence[int]]
    ct: Volume | None = None
    kinds: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    same_scan: bool = False
    note: str | None = None


@dataclass(frozen=True)
class _CycleRun:
    """The options of one cycle's dosimetry and the notes its steps add."""

    register: bool
    registration_levels: tuple[int, ...]
    density_correction: bool
    pvc: PvcMethod
    fwhm_mm: float | None
    say: Callable[[str], None]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Aligned:
    """The time points on the reference SPECT grid; their registrations (records, by index)."""

    spects: tuple[Volume, ...]
    records: tuple[dict[str, Any], ...]
    by_index: Mapping[int, Any]  # the registered time points only; the VOIs may reuse one


@dataclass(frozen=True)
class _RegionResults:
    """Region DVHs, truth, partial-volume-corrected doses and activities of one cycle."""

    regions: tuple[RegionDVH, ...] = ()
    truth_gy: dict[str, float] = field(default_factory=dict)
    pv_regions: dict[str, PvcRegion] = field(default_factory=dict)
    pv_step: Step | None = None
    activity: RegionActivities | None = None
    voi_registration: dict[str, Any] | None = None
    labels: Volume | None = None


def _align_time_points(scans: Sequence[ScanTimePoint], run: _CycleRun) -> _Aligned:
    """Every later time point on the first one's SPECT grid (CT registration or coordinates)."""
    from sstrkit.therapy.registration import apply_to_spect, register_ct

    ref_spect, ref_ct, notes = scans[0].spect, scans[0].ct, run.notes
    aligned = [ref_spect]
    records: list[dict[str, Any]] = []
    by_index: dict[int, Any] = {}
    for k in range(1, len(scans)):
        moving = scans[k]
        name = moving.label or k + 1
        if run.register and ref_ct is not None and moving.ct is not None:
            run.say(f"registering time point {k + 1}/{len(scans)}")
            reg = register_ct(ref_ct, moving.ct, shrink_factors=run.registration_levels)
            by_index[k] = reg
            records.append({"time_point": k, "label": moving.label, **reg.to_dict()})
            if not reg.acceptable:
                notes.append(
                    f"registration of time point {name} to the reference "
                    f"is doubtful (CT NCC {reg.ncc_after:.2f} < 0.8); check the fused images"
                )
            aligned.append(apply_to_spect(moving.spect, reg, ref_spect))
            scale = float(aligned[-1].history[-1].parameters.get("renormalisation", 1.0))
            if abs(scale - 1.0) > _RENORMALISATION_TOLERANCE:
                notes.append(
                    f"time point {name}: {100 * abs(1 - 1 / scale):.1f} % of "
                    "its activity fell outside the reference grid after registration and was "
                    "redistributed (activity conservation); check the fields of view"
                )
            continue
        if run.register:
            notes.append(
                f"time point {name}: no CT to register, placed by "
                "patient coordinates (repositioning not corrected)"
            )
        moved = moving.spect.with_metadata(frame_of_reference_uid=ref_spect.frame_of_reference_uid)
        aligned.append(
            moved if moved.same_space(ref_spect) else moved.resample_to(ref_spect, mode="conserve")
        )
    return _Aligned(tuple(aligned), tuple(records), by_index)


def _voxel_tia_method(n_scans: int, first_time_s: float, tia_method: str, notes: list[str]) -> str:
    """The voxel TIA method used: one scan → single time point; no early scan → mono-exp."""
    if n_scans == 1:
        notes.append(
            "one SPECT time point: voxel TIA by Hänscheid's single-time-point approximation "
            "(J Nucl Med 2018;59:75)"
        )
        return "single_time_point"
    if tia_method == "trapezoid" and (n_scans < 3 or first_time_s > _EARLY_SCAN_S):
        # A trapezoid from A(0) = 0 to a first scan days after injection loses most of the
        # area (kidneys: 40 % of the TIA with scans at 96 and 168 h only).
        notes.append(
            f"{n_scans} SPECT time points, the first at {first_time_s / SECONDS_PER_HOUR:.0f} h: "
            "voxel TIA by a mono-exponential fit from injection (no early scan for a trapezoid)"
        )
        return "mono_exp"
    return tia_method


def _vois_on_reference(
    voi: VoiInput, scans: Sequence[ScanTimePoint], aligned: _Aligned, run: _CycleRun
) -> tuple[Volume, dict[str, Any] | None]:
    """The VOI label map on the reference SPECT grid, and the registration that put it there."""
    from sstrkit.therapy.registration import apply_to_labels, register_ct

    ref_spect, ref_ct = scans[0].spect, scans[0].ct
    if voi.ct is not None and not voi.same_scan and ref_ct is not None and run.register:
        run.say("transferring the VOIs to the reference time point")
        # drawn on a later time point's CT: that time point's registration already maps it
        reg = next((r for k, r in aligned.by_index.items() if scans[k].ct is voi.ct), None)
        if reg is None:
            reg = register_ct(ref_ct, voi.ct, shrink_factors=run.registration_levels)
        if not reg.acceptable:
            run.notes.append(
                f"VOI transfer from {voi.source} is doubtful (CT NCC {reg.ncc_after:.2f} "
                "< 0.8); check the VOIs on the fused images"
            )
        return apply_to_labels(voi.labels, reg, ref_spect), {"from": voi.source, **reg.to_dict()}
    if voi.ct is not None and not voi.same_scan and ref_ct is None:
        run.notes.append(
            f"VOIs from {voi.source} placed by patient coordinates: the reference "
            "time point has no CT to register"
        )
    from sstrkit.therapy.label_transfer import transfer_labels

    lab_vol = ref_spect.with_array(
        transfer_labels(voi.labels, ref_spect),
        operation="transfer_labels",
        quantity="label",
        unit="1",
        modality=voi.labels.modality,
        name=voi.labels.name,
    )
    return lab_vol, None


def _region_dosimetry(
    voi: VoiInput,
    scans: Sequence[ScanTimePoint],
    aligned: _Aligned,
    times: Sequence[float],
    dose: Volume,
    ct_on_spect: Volume | None,
    truth_gy: Mapping[str, float] | None,
    run: _CycleRun,
) -> _RegionResults:
    """DVHs, region activities (kinetics input) and partial-volume-corrected doses of the VOIs.

    The activities of each SPECT and the dose map are partial-volume corrected once
    each, on the one label map transferred to the reference grid.
    """
    from sstrkit.therapy.region_activity import region_activities

    run.say("regions")
    if voi.note:
        run.notes.append(voi.note)
    study_regions = {k: tuple(int(v) for v in vs) for k, vs in voi.regions.items()}
    lab_vol, voi_reg = _vois_on_reference(voi, scans, aligned, run)
    lab = np.asarray(lab_vol.array).astype(np.int64)
    regions: list[RegionDVH] = []
    truth_out: dict[str, float] = {}
    for name, values in study_regions.items():
        mask = np.isin(lab, values)
        if mask.any():
            regions.append(region_dvh(dose, mask, name=name))
            t = (truth_gy or {}).get(name)
            if t is not None:
                truth_out[name] = float(t)
        else:
            run.notes.append(f"region {name!r} has no voxel on the SPECT grid")
    activity = region_activities(
        aligned.spects,
        times,
        lab,
        study_regions,
        fwhm_mm=run.fwhm_mm,
        pvc=run.pvc,
        ct_hu=None if ct_on_spect is None else np.asarray(ct_on_spect.array),
        kinds=voi.kinds,
    )
    pv_regions: dict[str, PvcRegion] = {}
    pv_step: Step | None = None
    if run.pvc != "none" and run.fwhm_mm is not None:
        run.say("partial-volume correction")
        rho = (
            np.maximum(density_from_ct(ct_on_spect), AIR_DENSITY_G_ML)
            if run.density_correction and ct_on_spect is not None
            else None
        )
        pv_regions, pv_step = pv_corrected_doses(
            np.asarray(dose.array),
            lab,
            study_regions,
            method=run.pvc,
            fwhm_mm=float(run.fwhm_mm),
            spacing_mm=dose.spacing,
            density=rho,
            inputs=(dose.name, voi.labels.name or voi.source),
        )
    return _RegionResults(
        tuple(regions), truth_out, pv_regions, pv_step, activity, voi_reg, lab_vol
    )


def cycle_dosimetry_from_scans(
    scans: Sequence[ScanTimePoint],
    nuclide: str,
    *,
    cycle: int = 1,
    voi: VoiInput | None = None,
    method: DoseMethod = "convolution",
    tia_method: str = "trapezoid",
    register: bool = True,
    density_correction: bool = True,
    registration_levels: tuple[int, ...] = (4, 2),
    pvc: PvcMethod = "gtm",
    fwhm_mm: float | None = None,
    truth_gy: Mapping[str, float] | None = None,
    progress: Callable[[str], None] | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> StudyDosimetry:
    """Voxel and region dosimetry of one cycle from its SPECT/CT time points.

    Steps (each timed in ``timings_s``): every later time point's CT is
    registered (rigid) to the first time point's CT and its SPECT resampled onto
    the first SPECT grid conserving activity; the voxel TIA; the dose map
    (density from the reference CT); then the regions: the VOI label map reaches
    the same grid through one registration of the CT it was drawn on
    (``voi.ct``) to that reference CT, and the DVHs, partial-volume-corrected
    region doses and the region activities that feed the MIRD doses
    (:func:`~sstrkit.therapy.region_activity.region_activities`) all use these
    same registrations. No file is read here: the inputs are volumes
    (:mod:`sstrkit.pipeline.cycle_inputs` reads them from a study folder).

    With a single time point the voxel TIA uses Hänscheid's single-time-point
    approximation (recorded); ``tia_method`` defaults to ``"trapezoid"``
    (with an uptake phase and a first scan at a few hours, a mono-exponential
    from t = 0 over-estimates the TIA by 3 to 13 % for the digital patient).
    """
    from sstrkit.therapy.voxel_tia import voxel_tia

    if not scans:
        raise InvalidInputError("SPECT time points", expected="at least one", actual="none")
    if pvc not in ("gtm", "voi", "none"):
        raise InvalidInputError("partial-volume method", expected="gtm, voi or none", actual=pvc)
    say = progress or (lambda _msg: None)
    run = _CycleRun(register, registration_levels, density_correction, pvc, fwhm_mm, say)
    notes = run.notes
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    scans = sorted(scans, key=lambda s: s.time_s)
    times = [s.time_s for s in scans]
    ref_spect, ref_ct = scans[0].spect, scans[0].ct
    t0 = time.perf_counter()
    aligned = _align_time_points(scans, run)
    timings["registration_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    say("voxel time-integrated activity")
    tia_used = _voxel_tia_method(len(aligned.spects), times[0], tia_method, notes)
    tia_res = voxel_tia(list(aligned.spects), times, nuclide, method=tia_used)  # type: ignore[arg-type]
    timings["tia_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    say("absorbed-dose map")
    ct_on_spect = (
        ref_ct.resample_to(ref_spect, mode="linear", default_value=-1000.0)
        if ref_ct is not None
        else None
    )
    if ct_on_spect is None and density_correction:
        notes.append("no CT at the reference time point: dose map without density correction")
    dose = dose_map(
        tia_res.tia, nuclide, method=method, ct=ct_on_spect if density_correction else None
    )
    timings["dose_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = _RegionResults()
    if voi is not None:
        res = _region_dosimetry(voi, scans, aligned, times, dose, ct_on_spect, truth_gy, run)
    timings["regions_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    params = {
        **(inputs or {}),
        "cycle": cycle,
        "method": method,
        "tia_method": tia_used,
        "register": register,
        "registration_levels": list(registration_levels),
        "density_correction": density_correction,
        "times_h": [t / SECONDS_PER_HOUR for t in times],
        "reference_time_point": 0,
        "pvc": pvc if res.pv_step is not None else "none",
        "fwhm_mm": fwhm_mm,
        "voi_source": voi.source if voi is not None else None,
    }
    return StudyDosimetry(
        cycle,
        nuclide,
        dose,
        tia_res.tia,
        tia_res.lambda_eff_per_s,
        res.regions,
        aligned.records,
        res.truth_gy,
        timings,
        params,
        res.pv_regions,
        res.pv_step,
        res.activity,
        res.voi_registration,
        tuple(notes),
        res.labels,
        ref_ct,
    )
