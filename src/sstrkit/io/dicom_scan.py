"""Fast structural scan of a DICOM file header (no pydicom objects).

Discovery of a 300-slice series with :func:`pydicom.dcmread` spends most of
its time building :class:`~pydicom.dataset.Dataset` objects and converting
values. Reading a series needs only ~25 top-level attributes of every file
(UIDs, geometry, rescale, timing, pixel format) and the offset of the pixel
data, so :func:`scan_file` walks the element structure of the file with
:mod:`struct` and keeps the raw bytes of just those attributes
(:data:`WANTED`). Every element and every nested sequence item is checked
for consistent lengths, like pydicom's eager parse; the values themselves
are decoded only on request.

Only Implicit VR Little Endian and Explicit VR Little Endian datasets are
scanned (the latter also covers encapsulated/compressed transfer syntaxes,
whose dataset encoding is explicit little endian). Anything else — big
endian, deflated, a file without a transfer syntax, a structural
inconsistency — returns ``None`` and the caller falls back to pydicom, so
unusual files keep pydicom's behaviour and error messages.

Examples
--------
>>> import tempfile, pathlib
>>> from pydicom.dataset import Dataset, FileMetaDataset
>>> from pydicom.uid import ExplicitVRLittleEndian
>>> ds = Dataset()
>>> ds.file_meta = FileMetaDataset()
>>> ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
>>> ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.128"
>>> ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
>>> ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.128"
>>> ds.SOPInstanceUID = "1.2.3.4"
>>> ds.SeriesInstanceUID = "1.2.3"
>>> ds.ImagePositionPatient = ["1.5", "-2", "30"]
>>> with tempfile.TemporaryDirectory() as d:
...     p = pathlib.Path(d) / "x.dcm"
...     ds.save_as(p, enforce_file_format=True)
...     scan = scan_file(p)
>>> scan.text(SERIES_INSTANCE_UID), scan.numbers(IMAGE_POSITION_PATIENT)
('1.2.3', [1.5, -2.0, 30.0])
>>> scan.pixel_offset is None
True
"""

from __future__ import annotations

import functools
import mmap
import os
import struct
from dataclasses import dataclass
from typing import Final

__all__ = [
    "EXPLICIT_VR_LE",
    "IMPLICIT_VR_LE",
    "WANTED",
    "FileScan",
    "scan_file",
]

IMPLICIT_VR_LE: Final = "1.2.840.10008.1.2"
EXPLICIT_VR_LE: Final = "1.2.840.10008.1.2.1"
#: big endian and deflated datasets are left to pydicom
_UNSCANNED_TS = frozenset({"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"})

# (group << 16) | element of the attributes kept (all of VR with ASCII values, or US)
SOP_CLASS_UID: Final = 0x00080016
SOP_INSTANCE_UID: Final = 0x00080018
STUDY_DATE: Final = 0x00080020
SERIES_DATE: Final = 0x00080021
ACQUISITION_DATE: Final = 0x00080022
ACQUISITION_TIME: Final = 0x00080032
MODALITY: Final = 0x00080060
TIMEZONE_OFFSET: Final = 0x00080201
GANTRY_TILT: Final = 0x00181120
ACTUAL_FRAME_DURATION: Final = 0x00181242
SERIES_INSTANCE_UID: Final = 0x0020000E
IMAGE_POSITION_PATIENT: Final = 0x00200032
IMAGE_ORIENTATION_PATIENT: Final = 0x00200037
FRAME_OF_REFERENCE_UID: Final = 0x00200052
SAMPLES_PER_PIXEL: Final = 0x00280002
NUMBER_OF_FRAMES: Final = 0x00280008
ROWS: Final = 0x00280010
COLUMNS: Final = 0x00280011
PIXEL_SPACING: Final = 0x00280030
BITS_ALLOCATED: Final = 0x00280100
BITS_STORED: Final = 0x00280101
PIXEL_REPRESENTATION: Final = 0x00280103
RESCALE_INTERCEPT: Final = 0x00281052
RESCALE_SLOPE: Final = 0x00281053
REAL_WORLD_VALUE_MAPPING: Final = 0x00409096
DETECTOR_INFORMATION: Final = 0x00540022
UNITS: Final = 0x00541001
DECAY_CORRECTION: Final = 0x00541102
FRAME_REFERENCE_TIME: Final = 0x00541300

