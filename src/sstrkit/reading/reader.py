"""End-to-end SSTR PET reading: references → lesions → metrics → scores → eligibility.

:func:`read_sstr_pet` takes volumes (SUV PET, optional CT, organ labels and a
paired FDG PET) so that it does not depend on how they were imported.

Examples
--------
>>> import numpy as np
>>> from sstrkit.core.volume import Volume
>>> a = np.full((40, 40, 40), 0.8); lab = np.zeros(a.shape, dtype=np.int16)
>>> a[5:35, 5:35, 2:18] = 5.0; lab[5:35, 5:35, 2:18] = 1       # liver (patient right)
>>> a[10:20, 10:20, 24:34] = 20.0; lab[10:20, 10:20, 24:34] = 2  # spleen
>>> a[26:31, 26:31, 26:31] = 12.0                                # a lesion
>>> suv = Volume.from_array(a, spacing=(3.0, 3.0, 3.0), quantity="SUV", unit="g/mL")
>>> r = read_sstr_pet(suv, organs=Volume.from_array(lab, spacing=(3.0, 3.0, 3.0)),
...                   organ_names={1: "liver", 2: "spleen"})
>>> [(m.krenning, round(m.volume_ml, 3)) for m in r.lesions], r.krenning_patient
([(3, 3.375)], 3)
>>> r.organs_source
'supplied: organ label volume'

Organ labels, in order of precedence: supplied labels (``organs``); else, with a
CT and ``auto_organs`` (default), the automatic segmentation of the CT
(:func:`sstrkit.organs.segment.segment_organs`, the PET as emission image),
brought to the PET grid by nearest neighbour (PET and CT share a frame of
reference); else none (heuristic references, no physiological suppression —
said in ``notes``). ``organs_source`` and ``organ_quality`` record which.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from sstrkit import __version__
from sstrkit.core.provenance import Step
from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, SstrkitError
from sstrkit.reading.eligibility import EligibilityDecision, Labs, Rule, evaluate, load_rules
from sstrkit.reading.metrics import LesionMetrics, WholeBody, lesion_metrics, whole_body
from sstrkit.reading.organs import OrganMap, prepare_organs
from sstrkit.reading.reference import ReferenceSet, measure_references
from sstrkit.reading.scores import (
    KRENNING_SOURCES,
    NetpetResult,
    krenning_score,
    netpet_grade,
    patient_krenning,
)
from sstrkit.reading.segmentation import (
    FLAG_TEXT,
    NON_TARGET_FLAGS,
    Segmentation,
    SegmentationSettings,
    segment_lesions,
)

if TYPE_CHECKING:
    from sstrkit.organs.model import OrganQuality, OrganSegmentation

__all__ = [
    "ORGANS_NONE",
    "ReadingResult",
    "automatic_organs_source",
    "read_sstr_pet",
    "select_targets",
    "write_organ_segmentation",
]

#: ``organs_source`` when the reading had no organ labels.
ORGANS_NONE = "none"


def automatic_organs_source() -> str:
    """``organs_source`` of a reading on the automatic segmentation."""
    return f"automatic: sstrkit organs {__version__}, per-organ quality"


#: FDG PET defaults: detection above 1.5 × liver + 2 SD is PERCIST's measurability bar.
FDG_SETTINGS = SegmentationSettings(liver_detect_ratio=1.5, liver_detect_sd=2.0)


@dataclass(frozen=True)
class ReadingResult:
    """Everything `sstrkit read` reports (JSON contract in :meth:`to_dict`)."""

    references: ReferenceSet
    segmentation: Segmentation
    lesions: tuple[LesionMetrics, ...]
    whole_body: WholeBody
    krenning_patient: int | None
    target_ids: tuple[int, ...]
    eligibility: EligibilityDecision
    netpet: NetpetResult | None
    fdg_lesions: tuple[LesionMetrics, ...]
    fdg_references: ReferenceSet | None
    ct_on_pet_grid: Volume | None
    organs: OrganMap | None
    history: tuple[Step, ...]
    organs_source: str = ORGANS_NONE
    organ_quality: tuple[OrganQuality, ...] = ()
    organ_segmentation: OrganSegmentation | None = None
    notes: tuple[str, ...] = ()

    @property
    def organs_automatic(self) -> bool:
        return self.organs_source.startswith("automatic")

    def to_dict(self) -> dict[str, Any]:
        seg = self.organ_segmentation
        return {
            "organs_source": self.organs_source,
            "organs_automatic": self.organs_automatic,
            "organ_quality": [q.to_dict() for q in self.organ_quality],
            "organ_segmentation": (
                {k: v for k, v in seg.to_dict().items() if k != "organs"} if seg else None
            ),
            "notes": list(self.notes),
            "reference": self.references.to_dict(),
            "lesions": [_lesion_dict(m) for m in self.lesions],
            "krenning_patient": self.krenning_patient,
            "krenning_method": "PET-adapted: lesion SUVmax vs liver/spleen SUVmean, ±10 % "
            "band = equal to liver; patient grade = most avid lesion",
            "krenning_sources": list(KRENNING_SOURCES),
            "target_lesion_ids": list(self.target_ids),
            "sstr_tumour_volume_ml": self.whole_body.sstr_tumour_volume_ml,
            "total_tlse": self.whole_body.total_tlse,
            "n_lesions": self.whole_body.n_lesions,
            "suppressed_physiological": self.segmentation.to_dict()["suppressed"],
            "segmentation": self.segmentation.to_dict(),
            "netpet": self.netpet.to_dict() if self.netpet is not None else None,
            "fdg_lesions": [m.to_dict() for m in self.fdg_lesions],
            "fdg_reference": (
                self.fdg_references.to_dict() if self.fdg_references is not None else None
            ),
            "eligibility": self.eligibility.to_dict(),
            "sstrkit_version": __version__,
            "history": [s.to_dict() for s in self.history],
        }


def _lesion_dict(m: LesionMetrics) -> dict[str, Any]:
    """A lesion's JSON with the meaning of its flags (``flag_notes``)."""
    d = m.to_dict()
    d["flag_notes"] = [FLAG_TEXT.get(f, f) for f in m.flags]
    return d


