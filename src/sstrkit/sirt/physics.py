"""90Y microsphere physics: energy per unit activity for complete decay, mean absorbed dose.

90Y microspheres are a permanent implant: the spheres do not move and the activity
leaves only by physical decay. With every β⁻ electron absorbed where it is emitted
(local deposition: the mean range of 90Y electrons in soft tissue is about 4 mm, much
smaller than a liver compartment), the mean absorbed dose of a compartment of mass m
holding activity A is

    D = E · A / m,      E = Ē_β · T½ / ln 2  (energy released per unit activity
                                               over complete decay)

**E is computed once, here,** from ICRP Publication 107 through
:func:`sstrkit.physics.nuclides.get_nuclide`: the mean β⁻ energy per decay of 90Y
(0.9329 MeV) times the number of decays per Bq over complete decay (T½/ln 2, T½ =
64.10 h) times the joule per MeV (:data:`sstrkit.core.units.J_PER_MEV`), giving
:data:`Y90_ENERGY_J_PER_GBQ` ≈ 49.76 J/GBq, i.e. 49.76 Gy·kg/GBq. The internal
conversion and Auger electrons of ICRP 107 (0.0002 MeV per decay) would add 0.02 %;
90Y's photons (ICRP 107: 1.2·10⁻⁶ MeV per decay), the bremsstrahlung of its
electrons and the annihilation of its rare internal-pair positrons (3.2·10⁻⁵ per
decay) mostly leave the compartment and are left out, as every SIRT dosimetry
formula does.

**The manufacturers' rounded constants.** The glass-microsphere (TheraSphere)
instructions for use write the treated-liver dose as D[Gy] = 50 · A[GBq] · (1 − LSF) /
M[kg] (:data:`GLASS_IFU_GY_KG_PER_GBQ` = 50); the resin-microsphere literature and
much of the European dosimetry literature quote 49.67 Gy·kg/GBq
(:data:`RESIN_LITERATURE_GY_KG_PER_GBQ`; an older half-life and mean energy). Both
are within 0.5 % of the ICRP-107 value. sstrkit uses :data:`Y90_ENERGY_J_PER_GBQ`
everywhere; every planning function takes ``energy_j_per_gbq`` so that a user can
reproduce a manufacturer's own worksheet with its own constant (and says so).

Examples
--------
>>> round(Y90_ENERGY_J_PER_GBQ, 2)
49.76
>>> round(mean_dose_gy(1e9, 1000.0), 2)   # 1 GBq in 1 kg
49.76
>>> round(activity_for_dose_bq(49.76, 1000.0) / 1e9, 4)
1.0
>>> round(mean_dose_gy(1e9, 1000.0, energy_j_per_gbq=GLASS_IFU_GY_KG_PER_GBQ), 1)
50.0
"""

from __future__ import annotations

import math
from typing import Final

from sstrkit.core.units import BQ_PER_GBQ, G_PER_KG, J_PER_MEV
from sstrkit.errors import InvalidInputError
from sstrkit.physics.nuclides import DATA_SOURCE, get_nuclide

__all__ = [
    "ENERGY_SOURCES",
    "GLASS_IFU_GY_KG_PER_GBQ",
    "RESIN_LITERATURE_GY_KG_PER_GBQ",
    "Y90",
    "Y90_ENERGY_J_PER_GBQ",
    "Y90_HALF_LIFE_S",
    "Y90_MEAN_BETA_MEV",
    "activity_for_dose_bq",
    "energy_per_activity_j_per_gbq",
    "mean_dose_gy",
]

#: The nuclide (ICRP 107 name).
Y90: Final = "Y-90"


def energy_per_activity_j_per_gbq(nuclide: str = Y90) -> float:
    """Energy of the β⁻ electrons released per GBq over complete decay (J/GBq).

    Ē_β⁻ (MeV per decay, ICRP 107) × T½/ln 2 (decays per Bq) × 1e9 Bq/GBq × J/MeV.
    """
    n = get_nuclide(nuclide)
    beta = n.beta_minus_mean_mev
    if beta is None:
        raise InvalidInputError(
            "nuclide", expected="a β⁻ emitter (microsphere dosimetry)", actual=nuclide
        )
    decays_per_bq = n.half_life_s / math.log(2.0)
    return float(beta * J_PER_MEV * decays_per_bq * BQ_PER_GBQ)


#: 90Y half-life (s), ICRP 107.
Y90_HALF_LIFE_S: Final[float] = get_nuclide(Y90).half_life_s
#: 90Y mean β⁻ energy per decay (MeV), ICRP 107.
Y90_MEAN_BETA_MEV: Final[float] = float(get_nuclide(Y90).beta_minus_mean_mev or 0.0)
#: Energy released per GBq of 90Y over complete decay (J/GBq = Gy·kg/GBq), ICRP 107 (≈ 49.76).
Y90_ENERGY_J_PER_GBQ: Final[float] = energy_per_activity_j_per_gbq(Y90)
#: The glass-microsphere instructions for use: D = 50 · A · (1 − LSF) / M (Gy, GBq, kg).
GLASS_IFU_GY_KG_PER_GBQ: Final = 50.0
#: The rounded constant quoted in the resin-microsphere literature (Gy·kg/GBq).
RESIN_LITERATURE_GY_KG_PER_GBQ: Final = 49.67

ENERGY_SOURCES: Final = (
    f"{DATA_SOURCE}: 90Y mean beta energy and half-life (energy per GBq over complete decay)",
    "local energy deposition of 90Y beta electrons in a permanent implant: Ho S et al., "
    "Eur J Nucl Med 1996;23:947-952 (partition model); Dezarn WA et al., AAPM TG-144, "
    "Med Phys 2011;38:4824-4845",
)


def _energy(energy_j_per_gbq: float | None) -> float:
    e = Y90_ENERGY_J_PER_GBQ if energy_j_per_gbq is None else float(energy_j_per_gbq)
    if not (math.isfinite(e) and e > 0):
        raise InvalidInputError("energy per activity (J/GBq)", expected="> 0", actual=e)
    return e


def mean_dose_gy(
    activity_bq: float, mass_g: float, *, energy_j_per_gbq: float | None = None
) -> float:
    """Mean absorbed dose (Gy) of ``activity_bq`` of 90Y trapped for good in ``mass_g``.

    D = E · A / m with E = :data:`Y90_ENERGY_J_PER_GBQ` (or ``energy_j_per_gbq``).
    """
    a = float(activity_bq)
    m = float(mass_g)
    if not (math.isfinite(a) and a >= 0):
        raise InvalidInputError("activity (Bq)", expected="a finite value >= 0", actual=a)
    if not (math.isfinite(m) and m > 0):
        raise InvalidInputError("mass (g)", expected="a finite value > 0", actual=m)
    return _energy(energy_j_per_gbq) * (a / BQ_PER_GBQ) / (m / G_PER_KG)


def activity_for_dose_bq(
    dose_gy: float, mass_g: float, *, energy_j_per_gbq: float | None = None
) -> float:
    """Activity (Bq) whose complete decay gives ``dose_gy`` to ``mass_g`` (inverse of
    :func:`mean_dose_gy`)."""
    d = float(dose_gy)
    m = float(mass_g)
    if not (math.isfinite(d) and d >= 0):
        raise InvalidInputError("dose (Gy)", expected="a finite value >= 0", actual=d)
    if not (math.isfinite(m) and m > 0):
        raise InvalidInputError("mass (g)", expected="a finite value > 0", actual=m)
    return d * (m / G_PER_KG) / _energy(energy_j_per_gbq) * BQ_PER_GBQ
