"""SSTR scintigraphy roles: planar whole-body sweeps and diagnostic 111In/99mTc SPECT.

:func:`_scintigraphy_candidate` recognises, from the headers,

* ``planar``: an NM image whose ImageType value 3 says WHOLE BODY (an anterior/posterior
  sweep, read by :func:`sstrkit.io.planar.read_planar_wholebody`), of 111In or 99mTc;
* ``sstr_spect``: a reconstructed 111In or 99mTc SPECT — an NM ``RECON TOMO`` image, or
  the vendor layout that stores a SPECT as PET slices — distinct from the post-therapy
  177Lu/90Y SPECT (role ``spect``, cycles).

111In is taken as an SSTR tracer (pentetreotide, Octreoscan) unless the text names
another tracer (white cells, capromab...); 99mTc only when the text names an SSTR
ligand (HYNIC-TOC/-TATE, EDDA, Tektrotyd): 99mTc images are mostly other studies (bone,
MIBI, ...).

:func:`_choose_scintigraphy` gives the candidates their role: the administration used
is the latest before the first therapy (else the latest), the scans of one
administration are its time points (hours after the injection), and within one time
point (scans within :data:`~sstrkit.pipeline.intake.roles.SAME_EXAM`) the preferred
reconstruction is used; the others are noted.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence

from sstrkit.core.units import SECONDS_PER_HOUR
from sstrkit.pipeline.intake.series import _Series, _words, best_reconstructions

#: Radionuclides of a diagnostic SSTR scintigraphy.
SCINTIGRAPHY_NUCLIDES = ("In-111", "Tc-99m")
#: Words (name_key form) naming SSTR ligands labelled with 111In or 99mTc.
SCINTIGRAPHY_SSTR_WORDS = (
    "pentetreotide", "octreo", "hynic", "edda", "tektrotyd", "dotatoc", "dotatate", "toc",
    "tate", "sstr", "somatostatin",
)  # fmt: skip
#: Words naming 111In / 99mTc studies that are not SSTR scintigraphy.
OTHER_SCINTIGRAPHY_WORDS = (
    "mdp", "hdp", "dpd", "mibi", "sestamibi", "tetrofosmin", "mag3", "dtpa", "dmsa", "maa",
    "hmpao", "exametazime", "ecd", "wbc", "leuko", "oxine", "capromab", "prostascint",
    "sulfur", "colloid", "pyrophosphate", "tilmanocept", "pertechnetate", "mebrofenin",
)  # fmt: skip
#: Time points of one administration further apart than this are distinct scans (h).
_SAME_TIME_POINT_H = 1.0


def _is_whole_body(s: _Series) -> bool:
    value3 = s.image_type[2] if len(s.image_type) > 2 else ""
    return s.kind == "NM" and "WHOLE BODY" in value3 and "RECON" not in value3


def _scintigraphy_candidate(s: _Series) -> bool:
    """Make ``s`` a ``planar`` or ``sstr_spect`` candidate (True), or give the reason an
    111In/99mTc (or unknown-nuclide whole-body) image is not one (True); False when the
    series is none of these (the other rules decide)."""
    whole_body = _is_whole_body(s)
    nuc = s.nuclide
    if not whole_body and nuc not in SCINTIGRAPHY_NUCLIDES:
        return False
    value3 = s.image_type[2] if len(s.image_type) > 2 else ""
    tomo = s.kind == "PET" or "RECON" in value3 or not value3
    if not (whole_body or (tomo and "GATED" not in value3)):
        return False  # planar statics, projections: the NM rule gives the reason
    what = "whole-body scan" if whole_body else "SPECT"
    if nuc is not None and nuc not in SCINTIGRAPHY_NUCLIDES:
        return False  # e.g. a 177Lu whole-body scan: the NM rule gives the reason
    sstr = _words(s.text, SCINTIGRAPHY_SSTR_WORDS)
    other = _words(s.text, OTHER_SCINTIGRAPHY_WORDS)
    if other and not sstr:
        s.reason = f"{nuc or 'NM'} {what} of another tracer ({s.tracer or s.text})"
        return True
    if nuc == "Tc-99m" and not sstr:
        s.reason = (
            f"99mTc {what} that names no SSTR ligand ({s.tracer or 'tracer not named'}); "
            "99mTc studies are mostly not SSTR scintigraphy"
        )
        return True
    if nuc is None and not sstr:
        s.reason = f"NM {what} of unknown radionuclide and tracer"
        return True
    s.candidate = "planar" if whole_body else "sstr_spect"
    return True


def _hours(s: _Series) -> float | None:
    if s.time is None or s.injection_time is None or s.time <= s.injection_time:
        return None
    return (s.time - s.injection_time).total_seconds() / SECONDS_PER_HOUR


def _choose_scintigraphy(
    series: Sequence[_Series],
    overrides: Mapping[str, str],
    first_therapy: _dt.datetime | None,
    notes: list[str],
) -> tuple[list[_Series], list[_Series]]:
    """The planar time points and the SSTR SPECTs used (with role and hours set)."""
    out: list[list[_Series]] = []
    for role, cand in (("scintigraphy_planar", "planar"), ("sstr_spect", "sstr_spect")):
        forced = [s for s in series if overrides.get(s.uid) == role]
        cands = forced or [
            s for s in series if s.candidate == cand and overrides.get(s.uid) != "ignore"
        ]
        out.append(_time_points(cands, role, first_therapy, notes))
    return out[0], out[1]


def _time_points(
    cands: list[_Series], role: str, first_therapy: _dt.datetime | None, notes: list[str]
) -> list[_Series]:
    """One administration's scans, one per time point, each with ``role`` and ``hours``."""
    what = "planar whole-body scan" if role == "scintigraphy_planar" else "SSTR SPECT"
    usable = []
    for s in cands:
        if _hours(s) is None:
            s.reason = f"{what} without administration time, or acquired before it"
            s.noted = True
            notes.append(
                f"{s.label}: {s.reason}; ignored. Add the administration to the clinical data "
                "(--clinical)"
            )
        else:
            usable.append(s)
    if not usable:
        return []
    injections = sorted({s.injection_time for s in usable if s.injection_time is not None})
    before = [t for t in injections if first_therapy is None or t < first_therapy]
    chosen = before[-1] if before else injections[-1]
    group = [s for s in usable if s.injection_time is not None
             and abs((s.injection_time - chosen).total_seconds()) <= 3600.0]  # fmt: skip
    for s in usable:
        if all(s is not g for g in group):
            s.reason, s.noted = f"{what} of another administration", True
            notes.append(f"{s.label}: {what} of another administration; not used")
    clusters: list[list[_Series]] = []
    for s in sorted(group, key=lambda s: _hours(s) or 0.0):
        if clusters and (_hours(s) or 0.0) - (_hours(clusters[-1][0]) or 0.0) <= _SAME_TIME_POINT_H:
            clusters[-1].append(s)
        else:
            clusters.append([s])
    picked = best_reconstructions(clusters, what, role, notes)
    for s in picked:
        s.role, s.hours = role, round(_hours(s) or 0.0, 3)
        if s.units is not None and (s.units or "").upper() == "CNTS" and role == "sstr_spect":
            notes.append(
                f"{s.label}: SSTR SPECT in counts; Bq/mL needs the camera calibration (set "
                "calibration_cps_per_mbq in the manifest's sstr_spect entry, or `sstrkit read "
                "--calibration-cps-per-mbq`)"
            )
    return picked
