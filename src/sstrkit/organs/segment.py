"""Offline organ segmentation of CT + SSTR PET or 177Lu SPECT (the default organ VOIs).

Method (details, thresholds and measured accuracy in ``docs/segmentation.md``):

1. **Working grid.** The CT is smoothed and resampled onto an axis-aligned grid of
   at least 3 mm (:func:`sstrkit.organs.ct.working_grid`); the emission image is
   resampled onto the same grid (same frame of reference required).
2. **CT tissues.** Body, lungs (left/right), bone and fat by HU
   (:mod:`sstrkit.organs.ct`); spine axis, body size and lung bases as landmarks.
3. **Organ cores from uptake.** Components of the uptake above a ladder of levels are
   named by anatomy (:mod:`sstrkit.organs.uptake`): kidneys, spleen, liver, bladder.
   Each core keeps the voxels between 0.55 and 1.8 × the organ's median uptake
   (hotter foci are lesions, not organ) eroded by one voxel.
4. **Competition.** Cores, hot foci (each its own marker), and background (outside
   the body, lungs, bone, fat, and soft tissue far below every organ's uptake)
   flood a gradient image that adds the CT edge (organ against fat) to the edge of
   log-uptake (organ against muscle, bowel or a neighbouring organ): a marker-based
   morphological watershed (SimpleITK). Each organ keeps its largest component with
   holes filled (lesions inside an organ belong to the organ's outline, as in
   TotalSegmentator; dosimetry removes them again).
5. **Back to the CT grid** by nearest neighbour; voxels that the full-resolution CT
   shows as fat or air leave the organ.
6. **Quality.** Volumes and positions are checked against plausible ranges; an
   organ not found is ``absent`` (or ``not_visible`` when its place is outside the
   field of view).

Without an emission image only body, lungs and bone are segmented: non-contrast CT
does not separate liver, spleen and kidneys from muscle and bowel (a CT-only attempt
measured a liver Dice of 0.18-0.26), and a wrong outline must not pass as an organ;
those organs are ``not_visible`` with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import numpy as np
import SimpleITK as sitk
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.provenance import Step
from sstrkit.core.units import MM3_PER_ML
from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.organs import ct as ctm
from sstrkit.organs import uptake
from sstrkit.organs.model import (
    CLASS_NAMES,
    OrganQuality,
    OrganSegmentation,
    QualityStatus,
    label_of,
)

__all__ = ["PLAUSIBLE_VOLUME_ML", "segment_organs"]

EmissionKind = Literal["pet", "spect"]

#: Plausible adult volumes (mL) of the organs checked by the quality flag: ICRP 89
#: reference masses (liver 1800/1400 g, spleen 150/130 g, kidneys 310/275 g for both,
#: adrenals 14/13 g) ÷ density, widened for body size and common disease (hepatomegaly
#: with liver metastases, splenomegaly, compensatory kidney hypertrophy).
PLAUSIBLE_VOLUME_ML: dict[str, tuple[float, float]] = {
    "liver": (700.0, 5000.0),
    "spleen": (40.0, 1200.0),
    "kidney_left": (60.0, 400.0),
    "kidney_right": (60.0, 400.0),
    "urinary_bladder": (10.0, 1500.0),
    "adrenal_gland_left": (1.0, 40.0),
    "adrenal_gland_right": (1.0, 40.0),
    "lung_left": (500.0, 5000.0),
    "lung_right": (500.0, 5000.0),
}

#: Side of the body each organ lies on (its centroid relative to the body midline).
_SIDE = {
    "liver": "right",
    "spleen": "left",
    "kidney_left": "left",
    "kidney_right": "right",
    "lung_left": "left",
    "lung_right": "right",
}

#: Why the soft organs are not segmented from CT alone.
_CT_ONLY = (
    "no PET/SPECT given: liver, spleen, kidneys and bladder not segmented (non-contrast CT "
    "does not separate them from muscle and bowel: a CT-only attempt reached a liver Dice of "
    "0.18-0.26 on the digital patients); body, lungs and bone are given"
)

_ORGANS = ("liver", "spleen", "kidney_left", "kidney_right", "urinary_bladder")
_SOURCES = (
    "Hofman MS et al. High management impact of Ga-68 DOTATATE (GaTate) PET/CT for imaging "
    "neuroendocrine and other somatostatin expressing tumours. RadioGraphics 35 (2015) 500-516 "
    "(physiological biodistribution)",
    "ICRP Publication 89 (2002), Table 2.8 (reference organ masses; plausible volumes)",
    "Beucher S, Meyer F. The morphological approach to segmentation: the watershed "
    "transformation (1993) (marker-based watershed)",
)


def _progress(cb: Callable[[str, float], None] | None, stage: str, frac: float) -> None:
    if cb is not None:
        cb(stage, frac)


def _emission_on(work: Volume, emission: Volume, ct: Volume) -> NDArray[np.float32]:
    a, b = emission.frame_of_reference_uid, ct.frame_of_reference_uid
    if a and b and a != b:
        raise GeometryMismatchError(
            "emission and CT frames of reference",
            expected=f"the CT's {b}",
            actual=a,
            fix="pass the CT acquired with this PET/SPECT (same FrameOfReferenceUID)",
        )
    e = emission.resample_to(work, mode="linear", default_value=0.0)
    return np.clip(e.array.astype(np.float32), 0.0, None)


def _gradient(arr: NDArray[np.float32], spacing: tuple[float, float, float]) -> NDArray[np.float32]:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    g = sitk.GradientMagnitudeRecursiveGaussian(img, sigma=float(min(spacing)))
    return sitk.GetArrayFromImage(g).astype(np.float32)


def _largest_filled(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    out: NDArray[np.bool_] = ndimage.binary_fill_holes(ctm.largest_component(mask))
    return out


def _uptake_rel(
    e: NDArray[np.float32], soft: NDArray[np.bool_]
) -> tuple[NDArray[np.float32], float]:
    """Uptake relative to the soft-tissue background (median), floored at 1 % of the
    hottest soft tissue so that a SPECT with almost no background is handled."""
    vals = e[soft]
    if vals.size == 0 or float(vals.max()) <= 0.0:
        raise InvalidInputError(
            "emission image",
            expected="uptake inside the body",
            actual="no positive voxel in the CT's soft tissue",
            fix="check that the PET/SPECT and the CT belong together",
        )
    top = float(np.percentile(vals, 99.5))
    bg = max(float(np.median(vals)), 0.01 * top, 1e-12)
    return (e / bg).astype(np.float32), bg


def _seeds_from_uptake(
    rel: NDArray[np.float32],
    masks: ctm.CtMasks,
    lm: ctm.Landmarks,
    spacing: tuple[float, float, float],
    hu: NDArray[np.float32],
    notes: list[str],
) -> tuple[NDArray[np.int32], dict[str, float]]:
    """Marker image: organ cores (their class labels), hot foci (≥ 100), background (200)."""
    voxel_ml = float(np.prod(spacing)) / MM3_PER_ML
    region = masks.body & ~masks.lungs & ~masks.bone
    cands = uptake.candidates(rel, region, voxel_ml, start=2.0)
    found = uptake.identify(cands, rel, region, lm, spacing, hu)
    markers = np.zeros(rel.shape, dtype=np.int32)
    levels: dict[str, float] = {}
    cores: dict[str, NDArray[np.bool_]] = {}
    for name, (_, m) in found.items():
        level = float(np.median(rel[m]))
        levels[name] = level
        core = m & (rel >= 0.55 * level) & (rel <= 1.8 * level) & ~masks.fat
        cores[name] = core
    # Each organ's extent at half its level (connected to its core; never below 1.25 x the
    # liver's level): where the organ is,
    # even beyond a small high-level core. Kidneys, spleen and bladder first: the liver's
    # low-level component may reach into them, and their periphery is not a hot focus.
    claimed = np.zeros(rel.shape, dtype=bool)
    extent = np.zeros(rel.shape, dtype=bool)
    for name in ("kidney_left", "kidney_right", "spleen", "urinary_bladder", "liver"):
        if name not in cores:
            continue
        core = cores[name] & ~ndimage.binary_dilation(claimed | extent, iterations=2)
        core = ndimage.binary_erosion(core, iterations=1)
        if core.sum() == 0:
            core = cores[name] & ~claimed
        markers[core] = label_of(name)
        claimed |= cores[name]
        if name != "liver":
            # half level, but above the liver's level so that a touching liver stays out
            cut = max(0.5 * levels[name], 1.25 * levels.get("liver", 0.0))
            half, _ = ndimage.label((rel >= cut) & region)
            ids = np.unique(half[core & (half > 0)])
            extent |= np.isin(half, ids[ids > 0]) & ~claimed
    # Hot foci (lesions, adrenals, bowel) compete as their own markers; a focus joined to
    # the half-level extent of a kidney, the spleen or the bladder is that organ's
    # periphery (or a lesion it holds); next to the liver only the liver's core is cut out.
    lowest = min(levels.values()) if levels else 4.0
    hot_level = max(1.5 * levels.get("liver", lowest), 4.0)
    liver_core = cores.get("liver", np.zeros(rel.shape, dtype=bool))
    hot = (
        (rel >= hot_level)
        & region
        & (markers == 0)
        & ~ndimage.binary_dilation(liver_core, iterations=1)
    )
    lab, n = ndimage.label(hot)
    if n:
        near = ndimage.binary_dilation((claimed & ~liver_core) | extent, iterations=1)
        touching = np.unique(lab[near & (lab > 0)])
        lab[np.isin(lab, touching)] = 0
        peaks = np.asarray(ndimage.maximum(rel, lab, range(1, n + 1)))
        peak_of = np.concatenate([[0.0], peaks]).astype(np.float32)
        core = (lab > 0) & (rel >= 0.7 * peak_of[lab])
        markers[core] = 100 + (lab[core] % 100)
    # Background: outside, lungs, bone, fat, and soft tissue far below every organ.
    low = 0.3 * lowest
    bg = (~masks.body) | masks.lungs | masks.bone | (masks.fat & (hu < -60.0))
    bg |= masks.soft & (rel < low)
    organ_near = ndimage.binary_dilation(markers > 0, iterations=1)
    markers[bg & ~organ_near & (markers == 0)] = 200
    missing = [o for o in _ORGANS if o not in found]
    if missing:
        notes.append(f"no uptake component fitting {', '.join(missing)}")
    return markers, levels


#: Height of one lumbar level (vertebral body + disc) of an adult, mm: lumbar bodies are
#: about 25-30 mm high and the discs about 8-12 mm (used when the discs are not resolved).
LUMBAR_LEVEL_MM = 35.0


def _split_run(z0: int, z1: int, area: NDArray[np.float64], dz: float) -> list[tuple[int, int]]:
    """Split a run of vertebral bone longer than 50 mm at its deepest interior area
    minimum (a disc that smoothing did not fully open), recursively."""
    if (z1 - z0 + 1) * dz <= 50.0:
        return [(z0, z1)]
    edge = max(int(np.ceil(12.0 / dz)), 1)
    inner = np.arange(z0 + edge, z1 - edge + 1)
    if inner.size == 0:
        return [(z0, z1)]
    k = int(inner[np.argmin(area[inner])])
    if area[k] >= 0.9 * float(np.median(area[z0 : z1 + 1])):  # no dip: not a disc
        return [(z0, z1)]
    return _split_run(z0, k - 1, area, dz) + _split_run(k + 1, z1, area, dz)


#: Antero-posterior depth of an adult lumbar vertebral body, mm (about 30-35 mm).
VERTEBRAL_BODY_DEPTH_MM = 32.0


def _vertebral_bodies(column_bone: NDArray[np.bool_], dy: float) -> NDArray[np.bool_]:
    """Per axial slice, the vertebral body: of the large bone components of the spinal
    column the most anterior, cut at :data:`VERTEBRAL_BODY_DEPTH_MM` behind its anterior
    surface (the arch and the spinous process lie behind the canal and may touch the body
    at CT resolution)."""
    out = np.zeros_like(column_bone)
    for k in np.nonzero(column_bone.any(axis=(1, 2)))[0]:
        lab, n = ndimage.label(column_bone[k])
        if n == 0:
            continue
        sizes = np.bincount(lab.ravel())[1:]
        ys = np.asarray(ndimage.center_of_mass(column_bone[k], lab, range(1, n + 1)))[:, 0]
        big = [i for i in range(n) if sizes[i] >= 0.3 * sizes.max()]
        best = min(big, key=lambda i: ys[i]) + 1  # +y is posterior: smallest y is anterior
        comp = ndimage.binary_fill_holes(lab == best)
        rows = np.nonzero(comp.any(axis=1))[0]
        # the arch may touch the body: keep the body's depth from its anterior surface
        comp[rows[0] + max(round(VERTEBRAL_BODY_DEPTH_MM / dy), 1) :] = False
        out[k] = comp
    return out


def _red_marrow(
    hu: NDArray[np.float32],
    masks: ctm.CtMasks,
    lm: ctm.Landmarks,
    spacing: tuple[float, float, float],
    organs: dict[str, NDArray[np.bool_]],
    notes: list[str],
) -> NDArray[np.bool_]:
    """Spongiosa of three lumbar vertebral bodies below the renal hila (≈ L2–L4).

    Vertebral bodies are the bone runs of the spinal column separated by discs
    (z profile of bone area, runs of 15-50 mm); the renal hila lie at L1–L2 in most
    adults, so the three bodies whose centres lie below the mean kidney centroid stand for
    L2–L4. When the discs are not resolved (thick slices), the three levels are taken as
    3 × :data:`LUMBAR_LEVEL_MM` below the hila (noted). The VOI is the interior of the
    vertebral body eroded by 5 mm (cortical shell and the spread of cortical HU in the smoothed CT).
    """
    out = np.zeros(masks.bone.shape, dtype=bool)
    kid = [m for k, m in organs.items() if k.startswith("kidney") and m.any()]
    if not kid:
        notes.append("red-marrow VOI not placed: no kidney to locate the lumbar spine")
        return out
    z_hila = float(np.mean([np.nonzero(m)[0].mean() for m in kid]))
    sx, sy = round(lm.spine_x), round(lm.spine_y)
    rx = max(round(30.0 / spacing[0]), 2)
    ry = max(round(35.0 / spacing[1]), 2)
    column = np.zeros_like(out)
    column[:, max(sy - 2 * ry, 0) : sy + ry, max(sx - rx, 0) : sx + rx + 1] = True
    bone = _vertebral_bodies(masks.bone & column, spacing[1])
    area = bone.sum(axis=(1, 2)).astype(float)
    if area.max() <= 0:
        notes.append("red-marrow VOI not placed: no vertebral bone found near the spine axis")
        return out
    present = area > 0.35 * np.median(area[area > 0])
    lab, n = ndimage.label(present)
    dz = spacing[2]
    runs: list[tuple[int, int]] = []
    for i in range(1, n + 1):
        zs = np.nonzero(lab == i)[0]
        runs += _split_run(int(zs[0]), int(zs[-1]), area, dz)
    bodies = [((z0 + z1) / 2.0, z0, z1) for z0, z1 in runs if 15.0 <= (z1 - z0 + 1) * dz <= 50.0]
    below = sorted([b for b in bodies if b[0] <= z_hila], key=lambda b: -b[0])[:3]
    # 5 mm: the cortical shell plus the outward spread of cortical HU in the smoothed CT
    interior = ndimage.binary_erosion(bone, iterations=max(round(5.0 / min(spacing)), 1))
    if len(below) == 3:
        for _, z0, z1 in below:
            out[z0 + 1 : z1] |= interior[z0 + 1 : z1]  # end plates and discs left out
    else:
        z1 = int(np.floor(z_hila))
        z0 = max(int(np.ceil(z_hila - 3.0 * LUMBAR_LEVEL_MM / dz)), 0)
        out[z0 : z1 + 1] = interior[z0 : z1 + 1]
        notes.append(
            "red-marrow VOI: vertebral discs not resolved; L2-L4 taken as the 105 mm of spine "
            "below the renal hila"
        )
    if out.any():
        # discs and soft tissue partial-volumed into the VOI are less dense than spongiosa
        # (relative cut, so that osteoporotic spongiosa of ~100 HU is kept)
        out &= hu >= 0.6 * float(np.median(hu[out]))
    return out


def _quality(
    name: str,
    vol: float,
    mask_work: NDArray[np.bool_],
    work: Volume,
    fov_missing: bool,
    body_x_mm: float,
) -> OrganQuality:
    """Quality of one class: ``vol`` (mL, CT grid), centroid from the working grid."""
    code = label_of(name)
    if vol == 0.0:
        status: QualityStatus = "not_visible" if fov_missing else "absent"
        reason = (
            "its place is outside the field of view"
            if fov_missing
            else "not found (resected, e.g. splenectomy/nephrectomy, or no uptake): "
            "supply labels if it is present"
        )
        return OrganQuality(name, code, 0.0, status, reason)
    if not mask_work.any():  # a sliver only on the fine grid: centre of the working grid
        mask_work = np.ones_like(mask_work)
    zyx = [
        float(np.average(np.arange(mask_work.shape[k]), weights=mask_work.sum(axis=other)))
        for k, other in ((0, (1, 2)), (1, (0, 2)), (2, (0, 1)))
    ]
    xyz = work.index_to_physical(np.asarray(zyx[::-1]))
    centroid = (float(xyz[0]), float(xyz[1]), float(xyz[2]))
    rng = PLAUSIBLE_VOLUME_ML.get(name)
    if rng is not None and not rng[0] <= vol <= rng[1]:
        return OrganQuality(
            name,
            code,
            vol,
            "implausible",
            f"volume {vol:.0f} mL outside the plausible {rng[0]:.0f}-{rng[1]:.0f} mL",
            centroid,
        )
    expected = _SIDE.get(name)
    if expected is not None:
        # +x is the patient's left (LPS): compare with the body's midline.
        on_left = centroid[0] > body_x_mm
        if on_left != (expected == "left"):
            where = "left" if on_left else "right"
            return OrganQuality(
                name,
                code,
                vol,
                "implausible",
                f"centroid on the patient's {where} (situs inversus, or a mislabelled structure)",
                centroid,
            )
    return OrganQuality(name, code, vol, "plausible", "", centroid)


def _watershed_organs(
    work: Volume,
    hu: NDArray[np.float32],
    masks: ctm.CtMasks,
    lm: ctm.Landmarks,
    emission: Volume,
    ct: Volume,
    notes: list[str],
    progress: Callable[[str, float], None] | None,
) -> dict[str, NDArray[np.bool_]]:
    """Soft organs on the working grid: uptake cores competing in a marker watershed.

    The gradient adds the CT edge (organ against fat) to the edge of the relative
    uptake (organ against muscle, bowel or a neighbour); each organ keeps its
    largest component with holes filled, within soft-tissue-like voxels.
    """
    spacing = work.spacing
    organs_w: dict[str, NDArray[np.bool_]] = {
        name: np.zeros(hu.shape, dtype=bool) for name in _ORGANS
    }
    e = _emission_on(work, emission, ct)
    rel, _ = _uptake_rel(e, masks.soft)
    markers, levels = _seeds_from_uptake(rel, masks, lm, spacing, hu, notes)
    scale = min(levels.values()) if levels else float(np.percentile(rel[masks.soft], 99))
    grad = _gradient(hu, spacing) / 20.0 + _gradient(rel / scale, spacing) / 0.1
    _progress(progress, "competition", 0.5)
    gimg = sitk.GetImageFromArray(grad.astype(np.float32))
    mimg = sitk.GetImageFromArray(markers.astype(np.uint16))
    ws = sitk.GetArrayFromImage(
        sitk.MorphologicalWatershedFromMarkers(
            gimg, mimg, markWatershedLine=False, fullyConnected=False
        )
    ).astype(np.int32)
    soft_like = masks.body & ~masks.lungs & ~masks.bone & ~(masks.fat & (hu < -60.0))
    for name in _ORGANS:
        m = (ws == label_of(name)) & soft_like
        organs_w[name] = _largest_filled(m) if m.any() else m
    return organs_w


def _working_labels(
    shape: tuple[int, ...],
    masks: ctm.CtMasks,
    marrow_w: NDArray[np.bool_],
    organs_w: dict[str, NDArray[np.bool_]],
) -> NDArray[np.uint8]:
    """The label map on the working grid; later classes overwrite earlier ones."""
    label_w = np.zeros(shape, dtype=np.uint8)
    label_w[masks.body] = label_of("body")
    label_w[masks.lung_left] = label_of("lung_left")
    label_w[masks.lung_right] = label_of("lung_right")
    label_w[masks.bone] = label_of("bone")
    label_w[marrow_w] = label_of("red_marrow_lumbar")
    for name in ("urinary_bladder", "liver", "spleen", "kidney_left", "kidney_right"):
        label_w[organs_w[name]] = label_of(name)
    return label_w


def _trim_fat_and_air(on_ct: NDArray[np.uint8], ct: Volume) -> None:
    """Full-resolution trim in place: fat/air voxels of the CT leave the soft organs.

    Inside the organs' bounding box the CT is smoothed (σ = 0.7 × the finest
    spacing); organ voxels below the fat threshold become body, or background
    below the body threshold.
    """
    soft_codes = [label_of(n) for n in _ORGANS]
    organ_vox = (on_ct >= min(soft_codes)) & (on_ct <= max(soft_codes))
    if organ_vox.any():
        box = tuple(
            slice(int(ix.min()), int(ix.max()) + 1)
            for ix in (np.nonzero(organ_vox.any(axis=a))[0] for a in ((1, 2), (0, 2), (0, 1)))
        )
        sub = sitk.GetImageFromArray(np.ascontiguousarray(ct.array[box], dtype=np.float32))
        sub.SetSpacing(ct.spacing)
        ct_s = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(sub, 0.7 * min(ct.spacing)))
        view = on_ct[box]
        trim = organ_vox[box] & (ct_s < ctm.FAT_HU)
        view[trim] = np.where(ct_s[trim] < ctm.BODY_HU, 0, label_of("body")).astype(np.uint8)


def _qualities(
    ct: Volume,
    on_ct: NDArray[np.uint8],
    label_w: NDArray[np.uint8],
    work: Volume,
    lm: ctm.Landmarks,
    *,
    segmented: bool,
) -> list[OrganQuality]:
    """Quality of every class: volumes on the CT grid, positions on the working grid.

    Classes this method does not segment (pituitary, adrenals; the soft organs
    without an emission image, ``segmented`` False) are ``not_visible``.
    """
    voxel_ml = ct.voxel_volume_ml
    counts = np.bincount(on_ct.ravel(), minlength=max(CLASS_NAMES) + 1)
    z_lo = ct.index_to_physical(np.array([0.0, 0.0, 0.0]))[2]
    z_hi = ct.index_to_physical(np.array([0.0, 0.0, ct.shape[0] - 1.0]))[2]
    fov_short = abs(z_hi - z_lo) < 250.0
    body_x_mm = float(work.index_to_physical(np.array([lm.body_x0, lm.body_y0, 0.0]))[0])
    qualities = []
    for code, name in CLASS_NAMES.items():
        if name == "pituitary_gland":
            qualities.append(
                OrganQuality(name, code, 0.0, "not_visible", "the head is not segmented")
            )
            continue
        if name in ("adrenal_gland_left", "adrenal_gland_right"):
            qualities.append(
                OrganQuality(
                    name,
                    code,
                    0.0,
                    "not_visible",
                    "adrenals are not segmented (below the resolution of this method)",
                )
            )
            continue
        if not segmented and name in _ORGANS:
            qualities.append(
                OrganQuality(name, code, 0.0, "not_visible", "not segmented without PET/SPECT")
            )
            continue
        qualities.append(
            _quality(
                name,
                float(counts[code]) * voxel_ml,
                label_w == code,
                work,
                fov_short,
                body_x_mm,
            )
        )
    return qualities


def segment_organs(
    ct: Volume,
    emission: Volume | None = None,
    *,
    emission_kind: EmissionKind | None = None,
    progress: Callable[[str, float], None] | None = None,
    working_mm: float = 3.0,
) -> OrganSegmentation:
    """Segment body, lungs, bone, liver, spleen, kidneys, bladder on ``ct``'s grid.

    ``emission`` (SSTR PET in SUV or Bq/mL, or a SPECT in counts or Bq/mL) must share
    the CT's frame of reference (a PET/CT or SPECT/CT pair); it is resampled to the
    working grid explicitly. ``progress(stage, fraction)`` is called between stages.
    Deterministic: no random numbers are used.
    """
    t0 = time.perf_counter()
    if ct.unit.upper() != "HU" and ct.modality != "CT":
        raise InvalidInputError(
            "CT for organ segmentation",
            expected="a CT in HU",
            actual=f"modality {ct.modality}, unit {ct.unit}",
            fix="pass the CT series of the PET/CT or SPECT/CT",
        )
    kind = emission_kind
    if emission is not None and kind is None:
        kind = "spect" if emission.modality == "NM" else "pet"
    notes: list[str] = []
    _progress(progress, "working grid", 0.0)
    work, hu = ctm.working_grid(ct, working_mm)
    spacing = work.spacing
    masks = ctm.ct_masks(hu, spacing)
    lm = ctm.landmarks(masks, spacing)
    _progress(progress, "organ cores", 0.25)
    if emission is not None:
        organs_w = _watershed_organs(work, hu, masks, lm, emission, ct, notes, progress)
    else:
        organs_w = {name: np.zeros(hu.shape, dtype=bool) for name in _ORGANS}
        notes.append(_CT_ONLY)
    marrow_w = _red_marrow(hu, masks, lm, spacing, organs_w, notes)
    _progress(progress, "labels on the CT grid", 0.8)
    label_w = _working_labels(hu.shape, masks, marrow_w, organs_w)
    wv = work.with_array(label_w, operation="organ_labels_working_grid", quantity="label")
    on_ct = wv.resample_to(ct, mode="nearest", default_value=0).array.astype(np.uint8)
    _trim_fat_and_air(on_ct, ct)
    labels = ct.with_array(
        on_ct,
        operation="segment_organs",
        parameters={"working_mm": working_mm, "emission": kind},
        sources=_SOURCES,
        quantity="label",
        unit="1",
        modality="SEG",
        name="organs",
    )
    qualities = _qualities(ct, on_ct, label_w, work, lm, segmented=emission is not None)
    step = Step.make(
        "segment_organs",
        {
            "method": "sstrkit organs: CT tissues + uptake cores + marker watershed",
            "working_mm": working_mm,
            "emission": kind,
            "seconds": round(time.perf_counter() - t0, 2),
        },
        inputs=tuple(n for n in (ct.name, emission.name if emission is not None else "") if n),
        sources=_SOURCES,
    )
    _progress(progress, "done", 1.0)
    return OrganSegmentation(
        labels=labels,
        names=dict(CLASS_NAMES),
        organs=tuple(qualities),
        method="sstrkit-organs-1",
        provenance=step,
        notes=tuple(notes),
    )
