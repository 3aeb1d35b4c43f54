"""The theranostic report of a run: what a physicist and a physician sign off.

:func:`build_report` turns a :class:`~sstrkit.pipeline.run.RunResult` into a
:class:`~sstrkit.report.document.Report`: patient and study, a data-quality box
(every flag the run raised, the intake notes), SSTR PET reading (MIP, lesion
slices, lesion table), eligibility rule by rule (eligible / not eligible / not
assessed), per-cycle time–activity curves with fits, one headline MIRD dose per
region beside the voxel-based means, status (measured / reduced time points /
estimated) and mass and density source, per-kidney rows, cumulative doses with
their estimated part, the reading lesions linked to the dosimetry VOIs by
overlap, limits and the plan, follow-up, and the methods laid out as the items
of the EANM dosimetry reporting guidance (Lassmann M et al., EANM Dosimetry
Committee guidance document: good practice of clinical dosimetry reporting.
Eur J Nucl Med Mol Imaging 2011;38:192–200). Stages that did not run are listed
with the reason. ``docs/report.md`` describes every section.

:func:`link_lesions` (pure) pairs each reading lesion with the dosimetry region
it overlaps most.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from sstrkit import __version__
from sstrkit.errors import GeometryMismatchError, SstrkitError
from sstrkit.report.document import Figure, Report, Section, TableBlock

if TYPE_CHECKING:
    from sstrkit.pipeline.run import RunResult
    from sstrkit.pipeline.study import Study

__all__ = ["EANM_REPORTING_SOURCE", "build_report", "link_lesions"]

EANM_REPORTING_SOURCE = (
    "Lassmann M, Chiesa C, Flux G, Bardiès M. EANM Dosimetry Committee guidance document: "
    "good practice of clinical dosimetry reporting. Eur J Nucl Med Mol Imaging "
    "2011;38:192-200"
)

#: Data-quality flag kinds as the report names them.
_FLAG_KINDS: Mapping[str, str] = {
    "missing_time_point": "missing time point",
    "missing_ct": "missing CT",
    "activity_mismatch": "administered activity records differ",
    "missing_series": "missing series",
    "estimated_cycle": "cycle estimated (no SPECT)",
    "reduced_timepoints": "reduced time points",
    "cycle_failed": "cycle not processed",
    "dosimetry_note": "dosimetry note",
    "vois": "volumes of interest (automatic organs)",
}


# ------------------------------------------------------------------ lesion linking
def link_lesions(
    reading_labels: NDArray[Any],
    voi_labels: NDArray[Any],
    names: Mapping[str, Sequence[int]],
) -> list[dict[str, Any]]:
    """Each reading lesion with the region of ``names`` it overlaps most.

    Parameters
    ----------
    reading_labels
        The reading's lesion label map (0 = background, lesion id = value).
    voi_labels
        The dosimetry label map on the same grid (same shape).
    names
        Region name → its label values in ``voi_labels`` (e.g. the lesion VOIs).

    Returns
    -------
    One row per reading lesion, by id: ``reading_lesion``, ``voxels`` (its
    size), ``region`` (None without overlap), ``overlap_voxels``,
    ``overlap_fraction`` = overlap / reading lesion voxels, ``region_voxels`` and
    ``dice`` = 2 · overlap / (reading lesion voxels + region voxels). The largest
    overlap wins; a tie goes to the larger Dice, then to the first name.

    Examples
    --------
    >>> import numpy as np
    >>> reading = np.array([[[1, 1, 0, 2]]])
    >>> vois = np.array([[[5, 5, 5, 0]]])
    >>> rows = link_lesions(reading, vois, {"tumour_1": [5]})
    >>> [(r["reading_lesion"], r["region"], r["overlap_voxels"], round(r["dice"], 2))
    ...  for r in rows]
    [(1, 'tumour_1', 2, 0.8), (2, None, 0, 0.0)]
    """
    a = np.asarray(reading_labels)
    b = np.asarray(voi_labels)
    if a.shape != b.shape:
        raise GeometryMismatchError(
            "lesion label maps",
            expected=f"the same shape as the reading labels {a.shape}",
            actual=f"VOI labels of shape {b.shape}",
            fix="resample the VOI label map onto the reading grid (nearest neighbour) first",
        )
    region_values = {n: np.asarray(sorted({int(v) for v in vals})) for n, vals in names.items()}
    voi_values, voi_counts = np.unique(b, return_counts=True)
    count_of = dict(zip(voi_values.tolist(), voi_counts.tolist(), strict=True))
    region_size = {
        n: int(sum(count_of.get(int(v), 0) for v in vals)) for n, vals in region_values.items()
    }
    rows: list[dict[str, Any]] = []
    for lesion_id in (int(v) for v in np.unique(a) if v != 0):
        inside = b[a == lesion_id]
        n = int(inside.size)
        vals, counts = np.unique(inside, return_counts=True)
        here = dict(zip(vals.tolist(), counts.tolist(), strict=True))
        best: tuple[int, float, str] | None = None
        for name, values in region_values.items():
            k = int(sum(here.get(int(v), 0) for v in values))
            if k == 0:
                continue
            dice = 2.0 * k / (n + region_size[name])
            if best is None or (k, dice) > (best[0], best[1]):
                best = (k, dice, name)
        k, dice, name_or_none = best if best is not None else (0, 0.0, None)
        rows.append(
            {
                "reading_lesion": lesion_id,
                "voxels": n,
                "region": name_or_none,
                "overlap_voxels": k,
                "overlap_fraction": k / n if n else 0.0,
                "region_voxels": region_size[name_or_none] if name_or_none is not None else None,
                "dice": dice,
            }
        )
    return rows


# ------------------------------------------------------------------ helpers
def _png(path: str | Path, caption: str) -> Figure:
    return Figure(caption, Path(path).read_bytes())


def _skipped(sec: Section, res: RunResult, stage: str) -> bool:
    """Say why ``stage`` has no result (skipped with a reason, or not run); True then."""
    if stage in res.skipped:
        sec.status = "skipped"
        sec.add_text(f"Not computed: {res.skipped[stage]}")
        return True
    if stage not in res.stages:
        sec.status = "skipped"
        sec.add_text(f"Not computed: the {stage} stage did not run.")
        return True
    return False


def _by_cycle(mapping: Mapping[Any, Any] | None, cycle: int) -> Any:
    """``mapping[cycle]`` whether the keys are ints (in memory) or strings (results.json)."""
    if not mapping:
        return None
    return mapping.get(cycle, mapping.get(str(cycle)))


def _who_grade(clinical: dict[str, Any] | None) -> Any:
    """``diagnosis.who_grade`` of clinical.json, or the diagnosis text itself, or None."""
    diag = (clinical or {}).get("diagnosis")
    if isinstance(diag, dict):
        return diag.get("who_grade")
    return diag if isinstance(diag, str) else None


def _administrations(study: Study, res: RunResult) -> list[dict[str, Any]]:
    """The administrations as used (activity, its source and every record of it)."""
    for stage in ("dosimetry", "import"):
        admins = res.stages.get(stage, {}).get("administrations")
        if admins:
            return list(admins)
    try:
        return [a.to_dict() for a in study.administrations]
    except SstrkitError:
        return []


def _eligibility_headline(elig: Mapping[str, Any]) -> str:
    from sstrkit.reading.eligibility import decision_headline

    return decision_headline(elig)


# ------------------------------------------------------------------ sections
def _summary(rep: Report, study: Study, res: RunResult) -> None:
    sec = rep.section("Patient and study")
    imp = res.stages.get("import", {})
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
            _FLAG_KINDS.get(str(f.get("kind")), f.get("kind")),
            f.get("cycle"),
            f.get("region"),
            f.get("message"),
        ]
        for f in res.data_quality
    ]
    rows += [["stage not computed", None, None, f"{k}: {v}"] for k, v in res.skipped.items()]
    elig = res.stages.get("reading", {}).get("eligibility")
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
    rd = res.stages["reading"]
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
    treated = res.stages.get("import", {}).get("cycles_with_spect", [])
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


# ------------------------------------------------------------------ dosimetry
def _status_text(status: str | None, cyc: Mapping[str, Any], n_times: int = 0) -> str:
    if status == "estimated":
        return f"estimated from cycle {cyc.get('estimated_from_cycle')}"
    if status == "reduced_timepoints":
        return f"reduced time points ({n_times})" if n_times else "reduced time points"
    if status == "no_data":
        return "no data"
    return status or "measured"


def _kind_text(name: str, row: Mapping[str, Any], kinds: Mapping[str, str]) -> str:
    if name == "red marrow":
        return "red marrow (blood)"
    kind = kinds.get(name) or str(row.get("kind", ""))
    return {"organ_part": "organ part"}.get(kind, kind)


def _region_row(
    r: Mapping[str, Any],
    cyc: Mapping[str, Any],
    kinds: Mapping[str, str],
    voxel_rows: Mapping[str, Mapping[str, Any]],
    truth: Mapping[str, float] | None,
    tac: Mapping[str, Any],
) -> list[Any]:
    v = voxel_rows.get(r["name"], {})
    density = r.get("density_g_ml", tac.get("density_g_ml", {}).get(r["name"]))
    row = [
        r["name"],
        _kind_text(r["name"], r, kinds),
        _status_text(r.get("status", cyc.get("status")), cyc, len(tac.get("times_h", []))),
        r.get("model"),
        r.get("t_eff_h"),
        r.get("tia_mbq_h"),
        r.get("mass_g"),
        density,
        r.get("dose_gy"),
        r.get("dose_gy_per_gbq"),
        r.get("dose_relative_sd"),
        v.get("mean_gy"),
        v.get("pvc_mean_gy"),
    ]
    if truth:
        row.append(truth.get(r["name"]))
    return row


_CYCLE_COLUMNS = [
    "region",
    "kind",
    "status",
    "model",
    "T_eff (h)",
    "TIA (MBq·h)",
    "mass (g)",
    "density (g/mL)",
    "MIRD dose (Gy)",
    "dose (Gy/GBq)",
    "rel. SD",
    "voxel mean (Gy)",
    "voxel PVC mean (Gy)",
]


def _cycle_table(dos: Mapping[str, Any], cyc: Mapping[str, Any]) -> TableBlock:
    c = int(cyc["cycle"])
    kinds = dos.get("regions", {}).get("kinds", {})
    tac = _by_cycle(dos.get("region_tacs"), c) or {}
    vox = _by_cycle(dos.get("voxel"), c) or {}
    voxel_rows = {r["name"]: r for r in vox.get("regions", [])}
    parts = _by_cycle(dos.get("per_kidney"), c) or []
    truth = dos.get("truth_total_gy", {}).get(str(c), {})
    rows = []
    for r in cyc.get("regions", []):
        rows.append(_region_row(r, cyc, kinds, voxel_rows, truth, tac))
        if r["name"] == "kidneys":
            rows += [_region_row(p, cyc, kinds, voxel_rows, truth, tac) for p in parts]
    marrow = vox.get("marrow_image")
    if marrow:
        act_mbq = cyc.get("activity_mbq")
        row: list[Any] = [
            "red marrow (image, L2-L4 VOI)",
            "organ",
            "measured",
            "voxel mean in VOI",
            None,
            None,
            None,
            None,
            marrow["dose_gy"],
            marrow["dose_gy"] / (float(act_mbq) / 1000.0) if act_mbq else None,
            None,
            marrow["dose_gy"],
            None,
        ]
        if truth:
            row.append(None)
        rows.append(row)
    status = cyc.get("status", "measured")
    if status == "estimated":
        how = (
            f"estimated from cycle {cyc.get('estimated_from_cycle')}: no post-therapy SPECT; "
            "that cycle's dose per activity × this cycle's activity"
        )
    else:
        times = ", ".join(f"{t:g}" for t in tac.get("times_h", []))
        how = f"SPECT at {times} h p.i." if times else "SPECT"
        if status == "reduced_timepoints":
            how = "reduced time points: " + how
    densities = sorted(
        {str(r["density_source"]) for r in cyc.get("regions", []) if r.get("density_source")}
    )
    method = tac.get("recovery_method")
    fwhm = tac.get("spect_fwhm_mm")
    if method:
        activities = str(method) + (f" (SPECT FWHM {fwhm:g} mm)" if fwhm else "")
    else:
        activities = "not measured in this cycle (doses estimated, see the caption)"
    note = (
        "MIRD dose: the headline absorbed dose of each region (MIRD schema: self and cross "
        f"doses from the fitted, integrated region activities). Region activities: {activities}"
        + ". Voxel mean: mean of the voxel dose map in the VOI; voxel PVC mean: the same after "
        "partial-volume correction of the voxel dose. Mass: VOI volume × density"
        + (f" (density: {'; '.join(densities)})" if densities else "")
        + ". rel. SD: relative standard deviation of the dose (fit uncertainty). Red marrow: "
        "EANM blood method (TIA per mL of blood)"
        + (
            "; beside it, the image-based red-marrow dose: mean voxel dose in the spongiosa of "
            "L2-L4 (automatic VOI; spill-in from kidneys and lesions and skeletal metastases "
            "bias it; Hagmarker et al. 2019) — the planning limit uses the blood method"
            if marrow
            else ""
        )
        + "."
    )
    columns = list(_CYCLE_COLUMNS)
    if truth:
        columns.append("truth (Gy)")
        note += " 'truth': the digital patient's reference dose (electrons local + photon "
        note += "self-dose), shown only for it."
    act = cyc.get("activity_mbq")
    return TableBlock(
        f"Cycle {c}: region kinetics and absorbed dose"
        + (f" ({act:.0f} MBq {cyc.get('nuclide', '')})" if act is not None else "")
        + f" — {how}",
        columns,
        rows,
        note=note,
    )


def _cumulative_table(dos: Mapping[str, Any]) -> TableBlock:
    ol = dos["organ_level"]
    cum: Mapping[str, float] = ol.get("cumulative_dose_gy", {})
    est: Mapping[str, float] = ol.get("cumulative_estimated_gy", {})
    kidney_cum: dict[str, float] = {}
    kidney_est: dict[str, float] = {}
    for c in ol.get("cycles", []):
        for p in _by_cycle(dos.get("per_kidney"), int(c["cycle"])) or []:
            kidney_cum[p["name"]] = kidney_cum.get(p["name"], 0.0) + float(p["dose_gy"])
            if p.get("status", c.get("status")) == "estimated":
                kidney_est[p["name"]] = kidney_est.get(p["name"], 0.0) + float(p["dose_gy"])
    rows: list[list[Any]] = []

    def row(name: str, total: float, estimated: float) -> list[Any]:
        return [
            name,
            total,
            total - estimated,
            estimated,
            100.0 * estimated / total if total > 0 else None,
        ]

    for name, total in cum.items():
        rows.append(row(name, float(total), float(est.get(name, 0.0))))
        if name == "kidneys":
            rows += [row(k, v, kidney_est.get(k, 0.0)) for k, v in kidney_cum.items()]
    n = len(ol.get("cycles", []))
    est_cycles = [c["cycle"] for c in ol.get("cycles", []) if c.get("status") == "estimated"]
    return TableBlock(
        f"Cumulative absorbed dose over {n} cycle(s)",
        ["region", "cumulative (Gy)", "measured part (Gy)", "estimated part (Gy)", "estimated (%)"],
        rows,
        note=(
            f"Cycles {est_cycles} had no post-therapy SPECT: their doses are estimated (dose "
            "per activity of another cycle × their activity) and included, never left out."
            if est_cycles
            else "Every cycle measured: no estimated part."
        ),
    )


def _dosimetry(rep: Report, study: Study, res: RunResult) -> None:
    sec = rep.section("Dosimetry per cycle")
    if _skipped(sec, res, "dosimetry"):
        return
    dos = res.stages["dosimetry"]
    sec.add_text(
        "Post-therapy 177Lu SPECT/CT at each time point; regions from "
        f"{dos['voi_source']}. Region activities per time point: "
        f"{_pv_method(dos)}; they are fitted per region (weighted least squares, AICc "
        "selection), integrated to infinity and converted to absorbed dose with MIRD self and "
        "cross doses (the headline dose of each region); the voxel dose map gives the voxel "
        "means beside it. Red marrow by the EANM blood method."
    )
    if dos["problems"]:
        sec.status = "partial"
        sec.add_table(
            TableBlock("Cycles not processed", ["cycle", "reason"], list(dos["problems"].items()))
        )
    _tac_figures(sec, res)
    for cyc in dos["organ_level"]["cycles"]:
        if cyc.get("status") == "no_data" or not cyc.get("regions"):
            sec.add_text(f"Cycle {cyc['cycle']}: no data (no SPECT and no cycle to estimate from).")
            continue
        if cyc.get("status") in ("estimated", "reduced_timepoints"):
            sec.status = "partial"
        sec.add_table(_cycle_table(dos, cyc))
    sec.add_table(_cumulative_table(dos))
    _voi_transfer(sec, dos)
    _voxel(sec, res, dos)


def _pv_method(dos: Mapping[str, Any]) -> str:
    tacs = dos.get("region_tacs", {})
    first = tacs[min(tacs, key=int)] if tacs else {}
    fwhm = first.get("spect_fwhm_mm")
    method = first.get("recovery_method", "not recorded")
    return f"{method} (SPECT FWHM {fwhm} mm)" if fwhm else str(method)


def _voi_transfer(sec: Section, dos: Mapping[str, Any]) -> None:
    """How the VOIs reached each cycle's SPECT/CT and how the time points were aligned."""
    rows = []
    for key in sorted(dos.get("voxel", {}), key=int):
        vx = dos["voxel"][key]
        reg = vx.get("voi_registration") or {}
        tps = vx.get("registrations") or []
        shifts = [float(np.linalg.norm(t.get("translation_mm", [0, 0, 0]))) for t in tps]
        rows.append(
            [
                int(key),
                vx.get("parameters", {}).get("voi_source") or reg.get("from"),
                _vec(reg.get("translation_mm")) if reg else "same scan (none)",
                _vec(reg.get("rotation_deg")) if reg else None,
                (
                    f"{reg['ncc_before']:.3f} → {reg['ncc_after']:.3f}"
                    if reg.get("ncc_before") is not None and reg.get("ncc_after") is not None
                    else None
                ),
                reg.get("acceptable"),
                f"{len(tps)} rigid CT→CT, max shift {max(shifts):.1f} mm" if shifts else None,
            ]
        )
    if rows:
        sec.add_table(
            TableBlock(
                "VOI transfer and time-point registration",
                [
                    "cycle",
                    "VOIs from",
                    "VOI translation x, y, z (mm)",
                    "VOI rotation (°)",
                    "CT NCC before → after",
                    "acceptable",
                    "time points",
                ],
                rows,
                note="The VOI label map follows a rigid CT→CT registration onto the cycle's "
                "reference SPECT/CT (nearest neighbour); the other time points are registered "
                "to it and their SPECTs resampled conserving activity.",
            )
        )


