"""Per-lesion and whole-body uptake metrics.

For each lesion of a :class:`~sstrkit.reading.segmentation.Segmentation`:

* ``suv_max`` — highest voxel SUV;
* ``suv_peak`` — highest mean SUV in a 1 cm³ sphere (radius 6.2 mm, PERCIST 1.0)
  centred on a lesion voxel (the sphere may extend beyond the lesion);
* ``suv_mean`` and ``volume_ml`` of the lesion mask;
* ``tlse`` — total lesion SSTR expression, SUVmean × volume (SUV·mL), the SSTR
  analogue of FDG's total lesion glycolysis;
* ``t_l``, ``t_s``, ``t_bp`` — SUVmax over liver / spleen / blood-pool SUVmean;
* ``centroid_mm`` — geometric centroid in DICOM patient coordinates (LPS mm).

Whole body: ``sstr_tumour_volume_ml`` (sum of volumes) and ``total_tlse``.

Examples
--------
>>> import numpy as np
>>> from sstrkit.core.volume import Volume
>>> lab = np.zeros((20, 20, 20), dtype=np.int32); lab[5:15, 5:15, 5:15] = 1
>>> suv = Volume.from_array(np.where(lab > 0, 8.0, 1.0), spacing=(2.0, 2.0, 2.0),
...                         quantity="SUV", unit="g/mL")
>>> m = measure_lesion(suv, lab == 1, lesion_id=1)
>>> m.suv_max, m.suv_peak, m.volume_ml, m.tlse
(8.0, 8.0, 8.0, 64.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, signal

from sstrkit.core.units import MM3_PER_ML
from sstrkit.core.volume import Volume
from sstrkit.reading.reference import ReferenceSet, ball
from sstrkit.reading.segmentation import Segmentation

__all__ = [
    "PEAK_RADIUS_MM",
    "LesionMetrics",
    "WholeBody",
    "lesion_metrics",
    "measure_lesion",
    "suv_peak",
    "whole_body",
]

#: Radius of a 1 cm³ sphere: (3 × 1000 mm³ / 4π)^(1/3) = 6.2035 mm (PERCIST's 1.2 cm sphere).
PEAK_RADIUS_MM = float((3.0 * MM3_PER_ML / (4.0 * np.pi)) ** (1.0 / 3.0))


@dataclass(frozen=True)
class LesionMetrics:
    """Uptake metrics of one lesion (units in the field names; SUV is g/mL)."""

    id: int
    centroid_mm: tuple[float, float, float]
    suv_max: float
    suv_peak: float
    suv_mean: float
    volume_ml: float
    tlse: float
    t_l: float | None = None
    t_s: float | None = None
    t_bp: float | None = None
    organ: str = "other"
    origin: str = "auto"
    flags: tuple[str, ...] = ()
    krenning: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "centroid_mm": list(self.centroid_mm),
            "suv_max": self.suv_max,
            "suv_peak": self.suv_peak,
            "suv_mean": self.suv_mean,
            "volume_ml": self.volume_ml,
            "tlse": self.tlse,
            "t_l": self.t_l,
            "t_s": self.t_s,
            "t_bp": self.t_bp,
            "krenning": self.krenning,
            "organ": self.organ,
            "origin": self.origin,
            "flags": list(self.flags),
            **self.extra,
        }


def _spacing_zyx(vol: Volume) -> tuple[float, float, float]:
    sx, sy, sz = vol.spacing
    return (sz, sy, sx)


Box = tuple[slice, slice, slice]


def _pad(box: Box, half: list[int], shape: tuple[int, ...]) -> Box:
    return tuple(  # type: ignore[return-value]
        slice(max(s.start - h, 0), min(s.stop + h, n))
        for s, h, n in zip(box, half, shape, strict=True)
    )


def _bbox(mask: NDArray[np.bool_]) -> Box:
    if not mask.any():
        raise ValueError("empty lesion mask")
    return ndimage.find_objects(mask.astype(np.int8))[0]  # type: ignore[no-any-return]


def _peak(
    arr: NDArray[np.float64], mask: NDArray[np.bool_], box: Box, kern: NDArray[np.float64]
) -> float:
    half = [k // 2 for k in kern.shape]
    sl = _pad(box, half, arr.shape)
    sub = arr[sl].astype(np.float64)
    # the ball is symmetric, so convolution == correlation; FFT keeps big lesions fast
    total = signal.fftconvolve(sub, kern, mode="same")
    count = signal.fftconvolve(np.ones_like(sub), kern, mode="same")
    mean = total / np.maximum(count, 1e-9)
    return float(mean[mask[sl]].max())


def suv_peak(suv: Volume, mask: NDArray[np.bool_], radius_mm: float = PEAK_RADIUS_MM) -> float:
    """Highest mean SUV in a sphere of ``radius_mm`` centred on any voxel of ``mask``.

    The sphere is the set of voxel centres within the radius (voxelised); near
    the image edge only the voxels inside the image are averaged.
    """
    kern = ball(_spacing_zyx(suv), radius_mm).astype(np.float64)
    return _peak(np.asarray(suv.array), mask, _bbox(mask), kern)


def _measure(
    suv: Volume,
    mask: NDArray[np.bool_],
    box: Box,
    lesion_id: int,
    references: ReferenceSet | None,
    kern: NDArray[np.float64],
) -> LesionMetrics:
    arr = np.asarray(suv.array)
    sub = mask[box]
    vals = arr[box][sub].astype(np.float64)
    volume = float(vals.size * suv.voxel_volume_ml)
    mean = float(vals.mean())
    smax = float(vals.max())
    idx = np.argwhere(sub).mean(axis=0) + np.array([s.start for s in box])
    c = suv.index_to_physical(idx[::-1])
    refs = references

    def ratio(ref: float | None) -> float | None:
        return smax / ref if ref is not None and ref > 0 else None

    return LesionMetrics(
        id=lesion_id,
        centroid_mm=(float(c[0]), float(c[1]), float(c[2])),
        suv_max=smax,
        suv_peak=_peak(arr, mask, box, kern),
        suv_mean=mean,
        volume_ml=volume,
        tlse=mean * volume,
        t_l=ratio(refs.liver_mean) if refs else None,
        t_s=ratio(refs.spleen_mean) if refs else None,
        t_bp=ratio(refs.blood_pool_mean) if refs else None,
    )


def measure_lesion(
    suv: Volume,
    mask: NDArray[np.bool_],
    *,
    lesion_id: int,
    references: ReferenceSet | None = None,
) -> LesionMetrics:
    """Metrics of one lesion mask on the SUV grid."""
    kern = ball(_spacing_zyx(suv), PEAK_RADIUS_MM).astype(np.float64)
    return _measure(suv, mask, _bbox(mask), lesion_id, references, kern)


def lesion_metrics(
    suv: Volume, seg: Segmentation, references: ReferenceSet | None = None
) -> tuple[LesionMetrics, ...]:
    """Metrics of every lesion of ``seg`` (ids = label values)."""
    suv.check_same_space(seg.labels)
    lab = np.asarray(seg.labels.array)
    objs = ndimage.find_objects(lab)
    kern = ball(_spacing_zyx(suv), PEAK_RADIUS_MM).astype(np.float64)
    half = [k // 2 for k in kern.shape]
    out: list[LesionMetrics] = []
    for reg in seg.regions:
        box = objs[reg.label - 1]
        if box is None:
            continue
        # a mask only over the padded box: the peak sphere may extend past the lesion
        padded = _pad(box, half, lab.shape)
        mask = np.zeros(lab.shape, dtype=bool)
        mask[padded] = lab[padded] == reg.label
        m = _measure(suv, mask, box, reg.label, references, kern)
        out.append(replace(m, organ=reg.organ, origin=reg.origin, flags=reg.flags))
    return tuple(out)


@dataclass(frozen=True)
class WholeBody:
    """Whole-body SSTR tumour burden."""

    n_lesions: int
    sstr_tumour_volume_ml: float
    total_tlse: float


def whole_body(lesions: Sequence[LesionMetrics]) -> WholeBody:
    """Sum of lesion volumes and of TLSE.

    >>> whole_body([]).sstr_tumour_volume_ml
    0.0
    """
    return WholeBody(
        n_lesions=len(lesions),
        sstr_tumour_volume_ml=float(sum(m.volume_ml for m in lesions)),
        total_tlse=float(sum(m.tlse for m in lesions)),
    )
