"""``sstrkit pacs ...``: receive studies, query/retrieve a PACS, send results back.

* ``listen --store DIR [--ae SSTRKIT] [--port 11112] [--host 127.0.0.1] [--allow AE,...]
  [--idle-s 60] [--run --out DIR] [--registry URL] [--send-to AE@HOST:PORT]
  [--clinical-dir DIR] [--spect-fwhm-mm MM]
  [--tls-cert PEM --tls-key PEM [--tls-ca PEM]] [--json]``: the C-ECHO/C-STORE SCP
  (:mod:`sstrkit.pacs.scp`, :mod:`sstrkit.pacs.jobs`); runs until SIGINT/SIGTERM, then
  finishes the job in progress. One line per event (``--json``: one JSON object per line);
* ``query --from AE@HOST:PORT | --dicomweb URL [--patient-id ID] [--patient-name N]
  [--study-date D] [--modality M] [--study-uid UID --level series] [--json]``: C-FIND or
  QIDO-RS;
* ``retrieve --from ... | --dicomweb URL --store DIR (--patient-id ID | --study-uid UID...)
  [--method get|move --port P --move-ae AE] [--all-studies] [--with-results] [--json]``:
  C-GET, C-MOVE or WADO-RS of a patient's SSTR PET/CT and SPECT/CT studies (studies with
  PT or NM; sstrkit's own results on the PACS only with ``--with-results``);
* ``send OUT --to AE@HOST:PORT | --stow URL [--no-pdf] [--json]``: the run's results as
  standard objects (:func:`sstrkit.pacs.export.export_results`), by C-STORE or STOW-RS;
* ``echo AE@HOST:PORT``: C-ECHO (check the network setup).

Errors (bad address, unreachable peer, refused instances) are one line, exit status 2.
pynetdicom, highdicom and dicomweb-client are imported only when a command runs.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from sstrkit.cli.output import console, emit, guarded, table
from sstrkit.errors import InvalidInputError

if TYPE_CHECKING:
    from sstrkit.pacs.network import Peer, TlsFiles

pacs_app = typer.Typer(
    help="PACS link: receive studies and run, query/retrieve, send DICOM results back.",
    no_args_is_help=True,
)

_JSON = typer.Option(False, "--json", help="Print JSON (listen: one object per event line).")
_AE = typer.Option("SSTRKIT", "--ae", help="Own AE title (calling AE title of the SCU).")
_CERT = typer.Option(None, "--tls-cert", help="DICOM TLS: own certificate (PEM).")
_KEY = typer.Option(None, "--tls-key", help="DICOM TLS: private key of --tls-cert (PEM).")
_CA = typer.Option(None, "--tls-ca", help="DICOM TLS: CA certificate(s) the peer's must chain to.")
_FROM = typer.Option(None, "--from", help="PACS as AE@HOST:PORT (DIMSE).")
_WEB = typer.Option(None, "--dicomweb", help="DICOMweb root URL, e.g. http://HOST:8042/dicom-web.")
_PATIENT = typer.Option(None, "--patient-id", help="PatientID.")


def _tls(cert: Path | None, key: Path | None, ca: Path | None) -> TlsFiles | None:
    from sstrkit.pacs.network import TlsFiles

    return TlsFiles.from_options(cert, key, ca)


def _source(peer: str | None, url: str | None) -> Peer | str:
    from sstrkit.pacs.network import parse_peer

    if (peer is None) == (url is None):
        raise InvalidInputError(
            "--from/--dicomweb",
            expected="exactly one of --from AE@HOST:PORT and --dicomweb URL",
            actual="both" if peer else "neither",
        )
    return parse_peer(peer, "--from") if peer is not None else str(url)


# ---------------------------------------------------------------------- listen
class _Printer:
    """Events as lines on stdout (JSON lines with ``--json``), one writer at a time."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        with self._lock:
            if self.as_json:
                sys.stdout.write(json.dumps(event, default=str) + "\n")
                sys.stdout.flush()
                return
            kind = event.get("event", "?")
            rest = ", ".join(f"{k}={v}" for k, v in event.items() if k != "event")
            console.print(f"{kind}: {rest}", markup=False, soft_wrap=True)