def _on_off(flag: Any) -> str:
    return "not recorded" if flag is None else ("on" if flag else "off")


def _vec(v: Sequence[float] | None) -> str | None:
    return None if v is None else ", ".join(f"{x:.1f}" for x in v)


def _tac_figures(sec: Section, res: RunResult) -> None:
    """One time–activity figure per cycle with dosimetry (the fits behind the tables)."""
    case = res.artefacts.get("case")
    if case is None:
        return
    from sstrkit.report.figures import TacCurve, tac_figure
    from sstrkit.therapy.planning import cycle_dosimetry

    for admin in sorted(case.administrations, key=lambda a: a.cycle):
        cd = cycle_dosimetry(case, admin)
        if cd is None:
            continue
        curves = [
            TacCurve(
                name,
                case.region(name, admin.id).times_h,
                case.region(name, admin.id).activity_mbq,
                rd.fit,
            )
            for name, rd in cd.regions.items()
            if name != "red marrow"
        ]
        if curves:
            sec.add_figure(
                tac_figure(curves, f"Time–activity curves, cycle {admin.cycle}", log_y=True)
            )


def _voxel(sec: Section, res: RunResult, dos: Mapping[str, Any]) -> None:
    if not dos["voxel"]:
        return
    kinds = dos.get("regions", {}).get("kinds", {})
    first = min(dos["voxel"], key=int)
    vx = dos["voxel"][first]
    sec.add_table(
        TableBlock(
            f"Voxel dosimetry, cycle {first}: dose–volume metrics",
            [
                "region",
                "kind",
                "volume (mL)",
                "mean (Gy)",
                "PVC mean (Gy)",
                "D2 (Gy)",
                "D50 (Gy)",
                "D90 (Gy)",
                "max (Gy)",
                "truth mean (Gy)",
            ],
            [
                [
                    r["name"],
                    _kind_text(r["name"], r, kinds),
                    r["volume_ml"],
                    r["mean_gy"],
                    r.get("pvc_mean_gy"),
                    r.get("d2_gy"),
                    r.get("d50_gy"),
                    r.get("d90_gy"),
                    r["max_gy"],
                    r.get("truth_mean_gy"),
                ]
                for r in vx["regions"]
                if kinds.get(r["name"], "organ") in ("organ", "organ_part", "lesion")
            ],
            note=f"Method: {vx['parameters'].get('method')} (voxel S-value kernel from the "
            f"ICRP-107 spectrum), voxel TIA {vx['parameters'].get('tia_method')}, CT density "
            f"correction {_on_off(vx['parameters'].get('density_correction'))}, partial-volume "
            "correction "
            f"{vx['parameters'].get('pvc')}. DICOM RTDOSE: {Path(vx.get('rtdose', '')).name}.",
        )
    )
    for note in vx.get("notes", []):
        sec.add_text(f"Voxel dosimetry note (cycle {first}): {note}")
    dose = res.artefacts.get("dose_map")
    if dose is not None:
        from sstrkit.report.figures import dose_overlay_figure, dvh_figure

        ct = res.artefacts.get("dose_ct")
        sec.add_figure(dose_overlay_figure(dose, ct, title=f"Absorbed dose, cycle {first}"))
        dvhs = res.artefacts.get("dvhs", ())
        keep = [d for d in dvhs if kinds.get(d.name) == "organ"][:3]
        keep += [d for d in dvhs if kinds.get(d.name) == "lesion"][:4]
        if keep:
            sec.add_figure(dvh_figure(keep, f"Cumulative DVH, cycle {first}"))


