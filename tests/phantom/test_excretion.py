"""Whole-body retention of the digital patient against the Lutathera label.

Reference: LUTATHERA (lutetium Lu 177 dotatate) US prescribing information, section 12.3
(Pharmacokinetics, Elimination): cumulative urinary excretion of 44 % within 5 h, 58 % within
24 h and 65 % within 48 h. The phantom's biological whole-body retention is
R(t) = Σ rᵢ · 2^(−t/Tᵢ) (``lu177_whole_body`` in parameters.toml), so the excreted fraction is
1 − R(t). Tolerance 0.005: the label gives whole percentages.
"""

from __future__ import annotations

import pytest

from sstrkit.phantom.parameters import parameters


def _excreted(t_h: float) -> float:
    wb = parameters()["lu177_whole_body"]
    retained = sum(r * 2.0 ** (-t_h / tb) for r, tb in zip(wb["r"], wb["t_bio_h"], strict=True))
    return 1.0 - retained


@pytest.mark.parametrize(("t_h", "label"), [(5.0, 0.44), (24.0, 0.58), (48.0, 0.65)])
def test_cumulative_excretion_matches_label(t_h: float, label: float) -> None:
    assert _excreted(t_h) == pytest.approx(label, abs=0.005)


def test_retention_fractions_sum_to_one() -> None:
    # Everything administered is in the body at t = 0 (hand check: Σ rᵢ = 1).
    assert sum(parameters()["lu177_whole_body"]["r"]) == pytest.approx(1.0, abs=1e-9)
