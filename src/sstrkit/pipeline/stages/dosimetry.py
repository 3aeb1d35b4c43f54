"""Dosimetry stage: per cycle voxel and region dosimetry (cached), then MIRD organ doses.

Per cycle with post-therapy SPECT/CT: registration of the time points, voxel TIA,
dose map, DVHs and region time–activity curves (:meth:`Study.cycle_dosimetry`),
cached in ``OUT/cache`` under a key of everything the cycle depends on; then the
image-derived regions become a case file (``case_with_imaging.json``) whose MIRD
organ, lesion and red-marrow doses, reduced and estimated cycles and BED come from
:func:`sstrkit.therapy.case_dosimetry.case_dosimetry_result` (typed; each kinetics fit
once: the per-kidney MIRD run and the planning stage reuse its fits).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sstrkit import __version__
from sstrkit.core.atomic import write_json_atomic
from sstrkit.errors import SstrkitError
from sstrkit.pipeline.results import DosimetryStage, RunResult
from sstrkit.pipeline.stages import Progress, StageSkippedError
from sstrkit.pipeline.stages.records import CycleTacs, ImageMarrowDose, VoxelCycle
from sstrkit.pipeline.study import DataFlag, Study

if TYPE_CHECKING:
    from sstrkit.core.volume import Volume
    from sstrkit.therapy.case_dosimetry import CaseDosimetry, CaseRegionDose
    from sstrkit.therapy.dvh import RegionDVH

__all__ = ["IMAGE_MARROW_REGION", "cache_key", "fill_cycle_cache", "stage_dosimetry"]

#: Label names taken as an image-based red-marrow VOI (lumbar vertebral spongiosa).
_MARROW_VOI_WORDS = ("red_marrow", "bone_marrow", "marrow_l")

#: Row name of the image-based red-marrow dose in organ_doses.csv and the report.
IMAGE_MARROW_REGION = "red marrow (image, L2-L4 VOI)"


@dataclass
class _Cycles:
    """What the per-cycle loop collects (typed records, problems, first dose map)."""

    voxel: dict[int, VoxelCycle] = field(default_factory=dict)
    tacs: dict[int, CycleTacs] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    dose_map: Volume | None = None
    dose_ct: Volume | None = None
    dvhs: tuple[RegionDVH, ...] = ()


def cache_key(study: Study, cycle: int) -> str:
    """Hash of everything a cycle's cached dosimetry depends on.

    The sstrkit version, the manifest (series, VOIs, resolution), the cycle's
    SPECT/CT files, the label map and label names it uses (sizes and
    modification times), and a SPECT resolution estimated from the headers (only
    then: the keys of studies with a manifest resolution do not change).
    """
    h = hashlib.sha256(__version__.encode())
    h.update(json.dumps(study.manifest, sort_keys=True, default=str).encode())
    paths: list[Path] = []
    for tp in study.time_points:
        if tp.cycle == cycle:
            paths += [p for p in (tp.spect_path, tp.ct_path) if p is not None]
            if tp.resolution is not None:
                h.update(json.dumps(tp.resolution.to_dict(), sort_keys=True).encode())
    src = study.label_source_for_cycle(cycle)
    paths += [p for p in (src.path, src.ct_path) if p is not None]
    # the names decide which voxels are which region: their content, not only their file
    h.update(json.dumps(study.region_map.to_dict(), sort_keys=True).encode())
    for p in paths:
        for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _cycle_status(study: Study) -> dict[int, str]:
    """measured | reduced_timepoints per cycle with imaging (fewer SPECTs than the protocol)."""
    listed: dict[int, int] = {}
    for s in study.model.series.spect:
        listed[s.cycle] = listed.get(s.cycle, 0) + 1
    protocol = max(listed.values(), default=0)
    on_disk: dict[int, int] = {}
    for tp in study.time_points:
        on_disk[tp.cycle] = on_disk.get(tp.cycle, 0) + 1
    return {c: ("measured" if n >= protocol else "reduced_timepoints") for c, n in on_disk.items()}


def _compute_cycle(
    study: Study, res: RunResult, cycle: int, status: str, acc: _Cycles, progress: Progress
) -> tuple[VoxelCycle, CycleTacs] | None:
    """One cycle's voxel and region dosimetry, its RTDOSE and NIfTI: the records to cache."""
    from sstrkit.io.dicom_write import write_rtdose
    from sstrkit.io.nifti import write_nifti

    sd = study.cycle_dosimetry(cycle, progress=progress)
    if sd.region_activity is None:
        acc.problems[f"cycle {cycle}"] = "no volumes of interest"
        return None
    tac = CycleTacs(sd.region_activity, status)
    out_dir = res.out / "dose"
    source = study.first_spect_header(cycle)
    try:
        rt = write_rtdose(
            sd.dose,
            out_dir / f"rtdose_cycle{cycle}.dcm",
            source=source,
            patient=_patient_info(study) if source is None else None,
            series_description=f"sstrkit voxel dosimetry, cycle {cycle}",
            comment=f"{sd.nuclide} voxel dosimetry cycle {cycle} (sstrkit {__version__})",
        )
    except SstrkitError as exc:  # the doses stand; only this cycle's RTDOSE is missing
        acc.problems[f"cycle {cycle} RTDOSE"] = exc.one_line()
        rt = None
    nii = write_nifti(sd.dose, out_dir / f"dose_cycle{cycle}.nii.gz")
    # the voxel TIA map as computed (Bq·s per voxel), for review (web viewer overlay)
    tia_nii = write_nifti(sd.tia, out_dir / f"tia_cycle{cycle}.nii.gz")
    record: dict[str, Any] = {
        **sd.to_dict(),
        "rtdose": str(rt) if rt is not None else None,
        "nifti": str(nii),
        "tia_nifti": str(tia_nii),
    }
    marrow = _image_marrow(study, sd)
    if marrow is not None:
        record["marrow_image"] = marrow.to_dict()
    if sd.voi_labels is not None:  # the VOIs as used, on the dose grid (for review)
        record["voi_nifti"] = str(write_nifti(sd.voi_labels, out_dir / f"vois_cycle{cycle}.nii.gz"))
    if rt is not None:
        res.files[f"rtdose_cycle{cycle}"] = str(rt)
    if cycle == study.cycles[0]:
        acc.dose_map, acc.dvhs = sd.dose, tuple(sd.regions)
        acc.dose_ct = sd.reference_ct  # the cycle's reference CT, already read
    return VoxelCycle.from_dict(record), tac


