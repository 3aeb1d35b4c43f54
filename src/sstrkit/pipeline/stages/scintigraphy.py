"""Scintigraphy stage: SSTR planar whole-body and SPECT readings, and their concordance with PET.

A study that carries 111In-pentetreotide or 99mTc-labelled SSTR scintigraphy (manifest
roles ``scintigraphy_planar`` and ``sstr_spect`` with ``sstr_spect_ct``) gets each read:
the planar views at the latest time point (the original Krenning grade is defined on the
24 h views; Krenning et al., Eur J Nucl Med 1993;20:716) with
:func:`sstrkit.reading.job.run_planar_reading_job`, each SSTR SPECT/CT with
:func:`sstrkit.reading.job.run_spect_reading_job`. With an SSTR PET reading in the same
run, :func:`sstrkit.reading.concordance.compare_readings` lists the lesions seen on PET
only, on scintigraphy only, and on both (SPECT: PET centroids moved through a rigid
CT-to-CT registration of the PET/CT and the SPECT/CT; planar: coronal projection).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sstrkit.pipeline.results import RunResult
from sstrkit.pipeline.stages import StageSkippedError
from sstrkit.pipeline.study import DataFlag, Study

if TYPE_CHECKING:
    from sstrkit.io.planar import PlanarWholeBody
    from sstrkit.reading.concordance import LesionConcordance
    from sstrkit.reading.planar import PlanarReading
    from sstrkit.reading.spect import SpectReadingResult

__all__ = [
    "ConcordanceStage",
    "ScintigraphyReading",
    "ScintigraphyStage",
    "stage_concordance",
    "stage_scintigraphy",
]


@dataclass(frozen=True)
class ScintigraphyReading:
    """One scintigraphy reading: its modality, the manifest's tracer and time, the reading.

    ``result`` is the reading itself: a :class:`~sstrkit.reading.planar.PlanarReading`
    of the planar views ``views`` (modality ``"planar"``) or a
    :class:`~sstrkit.reading.spect.SpectReadingResult` (``"spect"``; ``views`` None).
    ``files`` is the file index of its ``reading.json`` (at ``json_path``), ``warnings``
    the input readers' warnings, ``ct_path`` the SPECT/CT's CT (for the concordance's
    registration). :meth:`to_dict` is the ``reading.json`` document the reading job wrote
    (:func:`sstrkit.reading.job.run_planar_reading_job`,
    :func:`~sstrkit.reading.job.run_spect_reading_job`); a planar one also lists its
    images (the file index less ``reading.json``) under ``"images"``.
    """

    modality: str  # "planar" | "spect"
    tracer: str | None
    hours_post_injection: float | None
    result: PlanarReading | SpectReadingResult
    json_path: Path
    files: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    views: PlanarWholeBody | None = None
    ct_path: Path | None = None

    @property
    def images(self) -> dict[str, Any]:
        """The reading's images and other outputs (its file index less ``reading.json``):
        planar views; for SPECT the MIPs and lesion slices, as for the PET reading."""
        return {k: v for k, v in self.files.items() if k != "reading_json"}

    def to_dict(self) -> dict[str, Any]:
        doc = self.result.to_dict()
        if self.views is not None:
            doc["study"] = self.views.to_dict()
        doc["warnings"] = list(self.warnings)
        doc["files"] = dict(self.files)
        if self.modality == "planar":
            doc.setdefault("modality", "planar")
            doc.setdefault("tracer", self.tracer)
            doc.setdefault("hours_post_injection", self.hours_post_injection)
            doc["images"] = self.images
        return doc


@dataclass(frozen=True)
class ScintigraphyStage:
    """The study's scintigraphy readings (``readings``: planar, then SPECT)."""

    readings: tuple[ScintigraphyReading, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"readings": [r.to_dict() for r in self.readings]}


@dataclass(frozen=True)
class ConcordanceStage:
    """PET-vs-scintigraphy lesion concordance (one per scintigraphy reading compared)."""

    results: tuple[LesionConcordance, ...]

    def to_dict(self) -> dict[str, Any]:
        # the report's section reads the first comparison; all are listed under "all"
        docs = [r.to_dict() for r in self.results]
        return {**docs[0], "all": docs} if docs else {"all": []}


def _entries(study: Study, role: str) -> list[dict[str, Any]]:
    raw = study.manifest.get("series", {}).get(role) or []
    return [e for e in (raw if isinstance(raw, list) else [raw]) if isinstance(e, dict)]


def _planar_reading(study: Study, entry: Mapping[str, Any], out: Path) -> ScintigraphyReading:
    from sstrkit.io.planar import read_planar_wholebody
    from sstrkit.reading.job import run_planar_reading_job

    planar = read_planar_wholebody(study.path(entry["path"]), series_uid=entry.get("series_uid"))
    job = run_planar_reading_job(planar, out)
    return ScintigraphyReading(
        "planar",
        entry.get("tracer"),
        entry.get("hours_post_injection"),
        job.reading,
        job.json_path,
        files=dict(job.files),
        warnings=tuple(dict.fromkeys(planar.warnings)),
        views=planar,
    )


