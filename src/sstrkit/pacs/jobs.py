"""What the listener does when a study is complete: sort the patient, run, record, send.

A patient's studies arrive over weeks and months (baseline PET/CT, then each
cycle's SPECT/CT time points, often each time point on its own day). All of them
are filed under the patient's folder of the store, so every completed study
re-sorts the *whole patient* with the intake
(:func:`sstrkit.pipeline.intake.intake_study`): roles, cycles, hours after
injection. The sorted result's **signature** — the SSTR (and FDG) PET series, every
(cycle, hours p.i., series) of the therapy SPECTs, and the number of instances of each
series in the patient's folder — says whether a new cycle or time point (or the rest
of a series) arrived since the last run. With ``run``, the patient's main job
(:func:`sstrkit.pipeline.run.run_study`) runs into ``OUT/<patient>`` the first time and
re-runs whenever the signature changes (its dosimetry cache keeps the unchanged
cycles); a study re-sent unchanged (all duplicates) runs nothing. The run is recorded
in the registry (``registry``) and the results sent (``send_to``). A patient with a
study still arriving waits for it (``deferred``: its completion queues the patient
again); a patient the intake cannot sort yet (e.g. only a CT arrived) waits for the
next study (``waiting``).

Jobs run one at a time in a worker thread (:class:`PatientJobs`); each step is
reported as an event dict (``sorted``, ``deferred``, ``waiting``, ``run_started``,
``run_finished``, ``run_skipped``, ``run_failed``, ``run_recorded``,
``results_sent``). The state of each patient (signature of the last run, whether
a completed study is still to be processed) is kept in
``STORE/.sstrkit-pacs/patients/<patient>.json``, so a restarted listener
processes what was pending and does not re-run what it already ran.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sstrkit.core.atomic import write_json_atomic
from sstrkit.errors import SstrkitError
from sstrkit.pacs.network import Peer, TlsFiles
from sstrkit.pacs.scp import CompletedStudy
from sstrkit.pacs.store import InstanceStore

__all__ = ["JobOptions", "PatientJobs", "signature"]

Event = dict[str, Any]


@dataclass(frozen=True)
class JobOptions:
    """What to do with a sorted patient."""

    run: bool = False
    out: Path | None = None
    registry: str | None = None
    spect_fwhm_mm: float | None = None
    #: Folder of ``<PatientID>.json`` clinical files (administrations, labs, blood samples)
    #: for the intake; the patient's file is used when it exists.
    clinical_dir: Path | None = None
    send_to: Peer | None = None
    ae_title: str = "SSTRKIT"
    tls: TlsFiles | None = None
    report: bool = True


def _content(patient_dir: Path) -> dict[str, int]:
    """Instances per series in a patient's folder of the store (study/series/sop.dcm)."""
    counts: dict[str, int] = {}
    for f in patient_dir.glob("*/*/*.dcm"):
        counts[f.parent.name] = counts.get(f.parent.name, 0) + 1
    return dict(sorted(counts.items()))


def signature(manifest: dict[str, Any], patient_dir: Path | None = None) -> dict[str, Any]:
    """What the job would run on: the PET, FDG PET and every (cycle, hours p.i., SPECT)
    series of the sorted study and, given the patient's folder, the instances per series
    (so that a series completed after a run triggers a re-run, a re-sent one does not)."""
    series = manifest.get("series") or {}

    def uid(role: str) -> str | None:
        entry = series.get(role)
        return None if not entry else str(entry.get("series_uid"))

    spects = sorted(
        [int(s["cycle"]), float(s["hours_post_injection"]), str(s["series_uid"])]
        for s in series.get("spect") or []
    )
    doc: dict[str, Any] = {"pet": uid("pet"), "fdg": uid("fdg"), "spect": spects}
    if patient_dir is not None:
        doc["instances"] = _content(patient_dir)
    return doc


def _summary(sig: dict[str, Any]) -> dict[str, Any]:
    cycles: dict[str, list[float]] = {}
    for cycle, hours, _uid in sig["spect"]:
        cycles.setdefault(str(cycle), []).append(hours)
    return {
        "baseline_pet": sig["pet"] is not None,
        "fdg_pet": sig["fdg"] is not None,
        "cycles_hours_pi": cycles,
    }


