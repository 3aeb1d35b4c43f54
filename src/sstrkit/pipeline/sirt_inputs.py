"""SIRT series of a study folder read into the typed inputs of :mod:`sstrkit.sirt`.

**99mTc-MAA work-up** — :func:`load_maa_inputs` reads the manifest roles
``maa_planar`` (planar ANT/POST, :func:`sstrkit.io.planar.read_planar_wholebody`),
``maa_spect`` (:func:`read_emission`: Bq/mL from BQML, or from counts with the entry's
``calibration_cps_per_mbq``; counts otherwise — enough for the ratios LSF and T/N, and
flagged) and ``maa_spect_ct`` (the CT of the SPECT's frame of reference, resampled
onto the SPECT grid for the masses), and the clinical record (weight and height for
the body surface area, sex, earlier 90Y treatments, the planned device and target),
into a :class:`~sstrkit.sirt.plan_inputs.MaaInputs`.

**Volumes of interest** on the SPECT grid:

1. the manifest segmentation key ``"maa"`` (a label map on the MAA CT grid, NIfTI or
   DICOM SEG; names as the other keys): ``liver``/``liver_normal``/``normal_liver``
   (the liver is their union with the tumour labels), names containing ``lung``, and
   lesions (:func:`sstrkit.pipeline.regions.is_lesion`: ``lesion_<id>``, ``tumour``…);
   a map without tumour labels gets its tumours by 3.;
2. else **automatic** organs, flagged: the liver is the perfused liver of the MAA SPECT
   (:func:`sstrkit.sirt.perfused_liver.perfused_liver`: half its perfused level, soft
   tissue on the CT; the same rule as the post-implant side), the lungs by
   :func:`sstrkit.sirt.plan_vois.lungs_from_ct` (CT-number window; robust to a field of
   view that cuts the chest);
3. tumours, when none are given: the baseline SSTR PET/CT lesions
   (:func:`sstrkit.pipeline.sirt_vois.baseline_lesions`: the study's baseline lesion
   labels or the PET reading's lesions, registered CT-to-CT onto the MAA CT — the tumour
   definition of the post-implant dosimetry too) inside the liver VOI, flagged with the
   registration's NCC; without any, :func:`sstrkit.sirt.plan_uptake.threshold_tumours`
   (≥ 2 × the median liver concentration, ≥ 1 mL, regions reaching the liver VOI; the
   lungs excluded), flagged; the liver VOI is then the liver with its tumours.

**SPECT resolution** (for the partial-volume-corrected T/N,
:mod:`sstrkit.sirt.plan_tn_pvc`), as the PRRT dosimetry picks it
(:mod:`sstrkit.pipeline.study_records`): ``spect_fwhm_mm`` given (``--spect-fwhm-mm``) >
the ``maa_spect`` entry's ``fwhm_mm`` (its ``fwhm_source`` named, else "manifest
fwhm_mm") > an estimate from the SPECT's DICOM header
(:func:`sstrkit.io.spect_resolution.estimate_spect_fwhm`, flagged
``spect_resolution_estimated``) > none (no corrected T/N; the reason is kept).

The digital patient's truth label maps are never used here: they are what the
measurement is checked against.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sstrkit.core.volume import Volume
from sstrkit.errors import DicomMetadataError, InvalidInputError
from sstrkit.pipeline.manifest import CtEntry, EmissionEntry
from sstrkit.pipeline.study import Study
from sstrkit.sirt.plan_inputs import MaaInputs, MaaVois, PriorSirt

__all__ = [
    "LIVER_NAMES",
    "MAA_SEGMENTATION_KEY",
    "classify_maa_labels",
    "load_maa_inputs",
    "read_emission",
]

#: Manifest segmentation key of the label map drawn on the MAA SPECT/CT's CT.
MAA_SEGMENTATION_KEY = "maa"
#: Label names read as liver (whole or non-tumoural).
LIVER_NAMES = frozenset(
    {
        "liver",
        "liver_normal",
        "normal_liver",
        "liver_healthy",
        "healthy_liver",
        "non_tumoural_liver",
        "nontumoural_liver",
        "perfused_liver",
        "hepar",
    }
)

Progress = Callable[[str], None]


def _study(study: Study | str | os.PathLike[str]) -> Study:
    return study if isinstance(study, Study) else Study.load(Path(study))


# ------------------------------------------------------------------ emission volumes
def read_emission(
    study: Study,
    entry: EmissionEntry,
    *,
    calibration_cps_per_mbq: float | None,
    notes: list[str],
) -> Volume:
    """An NM/PT series of ``study`` as Bq/mL (BQML as stored; counts × the camera
    calibration), else in its own counts with a note (ratios only).

    Shared by the SIRT readers (MAA SPECT now; 90Y bremsstrahlung SPECT and PET).
    """
    from sstrkit.io.dicom_read import read_series
    from sstrkit.io.suv import Overrides, activity_concentration

    path = study.path(entry.path)
    series = read_series(
        path, series_uid=entry.series_uid if path.is_dir() else None, modalities=("NM", "PT")
    )
    label = entry.series_description or entry.series_uid
    try:
        act = activity_concentration(
            series, Overrides(sensitivity_cps_per_mbq=calibration_cps_per_mbq)
        )
    except DicomMetadataError as exc:
        notes.append(
            f"{label}: no activity scale ({exc.what}); read in its own units "
            f"({series.units}) — lung shunt fraction and T/N are ratios and do not need it"
        )
        return series.volume.with_metadata(name=str(entry.series_uid))
    return act.volume.with_metadata(name=str(entry.series_uid))


def _first(entries: list[Any], role: str, notes: list[str]) -> Any:
    if len(entries) > 1:
        notes.append(f"{len(entries)} {role} series in the manifest: the first is used")
    return entries[0] if entries else None


def _ct_of(study: Study, entry: EmissionEntry, notes: list[str]) -> CtEntry | None:
    cts = list(study.model.series.maa_spect_ct)
    same = [c for c in cts if c.frame_of_reference_uid == entry.frame_of_reference_uid]
    if same:
        return same[0]
    if cts:
        notes.append(
            "MAA SPECT/CT: no CT of the SPECT's frame of reference; the first maa_spect_ct "
            "is used by patient coordinates"
        )
        return cts[0]
    notes.append("MAA SPECT without its CT (maa_spect_ct): no automatic VOIs or CT masses")
    return None


def _on_spect(labels: Volume, spect: Volume) -> NDArray[np.int32]:
    lab = labels.with_metadata(
        operation="assign_frame_of_reference",
        frame_of_reference_uid=spect.frame_of_reference_uid,
    )
    return np.asarray(lab.resample_to(spect, mode="nearest").array, dtype=np.int32)


# ------------------------------------------------------------------ VOIs
def classify_maa_labels(
    names: Mapping[int, str],
) -> tuple[tuple[int, ...], tuple[int, ...], dict[str, int]]:
    """(liver values, lung values, tumour name → value) of a MAA label map's names.

    >>> classify_maa_labels({1: "liver_normal", 2: "lungs", 101: "lesion_1", 3: "body"})
    ((1,), (2,), {'lesion_1': 101})
    """
    from sstrkit.pipeline.regions import is_lesion

    liver, lungs, tumours = [], [], {}
    for value, name in sorted(names.items()):
        key = name.strip().lower().replace(" ", "_").replace("-", "_")
        if key in LIVER_NAMES:
            liver.append(value)
        elif "lung" in key:
            lungs.append(value)
        elif is_lesion(key):
            tumours[name] = value
    return tuple(liver), tuple(lungs), tumours


def _segmentation_vois(
    study: Study, spect: Volume, ct_entry: CtEntry | None, notes: list[str]
) -> MaaVois | None:
    seg = study.model.segmentation
    rel = None if seg is None else seg.labels_nifti.get(MAA_SEGMENTATION_KEY)
    if rel is None:
        return None
    path = study.path(rel)
    if path.name.endswith((".nii", ".nii.gz")):
        from sstrkit.io.nifti import read_nifti

        labels = read_nifti(path)
    else:
        from sstrkit.io.masks import find_dicom_seg, read_dicom_seg

        seg_file = find_dicom_seg(path)
        if seg_file is None or ct_entry is None:
            raise InvalidInputError(
                f"segmentation.labels_nifti.{MAA_SEGMENTATION_KEY}",
                expected="a NIfTI label map, or a DICOM SEG with the MAA CT in the manifest",
                actual=str(path),
            )
        ct = study.read(study.path(ct_entry.path), ct_entry.series_uid)
        labels = read_dicom_seg(seg_file, ct, resample_labels=True).labels
    names = study.label_names() if seg is not None and seg.label_names else {}
    if not names and not path.name.endswith((".nii", ".nii.gz")):
        from sstrkit.io.masks import dicom_seg_info

        names = dict(dicom_seg_info(path).names)
    liver_v, lung_v, tumour_v = classify_maa_labels(names)
    if not liver_v and not tumour_v:
        raise InvalidInputError(
            "MAA label names",
            expected="a liver label (liver, liver_normal, ...) in the 'maa' label map",
            actual=sorted(names.values()),
            fix="name the labels in segmentation.label_names (docs/sirt.md)",
        )
    arr = _on_spect(labels, spect)
    tumours = {n: arr == v for n, v in tumour_v.items() if (arr == v).any()}
    liver = np.isin(arr, liver_v)
    for m in tumours.values():
        liver |= m
    lungs = np.isin(arr, lung_v) if lung_v else None
    if lung_v and lungs is not None and not lungs.any():
        lungs = None
    if not lung_v:
        notes.append("'maa' label map without a lung label: no SPECT/CT lung shunt fraction")
    return MaaVois(
        liver=liver,
        lungs=lungs,
        tumours=tumours,
        source=f"study segmentation '{MAA_SEGMENTATION_KEY}' ({rel})",
    )


def _automatic_organs(
    study: Study, spect: Volume, ct: Volume, notes: list[str], say: Progress
) -> MaaVois | None:
    from sstrkit.sirt.perfused_liver import perfused_liver
    from sstrkit.sirt.plan_vois import lungs_from_ct

    say("perfused liver (MAA SPECT) and lungs (CT), automatic…")
    lungs_ct = lungs_from_ct(ct)
    try:
        perfused = perfused_liver(ct, spect, lungs=lungs_ct)
    except InvalidInputError as exc:
        notes.append(f"no automatic liver on the MAA SPECT/CT: {exc.one_line()}")
        return None

    def on_spect(mask: NDArray[np.bool_], what: str) -> NDArray[np.bool_]:
        label = ct.with_array(mask.astype(np.uint8), operation=what, quantity="label", unit="1")
        return np.asarray(_on_spect(label, spect) > 0)

    liver = on_spect(perfused.mask, "perfused_liver")
    lungs = on_spect(lungs_ct, "lungs_from_ct")
    notes.extend(perfused.flags)
    return MaaVois(
        liver=liver,
        lungs=lungs if lungs.any() else None,
        source="automatic: liver = the perfused liver of the MAA SPECT "
        "(sstrkit.sirt.perfused_liver), lungs by sstrkit.sirt.plan_vois.lungs_from_ct",
        automatic_organs=True,
        notes=(perfused.note, "liver and lung VOIs made automatically: check them"),
    )


def _baseline_tumours(
    study: Study, spect: Volume, ct: Volume, vois: MaaVois, say: Progress, notes: list[str]
) -> MaaVois | None:
    """The baseline PET/CT liver lesions registered onto the MAA CT (whole, lungs excluded);
    the liver VOI is then the liver with them."""
    from sstrkit.pipeline.sirt_vois import baseline_lesions

    base = baseline_lesions(study, ct, say, notes)
    if base is None:
        return None
    arr = _on_spect(base.labels, spect)
    liver = np.asarray(vois.liver, dtype=bool).copy()
    if base.liver_lesions is not None:
        chosen = {v: n for v, n in base.names.items() if v in base.liver_lesions}
    else:  # no liver on the baseline map: the lesions reaching the liver VOI
        from scipy import ndimage

        near = ndimage.binary_dilation(liver)
        chosen = {v: n for v, n in base.names.items() if (near & (arr == v)).any()}
    keep = np.ones_like(liver) if vois.lungs is None else ~np.asarray(vois.lungs, dtype=bool)
    tumours = {n: (arr == v) & keep for v, n in sorted(chosen.items())}
    tumours = {n: m for n, m in tumours.items() if m.any()}
    if not tumours:
        notes.append(f"{base.source}: no liver lesion on the MAA SPECT; tumours by threshold")
        return None
    for m in tumours.values():
        liver |= m
    return MaaVois(
        liver=liver,
        lungs=vois.lungs,
        tumours=tumours,
        source=f"{vois.source}; tumours: {base.source}",
        automatic_organs=vois.automatic_organs,
        automatic_tumours=True,
        notes=(
            *vois.notes,
            *notes,
            f"tumours: {base.source}, {len(tumours)} liver lesions: check them",
        ),
    )


def _with_tumours(
    vois: MaaVois, spect: Volume, study: Study, ct: Volume | None, say: Progress
) -> MaaVois:
    """Tumours when none are given: the baseline lesions, else the threshold."""
    if vois.tumours:
        return vois
    notes: list[str] = []
    if ct is not None:
        found = _baseline_tumours(study, spect, ct, vois, say, notes)
        if found is not None:
            return found
    from sstrkit.sirt.plan_uptake import threshold_tumours

    seg = threshold_tumours(spect, vois.liver, exclude=vois.lungs)
    liver = np.asarray(vois.liver, dtype=bool).copy()
    for m in seg.masks.values():
        liver |= m
    return MaaVois(
        liver=liver,
        lungs=vois.lungs,
        tumours=dict(seg.masks),
        source=f"{vois.source}; tumours: {seg.method}",
        automatic_organs=vois.automatic_organs,
        automatic_tumours=True,
        notes=(*vois.notes, *notes, *seg.flags),
    )


# ------------------------------------------------------------------ SPECT resolution
def _maa_resolution(
    study: Study, entry: EmissionEntry, given: float | None, notes: list[str]
) -> dict[str, Any]:
    """``spect_fwhm_mm`` / ``_source`` / ``_note`` of the MAA SPECT (module docstring)."""
    if given is not None:
        from sstrkit.sirt.plan_tn_pvc import check_fwhm_mm

        return {"spect_fwhm_mm": check_fwhm_mm(given), "spect_fwhm_source": "--spect-fwhm-mm"}
    if entry.fwhm_mm is not None:
        return {
            "spect_fwhm_mm": float(entry.fwhm_mm),
            "spect_fwhm_source": entry.fwhm_source or "manifest fwhm_mm",
        }
    from sstrkit.io.spect_resolution import estimate_series_fwhm

    est = estimate_series_fwhm(
        study.path(entry.path), entry.series_uid or None, nuclide=entry.nuclide
    )
    if est.fwhm_mm is None:
        return {"spect_fwhm_note": f"no header estimate ({est.method}): {est.flag}".strip()}
    notes.append(f"spect_resolution_estimated (MAA SPECT): {est.flag}")
    return {
        "spect_fwhm_mm": float(est.fwhm_mm),
        "spect_fwhm_source": est.source,
    }


# ------------------------------------------------------------------ clinical record
def _clinical(study: Study, maa_time: _dt.datetime | None, out: dict[str, Any]) -> None:
    from sstrkit.core.body import bsa_du_bois

    patient = study.patient()
    weight, height = patient.get("weight_kg"), patient.get("height_cm")
    if weight is not None and height is not None:
        out["bsa_m2"] = bsa_du_bois(float(weight), float(height))
    out["sex"] = patient.get("sex")
    record = study.clinical_record
    if record is None:
        return
    prior, planned = [], []
    for r in sorted(record.sirt, key=lambda r: r.time):
        if maa_time is not None and r.time < maa_time:
            prior.append(PriorSirt(r.activity_bq, r.lung_shunt_fraction, r.time.isoformat()))
        else:
            planned.append(r)
    out["prior_sirt"] = tuple(prior)
    if planned:
        out["device"] = planned[0].device
        out["target"] = planned[0].target


# ------------------------------------------------------------------ entry point
def load_maa_inputs(
    study: Study | str | os.PathLike[str],
    *,
    auto_vois: bool = True,
    progress: Progress | None = None,
    spect_fwhm_mm: float | None = None,
) -> MaaInputs:
    """The study's 99mTc-MAA work-up as :class:`~sstrkit.sirt.plan_inputs.MaaInputs`
    (module docstring). ``auto_vois=False`` reads without automatic VOIs;
    ``spect_fwhm_mm`` (the MAA SPECT's resolution, mm) wins over the manifest's and the
    header estimate."""
    s = _study(study)
    say = progress or (lambda _m: None)
    series = s.model.series
    if not series.maa_planar and not series.maa_spect:
        raise InvalidInputError(
            "99mTc-MAA study",
            expected="series.maa_planar or series.maa_spect in the manifest",
            actual="neither",
            fix="add the MAA planar and/or SPECT/CT series to manifest.json (docs/sirt.md)",
        )
    notes: list[str] = []
    out: dict[str, Any] = {}
    inputs: dict[str, Any] = {"study": str(s.root)}
    maa_time = None
    planar_entry = _first(list(series.maa_planar), "maa_planar", notes)
    if planar_entry is not None:
        from sstrkit.io.planar import read_planar_wholebody

        say("reading the MAA planar views…")
        out["planar"] = read_planar_wholebody(
            s.path(planar_entry.path),
            series_uid=planar_entry.series_uid,
            injected_activity_bq=planar_entry.injected_activity_bq,
            injection_time=planar_entry.injection_time,
        )
        inputs["maa_planar"] = planar_entry.series_uid
        maa_time = planar_entry.injection_time
    spect_entry = _first(list(series.maa_spect), "maa_spect", notes)
    if spect_entry is not None:
        say("reading the MAA SPECT/CT…")
        spect = read_emission(
            s,
            spect_entry,
            calibration_cps_per_mbq=spect_entry.calibration_cps_per_mbq,
            notes=notes,
        )
        out["spect"] = spect
        out.update(_maa_resolution(s, spect_entry, spect_fwhm_mm, notes))
        inputs["maa_spect"] = spect_entry.series_uid
        maa_time = maa_time or spect_entry.injection_time
        ct_entry = _ct_of(s, spect_entry, notes)
        ct = None
        if ct_entry is not None:
            ct = s.read(s.path(ct_entry.path), ct_entry.series_uid)
            inputs["maa_spect_ct"] = ct_entry.series_uid
            ct_on = ct.with_metadata(
                operation="assign_frame_of_reference",
                frame_of_reference_uid=spect.frame_of_reference_uid,
            )
            out["ct_hu"] = ct_on.resample_to(spect, mode="linear", default_value=-1000.0)
        vois = _segmentation_vois(s, spect, ct_entry, notes)
        if vois is None and auto_vois and ct is not None:
            vois = _automatic_organs(s, spect, ct, notes, say)
        if vois is not None and auto_vois:
            vois = _with_tumours(vois, spect, s, ct, say)
        out["vois"] = vois
    elif spect_fwhm_mm is not None:
        notes.append("a MAA SPECT resolution was given but there is no MAA SPECT: not used")
    _clinical(s, maa_time, out)
    return MaaInputs(notes=tuple(notes), inputs=inputs, **out)
