"""Organ cores from the emission image: hot components at many levels, named by anatomy.

SSTR PET and 177Lu-SSTR SPECT show the kidneys, spleen, liver and urinary
bladder as the largest structures with uptake well above the rest of the body
(physiological pattern: Hofman et al. 2015 RadioGraphics 35:500; Kuyumcu et al. 2019
Eur J Nucl Med Mol Imaging 46:1045). Components of the uptake above a ladder of
levels (×1.3 apart) form a component tree; each organ takes the most extensive
component (the lowest level) that lies where the organ lies relative to the spine,
the body outline and the lung bases, and whose volume is plausible
(:data:`PRIORS`). The cores seed the competitive watershed of
:mod:`sstrkit.organs.segment`; they are not the final organ outlines.

Examples
--------
>>> PRIORS["kidney_left"].side, PRIORS["spleen"].volume_ml
('left', (25.0, 1600.0))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.organs.ct import Landmarks

__all__ = ["PRIORS", "Candidate", "OrganPrior", "candidates", "identify"]


@dataclass(frozen=True)
class OrganPrior:
    """Where an organ's uptake component may lie.

    ``dx`` is the centroid's lateral offset from the spine in body half-widths,
    positive toward the organ's side (``side='mid'``: absolute offset); ``dy`` the
    antero-posterior offset from the spine axis in body half-depths (+ posterior);
    ``dz_mm`` the cranio-caudal offset from the ipsilateral lung base (mm, + head);
    ``volume_ml`` the component volume.
    """

    side: Literal["left", "right", "mid"]
    dx: tuple[float, float]
    dy: tuple[float, float]
    dz_mm: tuple[float, float]
    volume_ml: tuple[float, float]


#: Anatomical windows (adult trunk; wide enough for the ICRP/ORNL reference shapes and
#: common variation: kidneys at T12–L3, spleen under the left hemidiaphragm, liver
#: under the right; volumes from ICRP 89 reference masses × 0.25–3).
PRIORS: Mapping[str, OrganPrior] = {
    "kidney_left": OrganPrior("left", (0.12, 0.75), (-0.75, 0.45), (-300.0, -30.0), (25.0, 500.0)),
    "kidney_right": OrganPrior(
        "right", (0.12, 0.75), (-0.75, 0.45), (-320.0, -30.0), (25.0, 500.0)
    ),
    "spleen": OrganPrior("left", (0.2, 1.0), (-1.2, 0.5), (-200.0, 60.0), (25.0, 1600.0)),
    "liver": OrganPrior("right", (-0.35, 1.0), (-2.0, 1.0), (-250.0, 60.0), (350.0, 6000.0)),
    # the bladder lies 300-450 mm below the lung bases in adults; -260 mm keeps para-aortic
    # nodes and the pancreas (about 200 mm below) out
    "urinary_bladder": OrganPrior("mid", (0.0, 0.35), (-2.0, 0.2), (-900.0, -260.0), (8.0, 1500.0)),
}


@dataclass(frozen=True)
class Candidate:
    """One connected component of ``uptake >= level`` (working-grid indices)."""

    level: float
    index: int
    volume_ml: float
    centroid: tuple[float, float, float]  # (z, y, x) index
    mean: float
    peak: float
    n_voxels: int
    merged: bool = False


def _levels(rel: NDArray[np.float32], start: float, step: float = 1.3) -> list[float]:
    top = float(np.percentile(rel[rel > start], 99.9)) if np.any(rel > start) else start
    out = []
    t = start
    while t < top:
        out.append(t)
        t *= step
    return out


def candidates(
    rel: NDArray[np.float32],
    mask: NDArray[np.bool_],
    voxel_ml: float,
    *,
    start: float,
    min_ml: float = 2.0,
) -> list[Candidate]:
    """Components of ``rel >= level`` inside ``mask`` for a geometric ladder of levels."""
    out: list[Candidate] = []
    inside = (rel >= start) & mask
    idx = np.flatnonzero(inside)  # only voxels above the first level are ever labelled
    if idx.size == 0:
        return out
    zi, yi, xi = (a.astype(np.float64) for a in np.unravel_index(idx, rel.shape))
    vals = rel.ravel()[idx].astype(np.float64)
    labels_at: dict[float, NDArray[np.int32]] = {}
    for t in _levels(rel[mask], start):
        lab, n = ndimage.label((rel >= t) & mask)
        if n == 0:
            continue
        flat = lab.ravel()[idx]
        labels_at[t] = flat.astype(np.int32)
        counts = np.bincount(flat, minlength=n + 1)
        keep = np.nonzero(counts * voxel_ml >= min_ml)[0]
        keep = keep[keep > 0]
        if keep.size == 0:
            continue
        sz = np.bincount(flat, weights=zi, minlength=n + 1)
        sy = np.bincount(flat, weights=yi, minlength=n + 1)
        sx = np.bincount(flat, weights=xi, minlength=n + 1)
        se = np.bincount(flat, weights=vals, minlength=n + 1)
        peaks = np.zeros(n + 1)
        np.maximum.at(peaks, flat, vals)
        for i in keep:
            c = float(counts[i])
            out.append(
                Candidate(
                    level=t,
                    index=int(i),
                    volume_ml=c * voxel_ml,
                    centroid=(float(sz[i] / c), float(sy[i] / c), float(sx[i] / c)),
                    mean=float(se[i] / c),
                    peak=float(peaks[i]),
                    n_voxels=int(c),
                )
            )
    return _mark_merged(out, idx, labels_at, rel.shape)


def _mark_merged(
    cands: list[Candidate],
    idx: NDArray[np.intp],
    labels_at: Mapping[float, NDArray[np.int32]],
    shape: tuple[int, ...],
) -> list[Candidate]:
    """Flag components that split into two or more large parts at a higher level.

    A component holding two organs joined at a low level (spleen touching the left
    kidney) has, at some higher level, at least two children each of at least 20 mL and
    15 % of its volume that together keep at least half of it; such a component is no
    organ. (A liver with lesions is not flagged: where its lesions separate, the liver
    itself has gone below the level, so the children keep less than half.) Children are
    found by the component that holds their centroid voxel at each lower level.
    """
    from dataclasses import replace

    children: dict[tuple[float, int], dict[float, list[float]]] = {}
    for c in cands:
        f = int(np.ravel_multi_index(tuple(round(v) for v in c.centroid), shape))
        pos = int(np.searchsorted(idx, f))
        if pos >= idx.size or int(idx[pos]) != f:
            continue
        for t, lab in labels_at.items():
            if t >= c.level:
                continue
            parent = int(lab[pos])
            if parent:
                children.setdefault((t, parent), {}).setdefault(c.level, []).append(c.volume_ml)
    out = []
    for c in cands:
        big = max(20.0, 0.15 * c.volume_ml)
        kids = children.get((c.level, c.index), {})
        merged = any(
            len(large) >= 2 and sum(large) >= 0.5 * c.volume_ml
            for large in ([v for v in vols if v >= big] for vols in kids.values())
        )
        out.append(replace(c, merged=merged) if merged else c)
    return out


def component_mask(
    rel: NDArray[np.float32], mask: NDArray[np.bool_], cand: Candidate
) -> NDArray[np.bool_]:
    """Voxel mask of a candidate (recomputed: candidates keep no arrays)."""
    lab, _ = ndimage.label((rel >= cand.level) & mask)
    out: NDArray[np.bool_] = lab == cand.index
    return out


#: Typical centroid of each organ's component (dx, dy in body half-width/-depth,
#: dz in mm from the ipsilateral lung base) and the scale of each term of the cost.
TYPICAL: Mapping[str, tuple[float, float, float]] = {
    "kidney_left": (0.38, 0.0, -130.0),
    "kidney_right": (0.38, 0.0, -145.0),
    "spleen": (0.6, -0.25, -50.0),
    "liver": (0.3, -0.4, -70.0),
    "urinary_bladder": (0.0, -0.6, -500.0),
}
_SCALE = (0.2, 0.4, 80.0)


def _offsets(
    name: str, c: Candidate, lm: Landmarks, spacing_xyz: tuple[float, float, float]
) -> tuple[float, float, float]:
    p = PRIORS[name]
    z, y, x = c.centroid
    dx = (x - lm.spine_x) / lm.half_width
    if p.side == "right":  # patient right is -x (LPS)
        dx = -dx
    elif p.side == "mid":
        dx = abs(dx)
    dy = (y - lm.spine_y) / lm.half_depth
    base = lm.lung_base_left if p.side == "left" else lm.lung_base_right
    if base is None:
        base = lm.lung_base_right if p.side == "left" else lm.lung_base_left
    if base is None:  # no lungs in the field of view: the top of the field stands in
        base = float(lm.z_top)
    dz = (z - base) * spacing_xyz[2]
    return dx, dy, dz


def _fits(name: str, c: Candidate, lm: Landmarks, spacing_xyz: tuple[float, float, float]) -> bool:
    p = PRIORS[name]
    dx, dy, dz = _offsets(name, c, lm, spacing_xyz)
    return (
        p.dx[0] <= dx <= p.dx[1]
        and p.dy[0] <= dy <= p.dy[1]
        and p.dz_mm[0] <= dz <= p.dz_mm[1]
        and p.volume_ml[0] <= c.volume_ml <= p.volume_ml[1]
    )


def _cost(
    name: str,
    c: Candidate,
    lm: Landmarks,
    spacing_xyz: tuple[float, float, float],
    level_rank: int,
) -> float:
    dx, dy, dz = _offsets(name, c, lm, spacing_xyz)
    t = TYPICAL[name]
    pos = abs(dx - t[0]) / _SCALE[0] + abs(dy - t[1]) / _SCALE[1]
    if name != "urinary_bladder":
        pos += abs(dz - t[2]) / _SCALE[2]
    return pos + 0.15 * level_rank


def identify(
    cands: list[Candidate],
    rel: NDArray[np.float32],
    mask: NDArray[np.bool_],
    lm: Landmarks,
    spacing_xyz: tuple[float, float, float],
    hu: NDArray[np.float32],
) -> dict[str, tuple[Candidate, NDArray[np.bool_]]]:
    """Name components by a greedy assignment on anatomical cost.

    Every (organ, component) pair that fits the organ's window (:data:`PRIORS`) gets a
    cost: distance of the centroid from the organ's typical place (:data:`TYPICAL`,
    in units of :data:`_SCALE`) plus 0.15 per level step (the most extensive
    component of a structure is preferred). Pairs are taken cheapest first; a component
    overlapping an organ already named by more than 20 % of its voxels is skipped
    (the liver up to 60 %: at low levels it may hold the right kidney's core, which
    the competition of seeds removes later). The bladder must be water-like on CT.
    """
    levels = sorted({c.level for c in cands})
    rank = {t: i for i, t in enumerate(levels)}
    pairs: list[tuple[float, str, Candidate]] = []
    for name in PRIORS:
        for c in cands:
            if not c.merged and _fits(name, c, lm, spacing_xyz):
                pairs.append((_cost(name, c, lm, spacing_xyz, rank[c.level]), name, c))
    pairs.sort(key=lambda p: (p[0], p[1], p[2].level, p[2].index))
    found: dict[str, tuple[Candidate, NDArray[np.bool_]]] = {}
    taken = np.zeros(rel.shape, dtype=bool)
    labelled: dict[float, NDArray[np.int32]] = {}
    for _, name, c in pairs:
        if name in found:
            continue
        if c.level not in labelled:
            labelled[c.level] = ndimage.label((rel >= c.level) & mask)[0]
        m = labelled[c.level] == c.index
        overlap = float((m & taken).sum()) / max(int(m.sum()), 1)
        limit = 0.6 if name == "liver" else 0.2
        ok = overlap <= limit
        if ok and name == "urinary_bladder":
            mhu = float(np.median(hu[m]))
            ok = -30.0 <= mhu <= 45.0  # urine is water-like on CT
        if not ok:
            continue
        found[name] = (c, m)
        if name != "liver":  # the liver's component may hold other organs' cores
            taken |= m
    return found
