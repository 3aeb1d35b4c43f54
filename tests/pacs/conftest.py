"""Fixtures of the PACS-link tests: a digital patient, a real Orthanc, dcmtk peers.

* ``phantom``: one small digital patient (seed 3, one 177Lu cycle, SPECT/CT at 4, 24,
  96 and 168 h, 8 mm voxels, no FDG), made once per session; its DICOM has two
  studies: the baseline 68Ga-DOTATATE PET/CT and the cycle's SPECT/CTs;
* ``orthanc``: Orthanc (Debian ``orthanc``) with the DICOMweb plugin
  (``orthanc-dicomweb``) on free loopback ports, configured from a JSON file written
  into a temporary folder; it knows sstrkit's listener (``SSTRKIT``) and a C-MOVE
  destination (``SSTRKITMOVE``) as modalities, and allows C-FIND/C-GET/C-MOVE;
  the phantom's DICOM is stored into it with dcmtk's ``storescu``;
* dcmtk's ``storescu``, ``findscu``, ``movescu`` (Debian ``dcmtk``) and
  ``dciodvfy`` (Debian ``dicom3tools``) as independent peers and checker.

A missing tool skips these tests locally and fails them under ``CI=true`` (.ci/run
installs the packages), as tests/io/test_conformance.py does for dciodvfy. dcmtk tools
run with ``TCP_NODELAY=1`` (DCMTK keeps Nagle's algorithm otherwise, ~40 ms a message).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sstrkit.phantom.study import StudyConfig, make_study

ORTHANC_PLUGIN_DIRS = (Path("/usr/share/orthanc/plugins"), Path("/usr/lib/orthanc/plugins"))
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}
PHANTOM_PATIENT = "SSTRKIT-PH0003"


def require_tool(name: str, package: str) -> str:
    """Path of ``name``; skip (fail under CI=true) when it is not installed."""
    tool = shutil.which(name)
    if tool is None:
        reason = f"{name} is not installed: apt-get install {package}"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"{reason} (required under CI=true; .ci/run installs it)")
        pytest.skip(reason)
    return tool


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dicom_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.dcm") if p.is_file())


def run_tool(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a dcmtk tool; fail the test with its output when it fails."""
    res = subprocess.run(
        args, capture_output=True, text=True, env=DCMTK_ENV, timeout=timeout, check=False
    )
    assert res.returncode == 0, f"{' '.join(args)} failed:\n{res.stdout}\n{res.stderr}"
    return res


@pytest.fixture(scope="session")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pacs_phantom") / "study"
    make_study(root, StudyConfig(seed=3, cycles=1, voxel_mm=8.0, fdg=False))
    return root


@dataclass
class Orthanc:
    """A running Orthanc and its ports."""

    dicom_port: int
    http_port: int
    listener_port: int
    move_port: int
    aet: str = "ORTHANC"

    @property
    def peer(self) -> str:
        return f"{self.aet}@127.0.0.1:{self.dicom_port}"

    @property
    def dicomweb(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/dicom-web"

    def rest(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", method=method)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=30) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def study(self, study_uid: str) -> dict[str, Any]:
        """What Orthanc holds of a study: ``sops`` (SOPInstanceUIDs) and ``series``
        (SeriesInstanceUID → (Modality, number of instances))."""
        found = self.rest_post("/tools/lookup", study_uid)
        oid = next(x for x in found if x["Type"] == "Study")["ID"]
        series = {
            s["MainDicomTags"]["SeriesInstanceUID"]: (
                s["MainDicomTags"].get("Modality", ""),
                len(s["Instances"]),
            )
            for s in self.rest(f"/studies/{oid}/series?expand")
        }
        sops = {
            i["MainDicomTags"]["SOPInstanceUID"]
            for i in self.rest(f"/studies/{oid}/instances?expand")
        }
        return {"id": oid, "series": series, "sops": sops}

    def rest_post(self, path: str, body: str) -> Any:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}", data=body.encode(), method="POST"
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=30) as resp:
            return json.loads(resp.read())


