"""Report section: methods as the items of the EANM dosimetry reporting guidance.

The dosimetry items read the typed :class:`~sstrkit.pipeline.results.DosimetryStage`
(its case dosimetry's models, densities and relative SDs, its per-cycle records).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sstrkit import __version__
from sstrkit.core.units import BQ_PER_MBQ, SECONDS_PER_HOUR
from sstrkit.errors import SstrkitError
from sstrkit.report.document import Report, TableBlock
from sstrkit.report.theranostic.common import (
    EANM_REPORTING_SOURCE,
    _administrations,
    _vec,
)

if TYPE_CHECKING:
    from sstrkit.pipeline.results import DosimetryStage, RunResult
    from sstrkit.pipeline.stages.records import CycleTacs
    from sstrkit.pipeline.study import Study
    from sstrkit.pipeline.study_records import TimePoint


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


def _study_time_points(study: Study) -> tuple[TimePoint, ...]:
    try:
        return study.time_points
    except (SstrkitError, OSError):
        return ()


def _resolution_text(study: Study, manifest_fwhm: list[float]) -> str:
    """The SPECT resolution (FWHM) the run used, per cycle, with its source.

    From the time points the run resolved (:class:`~sstrkit.pipeline.study_records.
    TimePoint`: the manifest's ``fwhm_mm``, or an estimate from the DICOM header, flagged
    ``spect_resolution_estimated``), each cycle's first time point (the one its dosimetry
    uses); without time points on disk, the manifest's values.
    """
    firsts: dict[int, TimePoint] = {}
    for tp in _study_time_points(study):
        firsts.setdefault(tp.cycle, tp)
    if not firsts:
        if manifest_fwhm:
            values = ", ".join(f"{f:g}" for f in manifest_fwhm)
            return f"System resolution (FWHM) {values} mm from the manifest."
        return "System resolution (FWHM) not set: no partial-volume correction."
    parts = []
    estimated = False
    for cycle, tp in sorted(firsts.items()):
        if tp.fwhm_mm is None:
            why = tp.resolution.flag if tp.resolution is not None and tp.resolution.flag else ""
            parts.append(
                f"cycle {cycle}: not set and not estimated"
                + (f" ({why})" if why else "")
                + ", no partial-volume correction"
            )
        elif tp.resolution is not None and tp.resolution.fwhm_mm is not None:
            estimated = True
            parts.append(
                f"cycle {cycle}: {tp.fwhm_mm:.1f} mm {tp.fwhm_source or 'estimated'}, "
                "an estimate, not a measurement"
            )
        else:
            parts.append(
                f"cycle {cycle}: {tp.fwhm_mm:g} mm from {tp.fwhm_source or 'the manifest'}"
            )
    text = "System resolution (FWHM) " + "; ".join(parts) + "."
    if estimated:
        text += (
            " Estimated resolutions (collimator, orbit, photopeak, post-filter in the DICOM "
            "header; flag spect_resolution_estimated) drive the partial-volume correction: "
            "give the measured FWHM (manifest fwhm_mm or --spect-fwhm-mm) to replace them."
        )
    return text


def _reconstruction_item(study: Study, tacs: Mapping[int, CycleTacs]) -> str:
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
    text += _resolution_text(study, fwhm)
    methods = sorted({t.recovery_method for t in tacs.values()})
    if methods:
        text += " Partial-volume correction: " + "; ".join(methods) + "."
    return text


def _voi_item(dos: DosimetryStage) -> str:
    vox = dos.voxel
    parts = []
    for key in sorted(vox):
        vx = vox[key]
        voi = vx.voi_registration
        src = vx.parameters.voi_source or (voi.source if voi is not None else None)
        if voi is not None:
            reg = voi.transfer
            parts.append(
                f"cycle {int(key)}: {src}, rigid CT→CT transfer (translation "
                f"{_vec(reg.translation_mm)} mm, rotation {_vec(reg.rotation_deg)}°"
                f"{', deformable' if reg.deformable else ''})"
            )
        else:
            parts.append(f"cycle {int(key)}: {src}, drawn on the same scan (no transfer)")
    return f"{dos.voi_source}. " + "; ".join(parts) + ("." if parts else "")


def _fit_item(dos: DosimetryStage) -> str:
    cycles = [c for c in dos.organ_level.cycles if c.status in ("measured", "reduced_timepoints")]
    text = (
        "Per region: mono-, bi- or tri-exponential (or trapezoid) by weighted least squares and "
        "AICc selection, integrated analytically to infinity; fewer than 3 time points: "
        "single-time-point method with another cycle's kinetics."
    )
    if cycles:
        c = cycles[0]
        models = "; ".join(
            f"{r.name} {r.model} (T_eff {r.fit.t_eff_s / SECONDS_PER_HOUR:.1f} h)"
            for r in c.regions
        )
        text += f" Cycle {c.cycle}: {models}."
    return text


def _dose_item(dos: DosimetryStage) -> str:
    densities = sorted(
        {
            r.density[1]
            for c in dos.organ_level.cycles
            for r in c.regions
            if r.density and r.density[1]
        }
    )
    return (
        "MIRD schema (MIRD Pamphlet 21): self-electron (local, or sphere model for lesions) "
        "and photon self and cross doses from ICRP-107 emissions with NIST μ_en; red marrow by "
        "the EANM blood method (Hindorf et al. 2010). Masses: VOI volume on CT × density"
        + (f" ({'; '.join(densities)})" if densities else "")
        + ". Voxel dose: voxel S-value kernel convolution with CT density correction."
    )


def _uncertainty_item(dos: DosimetryStage) -> str:
    sds = [r.dose.relative_sd for c in dos.organ_level.cycles for r in c.regions]
    extra = dos.case.planning.extra_dose_relative_sd
    cv = dos.case.planning.kinetics_cv
    text = "Relative SD of each region dose (rel. SD in the tables): the TIA fit uncertainty"
    text += f" (measurement CV {cv:g})"
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
    dos = res.dosimetry
    admins = _administrations(study, res)
    admin_text = (
        "; ".join(
            f"cycle {a.cycle}: {a.activity_bq / BQ_PER_MBQ:.0f} MBq {a.agent} ({a.source})"
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
            ["Reconstruction and corrections", _reconstruction_item(study, dos.region_tacs)],
            ["VOI definition and transfer", _voi_item(dos)],
            ["Fit model and integration", _fit_item(dos)],
            ["S values, masses and dose calculation", _dose_item(dos)],
            ["Uncertainty", _uncertainty_item(dos)],
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
