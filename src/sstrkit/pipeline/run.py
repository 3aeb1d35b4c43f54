"""The main job: one command from a study's DICOM to the theranostic report.

Stages, in clinical order (each records its result, or why it was skipped):

1. ``import`` — the study's manifest, case file and clinical data; every series
   is found on disk by content (:func:`sstrkit.io.discover.discover_series`).
2. ``reading`` — the SSTR PET in SUVbw, reference regions, lesions, Krenning,
   NETPET against the FDG PET, PRRT eligibility with the baseline labs.
3. ``dosimetry`` — per cycle: CT-based registration of the SPECT time points,
   voxel TIA, dose map (kernel convolution, CT density), region DVHs; region
   time–activity curves from the same SPECTs → kinetics → MIRD organ, lesion
   and red-marrow (blood method) doses; BED per cycle and cumulatively.
4. ``planning`` — limits (kidney BED, red marrow) and the plan for the
   remaining cycles from the running dosimetry.
5. ``follow-up`` — lesion uptake change over the cycles (post-therapy SPECT),
   CTCAE v5 toxicity of the labs.
6. ``report`` — ``OUT/report/index.html`` and the JSON/CSV/RTDOSE outputs.

A failing stage does not stop the run: the report states what was skipped and
why (nothing is invented in its place). Results of the dosimetry stage are
cached in ``OUT/cache`` keyed by the input files' sizes and modification times.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sstrkit import __version__
from sstrkit.core.atomic import write_csv_atomic, write_json_atomic
from sstrkit.core.provenance import Step, jsonable
from sstrkit.errors import SstrkitError
from sstrkit.pipeline.study import Study

__all__ = ["RunResult", "run_study"]

Progress = Callable[[str], None]


@dataclass
class RunResult:
    """Everything the run produced (JSON-able through :meth:`to_dict`)."""

    study: Path
    out: Path
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    artefacts: dict[str, Any] = field(default_factory=dict)  # volumes etc. for the report
    data_quality: list[dict[str, Any]] = field(default_factory=list)
    intake: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sstrkit_version": __version__,
            "study": str(self.study),
            "out": str(self.out),
            "intake": self.intake,
            "data_quality": list(self.data_quality),
            "stages": jsonable(self.stages),
            "skipped": dict(self.skipped),
            "timings_s": dict(self.timings_s),
            "files": dict(self.files),
        }


# ------------------------------------------------------------------ stages
def _auto_organs(study: Study, res: RunResult, say: Progress) -> tuple[Study, dict[str, Any]]:
    """Organ VOIs by the offline segmentation when the study supplies none.

    Segments the baseline SSTR PET/CT (or, without one, the first SPECT/CT time
    point with its SPECT) and makes that label map the study's segmentation; the
    reading stage then adds the lesions it finds (:func:`_merge_lesions`).
    """
    from sstrkit.organs.segment import segment_organs

    pet, pet_ct = study.series("pet"), study.series("pet_ct")
    notes: list[str] = []
    if pet is not None and pet_ct is not None:
        ct = study.read(study.path(pet_ct["path"]), pet_ct["series_uid"])
        res.artefacts["pet_ct_volume"] = (pet_ct["series_uid"], ct)  # the reading reuses it
        em = study.read(study.path(pet["path"]), pet["series_uid"])
        key, on = "baseline", "baseline SSTR PET/CT"
    else:
        tp = next((t for t in study.time_points if t.ct_path is not None), None)
        if tp is None:
            raise _StageSkippedError(
                "no organ labels and no CT to segment (neither a PET/CT nor a SPECT/CT)"
            )
        ct = study.read(tp.ct_path, tp.ct_series_uid)  # type: ignore[arg-type]
        em = study._read_spect(tp, notes)
        key = f"cycle{tp.cycle}_{tp.hours_post_injection:g}h"
        on = f"SPECT/CT {tp.label}"
    say(f"segmenting organs on the {on}")
    seg = segment_organs(ct, em)
    out_dir = res.out / "organs"
    lab_path = _write_labels_if_changed(seg.labels, out_dir / f"organs_{key}.nii.gz")
    names_path = out_dir / f"organs_{key}_labels.json"
    _write_json_if_changed(names_path, seg.label_json())
    source = f"automatic organ segmentation (sstrkit organs, {seg.method}) on the {on}"
    new = study.with_segmentation({key: lab_path}, names_path, source=source)
    res.artefacts["auto_organs"] = seg
    res.artefacts["auto_organs_key"] = key
    res.files["organs_nifti"] = str(lab_path)
    res.files["organs_labels_json"] = str(names_path)
    res.data_quality.append(
        {
            "kind": "vois",
            "cycle": None,
            "region": None,
            "message": f"no organ labels supplied: organ VOIs from the {source}; check the "
            "outlines (organs_*.nii.gz) or supply labels",
        }
    )
    for o in seg.organs:
        if o.status in ("implausible", "absent") and o.name in (
            "liver",
            "spleen",
            "kidney_left",
            "kidney_right",
        ):
            res.data_quality.append(
                {
                    "kind": "vois",
                    "cycle": None,
                    "region": o.name,
                    "message": f"automatic {o.name}: {o.status} ({o.reason}); no dose for an "
                    "absent organ",
                }
            )
    doc = {**seg.to_dict(), "on": on, "key": key, "files": {"labels": str(lab_path)}}
    doc["notes"] = [*doc["notes"], *notes]
    return new, doc


def _write_labels_if_changed(vol: Any, path: Path) -> Path:
    """Write a label map unless the file already holds the same labels on the same grid.

    A re-run then leaves the file (and its modification time) alone, so that the cached
    dosimetry of an unchanged study stays valid (its key includes the VOI file).
    """
    from sstrkit.io.nifti import read_nifti, write_nifti

    if path.is_file():
        try:
            old = read_nifti(path)
        except SstrkitError:
            old = None
        if (
            old is not None
            and old.same_space(vol)
            and np.array_equal(np.asarray(old.array), np.asarray(vol.array))
        ):
            return path
    return write_nifti(vol, path)


def _write_json_if_changed(path: Path, data: Any) -> None:
    if path.is_file():
        try:
            if json.loads(path.read_text("utf-8")) == data:
                return
        except (OSError, ValueError):
            pass
    write_json_atomic(path, data)


def _merge_lesions(study: Study, res: RunResult) -> Study:
    """Add the lesions of the reading to the automatic organ map (lesions win a voxel).

    Organ VOIs thereby exclude lesions (normal-organ VOIs); lesions are named
    ``lesion_<id>`` so that the dosimetry treats them as lesions.
    """

    result = res.artefacts.get("reading")
    key = res.artefacts.get("auto_organs_key")
    if result is None or key != "baseline":
        return study
    organs_path = Path(res.files["organs_nifti"])
    organs = res.artefacts["auto_organs"].labels
    lesions = result.segmentation.labels
    les = lesions.with_metadata(
        operation="assign_frame_of_reference",
        frame_of_reference_uid=organs.frame_of_reference_uid,
    ).resample_to(organs, mode="nearest")
    arr = np.asarray(organs.array, dtype=np.int32).copy()
    la = np.asarray(les.array, dtype=np.int32)
    raw = json.loads(Path(res.files["organs_labels_json"]).read_text("utf-8"))
    names = {int(k): str(v) for k, v in raw.items()}
    for m in result.lesions:
        code = 100 + int(m.id)
        sel = la == int(m.id)
        if not sel.any():
            continue
        arr[sel] = code
        names[code] = f"lesion_{int(m.id):02d}"
    merged = organs.with_array(arr.astype(np.int16), operation="merge_reading_lesions")
    path = _write_labels_if_changed(merged, organs_path.with_name("vois_baseline.nii.gz"))
    names_path = organs_path.with_name("vois_baseline_labels.json")
    _write_json_if_changed(names_path, {str(k): v for k, v in sorted(names.items())})
    res.files["vois_nifti"] = str(path)
    return study.with_segmentation(
        {"baseline": path},
        names_path,
        source=f"{study.voi_source}; lesions from the baseline SSTR PET reading",
    )


def _stage_import(study: Study, res: RunResult) -> dict[str, Any]:
    from sstrkit.io.discover import discover

    source = Path(str((study.manifest.get("intake") or {}).get("source", study.root / "dicom")))
    found = list(discover(source).series) if source.is_dir() else []
    uids = {s.series_uid for s in found}
    expected: list[tuple[str, str]] = []
    for role, entry in study.manifest["series"].items():
        entries = entry if isinstance(entry, list) else [entry]
        expected += [(role, e["series_uid"]) for e in entries if isinstance(e, dict)]
    missing = [f"{role} {uid}" for role, uid in expected if uid not in uids]
    patient = dict(study.manifest.get("patient", {}))
    if missing:
        res.data_quality.append(
            {
                "kind": "missing_series",
                "cycle": None,
                "region": None,
                "message": f"{len(missing)} series of the manifest not found in {source}",
            }
        )
    return {
        "patient": patient,
        "patient_used": study.patient(),
        "administrations": [a.to_dict() for a in study.administrations],
        "n_series_found": len(found),
        "n_series_expected": len(expected),
        "missing_series": missing,
        "cycles_with_spect": list(study.cycles),
        "voi_source": study.voi_source,
        "series": [
            {
                "modality": s.modality,
                "description": s.description,
                "n_files": s.n_files,
                "units": s.units,
                "radiopharmaceutical": s.radiopharmaceutical,
            }
            for s in found
        ],
    }


def _stage_reading(study: Study, res: RunResult) -> dict[str, Any]:
    from sstrkit.reading.eligibility import Labs, load_rules
    from sstrkit.reading.images import write_lesion_slices, write_mip
    from sstrkit.reading.inputs import load_ct, load_suv_pet
    from sstrkit.reading.reader import read_sstr_pet

    pet_entry = study.series("pet")
    if pet_entry is None:
        raise _StageSkippedError("no SSTR PET in the manifest (role 'pet')")
    suv_warnings: list[str] = []
    suv = load_suv_pet(
        study.path(pet_entry["path"]),
        assume_suv=False,
        role="SSTR PET",
        series_uid=pet_entry["series_uid"],
        warnings=suv_warnings,
    )
    ct_entry = study.series("pet_ct")
    read_ct = res.artefacts.get("pet_ct_volume")
    if ct_entry and read_ct is not None and read_ct[0] == ct_entry["series_uid"]:
        ct = read_ct[1]  # already read for the automatic organs
    else:
        ct = (
            load_ct(study.path(ct_entry["path"]), series_uid=ct_entry["series_uid"])
            if ct_entry
            else None
        )
    label_notes: list[str] = []
    organs = suv.with_array(
        study.labels_on(
            suv, ct, ct_uid=ct_entry["series_uid"] if ct_entry else None, notes=label_notes
        ),
        operation="organ_labels",
        quantity="label",
        unit="1",
    )
    fdg_entry = study.series("fdg")
    fdg = (
        load_suv_pet(
            study.path(fdg_entry["path"]),
            assume_suv=False,
            role="FDG PET",
            series_uid=fdg_entry["series_uid"],
            warnings=suv_warnings,
        )
        if fdg_entry
        else None
    )
    fdg_organs = None
    if fdg is not None:
        fdg_ct_entry = study.series("fdg_ct")
        fdg_ct = (
            load_ct(study.path(fdg_ct_entry["path"]), series_uid=fdg_ct_entry["series_uid"])
            if fdg_ct_entry
            else None
        )
        fdg_organs = fdg.with_array(
            study.labels_on(
                fdg,
                fdg_ct,
                ct_uid=fdg_ct_entry["series_uid"] if fdg_ct_entry else None,
                notes=label_notes,
            ),
            operation="organ_labels",
            unit="1",
        )
        if fdg_ct is None:
            label_notes.append(
                "FDG PET without its CT: organ labels placed by patient coordinates "
                "(repositioning since the SSTR PET/CT not corrected)"
            )
    res.data_quality.extend(
        {"kind": "reading_labels", "cycle": None, "region": None, "message": n} for n in label_notes
    )
    res.data_quality.extend(
        {"kind": "pet_header", "cycle": None, "region": None, "message": w}
        for w in dict.fromkeys(suv_warnings)
    )
    labs_raw = study.baseline_labs()
    names = study.label_names()
    auto = res.artefacts.get("auto_organs")
    if auto is not None and res.artefacts.get("auto_organs_key") == "baseline":
        # segmented on this PET/CT: read with the segmentation itself, so that its
        # per-organ quality rules apply (a flagged organ suppresses nothing) as in
        # 'sstrkit read'
        organ_args: dict[str, Any] = {"organ_segmentation": auto}
    else:
        organ_args = {"organs": organs, "organ_names": names}
    result = read_sstr_pet(
        suv,
        ct=ct,
        **organ_args,
        fdg=fdg,
        fdg_organs=fdg_organs,
        fdg_organ_names=names,
        labs=Labs.from_mapping(labs_raw) if labs_raw else None,
        rules=load_rules(None),
        tracer=pet_entry.get("tracer"),
    )
    out_dir = res.out / "reading"
    files = {
        "mip": str(
            write_mip(
                suv,
                out_dir / "mip.png",
                result.lesions,
                organs=result.organs,
                organs_source=study.voi_source if "auto_organs" in res.artefacts else None,
            )
        ),
        "lesion_slices": [
            str(p)
            for p in write_lesion_slices(
                suv,
                result.segmentation.labels,
                result.lesions,
                out_dir / "slices",
                ct=result.ct_on_pet_grid,
            )
        ][:6],
    }
    res.artefacts["reading"] = result
    files.update(_reading_exports(study, result, suv, out_dir))
    doc = result.to_dict()
    doc["labs"] = labs_raw
    doc["tracer"] = pet_entry.get("tracer")
    doc["images"] = files
    write_json_atomic(out_dir / "reading.json", doc)
    res.files["reading_json"] = str(out_dir / "reading.json")
    res.files.update({k: v for k, v in files.items() if isinstance(v, str)})
    return doc


def _reading_exports(study: Study, result: Any, suv: Any, out_dir: Path) -> dict[str, str]:
    """PACS and research exports of the reading: SUV series, lesion RTSTRUCT, NIfTI."""
    from sstrkit.io.dicom_derived import write_suv_series
    from sstrkit.io.dicom_read import read_series
    from sstrkit.io.nifti import write_nifti
    from sstrkit.io.rtstruct_write import write_rtstruct

    labels = result.segmentation.labels
    names = {int(le.id): f"lesion {le.id}" for le in result.lesions}
    out = {
        "suv_nifti": str(write_nifti(suv, out_dir / "suv.nii.gz")),
        "lesions_nifti": str(write_nifti(labels, out_dir / "lesions.nii.gz")),
    }
    pet = study.series("pet")
    if pet is not None:
        source = read_series(study.path(pet["path"]), series_uid=pet["series_uid"])
        files = write_suv_series(
            suv, out_dir / "suv_dicom", source=source, series_description="sstrkit SUVbw"
        )
        out["suv_dicom"] = str(files[0].parent)
    if names and pet is not None:
        summary = write_rtstruct(
            labels,
            names,
            out_dir / "lesions_rtstruct.dcm",
            reference=study.path(pet["path"]),
            structure_set_label="SSTR lesions",
            series_description="sstrkit SSTR PET lesions",
        )
        out["lesions_rtstruct"] = str(summary.path)
    return out


def _region_rows(
    study: Study, tacs: dict[int, dict[str, Any]], *, per_kidney: bool
) -> list[dict[str, Any]]:
    """Case-file regions from the image-derived activities (masses from the CT).

    ``per_kidney``: the left and right kidneys replace the composite ``kidneys``
    (their own MIRD run, so that no activity is counted twice as a cross-dose source).
    """
    kinds = study.region_map.kinds
    rows = []
    for cycle, tac in sorted(tacs.items()):
        for name, values in tac["activity_mbq"].items():
            kind = kinds.get(name, "organ")
            if per_kidney and name == "kidneys":
                continue
            if not per_kidney and kind == "organ_part":
                continue
            if tac["mass_g"].get(name, 0.0) <= 0 or max(values, default=0.0) <= 0:
                continue
            lesion = kind == "lesion"
            kidney = name in ("kidneys", "kidney_left", "kidney_right")
            rows.append(
                {
                    "name": name,
                    "kind": "lesion" if lesion else "organ",
                    "tissue": "tumour" if lesion else ("kidney" if kidney else None),
                    "administration": f"C{cycle}",
                    "times_h": tac["times_h"],
                    "activity_mbq": values,
                    "mass_g": tac["mass_g"][name],
                }
            )
    return [{k: v for k, v in r.items() if v is not None} for r in rows]


def _cache_key(study: Study, cycle: int) -> str:
    """Hash of everything a cycle's cached dosimetry depends on.

    The sstrkit version, the manifest (series, VOIs, resolution), the cycle's
    SPECT/CT files, the label map and label names it uses (sizes and
    modification times).
    """
    h = hashlib.sha256(__version__.encode())
    h.update(json.dumps(study.manifest, sort_keys=True, default=str).encode())
    paths: list[Path] = []
    for tp in study.time_points:
        if tp.cycle == cycle:
            paths += [p for p in (tp.spect_path, tp.ct_path) if p is not None]
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


def _stage_dosimetry(study: Study, res: RunResult, progress: Progress) -> dict[str, Any]:
    from sstrkit.io.dicom_write import write_rtdose
    from sstrkit.io.nifti import write_nifti
    from sstrkit.therapy.case import parse_case
    from sstrkit.therapy.planning import case_dosimetry

    if not study.cycles:
        raise _StageSkippedError("no post-therapy SPECT on disk")
    try:
        base = study.base_case()
        study.label_source_for_cycle(study.cycles[0])  # VOIs exist and are readable by name
        _ = study.region_map
    except SstrkitError as exc:
        raise _StageSkippedError(exc.one_line()) from None
    voxel: dict[int, dict[str, Any]] = {}
    tacs: dict[int, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    cache_dir = res.out / "cache"
    status = _cycle_status(study)
    for cycle in study.cycles:
        progress(f"dosimetry cycle {cycle}")
        try:
            cached = cache_dir / f"cycle{cycle}-{_cache_key(study, cycle)}.json"
            if cached.is_file():
                entry = json.loads(cached.read_text(encoding="utf-8"))
                voxel[cycle], tacs[cycle] = entry["voxel"], entry["tacs"]
                voxel[cycle]["from_cache"] = True
                if voxel[cycle].get("rtdose"):
                    res.files[f"rtdose_cycle{cycle}"] = str(voxel[cycle]["rtdose"])
                continue
            sd = study.cycle_dosimetry(cycle, progress=progress)
        except SstrkitError as exc:
            problems[f"cycle {cycle}"] = exc.one_line()
            continue
        except OSError as exc:  # a file listed in the manifest is unreadable
            problems[f"cycle {cycle}"] = f"{type(exc).__name__}: {exc}"
            continue
        if sd.region_activity is None:
            problems[f"cycle {cycle}"] = "no volumes of interest"
            continue
        tacs[cycle] = {**sd.region_activity.to_dict(), "status": status.get(cycle, "measured")}
        out_dir = res.out / "dose"
        source = _rtdose_study(study, cycle)
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
            problems[f"cycle {cycle} RTDOSE"] = exc.one_line()
            rt = None
        nii = write_nifti(sd.dose, out_dir / f"dose_cycle{cycle}.nii.gz")
        voxel[cycle] = {
            **sd.to_dict(),
            "rtdose": str(rt) if rt is not None else None,
            "nifti": str(nii),
        }
        marrow = _image_marrow(study, sd)
        if marrow is not None:
            voxel[cycle]["marrow_image"] = marrow
        if sd.voi_labels is not None:  # the VOIs as used, on the dose grid (for review)
            voxel[cycle]["voi_nifti"] = str(
                write_nifti(sd.voi_labels, out_dir / f"vois_cycle{cycle}.nii.gz")
            )
        if rt is not None:
            res.files[f"rtdose_cycle{cycle}"] = str(rt)
        if cycle == study.cycles[0]:
            res.artefacts["dose_map"] = sd.dose
            res.artefacts["dvhs"] = sd.regions
            res.artefacts["dose_ct"] = _first_ct(study, cycle, sd.dose)
        write_json_atomic(cached, {"voxel": voxel[cycle], "tacs": tacs[cycle]})
    if not tacs:
        raise _StageSkippedError("no cycle could be processed: " + "; ".join(problems.values()))
    if "dose_map" not in res.artefacts:
        _reload_dose_artefacts(study, res, voxel[min(voxel)], min(voxel))
    case_doc = {**base, "regions": _region_rows(study, tacs, per_kidney=False)}
    write_json_atomic(res.out / "case_with_imaging.json", case_doc)
    res.files["case_with_imaging"] = str(res.out / "case_with_imaging.json")
    case = parse_case(case_doc, name="case_with_imaging.json")
    res.artefacts["case"] = case
    organ = case_dosimetry(case)
    kidney_parts = _per_kidney_rows(study, base, tacs)
    _mark_status(organ, tacs, kidney_parts)
    flags: list[dict[str, Any]] = [f.to_dict() for f in study.intake_flags]
    for c in organ["cycles"]:
        if c["status"] == "estimated":
            flags.append(
                {
                    "kind": "estimated_cycle",
                    "cycle": c["cycle"],
                    "region": None,
                    "message": f"cycle {c['cycle']}: administration known but no SPECT; doses "
                    f"estimated from cycle {c.get('estimated_from_cycle', '?')} "
                    "(Gy/GBq × activity)",
                }
            )
        elif c["status"] == "reduced_timepoints":
            flags.append(
                {
                    "kind": "reduced_timepoints",
                    "cycle": c["cycle"],
                    "region": None,
                    "message": f"cycle {c['cycle']}: {len(tacs[c['cycle']]['times_h'])} SPECT "
                    "time point(s) instead of the protocol's; computed from the ones left "
                    "(≥ 3: fit; 1–2: single-time-point method with another cycle's kinetics)",
                }
            )
    if any(v.get("marrow_image") for v in voxel.values()):
        flags.append(
            {
                "kind": "dosimetry_note",
                "cycle": None,
                "region": IMAGE_MARROW_REGION,
                "message": "image-based red-marrow dose (mean voxel dose in the L2-L4 "
                "spongiosa VOI) reported beside the blood method: the VOI is small beside the "
                "SPECT resolution, so spill-in from soft tissue, kidneys and skeletal lesions "
                "raises it; the planning limit uses the blood method",
            }
        )
    no_fwhm = sorted({t.cycle for t in study.time_points if t.fwhm_mm is None})
    if no_fwhm:
        flags.append(
            {
                "kind": "no_partial_volume_correction",
                "cycle": None,
                "region": None,
                "message": "SPECT resolution (fwhm_mm) unknown for cycle(s) "
                + ", ".join(map(str, no_fwhm))
                + ": region activities are not partial-volume corrected (small organs and "
                "lesions read low); give --spect-fwhm-mm or set fwhm_mm in the manifest",
            }
        )
    for which, prob in problems.items():
        flags.append(
            {"kind": "cycle_failed", "cycle": None, "region": None, "message": f"{which}: {prob}"}
        )
    for cycle, vox in voxel.items():
        for note in vox.get("notes", []):
            flags.append(
                {"kind": "dosimetry_note", "cycle": cycle, "region": None, "message": note}
            )
    res.data_quality.extend(flags)
    return {
        "voi_source": study.voi_source,
        "regions": study.region_map.to_dict(),
        "administrations": [a.to_dict() for a in study.administrations],
        "voxel": voxel,
        "region_tacs": tacs,
        "organ_level": organ,
        "per_kidney": kidney_parts,
        "truth_total_gy": study.truth_doses(),
        "problems": problems,
        "flags": flags,
    }


#: Label names taken as an image-based red-marrow VOI (lumbar vertebral spongiosa).
_MARROW_VOI_WORDS = ("red_marrow", "bone_marrow", "marrow_l")

#: Row name of the image-based red-marrow dose in organ_doses.csv and the report.
IMAGE_MARROW_REGION = "red marrow (image, L2-L4 VOI)"


def _image_marrow(study: Study, sd: Any) -> dict[str, Any] | None:
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
    return {
        "dose_gy": float(d.mean()),
        "volume_ml": float(mask.sum()) * float(sd.dose.voxel_volume_ml),
        "method": "mean voxel absorbed dose (voxel S values) in the L2-L4 spongiosa VOI",
        "labels": [names[c] for c in codes],
        "source": "Hagmarker L et al., J Nucl Med 60 (2019) 1406-1413",
    }


def _per_kidney_rows(
    study: Study, base: dict[str, Any], tacs: dict[int, dict[str, Any]]
) -> dict[int, list[dict[str, Any]]]:
    """Left and right kidney doses per cycle (their own MIRD run, kidneys composite left out)."""
    from sstrkit.therapy.case import parse_case
    from sstrkit.therapy.planning import case_dosimetry

    if not {"kidney_left", "kidney_right"} & set(study.region_map.regions):
        return {}
    doc = {**base, "regions": _region_rows(study, tacs, per_kidney=True), "blood": []}
    organ = case_dosimetry(parse_case(doc, name="per-kidney case"))
    return {
        int(c["cycle"]): [r for r in c["regions"] if r["name"] in ("kidney_left", "kidney_right")]
        for c in organ["cycles"]
    }


def _mark_status(
    organ: dict[str, Any],
    tacs: dict[int, dict[str, Any]],
    kidney_parts: dict[int, list[dict[str, Any]]],
) -> None:
    """Each cycle and region row gets its status: measured | reduced_timepoints | estimated."""
    for c in organ["cycles"]:
        if c["cycle"] in tacs and c["status"] == "measured":
            c["status"] = tacs[c["cycle"]].get("status", "measured")
        for r in c.get("regions", []):
            if r.get("status") != "estimated":
                r["status"] = c["status"] if r["name"] != "red marrow" else "measured"
            tac = tacs.get(c["cycle"])
            if tac is not None and r["name"] in tac.get("density_g_ml", {}):
                r["density_g_ml"] = tac["density_g_ml"][r["name"]]
                r["density_source"] = tac["density_source"][r["name"]]
        for r in kidney_parts.get(c["cycle"], []):
            if r.get("status") != "estimated":
                r["status"] = c["status"]


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


def _rtdose_study(study: Study, cycle: int) -> Any:
    """Header of the first SPECT of ``cycle`` (the RTDOSE's source), or None."""
    return study.first_spect_header(cycle)


def _first_ct(study: Study, cycle: int, reference: Any) -> Any:
    """CT of the reference (first) time point of ``cycle``, for the dose overlay."""

    tp = next(t for t in study.time_points if t.cycle == cycle)
    return study.read(tp.ct_path, tp.ct_series_uid) if tp.ct_path is not None else None


def _reload_dose_artefacts(study: Study, res: RunResult, entry: dict[str, Any], cycle: int) -> None:
    """Dose map of a cached cycle, for the report's figures (DVHs from the cached metrics)."""
    from sstrkit.io.nifti import read_nifti

    path = Path(entry.get("nifti", ""))
    if not path.is_file():
        return
    dose = read_nifti(path)
    res.artefacts["dose_map"] = dose
    res.artefacts["dose_ct"] = _first_ct(study, cycle, dose)
    voi = Path(entry.get("voi_nifti", ""))
    if voi.is_file():
        from sstrkit.therapy.dvh import region_dvh

        lab = np.asarray(read_nifti(voi).array)
        res.artefacts["dvhs"] = tuple(
            region_dvh(dose, np.isin(lab, values), name=name)
            for name, values in study.label_table().items()
            if np.isin(lab, values).any()
        )


def _stage_planning(study: Study, res: RunResult) -> dict[str, Any]:
    from sstrkit.therapy.planning import plan_from_case

    case = res.artefacts.get("case")
    if case is None:
        raise _StageSkippedError("no dosimetry (see the dosimetry stage)")
    # Safety limits are never loosened by missing data: no plan without both limiting organs.
    names = {r.name for r in case.regions}
    missing = []
    if case.planning.kidney_region not in names:
        missing.append(f"kidney dose (no region {case.planning.kidney_region!r} in the VOIs)")
    if not case.blood:
        missing.append("red-marrow dose (no blood samples in clinical.json)")
    if missing:
        raise _StageSkippedError(
            "planning needs both limiting organs; missing: " + "; ".join(missing)
        )
    # Plan from the first cycle with imaging, as a clinic would after cycle 1.
    first = min(int(r.administration.lstrip("Cc")) for r in case.regions)
    case1 = case.model_copy(
        update={
            "administrations": [a for a in case.administrations if a.cycle == first],
            "regions": [r for r in case.regions if r.administration.lower() == f"c{first}"],
            "blood": [b for b in case.blood if b.administration.lower() == f"c{first}"],
        }
    )
    out: dict[str, Any] = {}
    for key, which in (("after_cycle_1", case1), ("running", case)):
        try:
            out[key] = plan_from_case(which).to_dict()
        except SstrkitError as exc:
            out[key] = None
            out[f"{key}_skipped"] = exc.one_line()
    if out["after_cycle_1"] is None and out["running"] is None:
        raise _StageSkippedError(str(out["running_skipped"]))
    if out["after_cycle_1"] is None:
        out["after_cycle_1"] = out["running"]
        out["after_cycle_1_note"] = "the first cycle alone cannot be planned; the running plan"
    if out["running"] is None:
        out["running"] = out["after_cycle_1"]
        out["running_note"] = "all cycles together cannot be planned; the plan after cycle 1"
    return out


def _stage_followup(study: Study, res: RunResult) -> dict[str, Any]:
    from sstrkit.followup.toxicity import LabRecord, assess_toxicity

    out: dict[str, Any] = {}
    dos = res.stages.get("dosimetry")
    kinds = dos["regions"]["kinds"] if dos else {}
    if dos and len(dos["region_tacs"]) < 2:
        only = sorted(int(c) for c in dos["region_tacs"])
        out["lesion_uptake_change"] = {
            "first_cycle": only[0],
            "last_cycle": only[0],
            "lesions": [],
            "status": "not_assessed",
            "needs": "post-therapy SPECT of at least two cycles (uptake change from the first "
            f"to the last cycle); only cycle {only[0]} has imaging",
        }
    elif dos:
        tacs = dos["region_tacs"]
        cycles = sorted(int(c) for c in tacs)
        first, last = cycles[0], cycles[-1]
        rows = []
        for name, values in tacs[first]["activity_mbq"].items():
            if kinds.get(name) != "lesion" or max(values) <= 0:
                continue
            if name not in tacs[last]["activity_mbq"]:
                continue
            # uptake at the same time after injection (24 h where both cycles have it):
            # the review's Fig. 2 sign
            t_first, t_last = tacs[first]["times_h"], tacs[last]["times_h"]
            common = [t for t in t_first if any(abs(t - u) < 1.0 for u in t_last)]
            if not common:
                continue
            th = min(common, key=lambda t: abs(t - 24.0))
            u0 = values[t_first.index(th)]
            u1 = tacs[last]["activity_mbq"][name][
                min(range(len(t_last)), key=lambda k: abs(t_last[k] - th))
            ]
            rows.append(
                {
                    "lesion": name,
                    "uptake_cycle_first_mbq": u0,
                    "uptake_cycle_last_mbq": u1,
                    "change_pct": 100.0 * (u1 / u0 - 1.0) if u0 > 0 else None,
                    "time_point_h": th,
                }
            )
        out["lesion_uptake_change"] = {
            "first_cycle": first,
            "last_cycle": last,
            "status": "assessed",
            "time_point_h": rows[0]["time_point_h"] if rows else None,
            "lesions": rows,
            "method": "lesion activity on post-therapy SPECT at the same time after injection, "
            "first vs last cycle (loss of uptake indicates tumour response; review Fig. 2)",
        }
    labs = (study.clinical or {}).get("labs", [])
    if labs:
        t0 = _dt.datetime.fromisoformat(labs[0]["time"])
        recs = [
            LabRecord(
                patient_id=str(study.manifest.get("patient", {}).get("id", "patient")),
                time_s=(_dt.datetime.fromisoformat(r["time"]) - t0).total_seconds(),
                hb_g_dl=r.get("haemoglobin_g_dl"),
                plt_1e9_l=r.get("platelets_1e9_l"),
                wbc_1e9_l=r.get("wbc_1e9_l"),
                creat_umol_l=r.get("creatinine_umol_l"),
            )
            for r in labs
        ]
        out["toxicity"] = assess_toxicity(recs).to_dict()
        out["labs"] = labs
    if not out:
        raise _StageSkippedError("no post-therapy imaging or labs")
    return out


class _StageSkippedError(Exception):
    """A stage cannot run on this study; the reason goes into the report."""


# -------------------------------------------------------------------- driver
def run_study(
    study_dir: str | Path,
    out: str | Path,
    *,
    progress: Progress | None = None,
    report: bool = True,
    segmentation: str | Path | None = None,
    label_names: str | Path | None = None,
    clinical: str | Path | None = None,
    roles: dict[str, str] | None = None,
    spect_fwhm_mm: float | None = None,
) -> RunResult:
    """Run the main job on a study folder and write everything into ``out``.

    ``study_dir`` may also be a bare DICOM folder (no ``manifest.json``): the
    intake (:func:`sstrkit.pipeline.intake.intake_study`, with ``segmentation``,
    ``label_names``, ``clinical`` and ``roles``) then writes the study into
    ``OUT/study`` first and the result says so (``intake``).
    """
    say = progress or (lambda _m: None)
    study_dir = Path(study_dir)
    intake: dict[str, Any] | None = None
    given = [
        n
        for n, v in (
            ("--segmentation", segmentation),
            ("--label-names", label_names),
            ("--clinical", clinical),
            ("--role", roles),
            ("--spect-fwhm-mm", spect_fwhm_mm),
        )
        if v is not None and v != {}
    ]
    if study_dir.is_dir() and not (study_dir / "manifest.json").is_file():
        from sstrkit.pipeline.intake import intake_study

        say("intake")
        made = intake_study(
            study_dir,
            Path(out) / "study",
            segmentation=segmentation,
            label_names=label_names,
            clinical=clinical,
            roles=roles,
            spect_fwhm_mm=spect_fwhm_mm,
            progress=say,
        )
        intake = made.to_dict()
        study_dir = made.manifest_path.parent
    elif given:
        from sstrkit.errors import InvalidInputError

        raise InvalidInputError(
            " ".join(given),
            expected="a bare DICOM folder (these options feed the intake)",
            actual=f"a study folder with its manifest ({study_dir / 'manifest.json'})",
            fix="edit that study's manifest, or give the DICOM folder instead",
        )
    study = Study.load(study_dir)
    res = RunResult(Path(study_dir).resolve(), Path(out).resolve())
    res.intake = intake
    res.out.mkdir(parents=True, exist_ok=True)
    stages: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("import", lambda: _stage_import(study, res)),
        ("reading", lambda: _stage_reading(study, res)),
        ("dosimetry", lambda: _stage_dosimetry(study, res, say)),
        ("planning", lambda: _stage_planning(study, res)),
        ("follow-up", lambda: _stage_followup(study, res)),
    ]
    if not study.has_labels:
        say("organs")
        t0 = time.perf_counter()
        try:
            study, res.stages["organs"] = _auto_organs(study, res, say)
        except _StageSkippedError as exc:
            res.skipped["organs"] = str(exc)
        except SstrkitError as exc:
            res.skipped["organs"] = exc.one_line()
        res.timings_s["organs"] = time.perf_counter() - t0
    for name, stage in stages:
        say(name)
        t0 = time.perf_counter()
        if name == "dosimetry" and "auto_organs" in res.artefacts:
            study = _merge_lesions(study, res)
        try:
            res.stages[name] = stage()
        except _StageSkippedError as exc:
            res.skipped[name] = str(exc)
        except SstrkitError as exc:
            res.skipped[name] = exc.one_line()
        except OSError as exc:
            res.skipped[name] = f"{type(exc).__name__}: {exc}"
        res.timings_s[name] = time.perf_counter() - t0
    _write_tables(res)
    if report:
        say("report")
        t0 = time.perf_counter()
        from sstrkit.report.theranostic import build_report

        path = build_report(study, res).write(res.out / "report" / "index.html")
        res.files["report"] = str(path)
        res.timings_s["report"] = time.perf_counter() - t0
    res.stages["provenance"] = Step.make(
        "sstrkit_run",
        {"stages": [n for n, _ in stages]},
        inputs=(str(study.root),),
        sources=("ICRP Publication 107", "QIBA FDG-PET/CT profile", "MIRD Pamphlet 21"),
    ).to_dict()
    write_json_atomic(res.out / "results.json", res.to_dict())
    res.files["results_json"] = str(res.out / "results.json")
    return res


