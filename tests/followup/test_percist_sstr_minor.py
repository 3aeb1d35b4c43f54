"""PERCIST 1.0 (Wahl 2009; O 2016), SWOG minor response (Kwekkeboom 2008), SSTR-PET change
(Haug 2010) and lesion matching. Reference values are hand calculations in the tests."""

from __future__ import annotations

import numpy as np
import pytest

from sstrkit.errors import InvalidInputError
from sstrkit.followup.minor_response import classify_minor_response, size_change
from sstrkit.followup.percist import (
    PetLesion,
    PetScan,
    ReferenceRegion,
    assess_percist,
    lean_body_mass_g,
    sul_from_suv_bw,
)
from sstrkit.followup.sstr_response import SstrLesion, SstrScan, match_lesions, sstr_response

LIVER = ReferenceRegion(mean=2.0, sd=0.25)  # threshold 1.5·2.0 + 2·0.25 = 3.5 SUL


def scan(*les: PetLesion, liver: ReferenceRegion | None = LIVER, **kw: object) -> PetScan:
    return PetScan("s", 0.0, tuple(les), liver, **kw)  # type: ignore[arg-type]


def test_measurability_threshold_liver_and_blood_pool() -> None:
    assert LIVER.threshold(1.5) == pytest.approx(3.5)
    b = scan(PetLesion("a", 3.49))
    with pytest.raises(InvalidInputError, match=r"SULpeak ≥ 3\.5"):
        assess_percist(b, scan(PetLesion("a", 2.0)))
    # abnormal liver: blood pool 2.0·1.5 + 2·0.2 = 3.4
    bp = ReferenceRegion(1.5, 0.2)
    r = assess_percist(
        scan(PetLesion("a", 3.45), liver=None, blood_pool=bp),
        scan(PetLesion("a", 3.4), liver=None, blood_pool=bp),
    )
    assert r.measurability_threshold == pytest.approx(3.4)
    assert r.response == "SMD"


@pytest.mark.parametrize(
    ("base", "fu", "expected"),
    [
        (10.0, 7.0, "PMR"),  # −30 % and −3.0 SUL
        (10.0, 7.01, "SMD"),  # −29.9 %
        (2.5, 1.7, "PMR"),  # −32 % and exactly −0.8 SUL (≥ 0.8 is enough)
        (10.0, 13.0, "PMD"),  # +30 % and +3.0
        (10.0, 12.99, "SMD"),
        (2.6, 3.39, "SMD"),  # +30.4 % but +0.79 SUL < 0.8
    ],
)
def test_percist_thresholds(base: float, fu: float, expected: str) -> None:
    liver = ReferenceRegion(1.0, 0.1)  # threshold 1.7, CMR below 1.0
    r = assess_percist(
        scan(PetLesion("a", base), liver=liver), scan(PetLesion("a", fu), liver=liver)
    )
    assert r.response == expected


def test_percist_hottest_lesion_may_change_and_new_lesion_is_pmd() -> None:
    b = scan(PetLesion("a", 10.0, "liver"), PetLesion("b", 5.0, "bone"))
    f = scan(PetLesion("a", 4.0, "liver"), PetLesion("b", 6.0, "bone"))
    r = assess_percist(b, f)
    # hottest 10.0 (a) → 6.0 (b): −40 % and −4.0 SUL, but lesion b rose +20 % (< 30 %) → PMR
    assert (r.baseline_target, r.followup_target, r.response) == ("a", "b", "PMR")
    assert r.change_pct == pytest.approx(-40.0)
    f_new = scan(PetLesion("a", 4.0), PetLesion("c", 3.0, new=True))
    assert assess_percist(b, f_new).response == "PMD"
    assert (
        assess_percist(b, scan(PetLesion("a", 4.0), non_target_progression=True)).response == "PMD"
    )


def test_percist_other_lesion_rising_over_30_percent_blocks_pmr() -> None:
    b = scan(PetLesion("a", 10.0, "liver"), PetLesion("b", 4.0, "bone"))
    f = scan(PetLesion("a", 6.0, "liver"), PetLesion("b", 5.3, "bone"))  # b +32.5 %
    assert assess_percist(b, f).response == "SMD"


def test_percist_cmr_below_liver_mean() -> None:
    b = scan(PetLesion("a", 10.0))
    f = scan(PetLesion("a", 1.9))  # < liver mean 2.0
    r = assess_percist(b, f)
    assert r.response == "CMR"
    assert assess_percist(b, scan(PetLesion("a", None))).response == "CMR"
    assert r.liver_comparable is True


def test_liver_comparability_flag() -> None:
    # liver 2.0 → 2.35: +17.5 % but +0.35 SUL ≥ 0.3 → not comparable (PERCIST: ±20 % and < 0.3)
    r = assess_percist(
        scan(PetLesion("a", 10.0)), scan(PetLesion("a", 9.0), liver=ReferenceRegion(2.35, 0.25))
    )
    assert r.liver_comparable is False


