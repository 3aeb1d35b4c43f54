"""Numbers read from DICOM headers by the series reader, with typed errors.

A missing or empty value gives the default; a value that is not a number (or
not the expected count of finite numbers) is a
:class:`~sstrkit.errors.DicomMetadataError` naming the attribute, its tag and
the file. Used by :mod:`sstrkit.io.dicom_read` and its helper modules.

Examples
--------
>>> from pydicom.dataset import Dataset
>>> ds = Dataset()
>>> ds.RescaleSlope = "2.5"
>>> _float(ds, "RescaleSlope"), _float(ds, "RescaleIntercept", 0.0), _tag("RescaleSlope")
(2.5, 0.0, '0028,1053')
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from sstrkit.errors import DicomMetadataError

__all__: list[str] = []


def _float(ds: Dataset, keyword: str, default: float | None = None) -> float | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DicomMetadataError(
            f"{keyword} ({_tag(keyword)})",
            expected="a number",
            actual=repr(value),
            fix="correct the attribute",
        ) from None


def _tag(keyword: str) -> str:
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    if tag is None:
        return "?"
    return f"{tag >> 16:04X},{tag & 0xFFFF:04X}"


def _vec(ds: Dataset, keyword: str, n: int, file: str) -> NDArray[np.float64]:
    value = ds.get(keyword)
    try:
        arr = np.asarray([float(v) for v in value], dtype=float) if value is not None else None
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise DicomMetadataError(
            f"{keyword} ({_tag(keyword)}) in {file}",
            expected=f"{n} numbers",
            actual=repr(value),
            fix="the series lacks the geometry needed for a volume; export it again from "
            "the scanner/workstation",
        )
    return arr