def _plugin() -> Path:
    for folder in ORTHANC_PLUGIN_DIRS:
        lib = folder / "libOrthancDicomWeb.so"
        if lib.is_file():
            return lib
    reason = "the Orthanc DICOMweb plugin is not installed: apt-get install orthanc-dicomweb"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(reason + " (required under CI=true)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory, phantom: Path) -> Iterator[Orthanc]:
    exe = require_tool("Orthanc", "orthanc")
    storescu = require_tool("storescu", "dcmtk")
    plugin = _plugin()
    root = tmp_path_factory.mktemp("orthanc")
    o = Orthanc(free_port(), free_port(), free_port(), free_port())
    config = {
        "Name": "sstrkit-test",
        "StorageDirectory": str(root / "db"),
        "IndexDirectory": str(root / "db"),
        "HttpPort": o.http_port,
        "DicomPort": o.dicom_port,
        "DicomAet": o.aet,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "Plugins": [str(plugin)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True},
        "DicomModalities": {
            "sstrkit": ["SSTRKIT", "127.0.0.1", o.listener_port],
            "sstrkitmove": ["SSTRKITMOVE", "127.0.0.1", o.move_port],
        },
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowGet": True,
        "DicomAlwaysAllowMove": True,
        "DicomCheckModalityHost": False,
        "DicomScuTimeout": 30,
        "SaveJobs": False,
        "StorageCompression": False,
    }
    (root / "orthanc.json").write_text(json.dumps(config), encoding="utf-8")
    log = (root / "orthanc.log").open("w")
    proc = subprocess.Popen(
        [exe, str(root / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT, env=DCMTK_ENV
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                o.rest("/system")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("Orthanc did not start:\n" + (root / "orthanc.log").read_text())
                time.sleep(0.2)
        run_tool(
            [
                storescu,
                "-aet",
                "STORESCU",
                "-aec",
                o.aet,
                "+sd",
                "+r",
                "127.0.0.1",
                str(o.dicom_port),
                str(phantom / "dicom"),
            ]
        )
        yield o
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def dciodvfy() -> str:
    return require_tool("dciodvfy", "dicom3tools")


def verify(tool: str, path: Path) -> list[str]:
    """dciodvfy ``path``: no Error line and exit 0; return the Warning lines."""
    res = subprocess.run([tool, str(path)], capture_output=True, timeout=120, check=False)
    text = (res.stderr + res.stdout).decode("utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error")]
    assert res.returncode == 0 and not errors, f"dciodvfy {path}:\n" + "\n".join(lines)
    return [line for line in lines if line.startswith("Warning")]


class EventLog:
    """The JSON lines of a ``sstrkit pacs listen --json`` process, read in a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        import threading

        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()

    def wait(self, pred: Any, timeout: float, after: int = 0) -> dict[str, Any]:
        """The first event at index >= ``after`` satisfying ``pred``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events[after:]:
                    if pred(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._thread.is_alive()):
                    pytest.fail(
                        f"no such listener event in {timeout} s (exit status "
                        f"{self.proc.poll()}); events: "
                        f"{json.dumps(self.events, indent=1)[-6000:]}"
                    )
                self._cond.wait(min(left, 0.5))

    def close(self) -> None:
        self._thread.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.events if e.get("event") == kind]


@dataclass
class Listened:
    """What ``pacs listen --run`` did with the phantom's two studies."""

    log: EventLog
    store: Path
    runs: Path
    registry: Path
    out: Path
    resent: int


def _study_uid(folder: Path) -> str:
    import pydicom

    return str(pydicom.dcmread(dicom_files(folder)[0], stop_before_pixels=True).StudyInstanceUID)


@pytest.fixture(scope="session")
def listened(
    tmp_path_factory: pytest.TempPathFactory, phantom: Path, orthanc: Orthanc
) -> Iterator[Listened]:
    """The listener as a department runs it: the baseline PET/CT sent by a modality
    (storescu), the cycle's SPECT/CTs moved from the PACS (Orthanc C-MOVE via movescu);
    the run is recorded and its results sent to Orthanc (``--send-to``); then the 24 h
    SPECT sent again (all duplicates)."""
    import signal
    import sys

    storescu = require_tool("storescu", "dcmtk")
    movescu = require_tool("movescu", "dcmtk")
    root = tmp_path_factory.mktemp("listen")
    clinical = root / "clinical"
    clinical.mkdir()
    shutil.copy(phantom / "clinical.json", clinical / f"{PHANTOM_PATIENT}.json")
    port = str(orthanc.listener_port)
    cmd = [
        sys.executable,
        "-m",
        "sstrkit.cli.main",
        "pacs",
        "listen",
        "--store",
        str(root / "store"),
        "--port",
        port,
        "--ae",
        "SSTRKIT",
        "--allow",
        "STORESCU,ORTHANC",
        "--idle-s",
        "3",
        "--run",
        "--out",
        str(root / "runs"),
        "--registry",
        str(root / "registry.sqlite"),
        "--clinical-dir",
        str(clinical),
        "--send-to",
        orthanc.peer,
        "--json",
    ]
    err = (root / "listen.stderr").open("w")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    log = EventLog(proc)
    try:
        log.wait(lambda e: e.get("event") == "listening", 60)
        dicom = phantom / "dicom"
        run_tool(
            [
                storescu,
                "-aet",
                "STORESCU",
                "-aec",
                "SSTRKIT",
                "+sd",
                "+r",
                "127.0.0.1",
                port,
                str(dicom / "pet_dotatate"),
                str(dicom / "pet_dotatate_ct"),
            ]
        )
        run_tool(
            [
                movescu,
                "-S",
                "-aet",
                "MOVESCU",
                "-aem",
                "SSTRKIT",
                "-aec",
                orthanc.aet,
                "127.0.0.1",
                str(orthanc.dicom_port),
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                f"StudyInstanceUID={_study_uid(dicom / 'cycle1')}",
            ]
        )
        full = log.wait(
            lambda e: e.get("event") == "sorted" and len(e["cycles_hours_pi"].get("1", [])) == 4,
            240,
        )
        start = log.events.index(full)
        done = log.wait(lambda e: e.get("event") in ("run_finished", "run_failed"), 240, start)
        assert done["event"] == "run_finished", done
        log.wait(lambda e: e.get("event") == "run_recorded", 60, start)
        log.wait(lambda e: e.get("event") in ("results_sent", "send_failed"), 120, start)
        mark = len(log.events)
        resend = dicom / "cycle1" / "spect_024h"
        run_tool(
            [
                storescu,
                "-aet",
                "STORESCU",
                "-aec",
                "SSTRKIT",
                "+sd",
                "+r",
                "127.0.0.1",
                port,
                str(resend),
            ]
        )
        # the resent study's own completion (all duplicates), then the job it queued: a
        # completion of the earlier studies may still arrive after ``mark`` and queue a job
        n_resent = len(dicom_files(resend))
        again = log.wait(
            lambda e: e.get("event") == "study_complete" and e.get("duplicates") == n_resent,
            120,
            mark,
        )
        log.wait(
            lambda e: e.get("event") in ("run_skipped", "run_finished"),
            120,
            log.events.index(again),
        )
        yield Listened(
            log,
            root / "store",
            root / "runs",
            root / "registry.sqlite",
            Path(done["out"]),
            len(dicom_files(resend)),
        )
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        err.close()
        (root / "events.json").write_text(json.dumps(log.events, indent=1), encoding="utf-8")
