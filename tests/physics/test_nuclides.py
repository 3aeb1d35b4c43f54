"""Nuclear data against ICRP Publication 107 (Ann. ICRP 38(3), 2008).

Reference values are those printed in ICRP 107's nuclide tables (half-lives,
yields, mean energies per decay); the end points are cross-checked against the
allowed-shape inversion of the mean energies, an independent computation.
"""

from __future__ import annotations

import numpy as np
import pytest

from sstrkit.errors import UnknownNuclideError
from sstrkit.physics.beta import endpoint_from_mean
from sstrkit.physics.nuclides import available_nuclides, get_nuclide, normalise_name

DAY, HOUR, MINUTE = 86400.0, 3600.0, 60.0

# ICRP 107 half-lives of the nuclides of the review's Table 1.
HALF_LIVES_S = {
    "In-111": 2.8047 * DAY,
    "Tc-99m": 6.015 * HOUR,
    "I-123": 13.27 * HOUR,
    "Ga-68": 67.71 * MINUTE,
    "Cu-64": 12.70 * HOUR,
    "F-18": 109.77 * MINUTE,
    "Y-86": 14.74 * HOUR,
    "Y-90": 64.10 * HOUR,
    "Lu-177": 6.647 * DAY,
    "C-11": 20.39 * MINUTE,
}


@pytest.mark.parametrize(("name", "expected"), sorted(HALF_LIVES_S.items()))
def test_half_lives(name: str, expected: float) -> None:
    # ICRP 107 prints 4–5 significant digits: agreement to 1e-4 relative.
    assert get_nuclide(name).half_life_s == pytest.approx(expected, rel=1e-4)


def test_lu177_energies() -> None:
    lu = get_nuclide("Lu-177")
    # ICRP 107, Lu-177: electrons 0.1479 MeV/decay, photons 0.0351 MeV/decay,
    # β⁻ end point 0.4978 MeV, mean β⁻ energy 0.1333 MeV per decay.
    assert lu.delta_electrons_mev == pytest.approx(0.1479, abs=5e-5)
    assert lu.delta_photons_mev == pytest.approx(0.0351, abs=5e-5)
    assert lu.beta_minus_emax_mev == pytest.approx(0.4978, abs=1e-4)
    assert lu.beta_minus_mean_mev == pytest.approx(0.1333, abs=5e-4)
    assert lu.positron_fraction == 0.0
    # γ lines: 112.95 keV (6.4 %) and 208.37 keV (11.0 %).
    (e1, y1), (e2, y2) = lu.gammas(0.01)
    assert (e1, y1) == pytest.approx((0.11295, 0.064), rel=1e-3)
    assert (e2, y2) == pytest.approx((0.208366, 0.110), rel=1e-3)


def test_y90_energies() -> None:
    y = get_nuclide("Y-90")
    # ICRP 107, Y-90: β⁻ end point 2.2801 MeV, mean β⁻ energy 0.9327 MeV per decay,
    # essentially no photons (internal bremsstrahlung not included in ICRP 107).
    assert y.beta_minus_emax_mev == pytest.approx(2.2801, abs=1e-4)
    assert y.beta_minus_mean_mev == pytest.approx(0.9327, abs=1e-3)
    assert y.delta_photons_mev < 1e-5
    assert y.gammas(0.01) == []


def test_positron_fractions() -> None:
    # ICRP 107: Ga-68 β⁺ 0.8891/decay; F-18 0.9673/decay; Cu-64 0.1741 β⁺/decay.
    assert get_nuclide("Ga-68").positron_fraction == pytest.approx(0.8891, abs=1e-4)
    assert get_nuclide("F-18").positron_fraction == pytest.approx(0.9673, abs=1e-4)
    assert get_nuclide("Cu-64").positron_fraction == pytest.approx(0.1741, abs=1e-3)


def test_in111_gammas() -> None:
    # ICRP 107, In-111: 171.28 keV (90.7 %), 245.35 keV (94.1 %).
    lines = get_nuclide("In-111").gammas(0.5)
    assert [round(e * 1000, 1) for e, _ in lines] == [171.3, 245.4]
    assert [y for _, y in lines] == pytest.approx([0.907, 0.941], abs=0.002)


@pytest.mark.parametrize(
    ("name", "z_daughter", "sign"), [("Lu-177", 72, -1), ("F-18", 8, +1), ("Ga-68", 30, +1)]
)
def test_endpoint_cross_check(name: str, z_daughter: int, sign: int) -> None:
    # Independent check: invert the allowed shape from the strongest branch's mean
    # energy and compare with the end of ICRP-107's spectrum (1 %: allowed shape).
    n = get_nuclide(name)
    kind = "beta-" if sign < 0 else "beta+"
    mean, _ = max(n.emissions[kind], key=lambda ey: ey[0])
    derived = endpoint_from_mean(mean, z_daughter, n.a, sign)
    expected = n.beta_minus_emax_mev if sign < 0 else n.beta_plus_emax_mev
    assert derived == pytest.approx(expected, rel=0.01)


def test_cu64_mixed_endpoints() -> None:
    # Cu-64 emits both: β⁻ end point 0.5794 MeV, β⁺ 0.6531 MeV (ICRP 107 / NNDC).
    cu = get_nuclide("Cu-64")
    assert cu.beta_plus_emax_mev == pytest.approx(0.6531, abs=1e-4)  # spectrum end
    assert cu.beta_minus_emax_mev == pytest.approx(0.5794, rel=0.01)  # derived
    assert "inversion" in (cu.emax_source or "")


def test_spectrum_mean_matches_branch_means() -> None:
    # ∫E N(E) dE of the tabulated spectrum equals Σ Ē·y of the β⁻ branches (1 %).
    lu = get_nuclide("Lu-177")
    e, n = lu.beta_spectrum()
    assert np.trapezoid(n, e) == pytest.approx(1.0, rel=0.01)  # one β per decay
    assert np.trapezoid(e * n, e) == pytest.approx(lu.beta_minus_mean_mev, rel=0.01)


def test_ranges_against_review() -> None:
    # Review §3.4: 90Y particle range "maximally 12 mm"; 177Lu "maximally 2.1 mm".
    assert 10.0 < get_nuclide("Y-90").csda_range_water_mm < 12.0
    assert 1.5 < get_nuclide("Lu-177").csda_range_water_mm < 2.1
    assert get_nuclide("In-111").csda_range_water_mm is None


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("177Lu", "Lu-177"),
        ("lu177", "Lu-177"),
        ("Lu-177", "Lu-177"),
        ("99mTc", "Tc-99m"),
        ("Tc99m", "Tc-99m"),
        ("ga-68", "Ga-68"),
        ("Y 90", "Y-90"),
        ("177mLu", "Lu-177m"),
    ],
)
def test_name_normalisation(raw: str, canonical: str) -> None:
    assert normalise_name(raw) == canonical
    assert get_nuclide(raw).name == canonical


def test_unknown_nuclide_suggests_names() -> None:
    with pytest.raises(UnknownNuclideError) as info:
        get_nuclide("Lu-176x")
    msg = str(info.value)
    assert "Lu-176" in msg and "did you mean" in msg and "\n" not in msg


def test_database_is_complete_enough() -> None:
    names = available_nuclides()
    assert len(names) > 1000 and "Lu-177" in names and "Ac-225" in names


def test_nuclide_is_immutable() -> None:
    lu = get_nuclide("Lu-177")
    with pytest.raises(AttributeError):
        lu.half_life_s = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        lu.emissions["gamma"] = ()  # type: ignore[index]
