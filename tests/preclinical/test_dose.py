"""Small-animal dosimetry: sphere-model electron fractions, hand-computed TIA and dose,
reference masses, %kg/g extrapolation, curves from biodistribution and images."""

from __future__ import annotations

import datetime as dt
import itertools
import math

import numpy as np
import pytest

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.physics.nuclides import get_nuclide
from sstrkit.preclinical.biodist import Animal, Tube, biodistribution
from sstrkit.preclinical.dose import (
    OrganTac,
    extrapolate_to_human,
    kirschner_pct_id,
    reference_organ_mass_g,
    small_animal_doses,
    small_organ_electron_fractions,
    tacs_from_biodistribution,
    tacs_from_images,
)
from sstrkit.preclinical.quantify import Injection, RegionMask, quantify
from sstrkit.therapy.sphere import J_PER_MEV, electron_absorbed_fraction, sphere_s_values

H = 3600.0
LU = get_nuclide("Lu-177")
MASSES = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0]


@pytest.mark.parametrize("nuclide", ["Y-90", "Lu-177", "Tb-161"])
def test_small_sphere_electron_fractions_fall_with_mass(nuclide: str) -> None:
    phi = [p for _, p in small_organ_electron_fractions(nuclide, MASSES)]
    # strictly decreasing as the sphere gets smaller, and within (0, 1)
    assert all(0.0 < p < 1.0 for p in phi)
    assert all(a < b for a, b in itertools.pairwise(phi))
    # identical to the sphere model of the dosimetry issue (no second model)
    ref = [s.electron_absorbed_fraction for s in sphere_s_values(nuclide, MASSES)]
    assert phi == pytest.approx(ref, rel=1e-12)


def test_small_sphere_fractions_order_by_electron_range() -> None:
    # 90Y (mean β 0.93 MeV, CSDA range of the mean ~4 mm) loses far more than 177Lu
    # (0.13 MeV, ~0.3 mm) at every small-organ mass.
    y = dict(small_organ_electron_fractions("Y-90", MASSES))
    lu = dict(small_organ_electron_fractions("Lu-177", MASSES))
    assert all(y[m] < lu[m] for m in MASSES)
    # monoenergetic cross-check with the sphere module's own φ_e(E): a 10 keV electron is
    # absorbed in a 0.01 g sphere (range 2.5 µm ≪ radius 1.34 mm)
    assert float(electron_absorbed_fraction(0.01, 0.01)[0]) > 0.99


def test_dose_chain_hand_computed_mono_exponential() -> None:
    # Biology: %ID(t) = 5 % × e^(−λb t), λb = ln2/24 h, in a 0.3 g kidney pair.
    # With 177Lu: A(t) = 1 MBq × 0.05 × e^(−(λb + λ_Lu) t) → TIA/A0 = 0.05 / (λb + λ_Lu).
    # Self electron dose per Bq = (TIA/A0) × E_e × φ_e(0.3 g) × 1.602176634e-13 J/MeV / 0.3e-3 kg
    # with E_e = 0.14792 MeV (ICRP 107 mean electron energy per decay of 177Lu).
    lam_b = math.log(2) / (24 * H)
    t = np.array([1.0, 4.0, 24.0, 48.0, 96.0, 168.0]) * H
    pct = 5.0 * np.exp(-lam_b * t)
    tac = OrganTac("kidneys", tuple(t), tuple(pct / 0.3), 0.3, "measured")
    res = small_animal_doses(
        [tac], nuclide="Lu-177", body_mass_g=25.0, kinetics_model="mono", cross_dose="none"
    )
    k = res["kidneys"]
    tau = 0.05 / (lam_b + LU.decay_constant_per_s)
    assert k.tia_per_administered_s == pytest.approx(tau, rel=1e-6)
    phi_e = sphere_s_values("Lu-177", [0.3])[0].electron_absorbed_fraction
    assert k.electron_absorbed_fraction == pytest.approx(phi_e, rel=1e-12)
    e_e = LU.delta_electrons_mev
    expected_e = tau * e_e * phi_e * J_PER_MEV / 0.3e-3
    photon = sphere_s_values("Lu-177", [0.3])[0].s_photon_gy_per_bq_s * tau
    assert k.self_gy_per_bq == pytest.approx(expected_e + photon, rel=1e-6)
    assert k.cross_gy_per_bq == 0.0
    assert k.in_small_organ_range