def fill_cycle_cache(
    study: Study, out: Path, cycle: int, progress: Progress | None = None
) -> tuple[str, str]:
    """Compute one cycle into ``OUT/cache`` as this stage's loop does, without the rest.

    For cohort runs (one task per study and cycle): the study's later run then takes the
    cycle from the cache. Returns ``(status, note)`` with status ``cached`` (already
    there), ``computed`` or ``deferred`` (nothing to cache; the run repeats the cycle and
    reports why). Errors propagate (the caller isolates them).
    """
    cached = out / "cache" / f"cycle{cycle}-{cache_key(study, cycle)}.json"
    if cached.is_file():
        return "cached", ""
    res = RunResult(Path(study.root), out)
    acc = _Cycles()
    status = _cycle_status(study).get(cycle, "measured")
    computed = _compute_cycle(study, res, cycle, status, acc, progress or (lambda _m: None))
    if computed is None:
        return "deferred", "; ".join(acc.problems.values()) or "no volumes of interest"
    _write_cache(cached, *computed)
    return "computed", "; ".join(acc.problems.values())


def _run_cycles(study: Study, res: RunResult, progress: Progress) -> _Cycles:
    """Every cycle with SPECT on disk: from the cache when unchanged, else computed."""
    acc = _Cycles()
    cache_dir = res.out / "cache"
    status = _cycle_status(study)
    for cycle in study.cycles:
        progress(f"dosimetry cycle {cycle}")
        try:
            cached = cache_dir / f"cycle{cycle}-{cache_key(study, cycle)}.json"
            if cached.is_file():
                acc.voxel[cycle], acc.tacs[cycle] = _read_cache(cached)
                rtdose = acc.voxel[cycle].rtdose
                if rtdose is not None:
                    res.files[f"rtdose_cycle{cycle}"] = str(rtdose)
                continue
            computed = _compute_cycle(
                study, res, cycle, status.get(cycle, "measured"), acc, progress
            )
        except SstrkitError as exc:
            acc.problems[f"cycle {cycle}"] = exc.one_line()
            continue
        except OSError as exc:  # a file listed in the manifest is unreadable
            acc.problems[f"cycle {cycle}"] = f"{type(exc).__name__}: {exc}"
            continue
        if computed is None:
            continue
        acc.voxel[cycle], acc.tacs[cycle] = computed
        _write_cache(cached, *computed)
    return acc


