"""Red marrow by the EANM blood-based method: hand calculations and bad input."""

from __future__ import annotations

import pytest

from sstrkit.errors import InvalidInputError
from sstrkit.physics.nuclides import get_nuclide
from sstrkit.therapy.marrow import red_marrow_dose, reference_mass_g, sex_word
from sstrkit.therapy.sphere import J_PER_MEV, sphere_s_value


def test_icrp89_reference_masses() -> None:
    # ICRP Publication 89, Table 2.8: red marrow 1170 g (male) / 900 g (female); total body
    # 73 kg / 60 kg.
    assert reference_mass_g("red_marrow", "male") == 1170.0
    assert reference_mass_g("red_marrow", "female") == 900.0
    assert reference_mass_g("total_body", "male") == 73000.0
    assert reference_mass_g("total_body", "female") == 60000.0


def test_sex_is_read_at_the_public_boundary_and_printed_as_before() -> None:
    # One Sex type ("F"/"M"); the public functions also read "female"/"male" (parse_sex), and
    # the outputs keep the ICRP 89 words: ICRP 89 Table 2.8, female red marrow 900 g.
    assert reference_mass_g("red_marrow", "F") == reference_mass_g("red_marrow", "female")
    assert sex_word("F") == "female" and sex_word("M") == "male"
    f = red_marrow_dose("Lu-177", blood_tia_bq_s_per_ml=1e8, sex="F")
    word = red_marrow_dose("Lu-177", blood_tia_bq_s_per_ml=1e8, sex=" Female")
    assert f.to_dict() == word.to_dict()
    assert f.red_marrow_mass_g == 900.0 and f.mass_source == "ICRP 89 reference (female)"
    assert f.provenance[0].parameters["sex"] == "female"
    with pytest.raises(InvalidInputError, match="sex"):
        reference_mass_g("red_marrow", "O")


def test_self_electron_dose_hand_calculation() -> None:
    # EANM (Hindorf et al. 2010): Ã_RM = [Ã]_bl·RMBLR·m_RM. Blood 2.0e8 Bq·s/mL, RMBLR 1,
    # m_RM 1170 g → Ã_RM = 2.34e11 Bq·s; D_e = Ã_RM·Δ_e/m_RM = 2.0e8·1000·Δ_e·1.602e-13 Gy
    # (the marrow mass cancels for φ_e = 1).
    lu = get_nuclide("Lu-177")
    d = red_marrow_dose("Lu-177", blood_tia_bq_s_per_ml=2.0e8)
    assert d.red_marrow_tia_bq_s == pytest.approx(2.34e11, rel=1e-12)
    assert d.self_electron_gy == pytest.approx(
        2.0e8 * 1000.0 * lu.delta_electrons_mev * J_PER_MEV, rel=1e-12
    )
    assert d.remainder_photon_gy is None  # no whole-body TIA: no remainder term


def test_rmblr_and_mass_scaling() -> None:
    # Mass scaling by body mass (EANM): 90 kg male → 1170·90/73 g. RMBLR scales the TIA.
    d = red_marrow_dose("Lu-177", blood_tia_bq_s_per_ml=1e8, rmblr=0.36, patient_mass_g=90000.0)
    m_rm = 1170.0 * 90.0 / 73.0
    assert d.red_marrow_mass_g == pytest.approx(m_rm, rel=1e-12)
    assert d.red_marrow_tia_bq_s == pytest.approx(1e8 * 0.36 * m_rm, rel=1e-12)
    assert "scaled" in d.mass_source
    f = red_marrow_dose("Lu-177", blood_tia_bq_s_per_ml=1e8, sex="female")
    assert f.red_marrow_mass_g == 900.0
    own = red_marrow_dose("Lu-177", blood_tia_bq_s_per_ml=1e8, red_marrow_mass_g=1000.0)
    assert own.red_marrow_mass_g == 1000.0 and own.mass_source == "patient-specific"


def test_remainder_of_body_photon_contribution() -> None:
    # Uniform-photon-field S approximation: S_γ(RM←RB) = S_γ(TB←TB) = Δ_γ·φ_γ(m_WB)/m_WB;
    # remainder TIA = Ã_WB − Ã_RM (EANM); the photon parts are reported separately.
    d = red_marrow_dose(
        "Lu-177", blood_tia_bq_s_per_ml=2.0e8, whole_body_tia_bq_s=1.5e14, patient_mass_g=73000.0
    )
    s_tb = sphere_s_value("Lu-177", 73000.0).s_photon_gy_per_bq_s
    assert d.remainder_tia_bq_s == pytest.approx(1.5e14 - 2.34e11, rel=1e-12)
    assert d.remainder_photon_gy == pytest.approx((1.5e14 - 2.34e11) * s_tb, rel=1e-12)
    assert d.self_photon_gy == pytest.approx(2.34e11 * s_tb, rel=1e-12)
    assert d.total_gy == pytest.approx(
        d.self_electron_gy + d.self_photon_gy + d.remainder_photon_gy, rel=1e-12
    )
    # For 177Lu the remainder photons matter for marrow (Forrer et al. 2009 stress the cross
    # dose): here they are a sizeable share of the total.
    assert d.remainder_photon_gy > 0.1 * d.total_gy


def test_y90_has_negligible_photon_dose() -> None:
    # 90Y emits 1.2e-6 MeV of photons per decay vs 0.933 MeV of electrons (ICRP 107).
    d = red_marrow_dose("Y-90", blood_tia_bq_s_per_ml=1e8, whole_body_tia_bq_s=1e13)
    assert d.remainder_photon_gy is not None
    assert (d.self_photon_gy + d.remainder_photon_gy) < 1e-4 * d.self_electron_gy


def test_override_electron_fraction() -> None:
    full = red_marrow_dose("Y-90", blood_tia_bq_s_per_ml=1e8)
    half = red_marrow_dose("Y-90", blood_tia_bq_s_per_ml=1e8, electron_absorbed_fraction=0.5)
    assert half.self_electron_gy == pytest.approx(0.5 * full.self_electron_gy, rel=1e-12)


def test_bad_inputs() -> None:
    with pytest.raises(InvalidInputError, match="blood TIA"):
        red_marrow_dose("Lu-177", blood_tia_bq_s_per_ml=-1.0)
    with pytest.raises(InvalidInputError, match="RMBLR"):
        red_marrow_dose("Lu-177", blood_tia_bq_s_per_ml=1.0, rmblr=-0.1)
    with pytest.raises(InvalidInputError, match="electron absorbed fraction"):
        red_marrow_dose("Lu-177", blood_tia_bq_s_per_ml=1.0, electron_absorbed_fraction=1.5)
    with pytest.raises(InvalidInputError, match="sex"):
        red_marrow_dose("Lu-177", blood_tia_bq_s_per_ml=1.0, sex="x")
    with pytest.raises(InvalidInputError, match="whole-body TIA"):
        red_marrow_dose("Lu-177", blood_tia_bq_s_per_ml=1e9, whole_body_tia_bq_s=1e9)
    with pytest.raises(InvalidInputError, match="patient mass"):
        red_marrow_dose("Lu-177", blood_tia_bq_s_per_ml=1.0, patient_mass_g=70.0)
