"""PACS listener: receive a digital patient over loopback — against dcmtk's storescp.

A 36-series digital patient (seed 3: 68Ga-DOTATATE and FDG PET/CT, four 177Lu cycles
with SPECT/CT at 4/24/96/168 h; 8 mm voxels; 1 056 instances, 23 MB) is made in a
temporary folder (not timed), or an existing study folder is reused (``--study``). All
its DICOM instances are sent with dcmtk's ``storescu`` (one association,
``TCP_NODELAY=1``: DCMTK keeps Nagle's algorithm otherwise, ~40 ms a message) over
loopback to

* ``sstrkit pacs listen`` (a fresh process, no ``--run``; its asyncio DICOM acceptor), and, as
  the named baseline in the same run,
* dcmtk's ``storescp`` alone (a fresh process, ``-od`` one flat folder),

each into an empty temporary folder. Timed: from starting ``storescu`` until every
instance is a file in the receiver's folder (for sstrkit: filed in the store, not
under ``.incoming``; listener start-up not timed). Repeated ``--repeat`` times
(default 3), the two receivers interleaved; printed: the median seconds and
instances/s of each, and the throughput ratio sstrkit/storescp (instances/s of
sstrkit ÷ instances/s of storescp; issue 21's target: at least 0.5). No assertion
on time; the exit status is 1 only when an instance was not stored. Skips (exit 0, a
plain message) when storescu or storescp is missing.

Time from last instance to report (``--no-report`` skips it): the small digital patient
of tests/pacs (seed 3, one cycle, SPECT/CT at 4/24/96/168 h, 8 mm, no FDG) is sent with
``storescu`` to ``sstrkit pacs listen --run --idle-s 2 --clinical-dir`` (its
clinical.json as the department would give it); printed: the ``since_last_instance_s``
of the ``run_finished`` event (``--idle-s`` + sorting + the main job + the report).
Named baseline in the same run: ``sstrkit run`` by hand on the folder the listener
filed (the physicist's export-and-run path, without the export), wall-clock of the
process; ratio = listener's time to report ÷ ``sstrkit run``'s time.

Note: sstrkit's store writes each instance under ``.incoming`` and renames it into
``<patient>/<study>/<series>/``, keeps a UID index for deduplication and fsyncs in the
background (:mod:`sstrkit.pacs.store`); storescp writes each file in place, no fsync.

Usage: ``python benchmarks/bench_pacs.py [--study STUDY_FOLDER] [--repeat 3] [--no-report]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sstrkit.pacs.store import patient_key
from sstrkit.phantom.study import StudyConfig, make_study

DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}
AE_SCU, AE_SSTRKIT, AE_STORESCP = "STORESCU", "SSTRKIT", "STORESCP"
START_TIMEOUT_S = 60.0
STORE_TIMEOUT_S = 300.0


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(pred: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, limit: float) -> None:
    deadline = time.monotonic() + limit
    while not pred():
        if proc.poll() is not None:
            raise RuntimeError(f"{what}: the receiver exited with status {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {limit:.0f} s")
        time.sleep(0.01)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process by its PID; SIGKILL it when it does not exit in 30 s."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _count(folder: Path, pattern: str) -> int:
    return sum(1 for p in folder.rglob(pattern) if p.is_file() and ".incoming" not in p.parts)


def _start_sstrkit(root: Path, port: int) -> tuple[subprocess.Popen[bytes], Path, str]:
    store, log = root / "store", root / "listen.jsonl"
    cmd = [sys.executable, "-m", "sstrkit.cli.main", "pacs", "listen", "--store", str(store)]
    cmd += ["--port", str(port), "--ae", AE_SSTRKIT, "--allow", AE_SCU]
    cmd += ["--idle-s", "3600", "--json"]  # no study completes during the benchmark
    with log.open("wb") as out, (root / "listen.stderr").open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)

    def listening() -> bool:
        return log.is_file() and b'"event": "listening"' in log.read_bytes()

    _wait(listening, proc, "sstrkit pacs listen start", START_TIMEOUT_S)
    return proc, store, "*.dcm"


def _start_storescp(root: Path, port: int) -> tuple[subprocess.Popen[bytes], Path, str]:
    tool = shutil.which("storescp")
    assert tool is not None
    store = root / "store"
    store.mkdir()
    cmd = [tool, "-aet", AE_STORESCP, "-od", str(store), "-fe", ".dcm", str(port)]
    with (root / "storescp.log").open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=DCMTK_ENV)
    # a bare TCP connect: storescp logs a failed association and keeps serving
    _wait(lambda: _accepts(port), proc, "storescp start", START_TIMEOUT_S)
    return proc, store, "*.dcm"


Starter = Callable[[Path, int], tuple[subprocess.Popen[bytes], Path, str]]


def send_once(start: Starter, called_ae: str, dicom: Path, n: int) -> float:
    """Seconds from starting storescu until ``n`` instances are files in the store."""
    storescu = shutil.which("storescu")
    assert storescu is not None
    with tempfile.TemporaryDirectory(prefix="sstrkit-bench-pacs-") as tmp:
        port = free_port()
        proc, store, pattern = start(Path(tmp), port)
        try:
            cmd = [storescu, "-aet", AE_SCU, "-aec", called_ae, "+sd", "+r"]
            cmd += ["127.0.0.1", str(port), str(dicom)]
            t0 = time.perf_counter()
            res = subprocess.run(cmd, capture_output=True, env=DCMTK_ENV, check=False)
            if res.returncode != 0:
                raise RuntimeError(f"storescu to {called_ae} failed:\n{res.stderr.decode()}")
            _wait(lambda: _count(store, pattern) >= n, proc, f"{called_ae} store", STORE_TIMEOUT_S)
            seconds = time.perf_counter() - t0
            stored = _count(store, pattern)
        finally:
            _stop(proc)
    if stored != n:
        raise RuntimeError(f"{called_ae} stored {stored} files of {n} instances")
    return seconds


IDLE_S = 2.0


def _events(log: Path) -> list[dict[str, object]]:
    lines = log.read_text(encoding="utf-8").splitlines() if log.is_file() else []
    return [json.loads(line) for line in lines if line.startswith("{")]


def time_to_report(root: Path) -> tuple[float, float]:
    """(listener's seconds from last instance to report, ``sstrkit run``'s seconds)."""
    study = root / "small"
    make_study(study, StudyConfig(seed=3, cycles=1, voxel_mm=8.0, fdg=False))
    clinical = root / "clinical"
    clinical.mkdir()
    patient = json.loads((study / "manifest.json").read_text(encoding="utf-8"))["patient"]
    shutil.copy(study / "clinical.json", clinical / f"{patient['id']}.json")
    store, log, port = root / "store", root / "listen.jsonl", free_port()
    cmd = [sys.executable, "-m", "sstrkit.cli.main", "pacs", "listen", "--store", str(store)]
    cmd += ["--port", str(port), "--ae", AE_SSTRKIT, "--idle-s", str(IDLE_S), "--run"]
    cmd += ["--out", str(root / "runs"), "--clinical-dir", str(clinical), "--json"]
    with log.open("wb") as out, (root / "listen.stderr").open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
    try:
        _wait(lambda: b'"event": "listening"' in log.read_bytes(), proc, "listen", START_TIMEOUT_S)
        storescu = shutil.which("storescu")
        assert storescu is not None
        send = [storescu, "-aet", AE_SCU, "-aec", AE_SSTRKIT, "+sd", "+r", "127.0.0.1"]
        subprocess.run([*send, str(port), str(study / "dicom")], check=True, env=DCMTK_ENV)

        def finished() -> bool:
            return any(e["event"] in ("run_finished", "run_failed") for e in _events(log))

        _wait(finished, proc, "listen --run", STORE_TIMEOUT_S)
    finally:
        _stop(proc)
    event = next(e for e in _events(log) if e["event"] in ("run_finished", "run_failed"))
    if event["event"] != "run_finished":
        raise RuntimeError(f"the listener's run failed: {event}")
    listener_s = float(event["since_last_instance_s"])  # type: ignore[arg-type]
    folder, clinical_json = store / patient_key(patient["id"]), clinical / f"{patient['id']}.json"
    by_hand = [sys.executable, "-m", "sstrkit.cli.main", "run", str(folder)]
    by_hand += ["--out", str(root / "by-hand"), "--clinical", str(clinical_json)]
    t0 = time.perf_counter()
    subprocess.run([*by_hand, "--json"], check=True, capture_output=True)
    return listener_s, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", type=Path, help="an existing study folder (with dicom/)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-report", action="store_true", help="skip the time to report")
    args = ap.parse_args(argv)
    missing = [t for t in ("storescu", "storescp") if shutil.which(t) is None]
    if missing:
        print(f"skipped: {', '.join(missing)} not installed (apt-get install dcmtk)")
        return 0
    with tempfile.TemporaryDirectory(prefix="sstrkit-bench-pacs-study-") as tmp:
        study = args.study
        if study is None:
            study = Path(tmp) / "study"
            t0 = time.perf_counter()
            make_study(study, StudyConfig(seed=3, cycles=4, voxel_mm=8.0, fdg=True))
            print(f"digital patient made in {time.perf_counter() - t0:.1f} s (not timed)")
        dicom = study / "dicom"
        files = sorted(p for p in dicom.rglob("*.dcm") if p.is_file())
        mb = sum(p.stat().st_size for p in files) / 1e6
        print(
            f"sending {len(files)} instances ({mb:.1f} MB) with storescu over loopback, "
            f"TCP_NODELAY=1, {args.repeat} repeats, fresh receiver + empty folder each"
        )
        contenders: dict[str, tuple[Starter, str]] = {
            "sstrkit": (_start_sstrkit, AE_SSTRKIT),
            "storescp": (_start_storescp, AE_STORESCP),
        }
        times: dict[str, list[float]] = {name: [] for name in contenders}
        try:
            for _ in range(args.repeat):  # interleaved, so drift hits both alike
                for name, (start, called_ae) in contenders.items():
                    times[name].append(send_once(start, called_ae, dicom, len(files)))
        except RuntimeError as exc:
            print(f"failed: {exc}")
            return 1
    med = {k: statistics.median(v) for k, v in times.items()}
    labels = {"sstrkit": "sstrkit pacs listen (asyncio)", "storescp": "dcmtk storescp alone"}
    for name in times:
        runs = ", ".join(f"{s:.2f}" for s in times[name])
        print(f"{labels[name]:32s} median {med[name]:6.2f} s  {len(files) / med[name]:7.0f} "
              f"instances/s  (runs: {runs} s)")  # fmt: skip
    # throughput ratio = (n / t_sstrkit) / (n / t_storescp) = t_storescp / t_sstrkit
    ratio = med["storescp"] / med["sstrkit"]
    print(f"throughput ratio sstrkit/storescp: {ratio:.2f} (target >= 0.5)")
    if args.no_report:
        return 0
    with tempfile.TemporaryDirectory(prefix="sstrkit-bench-pacs-report-") as tmp:
        try:
            listener_s, by_hand_s = time_to_report(Path(tmp))
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            print(f"failed: {exc}")
            return 1
    print(f"time from last instance to report, pacs listen --run --idle-s {IDLE_S:g}: "
          f"{listener_s:.1f} s")  # fmt: skip
    print(f"sstrkit run by hand on the filed folder (baseline):          {by_hand_s:.1f} s")
    print(
        f"ratio listener/by hand: {listener_s / by_hand_s:.2f} "
        f"(includes the {IDLE_S:g} s of --idle-s before the study counts as complete)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
