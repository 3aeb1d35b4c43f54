"""Reading one series: header fields, scan and administration times, radionuclide.

:func:`_analyse` turns a discovered series (:class:`sstrkit.io.discover.SeriesInfo`)
into a :class:`_Series`, the record the later intake steps fill in (candidate, role,
cycle, hours after injection, path). It reads the scan time after the
:mod:`sstrkit.io.suv` rules, the time zone of the header, the administration time
and activity, the radionuclide (code, text, half-life, Lu-177 energy window, then
descriptions) and the energy windows of an NM series; second copies of a SOP instance
are dropped. :func:`_owners` and :func:`_set_path` give each series the path the
manifest names (a folder, or the file list when the folder holds other series too).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from sstrkit.catalog.naming import name_key
from sstrkit.core.units import BQ_PER_MBQ, KEV_PER_MEV
from sstrkit.errors import SstrkitError
from sstrkit.io.dicom_scan import SOP_INSTANCE_UID
from sstrkit.io.dicom_time import parse_da_tm, parse_dt, tz_from_offset
from sstrkit.io.discover import Discovery, SeriesInfo
from sstrkit.io.suv import MIN_PLAUSIBLE_DOSE_BQ, nuclide_from_code_meaning

#: SOP classes of PET, NM and CT images.
PET_SOP = "1.2.840.10008.5.1.4.1.1.128"
NM_SOP = "1.2.840.10008.5.1.4.1.1.20"
CT_SOP = "1.2.840.10008.5.1.4.1.1.2"

#: SNOMED-RT codes of DICOM CID 4020 (RadionuclideCodeSequence CodeValue) → nuclide.
RADIONUCLIDE_CODE_VALUES = {
    "C-111A1": "F-18",
    "C-131A3": "Ga-68",
    "C-127A4": "Cu-64",
    "C-145A4": "Lu-177",
    "C-145A2": "In-111",
    "C-163A8": "Tc-99m",
    "C-162A7": "Y-90",
}

#: Radionuclide names in free text (Radiopharmaceutical, descriptions), lower case.
_TEXT_NUCLIDES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (nuc, re.compile(rx))
    for nuc, rx in (
        ("Lu-177", r"177\s*-?\s*lu|(?<![a-z])(lu|lutetium)\s*-?\s*177|lutathera|pluvicto"),
        ("Y-90", r"(?<!\d)90\s*-?\s*y(?![a-z])|(?<![a-z])(y|yttrium)\s*-?\s*90(?!\d)"),
        ("Ga-68", r"68\s*-?\s*ga|(?<![a-z])(ga|gallium)\s*-?\s*68|netspot|somakit"),
        ("Cu-64", r"64\s*-?\s*cu|(?<![a-z])(cu|copper)\s*-?\s*64|detectnet"),
        (
            "F-18",
            r"(?<!\d)18\s*-?\s*f(?![a-z])|(?<![a-z])(f|fluorine)\s*-?\s*18(?!\d)|fdg"
            r"|fludeoxyglucose|fluorodeoxyglucose",
        ),
        ("Tc-99m", r"99m\s*-?\s*tc|(?<![a-z])(tc|technetium)\s*-?\s*99m"),
        ("In-111", r"111\s*-?\s*in(?![a-z])|(?<![a-z])(in|indium)\s*-?\s*111|octreoscan"),
        ("I-131", r"131\s*-?\s*i(?![a-z])|(?<![a-z])(i|iodine)\s*-?\s*131"),
    )
)
#: Nuclides recognised from RadionuclideHalfLife (within 1 % of ICRP 107).
_HALF_LIFE_NUCLIDES = (
    "F-18", "Ga-68", "Cu-64", "Lu-177", "Y-90", "Tc-99m", "In-111", "I-131", "I-123", "Zr-89",
)  # fmt: skip


# --------------------------------------------------------------------------- header helpers
def _text(ds: Any, keyword: str) -> str | None:
    if ds is None:
        return None
    value = ds.get(keyword)
    if value is None:
        return None
    s = str(value).strip()
    return s or None


def _float(ds: Any, keyword: str) -> float | None:
    s = _text(ds, keyword)
    if s is None:
        return None
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _first_item(ds: Any, keyword: str) -> Any:
    seq = ds.get(keyword) if ds is not None else None
    return seq[0] if seq else None


def _private(ds: Any, offset: int) -> str | None:
    try:
        return str(ds.get_private_item(0x0009, offset, "GEMS_PETD_01").value).strip() or None
    except (KeyError, AttributeError, ValueError):
        return None


@cache
def _half_lives() -> tuple[tuple[str, float], ...]:
    from sstrkit.physics.nuclides import get_nuclide

    return tuple((n, get_nuclide(n).half_life_s) for n in _HALF_LIFE_NUCLIDES)


@cache
def _lu177_lines_kev() -> tuple[float, ...]:
    """Lu-177 γ lines with yield ≥ 5 % (ICRP 107): 112.9 and 208.4 keV."""
    from sstrkit.physics.nuclides import get_nuclide

    return tuple(e * KEV_PER_MEV for e, _ in get_nuclide("Lu-177").gammas(0.05))


def _nuclide_in_text(text: str) -> str | None:
    low = text.lower()
    found = [n for n, rx in _TEXT_NUCLIDES if rx.search(low)]
    return found[0] if len(found) == 1 else None


def _words(text: str, words: Iterable[str]) -> bool:
    key = name_key(text)
    return any(w in key for w in words)


def _energy_windows(ds: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in ds.get("EnergyWindowInformationSequence") or []:
        name = _text(item, "EnergyWindowName")
        for rng in item.get("EnergyWindowRangeSequence") or []:
            lo, hi = _float(rng, "EnergyWindowLowerLimit"), _float(rng, "EnergyWindowUpperLimit")
            if lo is not None and hi is not None:
                out.append({"name": name, "lower_kev": lo, "upper_kev": hi})
    return out


def _iso(t: _dt.datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def _fmt_time(t: _dt.datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M") if t is not None else "no time"


# --------------------------------------------------------------------------- one series
@dataclass
class _Series:
    """Everything intake needs from one series (mutable while roles are assigned)."""

    info: SeriesInfo
    kind: str  # "PET" (PET SOP), "NM", "CT", "other"
    ds: Any
    description: str
    files: tuple[Path, ...]
    duplicates: int = 0
    time: _dt.datetime | None = None
    time_source: str = ""
    zone_source: str = ""
    image_type: tuple[str, ...] = ()
    units: str | None = None
    nuclide: str | None = None
    nuclide_source: str | None = None
    tracer: str | None = None
    text: str = ""
    injection_time: _dt.datetime | None = None
    injection_source: str | None = None
    activity_bq: float | None = None
    activity_source: str | None = None
    energy_windows: list[dict[str, Any]] = field(default_factory=list)
    candidate: str | None = None  # "pet", "fdg", "spect", "ct"
    reason: str | None = None  # why ignored
    role: str | None = None
    noted: bool = False
    cycle: int | None = None
    hours: float | None = None
    path: Path | None = None
    listed_files: tuple[Path, ...] | None = None

    @property
    def uid(self) -> str:
        return self.info.series_uid

    @property
    def label(self) -> str:
        return f"{self.description or 'no description'} ({_fmt_time(self.time)}, {self.uid})"

    @property
    def t(self) -> _dt.datetime:
        """The scan time (only for series known to have one)."""
        assert self.time is not None
        return self.time

    @property
    def is_original(self) -> bool:
        return not self.image_type or self.image_type[0] != "DERIVED"

    def preference(self) -> tuple[Any, ...]:
        """Sort key among reconstructions of one exam: original, quantitative, most slices."""
        quantitative = (self.units or "").upper() in ("BQML", "BQ/ML")
        return (
            0 if self.is_original else 1,
            0 if quantitative else 1,
            -self.info.n_frames,
            self.time or _dt.datetime.max.replace(tzinfo=_dt.UTC),
            self.uid,
        )


def _kind(info: SeriesInfo) -> str:
    if info.sop_class_uid == PET_SOP:
        return "PET"
    if info.sop_class_uid == NM_SOP:
        return "NM"
    if info.sop_class_uid == CT_SOP:
        return "CT"
    return "other"


def _dedupe(info: SeriesInfo) -> tuple[tuple[Path, ...], int]:
    """Files of the series without second copies of a SOP instance (exported twice)."""
    seen: set[str] = set()
    keep: list[Path] = []
    for i, f in enumerate(info.files):
        scan = info.scans[i] if i < len(info.scans) else None
        uid = scan.text(SOP_INSTANCE_UID) if scan is not None else None
        if uid is None:
            try:
                uid = _text(info.header(i), "SOPInstanceUID")
            except SstrkitError:
                uid = None
        if uid is not None and uid in seen:
            continue
        if uid is not None:
            seen.add(uid)
        keep.append(f)
    return tuple(keep), len(info.files) - len(keep)


def _zone(ds: Any) -> tuple[_dt.tzinfo, str]:
    """Zone of the header's DA/TM values and where it came from."""
    off = _text(ds, "TimezoneOffsetFromUTC")
    if off:
        try:
            return tz_from_offset(off), "TimezoneOffsetFromUTC"
        except SstrkitError:
            pass
    item = _first_item(ds, "RadiopharmaceuticalInformationSequence")
    start = _text(item, "RadiopharmaceuticalStartDateTime")
    m = re.search(r"([+-]\d{4})$", start or "")
    if m:
        return tz_from_offset(m.group(1)), "RadiopharmaceuticalStartDateTime offset"
    return _dt.UTC, "UTC"


