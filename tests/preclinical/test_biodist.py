"""Ex-vivo biodistribution: hand-computed %ID/g with decay correction, summaries, errors, CSV."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sstrkit.errors import InvalidInputError
from sstrkit.physics.nuclides import get_nuclide
from sstrkit.preclinical.biodist import (
    Animal,
    Tube,
    biodistribution,
    read_animals_csv,
    read_counts_csv,
)

UTC = dt.UTC
T = dt.datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
HL = get_nuclide("In-111").half_life_s  # 67.3128 h, ICRP 107
HALF = dt.timedelta(seconds=HL)


def _bg() -> list[Tube]:
    # two empty tubes: 100 and 140 counts in 50 s → mean background 2.4 cps
    return [Tube("bg1", "background", 100, 50, T), Tube("bg2", "background", 140, 50, T)]


def test_dilution_standards_hand_computed() -> None:
    # Standards: two 1 %ID aliquots counted at T, 60 s: gross 1002.4 and 1022.4 cps → net
    # 1000 and 1020 cps (mean 1010 cps per 1 %ID → 101 000 cps per ID).
    # Kidney of m1 counted one half-life later: gross 102.4 cps → net 100 cps; decay corrected
    # to T: 200 cps → %ID = 100 × 200 / 101000 = 0.198020 %; 0.05 g → 3.960396 %ID/g.
    tubes = [
        *_bg(),
        Tube("s1", "standard", 1002.4 * 60, 60, T, id_fraction=0.01),
        Tube("s2", "standard", 1022.4 * 60, 60, T, id_fraction=0.01),
        Tube(
            "k", "tissue", 102.4 * 120, 120, T + HALF, animal="m1", tissue="kidney", weight_g=0.05
        ),
    ]
    bd = biodistribution(tubes, [Animal("m1", "AAV high", 24.0)], half_life=HL)
    assert bd.mode == "dilution"
    assert bd.background_cps == pytest.approx(2.4, rel=1e-12)
    assert bd.standard_cps_per_id == pytest.approx(101000.0, rel=1e-12)
    s = bd.samples[0]
    assert s.pct_id == pytest.approx(100 * 200 / 101000, rel=1e-9)
    assert s.pct_id_per_g == pytest.approx(100 * 200 / 101000 / 0.05, rel=1e-9)
    # standards CV = SD(100000, 102000)/101000 = 1414.2/101000 = 1.4 % (< 5 %: no warning)
    assert bd.standard_cv == pytest.approx(np.std([1e5, 1.02e5], ddof=1) / 1.01e5, rel=1e-9)
    assert bd.warnings == ()


def test_calibrated_standards_hand_computed() -> None:
    # A 10 kBq standard (dose calibrator at T_a) counted one half-life later: net 2500 cps.
    # Efficiency = 2500 × 2 / 10 000 Bq = 0.5 cps/Bq.
    # Mouse injected 1 MBq at T_inj; liver counted two half-lives later, net 500 cps:
    # activity at injection = 500 × 4 / 0.5 = 4000 Bq → 0.4 %ID; 0.1 g → 4 %ID/g.
    t_a = T - 3 * HALF
    t_inj = T - 2 * HALF
    tubes = [
        *_bg(),
        Tube(
            "s", "standard", (2500 + 2.4) * 100, 100, t_a + HALF, activity_bq=1e4, activity_time=t_a
        ),
        Tube("l", "tissue", (500 + 2.4) * 60, 60, T, animal="m2", tissue="liver", weight_g=0.1),
    ]
    animals = [Animal("m2", "ctrl", 4.0, injection_time=t_inj, injected_activity_bq=1e6)]
    bd = biodistribution(tubes, animals, half_life=HL, nuclide="In-111")
    assert bd.mode == "calibrated"
    assert bd.efficiency_cps_per_bq == pytest.approx(0.5, rel=1e-9)
    assert bd.samples[0].pct_id == pytest.approx(0.4, rel=1e-9)
    assert bd.samples[0].pct_id_per_g == pytest.approx(4.0, rel=1e-9)
    assert any("only one standard" in w for w in bd.warnings)


def _three_animals() -> tuple[list[Tube], list[Animal]]:
    # 1 %ID standard with net 1000 cps → 100 000 cps per ID; all counted at T (no decay).
    # Tumour nets 100, 200, 300 cps in 0.1 g → 0.1, 0.2, 0.3 %ID → 1, 2, 3 %ID/g.
    # Muscle nets 50 cps in 0.1 g → 0.5 %ID/g → tumour/muscle 2, 4, 6.
    tubes = [*_bg(), Tube("s", "standard", 1002.4 * 10, 10, T, id_fraction=0.01)]
    animals = []
    for i, net in enumerate((100.0, 200.0, 300.0)):
        a = f"m{i}"
        animals.append(Animal(a, "AAV 1e11", 48.0, body_mass_g=25.0))
        tubes.append(
            Tube(
                f"t{i}", "tissue", (net + 2.4) * 10, 10, T, animal=a, tissue="tumour", weight_g=0.1
            )
        )
        tubes.append(
            Tube(
                f"mu{i}", "tissue", (50 + 2.4) * 10, 10, T, animal=a, tissue="muscle", weight_g=0.1
            )
        )
    return tubes, animals


def test_group_summary_and_ratio() -> None:
    tubes, animals = _three_animals()
    bd = biodistribution(tubes, animals, half_life=HL)
    tumour = next(s for s in bd.summary() if s.tissue == "tumour")
    assert tumour.n == 3
    assert tumour.mean == pytest.approx(2.0, rel=1e-9)
    assert tumour.sd == pytest.approx(1.0, rel=1e-9)
    # independent CI: scipy's t interval of the mean
    lo, hi = stats.t.interval(0.95, 2, loc=2.0, scale=1.0 / np.sqrt(3))
    assert (tumour.ci95_low, tumour.ci95_high) == pytest.approx((lo, hi), rel=1e-9)
    ratio = bd.ratio("tumour", "muscle")[0]
    assert ratio.mean == pytest.approx(4.0, rel=1e-9)
    assert ratio.minimum == pytest.approx(2.0, rel=1e-9)
    assert ratio.maximum == pytest.approx(6.0, rel=1e-9)
    doc = bd.to_dict()
    assert len(doc["samples"]) == 6 and doc["summary_pct_id_per_g"][0]["n"] == 3


def test_two_tubes_of_one_tissue_are_pooled_by_weight() -> None:
    # Kidney split in two tubes: 0.1 %ID in 0.05 g and 0.3 %ID in 0.15 g → 0.4 %ID / 0.2 g = 2.
    tubes = [
        *_bg(),
        Tube("s", "standard", 1002.4 * 10, 10, T, id_fraction=0.01),
        Tube("k1", "tissue", (100 + 2.4) * 10, 10, T, animal="m", tissue="kidney", weight_g=0.05),
        Tube("k2", "tissue", (300 + 2.4) * 10, 10, T, animal="m", tissue="kidney", weight_g=0.15),
    ]
    bd = biodistribution(tubes, [Animal("m", "g", 1.0)], half_life=HL)
    assert bd.per_animal()[("m", "kidney")] == pytest.approx(2.0, rel=1e-9)
    assert bd.per_animal("pct_id")[("m", "kidney")] == pytest.approx(0.4, rel=1e-9)


def test_bad_inputs_have_clear_errors() -> None:
    std = Tube("s", "standard", 1000, 10, T, id_fraction=0.01)
    ok = Tube("k", "tissue", 500, 10, T, animal="m", tissue="kidney", weight_g=0.1)
    animals = [Animal("m", "g", 1.0)]
    with pytest.raises(InvalidInputError, match=r"tissue weight .* expected a wet weight > 0 g"):
        Tube("k0", "tissue", 500, 10, T, animal="m", tissue="kidney", weight_g=0.0)
    with pytest.raises(InvalidInputError, match="tissue weight"):
        Tube("kn", "tissue", 500, 10, T, animal="m", tissue="kidney")
    with pytest.raises(InvalidInputError, match=r"standards: expected at least one standard"):
        biodistribution([*_bg(), ok], animals, half_life=HL)
    with pytest.raises(InvalidInputError, match="background tubes"):
        biodistribution([std, ok], animals, half_life=HL)
    cal = Tube("c", "standard", 1000, 10, T, activity_bq=1e4, activity_time=T)
    with pytest.raises(InvalidInputError, match="all standards of one kind"):
        biodistribution([*_bg(), std, cal, ok], animals, half_life=HL)
    # calibrated standards need each animal's injection time
    with pytest.raises(InvalidInputError, match=r"injection time of animal 'm'.*missing"):
        biodistribution([*_bg(), cal, ok], animals, half_life=HL)
    with pytest.raises(InvalidInputError, match=r"injected activity of animal 'm'"):
        biodistribution(
            [*_bg(), cal, ok], [Animal("m", "g", 1.0, injection_time=T - HALF)], half_life=HL
        )
    with pytest.raises(InvalidInputError, match="after the injection"):
        biodistribution(
            [*_bg(), cal, ok],
            [Animal("m", "g", 1.0, injection_time=T + HALF, injected_activity_bq=1e6)],
            half_life=HL,
        )
    with pytest.raises(InvalidInputError, match="animals table"):
        biodistribution([*_bg(), std, ok], [Animal("x", "g", 1.0)], half_life=HL)
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        Tube("n", "background", 1, 1, dt.datetime(2026, 1, 1))
    with pytest.raises(InvalidInputError, match="above background"):
        biodistribution(
            [*_bg(), Tube("s0", "standard", 1, 10, T, id_fraction=0.01), ok], animals, half_life=HL
        )


def test_csv_reading(tmp_path: Path) -> None:
    counts = tmp_path / "counts.csv"
    counts.write_text(
        "Tube,Kind,Animal,Tissue,Weight_g,CPM,Measured_at,ID_fraction\n"
        "b,background,,,,144,2026-03-03T10:00,\n"
        "s,standard,,,,60144,2026-03-03T10:00,0.01\n"
        "k,tissue,m1,kidney,0.2,12144,2026-03-03T10:00,\n",
        encoding="utf-8",
    )
    animals = tmp_path / "animals.csv"
    animals.write_text("animal,group,time_point_h\nm1,A,1\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="UTC offset"):
        read_counts_csv(counts)
    tz = dt.timezone(dt.timedelta(hours=1))
    tubes = read_counts_csv(counts, default_tz=tz)
    assert tubes[0].measured_at.utcoffset() == dt.timedelta(hours=1)
    # cpm → counts in 60 s: net (12144 − 144)/60 = 200 cps, standard 1000 cps per 1 %ID
    bd = biodistribution(tubes, read_animals_csv(animals), half_life=HL)
    assert bd.samples[0].pct_id_per_g == pytest.approx(0.2 / 0.2, rel=1e-9)
    bad = tmp_path / "bad.csv"
    bad.write_text("tube,kind\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="measured_at"):
        read_counts_csv(bad)
    zero = tmp_path / "zero.csv"
    zero.write_text(
        "tube,kind,animal,tissue,weight_g,counts,count_time_s,measured_at\n"
        "k,tissue,m1,kidney,0,10,60,2026-03-03T10:00+00:00\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInputError, match="tissue weight"):
        read_counts_csv(zero)
