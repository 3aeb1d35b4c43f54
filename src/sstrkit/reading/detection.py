"""Detection: where a voxel may belong to a lesion, before any focus is delineated.

:func:`detection_maps` builds the per-voxel state the delineation works on
(:class:`DetectionMaps`): the reference background and the detection threshold
outside organs (by method), the robust level of every organ with background uptake
(:class:`OrganBackground`; its threshold also applies within ``organ_margin_mm`` of
it, and its parenchyma noise ceiling is the floor of lesion growth), the mask of
voxels above threshold on the smoothed *and* the raw image, and the suppression of
liver parenchyma outside an automatic liver outline and of physiological organs
(kidneys, spleen, bladder, adrenals, pituitary), keeping focal uptake well above a
spleen's or kidney's own level. The method is described in
:mod:`sstrkit.reading.segmentation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.reading.anatomy import spacing_zyx, within
from sstrkit.reading.organs import (
    MISSING_STATUSES,
    NO_BACKGROUND_KINDS,
    PHYSIOLOGICAL_KINDS,
    OrganMap,
)
from sstrkit.reading.reference import ReferenceSet, ball
from sstrkit.reading.segmentation_settings import SegmentationSettings, SuppressedUptake

__all__ = ["DetectionMaps", "OrganBackground", "detection_maps"]


@dataclass(frozen=True)
class OrganBackground:
    """Robust uptake level of an organ that can hold lesions (liver, pancreas, ...).

    ``median_suv`` and ``robust_sd_suv`` (1.4826 × MAD) are taken over the raw
    voxels of the organ minus the detection candidates and their partial-volume
    rim; ``detect_suv`` is the detection threshold on the smoothed image and
    ``floor_suv`` = median + ``organ_noise_sd`` × robust SD the parenchyma noise
    ceiling below which no lesion voxel is grown in or near the organ.
    ``measurable`` is false when candidates and their rims cover more than
    three quarters of the organ (a lesion filling a small organ): the statistics
    are then those of the whole label, used for detection only (capped at the
    liver's threshold), and lesions there are delineated against their local
    shell background without a parenchyma floor.
    """

    name: str
    median_suv: float
    robust_sd_suv: float
    detect_suv: float
    floor_suv: float
    n_voxels: int
    excluded_fraction: float
    measurable: bool = True


def _robust(values: NDArray[np.float32]) -> tuple[float, float]:
    med = float(np.median(values))
    return med, 1.4826 * float(np.median(np.abs(values - med)))


def _organ_background(
    name: str,
    mask: NDArray[np.bool_],
    arr: NDArray[np.float32],
    smooth: NDArray[np.float32],
    spacing: tuple[float, float, float],
    cfg: SegmentationSettings,
    t_min: float,
    t_max: float,
) -> OrganBackground:
    """Organ level with the lesions excluded (iterated until the candidate set is stable).

    Lesion labels are filled with their host organ, so the organ label contains
    its lesions: candidates above the current detection threshold (smoothed
    image, clipped to ``t_min``..``t_max``) and a ``candidate_rim_mm`` rim around
    them are removed and the statistics redone, at most 5 times; when less than a
    quarter of the organ would remain, the organ is not ``measurable``.
    """

    def detect_level(values: NDArray[np.float32]) -> float:
        med, rsd = _robust(values)
        t = med + max(cfg.liver_detect_sd * rsd, (cfg.liver_detect_ratio - 1.0) * med)
        return min(max(t, t_min), t_max)

    # work in the organ's bounding box (padded by the rim) for speed
    objs = ndimage.find_objects(mask.astype(np.int8))
    pad = [int(np.ceil(cfg.candidate_rim_mm / s)) + 1 for s in spacing]
    box = tuple(
        slice(max(o.start - p, 0), min(o.stop + p, n))
        for o, p, n in zip(objs[0], pad, mask.shape, strict=True)
    )
    mask, arr, smooth = mask[box], arr[box], smooth[box]
    n_organ = int(mask.sum())
    keep = mask
    measurable = True
    rim = ball(spacing, cfg.candidate_rim_mm) if cfg.candidate_rim_mm > 0 else None
    for _ in range(5):
        cand = mask & (smooth > detect_level(smooth[keep]))
        if rim is not None and cand.any():
            cand = ndimage.binary_dilation(cand, structure=rim)
        new = mask & ~cand
        if new.sum() < 0.25 * n_organ:
            measurable = False
            keep = mask
            break
        if np.array_equal(new, keep):
            break
        keep = new
    detect = detect_level(smooth[keep])
    med_r, rsd_r = _robust(arr[keep])
    return OrganBackground(
        name=name,
        median_suv=med_r,
        robust_sd_suv=rsd_r,
        detect_suv=detect,
        # the noise ceiling never exceeds what would be detected as a lesion
        floor_suv=min(med_r + cfg.organ_noise_sd * rsd_r, detect),
        n_voxels=int(keep.sum()),
        excluded_fraction=1.0 - float(keep.sum()) / n_organ,
        measurable=measurable,
    )


def _background(arr: NDArray[np.float32], refs: ReferenceSet) -> tuple[float, str]:
    if refs.blood_pool_mean is not None:
        return refs.blood_pool_mean, "blood-pool SUVmean"
    body = arr > 0.3
    if not body.any():
        return float(np.median(arr)), "median SUV of the image"
    return float(np.median(arr[body])), "median SUV of the body (SUV > 0.3)"


def _physiological_zone(
    organs: OrganMap, vol: Volume, margin_mm: float
) -> tuple[NDArray[np.bool_], NDArray[np.int32]]:
    """Physiological organs dilated by ``margin_mm`` and the nearest organ code there."""
    zone = np.zeros(organs.labels.shape, dtype=bool)
    codes = np.zeros(organs.labels.shape, dtype=np.int32)
    spacing = spacing_zyx(vol)
    pad = [int(np.ceil(margin_mm / s)) + 1 for s in spacing]
    for code, name in organs.names.items():
        if organs.kind_of(code) not in PHYSIOLOGICAL_KINDS:
            continue
        if organs.quality.get(name) in MISSING_STATUSES:
            # a flagged outline (e.g. a 1 mL "bladder" that is a lymph node) must not hide
            # uptake: only organs that passed their plausibility check suppress anything
            continue
        m = organs.labels == code
        objs = ndimage.find_objects(m.astype(np.int8))
        if not objs or objs[0] is None:
            continue
        sl = tuple(
            slice(max(s.start - p, 0), min(s.stop + p, n))
            for s, p, n in zip(objs[0], pad, m.shape, strict=True)
        )
        dist = ndimage.distance_transform_edt(~m[sl], sampling=spacing)
        near = dist <= margin_mm
        sub_codes = codes[sl]
        sub_codes[near & ~zone[sl]] = code
        zone[sl] |= near
    return zone, codes


@dataclass
class DetectionMaps:
    """Per-voxel detection state on the PET grid (numpy z, y, x), filled step by step.

    ``thresh`` is the detection threshold (smoothed and raw image); no lesion voxel is
    grown below ``floor``; ``host_bg`` is the robust median of the organ a voxel lies
    in (NaN outside organs with a measurable background); ``liver_ext`` marks
    liver-level uptake contiguous with an automatic liver outline; ``detect`` the
    voxels above threshold left after suppression; ``zone`` the physiological organs
    (+ margin) and ``zone_codes`` the nearest organ code there. ``t_out`` is the
    threshold outside organs, ``t_liver`` the liver's (None without a liver label).
    """

    arr: NDArray[np.float32]
    smooth: NDArray[np.float32]
    spacing: tuple[float, float, float]
    bg: float
    bg_source: str
    t_out: float
    thresh: NDArray[np.float32]
    floor: NDArray[np.float32]
    host_bg: NDArray[np.float32]
    liver_ext: NDArray[np.bool_]
    detect: NDArray[np.bool_]
    zone: NDArray[np.bool_]
    zone_codes: NDArray[np.int32]
    t_liver: float | None = None
    organ_bgs: dict[str, OrganBackground] = field(default_factory=dict)
    suppressed: list[SuppressedUptake] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def detection_maps(
    suv: Volume,
    references: ReferenceSet,
    organs: OrganMap | None,
    cfg: SegmentationSettings,
) -> DetectionMaps:
    """Thresholds, organ levels and the detection mask, physiological uptake suppressed.

    Raises
    ------
    InvalidInputError
        ``liver_relative`` method without a liver reference.
    """
    arr = np.asarray(suv.array, dtype=np.float32)
    shape = arr.shape
    spacing = spacing_zyx(suv)
    bg, bg_source = _background(arr, references)
    liver_mean = references.liver_mean
    liver_mask = organs.mask("liver") if organs is not None else np.zeros(shape, dtype=bool)
    smooth = _smoothed(arr, spacing, cfg)
    t_out = _outside_threshold(cfg, bg, liver_mean)
    maps = DetectionMaps(
        arr=arr,
        smooth=smooth,
        spacing=spacing,
        bg=bg,
        bg_source=bg_source,
        t_out=t_out,
        thresh=np.full(shape, t_out, dtype=np.float32),
        floor=np.zeros(shape, dtype=np.float32),
        host_bg=np.full(shape, np.nan, dtype=np.float32),
        liver_ext=np.zeros(shape, dtype=bool),
        detect=np.zeros(shape, dtype=bool),
        zone=np.zeros(shape, dtype=bool),
        zone_codes=np.zeros(shape, dtype=np.int32),
    )
    if organs is not None:
        uptake = _uptake_organs(organs)
        _organ_levels(maps, organs, uptake, cfg)
        _organ_margins(maps, organs, uptake, cfg)
        _liver_extension(maps, organs, uptake, cfg)
    if liver_mean is not None and not liver_mask.any():
        maps.notes.append("no liver label: organ-specific detection thresholds are not applied")

    # smoothed AND raw above threshold: smoothing suppresses noise maxima, the raw
    # test removes spill-over from a neighbouring hotter organ into a cooler one
    maps.detect = (smooth > maps.thresh) & (arr > maps.thresh)
    if maps.liver_ext.any() and maps.t_liver is not None:
        _suppress_liver_extension(maps, suv, cfg)
    if organs is not None and cfg.suppress_physiological:
        _suppress_physiological(maps, organs, suv, cfg)
    elif organs is None:
        maps.notes.append(
            "no organ labels: physiological uptake (kidneys, spleen, bladder, adrenals, "
            "pituitary) is NOT suppressed; pass organ labels"
        )
    return maps


def _smoothed(
    arr: NDArray[np.float32], spacing: tuple[float, float, float], cfg: SegmentationSettings
) -> NDArray[np.float32]:
    """The image Gaussian-smoothed by ``detect_smoothing_mm`` (σ), or ``arr`` itself."""
    if cfg.detect_smoothing_mm > 0:
        sigma = [cfg.detect_smoothing_mm / s for s in spacing]
        smooth: NDArray[np.float32] = ndimage.gaussian_filter(arr, sigma=sigma).astype(np.float32)
        return smooth
    return arr


def _outside_threshold(cfg: SegmentationSettings, bg: float, liver_mean: float | None) -> float:
    """Detection threshold outside organs with background uptake, by method."""
    if cfg.method == "percent_max":
        return cfg.background_factor * bg
    if cfg.method == "fixed":
        return cfg.fixed_suv
    if liver_mean is None:
        raise InvalidInputError(
            "liver-relative segmentation",
            expected="a liver reference",
            actual="none found",
            fix="pass organ labels with a liver, or use --method percent_max/fixed",
        )
    return cfg.liver_factor * liver_mean


def _uptake_organs(organs: OrganMap) -> list[tuple[int, NDArray[np.bool_]]]:
    """(code, mask) of the organs with background uptake that may hold lesions, liver first.

    Liver, pancreas and any labelled organ that is not physiological, blood or
    unrecognised: lesions there are detected above the organ's own robust level.
    """
    uptake: list[tuple[int, NDArray[np.bool_]]] = []
    for code in organs.names:
        kind = organs.kind_of(code)
        if kind is None or kind in PHYSIOLOGICAL_KINDS or kind in NO_BACKGROUND_KINDS:
            continue
        m = organs.labels == code
        if m.any():
            uptake.append((code, m))
    # the liver first: a lesion filling a small organ raises that organ's level, so
    # other organs never demand more contrast than the liver
    uptake.sort(key=lambda cm: organs.kind_of(cm[0]) != "liver")
    return uptake


def _organ_levels(
    maps: DetectionMaps,
    organs: OrganMap,
    uptake: list[tuple[int, NDArray[np.bool_]]],
    cfg: SegmentationSettings,
) -> None:
    """Each uptake organ's robust level (lesions excluded): its threshold and host median."""
    for code, m in uptake:
        name = organs.names[code]
        is_liver = organs.kind_of(code) == "liver"
        t_liver = maps.t_liver
        cap = np.inf if (is_liver or t_liver is None) else max(t_liver, maps.t_out)
        ob = _organ_background(name, m, maps.arr, maps.smooth, maps.spacing, cfg, maps.t_out, cap)
        maps.organ_bgs[name] = ob
        if is_liver:
            maps.t_liver = ob.detect_suv if t_liver is None else max(t_liver, ob.detect_suv)
        maps.thresh[m] = ob.detect_suv
        if ob.measurable:
            maps.host_bg[m] = ob.median_suv
        else:
            maps.notes.append(
                f"{name}: organ background not measurable (candidates cover > 75 % of "
                "the label); lesions there use the local shell background"
            )


def _organ_margins(
    maps: DetectionMaps,
    organs: OrganMap,
    uptake: list[tuple[int, NDArray[np.bool_]]],
    cfg: SegmentationSettings,
) -> None:
    """Spill-over: an organ's threshold and noise ceiling also hold within its margin.

    Blurring cannot raise a voxel near an organ above the organ's own level, so within
    ``organ_margin_mm`` of it a focus must beat that organ's threshold too, and no
    lesion is grown below its parenchyma noise ceiling.
    """
    for code, m in uptake:
        ob = maps.organ_bgs[organs.names[code]]
        near, sl = within(m, cfg.organ_margin_mm, maps.spacing)
        sub = maps.thresh[sl]
        sub[near] = np.maximum(sub[near], ob.detect_suv)
        if ob.measurable:
            fsub = maps.floor[sl]
            fsub[near] = np.maximum(fsub[near], ob.floor_suv)


def _liver_extension(
    maps: DetectionMaps,
    organs: OrganMap,
    uptake: list[tuple[int, NDArray[np.bool_]]],
    cfg: SegmentationSettings,
) -> None:
    """Mark liver-level uptake contiguous with an automatic liver outline (``liver_ext``).

    An automatic liver outline can miss parenchyma (caudate lobe, dome): uptake near
    liver level contiguous with the label within ``liver_extension_mm`` of it marks
    detection components that are liver, unless they hold a focus above the liver's
    threshold (:func:`_suppress_liver_extension`, after detection).
    """
    for code, m in uptake:
        ob = maps.organ_bgs[organs.names[code]]
        if (
            organs.source != "automatic"
            or organs.kind_of(code) != "liver"
            or not ob.measurable
            or cfg.liver_extension_mm <= 0
        ):
            continue
        near, sl = within(m, cfg.liver_extension_mm, maps.spacing)
        level, _ = ndimage.label(
            near & (maps.smooth[sl] >= cfg.liver_extension_level * ob.median_suv)
        )
        touching = np.unique(level[m[sl]])
        ext_box = maps.liver_ext[sl]
        ext_box |= np.isin(level, touching[touching > 0]) & ~m[sl]


def _suppress_liver_extension(maps: DetectionMaps, suv: Volume, cfg: SegmentationSettings) -> None:
    """Remove detection components in ``liver_ext`` that stay below the liver's threshold."""
    t_liver = maps.t_liver
    assert t_liver is not None
    comp, _ = ndimage.label(maps.detect)
    ids = np.unique(comp[maps.liver_ext & maps.detect])
    ids = ids[ids > 0]
    if not len(ids):
        return
    peaks = np.asarray(ndimage.maximum(maps.arr, comp, ids), dtype=float)
    for i, top in zip(ids, peaks, strict=True):
        if top >= t_liver:
            continue  # holds a focus above the liver's threshold: read on
        part = comp == i
        maps.detect &= ~part
        idx = np.argwhere(part).mean(axis=0)
        c = suv.index_to_physical(idx[::-1])
        maps.suppressed.append(
            SuppressedUptake(
                organ="liver",
                suv_max=float(top),
                volume_ml=float(part.sum() * suv.voxel_volume_ml),
                centroid_mm=(float(c[0]), float(c[1]), float(c[2])),
                reason="liver-level uptake contiguous with the automatic liver outline "
                f"(within {cfg.liver_extension_mm:g} mm), below the liver's lesion "
                f"threshold {t_liver:.1f}: parenchyma outside the outline",
            )
        )


def _suppress_physiological(
    maps: DetectionMaps, organs: OrganMap, suv: Volume, cfg: SegmentationSettings
) -> None:
    """Suppress detections within ``physiological_margin_mm`` of physiological organs.

    Focal uptake well above a spleen's or kidney's own level stays detectable
    (:func:`_allow_focal_uptake`); every suppressed component is listed.
    """
    maps.zone, maps.zone_codes = _physiological_zone(organs, suv, cfg.physiological_margin_mm)
    _allow_focal_uptake(maps, organs, cfg)
    phys_lab, _ = ndimage.label(maps.detect & maps.zone)
    for i, sl in enumerate(ndimage.find_objects(phys_lab), start=1):
        if sl is None:
            continue
        sel = phys_lab[sl] == i
        codes = maps.zone_codes[sl][sel]
        code = int(np.bincount(codes[codes > 0]).argmax()) if (codes > 0).any() else 0
        idx = np.argwhere(sel).mean(axis=0) + np.array([s.start for s in sl])
        c = suv.index_to_physical(idx[::-1])
        maps.suppressed.append(
            SuppressedUptake(
                organ=organs.name_at(code),
                suv_max=float(maps.arr[sl][sel].max()),
                volume_ml=float(sel.sum() * suv.voxel_volume_ml),
                centroid_mm=(float(c[0]), float(c[1]), float(c[2])),
                reason=f"physiological {organs.kind_of(code) or 'organ'} uptake (within "
                f"{cfg.physiological_margin_mm:g} mm of the organ label)",
            )
        )
    maps.detect &= ~maps.zone


def _allow_focal_uptake(maps: DetectionMaps, organs: OrganMap, cfg: SegmentationSettings) -> None:
    """Take compact foci well above a spleen's or kidney's own level out of the zone.

    Focal uptake well above such an organ's robust level is not physiological: it is
    detected against the organ (never the organ as a whole) and flagged later.
    """
    focal_kinds = ("spleen", "kidney")
    focal_cfg = replace(
        cfg,
        liver_detect_ratio=cfg.physiological_focal_ratio,
        liver_detect_sd=cfg.physiological_focal_sd,
    )
    rim = ball(maps.spacing, cfg.candidate_rim_mm) if cfg.candidate_rim_mm > 0 else None
    arr, smooth = maps.arr, maps.smooth
    for code in organs.names:
        if organs.kind_of(code) not in focal_kinds:
            continue
        m = organs.labels == code
        if m.sum() < 10:
            continue
        ob = _organ_background(
            organs.names[code], m, arr, smooth, maps.spacing, focal_cfg, maps.t_out, np.inf
        )
        maps.organ_bgs[organs.names[code]] = ob
        if not ob.measurable:
            continue
        hot = m & (smooth > ob.detect_suv) & (arr > ob.detect_suv)
        if not hot.any():
            continue
        allowed = ndimage.binary_dilation(hot, structure=rim) & m if rim is not None else hot
        maps.zone[allowed] = False
        maps.zone_codes[allowed] = 0
        maps.thresh[allowed] = ob.detect_suv
        maps.floor[allowed] = ob.floor_suv
        maps.host_bg[m] = ob.median_suv
        maps.detect[allowed] = hot[allowed]
