"""The theranostic report of a run: what a physicist and a physician sign off.

:func:`build_report` turns a :class:`~sstrkit.pipeline.run.RunResult` into a
:class:`~sstrkit.report.document.Report`: patient and study, SSTR PET reading
(MIP, lesion slices, lesion table), eligibility rule by rule, per-cycle
time–activity curves with fits, dose maps over CT and DVHs, organ and lesion
doses and BEDs with uncertainties, cumulative kidney and marrow values against
their limits, the plan, follow-up, methods and provenance. Stages that did not
run are listed with the reason.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sstrkit import __version__
from sstrkit.report.document import Figure, Report, Section, TableBlock

if TYPE_CHECKING:
    from sstrkit.pipeline.run import RunResult
    from sstrkit.pipeline.study import Study

__all__ = ["build_report"]


def _png(path: str | Path, caption: str) -> Figure:
    return Figure(caption, Path(path).read_bytes())


def _skipped(sec: Section, res: RunResult, stage: str) -> bool:
    if stage in res.skipped:
        sec.status = "skipped"
        sec.add_text(f"Not computed: {res.skipped[stage]}")
        return True
    return False


def _who_grade(clinical: dict[str, Any] | None) -> Any:
    """``diagnosis.who_grade`` of clinical.json, or the diagnosis text itself, or None."""
    diag = (clinical or {}).get("diagnosis")
    if isinstance(diag, dict):
        return diag.get("who_grade")
    return diag if isinstance(diag, str) else None


def _summary(rep: Report, study: Study, res: RunResult) -> None:
    sec = rep.section("Patient and study")
    imp = res.stages.get("import", {})
    pat = imp.get("patient", study.manifest.get("patient", {}))
    case_pat = (study.case or {}).get("patient", {})
    sec.add_kv(
        "Patient",
        {
            "patient ID": pat.get("id"),
            "sex": pat.get("sex"),
            "age (y)": case_pat.get("age_y"),
            "height (cm)": pat.get("height_cm"),
            "weight (kg)": pat.get("weight_kg"),
            "tumour grade (WHO)": _who_grade(study.clinical),
        },
    )
    admins = [
        [a.get("cycle"), a.get("radiopharmaceutical"), a.get("activity_bq", 0) / 1e6, a.get("time")]
        for a in (study.clinical or {}).get("administrations", [])
    ]
    if admins:
        sec.add_table(
            TableBlock(
                "Administrations",
                ["cycle", "radiopharmaceutical", "activity (MBq)", "time"],
                admins,
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


def _reading(rep: Report, res: RunResult) -> None:
    sec = rep.section("SSTR PET reading")
    if _skipped(sec, res, "reading"):
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
    elig = rd["eligibility"]
    sec2 = rep.section("PRRT eligibility")
    sec2.add_text(
        "Decision: "
        + ("ELIGIBLE" if elig["eligible"] else "NOT ELIGIBLE")
        + " (every rule listed with its value, threshold and source)."
    )
    failed = [r.get("id") for r in elig["rules"] if r.get("status") == "fail"]
    treated = res.stages.get("import", {}).get("cycles_with_spect", [])
    if failed and treated:
        sec2.add_text(
            f"Rules not met: {', '.join(str(f) for f in failed)}. The study nevertheless holds "
            f"{len(treated)} PRRT cycle(s) with post-therapy imaging; the sections below document "
            "the therapy as given and do not override this assessment."
        )
    sec2.add_table(
        TableBlock(
            "Rules",
            ["rule", "value", "threshold", "pass", "source"],
            [
                [
                    r.get("name") or r.get("id"),
                    r.get("value"),
                    r.get("threshold"),
                    r.get("passed"),
                    r.get("source"),
                ]
                for r in elig["rules"]
            ],
        )
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
        "cross doses; red marrow by the EANM blood method."
    )
    if dos["problems"]:
        sec.status = "partial"
        sec.add_table(
            TableBlock("Cycles not processed", ["cycle", "reason"], list(dos["problems"].items()))
        )
    _tac_figures(sec, res)
    for cyc in dos["organ_level"]["cycles"]:
        if not cyc.get("measured"):
            continue
        truth = dos["truth_total_gy"].get(str(cyc["cycle"]), {})
        sec.add_table(
            TableBlock(
                f"Cycle {cyc['cycle']}: region kinetics and absorbed dose "
                f"({cyc['activity_mbq']:.0f} MBq {cyc['nuclide']})",
                [
                    "region",
                    "model",
                    "T_eff (h)",
                    "TIA (MBq·h)",
                    "TIA SD (MBq·h)",
                    "mass (g)",
                    "dose (Gy)",
                    "dose (Gy/GBq)",
                    "rel. SD",
                    "truth (Gy)",
                ],
                [
                    [
                        r["name"],
                        r["model"],
                        r["t_eff_h"],
                        r["tia_mbq_h"],
                        r["tia_sd_mbq_h"],
                        r["mass_g"],
                        r["dose_gy"],
                        r["dose_gy_per_gbq"],
                        r["dose_relative_sd"],
                        truth.get(r["name"]),
                    ]
                    for r in cyc["regions"]
                ],
                note="Red marrow TIA is per mL of blood. 'truth' is the digital patient's "
                "reference dose (electrons local + photon self-dose), shown only for it.",
            )
        )
    cum = dos["organ_level"]["cumulative_dose_gy"]
    sec.add_table(
        TableBlock(
            "Cumulative absorbed dose over the measured cycles",
            ["region", "dose (Gy)"],
            [[k, v] for k, v in cum.items()],
        )
    )
    _voxel(sec, res, dos)


def _pv_method(dos: dict[str, Any]) -> str:
    tacs = dos.get("region_tacs", {})
    first = tacs[min(tacs, key=int)] if tacs else {}
    fwhm = first.get("spect_fwhm_mm")
    method = first.get("recovery_method", "not recorded")
    return f"{method} (SPECT FWHM {fwhm} mm)" if fwhm else method


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


def _voxel(sec: Section, res: RunResult, dos: dict[str, Any]) -> None:
    if not dos["voxel"]:
        return
    first = min(dos["voxel"], key=int)
    vx = dos["voxel"][first]
    sec.add_table(
        TableBlock(
            f"Voxel dosimetry, cycle {first}: dose–volume metrics",
            [
                "region",
                "volume (mL)",
                "mean (Gy)",
                "D2 (Gy)",
                "D50 (Gy)",
                "D90 (Gy)",
                "max (Gy)",
                "truth mean (Gy)",
            ],
            [
                [
                    r["name"],
                    r["volume_ml"],
                    r["mean_gy"],
                    r.get("d2_gy"),
                    r.get("d50_gy"),
                    r.get("d90_gy"),
                    r["max_gy"],
                    r.get("truth_mean_gy"),
                ]
                for r in vx["regions"]
                if r["name"] in ("kidneys", "liver", "spleen") or r["name"].startswith("lesion")
            ],
            note=f"Method: {vx['parameters'].get('method')} (voxel S-value kernel from the "
            f"ICRP-107 spectrum), voxel TIA {vx['parameters'].get('tia_method')}, CT density "
            f"correction {vx['parameters'].get('density_correction')}. DICOM RTDOSE: "
            f"{Path(vx.get('rtdose', '')).name}.",
        )
    )
    dose = res.artefacts.get("dose_map")
    if dose is not None:
        from sstrkit.report.figures import dose_overlay_figure, dvh_figure

        ct = res.artefacts.get("dose_ct")
        sec.add_figure(dose_overlay_figure(dose, ct, title=f"Absorbed dose, cycle {first}"))
        dvhs = res.artefacts.get("dvhs", ())
        keep = [d for d in dvhs if d.name in ("kidneys", "liver", "spleen")][:3]
        keep += [d for d in dvhs if d.name.startswith("lesion")][:4]
        if keep:
            sec.add_figure(dvh_figure(keep, f"Cumulative DVH, cycle {first}"))


def _planning(rep: Report, res: RunResult) -> None:
    sec = rep.section("Limits and planning")
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


def _followup(rep: Report, study: Study, res: RunResult) -> None:
    sec = rep.section("Follow-up: response and toxicity")
    if _skipped(sec, res, "follow-up"):
        return
    fu = res.stages["follow-up"]
    ch = fu.get("lesion_uptake_change")
    if ch:
        from sstrkit.report.figures import waterfall_figure

        sec.add_text(ch["method"] + f" ({ch['time_point_h']:.0f} h after injection).")
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
        changes = {
            r["lesion"]: r["change_pct"] for r in ch["lesions"] if r["change_pct"] is not None
        }
        if changes:
            sec.add_figure(waterfall_figure(changes, "Change in lesion uptake (%)"))
    tox = fu.get("toxicity")
    if tox:
        pat = tox["patients"][0]
        sec.add_kv("Worst CTCAE v5.0 grade", dict(pat.get("worst_grade", {})))
        labs = fu.get("labs", [])
        if labs:
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


def _methods(rep: Report, res: RunResult) -> None:
    sec = rep.section("Methods and provenance")
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
    _reading(rep, res)
    _dosimetry(rep, study, res)
    _planning(rep, res)
    _followup(rep, study, res)
    _methods(rep, res)
    return rep
