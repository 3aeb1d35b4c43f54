"""PET-vs-scintigraphy lesion concordance of one patient, from two reading documents.

:func:`compare_readings` pairs the lesions of an SSTR PET reading (``reading.json`` of
``sstrkit read``) with those of an SSTR scintigraphy reading of the same patient (an
111In-pentetreotide or 99mTc-HYNIC-TOC SPECT, ``"modality": "spect"``, or planar
whole-body views, ``"modality": "planar"``) and lists every lesion as seen on **both**,
on **PET only** or on **scintigraphy only**, with its size on PET (volume, diameter of
the sphere of that volume), its uptake on each (SUVmax, tumour-to-liver and
-to-spleen ratios, Krenning grade) and the matching distance — the review's
PET-versus-scintigraphy comparison as an analysis.

Matching
    Lesion centroids are paired by optimal assignment (Hungarian,
    :func:`~sstrkit.reading.scores.match_lesions`) within a tolerance: 20 mm for SPECT
    (about 1.5 × the 13 mm FWHM of 111In SPECT; a lesion's PET and SPECT centroids agree
    within a few mm after registration, and lesions closer than this merge on SPECT),
    30 mm for planar views (their resolution at depth, 15–20 mm, and the unknown depth).
Frames of reference
    Positions are compared in one patient coordinate system. Two readings with the same
    FrameOfReferenceUID (``frame_of_reference_uid`` in the document) share it; otherwise
    a CT-to-CT registration of the PET/CT's CT (fixed) and the SPECT/CT's CT (moving;
    :func:`sstrkit.therapy.registration.register_ct`) maps the PET centroids into the
    SPECT's frame (``--register`` on the command line). Without it the comparison is
    refused (positions from two sessions are not comparable), unless the caller states
    that the two share patient coordinates (``same_frame``).
Planar views
    A planar lesion has a position on the anterior view (row, column in mm; rows towards
    the feet, columns towards the patient's left, as the posterior view un-mirrored):
    the PET centroid is projected onto the coronal plane (x, z), **depth is unknown**,
    and the planar frame is placed on the PET's by the in-plane translation between their
    liver and spleen reference centres (within a few cm: the two place their regions
    differently), refined by the mean residual of the lesions it pairs; without reference
    centres, by the translation that pairs most lesions (at least two). Said in
    ``alignment``; chance pairings are possible for lesions closer than the tolerance.
Statistics
    Sensitivity of scintigraphy against PET, PPV and McNemar's test on the discordant
    lesions come from :func:`sstrkit.followup.concordance.concordance` (per-lesion,
    lesions of one patient are not independent).

Examples
--------
>>> pet = {"modality": "pet", "tracer": "68Ga-DOTATATE", "frame_of_reference_uid": "1.2",
...        "lesions": [{"id": 1, "centroid_mm": [0, 0, 0], "volume_ml": 14.1, "suv_max": 30},
...                    {"id": 2, "centroid_mm": [80, 0, 0], "volume_ml": 0.5, "suv_max": 6}]}
>>> spect = {"modality": "spect", "tracer": "111In-pentetreotide",
...          "frame_of_reference_uid": "1.2",
...          "lesions": [{"id": 1, "centroid_mm": [3, 4, 0], "suv_max": 9, "krenning": 3}]}
>>> c = compare_readings(pet, spect)
>>> [(x.status, x.pet_id, x.scintigraphy_id, x.distance_mm) for x in c.lesions]
[('both', 1, 1, 5.0), ('pet_only', 2, None, None)]
>>> round(c.lesions[0].pet_diameter_mm, 1), c.counts
(30.0, {'both': 1, 'pet_only': 1, 'scintigraphy_only': 0})
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sstrkit.core.provenance import Step
from sstrkit.core.units import MM3_PER_ML
from sstrkit.errors import GeometryMismatchError, InvalidInputError, SstrkitError
from sstrkit.followup.concordance import Concordance, concordance
from sstrkit.reading.scores import match_lesions

if TYPE_CHECKING:
    from sstrkit.therapy.registration import Registration

__all__ = [
    "PLANAR_TOLERANCE_MM",
    "SIZE_BINS_MM",
    "SPECT_TOLERANCE_MM",
    "ConcordantLesion",
    "LesionConcordance",
    "compare_readings",
    "sphere_diameter_mm",
]

SPECT_TOLERANCE_MM = 20.0
PLANAR_TOLERANCE_MM = 30.0
#: PET diameter classes of the size table (mm): < 10, 10–20, ≥ 20.
SIZE_BINS_MM = (10.0, 20.0)
Status = Literal["both", "pet_only", "scintigraphy_only"]
#: Per-lesion quantities copied from each reading (those present).
_PET_KEYS = ("organ", "suv_max", "suv_peak", "t_l", "t_s", "krenning", "volume_ml")
_SCINT_KEYS = (
    "organ",
    "suv_max",
    "suv_peak",
    "t_l",
    "t_s",
    "krenning",
    "volume_ml",
    "peak_counts",
    "ratio_liver",
    "ratio_spleen",
    "diameter_mm",
)
_SOURCES = (
    "Kuhn HW. The Hungarian method for the assignment problem. Naval Res Logist Q "
    "1955;2:83-97 (lesion pairing)",
)


def sphere_diameter_mm(volume_ml: float | None) -> float | None:
    """Diameter (mm) of the sphere of ``volume_ml``: (6V/π)^(1/3).

    >>> round(sphere_diameter_mm(4.18879), 3)
    20.0
    """
    if volume_ml is None or not volume_ml > 0:
        return None
    return float((6.0 * volume_ml * MM3_PER_ML / math.pi) ** (1.0 / 3.0))


@dataclass(frozen=True)
class ConcordantLesion:
    """One lesion of the comparison: seen on both, PET only or scintigraphy only.

    ``pet``/``scintigraphy`` hold the reading's quantities (SUVmax, T/L, T/S, Krenning,
    organ; planar: peak counts and ratios); ``pet_centroid_mm`` is in the PET's frame,
    ``scintigraphy_position_mm`` in the scintigraphy's (3-D for SPECT, (x, z) for
    planar views).
    """

    status: Status
    pet_id: Any
    scintigraphy_id: Any
    distance_mm: float | None
    pet_volume_ml: float | None = None
    pet_diameter_mm: float | None = None
    pet_centroid_mm: tuple[float, ...] | None = None
    scintigraphy_position_mm: tuple[float, ...] | None = None
    pet: Mapping[str, Any] = field(default_factory=dict)
    scintigraphy: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "pet_id": self.pet_id,
            "scintigraphy_id": self.scintigraphy_id,
            "distance_mm": self.distance_mm,
            "pet_volume_ml": self.pet_volume_ml,
            "pet_diameter_mm": self.pet_diameter_mm,
            "pet_centroid_mm": None if self.pet_centroid_mm is None else list(self.pet_centroid_mm),
            "scintigraphy_position_mm": (
                None
                if self.scintigraphy_position_mm is None
                else list(self.scintigraphy_position_mm)
            ),
            "pet": dict(self.pet),
            "scintigraphy": dict(self.scintigraphy),
        }


@dataclass(frozen=True)
class LesionConcordance:
    """Lesion-by-lesion PET-vs-scintigraphy comparison of one patient (see the module doc)."""

    lesions: tuple[ConcordantLesion, ...]
    pet_tracer: str | None
    scintigraphy_tracer: str | None
    scintigraphy_modality: str
    tolerance_mm: float
    alignment: str
    statistics: Concordance | None
    registration: Mapping[str, Any] | None = None
    notes: tuple[str, ...] = ()
    history: tuple[Step, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        """Lesions seen on both, on PET only and on scintigraphy only."""
        out = {"both": 0, "pet_only": 0, "scintigraphy_only": 0}
        for x in self.lesions:
            out[x.status] += 1
        return out

    def by_size(self) -> list[dict[str, Any]]:
        """Counts per PET diameter class (:data:`SIZE_BINS_MM`; scintigraphy-only: no size)."""
        lo, hi = SIZE_BINS_MM
        classes = (
            (f"< {lo:g} mm", 0.0, lo),
            (f"{lo:g}-{hi:g} mm", lo, hi),
            (f">= {hi:g} mm", hi, math.inf),
        )
        rows: list[dict[str, Any]] = []
        for name, a, b in classes:
            sel = [
                x
                for x in self.lesions
                if x.pet_diameter_mm is not None and a <= x.pet_diameter_mm < b
            ]
            both = sum(x.status == "both" for x in sel)
            rows.append(
                {
                    "pet_diameter": name,
                    "pet_lesions": len(sel),
                    "both": both,
                    "pet_only": len(sel) - both,
                    "seen_on_scintigraphy_fraction": both / len(sel) if sel else None,
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "pet_tracer": self.pet_tracer,
            "scintigraphy_tracer": self.scintigraphy_tracer,
            "scintigraphy_modality": self.scintigraphy_modality,
            "tolerance_mm": self.tolerance_mm,
            "alignment": self.alignment,
            "registration": None if self.registration is None else dict(self.registration),
            "counts": self.counts,
            "by_pet_size": self.by_size(),
            "lesions": [x.to_dict() for x in self.lesions],
            "statistics": None if self.statistics is None else self.statistics.to_dict(),
            "notes": list(self.notes),
            "history": [s.to_dict() for s in self.history],
        }


# ----------------------------------------------------------------------- documents
def _modality(doc: Mapping[str, Any], which: str) -> str:
    m = str(doc.get("modality") or "pet").lower()
    if m not in ("pet", "spect", "planar"):
        raise InvalidInputError(
            f"{which} reading modality", expected="'pet', 'spect' or 'planar'", actual=m
        )
    return m


def _lesions(doc: Mapping[str, Any], which: str) -> list[Mapping[str, Any]]:
    les = doc.get("lesions")
    if not isinstance(les, list):
        raise InvalidInputError(
            f"{which} reading",
            expected="a reading.json with a 'lesions' list (sstrkit read)",
            actual=sorted(doc)[:8],
            fix="pass the reading.json that sstrkit read wrote",
        )
    return [x for x in les if isinstance(x, Mapping)]


def _point(values: Any, n: int, where: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        out = ()
    if len(out) != n or not all(math.isfinite(v) for v in out):
        raise InvalidInputError(where, expected=f"{n} finite numbers (mm)", actual=values)
    return out


def _planar_xz(lesion: Mapping[str, Any], where: str) -> tuple[float, float]:
    """(x, z) of a planar lesion: ``position_lps_mm`` [x, z], else (row, col) in mm.

    Row and column of the anterior view: columns run to the patient's left (+x), rows
    to the feet (−z).
    """
    if "position_lps_mm" in lesion:
        x, z = _point(lesion["position_lps_mm"], 2, f"{where}: position_lps_mm")
        return x, z
    if "row_mm" in lesion and "col_mm" in lesion:
        row, col = _point((lesion["row_mm"], lesion["col_mm"]), 2, f"{where}: row_mm, col_mm")
    else:
        key = next((k for k in ("position_mm", "centroid_mm") if k in lesion), None)
        if key is None:
            raise InvalidInputError(
                f"{where}: position",
                expected="position_mm [row, col] (mm on the anterior view) or position_lps_mm",
                actual=sorted(lesion),
            )
        row, col = _point(lesion[key], 2, f"{where}: {key}")
    return col, -row


def _subset(lesion: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {k: lesion[k] for k in keys if k in lesion}


# ------------------------------------------------------------------------ alignment
def _pet_points_in_scint_frame(
    pet: Mapping[str, Any],
    scint: Mapping[str, Any],
    centroids: list[tuple[float, ...]],
    *,
    registration: Registration | None,
    same_frame: bool,
    notes: list[str],
) -> tuple[list[tuple[float, ...]], str]:
    """PET centroids in the SPECT's frame and how they got there (SPECT readings)."""
    a, b = pet.get("frame_of_reference_uid"), scint.get("frame_of_reference_uid")
    if registration is not None:
        tf = registration.transform
        moved = [tuple(float(v) for v in tf.TransformPoint(list(p))) for p in centroids]
        how = (
            "CT-to-CT registration (PET/CT's CT fixed, SPECT/CT's CT moving): PET centroids "
            "mapped into the SPECT's frame"
        )
        if not registration.acceptable:
            notes.append(
                f"CT registration questionable (NCC after {registration.ncc_after:.2f}): "
                "check the pairs"
            )
        return moved, how
    if a and b and a == b:
        return centroids, f"same frame of reference ({a})"
    if same_frame:
        notes.append(
            "the two readings were stated to share patient coordinates (same_frame): no "
            "registration"
        )
        return centroids, "stated to share patient coordinates (no registration)"
    raise GeometryMismatchError(
        "PET and SPECT readings' frames of reference",
        expected="the same FrameOfReferenceUID, or a registration of their CTs",
        actual=f"PET {a or 'not recorded'}, SPECT {b or 'not recorded'}",
        fix="register the CTs: sstrkit stats concordance --pet … --scintigraphy … --register "
        "--pet-ct PET_CT --scintigraphy-ct SPECT_CT (or --same-frame when the two truly share "
        "patient coordinates)",
    )


