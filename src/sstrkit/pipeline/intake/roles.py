"""Series roles: candidates from the headers, overrides, the chosen PETs and CT pairs.

:func:`_classify` makes each series a candidate (SSTR PET, FDG PET, therapy SPECT,
CT) or gives the reason it is not one; :func:`_parse_roles` checks the overrides
``{series_uid: role}``. Of several candidates the SSTR and FDG PET of the latest exam
before the first therapy are chosen (:func:`_choose_pet`), and each emission scan is
paired with the CT of its frame of reference or, failing that, of its study within
:data:`CT_WINDOW` (:func:`_pair_ct`). The ``_assign_candidates`` … ``_note_unused``
functions are the steps of :func:`~sstrkit.pipeline.intake.intake_study` built on them;
:class:`_Selection` is what they choose.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from sstrkit.errors import InvalidInputError
from sstrkit.io.discover import RTDOSE_SOP_CLASS, RTSTRUCT_SOP_CLASS, SECONDARY_CAPTURE_PREFIX
from sstrkit.pipeline.intake.scintigraphy import _scintigraphy_candidate
from sstrkit.pipeline.intake.series import _seg_sop_classes, _Series, _text, _words
from sstrkit.pipeline.intake.sirt import (
    SIRT_CT_ROLES,
    SIRT_EMISSION_ROLES,
    SIRT_ROLES,
    _sirt_candidate,
)

#: Roles a series can be given (``--role UID=ROLE``).
ROLES = (
    "pet", "pet_ct", "fdg", "fdg_ct", "spect", "spect_ct", "scintigraphy_planar", "sstr_spect",
    "sstr_spect_ct", *SIRT_ROLES, "ignore",
)  # fmt: skip
#: Override role → the candidate it makes of a PET/NM series.
_EMISSION_ROLES = {
    "pet": "pet", "fdg": "fdg", "spect": "spect", "scintigraphy_planar": "planar",
    "sstr_spect": "sstr_spect", **{r: r for r in SIRT_EMISSION_ROLES},
}  # fmt: skip

#: What each SIRT emission role is called in messages.
_SIRT_KIND = {"maa_spect": "99mTc-MAA SPECT", "y90_pet": "90Y PET", "y90_spect": "90Y SPECT"}
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

#: Emission scans of one exam / time point: series acquired within this interval.
SAME_EXAM = _dt.timedelta(hours=1)
#: A CT without the emission scan's frame of reference is paired within this interval.
CT_WINDOW = _dt.timedelta(minutes=30)


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
    if _sirt_candidate(s, SSTR_WORDS):
        return
    if _scintigraphy_candidate(s):
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
        if role in _EMISSION_ROLES and s.kind not in ("PET", "NM"):
            raise InvalidInputError(
                f"--role {uid}={role}",
                expected="a PET or NM image series",
                actual=f"{s.info.modality} series '{s.description}'",
            )
        if role in ("scintigraphy_planar", "maa_planar") and s.kind != "NM":
            raise InvalidInputError(
                f"--role {uid}={role}",
                expected="an NM whole-body series",
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


def _assign_candidates(series: Sequence[_Series], overrides: Mapping[str, str]) -> None:
    """Classify every series, apply the overrides; one PatientID among the images.

    An override ``ignore`` drops the series' candidacy; ``pet``, ``fdg``, ``spect``,
    ``scintigraphy_planar`` or ``sstr_spect`` makes the series that candidate and a
    ``*_ct`` role makes it a CT candidate.
    """
    for s in series:
        _classify(s)
        role = overrides.get(s.uid)
        if role == "ignore":
            s.candidate, s.reason = None, "override --role ignore"
        elif role in _EMISSION_ROLES:
            s.candidate, s.reason = _EMISSION_ROLES[role], None
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


def _choose_pets(
    series: Sequence[_Series],
    overrides: Mapping[str, str],
    first_therapy: _dt.datetime | None,
    notes: list[str],
) -> dict[str, _Series | None]:
    """The SSTR PET (``"pet"``) and FDG PET (``"fdg"``), each ``None`` when there is none.

    A series given the role by an override wins over the candidates from the headers;
    the chosen series get their ``role``.
    """
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
    return chosen


def _require_roles(series: Sequence[_Series]) -> None:
    """Raise unless a series has a role and each one with a role has its administration."""
    if not any(s.role is not None for s in series):
        listing = "; ".join(
            f"{s.info.modality} '{s.description}': {s.reason or s.candidate}" for s in series
        )
        raise InvalidInputError(
            "DICOM folder",
            expected="an SSTR PET (Ga-68/Cu-64 or a DOTATATE/DOTATOC/DOTANOC tracer), an "
            "111In/99mTc SSTR scintigraphy (whole-body or SPECT), a SIRT study (99mTc-MAA "
            "planar/SPECT, 90Y PET/SPECT) or a Lu-177/Y-90 therapy SPECT",
            actual=f"{len(series)} series: {listing}",
            fix="check that the export holds the study; name a series' role with "
            "--role UID=pet|spect|scintigraphy_planar|sstr_spect (docs/intake.md)",
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


def _pair_ct(
    emission: _Series, cts: Sequence[_Series], what: str, role: str, notes: list[str]
) -> _Series | None:
    """The CT of ``emission``: of its frame of reference, else of its study within
    :data:`CT_WINDOW` (closest in time first); ``None`` with a note when there is none."""

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


@dataclass(frozen=True)
class _Selection:
    """The emission series of the manifest and the CT paired with each."""

    #: The SSTR PET (``"pet"``) and the FDG PET (``"fdg"``), ``None`` when absent.
    chosen: Mapping[str, _Series | None]
    #: The therapy SPECTs with a role, by cycle and hours after injection.
    spects: list[_Series]
    #: ``id(emission series)`` → its CT (``None``: no CT found).
    ct_of: Mapping[int, _Series | None]
    #: ``id`` of every CT paired with an emission series.
    used_cts: set[int]
    #: The planar whole-body time points of the SSTR scintigraphy, by hours after injection.
    planars: list[_Series] = dataclasses.field(default_factory=list)
    #: The diagnostic 111In/99mTc SSTR SPECTs, by hours after injection.
    sstr_spects: list[_Series] = dataclasses.field(default_factory=list)
    #: The SIRT series by role (``maa_planar``, ``maa_spect``, ``y90_pet``, ``y90_spect``).
    sirt: Mapping[str, list[_Series]] = dataclasses.field(default_factory=dict)

    def ct(self, emission: _Series) -> _Series | None:
        """The CT paired with ``emission`` (``None`` when none is)."""
        return self.ct_of.get(id(emission))


def _pair_cts(
    series: Sequence[_Series],
    overrides: Mapping[str, str],
    chosen: Mapping[str, _Series | None],
    notes: list[str],
    scintigraphy: tuple[list[_Series], list[_Series]] = ([], []),
    sirt: Mapping[str, list[_Series]] | None = None,
) -> _Selection:
    """Pair the chosen PETs and the SPECTs with their CTs; note the CTs left unpaired.

    A CT given ``pet_ct``/``fdg_ct`` by an override is that PET's CT; one given
    ``spect_ct`` (``sstr_spect_ct``) goes to the therapy (SSTR) SPECT closest in time.
    The others are paired by :func:`_pair_ct`. ``scintigraphy`` is the planar time points
    and the SSTR SPECTs (:func:`~sstrkit.pipeline.intake.scintigraphy._choose_scintigraphy`);
    ``sirt`` the SIRT series by role (:func:`~sstrkit.pipeline.intake.sirt._choose_sirt`),
    whose MAA SPECT, 90Y PET and 90Y SPECT are paired the same way (``maa_spect_ct``...).
    """
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
    planars, sstr_spects = scintigraphy
    for e in sstr_spects:
        what = f"SSTR SPECT {e.hours:g} h {e.label}"
        ct_of[id(e)] = _pair_ct(e, free_cts, what, "sstr_spect_ct", notes)
    sirt = dict(sirt or {})
    for role, ct_role in SIRT_CT_ROLES.items():
        for e in sirt.get(role, []):
            what = f"{_SIRT_KIND[role]} {e.hours:g} h {e.label}"
            ct_of[id(e)] = _pair_ct(e, free_cts, what, ct_role, notes)
    pairs = [("spect_ct", spects, "therapy SPECT"), ("sstr_spect_ct", sstr_spects, "SSTR SPECT")]
    pairs += [(ct, sirt.get(r, []), _SIRT_KIND[r]) for r, ct in SIRT_CT_ROLES.items()]
    for role, targets, kind in pairs:
        for c in cts:
            if forced_ct.get(c.uid) != role:
                continue
            if not targets:
                raise InvalidInputError(
                    f"--role {c.uid}={role}", expected=f"a {kind} to pair with", actual="none"
                )
            ct_of[id(min(targets, key=partial(_gap, c=c)))] = c
    used_cts = {id(c) for c in ct_of.values() if c is not None}
    for c in cts:
        if id(c) not in used_cts:
            c.reason = c.reason or "CT not paired with an emission scan"
            c.noted = True
            notes.append(
                f"CT {c.label} is not paired with any emission scan (no shared frame of "
                "reference, not within 30 min of one in the same study); ignored. "
                "Use it with --role UID=pet_ct|fdg_ct|spect_ct|sstr_spect_ct|maa_spect_ct|"
                "y90_pet_ct|y90_spect_ct"
            )
    return _Selection(dict(chosen), spects, ct_of, used_cts, planars, sstr_spects, sirt)


def _gap(e: _Series, c: _Series) -> float:
    """Seconds between two series' times (infinite when one has none)."""
    if e.time is None or c.time is None:
        return math.inf
    return abs((e.time - c.time).total_seconds())


def _note_unused(
    series: Sequence[_Series], overrides: Mapping[str, str], used_cts: set[int], notes: list[str]
) -> None:
    """A note for every series not used and not noted yet (none for ``--role UID=ignore``)."""
    for s in series:
        if s.role is not None or id(s) in used_cts or s.noted:
            continue
        s.reason = s.reason or "not used"
        if overrides.get(s.uid) == "ignore":
            continue
        hint = (
            ". Override with --role UID=pet|fdg|spect|scintigraphy_planar|sstr_spect"
            if s.kind in ("PET", "NM")
            else ""
        )
        notes.append(f"{s.info.modality} {s.label} ignored: {s.reason}{hint}")
