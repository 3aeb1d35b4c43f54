"""SIRT roles: the 99mTc-MAA work-up and the post-implant 90Y imaging of a radioembolisation.

:func:`_sirt_candidate` recognises, from the headers,

* ``maa_planar``: a 99mTc NM planar image (ImageType value 3 ``WHOLE BODY`` or ``STATIC``)
  whose radiopharmaceutical, series or study text names macroaggregated albumin (MAA,
  "macroaggregated albumin", "Makroaggregat", kit names Macrotec, Pulmocis; DICOM CID 25
  SNOMED CT 85693008 "Technetium Tc^99m^ aggregated albumin" in the
  RadiopharmaceuticalCodeSequence);
* ``maa_spect``: a reconstructed 99mTc SPECT (NM ``RECON TOMO``, or PET-SOP slices) of MAA;
* ``y90_pet``: a PET (PET Image Storage) of 90Y (RadionuclideCodeSequence ``C-162A7``
  or another nuclide rule of :mod:`~sstrkit.pipeline.intake.series`), unless its text names
  an SSTR ligand (a 90Y-DOTATOC PET stays a therapy ``spect``); one that names neither
  microspheres nor a ligand is taken as post-SIRT (90Y PET is done almost only after
  radioembolisation) with a note;
* ``y90_spect``: a reconstructed 90Y NM tomogram (bremsstrahlung SPECT) whose text names
  microspheres (SIR-Spheres, TheraSphere, "Yttrium^90^ microspheres", SNOMED CT
  764678003, SIRT, radioembolisation); a 90Y SPECT without it stays a PRRT ``spect``.

A 99mTc-MAA lung perfusion study (no hepatic-artery injection in the headers) is
indistinguishable here; it is taken as a SIRT work-up (override with ``--role UID=ignore``).
:func:`_choose_sirt` gives the candidates their role: per role one series per time point
(scans within :data:`~sstrkit.pipeline.intake.roles.SAME_EXAM`: the preferred
reconstruction), hours after the administration (MAA injection or 90Y implant); each
MAA SPECT, 90Y PET and 90Y SPECT is then paired with its CT like every emission scan
(roles ``maa_spect_ct``, ``y90_pet_ct``, ``y90_spect_ct``; ``--role UID=ROLE`` overrides).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sstrkit.core.units import SECONDS_PER_HOUR
from sstrkit.pipeline.intake.scintigraphy import _is_whole_body
from sstrkit.pipeline.intake.series import _Series, _text, _words, best_reconstructions

#: Emission roles of a SIRT, and the CT role of each tomographic one.
SIRT_EMISSION_ROLES = ("maa_planar", "maa_spect", "y90_pet", "y90_spect")
SIRT_CT_ROLES = {"maa_spect": "maa_spect_ct", "y90_pet": "y90_pet_ct", "y90_spect": "y90_spect_ct"}
SIRT_ROLES = (
    "maa_planar", "maa_spect", "maa_spect_ct", "y90_pet", "y90_pet_ct", "y90_spect",
    "y90_spect_ct",
)  # fmt: skip
#: Words (name_key form) naming 99mTc macroaggregated albumin.
MAA_WORDS = (
    "maa", "macroaggregat", "makroaggregat", "aggregatedalbumin", "albuminaggregat",
    "macrotec", "pulmocis", "pulmotec",
)  # fmt: skip
#: Words naming 90Y microspheres or the radioembolisation.
MICROSPHERE_WORDS = (
    "microsphere", "mikrosph", "sirsphere", "therasphere", "radioemboli", "sirt",
    "selectiveinternal",
)  # fmt: skip
#: RadiopharmaceuticalCodeSequence code values (SNOMED CT, DICOM CID 25).
MAA_CODES = ("85693008",)
MICROSPHERE_CODES = ("764678003", "409105003")
_H = SECONDS_PER_HOUR
_SAME_TIME_POINT = _dt.timedelta(hours=1)


def _pharm_code(s: _Series) -> str | None:
    seq = s.ds.get("RadiopharmaceuticalInformationSequence") if s.ds is not None else None
    item = seq[0] if seq else None
    codes = item.get("RadiopharmaceuticalCodeSequence") if item is not None else None
    return _text(codes[0], "CodeValue") if codes else None


def _sirt_candidate(s: _Series, ligand_words: Iterable[str]) -> bool:
    """Make ``s`` a SIRT candidate (True, or True with a reason); False: not a SIRT image."""
    if s.kind not in ("PET", "NM"):
        return False
    value3 = s.image_type[2] if len(s.image_type) > 2 else ""
    tomo = (s.kind == "PET" or "RECON" in value3 or not value3) and "GATED" not in value3
    code = _pharm_code(s)
    if s.nuclide == "Tc-99m" and (code in MAA_CODES or _words(s.text, MAA_WORDS)):
        if s.kind == "NM" and (_is_whole_body(s) or "STATIC" in value3):
            s.candidate = "maa_planar"
        elif tomo:
            s.candidate = "maa_spect"
        else:
            s.reason = f"99mTc-MAA {value3.lower() or 'NM'} image: neither planar views nor a SPECT"
        return True
    if s.nuclide != "Y-90":
        return False
    spheres = code in MICROSPHERE_CODES or _words(s.text, MICROSPHERE_WORDS)
    if s.kind == "PET" and (spheres or not _words(s.text, ligand_words)):
        s.candidate = "y90_pet"
        return True
    if s.kind == "NM" and spheres and tomo:
        s.candidate = "y90_spect"
        return True
    return False


def _hours(s: _Series) -> float | None:
    if s.time is None or s.injection_time is None or s.time < s.injection_time:
        return None
    return (s.time - s.injection_time).total_seconds() / _H


_WHAT = {
    "maa_planar": "99mTc-MAA planar scan",
    "maa_spect": "99mTc-MAA SPECT",
    "y90_pet": "90Y PET",
    "y90_spect": "90Y SPECT",
}


def _time_points(cands: Sequence[_Series], role: str, notes: list[str]) -> list[_Series]:
    """One series per time point (the preferred reconstruction), with role and hours."""
    what = _WHAT[role]
    usable = []
    for s in cands:
        if _hours(s) is None:
            s.reason, s.noted = f"{what} without administration time, or acquired before it", True
            notes.append(f"{s.label}: {s.reason}; ignored. Add the administration to the "
                         "clinical data (--clinical)")  # fmt: skip
        else:
            usable.append(s)
    clusters: list[list[_Series]] = []
    for s in sorted(usable, key=lambda x: (x.t, x.uid)):
        if clusters and s.t - clusters[-1][0].t <= _SAME_TIME_POINT:
            clusters[-1].append(s)
        else:
            clusters.append([s])
    picked = best_reconstructions(clusters, what, role, notes)
    for s in picked:
        s.role, s.hours = role, round(_hours(s) or 0.0, 3)
        if role == "y90_pet" and not (
            _pharm_code(s) in MICROSPHERE_CODES or _words(s.text, MICROSPHERE_WORDS)
        ):
            s.noted = True
            notes.append(
                f"{s.label}: 90Y PET naming no tracer, taken as post-SIRT (microspheres). "
                f"Override with --role {s.uid}=spect for a 90Y-labelled therapy"
            )
        if role in ("maa_spect", "y90_spect") and (s.units or "").upper() == "CNTS":
            notes.append(
                f"{s.label}: {what} in counts; Bq/mL needs the camera calibration (set "
                f"calibration_cps_per_mbq in the manifest's {role} entry)"
            )
    return picked


def _choose_sirt(
    series: Sequence[_Series], overrides: Mapping[str, str], notes: list[str]
) -> dict[str, list[_Series]]:
    """The SIRT series with a role, by role (empty lists when the export holds none)."""
    out: dict[str, list[_Series]] = {}
    for role in SIRT_EMISSION_ROLES:
        forced = [s for s in series if overrides.get(s.uid) == role]
        cands = forced or [
            s for s in series if s.candidate == role and overrides.get(s.uid) != "ignore"
        ]
        out[role] = _time_points(cands, role, notes)
    return out


def _sirt_series_doc(
    sirt: Mapping[str, Sequence[_Series]],
    ct_of: Callable[[_Series], _Series | None],
    emission_entry: Callable[[_Series], dict[str, Any]],
    ct_entry: Callable[[_Series], dict[str, Any]],
) -> dict[str, list[dict[str, Any]]]:
    """The manifest's SIRT lists (every key present when one SIRT series is used).

    A SPECT's ``calibration_cps_per_mbq`` is not in DICOM: written null, to be set when the
    series is in counts.
    """
    if not any(sirt.get(role) for role in SIRT_EMISSION_ROLES):
        return {}
    doc: dict[str, list[dict[str, Any]]] = {role: [] for role in SIRT_ROLES}
    for role in SIRT_EMISSION_ROLES:
        for e in sirt.get(role, []):
            entry = emission_entry(e)
            files = entry.pop("files", None)
            item = {"hours_post_injection": e.hours, **entry}
            if role != "y90_pet":
                item["energy_windows"] = e.energy_windows
            if role in ("maa_spect", "y90_spect"):
                item["calibration_cps_per_mbq"] = None
            if files is not None:
                item["files"] = files
            doc[role].append(item)
            ct = ct_of(e) if role in SIRT_CT_ROLES else None
            if ct is not None:
                doc[SIRT_CT_ROLES[role]].append({"hours_post_injection": e.hours, **ct_entry(ct)})
    return doc
