"""Load small-animal PET/SPECT images for quantification (DICOM or NIfTI + JSON sidecar).

Uses the readers of :mod:`sstrkit.io`: a DICOM folder is read with
:func:`~sstrkit.io.dicom_read.read_series` and converted to Bq/mL decay corrected
to its reference time with :func:`~sstrkit.io.suv.activity_concentration`; a
NIfTI file with :func:`~sstrkit.io.nifti.read_nifti` (the sidecar gives unit and
reference time). The administration is taken from the DICOM
RadiopharmaceuticalInformationSequence (RadiopharmaceuticalStartDateTime, else
RadiopharmaceuticalStartTime on the series date; RadionuclideTotalDose;
RadionuclideHalfLife) or from the sidecar keys ``injection_time`` (ISO 8601),
``injected_activity_bq`` and ``half_life_s``. Times without a zone take
TimezoneOffsetFromUTC, else UTC — the convention of :mod:`sstrkit.io`, so that
the image and injection times come from the same clock.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.io.dicom_read import read_series
from sstrkit.io.dicom_time import parse_da_tm, parse_dt, tz_from_offset
from sstrkit.io.nifti import read_nifti, sidecar_path
from sstrkit.io.suv import activity_concentration

__all__ = ["LoadedImage", "load_activity_image"]


@dataclass(frozen=True)
class LoadedImage:
    """An activity-concentration volume and the administration found in its metadata."""

    volume: Volume
    injection_time: _dt.datetime | None
    injected_activity_bq: float | None
    half_life_s: float | None
    warnings: tuple[str, ...] = ()


def _positive_or_none(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def _from_dicom(path: Path) -> LoadedImage:
    series = read_series(path, modalities=("PT", "NM"))
    act = activity_concentration(series)
    ds = series.header
    off = ds.get("TimezoneOffsetFromUTC")
    tz: _dt.tzinfo = tz_from_offset(str(off)) if off else _dt.UTC
    seq = ds.get("RadiopharmaceuticalInformationSequence")
    item = seq[0] if seq else None
    t_inj: _dt.datetime | None = None
    dose = hl = None
    if item is not None:
        start_dt = item.get("RadiopharmaceuticalStartDateTime")
        start_tm = item.get("RadiopharmaceuticalStartTime")
        date = ds.get("SeriesDate") or ds.get("AcquisitionDate") or ds.get("StudyDate")
        if start_dt:
            t_inj = parse_dt(str(start_dt), tz, tag="RadiopharmaceuticalStartDateTime (0018,1078)")
        elif start_tm and date:
            t_inj = parse_da_tm(
                str(date), str(start_tm), tz, tag="RadiopharmaceuticalStartTime (0018,1072)"
            )
        dose = _positive_or_none(item.get("RadionuclideTotalDose"))
        hl = _positive_or_none(item.get("RadionuclideHalfLife"))
    return LoadedImage(act.volume, t_inj, dose, hl, act.warnings)


def _from_nifti(path: Path) -> LoadedImage:
    vol = read_nifti(path)
    side = sidecar_path(path)
    meta: dict[str, Any] = json.loads(side.read_text(encoding="utf-8")) if side.exists() else {}
    t_text = meta.get("injection_time")
    t_inj = None
    if t_text:
        try:
            t_inj = _dt.datetime.fromisoformat(str(t_text))
        except ValueError:
            raise InvalidInputError(
                f"injection_time in {side.name}",
                expected="ISO 8601 date and time",
                actual=t_text,
            ) from None
    warnings = () if side.exists() else (f"no sidecar {side.name}: unit and time unknown",)
    return LoadedImage(
        vol,
        t_inj,
        _positive_or_none(meta.get("injected_activity_bq")),
        _positive_or_none(meta.get("half_life_s")),
        warnings,
    )


def load_activity_image(path: str | os.PathLike[str]) -> LoadedImage:
    """Read a PET/SPECT DICOM folder or a NIfTI file (see the module text)."""
    p = Path(path)
    if p.name.endswith((".nii", ".nii.gz")):
        return _from_nifti(p)
    if p.is_dir() or p.suffix.lower() == ".dcm":
        return _from_dicom(p if p.is_dir() else p.parent)
    raise InvalidInputError(
        "image", expected="a DICOM folder or a .nii/.nii.gz file", actual=str(p)
    )
