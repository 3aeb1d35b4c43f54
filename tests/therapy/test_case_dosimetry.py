"""The typed case dosimetry (sstrkit.therapy.case_dosimetry.case_dosimetry_result).

Each kinetics fit of a case runs once (counted by wrapping the fit functions the module
calls), a plan given the case dosimetry fits nothing again and equals the plan that
computes it (the same arithmetic on the same fits: exact equality), and a case of the
first cycle reuses the whole case's fits except one whose prior came from a later cycle.
Reference values are the packaged example case (``example_case.yaml``) and hand
arithmetic (equal activities → equal doses), said at each assertion.
"""

from __future__ import annotations

import collections
import copy
from typing import Any

import pytest
import yaml

from sstrkit.errors import InvalidInputError
from sstrkit.therapy import case_dosimetry as cd
from sstrkit.therapy.case import example_case_path, parse_case
from sstrkit.therapy.case_dosimetry import case_dosimetry, case_dosimetry_result
from sstrkit.therapy.planning import plan_from_case


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return yaml.safe_load(example_case_path().read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _two_cycles(doc: dict[str, Any], *, reduced_first: bool = False) -> dict[str, Any]:
    """Cycle 2 (same activity, same data; its datetime is cycle 1's so that the absolute
    measurement times stay valid) imaged like cycle 1; with ``reduced_first`` cycle 1's
    kidneys keep only their 24 and 96 h points (a reduced-time-point fit with cycle 2's
    kinetics)."""
    two = copy.deepcopy(doc)
    two["administrations"].append({**doc["administrations"][0], "id": "c2", "cycle": 2})
    two["regions"] += [{**r, "administration": "c2"} for r in doc["regions"]]
    two["blood"].append({**doc["blood"][0], "administration": "c2"})
    if reduced_first:
        kid = next(r for r in two["regions"] if r["name"] == "kidneys")
        kid["times_h"], kid["activity_mbq"] = kid["times_h"][1:3], kid["activity_mbq"][1:3]
    return two


def _count_fits(monkeypatch: pytest.MonkeyPatch) -> collections.Counter[str]:
    """Calls of the module's fit functions, by region (``case:admin:region`` for a full fit,
    ``reduced:<region>@<first time s>`` for a reduced-time-point one)."""
    calls: collections.Counter[str] = collections.Counter()
    fit_curve, reduced = cd.fit_curve, cd.reduced_time_point_fit

    def counted_fit(*args: Any, **kw: Any) -> Any:
        calls[str(kw["region"])] += 1
        return fit_curve(*args, **kw)

    def counted_reduced(times: Any, *args: Any, **kw: Any) -> Any:
        calls[f"reduced:{kw['region']}@{times[0]:g}"] += 1
        return reduced(times, *args, **kw)

    monkeypatch.setattr(cd, "fit_curve", counted_fit)
    monkeypatch.setattr(cd, "reduced_time_point_fit", counted_reduced)
    return calls


def test_each_fit_runs_once(doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Two imaged cycles: one fit per region and cycle and one per blood curve (the priors
    of reduced cycles and the doses share them)."""
    case = parse_case(_two_cycles(doc))
    calls = _count_fits(monkeypatch)
    result = case_dosimetry_result(case)
    names = {r["name"] for r in doc["regions"]}
    expected = {f"{case.case_id}:{a}:{n}" for a in ("c1", "c2") for n in names}
    expected |= {f"{case.case_id}:{a}:blood" for a in ("c1", "c2")}
    assert set(calls) == expected
    assert set(calls.values()) == {1}
    # the fits are kept: every region and cycle, and the blood curves
    assert len(result.fits) == len(expected)


def test_typed_rows_and_cumulative_dose(doc: dict[str, Any]) -> None:
    """Cycle 2 with blood samples only: its image regions are cycle 1's dose per activity ×
    the same activity, i.e. cycle 1's doses, with cycle 1's fits; cumulative = 2 × cycle 1."""
    two = copy.deepcopy(doc)
    two["administrations"].append(
        {**doc["administrations"][0], "id": "c2", "cycle": 2,
         "datetime": "2026-03-02T10:00:00+01:00"}
    )  # fmt: skip
    two["blood"].append({**doc["blood"][0], "administration": "c2"})
    result = case_dosimetry_result(parse_case(two))
    c1, c2 = result.cycles
    assert (c1.status, c2.status, c2.estimated_from_cycle) == ("measured", "estimated", 1)
    kid1, kid2 = c1.region("kidneys"), c2.region("kidneys")
    assert kid1 is not None and kid2 is not None
    assert kid2.status == "estimated" and kid2.model == "estimated from cycle 1"
    assert kid2.fit is kid1.fit  # the same fit object, not a refit
    assert kid2.dose_gy == pytest.approx(kid1.dose_gy, rel=1e-12)  # equal activities
    assert result.cumulative_dose_gy["kidneys"] == pytest.approx(2 * kid1.dose_gy, rel=1e-12)
    assert result.cumulative_estimated_gy["kidneys"] == pytest.approx(kid1.dose_gy, rel=1e-12)
    # the blood-based marrow of cycle 2 is measured (its own blood samples)
    marrow = c2.region("red marrow")
    assert marrow is not None and marrow.status == "measured"
    assert result.to_dict() == case_dosimetry(parse_case(two))


def test_plan_reuses_the_case_dosimetry(
    doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given the case dosimetry, the plan fits nothing and equals the plan that computes it."""
    case = parse_case(_two_cycles(doc))
    computed = plan_from_case(case).to_dict()
    dosimetry = case_dosimetry_result(case)
    calls = _count_fits(monkeypatch)
    given = plan_from_case(case, dosimetry).to_dict()
    assert not calls
    assert given == computed


def test_plan_refuses_another_cases_dosimetry(doc: dict[str, Any]) -> None:
    one, two = parse_case(doc), parse_case(_two_cycles(doc))
    with pytest.raises(InvalidInputError, match="case dosimetry"):
        plan_from_case(one, case_dosimetry_result(two))


def test_first_cycle_case_reuses_fits_except_a_later_cycles_prior(
    doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cycle 1's kidneys have 2 time points: in the whole case their reduced fit takes cycle 2's
    kinetics (Madsen); the case of cycle 1 alone (the plan after cycle 1) must not know
    cycle 2, so that fit is redone (Hänscheid at 96 h) while every other fit is reused."""
    whole_doc = _two_cycles(doc, reduced_first=True)
    whole = case_dosimetry_result(parse_case(whole_doc))
    first_doc = copy.deepcopy(whole_doc)
    first_doc["administrations"] = first_doc["administrations"][:1]
    first_doc["regions"] = [r for r in first_doc["regions"] if r["administration"] == "c1"]
    first_doc["blood"] = first_doc["blood"][:1]
    first = parse_case(first_doc)
    calls = _count_fits(monkeypatch)
    reused = case_dosimetry_result(first, reuse=whole)
    assert dict(calls) == {"reduced:kidneys@86400": 1}  # only the kidneys' fit, at 24 h first
    kid_whole = whole.cycles[0].region("kidneys")
    kid_first = reused.cycles[0].region("kidneys")
    assert kid_whole is not None and kid_first is not None
    assert any("cycle 2" in w for w in kid_whole.fit.warnings)
    assert not any("cycle 2" in w for w in kid_first.fit.warnings)
    assert any("Hänscheid" in w for w in kid_first.fit.warnings)
    liver_whole, liver_first = whole.cycles[0].region("liver"), reused.cycles[0].region("liver")
    assert liver_whole is not None and liver_first is not None
    assert liver_first.fit is liver_whole.fit
    # reusing changes nothing: the same result as computing the first cycle's case alone
    monkeypatch.undo()
    assert reused.to_dict() == case_dosimetry(first)
