"""SUV vendor variants, each against its formula computed by hand.

Formulas: QIBA FDG-PET/CT profile v1.13, Appendix G (Philips CNTS: SUVbw =
CNTS × (7053,1000); without it (7053,1009) × RescaleSlope gives Bq/mL), DICOM
PS3.16 CID 85 (SUVType), and the variant list of the digital reference objects
of the SUV computation manual (Vácha et al., OncoRay / IBSI: GML LBM/IBW/JANMA
with PatientSex M, F and O; CNTS with the Philips SUV or activity scale factor).

Synthetic PET (tests/io/conftest.py): 80 kg, 1.80 m, 400 MBq one half-life
(3600 s) before the scan → D(t_ref) = 2e8 Bq, SUVbw factor 80 000 / 2e8 = 4e-4.
Body measures for W = 80 kg, H = 180 cm (W/H)² = 0.1975309:
  LBM James 120 (DICOM "LBM"): M 1.10·80 − 120·0.1975309 = 64.29630 kg,
                               F 1.07·80 − 148·0.1975309 = 56.36543 kg
  LBM James 128:               M 1.10·80 − 128·0.1975309 = 62.71605 kg (F as above)
  LBM Janmahasatian (BMI 24.69136): M 9270·80/(6680 + 216·BMI) = 61.73141 kg,
                                    F 9270·80/(8780 + 244·BMI) = 50.09223 kg
  IBW: M 48.0 + 1.06·(180 − 152) = 77.68 kg, F 45.5 + 0.91·28 = 70.98 kg
"""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from sstrkit.errors import DicomMetadataError, InvalidInputError
from sstrkit.io.dicom_read import read_series
from sstrkit.io.suv import Overrides, compute_suv

W, H = 80.0, 180.0
R = (W / H) ** 2
LBM120 = {"M": 1.10 * W - 120 * R, "F": 1.07 * W - 148 * R}
LBM128 = {"M": 1.10 * W - 128 * R, "F": 1.07 * W - 148 * R}
BMI = W / (H / 100) ** 2
JANMA = {"M": 9270 * W / (6680 + 216 * BMI), "F": 9270 * W / (8780 + 244 * BMI)}
IBW = {"M": 48.0 + 1.06 * (H - 152), "F": 45.5 + 0.91 * (H - 152)}
STORED = 2.0  # stored 200 × RescaleSlope 0.01


def test_hand_values_of_the_body_measures() -> None:
    assert LBM120["M"] == pytest.approx(64.29630, abs=1e-5)
    assert LBM120["F"] == pytest.approx(56.36543, abs=1e-5)
    assert LBM128["M"] == pytest.approx(62.71605, abs=1e-5)
    assert JANMA["M"] == pytest.approx(61.73141, abs=1e-5)
    assert JANMA["F"] == pytest.approx(50.09223, abs=1e-5)
    assert (IBW["M"], IBW["F"]) == pytest.approx((77.68, 70.98))


def _gml(make_pet, suv_type: str, sex: str, folder: str):  # type: ignore[no-untyped-def]
    stored = np.full((3, 4, 5), 200, np.int16)
    files = make_pet(
        stored,
        folder=folder,
        slopes=[0.01] * 3,
        attrs={"Units": "GML", "SUVType": suv_type, "PatientSex": sex},
    )
    return read_series(files[0].parent)


@pytest.mark.parametrize(
    ("suv_type", "measure"),
    [("LBM", LBM120), ("LBMJAMES128", LBM128), ("LBMJANMA", JANMA), ("IBW", IBW)],
)
def test_gml_sex_specific_type_with_sex_o_uses_the_mean_factor(make_pet, suv_type, measure) -> None:  # type: ignore[no-untyped-def]
    # SUVbw = SUV_stored × W / M_sex; sex unknown ("O"): the mean of the two factors
    # SUVbw = 2.0 × ½ (W / M_M + W / M_F)
    expected = STORED * 0.5 * (W / measure["M"] + W / measure["F"])
    res = compute_suv(_gml(make_pet, suv_type, "O", suv_type), "bw")
    assert res.suv is not None
    np.testing.assert_allclose(res.suv.array, expected, rtol=1e-6)
    assert res.parameters["sex_assumption"].startswith("PatientSex O: mean")
    by_sex = res.parameters["renormalisation_ratio_by_sex"]
    assert by_sex == pytest.approx({"M": W / measure["M"], "F": W / measure["F"]}, rel=1e-12)
    assert any("'O' (other)" in w and "mean of the male" in w for w in res.warnings)