# ------------------------------------------------------------------ lesion links
def _voi_on_reading_grid(study: Study, res: RunResult, lesions: Any) -> tuple[NDArray[Any], str]:
    """The study's VOI label map on the reading's lesion grid, and how it got there."""
    src = study.label_source_for_baseline()
    pet_ct = study.series("pet_ct")
    reading = res.artefacts.get("reading")
    ct = getattr(reading, "ct_on_pet_grid", None)
    ct_uid = pet_ct["series_uid"] if pet_ct else None
    registered = src.ct_path is not None and ct is not None and src.ct_series_uid != ct_uid
    labels = study.labels_on(lesions, ct if registered else None, ct_uid=ct_uid)
    how = (
        f"{src.description}: its CT registered (rigid) to the PET/CT, labels by nearest neighbour"
        if registered
        else f"{src.description}: resampled onto the PET grid by patient coordinates (nearest "
        "neighbour)"
    )
    return labels, how


def _lesion_links(rep: Report, study: Study, res: RunResult) -> None:
    sec = rep.section("Reading lesions and dosimetry VOIs")
    if "reading" not in res.stages:
        sec.status = "skipped"
        sec.add_text("Not linked: the SSTR PET reading did not run.")
        return
    path = res.files.get("lesions_nifti")
    if not path or not Path(path).is_file():
        sec.status = "skipped"
        sec.add_text("Not linked: the reading's lesion label map was not written.")
        return
    from sstrkit.io.nifti import read_nifti

    try:
        rmap = study.region_map
        regions = {n: v for n, v in rmap.regions.items() if rmap.kinds.get(n) == "lesion"}
        if not regions:
            sec.add_text("The study's VOIs hold no lesion: nothing to link.")
            return
        lesions = read_nifti(path)
        voi, how = _voi_on_reading_grid(study, res, lesions)
        links = link_lesions(np.asarray(lesions.array), voi, regions)
    except (SstrkitError, OSError) as exc:
        sec.status = "partial"
        msg = exc.one_line() if isinstance(exc, SstrkitError) else f"{type(exc).__name__}: {exc}"
        sec.add_text(f"Not linked: {msg}")
        return
    dos = res.stages.get("dosimetry", {})
    cycles = dos.get("organ_level", {}).get("cycles", [])
    doses = {
        int(c["cycle"]): {r["name"]: r.get("dose_gy") for r in c.get("regions", [])} for c in cycles
    }
    cum = dos.get("organ_level", {}).get("cumulative_dose_gy", {})
    reading = {int(le["id"]): le for le in res.stages["reading"].get("lesions", [])}
    rows = []
    for link in links:
        le = reading.get(link["reading_lesion"], {})
        name = link["region"]
        rows.append(
            [
                link["reading_lesion"],
                le.get("organ"),
                le.get("suv_max"),
                le.get("volume_ml"),
                name if name is not None else "— (no dosimetry lesion VOI)",
                link["overlap_fraction"] if name is not None else None,
                link["dice"] if name is not None else None,
                *[doses[c].get(name) if name else None for c in sorted(doses)],
                cum.get(name) if name else None,
            ]
        )
    sec.add_table(
        TableBlock(
            "Each reading lesion and the dosimetry lesion VOI it overlaps most",
            [
                "reading lesion",
                "organ",
                "SUVmax",
                "volume (mL)",
                "dosimetry VOI",
                "overlap (fraction of lesion)",
                "Dice",
                *[f"dose cycle {c} (Gy)" for c in sorted(doses)],
                "cumulative (Gy)",
            ],
            rows,
            note=f"VOIs: {how}. Overlap: voxels shared with the VOI / voxels of the reading "
            "lesion; Dice = 2 × shared / (lesion + VOI voxels). Doses: the MIRD region dose "
            "of that VOI.",
        )
    )
    linked = {link["region"] for link in links}
    unlinked = [n for n in regions if n not in linked]
    if unlinked:
        sec.add_text(
            "Dosimetry lesion VOIs that no reading lesion overlaps most: "
            + ", ".join(unlinked)
            + " (below the reading's detection threshold, or merged with another lesion)."
        )


