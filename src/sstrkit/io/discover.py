"""Find DICOM series in a folder tree.

Files are recognised by content (the ``DICM`` preamble), never by name, so
any file layout works. Headers are read without pixel data: every file is
scanned with :func:`sstrkit.io.dicom_scan.scan_file` (the attributes needed
to group and read series, no pydicom objects); pydicom parses the first file
of each series (for the summary), any file the fast scan cannot handle, and
other headers only when asked (:meth:`SeriesInfo.header`).

Examples
--------
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     found = discover(d)
>>> found.series, found.unreadable
((), ())
"""

from __future__ import annotations

import datetime as _dt
import os
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from sstrkit.errors import DicomMetadataError, InvalidInputError
from sstrkit.io.dicom_scan import (
    ACQUISITION_DATE,
    ACQUISITION_TIME,
    NUMBER_OF_FRAMES,
    SERIES_DATE,
    SERIES_INSTANCE_UID,
    STUDY_DATE,
    TIMEZONE_OFFSET,
    FileScan,
    scan_file,
)
from sstrkit.io.dicom_time import parse_da_tm, tz_from_offset

__all__ = [
    "Discovery",
    "SeriesInfo",
    "discover",
    "select_series",
]

#: SOP classes that hold images sstrkit can read as volumes.
IMAGE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2": "CT",
    "1.2.840.10008.5.1.4.1.1.128": "PET",
    "1.2.840.10008.5.1.4.1.1.20": "NM",
}
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
RTDOSE_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.2"
#: Media Storage Directory Storage: a DICOMDIR (an index of the files, no image).
MEDIA_DIRECTORY_SOP_CLASS = "1.2.840.10008.1.3.10"


@dataclass(frozen=True)
class SeriesInfo:
    """Summary of one series (one SeriesInstanceUID) found on disk."""

    series_uid: str
    study_uid: str | None
    patient_id: str | None
    modality: str
    sop_class_uid: str
    sop_class_name: str
    description: str
    n_files: int
    n_frames: int
    units: str | None
    radiopharmaceutical: str | None
    acquisition_time: str | None
    frame_of_reference_uid: str | None
    files: tuple[Path, ...] = field(repr=False)
    #: per file: the fast header scan (None when the file was parsed with pydicom instead)
    scans: tuple[FileScan | None, ...] = field(default=(), repr=False, compare=False)
    #: per file: the pydicom header when discovery already parsed it (else parsed on demand)
    known_headers: tuple[Dataset | None, ...] = field(default=(), repr=False, compare=False)
    #: file offset of each file's PixelData element (None when unknown)
    pixel_offsets: tuple[int | None, ...] = field(default=(), repr=False, compare=False)

    def header(self, index: int) -> Dataset:
        """Full header (no pixel data) of ``files[index]``, parsed with pydicom once."""
        cache: dict[int, Dataset] = self.__dict__.setdefault("_header_cache", {})
        ds = cache.get(index)
        if ds is None:
            known = self.known_headers[index] if index < len(self.known_headers) else None
            if known is not None:
                ds = known
            else:
                parsed = _parse(self.files[index])
                if isinstance(parsed, str):
                    raise DicomMetadataError(
                        f"file {self.files[index]}",
                        expected="a readable DICOM file",
                        actual=parsed,
                        fix="copy the file again from the archive or remove it",
                    )
                ds = parsed[0]
            cache[index] = ds
        return ds

    @property
    def headers(self) -> tuple[Dataset, ...]:
        """Full headers of all files (parsed with pydicom on first use)."""
        return tuple(self.header(i) for i in range(len(self.files)))

    @property
    def is_image(self) -> bool:
        """True for CT/PET/NM image storage (the classes sstrkit reads as volumes)."""
        return self.sop_class_uid in IMAGE_SOP_CLASSES

    def to_dict(self) -> dict[str, Any]:
        return {
            "series_uid": self.series_uid,
            "study_uid": self.study_uid,
            "patient_id": self.patient_id,
            "modality": self.modality,
            "sop_class_uid": self.sop_class_uid,
            "sop_class": self.sop_class_name,
            "description": self.description,
            "n_files": self.n_files,
            "n_frames": self.n_frames,
            "units": self.units,
            "radiopharmaceutical": self.radiopharmaceutical,
            "acquisition_time": self.acquisition_time,
            "frame_of_reference_uid": self.frame_of_reference_uid,
        }


