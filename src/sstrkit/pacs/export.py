"""A run's results as standard DICOM objects for the PACS (what ``pacs send`` sends).

:func:`export_results` reads a finished run folder (:class:`~sstrkit.pacs.run_folder.RunFolder`)
and returns the objects, each linked to the patient and study of the images it
was made from:

=====================  =======================================  ==========================
object                 made from                                study / frame of reference
=====================  =======================================  ==========================
RTDOSE per cycle       ``OUT/dose/rtdose_cycleN.dcm`` (the run)  the cycle's SPECT/CT
derived SUVbw series   ``OUT/reading/suv_dicom`` (the run)       the SSTR PET/CT
lesion RTSTRUCT        ``OUT/reading/lesions_rtstruct.dcm``      the SSTR PET/CT
lesion SEG             reading lesions (:mod:`.segments`)         the SSTR PET/CT
VOI SEG per cycle      dosimetry VOIs (:mod:`.segments`)          the cycle's SPECT/CT
TID 1500 SR            results.json (:mod:`.sr`)                  the latest cycle's SPECT/CT
Encapsulated PDF       ``OUT/report/index.html`` (:mod:`.pdf`)    the latest cycle's SPECT/CT
=====================  =======================================  ==========================

(the latest cycle's SPECT/CT, or the SSTR PET/CT for a run without therapy SPECT).
Objects the run wrote are checked, not rewritten: an RTDOSE whose patient, study or
frame of reference differs from its cycle's SPECT is left out with a note. New
objects go into ``OUT/pacs/`` (atomically) with UIDs fixed by the run
(:meth:`RunFolder.uid`), and ``OUT/pacs/export.json`` lists everything.
What a run did not produce (no lesions, a skipped stage) is left out with a note.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset

from sstrkit.core.atomic import atomic_path, write_json_atomic
from sstrkit.core.provenance import Step
from sstrkit.errors import SstrkitError
from sstrkit.io.nifti import read_nifti
from sstrkit.pacs.run_folder import RunFolder
from sstrkit.pacs.segments import lesion_seg, voi_seg
from sstrkit.pacs.sr import measurement_report

__all__ = ["ExportResult", "ExportedObject", "export_results"]


@dataclass(frozen=True)
class ExportedObject:
    """One DICOM instance to send."""

    kind: str
    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    study_uid: str
    series_uid: str
    patient_id: str
    cycle: int | None = None

    @classmethod
    def of(cls, kind: str, path: Path, ds: Dataset, cycle: int | None = None) -> ExportedObject:
        """The record of ``ds`` stored at ``path``."""
        return cls(
            kind,
            path,
            str(ds.SOPClassUID),
            str(ds.SOPInstanceUID),
            str(ds.StudyInstanceUID),
            str(ds.SeriesInstanceUID),
            str(ds.get("PatientID", "")),
            cycle,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {**self.__dict__, "path": str(self.path)}


@dataclass(frozen=True)
class ExportResult:
    """Everything :func:`export_results` made or found, and what it left out."""

    out: Path
    objects: tuple[ExportedObject, ...]
    notes: tuple[str, ...] = ()
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``OUT/pacs/export.json``)."""
        kinds: dict[str, int] = {}
        for o in self.objects:
            kinds[o.kind] = kinds.get(o.kind, 0) + 1
        return {
            "out": str(self.out),
            "counts": kinds,
            "objects": [o.to_dict() for o in self.objects],
            "notes": list(self.notes),
            "provenance": self.provenance,
        }


def _save(ds: Dataset, path: Path) -> Path:
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return path