def _reference_time(s: _Series, tz: _dt.tzinfo) -> tuple[_dt.datetime | None, str]:
    """Scan time after the io.suv rules (SeriesTime unless later than the acquisition)."""
    ds = s.ds
    series_t = None
    date = _text(ds, "SeriesDate") or _text(ds, "AcquisitionDate") or _text(ds, "StudyDate")
    tm = _text(ds, "SeriesTime")
    if date and tm:
        try:
            series_t = parse_da_tm(date, tm, tz)
        except SstrkitError:
            series_t = None
    earliest = None
    acq = s.info.acquisition_time
    if acq:
        earliest = _dt.datetime.fromisoformat(acq)
        if _text(ds, "TimezoneOffsetFromUTC") is None:
            # discovery labels zone-less local times UTC; use the zone chosen for this series
            earliest = earliest.replace(tzinfo=tz)
    if series_t is not None and (earliest is None or series_t <= earliest):
        return series_t, "SeriesDate/SeriesTime (0008,0021/0031)"
    ge = _private(ds, 0x0D)
    if ge:
        try:
            return parse_dt(ge, tz), "GE private scan_datetime (0009,xx0D)"
        except SstrkitError:
            pass
    if earliest is not None:
        return earliest, "earliest AcquisitionDate/AcquisitionTime (0008,0022/0032)"
    sd, st = _text(ds, "StudyDate"), _text(ds, "StudyTime")
    if sd and st:
        try:
            return parse_da_tm(sd, st, tz), "StudyDate/StudyTime (0008,0020/0030)"
        except SstrkitError:
            pass
    return None, "no date/time in the header"


