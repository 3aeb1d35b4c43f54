"""%ID/mL and %ID/g with decay correction to injection: hand-computed cases, regions, ratios."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError, UnitError
from sstrkit.physics.nuclides import get_nuclide
from sstrkit.preclinical.quantify import (
    Injection,
    RegionMask,
    label_region,
    percent_id_image,
    quantify,
    ratio_change,
    sphere_region,
    threshold_region,
)

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
GA68 = get_nuclide("Ga-68").half_life_s  # 67.71 min (ICRP 107)
IN111 = get_nuclide("In-111").half_life_s  # 2.8047 d = 67.3128 h (ICRP 107)


def _image(values: np.ndarray, t_ref: dt.datetime | None, unit: str = "Bq/mL") -> Volume:
    return Volume.from_array(
        values,
        spacing=(0.5, 0.5, 0.5),
        unit=unit,
        quantity="activity_concentration",
        reference_time=t_ref,
        name="pet",
    )


def test_ga68_two_half_lives_hand_computed() -> None:
    # Hand calculation. Image decay corrected to 2 half-lives after the injection,
    # C = 25 kBq/mL everywhere. At the injection C·2² = 100 kBq/mL.
    # Injected 5 MBq → %ID/mL = 100 × 1e5 / 5e6 = 2.0; with ρ = 1.04 g/mL, %ID/g = 1.923077.
    # Region of 8 voxels of 0.5³ mm³ = 1.25e-4 mL → 1e-3 mL → total %ID = 2.0 × 1e-3 = 2e-3.
    img = _image(np.full((4, 4, 4), 25e3), T0 + dt.timedelta(seconds=2 * GA68))
    mask = np.zeros((4, 4, 4), bool)
    mask[:2, :2, :2] = True
    q = quantify(
        img,
        Injection(5e6, T0, GA68, "Ga-68"),
        [RegionMask.from_array("tumour", mask)],
        density_g_ml=1.04,
    )
    r = q["tumour"]
    assert q.decay_correction_factor == pytest.approx(4.0, rel=1e-12)
    assert r.mean_pct_id_per_ml == pytest.approx(2.0, rel=1e-12)
    assert r.mean_pct_id_per_g == pytest.approx(2.0 / 1.04, rel=1e-12)
    assert r.volume_ml == pytest.approx(1e-3, rel=1e-12)
    assert r.total_pct_id == pytest.approx(2e-3, rel=1e-12)
    # not decay corrected to injection: activity in the region at the reference time
    assert r.total_bq == pytest.approx(25e3 * 1e-3, rel=1e-12)


def test_in111_90_minutes_and_unit_conversion_hand_computed() -> None:
    # 111In, image 90 min after injection, 12 kBq/mL stored in kBq/mL (value 12.0).
    # Decay factor to injection e^(λt) = 2^(1.5 h / 67.3128 h) = 1.015567...
    # %ID/mL = 100 × 12e3 × 2^(1.5/67.3128) / 20e6.
    factor = 2.0 ** (1.5 / 67.3128)
    expected = 100.0 * 12e3 * factor / 20e6
    img = _image(np.full((3, 3, 3), 12.0), T0 + dt.timedelta(minutes=90), unit="kBq/mL")
    q = quantify(
        img, Injection(20e6, T0, IN111), [RegionMask.from_array("all", np.ones((3, 3, 3), bool))]
    )
    assert q.time_since_injection_s == 5400.0
    assert q["all"].mean_pct_id_per_ml == pytest.approx(expected, rel=1e-9)
    pct = percent_id_image(img, Injection(20e6, T0, IN111))
    assert pct.unit == "%ID/mL"
    np.testing.assert_allclose(pct.array, expected, rtol=1e-9)


def test_time_zones_do_not_shift_the_decay_correction() -> None:
    # Injection written in UTC (08:00Z), image time in +01:00 (09:00+01:00 + one half-life):
    # the elapsed time is exactly one Ga-68 half-life, so the factor to injection is 2.
    inj_utc = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    img = _image(np.full((2, 2, 2), 1e4), T0 + dt.timedelta(seconds=GA68))
    q = quantify(
        img, Injection(1e6, inj_utc, GA68), [RegionMask.from_array("a", np.ones((2, 2, 2)))]
    )
    assert q.time_since_injection_s == pytest.approx(GA68)
    assert q["a"].mean_pct_id_per_ml == pytest.approx(100 * 1e4 * 2 / 1e6, rel=1e-12)


def test_syringe_net_activity_hand_computed() -> None:
    # Lu-177: full syringe 30 MBq one half-life before the injection (→ 15 MBq at injection);
    # residual 2 MBq measured one half-life after (→ 4 MBq at injection); net 11 MBq.
    lu = get_nuclide("Lu-177").half_life_s
    inj = Injection.from_syringe(
        full_bq=30e6,
        full_time=T0 - dt.timedelta(seconds=lu),
        residual_bq=2e6,
        residual_time=T0 + dt.timedelta(seconds=lu),
        injection_time=T0,
        half_life=lu,
    )
    assert inj.activity_bq == pytest.approx(11e6, rel=1e-12)
    with pytest.raises(InvalidInputError, match="net injected activity"):
        Injection.from_syringe(
            full_bq=1e6,
            full_time=T0,
            residual_bq=2e6,
            residual_time=T0,
            injection_time=T0,
            half_life=lu,
        )


def test_regions_sphere_label_threshold() -> None:
    img = _image(np.zeros((11, 11, 11)), T0)
    img1 = Volume.from_array(np.zeros((11, 11, 11)), spacing=(1.0, 1.0, 1.0))
    # voxel centres within r of the centre on a 1 mm grid: r = 1 → 7; r = √2 → 7 + 12 = 19;
    # r = √3 → 19 + 8 = 27 (a full 3×3×3 cube).
    for r, n in ((1.0, 7), (math.sqrt(2) + 1e-9, 19), (math.sqrt(3) + 1e-9, 27)):
        assert int(sphere_region("s", img1, (5, 5, 5), r).mask.sum()) == n
    arr = np.zeros((11, 11, 11), np.int16)
    arr[2:4, 2:4, 2:4] = 3
    labels = img.with_array(arr, operation="labels", unit="1", quantity="labels")
    assert int(label_region("muscle", labels, 3, img).mask.sum()) == 8
    with pytest.raises(InvalidInputError, match="label 5"):
        label_region("x", labels, 5, img)
    other = Volume.from_array(arr, spacing=(1.0, 1.0, 1.0))
    with pytest.raises(GeometryMismatchError):
        label_region("x", other, 3, img)
    with pytest.raises(InvalidInputError, match="sphere"):
        sphere_region("far", img1, (100.0, 100.0, 100.0), 1.0)
    # 40 % threshold inside a search box, connected to the maximum
    vals = np.zeros((11, 11, 11))
    vals[5, 5, 5], vals[5, 5, 6], vals[5, 5, 9] = 10.0, 5.0, 4.5  # 9 is not connected
    v = Volume.from_array(vals)
    box = RegionMask.from_array("box", np.ones((11, 11, 11), bool))
    assert int(threshold_region("t", v, fraction_of_max=0.4, within=box).mask.sum()) == 2
    assert int(threshold_region("t", v, fraction_of_max=0.4, connected=False).mask.sum()) == 3
    assert int(threshold_region("t", v, absolute=4.6).mask.sum()) == 2


def test_ratios_and_ratio_change_hand_computed() -> None:
    # Tumour 8 kBq/mL, muscle 2 kBq/mL at 1 h (ratio 4); at 4 h tumour 6, muscle 1 (ratio 6):
    # change +2, relative +50 %, per hour 2 / 3 h.
    def q(t_h: float, tumour: float, muscle: float) -> object:
        a = np.full((2, 2, 4), muscle)
        a[:, :, :2] = tumour
        m = np.zeros((2, 2, 4), bool)
        m[:, :, :2] = True
        img = _image(a, T0 + dt.timedelta(hours=t_h))
        return quantify(
            img,
            Injection(1e6, T0, IN111),
            [RegionMask.from_array("tumour", m), RegionMask.from_array("muscle", ~m)],
        )

    early, late = q(1.0, 8e3, 2e3), q(4.0, 6e3, 1e3)
    assert early.ratio("tumour", "muscle") == pytest.approx(4.0, rel=1e-12)
    rc = ratio_change(early, late, "tumour", "muscle")
    assert (rc.early_ratio, rc.late_ratio) == pytest.approx((4.0, 6.0), rel=1e-12)
    assert rc.change == pytest.approx(2.0, rel=1e-12)
    assert rc.relative_change == pytest.approx(0.5, rel=1e-12)
    assert rc.change_per_hour == pytest.approx(2.0 / 3.0, rel=1e-12)
    with pytest.raises(InvalidInputError, match="acquisition order"):
        ratio_change(late, early, "tumour", "muscle")


def test_bad_inputs_raise_typed_errors() -> None:
    img = _image(np.ones((2, 2, 2)), T0 + dt.timedelta(hours=1))
    reg = [RegionMask.from_array("a", np.ones((2, 2, 2)))]
    with pytest.raises(InvalidInputError, match=r"injection time: expected .* got missing"):
        quantify(img, Injection(1e6, None, GA68), reg)
    with pytest.raises(InvalidInputError, match=r"reference .* time of image"):
        quantify(_image(np.ones((2, 2, 2)), None), Injection(1e6, T0, GA68), reg)
    with pytest.raises(InvalidInputError, match="after the injection"):
        quantify(img, Injection(1e6, T0 + dt.timedelta(hours=2), GA68), reg)
    suv = img.with_metadata(quantity="suv_bw", unit="g/mL")
    with pytest.raises(UnitError, match="activity_concentration"):
        quantify(suv, Injection(1e6, T0, GA68), reg)
    with pytest.raises(InvalidInputError, match="injected activity"):
        Injection(0.0, T0, GA68)
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        Injection(1e6, dt.datetime(2026, 1, 1, 9, 0), GA68)
    with pytest.raises(InvalidInputError, match="empty mask"):
        RegionMask.from_array("e", np.zeros((2, 2, 2)))
    with pytest.raises(GeometryMismatchError):
        quantify(img, Injection(1e6, T0, GA68), [RegionMask.from_array("b", np.ones((3, 3, 3)))])
    with pytest.raises(InvalidInputError, match="unique"):
        quantify(img, Injection(1e6, T0, GA68), reg + reg)
    with pytest.raises(InvalidInputError, match="density"):
        quantify(img, Injection(1e6, T0, GA68), reg, density_g_ml=0.0)


def test_nifti_round_trip_gives_the_same_uptake(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Integration with the io helper: the sidecar carries the unit and reference time.
    from sstrkit.io.nifti import read_nifti, write_nifti

    img = _image(np.full((3, 3, 3), 5e4, dtype=np.float32), T0 + dt.timedelta(seconds=GA68))
    back = read_nifti(write_nifti(img, tmp_path / "pet.nii.gz"))
    reg = [RegionMask.from_array("all", np.ones((3, 3, 3)))]
    inj = Injection(10e6, T0, GA68)
    assert quantify(back, inj, reg)["all"].mean_pct_id_per_ml == pytest.approx(1.0, rel=1e-6)
