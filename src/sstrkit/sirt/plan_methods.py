"""The 90Y activity methods: partition model, resin BSA method, single compartment (MIRD).

Each is a pure function of numbers in internal units (Bq, g, Gy; fractions) returning a
frozen result with the assumptions it rests on and a provenance step.
E is the energy per unit activity of :mod:`sstrkit.sirt.physics`
(``energy_j_per_gbq``, default the ICRP-107 value), A the activity, L the lung shunt
fraction, r the tumour-to-normal-liver ratio of activity concentration.

**Partition model** (Ho S et al., Eur J Nucl Med 1996;23:947-952). Three compartments,
lungs (mass M_L), tumour (M_T) and normal liver (M_N), each uniformly loaded. A
fraction L of the activity goes to the lungs; the liver's share A(1 − L) divides
between tumour and normal liver in the ratio r·M_T : M_N (concentrations in the
ratio r). Hence

    D_N = E · A (1 − L) / (r M_T + M_N),   D_T = r · D_N,   D_L = E · A · L / M_L

and the activity giving a prescribed normal-liver dose D_N* is
A_N = D_N* (r M_T + M_N) / (E (1 − L)); a prescribed tumour dose D_T* gives
A_T = D_T* (r M_T + M_N) / (r E (1 − L)); the lung limits give
A_L = min(D_L,treatment, D_L,cumulative − D_L,prior) · M_L / (E L).
:func:`partition_model` returns the smallest of those that apply (the prescription
never overrides a limit) and names the one that bound.

**Resin BSA method** (SIR-Spheres instructions for use; Kennedy A et al., Int J Radiat
Oncol Biol Phys 2007;68:13-23): A[GBq] = (BSA[m²] − 0.2 + V_T/(V_T + V_N)) × the
lung-shunt factor (:func:`~sstrkit.sirt.plan_limits.resin_lsf_reduction`: 1, 0.8, 0.6,
no SIRT above 20 %) × the perfused fraction of the liver (lobar treatment). It is a
semi-empirical activity, not a dose: it ignores the liver mass and T/N (Kao YH et al.,
Ann Nucl Med 2011;25:455-461; Lam MGEH et al., J Vasc Interv Radiol 2014;25:1085).

**Single compartment (MIRD)**: the perfused liver (tumour included) as one uniformly
loaded mass M: A = D* · M / (E (1 − L)) (glass-microsphere instructions for use:
D = 50 A (1 − L)/M with 80-150 Gy; Dezarn WA et al., AAPM TG-144, Med Phys 2011;38:4824).
It ignores the tumour/normal-liver partition: the normal liver gets less and the
tumour more than D* whenever r > 1.

Examples
--------
>>> p = partition_model(lung_shunt_fraction=0.05, tumour_to_normal=4.0, tumour_mass_g=200.0,
...                     normal_liver_mass_g=1500.0, lung_mass_g=1000.0,
...                     normal_liver_dose_gy=40.0)
>>> round(p.activity_bq / 1e9, 4), p.limiting, round(p.doses.tumour_gy, 1)
(1.9462, 'normal_liver_prescription', 160.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from sstrkit.core.provenance import Step
from sstrkit.core.units import BQ_PER_GBQ, G_PER_KG
from sstrkit.errors import InvalidInputError
from sstrkit.sirt.physics import ENERGY_SOURCES, Y90_ENERGY_J_PER_GBQ
from sstrkit.sirt.plan_limits import (
    LUNG_CUMULATIVE_GY,
    LUNG_PER_TREATMENT_GY,
    SOURCES,
    resin_lsf_reduction,
)

__all__ = [
    "BSA_OFFSET_M2",
    "HO_1996",
    "PARTITION_ASSUMPTIONS",
    "BsaResult",
    "CompartmentDoses",
    "PartitionLimiting",
    "PartitionResult",
    "SingleCompartmentResult",
    "bsa_method",
    "lung_limited_activity_bq",
    "partition_doses",
    "partition_model",
    "single_compartment",
]

HO_1996 = (
    "Ho S, Lau WY, Leung TWT et al. Partition model for estimating radiation doses from "
    "yttrium-90 microspheres in treating hepatic tumours. Eur J Nucl Med 1996;23:947-952"
)
#: The "− 0.2" of the resin BSA formula (m², SIR-Spheres instructions for use).
BSA_OFFSET_M2: Final = 0.2

PARTITION_ASSUMPTIONS: Final = (
    "microspheres are distributed as the 99mTc-MAA (same lung shunt fraction and "
    "tumour-to-normal-liver ratio)",
    "each compartment (tumour, normal liver, lungs) is uniformly loaded: mean doses only",
    "permanent implant, physical decay only; all beta energy absorbed locally "
    "(E = energy per GBq over complete decay)",
    "no activity outside liver and lungs (no gastrointestinal or other extrahepatic deposition)",
)
SINGLE_COMPARTMENT_ASSUMPTIONS: Final = (
    "the perfused liver, tumour included, is one uniformly loaded mass (no tumour / "
    "normal-liver partition)",
    "permanent implant, physical decay only; all beta energy absorbed locally",
    "a fraction LSF of the activity lodges in the lungs, the rest in the perfused liver",
)
BSA_ASSUMPTIONS: Final = (
    "semi-empirical activity from body surface area and tumour involvement; not a dose "
    "prescription: liver mass and tumour-to-normal ratio are ignored",
    "lung shunt handled by the manufacturer's activity reductions (no lung dose computed "
    "by the method itself)",
    "lobar or segmental treatment scaled by the perfused fraction of the liver volume",
)

PartitionLimiting = Literal[
    "normal_liver_prescription",
    "tumour_prescription",
    "lung_per_treatment",
    "lung_cumulative",
]


def _fraction(name: str, v: float) -> float:
    x = float(v)
    if not (math.isfinite(x) and 0.0 <= x < 1.0):
        raise InvalidInputError(name, expected="a fraction in [0, 1)", actual=v)
    return x


def _positive(name: str, v: float, *, zero: bool = False) -> float:
    x = float(v)
    ok = x >= 0.0 if zero else x > 0.0
    if not (math.isfinite(x) and ok):
        raise InvalidInputError(
            name, expected="a finite value " + (">= 0" if zero else "> 0"), actual=v
        )
    return x


def _e(energy_j_per_gbq: float | None) -> float:
    return _positive(
        "energy per activity (J/GBq)",
        Y90_ENERGY_J_PER_GBQ if energy_j_per_gbq is None else energy_j_per_gbq,
    )


@dataclass(frozen=True)
class CompartmentDoses:
    """Predicted mean absorbed doses (Gy) of the partition model at one activity.

    ``normal_liver_gy`` and ``tumour_gy`` are None when they cannot be predicted (T/N or
    masses unknown; ``tumour_gy`` also without tumour), ``lung_gy`` without a lung mass;
    ``perfused_liver_gy`` is the single-compartment dose of the whole perfused liver.
    """

    normal_liver_gy: float | None
    tumour_gy: float | None
    lung_gy: float | None
    perfused_liver_gy: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "normal_liver_gy": self.normal_liver_gy,
            "tumour_gy": self.tumour_gy,
            "lung_gy": self.lung_gy,
            "perfused_liver_gy": self.perfused_liver_gy,
        }


def partition_doses(
    activity_bq: float,
    *,
    lung_shunt_fraction: float,
    tumour_to_normal: float,
    tumour_mass_g: float,
    normal_liver_mass_g: float,
    lung_mass_g: float | None,
    energy_j_per_gbq: float | None = None,
) -> CompartmentDoses:
    """Mean doses of the partition model for ``activity_bq`` (formulas: module docstring)."""
    a_gbq = _positive("activity (Bq)", activity_bq, zero=True) / BQ_PER_GBQ
    lsf = _fraction("lung shunt fraction", lung_shunt_fraction)
    r = _positive("tumour-to-normal ratio", tumour_to_normal)
    m_t = _positive("tumour mass (g)", tumour_mass_g, zero=True) / G_PER_KG
    m_n = _positive("normal liver mass (g)", normal_liver_mass_g) / G_PER_KG
    e = _e(energy_j_per_gbq)
    d_n = e * a_gbq * (1.0 - lsf) / (r * m_t + m_n)
    d_l = None
    if lung_mass_g is not None:
        d_l = e * a_gbq * lsf / (_positive("lung mass (g)", lung_mass_g) / G_PER_KG)
    perfused = e * a_gbq * (1.0 - lsf) / (m_t + m_n)
    return CompartmentDoses(d_n, r * d_n if m_t > 0 else None, d_l, perfused)


@dataclass(frozen=True)
class PartitionResult:
    """Partition-model activity (Bq), the candidate activities, the bound and the doses."""

    activity_bq: float
    limiting: PartitionLimiting
    activity_normal_liver_bq: float
    activity_tumour_bq: float | None
    activity_lung_limit_bq: float
    doses: CompartmentDoses
    lung_shunt_fraction: float
    tumour_to_normal: float
    tumour_mass_g: float
    normal_liver_mass_g: float
    lung_mass_g: float
    normal_liver_dose_gy: float
    tumour_dose_gy: float | None
    prior_lung_dose_gy: float
    energy_j_per_gbq: float
    assumptions: tuple[str, ...] = PARTITION_ASSUMPTIONS
    provenance: Step = field(default_factory=lambda: Step.make("partition_model"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "partition",
            "activity_bq": self.activity_bq,
            "limiting": self.limiting,
            "activity_normal_liver_bq": self.activity_normal_liver_bq,
            "activity_tumour_bq": self.activity_tumour_bq,
            "activity_lung_limit_bq": _finite_or_none(self.activity_lung_limit_bq),
            "doses": self.doses.to_dict(),
            "lung_shunt_fraction": self.lung_shunt_fraction,
            "tumour_to_normal": self.tumour_to_normal,
            "tumour_mass_g": self.tumour_mass_g,
            "normal_liver_mass_g": self.normal_liver_mass_g,
            "lung_mass_g": self.lung_mass_g,
            "normal_liver_dose_gy": self.normal_liver_dose_gy,
            "tumour_dose_gy": self.tumour_dose_gy,
            "prior_lung_dose_gy": self.prior_lung_dose_gy,
            "energy_j_per_gbq": self.energy_j_per_gbq,
            "assumptions": list(self.assumptions),
            "provenance": self.provenance.to_dict(),
        }


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def lung_limited_activity_bq(
    *,
    lung_shunt_fraction: float,
    lung_mass_g: float,
    prior_lung_dose_gy: float = 0.0,
    lung_per_treatment_gy: float = LUNG_PER_TREATMENT_GY,
    lung_cumulative_gy: float = LUNG_CUMULATIVE_GY,
    energy_j_per_gbq: float | None = None,
) -> tuple[float, Literal["lung_per_treatment", "lung_cumulative"]]:
    """The largest activity (Bq) within both lung limits, and which one binds (inf if L = 0)."""
    lsf = _fraction("lung shunt fraction", lung_shunt_fraction)
    m_l = _positive("lung mass (g)", lung_mass_g) / G_PER_KG
    prior = _positive("prior lung dose (Gy)", prior_lung_dose_gy, zero=True)
    left = lung_cumulative_gy - prior
    if left <= 0.0:
        return 0.0, "lung_cumulative"
    allowed = min(lung_per_treatment_gy, left)
    which: Literal["lung_per_treatment", "lung_cumulative"] = (
        "lung_per_treatment" if lung_per_treatment_gy <= left else "lung_cumulative"
    )
    if lsf == 0.0:
        return math.inf, which
    return allowed * m_l / (_e(energy_j_per_gbq) * lsf) * BQ_PER_GBQ, which


def partition_model(
    *,
    lung_shunt_fraction: float,
    tumour_to_normal: float,
    tumour_mass_g: float,
    normal_liver_mass_g: float,
    lung_mass_g: float,
    normal_liver_dose_gy: float,
    tumour_dose_gy: float | None = None,
    prior_lung_dose_gy: float = 0.0,
    lung_per_treatment_gy: float = LUNG_PER_TREATMENT_GY,
    lung_cumulative_gy: float = LUNG_CUMULATIVE_GY,
    energy_j_per_gbq: float | None = None,
) -> PartitionResult:
    """Partition-model activity (Ho et al. 1996; module docstring).

    ``normal_liver_dose_gy`` is the prescribed normal-liver mean dose — or, with a
    ``tumour_dose_gy`` prescription, the normal-liver cap. The activity is the smallest
    of: the normal-liver activity, the tumour activity (when prescribed) and the
    lung-limited activity (30 Gy per treatment, 50 Gy minus ``prior_lung_dose_gy``
    cumulative).
    """
    lsf = _fraction("lung shunt fraction", lung_shunt_fraction)
    r = _positive("tumour-to-normal ratio", tumour_to_normal)
    m_t = _positive("tumour mass (g)", tumour_mass_g, zero=True)
    m_n = _positive("normal liver mass (g)", normal_liver_mass_g)
    m_l = _positive("lung mass (g)", lung_mass_g)
    d_n = _positive("normal-liver dose (Gy)", normal_liver_dose_gy)
    e = _e(energy_j_per_gbq)
    denominator = e * (1.0 - lsf)
    weighted_kg = (r * m_t + m_n) / G_PER_KG
    a_n = d_n * weighted_kg / denominator * BQ_PER_GBQ
    a_t = None
    if tumour_dose_gy is not None:
        if m_t <= 0:
            raise InvalidInputError(
                "tumour dose prescription", expected="a tumour mass > 0 g", actual=m_t
            )
        d_t = _positive("tumour dose (Gy)", tumour_dose_gy)
        a_t = d_t * weighted_kg / (r * denominator) * BQ_PER_GBQ
    a_l, lung_kind = lung_limited_activity_bq(
        lung_shunt_fraction=lsf,
        lung_mass_g=m_l,
        prior_lung_dose_gy=prior_lung_dose_gy,
        lung_per_treatment_gy=lung_per_treatment_gy,
        lung_cumulative_gy=lung_cumulative_gy,
        energy_j_per_gbq=e,
    )
    candidates: list[tuple[float, PartitionLimiting]] = [(a_n, "normal_liver_prescription")]
    if a_t is not None:
        candidates = [(a_t, "tumour_prescription"), (a_n, "normal_liver_prescription")]
    candidates.append((a_l, lung_kind))
    activity, limiting = min(candidates, key=lambda c: c[0])
    doses = partition_doses(
        activity,
        lung_shunt_fraction=lsf,
        tumour_to_normal=r,
        tumour_mass_g=m_t,
        normal_liver_mass_g=m_n,
        lung_mass_g=m_l,
        energy_j_per_gbq=e,
    )
    params = {
        "lung_shunt_fraction": lsf,
        "tumour_to_normal": r,
        "tumour_mass_g": m_t,
        "normal_liver_mass_g": m_n,
        "lung_mass_g": m_l,
        "normal_liver_dose_gy": d_n,
        "tumour_dose_gy": tumour_dose_gy,
        "prior_lung_dose_gy": prior_lung_dose_gy,
        "lung_per_treatment_gy": lung_per_treatment_gy,
        "lung_cumulative_gy": lung_cumulative_gy,
        "energy_j_per_gbq": e,
        "limiting": limiting,
    }
    return PartitionResult(
        activity_bq=activity,
        limiting=limiting,
        activity_normal_liver_bq=a_n,
        activity_tumour_bq=a_t,
        activity_lung_limit_bq=a_l,
        doses=doses,
        lung_shunt_fraction=lsf,
        tumour_to_normal=r,
        tumour_mass_g=m_t,
        normal_liver_mass_g=m_n,
        lung_mass_g=m_l,
        normal_liver_dose_gy=d_n,
        tumour_dose_gy=tumour_dose_gy,
        prior_lung_dose_gy=float(prior_lung_dose_gy),
        energy_j_per_gbq=e,
        provenance=Step.make(
            "sirt_partition_model", params, sources=(HO_1996, SOURCES["lung"], *ENERGY_SOURCES)
        ),
    )


@dataclass(frozen=True)
class BsaResult:
    """Resin BSA-method activity; ``treatable`` False (activity 0) above a 20 % shunt."""

    activity_bq: float
    treatable: bool
    bsa_m2: float
    tumour_involvement: float
    lsf_factor: float | None
    lung_shunt_fraction: float
    perfused_fraction: float
    whole_liver_activity_bq: float
    assumptions: tuple[str, ...] = BSA_ASSUMPTIONS
    provenance: Step = field(default_factory=lambda: Step.make("bsa_method"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "bsa",
            "activity_bq": self.activity_bq,
            "treatable": self.treatable,
            "bsa_m2": self.bsa_m2,
            "tumour_involvement": self.tumour_involvement,
            "lsf_factor": self.lsf_factor,
            "lung_shunt_fraction": self.lung_shunt_fraction,
            "perfused_fraction": self.perfused_fraction,
            "whole_liver_activity_bq": self.whole_liver_activity_bq,
            "assumptions": list(self.assumptions),
            "provenance": self.provenance.to_dict(),
        }


def bsa_method(
    *,
    bsa_m2: float,
    tumour_volume_ml: float,
    liver_volume_ml: float,
    lung_shunt_fraction: float,
    perfused_fraction: float = 1.0,
) -> BsaResult:
    """Resin BSA method (module docstring). ``liver_volume_ml`` is the whole liver,
    tumour included; ``perfused_fraction`` the treated share of it (1 = whole liver)."""
    bsa = _positive("body surface area (m²)", bsa_m2)
    v_t = _positive("tumour volume (mL)", tumour_volume_ml, zero=True)
    v_l = _positive("liver volume (mL)", liver_volume_ml)
    if v_t > v_l:
        raise InvalidInputError(
            "tumour volume",
            expected=f"<= the liver volume ({v_l:g} mL)",
            actual=f"{v_t:g} mL",
            fix="give the whole liver volume, tumour included",
        )
    pf = float(perfused_fraction)
    if not (math.isfinite(pf) and 0.0 < pf <= 1.0):
        raise InvalidInputError("perfused fraction", expected="a fraction in (0, 1]", actual=pf)
    lsf = _fraction("lung shunt fraction", lung_shunt_fraction)
    involvement = v_t / v_l
    whole_gbq = bsa - BSA_OFFSET_M2 + involvement
    if whole_gbq <= 0:
        raise InvalidInputError(
            "body surface area", expected="> 0.2 m² (BSA method)", actual=f"{bsa:g} m²"
        )
    factor = resin_lsf_reduction(lsf)
    activity = 0.0 if factor is None else whole_gbq * factor * pf * BQ_PER_GBQ
    params = {
        "bsa_m2": bsa,
        "tumour_volume_ml": v_t,
        "liver_volume_ml": v_l,
        "tumour_involvement": involvement,
        "lung_shunt_fraction": lsf,
        "lsf_factor": factor,
        "perfused_fraction": pf,
    }
    return BsaResult(
        activity_bq=activity,
        treatable=factor is not None,
        bsa_m2=bsa,
        tumour_involvement=involvement,
        lsf_factor=factor,
        lung_shunt_fraction=lsf,
        perfused_fraction=pf,
        whole_liver_activity_bq=whole_gbq * BQ_PER_GBQ,
        provenance=Step.make("sirt_bsa_method", params, sources=(SOURCES["resin_bsa"],)),
    )


@dataclass(frozen=True)
class SingleCompartmentResult:
    """Single-compartment (MIRD) activity for a perfused-liver target dose."""

    activity_bq: float
    target_dose_gy: float
    perfused_mass_g: float
    lung_shunt_fraction: float
    energy_j_per_gbq: float
    assumptions: tuple[str, ...] = SINGLE_COMPARTMENT_ASSUMPTIONS
    provenance: Step = field(default_factory=lambda: Step.make("single_compartment"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "single_compartment",
            "activity_bq": self.activity_bq,
            "target_dose_gy": self.target_dose_gy,
            "perfused_mass_g": self.perfused_mass_g,
            "lung_shunt_fraction": self.lung_shunt_fraction,
            "energy_j_per_gbq": self.energy_j_per_gbq,
            "assumptions": list(self.assumptions),
            "provenance": self.provenance.to_dict(),
        }


def single_compartment(
    *,
    target_dose_gy: float,
    perfused_mass_g: float,
    lung_shunt_fraction: float,
    energy_j_per_gbq: float | None = None,
) -> SingleCompartmentResult:
    """A = D* · M / (E (1 − LSF)) for the perfused liver mass M (tumour included)."""
    d = _positive("perfused-liver target dose (Gy)", target_dose_gy)
    m = _positive("perfused liver mass (g)", perfused_mass_g)
    lsf = _fraction("lung shunt fraction", lung_shunt_fraction)
    e = _e(energy_j_per_gbq)
    activity = d * (m / G_PER_KG) / (e * (1.0 - lsf)) * BQ_PER_GBQ
    params = {
        "target_dose_gy": d,
        "perfused_mass_g": m,
        "lung_shunt_fraction": lsf,
        "energy_j_per_gbq": e,
    }
    return SingleCompartmentResult(
        activity_bq=activity,
        target_dose_gy=d,
        perfused_mass_g=m,
        lung_shunt_fraction=lsf,
        energy_j_per_gbq=e,
        provenance=Step.make(
            "sirt_single_compartment",
            params,
            sources=(SOURCES["glass_perfused"], *ENERGY_SOURCES),
        ),
    )
