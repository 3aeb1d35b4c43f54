"""Clinical data of the digital patient: administrations, laboratory values, blood samples.

The laboratory model is a documented model choice (not fitted to a cohort):
baseline creatinine 80 µmol/L (men) / 65 µmol/L (women), haemoglobin 14.0 /
12.8 g/dL, platelets 250·10⁹/L, white cells 6.5·10⁹/L, each with an individual
lognormal factor (σ 0.08); before each cycle creatinine rises by 1 % per Gy of
cumulative kidney dose, haemoglobin falls by 0.15 g/dL per cycle, platelets
and white cells fall by 40 % and 25 % per Gy of cumulative red-marrow dose.
Every value carries 3 % measurement noise. Blood samples are the true blood
activity concentration at the sampling times with 3 % assay noise.

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
from sstrkit.phantom.truth import CycleTruth

__all__ = ["BLOOD_SAMPLE_HOURS", "clinical_record"]

BLOOD_SAMPLE_HOURS = (0.5, 1.0, 2.0, 4.0, 24.0, 96.0, 168.0)
H = SECONDS_PER_HOUR


def clinical_record(
    cycles: Sequence[CycleTruth],
    *,
    sex: str,
    seed: int,
    extra_administrations: Sequence[dict[str, Any]] = (),
    sample_hours: Sequence[float] = BLOOD_SAMPLE_HOURS,
    labs: bool = True,
) -> dict[str, Any]:
    """Administrations, labs and blood samples as a JSON-able dict (units in the keys).

    With ``labs=False`` the record has no ``labs`` key (and no lab units).
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
        record["labs"] = lab_records
    record["blood_samples"] = samples
    if labs:
        record["lab_model"] = "model values, see sstrkit.phantom.clinical"
    return record
