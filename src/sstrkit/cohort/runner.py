"""Run a cohort of studies on Dask distributed: a LocalCluster, a remote scheduler, or serially.

:func:`run_cohort` builds one task per (study, cycle) — the cycle dosimetry,
:func:`sstrkit.cohort.tasks.cycle_task` — and one per study that waits for its cycles and
runs the per-study stages (:func:`sstrkit.cohort.tasks.study_task`). Each study writes into
``OUT/<study folder name>``; ``OUT/cohort_run.json`` lists every study with its status.

* ``workers=N`` (default 2) starts a :class:`distributed.LocalCluster` of N worker processes
  with one thread each (BLAS, OpenMP and ITK pinned to one thread); ``scheduler=
  "tcp://host:8786"`` uses a running cluster instead (its workers need sstrkit installed and
  the study and output folders at the same paths, e.g. a shared file system);
  ``workers=0`` runs the same tasks one after another in this process.
* Failures stay with their study: a study whose run raises (or whose worker dies) is
  ``failed`` with the reason, the others go on.
* Resumable: a study whose run folder holds a finished marker with the same fingerprint
  (its files, the sstrkit version, the options) is ``reused`` without a task; an interrupted
  study restarts from its cached cycles.
* With a registry, every finished study is recorded (``Registry.add_run``, idempotent).

Examples
--------
>>> plan_outputs([Path("/a/s1"), Path("/b/s1"), Path("/c/s2")], Path("/out"))
[PosixPath('/out/s1'), PosixPath('/out/s1-2'), PosixPath('/out/s2')]
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from sstrkit.cohort.tasks import (
    THREAD_ENV,
    CycleOutcome,
    StudyOutcome,
    cycle_task,
    failure_reason,
    read_marker,
    study_fingerprint,
    study_task,
)
from sstrkit.core.atomic import write_json_atomic
from sstrkit.core.provenance import Step
from sstrkit.errors import InvalidInputError

__all__ = [
    "PRE_SPAWN_ENV",
    "CohortRunResult",
    "Event",
    "cycle_outcomes",
    "local_client",
    "plan_outputs",
    "run_cohort",
    "study_cycles",
]

#: A progress event: (message, tasks done, tasks in all).
Event = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CohortRunResult:
    """Every study's outcome, the engine and the wall time (``OUT/cohort_run.json``)."""

    out: Path
    studies: tuple[StudyOutcome, ...]
    engine: str
    workers: int | None
    wall_s: float
    history: tuple[Step, ...]

    @property
    def failed(self) -> tuple[StudyOutcome, ...]:
        return tuple(s for s in self.studies if s.status == "failed")

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for s in self.studies:
            counts[s.status] = counts.get(s.status, 0) + 1
        return {
            "format": "sstrkit-cohort-run",
            "out": str(self.out),
            "engine": self.engine,
            "workers": self.workers,
            "wall_s": self.wall_s,
            "counts": counts,
            "failed": [{"name": s.name, "error": s.error} for s in self.failed],
            "studies": [s.to_dict() for s in self.studies],
            "history": [h.to_dict() for h in self.history],
        }


def plan_outputs(studies: Sequence[Path], out: Path) -> list[Path]:
    """``OUT/<folder name>`` per study; a repeated name gets ``-2``, ``-3``..."""
    seen: dict[str, int] = {}
    dirs = []
    for s in studies:
        base = Path(s).name or "study"
        seen[base] = seen.get(base, 0) + 1
        dirs.append(out / (base if seen[base] == 1 else f"{base}-{seen[base]}"))
    return dirs


def study_cycles(study_dir: Path) -> tuple[int, ...]:
    """Cycles listed in the study's manifest (none for a bare DICOM folder or a bad manifest:
    the study's own task then does, or reports, everything)."""
    try:
        doc = json.loads((study_dir / "manifest.json").read_text(encoding="utf-8"))
        spect = doc["series"]["spect"]
        return tuple(sorted({int(s["cycle"]) for s in spect}))
    except (OSError, ValueError, KeyError, TypeError):
        return ()


def _reusable(study: Path, out: Path, report: bool) -> bool:
    marker = read_marker(out)
    if marker is None or not (out / "results.json").is_file():
        return False
    return bool(marker.get("fingerprint") == study_fingerprint(study, report=report))


def _register(outcome: StudyOutcome, registry: Any) -> StudyOutcome:
    """Record a finished study in the registry (``add_run`` is idempotent per content)."""
    try:
        registry.add_run(outcome.out)
    except Exception as exc:  # one study's record failing does not stop the cohort
        return replace(outcome, registered=False, registry_error=failure_reason(exc))
    return replace(outcome, registered=True)


#: Applied to each study's outcome as soon as it is known (registration).
Finish = Callable[[StudyOutcome], StudyOutcome]
Jobs = Sequence[tuple[Path, Path, tuple[int, ...]]]


def _serial(
    jobs: Jobs, report: bool, on_event: Event, total: int, finish: Finish
) -> list[StudyOutcome]:
    done = 0
    out = []
    for study, dest, cycles in jobs:
        outcomes = []
        for c in cycles:
            outcomes.append(cycle_task(str(study), str(dest), c))
            done += 1
            on_event(f"{dest.name} cycle {c}: {outcomes[-1].status}", done, total)
        out.append(finish(study_task(str(study), str(dest), report, outcomes)))
        done += 1
        on_event(f"{dest.name}: {out[-1].status}", done, total)
    return out


