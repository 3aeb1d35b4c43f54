"""A finished run folder as the PACS export reads it: results, study, source headers, UIDs.

:class:`RunFolder` opens ``OUT/results.json`` and the study's ``manifest.json``
(the folder results.json names, or ``OUT/study``), and gives the export what it
needs: the source series' headers (SSTR PET, each cycle's SPECT and the CT of its
SPECT/CT), the study every result belongs to, file paths of the run (found where
results.json says, else at their place under ``OUT`` when the folder moved), and
deterministic UIDs: :meth:`RunFolder.uid` derives a UID from the SHA-256 of
results.json and the object's name, so sending the same run twice sends the same
instances (a PACS keeps one copy) and a new run sends new ones.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from sstrkit.errors import InvalidInputError

__all__ = ["RunFolder", "read_headers"]

_FIX = "give the output folder of a finished 'sstrkit run' (or 'sstrkit pacs listen --run')"


def read_headers(path: str | os.PathLike[str]) -> list[Dataset]:
    """Headers (no pixels) of the DICOM files at ``path`` (a file or a folder tree)."""
    root = Path(path)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    headers: list[Dataset] = []
    for f in files:
        if f.name.endswith((".json", ".nii", ".nii.gz")):
            continue
        try:
            headers.append(pydicom.dcmread(f, stop_before_pixels=True))
        except Exception:  # not a DICOM file (a study folder may hold others)
            continue
    return headers


class RunFolder:
    """The outputs of one run (module docstring)."""

    def __init__(self, out: str | os.PathLike[str]) -> None:
        self.out = Path(out).expanduser().resolve()
        path = self.out / "results.json"
        try:
            raw = path.read_bytes()
            self.results: dict[str, Any] = json.loads(raw.decode("utf-8"))
        except FileNotFoundError:
            raise InvalidInputError(
                "run folder", expected=f"the file {path}", actual="no such file", fix=_FIX
            ) from None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise InvalidInputError(
                "run results", expected="valid JSON written by sstrkit", actual=str(path), fix=_FIX
            ) from None
        self.sha256 = hashlib.sha256(raw).hexdigest()
        study = Path(str(self.results.get("study") or ""))
        if not (study / "manifest.json").is_file():
            study = self.out / "study"
        try:
            self.manifest: dict[str, Any] = json.loads(
                (study / "manifest.json").read_text(encoding="utf-8")
            )
        except (FileNotFoundError, json.JSONDecodeError):
            raise InvalidInputError(
                "study manifest of the run",
                expected="manifest.json",
                actual=f"none readable in {study}",
                fix=_FIX,
            ) from None
        self.study_dir = study
        self.stages: dict[str, Any] = self.results.get("stages") or {}
        self._headers: dict[tuple[str, str], list[Dataset]] = {}

    def uid(self, name: str) -> str:
        """A UID fixed by this run's results and ``name`` (module docstring)."""
        return str(generate_uid(entropy_srcs=[self.sha256, name]))

    def file(self, recorded: str | None, *under_out: str) -> Path | None:
        """A file of the run: where results.json recorded it, else ``OUT/<under_out>``."""
        if recorded and Path(recorded).exists():
            return Path(recorded)
        fallback = self.out.joinpath(*under_out) if under_out else None
        return fallback if fallback is not None and fallback.exists() else None

    # ------------------------------------------------------------------ sources
    def series_entry(self, role: str) -> dict[str, Any] | None:
        """The manifest entry of ``pet`` / ``fdg`` (or None)."""
        entry = (self.manifest.get("series") or {}).get(role)
        return entry if isinstance(entry, dict) else None

    def spect_entries(self, role: str = "spect") -> list[dict[str, Any]]:
        """``spect`` or ``spect_ct`` entries, by cycle and hours after injection."""
        entries = (self.manifest.get("series") or {}).get(role) or []
        return sorted(entries, key=lambda e: (int(e["cycle"]), float(e["hours_post_injection"])))

    def headers(self, entry: dict[str, Any]) -> list[Dataset]:
        """Headers of the series of a manifest entry (only its SeriesInstanceUID)."""
        key = (str(entry["path"]), str(entry.get("series_uid") or ""))
        if key not in self._headers:
            self._headers[key] = _series_headers(*key)
        return self._headers[key]

    def cycles(self) -> list[int]:
        """Cycles with a SPECT in the study."""
        return sorted({int(e["cycle"]) for e in self.spect_entries()})

    def spect_header(self, cycle: int, frame_of_reference_uid: str | None = None) -> Dataset:
        """A SPECT header of ``cycle`` (the one in ``frame_of_reference_uid`` when given)."""
        entries = [e for e in self.spect_entries() if int(e["cycle"]) == cycle]
        if frame_of_reference_uid:
            entries = [
                e for e in entries if e.get("frame_of_reference_uid") == frame_of_reference_uid
            ] or entries
        if not entries:
            raise InvalidInputError(
                f"SPECT of cycle {cycle}", expected="in the study manifest", actual="none", fix=_FIX
            )
        return self.headers(entries[0])[0]

    def spect_ct_headers(self, cycle: int, frame_of_reference_uid: str) -> list[Dataset]:
        """The CT of the cycle's SPECT/CT in ``frame_of_reference_uid`` (one series)."""
        for e in self.spect_entries("spect_ct"):
            if (
                int(e["cycle"]) == cycle
                and e.get("frame_of_reference_uid") == frame_of_reference_uid
            ):
                return self.headers(e)
        raise InvalidInputError(
            f"SPECT/CT CT of cycle {cycle}",
            expected=f"a CT in the frame of reference {frame_of_reference_uid} in the manifest",
            actual="none",
            fix="the dose grid's SPECT/CT must have its CT in the study",
        )

    def report_source(self) -> Dataset:
        """Header whose patient and study the report objects (SR, PDF) take: a SPECT of
        the latest cycle, else the SSTR PET."""
        cycles = self.cycles()
        if cycles:
            return self.spect_header(cycles[-1])
        pet = self.series_entry("pet")
        if pet is None:
            raise InvalidInputError(
                "study of the run",
                expected="an SSTR PET or a SPECT",
                actual="neither in the manifest",
                fix=_FIX,
            )
        return self.headers(pet)[0]


def _series_headers(path: str, series_uid: str) -> list[Dataset]:
    headers = read_headers(path)
    if series_uid:
        headers = [h for h in headers if str(h.get("SeriesInstanceUID", "")) == series_uid]
    if not headers:
        raise InvalidInputError(
            "source series of the run",
            expected=f"DICOM files of series {series_uid or '?'}",
            actual=f"none at {path}",
            fix="the study's DICOM must still be where the manifest says",
        )
    return headers
