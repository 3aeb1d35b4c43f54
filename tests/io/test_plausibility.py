"""Plausibility checks (sstrkit.io.plausibility) and how SUV and the reader apply them.

The synthetic PET (tests/io/conftest.py) has 5000 Bq/mL, 400 MBq injected one
half-life (3600 s) before the scan, 80 kg, 1.80 m, male: SUVbw factor
80 000 g / 2e8 Bq = 4e-4 (g/mL)/(Bq/mL).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from sstrkit.errors import DicomMetadataError, InvalidInputError
from sstrkit.io import plausibility as pl
from sstrkit.io.dicom_read import read_series
from sstrkit.io.suv import Overrides, activity_concentration, compute_suv
from sstrkit.physics.nuclides import get_nuclide

DOCS = Path(__file__).resolve().parents[2] / "docs" / "dicom.md"


def _code(meaning: str):  # type: ignore[no-untyped-def]
    def hook(ds: Dataset) -> None:
        c = Dataset()
        c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = "X", "SRT", meaning
        ds.RadiopharmaceuticalInformationSequence[0].RadionuclideCodeSequence = DicomSequence([c])

    return hook


def _series(make_pet, **kw):  # type: ignore[no-untyped-def]
    return read_series(make_pet(**kw)[0].parent)


# ----------------------------------------------------------------- pure checks
def test_weight_limits_inclusive_and_usual_range() -> None:
    w = "PatientWeight (0010,1030)"
    assert pl.check_weight(1.0, what=w) != [] and pl.check_weight(500.0, what=w) != []
    assert pl.check_weight(80.0, what=w) == []
    for bad in (0.99, 500.1, -70.0, math.nan):
        with pytest.raises(DicomMetadataError, match="physically impossible"):
            pl.check_weight(bad, what=w)
    with pytest.raises(InvalidInputError, match="preclinical"):  # an override: the user's value
        pl.check_weight(0.025, what="weight override (--weight-kg)", override=True)
    assert "usual adult and paediatric range 2.5–200 kg" in pl.check_weight(2.4, what=w)[0]
    assert pl.check_weight(200.0, what=w) == [] and pl.check_weight(201.0, what=w) != []


def test_height_limits_and_bmi() -> None:
    h = "PatientSize (0010,1020)"
    assert pl.check_height(30.0, what=h) != [] and pl.check_height(260.0, what=h) != []
    assert pl.check_height(180.0, what=h) == []
    for bad in (29.9, 260.1, -175.0):
        with pytest.raises(DicomMetadataError, match=r"between 0\.3 and 2\.6 m"):
            pl.check_height(bad, what=h)
    # BMI = W / H^2: 80 / 1.8^2 = 24.7 (usual); 70 / 0.7^2 = 142.9 and 30 / 1.9^2 = 8.3 are not
    assert pl.check_bmi(80.0, 180.0) == []
    assert "BMI of 142.9" in pl.check_bmi(70.0, 70.0)[0]
    assert "BMI of 8.3" in pl.check_bmi(30.0, 190.0)[0]


def test_swap_detection_only_for_a_metres_weight_and_a_kilogram_size() -> None:
    # as given 1.75 kg at 0.70 m: BMI 1.75 / 0.49 = 3.57 < 8; swapped 70 / 1.75^2 = 22.9
    with pytest.raises(DicomMetadataError) as info:
        pl.check_swapped_weight_height(1.75, 70.0)
    msg = info.value.one_line()
    assert "PatientWeight (0010,1030) = 1.75" in msg and "PatientSize (0010,1020) = 70" in msg
    assert "BMI 3.6" in msg and "BMI 22.9" in msg
    assert "--weight-kg 70 --height-cm 175" in msg
    pl.check_swapped_weight_height(80.0, 1.8)  # ordinary adult
    pl.check_swapped_weight_height(3.3, 50.0)  # a newborn: weight above 2.6, not a height
    # a 2 kg, 45 cm preterm newborn: BMI 2 / 0.45^2 = 9.9 >= 8, so not "swapped"
    pl.check_swapped_weight_height(2.0, 45.0)


def test_activity_ranges_per_nuclide() -> None:
    what = "RadionuclideTotalDose (0018,1074)"
    assert pl.check_activity(150e6, "Ga-68", what=what) == []
    assert pl.check_activity(40e6, "Ga-68", what=what) == []  # inclusive
    low = pl.check_activity(39e6, "Ga-68", what=what)
    assert "39 MBq is outside the usual range 40 MBq–400 MBq for Ga-68" in low[0]
    assert pl.check_activity(7.4e9, "Lu-177", what=what) == []
    assert "11 GBq" in pl.check_activity(11e9, "Lu-177", what=what)[0]
    assert pl.check_activity(50e6, "F-18", what=what) != []
    assert pl.check_activity(5e6, None, what=what) == []  # unknown nuclide: sign only
    with pytest.raises(DicomMetadataError, match=r"-4e\+08 Bq \(physically impossible\)"):
        pl.check_activity(-4e8, "F-18", what=what)
    # every range belongs to an ICRP-107 nuclide and is labelled a model
    for name, rng in pl.ACTIVITY_RANGES.items():
        assert get_nuclide(name).half_life_s > 0 and rng.low_bq < rng.high_bq
        assert rng.basis.startswith("model")


def test_half_life_against_icrp107() -> None:
    f18 = get_nuclide("F-18").half_life_s
    assert pl.check_half_life(f18, f18, "F-18") == (f18, [])
    assert pl.check_half_life(f18 * 1.009, f18, "F-18") == (f18 * 1.009, [])  # within 1 %
    # 1-5 %: rounding or an older table → ICRP 107 (hand calculation: 1.03 × 6586.2 s)
    value, warn = pl.check_half_life(f18 * 1.03, f18, "F-18")
    assert value == f18 and "differs from ICRP 107 F-18 6586.2 s by +3.0 %" in warn[0]
    # > 5 %: the header names another nuclide than its code; the header value the scanner
    # used is kept, and both are named
    value, warn = pl.check_half_life(3600.0, f18, "F-18")
    assert value == 3600.0
    assert "3600 s contradicts the nuclide code F-18 (ICRP 107 6586.2 s, -45 %)" in warn[0]
    value, warn = pl.check_half_life(0.0, f18, "F-18")
    assert value == f18 and "= 0 s is not a half-life" in warn[0] and "6586.2 s" in warn[0]
    with pytest.raises(DicomMetadataError, match=r"-5 s \(physically impossible"):
        pl.check_half_life(-5.0, None, None)
    assert pl.check_half_life(None, f18, "F-18") == (f18, [])  # the documented fallback


# ------------------------------------------------------------- SUV integration
def test_clean_header_has_no_plausibility_warning(make_pet) -> None:  # type: ignore[no-untyped-def]
    res = compute_suv(
        _series(
            make_pet,
            hook=_code("^68^Gallium"),
            radio={
                "RadionuclideHalfLife": f"{get_nuclide('Ga-68').half_life_s:.6g}",
                "RadionuclideTotalDose": "150000000",
            },
        )
    )
    assert res.warnings == ()


def test_negative_weight_reports_the_value(make_pet) -> None:  # type: ignore[no-untyped-def]
    series = _series(make_pet, attrs={"PatientWeight": "-70"})
    with pytest.raises(DicomMetadataError) as info:
        compute_suv(series)
    msg = info.value.one_line()
    assert "PatientWeight (0010,1030)" in msg and "-70 kg (physically impossible)" in msg
    assert "absent" not in msg and "--weight-kg" in msg
    warn = compute_suv(series, strictness="warn")
    assert warn.suv is None and any("-70 kg" in w for w in warn.warnings)


def test_swapped_weight_and_height_raise_with_both_values(make_pet) -> None:  # type: ignore[no-untyped-def]
    series = _series(make_pet, attrs={"PatientWeight": "1.75", "PatientSize": "70"})
    # read as given the SUVbw factor would be 1750 g / 2e8 Bq, 40x too low (70 / 1.75 = 40)
    with pytest.raises(DicomMetadataError, match=r"1\.75 and PatientSize.*= 70.*--weight-kg 70"):
        compute_suv(series)
    with pytest.raises(DicomMetadataError, match="looks like kilograms"):
        compute_suv(series, "ibw")  # the height is checked the same way
    fixed = compute_suv(series, overrides=Overrides(weight_kg=70.0, height_cm=175.0))
    assert fixed.suv_factor == pytest.approx(70000.0 / 2e8, rel=1e-12)
    assert fixed.warnings == ()


@pytest.mark.parametrize(
    ("attrs", "pattern"),
    [
        ({"PatientWeight": "0.5"}, r"0\.5 kg \(physically impossible\)"),
        ({"PatientWeight": "600"}, r"600 kg \(physically impossible\)"),  # not kg, not grams
        ({"PatientWeight": "600000"}, r"600000 read as grams.*600 kg"),
    ],
)
def test_impossible_weights(make_pet, attrs, pattern) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DicomMetadataError, match=pattern):
        compute_suv(_series(make_pet, attrs=attrs))


def test_impossible_height_and_zero_size(make_pet) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DicomMetadataError, match=r"2\.8 m \(physically impossible\)"):
        compute_suv(_series(make_pet, attrs={"PatientSize": "2.8"}), "lbm")
    # PatientSize 0 is "unknown": reported as found, and the SUVlbm error says so
    series = _series(make_pet, folder="zero", attrs={"PatientSize": "0"})
    with pytest.raises(DicomMetadataError, match=r"PatientSize \(0010,1020\).*got 0 \(treated"):
        compute_suv(series, "lbm")
    warn = compute_suv(series, "lbm", strictness="warn")
    assert any("PatientSize (0010,1020) is 0: treated as missing" in w for w in warn.warnings)


def test_unusual_weight_and_bmi_warn_and_can_be_switched_off(make_pet) -> None:  # type: ignore[no-untyped-def]
    series = _series(make_pet, attrs={"PatientWeight": "250"})
    res = compute_suv(series)
    assert res.suv_factor == pytest.approx(250000.0 / 2e8, rel=1e-12)  # still computed
    assert any("250 kg is outside the usual" in w for w in res.warnings)
    # 250 / 1.8^2 = 77.2 kg/m² is still within 10–80: only the weight warns
    assert not any("BMI" in w for w in res.warnings)
    quiet = compute_suv(series, plausibility=False)
    assert quiet.warnings == () and quiet.suv_factor == res.suv_factor
    # an override is checked too (InvalidInputError: the user's value)
    with pytest.raises(InvalidInputError, match="weight override"):
        compute_suv(series, overrides=Overrides(weight_kg=0.5))
    low_bmi = compute_suv(series, overrides=Overrides(weight_kg=30.0))  # 30 / 3.24 = 9.3
    assert any("BMI of 9.3" in w for w in low_bmi.warnings)


def test_activity_range_from_code_name_or_half_life(make_pet) -> None:  # type: ignore[no-untyped-def]
    ga = f"{get_nuclide('Ga-68').half_life_s:.6g}"
    # Ga-68 named by the code sequence, 1.5 GBq
    res = compute_suv(
        _series(
            make_pet,
            radio={"RadionuclideTotalDose": "1.5e9", "RadionuclideHalfLife": ga},
            hook=_code("^68^Gallium"),
        )
    )
    assert any("1.5 GBq is outside the usual range" in w and "Ga-68" in w for w in res.warnings)
    # named by the radiopharmaceutical only
    res = compute_suv(
        _series(
            make_pet,
            folder="name",
            radio={
                "Radiopharmaceutical": "68Ga-DOTATATE",
                "RadionuclideTotalDose": "20e6",
                "RadionuclideHalfLife": ga,
            },
        )
    )
    assert any("20 MBq" in w and "Radiopharmaceutical '68Ga-DOTATATE'" in w for w in res.warnings)
    # no name: identified by its half-life (F-18, 6586.2 s), 50 MBq given as "50" (MBq)
    res = compute_suv(
        _series(
            make_pet,
            folder="hl",
            radio={"RadionuclideTotalDose": "50", "RadionuclideHalfLife": "6586.2"},
        )
    )
    assert any("can only be MBq" in w for w in res.warnings)
    assert any("50 MBq is outside" in w and "half-life 6586.2 s" in w for w in res.warnings)
    # the default synthetic half-life (3600 s) is no nuclide of the table: no range check
    assert (
        compute_suv(_series(make_pet, folder="d", radio={"RadionuclideTotalDose": "5e6"})).warnings
        == ()
    )


def test_negative_activity_reports_the_value(make_pet) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DicomMetadataError, match=r"-4e\+08 Bq \(physically impossible\)"):
        compute_suv(_series(make_pet, radio={"RadionuclideTotalDose": "-4e8"}))


def test_half_life_zero_or_off_by_a_few_percent_uses_icrp107_with_a_warning(make_pet) -> None:  # type: ignore[no-untyped-def]
    t_half = get_nuclide("F-18").half_life_s  # 6586.2 s
    expected = 80000.0 / (4e8 * 2 ** (-3600 / t_half))  # decay interval 3600 s, ICRP half-life
    for folder, value in (("zero", "0"), ("rounded", "6850")):  # 0 s; +4.0 % (old table)
        res = compute_suv(
            _series(
                make_pet,
                folder=folder,
                radio={"RadionuclideHalfLife": value},
                hook=_code("^18^Fluorine"),
            )
        )
        assert res.suv_factor == pytest.approx(expected, rel=1e-12), folder
        assert any(f"= {value} s" in w and "6586.2 s" in w for w in res.warnings), folder
        assert "ICRP" in res.parameters["inputs_used"]["half_life_s"]["source"]
    with pytest.raises(DicomMetadataError, match=r"0 s \(physically impossible"):
        compute_suv(_series(make_pet, folder="nocode", radio={"RadionuclideHalfLife": "0"}))


# --------------------------------------------------------- series completeness
def test_number_of_slices_matches(make_pet) -> None:  # type: ignore[no-untyped-def]
    series = _series(make_pet, attrs={"NumberOfSlices": 3, "ImagesInAcquisition": "3"})
    assert series.warnings == ()


def test_missing_slices_by_count(make_pet) -> None:  # type: ignore[no-untyped-def]
    files = make_pet(attrs={"NumberOfSlices": 5})
    with pytest.raises(DicomMetadataError, match=r"NumberOfSlices.*5 slices.*3 files.*missing"):
        read_series(files[0].parent)
    partial = read_series(files[0].parent, allow_incomplete=True)
    assert partial.volume.shape[0] == 3
    assert any("5 slices expected" in w for w in partial.warnings)
    # the series warnings reach the SUV result and the activity result
    assert any("5 slices expected" in w for w in compute_suv(partial).warnings)
    assert any("5 slices expected" in w for w in activity_concentration(partial).warnings)


def test_single_slice_of_a_multi_slice_series(make_pet) -> None:  # type: ignore[no-untyped-def]
    files = make_pet(attrs={"NumberOfSlices": 3})
    with pytest.raises(DicomMetadataError, match="a single slice of a 3-slice series"):
        read_series([files[1]])
    iia = make_pet(folder="iia", attrs={"ImagesInAcquisition": "3"})
    with pytest.raises(DicomMetadataError, match=r"ImagesInAcquisition.*single slice"):
        read_series([iia[0]])
    # two of three: only a warning (the acquisition may hold other series)
    two = read_series(iia[:2])
    assert any("ImagesInAcquisition (0020,1002) is 3" in w for w in two.warnings)


def test_more_slices_than_number_of_slices_warns(make_pet) -> None:  # type: ignore[no-untyped-def]
    series = _series(make_pet, attrs={"NumberOfSlices": 2})
    assert any("NumberOfSlices (0054,0081) is 2" in w for w in series.warnings)


def test_gap_in_positions_is_missing_slices(make_pet) -> None:  # type: ignore[no-untyped-def]
    files = make_pet(np.full((5, 4, 5), 5000, np.int16))  # z = 50, 54, 58, 62, 66 mm
    files[2].unlink()  # z = 58 mm missing: gap 8 mm = 2 x 4 mm
    with pytest.raises(DicomMetadataError, match=r"missing slices: 1 slice\(s\) missing") as info:
        read_series(files[0].parent)
    assert "8 mm = 2 × 4 mm" in str(info.value) and "54.000 mm" in str(info.value)


# ------------------------------------------------------------------------ docs
def test_docs_table_lists_the_limits() -> None:
    text = DOCS.read_text(encoding="utf-8")
    start = text.index("## Plausibility checks")
    section = text[start : text.index("\n## ", start + 5)]
    expected = [
        "1–500 kg",
        "0.3–2.6 m",
        "2.5–200 kg",
        "0.45–2.1 m",
        "10–80 kg/m²",
        "1 %",
        f"BMI < {pl.SWAP_BMI_MAX:g}",
    ]
    lo, hi = pl.WEIGHT_POSSIBLE_KG
    assert (lo, hi) == (1.0, 500.0) and pl.HEIGHT_POSSIBLE_CM == (30.0, 260.0)
    assert pl.WEIGHT_USUAL_KG == (2.5, 200.0) and pl.HEIGHT_USUAL_CM == (45.0, 210.0)
    assert pl.BMI_USUAL == (10.0, 80.0) and pl.HALF_LIFE_TOLERANCE == 0.01
    for item in expected:
        assert item in section, item
    for rng in pl.ACTIVITY_RANGES.values():
        row = next(line for line in section.splitlines() if f"| {rng.nuclide} |" in line)
        cell = row.split("|")[3].strip()  # e.g. "70–800 MBq", "500 MBq–10 GBq", "1 GBq–10 GBq"
        values = [
            float(v) * (1e9 if unit == "GBq" else 1e6)
            for v, unit in re.findall(r"([\d.]+)(?:\s*(MBq|GBq))?", cell.replace("–", " – "))
            for unit in [unit or cell.split()[-1]]
        ]
        assert values == [rng.low_bq, rng.high_bq], (rng.nuclide, cell)
