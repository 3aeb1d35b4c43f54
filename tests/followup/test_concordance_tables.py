"""Concordance statistics and response-rate tables against the review's figures and scipy."""

from __future__ import annotations

import pytest
from scipy import stats

from sstrkit.errors import InvalidInputError
from sstrkit.followup.concordance import (
    clopper_pearson_interval,
    concordance,
    concordance_from_sets,
    mcnemar,
    wilson_interval,
)
from sstrkit.followup.tables import ResponseCounts, Table3Row, render_table


def test_review_318_lesions_concordance() -> None:
    # Review section 3.4: 318 lesions, 280 concordant, 29 only 68Ga, 9 only 177Lu;
    # sensitivity 91 %, accuracy 88 %, PPV 97 % for 177Lu vs 68Ga.
    c = concordance(280, 29, 9)
    assert c.sensitivity.value == pytest.approx(280 / 309)
    assert c.ppv.value == pytest.approx(280 / 289)
    assert c.accuracy.value == pytest.approx(280 / 318)
    assert (
        round(100 * c.sensitivity.value),
        round(100 * c.accuracy.value),
        round(100 * c.ppv.value),
    ) == (91, 88, 97)
    d = c.to_dict()
    assert d["counts"]["total"] == 318 and d["counts"]["reference_lesions"] == 309
    assert set(d["ci95"]["sensitivity"]) == {"wilson", "clopper_pearson"}
    assert d["specificity"] is None


@pytest.mark.parametrize(("k", "n"), [(280, 309), (280, 289), (0, 7), (7, 7), (3, 10)])
def test_intervals_match_scipy_binomtest(k: int, n: int) -> None:
    # independent implementation: scipy.stats.binomtest(...).proportion_ci
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert clopper_pearson_interval(k, n) == pytest.approx((ref.low, ref.high), abs=1e-10)
    ref_w = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(k, n) == pytest.approx((ref_w.low, ref_w.high), abs=1e-10)


def test_wilson_hand_value() -> None:
    # k = 3, n = 10, z = 1.959964: centre (0.3 + z²/20)/(1 + z²/10) = 0.4920734/1.3841459,
    # half = z/(1 + z²/10)·sqrt(0.021 + z²/400) = 1.416... → (0.10779, 0.60322)
    lo, hi = wilson_interval(3, 10)
    assert (lo, hi) == pytest.approx((0.10779, 0.60322), abs=5e-5)


def test_mcnemar_paired_detection() -> None:
    m = mcnemar(29, 9)
    assert m.statistic == pytest.approx(361 / 38)  # (|29 − 9| − 1)² / 38
    assert m.p_value_exact == pytest.approx(stats.binomtest(9, 38, 0.5).pvalue, rel=1e-9)
    assert m.p_value_chi2 == pytest.approx(stats.chi2.sf(361 / 38, 1))


def test_specificity_with_true_negatives_and_sets() -> None:
    c = concordance(40, 10, 5, neither=45)
    assert c.specificity is not None and c.specificity.value == pytest.approx(45 / 50)
    assert c.npv is not None and c.npv.value == pytest.approx(45 / 55)
    assert c.accuracy.value == pytest.approx(85 / 100)
    s = concordance_from_sets(
        {"liver", "bone"}, {"liver", "lung"}, universe={"liver", "bone", "lung", "brain"}
    )
    assert (s.both, s.ref_only, s.test_only, s.neither) == (1, 1, 1, 1)


def test_concordance_rejects_bad_counts() -> None:
    with pytest.raises(InvalidInputError):
        concordance(-1, 2, 3)
    with pytest.raises(InvalidInputError):
        concordance(0, 0, 3)


def test_review_table3_and_text_rates() -> None:
    # Table 3, 177Lu-DOTATOC in 27 relapsed NETs: "2 PR, 5 MR, 12 SD, and 8 PD"
    c = ResponseCounts(pr=2, mr=5, sd=12, pd=8)
    assert c.n == 27 and c.findings() == "2 PR, 5 MR, 12 SD, and 8 PD"
    assert c.rate("DCR").k == 19
    # text: 43 of 60 (72 %) PR after 90Y-DOTATATE, 9 SD, 8 PD
    c60 = ResponseCounts(pr=43, sd=9, pd=8)
    assert c60.n == 60 and round(100 * c60.rate("PR").value) == 72
    # phase I 90Y-DOTATOC, 58 patients: 5 PR, 7 MR, 29 SD, 17 PD; ORR = 5/58
    c58 = ResponseCounts(pr=5, mr=7, sd=29, pd=17)
    assert c58.n == 58 and c58.rate("ORR").value == pytest.approx(5 / 58)
    # phase 2 90Y-DOTATOC: 43.6 % PR, 25.6 % SD, 28.2 % PD are 17, 10, 11 of 39 (one NE)
    c39 = ResponseCounts(pr=17, sd=10, pd=11, ne=1)
    assert [round(100 * c39.rate(k).value, 1) for k in ("PR", "SD", "PD")] == [43.6, 25.6, 28.2]


def test_render_table_markdown_and_csv() -> None:
    row = Table3Row(
        "177Lu-DOTATOC",
        "27 relapse NETs",
        "7,400 MBq",
        "Once",
        ResponseCounts(pr=2, mr=5, sd=12, pd=8),
        reference="[62]",
    )
    md = render_table([row])
    assert md.splitlines()[0].startswith("| Therapeutic agents | Subjects |")
    csv_text = render_table([row], fmt="csv")
    assert csv_text.splitlines()[1] == (
        '177Lu-DOTATOC,27 relapse NETs,"7,400 MBq",Once,"2 PR, 5 MR, 12 SD, and 8 PD",[62]'
    )
    with pytest.raises(InvalidInputError):
        ResponseCounts.from_responses(["XR"])
