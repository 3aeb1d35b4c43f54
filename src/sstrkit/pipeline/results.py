"""Typed results of the main job's stages (what :func:`sstrkit.pipeline.run.run_study` returns).

Each stage returns a frozen dataclass that holds the library objects it produced
(the :class:`~sstrkit.reading.reader.ReadingResult`, the organ segmentation, the
validated case, the plans, the toxicity report, the dose map of the first cycle…);
``to_dict()`` turns it into the JSON of ``results.json`` at the edge. The report and
the follow-up read these objects, not the JSON.

=====================  ===========================================================
stage                  result
=====================  ===========================================================
``organs``             :class:`OrgansStage` (automatic organ VOIs, when no labels)
``import``             :class:`ImportStage` (series found, administrations)
``reading``            :class:`ReadingStage` (SSTR PET reading, its images)
``dosimetry``          :class:`DosimetryStage` (per cycle: voxel and region doses)
``planning``           :class:`PlanningStage` (plan after cycle 1 and running plan)
``follow-up``          :class:`FollowupStage` (uptake change, CTCAE toxicity, liver, CgA)
``sirt``               :class:`~sstrkit.pipeline.stages.sirt.SirtStage` (90Y microspheres:
                       MAA plan, post-implant dosimetry, combined liver BED; only for a
                       study with SIRT series)
=====================  ===========================================================
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sstrkit import __version__
from sstrkit.core.provenance import jsonable

if TYPE_CHECKING:
    from sstrkit.core.volume import Volume
    from sstrkit.followup.biochemical import CgaResponse
    from sstrkit.followup.toxicity import ToxicityReport
    from sstrkit.io.discover import SeriesInfo
    from sstrkit.organs.model import OrganSegmentation
    from sstrkit.pipeline.intake.assembly import IntakeResult
    from sstrkit.pipeline.manifest import ClinicalRecord, LabRecord, Patient
    from sstrkit.pipeline.regions import RegionMap
    from sstrkit.pipeline.stages.records import CycleTacs, UptakeChange, VoxelCycle
    from sstrkit.pipeline.stages.sirt import SirtStage
    from sstrkit.pipeline.study import Administration, DataFlag
    from sstrkit.reading.eligibility import Labs
    from sstrkit.reading.reader import ReadingResult
    from sstrkit.therapy.case import Case
    from sstrkit.therapy.case_dosimetry import CaseDosimetry, CaseRegionDose
    from sstrkit.therapy.dvh import RegionDVH
    from sstrkit.therapy.planning import PlanResult

__all__ = [
    "BaselineLabs",
    "DosimetryStage",
    "FollowupStage",
    "ImportStage",
    "OrgansStage",
    "PatientUsed",
    "PlanningStage",
    "ReadingStage",
    "RunResult",
    "StageResult",
]


class StageResult(Protocol):
    """What every stage returns: a typed result with its JSON form."""

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class OrgansStage:
    """Automatic organ VOIs of a study without labels (``segment_organs``)."""

    segmentation: OrganSegmentation
    on: str  # which scan, in words
    key: str  # label-source key: "baseline" or "cycle<N>_<h>h"
    labels_path: Path
    labels_json_path: Path
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        doc = {
            **self.segmentation.to_dict(),
            "on": self.on,
            "key": self.key,
            "files": {"labels": str(self.labels_path)},
        }
        doc["notes"] = [*doc["notes"], *self.notes]
        return doc


@dataclass(frozen=True)
class PatientUsed:
    """The patient as the pipeline uses it (``Study.patient()``): each field from the
    first record that has it — case file, clinical record, DICOM headers — named in
    ``sources`` (field -> ``case.json`` / ``clinical.json`` / ``DICOM header``).

    ``sex`` as recorded (``male`` / ``female`` from the clinical record or the headers; a
    legacy case file's own spelling); ``risk_factors``: the renal risk factors as the
    record gives them (a free-form document by design); None: not recorded.
    """

    id: str
    sex: str | None = None
    weight_kg: float | None = None
    height_cm: float | None = None
    age_y: float | None = None
    risk_factors: Mapping[str, Any] | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> PatientUsed:
        """Parse ``Study.patient()`` (or the ``patient_used`` of ``results.json``)."""
        return cls(
            id=str(doc.get("id", "anonymous")),
            sex=doc.get("sex"),
            weight_kg=doc.get("weight_kg"),
            height_cm=doc.get("height_cm"),
            age_y=doc.get("age_y"),
            risk_factors=doc.get("risk_factors"),
            sources=dict(doc.get("sources", {})),
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``patient_used`` of ``results.json``: the fields recorded, then ``sources``."""
        out: dict[str, Any] = {"id": self.id}
        for key in ("sex", "weight_kg", "height_cm", "age_y", "risk_factors"):
            value = getattr(self, key)
            if value is not None:
                out[key] = dict(value) if key == "risk_factors" else value
        out["sources"] = dict(self.sources)
        return out


@dataclass(frozen=True)
class BaselineLabs:
    """The labs before cycle 1 (the clinical record's first lab record), with the age
    and sex of the patient, as the reading's eligibility uses them.

    ``record``: the validated lab record (its time, values and the laboratory's own
    limits); :meth:`labs` gives the eligibility :class:`~sstrkit.reading.eligibility.Labs`.
    """

    record: LabRecord
    age_years: float | None = None
    sex: str | None = None

    @classmethod
    def of(cls, clinical: ClinicalRecord | None, patient: PatientUsed) -> BaselineLabs | None:
        """The first lab record of ``clinical`` (by time) with ``patient``'s age and sex;
        None without a lab record that has a value."""
        records = clinical.labs if clinical is not None else []
        if not records:
            return None
        out = cls(min(records, key=lambda r: r.time), patient.age_y, patient.sex or None)
        return out if _lab_values(out.record) else None

    def to_dict(self) -> dict[str, Any]:
        """The lab values the record gives (units in the keys), ``age_years``, ``sex``."""
        out = _lab_values(self.record)
        if self.age_years is not None:
            out["age_years"] = self.age_years
        if self.sex:
            out["sex"] = self.sex
        return out

    def labs(self) -> Labs:
        """The eligibility labs (eGFR from creatinine, age and sex; liver values…)."""
        from sstrkit.reading.eligibility import Labs

        return Labs.from_mapping(self.to_dict())


def _lab_values(record: LabRecord) -> dict[str, Any]:
    """The values of a lab record (not its time or cycle), in the record's field order."""
    return {
        k: v
        for k, v in record.model_dump().items()
        if k not in ("time", "before_cycle") and v is not None
    }


@dataclass(frozen=True)
class ImportStage:
    """The study as found on disk: patient, administrations, series by content.

    ``patient``: the manifest's patient block (DICOM headers; validated);
    ``patient_used``: the patient the pipeline uses (case file > clinical record >
    headers).
    """

    patient: Patient
    patient_used: PatientUsed
    administrations: tuple[Administration, ...]
    series: tuple[SeriesInfo, ...]
    n_series_expected: int
    missing_series: tuple[str, ...]
    cycles_with_spect: tuple[int, ...]
    voi_source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "patient": self.patient.model_dump(exclude_unset=True),
            "patient_used": self.patient_used.to_dict(),
            "administrations": [a.to_dict() for a in self.administrations],
            "n_series_found": len(self.series),
            "n_series_expected": self.n_series_expected,
            "missing_series": list(self.missing_series),
            "cycles_with_spect": list(self.cycles_with_spect),
            "voi_source": self.voi_source,
            "series": [
                {
                    "modality": s.modality,
                    "description": s.description,
                    "n_files": s.n_files,
                    "units": s.units,
                    "radiopharmaceutical": s.radiopharmaceutical,
                }
                for s in self.series
            ],
        }


