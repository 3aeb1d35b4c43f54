"""Clinical data and patient fields: ``clinical.json`` administrations, the patient block.

The administrations of ``clinical.json`` (``--clinical``) complete the time, activity
or radionuclide an emission series lacks in its headers (:func:`_fill_from_clinical`)
and are compared with the header activity (:func:`_check_against_clinical`); their
``cycle`` numbers the therapy cycles (:mod:`sstrkit.pipeline.intake.cycles`).
:func:`_patient` builds the manifest's patient block from the headers of the series
used (SSTR PET first), with the clinical data's ``patient`` as fallback, and notes
values that differ between series.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sstrkit.core.units import BQ_PER_MBQ, G_PER_KG
from sstrkit.errors import InvalidInputError
from sstrkit.io.suv import MAX_PLAUSIBLE_WEIGHT_KG
from sstrkit.pipeline.intake.roles import THERAPY_NUCLIDES
from sstrkit.pipeline.intake.series import _float, _Series, _text

#: Weight (and height) values further apart than this fraction are reported.
BODY_TOLERANCE = 0.05


@dataclass(frozen=True)
class _Admin:
    """One administration of the clinical data (``administrations[k]``)."""

    time: _dt.datetime
    nuclide: str | None
    activity_bq: float | None
    label: str
    cycle: int | None = None


def _load_json(path: Path, what: str) -> Any:
    """The JSON document at ``path``; ``what`` names it in the error."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(what, expected="an existing JSON file", actual=str(path)) from None
    except (OSError, ValueError) as exc:
        raise InvalidInputError(what, expected="readable JSON", actual=f"{path}: {exc}") from None


def _aware_time(text: Any, where: str) -> _dt.datetime:
    """An ISO 8601 time with its UTC offset; ``where`` names it in the error."""
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
    """The checked administrations of a clinical data document (its labs' times checked)."""
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
        # therapy SPECT up to 30 days, scintigraphy up to 72 h (planar at 4, 24, 48 h), PET 24 h
        scint = s.candidate in ("planar", "sstr_spect")
        window = _dt.timedelta(days=30 if therapy else 3 if scint else 1)
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
        filled.append(f"activity {match.activity_bq / BQ_PER_MBQ:g} MBq")
    if s.nuclide is None and match.nuclide is not None:
        s.nuclide, s.nuclide_source = match.nuclide, match.label
        filled.append(f"nuclide {match.nuclide}")
    if filled:
        s.noted = True
        notes.append(
            f"{s.label}: {', '.join(filled)} taken from {match.label} (not in the DICOM headers)"
        )


def _check_against_clinical(s: _Series, admins: Sequence[_Admin], notes: list[str]) -> None:
    """Note a header activity more than 5 % from the clinical one of the same administration."""
    if s.injection_time is None or s.activity_bq is None:
        return
    for a in admins:
        if a.activity_bq is None or abs(a.time - s.injection_time) > _dt.timedelta(hours=1):
            continue
        if abs(a.activity_bq - s.activity_bq) > 0.05 * a.activity_bq:
            notes.append(
                f"{s.label}: header activity {s.activity_bq / BQ_PER_MBQ:g} MBq differs from "
                f"{a.label} ({a.activity_bq / BQ_PER_MBQ:g} MBq) by more than 5 %; "
                "the header value is "
                "used (edit injected_activity_bq in the manifest to use the other)"
            )
        return


def _apply_clinical(series: Sequence[_Series], admins: Sequence[_Admin], notes: list[str]) -> None:
    """Administrations from the clinical data where the headers of a PET/SPECT lack them."""
    for s in series:
        if s.candidate in ("pet", "fdg", "spect", "planar", "sstr_spect", "maa_planar", "maa_spect",
                           "y90_pet", "y90_spect"):  # fmt: skip
            therapy = s.candidate in ("spect", "y90_pet", "y90_spect")
            _fill_from_clinical(s, admins, therapy, notes)
            _check_against_clinical(s, admins, notes)


def _patient(
    used: Sequence[_Series], everything: Sequence[_Series], clinical: Any
) -> tuple[dict[str, Any], list[str]]:
    """The manifest's patient block and its notes.

    Each field comes from the first series that has it (the series ``used``, SSTR PET
    first, then the others), else from the clinical data's ``patient``.
    """
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
                w, src = w / G_PER_KG, src + " (grams, read as kg)"
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
