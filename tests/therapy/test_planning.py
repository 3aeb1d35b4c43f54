"""Dosimetry-guided planning (sstrkit.therapy.planning).

References:
* plausibility band of the 177Lu-DOTATATE kidney absorbed dose per activity:
  0.27–0.91 Gy/GBq (12 patients, EJNMMI Res 2018, doi:10.1186/s13550-018-0459-4;
  Staanum et al. EJNMMI Phys 2021;8:78 report a mean of 0.46 Gy/GBq);
* limits: kidney BED 40 Gy / 28 Gy with risk factors (Bodei et al. EJNMMI 2008;35:1847),
  kidney absorbed 23 Gy, red marrow 2 Gy;
* the planning arithmetic is checked by hand against the plan's own dose per
  activity and by re-evaluating BED with sstrkit.therapy.radiobiology.bed.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import yaml

from sstrkit.errors import InvalidInputError
from sstrkit.physics.nuclides import get_nuclide
from sstrkit.therapy.case import example_case_path, parse_case
from sstrkit.therapy.kinetics import fit_curve
from sstrkit.therapy.planning import (
    KIDNEY_GY_PER_GBQ_BAND,
    advise_radionuclide,
    fit_g_factor,
    plan_from_case,
)
from sstrkit.therapy.radiobiology import bed

H = 3600.0


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return yaml.safe_load(example_case_path().read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def plan(doc: dict[str, Any]) -> dict[str, Any]:
    return plan_from_case(parse_case(doc)).to_dict()


def _with(doc: dict[str, Any], **limits: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["planning"]["limits"] = {**out["planning"].get("limits", {}), **limits}
    return out


def test_kidney_dose_per_gbq_within_published_band(plan: dict[str, Any]) -> None:
    kd = plan["projected"]["kidneys"]["dose_gy_per_gbq"]
    lo, hi = KIDNEY_GY_PER_GBQ_BAND
    assert lo <= kd <= hi
    assert not any("outside the published" in w for w in plan["warnings"])


def test_standard_course_is_within_limits(plan: dict[str, Any]) -> None:
    # NETTER-1 regimen: 4 × 7.4 GBq is tolerated at ~0.5 Gy/GBq (kidney ~15–17 Gy)
    assert plan["recommended_cycles_total"] == 4
    assert [s["activity_mbq"] for s in plan["schedule"]] == [7400.0] * 3
    assert plan["next_cycle_activity_mbq"] == 7400.0
    assert plan["projected"]["kidneys"]["absorbed_gy"] < 23.0
    assert plan["projected"]["kidneys"]["bed_gy"] < 28.0
    assert plan["projected"]["red marrow"]["absorbed_gy"] < 2.0
    # hypertension → 28 Gy BED limit (Bodei 2008)
    kid = next(c for c in plan["constraints"] if c["organ"] == "kidneys")
    assert kid["criterion"] == "bed" and kid["limit_gy"] == 28.0


def test_absorbed_limit_capacity_hand_calculation(doc: dict[str, Any]) -> None:
    p = plan_from_case(parse_case(_with(doc, kidney_criterion="absorbed"))).to_dict()
    d = p["projected"]["kidneys"]["dose_gy_per_gbq"] / 1e3  # Gy per MBq
    delivered = p["delivered"]["absorbed_gy"]["kidneys"]
    kid = next(c for c in p["constraints"] if c["organ"] == "kidneys")
    # linear: A_max = A_delivered + (23 Gy − D_delivered)/d
    assert kid["max_cumulative_activity_mbq"] == pytest.approx(
        7400 + (23 - delivered) / d, rel=1e-9
    )
    assert delivered == pytest.approx(d * 7400, rel=1e-12)


def test_bed_limit_is_met_exactly_at_max_activity(plan: dict[str, Any]) -> None:
    kid = next(c for c in plan["constraints"] if c["organ"] == "kidneys")
    proj = plan["projected"]["kidneys"]
    d = proj["dose_gy_per_gbq"] / 1e3
    g, ab = proj["g_factor"], proj["alpha_beta_gy"]
    total = kid["max_cumulative_activity_mbq"]
    # rebuild the course: 7.4 GBq cycles, last one partial; BEDs add (complete repair)
    acts, left = [], total
    while left > 1e-9:
        acts.append(min(7400.0, left))
        left -= acts[-1]
    t_eff = 50 * H  # any T_eff with the same G: choose t_rep so that λ/(λ+μ) = g
    t_rep = t_eff * g / (1 - g)
    course = sum(bed(d * a, alpha_beta_gy=ab, t_repair_s=t_rep, t_eff_s=t_eff) for a in acts)
    assert course == pytest.approx(28.0, rel=1e-9)


def _upper_bound_dose_per_mbq(p: dict[str, Any], organ: str) -> float:
    proj = p["projected"][organ]
    u = proj["absorbed_sd_gy"] / proj["absorbed_gy"]
    return float(proj["dose_gy_per_gbq"] / 1e3 * (1 + p["confidence_z"] * u))


def test_conservative_absorbed_capacity_covers_delivered_cycle(doc: dict[str, Any]) -> None:
    # Hand calculation under the module's stated error model: the error of the dose per
    # activity d is fully correlated across cycles (one dosimetry cycle, same kinetics), so the
    # one-sided upper bound of the cumulative dose is d·(1 + z·u)·A_total for delivered AND
    # future activity; the conservative maximum is therefore A = 23 Gy / (d·(1 + z·u)).
    # (Before the fix the delivered 7.4 GBq were counted at the nominal d, giving a larger A.)
    p = plan_from_case(parse_case(_with(doc, kidney_criterion="absorbed"))).to_dict()
    d_hi = _upper_bound_dose_per_mbq(p, "kidneys")
    kid = next(c for c in p["constraints"] if c["organ"] == "kidneys")
    assert kid["max_cumulative_activity_conservative_mbq"] == pytest.approx(23.0 / d_hi, rel=1e-9)


def test_conservative_schedule_meets_bed_limit_over_the_whole_course(doc: dict[str, Any]) -> None:
    # A tight kidney BED limit (12 Gy) that ends in a partial cycle. Rebuild the whole course
    # (delivered 7.4 GBq + scheduled cycles) at the upper-bound dose per activity; BEDs add
    # (complete repair), each cycle with the same G (Dale 1985: BED = D(1 + G·D/(α/β))). The
    # conservative schedule must use up exactly the 12 Gy, and its cumulative activity equals
    # the constraint's conservative maximum.
    p = plan_from_case(
        parse_case(_with(doc, kidney_criterion="bed", kidney_bed_gy=12.0, kidney_bed_risk_gy=12.0))
    ).to_dict()
    d_hi = _upper_bound_dose_per_mbq(p, "kidneys")
    proj = p["projected"]["kidneys"]
    g, ab = proj["g_factor"], proj["alpha_beta_gy"]
    acts = [p["delivered"]["activity_mbq"]] + [s["activity_mbq"] for s in p["schedule"]]
    assert len(acts) >= 2 and acts[-1] < 7400.0  # partial last cycle: the limit binds
    course = sum(d_hi * a * (1 + g * d_hi * a / ab) for a in acts)
    assert course == pytest.approx(12.0, rel=1e-9)
    kid = next(c for c in p["constraints"] if c["organ"] == "kidneys")
    assert kid["max_cumulative_activity_conservative_mbq"] == pytest.approx(sum(acts), rel=1e-9)


def test_risk_factors_lower_the_limit(doc: dict[str, Any], plan: dict[str, Any]) -> None:
    nr = copy.deepcopy(doc)
    nr["patient"]["risk_factors"] = {"hypertension": False}
    p2 = plan_from_case(parse_case(nr)).to_dict()
    k1 = next(c for c in plan["constraints"] if c["organ"] == "kidneys")
    k2 = next(c for c in p2["constraints"] if c["organ"] == "kidneys")
    assert k2["limit_gy"] == 40.0
    assert k2["max_cumulative_activity_mbq"] > k1["max_cumulative_activity_mbq"]


def test_conservative_below_nominal(plan: dict[str, Any]) -> None:
    for c in plan["constraints"]:
        assert c["max_cumulative_activity_conservative_mbq"] < c["max_cumulative_activity_mbq"]
    for p in plan["projected"].values():
        assert p["absorbed_sd_gy"] > 0


def test_limit_reduces_and_stops_cycles(doc: dict[str, Any]) -> None:
    p = plan_from_case(parse_case(_with(doc, kidney_criterion="absorbed", kidney_absorbed_gy=6.0)))
    d = p.to_dict()
    assert 0 < d["next_cycle_activity_mbq"] < 7400.0
    assert d["projected"]["kidneys"]["absorbed_gy"] <= 6.0 + 1e-9
    stop = plan_from_case(
        parse_case(_with(doc, kidney_criterion="absorbed", kidney_absorbed_gy=4.2))
    )
    s = stop.to_dict()
    assert s["schedule"] == [] and s["next_cycle_activity_mbq"] == 0.0
    assert s["recommended_cycles_total"] == 1
    assert any("no further cycle" in w for w in s["warnings"])


def test_plan_prints_the_sex_as_the_case_file_did(
    doc: dict[str, Any], plan: dict[str, Any]
) -> None:
    """The example writes "female"; the plan's JSON keeps "female", and "F" plans the same."""
    assert doc["patient"]["sex"] == "female" and plan["patient"]["sex"] == "female"
    short = copy.deepcopy(doc)
    short["patient"]["sex"] = "F"
    assert plan_from_case(parse_case(short)).to_dict() == plan


