"""Bowel of the digital patient's CT: the colon frame and small-bowel loops.

Internal to :mod:`sstrkit.phantom.ct_tissues`. Tubes are painted into a distance map
over the abdominal cavity (:class:`_Tubes`): first the colon along a jittered path
through caecum, flexures, transverse colon and rectum (:func:`_colon_frame`,
:func:`_paint_colon`), then small-bowel loops as persistent random walks anterior to
the spine until the cavity is filled (:func:`_small_bowel`); finally every cavity
voxel is classified as wall, content, colon content or gas (:func:`_paint_tubes`).
The draws from the patient's stream come in that order.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.phantom.ct_frame import _Box, _Frame, _slab

if TYPE_CHECKING:
    from sstrkit.phantom.ct_tissues import _Painter

#: Small-bowel loops: at most this many random walks, until this fraction of the anterior
#: abdominal cavity (walls included) is filled.
_MAX_LOOPS = 150
_BOWEL_FILL = 0.8
#: Wall thickness of every tube (mm).
_WALL_MM = 3.0


@dataclass
class _Tubes:
    """Distance of every cavity voxel to the nearest tube axis, with the tube's properties."""

    sl: tuple[slice, slice, slice]
    dist: NDArray[np.float32]
    radius: NDArray[np.float32]
    dy: NDArray[np.float32]  # y − y of the nearest axis point (anterior < 0)
    chain: NDArray[np.int32]
    gas: NDArray[np.bool_]
    colon: NDArray[np.bool_]

    @classmethod
    def empty(cls, sl: tuple[slice, slice, slice], shape: tuple[int, ...]) -> _Tubes:
        """No tube yet over the box ``sl`` of the truth grid."""
        return cls(
            sl=sl,
            dist=np.full(shape, np.inf, dtype=np.float32),
            radius=np.ones(shape, dtype=np.float32),
            dy=np.zeros(shape, dtype=np.float32),
            chain=np.full(shape, -1, dtype=np.int32),
            gas=np.zeros(shape, dtype=bool),
            colon=np.zeros(shape, dtype=bool),
        )


def _paint_segment(
    t: _Tubes, f: _Frame, p0: NDArray[np.float64], p1: NDArray[np.float64], r: float, chain: int,
    gas: bool, colon: bool, wall: float,
) -> None:  # fmt: skip
    reach = r + wall + 1.0
    lo = np.minimum(p0, p1) - reach
    hi = np.maximum(p0, p1) + reach
    sl = []
    for axis, ax, base in ((2, f.zs, t.sl[0]), (1, f.ys, t.sl[1]), (0, f.xs, t.sl[2])):
        k0 = max(int(np.searchsorted(ax, lo[axis], side="left")), base.start)
        k1 = min(int(np.searchsorted(ax, hi[axis], side="right")), base.stop)
        if k1 <= k0:
            return
        sl.append(slice(k0 - base.start, k1 - base.start))
    local = (sl[0], sl[1], sl[2])
    z = f.zs[t.sl[0]][local[0]][:, None, None]
    y = f.ys[t.sl[1]][local[1]][None, :, None]
    x = f.xs[t.sl[2]][local[2]][None, None, :]
    d = p1 - p0
    dd = float(d @ d)
    u = ((x - p0[0]) * d[0] + (y - p0[1]) * d[1] + (z - p0[2]) * d[2]) / max(dd, 1e-9)
    u = np.clip(u, 0.0, 1.0)
    qy = p0[1] + u * d[1]
    dist = np.sqrt((x - p0[0] - u * d[0]) ** 2 + (y - qy) ** 2 + (z - p0[2] - u * d[2]) ** 2)
    better = dist / r < t.dist[local] / t.radius[local]
    t.dist[local] = np.where(better, dist, t.dist[local])
    t.radius[local] = np.where(better, r, t.radius[local])
    t.dy[local] = np.where(better, y - qy, t.dy[local])
    t.chain[local] = np.where(better, chain, t.chain[local])
    t.gas[local] = np.where(better, gas, t.gas[local])
    t.colon[local] = np.where(better, colon, t.colon[local])


def _polyline(points: list[NDArray[np.float64]], step: float) -> list[NDArray[np.float64]]:
    """Points every ~``step`` mm along the control polygon."""
    out = [points[0]]
    for q0, q1 in itertools.pairwise(points):
        n = max(1, math.ceil(float(np.linalg.norm(q1 - q0)) / step))
        out += [q0 + (q1 - q0) * (i / n) for i in range(1, n + 1)]
    return out