@dataclass(frozen=True)
class ReadingStage:
    """The SSTR PET reading of the study, with the SUV volume it was made on.

    ``labs``: the baseline labs its eligibility used (None: no lab record).
    """

    result: ReadingResult
    suv: Volume
    labs: BaselineLabs | None
    tracer: str | None
    images: Mapping[str, Any]  # written files: name -> path (lesion slices: list of paths)
    json_path: Path

    def to_dict(self) -> dict[str, Any]:
        doc = self.result.to_dict()
        doc["labs"] = self.labs.to_dict() if self.labs is not None else {}
        doc["tracer"] = self.tracer
        doc["images"] = dict(self.images)
        return doc


@dataclass(frozen=True)
class DosimetryStage:
    """Per-cycle voxel and region dosimetry, the MIRD organ-level doses and their flags.

    ``voxel`` and ``region_tacs`` are the typed per-cycle records (cached as JSON in
    ``OUT/cache``: a cached cycle is not recomputed); ``truth_total_gy``: the digital
    patient's reference dose per cycle and region (Gy; empty for a real patient);
    ``case`` is the validated case file with the image-derived regions that
    ``organ_level`` (the typed case dosimetry: per cycle its fits, MIRD doses and
    measured or estimated rows with their status and CT density; cumulative doses) was
    computed from; ``per_kidney``: the left and right
    kidney rows per cycle, from their own MIRD run.
    """

    voi_source: str
    regions: RegionMap
    administrations: tuple[Administration, ...]
    voxel: Mapping[int, VoxelCycle]
    region_tacs: Mapping[int, CycleTacs]
    organ_level: CaseDosimetry
    per_kidney: Mapping[int, tuple[CaseRegionDose, ...]]
    truth_total_gy: Mapping[int, Mapping[str, float]]
    problems: Mapping[str, str]
    flags: tuple[DataFlag, ...]
    case: Case
    dose_map: Volume | None = None  # first cycle with a dose map, for the report
    dose_ct: Volume | None = None
    dvhs: tuple[RegionDVH, ...] = ()

    @property
    def kinds(self) -> Mapping[str, str]:
        """Region name -> organ | organ_part | lesion."""
        return self.regions.kinds

    def to_dict(self) -> dict[str, Any]:
        return {
            "voi_source": self.voi_source,
            "regions": self.regions.to_dict(),
            "administrations": [a.to_dict() for a in self.administrations],
            "voxel": {k: v.to_dict() for k, v in self.voxel.items()},
            "region_tacs": {k: v.to_dict() for k, v in self.region_tacs.items()},
            "organ_level": self.organ_level.to_dict(),
            "per_kidney": {k: [r.to_dict() for r in v] for k, v in self.per_kidney.items()},
            "truth_total_gy": {str(c): dict(v) for c, v in self.truth_total_gy.items()},
            "problems": dict(self.problems),
            "flags": [f.to_dict() for f in self.flags],
        }


