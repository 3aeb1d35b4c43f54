"""The listener's DICOM store: instances filed by patient/study/series, one copy each.

Layout: ``STORE/<patient>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``,
where ``<patient>`` is the PatientID with characters other than letters, digits,
``.``, ``_`` and ``-`` replaced (plus a short hash of the ID when anything was
replaced, so that two IDs never share a folder; :func:`patient_key`). A file is
written under ``STORE/.incoming`` and renamed into place, so the intake never sees
half a file. An instance whose SOPInstanceUID is already in the store is not
written again (the first copy is kept): the store keeps an index of the UIDs,
built from the file names when it opens.

Durability: a file is not fsynced before it is renamed into place (one fsync per
instance would cost about as much as receiving it). A background thread fsyncs the
files written, and the folders that name them, in batches at most
``sync_interval_s`` (1 s) later; :meth:`InstanceStore.flush` waits until everything
written so far is on disk (the listener calls it when an association ends and when
it stops). A power loss inside that window may therefore lose, or leave empty, an
instance that was already acknowledged (dcmtk's ``storescp`` does not fsync at all).

The listener hands the store the bytes it received (:func:`read_header` reads the
few attributes the store needs without decoding the data set, :func:`file_meta` and
:func:`part10` put the File Meta Information in front), so nothing is decoded and
re-encoded. sstrkit's own results are recognised by :func:`is_own_result`.
``STORE/.sstrkit-pacs`` holds the listener's state (:mod:`sstrkit.pacs.jobs`);
folders starting with a dot are not patients.

Examples
--------
>>> patient_key("SSTRKIT-PH0003")
'SSTRKIT-PH0003'
>>> patient_key("Doe/John 01").startswith("Doe_John_01-")
True
>>> meta = file_meta("1.2.840.10008.5.1.4.1.1.2", "1.2.3", "1.2.840.10008.1.2.1", "1.2.4", "X")
>>> int.from_bytes(meta[8:12], "little") == len(meta) - 12  # group length
True
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import struct
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Literal

from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pydicom.uid import UID

from sstrkit.errors import InvalidInputError
from sstrkit.pacs.conformance import EXPORT_MODEL_NAME

__all__ = [
    "STATE_DIR",
    "InstanceStore",
    "Stored",
    "file_meta",
    "is_own_result",
    "part10",
    "patient_key",
    "read_header",
]

#: Folder of the listener's state inside the store.
STATE_DIR = ".sstrkit-pacs"
_INCOMING = ".incoming"
_SAFE = re.compile(r"[^A-Za-z0-9._-]")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
#: 128-byte preamble and "DICM" prefix of a DICOM file (PS3.10 7.1).
_PREAMBLE = b"\x00" * 128 + b"DICM"
#: Attributes :func:`read_header` reads: SpecificCharacterSet, SOPInstanceUID,
#: ManufacturerModelName, DerivationDescription, PatientID, Study/SeriesInstanceUID.
_HEADER_TAGS = (0x00080005, 0x00080018, 0x00081090, 0x00082111, 0x00100020, 0x0020000D, 0x0020000E)


def patient_key(patient_id: str) -> str:
    """A folder name for ``patient_id`` (module docstring)."""
    pid = patient_id.strip()
    safe = _SAFE.sub("_", pid).strip(".") or "NO-ID"
    if safe == pid:
        return safe
    return f"{safe[:48]}-{hashlib.sha256(pid.encode('utf-8')).hexdigest()[:8]}"


def is_own_result(ds: Dataset) -> bool:
    """Whether ``ds`` is a result sstrkit wrote: ManufacturerModelName
    :data:`~sstrkit.pacs.conformance.EXPORT_MODEL_NAME` (SEG, SR, PDF of ``pacs send``) or
    a derived image whose DerivationDescription starts with "sstrkit" (the SUV series).
    The listener, and a retrieve unless asked, acknowledge these and do not file them, so
    that a result routed back never becomes input (e.g. the lesion SEG taken by the
    intake as the study's segmentation)."""
    if str(ds.get("ManufacturerModelName", "") or "") == EXPORT_MODEL_NAME:
        return True
    return str(ds.get("DerivationDescription", "") or "").startswith("sstrkit")


def _uid(ds: Dataset, keyword: str) -> str:
    value = str(ds.get(keyword, "") or "").strip()
    if not (1 <= len(value) <= 64 and _UID.match(value)):
        raise InvalidInputError(
            keyword,
            expected="a DICOM UID (digits and dots, at most 64 characters)",
            actual=repr(value),
        )
    return value


def _meta_element(element: int, vr: bytes, value: bytes) -> bytes:
    """One group-2 element, Explicit VR Little Endian (PS3.5 7.1.2)."""
    if vr == b"OB":
        return struct.pack("<HH2sHI", 2, element, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", 2, element, vr, len(value)) + value


def _even(text: str, pad: bytes, what: str) -> bytes:
    try:
        raw = text.strip().encode("ascii")
    except UnicodeEncodeError:
        raise InvalidInputError(what, expected="ASCII", actual=repr(text)) from None
    return raw + pad if len(raw) % 2 else raw


def file_meta(
    sop_class_uid: str,
    sop_instance_uid: str,
    transfer_syntax: str,
    implementation_uid: str,
    implementation_version: str,
) -> bytes:
    """The encoded File Meta Information group (PS3.10 7.1) without preamble: group
    length, version 00 01, media storage SOP class/instance, transfer syntax,
    implementation class UID and version name (the elements pynetdicom writes)."""
    body = b"".join(
        (
            _meta_element(0x0001, b"OB", b"\x00\x01"),
            _meta_element(0x0002, b"UI", _even(sop_class_uid, b"\x00", "AffectedSOPClassUID")),
            _meta_element(
                0x0003, b"UI", _even(sop_instance_uid, b"\x00", "AffectedSOPInstanceUID")
            ),
            _meta_element(0x0010, b"UI", _even(transfer_syntax, b"\x00", "TransferSyntaxUID")),
            _meta_element(
                0x0012, b"UI", _even(implementation_uid, b"\x00", "ImplementationClassUID")
            ),
            _meta_element(
                0x0013, b"SH", _even(implementation_version, b" ", "ImplementationVersionName")
            ),
        )
    )
    return _meta_element(0x0000, b"UL", struct.pack("<I", len(body))) + body


def part10(meta: bytes, dataset: bytes) -> bytes:
    """A DICOM file: preamble, ``DICM``, the encoded meta group, the data set as received."""
    return b"".join((_PREAMBLE, meta, dataset))


def read_header(dataset: bytes, transfer_syntax: str) -> Dataset:
    """The attributes the store and :func:`is_own_result` need, read from an encoded
    data set in ``transfer_syntax`` without decoding the rest (reading stops after
    SeriesInstanceUID, before any pixel data)."""
    ts = UID(transfer_syntax)
    if ts.is_deflated:
        dataset = zlib.decompress(dataset, -zlib.MAX_WBITS)
    return read_dataset(
        BytesIO(dataset),
        ts.is_implicit_VR,
        ts.is_little_endian,
        stop_when=lambda tag, _vr, _length: tag > 0x0020000E,
        specific_tags=list(_HEADER_TAGS),
    )


@dataclass(frozen=True)
class Stored:
    """Where one received instance went."""

    status: Literal["stored", "duplicate"]
    patient_key: str
    patient_id: str
    study_uid: str
    series_uid: str
    sop_uid: str
    path: Path


class _Syncer:
    """fsync of written files and the folders naming them, in batches, in a background
    thread (module docstring: Durability)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._cond = threading.Condition()
        self._files: list[Path] = []
        self._dirs: set[Path] = set()
        self._queued = 0
        self._synced = 0
        self._urgent = False
        self._error: OSError | None = None
        self._thread: threading.Thread | None = None

    def add(self, path: Path, dirs: Iterable[Path]) -> None:
        with self._cond:
            self._files.append(path)
            self._dirs.update(dirs)
            self._queued += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sstrkit-store-sync", daemon=True
                )
                self._thread.start()

    def flush(self) -> None:
        """Wait until every file added so far is synced; raise the first ``OSError``
        met since the last flush."""
        with self._cond:
            target = self._queued
            self._urgent = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._synced >= target)
            error, self._error = self._error, None
        if error is not None:
            raise error

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._urgent, timeout=self.interval_s)
                self._urgent = False
                files, self._files = self._files, []
                dirs, self._dirs = self._dirs, set()
            error: OSError | None = None
            try:
                for path in (*files, *sorted(dirs, key=lambda d: -len(d.parts))):
                    try:
                        fd = os.open(path, os.O_RDONLY)
                        try:
                            os.fsync(fd)
                        finally:
                            os.close(fd)
                    except FileNotFoundError:
                        continue  # removed since (a later delete is not ours to keep)
                    except OSError as exc:
                        error = error or exc
            finally:  # whatever happens, flush() never waits forever
                with self._cond:
                    self._synced += len(files)
                    self._error = self._error or error
                    self._cond.notify_all()


class InstanceStore:
    """A folder of received instances (module docstring); safe for concurrent writers
    of one process (associations run in threads)."""

    def __init__(self, root: str | os.PathLike[str], sync_interval_s: float = 1.0) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / _INCOMING).mkdir(exist_ok=True)
        self._lock = threading.Lock()
        self._index: dict[str, Path] = {}
        #: Series folders known to exist (no mkdir per instance).
        self._folders: set[Path] = set()
        self._names = itertools.count()
        self._sync = _Syncer(sync_interval_s)
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.endswith(".dcm") and not name.startswith("."):
                    self._index[name[:-4]] = Path(dirpath) / name

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, sop_uid: object) -> bool:
        return sop_uid in self._index

    @property
    def state_dir(self) -> Path:
        """``STORE/.sstrkit-pacs``."""
        return self.root / STATE_DIR

    def patient_dir(self, key: str) -> Path:
        """The folder of one patient's studies."""
        return self.root / key

    def patients(self) -> list[str]:
        """Patient folders in the store."""
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def flush(self) -> None:
        """Wait until every instance stored so far is on disk (fsync of the files and of
        the folders naming them); ``OSError`` when one could not be synced."""
        self._sync.flush()

    def put(self, ds: Dataset, encoded: bytes | None = None) -> Stored:
        """File ``ds`` (``encoded``: its bytes as a DICOM file, written as they are;
        ``ds`` then needs only the attributes :func:`read_header` reads).

        Without ``encoded`` the dataset is written with its file meta information.
        """
        sop = _uid(ds, "SOPInstanceUID")
        study, series = _uid(ds, "StudyInstanceUID"), _uid(ds, "SeriesInstanceUID")
        pid = str(ds.get("PatientID", "") or "")
        key = patient_key(pid)
        with self._lock:
            known = self._index.get(sop)
            if known is not None:
                return Stored("duplicate", key, pid, study, series, sop, known)
            self._index[sop] = Path()  # reserved: a concurrent copy is a duplicate
        dest = self.root / key / study / series / f"{sop}.dcm"
        try:
            self._write(ds, encoded, dest)
        except BaseException:
            with self._lock:
                self._index.pop(sop, None)
            raise
        with self._lock:
            self._index[sop] = dest
        return Stored("stored", key, pid, study, series, sop, dest)

    def _folder(self, folder: Path) -> list[Path]:
        """Make ``folder`` (a series folder); the folders whose entries changed."""
        if folder in self._folders:
            return [folder]
        new = [p for p in (folder, *folder.parents) if p != self.root and not p.exists()]
        new = new[: len(folder.relative_to(self.root).parts)]
        folder.mkdir(parents=True, exist_ok=True)
        self._folders.add(folder)
        return [folder, *(p.parent for p in new)]

    def _write(self, ds: Dataset, encoded: bytes | None, dest: Path) -> None:
        incoming = self.root / _INCOMING
        while True:  # a name of this process; O_EXCL: never another writer's file
            tmp = incoming / f"rx-{os.getpid()}-{next(self._names)}.dcm"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
                break
            except FileExistsError:
                continue
        try:
            with os.fdopen(fd, "wb") as fh:
                if encoded is not None:
                    fh.write(encoded)
                else:
                    ds.save_as(fh, enforce_file_format=True)
            self._place(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _place(self, src: Path, dest: Path) -> None:
        """Rename the complete file ``src`` to ``dest``; queue both for syncing."""
        changed = self._folder(dest.parent)
        os.replace(src, dest)
        self._sync.add(dest, changed)
