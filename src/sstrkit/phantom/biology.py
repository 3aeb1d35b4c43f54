"""Receptor biology and radiopharmaceutical kinetics of the digital patient.

* :func:`draw_biology` draws, from the seed, the 68Ga-DOTATATE SUV of every
  region (published order spleen > kidneys > adrenals > liver, uncinate
  process above the rest of the pancreas, background < 2), the lesion SUVs by
  site, the 18F-FDG SUVs, and the 177Lu-DOTATATE kinetic parameters.
* Every time-activity curve is an :class:`ExpSum`, a sum of exponentials in
  fractions of the administered activity *including physical decay*, so that
  values and time integrals are analytic.

177Lu-DOTATATE model (per cycle, A0 administered at t = 0)
----------------------------------------------------------
``organ``   f·(e^(−λe t) − e^(−(λe+λu) t)), λe = ln2/T_eff, λu = ln2/T_uptake
``SSTR``    small organs and tumours: f = κ·SUV_DOTATATE·mass/W (uptake per gram
            proportional to the receptor density seen by PET)
``blood``   (b1 e^(−ln2 t/T1) + b2 e^(−ln2 t/T2))·e^(−λp t) in the whole blood volume;
            red marrow concentration = RMBLR × blood concentration
``body``    biological whole-body retention R(t) = Σ r_i e^(−ln2 t/T_i);
            urine enters the bladder at −dR/dt and is voided first-order
``remainder`` R(t)·e^(−λp t) minus every other region still in the body
            (checked to stay ≥ 0)

Examples
--------
>>> tac = ExpSum((1.0,), (math.log(2) / 3600.0,))
>>> round(tac.value(3600.0), 6), round(tac.integral() / 3600.0, 4)
(0.5, 1.4427)
>>> round(tac.integral(0.0, 3600.0) / 3600.0, 4)
0.7213
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sstrkit.core.units import G_PER_KG, SECONDS_PER_HOUR
from sstrkit.errors import InvalidInputError
from sstrkit.phantom.anatomy import COMPOSITES, LABELS, TISSUE, Anatomy
from sstrkit.phantom.parameters import parameters
from sstrkit.physics.nuclides import get_nuclide

__all__ = ["Biology", "ExpSum", "LuKinetics", "draw_biology", "lu177_kinetics"]

H = SECONDS_PER_HOUR
LN2 = math.log(2)


@dataclass(frozen=True)
class ExpSum:
    """f(t) = Σ cᵢ·exp(−μᵢ t), t in s, μᵢ in s⁻¹ (> 0)."""

    coefficients: tuple[float, ...]
    rates_per_s: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.coefficients) != len(self.rates_per_s):
            raise InvalidInputError("ExpSum", expected="as many coefficients as rates")
        if any(r <= 0 for r in self.rates_per_s):
            raise InvalidInputError("ExpSum rates", expected="> 0 s^-1", actual=self.rates_per_s)

    def value(self, t_s: ArrayLike) -> NDArray[np.float64] | float:
        t = np.asarray(t_s, dtype=float)
        out = sum(
            (c * np.exp(-m * t) for c, m in zip(self.coefficients, self.rates_per_s, strict=True)),
            start=np.zeros_like(t),
        )
        return float(out) if out.ndim == 0 else out

    def integral(self, t0_s: float = 0.0, t1_s: float = math.inf) -> float:
        """Analytic ∫ f dt from ``t0_s`` to ``t1_s`` (s)."""
        total = 0.0
        for c, m in zip(self.coefficients, self.rates_per_s, strict=True):
            tail = 0.0 if math.isinf(t1_s) else math.exp(-m * t1_s)
            total += c / m * (math.exp(-m * t0_s) - tail)
        return total

    def scaled(self, factor: float) -> ExpSum:
        return ExpSum(tuple(c * factor for c in self.coefficients), self.rates_per_s)

    def __add__(self, other: ExpSum) -> ExpSum:
        return ExpSum(self.coefficients + other.coefficients, self.rates_per_s + other.rates_per_s)

    def __sub__(self, other: ExpSum) -> ExpSum:
        return self + other.scaled(-1.0)

    def to_dict(self) -> dict[str, list[float]]:
        return {
            "coefficients": list(self.coefficients),
            "rates_per_h": [r * H for r in self.rates_per_s],
        }


def _uptake_clearance(f: float, t_uptake_h: float, t_eff_h: float) -> ExpSum:
    le = LN2 / (t_eff_h * H)
    lu = LN2 / (t_uptake_h * H)
    return ExpSum((f, -f), (le, le + lu))


@dataclass(frozen=True)
class Biology:
    """Tracer uptake and kinetic parameters of one patient (drawn from the seed)."""

    suv_dotatate: Mapping[str, float]  # per label name and lesion id
    suv_fdg: Mapping[str, float]
    lesion_flags: Mapping[str, Mapping[str, bool]]
    organ_kinetics: Mapping[str, tuple[float, float, float]]  # name -> f_ref, T_up h, T_eff h
    lesion_t_eff_h: Mapping[str, float]
    sstr_organ_t_eff_h: float
    kappa: float
    blood: tuple[float, float, float, float]  # b1, T1 h, b2, T2 h
    blood_volume_ml: float
    whole_body: tuple[tuple[float, ...], tuple[float, ...]]
    voiding_half_time_h: float
    tumour_grade: int = 1  # WHO grade of the NET (1 or 2)
    tumour_uptake_decline_per_cycle: float = 0.0  # relative fall of tumour uptake per cycle
    alpha_v_per_gy: float = 0.008  # tumour volume response coefficient (per Gy)

    def tumour_uptake_factor(self, cycle: int) -> float:
        """Tumour uptake per gram at ``cycle`` relative to cycle 1: (1 - decline)^(cycle - 1)."""
        if cycle < 1:
            raise InvalidInputError(
                "cycle", expected="an integer >= 1", actual=cycle, fix="cycles count from 1"
            )
        return float((1.0 - self.tumour_uptake_decline_per_cycle) ** (cycle - 1))

    def suv(self, region: str, tracer: str) -> float:
        """SUV of a label name or lesion id for ``Ga-68 DOTATATE``/``DOTATOC``/``FDG``."""
        if tracer.upper().endswith("FDG"):
            return float(self.suv_fdg[region])
        tate = float(self.suv_dotatate[region])
        if "TOC" not in tracer.upper():
            return tate
        ratio = parameters()["dotatoc_ratio"]
        if region in self.lesion_flags:
            r = float(ratio["lesion"])
        elif TISSUE.get(region) == "kidney":
            r = float(ratio["kidney"])
        else:
            r = float(ratio["other"])
        background = float(parameters()["suv_dotatate"]["body"])
        return tate + (r - 1.0) * max(tate - background, 0.0)


def draw_biology(anatomy: Anatomy, seed: int) -> Biology:
    """Draw SUVs and kinetic parameters for the patient (deterministic per seed)."""
    p = parameters()
    rng = np.random.default_rng([seed, 4])
    var = p["variability"]
    s_suv = float(var["suv_sigma"])
    s_kin = float(var["kinetics_sigma"])

    def ln(sigma: float) -> float:
        return float(math.exp(np.clip(rng.normal(), -1.5, 1.5) * sigma))

    sstr_family = ln(s_suv)  # one receptor level per patient keeps the organ order
    tate: dict[str, float] = {}
    fdg: dict[str, float] = {}
    base = p["suv_dotatate"]
    base_fdg = p["suv_fdg"]
    keys = {
        "kidney_left_cortex": "kidney_cortex",
        "kidney_right_cortex": "kidney_cortex",
        "kidney_left_medulla": "kidney_medulla",
        "kidney_right_medulla": "kidney_medulla",
        "adrenal_left": "adrenal",
        "adrenal_right": "adrenal",
        "heart_blood": "blood",
        "aorta": "blood",
        "bladder": "urine",
    }
    organ_factor = {k: float(math.exp(np.clip(rng.normal(), -2, 2) * 0.03)) for k in base}
    for name in LABELS:
        key = keys.get(name, name)
        specific = key in ("spleen", "kidney_cortex", "kidney_medulla", "adrenal", "liver")
        specific = specific or key.startswith("pancreas")
        tate[name] = float(base[key]) * organ_factor[key] * (sstr_family if specific else 1.0)
        fdg[name] = float(base_fdg[key]) * ln(0.08)
    flags: dict[str, dict[str, bool]] = {}
    lesion_range = p["lesion_suv_dotatate"]
    fdg_range = p["lesion_suv_fdg"]
    t_eff: dict[str, float] = {}
    lu = p["lu177_sstr"]
    for les in anatomy.model.lesions:
        if not les.sstr_positive:
            lo, hi = lesion_range["sstr_negative"]
        elif les.low_sstr:
            lo, hi = lesion_range["low_sstr"]
        else:
            lo, hi = lesion_range[les.site]
        tate[les.id] = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        lo, hi = fdg_range["fdg_positive" if les.fdg_positive else "fdg_negative"]
        fdg[les.id] = float(rng.uniform(lo, hi))
        flags[les.id] = {
            "sstr_positive": les.sstr_positive,
            "fdg_positive": les.fdg_positive,
            "low_sstr": les.low_sstr,
        }
        t_eff[les.id] = _t_eff_varied(float(lu["t_eff_h_tumour"]), ln(s_kin))
    organs = {}
    for name, q in p["lu177_organs"].items():
        if isinstance(q, dict):
            organs[name] = (
                float(q["fraction"]) * ln(s_kin),
                float(q["t_uptake_h"]),
                _t_eff_varied(float(q["t_eff_h"]), ln(s_kin)),
            )
    bl = p["lu177_blood"]
    wb = p["lu177_whole_body"]
    # Tumour grade from its own stream (the draws above stay as they were).
    per_cycle = lu["uptake_decline_per_cycle"]
    tumour_rng = np.random.default_rng([seed, 9])
    grade = 2 if tumour_rng.random() < float(lu["grade2_fraction"]) else 1
    resp = p["response"]
    z = float(np.clip(tumour_rng.normal(), -2.0, 2.0))
    alpha_v = float(resp["alpha_v_per_gy"]) * math.exp(z * float(resp["alpha_v_sigma"]))
    sexkey = "male" if anatomy.model.patient.sex == "M" else "female"
    return Biology(
        suv_dotatate=tate,
        suv_fdg=fdg,
        lesion_flags=flags,
        organ_kinetics=organs,
        lesion_t_eff_h=t_eff,
        sstr_organ_t_eff_h=float(lu["t_eff_h_organ"]),
        kappa=float(lu["kappa"]),
        blood=(float(bl["b1"]), float(bl["t1_h"]), float(bl["b2"]), float(bl["t2_h"])),
        blood_volume_ml=float(bl["blood_volume_ml"][sexkey]) * anatomy.model.patient.bsa_ratio,
        whole_body=(tuple(float(v) for v in wb["r"]), tuple(float(v) for v in wb["t_bio_h"])),
        voiding_half_time_h=float(wb["bladder_voiding_half_time_h"]),
        tumour_grade=grade,
        tumour_uptake_decline_per_cycle=float(per_cycle[f"grade{grade}"]),
        alpha_v_per_gy=alpha_v,
    )


def _t_eff_varied(t_eff_h: float, factor: float) -> float:
    """Vary the biological half-life by ``factor`` and return the new effective half-life."""
    tp = get_nuclide("Lu-177").half_life_s / H
    bio = 1.0 / (1.0 / t_eff_h - 1.0 / tp)
    return 1.0 / (1.0 / (bio * factor) + 1.0 / tp)


@dataclass(frozen=True)
class LuKinetics:
    """177Lu-DOTATATE time-activity curves (fraction of A0, decay included) of one cycle."""

    regions: Mapping[str, ExpSum]  # label-level regions, lesions, bladder, remainder
    blood_total: ExpSum  # whole blood volume
    blood_concentration_per_ml: ExpSum  # fraction of A0 per mL of blood
    whole_body: ExpSum  # activity in the body (excluding bladder urine)
    remainder_weights: Mapping[str, float]  # relative concentration over remainder labels

    def region(self, name: str) -> ExpSum:
        """TAC of a label, composite region or lesion id."""
        if name in self.regions:
            return self.regions[name]
        if name in COMPOSITES:
            parts = [self.region(n) for n in COMPOSITES[name]]
            out = parts[0]
            for q in parts[1:]:
                out = out + q
            return out
        raise InvalidInputError("region", expected=f"one of {sorted(self.regions)}", actual=name)


#: Labels sharing the remainder activity, with relative concentrations (model).
REMAINDER_WEIGHTS: dict[str, float] = {"body": 1.0, "lungs": 0.35, "cortical_bone": 0.3}


def lu177_kinetics(
    anatomy: Anatomy,
    biology: Biology,
    *,
    cycle: int = 1,
    check_until_h: float = 3000.0,
) -> LuKinetics:
    """Per-region 177Lu-DOTATATE TACs of one cycle for the anatomy as painted.

    Organ uptake fractions scale with the organ mass relative to the size-scaled
    ICRP reference (constant concentration); SSTR organs and lesions take up
    κ·SUV·mass/W, lesions in cycle ``cycle`` times
    :meth:`Biology.tumour_uptake_factor` (uptake per gram falls over the cycles,
    Roth et al. 2022; the effective half-life is kept). Raises
    :class:`InvalidInputError` if the remainder would become negative (more
    activity in the regions than in the body).
    """
    lu = get_nuclide("Lu-177")
    lp = lu.decay_constant_per_s
    model = anatomy.model
    counts = anatomy.counts()
    weight_g = float(model.patient.weight_kg or 0.0) * G_PER_KG
    regions: dict[str, ExpSum] = {}

    def physical(bio: ExpSum) -> ExpSum:
        return ExpSum(bio.coefficients, tuple(r + lp for r in bio.rates_per_s))

    # Kidneys, liver, spleen: reference fractions scaled by mass / reference mass.
    kid = biology.organ_kinetics["kidney"]
    kid_ref = model.reference_mass_g["kidney_left"] + model.reference_mass_g["kidney_right"]
    for side in ("left", "right"):
        for part in ("cortex", "medulla"):
            name = f"kidney_{side}_{part}"
            f = kid[0] * anatomy.mass_g(name, counts) / kid_ref
            regions[name] = _uptake_clearance(f, kid[1], kid[2])
    for organ in ("liver", "spleen"):
        k = biology.organ_kinetics[organ]
        f = k[0] * anatomy.mass_g(organ, counts) / model.reference_mass_g[organ]
        regions[organ] = _uptake_clearance(f, k[1], k[2])
    t_up = float(parameters()["lu177_sstr"]["t_uptake_h"])
    for name in (*COMPOSITES["pancreas"], *COMPOSITES["adrenals"]):
        f = biology.kappa * biology.suv_dotatate[name] * anatomy.mass_g(name, counts) / weight_g
        regions[name] = _uptake_clearance(f, t_up, biology.sstr_organ_t_eff_h)
    per_gram = biology.kappa * biology.tumour_uptake_factor(cycle) / weight_g
    for les in model.lesions:
        f = per_gram * biology.suv_dotatate[les.id] * anatomy.mass_g(les.id, counts)
        regions[les.id] = _uptake_clearance(f, t_up, biology.lesion_t_eff_h[les.id])
    # Blood.
    b1, t1, b2, t2 = biology.blood
    blood_bio = ExpSum((b1, b2), (LN2 / (t1 * H), LN2 / (t2 * H)))
    blood_total = physical(blood_bio)
    conc = blood_total.scaled(1.0 / biology.blood_volume_ml)
    for name in COMPOSITES["blood_pool"]:
        regions[name] = conc.scaled(anatomy.volume_ml(name, counts))
    rmblr = float(parameters()["lu177_blood"]["rmblr"])
    # Spongiosa is red-marrow-bearing: marrow concentration = RMBLR × blood (per mL).
    regions["spongiosa"] = conc.scaled(rmblr * anatomy.volume_ml("spongiosa", counts))
    # Whole body and bladder.
    r, tb = biology.whole_body
    rates = tuple(LN2 / (t * H) for t in tb)
    wb_bio = ExpSum(r, rates)
    whole_body = physical(wb_bio)
    kv = LN2 / (biology.voiding_half_time_h * H)
    coeffs: list[float] = []
    brates: list[float] = []
    for ri, rho in zip(r, rates, strict=True):
        a = ri * rho / (kv - rho)
        coeffs += [a, -a]
        brates += [rho, kv]
    regions["bladder"] = physical(ExpSum(tuple(coeffs), tuple(brates)))
    inside = [v for k, v in regions.items() if k != "bladder"]
    remainder = whole_body
    for v in inside:
        remainder = remainder - v
    regions["remainder"] = remainder
    t = np.linspace(0.0, check_until_h * H, 3001)
    rem = np.asarray(remainder.value(t))
    if np.any(rem < -1e-9):
        raise InvalidInputError(
            "177Lu kinetics",
            expected="organ and tumour uptake below the whole-body retention at all times",
            actual=f"remainder {float(rem.min()):.3g} of A0 at {t[int(rem.argmin())] / H:.0f} h",
            fix="reduce lesion burden or uptake fractions",
        )
    return LuKinetics(
        regions=regions,
        blood_total=blood_total,
        blood_concentration_per_ml=conc,
        whole_body=whole_body,
        remainder_weights=dict(REMAINDER_WEIGHTS),
    )
