"""DICOM Upper Layer PDUs for the listener (PS3.8 section 9.3), decoded and encoded.

The listener (:mod:`sstrkit.pacs.scp`) is an association *acceptor*: it decodes an
A-ASSOCIATE-RQ (:func:`decode_associate_rq`), answers with A-ASSOCIATE-AC
(:func:`encode_associate_ac`) or A-ASSOCIATE-RJ (:func:`encode_associate_rj`), splits
P-DATA-TF PDUs into presentation data values (:func:`iter_pdvs`), sends its own
messages as P-DATA-TF (:func:`encode_p_data`), answers A-RELEASE-RQ with A-RELEASE-RP
and ends a broken association with A-ABORT (:func:`encode_abort`). Every PDU starts
with a 6-byte header: type, a reserved byte and the big-endian length of the rest
(:data:`HEADER`). A malformed PDU raises :class:`PduError` carrying the A-ABORT reason
the acceptor sends (PS3.8 9.3.8).

Negotiated: application context (DICOM, PS3.7 A.2.1), presentation contexts, maximum
PDU length (PS3.8 D.1), implementation class UID and version name (PS3.7 D.3.3.2). Not
negotiated, so the defaults apply: asynchronous operations (one at a time), SCP/SCU
role selection (the requestor is the SCU), extended negotiation, user identity (PS3.7
D.3.3.3-D.3.3.7 allow an acceptor to leave these items unanswered).

Examples
--------
>>> rq = encode_associate_rq_for_tests("SSTRKIT", "MODALITY", [(1, "1.2.840.10008.1.1",
...     ["1.2.840.10008.1.2"])], max_pdu=16384)
>>> parsed = decode_associate_rq(rq[6:])
>>> parsed.calling_ae, parsed.contexts[0].abstract_syntax, parsed.max_pdu
('MODALITY', '1.2.840.10008.1.1', 16384)
>>> [(ctx, command, last, bytes(data)) for ctx, command, last, data in iter_pdvs(
...     memoryview(encode_p_data(3, b"abc", command=True, max_pdu=0)[6:]))]
[(3, True, True, b'abc')]
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = [
    "APPLICATION_CONTEXT",
    "A_ABORT",
    "A_ASSOCIATE_AC",
    "A_ASSOCIATE_RJ",
    "A_ASSOCIATE_RQ",
    "A_RELEASE_RP",
    "A_RELEASE_RQ",
    "HEADER",
    "P_DATA_TF",
    "AssociateRequest",
    "ContextResult",
    "PduError",
    "ProposedContext",
    "decode_associate_rq",
    "encode_abort",
    "encode_associate_ac",
    "encode_associate_rj",
    "encode_associate_rq_for_tests",
    "encode_p_data",
    "encode_release_rp",
    "iter_pdvs",
]

#: PDU types (PS3.8 9.3.1).
A_ASSOCIATE_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ = 0x01, 0x02, 0x03
P_DATA_TF, A_RELEASE_RQ, A_RELEASE_RP, A_ABORT = 0x04, 0x05, 0x06, 0x07
#: Type, reserved, length of the rest (big-endian).
HEADER = struct.Struct(">BBI")
#: The DICOM application context name (PS3.7 A.2.1).
APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
_ITEM = struct.Struct(">BBH")
_PDV = struct.Struct(">IBB")
#: A-ABORT reasons of the service provider (PS3.8 9.3.8): unrecognised PDU, unexpected
#: PDU, invalid PDU parameter value.
ABORT_UNRECOGNISED_PDU, ABORT_UNEXPECTED_PDU, ABORT_INVALID_PARAMETER = 1, 2, 6


class PduError(ValueError):
    """A PDU the acceptor cannot accept; ``reason`` is the A-ABORT reason to send."""

    def __init__(self, message: str, reason: int = ABORT_INVALID_PARAMETER) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ProposedContext:
    """One presentation context of an A-ASSOCIATE-RQ."""

    context_id: int
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]


@dataclass(frozen=True)
class AssociateRequest:
    """The parts of an A-ASSOCIATE-RQ the acceptor decides on (PS3.8 9.3.2)."""

    protocol_version: int
    called_ae: str
    calling_ae: str
    application_context: str
    contexts: tuple[ProposedContext, ...]
    #: The most the requestor receives in one P-DATA-TF (0: no limit).
    max_pdu: int
    implementation_class_uid: str
    implementation_version: str
    #: The AE title and reserved fields as received (bytes 11-74 of the PDU, returned
    #: unchanged in the A-ASSOCIATE-AC, PS3.8 table 9-17).
    raw_fixed: bytes


@dataclass(frozen=True)
class ContextResult:
    """The acceptor's answer to one proposed context: result 0 acceptance, 1 user
    rejection, 2 no reason, 3 abstract syntax not supported, 4 transfer syntaxes not
    supported (PS3.8 9.3.3.2)."""

    context_id: int
    result: int
    transfer_syntax: str


def _text(raw: bytes | memoryview) -> str:
    return bytes(raw).decode("ascii", errors="replace").strip(" \x00")


def _items(body: memoryview, what: str) -> Iterator[tuple[int, memoryview]]:
    """(item type, content) of the variable items in ``body``."""
    pos, end = 0, len(body)
    while pos < end:
        if end - pos < _ITEM.size:
            raise PduError(f"{what}: truncated item header")
        kind, _reserved, length = _ITEM.unpack_from(body, pos)
        pos += _ITEM.size
        if pos + length > end:
            raise PduError(f"{what}: item 0x{kind:02X} longer than the PDU")
        yield kind, body[pos : pos + length]
        pos += length


def _context(content: memoryview) -> ProposedContext:
    if len(content) < 4:
        raise PduError("presentation context item: truncated")
    abstract, syntaxes = "", []
    for kind, sub in _items(content[4:], "presentation context item"):
        if kind == 0x30:
            abstract = _text(sub)
        elif kind == 0x40:
            syntaxes.append(_text(sub))
    if not abstract or not syntaxes:
        raise PduError("presentation context item without abstract or transfer syntax")
    return ProposedContext(content[0], abstract, tuple(syntaxes))


def decode_associate_rq(body: bytes | memoryview) -> AssociateRequest:
    """An A-ASSOCIATE-RQ from the bytes after its 6-byte header."""
    view = memoryview(body)
    if len(view) < 68:
        raise PduError("A-ASSOCIATE-RQ shorter than its fixed fields")
    (version,) = struct.unpack_from(">H", view, 0)
    app, contexts, max_pdu, impl_uid, impl_version = "", [], 0, "", ""
    for kind, content in _items(view[68:], "A-ASSOCIATE-RQ"):
        if kind == 0x10:
            app = _text(content)
        elif kind == 0x20:
            contexts.append(_context(content))
        elif kind == 0x50:
            for sub_kind, sub in _items(content, "user information item"):
                if sub_kind == 0x51 and len(sub) == 4:
                    (max_pdu,) = struct.unpack(">I", sub)
                elif sub_kind == 0x52:
                    impl_uid = _text(sub)
                elif sub_kind == 0x55:
                    impl_version = _text(sub)
    ids = [c.context_id for c in contexts]
    if len(set(ids)) != len(ids) or any(i % 2 == 0 for i in ids):
        raise PduError("presentation context IDs must be odd and unique (PS3.8 9.3.2.2)")
    return AssociateRequest(
        version,
        _text(view[4:20]),
        _text(view[20:36]),
        app,
        tuple(contexts),
        max_pdu,
        impl_uid,
        impl_version,
        bytes(view[4:68]),
    )


def _item(kind: int, content: bytes) -> bytes:
    return _ITEM.pack(kind, 0, len(content)) + content


def _uid(uid: str) -> bytes:
    return uid.encode("ascii")


def _pdu(kind: int, body: bytes) -> bytes:
    return HEADER.pack(kind, 0, len(body)) + body


def encode_associate_ac(
    request: AssociateRequest,
    results: Sequence[ContextResult],
    *,
    max_pdu: int,
    implementation_class_uid: str,
    implementation_version: str,
) -> bytes:
    """The A-ASSOCIATE-AC answering ``request`` (PS3.8 9.3.3): one result per proposed
    context, the acceptor's maximum PDU length and implementation identification."""
    contexts = b"".join(
        _item(0x21, bytes((r.context_id, 0, r.result, 0)) + _item(0x40, _uid(r.transfer_syntax)))
        for r in results
    )
    user = _item(
        0x50,
        _item(0x51, struct.pack(">I", max_pdu))
        + _item(0x52, _uid(implementation_class_uid))
        + _item(0x55, implementation_version.encode("ascii")),
    )
    fixed = struct.pack(">HH", 1, 0) + request.raw_fixed
    return _pdu(A_ASSOCIATE_AC, fixed + _item(0x10, _uid(APPLICATION_CONTEXT)) + contexts + user)


