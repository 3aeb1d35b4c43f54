"""Where the reading organs lie, and the size and shape of a focus (LPS mm).

:func:`landmarks` derives the body midline, the front of the lumbar spine, the
kidneys, the bladder floor, the liver centroid and the top of the abdomen from an
organ map on the PET grid (:class:`Landmarks`, with the uncinate, adrenal and
ureter regions the pattern rules test); :func:`region_shape` measures a focus's
principal-axis length, inscribed width and axis ratio (:class:`Shape`). The grid
helpers convert numpy (z, y, x) indices and spacings.

>>> import numpy as np
>>> from sstrkit.core.volume import Volume
>>> vol = Volume.from_array(np.zeros((20, 5, 5)), spacing=(2.0, 2.0, 2.0))
>>> rod = np.zeros((20, 5, 5), dtype=bool); rod[2:18, 2, 2] = True
>>> s = region_shape(rod, vol)
>>> round(s.length_mm, 1), round(s.width_mm, 1), [round(abs(a), 2) for a in s.axis]
(32.0, 2.0, [0.0, 0.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.volume import Volume
from sstrkit.reading.organs import OrganMap

__all__ = [
    "Landmarks",
    "Point",
    "Shape",
    "landmarks",
    "physical",
    "region_shape",
    "spacing_zyx",
    "within",
]

Point = tuple[float, float, float]


def spacing_zyx(vol: Volume) -> tuple[float, float, float]:
    """Voxel spacing in numpy (z, y, x) order (mm)."""
    sx, sy, sz = vol.spacing
    return (sz, sy, sx)


def within(
    mask: NDArray[np.bool_], margin_mm: float, spacing: tuple[float, float, float]
) -> tuple[NDArray[np.bool_], tuple[slice, ...]]:
    """``mask`` dilated by ``margin_mm`` (Euclidean), computed in its bounding box."""
    objs = ndimage.find_objects(mask.astype(np.int8))
    sl0 = objs[0] if objs and objs[0] is not None else tuple(slice(0, 0) for _ in mask.shape)
    pad = [int(np.ceil(margin_mm / s)) + 1 for s in spacing]
    sl = tuple(
        slice(max(s.start - p, 0), min(s.stop + p, n))
        for s, p, n in zip(sl0, pad, mask.shape, strict=True)
    )
    near = ndimage.distance_transform_edt(~mask[sl], sampling=spacing) <= margin_mm
    return near, sl


def physical(vol: Volume, idx_zyx: NDArray[np.int64]) -> NDArray[np.float64]:
    """LPS mm of voxel indices given as (n, 3) numpy (z, y, x) rows."""
    out: NDArray[np.float64] = vol.index_to_physical(np.asarray(idx_zyx, dtype=float)[:, ::-1])
    return np.atleast_2d(out)


@dataclass(frozen=True)
class Landmarks:
    """Where the reading organs lie (LPS mm), for the pattern rules and the uncinate region.

    ``midline_x`` and ``spine_anterior_y`` come from the lumbar vertebral bodies
    (``red_marrow_lumbar``, else bone near the body's midline at kidney level);
    ``kidneys`` are (centroid, lateral-edge x) per labelled kidney, ``kidney_tops``
    the z of their upper poles.
    """

    midline_x: float | None = None
    spine_anterior_y: float | None = None
    kidneys: tuple[tuple[Point, float], ...] = ()
    kidney_tops: tuple[float, ...] = ()
    kidney_right_medial_x: float | None = None
    bladder_low_z: float | None = None
    liver_centroid: Point | None = None
    abdomen_top_z: float | None = None

    @property
    def hila_z(self) -> float | None:
        if not self.kidneys:
            return None
        return float(np.mean([c[2] for c, _ in self.kidneys]))

    def in_uncinate_region(self, p: Point) -> bool:
        """Right of the midline, anterior to spine and kidneys, at the renal hila."""
        if self.midline_x is None or self.spine_anterior_y is None or self.hila_z is None:
            return False
        x, y, z = p
        lateral = self.midline_x - 60.0
        if self.kidney_right_medial_x is not None:
            lateral = max(lateral, self.kidney_right_medial_x - 10.0)
        kidney_y = min(c[1] for c, _ in self.kidneys)
        return (
            lateral <= x <= self.midline_x + 10.0
            and self.spine_anterior_y - 50.0 <= y <= min(self.spine_anterior_y, kidney_y)
            and self.hila_z - 25.0 <= z <= self.hila_z + 15.0
        )

    def in_adrenal_region(self, p: Point) -> bool:
        """Where an adrenal lies: above and medial to a kidney's upper pole.

        From 20 mm below to 40 mm above the upper pole, between 5 mm off the
        midline and 10 mm lateral of the kidney's centre, from 35 mm in front of to
        25 mm behind it (used when the segmentation does not outline the adrenals).
        """
        if self.midline_x is None:
            return False
        x, y, z = p
        for ((kx, ky, _), _), top in zip(self.kidneys, self.kidney_tops, strict=True):
            side = 1.0 if kx >= self.midline_x else -1.0
            off = side * (x - self.midline_x)
            if (
                5.0 <= off <= side * (kx - self.midline_x) + 10.0
                and ky - 35.0 <= y <= ky + 25.0
                and top - 20.0 <= z <= top + 40.0
            ):
                return True
        return False

    def in_ureter_corridor(self, p: Point) -> bool:
        """On a kidney's side, below its centre and above the bladder floor."""
        if self.midline_x is None or not self.kidneys:
            return False
        x, _, z = p
        for (kx, _, kz), edge_x in self.kidneys:
            side = 1.0 if kx >= self.midline_x else -1.0
            off = side * (x - self.midline_x)
            if not -10.0 <= off <= side * (edge_x - self.midline_x) + 30.0:
                continue
            if z > kz or (self.bladder_low_z is not None and z < self.bladder_low_z - 10.0):
                continue
            return True
        return False

    def to_dict(self) -> dict[str, Any]:
        return {
            "midline_x_mm": self.midline_x,
            "spine_anterior_y_mm": self.spine_anterior_y,
            "renal_hila_z_mm": self.hila_z,
            "kidney_centroids_mm": [list(c) for c, _ in self.kidneys],
            "bladder_floor_z_mm": self.bladder_low_z,
            "abdomen_top_z_mm": self.abdomen_top_z,
        }


def landmarks(organs: OrganMap | None, vol: Volume) -> Landmarks:
    """Anatomical landmarks from an organ map on ``vol``'s grid (empty without organs)."""
    if organs is None:
        return Landmarks()
    lab = organs.labels

    def points(mask: NDArray[np.bool_], step: int = 1) -> NDArray[np.float64] | None:
        idx = np.argwhere(mask)
        if not len(idx):
            return None
        return physical(vol, idx[::step])

    def by_name(word: str, exact: bool = False) -> NDArray[np.bool_]:
        codes = [
            c
            for c, n in organs.names.items()
            if (n.lower() == word if exact else word in n.lower())
        ]
        return np.isin(lab, codes) if codes else np.zeros(lab.shape, dtype=bool)

    kidney_pts = [
        pts
        for code in organs.names
        if organs.kind_of(code) == "kidney" and (pts := points(lab == code)) is not None
    ]
    marrow = points(by_name("marrow"))
    body = points(by_name("body", exact=True), step=7)
    # midline: lumbar vertebral bodies, else halfway between the kidneys, else the body
    midline: float | None = None
    if marrow is not None:
        midline = float(np.median(marrow[:, 0]))
    elif len(kidney_pts) == 2:
        midline = float(np.mean([k[:, 0].mean() for k in kidney_pts]))
    elif body is not None:
        midline = float(np.median(body[:, 0]))
    # kidneys: centroid, lateral edge x; the right kidney's medial edge bounds the uncinate
    kidneys: list[tuple[Point, float]] = []
    tops: list[float] = []
    right_medial: float | None = None
    for pts in kidney_pts:
        c = pts.mean(axis=0)
        tops.append(float(pts[:, 2].max()))
        left = midline is None or c[0] >= midline  # LPS: +x is the patient's left
        lateral = float(pts[:, 0].max()) if left else float(pts[:, 0].min())
        if not left:
            right_medial = float(pts[:, 0].max())
        kidneys.append(((float(c[0]), float(c[1]), float(c[2])), lateral))
    spine_y: float | None = None
    if marrow is not None:
        spine_y = float(np.percentile(marrow[:, 1], 2))
    elif midline is not None:
        bone = points(by_name("bone") | by_name("vertebra"))
        if bone is not None and kidneys:
            kz = [c[2] for c, _ in kidneys]
            sel = (np.abs(bone[:, 0] - midline) <= 25.0) & (
                (bone[:, 2] >= min(kz) - 40.0) & (bone[:, 2] <= max(kz) + 40.0)
            )
            if sel.sum() >= 5:
                spine_y = float(np.percentile(bone[sel, 1], 2))
        if spine_y is None and kidneys:
            spine_y = float(np.mean([c[1] for c, _ in kidneys])) - 15.0
    bladder = points(organs.mask("bladder"))
    liver = points(organs.mask("liver"))
    lungs = points(by_name("lung"))
    top: float | None = None
    if lungs is not None:
        top = float(np.percentile(lungs[:, 2], 1))
    elif liver is not None:
        top = float(liver[:, 2].max())
    return Landmarks(
        midline_x=midline,
        spine_anterior_y=spine_y,
        kidneys=tuple(kidneys),
        kidney_tops=tuple(tops),
        kidney_right_medial_x=right_medial,
        bladder_low_z=float(bladder[:, 2].min()) if bladder is not None else None,
        liver_centroid=(
            (float(liver[:, 0].mean()), float(liver[:, 1].mean()), float(liver[:, 2].mean()))
            if liver is not None
            else None
        ),
        abdomen_top_z=top,
    )


@dataclass(frozen=True)
class Shape:
    """Size and shape of a region (mm).

    ``length_mm`` along the first principal axis ``axis``; ``width_mm`` the inscribed
    width; ``axis_ratio`` = √(λ1/λ2) of the first two principal moments (1 for a ball
    or a disc, ≈ 1.15 × length/diameter for a rod). A rod is long for its width *and*
    has one dominant axis; a curved tube (bowel loop) is long for its width with a
    smaller axis ratio; a flat or round focus is neither.
    """

    length_mm: float
    width_mm: float
    axis: Point
    centroid_mm: Point
    axis_ratio: float = 1.0

    @property
    def elongation(self) -> float:
        """Length over inscribed width."""
        return self.length_mm / max(self.width_mm, 1e-6)


def region_shape(mask: NDArray[np.bool_], vol: Volume, offset: Sequence[int] = (0, 0, 0)) -> Shape:
    """Principal-axis length and inscribed width of a (boxed) mask on ``vol``'s grid.

    Length: extent of the voxel centres along the first principal axis plus one
    voxel; width: 2 × the largest distance of a voxel centre to the outside minus
    one voxel (a one-voxel line is one voxel wide).
    """
    spacing = spacing_zyx(vol)
    idx = np.argwhere(mask) + np.asarray(offset)
    pts = physical(vol, idx)
    c = pts.mean(axis=0)
    step = float(np.mean(spacing))
    ratio = 1.0
    if len(pts) < 3:
        axis = np.array([0.0, 0.0, 1.0])
        length = step
    else:
        w, v = np.linalg.eigh(np.cov((pts - c).T))  # ascending eigenvalues
        axis = v[:, 2]
        proj = (pts - c) @ axis
        length = float(proj.max() - proj.min()) + step
        # voxel-size floor on the moments: a one-voxel-thick line has λ = s²/12 across
        floor = step * step / 12.0
        ratio = float(np.sqrt(max(w[2], floor) / max(w[1], floor)))
    padded = np.pad(mask, 1)
    depth = ndimage.distance_transform_edt(padded, sampling=spacing)
    width = max(2.0 * float(depth.max()) - min(spacing), min(spacing))
    return Shape(
        length,
        width,
        (float(axis[0]), float(axis[1]), float(axis[2])),
        (float(c[0]), float(c[1]), float(c[2])),
        ratio,
    )
