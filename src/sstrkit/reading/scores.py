"""Reading scores: Krenning (per lesion and patient), SSTR-RADS v1.0 helper, NETPET grade.

Krenning score
    The 0–4 scale of SSTR scintigraphy (Krenning et al. 1993 Eur J Nucl Med
    20:716–731; grades as summarised by Kwekkeboom & Krenning 2002 Semin Nucl
    Med 32:84–91): 0 no uptake, 1 uptake much lower than liver, 2 about equal
    to liver, 3 greater than liver, 4 greater than spleen. *PET-adapted*
    version used here: the grade is read quantitatively from PET, lesion SUVmax
    against liver and spleen SUVmean (and blood-pool SUVmean for grade 0), with
    a ±``tolerance`` band (default 10 %, sstrkit's choice) defining "equal to
    liver". SSTR PET is read this way in practice (Hope et al. 2018 J Nucl Med
    59:66–74, appropriate use criteria for SSTR PET); PET grades are not
    interchangeable with planar 111In-pentetreotide grades.

SSTR-RADS v1.0
    Werner et al. 2018 J Nucl Med 59:1085–1091. :func:`sstr_rads` maps the
    information a reader supplies (uptake grade, site typical for NET or not,
    bone, anatomic correlate on CT, benign/likely benign) to a category; it
    returns ``None`` where that information does not suffice.

NETPET grade
    Chan et al. 2017 Theranostics 7(5):1149–1158, from paired SSTR and FDG PET:
    P0 no significant disease on either; P1 SSTR-positive, FDG-negative; P2–P4
    FDG-positive lesions that are SSTR-positive, FDG avidity lower than (P2),
    similar to (P3) or higher than (P4) SSTR avidity; P5 any FDG-positive,
    SSTR-negative lesion. Lesions are matched by centroid distance in patient
    coordinates (Hungarian assignment), and where a lesion has no partner the
    other scan is sampled at its position: SUVmean of a 1 cm³ sphere (the
    SUVpeak sphere) at its centroid, see :func:`netpet_grade`.

Examples
--------
>>> krenning_score(12.0, liver=6.0, spleen=20.0)
3
>>> [krenning_score(u, liver=6.0, spleen=20.0, blood_pool=1.5) for u in (1.0, 3.0, 6.2, 25.0)]
[0, 1, 2, 4]
>>> sstr_rads(krenning=4, site="typical", anatomic_correlate=True)
'5'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.reading.metrics import PEAK_RADIUS_MM, LesionMetrics
from sstrkit.reading.reference import ReferenceSet, ball

__all__ = [
    "KRENNING_SOURCES",
    "NETPET_SOURCE",
    "SSTR_RADS_SOURCE",
    "LesionPair",
    "NetpetResult",
    "krenning_score",
    "match_lesions",
    "netpet_grade",
    "patient_krenning",
    "sample_sphere_mean",
    "sstr_rads",
]

KRENNING_SOURCES = (
    "Krenning EP et al. Somatostatin receptor scintigraphy with [111In-DTPA-D-Phe1]- and "
    "[123I-Tyr3]-octreotide: the Rotterdam experience with more than 1000 patients. "
    "Eur J Nucl Med 1993;20:716-731",
    "Kwekkeboom DJ, Krenning EP. Somatostatin receptor imaging. Semin Nucl Med 2002;32:84-91",
    "Hope TA et al. Appropriate use criteria for somatostatin receptor PET imaging in "
    "neuroendocrine tumors. J Nucl Med 2018;59:66-74 (SSTR PET replaces planar scintigraphy)",
)
SSTR_RADS_SOURCE = (
    "Werner RA et al. SSTR-RADS version 1.0 as a reporting system for SSTR PET imaging and "
    "selection of potential PRRT candidates. J Nucl Med 2018;59:1085-1091"
)
NETPET_SOURCE = (
    "Chan DLH et al. Dual somatostatin receptor/FDG PET/CT imaging in metastatic "
    "neuroendocrine tumours: proposal for a novel grading scheme with prognostic "
    "significance. Theranostics 2017;7(5):1149-1158"
)

KRENNING_TEXT = {
    0: "no uptake",
    1: "uptake lower than liver",
    2: "uptake about equal to liver",
    3: "uptake greater than liver",
    4: "uptake greater than spleen",
}


def krenning_score(
    uptake: float,
    *,
    liver: float | None,
    spleen: float | None,
    blood_pool: float | None = None,
    tolerance: float = 0.10,
    spleen_missing: bool = False,
) -> int | None:
    """PET-adapted Krenning grade of one lesion (``None`` when references are missing).

    Parameters
    ----------
    uptake
        Lesion SUVmax.
    liver, spleen, blood_pool
        Reference SUVmeans.
    tolerance
        Relative band around the liver SUVmean read as "equal to liver".
    spleen_missing
        The patient has no usable spleen (splenectomy): uptake above liver is
        graded 3 against the liver alone — a lower bound, since grade 4 ("above
        spleen") cannot be read. Without this flag a missing spleen reference
        leaves grades above liver undecided (``None``).

    >>> krenning_score(30.0, liver=6.0, spleen=None), krenning_score(
    ...     30.0, liver=6.0, spleen=None, spleen_missing=True)
    (None, 3)
    """
    if not 0 <= tolerance < 1:
        raise InvalidInputError("Krenning tolerance", expected="0 ≤ t < 1", actual=tolerance)
    if liver is None or liver <= 0:
        return None
    if blood_pool is not None and uptake <= blood_pool * (1.0 + tolerance):
        return 0
    if uptake < liver * (1.0 - tolerance):
        return 1
    if uptake <= liver * (1.0 + tolerance):
        return 2
    if spleen is None:
        # 3 or 4: cannot tell without the spleen; after splenectomy "above liver" is the
        # most the images can say (grade 3, never an overstatement)
        return 3 if spleen_missing else None
    return 4 if uptake > spleen else 3


def patient_krenning(scores: Sequence[int | None]) -> int | None:
    """Patient-level grade: the grade of the most avid lesion (``None`` if none is graded).

    >>> patient_krenning([2, 4, None]), patient_krenning([])
    (4, None)
    """
    graded = [s for s in scores if s is not None]
    return max(graded) if graded else None


def sstr_rads(
    *,
    krenning: int | None,
    site: Literal["typical", "atypical"] | None,
    anatomic_correlate: bool | None,
    bone: bool = False,
    benign: bool = False,
    likely_benign: bool = False,
) -> str | None:
    """SSTR-RADS v1.0 category of one finding, or ``None`` when information is lacking.

    Categories (Werner et al. 2018): 1 benign/normal; 2 likely benign;
    3A equivocal uptake in a soft-tissue site typical of NET; 3B equivocal uptake in
    bone; 3C intense uptake in a site atypical of NET; 3D a lesion suggestive of NET
    on anatomic imaging without uptake; 4 intense uptake in a site typical of NET
    without an anatomic correlate; 5 intense uptake in a typical site with an
    anatomic correlate. sstrkit reads "intense" as Krenning ≥ 3 and "equivocal"
    as Krenning 1–2 (the paper describes uptake visually).

    >>> sstr_rads(krenning=0, site="typical", anatomic_correlate=True)
    '3D'
    >>> sstr_rads(krenning=3, site="typical", anatomic_correlate=None) is None
    True
    """
    if benign:
        return "1"
    if likely_benign:
        return "2"
    if krenning is None:
        return None
    if krenning == 0:
        if anatomic_correlate is None:
            return None
        return "3D" if anatomic_correlate else "1"
    if krenning <= 2:
        if bone:
            return "3B"
        if site is None:
            return None
        return "3A" if site == "typical" else "2"
    if site is None:
        return None
    if site == "atypical":
        return "3C"
    if anatomic_correlate is None:
        return None
    return "5" if anatomic_correlate else "4"


# -------------------------------------------------------------------------- NETPET
def match_lesions(
    a_mm: Sequence[Sequence[float]],
    b_mm: Sequence[Sequence[float]],
    *,
    max_distance_mm: float = 15.0,
) -> list[tuple[int | None, int | None, float | None]]:
    """Pair lesions of two scans by centroid distance (optimal assignment).

    Returns ``(index_in_a, index_in_b, distance_mm)``; unpaired lesions appear
    with ``None`` on the other side.

    >>> match_lesions([(0, 0, 0), (50, 0, 0)], [(49, 1, 0)])
    [(0, None, None), (1, 0, 1.4142135623730951)]
    """
    a = np.asarray(a_mm, dtype=float).reshape(-1, 3)
    b = np.asarray(b_mm, dtype=float).reshape(-1, 3)
    pairs: list[tuple[int | None, int | None, float | None]] = []
    matched_a: dict[int, tuple[int, float]] = {}
    matched_b: set[int] = set()
    if len(a) and len(b):
        d = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
        cost = np.where(d <= max_distance_mm, d, 1e9)
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols, strict=True):
            if d[r, c] <= max_distance_mm:
                matched_a[int(r)] = (int(c), float(d[r, c]))
                matched_b.add(int(c))
    for i in range(len(a)):
        if i in matched_a:
            pairs.append((i, matched_a[i][0], matched_a[i][1]))
        else:
            pairs.append((i, None, None))
    pairs.extend((None, j, None) for j in range(len(b)) if j not in matched_b)
    return pairs


def sample_sphere_mean(
    volume: Volume, center_mm: ArrayLike, radius_mm: float = PEAK_RADIUS_MM
) -> float | None:
    """Mean voxel value within ``radius_mm`` of a physical point (``None`` if outside).

    The sphere is the set of voxel centres within the radius of the voxel
    nearest to the point (as for SUVpeak); near the image edge only voxels
    inside the image are averaged.

    >>> import numpy as np
    >>> a = np.zeros((9, 9, 9)); a[4, 4, 4] = 7.0
    >>> v = Volume.from_array(a, spacing=(1.0, 1.0, 1.0))
    >>> sample_sphere_mean(v, (4.0, 4.0, 4.0), 1.0)  # 7 voxels: centre and 6 neighbours
    1.0
    >>> sample_sphere_mean(v, (40.0, 4.0, 4.0)) is None
    True
    """
    ijk = np.rint(volume.physical_to_index(center_mm)).astype(int)
    zyx = ijk[::-1]
    shape = volume.shape
    if not all(0 <= v < n for v, n in zip(zyx, shape, strict=True)):
        return None
    sx, sy, sz = volume.spacing
    kern = ball((sz, sy, sx), radius_mm)
    half = [k // 2 for k in kern.shape]
    box = tuple(
        slice(max(int(c) - h, 0), min(int(c) + h + 1, n))
        for c, h, n in zip(zyx, half, shape, strict=True)
    )
    kb = tuple(
        slice(b.start - (int(c) - h), b.stop - (int(c) - h))
        for b, c, h in zip(box, zyx, half, strict=True)
    )
    vals = np.asarray(volume.array)[box][kern[kb]]
    return float(vals.astype(np.float64).mean())


#: How a pair's uptake on one scan was obtained.
MEASURED = "suv_max"  # the lesion was delineated on this scan: its SUVmax
SAMPLED = "sphere_mean_1ml"  # no lesion here: mean of a 1 cm³ sphere at the partner's centroid


@dataclass(frozen=True)
class LesionPair:
    """One lesion position read on both scans.

    ``sstr_suv``/``fdg_suv`` are the uptakes the categories were read from, obtained
    as ``sstr_measure``/``fdg_measure`` says (``"suv_max"`` or ``"sphere_mean_1ml"``;
    ``""`` when nothing could be read). ``avidity_ratio`` is FDG T/L over SSTR T/L.
    """

    sstr_id: int | None
    fdg_id: int | None
    distance_mm: float | None
    sstr_suv: float | None
    fdg_suv: float | None
    sstr_measure: str
    fdg_measure: str
    sstr_krenning: int | None
    sstr_positive: bool
    fdg_positive: bool
    avidity_ratio: float | None
    avidity: str  # "fdg<sstr", "fdg=sstr", "fdg>sstr", or "" when not FDG-positive


@dataclass(frozen=True)
class NetpetResult:
    """NETPET grade with the lesion pairs it was derived from."""

    grade: str
    pairs: tuple[LesionPair, ...]
    parameters: dict[str, float] = field(default_factory=dict)
    source: str = NETPET_SOURCE

    @property
    def fdg_positive_sstr_negative(self) -> int:
        return sum(p.fdg_positive and not p.sstr_positive for p in self.pairs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "grade": self.grade,
            "fdg_positive_sstr_negative": self.fdg_positive_sstr_negative,
            "pairs": [p.__dict__ for p in self.pairs],
            "parameters": dict(self.parameters),
            "source": self.source,
        }


def netpet_grade(
    sstr_lesions: Sequence[LesionMetrics],
    fdg_lesions: Sequence[LesionMetrics],
    *,
    sstr_refs: ReferenceSet,
    fdg_refs: ReferenceSet,
    sstr_suv: Volume | None = None,
    fdg_suv: Volume | None = None,
    max_distance_mm: float = 15.0,
    tolerance: float = 0.10,
    fdg_positive_ratio: float = 1.0,
) -> NetpetResult:
    """NETPET grade P0–P5 from lesions read on SSTR and FDG PET.

    SSTR-positive: PET-adapted Krenning ≥ 2. FDG-positive: FDG uptake >
    ``fdg_positive_ratio`` × FDG liver SUVmean. Avidity is compared on
    liver-normalised uptake (FDG T/L over SSTR T/L; ±``tolerance`` = similar).

    Lesions delineated on both scans are compared by SUVmax. A lesion without a
    partner is sampled on the other scan by the SUVmean of a 1 cm³ sphere (the
    PERCIST SUVpeak sphere, r = 6.2 mm) at its centroid, and its avidity is then
    compared with the lesion's own SUVpeak (like with like). A mean at the
    centroid, not a maximum over a margin, is what reads the lesion itself: a
    maximum taken around an FDG-only metastasis *inside the liver* picks up the
    surrounding liver's SSTR uptake (Krenning 2, "SSTR-positive", so P5 was
    missed), and the maximum of noisy normal liver around an SSTR-only liver
    lesion exceeds the FDG liver mean (false FDG positivity). Scans are matched
    in patient coordinates without registration.
    """
    liver_s, liver_f = sstr_refs.liver_mean, fdg_refs.liver_mean
    if liver_s is None or liver_f is None:
        raise InvalidInputError(
            "NETPET grading",
            expected="liver references on both SSTR and FDG PET",
            actual=f"SSTR liver {liver_s}, FDG liver {liver_f}",
            fix="pass organ labels (or check the liver heuristic) for both scans",
        )

    def grade_sstr(u: float | None) -> int | None:
        if u is None:
            return None
        return krenning_score(
            u,
            liver=liver_s,
            spleen=sstr_refs.spleen_mean,
            blood_pool=sstr_refs.blood_pool_mean,
            tolerance=tolerance,
            spleen_missing=sstr_refs.spleen_missing,
        )

    def sample(volume: Volume | None, m: LesionMetrics) -> tuple[float | None, str]:
        u = sample_sphere_mean(volume, m.centroid_mm) if volume is not None else None
        return u, (SAMPLED if u is not None else "")

    pairs: list[LesionPair] = []
    for i, j, d in match_lesions(
        [m.centroid_mm for m in sstr_lesions],
        [m.centroid_mm for m in fdg_lesions],
        max_distance_mm=max_distance_mm,
    ):
        s = sstr_lesions[i] if i is not None else None
        f = fdg_lesions[j] if j is not None else None
        s_u: float | None = s.suv_max if s is not None else None
        f_u: float | None = f.suv_max if f is not None else None
        s_how = MEASURED if s is not None else ""
        f_how = MEASURED if f is not None else ""
        s_av, f_av = s_u, f_u  # uptakes compared for avidity
        if s is not None and f is None:
            f_u, f_how = sample(fdg_suv, s)
            s_av, f_av = s.suv_peak, f_u
        elif f is not None and s is None:
            s_u, s_how = sample(sstr_suv, f)
            s_av, f_av = s_u, f.suv_peak
        k = grade_sstr(s_u)
        s_pos = k is not None and k >= 2
        f_pos = f_u is not None and f_u > fdg_positive_ratio * liver_f
        ratio: float | None = None
        avid = ""
        if s_av is not None and s_av > 0 and f_av is not None:
            ratio = (f_av / liver_f) / (s_av / liver_s)
        if f_pos and ratio is not None:
            avid = (
                "fdg<sstr"
                if ratio < 1.0 - tolerance
                else ("fdg>sstr" if ratio > 1.0 + tolerance else "fdg=sstr")
            )
        pairs.append(
            LesionPair(
                s.id if s is not None else None,
                f.id if f is not None else None,
                d,
                s_u,
                f_u,
                s_how,
                f_how,
                k,
                s_pos,
                f_pos,
                ratio,
                avid,
            )
        )
    if any(p.fdg_positive and not p.sstr_positive for p in pairs):
        grade = "P5"
    elif not any(p.fdg_positive for p in pairs):
        grade = "P1" if any(p.sstr_positive for p in pairs) else "P0"
    else:
        kinds = {p.avidity for p in pairs if p.fdg_positive}
        grade = "P4" if "fdg>sstr" in kinds else ("P3" if "fdg=sstr" in kinds else "P2")
    return NetpetResult(
        grade,
        tuple(pairs),
        {
            "max_distance_mm": max_distance_mm,
            "tolerance": tolerance,
            "fdg_positive_ratio": fdg_positive_ratio,
            "sample_radius_mm": PEAK_RADIUS_MM,
        },
    )
