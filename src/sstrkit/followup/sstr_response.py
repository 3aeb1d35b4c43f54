"""SSTR-PET response after PRRT: ΔSUVmax, Δ tumour/spleen ratio, Δ SSTR tumour volume.

Haug AR et al., "68Ga-DOTATATE PET/CT for the early prediction of response
to somatostatin receptor-mediated radionuclide therapy in patients with
well-differentiated neuroendocrine tumors", J Nucl Med 51:1349–1356 (2010)
measured SUVmax and the tumour-to-spleen SUV ratio (SUV T/S) at baseline and
about 3 months after the first PRRT cycle and expressed the change as a
percentage of baseline. A *decrease* of SUV T/S separated long from short
progression-free survival (23/31 patients with decreased SUV T/S: median PFS not
reached vs 6 months, P = 0.002), whereas the change of SUVmax alone did not.
This module reports those changes plus the change of the total SSTR-positive
tumour volume, after matching lesions across the two scans by position.

Lesion matching: follow-up positions are mapped into the baseline frame by an
optional rigid/affine 4×4 transform (from a registration, in mm, LPS), then
paired by minimum total distance (Hungarian algorithm,
:func:`scipy.optimize.linear_sum_assignment`) with a distance gate.

Examples
--------
>>> b = SstrScan("baseline", (SstrLesion("a", 20.0, (0.0, 0.0, 0.0), 10.0),), spleen_suv=10.0)
>>> f = SstrScan("cycle1", (SstrLesion("x", 15.0, (3.0, 0.0, 4.0), 8.0),), spleen_suv=12.0)
>>> r = sstr_response(b, f)
>>> r.matches[0].distance_mm, round(r.delta_ts_pct, 6), r.ts_decreased
(5.0, -37.5, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from sstrkit.core.provenance import Step
from sstrkit.errors import InvalidInputError

__all__ = [
    "LesionMatch",
    "Matching",
    "SstrLesion",
    "SstrResponse",
    "SstrScan",
    "match_lesions",
    "sstr_response",
]

SOURCE: Final = "Haug AR et al. J Nucl Med 2010;51:1349-1356 (SUVmax, SUV T/S after cycle 1)"
DEFAULT_MAX_DISTANCE_MM: Final = 15.0


@dataclass(frozen=True)
class SstrLesion:
    """A lesion on an SSTR PET: SUVmax, centre position (mm, LPS) and volume (mL)."""

    id: str
    suv_max: float
    position_mm: tuple[float, float, float] | None = None
    volume_ml: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.suv_max) and self.suv_max >= 0):
            raise InvalidInputError(
                f"SUVmax of lesion {self.id}", expected="≥ 0", actual=self.suv_max
            )
        if self.volume_ml is not None and not self.volume_ml >= 0:
            raise InvalidInputError(
                f"volume of lesion {self.id}", expected="≥ 0 mL", actual=self.volume_ml
            )
        if self.position_mm is not None and (
            len(self.position_mm) != 3 or not all(math.isfinite(v) for v in self.position_mm)
        ):
            raise InvalidInputError(
                f"position of lesion {self.id}",
                expected="three finite coordinates in mm",
                actual=self.position_mm,
            )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SstrLesion:
        if "id" not in d or "suv_max" not in d:
            raise InvalidInputError(
                "SSTR lesion record", expected="keys 'id' and 'suv_max'", actual=sorted(d)
            )
        pos = d.get("position_mm")
        vol = d.get("volume_ml")
        return cls(
            str(d["id"]),
            float(d["suv_max"]),
            None if pos is None else (float(pos[0]), float(pos[1]), float(pos[2])),
            None if vol is None else float(vol),
        )


@dataclass(frozen=True)
class SstrScan:
    """One SSTR PET: lesions and the spleen reference SUV (same definition on every scan)."""

    label: str
    lesions: tuple[SstrLesion, ...]
    spleen_suv: float | None = None

    def total_volume_ml(self) -> float | None:
        vols = [les.volume_ml for les in self.lesions]
        if not vols or any(v is None for v in vols):
            return None
        return math.fsum(v for v in vols if v is not None)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SstrScan:
        lesions = d.get("lesions")
        if not isinstance(lesions, Sequence) or isinstance(lesions, str):
            raise InvalidInputError("SSTR scan", expected="a list 'lesions'", actual=type(lesions))
        sp = d.get("spleen_suv")
        return cls(
            str(d.get("label", "scan")),
            tuple(SstrLesion.from_dict(x) for x in lesions),
            None if sp is None else float(sp),
        )


@dataclass(frozen=True)
class LesionMatch:
    baseline_id: str
    followup_id: str
    distance_mm: float


@dataclass(frozen=True)
class Matching:
    """Result of :func:`match_lesions`."""

    matches: tuple[LesionMatch, ...]
    unmatched_baseline: tuple[str, ...]
    unmatched_followup: tuple[str, ...]


def _apply(transform: NDArray[np.float64] | None, pts: NDArray[np.float64]) -> NDArray[np.float64]:
    if transform is None:
        return pts
    t = np.asarray(transform, dtype=float)
    if t.shape == (3,):
        return np.asarray(pts + t, dtype=np.float64)
    if t.shape != (4, 4) or not np.allclose(t[3], [0.0, 0.0, 0.0, 1.0]):
        raise InvalidInputError(
            "registration transform",
            expected="a translation (3,) or a 4×4 affine in mm",
            actual=t.shape,
        )
    return np.asarray(pts @ t[:3, :3].T + t[:3, 3], dtype=np.float64)


def match_lesions(
    baseline: Sequence[SstrLesion],
    followup: Sequence[SstrLesion],
    *,
    max_distance_mm: float = DEFAULT_MAX_DISTANCE_MM,
    transform: NDArray[np.float64] | None = None,
) -> Matching:
    """Pair lesions of two scans by position (minimum total distance, gated).

    ``transform`` maps follow-up coordinates into the baseline frame (a
    translation vector or a 4×4 affine, mm). Lesions without a position are
    left unmatched.

    >>> a = [SstrLesion("a1", 5, (0, 0, 0)), SstrLesion("a2", 5, (50, 0, 0))]
    >>> b = [SstrLesion("b1", 5, (48, 1, 0)), SstrLesion("b2", 5, (200, 0, 0))]
    >>> m = match_lesions(a, b)
    >>> [(x.baseline_id, x.followup_id) for x in m.matches], m.unmatched_baseline
    ([('a2', 'b1')], ('a1',))
    """
    if not (max_distance_mm > 0):
        raise InvalidInputError("max_distance_mm", expected="> 0 mm", actual=max_distance_mm)
    bl = [les for les in baseline if les.position_mm is not None]
    fl = [les for les in followup if les.position_mm is not None]
    matches: list[LesionMatch] = []
    if bl and fl:
        pb = np.array([les.position_mm for les in bl], dtype=float)
        pf = _apply(transform, np.array([les.position_mm for les in fl], dtype=float))
        dist = np.linalg.norm(pb[:, None, :] - pf[None, :, :], axis=2)
        big = max_distance_mm * 1e6 + float(dist.max())
        cost = np.where(dist <= max_distance_mm, dist, big)
        rows, cols = linear_sum_assignment(cost)
        for i, j in zip(rows, cols, strict=True):
            if dist[i, j] <= max_distance_mm:
                matches.append(LesionMatch(bl[i].id, fl[j].id, float(dist[i, j])))
    mb = {m.baseline_id for m in matches}
    mf = {m.followup_id for m in matches}
    return Matching(
        tuple(matches),
        tuple(les.id for les in baseline if les.id not in mb),
        tuple(les.id for les in followup if les.id not in mf),
    )


def _pct(new: float, old: float) -> float | None:
    return None if old == 0 else 100.0 * (new - old) / old


@dataclass(frozen=True)
class SstrResponse:
    """Changes between a baseline and a follow-up SSTR PET (percent of baseline)."""

    matches: tuple[LesionMatch, ...]
    per_lesion: tuple[Mapping[str, Any], ...]
    disappeared: tuple[str, ...]
    new: tuple[str, ...]
    mean_suv_max_baseline: float | None
    mean_suv_max_followup: float | None
    delta_suv_max_pct: float | None
    delta_ts_pct: float | None
    ts_decreased: bool | None
    total_volume_baseline_ml: float | None
    total_volume_followup_ml: float | None
    delta_volume_pct: float | None
    history: tuple[Step, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "matches": [
                {
                    "baseline_id": m.baseline_id,
                    "followup_id": m.followup_id,
                    "distance_mm": m.distance_mm,
                }
                for m in self.matches
            ],
            "per_lesion": [dict(x) for x in self.per_lesion],
            "disappeared": list(self.disappeared),
            "new": list(self.new),
            "mean_suv_max_baseline": self.mean_suv_max_baseline,
            "mean_suv_max_followup": self.mean_suv_max_followup,
            "delta_suv_max_pct": self.delta_suv_max_pct,
            "delta_ts_pct": self.delta_ts_pct,
            "ts_decreased": self.ts_decreased,
            "total_volume_baseline_ml": self.total_volume_baseline_ml,
            "total_volume_followup_ml": self.total_volume_followup_ml,
            "delta_volume_pct": self.delta_volume_pct,
            "history": [s.to_dict() for s in self.history],
        }


def sstr_response(
    baseline: SstrScan,
    followup: SstrScan,
    *,
    max_distance_mm: float = DEFAULT_MAX_DISTANCE_MM,
    transform: NDArray[np.float64] | None = None,
    match_by_id: bool = False,
) -> SstrResponse:
    """Changes of SUVmax, SUV T/S and SSTR tumour volume after a PRRT cycle.

    Patient-level SUVmax and T/S use the mean over *matched* lesions (so that
    disappearing and new lesions do not bias the uptake change); the volume
    change uses all lesions (new and vanished included). ``ts_decreased`` is
    Haug et al.'s dichotomy: SUV T/S lower than at baseline.
    """
    if match_by_id:
        fids = {les.id for les in followup.lesions}
        pairs = tuple(
            LesionMatch(les.id, les.id, 0.0) for les in baseline.lesions if les.id in fids
        )
        mb = {m.baseline_id for m in pairs}
        matching = Matching(
            pairs,
            tuple(les.id for les in baseline.lesions if les.id not in mb),
            tuple(les.id for les in followup.lesions if les.id not in mb),
        )
    else:
        matching = match_lesions(
            baseline.lesions, followup.lesions, max_distance_mm=max_distance_mm, transform=transform
        )
    bmap = {les.id: les for les in baseline.lesions}
    fmap = {les.id: les for les in followup.lesions}
    per: list[dict[str, Any]] = []
    for m in matching.matches:
        b, f = bmap[m.baseline_id], fmap[m.followup_id]
        row: dict[str, Any] = {
            "baseline_id": b.id,
            "followup_id": f.id,
            "suv_max_baseline": b.suv_max,
            "suv_max_followup": f.suv_max,
            "delta_suv_max_pct": _pct(f.suv_max, b.suv_max),
        }
        if baseline.spleen_suv and followup.spleen_suv:
            row["delta_ts_pct"] = _pct(
                f.suv_max / followup.spleen_suv, b.suv_max / baseline.spleen_suv
            )
        if b.volume_ml is not None and f.volume_ml is not None:
            row["delta_volume_pct"] = _pct(f.volume_ml, b.volume_ml)
        per.append(row)
    mb_mean = mf_mean = None
    d_suv = d_ts = None
    if matching.matches:
        mb_mean = float(np.mean([bmap[m.baseline_id].suv_max for m in matching.matches]))
        mf_mean = float(np.mean([fmap[m.followup_id].suv_max for m in matching.matches]))
        d_suv = _pct(mf_mean, mb_mean)
        if baseline.spleen_suv and followup.spleen_suv:
            d_ts = _pct(mf_mean / followup.spleen_suv, mb_mean / baseline.spleen_suv)
    elif baseline.spleen_suv is None or followup.spleen_suv is None:
        d_ts = None
    vb, vf = baseline.total_volume_ml(), followup.total_volume_ml()
    step = Step.make(
        "sstr_response",
        {
            "max_distance_mm": max_distance_mm,
            "match_by_id": match_by_id,
            "transform": None if transform is None else np.asarray(transform).tolist(),
        },
        inputs=(baseline.label, followup.label),
        sources=(SOURCE,),
    )
    return SstrResponse(
        matches=matching.matches,
        per_lesion=tuple(per),
        disappeared=matching.unmatched_baseline,
        new=matching.unmatched_followup,
        mean_suv_max_baseline=mb_mean,
        mean_suv_max_followup=mf_mean,
        delta_suv_max_pct=d_suv,
        delta_ts_pct=d_ts,
        ts_decreased=None if d_ts is None else d_ts < 0,
        total_volume_baseline_ml=vb,
        total_volume_followup_ml=vf,
        delta_volume_pct=None if vb is None or vf is None else _pct(vf, vb),
        history=(step,),
    )
