"""CT landmarks of the trunk: body, lungs, bone, fat, spine axis, vertebral bodies.

Everything here works on an axis-aligned working grid in patient coordinates
(LPS; numpy order ``(z, y, x)``; +x patient left, +y posterior, +z head) built
by :func:`working_grid`. Thresholds are in HU and cited in ``docs/segmentation.md``.

Examples
--------
>>> import numpy as np
>>> hu = np.full((20, 40, 40), -1000.0)
>>> hu[:, 5:35, 5:35] = 40.0
>>> hu[2:18, 10:30, 8:20] = -850.0        # a 246 mL "lung" inside the body
>>> m = ct_masks(hu, (4.0, 4.0, 4.0))
>>> int(m.body.sum()) == 20 * 30 * 30, int(m.lungs.sum())
(True, 3840)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.units import MM3_PER_ML
from sstrkit.core.volume import Volume

__all__ = [
    "BODY_HU",
    "BONE_HU",
    "FAT_HU",
    "LUNG_HU",
    "CtMasks",
    "Landmarks",
    "ct_masks",
    "landmarks",
    "largest_component",
    "working_grid",
]

#: Body outline: skin/air boundary (air −1000 HU, subcutaneous fat about −100 HU).
BODY_HU = -350.0
#: Aerated lung (about −850 HU) and gas: below −400 HU inside the body.
LUNG_HU = -400.0
#: Bone: trabecular bone of adults is above ~150 HU, cortical bone above ~700 HU.
BONE_HU = 180.0
#: Adipose tissue spans about −190 to −30 HU; −40 separates it from water-like tissue.
FAT_HU = -40.0


def working_grid(ct: Volume, spacing_mm: float = 3.0) -> tuple[Volume, NDArray[np.float32]]:
    """Axis-aligned working grid covering the CT; returns (reference volume, smoothed HU).

    The CT is smoothed (Gaussian, σ = half the working spacing, anti-aliasing) and
    resampled linearly onto a grid with identity direction and spacing
    ``max(native, spacing_mm)`` per axis, so that every later step can use patient
    axes directly.
    """
    img = ct.to_sitk()
    size = np.asarray(img.GetSize())
    native = np.asarray(img.GetSpacing())
    c = np.asarray(
        [
            img.TransformContinuousIndexToPhysicalPoint((float(i), float(j), float(k)))
            for i in (0, size[0] - 1)
            for j in (0, size[1] - 1)
            for k in (0, size[2] - 1)
        ]
    )
    lo, hi = c.min(axis=0), c.max(axis=0)
    # Physical spacing along patient axes (direction may permute/flip the image axes).
    d = np.abs(np.asarray(img.GetDirection()).reshape(3, 3))
    phys = d @ native
    sp = np.maximum(phys, spacing_mm)
    n = np.maximum(np.floor((hi - lo) / sp).astype(int) + 1, 1)
    sigma_image_axes = (d.T @ sp) / 2.0
    src = sitk.Cast(img, sitk.sitkFloat32)
    # Fine CTs (0.7-1 mm) are first averaged over whole blocks (fast, itself anti-aliasing)
    shrink = [max(int(v), 1) for v in np.floor(sigma_image_axes / native)]
    if max(shrink) > 1:
        src = sitk.BinShrink(src, shrink)
    smooth = sitk.SmoothingRecursiveGaussian(src, [float(v) for v in sigma_image_axes])
    ref = sitk.Image([int(v) for v in n], sitk.sitkFloat32)
    ref.SetSpacing([float(v) for v in sp])
    ref.SetOrigin([float(v) for v in lo])
    out = sitk.Resample(smooth, ref, sitk.Transform(), sitk.sitkLinear, -1000.0, sitk.sitkFloat32)
    arr = sitk.GetArrayFromImage(out).astype(np.float32)
    work = Volume(
        np.zeros(arr.shape, dtype=np.uint8),
        spacing=(float(sp[0]), float(sp[1]), float(sp[2])),
        origin=(float(lo[0]), float(lo[1]), float(lo[2])),
        frame_of_reference_uid=ct.frame_of_reference_uid,
        modality="OT",
        quantity="working_grid",
        name="organs_working_grid",
    )
    return work, arr


@dataclass(frozen=True)
class CtMasks:
    """Tissue masks of the working grid (numpy ``(z, y, x)``)."""

    body: NDArray[np.bool_]
    lungs: NDArray[np.bool_]
    lung_left: NDArray[np.bool_]
    lung_right: NDArray[np.bool_]
    bone: NDArray[np.bool_]
    fat: NDArray[np.bool_]
    soft: NDArray[np.bool_]


def largest_component(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The largest connected component (face connectivity) of ``mask``."""
    lab, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    out: NDArray[np.bool_] = lab == int(np.argmax(sizes))
    return out


