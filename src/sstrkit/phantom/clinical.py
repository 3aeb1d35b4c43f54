"""Clinical data of the digital patient: administrations, laboratory values, blood samples.

The laboratory model is a documented model choice (not fitted to a cohort):
baseline creatinine 80 µmol/L (men) / 65 µmol/L (women), haemoglobin 14.0 /
12.8 g/dL, platelets 250·10⁹/L, white cells 6.5·10⁹/L, each with an individual
lognormal factor (σ 0.08); before each cycle creatinine rises by 1 % per Gy of
cumulative kidney dose, haemoglobin falls by 0.15 g/dL per cycle, platelets
and white cells fall by 40 % and 25 % per Gy of cumulative red-marrow dose.
Every value carries 3 % measurement noise. Blood samples are the true blood
activity concentration at the sampling times with 3 % assay noise.

Liver function and chromogranin A (CgA) come from their own random stream
(``[seed, 23]``), so that every value above is the same with or without them. Model
(documented choice, not fitted to a cohort), at the same laboratory times:

* **liver tests**, normal with mild transient changes: baseline total bilirubin
  9 µmol/L, albumin 42 g/L, ALT 24 U/L, AST 24 U/L, ALP 85 U/L, INR 1.0, each with an
  individual lognormal factor (σ 0.15 bilirubin, ALT, AST, ALP; 0.05 albumin; 0.03 INR);
  ALT +25 % and AST +20 % at the laboratories between cycles (before cycles 2…n), back
  to baseline at the follow-up; albumin −0.5 g/L per cycle given. Measurement noise 3 %
  (5 % for ALT and AST, 2 % for the INR). All stay inside the default reference limits
  of :class:`sstrkit.followup.toxicity.HepaticRanges` (CTCAE grade 0).
* **CgA proportional to the tumour burden**: CgA = 40 µg/L + κ·B with B the true
  lesion mass (g) at the laboratory time and κ = 5 µg/L per g × an individual lognormal
  factor (σ 0.3); 5 % assay noise. Before cycle k, B is the sum of the cycle's true
  lesion masses (the truth tumour response of :mod:`sstrkit.phantom.truth`); at the
  follow-up it is the last cycle's masses after that cycle's response,
  × max(exp(−α_v·D), floor) per lesion with the patient's α_v (``alpha_v_per_gy``;
  when not given it is recovered from the cycle-1 → cycle-2 volume factors, else the
  population median).

``labs=False`` leaves the laboratory values out (a record without ``labs``, as
when the laboratory results were not exported); the blood samples and the
administrations stay, and drawing them uses the same random stream either way.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from sstrkit.core.units import SECONDS_PER_HOUR
from sstrkit.phantom.parameters import parameters
from sstrkit.phantom.truth import CycleTruth

__all__ = ["BLOOD_SAMPLE_HOURS", "CGA_BACKGROUND_UG_L", "clinical_record", "tumour_burden_g"]

BLOOD_SAMPLE_HOURS = (0.5, 1.0, 2.0, 4.0, 24.0, 96.0, 168.0)
H = SECONDS_PER_HOUR
#: CgA without tumour (µg/L) and per gram of tumour (µg/L/g, median) of the model.
CGA_BACKGROUND_UG_L = 40.0
CGA_PER_G_UG_L = 5.0


def _alpha_v(cycles: Sequence[CycleTruth], given: float | None) -> float:
    """The patient's tumour response coefficient (per Gy): given, recovered, or the median."""
    resp = parameters()["response"]
    if given is not None:
        return given
    floor = float(resp["min_volume_factor"])
    if len(cycles) >= 2:
        f1, f2 = cycles[0].lesion_volume_factors, cycles[1].lesion_volume_factors
        for les, f in f2.items():
            dose = cycles[0].dose[les]["total_gy"]
            if f > floor * (1 + 1e-9) and dose > 0 and f1[les] > 0:
                return -math.log(f / f1[les]) / dose
    return float(resp["alpha_v_per_gy"])


def tumour_burden_g(
    cycles: Sequence[CycleTruth], alpha_v_per_gy: float | None = None
) -> list[float]:
    """True lesion mass (g) before each cycle and at the follow-up after the last one."""
    floor = float(parameters()["response"]["min_volume_factor"])
    out = [sum(c.mass_g[les] for les in c.lesion_volume_factors) for c in cycles]
    last, alpha = cycles[-1], _alpha_v(cycles, alpha_v_per_gy)
    out.append(
        sum(
            last.mass_g[les] * max(math.exp(-alpha * last.dose[les]["total_gy"]), floor)
            for les in last.lesion_volume_factors
        )
    )
    return out