def _planar_translation(
    pet_xz: list[tuple[float, float]], scint_xz: list[tuple[float, float]], tolerance_mm: float
) -> tuple[tuple[float, float], int]:
    """In-plane translation (planar − PET) that pairs most lesions, and the pairs it makes.

    Every PET/planar pair proposes a translation; the one pairing most lesions within
    the tolerance (ties: the smaller summed distance) is refined as the mean offset of its
    pairs.
    """
    a = np.asarray(pet_xz, dtype=float).reshape(-1, 2)
    b = np.asarray(scint_xz, dtype=float).reshape(-1, 2)
    best: tuple[int, float, tuple[float, float]] = (0, math.inf, (0.0, 0.0))
    for i in range(len(a)):
        for j in range(len(b)):
            t = b[j] - a[i]
            pairs = match_lesions(
                [(x, 0.0, z) for x, z in a + t],
                [(x, 0.0, z) for x, z in b],
                max_distance_mm=tolerance_mm,
            )
            hit = [(p, q) for p, q, d in pairs if p is not None and q is not None]
            cost = sum(d for p, q, d in pairs if d is not None)
            if (len(hit), -cost) > (best[0], -best[1]):
                off = np.mean([b[q] - a[p] for p, q in hit], axis=0)
                best = (len(hit), cost, (float(off[0]), float(off[1])))
    return best[2], best[0]


