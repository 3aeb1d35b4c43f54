"""The listener's DICOM Upper Layer (ul.py, dimse.py, association.py) against the standard
and an independent implementation. Reference values (all exact, no tolerance):

* PDUs as pynetdicom encodes and decodes them (``pynetdicom.pdu``), field for field;
* command sets written and read by pydicom (Implicit VR LE, PS3.7 6.3.1, E.1);
* the bytes of PS3.8 9.3 (RJ result/source/reason 9.3.4, A-ABORT 9.3.8, state table 9.2)
  and the statuses of PS3.7 (9.3.1.2, 9.3.5.2, C.4.2.1.5, C.5), spoken by hand over a
  loopback socket to a running :class:`~sstrkit.pacs.scp.Listener`;
* stored files compared byte for byte with the data set sent.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.uid import generate_uid
from pynetdicom import pdu
from pynetdicom import pdu_primitives as prim
from pynetdicom.presentation import build_context

from sstrkit.pacs import ul
from sstrkit.pacs.conformance import (
    CT_STORAGE,
    EXPLICIT_LE,
    IMPLEMENTATION_CLASS_UID,
    IMPLICIT_LE,
    PET_STORAGE,
    STUDY_ROOT_FIND,
    VERIFICATION,
)
from sstrkit.pacs.dimse import C_ECHO_RQ, C_STORE_RQ, encode_response
from sstrkit.pacs.scp import Listener, ListenerConfig
from sstrkit.pacs.store import InstanceStore

from .conftest import dicom_files, free_port

CR_STORAGE = "1.2.840.10008.5.1.4.1.1.1"  # not in the listener's SCP_STORAGE
JPEG_BASELINE, JPEG_2000 = "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.90"  # not accepted
Event = dict[str, Any]


# ------------------------------------------------------------------ helpers (independent)
def _encode(ds: Dataset, implicit: bool = True) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, implicit
    write_dataset(fp, ds)
    return fp.getvalue()


def _command(**elements: Any) -> bytes:
    """A command set written by pydicom, group length first (PS3.7 6.3.1, E.1)."""
    ds = Dataset()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    body = _encode(ds)
    group = Dataset()
    group.CommandGroupLength = len(body)
    return _encode(group) + body


def _read_command(data: bytes) -> Dataset:
    return read_dataset(BytesIO(data), is_implicit_VR=True, is_little_endian=True)


def _pdata(context_id: int, *pdvs: tuple[bool, bool, bytes]) -> bytes:
    """One P-DATA-TF holding (is command, is last, fragment) PDVs (PS3.8 9.3.5, E.2)."""
    items = b"".join(
        struct.pack(">IBB", len(f) + 2, context_id, int(c) | 2 * int(last)) + f
        for c, last, f in pdvs
    )
    return struct.pack(">BBI", 0x04, 0, len(items)) + items


def _recv(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def _read_pdu(sock: socket.socket) -> tuple[int, bytes]:
    """(type, body) of the next PDU; (0, b"") at the end of the stream."""
    head = _recv(sock, 6)
    if len(head) < 6:
        return 0, b""
    kind, _reserved, length = struct.unpack(">BBI", head)
    return kind, _recv(sock, length)


def _response(sock: socket.socket, context_id: int, max_pdu: int = 0) -> Dataset:
    """The next response command; every P-DATA-TF is at most ``max_pdu`` (PS3.8 D.1)."""
    parts = []
    while True:
        kind, body = _read_pdu(sock)
        assert kind == 0x04, (kind, body)
        assert max_pdu == 0 or len(body) <= max_pdu
        pos = 0
        while pos < len(body):
            length, ctx, header = struct.unpack_from(">IBB", body, pos)
            assert (ctx, header & 1) == (context_id, 1)  # a command fragment, our context
            parts.append(body[pos + 6 : pos + 4 + length])
            pos += 4 + length
            if header & 2:
                return _read_command(b"".join(parts))


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5.0)


def _associate(
    sock: socket.socket,
    contexts: list[tuple[int, str, list[str]]],
    *,
    calling: str = "MODALITY",
    max_pdu: int = 16384,
) -> pdu.A_ASSOCIATE_AC:
    sock.sendall(ul.encode_associate_rq_for_tests("SSTRKIT", calling, contexts, max_pdu=max_pdu))
    kind, body = _read_pdu(sock)
    assert kind == 0x02, (kind, body)
    ac = pdu.A_ASSOCIATE_AC()
    ac.decode(struct.pack(">BBI", kind, 0, len(body)) + body)
    return ac


def _release(sock: socket.socket) -> None:
    """A-RELEASE-RQ → A-RELEASE-RP, then the acceptor closes (PS3.8 9.3.6, 9.3.7)."""
    sock.sendall(bytes((0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0)))
    assert _read_pdu(sock) == (0x06, bytes(4))
    assert sock.recv(1) == b""


def _wait_event(events: list[Event], kind: str, timeout: float = 3.0) -> Event:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in events if e.get("event") == kind]
        if found:
            return found[0]
        time.sleep(0.01)
    raise AssertionError(f"no {kind} event: {events}")


@contextlib.contextmanager
def _serve(tmp_path: Path, **config: Any) -> Iterator[tuple[Listener, list[Event]]]:
    events: list[Event] = []
    store = InstanceStore(tmp_path / "store")
    with Listener(store, ListenerConfig(port=free_port(), **config), on_event=events.append) as li:
        yield li, events


def _ct() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CT_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID = "UL-1"
    ds.Modality = "CT"
    ds.Rows = ds.Columns = 16
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = np.arange(256, dtype="<i2").tobytes()
    return ds


def _after_meta(raw: bytes) -> bytes:
    """The data set of a Part 10 file: after preamble, "DICM" and the meta group, whose
    (0002,0000) UL group length is the first element (PS3.10 7.1)."""
    assert raw[128:132] == b"DICM" and raw[132:138] == b"\x02\x00\x00\x00UL"
    (length,) = struct.unpack_from("<I", raw, 140)
    return raw[144 + length :]


# ------------------------------------------------------------------ codec cross-checks
def test_request_encoded_by_pynetdicom_decodes_to_the_same_fields() -> None:
    """PS3.8 9.3.2 (A-ASSOCIATE-RQ), D.1 (maximum length), PS3.7 D.3.3.2."""
    primitive = prim.A_ASSOCIATE()
    primitive.application_context_name = ul.APPLICATION_CONTEXT
    primitive.calling_ae_title, primitive.called_ae_title = "MODALITY", "SSTRKIT"
    proposed = [(VERIFICATION, [IMPLICIT_LE]), (CT_STORAGE, [JPEG_BASELINE, EXPLICIT_LE])]
    for number, (abstract, syntaxes) in enumerate(proposed):
        primitive.presentation_context_definition_list.append(build_context(abstract, syntaxes))
        primitive.presentation_context_definition_list[-1].context_id = 2 * number + 1
    length, uid = prim.MaximumLengthNotification(), prim.ImplementationClassUIDNotification()
    version = prim.ImplementationVersionNameNotification()
    length.maximum_length_received = 4096
    uid.implementation_class_uid = impl = "1.2.826.0.1.3680043.9.3811.3.0.4"
    version.implementation_version_name = "PYNETDICOM_304"
    primitive.user_information = [length, uid, version]
    rq = pdu.A_ASSOCIATE_RQ()
    rq.from_primitive(primitive)
    got = ul.decode_associate_rq(rq.encode()[6:])
    assert (got.protocol_version, got.called_ae, got.calling_ae) == (1, "SSTRKIT", "MODALITY")
    assert got.application_context == ul.APPLICATION_CONTEXT
    contexts = [(c.context_id, c.abstract_syntax, c.transfer_syntaxes) for c in got.contexts]
    assert contexts == [(2 * i + 1, a, tuple(ts)) for i, (a, ts) in enumerate(proposed)]
    assert (got.max_pdu, got.implementation_class_uid) == (4096, impl)
    assert got.implementation_version == "PYNETDICOM_304"


def test_our_associate_ac_decodes_in_pynetdicom() -> None:
    """PS3.8 9.3.3 (A-ASSOCIATE-AC, Table 9-17: reserved fields echo the RQ's titles),
    9.3.3.2 (result per context, one transfer syntax), D.1, PS3.7 D.3.3.2."""
    rq = ul.encode_associate_rq_for_tests(
        "SSTRKIT", "MODALITY", [(1, CT_STORAGE, [EXPLICIT_LE]), (3, CR_STORAGE, [IMPLICIT_LE])]
    )
    results = [ul.ContextResult(1, 0, EXPLICIT_LE), ul.ContextResult(3, 3, IMPLICIT_LE)]
    ours = ul.encode_associate_ac(
        ul.decode_associate_rq(rq[6:]),
        results,
        max_pdu=4096,
        implementation_class_uid=IMPLEMENTATION_CLASS_UID,
        implementation_version="SSTRKIT_X",
    )
    ac = pdu.A_ASSOCIATE_AC()
    ac.decode(ours)
    assert (ac.protocol_version, ac.reserved_aet, ac.reserved_aec) == (1, "SSTRKIT", "MODALITY")
    assert ac.application_context_name == ul.APPLICATION_CONTEXT
    contexts = [(c.context_id, c.result_reason, c.transfer_syntax) for c in ac.presentation_context]
    assert contexts == [(1, 0, EXPLICIT_LE), (3, 3, IMPLICIT_LE)]
    user = ac.user_information
    assert user is not None and user.maximum_length == 4096
    assert user.implementation_class_uid == IMPLEMENTATION_CLASS_UID
    assert user.implementation_version_name == "SSTRKIT_X"
    assert ac.encode() == ours  # pynetdicom writes the same bytes back: no stray padding


@pytest.mark.parametrize("command", [True, False])
def test_p_data_fragments_decode_in_pynetdicom(command: bool) -> None:
    """PS3.8 9.3.5 (P-DATA-TF), 9.3.5.1/E.2 (message control header: bit 0 command,
    bit 1 last fragment), D.1 (no PDU longer than the peer's maximum)."""
    data = bytes(range(256)) * 3
    stream, pos, values = ul.encode_p_data(5, data, command=command, max_pdu=100), 0, []
    while pos < len(stream):
        (length,) = struct.unpack_from(">I", stream, pos + 2)
        assert stream[pos] == 0x04 and length <= 100
        decoded = pdu.P_DATA_TF()
        decoded.decode(stream[pos : pos + 6 + length])
        values += [(v.context_id, v.data) for v in decoded.presentation_data_value_items]
        pos += 6 + length
    assert len(values) == 9  # ceil(768 / (100 - 6)): every PDU filled
    assert all(ctx == 5 and value is not None for ctx, value in values)
    headers = [value[0] for _, value in values if value is not None]
    flag = int(command)
    assert headers == [flag] * 8 + [flag | 2]
    assert b"".join(value[1:] for _, value in values if value is not None) == data


@pytest.mark.parametrize(
    ("field", "sop_class", "instance", "status"),
    [
        (C_STORE_RQ, CT_STORAGE, "1.2.3.45", 0x0000),  # PS3.7 9.3.1.2 C-STORE-RSP
        (C_ECHO_RQ, VERIFICATION, "", 0x0000),  # 9.3.5.2 C-ECHO-RSP: no instance UID
        (0x0020, STUDY_ROOT_FIND, "", 0x0211),  # C.5: unrecognised operation
    ],
)
def test_response_command_set_decodes_with_pydicom(
    field: int, sop_class: str, instance: str, status: int
) -> None:
    """PS3.7 E.1 (command set, Implicit VR LE, group length = bytes after it),
    CommandField = request | 0x8000, CommandDataSetType 0x0101 (no data set)."""
    raw = encode_response(field, 513, sop_class, instance, status)
    got = _read_command(raw)
    assert got.CommandGroupLength == len(raw) - 12  # tag 4 + length 4 + UL value 4
    assert got.CommandField == field | 0x8000
    assert (got.MessageIDBeingRespondedTo, got.Status) == (513, status)
    assert got.CommandDataSetType == 0x0101
    assert got.AffectedSOPClassUID == sop_class
    assert got.get("AffectedSOPInstanceUID", "") == instance
    assert len(raw) % 2 == 0 and [e.tag for e in got] == sorted(e.tag for e in got)


# ------------------------------------------------------------------ negotiation
@pytest.mark.parametrize(
    ("calling", "rq", "rj"),
    [
        # PS3.8 9.3.4: source 2 (ACSE) reason 2 protocol-version-not-supported
        ("MODALITY", {"protocol_version": 2}, (1, 2, 2)),
        # source 1 (service user) reason 2 application-context-name-not-supported
        ("MODALITY", {"application_context": "1.2.3.4"}, (1, 1, 2)),
        # source 1 reason 3 calling-AE-title-not-recognized
        ("INTRUDER", {}, (1, 1, 3)),
    ],
)
def test_association_is_rejected_with_the_reason_of_the_standard(
    tmp_path: Path, calling: str, rq: dict[str, Any], rj: tuple[int, int, int]
) -> None:
    contexts = [(1, VERIFICATION, [IMPLICIT_LE])]
    with _serve(tmp_path, allow=("MODALITY",)) as (listener, events), _connect(listener.port) as s:
        s.sendall(ul.encode_associate_rq_for_tests("SSTRKIT", calling, contexts, **rq))
        assert _read_pdu(s) == (0x03, bytes((0, *rj)))  # 9.3.4: reserved, result, src, reason
        assert s.recv(1) == b""
        assert _wait_event(events, "association_rejected")["calling_ae"] == calling


def test_more_associations_than_the_maximum_are_rejected_transiently(tmp_path: Path) -> None:
    """PS3.8 9.3.4: result 2 rejected-transient, source 3 (presentation), reason 2
    local-limit-exceeded; the slot is free again once the first is released."""
    contexts = [(1, VERIFICATION, [IMPLICIT_LE])]
    rq = ul.encode_associate_rq_for_tests("SSTRKIT", "MODALITY", contexts)
    with _serve(tmp_path, max_associations=1) as (listener, events):
        with _connect(listener.port) as first:
            _associate(first, contexts)
            with _connect(listener.port) as second:
                second.sendall(rq)
                assert _read_pdu(second) == (0x03, bytes((0, 2, 3, 2)))
            _release(first)
        assert _wait_event(events, "association_rejected")["reason"] == "local limit exceeded"
        for _attempt in range(60):  # the first association's task ends just after its close
            with _connect(listener.port) as third:
                third.sendall(rq)
                if _read_pdu(third)[0] == 0x02:
                    _release(third)
                    break
            time.sleep(0.05)
        else:
            pytest.fail("the slot of a released association stays taken")


def test_each_context_gets_the_first_proposed_syntax_the_listener_takes(tmp_path: Path) -> None:
    """PS3.8 9.3.3.2 results: 0 acceptance with one of the proposed transfer syntaxes (the
    listener's documented choice: the first it takes in the requestor's order, not in its
    own), 3 abstract syntax not supported, 4 transfer syntaxes not supported; D.1 and
    PS3.7 D.3.3.2: the listener's maximum length and implementation class UID."""
    with _serve(tmp_path, max_pdu=8192) as (listener, _events), _connect(listener.port) as s:
        ac = _associate(s, [
            (1, CT_STORAGE, [JPEG_BASELINE, IMPLICIT_LE, EXPLICIT_LE]),
            (3, CR_STORAGE, [EXPLICIT_LE]),
            (5, PET_STORAGE, [JPEG_2000]),
            (7, VERIFICATION, [EXPLICIT_LE, IMPLICIT_LE]),
        ])  # fmt: skip
        _release(s)
    got = {c.context_id: (c.result_reason, c.transfer_syntax) for c in ac.presentation_context}
    assert {k: v[0] for k, v in got.items()} == {1: 0, 3: 3, 5: 4, 7: 0}
    assert (got[1][1], got[7][1]) == (IMPLICIT_LE, EXPLICIT_LE)
    assert (ac.reserved_aet, ac.reserved_aec) == ("SSTRKIT", "MODALITY")
    user = ac.user_information
    assert user is not None and user.maximum_length == 8192
    assert user.implementation_class_uid == IMPLEMENTATION_CLASS_UID


# ------------------------------------------------------------------ protocol errors
_ECHO_CTX = [(1, VERIFICATION, [IMPLICIT_LE]), (3, CR_STORAGE, [IMPLICIT_LE])]


@pytest.mark.parametrize(
    ("what", "send", "reasons"),
    [
        # PS3.8 9.2 state table Sta6 Evt19 → AA-8; 9.3.8 reason 1 unrecognized-PDU
        ("unknown PDU type", bytes((0x09, 0, 0, 0, 0, 4, 0, 0, 0, 0)), {1}),
        # Sta6 Evt6 (A-ASSOCIATE-RQ) → AA-8; reason 2 unexpected-PDU
        ("second A-ASSOCIATE-RQ", ul.encode_associate_rq_for_tests("SSTRKIT", "M", _ECHO_CTX), {2}),
        # data on context 3, which was refused: an invalid PDU parameter (9.3.8: 0, 5, 6)
        ("P-DATA on a refused context", _pdata(3, (True, True, b"\x00" * 12)), {0, 5, 6}),
        # D.1: longer than the 4096 announced (header only: the listener need not read on)
        ("P-DATA over the maximum", struct.pack(">BBI", 0x04, 0, 4097), {0, 6}),
    ],
)
def test_protocol_errors_are_answered_with_a_provider_abort(
    tmp_path: Path, what: str, send: bytes, reasons: set[int]
) -> None:
    with _serve(tmp_path, max_pdu=4096) as (listener, events):
        with _connect(listener.port) as s:
            ac = _associate(s, _ECHO_CTX)
            assert [c.result_reason for c in ac.presentation_context] == [0, 3]
            s.sendall(send)
            kind, body = _read_pdu(s)
            assert kind == 0x07 and len(body) == 4, what  # 9.3.8 A-ABORT
            assert body[2] == 2 and body[3] in reasons, (what, body)  # source 2: provider
            assert s.recv(1) == b""
        assert _wait_event(events, "association_aborted")["calling_ae"] == "MODALITY"


# ------------------------------------------------------------------ DIMSE over the wire
def test_c_store_in_tiny_fragments_is_stored_byte_identical(tmp_path: Path) -> None:
    """PS3.8 E.2 / PS3.7 E.2: a message in any number of PDVs and PDUs, command and data
    set fragments in one PDU; PS3.7 9.3.1.2: C-STORE-RSP, Success 0x0000 (C.4.2.1.5);
    D.1: the response fragments respect the requestor's maximum (64 here)."""
    ds = _ct()
    data = _encode(ds, implicit=False)
    command = _command(AffectedSOPClassUID=CT_STORAGE, CommandField=0x0001, MessageID=4242,
                       Priority=0, CommandDataSetType=0x0000,
                       AffectedSOPInstanceUID=ds.SOPInstanceUID)  # fmt: skip
    with _serve(tmp_path) as (listener, _events), _connect(listener.port) as s:
        ac = _associate(s, [(1, CT_STORAGE, [EXPLICIT_LE])], max_pdu=64)
        assert ac.presentation_context[0].result_reason == 0
        s.sendall(_pdata(1, (True, False, command[:10]), (True, False, command[10:30])))
        s.sendall(_pdata(1, (True, True, command[30:]), (False, False, data[:7])))
        s.sendall(ul.encode_p_data(1, data[7:], command=False, max_pdu=50))
        rsp = _response(s, 1, max_pdu=64)
        _release(s)
    assert (rsp.CommandField, rsp.MessageIDBeingRespondedTo, rsp.Status) == (0x8001, 4242, 0)
    assert rsp.AffectedSOPInstanceUID == ds.SOPInstanceUID
    (path,) = (tmp_path / "store").rglob(f"{ds.SOPInstanceUID}.dcm")
    assert _after_meta(path.read_bytes()) == data
    stored = pydicom.dcmread(path)
    assert stored.file_meta.TransferSyntaxUID == EXPLICIT_LE
    assert stored == ds


@pytest.mark.parametrize(
    ("abstract", "field", "sop_class", "expected"),
    [
        (VERIFICATION, 0x0030, VERIFICATION, (0x8030, 0x0000)),  # PS3.7 9.3.5 C-ECHO: Success
        # C-FIND-RQ (with its identifier) is not served: C.5 0x0211 unrecognised operation
        (VERIFICATION, 0x0020, VERIFICATION, (0x8020, 0x0211)),
        # C-STORE of PET on the CT context: C.4.2.1.5 / C.5 0x0122 SOP class not supported
        (CT_STORAGE, 0x0001, PET_STORAGE, (0x8001, 0x0122)),
    ],
)
def test_dimse_statuses(
    tmp_path: Path, abstract: str, field: int, sop_class: str, expected: tuple[int, int]
) -> None:
    ds = _ct()
    data = b"" if field == 0x0030 else _encode(ds, implicit=False)
    extra = {"Priority": 0, "AffectedSOPInstanceUID": ds.SOPInstanceUID} if field == 1 else {}
    command = _command(AffectedSOPClassUID=sop_class, CommandField=field, MessageID=77,
                       CommandDataSetType=0 if data else 0x0101, **extra)  # fmt: skip
    with _serve(tmp_path) as (listener, _events), _connect(listener.port) as s:
        _associate(s, [(1, abstract, [EXPLICIT_LE])])
        s.sendall(
            _pdata(1, (True, True, command)) + (_pdata(1, (False, True, data)) if data else b"")
        )
        rsp = _response(s, 1)
        _release(s)
    assert (rsp.CommandField, rsp.Status, rsp.MessageIDBeingRespondedTo) == (*expected, 77)
    assert rsp.AffectedSOPClassUID == sop_class
    assert not list((tmp_path / "store").rglob("*.dcm"))


# A request without MessageID (mandatory, PS3.7 9.3.2.1) or with a UID byte outside ASCII
# (PS3.5 9.1) once made the response encoder raise and the connection drop without an
# A-ABORT (PS3.8 9.2 AA-8) or an event: such a command is now a protocol error (A-ABORT).
@pytest.mark.parametrize("broken", ["no MessageID", "non-ASCII UID"])
def test_malformed_command_gets_an_answer_not_a_dropped_connection(
    tmp_path: Path, broken: str
) -> None:
    message_id = {} if broken == "no MessageID" else {"MessageID": 3}
    command = _command(AffectedSOPClassUID=VERIFICATION, CommandField=0x0020,
                       CommandDataSetType=0x0101, **message_id)  # fmt: skip
    if broken == "non-ASCII UID":  # same length: the group length stays right
        command = command.replace(b".1.1\x00", b".1.\xff\x00")
    with _serve(tmp_path) as (listener, events), _connect(listener.port) as s:
        _associate(s, [(1, VERIFICATION, [IMPLICIT_LE])])
        s.sendall(_pdata(1, (True, True, command)))
        kind, body = _read_pdu(s)
    # A-ABORT from the service provider (source 2), invalid PDU parameter value (reason 6)
    assert (kind, body[2], body[3]) == (0x07, 2, 6)
    assert [e["event"] for e in events] == ["association_aborted"]


# ------------------------------------------------------------------ timers
@pytest.mark.parametrize("associated", [False, True])
def test_silence_ends_the_connection(tmp_path: Path, associated: bool) -> None:
    """network_timeout_s 0.3 s (checked every 0.075 s: well within 2 s even when loaded).
    Before an A-ASSOCIATE-RQ: PS3.8 9.2 Sta2 Evt18, ARTIM expired → AA-2 close (an
    A-ABORT first is tolerated); once associated: A-ABORT from the provider (9.3.8 source
    2, reason 0 not specified), then the close."""
    with _serve(tmp_path, network_timeout_s=0.3) as (listener, events):
        with _connect(listener.port) as s:
            if associated:
                _associate(s, [(1, VERIFICATION, [IMPLICIT_LE])])
            start = time.monotonic()
            pdu_read = _read_pdu(s)
            assert s.recv(1) == b""
            elapsed = time.monotonic() - start
        assert pdu_read == (0x07, bytes((0, 0, 2, 0))) or (not associated and pdu_read[0] == 0)
        assert 0.25 <= elapsed < 2.0
        assert "0.3 s" in _wait_event(events, "association_aborted")["reason"]


# ------------------------------------------------------------------ independent SCU
def test_pynetdicom_scu_with_a_small_maximum_pdu(
    tmp_path: Path, phantom: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pynetdicom as requestor, receiving at most 1024 bytes a PDU, sending up to the
    listener's 4096 (PS3.8 D.1): every instance stored with the data set as in the file
    (pynetdicom sends the file's bytes: STORE_SEND_CHUNKED_DATASET)."""
    from pynetdicom import AE, _config, evt

    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    files = dicom_files(phantom / "dicom" / "pet_dotatate")[:3]
    files += dicom_files(phantom / "dicom" / "pet_dotatate_ct")[:3]
    received: list[int] = []

    def on_pdu(event: Any) -> None:
        if isinstance(event.pdu, pdu.P_DATA_TF):
            received.append(len(event.pdu.encode()) - 6)

    ae = AE(ae_title="PYNETSCU")
    ae.maximum_pdu_size = 1024
    for sop_class in (CT_STORAGE, PET_STORAGE):
        ae.add_requested_context(sop_class, EXPLICIT_LE)
    with _serve(tmp_path, max_pdu=4096) as (listener, _events):
        assoc = ae.associate("127.0.0.1", listener.port, ae_title="SSTRKIT",
                             evt_handlers=[(evt.EVT_PDU_RECV, on_pdu)])  # fmt: skip
        assert assoc.is_established
        try:
            assert assoc.acceptor.maximum_length == 4096
            statuses = [assoc.send_c_store(path).Status for path in files]
        finally:
            assoc.release()
    assert statuses == [0] * len(files) and listener.counts["stored"] == len(files)
    assert len(received) >= len(files) and max(received) <= 1024
    for path in files:
        sop = pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
        (stored,) = (tmp_path / "store").rglob(f"{sop}.dcm")
        assert _after_meta(stored.read_bytes()) == _after_meta(path.read_bytes())
        assert pydicom.dcmread(stored) == pydicom.dcmread(path)