def _colon_frame(
    f: _Frame,
    boxes: dict[str, _Box],
    inner_depth: float,
    z_top: float,
    z_bottom: float,
    z_l5: float,
    pitch: float,
) -> list[tuple[NDArray[np.float64], float]]:
    """Control points (mm) and radii (mm, reference adult) of the colon, caecum to rectum."""
    liver = boxes.get("liver")
    spleen = boxes.get("spleen")
    bladder = boxes.get("bladder")
    right = -1.0 if liver is None else (1.0 if liver.centre[0] > f.cx else -1.0)
    left = -right
    r_big = 22.0 * f.s
    lateral = f.a - inner_depth - 0.9 * r_big
    y_lat = f.cy + 0.05 * f.b
    z_hf = float(liver.lo[2]) + 0.1 * (z_top - float(liver.lo[2])) if liver else z_top
    z_sf = float(spleen.lo[2]) if spleen else z_hf
    z_rect = z_bottom - 0.5 * (float(bladder.hi[2] - bladder.lo[2]) if bladder else 40.0)
    y_rect = float(f.spine_front[f.iz(z_bottom)]) - 0.9 * r_big

    def pt(x: float, y: float, z: float) -> NDArray[np.float64]:
        return np.array([x, y, z], dtype=np.float64)

    def flank(side: float, name: str, r: float) -> list[tuple[NDArray[np.float64], float]]:
        """A point of the ascending/descending colon against the kidney's anterolateral face."""
        kid = boxes.get(name)
        if kid is None:
            return []
        half = 0.5 * (kid.hi - kid.lo)
        x = float(kid.centre[0]) + side * 0.5 * float(half[0])
        x = f.cx + side * min(abs(x - f.cx), lateral)
        return [(pt(x, float(kid.lo[1]) + 0.2 * float(half[1]), float(kid.centre[2])), r)]

    kidney_right = "kidney_right" if right < 0 else "kidney_left"
    kidney_left = "kidney_left" if right < 0 else "kidney_right"
    return [
        (pt(f.cx + right * lateral, y_lat - 0.15 * f.b, z_l5 - 0.3 * pitch), 25.0),  # caecum
        *flank(right, kidney_right, 23.0),  # ascending colon
        (pt(f.cx + right * lateral, y_lat, z_hf), 23.0),  # hepatic flexure
        (pt(f.cx, f.cy - 0.55 * f.b, z_hf - 45.0 * f.s), 21.0),  # transverse colon
        (pt(f.cx + left * lateral, y_lat, max(z_sf, z_hf)), 20.0),  # splenic flexure
        *flank(left, kidney_left, 19.0),  # descending colon
        (pt(f.cx + left * lateral, y_lat, z_l5), 18.0),
        (pt(f.cx + left * 0.35 * lateral, f.cy - 0.3 * f.b, z_bottom + 35.0 * f.s), 17.0),
        (pt(f.cx, y_rect, z_bottom), 18.0),  # rectum
        (pt(f.cx, y_rect, z_rect), 18.0),
    ]


def _paint_colon(
    tubes: _Tubes,
    f: _Frame,
    rng: np.random.Generator,
    colon: list[tuple[NDArray[np.float64], float]],
) -> int:
    """Paint the colon along its jittered path; returns the next free chain number."""
    chain = 0
    ctrl = [c for c, _ in colon]
    radii = [r for _, r in colon]
    path = _polyline(ctrl, 8.0)
    # radius along the path: interpolated between the control points
    seg_len = [float(np.linalg.norm(q1 - q0)) for q0, q1 in itertools.pairwise(ctrl)]
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    along = np.concatenate(
        [
            [0.0],
            np.cumsum([float(np.linalg.norm(b - a)) for a, b in itertools.pairwise(path)]),
        ]
    )
    r_path = np.interp(along, cum, radii) * f.s
    jitter = ndimage.gaussian_filter1d(rng.normal(0.0, 6.0, (len(path), 3)), 2.0, axis=0)
    path = [q + j for q, j in zip(path, jitter, strict=True)]
    for i in range(len(path) - 1):
        gas = bool(rng.random() < 0.6)
        _paint_segment(tubes, f, path[i], path[i + 1], float(r_path[i]), chain, gas, True, _WALL_MM)
        if rng.random() < 0.15:
            chain += 1  # haustra-like folds: walls across the colon now and then
    return chain + 1