# ----------------------------------------------------------------------------- main
def compare_readings(
    pet: Mapping[str, Any],
    scint: Mapping[str, Any],
    *,
    tolerance_mm: float | None = None,
    registration: Registration | None = None,
    same_frame: bool = False,
    confidence: float = 0.95,
) -> LesionConcordance:
    """Compare an SSTR PET reading with a scintigraphy reading of the same patient.

    Parameters
    ----------
    pet, scint
        The two ``reading.json`` documents (``modality`` ``"pet"``; ``"spect"`` or
        ``"planar"``).
    tolerance_mm
        Matching distance (default :data:`SPECT_TOLERANCE_MM` or
        :data:`PLANAR_TOLERANCE_MM`).
    registration
        CT-to-CT registration, PET/CT's CT fixed and the SPECT/CT's CT moving.
    same_frame
        The two share patient coordinates although their frames of reference are not
        recorded as equal (e.g. one session on a hybrid system).

    Raises
    ------
    InvalidInputError
        A document is not a reading of the expected modality, or lesion positions are
        malformed.
    GeometryMismatchError
        SPECT and PET in different (or unrecorded) frames of reference without a
        registration.
    """
    if _modality(pet, "--pet") != "pet":
        raise InvalidInputError(
            "--pet reading", expected="an SSTR PET reading", actual=pet.get("modality")
        )
    smod = _modality(scint, "--scintigraphy")
    if smod == "pet":
        raise InvalidInputError(
            "--scintigraphy reading",
            expected="a SPECT or planar scintigraphy reading ('modality': 'spect' or 'planar')",
            actual="a PET reading",
        )
    tol = float(tolerance_mm if tolerance_mm is not None else _default_tolerance(smod))
    if not (math.isfinite(tol) and tol > 0):
        raise InvalidInputError("matching tolerance", expected="> 0 mm", actual=tol)
    notes: list[str] = []
    p_les, s_les = _lesions(pet, "--pet"), _lesions(scint, "--scintigraphy")
    p_c = [_point(x.get("centroid_mm"), 3, f"PET lesion {x.get('id')}") for x in p_les]
    if smod == "spect":
        s_pos = [_point(x.get("centroid_mm"), 3, f"SPECT lesion {x.get('id')}") for x in s_les]
        p_pos, alignment = _pet_points_in_scint_frame(
            pet, scint, p_c, registration=registration, same_frame=same_frame, notes=notes
        )
        pairs = match_lesions(p_pos, s_pos, max_distance_mm=tol)
    else:
        s_xz = [_planar_xz(x, f"planar lesion {x.get('id')}") for x in s_les]
        p_xz, alignment = _planar_alignment(pet, scint, p_c, s_xz, tol, same_frame, notes)
        s_pos = [tuple(v) for v in s_xz]
        pairs = match_lesions(
            [(x, 0.0, z) for x, z in p_xz], [(x, 0.0, z) for x, z in s_xz], max_distance_mm=tol
        )
    rows = tuple(_row(pairs_i, p_les, s_les, p_c, s_pos) for pairs_i in pairs)
    stats = _statistics(rows, pet, scint, smod, confidence, notes)
    step = Step.make(
        "compare_readings",
        {
            "scintigraphy_modality": smod,
            "tolerance_mm": tol,
            "alignment": alignment,
            "registration": registration is not None,
            "same_frame": same_frame,
        },
        sources=_SOURCES,
    )
    return LesionConcordance(
        lesions=rows,
        pet_tracer=pet.get("tracer"),
        scintigraphy_tracer=scint.get("tracer"),
        scintigraphy_modality=smod,
        tolerance_mm=tol,
        alignment=alignment,
        statistics=stats,
        registration=registration.to_dict() if registration is not None else None,
        notes=tuple(notes),
        history=(step, *(stats.history if stats is not None else ())),
    )


