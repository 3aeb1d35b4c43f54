"""Stored pixel values of DICOM image files.

Uncompressed little-endian data (8, 16 or 32 bits allocated) are viewed
without copying (:func:`_pixels`) or, for a single-frame file whose PixelData
position is known from discovery, read straight from that offset into a
buffer (:func:`_raw_plane`, :func:`_read_plane_into`: saves a second full
parse). Anything else is decoded by pydicom. Truncated or undecodable pixel
data are a :class:`~sstrkit.errors.DicomMetadataError` naming the file.

Examples
--------
>>> _NATIVE_LE
('1.2.840.10008.1.2', '1.2.840.10008.1.2.1')
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from sstrkit.errors import DicomMetadataError

__all__: list[str] = []

#: Transfer syntaxes read without pydicom's decoder: implicit and explicit VR little endian.
_NATIVE_LE = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")


def _pixels(ds: Dataset, file: str, n_frames: int) -> NDArray[Any]:
    """Stored pixel values as (frames, rows, cols) without copying where possible."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise DicomMetadataError(
            f"SamplesPerPixel (0028,0002) in {file}",
            expected="1 (grayscale)",
            actual=ds.SamplesPerPixel,
        )
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    native_le = ts in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", None)
    bits = int(ds.get("BitsAllocated", 16))
    try:
        if native_le and bits in (8, 16, 32) and "PixelData" in ds:
            signed = int(ds.get("PixelRepresentation", 0)) == 1
            dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
            raw = ds.PixelData
            need = rows * cols * n_frames * dtype.itemsize
            if len(raw) < need:
                raise DicomMetadataError(
                    f"PixelData (7FE0,0010) in {file}",
                    expected=f"{need} bytes ({n_frames}×{rows}×{cols}×{dtype.itemsize})",
                    actual=f"{len(raw)} bytes (truncated or corrupt file)",
                    fix="copy the file again from the archive",
                )
            arr = np.frombuffer(raw, dtype=dtype, count=rows * cols * n_frames)
            stored_bits = int(ds.get("BitsStored", bits))
            if stored_bits < bits:
                if signed:
                    shift = bits - stored_bits
                    arr = (arr << shift) >> shift
                else:
                    arr = arr & ((1 << stored_bits) - 1)
            return arr.reshape(n_frames, rows, cols)
        out = np.asarray(ds.pixel_array)
    except DicomMetadataError:
        raise
    except Exception as exc:  # pydicom raises many types for bad pixel data
        raise DicomMetadataError(
            f"PixelData (7FE0,0010) in {file}",
            expected="decodable pixel data",
            actual=f"{type(exc).__name__}: {exc}",
            fix="the file is corrupt or uses an unsupported compression; re-export it uncompressed",
        ) from None
    return out.reshape(n_frames, rows, cols)


def _raw_plane(ds: Dataset, file: str, offset: int | None) -> NDArray[Any] | None:
    """Stored values of a single-frame file read straight from the PixelData offset.

    Used for uncompressed little-endian files whose PixelData element position
    is known from discovery (saves a second full parse). Returns None when the
    file does not qualify; the caller then falls back to pydicom.
    """
    fm = getattr(ds, "file_meta", None)
    ts = fm.get("TransferSyntaxUID") if fm is not None else None
    bits = int(ds.get("BitsAllocated", 16))
    if offset is None or ts not in _NATIVE_LE or bits not in (8, 16, 32):
        return None
    if int(ds.get("BitsStored", bits)) != bits or int(ds.get("SamplesPerPixel", 1)) != 1:
        return None
    rows, cols = int(ds.Rows), int(ds.Columns)
    dtype = np.dtype(f"<{'i' if int(ds.get('PixelRepresentation', 0)) == 1 else 'u'}{bits // 8}")
    buf = np.empty((rows, cols), dtype=dtype)
    return buf if _read_plane_into(buf, file, offset, ts == _NATIVE_LE[1]) else None


def _read_plane_into(buf: NDArray[Any], file: str, offset: int, explicit: bool) -> bool:
    """Fill ``buf`` with the native PixelData found at ``offset``; False if not native there."""
    with open(file, "rb") as fh:
        fh.seek(offset)
        head = fh.read(12 if explicit else 8)
        if len(head) < (12 if explicit else 8):
            return False
        if head[:4] != b"\xe0\x7f\x10\x00":  # (7FE0,0010) little endian
            return False
        length = int.from_bytes(head[8:12] if explicit else head[4:8], "little")
        if length == 0xFFFFFFFF:  # encapsulated
            return False
        need = buf.nbytes
        got = fh.readinto(buf.data.cast("B"))
    if length < need or got < need:
        rows, cols = buf.shape
        raise DicomMetadataError(
            f"PixelData (7FE0,0010) in {file}",
            expected=f"{need} bytes (1×{rows}×{cols}×{buf.itemsize})",
            actual=f"{min(length, got)} bytes (truncated or corrupt file)",
            fix="copy the file again from the archive",
        )
    return True


def _dcmread_full(file: str) -> Dataset:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # header problems were seen in discovery
            return pydicom.dcmread(file)
    except (InvalidDicomError, OSError, ValueError, KeyError, EOFError) as exc:
        raise DicomMetadataError(
            f"file {file}",
            expected="a readable DICOM file",
            actual=f"{type(exc).__name__}: {exc}",
            fix="copy the file again from the archive or remove it",
        ) from None
