"""Report section: dosimetry per cycle and cumulative (MIRD, voxel, VOI transfer, TACs).

Reads the typed :class:`~sstrkit.pipeline.results.DosimetryStage`: its case dosimetry
(:class:`~sstrkit.therapy.case_dosimetry.CaseDosimetry`: rows, statuses, densities,
cumulative doses and the fits behind the time–activity figures) and its per-cycle
voxel and region records.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sstrkit.core.units import BQ_PER_GBQ, BQ_PER_MBQ, MBQ_PER_GBQ, SECONDS_PER_HOUR
from sstrkit.report.document import Report, Section, TableBlock
from sstrkit.report.theranostic.common import _on_off, _skipped, _vec

if TYPE_CHECKING:
    from sstrkit.pipeline.results import DosimetryStage, RunResult
    from sstrkit.pipeline.stages.records import (
        CycleTacs,
        ImageMarrowDose,
        VoxelCycle,
        VoxelRegionDose,
    )
    from sstrkit.pipeline.study import Study
    from sstrkit.therapy.case_dosimetry import CaseCycle, CaseRegionDose


# ------------------------------------------------------------------ dosimetry
def _status_text(status: str | None, cyc: CaseCycle, n_times: int = 0) -> str:
    if status == "estimated":
        return f"estimated from cycle {cyc.estimated_from_cycle}"
    if status == "reduced_timepoints":
        return f"reduced time points ({n_times})" if n_times else "reduced time points"
    if status == "no_data":
        return "no data"
    return status or "measured"


def _kind_text(name: str, kind: str | None, kinds: Mapping[str, str]) -> str:
    if name == "red marrow":
        return "red marrow (blood)"
    kind = kinds.get(name) or str(kind or "")
    return {"organ_part": "organ part"}.get(kind, kind)


def _region_row(
    r: CaseRegionDose,
    cyc: CaseCycle,
    kinds: Mapping[str, str],
    voxel_rows: Mapping[str, VoxelRegionDose],
    truth: Mapping[str, float] | None,
    tac: CycleTacs | None,
) -> list[Any]:
    v = voxel_rows.get(r.name)
    density = (
        r.density[0]
        if r.density
        else (tac.activities.density_g_ml.get(r.name) if tac is not None else None)
    )
    n_times = len(tac.activities.times_s) if tac is not None else 0
    row = [
        r.name,
        _kind_text(r.name, r.kind, kinds),
        _status_text(r.status, cyc, n_times),
        r.model,
        r.fit.t_eff_s / SECONDS_PER_HOUR,  # h
        r.tia_bq_s / 3.6e9,  # MBq·h
        r.dose.mass_g,
        density,
        r.dose_gy,
        r.dose.gy_per_bq * BQ_PER_GBQ,  # Gy/GBq
        r.dose.relative_sd,
        v.mean_gy if v is not None else None,
        v.pvc.mean_gy if v is not None and v.pvc is not None else None,
    ]
    if truth:
        row.append(truth.get(r.name))
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


def _marrow_image_row(marrow: ImageMarrowDose, act_mbq: float, truth: bool) -> list[Any]:
    """The image-based red-marrow row (mean voxel dose in the L2-L4 VOI)."""
    row: list[Any] = [
        "red marrow (image, L2-L4 VOI)",
        "organ",
        "measured",
        "voxel mean in VOI",
        None,
        None,
        None,
        None,
        marrow.dose_gy,
        marrow.dose_gy / (float(act_mbq) / MBQ_PER_GBQ) if act_mbq else None,
        None,
        marrow.dose_gy,
        None,
    ]
    if truth:
        row.append(None)
    return row


def _cycle_table(dos: DosimetryStage, cyc: CaseCycle) -> TableBlock:
    c = cyc.cycle
    kinds = dos.kinds
    tac = dos.region_tacs.get(c)
    vox = dos.voxel.get(c)
    voxel_rows = {r.name: r for r in vox.regions} if vox is not None else {}
    parts = dos.per_kidney.get(c, ())
    truth = dos.truth_total_gy.get(c, {})
    rows = []
    for r in cyc.regions:
        rows.append(_region_row(r, cyc, kinds, voxel_rows, truth, tac))
        if r.name == "kidneys":
            rows += [_region_row(p, cyc, kinds, voxel_rows, truth, tac) for p in parts]
    act = cyc.administration.activity_mbq
    marrow = vox.marrow_image if vox is not None else None
    if marrow:
        rows.append(_marrow_image_row(marrow, act, bool(truth)))
    if cyc.status == "estimated":
        how = (
            f"estimated from cycle {cyc.estimated_from_cycle}: no post-therapy SPECT; "
            "that cycle's dose per activity × this cycle's activity"
        )
    else:
        times = ", ".join(f"{t:g}" for t in (tac.times_h if tac is not None else []))
        how = f"SPECT at {times} h p.i." if times else "SPECT"
        if cyc.status == "reduced_timepoints":
            how = "reduced time points: " + how
    densities = sorted({r.density[1] for r in cyc.regions if r.density and r.density[1]})
    method = tac.recovery_method if tac is not None else None
    fwhm = tac.activities.fwhm_mm if tac is not None else None
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
    return TableBlock(
        f"Cycle {c}: region kinetics and absorbed dose ({act:.0f} MBq "
        f"{cyc.administration.nuclide}) — {how}",
        columns,
        rows,
        note=note,
    )


def _cumulative_table(dos: DosimetryStage) -> TableBlock:
    ol = dos.organ_level
    kidney_cum: dict[str, float] = {}
    kidney_est: dict[str, float] = {}
    for c in ol.cycles:
        for p in dos.per_kidney.get(c.cycle, ()):
            kidney_cum[p.name] = kidney_cum.get(p.name, 0.0) + p.dose_gy
            if p.status == "estimated":
                kidney_est[p.name] = kidney_est.get(p.name, 0.0) + p.dose_gy
    rows: list[list[Any]] = []

    def row(name: str, total: float, estimated: float) -> list[Any]:
        return [
            name,
            total,
            total - estimated,
            estimated,
            100.0 * estimated / total if total > 0 else None,
        ]

    for name, total in ol.cumulative_dose_gy.items():
        rows.append(row(name, total, ol.cumulative_estimated_gy.get(name, 0.0)))
        if name == "kidneys":
            rows += [row(k, v, kidney_est.get(k, 0.0)) for k, v in kidney_cum.items()]
    est_cycles = [c.cycle for c in ol.cycles if c.status == "estimated"]
    return TableBlock(
        f"Cumulative absorbed dose over {len(ol.cycles)} cycle(s)",
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
    dos = res.dosimetry
    if dos is None:  # a stage result of another type: nothing typed to read
        sec.status = "skipped"
        sec.add_text("Not computed: no dosimetry result.")
        return
    sec.add_text(
        "Post-therapy 177Lu SPECT/CT at each time point; regions from "
        f"{dos.voi_source}. Region activities per time point: "
        f"{_pv_method(dos.region_tacs)}; they are fitted per region (weighted least squares, "
        "AICc selection), integrated to infinity and converted to absorbed dose with MIRD self "
        "and cross doses (the headline dose of each region); the voxel dose map gives the "
        "voxel means beside it. Red marrow by the EANM blood method."
    )
    if dos.problems:
        sec.status = "partial"
        sec.add_table(
            TableBlock("Cycles not processed", ["cycle", "reason"], list(dos.problems.items()))
        )
    _tac_figures(sec, dos)
    for cyc in dos.organ_level.cycles:
        if cyc.status == "no_data" or not cyc.regions:
            sec.add_text(f"Cycle {cyc.cycle}: no data (no SPECT and no cycle to estimate from).")
            continue
        if cyc.status in ("estimated", "reduced_timepoints"):
            sec.status = "partial"
        sec.add_table(_cycle_table(dos, cyc))
    sec.add_table(_cumulative_table(dos))
    _voi_transfer(sec, dos.voxel)
    _voxel(sec, dos)


def _pv_method(tacs: Mapping[int, CycleTacs]) -> str:
    if not tacs:
        return "not recorded"
    first = tacs[min(tacs)].activities
    method = tacs[min(tacs)].recovery_method
    return f"{method} (SPECT FWHM {first.fwhm_mm} mm)" if first.fwhm_mm else method


def _voi_transfer(sec: Section, voxel: Mapping[int, VoxelCycle]) -> None:
    """How the VOIs reached each cycle's SPECT/CT and how the time points were aligned."""
    rows = []
    for key in sorted(voxel):
        vx = voxel[key]
        voi = vx.voi_registration
        reg = voi.transfer if voi is not None else None
        tps = vx.registrations
        shifts = [float(np.linalg.norm(t.transfer.translation_mm)) for t in tps]
        rows.append(
            [
                int(key),
                vx.parameters.voi_source or (voi.source if voi is not None else None),
                _vec(reg.translation_mm) if reg else "same scan (none)",
                _vec(reg.rotation_deg) if reg else None,
                (
                    f"{reg.ncc_before:.3f} → {reg.ncc_after:.3f}"
                    if reg is not None and reg.ncc_before is not None and reg.ncc_after is not None
                    else None
                ),
                reg.acceptable if reg is not None else None,
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


def _tac_figures(sec: Section, dos: DosimetryStage) -> None:
    """One time–activity figure per cycle with dosimetry: the fits behind its doses, with
    the points they were fitted to (not decay corrected)."""
    from sstrkit.report.figures import TacCurve, tac_figure

    for cyc in dos.organ_level.cycles:
        if cyc.dosimetry is None:
            continue
        admin = cyc.administration
        curves = [
            TacCurve(
                name,
                [t / SECONDS_PER_HOUR for t in rd.fit.times_s],  # h
                [a / BQ_PER_MBQ for a in rd.fit.activities_bq],  # MBq
                rd.fit,
            )
            for name, rd in cyc.dosimetry.regions.items()
            if name != "red marrow"
        ]
        if curves:
            sec.add_figure(
                tac_figure(curves, f"Time–activity curves, cycle {admin.cycle}", log_y=True)
            )


def _voxel(sec: Section, dos: DosimetryStage) -> None:
    if not dos.voxel:
        return
    kinds = dos.kinds
    first = min(dos.voxel)
    vx = dos.voxel[first]
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
                    r.name,
                    _kind_text(r.name, None, kinds),
                    r.volume_ml,
                    r.mean_gy,
                    r.pvc.mean_gy if r.pvc is not None else None,
                    r.d_gy.get(2.0),
                    r.d_gy.get(50.0),
                    r.d_gy.get(90.0),
                    r.max_gy,
                    r.truth_mean_gy,
                ]
                for r in vx.regions
                if kinds.get(r.name, "organ") in ("organ", "organ_part", "lesion")
            ],
            note=f"Method: {vx.parameters.method} (voxel S-value kernel from the "
            f"ICRP-107 spectrum), voxel TIA {vx.parameters.tia_method}, CT density "
            f"correction {_on_off(vx.parameters.density_correction)}, partial-volume "
            "correction "
            f"{vx.parameters.pvc}. DICOM RTDOSE: {Path(vx.rtdose or '').name}.",
        )
    )
    for note in vx.notes:
        sec.add_text(f"Voxel dosimetry note (cycle {first}): {note}")
    if dos.dose_map is not None:
        from sstrkit.report.figures import dose_overlay_figure, dvh_figure

        sec.add_figure(
            dose_overlay_figure(dos.dose_map, dos.dose_ct, title=f"Absorbed dose, cycle {first}")
        )
        dvhs = dos.dvhs
        keep = [d for d in dvhs if kinds.get(d.name) == "organ"][:3]
        keep += [d for d in dvhs if kinds.get(d.name) == "lesion"][:4]
        if keep:
            sec.add_figure(dvh_figure(keep, f"Cumulative DVH, cycle {first}"))