class _Export:
    """The state of one export: run, destination, objects and notes."""

    def __init__(self, run: RunFolder, dest: Path) -> None:
        self.run, self.dest = run, dest
        self.objects: list[ExportedObject] = []
        self.notes: list[str] = []
        self.lesions: tuple[Dataset, dict[str, int]] | None = None
        self.vois: dict[int, tuple[Dataset, dict[str, int]]] = {}

    def existing(self, kind: str, path: Path | None, cycle: int | None = None) -> Dataset | None:
        if path is None:
            return None
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        self.objects.append(ExportedObject.of(kind, path, ds, cycle))
        return ds

    def written(self, kind: str, ds: Dataset, name: str, cycle: int | None = None) -> None:
        path = _save(ds, self.dest / name)
        self.objects.append(ExportedObject.of(kind, path, ds, cycle))

    # ---------------------------------------------------------------- objects
    def rtdose(self) -> None:
        voxel = (self.run.stages.get("dosimetry") or {}).get("voxel") or {}
        for key in sorted(voxel, key=int):
            cycle = int(key)
            path = self.run.file(voxel[key].get("rtdose"), "dose", f"rtdose_cycle{cycle}.dcm")
            if path is None:
                self.notes.append(f"cycle {cycle}: no RTDOSE (the run wrote none)")
                continue
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            spect = self.run.spect_header(cycle, str(ds.get("FrameOfReferenceUID", "")))
            differ = [
                k
                for k in ("PatientID", "StudyInstanceUID", "FrameOfReferenceUID")
                if str(ds.get(k, "")) != str(spect.get(k, ""))
            ]
            if differ:
                self.notes.append(
                    f"cycle {cycle}: RTDOSE left out, its {', '.join(differ)} "
                    "differ from the cycle's SPECT"
                )
                continue
            self.existing("rtdose", path, cycle)

    def reading_objects(self) -> None:
        files = self.run.results.get("files") or {}
        suv_dir = self.run.file(files.get("suv_dicom"), "reading", "suv_dicom")
        if suv_dir is None:
            self.notes.append("no derived SUV series (the reading stage wrote none)")
        else:
            for f in sorted(suv_dir.glob("*.dcm")):
                self.existing("suv", f)
        rtss = self.run.file(files.get("lesions_rtstruct"), "reading", "lesions_rtstruct.dcm")
        if rtss is not None:
            self.existing("rtstruct", rtss)
        pet = self.run.series_entry("pet")
        lesions_nii = self.run.file(files.get("lesions_nifti"), "reading", "lesions.nii.gz")
        ids = [int(x["id"]) for x in (self.run.stages.get("reading") or {}).get("lesions") or []]
        if pet is None or lesions_nii is None or not ids:
            self.notes.append("no lesion SEG (no SSTR PET lesions in the run)")
            return
        made = lesion_seg(
            read_nifti(lesions_nii),
            ids,
            self.run.headers(pet),
            uids=(self.run.uid("lesion-seg-series"), self.run.uid("lesion-seg")),
        )
        if made is not None:
            self.lesions = made
            self.written("seg_lesions", made[0], "lesions_seg.dcm")

    def voi_segs(self) -> None:
        dosimetry = self.run.stages.get("dosimetry") or {}
        regions = (dosimetry.get("regions") or {}).get("regions") or {}
        for key, rec in sorted((dosimetry.get("voxel") or {}).items(), key=lambda kv: int(kv[0])):
            cycle = int(key)
            path = self.run.file(rec.get("voi_nifti"), "dose", f"vois_cycle{cycle}.nii.gz")
            if path is None or not regions:
                self.notes.append(f"cycle {cycle}: no VOI SEG (no VOIs recorded)")
                continue
            vois = read_nifti(path)
            for_uid = vois.frame_of_reference_uid or str(
                self.run.spect_header(cycle).get("FrameOfReferenceUID", "")
            )
            ct = self.run.spect_ct_headers(cycle, for_uid)
            made = voi_seg(
                vois,
                regions,
                ct,
                cycle=cycle,
                series_number=910 + cycle,
                uids=(self.run.uid(f"voi-seg-series-{cycle}"), self.run.uid(f"voi-seg-{cycle}")),
            )
            if made is not None:
                self.vois[cycle] = made
                self.written("seg_vois", made[0], f"vois_cycle{cycle}_seg.dcm", cycle)

    def report_sr(self) -> None:
        from sstrkit.pacs.sr_values import lesion_values, region_values

        lesions = lesion_values(self.run, self.lesions)
        regions = region_values(self.run, self.vois, self.notes)
        evidence = [seg for seg, _ in self.vois.values()]
        if self.lesions is not None:
            evidence.append(self.lesions[0])
        if not evidence:
            self.notes.append("no SR (neither lesions nor dosimetry VOIs to report)")
            return
        study = str(self.run.report_source().StudyInstanceUID)
        evidence.sort(key=lambda ds: str(ds.StudyInstanceUID) != study)
        sr = measurement_report(
            lesions, regions, evidence, uids=(self.run.uid("sr-series"), self.run.uid("sr"))
        )
        self.written("sr", sr, "report_sr.dcm")

    def report_pdf(self) -> None:
        from sstrkit.pacs.pdf import encapsulated_pdf, render_pdf

        files = self.run.results.get("files") or {}
        html = self.run.file(files.get("report"), "report", "index.html")
        if html is None:
            self.notes.append("no PDF (the run wrote no HTML report)")
            return
        doc = encapsulated_pdf(
            render_pdf(html),
            self.run.report_source(),
            uids=(self.run.uid("pdf-series"), self.run.uid("pdf")),
        )
        self.written("pdf", doc, "report_pdf.dcm")


def export_results(
    out: str | os.PathLike[str],
    *,
    dest: str | os.PathLike[str] | None = None,
    pdf: bool = True,
) -> ExportResult:
    """The run folder ``out`` as DICOM objects (module docstring); new files in ``dest``
    (default ``OUT/pacs``). ``pdf=False`` leaves the report PDF out."""
    run = RunFolder(out)
    job = _Export(run, Path(dest) if dest is not None else run.out / "pacs")
    job.rtdose()
    job.reading_objects()
    job.voi_segs()
    job.report_sr()
    if pdf:
        try:
            job.report_pdf()
        except (SstrkitError, OSError) as exc:
            job.notes.append(f"no PDF: {exc}")
    step = Step.make(
        "pacs_export",
        {"pdf": pdf},
        inputs=(str(run.out / "results.json"),),
        sources=(
            "DICOM PS3.3 (RT Dose, Segmentation, Encapsulated PDF IODs)",
            "DICOM PS3.16 TID 1500 Measurement Report",
        ),
    )
    result = ExportResult(run.out, tuple(job.objects), tuple(job.notes), step.to_dict())
    write_json_atomic(job.dest / "export.json", result.to_dict())
    return result