def _fill_slices(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    out = np.empty_like(mask)
    for k in range(mask.shape[0]):
        out[k] = ndimage.binary_fill_holes(mask[k])
    return out


def ct_masks(hu: NDArray[np.float32], spacing_xyz: tuple[float, float, float]) -> CtMasks:
    """Body, lungs (left/right), bone, fat and soft tissue from smoothed HU."""
    body = _fill_slices(largest_component(hu > BODY_HU))
    vox_ml = float(np.prod(spacing_xyz)) / MM3_PER_ML
    air = (hu < LUNG_HU) & body
    lab, n = ndimage.label(air)
    lungs = np.zeros_like(body)
    if n:
        sizes = np.bincount(lab.ravel())[1:] * vox_ml
        zidx = np.broadcast_to(np.arange(hu.shape[0])[:, None, None], lab.shape)
        tops = np.asarray(ndimage.maximum(zidx, lab, range(1, n + 1)), dtype=float)
        big = int(np.argmax(sizes))
        keep = [
            i + 1
            for i in range(n)
            if sizes[i] >= 100.0
            and (sizes[i] >= 0.3 * sizes[big] or (tops[i] - tops[big]) * spacing_xyz[2] >= -60.0)
        ]
        lungs = np.isin(lab, keep)
    # Left/right: by the body midline of each slice.
    xs = np.arange(hu.shape[2])
    mid = np.zeros(hu.shape[0])
    for k in range(hu.shape[0]):
        cols = np.nonzero(body[k].any(axis=0))[0]
        mid[k] = (cols[0] + cols[-1]) / 2.0 if cols.size else hu.shape[2] / 2.0
    left_side = xs[None, None, :] > mid[:, None, None]  # +x = patient left
    lung_left = lungs & left_side
    lung_right = lungs & ~left_side
    bone = (hu > BONE_HU) & body & ~lungs
    bone = ndimage.binary_opening(bone, iterations=1) | (hu > 400.0) & body
    bone = _fill_slices(bone) & body
    fat = body & ~lungs & (hu < FAT_HU)
    soft = body & ~lungs & ~bone & ~fat
    return CtMasks(body, lungs, lung_left, lung_right, bone, fat, soft)


@dataclass(frozen=True)
class Landmarks:
    """Patient axes from the CT (working-grid indices and mm)."""

    spine_x: float  # index, x
    spine_y: float  # index, y
    body_x0: float  # body centre (index)
    body_y0: float
    half_width: float  # body half width, voxels
    half_depth: float  # body half depth, voxels
    lung_base_left: float | None  # z index of the lowest lung slice (≥ 5 mL per slice)
    lung_base_right: float | None
    z_top: int
    z_bottom: int


def landmarks(m: CtMasks, spacing_xyz: tuple[float, float, float]) -> Landmarks:
    """Spine axis, body centre and size, lung bases."""
    _, yy, xx = np.nonzero(m.body)
    x0 = float(xx.mean())
    y0 = float(yy.mean())
    # Body size from the abdominal slices (median over slices of the per-slice extents).
    widths, depths = [], []
    for k in range(m.body.shape[0]):
        if not m.body[k].any():
            continue
        cols = np.nonzero(m.body[k].any(axis=0))[0]
        rows = np.nonzero(m.body[k].any(axis=1))[0]
        widths.append((cols[-1] - cols[0] + 1) / 2.0)
        depths.append((rows[-1] - rows[0] + 1) / 2.0)
    hw = float(np.median(widths)) if widths else m.body.shape[2] / 2.0
    hd = float(np.median(depths)) if depths else m.body.shape[1] / 2.0
    # Spine: bone near the midline, posterior half.
    band = np.zeros_like(m.bone)
    xlo, xhi = int(max(x0 - 0.3 * hw, 0)), int(min(x0 + 0.3 * hw + 1, m.body.shape[2]))
    band[:, int(y0) :, xlo:xhi] = True
    sb = m.bone & band
    if sb.any():
        _, sy, sx = np.nonzero(sb)
        spine_x, spine_y = float(np.median(sx)), float(np.median(sy))
    else:
        spine_x, spine_y = x0, y0 + 0.4 * hd
    min_vox = 5.0 / (float(np.prod(spacing_xyz)) / MM3_PER_ML)

    def base(mask: NDArray[np.bool_]) -> float | None:
        per = mask.sum(axis=(1, 2))
        idx = np.nonzero(per >= min_vox)[0]
        return float(idx[0]) if idx.size else None

    zs = np.nonzero(m.body.any(axis=(1, 2)))[0]
    return Landmarks(
        spine_x=spine_x,
        spine_y=spine_y,
        body_x0=x0,
        body_y0=y0,
        half_width=hw,
        half_depth=hd,
        lung_base_left=base(m.lung_left),
        lung_base_right=base(m.lung_right),
        z_top=int(zs[-1]) if zs.size else m.body.shape[0] - 1,
        z_bottom=int(zs[0]) if zs.size else 0,
    )
