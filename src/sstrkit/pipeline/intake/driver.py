"""The :func:`intake_study` driver: the intake steps in order, from arguments to manifest.

:func:`intake_study` checks its arguments (:func:`_check_inputs`), finds the series
(:func:`_find_series`), then runs the steps of the other modules of
:mod:`sstrkit.pipeline.intake` in order: candidates and overrides, administrations from
the clinical data, therapy cycles, the SSTR/FDG PET, the SSTR scintigraphy (planar
whole-body time points and 111In/99mTc SPECT), the SIRT series (99mTc-MAA, 90Y), CT
pairing, the DICOM SEG, notes on unused series, paths, and finally the manifest, the copied
segmentation and clinical data, and the review table. Nothing is written before every check
of the series passed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sstrkit.core.atomic import write_json_atomic
from sstrkit.errors import InvalidInputError
from sstrkit.io.discover import Discovery, discover
from sstrkit.pipeline.intake.assembly import (
    IntakeResult,
    _intake_section,
    _review_rows,
    _series_doc,
    _validate,
)
from sstrkit.pipeline.intake.clinical import (
    _Admin,
    _apply_clinical,
    _clinical_admins,
    _load_json,
    _patient,
)
from sstrkit.pipeline.intake.cycles import _assign_cycles
from sstrkit.pipeline.intake.roles import (
    _assign_candidates,
    _choose_pets,
    _note_unused,
    _pair_cts,
    _parse_roles,
    _require_roles,
)
from sstrkit.pipeline.intake.scintigraphy import _choose_scintigraphy
from sstrkit.pipeline.intake.segmentation import (
    _choose_dicom_seg,
    _copy,
    _segmentation_input,
    _write_dicom_seg,
    _write_label_map,
)
from sstrkit.pipeline.intake.series import _analyse, _owners, _Series, _set_path
from sstrkit.pipeline.intake.sirt import _choose_sirt


@dataclass(frozen=True)
class _Inputs:
    """The checked arguments of :func:`intake_study`: resolved paths, files read."""

    root: Path
    out_dir: Path
    seg_path: Path | None
    #: The DICOM SEG file when ``segmentation`` is one.
    seg_dicom: Path | None
    #: Label value → name of a NIfTI label map.
    names: dict[int, str] | None
    clinical_path: Path | None
    clinical_doc: Any
    admins: list[_Admin]


def _check_inputs(
    dicom_dir: str | Path,
    out: str | Path,
    segmentation: str | Path | None,
    label_names: str | Path | Mapping[str, Any] | None,
    clinical: str | Path | None,
    spect_fwhm_mm: float | None,
) -> _Inputs:
    """Check the arguments of :func:`intake_study`; read the label names and clinical data."""
    root = Path(dicom_dir).expanduser()
    if not root.is_dir():
        raise InvalidInputError(
            "DICOM folder",
            expected="an existing folder (the PACS export)",
            actual=str(root),
            fix="pass the folder holding the study's DICOM files",
        )
    root = root.resolve()
    if spect_fwhm_mm is not None and not (math.isfinite(spect_fwhm_mm) and spect_fwhm_mm > 0):
        raise InvalidInputError(
            "--spect-fwhm-mm", expected="a resolution > 0 mm (e.g. 11)", actual=spect_fwhm_mm
        )
    out_dir = Path(out).expanduser().resolve()
    seg_path, seg_dicom, names = _segmentation_input(segmentation, label_names)
    clinical_path = Path(clinical).expanduser().resolve() if clinical is not None else None
    clinical_doc: Any = None
    admins: list[_Admin] = []
    if clinical_path is not None:
        clinical_doc = _load_json(clinical_path, "--clinical")
        admins = _clinical_admins(clinical_doc, clinical_path.name)
    return _Inputs(root, out_dir, seg_path, seg_dicom, names, clinical_path, clinical_doc, admins)


def _find_series(root: Path, step: Callable[[str], None]) -> Discovery:
    """Every DICOM series under ``root`` (:func:`sstrkit.io.discover.discover`)."""

    def scanned(n: int) -> None:
        if n % 200 == 0:
            step(f"reading DICOM headers ({n} files)")

    step("reading DICOM headers")
    found = discover(root, progress=scanned)
    if not found.series:
        raise InvalidInputError(
            "DICOM folder",
            expected="DICOM series (PET, SPECT, CT) anywhere below the folder",
            actual=f"no DICOM series in {root}"
            + (f" ({len(found.unreadable)} unreadable DICOM files)" if found.unreadable else ""),
            fix="point to the folder of the PACS export",
        )
    return found


def _discovery_notes(found: Discovery, series: Sequence[_Series]) -> list[str]:
    """Notes on what the scan found: DICOMDIRs, unreadable files, files exported twice,
    series without a time zone (labelled UTC, or taking the administration's offset)."""
    notes: list[str] = []
    if found.media_directories:
        notes.append(
            f"{len(found.media_directories)} DICOMDIR file(s) skipped (series are found by "
            "content): " + ", ".join(str(p) for p in found.media_directories)
        )
    if found.unreadable:
        notes.append(
            f"{len(found.unreadable)} DICOM file(s) could not be read and are not used, e.g. "
            f"{found.unreadable[0][0]} ({found.unreadable[0][1]})"
        )
    for s in series:
        if s.duplicates:
            notes.append(
                f"{s.label}: {s.duplicates} file(s) are second copies of the same images "
                "(same SOPInstanceUID); the first copy of each is used"
            )
    zoneless = [s for s in series if s.kind != "other" and s.zone_source == "UTC"]
    if zoneless:
        notes.append(
            f"{len(zoneless)} series have no TimezoneOffsetFromUTC (0008,0201): their times are "
            "labelled UTC (the io layer's rule); hours after injection are differences on one "
            "clock and not affected. Correct the offsets in the manifest if absolute times matter"
        )
    borrowed = [s for s in series if s.zone_source.startswith("Radiopharmaceutical")]
    if borrowed:
        notes.append(
            f"{len(borrowed)} series have no TimezoneOffsetFromUTC but an offset in "
            "RadiopharmaceuticalStartDateTime: that offset is used for their scan times so that "
            "hours after injection are on one clock"
        )
    return notes


def intake_study(
    dicom_dir: str | Path,
    out: str | Path,
    *,
    segmentation: str | Path | None = None,
    label_names: str | Path | dict[str, Any] | None = None,
    clinical: str | Path | None = None,
    roles: Mapping[str, str] | None = None,
    spect_fwhm_mm: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> IntakeResult:
    """Write ``out/manifest.json`` (version 2) from the DICOM series under ``dicom_dir``.

    Parameters
    ----------
    dicom_dir
        Folder tree of the PACS export (any layout; DICOMDIR files are skipped).
    out
        Study folder to create: ``manifest.json``, ``clinical.json`` (a copy of
        ``clinical``) and ``segmentation/`` (copies of the label map and names).
        DICOM paths in the manifest are absolute; the DICOM stays where it is.
    segmentation, label_names
        Organ/lesion label map (NIfTI) and its names (``{"1": "liver"}`` or
        ``{"liver": 1}``, a file or a mapping; default: the NIfTI sidecar's ``labels``),
        or a DICOM SEG (file or folder; default names: its segment labels). Without it, a
        SEG series of the export that references the SSTR PET/CT or a SPECT/CT (or shares
        its frame of reference) becomes the study segmentation (``docs/segmentation.md``).
    clinical
        ``clinical.json`` with administrations and labs; administrations fill
        administration times/activities missing from the headers.
    roles
        Overrides ``{series_uid: role}``, role one of :data:`~sstrkit.pipeline.intake.ROLES`.
    spect_fwhm_mm
        Reconstructed SPECT resolution (FWHM, mm; e.g. from the department's sphere
        phantom measurement). DICOM does not carry it; without it no partial-volume
        correction is applied and the run flags it.
    progress
        Called with a short message per step.
    """
    step = progress or (lambda _m: None)
    given = _check_inputs(dicom_dir, out, segmentation, label_names, clinical, spect_fwhm_mm)
    found = _find_series(given.root, step)
    step("assigning roles")
    series = [_analyse(info) for info in found.series]
    overrides = _parse_roles(roles, series)
    _assign_candidates(series, overrides)
    notes = _discovery_notes(found, series)
    _apply_clinical(series, given.admins, notes)
    first_therapy = _assign_cycles(series, given.admins, notes)
    chosen = _choose_pets(series, overrides, first_therapy, notes)
    scintigraphy = _choose_scintigraphy(series, overrides, first_therapy, notes)
    sirt = _choose_sirt(series, overrides, notes)
    _require_roles(series)
    step("pairing CTs")
    sel = _pair_cts(series, overrides, chosen, notes, scintigraphy, sirt)
    seg_use, used_seg = _choose_dicom_seg(series, given.seg_path, given.seg_dicom, sel)
    _note_unused(series, overrides, sel.used_cts, notes)
    owners = _owners(found, series, given.root)
    for s in series:
        _set_path(s, owners)

    step("writing the study")
    series_doc = _series_doc(sel, spect_fwhm_mm, notes)
    used = [x for x in (chosen["pet"], chosen["fdg"]) if x is not None] + sel.spects
    used += sel.sstr_spects + sel.planars + [s for g in sel.sirt.values() for s in g]
    patient, patient_notes = _patient(used, series, given.clinical_doc)
    notes.extend(patient_notes)
    manifest: dict[str, Any] = {
        "format": "sstrkit-study",
        "version": 2,
        "patient": patient,
        "series": series_doc,
    }
    out_dir = given.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    if given.seg_path is not None and given.names is not None:
        step("matching the label map to the series grids")
        manifest["segmentation"] = _write_label_map(
            given.seg_path, given.names, sel, out_dir, notes
        )
    if seg_use is not None:
        step("converting the DICOM SEG")
        manifest["segmentation"] = _write_dicom_seg(seg_use, label_names, out_dir, notes)
    if given.clinical_path is not None:
        _copy(given.clinical_path, out_dir / "clinical.json")
        manifest["clinical"] = "clinical.json"
    ignored = [
        s for s in series if s.role is None and id(s) not in sel.used_cts and s is not used_seg
    ]
    manifest["intake"] = _intake_section(given.root, notes, overrides, ignored)
    _validate(manifest, out_dir)
    manifest_path = write_json_atomic(out_dir / "manifest.json", manifest)
    return IntakeResult(manifest, manifest_path, _review_rows(sel, used_seg, ignored), tuple(notes))
