"""Report sections: patient and study, data quality (with intake notes), reading, eligibility.

The reading section follows the reading's modality (``reading.json`` "modality"): an SSTR
PET (unchanged), an SSTR SPECT (read like the PET: SUV, T/L, T/S, Krenning on the
original scale) or planar whole-body views (anterior and posterior side by side with their
geometric mean, as a person reads them). Scintigraphy readings beside the PET one (stage
``scintigraphy``) and the PET-vs-scintigraphy concordance (stage ``concordance``) get their
own sections, only when the run has them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.patches import Circle

from sstrkit.core.units import BQ_PER_MBQ
from sstrkit.report.document import Figure, Report, Section, TableBlock
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
                        a.get("activity_bq", 0.0) / BQ_PER_MBQ,
                        a.get("time"),
                        a.get("source"),
                        "; ".join(
                            f"{c.get('source')}: {c.get('activity_bq', 0.0) / BQ_PER_MBQ:.0f} MBq"
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


#: Title of the reading section by the reading's modality (``reading.json`` "modality").
_READING_TITLES: Mapping[str, str] = {
    "pet": "SSTR PET reading",
    "spect": "SSTR SPECT reading",
    "planar": "SSTR planar scintigraphy reading",
}


def _reading(rep: Report, res: RunResult) -> None:
    stages = _stages(res)
    modality = str(stages.get("reading", {}).get("modality") or "pet")
    sec = rep.section(_READING_TITLES.get(modality, "SSTR PET reading"))
    if _skipped(sec, res, "reading"):
        _scintigraphy_sections(rep, res)
        sec2 = rep.section("PRRT eligibility")
        sec2.status = "skipped"
        sec2.add_text("Not assessed: the SSTR PET reading did not run (see above).")
        return
    rd = stages["reading"]
    if modality == "planar":
        _planar_reading(sec, rd, getattr(res.stages.get("reading"), "planar", None))
    else:
        _volume_reading(sec, rd, modality)
    _scintigraphy_sections(rep, res)
    if rd.get("eligibility"):
        _eligibility(rep, res, rd["eligibility"])


def _volume_reading(sec: Section, rd: Mapping[str, Any], modality: str) -> None:
    """The PET reading (or an SSTR SPECT reading, read the same way): text, MIP, lesions."""
    ref = rd["reference"]
    spect = modality == "spect"
    if spect:
        q = rd.get("quantification") or {}
        how = (
            "SUV body weight from the quantitative SPECT (Bq/mL, injected activity decayed to "
            "the acquisition)"
            if q.get("method") == "bq_per_ml"
            else "SPECT supplied in SUV"
        )
        head = (
            f"Tracer {rd.get('tracer') or 'SSTR SPECT'} at {rd.get('hours_post_injection')} h "
            f"p.i.; {how}; resolution {rd.get('spect_fwhm_mm')} mm FWHM. "
        )
    else:
        head = f"Tracer {rd.get('tracer') or 'SSTR PET'}; SUV body weight (QIBA). "
    sec.add_text(
        head + f"Reference regions: "
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
    if rd.get("netpet"):
        sec.add_kv("NETPET (paired FDG PET)", {"grade": rd["netpet"].get("grade")})


def _planar_reading(sec: Section, rd: Mapping[str, Any], planar: Any = None) -> None:
    """A planar whole-body reading as a person reads it: the anterior and posterior views
    side by side with their geometric mean, the references and the lesions."""
    refs = rd.get("reference") or {}
    liver, spleen = refs.get("liver") or {}, refs.get("spleen") or {}
    sec.add_text(
        f"Tracer {rd.get('tracer') or 'SSTR scintigraphy'} ({rd.get('radionuclide')}), planar "
        f"whole-body views at {rd.get('hours_post_injection')} h p.i., read on the "
        "geometric mean of the anterior and posterior views (√(ANT × POST), posterior "
        f"un-mirrored). Reference regions: liver {liver.get('mean_counts', '—')} counts, "
        f"spleen {spleen.get('mean_counts', '—')} counts (mean per pixel). Patient Krenning "
        f"score {rd.get('krenning_patient')} ({rd.get('krenning_method', 'original scale')})."
    )
    images = rd.get("images") or {}
    lesions = list(rd.get("lesions", []))
    caption = (
        "Anterior and posterior views side by side (posterior as acquired) and their "
        "geometric mean, lesions circled."
    )
    if images.get("planar_views"):
        sec.add_figure(_png(images["planar_views"], caption))
    elif planar is not None:
        sec.add_figure(planar_views_figure(planar, lesions, caption))
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
            [
                [
                    le.get("id"),
                    ", ".join(f"{v:.0f}" for v in le.get("position_mm", [])),
                    le.get("side"),
                    le.get("diameter_mm"),
                    le.get("peak_counts"),
                    le.get("ratio_liver"),
                    le.get("ratio_spleen"),
                    le.get("krenning"),
                ]
                for le in lesions
            ],
            note="Position on the anterior view (rows head to feet, columns to the patient's "
            "left); ratios: background-corrected lesion intensity over the liver's and the "
            "spleen's; Krenning: original planar scale (Krenning et al. 1993).",
        )
    )
    phys = rd.get("physiological") or []
    if phys:
        sec.add_text(
            "Physiological uptake recognised: "
            + ", ".join(str(p.get("organ", p)) if isinstance(p, Mapping) else str(p) for p in phys)
            + "."
        )


def planar_views_figure(planar: Any, lesions: Sequence[Mapping[str, Any]], caption: str) -> Figure:
    """Anterior | posterior (as acquired) | geometric mean, grey scale inverted (black =
    counts, as planar scintigraphy is read), lesions circled at ``position_mm`` (row, col).

    ``planar`` is a :class:`sstrkit.io.planar.PlanarWholeBody`.
    """
    from matplotlib.figure import Figure as MplFigure

    ant = np.asarray(planar.anterior, dtype=float)
    post = np.asarray(planar.posterior, dtype=float)
    gm = np.asarray(planar.geometric_mean(), dtype=float)
    dr, dc = planar.pixel_spacing_mm
    rows, cols = ant.shape
    fig = MplFigure(figsize=(9.0, 7.5))
    axes = fig.subplots(1, 3)
    for ax, img, title, mirrored in (
        (axes[0], ant, "anterior", False),
        (axes[1], post, "posterior (as acquired)", True),
        (axes[2], gm, "geometric mean", False),
    ):
        top = float(np.percentile(img, 99.5)) or 1.0
        ax.imshow(img, cmap="gray_r", vmin=0.0, vmax=top, extent=(0, cols * dc, rows * dr, 0))
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        for le in lesions:
            pos = le.get("position_mm")
            if not pos or len(pos) != 2:
                continue
            r, c = float(pos[0]), float(pos[1])
            c = cols * dc - c if mirrored else c
            radius = max(float(le.get("diameter_mm") or 20.0), 20.0)
            ax.add_patch(Circle((c, r), radius, fill=False, edgecolor="tab:red", linewidth=1.0))
            ax.annotate(str(le.get("id")), (c + radius, r), color="tab:red", fontsize=7)
    axes[0].text(2.0 * dc, 12.0 * dr, "R", fontsize=9)
    axes[1].text(2.0 * dc, 12.0 * dr, "L", fontsize=9)
    return Figure.from_matplotlib(fig, caption)


def _hours(h: Any) -> str:
    """Hours after injection as a person writes them (``24.8 h``), or ``time not recorded``."""
    return "time not recorded" if h is None else f"{float(h):.1f} h"


def _scintigraphy_sections(rep: Report, res: RunResult) -> None:
    """Scintigraphy readings beside the PET one (stage ``scintigraphy``: a reading document
    or ``{"readings": [...]}``) and the PET-vs-scintigraphy lesion concordance (stage
    ``concordance``); nothing when the run has none."""
    stages = _stages(res)
    doc = stages.get("scintigraphy")
    readings = list(doc.get("readings", [doc])) if isinstance(doc, Mapping) else []
    for rd in readings:
        modality = str(rd.get("modality") or "spect")
        sec = rep.section(
            f"{_READING_TITLES.get(modality, 'SSTR scintigraphy reading')} "
            f"({rd.get('tracer') or 'scintigraphy'}, {_hours(rd.get('hours_post_injection'))})"
        )
        if modality == "planar":
            _planar_reading(sec, rd)
        else:
            _volume_reading(sec, rd, "spect")
    conc = stages.get("concordance")
    if isinstance(conc, Mapping) and conc.get("lesions") is not None:
        _concordance(rep, conc)


def _concordance(rep: Report, conc: Mapping[str, Any]) -> None:
    """Lesions seen on PET only, scintigraphy only or both, with their PET size."""
    sec = rep.section("PET versus scintigraphy")
    c = conc.get("counts", {})
    sec.add_text(
        f"{conc.get('scintigraphy_tracer')} {conc.get('scintigraphy_modality')} against "
        f"{conc.get('pet_tracer')} PET: {c.get('both', 0)} lesion(s) on both, "
        f"{c.get('pet_only', 0)} on PET only, {c.get('scintigraphy_only', 0)} on "
        f"scintigraphy only (matched within {conc.get('tolerance_mm')} mm; "
        f"{conc.get('alignment')})."
    )
    sec.add_table(
        TableBlock(
            "Lesions",
            ["status", "PET id", "scint. id", "PET diameter (mm)", "PET SUVmax", "scint. Krenning"],
            [
                [
                    x.get("status"),
                    x.get("pet_id"),
                    x.get("scintigraphy_id"),
                    x.get("pet_diameter_mm"),
                    (x.get("pet") or {}).get("suv_max"),
                    (x.get("scintigraphy") or {}).get("krenning"),
                ]
                for x in conc.get("lesions", [])
            ],
            note="PET diameter: of the sphere of the lesion's PET volume.",
        )
    )
    for n in conc.get("notes", []):
        sec.add_text(str(n))


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
