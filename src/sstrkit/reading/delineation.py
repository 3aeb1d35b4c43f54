"""Delineation: the lesion label map from the detection maps and the user's seed points.

Seed points (LPS mm) first: the peak within ``seed_search_radius_mm`` is delineated
with the isocontour, bypassing detection and suppression. Then every detection
component, strongest first: for ``fixed`` and ``liver_relative`` the connected
voxels above threshold; for ``percent_max`` one or more foci per component, each the
connected region around its peak with SUV ≥ bg + ``percent`` × (SUVmax − bg),
against the host organ's median or the local shell background, never below the
parenchyma floor and within ± ``max_extent_mm`` of the peak
(:func:`delineate_focus`). The method is described in
:mod:`sstrkit.reading.segmentation`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.reading.detection import DetectionMaps
from sstrkit.reading.reference import ball
from sstrkit.reading.segmentation_settings import LesionRegion, SegmentationSettings

__all__ = ["delineate_focus", "delineate_lesions"]

Box = tuple[slice, slice, slice]


def _shell_median(
    values: NDArray[np.float32],
    region: NDArray[np.bool_],
    exclude: NDArray[np.bool_],
    spacing: tuple[float, float, float],
    inner_mm: float = 8.0,
    width_mm: float = 8.0,
) -> float | None:
    """Median SUV in a shell ``inner_mm``..``inner_mm + width_mm`` around ``region``.

    Voxels of other detected foci and of physiological zones are excluded: the
    local background of a background-adapted isocontour.
    """
    if not region.any():
        return None
    dist = ndimage.distance_transform_edt(~region, sampling=spacing)
    shell = (dist > inner_mm) & (dist <= inner_mm + width_mm) & ~exclude
    if shell.sum() < 10:
        return None
    return float(np.median(values[shell]))


def _connected_to(mask: NDArray[np.bool_], point: tuple[int, ...]) -> NDArray[np.bool_]:
    lab, _ = ndimage.label(mask)
    v = lab[point]
    out: NDArray[np.bool_] = lab == v if v else np.zeros(mask.shape, dtype=bool)
    return out


def _box(
    center: Sequence[int], half: Sequence[int], shape: Sequence[int]
) -> tuple[slice, slice, slice]:
    return tuple(  # type: ignore[return-value]
        slice(max(c - h, 0), min(c + h + 1, n)) for c, h, n in zip(center, half, shape, strict=True)
    )


def delineate_lesions(
    suv: Volume,
    maps: DetectionMaps,
    cfg: SegmentationSettings,
    seeds_mm: Sequence[Sequence[float]] = (),
) -> tuple[NDArray[np.int32], list[LesionRegion]]:
    """Label map (1..N in order of delineation) and regions: seed lesions, then detections.

    Raises
    ------
    InvalidInputError
        A seed point outside the PET field of view.
    """
    out = np.zeros(maps.arr.shape, dtype=np.int32)
    regions: list[LesionRegion] = []
    # seeds first: the user's choice has priority
    for seed in seeds_mm:
        _add_seed_lesion(suv, maps, cfg, out, regions, seed)
    _add_detected_lesions(suv, maps, cfg, out, regions)
    return out, regions


def delineate_focus(
    maps: DetectionMaps,
    cfg: SegmentationSettings,
    out: NDArray[np.int32],
    peak: tuple[int, int, int],
    origin: str,
) -> tuple[NDArray[np.bool_], Box, float, float]:
    """(region in its box, box, isocontour SUV, background SUV) of the focus at ``peak``.

    The region grows over voxels not yet in ``out`` (nor, for ``origin == "auto"``, in
    a physiological zone), within ± ``max_extent_mm`` of the peak.
    """
    arr, shape = maps.arr, maps.arr.shape
    half_box = [int(np.ceil(cfg.max_extent_mm / s)) for s in maps.spacing]
    vmax = float(arr[peak])
    box = _box(peak, half_box, shape)
    free = out[box] == 0
    if origin == "auto":
        free &= ~maps.zone[box]
    low = maps.floor[box]
    rel = tuple(p - b.start for p, b in zip(peak, box, strict=True))

    def grow(level: float) -> NDArray[np.bool_]:
        return _connected_to((arr[box] >= np.maximum(level, low)) & free, rel)

    if not np.isnan(maps.host_bg[peak]):
        # a focus inside an organ with background uptake: the isocontour is set
        # against the organ's own robust level, not the (much lower) blood pool
        local_bg = float(maps.host_bg[peak])
    else:
        # first pass with the reference background, then the measured local
        # background in a shell around the focus
        local_bg = maps.bg
        exclude = maps.detect[box] | maps.zone[box]
        for _ in range(2):
            region = grow(local_bg + cfg.percent * (vmax - local_bg))
            shell_bg = _shell_median(arr[box], region, exclude, maps.spacing)
            if shell_bg is None or shell_bg >= vmax:
                break
            local_bg = shell_bg
    t_iso = local_bg + cfg.percent * (vmax - local_bg)
    region = grow(t_iso)
    return region, box, t_iso, local_bg


def _add_seed_lesion(
    suv: Volume,
    maps: DetectionMaps,
    cfg: SegmentationSettings,
    out: NDArray[np.int32],
    regions: list[LesionRegion],
    seed: Sequence[float],
) -> None:
    """Delineate the peak within ``seed_search_radius_mm`` of a seed point (LPS mm)."""
    arr, shape = maps.arr, maps.arr.shape
    ijk = np.rint(suv.physical_to_index(np.asarray(seed, dtype=float))).astype(int)
    zyx = tuple(int(v) for v in ijk[::-1])
    if not all(0 <= v < n for v, n in zip(zyx, shape, strict=True)):
        raise InvalidInputError(
            "seed point", expected="a point inside the PET field of view", actual=list(seed)
        )
    kern = ball(maps.spacing, cfg.seed_search_radius_mm)
    half = [k // 2 for k in kern.shape]
    box = _box(zyx, half, shape)
    kb = tuple(
        slice(b.start - (c - h), b.stop - (c - h)) for b, c, h in zip(box, zyx, half, strict=True)
    )
    local = np.where(kern[kb], arr[box], -np.inf)
    rel = np.unravel_index(int(np.argmax(local)), local.shape)
    peak = tuple(int(r + b.start) for r, b in zip(rel, box, strict=True))
    region, rbox, t_iso, local_bg = delineate_focus(maps, cfg, out, peak, "seed")  # type: ignore[arg-type]
    if not region.any():
        return
    lab = len(regions) + 1
    out[rbox][region] = lab
    regions.append(LesionRegion(lab, "other", "seed", t_iso, local_bg))


def _add_detected_lesions(
    suv: Volume,
    maps: DetectionMaps,
    cfg: SegmentationSettings,
    out: NDArray[np.int32],
    regions: list[LesionRegion],
) -> None:
    """Delineate the detection components, strongest (highest SUVmax) first."""
    arr = maps.arr
    comp, n = ndimage.label(maps.detect)
    objs = ndimage.find_objects(comp)
    maxima = np.array([float(arr[sl][comp[sl] == i].max()) for i, sl in enumerate(objs, start=1)])
    order = [int(i) + 1 for i in np.argsort(-maxima, kind="stable")] if n else []
    peak_ball = ball(maps.spacing, cfg.candidate_rim_mm)
    for i in order:
        sl = objs[i - 1]
        sel = comp[sl] == i
        if cfg.method != "percent_max":
            _add_thresholded_component(suv, maps, cfg, out, regions, sl, sel)
        else:
            _add_component_foci(suv, maps, cfg, out, regions, sl, sel, peak_ball)


def _add_thresholded_component(
    suv: Volume,
    maps: DetectionMaps,
    cfg: SegmentationSettings,
    out: NDArray[np.int32],
    regions: list[LesionRegion],
    sl: tuple[slice, ...],
    sel: NDArray[np.bool_],
) -> None:
    """``fixed`` / ``liver_relative``: the connected voxels above threshold around the peak."""
    arr, thresh, zone, shape = maps.arr, maps.thresh, maps.zone, maps.arr.shape
    if (out[sl][sel] > 0).all():
        return
    pad = [int(np.ceil(10.0 / s)) for s in maps.spacing]
    rbox = tuple(
        slice(max(s.start - p, 0), min(s.stop + p, n))
        for s, p, n in zip(sl, pad, shape, strict=True)
    )
    t_iso = float(thresh[sl][sel].min())
    vals = np.where(sel, arr[sl], -np.inf)
    rel = np.unravel_index(int(np.argmax(vals)), vals.shape)
    peak_rel = tuple(int(r + s.start - b.start) for r, s, b in zip(rel, sl, rbox, strict=True))
    cand = (arr[rbox] >= thresh[rbox]) & (out[rbox] == 0) & ~zone[rbox]
    region = _connected_to(cand, peak_rel)
    if region.sum() * suv.voxel_volume_ml >= cfg.min_volume_ml and region.any():
        lab = len(regions) + 1
        out[rbox][region] = lab
        regions.append(LesionRegion(lab, "other", "auto", t_iso, maps.bg))


def _add_component_foci(
    suv: Volume,
    maps: DetectionMaps,
    cfg: SegmentationSettings,
    out: NDArray[np.int32],
    regions: list[LesionRegion],
    sl: tuple[slice, ...],
    sel: NDArray[np.bool_],
    peak_ball: NDArray[np.bool_],
) -> None:
    """``percent_max``: one or more foci of a detection component, strongest first.

    Once part of the component is delineated, its rest is mostly the partial-volume
    slope of that lesion: a further focus must lie > 2 voxels from the assigned voxels
    and be a local maximum of the smoothed image within ``candidate_rim_mm``.
    """
    arr, smooth = maps.arr, maps.smooth
    vox_ml = suv.voxel_volume_ml
    tried = np.zeros(sel.shape, dtype=bool)
    while True:
        taken = out[sl] > 0
        cand = sel & ~taken & ~tried
        if taken[sel].any():
            cand &= ~ndimage.binary_dilation(taken & sel, iterations=2)
        if not cand.any():
            break
        vals = np.where(cand, arr[sl], -np.inf)
        prel = tuple(int(v) for v in np.unravel_index(int(np.argmax(vals)), vals.shape))
        piece = _connected_to(cand, prel)
        if taken[sel].any():
            sv = np.where(piece, smooth[sl], -np.inf)
            srel = np.unravel_index(int(np.argmax(sv)), sv.shape)
            speak = tuple(int(r + s.start) for r, s in zip(srel, sl, strict=True))
            if not _is_local_peak(smooth, speak, peak_ball):
                tried |= piece
                continue
        peak = tuple(int(r + s.start) for r, s in zip(prel, sl, strict=True))
        region, rbox, t_iso, local_bg = delineate_focus(maps, cfg, out, peak, "auto")  # type: ignore[arg-type]
        if region.sum() * vox_ml < cfg.min_volume_ml or not region.any():
            tried |= piece
            continue
        lab = len(regions) + 1
        out[rbox][region] = lab
        regions.append(LesionRegion(lab, "other", "auto", float(t_iso), float(local_bg)))


def _is_local_peak(
    smooth: NDArray[np.float32], p: tuple[int, ...], peak_ball: NDArray[np.bool_]
) -> bool:
    """True when the smoothed image at ``p`` is the maximum of its rim-sized ball."""
    peak_half = [k // 2 for k in peak_ball.shape]
    box = _box(p, peak_half, smooth.shape)
    kb = tuple(
        slice(b.start - (c - h), b.stop - (c - h))
        for b, c, h in zip(box, p, peak_half, strict=True)
    )
    return bool(smooth[p] >= smooth[box][peak_ball[kb]].max())
