"""Inflated lung is tissue, not air: its 90Y energy counts in the lung dose.

Reference (hand calculation in the test): a lung VOI of voxels from −950 to −850 HU (the
lung VOI's own CT window starts at −950 HU, ``sirt.plan_vois.LUNG_HU_WINDOW``), each with
the same activity A; the mean absorbed dose is the energy over the mass,
E·ΣA / Σρ·V (MIRD), ρ from the default HU calibration (ρ ≈ 1 + HU/1000 below 0 HU). With
the former air cut at 0.1 g/mL (−900 HU) half of these voxels were dropped and the lung
dose read about half of this.
"""

from __future__ import annotations

import numpy as np
import pytest

from sstrkit.core.volume import Volume
from sstrkit.sirt.physics import Y90_ENERGY_J_PER_GBQ
from sstrkit.sirt.y90_dose import ldm_dose, region_mean_gy
from sstrkit.therapy.region_activity import density_from_ct


def test_lung_voxels_above_minus_950_hu_keep_their_energy() -> None:
    hu = np.linspace(-950.0, -850.0, 11).reshape(1, 1, 11)
    ct = Volume.from_array(hu, spacing=(4.0, 4.0, 4.0), unit="HU", modality="CT")
    rho = density_from_ct(ct)
    activity_bq = 1.0e6
    act = ct.with_array(
        np.full(hu.shape, activity_bq), operation="test", unit="Bq", quantity="activity"
    )
    dose = ldm_dose(act, rho)
    mask = np.ones(hu.shape, dtype=bool)
    energy_j = Y90_ENERGY_J_PER_GBQ * activity_bq * hu.size / 1e9
    mass_kg = float(rho.sum()) * ct.voxel_volume_ml / 1000.0
    assert region_mean_gy(dose, rho, mask) == pytest.approx(energy_j / mass_kg, rel=1e-6)