def encode_associate_rj(result: int, source: int, reason: int) -> bytes:
    """A-ASSOCIATE-RJ (PS3.8 9.3.4): result 1 permanent / 2 transient; source 1 service
    user, 2 ACSE provider, 3 presentation provider; the reason of that source."""
    return _pdu(A_ASSOCIATE_RJ, bytes((0, result, source, reason)))


def encode_release_rp() -> bytes:
    """A-RELEASE-RP (PS3.8 9.3.7)."""
    return _pdu(A_RELEASE_RP, bytes(4))


def encode_abort(source: int = 2, reason: int = 0) -> bytes:
    """A-ABORT (PS3.8 9.3.8): source 0 service user, 2 service provider."""
    return _pdu(A_ABORT, bytes((0, 0, source, reason)))


def encode_p_data(context_id: int, data: bytes, *, command: bool, max_pdu: int) -> bytes:
    """``data`` (a command or a data set) as P-DATA-TF PDUs of at most ``max_pdu`` bytes
    after the header (the peer's maximum; 0: no limit), one PDV each; the last fragment
    is marked (PS3.8 9.3.5, E.2)."""
    room = len(data) if max_pdu <= 0 else max(1, max_pdu - _PDV.size)
    out, pos = [], 0
    while True:
        chunk = data[pos : pos + room]
        pos += len(chunk)
        last = pos >= len(data)
        header = (1 if command else 0) | (2 if last else 0)
        out.append(_pdu(P_DATA_TF, _PDV.pack(len(chunk) + 2, context_id, header) + chunk))
        if last:
            return b"".join(out)


