"""The DICOM listener: C-ECHO and C-STORE SCP filing into a store, and study completion.

:class:`Listener` runs sstrkit's own DICOM Upper Layer acceptor
(:mod:`sstrkit.pacs.association`, PDUs in :mod:`sstrkit.pacs.ul`, command sets in
:mod:`sstrkit.pacs.dimse`) on one asyncio event loop in a background thread, bound to
``127.0.0.1`` unless told otherwise, optionally DICOM TLS. It accepts Verification and
the storage SOP classes and transfer syntaxes of :mod:`sstrkit.pacs.conformance`; with
``allow`` only those calling AE titles get an association (others are rejected:
"calling AE title not recognised"). Each instance goes into the
:class:`~sstrkit.pacs.store.InstanceStore` (atomic, deduplicated by SOPInstanceUID).
sstrkit's own results routed back by a PACS are acknowledged but not filed
(:func:`~sstrkit.pacs.store.is_own_result`).

:class:`StudyWatch` tracks when each study last received an instance: a study is
*complete* when ``idle_s`` seconds pass without a new one; the listener then calls
``on_complete`` with a :class:`CompletedStudy` (in the watch thread). The job that
follows — sorting the patient's studies, running, recording — is
:mod:`sstrkit.pacs.jobs`.

Throughput (issue 21; ``benchmarks/bench_pacs.py``, docs/pacs.md). The listener used
to be pynetdicom's threaded server, which polls: its DUL thread and its association
thread each sleep about 1 ms per loop, and each C-STORE response is encoded with
pydicom; with a handler doing nothing it topped out near 750 instances/s on the 2-core
development machine, about 0.4× of dcmtk's ``storescp``. The acceptor here reads each
PDU when the operating system says the socket has data, joins the fragments, hands the
data set as received to the store (only the attributes the store needs are read,
:func:`~sstrkit.pacs.store.read_header`; nothing is decoded and re-encoded) and writes
the response, encoded with :mod:`struct`, in the same step. pynetdicom remains the SCU
of :mod:`sstrkit.pacs.scu` (query, retrieve, send, echo).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sstrkit import __version__
from sstrkit.errors import InvalidInputError, SstrkitError
from sstrkit.pacs.association import AcceptorSettings, serve_association
from sstrkit.pacs.conformance import (
    IMPLEMENTATION_CLASS_UID,
    LISTENER_MAX_PDU,
    SCP_STORAGE,
    SCP_TRANSFER_SYNTAXES,
)
from sstrkit.pacs.store import InstanceStore, Stored, file_meta, is_own_result, part10, read_header

__all__ = ["CompletedStudy", "Listener", "ListenerConfig", "StudyWatch", "is_own_result"]

Event = dict[str, Any]
#: C-STORE statuses (PS3.7 C.4.2.1.5 / GG.4): success, out of resources, cannot understand.
SUCCESS, OUT_OF_RESOURCES, CANNOT_UNDERSTAND = 0x0000, 0xA700, 0xC000


@dataclass
class _Study:
    patient_key: str
    patient_id: str
    last: float
    first: float
    stored: int = 0
    duplicates: int = 0
    series: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class CompletedStudy:
    """A study that received no new instance for ``idle_s`` seconds."""

    patient_key: str
    patient_id: str
    study_uid: str
    stored: int
    duplicates: int
    n_series: int
    #: ``time.monotonic()`` of its last instance (for the time from last instance to report).
    last_instance: float

    def to_dict(self) -> Event:
        """The ``study_complete`` event."""
        return {
            "event": "study_complete",
            "patient_id": self.patient_id,
            "patient_key": self.patient_key,
            "study_uid": self.study_uid,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "series": self.n_series,
        }


class StudyWatch:
    """Study completion by inactivity (module docstring)."""

    def __init__(
        self,
        idle_s: float,
        on_complete: Callable[[CompletedStudy], None],
        clock: Callable[[], float] = time.monotonic,
        on_open: Callable[[str, str], None] | None = None,
    ) -> None:
        if not idle_s > 0:
            raise InvalidInputError("--idle-s", expected="a time > 0 s", actual=idle_s)
        self.idle_s = idle_s
        self._on_complete = on_complete
        #: Called with (patient key, PatientID) when a study receives its first instance.
        self._on_open = on_open or (lambda _k, _p: None)
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[str, _Study] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def saw(self, item: Stored) -> None:
        """Record an instance of a study (stored or duplicate)."""
        now = self._clock()
        with self._lock:
            st = self._open.get(item.study_uid)
            opened = st is None
            if st is None:
                st = self._open[item.study_uid] = _Study(
                    item.patient_key, item.patient_id, now, now
                )
            st.last = now
            st.series.add(item.series_uid)
            if item.status == "stored":
                st.stored += 1
            else:
                st.duplicates += 1
        if opened:
            self._on_open(item.patient_key, item.patient_id)

    def due(self) -> list[CompletedStudy]:
        """The studies idle for ``idle_s`` (removed from the watch)."""
        now = self._clock()
        done: list[CompletedStudy] = []
        with self._lock:
            for uid, st in list(self._open.items()):
                if now - st.last >= self.idle_s:
                    del self._open[uid]
                    done.append(
                        CompletedStudy(
                            st.patient_key,
                            st.patient_id,
                            uid,
                            st.stored,
                            st.duplicates,
                            len(st.series),
                            st.last,
                        )
                    )
        return done

    def open_studies(self, patient_key: str | None = None) -> int:
        """Studies still receiving (of ``patient_key``, or of anyone)."""
        with self._lock:
            return sum(
                1
                for st in self._open.values()
                if patient_key is None or st.patient_key == patient_key
            )

    def busy(self, patient_key: str) -> bool:
        """Whether a study of ``patient_key`` is still receiving."""
        return self.open_studies(patient_key) > 0

    def start(self) -> None:
        """Check for idle studies in a background thread until :meth:`stop`."""
        period = min(self.idle_s / 4.0, 0.5)

        def loop() -> None:
            while not self._stop.wait(period):
                for done in self.due():
                    self._on_complete(done)

        self._thread = threading.Thread(target=loop, name="sstrkit-study-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)


@dataclass(frozen=True)
class ListenerConfig:
    """Network settings of the listener."""

    ae_title: str = "SSTRKIT"
    host: str = "127.0.0.1"
    port: int = 11112
    #: Calling AE titles accepted; empty: any.
    allow: tuple[str, ...] = ()
    ssl_context: ssl.SSLContext | None = None
    #: Seconds an association may stay silent before it is aborted.
    network_timeout_s: float = 60.0
    #: Storage SOP classes accepted (a C-MOVE destination takes results as well).
    storage: tuple[str, ...] = SCP_STORAGE
    #: File sstrkit's own results too (:func:`~sstrkit.pacs.store.is_own_result`).
    own_results: bool = False
    #: Largest P-DATA-TF received (announced in the A-ASSOCIATE-AC).
    max_pdu: int = LISTENER_MAX_PDU
    #: Associations served at once; more are rejected (transient, local limit exceeded).
    max_associations: int = 16


class Listener:
    """C-ECHO/C-STORE SCP filing into ``store`` (module docstring).

    ``on_stored`` is called for every stored or duplicate instance, ``on_event`` with
    event dicts (association rejected or aborted, instance refused); both in the
    listener's network thread.
    """

    def __init__(
        self,
        store: InstanceStore,
        config: ListenerConfig,
        *,
        on_stored: Callable[[Stored], None] | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self._on_stored = on_stored or (lambda _s: None)
        self._emit = on_event or (lambda _e: None)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._address: tuple[str, int] = (config.host, config.port)
        self.counts = {"stored": 0, "duplicates": 0, "ignored": 0, "refused": 0}
        self.settings = AcceptorSettings(
            allow=config.allow,
            storage=config.storage,
            transfer_syntaxes=SCP_TRANSFER_SYNTAXES,
            max_pdu=config.max_pdu,
            implementation_class_uid=IMPLEMENTATION_CLASS_UID,
            implementation_version=f"SSTRKIT_{__version__}"[:16],
            timeout_s=config.network_timeout_s,
        )

    # ------------------------------------------------------------- services
    def store_instance(self, sop_class: str, sop_instance: str, syntax: str, data: bytes) -> int:
        """File one instance as received (the association's :class:`Services`): only the
        attributes the store needs are read (:func:`~sstrkit.pacs.store.read_header`), the
        data set is written as it came, behind File Meta Information from the request.
        The C-STORE status (:class:`~sstrkit.pacs.association.Services`)."""
        try:
            ds = read_header(data, syntax)
            if not self.config.own_results and is_own_result(ds):
                self.counts["ignored"] += 1
                return SUCCESS
            meta = file_meta(
                sop_class,
                sop_instance,
                syntax,
                self.settings.implementation_class_uid,
                self.settings.implementation_version,
            )
            item = self.store.put(ds, part10(meta, data))
        except SstrkitError as exc:
            return self._refused(exc.one_line(), CANNOT_UNDERSTAND)
        except OSError as exc:
            return self._refused(f"{type(exc).__name__}: {exc}", OUT_OF_RESOURCES)
        except Exception as exc:  # an undecodable dataset: refuse it, keep serving
            return self._refused(f"{type(exc).__name__}: {exc}", CANNOT_UNDERSTAND)
        self.counts["stored" if item.status == "stored" else "duplicates"] += 1
        self._on_stored(item)
        return SUCCESS

    def _refused(self, reason: str, status: int) -> int:
        self.counts["refused"] += 1
        self._emit({"event": "instance_refused", "reason": reason})
        return status

    def event(self, doc: Event) -> None:
        """:class:`~sstrkit.pacs.association.Services` ``.event``."""
        self._emit(doc)

    def _flush(self) -> None:
        """Sync the store (an association ended, or the listener stops)."""
        try:
            self.store.flush()
        except OSError as exc:
            self._emit({"event": "store_sync_failed", "reason": f"{type(exc).__name__}: {exc}"})

    # ------------------------------------------------------------- network
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        full = len(self._tasks) >= self.config.max_associations
        self._tasks.add(task)
        try:
            outcome = await serve_association(reader, writer, self.settings, self, full=full)
        finally:
            self._tasks.discard(task)  # the connection is closed: its slot is free
        if outcome in ("released", "aborted"):
            await asyncio.get_running_loop().run_in_executor(None, self._flush)

    async def _open(self) -> None:
        self._server = await asyncio.start_server(
            self._connection,
            self.config.host,
            self.config.port,
            ssl=self.config.ssl_context,
            ssl_handshake_timeout=self.config.network_timeout_s
            if self.config.ssl_context
            else None,
            limit=2 * max(self.config.max_pdu, 1 << 16),
        )
        sockets = self._server.sockets
        if sockets:
            host, port = sockets[0].getsockname()[:2]
            self._address = (str(host), int(port))

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        await asyncio.get_running_loop().shutdown_default_executor()

    def start(self) -> None:
        """Start serving in a background thread (one asyncio event loop)."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=loop.run_forever, name="sstrkit-dicom-listener", daemon=True
        )
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._open(), loop).result(timeout=60.0)
        except OSError as exc:
            _end_loop(loop, thread)
            raise InvalidInputError(
                "--host/--port",
                expected="an address this machine can listen on",
                actual=f"{self.config.host}:{self.config.port} ({exc.strerror or exc})",
                fix="choose a free port (another DICOM listener may use this one)",
            ) from None
        self._loop, self._thread = loop, thread

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) listened on."""
        return self._address

    @property
    def port(self) -> int:
        """The port actually listened on (useful with port 0)."""
        return self._address[1]

    def stop(self) -> None:
        """Stop accepting associations, abort the open ones, sync the store."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=60.0)
        finally:
            _end_loop(loop, thread)
            self._loop = self._thread = None
            self._server = None
            self._flush()

    def __enter__(self) -> Listener:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _end_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=30.0)
    loop.close()
