"""The work units of a cohort run: one study's cycle dosimetry, one study's run.

Both are plain functions of paths (picklable, importable on any Dask worker) that never
raise: a failure comes back as an outcome with its reason, so that one broken study cannot
stop the others.

* :func:`cycle_task` fills the per-cycle dosimetry cache of a study's run folder
  (``OUT/<study>/cache/cycle<k>-<key>.json``, the cache :func:`sstrkit.pipeline.run.run_study`
  reads) — the expensive part, one task per (study, cycle);
* :func:`study_task` then runs :func:`~sstrkit.pipeline.run.run_study`, which finds every
  cycle in the cache and does the per-study stages (reading, planning, follow-up, report),
  and leaves a marker ``OUT/<study>/cohort_task.json`` with the study's fingerprint, so a
  later cohort run reuses a finished study whose files did not change.

Both pin the numerical libraries to one thread (:func:`pin_threads`): the parallelism is
across tasks, one per worker process.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, cast

from sstrkit import __version__
from sstrkit.core.atomic import write_json_atomic
from sstrkit.errors import SstrkitError

__all__ = [
    "MARKER",
    "THREAD_ENV",
    "CycleOutcome",
    "StudyOutcome",
    "cycle_task",
    "failure_reason",
    "pin_threads",
    "read_marker",
    "study_fingerprint",
    "study_task",
]

#: Environment of worker processes: BLAS, OpenMP and ITK on one thread each.
THREAD_ENV: Final = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "1",
}
#: Marker of a finished study in its run folder (fingerprint, finish time, skipped stages).
MARKER: Final = "cohort_task.json"

CycleStatus = Literal["computed", "cached", "deferred", "failed"]
StudyStatus = Literal["done", "partial", "reused", "failed"]


def pin_threads() -> None:
    """One thread for OpenMP/BLAS (environment, for libraries loaded later) and for ITK.

    BLAS libraries read their variable when first loaded: Dask's nanny sets it before a
    worker starts (``distributed.nanny.pre-spawn-environ``); a serial run should be started
    with ``OMP_NUM_THREADS=1`` (the benchmark does so). SimpleITK is set here at run time.
    """
    os.environ.update(THREAD_ENV)
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


def failure_reason(exc: BaseException) -> str:
    """One line: the error's own message for sstrkit errors, else type and message."""
    if isinstance(exc, SstrkitError):
        return exc.one_line()
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


@dataclass(frozen=True)
class CycleOutcome:
    """What a cycle task did: ``computed`` (cache written), ``cached`` (already there),
    ``deferred`` (left to the study's run, with the reason) or ``failed`` (reason)."""

    study: str
    cycle: int
    status: CycleStatus
    seconds: float
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "status": self.status,
            "seconds": self.seconds,
            "note": self.note,
        }


@dataclass(frozen=True)
class StudyOutcome:
    """The result of one study in a cohort run (``failed`` studies carry the reason)."""

    name: str
    study: Path
    out: Path
    status: StudyStatus
    seconds: float
    error: str = ""
    skipped: Mapping[str, str] = field(default_factory=dict)
    cycles: tuple[CycleOutcome, ...] = ()
    registered: bool | None = None
    registry_error: str = ""

    @property
    def finished(self) -> bool:
        return self.status != "failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "study": str(self.study),
            "out": str(self.out),
            "status": self.status,
            "seconds": self.seconds,
            "error": self.error or None,
            "skipped_stages": dict(self.skipped),
            "cycles": [c.to_dict() for c in self.cycles],
            "registered": self.registered,
            "registry_error": self.registry_error or None,
        }


def study_fingerprint(study_dir: str | os.PathLike[str], *, report: bool) -> str:
    """Hash of the study's files (relative path, size, modification time), the sstrkit
    version and the run options: a finished study with the same fingerprint is reused."""
    root = Path(study_dir)
    h = hashlib.sha256(f"{__version__}|report={report}".encode())
    for f in sorted(root.rglob("*")):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.relative_to(root).as_posix()}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def read_marker(out_dir: Path) -> dict[str, Any] | None:
    """The marker of a finished study, or None (absent or unreadable)."""
    try:
        data = json.loads((out_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def cycle_task(study_dir: str, out_dir: str, cycle: int) -> CycleOutcome:
    """Compute one cycle's dosimetry into the run folder's cache (never raises).

    The same work, files and cache entry as one pass of the per-cycle loop of the run's
    dosimetry stage (:mod:`sstrkit.pipeline.stages.dosimetry`), so that the run that
    follows finds the cycle there. A study without VOIs of its own is ``deferred``: its
    run segments the organs first, which the cache key depends on.
    """
    pin_threads()
    t0 = time.perf_counter()
    name = Path(out_dir).name

    def outcome(status: CycleStatus, note: str = "") -> CycleOutcome:
        return CycleOutcome(name, cycle, status, time.perf_counter() - t0, note)

    try:
        from sstrkit.pipeline.study import Study

        study = Study.load(study_dir)
        if not study.has_labels:
            return outcome("deferred", "no VOIs in the study: the run segments organs first")
        if cycle not in study.cycles:
            return outcome("deferred", f"no SPECT of cycle {cycle} on disk")
        status, note = _fill_cycle_cache(study, Path(out_dir), cycle)
        return outcome(status, note)
    except Exception as exc:  # isolated: the study's run repeats the cycle and reports why
        return outcome("failed", failure_reason(exc))


def _fill_cycle_cache(study: Any, out: Path, cycle: int) -> tuple[CycleStatus, str]:
    """Compute and cache one cycle through the dosimetry stage's own per-cycle hook."""
    from sstrkit.pipeline.stages.dosimetry import fill_cycle_cache

    status, note = fill_cycle_cache(study, out, cycle)
    return cast("CycleStatus", status), note


def study_task(
    study_dir: str,
    out_dir: str,
    report: bool = True,
    cycles: Sequence[CycleOutcome] = (),
) -> StudyOutcome:
    """Run the study (its cycles come from the cache) and mark it finished (never raises).

    ``cycles`` are the outcomes of its cycle tasks (as a task argument they also make this
    task wait for them). ``partial``: the run finished with skipped stages (listed).
    """
    pin_threads()
    t0 = time.perf_counter()
    study, out = Path(study_dir), Path(out_dir)
    name = out.name
    try:
        from sstrkit.pipeline.run import run_study

        fingerprint = study_fingerprint(study, report=report)
        res = run_study(study, out, report=report)
    except Exception as exc:  # isolated: listed as a failed study, the others go on
        return StudyOutcome(
            name,
            study,
            out,
            "failed",
            time.perf_counter() - t0,
            failure_reason(exc),
            cycles=tuple(cycles),
        )
    skipped = dict(res.skipped)
    write_json_atomic(
        out / MARKER,
        {
            "fingerprint": fingerprint,
            "study": str(study.resolve()),
            "finished": _dt.datetime.now(_dt.UTC).isoformat(),
            "skipped_stages": skipped,
        },
    )
    return StudyOutcome(
        name,
        study,
        out,
        "partial" if skipped else "done",
        time.perf_counter() - t0,
        skipped=skipped,
        cycles=tuple(cycles),
    )
