"""SUV for each Units / DecayCorrection / time variant, hand-computed.

Unless a test changes them, the synthetic PET (tests/io/conftest.py) has
5000 Bq/mL in every voxel, 400 MBq injected at 09:00:00, scan (SeriesTime and
AcquisitionTime) at 10:00:00, RadionuclideHalfLife 3600 s and 80 kg. So the
dose decayed to the scan is 400 MBq * 2^(-3600/3600) = 200 MBq, the SUVbw
factor is 80 000 g / 2e8 Bq = 4e-4 (g/mL)/(Bq/mL) and SUVbw = 5000 * 4e-4 = 2.0.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from sstrkit.errors import DicomMetadataError
from sstrkit.io.dicom_read import read_series
from sstrkit.io.suv import (
    Overrides,
    activity_concentration,
    average_activity_time_s,
    compute_suv,
)
from sstrkit.physics.nuclides import get_nuclide

LN2 = math.log(2)
TZ0 = dt.UTC


def _suv(files: list[Path], norm: str = "bw", **kw: object):  # type: ignore[no-untyped-def]
    return compute_suv(read_series(files[0].parent), norm, **kw)  # type: ignore[arg-type]


def test_bqml_start_series_time(make_pet) -> None:  # type: ignore[no-untyped-def]
    res = _suv(make_pet())
    assert res.suv_factor == pytest.approx(4e-4, rel=1e-12)
    assert res.suv is not None
    np.testing.assert_allclose(res.suv.array, 2.0, rtol=1e-6)  # float32 voxels
    assert res.reference_time == dt.datetime(2026, 1, 5, 10, 0, tzinfo=TZ0)
    assert res.warnings == ()
    assert res.suv.unit == "g/mL" and res.suv.quantity == "suv_bw"


def test_per_slice_rescale(make_pet) -> None:  # type: ignore[no-untyped-def]
    # stored 1000/2000/4000 with slopes 5/2.5/1.25: every slice is 5000 Bq/mL
    stored = np.stack([np.full((4, 5), v, np.int16) for v in (1000, 2000, 4000)])
    res = _suv(make_pet(stored, slopes=[5.0, 2.5, 1.25]))
    assert res.activity is not None
    np.testing.assert_allclose(res.activity.array, 5000.0, rtol=1e-6)
    np.testing.assert_allclose(res.suv.array, 2.0, rtol=1e-6)  # type: ignore[union-attr]


def test_series_time_not_after_acquisition(make_pet) -> None:  # type: ignore[no-untyped-def]
    # SeriesTime 10:00 <= AcquisitionTime 10:05: reference = series time (QIBA)
    res = _suv(make_pet(attrs={"AcquisitionTime": "100500"}))
    assert res.reference_time == dt.datetime(2026, 1, 5, 10, 0, tzinfo=TZ0)
    assert res.suv_factor == pytest.approx(4e-4, rel=1e-12)


def test_series_time_later_uses_ge_private_scan_datetime(make_pet) -> None:  # type: ignore[no-untyped-def]
    def ge(ds: Dataset) -> None:
        block = ds.private_block(0x0009, "GEMS_PETD_01", create=True)
        block.add_new(0x0D, "DT", "20260105100000")

    # post-processed series: SeriesTime 11:00 later than AcquisitionTime 10:00
    res = _suv(make_pet(attrs={"SeriesTime": "110000"}, hook=ge))
    assert res.reference_time == dt.datetime(2026, 1, 5, 10, 0, tzinfo=TZ0)
    assert res.suv_factor == pytest.approx(4e-4, rel=1e-12)
    assert res.warnings == ()


def test_series_time_later_frame_reference_back_computation(make_pet) -> None:  # type: ignore[no-untyped-def]
    # QIBA: scan = AcquisitionTime - FrameReferenceTime + T_ave, with
    # T_ave = (1/lam) ln(lam T / (1 - exp(-lam T))). T = 600 s, T1/2 = 3600 s:
    # lam T = ln2/6 = 0.1155245; lam T/(1-exp(-lam T)) = 0.1155245/0.1091013 = 1.0588742
    # T_ave = 5193.702 s * ln(1.0588742) = 5193.702 * 0.0572062 = 297.112 s.
    lam_t = LN2 / 6.0
    t_ave = (3600.0 / LN2) * math.log(lam_t / (1.0 - math.exp(-lam_t)))
    assert t_ave == pytest.approx(297.112, abs=1e-3)
    assert average_activity_time_s(600.0, 3600.0) == pytest.approx(t_ave, rel=1e-12)
    # FrameReferenceTime = T_ave + 60 s: the scan started 60 s before AcquisitionTime 10:00
    frt_ms = (t_ave + 60.0) * 1000.0
    attrs = {
        "SeriesTime": "110000",
        "FrameReferenceTime": f"{frt_ms:.3f}",
        "ActualFrameDuration": "600000",
    }
    res = _suv(make_pet(attrs=attrs))
    expected_ref = dt.datetime(2026, 1, 5, 9, 59, 0, tzinfo=TZ0)
    assert res.reference_time is not None
    assert abs((res.reference_time - expected_ref).total_seconds()) < 1e-3
    # decay interval 3540 s: factor = 80000 / (4e8 * 2^(-3540/3600))
    assert res.suv_factor == pytest.approx(80000.0 / (4e8 * 2 ** (-3540 / 3600)), rel=1e-7)


def test_series_time_later_without_helpers_warns(make_pet) -> None:  # type: ignore[no-untyped-def]
    res = _suv(make_pet(attrs={"SeriesTime": "110000"}))
    assert res.reference_time == dt.datetime(2026, 1, 5, 10, 0, tzinfo=TZ0)
    assert res.suv_factor == pytest.approx(4e-4, rel=1e-12)
    assert any("earliest AcquisitionTime" in w for w in res.warnings)


def test_decay_correction_admin(make_pet) -> None:  # type: ignore[no-untyped-def]
    # values refer to the injection time: no decay of the dose; 80000/4e8 = 2e-4, SUV = 1.0
    res = _suv(make_pet(attrs={"DecayCorrection": "ADMIN"}))
    assert res.suv_factor == pytest.approx(2e-4, rel=1e-12)
    np.testing.assert_allclose(res.suv.array, 1.0, rtol=1e-6)  # type: ignore[union-attr]
    assert res.reference_time == dt.datetime(2026, 1, 5, 9, 0, tzinfo=TZ0)


def test_decay_correction_none_per_slice(make_pet) -> None:  # type: ignore[no-untyped-def]
    # Two bed positions, not decay corrected, each a 600 s frame: slice 0 starts 10:00,
    # slice 1 at 10:30. Frame mean -> frame start: x/(1-e^-x), x = ln2*600/3600 = 0.1155245
    # gives 1.0588742; slice 1 is then corrected to 10:00 by 2^(1800/3600) = 1.4142136.
    # SUV0 = 5000 * 1.0588742 * 4e-4 = 2.117748; SUV1 = 2.117748 * 1.4142136 = 2.994948
    x = LN2 * 600.0 / 3600.0
    mean_to_start = x / (1.0 - math.exp(-x))
    stored = np.full((2, 4, 5), 5000, np.int16)
    per_slice = [{"AcquisitionTime": "100000"}, {"AcquisitionTime": "103000"}]
    res = _suv(
        make_pet(
            stored,
            attrs={"DecayCorrection": "NONE", "ActualFrameDuration": "600000"},
            per_slice=per_slice,
        )
    )
    assert res.reference_time == dt.datetime(2026, 1, 5, 10, 0, tzinfo=TZ0)
    suv = res.suv.array  # type: ignore[union-attr]
    assert suv[0].mean() == pytest.approx(5000 * mean_to_start * 4e-4, rel=1e-6)
    assert suv[1].mean() == pytest.approx(5000 * mean_to_start * math.sqrt(2) * 4e-4, rel=1e-6)
    assert suv[0].mean() == pytest.approx(2.117748, abs=2e-6)
    assert suv[1].mean() == pytest.approx(2.994948, abs=2e-6)


def test_start_datetime_and_midnight_crossing(make_pet) -> None:  # type: ignore[no-untyped-def]
    # scan 00:30 on 6 Jan, injection 23:30 on 5 Jan: 3600 s, SUV 2.0 both ways
    attrs = {"SeriesDate": "20260106", "AcquisitionDate": "20260106"}
    attrs |= {"SeriesTime": "003000", "AcquisitionTime": "003000"}
    only_time = _suv(make_pet(attrs=attrs, radio={"RadiopharmaceuticalStartTime": "233000"}))
    assert only_time.suv_factor == pytest.approx(4e-4, rel=1e-12)
    assert any("previous day" in w for w in only_time.warnings)
    with_date = _suv(
        make_pet(
            folder="b",
            attrs=attrs,
            radio={"RadiopharmaceuticalStartDateTime": "20260105233000"},
        )
    )
    assert with_date.suv_factor == pytest.approx(4e-4, rel=1e-12)
    assert with_date.warnings == ()


def test_ge_private_admin_datetime(make_pet) -> None:  # type: ignore[no-untyped-def]
    def ge(ds: Dataset) -> None:
        ds.private_block(0x0009, "GEMS_PETD_01", create=True).add_new(0x3B, "DT", "20260105090000")

    res = _suv(make_pet(radio={"RadiopharmaceuticalStartTime": None}, hook=ge))
    assert res.suv_factor == pytest.approx(4e-4, rel=1e-12)


def test_timezone_offset_is_attached(make_pet) -> None:  # type: ignore[no-untyped-def]
    res = _suv(make_pet(attrs={"TimezoneOffsetFromUTC": "+0100"}))
    tz = dt.timezone(dt.timedelta(hours=1))
    assert res.reference_time == dt.datetime(2026, 1, 5, 10, 0, tzinfo=tz)
    assert res.suv_factor == pytest.approx(4e-4, rel=1e-12)


def test_dose_in_mbq_and_weight_in_grams_warn(make_pet) -> None:  # type: ignore[no-untyped-def]
    res = _suv(make_pet(attrs={"PatientWeight": "80000"}, radio={"RadionuclideTotalDose": "400"}))
    assert res.suv_factor == pytest.approx(4e-4, rel=1e-12)
    assert any("can only be MBq" in w for w in res.warnings)
    assert any("can only be grams" in w for w in res.warnings)


def test_weight_zero_is_missing_and_override(make_pet) -> None:  # type: ignore[no-untyped-def]
    files = make_pet(attrs={"PatientWeight": "0"})
    series = read_series(files[0].parent)
    with pytest.raises(DicomMetadataError, match=r"PatientWeight \(0010,1030\).*--weight-kg"):
        compute_suv(series)
    warn = compute_suv(series, strictness="warn")
    assert warn.suv is None and warn.suv_factor is None
    assert warn.activity is not None  # Bq/mL could still be derived
    assert any("PatientWeight" in w for w in warn.warnings)
    fixed = compute_suv(series, overrides=Overrides(weight_kg=80.0))
    assert fixed.suv_factor == pytest.approx(4e-4, rel=1e-12)
    step = fixed.suv.history[-1]  # type: ignore[union-attr]
    assert step.parameters["overrides"] == {"weight_kg": 80.0}
    assert step.parameters["inputs_used"]["weight_kg"]["source"] == "override"


def test_overrides_replace_header_values(make_pet) -> None:  # type: ignore[no-untyped-def]
    series = read_series(make_pet()[0].parent)
    # dose 300 MBq at 08:00 (2 h = 2 half-lives): 75 MBq left; 60 kg -> 60000/7.5e7 = 8e-4
    ov = Overrides(
        weight_kg=60.0,
        injected_activity_bq=300e6,
        injection_time=dt.datetime(2026, 1, 5, 8, 0),  # naive: series zone (UTC)
    )
    res = compute_suv(series, overrides=ov)
    assert res.suv_factor == pytest.approx(8e-4, rel=1e-12)
    assert set(res.parameters["overrides"]) == {
        "weight_kg",
        "injected_activity_bq",
        "injection_time",
    }


def test_half_life_from_radionuclide_code(make_pet) -> None:  # type: ignore[no-untyped-def]
    def code(ds: Dataset) -> None:
        c = Dataset()
        c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = "C-111A1", "SRT", "^18^Fluorine"
        ds.RadiopharmaceuticalInformationSequence[0].RadionuclideCodeSequence = DicomSequence([c])

    res = _suv(make_pet(radio={"RadionuclideHalfLife": None}, hook=code))
    t_half = get_nuclide("F-18").half_life_s
    assert t_half == pytest.approx(109.77 * 60, abs=1.0)  # ICRP 107: 109.77 min
    assert res.suv_factor == pytest.approx(80000.0 / (4e8 * 2 ** (-3600 / t_half)), rel=1e-12)


@pytest.mark.parametrize(
    ("radio", "attrs", "pattern"),
    [
        ({"RadionuclideHalfLife": None}, {}, r"RadionuclideHalfLife \(0018,1075\).*--half-life-s"),
        ({"RadionuclideTotalDose": None}, {}, r"RadionuclideTotalDose \(0018,1074\).*--dose-mbq"),
        ({"RadiopharmaceuticalStartTime": None}, {}, r"\(0018,1072\).*--injection-time"),
        (
            {"RadiopharmaceuticalStartDateTime": "20260105110000"},
            {},
            r"negative decay interval.*--injection-time",
        ),
        ({}, {"DecayCorrection": None}, r"DecayCorrection \(0054,1102\).*--decay-correction"),
        ({}, {"CorrectedImage": ["ATTN"]}, r"CorrectedImage \(0028,0051\).*DECY"),
    ],
)
def test_missing_or_inconsistent_header(make_pet, radio, attrs, pattern) -> None:  # type: ignore[no-untyped-def]
    series = read_series(make_pet(radio=radio, attrs=attrs)[0].parent)
    with pytest.raises(DicomMetadataError, match=pattern):
        compute_suv(series)
    assert compute_suv(series, strictness="warn").warnings  # continues with a warning


def test_other_normalisations_from_bqml(make_pet) -> None:  # type: ignore[no-untyped-def]
    series = read_series(make_pet()[0].parent)  # 80 kg, 1.80 m, male; D(t_ref) = 2e8 Bq
    d_ref = 2e8
    lbm_janma_g = 1000 * 9270 * 80 / (6680 + 216 * 80 / 1.8**2)  # 61731.41 g
    lbm_james_g = 1000 * (1.10 * 80 - 128 * (80 / 180) ** 2)  # 62716.05 g
    bsa_cm2 = 1e4 * 0.007184 * 80**0.425 * 180**0.725  # 19955 cm^2
    ibw_g = 1000 * (48.0 + 1.06 * (180 - 152))  # 77680 g
    for norm, measure in (
        ("lbm", lbm_janma_g),
        ("lbm-james", lbm_james_g),
        ("bsa", bsa_cm2),
        ("ibw", ibw_g),
    ):
        res = compute_suv(series, norm)
        assert res.suv_factor == pytest.approx(measure / d_ref, rel=1e-12), norm
        np.testing.assert_allclose(res.suv.array, 5000 * measure / d_ref, rtol=1e-6)  # type: ignore[union-attr]
    assert compute_suv(series, "bsa").suv.unit == "cm2/mL"  # type: ignore[union-attr]


def test_lbm_needs_sex(make_pet) -> None:  # type: ignore[no-untyped-def]
    series = read_series(make_pet(attrs={"PatientSex": "O"})[0].parent)
    with pytest.raises(DicomMetadataError, match=r"PatientSex \(0010,0040\).*--sex"):
        compute_suv(series, "lbm")
    assert compute_suv(series, "lbm", overrides=Overrides(sex="M")).suv is not None


def test_gml_suv_types_converted(make_pet) -> None:  # type: ignore[no-untyped-def]
    # stored 200 x slope 0.01 = 2.0 SUV of the stored type
    stored = np.full((3, 4, 5), 200, np.int16)
    files = make_pet(stored, slopes=[0.01] * 3, attrs={"Units": "GML"})
    res = compute_suv(read_series(files[0].parent), "bw")
    np.testing.assert_allclose(res.suv.array, 2.0, rtol=1e-6)  # type: ignore[union-attr]
    assert res.suv_factor is None
    # SUVlbm(Janma) 2.0 -> SUVbw = 2.0 * W / LBM = 2.0 * 80000 / 61731.41 = 2.59187
    files = make_pet(
        stored, folder="janma", slopes=[0.01] * 3, attrs={"Units": "GML", "SUVType": "LBMJANMA"}
    )
    res = compute_suv(read_series(files[0].parent), "bw")
    lbm_g = 1000 * 9270 * 80 / (6680 + 216 * 80 / 1.8**2)
    np.testing.assert_allclose(res.suv.array, 2.0 * 80000 / lbm_g, rtol=1e-6)  # type: ignore[union-attr]
    # SUVType IBW -> SUVlbm (James 128): 2.0 * LBM_james / IBW
    files = make_pet(
        stored, folder="ibw", slopes=[0.01] * 3, attrs={"Units": "GML", "SUVType": "IBW"}
    )
    res = compute_suv(read_series(files[0].parent), "lbm-james")
    ratio = (1.10 * 80 - 128 * (80 / 180) ** 2) / (48.0 + 1.06 * 28)
    np.testing.assert_allclose(res.suv.array, 2.0 * ratio, rtol=1e-6)  # type: ignore[union-attr]


def test_cm2ml_to_bw(make_pet) -> None:  # type: ignore[no-untyped-def]
    stored = np.full((3, 4, 5), 200, np.int16)
    files = make_pet(stored, slopes=[0.01] * 3, attrs={"Units": "CM2ML"})
    res = compute_suv(read_series(files[0].parent), "bw")
    bsa_cm2 = 1e4 * 0.007184 * 80**0.425 * 180**0.725
    np.testing.assert_allclose(res.suv.array, 2.0 * 80000 / bsa_cm2, rtol=1e-6)  # type: ignore[union-attr]


def _philips(suv_scale: str | None, ac_scale: str | None):  # type: ignore[no-untyped-def]
    def hook(ds: Dataset) -> None:
        block = ds.private_block(0x7053, "Philips PET Private Group", create=True)
        if suv_scale is not None:
            block.add_new(0x00, "DS", suv_scale)
        if ac_scale is not None:
            block.add_new(0x09, "DS", ac_scale)

    return hook


def test_philips_cnts_activity_scale_factor(make_pet) -> None:  # type: ignore[no-untyped-def]
    # 2000 counts x (7053,1009) 2.5 = 5000 Bq/mL -> SUVbw 2.0
    stored = np.full((3, 4, 5), 2000, np.int16)
    files = make_pet(stored, attrs={"Units": "CNTS"}, hook=_philips("0.001", "2.5"))
    res = compute_suv(read_series(files[0].parent))
    np.testing.assert_allclose(res.activity.array, 5000.0, rtol=1e-6)  # type: ignore[union-attr]
    assert res.suv_factor == pytest.approx(4e-4, rel=1e-12)
    # vendor factor 0.001/2.5 = 4e-4 agrees with the header: no warning
    assert res.warnings == ()


def test_philips_cnts_suv_scale_factor_only(make_pet) -> None:  # type: ignore[no-untyped-def]
    # 2000 counts x (7053,1000) 0.001 = SUVbw 2.0
    stored = np.full((3, 4, 5), 2000, np.int16)
    files = make_pet(stored, attrs={"Units": "CNTS"}, hook=_philips("0.001", None))
    res = compute_suv(read_series(files[0].parent))
    np.testing.assert_allclose(res.suv.array, 2.0, rtol=1e-6)  # type: ignore[union-attr]


def test_cps_with_calibration_factor(make_pet) -> None:  # type: ignore[no-untyped-def]
    # 500 cps x 10 (Bq/mL)/cps = 5000 Bq/mL
    stored = np.full((3, 4, 5), 500, np.int16)
    files = make_pet(stored, attrs={"Units": "CPS", "DoseCalibrationFactor": "10"})
    res = compute_suv(read_series(files[0].parent))
    np.testing.assert_allclose(res.suv.array, 2.0, rtol=1e-6)  # type: ignore[union-attr]
    nocal = read_series(make_pet(stored, folder="nocal", attrs={"Units": "CPS"})[0].parent)
    with pytest.raises(DicomMetadataError, match=r"\(0054,1322\).*--calibration-bqml-per-cps"):
        compute_suv(nocal)
    ok = compute_suv(nocal, overrides=Overrides(calibration_bqml_per_cps=10.0))
    assert ok.suv_factor == pytest.approx(4e-4, rel=1e-12)


def test_activity_concentration_api(make_pet) -> None:  # type: ignore[no-untyped-def]
    act = activity_concentration(read_series(make_pet()[0].parent))
    assert act.volume.unit == "Bq/mL" and act.decay_correction == "START"
    assert act.volume.reference_time == act.reference_time


def test_overrides_validate() -> None:
    from sstrkit.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="weight_kg"):
        Overrides(weight_kg=-1.0)
