"""The SIRT tumour definition shared by the MAA plan and the post-implant dosimetry.

A physicist outlines the liver tumours once, on the baseline SSTR PET/CT, and uses the
same lesions for the 99mTc-MAA prediction (:mod:`sstrkit.pipeline.sirt_inputs`) and the
post-implant 90Y measurement (:mod:`sstrkit.pipeline.sirt_y90_inputs`).
:func:`baseline_lesions` carries them onto a SIRT scan's CT: the study's baseline label
source (:meth:`~sstrkit.pipeline.study.Study.label_source_for_baseline`: the site's or the
digital patient's lesion labels, or the PET reading's lesions merged by ``sstrkit run``)
registered CT-to-CT (:func:`sstrkit.therapy.registration.register_ct`, rigid) onto that
CT. The registration's normalised cross-correlation travels with the result and is
flagged "doubtful" below 0.8. Which lesions are liver lesions is read on the baseline map
itself (:func:`liver_lesion_values`: surrounded by its liver label), where the organ
contours are the study's own; each reader falls back to its threshold tumours when there
are none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from sstrkit.errors import SstrkitError

if TYPE_CHECKING:
    from sstrkit.core.volume import Volume
    from sstrkit.pipeline.study import Study

__all__ = ["BaselineLesions", "baseline_lesions", "liver_lesion_values"]


@dataclass(frozen=True)
class BaselineLesions:
    """Baseline PET/CT lesion labels registered onto a SIRT scan's CT.

    ``labels`` is on the target CT's grid; ``names`` maps label value → lesion name (the
    lesion labels of the study's label names only); ``liver_lesions`` the values of those
    in the liver on the baseline map (:func:`liver_lesion_values`), None when that map has
    no liver label; ``ncc`` is the CT-to-CT normalised cross-correlation after
    registration and ``source`` says so in words.
    """

    labels: Volume = field(repr=False)
    names: Mapping[int, str]
    ncc: float
    acceptable: bool
    source: str
    liver_lesions: frozenset[int] | None = None


def liver_lesion_values(
    labels: NDArray[np.integer[Any]], lesions: Iterable[int], liver: Iterable[int]
) -> frozenset[int]:
    """The lesion values whose one-voxel shell on ``labels`` is at least half liver, the
    shell's voxels of other lesions left out.

    A lesion label replaces the organ it sits in, so a liver metastasis is surrounded by
    liver on the baseline map; a pancreatic, adrenal or bone lesion next to the liver is
    not (its shell is mostly its own organ). Two touching lesions are not each other's
    host: without that, a large liver metastasis that the reading split in two (the
    digital patient's 60 mL lesion at the liver's edge: shell 41 % liver, 44 % the other
    part, 12 % body) was left out of the tumours.

    >>> lab = np.zeros((9, 9, 9), dtype=np.int32)
    >>> lab[1:8, 1:8, 1:8] = 5
    >>> lab[3, 3, 3] = 101
    >>> lab[0, 0, 0] = 102
    >>> lab[4:6, 2:7, 2:7] = 103; lab[6:8, 2:7, 2:7] = 104  # touching, at the liver's edge
    >>> sorted(liver_lesion_values(lab, [101, 102, 103, 104], [5]))
    [101, 103, 104]
    """
    from scipy import ndimage

    liver_v = np.asarray(sorted(set(liver)), dtype=np.int64)
    lesions = list(lesions)
    lesion_v = np.asarray(sorted(set(lesions)), dtype=np.int64)
    out: set[int] = set()
    for v in lesions:
        mask = labels == v
        if not mask.any():
            continue
        box = ndimage.find_objects(mask.astype(np.int8))[0]
        sl = tuple(slice(max(b.start - 1, 0), b.stop + 1) for b in box)
        m = mask[sl]
        around = labels[sl][ndimage.binary_dilation(m) & ~m]
        around = around[~np.isin(around, lesion_v)]
        if around.size and np.isin(around, liver_v).mean() >= 0.5:
            out.add(int(v))
    return frozenset(out)


def baseline_lesions(
    study: Study, ct: Volume, say: Callable[[str], None], notes: list[str]
) -> BaselineLesions | None:
    """The baseline SSTR PET/CT lesions registered CT-to-CT onto ``ct``, if the study has any.

    None without a baseline label map with its CT or without lesion labels; a registration
    that fails returns None with a line in ``notes`` (the caller then thresholds).
    """
    from sstrkit.sirt.dose_vois import classify_name
    from sstrkit.therapy.registration import apply_to_labels, register_ct

    try:
        src = study.label_source_for_baseline()
        names = study.label_names()
    except SstrkitError:
        return None
    if src.key != "baseline" or src.ct_path is None:
        return None
    lesions = {v: n for v, n in names.items() if classify_name(n) == "lesion"}
    if not lesions:
        return None
    say("baseline lesions: CT-to-CT registration")
    labels = study.read_label_map(src)
    try:
        reg = register_ct(ct, study.read(src.ct_path, src.ct_series_uid), shrink_factors=(4, 2))
    except SstrkitError as exc:
        notes.append(f"baseline lesions not used (CT registration failed: {exc.one_line()})")
        return None
    moved = apply_to_labels(labels, reg, ct)
    liver_v = [v for v, n in names.items() if classify_name(n) == "liver"]
    in_liver = liver_lesion_values(np.asarray(labels.array), lesions, liver_v) if liver_v else None
    how = (
        f"baseline SSTR PET/CT lesions registered CT-to-CT (NCC {reg.ncc_after:.2f}"
        + ("" if reg.acceptable else ", doubtful: < 0.8")
        + ")"
    )
    return BaselineLesions(
        moved, lesions, float(reg.ncc_after), bool(reg.acceptable), how, in_liver
    )