#: Attributes whose raw value :func:`scan_file` keeps (sequences: presence only).
WANTED: Final = frozenset(
    {
        SOP_CLASS_UID,
        SOP_INSTANCE_UID,
        STUDY_DATE,
        SERIES_DATE,
        ACQUISITION_DATE,
        ACQUISITION_TIME,
        MODALITY,
        TIMEZONE_OFFSET,
        GANTRY_TILT,
        ACTUAL_FRAME_DURATION,
        SERIES_INSTANCE_UID,
        IMAGE_POSITION_PATIENT,
        IMAGE_ORIENTATION_PATIENT,
        FRAME_OF_REFERENCE_UID,
        SAMPLES_PER_PIXEL,
        NUMBER_OF_FRAMES,
        ROWS,
        COLUMNS,
        PIXEL_SPACING,
        BITS_ALLOCATED,
        BITS_STORED,
        PIXEL_REPRESENTATION,
        RESCALE_INTERCEPT,
        RESCALE_SLOPE,
        REAL_WORLD_VALUE_MAPPING,
        DETECTOR_INFORMATION,
        UNITS,
        DECAY_CORRECTION,
        FRAME_REFERENCE_TIME,
    }
)
_US_TAGS = frozenset({SAMPLES_PER_PIXEL, ROWS, COLUMNS, BITS_ALLOCATED, BITS_STORED,
                      PIXEL_REPRESENTATION})  # fmt: skip

