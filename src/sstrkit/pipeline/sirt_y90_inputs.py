"""The post-implant 90Y dosimetry inputs of a study folder, handed to :mod:`sstrkit.sirt`.

:func:`load_y90_inputs` reads, from a :class:`~sstrkit.pipeline.study.Study`:

* the **90Y scan**: manifest ``series.y90_pet`` (PET, Bq/mL) or, without one,
  ``series.y90_spect`` (bremsstrahlung SPECT with ``calibration_cps_per_mbq``), and its CT
  (``y90_pet_ct`` / ``y90_spect_ct`` with the same frame of reference); the nuclide the
  DICOM header names (must be Y-90), its decay-correction reference (DecayCorrection
  0054,1102), for a SPECT in counts the acquisition duration (ActualFrameDuration ×
  NumberOfFramesInRotation, or the entry's ``acquisition_duration_s``);
* the **implant**: the clinical record (``clinical.json`` ``sirt``: the treatment before
  the scan) for the net implanted activity and time, else the manifest entry's
  ``injected_activity_bq`` and ``injection_time``; copies differing by more than 5 % (or
  1 h) are flagged;
* the **VOIs** (:class:`~sstrkit.sirt.dose_vois.Y90Vois`), first found of: the study's label
  map for the 90Y scan (manifest segmentation key ``"y90"``, on the 90Y CT grid); the
  digital patient's truth contours (``truth/sirt.json`` ``labels.y90``); automatic liver
  and lungs on the 90Y CT with tumours from ``tumour_labels``, from the baseline SSTR
  PET/CT lesions registered CT-to-CT (:func:`sstrkit.pipeline.sirt_vois.baseline_lesions`,
  the tumour definition the MAA plan uses too: the baseline map's liver lesions, whole,
  lungs excluded, the liver VOI holding them), or by threshold
  (:func:`~sstrkit.sirt.dose_vois.automatic_vois`);
* the digital patient's true mean doses (``truth/sirt.json`` ``y90``).

:func:`study_y90_dosimetry` runs :func:`~sstrkit.sirt.y90_dose.y90_dosimetry` on them;
:func:`read_prrt_liver_cycles` reads the PRRT liver doses of a run folder or
``results.json`` for the combined liver BED (:mod:`sstrkit.sirt.liver_bed`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.pipeline.administrations import ACTIVITY_TOLERANCE
from sstrkit.pipeline.manifest import CtEntry, SirtRecord, Y90Entry
from sstrkit.sirt.dose_vois import TUMOUR_LABEL_OFFSET, Y90Vois, automatic_vois
from sstrkit.sirt.y90_dose import Y90Image, Y90Kind, check_y90, y90_dosimetry

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from sstrkit.pipeline.study import Study
    from sstrkit.sirt.dose_results import Y90Dosimetry
    from sstrkit.sirt.liver_bed import PrrtLiverCycle

__all__ = [
    "Y90Inputs",
    "load_y90_inputs",
    "read_prrt_liver_cycles",
    "study_y90_dosimetry",
    "write_y90_maps",
    "y90_truth",
]

KindChoice = Literal["auto", "pet", "spect"]
_ONE_HOUR_S = 3600.0


@dataclass(frozen=True)
class Y90Inputs:
    """What the post-implant dosimetry of a study needs, read from its folder."""

    scan: Y90Image
    vois: Y90Vois
    header: Dataset | None = field(default=None, repr=False)
    sirt: SirtRecord | None = None
    truth_gy: Mapping[str, float] = field(default_factory=dict)
    inputs: Mapping[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------ series
def _entry(study: Study, kind: KindChoice, index: int) -> tuple[Y90Entry, Y90Kind]:
    series = study.model.series
    if kind == "auto":
        kind = "pet" if series.y90_pet else "spect"
    entries = series.y90_pet if kind == "pet" else series.y90_spect
    if not entries:
        raise InvalidInputError(
            f"post-implant 90Y {'PET' if kind == 'pet' else 'SPECT'}",
            expected=f"manifest series.y90_{kind} (a 90Y scan after the implant)",
            actual="none in the study",
            fix="add the post-implant 90Y PET/CT (series.y90_pet, y90_pet_ct) or "
            "bremsstrahlung SPECT/CT (series.y90_spect, y90_spect_ct) to the manifest",
        )
    if not -len(entries) <= index < len(entries):
        raise InvalidInputError("90Y scan index", expected=f"0..{len(entries) - 1}", actual=index)
    return entries[index], kind


def _ct_entry(study: Study, entry: Y90Entry, kind: Y90Kind) -> CtEntry | None:
    cts = study.model.series.y90_pet_ct if kind == "pet" else study.model.series.y90_spect_ct
    if entry.frame_of_reference_uid:
        same = [c for c in cts if c.frame_of_reference_uid == entry.frame_of_reference_uid]
        if same:
            return same[0]
    return cts[0] if len(cts) == 1 and not cts[0].frame_of_reference_uid else None


def _header_nuclide(ds: Dataset) -> str | None:
    """The nuclide the header names (code sequence, then radionuclide/radiopharmaceutical)."""
    from sstrkit.io.suv_nuclide import (
        nuclide_from_code_meaning,
        nuclide_from_radiopharmaceutical,
    )

    seq = ds.get("RadiopharmaceuticalInformationSequence")
    item = seq[0] if seq else None
    if item is None:
        return None
    codes = item.get("RadionuclideCodeSequence")
    if codes:
        found = nuclide_from_code_meaning(str(codes[0].get("CodeMeaning") or ""))
        if found:
            return found
    for keyword in ("Radionuclide", "Radiopharmaceutical"):
        text = str(item.get(keyword) or "")
        found = nuclide_from_radiopharmaceutical(text) if text else None
        if found:
            return found
    return None


def _acquisition_duration_s(ds: Dataset, entry: Y90Entry) -> float | None:
    extra = (entry.model_extra or {}).get("acquisition_duration_s")
    if extra is not None:
        return float(extra)
    rot = ds.get("RotationInformationSequence")
    item = rot[0] if rot else ds
    frame_ms = item.get("ActualFrameDuration")
    n = item.get("NumberOfFramesInRotation")
    if frame_ms is None or n is None:
        return None
    return float(frame_ms) / 1000.0 * int(n)


def _implant(
    study: Study, entry: Y90Entry, notes: list[str]
) -> tuple[Any, float, SirtRecord | None]:
    """Implant time and net activity: the clinical record before the scan, else the entry."""
    rec = study.clinical_record
    records = [r for r in (rec.sirt if rec else []) if r.time <= entry.time]
    sirt = max(records, key=lambda r: r.time) if records else None
    if sirt is None:
        notes.append(
            "implanted activity and time from the manifest entry (no clinical.json 'sirt' "
            "record before the scan)"
        )
        return entry.injection_time, float(entry.injected_activity_bq), None
    rel = abs(sirt.activity_bq / entry.injected_activity_bq - 1.0)
    if rel > ACTIVITY_TOLERANCE:
        notes.append(
            f"implanted activity: clinical record {sirt.activity_bq / 1e6:.0f} MBq used; the "
            f"90Y series says {entry.injected_activity_bq / 1e6:.0f} MBq ({100 * rel:.0f} % apart)"
        )
    if abs((sirt.time - entry.injection_time).total_seconds()) > _ONE_HOUR_S:
        notes.append(
            f"implant time: clinical record {sirt.time.isoformat()} used; the 90Y series says "
            f"{entry.injection_time.isoformat()}"
        )
    return sirt.time, float(sirt.activity_bq), sirt


def _decay_reference(ds: Dataset, kind: Y90Kind, notes: list[str]) -> Any:
    dc = str(ds.get("DecayCorrection") or "").strip().upper()
    if dc in ("START", "ADMIN", "NONE"):
        return dc
    if kind == "pet":
        notes.append(
            f"DecayCorrection (0054,1102) {dc or 'absent'}: taken as START (activity at the scan)"
        )
        return "START"
    return "NONE"


@dataclass(frozen=True)
class _Read:
    scan: Y90Image
    header: Dataset
    ct_entry: CtEntry | None
    entry: Y90Entry
    sirt: SirtRecord | None


def _read_scan(study: Study, kind: KindChoice, index: int) -> _Read:
    from sstrkit.io.dicom_read import read_series

    entry, k = _entry(study, kind, index)
    check_y90(entry.nuclide, f"manifest series.y90_{k}[{index}]")
    path = study.path(entry.path)
    series = read_series(path, series_uid=entry.series_uid if path.is_dir() else None)
    ds = series.header
    notes = [f"90Y image: {w}" for w in series.warnings]
    nuclide = _header_nuclide(ds)
    if nuclide is None:
        notes.append("the DICOM header names no radionuclide: Y-90 taken from the manifest")
    ct_entry = _ct_entry(study, entry, k)
    ct = study.read(study.path(ct_entry.path), ct_entry.series_uid) if ct_entry else None
    implant_time, activity, sirt = _implant(study, entry, notes)
    scan = Y90Image(
        image=series.volume.with_metadata(operation="name", name=f"90Y {k.upper()}"),
        ct=ct,
        kind=k,
        implant_time=implant_time,
        scan_time=entry.time,
        implanted_activity_bq=activity,
        decay_reference=_decay_reference(ds, k, notes),
        nuclide=nuclide,
        calibration_cps_per_mbq=entry.calibration_cps_per_mbq,
        acquisition_duration_s=_acquisition_duration_s(ds, entry) if k == "spect" else None,
        fwhm_mm=entry.fwhm_mm,
        label=f"y90_{k}[{index}]",
        notes=tuple(notes),
    )
    return _Read(scan, ds, ct_entry, entry, sirt)


# -------------------------------------------------------------------------- truth
def _sirt_truth(study: Study) -> dict[str, Any] | None:
    truth = study.model.truth or {}
    rel = truth.get("sirt") or truth.get("sirt_json") or "truth/sirt.json"
    p = study.path(str(rel))
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(
            "truth/sirt.json", expected="readable JSON", actual=str(exc)
        ) from None
    return data if isinstance(data, dict) else None


def y90_truth(study: Study) -> dict[str, float]:
    """Digital patient: true post-implant mean doses (Gy) by region name ({} otherwise)."""
    y = (_sirt_truth(study) or {}).get("y90") or {}
    out: dict[str, float] = {}
    for key, name in (
        ("tumour_mean_dose_gy", "tumour"),
        ("normal_liver_mean_dose_gy", "normal_liver"),
        ("lung_mean_dose_gy", "lungs"),
    ):
        if y.get(key) is not None:
            out[name] = float(y[key])
    for les in y.get("lesions") or []:
        if les.get("mean_dose_gy") is not None:  # named as in the label names
            out[str(les.get("lesion") or f"lesion_{les['id']}")] = float(les["mean_dose_gy"])
    return out


# --------------------------------------------------------------------------- VOIs
def _names_from(raw: Mapping[str, Any], values: set[int]) -> dict[int, str]:
    names = {int(k): str(v) for k, v in raw.items() if str(k).lstrip("-").isdigit()}
    for v in values:  # the truth names lesions "100+id": unnamed values above 100
        if v not in names and v > TUMOUR_LABEL_OFFSET:
            names[v] = f"lesion_{v - TUMOUR_LABEL_OFFSET}"
    return names


def _segmentation_vois(study: Study, ct: Volume | None) -> Y90Vois | None:
    seg = study.model.segmentation
    rel = seg.labels_nifti.get("y90") if seg is not None else None
    if seg is None or rel is None:
        return None
    from sstrkit.io.masks import dicom_seg_info, find_dicom_seg, read_dicom_seg
    from sstrkit.io.nifti import read_nifti
    from sstrkit.reading.inputs import parse_label_names

    path = study.path(rel)
    seg_file = None if path.name.endswith((".nii", ".nii.gz")) else find_dicom_seg(path)
    if seg_file is not None:
        if ct is None:
            raise InvalidInputError(
                "segmentation.labels_nifti.y90",
                expected="a DICOM SEG with the 90Y CT in the manifest",
                actual="no 90Y CT",
            )
        labels = read_dicom_seg(seg_file, ct, resample_labels=True).labels
    else:
        labels = read_nifti(path)
    if seg.regions:
        names = {v: name for name, vs in seg.regions.items() for v in vs}
    elif seg.label_names:
        raw = json.loads(study.path(seg.label_names).read_text(encoding="utf-8"))
        names = parse_label_names(raw, "segmentation.label_names")
    elif seg_file is not None:
        names = dict(dicom_seg_info(seg_file).names)
    else:
        raise InvalidInputError(
            "segmentation label names",
            expected="a label-names file (value → name) for the 'y90' label map",
            actual="none",
            fix='add segmentation.label_names ({"1": "liver", "2": "lungs", "101": "lesion_1"})',
        )
    return Y90Vois(labels, names, "study segmentation (manifest 'y90' label map)")


def _truth_vois(study: Study) -> Y90Vois | None:
    import numpy as np

    from sstrkit.io.nifti import read_nifti

    labels_doc = (_sirt_truth(study) or {}).get("labels") or {}
    rel = labels_doc.get("y90")
    if not rel or not study.path(rel).is_file():
        return None
    labels = read_nifti(study.path(rel))
    values = {int(v) for v in np.unique(np.asarray(labels.array)) if v > 0}
    names = _names_from(labels_doc.get("names") or {}, values)
    return Y90Vois(
        labels,
        names,
        "digital-patient truth contours (truth/sirt.json labels.y90)",
        notes=("VOIs are the digital patient's true contours",),
    )


def _vois(
    study: Study,
    scan: Y90Image,
    tumour_labels: tuple[Volume, Mapping[int, str]] | None,
    say: Callable[[str], None],
) -> Y90Vois:
    found = _segmentation_vois(study, scan.ct) or _truth_vois(study)
    if found is not None:
        return found
    if scan.ct is None:
        raise InvalidInputError(
            "CT of the 90Y scan",
            expected="a CT for the automatic liver and lungs (or a 'y90' label map)",
            actual="none",
            fix="add series.y90_pet_ct / y90_spect_ct to the manifest",
        )
    given: tuple[Volume, Mapping[int, str], str] | None = None
    hepatic: frozenset[int] | None = None
    notes: list[str] = []
    if tumour_labels is not None:
        given = (tumour_labels[0], tumour_labels[1], "given tumour label map")
    else:  # the MAA plan's tumour definition: the baseline map's liver lesions, whole
        from sstrkit.pipeline.sirt_vois import baseline_lesions

        base = baseline_lesions(study, scan.ct, say, notes)
        if base is not None:
            given, hepatic = (base.labels, base.names, base.source), base.liver_lesions
    vois = automatic_vois(
        scan.ct,
        scan.image,
        tumour_labels=None if given is None else given[0],
        tumour_names=None if given is None else given[1],
        tumour_source="" if given is None else given[2],
        hepatic_values=hepatic,
        progress=say,
    )
    return replace(vois, notes=(*vois.notes, *notes)) if notes else vois


def load_y90_inputs(
    study: Study,
    *,
    kind: KindChoice = "auto",
    index: int = 0,
    tumour_labels: tuple[Volume, Mapping[int, str]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Y90Inputs:
    """Read the post-implant 90Y scan, implant, VOIs and truth of ``study`` (module docstring).

    ``kind``: ``pet``, ``spect`` or ``auto`` (the PET when there is one); ``index``: which
    entry of that role. ``tumour_labels``: a tumour label map and its names for automatic
    VOIs (on the 90Y CT's frame of reference).
    """
    say = progress or (lambda _m: None)
    say("reading the 90Y scan")
    r = _read_scan(study, kind, index)
    vois = _vois(study, r.scan, tumour_labels, say)
    return Y90Inputs(
        scan=r.scan,
        vois=vois,
        header=r.header,
        sirt=r.sirt,
        truth_gy=y90_truth(study),
        inputs={
            "study": str(study.root),
            "y90_series": r.entry.series_uid,
            "ct_series": r.ct_entry.series_uid if r.ct_entry else None,
            "voi_source": vois.source,
        },
    )


def study_y90_dosimetry(
    study_dir: str | os.PathLike[str],
    *,
    method: Literal["ldm", "voxel", "both"] = "both",
    kind: KindChoice = "auto",
    rescale_to_implanted: bool = False,
    smoothing_fwhm_mm: float | None = None,
    predicted_gy: Mapping[str, float] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Y90Dosimetry:
    """Post-implant 90Y dosimetry of a study folder (:func:`load_y90_inputs` + dosimetry)."""
    from sstrkit.pipeline.study import Study

    inp = load_y90_inputs(Study.load(Path(study_dir)), kind=kind, progress=progress)
    return y90_dosimetry(
        inp.scan,
        inp.vois,
        method=method,
        rescale_to_implanted=rescale_to_implanted,
        smoothing_fwhm_mm=smoothing_fwhm_mm,
        predicted_gy=predicted_gy,
        truth_gy=inp.truth_gy,
        inputs=inp.inputs,
        progress=progress,
    )


# --------------------------------------------------------------- PRRT liver doses
def read_prrt_liver_cycles(path: str | os.PathLike[str]) -> tuple[PrrtLiverCycle, ...]:
    """PRRT liver doses per cycle from a run folder (its ``results.json``) or a JSON file."""
    from sstrkit.sirt.liver_bed import prrt_liver_cycles_from_results

    p = Path(path)
    file = p / "results.json" if p.is_dir() else p
    if not file.is_file():
        raise InvalidInputError(
            "--prrt-results",
            expected="a run folder with results.json, or a results JSON file",
            actual=str(p),
            fix="run the PRRT dosimetry first: sstrkit run STUDY --out RUN",
        )
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(str(file), expected="readable JSON", actual=str(exc)) from None
    if not isinstance(doc, dict):
        raise InvalidInputError(str(file), expected="a JSON object", actual=type(doc).__name__)
    return prrt_liver_cycles_from_results(doc)


def write_y90_maps(
    y90: Y90Dosimetry, out: Path, header: Dataset | None, *, activity: bool = False
) -> dict[str, str]:
    """Dose maps of every method (NIfTI) and the primary method's RTDOSE in ``out`` (atomic);
    with ``activity`` also the activity at implant. Name → path of each file written."""
    from sstrkit.io.dicom_write import PatientInfo, StudyInfo, write_rtdose
    from sstrkit.io.nifti import write_nifti

    files: dict[str, str] = {}
    for method, dose in y90.doses.items():
        files[f"dose_{method}_nifti"] = str(write_nifti(dose, out / f"dose_{method}.nii.gz"))
    if activity:
        files["activity_nifti"] = str(write_nifti(y90.activity, out / "activity_at_implant.nii.gz"))
    primary = y90.primary_method
    files["dose_rtdose"] = str(
        write_rtdose(
            y90.doses[primary],
            out / f"dose_{primary}_rtdose.dcm",
            source=header,
            patient=PatientInfo() if header is None else None,
            study=(
                StudyInfo(description="sstrkit SIRT post-implant dosimetry")
                if header is None
                else None
            ),
            series_description=f"sstrkit 90Y post-implant dose ({primary})",
            comment=f"sstrkit SIRT 90Y {primary}",
        )
    )
    return files