def test_lean_body_mass_formulas() -> None:
    # James, female 60 kg, 165 cm: 1.07·60 − 148·(60/165)² = 64.2 − 19.5702 = 44.6298 kg
    assert lean_body_mass_g(60000, 1650, "female", formula="james") == pytest.approx(
        44629.8, abs=0.1
    )
    # Janmahasatian, female: BMI 22.0386; 9270·60/(8780 + 244·22.0386) = 556200/14157.42 kg
    assert lean_body_mass_g(60000, 1650, "female") == pytest.approx(
        556200 / 14157.42 * 1000, rel=1e-5
    )
    assert sul_from_suv_bw(6.0, 60000, 45000) == pytest.approx(4.5)
    with pytest.raises(InvalidInputError, match="high BMI"):
        lean_body_mass_g(250000, 1500, "male", formula="james")


# ------------------------------------------------------------------ minor response (SWOG + MR)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (-1.0, "CR"),
        (-0.5, "PR"),
        (-0.4999, "MR"),
        (-0.25, "MR"),
        (-0.2499, "SD"),
        (0.2499, "SD"),
        (0.25, "PD"),
    ],
)
def test_minor_response_boundaries(change: float, expected: str) -> None:
    # Kwekkeboom 2008 / van Essen 2010: MR = decrease ≥ 25 % and < 50 %; PR ≥ 50 %
    assert classify_minor_response(change) == expected


def test_minor_response_pd_from_nadir_and_size_change() -> None:
    # products 400 mm² → nadir 200 → 260: −35 % vs baseline (MR) but +30 % vs nadir → PD
    assert (
        classify_minor_response(size_change(260, 400), change_from_nadir=size_change(260, 200))
        == "PD"
    )
    with pytest.raises(InvalidInputError):
        size_change(10, 0)


# ------------------------------------------------------------------ SSTR response and matching


def test_match_lesions_hungarian_beats_greedy() -> None:
    # greedy nearest-first would pair a1-b1 (1 mm) and leave a2-b2 at 19 mm > gate 15 mm;
    # the optimal assignment pairs a1-b2 (10 mm) and a2-b1 (10 mm).
    a = [SstrLesion("a1", 5, (0, 0, 0)), SstrLesion("a2", 5, (11, 0, 0))]
    b = [SstrLesion("b1", 5, (1, 0, 0)), SstrLesion("b2", 5, (-10, 0, 0))]
    m = match_lesions(a, b, max_distance_mm=15.0)
    assert {(x.baseline_id, x.followup_id) for x in m.matches} == {("a1", "b2"), ("a2", "b1")}
    assert m.unmatched_baseline == () and m.unmatched_followup == ()


def test_match_lesions_with_registration_transform() -> None:
    a = [SstrLesion("a", 5, (10, 20, 30))]
    b = [SstrLesion("b", 5, (40, 20, 30))]  # patient moved +30 mm in x
    assert match_lesions(a, b).matches == ()
    m = match_lesions(a, b, transform=np.array([-30.0, 0.0, 0.0]))
    assert m.matches[0].distance_mm == pytest.approx(0.0)
    aff = np.eye(4)
    aff[0, 3] = -30.0
    assert match_lesions(a, b, transform=aff).matches[0].followup_id == "b"
    with pytest.raises(InvalidInputError):
        match_lesions(a, b, transform=np.eye(3))


def test_sstr_response_changes() -> None:
    b = SstrScan(
        "base",
        (SstrLesion("a", 20.0, (0, 0, 0), 10.0), SstrLesion("c", 10.0, (100, 0, 0), 5.0)),
        spleen_suv=8.0,
    )
    f = SstrScan(
        "c1",
        (SstrLesion("x", 12.0, (2, 0, 0), 6.0), SstrLesion("y", 8.0, (0, 100, 0), 1.0)),
        spleen_suv=10.0,
    )
    r = sstr_response(b, f)
    # matched a↔x only; SUVmax 20 → 12 = −40 %; T/S 20/8 = 2.5 → 12/10 = 1.2: −52 %
    assert [(m.baseline_id, m.followup_id) for m in r.matches] == [("a", "x")]
    assert r.delta_suv_max_pct == pytest.approx(-40.0)
    assert r.delta_ts_pct == pytest.approx(-52.0)
    assert r.ts_decreased is True
    # total volume 15 mL → 7 mL (new lesion y included, vanished c included) = −53.33 %
    assert r.delta_volume_pct == pytest.approx((7 - 15) / 15 * 100)
    assert (r.disappeared, r.new) == (("c",), ("y",))


def test_sstr_ts_can_rise_while_suvmax_falls() -> None:
    # spleen uptake falls more than tumour uptake: ΔSUVmax −10 % but ΔT/S +12.5 %
    b = SstrScan("b", (SstrLesion("a", 20.0),), spleen_suv=10.0)
    f = SstrScan("f", (SstrLesion("a", 18.0),), spleen_suv=8.0)
    r = sstr_response(b, f, match_by_id=True)
    assert r.delta_suv_max_pct == pytest.approx(-10.0)
    assert r.delta_ts_pct == pytest.approx(12.5)
    assert r.ts_decreased is False