def test_trapezoid_tia_hand_computed() -> None:
    # Two points, 177Lu: %ID 10 at 1 h and 6 at 3 h → activities per MBq administered
    # a1 = 1e6 × 0.10 × e^(−λ·1 h), a2 = 1e6 × 0.06 × e^(−λ·3 h).
    # Trapezoid from A(0) = 0: a1·1 h/2 + (a1 + a2)/2 · 2 h + a2/λ (physical tail).
    lam = LU.decay_constant_per_s
    a1 = 1e6 * 0.10 * math.exp(-lam * H)
    a2 = 1e6 * 0.06 * math.exp(-lam * 3 * H)
    tia = a1 * H / 2 + (a1 + a2) / 2 * 2 * H + a2 / lam
    tac = OrganTac("tumour", (H, 3 * H), (10.0 / 0.2, 6.0 / 0.2), 0.2, "measured")
    res = small_animal_doses([tac], nuclide=LU, body_mass_g=20.0, cross_dose="none")
    assert res["tumour"].tia_per_administered_s == pytest.approx(tia / 1e6, rel=1e-12)
    # almost all of it lies after 3 h for a 6.6 d nuclide with 3 h of data: warned
    assert res["tumour"].tail_fraction > 0.9
    assert any("after the last time point" in w for w in res.warnings)


def test_cross_dose_and_masses() -> None:
    t = (H, 24 * H, 72 * H)
    kid = OrganTac(
        "kidneys", t, (10.0, 6.0, 3.0), reference_organ_mass_g("mouse", "kidney", 25), "ref"
    )
    liv = OrganTac("liver", t, (2.0, 1.5, 1.0), 1.375, "ref")
    both = small_animal_doses([kid, liv], nuclide="Lu-177", body_mass_g=25.0)
    alone = small_animal_doses([kid], nuclide="Lu-177", body_mass_g=25.0)
    # uniform model: the liver's photons add to the kidney dose; self-doses unchanged
    assert both["kidneys"].cross_gy_per_bq > alone["kidneys"].cross_gy_per_bq
    assert both["kidneys"].self_gy_per_bq == pytest.approx(alone["kidneys"].self_gy_per_bq)
    with pytest.raises(InvalidInputError, match="body mass"):
        small_animal_doses([kid, liv], nuclide="Lu-177", body_mass_g=1.0)
    tiny = OrganTac("node", t, (10.0, 5.0, 2.0), 0.005, "measured")
    res = small_animal_doses([tiny], nuclide="Y-90", body_mass_g=25.0)
    assert any("below 0.01 g" in w for w in res.warnings)
    assert not res["node"].in_small_organ_range


def test_reference_masses_are_brown_1997_fractions() -> None:
    # Brown et al. 1997 Table 4: mouse kidneys 1.7 %, liver 5.5 % of body mass; rat kidneys 0.73 %.
    assert reference_organ_mass_g("mouse", "kidneys", 30.0) == pytest.approx(0.51)
    assert reference_organ_mass_g("mouse", "Liver", 20.0) == pytest.approx(1.1)
    assert reference_organ_mass_g("rat", "kidney", 300.0) == pytest.approx(2.19)
    with pytest.raises(InvalidInputError, match="measured mass"):
        reference_organ_mass_g("mouse", "tumour", 25.0)
    with pytest.raises(InvalidInputError, match="species"):
        reference_organ_mass_g("hamster", "kidneys", 100.0)