def _small_bowel(
    tubes: _Tubes,
    f: _Frame,
    rng: np.random.Generator,
    anterior: NDArray[np.bool_],
    spine_front: float,
    chain: int,
) -> None:
    """Small-bowel loops: persistent random walks anterior to the spine, started in still
    empty places and kept out of other loops, until the anterior cavity is filled."""
    zsl = tubes.sl[0]
    n_anterior = int(anterior.sum())
    step = 9.0
    empty = np.argwhere(anterior)
    for n_chain in range(_MAX_LOOPS):
        if n_chain % 5 == 0:
            filled = anterior & (tubes.dist < tubes.radius + _WALL_MM)
            if filled.sum() >= _BOWEL_FILL * n_anterior:
                break
            empty = np.argwhere(anterior & ~filled)
            if empty.size == 0:
                break
        start_i = empty[rng.integers(empty.shape[0])]
        pos = np.array([f.xs[start_i[2]], f.ys[start_i[1]], f.zs[zsl][start_i[0]]])
        r = float(rng.uniform(11.0, 14.0)) * f.s
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        for _ in range(int(rng.integers(8, 24))):
            for attempt in range(10):
                nd = 0.75 * direction + 0.65 * rng.normal(size=3) / math.sqrt(3.0)
                nd /= max(float(np.linalg.norm(nd)), 1e-9)
                new = pos + step * nd
                ij = f.index(new)
                if ij is not None and zsl.start <= ij[0] < zsl.stop and new[1] < spine_front:
                    k = (ij[0] - zsl.start, ij[1], ij[2])
                    other_loop = tubes.dist[k] < 0.8 * tubes.radius[k] and tubes.chain[k] != chain
                    if anterior[k] and not other_loop:
                        break
                direction = -direction if attempt == 4 else rng.normal(size=3)
                direction /= max(float(np.linalg.norm(direction)), 1e-9)
            else:
                break
            gas = bool(rng.random() < 0.2)
            _paint_segment(tubes, f, pos, new, r, chain, gas, False, _WALL_MM)
            pos, direction = new, nd
        chain += 1


def _paint_tubes(p: _Painter, tubes: _Tubes, cavity: NDArray[np.bool_]) -> None:
    """Classify the tubes' voxels: lumen, wall (outer shell and between loops), gas on the
    anterior side; paint them into the cavity."""
    inside = tubes.dist < tubes.radius + _WALL_MM
    lumen = tubes.dist < tubes.radius
    other = np.zeros(cavity.shape, dtype=bool)
    for axis in range(3):
        for shift in (1, -1):
            nb = np.roll(tubes.chain, shift, axis=axis)
            nb_lumen = np.roll(lumen, shift, axis=axis)
            other |= nb_lumen & (nb != tubes.chain)
    wall_mask = inside & (~lumen | other)
    lumen &= ~wall_mask
    gas_mask = lumen & tubes.gas & (tubes.dy < -0.35 * tubes.radius)
    colon_mask = tubes.colon
    cav = cavity
    box = tubes.sl
    p.paint("bowel_gas", gas_mask & cav, box)
    p.paint("colon_content", lumen & colon_mask & cav, box)
    p.paint("bowel_content", lumen & cav, box)
    p.paint("bowel_wall", wall_mask & cav, box)


def _bowel(
    p: _Painter,
    f: _Frame,
    boxes: dict[str, _Box],
    rng: np.random.Generator,
    inner_depth: float,
    z_l1: float,
    z_l5: float,
) -> None:
    """Colon frame and small-bowel loops (walls, fluid, gas) filling the abdominal cavity."""
    pitch = max((z_l1 - z_l5) / 4.5, 10.0)
    liver = boxes.get("liver")
    bladder = boxes.get("bladder")
    z_top = float(liver.lo[2] + 0.3 * (liver.hi[2] - liver.lo[2])) if liver else z_l1 + pitch
    z_bottom = float(bladder.centre[2]) if bladder else z_l5 - 2.5 * pitch
    if z_top - z_bottom < 40.0:
        return
    zsl = _slab(f, z_bottom - 30.0, z_top + 30.0)
    box = (zsl, slice(0, f.ys.size), slice(0, f.xs.size))
    cavity = p.free[box] & (f.depth >= inner_depth)[None, :, :]
    tubes = _Tubes.empty(box, cavity.shape)
    colon = _colon_frame(f, boxes, inner_depth, z_top, z_bottom, z_l5, pitch)
    chain = _paint_colon(tubes, f, rng, colon)
    spine_front = float(f.spine_front[f.iz(0.5 * (z_top + z_bottom))])
    anterior = cavity & (f.ys[None, :, None] < spine_front)
    if not anterior.any():
        return
    _small_bowel(tubes, f, rng, anterior, spine_front, chain)
    _paint_tubes(p, tubes, cavity)
