"""What the pages show, assembled from the registry and the runs' results.json.

* :func:`patient_rows` — the patient list: per patient the registry summary, the
  eligibility of the current reading, cumulative kidney BED and red-marrow dose with
  their share of the limit and traffic light (:func:`sstrkit.therapy.limit_status.limit_status`:
  green below 80 %, amber up to the limit, red above), and how many dosimetry cycles of
  the current runs are approved, rejected or still to review. Five queries for any
  number of patients.
* :func:`patient_view` — one patient: studies with their run history, the treatment
  timeline (administrations, laboratory values, responses), per cycle the kidney and
  marrow doses with the cumulative values against the run's own planning limits, the
  review decisions (with their state) and comments.
* :func:`run_view` — one run: its cycles with dosimetry, the images the viewer can show,
  the VOI names, the decisions.
* :func:`tac_view` — a cycle's time–activity curves (results.json ``region_tacs``) with
  the mono-exponential fit where the kinetics were mono-exponential.

JSON at this edge keeps the units in the keys (``_gy``, ``_bq``, ``_mbq``, ``_h``).
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from sstrkit.core.provenance import jsonable
from sstrkit.errors import InvalidInputError
from sstrkit.registry import schema as t
from sstrkit.registry.review_schema import Approval
from sstrkit.therapy.limit_status import limit_status

if TYPE_CHECKING:
    from sstrkit.registry.approvals import Reviews
    from sstrkit.registry.store import Registry
    from sstrkit.web.settings import WebSettings

__all__ = [
    "Limits",
    "patient_rows",
    "patient_view",
    "results_of",
    "run_limits",
    "run_meta",
    "run_view",
    "tac_view",
]

KIDNEY = "kidneys"
MARROW = "red marrow"


@functools.lru_cache(maxsize=64)
def _load_json(path: str, _mtime_ns: int, _size: int) -> dict[str, Any] | None:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def results_of(out_dir: str | Path) -> dict[str, Any] | None:
    """The run's results.json (parsed once per version of the file), None if unreadable."""
    path = Path(out_dir) / "results.json"
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _load_json(str(path), st.st_mtime_ns, st.st_size)


@dataclass(frozen=True)
class Limits:
    """The limits cumulative doses are compared with, and where they come from."""

    kidney_criterion: str
    kidney_gy: float
    marrow_gy: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kidney_criterion": self.kidney_criterion,
            "kidney_gy": self.kidney_gy,
            "marrow_gy": self.marrow_gy,
            "source": self.source,
        }


def default_limits(settings: WebSettings) -> Limits:
    return Limits(
        "bed", settings.kidney_bed_limit_gy, settings.marrow_limit_gy, "planning defaults"
    )


def run_limits(results: dict[str, Any] | None, settings: WebSettings) -> Limits:
    """The run's planning limits (its ``constraints``), else the defaults."""
    planning = ((results or {}).get("stages") or {}).get("planning") or {}
    plan = planning.get("running") or planning.get("after_cycle_1") or {}
    kidney = marrow = None
    for c in plan.get("constraints") or []:
        if c.get("organ") == KIDNEY and kidney is None:
            kidney = (str(c.get("criterion")), float(c["limit_gy"]))
        elif c.get("organ") == MARROW:
            marrow = float(c["limit_gy"])
    base = default_limits(settings)
    if kidney is None and marrow is None:
        return base
    crit, kid = kidney if kidney is not None else ("bed", base.kidney_gy)
    return Limits(crit, kid, marrow if marrow is not None else base.marrow_gy, "run's planning")


def _against(value: float | None, limit: float) -> dict[str, Any]:
    if value is None or not math.isfinite(value) or value < 0:
        return {"value_gy": value, "limit_gy": limit, "fraction": None, "status": None}
    return {
        "value_gy": value,
        "limit_gy": limit,
        "fraction": value / limit,
        "status": limit_status(value, limit),
    }


