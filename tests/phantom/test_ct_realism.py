"""Realistic low-dose non-contrast CT of the digital patient (sstrkit.phantom.ct_tissues, ct_hu).

References: the cited HU table of ``parameters.toml`` ([ct.hu], [ct.texture_sd_hu],
``noise_hu``, ``noise_correlation_mm``), the truth label map, and statistics of the texture
field (a Gaussian-filtered white-noise field of filter σ_f has a correlation volume
V_c = (2·√π·σ_f)³, so the mean over a region of volume V scatters by σ·√(V_c/V) and the
sample SD by σ/√(2·V/V_c)). Coarse 4 mm truth voxels keep the tests fast; the CT grid is
the study's (truth voxel in-plane, twice the voxel as slice thickness).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.errors import InvalidInputError
from sstrkit.phantom.anatomy import LABELS, TISSUE, Anatomy, Grid, PatientSpec, build_anatomy
from sstrkit.phantom.ct_tissues import (
    STRUCTURE_TISSUE,
    STRUCTURES,
    TEXTURE_LEVELS,
    ct_tissue_map,
    structure_codes,
    structure_mask,
)
from sstrkit.phantom.parameters import parameters
from sstrkit.phantom.positioning import RigidMotion, move_anatomy, move_labels
from sstrkit.phantom.scanners import (
    box_resample,
    ct_fine_hu,
    ct_hu,
    ct_noise,
    fine_concentration,
    psf_kernel,
)
from sstrkit.phantom.study import _ct_grid

SEED = 7
CT = parameters()["ct"]
MUSCLES = (
    "body_wall_muscle",
    "paraspinal_muscle",
    "psoas_muscle",
    "quadratus_lumborum",
    "pelvic_muscle",
    "diaphragm",
)
GUT = ("bowel_wall", "bowel_content", "colon_content", "stomach_wall", "stomach_content")
ORGANS = {
    "liver": ("liver",),
    "spleen": ("spleen",),
    "kidney_left": ("kidney_left_cortex", "kidney_left_medulla"),
    "kidney_right": ("kidney_right_cortex", "kidney_right_medulla"),
}


def _patient(sex: str = "M", seed: int = SEED, layout: str = "sstrkit") -> Anatomy:
    model = build_anatomy(PatientSpec(sex, seed=seed), voxel_mm=4.0, layout=layout)
    return model.voxelise()


@pytest.fixture(scope="module")
def patient() -> tuple[Anatomy, NDArray[np.uint8]]:
    anatomy = _patient()
    return anatomy, ct_tissue_map(anatomy)


def _tissue_map(anatomy: Anatomy, ct_map: NDArray[np.uint8]) -> dict[str, NDArray[np.bool_]]:
    """Truth-grid mask of every CT tissue (labels' tissues, lesions: tumour, CT structures)."""
    lab = np.asarray(anatomy.labels.array)
    codes = structure_codes(ct_map)
    out: dict[str, NDArray[np.bool_]] = {}

    def add(tissue: str, mask: NDArray[np.bool_]) -> None:
        out[tissue] = out[tissue] | mask if tissue in out else mask

    for name, label in LABELS.items():
        if name != "body":
            add(TISSUE[name], lab == label)
    add("tumour", lab >= 100)
    for name, code in STRUCTURES.items():
        add(STRUCTURE_TISSUE[name], (lab == LABELS["body"]) & (codes == code))
    return out


def _v_c_ml() -> float:
    return (2.0 * math.sqrt(math.pi) * float(CT["texture_correlation_mm"])) ** 3 / 1000.0


# ------------------------------------------------------------------------- HU table
def test_tissue_means_and_spreads_on_the_truth_grid_follow_the_table(patient) -> None:
    # Every tissue (organs, muscles, fat depots, bowel, bile, gas, bone, lungs) is painted
    # with its [ct.hu] mean and a texture of SD [ct.texture_sd_hu]. Tolerance: 3 × the
    # scatter of a region's mean (σ·√(V_c/V), capped at σ for regions smaller than V_c)
    # + 0.5 HU; the SD within 3 × its sampling error (1/√(2·V/V_c)) + 10 % for regions
    # above 10 V_c (below, the SD of a few correlated blobs is not informative).
    anatomy, ct_map = patient
    fine = ct_fine_hu(anatomy, ct_map).astype(np.float64)
    v_vox = anatomy.labels.voxel_volume_ml
    tissues = _tissue_map(anatomy, ct_map)
    expected = set(STRUCTURE_TISSUE.values()) | {"liver", "spleen", "kidney", "blood", "urine"}
    expected |= {"lungs", "cortical_bone", "spongiosa", "pancreas", "adrenal", "tumour"}
    assert expected <= {t for t, m in tissues.items() if m.any()}
    for tissue, mask in tissues.items():
        if not mask.any():
            continue
        mean, sd = float(CT["hu"][tissue]), float(CT["texture_sd_hu"][tissue])
        vol = float(mask.sum()) * v_vox
        ratio = _v_c_ml() / vol
        values = fine[mask]
        assert abs(values.mean() - mean) <= 3.0 * sd * min(1.0, math.sqrt(ratio)) + 0.5, tissue
        if ratio < 0.1:
            tol = 3.0 * math.sqrt(ratio / 2.0) + 0.10
            assert values.std() == pytest.approx(sd, rel=tol), tissue


def test_organ_means_stay_as_the_mass_calculation_expects() -> None:
    # HU -> density masses (therapy.region_activity) use the CT median of each organ: the
    # cited liver/spleen/kidney/blood/urine means did not move (pmct2019, park2006 ...).
    hu = CT["hu"]
    assert (hu["liver"], hu["spleen"], hu["kidney"], hu["blood"], hu["urine"]) == (
        58.0,
        48.0,
        32.0,
        42.0,
        5.0,
    )
    # and the spreads overlap: liver, spleen, kidney, muscle and bowel wall lie within two
    # image SDs (texture and noise) of each other, as in a non-contrast CT
    soft = ("liver", "spleen", "kidney", "muscle", "bowel_wall", "pancreas")
    sd = [math.hypot(float(CT["texture_sd_hu"][t]), float(CT["noise_hu"])) for t in soft]
    means = [float(hu[t]) for t in soft]
    assert max(means) - min(means) < 2.0 * min(sd)


def test_ct_image_statistics_per_tissue(patient) -> None:
    # In the CT image, voxels lying wholly inside one tissue have the table mean (tolerance
    # as on the truth grid) and the SD √(texture² + noise²): the noise SD is exact
    # (ct_noise rescales by the filter's root-sum-of-squares) up to its sampling error
    # 1/√(2n) over n voxels; the texture part loses a little by the 2-slice average (≤ 5 %)
    # and is sampled with error 1/√(2·V/V_c).
    anatomy, ct_map = patient
    grid = _ct_grid(anatomy.model.grid)
    clean = ct_hu(anatomy, grid, None, ct_map=ct_map).astype(np.float64)
    noisy = ct_hu(anatomy, grid, np.random.default_rng(5), ct_map=ct_map).astype(np.float64)
    noise = float(CT["noise_hu"])
    checked = []
    for tissue, mask in _tissue_map(anatomy, ct_map).items():
        frac = box_resample(mask.astype(np.float64), anatomy.model.grid, grid)
        pure = frac > 0.999
        vol = float(pure.sum()) * grid.voxel_ml
        if vol < 10.0 * _v_c_ml() or tissue == "air":
            continue
        mean, sd = float(CT["hu"][tissue]), float(CT["texture_sd_hu"][tissue])
        ratio = _v_c_ml() / vol
        assert abs(noisy[pure].mean() - mean) <= 3.0 * sd * math.sqrt(ratio) + 0.5, tissue
        tex = float(clean[pure].std())
        assert tex == pytest.approx(sd, rel=3.0 * math.sqrt(ratio / 2.0) + 0.05), tissue
        n = float(pure.sum())  # noise SD sampled from n voxels: relative SE 1/√(2n)
        image_sd = math.hypot(tex, noise)
        assert noisy[pure].std() == pytest.approx(image_sd, rel=3.0 / math.sqrt(2.0 * n)), tissue
        checked.append(tissue)
    assert {"liver", "muscle", "fat_subcutaneous", "fat_visceral", "bowel_content"} <= set(checked)
    # the noise itself: SD noise_hu over the whole body (≥ 10⁵ voxels: error < 1 %)
    body = box_resample(
        (np.asarray(anatomy.labels.array) > 0).astype(float), anatomy.model.grid, grid
    )
    diff = (noisy - clean)[body > 0.999]
    assert diff.size > 1e5
    assert diff.std() == pytest.approx(noise, rel=0.02)
    assert abs(diff.mean()) < 0.05 * noise


def test_noise_is_correlated_in_plane_only() -> None:
    # 2 mm voxels, σ = noise_correlation_mm: neighbouring voxels in-plane correlate by the
    # kernel's lag-1 autocorrelation Σk_i·k_{i+1}/Σk² (hand formula from psf_kernel);
    # slices are independent. 2.6·10⁵ voxels: correlation SE ≈ 0.002, tolerance 0.02.
    grid = Grid((64, 64, 64), (2.0, 2.0, 4.0), (0.0, 0.0, 0.0))
    n = ct_noise(grid.shape, grid, np.random.default_rng(3))
    k = psf_kernel((float(CT["noise_correlation_mm"]) / 2.0) ** 2)
    rho = float(np.sum(k[:-1] * k[1:]) / np.sum(k**2))
    assert rho > 0.2  # the test can see a correlation

    def corr(axis: int) -> float:
        a = np.moveaxis(n, axis, 0)
        return float(np.corrcoef(a[:-1].ravel(), a[1:].ravel())[0, 1])

    assert corr(2) == pytest.approx(rho, abs=0.02)
    assert corr(1) == pytest.approx(rho, abs=0.02)
    assert abs(corr(0)) < 0.02
    assert n.std() == pytest.approx(float(CT["noise_hu"]), rel=0.01)


def test_texture_levels_are_a_unit_variance_quantised_gaussian(patient) -> None:
    # 8 equiprobable levels (normal quantiles): mean 0, mean square 1 by construction; the
    # map's level histogram is flat: each level holds 1/8 of the grid within 3 binomial SEs
    # of N_eff = V/V_c independent blobs.
    anatomy, ct_map = patient
    assert abs(float(TEXTURE_LEVELS.mean())) < 1e-12
    assert float(np.mean(TEXTURE_LEVELS**2)) == pytest.approx(1.0, abs=1e-12)
    counts = np.bincount(np.right_shift(ct_map, 5).ravel(), minlength=8) / ct_map.size
    n_eff = ct_map.size * anatomy.labels.voxel_volume_ml / _v_c_ml()
    np.testing.assert_allclose(counts, 1.0 / 8.0, atol=3.0 * math.sqrt(7.0 / 64.0 / n_eff))


# ------------------------------------------------------------------------- structures
def _touching(anatomy: Anatomy, ct_map: NDArray[np.uint8]) -> dict[str, dict[str, float]]:
    """Fraction of each organ's voxels bordering body that touch muscle, bowel/stomach."""
    lab = np.asarray(anatomy.labels.array)
    st = ndimage.generate_binary_structure(3, 1)
    muscle = structure_mask(ct_map, lab, *MUSCLES)
    gut = structure_mask(ct_map, lab, *GUT)
    body_nb = ndimage.binary_dilation(lab == LABELS["body"], st)
    out = {}
    for organ, parts in ORGANS.items():
        om = np.isin(lab, [LABELS[p] for p in parts])
        surface = om & body_nb
        n = float(surface.sum())
        out[organ] = {
            "muscle": float((surface & ndimage.binary_dilation(muscle, st)).sum()) / n,
            "gut": float((surface & ndimage.binary_dilation(gut, st)).sum()) / n,
        }
    return out


@pytest.mark.parametrize(
    ("sex", "seed", "layout"),
    [("M", SEED, "sstrkit"), ("F", 3, "sstrkit"), ("M", SEED, "ornl-stylized")],
)
def test_structures_exist_and_touch_the_organs(sex: str, seed: int, layout: str) -> None:
    # Every CT structure is present, inside body voxels only, and the organs touch muscle
    # (abdominal wall, psoas/quadratus, diaphragm) and bowel or stomach somewhere (≥ 2 % of
    # their surface; measured 2-60 %), so that a HU threshold merges them with neighbours.
    anatomy = _patient(sex, seed, layout)
    ct_map = ct_tissue_map(anatomy)
    lab = np.asarray(anatomy.labels.array)
    codes = structure_codes(ct_map)
    body = lab == LABELS["body"]
    present = {n for n, c in STRUCTURES.items() if np.any(body & (codes == c))}
    missing = set(STRUCTURES) - present
    # the stylized spine is one column without discs
    assert missing <= ({"intervertebral_disc"} if layout != "sstrkit" else set()), missing
    assert np.all(codes[body] > 0)  # every body voxel got a CT tissue
    touch = _touching(anatomy, ct_map)
    for organ, t in touch.items():
        assert t["muscle"] + t["gut"] >= 0.05, (organ, t)
    assert touch["liver"]["gut"] >= 0.02 and touch["liver"]["muscle"] >= 0.02
    assert touch["spleen"]["gut"] >= 0.02
    assert max(touch["kidney_left"]["gut"], touch["kidney_right"]["gut"]) >= 0.02
    assert min(touch["kidney_left"]["muscle"], touch["kidney_right"]["muscle"]) >= 0.02


def test_structures_sit_where_the_anatomy_puts_them(patient) -> None:
    # Placement from the patient model: psoas beside and paraspinals behind the lumbar
    # spine, stomach on the spleen's side, gallbladder on the liver's side and below the
    # liver's centre, subcutaneous fat outside the body-wall muscle (centroids, mm).
    anatomy, ct_map = patient
    lab = np.asarray(anatomy.labels.array)
    model = anatomy.model

    def centroid(mask: NDArray[np.bool_]) -> NDArray[np.float64]:
        idx = np.argwhere(mask)[:, ::-1].astype(np.float64)
        return np.asarray(model.grid.origin) + idx.mean(axis=0) * np.asarray(model.grid.spacing)

    spine = model.vertebrae["L3"]
    psoas = structure_mask(ct_map, lab, "psoas_muscle")
    left = psoas & (np.arange(lab.shape[2]) * model.grid.spacing[0] + model.grid.origin[0] > 0)
    c_left, c_right = centroid(left), centroid(psoas & ~left)
    assert 20.0 < c_left[0] - spine[0] < 80.0 and 20.0 < spine[0] - c_right[0] < 80.0
    assert model.vertebrae["L5"][2] - 60.0 < c_left[2] < model.vertebrae["L1"][2]
    para = centroid(structure_mask(ct_map, lab, "paraspinal_muscle"))
    assert para[1] > spine[1] + 20.0  # posterior (LPS: +y)
    spleen, liver = centroid(lab == LABELS["spleen"]), centroid(lab == LABELS["liver"])
    stomach = centroid(structure_mask(ct_map, lab, "stomach_wall", "stomach_content"))
    assert np.sign(stomach[0]) == np.sign(spleen[0]) and stomach[1] < spleen[1]
    gb = centroid(structure_mask(ct_map, lab, "gallbladder"))
    assert np.sign(gb[0]) == np.sign(liver[0]) and gb[2] < liver[2] and gb[1] < liver[1]
    assert structure_mask(ct_map, lab, "subcutaneous_fat").sum() > 0


def test_tissue_map_is_deterministic(patient) -> None:
    anatomy, ct_map = patient
    np.testing.assert_array_equal(ct_tissue_map(anatomy), ct_map)
    # the random shapes follow the seed: the same geometry with another seed differs
    model = anatomy.model
    reseeded = replace(anatomy, model=replace(model, patient=replace(model.patient, seed=SEED + 1)))
    other = ct_tissue_map(reseeded)
    assert other.shape == ct_map.shape and np.mean(other != ct_map) > 0.2
    grid = _ct_grid(anatomy.model.grid)
    a = ct_hu(anatomy, grid, np.random.default_rng(9), ct_map=ct_map)
    b = ct_hu(anatomy, grid, np.random.default_rng(9))  # map computed inside: the same
    np.testing.assert_array_equal(a, b)


def test_ct_inputs_are_checked(patient) -> None:
    anatomy, ct_map = patient
    grid = _ct_grid(anatomy.model.grid)
    with pytest.raises(InvalidInputError, match="CT tissue map"):
        ct_hu(anatomy, grid, None, ct_map=ct_map[1:])
    with pytest.raises(InvalidInputError, match="CT structure"):
        structure_mask(ct_map, np.asarray(anatomy.labels.array), "appendix")
    with pytest.raises(InvalidInputError, match="CT tissue map"):
        move_anatomy(anatomy, RigidMotion.identity(), ct_map=ct_map[:, 1:])


# ------------------------------------------------------------------------- repositioning
def test_the_tissue_map_moves_with_the_labels(patient) -> None:
    # One nearest-neighbour index map for labels and CT tissues: every moved body voxel
    # still has its CT tissue (exact), the map is move_labels of the baseline map, and
    # structure volumes change only by resampling (≤ 3 %, the labels' own order).
    anatomy, ct_map = patient
    motion = RigidMotion((6.0, -4.0, 5.0), (2.0, -3.0, 1.5), anatomy.model.body.center_mm)
    moved = move_anatomy(anatomy, motion, ct_map=ct_map)
    assert moved.ct_map is not None
    np.testing.assert_array_equal(moved.ct_map, move_labels(ct_map, anatomy.model.grid, motion))
    lab = np.asarray(moved.anatomy.labels.array)
    assert np.all(structure_codes(moved.ct_map)[lab == LABELS["body"]] > 0)
    before = np.bincount(
        structure_codes(ct_map)[np.asarray(anatomy.labels.array) == 1], minlength=32
    )
    after = np.bincount(structure_codes(moved.ct_map)[lab == 1], minlength=32)
    for name, code in STRUCTURES.items():
        if before[code] > 500:
            assert after[code] == pytest.approx(before[code], rel=0.03), name
    # the moved CT is the baseline CT moved: liver CT numbers identical in distribution
    grid = _ct_grid(anatomy.model.grid)
    hu0 = ct_hu(anatomy, grid, None, ct_map=ct_map)
    hu1 = ct_hu(moved.anatomy, grid, None, ct_map=moved.ct_map)
    assert np.median(hu1) == pytest.approx(np.median(hu0), abs=2.0)
    same = move_anatomy(anatomy, RigidMotion.identity(), ct_map=ct_map)
    assert same.ct_map is ct_map


# ------------------------------------------------------------------------- the point
def _best_threshold_dice(hu: NDArray[np.float64], truth: NDArray[np.bool_]) -> float:
    """Best Dice of a global HU window + connected component, the window tuned on the truth.

    Windows: every pair of the organ's own HU percentiles (2-50 % low, 50-98 % high); the
    component: the largest one, or (an oracle) the one overlapping the organ most; on
    the image as is and after a Gaussian pre-smoothing of 1 voxel.
    """
    best = 0.0
    for img in (hu, ndimage.gaussian_filter(hu, 1.0)):
        q = np.percentile(img[truth], [2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 98])
        for lo in q[:7]:
            for hi in q[6:]:
                comps, n = ndimage.label((img >= lo) & (img <= hi))
                if n == 0:
                    continue
                sizes = np.bincount(comps.ravel())
                sizes[0] = 0
                overlap = np.bincount(comps[truth], minlength=n + 1)
                overlap[0] = 0
                for k in {int(np.argmax(sizes)), int(np.argmax(overlap))}:
                    seg = comps == k
                    best = max(best, 2.0 * float((seg & truth).sum()) / (seg.sum() + truth.sum()))
    return best


def test_a_threshold_and_connected_components_cannot_segment_the_organs(patient) -> None:
    # Reference: the truth label (its part ≥ 50 % of a CT voxel). On the realistic CT even
    # the best window with the best component stays below Dice 0.85 for liver, spleen and
    # kidneys (seed 7, 4 mm: measured liver 0.74, spleen 0.51, kidneys 0.54 / 0.54). The
    # same procedure segments these organs on the former CT (organs on a uniform 20 HU
    # background) with Dice ≥ 0.9 (measured liver 0.95, spleen and kidneys 1.0), so the
    # test can fail.
    anatomy, ct_map = patient
    grid = _ct_grid(anatomy.model.grid)
    hu = ct_hu(anatomy, grid, np.random.default_rng(1), ct_map=ct_map).astype(np.float64)
    lab = np.asarray(anatomy.labels.array)
    dice = {}
    for organ, parts in ORGANS.items():
        mask = np.isin(lab, [LABELS[p] for p in parts]).astype(np.float64)
        truth = box_resample(mask, anatomy.model.grid, grid) >= 0.5
        dice[organ] = _best_threshold_dice(hu, truth)
    assert all(d < 0.85 for d in dice.values()), dice
    # positive control: the former label-painted CT (uniform remainder, noise-free)
    table: dict[int, float] = {0: -1000.0}
    for name, label in LABELS.items():
        tissue = TISSUE[name] if TISSUE[name] in CT["hu"] else "body"
        table[label] = float(CT["hu"][tissue])
    for i, _ in enumerate(anatomy.model.lesions):
        table[anatomy.model.lesion_label(i)] = float(CT["hu"]["tumour"])
    flat: Any = box_resample(fine_concentration(anatomy, table) + 1000.0, anatomy.model.grid, grid)
    for organ, parts in ORGANS.items():
        mask = np.isin(lab, [LABELS[p] for p in parts]).astype(np.float64)
        truth = box_resample(mask, anatomy.model.grid, grid) >= 0.5
        assert _best_threshold_dice(flat - 1000.0, truth) >= 0.9, organ