def _write_cache(path: Path, voxel: VoxelCycle, tacs: CycleTacs) -> None:
    """One cycle's records into ``OUT/cache`` (JSON, as ``results.json`` has them)."""
    write_json_atomic(path, {"voxel": voxel.to_dict(), "tacs": tacs.to_dict()})


def _read_cache(path: Path) -> tuple[VoxelCycle, CycleTacs]:
    """A cached cycle's records, parsed into the typed records (marked ``from_cache``)."""
    entry = json.loads(path.read_text(encoding="utf-8"))
    voxel = replace(VoxelCycle.from_dict(entry["voxel"]), from_cache=True)
    return voxel, CycleTacs.from_dict(entry["tacs"])


def stage_dosimetry(study: Study, res: RunResult, progress: Progress) -> DosimetryStage:
    """Per-cycle dosimetry of the study's SPECT/CT, then the organ-level (MIRD) doses."""
    from sstrkit.therapy.case import parse_case
    from sstrkit.therapy.case_dosimetry import case_dosimetry_result

    if not study.cycles:
        raise StageSkippedError("no post-therapy SPECT on disk")
    try:
        base = study.base_case()
        study.label_source_for_cycle(study.cycles[0])  # VOIs exist and are readable by name
        _ = study.region_map
    except SstrkitError as exc:
        raise StageSkippedError(exc.one_line()) from None
    acc = _run_cycles(study, res, progress)
    if not acc.tacs:
        raise StageSkippedError("no cycle could be processed: " + "; ".join(acc.problems.values()))
    if acc.dose_map is None:
        _reload_dose_artefacts(study, acc, min(acc.voxel))
    case_doc = {**base, "regions": _region_rows(study, acc.tacs, per_kidney=False)}
    write_json_atomic(res.out / "case_with_imaging.json", case_doc)
    res.files["case_with_imaging"] = str(res.out / "case_with_imaging.json")
    case = parse_case(case_doc, name="case_with_imaging.json")
    organ = case_dosimetry_result(case)
    organ, kidney_parts = _mark_status(
        organ, acc.tacs, _per_kidney_rows(study, base, acc.tacs, organ)
    )
    flags = _dosimetry_flags(study, organ, acc)
    res.data_quality.extend(flags)
    return DosimetryStage(
        voi_source=study.voi_source,
        regions=study.region_map,
        administrations=tuple(study.administrations),
        voxel=acc.voxel,
        region_tacs=acc.tacs,
        organ_level=organ,
        per_kidney=kidney_parts,
        truth_total_gy={int(c): gy for c, gy in study.truth_doses().items()},
        problems=acc.problems,
        flags=tuple(flags),
        case=case,
        dose_map=acc.dose_map,
        dose_ct=acc.dose_ct,
        dvhs=acc.dvhs,
    )


def _dosimetry_flags(study: Study, organ: CaseDosimetry, acc: _Cycles) -> list[DataFlag]:
    """Data-quality flags of the dosimetry: estimated and reduced cycles, notes, failures."""
    flags = list(study.intake_flags)
    for c in organ.cycles:
        if c.status == "estimated":
            src = "?" if c.estimated_from_cycle is None else c.estimated_from_cycle
            flags.append(
                DataFlag(
                    "estimated_cycle",
                    f"cycle {c.cycle}: administration known but no SPECT; doses "
                    f"estimated from cycle {src} (Gy/GBq × activity)",
                    cycle=c.cycle,
                )
            )
        elif c.status == "reduced_timepoints":
            flags.append(
                DataFlag(
                    "reduced_timepoints",
                    f"cycle {c.cycle}: {len(acc.tacs[c.cycle].activities.times_s)} SPECT "
                    "time point(s) instead of the protocol's; computed from the ones left "
                    "(≥ 3: fit; 1–2: single-time-point method with another cycle's kinetics)",
                    cycle=c.cycle,
                )
            )
    if any(v.marrow_image is not None for v in acc.voxel.values()):
        flags.append(
            DataFlag(
                "dosimetry_note",
                "image-based red-marrow dose (mean voxel dose in the L2-L4 "
                "spongiosa VOI) reported beside the blood method: the VOI is small beside the "
                "SPECT resolution, so spill-in from soft tissue, kidneys and skeletal lesions "
                "raises it; the planning limit uses the blood method",
                region=IMAGE_MARROW_REGION,
            )
        )
    flags.extend(_no_pvc_flags(study))
    flags.extend(DataFlag("cycle_failed", f"{w}: {p}") for w, p in acc.problems.items())
    for cycle, vox in acc.voxel.items():
        flags.extend(DataFlag("dosimetry_note", note, cycle=cycle) for note in vox.notes)
    return flags


