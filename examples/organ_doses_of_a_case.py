"""Organ and lesion doses of a PRRT case file, and the plan of the remaining cycles.

The case file (YAML/JSON, schema in docs/kinetics.md) holds the administrations and the
time–activity data of each region; ``case_dosimetry`` fits every curve and applies MIRD
(organs, lesions, red marrow by the EANM blood method), ``plan_from_case`` turns the
doses per GBq into a plan under the kidney BED and marrow limits. The MIRD step alone is
``organ_doses`` (shown last, with cross-irradiation). Default: the packaged example::

    python examples/organ_doses_of_a_case.py [CASE.yaml]
"""

import sys

import sstrkit

path = sys.argv[1] if len(sys.argv) > 1 else sstrkit.example_case_path()
case = sstrkit.load_case(path)
doses = sstrkit.case_dosimetry(case)
for cycle in doses["cycles"]:
    print(f"cycle {cycle['cycle']}: {cycle['activity_mbq']:.0f} MBq {cycle['nuclide']}")
    for r in cycle["regions"]:
        print(
            f"  {r['name']:<22} {r['dose_gy']:6.2f} Gy  {r['dose_gy_per_gbq']:5.2f} Gy/GBq"
            f"  (T_eff {r['t_eff_h']:.0f} h, {r['model']})"
        )

plan = sstrkit.plan_from_case(case)  # a typed PlanResult (activities in Bq); JSON: to_dict()
safe_bq = plan.max_safe_cumulative_activity_bq or 0.0
print(f"limiting organ: {plan.limiting_organ}")
print(f"max safe cumulative activity: {safe_bq / 1e6:.0f} MBq")
print(
    f"next cycle: {plan.next_cycle_activity_bq / 1e6:.0f} MBq, {plan.recommended_cycles_total}"
    " cycles in total"
)

# The MIRD step on its own: regions with TIA (Bq·s) and mass (g) → self + cross doses.
first = doses["cycles"][0]["regions"]
regions = [
    sstrkit.Region(r["name"], r["tia_mbq_h"] * 3.6e9, r["mass_g"], kind=r["kind"])
    for r in first
    if r["kind"] in ("organ", "lesion") and r["name"] != "red marrow"
]
mird = sstrkit.organ_doses(
    "Lu-177", regions, whole_body_mass_g=case.patient.weight_kg * 1e3, cross_dose="uniform"
)
for d in mird.regions:
    print(f"  {d.name:<22} self {d.self_gy:6.2f} Gy + cross {d.cross_photon_gy:.3f} Gy")