class PatientJobs:
    """The worker that sorts, runs, records and sends (module docstring)."""

    def __init__(
        self,
        store: InstanceStore,
        options: JobOptions,
        emit: Callable[[Event], None],
        busy: Callable[[str], bool] | None = None,
    ) -> None:
        self.store = store
        #: Whether a study of the patient is still being received (then the job waits
        #: for that study's completion, which queues the patient again).
        self.busy = busy or (lambda _key: False)
        self.options = options
        self._emit = emit
        self._queue: queue.Queue[tuple[str, float | None] | None] = queue.Queue()
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()

    # ------------------------------------------------------------------ state
    def _state_path(self, key: str) -> Path:
        return self.store.state_dir / "patients" / f"{key}.json"

    def state(self, key: str) -> dict[str, Any]:
        """The stored state of one patient (empty for a new one)."""
        path = self._state_path(key)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return doc if isinstance(doc, dict) else {}

    def _save(self, key: str, **changes: Any) -> None:
        write_json_atomic(self._state_path(key), {**self.state(key), **changes})

    # ------------------------------------------------------------------ queue
    def study_open(self, key: str, patient_id: str) -> None:
        """A study of the patient started arriving: pending until processed (a listener
        stopped before the study completes processes the patient when restarted)."""
        self._save(key, patient_id=patient_id, pending=True)

    def study_complete(self, done: CompletedStudy) -> None:
        """A study of the patient is complete: (re)process the patient."""
        self._emit(done.to_dict())
        self._save(done.patient_key, patient_id=done.patient_id, pending=True)
        self.submit(done.patient_key, done.last_instance)

    def submit(self, key: str, last_instance: float | None = None) -> None:
        """Queue the patient (once, however many of its studies complete meanwhile)."""
        with self._lock:
            if key in self._pending:
                return
            self._pending.add(key)
            self._idle.clear()
        self._queue.put((key, last_instance))

    def resume_pending(self) -> list[str]:
        """Queue the patients a previous listener left pending; return their keys."""
        folder = self.store.state_dir / "patients"
        keys = [p.stem for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
        keys = [k for k in keys if self.state(k).get("pending")]
        for key in keys:
            self.submit(key)
        return keys

    def start(self) -> None:
        """Process queued patients in a background thread."""

        def loop() -> None:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                key, last = item
                with self._lock:
                    self._pending.discard(key)
                try:
                    self.process(key, last)
                except Exception as exc:  # a failing patient never stops the listener
                    self._emit(
                        {
                            "event": "job_failed",
                            "patient_key": key,
                            "reason": f"{type(exc).__name__}: {exc}",
                        }
                    )
                with self._lock:
                    if not self._pending and self._queue.empty():
                        self._idle.set()

        self._thread = threading.Thread(target=loop, name="sstrkit-patient-jobs", daemon=True)
        self._thread.start()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no patient is queued or running."""
        return self._idle.wait(timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Finish the job in progress (at most ``timeout`` s), drop the queue."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    # ------------------------------------------------------------------ the job
    def study_dir(self, key: str) -> Path:
        """Where the patient's sorted study (manifest) goes."""
        if self.options.run and self.options.out is not None:
            return self.options.out / key / "study"
        return self.store.state_dir / "studies" / key

    def process(self, key: str, last_instance: float | None = None) -> Event:
        """Sort the patient's studies and, with ``run``, run when something new arrived."""
        from sstrkit.pipeline.intake import intake_study

        state = self.state(key)
        base = {"patient_key": key, "patient_id": state.get("patient_id")}
        if self.busy(key):
            event = {"event": "deferred", **base, "reason": "a study is still arriving"}
            self._emit(event)
            return event
        clinical = None
        if self.options.clinical_dir is not None and state.get("patient_id"):
            path = self.options.clinical_dir / f"{state['patient_id']}.json"
            clinical = path if path.is_file() else None
        try:
            made = intake_study(
                self.store.patient_dir(key),
                self.study_dir(key),
                clinical=clinical,
                spect_fwhm_mm=self.options.spect_fwhm_mm,
            )
        except SstrkitError as exc:
            self._save(key, pending=False)
            event = {"event": "waiting", **base, "reason": exc.one_line()}
            self._emit(event)
            return event
        sig = signature(made.manifest, self.store.patient_dir(key))
        self._emit(
            {"event": "sorted", **base, "study": str(made.manifest_path.parent), **_summary(sig)}
        )
        if not self.options.run or self.options.out is None:
            self._save(key, pending=False, signature=sig)
            return {"event": "sorted", **base}
        if state.get("run_signature") == sig:
            self._save(key, pending=False)
            event = {
                "event": "run_skipped",
                **base,
                "reason": "no new cycle, time point or instance",
            }
            self._emit(event)
            return event
        event = self._run(key, made.manifest_path.parent, base, last_instance)
        if event["event"] == "run_finished":
            self._save(key, pending=False, run_signature=sig, last_run=event)
            self._after_run(key, Path(event["out"]), base)
        else:
            self._save(key, pending=False)
        return event

    def _run(
        self, key: str, study_dir: Path, base: dict[str, Any], last_instance: float | None
    ) -> Event:
        from sstrkit.core.atomic import prepare_output_dir
        from sstrkit.core.lock import output_lock
        from sstrkit.pipeline.run import run_study

        assert self.options.out is not None
        out = self.options.out / key
        self._emit({"event": "run_started", **base, "out": str(out)})
        t0 = time.perf_counter()
        try:
            prepare_output_dir(out, "--out")
            with output_lock(out, command="sstrkit pacs listen", warn=lambda _m: None):
                res = run_study(study_dir, out, report=self.options.report)
        except SstrkitError as exc:
            event = {"event": "run_failed", **base, "out": str(out), "reason": exc.one_line()}
            self._emit(event)
            return event
        event = {
            "event": "run_finished",
            **base,
            "out": str(out),
            "seconds": round(time.perf_counter() - t0, 3),
            "skipped": dict(res.skipped),
            "report": res.files.get("report"),
        }
        if last_instance is not None:
            event["since_last_instance_s"] = round(time.monotonic() - last_instance, 3)
        self._emit(event)
        return event

    def _after_run(self, key: str, out: Path, base: dict[str, Any]) -> None:
        if self.options.registry is not None:
            from sstrkit.registry import open_registry

            try:
                with open_registry(self.options.registry) as reg:
                    rec = reg.add_run(out)
                self._emit(
                    {
                        "event": "run_recorded",
                        **base,
                        "run_id": rec.run_id,
                        "registry": self.options.registry,
                    }
                )
            except SstrkitError as exc:
                self._emit({"event": "record_failed", **base, "reason": exc.one_line()})
        if self.options.send_to is not None:
            from sstrkit.pacs.export import export_results
            from sstrkit.pacs.scu import send_files

            try:
                exported = export_results(out)
                sent = send_files(
                    self.options.send_to,
                    [o.path for o in exported.objects],
                    ae_title=self.options.ae_title,
                    tls=self.options.tls,
                )
                self._emit({"event": "results_sent", **base, **sent.to_dict()})
            except SstrkitError as exc:
                self._emit({"event": "send_failed", **base, "reason": exc.one_line()})
