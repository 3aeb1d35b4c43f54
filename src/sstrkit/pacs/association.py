"""One association of the listener, served on asyncio streams (the acceptor's state machine).

:func:`serve_association` runs one TCP (or TLS) connection of the listener
(:mod:`sstrkit.pacs.scp`) from the A-ASSOCIATE-RQ to the release or abort, following
the acceptor side of the DICOM Upper Layer state machine (PS3.8 9.2):

* **Negotiation.** An A-ASSOCIATE-RQ must come first. It is rejected (A-ASSOCIATE-RJ,
  PS3.8 9.3.4) when the protocol version or the application context is not DICOM's,
  when ``allow`` is given and the calling AE title is not in it ("calling AE title not
  recognised"), or when the listener already serves its maximum number of associations
  (transient, "local limit exceeded"). Otherwise each presentation context is accepted
  with the first transfer syntax the requestor proposed that the listener takes, or
  refused (abstract syntax / transfer syntaxes not supported), and the A-ASSOCIATE-AC
  names the listener's maximum PDU length and implementation.
* **Data transfer.** P-DATA-TF fragments are joined per message: the command set, then
  the data set when the command announces one (PS3.7 E.2, PS3.8 E.2). C-ECHO-RQ and
  C-STORE-RQ are answered (a C-STORE is handed to :class:`Services` ``.store_instance`` with the
  data set as received, not decoded); C-CANCEL is ignored; any other request gets status
  0x0211 (unrecognised operation). A C-STORE whose SOP class is not the abstract syntax
  of its context gets 0x0122 (SOP class not supported).
* **End.** A-RELEASE-RQ is answered with A-RELEASE-RP; an A-ABORT ends the association; a
  PDU that breaks the protocol (unexpected or unknown type, bad lengths, a PDU longer
  than the maximum the listener announced, data on a context that was not accepted) is
  answered with A-ABORT and the connection is closed. An association silent for
  ``timeout_s`` (also before its A-ASSOCIATE-RQ, the ARTIM timer) is aborted.

Every message is handled in the event loop's thread, one after the other, as it
arrives; there is no polling: the loop sleeps in the operating system until the
network has data (module :mod:`sstrkit.pacs.scp`, Throughput).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sstrkit.pacs.conformance import VERIFICATION
from sstrkit.pacs.dimse import (
    C_CANCEL_RQ,
    C_ECHO_RQ,
    C_STORE_RQ,
    Command,
    CommandError,
    decode_command,
    encode_response,
)
from sstrkit.pacs.ul import (
    A_ABORT,
    A_ASSOCIATE_RQ,
    A_RELEASE_RQ,
    ABORT_UNEXPECTED_PDU,
    ABORT_UNRECOGNISED_PDU,
    APPLICATION_CONTEXT,
    HEADER,
    P_DATA_TF,
    AssociateRequest,
    ContextResult,
    PduError,
    decode_associate_rq,
    encode_abort,
    encode_associate_ac,
    encode_associate_rj,
    encode_p_data,
    encode_release_rp,
    iter_pdvs,
)

__all__ = ["AcceptorSettings", "Outcome", "Services", "serve_association"]

#: Statuses: unrecognised operation, SOP class not supported (PS3.7 C.5), cannot understand.
UNRECOGNISED_OPERATION, SOP_CLASS_NOT_SUPPORTED, CANNOT_UNDERSTAND = 0x0211, 0x0122, 0xC000
#: Seconds the acceptor waits for the requestor to close the connection after an
#: A-ASSOCIATE-RJ, A-RELEASE-RP or A-ABORT (the ARTIM timer, PS3.8 9.1.5) before closing it.
ARTIM_CLOSE_S = 1.0
#: Largest A-ASSOCIATE-RQ read (bytes after the header): far above any real request.
_RQ_LIMIT = 1 << 20
#: Context results (PS3.8 9.3.3.2).
_ACCEPT, _NO_ABSTRACT, _NO_SYNTAX = 0, 3, 4

Outcome = Literal["released", "aborted", "rejected", "closed"]


@dataclass(frozen=True)
class AcceptorSettings:
    """What the listener accepts and announces."""

    allow: tuple[str, ...]
    #: Storage SOP classes (Verification is always accepted).
    storage: tuple[str, ...]
    transfer_syntaxes: tuple[str, ...]
    #: The most the listener receives in one P-DATA-TF (announced in the A-ASSOCIATE-AC).
    max_pdu: int
    implementation_class_uid: str
    implementation_version: str
    timeout_s: float


class Services(Protocol):
    """What an association calls on the listener."""

    def store_instance(
        self, sop_class_uid: str, sop_instance_uid: str, syntax: str, data: bytes
    ) -> int:
        """File one C-STORE data set as received; the C-STORE status."""

    def event(self, doc: dict[str, Any]) -> None:
        """Report an event (association rejected or aborted)."""


class _AbortedError(Exception):
    """The association ended by A-ABORT (sent or received)."""


class _Association:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        settings: AcceptorSettings,
        services: Services,
    ) -> None:
        self.reader, self.writer = reader, writer
        self.settings, self.services = settings, services
        peer = writer.get_extra_info("peername")
        self.address = str(peer[0]) if peer else ""
        self.loop = asyncio.get_running_loop()
        self.last = self.loop.time()
        self.timer: asyncio.TimerHandle | None = None
        self.timed_out = False
        self.associated = False
        #: Accepted context ID → (abstract syntax, transfer syntax).
        self.contexts: dict[int, tuple[str, str]] = {}
        self.peer_max_pdu = 0
        self.calling_ae = ""
        self.command: Command | None = None
        self.command_context = 0
        self.command_parts: list[bytes] = []
        self.data_parts: list[memoryview] = []

    # ---------------------------------------------------------------- timers
    def _arm(self) -> None:
        period = max(self.settings.timeout_s / 4.0, 0.01)
        self.timer = self.loop.call_later(period, self._check_idle)

    def _check_idle(self) -> None:
        if self.loop.time() - self.last >= self.settings.timeout_s:
            self.timed_out = True
            if self.associated:  # before an association the ARTIM timer just closes (AA-2)
                self.writer.write(encode_abort(2, 0))
            self.writer.close()  # the pending read sees the end of the stream
            return
        self._arm()

    # ----------------------------------------------------------------- reading
    async def _read(self, limit: int) -> tuple[int, bytes]:
        head = await self.reader.readexactly(HEADER.size)
        kind, _reserved, length = HEADER.unpack(head)
        if length > limit:
            raise PduError(
                f"PDU type 0x{kind:02X} of {length} bytes exceeds the maximum {limit}",
            )
        body = await self.reader.readexactly(length) if length else b""
        self.last = self.loop.time()
        return kind, body

    def _abort(self, reason: int, message: str) -> None:
        self.writer.write(encode_abort(2, reason))
        self.services.event(
            {
                "event": "association_aborted",
                "calling_ae": self.calling_ae,
                "address": self.address,
                "reason": message,
            }
        )

    # ------------------------------------------------------------- negotiation
    def _reject(self, request: AssociateRequest, result: int, source: int, reason: int) -> None:
        self.writer.write(encode_associate_rj(result, source, reason))
        why = {
            (1, 2): "application context name not supported",
            (1, 3): "calling AE title not recognised",
            (2, 2): "protocol version not supported",
            (3, 2): "local limit exceeded",
        }.get((source, reason), "rejected")
        self.services.event(
            {
                "event": "association_rejected",
                "calling_ae": request.calling_ae,
                "address": self.address,
                "reason": why,
            }
        )

    def _negotiate(self, request: AssociateRequest, full: bool) -> bool:
        s = self.settings
        self.calling_ae = request.calling_ae
        if not request.protocol_version & 1:
            self._reject(request, 1, 2, 2)
        elif request.application_context != APPLICATION_CONTEXT:
            self._reject(request, 1, 1, 2)
        elif s.allow and request.calling_ae not in s.allow:
            self._reject(request, 1, 1, 3)
        elif full:
            self._reject(request, 2, 3, 2)
        else:
            results = [self._context_result(c.context_id, c.abstract_syntax, c.transfer_syntaxes)
                       for c in request.contexts]  # fmt: skip
            self.peer_max_pdu = request.max_pdu
            self.writer.write(
                encode_associate_ac(
                    request,
                    results,
                    max_pdu=s.max_pdu,
                    implementation_class_uid=s.implementation_class_uid,
                    implementation_version=s.implementation_version,
                )
            )
            return True
        return False

    def _context_result(
        self, context_id: int, abstract: str, syntaxes: tuple[str, ...]
    ) -> ContextResult:
        if abstract != VERIFICATION and abstract not in self.settings.storage:
            return ContextResult(context_id, _NO_ABSTRACT, syntaxes[0])
        chosen = next((t for t in syntaxes if t in self.settings.transfer_syntaxes), None)
        if chosen is None:
            return ContextResult(context_id, _NO_SYNTAX, syntaxes[0])
        self.contexts[context_id] = (abstract, chosen)
        return ContextResult(context_id, _ACCEPT, chosen)

    # ------------------------------------------------------------ data transfer
    def _p_data(self, body: bytes) -> None:
        for context_id, is_command, last, fragment in iter_pdvs(memoryview(body)):
            if context_id not in self.contexts:
                raise PduError(f"data on presentation context {context_id}, not accepted")
            if is_command:
                if self.command is not None:
                    raise PduError("a command fragment while a data set was expected")
                if self.command_parts and context_id != self.command_context:
                    raise PduError("the fragments of one command on two contexts")
                self.command_context = context_id
                self.command_parts.append(bytes(fragment))
                if last:
                    self._command_done(context_id)
            else:
                if self.command is None or context_id != self.command_context:
                    raise PduError("a data set fragment without its command")
                self.data_parts.append(fragment)
                if last:
                    data = b"".join(self.data_parts)
                    self.data_parts = []
                    self._dispatch(self.command, data)

    def _command_done(self, context_id: int) -> None:
        try:
            command = decode_command(b"".join(self.command_parts))
        except CommandError as exc:
            raise PduError(str(exc)) from None
        self.command_parts = []
        self.command, self.command_context = command, context_id
        if not command.has_dataset:
            self._dispatch(command, None)

    def _dispatch(self, command: Command, data: bytes | None) -> None:
        self.command = None
        abstract, syntax = self.contexts[self.command_context]
        field, sop_class = command.command_field, command.affected_sop_class_uid
        if field == C_CANCEL_RQ:
            return
        instance = ""
        if field == C_ECHO_RQ:
            status = 0 if abstract == VERIFICATION else SOP_CLASS_NOT_SUPPORTED
            sop_class = VERIFICATION
        elif field == C_STORE_RQ:
            instance = command.affected_sop_instance_uid
            if data is None:  # a C-STORE-RQ without its data set
                status = CANNOT_UNDERSTAND
            elif sop_class != abstract:
                status = SOP_CLASS_NOT_SUPPORTED
            else:
                status = self.services.store_instance(sop_class, instance, syntax, data)
        else:
            status = UNRECOGNISED_OPERATION
        response = encode_response(field, command.message_id, sop_class, instance, status)
        self.writer.write(
            encode_p_data(self.command_context, response, command=True, max_pdu=self.peer_max_pdu)
        )

    async def _await_close(self) -> None:
        """Let the requestor close first (ARTIM, PS3.8 9.2 Sta13), at most ARTIM_CLOSE_S."""
        with contextlib.suppress(Exception):
            await self.writer.drain()
            async with asyncio.timeout(ARTIM_CLOSE_S):
                while await self.reader.read(1 << 16):
                    pass

    # -------------------------------------------------------------------- run
    async def run(self, full: bool) -> Outcome:
        self._arm()
        try:
            outcome = await self._run(full)
        except PduError as exc:
            self._abort(exc.reason, str(exc))
            outcome = "aborted"
        except _AbortedError:
            return "aborted"
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            if self.timed_out:
                self.services.event(
                    {
                        "event": "association_aborted",
                        "calling_ae": self.calling_ae,
                        "address": self.address,
                        "reason": f"no PDU for {self.settings.timeout_s:g} s",
                    }
                )
                return "aborted"
            return "closed"
        except Exception as exc:  # a fault of the acceptor: end the association cleanly (AA-8)
            self._abort(0, f"{type(exc).__name__}: {exc}")
            outcome = "aborted"
        finally:
            if self.timer is not None:
                self.timer.cancel()
        await self._await_close()
        return outcome

    async def _run(self, full: bool) -> Outcome:
        kind, body = await self._read(_RQ_LIMIT)
        if kind == A_ABORT:
            raise _AbortedError
        if kind != A_ASSOCIATE_RQ:
            reason = ABORT_UNEXPECTED_PDU if 0x01 <= kind <= 0x07 else ABORT_UNRECOGNISED_PDU
            raise PduError(f"PDU type 0x{kind:02X} before A-ASSOCIATE-RQ", reason)
        if not self._negotiate(decode_associate_rq(body), full):
            return "rejected"
        self.associated = True
        return await self._transfer()

    async def _transfer(self) -> Outcome:
        max_pdu = self.settings.max_pdu if self.settings.max_pdu > 0 else 1 << 32
        while True:
            await self.writer.drain()
            kind, body = await self._read(max_pdu)
            if kind == P_DATA_TF:
                self._p_data(body)
            elif kind == A_RELEASE_RQ:
                self.writer.write(encode_release_rp())
                return "released"
            elif kind == A_ABORT:
                raise _AbortedError
            elif 0x01 <= kind <= 0x06:
                raise PduError(f"unexpected PDU type 0x{kind:02X}", ABORT_UNEXPECTED_PDU)
            else:
                raise PduError(f"unrecognised PDU type 0x{kind:02X}", ABORT_UNRECOGNISED_PDU)


async def serve_association(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    settings: AcceptorSettings,
    services: Services,
    *,
    full: bool = False,
) -> Outcome:
    """Serve one connection (module docstring); ``full``: reject it (too many
    associations). The connection is closed on return."""
    association = _Association(reader, writer, settings, services)
    outcome: Outcome = "closed"
    try:
        outcome = await association.run(full)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
            await writer.wait_closed()
    return outcome
