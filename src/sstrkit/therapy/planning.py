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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sstrkit.catalog import regimen as catalog_regimen
from sstrkit.core.provenance import Step
from sstrkit.errors import InvalidInputError
from sstrkit.therapy.case import Administration, Case
from sstrkit.therapy.case_dosimetry import (
    CycleDosimetry,
    RegionCycleDose,
    case_dosimetry,
    cycle_dosimetry,
    kinetics_priors,
)
from sstrkit.therapy.case_dosimetry import (
    reduced_time_point_fit as reduced_time_point_fit,
)
from sstrkit.therapy.kinetics import MODELS, KineticsFit
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
    "Constraint",
    "CycleDosimetry",
    "PlanResult",
    "advise_radionuclide",
    "case_dosimetry",
    "cycle_dosimetry",
    "fit_g_factor",
    "plan_from_case",
]

BODEI_2008: Final = (
    "Bodei L et al. Eur J Nucl Med Mol Imaging 2008;35:1847-1856 (kidney BED 40/28 Gy)"
)
EMAMI_1991: Final = "Emami B et al. Int J Radiat Oncol Biol Phys 1991;21:109-122 (kidney 23 Gy)"
MARROW_LIMIT: Final = "Red-marrow 2 Gy limit (Benua RS et al. AJR 1962;87:171, adopted for PRRT)"
#: Published 177Lu-DOTATATE kidney absorbed dose per activity (Gy/GBq): range of 12 patients,
#: EJNMMI Res 2018;8:97 (doi:10.1186/s13550-018-0459-4), mean 0.43 ± 0.13, range 0.27–0.91;
#: consistent with Staanum et al. EJNMMI Phys 2021;8:78 (mean 0.46 Gy/GBq, 56 treatments).
KIDNEY_GY_PER_GBQ_BAND: Final = (0.27, 0.91)


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


@dataclass(frozen=True)
class Constraint:
    """One organ limit and what it allows."""

    organ: str
    criterion: str  # "absorbed" or "bed"
    limit_gy: float
    delivered_gy: float
    per_cycle_gy: float
    max_cumulative_activity_bq: float
    max_cumulative_activity_conservative_bq: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "organ": self.organ,
            "criterion": self.criterion,
            "limit_gy": self.limit_gy,
            "delivered_gy": self.delivered_gy,
            "per_standard_cycle_gy": self.per_cycle_gy,
            "max_cumulative_activity_mbq": self.max_cumulative_activity_bq / 1e6,
            "max_cumulative_activity_conservative_mbq": (
                self.max_cumulative_activity_conservative_bq / 1e6
            ),
            "source": self.source,
        }


