"""The DICOM listener: C-ECHO and C-STORE SCP filing into a store, and study completion.

:class:`Listener` runs a pynetdicom server (``127.0.0.1`` unless told otherwise,
optionally DICOM TLS). It accepts Verification and the storage SOP classes and
transfer syntaxes of :mod:`sstrkit.pacs.conformance`; with ``allow`` only those
calling AE titles get an association (others are rejected: "calling AE title not
recognised"). Each instance goes into the :class:`~sstrkit.pacs.store.InstanceStore`
(atomic, deduplicated by SOPInstanceUID). sstrkit's own results routed back by a
PACS are acknowledged but not filed (:func:`~sstrkit.pacs.store.is_own_result`).

:class:`StudyWatch` tracks when each study last received an instance: a study is
*complete* when ``idle_s`` seconds pass without a new one; the listener then calls
``on_complete`` with a :class:`CompletedStudy` (in the watch thread). The job that
follows — sorting the patient's studies, running, recording — is
:mod:`sstrkit.pacs.jobs`.

Throughput (issue 21; ``benchmarks/bench_pacs.py``, docs/pacs.md). Profiled, the
listener's time per instance went to (1) pynetdicom's polling: its DUL thread sleeps
1 ms whenever a connection is quiet and the association thread sleeps 1 ms per loop,
so each C-STORE waited on up to three such naps; (2) the handler: decoding the whole
data set (``event.dataset``), building and encoding File Meta with pydicom twice, a
random temporary name, a chmod and a mkdir per instance; (3) pynetdicom's own work
(PDU and DIMSE decoding, encoding the C-STORE response with pydicom), about 1 ms per
instance, which no setting removes. The handler now reads only the attributes it
needs and writes the bytes as received (:mod:`sstrkit.pacs.store`), and each
association's DUL polls every ``poll_s`` (0.5 ms) instead of 1 ms (an idle
association then costs about 7 % of a core instead of 4 %). The association thread's
1 ms sleep is hard-coded in pynetdicom and left alone (its code is not patched).
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sstrkit.errors import InvalidInputError, SstrkitError
from sstrkit.pacs.conformance import SCP_STORAGE, SCP_TRANSFER_SYNTAXES, VERIFICATION
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
    #: Seconds an association may stay silent before it is closed.
    network_timeout_s: float = 60.0
    #: Storage SOP classes accepted (a C-MOVE destination takes results as well).
    storage: tuple[str, ...] = SCP_STORAGE
    #: File sstrkit's own results too (:func:`~sstrkit.pacs.store.is_own_result`).
    own_results: bool = False
    #: Seconds pynetdicom's DUL thread sleeps between two polls of a quiet connection
    #: (pynetdicom's default: 1 ms; module docstring: Throughput).
    poll_s: float = 0.0005


class Listener:
    """C-ECHO/C-STORE SCP filing into ``store`` (module docstring).

    ``on_stored`` is called for every stored or duplicate instance (in the
    association's thread), ``on_event`` with event dicts (association rejected,
    instance refused).
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
        self._server: Any = None
        #: ImplementationClassUID and ImplementationVersionName of the files written.
        self._implementation = ("", "")
        self.counts = {"stored": 0, "duplicates": 0, "ignored": 0, "refused": 0}
        self._lock = threading.Lock()

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def _handle_store(self, event: Any) -> int:
        """File one instance as received: only the attributes the store needs are read
        (:func:`~sstrkit.pacs.store.read_header`), the data set is written as it came,
        behind File Meta Information from the request (as pynetdicom's
        ``event.encoded_dataset()`` would, without its pydicom round trip)."""
        try:
            request = event.request
            syntax = str(event.context.transfer_syntax)
            data = request.DataSet.getvalue()
            ds = read_header(data, syntax)
            if not self.config.own_results and is_own_result(ds):
                self._count("ignored")
                return SUCCESS
            meta = file_meta(
                str(request.AffectedSOPClassUID),
                str(request.AffectedSOPInstanceUID),
                syntax,
                *self._implementation,
            )
            item = self.store.put(ds, part10(meta, data))
        except SstrkitError as exc:
            self._count("refused")
            self._emit({"event": "instance_refused", "reason": exc.one_line()})
            return CANNOT_UNDERSTAND
        except OSError as exc:
            self._count("refused")
            self._emit({"event": "instance_refused", "reason": f"{type(exc).__name__}: {exc}"})
            return OUT_OF_RESOURCES
        except Exception as exc:  # an undecodable dataset: refuse it, keep serving
            self._count("refused")
            self._emit({"event": "instance_refused", "reason": f"{type(exc).__name__}: {exc}"})
            return CANNOT_UNDERSTAND
        self._count("stored" if item.status == "stored" else "duplicates")
        self._on_stored(item)
        return SUCCESS

    def _handle_rejected(self, event: Any) -> None:
        requestor = event.assoc.requestor
        self._emit(
            {
                "event": "association_rejected",
                "calling_ae": str(requestor.ae_title).strip(),
                "address": str(requestor.address),
            }
        )

    def _tune_connection(self, event: Any) -> None:
        """``EVT_CONN_OPEN`` (before the association's threads start): its DUL polls
        every ``poll_s``. This sets pynetdicom's private per-association
        ``DULServiceProvider._run_loop_delay`` (as in pynetdicom 3.0; left alone where it
        does not exist, and tests/pacs/test_scp_ingest.py fails when it stops existing)."""
        dul = getattr(event.assoc, "dul", None)
        if dul is not None and isinstance(getattr(dul, "_run_loop_delay", None), float):
            dul._run_loop_delay = self.config.poll_s

    def _flush(self, _event: Any = None) -> None:
        """Sync the store (an association ended, or the listener stops)."""
        try:
            self.store.flush()
        except OSError as exc:
            self._emit({"event": "store_sync_failed", "reason": f"{type(exc).__name__}: {exc}"})

    def start(self) -> None:
        """Start serving in background threads."""
        from pynetdicom import AE, evt

        ae = AE(ae_title=self.config.ae_title)
        self._implementation = (
            str(ae.implementation_class_uid),
            str(ae.implementation_version_name or ""),
        )
        ae.network_timeout = self.config.network_timeout_s
        ae.maximum_associations = 16
        ae.add_supported_context(VERIFICATION)
        for sop in self.config.storage:
            ae.add_supported_context(sop, list(SCP_TRANSFER_SYNTAXES))
        if self.config.allow:
            ae.require_calling_aet = list(self.config.allow)
        handlers: list[Any] = [
            (evt.EVT_CONN_OPEN, self._tune_connection),
            (evt.EVT_C_STORE, self._handle_store),
            (evt.EVT_REJECTED, self._handle_rejected),
            (evt.EVT_RELEASED, self._flush),
            (evt.EVT_ABORTED, self._flush),
        ]
        try:
            self._server = ae.start_server(
                (self.config.host, self.config.port),
                block=False,
                evt_handlers=handlers,
                ssl_context=self.config.ssl_context,
            )
        except OSError as exc:
            raise InvalidInputError(
                "--host/--port",
                expected="an address this machine can listen on",
                actual=f"{self.config.host}:{self.config.port} ({exc.strerror or exc})",
                fix="choose a free port (another DICOM listener may use this one)",
            ) from None

    @property
    def port(self) -> int:
        """The port actually listened on (useful with port 0)."""
        if self._server is None:
            return self.config.port
        return int(self._server.server_address[1])

    def stop(self) -> None:
        """Stop accepting associations and close the open ones."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
            self._flush()

    def __enter__(self) -> Listener:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