def iter_pdvs(body: memoryview) -> Iterator[tuple[int, bool, bool, memoryview]]:
    """(context ID, is command, is last fragment, fragment) of each PDV of a P-DATA-TF
    body (PS3.8 9.3.5.1, E.2)."""
    pos, end = 0, len(body)
    if end == 0:
        raise PduError("P-DATA-TF without a presentation data value")
    while pos < end:
        if end - pos < _PDV.size:
            raise PduError("P-DATA-TF: truncated PDV item")
        length, context_id, header = _PDV.unpack_from(body, pos)
        if length < 2 or pos + 4 + length > end:
            raise PduError("P-DATA-TF: PDV item length outside the PDU")
        yield context_id, bool(header & 1), bool(header & 2), body[pos + 6 : pos + 4 + length]
        pos += 4 + length


def encode_associate_rq_for_tests(
    called_ae: str,
    calling_ae: str,
    contexts: Sequence[tuple[int, str, Sequence[str]]],
    *,
    max_pdu: int = 16384,
    application_context: str = APPLICATION_CONTEXT,
    protocol_version: int = 1,
) -> bytes:
    """An A-ASSOCIATE-RQ (for tests and examples; the listener never requests)."""
    items = _item(0x10, _uid(application_context))
    for context_id, abstract, syntaxes in contexts:
        subs = _item(0x30, _uid(abstract)) + b"".join(_item(0x40, _uid(s)) for s in syntaxes)
        items += _item(0x20, bytes((context_id, 0, 0, 0)) + subs)
    items += _item(0x50, _item(0x51, struct.pack(">I", max_pdu)) + _item(0x52, b"1.2.3.4"))
    titles = called_ae.ljust(16).encode("ascii") + calling_ae.ljust(16).encode("ascii")
    fixed = struct.pack(">HH", protocol_version, 0) + titles + bytes(32)
    return _pdu(A_ASSOCIATE_RQ, fixed + items)
