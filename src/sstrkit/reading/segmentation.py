"""Lesion segmentation on an SUV volume: detection, delineation, suppression, seeds.

Three methods (:class:`SegmentationSettings` ``method``):

``percent_max`` (default)
    Detection: SUV above ``background_factor`` × background outside the liver
    (background = blood-pool SUVmean, else the median SUV of the body).
    Delineation of each detected focus: the connected region around its peak
    with SUV ≥ bg + ``percent`` × (SUVmax − bg) — a background-adapted
    isocontour (41–50 % of SUVmax are the usual fractions; 50 % recovers the
    true boundary of a uniform sphere whose edge is blurred or voxelised
    symmetrically).
``fixed``
    SUV ≥ ``fixed_suv``; connected components.
``liver_relative``
    SUV ≥ ``liver_factor`` × liver SUVmean; connected components.

Organs with background uptake that may hold lesions (liver, pancreas and any
labelled organ that is not physiological, blood or unrecognised) are read
against their own level (:class:`OrganBackground`): the robust median and SD
(1.4826 × MAD) of the organ with the detection candidates and a
``candidate_rim_mm`` rim removed (lesion labels are filled with the host organ,
so the label contains its lesions). In every method a focus inside such an
organ must exceed median + max(``liver_detect_sd`` × SD,
(``liver_detect_ratio`` − 1) × median) on the smoothed image *and* on the raw
image (never more than the liver demands), so that neither the normal organ nor
its noise maxima are lesions. Blurring cannot raise a voxel near an organ above
the organ's own level, so within ``organ_margin_mm`` of it the organ's threshold
applies too (no lesions from spill-over at the organ's edge). For
``percent_max``, a focus whose peak lies in such an organ is delineated against
the organ's median (bg + ``percent`` × (SUVmax − bg)), not the blood pool, and in
and near the organ no lesion voxel lies below the parenchyma noise ceiling
median + ``organ_noise_sd`` × SD (capped at the detection threshold); regions
stay within ± ``max_extent_mm`` of their peak. A detection component may hold
several foci: after the strongest is delineated, a further one must lie more
than 2 voxels from it and be the maximum of the smoothed image within
``candidate_rim_mm`` (otherwise it is the first lesion's partial-volume slope).
With organ labels, foci within ``physiological_margin_mm`` of kidneys, spleen,
bladder, adrenals or pituitary are suppressed (reported in ``suppressed``);
lesions are split by organ label; focal uptake in the pancreatic head (the
uncinate-process pitfall, Wang et al. 2013 section 5, ref. [88]) is flagged,
not removed. Seed points (LPS mm) add lesions semi-automatically: the peak
within ``seed_search_radius_mm`` is delineated with the isocontour, bypassing
detection and suppression.

Physiological patterns (SSTR biology; Wang et al. 2013 section 5; Hofman et al.
2015 RadioGraphics 35:500-516), applied to the delineated foci after detection —
each one conservative, so that a round focal lesion is never removed:

* **urinary tract** — a focus that is thin (inscribed width ≤ ``tube_max_width_mm``),
  long (≥ ``tube_min_length_mm``; length/width and principal-axis ratio
  (:class:`Shape`) ≥ ``tube_min_elongation``), runs
  cranio-caudally (principal axis within 53° of z) and lies in the corridor between a
  kidney and the bladder (on that kidney's side, below its centre, above the bladder
  floor) is ureteric urine and is suppressed;
* **bowel** — with a liver reference: a focus in the abdomen (below the lung bases),
  outside the solid organs, whose SUVmax is below the liver's lesion threshold and
  which is elongated (principal-axis ratio ≥ ``bowel_min_elongation``) or curvilinear
  (length/width ≥ 3 with axis ratio ≥ 1.5), width ≤ ``bowel_max_width_mm``, is
  suppressed; round or flat foci are kept whatever their uptake;
* **gallbladder** — only for 99mTc-labelled tracers (hepatobiliary excretion, e.g.
  99mTc-EDDA/HYNIC-TOC): a focus centred outside the liver within
  ``gallbladder_fossa_mm`` of its inferior, anterior, right part (the gallbladder
  fossa; or a gallbladder label) is suppressed; for 68Ga/64Cu/18F tracers nothing is
  done;
* **pancreatic uncinate process** — without a pancreas label, a focus centred in the
  uncinate region (right of the spine's midline, anterior to the vertebral body and
  to the kidneys (at most 50 mm in front of the vertebral body), medial to the right
  kidney and outside the liver, from 25 mm below to 15 mm above the renal hila) is kept
  but flagged (:data:`FLAG_TEXT`), like
  pancreatic-head foci with a pancreas label; flagged foci are not target lesions.

With automatic organs two more rules cover what the segmentation does not outline:
a detection component that touches uptake near liver level (smoothed SUV ≥
``liver_extension_level`` × the liver's median: half the level is the blurred
liver's edge, the 50 % isocontour) contiguous with the liver label within
``liver_extension_mm`` of it, and holds nothing above the liver's lesion threshold,
is liver parenchyma outside an imperfect outline and is suppressed (listed); and
when the
segmentation reports the adrenals ``not_visible`` (not outlined), a focus of at most
``adrenal_max_volume_ml`` centred where an adrenal lies (above and medial to a
kidney's upper pole, :meth:`Landmarks.in_adrenal_region`) is suppressed as
physiological adrenal uptake.

Inside spleen and kidneys (suppressed as a whole above), a compact focus that
exceeds the organ's own robust level by ``physiological_focal_ratio`` (and
``physiological_focal_sd`` robust SD) on the smoothed and the raw image is kept as a
lesion, flagged for CT correlation (accessory spleen, renal collecting system) and
not a target; an organ that is bright as a whole is not a lesion.

Limits: lesions whose uptake does not exceed their organ's threshold (e.g.
liver metastases at or below liver level) are not detected; two lesions whose
blurred edges touch merge when the smaller one is the hotter; a chain of small
nodes along a ureter, or an elongated sub-liver-level node conglomerate in the
abdomen, can be taken for urine or bowel (they are listed in ``suppressed``).

Examples
--------
>>> import numpy as np
>>> from sstrkit.core.volume import Volume
>>> from sstrkit.reading.reference import ReferenceRegion, ReferenceSet
>>> a = np.full((30, 30, 30), 1.0); a[10:16, 10:16, 10:16] = 10.0
>>> suv = Volume.from_array(a, spacing=(4.0, 4.0, 4.0), quantity="SUV", unit="g/mL")
>>> bp = ReferenceRegion("blood_pool", 1.0, 0.0, 1.0, 1.0, 1, (0, 0, 0), "user")
>>> seg = segment_lesions(suv, ReferenceSet(None, None, bp))
>>> len(seg.regions), int((seg.labels.array > 0).sum())
(1, 216)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.provenance import Step
from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.reading.organs import (
    MISSING_STATUSES,
    NO_BACKGROUND_KINDS,
    PHYSIOLOGICAL_KINDS,
    OrganMap,
)
from sstrkit.reading.reference import ReferenceSet, ball, check_suv_volume

__all__ = [
    "FLAG_TEXT",
    "PHYSIOLOGICAL_ORGAN_FLAG",
    "UNCINATE_FLAG",
    "LesionRegion",
    "OrganBackground",
    "Segmentation",
    "SegmentationSettings",
    "SuppressedUptake",
    "segment_lesions",
]

Method = Literal["percent_max", "fixed", "liver_relative"]
UNCINATE_FLAG = "uncinate_process_focal_uptake"
PHYSIOLOGICAL_ORGAN_FLAG = "focal_uptake_in_physiological_organ"

#: What a flag means, for the lesion table and the report.
FLAG_TEXT: dict[str, str] = {
    UNCINATE_FLAG: "possible physiological uncinate uptake (known pitfall; compare with CT/prior)",
    PHYSIOLOGICAL_ORGAN_FLAG: "focal uptake above the organ's own level in spleen or kidney "
    "(check CT: accessory spleen, renal collecting system)",
    "below_min_volume": "smaller than the minimum lesion volume (seed point kept)",
}

#: Flags that keep a lesion out of the target lesions (uncertain lesions).
NON_TARGET_FLAGS = frozenset({UNCINATE_FLAG, PHYSIOLOGICAL_ORGAN_FLAG})

#: Tracers with hepatobiliary excretion (gallbladder activity): 99mTc-labelled ligands.
_TC99M_WORDS = ("99mtc", "tc-99m", "tc99m", "99m-tc", "tc-99", "technetium")


@dataclass(frozen=True)
class SegmentationSettings:
    """Parameters of :func:`segment_lesions` (all recorded in the provenance)."""

    method: Method = "percent_max"
    percent: float = 0.5
    fixed_suv: float = 4.0
    liver_factor: float = 1.0
    background_factor: float = 2.5
    liver_detect_sd: float = 3.0
    liver_detect_ratio: float = 1.25
    min_volume_ml: float = 0.5
    physiological_margin_mm: float = 10.0
    suppress_physiological: bool = True
    split_by_organ: bool = True
    split_min_fraction: float = 0.3
    seed_search_radius_mm: float = 10.0
    max_extent_mm: float = 40.0
    detect_smoothing_mm: float = 3.0
    organ_margin_mm: float = 10.0
    organ_noise_sd: float = 3.0
    candidate_rim_mm: float = 8.0
    suppress_urinary_tract: bool = True
    suppress_bowel: bool = True
    flag_uncinate_region: bool = True
    tube_max_width_mm: float = 14.0
    tube_min_length_mm: float = 25.0
    tube_min_elongation: float = 3.0
    bowel_min_elongation: float = 2.5
    bowel_max_width_mm: float = 20.0
    gallbladder_fossa_mm: float = 25.0
    physiological_focal_ratio: float = 1.6
    physiological_focal_sd: float = 5.0
    adrenal_max_volume_ml: float = 15.0
    liver_extension_mm: float = 30.0
    liver_extension_level: float = 0.5

    def __post_init__(self) -> None:
        if self.method not in ("percent_max", "fixed", "liver_relative"):
            raise InvalidInputError(
                "segmentation method",
                expected="'percent_max', 'fixed' or 'liver_relative'",
                actual=self.method,
            )
        if not 0.05 <= self.percent <= 0.95:
            raise InvalidInputError(
                "isocontour fraction",
                expected="0.05–0.95 (typically 0.41–0.5)",
                actual=self.percent,
            )
        for name in (
            "fixed_suv",
            "liver_factor",
            "background_factor",
            "liver_detect_ratio",
            "physiological_focal_ratio",
        ):
            if getattr(self, name) <= 0:
                raise InvalidInputError(name, expected="> 0", actual=getattr(self, name))
        for name in (
            "min_volume_ml",
            "physiological_margin_mm",
            "organ_margin_mm",
            "organ_noise_sd",
            "candidate_rim_mm",
            "tube_max_width_mm",
            "tube_min_length_mm",
            "tube_min_elongation",
            "bowel_min_elongation",
            "bowel_max_width_mm",
            "gallbladder_fossa_mm",
            "physiological_focal_sd",
            "adrenal_max_volume_ml",
            "liver_extension_mm",
            "liver_extension_level",
        ):
            if getattr(self, name) < 0:
                raise InvalidInputError(name, expected="≥ 0", actual=getattr(self, name))


@dataclass(frozen=True)
class LesionRegion:
    """One segmented lesion: its label value in :attr:`Segmentation.labels`."""

    label: int
    organ: str
    origin: str  # "auto" or "seed"
    threshold_suv: float
    background_suv: float
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SuppressedUptake:
    """A focus removed as physiological uptake."""

    organ: str
    suv_max: float
    volume_ml: float
    centroid_mm: tuple[float, float, float]
    reason: str = ""


@dataclass(frozen=True)
class Segmentation:
    """Lesion label map on the PET grid plus per-lesion and suppressed-focus records."""

    labels: Volume
    regions: tuple[LesionRegion, ...]
    suppressed: tuple[SuppressedUptake, ...]
    settings: SegmentationSettings
    thresholds: dict[str, float | None]
    notes: tuple[str, ...] = ()
    landmarks: Landmarks | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": asdict(self.settings),
            "thresholds": dict(self.thresholds),
            "suppressed": [asdict(s) for s in self.suppressed],
            "notes": list(self.notes),
            "landmarks": self.landmarks.to_dict() if self.landmarks is not None else None,
        }


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class OrganBackground:
    """Robust uptake level of an organ that can hold lesions (liver, pancreas, ...).

    ``median_suv`` and ``robust_sd_suv`` (1.4826 × MAD) are taken over the raw
    voxels of the organ minus the detection candidates and their partial-volume
    rim; ``detect_suv`` is the detection threshold on the smoothed image and
    ``floor_suv`` = median + ``organ_noise_sd`` × robust SD the parenchyma noise
    ceiling below which no lesion voxel is grown in or near the organ.
    ``measurable`` is false when candidates and their rims cover more than
    three quarters of the organ (a lesion filling a small organ): the statistics
    are then those of the whole label, used for detection only (capped at the
    liver's threshold), and lesions there are delineated against their local
    shell background without a parenchyma floor.
    """

    name: str
    median_suv: float
    robust_sd_suv: float
    detect_suv: float
    floor_suv: float
    n_voxels: int
    excluded_fraction: float
    measurable: bool = True


def _robust(values: NDArray[np.float32]) -> tuple[float, float]:
    med = float(np.median(values))
    return med, 1.4826 * float(np.median(np.abs(values - med)))


def _organ_background(
    name: str,
    mask: NDArray[np.bool_],
    arr: NDArray[np.float32],
    smooth: NDArray[np.float32],
    spacing: tuple[float, float, float],
    cfg: SegmentationSettings,
    t_min: float,
    t_max: float,
) -> OrganBackground:
    """Organ level with the lesions excluded (iterated until the candidate set is stable).

    Lesion labels are filled with their host organ, so the organ label contains
    its lesions: candidates above the current detection threshold (smoothed
    image, clipped to ``t_min``..``t_max``) and a ``candidate_rim_mm`` rim around
    them are removed and the statistics redone, at most 5 times; when less than a
    quarter of the organ would remain, the organ is not ``measurable``.
    """

    def detect_level(values: NDArray[np.float32]) -> float:
        med, rsd = _robust(values)
        t = med + max(cfg.liver_detect_sd * rsd, (cfg.liver_detect_ratio - 1.0) * med)
        return min(max(t, t_min), t_max)

    # work in the organ's bounding box (padded by the rim) for speed
    objs = ndimage.find_objects(mask.astype(np.int8))
    pad = [int(np.ceil(cfg.candidate_rim_mm / s)) + 1 for s in spacing]
    box = tuple(
        slice(max(o.start - p, 0), min(o.stop + p, n))
        for o, p, n in zip(objs[0], pad, mask.shape, strict=True)
    )
    mask, arr, smooth = mask[box], arr[box], smooth[box]
    n_organ = int(mask.sum())
    keep = mask
    measurable = True
    rim = ball(spacing, cfg.candidate_rim_mm) if cfg.candidate_rim_mm > 0 else None
    for _ in range(5):
        cand = mask & (smooth > detect_level(smooth[keep]))
        if rim is not None and cand.any():
            cand = ndimage.binary_dilation(cand, structure=rim)
        new = mask & ~cand
        if new.sum() < 0.25 * n_organ:
            measurable = False
            keep = mask
            break
        if np.array_equal(new, keep):
            break
        keep = new
    detect = detect_level(smooth[keep])
    med_r, rsd_r = _robust(arr[keep])
    return OrganBackground(
        name=name,
        median_suv=med_r,
        robust_sd_suv=rsd_r,
        detect_suv=detect,
        # the noise ceiling never exceeds what would be detected as a lesion
        floor_suv=min(med_r + cfg.organ_noise_sd * rsd_r, detect),
        n_voxels=int(keep.sum()),
        excluded_fraction=1.0 - float(keep.sum()) / n_organ,
        measurable=measurable,
    )


def _within(
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


def _spacing_zyx(vol: Volume) -> tuple[float, float, float]:
    sx, sy, sz = vol.spacing
    return (sz, sy, sx)


def _background(arr: NDArray[np.float32], refs: ReferenceSet) -> tuple[float, str]:
    if refs.blood_pool_mean is not None:
        return refs.blood_pool_mean, "blood-pool SUVmean"
    body = arr > 0.3
    if not body.any():
        return float(np.median(arr)), "median SUV of the image"
    return float(np.median(arr[body])), "median SUV of the body (SUV > 0.3)"


def _physiological_zone(
    organs: OrganMap, vol: Volume, margin_mm: float
) -> tuple[NDArray[np.bool_], NDArray[np.int32]]:
    """Physiological organs dilated by ``margin_mm`` and the nearest organ code there."""
    zone = np.zeros(organs.labels.shape, dtype=bool)
    codes = np.zeros(organs.labels.shape, dtype=np.int32)
    spacing = _spacing_zyx(vol)
    pad = [int(np.ceil(margin_mm / s)) + 1 for s in spacing]
    for code, name in organs.names.items():
        if organs.kind_of(code) not in PHYSIOLOGICAL_KINDS:
            continue
        if organs.quality.get(name) in MISSING_STATUSES:
            # a flagged outline (e.g. a 1 mL "bladder" that is a lymph node) must not hide
            # uptake: only organs that passed their plausibility check suppress anything
            continue
        m = organs.labels == code
        objs = ndimage.find_objects(m.astype(np.int8))
        if not objs or objs[0] is None:
            continue
        sl = tuple(
            slice(max(s.start - p, 0), min(s.stop + p, n))
            for s, p, n in zip(objs[0], pad, m.shape, strict=True)
        )
        dist = ndimage.distance_transform_edt(~m[sl], sampling=spacing)
        near = dist <= margin_mm
        sub_codes = codes[sl]
        sub_codes[near & ~zone[sl]] = code
        zone[sl] |= near
    return zone, codes


def _shell_median(
    values: NDArray[np.float32],
    region: NDArray[np.bool_],
    exclude: NDArray[np.bool_],
    spacing: tuple[float, float, float],
    inner_mm: float = 8.0,
    width_mm: float = 8.0,
) -> float | None:
    """Median SUV in a shell ``inner_mm``..``inner_mm + width_mm`` around ``region``.

    Voxels of other detected foci and of physiological zones are excluded: the
    local background of a background-adapted isocontour.
    """
    if not region.any():
        return None
    dist = ndimage.distance_transform_edt(~region, sampling=spacing)
    shell = (dist > inner_mm) & (dist <= inner_mm + width_mm) & ~exclude
    if shell.sum() < 10:
        return None
    return float(np.median(values[shell]))


def _connected_to(mask: NDArray[np.bool_], point: tuple[int, ...]) -> NDArray[np.bool_]:
    lab, _ = ndimage.label(mask)
    v = lab[point]
    out: NDArray[np.bool_] = lab == v if v else np.zeros(mask.shape, dtype=bool)
    return out


def _box(
    center: Sequence[int], half: Sequence[int], shape: Sequence[int]
) -> tuple[slice, slice, slice]:
    return tuple(  # type: ignore[return-value]
        slice(max(c - h, 0), min(c + h + 1, n)) for c, h, n in zip(center, half, shape, strict=True)
    )


# ------------------------------------------------------------ anatomy and patterns
Point = tuple[float, float, float]


def _physical(vol: Volume, idx_zyx: NDArray[np.int64]) -> NDArray[np.float64]:
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
        return _physical(vol, idx[::step])

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
    spacing = _spacing_zyx(vol)
    idx = np.argwhere(mask) + np.asarray(offset)
    pts = _physical(vol, idx)
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


def is_tc99m(tracer: str | None) -> bool:
    """True for 99mTc-labelled tracers (hepatobiliary excretion: gallbladder activity).

    >>> is_tc99m("99mTc-EDDA/HYNIC-TOC"), is_tc99m("68Ga-DOTATATE"), is_tc99m(None)
    (True, False, False)
    """
    if not tracer:
        return False
    low = tracer.lower().replace(" ", "")
    return any(w in low for w in _TC99M_WORDS)


def _gallbladder_zone(
    organs: OrganMap, vol: Volume, marks: Landmarks, cfg: SegmentationSettings
) -> NDArray[np.bool_]:
    """Gallbladder label (+10 mm), or the fossa: outside the liver, within
    ``gallbladder_fossa_mm`` of it, below and anterior to its centre, right of the midline."""
    spacing = _spacing_zyx(vol)
    zone = np.zeros(organs.labels.shape, dtype=bool)
    if organs.has("gallbladder"):
        near, sl = _within(organs.mask("gallbladder"), 10.0, spacing)
        zone[sl] |= near
    liver = organs.mask("liver")
    if not liver.any() or marks.liver_centroid is None:
        return zone
    near, sl = _within(liver, cfg.gallbladder_fossa_mm, spacing)
    idx = np.argwhere(near)
    if not len(idx):
        return zone
    offs = np.array([s.start for s in sl])
    pts = _physical(vol, idx + offs)
    lx, ly, lz = marks.liver_centroid
    mid = marks.midline_x if marks.midline_x is not None else lx + 60.0
    sel = (pts[:, 2] < lz) & (pts[:, 1] < ly) & (pts[:, 0] < mid)
    fossa = np.zeros(near.shape, dtype=bool)
    fossa[tuple(idx[sel].T)] = True
    zone[sl] |= fossa & ~liver[sl]
    return zone


def _pattern_of(
    region: NDArray[np.bool_],
    box: tuple[slice, ...],
    vmax: float,
    vol: Volume,
    organs: OrganMap,
    marks: Landmarks,
    cfg: SegmentationSettings,
    t_liver: float | None,
    gallbladder: NDArray[np.bool_] | None,
) -> tuple[str, str] | None:
    """(organ, reason) when a delineated focus has a physiological pattern, else None."""
    shape = region_shape(region, vol, [b.start for b in box])
    c = shape.centroid_mm
    ijk = np.rint(vol.physical_to_index(c)).astype(int)[::-1]
    inside = all(0 <= v < n for v, n in zip(ijk, organs.labels.shape, strict=True))
    host = organs.kind_of(int(organs.labels[tuple(ijk)])) if inside else None
    if gallbladder is not None and inside and gallbladder[tuple(ijk)] and host != "liver":
        return (
            "gallbladder",
            "gallbladder fossa: hepatobiliary excretion of a 99mTc-labelled tracer",
        )
    volume_ml = float(region.sum()) * vol.voxel_volume_ml
    if (
        organs.status("adrenal") == "not_visible"
        and volume_ml <= cfg.adrenal_max_volume_ml
        and host not in ("liver", "spleen", "kidney")
        and marks.in_adrenal_region(c)
    ):
        return (
            "adrenal",
            f"adrenal region (adrenals not outlined by the segmentation): {volume_ml:.1f} mL "
            "focus above and medial to the kidney's upper pole, physiological adrenal uptake",
        )
    thin = shape.width_mm <= cfg.tube_max_width_mm
    if (
        cfg.suppress_urinary_tract
        and thin
        and shape.length_mm >= cfg.tube_min_length_mm
        and shape.elongation >= cfg.tube_min_elongation
        and shape.axis_ratio >= cfg.tube_min_elongation
        and abs(shape.axis[2]) >= 0.6
        and marks.in_ureter_corridor(c)
    ):
        return (
            "ureter",
            f"urinary tract: tubular focus ({shape.length_mm:.0f} mm long, "
            f"{shape.width_mm:.0f} mm wide, cranio-caudal) between kidney and bladder",
        )
    if cfg.flag_uncinate_region and not organs.has("pancreas") and marks.in_uncinate_region(c):
        return None  # kept and flagged as possible uncinate uptake, never taken for bowel
    solid = np.zeros(region.shape, dtype=bool)
    for kind in ("liver", "spleen", "kidney", "pancreas"):
        solid |= organs.mask(kind)[box] & region
    if (
        cfg.suppress_bowel
        and t_liver is not None
        and vmax < t_liver
        and host not in ("liver", "spleen", "kidney", "pancreas")
        and solid.sum() < 0.25 * region.sum()
        and marks.abdomen_top_z is not None
        and c[2] < marks.abdomen_top_z
        and (marks.bladder_low_z is None or c[2] >= marks.bladder_low_z - 30.0)
        and shape.width_mm <= cfg.bowel_max_width_mm
        and (
            shape.axis_ratio >= cfg.bowel_min_elongation
            or (shape.elongation >= 3.0 and shape.axis_ratio >= 1.5)
        )
    ):
        return (
            "bowel",
            f"bowel: elongated/curvilinear focus (length/width {shape.elongation:.1f}, axis "
            f"ratio {shape.axis_ratio:.1f}) outside "
            f"the solid organs, SUVmax {vmax:.1f} below the liver lesion threshold "
            f"{t_liver:.1f}",
        )
    return None


# ----------------------------------------------------------------------------- main
def segment_lesions(
    suv: Volume,
    references: ReferenceSet,
    organs: OrganMap | None = None,
    settings: SegmentationSettings | None = None,
    *,
    seeds_mm: Sequence[Sequence[float]] = (),
    tracer: str | None = None,
) -> Segmentation:
    """Segment SSTR-positive lesions (see the module docstring for the method).

    Parameters
    ----------
    suv
        SUV volume.
    references
        Reference regions from :func:`~sstrkit.reading.reference.measure_references`.
    organs
        Organ labels on the PET grid (:func:`~sstrkit.reading.organs.prepare_organs`).
    settings
        Method and thresholds.
    seeds_mm
        User seed points in LPS mm (semi-automatic lesions).
    tracer
        Imaging tracer (e.g. ``"68Ga-DOTATATE"``); 99mTc-labelled tracers switch on
        the gallbladder rule.
    """
    check_suv_volume(suv)
    cfg = settings or SegmentationSettings()
    arr = np.asarray(suv.array, dtype=np.float32)
    shape = arr.shape
    spacing = _spacing_zyx(suv)
    vox_ml = suv.voxel_volume_ml
    notes: list[str] = []

    bg, bg_source = _background(arr, references)
    liver_mean = references.liver_mean
    liver_mask = organs.mask("liver") if organs is not None else np.zeros(shape, dtype=bool)
    t_liver: float | None = None
    if cfg.detect_smoothing_mm > 0:
        sigma = [cfg.detect_smoothing_mm / s for s in spacing]
        smooth = ndimage.gaussian_filter(arr, sigma=sigma).astype(np.float32)
    else:
        smooth = arr
    if cfg.method == "percent_max":
        t_out = cfg.background_factor * bg
    elif cfg.method == "fixed":
        t_out = cfg.fixed_suv
    else:
        if liver_mean is None:
            raise InvalidInputError(
                "liver-relative segmentation",
                expected="a liver reference",
                actual="none found",
                fix="pass organ labels with a liver, or use --method percent_max/fixed",
            )
        t_out = cfg.liver_factor * liver_mean
    thresh = np.full(shape, t_out, dtype=np.float32)
    floor = np.zeros(shape, dtype=np.float32)
    host_bg = np.full(shape, np.nan, dtype=np.float32)
    liver_ext = np.zeros(shape, dtype=bool)
    organ_bgs: dict[str, OrganBackground] = {}
    if organs is not None:
        # organs with background uptake that may hold lesions (liver, pancreas, ...):
        # detect above the organ's own robust level, lesions excluded
        uptake: list[tuple[int, NDArray[np.bool_]]] = []
        for code in organs.names:
            kind = organs.kind_of(code)
            if kind is None or kind in PHYSIOLOGICAL_KINDS or kind in NO_BACKGROUND_KINDS:
                continue
            m = organs.labels == code
            if m.any():
                uptake.append((code, m))
        # the liver first: a lesion filling a small organ raises that organ's level, so
        # other organs never demand more contrast than the liver
        uptake.sort(key=lambda cm: organs.kind_of(cm[0]) != "liver")
        for code, m in uptake:
            name = organs.names[code]
            is_liver = organs.kind_of(code) == "liver"
            cap = np.inf if (is_liver or t_liver is None) else max(t_liver, t_out)
            ob = _organ_background(name, m, arr, smooth, spacing, cfg, t_out, cap)
            organ_bgs[name] = ob
            if is_liver:
                t_liver = ob.detect_suv if t_liver is None else max(t_liver, ob.detect_suv)
            thresh[m] = ob.detect_suv
            if ob.measurable:
                host_bg[m] = ob.median_suv
            else:
                notes.append(
                    f"{name}: organ background not measurable (candidates cover > 75 % of "
                    "the label); lesions there use the local shell background"
                )
        # spill-over: blurring cannot raise a voxel near an organ above the organ's own
        # level, so within organ_margin_mm of it a focus must beat that organ's
        # threshold too, and no lesion is grown below its parenchyma noise ceiling
        for code, m in uptake:
            ob = organ_bgs[organs.names[code]]
            near, sl = _within(m, cfg.organ_margin_mm, spacing)
            sub = thresh[sl]
            sub[near] = np.maximum(sub[near], ob.detect_suv)
            if ob.measurable:
                fsub = floor[sl]
                fsub[near] = np.maximum(fsub[near], ob.floor_suv)
        # an automatic liver outline can miss parenchyma (caudate lobe, dome): uptake near
        # liver level contiguous with the label within liver_extension_mm of it marks
        # detection components that are liver, unless they hold a focus above the
        # liver's threshold (handled after detection)
        for code, m in uptake:
            ob = organ_bgs[organs.names[code]]
            if (
                organs.source != "automatic"
                or organs.kind_of(code) != "liver"
                or not ob.measurable
                or cfg.liver_extension_mm <= 0
            ):
                continue
            near, sl = _within(m, cfg.liver_extension_mm, spacing)
            level, _ = ndimage.label(
                near & (smooth[sl] >= cfg.liver_extension_level * ob.median_suv)
            )
            touching = np.unique(level[m[sl]])
            ext_box = liver_ext[sl]
            ext_box |= np.isin(level, touching[touching > 0]) & ~m[sl]
    if liver_mean is not None and not liver_mask.any():
        notes.append("no liver label: organ-specific detection thresholds are not applied")

    # smoothed AND raw above threshold: smoothing suppresses noise maxima, the raw
    # test removes spill-over from a neighbouring hotter organ into a cooler one
    detect = (smooth > thresh) & (arr > thresh)
    zone = np.zeros(shape, dtype=bool)
    zone_codes = np.zeros(shape, dtype=np.int32)
    suppressed: list[SuppressedUptake] = []
    if liver_ext.any() and t_liver is not None:
        comp, _ = ndimage.label(detect)
        ids = np.unique(comp[liver_ext & detect])
        ids = ids[ids > 0]
        if len(ids):
            peaks = np.asarray(ndimage.maximum(arr, comp, ids), dtype=float)
            for i, top in zip(ids, peaks, strict=True):
                if top >= t_liver:
                    continue  # holds a focus above the liver's threshold: read on
                part = comp == i
                detect &= ~part
                idx = np.argwhere(part).mean(axis=0)
                c = suv.index_to_physical(idx[::-1])
                suppressed.append(
                    SuppressedUptake(
                        organ="liver",
                        suv_max=float(top),
                        volume_ml=float(part.sum() * vox_ml),
                        centroid_mm=(float(c[0]), float(c[1]), float(c[2])),
                        reason="liver-level uptake contiguous with the automatic liver outline "
                        f"(within {cfg.liver_extension_mm:g} mm), below the liver's lesion "
                        f"threshold {t_liver:.1f}: parenchyma outside the outline",
                    )
                )
    if organs is not None and cfg.suppress_physiological:
        zone, zone_codes = _physiological_zone(organs, suv, cfg.physiological_margin_mm)
        # focal uptake well above a spleen's or kidney's own level is not physiological:
        # detected against the organ (never the organ as a whole), flagged later
        focal_kinds = ("spleen", "kidney")
        focal_cfg = replace(
            cfg,
            liver_detect_ratio=cfg.physiological_focal_ratio,
            liver_detect_sd=cfg.physiological_focal_sd,
        )
        rim = ball(spacing, cfg.candidate_rim_mm) if cfg.candidate_rim_mm > 0 else None
        for code in organs.names:
            if organs.kind_of(code) not in focal_kinds:
                continue
            m = organs.labels == code
            if m.sum() < 10:
                continue
            ob = _organ_background(
                organs.names[code], m, arr, smooth, spacing, focal_cfg, t_out, np.inf
            )
            organ_bgs[organs.names[code]] = ob
            if not ob.measurable:
                continue
            hot = m & (smooth > ob.detect_suv) & (arr > ob.detect_suv)
            if not hot.any():
                continue
            allowed = ndimage.binary_dilation(hot, structure=rim) & m if rim is not None else hot
            zone[allowed] = False
            zone_codes[allowed] = 0
            thresh[allowed] = ob.detect_suv
            floor[allowed] = ob.floor_suv
            host_bg[m] = ob.median_suv
            detect[allowed] = hot[allowed]
        phys_lab, _ = ndimage.label(detect & zone)
        for i, sl in enumerate(ndimage.find_objects(phys_lab), start=1):
            if sl is None:
                continue
            sel = phys_lab[sl] == i
            codes = zone_codes[sl][sel]
            code = int(np.bincount(codes[codes > 0]).argmax()) if (codes > 0).any() else 0
            idx = np.argwhere(sel).mean(axis=0) + np.array([s.start for s in sl])
            c = suv.index_to_physical(idx[::-1])
            suppressed.append(
                SuppressedUptake(
                    organ=organs.name_at(code),
                    suv_max=float(arr[sl][sel].max()),
                    volume_ml=float(sel.sum() * vox_ml),
                    centroid_mm=(float(c[0]), float(c[1]), float(c[2])),
                    reason=f"physiological {organs.kind_of(code) or 'organ'} uptake (within "
                    f"{cfg.physiological_margin_mm:g} mm of the organ label)",
                )
            )
        detect &= ~zone
    elif organs is None:
        notes.append(
            "no organ labels: physiological uptake (kidneys, spleen, bladder, adrenals, "
            "pituitary) is NOT suppressed; pass organ labels"
        )

    out = np.zeros(shape, dtype=np.int32)
    regions: list[LesionRegion] = []
    half_box = [int(np.ceil(cfg.max_extent_mm / s)) for s in spacing]

    def delineate(
        peak: tuple[int, int, int], origin: str
    ) -> tuple[NDArray[np.bool_], tuple[slice, slice, slice], float, float]:
        vmax = float(arr[peak])
        box = _box(peak, half_box, shape)
        free = out[box] == 0
        if origin == "auto":
            free &= ~zone[box]
        low = floor[box]
        rel = tuple(p - b.start for p, b in zip(peak, box, strict=True))

        def grow(level: float) -> NDArray[np.bool_]:
            return _connected_to((arr[box] >= np.maximum(level, low)) & free, rel)

        if not np.isnan(host_bg[peak]):
            # a focus inside an organ with background uptake: the isocontour is set
            # against the organ's own robust level, not the (much lower) blood pool
            local_bg = float(host_bg[peak])
        else:
            # first pass with the reference background, then the measured local
            # background in a shell around the focus
            local_bg = bg
            for _ in range(2):
                region = grow(local_bg + cfg.percent * (vmax - local_bg))
                shell_bg = _shell_median(arr[box], region, detect[box] | zone[box], spacing)
                if shell_bg is None or shell_bg >= vmax:
                    break
                local_bg = shell_bg
        t_iso = local_bg + cfg.percent * (vmax - local_bg)
        region = grow(t_iso)
        return region, box, t_iso, local_bg

    # seeds first: the user's choice has priority
    for seed in seeds_mm:
        ijk = np.rint(suv.physical_to_index(np.asarray(seed, dtype=float))).astype(int)
        zyx = tuple(int(v) for v in ijk[::-1])
        if not all(0 <= v < n for v, n in zip(zyx, shape, strict=True)):
            raise InvalidInputError(
                "seed point", expected="a point inside the PET field of view", actual=list(seed)
            )
        kern = ball(spacing, cfg.seed_search_radius_mm)
        half = [k // 2 for k in kern.shape]
        box = _box(zyx, half, shape)
        kb = tuple(
            slice(b.start - (c - h), b.stop - (c - h))
            for b, c, h in zip(box, zyx, half, strict=True)
        )
        local = np.where(kern[kb], arr[box], -np.inf)
        rel = np.unravel_index(int(np.argmax(local)), local.shape)
        peak = tuple(int(r + b.start) for r, b in zip(rel, box, strict=True))
        region, rbox, t_iso, local_bg = delineate(peak, "seed")  # type: ignore[arg-type]
        if not region.any():
            continue
        lab = len(regions) + 1
        out[rbox][region] = lab
        regions.append(LesionRegion(lab, "other", "seed", t_iso, local_bg))

    comp, n = ndimage.label(detect)
    objs = ndimage.find_objects(comp)
    maxima = np.array([float(arr[sl][comp[sl] == i].max()) for i, sl in enumerate(objs, start=1)])
    order = [int(i) + 1 for i in np.argsort(-maxima, kind="stable")] if n else []
    peak_ball = ball(spacing, cfg.candidate_rim_mm)
    peak_half = [k // 2 for k in peak_ball.shape]

    def is_local_peak(p: tuple[int, ...]) -> bool:
        """True when the smoothed image at ``p`` is the maximum of its rim-sized ball."""
        box = _box(p, peak_half, shape)
        kb = tuple(
            slice(b.start - (c - h), b.stop - (c - h))
            for b, c, h in zip(box, p, peak_half, strict=True)
        )
        return bool(smooth[p] >= smooth[box][peak_ball[kb]].max())

    for i in order:
        sl = objs[i - 1]
        sel = comp[sl] == i
        if cfg.method != "percent_max":
            if (out[sl][sel] > 0).all():
                continue
            pad = [int(np.ceil(10.0 / s)) for s in spacing]
            rbox = tuple(  # type: ignore[assignment]
                slice(max(s.start - p, 0), min(s.stop + p, n))
                for s, p, n in zip(sl, pad, shape, strict=True)
            )
            t_iso = float(thresh[sl][sel].min())
            vals = np.where(sel, arr[sl], -np.inf)
            rel = np.unravel_index(int(np.argmax(vals)), vals.shape)
            peak_rel = tuple(
                int(r + s.start - b.start) for r, s, b in zip(rel, sl, rbox, strict=True)
            )
            cand = (arr[rbox] >= thresh[rbox]) & (out[rbox] == 0) & ~zone[rbox]
            region = _connected_to(cand, peak_rel)
            if region.sum() * vox_ml >= cfg.min_volume_ml and region.any():
                lab = len(regions) + 1
                out[rbox][region] = lab
                regions.append(LesionRegion(lab, "other", "auto", t_iso, bg))
            continue
        # percent_max: one or more foci per detection component, strongest first. Once
        # part of the component is delineated, its rest is mostly the partial-volume
        # slope of that lesion: a further focus must lie > 2 voxels from the assigned
        # voxels and be a local maximum of the smoothed image within candidate_rim_mm.
        tried = np.zeros(sel.shape, dtype=bool)
        while True:
            taken = out[sl] > 0
            cand = sel & ~taken & ~tried
            if taken[sel].any():
                cand &= ~ndimage.binary_dilation(taken & sel, iterations=2)
            if not cand.any():
                break
            vals = np.where(cand, arr[sl], -np.inf)
            prel = tuple(int(v) for v in np.unravel_index(int(np.argmax(vals)), vals.shape))
            piece = _connected_to(cand, prel)
            if taken[sel].any():
                sv = np.where(piece, smooth[sl], -np.inf)
                srel = np.unravel_index(int(np.argmax(sv)), sv.shape)
                speak = tuple(int(r + s.start) for r, s in zip(srel, sl, strict=True))
                if not is_local_peak(speak):
                    tried |= piece
                    continue
            peak = tuple(int(r + s.start) for r, s in zip(prel, sl, strict=True))
            region, rbox, t_iso, local_bg = delineate(peak, "auto")  # type: ignore[arg-type]
            if region.sum() * vox_ml < cfg.min_volume_ml or not region.any():
                tried |= piece
                continue
            lab = len(regions) + 1
            out[rbox][region] = lab
            regions.append(LesionRegion(lab, "other", "auto", float(t_iso), float(local_bg)))

    marks = landmarks(organs, suv)
    if organs is not None:
        # physiological patterns (urinary tract, bowel, gallbladder) among the auto foci
        gallbladder = _gallbladder_zone(organs, suv, marks, cfg) if is_tc99m(tracer) else None
        t_bowel = t_liver if organs.usable("liver") else None
        boxes = ndimage.find_objects(out)
        kept: list[LesionRegion] = []
        for reg in regions:
            rsl = boxes[reg.label - 1] if reg.label - 1 < len(boxes) else None
            if reg.origin != "auto" or rsl is None:
                kept.append(reg)
                continue
            sl = rsl
            sel = out[sl] == reg.label
            vmax = float(arr[sl][sel].max())
            found = _pattern_of(sel, sl, vmax, suv, organs, marks, cfg, t_bowel, gallbladder)
            if found is None:
                kept.append(reg)
                continue
            organ, reason = found
            idx = np.argwhere(sel).mean(axis=0) + np.array([s_.start for s_ in sl])
            c = suv.index_to_physical(idx[::-1])
            suppressed.append(
                SuppressedUptake(
                    organ=organ,
                    suv_max=vmax,
                    volume_ml=float(sel.sum() * vox_ml),
                    centroid_mm=(float(c[0]), float(c[1]), float(c[2])),
                    reason=reason,
                )
            )
            out[sl][sel] = 0
        regions = kept
        if gallbladder is None and tracer is not None:
            notes.append(f"tracer {tracer}: no gallbladder rule (not a 99mTc-labelled tracer)")
    out, regions = _split_and_flag(out, regions, organs, suv, cfg, marks)

    labels = Volume.from_array(
        out,
        spacing=suv.spacing,
        origin=suv.origin,
        direction=suv.direction,
        frame_of_reference_uid=suv.frame_of_reference_uid,
        modality="SEG",
        quantity="lesion_label",
        unit="1",
        name=f"lesions of {suv.name}" if suv.name else "lesions",
        operation="segment_lesions",
        parameters={**asdict(cfg), "background_suv": bg, "background_source": bg_source},
        inputs=(suv.name,),
        sources=(
            "Wang et al. 2013 BioMed Res Int 2013:102819 (uncinate pitfall, physiological uptake)",
        ),
    )
    thresholds: dict[str, float | None] = {
        "background_suv": bg,
        "detect_outside_liver_suv": float(t_out),
        "detect_in_liver_suv": t_liver,
        **{f"detect_in_{k}_suv": v.detect_suv for k, v in organ_bgs.items()},
        **{f"background_in_{k}_suv": v.median_suv for k, v in organ_bgs.items()},
        **{f"floor_in_{k}_suv": v.floor_suv for k, v in organ_bgs.items()},
    }
    notes.append(f"background = {bg_source}")
    return Segmentation(
        labels, tuple(regions), tuple(suppressed), cfg, thresholds, tuple(notes), marks
    )


def _split_and_flag(
    out: NDArray[np.int32],
    regions: list[LesionRegion],
    organs: OrganMap | None,
    suv: Volume,
    cfg: SegmentationSettings,
    marks: Landmarks | None = None,
) -> tuple[NDArray[np.int32], list[LesionRegion]]:
    """Split lesions by organ label, drop small parts, relabel 1..N, flag the uncinate
    (pancreas label, else the uncinate region of ``marks``) and foci in spleen/kidney."""
    vox_ml = suv.voxel_volume_ml
    new = np.zeros_like(out)
    result: list[LesionRegion] = []
    pancreas = organs.mask("pancreas") if organs is not None else None
    head_x: float | None = None
    if pancreas is not None and pancreas.any():
        xs = suv.index_to_physical(np.argwhere(pancreas)[:, ::-1])[:, 0]
        head_x = float(xs.min() + (xs.max() - xs.min()) / 3.0)  # patient-right third
    objs = ndimage.find_objects(out)
    for reg in regions:
        sl = objs[reg.label - 1] if reg.label - 1 < len(objs) else None
        if sl is None:
            continue
        sel = out[sl] == reg.label
        if organs is not None:
            codes_here = organs.labels[sl]
            present = np.unique(codes_here[sel])
            counts = np.bincount(codes_here[sel])
            majority = int(counts.argmax())
            # split only where a second organ holds a substantial part of the lesion;
            # partial-volume rims spilling into a neighbour stay with the majority organ
            big = [
                int(c)
                for c in present
                if counts[c] >= cfg.split_min_fraction * sel.sum()
                and counts[c] * vox_ml >= cfg.min_volume_ml
            ]
            if organs.source == "automatic":
                # an automatic outline may cut a lesion at the organ's edge: the part in
                # the catch-all classes (body, bone) belongs to the organ, no second lesion
                named = [c for c in big if organs.kind_of(c) is not None]
                if named and len(named) < len(big):
                    big = named
                    majority = named[0] if len(named) == 1 else majority
            if cfg.split_by_organ and len(big) > 1:
                owner = np.where(np.isin(codes_here, big), codes_here, -1)
                if (owner[sel] == -1).any():  # small remainders go to the nearest big part
                    _, idx = ndimage.distance_transform_edt(owner == -1, return_indices=True)
                    owner = owner[tuple(idx)]
                parts = [(c, sel & (owner == c)) for c in big]
            else:
                parts = [(majority, sel)]
        else:
            parts = [(0, sel)]
        for code, part in parts:
            small = part.sum() * vox_ml < cfg.min_volume_ml
            if small and (reg.origin == "auto" or len(parts) > 1):
                continue
            organ = organs.name_at(code) if organs is not None else "other"
            flags = list(reg.flags)
            if small:
                flags.append("below_min_volume")
            kind = organs.kind_of(code) if organs is not None else None
            if kind in ("spleen", "kidney"):
                flags.append(PHYSIOLOGICAL_ORGAN_FLAG)
            if (
                kind not in ("pancreas", "liver", "spleen", "kidney")
                and head_x is None
                and cfg.flag_uncinate_region
                and marks is not None
            ):
                idx = np.argwhere(part).mean(axis=0) + np.array([s.start for s in sl])
                c = suv.index_to_physical(idx[::-1])
                if marks.in_uncinate_region((float(c[0]), float(c[1]), float(c[2]))):
                    flags.append(UNCINATE_FLAG)
            if kind == "pancreas":
                low = organ.lower()
                if "uncinate" in low or "head" in low:
                    flags.append(UNCINATE_FLAG)
                elif "body" not in low and "tail" not in low and head_x is not None:
                    idx = np.argwhere(part).mean(axis=0) + np.array([s.start for s in sl])
                    if float(suv.index_to_physical(idx[::-1])[0]) <= head_x:
                        flags.append(UNCINATE_FLAG)
            lab = len(result) + 1
            new[sl][part] = lab
            result.append(
                LesionRegion(
                    lab, organ, reg.origin, reg.threshold_suv, reg.background_suv, tuple(flags)
                )
            )
    return new, result


def provenance(seg: Segmentation) -> Step:
    """The segmentation's provenance step (last step of its label volume)."""
    return seg.labels.history[-1]
