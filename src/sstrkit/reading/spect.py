"""SSTR SPECT reading (111In-pentetreotide, 99mTc-HYNIC-TOC): the PET reader's stages.

:func:`read_sstr_spect` reads a quantitative SSTR SPECT (Bq/mL, or SUV) with the same
stages as :func:`~sstrkit.reading.reader.read_sstr_pet` — organs (supplied labels,
else the automatic segmentation of the SPECT/CT's CT), references (liver and spleen
spheres, blood pool), lesion segmentation (organ-relative detection, isocontour
delineation, physiological patterns, organ split and flags), metrics, Krenning grade,
targets and eligibility — with tracer-specific settings rather than a copy:

* **SUV** — SUVbw = C × weight / (injected activity × e^(−λt)), C the activity
  concentration (Bq/mL) at ``t`` after injection, λ of the tracer's nuclide
  (ICRP 107: 111In 67.31 h, 99mTc 6.015 h); the same definition as PET SUVbw (QIBA),
  so tumour-to-liver and tumour-to-spleen ratios (``t_l``, ``t_s``) are those of the
  PET reading. A volume already in SUV is read as it is.
* **Resolution** — the segmentation margins scale with the SPECT resolution
  (``fwhm_mm``; default the tracer's typical value: 13 mm for 111In with a
  medium-energy collimator, 10 mm for 99mTc with LEHR; :data:`~sstrkit.reading.patterns.
  SPECT_FWHM_SOURCE`), see :func:`spect_settings`.
* **Organ-relative detection** — as on PET: a focus in the liver (or another organ
  with background uptake) must exceed the organ's own robust level, and kidneys,
  spleen, bladder, adrenals and pituitary are physiological (within a margin of 1.25
  FWHM), so a lesion is read against the liver and spleen background around it.
* **Physiological pattern** of the tracer (:func:`~sstrkit.reading.patterns.
  tracer_pattern`): bowel at 24 h for 111In, gallbladder and bowel for 99mTc, faint
  thyroid and pituitary.
* **Krenning** — the original 0–4 scale (Krenning et al. 1993: lesion vs normal liver
  and spleen), read on the SPECT as on PET: lesion SUVmax against the liver and spleen
  SUVmean, ±10 % = equal to liver (:func:`~sstrkit.reading.scores.krenning_score`).
  It reads in 3-D the lesion-to-organ comparison the planar grade makes on projected
  counts; SPECT separates a lesion from overlying organs, so a deep lesion can grade
  higher than on planar views, and partial volume at 10–15 mm FWHM lowers the SUVmax of
  lesions smaller than ~2 FWHM (as it lowers their planar intensity). Not
  interchangeable with PET-adapted grades (Hope et al. 2018).
* **Eligibility** — the rule file's rules for the tracer: for scintigraphy the
  NETTER-1 inclusion criterion, Krenning ≥ 2 in every target lesion (Strosberg et al.
  2017), replaces the PET rule "T/L ≥ 1" (``data/eligibility_rules.toml``).

Examples
--------
>>> import numpy as np
>>> from sstrkit.core.volume import Volume
>>> a = np.full((40, 40, 40), 0.5); lab = np.zeros(a.shape, dtype=np.int16)
>>> a[5:35, 5:35, 2:18] = 4.0; lab[5:35, 5:35, 2:18] = 1      # liver (patient right)
>>> a[10:20, 10:20, 24:34] = 10.0; lab[10:20, 10:20, 24:34] = 2  # spleen
>>> a[25:32, 25:32, 25:32] = 12.0                               # a lesion
>>> bqml = Volume.from_array(a * 1000.0, spacing=(4.8, 4.8, 4.8), modality="NM",
...                          quantity="activity_concentration", unit="Bq/mL")
>>> r = read_sstr_spect(bqml, tracer="111In-pentetreotide", hours_post_injection=24.0,
...                     injected_activity_bq=1.0e8, weight_kg=80.0,
...                     organs=Volume.from_array(lab, spacing=(4.8, 4.8, 4.8)),
...                     organ_names={1: "liver", 2: "spleen"})
>>> [(m.krenning, round(m.t_l, 2)) for m in r.lesions], r.to_dict()["modality"]
([(4, 3.0)], 'spect')
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.provenance import Step
from sstrkit.core.units import G_PER_KG, MM3_PER_ML, SECONDS_PER_HOUR
from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError, SstrkitError
from sstrkit.physics.nuclides import get_nuclide
from sstrkit.reading.anatomy import landmarks, spacing_zyx, within
from sstrkit.reading.delineation import delineate_lesions
from sstrkit.reading.detection import DetectionMaps, detection_maps
from sstrkit.reading.eligibility import EligibilityDecision, Labs, Rule, evaluate, load_rules
from sstrkit.reading.metrics import LesionMetrics, lesion_metrics, whole_body
from sstrkit.reading.organs import MISSING_STATUSES, PHYSIOLOGICAL_KINDS, OrganMap
from sstrkit.reading.patterns import (
    SPECT_FWHM_SOURCE,
    TracerPattern,
    scintigraphy_pattern,
    split_and_flag,
    suppress_patterns,
)
from sstrkit.reading.reader import (
    ReadingResult,
    _ct_on_pet_grid,
    _grade,
    _reading_organs,
    _rule_values,
    select_targets,
)
from sstrkit.reading.reference import ReferenceSet, measure_references
from sstrkit.reading.scores import KRENNING_SOURCES, patient_krenning
from sstrkit.reading.segmentation import Segmentation, SegmentationSettings, _assemble
from sstrkit.reading.segmentation_settings import LesionRegion, SuppressedUptake

if TYPE_CHECKING:
    from sstrkit.organs.model import OrganSegmentation

__all__ = [
    "KRENNING_SPECT_METHOD",
    "LIVER_FLOOR",
    "SpectQuantification",
    "SpectReadingResult",
    "read_sstr_spect",
    "segment_spect_lesions",
    "spect_settings",
    "spect_suv",
]

#: How the Krenning grade is read on SPECT (reading.json ``krenning_method``).
KRENNING_SPECT_METHOD = (
    "original scale on quantitative SPECT: lesion SUVmax vs liver/spleen SUVmean, ±10 % band "
    "= equal to liver; patient grade = most avid lesion"
)
QIBA_SUV_SOURCE = (
    "QIBA FDG-PET/CT Profile (SUVbw = C × body weight / decay-corrected injected activity); "
    "ICRP Publication 107 (half-lives)"
)
NETTER1_SOURCE = (
    "Strosberg J et al. Phase 3 trial of 177Lu-Dotatate for midgut neuroendocrine tumors. "
    "N Engl J Med 2017;376:125-135 (inclusion: Krenning >= 2 on 111In-pentetreotide "
    "scintigraphy in every target lesion)"
)
_SUV_SUPPLIED = "SPECT supplied in SUV: read as it is (no decay or weight applied)"
#: Automatic SPECT foci below this fraction of the liver SUVmean are not lesions.
LIVER_FLOOR = 0.5
#: Shortest bowel segment of the SPECT shape rule (mm; also at least 3 FWHM): lesions
#: ≥ 20 mm outside the liver measure ≤ 36 mm long on 111In SPECT of the digital patient.
BOWEL_LONG_MIN_MM = 40.0
#: Resolution the PET defaults of :class:`SegmentationSettings` were set for (mm FWHM).
_PET_FWHM_MM = 5.5
_UNITS_BQML = ("bq/ml", "bqml", "bq/cm3")
_UNITS_COUNTS = ("cnts", "counts", "count", "cps")


@dataclass(frozen=True)
class SpectQuantification:
    """How the SPECT's SUVs were obtained (``method``: ``"bq_per_ml"`` or ``"suv_supplied"``).

    ``suv_per_bq_ml`` is body weight / decayed injected activity, (g/mL)/(Bq/mL).
    """

    method: str
    tracer: str
    nuclide: str
    hours_post_injection: float
    injected_activity_bq: float | None = None
    weight_kg: float | None = None
    decay_interval_s: float | None = None
    decay_factor: float | None = None
    suv_per_bq_ml: float | None = None
    decay_reference: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SpectReadingResult(ReadingResult):
    """A :class:`~sstrkit.reading.reader.ReadingResult` of an SSTR SPECT.

    Its JSON (:meth:`to_dict`) is the PET reading's with ``modality`` ``"spect"``, the
    SPECT's ``frame_of_reference_uid`` (for :mod:`sstrkit.reading.concordance`), the
    ``tracer``, ``hours_post_injection``, the SUV ``quantification``, the SPECT
    resolution and the tracer's ``physiological_pattern``; ``krenning_method`` says how
    the grade was read on SPECT.
    """

    modality: str = "spect"
    frame_of_reference_uid: str | None = None
    tracer: str = ""
    hours_post_injection: float | None = None
    fwhm_mm: float | None = None
    quantification: SpectQuantification | None = None
    pattern: TracerPattern | None = None

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.update(
            {
                "modality": self.modality,
                "frame_of_reference_uid": self.frame_of_reference_uid,
                "tracer": self.tracer,
                "hours_post_injection": self.hours_post_injection,
                "krenning_method": KRENNING_SPECT_METHOD,
                "krenning_sources": [*KRENNING_SOURCES, NETTER1_SOURCE],
                "spect_fwhm_mm": self.fwhm_mm,
                "quantification": (
                    self.quantification.to_dict() if self.quantification is not None else None
                ),
                "physiological_pattern": (
                    self.pattern.to_dict() if self.pattern is not None else None
                ),
            }
        )
        return d


def spect_settings(fwhm_mm: float) -> SegmentationSettings:
    """Segmentation settings for a SPECT of ``fwhm_mm`` resolution (PET defaults otherwise).

    Margins follow the resolution: blurred physiological organs and organs with
    background spill ~1.25 FWHM beyond their outline (a step edge blurred by a
    Gaussian falls to 0.3 % of the organ at 1.25 FWHM), the partial-volume rim of a
    focus is one FWHM, a delineated focus must hold at least a sphere of one FWHM
    diameter (smaller blobs are noise at this resolution), and the widths of the
    tube-like patterns (ureter, bowel), the gallbladder fossa, the adrenal focus and
    the liver-outline extension grow by what the SPECT blurs more than PET (5.5 mm).
    Lesions are not split by organ: at this resolution a lesion's isocontour spills into
    the neighbouring organ, so it belongs to the organ that holds most of it.

    >>> s = spect_settings(13.0)
    >>> s.physiological_margin_mm, s.candidate_rim_mm, round(s.min_volume_ml, 2)
    (16.25, 13.0, 1.15)
    """
    if not (math.isfinite(fwhm_mm) and 3.0 <= fwhm_mm <= 30.0):
        raise InvalidInputError(
            "SPECT resolution", expected="a FWHM of 3-30 mm", actual=fwhm_mm, fix="give fwhm_mm"
        )
    extra = max(fwhm_mm - _PET_FWHM_MM, 0.0)
    margin = max(10.0, 1.25 * fwhm_mm)
    base = SegmentationSettings()
    return SegmentationSettings(
        min_volume_ml=max(base.min_volume_ml, math.pi / 6.0 * fwhm_mm**3 / MM3_PER_ML),
        physiological_margin_mm=margin,
        organ_margin_mm=margin,
        candidate_rim_mm=max(base.candidate_rim_mm, fwhm_mm),
        max_extent_mm=base.max_extent_mm + fwhm_mm,
        tube_max_width_mm=base.tube_max_width_mm + extra,
        bowel_max_width_mm=base.bowel_max_width_mm + extra,
        gallbladder_fossa_mm=base.gallbladder_fossa_mm + extra / 2.0,
        adrenal_max_volume_ml=base.adrenal_max_volume_ml
        + math.pi / 6.0 * (fwhm_mm**3 - _PET_FWHM_MM**3) / MM3_PER_ML * 4.0,
        liver_extension_mm=base.liver_extension_mm + extra,
        split_by_organ=False,
    )


def spect_suv(
    spect: Volume,
    pattern: TracerPattern,
    *,
    hours_post_injection: float,
    injected_activity_bq: float | None,
    weight_kg: float | None,
    injection_time: _dt.datetime | None = None,
) -> tuple[Volume, SpectQuantification]:
    """The SPECT in SUVbw and how it was obtained.

    A Bq/mL volume is converted with the injected activity decayed to the time its
    values refer to: its ``reference_time`` minus ``injection_time`` when both are known,
    else ``hours_post_injection`` (the values are the activity concentration at
    acquisition, as quantitative SPECT reconstructions give them).

    Raises
    ------
    InvalidInputError
        Counts (not yet calibrated), another unit, or missing/implausible activity,
        weight or time.
    """
    nuclide = get_nuclide(pattern.nuclide)
    if not (math.isfinite(hours_post_injection) and 0.0 <= hours_post_injection <= 14 * 24.0):
        raise InvalidInputError(
            "hours post injection", expected="0-336 h", actual=hours_post_injection
        )
    q, u = spect.quantity.lower(), spect.unit.lower()
    if q.startswith("suv") or u in ("g/ml", "g/cm3"):
        return spect, SpectQuantification(
            "suv_supplied", pattern.tracer, nuclide.name, hours_post_injection
        )
    if u in _UNITS_COUNTS or q in ("counts", "cnts"):
        raise InvalidInputError(
            f"SPECT volume {spect.name!r}",
            expected="activity concentration (Bq/mL) or SUV",
            actual=f"counts (unit {spect.unit!r})",
            fix="convert counts with the camera calibration factor (cps/MBq) first: sstrkit "
            "read does this from the manifest's calibration_cps_per_mbq",
        )
    if u not in _UNITS_BQML:
        raise InvalidInputError(
            f"SPECT volume {spect.name!r}",
            expected="unit Bq/mL (or SUV g/mL)",
            actual=f"quantity {spect.quantity!r}, unit {spect.unit!r}",
        )
    for name, v, lo, hi in (
        ("injected activity (Bq)", injected_activity_bq, 1e6, 1e11),
        ("patient weight (kg)", weight_kg, 2.0, 400.0),
    ):
        if v is None or not (math.isfinite(v) and lo <= v <= hi):
            raise InvalidInputError(
                name,
                expected=f"{lo:g}-{hi:g}",
                actual=v,
                fix="give the injected activity and the weight (SUV needs both)",
            )
    assert injected_activity_bq is not None and weight_kg is not None
    interval_s = hours_post_injection * SECONDS_PER_HOUR
    reference = "hours_post_injection"
    if spect.reference_time is not None and injection_time is not None:
        interval_s = (spect.reference_time - injection_time).total_seconds()
        reference = "volume reference_time - injection_time"
        if interval_s < 0:
            raise InvalidInputError(
                "SPECT decay reference time",
                expected="after the injection",
                actual=f"{spect.reference_time.isoformat()} < {injection_time.isoformat()}",
            )
    decay = math.exp(-nuclide.decay_constant_per_s * interval_s)
    factor = weight_kg * G_PER_KG / (injected_activity_bq * decay)
    suv = spect.with_array(
        np.asarray(spect.array, dtype=np.float32) * np.float32(factor),
        operation="spect_suv",
        parameters={
            "tracer": pattern.tracer,
            "nuclide": nuclide.name,
            "injected_activity_bq": injected_activity_bq,
            "weight_kg": weight_kg,
            "decay_interval_s": interval_s,
            "suv_per_bq_ml": factor,
        },
        inputs=(spect.name,),
        sources=(QIBA_SUV_SOURCE,),
        quantity="SUVbw",
        unit="g/mL",
    )
    return suv, SpectQuantification(
        "bq_per_ml",
        pattern.tracer,
        nuclide.name,
        hours_post_injection,
        injected_activity_bq,
        weight_kg,
        interval_s,
        decay,
        factor,
        reference,
    )


def segment_spect_lesions(
    suv: Volume,
    refs: ReferenceSet,
    organs: OrganMap | None,
    cfg: SegmentationSettings,
    pattern: TracerPattern,
    *,
    hours_post_injection: float,
    fwhm_mm: float,
    seeds_mm: Sequence[Sequence[float]] = (),
) -> Segmentation:
    """The stages of :func:`~sstrkit.reading.segmentation.segment_lesions` with the
    tracer's physiological pattern at ``hours_post_injection`` (bowel, gallbladder,
    faint thyroid; :func:`~sstrkit.reading.patterns.suppress_patterns`); a bowel segment
    may also be a focus at least 3 FWHM (and 40 mm) long with length/width ≥ 2.5 (the
    colon on SPECT)."""
    maps = detection_maps(suv, refs, organs, cfg)
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
            tracer=pattern.tracer,
            suppressed=maps.suppressed,
            notes=maps.notes,
            pattern=pattern,
            hours_post_injection=hours_post_injection,
            bowel_long_mm=max(3.0 * fwhm_mm, BOWEL_LONG_MIN_MM),
        )
    out, regions = split_and_flag(out, regions, organs, suv, cfg, marks)
    out, regions = _spect_filters(
        out, regions, maps.arr, suv, organs, refs.liver_mean, fwhm_mm, maps
    )
    return _assemble(suv, cfg, maps, out, regions, marks)


def _spect_filters(
    out: NDArray[np.int32],
    regions: list[LesionRegion],
    arr: NDArray[np.float32],
    suv: Volume,
    organs: OrganMap | None,
    liver_mean: float | None,
    fwhm_mm: float,
    maps: DetectionMaps,
) -> tuple[NDArray[np.int32], list[LesionRegion]]:
    """Drop automatic foci that are faint or spill-over of a hot organ (listed); relabel 1..N.

    * **faint** — SUVmax below ``LIVER_FLOOR`` × liver SUVmean: on SPECT a lesion is
      read against the liver, and a focus below half the normal liver is at the level of
      the noise and of the marrow, bowel and soft-tissue background of 111In/99mTc SPECT
      (sstrkit choice);
    * **spill-over** — beyond the physiological margin a very hot organ (the bladder at
      up to 100 × the liver) still spills: the Gaussian tail of the SPECT resolution from
      the organ's level (its 90th percentile) at the distance of the focus's peak from
      the organ's outline less one voxel (the outline on the SPECT grid can miss a voxel
      of the organ's partial-volume edge). A focus whose excess over its local
      background is less than twice that predicted spill is the organ's.
    """
    floor = LIVER_FLOOR * liver_mean if liver_mean is not None else None
    if floor is not None:
        maps.notes.append(
            f"SPECT: automatic foci below {LIVER_FLOOR:g} × liver SUVmean ({floor:.2f}) are "
            "not called lesions"
        )
    hot = _hot_organs(organs, arr, suv, fwhm_mm) if organs is not None else []
    new = np.zeros_like(out)
    kept: list[LesionRegion] = []
    boxes = ndimage.find_objects(out)
    for reg in regions:
        sl = boxes[reg.label - 1] if reg.label - 1 < len(boxes) else None
        if sl is None:
            continue
        sel = out[sl] == reg.label
        vals = np.where(sel, arr[sl], -np.inf)
        rel = np.unravel_index(int(np.argmax(vals)), vals.shape)
        peak = tuple(int(r + b.start) for r, b in zip(rel, sl, strict=True))
        vmax = float(arr[peak])
        why = None
        if reg.origin == "auto" and floor is not None and vmax < floor:
            why = (
                reg.organ,
                f"faint focus: SUVmax {vmax:.2f} below {LIVER_FLOOR:g} × liver SUVmean "
                f"({floor:.2f}), the SPECT noise and background level",
            )
        elif reg.origin == "auto" and hot:
            why = _spill(peak, vmax - reg.background_suv, hot, fwhm_mm, max(suv.spacing))
        if why is not None:
            idx = np.argwhere(sel).mean(axis=0) + np.array([b.start for b in sl])
            c = suv.index_to_physical(idx[::-1])
            maps.suppressed.append(
                SuppressedUptake(
                    organ=why[0],
                    suv_max=vmax,
                    volume_ml=float(sel.sum() * suv.voxel_volume_ml),
                    centroid_mm=(float(c[0]), float(c[1]), float(c[2])),
                    reason=why[1],
                )
            )
            continue
        lab = len(kept) + 1
        new[sl][sel] = lab
        kept.append(replace(reg, label=lab))
    return new, kept


#: (organ name, level SUV, distance map from its outline in mm, box of the map).
_HotOrgan = tuple[str, float, NDArray[np.float64], tuple[slice, ...]]


def _hot_organs(
    organs: OrganMap, arr: NDArray[np.float32], suv: Volume, fwhm_mm: float
) -> list[_HotOrgan]:
    """Physiological organs (usable labels) with their level and a distance map to 3 FWHM."""
    out: list[_HotOrgan] = []
    spacing = spacing_zyx(suv)
    for code, name in organs.names.items():
        if organs.kind_of(code) not in PHYSIOLOGICAL_KINDS:
            continue
        if organs.quality.get(name) in MISSING_STATUSES:
            continue
        m = organs.labels == code
        if not m.any():
            continue
        near, sl = within(m, 3.0 * fwhm_mm, spacing)
        dist = ndimage.distance_transform_edt(~m[sl], sampling=spacing)
        out.append((name, float(np.percentile(arr[m], 90)), np.where(near, dist, np.inf), sl))
    return out


def _spill(
    peak: tuple[int, ...], excess: float, hot: list[_HotOrgan], fwhm_mm: float, voxel_mm: float
) -> tuple[str, str] | None:
    """(organ, reason) when the predicted spill-over at ``peak`` is at least half ``excess``.

    Spill of a blurred step edge at distance d: level × ½ erfc((d − voxel) / (σ√2)).
    """
    sigma = fwhm_mm / math.sqrt(8.0 * math.log(2.0))
    best: tuple[float, str, float] = (0.0, "", 0.0)
    for name, level, dist, sl in hot:
        rel = tuple(p - b.start for p, b in zip(peak, sl, strict=True))
        if not all(0 <= r < n for r, n in zip(rel, dist.shape, strict=True)):
            continue
        d = float(dist[rel])
        if not math.isfinite(d):
            continue
        spill = level * 0.5 * math.erfc(max(d - voxel_mm, 0.0) / (sigma * math.sqrt(2.0)))
        if spill > best[0]:
            best = (spill, name, d)
    spill, name, d = best
    if spill <= 0 or excess > 2.0 * spill:
        return None
    return (
        name,
        f"spill-over of {name} uptake: {d:.0f} mm from its outline, predicted "
        f"{spill:.2f} at the focus's peak (excess {excess:.2f}) at {fwhm_mm:g} mm FWHM",
    )


def read_sstr_spect(
    spect: Volume,
    *,
    ct: Volume | None = None,
    tracer: str,
    hours_post_injection: float,
    injected_activity_bq: float | None = None,
    weight_kg: float | None = None,
    injection_time: _dt.datetime | None = None,
    organs: Volume | None = None,
    organ_names: Mapping[int, str] | None = None,
    resample_labels: bool = False,
    organ_segmentation: OrganSegmentation | None = None,
    auto_organs: bool = True,
    organs_source: str | None = None,
    labs: Labs | None = None,
    rules: tuple[Sequence[Rule], str] | None = None,
    therapy: str | None = "177Lu-DOTATATE",
    fwhm_mm: float | None = None,
    settings: SegmentationSettings | None = None,
    seeds_mm: Sequence[Sequence[float]] = (),
    progress: Callable[[str, float], None] | None = None,
) -> SpectReadingResult:
    """Read an SSTR SPECT (111In-pentetreotide, 99mTc-HYNIC-TOC) quantitatively.

    ``spect`` is the reconstructed SPECT in Bq/mL (a quantitative reconstruction, or counts
    converted with the camera calibration) or in SUV; ``ct`` the SPECT/CT's CT (same frame
    of reference; organs). ``tracer`` (:data:`~sstrkit.reading.patterns.SCINTIGRAPHY_TRACERS`
    or an alias) and ``hours_post_injection`` set the physiological pattern and the decay;
    ``injected_activity_bq``, ``weight_kg`` and ``injection_time`` the SUV
    (:func:`spect_suv`). The organ arguments are those of
    :func:`~sstrkit.reading.reader.read_sstr_pet` (the automatic segmentation of the CT
    takes the SPECT as emission image); ``labs``, ``rules`` and ``therapy`` the
    eligibility, evaluated for the tracer; ``fwhm_mm`` the SPECT resolution (default: the
    tracer's typical value), ``settings`` the segmentation (default: :func:`spect_settings`).

    Raises
    ------
    InvalidInputError
        Not a scintigraphy tracer, counts or another unit, missing SUV inputs.
    GeometryMismatchError
        CT and SPECT frames of reference differ, or labels are on another grid and
        ``resample_labels`` is false.
    """
    pattern = scintigraphy_pattern(tracer)
    fwhm = float(fwhm_mm if fwhm_mm is not None else (pattern.fwhm_mm or 12.0))
    cfg = settings or spect_settings(fwhm)
    suv, quant = spect_suv(
        spect,
        pattern,
        hours_post_injection=hours_post_injection,
        injected_activity_bq=injected_activity_bq,
        weight_kg=weight_kg,
        injection_time=injection_time,
    )
    notes = [_SUV_SUPPLIED] if quant.method == "suv_supplied" else []
    ct_grid = _spect_ct(ct, suv)
    if organs is None and organ_segmentation is None and ct is not None and auto_organs:
        organ_segmentation = _segment_organs(suv, ct, notes, progress)
    omap, auto, source = _reading_organs(
        suv,
        ct,
        organs=organs,
        organ_names=organ_names,
        resample_labels=resample_labels,
        auto_organs=organ_segmentation is not None,
        organs_source=organs_source,
        organ_segmentation=organ_segmentation,
        progress=progress,
        notes=notes,
    )
    refs = measure_references(suv, omap)
    seg = segment_spect_lesions(
        suv,
        refs,
        omap,
        cfg,
        pattern,
        hours_post_injection=hours_post_injection,
        fwhm_mm=fwhm,
        seeds_mm=seeds_mm,
    )
    lesions, targets, decision = _grade_and_decide(
        suv, seg, refs, pattern, labs=labs, rules=rules, therapy=therapy, notes=notes
    )
    step = _reading_step(pattern, quant, fwhm, therapy, seeds_mm, source, (spect, ct, organs))
    auto_steps = (auto.provenance,) if auto is not None else ()
    return SpectReadingResult(
        references=refs,
        segmentation=seg,
        lesions=lesions,
        whole_body=whole_body(lesions),
        krenning_patient=patient_krenning([m.krenning for m in lesions]),
        target_ids=targets,
        eligibility=decision,
        netpet=None,
        fdg_lesions=(),
        fdg_references=None,
        ct_on_pet_grid=ct_grid,
        organs=omap,
        history=(*suv.history, *auto_steps, *refs.history, seg.labels.history[-1], step),
        organs_source=source,
        organ_quality=auto.organs if auto is not None else (),
        organ_segmentation=auto,
        notes=tuple(dict.fromkeys([*notes, *refs.notes])),
        frame_of_reference_uid=spect.frame_of_reference_uid,
        tracer=pattern.tracer,
        hours_post_injection=hours_post_injection,
        fwhm_mm=fwhm,
        quantification=quant,
        pattern=pattern,
    )


def _reading_step(
    pattern: TracerPattern,
    quant: SpectQuantification,
    fwhm: float,
    therapy: str | None,
    seeds_mm: Sequence[Sequence[float]],
    source: str,
    inputs: tuple[Volume | None, ...],
) -> Step:
    """The provenance step of :func:`read_sstr_spect`."""
    return Step.make(
        "read_sstr_spect",
        {
            "tracer": pattern.tracer,
            "hours_post_injection": quant.hours_post_injection,
            "fwhm_mm": fwhm,
            "therapy": therapy,
            "seeds_mm": [list(s) for s in seeds_mm],
            "organs_source": source,
            "quantification": quant.method,
        },
        inputs=tuple(v.name for v in inputs if v is not None),
        sources=(*KRENNING_SOURCES, NETTER1_SOURCE, *pattern.sources, SPECT_FWHM_SOURCE),
    )


def _grade_and_decide(
    suv: Volume,
    seg: Segmentation,
    refs: ReferenceSet,
    pattern: TracerPattern,
    *,
    labs: Labs | None,
    rules: tuple[Sequence[Rule], str] | None,
    therapy: str | None,
    notes: list[str],
) -> tuple[tuple[LesionMetrics, ...], tuple[int, ...], EligibilityDecision]:
    """Lesion metrics with their Krenning grade, the target lesions and the eligibility
    decision for the tracer (its rules; as the PET reading does)."""
    lesions = _grade(lesion_metrics(suv, seg, refs), refs)
    targets = select_targets(lesions)
    target_ms = [m for m in lesions if m.id in targets]
    values = _rule_values(target_ms, len(lesions), None, refs, labs, notes)
    decision = evaluate(rules or load_rules(), values, therapy=therapy, tracer=pattern.tracer)
    return lesions, targets, decision


def _spect_ct(ct: Volume | None, suv: Volume) -> Volume | None:
    """The CT on the SPECT grid (see ``_ct_on_pet_grid``), with a SPECT/CT error text."""
    if ct is not None:
        a, b = ct.frame_of_reference_uid, suv.frame_of_reference_uid
        if a and b and a != b:
            raise GeometryMismatchError(
                "CT and SPECT frames of reference",
                expected=f"the SPECT's {b}",
                actual=a,
                fix="use the CT of this SPECT/CT (same FrameOfReferenceUID) or register it first",
            )
    return _ct_on_pet_grid(ct, suv)


def _segment_organs(
    suv: Volume,
    ct: Volume,
    notes: list[str],
    progress: Callable[[str, float], None] | None,
) -> OrganSegmentation | None:
    """The automatic organ segmentation of the SPECT/CT (SPECT as emission), or None.

    A typed failure does not stop the reading: it goes on without organs (said in notes).
    """
    from sstrkit.organs import segment

    try:
        return segment.segment_organs(ct, suv, emission_kind="spect", progress=progress)
    except SstrkitError as exc:
        notes.append(
            f"automatic organ segmentation failed: {exc.one_line()}; physiological uptake "
            "(kidneys, spleen, bladder) is not suppressed"
        )
    return None
