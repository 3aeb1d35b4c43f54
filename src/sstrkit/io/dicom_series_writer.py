"""Byte-level writer of the single-frame files of one DICOM series.

A series is written from one template dataset encoded once
(:class:`SeriesWriter`); each file only encodes its own per-slice attributes
(SOP instance UID, instance number, position, rescale, pixels) and splices
them in tag order: byte for byte what pydicom's ``save_as`` writes for the
same dataset (tested). :func:`write_slices` writes a volume (made right-handed)
as one file per slice. Both are re-exported by :mod:`sstrkit.io.dicom_write`.

Examples
--------
>>> from pydicom.dataelem import DataElement
>>> _encoded(DataElement(0x00200013, "IS", 1), None)   # InstanceNumber, explicit VR LE
b' \\x00\\x13\\x00IS\\x02\\x001 '
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pydicom
from numpy.typing import NDArray
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset, validate_file_meta
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import correct_ambiguous_vr, write_data_element
from pydicom.tag import Tag
from pydicom.uid import UID, generate_uid

from sstrkit.core.atomic import apply_output_mode
from sstrkit.core.volume import Volume
from sstrkit.io.dicom_modules import _right_handed

__all__ = ["SeriesWriter", "write_slices"]

_PREAMBLE = b"\x00" * 128 + b"DICM"
_SOP_INSTANCE_UID = Tag("SOPInstanceUID")
_PIXEL_DATA = Tag("PixelData")
_MEDIA_SOP_INSTANCE_UID = Tag("MediaStorageSOPInstanceUID")
#: (0002,0000) FileMetaInformationGroupLength, explicit VR UL, value length 4
_GROUP_LENGTH = b"\x02\x00\x00\x00UL\x04\x00"


def _encoded(elem: DataElement, encodings: Any) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_data_element(fp, elem, encodings)
    return fp.getvalue()


class SeriesWriter:
    """Write the single-frame files of one series from a template encoded once.

    ``template`` (with ``file_meta``) holds every attribute the files share;
    its elements are encoded once, as pydicom's ``dcmwrite`` encodes them
    (explicit VR little endian, ambiguous VRs resolved, tag order). Each
    :meth:`write` encodes only the attributes named in ``per_slice`` plus a new
    SOP instance UID and the pixel data, splices them in tag order and writes
    the file atomically: the bytes are those ``save_as(enforce_file_format=True)``
    writes for the template with these attributes set (tested). The template is
    consumed (its SOPInstanceUID/PixelData are removed and VRs resolved).
    """

    def __init__(self, template: Dataset, per_slice: Iterable[str]) -> None:
        tags = {Tag(k) for k in per_slice} | {_SOP_INSTANCE_UID, _PIXEL_DATA}
        for tag in (_SOP_INSTANCE_UID, _PIXEL_DATA):
            if tag in template:
                del template[tag]
        clash = [t for t in tags if t in template]
        if clash:
            raise ValueError(f"per-slice attributes also in the template: {clash}")
        ds = correct_ambiguous_vr(template, True)
        self._encodings = ds.get("SpecificCharacterSet", "iso8859")
        # file meta (PS3.10 7.1): everything but the group length and the instance UID
        # is the same in every file; dcmwrite's defaults are added as it adds them
        meta = FileMetaDataset(ds.file_meta)
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = UID("1")
        validate_file_meta(meta, enforce_standard=True)
        self._meta_before = b"".join(
            _encoded(meta[t], None) for t in sorted(meta.keys()) if 0 < t.element < 3
        )
        self._meta_after = b"".join(
            _encoded(meta[t], None) for t in sorted(meta.keys()) if t.element > 3
        )
        self._tags = sorted(tags)
        self._pixel_vr = "OW" if int(ds.get("BitsAllocated", 16)) > 8 else "OB"
        segments: list[list[bytes]] = [[] for _ in range(len(self._tags) + 1)]
        slot = 0
        for tag in sorted(ds.keys()):
            if tag.element == 0 and tag.group > 6:  # retired group lengths (PS3.5 7.2)
                continue
            while slot < len(self._tags) and self._tags[slot] < tag:
                slot += 1
            segments[slot].append(_encoded(ds[tag], self._encodings))
        self._segments = [b"".join(seg) for seg in segments]
        self._dirs: set[Path] = set()

    def write(self, path: Path, values: Mapping[str, Any], pixels: bytes) -> Path:
        """Write one file with the per-slice ``values`` (keyword → value) and ``pixels``."""
        uid = generate_uid()
        meta_uid = _encoded(DataElement(_MEDIA_SOP_INSTANCE_UID, "UI", uid), None)
        group = len(self._meta_before) + len(meta_uid) + len(self._meta_after)
        own: dict[int, DataElement] = {
            _SOP_INSTANCE_UID: DataElement(_SOP_INSTANCE_UID, "UI", uid),
            _PIXEL_DATA: DataElement(_PIXEL_DATA, self._pixel_vr, pixels),
        }
        for keyword, value in values.items():
            tag = Tag(keyword)
            own[tag] = DataElement(tag, pydicom.datadict.dictionary_VR(tag), value)
        if set(own) != set(self._tags):
            raise ValueError(f"per-slice attributes {sorted(own)} != {self._tags}")
        parts = [
            _PREAMBLE,
            _GROUP_LENGTH + group.to_bytes(4, "little"),
            self._meta_before,
            meta_uid,
            self._meta_after,
            self._segments[0],
        ]
        for tag, segment in zip(self._tags, self._segments[1:], strict=True):
            parts.append(_encoded(own[tag], self._encodings))
            parts.append(segment)
        if path.parent not in self._dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".dcm", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(b"".join(parts))
            apply_output_mode(tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


def write_slices(
    template: Dataset,
    volume: Volume,
    out_dir: Path,
    prefix: str,
    per_slice: Iterable[str],
    encode: Callable[[NDArray[Any]], tuple[dict[str, Any], bytes]],
) -> list[Path]:
    """Write ``volume`` (made right-handed) as one file per slice from ``template``.

    ``encode(plane) -> (values, pixel bytes)`` gives each slice's own attributes
    (e.g. RescaleSlope) and stored pixels; InstanceNumber and
    ImagePositionPatient are always per slice, SliceLocation and ImageIndex
    when named in ``per_slice``. Files are ``<prefix>_0001.dcm`` ... in slice order.
    """
    arr, origin, d = _right_handed(volume)
    normal = d[:, 2]
    keys = {"InstanceNumber", "ImagePositionPatient", *per_slice}
    writer = SeriesWriter(template, keys)
    paths: list[Path] = []
    for k in range(arr.shape[0]):
        pos = origin + normal * volume.spacing[2] * k
        values: dict[str, Any] = {
            "InstanceNumber": k + 1,
            "ImagePositionPatient": [f"{v:.6f}" for v in pos],
        }
        if "SliceLocation" in keys:
            values["SliceLocation"] = f"{float(pos @ normal):.6f}"
        if "ImageIndex" in keys:
            values["ImageIndex"] = k + 1
        own, pixels = encode(arr[k])
        values.update(own)
        paths.append(writer.write(out_dir / f"{prefix}_{k + 1:04d}.dcm", values, pixels))
    return paths
