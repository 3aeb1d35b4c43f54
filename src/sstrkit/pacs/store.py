"""The listener's DICOM store: instances filed by patient/study/series, one copy each.

Layout: ``STORE/<patient>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``,
where ``<patient>`` is the PatientID with characters other than letters, digits,
``.``, ``_`` and ``-`` replaced (plus a short hash of the ID when anything was
replaced, so that two IDs never share a folder; :func:`patient_key`). A file is
written under ``STORE/.incoming`` and renamed into place, so the intake never sees
half a file. An instance whose SOPInstanceUID is already in the store is not
written again (the first copy is kept): the store keeps an index of the UIDs,
built from the file names when it opens. sstrkit's own results are recognised by
:func:`is_own_result`. ``STORE/.sstrkit-pacs`` holds the
listener's state (:mod:`sstrkit.pacs.jobs`); folders starting with a dot are not
patients.

Examples
--------
>>> patient_key("SSTRKIT-PH0003")
'SSTRKIT-PH0003'
>>> patient_key("Doe/John 01").startswith("Doe_John_01-")
True
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydicom.dataset import Dataset

from sstrkit.core.atomic import apply_output_mode
from sstrkit.errors import InvalidInputError
from sstrkit.pacs.conformance import EXPORT_MODEL_NAME

__all__ = ["STATE_DIR", "InstanceStore", "Stored", "is_own_result", "patient_key"]

#: Folder of the listener's state inside the store.
STATE_DIR = ".sstrkit-pacs"
_INCOMING = ".incoming"
_SAFE = re.compile(r"[^A-Za-z0-9._-]")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


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


class InstanceStore:
    """A folder of received instances (module docstring); safe for concurrent writers
    of one process (associations run in threads)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / _INCOMING).mkdir(exist_ok=True)
        self._lock = threading.Lock()
        self._index: dict[str, Path] = {}
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

    def put(self, ds: Dataset, encoded: bytes | None = None) -> Stored:
        """File ``ds`` (``encoded``: its bytes as a DICOM file, written as they are).

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

    def _write(self, ds: Dataset, encoded: bytes | None, dest: Path) -> None:
        fd, tmp = tempfile.mkstemp(prefix="rx-", suffix=".dcm", dir=self.root / _INCOMING)
        try:
            if encoded is not None:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(encoded)
            else:
                os.close(fd)
                ds.save_as(tmp, enforce_file_format=True)
            apply_output_mode(tmp)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