def _liver_and_cga(
    cycles: Sequence[CycleTruth], seed: int, alpha_v_per_gy: float | None
) -> list[dict[str, float]]:
    """Liver tests and CgA at the laboratory times (before each cycle, follow-up)."""
    rng = np.random.default_rng([seed, 23])

    def indiv(sigma: float) -> float:
        return float(math.exp(rng.normal(0.0, sigma)))

    base = {
        "bilirubin_umol_l": 9.0 * indiv(0.15),
        "albumin_g_l": 42.0 * indiv(0.05),
        "alt_u_l": 24.0 * indiv(0.15),
        "ast_u_l": 24.0 * indiv(0.15),
        "alp_u_l": 85.0 * indiv(0.15),
        "inr": 1.0 * indiv(0.03),
    }
    kappa = CGA_PER_G_UG_L * indiv(0.3)
    noise = {"alt_u_l": 0.05, "ast_u_l": 0.05, "inr": 0.02}
    digits = {"bilirubin_umol_l": 1, "albumin_g_l": 1, "inr": 2}
    out = []
    n = len(cycles)
    for k, burden in enumerate(tumour_burden_g(cycles, alpha_v_per_gy)):
        between = 1 <= k < n  # before cycles 2..n: the transient rise after a cycle
        true = {
            **base,
            "albumin_g_l": base["albumin_g_l"] - 0.5 * k,
            "alt_u_l": base["alt_u_l"] * (1.25 if between else 1.0),
            "ast_u_l": base["ast_u_l"] * (1.20 if between else 1.0),
            "chromogranin_a_ug_l": CGA_BACKGROUND_UG_L + kappa * burden,
        }
        rec = {}
        for key, v in true.items():
            sd = 0.05 if key == "chromogranin_a_ug_l" else noise.get(key, 0.03)
            rec[key] = round(float(v * (1.0 + rng.normal(0.0, sd))), digits.get(key, 0))
        out.append(rec)
    return out


def clinical_record(
    cycles: Sequence[CycleTruth],
    *,
    sex: str,
    seed: int,
    extra_administrations: Sequence[dict[str, Any]] = (),
    sample_hours: Sequence[float] = BLOOD_SAMPLE_HOURS,
    labs: bool = True,
    alpha_v_per_gy: float | None = None,
) -> dict[str, Any]:
    """Administrations, labs and blood samples as a JSON-able dict (units in the keys).

    With ``labs=False`` the record has no ``labs`` key (and no lab units).
    ``alpha_v_per_gy``: the patient's tumour response coefficient (``Biology``), for the
    CgA at the follow-up (see the module docstring when it is not given).
    """
    rng = np.random.default_rng([seed, 6])

    def noisy(v: float) -> float:
        return float(v * (1.0 + rng.normal(0.0, 0.03)))

    def indiv() -> float:
        return float(math.exp(rng.normal(0.0, 0.08)))

    male = sex == "M"
    base = {
        "creatinine_umol_l": (80.0 if male else 65.0) * indiv(),
        "haemoglobin_g_dl": (14.0 if male else 12.8) * indiv(),
        "platelets_1e9_l": 250.0 * indiv(),
        "wbc_1e9_l": 6.5 * indiv(),
    }
    lab_records: list[dict[str, Any]] = []
    kidney_cum = marrow_cum = 0.0
    lab_times = [c.injection_time - _dt.timedelta(days=1) for c in cycles]
    lab_times.append(cycles[-1].injection_time + _dt.timedelta(days=56))
    for k, t in enumerate(lab_times):
        lab_records.append(
            {
                "time": t.replace(hour=8, minute=0).isoformat(),
                "before_cycle": k + 1 if k < len(cycles) else None,
                "creatinine_umol_l": round(
                    noisy(base["creatinine_umol_l"] * (1 + 0.01 * kidney_cum)), 1
                ),
                "haemoglobin_g_dl": round(noisy(base["haemoglobin_g_dl"] - 0.15 * k), 2),
                "platelets_1e9_l": round(
                    noisy(base["platelets_1e9_l"] * max(1 - 0.40 * marrow_cum, 0.2)), 0
                ),
                "wbc_1e9_l": round(noisy(base["wbc_1e9_l"] * max(1 - 0.25 * marrow_cum, 0.3)), 2),
            }
        )
        if k < len(cycles):
            kidney_cum += cycles[k].dose["kidneys"]["total_gy"]
            marrow_cum += cycles[k].dose["red_marrow"]["total_gy"]
    for rec, extra in zip(lab_records, _liver_and_cga(cycles, seed, alpha_v_per_gy), strict=True):
        rec.update(extra)
    samples = []
    for c in cycles:
        conc = c.kinetics.blood_concentration_per_ml
        for h in sample_hours:
            t = c.injection_time + _dt.timedelta(hours=h)
            samples.append(
                {
                    "cycle": c.index,
                    "time": t.isoformat(),
                    "hours_post_injection": h,
                    "activity_concentration_bq_ml": noisy(float(conc.value(h * H)) * c.activity_bq),
                }
            )
    administrations = [*extra_administrations] + [
        {
            "cycle": c.index,
            "radiopharmaceutical": "177Lu-DOTATATE",
            "nuclide": "Lu-177",
            "activity_bq": c.activity_bq,
            "time": c.injection_time.isoformat(),
        }
        for c in cycles
    ]
    units = {"activity": "Bq", "time": "ISO 8601 with UTC offset"}
    record: dict[str, Any] = {"schema": "sstrkit-clinical/1", "units": units}
    record["administrations"] = administrations
    if labs:
        units.update(
            {"creatinine": "umol/L", "haemoglobin": "g/dL", "platelets": "1e9/L", "wbc": "1e9/L"}
        )
        units.update(
            {
                "bilirubin": "umol/L",
                "albumin": "g/L",
                "alt": "U/L",
                "ast": "U/L",
                "alp": "U/L",
                "inr": "1",
                "chromogranin_a": "ug/L",
            }
        )
        record["labs"] = lab_records
    record["blood_samples"] = samples
    if labs:
        record["lab_model"] = "model values, see sstrkit.phantom.clinical"
    return record