@dataclass(frozen=True)
class PlanResult:
    """The plan (see :func:`plan_from_case` and docs/kinetics.md for the JSON schema)."""

    data: Mapping[str, Any]
    provenance: tuple[Step, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {**dict(self.data), "provenance": [s.to_dict() for s in self.provenance]}


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
) -> list[dict[str, Any]]:
    """φ_e of 177Lu and 90Y per lesion mass, with the suggested nuclide.

    >>> rows = advise_radionuclide([("small", 0.1), ("large", 500.0)])
    >>> [r["suggested"] for r in rows]
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
            {
                "lesion": name,
                "mass_g": mass,
                "radius_mm": lu.radius_mm,
                "electron_absorbed_fraction_lu177": lu.electron_absorbed_fraction,
                "electron_absorbed_fraction_y90": y.electron_absorbed_fraction,
                "s_gy_per_bq_s_lu177": lu.s_gy_per_bq_s,
                "s_gy_per_bq_s_y90": y.s_gy_per_bq_s,
                "suggested": suggest,
            }
        )
    return rows


def plan_from_case(case: Case) -> PlanResult:
    """Plan the remaining cycles of ``case``; see the module docstring."""
    settings = case.planning
    limits = settings.limits
    warnings: list[str] = []
    admins = sorted(case.administrations, key=lambda a: a.cycle)
    priors = kinetics_priors(case)
    dosimetry = [c for c in (cycle_dosimetry(case, a, priors) for a in admins) if c is not None]
    if not dosimetry:
        raise InvalidInputError(
            "case dosimetry",
            expected="time–activity data for at least one administration",
            actual="none",
            fix="add regions (and blood samples) with time–activity data",
        )
    nuclide = dosimetry[-1].administration.nuclide
    dosimetry = [c for c in dosimetry if c.administration.nuclide == nuclide]
    # Each region's latest dosimetry (a later cycle may lack a region, e.g. blood samples only).
    merged: dict[str, RegionCycleDose] = {}
    for c in dosimetry:
        merged.update(c.regions)
    latest = CycleDosimetry(dosimetry[-1].administration, merged)
    reg = catalog_regimen(settings.regimen)
    comps = [c for c in reg.components if c.nuclide == nuclide]
    if not comps:
        raise InvalidInputError(
            "planning.regimen",
            expected=f"a regimen with a {nuclide} component (the dosimetry nuclide)",
            actual=reg.id,
            fix="choose a regimen that uses the measured radionuclide",
        )
    bsa = case.patient.bsa_m2
    a_std = (
        settings.activity_per_cycle_mbq * 1e6
        if settings.activity_per_cycle_mbq is not None
        else comps[0].activity_for(bsa)
    )
    max_cycles = settings.max_cycles or reg.cycles
    if any(a.nuclide != nuclide for a in admins):
        warnings.append(
            "administrations of another nuclide are in the case; only "
            f"{nuclide} cycles are accounted for in the limits"
        )
    admins = [a for a in admins if a.nuclide == nuclide]

    # dose per Bq of a region for every administration: its own cycle's, else the closest
    # earlier (else later) cycle with that region — never 0 for a cycle without it
    def d_for(admin: Administration, name: str) -> CycleDosimetry:
        have = [c for c in dosimetry if name in c.regions]
        earlier = [c for c in have if c.administration.cycle <= admin.cycle]
        return earlier[-1] if earlier else have[0]

    regions = list(latest.regions)
    kidney = settings.kidney_region
    # Safety limits are never loosened by missing data: no plan without both limiting organs.
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
    risk = case.patient.risk_factors.present()
    ebrt = {e.region: e for e in case.ebrt}

    # delivered absorbed dose / BED per region: nominal, and at the upper bound d·(1 + z·u)
    z = settings.confidence_z
    delivered_dose: dict[str, float] = {}
    delivered_bed: dict[str, float] = {}
    delivered_dose_hi: dict[str, float] = {}
    delivered_bed_hi: dict[str, float] = {}
    g_of: dict[str, float] = {}
    ab_of: dict[str, float] = {}
    for name in regions:
        rd = latest.regions[name]
        tissue = rd.tissue or ("tumour" if rd.kind == "lesion" else None)
        if name == kidney:
            tissue = tissue or "kidney"
        if tissue is not None:
            tp = tissue_parameters(tissue)
            ab_of[name] = tp.alpha_beta_gy
            g_of[name] = fit_g_factor(rd.fit, tp.t_repair_s)
        dsum = bsum = dsum_hi = bsum_hi = 0.0
        for a in admins:
            c = d_for(a, name)
            dose = c.regions[name].gy_per_bq * a.activity_bq
            dose_hi = dose * (1 + z * c.regions[name].relative_sd)
            dsum += dose
            dsum_hi += dose_hi
            if name in ab_of:
                tp = tissue_parameters(tissue or "")
                g = fit_g_factor(c.regions[name].fit, tp.t_repair_s)
                bsum += bed_from_g(dose, g, ab_of[name])
                bsum_hi += bed_from_g(dose_hi, g, ab_of[name])
        if name in ebrt and name in ab_of:
            e = ebrt[name]
            b = ebrt_bed(e.dose_per_fraction_gy, e.fractions, ab_of[name])
            bsum += b
            bsum_hi += b
            dsum_ebrt = eqd2(b, ab_of[name])
            dsum += dsum_ebrt
            dsum_hi += dsum_ebrt
            warnings.append(
                f"{name}: prior EBRT added as BED {b:.3g} Gy (EQD2 {dsum_ebrt:.3g} Gy added to "
                "the absorbed-dose total)"
            )
        delivered_dose[name] = dsum
        delivered_bed[name] = bsum
        delivered_dose_hi[name] = dsum_hi
        delivered_bed_hi[name] = bsum_hi
    delivered_activity = sum(a.activity_bq for a in admins)
    cycles_done = len(admins)

    # constraints
    # (constraint, d_hi, g, ab, delivered at the upper bound)
    cons: list[tuple[Constraint, float, float, float | None, float]] = []

    def add(organ: str, crit: str, limit: float, source: str) -> None:
        rd = latest.regions[organ]
        d = rd.gy_per_bq
        d_hi = d * (1 + z * rd.relative_sd)
        if crit == "bed":
            g, ab = g_of[organ], ab_of[organ]
            done, done_hi = delivered_bed[organ], delivered_bed_hi[organ]
            per = bed_from_g(d * a_std, g, ab)
            cap = _capacity(limit - done, d, a_std, g, ab)
            cap_hi = _capacity(limit - done_hi, d_hi, a_std, g, ab)
        else:
            g, ab = 0.0, None
            done, done_hi = delivered_dose[organ], delivered_dose_hi[organ]
            per = d * a_std
            cap = _capacity(limit - done, d, a_std, 0.0, None)
            cap_hi = _capacity(limit - done_hi, d_hi, a_std, 0.0, None)
        c = Constraint(
            organ,
            crit,
            limit,
            done,
            per,
            delivered_activity + cap,
            delivered_activity + cap_hi,
            source,
        )
        cons.append((c, d_hi, g, ab, done_hi))

    if kidney in latest.regions:
        bed_limit = limits.kidney_bed_risk_gy if risk else limits.kidney_bed_gy
        if limits.kidney_criterion in ("bed", "both"):
            add(kidney, "bed", bed_limit, BODEI_2008)
        if limits.kidney_criterion in ("absorbed", "both"):
            add(kidney, "absorbed", limits.kidney_absorbed_gy, EMAMI_1991)
    if "red marrow" in latest.regions:
        add("red marrow", "absorbed", limits.red_marrow_absorbed_gy, MARROW_LIMIT)

    # schedule with the conservative dose estimate
    used = {id(c): done_hi for c, *_, done_hi in cons}
    schedule: list[dict[str, Any]] = []
    cycle_no = max((a.cycle for a in admins), default=0)
    for _ in range(max(0, max_cycles - cycles_done)):
        allowed = a_std
        for con, d_hi, g, ab, _ in cons:
            rem = con.limit_gy - used[id(con)]
            if rem <= 0:
                allowed = 0.0
                break
            x = rem if ab is None else dose_for_bed(rem, alpha_beta_gy=ab, g=g)
            allowed = min(allowed, x / d_hi)
        if allowed < settings.min_activity_mbq * 1e6:
            break
        cycle_no += 1
        for con, d_hi, g, ab, _ in cons:
            x = d_hi * allowed
            used[id(con)] += x if ab is None else bed_from_g(x, g, ab)
        schedule.append({"cycle": cycle_no, "activity_mbq": allowed / 1e6})

    planned = sum(s["activity_mbq"] for s in schedule) * 1e6
    projected: dict[str, Any] = {}
    for name in regions:
        rd = latest.regions[name]
        dose = delivered_dose[name] + rd.gy_per_bq * planned
        entry: dict[str, Any] = {
            "absorbed_gy": dose,
            "absorbed_sd_gy": dose * rd.relative_sd,
            "dose_gy_per_gbq": rd.gy_per_bq * 1e9,
        }
        if name in ab_of:
            b = delivered_bed[name] + sum(
                bed_from_g(rd.gy_per_bq * s["activity_mbq"] * 1e6, g_of[name], ab_of[name])
                for s in schedule
            )
            entry.update(
                bed_gy=b,
                eqd2_gy=eqd2(b, ab_of[name]),
                alpha_beta_gy=ab_of[name],
                g_factor=g_of[name],
            )
        projected[name] = entry

    binding = (
        min(cons, key=lambda c: c[0].max_cumulative_activity_conservative_bq)[0] if cons else None
    )
    if kidney in latest.regions:
        kd = latest.regions[kidney].gy_per_bq * 1e9
        lo, hi = KIDNEY_GY_PER_GBQ_BAND
        if not lo <= kd <= hi:
            warnings.append(
                f"kidney dose {kd:.3g} Gy/GBq is outside the published 177Lu-DOTATATE range "
                f"{lo}–{hi} Gy/GBq: check segmentation, calibration and kinetics"
                if nuclide == "Lu-177"
                else f"kidney dose {kd:.3g} Gy/GBq (no published band for {nuclide} here)"
            )
    if not schedule and cycles_done < max_cycles:
        warnings.append("no further cycle can be given within the limits")

    lesions = [
        (n, latest.regions[n].mass_g or 0.0) for n in regions if latest.regions[n].kind == "lesion"
    ]
    advisor = advise_radionuclide([(n, m) for n, m in lesions if m > 0])
    for r in dosimetry:
        for rd in r.regions.values():
            warnings.extend(
                f"{rd.name} (cycle {r.administration.cycle}): {w}" for w in rd.fit.warnings
            )

    data = {
        "case_id": case.case_id,
        "nuclide": nuclide,
        "regimen": {
            "id": reg.id,
            "name": reg.name,
            "cycles": reg.cycles,
            "activity_per_cycle_mbq": a_std / 1e6,
            "refs": list(reg.refs),
        },
        "patient": {
            "sex": case.patient.sex,
            "weight_kg": case.patient.weight_kg,
            "bsa_m2": bsa,
            "risk_factors": risk,
        },
        "limits": limits.model_dump(),
        "confidence_z": z,
        "dosimetry_cycles": [c.to_dict() for c in dosimetry],
        "delivered": {
            "cycles": cycles_done,
            "activity_mbq": delivered_activity / 1e6,
            "absorbed_gy": delivered_dose,
            "bed_gy": {k: v for k, v in delivered_bed.items() if k in ab_of},
        },
        "constraints": [c.to_dict() for c, *_ in cons],
        "limiting_organ": None if binding is None else f"{binding.organ} ({binding.criterion})",
        "max_safe_cumulative_activity_mbq": (
            None if binding is None else min(c.max_cumulative_activity_bq for c, *_ in cons) / 1e6
        ),
        "max_safe_cumulative_activity_conservative_mbq": (
            None if binding is None else binding.max_cumulative_activity_conservative_bq / 1e6
        ),
        "recommended_cycles_total": cycles_done + len(schedule),
        "next_cycle_activity_mbq": schedule[0]["activity_mbq"] if schedule else 0.0,
        "schedule": schedule,
        "projected": projected,
        "advisor": advisor,
        "plausibility": {
            "kidney_gy_per_gbq_band": list(KIDNEY_GY_PER_GBQ_BAND),
            "source": "EJNMMI Res 2018 doi:10.1186/s13550-018-0459-4; Staanum et al. "
            "EJNMMI Phys 2021;8:78",
        },
        "assumptions": [
            "future cycles repeat the kinetics of the latest dosimetry cycle",
            "complete repair between cycles (BEDs add)",
            f"planned activities use dose per activity × (1 + {z}·relative SD)",
        ],
        "warnings": warnings,
    }
    fit_steps = tuple(s for c in dosimetry for rd in c.regions.values() for s in rd.fit.provenance)
    step = Step.make(
        "prrt_plan",
        {
            "regimen": reg.id,
            "limits": limits.model_dump(),
            "confidence_z": z,
            "max_cycles": max_cycles,
            "activity_per_cycle_bq": a_std,
        },
        inputs=(case.case_id,),
        sources=(BODEI_2008, EMAMI_1991, MARROW_LIMIT, *reg.refs),
    )
    return PlanResult(data, (*fit_steps, step))