def _injection(s: _Series, tz: _dt.tzinfo) -> tuple[_dt.datetime | None, str | None]:
    """Administration time: StartDateTime, GE private, StartTime on the scan date."""
    item = _first_item(s.ds, "RadiopharmaceuticalInformationSequence")
    start_dt = _text(item, "RadiopharmaceuticalStartDateTime")
    if start_dt:
        try:
            return parse_dt(start_dt, tz), "RadiopharmaceuticalStartDateTime (0018,1078)"
        except SstrkitError:
            pass
    ge = _private(s.ds, 0x3B)
    if ge:
        try:
            return parse_dt(ge, tz), "GE private admin_datetime (0009,xx3B)"
        except SstrkitError:
            pass
    start_tm = _text(item, "RadiopharmaceuticalStartTime")
    if not start_tm or s.time is None:
        return None, None
    try:
        t = parse_da_tm(s.time.strftime("%Y%m%d"), start_tm, s.time.tzinfo or tz)
    except SstrkitError:
        return None, None
    source = "RadiopharmaceuticalStartTime (0018,1072) on the scan date"
    if t > s.time:
        t -= _dt.timedelta(days=1)
        source += ", previous day (the time is after the scan)"
    return t, source


def _nuclide(s: _Series) -> tuple[str | None, str | None]:
    item = _first_item(s.ds, "RadiopharmaceuticalInformationSequence")
    code = _first_item(item, "RadionuclideCodeSequence")
    if code is not None:
        value = _text(code, "CodeValue")
        if value in RADIONUCLIDE_CODE_VALUES:
            return RADIONUCLIDE_CODE_VALUES[value], f"RadionuclideCodeSequence code {value}"
        meaning = _text(code, "CodeMeaning")
        nuc = nuclide_from_code_meaning(meaning) if meaning else None
        if nuc is not None:
            return nuc, f"RadionuclideCodeSequence '{meaning}'"
    for keyword in ("Radiopharmaceutical", "Radionuclide"):
        text = _text(item, keyword)
        nuc = _nuclide_in_text(text) if text else None
        if nuc is not None:
            return nuc, f"{keyword} '{text}'"
    hl = _float(item, "RadionuclideHalfLife")
    if hl is not None and hl > 0:
        for name, ref in _half_lives():
            if abs(hl - ref) <= 0.01 * ref:
                return name, f"RadionuclideHalfLife {hl:g} s (ICRP 107 {name})"
    for w in s.energy_windows:
        for e in _lu177_lines_kev():
            if w["lower_kev"] <= e <= w["upper_kev"]:
                return "Lu-177", (
                    f"energy window {w['lower_kev']:g}-{w['upper_kev']:g} keV contains the "
                    f"Lu-177 {e:.1f} keV line"
                )
    for keyword in ("SeriesDescription", "StudyDescription"):
        text = _text(s.ds, keyword)
        nuc = _nuclide_in_text(text) if text else None
        if nuc is not None:
            return nuc, f"{keyword} '{text}'"
    return None, None


