"""Physiological patterns among the delineated foci, and the flags of the final lesions.

After delineation, :func:`suppress_patterns` removes automatic foci whose shape and
place are physiological (:func:`pattern_of`: a 99mTc tracer's gallbladder, an
adrenal the segmentation did not outline, ureteric urine, bowel; Wang et al. 2013
section 5; Hofman et al. 2015 RadioGraphics 35:500-516) and lists them;
:func:`split_and_flag` then splits lesions by organ label, relabels them 1..N and
flags the uncertain ones (uncinate process, focal uptake in spleen or kidney). The
rules are described in :mod:`sstrkit.reading.segmentation`.

Tracer patterns
---------------
What is physiological depends on the tracer and the time after injection.
:data:`TRACER_PATTERNS` holds, per SSTR tracer, the organs with physiological uptake
(for the record and the report), whether the gallbladder rule applies and from which
time bowel activity is expected; :func:`tracer_pattern` finds one by name (aliases
such as ``Octreoscan`` included). The 68Ga/64Cu PET tracers keep the rules above
unchanged. For the scintigraphy tracers (Bombardieri et al. 2010, EANM 111In-
pentetreotide guideline; Balon et al. 2011, SNM guideline 2.0; Gabriel et al. 2003
for 99mTc-EDDA/HYNIC-TOC):

* **111In-pentetreotide** — kidneys, spleen, liver, bladder (renal excretion), faint
  thyroid and pituitary; bowel activity (about 2 % hepatobiliary excretion) at 24 h
  and later: from ``bowel_from_h`` = 12 h an elongated/curvilinear abdominal focus
  outside the solid organs is taken for bowel up to ``bowel_liver_factor`` = 2 × the
  liver's lesion threshold (with PET tracers: below it), an sstrkit choice — round
  foci are never bowel, whatever their uptake — and a focus below the liver's lesion
  threshold behind the bladder near the midline is rectal content;
* **99mTc-HYNIC-TOC** (EDDA/HYNIC) — the same organs with hepatobiliary excretion:
  the gallbladder rule, and bowel from 2 h up to 1.5 × the liver threshold.

A focus in a labelled thyroid below the liver's lesion threshold is faint physiological
thyroid uptake with these tracers (pituitary uptake is suppressed by its label as with
PET). ``fwhm_mm`` is the typical reconstructed SPECT resolution the SPECT reading sets
its margins from (:mod:`sstrkit.reading.spect`).

>>> tracer_pattern("Octreoscan").tracer, tracer_pattern("99mTc-EDDA/HYNIC-TOC").gallbladder
('111In-pentetreotide', True)
>>> p = tracer_pattern("111In-pentetreotide")
>>> p.bowel_factor(4.0), p.bowel_factor(24.0)
(1.0, 2.0)
>>> tracer_pattern("68Ga-DOTATATE").modality, tracer_pattern("FDG") is None
('pet', True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.reading.anatomy import (
    Landmarks,
    Point,
    Shape,
    physical,
    region_shape,
    spacing_zyx,
    within,
)
from sstrkit.reading.organs import OrganMap
from sstrkit.reading.segmentation_settings import (
    PHYSIOLOGICAL_ORGAN_FLAG,
    UNCINATE_FLAG,
    LesionRegion,
    SegmentationSettings,
    SuppressedUptake,
)

__all__ = [
    "SCINTIGRAPHY_TRACERS",
    "TRACER_PATTERNS",
    "TracerPattern",
    "is_tc99m",
    "pattern_of",
    "scintigraphy_pattern",
    "split_and_flag",
    "suppress_patterns",
    "tracer_pattern",
]

#: Length/width from which a long focus is bowel on coarse (SPECT) images, and its widest
#: width as a multiple of the minimum length (sstrkit choice: on 111In SPECT of the digital
#: patient at 13 mm FWHM, lesions outside the liver measure ≤ 36 mm long with length/width
#: ≤ 2.6 (a coarse 4.8 mm grid makes small round foci look elongated), colon segments
#: 48-156 mm long with length/width 2.6-5.1 and widths 14-40 mm).
_LONG_BOWEL_ELONGATION = 2.5
_LONG_BOWEL_WIDTH = 1.0
#: Half width (mm) of the rectum's region about the midline.
_RECTUM_HALF_WIDTH_MM = 40.0

#: Organs a focus centred in is never the gallbladder (a pancreatic-head lesion lies beside
#: the fossa; the liver holds its own lesions).
_GB_HOSTS = ("liver", "pancreas")

#: Tracers with hepatobiliary excretion (gallbladder activity): 99mTc-labelled ligands.
_TC99M_WORDS = ("99mtc", "tc-99m", "tc99m", "99m-tc", "tc-99", "technetium")


def is_tc99m(tracer: str | None) -> bool:
    """True for 99mTc-labelled tracers (hepatobiliary excretion: gallbladder activity).

    >>> is_tc99m("99mTc-EDDA/HYNIC-TOC"), is_tc99m("68Ga-DOTATATE"), is_tc99m(None)
    (True, False, False)
    """
    if not tracer:
        return False
    low = tracer.lower().replace(" ", "")
    return any(w in low for w in _TC99M_WORDS)


PATTERN_SOURCES = (
    "Bombardieri E et al. 111In-pentetreotide scintigraphy: procedure guidelines for tumour "
    "imaging. Eur J Nucl Med Mol Imaging 2010;37:1441-1448",
    "Balon HR et al. The SNM practice guideline for somatostatin receptor scintigraphy 2.0. "
    "J Nucl Med Technol 2011;39:317-324",
    "Gabriel M et al. An intrapatient comparison of 99mTc-EDDA/HYNIC-TOC with "
    "111In-DTPA-octreotide for diagnosis of somatostatin receptor-expressing tumors. "
    "J Nucl Med 2003;44:708-716",
)
#: Typical reconstructed SPECT resolution (FWHM, mm): medium-energy collimator for 111In
#: (171/245 keV), low-energy high-resolution for 99mTc (140 keV); system resolution at
#: 10 cm about 10-14 mm and 7-10 mm (Cherry SR, Sorenson JA, Phelps ME. Physics in
#: Nuclear Medicine, 4th ed. 2012, ch. 14 and 17); sstrkit's defaults, overridable.
SPECT_FWHM_SOURCE = (
    "Cherry SR, Sorenson JA, Phelps ME. Physics in Nuclear Medicine, 4th ed. Elsevier 2012, "
    "ch. 14 (collimator resolution) and 17 (SPECT): reconstructed resolution ~1-1.5 cm"
)


@dataclass(frozen=True)
class TracerPattern:
    """The physiological pattern of one SSTR tracer (see the module docstring).

    ``bowel_from_h`` is the time after injection from which bowel activity is expected
    (``None``: never), ``bowel_liver_factor`` the multiple of the liver's lesion
    threshold up to which an elongated abdominal focus is then taken for bowel.
    """

    tracer: str
    nuclide: str
    modality: Literal["pet", "scintigraphy"]
    physiological: tuple[str, ...]
    faint: tuple[str, ...] = ()
    gallbladder: bool = False
    bowel_from_h: float | None = None
    bowel_liver_factor: float = 1.0
    fwhm_mm: float | None = None
    aliases: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def bowel_factor(self, hours_post_injection: float | None) -> float:
        """Multiple of the liver threshold below which elongated foci are bowel (1: PET rule)."""
        if self.bowel_from_h is None or hours_post_injection is None:
            return 1.0
        return self.bowel_liver_factor if hours_post_injection >= self.bowel_from_h else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "tracer": self.tracer,
            "nuclide": self.nuclide,
            "modality": self.modality,
            "physiological": list(self.physiological),
            "faint": list(self.faint),
            "gallbladder": self.gallbladder,
            "bowel_from_h": self.bowel_from_h,
            "bowel_liver_factor": self.bowel_liver_factor,
            "fwhm_mm": self.fwhm_mm,
            "sources": list(self.sources),
        }


_PET_ORGANS = ("kidneys", "spleen", "liver", "adrenals", "pituitary", "bladder", "ureters")
TRACER_PATTERNS: dict[str, TracerPattern] = {
    p.tracer: p
    for p in (
        TracerPattern(
            "111In-pentetreotide",
            "In-111",
            "scintigraphy",
            ("kidneys", "spleen", "liver", "bladder", "bowel (24 h and later)"),
            faint=("thyroid", "pituitary"),
            bowel_from_h=12.0,
            bowel_liver_factor=2.0,
            fwhm_mm=13.0,
            aliases=("octreoscan", "111in-dtpa-octreotide", "111in-octreotide"),
            sources=(*PATTERN_SOURCES[:2], SPECT_FWHM_SOURCE),
        ),
        TracerPattern(
            "99mTc-HYNIC-TOC",
            "Tc-99m",
            "scintigraphy",
            ("kidneys", "spleen", "liver", "bladder", "gallbladder", "bowel"),
            faint=("thyroid", "pituitary"),
            gallbladder=True,
            bowel_from_h=2.0,
            bowel_liver_factor=1.5,
            fwhm_mm=10.0,
            aliases=("99mtc-edda/hynic-toc", "99mtc-edda-hynic-toc", "tektrotyd"),
            sources=(PATTERN_SOURCES[2], SPECT_FWHM_SOURCE),
        ),
        TracerPattern("68Ga-DOTATATE", "Ga-68", "pet", _PET_ORGANS),
        TracerPattern("68Ga-DOTATOC", "Ga-68", "pet", _PET_ORGANS),
        TracerPattern("68Ga-DOTANOC", "Ga-68", "pet", _PET_ORGANS),
        TracerPattern("64Cu-DOTATATE", "Cu-64", "pet", _PET_ORGANS),
    )
}
#: Canonical names of the SSTR scintigraphy tracers (as the CLI and manifests spell them).
SCINTIGRAPHY_TRACERS = tuple(k for k, v in TRACER_PATTERNS.items() if v.modality == "scintigraphy")


def _key(name: str) -> str:
    return name.lower().replace(" ", "").replace("_", "-")


def tracer_pattern(tracer: str | None) -> TracerPattern | None:
    """The pattern of ``tracer`` (canonical name or alias, any case), else None."""
    if not tracer:
        return None
    k = _key(tracer)
    for p in TRACER_PATTERNS.values():
        if k == _key(p.tracer) or k in p.aliases:
            return p
    if is_tc99m(tracer) and ("toc" in k or "tate" in k):
        return TRACER_PATTERNS["99mTc-HYNIC-TOC"]
    if ("111in" in k or "in-111" in k) and ("octreo" in k or "pentetreo" in k):
        return TRACER_PATTERNS["111In-pentetreotide"]
    return None


def scintigraphy_pattern(tracer: str) -> TracerPattern:
    """The pattern of an SSTR scintigraphy tracer (111In or 99mTc).

    Raises
    ------
    InvalidInputError
        ``tracer`` is not an SSTR scintigraphy tracer.
    """
    p = tracer_pattern(tracer)
    if p is None or p.modality != "scintigraphy":
        raise InvalidInputError(
            "SSTR scintigraphy tracer",
            expected=f"one of {list(SCINTIGRAPHY_TRACERS)}",
            actual=tracer,
            fix="give the tracer as the manifest spells it (e.g. --tracer 111In-pentetreotide); "
            "68Ga/64Cu PET is read with read_sstr_pet",
        )
    return p


def _gallbladder_zone(
    organs: OrganMap, vol: Volume, marks: Landmarks, cfg: SegmentationSettings
) -> NDArray[np.bool_]:
    """Gallbladder label (+10 mm), or the fossa: outside the liver, within
    ``gallbladder_fossa_mm`` of it, below and anterior to its centre, right of the midline."""
    spacing = spacing_zyx(vol)
    zone = np.zeros(organs.labels.shape, dtype=bool)
    if organs.has("gallbladder"):
        near, sl = within(organs.mask("gallbladder"), 10.0, spacing)
        zone[sl] |= near
    liver = organs.mask("liver")
    if not liver.any() or marks.liver_centroid is None:
        return zone
    near, sl = within(liver, cfg.gallbladder_fossa_mm, spacing)
    idx = np.argwhere(near)
    if not len(idx):
        return zone
    offs = np.array([s.start for s in sl])
    pts = physical(vol, idx + offs)
    lx, ly, lz = marks.liver_centroid
    mid = marks.midline_x if marks.midline_x is not None else lx + 60.0
    sel = (pts[:, 2] < lz) & (pts[:, 1] < ly) & (pts[:, 0] < mid)
    fossa = np.zeros(near.shape, dtype=bool)
    fossa[tuple(idx[sel].T)] = True
    zone[sl] |= fossa & ~liver[sl]
    return zone


def pattern_of(
    region: NDArray[np.bool_],
    box: tuple[slice, ...],
    vmax: float,
    vol: Volume,
    organs: OrganMap,
    marks: Landmarks,
    cfg: SegmentationSettings,
    t_liver: float | None,
    gallbladder: NDArray[np.bool_] | None,
    *,
    t_faint: float | None = None,
    bowel_factor: float = 1.0,
    bowel_why: str = "",
    bowel_long_mm: float | None = None,
    rectum: Point | None = None,
) -> tuple[str, str] | None:
    """(organ, reason) when a delineated focus has a physiological pattern, else None.

    ``t_liver`` is the liver's lesion threshold: the bowel rule's bar is ``bowel_factor``
    times it (a scintigraphy tracer's late bowel activity, ``bowel_why``); ``t_faint``
    (scintigraphy tracers) is the bar below which a focus in a labelled thyroid is faint
    physiological thyroid uptake. ``bowel_long_mm`` (SPECT: 3 FWHM, at least 40 mm) adds
    the colon's shape on coarse images, where a loop's curvature hides its principal axes
    and its blurred outline overlaps neighbouring organs: a focus at least this long, with
    length/width ≥ 2.5 and width ≤ that length, less than half in solid organs
    (wherever its centroid falls: a curved colon's centroid may lie in the pancreas).
    ``rectum`` (the bladder's centroid, given when bowel activity is expected) adds the
    rectum: a focus below the liver's lesion threshold centred behind the bladder's
    centre, within 40 mm of the midline, from 40 mm below to 60 mm above the bladder
    floor (a presacral node there is taken for rectal content: check the CT).
    """
    shape = region_shape(region, vol, [b.start for b in box])
    c = shape.centroid_mm
    ijk = np.rint(vol.physical_to_index(c)).astype(int)[::-1]
    inside = all(0 <= v < n for v, n in zip(ijk, organs.labels.shape, strict=True))
    code = int(organs.labels[tuple(ijk)]) if inside else 0
    host = organs.kind_of(code) if inside else None
    if t_faint is not None and vmax < t_faint and "thyroid" in organs.name_at(code).lower():
        return (
            "thyroid",
            f"faint physiological thyroid uptake (SUVmax {vmax:.1f} below the liver lesion "
            f"threshold {t_faint:.1f})",
        )
    if gallbladder is not None and inside and gallbladder[tuple(ijk)] and host not in _GB_HOSTS:
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
    return _gut_pattern(
        region,
        box,
        vmax,
        shape,
        host,
        organs,
        marks,
        cfg,
        t_liver,
        bowel_factor=bowel_factor,
        bowel_why=bowel_why,
        bowel_long_mm=bowel_long_mm,
        rectum=rectum,
    )


def _gut_pattern(
    region: NDArray[np.bool_],
    box: tuple[slice, ...],
    vmax: float,
    shape: Shape,
    host: str | None,
    organs: OrganMap,
    marks: Landmarks,
    cfg: SegmentationSettings,
    t_liver: float | None,
    *,
    bowel_factor: float,
    bowel_why: str,
    bowel_long_mm: float | None,
    rectum: Point | None,
) -> tuple[str, str] | None:
    """Rectum and bowel rules of :func:`pattern_of` (arguments as there)."""
    c = shape.centroid_mm
    if (
        rectum is not None
        and t_liver is not None
        and vmax < t_liver
        and host not in ("liver", "spleen", "kidney", "pancreas", "bladder")
        and _in_rectum(c, rectum, marks)
    ):
        return (
            "rectum",
            f"rectum: focus behind the bladder near the midline, SUVmax {vmax:.1f} below the "
            f"liver lesion threshold {t_liver:.1f} ({bowel_why})",
        )
    solid = np.zeros(region.shape, dtype=bool)
    for kind in ("liver", "spleen", "kidney", "pancreas"):
        solid |= organs.mask(kind)[box] & region
    if not (
        cfg.suppress_bowel
        and t_liver is not None
        and vmax < t_liver * bowel_factor
        and marks.abdomen_top_z is not None
        and c[2] < marks.abdomen_top_z
        and (marks.bladder_low_z is None or c[2] >= marks.bladder_low_z - 30.0)
    ):
        return None
    loop = (
        host not in ("liver", "spleen", "kidney", "pancreas")
        and solid.sum() < 0.25 * region.sum()
        and shape.width_mm <= cfg.bowel_max_width_mm
        and (
            shape.axis_ratio >= cfg.bowel_min_elongation
            or (shape.elongation >= 3.0 and shape.axis_ratio >= 1.5)
        )
    )
    long_bowel = (
        bowel_long_mm is not None
        and shape.length_mm >= bowel_long_mm
        and shape.elongation >= _LONG_BOWEL_ELONGATION
        and shape.width_mm <= _LONG_BOWEL_WIDTH * bowel_long_mm
        and solid.sum() < 0.5 * region.sum()
    )
    if loop or long_bowel:
        return (
            "bowel",
            f"bowel: elongated/curvilinear focus (length/width {shape.elongation:.1f}, axis "
            f"ratio {shape.axis_ratio:.1f}"
            + (f", {shape.length_mm:.0f} mm long" if long_bowel and not loop else "")
            + ") outside "
            f"the solid organs, SUVmax {vmax:.1f} below the liver lesion threshold "
            f"{t_liver:.1f}"
            + (f" × {bowel_factor:g} ({bowel_why})" if bowel_factor != 1.0 else ""),
        )
    return None


def _in_rectum(c: Point, bladder: Point, marks: Landmarks) -> bool:
    """Behind the bladder's centre, near the midline, at the level of the bladder floor."""
    mid = marks.midline_x if marks.midline_x is not None else bladder[0]
    floor = marks.bladder_low_z if marks.bladder_low_z is not None else bladder[2]
    return (
        c[1] > bladder[1]
        and abs(c[0] - mid) <= _RECTUM_HALF_WIDTH_MM
        and floor - 40.0 <= c[2] <= floor + 60.0
    )


def suppress_patterns(
    out: NDArray[np.int32],
    regions: list[LesionRegion],
    arr: NDArray[np.float32],
    suv: Volume,
    organs: OrganMap,
    marks: Landmarks,
    cfg: SegmentationSettings,
    *,
    t_liver: float | None,
    tracer: str | None,
    suppressed: list[SuppressedUptake],
    notes: list[str],
    pattern: TracerPattern | None = None,
    hours_post_injection: float | None = None,
    bowel_long_mm: float | None = None,
) -> list[LesionRegion]:
    """The automatic foci without a physiological pattern (seed lesions are kept).

    A focus with a pattern (:func:`pattern_of`) is cleared from ``out`` (in place) and
    appended to ``suppressed``; ``t_liver`` is the liver's detection threshold (the
    bowel rule's bar, used only when the liver label is usable). ``pattern`` (a
    scintigraphy tracer's, with ``hours_post_injection``) sets the gallbladder rule,
    the bowel factor and the faint-thyroid rule; without it the tracer name decides the
    gallbladder rule alone (the PET reading). ``bowel_long_mm``: see :func:`pattern_of`.
    """
    vox_ml = suv.voxel_volume_ml
    # physiological patterns (urinary tract, bowel, gallbladder) among the auto foci
    biliary = pattern.gallbladder if pattern is not None else is_tc99m(tracer)
    gallbladder = _gallbladder_zone(organs, suv, marks, cfg) if biliary else None
    t_bowel = t_liver if organs.usable("liver") else None
    t_faint = t_bowel if pattern is not None and "thyroid" in pattern.faint else None
    factor = pattern.bowel_factor(hours_post_injection) if pattern is not None else 1.0
    why = ""
    rectum: Point | None = None
    if pattern is not None and t_bowel is not None:
        why = f"{pattern.tracer} at {hours_post_injection:g} h p.i., bowel activity expected"
        bladder = organs.mask("bladder")
        if factor != 1.0 and bladder.any():
            idx = np.argwhere(bladder).mean(axis=0)
            b = suv.index_to_physical(idx[::-1])
            rectum = (float(b[0]), float(b[1]), float(b[2]))
        if factor != 1.0:
            notes.append(
                f"{pattern.tracer} at {hours_post_injection:g} h p.i.: bowel activity expected; "
                f"elongated abdominal foci below {factor:g} × the liver lesion threshold "
                "are taken for bowel"
            )
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
        found = pattern_of(
            sel,
            sl,
            vmax,
            suv,
            organs,
            marks,
            cfg,
            t_bowel,
            gallbladder,
            t_faint=t_faint,
            bowel_factor=factor,
            bowel_why=why,
            bowel_long_mm=bowel_long_mm,
            rectum=rectum,
        )
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
    if gallbladder is None and tracer is not None:
        notes.append(f"tracer {tracer}: no gallbladder rule (not a 99mTc-labelled tracer)")
    return kept


def _host_organ(
    organs: OrganMap, out: NDArray[np.int32], sl: tuple[slice, ...], label: int
) -> int | None:
    """The named organ (liver, spleen, kidney, …) that makes up at least half of a
    lesion's one-voxel shell, other lesions left out; None if none does. An automatic
    outline leaves a hot focus at an organ's edge out of the organ (it is neither organ
    uptake nor a hole), so such a lesion sits in ``body`` although the organ surrounds
    most of it (the digital patient's 60 mL liver metastasis at the liver's edge: shell
    41 % liver, 44 % a touching lesion, 12 % body)."""
    box = tuple(
        slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(sl, out.shape, strict=True)
    )
    mask = out[box] == label
    shell = ndimage.binary_dilation(mask) & ~mask & (out[box] == 0)
    codes = organs.labels[box][shell]
    if codes.size == 0:
        return None
    values, counts = np.unique(codes, return_counts=True)
    best = int(np.argmax(np.where([organs.kind_of(int(v)) is not None for v in values], counts, 0)))
    code = int(values[best])
    if organs.kind_of(code) is None or counts[best] < 0.5 * codes.size:
        return None
    return code


def split_and_flag(
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
                elif not named and organs.name_at(majority) == "body":
                    host = _host_organ(organs, out, sl, reg.label)
                    if host is not None:  # a lesion the outline left out, at its edge
                        big, majority = [host], host
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
