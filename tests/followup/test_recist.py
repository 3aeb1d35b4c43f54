"""RECIST 1.1 edge cases (Eisenhauer et al., Eur J Cancer 2009;45:228-247).

Each test states the rule of the paper it checks; reference sums are hand
calculations written in the test.
"""

from __future__ import annotations

import pytest

from sstrkit.errors import InvalidInputError
from sstrkit.followup.recist import (
    Lesion,
    TimePoint,
    TimePointResult,
    assess,
    best_overall_response,
    overall_response,
    select_targets,
    validate_baseline,
)

DAY = 86400.0


def tp(label: str, day: float, *lesions: Lesion, markers: bool | None = None) -> TimePoint:
    return TimePoint(label, day * DAY, tuple(lesions), markers)


def liver(i: str, d: float | None, **kw: object) -> Lesion:
    return Lesion(i, "liver", diameter_mm=d, **kw)  # type: ignore[arg-type]


def lung(i: str, d: float | None, **kw: object) -> Lesion:
    return Lesion(i, "lung", diameter_mm=d, **kw)  # type: ignore[arg-type]


def node(i: str, d: float | None, **kw: object) -> Lesion:
    return Lesion(i, "node", is_node=True, diameter_mm=d, **kw)  # type: ignore[arg-type]


BASE = tp("baseline", 0, liver("L1", 30.0), lung("P1", 20.0), node("N1", 20.0))  # sum 70 mm


def responses(*fus: TimePoint, base: TimePoint = BASE) -> list[str]:
    return [t.response for t in assess(base, list(fus)).time_points]


# --------------------------------------------------------------- baseline rules (section 3)


@pytest.mark.parametrize(
    ("lesion", "msg"),
    [
        (liver("L", 9.9), "longest diameter ≥ 10 mm"),
        (node("N", 14.9), "short axis ≥ 15 mm"),
        (Lesion("N", "node", is_node=True, target=False, diameter_mm=9.0), "≥ 10 mm"),
        (liver("L", None), "a measured diameter_mm"),
    ],
)
def test_baseline_measurability(lesion: Lesion, msg: str) -> None:
    # non-nodal measurable ≥ 10 mm; node target ≥ 15 mm; node < 10 mm is normal
    with pytest.raises(InvalidInputError, match=msg):
        validate_baseline(tp("b", 0, lesion))


def test_node_10_to_15_is_valid_non_target() -> None:
    validate_baseline(tp("b", 0, Lesion("N", "node", is_node=True, target=False, diameter_mm=12.0)))


def test_at_most_five_targets_and_two_per_organ() -> None:
    six = [Lesion(f"L{i}", f"organ{i}", diameter_mm=20.0) for i in range(6)]
    with pytest.raises(InvalidInputError, match="at most 5"):
        validate_baseline(tp("b", 0, *six))
    three = [liver(f"L{i}", 20.0) for i in range(3)]
    with pytest.raises(InvalidInputError, match="at most 2 per organ"):
        validate_baseline(tp("b", 0, *three))


def test_select_targets_largest_two_per_organ_five_total() -> None:
    ls = [
        liver("L1", 50),
        liver("L2", 40),
        liver("L3", 60),
        lung("P1", 12),
        lung("P2", 9),
        node("N1", 16),
        node("N2", 14),
        Lesion("B1", "bone", diameter_mm=30),
        Lesion("A1", "adrenal", diameter_mm=11),
    ]
    chosen = {x.id for x in select_targets(ls) if x.target}
    # liver: 60, 50 (not 40); P2 < 10 mm and N2 < 15 mm not measurable; then B1 30, N1 16, P1 12
    assert chosen == {"L3", "L1", "B1", "N1", "P1"}
    validate_baseline(tp("b", 0, *select_targets(ls)))


# --------------------------------------------------------------- target response (4.3.1)


