"""Lung shunt fraction, T/N and automatic VOIs on synthetic images with known contents.

Reference values are the synthetic images' own contents (activity put in by the test):
LSF = GM_lung / (GM_lung + GM_liver) with GM = √(ANT·POST) (Kennedy et al. 2007; the
conjugate view of MIRD Pamphlet 16) and, for SPECT, activity in lungs / (lungs + liver);
T/N = mean tumour / mean normal-liver concentration (Ho et al. 1996). Without blur or
noise the exact answer is expected (1e-12 relative: sums of a few thousand floats);
the automatic planar ROIs are a heuristic checked to 0.5 percentage point on a smoothed
image (a camera's blur moves counts across every ROI edge).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.io.planar import PlanarWholeBody
from sstrkit.sirt.plan_shunt import (
    lung_shunt_planar,
    lung_shunt_planar_counts,
    lung_shunt_spect,
    planar_rois,
)
from sstrkit.sirt.plan_uptake import mass_g, threshold_tumours, tumour_to_normal

UTC = dt.UTC
INJ = dt.datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def test_planar_lsf_from_counts_is_exact() -> None:
    s = lung_shunt_planar_counts(
        lung_anterior=4000.0, lung_posterior=9000.0, liver_anterior=90000.0, liver_posterior=40000.0
    )
    # by hand: GM lung √(3.6e7) = 6000, GM liver √(3.6e9) = 60000 → 6000/66000
    assert s.lung == pytest.approx(6000.0, rel=1e-12)
    assert s.liver == pytest.approx(60000.0, rel=1e-12)
    assert s.fraction == pytest.approx(1.0 / 11.0, rel=1e-12)
    assert s.method == "planar_geometric_mean" and s.unit == "counts"
    with pytest.raises(InvalidInputError, match="liver"):
        lung_shunt_planar_counts(
            lung_anterior=1.0, lung_posterior=1.0, liver_anterior=0.0, liver_posterior=0.0
        )
    with pytest.raises(InvalidInputError):
        lung_shunt_planar_counts(
            lung_anterior=-1.0, lung_posterior=1.0, liver_anterior=1.0, liver_posterior=1.0
        )


def _chest(
    lung_level: float,
    liver_level: float,
    *,
    blur_mm: float = 0.0,
    background: float = 0.0,
    seed: int | None = None,
) -> tuple[PlanarWholeBody, NDArray[np.bool_], NDArray[np.bool_]]:
    """A 4 mm-pixel ANT/POST pair: two lungs above a liver (with a hot tumour) in a trunk of
    ``background`` counts; posterior = anterior × 1.5; Poisson noise with a ``seed``."""
    rows, cols = 160, 120
    yy, xx = np.indices((rows, cols))
    lung_r = ((yy - 45) / 28.0) ** 2 + ((xx - 35) / 14.0) ** 2 <= 1
    lung_l = ((yy - 45) / 28.0) ** 2 + ((xx - 85) / 14.0) ** 2 <= 1
    lungs = lung_r | lung_l
    liver = ((yy - 100) / 16.0) ** 2 + ((xx - 50) / 30.0) ** 2 <= 1
    ant = np.zeros((rows, cols))
    ant[(np.abs(xx - 60) <= 50) & (yy >= 5)] = background
    ant[lungs] = lung_level
    ant[liver] = liver_level
    ant[(yy - 98) ** 2 + (xx - 40) ** 2 <= 16] = 4 * liver_level  # a hot tumour
    if blur_mm:
        ant = ndimage.gaussian_filter(ant, blur_mm / 2.3548 / 4.0)
    post = ant[:, ::-1] * 1.5  # the posterior view is stored mirrored
    if seed is not None:
        rng = np.random.default_rng(seed)
        ant, post = rng.poisson(ant).astype(float), rng.poisson(post).astype(float)
    planar = PlanarWholeBody(
        ant.astype(np.float32),
        post.astype(np.float32),
        (4.0, 4.0),
        600.0,
        None,
        None,
        "Tc-99m",
        "99mTc-MAA",
        150e6,
        INJ,
        INJ + dt.timedelta(hours=1),
    )
    return planar, lungs, liver


def test_planar_lsf_from_rois_is_exact() -> None:
    planar, lungs, liver = _chest(20.0, 400.0)
    s = lung_shunt_planar(planar, lung_roi=lungs, liver_roi=liver)
    ant = planar.anterior.astype(np.float64)
    gm_lung = math.sqrt(ant[lungs].sum() * 1.5 * ant[lungs].sum())
    gm_liver = math.sqrt(ant[liver].sum() * 1.5 * ant[liver].sum())
    assert s.fraction == pytest.approx(gm_lung / (gm_lung + gm_liver), rel=1e-6)  # float32 views
    with pytest.raises(InvalidInputError, match="overlap"):
        lung_shunt_planar(planar, lung_roi=lungs | liver, liver_roi=liver)
    with pytest.raises(GeometryMismatchError):
        lung_shunt_planar(planar, lung_roi=lungs[:10], liver_roi=liver)
    with pytest.raises(InvalidInputError, match="empty"):
        lung_shunt_planar(planar, lung_roi=np.zeros_like(lungs), liver_roi=liver)


@pytest.mark.parametrize(
    ("lung_level", "background", "seed"),
    [(6.0, 0.0, None), (12.0, 0.0, None), (30.0, 0.0, None), (12.0, 3.0, 1), (30.0, 3.0, 2)],
)
def test_automatic_planar_rois_recover_the_lsf(
    lung_level: float, background: float, seed: int | None
) -> None:
    planar, lungs, liver = _chest(lung_level, 400.0, blur_mm=9.0, background=background, seed=seed)
    rois = planar_rois(planar)
    assert not (rois.lung & rois.liver).any()
    assert rois.liver[liver].mean() > 0.99  # the whole liver inside its ROI
    assert rois.lung[lungs].mean() > 0.8  # most of the lungs (the liver margin is left out)
    auto = lung_shunt_planar(planar, lung_roi=rois.lung, liver_roi=rois.liver).fraction
    # truth: the counts put in the lungs and the liver (before blur, noise, background)
    raw, _, _ = _chest(lung_level, 400.0)
    a = raw.anterior.astype(np.float64)
    truth = a[lungs].sum() / (a[lungs].sum() + a[liver].sum())
    # 0.5 pp: blur moves counts across the ROI edges, trunk background falls in the lung ROI
    assert auto == pytest.approx(truth, abs=0.005)
    assert any("automatically" in f for f in rois.flags)


def _spect_phantom(
    *, lung_c: float, liver_c: float, base_c: float | None = None, top_lung_slice: int = 2
) -> tuple[Volume, NDArray[np.bool_], NDArray[np.bool_]]:
    """5 mm voxels: a liver box under two lung boxes (z = 0 is the head end)."""
    arr = np.zeros((40, 30, 30))
    lungs = np.zeros(arr.shape, bool)
    lungs[top_lung_slice:20, 5:25, 3:13] = True
    lungs[top_lung_slice:20, 5:25, 17:27] = True
    liver = np.zeros(arr.shape, bool)
    liver[20:32, 5:25, 3:27] = True
    arr[lungs] = lung_c
    arr[liver] = liver_c
    if base_c is not None:  # hot lung bases next to the liver dome (breathing)
        arr[17:20][lungs[17:20]] = base_c
    vol = Volume.from_array(arr, spacing=(5.0, 5.0, 5.0), modality="NM", unit="Bq/mL")
    return vol, lungs, liver


def test_spect_lsf_is_exact_for_uniform_lungs() -> None:
    spect, lungs, liver = _spect_phantom(lung_c=300.0, liver_c=6000.0)
    s = lung_shunt_spect(spect, lungs=lungs, liver=liver, lung_margin_mm=20.0)
    a_lung = 300.0 * lungs.sum() * 0.125  # Bq: concentration × voxels × 0.125 mL
    a_liver = 6000.0 * liver.sum() * 0.125
    assert s.unit == "Bq"
    assert s.lung == pytest.approx(a_lung, rel=1e-12)
    assert s.liver == pytest.approx(a_liver, rel=1e-12)
    assert s.fraction == pytest.approx(a_lung / (a_lung + a_liver), rel=1e-12)
    assert s.flags == ()


def test_spect_lsf_reads_the_lung_core_and_flags_breathing_and_truncation() -> None:
    spect, lungs, liver = _spect_phantom(
        lung_c=300.0, liver_c=6000.0, base_c=3000.0, top_lung_slice=0
    )
    s = lung_shunt_spect(spect, lungs=lungs, liver=liver, lung_margin_mm=20.0)
    a_lung = 300.0 * lungs.sum() * 0.125  # the hot bases are not read
    a_liver = 6000.0 * liver.sum() * 0.125
    assert s.fraction == pytest.approx(a_lung / (a_lung + a_liver), rel=1e-12)
    assert any("respiratory" in f for f in s.flags)
    assert any("field of view" in f for f in s.flags)
    # with a margin of 0 the hot bases are read and the LSF is higher (the test can fail)
    s0 = lung_shunt_spect(spect, lungs=lungs, liver=liver, lung_margin_mm=0.0)
    assert s0.fraction > s.fraction


def test_spect_lsf_errors() -> None:
    spect, lungs, liver = _spect_phantom(lung_c=300.0, liver_c=6000.0)
    with pytest.raises(GeometryMismatchError):
        lung_shunt_spect(spect, lungs=lungs[:-1], liver=liver)
    with pytest.raises(InvalidInputError, match="empty"):
        lung_shunt_spect(spect, lungs=np.zeros_like(lungs), liver=liver)


def test_tumour_to_normal_whole_and_per_lesion() -> None:
    arr = np.full((20, 20, 20), 100.0)
    liver = np.ones(arr.shape, bool)
    t1 = np.zeros(arr.shape, bool)
    t1[2:5, 2:5, 2:5] = True  # 27 voxels at 600
    t2 = np.zeros(arr.shape, bool)
    t2[10:12, 10:12, 10:12] = True  # 8 voxels at 250
    arr[t1], arr[t2] = 600.0, 250.0
    spect = Volume.from_array(arr, spacing=(4.0, 4.0, 4.0), unit="Bq/mL")
    tn = tumour_to_normal(spect, tumours={"lesion_1": t1, "lesion_2": t2}, liver=liver)
    # by hand: whole tumour mean (27·600 + 8·250)/35 = 520, normal liver 100
    assert tn.ratio == pytest.approx(520.0 / 100.0, rel=1e-12)
    assert [round(le.tumour_to_normal, 12) for le in tn.lesions] == [6.0, 2.5]
    assert tn.lesions[0].volume_ml == pytest.approx(27 * 0.064, rel=1e-12)
    assert tn.normal_liver_volume_ml == pytest.approx((8000 - 35) * 0.064, rel=1e-12)
    with pytest.raises(InvalidInputError):
        tumour_to_normal(spect, tumours={}, liver=liver)
    with pytest.raises(InvalidInputError, match="normal liver"):
        tumour_to_normal(spect, tumours={"t": liver}, liver=liver)


def test_threshold_tumours_finds_the_hot_lesions() -> None:
    arr = np.full((30, 30, 30), 100.0)
    liver = np.zeros(arr.shape, bool)
    liver[3:27, 3:27, 3:27] = True
    arr[~liver] = 0.0
    zz, yy, xx = np.indices(arr.shape)
    big = (zz - 10) ** 2 + (yy - 10) ** 2 + (xx - 10) ** 2 <= 9
    small = (zz - 20) ** 2 + (yy - 20) ** 2 + (xx - 20) ** 2 <= 4
    arr[big], arr[small] = 500.0, 300.0
    arr[5, 20, 5] = 900.0  # one hot voxel: below 1 mL (0.125 mL), not a lesion
    spect = Volume.from_array(arr, spacing=(5.0, 5.0, 5.0), unit="Bq/mL")
    seg = threshold_tumours(spect, liver, factor=2.0, min_volume_ml=1.0)
    assert seg.reference == 100.0 and seg.threshold == 200.0
    assert list(seg.masks) == ["lesion_1", "lesion_2"]  # by summed activity
    assert (seg.masks["lesion_1"] == big).all() and (seg.masks["lesion_2"] == small).all()
    with pytest.raises(InvalidInputError, match="factor"):
        threshold_tumours(spect, liver, factor=1.0)


def test_mass_from_density_map_or_reference() -> None:
    m = np.zeros((2, 2, 2), bool)
    m[0] = True
    rho = np.full(m.shape, 0.25)
    assert mass_g(m, 2.0, density_g_ml=rho)[0] == pytest.approx(4 * 2.0 * 0.25)
    assert mass_g(m, 2.0, reference_density_g_ml=1.05)[0] == pytest.approx(4 * 2.0 * 1.05)


def test_lungs_from_ct_keeps_lungs_cut_by_the_field_of_view() -> None:
    from sstrkit.sirt.plan_vois import lungs_from_ct

    # a chest cut by the field of view: the body (40 HU) and both lungs (−820 HU) reach the
    # array's edge; outside air −1000 HU with a one-voxel partial-volume skin (−500 HU)
    hu = np.full((20, 40, 40), -1000.0)
    hu[:, 5:40, 5:35] = -500.0
    hu[:, 6:40, 6:34] = 40.0
    lungs = np.zeros(hu.shape, bool)
    lungs[0:15, 10:40, 8:18] = True
    lungs[0:15, 10:40, 22:32] = True
    hu[lungs] = -820.0
    hu[5, 20, 12] = 30.0  # a vessel inside the lung: filled
    hu[12:18, 12:16, 24:28] = -1000.0  # an air pocket (bulla) enclosed by the lung: filled
    ct = Volume.from_array(hu, spacing=(5.0, 5.0, 5.0), unit="HU", modality="CT")
    got = lungs_from_ct(ct)
    expected = lungs  # the lungs put in
    dice = 2 * (got & expected).sum() / (got.sum() + expected.sum())
    assert dice > 0.98  # edge voxels of the opened regions may differ (a few per mille)
    assert not got[:, :, :5].any()  # neither outside air nor the skin shell


def test_measure_without_visible_lungs_flags_the_planar_lsf() -> None:
    from sstrkit.sirt.plan_inputs import MaaInputs, measure_maa

    planar, _, _ = _chest(0.0, 400.0)  # no lung counts at all
    f = measure_maa(MaaInputs(planar=planar))
    assert f.lsf_planar is None
    assert any("no planar lung shunt fraction" in x for x in f.flags)
    with pytest.raises(InvalidInputError, match="planar ANT/POST study or a SPECT"):
        measure_maa(MaaInputs())
