"""Region names of a study's label map → the regions that region dosimetry reports.

A clinic's segmentation names its labels as it likes (``kidney_left``, ``Kidney R``,
``tumour_1``, ``liver``, ``GTV_met2``). :func:`dosimetry_regions` maps every
label name to one of three things, by documented synonyms (``docs/intake.md``,
"Region names"):

* a **dosimetry organ** — ``kidneys`` (from ``kidneys``/``kidney``/``renal``, or the
  union of the left and right kidney labels, whose per-kidney rows
  ``kidney_left``/``kidney_right`` are kept; cortex/medulla parts are merged into
  their kidney), ``liver`` (``liver``, ``hepar``), ``spleen`` (``spleen``, ``lien``);
* a **lesion** — a name containing ``lesion``, ``tumour``/``tumor``, ``metast``,
  ``gtv``, ``nodule`` or ``nodal``; each lesion label is its own region and keeps
  its name;
* a documented **non-target structure** (:data:`NON_TARGET_WORDS`: body, lungs,
  bone, marrow, heart, blood pool, bladder, bowel, …) — listed as not dosed.

Any other name is an error, never a silent drop: the fix names the synonyms.

Examples
--------
>>> m = dosimetry_regions({1: "liver", 2: "kidney_left", 3: "Kidney R", 4: "tumour_1",
...                        5: "body", 6: "spleen"})
>>> for name, values in m.regions.items():
...     print(name, values)
kidneys (2, 3)
kidney_left (2,)
kidney_right (3,)
liver (1,)
spleen (6,)
tumour_1 (4,)
>>> m.kinds["tumour_1"], m.kinds["kidney_left"], m.not_dosed
('lesion', 'organ_part', ('body',))
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sstrkit.errors import InvalidInputError

__all__ = [
    "DOSIMETRY_ORGANS",
    "LESION_WORDS",
    "NON_TARGET_WORDS",
    "RegionMap",
    "classify_regions",
    "dosimetry_regions",
    "is_lesion",
]

#: Organs with a region dose (the kidneys and red marrow limit PRRT; liver and
#: spleen are reported by the EANM/MIRD practice).
DOSIMETRY_ORGANS = ("kidneys", "liver", "spleen")

#: Words that make a label a lesion (case-insensitive substrings).
LESION_WORDS = ("lesion", "tumour", "tumor", "metast", "gtv", "nodule", "nodal")

#: Words of documented non-target structures: present in label maps, not dosed.
NON_TARGET_WORDS = (
    "body",
    "skin",
    "background",
    "lung",
    "bone",
    "spongiosa",
    "skeleton",
    "vertebra",
    "rib",
    "femur",
    "pelvis",
    "sacrum",
    "skull",
    "marrow",
    "heart",
    "blood",
    "aorta",
    "vena",
    "bladder",
    "urine",
    "bowel",
    "intestin",
    "colon",
    "duoden",
    "stomach",
    "oesophag",
    "esophag",
    "gallbladder",
    "pancrea",
    "adrenal",
    "pituitar",
    "thyroid",
    "salivary",
    "parotid",
    "brain",
    "spinal",
    "muscle",
    "fat",
    "prostate",
    "uterus",
    "ovar",
    "trachea",
    "remainder",
    "vein",
    "arter",
    "vessel",
    "cyst",
    "flexure",
    "duct",
)

_LEFT = re.compile(r"(^|[^a-z])(left|lt|l|sin|sinister)([^a-z]|$)")
_RIGHT = re.compile(r"(^|[^a-z])(right|rt|r|dex|dexter)([^a-z]|$)")

RegionKindName = Literal["organ", "organ_part", "lesion"]


def is_lesion(name: str) -> bool:
    """True for a lesion name (``"tumour_1"``, ``"lesion_03"``, ``"GTV met"``)."""
    low = name.lower()
    return any(w in low for w in LESION_WORDS)


#: Words that make an organ-like name a structure next to or inside the organ, not the
#: organ (TotalSegmentator's portal_vein_and_splenic_vein, kidney_cyst_left, …).
NOT_THE_ORGAN_WORDS = ("adrenal", "vein", "artery", "arteria", "vessel", "cyst", "flexure", "duct")


def _organ(name: str) -> str | None:
    low = name.lower().replace("-", "_")
    if any(w in low for w in NOT_THE_ORGAN_WORDS):
        return None
    if "kidney" in low or "renal" in low or low.startswith("ren"):
        if _LEFT.search(low.replace("_", " ")):
            return "kidney_left"
        if _RIGHT.search(low.replace("_", " ")):
            return "kidney_right"
        return "kidneys"
    if "liver" in low or "hepar" in low or "hepat" in low:
        return "liver"
    if "spleen" in low or low == "lien" or "splen" in low:
        return "spleen"
    return None


def _non_target(name: str) -> bool:
    low = name.lower()
    return any(w in low for w in NON_TARGET_WORDS)


@dataclass(frozen=True)
class RegionMap:
    """Region name → label values, with kinds and the labels that are not dosed."""

    regions: Mapping[str, tuple[int, ...]]
    kinds: Mapping[str, RegionKindName]
    not_dosed: tuple[str, ...]
    label_names: Mapping[int, str]

    @property
    def lesions(self) -> tuple[str, ...]:
        return tuple(n for n, k in self.kinds.items() if k == "lesion")

    def to_dict(self) -> dict[str, object]:
        return {
            "regions": {k: list(v) for k, v in self.regions.items()},
            "kinds": dict(self.kinds),
            "not_dosed": list(self.not_dosed),
        }


def dosimetry_regions(names: Mapping[int, str], *, source: str = "label names") -> RegionMap:
    """Map label value → name to the dosimetry regions (see the module docstring).

    Raises :class:`~sstrkit.errors.InvalidInputError` for a name that is neither
    a dosimetry organ, a lesion, nor a documented non-target structure.
    """
    groups: dict[str, list[int]] = {}
    for value, name in sorted(names.items()):
        if int(value) != 0:
            groups.setdefault(str(name), []).append(int(value))
    return classify_regions(groups, source=source, label_names=names)


def classify_regions(
    groups: Mapping[str, Sequence[int]],
    *,
    source: str = "region names",
    label_names: Mapping[int, str] | None = None,
) -> RegionMap:
    """Map named groups of label values (``{"kidney_left": [7, 8]}``) to dosimetry regions."""
    organs: dict[str, set[int]] = {}
    lesions: dict[str, list[int]] = {}
    not_dosed: list[str] = []
    unknown: list[str] = []
    for name, values in groups.items():
        vals = [int(v) for v in values]
        if is_lesion(name):
            lesions.setdefault(str(name), []).extend(vals)
            continue
        organ = _organ(name)
        if organ is not None:
            organs.setdefault(organ, set()).update(vals)
        elif _non_target(name):
            not_dosed.append(str(name))
        else:
            unknown.append(f"{name!r}={vals}")
    if unknown:
        raise InvalidInputError(
            source,
            expected="dosimetry organs (kidneys, kidney_left/right, liver, spleen), lesions "
            "(names with lesion/tumour/metastasis/GTV) or documented non-target structures "
            "(body, lungs, bone, heart, bladder, bowel, …; docs/study-model.md 'Region names')",
            actual=", ".join(unknown),
            fix="rename the label(s) in the label-names file, or drop them from the label map",
        )
    owner: dict[int, str] = {}
    singles: list[tuple[str, list[int]]] = [
        (o, sorted(v)) for o, v in organs.items() if o in ("kidneys", "liver", "spleen")
    ]
    singles += list(lesions.items())
    for name, values in singles:
        for v in values:
            if v in owner and owner[v] != name:
                raise InvalidInputError(
                    source,
                    expected="each label value in one dosimetry region",
                    actual=f"label {v} in both {owner[v]!r} and {name!r}",
                    fix="give the value to one region only (its activity would count twice)",
                )
            owner[v] = name
    regions: dict[str, tuple[int, ...]] = {}
    kinds: dict[str, RegionKindName] = {}
    both = sorted(
        organs.get("kidneys", set())
        | organs.get("kidney_left", set())
        | organs.get("kidney_right", set())
    )
    if both:
        regions["kidneys"] = tuple(both)
        kinds["kidneys"] = "organ"
        for side in ("kidney_left", "kidney_right"):
            if side in organs:
                regions[side] = tuple(sorted(organs[side]))
                kinds[side] = "organ_part"
    for organ in ("liver", "spleen"):
        if organ in organs:
            regions[organ] = tuple(sorted(organs[organ]))
            kinds[organ] = "organ"
    for name, values in lesions.items():
        regions[name] = tuple(sorted(set(values)))
        kinds[name] = "lesion"
    names = dict(label_names) if label_names is not None else {}
    return RegionMap(regions, kinds, tuple(not_dosed), names)
