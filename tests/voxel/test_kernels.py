"""Voxel S-value kernels: validation against Lanconelli et al. (2012) and conservation.

Reference values: Lanconelli N, Pacilio M, Lo Meo S, et al., "A free database of
radionuclide voxel S values for the dosimetry of nonuniform activity
distributions", Phys. Med. Biol. 57 (2012) 517–533, soft tissue, central voxel
(0,0,0) and face neighbour (0,0,1), mGy/(MBq·s), as distributed in the database
files (e.g. ``177Lu4.8mmsoft.txt``). Tolerance 5 % (the issue's acceptance
criterion; Lanconelli's own MC statistical uncertainty is ≤ 1 % there).

The database's ¹⁷⁷Lu values correspond to β-only sources (our β-only kernel is
within 3 % of the central voxel, the all-electron kernel 8 % above — the
14.3 keV per decay of IC and Auger electrons is 9.7 % of ¹⁷⁷Lu's electron
energy), so the comparison uses ``electrons="beta"``; ⁹⁰Y has no relevant IC.
"""

from __future__ import annotations

import numpy as np
import pytest

from sstrkit.errors import InvalidInputError
from sstrkit.physics.kernels import (
    MEV_TO_J,
    electron_cumulative_energy,
    photon_cumulative_energy,
    voxel_kernel,
)
from sstrkit.physics.nuclides import get_nuclide

LANCONELLI = [
    # nuclide, voxel mm, S(0,0,0), S(0,0,1)  [mGy/(MBq·s)]
    ("Lu-177", 4.8, 1.78e-1, 2.46e-3),
    ("Lu-177", 4.0, 3.02e-1, 4.98e-3),
    ("Y-90", 3.0, 1.59, 2.75e-1),
    ("Y-90", 4.8, 5.73e-1, 7.63e-2),
    ("Y-90", 6.0, 3.42e-1, 3.80e-2),
]


@pytest.mark.parametrize(("nuclide", "voxel", "s_center", "s_face"), LANCONELLI)
def test_center_and_face_neighbours_match_lanconelli_2012(
    nuclide: str, voxel: float, s_center: float, s_face: float
) -> None:
    k = voxel_kernel(nuclide, voxel, half_size=2, electrons="beta")
    a = k.array
    assert a[2, 2, 2] == pytest.approx(s_center, rel=0.05)
    for face in (a[2, 2, 3], a[2, 2, 1], a[2, 3, 2], a[2, 1, 2], a[3, 2, 2], a[1, 2, 2]):
        assert face == pytest.approx(s_face, rel=0.05)


@pytest.mark.parametrize("nuclide", ["Lu-177", "Y-90"])
def test_energy_conservation_electrons(nuclide: str) -> None:
    # Σ S·m over a kernel that contains the maximum electron range must give back the
    # emitted electron energy per decay (ICRP 107 mean energies Δe, independent of the
    # spectrum table integrated by the kernel) within 1 %.
    nuc = get_nuclide(nuclide)
    voxel = 2.0
    half = int(np.ceil((nuc.csda_range_water_mm or 0) / 1.04 / voxel)) + 1
    k = voxel_kernel(nuclide, voxel, half_size=half, tissue="soft")
    photons_in = float(photon_cumulative_energy(nuc, np.array([0.0]), 1.04)[0])
    electron_part = k.energy_in_kernel_mev()
    # subtract the photon energy deposited inside the kernel (computed independently)
    r_cover = half * voxel
    photon_in_cover = float(photon_cumulative_energy(nuc, np.array([r_cover]), 1.04)[0])
    assert photons_in <= photon_in_cover
    e_electrons = electron_part - photon_in_cover
    assert e_electrons == pytest.approx(nuc.delta_electrons_mev, rel=0.01)
    assert k.electron_fraction_in_kernel == pytest.approx(1.0, abs=0.01)


def test_energy_in_kernel_equals_point_kernel_within_cover_radius() -> None:
    # Tents partition unity: Σ S·m = Φ(r) for every r ≤ half·L. With the point-kernel
    # functions evaluated independently at r = half·L (no voxel geometry involved),
    # the kernel's total must agree within 1 % (the part between half·L and the
    # kernel's corners is bounded by Φ(√3·(half+1)L) − Φ(half·L)).
    nuc = get_nuclide("Lu-177")
    k = voxel_kernel("Lu-177", 3.0, half_size=3)
    inner = float(
        electron_cumulative_energy(nuc, np.array([9.0]), 1.04)[0]
        + photon_cumulative_energy(nuc, np.array([9.0]), 1.04)[0]
    )
    outer = float(
        electron_cumulative_energy(nuc, np.array([3.0 * 4 * 3**0.5]), 1.04)[0]
        + photon_cumulative_energy(nuc, np.array([3.0 * 4 * 3**0.5]), 1.04)[0]
    )
    total = k.energy_in_kernel_mev()
    assert inner * 0.99 <= total <= outer * 1.01


def test_kernel_symmetry_and_units() -> None:
    k = voxel_kernel("Lu-177", 4.8, half_size=3)
    a = k.array
    assert a.shape == (7, 7, 7)
    np.testing.assert_allclose(a, a[::-1, :, :], rtol=1e-12)
    # axis permutation: exact physics, 0.1 % quadrature (Gauss–Legendre in cos θ, φ)
    np.testing.assert_allclose(a, np.transpose(a, (2, 1, 0)), rtol=2e-3)
    assert a.argmax() == np.ravel_multi_index((3, 3, 3), a.shape)
    # Upper bound by hand: all 0.1479 MeV of electrons + all photons in one 4.8 mm voxel
    # of soft tissue: 0.183 MeV × 1.602e-13 J / 1.1501e-4 kg × 1e6 × 1e3 = 0.2550 mGy/(MBq·s).
    bound = (0.1479 + 0.0351) * MEV_TO_J / (4.8**3 * 1.04e-6) * 1e9
    assert a[3, 3, 3] < bound


def test_anisotropic_voxel_kernel() -> None:
    k = voxel_kernel("Y-90", (3.0, 3.0, 6.0), half_size=2)
    a = k.array  # (z, y, x)
    assert a[2, 2, 3] > a[3, 2, 2]  # neighbour along x (3 mm) is closer than along z (6 mm)
    np.testing.assert_allclose(a[2, 2, 3], a[2, 3, 2], rtol=2e-3)


def test_bone_kernel_density_scaling() -> None:
    # Denser tissue: heavier voxel, shorter ranges → more energy stays in the source voxel
    # but the dose per decay is below soft tissue's (mass 1.92/1.04 larger).
    soft = voxel_kernel("Y-90", 4.8, half_size=1, tissue="soft").center_mgy_per_mbq_s
    bone = voxel_kernel("Y-90", 4.8, half_size=1, tissue="bone").center_mgy_per_mbq_s
    assert bone < soft < bone * 1.92 / 1.04


def test_cache_roundtrip_is_identical(kernel_cache: object) -> None:
    a = voxel_kernel("Lu-177", 5.0, half_size=1).array
    b = voxel_kernel("Lu-177", 5.0, half_size=1).array
    c = voxel_kernel("Lu-177", 5.0, half_size=1, use_cache=False).array
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, c, rtol=1e-12)


def test_bad_inputs() -> None:
    with pytest.raises(InvalidInputError):
        voxel_kernel("Lu-177", -1.0)
    with pytest.raises(InvalidInputError):
        voxel_kernel("Lu-177", 4.0, tissue="lung")
    with pytest.raises(InvalidInputError):
        voxel_kernel("Lu-177", 4.0, electrons="gamma")