def test_both_kidney_criteria(doc: dict[str, Any]) -> None:
    p = plan_from_case(parse_case(_with(doc, kidney_criterion="both"))).to_dict()
    crit = {(c["organ"], c["criterion"]) for c in p["constraints"]}
    assert {("kidneys", "bed"), ("kidneys", "absorbed"), ("red marrow", "absorbed")} == crit


def test_regimen_must_match_nuclide(doc: dict[str, Any]) -> None:
    bad = copy.deepcopy(doc)
    bad["planning"]["regimen"] = "y90-dotatoc-bsa-7.4"
    with pytest.raises(InvalidInputError, match="Lu-177"):
        plan_from_case(parse_case(bad))


def test_bsa_regimen_for_y90(doc: dict[str, Any]) -> None:
    y = copy.deepcopy(doc)
    y["administrations"][0]["nuclide"] = "Y-90"
    y["administrations"][0]["activity_mbq"] = 3300
    y["planning"]["regimen"] = "y90-dotatoc-bsa-7.4"
    p = plan_from_case(parse_case(y)).to_dict()
    bsa = 0.007184 * 70**0.425 * 165**0.725
    # Waldherr 2002 schedule in the catalogue: 7.4 GBq/m² in 4 cycles → 1.85 GBq/m² per cycle
    assert p["regimen"]["activity_per_cycle_mbq"] == pytest.approx(1850 * bsa)