def test_sum_includes_node_short_axis_and_too_small_default() -> None:
    fu = tp("fu", 56, liver("L1", 20.0), lung("P1", 0.0, too_small=True), node("N1", 12.0))
    r = assess(BASE, [fu]).time_points[0]
    assert r.sum_mm == pytest.approx(20.0 + 5.0 + 12.0)  # too small to measure = 5 mm
    assert r.baseline_sum_mm == 70.0


def test_cr_with_nodes_below_10mm_even_though_sum_is_not_zero() -> None:
    # CR: non-nodal targets disappear, every target node < 10 mm short axis (sum may be > 0)
    fu = tp("fu", 56, liver("L1", 0.0), lung("P1", 0.0), node("N1", 9.0))
    r = assess(BASE, [fu]).time_points[0]
    assert (r.sum_mm, r.target_response, r.response) == (9.0, "CR", "CR")


def test_node_at_10mm_prevents_cr() -> None:
    fu = tp("fu", 56, liver("L1", 0.0), lung("P1", 0.0), node("N1", 10.0))
    # sum 10 mm = −85.7 % from 70 mm: PR, not CR, because the node is not < 10 mm
    assert responses(fu) == ["PR"]


def test_pr_threshold_exactly_30_percent() -> None:
    # baseline sum 30 mm; 21 mm is exactly −30 % (0.7·30 is 20.999… in floating point)
    base = tp("b", 0, liver("L1", 30.0))
    assert responses(tp("f", 56, liver("L1", 21.0)), base=base) == ["PR"]
    assert responses(tp("f", 56, liver("L1", 21.1)), base=base) == ["SD"]


def test_pd_needs_20_percent_and_5mm_from_nadir() -> None:
    small = tp("b", 0, liver("L1", 10.0), lung("P1", 10.0))  # sum 20 mm
    # 20 → 24 mm: +20 % but only +4 mm → SD
    assert responses(tp("f", 56, liver("L1", 12.0), lung("P1", 12.0)), base=small) == ["SD"]
    # 20 → 25 mm: +25 % and +5 mm → PD
    assert responses(tp("f", 56, liver("L1", 12.5), lung("P1", 12.5)), base=small) == ["PD"]
    big = tp("b", 0, liver("L1", 50.0), lung("P1", 50.0))  # sum 100 mm
    # 100 → 119 mm: +19 mm but +19 % → SD ; 100 → 120 mm: +20 % and +20 mm → PD
    assert responses(tp("f", 56, liver("L1", 60.0), lung("P1", 59.0)), base=big) == ["SD"]
    assert responses(tp("f", 56, liver("L1", 60.0), lung("P1", 60.0)), base=big) == ["PD"]


def test_pd_is_relative_to_nadir_not_baseline() -> None:
    # 70 → 40 (PR, nadir 40) → 50: still −28.6 % vs baseline but +25 %/+10 mm vs nadir → PD
    f1 = tp("f1", 56, liver("L1", 15.0), lung("P1", 10.0), node("N1", 15.0))
    f2 = tp("f2", 112, liver("L1", 25.0), lung("P1", 10.0), node("N1", 15.0))
    res = assess(BASE, [f1, f2]).time_points
    assert [t.response for t in res] == ["PR", "PD"]
    assert res[1].nadir_mm == 40.0
    assert res[1].change_from_nadir == pytest.approx(0.25)
    assert res[1].change_from_baseline == pytest.approx(50 / 70 - 1)


def test_missing_target_is_ne_unless_measured_lesions_prove_pd() -> None:
    # The paper's example: baseline sum 50 mm with three lesions, only two assessed at
    # follow-up but summing 80 mm -> PD regardless of the missing lesion.
    base = tp("b", 0, liver("L1", 20.0), lung("P1", 15.0), Lesion("B1", "bone", diameter_mm=15.0))
    fu_pd = tp("f", 56, liver("L1", 45.0), lung("P1", 35.0), Lesion("B1", "bone"))
    fu_ne = tp("f", 56, liver("L1", 20.0), lung("P1", 15.0), Lesion("B1", "bone"))
    assert responses(fu_pd, base=base) == ["PD"]
    assert responses(fu_ne, base=base) == ["NE"]
    # a lesion simply left out of the follow-up record is "not assessed" too
    assert responses(tp("f", 56, liver("L1", 20.0), lung("P1", 15.0)), base=base) == ["NE"]


