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
from sstrkit.pipeline.study import DOSIMETRY_ORGANS, Study

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "sstrkit_version": __version__,
            "study": str(self.study),
            "out": str(self.out),
            "stages": jsonable(self.stages),
            "skipped": dict(self.skipped),
            "timings_s": dict(self.timings_s),
            "files": dict(self.files),
        }


# ------------------------------------------------------------------ stages
def _stage_import(study: Study, res: RunResult) -> dict[str, Any]:
    from sstrkit.io.discover import discover

    found = list(discover(study.root / "dicom").series) if (study.root / "dicom").is_dir() else []
    uids = {s.series_uid for s in found}
    expected: list[tuple[str, str]] = []
    for role, entry in study.manifest["series"].items():
        entries = entry if isinstance(entry, list) else [entry]
        expected += [(role, e["series_uid"]) for e in entries if isinstance(e, dict)]
    missing = [f"{role} {uid}" for role, uid in expected if uid not in uids]
    patient = dict(study.manifest.get("patient", {}))
    return {
        "patient": patient,
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


def _baseline_labs(study: Study) -> dict[str, Any]:
    """Labs before cycle 1 (or the first record), with age and sex from the case."""
    labs = (study.clinical or {}).get("labs", [])
    first = min(labs, key=lambda r: r.get("time", "")) if labs else {}
    out = {k: v for k, v in first.items() if k not in ("time", "before_cycle")}
    patient = (study.case or {}).get("patient", {})
    if patient.get("age_y") is not None:
        out["age_years"] = patient["age_y"]
    if patient.get("sex"):
        out["sex"] = patient["sex"]
    return out


def _stage_reading(study: Study, res: RunResult) -> dict[str, Any]:
    from sstrkit.reading.eligibility import Labs, load_rules
    from sstrkit.reading.images import write_lesion_slices, write_mip
    from sstrkit.reading.inputs import load_ct, load_suv_pet
    from sstrkit.reading.reader import read_sstr_pet

    pet_entry = study.series("pet")
    if pet_entry is None:
        raise _StageSkippedError("no SSTR PET in the manifest (role 'pet')")
    suv = load_suv_pet(study.path(pet_entry["path"]), assume_suv=False, role="PET")
    ct_entry = study.series("pet_ct")
    ct = load_ct(study.path(ct_entry["path"])) if ct_entry else None
    organs = suv.with_array(
        study.labels("baseline", suv), operation="organ_labels", quantity="label", unit="1"
    )
    fdg_entry = study.series("fdg")
    fdg = (
        load_suv_pet(study.path(fdg_entry["path"]), assume_suv=False, role="FDG PET")
        if fdg_entry
        else None
    )
    fdg_organs = (
        fdg.with_array(study.labels("baseline", fdg), operation="organ_labels", unit="1")
        if fdg is not None
        else None
    )
    labs_raw = _baseline_labs(study)
    names = study.label_names()
    result = read_sstr_pet(
        suv,
        ct=ct,
        organs=organs,
        organ_names=names,
        fdg=fdg,
        fdg_organs=fdg_organs,
        fdg_organ_names=names,
        labs=Labs.from_mapping(labs_raw) if labs_raw else None,
        rules=load_rules(None),
        tracer=pet_entry.get("tracer"),
    )
    out_dir = res.out / "reading"
    files = {
        "mip": str(write_mip(suv, out_dir / "mip.png", result.lesions)),
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
        source = read_series(study.path(pet["path"]))
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


def _region_tacs(study: Study, cycle: int, *, pvc: str = "gtm") -> dict[str, Any]:
    """Region activities (MBq) at each SPECT time point of ``cycle`` and region volumes.

    Partial-volume handling (``pvc``, stated in the result): ``"gtm"`` (default)
    solves the geometric transfer matrix of every labelled structure at the SPECT
    resolution (Rousset et al. 1998; :func:`sstrkit.therapy.pvc.gtm_region_doses`
    applied to the activity concentration) and takes region activity = corrected
    concentration × region volume; ``"voi"`` grows the kidney and spleen VOIs by
    FWHM/2 and divides lesions by their sphere recovery coefficient; ``"none"``
    sums the activity inside the VOIs. Region masses always come from the VOIs.
    Without a known resolution (``fwhm_mm`` in the manifest) nothing is corrected.
    """
    from sstrkit.io.dicom_read import read_series
    from sstrkit.therapy.pvc import activity_masks, gtm_region_doses, margin_voxels
    from sstrkit.therapy.recovery import sphere_recovery_coefficient

    tps = [t for t in study.time_points if t.cycle == cycle]
    table = study.label_table()
    wanted = {k: v for k, v in table.items() if k in DOSIMETRY_ORGANS or k.startswith("lesion")}
    fwhm = tps[0].fwhm_mm if tps else None
    method = pvc if fwhm else "none"
    acts: dict[str, list[float]] = {k: [] for k in wanted}
    volumes: dict[str, float] = {}
    masks: dict[str, np.ndarray] = {}
    lab = np.zeros(0, dtype=np.int32)
    grid: tuple[Any, ...] | None = None
    for tp in tps:
        spect = read_series([tp.spect_path]).volume
        if spect.unit != "Bq/mL":
            raise _StageSkippedError(f"SPECT of cycle {cycle} is in {spect.unit}, not Bq/mL")
        this_grid = (spect.shape, spect.spacing, spect.origin, spect.direction)
        ml = spect.voxel_volume_ml
        if this_grid != grid:  # label resampling once per grid
            lab = study.labels(f"cycle{cycle}", spect)
            margin = margin_voxels(fwhm, spect.spacing) if method == "voi" and fwhm else 0
            masks = activity_masks(lab, wanted, margin)
            volumes = {n: float(np.isin(lab, v).sum()) * ml for n, v in wanted.items()}
            grid = this_grid
        if method == "gtm" and fwhm:
            gtm = gtm_region_doses(spect.array, lab, wanted, fwhm_mm=fwhm, spacing_mm=spect.spacing)
            for name in wanted:
                conc = gtm[name].corrected_mean_gy if name in gtm else 0.0
                acts[name].append(max(conc, 0.0) * volumes[name] / 1e6)
        else:
            for name, mask in masks.items():
                acts[name].append(float(spect.array[mask].sum()) * ml / 1e6)
    rc: dict[str, float] = {}
    if method == "voi" and fwhm:
        for name in acts:
            if name.startswith("lesion") and volumes.get(name, 0.0) > 0:
                rc[name] = sphere_recovery_coefficient(volumes[name], fwhm)
                acts[name] = [a / rc[name] for a in acts[name]]
    descriptions = {
        "gtm": "geometric transfer matrix of all labelled structures (Rousset et al. "
        "J Nucl Med 1998;39:904) at the SPECT FWHM; activity = corrected concentration × volume",
        "voi": "kidney/spleen VOIs grown by FWHM/2 into unlabelled tissue; lesions divided by "
        "the sphere-model recovery coefficient",
        "none": "activity summed inside the VOIs (no partial-volume correction)",
    }
    return {
        "times_h": [t.hours_post_injection for t in tps],
        "activity_mbq": acts,
        "volume_ml": volumes,
        "recovery_coefficients": rc,
        "spect_fwhm_mm": fwhm,
        "pvc": method,
        "recovery_method": descriptions[method],
    }


def _case_with_regions(study: Study, tacs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The study's case file completed with the image-derived time–activity data."""
    case: dict[str, Any] = json.loads(json.dumps(study.case))
    admins = {int(a["cycle"]): a["id"] for a in case["administrations"]}
    regions = []
    for cycle, tac in tacs.items():
        for name, values in tac["activity_mbq"].items():
            if tac["volume_ml"].get(name, 0.0) <= 0 or max(values, default=0.0) <= 0:
                continue
            lesion = name.startswith("lesion")
            regions.append(
                {
                    "name": name,
                    "kind": "lesion" if lesion else "organ",
                    "tissue": "tumour" if lesion else ("kidney" if name == "kidneys" else None),
                    "administration": admins[cycle],
                    "times_h": tac["times_h"],
                    "activity_mbq": values,
                    "volume_ml": tac["volume_ml"][name],
                    "density_g_per_ml": 1.05 if name == "kidneys" else 1.0,
                }
            )
    case["regions"] = [{k: v for k, v in r.items() if v is not None} for r in regions]
    return case


def _cache_key(study: Study, cycle: int) -> str:
    """Hash of everything a cycle's cached dosimetry depends on.

    The sstrkit version, the manifest (series, VOI table, resolution), the
    cycle's SPECT/CT files and its label map (sizes and modification times).
    """
    h = hashlib.sha256(__version__.encode())
    h.update(json.dumps(study.manifest, sort_keys=True).encode())
    paths: list[Path] = []
    for tp in study.time_points:
        if tp.cycle == cycle:
            paths += [p for p in (tp.spect_path, tp.ct_path) if p is not None]
    for section in ("segmentation", "truth"):
        rel = (study.manifest.get(section) or {}).get("labels_nifti", {}).get(f"cycle{cycle}")
        if rel:
            paths.append(study.path(rel))
    for p in paths:
        for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _stage_dosimetry(study: Study, res: RunResult, progress: Progress) -> dict[str, Any]:
    from sstrkit.io.dicom_write import PatientInfo, StudyInfo, write_rtdose
    from sstrkit.io.nifti import write_nifti
    from sstrkit.therapy.case import parse_case
    from sstrkit.therapy.planning import case_dosimetry
    from sstrkit.therapy.voxel_dose import study_cycle_dosimetry

    if study.case is None:
        raise _StageSkippedError("no case.json (administrations, patient) in the study")
    if not study.cycles:
        raise _StageSkippedError("no post-therapy SPECT in the manifest")
    voxel: dict[int, dict[str, Any]] = {}
    tacs: dict[int, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    cache_dir = res.out / "cache"
    for cycle in study.cycles:
        progress(f"dosimetry cycle {cycle}")
        try:
            cached = cache_dir / f"cycle{cycle}-{_cache_key(study, cycle)}.json"
            if cached.is_file():
                entry = json.loads(cached.read_text(encoding="utf-8"))
                voxel[cycle], tacs[cycle] = entry["voxel"], entry["tacs"]
                voxel[cycle]["from_cache"] = True
                res.files[f"rtdose_cycle{cycle}"] = str(voxel[cycle]["rtdose"])
                continue
            sd = study_cycle_dosimetry(
                study.root,
                cycle,
                voi_labels=study.label_volume(f"cycle{cycle}"),
                voi_regions=study.label_table(),
            )
            tacs[cycle] = _region_tacs(study, cycle)
        except SstrkitError as exc:
            problems[f"cycle {cycle}"] = exc.one_line()
            continue
        except OSError as exc:  # a file listed in the manifest is missing or unreadable
            problems[f"cycle {cycle}"] = f"{type(exc).__name__}: {exc}"
            continue
        out_dir = res.out / "dose"
        pat = study.manifest.get("patient", {})
        rt = write_rtdose(
            sd.dose,
            out_dir / f"rtdose_cycle{cycle}.dcm",
            patient=PatientInfo(
                patient_id=str(pat.get("id", "SSTRKIT0001")),
                sex=pat.get("sex", "") if pat.get("sex") in ("M", "F", "O") else "",
                weight_kg=pat.get("weight_kg"),
                height_cm=pat.get("height_cm"),
            ),
            study=StudyInfo(description=f"sstrkit voxel dosimetry, cycle {cycle}"),
            comment=f"177Lu voxel dosimetry cycle {cycle} (sstrkit {__version__})",
        )
        nii = write_nifti(sd.dose, out_dir / f"dose_cycle{cycle}.nii.gz")
        voxel[cycle] = {**sd.to_dict(), "rtdose": str(rt), "nifti": str(nii)}
        res.files[f"rtdose_cycle{cycle}"] = str(rt)
        if cycle == study.cycles[0]:
            res.artefacts["dose_map"] = sd.dose
            res.artefacts["dvhs"] = sd.regions
            res.artefacts["dose_ct"] = _first_ct(study, cycle)
        write_json_atomic(cached, {"voxel": voxel[cycle], "tacs": tacs[cycle]})
    if not tacs:
        raise _StageSkippedError("no cycle could be processed: " + "; ".join(problems.values()))
    if "dose_map" not in res.artefacts:
        _reload_dose_artefacts(study, res, voxel[min(voxel)], min(voxel))
    case_doc = _case_with_regions(study, tacs)
    write_json_atomic(res.out / "case_with_imaging.json", case_doc)
    res.files["case_with_imaging"] = str(res.out / "case_with_imaging.json")
    case = parse_case(case_doc, name="case_with_imaging.json")
    res.artefacts["case"] = case
    organ = case_dosimetry(case)
    truth = _truth_doses(study)
    return {
        "voi_source": study.voi_source,
        "voxel": voxel,
        "region_tacs": tacs,
        "organ_level": organ,
        "truth_total_gy": truth,
        "problems": problems,
    }


def _first_ct(study: Study, cycle: int) -> Any:
    """CT of the reference (first) time point of ``cycle``, for the dose overlay."""
    from sstrkit.io.dicom_read import read_series

    tp = next(t for t in study.time_points if t.cycle == cycle)
    return read_series(tp.ct_path).volume if tp.ct_path is not None else None


def _reload_dose_artefacts(study: Study, res: RunResult, entry: dict[str, Any], cycle: int) -> None:
    """Dose map and DVHs of a cached cycle, for the report's figures."""
    from sstrkit.io.nifti import read_nifti
    from sstrkit.therapy.dvh import region_dvh

    path = Path(entry.get("nifti", ""))
    if not path.is_file():
        return
    dose = read_nifti(path)
    res.artefacts["dose_map"] = dose
    res.artefacts["dose_ct"] = _first_ct(study, cycle)
    lab = study.labels(f"cycle{cycle}", dose)
    res.artefacts["dvhs"] = tuple(
        region_dvh(dose, np.isin(lab, values), name=name)
        for name, values in study.label_table().items()
        if np.isin(lab, values).any()
    )


def _truth_doses(study: Study) -> dict[str, dict[str, float]]:
    truth = study.truth
    if truth is None:
        return {}
    return {
        str(c["cycle"]): {
            k: float(v["total_gy"]) for k, v in c.get("regions", {}).items() if "total_gy" in v
        }
        for c in truth.get("cycles", [])
    }


def _stage_planning(study: Study, res: RunResult) -> dict[str, Any]:
    from sstrkit.therapy.planning import plan_from_case

    case = res.artefacts.get("case")
    if case is None:
        raise _StageSkippedError("no dosimetry (see the dosimetry stage)")
    # Plan from the first cycle, as a clinic would after cycle 1.
    first = min(a.cycle for a in case.administrations)
    case1 = case.model_copy(
        update={
            "administrations": [a for a in case.administrations if a.cycle == first],
            "regions": [r for r in case.regions if r.administration.lower() == f"c{first}"],
            "blood": [b for b in case.blood if b.administration.lower() == f"c{first}"],
        }
    )
    after_cycle1 = plan_from_case(case1).to_dict()
    running = plan_from_case(case).to_dict()
    return {"after_cycle_1": after_cycle1, "running": running}


def _stage_followup(study: Study, res: RunResult) -> dict[str, Any]:
    from sstrkit.followup.toxicity import LabRecord, assess_toxicity

    out: dict[str, Any] = {}
    dos = res.stages.get("dosimetry")
    if dos:
        tacs = dos["region_tacs"]
        cycles = sorted(int(c) for c in tacs)
        first, last = cycles[0], cycles[-1]
        rows = []
        for name, values in tacs[first]["activity_mbq"].items():
            if not name.startswith("lesion") or max(values) <= 0:
                continue
            # uptake at the 24 h (second) time point, per cycle: the review's Fig. 2 sign
            idx = min(1, len(values) - 1)
            u0 = values[idx]
            u1 = tacs[last]["activity_mbq"][name][idx]
            rows.append(
                {
                    "lesion": name,
                    "uptake_cycle_first_mbq": u0,
                    "uptake_cycle_last_mbq": u1,
                    "change_pct": 100.0 * (u1 / u0 - 1.0) if u0 > 0 else None,
                }
            )
        out["lesion_uptake_change"] = {
            "first_cycle": first,
            "last_cycle": last,
            "time_point_h": tacs[first]["times_h"][min(1, len(tacs[first]["times_h"]) - 1)],
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
) -> RunResult:
    """Run the main job on a study folder and write everything into ``out``."""
    say = progress or (lambda _m: None)
    study = Study.load(study_dir)
    res = RunResult(Path(study_dir).resolve(), Path(out).resolve())
    res.out.mkdir(parents=True, exist_ok=True)
    stages: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("import", lambda: _stage_import(study, res)),
        ("reading", lambda: _stage_reading(study, res)),
        ("dosimetry", lambda: _stage_dosimetry(study, res, say)),
        ("planning", lambda: _stage_planning(study, res)),
        ("follow-up", lambda: _stage_followup(study, res)),
    ]
    for name, stage in stages:
        say(name)
        t0 = time.perf_counter()
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


def _write_tables(res: RunResult) -> None:
    dos = res.stages.get("dosimetry")
    if dos:
        rows = []
        for cyc in dos["organ_level"]["cycles"]:
            if not cyc.get("measured"):
                continue
            truth = dos["truth_total_gy"].get(str(cyc["cycle"]), {})
            for r in cyc["regions"]:
                rows.append(
                    (
                        cyc["cycle"],
                        r["name"],
                        r["kind"],
                        r["model"],
                        r["t_eff_h"],
                        r["tia_mbq_h"],
                        r["dose_gy"],
                        r["dose_gy_per_gbq"],
                        truth.get(r["name"]),
                    )
                )
        header = (
            "cycle",
            "region",
            "kind",
            "model",
            "t_eff_h",
            "tia_mbq_h",
            "dose_gy",
            "dose_gy_per_gbq",
            "truth_dose_gy",
        )
        res.files["organ_doses_csv"] = str(
            write_csv_atomic(res.out / "organ_doses.csv", header, rows)
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