def test_fit_g_factor_mono_matches_closed_form() -> None:
    lu = get_nuclide("Lu-177")
    lam = math.log(2) / (50 * H)
    t = [4 * H, 24 * H, 96 * H, 168 * H]
    fit = fit_curve(t, [1e8 * math.exp(-lam * x) for x in t], lu, model="mono")
    mu = math.log(2) / (2.8 * H)
    assert fit_g_factor(fit, 2.8 * H) == pytest.approx(lam / (lam + mu), rel=1e-6)


def test_advisor_small_vs_large() -> None:
    rows = advise_radionuclide([("a", 0.01), ("b", 1.0), ("c", 100.0), ("d", 2000.0)])
    y = [r.electron_absorbed_fraction_y90 for r in rows]
    lu = [r.electron_absorbed_fraction_lu177 for r in rows]
    assert y == sorted(y) and lu == sorted(lu)
    # 177Lu (mean β range ~0.7 mm) deposits more of its energy in every sphere than 90Y
    assert all(a > b for a, b in zip(lu, y, strict=True))
    assert rows[0].suggested == "Lu-177"
    assert rows[-1].suggested.startswith("Y-90")
    assert rows[0].to_dict()["electron_absorbed_fraction_y90"] == y[0]
    with pytest.raises(InvalidInputError):
        advise_radionuclide([("a", 1.0)], y90_min_fraction=0.0)


def test_case_without_data_is_rejected(doc: dict[str, Any]) -> None:
    empty = copy.deepcopy(doc)
    empty["regions"], empty["blood"] = [], []
    with pytest.raises(InvalidInputError, match="time–activity data"):
        plan_from_case(parse_case(empty))


def _two_cycles(doc: dict[str, Any], *, nuclide: str = "Lu-177") -> dict[str, Any]:
    """Cycle 2 (8 weeks later, same activity) with blood samples only: no SPECT."""
    two = copy.deepcopy(doc)
    two["administrations"].append(
        {**doc["administrations"][0], "id": "c2", "cycle": 2, "nuclide": nuclide,
         "datetime": "2026-03-02T10:00:00+01:00"}
    )  # fmt: skip
    two["blood"].append({**doc["blood"][0], "administration": "c2"})
    return two


def test_cycle_without_kidney_data_still_counts_against_the_limit(doc: dict[str, Any]) -> None:
    """Cycle 2 has blood samples but no kidney data: its kidney dose is cycle 1's Gy/Bq × its
    activity (never 0), so the delivered kidney dose doubles (hand calculation: 2 equal
    activities, same dose per activity)."""
    one = plan_from_case(parse_case(doc)).to_dict()
    two = plan_from_case(parse_case(_two_cycles(doc))).to_dict()

    def delivered(p: dict[str, Any]) -> float:
        return float(next(c for c in p["constraints"] if c["organ"] == "kidneys")["delivered_gy"])

    assert delivered(two) > 1.9 * delivered(one)