_PRESENCE_ONLY = frozenset({REAL_WORLD_VALUE_MAPPING, DETECTOR_INFORMATION})
_PIXEL_DATA = 0x7FE00010
_ITEM = 0xFFFEE000
_ITEM_DELIM = 0xFFFEE00D
_SEQ_DELIM = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_SHORT_VRS = frozenset(
    {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN",
     b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"}
)  # fmt: skip
_TAG = struct.Struct("<HH")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_MAX_DEPTH = 32


@functools.cache
def _sequence_tags() -> frozenset[int]:
    """Tags of the standard dictionary with VR SQ (implicit VR files carry no VR)."""
    from pydicom._dicom_dict import DicomDictionary

    return frozenset(tag for tag, entry in DicomDictionary.items() if entry[0] == "SQ")


class _MalformedError(Exception):
    """The structure cannot be scanned; the caller falls back to pydicom."""


@dataclass(frozen=True, slots=True)
class FileScan:
    """Raw values of the :data:`WANTED` top-level attributes of one file.

    ``pixel_offset`` is the file offset of the PixelData (7FE0,0010) element
    header (``None`` when the file has none).
    """

    transfer_syntax: str
    pixel_offset: int | None
    raw: dict[int, bytes]

    @property
    def explicit_vr(self) -> bool:
        return self.transfer_syntax != IMPLICIT_VR_LE

    def has(self, tag: int) -> bool:
        return tag in self.raw

    def text(self, tag: int) -> str | None:
        """String value (padding stripped), ``None`` when absent or empty."""
        raw = self.raw.get(tag)
        if raw is None:
            return None
        return raw.decode("ascii").strip(" \x00") or None

    def numbers(self, tag: int) -> list[float] | None:
        """DS/IS values as floats; ``None`` when absent or empty.

        Raises :class:`ValueError` when a value is not a number.
        """
        text = self.text(tag)
        if text is None:
            return None
        return [float(v) for v in text.split("\\")]

    def number(self, tag: int) -> float | None:
        """Single DS/IS value; raises :class:`ValueError` unless exactly one number."""
        values = self.numbers(tag)
        if values is None:
            return None
        if len(values) != 1:
            raise ValueError(f"{len(values)} values")
        return values[0]

    def ushort(self, tag: int) -> int | None:
        """US value; raises :class:`ValueError` when not 2 bytes."""
        raw = self.raw.get(tag)
        if raw is None or len(raw) == 0:
            return None
        if len(raw) != 2:
            raise ValueError(f"US value of {len(raw)} bytes")
        return int(_U16.unpack(raw)[0])


def scan_file(path: str | os.PathLike[str]) -> FileScan | None:
    """Scan a DICOM Part 10 file (with the 128-byte preamble and ``DICM``).

    Returns ``None`` when the file cannot be scanned this way (the caller then
    uses pydicom, which handles or reports it).
    """
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < 140:
                return None
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _scan(buf, size)
    except (OSError, ValueError, _MalformedError, struct.error, UnicodeDecodeError):
        return None


def _scan(buf: mmap.mmap, size: int) -> FileScan | None:
    if buf[128:132] != b"DICM":
        return None
    # file meta information: always explicit VR little endian, group 0002
    pos = 132
    ts: str | None = None
    while pos + 8 <= size:
        group, elem = _TAG.unpack_from(buf, pos)
        if group != 0x0002:
            break
        meta_vr = buf[pos + 4 : pos + 6]
        if meta_vr in _LONG_VRS:
            length = _U32.unpack_from(buf, pos + 8)[0]
            start = pos + 12
        else:
            length = _U16.unpack_from(buf, pos + 6)[0]
            start = pos + 8
        if length == _UNDEFINED or start + length > size:
            return None
        if elem == 0x0010:
            ts = bytes(buf[start : start + length]).decode("ascii").strip(" \x00")
        pos = start + length
    if not ts or ts in _UNSCANNED_TS:
        return None
    explicit = ts != IMPLICIT_VR_LE
    raw: dict[int, bytes] = {}
    pixel_offset: int | None = None
    while pos < size:
        if pos + 8 > size:
            raise _MalformedError("truncated element header")
        group, elem = _TAG.unpack_from(buf, pos)
        tag = (group << 16) | elem
        if tag == _PIXEL_DATA:
            pixel_offset = pos
            break
        # element header (inlined _element_header: this loop runs for every element)
        if explicit:
            vr: bytes | None = buf[pos + 4 : pos + 6]
            if vr in _LONG_VRS:
                length = _U32.unpack_from(buf, pos + 8)[0]
                start = pos + 12
            elif vr in _SHORT_VRS:
                length = _U16.unpack_from(buf, pos + 6)[0]
                start = pos + 8
            else:
                start, length, vr = _element_header(buf, pos, size, explicit)
        else:
            vr = None
            length = _U32.unpack_from(buf, pos + 4)[0]
            start = pos + 8
        if length == _UNDEFINED:
            if tag in WANTED:
                if tag not in _PRESENCE_ONLY:
                    raise _MalformedError("undefined length of a plain attribute")
                raw[tag] = b""
            pos = _skip_sequence(buf, start, size, explicit and vr != b"UN", 1)
            continue
        end = start + length
        if end > size:
            raise _MalformedError("value past the end of the file")
        if tag in WANTED:
            if vr == b"SQ" or tag in _PRESENCE_ONLY:
                raw[tag] = b""  # presence only
            else:
                raw[tag] = bytes(buf[start:end])
        if vr == b"SQ" or (vr is None and tag in _sequence_tags()):
            _check_items(buf, start, end, explicit, 1)
        pos = end
    for tag, value in raw.items():
        if tag not in _US_TAGS:
            value.decode("ascii")  # text() never fails later (non-ASCII: pydicom decides)
    return FileScan(ts, pixel_offset, raw)


def _element_header(
    buf: mmap.mmap, pos: int, size: int, explicit: bool
) -> tuple[int, int, bytes | None]:
    """(value start, value length, VR) of the element at ``pos``."""
    if not explicit:
        return pos + 8, _U32.unpack_from(buf, pos + 4)[0], None
    vr = bytes(buf[pos + 4 : pos + 6])
    if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
        raise _MalformedError(f"invalid VR {vr!r}")
    if vr in _LONG_VRS:
        if pos + 12 > size:
            raise _MalformedError("truncated element header")
        return pos + 12, _U32.unpack_from(buf, pos + 8)[0], vr
    return pos + 8, _U16.unpack_from(buf, pos + 6)[0], vr


def _skip_sequence(buf: mmap.mmap, pos: int, size: int, explicit: bool, depth: int) -> int:
    """Walk an undefined-length sequence from its first item; return the position after it."""
    if depth > _MAX_DEPTH:
        raise _MalformedError("sequences nested too deep")
    while True:
        if pos + 8 > size:
            raise _MalformedError("sequence without delimiter")
        group, elem = _TAG.unpack_from(buf, pos)
        tag = (group << 16) | elem
        length = _U32.unpack_from(buf, pos + 4)[0]
        pos += 8
        if tag == _SEQ_DELIM:
            return pos
        if tag != _ITEM:
            raise _MalformedError("expected a sequence item")
        if length == _UNDEFINED:
            pos = _walk_item(buf, pos, size, explicit, depth, None)
        else:
            if pos + length > size:
                raise _MalformedError("item past the end of the file")
            _walk_item(buf, pos, pos + length, explicit, depth, pos + length)
            pos += length


def _check_items(buf: mmap.mmap, pos: int, end: int, explicit: bool, depth: int) -> None:
    """Walk the items of a defined-length sequence value ``[pos, end)``."""
    if depth > _MAX_DEPTH:
        raise _MalformedError("sequences nested too deep")
    while pos < end:
        if pos + 8 > end:
            raise _MalformedError("truncated item")
        group, elem = _TAG.unpack_from(buf, pos)
        if (group << 16) | elem != _ITEM:
            raise _MalformedError("expected a sequence item")
        length = _U32.unpack_from(buf, pos + 4)[0]
        pos += 8
        if length == _UNDEFINED:
            pos = _walk_item(buf, pos, end, explicit, depth, None)
        else:
            if pos + length > end:
                raise _MalformedError("item past the end of its sequence")
            _walk_item(buf, pos, pos + length, explicit, depth, pos + length)
            pos += length


def _walk_item(
    buf: mmap.mmap, pos: int, size: int, explicit: bool, depth: int, item_end: int | None
) -> int:
    """Walk the elements of an item; return the position after it (and its delimiter)."""
    while True:
        if item_end is not None and pos == item_end:
            return pos
        if pos + 8 > size:
            raise _MalformedError("truncated item")
        group, elem = _TAG.unpack_from(buf, pos)
        tag = (group << 16) | elem
        if tag == _ITEM_DELIM:
            return pos + 8
        start, length, vr = _element_header(buf, pos, size, explicit)
        if length == _UNDEFINED:
            pos = _skip_sequence(buf, start, size, explicit and vr != b"UN", depth + 1)
            continue
        end = start + length
        if end > size:
            raise _MalformedError("value past the end of its item")
        if vr == b"SQ" or (vr is None and tag in _sequence_tags()):
            _check_items(buf, start, end, explicit, depth + 1)
        pos = end
