"""Report section: SIRT (90Y microspheres) — MAA work-up, plan, post-implant doses, liver BED.

Reads the typed :class:`~sstrkit.pipeline.stages.sirt.SirtStage`: the MAA measurements
(:class:`~sstrkit.sirt.plan_inputs.MaaFindings`: planar and SPECT/CT lung shunt fractions,
T/N measured and partial-volume corrected with the FWHM's source, per tumour VOI too,
masses), the plan (:class:`~sstrkit.sirt.planning.SirtPlan`: method, activity, the T/N it
used and the doses each T/N gives, predicted doses and their checks against the cited
limits), the post-implant dosimetry
(:class:`~sstrkit.sirt.dose_results.Y90Dosimetry`: local deposition and voxel S values,
partial-volume-corrected means, DVHs, MAA-predicted vs measured) and the combined
normal-liver BED (:class:`~sstrkit.sirt.liver_bed.LiverBedSummary`), then every flag and
the models' assumptions. The section exists only for a run with a ``sirt`` stage (run or
skipped); it computes nothing but the traffic light of a measured dose against the plan's
limit (:func:`sstrkit.therapy.limit_status.limit_status`, the package's one rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from sstrkit.core.units import BQ_PER_GBQ, BQ_PER_MBQ
from sstrkit.report.document import Report, Section, TableBlock
from sstrkit.report.theranostic.common import _skipped

if TYPE_CHECKING:
    from sstrkit.pipeline.results import RunResult
    from sstrkit.pipeline.stages.sirt import SirtStage
    from sstrkit.pipeline.study import Study
    from sstrkit.sirt.dose_results import Y90Dosimetry
    from sstrkit.sirt.liver_bed import LiverBedSummary
    from sstrkit.sirt.plan_inputs import MaaFindings
    from sstrkit.sirt.plan_uptake import TumourToNormal
    from sstrkit.sirt.planning import LimitCheck, SirtPlan

__all__ = ["PLANAR_OVERESTIMATION_PP", "SIRT_SECTION"]

SIRT_SECTION: Final = "SIRT (90Y microspheres)"
#: Planar minus SPECT/CT lung shunt fraction (fraction) from which the report flags the
#: planar value as an overestimate — the 2 percentage points of
#: :func:`sstrkit.sirt.planning.plan_sirt` (its "differ by more than 2 percentage points").
PLANAR_OVERESTIMATION_PP: Final = 0.02
PLANAR_CAVEAT: Final = (
    "The planar lung shunt fraction (conjugate-view geometric mean, no attenuation or scatter "
    "correction, as the manufacturers define it) reads high against SPECT/CT: the lungs "
    "attenuate less than the liver and liver scatter falls into the lung region (bias +2.7 "
    "percentage points in Bastiaannet R et al., Phys Med Biol 2019; up to 44 % overestimation "
    "in the phantom of Allred JD et al., EJNMMI Res 2018;8:50). Taking the larger value is the "
    "safe side for the lung dose; it also lowers the activity."
)
_TRAFFIC: Final = {
    "green": "green (below 80 % of the limit)",
    "amber": "amber (80–100 % of the limit)",
    "red": "red (above the limit)",
    "met": "target met",
    "not_met": "target not met",
    "unknown": "not evaluated",
}
_BED_STATUS: Final = {"ok": "green", "caution": "amber", "exceeded": "red"}
#: Plan check → the post-implant region it is compared with.
_CHECK_REGION: Final = {
    "lung_per_treatment": "lungs",
    "lung_cumulative": "lungs",
    "normal_liver": "normal_liver",
    "tumour": "tumour",
}
_METHOD_NAMES: Final = {"ldm": "local deposition", "voxel": "voxel S values"}


def _pct(fraction: float | None) -> float | None:
    return None if fraction is None else 100.0 * fraction


def _sirt(rep: Report, study: Study, res: RunResult) -> None:
    """The SIRT section (only when the run has a ``sirt`` stage, run or skipped)."""
    if "sirt" not in res.stages and "sirt" not in res.skipped:
        return
    sec = rep.section(SIRT_SECTION)
    if _skipped(sec, res, "sirt"):
        return
    st = res.sirt
    if st is None:
        return
    _intro(sec, study, st)
    if st.findings is not None:
        _maa(sec, st.findings, st.plan)
        _tn(sec, st.findings, st.plan)
    if st.plan is not None:
        _plan(sec, st.plan)
        _limits(sec, st.plan, st.y90)
    if st.y90 is not None:
        _post_implant(sec, st.y90)
        _comparison(sec, st.y90)
    if st.liver_bed is not None:
        _liver_bed(sec, st.liver_bed)
    for key, text in st.notes.items():
        if key.endswith("_skipped"):
            sec.status = "partial"
            part = {"plan": "Plan", "y90": "Post-implant dosimetry", "liver_bed": "Liver BED"}
            sec.add_text(f"{part.get(key[: -len('_skipped')], key)} not computed: {text}.")
    _flags(sec, st)
    _assumptions(sec, st)


def _intro(sec: Section, study: Study, st: SirtStage) -> None:
    rec = study.clinical_record
    treatments = list(rec.sirt) if rec is not None else []
    parts = [
        f"{s.time.date().isoformat()}: {s.device} microspheres, {s.activity_bq / BQ_PER_GBQ:.3g} "
        f"GBq net implanted, target {s.target.replace('_', ' ')}"
        for s in treatments
    ]
    sec.add_text(
        "Selective internal radiation therapy with 90Y microspheres: planning from the "
        "99mTc-MAA work-up, post-implant dosimetry on the 90Y scan, and the normal-liver dose "
        "of SIRT and PRRT together. "
        + ("Treatment (clinical record): " + "; ".join(parts) + "." if parts else "")
    )


def _maa(sec: Section, f: MaaFindings, plan: SirtPlan | None) -> None:
    planar = None if f.lsf_planar is None else f.lsf_planar.fraction
    spect = None if f.lsf_spect is None else f.lsf_spect.fraction
    used = "—" if plan is None else f"{100 * plan.lung_shunt_fraction:.2f} % ({plan.lsf_source})"
    tn = f.tumour_to_normal
    sec.add_table(
        TableBlock(
            "99mTc-MAA work-up",
            ["quantity", "value"],
            [
                ["lung shunt fraction, planar geometric mean (%)", _pct(planar)],
                ["lung shunt fraction, SPECT/CT (%)", _pct(spect)],
                ["lung shunt fraction used by the plan", used],
                ["tumour-to-normal-liver ratio (MAA SPECT/CT)", None if tn is None else tn.ratio],
                [
                    "tumour-to-normal-liver ratio, partial-volume corrected (GTM)",
                    None if tn is None else tn.pvc_ratio,
                ],
                ["SPECT resolution of the correction", _fwhm_text(tn)],
                ["liver volume (mL), tumours included", f.liver_volume_ml],
                ["tumour volume (mL)", f.tumour_volume_ml],
                ["normal-liver mass (g)", f.normal_liver_mass_g],
                ["tumour mass (g)", f.tumour_mass_g],
                ["lung mass (g)", f.lung_mass_g],
                ["masses from", f.mass_source],
                ["volumes of interest", f.voi_source],
            ],
        )
    )
    if planar is not None:
        text = PLANAR_CAVEAT
        if spect is not None and planar - spect > PLANAR_OVERESTIMATION_PP:
            text = (
                f"Flag: the planar lung shunt fraction ({100 * planar:.1f} %) exceeds the "
                f"SPECT/CT one ({100 * spect:.1f} %) by {100 * (planar - spect):.1f} "
                f"percentage points ({planar / spect:.1f}×): planar overestimation. " + text
            )
        sec.add_text(text)


def _fwhm_text(tn: TumourToNormal | None) -> str | None:
    """The FWHM of the T/N correction and its source, or why there is none."""
    if tn is None:
        return None
    if tn.pvc is None:
        return f"none: {tn.pvc_note}" if tn.pvc_note else None
    return f"{tn.pvc.fwhm_mm:.1f} mm FWHM ({tn.pvc.fwhm_source})"


def _tn(sec: Section, f: MaaFindings, plan: SirtPlan | None) -> None:
    """Measured and corrected T/N: the doses each gives at the plan's activity, per lesion."""
    tn = f.tumour_to_normal
    if tn is None:
        return
    cmp = None if plan is None else plan.tn
    if cmp is not None:
        rows = []
        for key, label, ratio, d in (
            ("measured", "measured", cmp.measured, cmp.doses_measured),
            ("pvc", "partial-volume corrected (GTM)", cmp.pvc, cmp.doses_pvc),
        ):
            rows.append(
                [
                    label,
                    ratio,
                    None if d is None else d.tumour_gy,
                    None if d is None else d.normal_liver_gy,
                    "yes" if key == cmp.source else "no",
                ]
            )
        sec.add_table(
            TableBlock(
                "Tumour-to-normal-liver ratio: measured and partial-volume corrected",
                ["T/N", "value", "tumour (Gy)", "normal liver (Gy)", "used by the plan"],
                rows,
                note="Doses: partition model at the planned activity. SPECT blur lowers the "
                "measured T/N; the plan uses it unless told otherwise (tn_source pvc), since a "
                "lower T/N gives a lower activity for a prescribed normal-liver dose — the safe "
                "side for the normal liver. Correction: geometric transfer matrix, "
                + (_fwhm_text(tn) or "no resolution")
                + "; breathing motion is not modelled, so the corrected T/N still reads low.",
            )
        )
    pvc = tn.pvc
    lesions = []
    for le in tn.lesions:
        c = None if pvc is None else pvc.lesion(le.name)
        lesions.append(
            [
                le.name,
                le.volume_ml,
                le.tumour_to_normal,
                None if c is None else c.tumour_to_normal,
                None if c is None else c.resolution_volumes,
            ]
        )
    sec.add_table(
        TableBlock(
            "T/N per tumour VOI (MAA SPECT/CT)",
            [
                "tumour VOI",
                "volume (mL)",
                "T/N measured",
                "T/N corrected (GTM)",
                "resolution volumes",
            ],
            lesions,
            note="Resolution volumes: the VOI in spheres of the FWHM; below 27 the corrected "
            "value depends strongly on the VOI's edge and the PSF model (Soret M et al., "
            "J Nucl Med 2007;48:932).",
        )
    )