def test_estimated_cycle_needs_the_same_radionuclide(doc: dict[str, Any]) -> None:
    from sstrkit.therapy.planning import case_dosimetry

    same = case_dosimetry(parse_case(_two_cycles(doc)))
    c2 = next(c for c in same["cycles"] if c["cycle"] == 2)
    kid = next(r for r in c2["regions"] if r["name"] == "kidneys")
    c1 = next(c for c in same["cycles"] if c["cycle"] == 1)
    kid1 = next(r for r in c1["regions"] if r["name"] == "kidneys")
    assert kid["status"] == "estimated" and kid["dose_gy"] == pytest.approx(kid1["dose_gy"])
    other = case_dosimetry(parse_case(_two_cycles(doc, nuclide="Y-90")))
    c2y = next(c for c in other["cycles"] if c["cycle"] == 2)
    assert not [r for r in c2y["regions"] if r["name"] == "kidneys"]  # no Lu Gy/Bq for Y-90


def test_reduced_time_points_without_other_kinetics() -> None:
    """One measurement: Hänscheid (TIA = 2·t·A/ln 2) within 72–120 h; outside it the
    physical-decay upper bound TIA = A·e^(λp t)/λp (hand calculations)."""
    from sstrkit.therapy.planning import reduced_time_point_fit

    hl = get_nuclide("Lu-177").half_life_s
    f = reduced_time_point_fit([96 * H], [1e6], hl, prior=None)
    assert f.tia_bq_s == pytest.approx(2 * 96 * H * 1e6 / math.log(2), rel=1e-12)
    g = reduced_time_point_fit([4 * H, 24 * H], [1e6, 2e6], hl, prior=None)
    lam = math.log(2) / hl
    assert g.tia_bq_s == pytest.approx(2e6 * math.exp(lam * 24 * H) / lam, rel=1e-12)
    assert g.tia_sd_bq_s == pytest.approx(0.30 * g.tia_bq_s)
    assert "upper bound" in g.warnings[0]
    # with another cycle's T_eff (50 h): Madsen at the point nearest T/ln 2 = 72 h
    h = reduced_time_point_fit([24 * H, 96 * H], [3e6, 1e6], hl, prior=(50 * H, "cycle 1"))
    lam_e = math.log(2) / (50 * H)
    assert h.tia_bq_s == pytest.approx(1e6 * math.exp(lam_e * 96 * H) / lam_e, rel=1e-12)


#: The keys of a plan's JSON, in order (docs/kinetics.md; results.json publishes them).
_PLAN_KEYS = [
    "case_id", "nuclide", "regimen", "patient", "limits", "confidence_z", "dosimetry_cycles",
    "delivered", "constraints", "limiting_organ", "max_safe_cumulative_activity_mbq",
    "max_safe_cumulative_activity_conservative_mbq", "recommended_cycles_total",
    "next_cycle_activity_mbq", "schedule", "projected", "advisor", "plausibility",
    "assumptions", "warnings", "provenance",
]  # fmt: skip


def test_typed_plan_and_its_json_agree(doc: dict[str, Any]) -> None:
    """The typed PlanResult (Bq, Gy/Bq) and its JSON (MBq, Gy/GBq: unit factors 1e6 and
    1e9, exact in binary for the example's 7400 MBq) state the same plan; rel 1e-12:
    one division's rounding."""
    p = plan_from_case(parse_case(doc))
    d = p.to_dict()
    assert list(d) == _PLAN_KEYS
    binding = min(p.constraints, key=lambda c: c.max_cumulative_activity_conservative_bq)
    assert p.binding is binding and p.limiting_organ == d["limiting_organ"] == "kidneys (bed)"
    assert d["max_safe_cumulative_activity_mbq"] * 1e6 == pytest.approx(
        min(c.max_cumulative_activity_bq for c in p.constraints), rel=1e-12
    )
    assert d["recommended_cycles_total"] == p.delivered.cycles + len(p.schedule) == 4
    assert (
        [s["activity_mbq"] for s in d["schedule"]]
        == [s.activity_bq / 1e6 for s in p.schedule]
        == [7400.0] * 3
    )  # the NETTER-1 regimen's 7.4 GBq per cycle, within the limits
    assert d["next_cycle_activity_mbq"] == p.next_cycle_activity_bq / 1e6 == 7400.0
    kid = p.projected["kidneys"]
    assert d["projected"]["kidneys"]["dose_gy_per_gbq"] == pytest.approx(
        kid.gy_per_bq * 1e9, rel=1e-12
    )
    assert kid.bed_gy is not None and d["projected"]["kidneys"]["bed_gy"] == kid.bed_gy
    assert set(d["delivered"]["bed_gy"]) <= set(d["delivered"]["absorbed_gy"])
    assert [a["lesion"] for a in d["advisor"]] == [a.lesion for a in p.advisor]
