"""CT-only anatomy of the digital patient: muscles, fat depots, bowel, stomach, gallbladder.

The truth label map knows organs and a generic remainder (``body``). A real
non-contrast CT shows much more in that remainder: subcutaneous and visceral fat,
the abdominal wall, psoas, paraspinal and quadratus lumborum muscles, the
diaphragm and its crura, perirenal fat, bowel loops and the stomach. These are
painted here into an integer *CT tissue map* on the truth grid, only into voxels
whose label is ``body`` (or a lesion, so that a lesion that shrinks uncovers
tissue), so the label map, the emission images and the dosimetry truth do not
change. The organs touch muscle, bowel or stomach somewhere, as in a patient,
so that a HU threshold with connected components merges them with their
neighbours.

Every structure is placed from the patient model, never from fixed coordinates
alone: the body ellipse (``model.body``, ``model.fat_rim_mm``), the spine found
in the label map (bone near the body axis; lumbar levels from ``model.vertebrae``
when they are named ``L1``...``L5``), the organs' positions in the label map
(liver, spleen, kidneys, heart, lungs, bladder). Random shapes (bowel loops,
layer thicknesses, gaps in the perirenal fat, texture) come from the patient's
seed, so the map is deterministic.

Encoding (one ``uint8`` per truth voxel): bits 0-4 the structure code
(:data:`STRUCTURES`, 0 = none: the label's own tissue), bits 5-7 the texture level
(0-7) of a smooth unit-variance random field (:data:`TEXTURE_LEVELS`) that
:func:`sstrkit.phantom.scanners.ct_hu` scales by each tissue's heterogeneity.
The map moves with the patient (:func:`sstrkit.phantom.positioning.move_anatomy`).

Examples
--------
>>> from sstrkit.phantom.anatomy import PatientSpec, build_anatomy
>>> anatomy = build_anatomy(PatientSpec("M", seed=3), voxel_mm=8.0, lesions=False).voxelise()
>>> m = ct_tissue_map(anatomy)
>>> m.shape == anatomy.labels.shape, m.dtype.name
(True, 'uint8')
>>> codes = set(np.unique(structure_codes(m)).tolist())
>>> {STRUCTURES["psoas_muscle"], STRUCTURES["bowel_wall"]} <= codes
True
>>> round(float(np.mean(TEXTURE_LEVELS**2)), 12)
1.0
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, special

from sstrkit.errors import InvalidInputError
from sstrkit.phantom.anatomy import COMPOSITES, LABELS, LESION_LABEL0, Anatomy, Grid
from sstrkit.phantom.parameters import parameters

__all__ = [
    "STRUCTURES",
    "STRUCTURE_TISSUE",
    "TEXTURE_LEVELS",
    "ct_tissue_map",
    "structure_codes",
    "structure_mask",
    "texture_levels",
]

#: Code of every CT-only structure in the tissue map (bits 0-4).
STRUCTURES: dict[str, int] = {
    "subcutaneous_fat": 1,
    "body_wall_muscle": 2,
    "paraspinal_muscle": 3,
    "psoas_muscle": 4,
    "quadratus_lumborum": 5,
    "pelvic_muscle": 6,
    "diaphragm": 7,
    "myocardium": 8,
    "intervertebral_disc": 9,
    "perirenal_fat": 10,
    "visceral_fat": 11,
    "bowel_wall": 12,
    "bowel_content": 13,
    "colon_content": 14,
    "bowel_gas": 15,
    "stomach_wall": 16,
    "stomach_content": 17,
    "stomach_gas": 18,
    "gallbladder": 19,
}

#: The tissue (key of ``[ct.hu]`` in parameters.toml) of every structure.
STRUCTURE_TISSUE: dict[str, str] = {
    "subcutaneous_fat": "fat_subcutaneous",
    "body_wall_muscle": "muscle",
    "paraspinal_muscle": "muscle",
    "psoas_muscle": "muscle",
    "quadratus_lumborum": "muscle",
    "pelvic_muscle": "muscle",
    "diaphragm": "muscle",
    "myocardium": "muscle",
    "intervertebral_disc": "intervertebral_disc",
    "perirenal_fat": "fat_perirenal",
    "visceral_fat": "fat_visceral",
    "bowel_wall": "bowel_wall",
    "bowel_content": "bowel_content",
    "colon_content": "colon_content",
    "bowel_gas": "gas",
    "stomach_wall": "bowel_wall",
    "stomach_content": "stomach_content",
    "stomach_gas": "gas",
    "gallbladder": "bile",
}

_CODE_BITS = 5
#: Small-bowel loops: at most this many random walks, until this fraction of the anterior
#: abdominal cavity (walls included) is filled.
_MAX_LOOPS = 150
_BOWEL_FILL = 0.8
_CODE_MASK = (1 << _CODE_BITS) - 1
_N_LEVELS = 8


def _texture_levels() -> NDArray[np.float64]:
    """Conditional means of N(0, 1) in 8 equiprobable bins, rescaled to unit mean square."""
    edges = special.ndtri(np.arange(_N_LEVELS + 1) / _N_LEVELS)
    pdf = np.exp(-0.5 * np.nan_to_num(edges, posinf=1e6, neginf=-1e6) ** 2) / math.sqrt(2 * math.pi)
    means = (pdf[:-1] - pdf[1:]) * _N_LEVELS
    out: NDArray[np.float64] = means / math.sqrt(float(np.mean(means**2)))
    return out


#: Value (unit-variance field) of each texture level 0-7: equiprobable quantiles.
TEXTURE_LEVELS: NDArray[np.float64] = _texture_levels()
_LEVEL_EDGES: NDArray[np.float64] = special.ndtri(np.arange(1, _N_LEVELS) / _N_LEVELS)

_BODY = LABELS["body"]
_BONE = (LABELS["cortical_bone"], LABELS["spongiosa"])


def structure_codes(ct_map: NDArray[Any]) -> NDArray[np.uint8]:
    """Structure code of every voxel (0: the label's own tissue)."""
    out: NDArray[np.uint8] = np.bitwise_and(np.asarray(ct_map, dtype=np.uint8), _CODE_MASK)
    return out


def texture_levels(ct_map: NDArray[Any]) -> NDArray[np.uint8]:
    """Texture level (0-7) of every voxel; its field value is ``TEXTURE_LEVELS[level]``."""
    out: NDArray[np.uint8] = np.right_shift(np.asarray(ct_map, dtype=np.uint8), _CODE_BITS)
    return out


def structure_mask(ct_map: NDArray[Any], labels: NDArray[Any], *names: str) -> NDArray[np.bool_]:
    """Voxels of the named structures that are ``body`` in ``labels`` (as the CT paints them)."""
    unknown = [n for n in names if n not in STRUCTURES]
    if unknown:
        raise InvalidInputError(
            "CT structure", expected=f"one of {sorted(STRUCTURES)}", actual=unknown
        )
    codes = [STRUCTURES[n] for n in names]
    out: NDArray[np.bool_] = np.isin(structure_codes(ct_map), codes) & (np.asarray(labels) == _BODY)
    return out


# ---------------------------------------------------------------- geometry of the patient
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


# ---------------------------------------------------------------- painter
class _Painter:
    """Paints structure codes into still-free body voxels (first come, first served)."""

    def __init__(self, lab: NDArray[Any]) -> None:
        self.code = np.zeros(lab.shape, dtype=np.uint8)
        self.free = (lab == _BODY) | (lab >= LESION_LABEL0)

    def paint(
        self, name: str, mask: NDArray[np.bool_], sl: tuple[slice, slice, slice] | None = None
    ) -> None:
        s = (slice(None), slice(None), slice(None)) if sl is None else sl
        free = self.free[s]
        sel = mask & free
        self.code[s][sel] = STRUCTURES[name]
        free[sel] = False


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


# ---------------------------------------------------------------- structures
def _body_layers(p: _Painter, f: _Frame, rng: np.random.Generator, rim: float) -> float:
    """Subcutaneous fat and the body-wall muscle layer; returns the mean inner depth (mm)."""
    t_fat = rim * np.clip(_angular(rng, f.theta, 0.3), 0.4, None)
    t_wall = 11.0 * f.s * np.clip(_angular(rng, f.theta, 0.25), 0.5, None)
    depth = f.depth[None, :, :]
    p.paint("subcutaneous_fat", depth < t_fat[None, :, :])
    p.paint("body_wall_muscle", depth < (t_fat + t_wall)[None, :, :])
    return float(rim + 11.0 * f.s)


def _lumbar_levels(anatomy: Anatomy, f: _Frame, boxes: dict[str, _Box]) -> tuple[float, float]:
    """z of the top of L1 and of the centre of L5 (vertebrae, else from the kidneys)."""
    v = anatomy.model.vertebrae
    if "L1" in v and "L5" in v:
        z1, z5 = float(v["L1"][2]), float(v["L5"][2])
        return z1 + 0.5 * (z1 - z5) / 4.0, z5
    kidneys = [boxes[k] for k in ("kidney_left", "kidney_right") if k in boxes]
    if kidneys:
        top = max(float(k.hi[2]) for k in kidneys)
        bottom = min(float(k.lo[2]) for k in kidneys)
        return top - 0.2 * (top - bottom), bottom - 0.6 * (top - bottom)
    span = f.spine_hi - f.spine_lo
    return f.spine_lo + 0.45 * span, f.spine_lo + 0.1 * span


def _back_muscles(p: _Painter, f: _Frame, z_l1: float, z_l5: float) -> None:
    """Paraspinal (erector spinae), psoas, quadratus lumborum and the intervertebral discs."""
    # paraspinal muscles: beside the posterior arches, from the sacrum to the top of the field
    zsl = _slab(f, f.spine_lo - 20.0, float(f.zs[-1]))
    if zsl.stop > zsl.start:
        hw = f.spine_hw[zsl]
        rx = np.full_like(hw, 24.0 * f.sx)
        ry = np.full_like(hw, 21.0 * f.sy)
        yc = f.spine_back[zsl] - 0.45 * ry
        for side in (-1.0, 1.0):
            xc = f.spine_x[zsl] + side * (0.45 * hw + rx)
            p.paint(
                "paraspinal_muscle",
                _ellipses(f, zsl, xc, yc, rx, ry),
                (zsl, slice(None), slice(None)),
            )
    pitch = max((z_l1 - z_l5) / 4.5, 10.0)
    # psoas: from L1 down, growing; below L5 it turns laterally and forwards (iliopsoas)
    zsl = _slab(f, z_l5 - 1.6 * pitch, z_l1)
    if zsl.stop > zsl.start:
        z = f.zs[zsl]
        t = np.clip((z_l1 - z) / max(z_l1 - z_l5, 1.0), 0.0, 1.0)
        r = (6.0 + 13.0 * t) * f.s
        hw = f.spine_hw[zsl]
        below = np.clip((z_l5 - z) / (1.6 * pitch), 0.0, 1.0)
        y0 = f.spine_front[zsl] + hw
        yc = y0 - below * 0.35 * f.b
        for side in (-1.0, 1.0):
            x0 = hw + 0.85 * r
            xc = f.spine_x[zsl] + side * (x0 + below * (0.42 * f.a - x0))
            mask = _ellipses(f, zsl, xc, yc, r, 1.15 * r)
            p.paint("psoas_muscle", mask, (zsl, slice(None), slice(None)))
    # quadratus lumborum: posterolateral, from L1 to L4
    zsl = _slab(f, z_l5 + 0.6 * pitch, z_l1 - 0.2 * pitch)
    if zsl.stop > zsl.start:
        hw = f.spine_hw[zsl]
        rx = np.full_like(hw, 19.0 * f.sx)
        ry = np.full_like(hw, 10.0 * f.sy)
        yc = 0.5 * (f.spine_front[zsl] + f.spine_back[zsl]) + 0.35 * (
            f.spine_back[zsl] - f.spine_front[zsl]
        )
        for side in (-1.0, 1.0):
            xc = f.spine_x[zsl] + side * (hw + 38.0 * f.sx)
            p.paint(
                "quadratus_lumborum",
                _ellipses(f, zsl, xc, yc, rx, ry),
                (zsl, slice(None), slice(None)),
            )
    # intervertebral discs: the gaps between vertebral bodies
    zsl = _slab(f, f.spine_lo, f.spine_hi)
    gaps = ~f.spine_bone[zsl]
    if gaps.any():
        hw = f.spine_hw[zsl]
        mask = _ellipses(f, zsl, f.spine_x[zsl], f.spine_front[zsl] + hw, hw, hw)
        mask &= gaps[:, None, None]
        p.paint("intervertebral_disc", mask, (zsl, slice(None), slice(None)))


def _pelvic_muscles(p: _Painter, f: _Frame, lab: NDArray[Any], z_l5: float) -> None:
    """Gluteal and iliacus muscles: body voxels within 18 mm of the iliac bones."""
    zsl = _slab(f, float(f.zs[0]), z_l5)
    if zsl.stop <= zsl.start:
        return
    lateral = np.abs(f.xs - f.cx) > 0.35 * f.a
    bone = np.isin(lab[zsl], _BONE) & lateral[None, None, :]
    if not bone.any():
        return
    dist = ndimage.distance_transform_edt(
        ~bone, sampling=(f.grid.spacing[2], f.grid.spacing[1], f.grid.spacing[0])
    )
    p.paint("pelvic_muscle", (dist > 0) & (dist <= 18.0 * f.s), (zsl, slice(None), slice(None)))


def _thorax_floor(
    p: _Painter, f: _Frame, lab: NDArray[Any], boxes: dict[str, _Box], z_l1: float, z_l5: float
) -> None:
    """Myocardium around the heart blood, the diaphragm under the lungs and heart, the crura."""
    grid = f.grid
    if "heart_blood" in boxes:
        mask, sl = _shell(lab, (LABELS["heart_blood"],), boxes["heart_blood"], grid, 8.0)
        p.paint("myocardium", mask, sl)
    thorax = (lab == LABELS["lungs"]) | (lab == LABELS["heart_blood"])
    cols = thorax.any(axis=0)
    if not cols.any():
        return
    k_low = np.argmax(thorax, axis=0)  # lowest thoracic voxel of every column
    n = max(1, round(5.0 / grid.spacing[2]))
    kz = np.arange(lab.shape[0])[:, None, None]
    band = cols[None] & (kz < k_low[None]) & (kz >= k_low[None] - n)
    p.paint("diaphragm", band)
    # crura: from the lowest lung base beside the spine down to L1 (left) and L2 (right)
    pitch = max((z_l1 - z_l5) / 4.5, 10.0)
    ix = np.abs(f.xs - f.cx) < 0.35 * f.a
    near = cols[:, ix]
    if not near.any():
        return
    z_top = float(f.zs[int(k_low[:, ix][near].min())])
    liver_side = 1.0
    if "liver" in boxes:
        liver_side = 1.0 if boxes["liver"].centre[0] > f.cx else -1.0
    for side, z_bottom in ((liver_side, z_l1 - 1.5 * pitch), (-liver_side, z_l1 - 0.5 * pitch)):
        zsl = _slab(f, z_bottom, z_top)
        if zsl.stop <= zsl.start:
            continue
        hw = f.spine_hw[zsl]
        r = np.full_like(hw, 6.0 * f.s)
        xc = f.spine_x[zsl] + side * 0.75 * hw
        yc = f.spine_front[zsl] - 0.7 * r
        p.paint("diaphragm", _ellipses(f, zsl, xc, yc, r, 1.3 * r), (zsl, slice(None), slice(None)))


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


def _hollow(
    p: _Painter,
    f: _Frame,
    c: NDArray[np.float64],
    semi: NDArray[np.float64],
    wall_mm: float,
    names: tuple[str, str, str | None],
    gas_fraction: float,
) -> None:
    """A fluid-filled ellipsoid with a wall and (optionally) gas in its anterior part."""
    rho, box = _ellipsoid(f, c, semi)
    if rho.size == 0:
        return
    inner_semi = np.maximum(semi - wall_mm, 1.0)
    dz = ((f.zs[box[0]] - c[2]) / inner_semi[2])[:, None, None]
    dy = ((f.ys[box[1]] - c[1]) / inner_semi[1])[None, :, None]
    dx = ((f.xs[box[2]] - c[0]) / inner_semi[0])[None, None, :]
    inner = np.sqrt(dx**2 + dy**2 + dz**2)
    lumen = inner <= 1.0
    wall_name, fluid_name, gas_name = names
    if gas_name is not None and gas_fraction > 0:
        y_level = c[1] - inner_semi[1] * (1.0 - 2.0 * gas_fraction)
        gas = lumen & (f.ys[box[1]][None, :, None] < y_level)
        p.paint(gas_name, gas, box)
    p.paint(fluid_name, lumen, box)
    p.paint(wall_name, rho <= 1.0, box)


def _gallbladder(p: _Painter, f: _Frame, lab: NDArray[Any], boxes: dict[str, _Box]) -> None:
    """Bile-filled ellipsoid against the inferior, anterior surface of the liver."""
    if "liver" not in boxes:
        return
    lv = boxes["liver"]
    half = 0.5 * (lv.hi - lv.lo)
    toward = 1.0 if lv.centre[0] < f.cx else -1.0  # towards the midline
    x = lv.centre[0] + toward * 0.1 * half[0]
    y = lv.centre[1] - 0.55 * half[1]
    ij = f.index(np.array([x, y, lv.centre[2]]))
    if ij is None:
        return
    column = lab[:, ij[1], ij[2]] == LABELS["liver"]
    if not column.any():
        return
    z_bottom = float(f.zs[int(np.argmax(column))])
    semi = np.array([15.0, 15.0, 32.0]) * f.s
    c = np.array([x, y, z_bottom - 0.35 * semi[2]])
    rho, box = _ellipsoid(f, c, semi)
    p.paint("gallbladder", rho <= 1.0, box)


def _stomach(p: _Painter, f: _Frame, boxes: dict[str, _Box], z_floor: float) -> None:
    """Stomach in the upper quadrant of the spleen's side: wall, fluid and a gas cap."""
    if "spleen" not in boxes:
        return
    sp = boxes["spleen"]
    side = 1.0 if sp.centre[0] > f.cx else -1.0
    semi = np.array([40.0 * f.sx, 30.0 * f.sy, 48.0 * f.s])
    x = f.cx + side * 0.55 * abs(float(sp.centre[0]) - f.cx)
    y = float(sp.lo[1]) - 0.7 * semi[1]
    z = min(
        float(sp.centre[2]) + 0.3 * (float(sp.hi[2]) - float(sp.centre[2])), z_floor - 0.8 * semi[2]
    )
    names = ("stomach_wall", "stomach_content", "stomach_gas")
    _hollow(p, f, np.array([x, y, z]), semi, 4.0, names, 0.22)


def _perirenal(
    p: _Painter,
    f: _Frame,
    lab: NDArray[Any],
    boxes: dict[str, _Box],
    rng: np.random.Generator,
) -> None:
    """Perirenal fat: a shell around each kidney with gaps where its neighbours touch it."""
    for side in ("kidney_left", "kidney_right"):
        if side not in boxes:
            continue
        values = tuple(LABELS[n] for n in COMPOSITES[side])
        mask, sl = _shell(lab, values, boxes[side], f.grid, 12.0 * f.s)
        gaps = _smooth_field(rng, mask.shape, 12.0 / f.grid.spacing[0])
        p.paint("perirenal_fat", mask & (gaps > -0.6), sl)


# ---------------------------------------------------------------- bowel
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
    spleen = boxes.get("spleen")
    bladder = boxes.get("bladder")
    z_top = float(liver.lo[2] + 0.3 * (liver.hi[2] - liver.lo[2])) if liver else z_l1 + pitch
    z_bottom = float(bladder.centre[2]) if bladder else z_l5 - 2.5 * pitch
    if z_top - z_bottom < 40.0:
        return
    zsl = _slab(f, z_bottom - 30.0, z_top + 30.0)
    cav2d = f.depth >= inner_depth
    ysl = slice(0, f.ys.size)
    xsl = slice(0, f.xs.size)
    box = (zsl, ysl, xsl)
    cavity = p.free[box] & cav2d[None, :, :]
    shape = cavity.shape
    tubes = _Tubes(
        sl=box,
        dist=np.full(shape, np.inf, dtype=np.float32),
        radius=np.ones(shape, dtype=np.float32),
        dy=np.zeros(shape, dtype=np.float32),
        chain=np.full(shape, -1, dtype=np.int32),
        gas=np.zeros(shape, dtype=bool),
        colon=np.zeros(shape, dtype=bool),
    )
    wall = 3.0
    right = -1.0 if liver is None else (1.0 if liver.centre[0] > f.cx else -1.0)
    left = -right
    r_big = 22.0 * f.s
    lateral = f.a - inner_depth - 0.9 * r_big
    y_lat = f.cy + 0.05 * f.b
    z_mid = 0.5 * (z_top + z_bottom)
    k_mid = f.iz(z_mid)
    spine_front = float(f.spine_front[k_mid])
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
    colon = [
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
        _paint_segment(tubes, f, path[i], path[i + 1], float(r_path[i]), chain, gas, True, wall)
        if rng.random() < 0.15:
            chain += 1  # haustra-like folds: walls across the colon now and then
    chain += 1
    # small bowel: persistent random walks anterior to the spine, started in still empty
    # places and kept out of other loops, until the anterior cavity is filled
    anterior = cavity & (f.ys[None, :, None] < spine_front)
    n_anterior = int(anterior.sum())
    if n_anterior == 0:
        return
    step = 9.0
    empty = np.argwhere(anterior)
    for n_chain in range(_MAX_LOOPS):
        if n_chain % 5 == 0:
            filled = anterior & (tubes.dist < tubes.radius + wall)
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
            _paint_segment(tubes, f, pos, new, r, chain, gas, False, wall)
            pos, direction = new, nd
        chain += 1
    # classify: lumen, wall (outer shell and between loops), gas on the anterior side
    inside = tubes.dist < tubes.radius + wall
    lumen = tubes.dist < tubes.radius
    other = np.zeros(shape, dtype=bool)
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
    p.paint("bowel_gas", gas_mask & cav, box)
    p.paint("colon_content", lumen & colon_mask & cav, box)
    p.paint("bowel_content", lumen & cav, box)
    p.paint("bowel_wall", wall_mask & cav, box)


# ---------------------------------------------------------------- texture
def _texture(rng: np.random.Generator, grid: Grid, correlation_mm: float) -> NDArray[np.uint8]:
    """Texture level (0-7) per voxel of a smooth unit-variance Gaussian random field.

    White noise on a lattice of ~4 mm is Gaussian-filtered (σ = ``correlation_mm``),
    rescaled to unit SD, interpolated linearly to the truth grid and quantised into
    8 equiprobable levels (values :data:`TEXTURE_LEVELS`).
    """
    v = float(min(grid.spacing))
    factor = max(1, round(4.0 / v))
    coarse = tuple(math.ceil(n / factor) + 1 for n in grid.shape)
    field = _smooth_field(rng, coarse, correlation_mm / (v * factor))
    if factor > 1:
        field = ndimage.zoom(field, factor, order=1, grid_mode=False)
    field = field[: grid.shape[0], : grid.shape[1], : grid.shape[2]]
    field = (field - float(field.mean())) / max(float(field.std()), 1e-12)
    out: NDArray[np.uint8] = np.digitize(field, _LEVEL_EDGES).astype(np.uint8)
    return out


# ---------------------------------------------------------------- entry point
def ct_tissue_map(anatomy: Anatomy) -> NDArray[np.uint8]:
    """The CT-only tissue map of an (unmoved) patient on its truth grid (see the module doc).

    Deterministic for the patient's seed. Computed once per patient; a repositioned
    patient moves it with its labels (:func:`sstrkit.phantom.positioning.move_anatomy`).
    """
    model = anatomy.model
    lab = np.asarray(anatomy.labels.array)
    if lab.shape != model.grid.shape:
        raise InvalidInputError("label map", expected=f"shape {model.grid.shape}", actual=lab.shape)
    p_ct = parameters()["ct"]
    rng = np.random.default_rng([int(model.patient.seed), 23])
    f = _frame(anatomy)
    boxes = _boxes(lab, model.grid)
    z_l1, z_l5 = _lumbar_levels(anatomy, f, boxes)
    p = _Painter(lab)
    inner = _body_layers(p, f, rng, float(model.fat_rim_mm))
    _back_muscles(p, f, z_l1, z_l5)
    _pelvic_muscles(p, f, lab, z_l5)
    _thorax_floor(p, f, lab, boxes, z_l1, z_l5)
    _gallbladder(p, f, lab, boxes)
    z_floor = float(boxes["lungs"].lo[2]) if "lungs" in boxes else float(f.zs[-1])
    _stomach(p, f, boxes, z_floor)
    _perirenal(p, f, lab, boxes, rng)
    _bowel(p, f, boxes, rng, inner, z_l1, z_l5)
    p.paint("visceral_fat", np.ones(lab.shape, dtype=bool))
    levels = _texture(rng, model.grid, float(p_ct["texture_correlation_mm"]))
    out: NDArray[np.uint8] = p.code | np.left_shift(levels, _CODE_BITS).astype(np.uint8)
    return out