def _plan(sec: Section, plan: SirtPlan) -> None:
    sec.add_kv(
        f"SIRT plan ({plan.device} microspheres, {plan.method.replace('_', ' ')} method)",
        {
            "activity to implant (GBq)": plan.activity_bq / BQ_PER_GBQ,
            "activity of the method (GBq)": plan.method_activity_bq / BQ_PER_GBQ,
            "activity set by": plan.limiting.replace("_", " "),
            "treatable": plan.treatable,
            "T/N used": (
                "—"
                if plan.tumour_to_normal is None
                else f"{plan.tumour_to_normal:.2f} ({plan.tn_source})"
            ),
            "lung mass (g)": f"{plan.lung_mass_g:.0f} ({plan.lung_mass_source})",
            "earlier lung dose (Gy)": plan.prior_lung_dose_gy,
        },
    )


def _status_of(check: LimitCheck, value: float | None) -> str:
    """Traffic light of a dose against the check's limit, or met/not met for a target."""
    from sstrkit.therapy.limit_status import limit_status

    if value is None or not value >= 0:
        return _TRAFFIC["unknown"]
    if check.kind == "target":
        return _TRAFFIC["met" if value >= check.threshold_gy else "not_met"]
    return _TRAFFIC[limit_status(value, check.threshold_gy)]


