"""PERCIST 1.0 metabolic response from SULpeak measurements.

Implements Wahl RL, Jacene H, Kasamon Y, Lodge MA, "From RECIST to PERCIST:
evolving considerations for PET response criteria in solid tumors",
J Nucl Med 50:122S–150S (2009), as summarised for practice by O JH, Lodge MA,
Wahl RL, "Practical PERCIST: a simplified guide to PET response criteria in
solid tumors 1.0", Radiology 280:576–584 (2016). Inputs are per-lesion SULpeak
values (SUV normalised to lean body mass, mean in a 1 cm³ sphere) and the
liver reference (SULmean and SD in a 3 cm diameter sphere in the right lobe);
image reading belongs to :mod:`sstrkit.reading`.

* measurability: baseline SULpeak ≥ 1.5 × liver SULmean + 2 SD (or, with an
  abnormal liver, ≥ 2.0 × blood-pool SULmean + 2 SD);
* target: the single hottest lesion on each scan (not necessarily the same);
* CMR: every lesion below the liver SULmean (and, when a blood-pool reference
  is given, not above blood-pool mean + 2 SD), no new lesion;
* PMR: SULpeak decrease ≥ 30 % and ≥ 0.8 SUL units, no new lesion, no other
  lesion increasing > 30 %, no unequivocal non-target progression;
* PMD: SULpeak increase ≥ 30 % and ≥ 0.8 SUL units from baseline, or a new
  lesion, or unequivocal non-target progression;
* SMD otherwise. Secondary measure: the sum of SULpeak of up to five hottest
  lesions (at most two per organ).

The 30 % boundary is inclusive for both PMR ("a minimum of 30 %") and PMD;
Wahl et al.'s table words PMD as "> 30 %", which differs only at exactly 30 %.

Examples
--------
>>> liver = ReferenceRegion(mean=2.0, sd=0.3)
>>> liver.threshold(1.5)
3.6
>>> b = PetScan("baseline", 0.0, (PetLesion("L1", 10.0, "liver"),), liver)
>>> f = PetScan("fu", 90 * 86400.0, (PetLesion("L1", 6.5, "liver"),), liver)
>>> r = assess_percist(b, f)
>>> round(r.change_pct, 6), r.response
(-35.0, 'PMR')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from sstrkit.core.body import james_formula_kg, janmahasatian_formula_kg, parse_sex
from sstrkit.core.provenance import Step
from sstrkit.core.units import G_PER_KG, MM_PER_CM
from sstrkit.errors import InvalidInputError

__all__ = [
    "PercistResult",
    "PetLesion",
    "PetScan",
    "ReferenceRegion",
    "assess_percist",
    "lean_body_mass_g",
    "sul_from_suv_bw",
]

SOURCES: Final = (
    "Wahl RL et al. J Nucl Med 2009;50 Suppl 1:122S-150S (PERCIST 1.0)",
    "O JH, Lodge MA, Wahl RL. Radiology 2016;280:576-584 (Practical PERCIST)",
)
PercistResponse = Literal["CMR", "PMR", "SMD", "PMD"]
CHANGE_FRACTION: Final = 0.30
CHANGE_ABS_SUL: Final = 0.8
LIVER_FACTOR: Final = 1.5
BLOOD_POOL_FACTOR: Final = 2.0
LIVER_MAX_CHANGE_FRACTION: Final = 0.20
LIVER_MAX_CHANGE_SUL: Final = 0.3
_EPS: Final = 1e-9


def lean_body_mass_g(
    weight_g: float, height_mm: float, sex: str, *, formula: str = "janmahasatian"
) -> float:
    """Lean body mass (g) for SUL.

    ``formula="james"`` is the James (1976) formula used in PERCIST 1.0
    (male 1.10 W − 128 (W/H)², female 1.07 W − 148 (W/H)², W kg, H cm);
    ``"janmahasatian"`` (Janmahasatian et al., Clin Pharmacokinet 2005;44:1051)
    is 9270 W / (6680 + 216 BMI) for men, 9270 W / (8780 + 244 BMI) for women,
    recommended in Practical PERCIST because James fails at high BMI.

    >>> round(lean_body_mass_g(70000.0, 1750.0, "male", formula="james"), 6)
    56520.0
    >>> round(lean_body_mass_g(70000.0, 1750.0, "male") / 1000, 3)
    55.857
    """
    if not (weight_g > 0 and height_mm > 0 and math.isfinite(weight_g * height_mm)):
        raise InvalidInputError(
            "weight/height",
            expected="positive finite values (g, mm)",
            actual=(weight_g, height_mm),
        )
    body_sex = parse_sex(sex, fix="pass the patient's sex ('female' or 'male')")
    w_kg, h_cm = weight_g / G_PER_KG, height_mm / MM_PER_CM
    if formula == "james":
        lbm = james_formula_kg(w_kg, h_cm, body_sex)
    elif formula == "janmahasatian":
        lbm = janmahasatian_formula_kg(w_kg, h_cm, body_sex)
    else:
        raise InvalidInputError(
            "LBM formula", expected="'james' or 'janmahasatian'", actual=repr(formula)
        )
    if lbm <= 0:
        raise InvalidInputError(
            "lean body mass",
            expected="> 0",
            actual=lbm,
            fix="the James formula is invalid at very high BMI; use formula='janmahasatian'",
        )
    return lbm * G_PER_KG


def sul_from_suv_bw(suv_bw: float, weight_g: float, lbm_g: float) -> float:
    """Convert body-weight SUV to SUL: SUL = SUV_bw × LBM / weight.

    >>> sul_from_suv_bw(5.0, 80000.0, 60000.0)
    3.75
    """
    if weight_g <= 0 or lbm_g <= 0:
        raise InvalidInputError("weight/LBM", expected="> 0 g", actual=(weight_g, lbm_g))
    return suv_bw * lbm_g / weight_g


@dataclass(frozen=True)
class ReferenceRegion:
    """Normal-tissue reference: SULmean and SD (liver 3 cm sphere, or blood pool)."""

    mean: float
    sd: float

    def __post_init__(self) -> None:
        if not (self.mean > 0 and self.sd >= 0 and math.isfinite(self.mean + self.sd)):
            raise InvalidInputError(
                "reference region SUL", expected="mean > 0 and SD ≥ 0", actual=(self.mean, self.sd)
            )

    def threshold(self, factor: float) -> float:
        """``factor`` × mean + 2 SD (1.5 for liver, 2.0 for blood pool)."""
        return round(factor * self.mean + 2.0 * self.sd, 12)


@dataclass(frozen=True)
class PetLesion:
    """One lesion on one PET scan: SULpeak (``None`` = resolved / not visible)."""

    id: str
    sul_peak: float | None
    organ: str = "unspecified"
    new: bool = False

    def __post_init__(self) -> None:
        v = self.sul_peak
        if v is not None and (not math.isfinite(v) or v < 0):
            raise InvalidInputError(f"SULpeak of lesion {self.id}", expected="≥ 0", actual=v)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PetLesion:
        if "id" not in d:
            raise InvalidInputError("PET lesion record", expected="a key 'id'", actual=sorted(d))
        v = d.get("sul_peak")
        return cls(
            str(d["id"]),
            None if v is None else float(v),
            str(d.get("organ", "unspecified")),
            bool(d.get("new", False)),
        )


@dataclass(frozen=True)
class PetScan:
    """One PET scan: lesions, liver reference and (optional) blood-pool reference."""

    label: str
    time_s: float | None
    lesions: tuple[PetLesion, ...]
    liver: ReferenceRegion | None = None
    blood_pool: ReferenceRegion | None = None
    non_target_progression: bool = False

    def hottest(self) -> PetLesion | None:
        seen = [les for les in self.lesions if les.sul_peak is not None]
        return max(seen, key=lambda les: les.sul_peak or 0.0) if seen else None

    def sum_top5(self) -> float:
        """Sum of SULpeak of up to five hottest lesions, at most two per organ."""
        ordered = sorted(
            (les for les in self.lesions if les.sul_peak is not None),
            key=lambda les: -(les.sul_peak or 0.0),
        )
        per_organ: dict[str, int] = {}
        total, n = 0.0, 0
        for les in ordered:
            if n == 5:
                break
            if per_organ.get(les.organ, 0) < 2:
                per_organ[les.organ] = per_organ.get(les.organ, 0) + 1
                total += les.sul_peak or 0.0
                n += 1
        return total


@dataclass(frozen=True)
class PercistResult:
    """PERCIST 1.0 result of one follow-up scan against baseline."""

    baseline_target: str
    baseline_sul_peak: float
    followup_target: str | None
    followup_sul_peak: float
    measurability_threshold: float
    reference: str
    change_abs: float
    change_pct: float
    sum_top5_change_pct: float | None
    liver_comparable: bool | None
    response: PercistResponse
    reasons: tuple[str, ...]
    history: tuple[Step, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "criteria": "PERCIST 1.0",
            "baseline_target": self.baseline_target,
            "baseline_sul_peak": self.baseline_sul_peak,
            "followup_target": self.followup_target,
            "followup_sul_peak": self.followup_sul_peak,
            "measurability_threshold": self.measurability_threshold,
            "reference": self.reference,
            "change_abs_sul": self.change_abs,
            "change_pct": self.change_pct,
            "sum_top5_change_pct": self.sum_top5_change_pct,
            "liver_comparable": self.liver_comparable,
            "response": self.response,
            "reasons": list(self.reasons),
            "history": [s.to_dict() for s in self.history],
        }


def _threshold(scan: PetScan) -> tuple[float, str]:
    if scan.liver is not None:
        return scan.liver.threshold(LIVER_FACTOR), "liver: 1.5 × SULmean + 2 SD"
    if scan.blood_pool is not None:
        return scan.blood_pool.threshold(BLOOD_POOL_FACTOR), "blood pool: 2.0 × SULmean + 2 SD"
    raise InvalidInputError(
        f"reference region of {scan.label}",
        expected="a liver (or blood-pool) SULmean and SD",
        actual="none",
        fix="measure a 3 cm sphere in the normal right liver lobe",
    )


def assess_percist(baseline: PetScan, followup: PetScan) -> PercistResult:
    """Classify a follow-up scan as CMR, PMR, SMD or PMD (PERCIST 1.0).

    Raises
    ------
    InvalidInputError
        No reference region, or no measurable lesion at baseline.
    """
    threshold, ref = _threshold(baseline)
    b_hot = baseline.hottest()
    if b_hot is None or b_hot.sul_peak is None or b_hot.sul_peak < threshold - _EPS:
        raise InvalidInputError(
            "baseline PERCIST target",
            expected=f"a lesion with SULpeak ≥ {threshold:g} ({ref})",
            actual=None if b_hot is None else b_hot.sul_peak,
            fix="no measurable disease: PERCIST cannot be applied to this patient",
        )
    b_val = b_hot.sul_peak
    f_hot = followup.hottest()
    f_val = 0.0 if f_hot is None or f_hot.sul_peak is None else f_hot.sul_peak
    d_abs = f_val - b_val
    d_frac = d_abs / b_val
    reasons: list[str] = []

    liver_ok: bool | None = None
    if baseline.liver is not None and followup.liver is not None:
        dl = followup.liver.mean - baseline.liver.mean
        liver_ok = (
            abs(dl) <= LIVER_MAX_CHANGE_FRACTION * baseline.liver.mean + _EPS
            and abs(dl) < LIVER_MAX_CHANGE_SUL
        )
        if not liver_ok:
            reasons.append(
                f"liver SULmean changed {dl:+.2f} (PERCIST: within 20 % and < 0.3 SUL); "
                "check scan comparability"
            )

    new = any(les.new for les in followup.lesions)
    b_by_id = {les.id: les for les in baseline.lesions}
    rising = [
        les.id
        for les in followup.lesions
        if les.id in b_by_id
        and les.sul_peak is not None
        and b_by_id[les.id].sul_peak
        and les.sul_peak > (b_by_id[les.id].sul_peak or 0.0) * (1 + CHANGE_FRACTION) + _EPS
    ]
    pmd_quant = d_frac >= CHANGE_FRACTION - _EPS and d_abs >= CHANGE_ABS_SUL - _EPS
    pmr_quant = d_frac <= -CHANGE_FRACTION + _EPS and -d_abs >= CHANGE_ABS_SUL - _EPS

    cmr = False
    if followup.liver is not None and not new:
        limit_bp = None if followup.blood_pool is None else followup.blood_pool.threshold(1.0)
        cmr = all(
            les.sul_peak is None
            or (
                les.sul_peak < followup.liver.mean
                and (limit_bp is None or les.sul_peak <= limit_bp + _EPS)
            )
            for les in followup.lesions
        )

    response: PercistResponse
    if pmd_quant or new or followup.non_target_progression:
        response = "PMD"
        if pmd_quant:
            reasons.append(f"SULpeak {b_val:g} → {f_val:g} (≥ 30 % and ≥ 0.8 SUL increase)")
        if new:
            reasons.append("new lesion(s)")
        if followup.non_target_progression:
            reasons.append("unequivocal progression of non-target lesions")
    elif cmr:
        response = "CMR"
        reasons.append("all lesions below liver SULmean / background")
    elif pmr_quant and not rising:
        response = "PMR"
    else:
        response = "SMD"
        if pmr_quant and rising:
            reasons.append(f"lesions {rising} increased > 30 %: not PMR")
    b_sum, f_sum = baseline.sum_top5(), followup.sum_top5()
    step = Step.make(
        "percist_1_0",
        {
            "change_fraction": CHANGE_FRACTION,
            "change_abs_sul": CHANGE_ABS_SUL,
            "threshold": threshold,
            "reference": ref,
        },
        inputs=(baseline.label, followup.label),
        sources=SOURCES,
    )
    return PercistResult(
        baseline_target=b_hot.id,
        baseline_sul_peak=b_val,
        followup_target=None if f_hot is None else f_hot.id,
        followup_sul_peak=f_val,
        measurability_threshold=threshold,
        reference=ref,
        change_abs=d_abs,
        change_pct=100.0 * d_frac,
        sum_top5_change_pct=100.0 * (f_sum - b_sum) / b_sum if b_sum > 0 else None,
        liver_comparable=liver_ok,
        response=response,
        reasons=tuple(reasons),
        history=(step,),
    )


def scan_from_dict(d: Mapping[str, Any], *, time_s: float | None = None) -> PetScan:
    """A :class:`PetScan` from JSON: ``{"label", "lesions": [...], "liver": {"mean", "sd"}}``."""

    def ref(key: str) -> ReferenceRegion | None:
        v = d.get(key)
        if v is None:
            return None
        if not isinstance(v, Mapping) or "mean" not in v:
            raise InvalidInputError(key, expected="{'mean': SUL, 'sd': SUL}", actual=v)
        return ReferenceRegion(float(v["mean"]), float(v.get("sd", 0.0)))

    lesions = d.get("lesions")
    if not isinstance(lesions, Sequence) or isinstance(lesions, str):
        raise InvalidInputError("PET scan", expected="a list 'lesions'", actual=type(lesions))
    return PetScan(
        str(d.get("label", "scan")),
        time_s,
        tuple(PetLesion.from_dict(x) for x in lesions),
        ref("liver"),
        ref("blood_pool"),
        bool(d.get("non_target_progression", False)),
    )