def test_kirschner_extrapolation_hand_computed() -> None:
    # %kg/g: 4 %ID/g in a 25 g mouse → human kidneys (310 g, 73 kg ICRP 89 male):
    # 4 × 0.025 × 310 / 73 = 0.424658 %ID.
    assert kirschner_pct_id(
        4.0, animal_body_mass_g=25.0, human_organ_mass_g=310.0, human_body_mass_g=73000.0
    ) == pytest.approx(0.424658, abs=5e-7)
    t = (H, 24 * H, 72 * H)
    kid = OrganTac("kidney", t, (4.0, 3.0, 1.0), 0.42, "measured")
    h = extrapolate_to_human([kid], nuclide="Lu-177", animal_body_mass_g=25.0)
    ht = h.tacs[0]
    assert ht.mass_g == 310.0 and h.body_mass_g == 73000.0
    assert ht.pct_id == pytest.approx(tuple(v * 0.025 * 310 / 73 for v in (4.0, 3.0, 1.0)))
    # human organs: electrons locally absorbed (MIRD organ convention)
    assert h["kidney"].electron_absorbed_fraction == 1.0
    f = extrapolate_to_human([kid], nuclide="Lu-177", animal_body_mass_g=25.0, sex="female")
    assert f.tacs[0].mass_g == 275.0 and f.body_mass_g == 60000.0
    # One Sex type: "F" is the library's spelling, "female" is read at the boundary; the
    # result (mass source, provenance) keeps the word "female" either way.
    short = extrapolate_to_human([kid], nuclide="Lu-177", animal_body_mass_g=25.0, sex="F")
    assert short.to_dict() == f.to_dict()
    assert "(female)" in f.tacs[0].mass_source
    with pytest.raises(InvalidInputError, match="sex"):
        extrapolate_to_human([kid], nuclide="Lu-177", animal_body_mass_g=25.0, sex="O")
    with pytest.raises(InvalidInputError, match="human mass of 'tumour'"):
        extrapolate_to_human(
            [OrganTac("tumour", t, (1.0, 1.0, 1.0), 0.1, "m")],
            nuclide="Lu-177",
            animal_body_mass_g=25.0,
        )
    given = extrapolate_to_human(
        [OrganTac("tumour", t, (1.0, 1.0, 1.0), 0.1, "m")],
        nuclide="Lu-177",
        animal_body_mass_g=25.0,
        human_masses_g={"tumour": 50.0},
    )
    assert given.tacs[0].mass_g == 50.0


def test_tacs_from_biodistribution() -> None:
    # Dilution standards, no decay between tubes; kidney %ID/g 4 and 6 at 1 h (mean 5), 2 at 24 h.
    t = dt.datetime(2026, 3, 3, 10, 0, tzinfo=dt.UTC)
    tubes = [
        Tube("bg", "background", 0, 10, t),
        Tube("s", "standard", 1000 * 10, 10, t, id_fraction=0.01),
    ]
    animals = []
    for i, (tp, pct_g) in enumerate(((1.0, 4.0), (1.0, 6.0), (24.0, 2.0))):
        animals.append(Animal(f"m{i}", "A", tp, body_mass_g=20.0 + 10 * (i == 0)))
        # %ID/g × 0.1 g = %ID; net cps = %ID/100 × 100 000 cps per ID
        tubes.append(
            Tube(
                f"k{i}",
                "tissue",
                pct_g * 0.1 * 1000 * 10,
                10,
                t,
                animal=f"m{i}",
                tissue="kidney",
                weight_g=0.1,
            )
        )
    bd = biodistribution(tubes, animals, half_life=LU)
    tacs = tacs_from_biodistribution(bd, species="mouse")
    assert tacs[0].times_s == (H, 24 * H)
    assert tacs[0].pct_id_per_g == pytest.approx((5.0, 2.0))
    # body mass = mean of the group (30, 20, 20 g) → 23.333 g × 1.7 %
    assert tacs[0].mass_g == pytest.approx(0.017 * 70.0 / 3.0)
    assert tacs_from_biodistribution(bd, masses_g={"kidney": 0.5})[0].mass_g == 0.5
    with pytest.raises(InvalidInputError, match="mass of 'kidney'"):
        tacs_from_biodistribution(bd, body_mass_g=None, organs=["kidney"], species=None)
    with pytest.raises(InvalidInputError, match="group"):
        tacs_from_biodistribution(bd, group="B")


def test_tacs_from_images() -> None:
    # Two images of one mouse: a 1 mL kidney region (1000 voxels of 1 mm³) at 2 %ID/mL at 1 h
    # and 1 %ID/mL at 24 h (decay corrected) → whole-organ %ID 2 and 1, mass 1 g.
    t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    inj = Injection(10e6, t0, LU.half_life_s)
    mask = np.zeros((10, 10, 20), bool)
    mask[:, :, :10] = True
    quants = []
    for hours, pct in ((24.0, 1.0), (1.0, 2.0)):  # given out of order on purpose
        decay = math.exp(-LU.decay_constant_per_s * hours * H)
        conc = pct / 100 * 10e6 * decay  # Bq/mL at the scan
        img = Volume.from_array(
            np.full((10, 10, 20), conc),
            spacing=(1.0, 1.0, 1.0),
            unit="Bq/mL",
            quantity="activity_concentration",
            reference_time=t0 + dt.timedelta(hours=hours),
        )
        quants.append(quantify(img, inj, [RegionMask.from_array("kidneys", mask)]))
    tac = tacs_from_images(quants)[0]
    assert tac.times_s == (H, 24 * H)
    assert tac.mass_g == pytest.approx(1.0)
    assert tac.pct_id == pytest.approx((2.0, 1.0), rel=1e-9)
