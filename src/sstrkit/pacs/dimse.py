"""DIMSE command sets of the listener: C-ECHO and C-STORE requests and their responses.

A command set is a data set of group 0000 elements in Implicit VR Little Endian
(PS3.7 section 6.3, E.1). :func:`decode_command` reads the fields a Storage and
Verification SCP needs from a received command (:class:`Command`);
:func:`encode_response` writes a response command with its group length, in tag order
(PS3.7 9.3.1.2 C-STORE-RSP, 9.3.5.2 C-ECHO-RSP). Statuses: PS3.7 C.4.2.1.5 (C-STORE),
C.4.1.1.4 (C-ECHO) and annex C (general).

Examples
--------
>>> rsp = encode_response(C_STORE_RQ, 7, "1.2.840.10008.5.1.4.1.1.2", "1.2.3", 0x0000)
>>> cmd = decode_command(rsp)
>>> hex(cmd.command_field), cmd.message_id_responded, cmd.status, cmd.has_dataset
('0x8001', 7, 0, False)
>>> cmd.affected_sop_instance_uid
'1.2.3'
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "C_CANCEL_RQ",
    "C_ECHO_RQ",
    "C_STORE_RQ",
    "NO_DATASET",
    "Command",
    "CommandError",
    "decode_command",
    "encode_response",
]

C_STORE_RQ, C_ECHO_RQ, C_CANCEL_RQ = 0x0001, 0x0030, 0x0FFF
#: CommandDataSetType: no data set follows (PS3.7 E.1, any other value: one follows).
NO_DATASET = 0x0101
_ELEMENT = struct.Struct("<HHI")
_US, _UL = struct.Struct("<H"), struct.Struct("<I")
#: (0000,xxxx) element numbers.
_SOP_CLASS, _FIELD, _MESSAGE_ID, _RESPONDED = 0x0002, 0x0100, 0x0110, 0x0120
_DATASET_TYPE, _STATUS, _SOP_INSTANCE = 0x0800, 0x0900, 0x1000


class CommandError(ValueError):
    """A command set that cannot be decoded."""


@dataclass(frozen=True)
class Command:
    """The fields of a command set the listener uses."""

    command_field: int
    message_id: int
    affected_sop_class_uid: str
    affected_sop_instance_uid: str
    has_dataset: bool
    #: MessageIDBeingRespondedTo and Status (responses; -1 when absent).
    message_id_responded: int = -1
    status: int = -1


def _ui(raw: bytes, what: str) -> str:
    try:
        value = raw.decode("ascii").rstrip(" \x00")
    except UnicodeDecodeError:
        raise CommandError(f"command set: {what} is not a UID (non-ASCII bytes)") from None
    if value.strip("0123456789."):
        raise CommandError(f"command set: {what} {value!r} is not a UID")
    return value


def decode_command(data: bytes | memoryview) -> Command:
    """The :class:`Command` of an encoded command set (Implicit VR Little Endian)."""
    view = memoryview(data)
    values: dict[int, bytes] = {}
    pos, end = 0, len(view)
    while pos < end:
        if end - pos < _ELEMENT.size:
            raise CommandError("command set: truncated element")
        group, element, length = _ELEMENT.unpack_from(view, pos)
        pos += _ELEMENT.size
        if group != 0x0000 or pos + length > end:
            raise CommandError(f"command set: element ({group:04X},{element:04X}) out of place")
        values[element] = bytes(view[pos : pos + length])
        pos += length

    def us(element: int, default: int = -1) -> int:
        raw = values.get(element)
        return default if raw is None or len(raw) != 2 else int(_US.unpack(raw)[0])

    field = us(_FIELD)
    if field < 0:
        raise CommandError("command set without CommandField (0000,0100)")
    message_id = us(_MESSAGE_ID)
    if message_id < 0 and not field & 0x8000:  # mandatory in every request (PS3.7 9.3, 9.1)
        raise CommandError("request without MessageID (0000,0110)")
    return Command(
        field,
        message_id,
        _ui(values.get(_SOP_CLASS, b""), "AffectedSOPClassUID"),
        _ui(values.get(_SOP_INSTANCE, b""), "AffectedSOPInstanceUID"),
        us(_DATASET_TYPE, NO_DATASET) != NO_DATASET,
        us(_RESPONDED),
        us(_STATUS),
    )


def _element(element: int, value: bytes) -> bytes:
    return _ELEMENT.pack(0, element, len(value)) + value


def _uid(uid: str) -> bytes:
    raw = uid.encode("ascii")
    return raw + b"\x00" if len(raw) % 2 else raw


def encode_response(
    request_field: int, message_id: int, sop_class_uid: str, sop_instance_uid: str, status: int
) -> bytes:
    """The response to a request (CommandField | 0x8000) with ``status``; without a data
    set. ``sop_instance_uid`` empty: no AffectedSOPInstanceUID (C-ECHO-RSP)."""
    body = b"".join(
        (
            _element(_SOP_CLASS, _uid(sop_class_uid)) if sop_class_uid else b"",
            _element(_FIELD, _US.pack(request_field | 0x8000)),
            _element(_RESPONDED, _US.pack(message_id)),
            _element(_DATASET_TYPE, _US.pack(NO_DATASET)),
            _element(_STATUS, _US.pack(status)),
            _element(_SOP_INSTANCE, _uid(sop_instance_uid)) if sop_instance_uid else b"",
        )
    )
    return _element(0x0000, _UL.pack(len(body))) + body
