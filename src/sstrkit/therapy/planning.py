"""Dosimetry-guided PRRT planning from cycle-1 (or running) dosimetry.

Chain: case file → kinetics per region (:mod:`~sstrkit.therapy.kinetics`) →
absorbed doses (MIRD organs/lesions :func:`~sstrkit.therapy.mird.organ_doses`,
red marrow by the EANM blood method :func:`~sstrkit.therapy.marrow.red_marrow_dose`)
→ absorbed dose per unit administered activity d (Gy/Bq) per region →
limits → cumulative activity, cycles, next activity, projections.

Assumptions (stated in every plan):

* Future cycles behave like the most recent cycle with dosimetry (same
  kinetics, so dose ∝ activity and the Lea–Catcheside G is unchanged). Cycles
  without dosimetry are assigned the d of the closest earlier (else later)
  dosimetry cycle.
* Complete repair between cycles: BEDs add (:mod:`~sstrkit.therapy.radiobiology`).
* Limits (configurable in the case file): kidney BED 40 Gy, or 28 Gy with risk
  factors (Bodei et al., EJNMMI 2008;35:1847), or kidney absorbed dose 23 Gy
  (Emami et al., IJROBP 1991;21:109, external beam TD5/5), or both; red marrow
  absorbed dose 2 Gy (the limit used for PRRT, originally from 131I therapy).
  EBRT already received by a region is added as BED (same α/β); for the
  absorbed-dose criterion its EQD2 is added.
* Uncertainty: the relative SD of d is the TIA relative SD (fit covariance)
  combined in quadrature with ``extra_dose_relative_sd`` (masses, S values,
  calibration). It is fully correlated across cycles (same kinetics), so
  projected cumulative doses carry the same relative SD. Planned activities use
  the upper bound d·(1 + z·u) (z = ``confidence_z``, default 1.645: one-sided
  95 %) for the delivered cycles as well as the future ones (the same error in
  d affects both), so that the limit is respected with that confidence; the
  nominal maximum is reported alongside.
* Future cycles use the regimen's per-cycle activity (or
  ``activity_per_cycle_mbq``) unless a limit requires less; a cycle below
  ``min_activity_mbq`` is not planned. The regimen's number of cycles (or
  ``max_cycles``) caps the course.

The radionuclide advisor compares, per lesion mass, the sphere-model electron
absorbed fraction φ_e of 177Lu and 90Y (:mod:`~sstrkit.therapy.sphere`): 90Y's
longer β range favours large lesions (cross-fire evens out heterogeneous uptake),
177Lu small ones (the review, section 3.4). Rule: 90Y (or tandem) is suggested
when its φ_e ≥ ``y90_min_fraction`` (0.9), otherwise 177Lu.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sstrkit.catalog import Regimen
from sstrkit.catalog import regimen as catalog_regimen
from sstrkit.core.provenance import Step
from sstrkit.core.units import BQ_PER_GBQ, BQ_PER_MBQ
from sstrkit.errors import InvalidInputError
from sstrkit.therapy.case import Administration, Case
from sstrkit.therapy.case_dosimetry import (
    CaseDosimetry,
    CycleDosimetry,
    RegionCycleDose,
    case_dosimetry,
    case_dosimetry_result,
    cycle_dosimetry,
)
from sstrkit.therapy.case_dosimetry import (
    kinetics_priors as kinetics_priors,
)
from sstrkit.therapy.case_dosimetry import (
    reduced_time_point_fit as reduced_time_point_fit,
)
from sstrkit.therapy.kinetics import MODELS, KineticsFit
from sstrkit.therapy.plan_records import (
    KIDNEY_GY_PER_GBQ_BAND,
    Constraint,
    DeliveredDose,
    NuclideAdvice,
    PlanResult,
    ProjectedDose,
    ScheduledCycle,
)
from sstrkit.therapy.radiobiology import (
    bed_from_g,
    dose_for_bed,
    ebrt_bed,
    eqd2,
    g_mono_exponential,
    lea_catcheside_g,
    repair_rate_per_s,
    tissue_parameters,
)
from sstrkit.therapy.sphere import sphere_s_value

__all__ = [
    "KIDNEY_GY_PER_GBQ_BAND",
    "CaseDosimetry",
    "Constraint",
    "CycleDosimetry",
    "DeliveredDose",
    "NuclideAdvice",
    "PlanResult",
    "ProjectedDose",
    "ScheduledCycle",
    "advise_radionuclide",
    "case_dosimetry",
    "case_dosimetry_result",
    "cycle_dosimetry",
    "fit_g_factor",
    "plan_from_case",
]

BODEI_2008: Final = (
    "Bodei L et al. Eur J Nucl Med Mol Imaging 2008;35:1847-1856 (kidney BED 40/28 Gy)"
)
EMAMI_1991: Final = "Emami B et al. Int J Radiat Oncol Biol Phys 1991;21:109-122 (kidney 23 Gy)"
MARROW_LIMIT: Final = "Red-marrow 2 Gy limit (Benua RS et al. AJR 1962;87:171, adopted for PRRT)"


def fit_g_factor(fit: KineticsFit, t_repair_s: float) -> float:
    """Lea–Catcheside G of a dose rate shaped like the fitted activity curve.

    Exact for the exponential models; the trapezoid is represented by a
    mono-exponential with its tail rate (an approximation, noted in provenance).
    """
    mu = repair_rate_per_s(t_repair_s)
    if fit.model in MODELS:
        spec = MODELS[fit.model]
        coeffs, rates = [], []
        for a, s, r in spec.terms:
            coeffs.append(s * fit.parameters[f"{spec.param_names[a]}_bq"])
            rates.append(fit.parameters[f"{spec.param_names[r]}_per_s"])
        return lea_catcheside_g(coeffs, rates, mu)
    return g_mono_exponential(math.log(2) / fit.t_eff_s, mu)


# ------------------------------------------------------------------ constraints


def _capacity(remaining: float, d: float, a_std: float, g: float, ab: float | None) -> float:
    """Activity (Bq) that uses up ``remaining`` (Gy, or Gy BED) with cycles of a_std."""
    if remaining <= 0 or d <= 0:
        return 0.0 if d > 0 else math.inf

    def contrib(a: float) -> float:
        x = d * a
        return x if ab is None else bed_from_g(x, g, ab)

    per = contrib(a_std)
    k = math.floor(remaining / per)
    rest = remaining - k * per
    part = rest / d if ab is None else dose_for_bed(rest, alpha_beta_gy=ab, g=g) / d
    return k * a_std + min(part, a_std)


def advise_radionuclide(
    lesions: Sequence[tuple[str, float]],
    *,
    tissue: str = "soft",
    y90_min_fraction: float = 0.9,
) -> list[NuclideAdvice]:
    """φ_e of 177Lu and 90Y per lesion mass, with the suggested nuclide.

    >>> rows = advise_radionuclide([("small", 0.1), ("large", 500.0)])
    >>> [r.suggested for r in rows]
    ['Lu-177', 'Y-90 or tandem Y-90/Lu-177']
    """
    if not 0 < y90_min_fraction <= 1:
        raise InvalidInputError("y90_min_fraction", expected="in (0, 1]", actual=y90_min_fraction)
    rows = []
    for name, mass in lesions:
        lu = sphere_s_value("Lu-177", mass, tissue)  # type: ignore[arg-type]
        y = sphere_s_value("Y-90", mass, tissue)  # type: ignore[arg-type]
        suggest = (
            "Y-90 or tandem Y-90/Lu-177"
            if y.electron_absorbed_fraction >= y90_min_fraction
            else "Lu-177"
        )
        rows.append(
            NuclideAdvice(
                lesion=name,
                mass_g=mass,
                radius_mm=lu.radius_mm,
                electron_absorbed_fraction_lu177=lu.electron_absorbed_fraction,
                electron_absorbed_fraction_y90=y.electron_absorbed_fraction,
                s_gy_per_bq_s_lu177=lu.s_gy_per_bq_s,
                s_gy_per_bq_s_y90=y.s_gy_per_bq_s,
                suggested=suggest,
            )
        )
    return rows


# ------------------------------------------------------------------ plan stages


@dataclass(frozen=True)
class _Delivered:
    """What the delivered cycles (and prior EBRT) gave each region.

    Absorbed dose and BED (Gy), nominal and at the upper bound d·(1 + z·u); the
    Lea–Catcheside G and α/β of the latest dosimetry for regions with a tissue
    (only those get a BED).
    """

    dose_gy: dict[str, float]
    bed_gy: dict[str, float]
    dose_hi_gy: dict[str, float]
    bed_hi_gy: dict[str, float]
    g: dict[str, float]
    alpha_beta_gy: dict[str, float]
    activity_bq: float


@dataclass(frozen=True)
class _Limit:
    """A :class:`Constraint` with what scheduling needs: the conservative dose per
    activity ``d_hi`` (Gy/Bq), G and α/β (``None``: absorbed-dose criterion) and the
    delivered amount at the upper bound (Gy or Gy BED)."""

    constraint: Constraint
    d_hi: float
    g: float
    alpha_beta_gy: float | None
    delivered_hi: float


def _latest_dosimetry(
    case: Case, precomputed: CaseDosimetry | None
) -> tuple[list[CycleDosimetry], CycleDosimetry]:
    """Cycles with dosimetry of the latest measured nuclide, and their merged latest doses.

    The merged record holds each region's most recent dosimetry (a later cycle may lack
    a region, e.g. blood samples only) under the latest such administration. The cycles'
    dosimetry is ``precomputed`` (this case's :func:`case_dosimetry_result`) or computed.
    """
    if precomputed is None:
        precomputed = case_dosimetry_result(case)
    elif precomputed.case_id != case.case_id or sorted(
        c.administration.id for c in precomputed.cycles
    ) != sorted(a.id for a in case.administrations):
        raise InvalidInputError(
            "case dosimetry",
            expected=f"the dosimetry of case {case.case_id!r} (its administrations)",
            actual=f"case {precomputed.case_id!r}, administrations "
            f"{sorted(c.administration.id for c in precomputed.cycles)}",
            fix="pass case_dosimetry_result(case) of the case being planned",
        )
    dosimetry = list(precomputed.measured)
    if not dosimetry:
        raise InvalidInputError(
            "case dosimetry",
            expected="time–activity data for at least one administration",
            actual="none",
            fix="add regions (and blood samples) with time–activity data",
        )
    nuclide = dosimetry[-1].administration.nuclide
    dosimetry = [c for c in dosimetry if c.administration.nuclide == nuclide]
    merged: dict[str, RegionCycleDose] = {}
    for c in dosimetry:
        merged.update(c.regions)
    return dosimetry, CycleDosimetry(dosimetry[-1].administration, merged)


def _regimen_activity(case: Case, nuclide: str) -> tuple[Regimen, float, int]:
    """The planning regimen, its per-cycle activity (Bq) and the cap on cycles."""
    settings = case.planning
    reg = catalog_regimen(settings.regimen)
    comps = [c for c in reg.components if c.nuclide == nuclide]
    if not comps:
        raise InvalidInputError(
            "planning.regimen",
            expected=f"a regimen with a {nuclide} component (the dosimetry nuclide)",
            actual=reg.id,
            fix="choose a regimen that uses the measured radionuclide",
        )
    a_std = (
        settings.activity_per_cycle_mbq * BQ_PER_MBQ
        if settings.activity_per_cycle_mbq is not None
        else comps[0].activity_for(case.patient.bsa_m2)
    )
    return reg, a_std, settings.max_cycles or reg.cycles


def _administrations_of(case: Case, nuclide: str, warnings: list[str]) -> list[Administration]:
    """The administrations of ``nuclide`` by cycle (others are noted in ``warnings``)."""
    admins = sorted(case.administrations, key=lambda a: a.cycle)
    if any(a.nuclide != nuclide for a in admins):
        warnings.append(
            "administrations of another nuclide are in the case; only "
            f"{nuclide} cycles are accounted for in the limits"
        )
    return [a for a in admins if a.nuclide == nuclide]


def _require_limiting_organs(latest: CycleDosimetry, kidney: str) -> None:
    """Refuse to plan without kidney and red-marrow dosimetry.

    Safety limits are never loosened by missing data: no plan without both limiting organs.
    """
    if kidney not in latest.regions:
        raise InvalidInputError(
            "kidney dosimetry",
            expected=f"a region named {kidney!r} with time–activity data",
            actual=f"regions {sorted(latest.regions)}",
            fix="add the kidneys (or set planning.kidney_region); no plan is made without the "
            "kidney limit",
        )
    if "red marrow" not in latest.regions:
        raise InvalidInputError(
            "red-marrow dosimetry",
            expected="blood samples of the administration (EANM blood method)",
            actual="none",
            fix="add blood samples; no plan is made without the red-marrow limit",
        )


def _delivered(
    case: Case,
    dosimetry: Sequence[CycleDosimetry],
    latest: CycleDosimetry,
    admins: Sequence[Administration],
    warnings: list[str],
) -> _Delivered:
    """Absorbed dose and BED delivered per region by ``admins`` and prior EBRT.

    Each administration uses the dose per Bq of its own cycle, else of the closest
    earlier (else later) cycle with that region — never 0 for a cycle without it. Prior
    EBRT is added as BED (and its EQD2 to the absorbed dose), with a warning.
    """
    z = case.planning.confidence_z
    kidney = case.planning.kidney_region
    ebrt = {e.region: e for e in case.ebrt}

    def d_for(admin: Administration, name: str) -> CycleDosimetry:
        have = [c for c in dosimetry if name in c.regions]
        earlier = [c for c in have if c.administration.cycle <= admin.cycle]
        return earlier[-1] if earlier else have[0]

    out = _Delivered({}, {}, {}, {}, {}, {}, sum(a.activity_bq for a in admins))
    for name, rd in latest.regions.items():
        tissue = rd.tissue or ("tumour" if rd.kind == "lesion" else None)
        if name == kidney:
            tissue = tissue or "kidney"
        tp = tissue_parameters(tissue) if tissue is not None else None
        if tp is not None:
            out.alpha_beta_gy[name] = tp.alpha_beta_gy
            out.g[name] = fit_g_factor(rd.fit, tp.t_repair_s)
        dsum = bsum = dsum_hi = bsum_hi = 0.0
        for a in admins:
            c = d_for(a, name).regions[name]
            dose = c.gy_per_bq * a.activity_bq
            dose_hi = dose * (1 + z * c.relative_sd)
            dsum += dose
            dsum_hi += dose_hi
            if tp is not None:
                g = fit_g_factor(c.fit, tp.t_repair_s)
                bsum += bed_from_g(dose, g, tp.alpha_beta_gy)
                bsum_hi += bed_from_g(dose_hi, g, tp.alpha_beta_gy)
        if name in ebrt and tp is not None:
            e = ebrt[name]
            b = ebrt_bed(e.dose_per_fraction_gy, e.fractions, tp.alpha_beta_gy)
            bsum += b
            bsum_hi += b
            dsum_ebrt = eqd2(b, tp.alpha_beta_gy)
            dsum += dsum_ebrt
            dsum_hi += dsum_ebrt
            warnings.append(
                f"{name}: prior EBRT added as BED {b:.3g} Gy (EQD2 {dsum_ebrt:.3g} Gy added to "
                "the absorbed-dose total)"
            )
        out.dose_gy[name] = dsum
        out.bed_gy[name] = bsum
        out.dose_hi_gy[name] = dsum_hi
        out.bed_hi_gy[name] = bsum_hi
    return out


def _limits(
    case: Case, latest: CycleDosimetry, delivered: _Delivered, a_std: float
) -> list[_Limit]:
    """The kidney (BED and/or absorbed dose) and red-marrow limits and what each allows.

    Capacities are computed with the nominal d and with the upper bound d·(1 + z·u).
    """
    settings = case.planning
    limits = settings.limits
    z = settings.confidence_z

    def limit(organ: str, crit: str, limit_gy: float, source: str) -> _Limit:
        rd = latest.regions[organ]
        d = rd.gy_per_bq
        d_hi = d * (1 + z * rd.relative_sd)
        g: float
        ab: float | None
        if crit == "bed":
            g, ab = delivered.g[organ], delivered.alpha_beta_gy[organ]
            done, done_hi = delivered.bed_gy[organ], delivered.bed_hi_gy[organ]
            per = bed_from_g(d * a_std, g, ab)
        else:
            g, ab = 0.0, None
            done, done_hi = delivered.dose_gy[organ], delivered.dose_hi_gy[organ]
            per = d * a_std
        cap = _capacity(limit_gy - done, d, a_std, g, ab)
        cap_hi = _capacity(limit_gy - done_hi, d_hi, a_std, g, ab)
        c = Constraint(
            organ,
            crit,
            limit_gy,
            done,
            per,
            delivered.activity_bq + cap,
            delivered.activity_bq + cap_hi,
            source,
        )
        return _Limit(c, d_hi, g, ab, done_hi)

    kidney = settings.kidney_region
    out: list[_Limit] = []
    bed_limit = (
        limits.kidney_bed_risk_gy if case.patient.risk_factors.present() else limits.kidney_bed_gy
    )
    if limits.kidney_criterion in ("bed", "both"):
        out.append(limit(kidney, "bed", bed_limit, BODEI_2008))
    if limits.kidney_criterion in ("absorbed", "both"):
        out.append(limit(kidney, "absorbed", limits.kidney_absorbed_gy, EMAMI_1991))
    out.append(limit("red marrow", "absorbed", limits.red_marrow_absorbed_gy, MARROW_LIMIT))
    return out


def _schedule(
    limits: Sequence[_Limit],
    *,
    a_std: float,
    n_cycles: int,
    first_cycle: int,
    min_activity_bq: float,
) -> list[ScheduledCycle]:
    """Up to ``n_cycles`` further cycles with the conservative dose estimate.

    Each cycle gets ``a_std`` unless a limit allows less; a cycle below
    ``min_activity_bq`` ends the course.
    """
    used = [lim.delivered_hi for lim in limits]
    schedule: list[ScheduledCycle] = []
    cycle_no = first_cycle - 1
    for _ in range(max(0, n_cycles)):
        allowed = a_std
        for lim, u in zip(limits, used, strict=True):
            rem = lim.constraint.limit_gy - u
            if rem <= 0:
                allowed = 0.0
                break
            ab = lim.alpha_beta_gy
            x = rem if ab is None else dose_for_bed(rem, alpha_beta_gy=ab, g=lim.g)
            allowed = min(allowed, x / lim.d_hi)
        if allowed < min_activity_bq:
            break
        cycle_no += 1
        for i, lim in enumerate(limits):
            x = lim.d_hi * allowed
            used[i] += x if lim.alpha_beta_gy is None else bed_from_g(x, lim.g, lim.alpha_beta_gy)
        schedule.append(ScheduledCycle(cycle_no, allowed))
    return schedule


def _projected(
    latest: CycleDosimetry, delivered: _Delivered, schedule: Sequence[ScheduledCycle]
) -> dict[str, ProjectedDose]:
    """Cumulative absorbed dose (and BED, EQD2 where a tissue is known) after the schedule."""
    planned = sum(s.activity_bq for s in schedule)
    projected: dict[str, ProjectedDose] = {}
    for name, rd in latest.regions.items():
        dose = delivered.dose_gy[name] + rd.gy_per_bq * planned
        entry = ProjectedDose(dose, dose * rd.relative_sd, rd.gy_per_bq)
        if name in delivered.alpha_beta_gy:
            ab, g = delivered.alpha_beta_gy[name], delivered.g[name]
            b = delivered.bed_gy[name] + sum(
                bed_from_g(rd.gy_per_bq * s.activity_bq, g, ab) for s in schedule
            )
            entry = ProjectedDose(dose, dose * rd.relative_sd, rd.gy_per_bq, b, eqd2(b, ab), ab, g)
        projected[name] = entry
    return projected


def _kidney_band_warnings(latest: CycleDosimetry, kidney: str) -> list[str]:
    """A warning when the kidney dose per GBq is outside the published band."""
    nuclide = latest.administration.nuclide
    kd = latest.regions[kidney].gy_per_bq * BQ_PER_GBQ
    lo, hi = KIDNEY_GY_PER_GBQ_BAND
    if lo <= kd <= hi:
        return []
    return [
        f"kidney dose {kd:.3g} Gy/GBq is outside the published 177Lu-DOTATATE range "
        f"{lo}–{hi} Gy/GBq: check segmentation, calibration and kinetics"
        if nuclide == "Lu-177"
        else f"kidney dose {kd:.3g} Gy/GBq (no published band for {nuclide} here)"
    ]


def _fit_warnings(dosimetry: Sequence[CycleDosimetry]) -> list[str]:
    """Every kinetics fit's warnings, named by region and cycle."""
    return [
        f"{rd.name} (cycle {r.administration.cycle}): {w}"
        for r in dosimetry
        for rd in r.regions.values()
        for w in rd.fit.warnings
    ]


def plan_from_case(case: Case, dosimetry: CaseDosimetry | None = None) -> PlanResult:
    """Plan the remaining cycles of ``case``; see the module docstring.

    Stages: dosimetry of every cycle (latest nuclide) → regimen and standard activity →
    delivered dose/BED per region → limits and capacities → conservative schedule →
    projected doses, radionuclide advice, warnings → the typed plan and its provenance.
    ``dosimetry``: the case's :func:`case_dosimetry_result` when already computed (its
    fits and doses are used as they are); without it, it is computed here.
    """
    settings = case.planning
    warnings: list[str] = []
    dosimetry_cycles, latest = _latest_dosimetry(case, dosimetry)
    nuclide = latest.administration.nuclide
    reg, a_std, max_cycles = _regimen_activity(case, nuclide)
    admins = _administrations_of(case, nuclide, warnings)
    _require_limiting_organs(latest, settings.kidney_region)
    delivered = _delivered(case, dosimetry_cycles, latest, admins, warnings)
    limits = _limits(case, latest, delivered, a_std)
    schedule = _schedule(
        limits,
        a_std=a_std,
        n_cycles=max_cycles - len(admins),
        first_cycle=max((a.cycle for a in admins), default=0) + 1,
        min_activity_bq=settings.min_activity_mbq * BQ_PER_MBQ,
    )
    projected = _projected(latest, delivered, schedule)
    warnings += _kidney_band_warnings(latest, settings.kidney_region)
    if not schedule and len(admins) < max_cycles:
        warnings.append("no further cycle can be given within the limits")
    lesions = [(n, rd.mass_g or 0.0) for n, rd in latest.regions.items() if rd.kind == "lesion"]
    advisor = advise_radionuclide([(n, m) for n, m in lesions if m > 0])
    warnings += _fit_warnings(dosimetry_cycles)
    fit_steps = tuple(
        s for c in dosimetry_cycles for rd in c.regions.values() for s in rd.fit.provenance
    )
    step = Step.make(
        "prrt_plan",
        {
            "regimen": reg.id,
            "limits": settings.limits.model_dump(),
            "confidence_z": settings.confidence_z,
            "max_cycles": max_cycles,
            "activity_per_cycle_bq": a_std,
        },
        inputs=(case.case_id,),
        sources=(BODEI_2008, EMAMI_1991, MARROW_LIMIT, *reg.refs),
    )
    return PlanResult(
        case_id=case.case_id,
        nuclide=nuclide,
        regimen=reg,
        activity_per_cycle_bq=a_std,
        patient=case.patient,
        limits=settings.limits,
        confidence_z=settings.confidence_z,
        dosimetry_cycles=tuple(dosimetry_cycles),
        delivered=DeliveredDose(
            cycles=len(admins),
            activity_bq=delivered.activity_bq,
            absorbed_gy=delivered.dose_gy,
            bed_gy={k: v for k, v in delivered.bed_gy.items() if k in delivered.alpha_beta_gy},
        ),
        constraints=tuple(lim.constraint for lim in limits),
        schedule=tuple(schedule),
        projected=projected,
        advisor=tuple(advisor),
        warnings=tuple(warnings),
        provenance=(*fit_steps, step),
    )