def select_targets(
    lesions: Sequence[LesionMetrics], max_total: int = 5, max_per_organ: int = 2
) -> tuple[int, ...]:
    """Ids of the target lesions: the largest, ≤ 5 in all and ≤ 2 per organ (RECIST 1.1).

    Lesions flagged as uncertain (possible uncinate-process uptake, focal uptake in
    spleen or kidney) are not targets.

    >>> from sstrkit.reading.metrics import LesionMetrics
    >>> ls = [LesionMetrics(i, (0, 0, 0), 1, 1, 1, v, v, organ="liver")
    ...       for i, v in ((1, 5.0), (2, 9.0), (3, 7.0))]
    >>> select_targets(ls)
    (2, 3)
    """
    chosen: list[int] = []
    per: dict[str, int] = {}
    for m in sorted(lesions, key=lambda m: -m.volume_ml):
        if NON_TARGET_FLAGS & set(m.flags) or len(chosen) >= max_total:
            continue
        if per.get(m.organ, 0) >= max_per_organ:
            continue
        per[m.organ] = per.get(m.organ, 0) + 1
        chosen.append(m.id)
    return tuple(chosen)


def _grade(lesions: Sequence[LesionMetrics], refs: ReferenceSet) -> tuple[LesionMetrics, ...]:
    return tuple(
        replace(
            m,
            krenning=krenning_score(
                m.suv_max,
                liver=refs.liver_mean,
                spleen=refs.spleen_mean,
                blood_pool=refs.blood_pool_mean,
                spleen_missing=refs.spleen_missing,
            ),
        )
        for m in lesions
    )


def _lesions_on(labels: Volume, target: Volume) -> NDArray[np.bool_]:
    """Lesion voxels of a label map on another scan's grid, in patient coordinates.

    Paired scans (SSTR and FDG PET) are related through patient coordinates
    without registration, as in the NETPET lesion matching.
    """
    if labels.same_space(target):
        return np.asarray(labels.array) > 0
    moved = labels.with_metadata(
        operation="assume_same_patient_coordinates",
        frame_of_reference_uid=target.frame_of_reference_uid,
    ).resample_to(target, mode="nearest")
    return np.asarray(moved.array) > 0