def _limits(sec: Section, plan: SirtPlan, y90: Y90Dosimetry | None) -> None:
    """Predicted (plan) and measured (post-implant) doses against the plan's limits."""
    rows = []
    for c in plan.checks:
        measured = None
        region = _CHECK_REGION.get(c.name)
        if y90 is not None and region is not None:
            measured = y90.mean_gy(region)
            if measured is not None and c.name == "lung_cumulative":
                measured += plan.prior_lung_dose_gy
        rows.append(
            [
                c.name.replace("_", " "),
                c.kind,
                c.threshold_gy,
                c.value_gy,
                _TRAFFIC.get(c.status, c.status),
                measured,
                None if y90 is None else _status_of(c, measured),
            ]
        )
    sources = sorted({c.source for c in plan.checks if c.source})
    sec.add_table(
        TableBlock(
            "Doses against the cited limits and targets",
            [
                "check",
                "kind",
                "threshold (Gy)",
                "predicted, MAA (Gy)",
                "status (predicted)",
                "measured, 90Y (Gy)",
                "status (measured)",
            ],
            rows,
            note="Predicted: partition-model mean doses at the planned activity. Measured: "
            "post-implant mean doses of the primary method. Limits cap the activity (traffic "
            "light: green below 80 % of the limit, amber 80–100 %, red above); targets are met "
            "or not. Sources: " + " | ".join(sources),
        )
    )


