"""Kinetics and BED of one time–activity curve: fit, TIA, absorbed dose, BED and EQD2.

The kidney curve of a 177Lu-DOTATATE cycle (4 SPECT/CT time points) is fitted (model
chosen by AICc), integrated to the time-integrated activity, turned into an absorbed dose
with the sphere-model S value of the kidney mass, and into the BED (Lea–Catcheside
factor of the fitted effective half-life) with the packaged kidney LQ parameters::

    python examples/kinetics_and_bed.py
"""

import numpy as np

import sstrkit

HOUR = 3600.0
times_s = np.array([4.0, 24.0, 96.0, 168.0]) * HOUR
kidneys_bq = np.array([155.0, 147.0, 57.0, 21.0]) * 1e6  # both kidneys, not decay corrected
kidney_mass_g = 290.0 * 1.05

lu177 = sstrkit.get_nuclide("Lu-177")
fit = sstrkit.fit_curve(times_s, kidneys_bq, lu177.half_life_s, region="kidneys")
print(f"model {fit.model}, effective half-life {fit.t_eff_s / HOUR:.1f} h")
print(f"TIA {fit.tia_bq_s / 3.6e9:.0f} ± {fit.tia_sd_bq_s / 3.6e9:.0f} MBq·h")

s = sstrkit.sphere_s_value(lu177, kidney_mass_g, "soft")  # self-dose only
dose_gy = fit.tia_bq_s * s.s_gy_per_bq_s
print(f"S value {s.s_gy_per_bq_s:.3g} Gy/(Bq·s), kidney dose {dose_gy:.2f} Gy")

kidney = sstrkit.tissue_parameters("kidney")
bed_gy = sstrkit.bed(
    dose_gy,
    alpha_beta_gy=kidney.alpha_beta_gy,
    t_repair_s=kidney.t_repair_s,
    t_eff_s=fit.t_eff_s,
)
eqd2_gy = sstrkit.eqd2(bed_gy, kidney.alpha_beta_gy)
print(f"α/β {kidney.alpha_beta_gy} Gy, repair half-time {kidney.t_repair_s / HOUR} h")
print(f"BED {bed_gy:.2f} Gy, EQD2 {eqd2_gy:.2f} Gy (kidney BED limit 40 Gy, Bodei 2008)")