def _default_tolerance(modality: str) -> float:
    return SPECT_TOLERANCE_MM if modality == "spect" else PLANAR_TOLERANCE_MM


def _planar_alignment(
    pet: Mapping[str, Any],
    scint: Mapping[str, Any],
    centroids: list[tuple[float, ...]],
    s_xz: list[tuple[float, float]],
    tol: float,
    same_frame: bool,
    notes: list[str],
) -> tuple[list[tuple[float, float]], str]:
    """PET centroids projected to the coronal plane (x, z), placed on the planar frame."""
    p_xz = [(c[0], c[2]) for c in centroids]
    notes.append(
        "planar views: PET centroids projected onto the coronal plane (x, z); depth is unknown"
    )
    a, b = pet.get("frame_of_reference_uid"), scint.get("frame_of_reference_uid")
    if same_frame or (a and b and a == b):
        return p_xz, "coronal projection, same patient coordinates"
    prior = _organ_translation(pet, scint)
    if prior is not None:
        (tx, tz), organs = prior
        how = f"the {' and '.join(organs)} reference centres"
        pairs = _pairs_xz([(x + tx, z + tz) for x, z in p_xz], s_xz, tol)
        if len(pairs) >= 2:  # refine by the lesions it pairs (their mean residual)
            dx, dz = np.mean(
                [np.subtract(s_xz[j], (p_xz[i][0] + tx, p_xz[i][1] + tz)) for i, j in pairs], axis=0
            )
            tx, tz = tx + float(dx), tz + float(dz)
            how += f", refined by the {len(pairs)} lesions paired"
    else:
        (tx, tz), n = _planar_translation(p_xz, s_xz, tol)
        how = f"the translation that pairs most lesions ({n})"
        if n < 2:
            raise GeometryMismatchError(
                "planar and PET lesion positions",
                expected="liver/spleen reference centres in both readings, or at least two "
                "lesions that pair under one in-plane translation",
                actual=f"{n} pair(s) among {len(p_xz)} PET and {len(s_xz)} planar lesions",
                fix="check that both readings are of the same patient and carry their "
                "reference regions (--same-frame if they share patient coordinates)",
            )
    moved = [(x + tx, z + tz) for x, z in p_xz]
    return moved, (
        f"coronal projection; planar frame placed on the PET's by {how}: translation "
        f"({tx:.0f}, {tz:.0f}) mm (x, z)"
    )