# ------------------------------------------------------------------ planning
def _planning(rep: Report, res: RunResult) -> None:
    sec = rep.section("Limits and planning")
    if "planning" in res.skipped:
        sec.status = "skipped"
        reason = res.skipped["planning"]
        sec.add_text(f"No plan: {reason}.")
        if reason.startswith("planning needs both limiting organs"):
            sec.add_text(
                "The kidney and red-marrow limits are each checked only with both doses known: "
                "a plan from one of them could exceed the other's limit. No activity is "
                "recommended; the doses above are unaffected. Add the missing data and rerun."
            )
        return
    if _skipped(sec, res, "planning"):
        return
    plan = res.stages["planning"]
    run, first = plan["running"], plan["after_cycle_1"]
    from sstrkit.report.figures import LimitBar, limits_figure

    bars = []
    for con in run["constraints"]:
        organ = con["organ"]
        proj = run["projected"].get(organ, {})
        key = "bed_gy" if con["criterion"] == "bed" else "absorbed_gy"
        bars.append(
            LimitBar(
                organ,
                "BED" if con["criterion"] == "bed" else "absorbed dose",
                con["delivered_gy"],
                proj.get(key),
                con["limit_gy"],
                proj.get("absorbed_sd_gy"),
            )
        )
    if bars:
        sec.add_figure(limits_figure(bars))
    sec.add_table(
        TableBlock(
            "Limits (all cycles with dosimetry)",
            [
                "organ",
                "criterion",
                "limit (Gy)",
                "delivered (Gy)",
                "per standard cycle (Gy)",
                "max safe cumulative activity (MBq)",
                "conservative (MBq)",
                "source",
            ],
            [
                [
                    c["organ"],
                    c["criterion"],
                    c["limit_gy"],
                    c["delivered_gy"],
                    c["per_standard_cycle_gy"],
                    c["max_cumulative_activity_mbq"],
                    c["max_cumulative_activity_conservative_mbq"],
                    c["source"],
                ]
                for c in run["constraints"]
            ],
        )
    )
    delivered = run.get("delivered", {})
    if delivered.get("absorbed_gy"):
        bed = delivered.get("bed_gy", {})
        sec.add_table(
            TableBlock(
                f"Delivered over {delivered.get('cycles')} cycles "
                f"({delivered.get('activity_mbq', 0.0) / 1000:.1f} GBq)",
                ["region", "absorbed dose (Gy)", "BED (Gy)"],
                [[k, v, bed.get(k)] for k, v in delivered["absorbed_gy"].items()],
                note="BED: linear-quadratic model with the Lea–Catcheside factor of each "
                "cycle's kinetics, complete repair between cycles (α/β and repair half-times "
                "in the methods); '—' where no radiobiological parameters apply.",
            )
        )
    sec.add_kv(
        "Plan after cycle 1 (what the clinic decides after the first dosimetry)",
        {
            "limiting organ": first.get("limiting_organ"),
            "max safe cumulative activity (GBq)": _gbq(
                first.get("max_safe_cumulative_activity_mbq")
            ),
            "max safe cumulative activity, conservative (GBq)": _gbq(
                first.get("max_safe_cumulative_activity_conservative_mbq")
            ),
            "recommended cycles in total": first.get("recommended_cycles_total"),
            "next cycle activity (GBq)": _gbq(first.get("next_cycle_activity_mbq")),
        },
    )
    sec.add_table(
        TableBlock(
            "Projected cumulative doses of the plan after cycle 1",
            ["region", "absorbed (Gy)", "SD (Gy)", "Gy/GBq", "BED (Gy)", "EQD2 (Gy)"],
            [
                [
                    k,
                    v.get("absorbed_gy"),
                    v.get("absorbed_sd_gy"),
                    v.get("dose_gy_per_gbq"),
                    v.get("bed_gy"),
                    v.get("eqd2_gy"),
                ]
                for k, v in first["projected"].items()
            ],
        )
    )
    if first.get("advisor"):
        sec.add_table(
            TableBlock(
                "Radionuclide advisor per lesion (sphere model)",
                [
                    "lesion",
                    "mass (g)",
                    "radius (mm)",
                    "φe 177Lu",
                    "φe 90Y",
                    "S 177Lu (mGy/(MBq·h))",
                    "S 90Y (mGy/(MBq·h))",
                    "suggested",
                ],
                [
                    [
                        r.get("lesion"),
                        r.get("mass_g"),
                        r.get("radius_mm"),
                        r.get("electron_absorbed_fraction_lu177"),
                        r.get("electron_absorbed_fraction_y90"),
                        _mgy_per_mbq_h(r.get("s_gy_per_bq_s_lu177")),
                        _mgy_per_mbq_h(r.get("s_gy_per_bq_s_y90")),
                        r.get("suggested"),
                    ]
                    for r in first["advisor"]
                ],
                note="φe: electron absorbed fraction of a uniform sphere of the lesion's mass; "
                "90Y's longer β range favours large lesions, 177Lu small ones (review §5).",
            )
        )
    for w in first.get("warnings", []):
        sec.add_text(f"Note: {w}")
    sec.add_text("Assumptions: " + " ".join(first.get("assumptions", [])))


