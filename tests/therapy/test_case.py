"""Case-file schema and loader (sstrkit.therapy.case).

Reference values: the packaged example case (values written in the file) and hand
conversions (MBq → Bq, h → s, decay un-correction A·e^(−λt) with the ICRP-107
Lu-177 half-life 6.647 d); BSA by Du Bois & Du Bois (1916) computed by hand.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from sstrkit.errors import InvalidInputError
from sstrkit.therapy.case import example_case_path, load_case, parse_case

LU_T_HALF_S = 6.647 * 86400  # ICRP 107


def _example() -> dict[str, Any]:
    return yaml.safe_load(example_case_path().read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_example_case_loads() -> None:
    case = load_case(example_case_path())
    assert case.patient.weight_kg == 70
    assert case.administrations[0].activity_bq == 7.4e9
    t, a = case.series("kidneys")
    np.testing.assert_allclose(t, np.array([4, 24, 96, 168]) * 3600.0)
    np.testing.assert_allclose(a, np.array([155.0, 147.0, 57.0, 21.0]) * 1e6)
    # volume 290 mL × 1.05 g/mL
    assert case.region("kidneys").mass == pytest.approx(304.5)
    # Du Bois: 0.007184 × 70^0.425 × 165^0.725
    assert case.patient.bsa_m2 == pytest.approx(0.007184 * 70**0.425 * 165**0.725)
    assert case.patient.risk_factors.present() == ["hypertension"]


@pytest.mark.parametrize(
    ("written", "sex"), [("female", "F"), ("F", "F"), ("male", "M"), ("m", "M")]
)
def test_patient_sex_spellings(written: str, sex: str) -> None:
    """The case file may write F/M or female/male; the validated case holds F or M."""
    doc = _example()
    doc["patient"]["sex"] = written
    assert parse_case(doc).patient.sex == sex


def test_datetimes_are_converted_relative_to_administration() -> None:
    case = load_case(example_case_path())
    t, _ = case.series("whole body")
    # 10:00+01:00 administration; 14:00 same day = 4 h; 10:00 next day = 24 h ...
    np.testing.assert_allclose(t / 3600, [4, 24, 96, 168])


def test_json_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "case.json"
    p.write_text(json.dumps(_example()), encoding="utf-8")
    assert load_case(p).case_id == "example-lu177-dotatate"


def test_decay_corrected_series_is_uncorrected() -> None:
    doc = _example()
    doc["regions"][0]["decay_corrected"] = True
    case = parse_case(doc)
    t, a = case.series("kidneys")
    expected = np.array([155.0, 147.0, 57.0, 21.0]) * 1e6 * np.exp(-math.log(2) / LU_T_HALF_S * t)
    np.testing.assert_allclose(a, expected, rtol=1e-12)


def _mutate(path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(_example())
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        (["administrations", 0, "datetime"], "2026-01-05T10:00:00", "UTC offset"),
        (["administrations", 0, "nuclide"], "Lu-999", "nuclide|Lu-999"),
        (["administrations", 0, "activity_mbq"], -5, "greater than 0"),
        (["regions", 0, "times_h"], [4, 24, 24, 168], "strictly increasing"),
        (["regions", 0, "times_h"], [-4, 24, 96, 168], "≥ 0"),
        (["regions", 0, "activity_mbq"], [1, 2, 3], "activities for 4 time points"),
        (["regions", 0, "activity_mbq"], [1, -2, 3, 4], "≥ 0 MBq"),
        (["regions", 0, "administration"], "c9", "unknown administration"),
        (["regions", 0, "mass_g"], 300, "not both"),
        (["regions", 0, "bogus_field"], 1, "Extra inputs"),
        (["patient", "sex"], "x", "male"),
        (["patient", "weight_kg"], _DELETE, "weight_kg"),
        (["blood", 0, "concentration_kbq_per_ml"], [1.0], "one blood concentration"),
        (["schema_version"], 2, "schema_version"),
    ],
)
def test_invalid_case_files(path: list[Any], value: Any, match: str) -> None:
    doc = _mutate(path, value)
    with pytest.raises(InvalidInputError, match=match):
        parse_case(doc)


def test_times_and_datetimes_exclusive() -> None:
    doc = _example()
    doc["regions"][0]["datetimes"] = ["2026-01-05T14:00:00+01:00"]
    with pytest.raises(InvalidInputError, match="exactly one of times_h"):
        parse_case(doc)


def test_measurement_before_administration_is_rejected() -> None:
    doc = _example()
    doc["regions"][-1]["datetimes"][0] = "2026-01-05T09:00:00+01:00"
    case = parse_case(doc)
    with pytest.raises(InvalidInputError, match="after the administration"):
        case.series("whole body")


def test_loader_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="existing file"):
        load_case(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("patient: [unclosed", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="valid JSON or YAML"):
        load_case(bad)
    with pytest.raises(InvalidInputError, match="mapping"):
        parse_case([1, 2])