# ---------------------------------------------------------------------- patient list
def patient_rows(reg: Registry, settings: WebSettings) -> list[dict[str, Any]]:
    """One row per patient for the list page (see the module docstring)."""
    summaries = reg.patients()
    limits = default_limits(settings)
    eligible: dict[str, list[bool | None]] = defaultdict(list)
    review: dict[str, dict[str, int]] = defaultdict(lambda: {"approved": 0, "rejected": 0})
    todo: dict[str, set[tuple[int, int]]] = defaultdict(set)
    base = (
        select(t.Patient.patient_id, t.Run.id)
        .join(t.Study, t.Study.patient_pk == t.Patient.id)
        .join(t.Run, t.Run.study_pk == t.Study.id)
        .where(t.Run.is_current)
    )
    with reg._read() as s:
        for pid, _run, value in s.execute(
            base.add_columns(t.Reading.eligible).join(t.Reading, t.Reading.run_pk == t.Run.id)
        ):
            eligible[pid].append(value)
        cyc = base.add_columns(t.RegionDose.cycle).join(
            t.RegionDose, t.RegionDose.run_pk == t.Run.id
        )
        for pid, run, cycle in s.execute(cyc.where(t.RegionDose.level == "organ").distinct()):
            todo[pid].add((run, cycle))
        latest: dict[tuple[str, int, int], str] = {}
        dec = base.add_columns(Approval.cycle, Approval.decision).join(
            Approval, Approval.run_pk == t.Run.id
        )
        for pid, run, cycle, decision in s.execute(dec.order_by(Approval.id)):
            latest[(pid, run, cycle)] = decision
    for (pid, run, cycle), decision in latest.items():
        review[pid][decision] += 1
        todo[pid].discard((run, cycle))
    rows = []
    for p in summaries:
        kid = _against(p.kidney_bed_gy, limits.kidney_gy)
        mar = _against(p.marrow_dose_gy, limits.marrow_gy)
        flags = eligible.get(p.patient_id, [])
        rows.append(
            {
                **p.to_dict(),
                "eligible": None if not flags or None in flags else all(flags),
                "kidney": kid,
                "marrow": mar,
                "near_limit": any(x["status"] in ("amber", "red") for x in (kid, mar)),
                "review": {**review[p.patient_id], "pending": len(todo[p.patient_id])},
            }
        )
    return rows


def filter_rows(
    rows: list[dict[str, Any]],
    *,
    q: str | None = None,
    eligible: str | None = None,
    cycles: int | None = None,
    near_limit: bool | None = None,
) -> list[dict[str, Any]]:
    """The rows matching every filter given (``eligible``: yes | no | unknown)."""
    want = {"yes": True, "no": False, "unknown": None}
    if eligible is not None and eligible not in want:
        raise InvalidInputError("eligible", expected="yes, no or unknown", actual=eligible)
    needle = (q or "").strip().lower()
    out = []
    for r in rows:
        if needle and needle not in r["patient_id"].lower():
            continue
        if eligible is not None and r["eligible"] is not want[eligible]:
            continue
        if cycles is not None and r["cycles"] != cycles:
            continue
        if near_limit is not None and r["near_limit"] != near_limit:
            continue
        out.append(r)
    return out


# ---------------------------------------------------------------------- one patient
def _organ(rows: list[dict[str, Any]], run_id: int, region: str) -> dict[int, dict[str, Any]]:
    return {
        r["cycle"]: r
        for r in rows
        if r["run_id"] == run_id and r["level"] == "organ" and r["region"] == region
    }