def _gbq(mbq: float | None) -> float | None:
    return None if mbq is None else mbq / 1000.0


def _mgy_per_mbq_h(gy_per_bq_s: float | None) -> float | None:
    """Gy/(Bq·s) → mGy/(MBq·h): × 1e3 (mGy) × 1e6 (per MBq) × 3600 (per h)."""
    return None if gy_per_bq_s is None else gy_per_bq_s * 1e3 * 1e6 * 3600.0


# ------------------------------------------------------------------ follow-up
def _followup(rep: Report, study: Study, res: RunResult) -> None:
    sec = rep.section("Follow-up: response and toxicity")
    if _skipped(sec, res, "follow-up"):
        return
    fu = res.stages["follow-up"]
    ch = fu.get("lesion_uptake_change")
    if ch and ch.get("status") == "not_assessed":
        sec.status = "partial"
        sec.add_text(f"Lesion uptake change not assessed: it needs {ch.get('needs')}.")
    elif ch:
        _uptake_change(sec, ch)
    tox = fu.get("toxicity")
    if tox:
        pat = tox["patients"][0]
        sec.add_kv("Worst CTCAE v5.0 grade", dict(pat.get("worst_grade", {})))
        labs = fu.get("labs", [])
        if labs:
            _lab_timeline(sec, study, labs)