def _pairs_xz(
    a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]], tol: float
) -> list[tuple[int, int]]:
    pairs = match_lesions(
        [(x, 0.0, z) for x, z in a], [(x, 0.0, z) for x, z in b], max_distance_mm=tol
    )
    return [(i, j) for i, j, _ in pairs if i is not None and j is not None]


def _organ_translation(
    pet: Mapping[str, Any], scint: Mapping[str, Any]
) -> tuple[tuple[float, float], list[str]] | None:
    """In-plane translation (planar − PET) from the liver and spleen reference centres.

    PET: ``reference.regions.<organ>.center_mm`` (x, y, z); planar:
    ``reference.<organ>.centroid_mm`` (row, col on the anterior view). The two modalities
    place their regions differently within the organ (a sphere in the deep right lobe, a
    region over the projected organ): a prior within a few centimetres, refined by the
    lesions it pairs.
    """
    p_regions = ((pet.get("reference") or {}).get("regions")) or {}
    s_refs = scint.get("reference") or {}
    offsets, names = [], []
    for organ in ("liver", "spleen"):
        pc = (p_regions.get(organ) or {}).get("center_mm")
        sc = (s_refs.get(organ) or {}).get("centroid_mm") if isinstance(s_refs, Mapping) else None
        if pc is None or sc is None:
            continue
        x, _, z = _point(pc, 3, f"PET {organ} reference centre")
        row, col = _point(sc, 2, f"planar {organ} reference centroid")
        offsets.append((col - x, -row - z))
        names.append(organ)
    if not offsets:
        return None
    tx, tz = np.mean(offsets, axis=0)
    return (float(tx), float(tz)), names