def _post_implant(sec: Section, y: Y90Dosimetry) -> None:
    methods = list(y.methods)
    primary = y.primary_method
    has_truth = any(r.truth_mean_gy is not None for r in y.regions)
    cols = ["region", "volume (mL)", "mass (g)"]
    for m in methods:
        cols += [f"mean, {m} (Gy)", f"PVC mean, {m} (Gy)"]
    cols += [f"D70, {primary} (Gy)", "resolution volumes", "small VOI"]
    if has_truth:
        cols.append("truth (Gy)")
    rows = []
    for r in y.regions:
        row: list[Any] = [r.name, r.volume_ml, r.mass_g]
        for m in methods:
            row += [r.mean_gy.get(m), r.pvc_mean_gy.get(m)]
        dvh = r.dvh.get(primary)
        row += [None if dvh is None else dvh.d_gy.get(70.0), r.resolution_volumes, r.small]
        if has_truth:
            row.append(r.truth_mean_gy)
        rows.append(row)
    hours = (y.scan_time - y.implant_time).total_seconds() / 3600.0
    sec.add_table(
        TableBlock(
            f"Post-implant 90Y dosimetry ({y.kind.upper()} {hours:.0f} h after the implant, "
            f"{y.implanted_activity_bq / BQ_PER_MBQ:.0f} MBq implanted, field of view / "
            f"implanted {y.fov_ratio:.2f}; primary method {_METHOD_NAMES.get(primary, primary)})",
            cols,
            rows,
            note="Mean: energy / mass over the region (mean absorbed dose). PVC mean: "
            "partial-volume-corrected by the geometric transfer matrix"
            + (f" ({y.fwhm_mm:g} mm FWHM)" if y.fwhm_mm else "")
            + ". D70: the dose received by at least 70 % of the region's volume. VOIs: "
            + y.voi_source
            + ("; truth: the digital patient's true mean dose." if has_truth else "."),
        )
    )
    keep = [r.dvh[primary] for r in y.regions if r.name in ("tumour", "normal_liver")]
    if keep:
        from sstrkit.report.figures import dvh_figure

        sec.add_figure(
            dvh_figure(
                keep,
                f"Post-implant DVH, tumour and normal liver (90Y, "
                f"{_METHOD_NAMES.get(primary, primary)})",
            )
        )


def _comparison(sec: Section, y: Y90Dosimetry) -> None:
    if not y.comparison:
        return
    sec.add_table(
        TableBlock(
            "MAA-predicted vs measured mean dose",
            [
                "region",
                "predicted, MAA (Gy)",
                "measured, 90Y (Gy)",
                "measured / predicted",
                "difference (Gy)",
            ],
            [
                [c.region, c.predicted_gy, c.measured_gy, c.ratio, c.difference_gy]
                for c in y.comparison
            ],
            note="Predicted: the plan's partition-model doses scaled to the activity actually "
            "implanted. Measured: the post-implant mean dose of the "
            f"{_METHOD_NAMES.get(y.primary_method, y.primary_method)} method (no partial-volume "
            "correction).",
        )
    )