def _uptake_change(sec: Section, ch: Mapping[str, Any]) -> None:
    th = ch.get("time_point_h")
    sec.add_text(
        str(ch.get("method", "Lesion uptake change"))
        + (f" ({th:.0f} h after injection)." if th is not None else ".")
    )
    if not ch.get("lesions"):
        sec.add_text(
            f"No lesion was measured in both cycle {ch.get('first_cycle')} and cycle "
            f"{ch.get('last_cycle')} at a common time after injection."
        )
        return
    from sstrkit.report.figures import waterfall_figure

    sec.add_table(
        TableBlock(
            f"Lesion uptake, cycle {ch['first_cycle']} vs cycle {ch['last_cycle']}",
            ["lesion", "first (MBq)", "last (MBq)", "change (%)"],
            [
                [
                    r["lesion"],
                    r["uptake_cycle_first_mbq"],
                    r["uptake_cycle_last_mbq"],
                    r["change_pct"],
                ]
                for r in ch["lesions"]
            ],
        )
    )
    changes = {r["lesion"]: r["change_pct"] for r in ch["lesions"] if r["change_pct"] is not None}
    if changes:
        sec.add_figure(waterfall_figure(changes, "Change in lesion uptake (%)"))


def _lab_timeline(sec: Section, study: Study, labs: Sequence[Mapping[str, Any]]) -> None:
    from sstrkit.report.figures import timeline_figure

    names = {
        "platelets_1e9_l": "platelets (10^9/L)",
        "haemoglobin_g_dl": "haemoglobin (g/dL)",
        "wbc_1e9_l": "white cells (10^9/L)",
        "creatinine_umol_l": "creatinine (µmol/L)",
    }
    series: dict[str, list[tuple[_dt.datetime, float]]] = {}
    for rec in labs:
        t = _dt.datetime.fromisoformat(rec["time"])
        for key, label in names.items():
            if rec.get(key) is not None:
                series.setdefault(label, []).append((t, float(rec[key])))
    admins = [
        (_dt.datetime.fromisoformat(a["time"]), a["activity_bq"] / 1e9, f"C{a['cycle']}")
        for a in (study.clinical or {}).get("administrations", [])
        if a.get("cycle")
    ]
    sec.add_figure(
        timeline_figure(
            admins,
            series,
            {
                k: v
                for k, v in {
                    "platelets (10^9/L)": 75.0,
                    "haemoglobin (g/dL)": 8.0,
                    "white cells (10^9/L)": 2.0,
                }.items()
                if k in series
            },
        )
    )


