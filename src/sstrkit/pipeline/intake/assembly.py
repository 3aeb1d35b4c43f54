"""Manifest assembly: series entries, the checked ``manifest.json``, the review table.

The series entries (:func:`_series_doc`), the ``intake`` record (source, notes,
overrides, ignored series) and the validation models (:func:`_validate`: the pydantic
models of the manifest version 2 written by intake, checked before it is written) make
up ``manifest.json``; :class:`IntakeRow` is one line of the review table printed by
``sstrkit study init`` and :class:`IntakeResult` what
:func:`~sstrkit.pipeline.intake.intake_study` returns.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from sstrkit import __version__
from sstrkit.errors import InvalidInputError
from sstrkit.pipeline.intake.roles import _Selection
from sstrkit.pipeline.intake.series import _iso, _Series
from sstrkit.pipeline.intake.sirt import SIRT_ROLES, _sirt_series_doc


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
    fwhm_source: str | None = None
    energy_windows: list[_Window]


class _SpectCt(_Ct):
    cycle: int = Field(ge=1)
    hours_post_injection: float = Field(gt=0)


class _Planar(_Emission):
    hours_post_injection: float = Field(gt=0)
    energy_windows: list[_Window]


class _SstrSpect(_Emission):
    hours_post_injection: float = Field(gt=0)
    fwhm_mm: float | None = None
    calibration_cps_per_mbq: float | None = Field(default=None, gt=0)
    energy_windows: list[_Window]


class _SstrSpectCt(_Ct):
    hours_post_injection: float = Field(gt=0)


class _MaaPlanar(_Emission):
    hours_post_injection: float = Field(ge=0)
    energy_windows: list[_Window]


class _SirtSpect(_Emission):
    hours_post_injection: float = Field(ge=0)
    calibration_cps_per_mbq: float | None = Field(default=None, gt=0)
    energy_windows: list[_Window]


class _Y90Pet(_Emission):
    hours_post_injection: float = Field(ge=0)


class _SirtCt(_Ct):
    hours_post_injection: float = Field(ge=0)


class _SeriesModel(_Strict):
    pet: _Emission | None
    pet_ct: _Ct | None
    fdg: _Emission | None
    fdg_ct: _Ct | None
    spect: list[_Spect]
    spect_ct: list[_SpectCt]
    scintigraphy_planar: list[_Planar] = []
    sstr_spect: list[_SstrSpect] = []
    sstr_spect_ct: list[_SstrSpectCt] = []
    # SIRT (present when the export holds a SIRT series)
    maa_planar: list[_MaaPlanar] = []
    maa_spect: list[_SirtSpect] = []
    maa_spect_ct: list[_SirtCt] = []
    y90_pet: list[_Y90Pet] = []
    y90_pet_ct: list[_SirtCt] = []
    y90_spect: list[_SirtSpect] = []
    y90_spect_ct: list[_SirtCt] = []

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
        sirt = self.maa_planar or self.maa_spect or self.y90_pet or self.y90_spect
        if self.pet is None and not (
            self.spect or self.scintigraphy_planar or self.sstr_spect or sirt
        ):
            raise ValueError(
                "neither an SSTR PET, a therapy SPECT, an SSTR scintigraphy nor a SIRT study"
            )
        hours = [p.hours_post_injection for p in self.sstr_spect]
        if len(set(hours)) != len(hours):
            raise ValueError("two SSTR SPECT entries share hours_post_injection")
        missing_s = {c.hours_post_injection for c in self.sstr_spect_ct} - set(hours)
        if missing_s:
            raise ValueError(f"sstr_spect_ct entries without an SSTR SPECT: {sorted(missing_s)}")
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
    overrides: dict[
        str,
        Literal[
            "pet", "pet_ct", "fdg", "fdg_ct", "spect", "spect_ct", "scintigraphy_planar",
            "sstr_spect", "sstr_spect_ct", "maa_planar", "maa_spect", "maa_spect_ct", "y90_pet",
            "y90_pet_ct", "y90_spect", "y90_spect_ct", "ignore",
        ],
    ]  # fmt: skip
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
    """Check the manifest against the models and its paths (PET/CT series, the copied
    segmentation files in ``out``) before it is written."""
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
    for role in ("scintigraphy_planar", "sstr_spect", "sstr_spect_ct", *SIRT_ROLES):
        for k, entry in enumerate(manifest["series"].get(role, [])):
            if not Path(entry["path"]).exists():
                raise InvalidInputError(
                    f"series.{role}[{k}].path", expected="an existing path", actual=entry["path"]
                )
    seg = manifest.get("segmentation")
    if seg is not None:
        for rel in [*seg["labels_nifti"].values(), seg["label_names"]]:
            if not (out / rel).is_file():
                raise InvalidInputError(
                    "segmentation", expected="files copied into the study", actual=rel
                )


# --------------------------------------------------------------------------- entries
def _ct_entry(s: _Series) -> dict[str, Any]:
    """The manifest entry of a CT (path, UIDs, time, description, file list if any)."""
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
    """The manifest entry of a PET or SPECT: a CT entry with tracer and administration."""
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


def _series_doc(sel: _Selection, spect_fwhm_mm: float | None, notes: list[str]) -> dict[str, Any]:
    """The manifest's ``series``: PET, FDG PET, SPECTs and their CTs.

    Notes the SPECT resolution (given or missing) and every emission series whose units
    are not Bq/mL.
    """
    series_doc: dict[str, Any] = {
        "pet": None, "pet_ct": None, "fdg": None, "fdg_ct": None, "spect": [], "spect_ct": [],
        "scintigraphy_planar": [], "sstr_spect": [], "sstr_spect_ct": [],
    }  # fmt: skip
    for role in ("pet", "fdg"):
        e = sel.chosen[role]
        if e is None:
            continue
        series_doc[role] = _emission_entry(e)
        ct = sel.ct(e)
        if ct is not None:
            series_doc[f"{role}_ct"] = _ct_entry(ct)
    for e in sel.spects:
        entry = _emission_entry(e)
        files = entry.pop("files", None)
        spect_entry = {"cycle": e.cycle, "hours_post_injection": e.hours, **entry}
        spect_entry["fwhm_mm"] = spect_fwhm_mm
        if spect_fwhm_mm is not None:
            spect_entry["fwhm_source"] = "--spect-fwhm-mm"
        spect_entry["energy_windows"] = e.energy_windows
        if files is not None:
            spect_entry["files"] = files
        series_doc["spect"].append(spect_entry)
        ct = sel.ct(e)
        if ct is not None:
            series_doc["spect_ct"].append(
                {"cycle": e.cycle, "hours_post_injection": e.hours, **_ct_entry(ct)}
            )
    _scintigraphy_entries(sel, spect_fwhm_mm, series_doc)
    series_doc.update(_sirt_series_doc(sel.sirt, sel.ct, _emission_entry, _ct_entry))
    spects = sel.spects
    if spects and spect_fwhm_mm is None:
        notes.append(
            "fwhm_mm (SPECT system resolution) is not in DICOM and is left null: the run "
            "estimates it from the SPECT header (collimator, orbit, photopeak, reconstruction; "
            "flagged spect_resolution_estimated) for the partial-volume correction, unless "
            "it is given (--spect-fwhm-mm) or set in the manifest"
        )
    elif spects:
        notes.append(f"SPECT resolution fwhm_mm = {spect_fwhm_mm:g} mm from --spect-fwhm-mm")
    for s in spects + [x for x in (sel.chosen["pet"], sel.chosen["fdg"]) if x is not None]:
        if (s.units or "").upper() not in ("BQML", "BQ/ML", "GML", "CM2ML"):
            notes.append(
                f"{s.label}: units {s.units or 'not given'} (not Bq/mL): quantification needs a "
                "calibration (see `sstrkit suv --sensitivity-cps-per-mbq`)"
            )
    return series_doc


def _scintigraphy_entries(
    sel: _Selection, spect_fwhm_mm: float | None, series_doc: dict[str, Any]
) -> None:
    """The manifest's ``scintigraphy_planar``, ``sstr_spect`` and ``sstr_spect_ct`` lists.

    An SSTR SPECT's ``calibration_cps_per_mbq`` (counts → Bq/mL) is not in DICOM: it is
    written null, to be set in the manifest when the series is in counts.
    """
    for e in sel.planars:
        entry = _emission_entry(e)
        files = entry.pop("files", None)
        planar = {"hours_post_injection": e.hours, **entry, "energy_windows": e.energy_windows}
        if files is not None:
            planar["files"] = files
        series_doc["scintigraphy_planar"].append(planar)
    for e in sel.sstr_spects:
        entry = _emission_entry(e)
        files = entry.pop("files", None)
        spect = {
            "hours_post_injection": e.hours,
            **entry,
            "fwhm_mm": spect_fwhm_mm,
            "calibration_cps_per_mbq": None,
            "energy_windows": e.energy_windows,
        }
        if files is not None:
            spect["files"] = files
        series_doc["sstr_spect"].append(spect)
        ct = sel.ct(e)
        if ct is not None:
            series_doc["sstr_spect_ct"].append({"hours_post_injection": e.hours, **_ct_entry(ct)})


def _intake_section(
    root: Path, notes: list[str], overrides: Mapping[str, str], ignored: Sequence[_Series]
) -> dict[str, Any]:
    """The manifest's ``intake`` record: source folder, version, notes, overrides, ignored."""
    return {
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


def _row(s: _Series, role: str, cycle: int | None, hours: float | None) -> IntakeRow:
    """The review table line of ``s`` in ``role``."""
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


def _review_rows(
    sel: _Selection, used_seg: _Series | None, ignored: Sequence[_Series]
) -> tuple[IntakeRow, ...]:
    """The review table: PETs and SPECTs each followed by its CT, the DICOM SEG used, then
    the ignored series by time."""
    rows: list[IntakeRow] = []
    for role in ("pet", "fdg"):
        e = sel.chosen[role]
        if e is not None:
            rows.append(_row(e, role, None, None))
            ct = sel.ct(e)
            if ct is not None:
                rows.append(_row(ct, f"{role}_ct", None, None))
    for e in sel.spects:
        rows.append(_row(e, "spect", e.cycle, e.hours))
        ct = sel.ct(e)
        if ct is not None:
            rows.append(_row(ct, "spect_ct", e.cycle, e.hours))
    for e in sel.planars:
        rows.append(_row(e, "scintigraphy_planar", None, e.hours))
    for e in sel.sstr_spects:
        rows.append(_row(e, "sstr_spect", None, e.hours))
        ct = sel.ct(e)
        if ct is not None:
            rows.append(_row(ct, "sstr_spect_ct", None, e.hours))
    for role, group in sel.sirt.items():
        for e in group:
            rows.append(_row(e, role, None, e.hours))
            ct = sel.ct(e) if role != "maa_planar" else None
            if ct is not None:
                rows.append(_row(ct, f"{role}_ct", None, e.hours))
    if used_seg is not None:
        rows.append(_row(used_seg, "segmentation", None, None))
    for s in sorted(ignored, key=lambda s: (s.time is None, s.time.timestamp() if s.time else 0.0)):
        rows.append(_row(s, "ignored", None, None))
    return tuple(rows)