def _cycle_rows(
    run_id: int,
    study_key: str,
    cur: dict[str, list[dict[str, Any]]],
    limits: Limits,
    run_kidney_bed_gy: float | None = None,
) -> list[dict[str, Any]]:
    """Per dosimetry cycle of one current run: doses, cumulative values vs limits.

    The cumulative kidney value sums the per-cycle BED (or absorbed dose, by the run's
    kidney criterion). Where a cycle has no per-cycle BED (kinetics not
    mono-exponential), the last cycle shows the run's delivered cumulative BED of the
    planning stage instead (``source``: ``planning``), earlier cycles none.
    """
    doses = cur["region_doses"]
    kidney, marrow = _organ(doses, run_id, KIDNEY), _organ(doses, run_id, MARROW)
    admins = {a["cycle"]: a for a in cur["administrations"] if a["run_id"] == run_id and a["cycle"]}
    lesions: dict[int, list[float]] = defaultdict(list)
    for r in doses:
        mine = r["run_id"] == run_id and r["level"] == "organ"
        if mine and r["kind"] == "lesion" and r["dose_gy"] is not None:
            lesions[r["cycle"]].append(r["dose_gy"])
    cycles = sorted({r["cycle"] for r in doses if r["run_id"] == run_id and r["level"] == "organ"})
    kid_key = "bed_gy" if limits.kidney_criterion in ("bed", "both") else "dose_gy"
    out: list[dict[str, Any]] = []
    cum_k: float | None = 0.0
    cum_m: float | None = 0.0
    for c in cycles:
        k, m, a = kidney.get(c, {}), marrow.get(c, {}), admins.get(c, {})
        kv, mv = k.get(kid_key), m.get("dose_gy")
        cum_k = None if cum_k is None or kv is None else cum_k + kv
        cum_m = None if cum_m is None or mv is None else cum_m + mv
        kidney_cum = _against(cum_k, limits.kidney_gy) | {"source": "per-cycle sum"}
        if cum_k is None and c == cycles[-1] and kid_key == "bed_gy" and run_kidney_bed_gy:
            kidney_cum = _against(run_kidney_bed_gy, limits.kidney_gy) | {"source": "planning"}
        out.append(
            {
                "study_key": study_key,
                "run_id": run_id,
                "cycle": c,
                "time": a.get("time"),
                "activity_bq": a.get("activity_bq"),
                "status": k.get("status"),
                "kidney_dose_gy": k.get("dose_gy"),
                "kidney_bed_gy": k.get("bed_gy"),
                "marrow_dose_gy": mv,
                "lesion_max_dose_gy": max(lesions[c]) if lesions[c] else None,
                "kidney_cumulative": kidney_cum,
                "marrow_cumulative": _against(cum_m, limits.marrow_gy),
            }
        )
    return out


def patient_view(
    reg: Registry, reviews: Reviews, patient_id: str, settings: WebSettings
) -> dict[str, Any]:
    """Everything the patient page shows (see the module docstring)."""
    detail = reg.patient(patient_id)
    cur = detail.current
    decisions = [d.to_dict() for d in reviews.decisions(patient_id=patient_id)]
    standing = {(d["run_id"], d["cycle"]): d for d in decisions if d["state"] == "standing"}
    studies, cycles = [], []
    limits = default_limits(settings)
    current = [st.current.run_id for st in detail.studies if st.current is not None]
    with reg._read() as s:
        totals = dict(
            s.execute(
                select(t.Run.id, t.Run.kidney_bed_cumulative_gy).where(t.Run.id.in_(current))
            ).all()
        )
    for st in detail.studies:
        run = st.current
        if run is not None:
            limits = run_limits(results_of(run.out_dir), settings)
            rows = _cycle_rows(run.run_id, st.study_key, cur, limits, totals.get(run.run_id))
            for row in rows:
                row["review"] = standing.get((run.run_id, row["cycle"]))
                cycles.append(row)
        studies.append(
            {
                **st.to_dict(),
                "current_run_id": None if run is None else run.run_id,
                "limits": limits.to_dict(),
            }
        )
    labs = sorted(cur["lab_values"], key=lambda r: r["time"])
    doc: dict[str, Any] = jsonable(
        {
            "patient_id": detail.patient_id,
            "sex": detail.sex,
            "summary": detail.summary.to_dict(),
            "studies": studies,
            "cycles": cycles,
            "administrations": cur["administrations"],
            "labs": labs,
            "responses": cur["response_assessments"],
            "readings": cur["readings"],
            "survival": cur["survival"],
            "decisions": decisions,
            "comments": [c.to_dict() for c in reviews.comments(patient_id)],
        }
    )
    return doc


# ---------------------------------------------------------------------- one run
def run_meta(reg: Registry, run_id: int) -> dict[str, Any]:
    """Run, study and patient of ``run_id``; :class:`InvalidInputError` when unknown."""
    with reg._read() as s:
        row = s.execute(
            select(t.Run, t.Study.study_key, t.Study.folder, t.Patient.patient_id)
            .join(t.Study, t.Run.study_pk == t.Study.id)
            .join(t.Patient, t.Study.patient_pk == t.Patient.id)
            .where(t.Run.id == run_id)
        ).first()
    if row is None:
        raise InvalidInputError("run id", expected="a run in the registry", actual=run_id)
    run, study_key, folder, pid = row
    return {
        "run_id": run.id,
        "patient_id": pid,
        "study_key": study_key,
        "study_folder": folder,
        "out_dir": run.out_dir,
        "sstrkit_version": run.sstrkit_version,
        "content_sha256": run.content_sha256,
        "finished_at": run.finished_at.isoformat(),
        "recorded_at": run.recorded_at.isoformat(),
        "is_current": run.is_current,
    }


