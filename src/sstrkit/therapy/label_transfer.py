"""Label maps moved onto a coarser image grid without losing or inflating small regions.

VOIs are drawn on a fine grid (the PET/CT's CT, 2-4 mm) and used on the SPECT's (4-5
mm). Nearest-neighbour resampling keeps large regions right on average but makes a small
one's volume depend on where the coarse voxel centres fall: on the digital patient a
0.9 mL bone lesion became 3 SPECT voxels (0.34 mL) in one cycle and 10 (1.09 mL) in the
next. A partial-volume-corrected activity (GTM) then gives that wrong VOI the whole
lesion's counts, and the dose, activity ÷ (VOI volume × density), is off by the same
factor (2.7× there).

:func:`transfer_labels` therefore

1. moves every region by nearest neighbour, with each *small* region (fewer than
   ``small_voxels`` target voxels, default :data:`SMALL_REGION_VOXELS`) first replaced on
   the fine grid by its host — the most frequent other label around it (e.g. the liver
   around a liver lesion, 0 outside the body);
2. paints each small region back as the ``n`` target voxels it covers most, ``n`` = its
   fine-grid volume ÷ the target voxel volume, rounded (at least 1 while it is in the
   field of view): its coverage of each target voxel is estimated by sampling its mask,
   smoothed with a Gaussian of the target voxel's box-average width (σ = 0.29 × spacing,
   the standard deviation of a uniform interval), through the same transform. Smaller
   regions are painted last and win shared voxels.

So a small region keeps its volume to within half a target voxel, wherever the grids
fall, and stays where it is. Large regions are as nearest neighbour leaves them.

Examples
--------
>>> import numpy as np
>>> from sstrkit.core.volume import Volume
>>> fine = np.zeros((40, 40, 40), np.int32); fine[18:23, 18:23, 18:23] = 7  # 125 mm³
>>> lab = Volume.from_array(fine, spacing=(1.0, 1.0, 1.0), quantity="label", unit="1")
>>> ref = Volume.from_array(np.zeros((10, 10, 10)), spacing=(4.0, 4.0, 4.0), origin=(0.3, 0.3, 0.3))
>>> int((transfer_labels(lab, ref) == 7).sum())  # 125 / 64 = 1.95 → 2 voxels
2
"""

from __future__ import annotations

from typing import Final

import numpy as np
import SimpleITK as sitk
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.volume import Volume

__all__ = ["SMALL_REGION_VOXELS", "transfer_labels"]

#: Regions smaller than this many target voxels keep their volume (module docstring):
#: 64 SPECT voxels of 4.8 mm are 7 mL, a sphere of 24 mm.
SMALL_REGION_VOXELS: Final = 64
#: σ of a uniform interval of width 1 (1/√12): the box average of a target voxel.
_BOX_SIGMA: Final = 0.2887


def _image(array: NDArray[np.generic], like: Volume, start: tuple[int, int, int]) -> sitk.Image:
    """``array`` (z, y, x) as an image on ``like``'s grid, its first voxel at index ``start``
    (x, y, z) of ``like``."""
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(like.spacing)
    img.SetDirection(like.direction)
    img.SetOrigin(tuple(float(v) for v in like.index_to_physical(start)))
    return img


def _resample(
    img: sitk.Image, reference: sitk.Image, transform: sitk.Transform, nearest: bool
) -> NDArray[np.generic]:
    kind = sitk.sitkNearestNeighbor if nearest else sitk.sitkLinear
    pixel = sitk.sitkInt32 if nearest else sitk.sitkFloat32
    out = sitk.Resample(img, reference, transform, kind, 0, pixel)
    return np.asarray(sitk.GetArrayFromImage(out))


def _host(src: NDArray[np.int32], sl: tuple[slice, ...], value: int, small: set[int]) -> int:
    """The most frequent label (not a small one) in a one-voxel shell around ``value``."""
    box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in sl)
    sub = src[box]
    mask = sub == value
    shell = ndimage.binary_dilation(mask) & ~mask
    around = sub[shell]
    around = around[~np.isin(around, list(small))]
    if around.size == 0:
        return 0
    values, counts = np.unique(around, return_counts=True)
    return int(values[int(np.argmax(counts))])


def transfer_labels(
    labels: Volume,
    reference: Volume,
    transform: sitk.Transform | None = None,
    *,
    small_voxels: int = SMALL_REGION_VOXELS,
) -> NDArray[np.int32]:
    """``labels`` on ``reference``'s grid (module docstring). ``transform`` maps reference
    points to points of ``labels`` (SimpleITK's resampling convention, as
    :func:`sstrkit.therapy.registration.register_ct` returns it); None: the identity."""
    tx = transform if transform is not None else sitk.Transform(3, sitk.sitkIdentity)
    src = np.asarray(labels.array, dtype=np.int32)
    ref_img = reference.to_sitk()
    src_ml = float(np.prod(labels.spacing)) / 1000.0
    ref_ml = float(np.prod(reference.spacing)) / 1000.0
    values, counts = np.unique(src[src > 0], return_counts=True)
    target_n = {int(v): c * src_ml / ref_ml for v, c in zip(values, counts, strict=True)}
    small = {v for v, n in target_n.items() if n < small_voxels}
    if not small:
        return _resample(_image(src, labels, (0, 0, 0)), ref_img, tx, True).astype(np.int32)
    boxes = ndimage.find_objects(src, max_label=int(values.max()))
    hosted = src.copy()
    for v in small:
        sl = boxes[v - 1]
        assert sl is not None
        hosted[sl][src[sl] == v] = _host(src, sl, v, small)
    out = _resample(_image(hosted, labels, (0, 0, 0)), ref_img, tx, True).astype(np.int32)
    pairs = zip(reference.spacing[::-1], labels.spacing[::-1], strict=True)
    sigma_src = [_BOX_SIGMA * r / s for r, s in pairs]
    margin = [int(np.ceil(3 * s)) + 1 for s in sigma_src]
    for v in sorted(small, key=lambda k: -target_n[k]):  # smaller regions painted last
        sl = boxes[v - 1]
        assert sl is not None
        box = tuple(
            slice(max(s.start - m, 0), min(s.stop + m, n))
            for s, m, n in zip(sl, margin, src.shape, strict=True)
        )
        mask = ndimage.gaussian_filter((src[box] == v).astype(np.float32), sigma_src)
        start = (box[2].start, box[1].start, box[0].start)
        cover = np.asarray(
            _resample(_image(mask, labels, start), ref_img, tx, False), dtype=np.float64
        ).ravel()
        n = max(1, round(target_n[v]))
        inside = int(np.count_nonzero(cover > 1e-3))
        if inside == 0:
            continue  # outside the reference's field of view, as nearest neighbour
        n = min(n, inside)
        chosen = np.argpartition(-cover, n - 1)[:n]
        flat = out.reshape(-1)
        flat[chosen] = v
    return out
