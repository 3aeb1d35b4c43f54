"""Study intake: ``manifest.json`` from the DICOM headers of a clinic's PACS export.

:func:`intake_study` finds every series in a folder tree by content
(:func:`sstrkit.io.discover.discover`: per-slice or multi-frame files, nested
folders, a DICOMDIR is skipped), gives each series a role from its headers
(SSTR PET, FDG PET, therapy SPECT, the CT of each emission scan), groups the
therapy SPECTs into cycles by their administration, computes the hours after
injection and writes a validated ``manifest.json`` (version 2) in the study
folder. Every choice that is not certain is reported as a note with the
choice made and how to override it (``roles={uid: role}``, CLI ``--role
UID=ROLE``, or by editing the manifest). The rules, with the radionuclide
codes and photon energies they use, are in ``docs/intake.md``.

Examples
--------
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     try:
...         intake_study(d, Path(d) / "study")
...     except InvalidInputError as exc:
...         print(exc.what)
DICOM folder
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from sstrkit import __version__
from sstrkit.catalog.naming import name_key
from sstrkit.core.atomic import atomic_path, write_json_atomic
from sstrkit.errors import InvalidInputError, SstrkitError
from sstrkit.io.dicom_scan import SOP_INSTANCE_UID
from sstrkit.io.dicom_time import parse_da_tm, parse_dt, tz_from_offset
from sstrkit.io.discover import (
    RTDOSE_SOP_CLASS,
    RTSTRUCT_SOP_CLASS,
    SECONDARY_CAPTURE_PREFIX,
    Discovery,
    SeriesInfo,
    discover,
)
from sstrkit.io.suv import (
    MAX_PLAUSIBLE_WEIGHT_KG,
    MIN_PLAUSIBLE_DOSE_BQ,
    nuclide_from_code_meaning,
)

__all__ = ["ROLES", "IntakeResult", "IntakeRow", "intake_study"]

#: Roles a series can be given (``--role UID=ROLE``).
ROLES = ("pet", "pet_ct", "fdg", "fdg_ct", "spect", "spect_ct", "ignore")

PET_SOP = "1.2.840.10008.5.1.4.1.1.128"
NM_SOP = "1.2.840.10008.5.1.4.1.1.20"
CT_SOP = "1.2.840.10008.5.1.4.1.1.2"

#: Radionuclides of an SSTR PET and of a therapy SPECT.
SSTR_PET_NUCLIDES = ("Ga-68", "Cu-64")
THERAPY_NUCLIDES = ("Lu-177", "Y-90")

#: Words (in :func:`~sstrkit.catalog.naming.name_key` form) naming SSTR ligands.
SSTR_WORDS = (
    "dotatate", "dotatoc", "dotanoc", "sstr", "somatostatin", "octreo", "edotreotide",
    "oxodotreotide", "satoreotide", "jr11", "sitate", "netspot", "detectnet", "somakit",
    "lutathera",
)  # fmt: skip
#: Words naming FDG.
FDG_WORDS = ("fdg", "fluorodeoxyglucose", "fludeoxyglucose", "deoxyglucose")
#: Words naming PET tracers that are neither SSTR ligands nor FDG (a Ga-68 PSMA PET).
OTHER_TRACER_WORDS = ("psma", "fapi", "pentixafor", "exendin", "dopa", "bombesin", "choline")

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

#: Emission scans of one exam / time point: series acquired within this interval.
SAME_EXAM = _dt.timedelta(hours=1)
#: Administrations further apart than this are different cycles.
CYCLE_GAP = _dt.timedelta(hours=24)
#: A CT without the emission scan's frame of reference is paired within this interval.
CT_WINDOW = _dt.timedelta(minutes=30)
#: Weight (and height) values further apart than this fraction are reported.
BODY_TOLERANCE = 0.05


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class IntakeRow:
    """One line of the review table (every series found, used or ignored)."""

    role: str
    cycle: int | None
    hours_post_injection: float | None
    series_description: str
    date: str | None
    series_uid: str
    n_files: int
    path: str
    modality: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "cycle": self.cycle,
            "hours_post_injection": self.hours_post_injection,
            "series_description": self.series_description,
            "date": self.date,
            "series_uid": self.series_uid,
            "n_files": self.n_files,
            "path": self.path,
            "modality": self.modality,
        }


@dataclass(frozen=True)
class IntakeResult:
    """What :func:`intake_study` wrote and why."""

    manifest: dict[str, Any]
    manifest_path: Path
    rows: tuple[IntakeRow, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest_path": str(self.manifest_path),
            "manifest": self.manifest,
            "rows": [r.to_dict() for r in self.rows],
            "notes": list(self.notes),
        }


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

    return tuple(e * 1000.0 for e, _ in get_nuclide("Lu-177").gammas(0.05))


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
                s.activity_bq = dose * 1e6
                s.activity_source += f" = {dose:g}, read as MBq"
    return s


# --------------------------------------------------------------------------- classification
def _classify(s: _Series) -> None:
    """Set ``candidate`` (pet, fdg, spect, ct) or ``reason`` from the headers."""
    sop = s.info.sop_class_uid
    if s.kind == "other":
        if sop.startswith(SECONDARY_CAPTURE_PREFIX):
            s.reason = "secondary capture (a screenshot, not image data)"
        elif sop == RTSTRUCT_SOP_CLASS:
            s.reason = (
                "RTSTRUCT (contours are not converted: pass the label map with --segmentation)"
            )
        elif sop == RTDOSE_SOP_CLASS:
            s.reason = "RTDOSE (a dose result, not an input)"
        elif sop in _seg_sop_classes():
            s.reason = "DICOM SEG referencing no series of the study (frame of reference)"
        else:
            s.reason = f"{s.info.sop_class_name} ({s.info.modality}): not a CT, PET or NM image"
        return
    if s.kind == "CT":
        if "LOCALIZER" in s.image_type:
            s.reason = "CT localizer (topogram/scout)"
            return
        from sstrkit.io.dicom_read import derived_quantity

        derived = derived_quantity(s.ds)
        if derived is not None:
            s.reason = f"derived CT of {derived[0]} ({derived[1]}), not HU"
            return
        s.candidate = "ct"
        return
    if any(w in v for v in s.image_type for w in ("MIP", "PROJECTION", "SCREEN")) and not any(
        "RECON" in v for v in s.image_type
    ):
        s.reason = f"projection/MIP image (ImageType {'/'.join(s.image_type)})"
        return
    if s.kind == "NM":
        value3 = s.image_type[2] if len(s.image_type) > 2 else None
        if value3 is not None and ("RECON" not in value3 or "GATED" in value3):
            s.reason = (
                f"NM {value3.lower()} image (ImageType {'/'.join(s.image_type)}): "
                "not a reconstructed tomogram (RECON TOMO)"
            )
            return
    nuc = s.nuclide
    text_sstr = _words(s.text, SSTR_WORDS)
    text_fdg = _words(s.text, FDG_WORDS)
    if nuc in THERAPY_NUCLIDES:
        s.candidate = "spect"
        return
    if s.kind == "NM":
        s.reason = (
            f"NM tomogram of {nuc or 'unknown radionuclide'}: not a Lu-177/Y-90 therapy SPECT"
        )
        return
    if nuc in SSTR_PET_NUCLIDES and _words(s.text, OTHER_TRACER_WORDS) and not text_sstr:
        s.reason = f"{nuc} PET of another tracer ({s.tracer or s.text})"
        return
    if text_sstr or nuc in SSTR_PET_NUCLIDES:
        s.candidate = "pet"
        return
    if nuc in (None, "F-18") and text_fdg:
        s.candidate = "fdg"
        return
    if nuc == "F-18":
        s.reason = f"F-18 PET of a tracer that is not FDG ({s.tracer or 'tracer not named'})"
        return
    s.reason = f"PET of {nuc or 'unknown radionuclide'} ({s.tracer or 'tracer not named'})"


# --------------------------------------------------------------------------- clinical data
@dataclass(frozen=True)
class _Admin:
    time: _dt.datetime
    nuclide: str | None
    activity_bq: float | None
    label: str
    cycle: int | None = None


def _load_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(what, expected="an existing JSON file", actual=str(path)) from None
    except (OSError, ValueError) as exc:
        raise InvalidInputError(what, expected="readable JSON", actual=f"{path}: {exc}") from None


def _aware_time(text: Any, where: str) -> _dt.datetime:
    try:
        t = _dt.datetime.fromisoformat(str(text))
    except ValueError:
        raise InvalidInputError(
            where, expected="an ISO 8601 time such as 2026-01-05T09:30:00+01:00", actual=text
        ) from None
    if t.tzinfo is None or t.utcoffset() is None:
        raise InvalidInputError(
            where,
            expected="an ISO 8601 time with its UTC offset (2026-01-05T09:30:00+01:00)",
            actual=text,
            fix="add the offset of the clinic's time zone",
        )
    return t


def _clinical_admins(doc: Any, name: str) -> list[_Admin]:
    if not isinstance(doc, dict):
        raise InvalidInputError(
            f"clinical data {name}",
            expected="a JSON object with 'administrations' and 'labs' (docs/intake.md)",
            actual=type(doc).__name__,
        )
    raw = doc.get("administrations", [])
    if not isinstance(raw, list):
        raise InvalidInputError(
            f"{name}: administrations", expected="a list of objects", actual=type(raw).__name__
        )
    out: list[_Admin] = []
    for k, a in enumerate(raw):
        where = f"{name}: administrations[{k}]"
        if not isinstance(a, dict) or "time" not in a:
            raise InvalidInputError(
                where, expected="an object with time, nuclide, activity_bq", actual=a
            )
        t = _aware_time(a["time"], f"{where}.time")
        act = a.get("activity_bq")
        if act is not None and (not isinstance(act, int | float) or not act > 0):
            raise InvalidInputError(f"{where}.activity_bq", expected="> 0 Bq", actual=act)
        nuc = a.get("nuclide")
        if nuc is not None:
            from sstrkit.physics.nuclides import normalise_name

            nuc = normalise_name(str(nuc))
        cyc = a.get("cycle")
        if cyc is not None and (isinstance(cyc, bool) or not isinstance(cyc, int) or cyc < 1):
            raise InvalidInputError(f"{where}.cycle", expected="an integer ≥ 1 or null", actual=cyc)
        out.append(
            _Admin(
                t,
                nuc,
                float(act) if act is not None else None,
                f"{name} administrations[{k}]",
                cyc,
            )
        )
    for k, lab in enumerate(doc.get("labs", []) or []):
        if not isinstance(lab, dict) or "time" not in lab:
            raise InvalidInputError(
                f"{name}: labs[{k}]", expected="an object with a time", actual=lab
            )
        _aware_time(lab["time"], f"{name}: labs[{k}].time")
    return out


def _fill_from_clinical(
    s: _Series, admins: Sequence[_Admin], therapy: bool, notes: list[str]
) -> None:
    """Complete a missing administration time/activity/nuclide from clinical.json."""
    if not admins or (s.injection_time and s.activity_bq and s.nuclide):
        return
    pool = [
        a
        for a in admins
        if (s.nuclide is None or a.nuclide is None or a.nuclide == s.nuclide)
        and (a.nuclide is None or (a.nuclide in THERAPY_NUCLIDES) == therapy)
    ]
    match: _Admin | None = None
    inj = s.injection_time
    if inj is not None:
        close = [a for a in pool if abs(a.time - inj) <= _dt.timedelta(hours=1)]
        match = min(close, key=lambda a: abs(a.time - inj), default=None)
    elif s.time is not None:
        window = _dt.timedelta(days=30) if therapy else _dt.timedelta(hours=24)
        before = [a for a in pool if _dt.timedelta(0) <= s.time - a.time <= window]
        match = max(before, key=lambda a: a.time, default=None)
    if match is None:
        return
    filled = []
    if s.injection_time is None:
        s.injection_time, s.injection_source = match.time, match.label
        filled.append(f"injection time {match.time.isoformat()}")
    if s.activity_bq is None and match.activity_bq is not None:
        s.activity_bq, s.activity_source = match.activity_bq, match.label
        filled.append(f"activity {match.activity_bq / 1e6:g} MBq")
    if s.nuclide is None and match.nuclide is not None:
        s.nuclide, s.nuclide_source = match.nuclide, match.label
        filled.append(f"nuclide {match.nuclide}")
    if filled:
        s.noted = True
        notes.append(
            f"{s.label}: {', '.join(filled)} taken from {match.label} (not in the DICOM headers)"
        )


def _check_against_clinical(s: _Series, admins: Sequence[_Admin], notes: list[str]) -> None:
    if s.injection_time is None or s.activity_bq is None:
        return
    for a in admins:
        if a.activity_bq is None or abs(a.time - s.injection_time) > _dt.timedelta(hours=1):
            continue
        if abs(a.activity_bq - s.activity_bq) > 0.05 * a.activity_bq:
            notes.append(
                f"{s.label}: header activity {s.activity_bq / 1e6:g} MBq differs from "
                f"{a.label} ({a.activity_bq / 1e6:g} MBq) by more than 5 %; the header value is "
                "used (edit injected_activity_bq in the manifest to use the other)"
            )
        return


# --------------------------------------------------------------------------- roles
def _exams(series: Sequence[_Series]) -> list[list[_Series]]:
    """Group emission series of one administration (same injection or scan within 1 h)."""

    def key(s: _Series) -> _dt.datetime:
        t = s.injection_time or s.time
        return t if t is not None else _dt.datetime.min.replace(tzinfo=_dt.UTC)

    groups: list[list[_Series]] = []
    for s in sorted(series, key=key):
        if groups and key(s) - key(groups[-1][0]) <= SAME_EXAM:
            groups[-1].append(s)
        else:
            groups.append([s])
    return groups


def _choose_pet(
    cands: list[_Series], role: str, first_therapy: _dt.datetime | None, notes: list[str]
) -> _Series | None:
    """The latest exam before the first therapy; within it the preferred reconstruction."""
    if not cands:
        return None
    what = "SSTR PET" if role == "pet" else "FDG PET"
    exams = _exams(cands)

    def t0(g: list[_Series]) -> _dt.datetime:
        t = g[0].injection_time or g[0].time
        return t if t is not None else _dt.datetime.min.replace(tzinfo=_dt.UTC)

    if first_therapy is None:
        chosen = exams[-1]
        why = "the latest"
    else:
        before = [g for g in exams if t0(g) < first_therapy]
        if before:
            chosen, why = before[-1], "the latest before the first therapy"
        else:
            chosen, why = exams[0], "the earliest (none is before the first therapy)"
    best = min(chosen, key=_Series.preference)
    for s in cands:
        if s is best:
            continue
        if any(s is c for c in chosen):
            s.reason = f"another reconstruction of the {what} exam of {best.label}"
        else:
            s.reason = f"{what} of another exam ({why} is used)"
    if len(cands) > 1:
        for s in cands:
            s.noted = True
        others = "; ".join(s.label for s in cands if s is not best)
        notes.append(
            f"{len(cands)} {what} series: {best.label} is used ({why}"
            f"{', preferred reconstruction' if len(chosen) > 1 else ''}); not used: {others}. "
            f"Override with --role UID={role}"
        )
    return best


def _cycle_numbers(
    injections: list[_dt.datetime], admins: list[_Admin], notes: list[str]
) -> list[int]:
    """Cycle numbers of the SPECT groups: the clinical record's where it numbers them.

    A group whose injection is within 24 h of a clinical therapy administration with a
    ``cycle`` takes that number (a cycle without SPECT in the export keeps its gap);
    otherwise the groups are numbered 1..n in time order.
    """
    numbered = [a for a in admins if a.cycle is not None]
    if not numbered:
        return list(range(1, len(injections) + 1))
    out: list[int] = []
    for k, inj in enumerate(injections, start=1):
        best = min(numbered, key=lambda a: abs((a.time - inj).total_seconds()))
        if abs((best.time - inj).total_seconds()) <= CYCLE_GAP.total_seconds():
            assert best.cycle is not None
            out.append(best.cycle)
        else:
            out.append(k)
            notes.append(
                f"SPECT group injected {inj.isoformat()} matches no administration of the "
                f"clinical data within 24 h; numbered cycle {k} by time order"
            )
    if len(set(out)) != len(out):
        notes.append(
            f"clinical cycle numbers {out} repeat for the SPECT groups; numbered 1..n by time"
        )
        return list(range(1, len(injections) + 1))
    if out != list(range(1, len(out) + 1)):
        notes.append(
            f"SPECT cycles numbered {out} after the clinical record (cycles without SPECT in "
            "this export are estimated from the imaged ones)"
        )
    return out


def _cycles(
    spects: list[_Series], notes: list[str]
) -> list[tuple[_dt.datetime, float, str | None, list[_Series]]]:
    """Group therapy SPECTs by administration: (injection, activity, nuclide, time points)."""
    usable = []
    for s in spects:
        s.noted = s.injection_time is None or s.time is None or s.time <= s.injection_time
        if s.injection_time is None:
            s.reason = "therapy SPECT without administration time"
            notes.append(
                f"{s.label}: no RadiopharmaceuticalStartDateTime/StartTime in the header; "
                "ignored. Add the administration (time, nuclide, activity_bq) to the clinical "
                "data and pass --clinical"
            )
        elif s.time is None:
            s.reason = "therapy SPECT without acquisition time"
            notes.append(f"{s.label}: no series/acquisition time in the header; ignored")
        elif s.time <= s.injection_time:
            s.reason = "acquired before its administration"
            notes.append(
                f"{s.label}: acquired before the administration it names "
                f"({s.injection_time.isoformat()}); ignored"
            )
        else:
            usable.append(s)

    def inj_of(s: _Series) -> _dt.datetime:
        assert s.injection_time is not None
        return s.injection_time

    usable.sort(key=lambda s: (inj_of(s), s.t))
    groups: list[list[_Series]] = []
    for s in usable:
        if groups and inj_of(s) - inj_of(groups[-1][0]) <= CYCLE_GAP:
            groups[-1].append(s)
        else:
            groups.append([s])
    out = []
    for k, members in enumerate(groups, start=1):
        by_time = sorted(members, key=lambda s: (s.t, s.uid))
        inj_votes = Counter(inj_of(s) for s in by_time)
        top = max(inj_votes.values())
        inj = next(inj_of(s) for s in by_time if inj_votes[inj_of(s)] == top)
        acts = [s.activity_bq for s in by_time if s.activity_bq is not None]
        act_votes = Counter(acts)
        act = next(a for a in acts if act_votes[a] == max(act_votes.values())) if acts else math.nan
        if len(inj_votes) > 1:
            listing = ", ".join(f"{t.isoformat()} ({n} series)" for t, n in inj_votes.items())
            notes.append(
                f"cycle {k}: the SPECT headers give different administration times ({listing}) "
                f"within 24 h; one cycle with {inj.isoformat()} is assumed. Edit injection_time "
                "in the manifest if this is wrong"
            )
        if len(act_votes) > 1 and max(acts) - min(acts) > 0.005 * max(acts):
            listing = ", ".join(f"{a / 1e6:g} MBq ({n} series)" for a, n in act_votes.items())
            notes.append(
                f"cycle {k}: same administration, different activities in the SPECT headers "
                f"({listing}); {act / 1e6:g} MBq is used. Edit injected_activity_bq in the "
                "manifest if this is wrong"
            )
        nucs = Counter(s.nuclide for s in by_time if s.nuclide)
        nuclide = nucs.most_common(1)[0][0] if nucs else None
        # time points: one per scan session; other reconstructions of it are not used
        points: list[list[_Series]] = []
        for s in by_time:
            if points and s.t - points[-1][0].t <= SAME_EXAM:
                points[-1].append(s)
            else:
                points.append([s])
        chosen = []
        for group in points:
            best = min(group, key=_Series.preference)
            chosen.append(best)
            if len(group) > 1:
                for s in group:
                    s.noted = True
                    if s is not best:
                        s.reason = f"another SPECT of the same time point as {best.label}"
                notes.append(
                    f"cycle {k}: {len(group)} SPECT series acquired within 1 h; {best.label} is "
                    "used (original, Bq/mL, most slices first); not used: "
                    + "; ".join(s.label for s in group if s is not best)
                    + ". Override with --role UID=ignore on the one not wanted"
                )
        out.append((inj, act, nuclide, chosen))
    return out


def _pair_ct(
    emission: _Series, cts: Sequence[_Series], what: str, role: str, notes: list[str]
) -> _Series | None:
    def gap(c: _Series) -> float:
        if c.time is None or emission.time is None:
            return math.inf
        return abs((c.time - emission.time).total_seconds())

    same_for = [
        c
        for c in cts
        if emission.info.frame_of_reference_uid
        and c.info.frame_of_reference_uid == emission.info.frame_of_reference_uid
    ]
    if same_for:
        best = min(same_for, key=lambda c: (gap(c), c.uid))
        if len(same_for) > 1:
            notes.append(
                f"{what}: {len(same_for)} CTs share its frame of reference; {best.label} is "
                f"used (closest in time). Override with --role UID={role}"
            )
        return best
    near = [
        c
        for c in cts
        if c.info.study_uid == emission.info.study_uid and gap(c) <= CT_WINDOW.total_seconds()
    ]
    if near:
        best = min(near, key=lambda c: (gap(c), c.uid))
        notes.append(
            f"{what}: no CT shares its frame of reference; {best.label} (same study, "
            f"{gap(best) / 60:.0f} min apart) is used. Check the registration, or override with "
            f"--role UID={role}"
        )
        return best
    notes.append(
        f"{what}: no CT found (same frame of reference, or same study within 30 min). "
        f"Add one with --role UID={role}"
    )
    return None


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
    if len(s.files) == 1:
        s.path = s.files[0]
        return
    folder = Path(os.path.commonpath([str(f.parent) for f in s.files]))
    s.path = folder
    if owners.get(folder, set()) != {s.uid}:
        s.listed_files = s.files


# --------------------------------------------------------------------------- patient
def _patient(
    used: Sequence[_Series], everything: Sequence[_Series], clinical: Any
) -> tuple[dict[str, Any], list[str]]:
    notes: list[str] = []
    order = list(used) + [s for s in everything if all(s is not u for u in used)]
    first = order[0].ds if order else None
    birth = _text(first, "PatientBirthDate")
    birth_iso = None
    if birth:
        try:
            birth_iso = _dt.datetime.strptime(birth.replace("-", ""), "%Y%m%d").date().isoformat()
        except ValueError:
            birth_iso = None
    out: dict[str, Any] = {
        "id": _text(first, "PatientID"),
        "name": _text(first, "PatientName"),
        "sex": None,
        "weight_kg": None,
        "height_cm": None,
        "birth_date": birth_iso,
        "sources": {},
    }
    values: dict[str, list[tuple[Any, str]]] = {"sex": [], "weight_kg": [], "height_cm": []}
    for s in order:
        if s.kind == "other":
            continue
        sex = (_text(s.ds, "PatientSex") or "").upper()
        if sex in ("M", "F", "O"):
            values["sex"].append((sex, f"PatientSex (0010,0040) of series {s.uid}"))
        w = _float(s.ds, "PatientWeight")
        if w is not None and w > 0:
            src = f"PatientWeight (0010,1030) of series {s.uid}"
            if w > MAX_PLAUSIBLE_WEIGHT_KG:
                w, src = w / 1000.0, src + " (grams, read as kg)"
            values["weight_kg"].append((w, src))
        h = _float(s.ds, "PatientSize")
        if h is not None and h > 0:
            src = f"PatientSize (0010,1020) of series {s.uid}"
            if h > 3.0:
                cm, src = h, src + " (cm, not m)"
            else:
                cm = h * 100.0
            values["height_cm"].append((round(cm, 3), src))
    for key, found in values.items():
        if found:
            out[key], out["sources"][key] = found[0]
        elif isinstance(clinical, dict) and isinstance(clinical.get("patient"), dict):
            v = clinical["patient"].get(key)
            if key == "sex" and isinstance(v, str):
                v = {"male": "M", "female": "F"}.get(v.lower(), v.upper())
            if v is not None:
                out[key], out["sources"][key] = v, "clinical.json patient"
    if len({v for v, _ in values["sex"]}) > 1:
        notes.append(
            "patient sex differs between series: "
            + "; ".join(f"{v} ({src})" for v, src in values["sex"])
            + f"; {out['sex']} is used (edit patient.sex in the manifest)"
        )
    for key, unit in (("weight_kg", "kg"), ("height_cm", "cm")):
        vals = values[key]
        if vals and max(v for v, _ in vals) > (1 + BODY_TOLERANCE) * min(v for v, _ in vals):
            listing = "; ".join(f"{v:g} {unit} ({src})" for v, src in vals)
            notes.append(
                f"patient {key.split('_')[0]} differs by more than 5 % between series: {listing}; "
                f"{out[key]:g} {unit} (first series: SSTR PET when present) is used (edit "
                f"patient.{key} in the manifest)"
            )
    return out, notes


# --------------------------------------------------------------------------- segmentation
def _label_names(value: str | Path | Mapping[str, Any] | None, seg: Path) -> dict[int, str]:
    from sstrkit.io.nifti import sidecar_path
    from sstrkit.reading.inputs import parse_label_names

    if value is None:
        side = sidecar_path(seg)
        raw = _load_json(side, "label map sidecar").get("labels") if side.is_file() else None
        if not raw:
            raise InvalidInputError(
                "label names",
                expected='a JSON file {"1": "liver", ...} or {"liver": 1, ...}',
                actual="none (no --label-names and no 'labels' in the NIfTI sidecar)",
                fix="pass --label-names NAMES.json (API label_names=...)",
            )
        return parse_label_names(raw, "label map sidecar labels")
    if isinstance(value, Mapping):
        return parse_label_names(dict(value), "label names")
    return parse_label_names(_load_json(Path(value), "label names"), "--label-names")


def _grid_key(labels: Any, candidates: Sequence[tuple[str, _Series]], notes: list[str]) -> str:
    from sstrkit.io.dicom_read import read_series

    for key, s in candidates:
        try:
            vol = read_series(s.info).volume
        except SstrkitError:
            continue
        if (
            vol.shape == labels.shape
            and np.allclose(vol.spacing, labels.spacing, atol=1e-3, rtol=0.0)
            and np.max(np.abs(np.subtract(vol.origin, labels.origin))) <= 0.5
            and np.allclose(vol.direction, labels.direction, atol=1e-3, rtol=0.0)
        ):
            return key
    notes.append(
        "the label map's grid (size, spacing, origin) matches no series; it is assumed to be "
        "in the SSTR PET/CT's patient coordinates (key 'baseline'). Edit "
        "segmentation.labels_nifti in the manifest if it belongs to a SPECT/CT time point"
    )
    return "baseline"


def _copy(src: Path, dest: Path) -> None:
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def _seg_sop_classes() -> Mapping[str, str]:
    from sstrkit.io.masks import SEG_SOP_CLASSES

    return SEG_SOP_CLASSES


def _seg_target(
    header: Any, candidates: Sequence[tuple[str, _Series]]
) -> tuple[str, _Series, bool] | None:
    """Manifest key and grid series of a DICOM SEG: the series it references, else a series
    (CT first) of its frame of reference (then resampled, nearest); ``None`` when neither."""
    for key, s in candidates:
        if s.uid in header.referenced_series_uids:
            return key, s, False
    same_for = [
        (key, s)
        for key, s in candidates
        if header.frame_of_reference_uid
        and s.info.frame_of_reference_uid == header.frame_of_reference_uid
    ]
    same_for.sort(key=lambda c: c[1].kind != "CT")
    return (same_for[0][0], same_for[0][1], True) if same_for else None


def _seg_to_study(
    file: Path, key: str, grid: _Series, resample: bool, seg_dir: Path, notes: list[str]
) -> dict[int, str]:
    """The SEG as ``seg_dir/labels.nii.gz`` on the grid of the series ``grid``; its names."""
    from sstrkit.io.dicom_read import read_series
    from sstrkit.io.masks import read_dicom_seg
    from sstrkit.io.nifti import write_nifti

    res = read_dicom_seg(file, read_series(grid.info).volume, resample_labels=resample)
    notes.extend(res.notes)
    names = {str(k): v for k, v in sorted(res.names.items())}
    write_nifti(res.labels, seg_dir / "labels.nii.gz", extra={"Labels": names, "Source": str(file)})
    how = "resampled (nearest) onto" if resample else "on"
    notes.append(
        f"DICOM SEG {file.name} ({res.header.series_description or 'no description'}, "
        f"{len(res.names)} segments: {', '.join(names.values())}) converted to the study "
        f"segmentation '{key}', {how} the grid of {grid.info.modality} {grid.label}"
    )
    return res.names


# --------------------------------------------------------------------------- validation
def _aware_iso(v: str) -> str:
    t = _dt.datetime.fromisoformat(v)
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError("needs a UTC offset")
    return v


IsoTime = Annotated[str, AfterValidator(_aware_iso)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Ct(_Strict):
    path: str = Field(min_length=1)
    series_uid: str = Field(min_length=1)
    frame_of_reference_uid: str | None
    time: IsoTime | None
    series_description: str
    files: list[str] | None = None


class _Emission(_Ct):
    time: IsoTime
    tracer: str | None
    nuclide: str = Field(min_length=1)
    injection_time: IsoTime
    injected_activity_bq: float = Field(gt=0)
    units: str | None = None


class _Window(_Strict):
    name: str | None
    lower_kev: float
    upper_kev: float


class _Spect(_Emission):
    cycle: int = Field(ge=1)
    hours_post_injection: float = Field(gt=0)
    fwhm_mm: float | None = None
    energy_windows: list[_Window]


class _SpectCt(_Ct):
    cycle: int = Field(ge=1)
    hours_post_injection: float = Field(gt=0)


class _SeriesModel(_Strict):
    pet: _Emission | None
    pet_ct: _Ct | None
    fdg: _Emission | None
    fdg_ct: _Ct | None
    spect: list[_Spect]
    spect_ct: list[_SpectCt]

    @model_validator(mode="after")
    def _cycles(self) -> _SeriesModel:
        cycles = sorted({s.cycle for s in self.spect})
        if any(c < 1 for c in cycles):
            raise ValueError(f"cycles must be numbered from 1, got {cycles}")
        keys = [(s.cycle, s.hours_post_injection) for s in self.spect]
        if len(set(keys)) != len(keys):
            raise ValueError("two SPECT entries share cycle and hours_post_injection")
        missing = {(c.cycle, c.hours_post_injection) for c in self.spect_ct} - set(keys)
        if missing:
            raise ValueError(f"spect_ct entries without a SPECT: {sorted(missing)}")
        if self.pet is None and not self.spect:
            raise ValueError("neither an SSTR PET nor a therapy SPECT")
        return self


class _PatientModel(_Strict):
    id: str | None
    name: str | None
    sex: Literal["M", "F", "O"] | None
    weight_kg: float | None = Field(gt=1, le=500)
    height_cm: float | None = Field(gt=30, le=260)
    birth_date: str | None
    sources: dict[str, str]


class _Ignored(_Strict):
    series_uid: str
    modality: str
    series_description: str
    reason: str


class _IntakeModel(_Strict):
    source: str
    sstrkit_version: str
    notes: list[str]
    overrides: dict[str, Literal["pet", "pet_ct", "fdg", "fdg_ct", "spect", "spect_ct", "ignore"]]
    ignored_series: list[_Ignored]


class _Segmentation(_Strict):
    labels_nifti: dict[str, str] = Field(min_length=1)
    label_names: str


class _ManifestModel(_Strict):
    format: Literal["sstrkit-study"]
    version: Literal[2]
    patient: _PatientModel
    series: _SeriesModel
    segmentation: _Segmentation | None = None
    clinical: str | None = None
    intake: _IntakeModel


def _validate(manifest: dict[str, Any], out: Path) -> None:
    try:
        _ManifestModel.model_validate(manifest)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidInputError(
            "generated manifest",
            expected="a complete manifest (docs/intake.md)",
            actual=f"{where}: {err['msg']}" if where else err["msg"],
            fix="check the notes; complete the administration with --clinical or choose the "
            "series with --role UID=ROLE",
        ) from None
    for role in ("pet", "pet_ct", "fdg", "fdg_ct"):
        entry = manifest["series"][role]
        if entry is not None and not Path(entry["path"]).exists():
            raise InvalidInputError(f"series.{role}.path", expected="an existing path",
                                    actual=entry["path"])  # fmt: skip
    seg = manifest.get("segmentation")
    if seg is not None:
        for rel in [*seg["labels_nifti"].values(), seg["label_names"]]:
            if not (out / rel).is_file():
                raise InvalidInputError(
                    "segmentation", expected="files copied into the study", actual=rel
                )


# --------------------------------------------------------------------------- entries
def _ct_entry(s: _Series) -> dict[str, Any]:
    assert s.path is not None
    entry: dict[str, Any] = {
        "path": str(s.path),
        "series_uid": s.uid,
        "frame_of_reference_uid": s.info.frame_of_reference_uid,
        "time": _iso(s.time),
        "series_description": s.description,
    }
    if s.listed_files is not None:
        entry["files"] = [str(f) for f in s.listed_files]
    return entry


def _emission_entry(s: _Series) -> dict[str, Any]:
    entry = _ct_entry(s)
    files = entry.pop("files", None)
    entry.update(
        {
            "tracer": s.tracer,
            "nuclide": s.nuclide,
            "injection_time": _iso(s.injection_time),
            "injected_activity_bq": s.activity_bq,
            "units": s.units,
        }
    )
    if files is not None:
        entry["files"] = files
    return entry


def _parse_roles(roles: Mapping[str, str] | None, series: Sequence[_Series]) -> dict[str, str]:
    out: dict[str, str] = {}
    by_uid = {s.uid: s for s in series}
    for uid, role in (roles or {}).items():
        uid, role = str(uid).strip(), str(role).strip().lower()
        if role not in ROLES:
            raise InvalidInputError(
                f"--role {uid}={role}",
                expected=f"one of {', '.join(ROLES)}",
                actual=role,
                fix="write --role SERIES_UID=ROLE, e.g. --role 1.2.3=ignore",
            )
        s = by_uid.get(uid)
        if s is None:
            raise InvalidInputError(
                f"--role {uid}={role}",
                expected="the SeriesInstanceUID of a series in the DICOM folder",
                actual=uid,
                fix="copy the UID from the review table (`sstrkit study init --json` rows) or "
                "`sstrkit dicom ls DIR`",
            )
        if role.endswith("_ct") and s.kind != "CT":
            raise InvalidInputError(
                f"--role {uid}={role}",
                expected="a CT series",
                actual=f"{s.info.modality} series '{s.description}'",
            )
        if role in ("pet", "fdg", "spect") and s.kind not in ("PET", "NM"):
            raise InvalidInputError(
                f"--role {uid}={role}",
                expected="a PET or NM image series",
                actual=f"{s.info.modality} series '{s.description}'",
            )
        out[uid] = role
    for role in ("pet", "pet_ct", "fdg", "fdg_ct"):
        uids = [u for u, r in out.items() if r == role]
        if len(uids) > 1:
            raise InvalidInputError(
                f"--role ...={role}", expected="at most one series", actual=uids
            )
    return out


# --------------------------------------------------------------------------- main function
def intake_study(
    dicom_dir: str | Path,
    out: str | Path,
    *,
    segmentation: str | Path | None = None,
    label_names: str | Path | dict[str, Any] | None = None,
    clinical: str | Path | None = None,
    roles: Mapping[str, str] | None = None,
    spect_fwhm_mm: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> IntakeResult:
    """Write ``out/manifest.json`` (version 2) from the DICOM series under ``dicom_dir``.

    Parameters
    ----------
    dicom_dir
        Folder tree of the PACS export (any layout; DICOMDIR files are skipped).
    out
        Study folder to create: ``manifest.json``, ``clinical.json`` (a copy of
        ``clinical``) and ``segmentation/`` (copies of the label map and names).
        DICOM paths in the manifest are absolute; the DICOM stays where it is.
    segmentation, label_names
        Organ/lesion label map (NIfTI) and its names (``{"1": "liver"}`` or
        ``{"liver": 1}``, a file or a mapping; default: the NIfTI sidecar's ``labels``),
        or a DICOM SEG (file or folder; default names: its segment labels). Without it, a
        SEG series of the export that references the SSTR PET/CT or a SPECT/CT (or shares
        its frame of reference) becomes the study segmentation (``docs/segmentation.md``).
    clinical
        ``clinical.json`` with administrations and labs; administrations fill
        administration times/activities missing from the headers.
    roles
        Overrides ``{series_uid: role}``, role one of :data:`ROLES`.
    spect_fwhm_mm
        Reconstructed SPECT resolution (FWHM, mm; e.g. from the department's sphere
        phantom measurement). DICOM does not carry it; without it no partial-volume
        correction is applied and the run flags it.
    progress
        Called with a short message per step.
    """
    step = progress or (lambda _m: None)
    root = Path(dicom_dir).expanduser()
    if not root.is_dir():
        raise InvalidInputError(
            "DICOM folder",
            expected="an existing folder (the PACS export)",
            actual=str(root),
            fix="pass the folder holding the study's DICOM files",
        )
    root = root.resolve()
    if spect_fwhm_mm is not None and not (math.isfinite(spect_fwhm_mm) and spect_fwhm_mm > 0):
        raise InvalidInputError(
            "--spect-fwhm-mm", expected="a resolution > 0 mm (e.g. 11)", actual=spect_fwhm_mm
        )
    out_dir = Path(out).expanduser().resolve()
    seg_path = Path(segmentation).expanduser().resolve() if segmentation is not None else None
    if seg_path is None and label_names is not None:
        raise InvalidInputError(
            "--label-names", expected="together with --segmentation", actual="alone"
        )
    names: dict[int, str] | None = None
    seg_dicom: Path | None = None  # a DICOM SEG given as --segmentation
    if seg_path is not None and not seg_path.name.endswith((".nii", ".nii.gz")):
        from sstrkit.io.masks import find_dicom_seg

        seg_dicom = find_dicom_seg(seg_path)
    if seg_path is not None and seg_dicom is None:
        if not seg_path.is_file():
            raise InvalidInputError("--segmentation",
                                    expected="an existing NIfTI label map or DICOM SEG",
                                    actual=str(seg_path))  # fmt: skip
        names = _label_names(label_names, seg_path)
    clinical_path = Path(clinical).expanduser().resolve() if clinical is not None else None
    clinical_doc: Any = None
    admins: list[_Admin] = []
    if clinical_path is not None:
        clinical_doc = _load_json(clinical_path, "--clinical")
        admins = _clinical_admins(clinical_doc, clinical_path.name)

    def scanned(n: int) -> None:
        if n % 200 == 0:
            step(f"reading DICOM headers ({n} files)")

    step("reading DICOM headers")
    found = discover(root, progress=scanned)
    if not found.series:
        raise InvalidInputError(
            "DICOM folder",
            expected="DICOM series (PET, SPECT, CT) anywhere below the folder",
            actual=f"no DICOM series in {root}"
            + (f" ({len(found.unreadable)} unreadable DICOM files)" if found.unreadable else ""),
            fix="point to the folder of the PACS export",
        )
    step("assigning roles")
    series = [_analyse(info) for info in found.series]
    overrides = _parse_roles(roles, series)
    notes: list[str] = []
    for s in series:
        _classify(s)
        role = overrides.get(s.uid)
        if role == "ignore":
            s.candidate, s.reason = None, "override --role ignore"
        elif role in ("pet", "fdg", "spect"):
            s.candidate, s.reason = role, None
        elif role is not None:
            s.candidate, s.reason = "ct", None
    images = [s for s in series if s.kind != "other" and overrides.get(s.uid) != "ignore"]
    patients = Counter(_text(s.ds, "PatientID") or "" for s in images)
    if len([p for p in patients if p]) > 1:
        raise InvalidInputError(
            "DICOM folder",
            expected="the series of one patient",
            actual="PatientIDs " + ", ".join(f"{p} ({n} series)" for p, n in patients.items()),
            fix="export one patient per folder, or exclude series with --role UID=ignore",
        )
    if found.media_directories:
        notes.append(
            f"{len(found.media_directories)} DICOMDIR file(s) skipped (series are found by "
            "content): " + ", ".join(str(p) for p in found.media_directories)
        )
    if found.unreadable:
        notes.append(
            f"{len(found.unreadable)} DICOM file(s) could not be read and are not used, e.g. "
            f"{found.unreadable[0][0]} ({found.unreadable[0][1]})"
        )
    for s in series:
        if s.duplicates:
            notes.append(
                f"{s.label}: {s.duplicates} file(s) are second copies of the same images "
                "(same SOPInstanceUID); the first copy of each is used"
            )
    zoneless = [s for s in series if s.kind != "other" and s.zone_source == "UTC"]
    if zoneless:
        notes.append(
            f"{len(zoneless)} series have no TimezoneOffsetFromUTC (0008,0201): their times are "
            "labelled UTC (the io layer's rule); hours after injection are differences on one "
            "clock and not affected. Correct the offsets in the manifest if absolute times matter"
        )
    borrowed = [s for s in series if s.zone_source.startswith("Radiopharmaceutical")]
    if borrowed:
        notes.append(
            f"{len(borrowed)} series have no TimezoneOffsetFromUTC but an offset in "
            "RadiopharmaceuticalStartDateTime: that offset is used for their scan times so that "
            "hours after injection are on one clock"
        )

    # ---- administrations from clinical data where the headers lack them
    for s in series:
        if s.candidate in ("pet", "fdg", "spect"):
            _fill_from_clinical(s, admins, s.candidate == "spect", notes)
            _check_against_clinical(s, admins, notes)

    # ---- therapy cycles
    spect_cands = [s for s in series if s.candidate == "spect"]
    cycles = _cycles(spect_cands, notes)
    first_therapy = cycles[0][0] if cycles else None
    numbers = _cycle_numbers([c[0] for c in cycles], admins, notes)
    for k, (inj, act, nuclide, points) in zip(numbers, cycles, strict=True):
        for s in points:
            s.role, s.cycle = "spect", k
            s.hours = round((s.t - inj).total_seconds() / 3600.0, 1)
            s.injection_time, s.nuclide = inj, s.nuclide or nuclide
            if not math.isnan(act):
                s.activity_bq = act

    # ---- SSTR PET and FDG PET
    chosen: dict[str, _Series | None] = {}
    for role in ("pet", "fdg"):
        forced = [s for s in series if overrides.get(s.uid) == role]
        cands = forced or [s for s in series if s.candidate == role]
        if forced:
            for s in series:
                if s.candidate == role and s is not forced[0]:
                    s.reason = f"--role {forced[0].uid}={role} chooses another series"
                    s.noted = True
        pick = _choose_pet(cands, role, first_therapy, notes)
        if pick is not None:
            pick.role = role
        chosen[role] = pick

    if not any(s.role is not None for s in series):
        listing = "; ".join(
            f"{s.info.modality} '{s.description}': {s.reason or s.candidate}" for s in series
        )
        raise InvalidInputError(
            "DICOM folder",
            expected="an SSTR PET (Ga-68/Cu-64 or a DOTATATE/DOTATOC/DOTANOC tracer) or a "
            "Lu-177/Y-90 therapy SPECT",
            actual=f"{len(series)} series: {listing}",
            fix="check that the export holds the study; name a series' role with "
            "--role UID=pet|spect (docs/intake.md)",
        )
    for s in series:
        if s.role is None:
            continue
        missing = [
            what
            for what, value in (
                ("radionuclide", s.nuclide),
                ("administration time", s.injection_time),
                ("administered activity", s.activity_bq),
            )
            if value is None
        ]
        if missing:
            raise InvalidInputError(
                f"{s.role} series {s.label}",
                expected="radionuclide, administration time and activity in the "
                "RadiopharmaceuticalInformationSequence",
                actual=f"no {', no '.join(missing)}",
                fix="add the administration (time, nuclide, activity_bq) to the clinical data "
                "and pass --clinical CLINICAL.json, or exclude the series with "
                f"--role {s.uid}=ignore",
            )

    # ---- CT pairing
    step("pairing CTs")
    cts = [s for s in series if s.candidate == "ct"]
    forced_ct = {uid: r for uid, r in overrides.items() if r.endswith("_ct")}
    free_cts = [c for c in cts if c.uid not in forced_ct]
    ct_of: dict[int, _Series | None] = {}
    for role in ("pet", "fdg"):
        e = chosen[role]
        if e is None:
            continue
        forced = [c for c in cts if forced_ct.get(c.uid) == f"{role}_ct"]
        what = f"{'SSTR' if role == 'pet' else 'FDG'} PET {e.label}"
        ct_of[id(e)] = forced[0] if forced else _pair_ct(e, free_cts, what, f"{role}_ct", notes)
    spects = sorted((s for s in series if s.role == "spect"), key=lambda e: (e.cycle, e.hours))
    for e in spects:
        what = f"SPECT cycle {e.cycle} {e.hours:g} h {e.label}"
        ct_of[id(e)] = _pair_ct(e, free_cts, what, "spect_ct", notes)
    for c in cts:
        if forced_ct.get(c.uid) != "spect_ct":
            continue
        if not spects:
            raise InvalidInputError(
                f"--role {c.uid}=spect_ct", expected="a therapy SPECT to pair with", actual="none"
            )

        def gap(e: _Series, c: _Series = c) -> float:
            if e.time is None or c.time is None:
                return math.inf
            return abs((e.time - c.time).total_seconds())

        ct_of[id(min(spects, key=gap))] = c
    used_cts = {id(c) for c in ct_of.values() if c is not None}
    for c in cts:
        if id(c) not in used_cts:
            c.reason = c.reason or "CT not paired with an emission scan"
            c.noted = True
            notes.append(
                f"CT {c.label} is not paired with any emission scan (no shared frame of "
                "reference, not within 30 min of one in the same study); ignored. "
                "Use it with --role UID=pet_ct|fdg_ct|spect_ct"
            )

    # ---- a DICOM SEG as the study segmentation (a given --segmentation wins)
    seg_candidates: list[tuple[str, _Series]] = []
    for key, emission in [("baseline", chosen["pet"])] + [
        (f"cycle{e.cycle}_{e.hours:g}h", e) for e in spects
    ]:
        paired = ct_of.get(id(emission)) if emission is not None else None
        seg_candidates += [(key, x) for x in (emission, paired) if x is not None]
    seg_use: tuple[Path, str, _Series, bool] | None = None
    used_seg: _Series | None = None
    if seg_dicom is not None:
        from sstrkit.io.masks import dicom_seg_info

        header = dicom_seg_info(seg_dicom)
        target = _seg_target(header, seg_candidates)
        if target is None:
            raise InvalidInputError(
                "--segmentation",
                expected="a DICOM SEG referencing a series of the study (or sharing the frame "
                "of reference of its SSTR PET/CT or a SPECT/CT)",
                actual=f"{seg_dicom.name}: references {list(header.referenced_series_uids)}, "
                f"frame of reference {header.frame_of_reference_uid}",
                fix="pass the segmentation made on this study's images",
            )
        seg_use = (seg_dicom, *target)
    for s in series:
        if s.info.sop_class_uid not in _seg_sop_classes():
            continue
        if seg_path is not None:
            if seg_dicom is None or s.info.files[0].resolve() != seg_dicom.resolve():
                s.reason = "DICOM SEG not used: --segmentation was given"
            else:
                s.reason, s.noted, used_seg = "the study segmentation (--segmentation)", True, s
            continue
        if len(s.info.files) != 1:
            s.reason = (
                f"DICOM SEG of {len(s.info.files)} instances (one instance expected); pass one "
                "with --segmentation"
            )
            continue
        from sstrkit.io.masks import dicom_seg_info

        header = dicom_seg_info(s.info.files[0])
        target = _seg_target(header, seg_candidates)
        if target is None:
            continue
        if seg_use is not None and not (target[0] == "baseline" and seg_use[1] != "baseline"):
            s.reason = f"another DICOM SEG ({seg_use[0].name}) is the study segmentation"
            continue
        if used_seg is not None:  # a SEG on the SSTR PET/CT replaces one on a SPECT/CT
            used_seg.noted = False
            used_seg.reason = (
                f"another DICOM SEG ({s.info.files[0].name}) is the study segmentation"
            )
        seg_use, used_seg = (s.info.files[0], *target), s
        s.reason, s.noted = "the study segmentation (DICOM SEG)", True

    # ---- a note for every other series not used
    for s in series:
        if s.role is not None or id(s) in used_cts or s.noted:
            continue
        s.reason = s.reason or "not used"
        if overrides.get(s.uid) == "ignore":
            continue
        hint = ". Override with --role UID=pet|fdg|spect" if s.kind in ("PET", "NM") else ""
        notes.append(f"{s.info.modality} {s.label} ignored: {s.reason}{hint}")

    # ---- paths
    owners = _owners(found, series, root)
    for s in series:
        _set_path(s, owners)

    # ---- manifest
    step("writing the study")
    series_doc: dict[str, Any] = {
        "pet": None, "pet_ct": None, "fdg": None, "fdg_ct": None, "spect": [], "spect_ct": [],
    }  # fmt: skip
    ct_roles: dict[int, tuple[str, int | None, float | None]] = {}
    for role in ("pet", "fdg"):
        e = chosen[role]
        if e is None:
            continue
        series_doc[role] = _emission_entry(e)
        ct = ct_of.get(id(e))
        if ct is not None:
            series_doc[f"{role}_ct"] = _ct_entry(ct)
            ct_roles.setdefault(id(ct), (f"{role}_ct", None, None))
    for e in spects:
        entry = _emission_entry(e)
        files = entry.pop("files", None)
        spect_entry = {"cycle": e.cycle, "hours_post_injection": e.hours, **entry}
        spect_entry["fwhm_mm"] = spect_fwhm_mm
        spect_entry["energy_windows"] = e.energy_windows
        if files is not None:
            spect_entry["files"] = files
        series_doc["spect"].append(spect_entry)
        ct = ct_of.get(id(e))
        if ct is not None:
            series_doc["spect_ct"].append(
                {"cycle": e.cycle, "hours_post_injection": e.hours, **_ct_entry(ct)}
            )
            ct_roles.setdefault(id(ct), ("spect_ct", e.cycle, e.hours))
    if spects and spect_fwhm_mm is None:
        notes.append(
            "fwhm_mm (SPECT system resolution) is not in DICOM and is left null: no "
            "partial-volume correction is applied until it is given (--spect-fwhm-mm) or set "
            "in the manifest"
        )
    elif spects:
        notes.append(f"SPECT resolution fwhm_mm = {spect_fwhm_mm:g} mm from --spect-fwhm-mm")
    for s in spects + [x for x in (chosen["pet"], chosen["fdg"]) if x is not None]:
        if (s.units or "").upper() not in ("BQML", "BQ/ML", "GML", "CM2ML"):
            notes.append(
                f"{s.label}: units {s.units or 'not given'} (not Bq/mL): quantification needs a "
                "calibration (see `sstrkit suv --sensitivity-cps-per-mbq`)"
            )

    used = [x for x in (chosen["pet"], chosen["fdg"]) if x is not None] + spects
    patient, patient_notes = _patient(used, series, clinical_doc)
    notes.extend(patient_notes)

    manifest: dict[str, Any] = {
        "format": "sstrkit-study",
        "version": 2,
        "patient": patient,
        "series": series_doc,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    if seg_path is not None and names is not None:
        step("matching the label map to the series grids")
        from sstrkit.io.nifti import read_nifti, sidecar_path

        labels = read_nifti(seg_path)
        arr = np.asarray(labels.array)
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
            raise InvalidInputError(
                "--segmentation", expected="an integer label map", actual="non-integer values"
            )
        present = {int(v) for v in np.unique(arr)} - {0}
        unnamed = sorted(present - set(names))
        if unnamed:
            notes.append(f"label values {unnamed} of the label map have no name")
        empty = sorted(set(names) - present)
        if empty:
            notes.append(
                "named labels absent from the label map: "
                + ", ".join(f"{v} ({names[v]})" for v in empty)
            )
        grid_candidates: list[tuple[str, _Series]] = []
        if chosen["pet"] is not None:
            grid_candidates.append(("baseline", chosen["pet"]))
            ct = ct_of.get(id(chosen["pet"]))
            if ct is not None:
                grid_candidates.append(("baseline", ct))
        for e in spects:
            key = f"cycle{e.cycle}_{e.hours:g}h"
            grid_candidates.append((key, e))
            ct = ct_of.get(id(e))
            if ct is not None:
                grid_candidates.append((key, ct))
        key = _grid_key(labels, grid_candidates, notes)
        suffix = ".nii.gz" if seg_path.name.endswith(".nii.gz") else ".nii"
        seg_dir = out_dir / "segmentation"
        _copy(seg_path, seg_dir / f"labels{suffix}")
        side = sidecar_path(seg_path)
        if side.is_file():
            _copy(side, seg_dir / "labels.json")
        write_json_atomic(seg_dir / "label_names.json", {str(k): names[k] for k in sorted(names)})
        manifest["segmentation"] = {
            "labels_nifti": {key: f"segmentation/labels{suffix}"},
            "label_names": "segmentation/label_names.json",
        }
    if seg_use is not None:
        step("converting the DICOM SEG")
        seg_dir = out_dir / "segmentation"
        seg_names = _seg_to_study(*seg_use, seg_dir, notes)
        if label_names is not None:
            seg_names = _label_names(label_names, seg_use[0])
        write_json_atomic(
            seg_dir / "label_names.json", {str(k): seg_names[k] for k in sorted(seg_names)}
        )
        manifest["segmentation"] = {
            "labels_nifti": {seg_use[1]: "segmentation/labels.nii.gz"},
            "label_names": "segmentation/label_names.json",
        }
    if clinical_path is not None:
        _copy(clinical_path, out_dir / "clinical.json")
        manifest["clinical"] = "clinical.json"

    ignored = [s for s in series if s.role is None and id(s) not in used_cts and s is not used_seg]
    manifest["intake"] = {
        "source": str(root),
        "sstrkit_version": __version__,
        "notes": notes,
        "overrides": overrides,
        "ignored_series": [
            {
                "series_uid": s.uid,
                "modality": s.info.modality,
                "series_description": s.description,
                "reason": s.reason or "not used",
            }
            for s in ignored
        ],
    }
    _validate(manifest, out_dir)
    manifest_path = write_json_atomic(out_dir / "manifest.json", manifest)

    # ---- review table
    rows: list[IntakeRow] = []

    def row(s: _Series, role: str, cycle: int | None, hours: float | None) -> IntakeRow:
        return IntakeRow(
            role=role,
            cycle=cycle,
            hours_post_injection=hours,
            series_description=s.description,
            date=_iso(s.time),
            series_uid=s.uid,
            n_files=len(s.files),
            path=str(s.path),
            modality=s.info.modality,
        )

    for role in ("pet", "fdg"):
        e = chosen[role]
        if e is not None:
            rows.append(row(e, role, None, None))
            ct = ct_of.get(id(e))
            if ct is not None:
                rows.append(row(ct, f"{role}_ct", None, None))
    for e in spects:
        rows.append(row(e, "spect", e.cycle, e.hours))
        ct = ct_of.get(id(e))
        if ct is not None:
            rows.append(row(ct, "spect_ct", e.cycle, e.hours))
    if used_seg is not None:
        rows.append(row(used_seg, "segmentation", None, None))
    for s in sorted(ignored, key=lambda s: (s.time is None, s.time.timestamp() if s.time else 0.0)):
        rows.append(row(s, "ignored", None, None))
    return IntakeResult(manifest, manifest_path, tuple(rows), tuple(notes))