@dataclass(frozen=True)
class PlanningStage:
    """The plan after the first imaged cycle and the running plan (all cycles so far)."""

    after_cycle_1: PlanResult | None
    running: PlanResult | None
    notes: Mapping[str, str] = field(default_factory=dict)  # "<key>_skipped" / "<key>_note"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, plan in (("after_cycle_1", self.after_cycle_1), ("running", self.running)):
            out[key] = plan.to_dict() if plan is not None else None
            for suffix in ("_skipped", "_note"):
                if key + suffix in self.notes:
                    out[key + suffix] = self.notes[key + suffix]
        return out


@dataclass(frozen=True)
class FollowupStage:
    """Lesion uptake change over the cycles, CTCAE v5 toxicity of the labs, the liver
    tests and the biochemical (chromogranin A) response.

    ``toxicity``: blood counts and kidney (as before the liver tests existed);
    ``hepatotoxicity``: the CTCAE v5.0 liver terms of the records with liver values
    (typed grades over time: ``hepatotoxicity.timeline()``); ``biochemical_response``:
    CgA against its baseline (:func:`sstrkit.followup.biochemical.assess_cga`). Their
    ``time_s`` count from ``lab_time_origin`` (the time of the first lab record);
    ``labs``: the clinical record's lab records (validated).
    """

    lesion_uptake_change: UptakeChange | None
    toxicity: ToxicityReport | None
    labs: tuple[LabRecord, ...] = ()
    hepatotoxicity: ToxicityReport | None = None
    biochemical_response: CgaResponse | None = None
    lab_time_origin: _dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.lesion_uptake_change is not None:
            out["lesion_uptake_change"] = self.lesion_uptake_change.to_dict()
        if self.toxicity is not None:
            out["toxicity"] = self.toxicity.to_dict()
            out["labs"] = [_lab_doc(r) for r in self.labs]
        if self.hepatotoxicity is not None:
            out["hepatotoxicity"] = self.hepatotoxicity.to_dict()
        if self.biochemical_response is not None:
            out["biochemical_response"] = self.biochemical_response.to_dict()
        lab_series = (self.hepatotoxicity, self.biochemical_response)
        if any(x is not None for x in lab_series) and self.lab_time_origin is not None:
            out["lab_time_origin"] = self.lab_time_origin.isoformat()
        return out