#: Worker environment set by the nanny before a worker starts: Dask's default
#: ``distributed.nanny.pre-spawn-environ`` without ``MALLOC_TRIM_THRESHOLD_``. Setting glibc's
#: trim threshold turns off its dynamic mmap threshold, so every large temporary array is a
#: fresh mmap (page faults): cycle and study tasks ran about 20 % slower with it.
PRE_SPAWN_ENV: Final = {k: int(v) for k, v in THREAD_ENV.items()}


@contextmanager
def local_client(workers: int) -> Iterator[Any]:
    """A client of a new LocalCluster: ``workers`` processes of one thread each (BLAS,
    OpenMP and ITK pinned to one thread), no dashboard clash; closed on exit."""
    import dask
    import dask.distributed

    dist: Any = dask.distributed  # untyped library: its calls are checked by the tests
    with dask.config.set({"distributed.nanny.pre-spawn-environ": dict(PRE_SPAWN_ENV)}):
        cluster = dist.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port: no clash with another cluster
            silence_logs=logging.ERROR,
        )
    client = dist.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@contextmanager
def _engine(workers: int, scheduler: str | None) -> Iterator[Any]:
    """A client of the remote scheduler, or of a new LocalCluster."""
    if not scheduler:
        with local_client(workers) as client:
            yield client
        return
    import dask.distributed

    dist: Any = dask.distributed
    client = dist.Client(scheduler, set_as_default=False)
    try:
        yield client
    finally:
        client.close()


def _distributed(
    jobs: Jobs, report: bool, on_event: Event, total: int, client: Any, finish: Finish
) -> list[StudyOutcome]:
    import dask.distributed

    as_completed: Any = dask.distributed.as_completed  # untyped library
    kinds: dict[Any, tuple[int, int | None]] = {}
    for i, (study, dest, cycles) in enumerate(jobs):
        prio = len(jobs) - i  # earlier studies first, so that results arrive study by study
        cyc = [
            client.submit(cycle_task, str(study), str(dest), c, pure=False, priority=prio)
            for c in cycles
        ]
        fut = client.submit(
            study_task, str(study), str(dest), report, cyc, pure=False, priority=prio
        )
        kinds.update({f: (i, c) for f, c in zip(cyc, cycles, strict=True)})
        kinds[fut] = (i, None)
    results: dict[int, StudyOutcome] = {}
    for done, fut in enumerate(as_completed(list(kinds), loop=client.loop), start=1):
        i, c = kinds[fut]
        study, dest, _ = jobs[i]
        try:
            value = fut.result()
            status = value.status
        except Exception as exc:  # a worker died, or the task was lost or cancelled
            value, status = None, "failed"
            if c is None:
                value = StudyOutcome(dest.name, study, dest, "failed", 0.0, failure_reason(exc))
        if c is None:
            results[i] = finish(value)
        on_event(f"{dest.name}{'' if c is None else f' cycle {c}'}: {status}", done, total)
    return [results[i] for i in range(len(jobs))]


def run_cohort(
    studies: Sequence[str | Path],
    out: str | Path,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    registry: Any = None,
    report: bool = True,
    on_event: Event | None = None,
    client: Any = None,
) -> CohortRunResult:
    """Run every study into ``out`` (see the module docstring); returns each outcome.

    ``registry`` is an open :class:`sstrkit.registry.Registry`; ``client`` an existing
    :class:`distributed.Client` to use instead of ``workers``/``scheduler``.
    """
    if not studies:
        raise InvalidInputError("studies", expected="at least one study folder", actual="none")
    if workers < 0:
        raise InvalidInputError("workers", expected="0 (serial) or more", actual=workers)
    t0 = time.perf_counter()
    say = on_event or (lambda _m, _d, _t: None)
    root = Path(out).resolve()
    paths = [Path(s).resolve() for s in studies]
    dests = plan_outputs(paths, root)
    jobs, reused = [], {}
    for i, (study, dest) in enumerate(zip(paths, dests, strict=True)):
        if _reusable(study, dest, report):
            reused[i] = StudyOutcome(dest.name, study, dest, "reused", 0.0)
        else:
            jobs.append((study, dest, study_cycles(study)))
    total = sum(len(c) + 1 for _, _, c in jobs)
    say(f"{len(jobs)} studies to run, {len(reused)} reused", 0, total)
    engine = "serial" if client is None and not scheduler and workers == 0 else "dask"

    def finish(outcome: StudyOutcome) -> StudyOutcome:
        if registry is None or not outcome.finished:
            return outcome
        return _register(outcome, registry)

    reused = {i: finish(o) for i, o in reused.items()}
    if not jobs:
        ran: list[StudyOutcome] = []
    elif engine == "serial":
        ran = _serial(jobs, report, say, total, finish)
    elif client is not None:
        ran = _distributed(jobs, report, say, total, client, finish)
    else:
        with _engine(workers, scheduler) as own:
            ran = _distributed(jobs, report, say, total, own, finish)
    it = iter(ran)
    outcomes = [reused[i] if i in reused else next(it) for i in range(len(paths))]
    step = Step.make(
        "cohort_run",
        {"engine": engine, "workers": workers, "scheduler": scheduler, "report": report},
        inputs=tuple(str(p) for p in paths),
        sources=("Dask distributed (dask.org)",),
    )
    result = CohortRunResult(
        root, tuple(outcomes), engine, workers, time.perf_counter() - t0, (step,)
    )
    write_json_atomic(root / "cohort_run.json", result.to_dict())
    return result


def cycle_outcomes(result: CohortRunResult) -> list[CycleOutcome]:
    """Every cycle task's outcome of a run (for timing tables)."""
    return [c for s in result.studies for c in s.cycles]
