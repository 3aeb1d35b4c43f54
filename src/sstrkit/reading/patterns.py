"""Physiological patterns among the delineated foci, and the flags of the final lesions.

After delineation, :func:`suppress_patterns` removes automatic foci whose shape and
place are physiological (:func:`pattern_of`: a 99mTc tracer's gallbladder, an
adrenal the segmentation did not outline, ureteric urine, bowel; Wang et al. 2013
section 5; Hofman et al. 2015 RadioGraphics 35:500-516) and lists them;
:func:`split_and_flag` then splits lesions by organ label, relabels them 1..N and
flags the uncertain ones (uncinate process, focal uptake in spleen or kidney). The
rules are described in :mod:`sstrkit.reading.segmentation`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.volume import Volume
from sstrkit.reading.anatomy import Landmarks, physical, region_shape, spacing_zyx, within
from sstrkit.reading.organs import OrganMap
from sstrkit.reading.segmentation_settings import (
    PHYSIOLOGICAL_ORGAN_FLAG,
    UNCINATE_FLAG,
    LesionRegion,
    SegmentationSettings,
    SuppressedUptake,
)

__all__ = ["is_tc99m", "pattern_of", "split_and_flag", "suppress_patterns"]

#: Tracers with hepatobiliary excretion (gallbladder activity): 99mTc-labelled ligands.
_TC99M_WORDS = ("99mtc", "tc-99m", "tc99m", "99m-tc", "tc-99", "technetium")


def is_tc99m(tracer: str | None) -> bool:
    """True for 99mTc-labelled tracers (hepatobiliary excretion: gallbladder activity).

    >>> is_tc99m("99mTc-EDDA/HYNIC-TOC"), is_tc99m("68Ga-DOTATATE"), is_tc99m(None)
    (True, False, False)
    """
    if not tracer:
        return False
    low = tracer.lower().replace(" ", "")
    return any(w in low for w in _TC99M_WORDS)


def _gallbladder_zone(
    organs: OrganMap, vol: Volume, marks: Landmarks, cfg: SegmentationSettings
) -> NDArray[np.bool_]:
    """Gallbladder label (+10 mm), or the fossa: outside the liver, within
    ``gallbladder_fossa_mm`` of it, below and anterior to its centre, right of the midline."""
    spacing = spacing_zyx(vol)
    zone = np.zeros(organs.labels.shape, dtype=bool)
    if organs.has("gallbladder"):
        near, sl = within(organs.mask("gallbladder"), 10.0, spacing)
        zone[sl] |= near
    liver = organs.mask("liver")
    if not liver.any() or marks.liver_centroid is None:
        return zone
    near, sl = within(liver, cfg.gallbladder_fossa_mm, spacing)
    idx = np.argwhere(near)
    if not len(idx):
        return zone
    offs = np.array([s.start for s in sl])
    pts = physical(vol, idx + offs)
    lx, ly, lz = marks.liver_centroid
    mid = marks.midline_x if marks.midline_x is not None else lx + 60.0
    sel = (pts[:, 2] < lz) & (pts[:, 1] < ly) & (pts[:, 0] < mid)
    fossa = np.zeros(near.shape, dtype=bool)
    fossa[tuple(idx[sel].T)] = True
    zone[sl] |= fossa & ~liver[sl]
    return zone


def pattern_of(
    region: NDArray[np.bool_],
    box: tuple[slice, ...],
    vmax: float,
    vol: Volume,
    organs: OrganMap,
    marks: Landmarks,
    cfg: SegmentationSettings,
    t_liver: float | None,
    gallbladder: NDArray[np.bool_] | None,
) -> tuple[str, str] | None:
    """(organ, reason) when a delineated focus has a physiological pattern, else None."""
    shape = region_shape(region, vol, [b.start for b in box])
    c = shape.centroid_mm
    ijk = np.rint(vol.physical_to_index(c)).astype(int)[::-1]
    inside = all(0 <= v < n for v, n in zip(ijk, organs.labels.shape, strict=True))
    host = organs.kind_of(int(organs.labels[tuple(ijk)])) if inside else None
    if gallbladder is not None and inside and gallbladder[tuple(ijk)] and host != "liver":
        return (
            "gallbladder",
            "gallbladder fossa: hepatobiliary excretion of a 99mTc-labelled tracer",
        )
    volume_ml = float(region.sum()) * vol.voxel_volume_ml
    if (
        organs.status("adrenal") == "not_visible"
        and volume_ml <= cfg.adrenal_max_volume_ml
        and host not in ("liver", "spleen", "kidney")
        and marks.in_adrenal_region(c)
    ):
        return (
            "adrenal",
            f"adrenal region (adrenals not outlined by the segmentation): {volume_ml:.1f} mL "
            "focus above and medial to the kidney's upper pole, physiological adrenal uptake",
        )
    thin = shape.width_mm <= cfg.tube_max_width_mm
    if (
        cfg.suppress_urinary_tract
        and thin
        and shape.length_mm >= cfg.tube_min_length_mm
        and shape.elongation >= cfg.tube_min_elongation
        and shape.axis_ratio >= cfg.tube_min_elongation
        and abs(shape.axis[2]) >= 0.6
        and marks.in_ureter_corridor(c)
    ):
        return (
            "ureter",
            f"urinary tract: tubular focus ({shape.length_mm:.0f} mm long, "
            f"{shape.width_mm:.0f} mm wide, cranio-caudal) between kidney and bladder",
        )
    if cfg.flag_uncinate_region and not organs.has("pancreas") and marks.in_uncinate_region(c):
        return None  # kept and flagged as possible uncinate uptake, never taken for bowel
    solid = np.zeros(region.shape, dtype=bool)
    for kind in ("liver", "spleen", "kidney", "pancreas"):
        solid |= organs.mask(kind)[box] & region
    if (
        cfg.suppress_bowel
        and t_liver is not None
        and vmax < t_liver
        and host not in ("liver", "spleen", "kidney", "pancreas")
        and solid.sum() < 0.25 * region.sum()
        and marks.abdomen_top_z is not None
        and c[2] < marks.abdomen_top_z
        and (marks.bladder_low_z is None or c[2] >= marks.bladder_low_z - 30.0)
        and shape.width_mm <= cfg.bowel_max_width_mm
        and (
            shape.axis_ratio >= cfg.bowel_min_elongation
            or (shape.elongation >= 3.0 and shape.axis_ratio >= 1.5)
        )
    ):
        return (
            "bowel",
            f"bowel: elongated/curvilinear focus (length/width {shape.elongation:.1f}, axis "
            f"ratio {shape.axis_ratio:.1f}) outside "
            f"the solid organs, SUVmax {vmax:.1f} below the liver lesion threshold "
            f"{t_liver:.1f}",
        )
    return None


def suppress_patterns(
    out: NDArray[np.int32],
    regions: list[LesionRegion],
    arr: NDArray[np.float32],
    suv: Volume,
    organs: OrganMap,
    marks: Landmarks,
    cfg: SegmentationSettings,
    *,
    t_liver: float | None,
    tracer: str | None,
    suppressed: list[SuppressedUptake],
    notes: list[str],
) -> list[LesionRegion]:
    """The automatic foci without a physiological pattern (seed lesions are kept).

    A focus with a pattern (:func:`pattern_of`) is cleared from ``out`` (in place) and
    appended to ``suppressed``; ``t_liver`` is the liver's detection threshold (the
    bowel rule's bar, used only when the liver label is usable).
    """
    vox_ml = suv.voxel_volume_ml
    # physiological patterns (urinary tract, bowel, gallbladder) among the auto foci
    gallbladder = _gallbladder_zone(organs, suv, marks, cfg) if is_tc99m(tracer) else None
    t_bowel = t_liver if organs.usable("liver") else None
    boxes = ndimage.find_objects(out)
    kept: list[LesionRegion] = []
    for reg in regions:
        rsl = boxes[reg.label - 1] if reg.label - 1 < len(boxes) else None
        if reg.origin != "auto" or rsl is None:
            kept.append(reg)
            continue
        sl = rsl
        sel = out[sl] == reg.label
        vmax = float(arr[sl][sel].max())
        found = pattern_of(sel, sl, vmax, suv, organs, marks, cfg, t_bowel, gallbladder)
        if found is None:
            kept.append(reg)
            continue
        organ, reason = found
        idx = np.argwhere(sel).mean(axis=0) + np.array([s_.start for s_ in sl])
        c = suv.index_to_physical(idx[::-1])
        suppressed.append(
            SuppressedUptake(
                organ=organ,
                suv_max=vmax,
                volume_ml=float(sel.sum() * vox_ml),
                centroid_mm=(float(c[0]), float(c[1]), float(c[2])),
                reason=reason,
            )
        )
        out[sl][sel] = 0
    if gallbladder is None and tracer is not None:
        notes.append(f"tracer {tracer}: no gallbladder rule (not a 99mTc-labelled tracer)")
    return kept


def split_and_flag(
    out: NDArray[np.int32],
    regions: list[LesionRegion],
    organs: OrganMap | None,
    suv: Volume,
    cfg: SegmentationSettings,
    marks: Landmarks | None = None,
) -> tuple[NDArray[np.int32], list[LesionRegion]]:
    """Split lesions by organ label, drop small parts, relabel 1..N, flag the uncinate
    (pancreas label, else the uncinate region of ``marks``) and foci in spleen/kidney."""
    vox_ml = suv.voxel_volume_ml
    new = np.zeros_like(out)
    result: list[LesionRegion] = []
    pancreas = organs.mask("pancreas") if organs is not None else None
    head_x: float | None = None
    if pancreas is not None and pancreas.any():
        xs = suv.index_to_physical(np.argwhere(pancreas)[:, ::-1])[:, 0]
        head_x = float(xs.min() + (xs.max() - xs.min()) / 3.0)  # patient-right third
    objs = ndimage.find_objects(out)
    for reg in regions:
        sl = objs[reg.label - 1] if reg.label - 1 < len(objs) else None
        if sl is None:
            continue
        sel = out[sl] == reg.label
        if organs is not None:
            codes_here = organs.labels[sl]
            present = np.unique(codes_here[sel])
            counts = np.bincount(codes_here[sel])
            majority = int(counts.argmax())
            # split only where a second organ holds a substantial part of the lesion;
            # partial-volume rims spilling into a neighbour stay with the majority organ
            big = [
                int(c)
                for c in present
                if counts[c] >= cfg.split_min_fraction * sel.sum()
                and counts[c] * vox_ml >= cfg.min_volume_ml
            ]
            if organs.source == "automatic":
                # an automatic outline may cut a lesion at the organ's edge: the part in
                # the catch-all classes (body, bone) belongs to the organ, no second lesion
                named = [c for c in big if organs.kind_of(c) is not None]
                if named and len(named) < len(big):
                    big = named
                    majority = named[0] if len(named) == 1 else majority
            if cfg.split_by_organ and len(big) > 1:
                owner = np.where(np.isin(codes_here, big), codes_here, -1)
                if (owner[sel] == -1).any():  # small remainders go to the nearest big part
                    _, idx = ndimage.distance_transform_edt(owner == -1, return_indices=True)
                    owner = owner[tuple(idx)]
                parts = [(c, sel & (owner == c)) for c in big]
            else:
                parts = [(majority, sel)]
        else:
            parts = [(0, sel)]
        for code, part in parts:
            small = part.sum() * vox_ml < cfg.min_volume_ml
            if small and (reg.origin == "auto" or len(parts) > 1):
                continue
            organ = organs.name_at(code) if organs is not None else "other"
            flags = list(reg.flags)
            if small:
                flags.append("below_min_volume")
            kind = organs.kind_of(code) if organs is not None else None
            if kind in ("spleen", "kidney"):
                flags.append(PHYSIOLOGICAL_ORGAN_FLAG)
            if (
                kind not in ("pancreas", "liver", "spleen", "kidney")
                and head_x is None
                and cfg.flag_uncinate_region
                and marks is not None
            ):
                idx = np.argwhere(part).mean(axis=0) + np.array([s.start for s in sl])
                c = suv.index_to_physical(idx[::-1])
                if marks.in_uncinate_region((float(c[0]), float(c[1]), float(c[2]))):
                    flags.append(UNCINATE_FLAG)
            if kind == "pancreas":
                low = organ.lower()
                if "uncinate" in low or "head" in low:
                    flags.append(UNCINATE_FLAG)
                elif "body" not in low and "tail" not in low and head_x is not None:
                    idx = np.argwhere(part).mean(axis=0) + np.array([s.start for s in sl])
                    if float(suv.index_to_physical(idx[::-1])[0]) <= head_x:
                        flags.append(UNCINATE_FLAG)
            lab = len(result) + 1
            new[sl][part] = lab
            result.append(
                LesionRegion(
                    lab, organ, reg.origin, reg.threshold_suv, reg.background_suv, tuple(flags)
                )
            )
    return new, result