def test_gml_ibw_sex_o_to_lbm_james_mean_of_ratios(make_pet) -> None:  # type: ignore[no-untyped-def]
    # SUVlbm-james = SUVibw × LBM128_sex / IBW_sex, averaged over M and F
    expected = STORED * 0.5 * (LBM128["M"] / IBW["M"] + LBM128["F"] / IBW["F"])
    res = compute_suv(_gml(make_pet, "IBW", "O", "ibw"), "lbm-james")
    np.testing.assert_allclose(res.suv.array, expected, rtol=1e-6)  # type: ignore[union-attr]


def test_gml_sex_o_with_a_sex_override_uses_that_sex(make_pet) -> None:  # type: ignore[no-untyped-def]
    # SUVbw = 2.0 × W / LBM120_F
    series = _gml(make_pet, "LBM", "O", "ov")
    res = compute_suv(series, "bw", overrides=Overrides(sex="F"))
    np.testing.assert_allclose(res.suv.array, STORED * W / LBM120["F"], rtol=1e-6)  # type: ignore[union-attr]
    assert "sex_assumption" not in res.parameters


def test_gml_bw_to_lbm_with_sex_o_reports_the_value(make_pet) -> None:  # type: ignore[no-untyped-def]
    # the stored SUV does not depend on sex, the requested one does: the user must choose
    series = _gml(make_pet, "BW", "O", "bw")
    with pytest.raises(DicomMetadataError, match=r"PatientSex \(0010,0040\).*got 'O' \(other\)"):
        compute_suv(series, "lbm")


def test_bqml_lbm_with_sex_o_reports_the_value(make_pet) -> None:  # type: ignore[no-untyped-def]
    series = read_series(make_pet(attrs={"PatientSex": "O"})[0].parent)
    with pytest.raises(DicomMetadataError) as info:
        compute_suv(series, "lbm")
    msg = info.value.one_line()
    assert "expected M or F (needed for SUVlbm), got 'O' (other)" in msg
    assert "absent or zero" not in msg and "--sex" in msg


# ------------------------------------------------------------------ Philips CNTS
def _philips(suv_scale: str | None, ac_scale: str | None, creator: bool = True):  # type: ignore[no-untyped-def]
    def hook(ds: Dataset) -> None:
        if creator:
            block = ds.private_block(0x7053, "Philips PET Private Group", create=True)
            if suv_scale is not None:
                block.add_new(0x00, "DS", suv_scale)
            if ac_scale is not None:
                block.add_new(0x09, "DS", ac_scale)
            return
        # anonymised: the elements stay at their usual position (7053,1000)/(7053,1009)
        if suv_scale is not None:
            ds.add_new(0x70531000, "DS", suv_scale)
        if ac_scale is not None:
            ds.add_new(0x70531009, "DS", ac_scale)

    return hook


def _cnts(make_pet, hook, folder: str, **attrs: str):  # type: ignore[no-untyped-def]
    stored = np.full((3, 4, 5), 2000, np.int16)
    files = make_pet(stored, folder=folder, attrs={"Units": "CNTS", **attrs}, hook=hook)
    return read_series(files[0].parent)


def test_philips_suv_scale_factor_is_used_by_default(make_pet) -> None:  # type: ignore[no-untyped-def]
    # vendor SUVbw = CNTS × (7053,1000) = 2000 × 0.0011 = 2.2 (the header data give 2.0)
    # Bq/mL = CNTS × (7053,1009) = 2000 × 2.5 = 5000; SUV factor = 0.0011 / 2.5 = 4.4e-4
    series = _cnts(make_pet, _philips("0.0011", "2.5"), "both")
    res = compute_suv(series)
    np.testing.assert_allclose(res.suv.array, 2000 * 0.0011, rtol=1e-6)  # type: ignore[union-attr]
    np.testing.assert_allclose(res.activity.array, 5000.0, rtol=1e-6)  # type: ignore[union-attr]
    assert res.suv_factor == pytest.approx(0.0011 / 2.5, rel=1e-12)
    assert res.parameters["suv_source"] == "Philips SUV scale factor (7053,xx00)"
    assert any("4.4e-04" in w or "0.00044" in w for w in res.warnings)
    assert any("the vendor factor is used" in w and "0.0004 " in w for w in res.warnings)
    # asked not to: QIBA from Bq/mL and the header (80 000 / 2e8 = 4e-4, SUV 2.0)
    own = compute_suv(series, vendor_suv_factor=False)
    assert own.suv_factor == pytest.approx(4e-4, rel=1e-12)
    np.testing.assert_allclose(own.suv.array, 2.0, rtol=1e-6)  # type: ignore[union-attr]
    assert any("the latter is used" in w for w in own.warnings)


