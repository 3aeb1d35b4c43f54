"""Find DICOM series in a folder tree.

Files are recognised by content (the ``DICM`` preamble), never by name, so
any file layout works. Headers are read without pixel data: every file is
scanned with :func:`sstrkit.io.dicom_scan.scan_file` (the attributes needed
to group and read series, no pydicom objects); pydicom parses the first file
of each series (for the summary), any file the fast scan cannot handle, and
other headers only when asked (:meth:`SeriesInfo.header`).

A DICOMDIR (Media Storage Directory, the index of a CD or PACS export) is
read as what it is, an index: the files it references (``ReferencedFileID``
of its directory records, relative to its folder, matched without regard to
case as on ISO 9660 media) are added to the files found, also when the
DICOMDIR itself is given as ``root`` and when a referenced file lacks the
``DICM`` preamble; files it lists that are missing are reported in
:attr:`Discovery.warnings`, never as an error. Series are still identified by
content (SeriesInstanceUID of each file), never by the index's records, and a
DICOMDIR that cannot be read as an index is only a warning: its folder's files
are found by content.

Examples
--------
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     found = discover(d)
>>> found.series, found.unreadable, found.warnings
((), (), ())
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
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

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
    index the files of a PACS/CD export and hold no image; the files they
    reference are part of the search (see the module docstring), and they are
    never reported as unreadable. ``missing`` holds the files a DICOMDIR lists
    that do not exist, and ``warnings`` one line per finding that is not an
    error (missing referenced files, a DICOMDIR that is not a readable index).
    """

    series: tuple[SeriesInfo, ...]
    unreadable: tuple[tuple[Path, str], ...]
    media_directories: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = ()
    missing: tuple[Path, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "series": [s.to_dict() for s in self.series],
            "unreadable": [{"file": str(p), "reason": r} for p, r in self.unreadable],
            "media_directories": [str(p) for p in self.media_directories],
            "missing_referenced_files": [str(p) for p in self.missing],
            "warnings": list(self.warnings),
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
        except (DicomMetadataError, ValueError, OverflowError):
            continue  # the listing's acquisition time is for information only
        if best is None or t < best:
            best = t
    return best.isoformat() if best else None


def discover(
    root: str | os.PathLike[str],
    *,
    progress: Callable[[int], None] | None = None,
) -> Discovery:
    """Scan ``root`` (a folder tree, one file, or a DICOMDIR) and group DICOM files by series.

    Files without the DICOM preamble are ignored (unless a DICOMDIR lists
    them); files that have one but cannot be parsed are listed in
    :attr:`Discovery.unreadable`. A DICOMDIR adds the files it references and
    reports those that are missing in :attr:`Discovery.warnings`. Series are
    sorted by modality, then description.
    """
    path = Path(root)
    if not path.exists():
        raise InvalidInputError(
            "DICOM folder", expected="an existing folder or file", actual=str(path)
        )
    state = _Collector(progress)
    for file in iter_files(path):
        state.add(file, referenced=False)
    done = 0
    while done < len(state.directories):  # a referenced file may be a DICOMDIR itself
        dicomdir = state.directories[done]
        done += 1
        refs = _dicomdir_references(dicomdir, state.warnings)
        if refs is None:
            if dicomdir == path:  # given the index itself: search its folder by content
                state.warnings.append(f"the files in {dicomdir.parent} are found by content")
                for file in iter_files(dicomdir.parent):
                    state.add(file, referenced=False)
            continue
        _add_references(state, dicomdir, refs)
    series: list[SeriesInfo] = []
    for uid, members in state.groups.items():
        # the summary needs one full header; a file pydicom cannot parse is unreadable
        while members and members[0].dataset is None:
            parsed = _parse(members[0].file)
            if isinstance(parsed, str):
                state.unreadable.append((members.pop(0).file, parsed))
            else:
                members[0] = _Member(members[0].file, members[0].scan, *parsed)
        if members:
            series.append(_summarise(uid, members))
    series.sort(key=lambda s: (s.modality, s.description, s.series_uid))
    return Discovery(
        tuple(series),
        tuple(state.unreadable),
        tuple(state.directories),
        tuple(state.warnings),
        tuple(state.missing),
    )


#: How many file names a warning about missing referenced files quotes.
_MISSING_QUOTED = 3


class _Collector:
    """The files of one :func:`discover` call, grouped by series as they are added."""

    def __init__(self, progress: Callable[[int], None] | None) -> None:
        self.progress = progress
        self.groups: dict[str, list[_Member]] = defaultdict(list)
        self.unreadable: list[tuple[Path, str]] = []
        self.directories: list[Path] = []
        self.warnings: list[str] = []
        self.missing: list[Path] = []
        self.seen: set[str] = set()
        self.n = 0

    def add(self, file: Path, *, referenced: bool) -> None:
        """Classify ``file`` (once): series member, DICOMDIR, unreadable or not DICOM."""
        key = os.path.normpath(file)
        if key in self.seen:
            return
        self.n += 1
        if self.progress is not None:
            self.progress(self.n)
        if not _is_dicom_file(file):
            if referenced:  # else a DICOMDIR found later may still list it
                self.seen.add(key)
                self._add_forced(file)
            return
        self.seen.add(key)
        scan = scan_file(file)
        scan_uid = scan.text(SERIES_INSTANCE_UID) if scan is not None else None
        if scan is not None and scan_uid is not None:
            self.groups[scan_uid].append(_Member(file, scan, None, scan.pixel_offset))
            return
        parsed = _parse(file)
        if isinstance(parsed, str):
            if _is_media_directory(file):
                self.directories.append(file)
            else:
                self.unreadable.append((file, parsed))
            return
        ds, offset = parsed
        uid = _str(ds, "SeriesInstanceUID")
        if uid is None:
            if _is_media_directory(file, ds):
                self.directories.append(file)
            else:
                self.unreadable.append((file, "no SeriesInstanceUID (0020,000E)"))
            return
        self.groups[uid].append(_Member(file, None, ds, offset))

    def _add_forced(self, file: Path) -> None:
        """A file a DICOMDIR lists that has no ``DICM`` preamble (a bare dataset)."""
        parsed = _parse(file, force=True)
        if isinstance(parsed, str):
            reason = parsed
        else:
            ds, offset = parsed
            uid = _str(ds, "SeriesInstanceUID")
            if uid is not None and _str(ds, "SOPClassUID") is not None:
                implicit, little = getattr(ds, "original_encoding", (None, None))
                if "TransferSyntaxUID" not in ds.file_meta and little:
                    # no file meta: record the encoding pydicom found, for the pixel reader
                    ds.file_meta.TransferSyntaxUID = (
                        ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
                    )
                self.groups[uid].append(_Member(file, None, ds, offset))
                return
            reason = "no SeriesInstanceUID (0020,000E) or SOPClassUID (0008,0016)"
        self.unreadable.append(
            (file, f"listed in a DICOMDIR but not a readable DICOM file (no preamble; {reason})")
        )


def _dicomdir_references(dicomdir: Path, warnings_out: list[str]) -> list[list[str]] | None:
    """The ``ReferencedFileID`` components of every record of ``dicomdir``.

    None (and a warning) when the file cannot be read as an index: it is then
    skipped, never reported as unreadable.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(dicomdir, force=True)
            records = ds.get("DirectoryRecordSequence")
            if records is None:
                raise ValueError("no DirectoryRecordSequence (0004,1220)")
            refs: list[list[str]] = []
            for record in records:
                value = record.get("ReferencedFileID")
                if value is None or value == "":
                    continue
                parts = [value] if isinstance(value, str) else [str(v) for v in value]
                parts = [p.strip() for p in parts if p.strip()]
                if parts:
                    refs.append(parts)
    except Exception as exc:  # pydicom raises many types for a damaged file
        warnings_out.append(
            f"DICOMDIR {dicomdir} could not be read as an index "
            f"({type(exc).__name__}: {' '.join(str(exc).split())}); it is skipped"
        )
        return None
    return refs


def _add_references(state: _Collector, dicomdir: Path, refs: Sequence[Sequence[str]]) -> None:
    """Add the files ``dicomdir`` references; missing ones become a warning."""
    listing: dict[Path, dict[str, str]] = {}
    missing: list[Path] = []
    outside = 0
    for parts in refs:
        if any(p in (".", "..") or "/" in p or "\\" in p for p in parts):
            outside += 1  # a component that leaves the DICOMDIR's folder: not a file ID
            continue
        found = _resolve(dicomdir.parent, parts, listing)
        if found is None:
            missing.append(dicomdir.parent.joinpath(*parts))
        else:
            state.add(found, referenced=True)
    if outside:
        state.warnings.append(
            f"DICOMDIR {dicomdir} has {outside} ReferencedFileID (0004,1500) value(s) "
            "pointing outside its folder; they are ignored"
        )
    if missing:
        state.missing.extend(missing)
        quoted = ", ".join(str(p) for p in missing[:_MISSING_QUOTED])
        if len(missing) > _MISSING_QUOTED:
            quoted += f" and {len(missing) - _MISSING_QUOTED} more"
        state.warnings.append(
            f"DICOMDIR {dicomdir} lists {len(missing)} file(s) that are missing: {quoted} "
            "(the series are read from the files present; copy the whole export again if "
            "images are missing)"
        )


def _resolve(
    folder: Path, parts: Sequence[str], listing: dict[Path, dict[str, str]]
) -> Path | None:
    """``folder/parts...`` as on disk: exact, else case-insensitive (ISO 9660 ``;1`` dropped)."""
    exact = folder.joinpath(*parts)
    if exact.is_file():
        return exact
    current = folder
    for part in parts:
        names = listing.get(current)
        if names is None:
            try:
                names = {n.upper(): n for n in sorted(os.listdir(current), reverse=True)}
            except OSError:
                return None
            listing[current] = names
        wanted = part.upper()
        name = names.get(wanted) or names.get(f"{wanted};1") or names.get(f"{wanted}.")
        if name is None:
            return None
        current = current / name
    return current if current.is_file() else None


def _is_media_directory(file: Path, ds: Dataset | None = None) -> bool:
    """True for a DICOMDIR: file meta MediaStorageSOPClassUID 1.2.840.10008.1.3.10, a
    DirectoryRecordSequence (0004,1220), or (when the header is damaged) the name DICOMDIR."""
    if ds is not None and "DirectoryRecordSequence" in ds:
        return True
    if file.name.upper() == "DICOMDIR":
        return True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # values are converted (and validated) on use
            meta = pydicom.filereader.read_file_meta_info(file)
            sop_class = str(meta.get("MediaStorageSOPClassUID", "")).strip()
    except Exception:  # a damaged file meta (struct.error, BytesLengthException...)
        return False
    return sop_class == MEDIA_DIRECTORY_SOP_CLASS


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


def _parse(file: Path, *, force: bool = False) -> tuple[Dataset, int | None] | str:
    """pydicom header (no pixels) and PixelData offset, or why the file is unreadable.

    ``force`` reads a dataset without the ``DICM`` preamble (a file a DICOMDIR lists).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with file.open("rb") as fh:
                ds = pydicom.dcmread(fh, stop_before_pixels=True, force=force)
                # pydicom stops at the start of the PixelData element
                offset: int | None = fh.tell()
        except Exception as exc:  # pydicom raises many types (struct.error, BytesLength...)
            return f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        meta = getattr(ds, "file_meta", None)
        problem = _convert_values(meta) if meta is not None else None
        meta_class = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
        # a DICOMDIR (often thousands of records) is read as an index, not converted here
        if problem is None and meta_class != MEDIA_DIRECTORY_SOP_CLASS:
            problem = _convert_values(ds)
    if problem is not None:
        return problem
    if caught and "SeriesInstanceUID" not in ds:
        return f"parse problems: {caught[0].message}"
    return ds, offset


def _convert_values(ds: Dataset) -> str | None:
    """Convert every value now, while :func:`_parse` records warnings; None, or why not.

    pydicom converts (and validates) a value when it is first used and warns
    about an invalid one (``Invalid value for VR DS``), which would be a stray
    line on stderr at that later point; the readers check the values
    themselves and report a bad one as an error. A standard element pydicom
    cannot convert at all (a sequence cut short, an IS beyond any integer)
    makes the file unreadable, with that element named; a private one stays
    as read (sstrkit reads private elements only through its own checks).
    """
    for tag in list(ds.keys()):
        try:
            elem = ds[tag]
            items = elem.value if elem.VR == "SQ" and elem.value is not None else ()
        except Exception as exc:
            if tag.is_private:
                continue
            name = keyword_for_tag(tag) or "element"
            return (
                f"{name} ({tag.group:04X},{tag.element:04X}) cannot be read: "
                f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            )
        for item in items:
            problem = _convert_values(item)
            if problem is not None:
                return problem
    return None


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