def test_new_lesion_is_pd_whatever_the_sum() -> None:
    fu = tp("f", 56, liver("L1", 0.0), lung("P1", 0.0), node("N1", 5.0), liver("X", 8.0, new=True))
    r = assess(BASE, [fu]).time_points[0]
    assert (r.target_response, r.new_lesions, r.response) == ("CR", True, "PD")


def test_unknown_lesion_id_without_new_flag_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="new: true"):
        assess(BASE, [tp("f", 56, liver("L1", 30.0), liver("Q", 5.0))])


# --------------------------------------------------------------- non-target and Table 1


def _with_nt(*nt: Lesion) -> TimePoint:
    return tp("b", 0, liver("L1", 30.0), *nt)


def test_table1_target_cr_with_non_target_present_is_pr() -> None:
    base = _with_nt(Lesion("B1", "bone", target=False, status="present"))
    fu_present = tp("f", 56, liver("L1", 0.0), Lesion("B1", "bone", target=False, status="present"))
    fu_absent = tp("f", 56, liver("L1", 0.0), Lesion("B1", "bone", target=False, status="absent"))
    fu_ne = tp("f", 56, liver("L1", 0.0))
    assert responses(fu_present, base=base) == ["PR"]
    assert responses(fu_absent, base=base) == ["CR"]
    assert responses(fu_ne, base=base) == ["PR"]  # target CR + non-target NE -> PR


def test_non_target_cr_needs_normal_markers_and_nodes_below_10mm() -> None:
    base = _with_nt(Lesion("N9", "node", is_node=True, target=False, diameter_mm=12.0))
    fu = tp(
        "f", 56, liver("L1", 0.0), Lesion("N9", "node", is_node=True, target=False, diameter_mm=8.0)
    )
    assert responses(fu, base=base) == ["CR"]
    fu_node = tp(
        "f",
        56,
        liver("L1", 0.0),
        Lesion("N9", "node", is_node=True, target=False, diameter_mm=11.0),
    )
    assert responses(fu_node, base=base) == ["PR"]
    fu_markers = TimePoint("f", 56 * DAY, fu.lesions, tumour_markers_normal=False)
    assert responses(fu_markers, base=base) == ["PR"]


def test_unequivocal_non_target_progression_overrides_target_pr() -> None:
    base = _with_nt(Lesion("B1", "bone", target=False, status="present"))
    fu = tp("f", 56, liver("L1", 10.0), Lesion("B1", "bone", target=False, status="progression"))
    r = assess(base, [fu]).time_points[0]
    assert (r.target_response, r.non_target_response, r.response) == ("PR", "PD", "PD")


def test_table2_non_target_only_disease() -> None:
    base = tp("b", 0, Lesion("B1", "bone", target=False, status="present"))
    res = assess(
        base,
        [
            tp("f", 56, Lesion("B1", "bone", target=False, status="present")),
            tp("g", 112, Lesion("B1", "bone", target=False, status="absent")),
        ],
        confirm=False,
    )
    assert [t.response for t in res.time_points] == ["NON-CR/NON-PD", "CR"]
    assert res.time_points[0].sum_mm is None
    assert res.best is not None and res.best.response == "CR"


@pytest.mark.parametrize(
    ("target", "non_target", "new", "expected"),
    [
        ("CR", "CR", False, "CR"),
        ("CR", "NON-CR/NON-PD", False, "PR"),
        ("CR", "NE", False, "PR"),
        ("PR", "NE", False, "PR"),
        ("SD", "NON-CR/NON-PD", False, "SD"),
        ("NE", "NON-CR/NON-PD", False, "NE"),
        ("PD", "CR", False, "PD"),
        ("SD", "PD", False, "PD"),
        ("CR", "CR", True, "PD"),
        ("CR", None, False, "CR"),
    ],
)
def test_overall_response_table1(
    target: str, non_target: str | None, new: bool, expected: str
) -> None:
    assert overall_response(target, non_target, new) == expected  # type: ignore[arg-type]


