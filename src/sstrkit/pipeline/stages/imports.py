"""Import stage: the study's series found on disk by content, patient and administrations."""

from __future__ import annotations

from pathlib import Path

from sstrkit.pipeline.results import ImportStage, PatientUsed, RunResult
from sstrkit.pipeline.study import DataFlag, Study

__all__ = ["stage_import"]


def stage_import(study: Study, res: RunResult) -> ImportStage:
    """Every series of the manifest looked up on disk (:func:`sstrkit.io.discover.discover`)."""
    from sstrkit.io.discover import discover

    source = Path(str((study.manifest.get("intake") or {}).get("source", study.root / "dicom")))
    found = list(discover(source).series) if source.is_dir() else []
    uids = {s.series_uid for s in found}
    expected: list[tuple[str, str]] = []
    for role, entry in study.manifest["series"].items():
        entries = entry if isinstance(entry, list) else [entry]
        expected += [(role, e["series_uid"]) for e in entries if isinstance(e, dict)]
    missing = [f"{role} {uid}" for role, uid in expected if uid not in uids]
    if missing:
        res.data_quality.append(
            DataFlag(
                "missing_series", f"{len(missing)} series of the manifest not found in {source}"
            )
        )
    return ImportStage(
        patient=study.model.patient,
        patient_used=PatientUsed.from_dict(study.patient()),
        administrations=tuple(study.administrations),
        series=tuple(found),
        n_series_expected=len(expected),
        missing_series=tuple(missing),
        cycles_with_spect=tuple(study.cycles),
        voi_source=study.voi_source,
    )
