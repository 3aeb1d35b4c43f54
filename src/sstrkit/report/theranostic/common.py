"""Shared pieces of the theranostic report: constants, stage access, small formatters.

Every section reads the typed stage results of :class:`~sstrkit.pipeline.results.RunResult`
(``res.imported``, ``res.reading``, ``res.dosimetry``, ``res.planning``, ``res.followup``,
the ``scintigraphy`` and ``concordance`` stages), never the run's JSON form; where a typed
result holds a document by design (the legacy case file's patient, clinical.json's
diagnosis) its keys are read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sstrkit.core.units import BQ_PER_MBQ, MBQ_PER_GBQ, MGY_PER_GY, SECONDS_PER_HOUR
from sstrkit.errors import SstrkitError
from sstrkit.report.document import Figure, Section

if TYPE_CHECKING:
    from sstrkit.pipeline.administrations import Administration
    from sstrkit.pipeline.results import RunResult
    from sstrkit.pipeline.study import Study

EANM_REPORTING_SOURCE = (
    "Lassmann M, Chiesa C, Flux G, Bardiès M. EANM Dosimetry Committee guidance document: "
    "good practice of clinical dosimetry reporting. Eur J Nucl Med Mol Imaging "
    "2011;38:192-200"
)

#: Data-quality flag kinds as the report names them.
_FLAG_KINDS: Mapping[str, str] = {
    "missing_time_point": "missing time point",
    "missing_ct": "missing CT",
    "activity_mismatch": "administered activity records differ",
    "missing_series": "missing series",
    "estimated_cycle": "cycle estimated (no SPECT)",
    "reduced_timepoints": "reduced time points",
    "cycle_failed": "cycle not processed",
    "dosimetry_note": "dosimetry note",
    "vois": "volumes of interest (automatic organs)",
}


# ------------------------------------------------------------------ helpers
def _png(path: str | Path, caption: str) -> Figure:
    return Figure(caption, Path(path).read_bytes())


def _skipped(sec: Section, res: RunResult, stage: str) -> bool:
    """Say why ``stage`` has no result (skipped with a reason, or not run); True then."""
    if stage in res.skipped:
        sec.status = "skipped"
        sec.add_text(f"Not computed: {res.skipped[stage]}")
        return True
    if stage not in res.stages:
        sec.status = "skipped"
        sec.add_text(f"Not computed: the {stage} stage did not run.")
        return True
    return False


def _who_grade(clinical: dict[str, Any] | None) -> Any:
    """``diagnosis.who_grade`` of clinical.json, or the diagnosis text itself, or None."""
    diag = (clinical or {}).get("diagnosis")
    if isinstance(diag, dict):
        return diag.get("who_grade")
    return diag if isinstance(diag, str) else None


def _administrations(study: Study, res: RunResult) -> list[Administration]:
    """The administrations as used (activity, its source and every record of it): the
    dosimetry stage's, else the import stage's, else the study's."""
    for stage in (res.dosimetry, res.imported):
        if stage is not None and stage.administrations:
            return list(stage.administrations)
    try:
        return list(study.administrations)
    except SstrkitError:
        return []


def _on_off(flag: Any) -> str:
    return "not recorded" if flag is None else ("on" if flag else "off")


def _vec(v: Sequence[float] | None) -> str | None:
    return None if v is None else ", ".join(f"{x:.1f}" for x in v)


def _gbq(mbq: float | None) -> float | None:
    return None if mbq is None else mbq / MBQ_PER_GBQ


def _mgy_per_mbq_h(gy_per_bq_s: float | None) -> float | None:
    """Gy/(Bq·s) → mGy/(MBq·h): × 1e3 (mGy) × 1e6 (per MBq) × 3600 (per h)."""
    return None if gy_per_bq_s is None else gy_per_bq_s * MGY_PER_GY * BQ_PER_MBQ * SECONDS_PER_HOUR
