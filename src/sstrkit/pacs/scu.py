"""DICOM SCU: C-ECHO, C-FIND, C-MOVE, C-GET and C-STORE against a PACS (pynetdicom).

* :func:`find` — C-FIND (Study Root) at STUDY level (a patient's studies with their
  modalities, series and instance counts) or SERIES level (``study_uid`` given);
* :func:`retrieve_get` — C-GET of studies/series into an
  :class:`~sstrkit.pacs.store.InstanceStore` over the same association (the PACS
  must allow C-GET; sstrkit asks for the SCP role of
  :data:`~sstrkit.pacs.conformance.GET_STORAGE`);
* :func:`retrieve_move` — C-MOVE to a destination AE: sstrkit starts its own
  storage SCP (:class:`~sstrkit.pacs.scp.Listener`) on ``port`` under the
  destination AE title for the duration, so the PACS must know that AE title at
  this host and port;
* :func:`send_files` — C-STORE of files, one association, a context per SOP class.

Every function takes the calling AE title and optional DICOM TLS files. A refused,
rejected or aborted association is an :class:`~sstrkit.errors.InvalidInputError`
naming the peer (:func:`sstrkit.pacs.network.unreachable`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pydicom
from pydicom.dataset import Dataset

from sstrkit.errors import InvalidInputError
from sstrkit.pacs.conformance import (
    GET_STORAGE,
    QUERY_RETRIEVE,
    SCP_TRANSFER_SYNTAXES,
    SCU_TRANSFER_SYNTAXES,
    VERIFICATION,
)
from sstrkit.pacs.network import Peer, TlsFiles, client_context, unreachable
from sstrkit.pacs.store import InstanceStore, is_own_result

__all__ = [
    "STUDY_FIELDS",
    "SendReport",
    "TransferReport",
    "attribute_value",
    "close_socket",
    "echo",
    "find",
    "retrieve_get",
    "retrieve_move",
    "send_files",
]

#: Study-level return keys of :func:`find` (DICOM keyword → JSON key).
STUDY_FIELDS: dict[str, str] = {
    "PatientID": "patient_id",
    "PatientName": "patient_name",
    "StudyInstanceUID": "study_uid",
    "StudyDate": "study_date",
    "StudyTime": "study_time",
    "StudyDescription": "description",
    "AccessionNumber": "accession_number",
    "ModalitiesInStudy": "modalities",
    "NumberOfStudyRelatedSeries": "n_series",
    "NumberOfStudyRelatedInstances": "n_instances",
}
#: Series-level return keys.
SERIES_FIELDS: dict[str, str] = {
    "PatientID": "patient_id",
    "StudyInstanceUID": "study_uid",
    "SeriesInstanceUID": "series_uid",
    "Modality": "modality",
    "SeriesNumber": "series_number",
    "SeriesDescription": "description",
    "NumberOfSeriesRelatedInstances": "n_instances",
}
_SUCCESS, _PENDING = 0x0000, (0xFF00, 0xFF01)


@contextlib.contextmanager
def _association(
    peer: Peer,
    ae_title: str,
    tls: TlsFiles | None,
    contexts: Sequence[tuple[str, Sequence[str]]],
    what: str,
    *,
    ext_neg: list[Any] | None = None,
    evt_handlers: list[Any] | None = None,
) -> Iterator[Any]:
    from pynetdicom import AE

    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
    for sop, syntaxes in contexts:
        ae.add_requested_context(sop, list(syntaxes))
    tls_args = None if tls is None else (client_context(tls), peer.host)
    try:
        assoc = ae.associate(
            peer.host,
            peer.port,
            ae_title=peer.ae_title,
            tls_args=tls_args,
            ext_neg=ext_neg,
            evt_handlers=evt_handlers,
        )
    except OSError as exc:
        raise unreachable(peer, what, ae_title, str(exc)) from None
    if not assoc.is_established:
        if assoc.is_rejected:
            detail = "rejected"
        elif assoc.is_aborted:
            detail = "aborted: no proposed SOP class/transfer syntax accepted, or closed"
        else:
            detail = "refused or no answer"
        close_socket(assoc)
        raise unreachable(peer, what, ae_title, detail)
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def close_socket(assoc: Any) -> None:
    """Close the socket of an association that failed (pynetdicom leaves it open when the
    peer already reset the connection, e.g. after a TLS handshake failure)."""
    wrapper = getattr(getattr(assoc, "dul", None), "socket", None)
    raw = getattr(wrapper, "socket", None)
    if raw is not None:
        raw.close()


def echo(
    peer: Peer, *, ae_title: str = "SSTRKIT", tls: TlsFiles | None = None, what: str = "--to"
) -> int:
    """C-ECHO; the status (0 = success). ``what`` names the peer in errors."""
    with _association(peer, ae_title, tls, [(VERIFICATION, SCU_TRANSFER_SYNTAXES)], what) as a:
        status = a.send_c_echo()
        return int(status.Status) if "Status" in status else -1


def attribute_value(value: Any) -> Any:
    """A C-FIND/QIDO attribute value as JSON: None for empty, lists for multi-valued."""
    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue):
        return [str(v) for v in value]
    if isinstance(value, int | float):
        return value
    return str(value)


def find(
    peer: Peer,
    *,
    patient_id: str | None = None,
    patient_name: str | None = None,
    study_date: str | None = None,
    modality: str | None = None,
    study_uid: str | None = None,
    level: Literal["STUDY", "SERIES"] = "STUDY",
    ae_title: str = "SSTRKIT",
    tls: TlsFiles | None = None,
) -> list[dict[str, Any]]:
    """C-FIND (Study Root): one dict per study (or series) matching the keys given."""
    if level == "SERIES" and not study_uid:
        raise InvalidInputError(
            "--level series", expected="a --study-uid to list the series of", actual="none"
        )
    fields = STUDY_FIELDS if level == "STUDY" else SERIES_FIELDS
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword in fields:
        setattr(ds, keyword, "")
    if level == "STUDY":
        ds.PatientID = patient_id or ""
        ds.PatientName = patient_name or ""
        ds.StudyDate = study_date or ""
        ds.ModalitiesInStudy = modality or ""
    else:
        ds.Modality = modality or ""
    ds.StudyInstanceUID = study_uid or ""
    model = QUERY_RETRIEVE["C-FIND"]
    found: list[dict[str, Any]] = []
    with _association(peer, ae_title, tls, [(model, SCU_TRANSFER_SYNTAXES)], "--from") as a:
        for status, identifier in a.send_c_find(ds, model):
            code = int(status.get("Status", -1)) if status else -1
            if code in _PENDING and identifier is not None:
                found.append({k: attribute_value(identifier.get(kw)) for kw, k in fields.items()})
            elif code not in (_SUCCESS, *_PENDING):
                raise InvalidInputError(
                    f"C-FIND at {peer}", expected="status 0x0000", actual=f"0x{code:04X}"
                )
    for row in found:
        if isinstance(row.get("modalities"), str):
            row["modalities"] = [row["modalities"]]
    return found


@dataclass
class TransferReport:
    """What a retrieve (or a send) moved: counts and the store folder."""

    method: str
    completed: int = 0
    failed: int = 0
    warnings: int = 0
    stored: int = 0
    duplicates: int = 0
    #: sstrkit's own results received and not filed (without ``own_results``).
    ignored: int = 0
    studies: list[str] = field(default_factory=list)
    store: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


def _keys(study_uid: str, series_uid: str | None) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES" if series_uid else "STUDY"
    ds.StudyInstanceUID = study_uid
    if series_uid:
        ds.SeriesInstanceUID = series_uid
    return ds


def _tally(report: TransferReport, responses: Iterator[tuple[Dataset, Any]], peer: Peer) -> None:
    last: Dataset | None = None
    for status, _identifier in responses:
        if status:
            last = status
    if last is None:
        raise unreachable(peer, "--from", "the retrieve", "no response")
    code = int(last.get("Status", -1))
    report.completed += int(last.get("NumberOfCompletedSuboperations", 0) or 0)
    report.failed += int(last.get("NumberOfFailedSuboperations", 0) or 0)
    report.warnings += int(last.get("NumberOfWarningSuboperations", 0) or 0)
    if code not in (_SUCCESS, 0xB000):
        raise InvalidInputError(
            f"{report.method} from {peer}",
            expected="status 0x0000 (or 0xB000: some sub-operations failed)",
            actual=f"0x{code:04X}",
            fix="check that the PACS allows this retrieve for the calling AE title "
            "(and, for C-MOVE, that it knows the destination AE title, host and port)",
        )


def retrieve_get(
    peer: Peer,
    store: InstanceStore,
    studies: Sequence[tuple[str, str | None]],
    *,
    ae_title: str = "SSTRKIT",
    tls: TlsFiles | None = None,
    own_results: bool = False,
) -> TransferReport:
    """C-GET each (study UID, series UID or None) into ``store`` (sstrkit's own results
    only with ``own_results``)."""
    from pynetdicom import build_role, evt

    report = TransferReport("C-GET", store=str(store.root))

    def on_store(event: Any) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        if not own_results and is_own_result(ds):
            report.ignored += 1
            return _SUCCESS
        item = store.put(ds, event.encoded_dataset(include_meta=True))
        if item.status == "stored":
            report.stored += 1
        else:
            report.duplicates += 1
        return _SUCCESS

    model = QUERY_RETRIEVE["C-GET"]
    contexts = [(model, SCU_TRANSFER_SYNTAXES)]
    contexts += [(sop, SCP_TRANSFER_SYNTAXES) for sop in GET_STORAGE]
    roles = [build_role(sop, scp_role=True) for sop in GET_STORAGE]
    handlers = [(evt.EVT_C_STORE, on_store)]
    with _association(
        peer, ae_title, tls, contexts, "--from", ext_neg=roles, evt_handlers=handlers
    ) as a:
        for study_uid, series_uid in studies:
            _tally(report, a.send_c_get(_keys(study_uid, series_uid), model), peer)
            report.studies.append(study_uid)
    return report


def retrieve_move(
    peer: Peer,
    store: InstanceStore,
    studies: Sequence[tuple[str, str | None]],
    *,
    move_ae: str,
    port: int,
    host: str = "127.0.0.1",
    ae_title: str = "SSTRKIT",
    tls: TlsFiles | None = None,
    own_results: bool = False,
) -> TransferReport:
    """C-MOVE each (study, series) to ``move_ae``, received by a listener on ``host:port``
    that accepts :data:`~sstrkit.pacs.conformance.GET_STORAGE` (own results only with
    ``own_results``)."""
    from sstrkit.pacs.scp import Listener, ListenerConfig

    report = TransferReport("C-MOVE", store=str(store.root))
    config = ListenerConfig(
        ae_title=move_ae, host=host, port=port, storage=GET_STORAGE, own_results=own_results
    )
    listener = Listener(store, config)
    model = QUERY_RETRIEVE["C-MOVE"]
    with (
        listener,
        _association(peer, ae_title, tls, [(model, SCU_TRANSFER_SYNTAXES)], "--from") as a,
    ):
        for study_uid, series_uid in studies:
            _tally(report, a.send_c_move(_keys(study_uid, series_uid), move_ae, model), peer)
            report.studies.append(study_uid)
    report.stored = listener.counts["stored"]
    report.duplicates = listener.counts["duplicates"]
    report.ignored = listener.counts["ignored"]
    return report


@dataclass
class SendReport:
    """Result of :func:`send_files`."""

    to: str
    sent: int = 0
    warnings: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"to": self.to, "sent": self.sent, "warnings": self.warnings, "failed": self.failed}


def send_files(
    peer: Peer,
    files: Sequence[Path],
    *,
    ae_title: str = "SSTRKIT",
    tls: TlsFiles | None = None,
) -> SendReport:
    """C-STORE ``files`` to ``peer`` over one association; failures listed, not raised."""
    if not files:
        raise InvalidInputError("files to send", expected="at least one DICOM file", actual="none")
    classes: dict[str, set[str]] = {}
    for f in files:
        meta = pydicom.dcmread(f, stop_before_pixels=True).file_meta
        syntaxes = classes.setdefault(str(meta.MediaStorageSOPClassUID), set(SCU_TRANSFER_SYNTAXES))
        syntaxes.add(str(meta.TransferSyntaxUID))
    contexts = [(sop, sorted(ts)) for sop, ts in classes.items()]
    report = SendReport(str(peer))
    with _association(peer, ae_title, tls, contexts, "--to") as a:
        for f in files:
            try:
                status = a.send_c_store(Path(f))
            except (ValueError, RuntimeError) as exc:  # no accepted context for the file
                report.failed.append({"file": str(f), "status": f"{type(exc).__name__}: {exc}"})
                continue
            code = int(status.get("Status", -1)) if status else -1
            if code == _SUCCESS:
                report.sent += 1
            elif code in (0x0001, 0x0107, 0x0116) or 0xB000 <= code <= 0xBFFF:
                report.sent += 1
                report.warnings += 1
            else:
                report.failed.append({"file": str(f), "status": f"0x{code:04X}"})
    return report
