"""Report sections: patient and study, data quality (with intake notes), reading, eligibility.

Every section reads the typed stage results: the import stage's patient and series, the
administrations, the SSTR PET reading's :class:`~sstrkit.reading.reader.ReadingResult`
(references, lesions, Krenning, NETPET) and its
:class:`~sstrkit.reading.eligibility.EligibilityDecision`. Scintigraphy readings beside the
PET one (stage ``scintigraphy``: each reading's typed result — an SSTR SPECT
:class:`~sstrkit.reading.spect.SpectReadingResult` read like the PET: SUV, T/L, T/S, Krenning
on the original scale; or a planar whole-body :class:`~sstrkit.reading.planar.PlanarReading`,
anterior and posterior views side by side with their geometric mean, as a person reads them,
numbers to the precision of its ``reading.json``) and the PET-vs-scintigraphy
:class:`~sstrkit.reading.concordance.LesionConcordance` (stage ``concordance``) get their own
sections, only when the run has them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sstrkit.core.units import BQ_PER_MBQ
from sstrkit.report.document import Report, Section, TableBlock
from sstrkit.report.theranostic.common import (
    _FLAG_KINDS,
    _administrations,
    _png,
    _skipped,
    _who_grade,
)

if TYPE_CHECKING:
    from sstrkit.pipeline.administrations import Administration
    from sstrkit.pipeline.intake.assembly import IntakeResult
    from sstrkit.pipeline.results import ReadingStage, RunResult
    from sstrkit.pipeline.stages.scintigraphy import ScintigraphyReading
    from sstrkit.pipeline.study import Study
    from sstrkit.reading.concordance import LesionConcordance
    from sstrkit.reading.eligibility import EligibilityDecision
    from sstrkit.reading.metrics import LesionMetrics
    from sstrkit.reading.planar import PlanarReading, ReferenceRoi
    from sstrkit.reading.planar_lesions import PlanarLesion
    from sstrkit.reading.spect import SpectReadingResult


# ------------------------------------------------------------------ sections
def _summary(rep: Report, study: Study, res: RunResult) -> None:
    sec = rep.section("Patient and study")
    imp = res.imported
    pat = imp.patient if imp is not None else study.model.patient
    used_age = imp.patient_used.age_y if imp is not None else None
    case_pat = (study.case or {}).get("patient", {})
    sec.add_kv(
        "Patient",
        {
            "patient ID": pat.id,
            "sex": pat.sex,
            "age (y)": case_pat.get("age_y", used_age),
            "height (cm)": pat.height_cm,
            "weight (kg)": pat.weight_kg,
            "tumour grade (WHO)": _who_grade(study.clinical),
        },
    )
    admins = _administrations(study, res)
    if admins:
        sec.add_table(
            TableBlock(
                "Administrations (the activity used and every record of it)",
                [
                    "cycle",
                    "radiopharmaceutical",
                    "activity used (MBq)",
                    "time",
                    "source",
                    "records",
                ],
                [_administration_row(a) for a in admins],
                note="One activity per cycle: the measured net activity of the clinical record "
                "wins over the case file and the nominal DICOM header value; records more than "
                "5 % apart are flagged in the data-quality box.",
            )
        )
    if imp is not None:
        sec.add_text(
            f"{len(imp.series)} DICOM series found ({imp.n_series_expected} listed in "
            f"the manifest); post-therapy SPECT for cycles {list(imp.cycles_with_spect)}. "
            f"Volumes of interest: {imp.voi_source}."
        )
        if imp.missing_series:
            sec.status = "partial"
            sec.add_text("Missing series: " + ", ".join(imp.missing_series))
    if res.skipped:
        sec.add_table(
            TableBlock(
                "Stages not computed",
                ["stage", "reason"],
                [[k, v] for k, v in res.skipped.items()],
            )
        )


def _administration_row(a: Administration) -> list[Any]:
    """Cycle, agent, activity (MBq), time, source and every record of one administration."""
    records = "; ".join(f"{src}: {bq / BQ_PER_MBQ:.0f} MBq" for src, bq in a.copies)
    return [
        a.cycle,
        a.agent,
        a.activity_bq / BQ_PER_MBQ,
        a.time.isoformat(),
        a.source,
        records or None,
    ]


def _data_quality(rep: Report, res: RunResult) -> None:
    sec = rep.section("Data quality")
    rows: list[list[Any]] = [
        [
            _FLAG_KINDS.get(f.kind, f.kind),
            f.cycle,
            f.region,
            f.message,
        ]
        for f in res.data_quality
    ]
    rows += [["stage not computed", None, None, f"{k}: {v}"] for k, v in res.skipped.items()]
    reading = res.reading
    if reading is not None and reading.result.eligibility.status == "not_assessed":
        headline = reading.result.eligibility.headline()
        rows.append(["eligibility not assessed", None, None, headline])
    if rows:
        sec.add_text(
            f"{len(rows)} issue(s) found. Each result below was computed from the data that "
            "are there; nothing missing was invented."
        )
        sec.add_table(TableBlock("Issues", ["kind", "cycle", "region", "message"], rows))
    else:
        sec.add_text(
            "No issues found: no data-quality flag was raised (missing series or time points, "
            "differing activity records, estimated cycles) and no stage was skipped."
        )
    if res.intake is not None:
        _intake(sec, res.intake)


def _intake(sec: Section, intake: IntakeResult) -> None:
    source = intake.manifest.get("intake", {}).get("source")
    sec.add_text(
        "The study was assembled from a DICOM folder"
        + (f" ({source})" if source else "")
        + f" by the intake; manifest: {intake.manifest_path}. Review the roles below."
    )
    if intake.notes:
        sec.add_table(TableBlock("Intake notes", ["note"], [[n] for n in intake.notes]))
    if intake.rows:
        sec.add_table(
            TableBlock(
                "Series found by the intake",
                ["role", "cycle", "h p.i.", "description", "date", "files", "series UID"],
                [
                    [
                        r.role,
                        r.cycle,
                        r.hours_post_injection,
                        r.series_description,
                        r.date,
                        r.n_files,
                        r.series_uid,
                    ]
                    for r in intake.rows
                ],
            )
        )


#: Title of the reading section by the reading's modality (``reading.json`` "modality").
_READING_TITLES: Mapping[str, str] = {
    "pet": "SSTR PET reading",
    "spect": "SSTR SPECT reading",
    "planar": "SSTR planar scintigraphy reading",
}


def _reading(rep: Report, res: RunResult) -> None:
    sec = rep.section(_READING_TITLES["pet"])
    stage = res.reading
    if _skipped(sec, res, "reading") or stage is None:
        _scintigraphy_sections(rep, res)
        sec2 = rep.section("PRRT eligibility")
        sec2.status = "skipped"
        sec2.add_text("Not assessed: the SSTR PET reading did not run (see above).")
        return
    _pet_reading(sec, stage)
    _scintigraphy_sections(rep, res)
    _eligibility(rep, res, stage.result.eligibility)


def _suv2(value: float | None) -> str:
    """An SUV to two decimals (``nan`` when the reference was not found)."""
    return f"{float('nan') if value is None else value:.2f}"


def _pet_reading(sec: Section, stage: ReadingStage) -> None:
    """The SSTR PET reading of the run: text, MIP, lesions, fused slices, NETPET."""
    r = stage.result
    _volume_reading(
        sec,
        head=f"Tracer {stage.tracer or 'SSTR PET'}; SUV body weight (QIBA). ",
        reference=(r.references.liver_mean, r.references.spleen_mean),
        krenning_patient=r.krenning_patient,
        tumour_volume_ml=r.whole_body.sstr_tumour_volume_ml,
        lesion_rows=_lesion_rows(r.lesions),
        images=stage.images,
        spect=False,
    )
    if r.netpet is not None:
        sec.add_kv("NETPET (paired FDG PET)", {"grade": r.netpet.grade})


def _lesion_rows(lesions: Sequence[LesionMetrics]) -> list[list[Any]]:
    """The lesion table of a volume reading (PET or SPECT)."""
    return [
        [
            m.id,
            m.suv_max,
            m.suv_peak,
            m.suv_mean,
            m.volume_ml,
            m.tlse,
            m.t_l,
            m.t_s,
            m.krenning,
            ", ".join(f"{c:.0f}" for c in m.centroid_mm),
        ]
        for m in lesions
    ]


def _spect_reading(sec: Section, reading: ScintigraphyReading, r: SpectReadingResult) -> None:
    """An SSTR SPECT reading, read like the PET."""
    q = r.quantification
    how = (
        "SUV body weight from the quantitative SPECT (Bq/mL, injected activity decayed to "
        "the acquisition)"
        if q is not None and q.method == "bq_per_ml"
        else "SPECT supplied in SUV"
    )
    _volume_reading(
        sec,
        head=f"Tracer {r.tracer or 'SSTR SPECT'} at {r.hours_post_injection} h "
        f"p.i.; {how}; resolution {r.fwhm_mm} mm FWHM. ",
        reference=(r.references.liver_mean, r.references.spleen_mean),
        krenning_patient=r.krenning_patient,
        tumour_volume_ml=r.whole_body.sstr_tumour_volume_ml,
        lesion_rows=_lesion_rows(r.lesions),
        images=reading.images,
        spect=True,
    )
    if r.netpet is not None:
        sec.add_kv("NETPET (paired FDG PET)", {"grade": r.netpet.grade})


def _volume_reading(
    sec: Section,
    *,
    head: str,
    reference: tuple[float | None, float | None],
    krenning_patient: int | None,
    tumour_volume_ml: float,
    lesion_rows: list[list[Any]],
    images: Mapping[str, Any],
    spect: bool,
) -> None:
    """A volume reading (PET, or SPECT read the same way): text, MIP, lesions, slices."""
    sec.add_text(
        head + f"Reference regions: liver SUVmean {_suv2(reference[0])}, spleen SUVmean "
        f"{_suv2(reference[1])}. Patient Krenning score {krenning_patient}; SSTR-positive "
        f"tumour volume {tumour_volume_ml:.1f} mL."
    )
    if images.get("mip"):
        sec.add_figure(_png(images["mip"], "Maximum-intensity projections (SUV), front and side."))
    sec.add_table(
        TableBlock(
            "Lesions",
            [
                "id",
                "SUVmax",
                "SUVpeak",
                "SUVmean",
                "volume (mL)",
                "TLSE (mL)",
                "T/L",
                "T/S",
                "Krenning",
                "centroid LPS (mm)",
            ],
            lesion_rows,
            note="SUVpeak: mean in a 1 cm³ sphere; TLSE: SUVmean × volume; T/L, T/S: SUVmax over "
            "liver and spleen SUVmean; Krenning: "
            + (
                "original scale read on the SPECT (lesion vs liver and spleen; partial volume "
                "lowers small lesions at this resolution)."
                if spect
                else "PET-adapted (lesion vs liver and spleen)."
            ),
        )
    )
    kind = "SPECT/CT" if spect else "PET/CT"
    for path in images.get("lesion_slices", [])[:3]:
        sec.add_figure(_png(path, f"Fused {kind} through {Path(path).stem} with its contour."))


def _planar_reading(sec: Section, reading: ScintigraphyReading, rd: PlanarReading) -> None:
    """A planar whole-body reading as a person reads it: the anterior and posterior views
    side by side with their geometric mean, the references and the lesions (numbers to the
    precision of its ``reading.json``)."""

    def counts(roi: ReferenceRoi | None) -> str:
        return "—" if roi is None else str(round(roi.mean_counts, 2))

    method = rd.to_dict()["krenning_method"]  # worded by the reading (its settings' band)
    sec.add_text(
        f"Tracer {rd.tracer or 'SSTR scintigraphy'} ({rd.radionuclide}), planar "
        f"whole-body views at {round(rd.hours_post_injection, 2)} h p.i., read on the "
        "geometric mean of the anterior and posterior views (√(ANT × POST), posterior "
        f"un-mirrored). Reference regions: liver {counts(rd.liver)} counts, "
        f"spleen {counts(rd.spleen)} counts (mean per pixel). Patient Krenning "
        f"score {rd.krenning_patient} ({method})."
    )
    images = reading.images
    if images.get("planar_views"):
        sec.add_figure(
            _png(
                images["planar_views"],
                "Anterior and posterior views side by side (posterior as acquired) and their "
                "geometric mean, lesions circled.",
            )
        )
    sec.add_table(
        TableBlock(
            "Lesions (geometric mean)",
            [
                "id",
                "row, col (mm)",
                "side",
                "diameter (mm)",
                "peak counts",
                "lesion/liver",
                "lesion/spleen",
                "Krenning",
            ],
            [_planar_lesion_row(le) for le in rd.lesions],
            note="Position on the anterior view (rows head to feet, columns to the patient's "
            "left); ratios: background-corrected lesion intensity over the liver's and the "
            "spleen's; Krenning: original planar scale (Krenning et al. 1993).",
        )
    )
    phys = rd.physiological
    if phys:
        sec.add_text(
            "Physiological uptake recognised: "
            + ", ".join(str(p.get("organ", p)) if isinstance(p, Mapping) else str(p) for p in phys)
            + "."
        )


def _planar_lesion_row(le: PlanarLesion) -> list[Any]:
    """A planar lesion's row, rounded as in ``reading.json`` (position and diameter 0.1 mm,
    counts 0.01, ratios 0.001)."""

    def r3(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return [
        le.id,
        ", ".join(f"{round(v, 1):.0f}" for v in le.position_mm),
        "patient left" if le.lateral_mm > 0 else "patient right",
        round(le.diameter_mm, 1),
        round(le.peak_counts, 2),
        r3(le.ratio_liver),
        r3(le.ratio_spleen),
        le.krenning,
    ]


def _hours(h: Any) -> str:
    """Hours after injection as a person writes them (``24.8 h``), or ``time not recorded``."""
    return "time not recorded" if h is None else f"{float(h):.1f} h"


def _scintigraphy_sections(rep: Report, res: RunResult) -> None:
    """Scintigraphy readings beside the PET one (stage ``scintigraphy``: each reading's
    typed result) and the PET-vs-scintigraphy lesion concordance (stage ``concordance``: its
    first comparison); nothing when the run has none."""
    from sstrkit.pipeline.stages.scintigraphy import ConcordanceStage, ScintigraphyStage
    from sstrkit.reading.planar import PlanarReading

    scint = res.stages.get("scintigraphy")
    readings = scint.readings if isinstance(scint, ScintigraphyStage) else ()
    for reading in readings:
        rd = reading.result
        # the reading's own tracer and time (planar: hours to 0.01 h, as in reading.json)
        if isinstance(rd, PlanarReading):
            hours: float | None = round(rd.hours_post_injection, 2)
        else:
            hours = rd.hours_post_injection
        sec = rep.section(
            f"{_READING_TITLES.get(reading.modality, 'SSTR scintigraphy reading')} "
            f"({rd.tracer or 'scintigraphy'}, {_hours(hours)})"
        )
        if isinstance(rd, PlanarReading):
            _planar_reading(sec, reading, rd)
        else:
            _spect_reading(sec, reading, rd)
    conc = res.stages.get("concordance")
    if isinstance(conc, ConcordanceStage) and conc.results:
        _concordance(rep, conc.results[0])


def _concordance(rep: Report, conc: LesionConcordance) -> None:
    """Lesions seen on PET only, scintigraphy only or both, with their PET size."""
    sec = rep.section("PET versus scintigraphy")
    c = conc.counts
    sec.add_text(
        f"{conc.scintigraphy_tracer} {conc.scintigraphy_modality} against "
        f"{conc.pet_tracer} PET: {c['both']} lesion(s) on both, "
        f"{c['pet_only']} on PET only, {c['scintigraphy_only']} on "
        f"scintigraphy only (matched within {conc.tolerance_mm} mm; "
        f"{conc.alignment})."
    )
    sec.add_table(
        TableBlock(
            "Lesions",
            ["status", "PET id", "scint. id", "PET diameter (mm)", "PET SUVmax", "scint. Krenning"],
            [
                [
                    x.status,
                    x.pet_id,
                    x.scintigraphy_id,
                    x.pet_diameter_mm,
                    x.pet.get("suv_max"),
                    x.scintigraphy.get("krenning"),
                ]
                for x in conc.lesions
            ],
            note="PET diameter: of the sphere of the lesion's PET volume.",
        )
    )
    for n in conc.notes:
        sec.add_text(str(n))


def _eligibility(rep: Report, res: RunResult, decision: EligibilityDecision) -> None:
    sec = rep.section("PRRT eligibility")
    sec.add_text(
        f"Decision: {decision.headline()} (every rule listed with its value, threshold and source)."
    )
    if decision.status == "not_assessed":
        sec.status = "partial"
        sec.add_text(
            "No rule fails, but the rules marked 'missing' could not be checked: the decision "
            "needs them (baseline labs go into clinical.json 'labs'). This is not a finding of "
            "ineligibility."
        )
    failed = [r.id for r in decision.rules if r.status == "fail"]
    treated = res.imported.cycles_with_spect if res.imported is not None else ()
    if failed and treated:
        sec.add_text(
            f"Rules not met: {', '.join(str(f) for f in failed)}. The study nevertheless holds "
            f"{len(treated)} PRRT cycle(s) with post-therapy imaging; the sections below document "
            "the therapy as given and do not override this assessment."
        )
    sec.add_table(
        TableBlock(
            "Rules",
            ["rule", "value", "criterion", "status", "required", "source"],
            [
                [
                    r.id,
                    r.value,
                    f"{r.operator} {r.threshold} {r.unit}".strip(),
                    r.status,
                    r.required,
                    r.source,
                ]
                for r in decision.rules
            ],
        )
    )
