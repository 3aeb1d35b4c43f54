"""Geometric solids and voxel grids of the digital patient (DICOM LPS, mm).

:class:`Grid` is a voxel grid (shape z, y, x; spacing and origin x, y, z);
:class:`Ellipsoid` is the one solid every organ and bone is built from (ellipsoid,
elliptic cylinder or box, optionally rotated, cut by half-spaces and holed), with its
analytic or numerical volume; :func:`_paint` sets the voxels of a label map inside a
solid. :mod:`sstrkit.phantom.anatomy` places and calibrates the solids of a patient.

>>> e = Ellipsoid((0.0, 0.0, 0.0), (10.0, 10.0, 10.0))
>>> round(e.volume_ml, 3)
4.189
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from sstrkit.core.units import MM3_PER_ML

__all__ = ["Cut", "Ellipsoid", "Grid", "Vec3"]

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Grid:
    """Voxel grid: ``shape`` (z, y, x), ``spacing`` and ``origin`` (x, y, z) mm, LPS."""

    shape: tuple[int, int, int]
    spacing: Vec3
    origin: Vec3

    def axes(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Voxel-centre coordinates along x, y and z (mm)."""
        nz, ny, nx = self.shape
        return tuple(  # type: ignore[return-value]
            self.origin[i] + self.spacing[i] * np.arange(n) for i, n in enumerate((nx, ny, nz))
        )

    @property
    def voxel_ml(self) -> float:
        return float(np.prod(self.spacing)) / MM3_PER_ML

    @classmethod
    def covering(cls, lo: Vec3, hi: Vec3, voxel_mm: Vec3) -> Grid:
        """The grid of ``voxel_mm`` voxels whose voxel edges cover [lo, hi] (centred)."""
        n = [max(1, math.ceil((hi[i] - lo[i]) / voxel_mm[i])) for i in range(3)]
        centre = [(hi[i] + lo[i]) / 2 for i in range(3)]
        origin = tuple(centre[i] - voxel_mm[i] * (n[i] - 1) / 2 for i in range(3))
        return cls((n[2], n[1], n[0]), tuple(voxel_mm), origin)  # type: ignore[arg-type]


Cut = tuple[Vec3, float]


@dataclass(frozen=True)
class Ellipsoid:
    """A solid: ellipsoid, elliptic cylinder or box, optionally rotated, cut and holed.

    ``kind='ellipsoid'`` (default): (u/a)² + (v/b)² + (w/c)² ≤ 1; ``'cylinder'``: an
    elliptic cylinder (u/a)² + (v/b)² ≤ 1, |w| ≤ c; ``'box'``: |u| ≤ a, |v| ≤ b, |w| ≤ c;
    (u, v, w) are the coordinates relative to ``center_mm`` along ``axes`` (three
    orthonormal rows in patient coordinates; ``None``: the patient x, y, z axes).

    ``cuts`` are half-spaces n·p ≤ d (``(n, d)``, patient coordinates in mm; n need not be
    unit) that every point of the solid satisfies; ``holes`` are solids removed from it.
    With cuts the published stylized organs are exact (the liver's oblique plane, the
    kidneys' |x| ≥ 3 cm, the half lungs); see :mod:`sstrkit.phantom.stylized`.
    """

    center_mm: Vec3
    semi_axes_mm: Vec3
    kind: Literal["ellipsoid", "cylinder", "box"] = "ellipsoid"
    axes: tuple[Vec3, Vec3, Vec3] | None = None
    cuts: tuple[Cut, ...] = ()
    holes: tuple[Ellipsoid, ...] = ()

    @property
    def plain(self) -> bool:
        """Whether the solid is an uncut, unrotated quadric (analytic volume)."""
        return self.axes is None and not self.cuts and not self.holes

    def scaled(self, s: float, about: Vec3 | None = None) -> Ellipsoid:
        """The solid scaled by ``s`` about ``about`` (default: its centre).

        Cut planes and holes scale with the solid: a plane n·p ≤ d becomes
        n·p ≤ n·o + s (d − n·o) about the point o.
        """
        if about is None and self.plain:
            return replace(self, semi_axes_mm=tuple(a * s for a in self.semi_axes_mm))  # type: ignore[arg-type]
        o = self.center_mm if about is None else about
        centre = tuple(o[i] + s * (self.center_mm[i] - o[i]) for i in range(3))
        cuts = tuple((n, _dot(n, o) + s * (d - _dot(n, o))) for n, d in self.cuts)
        return replace(
            self,
            center_mm=centre,  # type: ignore[arg-type]
            semi_axes_mm=tuple(a * s for a in self.semi_axes_mm),  # type: ignore[arg-type]
            cuts=cuts,
            holes=tuple(h.scaled(s, about=o) for h in self.holes),
        )

    def contains(self, x: Any, y: Any, z: Any) -> NDArray[np.bool_]:
        """Whether the points (broadcast arrays of patient x, y, z in mm) are inside."""
        (cx, cy, cz), (a, b, c) = self.center_mm, self.semi_axes_mm
        if self.axes is None:
            u, v, w = (x - cx) / a, (y - cy) / b, (z - cz) / c
        else:
            px, py, pz = x - cx, y - cy, z - cz
            (r0, r1, r2) = self.axes
            u = (r0[0] * px + r0[1] * py + r0[2] * pz) / a
            v = (r1[0] * px + r1[1] * py + r1[2] * pz) / b
            w = (r2[0] * px + r2[1] * py + r2[2] * pz) / c
        if self.kind == "ellipsoid":
            inside = u**2 + v**2 + w**2 <= 1.0
        elif self.kind == "cylinder":
            inside = (u**2 + v**2 <= 1.0) & (np.abs(w) <= 1.0)
        else:
            inside = (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0) & (np.abs(w) <= 1.0)
        for n, d in self.cuts:
            inside = inside & (n[0] * x + n[1] * y + n[2] * z <= d)
        for hole in self.holes:
            inside = inside & ~hole.contains(x, y, z)
        return np.asarray(inside, dtype=bool)

    def bounds(self) -> tuple[Vec3, Vec3]:
        """Axis-aligned bounding box (lo, hi) of the uncut solid, mm."""
        if self.axes is None:
            half = self.semi_axes_mm
        else:
            rows = np.asarray(self.axes, dtype=float)
            semi = np.asarray(self.semi_axes_mm, dtype=float)
            if self.kind == "ellipsoid":
                h = np.sqrt(np.sum((semi[:, None] * rows) ** 2, axis=0))
            else:
                h = np.sum(semi[:, None] * np.abs(rows), axis=0)
            half = (float(h[0]), float(h[1]), float(h[2]))
        lo = tuple(self.center_mm[i] - half[i] for i in range(3))
        hi = tuple(self.center_mm[i] + half[i] for i in range(3))
        return lo, hi  # type: ignore[return-value]

    @property
    def volume_ml(self) -> float:
        """Volume (mL): analytic for a plain solid, else a midpoint-rule estimate.

        The estimate counts the cell centres of a grid that tiles the bounding box with
        at least 240 cells along its longest and 48 along its shortest edge (relative
        error below 0.5 % for the stylized organs; tested against their volumes
        computed by hand from the equations).
        """
        a, b, c = self.semi_axes_mm
        if self.plain:
            if self.kind == "ellipsoid":
                v = 4 / 3 * math.pi * a * b * c
            elif self.kind == "cylinder":
                v = math.pi * a * b * 2 * c
            else:
                v = 8 * a * b * c
            return v / MM3_PER_ML
        return _numeric_volume_ml(self)