def _spect_reading(
    study: Study, entry: Mapping[str, Any], ct_entry: Mapping[str, Any] | None, out: Path
) -> ScintigraphyReading:
    from sstrkit.reading.inputs import load_ct
    from sstrkit.reading.job import ReadingOutputs, load_sstr_spect, run_spect_reading_job

    spect = load_sstr_spect(
        study.path(entry["path"]),
        series_uid=entry.get("series_uid"),
        calibration_cps_per_mbq=entry.get("calibration_cps_per_mbq"),
    )
    ct_path = study.path(ct_entry["path"]) if ct_entry else None
    ct = (
        load_ct(ct_path, series_uid=ct_entry.get("series_uid"))
        if ct_path is not None and ct_entry is not None
        else None
    )
    job = run_spect_reading_job(
        spect,
        out,
        ReadingOutputs.for_read(images=True),
        ct=ct,
        tracer=entry.get("tracer"),
        fwhm_mm=entry.get("fwhm_mm"),
    )
    # run_spect_reading_job reads with read_sstr_spect: its result is a SpectReadingResult
    result = cast("SpectReadingResult", job.result)
    return ScintigraphyReading(
        "spect",
        entry.get("tracer"),
        entry.get("hours_post_injection"),
        result,
        job.json_path,
        files=dict(job.files),
        warnings=tuple(dict.fromkeys(job.inputs.warnings)),
        ct_path=ct_path,
    )


def stage_scintigraphy(study: Study, res: RunResult) -> ScintigraphyStage:
    """Read the study's SSTR scintigraphy: planar at the latest time point, each SPECT/CT."""
    planar = _entries(study, "scintigraphy_planar")
    spects = _entries(study, "sstr_spect")
    if not planar and not spects:
        raise StageSkippedError("no SSTR scintigraphy in the manifest")
    readings: list[ScintigraphyReading] = []
    by_tracer: dict[str, dict[str, Any]] = {}
    for e in planar:  # the latest planar time point of each tracer
        key = str(e.get("tracer"))
        if key not in by_tracer or float(e.get("hours_post_injection") or 0.0) > float(
            by_tracer[key].get("hours_post_injection") or 0.0
        ):
            by_tracer[key] = e
    cts = _entries(study, "sstr_spect_ct")
    base = res.out / "scintigraphy"
    for e in by_tracer.values():
        name = f"planar_{_slug(e.get('tracer'))}_{float(e.get('hours_post_injection') or 0):.0f}h"
        readings.append(_planar_reading(study, e, base / name))
    for e in spects:
        ct = next(
            (c for c in cts if c.get("frame_of_reference_uid") == e.get("frame_of_reference_uid")),
            None,
        )
        name = f"spect_{_slug(e.get('tracer'))}_{float(e.get('hours_post_injection') or 0):.0f}h"
        if ct is None:
            res.data_quality.append(
                DataFlag("scintigraphy", f"{name}: no CT of the same frame of reference")
            )
        readings.append(_spect_reading(study, e, ct, base / name))
    for r in readings:
        res.files[f"scintigraphy_{r.json_path.parent.name}"] = str(r.json_path)
    return ScintigraphyStage(tuple(readings))


def _slug(text: Any) -> str:
    return "".join(c if c.isalnum() else "_" for c in str(text or "sstr")).strip("_").lower()


def stage_concordance(study: Study, res: RunResult) -> ConcordanceStage:
    """Each scintigraphy reading against the SSTR PET reading of the same run."""
    from sstrkit.reading.concordance import compare_readings
    from sstrkit.reading.inputs import load_ct
    from sstrkit.therapy.registration import register_ct

    scint = res.stages.get("scintigraphy")
    if res.reading is None or not isinstance(scint, ScintigraphyStage):
        raise StageSkippedError("needs both an SSTR PET reading and a scintigraphy reading")
    pet_doc = {**res.reading.to_dict(), "modality": "pet"}
    pet_doc["frame_of_reference_uid"] = res.reading.suv.frame_of_reference_uid
    pet_ct = study.series("pet_ct")
    results = []
    for r in scint.readings:
        registration = None
        if r.modality == "spect" and r.ct_path is not None and pet_ct is not None:
            fixed = res.pet_ct[1] if res.pet_ct is not None else None
            if fixed is None:
                fixed = load_ct(study.path(pet_ct["path"]), series_uid=pet_ct["series_uid"])
            registration = register_ct(fixed, load_ct(r.ct_path))
        results.append(compare_readings(pet_doc, r.to_dict(), registration=registration))
    return ConcordanceStage(tuple(results))