#: Columns of ``organ_doses.csv`` (units in the names).
ORGAN_DOSE_COLUMNS = (
    "cycle",
    "region",
    "kind",
    "status",
    "tia_mbq_h",
    "dose_gy",
    "dose_gy_per_gbq",
    "model",
    "t_eff_h",
    "mass_g",
    "density_g_ml",
    "density_source",
    "truth_dose_gy",
)


def organ_dose_rows(dos: dict[str, Any]) -> list[tuple[Any, ...]]:
    """One row per cycle and region (per-kidney rows after the kidneys), every status."""
    rows = []
    for cyc in dos["organ_level"]["cycles"]:
        truth = dos["truth_total_gy"].get(str(cyc["cycle"]), {})
        regions = list(cyc.get("regions", []))
        parts = dos.get("per_kidney", {}).get(
            cyc["cycle"], dos.get("per_kidney", {}).get(str(cyc["cycle"]), [])
        )
        for r in [*regions, *parts]:
            kind = "organ_part" if r["name"] in ("kidney_left", "kidney_right") else r["kind"]
            rows.append(
                (
                    cyc["cycle"],
                    r["name"],
                    kind,
                    r.get("status", cyc.get("status")),
                    r["tia_mbq_h"],
                    r["dose_gy"],
                    r["dose_gy_per_gbq"],
                    r["model"],
                    r.get("t_eff_h"),
                    r.get("mass_g"),
                    r.get("density_g_ml"),
                    r.get("density_source"),
                    truth.get(r["name"]),
                )
            )
    admin = {int(a["cycle"]): float(a["activity_bq"]) for a in dos.get("administrations", [])}
    for key, vox in sorted(dos.get("voxel", {}).items(), key=lambda kv: int(kv[0])):
        m = vox.get("marrow_image")
        if not m:
            continue
        cyc = int(key)
        act = admin.get(cyc)
        rows.append(
            (
                cyc,
                IMAGE_MARROW_REGION,
                "organ",
                "measured",
                None,
                m["dose_gy"],
                m["dose_gy"] / (act / 1e9) if act else None,
                "voxel mean in VOI",
                None,
                None,
                None,
                None,
                None,
            )
        )
    return rows


def _write_tables(res: RunResult) -> None:
    dos = res.stages.get("dosimetry")
    if dos:
        res.files["organ_doses_csv"] = str(
            write_csv_atomic(res.out / "organ_doses.csv", ORGAN_DOSE_COLUMNS, organ_dose_rows(dos))
        )
    read = res.stages.get("reading")
    if read:
        keys = (
            "id",
            "suv_max",
            "suv_peak",
            "suv_mean",
            "volume_ml",
            "tlse",
            "t_l",
            "t_s",
            "krenning",
        )
        res.files["lesions_csv"] = str(
            write_csv_atomic(
                res.out / "lesions.csv",
                (*keys, "x_mm", "y_mm", "z_mm"),
                [(*(le.get(k) for k in keys), *le["centroid_mm"]) for le in read["lesions"]],
            )
        )
