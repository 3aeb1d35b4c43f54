"""CT-only structures of the digital patient other than the bowel.

Internal to :mod:`sstrkit.phantom.ct_tissues` (which calls them in a fixed order,
first come first served): subcutaneous fat and the body-wall muscle, the back and
pelvic muscles and the intervertebral discs, the myocardium, diaphragm and crura,
the gallbladder, the stomach and the perirenal fat. Each is placed from the patient
frame (:mod:`sstrkit.phantom.ct_frame`), never from fixed coordinates alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.phantom.anatomy import COMPOSITES, LABELS, Anatomy
from sstrkit.phantom.ct_frame import (
    _BONE,
    _angular,
    _Box,
    _ellipses,
    _ellipsoid,
    _Frame,
    _shell,
    _slab,
    _smooth_field,
)

if TYPE_CHECKING:
    from sstrkit.phantom.ct_tissues import _Painter


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