@dataclass(frozen=True)
class Discovery:
    """Result of :func:`discover`: series found and DICOM files that could not be parsed.

    ``media_directories`` lists DICOMDIR files (Media Storage Directory): they
    index the files of a PACS/CD export and hold no image, so they are skipped
    (series are found by content anyway), not reported as unreadable.
    """

    series: tuple[SeriesInfo, ...]
    unreadable: tuple[tuple[Path, str], ...]
    media_directories: tuple[Path, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "series": [s.to_dict() for s in self.series],
            "unreadable": [{"file": str(p), "reason": r} for p, r in self.unreadable],
            "media_directories": [str(p) for p in self.media_directories],
        }


def _str(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    return str(value).strip() or None


def _is_dicom_file(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def iter_files(root: Path) -> Iterable[Path]:
    """All regular files under ``root`` (or ``root`` itself), in sorted order."""
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def units_of(ds: Dataset) -> str | None:
    """Pixel-value units of an image header (PET Units, NM real-world units, CT HU)."""
    units = _str(ds, "Units")
    if units:
        return units.upper()
    rwvm = ds.get("RealWorldValueMappingSequence")
    if rwvm:
        codes = rwvm[0].get("MeasurementUnitsCodeSequence")
        if codes:
            return str(codes[0].get("CodeValue", "")).strip() or None
    if _str(ds, "Modality") == "CT":
        return "HU"
    return None


def radiopharmaceutical_of(ds: Dataset) -> str | None:
    """Radiopharmaceutical name (or radionuclide) from the information sequence."""
    seq = ds.get("RadiopharmaceuticalInformationSequence")
    if not seq:
        return None
    item = seq[0]
    name = _str(item, "Radiopharmaceutical")
    if name:
        return name
    codes = item.get("RadionuclideCodeSequence")
    if codes:
        return _str(codes[0], "CodeMeaning")
    return None


def _acq_time(members: Sequence[_Member]) -> str | None:
    best: _dt.datetime | None = None
    for m in members:
        date = (
            m.text(ACQUISITION_DATE, "AcquisitionDate")
            or m.text(SERIES_DATE, "SeriesDate")
            or m.text(STUDY_DATE, "StudyDate")
        )
        time = m.text(ACQUISITION_TIME, "AcquisitionTime")
        if not (date and time):
            continue
        off = m.text(TIMEZONE_OFFSET, "TimezoneOffsetFromUTC")
        try:
            tz = tz_from_offset(off) if off else _dt.UTC
            t = parse_da_tm(date, time, tz)
        except DicomMetadataError:
            continue
        if best is None or t < best:
            best = t
    return best.isoformat() if best else None


def discover(
    root: str | os.PathLike[str],
    *,
    progress: Callable[[int], None] | None = None,
) -> Discovery:
    """Scan ``root`` (a folder tree or one file) and group DICOM files by series.

    Files without the DICOM preamble are ignored; files that have one but
    cannot be parsed are listed in :attr:`Discovery.unreadable`. Series are
    sorted by modality, then description.
    """
    path = Path(root)
    if not path.exists():
        raise InvalidInputError(
            "DICOM folder", expected="an existing folder or file", actual=str(path)
        )
    groups: dict[str, list[_Member]] = defaultdict(list)
    unreadable: list[tuple[Path, str]] = []
    directories: list[Path] = []
    for n, file in enumerate(iter_files(path), start=1):
        if progress is not None:
            progress(n)
        if not _is_dicom_file(file):
            continue
        scan = scan_file(file)
        scan_uid = scan.text(SERIES_INSTANCE_UID) if scan is not None else None
        if scan is not None and scan_uid is not None:
            groups[scan_uid].append(_Member(file, scan, None, scan.pixel_offset))
            continue
        parsed = _parse(file)
        if isinstance(parsed, str):
            if _is_media_directory(file):
                directories.append(file)
            else:
                unreadable.append((file, parsed))
            continue
        ds, offset = parsed
        uid = _str(ds, "SeriesInstanceUID")
        if uid is None:
            if _is_media_directory(file):
                directories.append(file)
            else:
                unreadable.append((file, "no SeriesInstanceUID (0020,000E)"))
            continue
        groups[uid].append(_Member(file, None, ds, offset))
    series: list[SeriesInfo] = []
    for uid, members in groups.items():
        # the summary needs one full header; a file pydicom cannot parse is unreadable
        while members and members[0].dataset is None:
            parsed = _parse(members[0].file)
            if isinstance(parsed, str):
                unreadable.append((members.pop(0).file, parsed))
            else:
                members[0] = _Member(members[0].file, members[0].scan, *parsed)
        if members:
            series.append(_summarise(uid, members))
    series.sort(key=lambda s: (s.modality, s.description, s.series_uid))
    return Discovery(tuple(series), tuple(unreadable), tuple(directories))


def _is_media_directory(file: Path) -> bool:
    """True for a DICOMDIR (file meta MediaStorageSOPClassUID 1.2.840.10008.1.3.10)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            meta = pydicom.filereader.read_file_meta_info(file)
    except (InvalidDicomError, OSError, ValueError, KeyError, EOFError):
        return False
    return str(meta.get("MediaStorageSOPClassUID", "")).strip() == MEDIA_DIRECTORY_SOP_CLASS


@dataclass(frozen=True)
class _Member:
    file: Path
    scan: FileScan | None
    dataset: Dataset | None
    offset: int | None

    def text(self, tag: int, keyword: str) -> str | None:
        if self.scan is not None:
            return self.scan.text(tag)
        assert self.dataset is not None
        return _str(self.dataset, keyword)


def _parse(file: Path) -> tuple[Dataset, int | None] | str:
    """pydicom header (no pixels) and PixelData offset, or why the file is unreadable."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with file.open("rb") as fh:
                ds = pydicom.dcmread(fh, stop_before_pixels=True)
                # pydicom stops at the start of the PixelData element
                offset: int | None = fh.tell()
        except (InvalidDicomError, OSError, ValueError, KeyError, EOFError) as exc:
            return f"{type(exc).__name__}: {exc}"
    if caught and "SeriesInstanceUID" not in ds:
        return f"parse problems: {caught[0].message}"
    return ds, offset


def _summarise(uid: str, members: list[_Member]) -> SeriesInfo:
    files = tuple(m.file for m in members)
    first = members[0].dataset
    assert first is not None
    sop = _str(first, "SOPClassUID") or ""
    try:
        sop_name = UID(sop).name if sop else "unknown"
    except (ValueError, KeyError):
        sop_name = sop
    n_frames = 0
    for m in members:
        try:
            n_frames += int(m.text(NUMBER_OF_FRAMES, "NumberOfFrames") or 1)
        except (TypeError, ValueError):
            n_frames += 1
    return SeriesInfo(
        series_uid=uid,
        study_uid=_str(first, "StudyInstanceUID"),
        patient_id=_str(first, "PatientID"),
        modality=_str(first, "Modality") or "OT",
        sop_class_uid=sop,
        sop_class_name=str(sop_name),
        description=_str(first, "SeriesDescription") or "",
        n_files=len(files),
        n_frames=n_frames,
        units=units_of(first),
        radiopharmaceutical=radiopharmaceutical_of(first),
        acquisition_time=_acq_time(members),
        frame_of_reference_uid=_str(first, "FrameOfReferenceUID"),
        files=files,
        scans=tuple(m.scan for m in members),
        known_headers=tuple(m.dataset for m in members),
        pixel_offsets=tuple(m.offset for m in members),
    )


def select_series(
    found: Discovery | Sequence[SeriesInfo],
    *,
    series_uid: str | None = None,
    modalities: Sequence[str] | None = None,
) -> SeriesInfo:
    """Pick one series: by UID, or the only image series of ``modalities``.

    Raises :class:`DicomMetadataError` when the choice is ambiguous (several
    candidate series in the folder) or empty, listing the candidates and the
    ``--series`` override.
    """
    series = found.series if isinstance(found, Discovery) else tuple(found)
    if series_uid is not None:
        for s in series:
            if s.series_uid == series_uid:
                return s
        raise DicomMetadataError(
            "SeriesInstanceUID (0020,000E)",
            expected=f"one of {[s.series_uid for s in series]}",
            actual=series_uid,
            fix="list the series with `sstrkit dicom ls DIR` and pass one UID with --series",
        )
    wanted = {m.upper() for m in modalities} if modalities else None
    candidates = [
        s
        for s in series
        if (wanted is None or s.modality.upper() in wanted)
        and (s.is_image or s.sop_class_uid.startswith(SECONDARY_CAPTURE_PREFIX))
    ]
    if not candidates:
        raise DicomMetadataError(
            "Modality (0008,0060)",
            expected=f"an image series of modality {sorted(wanted) if wanted else 'any'}",
            actual=f"series {[(s.modality, s.sop_class_name) for s in series]}",
            fix="point to the folder holding the series (see `sstrkit dicom ls DIR`)",
        )
    if len(candidates) > 1:
        listing = "; ".join(
            f"{s.series_uid} ({s.modality}, {s.description or 'no description'}, {s.n_files} files)"
            for s in candidates
        )
        raise DicomMetadataError(
            "SeriesInstanceUID (0020,000E)",
            expected="one image series in the folder (mixed series found)",
            actual=listing,
            fix="choose one with --series UID (API: series_uid=...)",
        )
    return candidates[0]
