"""Biochemical response of chromogranin A (sstrkit.followup.biochemical).

Reference values: the criteria of the module (response: fall ≥ 50 % from baseline;
progression: rise ≥ 25 %, the band of Dam G et al. Neuroendocrinology 2020;110:217-224),
applied by hand to baselines chosen so that the edges are exact in floating point
(0.5 × 400 = 200, 1.25 × 400 = 500): a value at an edge is in the category, 0.1 µg/L
inside it is not.
"""

from __future__ import annotations

import pytest

from sstrkit.errors import InvalidInputError
from sstrkit.followup.biochemical import CgaCriteria, CgaMeasurement, assess_cga

DAY = 86400.0


def _series(*values: float, **kw: object) -> list[CgaMeasurement]:
    return [CgaMeasurement(i * 56 * DAY, v, **kw) for i, v in enumerate(values)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "status"),
    [(200.0, "response"), (200.1, "stable"), (499.9, "stable"), (500.0, "progression")],
)
def test_categories_at_both_sides_of_each_threshold(value: float, status: str) -> None:
    r = assess_cga(_series(400.0, value))
    assert r.status == status and r.best_response == status
    assert r.last is not None and r.last.change_from_baseline_pct == pytest.approx(
        100.0 * (value / 400.0 - 1.0), rel=1e-12
    )


def test_nadir_rise_and_best_response() -> None:
    # 400 → 150 (−62.5 %, response) → 190: still −52.5 % from baseline (response) but
    # +26.7 % from the nadir 150: flagged, and rise_from_nadir.
    r = assess_cga(_series(400.0, 150.0, 190.0))
    assert r.status == "response" and r.best_response == "response"
    assert r.nadir is not None and (r.nadir.value_ug_l, r.nadir.time_days) == (150.0, 56.0)
    assert r.last is not None
    assert r.last.change_from_nadir_pct == pytest.approx(100.0 * (190.0 / 150.0 - 1.0))
    assert r.rise_from_nadir and any("above the nadir" in f for f in r.last.flags)
    # 400 → 150 → 187.5 (= 1.25 × 150): at the edge, flagged; 187.4: not
    assert assess_cga(_series(400.0, 150.0, 187.5)).rise_from_nadir
    assert not assess_cga(_series(400.0, 150.0, 187.4)).rise_from_nadir
    # progression at the end after a response: the status follows the last value
    r = assess_cga(_series(400.0, 150.0, 520.0))
    assert (r.status, r.best_response) == ("progression", "response")


def test_not_assessed_without_follow_up_or_positive_baseline() -> None:
    one = assess_cga(_series(300.0))
    assert one.status == "not_assessed" and one.needs is not None
    assert one.to_dict()["needs"].startswith("a baseline CgA and")
    zero = assess_cga(_series(0.0, 50.0))
    assert zero.status == "not_assessed" and "above 0" in (zero.needs or "")


def test_caveats_and_flags() -> None:
    unknown = assess_cga(_series(400.0, 300.0))
    text = " ".join(unknown.caveats)
    assert "proton-pump inhibitor use not recorded" in text
    assert "somatostatin-analogue treatment not recorded" in text
    assert "kidney function not known" in text
    ms = [
        CgaMeasurement(0.0, 400.0, False, False, False, 100.0),
        CgaMeasurement(56 * DAY, 150.0, True, True, True, 100.0),
    ]
    r = assess_cga(ms)
    assert r.last is not None
    flags = " ".join(r.last.flags)
    for part in ("proton-pump inhibitor", "renal impairment", "somatostatin analogue started"):
        assert part in flags
    assert "not recorded" not in " ".join(r.caveats)
    # baseline within the reference range
    low = assess_cga(
        [CgaMeasurement(0.0, 80.0, uln_ug_l=100.0), CgaMeasurement(DAY, 30.0, uln_ug_l=100.0)]
    )
    assert any("within the reference range" in c for c in low.caveats)
    assert not any("within the reference range" in c for c in r.caveats)
    # another assay (another reference limit) is flagged
    other = assess_cga(
        [CgaMeasurement(0.0, 400.0, uln_ug_l=100.0), CgaMeasurement(DAY, 300.0, uln_ug_l=98.0)]
    )
    assert other.last is not None and any("another assay" in f for f in other.last.flags)


def test_custom_criteria_and_json() -> None:
    crit = CgaCriteria(response_fall=0.30, progression_rise=0.50)
    assert assess_cga(_series(400.0, 280.0), criteria=crit).status == "response"
    assert assess_cga(_series(400.0, 280.1), criteria=crit).status == "stable"
    assert assess_cga(_series(400.0, 599.9), criteria=crit).status == "stable"
    doc = assess_cga(_series(400.0, 200.0)).to_dict()
    assert doc["criteria"]["response_fall_pct"] == 50.0
    assert doc["criteria"]["progression_rise_pct"] == 25.0
    assert [p["category"] for p in doc["points"]] == ["baseline", "response"]
    assert doc["history"][0]["operation"] == "cga_biochemical_response"
    assert doc["baseline"]["value_ug_l"] == 400.0 and doc["last"]["value_ug_l"] == 200.0


def test_invalid_inputs() -> None:
    for bad in (
        lambda: CgaMeasurement(0.0, -1.0),
        lambda: CgaMeasurement(float("nan"), 1.0),
        lambda: CgaMeasurement(0.0, 1.0, uln_ug_l=0.0),
        lambda: CgaCriteria(response_fall=1.0),
        lambda: CgaCriteria(progression_rise=0.0),
        lambda: assess_cga([]),
        lambda: assess_cga([CgaMeasurement(0.0, 1.0), CgaMeasurement(0.0, 2.0)]),
    ):
        with pytest.raises(InvalidInputError):
            bad()
