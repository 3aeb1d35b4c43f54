"""Where the CT-only tissues go: the patient frame, organ boxes and shape primitives.

Internal to :mod:`sstrkit.phantom.ct_tissues`. :func:`_frame` reads one patient's
geometry for the CT structures from the model and its label map (body ellipse, depth
below the body outline, the spine slice by slice); :func:`_boxes` the bounding boxes
and centroids of the organs the structures are placed against. The primitives
(slabs of slices, per-slice ellipses, ellipsoids, shells around a region, smooth
random fields and angular profiles) are the shapes the structures are painted with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.errors import InvalidInputError
from sstrkit.phantom.anatomy import COMPOSITES, LABELS, LESION_LABEL0, Anatomy, Grid

_BONE = (LABELS["cortical_bone"], LABELS["spongiosa"])


@dataclass
class _Frame:
    """Axes, body ellipse, layer depths and the spine of one patient (truth grid)."""

    grid: Grid
    xs: NDArray[np.float64]
    ys: NDArray[np.float64]
    zs: NDArray[np.float64]
    cx: float
    cy: float
    a: float
    b: float
    sx: float  # body size relative to the reference adult (165 x 110 mm semi-axes)
    sy: float
    depth: NDArray[np.float64]  # (ny, nx) depth below the body outline, mm (< 0 outside)
    theta: NDArray[np.float64]  # (ny, nx) polar angle about the body axis
    spine_x: NDArray[np.float64]  # (nz,) spine centre x
    spine_front: NDArray[np.float64]  # (nz,) anterior edge of the spine (smallest y)
    spine_back: NDArray[np.float64]  # (nz,) posterior edge of the spine (largest y)
    spine_hw: NDArray[np.float64]  # (nz,) half width of the spine
    spine_bone: NDArray[np.bool_]  # (nz,) slice holds spine bone
    spine_lo: float  # z extent of the spine
    spine_hi: float

    @property
    def s(self) -> float:
        return math.sqrt(self.sx * self.sy)

    def iz(self, z: float) -> int:
        """Index of the slice nearest to ``z`` (clipped to the grid)."""
        k = round((z - self.zs[0]) / self.grid.spacing[2])
        return int(np.clip(k, 0, self.zs.size - 1))

    def index(self, p: NDArray[np.float64]) -> tuple[int, int, int] | None:
        """(z, y, x) index of the voxel holding point ``p`` (x, y, z), None outside."""
        out = []
        for axis, n in ((2, self.zs.size), (1, self.ys.size), (0, self.xs.size)):
            k = round((float(p[axis]) - self.grid.origin[axis]) / self.grid.spacing[axis])
            if not 0 <= k < n:
                return None
            out.append(k)
        return out[0], out[1], out[2]


def _depth_map(
    xs: NDArray[np.float64], ys: NDArray[np.float64], cx: float, cy: float, a: float, b: float
) -> NDArray[np.float64]:
    """Depth t (mm) of every (y, x) below the ellipse: the point lies on semi-axes (a−t, b−t)."""
    dx = (xs[None, :] - cx) ** 2
    dy = (ys[:, None] - cy) ** 2
    lo = np.zeros(dy.shape[:1] + dx.shape[1:])
    hi = np.full_like(lo, min(a, b) * (1.0 - 1e-9))
    for _ in range(40):  # bisection: the level function grows with t
        mid = 0.5 * (lo + hi)
        outside = dx / (a - mid) ** 2 + dy / (b - mid) ** 2 > 1.0
        hi = np.where(outside, mid, hi)
        lo = np.where(outside, lo, mid)
    depth = 0.5 * (lo + hi)
    return np.where(dx / a**2 + dy / b**2 > 1.0, -1.0, depth)


def _frame(anatomy: Anatomy) -> _Frame:
    model = anatomy.model
    grid = model.grid
    lab = np.asarray(anatomy.labels.array)
    xs, ys, zs = grid.axes()
    body = model.body
    cx, cy = float(body.center_mm[0]), float(body.center_mm[1])
    a, b = float(body.semi_axes_mm[0]), float(body.semi_axes_mm[1])
    depth = _depth_map(xs, ys, cx, cy, a, b)
    theta = np.arctan2((ys[:, None] - cy) / b, (xs[None, :] - cx) / a)
    # the spine: bone near the body axis, in the posterior part of the body
    xsel = np.abs(xs - cx) < 0.3 * a
    ysel = ys > cy - 0.1 * b
    sub: NDArray[np.bool_] = np.isin(lab[:, ysel][:, :, xsel], _BONE)
    zx = np.asarray(np.any(sub, axis=1))
    zy = np.asarray(np.any(sub, axis=2))
    has = np.asarray(np.any(zx, axis=1))
    if not has.any():
        raise InvalidInputError(
            "anatomy for the CT",
            expected="a spine (bone labels near the body axis, posterior half)",
            actual="no bone there",
            fix="build the anatomy with sstrkit.phantom.anatomy.build_anatomy",
        )
    xsub, ysub = xs[xsel], ys[ysel]
    big = 1e9
    xmin = np.where(zx, xsub[None, :], big).min(axis=1)
    xmax = np.where(zx, xsub[None, :], -big).max(axis=1)
    ymin = np.where(zy, ysub[None, :], big).min(axis=1)
    ymax = np.where(zy, ysub[None, :], -big).max(axis=1)
    k = np.flatnonzero(has)

    def fill(v: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.interp(zs, zs[k], v[k])

    step = grid.spacing
    return _Frame(
        grid=grid,
        xs=xs,
        ys=ys,
        zs=zs,
        cx=cx,
        cy=cy,
        a=a,
        b=b,
        sx=a / 165.0,
        sy=b / 110.0,
        depth=depth,
        theta=theta,
        spine_x=fill(0.5 * (xmin + xmax)),
        spine_front=fill(ymin - 0.5 * step[1]),
        spine_back=fill(ymax + 0.5 * step[1]),
        spine_hw=fill(0.5 * (xmax - xmin) + 0.5 * step[0]),
        spine_bone=has,
        spine_lo=float(zs[k[0]]),
        spine_hi=float(zs[k[-1]]),
    )


@dataclass(frozen=True)
class _Box:
    """Bounding box (mm) and centroid of a region in the label map."""

    lo: NDArray[np.float64]  # x, y, z
    hi: NDArray[np.float64]
    centre: NDArray[np.float64]
    sl: tuple[slice, slice, slice]  # z, y, x


def _boxes(lab: NDArray[Any], grid: Grid) -> dict[str, _Box]:
    """Boxes of the organs the CT structures are placed against."""
    objs = ndimage.find_objects(lab.astype(np.int32, copy=False), max_label=LESION_LABEL0 - 1)
    regions = {
        "liver": ("liver",),
        "spleen": ("spleen",),
        "kidney_left": COMPOSITES["kidney_left"],
        "kidney_right": COMPOSITES["kidney_right"],
        "lungs": ("lungs",),
        "heart_blood": ("heart_blood",),
        "bladder": ("bladder",),
        "pancreas": COMPOSITES["pancreas"],
    }
    o = np.asarray(grid.origin)
    sp = np.asarray(grid.spacing)
    out: dict[str, _Box] = {}
    for name, parts in regions.items():
        sls = [objs[LABELS[p] - 1] for p in parts if objs[LABELS[p] - 1] is not None]
        if not sls:
            continue
        sl = tuple(
            slice(min(s[i].start for s in sls), max(s[i].stop for s in sls)) for i in range(3)
        )
        sub = np.isin(lab[sl], [LABELS[p] for p in parts])
        idx = np.argwhere(sub)
        if idx.size == 0:
            continue
        start = np.array([sl[2].start, sl[1].start, sl[0].start], dtype=np.float64)
        xyz = idx[:, ::-1] + start
        lo = o + sp * (xyz.min(axis=0) - 0.5)
        hi = o + sp * (xyz.max(axis=0) + 0.5)
        out[name] = _Box(lo, hi, o + sp * xyz.mean(axis=0), sl)  # type: ignore[arg-type]
    return out


def _slab(f: _Frame, z_lo: float, z_hi: float) -> slice:
    """Slices of the truth grid with lo ≤ z ≤ hi (possibly empty)."""
    k0 = int(np.searchsorted(f.zs, z_lo, side="left"))
    k1 = int(np.searchsorted(f.zs, z_hi, side="right"))
    return slice(k0, max(k0, k1))


def _ellipses(
    f: _Frame,
    zsl: slice,
    xc: NDArray[np.float64],
    yc: NDArray[np.float64],
    rx: NDArray[np.float64],
    ry: NDArray[np.float64],
) -> NDArray[np.bool_]:
    """Per-slice ellipses (centre and radii per slice of ``zsl``), shape (nz_slab, ny, nx)."""
    dx = (f.xs[None, None, :] - xc[:, None, None]) / rx[:, None, None]
    dy = (f.ys[None, :, None] - yc[:, None, None]) / ry[:, None, None]
    out: NDArray[np.bool_] = dx**2 + dy**2 <= 1.0
    return out


def _smooth_field(
    rng: np.random.Generator, shape: tuple[int, ...], sigma_vox: float
) -> NDArray[np.float64]:
    """Gaussian-filtered white noise rescaled to zero mean and unit SD."""
    w = rng.standard_normal(shape)
    if sigma_vox > 0:
        w = ndimage.gaussian_filter(w, sigma_vox, mode="wrap")
    sd = float(w.std())
    out: NDArray[np.float64] = (w - float(w.mean())) / (sd if sd > 0 else 1.0)
    return out


def _angular(rng: np.random.Generator, theta: NDArray[np.float64], amp: float) -> NDArray[Any]:
    """A smooth random function of the polar angle: 1 + amp · (sum of 3 harmonics, SD ≈ 1)."""
    out = np.zeros_like(theta)
    for k in (1, 2, 3):
        out += rng.normal(0.0, 1.0) * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
    return 1.0 + amp * out / math.sqrt(1.5)


def _shell(
    lab: NDArray[Any], values: tuple[int, ...], box: _Box, grid: Grid, thickness: float
) -> tuple[NDArray[np.bool_], tuple[slice, slice, slice]]:
    """Voxels within ``thickness`` mm of the region (outside it), in the region's box grown."""
    grow = [math.ceil(thickness / grid.spacing[2 - i]) + 1 for i in range(3)]
    sl = tuple(
        slice(max(0, box.sl[i].start - grow[i]), min(lab.shape[i], box.sl[i].stop + grow[i]))
        for i in range(3)
    )
    inside = np.isin(lab[sl], values)
    dist = ndimage.distance_transform_edt(
        ~inside, sampling=(grid.spacing[2], grid.spacing[1], grid.spacing[0])
    )
    out: NDArray[np.bool_] = (dist > 0) & (dist <= thickness)
    return out, sl  # type: ignore[return-value]


def _ellipsoid(
    f: _Frame, c: NDArray[np.float64], semi: NDArray[np.float64]
) -> tuple[NDArray[np.float64], tuple[slice, slice, slice]]:
    """Normalised radius of an axis-aligned ellipsoid over its bounding box."""
    sl = []
    for ax, axis in ((f.zs, 2), (f.ys, 1), (f.xs, 0)):
        k0 = int(np.searchsorted(ax, c[axis] - semi[axis], side="left"))
        k1 = int(np.searchsorted(ax, c[axis] + semi[axis], side="right"))
        sl.append(slice(k0, max(k0, k1)))
    box = (sl[0], sl[1], sl[2])
    dz = ((f.zs[box[0]] - c[2]) / semi[2])[:, None, None]
    dy = ((f.ys[box[1]] - c[1]) / semi[1])[None, :, None]
    dx = ((f.xs[box[2]] - c[0]) / semi[0])[None, None, :]
    rho: NDArray[np.float64] = np.sqrt(dx**2 + dy**2 + dz**2)
    return rho, box