def _serve(listener: Any, watch: Any, jobs: Any, say: _Printer, details: dict[str, Any]) -> None:
    """Serve until SIGINT/SIGTERM; then stop and finish the job in progress."""
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        jobs.start()
        watch.start()
        listener.start()
        say({"event": "listening", **details, "port": listener.port})
        resumed = jobs.resume_pending()
        if resumed:
            say({"event": "resumed", "patients": resumed})
        stop.wait()
    finally:
        listener.stop()
        watch.stop()
        jobs.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
        say({"event": "stopped", **listener.counts})


@pacs_app.command("listen")
@guarded
def listen(
    store: Path = typer.Option(..., "--store", help="Folder the received instances go to."),
    ae: str = typer.Option("SSTRKIT", "--ae", help="Own AE title (called AE title)."),
    port: int = typer.Option(11112, "--port", help="TCP port."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    allow: str | None = typer.Option(None, "--allow", help="Accepted calling AE titles: A,B."),
    idle_s: float = typer.Option(60.0, "--idle-s", help="Study complete after N s without data."),
    run: bool = typer.Option(False, "--run", help="Run the patient's job on each new cycle/tp."),
    out: Path | None = typer.Option(None, "--out", help="Run folders: OUT/<patient>."),
    registry: str | None = typer.Option(None, "--registry", help="Record runs (URL or file)."),
    send_to: str | None = typer.Option(None, "--send-to", help="Send results: AE@HOST:PORT."),
    spect_fwhm_mm: float | None = typer.Option(
        None, "--spect-fwhm-mm", help="SPECT resolution (FWHM, mm) for partial-volume correction."
    ),
    clinical_dir: Path | None = typer.Option(
        None, "--clinical-dir", help="Folder of <PatientID>.json clinical files for the intake."
    ),
    tls_cert: Path | None = _CERT,
    tls_key: Path | None = _KEY,
    tls_ca: Path | None = _CA,
    as_json: bool = _JSON,
) -> None:
    """Receive studies (C-STORE), file them, and with --run run each patient's job."""
    from sstrkit.core.atomic import prepare_output_dir
    from sstrkit.pacs.jobs import JobOptions, PatientJobs
    from sstrkit.pacs.network import (
        check_ae_title,
        check_port,
        parse_ae_list,
        parse_peer,
        server_context,
    )
    from sstrkit.pacs.scp import Listener, ListenerConfig, StudyWatch
    from sstrkit.pacs.store import InstanceStore

    title, allowed = check_ae_title(ae, "--ae"), parse_ae_list(allow)
    tls = _tls(tls_cert, tls_key, tls_ca)
    if (run or registry or send_to) and out is None:
        raise InvalidInputError("--out", expected="a folder for the runs with --run", actual="none")
    if (registry or send_to) and not run:
        raise InvalidInputError("--registry/--send-to", expected="--run as well", actual="no --run")
    peer = parse_peer(send_to, "--send-to") if send_to else None
    if out is not None:
        prepare_output_dir(out, "--out")
    prepare_output_dir(store, "--store")
    say = _Printer(as_json)
    instances = InstanceStore(store)
    options = JobOptions(
        run=run,
        out=None if out is None else out.resolve(),
        registry=registry,
        spect_fwhm_mm=spect_fwhm_mm,
        send_to=peer,
        ae_title=title,
        tls=tls,
        clinical_dir=None if clinical_dir is None else clinical_dir.resolve(),
    )
    jobs = PatientJobs(instances, options, say)
    watch = StudyWatch(idle_s, jobs.study_complete, on_open=jobs.study_open)
    jobs.busy = watch.busy
    config = ListenerConfig(
        title,
        host,
        check_port(port, "--port"),
        allowed,
        None if tls is None else server_context(tls),
    )
    listener = Listener(instances, config, on_stored=watch.saw, on_event=say)
    details = {
        "ae_title": title,
        "host": host,
        "store": str(instances.root),
        "allow": list(allowed),
        "tls": tls is not None,
        "idle_s": idle_s,
        "run": run,
    }
    _serve(listener, watch, jobs, say, details)


# ---------------------------------------------------------------------- query
def _query(
    source: Peer | str, level: str, keys: dict[str, Any], ae: str, tls: TlsFiles | None
) -> list[dict[str, Any]]:
    if isinstance(source, str):
        from sstrkit.pacs.dicomweb import qido

        return qido(source, level=level, **keys)  # type: ignore[arg-type]
    from sstrkit.pacs.scu import find

    return find(source, level=level, ae_title=ae, tls=tls, **keys)  # type: ignore[arg-type]


@pacs_app.command("query")
@guarded
def query(
    from_: str | None = _FROM,
    dicomweb: str | None = _WEB,
    patient_id: str | None = _PATIENT,
    patient_name: str | None = typer.Option(None, "--patient-name", help="PatientName."),
    study_date: str | None = typer.Option(None, "--study-date", help="YYYYMMDD or a range."),
    modality: str | None = typer.Option(None, "--modality", help="Modality, e.g. PT or NM."),
    study_uid: str | None = typer.Option(None, "--study-uid", help="StudyInstanceUID."),
    level: str = typer.Option("study", "--level", help="study or series (with --study-uid)."),
    ae: str = _AE,
    tls_cert: Path | None = _CERT,
    tls_key: Path | None = _KEY,
    tls_ca: Path | None = _CA,
    as_json: bool = _JSON,
) -> None:
    """Find studies (or the series of a study) on a PACS: C-FIND or QIDO-RS."""
    from sstrkit.pacs.network import check_ae_title

    lvl = level.strip().upper()
    if lvl not in ("STUDY", "SERIES"):
        raise InvalidInputError("--level", expected="study or series", actual=level)
    source = _source(from_, dicomweb)
    keys = {
        "patient_id": patient_id,
        "patient_name": patient_name,
        "study_date": study_date,
        "modality": modality,
        "study_uid": study_uid,
    }
    rows = _query(source, lvl, keys, check_ae_title(ae, "--ae"), _tls(tls_cert, tls_key, tls_ca))
    doc = {"source": str(source), "level": lvl.lower(), "matches": rows}

    def render(d: dict[str, Any]) -> None:
        if lvl == "STUDY":
            cols: tuple[str, ...] = (
                "patient",
                "study date",
                "description",
                "modalities",
                "series",
                "study UID",
            )
            keys_: tuple[str, ...] = (
                "patient_id",
                "study_date",
                "description",
                "modalities",
                "n_series",
                "study_uid",
            )
        else:
            cols = ("modality", "number", "description", "instances", "series UID")
            keys_ = ("modality", "series_number", "description", "n_instances", "series_uid")
        rows_ = [[_cell(r.get(k)) for k in keys_] for r in d["matches"]]
        console.print(table(f"{len(rows_)} {d['level']} match(es) at {d['source']}", cols, rows_))

    emit(doc, as_json, render)


def _cell(value: Any) -> Any:
    return "\\".join(value) if isinstance(value, list) else value


# ---------------------------------------------------------------------- retrieve
def _targets(
    source: Peer | str,
    patient_id: str | None,
    study_uid: list[str] | None,
    series_uid: str | None,
    all_studies: bool,
    ae: str,
    tls: TlsFiles | None,
) -> list[tuple[str, str | None]]:
    if study_uid:
        if series_uid and len(study_uid) != 1:
            raise InvalidInputError(
                "--series-uid",
                expected="one --study-uid with it",
                actual=f"{len(study_uid)} studies",
            )
        return [(u, series_uid) for u in study_uid]
    if not patient_id:
        raise InvalidInputError(
            "--patient-id/--study-uid", expected="a patient or studies", actual="neither"
        )
    keys = {"patient_id": patient_id}
    studies = _query(source, "STUDY", keys, ae, tls)
    wanted = [
        s["study_uid"]
        for s in studies
        if s.get("study_uid")
        and (all_studies or not s.get("modalities") or {"PT", "NM"} & set(s["modalities"]))
    ]
    if not wanted:
        raise InvalidInputError(
            "--patient-id",
            expected="studies with PET (PT) or SPECT (NM) on the PACS",
            actual=f"{len(studies)} studies of {patient_id}, none with PT or NM",
            fix="check the patient ID, or give --all-studies or --study-uid",
        )
    return [(u, None) for u in wanted]


@pacs_app.command("retrieve")
@guarded
def retrieve(
    store: Path = typer.Option(..., "--store", help="Folder the instances go to."),
    from_: str | None = _FROM,
    dicomweb: str | None = _WEB,
    patient_id: str | None = _PATIENT,
    study_uid: list[str] | None = typer.Option(None, "--study-uid", help="Study (repeatable)."),
    series_uid: str | None = typer.Option(None, "--series-uid", help="One series of the study."),
    all_studies: bool = typer.Option(False, "--all-studies", help="Not only studies with PT/NM."),
    with_results: bool = typer.Option(
        False, "--with-results", help="Also file sstrkit's own results found on the PACS."
    ),
    method: str = typer.Option("get", "--method", help="get (C-GET) or move (C-MOVE)."),
    move_ae: str | None = typer.Option(None, "--move-ae", help="C-MOVE destination (def. --ae)."),
    port: int = typer.Option(11113, "--port", help="C-MOVE: port of the receiving listener."),
    host: str = typer.Option("127.0.0.1", "--host", help="C-MOVE: address it listens on."),
    ae: str = _AE,
    tls_cert: Path | None = _CERT,
    tls_key: Path | None = _KEY,
    tls_ca: Path | None = _CA,
    as_json: bool = _JSON,
) -> None:
    """Fetch a patient's PET/CT and SPECT/CT studies into --store (C-GET, C-MOVE, WADO-RS)."""
    from sstrkit.core.atomic import prepare_output_dir
    from sstrkit.pacs.network import check_ae_title, check_port
    from sstrkit.pacs.store import InstanceStore

    title, tls = check_ae_title(ae, "--ae"), _tls(tls_cert, tls_key, tls_ca)
    how = method.strip().lower()
    if how not in ("get", "move"):
        raise InvalidInputError("--method", expected="get or move", actual=method)
    source = _source(from_, dicomweb)
    targets = _targets(source, patient_id, study_uid, series_uid, all_studies, title, tls)
    prepare_output_dir(store, "--store")
    instances = InstanceStore(store)
    if isinstance(source, str):
        from sstrkit.pacs.dicomweb import wado_retrieve

        report = wado_retrieve(source, instances, targets, own_results=with_results)
    elif how == "get":
        from sstrkit.pacs.scu import retrieve_get

        report = retrieve_get(
            source, instances, targets, ae_title=title, tls=tls, own_results=with_results
        )
    else:
        from sstrkit.pacs.scu import retrieve_move

        dest = check_ae_title(move_ae or title, "--move-ae")
        report = retrieve_move(
            source,
            instances,
            targets,
            move_ae=dest,
            host=host,
            port=check_port(port, "--port"),
            ae_title=title,
            tls=tls,
            own_results=with_results,
        )
    doc = {"source": str(source), **report.to_dict()}

    def render(d: dict[str, Any]) -> None:
        console.print(
            f"{d['method']}: {d['stored']} instance(s) stored, {d['duplicates']} already there, "
            f"{d['ignored']} sstrkit result(s) left out, {d['failed']} failed, "
            f"from {len(d['studies'])} stud(ies) into {d['store']}",
            markup=False,
            soft_wrap=True,
        )

    emit(doc, as_json, render)


# ---------------------------------------------------------------------- send
@pacs_app.command("send")
@guarded
def send(
    out: Path = typer.Argument(..., help="Output folder of 'sstrkit run'."),
    to: str | None = typer.Option(None, "--to", help="PACS as AE@HOST:PORT (C-STORE)."),
    stow: str | None = typer.Option(None, "--stow", help="DICOMweb root URL (STOW-RS)."),
    no_pdf: bool = typer.Option(False, "--no-pdf", help="Leave out the report PDF."),
    ae: str = _AE,
    tls_cert: Path | None = _CERT,
    tls_key: Path | None = _KEY,
    tls_ca: Path | None = _CA,
    as_json: bool = _JSON,
) -> None:
    """Send a run's results (RTDOSE, SEG, SR, PDF, SUV series, RTSTRUCT) to a PACS."""
    from sstrkit.pacs.export import export_results
    from sstrkit.pacs.network import check_ae_title, parse_peer

    title, tls = check_ae_title(ae, "--ae"), _tls(tls_cert, tls_key, tls_ca)
    if (to is None) == (stow is None):
        raise InvalidInputError(
            "--to/--stow",
            expected="exactly one of --to and --stow",
            actual="both" if to else "neither",
        )
    target: Peer | str = str(stow) if to is None else parse_peer(to, "--to")
    exported = export_results(out, pdf=not no_pdf)
    files = [o.path for o in exported.objects]
    if isinstance(target, str):
        from sstrkit.pacs.dicomweb import stow as stow_files

        sent = stow_files(target, files)
    else:
        from sstrkit.pacs.scu import send_files

        sent = send_files(target, files, ae_title=title, tls=tls)
    doc = {"export": exported.to_dict(), "sent": sent.to_dict()}
    if sent.failed:
        first = sent.failed[0]
        raise InvalidInputError(
            f"send to {target}",
            expected="every instance accepted",
            actual=f"{len(sent.failed)} of {len(files)} refused, e.g. {first['file']} "
            f"(status {first['status']})",
            fix="check that the PACS accepts these SOP classes (docs/pacs.md, Conformance)",
        )

    def render(d: dict[str, Any]) -> None:
        counts = ", ".join(f"{n} {k}" for k, n in d["export"]["counts"].items())
        console.print(
            f"sent {d['sent']['sent']} instance(s) to {d['sent']['to']}: {counts}",
            markup=False,
            soft_wrap=True,
        )
        for note in d["export"]["notes"]:
            console.print(f"note: {note}", markup=False, soft_wrap=True)

    emit(doc, as_json, render)


@pacs_app.command("echo")
@guarded
def echo_cmd(
    peer: str = typer.Argument(..., help="AE@HOST:PORT"),
    ae: str = _AE,
    tls_cert: Path | None = _CERT,
    tls_key: Path | None = _KEY,
    tls_ca: Path | None = _CA,
    as_json: bool = _JSON,
) -> None:
    """C-ECHO a DICOM node (checks address, AE titles and TLS)."""
    from sstrkit.pacs.network import check_ae_title, parse_peer
    from sstrkit.pacs.scu import echo

    target = parse_peer(peer, "PEER")
    status = echo(
        target,
        ae_title=check_ae_title(ae, "--ae"),
        tls=_tls(tls_cert, tls_key, tls_ca),
        what="PEER",
    )
    emit(
        {"peer": str(target), "status": status},
        as_json,
        lambda d: console.print(f"C-ECHO {d['peer']}: status 0x{d['status']:04X}"),
    )


def register(app: typer.Typer) -> None:
    """Add the ``pacs`` group to ``app``."""
    app.add_typer(pacs_app, name="pacs")
