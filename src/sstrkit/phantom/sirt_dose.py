"""True absorbed doses of the digital patient's 90Y implant (permanent, physical decay only).

An independent physics calculation on the fine truth grid (the baseline anatomy, in the
baseline 68Ga PET/CT coordinates), not the ``sstrkit.sirt`` code under test:

1. Number of decays per voxel: each region's implanted activity (Bq at the implant) × the
   mean life T½/ln 2 (permanent implant: no biological clearance), spread uniformly over
   the region's voxels.
2. β transport: the decays convolved (FFT) with the voxel S values of 90Y for the grid's
   voxel size (:func:`sstrkit.physics.kernels.voxel_kernel`: ICRP 107 β spectrum and
   conversion electrons, condensed-history dose point kernel, soft tissue 1.04 g/cm³), the
   kernel reaching past the CSDA range of the β end-point energy, converted to energy per
   voxel (J) with the kernel's voxel mass.
3. Dose = energy / voxel mass (volume × the region's density, ICRP 110 densities of the
   phantom; outside the body nothing is scored). The kernel is water-equivalent everywhere:
   in the lungs (0.38 g/mL) the electrons would travel further, which moves energy only
   within the lungs and across their surface; the mean lung dose is the energy absorbed in
   the lungs over their mass.

Because the energy is conserved up to the kernel's extent, Σ dose × mass over the grid
equals the emitted β energy (within the kernel's truncation, reported).

Examples
--------
>>> kernel_half_size(2.0), kernel_half_size(8.0)
(7, 3)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from sstrkit.core.units import BQ_PER_MBQ, G_PER_KG, J_PER_MEV, MGY_PER_GY
from sstrkit.phantom.anatomy import LABELS, LESION_LABEL0, Anatomy
from sstrkit.phantom.sirt_distribution import SirtMasses
from sstrkit.physics.kernels import tissue_density_g_cm3, voxel_kernel
from sstrkit.physics.nuclides import get_nuclide
from sstrkit.physics.ranges import csda_range_water_mm

__all__ = ["DoseTruth", "kernel_half_size", "true_dose"]

NUCLIDE = "Y-90"


def kernel_half_size(voxel_mm: float) -> int:
    """Kernel half size (voxels) reaching past the soft-tissue CSDA range of the 90Y β
    end-point energy (ICRP 107 E_max 2.28 MeV: ≈ 11 mm in water), plus one voxel."""
    nuc = get_nuclide(NUCLIDE)
    assert nuc.beta_minus_emax_mev is not None
    reach = float(csda_range_water_mm(nuc.beta_minus_emax_mev)) / tissue_density_g_cm3("soft")
    return min(64, math.ceil(reach / voxel_mm) + 1)


@dataclass(frozen=True)
class DoseTruth:
    """The true dose map (Gy, truth grid) and its regional summary."""

    dose_gy: NDArray[np.float32]
    regions: dict[str, dict[str, float]]
    emitted_j: float
    deposited_j: float
    kernel: dict[str, Any]

    def mean_dose_gy(self, region: str) -> float:
        return self.regions[region]["mean_dose_gy"]


def _density_table(anatomy: Anatomy) -> NDArray[np.float64]:
    """Label value -> density (g/mL); 0 outside the body (nothing scored there)."""
    table = np.zeros(LESION_LABEL0 + 64, dtype=np.float64)
    for name, label in LABELS.items():
        table[label] = anatomy.density(name)
    for i, les in enumerate(anatomy.model.lesions):
        table[anatomy.model.lesion_label(i)] = anatomy.density(les.id)
    return table


def _box(mask: NDArray[np.bool_], pad: int) -> tuple[slice, ...]:
    idx = [np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != k))) for k in range(3)]
    return tuple(
        slice(max(0, int(i[0]) - pad), min(n, int(i[-1]) + 1 + pad))
        for i, n in zip(idx, mask.shape, strict=True)
    )


def true_dose(
    baseline: Anatomy, masses: SirtMasses, activities_bq: Mapping[str, float]
) -> DoseTruth:
    """Absorbed doses of ``activities_bq`` (region -> 90Y Bq at the implant; regions
    ``liver``, ``lungs`` and tumour ids) on the baseline truth grid."""
    grid = baseline.model.grid
    labels = np.asarray(baseline.labels.array)
    counts = baseline.counts()
    nuc = get_nuclide(NUCLIDE)
    tau_s = 1.0 / nuc.decay_constant_per_s
    per_label = np.zeros(LESION_LABEL0 + 64, dtype=np.float64)
    for region, act in activities_bq.items():
        values = baseline.label_values(region)
        n = sum(int(counts[v]) for v in values)
        for v in values:
            per_label[v] = act * tau_s / n if n else 0.0
    decays = per_label[labels]
    half = kernel_half_size(min(grid.spacing))
    kernel = voxel_kernel(NUCLIDE, grid.spacing, half_size=half, tissue="soft", electrons="all")
    kernel_mass_kg = kernel.voxel_mass_g / G_PER_KG
    # mGy/(MBq s) -> J per decay deposited in the target voxel
    k_j = np.asarray(kernel.array) / MGY_PER_GY / BQ_PER_MBQ * kernel_mass_kg
    energy = np.zeros(labels.shape, dtype=np.float64)
    box = _box(decays > 0, half)
    energy[box] = np.clip(signal.fftconvolve(decays[box], k_j, mode="same"), 0.0, None)
    density = _density_table(baseline)[labels]
    mass_kg = density * grid.voxel_ml / G_PER_KG
    dose = np.divide(energy, mass_kg, out=np.zeros_like(energy), where=mass_kg > 0)
    e_decay_j = (nuc.delta_electrons_mev + nuc.delta_photons_mev) * J_PER_MEV  # emitted
    regions: dict[str, dict[str, float]] = {}
    for region, mass_g in (
        ("liver", masses.normal_liver_g),
        ("lungs", masses.lungs_g),
        *((t.id, t.mass_g) for t in masses.tumours),
    ):
        mask = np.isin(labels, baseline.label_values(region))
        e_j = float(energy[mask].sum())
        act = float(activities_bq.get(region, 0.0))
        regions[region] = {
            "mass_g": mass_g,
            "activity_bq": act,
            "energy_j": e_j,
            "mean_dose_gy": e_j / (mass_g / G_PER_KG) if mass_g > 0 else 0.0,
            "local_deposition_dose_gy": act * tau_s * e_decay_j / (mass_g / G_PER_KG)
            if mass_g > 0
            else 0.0,
        }
    emitted = float(decays.sum()) * e_decay_j
    info = kernel.to_dict()
    info.pop("history", None)
    info["energy_per_decay_in_kernel_mev"] = kernel.energy_in_kernel_mev()
    info["energy_per_decay_emitted_mev"] = nuc.delta_electrons_mev + nuc.delta_photons_mev
    return DoseTruth(
        dose_gy=dose.astype(np.float32),
        regions=regions,
        emitted_j=emitted,
        deposited_j=float(energy[mass_kg > 0].sum()),
        kernel=info,
    )