def test_philips_suv_scale_factor_other_normalisation(make_pet) -> None:  # type: ignore[no-untyped-def]
    # SUVlbm(Janma) = CNTS × (7053,1000) × LBM_M / W = 2000 × 0.001 × 61.73141 / 80
    series = _cnts(make_pet, _philips("0.001", None), "lbm")
    res = compute_suv(series, "lbm")
    np.testing.assert_allclose(res.suv.array, 2.0 * JANMA["M"] / W, rtol=1e-6)  # type: ignore[union-attr]
    assert res.suv_factor is None and res.activity is None
    assert any("only the Philips SUV scale factor" in w for w in res.warnings)


def test_philips_decay_correction_none_derives_from_bqml(make_pet) -> None:  # type: ignore[no-untyped-def]
    # DecayCorrection NONE needs per-slice decay factors: the single vendor factor is not used.
    # One frame of 600 s at the scan start: SUV = 5000 × x/(1 − e^−x) × 4e-4, x = ln2·600/3600
    series = _cnts(
        make_pet,
        _philips("0.0011", "2.5"),
        "none",
        DecayCorrection="NONE",
        ActualFrameDuration="600000",
    )
    x = np.log(2) * 600 / 3600
    res = compute_suv(series)
    np.testing.assert_allclose(  # type: ignore[union-attr]
        res.suv.array, 5000 * x / (1 - np.exp(-x)) * 4e-4, rtol=1e-6
    )


def test_philips_factors_without_private_creator(make_pet) -> None:  # type: ignore[no-untyped-def]
    # read by position (7053,1000) / (7053,1009): SUVbw = 2000 × 0.001 = 2.0, Bq/mL 5000
    series = _cnts(make_pet, _philips("0.001", "2.5", creator=False), "anon")
    assert (0x7053, 0x0010) not in series.header
    res = compute_suv(series)
    np.testing.assert_allclose(res.suv.array, 2.0, rtol=1e-6)  # type: ignore[union-attr]
    np.testing.assert_allclose(res.activity.array, 5000.0, rtol=1e-6)  # type: ignore[union-attr]
    assert res.suv_factor == pytest.approx(4e-4, rel=1e-12)
    assert sum("read by tag position" in w for w in res.warnings) == 2


def test_philips_factor_as_raw_bytes_without_creator(make_pet) -> None:  # type: ignore[no-untyped-def]
    # implicit-VR files keep private elements as UN bytes: "0.001 " (DS text) is read as 0.001
    series = _cnts(make_pet, None, "un")
    series.header.add(DataElement(0x70531000, "UN", b"0.001 "))
    res = compute_suv(series)
    np.testing.assert_allclose(res.suv.array, 2.0, rtol=1e-6)  # type: ignore[union-attr]
    assert any("(7053,1000) = 0.001 read by tag position" in w for w in res.warnings)


def test_philips_block_of_another_creator_is_not_read(make_pet) -> None:  # type: ignore[no-untyped-def]
    def other(ds: Dataset) -> None:
        ds.private_block(0x7053, "SOMEONE ELSE", create=True).add_new(0x00, "DS", "0.001")

    series = _cnts(make_pet, other, "other")
    with pytest.raises(DicomMetadataError, match=r"\(7053,xx09\).*absent"):
        compute_suv(series)


def test_philips_overrides_are_applied_not_ignored(make_pet) -> None:  # type: ignore[no-untyped-def]
    """The vendor factor was computed from the header's weight and dose: with --weight-kg 40
    the SUV comes from Bq/mL (2000 × 2.5 = 5000) and the given weight: factor 40 000 / 2e8
    = 2e-4 (hand calculation), not the vendor's 4.4e-4."""
    series = _cnts(make_pet, _philips("0.0011", "2.5"), "ovr")
    res = compute_suv(series, overrides=Overrides(weight_kg=40.0))
    assert res.suv_factor == pytest.approx(2e-4, rel=1e-12)
    np.testing.assert_allclose(res.suv.array, 5000 * 2e-4, rtol=1e-6)  # type: ignore[union-attr]
    only_suv = _cnts(make_pet, _philips("0.0011", None), "ovr_nobq")
    with pytest.raises(InvalidInputError, match=r"\(7053,xx09\)"):
        compute_suv(only_suv, overrides=Overrides(weight_kg=40.0))


def test_stored_suv_with_a_weight_override_is_rescaled(make_pet) -> None:  # type: ignore[no-untyped-def]
    """GML SUVbw stored with the header's 80 kg; the patient weighed 60 kg: SUVbw =
    2.0 × 60 / 80 = 1.5 (hand calculation), never the stored 2.0 unchanged."""
    series = _gml(make_pet, "BW", "M", "gml_w")
    res = compute_suv(series, "bw", overrides=Overrides(weight_kg=60.0))
    np.testing.assert_allclose(res.suv.array, 1.5, rtol=1e-6)  # type: ignore[union-attr]
    assert any("rescaled to the given values" in w for w in res.warnings)
