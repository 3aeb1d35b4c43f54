"""Report sections: patient and study, data quality (with intake notes), reading, eligibility."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sstrkit.report.document import Report, Section, TableBlock
from sstrkit.report.theranostic.common import (
    _FLAG_KINDS,
    _administrations,
    _eligibility_headline,
    _png,
    _skipped,
    _stages,
    _who_grade,
)

if TYPE_CHECKING:
    from sstrkit.pipeline.results import RunResult
    from sstrkit.pipeline.study import Study


# ------------------------------------------------------------------ sections
def _summary(rep: Report, study: Study, res: RunResult) -> None:
    sec = rep.section("Patient and study")
    imp = _stages(res).get("import", {})
    pat = imp.get("patient", study.manifest.get("patient", {}))
    case_pat = (study.case or {}).get("patient", {})
    used = imp.get("patient_used", {})
    sec.add_kv(
        "Patient",
        {
            "patient ID": pat.get("id"),
            "sex": pat.get("sex"),
            "age (y)": case_pat.get("age_y", used.get("age_y")),
            "height (cm)": pat.get("height_cm"),
            "weight (kg)": pat.get("weight_kg"),
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
                [
                    [
                        a.get("cycle"),
                        a.get("agent"),
                        a.get("activity_bq", 0.0) / 1e6,
                        a.get("time"),
                        a.get("source"),
                        "; ".join(
                            f"{c.get('source')}: {c.get('activity_bq', 0.0) / 1e6:.0f} MBq"
                            for c in a.get("copies", [])
                        )
                        or None,
                    ]
                    for a in admins
                ],
                note="One activity per cycle: the measured net activity of the clinical record "
                "wins over the case file and the nominal DICOM header value; records more than "
                "5 % apart are flagged in the data-quality box.",
            )
        )
    if imp:
        sec.add_text(
            f"{imp['n_series_found']} DICOM series found ({imp['n_series_expected']} listed in "
            f"the manifest); post-therapy SPECT for cycles {imp['cycles_with_spect']}. "
            f"Volumes of interest: {imp['voi_source']}."
        )
        if imp["missing_series"]:
            sec.status = "partial"
            sec.add_text("Missing series: " + ", ".join(imp["missing_series"]))
    if res.skipped:
        sec.add_table(
            TableBlock(
                "Stages not computed",
                ["stage", "reason"],
                [[k, v] for k, v in res.skipped.items()],
            )
        )


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
    elig = _stages(res).get("reading", {}).get("eligibility")
    if elig:
        from sstrkit.reading.eligibility import decision_status

        if decision_status(elig) == "not_assessed":
            rows.append(["eligibility not assessed", None, None, _eligibility_headline(elig)])
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


def _intake(sec: Section, intake: Mapping[str, Any]) -> None:
    source = (intake.get("manifest") or {}).get("intake", {}).get("source")
    sec.add_text(
        "The study was assembled from a DICOM folder"
        + (f" ({source})" if source else "")
        + f" by the intake; manifest: {intake.get('manifest_path')}. Review the roles below."
    )
    notes = list(intake.get("notes", []))
    if notes:
        sec.add_table(TableBlock("Intake notes", ["note"], [[n] for n in notes]))
    rows = intake.get("rows", [])
    if rows:
        sec.add_table(
            TableBlock(
                "Series found by the intake",
                ["role", "cycle", "h p.i.", "description", "date", "files", "series UID"],
                [
                    [
                        r.get("role"),
                        r.get("cycle"),
                        r.get("hours_post_injection"),
                        r.get("series_description"),
                        r.get("date"),
                        r.get("n_files"),
                        r.get("series_uid"),
                    ]
                    for r in rows
                ],
            )
        )


def _reading(rep: Report, res: RunResult) -> None:
    sec = rep.section("SSTR PET reading")
    if _skipped(sec, res, "reading"):
        sec2 = rep.section("PRRT eligibility")
        sec2.status = "skipped"
        sec2.add_text("Not assessed: the SSTR PET reading did not run (see above).")
        return
    rd = _stages(res)["reading"]
    ref = rd["reference"]
    sec.add_text(
        f"Tracer {rd.get('tracer') or 'SSTR PET'}; SUV body weight (QIBA). Reference regions: "
        f"liver SUVmean {ref.get('liver_suv_mean', float('nan')):.2f}, spleen SUVmean "
        f"{ref.get('spleen_suv_mean', float('nan')):.2f}. Patient Krenning score "
        f"{rd.get('krenning_patient')}; SSTR-positive tumour volume "
        f"{rd.get('sstr_tumour_volume_ml', 0.0):.1f} mL."
    )
    images = rd.get("images", {})
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
            [
                [
                    le["id"],
                    le["suv_max"],
                    le["suv_peak"],
                    le["suv_mean"],
                    le["volume_ml"],
                    le["tlse"],
                    le["t_l"],
                    le["t_s"],
                    le["krenning"],
                    ", ".join(f"{c:.0f}" for c in le["centroid_mm"]),
                ]
                for le in rd["lesions"]
            ],
            note="SUVpeak: mean in a 1 cm³ sphere; TLSE: SUVmean × volume; T/L, T/S: SUVmax over "
            "liver and spleen SUVmean; Krenning: PET-adapted (lesion vs liver and spleen).",
        )
    )
    for path in images.get("lesion_slices", [])[:3]:
        sec.add_figure(_png(path, f"Fused PET/CT through {Path(path).stem} with its contour."))
    if rd.get("netpet"):
        sec.add_kv("NETPET (paired FDG PET)", {"grade": rd["netpet"].get("grade")})
    _eligibility(rep, res, rd["eligibility"])


def _eligibility(rep: Report, res: RunResult, elig: Mapping[str, Any]) -> None:
    from sstrkit.reading.eligibility import decision_status

    sec = rep.section("PRRT eligibility")
    status = decision_status(elig)
    sec.add_text(
        f"Decision: {_eligibility_headline(elig)} (every rule listed with its value, threshold "
        "and source)."
    )
    if status == "not_assessed":
        sec.status = "partial"
        sec.add_text(
            "No rule fails, but the rules marked 'missing' could not be checked: the decision "
            "needs them (baseline labs go into clinical.json 'labs'). This is not a finding of "
            "ineligibility."
        )
    failed = [r.get("id") for r in elig["rules"] if r.get("status") == "fail"]
    treated = _stages(res).get("import", {}).get("cycles_with_spect", [])
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
                    r.get("name") or r.get("id"),
                    r.get("value"),
                    f"{r.get('operator', '')} {r.get('threshold')} {r.get('unit', '')}".strip(),
                    r.get("status"),
                    r.get("required"),
                    r.get("source"),
                ]
                for r in elig["rules"]
            ],
        )
    )
