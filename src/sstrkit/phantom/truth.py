"""Ground truth of the digital patient: activities, TIAs and absorbed doses per cycle.

The truth is computed from the analytic time-activity curves of
:mod:`sstrkit.phantom.biology` by a deliberately simple, independent method:

* **TIA** Ã = A0·∫₀^∞ TAC(t) dt, analytic (sum of exponentials).
* **Electrons** (β⁻, conversion and Auger electrons, ICRP 107 mean energy per
  decay Δₑ): locally absorbed, D_e = Ã·Δₑ / m.
* **Photons** (γ and X-rays, ICRP 107 lines): self-dose only,
  D_γ = Ã·Σᵢ yᵢEᵢ·φᵢ / m, with the absorbed fraction of a sphere of the region's
  volume approximated by φᵢ = 1 − exp(−(μ_en/ρ)ᵢ·ρ·4r/3) (4r/3 = mean chord of
  a sphere; water μ_en/ρ from NIST). Cross-irradiation between regions is not
  included.
* **Red marrow** (whole skeleton, blood-based): Ã_RM = Ã_blood per mL · RMBLR ·
  m_RM with m_RM the size-scaled ICRP 89 red-marrow mass; electrons only.

Tumour response: after cycle k every lesion's volume is multiplied by
max(exp(−α_v·D_k), min_volume_factor) (α_v drawn per patient); its uptake per gram in cycle k is the
cycle-1 uptake × (1 − r)^(k−1), r = 6 % (grade 1) or 14 % (grade 2) per cycle
(Roth et al. 2022), with the effective half-life unchanged.

Examples
--------
>>> small, large = photon_absorbed_fraction(10.0, 1.0), photon_absorbed_fraction(1000.0, 1.0)
>>> 0.0 < small < large < 1.0
True
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sstrkit.core.units import BQ_PER_MBQ, G_PER_KG, J_PER_MEV, SECONDS_PER_HOUR
from sstrkit.errors import InvalidInputError
from sstrkit.phantom.anatomy import COMPOSITES, Anatomy, AnatomyModel
from sstrkit.phantom.biology import Biology, ExpSum, LuKinetics, lu177_kinetics
from sstrkit.phantom.parameters import parameters
from sstrkit.physics.nuclides import get_nuclide

__all__ = [
    "J_PER_MEV",
    "CycleTruth",
    "Therapy",
    "photon_absorbed_fraction",
    "region_dose_gy",
    "simulate_therapy",
]

H = SECONDS_PER_HOUR

#: Regions reported in the truth (composites and organs), besides every lesion.
TRUTH_REGIONS = (
    "liver",
    "spleen",
    "kidney_left",
    "kidney_right",
    "kidneys",
    "pancreas",
    "adrenals",
    "blood_pool",
    "spongiosa",
    "bladder",
    "remainder",
)


def _photon_lines(nuclide: str = "Lu-177") -> list[tuple[float, float]]:
    nuc = get_nuclide(nuclide)
    lines: list[tuple[float, float]] = []
    for kind in ("gamma", "X"):
        lines += [(float(e), float(y)) for e, y in nuc.emissions.get(kind, ())]
    return lines


def _mu_en_cm2_g(energy_mev: float) -> float:
    table = parameters()["mu_en_water"]
    e = np.asarray(table["energy_mev"], dtype=float)
    mu = np.asarray(table["mu_en_cm2_g"], dtype=float)
    if energy_mev < e[0]:
        return float(mu[0])  # below 10 keV: absorbed locally anyway (φ → 1)
    return float(np.exp(np.interp(np.log(energy_mev), np.log(e), np.log(mu))))


def photon_absorbed_fraction(mass_g: float, density_g_ml: float, nuclide: str = "Lu-177") -> float:
    """Energy-weighted photon self-absorbed fraction of a sphere of ``mass_g``.

    φ = Σ yᵢEᵢ·(1 − exp(−μᵢ·4r/3)) / Σ yᵢEᵢ over the ICRP 107 γ and X-ray lines.
    """
    if mass_g <= 0 or density_g_ml <= 0:
        raise InvalidInputError("mass and density", expected="> 0", actual=(mass_g, density_g_ml))
    r_cm = (3.0 * mass_g / density_g_ml / (4.0 * math.pi)) ** (1 / 3)
    chord = 4.0 * r_cm / 3.0
    num = den = 0.0
    for e, y in _photon_lines(nuclide):
        num += y * e * (1.0 - math.exp(-_mu_en_cm2_g(e) * density_g_ml * chord))
        den += y * e
    return num / den if den > 0 else 0.0


def region_dose_gy(
    tia_bq_s: float, mass_g: float, density_g_ml: float, *, photons: bool = True
) -> dict[str, float]:
    """Electron, photon and total absorbed dose (Gy) of a region from its TIA."""
    lu = get_nuclide("Lu-177")
    m_kg = mass_g / G_PER_KG
    d_e = tia_bq_s * lu.delta_electrons_mev * J_PER_MEV / m_kg
    d_g = 0.0
    if photons:
        phi = photon_absorbed_fraction(mass_g, density_g_ml)
        d_g = tia_bq_s * lu.delta_photons_mev * phi * J_PER_MEV / m_kg
    return {"electron_gy": d_e, "photon_gy": d_g, "total_gy": d_e + d_g}


@dataclass(frozen=True)
class CycleTruth:
    """Truth of one therapy cycle."""

    index: int
    injection_time: _dt.datetime
    activity_bq: float
    anatomy: Anatomy
    kinetics: LuKinetics
    lesion_volume_factors: Mapping[str, float]
    mass_g: Mapping[str, float]
    tia_bq_s: Mapping[str, float]
    dose: Mapping[str, Mapping[str, float]]

    def activity_bq_at(self, region: str, t: _dt.datetime) -> float:
        """True activity (Bq) of a region at time ``t``."""
        dt = (t - self.injection_time).total_seconds()
        if region == "red_marrow":
            tac = self._marrow_tac()
        elif region == "whole_body":
            tac = self.kinetics.whole_body
        elif region == "blood":
            tac = self.kinetics.blood_total
        else:
            tac = self.kinetics.region(region)
        return float(tac.value(dt)) * self.activity_bq

    def _marrow_tac(self) -> ExpSum:
        rmblr = float(parameters()["lu177_blood"]["rmblr"])
        return self.kinetics.blood_concentration_per_ml.scaled(rmblr * self.mass_g["red_marrow"])

    def to_dict(self, times: Sequence[_dt.datetime] = ()) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cycle": self.index,
            "injection_time": self.injection_time.isoformat(),
            "administered_activity_bq": self.activity_bq,
            "lesion_volume_factors": dict(self.lesion_volume_factors),
            "regions": {
                r: {
                    "mass_g": self.mass_g[r],
                    "tia_bq_s": self.tia_bq_s[r],
                    "tia_mbq_h": self.tia_bq_s[r] / BQ_PER_MBQ / H,
                    **self.dose.get(r, {}),
                }
                for r in self.tia_bq_s
            },
            "tac": {r: self.kinetics.region(r).to_dict() for r in self.kinetics.regions},
            "blood_concentration_per_ml": self.kinetics.blood_concentration_per_ml.to_dict(),
        }
        if times:
            out["activity_bq_at_scans"] = [
                {
                    "time": t.isoformat(),
                    "hours_post_injection": (t - self.injection_time).total_seconds() / H,
                    "regions": {r: self.activity_bq_at(r, t) for r in self.tia_bq_s},
                }
                for t in times
            ]
        return out


@dataclass(frozen=True)
class Therapy:
    """Administration schedule: ``n`` cycles of ``activity_bq`` every ``interval_days``."""

    cycles: int = 4
    activity_bq: float = 7.4e9
    interval_days: float = 56.0
    first_injection: _dt.datetime = _dt.datetime(
        2025, 3, 3, 10, 0, tzinfo=_dt.timezone(_dt.timedelta(hours=1))
    )

    def __post_init__(self) -> None:
        if not 1 <= self.cycles <= 8:
            raise InvalidInputError("cycles", expected="1-8", actual=self.cycles)
        if not 1e8 <= self.activity_bq <= 2e10:
            raise InvalidInputError(
                "activity per cycle", expected="0.1-20 GBq", actual=self.activity_bq
            )

    def injection_times(self) -> list[_dt.datetime]:
        return [
            self.first_injection + _dt.timedelta(days=self.interval_days * k)
            for k in range(self.cycles)
        ]


def _cycle_truth(
    index: int,
    time: _dt.datetime,
    activity_bq: float,
    anatomy: Anatomy,
    biology: Biology,
    factors: Mapping[str, float],
) -> CycleTruth:
    kin = lu177_kinetics(anatomy, biology, cycle=index)
    counts = anatomy.counts()
    model: AnatomyModel = anatomy.model
    mass: dict[str, float] = {}
    tia: dict[str, float] = {}
    dose: dict[str, dict[str, float]] = {}
    remainder_labels = ("body", "lungs", "cortical_bone")
    for r in TRUTH_REGIONS:
        if r == "remainder":
            m = sum(anatomy.mass_g(n, counts) for n in remainder_labels)
            rho = float(parameters()["density_g_ml"]["body"])
        else:
            m = anatomy.mass_g(r, counts)
            rho = anatomy.density(r)
        mass[r] = m
        tia[r] = kin.region(r).integral() * activity_bq
        dose[r] = region_dose_gy(tia[r], m, rho)
    for les in model.lesions:
        m = anatomy.mass_g(les.id, counts)
        mass[les.id] = m
        tia[les.id] = kin.region(les.id).integral() * activity_bq
        dose[les.id] = region_dose_gy(tia[les.id], m, anatomy.density(les.id))
    # Red marrow (whole skeleton) by the blood-based method; whole body.
    ref_rm = float(
        parameters()["reference_masses_g"]["red_marrow"][
            "male" if model.patient.sex == "M" else "female"
        ]
    )
    m_rm = ref_rm * model.patient.bsa_ratio
    rmblr = float(parameters()["lu177_blood"]["rmblr"])
    mass["red_marrow"] = m_rm
    tia["red_marrow"] = kin.blood_concentration_per_ml.integral() * rmblr * m_rm * activity_bq
    dose["red_marrow"] = region_dose_gy(tia["red_marrow"], m_rm, 1.0, photons=False)
    w = float(model.patient.weight_kg or 0.0) * G_PER_KG
    mass["whole_body"] = w
    tia["whole_body"] = kin.whole_body.integral() * activity_bq
    dose["whole_body"] = region_dose_gy(tia["whole_body"], w, 1.0)
    tia["blood"] = kin.blood_total.integral() * activity_bq
    mass["blood"] = biology.blood_volume_ml * float(parameters()["density_g_ml"]["blood"])
    return CycleTruth(
        index=index,
        injection_time=time,
        activity_bq=activity_bq,
        anatomy=anatomy,
        kinetics=kin,
        lesion_volume_factors=dict(factors),
        mass_g=mass,
        tia_bq_s=tia,
        dose=dose,
    )


def simulate_therapy(model: AnatomyModel, biology: Biology, therapy: Therapy) -> list[CycleTruth]:
    """Run the cycles: kinetics, TIA and dose per cycle, tumour response in between."""
    resp = parameters()["response"]
    alpha = biology.alpha_v_per_gy
    floor = float(resp["min_volume_factor"])
    factors = {les.id: 1.0 for les in model.lesions}
    out: list[CycleTruth] = []
    for k, t in enumerate(therapy.injection_times()):
        anatomy = model.voxelise(factors)
        cyc = _cycle_truth(k + 1, t, therapy.activity_bq, anatomy, biology, factors)
        out.append(cyc)
        factors = {
            les.id: factors[les.id] * max(math.exp(-alpha * cyc.dose[les.id]["total_gy"]), floor)
            for les in model.lesions
        }
    return out


def composite_members(region: str) -> tuple[str, ...]:
    """Label names of a composite region (or the region itself)."""
    return COMPOSITES.get(region, (region,))