def voi_names(results: dict[str, Any] | None) -> dict[str, Any]:
    """The dosimetry VOIs: name → label values and kind (results.json ``regions``)."""
    regions = (((results or {}).get("stages") or {}).get("dosimetry") or {}).get("regions") or {}
    labels = regions.get("regions") or {}
    kinds = regions.get("kinds") or {}
    return {
        name: {"labels": [int(v) for v in values], "kind": kinds.get(name)}
        for name, values in labels.items()
    }


def run_view(reg: Registry, reviews: Reviews, run_id: int, settings: WebSettings) -> dict[str, Any]:
    """Everything the viewer and the review form need about one run."""
    from sstrkit.web.imaging import catalog

    meta = run_meta(reg, run_id)
    results = results_of(meta["out_dir"])
    newer = reviews.superseding(run_id)
    decisions = [d.to_dict() for d in reviews.decisions(run_ids=[run_id])]
    volumes = catalog(Path(meta["out_dir"]), results, meta["study_folder"])
    report = (Path(meta["out_dir"]) / "report" / "index.html").is_file()
    doc: dict[str, Any] = jsonable(
        {
            **meta,
            "results_readable": results is not None,
            "limits": run_limits(results, settings).to_dict(),
            "cycles": [
                {
                    "cycle": c,
                    "review": next(
                        (
                            d
                            for d in reversed(decisions)
                            if d["cycle"] == c and d["state"] == "standing"
                        ),
                        None,
                    ),
                    "superseded_by_run": newer[c],
                }
                for c in newer
            ],
            "volumes": [v.to_dict(run_id) for v in volumes.values()],
            "vois": voi_names(results),
            "decisions": decisions,
            "report": report,
        }
    )
    return doc


def tac_view(results: dict[str, Any] | None, cycle: int) -> dict[str, Any]:
    """Time–activity curves of ``cycle``: measured points and the fitted mono-exponential.

    The fit is drawn where the region's kinetics were mono-exponential:
    A(t) = TIA · λ · exp(−λ t) with λ = ln 2 / T_eff — the curve whose integral from the
    administration to infinity is the region's time-integrated activity.
    """
    dosimetry = ((results or {}).get("stages") or {}).get("dosimetry") or {}
    tacs = (dosimetry.get("region_tacs") or {}).get(str(cycle))
    if not tacs:
        raise InvalidInputError(
            f"cycle {cycle}", expected="a cycle with time-activity curves", actual="none"
        )
    fits: dict[str, dict[str, Any]] = {}
    for c in (dosimetry.get("organ_level") or {}).get("cycles") or []:
        if c.get("cycle") == cycle:
            fits = {r["name"]: r for r in c.get("regions") or []}
    kinds = (dosimetry.get("regions") or {}).get("kinds") or {}
    times = [float(x) for x in tacs["times_h"]]
    regions = []
    for name, values in (tacs.get("activity_mbq") or {}).items():
        fit = fits.get(name, {})
        curve = None
        t_eff, tia = fit.get("t_eff_h"), fit.get("tia_mbq_h")
        if fit.get("model") == "mono" and t_eff and tia:
            lam = math.log(2.0) / float(t_eff)
            end = max(times) * 1.25 if times else 1.0
            grid = [end * i / 60 for i in range(61)]
            curve = {
                "times_h": grid,
                "activity_mbq": [float(tia) * lam * math.exp(-lam * x) for x in grid],
            }
        regions.append(
            {
                "name": name,
                "kind": kinds.get(name) or fit.get("kind"),
                "activity_mbq": values,
                "model": fit.get("model"),
                "t_eff_h": t_eff,
                "tia_mbq_h": tia,
                "fit": curve,
            }
        )
    return {"cycle": cycle, "times_h": times, "regions": regions, "status": tacs.get("status")}