def _lab_doc(record: LabRecord) -> dict[str, Any]:
    """A lab record as clinical.json gives it: the keys it sets, the time in ISO 8601."""
    doc = record.model_dump(mode="json", exclude_unset=True)
    doc["time"] = record.time.isoformat()
    return doc


@dataclass
class RunResult:
    """Everything the run produced: typed stage results; JSON through :meth:`to_dict`.

    ``stages`` maps the stage name to its typed result (``organs``, ``import``,
    ``reading``, ``dosimetry``, ``planning``, ``follow-up``, ``sirt`` for a study with
    SIRT series; a skipped stage is in
    ``skipped`` with the reason instead). :meth:`stage_docs` gives their JSON form.
    """

    study: Path
    out: Path
    stages: dict[str, StageResult] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    data_quality: list[DataFlag] = field(default_factory=list)
    intake: IntakeResult | None = None  # the intake that assembled the study, if any
    provenance: dict[str, Any] | None = None
    #: the baseline PET/CT's CT as read for the automatic organs (series UID, volume)
    pet_ct: tuple[str, Volume] | None = None

    @property
    def organs(self) -> OrgansStage | None:
        s = self.stages.get("organs")
        return s if isinstance(s, OrgansStage) else None

    @property
    def imported(self) -> ImportStage | None:
        s = self.stages.get("import")
        return s if isinstance(s, ImportStage) else None

    @property
    def reading(self) -> ReadingStage | None:
        s = self.stages.get("reading")
        return s if isinstance(s, ReadingStage) else None

    @property
    def dosimetry(self) -> DosimetryStage | None:
        s = self.stages.get("dosimetry")
        return s if isinstance(s, DosimetryStage) else None

    @property
    def planning(self) -> PlanningStage | None:
        s = self.stages.get("planning")
        return s if isinstance(s, PlanningStage) else None

    @property
    def followup(self) -> FollowupStage | None:
        s = self.stages.get("follow-up")
        return s if isinstance(s, FollowupStage) else None

    @property
    def sirt(self) -> SirtStage | None:
        from sstrkit.pipeline.stages.sirt import SirtStage  # the stage module imports this one

        s = self.stages.get("sirt")
        return s if isinstance(s, SirtStage) else None

    def stage_docs(self) -> dict[str, dict[str, Any]]:
        """The JSON form of every stage that ran (the ``stages`` of ``results.json``)."""
        docs: dict[str, dict[str, Any]] = {k: v.to_dict() for k, v in self.stages.items()}
        if self.provenance is not None:
            docs["provenance"] = dict(self.provenance)
        return docs

    def to_dict(self) -> dict[str, Any]:
        return {
            "sstrkit_version": __version__,
            "study": str(self.study),
            "out": str(self.out),
            "intake": self.intake.to_dict() if self.intake is not None else None,
            "data_quality": [f.to_dict() for f in self.data_quality],
            "stages": jsonable(self.stage_docs()),
            "skipped": dict(self.skipped),
            "timings_s": dict(self.timings_s),
            "files": dict(self.files),
        }
