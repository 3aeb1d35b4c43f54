"""Volumes of interest of the post-implant 90Y dosimetry: liver, tumours, lungs.

A :class:`Y90Vois` is a label map (on the 90Y scan's CT grid, or any grid of its frame of
reference) with its label names. Names are read as

* **lesion** — a name containing ``lesion``, ``tumour``/``tumor``, ``met`` or ``gtv``
  (``lesion_3``, ``tumour_1``, ``liver_met2``): each one its own region;
* **liver** — a name starting with ``liver`` or ``hepar`` (``liver``, ``liver_normal``):
  the liver outline, lesions inside it or not (as TotalSegmentator draws it);
* **lungs** — a name starting with ``lung`` (``lungs``, ``lung_left``, ``lung_right``);

other names are ignored. :func:`region_masks` builds, on the dose grid, ``tumour`` (all
hepatic lesions: those inside or touching the liver, or those :attr:`Y90Vois.hepatic`
names), ``normal_liver`` (the liver minus every lesion), ``liver`` (normal liver + hepatic
lesions), ``lungs`` and one region per lesion.

Where the VOIs come from (the study loader, :mod:`sstrkit.pipeline.sirt_y90_inputs`,
chooses in this order and says which in :attr:`Y90Vois.source`): the study's label map
for the 90Y scan (manifest segmentation key ``"y90"``); the digital patient's truth
contours; else :func:`automatic_vois` — the perfused liver of the 90Y image
(:mod:`sstrkit.sirt.perfused_liver`: half its perfused level, soft tissue on the CT) and
the lungs of the CT (:func:`sstrkit.sirt.plan_vois.lungs_from_ct`), tumours from a
given label map (e.g. the baseline SSTR PET lesions registered CT-to-CT,
:mod:`sstrkit.therapy.registration`) or, without one, by thresholding the 90Y image
inside the liver (:data:`TUMOUR_THRESHOLD` × the liver's median concentration,
components ≥ :data:`MIN_TUMOUR_ML`, on the image smoothed with a Gaussian of
:data:`TUMOUR_SMOOTHING_FWHM_MM`: without it the count noise of 90Y PET made 24-36
components in the digital patient's livers, 2-3.6 × the true tumour mass, and the
normal-liver dose 14-28 % low; with it 2-5 components, normal liver 4-8 % low). Given
lesions are the tumour definition of the MAA plan too (:mod:`sstrkit.pipeline.sirt_vois`):
the liver lesions (named by the caller, read on the baseline map; else those reaching
the automatic liver) are kept whole, lungs excluded, also where they leave the automatic
liver, and the liver VOI is the liver with them. Automatic VOIs are flagged (``automatic=True``).

Examples
--------
>>> classify_name("liver_normal"), classify_name("lesion_4"), classify_name("lung_left")
('liver', 'lesion', 'lungs')
>>> classify_name("spleen") is None
True
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.therapy.pvc import gaussian_sigma_voxels

__all__ = [
    "LIVER_LABEL",
    "LUNGS_LABEL",
    "MIN_TUMOUR_ML",
    "TUMOUR_LABEL_OFFSET",
    "TUMOUR_SMOOTHING_FWHM_MM",
    "TUMOUR_THRESHOLD",
    "RegionKind",
    "VoiMask",
    "Y90Vois",
    "automatic_vois",
    "classify_name",
    "gtm_labels",
    "region_masks",
]

RegionKind = Literal["tumour", "lesion", "normal_liver", "liver", "lungs"]

#: Label values of the automatic label map (as the digital patient's truth map).
LIVER_LABEL: Final = 1
LUNGS_LABEL: Final = 2
TUMOUR_LABEL_OFFSET: Final = 100
#: Automatic tumours: 90Y concentration above this multiple of the liver's median (model
#: choice: NET metastases take several times the normal liver's share of microspheres).
TUMOUR_THRESHOLD: Final = 2.0
#: Automatic tumours: smaller components are noise of the low-count 90Y PET (model choice).
MIN_TUMOUR_ML: Final = 1.0
#: Automatic tumours: the 90Y image is smoothed with a Gaussian of this FWHM (mm) before
#: the threshold (model choice, measured on the digital patient: module docstring).
TUMOUR_SMOOTHING_FWHM_MM: Final = 8.0

_LESION_WORDS = ("lesion", "tumour", "tumor", "met", "gtv")


def classify_name(name: str) -> Literal["lesion", "liver", "lungs"] | None:
    """The VOI class a label name stands for (module docstring), or None."""
    low = name.strip().lower()
    if any(w in low for w in _LESION_WORDS):
        return "lesion"
    if low.startswith(("liver", "hepar")):
        return "liver"
    if low.startswith("lung"):
        return "lungs"
    return None


@dataclass(frozen=True)
class Y90Vois:
    """A label map for the 90Y dosimetry, its names and where it came from.

    ``hepatic``: names of lesions that are liver tumours whether or not they touch the
    liver label (the automatic VOIs' lesions, chosen on the baseline map); None: the
    lesions inside or touching the liver.
    """

    labels: Volume
    names: Mapping[int, str]
    source: str
    automatic: bool = False
    notes: tuple[str, ...] = ()
    hepatic: frozenset[str] | None = None


@dataclass(frozen=True)
class VoiMask:
    """One region on the dose grid."""

    name: str
    kind: RegionKind
    mask: NDArray[np.bool_]


def _on_grid(labels: Volume, reference: Volume) -> NDArray[np.int64]:
    lab = labels
    a, b = labels.frame_of_reference_uid, reference.frame_of_reference_uid
    if a and b and a != b:
        lab = labels.with_metadata(operation="assign_frame_of_reference", frame_of_reference_uid=b)
    if not lab.same_space(reference):
        lab = lab.resample_to(reference, mode="nearest")
    return np.asarray(lab.array, dtype=np.int64)


def region_masks(vois: Y90Vois, reference: Volume) -> tuple[VoiMask, ...]:
    """The regions of the module docstring on ``reference``'s grid (empty ones left out)."""
    lab = _on_grid(vois.labels, reference)
    liver = np.zeros(lab.shape, dtype=bool)
    lungs = np.zeros(lab.shape, dtype=bool)
    lesions: list[tuple[str, NDArray[np.bool_]]] = []
    for value, name in sorted(vois.names.items()):
        cls = classify_name(name)
        if cls is None:
            continue
        m = lab == int(value)
        if not m.any():
            continue
        if cls == "liver":
            liver |= m
        elif cls == "lungs":
            lungs |= m
        else:
            lesions.append((name, m))
    if not liver.any():
        raise InvalidInputError(
            "liver VOI of the 90Y dosimetry",
            expected="a label named liver (liver, liver_normal...) inside the 90Y field of view",
            actual=f"labels {sorted(vois.names.values())} ({vois.source})",
            fix="name the liver label 'liver' in the label names, or leave the VOIs to the "
            "automatic segmentation",
        )
    near_liver = ndimage.binary_dilation(liver)
    tumour = np.zeros(lab.shape, dtype=bool)
    for name, m in lesions:
        if (m & near_liver).any() or (vois.hepatic is not None and name in vois.hepatic):
            tumour |= m
    out: list[VoiMask] = []
    if tumour.any():
        out.append(VoiMask("tumour", "tumour", tumour))
    out.append(VoiMask("normal_liver", "normal_liver", liver & ~tumour))
    out.append(VoiMask("liver", "liver", liver | tumour))
    if lungs.any():
        out.append(VoiMask("lungs", "lungs", lungs))
    out.extend(VoiMask(name, "lesion", m) for name, m in lesions)
    return tuple(o for o in out if o.mask.any())


def _threshold_tumours(
    emission_on_ct: NDArray[np.float64], liver: NDArray[np.bool_], voxel_ml: float
) -> tuple[list[NDArray[np.bool_]], str]:
    """Hot components of the liver (module docstring) and a line that says how."""
    values = emission_on_ct[liver]
    ref = float(np.median(values)) if values.size else 0.0
    if not ref > 0:
        return [], "no automatic tumours: the liver's median 90Y concentration is not > 0"
    hot = liver & (emission_on_ct > TUMOUR_THRESHOLD * ref)
    comp, n = ndimage.label(hot)
    sizes = ndimage.sum_labels(hot, comp, index=np.arange(1, n + 1)) * voxel_ml
    keep = [i + 1 for i, s in enumerate(sizes) if s >= MIN_TUMOUR_ML]
    note = (
        f"tumours by threshold inside the liver: 90Y concentration (Gaussian "
        f"{TUMOUR_SMOOTHING_FWHM_MM:g} mm FWHM) > {TUMOUR_THRESHOLD:g} x the liver median, "
        f"components >= {MIN_TUMOUR_ML:g} mL ({len(keep)} found)"
    )
    return [comp == k for k in keep], note


def _given_tumours(
    lab: NDArray[np.int64],
    names: Mapping[int, str],
    hepatic_values: Collection[int] | None,
    liver: NDArray[np.bool_],
    lungs: NDArray[np.bool_],
) -> list[NDArray[np.bool_]]:
    """The given liver lesions, whole, lungs excluded (module docstring)."""
    values = [v for v, nm in sorted(names.items()) if classify_name(nm) == "lesion"]
    if hepatic_values is not None:
        chosen = [v for v in values if v in set(hepatic_values)]
    else:  # no liver on the lesions' own map: those reaching the automatic liver
        near = ndimage.binary_dilation(liver)
        chosen = [v for v in values if (near & (lab == v)).any()]
    tumours = [(lab == v) & ~lungs for v in chosen]
    return [t for t in tumours if t.any()]


def automatic_vois(
    ct: Volume,
    emission: Volume,
    *,
    tumour_labels: Volume | None = None,
    tumour_names: Mapping[int, str] | None = None,
    tumour_source: str = "",
    hepatic_values: Collection[int] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Y90Vois:
    """Perfused liver and lungs, tumours given or by threshold.

    The liver is the perfused liver of the 90Y image
    (:func:`~sstrkit.sirt.perfused_liver.perfused_liver`), the lungs are read on the CT
    (:func:`~sstrkit.sirt.plan_vois.lungs_from_ct`). ``emission``: the 90Y image (same
    frame of reference as ``ct``), also the image of the tumour threshold.
    ``tumour_labels`` (any grid of the CT's frame of reference, e.g. lesions registered
    from the baseline PET/CT) with
    ``tumour_names`` (value → name; lesion names only are used) replaces the threshold:
    the lesions of ``hepatic_values`` (e.g.
    :attr:`~sstrkit.pipeline.sirt_vois.BaselineLesions.liver_lesions`; None: those
    reaching the automatic liver) whole, lungs excluded, the liver VOI growing to hold them.
    The label map is on the CT grid, with the values of :data:`LIVER_LABEL`,
    :data:`LUNGS_LABEL` and :data:`TUMOUR_LABEL_OFFSET` + i.
    """
    from sstrkit.sirt.perfused_liver import LEVEL_FRACTION, perfused_liver
    from sstrkit.sirt.plan_vois import lungs_from_ct

    say = progress or (lambda _m: None)
    say("automatic liver (perfused territory of the 90Y image) and lungs (CT)")
    lungs = lungs_from_ct(ct)
    perfused = perfused_liver(ct, emission, lungs=lungs)
    liver = perfused.mask
    notes = [perfused.note, "lungs: CT-number window of the 90Y CT"]
    if tumour_labels is not None:
        lab = _on_grid(tumour_labels, ct)
        tumours = _given_tumours(lab, dict(tumour_names or {}), hepatic_values, liver, lungs)
        notes.append(
            f"tumours: {tumour_source or 'given label map'} ({len(tumours)} liver lesions, "
            "kept whole: the liver VOI holds them)"
        )
    else:
        say("automatic tumours (threshold inside the liver)")
        on_ct = emission.resample_to(ct, mode="linear")
        sigma = gaussian_sigma_voxels(TUMOUR_SMOOTHING_FWHM_MM, ct.spacing)
        smooth = ndimage.gaussian_filter(np.asarray(on_ct.array, dtype=np.float64), sigma)
        tumours, note = _threshold_tumours(smooth, liver, ct.voxel_volume_ml)
        notes.append(note)
    out = np.zeros(ct.shape, dtype=np.int32)
    out[lungs] = LUNGS_LABEL
    out[liver] = LIVER_LABEL
    names_out: dict[int, str] = {LIVER_LABEL: "liver", LUNGS_LABEL: "lungs"}
    for i, t in enumerate(tumours, start=1):
        out[t] = TUMOUR_LABEL_OFFSET + i
        names_out[TUMOUR_LABEL_OFFSET + i] = f"lesion_{i}"
    labels = ct.with_array(
        out,
        operation="y90_automatic_vois",
        parameters={
            "liver": "perfused_liver",
            "liver_level_fraction": LEVEL_FRACTION,
            "lungs": "lungs_from_ct",
            "tumours": tumour_source or "threshold",
            "tumour_threshold": TUMOUR_THRESHOLD,
            "min_tumour_ml": MIN_TUMOUR_ML,
        },
        quantity="label",
        unit="1",
        modality="SEG",
        name="90Y VOIs (automatic)",
    )
    return Y90Vois(
        labels=labels,
        names=names_out,
        source="automatic: " + "; ".join(notes),
        automatic=True,
        notes=tuple(notes) + perfused.flags,
        hepatic=frozenset(f"lesion_{i}" for i in range(1, len(tumours) + 1)),
    )


def gtm_labels(
    masks: tuple[VoiMask, ...], density_g_ml: NDArray[np.float64]
) -> tuple[NDArray[np.int32], dict[str, tuple[int, ...]]]:
    """A label map of disjoint regions for the geometric-transfer-matrix correction.

    Every activity-bearing structure is a region (:mod:`sstrkit.therapy.pvc`): air (0,
    below :data:`~sstrkit.therapy.voxel_dose.AIR_DENSITY_G_ML`) and the rest of the body
    (1) as background, the normal liver, the
    lungs and each lesion; the reported regions (``tumour``, ``liver``...) map to their
    label values.
    """
    from sstrkit.therapy.voxel_dose import AIR_DENSITY_G_ML

    lab = np.where(np.asarray(density_g_ml) >= AIR_DENSITY_G_ML, 1, 0).astype(np.int32)
    by_name = {m.name: m for m in masks}
    regions: dict[str, tuple[int, ...]] = {}
    for value, name in ((2, "normal_liver"), (3, "lungs")):
        if name in by_name:
            lab[by_name[name].mask] = value
            regions[name] = (value,)
    tumour = by_name["tumour"].mask if "tumour" in by_name else None
    hepatic: list[int] = []
    for i, m in enumerate((m for m in masks if m.kind == "lesion"), start=10):
        lab[m.mask] = i
        regions[m.name] = (i,)
        if tumour is not None and (m.mask & tumour).any():
            hepatic.append(i)
    if hepatic:
        regions["tumour"] = tuple(hepatic)
    if "normal_liver" in regions:
        regions["liver"] = (2, *hepatic)
    return lab, regions