# ------------------------------------------------------------------ methods
def _spect_entries(study: Study) -> list[dict[str, Any]]:
    entries = study.manifest.get("series", {}).get("spect", [])
    return [e for e in entries if isinstance(e, dict)]


def _quantification_item(study: Study) -> str:
    spects = _spect_entries(study)
    if not spects:
        return "no post-therapy SPECT in the manifest"
    units = sorted({str(e.get("units") or "not given") for e in spects})
    cal = sorted(
        {float(e["calibration_cps_per_mbq"]) for e in spects if e.get("calibration_cps_per_mbq")}
    )
    text = f"SPECT voxel units {', '.join(units)}"
    if cal:
        text += f"; calibration factor {', '.join(f'{c:g}' for c in cal)} cps/MBq (manifest)"
    else:
        text += "; calibration factor: as applied by the scanner's quantitative reconstruction"
    quantitative = all(
        str(e.get("units") or "").upper() in ("BQML", "BQ/ML")
        or str(e.get("units") or "").startswith("Bq/mL")
        for e in spects
    )
    if not quantitative:
        text += " (not all in Bq/mL: check the calibration)"
    return text + ". Activity in a VOI = Σ voxel Bq/mL × voxel volume."


def _acquisition_item(study: Study) -> str:
    spects = _spect_entries(study)
    per_cycle: dict[int, list[float]] = {}
    for e in spects:
        per_cycle.setdefault(int(e.get("cycle", 0)), []).append(
            float(e.get("hours_post_injection", 0))
        )
    parts = [
        f"cycle {c}: {', '.join(f'{h:g}' for h in sorted(hs))} h p.i."
        for c, hs in sorted(per_cycle.items())
    ]
    durations = sorted(
        {float(e["acquisition_duration_s"]) for e in spects if e.get("acquisition_duration_s")}
    )
    windows = {
        f"{w.get('lower_kev'):g}-{w.get('upper_kev'):g} keV"
        for e in spects
        for w in e.get("energy_windows") or []
        if w.get("lower_kev") is not None and w.get("upper_kev") is not None
    }
    text = "Time points " + ("; ".join(parts) if parts else "none")
    if durations:
        text += f"; acquisition {', '.join(f'{d:g}' for d in durations)} s"
    if windows:
        text += f"; energy windows {', '.join(sorted(windows))}"
    return text + "."


def _reconstruction_item(study: Study, dos: Mapping[str, Any]) -> str:
    spects = _spect_entries(study)
    descriptions = sorted(
        {str(e["series_description"]) for e in spects if e.get("series_description")}
    )
    fwhm = sorted({float(e["fwhm_mm"]) for e in spects if e.get("fwhm_mm")})
    text = (
        "Reconstructed images as exported by the scanner (algorithm, iterations/subsets, "
        "attenuation and scatter corrections are not recorded in the manifest; "
        + (f"series: {'; '.join(descriptions[:4])}" if descriptions else "no series description")
        + "). "
    )
    text += (
        f"System resolution (FWHM) {', '.join(f'{f:g}' for f in fwhm)} mm from the manifest."
        if fwhm
        else "System resolution (FWHM) not set: no partial-volume correction."
    )
    tacs = dos.get("region_tacs", {})
    methods = sorted(
        {str(t.get("recovery_method")) for t in tacs.values() if t.get("recovery_method")}
    )
    if methods:
        text += " Partial-volume correction: " + "; ".join(methods) + "."
    return text


def _voi_item(dos: Mapping[str, Any]) -> str:
    vox = dos.get("voxel", {})
    parts = []
    for key in sorted(vox, key=int):
        vx = vox[key]
        reg = vx.get("voi_registration") or {}
        src = vx.get("parameters", {}).get("voi_source") or reg.get("from")
        if reg:
            parts.append(
                f"cycle {int(key)}: {src}, rigid CT→CT transfer (translation "
                f"{_vec(reg.get('translation_mm'))} mm, rotation {_vec(reg.get('rotation_deg'))}°"
                f"{', deformable' if reg.get('deformable') else ''})"
            )
        else:
            parts.append(f"cycle {int(key)}: {src}, drawn on the same scan (no transfer)")
    return f"{dos.get('voi_source')}. " + "; ".join(parts) + ("." if parts else "")


