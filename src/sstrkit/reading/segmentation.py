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
Modules: settings, flags and records in :mod:`~sstrkit.reading.segmentation_settings`;
thresholds, organ levels and suppression in :mod:`~sstrkit.reading.detection`; seeds
and isocontours in :mod:`~sstrkit.reading.delineation`; landmarks and shapes in
:mod:`~sstrkit.reading.anatomy`; physiological patterns and flags in
:mod:`~sstrkit.reading.patterns`. Their public names are importable from here too.

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
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sstrkit.core.provenance import Step
from sstrkit.core.volume import Volume
from sstrkit.reading.anatomy import Landmarks as Landmarks
from sstrkit.reading.anatomy import Point as Point
from sstrkit.reading.anatomy import Shape as Shape
from sstrkit.reading.anatomy import landmarks as landmarks
from sstrkit.reading.anatomy import region_shape as region_shape
from sstrkit.reading.delineation import delineate_lesions
from sstrkit.reading.detection import DetectionMaps, detection_maps
from sstrkit.reading.detection import OrganBackground as OrganBackground
from sstrkit.reading.detection import _physiological_zone as _physiological_zone
from sstrkit.reading.organs import OrganMap
from sstrkit.reading.patterns import is_tc99m as is_tc99m
from sstrkit.reading.patterns import split_and_flag, suppress_patterns
from sstrkit.reading.reference import ReferenceSet, check_suv_volume
from sstrkit.reading.segmentation_settings import FLAG_TEXT as FLAG_TEXT
from sstrkit.reading.segmentation_settings import NON_TARGET_FLAGS as NON_TARGET_FLAGS
from sstrkit.reading.segmentation_settings import (
    PHYSIOLOGICAL_ORGAN_FLAG as PHYSIOLOGICAL_ORGAN_FLAG,
)
from sstrkit.reading.segmentation_settings import UNCINATE_FLAG as UNCINATE_FLAG
from sstrkit.reading.segmentation_settings import LesionRegion as LesionRegion
from sstrkit.reading.segmentation_settings import Method as Method
from sstrkit.reading.segmentation_settings import SegmentationSettings as SegmentationSettings
from sstrkit.reading.segmentation_settings import SuppressedUptake as SuppressedUptake

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

#: Source of the physiological-uptake rules, recorded in the label map's provenance.
_SOURCES = ("Wang et al. 2013 BioMed Res Int 2013:102819 (uncinate pitfall, physiological uptake)",)


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
    maps = detection_maps(suv, references, organs, cfg)
    out, regions = delineate_lesions(suv, maps, cfg, seeds_mm)
    marks = landmarks(organs, suv)
    if organs is not None:
        regions = suppress_patterns(
            out,
            regions,
            maps.arr,
            suv,
            organs,
            marks,
            cfg,
            t_liver=maps.t_liver,
            tracer=tracer,
            suppressed=maps.suppressed,
            notes=maps.notes,
        )
    out, regions = split_and_flag(out, regions, organs, suv, cfg, marks)
    return _assemble(suv, cfg, maps, out, regions, marks)


def _assemble(
    suv: Volume,
    cfg: SegmentationSettings,
    maps: DetectionMaps,
    out: NDArray[np.int32],
    regions: list[LesionRegion],
    marks: Landmarks,
) -> Segmentation:
    """The :class:`Segmentation`: label volume with provenance, thresholds and notes."""
    bg, organ_bgs = maps.bg, maps.organ_bgs
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
        parameters={**asdict(cfg), "background_suv": bg, "background_source": maps.bg_source},
        inputs=(suv.name,),
        sources=_SOURCES,
    )
    thresholds: dict[str, float | None] = {
        "background_suv": bg,
        "detect_outside_liver_suv": float(maps.t_out),
        "detect_in_liver_suv": maps.t_liver,
        **{f"detect_in_{k}_suv": v.detect_suv for k, v in organ_bgs.items()},
        **{f"background_in_{k}_suv": v.median_suv for k, v in organ_bgs.items()},
        **{f"floor_in_{k}_suv": v.floor_suv for k, v in organ_bgs.items()},
    }
    notes = [*maps.notes, f"background = {maps.bg_source}"]
    return Segmentation(
        labels, tuple(regions), tuple(maps.suppressed), cfg, thresholds, tuple(notes), marks
    )


def provenance(seg: Segmentation) -> Step:
    """The segmentation's provenance step (last step of its label volume)."""
    return seg.labels.history[-1]
