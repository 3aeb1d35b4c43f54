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
from sstrkit.pacs.store import InstanceStore, Stored, is_own_result

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
        self.counts = {"stored": 0, "duplicates": 0, "ignored": 0, "refused": 0}
        self._lock = threading.Lock()

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def _handle_store(self, event: Any) -> int:
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            if not self.config.own_results and is_own_result(ds):
                self._count("ignored")
                return SUCCESS
            item = self.store.put(ds, event.encoded_dataset(include_meta=True))
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

    def start(self) -> None:
        """Start serving in background threads."""
        from pynetdicom import AE, evt

        ae = AE(ae_title=self.config.ae_title)
        ae.network_timeout = self.config.network_timeout_s
        ae.maximum_associations = 16
        ae.add_supported_context(VERIFICATION)
        for sop in self.config.storage:
            ae.add_supported_context(sop, list(SCP_TRANSFER_SYNTAXES))
        if self.config.allow:
            ae.require_calling_aet = list(self.config.allow)
        handlers: list[Any] = [
            (evt.EVT_C_STORE, self._handle_store),
            (evt.EVT_REJECTED, self._handle_rejected),
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

    def __enter__(self) -> Listener:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