def _row(
    pair: tuple[int | None, int | None, float | None],
    p_les: Sequence[Mapping[str, Any]],
    s_les: Sequence[Mapping[str, Any]],
    p_c: Sequence[tuple[float, ...]],
    s_pos: Sequence[tuple[float, ...]],
) -> ConcordantLesion:
    i, j, d = pair
    p = p_les[i] if i is not None else None
    s = s_les[j] if j is not None else None
    status: Status = "both" if p and s else ("pet_only" if p else "scintigraphy_only")
    vol = p.get("volume_ml") if p is not None else None
    vol_f = float(vol) if isinstance(vol, int | float) else None
    return ConcordantLesion(
        status=status,
        pet_id=p.get("id") if p is not None else None,
        scintigraphy_id=s.get("id") if s is not None else None,
        distance_mm=None if d is None else round(float(d), 3),
        pet_volume_ml=vol_f,
        pet_diameter_mm=sphere_diameter_mm(vol_f),
        pet_centroid_mm=p_c[i] if i is not None else None,
        scintigraphy_position_mm=s_pos[j] if j is not None else None,
        pet=_subset(p, _PET_KEYS) if p is not None else {},
        scintigraphy=_subset(s, _SCINT_KEYS) if s is not None else {},
    )


def _statistics(
    rows: Sequence[ConcordantLesion],
    pet: Mapping[str, Any],
    scint: Mapping[str, Any],
    modality: str,
    confidence: float,
    notes: list[str],
) -> Concordance | None:
    """Sensitivity/PPV/McNemar of scintigraphy against PET (None, with a note, if undefined)."""
    both = sum(r.status == "both" for r in rows)
    p_only = sum(r.status == "pet_only" for r in rows)
    s_only = sum(r.status == "scintigraphy_only" for r in rows)
    labels = (
        str(pet.get("tracer") or "SSTR PET"),
        f"{scint.get('tracer') or 'scintigraphy'} {modality}",
    )
    try:
        return concordance(both, p_only, s_only, confidence=confidence, labels=labels)
    except SstrkitError as exc:
        notes.append(f"no concordance statistics: {exc.one_line()}")
        return None