def read_sstr_pet(
    suv: Volume,
    *,
    ct: Volume | None = None,
    organs: Volume | None = None,
    organ_names: Mapping[int, str] | None = None,
    resample_labels: bool = False,
    fdg: Volume | None = None,
    fdg_organs: Volume | None = None,
    fdg_organ_names: Mapping[int, str] | None = None,
    labs: Labs | None = None,
    rules: tuple[Sequence[Rule], str] | None = None,
    therapy: str | None = "177Lu-DOTATATE",
    tracer: str | None = None,
    settings: SegmentationSettings | None = None,
    seeds_mm: Sequence[Sequence[float]] = (),
    auto_organs: bool = True,
    organs_source: str | None = None,
    organ_segmentation: OrganSegmentation | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> ReadingResult:
    """Read an SSTR PET quantitatively (see the package docs for each step).

    Parameters (organ labels; the others are described in docs/reading.md)
    ----------------------------------------------------------------------
    organs, organ_names, resample_labels
        Supplied organ labels: they always take precedence.
    auto_organs
        Without supplied labels, segment the organs on ``ct`` automatically
        (:func:`sstrkit.organs.segment.segment_organs`); ``False`` reads without organs.
    organs_source
        How the supplied labels were obtained, for the record (default: the volume's name).
    organ_segmentation
        An automatic segmentation already computed (used instead of segmenting again).
    progress
        ``progress(stage, fraction)`` of the automatic segmentation.

    Raises
    ------
    GeometryMismatchError
        CT and PET frames of reference differ, or labels are on another grid
        and ``resample_labels`` is false.
    InvalidInputError
        The PET is not in SUV, or other inputs are malformed.
    """
    notes: list[str] = []
    ct_grid = _ct_on_pet_grid(ct, suv)
    omap, auto, source = _reading_organs(
        suv,
        ct,
        organs=organs,
        organ_names=organ_names,
        resample_labels=resample_labels,
        auto_organs=auto_organs,
        organs_source=organs_source,
        organ_segmentation=organ_segmentation,
        progress=progress,
        notes=notes,
    )
    refs = measure_references(suv, omap)
    seg = segment_lesions(suv, refs, omap, settings, seeds_mm=seeds_mm, tracer=tracer)
    lesions = _grade(lesion_metrics(suv, seg, refs), refs)
    wb = whole_body(lesions)
    targets = select_targets(lesions)
    target_ms = [m for m in lesions if m.id in targets]

    fdg_read = (
        _read_fdg(
            fdg,
            suv,
            lesions,
            seg,
            refs,
            fdg_organs=fdg_organs,
            fdg_organ_names=fdg_organ_names,
            resample_labels=resample_labels,
            auto=auto,
            notes=notes,
        )
        if fdg is not None
        else None
    )
    netpet, fdg_lesions, frefs = fdg_read if fdg_read is not None else (None, (), None)
    values = _rule_values(target_ms, len(lesions), netpet, refs, labs, notes)
    decision = evaluate(rules or load_rules(), values, therapy=therapy, tracer=tracer)
    step = Step.make(
        "read_sstr_pet",
        {
            "therapy": therapy,
            "tracer": tracer,
            "seeds_mm": [list(s) for s in seeds_mm],
            "organs_source": source,
        },
        inputs=tuple(v.name for v in (suv, ct, organs, fdg) if v is not None),
        sources=KRENNING_SOURCES,
    )
    auto_steps = (auto.provenance,) if auto is not None else ()
    return ReadingResult(
        references=refs,
        segmentation=seg,
        lesions=lesions,
        whole_body=wb,
        krenning_patient=patient_krenning([m.krenning for m in lesions]),
        target_ids=targets,
        eligibility=decision,
        netpet=netpet,
        fdg_lesions=fdg_lesions,
        fdg_references=frefs,
        ct_on_pet_grid=ct_grid,
        organs=omap,
        history=(*suv.history, *auto_steps, *refs.history, seg.labels.history[-1], step),
        organs_source=source,
        organ_quality=auto.organs if auto is not None else (),
        organ_segmentation=auto,
        notes=tuple(dict.fromkeys([*notes, *refs.notes])),
    )


def _ct_on_pet_grid(ct: Volume | None, suv: Volume) -> Volume | None:
    """The CT resampled (linear, air outside) onto the PET grid; None without a CT.

    Raises
    ------
    GeometryMismatchError
        CT and PET frames of reference differ.
    """
    if ct is None:
        return None
    a, b = ct.frame_of_reference_uid, suv.frame_of_reference_uid
    if a and b and a != b:
        raise GeometryMismatchError(
            "CT and PET frames of reference",
            expected=f"the PET's {b}",
            actual=a,
            fix="use the CT acquired with this PET (same FrameOfReferenceUID) or register "
            "the CT first",
        )
    return ct if ct.same_space(suv) else ct.resample_to(suv, mode="linear", default_value=-1000.0)


def _reading_organs(
    suv: Volume,
    ct: Volume | None,
    *,
    organs: Volume | None,
    organ_names: Mapping[int, str] | None,
    resample_labels: bool,
    auto_organs: bool,
    organs_source: str | None,
    organ_segmentation: OrganSegmentation | None,
    progress: Callable[[str, float], None] | None,
    notes: list[str],
) -> tuple[OrganMap | None, OrganSegmentation | None, str]:
    """(organ map on the PET grid, automatic segmentation used, ``organs_source``).

    Supplied labels take precedence; else the automatic segmentation (given, or of
    ``ct`` when ``auto_organs``); else none. What was used is said in ``notes``.
    """
    omap: OrganMap | None = None
    auto: OrganSegmentation | None = None
    source = ORGANS_NONE
    if organs is not None:
        omap = prepare_organs(organs, suv, organ_names, resample=resample_labels)
        source = organs_source or f"supplied: {organs.name or 'organ label volume'}"
    elif organ_segmentation is not None or (ct is not None and auto_organs):
        auto = organ_segmentation
        if auto is None:
            assert ct is not None
            auto = _segment_automatically(suv, ct, notes, progress)
        if auto is not None:
            omap = _automatic_organ_map(auto, suv)
            source = automatic_organs_source()
            notes.append(
                "organs segmented automatically on the CT (sstrkit organs): check the outlines "
                "on the MIP; per-organ quality in organ_quality"
            )
            flagged = [f"{q.name} {q.status}" for q in auto.organs if q.status != "plausible"]
            if flagged:
                notes.append("automatic organs flagged: " + ", ".join(flagged))
    elif ct is not None:
        notes.append(
            "automatic organ segmentation switched off: no organ labels; physiological uptake "
            "(kidneys, spleen, bladder, adrenals, urinary tract) is not suppressed"
        )
    if omap is None and not any("switched off" in n for n in notes):
        notes.append(
            "no organ labels were available (none supplied"
            + ("" if ct is not None else " and no CT to segment")
            + "): references from the no-label heuristics, physiological uptake (kidneys, "
            "spleen, bladder, adrenals, urinary tract) is not suppressed"
        )
    return omap, auto, source


def _automatic_organ_map(auto: OrganSegmentation, target: Volume) -> OrganMap:
    """The automatic segmentation's organs on ``target``'s grid, with their quality."""
    return prepare_organs(
        auto.labels,
        target,
        auto.names,
        resample=True,
        quality={q.name: q.status for q in auto.organs},
        source="automatic",
    )


def _read_fdg(
    fdg: Volume,
    suv: Volume,
    lesions: Sequence[LesionMetrics],
    seg: Segmentation,
    refs: ReferenceSet,
    *,
    fdg_organs: Volume | None,
    fdg_organ_names: Mapping[int, str] | None,
    resample_labels: bool,
    auto: OrganSegmentation | None,
    notes: list[str],
) -> tuple[NetpetResult, tuple[LesionMetrics, ...], ReferenceSet]:
    """(NETPET grade, FDG lesions, FDG references) of the paired FDG PET.

    Organs: the supplied FDG labels, else the automatic segmentation when the FDG PET
    shares the SSTR PET/CT's frame of reference, else none (said in ``notes``).
    """
    fmap = (
        prepare_organs(fdg_organs, fdg, fdg_organ_names, resample=resample_labels)
        if fdg_organs is not None
        else None
    )
    same_frame = bool(
        fdg.frame_of_reference_uid and fdg.frame_of_reference_uid == suv.frame_of_reference_uid
    )
    if fmap is None and auto is not None and same_frame:
        # one PET/CT session (same frame of reference): the SSTR PET/CT's organs hold
        fmap = _automatic_organ_map(auto, fdg)
        notes.append("FDG PET: organs of the automatic segmentation (same frame of reference)")
    elif fmap is None:
        notes.append(
            "FDG PET read without organ labels (another frame of reference): give "
            "--fdg-organs, or run the study with 'sstrkit run', which registers the CTs"
        )
    # lesions read on the SSTR PET are not normal liver/spleen on the FDG PET either
    frefs = measure_references(fdg, fmap, exclude=_lesions_on(seg.labels, fdg))
    fseg = segment_lesions(fdg, frefs, fmap, FDG_SETTINGS)
    fdg_lesions = lesion_metrics(fdg, fseg, frefs)
    netpet = netpet_grade(
        lesions, fdg_lesions, sstr_refs=refs, fdg_refs=frefs, sstr_suv=suv, fdg_suv=fdg
    )
    return netpet, fdg_lesions, frefs


def _rule_values(
    target_ms: Sequence[LesionMetrics],
    n_lesions: int,
    netpet: NetpetResult | None,
    refs: ReferenceSet,
    labs: Labs | None,
    notes: list[str],
) -> dict[str, float | None]:
    """The quantities the eligibility rules test: target lesions, NETPET and the labs.

    Missing data never loosens a rule: without a reliable liver the lesion-to-liver
    quantities are None (not assessed), said in ``notes``.
    """
    values: dict[str, float | None] = {
        "n_lesions": float(n_lesions),
        "target_min_t_l": min((m.t_l for m in target_ms if m.t_l is not None), default=None),
        "target_min_suv_max": min((m.suv_max for m in target_ms), default=None),
        "target_min_krenning": min(
            (float(m.krenning) for m in target_ms if m.krenning is not None), default=None
        ),
        "fdg_positive_sstr_negative_lesions": (
            float(netpet.fdg_positive_sstr_negative) if netpet is not None else None
        ),
    }
    if not refs.liver_reliable:
        # missing data never loosens a rule: no "uptake >= liver" against a stand-in liver
        values["target_min_t_l"] = None
        values["target_min_krenning"] = None
        notes.append(
            "liver missing or implausible in the organ segmentation: lesion-to-liver rules "
            "are not assessed (T/L and Krenning shown against the stand-in reference)"
        )
    values.update((labs or Labs()).quantities())
    return values


def _segment_automatically(
    suv: Volume,
    ct: Volume,
    notes: list[str],
    progress: Callable[[str, float], None] | None,
) -> OrganSegmentation | None:
    """The automatic organ segmentation of ``ct`` (PET as emission), or None with a note.

    A segmentation that fails with a typed error does not stop the reading: it continues
    without organs and says why.
    """
    from sstrkit.organs import segment

    try:
        return segment.segment_organs(ct, suv, emission_kind="pet", progress=progress)
    except SstrkitError as exc:
        notes.append(f"automatic organ segmentation failed: {exc.one_line()}")
    return None


def write_organ_segmentation(
    seg: OrganSegmentation, folder: str | os.PathLike[str]
) -> dict[str, str]:
    """Write an automatic organ segmentation for the reader to check (atomic files).

    ``organs.nii.gz`` is the label map on the CT grid (its JSON sidecar holds
    ``Labels`` and the per-organ quality, so ``--organs organs.nii.gz`` reads it
    back); ``labels.json`` maps label values to class names. Returns the paths.
    """
    from sstrkit.core.atomic import write_json_atomic
    from sstrkit.io.nifti import write_nifti

    root = Path(folder)
    names = seg.label_json()
    nifti = write_nifti(
        seg.labels,
        root / "organs.nii.gz",
        extra={
            "Labels": names,
            "OrganQuality": [q.to_dict() for q in seg.organs],
            "Method": seg.method,
        },
    )
    labels = root / "labels.json"
    write_json_atomic(labels, names)
    return {"organs_nifti": str(nifti), "organs_labels_json": str(labels)}