def _fit_item(dos: Mapping[str, Any]) -> str:
    cycles = [
        c
        for c in dos.get("organ_level", {}).get("cycles", [])
        if c.get("status") in ("measured", "reduced_timepoints")
    ]
    text = (
        "Per region: mono-, bi- or tri-exponential (or trapezoid) by weighted least squares and "
        "AICc selection, integrated analytically to infinity; fewer than 3 time points: "
        "single-time-point method with another cycle's kinetics."
    )
    if cycles:
        c = cycles[0]
        models = "; ".join(
            f"{r['name']} {r.get('model')}"
            + (f" (T_eff {r['t_eff_h']:.1f} h)" if r.get("t_eff_h") is not None else "")
            for r in c.get("regions", [])
        )
        text += f" Cycle {c['cycle']}: {models}."
    return text


def _dose_item(dos: Mapping[str, Any]) -> str:
    densities = sorted(
        {
            str(r["density_source"])
            for c in dos.get("organ_level", {}).get("cycles", [])
            for r in c.get("regions", [])
            if r.get("density_source")
        }
    )
    return (
        "MIRD schema (MIRD Pamphlet 21): self-electron (local, or sphere model for lesions) "
        "and photon self and cross doses from ICRP-107 emissions with NIST μ_en; red marrow by "
        "the EANM blood method (Hindorf et al. 2010). Masses: VOI volume on CT × density"
        + (f" ({'; '.join(densities)})" if densities else "")
        + ". Voxel dose: voxel S-value kernel convolution with CT density correction."
    )


def _uncertainty_item(res: RunResult, dos: Mapping[str, Any]) -> str:
    sds = [
        float(r["dose_relative_sd"])
        for c in dos.get("organ_level", {}).get("cycles", [])
        for r in c.get("regions", [])
        if r.get("dose_relative_sd") is not None
    ]
    case = res.artefacts.get("case")
    extra = getattr(getattr(case, "planning", None), "extra_dose_relative_sd", None)
    cv = getattr(getattr(case, "planning", None), "kinetics_cv", None)
    text = "Relative SD of each region dose (rel. SD in the tables): the TIA fit uncertainty"
    text += f" (measurement CV {cv:g})" if cv is not None else ""
    text += (
        f" combined with an extra {extra:g} (case file)" if extra else " only (no extra term set)"
    )
    if sds:
        text += f"; range {100 * min(sds):.1f}–{100 * max(sds):.1f} %"
    return (
        text + ". Calibration, VOI and S-value uncertainties are not propagated (EANM "
        "uncertainty guidance: Gear et al. EJNMMI 2018;45:2456)."
    )


def _eanm_items(study: Study, res: RunResult) -> list[list[str]]:
    dos = res.stages.get("dosimetry")
    admins = _administrations(study, res)
    admin_text = (
        "; ".join(
            f"cycle {a.get('cycle')}: {a.get('activity_bq', 0.0) / 1e6:.0f} MBq "
            f"{a.get('agent')} ({a.get('source')})"
            for a in admins
        )
        or "not recorded"
    )
    rows = [["Radiopharmaceutical and administered activity", admin_text]]
    rows.append(["Calibration and SPECT quantification", _quantification_item(study)])
    rows.append(["Acquisition (time points)", _acquisition_item(study)])
    if dos is None:
        reason = res.skipped.get("dosimetry", "not run")
        rows.append(["Reconstruction and corrections", _reconstruction_item(study, {})])
        rows += [
            [item, f"no dosimetry: {reason}"]
            for item in (
                "VOI definition and transfer",
                "Fit model and integration",
                "S values, masses and dose calculation",
                "Uncertainty",
            )
        ]
    else:
        rows += [
            ["Reconstruction and corrections", _reconstruction_item(study, dos)],
            ["VOI definition and transfer", _voi_item(dos)],
            ["Fit model and integration", _fit_item(dos)],
            ["S values, masses and dose calculation", _dose_item(dos)],
            ["Uncertainty", _uncertainty_item(res, dos)],
        ]
    rows.append(
        ["Software", f"sstrkit {__version__}; nuclear data ICRP Publication 107 (icrp107-database)"]
    )
    return rows


def _methods(rep: Report, study: Study, res: RunResult) -> None:
    sec = rep.section("Methods and provenance")
    sec.add_table(
        TableBlock(
            "Dosimetry reporting items (EANM guidance)",
            ["item", "this study"],
            _eanm_items(study, res),
            note=f"Items of {EANM_REPORTING_SOURCE}, filled from this run's manifest and results.",
        )
    )
    sec.add_kv(
        "Software and data",
        {
            "sstrkit version": __version__,
            "nuclear data": "ICRP Publication 107 (icrp107-database)",
            "SUV": "QIBA FDG-PET/CT profile conventions (body weight)",
            "kinetics": "weighted least squares, AICc model selection, analytic integration",
            "organ dose": "MIRD schema; self-electron local or sphere model, photon self and "
            "cross by μ_en-based approximations (NIST SRD 126)",
            "red marrow": "EANM blood-based method (Hindorf et al. 2010)",
            "BED": "linear-quadratic model with Lea–Catcheside incomplete repair",
            "voxel dose": "voxel S-value kernel convolution (FFT), CT density correction",
        },
    )
    sec.add_table(
        TableBlock(
            "Stage timings",
            ["stage", "time (s)"],
            [[k, v] for k, v in res.timings_s.items()],
        )
    )
    sec.add_table(TableBlock("Output files", ["file", "path"], list(res.files.items())))


def build_report(study: Study, res: RunResult) -> Report:
    """Assemble the report of a run."""
    pat = study.manifest.get("patient", {})
    rep = Report(
        title="SSTR theranostic report",
        subtitle=f"Patient {pat.get('id', '—')} · study {study.root.name} · sstrkit {__version__}",
    )
    _summary(rep, study, res)
    _data_quality(rep, res)
    _reading(rep, res)
    _dosimetry(rep, study, res)
    _lesion_links(rep, study, res)
    _planning(rep, res)
    _followup(rep, study, res)
    _methods(rep, study, res)
    return rep
