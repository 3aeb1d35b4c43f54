"""A finished ``sstrkit run`` output folder, read into registry rows (no database here).

What is read, and from where:

* ``OUT/results.json`` (:meth:`sstrkit.pipeline.run.RunResult.to_dict`): the
  administrations (``stages.import``), the SSTR PET reading (``stages.reading``:
  Krenning, eligibility, lesions and SUVs), per-cycle dosimetry
  (``stages.dosimetry.organ_level.cycles`` — MIRD organ level, the values planning
  uses —, ``per_kidney``, and the voxel means of ``voxel.<cycle>.regions``), the
  cumulative kidney BED (``stages.planning.running.delivered``), the lesion uptake
  change (``stages.follow-up``) and the files the run wrote (``files``);
* the study's ``manifest.json`` (the folder named by results.json ``study``):
  patient id and the study key;
* the study's ``clinical.json``: labs, diagnostic administrations and the
  follow-up sections of :mod:`sstrkit.registry.clinical`.

**Study key.** The manifest's ``study_instance_uid`` (the DICOM
StudyInstanceUID a clinic keys the course by) when it gives one; otherwise the
deterministic ``sstrkit-`` + the first 32 hex digits of SHA-256 of
``"<patient id>|<series UID>"``, where the series is the baseline SSTR PET (role
``pet``), else the earliest post-therapy SPECT (lowest cycle, then earliest time).
The same study folder thus keeps its key when more cycles are added to it, and
two copies of it share one key.

**Per-cycle BED** (not in results.json) is computed here with
:func:`sstrkit.therapy.radiobiology.bed` for mono-exponential kinetics (the
Lea–Catcheside G of that curve, as planning does), with the tissue's α/β and
repair half-time (:func:`~sstrkit.therapy.radiobiology.tissue_parameters`); for
other kinetics, or a region without a tissue (liver, spleen), it is NULL.

A value the run did not produce is ``None`` (NULL), never a default.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sstrkit.core.units import SECONDS_PER_HOUR
from sstrkit.errors import InvalidInputError, SstrkitError
from sstrkit.registry.clinical import DAY_S, FollowUp, parse_follow_up

__all__ = ["RunData", "read_run_folder", "study_key"]

HOUR_S: Final = SECONDS_PER_HOUR
MBQ: Final = 1e6
#: clinical.json lab keys → (name, unit)
LAB_KEYS: Final = {
    "creatinine_umol_l": ("creatinine", "umol/L"),
    "haemoglobin_g_dl": ("haemoglobin", "g/dL"),
    "platelets_1e9_l": ("platelets", "1e9/L"),
    "wbc_1e9_l": ("wbc", "1e9/L"),
    # liver function and chromogranin A (issue 23): long format, no new column
    "bilirubin_umol_l": ("bilirubin", "umol/L"),
    "albumin_g_l": ("albumin", "g/L"),
    "alt_u_l": ("alt", "U/L"),
    "ast_u_l": ("ast", "U/L"),
    "alp_u_l": ("alp", "U/L"),
    "inr": ("inr", "1"),
    "chromogranin_a_ug_l": ("chromogranin_a", "ug/L"),
}
_KIDNEYS: Final = ("kidneys", "kidney_left", "kidney_right")
_ORGAN_METHOD: Final = "MIRD organ level from the SPECT time-activity curve"
_FIX_RUN: Final = "give the output folder of a finished 'sstrkit run STUDY --out OUT'"


@dataclass(frozen=True)
class RunData:
    """Everything :meth:`Registry.add_run` writes for one run folder.

    ``rows`` maps a table name of :mod:`sstrkit.registry.schema` to its rows
    (column → value, without the keys the registry fills in).
    """

    out_dir: Path
    study_dir: Path
    content_sha256: str
    finished_at: _dt.datetime
    patient_id: str
    sex: str | None
    study_key: str
    study_instance_uid: str | None
    run: dict[str, Any]
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _load_json(path: Path, what: str, fix: str = _FIX_RUN) -> tuple[Any, bytes]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInputError(
            what, expected=f"the file {path}", actual="no such file", fix=fix
        ) from None
    except IsADirectoryError:
        raise InvalidInputError(what, expected="a file", actual=f"{path} is a folder") from None
    try:
        return json.loads(raw.decode("utf-8")), raw
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f"line {exc.lineno}: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else exc
        raise InvalidInputError(
            f"{what} {path}",
            expected="valid JSON written by sstrkit",
            actual=where,
            fix="run 'sstrkit run' again into this folder (the file is damaged or incomplete)",
        ) from None


def _number(value: Any) -> float | None:
    """A finite float, or None (missing, null, NaN, not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _scaled(value: Any, factor: float) -> float | None:
    v = _number(value)
    return None if v is None else v * factor


def _time(value: Any) -> _dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = _dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.utcoffset() is not None else None


def study_key(manifest: Mapping[str, Any]) -> tuple[str, str | None]:
    """(study key, DICOM StudyInstanceUID or None) of a manifest (module docstring).

    >>> study_key({"study_instance_uid": "1.2.3", "patient": {"id": "P1"}})
    ('1.2.3', '1.2.3')
    >>> key, uid = study_key({"patient": {"id": "P1"}, "series": {"pet": {"series_uid": "9.8"}}})
    >>> key.startswith("sstrkit-"), len(key), uid
    (True, 40, None)
    """
    uid = manifest.get("study_instance_uid")
    if isinstance(uid, str) and uid.strip():
        return uid.strip(), uid.strip()
    patient = str((manifest.get("patient") or {}).get("id") or "")
    series = manifest.get("series") or {}
    anchor = (series.get("pet") or {}).get("series_uid") if isinstance(series, dict) else None
    if not anchor and isinstance(series, dict):
        spects = [s for s in series.get("spect") or [] if isinstance(s, dict)]
        spects.sort(key=lambda s: (int(s.get("cycle") or 0), str(s.get("time") or "")))
        anchor = spects[0].get("series_uid") if spects else None
    if not anchor:
        raise InvalidInputError(
            "study key",
            expected="a manifest with study_instance_uid, a baseline PET or a SPECT series",
            actual="none of them",
            fix='add "study_instance_uid" to the study\'s manifest.json',
        )
    digest = hashlib.sha256(f"{patient}|{anchor}".encode()).hexdigest()[:32]
    return f"sstrkit-{digest}", None


def read_run_folder(out_dir: str | Path, *, study: str | Path | None = None) -> RunData:
    """Read a finished run folder (``OUT/results.json``) and its study into rows.

    ``study`` overrides the study folder named in results.json (a study moved
    since the run). Raises :class:`~sstrkit.errors.InvalidInputError` for a
    folder without a readable results.json, manifest or patient id.
    """
    out = Path(out_dir).expanduser().resolve()
    if not out.is_dir():
        raise InvalidInputError(
            "run folder", expected="an existing folder", actual=str(out), fix=_FIX_RUN
        )
    results_path = out / "results.json"
    results, raw_results = _load_json(results_path, "run results")
    if not isinstance(results, dict) or not isinstance(results.get("stages"), dict):
        raise InvalidInputError(
            f"run results {results_path}",
            expected="the results.json of 'sstrkit run' (with 'stages')",
            actual=type(results).__name__ if not isinstance(results, dict) else "no stages",
            fix=_FIX_RUN,
        )
    study_dir = Path(study or results.get("study") or "").expanduser()
    if not study_dir.is_absolute():
        study_dir = (out / study_dir).resolve()
    manifest, raw_manifest = _load_json(
        study_dir / "manifest.json",
        "study manifest",
        fix="give the study folder with --study (moved since the run?)",
    )
    if not isinstance(manifest, dict):
        raise InvalidInputError(
            f"study manifest {study_dir / 'manifest.json'}",
            expected="a JSON object",
            actual=type(manifest).__name__,
        )
    clinical, raw_clinical = _read_clinical(study_dir, manifest)
    patient_id = str((manifest.get("patient") or {}).get("id") or "").strip()
    if not patient_id:
        raise InvalidInputError(
            f"patient id of {study_dir / 'manifest.json'}",
            expected='"patient": {"id": ...}',
            actual="none",
            fix="set patient.id in the study's manifest.json (the registry keys patients by it)",
        )
    key, uid = study_key(manifest)
    digest = hashlib.sha256()
    for part in (raw_results, raw_manifest, raw_clinical):
        digest.update(hashlib.sha256(part).digest())
    finished = _dt.datetime.fromtimestamp(results_path.stat().st_mtime, _dt.UTC)
    stages: dict[str, Any] = results["stages"]
    follow_up = parse_follow_up(clinical, name=str(study_dir / _clinical_name(manifest)))
    try:
        rows = _rows(out, stages, results, clinical, follow_up)
        run = _run_columns(results, stages, rows["region_doses"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, SstrkitError):
            raise
        raise InvalidInputError(
            f"run results {results_path}",
            expected="results.json as 'sstrkit run' writes it",
            actual=f"{type(exc).__name__}: {exc}",
            fix="run 'sstrkit run' again into this folder (the file is damaged or foreign)",
        ) from None
    return RunData(
        out_dir=out,
        study_dir=study_dir,
        content_sha256=digest.hexdigest(),
        finished_at=finished,
        patient_id=patient_id,
        sex=_sex(manifest, stages),
        study_key=key,
        study_instance_uid=uid,
        run=run,
        rows=rows,
    )


def _clinical_name(manifest: Mapping[str, Any]) -> str:
    return str(manifest.get("clinical") or "clinical.json")


def _read_clinical(study_dir: Path, manifest: Mapping[str, Any]) -> tuple[dict[str, Any], bytes]:
    path = study_dir / _clinical_name(manifest)
    if not path.is_file():
        return {}, b""
    doc, raw = _load_json(path, "clinical data")
    if not isinstance(doc, dict):
        raise InvalidInputError(
            f"clinical data {path}", expected="a JSON object", actual=type(doc).__name__
        )
    return doc, raw


def _sex(manifest: Mapping[str, Any], stages: Mapping[str, Any]) -> str | None:
    used = (stages.get("import") or {}).get("patient_used") or {}
    raw = used.get("sex") or (manifest.get("patient") or {}).get("sex")
    if not isinstance(raw, str) or not raw:
        return None
    return {"m": "M", "male": "M", "f": "F", "female": "F"}.get(raw.lower(), raw)


def _rows(
    out: Path,
    stages: Mapping[str, Any],
    results: Mapping[str, Any],
    clinical: Mapping[str, Any],
    follow_up: FollowUp,
) -> dict[str, list[dict[str, Any]]]:
    admins = _administrations(stages, clinical)
    therapy = [a["time"] for a in admins if a["cycle"] is not None and a["time"] is not None]
    first_cycle = min(therapy) if therapy else None
    reading, lesions = _reading(stages.get("reading"))
    return {
        "administrations": admins,
        "readings": reading,
        "reading_lesions": lesions,
        "region_doses": _region_doses(
            stages.get("dosimetry"), vois_from_reading="vois_nifti" in (results.get("files") or {})
        ),
        "lab_values": _labs(clinical),
        "response_assessments": [
            {
                **dict(zip(("time", "since_first_cycle_s"), r.when(first_cycle), strict=True)),
                "criteria": r.criteria,
                "response": r.response,
                "source": r.source,
            }
            for r in follow_up.responses
        ],
        "lesion_volumes": [
            {
                "lesion": v.lesion,
                **dict(zip(("time", "since_first_cycle_s"), v.when(first_cycle), strict=True)),
                "volume_ml": v.volume_ml,
                "source": v.source,
            }
            for v in follow_up.lesion_volumes
        ],
        "lesion_uptake_changes": _uptake(stages.get("follow-up")),
        "survival": _survival(follow_up),
        "run_files": _files(
            {"results_json": str(out / "results.json"), **(results.get("files") or {})}
        ),
    }


def _administrations(
    stages: Mapping[str, Any], clinical: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Therapy cycles as the run used them; diagnostic tracers (no cycle) from clinical.json."""
    out: list[dict[str, Any]] = []
    imported = (stages.get("import") or {}).get("administrations")
    clinical_admins = [a for a in clinical.get("administrations") or [] if isinstance(a, dict)]
    therapy = (
        imported
        if isinstance(imported, list)
        else [a for a in clinical_admins if a.get("cycle") is not None]
    )
    for a in therapy:
        activity = _number(a.get("activity_bq"))
        if activity is None or a.get("cycle") is None:
            continue
        out.append(
            {
                "cycle": int(a["cycle"]),
                "time": _time(a.get("time")),
                "activity_bq": activity,
                "radiopharmaceutical": a.get("agent") or a.get("radiopharmaceutical"),
                "nuclide": a.get("nuclide"),
                "source": a.get("source"),
            }
        )
    for a in clinical_admins:
        activity = _number(a.get("activity_bq"))
        if a.get("cycle") is None and activity is not None:
            out.append(
                {
                    "cycle": None,
                    "time": _time(a.get("time")),
                    "activity_bq": activity,
                    "radiopharmaceutical": a.get("radiopharmaceutical"),
                    "nuclide": a.get("nuclide"),
                    "source": "clinical.json",
                }
            )
    return out


def _reading(stage: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if not isinstance(stage, dict):
        return [], []
    elig = stage.get("eligibility") or {}
    ref = stage.get("reference") or {}
    eligible = elig.get("eligible")
    lesions = [le for le in stage.get("lesions") or [] if isinstance(le, dict)]
    reading = {
        "tracer": stage.get("tracer"),
        "krenning_patient": stage.get("krenning_patient"),
        "eligible": eligible if isinstance(eligible, bool) else None,
        "eligibility_status": elig.get("status"),
        "eligibility_missing": [str(m) for m in elig.get("missing") or []],
        "n_lesions": stage.get("n_lesions", len(lesions)),
        "netpet_grade": (stage.get("netpet") or {}).get("grade"),
        "sstr_tumour_volume_ml": _number(stage.get("sstr_tumour_volume_ml")),
        "total_tlse_suv_ml": _number(stage.get("total_tlse")),
        "liver_suv_mean": _number(ref.get("liver_suv_mean")),
        "spleen_suv_mean": _number(ref.get("spleen_suv_mean")),
    }
    rows = []
    for le in lesions:
        if le.get("id") is None:
            continue
        c = le.get("centroid_mm") or [None, None, None]
        rows.append(
            {
                "lesion_id": int(le["id"]),
                "organ": le.get("organ"),
                **{k: _number(le.get(k)) for k in ("suv_max", "suv_peak", "suv_mean")},
                "volume_ml": _number(le.get("volume_ml")),
                "tlse_suv_ml": _number(le.get("tlse")),
                "krenning": le.get("krenning"),
                "x_mm": _number(c[0]),
                "y_mm": _number(c[1]),
                "z_mm": _number(c[2]),
            }
        )
    return [reading], rows


def _bed(row: Mapping[str, Any], dose_gy: float | None) -> tuple[float | None, str | None]:
    """Per-cycle BED of an organ-level row (module docstring), with how it was made."""
    from sstrkit.therapy.radiobiology import bed, tissue_parameters

    name, kind = str(row.get("name")), row.get("kind")
    tissue = row.get("tissue") or ("tumour" if kind == "lesion" else None)
    if tissue is None and name in _KIDNEYS:
        tissue = "kidney"
    t_eff_h = _number(row.get("t_eff_h"))
    if tissue is None or dose_gy is None or t_eff_h is None or t_eff_h <= 0:
        return None, None
    if row.get("model") != "mono":
        return None, None
    try:
        tp = tissue_parameters(str(tissue))
        value = bed(
            dose_gy,
            alpha_beta_gy=tp.alpha_beta_gy,
            t_repair_s=tp.t_repair_s,
            t_eff_s=t_eff_h * SECONDS_PER_HOUR,
        )
    except SstrkitError:
        return None, None
    how = (
        f"Lea-Catcheside G of the mono-exponential fit (T_eff {t_eff_h:.4g} h), {tp.name}: "
        f"alpha/beta {tp.alpha_beta_gy:g} Gy, T_rep {tp.t_repair_s / SECONDS_PER_HOUR:g} h "
        "(sstrkit.therapy.radiobiology.bed)"
    )
    return value, how


def _organ_row(cycle: int, r: Mapping[str, Any], status: Any, kind: Any) -> dict[str, Any]:
    dose = _number(r.get("dose_gy"))
    rel_sd = _number(r.get("dose_relative_sd"))
    bed_gy, bed_method = _bed(r, dose)
    model = r.get("model")
    return {
        "cycle": cycle,
        "region": str(r.get("name")),
        "kind": kind,
        "reading_lesion_id": None,
        "level": "organ",
        "status": r.get("status", status),
        "method": f"{_ORGAN_METHOD} ({model} kinetics)" if model else _ORGAN_METHOD,
        "tia_bq_s": _scaled(r.get("tia_mbq_h"), MBQ * HOUR_S),
        "tia_sd_bq_s": _scaled(r.get("tia_sd_mbq_h"), MBQ * HOUR_S),
        "dose_gy": dose,
        "dose_sd_gy": None if dose is None or rel_sd is None else dose * rel_sd,
        "bed_gy": bed_gy,
        "bed_method": bed_method,
        "t_eff_s": _scaled(r.get("t_eff_h"), HOUR_S),
        "mass_g": _number(r.get("mass_g")),
        "volume_ml": None,
        "dose_max_gy": None,
        "d90_gy": None,
    }


def _region_doses(dos: Any, *, vois_from_reading: bool) -> list[dict[str, Any]]:
    """Organ-level (MIRD) rows, per-kidney rows, and the voxel-map means per cycle.

    ``vois_from_reading``: the lesion VOIs are the PET reading's lesions (named
    ``lesion_<id>`` by the run), so each lesion row names its reading lesion.
    """
    if not isinstance(dos, dict):
        return []
    tacs = dos.get("region_tacs") or {}
    rows: list[dict[str, Any]] = []
    for c in (dos.get("organ_level") or {}).get("cycles") or []:
        cycle = int(c["cycle"])
        volumes = (tacs.get(str(cycle)) or tacs.get(cycle) or {}).get("volume_ml") or {}
        per_kidney = dos.get("per_kidney") or {}
        parts = per_kidney.get(str(cycle)) or per_kidney.get(cycle) or []
        for r in [*(c.get("regions") or []), *parts]:
            kind = "organ_part" if r.get("name") in _KIDNEYS[1:] else r.get("kind")
            row = _organ_row(cycle, r, c.get("status"), kind)
            row["volume_ml"] = _number(volumes.get(row["region"]))
            suffix = row["region"].removeprefix("lesion_")
            if vois_from_reading and kind == "lesion" and suffix.isdigit():
                row["reading_lesion_id"] = int(suffix)
            rows.append(row)
    for key, vox in sorted((dos.get("voxel") or {}).items(), key=lambda kv: int(kv[0])):
        rows.extend(_voxel_rows(int(key), vox))
    return rows


def _voxel_rows(cycle: int, vox: Mapping[str, Any]) -> list[dict[str, Any]]:
    params = vox.get("parameters") or {}
    method = (
        f"voxel dose map ({params.get('method', 'unknown')} kernel, "
        f"{params.get('tia_method', 'unknown')} TIA): mean in the VOI"
    )
    regions = [dict(r) for r in vox.get("regions") or [] if isinstance(r, dict)]
    marrow = vox.get("marrow_image")
    if isinstance(marrow, dict):
        regions.append({"name": "red marrow (image, L2-L4 VOI)", **marrow, "mean_gy": None})
    rows = []
    for r in regions:
        image_marrow = r.get("name") == "red marrow (image, L2-L4 VOI)"
        rows.append(
            {
                "cycle": cycle,
                "region": str(r.get("name")),
                "kind": None,
                "reading_lesion_id": None,
                "level": "voxel",
                "status": None,
                "method": str(r.get("method")) if image_marrow else method,
                "tia_bq_s": None,
                "tia_sd_bq_s": None,
                "dose_gy": _number(r.get("dose_gy" if image_marrow else "mean_gy")),
                "dose_sd_gy": None,
                "bed_gy": None,
                "bed_method": None,
                "t_eff_s": None,
                "mass_g": None,
                "volume_ml": _number(r.get("volume_ml")),
                "dose_max_gy": _number(r.get("max_gy")),
                "d90_gy": _number(r.get("d90_gy")),
            }
        )
    return rows


def _labs(clinical: Mapping[str, Any]) -> list[dict[str, Any]]:
    if not clinical:
        return []
    from sstrkit.pipeline.manifest import parse_clinical

    record = parse_clinical(clinical)
    rows = []
    for lab in record.labs:
        for key, (name, unit) in LAB_KEYS.items():
            value = getattr(lab, key)
            if value is not None:
                rows.append(
                    {
                        "time": lab.time,
                        "before_cycle": lab.before_cycle,
                        "name": name,
                        "value": float(value),
                        "unit": unit,
                    }
                )
    return rows


def _uptake(stage: Any) -> list[dict[str, Any]]:
    change = (stage or {}).get("lesion_uptake_change") if isinstance(stage, dict) else None
    if not isinstance(change, dict) or change.get("status") != "assessed":
        return []
    return [
        {
            "lesion": str(r["lesion"]),
            "first_cycle": int(change["first_cycle"]),
            "last_cycle": int(change["last_cycle"]),
            "time_point_s": _scaled(r.get("time_point_h"), HOUR_S),
            "uptake_first_bq": _scaled(r.get("uptake_cycle_first_mbq"), MBQ),
            "uptake_last_bq": _scaled(r.get("uptake_cycle_last_mbq"), MBQ),
            "change_pct": _number(r.get("change_pct")),
        }
        for r in change.get("lesions") or []
    ]


def _survival(follow_up: FollowUp) -> list[dict[str, Any]]:
    s = follow_up.survival
    if s is None:
        return []
    return [
        {
            "pfs_s": None if s.pfs_days is None else s.pfs_days * DAY_S,
            "pfs_event": s.pfs_event,
            "os_s": None if s.os_days is None else s.os_days * DAY_S,
            "os_event": s.os_event,
            "source": s.source,
        }
    ]


def _files(files: Any) -> list[dict[str, Any]]:
    rows = []
    for key, value in sorted((files or {}).items()):
        if not isinstance(value, str):
            continue
        p = Path(value)
        try:
            size: int | None = p.stat().st_size if p.is_file() else None
        except OSError:
            size = None
        rows.append({"key": str(key), "path": value, "size_bytes": size})
    return rows


def _run_columns(
    results: Mapping[str, Any], stages: Mapping[str, Any], doses: list[dict[str, Any]]
) -> dict[str, Any]:
    """Columns of the ``runs`` row: version, patient size, skipped stages, cumulative doses."""
    used = (stages.get("import") or {}).get("patient_used") or {}
    plan = (stages.get("planning") or {}).get("running") or {}
    delivered = plan.get("delivered") or {} if isinstance(plan, dict) else {}
    kidney_bed = _number((delivered.get("bed_gy") or {}).get("kidneys"))
    if kidney_bed is None:
        kidney = [d for d in doses if d["level"] == "organ" and d["region"] == "kidneys"]
        if kidney and all(d["bed_gy"] is not None for d in kidney):
            kidney_bed = sum(d["bed_gy"] for d in kidney)
    organ_level = (stages.get("dosimetry") or {}).get("organ_level") or {}
    marrow = _number((organ_level.get("cumulative_dose_gy") or {}).get("red marrow"))
    skipped = results.get("skipped")
    return {
        "sstrkit_version": results.get("sstrkit_version"),
        "weight_g": _scaled(used.get("weight_kg"), 1000.0),
        "height_mm": _scaled(used.get("height_cm"), 10.0),
        "skipped": dict(skipped) if isinstance(skipped, dict) else {},
        "n_data_quality": len(results.get("data_quality") or []),
        "kidney_bed_cumulative_gy": kidney_bed,
        "marrow_dose_cumulative_gy": marrow,
    }