def _no_pvc_flags(study: Study) -> list[DataFlag]:
    """``no_partial_volume_correction`` for the cycles whose SPECT resolution is unknown
    (neither measured nor estimable from the header: the estimate's reason is named)."""
    no_fwhm = sorted({t.cycle for t in study.time_points if t.fwhm_mm is None})
    if not no_fwhm:
        return []
    reasons = sorted(
        {
            t.resolution.flag
            for t in study.time_points
            if t.fwhm_mm is None and t.resolution is not None and t.resolution.flag
        }
    )
    why = f" (no estimate from the header: {'; '.join(reasons)})" if reasons else ""
    return [
        DataFlag(
            "no_partial_volume_correction",
            "SPECT resolution (fwhm_mm) unknown for cycle(s) "
            + ", ".join(map(str, no_fwhm))
            + why
            + ": region activities are not partial-volume corrected (small organs and "
            "lesions read low); give --spect-fwhm-mm or set fwhm_mm in the manifest",
        )
    ]


def _region_rows(
    study: Study, tacs: dict[int, CycleTacs], *, per_kidney: bool
) -> list[dict[str, Any]]:
    """Case-file regions from the image-derived activities (masses from the CT).

    ``per_kidney``: the left and right kidneys replace the composite ``kidneys``
    (their own MIRD run, so that no activity is counted twice as a cross-dose source).
    """
    kinds = study.region_map.kinds
    rows = []
    for cycle, tac in sorted(tacs.items()):
        masses = tac.activities.mass_g
        for name in tac.activities.activity_bq:
            values = tac.activity_mbq(name)
            kind = kinds.get(name, "organ")
            if per_kidney and name == "kidneys":
                continue
            if not per_kidney and kind == "organ_part":
                continue
            if masses.get(name, 0.0) <= 0 or max(values, default=0.0) <= 0:
                continue
            lesion = kind == "lesion"
            kidney = name in ("kidneys", "kidney_left", "kidney_right")
            rows.append(
                {
                    "name": name,
                    "kind": "lesion" if lesion else "organ",
                    "tissue": "tumour" if lesion else ("kidney" if kidney else None),
                    "administration": f"C{cycle}",
                    "times_h": tac.times_h,
                    "activity_mbq": values,
                    "mass_g": masses[name],
                }
            )
    return [{k: v for k, v in r.items() if v is not None} for r in rows]


def _image_marrow(study: Study, sd: Any) -> ImageMarrowDose | None:
    """Mean voxel absorbed dose in the lumbar red-marrow VOI (image-based marrow dosimetry).

    Reported beside the blood method, not instead of it (the planning limit stays on the
    blood-based value): the vertebral VOI is small beside the SPECT resolution, so
    spill-in from kidneys and lesions raises it and spill-out lowers it, and skeletal
    metastases make it a tumour dose (Hagmarker L et al., J Nucl Med 60 (2019) 1406).
    """
    if sd.voi_labels is None:
        return None
    names = study.label_names()
    codes = [k for k, v in names.items() if any(w in v.lower() for w in _MARROW_VOI_WORDS)]
    if not codes:
        return None
    mask = np.isin(np.asarray(sd.voi_labels.array), codes)
    if not mask.any():
        return None
    d = np.asarray(sd.dose.array)[mask]
    return ImageMarrowDose(
        dose_gy=float(d.mean()),
        volume_ml=float(mask.sum()) * float(sd.dose.voxel_volume_ml),
        method="mean voxel absorbed dose (voxel S values) in the L2-L4 spongiosa VOI",
        labels=tuple(names[c] for c in codes),
        source="Hagmarker L et al., J Nucl Med 60 (2019) 1406-1413",
    )


