"""Organ label maps: names, canonical organ kinds, validation against the PET grid.

Organ label volumes come from NIfTI/RTSTRUCT (or a segmentation tool) with
their own integer codes. Reading code never relies on the codes: every label is
given a name (``{code: name}``) and the name is mapped to a canonical *kind*
by keyword (``"kidney_left"`` and ``"Kidney R"`` are both ``"kidney"``).

Examples
--------
>>> organ_kind("Kidney_Left"), organ_kind("urinary bladder"), organ_kind("femur")
('kidney', 'bladder', None)
>>> organ_kind("adrenal_gland_left"), organ_kind("renal_pelvis")
('adrenal', 'kidney')
>>> organ_kind("gallbladder"), organ_kind("small_bowel"), organ_kind("ureter_left")
('gallbladder', 'bowel', 'ureter')
>>> sorted(PHYSIOLOGICAL_KINDS)
['adrenal', 'bladder', 'kidney', 'pituitary', 'spleen', 'ureter']

Automatic segmentations (:mod:`sstrkit.organs`) also give a quality per organ
(``plausible``, ``implausible``, ``absent``, ``not_visible``); :class:`OrganMap`
keeps it so that references and suppression know an organ is missing (after a
splenectomy, say) rather than merely unlabelled:

>>> lab = np.zeros((4, 4, 4), dtype=np.int32); lab[:2] = 1
>>> m = OrganMap(lab, {1: "liver", 2: "spleen"}, quality={"liver": "plausible",
...              "spleen": "absent"}, source="automatic")
>>> m.status("liver"), m.status("spleen"), m.usable("spleen"), m.known_missing("spleen")
('plausible', 'absent', False, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError

__all__ = [
    "DEFAULT_ORGAN_NAMES",
    "MISSING_STATUSES",
    "NO_BACKGROUND_KINDS",
    "PHYSIOLOGICAL_KINDS",
    "OrganMap",
    "is_lesion_name",
    "organ_kind",
    "prepare_organs",
]

#: Organs with physiological SSTR-ligand uptake that must not be read as lesions
#: (kidneys, ureters and bladder by excretion; spleen, adrenals and pituitary by receptor
#: expression; Wang et al. 2013 section 3.3/5; Werner et al. 2018 J Nucl Med 59:1085).
#: Bowel and gallbladder are not: a bowel label may hold an ileal NET primary, and the
#: gallbladder holds activity only with hepatobiliary (99mTc) tracers — both are handled
#: by the pattern rules of :mod:`sstrkit.reading.segmentation`.
PHYSIOLOGICAL_KINDS = frozenset({"kidney", "spleen", "bladder", "adrenal", "pituitary", "ureter"})

#: Labelled kinds that are neither physiological nor read against their own uptake level.
NO_BACKGROUND_KINDS = frozenset({"aorta", "blood", "bowel", "gallbladder"})

#: Quality flags of an automatic segmentation that make an organ unusable.
MISSING_STATUSES = frozenset({"implausible", "absent", "not_visible"})

#: Keyword → canonical kind, checked in order ("gallbladder" before "bladder").
_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("liver", "liver"),
    ("hepat", "liver"),
    ("spleen", "spleen"),
    ("splen", "spleen"),
    ("adrenal", "adrenal"),  # before "renal": "adrenal" contains it
    ("kidney", "kidney"),
    ("renal", "kidney"),
    ("ureter", "ureter"),
    ("gallbladder", "gallbladder"),
    ("gall_bladder", "gallbladder"),
    ("gall bladder", "gallbladder"),
    ("bladder", "bladder"),
    ("bowel", "bowel"),
    ("colon", "bowel"),
    ("duoden", "bowel"),
    ("intestin", "bowel"),
    ("ileum", "bowel"),
    ("jejun", "bowel"),
    ("pituitar", "pituitary"),
    ("hypophys", "pituitary"),
    ("aorta", "aorta"),
    ("blood", "blood"),
    ("pancrea", "pancreas"),
)

#: Code → name used when a label volume comes without names (documented in docs/reading.md).
DEFAULT_ORGAN_NAMES: Mapping[int, str] = {
    1: "liver",
    2: "spleen",
    3: "kidney_left",
    4: "kidney_right",
    5: "urinary_bladder",
    6: "adrenal_left",
    7: "adrenal_right",
    8: "pituitary",
    9: "aorta",
    10: "pancreas",
}


_LESION_WORDS = ("lesion", "tumor", "tumour", "metast", "nodule")


def is_lesion_name(name: str) -> bool:
    """True for label names that denote lesions, not organs (``"lesion_03"``)."""
    low = name.lower()
    return any(w in low for w in _LESION_WORDS)


def _fill_lesion_labels(labels: NDArray[np.int32], codes: list[int]) -> NDArray[np.int32]:
    """Replace lesion labels by the nearest organ/background label (the host organ)."""
    lesion = np.isin(labels, codes)
    if not lesion.any():
        return labels
    _, idx = ndimage.distance_transform_edt(lesion, return_indices=True)
    out = labels.copy()
    out[lesion] = labels[tuple(i[lesion] for i in idx)]
    return out


def organ_kind(name: str) -> str | None:
    """Canonical organ kind of a label name, or ``None`` when not recognised."""
    low = name.lower()
    for key, kind in _KEYWORDS:
        if key in low:
            return kind
    return None


@dataclass(frozen=True)
class OrganMap:
    """An integer label array on the PET grid with its names and kinds.

    ``quality`` (organ name → ``plausible``/``implausible``/``absent``/``not_visible``)
    comes with automatic segmentations; supplied labels have none (every labelled
    organ is taken as it is). ``source`` says where the labels came from.
    """

    labels: NDArray[np.int32]
    names: Mapping[int, str]
    quality: Mapping[str, str] = field(default_factory=dict)
    source: str = "supplied"

    def kind_of(self, code: int) -> str | None:
        name = self.names.get(code)
        return organ_kind(name) if name is not None else None

    def mask(self, kind: str) -> NDArray[np.bool_]:
        """Union of all labels of one kind (empty when the kind is absent)."""
        codes = [c for c in self.names if self.kind_of(c) == kind]
        if not codes:
            return np.zeros(self.labels.shape, dtype=bool)
        return np.isin(self.labels, codes)

    def has(self, kind: str) -> bool:
        return any(self.kind_of(c) == kind for c in self.names) and bool(self.mask(kind).any())

    def name_at(self, code: int) -> str:
        return self.names.get(code, "other") if code else "other"

    def status(self, kind: str) -> str | None:
        """Quality of an organ kind (``None`` without quality flags, e.g. supplied labels).

        A paired organ is as good as its best side (one plausible kidney is fine).
        """
        got = [q for n, q in self.quality.items() if organ_kind(n) == kind]
        if not got:
            return None
        for q in ("plausible", "implausible", "not_visible", "absent"):
            if q in got:
                return q
        return got[0]

    def usable(self, kind: str) -> bool:
        """The kind is labelled and not flagged implausible, absent or not visible."""
        return self.has(kind) and self.status(kind) not in MISSING_STATUSES

    def known_missing(self, kind: str) -> bool:
        """The segmentation looked for the kind and flags it unusable (absent, ...)."""
        return self.status(kind) in MISSING_STATUSES


def prepare_organs(
    organs: Volume,
    suv: Volume,
    names: Mapping[int, str] | None = None,
    *,
    resample: bool = False,
    quality: Mapping[str, str] | None = None,
    source: str = "supplied",
) -> OrganMap:
    """Check (or explicitly resample) an organ label volume onto the PET grid.

    Parameters
    ----------
    organs
        Integer label volume (0 = background).
    suv
        The PET (SUV) volume whose grid the labels must share.
    names
        ``{code: name}``; defaults to :data:`DEFAULT_ORGAN_NAMES`.
    resample
        When the grids differ: ``False`` raises :class:`GeometryMismatchError`;
        ``True`` resamples the labels with nearest neighbour (recorded).
    quality, source
        Per-organ quality flags and origin of the labels (see :class:`OrganMap`).
    """
    arr = np.asarray(organs.array)
    if arr.dtype.kind == "f" and (not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr))):
        raise InvalidInputError(
            "organ label volume",
            expected="integer labels",
            actual=f"non-integer values (dtype {arr.dtype})",
            fix="pass a label map (0 = background, 1..N = organs)",
        )
    if not organs.same_space(suv):
        if not resample:
            try:
                organs.check_same_space(suv)
            except GeometryMismatchError as exc:
                raise GeometryMismatchError(
                    "organ labels are on another grid than the PET",
                    expected=exc.expected,
                    actual=exc.actual,
                    fix="resample explicitly (library: resample=True; CLI: --resample-labels) "
                    "or export the labels on the PET grid",
                ) from None
        organs = organs.resample_to(suv, mode="nearest")
    labels = np.asarray(organs.array).astype(np.int32)
    mapping = dict(DEFAULT_ORGAN_NAMES if names is None else names)
    lesion_codes = [c for c, n in mapping.items() if is_lesion_name(n)]
    if lesion_codes:
        labels = _fill_lesion_labels(labels, lesion_codes)
        mapping = {c: n for c, n in mapping.items() if c not in lesion_codes}
    present = {int(c) for c in np.unique(labels) if c != 0}
    unknown = sorted(present - set(mapping))
    if unknown:
        raise InvalidInputError(
            "organ label codes",
            expected=f"names for every code present ({sorted(mapping)} named)",
            actual=f"unnamed codes {unknown}",
            fix="pass a {code: name} mapping (CLI: --organ-names names.json)",
        )
    return OrganMap(labels=labels, names=mapping, quality=dict(quality or {}), source=source)
