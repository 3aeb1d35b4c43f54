"""Report section: dosimetry per cycle and cumulative (MIRD, voxel, VOI transfer, TACs)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sstrkit.report.document import Report, Section, TableBlock
from sstrkit.report.theranostic.common import (
    _by_cycle,
    _on_off,
    _skipped,
    _stages,
    _vec,
)

if TYPE_CHECKING:
    from sstrkit.pipeline.results import RunResult
    from sstrkit.pipeline.study import Study


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
    dos = _stages(res)["dosimetry"]
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


def _tac_figures(sec: Section, res: RunResult) -> None:
    """One time–activity figure per cycle with dosimetry (the fits behind the tables)."""
    case = res.dosimetry.case if res.dosimetry is not None else None
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
                case.region(name, admin.id).times_h or [],
                case.region(name, admin.id).activity_mbq or [],
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
    dose = res.dosimetry.dose_map if res.dosimetry is not None else None
    if dose is not None and res.dosimetry is not None:
        from sstrkit.report.figures import dose_overlay_figure, dvh_figure

        ct = res.dosimetry.dose_ct
        sec.add_figure(dose_overlay_figure(dose, ct, title=f"Absorbed dose, cycle {first}"))
        dvhs = res.dosimetry.dvhs
        keep = [d for d in dvhs if kinds.get(d.name) == "organ"][:3]
        keep += [d for d in dvhs if kinds.get(d.name) == "lesion"][:4]
        if keep:
            sec.add_figure(dvh_figure(keep, f"Cumulative DVH, cycle {first}"))