def _analyse(info: SeriesInfo) -> _Series:
    """The :class:`_Series` of a discovered series, read from its first header."""
    kind = _kind(info)
    ds = info.header(0)
    files, dup = _dedupe(info) if kind != "other" else (info.files, 0)
    s = _Series(info=info, kind=kind, ds=ds, description=info.description, files=files)
    s.duplicates = dup
    tz, s.zone_source = _zone(ds)
    s.time, s.time_source = _reference_time(s, tz)
    s.image_type = tuple(str(v).strip().upper() for v in (ds.get("ImageType") or []))
    s.units = info.units
    if kind in ("PET", "NM"):
        s.energy_windows = _energy_windows(ds)
        s.nuclide, s.nuclide_source = _nuclide(s)
        item = _first_item(ds, "RadiopharmaceuticalInformationSequence")
        tracer = _text(item, "Radiopharmaceutical")
        if tracer is None:
            tracer = _text(_first_item(item, "RadiopharmaceuticalCodeSequence"), "CodeMeaning")
        s.tracer = tracer
        s.text = " ".join(
            t for t in (tracer, _text(ds, "SeriesDescription"), _text(ds, "StudyDescription")) if t
        )
        s.injection_time, s.injection_source = _injection(s, tz)
        dose = _float(item, "RadionuclideTotalDose")
        if dose is not None and dose > 0:
            s.activity_bq, s.activity_source = dose, "RadionuclideTotalDose (0018,1074)"
            if dose < MIN_PLAUSIBLE_DOSE_BQ:
                s.activity_bq = dose * BQ_PER_MBQ
                s.activity_source += f" = {dose:g}, read as MBq"
    return s


def _seg_sop_classes() -> Mapping[str, str]:
    """SOP classes of DICOM SEG (Segmentation Storage and its variants)."""
    from sstrkit.io.masks import SEG_SOP_CLASSES

    return SEG_SOP_CLASSES


# --------------------------------------------------------------------------- paths
def _owners(found: Discovery, series: Sequence[_Series], root: Path) -> dict[Path, set[str]]:
    """Folder → the series (and '?' for other DICOM files) found anywhere below it."""
    direct: dict[str, set[str]] = {}  # folder → owners of the files directly in it
    for s in series:
        kept = set(s.files) if s.duplicates else None
        for f in s.info.files:
            who = s.uid if kept is None or f in kept else "?"
            direct.setdefault(os.path.dirname(f), set()).add(who)
    for f, _ in found.unreadable:
        direct.setdefault(os.path.dirname(f), set()).add("?")
    owners: dict[Path, set[str]] = {}
    for folder, members in direct.items():
        path = Path(folder)
        for parent in (path, *path.parents):
            owners.setdefault(parent, set()).update(members)
            if parent == root:
                break
    return owners


def _set_path(s: _Series, owners: Mapping[Path, set[str]]) -> None:
    """The manifest path of ``s``: its file, its folder, or the folder with the file list
    when other series (or other DICOM files) share it."""
    if len(s.files) == 1:
        s.path = s.files[0]
        return
    folder = Path(os.path.commonpath([str(f.parent) for f in s.files]))
    s.path = folder
    if owners.get(folder, set()) != {s.uid}:
        s.listed_files = s.files


def best_reconstructions(
    clusters: Sequence[Sequence[_Series]], what: str, role: str, notes: list[str]
) -> list[_Series]:
    """The preferred reconstruction of each time point's cluster; the others noted as unused."""
    picked: list[_Series] = []
    for cluster in clusters:
        best = min(cluster, key=_Series.preference)
        picked.append(best)
        for s in cluster:
            if s is not best:
                s.reason, s.noted = f"another reconstruction of the {what} {best.label}", True
                notes.append(f"{s.label}: {s.reason}; not used. Override with --role UID={role}")
    return picked
