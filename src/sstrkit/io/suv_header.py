"""Header values the SUV computation reads from a PET/SPECT DICOM dataset.

Numbers that may be absent or empty (:func:`_num`), private elements by their
creator (GE ``GEMS_PETD_01`` times, Philips scale factors), values of elements
read without their VR (UN bytes), the time zone of the header and the
radiopharmaceutical item. Used by :mod:`sstrkit.io.suv` and its helper modules
(:mod:`sstrkit.io.suv_inputs`, :mod:`sstrkit.io.suv_timing`,
:mod:`sstrkit.io.suv_activity`).

**Philips scale factors** (group 7053, creator "Philips PET Private Group"):
(7053,xx00) is the SUV scale factor (SUVbw = CNTS × factor), (7053,xx09) the
activity concentration scale factor (Bq/mL = CNTS × factor). When no creator
element is present in the group at all (anonymisers often drop it), the
element at the creator's usual block position (7053,10xx) is read by tag
position, with a warning.

Examples
--------
>>> _as_float(b"1.5 "), _as_float("  "), _as_float("inf")
(1.5, None, None)
"""

from __future__ import annotations

import datetime as _dt
import math
import struct
from typing import Any

from pydicom.dataset import Dataset

from sstrkit.errors import DicomMetadataError
from sstrkit.io.dicom_time import tz_from_offset

__all__ = ["PHILIPS_CREATOR"]

#: Private creator of the Philips PET scale factors (7053,xx00) SUV and (7053,xx09) Bq/mL.
PHILIPS_CREATOR = "Philips PET Private Group"


def _tz(ds: Dataset) -> _dt.tzinfo:
    """Time zone of the header: TimezoneOffsetFromUTC (0008,0201), else UTC."""
    off = ds.get("TimezoneOffsetFromUTC")
    return tz_from_offset(str(off)) if off else _dt.UTC


def _num(ds: Dataset | None, keyword: str, tag: str) -> float | None:
    """Number of ``keyword`` (None when absent, empty or not finite); not a number raises."""
    if ds is None:
        return None
    value = ds.get(keyword)
    if value is None or str(value).strip() == "":
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DicomMetadataError(
            f"{keyword} ({tag})", expected="a number", actual=repr(value), fix="correct it"
        ) from None
    return v if math.isfinite(v) else None


def _private(ds: Dataset, group: int, offset: int, creator: str) -> Any:
    """Value of the private element (group, xx<offset>) of ``creator``, or None."""
    try:
        return ds.get_private_item(group, offset, creator).value
    except KeyError:
        return None


def _as_float(value: Any) -> float | None:
    """A DS/FD/FL value, or the raw bytes of an element read without its VR (UN)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
        try:
            return float(raw.decode("ascii").strip(" \x00"))
        except (UnicodeDecodeError, ValueError):
            if len(raw) == 8:
                return float(struct.unpack("<d", raw)[0])
            if len(raw) == 4:
                return float(struct.unpack("<f", raw)[0])
            return None
    if str(value).strip() == "":
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _philips_factor(ds: Dataset, offset: int, warnings: list[str]) -> float | None:
    """Philips (7053,xx<offset>) scale factor.

    Read through its private creator "Philips PET Private Group"; when no
    creator element is present at all in group 7053 (anonymisers often drop
    it), the element at the creator's usual block position (7053,10xx) is read
    by tag position, with a warning.
    """
    creators = [str(ds[(0x7053, e)].value).strip() for e in range(0x10, 0x100) if (0x7053, e) in ds]
    tag = f"(7053,10{offset:02X})"
    if PHILIPS_CREATOR in creators:
        return _as_float(_private(ds, 0x7053, offset, PHILIPS_CREATOR))
    if creators:  # the block belongs to another creator: not Philips' factor
        return None
    elem = ds.get((0x7053, 0x1000 + offset))
    if elem is None:
        return None
    value = _as_float(elem.value)
    if value is not None:
        name = "SUV scale factor" if offset == 0x00 else "activity concentration scale factor"
        warnings.append(
            f"Philips {name} {tag} = {value:g} read by tag position: its private creator "
            f"(7053,0010) {PHILIPS_CREATOR!r} is absent (anonymised header?)"
        )
    return value


def _radiopharm_item(ds: Dataset) -> Dataset | None:
    """First item of RadiopharmaceuticalInformationSequence (0054,0016), or None."""
    seq = ds.get("RadiopharmaceuticalInformationSequence")
    return seq[0] if seq else None