def _liver_bed(sec: Section, bed: LiverBedSummary) -> None:
    terms = (bed.sirt, *bed.prrt)
    rows: list[list[Any]] = [[t.label, t.dose_gy, t.g_factor, t.bed_gy, t.note] for t in terms]
    rows.append(["total", None, None, bed.total_bed_gy, f"EQD2 {bed.total_eqd2_gy:.1f} Gy"])
    tp = bed.tissue
    sec.add_table(
        TableBlock(
            "Combined normal-liver BED (SIRT + PRRT)",
            ["delivery", "dose (Gy)", "G (Lea–Catcheside)", "BED (Gy)", "note"],
            rows,
            note=f"BED = D (1 + G D / (α/β)); liver α/β {tp.alpha_beta_gy:g} Gy, repair "
            f"half-time {tp.t_repair_s / 3600.0:g} h ({'; '.join(tp.sources)}). Deliveries "
            "weeks apart: complete repair between them, BEDs add.",
        )
    )
    sec.add_table(
        TableBlock(
            "Normal-liver BED against the liver tolerances",
            ["tolerance", "endpoint", "limit BED (Gy)", "total BED (Gy)", "% of limit", "status"],
            [
                [
                    c.tolerance.name,
                    c.tolerance.endpoint,
                    c.limit_bed_gy,
                    bed.total_bed_gy,
                    100.0 * c.fraction,
                    _TRAFFIC[_BED_STATUS[c.status]],
                ]
                for c in bed.checks
            ],
            note="Sources: " + " | ".join(c.tolerance.source for c in bed.checks),
        )
    )
    from sstrkit.report.figures import LimitBar, limits_figure

    sec.add_figure(
        limits_figure(
            [
                LimitBar(
                    f"normal liver ({c.tolerance.name})",
                    "BED",
                    bed.total_bed_gy,
                    None,
                    c.limit_bed_gy,
                )
                for c in bed.checks
            ],
            title="Normal-liver BED (SIRT + PRRT) against the liver tolerances",
        )
    )


def _unique(lines: Sequence[tuple[str, str]]) -> list[list[str]]:
    seen: set[str] = set()
    out = []
    for where, text in lines:
        if text and text not in seen:
            seen.add(text)
            out.append([where, text])
    return out


def _flags(sec: Section, st: SirtStage) -> None:
    lines: list[tuple[str, str]] = []
    if st.plan is not None:
        lines += [("MAA / plan", f) for f in st.plan.flags]
    elif st.findings is not None:
        lines += [("MAA", f) for f in st.findings.flags]
    if st.y90 is not None:
        lines += [("post-implant", f) for f in st.y90.flags]
    if st.liver_bed is not None:
        lines += [("liver BED", n) for n in st.liver_bed.notes]
    lines += [("run", v) for k, v in st.notes.items() if k.endswith("_note")]
    rows = _unique(lines)
    if rows:
        sec.add_table(TableBlock("SIRT flags", ["from", "flag"], rows))


def _assumptions(sec: Section, st: SirtStage) -> None:
    lines: list[tuple[str, str]] = []
    if st.plan is not None:
        lines += [(f"plan ({st.plan.method.replace('_', ' ')})", a) for a in st.plan.assumptions]
    if st.y90 is not None:
        lines += [
            (
                "post-implant",
                "permanent implant: the activity leaves by 90Y physical decay only (time-"
                "integrated activity = A₀ · T½ / ln 2)",
            ),
            (
                "post-implant",
                "local deposition: all β energy absorbed in the voxel it is emitted from; the "
                "scanner's resolution already blurs the activity about as much as the β range "
                "(Pasciak AS et al., Front Oncol 2014;4:121), so it is the primary method; the "
                "voxel-S dose blurs a second time",
            ),
            (
                "post-implant",
                "voxel masses from the CT (HU → density); voxels below 0.05 g/mL (air, below "
                "−950 HU) get no dose",
            ),
        ]
    if st.liver_bed is not None:
        lines += [
            (
                "liver BED",
                "linear-quadratic model with the Lea–Catcheside G of each delivery's dose rate "
                "(SIRT: 90Y physical decay; PRRT: the cycle's liver kinetics); the summed SIRT "
                "term is the BED of the mean normal-liver dose",
            )
        ]
    rows = _unique(lines)
    if rows:
        sec.add_table(TableBlock("Models' assumptions", ["model", "assumption"], rows))