def _per_kidney_rows(
    study: Study, base: dict[str, Any], tacs: dict[int, CycleTacs], organ: CaseDosimetry
) -> dict[int, tuple[CaseRegionDose, ...]]:
    """Left and right kidney doses per cycle (their own MIRD run, kidneys composite left out).

    The other regions' fits are ``organ``'s (same data): only the kidney halves are fitted.
    """
    from sstrkit.therapy.case import parse_case
    from sstrkit.therapy.case_dosimetry import case_dosimetry_result

    if not {"kidney_left", "kidney_right"} & set(study.region_map.regions):
        return {}
    doc = {**base, "regions": _region_rows(study, tacs, per_kidney=True), "blood": []}
    halves = case_dosimetry_result(parse_case(doc, name="per-kidney case"), reuse=organ)
    return {
        c.cycle: tuple(r for r in c.regions if r.name in ("kidney_left", "kidney_right"))
        for c in halves.cycles
    }


def _mark_status(
    organ: CaseDosimetry,
    tacs: dict[int, CycleTacs],
    kidney_parts: dict[int, tuple[CaseRegionDose, ...]],
) -> tuple[CaseDosimetry, dict[int, tuple[CaseRegionDose, ...]]]:
    """Each cycle and region row with its status (measured | reduced_timepoints |
    estimated; the blood-based marrow stays measured) and the CT density of its mass."""
    cycles = []
    parts = dict(kidney_parts)
    for c in organ.cycles:
        status = c.status
        tac = tacs.get(c.cycle)
        if tac is not None and status == "measured":
            status = tac.status
        density = tac.activities.density_g_ml if tac is not None else {}
        rows = tuple(
            replace(
                r,
                status=r.status
                if r.status == "estimated"
                else (status if r.name != "red marrow" else "measured"),
                density=(
                    (density[r.name], tac.activities.density_source[r.name])
                    if tac is not None and r.name in density
                    else r.density
                ),
            )
            for r in c.regions
        )
        cycles.append(replace(c, status=status, regions=rows))
        if c.cycle in parts:
            parts[c.cycle] = tuple(
                r if r.status == "estimated" else replace(r, status=status) for r in parts[c.cycle]
            )
    return replace(organ, cycles=tuple(cycles)), parts


def _patient_info(study: Study) -> Any:
    """The manifest's patient, for an RTDOSE without a readable source header.

    Nothing is invented: what the manifest does not give stays empty (DICOM Type 2).
    """
    from sstrkit.io.dicom_write import PatientInfo

    pat = study.model.patient
    return PatientInfo(
        name=str(pat.name or ""),
        patient_id=str(pat.id or ""),
        sex=pat.sex or "",
        weight_kg=pat.weight_kg,
        height_cm=pat.height_cm,
    )


def _first_ct(study: Study, cycle: int) -> Volume | None:
    """CT of the reference (first) time point of ``cycle``, for the dose overlay."""
    tp = next(t for t in study.time_points if t.cycle == cycle)
    return study.read(tp.ct_path, tp.ct_series_uid) if tp.ct_path is not None else None


def _reload_dose_artefacts(study: Study, acc: _Cycles, cycle: int) -> None:
    """Dose map of a cached cycle, for the report's figures (DVHs from the cached VOIs)."""
    from sstrkit.io.nifti import read_nifti

    entry = acc.voxel[cycle]
    path = entry.nifti
    if not path.is_file():
        return
    dose = read_nifti(path)
    acc.dose_map = dose
    acc.dose_ct = _first_ct(study, cycle)
    voi = entry.voi_nifti
    if voi is not None and voi.is_file():
        from sstrkit.therapy.dvh import region_dvh

        lab = np.asarray(read_nifti(voi).array)
        acc.dvhs = tuple(
            region_dvh(dose, np.isin(lab, values), name=name)
            for name, values in study.label_table().items()
            if np.isin(lab, values).any()
        )