def test_reappearance_after_cr_is_pd() -> None:
    # After an overall CR any reappearing lesion is PD (RECIST FAQ), even at 4 mm (< 5 mm rule)
    base = tp("b", 0, liver("L1", 30.0))
    res = assess(base, [tp("f1", 56, liver("L1", 0.0)), tp("f2", 112, liver("L1", 4.0))])
    assert [t.response for t in res.time_points] == ["CR", "PD"]


# --------------------------------------------------------------- best overall response (4.4)


def _seq(*pairs: tuple[str, float]) -> list[TimePointResult]:
    return [
        TimePointResult(f"t{d}", d * DAY, None, 0.0, 0.0, None, None, r, None, False, r)
        for r, d in pairs
    ]


@pytest.mark.parametrize(
    ("seq", "expected"),
    [
        ((("CR", 56), ("CR", 84)), "CR"),  # confirmed 28 d later
        ((("CR", 56), ("CR", 70)), "SD"),  # 14 d: not confirmed; CR at 56 d ≥ 42 d -> SD
        ((("PR", 56), ("PR", 84)), "PR"),
        ((("PR", 56), ("CR", 84)), "PR"),  # Table 3: PR then CR -> PR
        ((("PR", 56), ("SD", 84)), "SD"),  # Table 3: PR then SD -> SD
        ((("PR", 56), ("NE", 70), ("PR", 98)), "PR"),  # intervening NE allowed
        ((("PR", 56), ("SD", 84), ("PR", 112)), "SD"),  # intervening SD breaks confirmation
        ((("PR", 28), ("PD", 56)), "PD"),  # PR before minimum SD interval, then PD
        ((("SD", 56), ("PD", 84)), "SD"),
        ((("SD", 35), ("PD", 70)), "PD"),  # SD at 35 d < 42 d
        ((("NE", 56),), "NE"),
        ((("PD", 56), ("PR", 84), ("PR", 112)), "PD"),  # nothing after the first PD counts
        ((("CR", 56), ("PD", 84)), "SD"),  # Table 3: CR then PD -> SD if min duration met
    ],
)
def test_best_overall_response_with_confirmation(
    seq: tuple[tuple[str, float], ...], expected: str
) -> None:
    assert best_overall_response(_seq(*seq)).response == expected


def test_best_overall_response_without_confirmation_returns_cr() -> None:
    b = best_overall_response(_seq(("CR", 56)), confirm=False)
    assert (b.response, b.confirmed) == ("CR", False)


def test_end_to_end_confirmed_cr_from_measurements() -> None:
    # The point of the issue: a public package never returns CR. This one must.
    fus = [
        tp("c2", 56, liver("L1", 10.0), lung("P1", 5.0), node("N1", 12.0)),
        tp("c3", 112, liver("L1", 0.0), lung("P1", 0.0), node("N1", 8.0)),
        tp("c4", 168, liver("L1", 0.0), lung("P1", 0.0), node("N1", 7.0)),
    ]
    res = assess(BASE, fus)
    assert [t.response for t in res.time_points] == ["PR", "CR", "CR"]
    assert res.best is not None and (res.best.response, res.best.confirmed) == ("CR", True)
    d = res.to_dict()
    assert d["time_points"][0]["change_from_baseline"] == pytest.approx(27 / 70 - 1)
    assert d["history"][0]["operation"] == "recist_1_1"


def test_follow_ups_must_be_in_time_order() -> None:
    with pytest.raises(InvalidInputError, match="increasing"):
        assess(BASE, [tp("a", 84, liver("L1", 30.0)), tp("b", 56, liver("L1", 30.0))])