def _dot(n: Vec3, p: Vec3) -> float:
    return n[0] * p[0] + n[1] * p[1] + n[2] * p[2]


@lru_cache(maxsize=256)
def _numeric_volume_ml(solid: Ellipsoid, cells: int = 240) -> float:
    """Midpoint-rule volume of a solid on a grid of ``cells`` along its longest extent."""
    lo, hi = solid.bounds()
    extent = [hi[i] - lo[i] for i in range(3)]
    step = min(max(extent) / cells, min(extent) / 48)  # >= 48 cells across thin solids
    # Cells tile the bounding box exactly, so that flat faces on it (cylinder ends) are exact.
    n = [max(1, math.ceil(extent[i] / step - 1e-9)) for i in range(3)]
    h = [extent[i] / n[i] for i in range(3)]
    axes = [lo[i] + h[i] * (np.arange(n[i]) + 0.5) for i in range(3)]
    total = 0
    for zk in axes[2]:  # slice by slice: bounded memory
        inside = solid.contains(axes[0][None, :], axes[1][:, None], np.float64(zk))
        total += int(np.count_nonzero(inside))
    return total * h[0] * h[1] * h[2] / MM3_PER_ML


def _paint(
    labels: NDArray[np.int16],
    grid: Grid,
    solid: Ellipsoid,
    value: int,
    *,
    only: Iterable[int] | None = None,
) -> int:
    """Set ``labels`` to ``value`` inside ``solid`` (restricted to labels in ``only``).

    Returns the number of voxels painted.
    """
    xs, ys, zs = grid.axes()
    lo, hi = solid.bounds()
    sl = []
    for ax, k in ((zs, 2), (ys, 1), (xs, 0)):
        i0 = int(np.searchsorted(ax, lo[k], side="left"))
        i1 = int(np.searchsorted(ax, hi[k], side="right"))
        if i1 <= i0:
            return 0
        sl.append(slice(i0, i1))
    inside = solid.contains(
        xs[sl[2]][None, None, :], ys[sl[1]][None, :, None], zs[sl[0]][:, None, None]
    )
    sub = labels[sl[0], sl[1], sl[2]]
    if only is not None:
        inside &= np.isin(sub, list(only))
    sub[inside] = value
    return int(np.count_nonzero(inside))
